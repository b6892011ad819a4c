import {msNow} from './clock.js';
import {requireNative} from './native.js';
import {TerminateAggregateError, TerminateError} from './errors.js';
import type {NativeBinding} from './native.js';
import {
  assertTarget,
  commandOf,
  lookupTarget,
  type ProcessIdentity,
  type ProcessRef,
  sendSignal,
  waitGone,
} from './process-control.js';
import {runAsync, runSync, type Steps} from './steps.js';
import type {TerminateResult} from './types.js';

export type {TerminateResult} from './types.js';
import {
  ArgumentRangeError,
  ArgumentTypeError,
  assertAbortSignal,
  assertBoolean,
  assertDuration,
  checkOptions,
  show,
  signalName,
} from './validate.js';

/** A bare pid (its identity is read when the call starts) or a `{pid, startTime}` identity. */
export type TerminateTarget = number | ProcessIdentity;

export type TerminateOptions = {
  /**
	The first signal sent: a POSIX signal name (`'SIGTERM'`; `'TERM'` and any case too) or
	its number on this platform (`15`).
	@default 'SIGTERM'
	*/
  readonly killSignal?: NodeJS.Signals | number;
  /**
	Send SIGKILL to targets still running this many ms after the first signal; `false`
	never escalates.
	@default 5000, or half of `timeout` when only a shorter `timeout` is given
	*/
  readonly forceAfter?: number | false;
  /**
	Overall budget in ms, from the call to the last exit. Targets still running then are
	reported as `ETIMEDOUT` errors.
	@default forceAfter + 5000 (10000 with forceAfter: false)
	*/
  readonly timeout?: number;
  /** Also signal processes of other users (as root). @default false */
  readonly allowOtherUsers?: boolean;
  /**
	Aborts the call: it rejects with `signal.reason` at once, whatever it waits for.
	Signals already sent stay sent; nothing is sent after the abort (no escalation).
	*/
  readonly signal?: AbortSignal;
};

/** The options of `terminateSync`: those of `terminate` without `signal`. */
export type TerminateSyncOptions = Omit<TerminateOptions, 'signal'>;

export const TERMINATE_SYNC_KEYS = ['killSignal', 'forceAfter', 'timeout', 'allowOtherUsers'];
const TERMINATE_KEYS = [...TERMINATE_SYNC_KEYS, 'signal'];
const FORCE_AFTER_MS = 5000;
const GRACE_MS = 5000;

export type TerminateResolved = {
  killSignal: NodeJS.Signals;
  forceAfter: number | false;
  timeout: number;
  allowOtherUsers: boolean;
  signal: AbortSignal | undefined;
};

/** Checks the `signal` option: an AbortSignal (a signal name there is a killSignal mix-up). */
function assertAbortOption(signal: unknown): asserts signal is AbortSignal | undefined {
  if (signal === undefined) {
    return;
  }

  if (typeof signal === 'string') {
    throw new ArgumentTypeError(
      `Expected signal to be an AbortSignal, got ${show(signal)} (the signal to send is killSignal)`,
    );
  }

  assertAbortSignal(signal, 'signal');
}

export function resolveTerminateOptions(options: Partial<TerminateOptions>): TerminateResolved {
  const {allowOtherUsers = false, signal} = options;
  const killSignal = signalName(options.killSignal ?? 'SIGTERM', 'killSignal');
  assertAbortOption(signal);
  if (options.forceAfter !== undefined && options.forceAfter !== false) {
    assertDuration(options.forceAfter, 'forceAfter');
  }

  if (options.timeout !== undefined) {
    assertDuration(options.timeout, 'timeout');
  }

  // Only a timeout given: escalate halfway through it (at most after the usual 5 s).
  const {
    forceAfter = options.timeout === undefined
      ? FORCE_AFTER_MS
      : Math.min(FORCE_AFTER_MS, options.timeout / 2),
  } = options;
  const {timeout = (forceAfter === false ? FORCE_AFTER_MS : forceAfter) + GRACE_MS} = options;
  if (forceAfter !== false && timeout <= forceAfter) {
    throw new ArgumentRangeError(
      `Expected timeout to be greater than forceAfter (${forceAfter}), got ${show(timeout)}`,
    );
  }

  assertBoolean(allowOtherUsers, 'allowOtherUsers');
  return {killSignal, forceAfter, timeout, allowOtherUsers, signal};
}

