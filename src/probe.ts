import {type Backend, BackendFailure, type ProbeRequest, type States} from './backends/backend.js';
import {lsofBackend} from './backends/lsof.js';
import {nativeBackend} from './backends/native.js';
import {overlapsHost} from './address.js';
import {msNow} from './clock.js';
import {ProbeUnavailableError} from './errors.js';
import {runAsync, runSync, type Steps} from './steps.js';
import {nativeBinding} from './native.js';
import type {BackendChoice, PortReport, PortStatus, Protocol, SocketEntry} from './types.js';
import {
  assertAbortSignal,
  assertBoolean,
  assertDuration,
  assertHost,
  assertOneOf,
  assertPidList,
  assertPort,
  checkOptions,
} from './validate.js';

export type CheckPortOptions = {
  /**
	The address you intend to bind. Busy means a socket overlaps it (a wildcard or a
	dual-stack `::` socket overlaps everything of its family). Omit it for "any address".
	@default undefined
	*/
  readonly host?: string;
  /** @default 'tcp' */
  readonly protocol?: Protocol;
  /**
	Which sockets make the port busy. `'listen'`: TCP LISTEN sockets (and bound UDP sockets).
	`'all'`: any socket on the port in any state, TIME_WAIT and connections included (what a
	`bind()` without SO_REUSEADDR needs).
	@default 'listen'
	*/
  readonly states?: 'listen' | 'all';
  /** @default 'auto' */
  readonly backend?: BackendChoice;
  /**
	Budget in ms for one backend attempt that spawns a process (the lsof fallback); the
	native probe never waits. (Not `timeout`: that is always an overall budget.)
	@default 2000
	*/
  readonly attemptTimeout?: number;
  /** Rejects with `signal.reason` when aborted (an lsof run in flight is killed). */
  readonly signal?: AbortSignal;
};

export type CheckPortSyncOptions = Omit<CheckPortOptions, 'signal'>;

export type ProbePortOptions = {
  /** @default 'tcp' */
  readonly protocol?: Protocol;
  /** `'listen'`: TCP LISTEN sockets only (microseconds). `'all'`: every state. UDP: always every socket. @default 'all' */
  readonly states?: 'listen' | 'all';
  /** Look up the processes holding each socket. @default true */
  readonly owners?: boolean;
  /**
	Pids scanned first (the PID file's pid, a unit's MainPID). When given, the scan stops as
	soon as every socket has a holder, so other processes sharing a socket may be left
	out; omit it to list every holder.
	@default []
	*/
  readonly candidates?: readonly number[];
  /** @default 'auto' */
  readonly backend?: BackendChoice;
  /** Budget in ms for one lsof attempt (see `checkPort`). @default 2000 */
  readonly attemptTimeout?: number;
  /** Rejects with `signal.reason` when aborted (an lsof run in flight is killed). */
  readonly signal?: AbortSignal;
};

export type ProbePortSyncOptions = Omit<ProbePortOptions, 'signal'>;

const CHECK_SYNC_KEYS = ['host', 'protocol', 'states', 'backend', 'attemptTimeout'];
const CHECK_KEYS = [...CHECK_SYNC_KEYS, 'signal'];
const PROBE_SYNC_KEYS = ['protocol', 'states', 'owners', 'candidates', 'backend', 'attemptTimeout'];
const PROBE_KEYS = [...PROBE_SYNC_KEYS, 'signal'];
const BACKENDS = ['auto', 'native', 'lsof'] as const;
const STATES = ['listen', 'all'] as const;
const DEFAULT_TIMEOUT = 2000;

type Resolved = {
  request: ProbeRequest;
  backend: BackendChoice;
  host: string | undefined;
  /** The caller's AbortSignal (checkPort only). */
  signal: AbortSignal | undefined;
};

function resolveCommon(
  port: unknown,
  options: Partial<CheckPortOptions & ProbePortOptions>,
): {
  protocol: Protocol;
  backend: BackendChoice;
  timeoutMs: number;
  signal: AbortSignal | undefined;
} {
  assertPort(port);
  const {protocol = 'tcp', backend = 'auto', attemptTimeout = DEFAULT_TIMEOUT, signal} = options;
  assertOneOf(protocol, 'protocol', ['tcp', 'udp']);
  assertOneOf(backend, 'backend', BACKENDS);
  assertDuration(attemptTimeout, 'attemptTimeout');
  if (signal !== undefined) {
    assertAbortSignal(signal, 'signal');
  }

  return {protocol, backend, timeoutMs: attemptTimeout, signal};
}

/** `sync`: the options of a sync call (no `signal`); internal callers pass built options. */
export function resolveCheck(
  port: unknown,
  rawOptions: unknown,
  caller: string,
  sync = true,
): Resolved {
  const options = checkOptions<CheckPortOptions>(
    rawOptions,
    sync ? CHECK_SYNC_KEYS : CHECK_KEYS,
    caller,
  );
  const common = resolveCommon(port, options);
  const {host, states = 'listen'} = options;
  if (host !== undefined) {
    assertHost(host);
  }

  assertOneOf(states, 'states', STATES);
  return {
    request: {
      port: port as number,
      protocol: common.protocol,
      states,
      owners: false,
      candidates: [],
      timeoutMs: common.timeoutMs,
    },
    backend: common.backend,
    host,
    signal: common.signal,
  };
}

