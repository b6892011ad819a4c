// `portwarden pidfile` against PID files written by others: a shell's `echo $! > file`,
// garbage, empty files. A file naming a live process is held (exit 1, left untouched);
// only --force takes it.
import {spawn} from 'node:child_process';
import {existsSync, readFileSync, statSync, utimesSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {execa} from 'execa';
import {describe, expect, it} from 'vitest';
import {distBin, runCli, tempDir, track} from './helpers.js';

/** A `sleep 60` (tracked): a live daemon that knows nothing of PID files. */
function sleeper(): number {
  const child = spawn('sleep', ['60'], {stdio: 'ignore'});
  track(child.pid);
  return child.pid!;
}

/** Writes `text` to `file` with an mtime a year ago; returns a check that nothing changed. */
function foreignFile(file: string, text: string): () => void {
  writeFileSync(file, text);
  const past = new Date(Date.now() - 365 * 24 * 3600 * 1000);
  utimesSync(file, past, past);
  const before = statSync(file, {bigint: true});
  return () => {
    expect(readFileSync(file, 'latin1')).toBe(text);
    const now = statSync(file, {bigint: true});
    expect({ino: now.ino, mtimeNs: now.mtimeNs}).toEqual({
      ino: before.ino,
      mtimeNs: before.mtimeNs,
    });
  };
}

describe('pidfile on foreign files', () => {
  it("leaves a shell's `echo $! > live.pid` alone: claim and release exit 1, read says running", async () => {
    const dir = tempDir();
    const script = `
      sleep 30 & echo $! > live.pid
      touch -d '2001-02-03 04:05:06' live.pid
      echo "pid=$!"
      node "$BIN" pidfile claim live.pid; echo "claim=$?"
      node "$BIN" pidfile release live.pid; echo "release=$?"
      node "$BIN" pidfile read live.pid; echo "read=$?"
      node "$BIN" pidfile claim live.pid --json; echo "json=$?"
      kill $!
    `;
    const result = await execa('bash', ['-c', script], {
      cwd: dir,
      env: {BIN: distBin, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`},
      stdin: 'ignore',
      reject: false,
    });
    expect(result.exitCode).toBe(0);
    const pid = Number(/^pid=(\d+)$/m.exec(result.stdout)![1]);
    track(pid);
    expect(result.stdout).toContain('claim=1');
    expect(result.stdout).toContain('release=1');
    expect(result.stdout).toContain(
      `live.pid: pid ${pid} running (held by a foreign process, unlocked)`,
    );
    expect(result.stdout).toContain('read=0');
    expect(result.stdout).toContain('json=1');
    expect(result.stdout).not.toContain('free to claim');
    expect(result.stdout).not.toContain('removed');
    const json = result.stdout.split('\n').find((line) => line.startsWith('{'));
    expect(JSON.parse(json!)).toMatchObject({
      error: 'AlreadyRunningError',
      code: 'EEXIST',
      path: path.join(dir, 'live.pid'),
      holder: {pid, locked: false, alive: true},
    });
    expect(result.stderr).toContain(`held by pid ${pid} (a process that does not lock it`);
    // The library's "pass force: true", said with the flag a CLI user types.
    expect(result.stderr).toContain('left untouched; pass --force to take it over)');
    expect(result.stderr).not.toContain('force: true');
    expect(JSON.parse(json!).message).toContain('pass --force to take it over');
    // Byte for byte, mtime too.
    const file = path.join(dir, 'live.pid');
    expect(readFileSync(file, 'utf8')).toBe(`${pid}\n`);
    expect(statSync(file).mtime.getTime()).toBe(new Date(2001, 1, 3, 4, 5, 6).getTime());
  });

  it('--json refusals print one object {error, code, message, path, holder}; --force takes over', async () => {
    const dir = tempDir();
    const pid = sleeper();
    const file = path.join(dir, 'daemon.pid');
    const unchanged = foreignFile(file, `${pid}\n`);
    for (const action of ['claim', 'release']) {
      const result = await runCli(['pidfile', action, file, '--json']);
      expect(result.exitCode, action).toBe(1);
      const lines = result.stdout.split('\n');
      expect(lines).toHaveLength(1);
      const json = JSON.parse(lines[0]!) as Record<string, unknown>;
      expect(json).toMatchObject({
        error: 'AlreadyRunningError',
        code: 'EEXIST',
        path: file,
        holder: {pid, locked: false, alive: true},
      });
      expect(json.message).toContain('left untouched');
      unchanged();
    }

    const read = await runCli(['pidfile', 'read', file, '--json']);
    expect(read.exitCode).toBe(0);
    expect(JSON.parse(read.stdout)).toMatchObject({exists: true, pid, locked: false, alive: true});
    unchanged();

    const forced = await runCli(['pidfile', 'claim', file, '--force', '--json']);
    expect(forced.exitCode).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({
      path: file,
      created: false,
      tookOver: true,
      previous: {pid, locked: false, alive: true},
    });
    expect(existsSync(file)).toBe(false); // claim releases at once
    expect(() => process.kill(pid, 0)).not.toThrow(); // --force signals nobody

    foreignFile(file, `${pid}\n`);
    const removed = await runCli(['pidfile', 'release', file, '--force']);
    expect(removed.exitCode).toBe(0);
    expect(removed.stdout).toBe(`${file}: PID file removed (forced: its pid ${pid} still runs)`);
    expect(existsSync(file)).toBe(false);
  });

  it('garbage is left alone (EBADMSG, exit 1) unless forced; an empty file is stale', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'garbage.pid');
    const unchanged = foreignFile(file, 'PID=1234\n');
    const claim = await runCli(['pidfile', 'claim', file, '--json']);
    expect(claim.exitCode).toBe(1);
    expect(JSON.parse(claim.stdout)).toMatchObject({
      error: 'PidFileError',
      code: 'EBADMSG',
      path: file,
    });
    expect(claim.stderr).toContain('not a PID file this package can read');
    expect(claim.stderr).toContain('left untouched; pass --force to take it over');
    const release = await runCli(['pidfile', 'release', file]);
    expect(release.exitCode).toBe(1);
    expect(release.stderr).toContain('EBADMSG');
    unchanged();
    const read = await runCli(['pidfile', 'read', file]);
    expect(read.exitCode).toBe(1);
    expect(read.stdout).toContain('not a PID file portwarden can read');
    unchanged();

    const forced = await runCli(['pidfile', 'release', file, '--force']);
    expect(forced.exitCode).toBe(0);
    expect(forced.stdout).toContain('PID file removed (forced: it was not a PID file');
    expect(existsSync(file)).toBe(false);

    writeFileSync(file, '');
    const empty = await runCli(['pidfile', 'release', file]);
    expect(empty.exitCode).toBe(0);
    expect(empty.stdout).toBe(`${file}: stale PID file removed`);
    expect(existsSync(file)).toBe(false);
  });

  it('--data must be JSON and --force applies to claims only (usage errors, exit 64)', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'x.pid');
    for (const args of [
      ['pidfile', 'claim', file, '--data', '{bad'],
      ['pidfile', 'exec', file, '--data', '{bad', '--', 'true'],
    ]) {
      const result = await runCli(args);
      expect(result.exitCode, args.join(' ')).toBe(64);
      expect(result.stderr).toContain("Expected --data to be JSON, got '{bad'");
      expect(result.stderr).toContain('usage: portwarden pidfile');
      expect(existsSync(file)).toBe(false);
    }

    expect((await runCli(['pidfile', 'read', file, '--force'])).exitCode).toBe(64);
    const ok = await runCli(['pidfile', 'claim', file, '--data', '{"port":8080}', '--json']);
    expect(ok.exitCode).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({path: file, created: true, tookOver: false});
  });
});
