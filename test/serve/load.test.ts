// Zero refused connections under load (issue "Prove it under load", case a): a sequential
// HTTP client on 127.0.0.1 (a fresh connection every ~2 ms) against `portwarden serve` while
// it is reloaded 20 times by SIGHUP. Bounded: at most 10000 requests and 45 s (it ends when the reloads are done, ~11 s).
import path from 'node:path';
import {describe, expect, test} from 'vitest';
// @ts-expect-error a plain ESM script without types
import {clientLoop} from '../../scripts/load-client.mjs';
import {sleep, tempDir} from '../helpers.js';
import {testPort} from '../ports.js';
import {app, startServe} from './cli-helpers.js';

type LoopResult = {
  requests: number;
  ok: number;
  failed: number;
  failures: Array<{at: number; code: string}>;
  pids: Map<number, number>;
  ms: number;
};

const RELOADS = 20;

describe('portwarden serve under load', () => {
  test(`${RELOADS} reloads during a request loop: no failed request, every process served`, async () => {
    const port = testPort();
    const s = startServe([
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--pid-file',
      path.join(tempDir(), 'serve.pid'),
      '--',
      process.execPath,
      app,
      String(port),
      'ok',
    ]);
    await s.next((e) => e.event === 'ready');

    let reloading = true;
    const loop = clientLoop({
      port,
      intervalMs: 2,
      maxMs: 45_000,
      maxRequests: 10_000,
      until: () => !reloading,
    }) as Promise<LoopResult>;
    const latencies: number[] = [];
    const served = new Set<number>();
    try {
      for (let i = 0; i < RELOADS; i++) {
        await sleep(350);
        const from = s.events.length;
        process.kill(s.pid, 'SIGHUP');
        const ready = await s.next((e) => e.event === 'ready' || e.event === 'reload-failed', from);
        expect(ready.event).toBe('ready');
        latencies.push(ready.ms as number);
        served.add(ready.pid!);
      }

      await sleep(200);
    } finally {
      reloading = false;
    }

    const result = await loop;
    latencies.sort((a, b) => a - b);
    const figures = {
      requests: result.requests,
      failed: result.failed,
      distinctPids: result.pids.size,
      reloads: latencies.length,
      reloadMsMedian: latencies[Math.floor(latencies.length / 2)],
      reloadMsMax: latencies.at(-1),
      seconds: Math.round(result.ms / 100) / 10,
    };
    console.log(`serve load run: ${JSON.stringify(figures)}`);
    expect(result.failures).toEqual([]);
    expect(result.requests).toBeGreaterThan(500);
    expect(result.pids.size).toBeGreaterThanOrEqual(RELOADS + 1);
    expect(s.events.filter((e) => e.event === 'exit' && e.reason !== 'retired')).toEqual([]);
    process.kill(s.pid, 'SIGTERM');
    expect((await s.exited).code).toBe(0);
  }, 90_000);
});
