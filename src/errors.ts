import type {
  BackendName,
  PidFileHolder,
  ServiceManager,
  ServiceStep,
  SocketEntry,
  TerminateResult,
} from './types.js';
import {show} from './validate.js';

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

/**
The port did not start listening (by the expected process) before the deadline, or that
process exited first. `seen` lists the listening sockets seen last, with owners when known.
*/
export class NotListeningError extends Error {
  declare readonly port: number;
  declare readonly pid: number | undefined;
  declare readonly reason: 'timeout' | 'exited';
  declare readonly seen: readonly SocketEntry[];

  constructor(
    message: string,
    details: {
      port: number;
      pid: number | undefined;
      reason: 'timeout' | 'exited';
      seen: readonly SocketEntry[];
    },
  ) {
    super(message);
    this.port = details.port;
    this.pid = details.pid;
    this.reason = details.reason;
    this.seen = details.seen;
  }
}

setName(NotListeningError, 'NotListeningError');

/**
Why one target of `terminate()` could not be stopped: `'EPERM'` (the kernel refused the
signal), `'ETIMEDOUT'` (still running at the deadline), `'ERR_PROTECTED_PROCESS'` (pid 1,
this process or one of its ancestors), `'ERR_OTHER_USER'` (another user's process without
`allowOtherUsers`), or another errno code the kernel answered with (`'ESRCH'` races are not
errors: such a target is reported `gone`).
*/
export type TerminateErrorCode =
  'EPERM' | 'ETIMEDOUT' | 'ERR_PROTECTED_PROCESS' | 'ERR_OTHER_USER' | (string & {});

/** One target of `terminate()` could not be stopped; see `TerminateAggregateError`. */
export class TerminateError extends Error {
  declare readonly code: TerminateErrorCode;
  declare readonly pid: number;
  declare readonly command: string | null;

  constructor(
    message: string,
    details: {code: TerminateErrorCode; pid: number; command: string | null; cause?: unknown},
  ) {
    super(message, details.cause === undefined ? undefined : {cause: details.cause});
    this.code = details.code;
    this.pid = details.pid;
    this.command = details.command;
  }
}

setName(TerminateError, 'TerminateError');

/**
What `terminate()` and `freePort()` reject with when some targets could not be stopped:
`errors` holds one `TerminateError` each, `results` what did go well for the others.
*/
export class TerminateAggregateError extends AggregateError {
  declare readonly errors: TerminateError[];
  declare readonly results: readonly TerminateResult[];

  constructor(errors: TerminateError[], message: string, results: readonly TerminateResult[]) {
    super(errors, message);
    this.results = results;
  }
}

setName(TerminateAggregateError, 'TerminateAggregateError');

/**
Another live process holds the PID file: its lock (`holder.locked: true`), or, for a daemon
that writes its pid without locking, an unlocked file naming it (`holder.locked: false`,
never taken over without `force`). `holder` is what the file says; `pid` is `undefined` when
a locked file names no pid (a locked file is alive whatever it contains).
*/
export class AlreadyRunningError extends Error {
  declare readonly code: 'EEXIST';
  declare readonly path: string;
  declare readonly holder: PidFileHolder;

  constructor(message: string, details: {path: string; holder: PidFileHolder}) {
    super(message);
    this.code = 'EEXIST';
    this.path = details.path;
    this.holder = details.holder;
  }
}

setName(AlreadyRunningError, 'AlreadyRunningError');

/**
A PID file (or stopping sentinel) could not be claimed or read. `code`, `errno` and
`syscall` are those of the failing system call, as in node's `fs` errors: `ENOENT` (missing
directory), `ENOTDIR`, `EISDIR`, `ELOOP` (a symlink: refused), `EACCES`, `ENAMETOOLONG`,
`EAGAIN` (locked but still being written), `EBADMSG` (an unlocked file that is not empty but
names no pid: left untouched without `force`), `ENOLCK`/`EOPNOTSUPP` (no flock on that
filesystem).
*/
export class PidFileError extends Error {
  declare readonly code: string;
  declare readonly errno: number | undefined;
  declare readonly syscall: string | undefined;
  declare readonly path: string;

  constructor(
    message: string,
    details: {path: string; code: string; errno?: number; syscall?: string; cause?: unknown},
  ) {
    super(message, details.cause === undefined ? undefined : {cause: details.cause});
    this.code = details.code;
    this.errno = details.errno;
    this.syscall = details.syscall;
    this.path = details.path;
  }
}

setName(PidFileError, 'PidFileError');

const NO_FLOCK =
  'the filesystem does not support flock (NFS, some FUSE or network filesystems); use a local filesystem such as $XDG_RUNTIME_DIR or /run';

