import {describe, expect, it} from 'vitest';
import {checkPortSync, probePortSync} from '../src/index.js';
import {startListener} from './helpers.js';

describe('probePortSync', () => {
  it('finds a dual-stack listener with its pid', async () => {
    const l = await startListener({host: '::'});
    const report = probePortSync(l.port);
    expect(report.backend).toBe('native');
    const listen = report.sockets.filter((s) => s.state === 'LISTEN');
    expect(listen).toHaveLength(1);
    expect(listen[0]).toMatchObject({
      family: 6,
      localAddress: '::',
      v6only: false,
      localPort: l.port,
    });
    expect(listen[0]!.owner).toMatchObject({status: 'found', processes: [{pid: l.pid}]});
    expect(checkPortSync(l.port, {host: '127.0.0.1'}).status).toBe('busy');
  });
});
