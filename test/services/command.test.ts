// {manager: 'command'}: daemons driven by stop/start argv, with real processes.
import {spawn} from 'node:child_process';
import {existsSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, test} from 'vitest';
import {
  checkPort,
  restartService,
  startService,
  stopService,
  type CommandServiceSpec,
  type ServiceResult,
} from '../../src/index.js';
import {fixtures, sleep, startListener, tempDir, track} from '../helpers.js';
import {testPort} from '../ports.js';
import {events, listenerPid, rejection} from './helpers.js';

const server = path.join(fixtures, 'service-server.mjs');

/** `node -e` that sends SIGTERM to the pid in a PID file and returns at once, like `kill $(cat f)`. */
const killFromPidFile = (pidFile: string) => [
  process.execPath,
  '-e',
  `try { process.kill(Number(require('fs').readFileSync(${JSON.stringify(pidFile)}, 'utf8')), 'SIGTERM') } catch {}`,
];

/** A command service whose stop sends SIGTERM to the holder of its port (and whose start does nothing). */
const sigtermStop = (holder: {pid: number; port: number}) =>
  ({
    manager: 'command',
    stop: ['kill', '-TERM', String(holder.pid)],
    start: ['true'],
    port: holder.port,
  }) as const;

const tracked = <T extends ServiceResult>(r: T): T => {
  track(r.pid);
  return r;
};

async function drainingDaemon(extra: string[] = [], drainMs = 300) {
  const dir = tempDir();
  const port = testPort();
  const pidFile = path.join(dir, 'd.pid');
  const eventsFile = path.join(dir, 'events');
  const spec: CommandServiceSpec = {
    manager: 'command',
    stop: killFromPidFile(pidFile),
    start: [
      process.execPath,
      server,
      '--port',
      String(port),
      '--drain-ms',
      String(drainMs),
      '--pid-file',
      pidFile,
      '--events',
      eventsFile,
      ...extra,
    ],
    port,
  };
  return {dir, port, pidFile, eventsFile, spec};
}

