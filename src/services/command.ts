/*
Daemons managed by stop/start commands: stop argv → prove the port free (SIGKILL to
holders still there after `forceAfter`) → start argv, detached (it may daemonize) → prove
the port listening by the started process or its descendants, by the pid in `pidFile`
when given, or — when the start command exited 0 because it daemonized — by a process
that started after it. A start is refused while the port is still busy.

A start that does not prove itself is stopped before the error is returned (its process
group, SIGTERM then SIGKILL; see group.ts) unless `keepFailed` is set. The start command's
process stays referenced while it is awaited, so a process with nothing else to do waits
for the answer; it is unreferenced only once the start has been proven.
*/
import type {ChildProcess} from 'node:child_process';
import {msNow} from '../clock.js';
import {describeSocket, NotListeningError, type ServiceError} from '../errors.js';
import {loadExeca} from '../execa.js';
import {nativeBinding} from '../native.js';
import type {ProcessInfo, SocketEntry} from '../types.js';
import {waitForListening} from '../wait.js';
import {describeExit, runTool} from './exec.js';
import {proveFree, refuseIfBusy} from './free.js';
import {stopGroup} from './group.js';
import {descendsFrom} from '../process-control.js';
import {listeners, ownersOf, pidFromFile} from './owners.js';
import type {ResolvedOptions} from './spec.js';
import {describeHolders, Trail} from './trail.js';
import type {CommandServiceSpec, ServiceAction, ServiceResult} from './types.js';
import {sleep} from '../steps.js';

/** Grace before SIGKILL when a failed start is stopped after an abort. */
const ABORT_GRACE_MS = 100;

type Exit = {exitCode: number | undefined; signal: string | undefined; code: string | undefined};

class CommandService {
  constructor(
    readonly spec: CommandServiceSpec,
    readonly o: ResolvedOptions,
    readonly trail: Trail,
  ) {}

  get port(): number {
    return this.spec.port;
  }

  private get host() {
    return this.o.host === undefined ? {} : {host: this.o.host};
  }

  /** The pid currently listening (for the summary), or undefined. */
  async holder(): Promise<number | undefined> {
    return this.trail
      .run(
        'status',
        async () => {
          const pidFilePid = this.spec.pidFile ? pidFromFile(this.spec.pidFile) : undefined;
          const entries = await listeners(
            this.port,
            this.o.host,
            pidFilePid ? [pidFilePid] : [],
            this.o.signal,
          );
          return {entries, pid: entries.flatMap(ownersOf)[0]?.pid};
        },
        ({entries, pid}) => ({
          detail:
            entries.length === 0 ? `port ${this.port} not listening` : describeHolders(entries),
          ...(pid === undefined ? {} : {pid}),
        }),
      )
      .then((s) => s.pid);
  }

  async stop(): Promise<string> {
    const [file, ...args] = this.spec.stop!; // validated for stop and restart
    const t0 = msNow();
    const r = await runTool(this.trail, file!, args, {timeout: this.o.timeout});
    // A failing stop command ("not running") is not fatal: the port decides.
    this.trail.add('stop', msNow() - t0, r.exitCode === 0 ? undefined : {detail: describeExit(r)});
    return proveFree(this.trail, this.port, this.o, 'kill');
  }

