import {builtin} from './builtin.js';
import path from 'node:path';
import {nativeBinding} from './native.js';
import {pidFileError} from './errors.js';
import {readSmallFile, unlinkIfSame, writeFileAtomic} from './small-file.js';
import {
  ArgumentRangeError,
  ArgumentTypeError,
  assertFilePath,
  checkOptions,
  show,
} from './validate.js';

const {unlinkSync} = builtin.fs();

export type MarkStoppingOptions = {
  /**
	How long the sentinel counts, in ms. A stopper that crashes cannot block auto-start
	for longer than this.
	@default 30000
	*/
  readonly ttl?: number;
};

/** The contents of an active stopping sentinel. */
export type StoppingInfo = {
  /** The process that marked the stop. */
  readonly pid: number;
  readonly startTime: number | undefined;
  readonly bootId: string | undefined;
  /** Epoch ms. */
  readonly createdAt: number;
  /** Epoch ms after which the sentinel counts as absent. */
  readonly expiresAt: number;
};

const DEFAULT_TTL = 30_000;
const MAX_TTL = 24 * 60 * 60 * 1000;
const MAX_BYTES = 4096;
/** Tolerated backwards clock step between marking and reading. */
const CLOCK_SLACK = 1000;

function assertTtl(value: unknown): asserts value is number {
  if (typeof value !== 'number') {
    throw new ArgumentTypeError(
      `Expected options.ttl to be an integer between 1 and ${MAX_TTL} (ms), got ${show(value)}`,
    );
  }

  if (!Number.isInteger(value) || value < 1 || value > MAX_TTL) {
    throw new ArgumentRangeError(
      `Expected options.ttl to be an integer between 1 and ${MAX_TTL} (ms), got ${show(value)}`,
    );
  }
}

function identity(): {pid: number; startTime?: number; bootId?: string} {
  const b = nativeBinding();
  if (b === undefined) {
    return {pid: process.pid};
  }

  try {
    const info = b.processInfo(process.pid);
    return {pid: process.pid, startTime: info?.startTime, bootId: b.bootId()};
  } catch {
    return {pid: process.pid};
  }
}

function currentBootId(): string | undefined {
  try {
    return nativeBinding()?.bootId();
  } catch {
    return undefined;
  }
}

const isCount = (v: unknown): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Parses a sentinel; undefined when it is corrupt. */
function parse(text: string): StoppingInfo | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }

  if (typeof value !== 'object' || value === null) {
    return undefined;
  }

  const v = value as Record<string, unknown>;
  if (
    v.portwarden !== 'stopping' ||
    !isCount(v.pid) ||
    v.pid === 0 ||
    !isCount(v.createdAt) ||
    !isCount(v.expiresAt) ||
    (v.startTime !== undefined && !isCount(v.startTime)) ||
    (v.bootId !== undefined && typeof v.bootId !== 'string')
  ) {
    return undefined;
  }

  return {
    pid: v.pid,
    startTime: v.startTime as number | undefined,
    bootId: v.bootId as string | undefined,
    createdAt: v.createdAt,
    expiresAt: v.expiresAt,
  };
}

function active(info: StoppingInfo, now: number): boolean {
  if (info.expiresAt <= info.createdAt || info.expiresAt - info.createdAt > MAX_TTL) {
    return false;
  }

  // Created "in the future": the clock stepped back; beyond the slack it is corrupt.
  if (info.createdAt > now + CLOCK_SLACK || now >= info.expiresAt) {
    return false;
  }

  const boot = currentBootId();
  return info.bootId === undefined || boot === undefined || info.bootId === boot;
}

/**
Marks a stop in progress: writes the sentinel at `path` atomically (a temporary file in
the same directory, then `rename`), with this process's pid, start time and an expiry.
Auto-starters check `isStopping(path)` and do not spawn while it holds.
*/
export function markStopping(file: string, options?: MarkStoppingOptions): StoppingInfo {
  assertFilePath(file);
  const {ttl = DEFAULT_TTL} = checkOptions<MarkStoppingOptions>(options, ['ttl'], 'markStopping');
  assertTtl(ttl);
  const absolute = path.resolve(file);
  const createdAt = Date.now();
  const info = {portwarden: 'stopping', ...identity(), createdAt, expiresAt: createdAt + ttl};
  writeFileAtomic(absolute, JSON.stringify(info) + '\n', 'write stopping sentinel');
  const {portwarden: _, ...rest} = info;
  return {startTime: undefined, bootId: undefined, ...rest};
}

/**
Reads the sentinel at `path`: its contents while it is active, `undefined` when there is
none (ENOENT: the file or its directory is missing). Corrupt, empty, expired sentinels (and
ones from an earlier boot) count as absent and are removed. A path through a regular file
(ENOTDIR) throws `PidFileError`, as `readPidFile` does.
*/
export function readStopping(file: string): StoppingInfo | undefined {
  assertFilePath(file);
  const absolute = path.resolve(file);
  const read = readSmallFile(absolute, MAX_BYTES, 'read stopping sentinel', {
    wrapReadErrors: true,
  });
  if (read === undefined) {
    return undefined;
  }

  const {text, stat} = read;
  if (!stat.isFile()) {
    throw pidFileError(
      Object.assign(new Error('not a regular file'), {code: 'EINVAL', syscall: 'open'}),
      absolute,
      'read stopping sentinel',
    );
  }

  const info = parse(text);
  if (info !== undefined && active(info, Date.now())) {
    return info;
  }

  // Remove it, unless a new sentinel was renamed into place since we opened this one.
  unlinkIfSame(absolute, stat);
  return undefined;
}

/** Whether a stop is in progress at `path` (see `readStopping`). */
export function isStopping(file: string): boolean {
  return readStopping(file) !== undefined;
}

/** Removes the sentinel at `path`. Returns whether there was one. */
export function clearStopping(file: string): boolean {
  assertFilePath(file);
  const absolute = path.resolve(file);
  try {
    unlinkSync(absolute);
    return true;
  } catch (error) {
    // ENOTDIR (a path component is a file) throws, as in readPidFile and readStopping.
    if ((error as {code?: unknown}).code === 'ENOENT') {
      return false;
    }

    throw pidFileError(error, absolute, 'remove stopping sentinel');
  }
}