function resolveTargets(targets: unknown): TerminateTarget[] {
  if (!Array.isArray(targets) || targets.length === 0) {
    throw new (Array.isArray(targets) ? ArgumentRangeError : ArgumentTypeError)(
      `Expected targets to be a non-empty array of pids or {pid, startTime} identities, got ${show(targets)}`,
    );
  }

  for (const [index, target] of targets.entries()) {
    assertTarget(target, `targets[${index}]`);
  }

  return targets as TerminateTarget[];
}

/** This process, its ancestors and pid 1: never signalled. */
function protectedPids(b: NativeBinding): Map<number, string> {
  const pids = new Map<number, string>([
    [1, 'pid 1 (init)'],
    [process.pid, 'this process'],
  ]);
  let pid = process.ppid;
  for (let depth = 0; pid > 1 && depth < 1024 && !pids.has(pid); depth++) {
    pids.set(pid, 'an ancestor of this process');
    pid = b.processInfo(pid)?.ppid ?? 0;
  }

  return pids;
}

type Active = {
  index: number;
  ref: ProcessRef;
  command: string;
  /** The last signal sent; undefined before the first. */
  killSignal: NodeJS.Signals | undefined;
  forced: boolean;
};

/** Signals every target, escalates, and waits for the exits. */
export function* terminateSteps(
  targets: readonly TerminateTarget[],
  options: TerminateResolved,
  dryRun = false,
): Steps<TerminateResult[]> {
  const started = msNow();
  const b = requireNative('terminate');
  const protectedSet = protectedPids(b);
  const euid = process.geteuid?.() ?? -1;
  const results: Array<TerminateResult | undefined> = [];
  const errors: TerminateError[] = [];
  const active: Active[] = [];

  const fail = (
    pid: number,
    command: string | null,
    code: string,
    message: string,
    cause?: unknown,
  ) => {
    errors.push(new TerminateError(message, {pid, command, code, cause}));
  };

  // Sends one signal; returns true when the process is still to be waited for.
  const signalActive = (a: Active, signal: NodeJS.Signals): boolean => {
    let outcome: ReturnType<typeof sendSignal>;
    try {
      outcome = sendSignal(b, a.ref, signal);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
      fail(
        a.ref.pid,
        a.command,
        code,
        `Cannot send ${signal} to pid ${a.ref.pid} (${a.command}): ${(error as Error).message}`,
        error,
      );
      return false;
    }

    if (outcome === 'sent') {
      a.killSignal = signal;
      return true;
    }

    // Gone (or its pid reused) between two signals: it exited. Before the first: it was already gone.
    const first = a.killSignal === undefined;
    results[a.index] = {
      pid: a.ref.pid,
      command: a.command,
      killSignal: a.killSignal ?? null,
      forced: a.forced,
      status: first ? (outcome === 'gone' ? 'gone' : 'reused') : 'terminated',
    };
    return false;
  };

  for (const [index, target] of targets.entries()) {
    const pid = typeof target === 'number' ? target : target.pid;
    const info = lookupTarget(b, target);
    if (info === undefined) {
      results[index] = {pid, command: null, killSignal: null, forced: false, status: 'gone'};
      continue;
    }

    if (typeof target !== 'number' && info.startTime !== target.startTime) {
      results[index] = {pid, command: null, killSignal: null, forced: false, status: 'reused'};
      continue;
    }

    const command = commandOf(info);
    const protection = protectedSet.get(pid);
    if (protection !== undefined) {
      fail(
        pid,
        command,
        'ERR_PROTECTED_PROCESS',
        `Refusing to signal pid ${pid} (${command}): it is ${protection}`,
      );
      continue;
    }

    if (info.uid !== euid && !options.allowOtherUsers) {
      fail(
        pid,
        command,
        'ERR_OTHER_USER',
        `Refusing to signal pid ${pid} (${command}): it belongs to uid ${info.uid}, not ${euid}; pass allowOtherUsers: true to allow it`,
      );
      continue;
    }

    if (dryRun) {
      results[index] = {
        pid,
        command,
        killSignal: options.killSignal,
        forced: false,
        status: 'dry-run',
      };
      continue;
    }

    const a: Active = {
      index,
      ref: {pid, startTime: info.startTime},
      command,
      killSignal: undefined,
      forced: false,
    };
    if (signalActive(a, options.killSignal)) {
      active.push(a);
    }
  }

  const forceAt =
    options.forceAfter === false || options.killSignal === 'SIGKILL'
      ? Number.POSITIVE_INFINITY
      : started + options.forceAfter;
  const deadline = started + options.timeout;
  let escalated = false;
  while (active.length > 0) {
    const now = msNow();
    if (!escalated && now >= forceAt) {
      escalated = true;
      for (const a of [...active]) {
        a.forced = true;
        if (!signalActive(a, 'SIGKILL')) {
          active.splice(active.indexOf(a), 1);
        }
      }

      continue;
    }

    if (now >= deadline) {
      for (const a of active) {
        fail(
          a.ref.pid,
          a.command,
          'ETIMEDOUT',
          `pid ${a.ref.pid} (${a.command}) was still running ${Math.round(now - started)} ms after ${a.killSignal}`,
        );
      }

      break;
    }

    const until = escalated ? deadline : Math.min(forceAt, deadline);
    const gone = yield* waitGone(
      active.map((a) => a.ref),
      until - now,
    );
    for (const index of gone.sort((x, y) => y - x)) {
      const [a] = active.splice(index, 1);
      results[a!.index] = {
        pid: a!.ref.pid,
        command: a!.command,
        killSignal: a!.killSignal ?? null,
        forced: a!.forced,
        status: 'terminated',
      };
    }
  }

  const done = results.filter((r): r is TerminateResult => r !== undefined);
  if (errors.length > 0) {
    const summary = errors.map((e) => e.message).join('; ');
    throw new TerminateAggregateError(
      errors,
      `Failed to terminate ${errors.length} of ${targets.length} processes: ${summary}`,
      done,
    );
  }

  return done;
}

