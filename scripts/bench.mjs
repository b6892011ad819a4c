#!/usr/bin/env node
// The bundled benchmark: portwarden against spawning lsof and ss, the peer packages
// pid-port and find-process, and the connect probe of tcp-port-used, on one machine in
// one run, at growing scale. Writes bench/results.{md,json,svg}.
//
//   node scripts/bench.mjs [--quick] [--out DIR]
//
// --quick: one small scale and few iterations (the test suite runs it as a smoke test).
import {execFileSync, spawn} from 'node:child_process';
import {mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {parseArgs} from 'node:util';
import * as portwarden from '../dist/index.js';
import {renderSvg} from './bench-svg.mjs';
import {measureColdStart} from './bench-cold.mjs';
import {measureRestart} from './bench-restart.mjs';
import {measureUnderLoad} from './bench-serve.mjs';
import {userManagerUnavailable} from './systemd-user.mjs';
import {measureReaction} from './bench-wait.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const {values: flags} = parseArgs({
  options: {quick: {type: 'boolean', default: false}, out: {type: 'string'}},
});
const quick = flags.quick;
const outDir = path.resolve(flags.out ?? 'bench');

const ITER_FAST = quick ? 200 : 3000; // in-process calls
const ITER_SPAWN = quick ? 3 : 25; // subprocess-based methods
const SCALES = quick
  ? [{name: 'idle', processes: 0, connections: 0}]
  : [
      {name: '~70 processes', processes: 70, connections: 0},
      {name: '~1000 processes + 3000 sockets', processes: 1000, connections: 1000},
    ];

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const nowUs = () => Number(process.hrtime.bigint()) / 1000;

function timeSync(fn, iterations) {
  for (let i = 0; i < Math.min(20, iterations); i++) fn(); // warm-up
  const samples = [];
  for (let i = 0; i < iterations; i++) {
    const start = nowUs();
    fn();
    samples.push(nowUs() - start);
  }
  return median(samples);
}

async function timeAsync(fn, iterations) {
  await fn(); // warm-up
  const samples = [];
  for (let i = 0; i < iterations; i++) {
    const start = nowUs();
    await fn();
    samples.push(nowUs() - start);
  }
  return median(samples);
}

function runCommand(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {stdio: ['ignore', 'pipe', 'ignore']});
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
}

// macOS has lsof but neither /proc nor ss: ss methods are skipped there.
const hasSs = (() => {
  try {
    execFileSync('ss', ['-V'], {stdio: 'ignore'});
    return true;
  } catch {
    return false;
  }
})();

function processCount() {
  if (process.platform === 'linux') {
    return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).length;
  }

  return execFileSync('ps', ['-A', '-o', 'pid=']).toString().split('\n').filter(Boolean).length;
}

function tcpSocketCount() {
  if (hasSs) {
    return execFileSync('ss', ['-tanH']).toString().split('\n').filter(Boolean).length;
  }

  try {
    return execFileSync('netstat', ['-an', '-p', 'tcp'])
      .toString()
      .split('\n')
      .filter((line) => line.startsWith('tcp')).length;
  } catch {
    return undefined; // neither ss nor netstat: the count is left out
  }
}

// A listener in its own process, like the daemon a restart script looks for.
const HOLDER = `const s = require('node:net').createServer().listen({port: 0, host: '::'}, () => process.send({pid: process.pid, port: s.address().port}));`;

