#!/usr/bin/env node
// Reaction latency of waitForPortFree: a small listener is SIGKILLed and we time from
// kill() to the moment the port is reported free, against the loop restart scripts use:
// `while lsof -nP -iTCP:P -sTCP:LISTEN -t; do sleep 0.05; done`.
//
//   npm run build:ts && node scripts/bench-wait.mjs [--runs 50] [--lsof-runs 20] [--holder perl|node]
//
// scripts/bench.mjs imports measureReaction() for its table.
//
// Both are measured from the same kill() and include the kernel's own teardown of the
// holder: its socket closes only once the process has released its memory and files.
import {spawn, spawnSync} from 'node:child_process';
import {fileURLToPath} from 'node:url';
import {parseArgs} from 'node:util';
import {waitForPortFree} from '../dist/index.js';

const POLL_MS = 50;

const hasPerl = spawnSync('perl', ['-e', '1']).status === 0;

// A listener as small as possible, so that its teardown does not hide the reaction time.
const HOLDERS = {
  perl: [
    'perl',
    [
      '-MIO::Socket::INET',
      '-e',
      '$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 16, ReuseAddr => 1) or die; $| = 1; print $s->sockport, "\\n"; sleep 1000;',
    ],
  ],
  node: [
    process.execPath,
    [
      '-e',
      's = require("net").createServer().listen(0, "127.0.0.1", () => console.log(s.address().port))',
    ],
  ],
};

async function startHolder(holderKind) {
  const [command, args] = HOLDERS[holderKind];
  const child = spawn(command, args, {stdio: ['ignore', 'pipe', 'inherit']});
  const port = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`holder exited (${code})`)));
    child.stdout.once('data', (d) => resolve(Number(String(d).trim())));
  });
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {pid: child.pid, port, exited};
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

async function measure(runs, fn, holderKind) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const h = await startHolder(holderKind);
    await sleep(20); // settle: the holder is idle in accept()
    samples.push(await fn(h));
    await h.exited;
  }
  return samples;
}

// waitForPortFree already waiting (holders looked up, pidfd wait armed) when the kill comes.
const armed = async (h) => {
  const wait = waitForPortFree(h.port, {timeout: 5000});
  await sleep(30);
  const start = performance.now();
  process.kill(h.pid, 'SIGKILL');
  await wait;
  return performance.now() - start;
};

// The restart path as written: kill, then wait.
const killThenWait = async (h) => {
  const start = performance.now();
  process.kill(h.pid, 'SIGKILL');
  await waitForPortFree(h.port, {timeout: 5000});
  return performance.now() - start;
};

const lsofLoop = async (h) => {
  const start = performance.now();
  process.kill(h.pid, 'SIGKILL');
  for (;;) {
    const r = spawnSync('lsof', ['-nP', `-iTCP:${h.port}`, '-sTCP:LISTEN', '-t'], {
      encoding: 'utf8',
    });
    if (r.error) throw r.error;
    if (r.status === 1 && r.stdout === '') break;
    Atomics.wait(sleeper, 0, 0, POLL_MS);
  }
  return performance.now() - start;
};

/**
Median reaction latencies in ms: waitForPortFree armed before the kill, called right
after it, and the lsof loop.
*/
export async function measureReaction({runs = 50, lsofRuns = 20, holder} = {}) {
  const holderKind = holder ?? (hasPerl ? 'perl' : 'node');
  const armedSamples = await measure(runs, armed, holderKind);
  const afterSamples = await measure(runs, killThenWait, holderKind);
  const lsofSamples = await measure(lsofRuns, lsofLoop, holderKind);
  return {holderKind, armedSamples, afterSamples, lsofSamples, median};
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const {values: flags} = parseArgs({
    options: {
      runs: {type: 'string', default: '50'},
      'lsof-runs': {type: 'string', default: '20'},
      holder: {type: 'string'},
    },
  });
  const r = await measureReaction({
    runs: Math.max(Number(flags.runs), 1),
    lsofRuns: Math.max(Number(flags['lsof-runs']), 1),
    holder: flags.holder,
  });
  const fmt = (ms) => `${ms.toFixed(2)} ms`;
  const row = (name, samples) => {
    const sorted = [...samples].sort((a, b) => a - b);
    const p90 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))];
    console.log(
      `${name.padEnd(46)} median ${fmt(median(samples)).padStart(10)}   p90 ${fmt(p90).padStart(10)}   (n=${samples.length})`,
    );
    return median(samples);
  };

  console.log(`holder: ${r.holderKind} listener on 127.0.0.1, SIGKILL; node ${process.version}`);
  const armedMs = row('waitForPortFree (waiting before the kill)', r.armedSamples);
  const afterMs = row('waitForPortFree (kill, then wait)', r.afterSamples);
  const lsofMs = row(`lsof loop (poll every ${POLL_MS} ms)`, r.lsofSamples);
  console.log('');
  console.log(
    `lsof loop / waitForPortFree: ${(lsofMs / armedMs).toFixed(1)}x (armed), ${(lsofMs / afterMs).toFixed(1)}x (kill, then wait)`,
  );
}
