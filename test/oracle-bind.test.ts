// Probe-vs-bind oracle: over generated scenarios (a seeded PRNG), whenever
// `checkPortSync(port, {host, protocol})` says `free`, a Node server can listen (TCP) or
// a dgram socket can bind (UDP) on (port, host ?? '::'); whenever it says `busy`, that
// fails with EADDRINUSE. Scenarios mix TCP listeners on v4/v6/wildcard/loopback/v4-mapped
// addresses (with and without ipv6Only), TIME_WAIT and ESTABLISHED sockets on the port, a
// client bound to the port, bound and connected UDP sockets; the holders are this process,
// a helper child the socket was handed to (as a child that inherited it holds it), a
// `sleep` that inherited it as fd 3, or such a `sleep` SIGKILLed just before the checks.
//
// A disagreement is re-checked: when the verdict and the bind agree on a second try it was
// a race (a SIGKILLed holder's socket closing, or another program taking the port), not a
// wrong rule. Real disagreements fail the test.
import {type ChildProcess, spawn} from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {checkPortSync, type PortStatus} from '../src/index.js';
import {forkFixture, track} from './helpers.js';
import {testPort} from './ports.js';
import {canListen} from './sockets.js';

const SCENARIOS = Number(process.env.ORACLE_SCENARIOS ?? 600);
const SEED = Number(process.env.ORACLE_SEED ?? Math.floor(Math.random() * 2 ** 31));
const HOSTS = [undefined, '127.0.0.1', '0.0.0.0', '::1', '::'] as const;
const PROTOCOLS = ['tcp', 'udp'] as const;

/** mulberry32: a small seeded PRNG, so that a failing run can be replayed with ORACLE_SEED. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d_2b_79_f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };

  return {
    next,
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
  };
}

type Bind = {host: string; ipv6Only?: boolean};
const TCP_BINDS: Bind[] = [
  {host: '127.0.0.1'},
  {host: '127.0.0.2'},
  {host: '0.0.0.0'},
  {host: '::1'},
  {host: '::', ipv6Only: false},
  {host: '::', ipv6Only: true},
  {host: '::ffff:127.0.0.1'},
];
const UDP_BINDS: Bind[] = [
  {host: '127.0.0.1'},
  {host: '0.0.0.0'},
  {host: '::1'},
  {host: '::', ipv6Only: false},
  {host: '::', ipv6Only: true},
];
type Holder = 'self' | 'child' | 'sleep' | 'killed';

/** Where a client reaches a listener bound to `host`. */
const connectHost = (host: string) =>
  host === '0.0.0.0' || host === '::ffff:127.0.0.1' ? '127.0.0.1' : host === '::' ? '::1' : host;
const describeBind = (b: Bind) => `${b.host}${b.ipv6Only ? ' v6only' : ''}`;

/** Runs `bind` (a listen or a bind with a callback): true once bound, false on EADDRINUSE. */
async function bound(
  emitter: net.Server | dgram.Socket,
  bind: (done: () => void) => void,
): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        resolve(false);
      } else {
        reject(error);
      }
    };

    emitter.once('error', onError);
    bind(() => {
      emitter.off('error', onError);
      resolve(true);
    });
  });
}

const listenTcp = async (server: net.Server, port: number, b: Bind) =>
  bound(server, (done) =>
    server.listen({port, host: b.host, ipv6Only: b.ipv6Only ?? false, exclusive: true}, done),
  );

const bindUdp = async (socket: dgram.Socket, port: number, host: string) =>
  bound(socket, (done) => socket.bind({port, address: host, exclusive: true}, done));

const udpSocket = (b: Bind) =>
  dgram.createSocket({
    type: b.host.includes(':') ? 'udp6' : 'udp4',
    ipv6Only: b.ipv6Only ?? false,
  });

/** The oracle: can a Node server listen (TCP) / a dgram socket bind (UDP) there right now? */
async function canBind(protocol: 'tcp' | 'udp', port: number, host: string): Promise<boolean> {
  if (protocol === 'tcp') {
    return canListen(host, port);
  }

  const socket = udpSocket({host});
  const ok = await bindUdp(socket, port, host);
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return ok;
}

class Helper {
  private nextId = 0;
  private readonly pending = new Map<number, () => void>();
  private constructor(readonly child: ChildProcess) {
    child.on('message', (m: {ok?: number}) => {
      if (m.ok !== undefined) {
        this.pending.get(m.ok)?.();
        this.pending.delete(m.ok);
      }
    });
  }

  static async start(): Promise<Helper> {
    const child = forkFixture('holder.mjs', []);
    track(child.pid);
    await new Promise((resolve) => child.once('message', resolve));
    return new Helper(child);
  }

  async request(op: 'hold' | 'release', handle?: net.Server | dgram.Socket): Promise<void> {
    const id = this.nextId++;
    const done = new Promise<void>((resolve) => this.pending.set(id, resolve));
    this.child.send({op, id}, handle as net.Server | undefined);
    await done;
  }
}

