// How the CLI reports a failure: the exit code it maps to, and the one JSON object that
// `--json` prints on stdout ({error, code, message, ...the error's own fields}).
import {NotListeningError, PortBusyError, ProbeUnavailableError, ServiceError} from '../errors.js';
import {isArgumentError} from '../validate.js';

export type FailureKind = 'no' | 'unknown' | 'usage' | 'internal';

/** Errors the library throws when a condition does not hold (exit 1). */
const CONDITION_ERRORS = new Set([
  'PortBusyError',
  'NotListeningError',
  'AlreadyRunningError',
  'PidFileError',
  'TerminateError',
  'ServiceError',
  'ServeError',
  'ListenTargetError',
]);

/**
usage: bad input (ours, or the library's argument validation); unknown: the probe cannot
answer; no: the condition does not hold; internal: anything else (a bug).
*/
export function classify(error: unknown): FailureKind {
  if (error instanceof ProbeUnavailableError) {
    return 'unknown';
  }

  if (error instanceof ServiceError) {
    return error.code === 'PROBE_UNAVAILABLE' ? 'unknown' : 'no';
  }

  if (isArgumentError(error) || (error instanceof Error && error.name === 'UsageError')) {
    return 'usage';
  }

  if (error instanceof AggregateError) {
    return error.errors.every((e) => classify(e) === 'no') ? 'no' : 'internal';
  }

  return error instanceof Error && CONDITION_ERRORS.has(error.name) ? 'no' : 'internal';
}

function codeOf(error: Error): string {
  const own = (error as {code?: unknown}).code;
  if (typeof own === 'string') {
    return own;
  }

  if (error instanceof NotListeningError) {
    return error.reason === 'exited' ? 'EXITED' : 'NOT_LISTENING';
  }

  if (error instanceof PortBusyError) {
    return 'PORT_BUSY';
  }

  if (error instanceof AggregateError) {
    const codes = new Set(error.errors.map((e) => codeOf(e as Error)));
    return codes.size === 1 ? [...codes][0]! : 'MULTIPLE';
  }

  return 'INTERNAL';
}

/** Library phrasing → the flags a CLI user types. */
const CLI_WORDS: Array<[RegExp, string]> = [
  [/\{manager: 'command'\}/g, '--stop/--start'],
  [/\{manager: 'systemd'\}/g, '--systemd'],
  [/\{manager: 'launchd'\}/g, '--launchd'],
  [/\(forceAfter: false\)/g, '(--force-after never)'],
  [/; use path\.resolve\(\)/g, '; pass an absolute path'],
  [/\bspec\.plist\b/g, '--plist'],
  [/\bspec\.unit\b/g, '--systemd'],
  [/\bspec\.label\b/g, '--launchd'],
  [/\bspec\.domain\b/g, '--domain'],
  [/\bspec\.port\b/g, '--port'],
  [/\bspec\.pidFile\b/g, '--pidfile'],
  [/\bforceAfter\b/g, '--force-after'],
  [/\bkillSignal\b/g, '--signal'],
  [/\bpass force: true\b/g, 'pass --force'],
  [/\bpass allowOtherUsers: true\b/g, 'pass --allow-other-users'],
  [/\ballowOtherUsers\b/g, '--allow-other-users'],
];

/** A library message as the CLI says it. */
export function cliMessage(message: string): string {
  let text = message;
  for (const [pattern, words] of CLI_WORDS) {
    text = text.replace(pattern, words);
  }

  return text;
}

/** `{error, code, message, ...own fields}`; AggregateError members under `errors`. */
export function errorJson(error: unknown, usage?: string): Record<string, unknown> {
  if (!(error instanceof Error)) {
    return {error: 'Error', code: 'INTERNAL', message: String(error)};
  }

  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (key !== 'stack' && key !== 'cause' && key !== 'errors') {
      fields[key] = value;
    }
  }

  return {
    error: error.name,
    code: codeOf(error),
    message: cliMessage(error.message),
    ...fields,
    ...(usage === undefined ? {} : {usage}),
    ...(error instanceof AggregateError
      ? {errors: error.errors.map((e: unknown) => errorJson(e))}
      : {}),
  };
}
