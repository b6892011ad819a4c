import {spawnSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import {isIP} from 'node:net';
import {endianness} from 'node:os';
import path from 'node:path';
import {pathToFileURL} from 'node:url';
import {Worker} from 'node:worker_threads';
import {describe, expect, it} from 'vitest';
import {nativeBinding, packageRoot, type NativeBinding} from '../src/native.js';
import {startListener} from './helpers.js';
import {testingExports} from './testing-exports.js';

const b: NativeBinding = nativeBinding()!;
const testing = testingExports();
const LE = endianness() === 'LE';

const EAGAIN = -11;
const ENOENT = -2;
const EINVAL = -22;
const EBADMSG = -74;
const MORE = 0;
const DONE = 1;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const SOCK_DIAG_BY_FAMILY = 20;
const NLM_F_MULTI = 0x2;
const NLM_F_DUMP_INTR = 0x10;
const AF_INET = 2;
const AF_INET6 = 10;
const INET_DIAG_SKV6ONLY = 11;
const UNIX_DIAG_NAME = 0;
const UNIX_DIAG_VFS = 1;

// --- byte builders (host order for netlink headers and attributes, network order in sockid)

function u16(value: number): Buffer {
  const buf = Buffer.alloc(2);
  if (LE) buf.writeUInt16LE(value);
  else buf.writeUInt16BE(value);
  return buf;
}

function u32(value: number): Buffer {
  const buf = Buffer.alloc(4);
  if (LE) buf.writeUInt32LE(value >>> 0);
  else buf.writeUInt32BE(value >>> 0);
  return buf;
}

const i32 = (value: number) => u32(value | 0);
const pad4 = (buf: Buffer) => Buffer.concat([buf, Buffer.alloc((4 - (buf.length % 4)) % 4)]);

/** nlmsghdr {u32 len, u16 type, u16 flags, u32 seq, u32 pid} + payload, padded to 4 bytes. */
function nlmsg(
  type: number,
  payload: Buffer,
  options: {seq?: number; flags?: number; len?: number} = {},
): Buffer {
  const len = options.len ?? 16 + payload.length;
  const header = Buffer.concat([
    u32(len),
    u16(type),
    u16(options.flags ?? NLM_F_MULTI),
    u32(options.seq ?? 7),
    u32(0),
  ]);
  return pad4(Buffer.concat([header, payload]));
}

/** nlattr {u16 len, u16 type} + data, padded to 4 bytes. */
function nlattr(type: number, data: Buffer): Buffer {
  return pad4(Buffer.concat([u16(4 + data.length), u16(type), data]));
}

function ipBytes(address: string): Buffer {
  if (isIP(address) === 4) {
    return Buffer.concat([Buffer.from(address.split('.').map(Number)), Buffer.alloc(12)]);
  }

  // Small IPv6 parser for the test's literals (no embedded IPv4 except ::ffff:a.b.c.d).
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (mapped) {
    return Buffer.concat([
      Buffer.alloc(10),
      Buffer.from([0xff, 0xff]),
      Buffer.from(mapped[1]!.split('.').map(Number)),
    ]);
  }

  const [head, tail] = address.split('::') as [string, string | undefined];
  const words = (text: string | undefined) =>
    text ? text.split(':').map((w) => Number.parseInt(w, 16)) : [];
  const left = words(head);
  const right = words(tail);
  const all = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const buf = Buffer.alloc(16);
  all.forEach((w, i) => buf.writeUInt16BE(w, i * 2));
  return buf;
}

type DiagFields = {
  family?: number;
  state?: number;
  sport?: number;
  dport?: number;
  src?: string;
  dst?: string;
  uid?: number;
  inode?: number;
  attrs?: Buffer[];
};

/** inet_diag_msg (72 bytes) + attributes. */
function inetDiagMsg(f: DiagFields = {}): Buffer {
  const family = f.family ?? AF_INET;
  const wildcard = family === AF_INET6 ? '::' : '0.0.0.0';
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(f.sport ?? 8080, 0);
  ports.writeUInt16BE(f.dport ?? 0, 2);
  const msg = Buffer.concat([
    Buffer.from([family, f.state ?? 10, 0, 0]),
    ports,
    ipBytes(f.src ?? (family === AF_INET6 ? '::1' : '127.0.0.1')),
    ipBytes(f.dst ?? wildcard),
    u32(0), // if
    u32(0x1234),
    u32(0x5678), // cookie
    u32(0), // expires
    u32(0), // rqueue
    u32(0), // wqueue
    u32(f.uid ?? 1000),
    u32(f.inode ?? 4242),
  ]);
  expect(msg.length).toBe(72);
  return Buffer.concat([msg, ...(f.attrs ?? [])]);
}

const record = (f: DiagFields = {}, options: {seq?: number; flags?: number} = {}) =>
  nlmsg(SOCK_DIAG_BY_FAMILY, inetDiagMsg(f), options);
const done = (payload = i32(0), seq = 7, flags = NLM_F_MULTI) =>
  nlmsg(NLMSG_DONE, payload, {seq, flags});
/** NLMSG_ERROR payload: struct nlmsgerr {int error; struct nlmsghdr msg;}. */
const error = (errno: number, seq = 7) =>
  nlmsg(NLMSG_ERROR, Buffer.concat([i32(errno), Buffer.alloc(16)]), {seq, flags: 0});

const parseInet = (buf: Buffer, port = 8080, seq = 7) => testing.parseInetDiag(buf, seq, port);

describe('parseInetDiag', () => {
  it('reads one IPv4 record', () => {
    const result = parseInet(
      record({sport: 8080, dport: 0, src: '127.0.0.1', state: 10, uid: 1000, inode: 4242}),
    );
    expect(result.status).toBe(MORE);
    expect(result.sockets).toEqual([
      {
        protocol: 'udp', // the parser leaves the protocol to the dump (0 → not tcp)
        family: 4,
        state: 10,
        localAddress: '127.0.0.1',
        localPort: 8080,
        remoteAddress: '0.0.0.0',
        remotePort: 0,
        uid: 1000,
        inode: 4242,
      },
    ]);
  });

  it('reads a multipart dump up to NLMSG_DONE and nothing after it', () => {
    const buf = Buffer.concat([
      record({src: '127.0.0.1', state: 10, inode: 1}),
      record({family: AF_INET6, src: '::', state: 10, inode: 2}),
      record({src: '10.0.0.1', dst: '10.0.0.2', dport: 5555, state: 1, inode: 3}),
      done(),
      record({src: '10.9.9.9', inode: 4}),
    ]);
    const result = parseInet(buf);
    expect(result.status).toBe(DONE);
    expect(result.sockets.map((s) => [s.family, s.localAddress, s.state, s.inode])).toEqual([
      [4, '127.0.0.1', 10, 1],
      [6, '::', 10, 2],
      [4, '10.0.0.1', 1, 3],
    ]);
    expect(result.sockets[2]).toMatchObject({remoteAddress: '10.0.0.2', remotePort: 5555});
  });

  it('reads several recv() buffers of one dump independently', () => {
    const first = parseInet(Buffer.concat([record({inode: 1}), record({inode: 2})]));
    expect(first.status).toBe(MORE);
    expect(first.sockets).toHaveLength(2);
    const second = parseInet(Buffer.concat([record({inode: 3}), done()]));
    expect(second.status).toBe(DONE);
    expect(second.sockets.map((s) => s.inode)).toEqual([3]);
  });

  it('reports the -errno carried by NLMSG_DONE', () => {
    expect(parseInet(Buffer.concat([record(), done(i32(ENOENT))])).status).toBe(ENOENT);
    expect(parseInet(done(i32(EINVAL))).status).toBe(EINVAL);
    expect(parseInet(done(i32(0))).status).toBe(DONE);
    expect(parseInet(done(i32(5))).status).toBe(DONE);
    expect(parseInet(done(Buffer.alloc(0))).status).toBe(DONE);
  });

  it('reports NLMSG_ERROR: -errno, an ACK (0) ends, a short payload is malformed', () => {
    expect(parseInet(error(ENOENT)).status).toBe(ENOENT);
    expect(parseInet(Buffer.concat([record(), error(EINVAL)])).status).toBe(EINVAL);
    expect(parseInet(error(0)).status).toBe(DONE);
    expect(parseInet(nlmsg(NLMSG_ERROR, Buffer.alloc(2), {flags: 0})).status).toBe(EBADMSG);
  });

  it('reports an interrupted dump (NLM_F_DUMP_INTR) as -EAGAIN', () => {
    const flags = NLM_F_MULTI | NLM_F_DUMP_INTR;
    expect(parseInet(Buffer.concat([record(), record({}, {flags}), done()])).status).toBe(EAGAIN);
    expect(parseInet(Buffer.concat([record(), done(i32(0), 7, flags)])).status).toBe(EAGAIN);
    // The flag on another dump's message is not ours.
    expect(parseInet(Buffer.concat([record({}, {seq: 8, flags}), done()])).status).toBe(DONE);
  });

  it('skips messages of another sequence number, including their NLMSG_DONE', () => {
    const buf = Buffer.concat([
      record({inode: 11}, {seq: 6}),
      done(i32(0), 6),
      error(EINVAL, 6),
      record({inode: 12}),
      done(),
    ]);
    const result = parseInet(buf);
    expect(result.status).toBe(DONE);
    expect(result.sockets.map((s) => s.inode)).toEqual([12]);
    expect(parseInet(Buffer.concat([record({inode: 1}, {seq: 99}), done(i32(0), 99)]))).toEqual({
      status: MORE,
      sockets: [],
    });
  });

  it('re-checks the local port: records of another port are dropped, port 0 keeps all', () => {
    const buf = Buffer.concat([
      record({sport: 9090, inode: 1}),
      record({sport: 8080, inode: 2}),
      record({sport: 80, dport: 8080, inode: 3}), // remote port 8080 is not local 8080
      done(),
    ]);
    expect(parseInet(buf, 8080).sockets.map((s) => s.inode)).toEqual([2]);
    expect(parseInet(buf, 0).sockets.map((s) => s.inode)).toEqual([1, 2, 3]);
    expect(parseInet(buf, 443).sockets).toEqual([]);
  });

  it('reads ports above 32767 in network byte order', () => {
    const result = parseInet(record({sport: 65_535, dport: 40_000}), 65_535);
    expect(result.sockets[0]).toMatchObject({localPort: 65_535, remotePort: 40_000});
  });

  it('normalises v4-mapped IPv6 addresses and keeps family 6', () => {
    const result = parseInet(
      record({
        family: AF_INET6,
        state: 6,
        src: '::ffff:127.0.0.1',
        dst: '::ffff:10.1.2.3',
        dport: 5000,
        uid: 0,
        inode: 0,
      }),
    );
    expect(result.sockets[0]).toMatchObject({
      family: 6,
      state: 6,
      localAddress: '127.0.0.1',
      remoteAddress: '10.1.2.3',
      remotePort: 5000,
      uid: 0,
      inode: 0,
    });
    // Not mapped: a plain IPv6 address, and the IPv4-compatible form stays IPv6.
    expect(parseInet(record({family: AF_INET6, src: 'fe80::1'})).sockets[0]!.localAddress).toBe(
      'fe80::1',
    );
    expect(parseInet(record({family: AF_INET6, src: '::'})).sockets[0]!.localAddress).toBe('::');
  });

  it('reads INET_DIAG_SKV6ONLY among other attributes', () => {
    const other = nlattr(5, Buffer.from([1, 2, 3, 4, 5, 6, 7])); // unaligned length, padded
    const v6only = (value: number) => nlattr(INET_DIAG_SKV6ONLY, Buffer.from([value]));
    const base = {family: AF_INET6, src: '::'};
    const parse = (attrs: Buffer[]) =>
      parseInet(record({...base, attrs})).sockets[0] as {v6only?: boolean};
    expect(parse([v6only(1)]).v6only).toBe(true);
    expect(parse([other, v6only(0)]).v6only).toBe(false);
    expect(parse([v6only(1), other]).v6only).toBe(true);
    expect('v6only' in parse([other])).toBe(false);
    expect('v6only' in parse([])).toBe(false);
    // NLA_F_NESTED / NLA_F_NET_BYTEORDER bits are not part of the type.
    const flagged = pad4(
      Buffer.concat([u16(5), u16(0x8000 | INET_DIAG_SKV6ONLY), Buffer.from([1])]),
    );
    expect(parse([flagged]).v6only).toBe(true);
    // An empty SKV6ONLY attribute carries no value.
    expect('v6only' in parse([nlattr(INET_DIAG_SKV6ONLY, Buffer.alloc(0))])).toBe(false);
  });

  it('ignores malformed attributes but keeps the record', () => {
    const tooLong = Buffer.concat([u16(200), u16(INET_DIAG_SKV6ONLY), Buffer.from([1, 0, 0, 0])]);
    const tooShort = Buffer.concat([u16(2), u16(INET_DIAG_SKV6ONLY), Buffer.from([1, 0, 0, 0])]);
    for (const attr of [tooLong, tooShort, Buffer.from([1, 2])]) {
      const result = parseInet(
        Buffer.concat([record({family: AF_INET6, src: '::', attrs: [attr]}), done()]),
      );
      expect(result.status).toBe(DONE);
      expect(result.sockets).toHaveLength(1);
      expect('v6only' in result.sockets[0]!).toBe(false);
    }
  });

  it('skips records of other address families', () => {
    const result = parseInet(Buffer.concat([record({family: 1}), record({inode: 5}), done()]));
    expect(result.status).toBe(DONE);
    expect(result.sockets.map((s) => s.inode)).toEqual([5]);
  });

  it('steps over messages whose length is not a multiple of 4', () => {
    const odd = nlmsg(
      SOCK_DIAG_BY_FAMILY,
      Buffer.concat([inetDiagMsg({inode: 1}), Buffer.from([9])]),
    );
    expect(odd.readUInt32LE(0) % 4).toBe(1);
    const result = parseInet(Buffer.concat([odd, record({inode: 2}), done()]));
    expect(result.status).toBe(DONE);
    expect(result.sockets.map((s) => s.inode)).toEqual([1, 2]);
  });

  it('reports malformed buffers as -EBADMSG', () => {
    const good = record();
    const cases: Array<[string, Buffer]> = [
      ['a header cut short', good.subarray(0, 10)],
      ['a message cut short', good.subarray(0, 50)],
      ['a length beyond the buffer', nlmsg(SOCK_DIAG_BY_FAMILY, inetDiagMsg(), {len: 200})],
      ['a length below the header', nlmsg(SOCK_DIAG_BY_FAMILY, inetDiagMsg(), {len: 8})],
      ['a zero length', nlmsg(SOCK_DIAG_BY_FAMILY, inetDiagMsg(), {len: 0})],
      ['a record shorter than inet_diag_msg', nlmsg(SOCK_DIAG_BY_FAMILY, Buffer.alloc(40))],
      ['garbage after a good record', Buffer.concat([good, Buffer.from([1, 2, 3])])],
      ['a length of 0xffffffff', nlmsg(SOCK_DIAG_BY_FAMILY, inetDiagMsg(), {len: 0xff_ff_ff_ff})],
    ];
    for (const [what, buf] of cases) {
      expect(parseInet(buf).status, what).toBe(EBADMSG);
    }

    expect(parseInet(Buffer.alloc(0))).toEqual({status: MORE, sockets: []});
  });

  it('survives 10 000 random and mutated buffers', () => {
    let seed = 0x2545_f491;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };

    const templates = [
      Buffer.concat([record({inode: 1}), record({family: AF_INET6, src: '::'}), done()]),
      Buffer.concat([
        record({family: AF_INET6, attrs: [nlattr(INET_DIAG_SKV6ONLY, Buffer.from([1]))]}),
        error(EINVAL),
      ]),
    ];
    const statuses = new Set<number>();
    for (let i = 0; i < 10_000; i++) {
      let buf: Buffer;
      if (i % 2 === 0) {
        buf = Buffer.alloc(Math.floor(random() * 600));
        for (let k = 0; k < buf.length; k++) buf[k] = Math.floor(random() * 256);
        if (i % 4 === 0 && buf.length >= 16) {
          // A plausible header makes the walker look further.
          u32(Math.min(buf.length, 16 + Math.floor(random() * 100))).copy(buf, 0);
          u32(7).copy(buf, 8);
        }
      } else {
        const template = templates[Math.floor(i / 2) % templates.length]!;
        buf = Buffer.from(template.subarray(0, Math.floor(random() * (template.length + 1))));
        // Some are only truncated (often whole), most also get a few bytes changed.
        if (i % 5 === 1) buf = Buffer.from(template);
        const flips = i % 5 === 1 || i % 5 === 3 ? 0 : 1 + Math.floor(random() * 4);
        for (let k = 0; k < flips && buf.length > 0; k++) {
          buf[Math.floor(random() * buf.length)] = Math.floor(random() * 256);
        }
      }

      const port = i % 3 === 0 ? 0 : 8080;
      const result = parseInet(buf, port);
      expect(Number.isInteger(result.status)).toBe(true);
      expect(result.status).toBeLessThanOrEqual(1);
      expect(result.status).toBeGreaterThanOrEqual(-(2 ** 31));
      statuses.add(result.status);
      for (const socket of result.sockets) {
        expect([4, 6]).toContain(socket.family);
        if (port !== 0) expect(socket.localPort).toBe(port);
        expect(isIP(socket.localAddress)).not.toBe(0);
        expect(isIP(socket.remoteAddress)).not.toBe(0);
        expect(socket.inode).toBeGreaterThanOrEqual(0);
      }
    }

    // The corpus reached the interesting outcomes.
    expect(statuses).toContain(EBADMSG);
    expect(statuses).toContain(MORE);
    expect(statuses).toContain(DONE);
  });
});

