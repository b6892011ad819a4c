/*
serve(): a thin supervisor that holds a listening socket and hands it to each new process
of a command (fd 3, LISTEN_FDS=1, LISTEN_PID, a private NOTIFY_SOCKET). A reload starts the
new process, waits for its READY=1, and only then tells the old one to stop: the socket is
never closed, so the kernel queues connections across the swap and none is refused.
*/
import {msNow} from '../clock.js';
import {requireNative} from '../native.js';
import type {ChildProcess} from 'node:child_process';
import {builtin} from '../builtin.js';
import path from 'node:path';
import {AlreadyRunningError, describeSocket} from '../errors.js';
import {listenTarget} from '../listen-target.js';
import type {NativeBinding} from '../native.js';
import {claimPidFile, type PidFileHandle} from '../pidfile.js';
import {blockersOf, probePort} from '../probe.js';
import {descendsFrom} from '../process-control.js';
import type {SocketEntry} from '../types.js';
import {
  ArgumentTypeError,
  assertAbortSignal,
  assertDuration,
  assertHost,
  assertInteger,
  assertOneOf,
  assertPort,
  checkOptions,
  show,
} from '../validate.js';
import {
  ensureRuntimeDir,
  servePidFile,
  type ServeState,
  stateFileOf,
  writeState,
} from './control.js';
import {ServeError} from './errors.js';
import type {ServeExit} from './exit.js';
import {type NotifyMessage, NotifyReceiver} from './notify-receiver.js';

const {closeSync, mkdtempSync, rmSync, unlinkSync} = builtin.fs();
const {EventEmitter} = builtin.events();

/** Runs the command with LISTEN_PID set to its own pid: sh records $$, then execs it. */
const SHIM = 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"';

export type ServeOptions = {
  /** The TCP port to hold. */
  readonly port: number;
  /**
	The address to bind. Default: `::` (every IPv4 and IPv6 address, as `server.listen(port)`
	binds), or `0.0.0.0` where IPv6 is unavailable.
	@default undefined
	*/
  readonly host?: string;
  /** The program and its arguments, run without a shell: `['node', 'server.js']`. */
  readonly command: readonly string[];
  /**
	How long a new process may take to send `READY=1` (`notifyReady()`) before it counts as
	failed and is stopped; the old process keeps serving.
	@default 30000
	*/
  readonly readyTimeout?: number;
  /**
	After SIGTERM, how long a process may drain before its process group gets SIGKILL;
	`false` waits for it however long it takes.
	@default 5000
	*/
  readonly forceAfter?: number | false;
  /** `listen(2)` backlog: connections the kernel queues while no process accepts. @default 511 */
  readonly backlog?: number;
  /**
	The PID file that makes this the one supervisor of the port, and through which
	`requestReload()` / `portwarden serve --reload` find it. `false`: none (one instance per
	port is then the caller's business).
	@default servePidFile(port)
	*/
  readonly pidFile?: string | false;
  /** Extra environment variables for the command (on top of `process.env`). @default {} */
  readonly env?: Readonly<Record<string, string>>;
  /** @default process.cwd() */
  readonly cwd?: string;
  /** The command's stdout and stderr (its stdin is always /dev/null). @default 'inherit' */
  readonly stdio?: 'inherit' | 'ignore';
  /** Aborts the first start (the promise rejects `ABORTED`); later, closes the supervisor. */
  readonly signal?: AbortSignal;
};

export type {ServeExit} from './exit.js';

/** A process that became the serving one. */
export type ServeReady = {
  readonly pid: number;
  readonly generation: number;
  /** The process it replaced (now told to stop), undefined for the first. */
  readonly previousPid: number | undefined;
  /** From the spawn to its READY=1. */
  readonly readyMs: number;
  /** From the start (or the reload request being taken up) to the old process being told to stop. */
  readonly ms: number;
};