  async start(previousPid: number | undefined): Promise<ServiceResult> {
    const [file, ...args] = this.spec.start!; // validated for start and restart
    const t0 = msNow();
    const {execa} = await loadExeca();
    const subprocess = execa(file!, args, {
      detached: true, // its own session: it outlives us and our process group
      stdio: 'ignore',
      reject: false,
      cleanup: false,
    });
    let exit: Exit | undefined;
    const exited = subprocess.then((r) => {
      exit = {
        exitCode: r.exitCode,
        signal: r.signal,
        code: (r as {code?: string}).code,
      };
      return exit;
    });
    const pid = subprocess.pid;
    if (pid === undefined) {
      const e = await exited;
      const message = `Cannot run the start command ${file}: ${e.code ?? 'spawn failed'}${e.code === 'ENOENT' ? ' (not found on PATH)' : ''}`;
      throw this.trail.fail(
        'start',
        t0,
        e.code === 'ENOENT' ? 'NOT_INSTALLED' : 'COMMAND_FAILED',
        message,
      );
    }

    // Read now, while it cannot have been reaped: a lower bound for its descendants' start times.
    const startTime = nativeBinding()?.processInfo(pid)?.startTime;
    this.trail.add('start', msNow() - t0, {pid});
    try {
      const result = await this.prove(previousPid, pid, startTime, () => exit, exited);
      // Proven: the daemon outlives this process, which must not wait for it.
      subprocess.unref();
      return result;
    } catch (error) {
      let failure: ServiceError;
      try {
        failure = this.trail.wrap(error);
      } catch {
        await this.stopFailed(subprocess, pid);
        throw error; // A bug, not a service failure.
      }

      const note = await this.stopFailed(subprocess, pid);
      throw this.trail.error(failure.code, `${failure.message}; ${note}`, {
        ...(failure.blockers === undefined ? {} : {blockers: failure.blockers}),
        cause: failure.cause ?? failure,
      });
    }
  }

  /** Stops what the unproven start left running, unless `keepFailed`; returns what was done. */
  private async stopFailed(subprocess: ChildProcess, pid: number): Promise<string> {
    const t0 = msNow();
    if (this.o.keepFailed) {
      subprocess.unref();
      this.trail.add('stop-failed-start', 0, {
        pid,
        detail: `process group ${pid} left running (keepFailed)`,
      });
      return `the started process group ${pid} was left running (keepFailed)`;
    }

    // After an abort, the caller wants an answer now: a short grace before SIGKILL.
    const forceAfter =
      this.o.signal?.aborted === true
        ? Math.min(this.o.forceAfter === false ? ABORT_GRACE_MS : this.o.forceAfter, ABORT_GRACE_MS)
        : this.o.forceAfter;
    const stopped = await stopGroup(subprocess, pid, {forceAfter, timeout: this.o.timeout});
    if (!stopped.gone) {
      subprocess.unref(); // Do not keep this process alive for a start we gave up on.
    }

    this.trail.add('stop-failed-start', msNow() - t0, {
      pid,
      detail: stopped.detail,
      ...(stopped.gone ? {} : {failed: true}),
    });
    return `the started ${stopped.detail}`;
  }

