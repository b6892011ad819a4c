/*
A D-Bus connection over a unix socket, authenticated with EXTERNAL (the kernel tells the
peer our uid). Made for peer-to-peer sockets such as a systemd manager's private socket:
no bus daemon, no Hello. Method calls are matched to replies by serial; signals go to one
handler. The socket holds the event loop only while a call is waiting for its reply or a
caller waits on `hold()`.
*/
import type {Socket} from 'node:net';
import {builtin} from '../../builtin.js';
import {
  type CallMessage,
  decodeMessage,
  encodeCall,
  type Message,
  MESSAGE,
  messageLength,
} from './wire.js';

/** An error reply to a method call: `name` is the D-Bus error name. */
export class BusCallError extends Error {
  declare readonly busName: string;

  constructor(busName: string, message: string) {
    super(message);
    this.busName = busName;
  }
}

Object.defineProperty(BusCallError.prototype, 'name', {value: 'BusCallError', configurable: true});

export type Call = Omit<CallMessage, 'serial'>;

type Pending = {resolve: (m: Message) => void; reject: (e: Error) => void};

/** How long the peer may take to accept our authentication. */
const AUTH_TIMEOUT_MS = 5000;

/**
The connection was never established (no such socket, refused, authentication refused):
nothing sent on it reached the peer's handlers, so another way may be tried instead.
*/
export class BusUnreachableError extends Error {
  declare readonly code: string | undefined;

  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
  }
}

Object.defineProperty(BusUnreachableError.prototype, 'name', {
  value: 'BusUnreachableError',
  configurable: true,
});

export class BusConnection {
  private readonly socket: Socket;
  private serial = 0;
  private readonly pending = new Map<number, Pending>();
  private chunks: Buffer[] = [];
  private outgoing: Buffer[] = [];
  private holds = 0;
  private authenticated = false;
  private closedBy: Error | undefined;
  private readonly authTimer: NodeJS.Timeout;
  /** Signals for `onSignal`; the others are not decoded beyond their header. */
  wantSignal: (header: Omit<Message, 'body'>) => boolean = () => false;
  onSignal: ((m: Message) => void) | undefined;
  onClose: ((error: Error) => void) | undefined;

  /**
	Connects and authenticates with EXTERNAL. Calls may be made at once: the authentication,
	BEGIN and the first calls go out in one write (the specification lets the client send
	messages right after BEGIN; systemd's sd-bus server reads them in order), so asking
	the peer something costs one round trip. A failure to connect or authenticate rejects
	every call with a BusUnreachableError.
	*/
  constructor(socketPath: string) {
    const socket = builtin.net().createConnection({path: socketPath});
    this.socket = socket;
    const uid = String(process.getuid?.() ?? 0);
    this.send(
      Buffer.from(`\0AUTH EXTERNAL ${Buffer.from(uid, 'ascii').toString('hex')}\r\nBEGIN\r\n`),
    );
    socket.unref();
    socket.on('data', (data: Buffer) => this.receive(data));
    socket.on('error', (error: Error & {code?: string}) =>
      this.shut(
        this.authenticated
          ? error
          : new BusUnreachableError(
              `cannot connect to ${socketPath}: ${error.message}`,
              error.code,
            ),
      ),
    );
    socket.on('close', () =>
      this.shut(
        this.authenticated
          ? new Error('the peer closed the connection')
          : new BusUnreachableError(`${socketPath} closed the connection during authentication`),
      ),
    );
    // Not a BusUnreachableError: a peer that is only slow may still read the calls queued
    // behind the authentication, so trying another way could run a job twice.
    this.authTimer = setTimeout(() => {
      this.shut(
        new Error(`${socketPath} did not answer authentication within ${AUTH_TIMEOUT_MS} ms`),
      );
      socket.destroy();
    }, AUTH_TIMEOUT_MS);
    this.authTimer.unref();
  }

