// serve() against real processes: test/fixtures/serve-app.mjs is an HTTP server that
// listens on listenTarget(port), answers with its pid and calls notifyReady().
import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {afterEach, describe, expect, test} from 'vitest';
import {
  checkPort,
  notifyReady,
  serve,
  ServeError,
  type ServeOptions,
  type ServeSupervisor,
} from '../../src/index.js';
import {startListener, tempDir, track} from '../helpers.js';
import {testPort} from '../ports.js';
import {app, get} from './helpers.js';
const open = new Set<ServeSupervisor>();

afterEach(async () => {
  await Promise.all([...open].map(async (s) => s.close()));
  open.clear();
});

type Started = {supervisor: ServeSupervisor; port: number; dir: string; spawned: number[]};

async function start(
  mode: string,
  options: Partial<ServeOptions> = {},
  port = testPort(),
): Promise<Started> {
  const dir = tempDir();
  const spawned: number[] = [];
  const supervisor = await serve({
    port,
    host: '127.0.0.1',
    command: [process.execPath, app, String(port), mode],
    pidFile: path.join(dir, 'serve.pid'),
    stdio: 'ignore',
    readyTimeout: 10_000,
    env: {SERVE_APP_EVENTS: path.join(dir, 'events')},
    ...options,
  });
  open.add(supervisor);
  supervisor.on('spawn', ({pid}: {pid: number}) => {
    track(pid);
    spawned.push(pid);
  });
  track(supervisor.pid);
  return {supervisor, port, dir, spawned};
}

function events(dir: string): Array<{event: string; pid: number}> {
  const file = path.join(dir, 'events');
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as {event: string; pid: number})
    : [];
}

