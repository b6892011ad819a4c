import path from 'node:path';
import {
  assertBoolean,
  assertDuration,
  assertHost,
  assertOneOf,
  assertPort,
  checkOptions,
  ArgumentTypeError,
  show,
} from '../validate.js';
import type {ServiceAction, ServiceOptions, ServiceSpec} from './types.js';

const MANAGERS = ['systemd', 'launchd', 'command'] as const;
const SPEC_KEYS = {
  systemd: ['manager', 'unit', 'scope', 'port'],
  launchd: ['manager', 'label', 'plist', 'domain', 'port'],
  command: ['manager', 'stop', 'start', 'port', 'pidFile'],
} as const;

const OPTION_KEYS = [
  'timeout',
  'forceAfter',
  'host',
  'signal',
  'resetFailed',
  'killStrays',
  'bootstrapTimeout',
  'keepFailed',
];

export const DOMAIN_PATTERN = /^(?:(?:gui|user|login|pid)\/\d+|system)$/;

/** A non-empty string without NUL bytes or line breaks (they would corrupt argv or output parsing). */
function assertName(value: unknown, name: string, example: string): asserts value is string {
  if (typeof value !== 'string' || value.trim() === '' || /[\0\n\r]/.test(value)) {
    throw new ArgumentTypeError(
      `Expected ${name} to be a non-empty string without NUL or line breaks, such as ${example}, got ${show(value)}`,
    );
  }
}

function assertArgv(value: unknown, name: string): asserts value is string[] {
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every((a) => typeof a === 'string' && !a.includes('\0')) ||
    value[0] === ''
  ) {
    throw new ArgumentTypeError(
      `Expected ${name} to be a non-empty array of strings (an argv, run without a shell), such as ['myd', '--stop'], got ${show(value)}`,
    );
  }
}

/** Validates a service spec; throws TypeError/RangeError saying what is wrong and how to fix it. */
export function resolveSpec(spec: unknown, caller: string, action: ServiceAction): ServiceSpec {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new ArgumentTypeError(
      `Expected the spec of ${caller} to be an object such as {manager: 'systemd', unit: 'web.service', port: 8080}, got ${show(spec)}`,
    );
  }

  const manager = (spec as {manager?: unknown}).manager;
  if (typeof manager !== 'string' || !(MANAGERS as readonly string[]).includes(manager)) {
    throw new ArgumentTypeError(
      `Expected spec.manager to be one of 'systemd', 'launchd', 'command', got ${show(manager)}`,
    );
  }

  const m = manager as (typeof MANAGERS)[number];
  const s = checkOptions<Record<string, unknown>>(spec, SPEC_KEYS[m], `a ${m} spec`);
  if (s.port !== undefined || m === 'command') {
    assertPort(s.port, 'spec.port');
  }

  switch (m) {
    case 'systemd': {
      if (s.unit === undefined) {
        throw new ArgumentTypeError(
          `A systemd spec needs spec.unit, the unit name such as 'web.service'; got none`,
        );
      }

      assertName(s.unit, 'spec.unit', "'web.service'");
      if (s.scope !== undefined) {
        assertOneOf(s.scope, 'spec.scope', ['user', 'system']);
      }

      break;
    }

    case 'launchd': {
      if (s.label === undefined) {
        throw new ArgumentTypeError(
          `A launchd spec needs spec.label, the job's Label such as 'com.example.web'; got none`,
        );
      }

      assertName(s.label, 'spec.label', "'com.example.web'");
      if (s.plist === undefined) {
        throw new ArgumentTypeError(
          `A launchd spec needs spec.plist, the absolute path of the job's property list; got none`,
        );
      }

      assertName(s.plist, 'spec.plist', "'/Users/me/Library/LaunchAgents/com.example.web.plist'");
      if (!path.isAbsolute(s.plist)) {
        throw new ArgumentTypeError(
          `Expected spec.plist to be an absolute path (launchctl resolves paths against its own working directory), got ${show(s.plist)}; use path.resolve()`,
        );
      }

      if (
        s.domain !== undefined &&
        (typeof s.domain !== 'string' || !DOMAIN_PATTERN.test(s.domain))
      ) {
        throw new ArgumentTypeError(
          `Expected spec.domain to be a launchd domain such as 'gui/501', 'user/501' or 'system', got ${show(s.domain)}`,
        );
      }

      break;
    }

    case 'command': {
      // Each action needs the command it runs: stop its `stop`, start its `start`.
      if (s.stop !== undefined || action !== 'start') {
        assertArgv(s.stop, 'spec.stop');
      }

      if (s.start !== undefined || action !== 'stop') {
        assertArgv(s.start, 'spec.start');
      }

      if (s.pidFile !== undefined) {
        assertName(s.pidFile, 'spec.pidFile', "'/run/myd.pid'");
      }

      break;
    }
  }

  return spec as ServiceSpec;
}

export type ResolvedOptions = {
  timeout: number;
  forceAfter: number | false;
  host: string | undefined;
  signal: AbortSignal | undefined;
  resetFailed: boolean;
  killStrays: boolean;
  bootstrapTimeout: number;
  keepFailed: boolean;
};

export function resolveServiceOptions(options: unknown, caller: string): ResolvedOptions {
  const o = checkOptions<ServiceOptions>(options, OPTION_KEYS, caller);
  const {
    timeout = 30_000,
    forceAfter = 5000,
    host,
    signal,
    resetFailed = false,
    killStrays = false,
    bootstrapTimeout = 15_000,
    keepFailed = false,
  } = o;
  assertDuration(timeout, 'timeout');
  if (forceAfter !== false) {
    assertDuration(forceAfter, 'forceAfter');
  }

  if (host !== undefined) {
    assertHost(host);
  }

  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new ArgumentTypeError(`Expected signal to be an AbortSignal, got ${show(signal)}`);
  }

  assertBoolean(resetFailed, 'resetFailed');
  assertBoolean(killStrays, 'killStrays');
  assertDuration(bootstrapTimeout, 'bootstrapTimeout');
  assertBoolean(keepFailed, 'keepFailed');
  return {timeout, forceAfter, host, signal, resetFailed, killStrays, bootstrapTimeout, keepFailed};
}
