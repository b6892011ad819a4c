/** Transport protocol of an inet socket. */
export type Protocol = 'tcp' | 'udp';

/**
TCP states use the kernel's names. UDP sockets are `UNCONN` (bound, not connected) or
`ESTABLISHED` (connected).
*/
export type SocketState =
  | 'ESTABLISHED'
  | 'SYN_SENT'
  | 'SYN_RECV'
  | 'FIN_WAIT1'
  | 'FIN_WAIT2'
  | 'TIME_WAIT'
  | 'CLOSE'
  | 'CLOSE_WAIT'
  | 'LAST_ACK'
  | 'LISTEN'
  | 'CLOSING'
  | 'NEW_SYN_RECV'
  | 'BOUND_INACTIVE'
  | 'UNCONN'
  | 'UNKNOWN';

/** Which backend answered a probe. */
export type BackendName = 'native' | 'lsof';

/** `'auto'` uses the addon and falls back to `lsof` when the addon or sock_diag is unavailable. */
export type BackendChoice = 'auto' | BackendName;

/**
A process. Identity is `pid` + `startTime` + `bootId`: a pid with another start time is
another process.
*/
export type ProcessInfo = {
  readonly pid: number;
  /** Parent pid; `undefined` when the backend cannot read it (lsof fallback). */
  readonly ppid: number | undefined;
  /** Effective uid. */
  readonly uid: number;
  /** Short name (`comm` on Linux). */
  readonly name: string;
  /** Arguments joined by spaces (at most 4 KiB); the name when the kernel shows none. */
  readonly command: string;
  /** Start time in clock ticks since boot (Linux); `undefined` when unreadable (lsof fallback). */
  readonly startTime: number | undefined;
  /** Identifies the boot the start time belongs to; `undefined` when unreadable. */
  readonly bootId: string | undefined;
};

/**
Who holds a socket.
- `found`: every process holding it (forked workers share a listener).
- `none`: no file refers to it; the kernel owns it (TIME_WAIT, SYN_RECV, orphans).
- `unknown`: some processes could not be inspected (`code` is `'EACCES'`).
- `not-visible`: every process was inspected and none holds it (another pid namespace,
  an fd in flight, or the holder exited during the scan).
*/
export type Owner =
  | {readonly status: 'found'; readonly processes: readonly ProcessInfo[]}
  | {readonly status: 'none'}
  | {readonly status: 'unknown'; readonly code: string}
  | {readonly status: 'not-visible'};

export type SocketEntry = {
  readonly protocol: Protocol;
  /** Address family of the socket. An IPv4 peer of a dual-stack socket keeps family 6. */
  readonly family: 4 | 6;
  readonly state: SocketState;
  /** IPv4-mapped IPv6 addresses are reported as IPv4 (`::ffff:127.0.0.1` → `127.0.0.1`). */
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** IPv6 listening/bound sockets: whether IPv4 is excluded. Absent when not applicable or unknown. */
  readonly v6only?: boolean;
  /** Uid of the socket's creator (0 for kernel-owned sockets). */
  readonly uid: number;
  /** Socket inode; 0 when no file refers to it, or when the backend cannot tell (lsof). */
  readonly inode: number;
  /** Present when owners were looked up. */
  readonly owner?: Owner;
};

/** Result of a three-state check. `unknown` is never a kind of `free`. */
export type PortStatus =
  | {readonly status: 'free'; readonly backend: BackendName}
  | {
      readonly status: 'busy';
      readonly blockers: readonly SocketEntry[];
      readonly backend: BackendName;
    }
  | {
      readonly status: 'unknown';
      readonly code: string;
      readonly reason: string;
      /** `true` when retrying cannot help (no backend at all); `false` for one failed attempt. */
      readonly permanent: boolean;
      readonly backend: BackendName;
    };

export type PortReport = {
  readonly port: number;
  readonly protocol: Protocol;
  readonly sockets: readonly SocketEntry[];
  readonly backend: BackendName;
  readonly elapsedMs: number;
};

/** Which supervisor a service spec goes through. */
export type ServiceManager = 'systemd' | 'launchd' | 'command';

/**
One thing a service operation did, with its duration:
`{step: 'port-free', ms: 840, detail: 'SIGKILL sent to 4711 after 5000 ms'}`.
*/
export type ServiceStep = {
  /** `'status'`, `'stop'`, `'restart'`, `'bootout'`, `'unloaded'`, `'port-free'`, `'bootstrap'`, `'listening'`, ... */
  readonly step: string;
  readonly ms: number;
  readonly detail?: string;
  /** The process the step is about (the new listener for `'listening'`). */
  readonly pid?: number;
  /** Attempts after the first (bootstrap retries on exit 5/37). */
  readonly retries?: number;
  /** Present (true) on the step that failed. */
  readonly failed?: true;
};

/** What a PID file names. Fields the file does not hold (a foreign format, garbage) are `undefined`. */
export type PidFileHolder = {
  readonly pid: number | undefined;
  /** Start time of `pid` in clock ticks since boot (Linux), as `processInfo` reports it. */
  readonly startTime: number | undefined;
  readonly bootId: string | undefined;
  /** The caller data written with `claimPidFile(path, {data})`, parsed. */
  readonly data: unknown;
  /**
	Whether an instance is alive. A locked file is alive whatever it contains (only a live
	process can hold the lock). An unlocked file is alive while the process it names runs
	(same start time and boot id, when recorded): a daemon that writes its pid without
	locking (held by a foreign process, which `claimPidFile` never takes over without
	`force`). An unlocked file that is empty, names no pid, or names a process that is gone
	(or a zombie) is not alive.
	*/
  readonly alive: boolean;
  /**
	A live process holds the file's lock (a portwarden claim, or any `flock` user): the
	instance runs. `false` with `alive: true`: held by a foreign process that does not lock;
	`false` with `alive: false`: stale.
	*/
  readonly locked: boolean;
};

/** What `terminate` and `freePort` did to one process. */
export type TerminateResult = {
  readonly pid: number;
  /** Command line of the target; `null` when it was already gone. */
  readonly command: string | null;
  /**
	The POSIX name of the last signal sent (or, for a dry run, of the one that would be);
	`null` when none was.
	*/
  readonly killSignal: NodeJS.Signals | null;
  /** SIGKILL was sent because the process outlived `forceAfter`. */
  readonly forced: boolean;
  /**
	- `terminated`: signalled, and it exited.
	- `gone`: it had already exited; nothing was signalled.
	- `reused`: its pid now names another process (start time differs); nothing was signalled.
	- `dry-run`: `freePort({dryRun: true})` would signal it.
	*/
  readonly status: 'terminated' | 'gone' | 'reused' | 'dry-run';
};
