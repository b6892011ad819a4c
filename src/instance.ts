import {msNow} from './clock.js';
import {requireNative} from './native.js';
import path from 'node:path';
import {AlreadyRunningError, PidFileError} from './errors.js';
import {claimPidFile, type PidFileHandle, type PidFileHolder, recordAlive} from './pidfile.js';
import {probePortSync} from './probe.js';
import {
  parseServiceRecord,
  recordFields,
  type ServiceRecord,
  serialiseServiceRecord,
  servicePathOf,
} from './service-record.js';
import {readSmallFile, unlinkIfSame, writeFileAtomic} from './small-file.js';
import {sleep} from './steps.js';
import {terminate} from './terminate.js';
import {probeUnixSocketSync} from './unix-socket.js';
import {
  ArgumentRangeError,
  ArgumentTypeError,
  assertAbortSignal,
  assertBoolean,
  assertDuration,
  assertFilePath,
  assertPort,
  checkOptions,
  show,
} from './validate.js';

export type {ServiceRecord} from './service-record.js';

export type InstanceHolder = PidFileHolder & {
  /**
	Its service record, only while a probe shows the recorded port (TCP LISTEN) and/or
	unix socket held by that very process (pid + start time). `undefined` otherwise.
	*/
  readonly service: ServiceRecord | undefined;
  /** `isAlive(holder)` did not answer `true` within `aliveTimeout`. Always false without `isAlive`. */
  readonly hung: boolean;
};

export type IsAliveContext = {
  /** Aborted when `aliveTimeout` passes. */
  readonly signal: AbortSignal;
  /**
	Reads the holder's service record again (trusted only while the probe confirms it): a
	holder that has just started records its port once it listens, after `holder.service`
	was read.
	*/
  readonly service: () => ServiceRecord | undefined;
};

export type IsAlive = (
  holder: Omit<InstanceHolder, 'hung'>,
  context: IsAliveContext,
) => boolean | Promise<boolean>;

export type ClaimInstanceOptions = {
  /** The PID file. The service record is kept at `<pidFile>.service.json`. */
  readonly pidFile: string;
  /** The TCP port the service listens on: the default of `handle.recordService()`. */
  readonly port?: number;
  /** The unix socket the service listens on: the default of `handle.recordService()`. */
  readonly socketPath?: string;
  /** Written into the PID file (see `claimPidFile`). */
  readonly data?: unknown;
  /**
	Asks a running holder whether it works (a status request over its socket, say): a hung
	process keeps its lock and its listening socket. `signal` aborts when `aliveTimeout`
	passes. Without it, holders are never reported hung.
	*/
  readonly isAlive?: IsAlive;
  /** @default 2000 */
  readonly aliveTimeout?: number;
  /**
	Terminate a hung holder (SIGTERM, then SIGKILL after `forceAfter`; a stopped process
	only dies of SIGKILL) and claim again. Only holders whose file records a start time
	(written by portwarden) are replaced: a bare pid is not an identity.
	@default false
	*/
  readonly replaceHung?: boolean;
  /** SIGKILL a hung holder that outlives SIGTERM by this many ms. @default 1000 */
  readonly forceAfter?: number;
  /**
	Aborts the waits of the claim (the liveness question, a holder still writing its file,
	the termination of a hung holder): the call rejects with `signal.reason`.
	*/
  readonly signal?: AbortSignal;
};

export type InstanceHandle = PidFileHandle & {
  /** `<pidFile>.service.json`. */
  readonly servicePath: string;
  /**
	Records where this instance listens (atomically: temporary file + rename). Others trust
	it only while a probe shows that port or socket held by this process. Defaults to the
	`port`/`socketPath` given to `claimInstance`.
	*/
  recordService(service?: {port?: number; socketPath?: string}): ServiceRecord;
  /** Removes the service record and the PID file, then drops the lock. Idempotent. */
  release(): void;
};

export type ClaimInstanceResult =
  | {readonly role: 'owner'; readonly handle: InstanceHandle}
  | {readonly role: 'existing'; readonly holder: InstanceHolder};

const KEYS = [
  'pidFile',
  'port',
  'socketPath',
  'data',
  'isAlive',
  'aliveTimeout',
  'replaceHung',
  'forceAfter',
  'signal',
];
const MAX_SOCKET_PATH_BYTES = 107;
const MAX_RECORD_BYTES = 4096;
/** Claims are retried this often after replacing a hung holder (another may win). */
const MAX_ROUNDS = 3;

function assertSocketPath(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') {
    throw new ArgumentTypeError(`Expected ${name} to be a string, got ${show(value)}`);
  }

  const bytes = Buffer.byteLength(value);
  if (bytes === 0 || bytes > MAX_SOCKET_PATH_BYTES || value.includes('\0')) {
    throw new ArgumentRangeError(
      `Expected ${name} to be 1 to ${MAX_SOCKET_PATH_BYTES} bytes without NUL, got ${show(value)}`,
    );
  }
}