function resolveProbe(port: unknown, rawOptions: unknown, caller: string, sync: boolean) {
  const options = checkOptions<ProbePortOptions>(
    rawOptions,
    sync ? PROBE_SYNC_KEYS : PROBE_KEYS,
    caller,
  );
  const common = resolveCommon(port, options);
  const {states = 'all', owners = true, candidates = []} = options;
  assertOneOf(states, 'states', STATES);
  assertBoolean(owners, 'owners');
  assertPidList(candidates, 'candidates');
  const request: ProbeRequest = {
    port: port as number,
    protocol: common.protocol,
    states,
    owners,
    candidates,
    timeoutMs: common.timeoutMs,
  };
  return {request, backend: common.backend, signal: common.signal};
}

function backendsFor(choice: BackendChoice): Backend[] {
  if (choice === 'native') {
    return [nativeBackend];
  }

  if (choice === 'lsof') {
    return [lsofBackend];
  }

  return nativeBinding() === undefined ? [lsofBackend] : [nativeBackend, lsofBackend];
}

type Attempt =
  {entries: SocketEntry[]; backend: Backend} | {failure: BackendFailure; backend: Backend};

/** Runs the backends in order; `auto` moves on only when a backend is unavailable here. */
function* attempt(choice: BackendChoice, request: ProbeRequest): Steps<Attempt> {
  let last: Attempt | undefined;
  for (const backend of backendsFor(choice)) {
    try {
      return {entries: yield* backend.probe(request), backend};
    } catch (error) {
      if (!(error instanceof BackendFailure)) {
        throw error;
      }

      last = {failure: error, backend};
      if (!error.unavailable) {
        break;
      }
    }
  }

  return last!;
}

/**
The sockets that make the port busy under the chosen rule: with `'listen'`, TCP listeners
and bound UDP sockets; with `'all'`, every socket. Only those overlapping `host` count.
*/
export function blockersOf(
  entries: readonly SocketEntry[],
  host: string | undefined,
  states: States,
): SocketEntry[] {
  return entries.filter(
    (entry) =>
      (states === 'all' || entry.protocol === 'udp' || entry.state === 'LISTEN') &&
      overlapsHost(entry, host),
  );
}

function unknownOf(a: {failure: BackendFailure; backend: Backend}): PortStatus {
  return {
    status: 'unknown',
    code: a.failure.code,
    reason: a.failure.message,
    permanent: a.failure.permanent,
    backend: a.backend.name,
  };
}

/**
One verdict from up to two answers: a socket seen → busy; two consecutive empty answers
→ free (a dump is not atomic); a failed attempt → unknown, never free.
*/
function* checkSteps(resolved: Resolved): Steps<PortStatus> {
  const judge = (a: Attempt): PortStatus | undefined => {
    if ('failure' in a) {
      return unknownOf(a);
    }

    const blockers = blockersOf(a.entries, resolved.host, resolved.request.states);
    return blockers.length > 0 ? {status: 'busy', blockers, backend: a.backend.name} : undefined;
  };

  const first = judge(yield* attempt(resolved.backend, resolved.request));
  if (first) {
    return first;
  }

  const second = yield* attempt(resolved.backend, resolved.request);
  return judge(second) ?? {status: 'free', backend: second.backend.name};
}

/** Synchronous three-state check. With the native backend this costs tens of microseconds. */
export function checkPortSync(port: number, options?: CheckPortSyncOptions): PortStatus {
  return checkResolvedSync(resolveCheck(port, options, 'checkPortSync', true));
}

export function checkResolvedSync(resolved: Resolved): PortStatus {
  return runSync(checkSteps(resolved));
}

/** Three-state check: `free`, `busy` (with the blocking sockets) or `unknown` (never read as free). */
export async function checkPort(port: number, options?: CheckPortOptions): Promise<PortStatus> {
  const resolved = resolveCheck(port, options, 'checkPort', false);
  return checkResolved(resolved, resolved.signal);
}

export async function checkResolved(
  resolved: Resolved,
  signal: AbortSignal | undefined,
): Promise<PortStatus> {
  return runAsync(checkSteps(resolved), signal);
}

function report(a: Attempt, request: ProbeRequest, started: number): PortReport {
  if ('failure' in a) {
    throw new ProbeUnavailableError(`Cannot probe port ${request.port}: ${a.failure.message}`, {
      code: a.failure.code,
      permanent: a.failure.permanent,
      backend: a.backend.name,
    });
  }

  return {
    port: request.port,
    protocol: request.protocol,
    sockets: a.entries,
    backend: a.backend.name,
    elapsedMs: msNow() - started,
  };
}

/** Every socket on the port, with owners. Throws `ProbeUnavailableError` when no backend answers. */
export function probePortSync(port: number, options?: ProbePortSyncOptions): PortReport {
  const started = msNow();
  const {request, backend} = resolveProbe(port, options, 'probePortSync', true);
  return report(runSync(attempt(backend, request)), request, started);
}

/**
Every socket on the port, with owners; the /proc scan runs on the libuv threadpool.
Rejects with `signal.reason` when aborted.
*/
export async function probePort(port: number, options?: ProbePortOptions): Promise<PortReport> {
  const started = msNow();
  const {request, backend, signal} = resolveProbe(port, options, 'probePort', false);
  return report(await runAsync(attempt(backend, request), signal), request, started);
}
