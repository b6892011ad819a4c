// Against a real systemd user manager started for this file (scripts/systemd-user.sh).
// These tests never skip: without systemd they fail in beforeAll with the script's message.
import {existsSync, mkdirSync, rmSync, writeFileSync} from 'node:fs';
import {createServer, type Socket} from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, afterEach, beforeAll, describe, expect, test} from 'vitest';
import {checkPort, probePort, restartService, startService, stopService} from '../../src/index.js';
import {SystemdBus} from '../../src/services/dbus/systemd-bus.js';
import {
  parseShow,
  PROPERTIES,
  stateOf,
  TYPE_PROPERTIES,
  UNIT_PROPERTIES,
} from '../../src/services/systemd.js';
import type {ServiceResult} from '../../src/index.js';
import {startListener} from '../helpers.js';
import {testPort} from '../ports.js';
import {events, rejection, stepNames} from './helpers.js';
import {
  ensureDist,
  installUnit,
  type Manager,
  median,
  removeUnits,
  serverExec,
  showProps,
  startManager,
  systemctl,
} from './systemd-manager.js';

// systemd exists only on Linux; there these tests always run (CI installs systemd).
const linux = process.platform === 'linux';
let manager: Manager;
const units: string[] = [];
const scratch = path.join(tmpdir(), `portwarden-systemd-test-${process.pid}`);

function unit(name: string, sections: {unit?: string[]; service: string[]}): string {
  const full = `pw-test-${process.pid}-${name}.service`;
  installUnit(manager, full, sections);
  units.push(full);
  systemctl('daemon-reload');
  return full;
}

beforeAll(() => {
  if (!linux) {
    return;
  }

  ensureDist();
  rmSync(scratch, {recursive: true, force: true});
  manager = startManager(); // waits until it answers `is-system-running` with running/degraded
}, 60_000);

afterAll(() => {
  try {
    if (manager) {
      removeUnits(manager, units);
    }
  } finally {
    manager?.stop();
    rmSync(scratch, {recursive: true, force: true});
  }
}, 60_000);

afterEach(() => {
  // Leave no unit running between tests.
  for (const name of units) {
    try {
      systemctl('stop', '--', name);
      systemctl('reset-failed', '--', name);
    } catch {}
  }
});

