// What each command accepts: its synopsis, its flags with their help, and where its code is.
// The help text (`portwarden <command> --help`), the overview and the README's CLI reference
// are all generated from this table. A command's code is imported only when it runs, so
// `portwarden check` loads the probe and nothing else.
import type {Io} from './output.js';

/** One flag: how parseArgs reads it, plus the help line. Booleans default to false. */
export type Flag = {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  readonly default?: string;
  /** The value's placeholder in the synopsis: `--timeout T`. */
  readonly arg?: string;
  readonly help: string;
};

export type Flags = Readonly<Record<string, Flag>>;

/** The parsed values of `F` (what parseArgs returns for that configuration). */
export type Values<F extends Flags> = {
  -readonly [K in keyof F]: F[K]['type'] extends 'boolean'
    ? boolean
    : F[K] extends {multiple: true}
      ? string[] | undefined
      : F[K] extends {default: string}
        ? string
        : string | undefined;
} & CommonValues;

export type CommonValues = {json: boolean; quiet: boolean; help: boolean};

export type Runner<F extends Flags> = (
  positionals: string[],
  values: Values<F>,
  io: Io,
) => Promise<number>;

export type Command<F extends Flags = Flags> = {
  readonly name: string;
  /** What follows the command name: `<port>`, `read|claim|release <path>`. */
  readonly synopsis: string;
  readonly summary: string;
  /** More lines of help, shown under the flags. */
  readonly notes?: readonly string[];
  readonly flags: F;
  /** Positional arguments: how many at least and at most (`--` and after excluded). */
  readonly positionals: readonly [min: number, max: number];
  /** Whether words after `--` are the command's (pidfile exec). */
  readonly rest?: boolean;
  load(): Promise<Runner<F>>;
};

export const COMMON = {
  json: {
    type: 'boolean',
    help: 'print one JSON document on stdout: the result, or {error, code, message, ...}',
  },
  quiet: {type: 'boolean', short: 'q', help: 'print nothing on success (the exit code answers)'},
  help: {type: 'boolean', short: 'h', help: 'show this help'},
} as const satisfies Flags;

const protocol = {type: 'string', arg: 'tcp|udp', default: 'tcp', help: 'the protocol'} as const;
const backend = {
  type: 'string',
  arg: 'auto|native|lsof',
  default: 'auto',
  help: "who answers: the addon, lsof, or the addon with lsof as fallback ('auto')",
} as const;
const attempt = {
  type: 'string',
  arg: 'T',
  help: 'budget of one lsof run (500, 500ms, 5s); the addon answers at once',
} as const;
const host = {
  type: 'string',
  arg: 'ADDR',
  help: 'the address to check (an IP literal; ::/0.0.0.0 overlap by the kernel rules); default: any',
} as const;
/** `--states` of check and wait-free: which sockets keep the port busy (checkPort's default). */
const states = {
  type: 'string',
  arg: 'listen|all',
  default: 'listen',
  help: 'which sockets count: listen (listeners, bound UDP sockets; the default) or all (TIME_WAIT too)',
} as const;
const waitTimeout = {type: 'string', arg: 'T', help: 'how long to wait (default 5s)'} as const;

function command<F extends Flags>(spec: Command<F>): Command<F> {
  return spec;
}

