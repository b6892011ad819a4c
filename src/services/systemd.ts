/*
systemd through `systemctl` (argv arrays, never a shell). `restart`/`start` block until the
job completes, which for Type=simple is before exec: afterwards we wait until the port is
LISTEN by the unit (its MainPID, a process of its cgroup, or a descendant of MainPID), and
watch the unit state meanwhile so that `failed`, a crash loop (`activating`/`auto-restart`,
rising NRestarts) or `start-limit-hit` end the wait at once instead of at the deadline.
*/
import path from 'node:path';
import {msNow} from '../clock.js';
import {describeSocket, type ServiceError} from '../errors.js';
import {descendsFrom} from '../process-control.js';
import {sleep} from '../steps.js';
import {terminate} from '../terminate.js';
import type {SocketEntry} from '../types.js';
import {probeUnixSocket} from '../unix-socket.js';
import {waitForPortFree} from '../wait.js';
import {BusCallError, BusUnreachableError} from './dbus/connection.js';
import {JOB_SUCCESS, privateSocket, SystemdBus, unitName} from './dbus/systemd-bus.js';
import type {BusValue} from './dbus/wire.js';
import {describeExit, runTool, type ToolResult} from './exec.js';
import {proveFree} from './free.js';
import {cgroupPids, heldOnlyBy, listeners, ownersOf} from './owners.js';
import type {ResolvedOptions} from './spec.js';
import {describeHolders, Trail} from './trail.js';
import type {ServiceAction, ServiceResult, SystemdServiceSpec} from './types.js';

export type UnitState = {
  readonly loadState: string;
  readonly activeState: string;
  readonly subState: string;
  readonly mainPid: number;
  /** Automatic restarts since the last manual start (systemd 235+); undefined when not reported. */
  readonly nRestarts: number | undefined;
  readonly result: string;
  readonly controlGroup: string;
  /** When the unit last left inactive/failed: unchanged across a failed job = the start was refused. */
  readonly inactiveExit: string;
  /** Units that start this one: `.socket` units mean socket activation. */
  readonly triggeredBy: readonly string[];
};

/** What `show` reads: properties of every unit, then of its type (MainPID is a Service's). */
export const UNIT_PROPERTIES = [
  'LoadState',
  'ActiveState',
  'SubState',
  'InactiveExitTimestampMonotonic',
  'TriggeredBy',
];
export const TYPE_PROPERTIES = ['MainPID', 'NRestarts', 'Result', 'ControlGroup'];
export const PROPERTIES = [...UNIT_PROPERTIES, ...TYPE_PROPERTIES];

/** Parses `systemctl show` output by key: the lines do not come in the order asked for. */
export function parseShow(text: string): UnitState {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) {
      values.set(line.slice(0, eq), line.slice(eq + 1));
    }
  }

  const int = (key: string): number | undefined => {
    const raw = values.get(key);
    return raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
  };

  return {
    loadState: values.get('LoadState') ?? '',
    activeState: values.get('ActiveState') ?? '',
    subState: values.get('SubState') ?? '',
    mainPid: int('MainPID') ?? 0,
    nRestarts: int('NRestarts'),
    result: values.get('Result') ?? '',
    controlGroup: values.get('ControlGroup') ?? '',
    inactiveExit: values.get('InactiveExitTimestampMonotonic') ?? '',
    triggeredBy: (values.get('TriggeredBy') ?? '').split(/\s+/).filter((u) => u !== ''),
  };
}

/** The same state from the manager's properties (unwrapped D-Bus values). */
export function stateOf(props: ReadonlyMap<string, BusValue>): UnitState {
  const text = (key: string) => {
    const v = props.get(key);
    return typeof v === 'string' ? v : '';
  };

  const int = (key: string) => {
    const v = props.get(key);
    return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;
  };

  const inactiveExit = props.get('InactiveExitTimestampMonotonic');
  const triggeredBy = props.get('TriggeredBy');
  return {
    loadState: text('LoadState'),
    activeState: text('ActiveState'),
    subState: text('SubState'),
    mainPid: int('MainPID') ?? 0,
    nRestarts: int('NRestarts'),
    result: text('Result'),
    controlGroup: text('ControlGroup'),
    inactiveExit:
      typeof inactiveExit === 'bigint' || typeof inactiveExit === 'number'
        ? String(inactiveExit)
        : '',
    triggeredBy: Array.isArray(triggeredBy)
      ? triggeredBy.filter((u): u is string => typeof u === 'string')
      : [],
  };
}

