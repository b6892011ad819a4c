import {builtin} from '../builtin.js';
import {blockersOf, probePort} from '../probe.js';
import type {ProcessInfo, SocketEntry} from '../types.js';

const {readFileSync} = builtin.fs();

/**
Listening sockets on the port that overlap `host`, with owners (candidates scanned first).
Rejects with `signal.reason` when the service call is aborted.
*/
export async function listeners(
  port: number,
  host: string | undefined,
  candidates: readonly number[],
  signal: AbortSignal | undefined,
): Promise<SocketEntry[]> {
  const report = await probePort(port, {
    states: 'listen',
    owners: true,
    candidates: candidates.filter((pid) => pid > 0),
    signal,
  });
  return blockersOf(report.sockets, host, 'listen');
}

export function ownersOf(entry: SocketEntry): readonly ProcessInfo[] {
  return entry.owner?.status === 'found' ? entry.owner.processes : [];
}

/** A listener held by `manager` alone: a socket unit's (systemd) or a job's `Sockets` (launchd). */
export function heldOnlyBy(entry: SocketEntry, manager: number | undefined): boolean {
  const owners = ownersOf(entry);
  return manager !== undefined && owners.length > 0 && owners.every((p) => p.pid === manager);
}

/**
The pids of a cgroup (systemd's `ControlGroup`, such as `/user.slice/.../web.service`),
from the unified hierarchy or the v1 `name=systemd` one; undefined when not readable here.
*/
export function cgroupPids(controlGroup: string): Set<number> | undefined {
  if (controlGroup === '' || !controlGroup.startsWith('/') || controlGroup.includes('..')) {
    return undefined;
  }

  for (const root of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd']) {
    let text: string;
    try {
      text = readFileSync(`${root}${controlGroup}/cgroup.procs`, 'utf8');
    } catch {
      continue;
    }

    return new Set(
      text
        .split('\n')
        .filter((line) => line !== '')
        .map(Number),
    );
  }

  return undefined;
}

/** The pid a PID file names (its first integer: plain pid files and portwarden's), or undefined. */
export function pidFromFile(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }

  const match = /^\s*(\d+)/.exec(text);
  const pid = match ? Number(match[1]) : 0;
  return pid > 0 && pid <= 2_147_483_647 ? pid : undefined;
}
