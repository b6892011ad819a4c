// The darwin parsers (native/parse/darwin.cc), fed on any OS with byte buffers laid out per
// native/parse/darwin_layout.h: libproc's struct socket_fdinfo and PROC_PIDLISTFDS
// answers, the net.inet.{tcp,udp}.pcblist_n records, and KERN_PROCARGS2. The same corpus
// also runs through a standalone build of the parsers under AddressSanitizer and UBSan.
import {spawnSync} from 'node:child_process';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {isIP} from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {afterAll, describe, expect, it} from 'vitest';
import {packageRoot} from '../src/native.js';
import {testingExports} from './testing-exports.js';

const testing = testingExports();

const EINVAL = -22;
const EAGAIN = -11;
const EBADMSG = -74;
const PARSED = 1;
const OTHER = 0;

// darwin numbers (sys/socket.h, netinet/in.h).
const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 30;
const TCP = 6;
const UDP = 17;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SO_ACCEPTCONN = 0x2;
const SOI_S_ISCONNECTED = 0x2;
const INI_IPV4 = 0x1;
const INI_IPV6 = 0x2;
const IN6P_IPV6_V6ONLY = 0x8000;
const SS_NOFDREF = 0x1;

// --- layouts (native/parse/darwin_layout.h; darwin is little-endian)

// struct socket_fdinfo: proc_fileinfo (24 bytes), then socket_info.
const SOCKET_FDINFO_SIZE = 792;
const PSI = 24;
const SFI = {
  statUid: PSI + 16,
  so: PSI + 136,
  type: PSI + 152,
  protocol: PSI + 156,
  family: PSI + 160,
  options: PSI + 164,
  state: PSI + 168,
  kind: PSI + 232,
  proto: PSI + 240,
};
const SOCKINFO = {generic: 0, in: 1, tcp: 2, un: 3};
// struct in_sockinfo, at SFI.proto (pri_in, and pri_tcp.tcpsi_ini).
const INSI = {fport: 0, lport: 4, gencnt: 8, flags: 16, vflag: 24, faddr: 32, laddr: 48};
const TCPSI_STATE = 80;
const UNSI_ADDR = 16; // sockaddr_un {u8 sun_len, u8 sun_family, char sun_path[104]}

// pcblist_n records (#pragma pack(4)).
const XINPGEN_SIZE = 24;
const XSO = {socket: 0x01, rcvbuf: 0x02, sndbuf: 0x04, stats: 0x08, inpcb: 0x10, tcpcb: 0x20};
const XINPCB_N_SIZE = 104;
const XINP = {fport: 16, lport: 18, gencnt: 28, flags: 36, vflag: 44, faddr: 48, laddr: 64};
const XSOCKET_N_SIZE = 104;
const XSOCK = {so: 8, state: 26, protocol: 36, family: 40, uid: 64, lastPid: 68, ePid: 72};
const XSOCKBUF_N_SIZE = 32;
const XSOCKSTAT_N_SIZE = 136;
const XTCPCB_N_SIZE = 204;
const XT_STATE = 36;

// BSD TCP states (TSI_S_*).
const BSD = {
  closed: 0,
  listen: 1,
  synSent: 2,
  synReceived: 3,
  established: 4,
  closeWait: 5,
  finWait1: 6,
  closing: 7,
  lastAck: 8,
  finWait2: 9,
  timeWait: 10,
};

// --- byte builders

