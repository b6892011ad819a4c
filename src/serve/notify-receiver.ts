/*
The supervisor's private NOTIFY_SOCKET: a unix datagram socket in a directory only this
user can enter, drained continuously on the threadpool (a sender's blocking sendto would
stall once the kernel queue is full), each datagram with its sender's pid (Linux).
*/
import type {NativeBinding, RawDatagram} from '../native.js';

/** One receive waits at most this long before it is re-armed. */
const SLICE_MS = 10_000;

export type NotifyMessage = {
  /** Sender pid; -1 where the kernel does not tell it (macOS). */
  readonly pid: number;
  /** `KEY=VALUE` assignments of the datagram (`READY`, `STATUS`, `STOPPING`, ...). */
  readonly fields: ReadonlyMap<string, string>;
};

export function parseNotify(datagram: RawDatagram): NotifyMessage {
  const fields = new Map<string, string>();
  for (const line of datagram.message.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) {
      fields.set(line.slice(0, eq), line.slice(eq + 1));
    }
  }

  return {pid: datagram.pid, fields};
}

export class NotifyReceiver {
  private closed = false;
  private readonly fd: number;
  private readonly loop: Promise<void>;

  constructor(
    private readonly b: NativeBinding,
    readonly path: string,
    onMessage: (message: NotifyMessage) => void,
    onError: (error: unknown) => void,
  ) {
    this.fd = b.notifySocketOpen(path);
    this.loop = this.run(onMessage).catch(onError);
  }

  private async run(onMessage: (message: NotifyMessage) => void): Promise<void> {
    while (!this.closed) {
      const datagrams = await this.b.notifySocketReceive(this.fd, SLICE_MS).promise;
      for (const d of datagrams) {
        if (!this.closed) {
          onMessage(parseNotify(d));
        }
      }
    }
  }

  /** Ends the pending receive and closes the socket; resolves once the loop has ended. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.b.notifySocketClose(this.fd);
    }

    await this.loop;
  }
}
