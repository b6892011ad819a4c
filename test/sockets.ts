// Socket helpers shared by the probe tests (not a test file itself).
import net from 'node:net';
import {probePortSync, type SocketEntry} from '../src/index.js';
import {sleep, startListener} from './helpers.js';

/** Polls `check` until it returns a value other than undefined (throws after `ms`). */
export async function until<T>(what: string, check: () => T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) {
      return value;
    }

    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }

    await sleep(10);
  }
}

/** Whether a Node server in this process can listen on host:port right now (bind oracle). */
export async function canListen(host: string, port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        resolve(false);
      } else {
        reject(error);
      }
    });
    server.listen({host, port}, () => server.close(() => resolve(true)));
  });
}

/** The pids of a `found` owner, or undefined for any other owner. */
export const pidsOf = (entry: SocketEntry | undefined): number[] | undefined =>
  entry?.owner?.status === 'found' ? entry.owner.processes.map((p) => p.pid) : undefined;

export const listenEntries = (sockets: readonly SocketEntry[]) =>
  sockets.filter((s) => s.state === 'LISTEN');

/** Connects a client from this process; resolves once the child listener has accepted it. */
export async function connectAccepted(
  port: number,
  host: string,
  listenerPid: number,
): Promise<net.Socket> {
  const client = net.connect({host, port});
  client.on('error', () => {});
  await new Promise((resolve) => client.once('connect', resolve));
  const clientPort = client.localPort!;
  // Accepted (an fd in the listener refers to it), not merely queued: a queued connection
  // is reset when the listener dies, and has no owner.
  await until('the listener to accept', () => {
    const accepted = probePortSync(port).sockets.find(
      (s) => s.state === 'ESTABLISHED' && s.remotePort === clientPort,
    );
    return pidsOf(accepted)?.includes(listenerPid) ? true : undefined;
  });
  return client;
}

/**
Leaves a TIME_WAIT socket on a listener's port: a client in this process connects, the
listener is killed (the kernel closes the accepted socket first, so the server side makes
the active close), then the client closes. The listener is gone afterwards.
*/
export async function timeWaitOnListenerPort(host: string, connectTo: string) {
  const l = await startListener({host});
  const client = await connectAccepted(l.port, connectTo, l.pid);
  const clientPort = client.localPort!;
  const closed = new Promise((resolve) => client.once('close', resolve));
  l.child.kill('SIGKILL');
  await l.exited;
  await closed; // the client saw the FIN and answered with its own (allowHalfOpen: false)
  const entry = await until('TIME_WAIT on the listening port', () =>
    probePortSync(l.port).sockets.find(
      (s) => s.state === 'TIME_WAIT' && s.remotePort === clientPort,
    ),
  );
  return {port: l.port, clientPort, entry};
}
