import {msNow} from '../clock.js';
import {checkPort} from '../probe.js';
import {freePort} from '../free-port.js';
import type {TerminateResult} from '../types.js';
import {waitForPortFree} from '../wait.js';
import type {PortStatus} from '../types.js';
import type {ResolvedOptions} from './spec.js';
import {listeners} from './owners.js';
import {describeHolders, type Trail} from './trail.js';

function who(r: TerminateResult): string {
  return `${r.pid}${r.command ? ` (${r.command})` : ''}`;
}

/**
After a stop: proves the port free, escalating on holders that remain.
- `'kill'` (the holders were already asked to stop, by a stop command): wait `forceAfter`
  ms, then SIGKILL whatever still holds the port.
- `'terminate'` (strays nobody signalled yet): wait briefly for holders that are exiting,
  then SIGTERM them and SIGKILL after `forceAfter`.
With `forceAfter: false` nothing is signalled: the step fails after `timeout` instead.
Records one `port-free` step; returns its detail.
*/
export async function proveFree(
  trail: Trail,
  port: number,
  o: ResolvedOptions,
  mode: 'kill' | 'terminate',
): Promise<string> {
  const t0 = msNow();
  const host = o.host === undefined ? {} : {host: o.host};
  const grace = o.forceAfter === false ? o.timeout : mode === 'kill' ? o.forceAfter : 1000;
  try {
    await waitForPortFree(port, {timeout: grace, ...host, signal: o.signal});
    trail.add('port-free', msNow() - t0);
    return `port ${port} free`;
  } catch (error) {
    const wrapped = trail.wrap(error);
    if (wrapped.code !== 'PORT_BUSY' || o.forceAfter === false) {
      const message =
        wrapped.code === 'PORT_BUSY'
          ? `Port ${port} is still held ${o.timeout} ms after the stop: ${describeHolders(wrapped.blockers ?? [])}; nothing was signalled (forceAfter: false)`
          : wrapped.message;
      throw wrapped.code === 'PORT_BUSY'
        ? trail.fail('port-free', t0, 'PORT_BUSY', message, {
            blockers: wrapped.blockers ?? [],
            cause: error,
          })
        : trail.failWith('port-free', t0, wrapped);
    }
  }

  const {forceAfter, signal} = o;
  try {
    const results =
      mode === 'kill'
        ? await freePort(port, {
            ...host,
            killSignal: 'SIGKILL',
            forceAfter: false,
            timeout: o.timeout,
            signal,
          })
        : await freePort(port, {...host, forceAfter, timeout: forceAfter + o.timeout, signal});
    const signalled = results.filter((r) => r.status === 'terminated');
    const detail =
      signalled.length === 0
        ? `the holders exited by themselves after ${grace} ms`
        : signalled
            .map((r) =>
              mode === 'kill'
                ? `SIGKILL sent to ${who(r)} after ${grace} ms`
                : r.forced
                  ? `SIGTERM then SIGKILL sent to ${who(r)} after ${forceAfter} ms`
                  : `SIGTERM sent to ${who(r)}`,
            )
            .join('; ');
    trail.add('port-free', msNow() - t0, {detail});
    return detail;
  } catch (error) {
    throw trail.failWith('port-free', t0, error);
  }
}

/** Before a start: records a `port-check` step; throws PORT_BUSY (naming the holders) unless free. */
export async function refuseIfBusy(
  trail: Trail,
  port: number,
  o: ResolvedOptions,
  what: string,
): Promise<void> {
  const t0 = msNow();
  let status: PortStatus;
  try {
    status = await checkPort(port, {
      ...(o.host === undefined ? {} : {host: o.host}),
      signal: o.signal,
    });
  } catch (error) {
    throw trail.failWith('port-check', t0, error);
  }

  if (status.status === 'free') {
    trail.add('port-check', msNow() - t0, {detail: `port ${port} free`});
    return;
  }

  let message: string;
  let blockers = status.status === 'busy' ? status.blockers : [];
  if (status.status === 'busy') {
    // checkPort does not look up owners; name them for the message.
    const owned = await listeners(port, o.host, [], o.signal).catch((error: unknown) => {
      if (o.signal?.aborted) {
        throw trail.failWith('port-check', t0, error);
      }

      return [];
    });
    blockers = owned.length > 0 ? owned : blockers;
    message = `Refusing to start ${what}: port ${port} is still held by ${describeHolders(blockers)}`;
  } else {
    message = `Refusing to start ${what}: cannot tell whether port ${port} is free (${status.reason})`;
  }

  throw trail.fail(
    'port-check',
    t0,
    status.status === 'busy' ? 'PORT_BUSY' : 'PROBE_UNAVAILABLE',
    message,
    status.status === 'busy' ? {blockers} : undefined,
  );
}
