import {
  nativeBinding,
  type NativeBinding,
  type RawInetSocket,
  type RawOwnerScan,
} from '../native.js';
import type {Owner, ProcessInfo, SocketEntry, SocketState} from '../types.js';
import {perform} from '../steps.js';
import {type Backend, BackendFailure, type ProbeRequest} from './backend.js';

const TCP_STATES: readonly SocketState[] = [
  'UNKNOWN',
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'NEW_SYN_RECV',
  'BOUND_INACTIVE',
];

const TCP_LISTEN = 10;
const PROTO_TCP = 1;
const PROTO_UDP = 2;

/** Kernel state number → name. UDP uses 7 for bound-unconnected and 1 for connected. */
export function stateName(protocol: 'tcp' | 'udp', state: number): SocketState {
  if (protocol === 'udp') {
    return state === 7 ? 'UNCONN' : state === 1 ? 'ESTABLISHED' : (TCP_STATES[state] ?? 'UNKNOWN');
  }

  return TCP_STATES[state] ?? 'UNKNOWN';
}

/** Errors after which sock_diag cannot work in this process: fall back to another backend. */
const UNAVAILABLE = new Set(['ENOENT', 'EAFNOSUPPORT', 'EPROTONOSUPPORT', 'EPERM', 'EACCES']);

function failure(error: unknown, what: string): BackendFailure {
  const code = (error as {code?: unknown}).code;
  if (typeof code === 'string') {
    const unavailable = UNAVAILABLE.has(code);
    return new BackendFailure(
      `${what} failed: ${(error as Error).message}`,
      code,
      unavailable,
      unavailable,
    );
  }

  throw error;
}

function binding(): NativeBinding {
  const b = nativeBinding();
  if (b === undefined) {
    throw new BackendFailure('the native addon is not loaded', 'ENOTSUP', true, true);
  }

  return b;
}

function toEntry(raw: RawInetSocket): SocketEntry {
  const entry: {-readonly [K in keyof SocketEntry]: SocketEntry[K]} = {
    protocol: raw.protocol,
    family: raw.family,
    state: stateName(raw.protocol, raw.state),
    localAddress: raw.localAddress,
    localPort: raw.localPort,
    remoteAddress: raw.remoteAddress,
    remotePort: raw.remotePort,
    uid: raw.uid,
    inode: raw.inode,
  };
  if (raw.v6only !== undefined) {
    entry.v6only = raw.v6only;
  }

  return entry;
}

/** Identity of a live process, or undefined when it is gone. Throws on unexpected errors. */
export function nativeProcessInfo(b: NativeBinding, pid: number): ProcessInfo | undefined {
  const raw = b.processInfo(pid);
  if (raw === undefined) {
    return undefined;
  }

  return {
    pid: raw.pid,
    ppid: raw.ppid,
    uid: raw.uid,
    name: raw.name,
    command: raw.command === '' ? raw.name : raw.command,
    startTime: raw.startTime,
    bootId: b.bootId(),
  };
}

/** Turns an owner scan into one Owner per inode. Holders that exited meanwhile are dropped. */
export function ownersFromScan(
  b: NativeBinding,
  inodes: readonly number[],
  scan: RawOwnerScan,
): Owner[] {
  const infos = new Map<number, ProcessInfo | undefined>();
  return inodes.map((inode, index): Owner => {
    if (inode === 0) {
      return {status: 'none'};
    }

    const processes: ProcessInfo[] = [];
    for (const pid of scan.holders[index] ?? []) {
      if (!infos.has(pid)) {
        let info: ProcessInfo | undefined;
        try {
          info = nativeProcessInfo(b, pid);
        } catch {
          info = undefined; // Unreadable identity: the scan saw it, but we cannot describe it.
        }

        infos.set(pid, info);
      }

      const info = infos.get(pid);
      if (info) {
        processes.push(info);
      }
    }

    if (processes.length > 0) {
      return {status: 'found', processes};
    }

    return scan.denied > 0 ? {status: 'unknown', code: 'EACCES'} : {status: 'not-visible'};
  });
}

function dump(b: NativeBinding, request: ProbeRequest): SocketEntry[] {
  const protocols = request.protocol === 'tcp' ? PROTO_TCP : PROTO_UDP;
  const tcpStates = request.states === 'listen' ? 1 << TCP_LISTEN : 0xff_ff_ff_ff;
  try {
    return b.inetDump(request.port, protocols, tcpStates).map(toEntry);
  } catch (error) {
    throw failure(error, 'sock_diag');
  }
}

function scanArgs(
  entries: readonly SocketEntry[],
  request: ProbeRequest,
): [inodes: number[], candidates: number[], uids: number[], stopWhenResolved: boolean] {
  const inodes = entries.map((e) => e.inode);
  const uids = [...new Set(entries.filter((e) => e.inode !== 0).map((e) => e.uid))];
  return [inodes, [...request.candidates], uids, request.candidates.length > 0];
}

function withOwners(entries: SocketEntry[], owners: Owner[]): SocketEntry[] {
  return entries.map((entry, index) => ({...entry, owner: owners[index]!}));
}

export const nativeBackend: Backend = {
  name: 'native',
  *probe(request) {
    const b = binding();
    const entries = dump(b, request);
    if (!request.owners || entries.length === 0) {
      return entries;
    }

    const args = scanArgs(entries, request);
    let scan: RawOwnerScan;
    try {
      // The /proc scan: on the calling thread for runSync, on the threadpool for runAsync.
      scan = yield* perform({
        sync: () => b.findOwners(...args),
        async: async () => b.findOwnersAsync(...args),
      });
    } catch (error) {
      throw failure(error, 'owner scan');
    }

    return withOwners(entries, ownersFromScan(b, args[0], scan));
  },
};
