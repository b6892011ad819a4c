import type {PidFileHolder} from '../types.js';
import type {SocketEntry} from '../types.js';

/**
Why `serve()`, a reload or `requestReload()` failed:
- `'ALREADY_RUNNING'`: another `portwarden serve` holds the PID file of this port (`holder`).
- `'PID_FILE'`: the PID file could not be claimed (`cause`: a PidFileError; its directory
  belongs to another user or is writable by others).
- `'ADDRESS_IN_USE'`: the port is held by another process (`blockers`, with owners).
- `'LISTEN_FAILED'`: the listening socket could not be made (`cause`: EACCES below 1024, ...).
- `'SPAWN_FAILED'`: the command could not be started.
- `'EXITED'`: the new process exited before it sent `READY=1` (`exitCode`, `exitSignal`).
- `'READY_TIMEOUT'`: it sent no `READY=1` within `readyTimeout` (it is stopped).
- `'CLOSED'`: the supervisor was closed while the process started.
- `'ABORTED'`: the AbortSignal fired during the first start.
- `'NOT_RUNNING'`: `requestReload()` found no live supervisor for the port.
- `'TIMEOUT'`: `requestReload()` saw no outcome of the reload before its deadline.
After a failed reload the old process keeps serving.
*/
export type ServeErrorCode =
  | 'ALREADY_RUNNING'
  | 'PID_FILE'
  | 'ADDRESS_IN_USE'
  | 'LISTEN_FAILED'
  | 'SPAWN_FAILED'
  | 'EXITED'
  | 'READY_TIMEOUT'
  | 'CLOSED'
  | 'ABORTED'
  | 'NOT_RUNNING'
  | 'TIMEOUT';

export class ServeError extends Error {
  declare readonly code: ServeErrorCode;
  declare readonly port: number;
  /** The process concerned (the one that failed to start), when there is one. */
  declare readonly pid: number | undefined;
  declare readonly exitCode: number | null | undefined;
  declare readonly exitSignal: NodeJS.Signals | null | undefined;
  declare readonly blockers: readonly SocketEntry[] | undefined;
  declare readonly holder: PidFileHolder | undefined;

  constructor(
    message: string,
    details: {
      code: ServeErrorCode;
      port: number;
      pid?: number;
      exitCode?: number | null;
      exitSignal?: NodeJS.Signals | null;
      blockers?: readonly SocketEntry[];
      holder?: PidFileHolder;
      cause?: unknown;
    },
  ) {
    super(message, details.cause === undefined ? undefined : {cause: details.cause});
    this.code = details.code;
    this.port = details.port;
    this.pid = details.pid;
    this.exitCode = details.exitCode;
    this.exitSignal = details.exitSignal;
    this.blockers = details.blockers;
    this.holder = details.holder;
  }
}

Object.defineProperty(ServeError.prototype, 'name', {
  value: 'ServeError',
  writable: true,
  enumerable: false,
  configurable: true,
});
