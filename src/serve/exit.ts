// The exit status of a served process, as a shell reports it (light: no supervisor code).
import {builtin} from '../builtin.js';
import {ArgumentTypeError, show} from '../validate.js';

/** How a process (or the supervisor, through its serving process) ended. */
export type ServeExit = {
  readonly pid: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
};

/** The exit status a shell reports for a process: its code, or 128 + the signal number. */
export function exitStatusOf(exit: ServeExit): number {
  const {code, signal} = (exit ?? {}) as Partial<ServeExit>;
  if (
    typeof exit !== 'object' ||
    !(code === null || Number.isInteger(code)) ||
    !(signal === null || typeof signal === 'string')
  ) {
    throw new ArgumentTypeError(
      `Expected exit to be a {code, signal} exit status, got ${show(exit)}`,
    );
  }

  if (exit.code !== null) {
    return exit.code;
  }

  return exit.signal === null ? 1 : 128 + (builtin.os().constants.signals[exit.signal] ?? 0);
}