describe.runIf(linux)('systemd: restart', () => {
  test('restartService waits for the new MainPID to listen; `systemctl restart` alone returns before', async () => {
    const port = testPort();
    const name = unit('slow', {
      service: [serverExec(['--port', port, '--drain-ms', 300, '--start-delay-ms', 1000])],
    });
    const spec = {manager: 'systemd', unit: name, port} as const;
    const started = await startService(spec);
    expect(started.pid).toBe(Number(showProps(name).MainPID));

    // The race: Type=simple completes the job at fork, long before listen().
    systemctl('restart', '--', name);
    const naive = await checkPort(port);
    const newPid = Number(showProps(name).MainPID);
    const heldByNew =
      naive.status === 'busy' &&
      naive.blockers.some(
        (b) => b.owner?.status === 'found' && b.owner.processes.some((p) => p.pid === newPid),
      );
    expect(heldByNew).toBe(false);

    const result = await restartService(spec);
    const main = Number(showProps(name).MainPID);
    expect(result.pid).toBe(main);
    expect(stepNames(result)).toEqual(['status', 'restart', 'listening']);
    const listening = result.steps.find((s) => s.step === 'listening')!;
    expect(listening.pid).toBe(main);
    expect(listening.ms).toBeGreaterThan(200); // it really waited for the slow listen()
    expect(result.summary).toMatch(
      new RegExp(
        `^restarted systemd user unit ${name} in \\d+ ms: pid \\d+ → ${main}, listening on ${port}$`,
      ),
    );
    const status = await checkPort(port);
    expect(status.status).toBe('busy');
  });

  test('a crash-looping unit is reported early, with the trail', async () => {
    const port = testPort();
    const name = unit('crashloop', {
      unit: ['StartLimitIntervalSec=60', 'StartLimitBurst=50'],
      service: [serverExec(['--port', port, '--crash']), 'Restart=always', 'RestartSec=200ms'],
    });
    const t0 = performance.now();
    const error = await rejection(
      restartService({manager: 'systemd', unit: name, port}, {timeout: 20_000}),
    );
    expect(performance.now() - t0).toBeLessThan(5000); // not the 20 s deadline
    expect(['CRASH_LOOP', 'UNIT_FAILED']).toContain(error.code);
    expect(error.message).toContain(name);
    expect(error.message).toContain('journalctl --user -u');
    expect(error.steps.at(-1)).toMatchObject({step: 'listening', failed: true});
    expect(error.steps.map((s) => s.step)).toEqual(['status', 'restart', 'listening']);
  });

  test('start-limit-hit is detected, never looped into; resetFailed resets once', async () => {
    const port = testPort();
    const flag = path.join(tmpdir(), `pw-crash-flag-${process.pid}`);
    writeFileSync(flag, '');
    const name = unit('startlimit', {
      unit: ['StartLimitIntervalSec=120', 'StartLimitBurst=3'],
      service: [
        serverExec(['--port', port, '--crash-if-exists', flag]),
        'Restart=always',
        'RestartSec=100ms',
      ],
    });
    const spec = {manager: 'systemd', unit: name, port} as const;
    try {
      // Crash until systemd gives up. Result is then 'exit-code' (the crashes) or
      // 'start-limit-hit' (a refused manual start), depending on the path.
      const failed = async () => {
        const deadline = Date.now() + 10_000;
        while (showProps(name).ActiveState !== 'failed' && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }

        expect(showProps(name).ActiveState).toBe('failed');
      };

      systemctl('start', '--', name);
      await failed();

      // Without resetFailed: reported; nothing gets to run.
      const refused = await rejection(restartService(spec));
      expect(refused.code).toBe('START_LIMIT');
      expect(refused.message).toContain(`systemctl --user reset-failed ${name}`);
      expect(refused.message).toContain('resetFailed: true');
      expect(refused.steps.map((s) => s.step)).not.toContain('listening');
      expect(refused.steps.filter((s) => s.step === 'restart').every((s) => s.failed)).toBe(true);
      expect(showProps(name).ActiveState).toBe('failed');

      // Still crashing: one reset-failed, then the crash is reported — no second reset.
      const again = await rejection(restartService(spec, {resetFailed: true}));
      expect(['CRASH_LOOP', 'UNIT_FAILED', 'START_LIMIT']).toContain(again.code);
      expect(again.steps.filter((s) => s.step === 'reset-failed')).toHaveLength(1);

      // Let it hit the limit again, fix the cause, and recover with one reset.
      await failed();
      rmSync(flag);
      const fixed = await restartService(spec, {resetFailed: true});
      expect(fixed.steps.filter((s) => s.step === 'reset-failed')).toHaveLength(1);
      expect(stepNames(fixed).slice(-2)).toEqual(['restart', 'listening']);
      expect(fixed.pid).toBe(Number(showProps(name).MainPID));
    } finally {
      rmSync(flag, {force: true});
    }
  });

  test('a unit that is active but never listens on the port times out with NOT_LISTENING', async () => {
    const [port, other] = [testPort(), testPort()];
    const name = unit('wrongport', {service: [serverExec(['--port', other])]});
    const error = await rejection(
      restartService({manager: 'systemd', unit: name, port}, {timeout: 1500}),
    );
    expect(error.code).toBe('NOT_LISTENING');
    expect(error.message).toContain(`did not listen on port ${port} within 1500 ms`);
  });

  test('without a port, restart waits for the unit to be active', async () => {
    const port = testPort();
    const name = unit('noport', {service: [serverExec(['--port', port])]});
    const result = await restartService({manager: 'systemd', unit: name});
    expect(stepNames(result)).toEqual(['status', 'restart', 'active']);
    expect(result.pid).toBe(Number(showProps(name).MainPID));
  });
});