/** What each errno code means for a PID file (or a file beside one). */
const PID_FILE_HINTS: Record<string, string> = {
  ENOENT: 'its directory does not exist',
  ENOTDIR: 'a component of the path is not a directory',
  EISDIR: 'the path is a directory',
  ELOOP: 'the path is a symbolic link (refused; its target is left untouched)',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the filesystem is read-only',
  ENAMETOOLONG: 'the path is too long',
  EAGAIN: 'another process holds it but has not written it yet; retry shortly',
  EBADMSG:
    'not a PID file this package can read: not empty, yet it names no pid; left untouched; pass force: true to take it over',
  ENOLCK: NO_FLOCK,
  EOPNOTSUPP: NO_FLOCK,
  ENOTSUP: NO_FLOCK,
};

/**
Turns a node-style errno error from the addon (or node's fs) into a PidFileError "Cannot
`what` `file`: CODE (hint)"; anything without a string `code` (a bug) is rethrown as it is.
*/
export function pidFileError(error: unknown, file: string, what: string): PidFileError {
  const e = error as {code?: unknown; errno?: unknown; syscall?: unknown; message?: unknown};
  if (typeof e?.code !== 'string') {
    throw error;
  }

  const syscall = typeof e.syscall === 'string' ? e.syscall : undefined;
  let hint = PID_FILE_HINTS[e.code] ?? String(e.message);
  if (e.code === 'EINVAL') {
    hint =
      syscall === 'flock'
        ? NO_FLOCK
        : syscall === 'open'
          ? 'the path is not a regular file'
          : String(e.message);
  }

  return new PidFileError(`Cannot ${what} ${show(file)}: ${e.code} (${hint})`, {
    path: file,
    code: e.code,
    errno: typeof e.errno === 'number' ? e.errno : undefined,
    syscall,
    cause: error,
  });
}

/**
Why a service operation failed:
- `'NOT_INSTALLED'`: systemctl, launchctl or a command's program is not on PATH (spawn ENOENT).
- `'NOT_FOUND'`: the unit or label is unknown to the manager.
- `'COMMAND_FAILED'`: systemctl, launchctl or a stop/start command failed or timed out.
- `'UNIT_FAILED'`: the unit entered `failed`. `'CRASH_LOOP'`: it is being restarted
  automatically (`activating`/`auto-restart`, rising NRestarts, a KeepAlive respawn).
- `'START_LIMIT'`: systemd refuses further starts (`Result=start-limit-hit`).
- `'EXITED'`: the new process exited before it listened.
- `'NOT_LISTENING'`: nothing of the service listened on the port before the deadline.
- `'PORT_BUSY'`: the port was not proven free (a start was refused, or stop left holders).
- `'STRAYS'`: after a systemd stop, processes outside the unit still hold the port.
- `'NOT_UNLOADED'`: a launchd label stayed registered past the deadline.
- `'BOOTSTRAP_FAILED'`: launchctl bootstrap kept failing.
- `'PROBE_UNAVAILABLE'`: the port could not be probed. `'ABORTED'`: the AbortSignal fired.
*/
export type ServiceErrorCode =
  | 'NOT_INSTALLED'
  | 'NOT_FOUND'
  | 'COMMAND_FAILED'
  | 'UNIT_FAILED'
  | 'CRASH_LOOP'
  | 'START_LIMIT'
  | 'EXITED'
  | 'NOT_LISTENING'
  | 'PORT_BUSY'
  | 'STRAYS'
  | 'NOT_UNLOADED'
  | 'BOOTSTRAP_FAILED'
  | 'PROBE_UNAVAILABLE'
  | 'ABORTED';

/**
A restart, stop or start did not reach its end state. `steps` is the trail of what was
done up to the failure (the step that failed has `failed: true`); `blockers` are the
sockets that kept the port busy, when that was the problem.
*/
export class ServiceError extends Error {
  declare readonly code: ServiceErrorCode;
  declare readonly manager: ServiceManager;
  declare readonly steps: readonly ServiceStep[];
  declare readonly blockers: readonly SocketEntry[] | undefined;

  constructor(
    message: string,
    details: {
      code: ServiceErrorCode;
      manager: ServiceManager;
      steps: readonly ServiceStep[];
      blockers?: readonly SocketEntry[];
      cause?: unknown;
    },
  ) {
    super(message, details.cause === undefined ? undefined : {cause: details.cause});
    this.code = details.code;
    this.manager = details.manager;
    this.steps = details.steps;
    this.blockers = details.blockers;
  }
}

setName(ServiceError, 'ServiceError');

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
