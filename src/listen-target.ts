/*
What a server passes to `server.listen()` / `dgram.bind()`: a socket this process inherited
(systemd socket activation, launchd `Sockets`, `portwarden serve`), verified by asking the
kernel what it is, or the port and host to bind when nothing was passed in.

The systemd protocol (sd_listen_fds(3)): descriptors 3 .. 3+LISTEN_FDS-1 are passed to the
process whose pid is LISTEN_PID; LISTEN_FDNAMES names them, colon-separated.
*/
import {requireNative} from './native.js';
import {builtin} from './builtin.js';
import {canonicalAddress} from './address.js';
import type {RawSocketInfo} from './native.js';
import type {Protocol} from './types.js';
import {
  ArgumentTypeError,
  assertHost,
  assertOneOf,
  assertPort,
  checkOptions,
  show,
} from './validate.js';

const {fstatSync} = builtin.fs();

/** First passed descriptor (SD_LISTEN_FDS_START). */
const FIRST_FD = 3;
/** More would be a garbled environment, not sockets. */
const MAX_FDS = 1024;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const AF_UNIX = 1; // on Linux and macOS

export type ListenTargetOptions = {
  /**
	The address the server would bind. An inherited socket must be bound to exactly this
	address (`0.0.0.0` is also served by a dual-stack `::` socket); without `host`, a socket
	on any address matches and the fallback binds as `server.listen(port)` does.
	@default undefined
	*/
  readonly host?: string;
  /**
	`'tcp'`: a listening stream socket, for `net`/`http` servers. `'udp'`: a bound datagram
	socket, for `dgram.createSocket(type).bind(target)`.
	@default 'tcp'
	*/
  readonly protocol?: Protocol;
  /**
	Only the inherited socket with this name: an entry of `LISTEN_FDNAMES` (systemd
	`FileDescriptorName=`), or on macOS the key of the launchd job's `Sockets` dictionary
	(launchd passes sockets only to a job that asks for them by name).
	@default undefined
	*/
  readonly name?: string;
};

/** `{fd}`: listen on the inherited socket. `{port, host}`: bind normally. */
export type ListenTarget = {readonly fd: number} | {readonly port: number; readonly host?: string};

/** What one inherited descriptor turned out to be. */
export type InheritedDescriptor = {
  readonly fd: number;
  /** Its LISTEN_FDNAMES entry (or launchd socket name), when there is one. */
  readonly name: string | undefined;
  /** `'tcp'`, `'udp'`, `'unix'`, `'socket'` (another kind), or what it is when not a socket. */
  readonly kind: 'tcp' | 'udp' | 'unix' | 'socket' | 'pipe' | 'file' | 'other' | 'closed';
  readonly address?: string;
  readonly port?: number;
  readonly listening?: boolean;
  readonly v6only?: boolean;
};

/**
`LISTEN_FD_MISMATCH`: descriptors were passed to this process but none is the asked-for
socket (`found` says what each one is). `LISTEN_PID_MISMATCH`: `LISTEN_PID` names another
process (a wrapper that did not `exec` the server) while a matching socket sits here.
`LISTEN_FDS_INVALID`: the variables do not parse.
*/
export type ListenTargetErrorCode =
  'LISTEN_FD_MISMATCH' | 'LISTEN_PID_MISMATCH' | 'LISTEN_FDS_INVALID';

export class ListenTargetError extends Error {
  declare readonly code: ListenTargetErrorCode;
  declare readonly port: number;
  declare readonly found: readonly InheritedDescriptor[];

  constructor(
    message: string,
    details: {code: ListenTargetErrorCode; port: number; found: readonly InheritedDescriptor[]},
  ) {
    super(message);
    this.code = details.code;
    this.port = details.port;
    this.found = details.found;
  }
}

Object.defineProperty(ListenTargetError.prototype, 'name', {
  value: 'ListenTargetError',
  writable: true,
  enumerable: false,
  configurable: true,
});

function kindOf(info: RawSocketInfo): InheritedDescriptor['kind'] {
  if (info.family === 0) {
    return info.domain === AF_UNIX ? 'unix' : 'socket';
  }

  if (info.type === SOCK_STREAM && (info.protocol === undefined || info.protocol === 6)) {
    return 'tcp';
  }

  if (info.type === SOCK_DGRAM && (info.protocol === undefined || info.protocol === 17)) {
    return 'udp';
  }

  return 'socket';
}

