// The serve tests' set-up: `portwarden serve --json` (the built CLI) as a real process whose
// events are followed, the fixture app (test/fixtures/serve-app.mjs: an HTTP server on
// listenTarget(port) that answers with its pid and calls notifyReady()) under it, and GETs.
import {type ChildProcess, spawn} from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import {expect} from 'vitest';
import {distBin, fixtures, runCli, tempDir, track} from '../helpers.js';
import {testPort} from '../ports.js';

export const app = path.join(fixtures, 'serve-app.mjs');

/** What follows the flags to run the app on `port`: `-- node serve-app.mjs <port> <mode>`. */
export function appCommand(port: number, mode = 'ok'): string[] {
  return ['--', process.execPath, app, String(port), mode];
}

export type ServeEvent = {event: string; at: number; pid?: number; [key: string]: unknown};

export type ServeProcess = {
  child: ChildProcess;
  pid: number;
  events: ServeEvent[];
  stderr: () => string;
  /** Resolves with the first event (from index `from` on) that satisfies `test`. */
  next: (test: (e: ServeEvent) => boolean, from?: number, ms?: number) => Promise<ServeEvent>;
  exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>;
};

/** Starts `portwarden serve --json <args>`; every pid it reports is tracked for cleanup. */
export function startServe(args: string[], env: Record<string, string> = {}): ServeProcess {
  const child = spawn(process.execPath, [distBin, 'serve', '--json', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {...process.env, ...env},
  });
  track(child.pid);
  const events: ServeEvent[] = [];
  const waiters = new Set<() => void>();
  let buffer = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString();
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.startsWith('{')) {
        const e = JSON.parse(line) as ServeEvent;
        events.push(e);
        if (typeof e.pid === 'number') {
          track(e.pid);
        }

        for (const w of waiters) {
          w();
        }
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) =>
    child.once('exit', (code, signal) => {
      for (const w of waiters) {
        w();
      }

      resolve({code, signal});
    }),
  );
  let done = false;
  void exited.then(() => (done = true));
  const next = async (test: (e: ServeEvent) => boolean, from = 0, ms = 20_000) =>
    new Promise<ServeEvent>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no such serve event within ${ms} ms; stderr: ${err}`));
      }, ms);
      const check = () => {
        const hit = events.slice(from).find((e) => test(e));
        if (hit !== undefined) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(hit);
        } else if (done) {
          clearTimeout(timer);
          waiters.delete(check);
          reject(new Error(`serve exited; stderr: ${err}`));
        }
      };

      waiters.add(check);
      check();
    });
  return {child, pid: child.pid!, events, stderr: () => err, next, exited};
}

/** One GET on a fresh connection; resolves with the answering pid. */
export async function get(port: number, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({host, port, path: '/', agent: false, timeout: 5000}, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(Number(body)));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export type AppServe = ServeProcess & {port: number; pidFile: string};

/**
`portwarden serve --json --port <port> --pid-file <pidFile> <flags> -- node serve-app.mjs
<port> <mode>`: the app under a supervisor with a PID file of its own (in a new temporary
directory unless given).
*/
export function serveApp(
  options: {
    port?: number;
    mode?: string;
    pidFile?: string;
    flags?: string[];
    env?: Record<string, string>;
  } = {},
): AppServe {
  const port = options.port ?? testPort();
  const pidFile = options.pidFile ?? path.join(tempDir(), 'serve.pid');
  const flags = ['--port', String(port), '--pid-file', pidFile, ...(options.flags ?? [])];
  return {...startServe([...flags, ...appCommand(port, options.mode)], options.env), port, pidFile};
}

/** `portwarden serve --reload` of the supervisor that holds `pidFile`. */
export async function reloadCli(port: number, pidFile: string) {
  return runCli(['serve', '--reload', '--port', String(port), '--pid-file', pidFile]);
}

/** SIGTERM to the supervisor: it stops the app gracefully and exits 0. */
export async function stopServe(s: ServeProcess): Promise<void> {
  process.kill(s.pid, 'SIGTERM');
  expect((await s.exited).code).toBe(0);
}
