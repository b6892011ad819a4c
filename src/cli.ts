// portwarden CLI: argv → one library call → human or --json output, and an exit code:
// 0 the condition holds, 1 it does not (busy, timeout, already running),
// 2 unknown / probe unavailable, 64 usage error.
import {spawn} from 'node:child_process';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {parseArgs, type ParseArgsConfig} from 'node:util';
import {describeSocket} from './errors.js';
import {packageRoot} from './native.js';
import {checkPort, probePort} from './probe.js';
import type {BackendChoice, PortStatus, Protocol, SocketEntry} from './types.js';

export const EXIT = {ok: 0, no: 1, unknown: 2, usage: 64} as const;

export class UsageError extends Error {
  constructor(
    message: string,
    readonly help: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

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
    throw new TypeError(
      `Expected ${name} to be a duration such as 500, 500ms or 5s, got '${text}'`,
    );
  }

  return value;
}

export function parsePortArg(text: string | undefined): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 65_535) {
    throw new TypeError(
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
      throw new UsageError((error as Error).message, command.usage);
    }

    if (parsed.values.help) {
      io.out(`${command.usage}\n  ${command.summary}`);
      return EXIT.ok;
    }

    return await command.run(parsed.positionals, parsed.values, io);
  } catch (error) {
    const err = error as Error & {code?: string};
    if (error instanceof UsageError || error instanceof TypeError || error instanceof RangeError) {
      io.err(`portwarden ${name}: ${err.message}\nusage: ${command.usage}`);
      return EXIT.usage;
    }

    if (err.name === 'ProbeUnavailableError') {
      io.err(`portwarden ${name}: ${err.message}`);
      return EXIT.unknown;
    }

    throw error;
  }
}
