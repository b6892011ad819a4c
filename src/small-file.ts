// Small state files beside a PID file (the service record of instance.ts, the stopping
// sentinel of stopping.ts): written atomically, read without following a symlink, and
// removed only while they are still the file that was read.
import {builtin} from './builtin.js';
import {pidFileError} from './errors.js';

import type {BigIntStats} from 'node:fs';

const {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} = builtin.fs();

/**
Writes `text` to `file` atomically: into a new temporary file in the same directory (mode
0644), then `rename`. On failure the temporary file is removed and the error thrown as a
PidFileError "Cannot `what` `file`".
*/
export function writeFileAtomic(file: string, text: string, what: string): void {
  const temporary = `${file}.${process.pid}.${builtin.crypto().randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(temporary, text, {flag: 'wx', mode: 0o644});
    renameSync(temporary, file);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {}

    throw pidFileError(error, file, what);
  }
}

export type SmallFile = {
  /** The contents; '' when it is not a regular file or holds more than `maxBytes` bytes. */
  readonly text: string;
  /** Of the file that was read (for `unlinkIfSame`). */
  readonly stat: BigIntStats;
};

/**
Reads a file of at most `maxBytes` bytes. It is opened with O_NOFOLLOW (a symlink is refused)
and O_NONBLOCK (a FIFO does not block the open). `undefined` when it does not exist (ENOENT:
the file or its directory is missing). Any other failure to open throws a PidFileError
"Cannot `what` `file`", ENOTDIR included (a path component is a regular file: no file can ever
exist there, a misconfiguration that "absent" would hide), the rule of `readPidFile`. A
failure of fstat or read is thrown as that PidFileError too with `wrapReadErrors`, otherwise
as it is.
*/
export function readSmallFile(
  file: string,
  maxBytes: number,
  what: string,
  {wrapReadErrors}: {wrapReadErrors: boolean},
): SmallFile | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as {code?: unknown}).code === 'ENOENT') {
      return undefined;
    }

    throw pidFileError(error, file, what);
  }

  try {
    const stat = fstatSync(fd, {bigint: true});
    let text = '';
    if (stat.isFile() && stat.size <= maxBytes) {
      // One byte more than allowed, to tell a file that has grown past the limit.
      const buffer = Buffer.alloc(maxBytes + 1);
      let length = 0;
      for (;;) {
        const n = readSync(fd, buffer, length, buffer.length - length, null);
        length += n;
        if (n === 0 || length >= buffer.length) {
          break;
        }
      }

      text = length > maxBytes ? '' : buffer.toString('utf8', 0, length);
    }

    return {text, stat};
  } catch (error) {
    throw wrapReadErrors ? pidFileError(error, file, what) : error;
  } finally {
    closeSync(fd);
  }
}

/**
Unlinks `file` unless another file has been renamed into its place since `seen` was taken
(same device and inode). Errors are ignored: the file may be gone already.
*/
export function unlinkIfSame(file: string, seen: {dev: bigint; ino: bigint}): void {
  try {
    const now = lstatSync(file, {bigint: true});
    if (now.dev === seen.dev && now.ino === seen.ino) {
      unlinkSync(file);
    }
  } catch {}
}
