// The waiting, freeing, PID-file and restart commands of the built CLI, against real
// processes, and a bash restart wrapper built on wait-free / wait-listen.
import {readFileSync} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {execa} from 'execa';
import {describe, expect, it} from 'vitest';
import {readPidFile} from '../src/index.js';
import {distBin, fixtures, runCli, sleep, startListener, tempDir, track} from './helpers.js';
import {testPort} from './ports.js';

/** Running and not a zombie (orphans may stay unreaped here). */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

/** Resolves with the error code of a listen on the port, or 'ok' after closing again. */
const tryListen = async (port: number) =>
  new Promise<string>((resolve) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    server.listen(port, () => server.close(() => resolve('ok')));
  });

describe('wait-free, wait-listen, free', () => {
  it('wait-free exits 0 once a draining server is gone, and 1 naming the holder on timeout', async () => {
    const l = await startListener({onTerm: {drainMs: 600}});
    const timeout = await runCli(['wait-free', String(l.port), '--timeout', '200ms']);
    expect(timeout.exitCode).toBe(1);
    expect(timeout.stderr).toContain(`pid ${l.pid}`);

    process.kill(l.pid, 'SIGTERM');
    const waited = await runCli(['wait-free', String(l.port), '--timeout', '5s', '--json']);
    expect(waited.exitCode).toBe(0);
    expect(JSON.parse(waited.stdout)).toMatchObject({status: 'free', port: l.port});
    expect(await tryListen(l.port)).toBe('ok');
  });

  it('wait-listen exits 0 with the owner, and 1 at once when --pid exits before binding', async () => {
    const l = await startListener({host: '127.0.0.1'});
    const ok = await runCli(['wait-listen', String(l.port), '--pid', String(l.pid)]);
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toContain(`pid ${l.pid}`);

    const quitter = execa(process.execPath, ['-e', 'setTimeout(() => process.exit(3), 100)'], {
      reject: false,
    });
    track(quitter.pid);
    const started = Date.now();
    const early = await runCli([
      'wait-listen',
      '1',
      '--pid',
      String(quitter.pid),
      '--timeout',
      '20s',
    ]);
    expect(early.exitCode).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    await quitter;
  });

  it('free stops a holder that ignores SIGTERM with SIGKILL and leaves the port bindable', async () => {
    const l = await startListener({onTerm: 'ignore'});
    const dry = await runCli(['free', String(l.port), '--dry-run', '--json']);
    expect(dry.exitCode).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject([{pid: l.pid, status: 'dry-run'}]);
    // --signal is the first signal sent (freePort's killSignal).
    const dryInt = await runCli(['free', String(l.port), '--dry-run', '--signal', 'INT', '--json']);
    expect(JSON.parse(dryInt.stdout)).toMatchObject([{pid: l.pid, killSignal: 'SIGINT'}]);
    expect(alive(l.pid)).toBe(true);

    const freed = await runCli(['free', String(l.port), '--force-after', '300ms', '--json']);
    expect(freed.exitCode).toBe(0);
    expect(JSON.parse(freed.stdout)).toMatchObject([
      {pid: l.pid, forced: true, killSignal: 'SIGKILL'},
    ]);
    expect(await tryListen(l.port)).toBe('ok');
  });

  it('free with a filter that excludes the holder signals nothing and exits 1', async () => {
    const l = await startListener();
    const result = await runCli(['free', String(l.port), '--filter', '^no-such-command$']);
    expect(result.exitCode).toBe(1);
    expect(alive(l.pid)).toBe(true);
  });

  it('rejects bad flags with exit 64', async () => {
    for (const args of [
      ['free', '80', '--signal', 'SIGNOPE'],
      ['free', '80', '--filter', '('],
      ['wait-listen', '80', '--pid', '0'],
      ['wait-free', '80', '--timeout', '-1'],
      ['restart', '--port', '80'],
      ['restart', '--stop', 'x', '--start', "'unbalanced", '--port', '80'],
      ['pidfile', 'frob', '/tmp/x'],
    ]) {
      expect((await runCli(args)).exitCode, args.join(' ')).toBe(64);
    }
  });
});