export type ServeChildExit = ServeExit & {
  readonly generation: number;
  /**
	`'retired'`: replaced by a reload. `'failed'`: it never became ready. `'closed'`:
	stopped by `close()`. `'unexpected'`: the serving process exited by itself.
	*/
  readonly reason: 'retired' | 'failed' | 'closed' | 'unexpected';
};

type Child = {
  readonly generation: number;
  readonly process: ChildProcess;
  readonly pid: number;
  readonly spawnedAt: number;
  role: 'starting' | 'serving' | 'retiring' | 'failed' | 'closing';
  exit: ServeExit | undefined;
  readonly exited: Promise<ServeExit>;
  forceTimer: NodeJS.Timeout | undefined;
};

type Resolved = {
  port: number;
  host: string | undefined;
  command: readonly string[];
  readyTimeout: number;
  forceAfter: number | false;
  backlog: number;
  pidFile: string | false;
  env: Readonly<Record<string, string>>;
  cwd: string | undefined;
  stdio: 'inherit' | 'ignore';
  signal: AbortSignal | undefined;
};

const KEYS = [
  'port',
  'host',
  'command',
  'readyTimeout',
  'forceAfter',
  'backlog',
  'pidFile',
  'env',
  'cwd',
  'stdio',
  'signal',
];

function resolve(options: unknown): Resolved {
  if (options === undefined) {
    throw new ArgumentTypeError('Expected the options of serve to be an object, got undefined');
  }

  const o = checkOptions<ServeOptions>(options, KEYS, 'serve');
  assertPort(o.port, 'options.port');
  if (o.host !== undefined) {
    assertHost(o.host, 'options.host');
  }

  if (
    !Array.isArray(o.command) ||
    o.command.length === 0 ||
    !o.command.every((word) => typeof word === 'string' && !word.includes('\0')) ||
    o.command[0] === ''
  ) {
    throw new ArgumentTypeError(
      `Expected options.command to be a non-empty array of strings (the program and its arguments), got ${show(o.command)}`,
    );
  }

  const readyTimeout = o.readyTimeout ?? 30_000;
  assertDuration(readyTimeout, 'options.readyTimeout');
  const forceAfter = o.forceAfter ?? 5000;
  if (forceAfter !== false) {
    assertDuration(forceAfter, 'options.forceAfter');
  }

  const backlog = o.backlog ?? 511;
  assertInteger(backlog, 'options.backlog', 1, 65_535);
  const pidFile = o.pidFile ?? servePidFile(o.port);
  if (pidFile !== false && (typeof pidFile !== 'string' || pidFile === '')) {
    throw new ArgumentTypeError(
      `Expected options.pidFile to be a path or false, got ${show(o.pidFile)}`,
    );
  }

  const env = o.env ?? {};
  if (
    typeof env !== 'object' ||
    env === null ||
    !Object.values(env).every((v) => typeof v === 'string')
  ) {
    throw new ArgumentTypeError(
      `Expected options.env to be an object of strings, got ${show(o.env)}`,
    );
  }

  if (o.cwd !== undefined && typeof o.cwd !== 'string') {
    throw new ArgumentTypeError(`Expected options.cwd to be a path, got ${show(o.cwd)}`);
  }

  const stdio = o.stdio ?? 'inherit';
  assertOneOf(stdio, 'options.stdio', ['inherit', 'ignore'] as const);
  if (o.signal !== undefined) {
    assertAbortSignal(o.signal, 'options.signal');
  }

  return {
    port: o.port,
    host: o.host,
    command: [...o.command],
    readyTimeout,
    forceAfter,
    backlog,
    pidFile: pidFile === false ? false : path.resolve(pidFile),
    env,
    cwd: o.cwd,
    stdio,
    signal: o.signal,
  };
}

const exitText = (exit: ServeExit) =>
  exit.signal === null ? `exited with code ${exit.code}` : `was killed by ${exit.signal}`;

