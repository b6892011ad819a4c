/*
launchd through `launchctl` (launchctl(1), launchd.plist(5); test/fixtures/launchctl-sim
reproduces its asynchronous bootout and bootstrap errors).
- Restart with the plist unchanged since we bootstrapped it (its sha256, recorded at
  bootstrap time in `<plist>.portwarden-sha256`, equals the file's): `kickstart -k`,
  then wait until a new pid listens.
- Otherwise, and for stop/start: `bootout` (asynchronous: it returns before the job is
  gone), poll `print` until exit 113, wait for the old pid to exit and the port to be free
  (escalating on strays that escaped the process group), `enable`, `bootstrap` with
  retries on 5 (`Input/output error`) and 37 (`Operation already in progress`), then wait
  for the new pid to listen. Stopping a KeepAlive job runs `disable` first so launchd
  cannot respawn it between stop and start; start runs `enable`.
*/
import {builtin} from '../builtin.js';
import {msNow} from '../clock.js';
import {describeSocket, NotListeningError} from '../errors.js';
import {processInfo} from '../process.js';
import {terminate} from '../terminate.js';
import type {SocketEntry} from '../types.js';
import {waitForExit, waitForListening} from '../wait.js';
import {describeExit, runTool, type ToolResult} from './exec.js';
import {proveFree, refuseIfBusy} from './free.js';
import {heldOnlyBy} from './owners.js';
import {type JobFile, type JobSocket, readJobFile} from './plist.js';
import type {ResolvedOptions} from './spec.js';
import {describeHolders, Trail} from './trail.js';
import type {LaunchdServiceSpec, ServiceAction, ServiceResult} from './types.js';
import {sleep} from '../steps.js';

const {readFileSync, rmSync, writeFileSync} = builtin.fs();

/** launchctl exit statuses (errno values of launchd's XPC replies). */
const EXIT_IO = 5; // bootstrap: "Input/output error" (still cleaning up, already loaded, disabled)
const EXIT_NOT_LOADED = 3; // bootout: "No such process"
const EXIT_IN_PROGRESS = 36; // bootout: "Operation now in progress"
const EXIT_ALREADY = 37; // bootstrap: "Operation already in progress"
const EXIT_NO_SERVICE = 113; // print/kickstart: "Could not find service"
const EXIT_DOMAIN = 125; // bootstrap into gui/ from a headless session

const PRINT_POLL_MS = 150;

export type JobStatus =
  | {readonly loaded: false}
  | {
      readonly loaded: true;
      readonly pid: number | undefined;
      readonly state: string | undefined;
      readonly lastExit: string | undefined;
      /** How many times launchd has spawned the job since it was bootstrapped. */
      readonly runs: number | undefined;
    };

/**
Reads `launchctl print` output leniently (it "is NOT API"): `pid = N`, `state = X`,
`last exit code = X`, `runs = N`.
*/
export function parsePrint(text: string): JobStatus {
  const pid = /^\s*pid = (\d+)\s*$/m.exec(text);
  const state = /^\s*state = ([\w -]+?)\s*$/m.exec(text);
  const lastExit = /^\s*last exit code = (.+?)\s*$/m.exec(text);
  const runs = /^\s*runs = (\d+)\s*$/m.exec(text);
  return {
    loaded: true,
    pid: pid ? Number(pid[1]) : undefined,
    state: state?.[1],
    lastExit: lastExit?.[1],
    runs: runs ? Number(runs[1]) : undefined,
  };
}

function describeStatus(s: JobStatus): string {
  if (!s.loaded) {
    return 'not loaded';
  }

  let text = `loaded, ${s.state ?? 'state unknown'}`;
  if (s.pid !== undefined) {
    text += `, pid ${s.pid}`;
  }

  if (s.lastExit !== undefined) {
    text += `, last exit code ${s.lastExit}`;
  }

  return text;
}

/** The file recording the sha256 of the plist we bootstrapped. */
export const shaFileOf = (plist: string) => `${plist}.portwarden-sha256`;

class Job {
  readonly domain: string;
  readonly target: string;
  /** The plist as last read (undefined for a stop without one). */
  file: JobFile | undefined;

