// `portwarden serve` as a real process: SIGHUP and --reload, TERM forwarding and exit
// status, one instance per port, the supervisor SIGKILLed.
import {spawn} from 'node:child_process';
import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {execa} from 'execa';
import {describe, expect, test} from 'vitest';
import {checkPort} from '../../src/index.js';
import {distBin, fixtures, runCli, sleep, tempDir, track} from '../helpers.js';
import {testPort} from '../ports.js';
import {appCommand, get, reloadCli, serveApp, startServe, stopServe} from './helpers.js';

describe('portwarden serve', () => {
  test('SIGHUP and --reload swap processes; SIGTERM stops the command and exits with its status', async () => {
    const s = serveApp({flags: ['--host', '127.0.0.1']});
    const {port, pidFile} = s;
    const first = await s.next((e) => e.event === 'ready');
    expect(first).toMatchObject({port, host: '127.0.0.1', supervisor: s.pid, pidFile});
    expect(await get(port)).toBe(first.pid);

    const from = s.events.length;
    process.kill(s.pid, 'SIGHUP');
    const second = await s.next((e) => e.event === 'ready', from);
    expect(second).toMatchObject({generation: 2, previousPid: first.pid});
    expect(await get(port)).toBe(second.pid);
    await s.next((e) => e.event === 'exit' && e.pid === first.pid && e.reason === 'retired');

    const reload = await reloadCli(port, pidFile);
    expect(reload.exitCode).toBe(0);
    const third = await s.next((e) => e.event === 'ready' && e.generation === 3);
    expect(reload.stdout).toMatch(
      new RegExp(`^port ${port}: pid ${second.pid} replaced by pid ${third.pid} in [\\d.]+ ms$`),
    );
    expect(await get(port)).toBe(third.pid);

    process.kill(s.pid, 'SIGTERM');
    expect(await s.exited).toEqual({code: 0, signal: null});
    expect(s.events.at(-1)).toMatchObject({event: 'close', pid: third.pid, code: 0});
    expect(existsSync(pidFile)).toBe(false);
    expect((await checkPort(port, {host: '127.0.0.1'})).status).toBe('free');
  });

  test('a stalled reader of its output does not stall it: SIGTERM still stops the command', async () => {
    const port = testPort();
    const events = path.join(tempDir(), 'events');
    // serve --json writes an event line per step: with nobody reading, the first one cannot be
    // written. The supervisor must still handle the SIGTERM and stop the command.
    const r = await execa(
      'python3',
      [
        path.join(fixtures, 'stalled-stdout.py'),
        '2',
        '3',
        process.execPath,
        distBin,
        'serve',
        '--json',
        '--port',
        String(port),
        ...appCommand(port),
      ],
      {env: {XDG_RUNTIME_DIR: tempDir(), SERVE_APP_EVENTS: events}, reject: false},
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const app = readFileSync(events, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as {event: string; pid: number});
    const {pid} = app[0]!;
    track(pid); // killed after the test, should it have outlived the supervisor
    expect(app.map((e) => e.event)).toEqual(['listening', 'ready', 'term', 'drained']);
    expect(() => process.kill(pid, 0)).toThrow(); // the command is gone
  });

  test('the default PID file is per port under $XDG_RUNTIME_DIR/portwarden; one instance per port', async () => {
    const port = testPort();
    const runtime = tempDir();
    const env = {XDG_RUNTIME_DIR: runtime};
    const s = startServe(['--port', String(port), ...appCommand(port)], env);
    const ready = await s.next((e) => e.event === 'ready');
    const pidFile = path.join(runtime, 'portwarden', `serve-${port}.pid`);
    expect(ready.pidFile).toBe(pidFile);

    const second = await runCli(['serve', '--port', String(port), ...appCommand(port)], env);
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toBe(
      `portwarden serve: portwarden serve already runs for port ${port} (pid ${s.pid}; PID file '${pidFile}')`,
    );

    const reload = await runCli(['serve', '--reload', '--port', String(port), '--json'], env);
    expect(reload.exitCode).toBe(0);
    expect(JSON.parse(reload.stdout)).toMatchObject({
      port,
      supervisor: s.pid,
      previousPid: ready.pid,
    });

    process.kill(s.pid, 'SIGINT');
    expect((await s.exited).code).toBe(0);
  });

  test('a failed reload exits 1 naming the failure, and the old process keeps serving', async () => {
    const modeFile = path.join(tempDir(), 'mode');
    writeFileSync(modeFile, 'ok');
    const s = serveApp({mode: `@${modeFile}`, flags: ['--ready-timeout', '1s']});
    const {port, pidFile} = s;
    const ready = await s.next((e) => e.event === 'ready');
    writeFileSync(modeFile, 'never-ready');
    const reload = await reloadCli(port, pidFile);
    expect(reload.exitCode).toBe(1);
    expect(reload.stderr).toMatch(
      /^portwarden serve: The new process \(pid \d+\) sent no READY=1 within 1000 ms; it is stopped and pid \d+ keeps serving/,
    );
    expect(await s.next((e) => e.event === 'reload-failed')).toMatchObject({code: 'READY_TIMEOUT'});
    expect(await get(port)).toBe(ready.pid);

    writeFileSync(modeFile, 'exit');
    process.kill(s.pid, 'SIGHUP');
    expect(await s.next((e) => e.event === 'reload-failed' && e.code === 'EXITED')).toMatchObject({
      exitCode: 3,
    });
    expect(await get(port)).toBe(ready.pid);
    await stopServe(s);
  });

  test('SIGHUP storm: 10 in 100 ms, at most one reload in flight, the last one not lost', async () => {
    const s = serveApp({mode: 'slow-ready:150'});
    await s.next((e) => e.event === 'ready');
    const from = s.events.length;
    let lastKillAt = 0;
    for (let i = 0; i < 10; i++) {
      lastKillAt = Date.now();
      process.kill(s.pid, 'SIGHUP');
      await sleep(10);
    }

    // Wait until it is quiet: a reload ended and none started for a second.
    for (;;) {
      await sleep(1000);
      const tail = s.events.slice(from);
      const started = tail.filter((e) => e.event === 'reload').length;
      const ended = tail.filter((e) => e.event === 'ready' || e.event === 'reload-failed').length;
      if (started > 0 && started === ended) {
        break;
      }
    }

    const tail = s.events.slice(from);
    let running = 0;
    for (const e of tail) {
      if (e.event === 'reload') {
        running++;
        expect(running).toBe(1);
      } else if (e.event === 'ready' || e.event === 'reload-failed') {
        running--;
      }
    }

    const spawns = tail.filter((e) => e.event === 'spawn');
    expect(spawns.length).toBeGreaterThanOrEqual(1);
    expect(spawns.length).toBeLessThanOrEqual(2);
    expect(spawns.at(-1)!.at).toBeGreaterThanOrEqual(lastKillAt);
    expect(tail.filter((e) => e.event === 'reload-failed')).toEqual([]);
    expect(await get(s.port)).toBe(spawns.at(-1)!.pid);
    await stopServe(s);
  });

  test('exit status: the serving process killed by a signal ends serve with 128 + its number', async () => {
    const s = serveApp();
    const ready = await s.next((e) => e.event === 'ready');
    process.kill(ready.pid!, 'SIGKILL');
    expect(await s.exited).toEqual({code: 137, signal: null});
    expect(s.events.find((e) => e.event === 'exit')).toMatchObject({
      pid: ready.pid,
      signal: 'SIGKILL',
      reason: 'unexpected',
    });
  });

  test('the supervisor SIGKILLed: its process keeps the listener; a new serve refuses and says who holds it', async () => {
    const s = serveApp();
    const {port, pidFile} = s;
    const ready = await s.next((e) => e.event === 'ready');
    process.kill(s.pid, 'SIGKILL');
    await s.exited;
    for (let i = 0; i < 5; i++) {
      expect(await get(port)).toBe(ready.pid);
    }

    const again = await runCli([
      'serve',
      '--port',
      String(port),
      '--pid-file',
      pidFile,
      ...appCommand(port),
    ]);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toContain(
      `portwarden serve: Cannot listen on port ${port}: it is held by tcp [::]:${port} LISTEN pid ${ready.pid} (node)`,
    );
    expect(again.stderr).toContain(`portwarden free ${port}`);
    // The PID file's lock died with the supervisor: --reload says nothing runs.
    const reload = await reloadCli(port, pidFile);
    expect(reload.exitCode).toBe(1);
    expect(reload.stderr).toContain(`No portwarden serve runs for port ${port}`);
    process.kill(ready.pid!, 'SIGTERM');
  });

  test('adopts a listener passed to it by socket activation (LISTEN_FDS) instead of binding', async () => {
    const port = testPort();
    const pidFile = path.join(tempDir(), 'serve.pid');
    // pass-fds.py makes the listener, puts it at fd 3 and execs node with LISTEN_PID = itself.
    const launcher = spawn(
      'python3',
      [
        path.join(fixtures, 'pass-fds.py'),
        JSON.stringify({fds: [{kind: 'tcp', port}], listenPid: 'self'}),
        process.execPath,
        distBin,
        'serve',
        '--json',
        '--port',
        String(port),
        '--pid-file',
        pidFile,
        ...appCommand(port),
      ],
      {stdio: ['ignore', 'pipe', 'inherit']},
    );
    track(launcher.pid);
    const line = await new Promise<string>((resolve) => {
      let out = '';
      launcher.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) {
          resolve(out.slice(0, out.indexOf('\n')));
        }
      });
    });
    const ready = JSON.parse(line) as {event: string; pid: number; host: string};
    track(ready.pid);
    expect(ready).toMatchObject({event: 'ready', host: '127.0.0.1'});
    expect(await get(port)).toBe(ready.pid);
    launcher.kill('SIGTERM');
    expect(await new Promise((resolve) => launcher.once('exit', resolve))).toBe(0);
    expect((await checkPort(port)).status).toBe('free');
  });

  test('usage errors exit 64; --reload with nothing running exits 1', async () => {
    const noCommand = await runCli(['serve', '--port', '8080']);
    expect(noCommand.exitCode).toBe(64);
    expect(noCommand.stderr).toContain('portwarden serve: Expected a command after --');
    const noPort = await runCli(['serve', '--', 'true']);
    expect(noPort.exitCode).toBe(64);
    expect(noPort.stderr).toContain(
      'Expected --port to be an integer between 1 and 65535, got nothing',
    );
    const badTimeout = await runCli([
      'serve',
      '--port',
      '8080',
      '--ready-timeout',
      'soon',
      '--',
      'true',
    ]);
    expect(badTimeout.exitCode).toBe(64);
    const port = testPort();
    const none = await runCli(['serve', '--reload', '--port', String(port), '--json'], {
      XDG_RUNTIME_DIR: tempDir(),
    });
    expect(none.exitCode).toBe(1);
    expect(JSON.parse(none.stdout)).toMatchObject({error: 'ServeError', code: 'NOT_RUNNING', port});
  });
});
