// Zero refused connections under load (issue "Prove it under load", case a): a sequential
// HTTP client on 127.0.0.1 (a fresh connection every ~2 ms) against `portwarden serve` while
// it is reloaded 20 times by SIGHUP. Bounded: at most 10000 requests and 45 s (it ends when the reloads are done, ~11 s).
import {describe, expect, test} from 'vitest';
import {restartsUnderLoad} from '../load.js';
import {serveApp, stopServe} from './helpers.js';

const RELOADS = 20;

describe('portwarden serve under load', () => {
  test(`${RELOADS} reloads during a request loop: no failed request, every process served`, async () => {
    const s = serveApp({flags: ['--host', '127.0.0.1']});
    await s.next((e) => e.event === 'ready');
    const {result, ms} = await restartsUnderLoad(
      s.port,
      {times: RELOADS, pauseMs: 350, maxMs: 45_000},
      async () => {
        const from = s.events.length;
        process.kill(s.pid, 'SIGHUP');
        const ready = await s.next((e) => e.event === 'ready' || e.event === 'reload-failed', from);
        expect(ready.event).toBe('ready');
        return ready.ms as number;
      },
    );
    const figures = {
      requests: result.requests,
      failed: result.failed,
      distinctPids: result.pids.size,
      reloads: ms.length,
      reloadMsMedian: ms[Math.floor(ms.length / 2)],
      reloadMsMax: ms.at(-1),
      seconds: Math.round(result.ms / 100) / 10,
    };
    console.log(`serve load run: ${JSON.stringify(figures)}`);
    expect(result.failures).toEqual([]);
    expect(result.requests).toBeGreaterThan(500);
    expect(result.pids.size).toBeGreaterThanOrEqual(RELOADS + 1);
    expect(s.events.filter((e) => e.event === 'exit' && e.reason !== 'retired')).toEqual([]);
    await stopServe(s);
  }, 90_000);
});