async function startHolder() {
  const child = spawn(process.execPath, ['-e', HOLDER], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const message = await new Promise((resolve) => child.once('message', resolve));
  return {child, pid: message.pid, port: message.port};
}

/** Background load: sleeping processes up to the target count, and ESTABLISHED + TIME_WAIT sockets. */
async function createLoad(scale) {
  const sleepers = [];
  const missing = Math.max(0, scale.processes - processCount());
  for (let i = 0; i < missing; i++) {
    const child = spawn('sleep', ['3600'], {stdio: 'ignore'});
    child.on('error', () => {});
    sleepers.push(child);
  }

  const sockets = [];
  let server;
  if (scale.connections > 0) {
    server = net.createServer((socket) => sockets.push(socket));
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const {port} = server.address();
    const connect = () =>
      new Promise((resolve, reject) => {
        const c = net.connect(port, '127.0.0.1', () => resolve(c));
        c.on('error', reject);
      });
    // ESTABLISHED pairs (two sockets each).
    for (let i = 0; i < scale.connections; i++) sockets.push(await connect());
    // TIME_WAIT: the client closes first, so the TIME_WAIT stays on the client side.
    for (let i = 0; i < scale.connections; i++) {
      const c = await connect();
      await new Promise((resolve) => {
        c.once('close', resolve);
        c.end();
      });
    }
  }

  await new Promise((resolve) => setTimeout(resolve, 200));
  return {
    processes: processCount(),
    sockets: tcpSocketCount(),
    async remove() {
      for (const s of sockets) s.destroy();
      server?.close();
      for (const child of sleepers) child.kill('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 200));
    },
  };
}

async function loadPeers() {
  const peers = {};
  try {
    peers.pidPort = (await import('pid-port')).portToPid;
  } catch {}
  try {
    const m = await import('find-process');
    peers.findProcess = m.default?.default ?? m.default;
  } catch {}
  try {
    const m = await import('tcp-port-used');
    peers.tcpPortUsed = (m.default ?? m).check;
  } catch {}
  return peers;
}

async function measureScale(scale, peers, results) {
  const load = await createLoad(scale);
  const holder = await startHolder();
  const port = holder.port;
  const label = `${scale.name}`;
  const add = (operation, method, medianUs, note) => {
    results.push({
      scale: label,
      processes: load.processes,
      sockets: load.sockets,
      operation,
      method,
      medianUs,
      note,
    });
    console.error(`  ${operation.padEnd(28)} ${method.padEnd(44)} ${formatUs(medianUs)}`);
  };

  console.error(`scale ${label}: ${load.processes} processes, ${load.sockets} TCP sockets`);
  try {
    // 1. Listening check.
    add(
      'listening check',
      'portwarden checkPortSync',
      timeSync(() => portwarden.checkPortSync(port), ITER_FAST),
    );
    add(
      'listening check',
      'spawn lsof -nP -iTCP:P -sTCP:LISTEN -t',
      await timeAsync(
        () => runCommand('lsof', ['-nP', `-iTCP:${port}`, '-sTCP:LISTEN', '-t']),
        ITER_SPAWN,
      ),
    );
    if (hasSs) {
      add(
        'listening check',
        "spawn ss -ltnH 'sport = :P'",
        await timeAsync(() => runCommand('ss', ['-ltnH', `sport = :${port}`]), ITER_SPAWN),
      );
    }
    if (peers.tcpPortUsed) {
      add(
        'listening check',
        'tcp-port-used check (connect probe)',
        await timeAsync(() => peers.tcpPortUsed(port, '127.0.0.1'), ITER_SPAWN * 4),
        'sees only listeners reachable on 127.0.0.1',
      );
    }

    // 2. Owner lookup, cold (every process is a candidate).
    add(
      'owner lookup (cold)',
      'portwarden probePortSync',
      timeSync(() => portwarden.probePortSync(port, {states: 'listen'}), quick ? 20 : 200),
    );
    add(
      'owner lookup (cold)',
      'spawn lsof -nP -iTCP:P -sTCP:LISTEN -Fp',
      await timeAsync(
        () => runCommand('lsof', ['-nP', `-iTCP:${port}`, '-sTCP:LISTEN', '-Fp']),
        ITER_SPAWN,
      ),
    );
    if (hasSs) {
      add(
        'owner lookup (cold)',
        "spawn ss -ltnpH 'sport = :P'",
        await timeAsync(() => runCommand('ss', ['-ltnpH', `sport = :${port}`]), ITER_SPAWN),
      );
    }
    if (peers.pidPort) {
      add(
        'owner lookup (cold)',
        "pid-port portToPid({host: '*'})",
        await timeAsync(() => peers.pidPort({port, host: '*'}), ITER_SPAWN),
      );
    }

    if (peers.findProcess) {
      add(
        'owner lookup (cold)',
        "find-process('port')",
        await timeAsync(() => peers.findProcess('port', port), ITER_SPAWN),
      );
    }

    // 3. Owner lookup with the expected pid first.
    add(
      'owner lookup (candidate)',
      'portwarden probePortSync candidates',
      timeSync(
        () => portwarden.probePortSync(port, {states: 'listen', candidates: [holder.pid]}),
        ITER_FAST,
      ),
    );

    // 4. All-states check (every state, TIME_WAIT included).
    add(
      'all-states check',
      "portwarden checkPortSync states: 'all'",
      timeSync(() => portwarden.checkPortSync(port, {states: 'all'}), quick ? 50 : 500),
    );
    add(
      'all-states check',
      'spawn lsof -nP -iTCP:P',
      await timeAsync(() => runCommand('lsof', ['-nP', `-iTCP:${port}`]), ITER_SPAWN),
      'lsof cannot see TIME_WAIT',
    );
    if (hasSs) {
      add(
        'all-states check',
        "spawn ss -tanH 'sport = :P'",
        await timeAsync(() => runCommand('ss', ['-tanH', `sport = :${port}`]), ITER_SPAWN),
      );
    }

    // 5. PID file claim + release.
    if (portwarden.claimPidFile) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'portwarden-bench-'));
      const file = path.join(dir, 'bench.pid');
      add(
        'PID file claim + release',
        'portwarden claimPidFile',
        timeSync(() => portwarden.claimPidFile(file).release(), ITER_FAST),
      );
      const held = portwarden.claimPidFile(file);
      if (portwarden.readPidFile) {
        add(
          'PID file read',
          'portwarden readPidFile',
          timeSync(() => portwarden.readPidFile(file), ITER_FAST),
        );
      }
      held.release();
      rmSync(dir, {recursive: true, force: true});
    }
  } finally {
    holder.child.kill('SIGKILL');
    await load.remove();
  }
}

