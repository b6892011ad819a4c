import {describe, expect, it} from 'vitest';
import {canonicalAddress, overlapsHost} from '../src/address.js';
import type {SocketEntry} from '../src/types.js';

function entry(
  localAddress: string,
  options: {family?: 4 | 6; v6only?: boolean} = {},
): SocketEntry {
  const family = options.family ?? (localAddress.includes(':') ? 6 : 4);
  const base: SocketEntry = {
    protocol: 'tcp',
    family,
    state: 'LISTEN',
    localAddress,
    localPort: 8080,
    remoteAddress: family === 6 ? '::' : '0.0.0.0',
    remotePort: 0,
    uid: 0,
    inode: 1,
  };
  return options.v6only === undefined ? base : {...base, v6only: options.v6only};
}

// Sockets a listener can hold, named as in the table below.
const sockets = {
  'v4 any': entry('0.0.0.0'),
  'v4 loopback': entry('127.0.0.1'),
  'v4 other': entry('10.1.2.3'),
  'v6 any dual': entry('::', {v6only: false}),
  'v6 any v6only': entry('::', {v6only: true}),
  'v6 any unknown': entry('::'),
  'v6 loopback': entry('::1', {v6only: false}),
  'v6 other': entry('fe80::1', {v6only: false}),
  // A connected UDP socket: the kernel does not report V6ONLY (bound to `::`, it is not).
  'v6 loopback unknown': entry('::1'),
  // An IPv4 peer of a dual-stack socket: family 6, address already normalised to IPv4.
  'v4-mapped loopback': entry('127.0.0.1', {family: 6}),
};
type SocketName = keyof typeof sockets;

// host → the sockets it overlaps; every other socket must not overlap.
const table: Array<[host: string | undefined, overlaps: SocketName[] | 'all']> = [
  [undefined, 'all'],
  ['::', 'all'],
  ['::0', 'all'],
  ['0:0:0:0:0:0:0:0', 'all'],
  // An IPv4 wildcard conflicts with every IPv6 socket without V6ONLY, whatever its address.
  [
    '0.0.0.0',
    [
      'v4 any',
      'v4 loopback',
      'v4 other',
      'v6 any dual',
      'v6 any unknown',
      'v6 loopback',
      'v6 other',
      'v6 loopback unknown',
      'v4-mapped loopback',
    ],
  ],
  ['127.0.0.1', ['v4 any', 'v4 loopback', 'v6 any dual', 'v6 any unknown', 'v4-mapped loopback']],
  ['10.1.2.3', ['v4 any', 'v4 other', 'v6 any dual', 'v6 any unknown']],
  ['192.168.7.7', ['v4 any', 'v6 any dual', 'v6 any unknown']],
  [
    '::ffff:127.0.0.1',
    ['v4 any', 'v4 loopback', 'v6 any dual', 'v6 any unknown', 'v4-mapped loopback'],
  ],
  ['::1', ['v6 any dual', 'v6 any v6only', 'v6 any unknown', 'v6 loopback', 'v6 loopback unknown']],
  [
    '0:0:0:0:0:0:0:1',
    ['v6 any dual', 'v6 any v6only', 'v6 any unknown', 'v6 loopback', 'v6 loopback unknown'],
  ],
  ['fe80::1', ['v6 any dual', 'v6 any v6only', 'v6 any unknown', 'v6 other']],
  ['FE80:0::1', ['v6 any dual', 'v6 any v6only', 'v6 any unknown', 'v6 other']],
  ['fe80::1%lo', ['v6 any dual', 'v6 any v6only', 'v6 any unknown', 'v6 other']],
  ['2001:db8::5', ['v6 any dual', 'v6 any v6only', 'v6 any unknown']],
];

describe('overlapsHost', () => {
  const names = Object.keys(sockets) as SocketName[];
  for (const [host, overlaps] of table) {
    for (const name of names) {
      const expected = overlaps === 'all' || overlaps.includes(name);
      it(`host ${String(host)} ${expected ? 'overlaps' : 'does not overlap'} ${name}`, () => {
        expect(overlapsHost(sockets[name], host)).toBe(expected);
      });
    }
  }

  it('reads entries whose address is not in canonical form', () => {
    expect(overlapsHost(entry('0:0:0:0:0:0:0:0', {v6only: true}), '::1')).toBe(true);
    expect(overlapsHost(entry('0:0:0:0:0:0:0:0', {v6only: false}), '127.0.0.1')).toBe(true);
    expect(overlapsHost(entry('::ffff:127.0.0.1', {family: 6}), '127.0.0.1')).toBe(true);
    expect(overlapsHost(entry('0:0::1', {v6only: false}), '::1')).toBe(true);
    expect(overlapsHost(entry('0:0::1', {v6only: false}), '::2')).toBe(false);
  });
});

describe('canonicalAddress', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['::', '::'],
    ['0::0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['FE80::A', 'fe80::a'],
    ['fe80::a%eth0', 'fe80::a'],
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['::FFFF:a00:1', '10.0.0.1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
  ])('%s → %s', (input, output) => {
    expect(canonicalAddress(input)).toBe(output);
  });
});
