import {requireNative} from './native.js';
import path from 'node:path';
import {AlreadyRunningError, PidFileError, pidFileError} from './errors.js';
import type {PidFileHolder} from './types.js';

export type {PidFileHolder} from './types.js';
import type {NativeBinding, RawPidFileRecord} from './native.js';
import {
  ArgumentRangeError,
  ArgumentTypeError,
  assertBoolean,
  assertPid,
  checkOptions,
  show,
  assertFilePath,
} from './validate.js';

/** What `readPidFile` reports (the same fields as `PidFileHolder`). */
export type PidFileInfo = PidFileHolder;

export type ClaimPidFileOptions = {
  /**
	Written as one line of JSON after the identity (at most 16 KiB), readable by others
	through `readPidFile(path).data`.
	@default undefined
	*/
  readonly data?: unknown;
  /**
	Take over an unlocked file that is not provably stale: one naming a live process that
	does not lock it (a foreign daemon's plain-pid file), or one this package cannot read
	(not empty, no pid). A locked file is never taken, even with `force`.
	@default false
	*/
  readonly force?: boolean;
};

export type PidFileHandle = {
  /** Absolute path of the PID file. */
  readonly path: string;
  readonly pid: number;
  readonly startTime: number;
  readonly bootId: string;
  /** The file did not exist. */
  readonly created: boolean;
  /**
	A previous record was replaced: a stale one left by a dead (or crashed) owner, or, with
	`force`, one naming a live process or unreadable contents.
	*/
  readonly tookOver: boolean;
  /** That record (`locked: false`; `alive` tells whether the process it names runs). */
  readonly previous: PidFileHolder | undefined;
  /** `release()` was called. */
  readonly released: boolean;
  /**
	The locked descriptor. A child process that inherits it (an extra `stdio` entry of
	`spawn`) shares the lock: the file stays locked until every process holding it has exited.
	*/
  readonly fd: number;
  /**
	Rewrites the record to name `pid`, a child that inherited `fd`, so that readers see the
	daemon rather than its launcher (`portwarden pidfile exec` does this). Keeps `data`.
	*/
  handOver(pid: number): void;
  /**
	Removes the file while still holding its lock (only if the path still names our file),
	then drops the lock. Idempotent. The lock is also dropped when the process dies.
	*/
  release(): void;
};

const MAX_DATA_BYTES = 16 * 1024;

function parseData(raw: string | undefined): unknown {
  if (raw === undefined) {
    return undefined;
  }

  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

function ownBootId(b: NativeBinding): string | undefined {
  try {
    return b.bootId();
  } catch {
    return undefined;
  }
}

/**
Whether the record names a live process: same pid, start time and boot id where recorded.
Errors other than "no such process" count as alive (never call a live process dead).
*/
export function recordAlive(
  b: NativeBinding,
  record: {pid?: number | undefined; startTime?: number | undefined; bootId?: string | undefined},
): boolean {
  if (record.pid === undefined) {
    return false;
  }

  const boot = ownBootId(b);
  if (record.bootId !== undefined && boot !== undefined && record.bootId !== boot) {
    return false;
  }

  let info;
  try {
    info = b.processInfo(record.pid);
  } catch {
    return true;
  }

  if (info === undefined || info.state === 'Z' || info.state === 'X') {
    return false;
  }

  return record.startTime === undefined || info.startTime === record.startTime;
}

function holderFrom(raw: RawPidFileRecord, alive: boolean, locked: boolean): PidFileHolder {
  return {
    pid: raw.pid,
    startTime: raw.startTime,
    bootId: raw.bootId,
    data: parseData(raw.data),
    alive,
    locked,
  };
}

function encodeData(data: unknown): string {
  if (data === undefined) {
    return '';
  }

  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (error) {
    throw new ArgumentTypeError(
      `Expected options.data to be JSON-serialisable, got ${show(data)}: ${(error as Error).message}`,
    );
  }

  if (json === undefined) {
    throw new ArgumentTypeError(`Expected options.data to be JSON-serialisable, got ${show(data)}`);
  }

  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_DATA_BYTES) {
    throw new ArgumentRangeError(
      `Expected options.data to serialise to at most ${MAX_DATA_BYTES} bytes of JSON, got ${bytes} bytes`,
    );
  }

  return json;
}

