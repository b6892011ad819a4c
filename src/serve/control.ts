/*
How another shell finds and drives a running `portwarden serve`: its PID file (one per
port, flock-held for the supervisor's life) and a state file beside it that the supervisor
rewrites atomically on every change. A reload request is SIGHUP to the pid in the PID file
(identity-checked), and its outcome is read back from the state file.
*/
import {msNow} from '../clock.js';
import {requireNative} from '../native.js';
import {builtin} from '../builtin.js';
import path from 'node:path';
import {readPidFile} from '../pidfile.js';
import {sendSignal} from '../process-control.js';
import {readSmallFile, writeFileAtomic} from '../small-file.js';
import {sleep} from '../steps.js';
import {assertDuration, assertPort, checkOptions, show} from '../validate.js';
import {ServeError} from './errors.js';

const {lstatSync, mkdirSync} = builtin.fs();

/** What the supervisor publishes beside its PID file (`<pidFile>.state.json`). */
export type ServeState = {
  /** The supervisor. */
  readonly pid: number;
  readonly port: number;
  readonly host: string;
  /** The process serving now (undefined before the first is ready). */
  readonly child: number | undefined;
  readonly generation: number;
  readonly readyTimeout: number;
  /** Reloads started so far; each has a sequence number 1, 2, ... */
  readonly reloadsStarted: number;
  /** The last reload that ended. */
  readonly lastReload:
    | {
        readonly seq: number;
        readonly ok: boolean;
        readonly pid: number | undefined;
        readonly previousPid: number | undefined;
        readonly ms: number;
        readonly code?: string;
        readonly message?: string;
      }
    | undefined;
};

/**
The directory of serve's PID files: `$XDG_RUNTIME_DIR/portwarden` when XDG_RUNTIME_DIR is
set (a per-user tmpfs on systemd hosts), else `<os.tmpdir()>/portwarden-<uid>` (mode 0700).
*/
export function serveRuntimeDir(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  return runtime !== undefined && path.isAbsolute(runtime)
    ? path.join(runtime, 'portwarden')
    : path.join(builtin.os().tmpdir(), `portwarden-${process.getuid?.() ?? 'user'}`);
}

/** The PID file of `portwarden serve --port <port>`: `<serveRuntimeDir()>/serve-<port>.pid`. */
export function servePidFile(port: number): string {
  assertPort(port);
  return path.join(serveRuntimeDir(), `serve-${port}.pid`);
}

export const stateFileOf = (pidFile: string): string => `${pidFile}.state.json`;

/**
Creates the default runtime directory (0700). An existing one must be a directory of ours
that no other user can write into, not a symlink: a shared /tmp is someone else's too.
*/
export function ensureRuntimeDir(dir: string): void {
  mkdirSync(dir, {recursive: true, mode: 0o700});
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0) {
    throw new ServeError(
      `The PID file directory ${show(dir)} must be a directory owned by this user and writable by no one else; pass pidFile to use another one`,
      {code: 'PID_FILE', port: 0},
    );
  }
}

export function writeState(pidFile: string, state: ServeState): void {
  writeFileAtomic(stateFileOf(pidFile), JSON.stringify(state) + '\n', 'write serve state');
}

export function readState(pidFile: string): ServeState | undefined {
  const file = readSmallFile(stateFileOf(pidFile), 64 * 1024, 'read serve state', {
    wrapReadErrors: true,
  });
  if (file === undefined || file.text === '') {
    return undefined;
  }

  try {
    return JSON.parse(file.text) as ServeState;
  } catch {
    return undefined;
  }
}

export type RequestReloadOptions = {
  /**
	The supervisor's PID file, when it was started with one of its own.
	@default servePidFile(port)
	*/
  readonly pidFile?: string;
  /**
	How long to wait for the outcome of the reload.
	@default the supervisor's readyTimeout + 10000
	*/
  readonly timeout?: number;
};

export type RequestReloadResult = {
  /** The supervisor that was signalled. */
  readonly supervisor: number;
  /** The process serving now, and the one it replaced. */
  readonly pid: number;
  readonly previousPid: number | undefined;
  /** From the start of the reload to the old process being told to stop. */
  readonly ms: number;
};

/**
Asks the `portwarden serve` of `port` to reload (SIGHUP to the pid of its PID file, only
while that file is locked and the process is the one recorded) and waits for the outcome.

@throws {ServeError} `NOT_RUNNING` (no supervisor), `EXITED` / `READY_TIMEOUT` (the new
process failed; the old one keeps serving), `TIMEOUT`.
*/
export async function requestReload(
  port: number,
  options?: RequestReloadOptions,
): Promise<RequestReloadResult> {
  assertPort(port);
  const {pidFile = servePidFile(port), timeout} = checkOptions<RequestReloadOptions>(
    options,
    ['pidFile', 'timeout'],
    'requestReload',
  );
  if (timeout !== undefined) {
    assertDuration(timeout, 'options.timeout');
  }

  const info = readPidFile(pidFile);
  if (info === undefined || !info.locked || info.pid === undefined) {
    throw new ServeError(
      `No portwarden serve runs for port ${port}: ${info === undefined ? 'no PID file' : 'the PID file is not held'} at ${show(pidFile)}`,
      {code: 'NOT_RUNNING', port},
    );
  }

  const before = readState(pidFile);
  const seq = before?.reloadsStarted ?? 0;
  const sent = sendSignal(
    requireNative('requestReload'),
    {pid: info.pid, startTime: info.startTime ?? -1},
    'SIGHUP',
  );
  if (sent !== 'sent') {
    throw new ServeError(`No portwarden serve runs for port ${port}: pid ${info.pid} is gone`, {
      code: 'NOT_RUNNING',
      port,
      pid: info.pid,
    });
  }

  const budget = timeout ?? (before?.readyTimeout ?? 30_000) + 10_000;
  const deadline = msNow() + budget;
  for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
    const state = readState(pidFile);
    const last = state?.lastReload;
    if (last !== undefined && last.seq > seq) {
      if (!last.ok) {
        throw new ServeError(last.message ?? 'the reload failed', {
          code: (last.code as ServeError['code'] | undefined) ?? 'EXITED',
          port,
          pid: last.pid,
        });
      }

      return {supervisor: info.pid, pid: last.pid!, previousPid: last.previousPid, ms: last.ms};
    }

    if (readPidFile(pidFile)?.locked !== true) {
      throw new ServeError(`portwarden serve for port ${port} (pid ${info.pid}) ended`, {
        code: 'NOT_RUNNING',
        port,
        pid: info.pid,
      });
    }

    if (msNow() > deadline) {
      throw new ServeError(
        `portwarden serve for port ${port} (pid ${info.pid}) reported no reload within ${budget} ms`,
        {code: 'TIMEOUT', port, pid: info.pid},
      );
    }

    await sleep(pause);
  }
}
