import {msNow} from './clock.js';
import {describeSocket, NotListeningError, PortBusyError, ProbeUnavailableError} from './errors.js';
import {nativeBinding, requireNative} from './native.js';
import {
  blockersOf,
  checkResolved,
  checkResolvedSync,
  probePort,
  probePortSync,
  type ProbePortSyncOptions,
  resolveCheck,
} from './probe.js';
import {
  assertTarget,
  Backoff,
  lookupTarget,
  type ProcessIdentity,
  type ProcessRef,
  waitGone,
} from './process-control.js';
import {perform, runAsync, runSync, sleepStep, step, type Steps} from './steps.js';
import type {
  BackendChoice,
  BackendName,
  PortReport,
  PortStatus,
  ProcessInfo,
  Protocol,
  SocketEntry,
} from './types.js';
import {
  assertAbortSignal,
  assertDuration,
  assertFunction,
  assertPid,
  assertPort,
  checkOptions,
} from './validate.js';

const DEFAULT_TIMEOUT = 5000;
/** Budget of one lsof attempt (the native probe never waits). */
const PROBE_ATTEMPT_MS = 2000;
/**
The holders are looked up (a /proc scan: milliseconds, more with many processes) only
when the port is still busy after the first polls, which see a quick exit sooner.
*/
const HOLDER_LOOKUP_AFTER_MS = 10;
/** How long a listener seen held only by others is trusted to stay so (waitForListening). */
const FOREIGN_RECHECK_MS = 200;

export type WaitProgress = {
  readonly elapsedMs: number;
  /** The sockets that keep the port busy, without owners. */
  readonly blockers: readonly SocketEntry[];
};

export type WaitForPortFreeOptions = {
  /** Budget in ms. @default 5000 */
  readonly timeout?: number;
  /** The address you intend to bind (see `checkPort`). @default any address */
  readonly host?: string;
  /**
	Which sockets keep the port busy (see `checkPort`): `'listen'`, TCP listeners (and bound
	UDP sockets); `'all'`, every socket, TIME_WAIT included.
	@default 'listen'
	*/
  readonly states?: 'listen' | 'all';
  /** @default 'tcp' */
  readonly protocol?: Protocol;
  /** @default 'auto' */
  readonly backend?: BackendChoice;
  /** Rejects with `signal.reason` when aborted. */
  readonly signal?: AbortSignal;
  /** Called after every probe that found the port busy. */
  readonly onProgress?: (progress: WaitProgress) => void;
};

export type WaitForPortFreeSyncOptions = Omit<WaitForPortFreeOptions, 'signal'>;

export type WaitFreeResult = {
  readonly port: number;
  readonly elapsedMs: number;
  readonly backend: BackendName;
};

const FREE_KEYS = ['timeout', 'host', 'states', 'protocol', 'backend', 'signal', 'onProgress'];
const FREE_SYNC_KEYS = FREE_KEYS.filter((k) => k !== 'signal');

type CheckRequest = ReturnType<typeof resolveCheck>;

export type FreeResolved = {
  port: number;
  check: CheckRequest;
  timeout: number;
  signal: AbortSignal | undefined;
  onProgress: ((progress: WaitProgress) => void) | undefined;
};

export function resolveFree(
  port: unknown,
  options: unknown,
  caller: string,
  sync: boolean,
): FreeResolved {
  assertPort(port);
  const o = checkOptions<WaitForPortFreeOptions>(
    options,
    sync ? FREE_SYNC_KEYS : FREE_KEYS,
    caller,
  );
  const {timeout = DEFAULT_TIMEOUT, host, states, protocol, backend, signal, onProgress} = o;
  assertDuration(timeout, 'timeout');
  if (signal !== undefined) {
    assertAbortSignal(signal, 'signal');
  }

  if (onProgress !== undefined) {
    assertFunction(onProgress, 'onProgress');
  }

  const checkInput = {
    host,
    states,
    protocol,
    backend,
    attemptTimeout: Math.min(timeout, PROBE_ATTEMPT_MS),
  };
  return {port, check: resolveCheck(port, checkInput, caller), timeout, signal, onProgress};
}

// The async forms pass the driver's AbortSignal on: an abort also ends an lsof run at once.
const checkStep = (check: CheckRequest) =>
  step(
    () => checkResolvedSync(check),
    async (signal) => checkResolved(check, signal),
  );

function probeStep(port: number, options: ProbePortSyncOptions) {
  return step(
    () => probePortSync(port, options),
    async (signal) => probePort(port, signal ? {...options, signal} : options),
  );
}

