import {msNow} from './clock.js';
import {requireNative} from './native.js';
import {ownersFromScan} from './backends/native.js';
import {perform, runAsync, runSync, type Steps} from './steps.js';
import {ProbeUnavailableError} from './errors.js';
import type {Owner} from './types.js';
import {ArgumentRangeError, ArgumentTypeError, show} from './validate.js';
import type {NativeBinding, RawOwnerScan, RawUnixSocket} from './native.js';

export type UnixSocketEntry = {
  readonly type: 'stream' | 'dgram' | 'seqpacket';
  /** `LISTEN` for stream/seqpacket listeners, `UNCONN` for bound datagram sockets. */
  readonly state: 'LISTEN' | 'UNCONN';
  readonly inode: number;
  /**
	The address the socket was bound to. Abstract names start with `@`; the NULs that Node
	pads them with are not shown, and `@name` matches both the exact and the padded address.
	*/
  readonly name: string;
  readonly owner: Owner;
};

export type UnixSocketReport = {
  readonly path: string;
  /** Whether the path exists (always true for abstract names). */
  readonly exists: boolean;
  /** Whether the path is a socket file. A stale socket file with no listener still blocks `bind()`. */
  readonly isSocket: boolean;
  readonly sockets: readonly UnixSocketEntry[];
  readonly backend: 'native';
  readonly elapsedMs: number;
};

/** sun_path is 108 bytes including the terminating NUL. */
const MAX_PATH_BYTES = 107;

function assertSocketPath(path: unknown): asserts path is string {
  if (typeof path !== 'string') {
    throw new ArgumentTypeError(`Expected path to be a string, got ${show(path)}`);
  }

  const bytes = Buffer.byteLength(path);
  if (bytes === 0 || bytes > MAX_PATH_BYTES || path.includes('\0')) {
    throw new ArgumentRangeError(
      `Expected path to be 1 to ${MAX_PATH_BYTES} bytes without NUL (the limit of sun_path), got ${show(path)} (${bytes} bytes)`,
    );
  }
}

const TYPES: Record<number, UnixSocketEntry['type']> = {1: 'stream', 2: 'dgram', 5: 'seqpacket'};

/**
Why a unix socket probe failed, as the inet probe reports it: a `ProbeUnavailableError`
with the errno code. `ENOENT` (no unix_diag; no /proc), `EACCES` and `EPERM` (/proc or
netlink denied) fail the same way on every retry: permanent. An error without an errno
code (a TypeError from the addon's guards) is a bug, and is rethrown as it is.
*/
function unavailable(path: string, what: string, error: unknown): ProbeUnavailableError {
  const code = (error as {code?: unknown} | undefined)?.code;
  if (typeof code !== 'string') {
    throw error;
  }

  return new ProbeUnavailableError(
    `Cannot probe unix socket ${show(path)}: ${what}${(error as Error).message}`,
    {
      code,
      permanent: code === 'ENOENT' || code === 'EACCES' || code === 'EPERM',
      backend: 'native',
      cause: error,
    },
  );
}

function dump(b: NativeBinding, path: string) {
  try {
    return b.unixDump(path);
  } catch (error) {
    throw unavailable(path, '', error);
  }
}

function build(
  b: NativeBinding,
  path: string,
  raw: ReturnType<NativeBinding['unixDump']>,
  scan: RawOwnerScan | undefined,
  started: number,
): UnixSocketReport {
  const inodes = raw.sockets.map((s) => s.inode);
  const owners = scan ? ownersFromScan(b, inodes, scan) : [];
  return {
    path,
    exists: raw.exists,
    isSocket: raw.isSocket,
    sockets: raw.sockets.map((s: RawUnixSocket, index) => ({
      type: TYPES[s.type] ?? 'stream',
      state: s.state === 10 ? 'LISTEN' : 'UNCONN',
      inode: s.inode,
      name: s.name,
      owner: owners[index]!,
    })),
    backend: 'native',
    elapsedMs: msNow() - started,
  };
}

function* unixSteps(path: string): Steps<UnixSocketReport> {
  const started = msNow();
  assertSocketPath(path);
  const b = requireNative('probeUnixSocket');
  const raw = dump(b, path);
  const inodes = raw.sockets.map((s) => s.inode);
  let scan: RawOwnerScan | undefined;
  if (inodes.length > 0) {
    try {
      scan = yield* perform({
        sync: () => b.findOwners(inodes, [], [], false),
        async: async () => b.findOwnersAsync(inodes, [], [], false),
      });
    } catch (error) {
      throw unavailable(path, 'owner scan failed: ', error);
    }
  }

  return build(b, path, raw, scan, started);
}

/**
Listeners (and bound datagram sockets) of a unix socket path, matched by the file's
device and inode, with their owners. A leading `@` names an abstract socket (Linux).
*/
export function probeUnixSocketSync(path: string): UnixSocketReport {
  return runSync(unixSteps(path));
}

/** `probeUnixSocketSync`, with the /proc scan on the libuv threadpool. */
export async function probeUnixSocket(path: string): Promise<UnixSocketReport> {
  return runAsync(unixSteps(path), undefined);
}
