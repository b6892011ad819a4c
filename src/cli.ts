// portwarden CLI: argv → one library call → human or --json output, and an exit code:
// 0 the condition holds, 1 it does not (busy, timeout, already running),
// 2 unknown / probe unavailable, 64 usage error.
import {spawn} from 'node:child_process';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {parseArgs, type ParseArgsConfig} from 'node:util';
import {constants} from 'node:os';
import {classify, errorJson} from './cli-errors.js';
import {serveCommand} from './cli-serve.js';
import {describeSocket} from './errors.js';
import {packageRoot} from './native.js';
import {claimPidFile, readPidFile} from './pidfile.js';
import {checkPort, probePort} from './probe.js';
import {restartService, startService, stopService} from './services/index.js';
import type {ServiceResult, ServiceSpec} from './services/types.js';
import {freePort, type FreePortFilter, type TerminateResult} from './terminate.js';
import type {BackendChoice, PortStatus, Protocol, SocketEntry} from './types.js';
import {waitForListening, waitForPortFree, type WaitProgress} from './wait.js';

export const EXIT = {ok: 0, no: 1, unknown: 2, usage: 64, internal: 70} as const;

/** Bad command-line input (exit 64). */
export class UsageError extends Error {
  readonly code = 'USAGE';
}

Object.defineProperty(UsageError.prototype, 'name', {value: 'UsageError', configurable: true});

type Options = NonNullable<ParseArgsConfig['options']>;

const COMMON: Options = {
  json: {type: 'boolean', default: false},
  quiet: {type: 'boolean', short: 'q', default: false},
  help: {type: 'boolean', short: 'h', default: false},
};
const PROBE: Options = {
  host: {type: 'string'},
  protocol: {type: 'string', default: 'tcp'},
  strict: {type: 'boolean', default: false},
  backend: {type: 'string', default: 'auto'},
  timeout: {type: 'string'},
};

export type Io = {
  out: (text: string) => void;
  err: (text: string) => void;
  isTTY: boolean;
};

type Command = {
  usage: string;
  summary: string;
  options: Options;
  run(positionals: string[], values: Record<string, unknown>, io: Io): Promise<number>;
};

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

export function parsePortArg(text: string | undefined): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 65_535) {
    throw new UsageError(
      `Expected <port> to be an integer between 1 and 65535, got ${text === undefined ? 'nothing' : `'${text}'`}`,
    );
  }

  return Number(text);
}

function probeOptions(values: Record<string, unknown>) {
  return {
    host: values.host as string | undefined,
    protocol: values.protocol as Protocol,
    strict: values.strict as boolean,
    backend: values.backend as BackendChoice,
    ...(values.timeout === undefined ? {} : {timeout: parseDuration(values.timeout as string)}),
  };
}

export function formatSocket(entry: SocketEntry): string {
  const owner = entry.owner;
  const holders =
    owner?.status === 'found'
      ? owner.processes.map((p) => `pid ${p.pid} ${p.command}`).join('; ')
      : undefined;
  return holders === undefined
    ? describeSocket(entry)
    : `${describeSocket({...entry, owner: undefined})} ${holders}`;
}

function printStatus(
  port: number,
  status: PortStatus,
  values: Record<string, unknown>,
  io: Io,
): number {
  if (values.json) {
    io.out(JSON.stringify({port, ...status}));
  } else if (!values.quiet) {
    if (status.status === 'free') {
      io.out(`port ${port} is free`);
    } else if (status.status === 'busy') {
      io.out(`port ${port} is busy:`);
      for (const blocker of status.blockers) {
        io.out(`  ${formatSocket(blocker)}`);
      }
    } else {
      io.err(
        `port ${port}: unknown (${status.code}${status.permanent ? ', permanent' : ''}): ${status.reason}`,
      );
    }
  }

  return status.status === 'free' ? EXIT.ok : status.status === 'busy' ? EXIT.no : EXIT.unknown;
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

function parseSignal(text: string): NodeJS.Signals {
  const name = (text.startsWith('SIG') ? text : `SIG${text}`).toUpperCase();
  if (!(name in constants.signals)) {
    throw new UsageError(
      `Expected --signal to be a signal name such as SIGTERM or HUP, got '${text}'`,
    );
  }

  return name as NodeJS.Signals;
}

function parsePid(text: string, name: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 2_147_483_647) {
    throw new UsageError(`Expected ${name} to be a pid (a positive integer), got '${text}'`);
  }

  return Number(text);
}

