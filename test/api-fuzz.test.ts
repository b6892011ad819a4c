// Property-based fuzz (fast-check) of every exported function and of the raw addon with
// random argument types and values: each call returns a valid result or throws a
// TypeError/RangeError/typed portwarden error (the raw addon: its guards' TypeError or
// RangeError, or a node-style errno error for valid arguments), and the process never aborts. Runs in a child process
// (a crash fails the test instead of killing vitest), sandboxed: new pid, net and mount
// namespaces, uid 65534, a scratch directory. Random pids then only reach the sandbox's own
// processes, random ports its own loopback, random relative paths its scratch directory.
import {spawn, spawnSync} from 'node:child_process';
import {chmodSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, describe, expect, it} from 'vitest';
import {nativeBinding} from '../src/native.js';
import {collect, distEntry, fixtures, forNobody, nobodyEnv} from './helpers.js';
import {testingExports} from './testing-exports.js';

const runs = Number(process.env.API_FUZZ_RUNS ?? 200);
const seed = Number(process.env.API_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const fastCheck = import.meta.resolve('fast-check');
const scratch = mkdtempSync(path.join(tmpdir(), 'portwarden-api-fuzz-'));
chmodSync(scratch, 0o777);
afterAll(() => rmSync(scratch, {recursive: true, force: true}));

const linux = process.platform === 'linux';
const sandboxWorks =
  linux &&
  process.getuid?.() === 0 &&
  spawnSync('unshare', ['--pid', '--fork', '--mount-proc', '--net', 'true']).status === 0;
// Linux only (namespaces). CI runs as root there and must not skip it.
const inCi = Boolean(process.env.CI);

type Report = {
  calls: number;
  outcomes: Record<string, Record<string, number> | string[]>;
  failures: Array<{call: string; problem: string}>;
};

async function runSandboxed(phase: 'api' | 'native'): Promise<Report> {
  const marker = path.join(scratch, `${phase}.marker`);
  // The sandbox runs as uid 65534: paths into the checkout as it can reach them.
  const config = JSON.stringify({
    entry: forNobody(distEntry),
    fastCheck: forNobody(fastCheck),
    runs,
    seed,
    phase,
    marker,
  });
  const script = forNobody(path.join(fixtures, 'api-fuzz.mjs'));
  // sh stays pid 1 of the namespace (node is not init: signals reach it normally); lo is
  // brought up so that probes and listens on 127.0.0.1 / ::1 work in the empty netns.
  const child = spawn(
    'unshare',
    [
      '--pid',
      '--fork',
      '--mount-proc',
      '--net',
      '--kill-child',
      '--',
      'sh',
      '-c',
      'ip link set lo up 2>/dev/null; setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"',
      'sh',
      process.execPath,
      script,
      config,
    ],
    {
      cwd: scratch,
      env: {...nobodyEnv(), HOME: scratch, NOTIFY_SOCKET: ''},
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const {status: code, signal, out, err} = await collect(child);
  let last = '';
  try {
    last = readFileSync(marker, 'utf8');
  } catch {}

  const context = `seed ${seed}, exit ${code ?? signal}, last call: ${last}\nstderr: ${err.slice(-4000)}`;
  expect(signal, context).toBeNull();
  expect(code, context).toBe(0);
  const report = JSON.parse(out.trim().split('\n').at(-1)!) as Report;
  expect(report.failures, `seed ${seed}: ${JSON.stringify(report.failures, null, 2)}`).toEqual([]);
  return report;
}

describe('raw addon functions and typed-array views', () => {
  // Found by the fuzz below: parsePidFile took a DataView for a Buffer and threw a plain
  // Error ("Invalid argument") from napi_get_buffer_info instead of a TypeError.
  it('refuse DataView and non-Uint8Array views with a TypeError', () => {
    const b = nativeBinding()!;
    type Fn = (...args: unknown[]) => unknown;
    const raw = b as unknown as Record<string, unknown>;
    const views = [
      new DataView(new ArrayBuffer(8)),
      new Float64Array(2),
      new Uint16Array(3),
      new Int8Array(4),
    ];
    const functions: Array<[string, Fn]> = [
      ...Object.getOwnPropertyNames(b)
        .filter((k) => k !== 'bootId' && typeof raw[k] === 'function')
        .map((k): [string, Fn] => [k, (raw[k] as Fn).bind(b)]),
      ...Object.entries(testingExports()).map(([k, f]): [string, Fn] => [`testing.${k}`, f as Fn]),
    ];
    for (const [name, fn] of functions) {
      for (const view of views) {
        expect(() => fn(view, 0, 0, false), `${name}(${view.constructor.name})`).toThrow(TypeError);
      }
    }
  });
});

describe.skipIf(!linux || (!sandboxWorks && !inCi))(
  'random arguments (fast-check, sandboxed child process)',
  () => {
    it('the sandbox can be created (root, unshare, setpriv)', () => {
      expect(sandboxWorks).toBe(true);
    });

    it('every exported function returns a valid result or throws a TypeError, RangeError or typed error', async () => {
      const report = await runSandboxed('api');
      const functions = report.outcomes.functions as string[];
      expect(functions).toContain('checkPortSync');
      expect(functions).toContain('claimPidFile');
      expect(report.calls).toBeGreaterThanOrEqual(functions.length * runs);
    }, 600_000);

    it('every raw addon function throws a TypeError or RangeError on garbage and never crashes', async () => {
      const report = await runSandboxed('native');
      const functions = report.outcomes.functions as string[];
      expect(functions).toContain('inetDump');
      expect(functions).toContain('testing.parseInetDiag');
      expect(report.calls).toBeGreaterThanOrEqual(functions.length * runs);
    }, 600_000);
  },
);
