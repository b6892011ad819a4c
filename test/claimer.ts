// Forks test/fixtures/pidfile-claimer.mjs (or instance.mjs) and reads its IPC messages in order.
import type {ChildProcess} from 'node:child_process';
import {forkFixture, track} from './helpers.js';

export type Message = Record<string, unknown>;

export type Claimer = {
  child: ChildProcess;
  pid: number;
  /** The next message (in order); rejects if the child exits first. */
  next(): Promise<Message>;
  send(message: Message): void;
  exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>;
};

export function forkClaimer(
  config: Record<string, unknown>,
  options: {uid?: number; gid?: number; fixture?: string} = {},
): Claimer {
  const {fixture = 'pidfile-claimer.mjs', ...ids} = options;
  const child = forkFixture(fixture, [JSON.stringify(config)], ids);
  track(child.pid);
  const queue: Message[] = [];
  const waiters: Array<{resolve: (m: Message) => void; reject: (e: Error) => void}> = [];
  let gone: Error | undefined;
  child.on('message', (m) => {
    const waiter = waiters.shift();
    if (waiter) {
      waiter.resolve(m as Message);
    } else {
      queue.push(m as Message);
    }
  });
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) => {
    child.once('exit', (code, signal) => {
      gone = new Error(`claimer ${child.pid} exited (${code ?? signal})`);
      for (const w of waiters.splice(0)) {
        w.reject(gone);
      }

      resolve({code, signal});
    });
  });
  return {
    child,
    pid: child.pid!,
    exited,
    async next() {
      const m = queue.shift();
      if (m) {
        return m;
      }

      if (gone) {
        throw gone;
      }

      return new Promise((resolve, reject) => waiters.push({resolve, reject}));
    },
    send(message) {
      child.send(message);
    },
  };
}
