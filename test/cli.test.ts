// The built CLI, run as a subprocess against real listeners.
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {execa} from 'execa';
import {describe, expect, it} from 'vitest';
import {cliMessage} from '../src/cli/errors.js';
import {distBin, fixtures, repoRoot, runCli, startListener, tempDir} from './helpers.js';

describe('portwarden CLI', () => {
  it('who lists the holder of a port and exits 0; nothing on a port exits 1', async () => {
    const l = await startListener({host: '127.0.0.1'});
    const who = await runCli(['who', String(l.port)]);
    expect(who.exitCode).toBe(0);
    expect(who.stdout).toMatch(new RegExp(`tcp 127\\.0\\.0\\.1:${l.port} LISTEN pid ${l.pid} `));

    const json = await runCli(['who', String(l.port), '--json']);
    const report = JSON.parse(json.stdout) as {
      backend: string;
      sockets: Array<{state: string; owner: {processes: Array<{pid: number}>}}>;
    };
    expect(report.backend).toBe('native');
    expect(report.sockets[0]!.owner.processes.map((p) => p.pid)).toEqual([l.pid]);

    l.child.kill('SIGKILL');
    await l.exited;
    const none = await runCli(['who', String(l.port), '--states', 'listen']);
    expect(none.exitCode).toBe(1);
    expect(none.stdout).toBe(`nothing on tcp port ${l.port}`);
  });

  it('check exits 1 while busy (naming the holder), 0 when free, with --json', async () => {
    const l = await startListener({host: '::'});
    const busy = await runCli(['check', String(l.port), '--host', '127.0.0.1']);
    expect(busy.exitCode).toBe(1);
    expect(busy.stdout).toContain(`port ${l.port} is busy`);
    expect(busy.stdout).toContain(`tcp [::]:${l.port} LISTEN`);

    const v6only = await runCli(['check', String(l.port), '--host', '::1', '--json']);
    expect(v6only.exitCode).toBe(1);
    expect(JSON.parse(v6only.stdout)).toMatchObject({port: l.port, status: 'busy'});

    l.child.kill('SIGKILL');
    await l.exited;
    const free = await runCli(['check', String(l.port), '--json']);
    expect(free.exitCode).toBe(0);
    expect(JSON.parse(free.stdout)).toEqual({port: l.port, status: 'free', backend: 'native'});
  });

  it('exits 2 when the probe cannot answer (lsof backend, lsof missing)', async () => {
    const dir = tempDir();
    const result = await runCli(['check', '80', '--backend', 'lsof'], {PATH: dir});
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/unknown \(ENOENT, permanent\)/);
  });

  it('usage errors exit 64 with the command help line', async () => {
    for (const args of [
      ['check'],
      ['check', '0'],
      ['check', '80', '--bogus'],
      ['check', '80', '--timeout', 'soon'],
      ['check', '80', '--host', 'localhost'],
      ['check', '80', '--states', 'some'],
      ['check', '80', '--strict'],
      ['wait-free', '80', '--states', 'LISTEN'],
      ['who', '80', '--states', 'listening'],
      ['who', '65536'],
      ['frobnicate'],
      [],
    ]) {
      const result = await runCli(args);
      expect(result.exitCode, args.join(' ')).toBe(64);
    }

    const bad = await runCli(['check', '0']);
    expect(bad.stderr).toContain("Expected <port> to be an integer between 1 and 65535, got '0'");
    expect(bad.stderr).toContain('usage: portwarden check <port>');
    const states = await runCli(['check', '80', '--states', 'some', '--json']);
    expect(JSON.parse(states.stdout)).toMatchObject({
      error: 'UsageError',
      code: 'USAGE',
      message: "Expected --states to be one of listen, all, got 'some'",
    });
  });

  it('prints --version and per-command --help', async () => {
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect((await runCli(['--version'])).stdout).toBe(pkg.version);
    const help = await runCli(['who', '--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/^Usage: portwarden who <port>\.\.\. \[flags\]/);
    expect(help.stdout).toContain('--states listen|all');
    expect(help.stdout).not.toContain('--listen');
  });
});

/** The built CLI as a shell command line. */
const shellCli = `${JSON.stringify(process.execPath)} ${JSON.stringify(distBin)}`;

describe('CLI output into a full non-blocking pipe', () => {
  type Drained = {code: number; filler: number; written: string; other: string};
  const fullPipe = async (stream: 'stdout' | 'stderr', room: number, args: string[]) => {
    const r = await execa(
      'python3',
      [
        path.join(fixtures, 'full-pipe.py'),
        stream,
        String(room),
        process.execPath,
        distBin,
        ...args,
      ],
      {reject: false, stdin: 'ignore'},
    );
    expect(r.exitCode, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Drained;
  };

  it('a line that fits is written, the rest waits for the reader (EAGAIN), all in order', async () => {
    const l = await startListener({host: '127.0.0.1'});
    const direct = await runCli(['check', String(l.port)]);
    expect(direct.exitCode).toBe(1);
    const lines = direct.stdout.split('\n');
    expect(lines.length).toBeGreaterThan(1); // "port P is busy:", then the holder
    // Room for the first line only: the second write finds the pipe full.
    const got = await fullPipe('stdout', lines[0]!.length + 5, ['check', String(l.port)]);
    expect(got).toMatchObject({code: 1, other: '', written: direct.stdout + '\n'});
  });

  it('stderr too (a usage error into a full pipe)', async () => {
    const direct = await runCli(['check', '1', '--bogus']);
    expect(direct.exitCode).toBe(64);
    const got = await fullPipe('stderr', 0, ['check', '1', '--bogus']);
    expect(got).toMatchObject({code: 64, other: '', written: direct.stderr + '\n'});
  });

  it('a write that fails otherwise (ENOSPC) exits 70 and says so, not the answer of the check', async () => {
    const r = await execa('bash', ['-c', `exec ${shellCli} check 1 > /dev/full`], {
      reject: false,
      stdin: 'ignore',
    });
    expect(r.exitCode).toBe(70);
    expect(r.stderr).toMatch(/^portwarden: cannot write the output: ENOSPC/);
  });
});

describe('CLI output to a reader that went away', () => {
  it('answers by its exit code, without a stack trace (EPIPE on stdout)', async () => {
    const l = await startListener();
    // The reader (true) has exited before the CLI writes: every write gets EPIPE.
    const script = `(sleep 0.3; exec ${shellCli} check ${l.port} --json) | true; echo "busy \${PIPESTATUS[0]}"
(sleep 0.3; exec ${shellCli} --help) | true; echo "help \${PIPESTATUS[0]}"`;
    const r = await execa('bash', ['-c', script], {reject: false, stdin: 'ignore'});
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')).toEqual(['busy 1', 'help 0']);
  });
});

describe('cliMessage', () => {
  it.each([
    [
      "PID file '/run/a.pid' is held by pid 7 (a process that does not lock it; left untouched; pass force: true to take it over)",
      "PID file '/run/a.pid' is held by pid 7 (a process that does not lock it; left untouched; pass --force to take it over)",
    ],
    [
      'Refusing to signal pid 7 (sleep): it belongs to uid 1000, not 0; pass allowOtherUsers: true to allow it',
      'Refusing to signal pid 7 (sleep): it belongs to uid 1000, not 0; pass --allow-other-users to allow it',
    ],
    ['Expected forceAfter to be a duration', 'Expected --force-after to be a duration'],
    ["Expected killSignal to be a signal, got 'X'", "Expected --signal to be a signal, got 'X'"],
  ])('says %j with the flags a CLI user types', (library, cli) => {
    expect(cliMessage(library)).toBe(cli);
  });
});
