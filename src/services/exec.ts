import {loadExeca} from '../execa.js';
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

/**
Runs a program with an argv array (never a shell), without throwing on a non-zero exit.
A missing program (spawn ENOENT/EACCES) becomes a `NOT_INSTALLED` ServiceError that says
how to fix it.
*/
export async function runTool(
  trail: Trail,
  file: string,
  args: readonly string[],
  /** `env` is added to this process's environment. */
  options: {timeout: number; env?: Record<string, string>},
): Promise<ToolResult> {
  const {execa} = await loadExeca();
  const result = await execa(file, args, {
    reject: false,
    timeout: options.timeout,
    stdin: 'ignore',
    cancelSignal: trail.signal,
    ...(options.env === undefined ? {} : {env: options.env}),
    stripFinalNewline: true,
  });

  if (trail.signal?.aborted) {
    throw trail.wrap(trail.signal.reason);
  }

  const code = (result as {code?: string}).code;
  if (result.failed && (code === 'ENOENT' || code === 'EACCES') && result.exitCode === undefined) {
    const hint = HINTS[file] ?? 'check the command and PATH';
    throw trail.error(
      'NOT_INSTALLED',
      `Cannot run ${file}: ${code === 'ENOENT' ? 'not found on PATH' : 'permission denied'} (spawn ${code}); ${hint}`,
    );
  }

  return {
    exitCode: result.exitCode,
    stdout: typeof result.stdout === 'string' ? result.stdout : '',
    stderr: typeof result.stderr === 'string' ? result.stderr : '',
    timedOut: result.timedOut,
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
