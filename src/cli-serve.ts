// `portwarden serve`: the CLI over serve() (src/serve/supervisor.ts) and requestReload().
// Registered in cli.ts, whose helpers it uses at run time only (the two import each other).
import type {ParseArgsConfig} from 'node:util';
import {EXIT, type Io, parseDuration, parsePortArg, UsageError} from './cli.js';
import {errorJson} from './cli-errors.js';
import {ListenTargetError} from './listen-target.js';
import {requestReload} from './serve/control.js';
import {ServeError} from './serve/errors.js';
import {
  exitStatusOf,
  serve,
  type ServeChildExit,
  type ServeExit,
  type ServeReady,
  type ServeSupervisor,
} from './serve/supervisor.js';
import {notifyReady} from './services/notify.js';

type Options = NonNullable<ParseArgsConfig['options']>;

const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** A failure of the condition (exit 1): one JSON object with --json, the message on stderr. */
function fail(error: unknown, values: Record<string, unknown>, io: Io): number {
  if (!(error instanceof ServeError || error instanceof ListenTargetError)) {
    throw error;
  }

  if (values.json) {
    io.out(JSON.stringify(errorJson(error)));
  }

  io.err(`portwarden serve: ${error.message}`);
  return EXIT.no;
}

function optionalDuration(values: Record<string, unknown>, name: string): number | undefined {
  const text = values[name] as string | undefined;
  return text === undefined ? undefined : parseDuration(text, `--${name}`);
}

async function reloadOther(port: number, values: Record<string, unknown>, io: Io) {
  const result = await requestReload(port, {
    ...(values['pid-file'] === undefined ? {} : {pidFile: values['pid-file'] as string}),
    ...(values.timeout === undefined ? {} : {timeout: optionalDuration(values, 'timeout')}),
  });
  if (values.json) {
    io.out(JSON.stringify({port, ...result}));
  } else if (!values.quiet) {
    io.out(
      `port ${port}: pid ${result.previousPid ?? '?'} replaced by pid ${result.pid} in ${result.ms} ms`,
    );
  }

  return EXIT.ok;
}

/** Reports the supervisor's events: JSON lines on stdout, or lines on stderr (stdout is the command's). */
function report(supervisor: ServeSupervisor, values: Record<string, unknown>, io: Io) {
  const json = values.json === true;
  const quiet = values.quiet === true;
  const line = (event: string, data: object, text: string | undefined) => {
    if (json) {
      io.out(JSON.stringify({event, at: Date.now(), ...data}));
    } else if (text !== undefined && !quiet) {
      io.err(`portwarden serve: ${text}`);
    }
  };

  supervisor.on('spawn', (e: {pid: number; generation: number}) => line('spawn', e, undefined));
  supervisor.on('reload', (e: {generation: number}) => line('reload', e, undefined));
  supervisor.on('ready', (e: ServeReady) =>
    line(
      'ready',
      e,
      e.previousPid === undefined
        ? `pid ${e.pid} ready in ${e.readyMs} ms`
        : `reloaded: pid ${e.pid} ready in ${e.readyMs} ms, pid ${e.previousPid} stopping`,
    ),
  );
  supervisor.on('reload-failed', (error: ServeError) => {
    if (json) {
      io.out(JSON.stringify({event: 'reload-failed', at: Date.now(), ...errorJson(error)}));
    } else {
      io.err(`portwarden serve: reload failed: ${error.message}`);
    }
  });
  supervisor.on('exit', (e: ServeChildExit) =>
    line(
      'exit',
      e,
      e.reason === 'unexpected'
        ? `pid ${e.pid} ${e.signal === null ? `exited with code ${e.code}` : `was killed by ${e.signal}`}; stopping`
        : undefined,
    ),
  );
  supervisor.on('close', (e: ServeExit) => line('close', e, undefined));
}

