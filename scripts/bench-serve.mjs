#!/usr/bin/env node
// Restarts under load: requests failed per restart, and restart latency, for
// (a) `portwarden serve` reloads (the listener is handed over, never closed),
// (b) with --systemd: restartService on a socket-activated systemd service (a .socket unit
//     holds the port) under a private user manager (scripts/systemd-user.mjs; root), and
// (c) restartService on stop/start commands (the control: the port is closed between the
//     old and the new process, proven free, then proven listening).
// A sequential HTTP client on 127.0.0.1 (fresh connection every ~2 ms) runs throughout.
//
//   node scripts/bench-serve.mjs [--restarts 20] [--systemd] [--json]
//   import {measureUnderLoad} from './bench-serve.mjs'  (npm run bench: its last section)
import {spawn} from 'node:child_process';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {parseArgs} from 'node:util';
import {restartService, startService, stopService} from '../dist/index.js';
import {clientLoop} from './load-client.mjs';
import {startUserManager, systemctl} from './systemd-user.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0
    ? undefined
    : s.length % 2
      ? s[s.length >> 1]
      : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// One server for both paths: the inherited socket under serve, its own bind otherwise.
const APP = `
import fs from 'node:fs';
import http from 'node:http';
import {listenTarget, notifyReady} from ${JSON.stringify(pathToFileURL(path.join(root, 'dist', 'index.js')).href)};
const port = Number(process.argv[2]);
const server = http.createServer((req, res) => { res.setHeader('connection', 'close'); res.end(String(process.pid)); });
server.listen(listenTarget(port, {host: '127.0.0.1'}), () => {
  if (process.env.BENCH_PID_FILE) fs.writeFileSync(process.env.BENCH_PID_FILE, String(process.pid));
  notifyReady();
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

let nextPort = 17_300 + Math.floor(Math.random() * 500);

function summary(name, loop, latencies) {
  return {
    path: name,
    restarts: latencies.length,
    requests: loop.requests,
    failed: loop.failed,
    failedPerRestart: latencies.length === 0 ? undefined : loop.failed / latencies.length,
    failureCodes: [...new Set(loop.failures.map((f) => f.code))],
    distinctPids: loop.pids.size,
    restartMsMedian: median(latencies),
    restartMsMax: latencies.length === 0 ? undefined : Math.max(...latencies),
    seconds: Math.round(loop.ms / 100) / 10,
  };
}

async function benchServe({dir, app, restarts}) {
  const port = nextPort++;
  const child = spawn(
    process.execPath,
    [
      path.join(root, 'dist', 'bundle', 'bin.cjs'),
      'serve',
      '--json',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--pid-file',
      path.join(dir, 'serve.pid'),
      '--',
      process.execPath,
      app,
      String(port),
    ],
    {stdio: ['ignore', 'pipe', 'inherit']},
  );
  const events = [];
  let buffer = '';
  child.stdout.on('data', (d) => {
    buffer += d;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.startsWith('{')) events.push(JSON.parse(line));
    }
  });
  const next = async (from) => {
    for (;;) {
      const hit = events
        .slice(from)
        .find((e) => e.event === 'ready' || e.event === 'reload-failed');
      if (hit) return hit;
      if (child.exitCode !== null) throw new Error('serve exited');
      await sleep(2);
    }
  };

  await next(0);
  let running = true;
  const loop = clientLoop({port, maxMs: 60_000, until: () => !running});
  const latencies = [];
  for (let i = 0; i < restarts; i++) {
    await sleep(300);
    const from = events.length;
    child.kill('SIGHUP');
    const e = await next(from);
    if (e.event === 'ready') latencies.push(e.ms);
  }

  await sleep(200);
  running = false;
  const result = await loop;
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  return summary('portwarden serve (reload: hand the listener over)', result, latencies);
}

async function benchStopStart({dir, app, restarts}) {
  const port = nextPort++;
  const pidFile = path.join(dir, 'plain.pid');
  const spec = {
    manager: 'command',
    stop: ['sh', '-c', `kill -TERM "$(cat ${pidFile})" 2>/dev/null; true`],
    start: ['env', `BENCH_PID_FILE=${pidFile}`, process.execPath, app, String(port)],
    port,
  };
  await restartService(spec, {timeout: 20_000});
  let running = true;
  const loop = clientLoop({port, maxMs: 60_000, until: () => !running});
  const latencies = [];
  for (let i = 0; i < restarts; i++) {
    await sleep(300);
    const r = await restartService(spec, {timeout: 20_000});
    latencies.push(r.ms);
  }

  await sleep(200);
  running = false;
  const result = await loop;
  await stopService(spec, {timeout: 20_000});
  return summary(
    'restartService, command stop/start (close, prove free, start)',
    result,
    latencies,
  );
}

async function benchSystemdSocket({app, restarts}) {
  const port = nextPort++;
  const manager = startUserManager();
  try {
    const {unitDir} = manager;
    writeFileSync(
      path.join(unitDir, 'pw-bench.socket'),
      `[Socket]\nListenStream=127.0.0.1:${port}\n`,
    );
    writeFileSync(
      path.join(unitDir, 'pw-bench.service'),
      `[Unit]\nStartLimitIntervalSec=0\n[Service]\nType=notify\nExecStart="${process.execPath}" "${app}" ${port}\n`,
    );
    systemctl('daemon-reload');
    systemctl('start', 'pw-bench.socket');
    const spec = {manager: 'systemd', unit: 'pw-bench.service', port};
    await startService(spec, {timeout: 20_000});
    let running = true;
    const loop = clientLoop({port, maxMs: 60_000, until: () => !running});
    const latencies = [];
    for (let i = 0; i < restarts; i++) {
      await sleep(300);
      const r = await restartService(spec, {timeout: 20_000});
      latencies.push(r.ms);
    }

    await sleep(200);
    running = false;
    const result = await loop;
    await stopService(spec, {timeout: 20_000});
    return summary('restartService, systemd .socket + Type=notify service', result, latencies);
  } finally {
    manager.stop();
  }
}

/**
The three paths (systemd only when asked and possible), `restarts` restarts each: one row
per path {path, restarts, requests, failed, failedPerRestart, failureCodes, distinctPids,
restartMsMedian, restartMsMax, seconds}.
*/
export async function measureUnderLoad({restarts = 20, systemd = false} = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'portwarden-bench-serve-'));
  const ctx = {dir, app: path.join(dir, 'app.mjs'), restarts};
  writeFileSync(ctx.app, APP);
  try {
    const rows = [await benchServe(ctx)];
    if (systemd) {
      rows.push(await benchSystemdSocket(ctx));
    }

    rows.push(await benchStopStart(ctx));
    return rows;
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const {values: flags} = parseArgs({
    options: {
      restarts: {type: 'string', default: '20'},
      systemd: {type: 'boolean', default: false},
      json: {type: 'boolean', default: false},
    },
  });
  const restarts = Number(flags.restarts);
  const rows = await measureUnderLoad({restarts, systemd: flags.systemd});
  if (flags.json) {
    console.log(JSON.stringify(rows, null, 2));
  } else {
    console.log(
      `Restarts under load: ${restarts} restarts each, sequential GETs on 127.0.0.1 every ~2 ms\n`,
    );
    console.log(
      '| path | requests | failed | failed / restart | distinct pids | restart ms (median / max) |',
    );
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      console.log(
        `| ${r.path} | ${r.requests} | ${r.failed}${r.failureCodes.length ? ` (${r.failureCodes.join(', ')})` : ''} | ${r.failedPerRestart?.toFixed(2)} | ${r.distinctPids} | ${r.restartMsMedian?.toFixed(0)} / ${r.restartMsMax?.toFixed(0)} |`,
      );
    }
  }
}
