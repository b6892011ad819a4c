// restartService on a systemd unit called in a fresh node process with nothing else alive
// (the rest of that layer is test/fresh-process.test.ts; this part needs the user manager,
// which the sanitizer run cannot start, so it lives with the other service tests).
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {call, resolved} from '../fresh.js';
import {testPort} from '../ports.js';
import {
  installUnit,
  type Manager,
  removeUnits,
  serverExec,
  startManager,
  systemctl,
} from './systemd-manager.js';

describe('systemd services settle in a fresh process (real user manager)', () => {
  let manager: Manager;
  const unit = 'pw-fresh.service';
  const crash = 'pw-fresh-crash.service';
  const port = testPort();

  beforeAll(() => {
    manager = startManager();
    installUnit(manager, unit, {service: [serverExec(['--port', port])]});
    installUnit(manager, crash, {
      service: [serverExec(['--crash']), 'Restart=no'],
    });
    systemctl('daemon-reload');
  }, 60_000);

  afterAll(() => {
    removeUnits(manager, [unit, crash]);
    manager.stop();
  });

  it('restartService resolves with the new pid listening; a crashing unit rejects', async () => {
    const env = {XDG_RUNTIME_DIR: manager.env.XDG_RUNTIME_DIR!};
    const s = {manager: 'systemd', unit, port};
    const first = resolved(await call('restartService', [s], env)) as {pid: number};
    const second = resolved(await call('restartService', [s], env)) as {pid: number};
    expect(second.pid).not.toBe(first.pid);
    const failed = await call(
      'restartService',
      [{manager: 'systemd', unit: crash, port: testPort()}, {timeout: 5000}],
      env,
    );
    expect(failed.settled).toBe('rejected');
    expect(['UNIT_FAILED', 'EXITED', 'CRASH_LOOP']).toContain((failed as {code: string}).code);
  });
});