describe('command services', () => {
  test('control: a naive stop-then-start against a draining daemon gets EADDRINUSE', async () => {
    const d = await drainingDaemon([], 2000);
    const first = tracked(await startService(d.spec));
    expect(first.pid).toBe(Number(readFileSync(d.pidFile, 'utf8')));
    // What a shell script does: kill, then start at once.
    spawn(d.spec.stop![0]!, d.spec.stop!.slice(1), {stdio: 'ignore'}).on('exit', () => {
      const child = spawn(d.spec.start![0]!, d.spec.start!.slice(1), {stdio: 'ignore'});
      track(child.pid);
    });
    await sleep(1500);
    expect(events(d.eventsFile).map((e) => e.event)).toContain('EADDRINUSE');
  });

  test('restart waits until the draining daemon released the port, then proves the new pid listens', async () => {
    const d = await drainingDaemon();
    const first = tracked(await startService(d.spec));
    let previous = first.pid;
    for (let i = 0; i < 3; i++) {
      const result = tracked(await restartService(d.spec));
      expect(result.steps.map((s) => s.step)).toEqual([
        'status',
        'stop',
        'port-free',
        'port-check',
        'start',
        'listening',
      ]);
      expect(result.steps[2]!.ms).toBeGreaterThan(200); // it waited for the drain
      expect(result.pid).not.toBe(previous);
      expect(result.pid).toBe(await listenerPid(d.port));
      expect(result.summary).toMatch(
        new RegExp(
          `^restarted service on port ${d.port} in \\d+ ms: pid ${previous} → ${result.pid}, listening on ${d.port}$`,
        ),
      );
      previous = result.pid;
    }

    expect(events(d.eventsFile).filter((e) => e.event === 'EADDRINUSE')).toEqual([]);
    const stopped = await stopService(d.spec);
    expect(stopped.summary).toContain(`pid ${previous} stopped, port ${d.port} free`);
    expect((await checkPort(d.port)).status).toBe('free');
  });

  test('a start command that daemonizes (exits 0 at once) is followed to the daemon', async () => {
    const d = await drainingDaemon(['--daemonize']);
    const result = tracked(await startService(d.spec));
    const daemon = Number(readFileSync(d.pidFile, 'utf8'));
    expect(result.pid).toBe(daemon);
    const listening = result.steps.find((s) => s.step === 'listening')!;
    expect(listening.detail).toContain('(the start command daemonized)');
    expect(result.steps.find((s) => s.step === 'start')!.pid).not.toBe(daemon);
  });

  test('with pidFile, the listener must be the pid the file names', async () => {
    const d = await drainingDaemon(['--daemonize', '--start-delay-ms', '200']);
    const result = tracked(await startService({...d.spec, pidFile: d.pidFile}));
    expect(result.pid).toBe(Number(readFileSync(d.pidFile, 'utf8')));
    expect(result.steps.find((s) => s.step === 'listening')!.detail).toContain(
      `(pid file names ${result.pid})`,
    );
    const restarted = tracked(await restartService({...d.spec, pidFile: d.pidFile}));
    expect(restarted.pid).toBe(Number(readFileSync(d.pidFile, 'utf8')));
    expect(restarted.pid).not.toBe(result.pid);
  });

  test('start refuses to run while the port is busy', async () => {
    const dir = tempDir();
    const holder = await startListener();
    const marker = path.join(dir, 'started');
    const error = await rejection(
      startService({
        manager: 'command',
        stop: ['true'],
        start: [
          process.execPath,
          '-e',
          `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`,
        ],
        port: holder.port,
      }),
    );
    expect(error.code).toBe('PORT_BUSY');
    expect(error.message).toContain(`Refusing to start the service on port ${holder.port}`);
    expect(error.message).toContain(`pid ${holder.pid}`);
    expect(error.steps.map((s) => s.step)).toEqual(['port-check']);
    await sleep(200);
    expect(existsSync(marker)).toBe(false);
  });

  test('a holder that ignores SIGTERM gets SIGKILL after forceAfter', async () => {
    const holder = await startListener({onTerm: 'ignore'});
    const result = await stopService(sigtermStop(holder), {forceAfter: 500});
    const free = result.steps.find((s) => s.step === 'port-free')!;
    expect(free.detail).toMatch(
      new RegExp(`^SIGKILL sent to ${holder.pid} \\(.*\\) after 500 ms$`),
    );
    expect(free.ms).toBeGreaterThanOrEqual(450);
    await holder.exited;
    expect((await checkPort(holder.port)).status).toBe('free');
  });

  test('forceAfter: false never signals: the stop fails with PORT_BUSY instead', async () => {
    const holder = await startListener({onTerm: 'ignore'});
    const error = await rejection(
      stopService(sigtermStop(holder), {forceAfter: false, timeout: 800}),
    );
    expect(error.code).toBe('PORT_BUSY');
    expect(error.message).toContain('nothing was signalled (forceAfter: false)');
    expect(error.blockers?.length).toBeGreaterThan(0);
    expect((await checkPort(holder.port)).status).toBe('busy');
  });

  test('an AbortSignal ends the wait with ABORTED and the trail so far', async () => {
    const holder = await startListener({onTerm: 'ignore'});
    const t0 = performance.now();
    const error = await rejection(
      stopService(sigtermStop(holder), {forceAfter: 10_000, signal: AbortSignal.timeout(300)}),
    );
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(error.code).toBe('ABORTED');
    expect(error.steps.map((s) => s.step)).toEqual(['status', 'stop', 'port-free']);
    expect(error.steps.at(-1)).toMatchObject({failed: true});
  });

  test('an abort settles a restart at once, not after forceAfter + timeout', async () => {
    // The stop command does nothing; the holder ignores SIGTERM: without the abort this
    // restart would wait forceAfter (20 s), then SIGKILL, then start.
    const holder = await startListener({onTerm: 'ignore'});
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('deploy cancelled')), 300);
    const t0 = performance.now();
    const error = await rejection(
      restartService(
        {manager: 'command', stop: ['true'], start: ['true'], port: holder.port},
        {forceAfter: 20_000, signal: controller.signal},
      ),
    );
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(error.code).toBe('ABORTED');
    expect(error.message).toBe(`restart of service on port ${holder.port} was aborted`);
    expect(error.cause).toMatchObject({message: 'deploy cancelled'});
    expect(error.steps.at(-1)).toMatchObject({step: 'port-free', failed: true});
    expect((await checkPort(holder.port)).status).toBe('busy'); // nothing was killed
  });

  test('a start command that fails is EXITED with its code; a missing one is NOT_INSTALLED', async () => {
    const port = testPort();
    const failed = await rejection(
      startService({manager: 'command', stop: ['true'], start: ['sh', '-c', 'exit 3'], port}),
    );
    expect(failed.code).toBe('EXITED');
    expect(failed.message).toContain('exited with code 3');

    const missing = await rejection(
      startService({
        manager: 'command',
        stop: ['true'],
        start: ['portwarden-no-such-daemon'],
        port,
      }),
    );
    expect(missing.code).toBe('NOT_INSTALLED');
    expect(missing.message).toContain('portwarden-no-such-daemon');

    const noStop = await rejection(
      stopService({manager: 'command', stop: ['portwarden-no-such-stop'], start: ['true'], port}),
    );
    expect(noStop.code).toBe('NOT_INSTALLED');
    expect(noStop.message).toMatch(/Cannot run portwarden-no-such-stop: not found on PATH/);
  });

  test('bad input: typed errors that say which and how to fix it', async () => {
    await expect(restartService({manager: 'upstart'} as never)).rejects.toThrow(
      "Expected spec.manager to be one of 'systemd', 'launchd', 'command', got 'upstart'",
    );
    await expect(restartService(null as never)).rejects.toThrow(TypeError);
    await expect(
      restartService({manager: 'command', stop: [], start: ['a'], port: 80}),
    ).rejects.toThrow(/Expected spec.stop to be a non-empty array of strings .* got \[\]/);
    await expect(
      restartService({manager: 'command', stop: ['a'], start: 'myd start', port: 80} as never),
    ).rejects.toThrow(
      /Expected spec.start to be a non-empty array of strings \(an argv, run without a shell\)/,
    );
    await expect(
      restartService({manager: 'command', stop: ['a'], start: ['b']} as never),
    ).rejects.toThrow('Expected spec.port to be an integer between 1 and 65535, got undefined');
    await expect(
      restartService({manager: 'command', stop: ['a'], start: ['b'], port: 70_000}),
    ).rejects.toThrow(RangeError);
    await expect(restartService({manager: 'systemd', port: 80} as never)).rejects.toThrow(
      "A systemd spec needs spec.unit, the unit name such as 'web.service'; got none",
    );
    await expect(
      restartService({manager: 'systemd', unit: 'a.service', scope: 'global'} as never),
    ).rejects.toThrow("Expected spec.scope to be one of 'user', 'system', got 'global'");
    await expect(
      restartService({manager: 'systemd', unit: 'a.service', label: 'x'} as never),
    ).rejects.toThrow(
      "Unknown option 'label' for a systemd spec; expected one of manager, unit, scope, port",
    );
    await expect(
      restartService({manager: 'systemd', unit: 'a.service'}, {forceAfter: -1}),
    ).rejects.toThrow(RangeError);
    await expect(
      restartService({manager: 'systemd', unit: 'a.service'}, {retries: 3} as never),
    ).rejects.toThrow("Unknown option 'retries' for restartService");
  });
});
