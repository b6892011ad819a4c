// Socket activation under a real systemd user manager (scripts/systemd-user.sh): a .socket
// unit holds the port, its Type=notify service takes the listener with listenTarget()
// (test/fixtures/serve-app.mjs). restartService proves the new main process holds the
// socket; the manager's listener is never a stray; and under a request loop 20 restarts
// refuse nothing (issue "Prove it under load", case b).
import {writeFileSync} from 'node:fs';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, test} from 'vitest';
import {restartService, startService, stopService} from '../../src/index.js';
import {fixtures} from '../helpers.js';
import {restartsUnderLoad} from '../load.js';
import {testPort} from '../ports.js';
import {ensureDist, type Manager, removeUnits, startManager, systemctl} from './systemd-manager.js';

let manager: Manager;
const installed: string[] = [];

beforeAll(() => {
  ensureDist();
  manager = startManager();
}, 60_000);

afterAll(() => {
  try {
    if (manager) {
      removeUnits(manager, installed);
    }
  } finally {
    manager?.stop();
  }
}, 60_000);

/** `<name>.socket` listening on 127.0.0.1:port and its Type=notify `<name>.service`. */
function socketUnit(name: string, port: number): string {
  const base = `pw-sock-${process.pid}-${name}`;
  const quote = (a: string) => `"${a.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  writeFileSync(
    path.join(manager.unitDir, `${base}.socket`),
    ['[Socket]', `ListenStream=127.0.0.1:${port}`, ''].join('\n'),
  );
  writeFileSync(
    path.join(manager.unitDir, `${base}.service`),
    [
      '[Unit]',
      'StartLimitIntervalSec=0', // 20 restarts in a few seconds are what this test does
      '[Service]',
      'Type=notify',
      `ExecStart=${[process.execPath, path.join(fixtures, 'serve-app.mjs'), String(port), 'ok'].map(quote).join(' ')}`,
      '',
    ].join('\n'),
  );
  installed.push(`${base}.service`, `${base}.socket`);
  systemctl('daemon-reload');
  systemctl('start', `${base}.socket`);
  return `${base}.service`;
}

describe.runIf(process.platform === 'linux')('systemd socket activation', () => {
  test('start, restart and stop with the port held by the socket unit', async () => {
    const port = testPort();
    const unit = socketUnit('basic', port);
    const spec = {manager: 'systemd', unit, port} as const;

    // The manager's listener is not a foreign holder that refuses the start.
    const started = await startService(spec, {timeout: 20_000});
    expect(started.steps.find((s) => s.step === 'port-check')?.detail).toBe(
      `port ${port} listening by its socket unit (socket activation)`,
    );
    expect(started.pid).toBeGreaterThan(0);

    // The new MainPID is proven to hold the listening socket.
    const restarted = await restartService(spec, {timeout: 20_000});
    expect(restarted.pid).not.toBe(started.pid);
    expect(restarted.listening).toMatchObject({state: 'LISTEN', localPort: port});
    const owners = restarted.listening?.owner;
    expect(owners?.status === 'found' && owners.processes.map((p) => p.pid)).toContain(
      restarted.pid,
    );

    // After stop the socket unit keeps the port: reported, not a stray (and never killed).
    const stopped = await stopService(spec, {timeout: 20_000, killStrays: true});
    expect(stopped.steps.find((s) => s.step === 'port-free')?.detail).toMatch(
      new RegExp(
        `^port ${port} stays listening by ${unit.replace('.service', '.socket')} \\(the service manager, pid \\d+\\): socket activation$`,
      ),
    );
    expect(systemctl('is-active', unit.replace('.service', '.socket')).trim()).toBe('active');
  }, 60_000);

  test('20 restarts under a request loop: no failed request, every main process served', async () => {
    const port = testPort();
    const unit = socketUnit('load', port);
    const spec = {manager: 'systemd', unit, port} as const;
    await startService(spec, {timeout: 20_000});
    const {result, ms} = await restartsUnderLoad(
      port,
      {times: 20, pauseMs: 300, maxMs: 30_000},
      async () => (await restartService(spec, {timeout: 20_000})).ms,
    );
    console.log(
      `systemd socket-activation load run: ${JSON.stringify({
        requests: result.requests,
        failed: result.failed,
        distinctPids: result.pids.size,
        restarts: ms.length,
        restartMsMedian: Math.round(ms[ms.length >> 1]!),
        restartMsMax: Math.round(ms.at(-1)!),
      })}`,
    );
    expect(result.failures).toEqual([]);
    expect(result.pids.size).toBeGreaterThanOrEqual(20);
    await stopService(spec, {timeout: 20_000});
  }, 90_000);
});