/** One probe with owners of the sockets the check counts as blocking. */
export function* blockersWithOwners(r: FreeResolved): Steps<SocketEntry[]> {
  const {request, host, backend} = r.check;
  const report: PortReport = yield* perform(
    probeStep(r.port, {protocol: request.protocol, states: request.states, owners: true, backend}),
  );
  return blockersOf(report.sockets, host, request.states);
}

function holderRefs(entries: readonly SocketEntry[]): ProcessRef[] {
  const refs = new Map<number, ProcessRef>();
  for (const entry of entries) {
    for (const p of entry.owner?.status === 'found' ? entry.owner.processes : []) {
      refs.set(p.pid, {pid: p.pid, startTime: p.startTime ?? -1});
    }
  }

  return [...refs.values()];
}

/** The processes holding the blockers, for exit waits; [] when they cannot be waited on. */
function* holdersOf(r: FreeResolved, blockers: readonly SocketEntry[]): Steps<ProcessRef[]> {
  if (nativeBinding() === undefined || blockers.every((e) => e.inode === 0)) {
    return []; // No pidfds, or only kernel-owned sockets (TIME_WAIT): poll.
  }

  try {
    return holderRefs(yield* blockersWithOwners(r));
  } catch (error) {
    if (error instanceof ProbeUnavailableError) {
      return [];
    }

    throw error;
  }
}

function unavailable(port: number, status: Extract<PortStatus, {status: 'unknown'}>) {
  return new ProbeUnavailableError(`Cannot probe port ${port}: ${status.reason}`, {
    code: status.code,
    permanent: status.permanent,
    backend: status.backend,
  });
}

/**
Probes until the port is proven free. While it is busy and its holders are known, the
pause between probes is an exit wait on them (pidfd), so an exit is seen at once; the
pause is capped at MAX_POLL_MS, which also catches a holder that closes its listener
and keeps running. A holder that is not the process waited for (a child that inherited
the listener) is found by the probe that follows the exit, and waited for in turn.
*/
export function* waitFreeSteps(r: FreeResolved): Steps<WaitFreeResult> {
  const started = msNow();
  const deadline = started + r.timeout;
  const backoff = new Backoff();
  let holders: ProcessRef[] = [];
  let holdersKey: string | undefined;
  for (;;) {
    const status: PortStatus = yield* perform(checkStep(r.check));
    const elapsedMs = msNow() - started;
    if (status.status === 'free') {
      return {port: r.port, elapsedMs, backend: status.backend};
    }

    if (status.status === 'unknown' && status.permanent) {
      throw unavailable(r.port, status);
    }

    if (status.status === 'busy') {
      r.onProgress?.({elapsedMs, blockers: status.blockers});
      const key = status.blockers.map((e) => e.inode).join(',');
      if (key !== holdersKey && elapsedMs >= HOLDER_LOOKUP_AFTER_MS) {
        holdersKey = key;
        holders = yield* holdersOf(r, status.blockers);
      }
    }

    const left = deadline - msNow();
    if (left <= 0) {
      break;
    }

    if (holders.length > 0) {
      const gone = yield* waitGone(holders, backoff.next(left));
      if (gone.length > 0) {
        holdersKey = undefined; // Look the holders up again if it is still busy.
        backoff.reset();
      }
    } else {
      yield* perform(sleepStep(backoff.next(left)));
    }
  }

  // Deadline: name who holds the port, unless it has just become free.
  let blockers = yield* blockersWithOwners(r);
  if (blockers.length === 0) {
    const status: PortStatus = yield* perform(checkStep(r.check));
    if (status.status === 'free') {
      return {port: r.port, elapsedMs: msNow() - started, backend: status.backend};
    }

    if (status.status === 'unknown') {
      throw unavailable(r.port, status);
    }

    blockers = [...status.blockers];
  }

  throw new PortBusyError(
    `Port ${r.port} is still busy after ${r.timeout} ms: ${blockers.map(describeSocket).join('; ')}`,
    {port: r.port, blockers},
  );
}

/**
Resolves once the port is proven free (two consecutive free probes). Reacts within
milliseconds: when the holders are known it waits on their exit (pidfd) and then
confirms with a probe; otherwise it polls with a backoff from 1 to 50 ms. Rejects with
`PortBusyError` (naming the holders) at the deadline, with `ProbeUnavailableError` when
the port cannot be probed at all (a transient failure is retried within the budget),
and with `signal.reason` when aborted. It never resolves on a deadline.
*/
export async function waitForPortFree(
  port: number,
  options?: WaitForPortFreeOptions,
): Promise<WaitFreeResult> {
  const r = resolveFree(port, options, 'waitForPortFree', false);
  return runAsync(waitFreeSteps(r), r.signal);
}