/** Asks the kernel what `fd` is (never assumes it from the number). */
export function describeDescriptor(fd: number, name?: string): InheritedDescriptor {
  const b = requireNative('listenTarget');
  try {
    const info = b.socketInfo(fd);
    return {
      fd,
      name,
      kind: kindOf(info),
      address: info.address,
      ...(info.port === undefined || info.family === 0 ? {} : {port: info.port}),
      ...(info.listening === undefined ? {} : {listening: info.listening}),
      ...(info.v6only === undefined ? {} : {v6only: info.v6only}),
    };
  } catch (error) {
    const code = (error as {code?: unknown}).code;
    if (code === 'EBADF') {
      return {fd, name, kind: 'closed'};
    }

    if (code !== 'ENOTSOCK') {
      throw error;
    }
  }

  let kind: InheritedDescriptor['kind'] = 'other';
  try {
    const st = fstatSync(fd);
    kind = st.isFIFO() ? 'pipe' : st.isFile() ? 'file' : 'other';
  } catch {}

  return {fd, name, kind};
}

/** `fd 3 ("web"): tcp 127.0.0.1:8081 listening`, `fd 3: a pipe (not a socket)`. */
export function describeInherited(d: InheritedDescriptor): string {
  const label = `fd ${d.fd}${d.name === undefined ? '' : ` (${show(d.name)})`}`;
  switch (d.kind) {
    case 'closed': {
      return `${label}: not open`;
    }

    case 'pipe': {
      return `${label}: a pipe (not a socket)`;
    }

    case 'file': {
      return `${label}: a regular file (not a socket)`;
    }

    case 'other': {
      return `${label}: not a socket`;
    }

    case 'unix': {
      return `${label}: a unix socket ${d.address === '' ? '(unbound)' : d.address}${d.listening ? ' listening' : ''}`;
    }

    case 'socket': {
      return `${label}: a socket that is neither TCP nor UDP`;
    }

    default: {
      const host = d.address?.includes(':') ? `[${d.address}]` : d.address;
      const state =
        d.kind === 'tcp' ? (d.listening === false ? ' not listening' : ' listening') : ' bound';
      return `${label}: ${d.kind} ${host}:${d.port}${state}`;
    }
  }
}

/** Whether a socket bound to `address` serves exactly `host`. */
function sameHost(d: InheritedDescriptor, host: string): boolean {
  const wanted = canonicalAddress(host);
  const local = canonicalAddress(d.address ?? '');
  if (local === wanted) {
    return true;
  }

  // A dual-stack `::` socket is also the IPv4 wildcard.
  return wanted === '0.0.0.0' && local === '::' && d.v6only !== true;
}

function matches(
  d: InheritedDescriptor,
  port: number,
  host: string | undefined,
  protocol: Protocol,
  name: string | undefined,
): boolean {
  return (
    d.kind === protocol &&
    d.port === port &&
    (protocol === 'udp' || d.listening !== false) &&
    (host === undefined || sameHost(d, host)) &&
    (name === undefined || d.name === name)
  );
}

function wantedText(port: number, host: string | undefined, protocol: Protocol, name?: string) {
  const what = protocol === 'tcp' ? 'a TCP listener' : 'a bound UDP socket';
  const where =
    host === undefined ? `port ${port}` : `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return `${what} on ${where}${name === undefined ? '' : ` named ${show(name)}`}`;
}

function parseCount(text: string, port: number): number {
  if (!/^\d+$/.test(text) || Number(text) > MAX_FDS) {
    throw new ListenTargetError(
      `LISTEN_FDS must be a number of descriptors (0 to ${MAX_FDS}), got ${show(text)}`,
      {code: 'LISTEN_FDS_INVALID', port, found: []},
    );
  }

  return Number(text);
}

function fallback(port: number, host: string | undefined): ListenTarget {
  return host === undefined ? {port} : {port, host};
}

function fromLaunchd(
  port: number,
  host: string | undefined,
  protocol: Protocol,
  name: string,
): ListenTarget {
  let fds: number[];
  try {
    fds = requireNative('listenTarget').launchdSockets(name);
  } catch (error) {
    // ESRCH: not started by launchd; ENOENT: the job has no such socket.
    const code = (error as {code?: unknown}).code;
    if (code === 'ESRCH' || code === 'ENOENT' || code === 'ENOTSUP') {
      return fallback(port, host);
    }

    throw error;
  }

  const found = fds.map((fd) => describeDescriptor(fd, name));
  const hit = found.find((d) => matches(d, port, host, protocol, undefined));
  if (hit === undefined) {
    throw new ListenTargetError(
      `launchd passed the socket ${show(name)} but it is not ${wantedText(port, host, protocol)}: ${found.map((d) => describeInherited(d)).join('; ')}`,
      {code: 'LISTEN_FD_MISMATCH', port, found},
    );
  }

  return {fd: hit.fd};
}

/**
Where a server should listen: `{fd}` when this process inherited a socket for `port` —
systemd socket activation (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`), a launchd
`Sockets` entry (macOS, with `name`), or `portwarden serve` — and `{port, host}` otherwise,
so that the same code binds normally when started by hand:

	server.listen(listenTarget(8080), () => notifyReady());

