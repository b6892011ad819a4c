import {type ChildProcess, spawn} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {Worker} from 'node:worker_threads';
import {afterAll, describe, expect, it} from 'vitest';
import {
  AlreadyRunningError,
  claimPidFile,
  PidFileError,
  processInfo,
  readPidFile,
} from '../src/index.js';
import {nativeBinding, packageRoot} from '../src/native.js';
import {pidFileError} from '../src/pidfile.js';
import {type Claimer, forkClaimer} from './claimer.js';
import {sleep, track} from './helpers.js';

const root = mkdtempSync(path.join(tmpdir(), 'portwarden-pidfile-'));
chmodSync(root, 0o755);
afterAll(() => rmSync(root, {recursive: true, force: true}));
let counter = 0;
/** A fresh directory for one test. */
function dir(): string {
  const d = path.join(root, String(counter++));
  mkdirSync(d, {mode: 0o755});
  chmodSync(d, 0o755);
  return d;
}

const self = processInfo(process.pid)!;

/**
A foreign holder that locks before it writes: a shell that opens `file` as fd 9, takes
flock(LOCK_EX) on it with flock(1), then runs `script` itself (`$0` is the file), so the
tracked pid is the lock holder.
*/
function flockHolder(file: string, script: string): ChildProcess {
  const child = spawn('sh', ['-c', `exec 9<>"$0"; flock -x 9; ${script}`, file], {
    stdio: 'ignore',
  });
  track(child.pid);
  return child;
}

async function until(condition: () => boolean, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }

    await sleep(5);
  }
}

/** Waits until someone holds the lock of `file` (readPidFile says locked). */
async function untilLocked(file: string): Promise<void> {
  await until(() => existsSync(file) && readPidFile(file)?.locked === true);
}

