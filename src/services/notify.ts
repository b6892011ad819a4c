import {requireNative} from '../native.js';
import {ArgumentTypeError, show} from '../validate.js';

/**
Tells systemd that the service is ready (`Type=notify`): sends `READY=1` (and
`STATUS=<status>`) as one datagram to the unix socket in `$NOTIFY_SOCKET` (a leading `@`
names the abstract namespace). Call it from the `server.listen` callback: with
`Type=notify`, `systemctl start/restart` returns only then. The default
`NotifyAccess=main` accepts it only from the unit's main process.

Returns `false` (and sends nothing) when `$NOTIFY_SOCKET` is unset — not running under
systemd, or on macOS — and `true` once sent. Throws a node-style error (`code`, `errno`,
`syscall: 'sendto'`) when the socket refuses the datagram.
*/
export function notifyReady(status?: string): boolean {
  if (status !== undefined && (typeof status !== 'string' || /[\n\0]/.test(status))) {
    throw new ArgumentTypeError(
      `Expected status to be a string without line breaks or NUL, got ${show(status)}`,
    );
  }

  const socket = process.env.NOTIFY_SOCKET;
  if (socket === undefined || socket === '') {
    return false;
  }

  const message = status === undefined ? 'READY=1' : `READY=1\nSTATUS=${status}`;
  requireNative('notifyReady').notify(socket, message);
  return true;
}