/** waitForPortFree reaction latency (time from the holder's SIGKILL) against an lsof loop polling every 50 ms. */
async function measureReactionRows(results) {
  const r = await measureReaction({runs: quick ? 5 : 50, lsofRuns: quick ? 3 : 20});
  const scale = 'reaction';
  const note = `${r.holderKind} holder SIGKILLed`;
  const rows = [
    ['portwarden waitForPortFree (armed)', r.armedSamples],
    ['portwarden waitForPortFree (kill, then wait)', r.afterSamples],
    ['lsof poll every 50 ms', r.lsofSamples],
  ];
  for (const [method, samples] of rows) {
    results.push({
      scale,
      operation: 'waitForPortFree reaction',
      method,
      medianUs: r.median(samples) * 1000,
      note,
    });
    console.error(`  reaction: ${method.padEnd(44)} ${formatUs(r.median(samples) * 1000)}`);
  }
}

/** Whole-process start-up: import, CLI calls and a shell loop, against node -e 0 and lsof. */
async function measureColdRows(results) {
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = probe.address().port; // free again once closed: `check` answers free (exit 0)
  await new Promise((resolve) => probe.close(resolve));
  const rows = await measureColdStart({
    rounds: quick ? 3 : 15,
    loopRounds: quick ? 1 : 5,
    port,
    hasSs,
  });
  for (const row of rows) {
    results.push(row);
    console.error(`  ${row.operation}: ${row.method.padEnd(44)} ${formatUs(row.medianUs)}`);
  }

  // In a checkout, the same start-ups under the other Node lines the tests fetch (Node ≥ 22.1
  // keeps the CLI's compiled code: bin.cjs turns its compile cache on), when they are cached.
  // The installed package has no scripts/node-versions.mjs: nothing to add there.
  const versions = await import('./node-versions.mjs').catch((error) => {
    if (error.code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw error;
  });
  for (const version of Object.keys(versions?.NODE_VERSIONS ?? {})) {
    const node = versions.cachedNode(version);
    if (quick || node === undefined) continue;
    const scale = `cold path, Node ${version}`;
    for (const row of await measureColdStart({rounds: 15, port, node, scale, others: false})) {
      results.push(row);
      console.error(`  ${scale}: ${row.method.padEnd(44)} ${formatUs(row.medianUs)}`);
    }
  }
}

/** restartService against systemctl restart + waitForListening (not in --quick). */
async function measureRestartRows(results) {
  if (quick) {
    console.error('  restart overhead: skipped in --quick');
    return;
  }

  const {rows, skipped} = await measureRestart({rounds: 15});
  if (skipped) {
    console.error(`  restart overhead: skipped (${skipped})`);
  }

  for (const row of rows) {
    results.push(row);
    console.error(`  ${row.operation}: ${row.method.padEnd(44)} ${formatUs(row.medianUs)}`);
  }
}

/**
Restarts under a request loop (scripts/bench-serve.mjs): serve reloads, a socket-activated
systemd service (where a private user manager can run), and plain stop/start as the control.
Not in --quick.
*/
async function measureUnderLoadRows(results) {
  if (quick) {
    console.error('  restarts under load: skipped in --quick');
    return;
  }

  const noSystemd =
    userManagerUnavailable() ?? (process.getuid?.() === 0 ? undefined : 'needs root');
  if (noSystemd) {
    console.error(`  restarts under load: systemd path skipped (${noSystemd})`);
  }

  const restarts = 20;
  for (const row of await measureUnderLoad({restarts, systemd: noSystemd === undefined})) {
    const codes = row.failureCodes.length > 0 ? ` ${row.failureCodes.join(', ')}` : '';
    const result = {
      scale: 'restarts under load',
      operation: 'restart latency',
      method: row.path,
      medianUs: row.restartMsMedian * 1000,
      note: `${row.failed}${codes} failed of ${row.requests} requests, ${row.failedPerRestart.toFixed(1)} per restart, ${row.distinctPids} pids, ${restarts} restarts`,
      ...(row.path.startsWith('restartService, command') ? {baseline: true} : {}),
    };
    results.push(result);
    console.error(
      `  under load: ${row.path.padEnd(44)} ${formatUs(result.medianUs)} (${result.note})`,
    );
  }
}

function formatUs(us) {
  if (us < 1000) return `${us.toFixed(1)} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(2)} ms`;
  return `${(us / 1_000_000).toFixed(2)} s`;
}

function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${process.platform}-${process.arch}`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    date: new Date().toISOString().slice(0, 10),
  };
}

function markdown(results, info) {
  const lines = [
    `Measured on ${info.platform}: ${info.cpu}, ${info.cores} cores, ${info.memoryGiB} GiB, ${info.kernel}, Node ${info.node}, ${info.date}. Medians; ratio = method / portwarden (cold path: / the first row of its group, paired by round).`,
    '',
    '| scale | operation | method | median | ratio |',
    '|---|---|---|---:|---:|',
  ];
  for (const r of results) {
    const same = results.filter((b) => b.scale === r.scale && b.operation === r.operation);
    const base =
      same.find((b) => b.baseline) ?? same.find((b) => b.method.startsWith('portwarden'));
    const x = r.ratio ?? (base && base !== r ? r.medianUs / base.medianUs : undefined);
    const ratio = x === undefined || r === base ? '—' : `${x.toFixed(x >= 10 ? 0 : 2)}×`;
    lines.push(
      `| ${r.scale} | ${r.operation} | ${r.method}${r.note ? ` (${r.note})` : ''} | ${formatUs(r.medianUs)} | ${ratio} |`,
    );
  }
  return lines.join('\n') + '\n';
}

const started = Date.now();
const peers = await loadPeers();
const results = [];
for (const scale of SCALES) await measureScale(scale, peers, results);
await measureReactionRows(results);
await measureColdRows(results);
await measureRestartRows(results);
await measureUnderLoadRows(results);
const info = machine();
const md = markdown(results, info);
mkdirSync(outDir, {recursive: true});
writeFileSync(path.join(outDir, 'results.md'), md);
writeFileSync(
  path.join(outDir, 'results.json'),
  JSON.stringify({machine: info, quick, results}, null, 2) + '\n',
);
writeFileSync(path.join(outDir, 'results.svg'), renderSvg(results, info));
process.stdout.write(md);
console.error(
  `bench finished in ${((Date.now() - started) / 1000).toFixed(1)} s; results in ${outDir}`,
);
