// portwarden CLI: argv → one library call → human or --json output, and an exit code:
// 0 the condition holds, 1 it does not (busy, timeout, already running), 2 unknown / probe
// unavailable, 64 usage error, 70 internal error. Only this file, spec.ts and args.ts load at
// start-up; a command's code (and the part of the library it needs) loads when it runs.
import {builtin} from '../builtin.js';
import path from 'node:path';
import {packageRoot} from '../native.js';
import {UsageError} from './args.js';
import {classify, cliMessage, errorJson} from './errors.js';
import {EXIT, type Io} from './output.js';
import {
  type Command,
  COMMON,
  commands,
  type Flag,
  type Flags,
  helpText,
  overview,
  usageLine,
  type Values,
} from './spec.js';

const {readFileSync} = builtin.fs();
const {parseArgs} = builtin.util();

export {EXIT, type Io} from './output.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** parseArgs options of a command: its flags and the common ones (booleans default to false). */
function parseOptions(c: Command) {
  const options: Record<
    string,
    {type: 'string' | 'boolean'; short?: string; multiple?: boolean; default?: string | boolean}
  > = {};
  for (const [name, flag] of Object.entries({...c.flags, ...COMMON}) as Array<[string, Flag]>) {
    options[name] = {
      type: flag.type,
      ...(flag.short === undefined ? {} : {short: flag.short}),
      ...(flag.multiple ? {multiple: true} : {}),
      ...(flag.type === 'boolean'
        ? {default: false}
        : flag.default === undefined
          ? {}
          : {default: flag.default}),
    };
  }

  return options;
}

/** Node's parseArgs errors, said the CLI's way. */
function usageFrom(error: unknown, c: Command): UsageError {
  const e = error as {code?: string; message: string};
  const option = /'(-[^']*)'/.exec(e.message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      return new UsageError(
        `Unknown flag '${option ?? '?'}' for 'portwarden ${c.name}'; its flags: ${Object.keys({
          ...c.flags,
          ...COMMON,
        })
          .map((f) => `--${f}`)
          .join(' ')}`,
      );
    }

    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      return new UsageError(
        option && e.message.includes('argument missing')
          ? `Expected a value after '${option}'`
          : `Flag '${option ?? '?'}' takes no value`,
      );
    }

    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      return new UsageError(`Unexpected argument for 'portwarden ${c.name}': ${e.message}`);
    }

    default: {
      return new UsageError(e.message);
    }
  }
}

function checkPositionals(c: Command, positionals: string[]): void {
  const [min, max] = c.positionals;
  if (positionals.length < min) {
    throw new UsageError(
      `Expected ${c.synopsis.split(' ').slice(0, min).join(' ') || 'more arguments'} after 'portwarden ${c.name}'`,
    );
  }

  if (positionals.length > max) {
    throw new UsageError(
      `Unexpected argument '${positionals[max]}' for 'portwarden ${c.name}' (it takes ${max === 0 ? 'none' : max === 1 ? 'one' : max})`,
    );
  }
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

  // Until the flags parse, `--json` anywhere before `--` asks for JSON (of the usage error).
  const dashDash = rest.indexOf('--');
  const own = dashDash === -1 ? rest : rest.slice(0, dashDash);
  let json = own.includes('--json');
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: rest,
        options: parseOptions(command),
        allowPositionals: true,
        strict: true,
        tokens: true,
      });
    } catch (error) {
      throw usageFrom(error, command);
    }

    // parseOptions made every flag of the command; its runner reads them by name and type.
    const values = parsed.values as Values<Flags>;
    json = values.json;
    if (values.help) {
      io.out(helpText(command));
      return EXIT.ok;
    }

    // Words after `--` belong to the command being run (pidfile exec), not to us.
    const end = parsed.tokens.find((t) => t.kind === 'option-terminator')?.index;
    const positionals = parsed.tokens
      .filter((t) => t.kind === 'positional' && (end === undefined || t.index < end))
      .map((t) => (t as {value: string}).value);
    const after = end === undefined ? [] : rest.slice(end + 1);
    if (after.length > 0 && !command.rest) {
      throw new UsageError(`'portwarden ${name}' takes nothing after '--'`);
    }

    checkPositionals(command, positionals);
    const run = await command.load();
    return await run(command.rest ? [...positionals, ...after] : positionals, values, io);
  } catch (error) {
    const kind = classify(error);
    if (json) {
      io.out(JSON.stringify(errorJson(error)));
    }

    const err = error as Error;
    if (kind === 'usage') {
      io.err(`portwarden ${name}: ${cliMessage(err.message)}\nusage: ${usageLine(command)}`);
    } else if (kind === 'internal') {
      io.err(`portwarden ${name}: internal error: ${err.stack ?? String(error)}`);
    } else {
      io.err(`portwarden ${name}: ${cliMessage(err.message)}`);
      if (error instanceof AggregateError) {
        for (const inner of error.errors as Error[]) {
          io.err(`  ${cliMessage(inner.message)}`);
        }
      }
    }

    return EXIT[kind];
  }
}