  constructor(
    readonly spec: LaunchdServiceSpec,
    readonly o: ResolvedOptions,
    readonly trail: Trail,
  ) {
    this.domain = spec.domain ?? `gui/${process.getuid?.() ?? 0}`;
    this.target = `${this.domain}/${spec.label}`;
  }

  async launchctl(args: readonly string[]): Promise<ToolResult> {
    return runTool(this.trail, 'launchctl', args, {timeout: this.o.timeout, env: {LC_ALL: 'C'}});
  }

  private failed(verb: string, r: ToolResult): Error {
    let hint = '';
    if (r.exitCode === EXIT_DOMAIN) {
      hint = `; the ${this.domain} domain does not support this here (gui/ needs a GUI login session): use domain 'user/<uid>'`;
    }

    return this.trail.error(
      'COMMAND_FAILED',
      `launchctl ${verb} ${this.target} failed (${describeExit(r)})${hint}`,
    );
  }

  async print(): Promise<JobStatus> {
    const r = await this.launchctl(['print', this.target]);
    if (r.exitCode === EXIT_NO_SERVICE) {
      return {loaded: false};
    }

    if (r.exitCode !== 0) {
      throw this.failed('print', r);
    }

    return parsePrint(r.stdout);
  }

  async status(): Promise<JobStatus> {
    return this.trail.run(
      'status',
      async () => this.print(),
      (s) => ({detail: describeStatus(s), ...(s.loaded && s.pid ? {pid: s.pid} : {})}),
    );
  }

  /** One launchctl verb as a step; fails on any exit status not in `ok`. */
  async verb(
    step: string,
    args: readonly string[],
    ok: readonly number[] = [0],
  ): Promise<ToolResult> {
    const t0 = msNow();
    const r = await this.launchctl(args);
    const good = r.exitCode !== undefined && ok.includes(r.exitCode);
    this.trail.add(step, msNow() - t0, {
      ...(r.exitCode === 0 ? {} : {detail: describeExit(r)}),
      ...(good ? {} : {failed: true as const}),
    });
    if (!good) {
      throw this.failed(args[0]!, r);
    }

    return r;
  }

  async readJob(): Promise<JobFile> {
    let job: JobFile;
    try {
      job = await readJobFile(this.trail, this.spec.plist);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw this.trail.error(
        'NOT_FOUND',
        code === 'ENOENT'
          ? `The plist ${this.spec.plist} does not exist (spec.plist)`
          : `Cannot use ${this.spec.plist}: ${(error as Error).message}`,
        {cause: error},
      );
    }

    if (job.label !== this.spec.label) {
      throw this.trail.error(
        'NOT_FOUND',
        `The plist ${this.spec.plist} has Label ${job.label === undefined ? '(none)' : `'${job.label}'`}, not spec.label '${this.spec.label}'`,
      );
    }

    this.file = job;
    return job;
  }

  /**
  The job's `Sockets` entry for spec.port: launchd then holds the listener across restarts
  (`kickstart -k` keeps it; bootout closes it) and hands it to each new process.
  */
  activatedSocket(): JobSocket | undefined {
    const port = this.spec.port;
    return this.file?.sockets.find((s) => s.protocol === 'tcp' && s.port === port);
  }

  recordedSha(): string | undefined {
    try {
      return readFileSync(shaFileOf(this.spec.plist), 'utf8').trim();
    } catch {
      return undefined;
    }
  }

  /** Stop half: bootout, wait until unloaded, old pid gone, port free. */
  async stop(before: JobStatus, job: JobFile | undefined, disable: boolean): Promise<string> {
    if (disable && job?.keepAlive) {
      await this.verb('disable', ['disable', this.target]);
    }

    const oldPid = before.loaded ? before.pid : undefined;
    const identity = oldPid === undefined ? undefined : processInfo(oldPid);
    if (before.loaded) {
      await this.verb('bootout', ['bootout', this.target], [0, EXIT_NOT_LOADED, EXIT_IN_PROGRESS]);
    }

    await this.awaitUnloaded(job);
    if (identity?.startTime !== undefined) {
      await this.awaitOldExit({pid: identity.pid, startTime: identity.startTime});
    }

    let free = '';
    if (this.spec.port !== undefined) {
      free = await proveFree(this.trail, this.spec.port, this.o, 'terminate');
    }

    return `${oldPid === undefined ? 'was not running' : `pid ${oldPid} stopped`}${free ? `, ${free}` : ''}`;
  }

