// Parsing of command-line values. Every bad value is a UsageError (exit 64) that names the
// flag or argument and the text given.
import {toSignalName} from '../validate.js';

/** Bad command-line input (exit 64). */
export class UsageError extends Error {
  declare readonly code: 'USAGE';
}

Object.defineProperties(UsageError.prototype, {
  name: {value: 'UsageError', configurable: true},
  code: {value: 'USAGE', configurable: true},
});

/** `500` and `500ms` are milliseconds, `5s` seconds. */
export function parseDuration(text: string, name = '--timeout'): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text.trim());
  const value = match ? Number(match[1]) * (match[2] === 's' ? 1000 : 1) : Number.NaN;
  if (!Number.isFinite(value) || value <= 0) {
    throw new UsageError(
      `Expected ${name} to be a duration such as 500, 500ms or 5s, got '${text}'`,
    );
  }

  return value;
}

/** `T` milliseconds/seconds, or `never` (false). */
export function parseForceAfter(text: string | undefined): {forceAfter?: number | false} {
  if (text === undefined) {
    return {};
  }

  return {forceAfter: text === 'never' ? false : parseDuration(text, '--force-after')};
}

/** A port in decimal without leading zeros (`080` is refused, not read as 80). */
export function parsePort(text: string | undefined, name = '<port>'): number {
  if (text === undefined || !/^[1-9]\d{0,4}$/.test(text) || Number(text) > 65_535) {
    throw new UsageError(
      `Expected ${name} to be an integer between 1 and 65535, got ${text === undefined ? 'nothing' : `'${text}'`}`,
    );
  }

  return Number(text);
}

export function parsePid(text: string, name: string): number {
  if (!/^[1-9]\d{0,9}$/.test(text) || Number(text) > 2_147_483_647) {
    throw new UsageError(`Expected ${name} to be a pid (a positive integer), got '${text}'`);
  }

  return Number(text);
}

/** A signal as the library takes it: `SIGTERM`, `TERM`, `term` or its number (`9`). */
export function parseSignal(text: string, name = '--signal'): NodeJS.Signals {
  const signal = toSignalName(/^\d+$/.test(text) ? Number(text) : text);
  if (signal === undefined) {
    throw new UsageError(
      `Expected ${name} to be a signal such as SIGTERM, TERM or 15, got '${text}'`,
    );
  }

  return signal;
}

/** One of the listed words. */
export function parseChoice<T extends string>(
  text: string,
  name: string,
  choices: readonly T[],
): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`Expected ${name} to be one of ${choices.join(', ')}, got '${text}'`);
  }

  return text as T;
}

/** Splits a command line into argv words the way a shell would, without running one. */
export function splitWords(text: string, name: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) {
        quote = undefined;
      } else if (c === '\\' && quote === '"' && i + 1 < text.length) {
        word += text[++i];
      } else {
        word += c;
      }
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) {
        words.push(word);
      }

      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }

  if (quote) {
    throw new UsageError(`Expected ${name} to have balanced quotes, got ${JSON.stringify(text)}`);
  }

  if (inWord) {
    words.push(word);
  }

  if (words.length === 0) {
    throw new UsageError(`Expected ${name} to be a command, got ${JSON.stringify(text)}`);
  }

  return words;
}