type RawRecord = ServiceRecord & {dev: bigint; ino: bigint};

/** Reads a service record; undefined when missing or corrupt (a corrupt one is removed). */
function readRecord(file: string): RawRecord | undefined {
  // Not a regular file, or too large: '', hence corrupt (and removed).
  const read = readSmallFile(file, MAX_RECORD_BYTES, 'read service record', {
    wrapReadErrors: false,
  });
  if (read === undefined) {
    return undefined;
  }

  const {text, stat} = read;
  const record = parseServiceRecord(text);
  if (record === undefined) {
    unlinkIfSame(file, stat);
    return undefined;
  }

  return {...record, dev: stat.dev, ino: stat.ino};
}

const heldBy = (
  processes: ReadonlyArray<{pid: number; startTime: number | undefined}>,
  record: ServiceRecord,
): boolean => processes.some((p) => p.pid === record.pid && p.startTime === record.startTime);

/** Whether a probe shows the recorded port / socket held by the recorded process. */
function recordConfirmed(record: ServiceRecord): boolean {
  try {
    if (record.port !== undefined) {
      const report = probePortSync(record.port, {states: 'listen', candidates: [record.pid]});
      const ok = report.sockets.some(
        (s) =>
          s.state === 'LISTEN' && s.owner?.status === 'found' && heldBy(s.owner.processes, record),
      );
      if (!ok) {
        return false;
      }
    }

    if (record.socketPath !== undefined) {
      const report = probeUnixSocketSync(record.socketPath);
      const ok = report.sockets.some(
        (s) => s.owner.status === 'found' && heldBy(s.owner.processes, record),
      );
      if (!ok) {
        return false;
      }
    }
  } catch {
    return false; // Unknown is not "held".
  }

  return true;
}

/**
The holder's service record when it can be trusted. A record naming another process than
the holder is stale and removed; the holder's own record is kept even while unconfirmed
(it may be rebinding).
*/
function holderService(servicePath: string, holder: PidFileHolder): ServiceRecord | undefined {
  const record = readRecord(servicePath);
  if (record === undefined) {
    return undefined;
  }

  const sameIdentity =
    record.pid === holder.pid &&
    record.startTime === holder.startTime &&
    (holder.bootId === undefined || record.bootId === undefined || record.bootId === holder.bootId);
  if (!sameIdentity) {
    // Stale: it names another process than the holder. When the holder's file names no
    // pid we cannot tell, so only a record of a dead process is removed then.
    if (holder.pid !== undefined || !recordAlive(requireNative('claimInstance'), record)) {
      unlinkIfSame(servicePath, record);
    }

    return undefined;
  }

  return recordConfirmed(record) ? recordFields(record) : undefined;
}

async function askAlive(
  isAlive: IsAlive,
  holder: Omit<InstanceHolder, 'hung'>,
  service: () => ServiceRecord | undefined,
  timeout: number,
  outer: AbortSignal | undefined,
): Promise<boolean> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(outer!.reason);
  outer?.addEventListener('abort', onAbort, {once: true});
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error(`isAlive did not answer within ${timeout} ms`));
      resolve(false);
    }, timeout);
  });
  try {
    const answer = Promise.resolve()
      .then(async () => isAlive(holder, {signal: controller.signal, service}))
      .then(
        (value) => value === true,
        () => false,
      );
    const aborted = new Promise<never>((_resolve, reject) => {
      if (outer?.aborted) {
        reject(outer.reason);
      }

      outer?.addEventListener('abort', () => reject(outer.reason), {once: true});
    });
    aborted.catch(() => {}); // Rejects only while raced.
    return await Promise.race([answer, expired, aborted]);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onAbort);
    controller.abort();
  }
}

function instanceHandle(
  handle: PidFileHandle,
  defaults: {port: number | undefined; socketPath: string | undefined},
): InstanceHandle {
  const servicePath = servicePathOf(handle.path);
  const recordService = (service?: {port?: number; socketPath?: string}): ServiceRecord => {
    if (handle.released) {
      throw new PidFileError(`Cannot record a service for released PID file ${show(handle.path)}`, {
        path: handle.path,
        code: 'EBADF',
      });
    }

    const {port = defaults.port, socketPath = defaults.socketPath} = checkOptions<{
      port: number;
      socketPath: string;
    }>(service, ['port', 'socketPath'], 'recordService');
    if (port !== undefined) {
      assertPort(port);
    }

    if (socketPath !== undefined) {
      assertSocketPath(socketPath, 'socketPath');
    }

    if (port === undefined && socketPath === undefined) {
      throw new ArgumentTypeError('Expected recordService to be given a port or a socketPath');
    }

    const record: ServiceRecord = {
      pid: handle.pid,
      startTime: handle.startTime,
      bootId: handle.bootId,
      port,
      socketPath,
    };
    writeFileAtomic(servicePath, serialiseServiceRecord(record), 'write service record');
    return record;
  };

  return {
    path: handle.path,
    pid: handle.pid,
    startTime: handle.startTime,
    bootId: handle.bootId,
    created: handle.created,
    tookOver: handle.tookOver,
    previous: handle.previous,
    get released() {
      return handle.released;
    },
    fd: handle.fd,
    handOver: (pid: number) => handle.handOver(pid),
    servicePath,
    recordService,
    release() {
      if (!handle.released) {
        const record = readRecordQuietly(servicePath);
        if (record && record.pid === handle.pid && record.startTime === handle.startTime) {
          unlinkIfSame(servicePath, record);
        }
      }

      handle.release();
    },
  };
}

