import {builtin} from '../builtin.js';
import type {Trail} from './trail.js';

export type ToolResult = {
  /** Exit status; `undefined` when the tool was killed by a signal or timed out. */
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
};

const HINTS: Record<string, string> = {
  systemctl:
    "install systemd (apt-get install systemd), or drive the daemon with {manager: 'command'}",
  launchctl:
    "launchd exists only on macOS; elsewhere use {manager: 'systemd'} or {manager: 'command'}",
};

/** At most this much output per stream is kept (systemctl show, launchctl print). */
const MAX_OUTPUT = 16 * 1024 * 1024;

const stripFinalNewline = (text: string) => text.replace(/\r?\n$/, '');

/**
Runs a program with an argv array (never a shell), without throwing on a non-zero exit.
A missing program (spawn ENOENT/EACCES) becomes a `NOT_INSTALLED` ServiceError that says
how to fix it. Node's own execFile: systemctl and launchctl calls need nothing more, and a
CLI restart then does not pay for loading execa.
*/
export async function runTool(
  trail: Trail,
  file: string,
  args: readonly string[],
  /** `env` is added to this process's environment. */
  options: {timeout: number; env?: Record<string, string>},
): Promise<ToolResult> {
  const {execFile} = builtin.childProcess();
  let timedOut = false;
  const result = await new Promise<{
    error: (Error & {code?: unknown; signal?: unknown}) | null;
    stdout: string;
    stderr: string;
  }>((resolve) => {
    const child = execFile(
      file,
      args,
      {
        encoding: 'utf8',
        maxBuffer: MAX_OUTPUT,
        ...(trail.signal === undefined ? {} : {signal: trail.signal}),
        ...(options.env === undefined ? {} : {env: {...process.env, ...options.env}}),
      },
      (error, stdout, stderr) => {
        clearTimeout(timer);
        resolve({error, stdout, stderr});
      },
    );
    child.stdin?.end(); // Nothing to read: as stdin 'ignore'.
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeout);
  });

  if (trail.signal?.aborted) {
    throw trail.wrap(trail.signal.reason);
  }

  const code = result.error?.code;
  if (code === 'ENOENT' || code === 'EACCES') {
    const hint = HINTS[file] ?? 'check the command and PATH';
    throw trail.error(
      'NOT_INSTALLED',
      `Cannot run ${file}: ${code === 'ENOENT' ? 'not found on PATH' : 'permission denied'} (spawn ${code}); ${hint}`,
    );
  }

  return {
    // No error: exit 0. A number: the exit status. A signal (or a timeout): undefined.
    exitCode: result.error === null ? 0 : typeof code === 'number' ? code : undefined,
    stdout: stripFinalNewline(result.stdout),
    stderr: stripFinalNewline(result.stderr),
    timedOut,
  };
}

/** `exit 3: Boot-out failed: 3: No such process` */
export function describeExit(r: ToolResult): string {
  const status = r.timedOut
    ? 'timed out'
    : r.exitCode === undefined
      ? 'killed'
      : `exit ${r.exitCode}`;
  const message = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(0, 3).join(' / ');
  return message === '' ? status : `${status}: ${message}`;
}