export function describeState(s: UnitState): string {
  let text = `${s.activeState}/${s.subState}`;
  if (s.mainPid > 0) {
    text += `, main pid ${s.mainPid}`;
  }

  if (s.result !== '' && s.result !== 'success') {
    text += `, result ${s.result}`;
  }

  if (s.nRestarts) {
    text += `, ${s.nRestarts} automatic restarts`;
  }

  return text;
}

const isStartLimit = (s: UnitState) => s.activeState === 'failed' && s.result === 'start-limit-hit';

const STATE_POLL_MS = 250;
/**
The port is polled at most this far apart while a unit starts: a probe of a port nobody
listens on costs tens of microseconds, and every millisecond between the bind and the
poll that sees it is added to the restart. Most servers listen within the first second
(a Node server in 30–100 ms here): polls are at most 2 ms apart then, 20 ms after it.
*/
const MAX_PROBE_PAUSE_MS = 20;
const EARLY_PROBE_PAUSE_MS = 2;
const EARLY_MS = 1000;
/** How long holders may take to go after `systemctl stop` before they count as strays. */
const STRAY_GRACE_MS = 1000;

/** How the manager is reached: its private socket, or systemctl (and why). */
type Control = {bus: SystemdBus; via: string} | {bus: undefined; via: string};

/** How a job or reset-failed went: `unsent` when it must be sent again (see `command`). */
type Outcome = {failure: string | undefined; name: string; unsent?: true};
type JobVerb = 'restart' | 'start' | 'stop';
/** A job sent to the manager: `job()` awaits its outcome. */
type Sent = {t0: number; outcome: Promise<Outcome>};

/** A bus call that did not answer within the timeout. */
const TIMED_OUT = Symbol('timed out');

