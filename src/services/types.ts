import type {ServiceManager, ServiceStep, SocketEntry} from '../types.js';

/** A systemd unit, driven through `systemctl`. */
export type SystemdServiceSpec = {
  readonly manager: 'systemd';
  /** Unit name, such as `'web.service'`. */
  readonly unit: string;
  /** `systemctl --user` or `systemctl --system`. @default 'user' */
  readonly scope?: 'user' | 'system';
  /** The TCP port the service listens on; without it only the unit state is checked. */
  readonly port?: number;
};

/** A launchd job, driven through `launchctl`. */
export type LaunchdServiceSpec = {
  readonly manager: 'launchd';
  /** The job's `Label`. */
  readonly label: string;
  /** Absolute path of the job's property list. */
  readonly plist: string;
  /** `gui/<uid>`, `user/<uid>` or `system`. @default `gui/<uid of this process>` */
  readonly domain?: string;
  /** The TCP port the job listens on; without it only the job state is checked. */
  readonly port?: number;
};

/** A daemon managed by shell commands (argv arrays, never a shell). */
export type CommandServiceSpec = {
  readonly manager: 'command';
  /**
	Run to stop the daemon, such as `['kill', '-TERM', '4711']` or `['myd', 'stop']`. Needed by
	restartService and stopService.
	*/
  readonly stop?: readonly string[];
  /** Run (detached) to start it; it may daemonize. Needed by restartService and startService. */
  readonly start?: readonly string[];
  /** The TCP port the daemon listens on. */
  readonly port: number;
  /** A PID file the daemon writes: the listener must be the pid it names (or a descendant). */
  readonly pidFile?: string;
};

export type ServiceSpec = SystemdServiceSpec | LaunchdServiceSpec | CommandServiceSpec;

export type ServiceOptions = {
  /**
	Budget in ms of each wait: for the port to become free, for the service to listen, for
	a launchd label to unload, and for each systemctl/launchctl/stop command.
	@default 30000
	*/
  readonly timeout?: number;
  /**
	After a stop, holders still on the port this many ms later get SIGKILL (command and
	launchd; systemd only with `killStrays`). `false` never signals: the call fails instead.
	@default 5000
	*/
  readonly forceAfter?: number | false;
  /** The address the service binds; the port checks use it. @default any address */
  readonly host?: string;
  /** Aborts the waits; the call then rejects with a `ServiceError` (`'ABORTED'`). */
  readonly signal?: AbortSignal;
  /**
	systemd: when the unit hit its start limit, run `systemctl reset-failed` once and try
	again (never more than once per call).
	@default false
	*/
  readonly resetFailed?: boolean;
  /**
	systemd: terminate processes outside the unit that still hold the port after `stop`
	(a copy started by hand). Without it they are only reported.
	@default false
	*/
  readonly killStrays?: boolean;
  /** launchd: how long `bootstrap` is retried on exit 5 and 37. @default 15000 */
  readonly bootstrapTimeout?: number;
  /**
	command: a start that did not prove itself (the command exited, or nothing of it listened
	before the deadline) is stopped before the error is returned: SIGTERM to the start
	command's process group, SIGKILL after `forceAfter`. `true` leaves it running instead
	(the error says which). A daemon that left that group (setsid) is not reached.
	@default false
	*/
  readonly keepFailed?: boolean;
};

export type ServiceAction = 'restart' | 'stop' | 'start';

export type ServiceResult = {
  readonly manager: ServiceManager;
  readonly action: ServiceAction;
  /** What was done, in order, with timings. */
  readonly steps: readonly ServiceStep[];
  /** One line: `restarted systemd unit web.service in 812 ms: pid 4711 → 4890, listening on 8080`. */
  readonly summary: string;
  /** Duration of the whole call in ms. */
  readonly ms: number;
  /** After a start or restart: the process proven to listen (or the main pid when no port was given). */
  readonly pid?: number;
  /** After a start or restart with a port: the listening socket and its owner. */
  readonly listening?: SocketEntry;
};
