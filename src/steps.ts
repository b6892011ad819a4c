/*
The waiting algorithms (wait for a free port, for a listener, for exits, terminate) are
written once, as generators that yield blocking steps. `runSync` performs each step on
the calling thread; `runAsync` awaits it and stops at once when an AbortSignal fires.
*/

/** One blocking operation, in a synchronous and an asynchronous form. */
export type Step<T> = {
  sync(): T;
  /** May use `signal` to release resources early; the driver rejects on abort itself. */
  async(signal: AbortSignal | undefined): Promise<T>;
};

export type Steps<R> = Generator<Step<unknown>, R, unknown>;

/** `const value = yield* perform(step)`: one step with its result type. */
export function* perform<T>(step: Step<T>): Generator<Step<unknown>, T, unknown> {
  return (yield step) as T;
}

export function runSync<R>(steps: Steps<R>): R {
  let next = steps.next();
  while (!next.done) {
    let value: unknown;
    try {
      value = next.value.sync();
    } catch (error) {
      next = steps.throw(error);
      continue;
    }

    next = steps.next(value);
  }

  return next.value;
}

async function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) {
    return promise;
  }

  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, {once: true});
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort!);
  }
}

/**
Rejects with `signal.reason` as soon as the signal aborts, whatever step is pending. The
code between two steps (sending a signal, say) runs only while the signal is not aborted:
an aborted signal rejects before the first step, and after an abort nothing more runs.
*/
export async function runAsync<R>(steps: Steps<R>, signal: AbortSignal | undefined): Promise<R> {
  signal?.throwIfAborted();
  let next = steps.next();
  try {
    while (!next.done) {
      signal?.throwIfAborted();
      let value: unknown;
      try {
        value = await raceAbort(next.value.async(signal), signal);
      } catch (error) {
        signal?.throwIfAborted();
        next = steps.throw(error);
        continue;
      }

      signal?.throwIfAborted();
      next = steps.next(value);
    }
  } finally {
    if (!next.done) {
      steps.return(undefined as R);
    }
  }

  return next.value;
}

/**
Sleeps `ms`; resolves early (it never rejects) when `signal` aborts: the caller checks the
signal. The one timer-based pause of the package.
*/
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) {
    return;
  }

  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };

    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, {once: true});
  });
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Sleeps `ms` (blocking the thread in the sync form). */
export function sleepStep(ms: number): Step<void> {
  return {
    sync() {
      Atomics.wait(sleeper, 0, 0, ms);
    },
    async: async (signal) => sleep(ms, signal),
  };
}

/** A step from a sync function and its async twin (given the driver's AbortSignal). */
export function step<T>(
  sync: () => T,
  async: (signal: AbortSignal | undefined) => Promise<T>,
): Step<T> {
  return {sync, async};
}