/**
`waitForPortFree` that blocks the calling thread (and its event loop) until the port is
free or the deadline passes. For synchronous restart paths only.
*/
export function waitForPortFreeSync(
  port: number,
  options?: WaitForPortFreeSyncOptions,
): WaitFreeResult {
  const r = resolveFree(port, options, 'waitForPortFreeSync', true);
  return runSync(waitFreeSteps(r));
}

export type WaitForListeningOptions = {
  /**
	Accept only a socket held by this process or one of its descendants, and reject as
	soon as it exits.
	*/
  readonly pid?: number;
  /** Budget in ms. @default 5000 */
  readonly timeout?: number;
  /** The address the server binds; a socket overlapping it counts. @default any address */
  readonly host?: string;
  /** @default 'tcp' */
  readonly protocol?: Protocol;
  /** @default 'auto' */
  readonly backend?: BackendChoice;
  /** Rejects with `signal.reason` when aborted. */
  readonly signal?: AbortSignal;
};

const LISTEN_KEYS = ['pid', 'timeout', 'host', 'protocol', 'backend', 'signal'];

type ListenResolved = {
  port: number;
  pid: number | undefined;
  check: CheckRequest;
  timeout: number;
  signal: AbortSignal | undefined;
};

function resolveListen(port: unknown, options: unknown, caller: string): ListenResolved {
  assertPort(port);
  const o = checkOptions<WaitForListeningOptions>(options, LISTEN_KEYS, caller);
  const {pid, timeout = DEFAULT_TIMEOUT, host, protocol, backend, signal} = o;
  if (pid !== undefined) {
    assertPid(pid);
  }

  assertDuration(timeout, 'timeout');
  if (signal !== undefined) {
    assertAbortSignal(signal, 'signal');
  }

  const check = resolveCheck(
    port,
    {host, protocol, backend, attemptTimeout: Math.min(timeout, PROBE_ATTEMPT_MS)},
    caller,
  );
  return {port, pid, check, timeout, signal};
}

/** Whether `p` is the target process or one of its descendants (walks the ppid chain). */
function isTargetOrDescendant(p: ProcessInfo, target: ProcessRef): boolean {
  if (p.pid === target.pid) {
    return p.startTime === undefined || p.startTime === target.startTime;
  }

  const b = nativeBinding();
  let ppid = p.ppid;
  for (let depth = 0; b !== undefined && ppid !== undefined && ppid > 1 && depth < 1024; depth++) {
    const parent = b.processInfo(ppid);
    if (parent === undefined) {
      return false;
    }

    if (ppid === target.pid) {
      return parent.startTime === target.startTime;
    }

    ppid = parent.ppid;
  }

  return false;
}