/** unix_diag_msg {u8 family, type, state, pad; u32 ino; u32 cookie[2]} + attributes. */
function unixDiagMsg(f: {type?: number; state?: number; inode?: number; attrs?: Buffer[]}) {
  const msg = Buffer.concat([
    Buffer.from([1, f.type ?? 1, f.state ?? 10, 0]),
    u32(f.inode ?? 777),
    u32(1),
    u32(2),
  ]);
  return nlmsg(SOCK_DIAG_BY_FAMILY, Buffer.concat([msg, ...(f.attrs ?? [])]));
}

const vfs = (ino: number, dev: number) =>
  nlattr(UNIX_DIAG_VFS, Buffer.concat([u32(ino), u32(dev)]));

describe('parseUnixDiag', () => {
  it('reads a path listener with its file identity', () => {
    const result = testing.parseUnixDiag(
      Buffer.concat([
        unixDiagMsg({
          inode: 777,
          attrs: [nlattr(UNIX_DIAG_NAME, Buffer.from('/tmp/app.sock\0')), vfs(42, 0x80_0001)],
        }),
        done(),
      ]),
      7,
    );
    expect(result).toEqual({
      status: DONE,
      sockets: [
        {type: 1, state: 10, inode: 777, name: '/tmp/app.sock', vfsIno: 42, vfsDev: 0x80_0001},
      ],
    });
  });

  it('reads abstract names with a leading @, inner NULs kept, trailing padding dropped', () => {
    const name = (bytes: string) => [nlattr(UNIX_DIAG_NAME, Buffer.from(bytes, 'latin1'))];
    const result = testing.parseUnixDiag(
      Buffer.concat([
        unixDiagMsg({type: 2, state: 7, attrs: name('\0my-name')}),
        unixDiagMsg({inode: 5, attrs: []}), // unbound: no name, no vfs
        unixDiagMsg({inode: 6, attrs: name('\0a\0b' + '\0'.repeat(100))}), // Node pads to 108
        unixDiagMsg({inode: 7, attrs: name('\0')}), // the empty abstract name
        unixDiagMsg({inode: 8, attrs: name('\0'.repeat(108))}),
        done(),
      ]),
      7,
    );
    expect(result.status).toBe(DONE);
    expect(result.sockets[0]).toEqual({type: 2, state: 7, inode: 777, name: '@my-name'});
    expect(result.sockets[1]).toEqual({type: 1, state: 10, inode: 5, name: ''});
    expect(result.sockets.slice(2).map((s) => s.name)).toEqual(['@a\0b', '@', '@']);
  });

  it('handles errors, sequence numbers and malformed records like the inet walk', () => {
    const p = (buf: Buffer) => testing.parseUnixDiag(buf, 7).status;
    expect(p(Buffer.concat([unixDiagMsg({}), done(i32(ENOENT))]))).toBe(ENOENT);
    expect(p(error(ENOENT))).toBe(ENOENT);
    expect(p(unixDiagMsg({}).subarray(0, 20))).toBe(EBADMSG);
    expect(p(nlmsg(SOCK_DIAG_BY_FAMILY, Buffer.alloc(8)))).toBe(EBADMSG);
    expect(
      p(Buffer.concat([unixDiagMsg({}), done(i32(0), 7, NLM_F_MULTI | NLM_F_DUMP_INTR)])),
    ).toBe(EAGAIN);
    expect(testing.parseUnixDiag(Buffer.concat([unixDiagMsg({}), done()]), 8)).toEqual({
      status: MORE,
      sockets: [],
    });
    // A short VFS attribute is ignored.
    const short = testing.parseUnixDiag(
      unixDiagMsg({attrs: [nlattr(UNIX_DIAG_VFS, Buffer.from([1, 2, 3]))]}),
      7,
    );
    expect(short.sockets[0]).not.toHaveProperty('vfsIno');
  });

  it('survives 10 000 random buffers', () => {
    let seed = 12_345;
    const random = () => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return seed / 2 ** 32;
    };

    const template = Buffer.concat([
      unixDiagMsg({attrs: [nlattr(UNIX_DIAG_NAME, Buffer.from('/x\0')), vfs(1, 2)]}),
      done(),
    ]);
    for (let i = 0; i < 10_000; i++) {
      const buf = Buffer.from(template.subarray(0, Math.floor(random() * (template.length + 1))));
      for (let k = 0; k < 3 && buf.length > 0; k++) {
        buf[Math.floor(random() * buf.length)] = Math.floor(random() * 256);
      }

      const result = testing.parseUnixDiag(buf, 7);
      expect(result.status).toBeLessThanOrEqual(1);
      expect(Array.isArray(result.sockets)).toBe(true);
    }
  });
});

