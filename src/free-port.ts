/*
freePort: who holds the port (every holder, children that inherited the listener included),
refused before anything is signalled when one cannot be stopped, then terminate() and a wait
until the port is proven free. Port waits (wait.ts) and process control (terminate.ts) meet
here, so neither imports the other.
*/
import {msNow} from './clock.js';
import {describeSocket, PortBusyError} from './errors.js';
import {runAsync, runSync, type Steps} from './steps.js';
import {
  resolveTerminateOptions,
  TERMINATE_SYNC_KEYS,
  type TerminateOptions,
  type TerminateResolved,
  type TerminateTarget,
  terminateSteps,
} from './terminate.js';
import type {BackendChoice, ProcessInfo, Protocol, SocketEntry, TerminateResult} from './types.js';
import {
  ArgumentRangeError,
  ArgumentTypeError,
  assertBoolean,
  assertInteger,
  assertPidList,
  assertPort,
  checkOptions,
  show,
} from './validate.js';
import {blockersWithOwners, resolveFree, waitFreeSteps} from './wait.js';

/** Which holders `freePort` may stop. Every given criterion must match. */
export type FreePortFilter = {
  /** A RegExp tested on the command line, or a string equal to the process name or argv[0]'s basename. */
  readonly command?: RegExp | string;
  /** The process's effective uid. */
  readonly uid?: number;
  /** Only these pids. */
  readonly pids?: readonly number[];
};

export type FreePortOptions = TerminateOptions & {
  /**
	Stop only matching holders. When a holder the filter excludes shares the port, nothing
	is signalled and the call rejects with `PortBusyError`: the port could not become free.
	*/
  readonly filter?: FreePortFilter;
  /** Report what would be signalled (status `'dry-run'`) without signalling. @default false */
  readonly dryRun?: boolean;
  /** The address to free; holders of overlapping sockets are stopped. @default any address */
  readonly host?: string;
  /** @default 'tcp' */
  readonly protocol?: Protocol;
  /** @default 'auto' */
  readonly backend?: BackendChoice;
};

/** The options of `freePortSync`: those of `freePort` without `signal`. */
export type FreePortSyncOptions = Omit<FreePortOptions, 'signal'>;

const FREE_PORT_SYNC_KEYS = [
  ...TERMINATE_SYNC_KEYS,
  'filter',
  'dryRun',
  'host',
  'protocol',
  'backend',
];
const FREE_PORT_KEYS = [...FREE_PORT_SYNC_KEYS, 'signal'];

type FreePortResolved = {
  port: number;
  terminate: TerminateResolved;
  filter: FreePortFilter;
  dryRun: boolean;
  free: ReturnType<typeof resolveFree>;
};

function resolveFilter(filter: unknown): FreePortFilter {
  if (filter === undefined) {
    return {};
  }

  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) {
    throw new ArgumentTypeError(
      `Expected filter to be an object with command, uid or pids, got ${show(filter)}`,
    );
  }

  const f = checkOptions<FreePortFilter>(filter, ['command', 'uid', 'pids'], 'filter');
  if (f.command !== undefined && typeof f.command !== 'string' && !(f.command instanceof RegExp)) {
    throw new ArgumentTypeError(
      `Expected filter.command to be a RegExp or a string, got ${show(f.command)}`,
    );
  }

  if (f.uid !== undefined) {
    assertInteger(f.uid, 'filter.uid', 0, 4_294_967_295);
  }

  if (f.pids !== undefined) {
    assertPidList(f.pids, 'filter.pids');
  }

  return f;
}

function resolveFreePort(
  port: unknown,
  options: unknown,
  caller: string,
  sync: boolean,
): FreePortResolved {
  assertPort(port);
  const o = checkOptions<FreePortOptions>(
    options,
    sync ? FREE_PORT_SYNC_KEYS : FREE_PORT_KEYS,
    caller,
  );
  const {filter, dryRun = false, host, protocol, backend, ...terminateOptions} = o;
  const terminate = resolveTerminateOptions(terminateOptions);
  assertBoolean(dryRun, 'dryRun');
  const {timeout, signal} = terminate;
  // No `signal` key at all for the sync twin: resolveFree rejects it there.
  const freeOptions = {host, protocol, backend, timeout, ...(signal ? {signal} : {})};
  return {
    port,
    terminate,
    filter: resolveFilter(filter),
    dryRun,
    free: resolveFree(port, freeOptions, caller, sync),
  };
}