function ip4(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

function ip6(address: string): Buffer {
  const [head, tail] = address.split('::') as [string, string | undefined];
  const words = (text: string | undefined) =>
    text ? text.split(':').map((w) => Number.parseInt(w, 16)) : [];
  const left = words(head);
  const right = tail === undefined ? [] : words(tail);
  const all = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const buf = Buffer.alloc(16);
  all.forEach((w, i) => buf.writeUInt16BE(w, i * 2));
  return buf;
}

/** A 16-byte in4in6_addr / in6_addr union: IPv4 goes to i46a_addr4 (bytes 12..15). */
function addressUnion(address: string): Buffer {
  if (isIP(address) === 4) return Buffer.concat([Buffer.alloc(12), ip4(address)]);
  return ip6(address);
}

/** ntohs applied by the parser: store the port in network order. */
function writeNetPort(view: DataView, offset: number, port: number) {
  view.setUint16(offset, port, false);
}

type SocketFields = {
  family?: number;
  protocol?: number;
  kind?: number;
  type?: number;
  lport?: number;
  fport?: number;
  laddr?: string;
  faddr?: string;
  vflag?: number;
  flags?: number;
  gencnt?: bigint;
  state?: number;
  uid?: number;
  so?: bigint;
  options?: number;
  soState?: number;
  path?: string;
  sunLen?: number;
  size?: number;
};

/** struct socket_fdinfo, as proc_pidfdinfo(PROC_PIDFDSOCKETINFO) returns it. */
function socketFdinfo(f: SocketFields = {}): Buffer {
  const buf = Buffer.alloc(f.size ?? SOCKET_FDINFO_SIZE);
  const full = Buffer.alloc(SOCKET_FDINFO_SIZE);
  const view = new DataView(full.buffer, full.byteOffset, full.byteLength);
  const family = f.family ?? AF_INET;
  view.setUint32(SFI.statUid, f.uid ?? 501, true);
  view.setBigUint64(SFI.so, f.so ?? 0x1234_5678_9abc_def0n, true);
  view.setInt32(SFI.type, f.type ?? SOCK_STREAM, true);
  view.setInt32(SFI.protocol, f.protocol ?? (family === AF_UNIX ? 0 : TCP), true);
  view.setInt32(SFI.family, family, true);
  view.setInt16(SFI.options, f.options ?? 0, true);
  view.setInt16(SFI.state, f.soState ?? 0, true);
  const kind = f.kind ?? (family === AF_UNIX ? SOCKINFO.un : SOCKINFO.tcp);
  view.setInt32(SFI.kind, kind, true);
  if (family === AF_UNIX) {
    const path = Buffer.from(f.path ?? '');
    const addr = SFI.proto + UNSI_ADDR;
    full[addr] = f.sunLen ?? (path.length > 0 ? 2 + path.length + 1 : 0);
    full[addr + 1] = AF_UNIX;
    path.copy(full, addr + 2);
  } else {
    const p = SFI.proto;
    // insi_lport/insi_fport: an int holding the network-order u_short (low half first).
    writeNetPort(view, p + INSI.lport, f.lport ?? 8080);
    writeNetPort(view, p + INSI.fport, f.fport ?? 0);
    view.setBigUint64(p + INSI.gencnt, f.gencnt ?? 1000n, true);
    view.setUint32(p + INSI.flags, f.flags ?? 0, true);
    full[p + INSI.vflag] = f.vflag ?? (family === AF_INET6 ? INI_IPV6 : INI_IPV4);
    const any = family === AF_INET6 && (f.vflag ?? INI_IPV6) & INI_IPV6 ? '::' : '0.0.0.0';
    addressUnion(f.laddr ?? any).copy(full, p + INSI.laddr);
    addressUnion(f.faddr ?? any).copy(full, p + INSI.faddr);
    view.setInt32(p + TCPSI_STATE, f.state ?? BSD.listen, true);
  }

  full.copy(buf, 0, 0, Math.min(buf.length, full.length));
  return buf;
}

/** One record {u32 len, u32 kind, ...}, padded to ROUNDUP64(len). */
function xrecord(kind: number, len: number, fill?: (view: DataView, buf: Buffer) => void): Buffer {
  const buf = Buffer.alloc(Math.ceil(len / 8) * 8);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  view.setUint32(0, len, true);
  view.setUint32(4, kind, true);
  fill?.(view, buf);
  return buf;
}

/** struct xinpgen {u32 xig_len, xig_count; u64 xig_gen, xig_sogen}. */
function xinpgen(gen: bigint, count: number): Buffer {
  const buf = Buffer.alloc(XINPGEN_SIZE);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  view.setUint32(0, XINPGEN_SIZE, true);
  view.setUint32(4, count, true);
  view.setBigUint64(8, gen, true);
  view.setBigUint64(16, 77n, true);
  return buf;
}

type PcbFields = {
  lport?: number;
  fport?: number;
  laddr?: string;
  faddr?: string;
  vflag?: number;
  flags?: number;
  gencnt?: bigint;
  family?: number;
  so?: bigint;
  soState?: number;
  uid?: number;
  lastPid?: number;
  ePid?: number;
  state?: number;
  inpcbLen?: number;
  socketLen?: number;
  tcpcbLen?: number;
};

function xinpcbN(f: PcbFields): Buffer {
  const family = f.family ?? AF_INET;
  const vflag = f.vflag ?? (family === AF_INET6 ? INI_IPV6 : INI_IPV4);
  const any = vflag & INI_IPV6 ? '::' : '0.0.0.0';
  return xrecord(XSO.inpcb, f.inpcbLen ?? XINPCB_N_SIZE, (view, buf) => {
    writeNetPort(view, XINP.fport, f.fport ?? 0);
    writeNetPort(view, XINP.lport, f.lport ?? 8080);
    view.setBigUint64(XINP.gencnt, f.gencnt ?? 10n, true);
    view.setInt32(XINP.flags, f.flags ?? 0, true);
    buf[XINP.vflag] = vflag;
    addressUnion(f.faddr ?? any).copy(buf, XINP.faddr);
    addressUnion(f.laddr ?? any).copy(buf, XINP.laddr);
  });
}

function xsocketN(f: PcbFields, protocol: number): Buffer {
  const len = f.socketLen ?? XSOCKET_N_SIZE;
  return xrecord(XSO.socket, len, (view) => {
    view.setBigUint64(XSOCK.so, f.so ?? 0xfeed_0000_0000_0001n, true);
    view.setInt16(XSOCK.state, f.soState ?? 0, true);
    view.setInt32(XSOCK.protocol, protocol, true);
    view.setInt32(XSOCK.family, f.family ?? AF_INET, true);
    if (len >= XSOCK.uid + 4) view.setUint32(XSOCK.uid, f.uid ?? 501, true);
    if (len >= XSOCK.lastPid + 4) view.setInt32(XSOCK.lastPid, f.lastPid ?? 4321, true);
    if (len >= XSOCK.ePid + 4) view.setInt32(XSOCK.ePid, f.ePid ?? 0, true);
  });
}

/** One PCB as get_pcblist_n writes it: INPCB, SOCKET, RCVBUF, SNDBUF, STATS[, TCPCB]. */
function pcb(protocol: number, f: PcbFields = {}, extra: Buffer[] = []): Buffer[] {
  const records = [
    xinpcbN(f),
    xsocketN(f, protocol),
    xrecord(XSO.rcvbuf, XSOCKBUF_N_SIZE),
    xrecord(XSO.sndbuf, XSOCKBUF_N_SIZE),
    xrecord(XSO.stats, XSOCKSTAT_N_SIZE),
    ...extra,
  ];
  if (protocol === TCP) {
    records.push(
      xrecord(XSO.tcpcb, f.tcpcbLen ?? XTCPCB_N_SIZE, (view) =>
        view.setInt32(XT_STATE, f.state ?? BSD.listen, true),
      ),
    );
  }

  return records;
}

function pcblist(pcbs: Buffer[][], options: {gen?: bigint; tailGen?: bigint} = {}): Buffer {
  const gen = options.gen ?? 100n;
  return Buffer.concat([
    xinpgen(gen, pcbs.length),
    ...pcbs.flat(),
    xinpgen(options.tailGen ?? gen, pcbs.length),
  ]);
}

const walk = (buf: Buffer, protocol = TCP, port = 8080) =>
  testing.walkPcblistN(buf, protocol, port);

const inetKey = (protocol: number, gencnt: number) =>
  2 ** 52 + (protocol === UDP ? 2 ** 51 : 0) + gencnt;

// --- tests

describe('parseSocketFdinfo (libproc PROC_PIDFDSOCKETINFO)', () => {
  it('reads a TCP listener on * (IPv4 only)', () => {
    const r = testing.parseSocketFdinfo(socketFdinfo({lport: 8080, gencnt: 4242n}));
    expect(r.inet).toBe(PARSED);
    expect(r.unix).toBe(OTHER);
    expect(r.socket).toEqual({
      protocol: 'tcp',
      family: 4,
      state: 10,
      localAddress: '0.0.0.0',
      localPort: 8080,
      remoteAddress: '0.0.0.0',
      remotePort: 0,
      uid: 501,
      inode: inetKey(TCP, 4242),
    });
  });

  it('reads a dual-stack listener on :: (vflag INI_IPV4|INI_IPV6) as family 6, v6only false', () => {
    const r = testing.parseSocketFdinfo(
      socketFdinfo({family: AF_INET6, vflag: INI_IPV4 | INI_IPV6, laddr: '::', lport: 3000}),
    );
    expect(r.socket).toMatchObject({
      family: 6,
      state: 10,
      localAddress: '::',
      localPort: 3000,
      remoteAddress: '::',
      v6only: false,
    });
  });

  it('reads a v6-only listener (IN6P_IPV6_V6ONLY in insi_flags)', () => {
    const r = testing.parseSocketFdinfo(
      socketFdinfo({
        family: AF_INET6,
        vflag: INI_IPV6,
        flags: IN6P_IPV6_V6ONLY,
        laddr: 'fe80::1:2',
      }),
    );
    expect(r.socket).toMatchObject({family: 6, localAddress: 'fe80::1:2', v6only: true});
  });

  it('reads an IPv4 connection accepted on a dual-stack socket as its IPv4 addresses', () => {
    // soi_family AF_INET6, but insi_vflag INI_IPV4: only i46a_addr4 holds the addresses.
    const r = testing.parseSocketFdinfo(
      socketFdinfo({
        family: AF_INET6,
        vflag: INI_IPV4,
        laddr: '192.168.1.20',
        faddr: '10.0.0.7',
        lport: 3000,
        fport: 51234,
        state: BSD.established,
      }),
    );
    expect(r.socket).toMatchObject({
      family: 6,
      state: 1,
      localAddress: '192.168.1.20',
      localPort: 3000,
      remoteAddress: '10.0.0.7',
      remotePort: 51234,
    });
    expect(r.socket!.v6only).toBeUndefined(); // only LISTEN/CLOSE sockets carry it
  });

  it('reads IPv6 connections from ina_6', () => {
    const r = testing.parseSocketFdinfo(
      socketFdinfo({
        family: AF_INET6,
        laddr: '2001:db8::1',
        faddr: '2001:db8::2',
        fport: 443,
        state: BSD.finWait2,
      }),
    );
    expect(r.socket).toMatchObject({
      family: 6,
      state: 5,
      localAddress: '2001:db8::1',
      remoteAddress: '2001:db8::2',
      remotePort: 443,
    });
  });

  it('maps every BSD TCP state onto the Linux numbering, unknown ones to 0', () => {
    const expected: Array<[number, number]> = [
      [BSD.closed, 7],
      [BSD.listen, 10],
      [BSD.synSent, 2],
      [BSD.synReceived, 3],
      [BSD.established, 1],
      [BSD.closeWait, 8],
      [BSD.finWait1, 4],
      [BSD.closing, 11],
      [BSD.lastAck, 9],
      [BSD.finWait2, 5],
      [BSD.timeWait, 6],
      [11, 0],
      [-1, 0],
      [0x7fff_ffff, 0],
    ];
    for (const [bsd, linux] of expected) {
      const r = testing.parseSocketFdinfo(socketFdinfo({state: bsd}));
      expect([bsd, r.socket!.state]).toEqual([bsd, linux]);
    }
  });

  it('reads UDP sockets: bound (7, UNCONN) and connected (1)', () => {
    const bound = testing.parseSocketFdinfo(
      socketFdinfo({protocol: UDP, kind: SOCKINFO.in, type: SOCK_DGRAM, lport: 5353}),
    );
    expect(bound.socket).toMatchObject({protocol: 'udp', family: 4, state: 7, localPort: 5353});
    expect(bound.socket!.inode).toBe(inetKey(UDP, 1000));
    const connected = testing.parseSocketFdinfo(
      socketFdinfo({
        protocol: UDP,
        kind: SOCKINFO.in,
        type: SOCK_DGRAM,
        family: AF_INET6,
        laddr: '::1',
        faddr: '::1',
        fport: 53,
      }),
    );
    expect(connected.socket).toMatchObject({protocol: 'udp', family: 6, state: 1, remotePort: 53});
    expect(connected.socket!.v6only).toBeUndefined();
    const bound6 = testing.parseSocketFdinfo(
      socketFdinfo({protocol: UDP, kind: SOCKINFO.in, family: AF_INET6, vflag: 3}),
    );
    expect(bound6.socket).toMatchObject({state: 7, localAddress: '::', v6only: false});
  });

  it('reads a TCP socket without a tcpcb (SOCKINFO_IN) as CLOSE', () => {
    const r = testing.parseSocketFdinfo(socketFdinfo({kind: SOCKINFO.in, state: BSD.listen}));
    expect(r.socket).toMatchObject({protocol: 'tcp', state: 7});
  });

  it('reads ports above 32767 in network byte order', () => {
    const r = testing.parseSocketFdinfo(socketFdinfo({lport: 65535, fport: 40000}));
    expect(r.socket).toMatchObject({localPort: 65535, remotePort: 40000});
  });

  it('reads unix sockets: listener, bound datagram, connected', () => {
    const listener = testing.parseSocketFdinfo(
      socketFdinfo({family: AF_UNIX, options: SO_ACCEPTCONN, path: '/tmp/app.sock', so: 0x55n}),
    );
    expect(listener.inet).toBe(OTHER);
    expect(listener.unix).toBe(PARSED);
    expect(listener.unixSocket).toEqual({type: 1, state: 10, inode: 0x55, name: '/tmp/app.sock'});
    const dgram = testing.parseSocketFdinfo(
      socketFdinfo({family: AF_UNIX, type: SOCK_DGRAM, path: 'relative.sock'}),
    );
    expect(dgram.unixSocket).toMatchObject({type: 2, state: 7, name: 'relative.sock'});
    const connected = testing.parseSocketFdinfo(
      socketFdinfo({family: AF_UNIX, soState: SOI_S_ISCONNECTED}),
    );
    expect(connected.unixSocket).toMatchObject({state: 1, name: ''});
    // sun_len beyond the struct: the path stops at sun_path's 104 bytes.
    const long = testing.parseSocketFdinfo(
      socketFdinfo({family: AF_UNIX, path: 'x'.repeat(104), sunLen: 255}),
    );
    expect(long.unixSocket!.name).toBe('x'.repeat(104));
    // A hash whose low 52 bits are 0 still gets a non-zero key.
    const zero = testing.parseSocketFdinfo(socketFdinfo({family: AF_UNIX, so: 1n << 60n}));
    expect(zero.unixSocket!.inode).toBe(1);
    const big = testing.parseSocketFdinfo(socketFdinfo({family: AF_UNIX, so: 2n ** 64n - 1n}));
    expect(big.unixSocket!.inode).toBe(2 ** 52 - 1);
  });

  it('reports other sockets as 0 and contradictions or short buffers as -EBADMSG', () => {
    const icmp = testing.parseSocketFdinfo(socketFdinfo({protocol: 1, kind: SOCKINFO.in}));
    expect([icmp.inet, icmp.unix]).toEqual([OTHER, OTHER]);
    const generic = testing.parseSocketFdinfo(socketFdinfo({kind: SOCKINFO.generic}));
    expect(generic.inet).toBe(OTHER);
    const route = testing.parseSocketFdinfo(socketFdinfo({family: 17, kind: SOCKINFO.generic}));
    expect([route.inet, route.unix]).toEqual([OTHER, OTHER]);
    expect(testing.parseSocketFdinfo(socketFdinfo({kind: SOCKINFO.un})).inet).toBe(EBADMSG);
    expect(testing.parseSocketFdinfo(socketFdinfo({kind: 9})).inet).toBe(EBADMSG);
    expect(testing.parseSocketFdinfo(socketFdinfo({protocol: UDP, kind: SOCKINFO.tcp})).inet).toBe(
      EBADMSG,
    );
    expect(
      testing.parseSocketFdinfo(socketFdinfo({family: AF_UNIX, kind: SOCKINFO.tcp})).unix,
    ).toBe(EBADMSG);
    for (const size of [0, 1, 263, 400, SOCKET_FDINFO_SIZE - 1]) {
      const r = testing.parseSocketFdinfo(socketFdinfo({size}));
      expect([size, r.inet, r.unix]).toEqual([size, EBADMSG, EBADMSG]);
    }

    // Newer kernels may return a longer struct: the known prefix is read.
    const longer = testing.parseSocketFdinfo(socketFdinfo({size: SOCKET_FDINFO_SIZE + 64}));
    expect(longer.inet).toBe(PARSED);
  });

  it('gives inodes that stay below 2^53 and 0 when the PCB has no generation', () => {
    const r = testing.parseSocketFdinfo(socketFdinfo({gencnt: 2n ** 64n - 1n}));
    expect(r.socket!.inode).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER);
    expect(testing.parseSocketFdinfo(socketFdinfo({gencnt: 0n})).socket!.inode).toBe(0);
  });
});

