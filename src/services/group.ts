/*
Stops what a start command that did not prove itself left running: its process group. The
command is spawned detached, so it leads a new session and process group whose id is its pid.

Identity: the kernel never hands out a pid while a process group of that number still has
members, so the group is the one we started exactly while either our child, its leader, has
not been reaped yet (node has not reported its exit: the pid is still ours, zombie or not),
or no process with that pid exists (the leader is gone and only members of its group remain).
A process that holds the pid after the leader was reaped is another process, and then nothing
is signalled. Processes that left the group (a daemon that called setsid) are not reached.
*/
import type {ChildProcess} from 'node:child_process';
import {msNow} from '../clock.js';
import {nativeBinding} from '../native.js';
import {sleep} from '../steps.js';

export type GroupStop = {
  /** What happened, for messages: `process group 4711 stopped by SIGTERM`. */
  readonly detail: string;
  /** The group had no member left when we looked, or every member is gone now. */
  readonly gone: boolean;
};

/** Whether the process group `pgid` has members (zombies included); false on ESRCH. */
function hasMembers(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Whether `pgid` still names the group led by `leader` (see the identity rule above). */
function isOurs(leader: ChildProcess, pgid: number): boolean {
  if (leader.exitCode === null && leader.signalCode === null) {
    return true;
  }

  const b = nativeBinding();
  if (b !== undefined) {
    return b.processInfo(pgid) === undefined;
  }

  try {
    process.kill(pgid, 0);
    return false; // A process has the pid: not our reaped leader.
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Polls until the group has no member left or `ms` pass; returns whether it is gone. */
async function waitEmpty(pgid: number, ms: number): Promise<boolean> {
  const deadline = msNow() + ms;
  let pause = 5;
  for (;;) {
    if (!hasMembers(pgid)) {
      return true;
    }

    const left = deadline - msNow();
    if (left <= 0) {
      return false;
    }

    await sleep(Math.min(pause, left));
    pause = Math.min(pause * 2, 50);
  }
}

/** Sends `signal` to the group while it is ours; false when it is not (nothing sent). */
function signalGroup(leader: ChildProcess, pgid: number, signal: NodeJS.Signals): boolean {
  if (!isOurs(leader, pgid)) {
    return false;
  }

  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') {
      return true; // Emptied meanwhile.
    }

    throw error;
  }
}

/**
SIGTERM to the process group led by `leader`, SIGKILL after `forceAfter` ms (`false`: never;
the wait then lasts `timeout`). Never throws: a failure is described in `detail`.
*/
export async function stopGroup(
  leader: ChildProcess,
  pgid: number,
  options: {forceAfter: number | false; timeout: number},
): Promise<GroupStop> {
  const name = `process group ${pgid}`;
  try {
    if (!hasMembers(pgid)) {
      return {detail: `${name} had already exited`, gone: true};
    }

    if (!signalGroup(leader, pgid, 'SIGTERM')) {
      return {detail: `${name} not signalled (its pid now names another process)`, gone: false};
    }

    const grace = options.forceAfter === false ? options.timeout : options.forceAfter;
    if (await waitEmpty(pgid, grace)) {
      return {detail: `${name} stopped by SIGTERM`, gone: true};
    }

    if (options.forceAfter === false) {
      return {detail: `${name} still running ${grace} ms after SIGTERM`, gone: false};
    }

    if (!signalGroup(leader, pgid, 'SIGKILL')) {
      return {detail: `${name} left the group's pid to another process`, gone: false};
    }

    return (await waitEmpty(pgid, 2000))
      ? {detail: `${name} killed by SIGKILL ${grace} ms after SIGTERM`, gone: true}
      : {detail: `${name} still has members 2000 ms after SIGKILL`, gone: false};
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return {detail: `${name} could not be stopped (${code})`, gone: false};
  }
}