/**
Claims the PID file at `path` for this process, atomically: the file is locked with
`flock` before it is read, judged, truncated and written, and the lock is held until
`release()` or until the process dies (even by SIGKILL).

- A locked file throws `AlreadyRunningError` naming its holder (`locked: true`).
- An unlocked file is taken over only when it is stale: empty (a crash between create and
  write), or naming a process that is provably gone (no such pid, a zombie, or a recorded
  start time or boot id that does not match), or naming this very process.
- An unlocked file naming a live process (a daemon that writes its pid without locking)
  throws `AlreadyRunningError` with `holder.locked: false, alive: true`, and an unlocked
  file that is not empty but names no pid throws `PidFileError` `EBADMSG`. Both are left
  byte for byte as they were (mtime too) unless `force` is set.

Environment teardown (a worker thread or the process ending without `release()`) closes
the descriptor but never removes the file: a child that inherited it keeps it locked.

File format: `<pid>\n<startTime>\n<bootId>\n` and, with `data`, one line of JSON.

@throws {AlreadyRunningError} another live process holds the file (its lock, or an unlocked
file naming it).
@throws {PidFileError} `EAGAIN` when the holder has locked but not yet written the file;
`EBADMSG` for an unlocked file this package cannot read (without `force`); the errno code of
the failing call otherwise (`ENOENT`, `ENOTDIR`, `EISDIR`, `ELOOP` for a symlink, `EACCES`,
`ENAMETOOLONG`, `ENOLCK`/`EOPNOTSUPP` on filesystems without flock).
*/
export function claimPidFile(file: string, options?: ClaimPidFileOptions): PidFileHandle {
  assertFilePath(file);
  const {data, force = false} = checkOptions<ClaimPidFileOptions>(
    options,
    ['data', 'force'],
    'claimPidFile',
  );
  assertBoolean(force, 'options.force');
  const json = encodeData(data);
  const absolute = path.resolve(file);
  const b = requireNative('claimPidFile');
  let raw;
  try {
    raw = b.pidfileClaim(absolute, json, force);
  } catch (error) {
    throw pidFileError(error, absolute, 'claim PID file');
  }

  if ('held' in raw) {
    const holder = holderFrom(raw.held, true, raw.locked);
    const who =
      holder.pid === undefined ? 'a process (the file names no pid)' : `pid ${holder.pid}`;
    const how = raw.locked
      ? ''
      : ' (a process that does not lock it; left untouched; pass force: true to take it over)';
    throw new AlreadyRunningError(`PID file ${show(absolute)} is held by ${who}${how}`, {
      path: absolute,
      holder,
    });
  }

  const {fd} = raw;
  let released = false;
  const previous = raw.previous
    ? holderFrom(raw.previous, recordAlive(b, raw.previous), false)
    : undefined;
  return {
    path: absolute,
    pid: raw.pid,
    startTime: raw.startTime,
    bootId: raw.bootId,
    created: raw.created,
    tookOver: raw.tookOver,
    previous,
    get released() {
      return released;
    },
    fd,
    handOver(pid: number) {
      assertPid(pid);
      if (released) {
        throw new PidFileError(`PID file ${show(absolute)} was released`, {
          code: 'EBADF',
          errno: -9,
          syscall: 'pwrite',
          path: absolute,
        });
      }

      try {
        b.pidfileHandOver(fd, pid, json);
      } catch (error) {
        throw pidFileError(error, absolute, 'hand over PID file');
      }
    },
    release() {
      if (released) {
        return;
      }

      released = true;
      try {
        b.pidfileRelease(fd);
      } catch (error) {
        throw pidFileError(error, absolute, 'remove PID file');
      }
    },
  };
}

/**
Reads the PID file at `path` without taking it: `undefined` when there is no file (ENOENT:
the file or its directory does not exist). A path through a regular file (ENOTDIR) can never
name a PID file and is a misconfiguration, not "not running": it throws `PidFileError`, as
every other failure does. `locked` tells whether a live process holds the lock. Files written
by tools that do not lock (a pid alone, with or without a newline) are read too: they are
`locked: false`, and `alive` tells whether that pid (with that start time, when recorded)
still runs, in which case the instance runs (held by a foreign process).
*/
export function readPidFile(file: string): PidFileInfo | undefined {
  assertFilePath(file);
  const absolute = path.resolve(file);
  const b = requireNative('readPidFile');
  let raw;
  try {
    raw = b.pidfileRead(absolute);
  } catch (error) {
    throw pidFileError(error, absolute, 'read PID file');
  }

  if (raw === undefined) {
    return undefined;
  }

  const alive = raw.locked || recordAlive(b, raw.record);
  return holderFrom(raw.record, alive, raw.locked);
}