export const serveCommand = {
  usage:
    'portwarden serve --port <port> [--host <address>] [--ready-timeout 30s] [--force-after 5s|false] [--pid-file <path>] -- <command> [args...]\n' +
    '       portwarden serve --reload --port <port> [--pid-file <path>] [--timeout <duration>]',
  summary:
    'hold a port and hand it to each new process of a command; SIGHUP or --reload swaps processes without refusing a connection',
  options: {
    port: {type: 'string'},
    host: {type: 'string'},
    'ready-timeout': {type: 'string'},
    'force-after': {type: 'string'},
    'pid-file': {type: 'string'},
    reload: {type: 'boolean', default: false},
    timeout: {type: 'string'},
  } satisfies Options as Options,
  async run(positionals: string[], values: Record<string, unknown>, io: Io): Promise<number> {
    const port = parsePortArg(values.port as string | undefined);
    if (values.reload) {
      if (positionals.length > 0) {
        throw new UsageError('Expected no command with --reload');
      }

      try {
        return await reloadOther(port, values, io);
      } catch (error) {
        return fail(error, values, io);
      }
    }

    if (positionals.length === 0) {
      throw new UsageError('Expected a command after --');
    }

    if (values.timeout !== undefined) {
      throw new UsageError(
        'Expected --timeout only with --reload (the start waits --ready-timeout)',
      );
    }

    const forceText = values['force-after'] as string | undefined;
    const forceAfter = forceText === 'false' ? false : optionalDuration(values, 'force-after');
    const readyTimeout = optionalDuration(values, 'ready-timeout');

    // Signals are handled before anything starts: a SIGHUP during the first start is kept
    // for after it (its default action would end the supervisor), TERM/INT abort it.
    let supervisor: ServeSupervisor | undefined;
    let reloadPending = false;
    const abort = new AbortController();
    const reloadNow = () => {
      supervisor?.reload().catch(() => {}); // reported through 'reload-failed'
    };

    const onHup = () => {
      if (supervisor === undefined) {
        reloadPending = true;
      } else {
        reloadNow();
      }
    };

    const onStop = () => {
      if (supervisor === undefined) {
        abort.abort();
      } else {
        void supervisor.close();
      }
    };

    process.on('SIGHUP', onHup);
    for (const signal of STOP_SIGNALS) {
      process.on(signal, onStop);
    }

    const cleanup = () => {
      process.off('SIGHUP', onHup);
      for (const signal of STOP_SIGNALS) {
        process.off(signal, onStop);
      }
    };

    try {
      supervisor = await serve({
        port,
        command: positionals,
        signal: abort.signal,
        ...(values.host === undefined ? {} : {host: values.host as string}),
        ...(readyTimeout === undefined ? {} : {readyTimeout}),
        ...(forceAfter === undefined ? {} : {forceAfter}),
        ...(values['pid-file'] === undefined ? {} : {pidFile: values['pid-file'] as string}),
      });
    } catch (error) {
      cleanup();
      return fail(error, values, io);
    }

    report(supervisor, values, io);
    if (values.json) {
      io.out(
        JSON.stringify({
          event: 'ready',
          at: Date.now(),
          pid: supervisor.pid,
          generation: 1,
          port,
          host: supervisor.host,
          supervisor: process.pid,
          pidFile: supervisor.pidFile,
        }),
      );
    } else if (!values.quiet) {
      io.err(
        `portwarden serve: port ${port} on ${supervisor.host}: pid ${supervisor.pid} ready (supervisor pid ${process.pid}; portwarden serve --reload --port ${port} or kill -HUP ${process.pid} to reload)`,
      );
    }

    // Under systemd (Type=notify), the supervisor is the service: ready once its first process is.
    try {
      notifyReady(`serving port ${port}`);
    } catch {}

    if (reloadPending) {
      reloadNow();
    }

    const exit = await supervisor.closed;
    cleanup();
    return exitStatusOf(exit);
  },
};