describe('parseDumpEnd (reading an interrupted dump to its end)', () => {
  const intr = NLM_F_MULTI | NLM_F_DUMP_INTR;
  it('finds NLMSG_DONE or NLMSG_ERROR of the dump, whatever its flags', () => {
    expect(testing.parseDumpEnd(Buffer.concat([record({}, {flags: intr}), record()]), 7)).toBe(
      MORE,
    );
    expect(testing.parseDumpEnd(Buffer.concat([record(), done(i32(0), 7, intr)]), 7)).toBe(DONE);
    expect(testing.parseDumpEnd(Buffer.concat([record(), error(EINVAL)]), 7)).toBe(DONE);
    expect(testing.parseDumpEnd(done(i32(0), 6), 7)).toBe(MORE);
    expect(testing.parseDumpEnd(Buffer.alloc(0), 7)).toBe(MORE);
    expect(testing.parseDumpEnd(record().subarray(0, 30), 7)).toBe(EBADMSG);
  });
});

function statLine(comm: string, fields: {state?: string; ppid?: number; start?: number} = {}) {
  // Fields 3.. of /proc/PID/stat; field 22 (index 19 after the state) is starttime.
  const rest = [
    fields.state ?? 'S',
    String(fields.ppid ?? 1),
    '123',
    '123',
    '0',
    '-1',
    '4194560',
    '100',
    '0',
    '0',
    '0',
    '1',
    '2',
    '0',
    '0',
    '20',
    '0',
    '1',
    '0',
    String(fields.start ?? 98_765),
    '1000000',
    '200',
  ];
  return `123 (${comm}) ${rest.join(' ')}\n`;
}

