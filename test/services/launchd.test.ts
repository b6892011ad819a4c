// launchd services. By default against the launchctl simulator (test/fixtures/launchctl-sim),
// which reproduces the asynchronous bootout and the bootstrap errors 5 and 37. With
// PORTWARDEN_REAL_LAUNCHCTL=1 on macOS the same tests (minus the simulator-only ones)
// drive the real launchctl in the domain PORTWARDEN_LAUNCHD_DOMAIN (default gui/<uid>).
import {execFileSync} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, afterEach, beforeAll, describe, expect, test} from 'vitest';
import {
  checkPort,
  restartService,
  startService,
  stopService,
  type LaunchdServiceSpec,
} from '../../src/index.js';
import {fixtures, startListener, track} from '../helpers.js';
import {restartsUnderLoad} from '../load.js';
import {testPort} from '../ports.js';
import {events, listenerPid, listenerPids, rejection, stepNames} from './helpers.js';
import {median} from './systemd-manager.js';

const real = process.env.PORTWARDEN_REAL_LAUNCHCTL === '1';
const simulated = !real;
const domain = process.env.PORTWARDEN_LAUNCHD_DOMAIN ?? `gui/${process.getuid?.() ?? 0}`;
const simDir = path.join(fixtures, 'launchctl-sim');

let work: string;
let savedPath: string | undefined;
const labels = new Set<string>();
let counter = 0;

function launchctl(...args: string[]): {status: number; stdout: string; stderr: string} {
  try {
    const stdout = execFileSync('launchctl', args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 20_000,
    });
    return {status: 0, stdout, stderr: ''};
  } catch (error) {
    const e = error as {status: number; stdout: string; stderr: string};
    return {status: e.status, stdout: e.stdout, stderr: e.stderr};
  }
}

function xml(value: unknown): string {
  if (typeof value === 'boolean') {
    return value ? '<true/>' : '<false/>';
  }

  if (typeof value === 'number') {
    return `<integer>${value}</integer>`;
  }

  if (Array.isArray(value)) {
    return `<array>${value.map(xml).join('')}</array>`;
  }

  if (typeof value === 'object' && value !== null) {
    return `<dict>${Object.entries(value)
      .map(([k, v]) => `<key>${k}</key>${xml(v)}`)
      .join('')}</dict>`;
  }

  return `<string>${String(value).replaceAll('&', '&amp;').replaceAll('<', '&lt;')}</string>`;
}

type Job = {spec: LaunchdServiceSpec; label: string; plist: string; events: string; port: number};

/** Writes a plist for the service-server fixture. */
async function job(
  args: Array<string | number>,
  keys: Record<string, unknown> = {},
  port?: number,
): Promise<Job> {
  const p = port ?? testPort();
  const {label, plist, events} = newLabel();
  writePlist(plist, label, [...args.map(String), '--port', String(p), '--events', events], keys);
  return {spec: {manager: 'launchd', label, plist, domain, port: p}, label, plist, events, port: p};
}

/** A fresh label (removed after each test), with its plist and events paths. */
function newLabel(): {label: string; plist: string; events: string} {
  const label = `dev.portwarden.test.${process.pid}.${++counter}`;
  labels.add(label);
  return {
    label,
    plist: path.join(work, `${label}.plist`),
    events: path.join(work, `${label}.events`),
  };
}

function writePlist(
  plist: string,
  label: string,
  args: string[],
  keys: Record<string, unknown>,
): void {
  const dict = {
    Label: label,
    ProgramArguments: [process.execPath, path.join(fixtures, 'service-server.mjs'), ...args],
    RunAtLoad: true,
    ThrottleInterval: 1,
    ...keys,
  };
  writeFileSync(
    plist,
    `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0">${xml(dict)}</plist>\n`,
  );
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'pw-launchd-'));
  if (simulated) {
    savedPath = process.env.PATH;
    process.env.PATH = `${simDir}${path.delimiter}${process.env.PATH ?? ''}`;
    process.env.LAUNCHCTL_SIM_DIR = path.join(work, 'sim');
    process.env.LAUNCHCTL_SIM_NODE = process.execPath;
    mkdirSync(process.env.LAUNCHCTL_SIM_DIR, {recursive: true});
  }
});