type Scenario = {
  description: string[];
  closers: Array<() => Promise<void> | void>;
  /** `sleep` holders to SIGKILL just before the checks. */
  toKill: ChildProcess[];
};

type Disagreement = {
  scenario: string;
  port: number;
  protocol: 'tcp' | 'udp';
  host: string | undefined;
  verdict: PortStatus['status'];
  bind: boolean;
  blockers?: unknown;
};

// Linux bind semantics (inet_csk_bind_conflict in net/ipv4/inet_connection_sock.c; BSD's differ).
describe.runIf(process.platform === 'linux')('probe vs bind oracle', () => {
  let helpers: Helper[] = [];
  const sleeps = new Set<ChildProcess>();

  beforeAll(async () => {
    helpers = await Promise.all([Helper.start(), Helper.start()]);
  });
  afterAll(() => {
    for (const h of helpers) {
      h.child.kill('SIGKILL');
    }

    for (const s of sleeps) {
      s.kill('SIGKILL');
    }
  });

  /** Makes `server` (already listening/bound) be held as `holder` says. */
  async function hold(
    s: Scenario,
    holder: Holder,
    handle: net.Server | dgram.Socket,
    close: () => Promise<void>,
    rng: ReturnType<typeof prng>,
  ) {
    if (holder === 'self') {
      s.closers.push(close);
      return;
    }

    if (holder === 'child') {
      const helper = rng.pick(helpers);
      await helper.request('hold', handle);
      await close();
      return;
    }

    // A `sleep` that inherited the socket as fd 3; SIGKILLed just before the checks.
    const fd = (handle as unknown as {_handle: {fd: number}})._handle.fd;
    const sleeper = spawn('sleep', ['30'], {stdio: ['ignore', 'ignore', 'ignore', fd]});
    track(sleeper.pid);
    sleeps.add(sleeper);
    await new Promise((resolve) => sleeper.once('spawn', resolve));
    await close();
    if (holder === 'killed') {
      s.toKill.push(sleeper);
    } else {
      s.closers.push(() => {
        sleeper.kill('SIGKILL');
        sleeps.delete(sleeper);
      });
    }
  }

  const holderOf = (rng: ReturnType<typeof prng>): Holder =>
    rng.pick<Holder>(['self', 'self', 'self', 'child', 'sleep', 'killed']);

  async function build(port: number, rng: ReturnType<typeof prng>): Promise<Scenario> {
    const s: Scenario = {description: [], closers: [], toKill: []};

    // TIME_WAIT on the port: the server side closes first.
    if (rng.chance(0.3)) {
      const b = rng.pick(TCP_BINDS);
      const server = net.createServer((c) => c.destroy());
      if (await listenTcp(server, port, b)) {
        const client = net.connect({port, host: connectHost(b.host)});
        client.on('error', () => {});
        await new Promise((resolve) => client.once('close', resolve));
        await new Promise((resolve) => server.close(resolve));
        s.description.push(`TIME_WAIT ${describeBind(b)}`);
      }
    }

    // ESTABLISHED on the port (accepted, listener closed), and a client bound to the port.
    if (rng.chance(0.3)) {
      const b = rng.pick(TCP_BINDS);
      const accepted: net.Socket[] = [];
      const server = net.createServer((c) => {
        c.on('error', () => {});
        accepted.push(c);
      });
      if (await listenTcp(server, port, b)) {
        const client = net.connect({port, host: connectHost(b.host)});
        client.on('error', () => {});
        await new Promise((resolve) => client.once('connect', resolve));
        while (accepted.length === 0) {
          await new Promise((resolve) => setTimeout(resolve, 1));
        }

        server.close();
        s.closers.push(() => {
          client.destroy();
          for (const c of accepted) {
            c.destroy();
          }
        });
        s.description.push(`ESTABLISHED ${describeBind(b)}`);
      }
    }

    if (rng.chance(0.15)) {
      // A client whose local port is the port, connected elsewhere.
      const target = net.createServer((c) => c.on('error', () => {}));
      await listenTcp(target, 0, {host: '127.0.0.1'});
      const client = net.connect({
        port: (target.address() as net.AddressInfo).port,
        host: '127.0.0.1',
        localAddress: '127.0.0.1',
        localPort: port,
      });
      const ok = await new Promise<boolean>((resolve) => {
        client.once('connect', () => resolve(true));
        client.once('error', () => resolve(false));
      });
      s.closers.push(() => {
        client.destroy();
        target.close();
      });
      if (ok) {
        s.description.push('client from 127.0.0.1:port');
      }
    }

    // UDP sockets, some connected.
    for (let i = rng.int(0, 2); i > 0; i--) {
      const b = rng.pick(UDP_BINDS);
      const socket = udpSocket(b);
      socket.on('error', () => {});
      if (!(await bindUdp(socket, port, b.host))) {
        socket.close();
        continue;
      }

      let connected = '';
      if (rng.chance(0.3)) {
        await new Promise<void>((resolve) =>
          socket.connect(9, connectHost(b.host === '::' && !b.ipv6Only ? '::' : b.host), () =>
            resolve(),
          ),
        );
        connected = ' connected';
      }

      // No `sleep` holders for UDP: a dgram socket's descriptor is not public.
      const holder = connected ? 'self' : rng.pick<Holder>(['self', 'self', 'child']);
      await hold(
        s,
        holder,
        socket,
        async () => new Promise<void>((resolve) => socket.close(() => resolve())),
        rng,
      );
      s.description.push(`udp ${describeBind(b)}${connected} (${holder})`);
    }

    // TCP listeners.
    for (let i = rng.int(0, 3); i > 0; i--) {
      const b = rng.pick(TCP_BINDS);
      const server = net.createServer((c) => c.on('error', () => {}));
      if (!(await listenTcp(server, port, b))) {
        continue;
      }

      const holder = holderOf(rng);
      await hold(
        s,
        holder,
        server,
        async () => new Promise<void>((resolve) => server.close(() => resolve())),
        rng,
      );
      s.description.push(`listen ${describeBind(b)} (${holder})`);
    }

    return s;
  }

  it(`${SCENARIOS} scenarios × 5 hosts × tcp/udp: free ⇔ bind succeeds, busy ⇔ EADDRINUSE (seed ${SEED})`, async () => {
    const rng = prng(SEED);
    const disagreements: Disagreement[] = [];
    let checks = 0;
    let races = 0;
    let conservative = 0;
    const kinds = new Map<string, number>();
    const verdicts = {free: 0, busy: 0, unknown: 0};
    for (let n = 0; n < SCENARIOS; n++) {
      const port = testPort();
      const s = await build(port, rng);
      const scenario = s.description.join(', ') || '(nothing)';
      for (const part of s.description) {
        const kind = part.replace(/ .*?(\(|$)/, ' $1').replace(/ +$/, '');
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      }

      for (const sleeper of s.toKill) {
        sleeper.kill('SIGKILL'); // mid-exit: checked at once
        sleeps.delete(sleeper);
      }

      for (const protocol of PROTOCOLS) {
        for (const host of HOSTS) {
          const status = checkPortSync(port, {host, protocol});
          const bind = await canBind(protocol, port, host ?? '::');
          checks++;
          verdicts[status.status]++;
          if ((status.status === 'free') === bind && status.status !== 'unknown') {
            continue;
          }

          // Re-check: a socket that went away (or appeared) in between is a race.
          let settled = false;
          for (let retry = 0; retry < 5 && !settled; retry++) {
            await new Promise((resolve) => setTimeout(resolve, 20));
            const again = checkPortSync(port, {host, protocol});
            const bindAgain = await canBind(protocol, port, host ?? '::');
            settled = (again.status === 'free') === bindAgain && again.status !== 'unknown';
          }

          if (settled && (s.toKill.length > 0 || status.status === 'free')) {
            races++;
            continue;
          }

          // The one known conservative answer: the kernel does not report V6ONLY for
          // connected UDP sockets, and one bound to `::` (not V6ONLY) blocks an IPv4 wildcard
          // bind, so every such socket counts as dual-stack for 0.0.0.0.
          if (
            status.status === 'busy' &&
            bind &&
            host === '0.0.0.0' &&
            status.blockers.every(
              (b) => b.protocol === 'udp' && b.family === 6 && b.v6only === undefined,
            )
          ) {
            conservative++;
            continue;
          }

          disagreements.push({
            scenario,
            port,
            protocol,
            host,
            verdict: status.status,
            bind,
            blockers: status.status === 'busy' ? status.blockers : status,
          });
        }
      }

      for (const close of s.closers) {
        await close();
      }

      await Promise.all(helpers.map(async (h) => h.request('release')));
    }

    console.log(
      `[oracle] seed ${SEED}: ${SCENARIOS} scenarios, ${checks} checks (${verdicts.free} free, ${verdicts.busy} busy, ${verdicts.unknown} unknown), ${races} races re-checked, ${conservative} conservative busy (connected UDPv6 vs 0.0.0.0), ${disagreements.length} disagreements`,
    );
    console.log(`[oracle] sockets created: ${JSON.stringify(Object.fromEntries(kinds))}`);
    for (const d of disagreements) {
      console.log(`[oracle] disagreement: ${JSON.stringify(d)}`);
    }

    expect(checks).toBeGreaterThanOrEqual(Math.min(2000, SCENARIOS * 10));
    expect(disagreements, JSON.stringify(disagreements.slice(0, 10), null, 2)).toEqual([]);
  }, 600_000);
});