describe('parseProcStat', () => {
  const parse = (text: string) => testing.parseProcStat(Buffer.from(text));

  it('reads comm, state, ppid and the start time', () => {
    expect(parse(statLine('node', {state: 'R', ppid: 42, start: 123_456}))).toEqual({
      comm: 'node',
      state: 'R',
      ppid: 42,
      startTime: 123_456,
    });
  });

  it('reads a comm with spaces and parentheses after the last )', () => {
    expect(parse(statLine('a) b) c', {ppid: 7}))).toMatchObject({comm: 'a) b) c', ppid: 7});
    expect(parse(statLine('x) S 99 9', {state: 'R', ppid: 5}))).toMatchObject({
      comm: 'x) S 99 9',
      state: 'R',
      ppid: 5,
      startTime: 98_765,
    });
    expect(parse(statLine('(sd-pam)'))).toMatchObject({comm: '(sd-pam)'});
    expect(parse(statLine(''))).toMatchObject({comm: ''});
    expect(parse(statLine('tab\tnew\nline'))).toMatchObject({comm: 'tab\tnew\nline'});
  });

  it('reads a start time beyond 2^32 ticks', () => {
    expect(parse(statLine('n', {start: 2 ** 40}))!.startTime).toBe(2 ** 40);
  });

  it('returns undefined for truncated or garbled lines', () => {
    const full = statLine('a) b) c');
    const startAt = full.indexOf(' 98765');
    for (const cut of [0, 5, 10, full.indexOf(')') + 1, full.indexOf(')') + 3, startAt]) {
      expect(parse(full.slice(0, cut)), `cut at ${cut}`).toBeUndefined();
    }

    expect(parse('123 node S 1 2 3')).toBeUndefined(); // no parentheses
    expect(parse('123 (node S 1 2 3')).toBeUndefined(); // no )
    expect(parse(statLine('n', {state: 'SS'}))).toBeUndefined();
    expect(parse(statLine('n').replace(' 1 123 ', ' x 123 '))).toBeUndefined(); // ppid
    expect(parse(statLine('n').replace('98765', '98765x'))).toBeUndefined(); // starttime
    expect(parse(statLine('n').replace('98765', '-5'))).toBeUndefined();
  });

  it('agrees with the real /proc/self/stat and processInfo()', () => {
    const parsed = testing.parseProcStat(readFileSync('/proc/self/stat'));
    expect(parsed).toMatchObject({ppid: process.ppid});
    expect(parsed!.startTime).toBe(b.processInfo(process.pid)!.startTime);
  });

  it('survives random bytes', () => {
    for (let i = 0; i < 2000; i++) {
      const buf = Buffer.from(statLine('a) b').slice(0, i % 90));
      buf[i % Math.max(buf.length, 1)] = (i * 37) & 0xff;
      const result = testing.parseProcStat(buf);
      if (result !== undefined) {
        expect(result.state).toHaveLength(1);
      }
    }
  });
});