const whoFlags = {
  protocol,
  states: {
    type: 'string',
    arg: 'listen|all',
    default: 'all',
    help: 'which sockets to list: listen (listeners, bound UDP sockets) or all (the default)',
  },
  backend,
  timeout: attempt,
} as const;
const checkFlags = {host, states, protocol, backend, timeout: attempt} as const;
const waitFreeFlags = {timeout: waitTimeout, host, states, protocol, backend} as const;
const waitListenFlags = {
  pid: {
    type: 'string',
    arg: 'N',
    help: 'accept only a socket of N or its descendants; fail if N exits',
  },
  timeout: waitTimeout,
  host,
  protocol,
  backend,
} as const;
const freeFlags = {
  signal: {
    type: 'string',
    arg: 'S',
    default: 'SIGTERM',
    help: 'the first signal: a name (TERM, SIGINT) or number',
  },
  'force-after': {
    type: 'string',
    arg: 'T|never',
    help: 'SIGKILL whatever still runs after T (default 5s)',
  },
  filter: {type: 'string', arg: 'REGEX', help: 'only holders whose command line matches'},
  'filter-pid': {type: 'string', arg: 'N', multiple: true, help: 'only this pid (repeatable)'},
  'filter-uid': {type: 'string', arg: 'N', help: 'only processes of this uid'},
  'dry-run': {type: 'boolean', help: 'print what would be signalled; signal nothing'},
  'allow-other-users': {type: 'boolean', help: "also signal other users' processes"},
  timeout: {type: 'string', arg: 'T', help: 'overall budget (default: force-after + 5s)'},
  host,
  protocol,
  backend,
} as const;
const pidfileFlags = {
  force: {
    type: 'boolean',
    help: 'claim/release/exec: take over an unlocked file even if its pid runs',
  },
  data: {type: 'string', arg: 'JSON', help: 'claim/exec: caller data written into the file'},
} as const;
const serviceFlags = {
  systemd: {type: 'string', arg: 'UNIT', help: 'a systemd unit'},
  scope: {type: 'string', arg: 'user|system', default: 'user', help: 'the systemd manager'},
  launchd: {type: 'string', arg: 'LABEL', help: 'a launchd job (launchctl)'},
  plist: {type: 'string', arg: 'PATH', help: "the job's property list (absolute path)"},
  domain: {type: 'string', arg: 'D', help: 'gui/<uid>, user/<uid> or system (default gui/<uid>)'},
  stop: {
    type: 'string',
    arg: 'CMD',
    help: 'the stop command (split like a shell, never run by one)',
  },
  start: {type: 'string', arg: 'CMD', help: 'the start command (run detached; it may daemonize)'},
  pidfile: {type: 'string', arg: 'P', help: 'with --start: the PID file the daemon writes'},
  port: {type: 'string', arg: 'N', help: 'the TCP port the service listens on'},
  host,
  timeout: {type: 'string', arg: 'T', help: 'budget of each wait (default 30s)'},
  'force-after': {
    type: 'string',
    arg: 'T|never',
    help: 'SIGKILL holders still there after T (default 5s)',
  },
  'kill-strays': {
    type: 'boolean',
    help: 'systemd: stop processes outside the unit that hold the port',
  },
  'reset-failed': {
    type: 'boolean',
    help: 'systemd: reset-failed once when the start limit was hit',
  },
  'keep-failed': {
    type: 'boolean',
    help: '--start: leave a start that did not prove itself running',
  },
} as const;
const benchFlags = {
  quick: {type: 'boolean', help: 'one small scale, few iterations'},
  out: {type: 'string', arg: 'DIR', default: 'portwarden-bench', help: 'where the results go'},
} as const;

const serveFlags = {
  port: {type: 'string', arg: 'N', help: 'the TCP port to hold and hand to each process'},
  host: {type: 'string', arg: 'ADDR', help: 'the address to bind (default: every address)'},
  'ready-timeout': {
    type: 'string',
    arg: 'T',
    help: 'how long a new process has to send READY=1 (default 30s)',
  },
  'force-after': {
    type: 'string',
    arg: 'T|never',
    help: 'SIGKILL an old process still running T after its SIGTERM (default 5s)',
  },
  'pid-file': {
    type: 'string',
    arg: 'P',
    help: "the supervisor's PID file (default $XDG_RUNTIME_DIR/portwarden/serve-<port>.pid)",
  },
  reload: {type: 'boolean', help: 'ask the running supervisor of --port to reload, and wait'},
  timeout: {type: 'string', arg: 'T', help: 'with --reload: how long to wait for the outcome'},
} as const;

export type WhoFlags = typeof whoFlags;
export type ServeFlags = typeof serveFlags;
export type CheckFlags = typeof checkFlags;
export type WaitFreeFlags = typeof waitFreeFlags;
export type WaitListenFlags = typeof waitListenFlags;
export type FreeFlags = typeof freeFlags;
export type PidfileFlags = typeof pidfileFlags;
export type ServiceFlags = typeof serviceFlags;
export type BenchFlags = typeof benchFlags;

const service = (action: 'restart' | 'stop' | 'start') =>
  command({
    name: action,
    synopsis:
      '(--systemd UNIT [--scope S] | --launchd LABEL --plist PATH [--domain D] | --stop CMD --start CMD [--pidfile P]) [--port N]',
    summary: `${action} a service and prove the port ${action === 'stop' ? 'free' : action === 'start' ? 'listening' : 'free, then listening'}`,
    notes: [
      action === 'restart'
        ? '--stop and --start are both needed with the command manager.'
        : action === 'stop'
          ? 'The command manager needs --stop (and --port).'
          : 'The command manager needs --start (and --port).',
    ],
    flags: serviceFlags,
    positionals: [0, 0],
    load: async () => (await import('./service.js')).service(action),
  });