function errnoCode(error: unknown): string | undefined {
  const code = (error as {code?: unknown} | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The listening socket: inherited (systemd, launchd, an outer serve) or made here. */
async function openListener(
  b: NativeBinding,
  r: Resolved,
): Promise<{fd: number; host: string; adopted: boolean}> {
  const target = listenTarget(r.port, r.host === undefined ? {} : {host: r.host});
  if ('fd' in target) {
    const info = b.socketInfo(target.fd);
    return {fd: target.fd, host: info.address, adopted: true};
  }

  const hosts = r.host === undefined ? ['::', '0.0.0.0'] : [r.host];
  let last: unknown;
  for (const host of hosts) {
    try {
      return {fd: b.listenTcp(host, r.port, r.backlog), host, adopted: false};
    } catch (error) {
      last = error;
      const code = errnoCode(error);
      // No IPv6 on this host: the IPv4 wildcard instead.
      if (host === '::' && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) {
        continue;
      }

      break;
    }
  }

  if (errnoCode(last) === 'EADDRINUSE') {
    let blockers: SocketEntry[] = [];
    try {
      const report = await probePort(r.port, {states: 'listen', owners: true});
      blockers = blockersOf(report.sockets, r.host, 'listen');
    } catch {}

    const who =
      blockers.length > 0
        ? `it is held by ${blockers.map((s) => describeSocket(s)).join('; ')}`
        : 'another socket holds it';
    throw new ServeError(
      `Cannot listen on port ${r.port}: ${who}. (Processes of a portwarden serve that was killed keep serving on it until they are stopped, e.g. with portwarden free ${r.port}.)`,
      {code: 'ADDRESS_IN_USE', port: r.port, blockers, cause: last},
    );
  }

  throw new ServeError(
    `Cannot listen on port ${r.port}: ${(last as Error | undefined)?.message ?? String(last)}`,
    {code: 'LISTEN_FAILED', port: r.port, cause: last},
  );
}

function claim(r: Resolved): PidFileHandle | undefined {
  if (r.pidFile === false) {
    return undefined;
  }

  try {
    if (r.pidFile === servePidFile(r.port)) {
      ensureRuntimeDir(path.dirname(r.pidFile));
    }

    return claimPidFile(r.pidFile, {
      data: {port: r.port, host: r.host ?? null, command: r.command},
    });
  } catch (error) {
    if (error instanceof AlreadyRunningError) {
      throw new ServeError(
        `portwarden serve already runs for port ${r.port} (pid ${error.holder.pid ?? '?'}; PID file ${show(error.path)})`,
        {code: 'ALREADY_RUNNING', port: r.port, holder: error.holder, cause: error},
      );
    }

    if (error instanceof ServeError) {
      throw new ServeError(error.message, {code: 'PID_FILE', port: r.port});
    }

    throw new ServeError(
      `Cannot claim the PID file of port ${r.port}: ${(error as Error).message}`,
      {
        code: 'PID_FILE',
        port: r.port,
        cause: error,
      },
    );
  }
}

/**
A running supervisor. Events: `'spawn'` `{pid, generation}`; `'ready'` ServeReady;
`'reload'` `{generation}` (a reload starts); `'reload-failed'` ServeError (the old process
keeps serving); `'status'` `{pid, generation, status}` (a STATUS= line); `'exit'`
ServeChildExit (any process of the command); `'close'` ServeExit (the supervisor ended).
*/
export class ServeSupervisor extends EventEmitter {
  /** The port held, the address it is bound to and the listening descriptor. */
  readonly port: number;
  readonly host: string;
  readonly fd: number;
  /** Absolute path of the PID file, undefined with `pidFile: false`. */
  readonly pidFile: string | undefined;
  /** The NOTIFY_SOCKET given to the command. */
  readonly notifySocket: string;
  /** Resolves when the supervisor has ended, with how its serving process ended. */
  readonly closed: Promise<ServeExit>;

  private current: Child | undefined;
  private starting: Child | undefined;
  private readonly live = new Set<Child>();
  private generations = 0;
  private reloadsStarted = 0;
  private lastReload: ServeState['lastReload'];
  private inFlight: Promise<ServeReady> | undefined;
  private queued: Promise<ServeReady> | undefined;
  private closing = false;
  private abortStart: ((error: ServeError) => void) | undefined;
  private onReady: ((child: Child) => void) | undefined;
  private resolveClosed!: (exit: ServeExit) => void;
  private readonly receiver: NotifyReceiver;
  private readonly adopted: boolean;

  /** @internal use serve() */
  constructor(
    private readonly r: Resolved,
    private readonly b: NativeBinding,
    listener: {fd: number; host: string; adopted: boolean},
    private readonly handle: PidFileHandle | undefined,
    private readonly dir: string,
  ) {
    super();
    this.port = r.port;
    this.host = listener.host;
    this.fd = listener.fd;
    this.adopted = listener.adopted;
    this.pidFile = handle?.path;
    this.notifySocket = path.join(dir, 'notify.sock');
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.receiver = new NotifyReceiver(
      b,
      this.notifySocket,
      (m) => this.onNotify(m),
      (error) => this.emit('warning', error),
    );
  }

  /** The serving process, undefined before the first is ready and after the end. */
  get pid(): number | undefined {
    return this.current?.exit === undefined ? this.current?.pid : undefined;
  }

  /** Generation of the serving process: 1 for the first, +1 per process started. */
  get generation(): number {
    return this.current?.generation ?? 0;
  }

  /**
	Starts a new process, waits for its READY=1, then sends the old one SIGTERM (SIGKILL to
	its group after `forceAfter`). At most one reload runs at a time: a request made while
	one runs is served by one more reload after it (requests made meanwhile share it).

	@throws {ServeError} `EXITED` or `READY_TIMEOUT` (the old process keeps serving),
	`SPAWN_FAILED`, `CLOSED`.
	*/
  async reload(): Promise<ServeReady> {
    if (this.closing) {
      return Promise.reject(this.closedError());
    }

    if (this.inFlight === undefined) {
      return this.launch('reload');
    }

    this.queued ??= this.inFlight
      .then(
        () => undefined,
        () => undefined,
      )
      .then(async () => {
        this.queued = undefined;
        return this.closing ? Promise.reject(this.closedError()) : this.launch('reload');
      });
    return this.queued;
  }

  /**
	Stops every process of the command (SIGTERM to each process group, SIGKILL after
	`forceAfter`), closes the listening socket and releases the PID file. Resolves with how
	the serving process ended. Idempotent.
	*/
  async close(): Promise<ServeExit> {
    void this.shutdown(undefined);
    return this.closed;
  }

  /** @internal the first start, run by serve(). */
  async start(): Promise<ServeReady> {
    return this.launch('start');
  }

  private closedError(): ServeError {
    return new ServeError(`portwarden serve for port ${this.port} is closed`, {
      code: 'CLOSED',
      port: this.port,
    });
  }

  private async launch(kind: 'start' | 'reload'): Promise<ServeReady> {
    const p = this.run(kind);
    this.inFlight = p;
    const clear = () => {
      if (this.inFlight === p) {
        this.inFlight = undefined;
      }
    };

    p.then(clear, clear);
    return p;
  }

  private async run(kind: 'start' | 'reload'): Promise<ServeReady> {
    const t0 = msNow();
    const seq = kind === 'reload' ? ++this.reloadsStarted : 0;
    const previous = this.current;
    if (kind === 'reload') {
      this.emit('reload', {generation: this.generations + 1});
      this.publish();
    }

    let child: Child | undefined;
    try {
      child = await this.spawnChild();
      this.starting = child;
      await this.waitReady(child);
    } catch (error) {
      this.starting = undefined;
      if (child !== undefined && child.exit === undefined) {
        child.role = 'failed';
        this.stop(child);
      }

      const failure = error as ServeError;
      if (kind === 'reload') {
        this.lastReload = {
          seq,
          ok: false,
          pid: child?.pid,
          previousPid: previous?.pid,
          ms: Math.round(msNow() - t0),
          code: failure.code,
          message: failure.message,
        };
        this.publish();
        this.emit('reload-failed', failure);
        // The serving process died while this one started: nothing serves any more.
        if (previous?.exit !== undefined && !this.closing) {
          void this.shutdown(previous.exit);
        }
      }

      throw failure;
    }

    this.starting = undefined;
    child.role = 'serving';
    this.current = child;
    const readyMs = msNow() - child.spawnedAt;
    if (previous !== undefined && previous.exit === undefined) {
      previous.role = 'retiring';
      this.stop(previous);
    }

    const result: ServeReady = {
      pid: child.pid,
      generation: child.generation,
      previousPid: previous?.pid,
      readyMs: Math.round(readyMs * 10) / 10,
      ms: Math.round((msNow() - t0) * 10) / 10,
    };
    if (kind === 'reload') {
      this.lastReload = {
        seq,
        ok: true,
        pid: child.pid,
        previousPid: previous?.pid,
        ms: result.ms,
      };
    }

    this.publish();
    this.emit('ready', result);
    return result;
  }

  private async spawnChild(): Promise<Child> {
    const generation = ++this.generations;
    const env: Record<string, string | undefined> = {
      ...process.env,
      ...this.r.env,
      LISTEN_FDS: '1',
      NOTIFY_SOCKET: this.notifySocket,
    };
    delete env.LISTEN_PID;
    delete env.LISTEN_FDNAMES;
    let proc: ChildProcess;
    try {
      // Its own process group (and session): a terminal's Ctrl-C reaches the supervisor
      // only, which stops the command gracefully; and stopping a generation reaches every
      // process it started.
      proc = builtin
        .childProcess()
        .spawn('/bin/sh', ['-c', SHIM, 'portwarden-serve', ...this.r.command], {
          stdio: ['ignore', this.r.stdio, this.r.stdio, this.fd],
          env,
          cwd: this.r.cwd,
          detached: true,
        });
    } catch (error) {
      throw this.spawnFailed(error);
    }

    const spawned = await new Promise<Error | undefined>((resolve) => {
      proc.once('spawn', () => resolve(undefined));
      proc.once('error', resolve);
    });
    if (spawned !== undefined || proc.pid === undefined) {
      throw this.spawnFailed(spawned);
    }

    proc.on('error', () => {}); // a failed kill() of an exited process
    const pid = proc.pid;
    let child!: Child;
    const exited = new Promise<ServeExit>((resolve) => {
      proc.once('exit', (code, signal) => {
        const exit = {pid, code, signal};
        child.exit = exit;
        resolve(exit);
        this.onChildExit(child, exit);
      });
    });
    child = {
      generation,
      process: proc,
      pid,
      spawnedAt: msNow(),
      role: 'starting',
      exit: undefined,
      exited,
      forceTimer: undefined,
    };
    this.live.add(child);
    this.emit('spawn', {pid, generation});
    return child;
  }

  private spawnFailed(error: unknown): ServeError {
    return new ServeError(
      `Cannot start ${show(this.r.command[0])}: ${(error as Error | undefined)?.message ?? 'no pid'}`,
      {code: 'SPAWN_FAILED', port: this.port, cause: error},
    );
  }

  private async waitReady(child: Child): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const onReady = (who: Child) => {
        if (who === child) {
          finish();
        }
      };

      const finish = (error?: ServeError) => {
        if (done) {
          return; // the exit of a process that was ready long ago
        }

        done = true;
        clearTimeout(timer);
        if (this.onReady === onReady) {
          this.onReady = undefined;
        }

        if (this.abortStart === finish) {
          this.abortStart = undefined;
        }

        if (error === undefined) {
          resolve();
        } else {
          reject(error);
        }
      };

      const timer = setTimeout(() => {
        finish(
          new ServeError(
            `The new process (pid ${child.pid}) sent no READY=1 within ${this.r.readyTimeout} ms; it is stopped${this.current ? ` and pid ${this.current.pid} keeps serving` : ''}. It must call notifyReady() once it listens on listenTarget(${this.port}).`,
            {code: 'READY_TIMEOUT', port: this.port, pid: child.pid},
          ),
        );
      }, this.r.readyTimeout);
      this.onReady = onReady;
      this.abortStart = finish;
      void child.exited.then((exit) => {
        const notFound = exit.code === 127 ? ' (127: the command was not found)' : '';
        finish(
          new ServeError(
            `The new process (pid ${child.pid}) ${exitText(exit)}${notFound} before it sent READY=1${this.current?.exit === undefined && this.current ? `; pid ${this.current.pid} keeps serving` : ''}. If it failed with EADDRINUSE, it bound port ${this.port} itself: under portwarden serve a server must listen on the socket it is given, server.listen(listenTarget(${this.port})), and then call notifyReady().`,
            {
              code: 'EXITED',
              port: this.port,
              pid: child.pid,
              exitCode: exit.code,
              exitSignal: exit.signal,
            },
          ),
        );
      });
    });
  }

  /** Which live process (or descendant of one) sent a datagram. */
  private senderOf(pid: number): Child | undefined {
    if (pid < 0) {
      return this.starting; // no credentials on this OS: the one starting
    }

    for (const child of this.live) {
      if (child.pid === pid) {
        return child;
      }
    }

    for (const child of this.live) {
      try {
        if (descendsFrom(pid, new Set([child.pid]))) {
          return child;
        }
      } catch {}
    }

    return undefined;
  }

  private onNotify(m: NotifyMessage): void {
    const child = this.senderOf(m.pid);
    if (child === undefined) {
      return; // not one of ours (or gone already): ignored
    }

    const status = m.fields.get('STATUS');
    if (status !== undefined) {
      this.emit('status', {pid: child.pid, generation: child.generation, status});
    }

    if (m.fields.get('READY') === '1' && child === this.starting) {
      this.onReady?.(child);
    }
  }

  /** SIGTERM to the process group now, SIGKILL after forceAfter. */
  private stop(child: Child): void {
    if (child.exit !== undefined || child.forceTimer !== undefined) {
      return;
    }

    this.signal(child, 'SIGTERM');
    if (this.r.forceAfter !== false) {
      child.forceTimer = setTimeout(() => this.signal(child, 'SIGKILL'), this.r.forceAfter);
    }
  }

  private signal(child: Child, signal: NodeJS.Signals): void {
    try {
      process.kill(-child.pid, signal);
      return;
    } catch {}

    if (child.exit === undefined) {
      try {
        child.process.kill(signal);
      } catch {}
    }
  }

  private onChildExit(child: Child, exit: ServeExit): void {
    clearTimeout(child.forceTimer);
    this.live.delete(child);
    // Whatever else of that generation still runs (it holds the listener too): SIGKILL,
    // right away, while the group id cannot name another group yet.
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}

    const reason: ServeChildExit['reason'] =
      child.role === 'serving'
        ? 'unexpected'
        : child.role === 'retiring'
          ? 'retired'
          : child.role === 'closing'
            ? 'closed'
            : 'failed';
    this.emit('exit', {...exit, generation: child.generation, reason});
    this.publish();
    if (child === this.current && child.role === 'serving' && !this.closing) {
      // The serving process ended by itself. A reload in flight may still replace it;
      // otherwise the supervisor ends with its status.
      if (this.starting === undefined && this.inFlight === undefined) {
        void this.shutdown(exit);
      }
    }
  }

  private publish(): void {
    if (this.handle === undefined || this.handle.released) {
      return;
    }

    try {
      writeState(this.handle.path, {
        pid: process.pid,
        port: this.port,
        host: this.host,
        child: this.pid,
        generation: this.generation,
        readyTimeout: this.r.readyTimeout,
        reloadsStarted: this.reloadsStarted,
        lastReload: this.lastReload,
      });
    } catch (error) {
      this.emit('warning', error);
    }
  }

  /** @internal */
  async shutdown(status: ServeExit | undefined): Promise<void> {
    if (this.closing) {
      return;
    }

    this.closing = true;
    this.abortStart?.(this.closedError());
    for (const child of this.live) {
      if (child.role !== 'retiring' && child.role !== 'failed') {
        child.role = 'closing';
      }

      this.stop(child);
    }

    await Promise.all([...this.live].map(async (c) => c.exited));
    const final = status ?? this.current?.exit ?? {pid: 0, code: null, signal: null};
    await this.receiver.close().catch(() => {});
    try {
      if (this.adopted) {
        closeSync(this.fd);
      } else {
        this.b.closeListener(this.fd);
      }
    } catch {}

    if (this.handle !== undefined) {
      try {
        unlinkSync(stateFileOf(this.handle.path));
      } catch {}

      try {
        this.handle.release();
      } catch {}
    }

    rmSync(this.dir, {recursive: true, force: true});
    this.emit('close', final);
    this.resolveClosed(final);
  }
}

