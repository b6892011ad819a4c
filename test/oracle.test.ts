// The probe against `ss` (iproute2) on the same sockets: same sockets, states, addresses,
// inodes, uids and holders.
import {execFileSync, spawn} from 'node:child_process';
import {describe, expect, it} from 'vitest';
import {canonicalAddress} from '../src/address.js';
import {probePortSync, probeUnixSocketSync, type Protocol, type SocketEntry} from '../src/index.js';
import {startListener, track} from './helpers.js';
import {connectAccepted, timeWaitOnListenerPort} from './sockets.js';

const SS_STATES: Record<string, string> = {
  ESTAB: 'ESTABLISHED',
  'SYN-SENT': 'SYN_SENT',
  'SYN-RECV': 'SYN_RECV',
  'FIN-WAIT-1': 'FIN_WAIT1',
  'FIN-WAIT-2': 'FIN_WAIT2',
  'TIME-WAIT': 'TIME_WAIT',
  'CLOSE-WAIT': 'CLOSE_WAIT',
  'LAST-ACK': 'LAST_ACK',
  LISTEN: 'LISTEN',
  CLOSING: 'CLOSING',
  UNCONN: 'UNCONN',
};

type Row = {
  state: string;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  inode: number;
  uid: number;
  v6only: boolean | undefined;
  pids: number[];
};

/** `127.0.0.1:80`, `[::1]:80`, `[::ffff:1.2.3.4]:80`, `*:80` (dual-stack `::`), `0.0.0.0:*`. */
function endpoint(text: string): {address: string; port: number} {
  const match = /^(.*):(\d+|\*)$/.exec(text);
  expect(match, `ss endpoint ${text}`).not.toBeNull();
  let address = match![1]!.replace(/%[^\]]*$/, '');
  if (address === '*') {
    address = '::';
  } else if (address.startsWith('[')) {
    address = address.slice(1, -1);
  }

  return {address: canonicalAddress(address), port: match![2] === '*' ? 0 : Number(match![2])};
}

const pidsIn = (text: string) =>
  [...text.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])).sort((a, b) => a - b);

/** `ss -tanpeH` / `ss -uanpeH`, rows whose local port is `port`. */
function ssInet(protocol: Protocol, port: number): Row[] {
  const out = execFileSync('ss', [protocol === 'tcp' ? '-tanpeH' : '-uanpeH'], {
    encoding: 'utf8',
  });
  const rows: Row[] = [];
  for (const line of out.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5) {
      continue;
    }

    const [state, , , localText, remoteText] = fields as [string, string, string, string, string];
    const rest = fields.slice(5).join(' ');
    const local = endpoint(localText);
    if (local.port !== port) {
      continue;
    }

    const remote = endpoint(remoteText);
    const v6only = /\bv6only:(\d)/.exec(rest)?.[1];
    rows.push({
      state: SS_STATES[state] ?? `ss:${state}`,
      localAddress: local.address,
      localPort: local.port,
      // ss prints a wildcard peer as `*` or `0.0.0.0`: compare wildcards as wildcards.
      remoteAddress: remote.address,
      remotePort: remote.port,
      inode: Number(/\bino:(\d+)/.exec(rest)?.[1] ?? Number.NaN),
      uid: Number(/\buid:(\d+)/.exec(rest)?.[1] ?? 0),
      v6only: v6only === undefined ? undefined : v6only === '1',
      pids: pidsIn(rest),
    });
  }

  return rows;
}

const wildcard = (address: string) => (address === '0.0.0.0' ? '::' : address);

function fromProbe(entries: readonly SocketEntry[]): Row[] {
  return entries.map((e) => ({
    state: e.state,
    localAddress: e.localAddress,
    localPort: e.localPort,
    remoteAddress: e.remoteAddress,
    remotePort: e.remotePort,
    inode: e.inode,
    uid: e.uid,
    v6only: e.v6only,
    pids:
      e.owner?.status === 'found' ? e.owner.processes.map((p) => p.pid).sort((a, b) => a - b) : [],
  }));
}

const key = (r: Row) =>
  `${r.state} ${r.localAddress} ${r.remoteAddress}:${r.remotePort} ${r.inode}`;
const normalise = (rows: Row[]) =>
  rows
    .map((r) => ({
      ...r,
      remoteAddress: r.remotePort === 0 ? wildcard(r.remoteAddress) : r.remoteAddress,
    }))
    .sort((a, b) => key(a).localeCompare(key(b)));

function expectAgreement(protocol: Protocol, port: number, expectedStates: string[]): Row[] {
  const probe = normalise(fromProbe(probePortSync(port, {protocol}).sockets));
  const ss = normalise(ssInet(protocol, port));
  expect(probe).toEqual(ss);
  expect(probe.map((r) => r.state).sort()).toEqual([...expectedStates].sort());
  return probe;
}