describe.runIf(linux)('systemd: Type=notify and notifyReady()', () => {
  test('the job completes only after READY=1 from the listen callback', async () => {
    const port = testPort();
    const name = unit('notify', {
      service: [
        'Type=notify',
        'TimeoutStartSec=20s',
        serverExec(['--port', port, '--notify', '--start-delay-ms', 300]),
      ],
    });
    const spec = {manager: 'systemd', unit: name, port} as const;
    await startService(spec);
    const result = await restartService(spec);
    // systemctl restart returned after READY=1, which is sent once listening: first probe hits.
    const listening = result.steps.find((s) => s.step === 'listening')!;
    expect(listening.detail).toMatch(/after 1 probe\(s\)$/);
    expect(result.steps.find((s) => s.step === 'restart')!.ms).toBeGreaterThan(300);
    const props = showProps(name);
    expect(result.pid).toBe(Number(props.MainPID));
    expect(props.StatusText).toBe(`listening on ${port}`);
  });

  test('a notify unit that never sends READY=1 fails the start', async () => {
    const port = testPort();
    const name = unit('nonotify', {
      service: ['Type=notify', 'TimeoutStartSec=1s', serverExec(['--port', port])],
    });
    const error = await rejection(startService({manager: 'systemd', unit: name, port}));
    expect(error.code).toBe('UNIT_FAILED');
    expect(error.message).toMatch(/result timeout/);
    expect(error.steps.find((s) => s.step === 'start')).toMatchObject({failed: true});
  });
});

describe.runIf(linux)('systemd: stop', () => {
  test('stop proves the port free after a draining shutdown', async () => {
    const port = testPort();
    const name = unit('drainstop', {service: [serverExec(['--port', port, '--drain-ms', 300])]});
    const spec = {manager: 'systemd', unit: name, port} as const;
    const started = await startService(spec);
    const result = await stopService(spec);
    expect(stepNames(result)).toEqual(['status', 'stop', 'port-free']);
    expect(result.steps[1]!.ms).toBeGreaterThanOrEqual(250); // systemctl stop waited for the drain
    expect(result.summary).toContain(`pid ${started.pid} stopped, port ${port} free`);
    expect((await checkPort(port)).status).toBe('free');
  });

  test('a copy started by hand is reported as a stray, and terminated only with killStrays', async () => {
    const port = testPort();
    const name = unit('stray', {service: [serverExec(['--port', port])]});
    const spec = {manager: 'systemd', unit: name, port} as const;
    const stray = await startListener({port});

    const error = await rejection(stopService(spec));
    expect(error.code).toBe('STRAYS');
    expect(error.message).toContain(`pid ${stray.pid}`);
    expect(error.message).toContain("outside the unit's cgroup");
    expect(error.message).toContain('killStrays: true');
    expect(error.blockers?.length).toBeGreaterThan(0);
    expect((await checkPort(port)).status).toBe('busy'); // nothing was signalled

    // A start is refused while the stray holds the port.
    const refused = await rejection(startService(spec));
    expect(refused.code).toBe('PORT_BUSY');
    expect(refused.message).toContain(`pid ${stray.pid}`);
    expect(showProps(name).ActiveState).toBe('inactive');

    const result = await stopService(spec, {killStrays: true, forceAfter: 2000});
    const free = result.steps.find((s) => s.step === 'port-free')!;
    expect(free.detail).toContain(`SIGTERM sent to ${stray.pid}`);
    await stray.exited;
    expect((await checkPort(port)).status).toBe('free');
  });
});

