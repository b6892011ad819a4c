// Port numbers for test sockets. A port the kernel picks (bind to 0) lies in its ephemeral
// range, and once the test's socket is gone any connect(2) on the machine may take the same
// number as its local port, leaving a foreign ESTABLISHED or TIME_WAIT socket where a test
// expects a free port (a UDP test's "TCP on the same number is free", a restart's rebind).
// The kernel never picks a port outside that range on its own, so test ports come from
// below it: each vitest worker (VITEST_POOL_ID) has its own window, and a port is handed out
// only while /proc/net (macOS: netstat) shows no TCP or UDP socket, of any state or
// address, on it. macOS has no /proc: sysctl and netstat answer there instead.
import {execFileSync} from 'node:child_process';
import {readFileSync} from 'node:fs';

const WINDOW = 1000;
const TABLES = ['tcp', 'tcp6', 'udp', 'udp6'].map((t) => `/proc/net/${t}`);

function ephemeralLow(): number {
  if (process.platform === 'darwin') {
    return Number(
      execFileSync('sysctl', ['-n', 'net.inet.ip.portrange.first'], {encoding: 'utf8'}),
    );
  }

  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
  return Number(low);
}

/** macOS: local ports from `netstat -an` ("tcp4  0  0  127.0.0.1.8080  *.*  LISTEN"). */
function darwinPortsInUse(): Set<number> {
  const used = new Set<number>();
  const out = execFileSync('netstat', ['-an'], {encoding: 'utf8'});
  for (const line of out.split('\n')) {
    const local = /^(?:tcp|udp)\S*\s+\d+\s+\d+\s+(\S+)/.exec(line)?.[1];
    const port = local === undefined ? Number.NaN : Number(local.slice(local.lastIndexOf('.') + 1));
    if (Number.isInteger(port)) {
      used.add(port);
    }
  }

  return used;
}

/** Local ports of every TCP and UDP socket in this network namespace. */
function portsInUse(): Set<number> {
  if (process.platform === 'darwin') {
    return darwinPortsInUse();
  }

  const used = new Set<number>();
  for (const table of TABLES) {
    const lines = readFileSync(table, 'utf8').split('\n').slice(1);
    for (const line of lines) {
      const local = line.trim().split(/\s+/)[1]; // "0100007F:1F90"
      if (local !== undefined) {
        used.add(Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16));
      }
    }
  }

  return used;
}

const pool = Number(process.env.VITEST_POOL_ID ?? '1');
// PORTWARDEN_TEST_PORT_TOP moves the windows down, for two test runs on one machine at once
// (each with its own value); the default is the bottom of the ephemeral range.
const ephemeral = Number(process.env.PORTWARDEN_TEST_PORT_TOP ?? ephemeralLow());
const windowTop = ephemeral - WINDOW * ((pool - 1) % 8);
const windowBottom = windowTop - WINDOW;
if (windowBottom < 1024) {
  throw new Error(
    `the ephemeral port range starts at ${ephemeral}: no room below it for test ports`,
  );
}

// Ports are handed out round the window, so one is handed out again only after all the
// others (a caller may not have bound it yet), from a random start, so that the test files a
// worker runs one after another do not all begin where the previous one did.
let next = windowBottom + Math.floor(Math.random() * WINDOW);

/** A TCP and UDP port outside the kernel's ephemeral range with no socket on it right now. */
export function testPort(): number {
  const used = portsInUse();
  for (let tries = 0; tries < WINDOW; tries++) {
    const port = next;
    next = next + 1 < windowTop ? next + 1 : windowBottom;
    if (!used.has(port)) {
      return port;
    }
  }

  throw new Error(`no free test port in ${windowBottom}-${windowTop - 1}`);
}