function* listenSteps(r: ListenResolved): Steps<SocketEntry> {
  const started = msNow();
  const deadline = started + r.timeout;
  const {request, host, backend} = r.check;
  const probe = (owners: boolean, candidates: number[]) =>
    probeStep(r.port, {protocol: request.protocol, states: 'listen', owners, candidates, backend});
  let target: ProcessRef | undefined;
  if (r.pid !== undefined) {
    const info = lookupTarget(requireNative('waitForListening({pid})'), r.pid);
    if (info === undefined) {
      throw new NotListeningError(`Process ${r.pid} does not exist`, {
        port: r.port,
        pid: r.pid,
        reason: 'exited',
        seen: [],
      });
    }

    target = {pid: r.pid, startTime: info.startTime};
  }

  // Inodes held only by other processes, and when that was seen. A socket can be handed to
  // the target later (launchd check-in, SCM_RIGHTS, a supervisor's fork): each is looked at
  // again after FOREIGN_RECHECK_MS, not on every poll (an owner scan can take milliseconds).
  const foreign = new Map<number, number>();
  const isForeign = (inode: number, now: number) =>
    now - (foreign.get(inode) ?? Number.NEGATIVE_INFINITY) < FOREIGN_RECHECK_MS;
  let seen: SocketEntry[] = [];
  const backoff = new Backoff();
  for (;;) {
    try {
      const listening = blockersOf((yield* perform(probe(false, []))).sockets, host, 'listen');
      const now = msNow();
      if (listening.length === 0) {
        seen = [];
      } else if (target === undefined || listening.some((e) => !isForeign(e.inode, now))) {
        const report = yield* perform(probe(true, target === undefined ? [] : [target.pid]));
        seen = blockersOf(report.sockets, host, 'listen');
        for (const entry of seen) {
          if (target === undefined) {
            return entry;
          }

          if (entry.owner?.status !== 'found') {
            continue;
          }

          if (entry.owner.processes.some((p) => isTargetOrDescendant(p, target!))) {
            return entry;
          }

          foreign.set(entry.inode, now);
        }
      }
    } catch (error) {
      if (!(error instanceof ProbeUnavailableError) || error.permanent) {
        throw error;
      }
    }

    const left = deadline - msNow();
    if (left <= 0) {
      break;
    }

    if (target === undefined) {
      yield* perform(sleepStep(backoff.next(left)));
    } else if ((yield* waitGone([target], backoff.next(left))).length > 0) {
      throw new NotListeningError(
        `Process ${target.pid} exited after ${Math.round(msNow() - started)} ms without listening on port ${r.port}`,
        {port: r.port, pid: target.pid, reason: 'exited', seen},
      );
    }
  }

  const by = r.pid === undefined ? '' : ` by pid ${r.pid} or its descendants`;
  const what =
    seen.length === 0 ? 'no listening socket seen' : `seen: ${seen.map(describeSocket).join('; ')}`;
  throw new NotListeningError(
    `Port ${r.port} is not listening${by} after ${r.timeout} ms; ${what}`,
    {port: r.port, pid: r.pid, reason: 'timeout', seen},
  );
}

/**
Resolves with the listening socket (with its owner) once the port is bound — by `pid` or
one of its descendants when given. Rejects with `NotListeningError` at the deadline
(naming what was seen) or as soon as `pid` exits without listening (an exit wait races
the polling), and with `signal.reason` when aborted.
*/
export async function waitForListening(
  port: number,
  options?: WaitForListeningOptions,
): Promise<SocketEntry> {
  const r = resolveListen(port, options, 'waitForListening');
  return runAsync(listenSteps(r), r.signal);
}

export type WaitForExitOptions = {
  /** Budget in ms. @default 5000 */
  readonly timeout?: number;
  /** Rejects with `signal.reason` when aborted. */
  readonly signal?: AbortSignal;
};

export type WaitForExitSyncOptions = Omit<WaitForExitOptions, 'signal'>;

function* exitSteps(target: number | ProcessIdentity, timeout: number): Steps<boolean> {
  const b = nativeBinding();
  let ref: ProcessRef;
  if (b === undefined) {
    if (typeof target !== 'number') {
      requireNative('waitForExit({pid, startTime})');
    }

    ref = {pid: target as number, startTime: -1};
  } else {
    const info = lookupTarget(b, target);
    const startTime = typeof target === 'number' ? info?.startTime : target.startTime;
    if (info === undefined || info.startTime !== startTime) {
      return true;
    }

    ref = {pid: info.pid, startTime: info.startTime};
  }

  return (yield* waitGone([ref], timeout)).length > 0;
}

function resolveExit(
  target: unknown,
  options: unknown,
  caller: string,
  sync: boolean,
): {timeout: number; signal: AbortSignal | undefined} {
  assertTarget(target, 'target');
  const {timeout = DEFAULT_TIMEOUT, signal} = checkOptions<WaitForExitOptions>(
    options,
    sync ? ['timeout'] : ['timeout', 'signal'],
    caller,
  );
  assertDuration(timeout, 'timeout');
  if (signal !== undefined) {
    assertAbortSignal(signal, 'signal');
  }

  return {timeout, signal};
}

/**
Resolves `true` once the process has exited (a zombie counts as exited), `false` if it
still runs after `timeout`. With an identity, a pid that now belongs to a process with
another start time is already "exited". Event-driven (pidfd) where available. Rejects
with `signal.reason` when aborted.
*/
export async function waitForExit(
  target: number | ProcessIdentity,
  options?: WaitForExitOptions,
): Promise<boolean> {
  const {timeout, signal} = resolveExit(target, options, 'waitForExit', false);
  return runAsync(exitSteps(target, timeout), signal);
}

/** `waitForExit` that blocks the calling thread. */
export function waitForExitSync(
  target: number | ProcessIdentity,
  options?: WaitForExitSyncOptions,
): boolean {
  const {timeout} = resolveExit(target, options, 'waitForExitSync', true);
  return runSync(exitSteps(target, timeout));
}
