import {msNow} from '../clock.js';
import {
  describeSocket,
  NotListeningError,
  PortBusyError,
  ProbeUnavailableError,
  ServiceError,
  type ServiceErrorCode,
} from '../errors.js';
import type {ServiceManager, ServiceStep, SocketEntry} from '../types.js';
import type {ServiceAction, ServiceResult} from './types.js';

type StepExtra = Omit<ServiceStep, 'step' | 'ms'>;

const PAST: Record<ServiceAction, string> = {
  restart: 'restarted',
  stop: 'stopped',
  start: 'started',
};

/** The steps of one service call, with timings; turns failures into ServiceErrors with the trail. */
export class Trail {
  readonly steps: ServiceStep[] = [];
  private readonly started = msNow();

  constructor(
    readonly manager: ServiceManager,
    readonly action: ServiceAction,
    /** `systemd unit web.service`, `launchd job gui/501/com.x`, `command on port 8080` */
    readonly what: string,
    readonly signal: AbortSignal | undefined,
  ) {}

  /** Runs one step; records it (failed: true when it throws) and rethrows as a ServiceError. */
  async run<T>(
    name: string,
    fn: () => Promise<T>,
    describe?: (value: T) => StepExtra | undefined,
  ): Promise<T> {
    this.signal?.throwIfAborted();
    const t0 = msNow();
    try {
      const value = await fn();
      this.add(name, msNow() - t0, describe?.(value));
      return value;
    } catch (error) {
      throw this.failWith(name, t0, error);
    }
  }

  add(name: string, ms: number, extra?: StepExtra): void {
    this.steps.push({step: name, ms: Math.round(ms), ...extra});
  }

  /** Records the failed step `name` (begun at `t0`) and returns the ServiceError to throw. */
  fail(
    name: string,
    t0: number,
    code: ServiceErrorCode,
    message: string,
    details?: {blockers?: readonly SocketEntry[]; cause?: unknown},
    extra?: Pick<StepExtra, 'pid' | 'retries'>,
  ): ServiceError {
    this.add(name, msNow() - t0, {...extra, detail: message, failed: true});
    return this.error(code, message, details);
  }

  /** `wrap(error)`, recorded as the failed step `name` (begun at `t0`). */
  failWith(name: string, t0: number, error: unknown): ServiceError {
    const wrapped = this.wrap(error);
    this.add(name, msNow() - t0, {detail: wrapped.message, failed: true});
    return wrapped;
  }

  /** A ServiceError carrying this trail (the same array: later steps show up too). */
  error(
    code: ServiceErrorCode,
    message: string,
    details?: {blockers?: readonly SocketEntry[]; cause?: unknown},
  ): ServiceError {
    return new ServiceError(message, {
      code,
      manager: this.manager,
      steps: this.steps,
      ...details,
    });
  }

  /** Any error → a ServiceError with this trail (ServiceErrors pass through). */
  wrap(error: unknown): ServiceError {
    if (error instanceof ServiceError) {
      return error;
    }

    if (this.signal?.aborted) {
      return this.error('ABORTED', `${this.action} of ${this.what} was aborted`, {
        cause: this.signal.reason,
      });
    }

    if (error instanceof PortBusyError) {
      return this.error('PORT_BUSY', error.message, {blockers: error.blockers, cause: error});
    }

    if (error instanceof NotListeningError) {
      return this.error(error.reason === 'exited' ? 'EXITED' : 'NOT_LISTENING', error.message, {
        blockers: error.seen,
        cause: error,
      });
    }

    if (error instanceof ProbeUnavailableError) {
      return this.error('PROBE_UNAVAILABLE', error.message, {cause: error});
    }

    if (error instanceof AggregateError) {
      return this.error('PORT_BUSY', error.message, {cause: error}); // terminate() failures
    }

    throw error; // a bug, or bad input: not a service failure
  }

  get elapsed(): number {
    return Math.round(msNow() - this.started);
  }

  result(extra: {pid?: number; listening?: SocketEntry; outcome?: string}): ServiceResult {
    const ms = this.elapsed;
    const summary = `${PAST[this.action]} ${this.what} in ${ms} ms${extra.outcome ? `: ${extra.outcome}` : ''}`;
    return {
      manager: this.manager,
      action: this.action,
      steps: this.steps,
      summary,
      ms,
      ...(extra.pid === undefined ? {} : {pid: extra.pid}),
      ...(extra.listening === undefined ? {} : {listening: extra.listening}),
    };
  }
}

/** `pid 4711 (node server.js)` for each holder of the sockets. */
export function describeHolders(entries: readonly SocketEntry[]): string {
  return entries.map(describeSocket).join('; ');
}