  /** Polls `print` until 113 (the label is gone): bootout returns before the job has exited. */
  private async awaitUnloaded(job: JobFile | undefined): Promise<void> {
    const t0 = msNow();
    // launchd sends SIGKILL after ExitTimeOut; cleanup takes a few seconds more.
    const budget = Math.max(this.o.timeout, ((job?.exitTimeOut ?? 20) + 5) * 1000);
    let polls = 0;
    for (;;) {
      polls++;
      const s = await this.print();
      if (!s.loaded) {
        this.trail.add('unloaded', msNow() - t0, {
          detail: `print answered 113 after ${polls} poll(s)`,
        });
        return;
      }

      if (msNow() - t0 >= budget) {
        const message = `launchd still has ${this.target} (${describeStatus(s)}) ${Math.round(msNow() - t0)} ms after bootout`;
        throw this.trail.fail('unloaded', t0, 'NOT_UNLOADED', message);
      }

      await sleep(PRINT_POLL_MS, this.o.signal);
      this.o.signal?.throwIfAborted();
    }
  }

  private async awaitOldExit(identity: {pid: number; startTime: number}): Promise<void> {
    const t0 = msNow();
    const grace = this.o.forceAfter === false ? this.o.timeout : this.o.forceAfter;
    let exited: boolean;
    try {
      exited = await waitForExit(identity, {timeout: grace, signal: this.o.signal});
    } catch (error) {
      throw this.trail.failWith('old-exit', t0, error);
    }

    if (exited) {
      this.trail.add('old-exit', msNow() - t0, {pid: identity.pid});
      return;
    }

    if (this.o.forceAfter === false) {
      const message = `pid ${identity.pid} is still running ${grace} ms after launchd unloaded the job`;
      throw this.trail.fail('old-exit', t0, 'PORT_BUSY', message, undefined, {pid: identity.pid});
    }

    // It escaped launchd (AbandonProcessGroup, or a reparented child): kill it.
    try {
      await terminate([identity], {
        killSignal: 'SIGKILL',
        forceAfter: false,
        timeout: this.o.timeout,
        signal: this.o.signal,
      });
    } catch (error) {
      throw this.trail.failWith('old-exit', t0, error);
    }

    this.trail.add('old-exit', msNow() - t0, {
      pid: identity.pid,
      detail: `SIGKILL sent to ${identity.pid} after ${grace} ms`,
    });
  }

  /** Start half: enable, bootstrap (retrying 5/37), kickstart when nothing starts it, wait listening. */
  async start(job: JobFile, previousPid: number | undefined): Promise<ServiceResult> {
    await this.verb('enable', ['enable', this.target]);
    await this.bootstrap(job);
    if (!job.runAtLoad && !job.keepAlive) {
      await this.verb('kickstart', ['kickstart', this.target]);
    }

    return this.awaitUp(previousPid, 0); // a new bootstrap: launchd counts runs from 0
  }