describe('probePortSync agrees with ss', () => {
  it('TCP: a dual-stack listener and its accepted IPv4 and IPv6 connections', async () => {
    const l = await startListener({host: '::'});
    const v4 = await connectAccepted(l.port, '127.0.0.1', l.pid);
    const v6 = await connectAccepted(l.port, '::1', l.pid);
    try {
      const rows = expectAgreement('tcp', l.port, ['LISTEN', 'ESTABLISHED', 'ESTABLISHED']);
      expect(rows.every((r) => r.pids.length === 1 && r.pids[0] === l.pid)).toBe(true);
      expect(rows.map((r) => r.localAddress).sort()).toEqual(['127.0.0.1', '::', '::1']);
      // The client ends: local port is the client's, held by this process.
      const clientRows = expectAgreement('tcp', v4.localPort!, ['ESTABLISHED']);
      expect(clientRows[0]).toMatchObject({remotePort: l.port, pids: [process.pid]});
    } finally {
      v4.destroy();
      v6.destroy();
    }
  });

  it('TCP: a listener shared with a forked grandchild and a v6only listener', async () => {
    const shared = await startListener({host: '127.0.0.1', forkHolder: true});
    const rows = expectAgreement('tcp', shared.port, ['LISTEN']);
    expect(rows[0]!.pids).toEqual([shared.pid, shared.holderPid!].sort((a, b) => a - b));
    const v6only = await startListener({host: '::', ipv6Only: true});
    expect(expectAgreement('tcp', v6only.port, ['LISTEN'])[0]).toMatchObject({v6only: true});
  });

  it('TCP: a listener run by another user', async () => {
    const l = await startListener({host: '0.0.0.0', uid: 65_534});
    expect(expectAgreement('tcp', l.port, ['LISTEN'])[0]).toMatchObject({
      uid: 65_534,
      pids: [l.pid],
    });
  });

  it('TCP: TIME_WAIT on the listening port', async () => {
    const {port} = await timeWaitOnListenerPort('127.0.0.1', '127.0.0.1');
    const rows = expectAgreement('tcp', port, ['TIME_WAIT']);
    expect(rows[0]).toMatchObject({inode: 0, uid: 0, pids: []});
  });

  it('UDP: bound udp4 and udp6 sockets', async () => {
    const u4 = await startListener({kind: 'udp', host: '127.0.0.1'});
    expect(expectAgreement('udp', u4.port, ['UNCONN'])[0]).toMatchObject({pids: [u4.pid]});
    const u6 = await startListener({kind: 'udp', host: '::'});
    expect(expectAgreement('udp', u6.port, ['UNCONN'])[0]).toMatchObject({
      localAddress: '::',
      v6only: false,
      pids: [u6.pid],
    });
  });
});

/** `ss -xlpH` rows for `name`: {state, name, inode, pids}. */
function ssUnix(name: string) {
  const out = execFileSync('ss', ['-xlpH'], {encoding: 'utf8'});
  const rows = [];
  for (const line of out.split('\n')) {
    const fields = line.trim().split(/\s+/);
    // Netid State Recv-Q Send-Q Local Inode Peer PeerInode [users:(...)]
    if (fields.length >= 8 && fields[4] === name) {
      rows.push({
        state: fields[1]!,
        name: fields[4]!,
        inode: Number(fields[5]),
        pids: pidsIn(fields.slice(8).join(' ')),
      });
    }
  }

  return rows;
}

describe('probeUnixSocketSync agrees with ss', () => {
  it('a unix listener path held by two processes', async () => {
    const path = `/tmp/portwarden-oracle-${process.pid}.sock`;
    const l = await startListener({kind: 'unix', path, forkHolder: true});
    try {
      const report = probeUnixSocketSync(path);
      const probe = report.sockets.map((s) => ({
        state: s.state,
        name: s.name,
        inode: s.inode,
        pids: s.owner.status === 'found' ? s.owner.processes.map((p) => p.pid) : [],
      }));
      const ss = ssUnix(path);
      expect(ss).toHaveLength(1);
      expect(probe).toEqual(ss);
      expect(probe[0]!.pids).toEqual([l.pid, l.holderPid!].sort((a, b) => a - b));
    } finally {
      l.child.kill('SIGKILL');
      process.kill(l.holderPid!, 'SIGKILL');
      await l.exited;
      execFileSync('rm', ['-f', path]);
    }
  });

  it('an abstract listener bound with its exact name', async () => {
    const name = `@portwarden-oracle-${process.pid}`;
    const py = spawn(
      'python3',
      [
        '-c',
        'import socket,sys,time\ns=socket.socket(socket.AF_UNIX)\ns.bind(b"\\0"+sys.argv[1].encode())\ns.listen()\nprint("ready",flush=True)\ntime.sleep(60)',
        name.slice(1),
      ],
      {stdio: ['ignore', 'pipe', 'inherit']},
    );
    track(py.pid);
    await new Promise((resolve) => py.stdout.once('data', resolve));
    const probe = probeUnixSocketSync(name).sockets.map((s) => ({
      state: s.state,
      name: s.name,
      inode: s.inode,
      pids: s.owner.status === 'found' ? s.owner.processes.map((p) => p.pid) : [],
    }));
    expect(probe).toEqual(ssUnix(name));
    expect(probe).toMatchObject([{state: 'LISTEN', pids: [py.pid]}]);
  });
});
