/*
Process identity, exit waits and identity-checked signals over the addon. Exit waits use
pidfds (poll on one pidfd per process, on the threadpool in the async form) and fall back
to polling /proc with a short backoff where pidfds are unavailable.
*/
import {builtin} from './builtin.js';
import {msNow} from './clock.js';
import {type NativeBinding, nativeBinding, type RawProcessInfo} from './native.js';
import {processInfo} from './process.js';
import {perform, sleepStep, type Step, type Steps} from './steps.js';
import {ArgumentTypeError, assertInteger, assertPid, show} from './validate.js';

const {readFileSync} = builtin.fs();

/**
A process named by pid and start time (`processInfo(pid).startTime`, clock ticks since
boot). A pid whose process has another start time is another process. With `bootId`, a
process of another boot is gone too.
*/
export type ProcessIdentity = {
  readonly pid: number;
  readonly startTime: number;
  readonly bootId?: string;
};

/** What the addon is given: `startTime` -1 means whichever process has the pid now. */
export type ProcessRef = {readonly pid: number; readonly startTime: number};

/** First and longest pause of the polling loops, in ms. */
export const FIRST_POLL_MS = 1;
export const MAX_POLL_MS = 50;

/** Doubling pauses from FIRST_POLL_MS to MAX_POLL_MS, never past the time left. */
export class Backoff {
  private delay = FIRST_POLL_MS;

  next(leftMs: number): number {
    const pause = Math.min(this.delay, leftMs);
    this.delay = Math.min(this.delay * 2, MAX_POLL_MS);
    return pause;
  }

  reset(): void {
    this.delay = FIRST_POLL_MS;
  }
}

// Set once pidfd_open answered ENOSYS in this JS environment.
let pidfdUnavailable = false;

/** Whether exit waits and signals may use pidfds (`PORTWARDEN_DISABLE_PIDFD=1` forces the fallback). */
export function pidfdUsable(): boolean {
  return !pidfdUnavailable && process.env.PORTWARDEN_DISABLE_PIDFD !== '1';
}

/**
One native wait lasts at most this long. A worker thread being terminated (or its
environment torn down) waits for threadpool work in flight, so waits are kept short.
*/
const NATIVE_SLICE_MS = 100;
const MAX_NATIVE_TARGETS = 4096;

export function commandOf(info: RawProcessInfo): string {
  return info.command === '' ? info.name : info.command;
}

export function assertTarget(
  value: unknown,
  name: string,
): asserts value is number | ProcessIdentity {
  if (typeof value === 'number') {
    assertPid(value, name);
    return;
  }

  if (typeof value !== 'object' || value === null || !('pid' in value) || !('startTime' in value)) {
    throw new ArgumentTypeError(
      `Expected ${name} to be a pid or a {pid, startTime} identity, got ${show(value)}`,
    );
  }

  assertPid(value.pid, `${name}.pid`);
  assertInteger(value.startTime, `${name}.startTime`, 0, Number.MAX_SAFE_INTEGER);
  if ('bootId' in value && value.bootId !== undefined && typeof value.bootId !== 'string') {
    throw new ArgumentTypeError(
      `Expected ${name}.bootId to be a string, got ${show(value.bootId)}`,
    );
  }
}

/** Whether `pid` is one of `roots` or descends from one (walks the ppid chain). */
export function descendsFrom(pid: number, roots: ReadonlySet<number>): boolean {
  let current: number | undefined = pid;
  for (let depth = 0; current !== undefined && current > 1 && depth < 128; depth++) {
    if (roots.has(current)) {
      return true;
    }

    current = processInfo(current)?.ppid;
  }

  return false;
}

/** The process a target names, or undefined when it is gone (exited, zombie, other boot). */
export function lookupTarget(
  b: NativeBinding,
  target: number | ProcessIdentity,
): RawProcessInfo | undefined {
  const pid = typeof target === 'number' ? target : target.pid;
  if (typeof target !== 'number' && target.bootId !== undefined && target.bootId !== b.bootId()) {
    return undefined;
  }

  const info = b.processInfo(pid);
  return info === undefined || info.state === 'Z' || info.state === 'X' ? undefined : info;
}