/**
Stops processes: sends `killSignal` (SIGTERM), then SIGKILL to those still running after
`forceAfter` ms, and resolves once every target has exited. Each target's identity
(pid + start time; for bare pids, read when the call starts) is re-checked immediately
before every signal through a pidfd, so a reused pid is never hit. Never signals pid 1,
this process or its ancestors, nor another user's process unless `allowOtherUsers`.
Rejects with an `AggregateError` of `TerminateError`s (with `results` for the rest) when
a target cannot be signalled (`EPERM`), is protected, or outlives `timeout`, and with
`signal.reason` when `signal` aborts.
*/
export async function terminate(
  targets: readonly TerminateTarget[],
  options?: TerminateOptions,
): Promise<TerminateResult[]> {
  const list = resolveTargets(targets);
  const resolved = resolveTerminateOptions(
    checkOptions<TerminateOptions>(options, TERMINATE_KEYS, 'terminate'),
  );
  return runAsync(terminateSteps(list, resolved), resolved.signal);
}

/** `terminate` that blocks the thread until every target has exited (or the deadline). */
export function terminateSync(
  targets: readonly TerminateTarget[],
  options?: TerminateSyncOptions,
): TerminateResult[] {
  const list = resolveTargets(targets);
  const resolved = resolveTerminateOptions(
    checkOptions<TerminateSyncOptions>(options, TERMINATE_SYNC_KEYS, 'terminateSync'),
  );
  return runSync(terminateSteps(list, resolved));
}