  private receive(data: Buffer): void {
    this.chunks.push(data);
    try {
      for (;;) {
        const head = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
        this.chunks = [head];
        if (!this.authenticated && !this.authenticate(head)) {
          return;
        }

        const current = this.chunks[0];
        if (current === undefined) {
          return;
        }

        const length = messageLength(current);
        if (length === undefined || current.length < length) {
          return;
        }

        const message = decodeMessage(current.subarray(0, length), this.wanted);
        const rest = current.subarray(length);
        this.chunks = rest.length === 0 ? [] : [rest];
        this.dispatch(message);
      }
    } catch (error) {
      this.shut(error as Error);
      this.socket.destroy();
    }
  }

  /** Reads the answer to AUTH from `head`; false while the line is incomplete. */
  private authenticate(head: Buffer): boolean {
    const eol = head.indexOf('\r\n');
    if (eol < 0) {
      if (head.length > 4096) {
        throw new BusUnreachableError('authentication answer too long');
      }

      return false;
    }

    const line = head.toString('latin1', 0, eol);
    if (!line.startsWith('OK ')) {
      throw new BusUnreachableError(
        `authentication refused: ${JSON.stringify(line.slice(0, 200))}`,
      );
    }

    this.authenticated = true;
    clearTimeout(this.authTimer);
    const rest = head.subarray(eol + 2);
    this.chunks = rest.length === 0 ? [] : [rest];
    return true;
  }

  /** Whose body to decode: replies to our calls, and the signals asked for. */
  private readonly wanted = (header: Omit<Message, 'body'>): boolean =>
    header.type === MESSAGE.signal
      ? this.wantSignal(header)
      : header.replySerial !== undefined && this.pending.has(header.replySerial);

  private dispatch(m: Message): void {
    if (m.type === MESSAGE.reply || m.type === MESSAGE.error) {
      const waiter = m.replySerial === undefined ? undefined : this.pending.get(m.replySerial);
      if (waiter === undefined) {
        return;
      }

      this.pending.delete(m.replySerial!);
      this.release();
      if (m.type === MESSAGE.reply) {
        waiter.resolve(m);
      } else {
        const text = typeof m.body[0] === 'string' ? m.body[0] : '';
        waiter.reject(
          new BusCallError(m.errorName ?? '', text === '' ? (m.errorName ?? '') : text),
        );
      }
    } else if (m.type === MESSAGE.signal && this.wantSignal(m)) {
      this.onSignal?.(m);
    }
  }

  private shut(error: Error): void {
    if (this.closedBy !== undefined) {
      return;
    }

    this.closedBy = error;
    clearTimeout(this.authTimer);
    for (const waiter of this.pending.values()) {
      waiter.reject(error);
    }

    this.pending.clear();
    this.holds = 0;
    this.onClose?.(error);
  }

  /** Keeps the event loop alive until the returned function is called (waiting for a signal). */
  hold(): () => void {
    if (this.holds++ === 0) {
      this.socket.ref();
    }

    let done = false;
    return () => {
      if (!done) {
        done = true;
        this.release();
      }
    };
  }

  private release(): void {
    if (this.holds > 0 && --this.holds === 0) {
      this.socket.unref();
    }
  }

  /** Calls a method; resolves with the reply, rejects with a BusCallError or the connection's end. */
  async call(c: Call): Promise<Message> {
    if (this.closedBy !== undefined) {
      throw this.closedBy;
    }

    const serial = ++this.serial;
    const bytes = encodeCall({serial, ...c});
    return new Promise<Message>((resolve, reject) => {
      this.pending.set(serial, {resolve, reject});
      this.hold();
      this.send(bytes);
    });
  }

  /** Bytes written in one tick go out in one write (authentication and the first calls together). */
  private send(bytes: Buffer): void {
    this.outgoing.push(bytes);
    if (this.outgoing.length === 1) {
      queueMicrotask(() => {
        const all = this.outgoing.length === 1 ? this.outgoing[0]! : Buffer.concat(this.outgoing);
        this.outgoing = [];
        if (this.closedBy === undefined) {
          this.socket.write(all);
        }
      });
    }
  }

  get closed(): Error | undefined {
    return this.closedBy;
  }

  close(): void {
    this.shut(new Error('the connection was closed'));
    this.socket.destroy();
  }
}