/** On a TTY, one self-rewriting status line while waiting; nothing otherwise. */
function progressLine(io: Io, values: Record<string, unknown>) {
  if (!io.isTTY || values.quiet || values.json) {
    return {update: (_p: WaitProgress) => {}, done: () => {}};
  }

  let last = 0;
  let shown = false;
  return {
    update(progress: WaitProgress) {
      if (progress.elapsedMs - last < 100) {
        return;
      }

      last = progress.elapsedMs;
      shown = true;
      const who = progress.blockers.map((b) => describeSocket(b)).join('; ');
      io.err(
        `\r\u001B[2K${(progress.elapsedMs / 1000).toFixed(1)} s: ${who}`.slice(0, 200) +
          '\u001B[1A',
      );
    },
    done() {
      if (shown) {
        io.err('\r\u001B[2K\u001B[1A');
      }
    },
  };
}

function printTerminated(results: readonly TerminateResult[], io: Io) {
  for (const r of results) {
    const what =
      r.status === 'dry-run'
        ? `would send ${r.signal ?? 'nothing'} to`
        : r.status === 'terminated'
          ? `${r.forced ? 'killed (SIGKILL after the grace period)' : `stopped by ${r.signal ?? 'signal'}`}`
          : r.status === 'reused'
            ? 'skipped (pid reused by another process)'
            : 'already gone:';
    io.out(`${what} pid ${r.pid}${r.command ? ` ${r.command}` : ''}`);
  }
}

function serviceSpec(values: Record<string, unknown>): ServiceSpec {
  const port = values.port === undefined ? undefined : parsePortArg(values.port as string);
  const chosen = [values.systemd, values.launchd, values.stop ?? values.start].filter(
    (v) => v !== undefined,
  );
  if (chosen.length !== 1) {
    throw new UsageError(
      'Expected exactly one of --systemd <unit>, --launchd <label> or --stop/--start <command>',
    );
  }

  if (values.systemd !== undefined) {
    const scope = (values.scope as string | undefined) ?? 'user';
    if (scope !== 'user' && scope !== 'system') {
      throw new UsageError(`Expected --scope to be 'user' or 'system', got '${scope}'`);
    }

    return {
      manager: 'systemd',
      unit: values.systemd as string,
      scope,
      ...(port === undefined ? {} : {port}),
    };
  }

  if (values.launchd !== undefined) {
    if (values.plist === undefined) {
      throw new UsageError('Expected --plist <absolute path> with --launchd');
    }

    return {
      manager: 'launchd',
      label: values.launchd as string,
      plist: values.plist as string,
      ...(values.domain === undefined ? {} : {domain: values.domain as string}),
      ...(port === undefined ? {} : {port}),
    };
  }

  if (values.stop === undefined || values.start === undefined || port === undefined) {
    throw new UsageError('Expected --stop <command>, --start <command> and --port <port> together');
  }

  return {
    manager: 'command',
    stop: splitWords(values.stop as string, '--stop'),
    start: splitWords(values.start as string, '--start'),
    port,
    ...(values.pidfile === undefined ? {} : {pidFile: values.pidfile as string}),
  };
}

const SERVICE_OPTIONS: Options = {
  systemd: {type: 'string'},
  scope: {type: 'string'},
  launchd: {type: 'string'},
  plist: {type: 'string'},
  domain: {type: 'string'},
  stop: {type: 'string'},
  start: {type: 'string'},
  pidfile: {type: 'string'},
  port: {type: 'string'},
  host: {type: 'string'},
  timeout: {type: 'string'},
  'force-after': {type: 'string'},
  'kill-strays': {type: 'boolean', default: false},
  'reset-failed': {type: 'boolean', default: false},
  'keep-failed': {type: 'boolean', default: false},
};

function forceAfterOf(values: Record<string, unknown>): {forceAfter?: number | false} {
  const text = values['force-after'] as string | undefined;
  if (text === undefined) {
    return {};
  }

  return {forceAfter: text === 'never' ? false : parseDuration(text, '--force-after')};
}