describe('claimPidFile', () => {
  it('writes pid, start time and boot id, and release removes the file', () => {
    const file = path.join(dir(), 'a.pid');
    const handle = claimPidFile(file, {data: {port: 8080, name: 'x'}});
    expect(handle).toMatchObject({
      path: file,
      pid: process.pid,
      startTime: self.startTime,
      bootId: self.bootId,
      created: true,
      tookOver: false,
      released: false,
    });
    expect(readFileSync(file, 'utf8')).toBe(
      `${process.pid}\n${self.startTime}\n${self.bootId}\n{"port":8080,"name":"x"}\n`,
    );
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(readPidFile(file)).toEqual({
      pid: process.pid,
      startTime: self.startTime,
      bootId: self.bootId,
      data: {port: 8080, name: 'x'},
      locked: true,
      alive: true,
    });
    // A second claim in the same process is refused too (another open file description).
    expect(() => claimPidFile(file)).toThrow(AlreadyRunningError);
    handle.release();
    expect(handle.released).toBe(true);
    expect(existsSync(file)).toBe(false);
    handle.release(); // idempotent
    expect(readPidFile(file)).toBeUndefined();
  });

  it('accepts relative paths and records the absolute one', () => {
    const d = dir();
    const cwd = process.cwd();
    process.chdir(d);
    try {
      const handle = claimPidFile('rel.pid');
      expect(handle.path).toBe(path.join(d, 'rel.pid'));
      expect(readPidFile('rel.pid')?.locked).toBe(true);
      process.chdir(cwd);
      handle.release(); // works after a chdir
      expect(existsSync(path.join(d, 'rel.pid'))).toBe(false);
    } finally {
      process.chdir(cwd);
    }
  });

  it('has exactly one owner per round among 8 racing processes (200 rounds, with takeovers)', async () => {
    const file = path.join(dir(), 'race.pid');
    const claimers: Claimer[] = [];
    for (let i = 0; i < 8; i++) {
      claimers.push(forkClaimer({mode: 'race', path: file}));
    }

    await Promise.all(
      claimers.map(async (c) => expect(await c.next()).toMatchObject({ready: true})),
    );
    let takeovers = 0;
    for (let round = 0; round < 200; round++) {
      // Barrier: every claimer gets the go message, then all replies are collected.
      for (const c of claimers) {
        c.send({cmd: 'claim', round});
      }

      const results = await Promise.all(claimers.map(async (c) => c.next()));
      const owners = results.filter((r) => r.owner === true);
      expect(owners, `round ${round}: ${JSON.stringify(results)}`).toHaveLength(1);
      const winner = owners[0]!;
      for (const r of results) {
        expect(r.round).toBe(round);
        if (r !== winner) {
          expect(r, `round ${round}`).toMatchObject({
            name: 'AlreadyRunningError',
            holderPid: winner.pid,
          });
        }
      }

      expect(readPidFile(file)).toMatchObject({pid: winner.pid, locked: true, alive: true});
      const index = claimers.findIndex((c) => c.pid === winner.pid);
      const owner = claimers[index]!;
      if (round % 25 === 24) {
        // The owner dies without releasing: the next round races over a stale file.
        owner.child.kill('SIGKILL');
        await owner.exited;
        claimers[index] = forkClaimer({mode: 'race', path: file});
        expect(await claimers[index].next()).toMatchObject({ready: true});
        expect(readPidFile(file)).toMatchObject({pid: winner.pid, locked: false, alive: false});
      } else {
        owner.send({cmd: 'release'});
        expect(await owner.next()).toEqual({released: true});
        expect(existsSync(file)).toBe(false);
      }

      if (round > 0 && round % 25 === 0) {
        expect(winner.tookOver, `round ${round}`).toBe(true);
        takeovers++;
      } else {
        expect(winner.tookOver, `round ${round}`).toBe(false);
      }
    }

    expect(takeovers).toBe(7);
    for (const c of claimers) {
      c.send({cmd: 'exit'});
    }

    await Promise.all(claimers.map(async (c) => c.exited));
  }, 120_000);

  it('takes over at once after the owner is SIGKILLed', async () => {
    const file = path.join(dir(), 'killed.pid');
    const holder = forkClaimer({mode: 'hold', path: file, data: {hello: 1}});
    expect(await holder.next()).toMatchObject({ready: true, owner: true, created: true});
    expect(() => claimPidFile(file)).toThrow(
      expect.objectContaining({
        name: 'AlreadyRunningError',
        code: 'EEXIST',
        path: file,
        holder: expect.objectContaining({pid: holder.pid, alive: true, data: {hello: 1}}),
      }),
    );
    holder.child.kill('SIGKILL');
    await holder.exited;
    const info = readPidFile(file);
    expect(info).toMatchObject({pid: holder.pid, locked: false, alive: false, data: {hello: 1}});
    const started = performance.now();
    const handle = claimPidFile(file);
    const elapsed = performance.now() - started;
    expect(handle.tookOver).toBe(true);
    expect(handle.created).toBe(false);
    expect(handle.previous).toMatchObject({pid: holder.pid, alive: false});
    expect(elapsed).toBeLessThan(100);
    expect(readPidFile(file)).toMatchObject({pid: process.pid, locked: true});
    handle.release();
  });

  it('takes over an unlocked file naming a live unrelated process', async () => {
    const file = path.join(dir(), 'foreign.pid');
    writeFileSync(file, `${process.pid}\n`); // a tool that does not lock, naming the test runner
    expect(readPidFile(file)).toMatchObject({pid: process.pid, locked: false, alive: true});
    const claimer = forkClaimer({mode: 'hold', path: file});
    expect(await claimer.next()).toMatchObject({
      owner: true,
      tookOver: true,
      previousPid: process.pid,
    });
    expect(readPidFile(file)).toMatchObject({pid: claimer.pid, locked: true, alive: true});
  });

  it('treats a file naming our pid with another start time as stale', () => {
    const file = path.join(dir(), 'reused.pid');
    writeFileSync(file, `${process.pid}\n${self.startTime! + 1}\n${self.bootId}\n`);
    expect(readPidFile(file)).toMatchObject({pid: process.pid, locked: false, alive: false});
    writeFileSync(file, `${process.pid}\n${self.startTime}\nanother-boot\n`);
    expect(readPidFile(file)).toMatchObject({pid: process.pid, locked: false, alive: false});
    writeFileSync(file, `${process.pid}\n${self.startTime}\n${self.bootId}\n`);
    expect(readPidFile(file)).toMatchObject({pid: process.pid, locked: false, alive: true});
    const handle = claimPidFile(file);
    expect(handle.tookOver).toBe(true);
    handle.release();
  });

  it('answers EAGAIN for a locked empty file and leaves it intact', async () => {
    const file = path.join(dir(), 'writing.pid');
    // Locks, pauses, then writes its pid (as pidfile(3) users do) while still holding the lock.
    flockHolder(file, 'sleep 1; echo $$ > "$0"; exec sleep 60');
    await untilLocked(file);
    const started = performance.now();
    let error: unknown;
    try {
      claimPidFile(file);
    } catch (e) {
      error = e;
    }

    expect(performance.now() - started).toBeLessThan(500);
    expect(error).toBeInstanceOf(PidFileError);
    expect(error).toMatchObject({code: 'EAGAIN', path: file});
    expect((error as Error).message).toContain(file);
    expect(lstatSync(file).size).toBe(0);
    expect(readPidFile(file)).toMatchObject({pid: undefined, locked: true, alive: true});
  });

  it('reads the holder once the locked file is written (pid only, no start time)', async () => {
    const file = path.join(dir(), 'written.pid');
    const holder = flockHolder(file, 'echo $$ > "$0"; exec sleep 60');
    await until(() => existsSync(file) && statSync(file).size > 0);
    await untilLocked(file);
    // `exec sleep` keeps the shell's pid, which holds the lock.
    const pid = Number(readFileSync(file, 'utf8').trim());
    expect(pid).toBe(holder.pid);
    expect(() => claimPidFile(file)).toThrow(
      expect.objectContaining({holder: expect.objectContaining({pid, alive: true})}),
    );
    expect(readPidFile(file)).toMatchObject({pid, startTime: undefined, locked: true, alive: true});
  });

  it('never calls a locked file with garbage contents dead', async () => {
    const file = path.join(dir(), 'garbage-locked.pid');
    const garbage = Buffer.from('not a pid at all\n\u0000\u00ff', 'latin1');
    writeFileSync(file, garbage);
    flockHolder(file, 'exec sleep 60');
    await untilLocked(file);
    expect(() => claimPidFile(file)).toThrow(
      expect.objectContaining({
        name: 'AlreadyRunningError',
        holder: expect.objectContaining({pid: undefined, alive: true}),
      }),
    );
    expect(readPidFile(file)).toMatchObject({pid: undefined, locked: true, alive: true});
    expect(readFileSync(file)).toEqual(garbage);
  });

  it('takes over unlocked files with garbage, huge, negative or non-numeric contents', () => {
    const d = dir();
    const contents = [
      '',
      '\n\n\n',
      '-5\n',
      '0\n',
      '+12\n',
      '99999999999999999999999999\n',
      '2147483648\n',
      'abc\n',
      '12abc\n',
      '1e3\n',
      '\u0000\u0000\u0000',
      randomBytes(4096),
      Buffer.alloc(1024 * 1024, '7'), // a huge "number"
      `1\n${'9'.repeat(100)}\n${'x'.repeat(100)}\n{not json\n`,
    ];
    for (const [index, content] of contents.entries()) {
      const file = path.join(d, `g${index}.pid`);
      writeFileSync(file, content);
      const info = readPidFile(file);
      expect(info?.locked, `contents #${index}`).toBe(false);
      const handle = claimPidFile(file);
      expect(handle.tookOver, `contents #${index}`).toBe(index >= 2);
      expect(readPidFile(file)).toMatchObject({pid: process.pid, locked: true});
      handle.release();
    }

    // Numbers that do parse: only fields that parse are reported.
    const file = path.join(d, 'partial.pid');
    writeFileSync(file, `1\n${'9'.repeat(100)}\n${'x'.repeat(100)}\n{not json\n`);
    expect(readPidFile(file)).toMatchObject({
      pid: 1,
      startTime: undefined,
      bootId: undefined,
      data: undefined,
    });
    writeFileSync(file, '  42  '); // a pid alone, blanks and no newline
    expect(readPidFile(file)).toMatchObject({pid: 42, startTime: undefined, locked: false});
  });

  it('parses any byte sequence without crashing', () => {
    const parse = nativeBinding()!.testing.parsePidFile;
    for (let i = 0; i < 5000; i++) {
      const length = i % 64;
      const buf = randomBytes(length);
      // Bias towards digits and newlines.
      for (let k = 0; k < length; k++) {
        if (buf[k]! % 3 === 0) {
          buf[k] = 0x30 + (buf[k]! % 10);
        } else if (buf[k]! % 7 === 0) {
          buf[k] = 0x0a;
        }
      }

      const r = parse(buf);
      if (r.pid !== undefined) {
        expect(Number.isInteger(r.pid) && r.pid > 0 && r.pid <= 2_147_483_647).toBe(true);
      }

      if (r.startTime !== undefined) {
        expect(Number.isSafeInteger(r.startTime)).toBe(true);
      }
    }

    expect(parse(Buffer.from('123\n456\nabc\n{"a":1}\n'))).toEqual({
      empty: false,
      pid: 123,
      startTime: 456,
      bootId: 'abc',
      data: '{"a":1}',
    });
    expect(parse(Buffer.from('123'))).toEqual({empty: false, pid: 123});
    expect(parse(Buffer.from('123\n456'))).toEqual({empty: false, pid: 123}); // being written
    expect(parse(Buffer.alloc(0))).toEqual({empty: true});
    expect(parse(Buffer.from(' \n\t\n'))).toEqual({empty: true});
    expect(() => (parse as (x: unknown) => unknown)('123')).toThrow(TypeError);
  });

  it('refuses a symlink at the path and leaves its target untouched', () => {
    const d = dir();
    const target = path.join(d, 'target.txt');
    writeFileSync(target, 'precious\n');
    const before = statSync(target);
    const link = path.join(d, 'link.pid');
    symlinkSync(target, link);
    expect(() => claimPidFile(link)).toThrow(
      expect.objectContaining({name: 'PidFileError', code: 'ELOOP', path: link}),
    );
    expect(() => readPidFile(link)).toThrow(expect.objectContaining({code: 'ELOOP'}));
    expect(readFileSync(target, 'utf8')).toBe('precious\n');
    expect(statSync(target).mtimeMs).toBe(before.mtimeMs);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    // A dangling symlink is refused too, and its target is not created.
    const dangling = path.join(d, 'dangling.pid');
    symlinkSync(path.join(d, 'nowhere'), dangling);
    expect(() => claimPidFile(dangling)).toThrow(expect.objectContaining({code: 'ELOOP'}));
    expect(existsSync(path.join(d, 'nowhere'))).toBe(false);
  });

  it('throws typed errors naming the path and the errno code', async () => {
    const d = dir();
    const cases: Array<[string, string]> = [
      [path.join(d, 'missing', 'x.pid'), 'ENOENT'],
      [d, 'EISDIR'],
      [path.join(d, 'x'.repeat(300) + '.pid'), 'ENAMETOOLONG'],
      ['/dev/null', 'EINVAL'],
    ];
    writeFileSync(path.join(d, 'file'), '');
    cases.push([path.join(d, 'file', 'x.pid'), 'ENOTDIR']);
    for (const [file, code] of cases) {
      let error: unknown;
      try {
        claimPidFile(file);
      } catch (e) {
        error = e;
      }

      expect(error, file).toBeInstanceOf(PidFileError);
      expect(error).toMatchObject({code, path: file});
      expect((error as Error).message).toContain(file);
      expect((error as Error).message).toContain(code);
    }

    expect(() => readPidFile(d)).toThrow(expect.objectContaining({code: 'EINVAL'}));
    expect(readPidFile(path.join(d, 'missing', 'x.pid'))).toBeUndefined();

    // An unwritable directory (root ignores modes: claim as nobody then).
    const locked = path.join(d, 'readonly');
    mkdirSync(locked, {mode: 0o555});
    chmodSync(locked, 0o555);
    const file = path.join(locked, 'x.pid');
    if (process.getuid?.() === 0) {
      const claimer = forkClaimer({mode: 'once', path: file}, {uid: 65_534, gid: 65_534});
      expect(await claimer.next()).toMatchObject({
        owner: false,
        name: 'PidFileError',
        code: 'EACCES',
      });
    } else {
      expect(() => claimPidFile(file)).toThrow(
        expect.objectContaining({code: 'EACCES', path: file}),
      );
    }

    expect(existsSync(file)).toBe(false);
  });

  it('explains filesystems without flock (NFS, some FUSE mounts)', () => {
    // The addon answers flock's own errno with syscall 'flock'; nothing is left behind.
    for (const [code, errno] of [
      ['ENOLCK', -37],
      ['EOPNOTSUPP', -95],
      ['EINVAL', -22],
    ] as const) {
      const error = pidFileError(
        Object.assign(new Error(`${code}: ..., flock`), {code, errno, syscall: 'flock'}),
        '/mnt/nfs/x.pid',
        'claim PID file',
      );
      expect(error).toMatchObject({
        name: 'PidFileError',
        code,
        errno,
        syscall: 'flock',
        path: '/mnt/nfs/x.pid',
      });
      expect(error.message).toContain("'/mnt/nfs/x.pid'");
      expect(error.message).toContain('does not support flock');
    }
  });

  it('validates its arguments', () => {
    const file = path.join(dir(), 'v.pid');
    const claim = claimPidFile as (...args: unknown[]) => unknown;
    expect(() => claim(123)).toThrow(
      new TypeError('Expected path to be a non-empty string, got 123'),
    );
    expect(() => claim(undefined)).toThrow(TypeError);
    expect(() => claim('')).toThrow(
      new RangeError("Expected path to be a non-empty string without NUL bytes, got ''"),
    );
    expect(() => claim('a\0b')).toThrow(RangeError);
    expect(() => claim(file, 5)).toThrow(
      new TypeError('Expected the options of claimPidFile to be an object, got 5'),
    );
    expect(() => claim(file, {date: 1})).toThrow(/Unknown option 'date' for claimPidFile/);
    expect(() => claim(file, {data: 1n})).toThrow(/Expected options.data to be JSON-serialisable/);
    expect(() => claim(file, {data: () => 1})).toThrow(
      /Expected options.data to be JSON-serialisable/,
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => claim(file, {data: cyclic})).toThrow(TypeError);
    expect(() => claim(file, {data: 'x'.repeat(20_000)})).toThrow(
      new RangeError(
        'Expected options.data to serialise to at most 16384 bytes of JSON, got 20002 bytes',
      ),
    );
    expect(() => (readPidFile as (x: unknown) => unknown)(null)).toThrow(
      new TypeError('Expected path to be a non-empty string, got null'),
    );
    expect(existsSync(file)).toBe(false);
    // Data with a newline inside a string is escaped by JSON: still one line.
    const handle = claimPidFile(file, {data: {text: 'a\nb'}});
    expect(readPidFile(file)?.data).toEqual({text: 'a\nb'});
    handle.release();
  });

  it('keeps native misuse from crashing', () => {
    const b = nativeBinding()! as unknown as Record<string, (...args: unknown[]) => unknown>;
    expect(() => b.pidfileClaim!()).toThrow(TypeError);
    expect(() => b.pidfileClaim!('/tmp/x', 1)).toThrow(TypeError);
    expect(() => b.pidfileClaim!('', '')).toThrow(TypeError);
    expect(() => b.pidfileClaim!(path.join(dir(), 'n.pid'), 'a\nb')).toThrow(TypeError);
    expect(() => b.pidfileRelease!('1')).toThrow(TypeError);
    expect(() => b.pidfileRelease!(-1)).toThrow(TypeError);
    // Only descriptors returned by pidfileClaim are released (never close a random fd).
    expect(() => b.pidfileRelease!(0)).toThrow(expect.objectContaining({code: 'EBADF'}));
    expect(() => b.pidfileRead!(5)).toThrow(TypeError);
  });

  it('releases the files of a worker thread when it exits', async () => {
    const file = path.join(dir(), 'worker.pid');
    const worker = new Worker(
      `
      const {parentPort, workerData} = require('node:worker_threads');
      import(workerData.url).then(({claimPidFile}) => {
        const h = claimPidFile(workerData.file);
        parentPort.postMessage({pid: h.pid});
        setInterval(() => {}, 1000); // hold it until terminated
      });
      `,
      {eval: true, workerData: {file, url: `file://${packageRoot}/dist/index.js`}},
    );
    const message = await new Promise((resolve) => worker.once('message', resolve));
    expect(message).toEqual({pid: process.pid});
    expect(readPidFile(file)).toMatchObject({pid: process.pid, locked: true});
    // The worker's claim excludes this thread too: one process, one claim per file.
    expect(() => claimPidFile(file)).toThrow(AlreadyRunningError);
    await worker.terminate();
    // The addon's per-environment state releases it (unlinked while locked, then closed).
    await until(() => !existsSync(file));
    const handle = claimPidFile(file);
    handle.release();
  });
});

describe('readPidFile', () => {
  it('returns undefined when there is no file', () => {
    expect(readPidFile(path.join(dir(), 'none.pid'))).toBeUndefined();
  });

  it('tells locked from unlocked without taking the file', async () => {
    const file = path.join(dir(), 'r.pid');
    const holder = forkClaimer({mode: 'hold', path: file});
    await holder.next();
    for (let i = 0; i < 50; i++) {
      expect(readPidFile(file)).toMatchObject({pid: holder.pid, locked: true, alive: true});
    }

    holder.child.kill('SIGKILL');
    await holder.exited;
    expect(readPidFile(file)).toMatchObject({pid: holder.pid, locked: false, alive: false});
    // Reading does not take it: the stale file is still there for the next claimer.
    expect(existsSync(file)).toBe(true);
  });
});
