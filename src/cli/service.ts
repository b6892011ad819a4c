// restart, stop, start: a systemd unit, a launchd job or stop/start commands.
import {restartService, startService, stopService} from '../services/index.js';
import type {ServiceAction, ServiceSpec} from '../services/types.js';
import {
  parseChoice,
  parseDuration,
  parseForceAfter,
  parsePort,
  splitWords,
  UsageError,
} from './args.js';
import {EXIT, report} from './output.js';
import type {Runner, ServiceFlags, Values} from './spec.js';

const RUN = {restart: restartService, stop: stopService, start: startService};

function specOf(action: ServiceAction, values: Values<ServiceFlags>): ServiceSpec {
  const port = values.port === undefined ? undefined : parsePort(values.port, '--port');
  const chosen = [values.systemd, values.launchd, values.stop ?? values.start].filter(
    (v) => v !== undefined,
  );
  if (chosen.length !== 1) {
    throw new UsageError(
      'Expected exactly one of --systemd <unit>, --launchd <label> or --stop/--start <command>',
    );
  }

  const notFor = (flags: string[], manager: string) => {
    const given = flags.filter((f) => values[f as keyof Values<ServiceFlags>] !== undefined);
    if (given.length > 0) {
      throw new UsageError(`${given.map((f) => `--${f}`).join(', ')} does not apply to ${manager}`);
    }
  };

  if (values.systemd !== undefined) {
    notFor(['plist', 'domain', 'pidfile'], '--systemd');
    return {
      manager: 'systemd',
      unit: values.systemd,
      scope: parseChoice(values.scope, '--scope', ['user', 'system'] as const),
      ...(port === undefined ? {} : {port}),
    };
  }

  if (values.launchd !== undefined) {
    notFor(['pidfile'], '--launchd');
    if (values.plist === undefined) {
      throw new UsageError('Expected --plist <absolute path> with --launchd');
    }

    return {
      manager: 'launchd',
      label: values.launchd,
      plist: values.plist,
      ...(values.domain === undefined ? {} : {domain: values.domain}),
      ...(port === undefined ? {} : {port}),
    };
  }

  notFor(['plist', 'domain'], '--stop/--start');
  const needs = {restart: ['stop', 'start'], stop: ['stop'], start: ['start']}[action];
  const missing = needs.filter((f) => values[f as 'stop' | 'start'] === undefined);
  if (missing.length > 0 || port === undefined) {
    throw new UsageError(
      `Expected ${[...needs.map((f) => `--${f} <command>`), '--port <port>'].join(', ')} with the command manager`,
    );
  }

  return {
    manager: 'command',
    ...(values.stop === undefined ? {} : {stop: splitWords(values.stop, '--stop')}),
    ...(values.start === undefined ? {} : {start: splitWords(values.start, '--start')}),
    port,
    ...(values.pidfile === undefined ? {} : {pidFile: values.pidfile}),
  };
}

export function service(action: ServiceAction): Runner<ServiceFlags> {
  return async (_positionals, values, io) => {
    const result = await RUN[action](specOf(action, values), {
      ...(values.timeout === undefined ? {} : {timeout: parseDuration(values.timeout)}),
      ...parseForceAfter(values['force-after']),
      ...(values.host === undefined ? {} : {host: values.host}),
      killStrays: values['kill-strays'],
      resetFailed: values['reset-failed'],
      keepFailed: values['keep-failed'],
    });
    report(io, values, result.summary, result);
    return EXIT.ok;
  };
}