describe('parseFdList (PROC_PIDLISTFDS)', () => {
  function fdList(entries: Array<[fd: number, type: number]>): Buffer {
    const buf = Buffer.alloc(entries.length * 8);
    entries.forEach(([fd, type], i) => {
      buf.writeInt32LE(fd, i * 8);
      buf.writeUInt32LE(type, i * 8 + 4);
    });
    return buf;
  }

  it('keeps the socket fds (PROX_FDTYPE_SOCKET = 2)', () => {
    const buf = fdList([
      [0, 1],
      [3, 2],
      [4, 6],
      [7, 2],
      [-1, 2],
      [9, 5],
    ]);
    expect(testing.parseFdList(buf)).toEqual({status: 0, fds: [3, 7]});
    expect(testing.parseFdList(Buffer.alloc(0))).toEqual({status: 0, fds: []});
  });

  it('refuses a length that is not a multiple of 8', () => {
    expect(testing.parseFdList(Buffer.alloc(12)).status).toBe(EBADMSG);
  });
});

describe('parseProcargs2 (KERN_PROCARGS2)', () => {
  function procargs(argc: number, exec: string, args: string[], padding = 3): Buffer {
    const head = Buffer.alloc(4);
    head.writeInt32LE(argc);
    return Buffer.concat([
      head,
      Buffer.from(exec + '\0'),
      Buffer.alloc(padding),
      ...args.map((a) => Buffer.from(a + '\0')),
      Buffer.from('PATH=/usr/bin\0HOME=/Users/me\0'),
    ]);
  }

  it('joins argv by spaces and skips the exec path, its padding and the environment', () => {
    const buf = procargs(3, '/usr/local/bin/node', ['node', 'server.js', '--port=8080']);
    expect(testing.parseProcargs2(buf)).toEqual({
      status: 0,
      command: 'node server.js --port=8080',
    });
    expect(testing.parseProcargs2(procargs(0, '/bin/x', [])).command).toBe('');
    expect(testing.parseProcargs2(procargs(2, '/bin/x', ['x', ''], 0)).command).toBe('x ');
  });

  it('refuses truncated buffers and a negative argc', () => {
    const buf = procargs(3, '/usr/local/bin/node', ['node', 'server.js', '--port=8080']);
    const end = buf.indexOf('--port=8080') + '--port=8080'.length; // before its NUL
    for (const cut of [0, 3, 10, end]) {
      expect(testing.parseProcargs2(buf.subarray(0, cut))).toEqual({status: EBADMSG, command: ''});
    }

    // argc counts past argv into the environment: read as arguments, as ps does.
    expect(testing.parseProcargs2(procargs(3, '/bin/x', ['a']))).toEqual({
      status: 0,
      command: 'a PATH=/usr/bin HOME=/Users/me',
    });
    expect(testing.parseProcargs2(procargs(99, '/bin/x', ['a'])).status).toBe(EBADMSG);
    expect(testing.parseProcargs2(procargs(-1, '/bin/x', ['a'])).status).toBe(EBADMSG);
  });
});