describe('pidfile', () => {
  it('exec holds the lock for the life of the command, naming the command, and releases it', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'daemon.pid');
    // No pipes: the command inherits them and would keep them open after the launcher dies.
    const exec = execa(process.execPath, [distBin, 'pidfile', 'exec', file, '--', 'sleep', '30'], {
      reject: false,
      stdio: 'ignore',
    });
    track(exec.pid);
    let info = readPidFile(file);
    for (let i = 0; i < 100 && (info === undefined || info.pid === exec.pid); i++) {
      await sleep(20);
      info = readPidFile(file);
    }

    expect(info).toMatchObject({locked: true, alive: true});
    const sleeper = info!.pid!;
    track(sleeper);
    expect(sleeper).not.toBe(exec.pid);

    const second = await runCli(['pidfile', 'claim', file]);
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toContain(`held by pid ${sleeper}`);
    expect((await runCli(['pidfile', 'read', file])).exitCode).toBe(0);

    // The launcher dies: the command still holds the lock through the inherited descriptor.
    process.kill(exec.pid!, 'SIGKILL');
    await exec;
    expect(readPidFile(file)).toMatchObject({pid: sleeper, locked: true});

    process.kill(sleeper, 'SIGKILL');
    for (let i = 0; i < 100 && readPidFile(file)?.locked; i++) {
      await sleep(20);
    }

    expect((await runCli(['pidfile', 'read', file])).exitCode).toBe(1);
    const cleared = await runCli(['pidfile', 'release', file]);
    expect(cleared.exitCode).toBe(0);
    expect(cleared.stdout).toContain('stale PID file removed');
    expect(readPidFile(file)).toBeUndefined();
  });

  it('exec passes the exit status through and removes the file', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'job.pid');
    const result = await runCli(['pidfile', 'exec', file, '--', 'sh', '-c', 'exit 7']);
    expect(result.exitCode).toBe(7);
    expect(readPidFile(file)).toBeUndefined();
  });
});

describe('bash restart wrapper', () => {
  it('restarts a draining server without EADDRINUSE, where the naive wrapper fails', async () => {
    const dir = tempDir();
    const wrapper = path.join(fixtures, 'restart-wrapper.sh');
    const port = testPort();
    const server = [
      process.execPath,
      path.join(fixtures, 'listener.mjs'),
      JSON.stringify({port, onTerm: {drainMs: 3000}}),
    ];
    const env = {PORTWARDEN_BIN: distBin};
    const restart = async (naive: boolean) => {
      const result = await execa(
        wrapper,
        [...(naive ? ['--naive'] : []), String(port), path.join(dir, 'pid'), ...server],
        {
          env,
          reject: false,
        },
      );
      const pid = Number(result.stdout.trim().split('\n')[0]);
      track(pid);
      return {pid, exitCode: result.exitCode};
    };

    const first = await restart(false);
    expect(first.exitCode).toBe(0);
    for (let i = 0; i < 2; i++) {
      const previous = readPidFile(path.join(dir, 'pid'));
      const next = await restart(false);
      expect(next.exitCode).toBe(0);
      expect(alive(next.pid)).toBe(true);
      expect(next.pid).not.toBe(previous?.pid);
    }

    // The naive wrapper starts while the old server drains (3 s): the new one dies of EADDRINUSE.
    const old = readPidFile(path.join(dir, 'pid'))!.pid!;
    const naive = await restart(true);
    for (let i = 0; i < 100 && alive(naive.pid); i++) {
      await sleep(25);
    }

    expect(alive(naive.pid)).toBe(false);
    expect(alive(old)).toBe(true); // it died while the old server still held the port
  }, 60_000);
});
