// `portwarden serve`: the CLI over serve() (src/serve/supervisor.ts) and requestReload().
import {requestReload} from '../serve/control.js';
import type {ServeError} from '../serve/errors.js';
import {exitStatusOf, type ServeExit} from '../serve/exit.js';
import {
  serve,
  type ServeChildExit,
  type ServeReady,
  type ServeSupervisor,
} from '../serve/supervisor.js';
import {notifyReady} from '../services/notify.js';
import {parseDuration, parseForceAfter, parsePort, UsageError} from './args.js';
import {errorJson} from './errors.js';
import {EXIT, type Io} from './output.js';
import type {Runner, ServeFlags, Values} from './spec.js';

const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

async function reloadOther(port: number, values: Values<ServeFlags>, io: Io) {
  const result = await requestReload(port, {
    ...(values['pid-file'] === undefined ? {} : {pidFile: values['pid-file']}),
    ...(values.timeout === undefined ? {} : {timeout: parseDuration(values.timeout)}),
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
function report(supervisor: ServeSupervisor, values: Values<ServeFlags>, io: Io) {
  const {json, quiet} = values;
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

export const serveRunner: Runner<ServeFlags> = async (positionals, values, io) => {
  const port = parsePort(values.port, '--port');
  if (values.reload) {
    if (positionals.length > 0) {
      throw new UsageError('Expected no command with --reload');
    }

    return reloadOther(port, values, io);
  }

  if (positionals.length === 0) {
    throw new UsageError('Expected a command after --');
  }

  if (values.timeout !== undefined) {
    throw new UsageError('Expected --timeout only with --reload (the start waits --ready-timeout)');
  }

  // The supervisor reports events for as long as it runs: a stalled reader of its output must
  // not stop it from handling signals, READY=1 and exits.
  io.streaming?.();
  const {forceAfter} = parseForceAfter(values['force-after']);
  const readyTimeout =
    values['ready-timeout'] === undefined
      ? undefined
      : parseDuration(values['ready-timeout'], '--ready-timeout');

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
      ...(values.host === undefined ? {} : {host: values.host}),
      ...(readyTimeout === undefined ? {} : {readyTimeout}),
      ...(forceAfter === undefined ? {} : {forceAfter}),
      ...(values['pid-file'] === undefined ? {} : {pidFile: values['pid-file']}),
    });
  } catch (error) {
    cleanup();
    throw error;
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
};
