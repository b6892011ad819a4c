// Restarts under a sequential request loop (scripts/load-client.mjs: one GET on a fresh
// connection to 127.0.0.1 every 2 ms): the figures that tell whether a swap of servers
// refused any connection. Used by the serve and the systemd socket-activation load tests.
// @ts-expect-error a plain ESM script without types
import {clientLoop} from '../scripts/load-client.mjs';
import {sleep} from './helpers.js';

export type LoopResult = {
  requests: number;
  ok: number;
  failed: number;
  failures: Array<{at: number; code: string}>;
  /** Requests answered by each pid. */
  pids: Map<number, number>;
  ms: number;
};

/**
Runs `restart` `times` times, `pauseMs` apart, while the loop runs (at most 10000 requests
and `maxMs`; it ends 200 ms after the last restart). Resolves with the loop's result and
what each restart took (as `restart` reports it, in ms), sorted.
*/
export async function restartsUnderLoad(
  port: number,
  {times, pauseMs, maxMs}: {times: number; pauseMs: number; maxMs: number},
  restart: () => Promise<number>,
): Promise<{result: LoopResult; ms: number[]}> {
  let restarting = true;
  const loop = clientLoop({
    port,
    intervalMs: 2,
    maxMs,
    maxRequests: 10_000,
    until: () => !restarting,
  }) as Promise<LoopResult>;
  const ms: number[] = [];
  try {
    for (let i = 0; i < times; i++) {
      await sleep(pauseMs);
      ms.push(await restart());
    }

    await sleep(200);
  } finally {
    restarting = false;
  }

  return {result: await loop, ms: ms.sort((a, b) => a - b)};
}
