/*
The pids holding a port, as a flat list: what pid-port's `portToPid` users reach for, with
the three-state rule kept. A socket whose holder cannot be told (another user's process
without root, a process in another pid namespace) makes the call throw rather than answer
an incomplete list; kernel-owned sockets (TIME_WAIT) have no pid and add none.
*/
import {ProbeUnavailableError} from './errors.js';
import {blockersOf, probePort, probePortSync} from './probe.js';
import type {BackendChoice, BackendName, Protocol, SocketEntry} from './types.js';
import {assertHost, checkOptions} from './validate.js';

export type PidsOnPortOptions = {
  /** @default 'tcp' */
  readonly protocol?: Protocol;
  /** Only sockets overlapping this address (see `checkPort`). @default any address */
  readonly host?: string;
  /** `'listen'`: listeners (and bound UDP sockets); `'all'`: every state. @default 'listen' */
  readonly states?: 'listen' | 'all';
  /** @default 'auto' */
  readonly backend?: BackendChoice;
  /** Budget of one lsof run, when lsof answers. @default 2000 */
  readonly attemptTimeout?: number;
  /** Aborts the probe (rejects with `signal.reason`). */
  readonly signal?: AbortSignal;
};

export type PidsOnPortSyncOptions = Omit<PidsOnPortOptions, 'signal'>;

const KEYS = ['protocol', 'host', 'states', 'backend', 'attemptTimeout', 'signal'];

function resolve(options: unknown, caller: string, sync: boolean) {
  const {
    host,
    states = 'listen',
    ...probe
  } = checkOptions<PidsOnPortOptions>(
    options,
    sync ? KEYS.filter((k) => k !== 'signal') : KEYS,
    caller,
  );
  if (host !== undefined) {
    assertHost(host);
  }

  return {host, states, probe: {...probe, states, owners: true}};
}

function pidsOf(port: number, entries: readonly SocketEntry[], backend: BackendName): number[] {
  const pids = new Set<number>();
  for (const entry of entries) {
    const owner = entry.owner;
    if (owner?.status === 'found') {
      for (const p of owner.processes) {
        pids.add(p.pid);
      }
    } else if (owner?.status === 'unknown' || owner?.status === 'not-visible') {
      throw new ProbeUnavailableError(
        `Cannot tell every process on port ${port}: a socket's owner is ${owner.status === 'unknown' ? `unknown (${owner.code})` : 'not visible from this pid namespace'} (uid ${entry.uid})`,
        {
          code: owner.status === 'unknown' ? owner.code : 'ENOENT',
          permanent: true,
          backend: backend as 'native',
        },
      );
    }
  }

  return [...pids].sort((a, b) => a - b);
}

/**
The pids of the processes holding `port` (listeners by default), sorted, each once; `[]`
only when the port is proven to have no such socket. Rejects with `ProbeUnavailableError`
when the port cannot be probed or a socket's holder cannot be told.
*/
export async function pidsOnPort(port: number, options?: PidsOnPortOptions): Promise<number[]> {
  const r = resolve(options, 'pidsOnPort', false);
  const report = await probePort(port, r.probe);
  return pidsOf(port, blockersOf(report.sockets, r.host, r.states), report.backend);
}

/** `pidsOnPort`, blocking. */
export function pidsOnPortSync(port: number, options?: PidsOnPortSyncOptions): number[] {
  const r = resolve(options, 'pidsOnPortSync', true);
  const report = probePortSync(port, r.probe);
  return pidsOf(port, blockersOf(report.sockets, r.host, r.states), report.backend);
}