describe('walkPcblistN (net.inet.{tcp,udp}.pcblist_n)', () => {
  it('reads a listener and a TIME_WAIT socket, with so_last_pid as a hint only', () => {
    const buf = pcblist([
      pcb(TCP, {gencnt: 11n, lastPid: 1234, uid: 501}),
      pcb(TCP, {
        gencnt: 12n,
        state: BSD.timeWait,
        soState: SS_NOFDREF,
        laddr: '127.0.0.1',
        faddr: '127.0.0.1',
        fport: 50000,
        lastPid: 999,
      }),
    ]);
    const r = walk(buf);
    expect(r.status).toBe(0);
    expect(r.sockets).toEqual([
      {
        protocol: 'tcp',
        family: 4,
        state: 10,
        localAddress: '0.0.0.0',
        localPort: 8080,
        remoteAddress: '0.0.0.0',
        remotePort: 0,
        uid: 501,
        inode: inetKey(TCP, 11),
      },
      {
        protocol: 'tcp',
        family: 4,
        state: 6,
        localAddress: '127.0.0.1',
        localPort: 8080,
        remoteAddress: '127.0.0.1',
        remotePort: 50000,
        uid: 501,
        inode: 0, // no file refers to it: kernel-owned, like Linux's TIME_WAIT
      },
    ]);
    expect(r.lastPids).toEqual([1234, 999]);
  });

  it('gives the same inode as libproc for the same PCB, so owners join', () => {
    const list = walk(pcblist([pcb(TCP, {gencnt: 777n})], {gen: 1000n})).sockets[0]!;
    const fd = testing.parseSocketFdinfo(socketFdinfo({gencnt: 777n})).socket!;
    expect(list.inode).toBe(fd.inode);
    const udpList = walk(pcblist([pcb(UDP, {gencnt: 777n})], {gen: 1000n}), UDP).sockets[0]!;
    const udpFd = testing.parseSocketFdinfo(
      socketFdinfo({gencnt: 777n, protocol: UDP, kind: SOCKINFO.in}),
    ).socket!;
    expect(udpList.inode).toBe(udpFd.inode);
    expect(udpList.inode).not.toBe(list.inode);
  });

  it('reads IPv6, dual-stack and IPv4-on-IPv6 PCBs', () => {
    const buf = pcblist([
      pcb(TCP, {family: AF_INET6, vflag: INI_IPV4 | INI_IPV6, gencnt: 1n}),
      pcb(TCP, {family: AF_INET6, flags: IN6P_IPV6_V6ONLY, laddr: '::1', gencnt: 2n}),
      pcb(TCP, {
        family: AF_INET6,
        vflag: INI_IPV4,
        laddr: '127.0.0.1',
        faddr: '127.0.0.1',
        fport: 40001,
        state: BSD.established,
        gencnt: 3n,
      }),
    ]);
    const r = walk(buf);
    expect(r.status).toBe(0);
    expect(r.sockets.map((s) => [s.family, s.localAddress, s.remoteAddress, s.v6only])).toEqual([
      [6, '::', '::', false],
      [6, '::1', '::', true],
      [6, '127.0.0.1', '127.0.0.1', undefined],
    ]);
  });

  it('reads UDP lists (no TCPCB): bound and connected', () => {
    const buf = pcblist([
      pcb(UDP, {gencnt: 5n, lport: 5353}),
      pcb(UDP, {gencnt: 6n, lport: 5353, faddr: '8.8.8.8', laddr: '10.0.0.2', fport: 53}),
    ]);
    const r = walk(buf, UDP, 5353);
    expect(r.status).toBe(0);
    expect(r.sockets.map((s) => [s.protocol, s.state, s.remoteAddress, s.remotePort])).toEqual([
      ['udp', 7, '0.0.0.0', 0],
      ['udp', 1, '8.8.8.8', 53],
    ]);
  });

  it('keeps only the asked port; port 0 keeps all', () => {
    const buf = pcblist([
      pcb(TCP, {lport: 80, gencnt: 1n}),
      pcb(TCP, {lport: 8080, gencnt: 2n}),
      pcb(TCP, {lport: 65535, gencnt: 3n}),
    ]);
    expect(walk(buf, TCP, 8080).sockets.map((s) => s.localPort)).toEqual([8080]);
    expect(walk(buf, TCP, 65535).sockets.map((s) => s.localPort)).toEqual([65535]);
    expect(walk(buf, TCP, 0).sockets.map((s) => s.localPort)).toEqual([80, 8080, 65535]);
    expect(walk(buf, TCP, 81).sockets).toEqual([]);
  });

  it('groups many PCBs with unknown record kinds interleaved', () => {
    const unknown = (kind: number, len: number) =>
      xrecord(kind, len, (_view, b) => b.fill(0xa5, 8, len));
    const pcbs: Buffer[][] = [];
    for (let i = 0; i < 50; i++) {
      const extras = [unknown(0x40, 13), unknown(0x200, 8), unknown(0x1000 << (i % 8), 300)];
      const records = pcb(TCP, {gencnt: BigInt(i + 1), lport: 1000 + (i % 5)});
      // Unknown records before, between and after the known ones.
      records.splice(i % records.length, 0, ...extras.slice(0, 1 + (i % 3)));
      pcbs.push(records);
    }

    const buf = Buffer.concat([
      pcblist(pcbs).subarray(0, -24),
      unknown(0x4000, 40),
      xinpgen(100n, 50),
    ]);
    const r = walk(buf, TCP, 0);
    expect(r.status).toBe(0);
    expect(r.sockets.length).toBe(50);
    expect(r.sockets.map((s) => s.inode)).toEqual(pcbs.map((_, i) => inetKey(TCP, i + 1)));
    expect(walk(buf, TCP, 1003).sockets.length).toBe(10);
  });

  it('reads the record kinds in any order within a PCB', () => {
    const records = pcb(TCP, {gencnt: 9n}).reverse();
    const r = walk(pcblist([records]));
    expect(r.status).toBe(0);
    expect(r.sockets.length).toBe(1);
  });

  it('reports a generation change between head and tail as -EAGAIN', () => {
    const buf = pcblist([pcb(TCP, {gencnt: 3n})], {gen: 100n, tailGen: 101n});
    expect(walk(buf)).toEqual({status: EAGAIN, sockets: [], lastPids: []});
  });

  it('skips PCBs created after the list was started (inp_gencnt > xig_gen)', () => {
    const buf = pcblist(
      [pcb(TCP, {gencnt: 100n}), pcb(TCP, {gencnt: 101n}), pcb(TCP, {gencnt: 7n})],
      {gen: 100n},
    );
    const r = walk(buf);
    expect(r.status).toBe(0);
    expect(r.sockets.map((s) => s.inode)).toEqual([inetKey(TCP, 100), inetKey(TCP, 7)]);
  });

  it('reads the head alone when there is no PCB, and head + tail with none listed', () => {
    expect(walk(xinpgen(5n, 0))).toEqual({status: 0, sockets: [], lastPids: []});
    expect(walk(Buffer.concat([xinpgen(5n, 2), xinpgen(5n, 2)])).status).toBe(0);
    expect(walk(xinpgen(5n, 2)).status).toBe(EBADMSG); // PCBs announced, no tail
  });

  it('reads older, shorter xsocket_n records (no so_last_pid) and longer newer ones', () => {
    const old = walk(pcblist([pcb(TCP, {socketLen: 68, gencnt: 1n})]));
    expect(old.status).toBe(0);
    expect(old.lastPids).toEqual([0]);
    const ePidOnly = walk(pcblist([pcb(TCP, {lastPid: 0, ePid: 77, gencnt: 1n})]));
    expect(ePidOnly.lastPids).toEqual([77]);
    const newer = walk(
      pcblist([pcb(TCP, {socketLen: 160, inpcbLen: 140, tcpcbLen: 400, gencnt: 1n})]),
    );
    expect(newer.status).toBe(0);
    expect(newer.sockets.length).toBe(1);
  });

  it('reads a PCB without a socket (buffer records of kind 0) as having no file', () => {
    // sotoxsocket_n(NULL) fills only xso_len/xso_kind; sbtoxsockbuf_n(NULL) only xsb_len.
    const socketless = pcb(TCP, {
      family: 0,
      so: 0n,
      uid: 0,
      lastPid: 0,
      vflag: INI_IPV6,
      gencnt: 4n,
      state: BSD.timeWait,
    });
    socketless[2]!.writeUInt32LE(0, 4);
    socketless[3]!.writeUInt32LE(0, 4);
    const r = walk(pcblist([pcb(TCP, {gencnt: 3n}), socketless, pcb(TCP, {gencnt: 5n})]));
    expect(r.status).toBe(0);
    expect(r.sockets.length).toBe(3);
    expect(r.sockets[1]).toMatchObject({family: 6, state: 6, localAddress: '::', inode: 0});
    expect(r.lastPids).toEqual([4321, 0, 4321]);
  });

  it('refuses truncated buffers at every length', () => {
    const buf = pcblist([pcb(TCP, {gencnt: 1n}), pcb(TCP, {gencnt: 2n, lport: 9})]);
    expect(walk(buf).status).toBe(0);
    for (let cut = 0; cut < buf.length; cut++) {
      const r = walk(buf.subarray(0, cut));
      if (r.status !== EBADMSG) throw new Error(`cut at ${cut}: ${r.status}`);
      expect(r.sockets).toEqual([]);
    }
  });

  it('refuses garbled lengths, repeated kinds, stray TCPCBs and incomplete PCBs', () => {
    const good = pcb(TCP, {gencnt: 1n});
    const withRecord = (index: number, record: Buffer) => {
      const records = [...good];
      records[index] = record;
      return pcblist([records]);
    };

    const head = (len: number) => {
      const h = xinpgen(1n, 1);
      h.writeUInt32LE(len, 0);
      return h;
    };

    const lengthSet = (len: number) => {
      const r = xrecord(XSO.rcvbuf, XSOCKBUF_N_SIZE);
      r.writeUInt32LE(len, 0);
      return r;
    };

    const cases: Array<[string, Buffer]> = [
      ['record length 0', withRecord(2, lengthSet(0))],
      ['record length 4', withRecord(2, lengthSet(4))],
      ['record length past the end', withRecord(2, lengthSet(100_000))],
      ['record length 2^32-1', withRecord(2, lengthSet(0xffff_ffff))],
      ['short xinpcb_n', withRecord(0, xinpcbN({inpcbLen: 79}))],
      ['short xsocket_n', withRecord(1, xsocketN({socketLen: 60}, TCP))],
      [
        'short xtcpcb_n',
        withRecord(
          5,
          xrecord(XSO.tcpcb, 39, (view) => view.setInt32(XT_STATE, 1, true)),
        ),
      ],
      ['repeated kind', withRecord(3, xsocketN({}, TCP))],
      ['TCPCB twice', withRecord(3, good[5]!)],
      ['incomplete PCB', pcblist([good.slice(0, 4)])],
      ['head length 8', Buffer.concat([head(8), ...good, xinpgen(1n, 1)])],
      ['head length huge', Buffer.concat([head(100_000), ...good, xinpgen(1n, 1)])],
      ['head length 2^32-1', Buffer.concat([head(0xffff_ffff), ...good, xinpgen(1n, 1)])],
      ['shorter than a head', Buffer.alloc(23)],
    ];
    for (const [what, buf] of cases) {
      const r = walk(buf);
      expect([what, r.status, r.sockets.length]).toEqual([what, EBADMSG, 0]);
    }

    // A TCPCB record in a UDP list is garbage.
    expect(walk(pcblist([pcb(TCP, {gencnt: 1n})]), UDP).status).toBe(EBADMSG);
    // A UDP PCB read as TCP never completes.
    expect(walk(pcblist([pcb(UDP, {gencnt: 1n})]), TCP).status).toBe(EBADMSG);
    // Only 6 and 17 are walked.
    expect(walk(pcblist([]), 1).status).toBe(EINVAL);
  });

  it('survives 10 000 random and mutated buffers', () => {
    const corpus = fuzzCorpus(10_000, 0x9e37_79b9);
    const statuses = new Set<number>();
    for (const item of corpus) {
      if (item.what !== 0) continue;
      const r = walk(item.buf, item.protocol, item.port);
      expect([0, EAGAIN, EBADMSG]).toContain(r.status);
      statuses.add(r.status);
      expect(r.lastPids.length).toBe(r.sockets.length);
      if (r.status !== 0) expect(r.sockets).toEqual([]);
      for (const s of r.sockets) {
        expect([4, 6]).toContain(s.family);
        if (item.port !== 0) expect(s.localPort).toBe(item.port);
        expect(isIP(s.localAddress)).not.toBe(0);
        expect(isIP(s.remoteAddress)).not.toBe(0);
        expect(s.inode).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER);
      }
    }

    expect(statuses).toEqual(new Set([0, EAGAIN, EBADMSG]));
  });
});

