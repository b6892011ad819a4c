import net from 'node:net';
import {describe, expect, it} from 'vitest';
import {
  checkPort,
  checkPortSync,
  type PortStatus,
  probePort,
  probePortSync,
  type SocketEntry,
} from '../src/index.js';
import {distEntry, type Listener, runAsNobody, startListener} from './helpers.js';
import {testPort} from './ports.js';
import {canListen, listenEntries, pidsOf, timeWaitOnListenerPort, until} from './sockets.js';

type Case = {
  name: string;
  host: string;
  ipv6Only?: boolean;
  family: 4 | 6;
  v6only: boolean | undefined;
  /** Hosts that a listen would conflict with; the other hosts in HOSTS are free. */
  blocks: string[];
};

const HOSTS = ['127.0.0.1', '127.0.0.2', '0.0.0.0', '::1', '::'];

const cases: Case[] = [
  {
    name: '127.0.0.1',
    host: '127.0.0.1',
    family: 4,
    v6only: undefined,
    blocks: ['127.0.0.1', '0.0.0.0', '::'],
  },
  {
    name: '0.0.0.0',
    host: '0.0.0.0',
    family: 4,
    v6only: undefined,
    blocks: ['127.0.0.1', '127.0.0.2', '0.0.0.0', '::'],
  },
  // The kernel sets V6ONLY on a socket bound to a specific (non-mapped) IPv6 address.
  {name: '::1', host: '::1', family: 6, v6only: true, blocks: ['::1', '::']},
  {name: ':: dual-stack', host: '::', family: 6, v6only: false, blocks: HOSTS},
  {name: ':: ipv6Only', host: '::', ipv6Only: true, family: 6, v6only: true, blocks: ['::1', '::']},
];

describe.each(cases)('a TCP listener on $name', (c) => {
  const start = async () => startListener({host: c.host, ipv6Only: c.ipv6Only ?? false});

  const expectListener = (sockets: readonly SocketEntry[], l: Listener) => {
    const listen = listenEntries(sockets);
    expect(listen).toHaveLength(1);
    const entry = listen[0]!;
    expect(entry).toMatchObject({
      protocol: 'tcp',
      family: c.family,
      state: 'LISTEN',
      localAddress: c.host,
      localPort: l.port,
      remotePort: 0,
      uid: 0,
    });
    expect(entry.v6only).toBe(c.v6only);
    expect(entry.inode).toBeGreaterThan(0);
    expect(entry.owner?.status).toBe('found');
    const owner = entry.owner as Extract<SocketEntry['owner'], {status: 'found'}>;
    expect(owner.processes).toHaveLength(1);
    expect(owner.processes[0]).toMatchObject({
      pid: l.pid,
      ppid: process.pid,
      uid: 0,
      name: 'node',
    });
    expect(owner.processes[0]!.command).toContain('listener.mjs');
    expect(owner.processes[0]!.startTime).toBeGreaterThan(0);
    expect(owner.processes[0]!.bootId).toMatch(/^[\da-f-]{36}$/);
  };

  it('probePortSync and probePort find it with the pid, family, address and v6only', async () => {
    const l = await start();
    const sync = probePortSync(l.port);
    expect(sync).toMatchObject({port: l.port, protocol: 'tcp', backend: 'native'});
    expect(sync.elapsedMs).toBeGreaterThanOrEqual(0);
    expectListener(sync.sockets, l);
    expectListener((await probePort(l.port)).sockets, l);
    expectListener(probePortSync(l.port, {states: 'listen'}).sockets, l);
    expectListener((await probePort(l.port, {states: 'listen'})).sockets, l);
  });

  it('without owners: the same socket, no owner property', async () => {
    const l = await start();
    const [entry] = probePortSync(l.port, {owners: false}).sockets;
    expect(entry).toMatchObject({state: 'LISTEN', localAddress: c.host, localPort: l.port});
    expect(entry).not.toHaveProperty('owner');
  });

  it('checkPortSync / checkPort follow the overlap rules, confirmed by real binds', async () => {
    const l = await start();
    const expectBusy = (status: PortStatus, host: string | undefined) => {
      expect(status.status, `host ${String(host)}`).toBe('busy');
      if (status.status === 'busy') {
        expect(status.backend).toBe('native');
        expect(status.blockers).toHaveLength(1);
        expect(status.blockers[0]).toMatchObject({state: 'LISTEN', localAddress: c.host});
      }
    };

    // No host: any address, so the listener blocks whatever its address is.
    expectBusy(checkPortSync(l.port), undefined);
    expectBusy(await checkPort(l.port), undefined);
    for (const host of HOSTS) {
      const blocked = c.blocks.includes(host);
      const sync = checkPortSync(l.port, {host});
      const async_ = await checkPort(l.port, {host});
      if (blocked) {
        expectBusy(sync, host);
        expectBusy(async_, host);
      } else {
        expect(sync, `host ${host}`).toEqual({status: 'free', backend: 'native'});
        expect(async_, `host ${host}`).toEqual({status: 'free', backend: 'native'});
      }

      // The kernel agrees: a listen on that host fails exactly when we say busy.
      expect(await canListen(host, l.port), `listen on ${host}`).toBe(!blocked);
    }

    // UDP on the same port number is another table.
    expect(checkPortSync(l.port, {protocol: 'udp'}).status).toBe('free');
  });

  it('is free again once the listener exited', async () => {
    const l = await start();
    l.child.kill('SIGTERM');
    await l.exited;
    expect(checkPortSync(l.port)).toEqual({status: 'free', backend: 'native'});
    expect(await checkPort(l.port)).toEqual({status: 'free', backend: 'native'});
    expect(listenEntries(probePortSync(l.port).sockets)).toEqual([]);
  });
});

