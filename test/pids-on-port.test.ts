// pidsOnPort: the holders of a port as a list of pids, never an incomplete one.
import {describe, expect, it} from 'vitest';
import {pidsOnPort, pidsOnPortSync, ProbeUnavailableError} from '../src/index.js';
import {startListener} from './helpers.js';
import {testPort} from './ports.js';

describe('pidsOnPort', () => {
  it('lists every holder once, sorted: a listener and the child that inherited it', async () => {
    const l = await startListener({host: '127.0.0.1', forkHolder: true});
    const expected = [l.pid, l.holderPid!].sort((a, b) => a - b);
    expect(await pidsOnPort(l.port)).toEqual(expected);
    expect(pidsOnPortSync(l.port)).toEqual(expected);
    // host: a listener on 127.0.0.1 does not hold ::1.
    expect(await pidsOnPort(l.port, {host: '::1'})).toEqual([]);
  });

  it('answers [] only for a port proven to have no holder', async () => {
    expect(await pidsOnPort(testPort())).toEqual([]);
  });

  it('throws instead of answering [] when the probe cannot answer', async () => {
    const port = testPort();
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(pidsOnPort(port, {backend: 'lsof'})).rejects.toBeInstanceOf(
        ProbeUnavailableError,
      );
    } finally {
      process.env.PATH = saved;
    }
  });

  it('throws when a holder cannot be told (another user, probed as uid 65534)', async () => {
    const l = await startListener({host: '127.0.0.1'});
    const {runAsNobody, distEntry} = await import('./helpers.js');
    const result = (await runAsNobody(`
      const pw = await import(${JSON.stringify(distEntry)});
      try { console.log(JSON.stringify({pids: await pw.pidsOnPort(${l.port})})); }
      catch (error) { console.log(JSON.stringify({name: error.name, code: error.code})); }
    `)) as {name?: string; code?: string; pids?: number[]};
    expect(result).toEqual({name: 'ProbeUnavailableError', code: 'EACCES'});
  });

  it('validates its options', async () => {
    await expect(pidsOnPort(80, {host: 'localhost'})).rejects.toThrow(/host/);
    expect(() => pidsOnPortSync(80, {signal: AbortSignal.abort()} as never)).toThrow(/signal/);
    expect(() => pidsOnPortSync(0)).toThrow(RangeError);
  });
});