function serviceCommand(action: 'restart' | 'stop' | 'start'): Command {
  const run = {restart: restartService, stop: stopService, start: startService}[action];
  return {
    usage: `portwarden ${action} (--systemd <unit> [--scope user|system] | --launchd <label> --plist <path> [--domain D] | --stop <cmd> --start <cmd> [--pidfile P]) [--port N] [--timeout T] [--force-after T|never] [--kill-strays] [--reset-failed] [--keep-failed] [--json]`,
    summary: `${action} a service and prove the port ${action === 'stop' ? 'free' : action === 'start' ? 'listening' : 'free, then listening'}`,
    options: SERVICE_OPTIONS,
    async run(_positionals, values, io) {
      const spec = serviceSpec(values);
      const result: ServiceResult = await run(spec, {
        ...(values.timeout === undefined ? {} : {timeout: parseDuration(values.timeout as string)}),
        ...forceAfterOf(values),
        ...(values.host === undefined ? {} : {host: values.host as string}),
        killStrays: values['kill-strays'] as boolean,
        resetFailed: values['reset-failed'] as boolean,
        keepFailed: values['keep-failed'] as boolean,
      });
      if (values.json) {
        io.out(JSON.stringify(result));
      } else if (!values.quiet) {
        io.out(result.summary);
      }

      return EXIT.ok;
    },
  };
}