An inherited descriptor is verified with the kernel (socket type, listening state, bound
address and port), never assumed from its number, and marked close-on-exec (as
sd_listen_fds does), so that the server's own children do not hold the listener.

@throws {ListenTargetError} `LISTEN_FD_MISMATCH` when sockets were passed to this process
but none is the one asked for (its `found` lists what each descriptor is: a socket on
another port, a pipe, a file, a UDP socket); `LISTEN_PID_MISMATCH` when `LISTEN_PID` names
another process while a matching socket is here (a wrapper such as `sh -c` or `npm start`
started the server without `exec`); `LISTEN_FDS_INVALID`.
*/
export function listenTarget(port: number, options?: ListenTargetOptions): ListenTarget {
  assertPort(port);
  const {
    host,
    protocol = 'tcp',
    name,
  } = checkOptions<ListenTargetOptions>(options, ['host', 'protocol', 'name'], 'listenTarget');
  if (host !== undefined) {
    assertHost(host, 'options.host');
  }

  assertOneOf(protocol, 'options.protocol', ['tcp', 'udp'] as const);
  if (name !== undefined && (typeof name !== 'string' || name === '' || /[:\0]/.test(name))) {
    throw new ArgumentTypeError(
      `Expected options.name to be a non-empty string without ':' or NUL, got ${show(name)}`,
    );
  }

  const countText = process.env.LISTEN_FDS;
  if (countText === undefined || countText === '') {
    if (process.platform === 'darwin' && name !== undefined) {
      return fromLaunchd(port, host, protocol, name);
    }

    return fallback(port, host);
  }

  const count = parseCount(countText, port);
  if (count === 0) {
    return fallback(port, host);
  }

  const names = (process.env.LISTEN_FDNAMES ?? '').split(':');
  const found: InheritedDescriptor[] = [];
  for (let i = 0; i < count; i++) {
    const entry = names[i];
    found.push(
      describeDescriptor(FIRST_FD + i, entry === undefined || entry === '' ? undefined : entry),
    );
  }

  const hit = found.find((d) => matches(d, port, host, protocol, name));
  const listing = found.map((d) => describeInherited(d)).join('; ');
  const pidText = process.env.LISTEN_PID;
  if (pidText !== String(process.pid)) {
    // Passed to another process (sd_listen_fds ignores them). Binding normally is right
    // unless the socket for this port is here after all: then a wrapper that did not exec
    // got LISTEN_PID, and a bind would fail with EADDRINUSE against our own listener.
    if (hit === undefined) {
      return fallback(port, host);
    }

    throw new ListenTargetError(
      `LISTEN_PID is ${pidText === undefined ? 'not set' : show(pidText)} but this process is pid ${process.pid}, and it holds ${describeInherited(hit)}: the sockets were passed to another process (a wrapper such as sh -c or npm that started this one without exec). Start the server with exec, or directly.`,
      {code: 'LISTEN_PID_MISMATCH', port, found},
    );
  }

  if (hit === undefined) {
    throw new ListenTargetError(
      `LISTEN_FDS=${count} passes ${listing}; none is ${wantedText(port, host, protocol, name)}`,
      {code: 'LISTEN_FD_MISMATCH', port, found},
    );
  }

  requireNative('listenTarget').setCloexec(hit.fd, true);
  return {fd: hit.fd};
}