function describeBusFailure(error: unknown): string {
  if (error instanceof BusCallError) {
    return `${error.busName}: ${error.message}`;
  }

  const code = (error as {code?: unknown}).code;
  const message = error instanceof Error ? error.message : String(error);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

class Unit {
  private readonly scopeFlag: string;
  private resetDone = false;
  private managerPid: number | undefined; // 0: not found
  private control: Control | undefined;

  constructor(
    readonly spec: SystemdServiceSpec,
    readonly o: ResolvedOptions,
    readonly trail: Trail,
  ) {
    this.scopeFlag = spec.scope === 'system' ? '--system' : '--user';
  }

  get unit(): string {
    return this.spec.unit;
  }

  private get user(): string {
    return this.scopeFlag === '--user' ? ' --user' : '';
  }

  /**
	The manager's private socket, as systemctl reaches it; systemctl when there is none, or
	when it does not accept us (found at the first call). `PORTWARDEN_DISABLE_SYSTEMD_BUS=1`
	forces systemctl.
	*/
  private connect(): Control {
    if (this.control === undefined) {
      const socket = privateSocket(this.scopeFlag === '--user' ? 'user' : 'system');
      this.control =
        process.env.PORTWARDEN_DISABLE_SYSTEMD_BUS === '1'
          ? {bus: undefined, via: 'systemctl (PORTWARDEN_DISABLE_SYSTEMD_BUS=1)'}
          : socket === undefined || unitName(this.unit) === undefined
            ? {bus: undefined, via: 'systemctl'}
            : {bus: SystemdBus.open(socket), via: `the manager's private socket ${socket}`};
    }

    return this.control;
  }

  /** The socket was not reachable, so nothing sent on it ran: systemctl from now on. */
  private fallBack(error: BusUnreachableError): void {
    this.control?.bus?.close();
    this.control = {bus: undefined, via: `systemctl (${error.message})`};
  }

  /** Closes the manager connection, if one was opened. */
  close(): void {
    this.control?.bus?.close();
  }

  /** Waits for a bus call for at most the timeout; rejects at once when the signal aborts. */
  private async bounded<T>(call: Promise<T>): Promise<T | typeof TIMED_OUT> {
    const {signal} = this.trail;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      return await Promise.race([
        call,
        new Promise<typeof TIMED_OUT>((resolve, reject) => {
          timer = setTimeout(() => resolve(TIMED_OUT), this.o.timeout);
          if (signal !== undefined) {
            onAbort = () => reject(this.trail.wrap(signal.reason));
            signal.addEventListener('abort', onAbort, {once: true});
          }
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) {
        signal?.removeEventListener('abort', onAbort);
      }
    }
  }

  async systemctl(args: readonly string[]): Promise<ToolResult> {
    return runTool(this.trail, 'systemctl', [this.scopeFlag, '--no-pager', ...args], {
      timeout: this.o.timeout,
      env: {LC_ALL: 'C', SYSTEMD_COLORS: '0'},
    });
  }

  /**
	Runs `verb` (a job, or reset-failed) through the manager; undefined when it succeeded,
	else what went wrong, and how the command is named in messages.
	*/
  private async command(
    verb: 'restart' | 'start' | 'stop' | 'reset-failed',
    pipelined = false,
  ): Promise<Outcome> {
    const {bus} = this.connect();
    if (bus === undefined) {
      const r = await this.systemctl([verb, '--', this.unit]);
      return {
        failure: r.exitCode === 0 ? undefined : describeExit(r),
        name: `systemctl${this.user} ${verb} ${this.unit}`,
      };
    }

    const name = `${verb} of ${this.unit} by the systemd${this.user ? ' user' : ''} manager`;
    const unit = unitName(this.unit)!;
    try {
      if (verb === 'reset-failed') {
        const done = await this.bounded(bus.resetFailed(unit));
        return {failure: done === TIMED_OUT ? 'timed out' : undefined, name};
      }

      const result = await this.bounded(bus.job(verb, unit));
      if (result === TIMED_OUT) {
        return {failure: 'timed out', name};
      }

      return {failure: JOB_SUCCESS.has(result) ? undefined : `job result ${result}`, name};
    } catch (error) {
      if (this.trail.signal?.aborted) {
        throw this.trail.wrap(this.trail.signal.reason);
      }

      if (error instanceof BusUnreachableError) {
        // Nothing reached the manager. A job sent ahead of the read of the state before it
        // is sent again by its caller, after that read (now through systemctl).
        this.fallBack(error);
        return pipelined ? {failure: undefined, name, unsent: true} : this.command(verb);
      }

      return {failure: describeBusFailure(error), name};
    }
  }

  async show(): Promise<UnitState> {
    const {bus} = this.connect();
    return this.loaded(
      bus === undefined ? await this.showBySystemctl() : await this.showByBus(bus),
    );
  }

  private async showByBus(bus: SystemdBus): Promise<UnitState> {
    let failure = 'timed out';
    try {
      const props = await this.bounded(
        bus.properties(unitName(this.unit)!, UNIT_PROPERTIES, TYPE_PROPERTIES),
      );
      if (props !== TIMED_OUT) {
        return stateOf(props);
      }
    } catch (error) {
      if (this.trail.signal?.aborted) {
        throw this.trail.wrap(this.trail.signal.reason);
      }

      if (error instanceof BusUnreachableError) {
        this.fallBack(error);
        return this.showBySystemctl();
      }

      failure = describeBusFailure(error);
    }

    throw this.trail.error(
      'COMMAND_FAILED',
      `Reading unit ${this.unit} from the systemd${this.user ? ' user' : ''} manager failed (${failure})`,
    );
  }

  private async showBySystemctl(): Promise<UnitState> {
    const args = ['show', ...PROPERTIES.flatMap((p) => ['-p', p]), '--', this.unit];
    const r = await this.systemctl(args);
    if (r.exitCode !== 0) {
      let hint = '';
      if (this.scopeFlag === '--user' && /bus|XDG_RUNTIME_DIR/i.test(r.stderr)) {
        hint =
          '; systemctl --user needs the user manager: set XDG_RUNTIME_DIR (/run/user/<uid>) or run `loginctl enable-linger`';
      }

      throw this.trail.error(
        'COMMAND_FAILED',
        `systemctl${this.user} show ${this.unit} failed (${describeExit(r)})${hint}`,
      );
    }

    return parseShow(r.stdout);
  }

  private loaded(state: UnitState): UnitState {
    if (state.loadState === 'not-found') {
      throw this.trail.error(
        'NOT_FOUND',
        `Unit ${this.unit} is not loaded by the systemd${this.user ? ' user' : ''} manager (LoadState=not-found); check the name, and run \`systemctl${this.user} daemon-reload\` after installing it`,
      );
    }

    return state;
  }

  async status(): Promise<UnitState> {
    return this.trail.run(
      'status',
      async () => this.show(),
      (s) => ({
        detail: `${describeState(s)}; through ${this.control?.via ?? 'systemctl'}`,
        ...(s.mainPid > 0 ? {pid: s.mainPid} : {}),
      }),
    );
  }

  /** The error for a unit state that means "this start failed", or undefined. */
  failure(
    s: UnitState,
    baselineRestarts: number | undefined,
    refused = false,
  ): ServiceError | undefined {
    const where = `Unit ${this.unit} ${describeState(s)}`;
    const logs = `see \`journalctl${this.user} -u ${this.unit}\``;
    if (isStartLimit(s) || (refused && s.activeState === 'failed')) {
      // After crashes, Result keeps 'exit-code' and a refused start does not change it:
      // a failed job that never left the failed state is the start limit (or a failed dependency).
      const why = isStartLimit(s)
        ? 'systemd refuses further starts'
        : 'systemd refused to start it without running anything (start limit, or a failed dependency)';
      return this.trail.error(
        'START_LIMIT',
        `${where}: ${why} (StartLimitBurst within StartLimitIntervalSec, manual starts included); fix the cause (${logs}), then run \`systemctl${this.user} reset-failed ${this.unit}\` or pass resetFailed: true`,
      );
    }

    if (s.activeState === 'failed') {
      return this.trail.error('UNIT_FAILED', `${where}; ${logs}`);
    }

    if (s.activeState === 'activating' && s.subState === 'auto-restart') {
      return this.trail.error(
        'CRASH_LOOP',
        `${where}: its process exited and systemd is restarting it (crash loop); ${logs}`,
      );
    }

    if (
      baselineRestarts !== undefined &&
      s.nRestarts !== undefined &&
      s.nRestarts > baselineRestarts
    ) {
      return this.trail.error(
        'CRASH_LOOP',
        `${where}: restarted automatically ${s.nRestarts - baselineRestarts} time(s) since our start (crash loop); ${logs}`,
      );
    }

    if (s.activeState === 'inactive' || s.activeState === 'deactivating') {
      return this.trail.error('EXITED', `${where}: its process exited after the start; ${logs}`);
    }

    return undefined;
  }

  /** Before a start: the start limit is hit. Resets it once when allowed, else throws. */
  async handleStartLimit(s: UnitState): Promise<void> {
    if (!isStartLimit(s)) {
      return;
    }

    if (!this.o.resetFailed || this.resetDone) {
      throw this.failure(s, undefined)!;
    }

    await this.resetFailed();
  }

  private async resetFailed(): Promise<void> {
    this.resetDone = true;
    const t0 = msNow();
    const {failure, name} = await this.command('reset-failed');
    this.trail.add('reset-failed', msNow() - t0, {detail: failure ?? 'done'});
    if (failure !== undefined) {
      throw this.trail.error('COMMAND_FAILED', `${name} failed (${failure})`);
    }
  }

  /** Whether the manager is driven through its socket (where a job can follow a read in one write). */
  get viaSocket(): boolean {
    return this.connect().bus !== undefined;
  }

  /**
	Sends a job now; `job()` takes its outcome. `pipelined`: sent before the state it
	follows has been read (the manager answers a connection's calls in order).
	*/
  send(verb: JobVerb, pipelined = false): Sent {
    const port = this.spec.port;
    if (verb !== 'stop' && port !== undefined) {
      // The port is probed as soon as the job is done. One probe while the manager works
      // (after this tick, which sends the job) loads the addon and readies the probe path,
      // which would otherwise delay that first probe by milliseconds in a fresh process.
      setImmediate(() => {
        listeners(port, this.o.host, [], undefined).catch(() => {});
      });
    }

    return {t0: msNow(), outcome: this.command(verb, pipelined)};
  }

  /** A job (restart, start, stop); on failure explains the unit state (one reset-failed retry). */
  async job(verb: JobVerb, before: UnitState, sent?: Sent): Promise<void> {
    let job = sent ?? this.send(verb);
    let {failure, name, unsent} = await job.outcome;
    if (unsent) {
      job = this.send(verb);
      ({failure, name} = await job.outcome);
    }

    if (failure === undefined) {
      this.trail.add(verb, msNow() - job.t0);
      return;
    }

    this.trail.add(verb, msNow() - job.t0, {detail: failure, failed: true});
    const s = await this.show();
    const refused =
      verb !== 'stop' && s.inactiveExit !== '' && s.inactiveExit === before.inactiveExit;
    const limited = isStartLimit(s) || (refused && s.activeState === 'failed');
    if (verb !== 'stop' && limited && this.o.resetFailed && !this.resetDone) {
      await this.resetFailed();
      return this.job(verb, await this.show());
    }

    throw (
      this.failure(s, undefined, refused) ??
      this.trail.error('COMMAND_FAILED', `${name} failed (${failure}); unit ${describeState(s)}`)
    );
  }

  /**
	Socket activation: the pid of the service manager when a `.socket` unit triggers this
	unit, else undefined. The manager holds the socket unit's listener for as long as the
	socket unit runs, across stops of the service: that listener is never a stale holder.
	Found as the process listening on the manager's control socket (pid 1 for the system).
	*/
  async socketManager(s: UnitState): Promise<number | undefined> {
    if (!s.triggeredBy.some((u) => u.endsWith('.socket'))) {
      return undefined;
    }

    if (this.managerPid === undefined) {
      this.managerPid = 0;
      if (this.scopeFlag === '--system') {
        this.managerPid = 1;
      } else if (process.env.XDG_RUNTIME_DIR) {
        try {
          const report = await probeUnixSocket(
            path.join(process.env.XDG_RUNTIME_DIR, 'systemd', 'private'),
          );
          const owner = report.sockets.find((e) => e.state === 'LISTEN')?.owner;
          this.managerPid = owner?.status === 'found' ? (owner.processes[0]?.pid ?? 0) : 0;
        } catch {}
      }
    }

    return this.managerPid === 0 ? undefined : this.managerPid;
  }

  /**
	After `systemctl stop` of a socket-activated unit: the port stays listening by the socket
	unit (the manager); other holders are strays (waited for briefly, then reported, or
	terminated with killStrays — never the manager).
	*/
  async proveReleasedToSocket(port: number, manager: number, s: UnitState): Promise<string> {
    const t0 = msNow();
    const deadline = t0 + Math.min(this.o.timeout, STRAY_GRACE_MS);
    const sockets = s.triggeredBy.filter((u) => u.endsWith('.socket')).join(', ');
    let killed = false;
    for (let pause = 5; ; pause = Math.min(pause * 2, MAX_PROBE_PAUSE_MS)) {
      const entries = await listeners(port, this.o.host, [], this.o.signal);
      const strays = entries.filter((e) => !heldOnlyBy(e, manager));
      if (strays.length === 0) {
        const detail =
          entries.length === 0
            ? `port ${port} free`
            : `port ${port} stays listening by ${sockets} (the service manager, pid ${manager}): socket activation`;
        this.trail.add('port-free', msNow() - t0, {detail});
        return detail;
      }

      if (msNow() >= deadline) {
        const pids = [...new Set(strays.flatMap((e) => ownersOf(e).map((p) => p.pid)))].filter(
          (pid) => pid !== manager,
        );
        if (!this.o.killStrays || killed || pids.length === 0) {
          const message = `Port ${port} is still held after stopping ${this.unit}, besides ${sockets} of the service manager (pid ${manager}), by ${describeHolders(strays)}; stop them, or pass killStrays: true`;
          throw this.trail.fail('port-free', t0, 'STRAYS', message, {blockers: strays});
        }

        killed = true;
        await terminate(pids, {
          forceAfter: this.o.forceAfter,
          timeout: (this.o.forceAfter === false ? 0 : this.o.forceAfter) + this.o.timeout,
        }).catch(() => {});
      }

      await sleep(pause, this.trail.signal);
    }
  }

  /** Whether a listener process belongs to the unit: MainPID, its cgroup, or a descendant of MainPID. */
  belongs(pid: number, s: UnitState, cgroup: Set<number> | undefined): boolean {
    if (s.mainPid > 0 && pid === s.mainPid) {
      return true;
    }

    if (cgroup?.has(pid)) {
      return true;
    }

    return s.mainPid > 0 && descendsFrom(pid, new Set([s.mainPid]));
  }

  /**
	After a start/restart job: waits until the unit listens on the port (or, without a
	port, is active), ending early when the unit fails or crash-loops.
	*/
  async awaitUp(before: UnitState): Promise<ServiceResult> {
    const t0 = msNow();
    const deadline = t0 + this.o.timeout;
    const previousPid = before.mainPid;
    // The state after the job is read while the first probes run (a systemctl run takes
    // longer than a server takes to start listening, often). Until it is in, the unit's
    // cgroup and socket units are those of `before` (they do not change across a restart).
    let s = before;
    let baseline: number | undefined;
    let fresh: Promise<UnitState> | undefined = this.show();
    const take = (state: UnitState) => {
      if (fresh !== undefined) {
        s = state;
        baseline = state.nRestarts;
        fresh = undefined;
      }
    };

    fresh.then(take, () => {}); // a failed show is rethrown by settle()
    const settle = async () => {
      if (fresh !== undefined) {
        take(await fresh);
      }
    };

    let nextShow = msNow() + STATE_POLL_MS;
    let pause = 2;
    let strays: SocketEntry[] = [];
    let polls = 0;
    const port = this.spec.port;
    const manager = port === undefined ? undefined : await this.socketManager(before);
    const changed = (pid: number) =>
      previousPid > 0 && pid !== previousPid ? `pid ${previousPid} → ${pid}` : `pid ${pid}`;

    for (;;) {
      this.trail.signal?.throwIfAborted();
      if (port === undefined) {
        await settle();
      }

      const failure = fresh === undefined ? this.failure(s, baseline) : undefined;
      if (failure) {
        throw this.trail.failWith('listening', t0, failure);
      }

      if (port === undefined) {
        if (s.activeState === 'active') {
          this.trail.add('active', msNow() - t0, {
            detail: describeState(s),
            ...(s.mainPid > 0 ? {pid: s.mainPid} : {}),
          });
          return this.trail.result({
            ...(s.mainPid > 0 ? {pid: s.mainPid} : {}),
            outcome: `${changed(s.mainPid)}, ${s.activeState}/${s.subState}`,
          });
        }
      } else {
        polls++;
        const entries = await listeners(port, this.o.host, [s.mainPid], this.o.signal);
        const cgroup = entries.length === 0 ? undefined : cgroupPids(s.controlGroup);
        strays = [];
        for (const entry of entries) {
          const owners = ownersOf(entry);
          const mine = owners.find((p) => this.belongs(p.pid, s, cgroup));
          // The owner may be invisible (another user's unit without root): then an active
          // unit whose port is listening is the best proof there is.
          const invisible =
            fresh === undefined &&
            entry.owner?.status === 'unknown' &&
            s.activeState === 'active' &&
            s.mainPid > 0;
          if (mine || invisible) {
            await settle(); // the job's own state, and any show error, before the answer
            const pid = mine?.pid ?? s.mainPid;
            this.trail.add('listening', msNow() - t0, {
              pid,
              detail: `${describeSocket(entry)}${invisible && !mine ? ' (owner not visible; unit active)' : ''} after ${polls} probe(s)`,
            });
            return this.trail.result({
              pid,
              listening: entry,
              outcome: `${changed(pid)}, listening on ${port}`,
            });
          }

          // The socket unit's listener before the new main process holds it: not a stray.
          if (!heldOnlyBy(entry, manager)) {
            strays.push(entry);
          }
        }
      }

      const now = msNow();
      if (now >= deadline) {
        await settle();
        const held =
          strays.length > 0
            ? `; the port is held outside the unit: ${describeHolders(strays)}`
            : '';
        const message = `Unit ${this.unit} (${describeState(s)}) did not listen on port ${port ?? '-'} within ${this.o.timeout} ms${held}`;
        throw this.trail.fail(
          port === undefined ? 'active' : 'listening',
          t0,
          strays.length > 0 ? 'PORT_BUSY' : 'NOT_LISTENING',
          message,
          {blockers: strays},
        );
      }

      await sleep(Math.min(pause, deadline - now), this.trail.signal);
      pause = Math.min(pause * 2, now - t0 < EARLY_MS ? EARLY_PROBE_PAUSE_MS : MAX_PROBE_PAUSE_MS);
      if (fresh === undefined && (msNow() >= nextShow || port === undefined)) {
        s = await this.show();
        nextShow = msNow() + STATE_POLL_MS;
      }
    }
  }

  /** After `systemctl stop`: proves the port free; holders left are strays (reported, or killed when asked). */
  async proveFreeAfterStop(port: number, before: UnitState): Promise<string> {
    const manager = await this.socketManager(before);
    if (manager !== undefined) {
      return this.proveReleasedToSocket(port, manager, before);
    }

    if (this.o.killStrays) {
      return proveFree(this.trail, port, this.o, 'terminate');
    }

    const t0 = msNow();
    try {
      await waitForPortFree(port, {
        timeout: Math.min(this.o.timeout, STRAY_GRACE_MS),
        ...(this.o.host === undefined ? {} : {host: this.o.host}),
        signal: this.o.signal,
      });
      this.trail.add('port-free', msNow() - t0);
      return `port ${port} free`;
    } catch (error) {
      const wrapped = this.trail.wrap(error);
      if (wrapped.code !== 'PORT_BUSY') {
        throw this.trail.failWith('port-free', t0, wrapped);
      }

      const blockers = wrapped.blockers ?? [];
      const cgroup = cgroupPids(before.controlGroup);
      const inUnit = blockers.some((e) => ownersOf(e).some((p) => cgroup?.has(p.pid)));
      const where = inUnit
        ? 'left in the unit cgroup (KillMode=process or none?)'
        : "outside the unit's cgroup (a copy started by hand?)";
      const message = `Port ${port} is still held after stopping ${this.unit}, by processes ${where}: ${describeHolders(blockers)}; stop them, or pass killStrays: true`;
      throw this.trail.fail('port-free', t0, 'STRAYS', message, {blockers});
    }
  }

  /** Before a start: refuses when the port is held by something that is not this unit. */
  async refuseIfHeld(port: number, s: UnitState): Promise<void> {
    const t0 = msNow();
    const entries = await listeners(port, this.o.host, [s.mainPid], this.o.signal);
    const cgroup = cgroupPids(s.controlGroup);
    const manager = await this.socketManager(s);
    const foreign = entries.filter(
      (e) => !ownersOf(e).some((p) => this.belongs(p.pid, s, cgroup)) && !heldOnlyBy(e, manager),
    );
    if (foreign.length > 0) {
      const message = `Refusing to start ${this.unit}: port ${port} is held by ${describeHolders(foreign)}, which is not part of the unit`;
      throw this.trail.fail('port-check', t0, 'PORT_BUSY', message, {blockers: foreign});
    }

    this.trail.add('port-check', msNow() - t0, {
      detail:
        entries.length === 0
          ? `port ${port} free`
          : entries.some((e) => heldOnlyBy(e, manager))
            ? `port ${port} listening by its socket unit (socket activation)`
            : 'the unit already listens',
    });
  }
}

export async function systemdService(
  action: ServiceAction,
  spec: SystemdServiceSpec,
  o: ResolvedOptions,
): Promise<ServiceResult> {
  const scope = spec.scope === 'system' ? 'system' : 'user';
  const trail = new Trail('systemd', action, `systemd ${scope} unit ${spec.unit}`, o.signal);
  const unit = new Unit(spec, o, trail);
  try {
    if (action === 'restart' && unit.viaSocket) {
      // The restart goes out in the same write as the reads of the state before it, so the
      // job does not wait for this process to take those answers in. A start limit is then
      // met as a refused job, and explained (or reset, with resetFailed) as any refusal is.
      const reading = unit.status();
      const sent = unit.send('restart', true);
      let before: UnitState;
      try {
        before = await reading;
      } catch (error) {
        // The trail tells what became of the job that went out with the read.
        const outcome = await sent.outcome.catch(() => undefined);
        if (outcome !== undefined && !outcome.unsent) {
          trail.add('restart', msNow() - sent.t0, {
            ...(outcome.failure === undefined ? {} : {detail: outcome.failure, failed: true}),
          });
        }

        throw error;
      }

      await unit.job('restart', before, sent);
      return await unit.awaitUp(before);
    }

    const before = await unit.status();
    if (action === 'stop') {
      await unit.job('stop', before);
      const free =
        spec.port === undefined ? undefined : await unit.proveFreeAfterStop(spec.port, before);
      const was = before.mainPid > 0 ? `pid ${before.mainPid} stopped` : 'was not running';
      return trail.result({outcome: free ? `${was}, ${free}` : was});
    }

    await unit.handleStartLimit(before);
    if (action === 'start' && spec.port !== undefined && before.activeState !== 'active') {
      await unit.refuseIfHeld(spec.port, before);
    }

    await unit.job(action, before);
    return await unit.awaitUp(before);
  } catch (error) {
    throw trail.wrap(error);
  } finally {
    unit.close();
  }
}
