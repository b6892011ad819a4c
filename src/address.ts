import {builtin} from './builtin.js';

const isIPv4 = (text: string) => builtin.net().isIPv4(text);
const isIPv6 = (text: string) => builtin.net().isIPv6(text);
import type {SocketEntry} from './types.js';

const WILDCARD_V4 = '0.0.0.0';
const WILDCARD_V6 = '::';

/**
The canonical text of an address, so that equal addresses compare equal as strings:
IPv6 in inet_ntop form without a zone (`0:0::1` → `::1`, `FE80::1%lo` → `fe80::1`), and
IPv4-mapped IPv6 as IPv4 (`::ffff:127.0.0.1` → `127.0.0.1`, which binds like it).
*/
export function canonicalAddress(address: string): string {
  if (isIPv4(address) || !isIPv6(address)) {
    return address;
  }

  let text: string;
  try {
    text = new (builtin.net().SocketAddress)({address: address.replace(/%.*$/, ''), family: 'ipv6'})
      .address;
  } catch {
    return address.toLowerCase();
  }

  return text.startsWith('::ffff:') && isIPv4(text.slice(7)) ? text.slice(7) : text;
}

/**
Would a listen on `host` conflict with this socket's local address? Follows Linux bind
rules: equal addresses conflict; a wildcard conflicts with every address of its family;
a `::` socket without V6ONLY (Node's default) also covers IPv4, in both directions, and an
IPv4 wildcard conflicts with any IPv6 socket without V6ONLY.
No host means "any address": everything overlaps. Unknown `v6only` counts as dual-stack.
Addresses are compared in canonical form (see `canonicalAddress`).
*/
export function overlapsHost(entry: SocketEntry, host: string | undefined): boolean {
  if (host === undefined) {
    return true;
  }

  const wanted = canonicalAddress(host);
  if (wanted === WILDCARD_V6) {
    return true; // A dual-stack `::` listen conflicts with every bound address.
  }

  const local = canonicalAddress(entry.localAddress);
  if (local === wanted) {
    return true;
  }

  // Linux compares an IPv4 bind with the IPv4 side of every IPv6 socket without V6ONLY
  // (ipv4_rcv_saddr_equal): a `::` socket covers every IPv4 address, and an IPv4 wildcard
  // bind conflicts with such a socket whatever its IPv6 address. A socket bound to a
  // specific IPv6 address is always V6ONLY (inet6_bind sets it); the kernel reports V6ONLY
  // only for LISTEN and unconnected sockets, so a connected UDP socket bound to `::` (its
  // address then reads as the one it connected from) counts as dual-stack.
  const notV6only = entry.family === 6 && entry.v6only !== true;
  const entryDualStack = notV6only && local === WILDCARD_V6;
  if (isIPv4(wanted)) {
    // Sockets on IPv4 addresses (including v4-mapped addresses of IPv6 sockets).
    if (wanted === WILDCARD_V4) {
      return isIPv4(local) || notV6only;
    }

    return local === WILDCARD_V4 || entryDualStack;
  }

  // A specific IPv6 host.
  return local === WILDCARD_V6;
}