afterEach(async () => {
  for (const label of labels) {
    launchctl('bootout', `${domain}/${label}`);
    launchctl('enable', `${domain}/${label}`);
  }

  if (simulated) {
    launchctl('__sim-kill-all');
  } else {
    // Real launchd: wait until every label is gone.
    for (const label of labels) {
      const deadline = Date.now() + 15_000;
      while (launchctl('print', `${domain}/${label}`).status !== 113 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  labels.clear();
}, 60_000);

afterAll(() => {
  if (simulated) {
    process.env.PATH = savedPath;
    delete process.env.LAUNCHCTL_SIM_DIR;
    delete process.env.LAUNCHCTL_SIM_NODE;
  }

  rmSync(work, {recursive: true, force: true});
});

describe.runIf(simulated)('launchctl simulator', () => {
  test('a naive restart (bootout, then bootstrap at once) fails with exit 5', async () => {
    const j = await job(['--drain-ms', 300]);
    expect(launchctl('bootstrap', domain, j.plist).status).toBe(0);
    const deadline = Date.now() + 5000;
    while ((await listenerPid(j.port)) === undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }

    expect(launchctl('bootout', `${domain}/${j.label}`).status).toBe(0);
    const again = launchctl('bootstrap', domain, j.plist);
    expect(again.status).toBe(5);
    expect(again.stderr).toContain('Bootstrap failed: 5: Input/output error');
    // And the label is still registered right after bootout: print answers 0, not 113.
    expect(launchctl('print', `${domain}/${j.label}`).status).toBe(0);
  });

  test('print answers 113 for an unknown label; concurrent bootstraps get 37', async () => {
    expect(launchctl('print', `${domain}/dev.portwarden.none`).status).toBe(113);
    expect(launchctl('bootout', `${domain}/dev.portwarden.none`).status).toBe(3);
    const j = await job([]);
    const {spawn} = await import('node:child_process');
    // Each bootstrap holds the label for 1.5 s: the two overlap even on a loaded machine.
    const env = {...process.env, LAUNCHCTL_SIM_BOOTSTRAP_MS: '1500'};
    const codes = await Promise.all(
      [0, 1].map(
        async () =>
          new Promise<number | null>((resolve) => {
            spawn('launchctl', ['bootstrap', domain, j.plist], {stdio: 'ignore', env}).on(
              'exit',
              resolve,
            );
          }),
      ),
    );
    expect(codes.sort()).toEqual([0, 37]);
  });
});

describe('launchd: start, stop, restart', () => {
  test('start waits for the job to listen; stop proves the port free and unloads', async () => {
    const j = await job(['--drain-ms', 300, '--start-delay-ms', 200]);
    const started = await startService(j.spec);
    expect(stepNames(started)).toEqual([
      'status',
      'port-check',
      'enable',
      'bootstrap',
      'running',
      'listening',
    ]);
    expect(started.pid).toBe(await listenerPid(j.port));
    expect(readFileSync(`${j.plist}.portwarden-sha256`, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);

    const stopped = await stopService(j.spec);
    expect(stepNames(stopped)).toEqual(['status', 'bootout', 'unloaded', 'old-exit', 'port-free']);
    if (simulated) {
      // bootout returned at once; the job drained ~300 ms more while still registered.
      expect(stopped.steps.find((s) => s.step === 'unloaded')!.ms).toBeGreaterThan(250);
    }

    expect((await checkPort(j.port)).status).toBe('free');
    expect(launchctl('print', `${domain}/${j.label}`).status).toBe(113);
    expect(existsSync(`${j.plist}.portwarden-sha256`)).toBe(false);
    expect(stopped.summary).toContain(`pid ${started.pid} stopped, port ${j.port} free`);
  });

  test('restart with an unchanged plist uses kickstart -k and waits for the new pid', async () => {
    const j = await job(['--drain-ms', 300]);
    const started = await startService(j.spec);
    const result = await restartService(j.spec);
    expect(stepNames(result)).toEqual(['status', 'kickstart', 'running', 'listening']);
    expect(result.pid).not.toBe(started.pid);
    expect(result.pid).toBe(await listenerPid(j.port));
    expect(events(j.events).filter((e) => e.event === 'EADDRINUSE')).toEqual([]);
  });

  test('restart with a changed plist boots out, waits, and bootstraps again (retrying 5)', async () => {
    // The simulator keeps refusing bootstrap for 3 s after print already answers 113.
    process.env.LAUNCHCTL_SIM_GHOST_MS = '3000';
    const j = await job(['--drain-ms', 300]);
    const started = await startService(j.spec).finally(() => {
      delete process.env.LAUNCHCTL_SIM_GHOST_MS;
    });
    // Change the plist: kickstart would keep running the old definition.
    writePlist(
      j.plist,
      j.label,
      ['--port', String(j.port), '--events', j.events, '--drain-ms', '200'],
      {},
    );
    const result = await restartService(j.spec);
    expect(stepNames(result)).toEqual([
      'status',
      'bootout',
      'unloaded',
      'old-exit',
      'port-free',
      'enable',
      'bootstrap',
      'running',
      'listening',
    ]);
    expect(result.pid).not.toBe(started.pid);
    expect(result.pid).toBe(await listenerPid(j.port));
    if (simulated) {
      // print said 113 before bootstrap stopped failing with 5: the retry was needed.
      expect(result.steps.find((s) => s.step === 'bootstrap')!.retries).toBeGreaterThanOrEqual(1);
    }
  });

  test.runIf(simulated)(
    '50 consecutive restarts through bootout/bootstrap: no EADDRINUSE, never left dead',
    async () => {
      const j = await job(['--drain-ms', 300]);
      await startService(j.spec);
      const times: number[] = [];
      let dead = 0;
      let retried = 0;
      const t0 = performance.now();
      for (let i = 0; i < 50; i++) {
        // A changed plist each time forces the bootout/bootstrap path.
        writePlist(
          j.plist,
          j.label,
          ['--port', String(j.port), '--events', j.events, '--drain-ms', '300', `--iteration=${i}`],
          {},
        );
        const result = await restartService(j.spec);
        times.push(result.ms);
        retried += result.steps.find((s) => s.step === 'bootstrap')?.retries ?? 0;
        if (result.pid === undefined || result.pid !== (await listenerPid(j.port))) {
          dead++;
        }
      }

      const figures = {
        restarts: 50,
        eaddrinuse: events(j.events).filter((e) => e.event === 'EADDRINUSE').length,
        dead,
        bootstrapRetries: retried,
        medianMs: Math.round(median(times)),
        totalMs: Math.round(performance.now() - t0),
      };
      console.log(`[launchd-sim reliability] ${JSON.stringify(figures)}`);
      expect(figures).toMatchObject({eaddrinuse: 0, dead: 0});
    },
    300_000,
  );

  test('stopping a KeepAlive job disables it first, so launchd cannot respawn it; start enables', async () => {
    const j = await job([], {KeepAlive: true});
    await startService(j.spec);
    const stopped = await stopService(j.spec);
    expect(stepNames(stopped).slice(0, 3)).toEqual(['status', 'disable', 'bootout']);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await checkPort(j.port)).status).toBe('free');
    // Disabled: a plain bootstrap is refused until enable.
    expect(launchctl('bootstrap', domain, j.plist).status).not.toBe(0);
    const started = await startService(j.spec);
    expect(stepNames(started)).toContain('enable');
    expect(started.pid).toBe(await listenerPid(j.port));
  });

  test('a process that escaped the job process group is escalated on', async () => {
    const j = await job(['--stray-child']);
    await startService(j.spec);
    const deadline = Date.now() + 5000;
    let strayPid: number | undefined;
    while (strayPid === undefined && Date.now() < deadline) {
      const e = events(j.events).find((e) => e.event === 'stray') as {stray?: number} | undefined;
      strayPid = e?.stray;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }

    expect(strayPid).toBeGreaterThan(0);
    track(strayPid);
    const stopped = await stopService(j.spec, {forceAfter: 1000});
    const free = stopped.steps.find((s) => s.step === 'port-free')!;
    expect(free.detail).toContain(`SIGTERM sent to ${strayPid}`);
    expect((await checkPort(j.port)).status).toBe('free');
  });

  test('an abort while a stray holder ignores SIGTERM settles at once, not after forceAfter', async () => {
    // Not loaded, but a stray process holds the job's port and ignores SIGTERM: the stop
    // waits 1 s for it, then SIGTERMs it and would wait forceAfter (20 s) for SIGKILL.
    const stray = await startListener({onTerm: 'ignore'});
    const j = await job([], {}, stray.port);
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('cancelled')), 1500);
    const t0 = performance.now();
    const error = await rejection(
      stopService(j.spec, {forceAfter: 20_000, signal: controller.signal}),
    );
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    expect(elapsed).toBeLessThan(2500);
    expect(error.code).toBe('ABORTED');
    expect(error.steps.at(-1)).toMatchObject({step: 'port-free', failed: true});
    expect((await checkPort(stray.port)).status).toBe('busy'); // it got SIGTERM, no SIGKILL
  });

  test('concurrent starts of one job both succeed (exit 37 or 5 is not fatal when it got loaded)', async () => {
    const j = await job([]);
    const [a, b] = await Promise.all([startService(j.spec), startService(j.spec)]);
    expect(a.pid).toBe(b.pid);
    expect(a.pid).toBe(await listenerPid(j.port));
  });

  test('a job that crashes before listening is reported with its exit', async () => {
    const j = await job(['--crash'], {KeepAlive: true});
    const error = await rejection(startService(j.spec, {timeout: 10_000}));
    expect(['EXITED', 'CRASH_LOOP']).toContain(error.code);
    expect(error.message).toContain('exited before listening');
    // 'running' when it exited before a print showed its pid, 'listening' after.
    expect(['running', 'listening']).toContain(error.steps.at(-1)?.step);
    expect(error.steps.at(-1)).toMatchObject({failed: true});
  });

  test('a job that exits before any print shows its pid is reported at once, not at the timeout', async () => {
    const j = await job([], {ProgramArguments: ['/bin/sh', '-c', 'exit 3']});
    const started = Date.now();
    const error = await rejection(startService(j.spec, {timeout: 20_000}));
    expect(error.code).toBe('EXITED');
    expect(error.message).toContain('exited before listening');
    expect(error.message).toContain('last exit code 3');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test('start refuses to bootstrap while a stranger holds the port', async () => {
    const stranger = await startListener();
    const j = await job([], {}, stranger.port);
    const error = await rejection(startService(j.spec));
    expect(error.code).toBe('PORT_BUSY');
    expect(error.message).toContain(`pid ${stranger.pid}`);
    expect(error.steps.map((s) => s.step)).toEqual(['status', 'port-check']);
    expect(launchctl('print', `${domain}/${j.label}`).status).toBe(113);
  });
});

describe('launchd: a job with Sockets (socket activation)', () => {
  /** A plist for serve-app.mjs (an HTTP server on listenTarget(port)) with a Sockets entry. */
  function socketJob(program: string[], port = testPort()): Job {
    const {label, plist, events} = newLabel();
    writePlist(plist, label, [], {
      ProgramArguments: program,
      EnvironmentVariables: {SERVE_APP_EVENTS: events},
      Sockets: {Listeners: {SockServiceName: String(port), SockNodeName: '127.0.0.1'}},
    });
    return {spec: {manager: 'launchd', label, plist, domain, port}, label, plist, events, port};
  }

  const RESTARTS = 10;

  test(`launchd holds the listener across kickstart -k: ${RESTARTS} restarts under a request loop refuse nothing`, async () => {
    const port = testPort();
    const j = socketJob(
      [process.execPath, path.join(fixtures, 'serve-app.mjs'), String(port)],
      port,
    );
    const started = await startService(j.spec);
    // The job holds launchd's listener (a second owner of the same socket), not its own.
    const owners = await listenerPids(port);
    expect(owners).toContain(started.pid);
    expect(owners.length).toBe(2);

    const pids = new Set([started.pid]);
    const {result} = await restartsUnderLoad(
      port,
      {times: RESTARTS, pauseMs: 150, maxMs: 60_000},
      async () => {
        const restarted = await restartService(j.spec);
        expect(stepNames(restarted)).toEqual(['status', 'kickstart', 'running', 'listening']);
        expect(pids.has(restarted.pid!)).toBe(false);
        pids.add(restarted.pid!);
        return restarted.ms;
      },
    );
    console.log(
      `launchd Sockets load run: ${JSON.stringify({requests: result.requests, failed: result.failed, distinctPids: result.pids.size})}`,
    );
    expect(result.failures).toEqual([]);
    expect(result.requests).toBeGreaterThan(200);
    expect(result.pids.size).toBe(RESTARTS + 1);

    // bootout closes launchd's listener: stop proves the port free.
    const stopped = await stopService(j.spec);
    expect(stopped.summary).toContain(`port ${port} free`);
    expect((await checkPort(port)).status).toBe('free');
  }, 120_000);

  test("a process that never takes launchd's socket is NOT_LISTENING, and launchd's listener is no blocker", async () => {
    const port = testPort();
    // Closes the socket it was given (on macOS: never calls launch_activate_socket).
    const j = socketJob(
      [process.execPath, '-e', "require('fs').closeSync(3); setInterval(() => {}, 1000)"],
      port,
    );
    const error = await rejection(startService(j.spec, {timeout: 1500}));
    expect(error.code).toBe('NOT_LISTENING');
    expect(error.blockers).toEqual([]);
    expect(error.message).toContain(
      `launchd (pid ${(await listenerPids(port))[0]}) holds it for the job's Sockets entry 'Listeners', which the process never took (launch_activate_socket('Listeners'), or listenTarget(${port}))`,
    );
  });
});

describe('launchd: bad input', () => {
  test('missing label, missing plist, relative plist, bad domain', async () => {
    await expect(restartService({manager: 'launchd', plist: '/x.plist'} as never)).rejects.toThrow(
      "A launchd spec needs spec.label, the job's Label such as 'com.example.web'; got none",
    );
    await expect(restartService({manager: 'launchd', label: 'a'} as never)).rejects.toThrow(
      'A launchd spec needs spec.plist',
    );
    await expect(
      restartService({manager: 'launchd', label: 'a', plist: 'a.plist'}),
    ).rejects.toThrow(
      /Expected spec.plist to be an absolute path .* got 'a.plist'; use path.resolve\(\)/,
    );
    await expect(
      restartService({manager: 'launchd', label: 'a', plist: '/a.plist', domain: 'gui'}),
    ).rejects.toThrow("Expected spec.domain to be a launchd domain such as 'gui/501'");
  });

  test('a plist that does not exist, or names another label, is NOT_FOUND', async () => {
    const missing = await rejection(
      startService({manager: 'launchd', label: 'a.b', plist: path.join(work, 'none.plist')}),
    );
    expect(missing.code).toBe('NOT_FOUND');
    expect(missing.message).toContain('does not exist');
    const j = await job([]);
    const other = await rejection(startService({...j.spec, label: 'dev.portwarden.other'}));
    expect(other.code).toBe('NOT_FOUND');
    expect(other.message).toContain(
      `has Label '${j.label}', not spec.label 'dev.portwarden.other'`,
    );
  });

  test('launchctl missing from PATH is NOT_INSTALLED with a fix', async () => {
    const j = await job([]);
    const saved = process.env.PATH;
    process.env.PATH = path.join(work, 'no-such-dir');
    try {
      const error = await rejection(startService(j.spec));
      expect(error.code).toBe('NOT_INSTALLED');
      expect(error.message).toContain('Cannot run launchctl: not found on PATH (spawn ENOENT)');
      expect(error.message).toContain('launchd exists only on macOS');
    } finally {
      process.env.PATH = saved;
    }
  });
});