describe('a listening socket shared with a forked grandchild', () => {
  it('reports every holder, and the grandchild alone once the parent is gone', async () => {
    const l = await startListener({host: '127.0.0.1', forkHolder: true});
    const holder = l.holderPid!;
    expect(holder).toBeGreaterThan(0);
    const [entry] = listenEntries(probePortSync(l.port).sockets);
    expect(pidsOf(entry)).toEqual([l.pid, holder].sort((a, b) => a - b));
    const [asyncEntry] = listenEntries((await probePort(l.port)).sockets);
    expect(pidsOf(asyncEntry)).toEqual([l.pid, holder].sort((a, b) => a - b));
    const processes = (entry!.owner as Extract<SocketEntry['owner'], {status: 'found'}>).processes;
    expect(processes.find((p) => p.pid === holder)!.ppid).toBe(l.pid);

    l.child.kill('SIGKILL');
    await l.exited;
    const after = await until('the parent to leave the owner list', () => {
      const [e] = listenEntries(probePortSync(l.port).sockets);
      return pidsOf(e)?.length === 1 ? e : undefined;
    });
    expect(pidsOf(after)).toEqual([holder]);
    expect(checkPortSync(l.port).status).toBe('busy');
    process.kill(holder, 'SIGKILL');
    await until('the grandchild to exit', () =>
      checkPortSync(l.port).status === 'free' ? true : undefined,
    );
  });

  it('candidates: the owner is found from the candidate pid', async () => {
    const l = await startListener({host: '127.0.0.1', forkHolder: true});
    const holder = l.holderPid!;
    for (const candidates of [[l.pid], [holder], [holder, l.pid]]) {
      const [entry] = listenEntries(probePortSync(l.port, {candidates}).sockets);
      const pids = pidsOf(entry)!;
      // The scan may stop once the socket has a holder, but every pid it names holds it.
      expect(pids.length).toBeGreaterThan(0);
      expect(pids).toContain(candidates[0]);
      for (const pid of pids) {
        expect([l.pid, holder]).toContain(pid);
      }

      const [asyncEntry] = listenEntries((await probePort(l.port, {candidates})).sockets);
      expect(pidsOf(asyncEntry)).toContain(candidates[0]);
    }
  });

  it('candidates that do not hold the socket still lead to its owner', async () => {
    const l = await startListener({host: '127.0.0.1'});
    for (const candidates of [[process.pid], [2_147_483_647], [1, process.pid]]) {
      const [entry] = listenEntries(probePortSync(l.port, {candidates}).sockets);
      expect(pidsOf(entry)).toEqual([l.pid]);
      const [asyncEntry] = listenEntries((await probePort(l.port, {candidates})).sockets);
      expect(pidsOf(asyncEntry)).toEqual([l.pid]);
    }
  });
});