  private async bootstrap(job: JobFile): Promise<void> {
    const t0 = msNow();
    const deadline = t0 + this.o.bootstrapTimeout;
    let retries = 0;
    let pause = 250;
    const codes: number[] = [];
    for (;;) {
      const r = await this.launchctl(['bootstrap', this.domain, this.spec.plist]);
      if (r.exitCode === 0) {
        this.recordSha(job);
        this.trail.add('bootstrap', msNow() - t0, {
          retries,
          ...(codes.length > 0 ? {detail: `retried after exit ${codes.join(', ')}`} : {}),
        });
        return;
      }

      if (r.exitCode !== EXIT_IO && r.exitCode !== EXIT_ALREADY) {
        this.trail.add('bootstrap', msNow() - t0, {
          retries,
          detail: describeExit(r),
          failed: true,
        });
        throw this.failed('bootstrap', r);
      }

      codes.push(r.exitCode);
      // 5/37 also mean "already loaded": another bootstrap (ours being retried, or a
      // concurrent one) won. A loaded job that is not being torn down is what we wanted.
      const s = await this.print();
      if (s.loaded && s.state !== 'SIGTERMed') {
        this.trail.add('bootstrap', msNow() - t0, {
          retries,
          detail: `exit ${r.exitCode}, but the job is loaded (${describeStatus(s)}): loaded by a concurrent bootstrap`,
        });
        return;
      }

      if (msNow() + pause > deadline) {
        const message = `launchctl bootstrap ${this.domain} ${this.spec.plist} kept failing for ${Math.round(msNow() - t0)} ms (${retries + 1} attempts, last ${describeExit(r)})`;
        throw this.trail.fail('bootstrap', t0, 'BOOTSTRAP_FAILED', message, undefined, {retries});
      }

      retries++;
      await sleep(pause, this.o.signal);
      this.o.signal?.throwIfAborted();
      pause = Math.min(pause * 1.5, 2000);
    }
  }

  private recordSha(job: JobFile): void {
    try {
      writeFileSync(shaFileOf(this.spec.plist), `${job.sha256}\n`);
    } catch {
      // Read-only directory: restarts then always take the bootout/bootstrap path.
    }
  }

  forgetSha(): void {
    rmSync(shaFileOf(this.spec.plist), {force: true});
  }

  /**
  Waits for a new pid in `print`, then (with a port) for it or a descendant to listen. A job
  whose `runs` count passed `runsBefore` with no pid left ran and exited between two polls:
  reported at once, not at the timeout.
  */
  async awaitUp(
    previousPid: number | undefined,
    runsBefore: number | undefined,
  ): Promise<ServiceResult> {
    const t0 = msNow();
    const deadline = t0 + this.o.timeout;
    let pid: number | undefined;
    let s: JobStatus = {loaded: false};
    let pause = 20;
    for (;;) {
      s = await this.print();
      if (s.loaded && s.pid !== undefined && s.pid !== previousPid) {
        pid = s.pid;
        break;
      }

      if (
        s.loaded &&
        s.pid === undefined &&
        s.runs !== undefined &&
        runsBefore !== undefined &&
        s.runs > runsBefore
      ) {
        const port =
          this.spec.port === undefined ? '' : ` before listening on port ${this.spec.port}`;
        const message = `${this.target}: the job's process exited${port} (${describeStatus(s)})`;
        throw this.trail.fail('running', t0, 'EXITED', message);
      }

      if (msNow() >= deadline) {
        const message = `${this.target} has no new process ${this.o.timeout} ms after the start (${describeStatus(s)})`;
        throw this.trail.fail('running', t0, s.loaded ? 'EXITED' : 'NOT_FOUND', message);
      }

      await sleep(pause, this.o.signal);
      this.o.signal?.throwIfAborted();
      pause = Math.min(pause * 2, PRINT_POLL_MS);
    }

    this.trail.add('running', msNow() - t0, {pid, detail: describeStatus(s)});
    // launchd is the job's parent (pid 1 on macOS); with Sockets its listener is not a blocker.
    const manager = this.activatedSocket() === undefined ? undefined : processInfo(pid)?.ppid;
    const changed = previousPid === undefined ? `pid ${pid}` : `pid ${previousPid} → ${pid}`;
    const port = this.spec.port;
    if (port === undefined) {
      return this.trail.result({pid, outcome: changed});
    }

    const t1 = msNow();
    let entry: SocketEntry;
    try {
      entry = await waitForListening(port, {
        pid,
        timeout: Math.max(1, deadline - msNow()),
        ...(this.o.host === undefined ? {} : {host: this.o.host}),
        signal: this.o.signal,
      });
    } catch (error) {
      throw await this.explainNotListening(error, pid, port, t1, manager);
    }

    const listener = entry.owner?.status === 'found' ? (entry.owner.processes[0]?.pid ?? pid) : pid;
    this.trail.add('listening', msNow() - t1, {
      pid: listener,
      detail: describeSocket(entry),
    });
    return this.trail.result({
      pid: listener,
      listening: entry,
      outcome: `${changed}, listening on ${port}`,
    });
  }