// --- a deterministic corpus shared with the AddressSanitizer run

type CorpusItem = {what: 0 | 1 | 2 | 3; protocol: number; port: number; buf: Buffer};

function fuzzCorpus(count: number, seed: number): CorpusItem[] {
  let state = seed >>> 0;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };

  const int = (n: number) => Math.floor(random() * n);
  const tcpTemplate = pcblist([
    pcb(TCP, {gencnt: 1n}),
    pcb(TCP, {gencnt: 2n, state: BSD.timeWait, soState: SS_NOFDREF, family: AF_INET6}),
    [xrecord(0x40, 20)],
    pcb(TCP, {gencnt: 3n, family: AF_INET6, vflag: INI_IPV4, laddr: '127.0.0.1'}),
  ]);
  const udpTemplate = pcblist([pcb(UDP, {gencnt: 1n}), pcb(UDP, {gencnt: 2n, fport: 53})]);
  const fdinfoTemplates = [
    socketFdinfo(),
    socketFdinfo({family: AF_INET6, vflag: INI_IPV4}),
    socketFdinfo({family: AF_UNIX, path: '/tmp/x.sock', options: SO_ACCEPTCONN}),
  ];
  const items: CorpusItem[] = [];
  for (let i = 0; i < count; i++) {
    const what = (i % 8 < 5 ? 0 : i % 8 === 5 ? 1 : i % 8 === 6 ? 2 : 3) as CorpusItem['what'];
    const protocol = i % 3 === 0 ? UDP : TCP;
    const port = i % 4 === 0 ? 0 : 8080;
    let buf: Buffer;
    const mode = int(4);
    if (mode === 0) {
      // Random bytes, sometimes behind a plausible head.
      buf = Buffer.alloc(int(what === 1 ? 900 : 700));
      for (let k = 0; k < buf.length; k++) buf[k] = int(256);
      if (what === 0 && buf.length >= 32 && random() < 0.5) {
        xinpgen(BigInt(int(5)), int(3)).copy(buf, 0);
        buf.writeUInt32LE(8 + int(120), 24);
        buf.writeUInt32LE(1 << int(7), 28);
      }
    } else {
      const template =
        what === 0
          ? protocol === TCP
            ? tcpTemplate
            : udpTemplate
          : what === 1
            ? fdinfoTemplates[i % fdinfoTemplates.length]!
            : what === 2
              ? Buffer.from([3, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0])
              : Buffer.from(
                  '\u0002\u0000\u0000\u0000/bin/sh\u0000\u0000\u0000sh\u0000-c\u0000X=1\u0000',
                );
      buf = Buffer.from(template);
      if (mode === 1) buf = Buffer.from(buf.subarray(0, int(buf.length + 1)));
      // Intact templates, half of the pcblists with another tail generation (EAGAIN).
      if (mode === 3 && what === 0 && random() < 0.5) {
        buf[buf.length - 16] = buf[buf.length - 16]! ^ (1 + int(255));
      }
      const flips = mode === 3 ? 0 : 1 + int(6);
      for (let k = 0; k < flips && buf.length > 0; k++) {
        const at = int(buf.length);
        // Mostly hit length and kind fields (every 8-byte boundary), sometimes anywhere.
        const pos = random() < 0.6 ? at - (at % 8) + int(8) : at;
        if (pos < buf.length) buf[pos] = random() < 0.3 ? [0, 0xff, 8, 24][int(4)]! : int(256);
      }
    }

    items.push({what, protocol, port, buf});
  }

  return items;
}