/**
Holds a listening socket on `port` and runs `command` with it (fd 3, `LISTEN_FDS=1`,
`LISTEN_PID`, and a private `NOTIFY_SOCKET`); resolves once the first process has sent
`READY=1`. The command's server listens with `server.listen(listenTarget(port))` and calls
`notifyReady()` when it is listening. `reload()` swaps processes without closing the
socket: no connection is refused.

An inherited socket for the port (systemd, launchd, an outer serve) is used instead of a
new one. When the serving process exits by itself, the supervisor ends (`closed`).

@throws {ServeError} `ALREADY_RUNNING`, `PID_FILE`, `ADDRESS_IN_USE` (with `blockers` and
their owners), `LISTEN_FAILED`, `SPAWN_FAILED`, `EXITED`, `READY_TIMEOUT`, `ABORTED`.
*/
export async function serve(options: ServeOptions): Promise<ServeSupervisor> {
  const r = resolve(options);
  if (r.signal?.aborted) {
    throw new ServeError('serve was aborted before it started', {code: 'ABORTED', port: r.port});
  }

  const b = requireNative('serve');
  const handle = claim(r);
  let listener: {fd: number; host: string; adopted: boolean} | undefined;
  let dir: string | undefined;
  let supervisor: ServeSupervisor;
  try {
    listener = await openListener(b, r);
    dir = mkdtempSync(path.join(builtin.os().tmpdir(), 'portwarden-serve-'));
    supervisor = new ServeSupervisor(r, b, listener, handle, dir);
  } catch (error) {
    if (listener !== undefined) {
      try {
        if (listener.adopted) {
          closeSync(listener.fd);
        } else {
          b.closeListener(listener.fd);
        }
      } catch {}
    }

    if (dir !== undefined) {
      rmSync(dir, {recursive: true, force: true});
    }

    handle?.release();
    throw error;
  }

  const onAbort = () => {
    void supervisor.shutdown(undefined);
  };

  r.signal?.addEventListener('abort', onAbort, {once: true});
  try {
    await supervisor.start();
  } catch (error) {
    r.signal?.removeEventListener('abort', onAbort);
    await supervisor.close();
    if (r.signal?.aborted) {
      throw new ServeError('serve was aborted during the first start', {
        code: 'ABORTED',
        port: r.port,
        cause: error,
      });
    }

    throw error;
  }

  if (r.signal !== undefined) {
    void supervisor.closed.then(() => r.signal?.removeEventListener('abort', onAbort));
  }

  return supervisor;
}