describe.each([
  {name: 'an IPv4 listener', host: '127.0.0.1', family: 4},
  {name: 'a dual-stack listener reached over IPv4', host: '::', family: 6},
])('TIME_WAIT left on the port of $name', ({host, family}) => {
  it('is kernel-owned, free by default, busy with states: all, and Node can listen next to it', async () => {
    const {port, clientPort, entry} = await timeWaitOnListenerPort(host, '127.0.0.1');
    expect(entry).toEqual({
      protocol: 'tcp',
      family,
      state: 'TIME_WAIT',
      localAddress: '127.0.0.1', // v4-mapped addresses of a dual-stack socket are normalised
      localPort: port,
      remoteAddress: '127.0.0.1',
      remotePort: clientPort,
      uid: 0,
      inode: 0,
      owner: {status: 'none'},
    });
    const [asyncEntry] = (await probePort(port)).sockets.filter((s) => s.state === 'TIME_WAIT');
    expect(asyncEntry).toMatchObject({inode: 0, owner: {status: 'none'}});
    // Only sockets: no LISTEN left, and `states: 'listen'` does not see the TIME_WAIT.
    expect(listenEntries(probePortSync(port).sockets)).toEqual([]);
    expect(probePortSync(port, {states: 'listen'}).sockets).toEqual([]);

    expect(checkPortSync(port)).toEqual({status: 'free', backend: 'native'});
    expect(await checkPort(port)).toEqual({status: 'free', backend: 'native'});
    expect(checkPortSync(port, {host: '127.0.0.1'}).status).toBe('free');
    for (const status of [
      checkPortSync(port, {states: 'all'}),
      await checkPort(port, {states: 'all'}),
      checkPortSync(port, {states: 'all', host: '0.0.0.0'}),
    ]) {
      expect(status.status).toBe('busy');
      // Ours among them: other test files running meanwhile may leave a TIME_WAIT of their
      // own on this port (a client that got it as its ephemeral port once the listener died).
      const blockers = status.status === 'busy' ? status.blockers : [];
      expect(blockers.map((b) => b.state)).toEqual(blockers.map(() => 'TIME_WAIT'));
      const {owner: _, ...socket} = entry;
      expect(blockers.filter((b) => b.remotePort === clientPort)).toEqual([socket]);
    }

    // Proof that "free" is right: a Node server really listens on the port now.
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({host: '127.0.0.1', port}, resolve);
    });
    try {
      const sockets = probePortSync(port).sockets;
      expect(sockets.map((s) => s.state).sort()).toEqual(['LISTEN', 'TIME_WAIT']);
      expect(pidsOf(listenEntries(sockets)[0])).toEqual([process.pid]);
      expect(checkPortSync(port).status).toBe('busy');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe.each([
  {name: 'udp4 on 127.0.0.1', host: '127.0.0.1', family: 4, v6only: undefined},
  {name: 'udp4 on 0.0.0.0', host: '0.0.0.0', family: 4, v6only: undefined},
  {name: 'udp6 on ::1', host: '::1', family: 6, v6only: true},
  {name: 'udp6 on ::', host: '::', family: 6, v6only: false},
])('a bound UDP socket ($name)', ({host, family, v6only}) => {
  it("is found with protocol 'udp' in state UNCONN, and makes the UDP port busy", async () => {
    const l = await startListener({kind: 'udp', host});
    for (const report of [
      probePortSync(l.port, {protocol: 'udp'}),
      await probePort(l.port, {protocol: 'udp'}),
      probePortSync(l.port, {protocol: 'udp', states: 'listen'}), // UDP: every bound socket
    ]) {
      expect(report).toMatchObject({protocol: 'udp', backend: 'native'});
      expect(report.sockets).toHaveLength(1);
      const entry = report.sockets[0]!;
      expect(entry).toMatchObject({
        protocol: 'udp',
        family,
        state: 'UNCONN',
        localAddress: host,
        localPort: l.port,
        remotePort: 0,
      });
      expect(entry.v6only).toBe(v6only);
      expect(entry.inode).toBeGreaterThan(0);
      expect(pidsOf(entry)).toEqual([l.pid]);
    }

    expect(checkPortSync(l.port, {protocol: 'udp'}).status).toBe('busy');
    expect((await checkPort(l.port, {protocol: 'udp'})).status).toBe('busy');
    expect(checkPortSync(l.port, {protocol: 'udp', host}).status).toBe('busy');
    // TCP on the same number is free, and TCP probes do not list the UDP socket.
    expect(checkPortSync(l.port).status).toBe('free');
    expect(probePortSync(l.port).sockets).toEqual([]);
  });
});

describe('a connected UDP socket', () => {
  it('is ESTABLISHED and still counts as busy', async () => {
    const dgram = await import('node:dgram');
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(testPort(), '127.0.0.1', resolve));
    await new Promise<void>((resolve) => socket.connect(9, '127.0.0.1', resolve));
    try {
      const port = socket.address().port;
      const [entry] = probePortSync(port, {protocol: 'udp'}).sockets;
      expect(entry).toMatchObject({state: 'ESTABLISHED', remotePort: 9, localPort: port});
      expect(pidsOf(entry)).toEqual([process.pid]);
      expect(checkPortSync(port, {protocol: 'udp'}).status).toBe('busy');
    } finally {
      socket.close();
    }
  });
});

describe('sockets of another user', () => {
  it('a root listener probed by uid 65534: reported with owner unknown (EACCES), never free', async () => {
    const l = await startListener({host: '127.0.0.1'});
    const result = (await runAsNobody(`
      const pw = await import(${JSON.stringify(distEntry)});
      const port = ${l.port};
      console.log(JSON.stringify({
        uid: process.getuid(),
        sync: pw.probePortSync(port),
        async: await pw.probePort(port),
        checkSync: pw.checkPortSync(port),
        check: await pw.checkPort(port),
        checkHost: pw.checkPortSync(port, {host: '127.0.0.1'}),
        info: pw.processInfo(${l.pid}),
      }));
    `)) as Record<string, any>;
    expect(result.uid).toBe(65_534);
    for (const report of [result.sync, result.async]) {
      expect(report.backend).toBe('native');
      expect(report.sockets).toHaveLength(1);
      expect(report.sockets[0]).toMatchObject({
        state: 'LISTEN',
        localAddress: '127.0.0.1',
        localPort: l.port,
        uid: 0,
        owner: {status: 'unknown', code: 'EACCES'},
      });
      expect(report.sockets[0].inode).toBeGreaterThan(0);
    }

    for (const status of [result.checkSync, result.check, result.checkHost]) {
      expect(status.status).toBe('busy');
      expect(status.blockers[0].owner).toBeUndefined(); // checks do not scan /proc
    }

    // /proc/PID/stat stays readable: identity works across users.
    expect(result.info).toMatchObject({pid: l.pid, uid: 0, name: 'node'});
  });

  it('a listener run as uid 65534 is found by root and by uid 65534 itself', async () => {
    const l = await startListener({host: '127.0.0.1', uid: 65_534});
    const [entry] = listenEntries(probePortSync(l.port).sockets);
    expect(entry).toMatchObject({uid: 65_534});
    expect(pidsOf(entry)).toEqual([l.pid]);
    expect(
      (entry!.owner as Extract<SocketEntry['owner'], {status: 'found'}>).processes[0]!.uid,
    ).toBe(65_534);

    const result = (await runAsNobody(`
      const pw = await import(${JSON.stringify(distEntry)});
      console.log(JSON.stringify(pw.probePortSync(${l.port})));
    `)) as {sockets: SocketEntry[]};
    expect(result.sockets).toHaveLength(1);
    expect(result.sockets[0]).toMatchObject({uid: 65_534});
    expect(pidsOf(result.sockets[0])).toEqual([l.pid]);
  });
});
