import type {BackendName, SocketEntry} from './types.js';

const setName = (ErrorClass: {prototype: Error}, name: string) => {
  Object.defineProperty(ErrorClass.prototype, 'name', {
    value: name,
    writable: true,
    enumerable: false,
    configurable: true,
  });
};

/**
No backend could answer. `permanent` tells whether retrying can help: a missing `lsof`
binary is permanent, one `lsof` call that timed out is not.
*/
export class ProbeUnavailableError extends Error {
  declare readonly code: string;
  declare readonly permanent: boolean;
  declare readonly backend: BackendName;

  constructor(
    message: string,
    details: {code: string; permanent: boolean; backend: BackendName; cause?: unknown},
  ) {
    super(message, details.cause === undefined ? undefined : {cause: details.cause});
    this.code = details.code;
    this.permanent = details.permanent;
    this.backend = details.backend;
  }
}

setName(ProbeUnavailableError, 'ProbeUnavailableError');

/** The port stayed busy until the deadline. `blockers` are the sockets seen last, with owners. */
export class PortBusyError extends Error {
  declare readonly port: number;
  declare readonly blockers: readonly SocketEntry[];

  constructor(message: string, details: {port: number; blockers: readonly SocketEntry[]}) {
    super(message);
    this.port = details.port;
    this.blockers = details.blockers;
  }
}

setName(PortBusyError, 'PortBusyError');

/** Describes a socket and its holders for error messages: `tcp [::]:8080 LISTEN pid 4711 (node)`. */
export function describeSocket(entry: SocketEntry): string {
  const local =
    entry.family === 6 && entry.localAddress.includes(':')
      ? `[${entry.localAddress}]`
      : entry.localAddress;
  let text = `${entry.protocol} ${local}:${entry.localPort} ${entry.state}`;
  const owner = entry.owner;
  if (owner?.status === 'found') {
    text += ' ' + owner.processes.map((p) => `pid ${p.pid} (${p.name})`).join(', ');
  } else if (owner?.status === 'unknown') {
    text += ` owner unknown (${owner.code}, uid ${entry.uid})`;
  } else if (owner?.status === 'none') {
    text += ' kernel-owned';
  } else if (owner?.status === 'not-visible') {
    text += ` owner not visible (uid ${entry.uid})`;
  }

  return text;
}