describe('the addon in worker threads', () => {
  it('loads and probes inside several workers at once, and keeps working here after they exit', async () => {
    const l = await startListener({host: '127.0.0.1'});
    const code = `
      const {createRequire} = require('node:module');
      const {parentPort, workerData} = require('node:worker_threads');
      const req = createRequire(workerData.root + '/package.json');
      const b = req('node-gyp-build')(workerData.root);
      const sockets = b.inetDump(workerData.port, 1, 1 << 10);
      const owners = b.findOwners(sockets.map((s) => s.inode), [], [], false);
      parentPort.postMessage({sockets, owners, bootId: b.bootId()});
    `;
    const runWorker = async () =>
      new Promise<{
        sockets: Array<{inode: number; localAddress: string}>;
        owners: {holders: number[][]};
        bootId: string;
      }>((resolve, reject) => {
        const worker = new Worker(code, {
          eval: true,
          workerData: {root: packageRoot, port: l.port},
        });
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (exitCode) => reject(new Error(`worker exited with ${exitCode}`)));
      });
    const results = await Promise.all([runWorker(), runWorker(), runWorker()]);
    for (const result of results) {
      expect(result.sockets).toHaveLength(1);
      expect(result.sockets[0]!.localAddress).toBe('127.0.0.1');
      expect(result.owners.holders).toEqual([[l.pid]]);
      expect(result.bootId).toBe(b.bootId());
    }

    // Workers loading and unloading the addon left this environment's instance intact.
    await runWorker();
    expect(b.inetDump(l.port, 1, 1 << 10).map((s) => s.inode)).toEqual([
      results[0]!.sockets[0]!.inode,
    ]);
  });

  it('imports the built package in a worker', async () => {
    const l = await startListener({host: '127.0.0.1'});
    const entry = pathToFileURL(path.join(packageRoot, 'dist', 'index.js')).href;
    const code = `
      import {parentPort, workerData} from 'node:worker_threads';
      const {probePortSync, checkPort} = await import(workerData.entry);
      const report = probePortSync(workerData.port);
      const status = await checkPort(workerData.port);
      parentPort.postMessage({backend: report.backend, pids: report.sockets.map((s) => s.owner.processes.map((p) => p.pid)), status: status.status});
    `;
    const result = await new Promise<{backend: string; pids: number[][]; status: string}>(
      (resolve, reject) => {
        const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), {
          workerData: {entry, port: l.port},
        });
        worker.once('message', resolve);
        worker.once('error', reject);
      },
    );
    expect(result).toEqual({backend: 'native', pids: [[l.pid]], status: 'busy'});
  });
});