function readRecordQuietly(file: string): RawRecord | undefined {
  try {
    return readRecord(file);
  } catch {
    return undefined;
  }
}

/**
Single-instance guard over `claimPidFile`: resolves `{role: 'owner', handle}` when this
process now owns the PID file, or `{role: 'existing', holder}` when a live instance holds
it. With `isAlive`, the holder is asked whether it works; one that does not answer `true`
within `aliveTimeout` is reported `hung`, and with `replaceHung` it is terminated and the
claim retried. A stale service record (naming another process than the holder, or left by a
dead owner) is removed.
*/
export async function claimInstance(options: ClaimInstanceOptions): Promise<ClaimInstanceResult> {
  if (typeof options !== 'object' || options === null) {
    throw new ArgumentTypeError(
      `Expected the options of claimInstance to be an object, got ${show(options)}`,
    );
  }

  const {
    pidFile,
    port,
    socketPath,
    data,
    isAlive,
    aliveTimeout = 2000,
    replaceHung = false,
    forceAfter = 1000,
    signal,
  } = checkOptions<ClaimInstanceOptions>(options, KEYS, 'claimInstance');
  if (signal !== undefined) {
    assertAbortSignal(signal, 'signal');
  }

  assertFilePath(pidFile, 'pidFile');
  if (port !== undefined) {
    assertPort(port);
  }

  if (socketPath !== undefined) {
    assertSocketPath(socketPath, 'socketPath');
  }

  if (isAlive !== undefined && typeof isAlive !== 'function') {
    throw new ArgumentTypeError(`Expected isAlive to be a function, got ${show(isAlive)}`);
  }

  assertDuration(aliveTimeout, 'aliveTimeout');
  assertBoolean(replaceHung, 'replaceHung');
  assertDuration(forceAfter, 'forceAfter');

  const started = msNow();
  let holder: InstanceHolder | undefined;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    signal?.throwIfAborted();
    let claimed: PidFileHandle | undefined;
    let held: PidFileHolder | undefined;
    try {
      claimed = claimPidFile(pidFile, data === undefined ? undefined : {data});
    } catch (error) {
      if (error instanceof AlreadyRunningError) {
        held = error.holder;
      } else if (
        error instanceof PidFileError &&
        error.code === 'EAGAIN' &&
        msNow() - started < aliveTimeout
      ) {
        // The holder is writing its file: it has just started.
        round--;
        await sleep(10, signal);
        signal?.throwIfAborted();
        continue;
      } else {
        throw error;
      }
    }

    if (claimed) {
      const servicePath = servicePathOf(claimed.path);
      // Any record here belongs to a previous owner (we hold the lock now): stale.
      const stale = readRecordQuietly(servicePath);
      if (stale) {
        unlinkIfSame(servicePath, stale);
      }

      return {role: 'owner', handle: instanceHandle(claimed, {port, socketPath})};
    }

    const current = held!;
    const servicePath = servicePathOf(path.resolve(pidFile));
    const service = holderService(servicePath, current);
    const base = {...current, service};
    if (isAlive === undefined) {
      return {role: 'existing', holder: {...base, hung: false}};
    }

    const reread = () => holderService(servicePath, current);
    if (await askAlive(isAlive, base, reread, aliveTimeout, signal)) {
      return {role: 'existing', holder: {...base, hung: false}};
    }

    holder = {...base, hung: true};
    if (
      !replaceHung ||
      current.pid === undefined ||
      current.startTime === undefined ||
      current.pid === process.pid ||
      !recordAlive(requireNative('claimInstance'), current)
    ) {
      return {role: 'existing', holder};
    }

    // Identity-checked before every signal; a stopped process dies of the SIGKILL.
    await terminate([{pid: current.pid, startTime: current.startTime}], {
      forceAfter,
      timeout: forceAfter + 5000,
      ...(signal === undefined ? {} : {signal}),
    });
  }

  return {role: 'existing', holder: holder!};
}
