import {builtin} from './builtin.js';

/** Renders a value for an error message: `0`, `'80'`, `null`, `NaN`, `[Function: f]`. */
export const show = (value: unknown): string =>
  builtin.util().inspect(value, {depth: 1, breakLength: Infinity});

/**
Thrown for a bad argument: a TypeError/RangeError carrying node's own codes, so that a
caller (the CLI) can tell bad input from a bug.
*/
export class ArgumentTypeError extends TypeError {
  declare readonly code: 'ERR_INVALID_ARG_TYPE';
}

export class ArgumentRangeError extends RangeError {
  declare readonly code: 'ERR_OUT_OF_RANGE';
}

// On the prototype: an error compares equal to a plain TypeError/RangeError with its message.
for (const [ErrorClass, code] of [
  [ArgumentTypeError, 'ERR_INVALID_ARG_TYPE'],
  [ArgumentRangeError, 'ERR_OUT_OF_RANGE'],
] as const) {
  Object.defineProperty(ErrorClass.prototype, 'code', {value: code, configurable: true});
}

/** Whether `error` reports a bad argument (ours, or one of node's own validation errors). */
export function isArgumentError(error: unknown): boolean {
  const code = (error as {code?: unknown} | undefined)?.code;
  return (
    (error instanceof TypeError || error instanceof RangeError) &&
    (code === 'ERR_INVALID_ARG_TYPE' ||
      code === 'ERR_INVALID_ARG_VALUE' ||
      code === 'ERR_OUT_OF_RANGE')
  );
}

export function assertInteger(
  value: unknown,
  name: string,
  min: number,
  max: number,
): asserts value is number {
  if (typeof value !== 'number') {
    throw new ArgumentTypeError(
      `Expected ${name} to be an integer between ${min} and ${max}, got ${show(value)}`,
    );
  }

  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ArgumentRangeError(
      `Expected ${name} to be an integer between ${min} and ${max}, got ${show(value)}`,
    );
  }
}

export function assertPort(value: unknown, name = 'port'): asserts value is number {
  assertInteger(value, name, 1, 65_535);
}

export function assertPid(value: unknown, name = 'pid'): asserts value is number {
  assertInteger(value, name, 1, 2_147_483_647);
}

/** Checks that `options` is undefined or a plain object with only the given keys; returns it. */
export function checkOptions<T extends object>(
  options: unknown,
  allowed: readonly string[],
  caller: string,
): Partial<T> {
  if (options === undefined) {
    return {};
  }

  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ArgumentTypeError(
      `Expected the options of ${caller} to be an object, got ${show(options)}`,
    );
  }

  // A plain object (of any realm, or with a null prototype): a Map, a Date or a class
  // instance would otherwise pass as "no options" with their entries ignored.
  const proto: unknown = Object.getPrototypeOf(options);
  if (proto !== null && Object.getPrototypeOf(proto) !== null) {
    throw new ArgumentTypeError(
      `Expected the options of ${caller} to be a plain object, got ${show(options)}`,
    );
  }

  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new ArgumentTypeError(
        `Unknown option ${show(key)} for ${caller}; expected one of ${allowed.join(', ')}`,
      );
    }
  }

  return options as Partial<T>;
}

export function assertOneOf<T extends string>(
  value: unknown,
  name: string,
  choices: readonly T[],
): asserts value is T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw new ArgumentTypeError(
      `Expected ${name} to be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${show(value)}`,
    );
  }
}

export function assertBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== 'boolean') {
    throw new ArgumentTypeError(`Expected ${name} to be a boolean, got ${show(value)}`);
  }
}

/** A literal IPv4 or IPv6 address (no host names: they resolve differently over time). */
export function assertHost(value: unknown, name = 'host'): asserts value is string {
  if (typeof value !== 'string' || builtin.net().isIP(value) === 0) {
    throw new ArgumentTypeError(
      `Expected ${name} to be an IPv4 or IPv6 address such as '127.0.0.1' or '::', got ${show(value)}`,
    );
  }
}

export function assertPidList(value: unknown, name: string): asserts value is number[] {
  if (!Array.isArray(value)) {
    throw new ArgumentTypeError(`Expected ${name} to be an array of pids, got ${show(value)}`);
  }

  for (const [index, pid] of value.entries()) {
    assertPid(pid, `${name}[${index}]`);
  }
}

export function assertDuration(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new (typeof value === 'number' ? ArgumentRangeError : ArgumentTypeError)(
      `Expected ${name} to be a positive finite number of milliseconds, got ${show(value)}`,
    );
  }
}

/** A signal name known to this platform (`os.constants.signals`), such as `'SIGTERM'`. */
/**
The canonical name of a signal given as `'SIGTERM'`, `'TERM'` (any case) or its number on
this platform (`15`); undefined for anything else.
*/
export function toSignalName(value: unknown): NodeJS.Signals | undefined {
  const signals = builtin.os().constants.signals as Record<string, number>;
  if (typeof value === 'number') {
    return Number.isInteger(value) && value > 0
      ? (Object.keys(signals).find((name) => signals[name] === value) as NodeJS.Signals | undefined)
      : undefined;
  }

  if (typeof value !== 'string') {
    return undefined;
  }

  const upper = value.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  return Object.hasOwn(signals, name) ? (name as NodeJS.Signals) : undefined;
}

/** A signal (see `toSignalName`); returns its canonical name. */
export function signalName(value: unknown, name: string): NodeJS.Signals {
  const signal = toSignalName(value);
  if (signal === undefined) {
    throw new ArgumentTypeError(
      `Expected ${name} to be a signal such as 'SIGTERM', 'TERM' or 15, got ${show(value)}`,
    );
  }

  return signal;
}

export function assertAbortSignal(value: unknown, name: string): asserts value is AbortSignal {
  if (!(value instanceof AbortSignal)) {
    throw new ArgumentTypeError(`Expected ${name} to be an AbortSignal, got ${show(value)}`);
  }
}

export function assertFunction(
  value: unknown,
  name: string,
): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') {
    throw new ArgumentTypeError(`Expected ${name} to be a function, got ${show(value)}`);
  }
}

/** A non-empty path string without NUL bytes. */
export function assertFilePath(value: unknown, name = 'path'): asserts value is string {
  if (typeof value !== 'string') {
    throw new ArgumentTypeError(`Expected ${name} to be a non-empty string, got ${show(value)}`);
  }

  if (value.length === 0 || value.includes('\0')) {
    throw new ArgumentRangeError(
      `Expected ${name} to be a non-empty string without NUL bytes, got ${show(value)}`,
    );
  }
}