describe('direct calls with bad arguments', () => {
  // [call, the guard's error class, the message: function, argument and the value shown]
  const T = TypeError;
  const R = RangeError;
  const bad: Array<[string, () => unknown, typeof TypeError | typeof RangeError, string]> = [
    [
      'inetDump()',
      () => (b.inetDump as Function)(),
      T,
      'inetDump: expected port to be an integer between 1 and 65535, got undefined',
    ],
    [
      "inetDump('80', 1, 1)",
      () => b.inetDump('80' as never, 1, 1),
      T,
      "expected port to be an integer between 1 and 65535, got '80'",
    ],
    [
      'inetDump(0, 1, 1)',
      () => b.inetDump(0, 1, 1),
      R,
      'expected port to be an integer between 1 and 65535, got 0',
    ],
    ['inetDump(65536, 1, 1)', () => b.inetDump(65_536, 1, 1), R, 'got 65536'],
    ['inetDump(-1, 1, 1)', () => b.inetDump(-1, 1, 1), R, 'got -1'],
    ['inetDump(NaN, 1, 1)', () => b.inetDump(Number.NaN, 1, 1), R, 'got NaN'],
    ['inetDump(80.5, 1, 1)', () => b.inetDump(80.5, 1, 1), R, 'got 80.5'],
    [
      'inetDump(80, 4, 1)',
      () => b.inetDump(80, 4, 1),
      R,
      'expected protocols to be an integer between 0 and 3, got 4',
    ],
    [
      'inetDump(80, 1, -1)',
      () => b.inetDump(80, 1, -1),
      R,
      'expected tcpStates to be an integer between 0 and 4294967295, got -1',
    ],
    ['inetDump(80, 1, 2**32)', () => b.inetDump(80, 1, 2 ** 32), R, 'got 4294967296'],
    [
      'inetDump({}, [], null)',
      () => b.inetDump({} as never, [] as never, null as never),
      T,
      'got an object',
    ],
    [
      'unixDump()',
      () => (b.unixDump as Function)(),
      T,
      'unixDump: expected path to be a string of 1 to 107 bytes without NUL, got undefined',
    ],
    ['unixDump(1)', () => b.unixDump(1 as never), T, 'got 1'],
    ["unixDump('')", () => b.unixDump(''), R, "got ''"],
    [
      'unixDump(200 bytes)',
      () => b.unixDump('/tmp/' + 'a'.repeat(200)),
      R,
      "got '/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'...",
    ],
    ["unixDump('a\\0b')", () => b.unixDump('/tmp/a\0b'), R, "got '/tmp/a\\x00b'"],
    [
      'findOwners()',
      () => (b.findOwners as Function)(),
      T,
      'findOwners: expected inodes to be an array of at most 1048576 elements, got undefined',
    ],
    ['findOwners(1, [], [], false)', () => b.findOwners(1 as never, [], [], false), T, 'got 1'],
    [
      "findOwners(['1'], [], [], false)",
      () => b.findOwners(['1'] as never, [], [], false),
      T,
      "expected inodes[0] to be an integer between 0 and 9007199254740991, got '1'",
    ],
    ['findOwners([-1], [], [], false)', () => b.findOwners([-1], [], [], false), R, 'inodes[0]'],
    [
      'findOwners([NaN], [], [], false)',
      () => b.findOwners([Number.NaN], [], [], false),
      R,
      'got NaN',
    ],
    ['findOwners([1.5], [], [], false)', () => b.findOwners([1.5], [], [], false), R, 'got 1.5'],
    [
      'findOwners([2**53], [], [], false)',
      () => b.findOwners([2 ** 53], [], [], false),
      R,
      'got 9007199254740992',
    ],
    [
      'findOwners([1], [2**31], [], false)',
      () => b.findOwners([1], [2 ** 31], [], false),
      R,
      'expected candidates[0] to be an integer between 0 and 2147483647, got 2147483648',
    ],
    [
      'findOwners([1], [], [2**32], false)',
      () => b.findOwners([1], [], [2 ** 32], false),
      R,
      'expected uids[0] to be',
    ],
    [
      'findOwners([1], [], [], 1)',
      () => b.findOwners([1], [], [], 1 as never),
      T,
      'expected stopWhenResolved to be a boolean, got 1',
    ],
    ['findOwners([1], [], [])', () => (b.findOwners as Function)([1], [], []), T, 'got undefined'],
    ['findOwners([{}], ...)', () => b.findOwners([{}] as never, [], [], false), T, 'got an object'],
    [
      'findOwners(sparse, ...)',
      () => b.findOwners(Array.from({length: 3}) as never, [], [], false),
      T,
      'expected inodes[0] to be',
    ],
    [
      'findOwners(2^20+1 inodes)',
      () => b.findOwners(new Array<number>(2 ** 20 + 1).fill(1), [], [], false),
      R,
      'got an array of length 1048577',
    ],
    [
      'findOwnersAsync(null, ...)',
      () => b.findOwnersAsync(null as never, [], [], false),
      T,
      'findOwnersAsync: expected inodes to be an array of at most 1048576 elements, got null',
    ],
    [
      'findOwnersAsync([1], [0.5], ...)',
      () => b.findOwnersAsync([1], [0.5], [], false),
      R,
      'got 0.5',
    ],
    [
      'processInfo()',
      () => (b.processInfo as Function)(),
      T,
      'processInfo: expected pid to be an integer between 1 and 2147483647, got undefined',
    ],
    ['processInfo(0)', () => b.processInfo(0), R, 'got 0'],
    ['processInfo(-1)', () => b.processInfo(-1), R, 'got -1'],
    ["processInfo('1')", () => b.processInfo('1' as never), T, "got '1'"],
    ['processInfo(2**31)', () => b.processInfo(2 ** 31), R, 'got 2147483648'],
    ['processInfo(Infinity)', () => b.processInfo(Number.POSITIVE_INFINITY), R, 'got Infinity'],
    [
      "parseInetDiag('x', 1, 1)",
      () => testing.parseInetDiag('x' as never, 1, 1),
      T,
      "parseInetDiag: expected buf to be a Uint8Array, got 'x'",
    ],
    [
      'parseInetDiag(buf, -1, 1)',
      () => testing.parseInetDiag(Buffer.alloc(4), -1, 1),
      R,
      'expected seq to be an integer between 0 and 4294967295, got -1',
    ],
    [
      'parseInetDiag(buf, 1, 65536)',
      () => testing.parseInetDiag(Buffer.alloc(4), 1, 65_536),
      R,
      'got 65536',
    ],
    [
      'parseInetDiag(buf)',
      () => (testing.parseInetDiag as Function)(Buffer.alloc(4)),
      T,
      'expected seq to be',
    ],
    [
      'parseUnixDiag([], 1)',
      () => testing.parseUnixDiag([] as never, 1),
      T,
      'got an array of length 0',
    ],
    ['parseProcStat(null)', () => testing.parseProcStat(null as never), T, 'got null'],
    [
      'parseDumpEnd(buf, NaN)',
      () => testing.parseDumpEnd(Buffer.alloc(4), Number.NaN),
      R,
      'got NaN',
    ],
  ];
  for (const [what, call, ErrorClass, message] of bad) {
    it(`${what} throws a ${ErrorClass.name} naming the argument and the value`, () => {
      expect(call).toThrow(ErrorClass);
      expect(call).toThrow(message);
      expect(call).toThrow(
        expect.objectContaining({
          code: ErrorClass === T ? 'ERR_INVALID_ARG_TYPE' : 'ERR_OUT_OF_RANGE',
        }),
      );
    });
  }

  it('takes a Uint8Array as a buffer and refuses other views with a TypeError', () => {
    expect(testing.parseInetDiag(new Uint8Array(0), 7, 0)).toEqual({status: MORE, sockets: []});
    const view = new Uint8Array(record().buffer.slice(0), 0, 40); // a view shorter than its buffer
    expect(testing.parseInetDiag(view, 7, 0).status).toBe(EBADMSG);
    const dataView = new DataView(new ArrayBuffer(8));
    expect(() => testing.parseProcStat(dataView as never)).toThrow(TypeError);
    expect(() => testing.parseInetDiag(dataView as never, 7, 0)).toThrow(TypeError);
    expect(() => testing.parseUnixDiag(new Float64Array(4) as never, 7)).toThrow(TypeError);
    expect(() => testing.parseDumpEnd(new Uint16Array(8) as never, 7)).toThrow(TypeError);
  });

  it('a getter that throws inside an argument array propagates its error without crashing', () => {
    // Run in a child: before the fix this aborted the process (napi_throw with a pending exception).
    const script = `
      const {createRequire} = require('node:module');
      const req = createRequire(${JSON.stringify(packageRoot + '/package.json')});
      const b = req('node-gyp-build')(${JSON.stringify(packageRoot)});
      const evil = [1];
      Object.defineProperty(evil, 0, {get() { throw new RangeError('boom from getter'); }});
      const seen = [];
      for (const call of [
        () => b.findOwners(evil, [], [], false),
        () => b.findOwners([1], evil, [], false),
        () => b.findOwners([1], [], evil, false),
        () => b.findOwnersAsync(evil, [], [], true),
      ]) {
        try { call(); seen.push('no throw'); } catch (e) { seen.push(e.name + ': ' + e.message); }
      }
      seen.push(JSON.stringify(b.inetDump(1, 1, 1024)));
      console.log(JSON.stringify(seen));
    `;
    const child = spawnSync(process.execPath, ['-e', script], {encoding: 'utf8', timeout: 20_000});
    expect(child.signal).toBeNull();
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual([
      'RangeError: boom from getter',
      'RangeError: boom from getter',
      'RangeError: boom from getter',
      'RangeError: boom from getter',
      '[]',
    ]);
  });

  it('scans many candidate pids in linear time', () => {
    // 300 000 distinct pids that do not exist; the dedup used to be quadratic (minutes).
    const candidates = Array.from({length: 300_000}, (_, i) => 4_000_000 + i);
    const started = Date.now();
    const scan = b.findOwners([1], candidates, [], false);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(scan.holders).toEqual([[]]);
    expect(scan.scanned).toBeGreaterThan(0); // the /proc walk ran after the candidates
  });

  it('stops at the candidate when it holds every socket', async () => {
    const l = await startListener({host: '127.0.0.1'});
    const [socket] = b.inetDump(l.port, 1, 1 << 10);
    const bounded = b.findOwners([socket!.inode], [l.pid], [socket!.uid], true);
    expect(bounded).toEqual({holders: [[l.pid]], denied: 0, scanned: 1});
    const full = b.findOwners([socket!.inode], [l.pid], [socket!.uid], false);
    expect(full.holders).toEqual([[l.pid]]);
    expect(full.scanned).toBeGreaterThan(1);
    const asyncBounded = await b.findOwnersAsync([socket!.inode], [l.pid], [], true);
    expect(asyncBounded).toEqual(bounded);
  });
});