function matches(filter: FreePortFilter, p: ProcessInfo): boolean {
  const {command, uid, pids} = filter;
  if (uid !== undefined && p.uid !== uid) {
    return false;
  }

  if (pids !== undefined && !pids.includes(p.pid)) {
    return false;
  }

  if (typeof command === 'string') {
    const argv0 = p.command.split(' ')[0] ?? '';
    return p.name === command || argv0.slice(argv0.lastIndexOf('/') + 1) === command;
  }

  return command === undefined || command.test(p.command);
}

/** Every process holding a blocking socket, filtered; throws when one cannot be stopped. */
function* holdersToStop(r: FreePortResolved): Steps<ProcessInfo[]> {
  let blockers: SocketEntry[] = [];
  for (let attempt = 0; attempt < 2; attempt++) {
    blockers = yield* blockersWithOwners(r.free);
    // not-visible: the holder may have exited during the scan; look once more.
    if (!blockers.some((e) => e.owner?.status === 'not-visible')) {
      break;
    }
  }

  const hidden = blockers.filter((e) => e.owner?.status !== 'found');
  if (hidden.length > 0) {
    throw new PortBusyError(
      `Cannot free port ${r.port}: cannot tell who holds ${hidden.map(describeSocket).join('; ')} (the holder's /proc/PID/fd is not readable by this user)`,
      {port: r.port, blockers},
    );
  }

  const selected = new Map<number, ProcessInfo>();
  const excluded = new Map<number, ProcessInfo>();
  for (const entry of blockers) {
    for (const p of entry.owner?.status === 'found' ? entry.owner.processes : []) {
      (matches(r.filter, p) ? selected : excluded).set(p.pid, p);
    }
  }

  if (excluded.size > 0) {
    const who = [...excluded.values()].map((p) => `pid ${p.pid} (${p.command})`).join(', ');
    throw new PortBusyError(
      `Cannot free port ${r.port}: it is also held by ${who}, which the filter excludes; nothing was signalled`,
      {port: r.port, blockers},
    );
  }

  return [...selected.values()];
}

/**
Every port's holders are looked up (and refused, before anything is signalled, when one cannot
be stopped); then all of them are terminated together and every port is waited for.
*/
function* freePortSteps(rs: readonly FreePortResolved[]): Steps<TerminateResult[]> {
  const started = msNow();
  const holders = new Map<number, ProcessInfo>();
  for (const r of rs) {
    for (const p of yield* holdersToStop(r)) {
      holders.set(p.pid, p);
    }
  }

  const targets = [...holders.values()].map((p): TerminateTarget =>
    p.startTime === undefined ? p.pid : {pid: p.pid, startTime: p.startTime},
  );
  const first = rs[0]!;
  const results =
    targets.length > 0 ? yield* terminateSteps(targets, first.terminate, first.dryRun) : [];
  if (first.dryRun) {
    return results;
  }

  for (const r of rs) {
    const left = r.terminate.timeout - (msNow() - started);
    yield* waitFreeSteps({...r.free, timeout: Math.max(left, 1)});
  }

  return results;
}

/** One port, or several (a non-empty array; duplicates count once). */
function resolvePorts(
  ports: unknown,
  options: unknown,
  caller: string,
  sync: boolean,
): FreePortResolved[] {
  if (!Array.isArray(ports)) {
    return [resolveFreePort(ports, options, caller, sync)];
  }

  if (ports.length === 0) {
    throw new ArgumentRangeError(
      `Expected ports to be a port or a non-empty array of ports, got ${show(ports)}`,
    );
  }

  for (const [index, port] of ports.entries()) {
    assertPort(port, `ports[${index}]`);
  }

  return [...new Set(ports as number[])].map((port) =>
    resolveFreePort(port, options, caller, sync),
  );
}

/**
Frees a port (or several): finds every process holding a listening socket on it (children
that inherited the listener included), stops them with `terminate()` (identity-checked,
SIGKILL after `forceAfter`), then waits until the port is proven free. Resolves with what was
signalled. Rejects with `PortBusyError` when a holder cannot be seen (another user's process
without root) or is excluded by `filter` — for any of the ports, before signalling anything —
and with `signal.reason` when `signal` aborts (see `terminate`).
*/
export async function freePort(
  port: number | readonly number[],
  options?: FreePortOptions,
): Promise<TerminateResult[]> {
  const rs = resolvePorts(port, options, 'freePort', false);
  return runAsync(freePortSteps(rs), rs[0]!.terminate.signal);
}

/** `freePort` that blocks the thread until the ports are free (or the deadline). */
export function freePortSync(
  port: number | readonly number[],
  options?: FreePortSyncOptions,
): TerminateResult[] {
  return runSync(freePortSteps(resolvePorts(port, options, 'freePortSync', true)));
}