describe('serve', () => {
  test('starts the command with the socket; a reload swaps processes and drains the old one', async () => {
    const {supervisor, port, dir} = await start('ok');
    const first = supervisor.pid!;
    expect(await get(port)).toBe(first);
    expect(supervisor.generation).toBe(1);

    const exited = new Promise((resolve) => supervisor.once('exit', resolve));
    const result = await supervisor.reload();
    expect(result).toMatchObject({generation: 2, previousPid: first});
    expect(result.pid).not.toBe(first);
    expect(supervisor.pid).toBe(result.pid);
    // reload() resolves once SIGTERM is sent; until the old process handles it (and closes
    // its copy of the listener), it may still accept a connection, which it then serves.
    const deadline = Date.now() + 5000;
    while (!events(dir).some((e) => e.pid === first && e.event === 'term')) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }

    expect(await get(port)).toBe(result.pid);
    expect(await exited).toMatchObject({pid: first, code: 0, reason: 'retired', generation: 1});
    const old = events(dir).filter((e) => e.pid === first);
    expect(old.map((e) => e.event)).toEqual(['listening', 'ready', 'term', 'drained']);
  });

  test('a new process that exits at once: the reload fails and the old one keeps serving', async () => {
    const modeFile = path.join(tempDir(), 'mode');
    writeFileSync(modeFile, 'ok');
    const {supervisor, port} = await start(`@${modeFile}`);
    const first = supervisor.pid!;
    writeFileSync(modeFile, 'exit');
    const failed = new Promise((resolve) => supervisor.once('reload-failed', resolve));
    await expect(supervisor.reload()).rejects.toMatchObject({
      name: 'ServeError',
      code: 'EXITED',
      exitCode: 3,
      message: expect.stringContaining(
        `exited with code 3 before it sent READY=1; pid ${first} keeps serving`,
      ),
    });
    expect(await failed).toBeInstanceOf(ServeError);
    expect(supervisor.pid).toBe(first);
    expect(await get(port)).toBe(first);
  });

  test('a new process that never sends READY=1: stopped after readyTimeout, the old one keeps serving', async () => {
    const modeFile = path.join(tempDir(), 'mode');
    writeFileSync(modeFile, 'ok');
    const {supervisor, port} = await start(`@${modeFile}`, {readyTimeout: 1500});
    const first = supervisor.pid!;
    writeFileSync(modeFile, 'never-ready');
    const exit = new Promise((resolve) => supervisor.once('exit', resolve));
    await expect(supervisor.reload()).rejects.toMatchObject({
      code: 'READY_TIMEOUT',
      message: expect.stringContaining('sent no READY=1 within 1500 ms; it is stopped'),
    });
    expect(await exit).toMatchObject({reason: 'failed'});
    expect(supervisor.pid).toBe(first);
    expect(await get(port)).toBe(first);
  });

  test('a new process that binds the port itself: EXITED, and the message says to use listenTarget', async () => {
    const modeFile = path.join(tempDir(), 'mode');
    writeFileSync(modeFile, 'ok');
    const {supervisor, port, dir} = await start(`@${modeFile}`);
    writeFileSync(modeFile, 'bind-itself');
    await expect(supervisor.reload()).rejects.toMatchObject({
      code: 'EXITED',
      message: expect.stringContaining(
        `If it failed with EADDRINUSE, it bound port ${port} itself: under portwarden serve a server must listen on the socket it is given, server.listen(listenTarget(${port}))`,
      ),
    });
    expect(
      events(dir).some((e) => e.event === 'error' && (e as {code?: string}).code === 'EADDRINUSE'),
    ).toBe(true);
    expect(await get(port)).toBe(supervisor.pid);
  });

  test('READY=1 from a descendant counts; from another process it is ignored', async () => {
    const {supervisor, port} = await start('grandchild');
    const answer = await get(port);
    expect(answer).not.toBe(supervisor.pid); // the grandchild serves

    const slow = await start('slow-ready:1500');
    const t0 = performance.now();
    const reloading = slow.supervisor.reload();
    // The test process (the supervisor's own) is not a process of the command.
    const saved = process.env.NOTIFY_SOCKET;
    process.env.NOTIFY_SOCKET = slow.supervisor.notifySocket;
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(notifyReady()).toBe(true);
    } finally {
      if (saved === undefined) {
        delete process.env.NOTIFY_SOCKET;
      } else {
        process.env.NOTIFY_SOCKET = saved;
      }
    }

    const result = await reloading;
    expect(performance.now() - t0).toBeGreaterThan(1400);
    expect(result.readyMs).toBeGreaterThan(1400);
  });

  test('reload requests while one runs: at most one in flight, none lost', async () => {
    const {supervisor, spawned} = await start('slow-ready:200');
    let running = 0;
    let most = 0;
    const spawnedAt: number[] = [];
    supervisor.on('spawn', () => {
      spawnedAt.push(performance.now());
      most = Math.max(most, ++running);
    });
    supervisor.on('ready', () => running--);
    supervisor.on('reload-failed', () => running--);
    const requests: Array<Promise<{pid: number}>> = [];
    let lastAt = 0;
    for (let i = 0; i < 10; i++) {
      lastAt = performance.now();
      requests.push(supervisor.reload());
      await new Promise((resolve) => setTimeout(resolve, 10));
    }

    const results = await Promise.all(requests);
    expect(most).toBe(1);
    expect(spawned.length).toBe(2); // the first request, then one for the other nine
    expect(spawnedAt[1]).toBeGreaterThan(lastAt); // started after the last request
    expect(results[0]!.pid).toBe(spawned[0]);
    for (const r of results.slice(1)) {
      expect(r.pid).toBe(spawned[1]);
    }

    expect(supervisor.pid).toBe(spawned[1]);
  });

  test('close() stops the command, frees the port and removes the PID file', async () => {
    const {supervisor, port, dir} = await start('ok');
    const pid = supervisor.pid!;
    const pidFile = supervisor.pidFile!;
    expect(existsSync(pidFile)).toBe(true);
    expect(existsSync(`${pidFile}.state.json`)).toBe(true);
    const exit = await supervisor.close();
    expect(exit).toEqual({pid, code: 0, signal: null});
    expect(await supervisor.close()).toEqual(exit);
    expect(existsSync(pidFile)).toBe(false);
    expect(existsSync(`${pidFile}.state.json`)).toBe(false);
    expect(existsSync(path.dirname(supervisor.notifySocket))).toBe(false);
    expect((await checkPort(port, {host: '127.0.0.1'})).status).toBe('free');
    expect(events(dir).map((e) => e.event)).toEqual(['listening', 'ready', 'term', 'drained']);
    await expect(supervisor.reload()).rejects.toMatchObject({code: 'CLOSED'});
  });

  test('a process that ignores SIGTERM is killed after forceAfter', async () => {
    const {supervisor} = await start('ignore-term', {forceAfter: 300});
    const pid = supervisor.pid!;
    expect(await supervisor.close()).toEqual({pid, code: null, signal: 'SIGKILL'});
  });

  test('the serving process exiting by itself ends the supervisor with its status', async () => {
    const {supervisor} = await start('ok');
    const pid = supervisor.pid!;
    process.kill(pid, 'SIGTERM');
    expect(await supervisor.closed).toEqual({pid, code: 0, signal: null});
  });

  test('a first start that fails rejects, and leaves no socket and no PID file', async () => {
    const port = testPort();
    const pidFile = path.join(tempDir(), 'serve.pid');
    await expect(
      serve({
        port,
        host: '127.0.0.1',
        command: [process.execPath, app, String(port), 'exit'],
        pidFile,
        stdio: 'ignore',
      }),
    ).rejects.toMatchObject({code: 'EXITED', exitCode: 3});
    expect(existsSync(pidFile)).toBe(false);
    expect((await checkPort(port, {host: '127.0.0.1'})).status).toBe('free');
    await expect(
      serve({
        port,
        command: ['/nonexistent/portwarden-test-command'],
        pidFile,
        stdio: 'ignore',
      }),
    ).rejects.toMatchObject({
      code: 'EXITED',
      exitCode: 127,
      message: expect.stringContaining('(127: the command was not found)'),
    });
  });

  test('one supervisor per PID file: a second one is ALREADY_RUNNING, naming the first', async () => {
    const {port, supervisor} = await start('ok');
    await expect(
      serve({
        port,
        command: [process.execPath, app, String(port)],
        pidFile: supervisor.pidFile!,
        stdio: 'ignore',
      }),
    ).rejects.toMatchObject({
      code: 'ALREADY_RUNNING',
      message: `portwarden serve already runs for port ${port} (pid ${process.pid}; PID file '${supervisor.pidFile}')`,
    });
  });

  test('a port held by another process: ADDRESS_IN_USE naming it', async () => {
    const listener = await startListener({host: '127.0.0.1'});
    await expect(
      serve({
        port: listener.port,
        host: '127.0.0.1',
        command: [process.execPath, app, String(listener.port)],
        pidFile: path.join(tempDir(), 'serve.pid'),
        stdio: 'ignore',
      }),
    ).rejects.toMatchObject({
      code: 'ADDRESS_IN_USE',
      message: expect.stringContaining(
        `Cannot listen on port ${listener.port}: it is held by tcp 127.0.0.1:${listener.port} LISTEN pid ${listener.pid} (node)`,
      ),
    });
  });

  test('validates its options', async () => {
    await expect(serve(undefined as never)).rejects.toThrow(
      'Expected the options of serve to be an object, got undefined',
    );
    await expect(serve({port: 0, command: ['x']})).rejects.toThrow(
      'Expected options.port to be an integer between 1 and 65535, got 0',
    );
    await expect(serve({port: 80, command: []})).rejects.toThrow(
      'Expected options.command to be a non-empty array of strings (the program and its arguments), got []',
    );
    await expect(serve({port: 80, command: 'node server.js' as never})).rejects.toThrow(
      "got 'node server.js'",
    );
    await expect(serve({port: 80, command: ['x'], readyTimeout: 0})).rejects.toThrow(
      'Expected options.readyTimeout to be a positive finite number of milliseconds, got 0',
    );
    await expect(serve({port: 80, command: ['x'], host: 'localhost'})).rejects.toThrow(
      "Expected options.host to be an IPv4 or IPv6 address such as '127.0.0.1' or '::', got 'localhost'",
    );
    await expect(serve({port: 80, command: ['x'], stdio: 'pipe' as never})).rejects.toThrow(
      "Expected options.stdio to be one of 'inherit', 'ignore', got 'pipe'",
    );
    await expect(serve({port: 80, command: ['x'], restart: true} as never)).rejects.toThrow(
      "Unknown option 'restart' for serve",
    );
  });
});