function serialize(items: CorpusItem[]): Buffer {
  return Buffer.concat(
    items.flatMap((item) => {
      const head = Buffer.alloc(8);
      head[0] = item.what;
      head[1] = item.protocol;
      head.writeUInt16LE(item.port, 2);
      head.writeUInt32LE(item.buf.length, 4);
      return [head, item.buf];
    }),
  );
}

/** What the addon answers for a corpus item, in the driver's "<status> <count>" form. */
function addonLine(item: CorpusItem): string {
  switch (item.what) {
    case 0: {
      const r = testing.walkPcblistN(item.buf, item.protocol, item.port);
      return `${r.status} ${r.sockets.length}`;
    }

    case 1: {
      const r = testing.parseSocketFdinfo(item.buf);
      return `${r.inet} ${r.unix < 0 ? 0 : r.unix}`;
    }

    case 2: {
      const r = testing.parseFdList(item.buf);
      return `${r.status} ${r.fds.length}`;
    }

    default: {
      // The command's byte count is not compared: JS strings re-encode invalid UTF-8.
      return `${testing.parseProcargs2(item.buf).status} 0`;
    }
  }
}

const SANITIZER_REPORT = /AddressSanitizer|runtime error|UndefinedBehaviorSanitizer/;

describe('the darwin parsers under AddressSanitizer and UBSan', () => {
  const compiler = process.env.CXX ?? 'c++';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'portwarden-asan-'));
  afterAll(() => rmSync(dir, {recursive: true, force: true}));
  const binary = path.join(dir, 'darwin_parse_asan');
  const sanitizerEnv = {
    ...process.env,
    ASAN_OPTIONS: 'exitcode=86',
    MallocNanoZone: '0', // macOS: keeps ASan's "nano zone abandoned" note off stderr
    UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1:exitcode=87',
  };

  it('compiles the parsers with -fsanitize=address,undefined', () => {
    const build = spawnSync(
      compiler,
      [
        '-std=c++17',
        '-g',
        '-O1',
        '-fno-omit-frame-pointer',
        '-fsanitize=address,undefined',
        '-fno-sanitize-recover=all',
        '-Wall',
        '-Wextra',
        '-Werror',
        path.join(packageRoot, 'test/native/darwin_parse_asan.cc'),
        path.join(packageRoot, 'native/parse/darwin.cc'),
        '-o',
        binary,
      ],
      {encoding: 'utf8'},
    );
    // A missing compiler or sanitizer runtime (Debian: g++, libasan8, libubsan1) fails here.
    expect(build.error, String(build.error)).toBeUndefined();
    expect(build.status, build.stderr).toBe(0);
  }, 120_000);

  it('passes the self-test (owner bookkeeping, scan order, keys, null buffers)', () => {
    const run = spawnSync(binary, ['--self-test'], {encoding: 'utf8', env: sanitizerEnv});
    expect(run.stderr).not.toMatch(SANITIZER_REPORT);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^\d+ passed, 0 failed\n$/);
  });

  it('runs 20 000 corpus buffers in exact-size heap blocks and agrees with the addon', () => {
    const corpus = [
      ...fuzzCorpus(20_000, 0x1234_5678),
      // Every truncation of the templates, and the edge lengths.
      ...(() => {
        const items: CorpusItem[] = [];
        const tcp = pcblist([pcb(TCP, {gencnt: 1n}), pcb(TCP, {gencnt: 2n, socketLen: 68})]);
        for (let cut = 0; cut <= tcp.length; cut++) {
          items.push({what: 0, protocol: TCP, port: 0, buf: tcp.subarray(0, cut)});
        }

        const fdinfo = socketFdinfo({family: AF_UNIX, path: 'y'.repeat(104), sunLen: 255});
        for (const cut of [0, 1, 263, 791, 792]) {
          items.push({what: 1, protocol: 0, port: 0, buf: fdinfo.subarray(0, cut)});
        }

        return items;
      })(),
    ];
    const file = path.join(dir, 'corpus.bin');
    writeFileSync(file, serialize(corpus));
    const run = spawnSync(binary, [file], {
      encoding: 'utf8',
      env: sanitizerEnv,
      maxBuffer: 64 << 20,
    });
    expect(run.stderr).not.toMatch(SANITIZER_REPORT);
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines.length).toBe(corpus.length);
    const mismatches = corpus
      .map((item, i) => [i, lines[i], addonLine(item)] as const)
      .filter(([, a, b]) => a !== b);
    expect(mismatches.slice(0, 5)).toEqual([]);
    // The corpus reached every outcome of the walker.
    const walkStatuses = new Set(
      corpus.flatMap((item, i) => (item.what === 0 ? [lines[i]!.split(' ')[0]] : [])),
    );
    expect(walkStatuses).toEqual(new Set(['0', String(EAGAIN), String(EBADMSG)]));
  }, 120_000);
});
