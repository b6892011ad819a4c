import {spawn, spawnSync} from 'node:child_process';
import {existsSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {
  clearStopping,
  isStopping,
  markStopping,
  PidFileError,
  processInfo,
  readStopping,
} from '../src/index.js';
import {packageRoot} from '../src/native.js';
import {fixtures, numberedDirs, sleep, track} from './helpers.js';

const dir = numberedDirs('portwarden-stopping-');
const self = processInfo(process.pid)!;
const dist = `file://${packageRoot}/dist/index.js`;

/** Runs the auto-starter fixture: 0 = spawned the daemon, 3 = refused. */
function autostart(sentinel: string, marker: string): number | null {
  return spawnSync(process.execPath, [path.join(fixtures, 'autostart.mjs'), sentinel, marker], {
    stdio: 'ignore',
  }).status;
}

describe('stopping sentinel', () => {
  it('marks, reads and clears a stop', () => {
    const file = path.join(dir(), 'svc.stopping');
    expect(isStopping(file)).toBe(false);
    const before = Date.now();
    const info = markStopping(file, {ttl: 10_000});
    expect(info).toMatchObject({
      pid: process.pid,
      startTime: self.startTime,
      bootId: self.bootId,
    });
    expect(info.createdAt).toBeGreaterThanOrEqual(before);
    expect(info.expiresAt - info.createdAt).toBe(10_000);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({portwarden: 'stopping', ...info});
    expect(isStopping(file)).toBe(true);
    expect(readStopping(file)).toEqual(info);
    // Written through a temporary file and rename: nothing else is left in the directory.
    expect(readdirSync(path.dirname(file))).toEqual(['svc.stopping']);
    expect(clearStopping(file)).toBe(true);
    expect(clearStopping(file)).toBe(false);
    expect(isStopping(file)).toBe(false);
  });

  it('uses a 30 s TTL by default and accepts relative paths', () => {
    const d = dir();
    const cwd = process.cwd();
    process.chdir(d);
    try {
      const info = markStopping('rel.stopping');
      expect(info.expiresAt - info.createdAt).toBe(30_000);
      expect(isStopping(path.join(d, 'rel.stopping'))).toBe(true);
      expect(clearStopping('rel.stopping')).toBe(true);
    } finally {
      process.chdir(cwd);
    }
  });

  it('expires after its TTL and is then removed', async () => {
    const file = path.join(dir(), 'ttl.stopping');
    markStopping(file, {ttl: 150});
    expect(isStopping(file)).toBe(true);
    await sleep(200);
    expect(existsSync(file)).toBe(true);
    expect(isStopping(file)).toBe(false);
    expect(existsSync(file)).toBe(false);
  });

  it('counts corrupt, empty and implausible sentinels as absent and removes them', () => {
    const d = dir();
    const now = Date.now();
    const base = {
      portwarden: 'stopping',
      pid: process.pid,
      createdAt: now,
      expiresAt: now + 60_000,
    };
    const bad = [
      '',
      '\n',
      'garbage',
      '{"portwarden":"stopping"',
      'null',
      '[]',
      '{}',
      JSON.stringify({...base, portwarden: 'other'}),
      JSON.stringify({...base, pid: -1}),
      JSON.stringify({...base, pid: 0}),
      JSON.stringify({...base, pid: '12'}),
      JSON.stringify({...base, expiresAt: 'soon'}),
      JSON.stringify({...base, expiresAt: now - 1}), // expired
      JSON.stringify({...base, createdAt: now + 3_600_000, expiresAt: now + 3_660_000}), // future
      JSON.stringify({...base, expiresAt: now + 10 * 86_400_000}), // longer than any TTL
      JSON.stringify({...base, bootId: 'an-earlier-boot'}), // from before a reboot
      JSON.stringify({...base, startTime: 'x'}),
      'x'.repeat(10_000),
    ];
    for (const [index, text] of bad.entries()) {
      const file = path.join(d, `bad${index}.stopping`);
      writeFileSync(file, text);
      expect(isStopping(file), `#${index} ${text.slice(0, 60)}`).toBe(false);
      expect(existsSync(file), `#${index}`).toBe(false);
    }

    const good = path.join(d, 'good.stopping');
    writeFileSync(good, JSON.stringify({...base, bootId: self.bootId}));
    expect(isStopping(good)).toBe(true);
  });

  it('is never seen half-written while another process re-marks it', async () => {
    const file = path.join(dir(), 'atomic.stopping');
    markStopping(file, {ttl: 60_000});
    const writer = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const {markStopping} = await import(${JSON.stringify(dist)});
         const end = Date.now() + 700;
         while (Date.now() < end) markStopping(${JSON.stringify(file)}, {ttl: 60000});`,
      ],
      {stdio: 'inherit'},
    );
    track(writer.pid);
    const exited = new Promise((resolve) => writer.once('exit', resolve));
    let reads = 0;
    let done = false;
    void exited.then(() => (done = true));
    while (!done) {
      expect(isStopping(file)).toBe(true);
      reads++;
      await new Promise((resolve) => setImmediate(resolve));
    }

    expect(await exited).toBe(0);
    expect(reads).toBeGreaterThan(10);
    expect(readdirSync(path.dirname(file))).toEqual(['atomic.stopping']);
  });

  it('keeps an auto-starter from spawning while active, for at most the TTL', async () => {
    const d = dir();
    const sentinel = path.join(d, 'svc.stopping');
    const marker = path.join(d, 'daemon.pid');
    expect(autostart(sentinel, marker)).toBe(0);
    expect(existsSync(marker)).toBe(true);
    rmSync(marker);

    markStopping(sentinel, {ttl: 60_000});
    expect(autostart(sentinel, marker)).toBe(3);
    expect(existsSync(marker)).toBe(false);
    clearStopping(sentinel);
    expect(autostart(sentinel, marker)).toBe(0);
    expect(existsSync(marker)).toBe(true);
    rmSync(marker);

    // A stopper that crashes mid-stop (SIGKILL) never clears its sentinel: the TTL does.
    const stopper = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const {markStopping} = await import(${JSON.stringify(dist)});
         markStopping(${JSON.stringify(sentinel)}, {ttl: 1500});
         console.log('marked');
         setInterval(() => {}, 1000);`,
      ],
      {stdio: ['ignore', 'pipe', 'inherit']},
    );
    track(stopper.pid);
    await new Promise((resolve) => stopper.stdout.once('data', resolve));
    const marked = Date.now();
    stopper.kill('SIGKILL');
    await new Promise((resolve) => stopper.once('exit', resolve));
    expect(autostart(sentinel, marker)).toBe(3);
    let spawnedAt: number | undefined;
    while (Date.now() - marked < 5000) {
      if (autostart(sentinel, marker) === 0) {
        spawnedAt = Date.now();
        break;
      }

      await sleep(50);
    }

    expect(spawnedAt).toBeDefined();
    expect(spawnedAt! - marked).toBeGreaterThanOrEqual(1400);
    expect(spawnedAt! - marked).toBeLessThan(3000);
    expect(existsSync(marker)).toBe(true);
    expect(existsSync(sentinel)).toBe(false);
  });

  it('refuses symlinks and non-files with typed errors', () => {
    const d = dir();
    const target = path.join(d, 'target');
    writeFileSync(target, 'keep');
    const link = path.join(d, 'link.stopping');
    symlinkSync(target, link);
    expect(() => isStopping(link)).toThrow(expect.objectContaining({code: 'ELOOP', path: link}));
    expect(() => isStopping(d)).toThrow(PidFileError);
    expect(readFileSync(target, 'utf8')).toBe('keep');
    expect(() => markStopping(path.join(d, 'missing', 'x'))).toThrow(
      expect.objectContaining({name: 'PidFileError', code: 'ENOENT'}),
    );
  });

  it('validates its arguments', () => {
    const file = path.join(dir(), 'v.stopping');
    const mark = markStopping as (...args: unknown[]) => unknown;
    expect(() => mark(1)).toThrow(new TypeError('Expected path to be a non-empty string, got 1'));
    expect(() => mark('')).toThrow(RangeError);
    expect(() => mark(file, {ttl: 0})).toThrow(
      new RangeError('Expected options.ttl to be an integer between 1 and 86400000 (ms), got 0'),
    );
    expect(() => mark(file, {ttl: 1.5})).toThrow(RangeError);
    expect(() => mark(file, {ttl: Number.POSITIVE_INFINITY})).toThrow(RangeError);
    expect(() => mark(file, {ttl: '100'})).toThrow(
      new TypeError("Expected options.ttl to be an integer between 1 and 86400000 (ms), got '100'"),
    );
    expect(() => mark(file, {timeout: 1})).toThrow(/Unknown option 'timeout' for markStopping/);
    expect(() => (isStopping as (x: unknown) => unknown)(null)).toThrow(TypeError);
    expect(() => (clearStopping as (x: unknown) => unknown)(undefined)).toThrow(TypeError);
    expect(existsSync(file)).toBe(false);
  });
});
