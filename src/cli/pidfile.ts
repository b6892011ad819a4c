// pidfile read|claim|release <path>; exec is in pidfile-exec.ts.
import {claimPidFile, type PidFileHandle, readPidFile} from '../pidfile.js';
import {UsageError} from './args.js';
import {EXIT, type Io, report} from './output.js';
import type {PidfileFlags, Runner, Values} from './spec.js';

const ACTIONS = ['read', 'claim', 'release', 'exec'] as const;

/** --data as JSON (a usage error naming --data otherwise). */
export function dataOf(values: Values<PidfileFlags>): {data?: unknown} {
  if (values.data === undefined) {
    return {};
  }

  try {
    return {data: JSON.parse(values.data) as unknown};
  } catch (error) {
    throw new UsageError(
      `Expected --data to be JSON, got '${values.data}' (${(error as Error).message})`,
    );
  }
}

function read(file: string, values: Values<PidfileFlags>, io: Io): number {
  if (values.force || values.data !== undefined) {
    throw new UsageError(`${values.force ? '--force' : '--data'} does not apply to read`);
  }

  const info = readPidFile(file);
  if (info === undefined) {
    report(io, values, `${file}: no PID file`, {exists: false});
    return EXIT.no;
  }

  // Running: a live process holds the lock, or the unlocked file names a live process
  // (a daemon that writes its pid without locking). Either way the instance runs.
  const state = info.locked
    ? 'held (running)'
    : info.alive
      ? 'running (held by a foreign process, unlocked)'
      : info.pid === undefined
        ? 'unlocked, empty or not a PID file portwarden can read'
        : 'stale';
  report(io, values, `${file}: pid ${info.pid ?? '?'} ${state}`, {exists: true, ...info});
  return info.alive ? EXIT.ok : EXIT.no;
}

/** What a claim replaced, for the message: `held a stale record`, `forced: its pid 42 still runs`. */
function replaced(handle: PidFileHandle): {note: string | undefined; forced: boolean} {
  const {previous} = handle;
  if (!handle.tookOver) {
    return {note: undefined, forced: false};
  }

  if (previous?.pid === undefined) {
    return {note: 'forced: it was not a PID file portwarden can read', forced: true};
  }

  return previous.alive
    ? {note: `forced: its pid ${previous.pid} still runs`, forced: true}
    : {note: 'held a stale record', forced: false};
}

export const pidfile: Runner<PidfileFlags> = async ([action, file, ...commandLine], values, io) => {
  if (!(ACTIONS as readonly string[]).includes(action!)) {
    throw new UsageError(`Expected read, claim, release or exec, got '${action}'`);
  }

  if (action === 'read') {
    return read(file!, values, io);
  }

  if (action === 'exec') {
    return (await import('./pidfile-exec.js')).exec(file!, commandLine, values, io);
  }

  if (commandLine.length > 0) {
    throw new UsageError(`'pidfile ${action}' takes no command`);
  }

  // Held (a lock, or a live foreign pid) or unreadable: AlreadyRunningError/PidFileError, exit 1,
  // the file untouched. This process exits at once, so it cannot keep the lock: claim tests,
  // release clears.
  const handle = claimPidFile(file!, {...dataOf(values), force: values.force});
  handle.release();
  const {note, forced} = replaced(handle);
  report(
    io,
    values,
    action === 'claim'
      ? `${file}: free to claim${note ? ` (${note})` : ''}`
      : `${file}: ${handle.created ? 'no PID file' : forced ? `PID file removed (${note})` : 'stale PID file removed'}`,
    {
      path: handle.path,
      created: handle.created,
      tookOver: handle.tookOver,
      ...(handle.previous === undefined ? {} : {previous: handle.previous}),
    },
  );
  return EXIT.ok;
};