/** Every command, in the order the overview lists them. */
export const commands: Record<string, Command<any>> = {
  who: command({
    name: 'who',
    synopsis: '<port>...',
    summary: 'list the sockets on ports, their states and the processes holding them',
    notes: [
      'Exit 0 when something is on every port given, 1 when a port has nothing.',
      'With --json: the report of the port, or an array of reports for several ports.',
    ],
    flags: whoFlags,
    positionals: [1, 64],
    load: async () => (await import('./probe.js')).who,
  }),
  check: command({
    name: 'check',
    synopsis: '<port>',
    summary: 'exit 0 if the port is free, 1 if busy, 2 if it cannot be told',
    flags: checkFlags,
    positionals: [1, 1],
    load: async () => (await import('./probe.js')).check,
  }),
  'wait-free': command({
    name: 'wait-free',
    synopsis: '<port>',
    summary:
      'wait until nothing listens on the port any more (exit 1 on timeout, naming the holders)',
    flags: waitFreeFlags,
    positionals: [1, 1],
    load: async () => (await import('./wait.js')).waitFree,
  }),
  'wait-listen': command({
    name: 'wait-listen',
    synopsis: '<port>',
    summary:
      'wait until the port listens (by --pid or a descendant); exit 1 on timeout or if the pid exits',
    flags: waitListenFlags,
    positionals: [1, 1],
    load: async () => (await import('./wait.js')).waitListen,
  }),
  free: command({
    name: 'free',
    synopsis: '<port>...',
    summary:
      'stop every process holding the ports (SIGTERM, then SIGKILL) and wait until they are free',
    notes: ['With several ports, nothing is signalled unless every holder of every port can be.'],
    flags: freeFlags,
    positionals: [1, 64],
    load: async () => (await import('./free.js')).free,
  }),
  pidfile: command({
    name: 'pidfile',
    synopsis: 'read|claim|release <path> | exec <path> -- <command> [args...]',
    summary: 'read, test, clear or hold a PID file (exec holds its lock for the life of a command)',
    notes: [
      'read: exit 0 while an instance runs (a lock, or an unlocked file whose pid runs).',
      'claim: exit 0 if the file could be claimed now (the CLI cannot keep the lock: use exec).',
      'release: remove a stale file; exit 1 while a live process holds it.',
      "exec: run the command with the lock inherited as fd 3; the file names the command's pid.",
    ],
    flags: pidfileFlags,
    positionals: [2, 2],
    rest: true,
    load: async () => (await import('./pidfile.js')).pidfile,
  }),
  restart: service('restart'),
  stop: service('stop'),
  start: service('start'),
  serve: command({
    name: 'serve',
    synopsis: '--port N -- <command> [args...] | --reload --port N',
    summary:
      'hold a port and hand it to each new process of a command; SIGHUP or --reload swaps processes without refusing a connection',
    notes: [
      'The command gets the listener at fd 3 (LISTEN_FDS=1, LISTEN_PID) and a NOTIFY_SOCKET:',
      'it listens with server.listen(listenTarget(port)) and calls notifyReady() when ready.',
      'A reload starts a new process, waits for its READY=1, then SIGTERMs the old one; if',
      'the new one exits or times out first, the old one keeps serving. SIGTERM/SIGINT stop',
      'the command; serve exits with its status. With --json, one JSON line per event.',
    ],
    flags: serveFlags,
    positionals: [0, 0],
    rest: true,
    load: async () => (await import('./serve.js')).serveRunner,
  }),
  bench: command({
    name: 'bench',
    synopsis: '',
    summary: 'run the bundled benchmark (writes results.md, results.json, results.svg to --out)',
    flags: benchFlags,
    positionals: [0, 0],
    load: async () => (await import('./bench.js')).bench,
  }),
};

/** `--timeout T`, `--dry-run`, `-q, --quiet` */
export function flagSynopsis(name: string, flag: Flag): string {
  const long = `--${name}${flag.arg ? ` ${flag.arg}` : ''}`;
  return flag.short ? `-${flag.short}, ${long}` : long;
}

/** `portwarden who <port> [flags]` */
export function usageLine(c: Command): string {
  return `portwarden ${c.name}${c.synopsis ? ` ${c.synopsis}` : ''} [flags]`;
}

/** The help of one command: usage line, summary, flags, notes. */
export function helpText(c: Command): string {
  const lines = [`Usage: ${usageLine(c)}`, '', c.summary];
  const flags = Object.entries({...c.flags, ...COMMON}) as Array<[string, Flag]>;
  const width = Math.max(...flags.map(([n, f]) => flagSynopsis(n, f).length));
  lines.push('', 'Flags:');
  for (const [name, flag] of flags) {
    lines.push(`  ${flagSynopsis(name, flag).padEnd(width)}  ${flag.help}`);
  }

  if (c.notes?.length) {
    lines.push('', ...c.notes);
  }

  return lines.join('\n');
}

export const EXIT_CODES =
  'Exit codes: 0 the condition holds, 1 it does not, 2 unknown (cannot probe), 64 usage error, 70 internal error.';

/** The overview: every command and its summary. */
export function overview(): string {
  const lines = ['Usage: portwarden <command> [flags]', '', 'Commands:'];
  for (const [name, c] of Object.entries(commands)) {
    lines.push(`  ${name.padEnd(12)} ${c.summary}`);
  }

  lines.push('', EXIT_CODES, "Run 'portwarden <command> --help' for a command's flags.");
  return lines.join('\n');
}

/** The README's CLI reference: the overview and every command's help, as they print. */
export function referenceMarkdown(): string {
  const blocks = [overview(), ...Object.values(commands).map((c) => helpText(c))];
  return ['```', blocks.join('\n\n'), '```'].join('\n');
}