export const commands: Record<string, Command> = {
  who: {
    usage:
      'portwarden who <port> [--protocol tcp|udp] [--listen] [--backend auto|native|lsof] [--json]',
    summary: 'list the sockets on a port, their states and the processes holding them',
    options: {...PROBE, listen: {type: 'boolean', default: false}},
    async run([portText], values, io) {
      const port = parsePortArg(portText);
      const report = await probePort(port, {
        protocol: values.protocol as Protocol,
        states: values.listen ? 'listen' : 'all',
        backend: values.backend as BackendChoice,
        ...(values.timeout === undefined ? {} : {timeout: parseDuration(values.timeout as string)}),
      });
      if (values.json) {
        io.out(JSON.stringify(report));
      } else if (!values.quiet) {
        if (report.sockets.length === 0) {
          io.out(`nothing on ${report.protocol} port ${port}`);
        }

        for (const socket of report.sockets) {
          io.out(formatSocket(socket));
        }
      }

      return report.sockets.length > 0 ? EXIT.ok : EXIT.no;
    },
  },
  check: {
    usage:
      'portwarden check <port> [--host ADDR] [--strict] [--protocol tcp|udp] [--backend ..] [--json]',
    summary: 'exit 0 if the port is free, 1 if busy, 2 if it cannot be told',
    options: PROBE,
    async run([portText], values, io) {
      const port = parsePortArg(portText);
      return printStatus(port, await checkPort(port, probeOptions(values)), values, io);
    },
  },
  'wait-free': {
    usage:
      'portwarden wait-free <port> [--timeout T] [--host ADDR] [--strict] [--protocol tcp|udp] [--json]',
    summary:
      'wait until nothing listens on the port any more (exit 1 on timeout, naming the holders)',
    options: PROBE,
    async run([portText], values, io) {
      const port = parsePortArg(portText);
      const progress = progressLine(io, values);
      try {
        const result = await waitForPortFree(port, {
          ...probeOptions(values),
          onProgress: progress.update,
        });
        progress.done();
        if (values.json) {
          io.out(JSON.stringify({status: 'free', ...result}));
        } else if (!values.quiet) {
          io.out(`port ${port} is free (after ${Math.round(result.elapsedMs)} ms)`);
        }

        return EXIT.ok;
      } catch (error) {
        progress.done();
        throw error;
      }
    },
  },
  'wait-listen': {
    usage:
      'portwarden wait-listen <port> [--pid N] [--timeout T] [--host ADDR] [--protocol tcp|udp] [--json]',
    summary:
      'wait until the port listens (by --pid or a descendant); exit 1 on timeout or if the pid exits',
    options: {...PROBE, pid: {type: 'string'}},
    async run([portText], values, io) {
      const port = parsePortArg(portText);
      const {strict: _strict, ...options} = probeOptions(values);
      const entry = await waitForListening(port, {
        ...options,
        ...(values.pid === undefined ? {} : {pid: parsePid(values.pid as string, '--pid')}),
      });
      if (values.json) {
        io.out(JSON.stringify(entry));
      } else if (!values.quiet) {
        io.out(formatSocket(entry));
      }

      return EXIT.ok;
    },
  },
  free: {
    usage:
      'portwarden free <port> [--signal SIGTERM] [--force-after T|never] [--filter REGEX] [--filter-pid N] [--filter-uid N] [--dry-run] [--allow-other-users] [--timeout T] [--host ADDR] [--json]',
    summary:
      'stop every process holding the port (SIGTERM, then SIGKILL) and wait until it is free',
    options: {
      ...PROBE,
      signal: {type: 'string', default: 'SIGTERM'},
      'force-after': {type: 'string'},
      filter: {type: 'string'},
      'filter-pid': {type: 'string', multiple: true},
      'filter-uid': {type: 'string'},
      'dry-run': {type: 'boolean', default: false},
      'allow-other-users': {type: 'boolean', default: false},
    },
    async run([portText], values, io) {
      const port = parsePortArg(portText);
      const filter: {-readonly [K in keyof FreePortFilter]: FreePortFilter[K]} = {};
      if (values.filter !== undefined) {
        try {
          filter.command = new RegExp(values.filter as string);
        } catch {
          throw new UsageError(
            `Expected --filter to be a regular expression, got '${values.filter as string}'`,
          );
        }
      }

      if (values['filter-pid'] !== undefined) {
        filter.pids = (values['filter-pid'] as string[]).map((p) => parsePid(p, '--filter-pid'));
      }

      if (values['filter-uid'] !== undefined) {
        const uid = values['filter-uid'] as string;
        if (!/^\d+$/.test(uid)) {
          throw new UsageError(`Expected --filter-uid to be a uid, got '${uid}'`);
        }

        filter.uid = Number(uid);
      }

      const {strict: _strict, ...options} = probeOptions(values);
      const results = await freePort(port, {
        ...options,
        ...forceAfterOf(values),
        signal: parseSignal(values.signal as string),
        dryRun: values['dry-run'] as boolean,
        allowOtherUsers: values['allow-other-users'] as boolean,
        ...(Object.keys(filter).length > 0 ? {filter} : {}),
      });
      if (values.json) {
        io.out(JSON.stringify(results));
      } else if (!values.quiet) {
        printTerminated(results, io);
        if (!values['dry-run']) {
          io.out(`port ${port} is free`);
        }
      }

      return EXIT.ok;
    },
  },
  pidfile: {
    usage:
      'portwarden pidfile read <path> | claim <path> | release <path> | exec <path> [--data JSON] -- <command> [args...]',
    summary: 'read, test, clear or hold a PID file (exec holds its lock for the life of a command)',
    options: {data: {type: 'string'}},
    async run([action, file, ...commandLine], values, io) {
      if (file === undefined || !['read', 'claim', 'release', 'exec'].includes(action ?? '')) {
        throw new UsageError('Expected read, claim, release or exec and a path');
      }

      const report = (text: string, json: unknown) => {
        if (values.json) {
          io.out(JSON.stringify(json));
        } else if (!values.quiet) {
          io.out(text);
        }
      };

      if (action === 'read') {
        const info = readPidFile(file);
        if (info === undefined) {
          report(`${file}: no PID file`, {exists: false});
          return EXIT.no;
        }

        const state = info.locked
          ? 'held (running)'
          : info.alive
            ? 'stale (unlocked; its pid still runs)'
            : 'stale';
        report(`${file}: pid ${info.pid ?? '?'} ${state}`, {exists: true, ...info});
        return info.locked ? EXIT.ok : EXIT.no;
      }

      // A claim throws AlreadyRunningError (exit 1) while a live process holds the file.
      const data =
        values.data === undefined ? undefined : (JSON.parse(values.data as string) as unknown);
      const handle = claimPidFile(file, data === undefined ? {} : {data});
      if (action !== 'exec') {
        // This process exits at once, so it cannot keep the lock: claim tests, release clears.
        handle.release();
        report(
          action === 'claim'
            ? `${file}: free to claim${handle.tookOver ? ' (held a stale record)' : ''}`
            : `${file}: ${handle.created ? 'no PID file' : 'stale PID file removed'}`,
          {path: handle.path, created: handle.created, tookOver: handle.tookOver},
        );
        return EXIT.ok;
      }

      const [program, ...args] = commandLine;
      if (program === undefined) {
        handle.release();
        throw new UsageError('Expected a command after --');
      }

      // The child inherits the locked descriptor as fd 3: the lock lives as long as either of us.
      const child = spawn(program, args, {stdio: ['inherit', 'inherit', 'inherit', handle.fd]});
      const forward = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;
      const relay = (signal: NodeJS.Signals) => child.kill(signal);
      for (const signal of forward) {
        process.on(signal, relay);
      }

      return new Promise((resolve) => {
        child.once('spawn', () => {
          try {
            handle.handOver(child.pid!);
          } catch {
            // It exited at once; the exit handler below reports its status.
          }
        });
        child.once('error', (error) => {
          handle.release();
          io.err(`portwarden pidfile exec: cannot run ${program}: ${error.message}`);
          resolve(127);
        });
        child.once('exit', (code, signal) => {
          for (const s of forward) {
            process.off(s, relay);
          }

          handle.release();
          resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
        });
      });
    },
  },
  restart: serviceCommand('restart'),
  stop: serviceCommand('stop'),
  start: serviceCommand('start'),
  serve: serveCommand,
  bench: {
    usage: 'portwarden bench [--quick] [--out DIR]',
    summary: 'run the bundled benchmark (writes results.md, results.json, results.svg)',
    options: {
      quick: {type: 'boolean', default: false},
      out: {type: 'string', default: 'portwarden-bench'},
    },
    async run(_positionals, values) {
      const args = [
        path.join(packageRoot, 'scripts', 'bench.mjs'),
        '--out',
        path.resolve(values.out as string),
      ];
      if (values.quick) {
        args.push('--quick');
      }

      const child = spawn(process.execPath, args, {stdio: 'inherit'});
      return new Promise((resolve) => child.on('close', (code) => resolve(code ?? EXIT.unknown)));
    },
  },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function overview(): string {
  const lines = ['Usage: portwarden <command> [options]', '', 'Commands:'];
  for (const [name, command] of Object.entries(commands)) {
    lines.push(`  ${name.padEnd(12)} ${command.summary}`);
  }

  lines.push('', 'Exit codes: 0 condition holds, 1 it does not, 2 unknown, 64 usage error.');
  lines.push("Run 'portwarden <command> --help' for a command's options.");
  return lines.join('\n');
}

export async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(overview());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }

  if (name === '--version' || name === '-v') {
    io.out(version());
    return EXIT.ok;
  }

  const command = commands[name];
  if (!command) {
    io.err(`portwarden: unknown command '${name}'\n${overview()}`);
    return EXIT.usage;
  }

  // Until the arguments parse, `--json` anywhere asks for JSON (of the usage error).
  let json = rest.includes('--json');
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: rest,
        options: {...COMMON, ...command.options},
        allowPositionals: true,
        strict: true,
      });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }

    json = parsed.values.json === true;
    if (parsed.values.help) {
      io.out(`${command.usage}\n  ${command.summary}`);
      return EXIT.ok;
    }

    return await command.run(parsed.positionals, parsed.values, io);
  } catch (error) {
    const kind = classify(error);
    if (json) {
      io.out(JSON.stringify(errorJson(error, kind === 'usage' ? command.usage : undefined)));
    }

    const err = error as Error;
    if (kind === 'usage') {
      io.err(`portwarden ${name}: ${err.message}\nusage: ${command.usage}`);
    } else if (kind === 'internal') {
      io.err(`portwarden ${name}: internal error: ${err.stack ?? String(error)}`);
    } else {
      io.err(`portwarden ${name}: ${err.message}`);
      if (error instanceof AggregateError) {
        for (const inner of error.errors as Error[]) {
          io.err(`  ${inner.message}`);
        }
      }
    }

    return EXIT[kind];
  }
}
