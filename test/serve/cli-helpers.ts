// Runs `portwarden serve --json` (the built CLI) as a real process and follows its events.
import {type ChildProcess, spawn} from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import {distBin, fixtures, track} from '../helpers.js';

export const app = path.join(fixtures, 'serve-app.mjs');

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