  private async explainNotListening(
    error: unknown,
    pid: number,
    port: number,
    t1: number,
    manager: number | undefined,
  ): Promise<Error> {
    if (!(error instanceof NotListeningError)) {
      return this.trail.failWith('listening', t1, error);
    }

    // launchd's own listener for the job's Sockets is where the job should get its socket,
    // not a process in the way.
    const launchdHeld = error.seen.some((e) => heldOnlyBy(e, manager));
    const seen = error.seen.filter((e) => !heldOnlyBy(e, manager));
    const socket = this.activatedSocket();
    const held =
      (seen.length > 0 ? `; port ${port} is held by ${describeHolders(seen)}` : '') +
      (launchdHeld && socket
        ? `; launchd (pid ${manager}) holds it for the job's Sockets entry '${socket.name}', which the process never took (launch_activate_socket('${socket.name}'), or listenTarget(${port}))`
        : '');
    let message: string;
    let code: 'EXITED' | 'CRASH_LOOP' | 'NOT_LISTENING' | 'PORT_BUSY';
    if (error.reason === 'exited') {
      const s = await this.print().catch(() => ({loaded: false}) as JobStatus);
      const respawned = s.loaded && s.pid !== undefined && s.pid !== pid;
      code = respawned ? 'CRASH_LOOP' : 'EXITED';
      message = `The job's process ${pid} exited before listening on port ${port} (${describeStatus(s)})${respawned ? '; launchd respawned it (KeepAlive)' : ''}${held}`;
    } else {
      code = seen.length > 0 ? 'PORT_BUSY' : 'NOT_LISTENING';
      message = `${this.target} (pid ${pid}) did not listen on port ${port} within ${this.o.timeout} ms${held}`;
    }

    return this.trail.fail('listening', t1, code, message, {blockers: seen, cause: error}, {pid});
  }

  /** kickstart -k: launchd kills the running instance and starts it again from the loaded plist. */
  async kickstart(before: JobStatus & {loaded: true}): Promise<ServiceResult> {
    await this.verb('kickstart', ['kickstart', '-k', this.target]);
    return this.awaitUp(before.pid, before.runs);
  }
}

export async function launchdService(
  action: ServiceAction,
  spec: LaunchdServiceSpec,
  o: ResolvedOptions,
): Promise<ServiceResult> {
  const domain = spec.domain ?? `gui/${process.getuid?.() ?? 0}`;
  const trail = new Trail('launchd', action, `launchd job ${domain}/${spec.label}`, o.signal);
  const job = new Job(spec, o, trail);
  try {
    // stop tolerates a missing plist (only KeepAlive detection needs it).
    let file: JobFile | undefined;
    try {
      file = await job.readJob();
    } catch (error) {
      if (action !== 'stop') {
        throw error;
      }
    }

    const before = await job.status();
    if (action === 'stop') {
      const outcome = await job.stop(before, file, true);
      job.forgetSha();
      return trail.result({outcome});
    }

    const plistFile = file!;
    if (
      action === 'restart' &&
      before.loaded &&
      before.state !== 'SIGTERMed' &&
      job.recordedSha() === plistFile.sha256
    ) {
      return await job.kickstart(before);
    }

    if (action === 'start' && !before.loaded && spec.port !== undefined) {
      await refuseIfBusy(trail, spec.port, o, job.target);
    }

    const previousPid = before.loaded ? before.pid : undefined;
    if (action === 'restart' || before.loaded) {
      if (action === 'start' && before.loaded) {
        // Already loaded: start is a bootstrap no-op; make sure it runs and listens.
        await job.verb('kickstart', ['kickstart', job.target]);
        return await job.awaitUp(undefined, before.runs);
      }

      await job.stop(before, plistFile, false);
    }

    return await job.start(plistFile, previousPid);
  } catch (error) {
    throw trail.wrap(error);
  }
}