describe.runIf(linux)('systemd: bad input and errors', () => {
  test('an unknown unit is NOT_FOUND, and a name with shell metacharacters stays one argv element', async () => {
    const marker = path.join(tmpdir(), `pw-injected-${process.pid}`);
    const error = await rejection(
      restartService({manager: 'systemd', unit: `x; touch ${marker}; echo $(id)`, port: 8080}),
    );
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain('daemon-reload');
    expect(existsSync(marker)).toBe(false);
  });

  test('systemctl missing from PATH is NOT_INSTALLED with a fix (when systemctl is the way)', async () => {
    const saved = process.env.PATH;
    process.env.PATH = path.join(tmpdir(), 'portwarden-no-such-dir');
    process.env.PORTWARDEN_DISABLE_SYSTEMD_BUS = '1';
    try {
      const error = await rejection(stopService({manager: 'systemd', unit: 'web.service'}));
      expect(error.code).toBe('NOT_INSTALLED');
      expect(error.message).toMatch(
        /Cannot run systemctl: not found on PATH \(spawn ENOENT\); install systemd/,
      );
    } finally {
      process.env.PATH = saved;
      delete process.env.PORTWARDEN_DISABLE_SYSTEMD_BUS;
    }
  });
});

describe.runIf(linux)("systemd: the manager's private socket", () => {
  /** Runs `fn` with XDG_RUNTIME_DIR at a directory whose systemd/private is served by `serve`. */
  async function withFakeManager<T>(
    serve: (socket: Socket) => void,
    fn: () => Promise<T>,
  ): Promise<T> {
    const dir = path.join(scratch, `fake-${Math.random().toString(36).slice(2)}`);
    mkdirSync(path.join(dir, 'systemd'), {recursive: true, mode: 0o700});
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      serve(socket);
    });
    await new Promise<void>((resolve) =>
      server.listen(path.join(dir, 'systemd', 'private'), resolve),
    );
    const saved = process.env.XDG_RUNTIME_DIR;
    process.env.XDG_RUNTIME_DIR = dir;
    try {
      return await fn();
    } finally {
      process.env.XDG_RUNTIME_DIR = saved;
      for (const socket of sockets) {
        socket.destroy();
      }

      await new Promise((resolve) => server.close(resolve));
    }
  }

  /** Answers the authentication line with `reply`, then does what `after` says. */
  const authAnswer = (reply: string, after: (socket: Socket) => void) => (socket: Socket) => {
    socket.once('data', () => {
      socket.write(reply);
      after(socket);
    });
  };

  test('restart, stop and start need no systemctl: they go through the socket', async () => {
    const port = testPort();
    const name = unit('bus', {service: [serverExec(['--port', port])]});
    const spec = {manager: 'systemd', unit: name, port} as const;
    const saved = process.env.PATH;
    process.env.PATH = path.join(tmpdir(), 'portwarden-no-such-dir');
    try {
      const started = await startService(spec);
      const restarted = await restartService(spec);
      expect(restarted.pid).not.toBe(started.pid);
      expect(restarted.steps[0]!.detail).toContain(
        `through the manager's private socket ${path.join(process.env.XDG_RUNTIME_DIR!, 'systemd', 'private')}`,
      );
      expect(restarted.summary).toContain(`pid ${started.pid} → ${restarted.pid}`);
      const stopped = await stopService(spec);
      expect(stopped.summary).toBe(
        `stopped systemd user unit ${name} in ${stopped.ms} ms: pid ${restarted.pid} stopped, port ${port} free`,
      );
    } finally {
      process.env.PATH = saved;
    }

    expect(showProps(name).ActiveState).toBe('inactive');
    expect((await checkPort(port)).status).toBe('free');
  });

  test('the socket reads the state `systemctl show` prints, property for property', async () => {
    const port = testPort();
    const name = unit('samestate', {
      service: [serverExec(['--port', port]), 'Restart=always', 'RestartSec=100ms'],
    });
    await startService({manager: 'systemd', unit: name, port});
    const bus = SystemdBus.open(path.join(process.env.XDG_RUNTIME_DIR!, 'systemd', 'private'));
    try {
      for (const target of [name, 'pw-no-such-unit.service', 'default.target']) {
        const props = await bus.properties(target, UNIT_PROPERTIES, TYPE_PROPERTIES);
        const shown = parseShow(
          systemctl('show', ...PROPERTIES.flatMap((p) => ['-p', p]), '--', target),
        );
        expect(stateOf(props)).toEqual(shown);
      }

      const running = stateOf(await bus.properties(name, UNIT_PROPERTIES, TYPE_PROPERTIES));
      expect(running).toMatchObject({loadState: 'loaded', activeState: 'active', nRestarts: 0});
      expect(running.mainPid).toBeGreaterThan(0);
      expect(running.controlGroup).toMatch(new RegExp(`/${name.replaceAll('.', '\\.')}$`));
    } finally {
      bus.close();
    }
  });

  test('PORTWARDEN_DISABLE_SYSTEMD_BUS=1 drives the unit with systemctl', async () => {
    const port = testPort();
    const name = unit('nobus', {service: [serverExec(['--port', port])]});
    process.env.PORTWARDEN_DISABLE_SYSTEMD_BUS = '1';
    try {
      const result = await restartService({manager: 'systemd', unit: name, port});
      expect(result.steps[0]!.detail).toMatch(
        /; through systemctl \(PORTWARDEN_DISABLE_SYSTEMD_BUS=1\)$/,
      );
      expect(result.pid).toBe(Number(showProps(name).MainPID));
    } finally {
      delete process.env.PORTWARDEN_DISABLE_SYSTEMD_BUS;
    }
  });

  test('a restart of an unknown unit is NOT_FOUND, and the trail shows the refused job', async () => {
    const error = await rejection(
      restartService({manager: 'systemd', unit: `pw-no-such-${process.pid}.service`, port: 9}),
    );
    expect(error.code).toBe('NOT_FOUND');
    // The restart went out with the read of the state (one write): the manager refused it.
    expect(error.steps.map((s) => s.step)).toEqual(['status', 'restart']);
    expect(error.steps[1]).toMatchObject({failed: true});
    expect(error.steps[1]!.detail).toMatch(/^org\.freedesktop\.systemd1\.NoSuchUnit: /);
  });

  test('a job that fails is reported with its result and the unit state', async () => {
    const name = unit('failjob', {service: ['Type=oneshot', 'ExecStart=/bin/false']});
    const error = await rejection(startService({manager: 'systemd', unit: name}));
    expect(error.code).toBe('UNIT_FAILED');
    expect(error.steps.find((s) => s.step === 'start')).toMatchObject({
      detail: 'job result failed',
      failed: true,
    });
  });

  test('a socket that refuses our authentication: systemctl is tried instead', async () => {
    const error = await withFakeManager(
      authAnswer('REJECTED EXTERNAL\r\n', (socket) => socket.end()),
      async () =>
        rejection(restartService({manager: 'systemd', unit: 'web.service'}, {timeout: 5000})),
    );
    // systemctl reaches the same refusing socket: its own failure is the answer.
    expect(error.code).toBe('COMMAND_FAILED');
    expect(error.message).toMatch(/^systemctl --user show web\.service failed/);
  });

  test('a socket that never answers authentication: timed out, not systemctl (it may be slow)', async () => {
    const error = await withFakeManager(
      () => {},
      async () =>
        rejection(restartService({manager: 'systemd', unit: 'web.service'}, {timeout: 300})),
    );
    expect(error.code).toBe('COMMAND_FAILED');
    expect(error.message).toBe(
      'Reading unit web.service from the systemd user manager failed (timed out)',
    );
  });

  test('a manager that accepts us, then closes: an error, not systemctl (a call may have run)', async () => {
    const error = await withFakeManager(
      authAnswer('OK 0123456789abcdef0123456789abcdef\r\n', (socket) => socket.end()),
      async () => rejection(restartService({manager: 'systemd', unit: 'web.service'})),
    );
    expect(error.code).toBe('COMMAND_FAILED');
    expect(error.message).toBe(
      'Reading unit web.service from the systemd user manager failed (the peer closed the connection)',
    );
  });

  test('a manager that accepts us and never answers: the call times out', async () => {
    const t0 = Date.now();
    const error = await withFakeManager(
      authAnswer('OK 0123456789abcdef0123456789abcdef\r\n', () => {}),
      async () =>
        rejection(restartService({manager: 'systemd', unit: 'web.service'}, {timeout: 300})),
    );
    expect(error.code).toBe('COMMAND_FAILED');
    expect(error.message).toBe(
      'Reading unit web.service from the systemd user manager failed (timed out)',
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  test('a manager that sends malformed bytes: an error naming the fault', async () => {
    const error = await withFakeManager(
      authAnswer('OK 0123456789abcdef0123456789abcdef\r\n', (socket) =>
        socket.write(Buffer.from('X'.repeat(32))),
      ),
      async () => rejection(restartService({manager: 'systemd', unit: 'web.service'})),
    );
    expect(error.code).toBe('COMMAND_FAILED');
    expect(error.message).toContain('Bad endianness byte 0x58');
  });
});

describe.runIf(linux)('systemd: reliability', () => {
  const RESTARTS = 100;

  async function hammer(
    label: string,
    port: number,
    name: string,
    eventsFile: string,
    restart: () => Promise<ServiceResult>,
  ) {
    const times: number[] = [];
    let dead = 0;
    const t0 = performance.now();
    for (let i = 0; i < RESTARTS; i++) {
      const result = await restart();
      times.push(result.ms);
      const props = showProps(name);
      const main = Number(props.MainPID);
      const report = await probePort(port, {states: 'listen'});
      const listensByMain = report.sockets.some(
        (b) =>
          b.state === 'LISTEN' &&
          b.owner?.status === 'found' &&
          b.owner.processes.some((p) => p.pid === main),
      );
      if (props.ActiveState !== 'active' || !listensByMain || result.pid !== main) {
        dead++;
      }
    }

    const total = performance.now() - t0;
    const inUse = events(eventsFile).filter((e) => e.event === 'EADDRINUSE').length;
    const figures = {
      spec: label,
      restarts: RESTARTS,
      eaddrinuse: inUse,
      dead,
      medianMs: Math.round(median(times)),
      maxMs: Math.round(Math.max(...times)),
      totalMs: Math.round(total),
    };
    console.log(`[reliability] ${JSON.stringify(figures)}`);
    return figures;
  }

  /** A unit running a draining server that logs its events, for `hammer(label, ...)`. */
  async function drainingUnit(label: string) {
    mkdirScratch();
    const port = testPort();
    const eventsFile = path.join(scratch, `${label}-spec.events`);
    const name = unit(`reliability-${label}`, {
      // 100 restarts in a row would hit the default start limit (5 starts in 10 s,
      // restarts included), which restartService reports as START_LIMIT.
      unit: ['StartLimitIntervalSec=0'],
      service: [serverExec(['--port', port, '--drain-ms', 300, '--events', eventsFile])],
    });
    return {port, eventsFile, name};
  }

  test(`${RESTARTS} restarts of a draining server through the user manager, systemd spec`, async () => {
    const {port, eventsFile, name} = await drainingUnit('systemd');
    const spec = {manager: 'systemd', unit: name, port} as const;
    await startService(spec);
    const figures = await hammer('systemd', port, name, eventsFile, async () =>
      restartService(spec),
    );
    expect(figures).toMatchObject({eaddrinuse: 0, dead: 0});
  }, 600_000);

  test(`${RESTARTS} restarts of a draining server through the user manager, command spec`, async () => {
    const {port, eventsFile, name} = await drainingUnit('command');
    const spec = {
      manager: 'command',
      stop: ['systemctl', '--user', 'stop', '--', name],
      start: ['systemctl', '--user', 'start', '--', name],
      port,
    } as const;
    systemctl('start', '--', name);
    const figures = await hammer('command', port, name, eventsFile, async () =>
      restartService(spec),
    );
    expect(figures).toMatchObject({eaddrinuse: 0, dead: 0});
  }, 600_000);
});

function mkdirScratch() {
  mkdirSync(scratch, {recursive: true});
}
