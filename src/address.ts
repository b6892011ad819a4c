import {isIPv4} from 'node:net';
import type {SocketEntry} from './types.js';

const WILDCARD_V4 = '0.0.0.0';
const WILDCARD_V6 = '::';

/**
Would a listen on `host` conflict with this socket's local address? Follows Linux bind
rules: equal addresses conflict; a wildcard conflicts with every address of its family;
a `::` socket without V6ONLY (Node's default) also covers IPv4, in both directions.
No host means "any address": everything overlaps. Unknown `v6only` counts as dual-stack.
*/
export function overlapsHost(entry: SocketEntry, host: string | undefined): boolean {
  if (host === undefined || host === WILDCARD_V6) {
    return true; // A dual-stack `::` listen conflicts with every bound address.
  }

  const local = entry.localAddress;
  if (local === host) {
    return true;
  }

  const entryDualStack = entry.family === 6 && local === WILDCARD_V6 && entry.v6only !== true;
  if (isIPv4(host)) {
    // Sockets on IPv4 addresses (including v4-mapped addresses of IPv6 sockets).
    const entryIsV4 = isIPv4(local);
    if (host === WILDCARD_V4) {
      return entryIsV4 || entryDualStack;
    }

    return local === WILDCARD_V4 || entryDualStack;
  }

  // A specific IPv6 host.
  return local === WILDCARD_V6;
}