/**
The state letter of /proc/<pid>/stat (`R`, `S`, `Z`, ...), or undefined when it cannot be
read (no /proc, not Linux, the pid is gone or hidden). The field follows the parenthesised
command name, which may itself contain spaces and parentheses: it is read after the last ')'.
*/
function procState(pid: number): string | undefined {
  if (process.platform !== 'linux') {
    return undefined;
  }

  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }

  const close = stat.lastIndexOf(')');
  return close < 0 ? undefined : /^\s*([A-Za-z])/.exec(stat.slice(close + 1))?.[1];
}

/**
Without the addon: a zombie (`Z`) or dead (`X`) process has exited, as `waitForExit`
documents. kill(pid, 0) cannot tell (it succeeds on a zombie), so the state is read from
/proc on Linux; where it cannot be read, kill(pid, 0) answers (ESRCH: gone; success or
EPERM: running).
*/
function isGoneWithoutAddon(pid: number): boolean {
  const state = procState(pid);
  if (state !== undefined) {
    return state === 'Z' || state === 'X';
  }

  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Whether the process has exited (a zombie has) or its pid now names another process. */
export function isGone(ref: ProcessRef): boolean {
  const b = nativeBinding();
  if (b === undefined) {
    return isGoneWithoutAddon(ref.pid);
  }

  const info = lookupTarget(b, ref.pid);
  return info === undefined || (ref.startTime >= 0 && info.startTime !== ref.startTime);
}

function nativeWaitStep(b: NativeBinding, refs: readonly ProcessRef[], ms: number): Step<number[]> {
  const pids = refs.map((r) => r.pid);
  const startTimes = refs.map((r) => r.startTime);
  const timeout = Math.max(Math.ceil(ms), 0);
  return {
    sync: () => b.waitExit(pids, startTimes, timeout),
    async async(signal) {
      const {promise, cancel} = b.waitExitAsync(pids, startTimes, timeout);
      if (signal === undefined) {
        return promise;
      }

      // Frees the threadpool thread at once when the caller gives up.
      signal.addEventListener('abort', cancel, {once: true});
      try {
        return await promise;
      } finally {
        signal.removeEventListener('abort', cancel);
      }
    },
  };
}

/**
Waits until at least one of `refs` is gone or `ms` pass; returns the indices of the gone
ones (`[]` on timeout). Event-driven with pidfds; otherwise polls with backoff.
*/
export function* waitGone(refs: readonly ProcessRef[], ms: number): Steps<number[]> {
  const deadline = msNow() + ms;
  const b = nativeBinding();
  if (b !== undefined && pidfdUsable() && refs.length > 0 && refs.length <= MAX_NATIVE_TARGETS) {
    try {
      for (;;) {
        const left = Math.max(deadline - msNow(), 0);
        const gone = yield* perform(nativeWaitStep(b, refs, Math.min(left, NATIVE_SLICE_MS)));
        if (gone.length > 0 || left <= NATIVE_SLICE_MS) {
          return gone;
        }
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSYS') {
        throw error;
      }

      pidfdUnavailable = true;
    }
  }

  const backoff = new Backoff();
  for (;;) {
    const gone = refs.flatMap((ref, index) => (isGone(ref) ? [index] : []));
    const left = deadline - msNow();
    if (gone.length > 0 || left <= 0) {
      return gone;
    }

    yield* perform(sleepStep(backoff.next(left)));
  }
}

/**
Sends `signal` to the process only while it is `ref` (pidfd-pinned where available).
`'gone'`: no such process; `'mismatch'`: the pid belongs to another process now.
Throws the kernel's errors (`EPERM`).
*/
export function sendSignal(
  b: NativeBinding,
  ref: ProcessRef,
  signal: NodeJS.Signals,
): 'sent' | 'gone' | 'mismatch' {
  return b.signalProcess(
    ref.pid,
    ref.startTime,
    builtin.os().constants.signals[signal],
    pidfdUsable(),
  );
}