  /** Waits until the started process (or the daemon it started) listens; returns the result. */
  private async prove(
    previousPid: number | undefined,
    pid: number,
    startTime: number | undefined,
    exitOf: () => Exit | undefined,
    exited: Promise<Exit>,
  ): Promise<ServiceResult> {
    const t1 = msNow();
    const deadline = t1 + this.o.timeout;
    let entry: SocketEntry | undefined;
    let how = '';
    if (this.spec.pidFile === undefined) {
      try {
        entry = await waitForListening(this.port, {
          pid,
          timeout: this.o.timeout,
          ...this.host,
          signal: this.o.signal,
        });
      } catch (error) {
        if (!(error instanceof NotListeningError && error.reason === 'exited')) {
          throw this.listenFailed(t1, this.trail.wrap(error).message, error);
        }

        const e = await exited;
        if (e.exitCode !== 0) {
          throw this.listenFailed(
            t1,
            `The start command (pid ${pid}) exited with ${e.exitCode === undefined ? `signal ${e.signal}` : `code ${e.exitCode}`} before anything listened on port ${this.port}`,
            error,
            'EXITED',
          );
        }

        how = ' (the start command daemonized)';
      }
    }

    if (entry === undefined) {
      // Daemonized, or a PID file names the daemon: poll for the right listener.
      let pause = 5;
      for (;;) {
        this.o.signal?.throwIfAborted();
        const named = this.spec.pidFile ? pidFromFile(this.spec.pidFile) : undefined;
        const entries = await listeners(
          this.port,
          this.o.host,
          named ? [named, pid] : [pid],
          this.o.signal,
        );
        // With a PID file only the pid it names counts (none yet: keep waiting).
        const accept = (p: ProcessInfo) =>
          this.spec.pidFile !== undefined
            ? named !== undefined && (p.pid === named || descendsFrom(p.pid, new Set([named])))
            : p.pid === pid ||
              descendsFrom(p.pid, new Set([pid])) ||
              (startTime !== undefined && p.startTime !== undefined && p.startTime >= startTime);
        entry = entries.find((e) => ownersOf(e).some(accept));
        if (entry !== undefined) {
          how ||=
            named === undefined
              ? ' (started after the start command)'
              : ` (pid file names ${named})`;
          break;
        }

        const exit = exitOf();
        if (exit !== undefined && exit.exitCode !== 0) {
          throw this.listenFailed(
            t1,
            `The start command (pid ${pid}) exited with ${exit.exitCode === undefined ? `signal ${exit.signal}` : `code ${exit.exitCode}`} before the daemon listened on port ${this.port}`,
            undefined,
            'EXITED',
          );
        }

        const left = deadline - msNow();
        if (left <= 0) {
          const seen = entries.length > 0 ? `; listening there: ${describeHolders(entries)}` : '';
          const want =
            this.spec.pidFile === undefined
              ? `by the started process ${pid}, its descendants or a process started after it`
              : `by the pid in ${this.spec.pidFile} (${named ?? 'none yet'})`;
          throw this.listenFailed(
            t1,
            `Port ${this.port} is not listening ${want} after ${this.o.timeout} ms${seen}`,
            undefined,
            entries.length > 0 ? 'PORT_BUSY' : 'NOT_LISTENING',
            entries,
          );
        }

        await sleep(Math.min(pause, left), this.o.signal);
        pause = Math.min(pause * 2, 50);
      }
    }

    const listener = ownersOf(entry)[0]?.pid ?? pid;
    this.trail.add('listening', msNow() - t1, {
      pid: listener,
      detail: `${describeSocket(entry)}${how}`,
    });
    const changed =
      previousPid === undefined ? `pid ${listener}` : `pid ${previousPid} → ${listener}`;
    return this.trail.result({
      pid: listener,
      listening: entry,
      outcome: `${changed}, listening on ${this.port}`,
    });
  }

  private listenFailed(
    t1: number,
    message: string,
    cause: unknown,
    code: 'EXITED' | 'NOT_LISTENING' | 'PORT_BUSY' = 'NOT_LISTENING',
    blockers: readonly SocketEntry[] = [],
  ): Error {
    this.trail.add('listening', msNow() - t1, {detail: message, failed: true});
    if (cause !== undefined && !(cause instanceof NotListeningError)) {
      return this.trail.wrap(cause);
    }

    return this.trail.error(code, message, {blockers, cause});
  }
}

export async function commandService(
  action: ServiceAction,
  spec: CommandServiceSpec,
  o: ResolvedOptions,
): Promise<ServiceResult> {
  const trail = new Trail('command', action, `service on port ${spec.port}`, o.signal);
  const service = new CommandService(spec, o, trail);
  try {
    let previousPid: number | undefined;
    if (action !== 'start') {
      previousPid = await service.holder();
      const free = await service.stop();
      if (action === 'stop') {
        const was = previousPid === undefined ? 'was not listening' : `pid ${previousPid} stopped`;
        return trail.result({outcome: `${was}, ${free}`});
      }
    }

    await refuseIfBusy(trail, spec.port, o, `the service on port ${spec.port}`);
    return await service.start(previousPid);
  } catch (error) {
    throw trail.wrap(error);
  }
}
