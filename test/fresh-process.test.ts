// The package as a user drives it: every public async function called in a fresh `node`
// process with nothing else keeping its event loop alive (the promise must settle), and every
// CLI command from a fresh process, for success and each failure kind, with and without --json
// (exit code; one JSON object on stdout for a failure: {error, code, message, ...}).
import {existsSync, readFileSync} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {execa} from 'execa';
import {describe, expect, it} from 'vitest';
import {
  bindServer,
  distBin,
  distModule,
  fixtures,
  runCli,
  sleep,
  spawnNode,
  startListener,
  tempDir,
  track,
} from './helpers.js';
import {testPort} from './ports.js';
import {call, rejected, resolved} from './fresh.js';

const server = path.join(fixtures, 'service-server.mjs');

const listening = async (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/** A PATH with no lsof on it (and nothing else). */
const noLsof = () => ({PATH: tempDir()});

describe('public async functions settle in a fresh process', () => {
  it('checkPort and probePort answer free, busy and who holds it', async () => {
    const l = await startListener({host: '127.0.0.1'});
    expect(resolved(await call('checkPort', [l.port]))).toMatchObject({status: 'busy'});
    const report = resolved(await call('probePort', [l.port])) as {
      sockets: Array<{owner: {status: string; processes: Array<{pid: number}>}}>;
    };
    expect(report.sockets[0]!.owner.processes.map((p) => p.pid)).toEqual([l.pid]);
    l.child.kill('SIGKILL');
    await l.exited;
    expect(resolved(await call('checkPort', [l.port]))).toMatchObject({status: 'free'});
    // Without the addon and without lsof: an honest unknown, never free.
    const unknown = await call('checkPort', [l.port], {
      ...noLsof(),
      PORTWARDEN_DISABLE_NATIVE: '1',
    });
    expect(resolved(unknown)).toMatchObject({status: 'unknown', permanent: true});
  });

  it('probeUnixSocket names the listener of a unix socket', async () => {
    const l = await startListener({kind: 'unix', path: path.join(tempDir(), 's.sock')});
    const report = resolved(await call('probeUnixSocket', [l.path])) as {
      sockets: Array<{owner: {processes: Array<{pid: number}>}}>;
    };
    expect(report.sockets.some((s) => s.owner.processes.some((p) => p.pid === l.pid))).toBe(true);
  });

  it('waitForExit resolves true when the process exits and false at its timeout', async () => {
    const quick = spawnNode('setTimeout(() => {}, 200)');
    expect(resolved(await call('waitForExit', [quick.pid, {timeout: 5000}]))).toBe(true);
    const slow = spawnNode('setTimeout(() => {}, 30000)');
    expect(resolved(await call('waitForExit', [slow.pid, {timeout: 100}]))).toBe(false);
    slow.kill('SIGKILL');
  });

  it('waitForListening resolves on a listener and rejects when its pid exits first', async () => {
    const l = await startListener({host: '127.0.0.1'});
    expect(resolved(await call('waitForListening', [l.port, {timeout: 2000}]))).toMatchObject({
      state: 'LISTEN',
    });
    const quitter = spawnNode('setTimeout(() => process.exit(3), 200)');
    const r = await call('waitForListening', [testPort(), {pid: quitter.pid, timeout: 10_000}]);
    expect(rejected(r, 'NotListeningError').reason).toBe('exited');
    expect(r.ms).toBeLessThan(5000);
    const timeout = await call('waitForListening', [testPort(), {timeout: 200}]);
    expect(rejected(timeout, 'NotListeningError').reason).toBe('timeout');
  });

  it('waitForPortFree resolves once the holder is gone, rejects at the deadline and on abort', async () => {
    const l = await startListener({host: '127.0.0.1'});
    setTimeout(() => l.child.kill('SIGKILL'), 300);
    expect(resolved(await call('waitForPortFree', [l.port, {timeout: 5000}]))).toMatchObject({
      port: l.port,
    });
    const held = await startListener({host: '127.0.0.1'});
    rejected(await call('waitForPortFree', [held.port, {timeout: 200}]), 'PortBusyError');
    const aborted = await call('waitForPortFree', [
      held.port,
      {timeout: 20_000, signal: {$abortAfter: 200}},
    ]);
    expect(rejected(aborted, 'Error').message).toBe('aborted by the test');
    expect(aborted.ms).toBeLessThan(10_000);
  });

  it('terminate escalates to SIGKILL and freePort leaves the port bindable', async () => {
    const stubborn = await startListener({host: '127.0.0.1', onTerm: 'ignore'});
    const results = resolved(
      await call('terminate', [[stubborn.pid], {forceAfter: 200}]),
    ) as Array<{
      pid: number;
      forced: boolean;
    }>;
    expect(results).toMatchObject([{pid: stubborn.pid, forced: true}]);
    const l = await startListener({host: '127.0.0.1'});
    resolved(await call('freePort', [l.port, {timeout: 5000}]));
    (await bindServer(l.port)).close();
    // Refused: pid 1 is never signalled.
    const refused = await call('terminate', [[1]]);
    expect(refused.settled).toBe('rejected');
  });

  it('claimInstance makes this process the owner', async () => {
    const pidFile = path.join(tempDir(), 'i.pid');
    expect(resolved(await call('claimInstance', [{pidFile}]))).toMatchObject({role: 'owner'});
  });
});

describe('command services settle in a fresh process', () => {
  const spec = (port: number, start: string[], stop: string[] = ['true']) => ({
    manager: 'command',
    stop,
    start,
    port,
  });

  it('a start command that fails rejects EXITED instead of never settling', async () => {
    const port = testPort();
    const r = await call('restartService', [spec(port, ['false'])]);
    expect(r.exitCode).toBe(0);
    rejected(r, 'ServiceError', 'EXITED');
    const start = await call('startService', [spec(port, ['sh', '-c', 'sleep 0.3; exit 4'])]);
    expect(rejected(start, 'ServiceError', 'EXITED').message).toContain('code 4');
  });

  it('a start that listens elsewhere is stopped before the error returns, or kept with keepFailed', async () => {
    const port = testPort();
    const wrong = testPort();
    const start = [process.execPath, server, '--port', String(wrong)];
    const r = await call('restartService', [spec(port, start), {timeout: 1000}]);
    const e = rejected(r, 'ServiceError', 'NOT_LISTENING');
    expect(e.message).toMatch(/the started process group \d+ stopped by SIGTERM/);
    expect(await listening(wrong)).toBe(false);

    const kept = await call('restartService', [
      spec(port, start),
      {timeout: 1000, keepFailed: true},
    ]);
    expect(rejected(kept, 'ServiceError', 'NOT_LISTENING').message).toMatch(
      /left running \(keepFailed\)/,
    );
    expect(await listening(wrong)).toBe(true);
    const pid = Number(/process group (\d+)/.exec((kept as {message: string}).message)![1]);
    track(pid);
    process.kill(-pid, 'SIGKILL');
  });

  it('a start command that ignores SIGTERM is killed after forceAfter', async () => {
    const port = testPort();
    const r = await call('startService', [
      spec(port, ['sh', '-c', "trap '' TERM; sleep 30 & wait; sleep 30"]),
      {timeout: 500, forceAfter: 300},
    ]);
    const e = rejected(r, 'ServiceError', 'NOT_LISTENING');
    const pid = Number(/process group (\d+)/.exec(e.message)![1]);
    expect(e.message).toContain('killed by SIGKILL 300 ms after SIGTERM');
    expect(() => process.kill(-pid, 0)).toThrow(/ESRCH/);
  });

  it('a successful restart, start and stop resolve and leave the daemon running', async () => {
    const port = testPort();
    const dir = tempDir();
    const pidFile = path.join(dir, 'd.pid');
    const s = {
      ...spec(
        port,
        [process.execPath, server, '--port', String(port), '--pid-file', pidFile],
        ['sh', '-c', `kill $(cat ${pidFile}) 2>/dev/null; true`],
      ),
    };
    const started = resolved(await call('startService', [s])) as {pid: number};
    track(started.pid);
    const restarted = resolved(await call('restartService', [s])) as {pid: number};
    track(restarted.pid);
    expect(restarted.pid).not.toBe(started.pid);
    // The daemon outlived the process that started it.
    expect(await listening(port)).toBe(true);
    resolved(await call('stopService', [s]));
    expect(await listening(port)).toBe(false);
  });
});

/** One failure line on stdout: {error, code, message}. */
function jsonFailure(stdout: string): {error: string; code: string; message: string} {
  const lines = stdout.trim().split('\n');
  expect(lines, stdout).toHaveLength(1);
  const o = JSON.parse(lines[0]!) as {error: string; code: string; message: string};
  expect(typeof o.error).toBe('string');
  expect(typeof o.code).toBe('string');
  expect(typeof o.message).toBe('string');
  return o;
}

type Case = {
  args: string[];
  exit: number;
  env?: Record<string, string>;
  /** The `code` of the --json failure object. */
  code?: string;
};

/** Runs a case with and without --json: same exit code; failures print one JSON object. */
async function expectCli(c: Case): Promise<unknown> {
  const plain = await runCli(c.args, c.env);
  expect(plain.exitCode, `${c.args.join(' ')}: ${plain.stderr}`).toBe(c.exit);
  if (c.code !== undefined) {
    expect(plain.stderr, c.args.join(' ')).not.toBe('');
  }

  const json = await runCli([...c.args, '--json'], c.env);
  expect(json.exitCode, `${c.args.join(' ')} --json: ${json.stderr}`).toBe(c.exit);
  if (c.exit === 0 || (c.exit === 1 && c.code === undefined)) {
    return JSON.parse(json.stdout) as unknown;
  }

  const failure = jsonFailure(json.stdout);
  if (c.code !== undefined) {
    expect(failure.code, json.stdout).toBe(c.code);
  }

  return failure;
}

describe('every CLI command from a fresh process: exit codes and --json', () => {
  it('who: 0 holder, 1 nothing, 2 no backend, 64 bad port', async () => {
    const l = await startListener({host: '127.0.0.1'});
    expect(await expectCli({args: ['who', String(l.port)], exit: 0})).toMatchObject({
      port: l.port,
    });
    await expectCli({args: ['who', String(testPort())], exit: 1});
    const unknown = await expectCli({
      args: ['who', String(l.port), '--backend', 'lsof'],
      exit: 2,
      env: noLsof(),
      code: 'ENOENT',
    });
    expect(unknown).toMatchObject({error: 'ProbeUnavailableError', permanent: true});
    expect(await expectCli({args: ['who', '0'], exit: 64, code: 'USAGE'})).toMatchObject({
      error: 'UsageError',
    });
  });

  it('check: 0 free, 1 busy, 2 unknown, 64 bad host', async () => {
    const l = await startListener({host: '127.0.0.1'});
    await expectCli({args: ['check', String(testPort())], exit: 0});
    expect(await expectCli({args: ['check', String(l.port)], exit: 1})).toMatchObject({
      status: 'busy',
    });
    // check answers "unknown" as a status (exit 2), with the code of the failure.
    const unknown = await runCli(
      ['check', String(l.port), '--backend', 'lsof', '--json'],
      noLsof(),
    );
    expect(unknown.exitCode).toBe(2);
    expect(JSON.parse(unknown.stdout)).toMatchObject({status: 'unknown', code: 'ENOENT'});
    const bad = (await expectCli({
      args: ['check', String(l.port), '--host', 'localhost'],
      exit: 64,
      code: 'ERR_INVALID_ARG_TYPE',
    })) as {message: string};
    expect(bad.message).toContain('host');
  });

  it('wait-free: 0 free, 1 still busy (naming the holder), 2 unknown, 64 bad timeout', async () => {
    const l = await startListener({host: '127.0.0.1'});
    await expectCli({args: ['wait-free', String(testPort())], exit: 0});
    const busy = await expectCli({
      args: ['wait-free', String(l.port), '--timeout', '200'],
      exit: 1,
      code: 'PORT_BUSY',
    });
    expect(busy).toMatchObject({error: 'PortBusyError', port: l.port});
    expect((busy as {message: string}).message).toContain(`pid ${l.pid}`);
    await expectCli({
      args: ['wait-free', String(l.port), '--backend', 'lsof'],
      exit: 2,
      env: noLsof(),
      code: 'ENOENT',
    });
    await expectCli({args: ['wait-free', '80', '--timeout', 'soon'], exit: 64, code: 'USAGE'});
  });

  it('wait-listen: 0 listening, 1 timeout or exited (with the reason), 2 unknown, 64 bad pid', async () => {
    const l = await startListener({host: '127.0.0.1'});
    await expectCli({args: ['wait-listen', String(l.port)], exit: 0});
    const timeout = await expectCli({
      args: ['wait-listen', String(testPort()), '--timeout', '200'],
      exit: 1,
      code: 'NOT_LISTENING',
    });
    expect(timeout).toMatchObject({error: 'NotListeningError', reason: 'timeout'});
    const quitter = spawnNode('setTimeout(() => {}, 150)');
    const exited = await runCli([
      'wait-listen',
      String(testPort()),
      '--pid',
      String(quitter.pid),
      '--json',
    ]);
    expect(exited.exitCode).toBe(1);
    expect(jsonFailure(exited.stdout)).toMatchObject({code: 'EXITED', reason: 'exited'});
    await expectCli({
      args: ['wait-listen', String(l.port), '--backend', 'lsof'],
      exit: 2,
      env: noLsof(),
      code: 'ENOENT',
    });
    await expectCli({args: ['wait-listen', '80', '--pid', 'x'], exit: 64, code: 'USAGE'});
  });

  it('free: 0 freed, 1 holder filtered out, 2 unknown, 64 bad signal', async () => {
    for (const json of [false, true]) {
      const l = await startListener({host: '127.0.0.1'});
      const r = await runCli(['free', String(l.port), ...(json ? ['--json'] : [])]);
      expect(r.exitCode, r.stderr).toBe(0);
      if (json) {
        expect(JSON.parse(r.stdout)).toMatchObject([{pid: l.pid}]);
      }
    }

    const l = await startListener({host: '127.0.0.1'});
    await expectCli({
      args: ['free', String(l.port), '--filter-pid', '1', '--timeout', '200'],
      exit: 1,
      code: 'PORT_BUSY',
    });
    await expectCli({
      args: ['free', String(l.port), '--backend', 'lsof'],
      exit: 2,
      env: noLsof(),
      code: 'ENOENT',
    });
    await expectCli({args: ['free', String(l.port), '--signal', 'FOO'], exit: 64, code: 'USAGE'});
    expect(await listening(l.port)).toBe(true);
  });

  it('pidfile: read, claim, release and exec; 1 when held, 64 on bad input', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'p.pid');
    await expectCli({args: ['pidfile', 'read', file], exit: 1});
    expect(await expectCli({args: ['pidfile', 'claim', file], exit: 0})).toMatchObject({
      created: true,
    });
    expect(existsSync(file)).toBe(false);
    // A holder: exec keeps the lock for the life of its command.
    const holder = execa(process.execPath, [distBin, 'pidfile', 'exec', file, '--', 'sleep', '30']);
    track(holder.pid);
    for (let i = 0; i < 200 && !existsSync(file); i++) {
      await sleep(10);
    }

    await sleep(50);
    expect(await expectCli({args: ['pidfile', 'read', file], exit: 0})).toMatchObject({
      locked: true,
    });
    const held = await expectCli({args: ['pidfile', 'claim', file], exit: 1, code: 'EEXIST'});
    expect(held).toMatchObject({error: 'AlreadyRunningError'});
    await expectCli({args: ['pidfile', 'release', file], exit: 1, code: 'EEXIST'});
    holder.kill('SIGTERM');
    await holder.catch(() => {});
    const exec = await runCli(['pidfile', 'exec', file, '--', 'sh', '-c', 'exit 7']);
    expect(exec.exitCode).toBe(7);
    await expectCli({args: ['pidfile', 'frob', file], exit: 64, code: 'USAGE'});
    await expectCli({args: ['pidfile', 'exec', file], exit: 64, code: 'USAGE'});
  });

  it('restart, start, stop: 0 proven, 1 failed start (process stopped), 2 unknown, 64 bad spec', async () => {
    const port = testPort();
    const dir = tempDir();
    const pidFile = path.join(dir, 'd.pid');
    const start = `${process.execPath} ${server} --port ${port} --pid-file ${pidFile}`;
    const stop = `sh -c 'kill $(cat ${pidFile}) 2>/dev/null; true'`;
    const service = ['--start', start, '--stop', stop, '--port', String(port)];
    for (const json of [false, true]) {
      for (const action of ['start', 'restart', 'stop']) {
        const r = await runCli([action, ...service, ...(json ? ['--json'] : [])]);
        expect(r.exitCode, `${action}: ${r.stderr}`).toBe(0);
        if (json) {
          expect(JSON.parse(r.stdout)).toMatchObject({manager: 'command', action});
        }

        if (existsSync(pidFile)) {
          track(Number(readFileSync(pidFile, 'utf8')));
        }
      }
    }

    expect(await listening(port)).toBe(false);
    for (const action of ['restart', 'start']) {
      await expectCli({
        args: [action, '--stop', 'true', '--start', 'false', '--port', String(port)],
        exit: 1,
        code: 'EXITED',
      });
    }

    // A start that listens on the wrong port: exit 1, and its server is stopped.
    const wrong = testPort();
    const failed = await expectCli({
      args: [
        'restart',
        '--stop',
        'true',
        '--start',
        `${process.execPath} ${server} --port ${wrong}`,
        '--port',
        String(port),
        '--timeout',
        '1s',
      ],
      exit: 1,
      code: 'NOT_LISTENING',
    });
    expect((failed as {message: string}).message).toContain('stopped by SIGTERM');
    expect(await listening(wrong)).toBe(false);

    await expectCli({
      args: ['restart', '--stop', '/bin/true', '--start', '/bin/false', '--port', String(port)],
      exit: 2,
      env: {...noLsof(), PORTWARDEN_DISABLE_NATIVE: '1'},
      code: 'PROBE_UNAVAILABLE',
    });
    await expectCli({
      args: ['restart', '--stop', 'true', '--start', 'false'],
      exit: 64,
      code: 'USAGE',
    });
  });

  it('an internal error is not a usage error and never exits 0', async () => {
    // A command that hits a bug (a TypeError thrown from inside it).
    const spec = JSON.stringify(distModule('cli/spec.js'));
    const main = JSON.stringify(distModule('cli/main.js'));
    const r = await execa(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const {commands} = await import(${spec});
commands.check.load = async () => async () => null.boom;
const {main} = await import(${main});
process.exitCode = await main(['check', '80', '--json'], {out: (t) => console.log(t), err: (t) => console.error(t), isTTY: false});`,
      ],
      {reject: false, stdin: 'ignore'},
    );
    expect(r.exitCode).toBe(70);
    expect(jsonFailure(r.stdout)).toMatchObject({error: 'TypeError', code: 'INTERNAL'});
    expect(r.stderr).toContain('internal error');
  });

  it('a CLI whose event loop empties before the answer exits non-zero', async () => {
    const spec = JSON.stringify(distModule('cli/spec.js'));
    const bin = JSON.stringify(distModule('bin.js'));
    const r = await execa(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const {commands} = await import(${spec});
commands.check.load = async () => () => new Promise(() => {});
process.argv = [process.argv[0], 'portwarden', 'check', '80'];
await import(${bin});`,
      ],
      {reject: false, stdin: 'ignore'},
    );
    expect(r.exitCode).toBe(70);
    expect(r.stderr).toContain('the command ended without an answer');
  });
});
