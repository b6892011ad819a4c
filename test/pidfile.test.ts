import {type ChildProcess, spawn, spawnSync} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {Worker} from 'node:worker_threads';
import {afterAll, describe, expect, it} from 'vitest';
import {
  AlreadyRunningError,
  claimPidFile,
  clearStopping,
  isStopping,
  markStopping,
  PidFileError,
  processInfo,
  readPidFile,
  readStopping,
} from '../src/index.js';
import {nativeBinding, packageRoot} from '../src/native.js';
import {pidFileError} from '../src/errors.js';
import {type Claimer, forkClaimer} from './claimer.js';
import {distEntry, runAsNobody, runNode, sleep, track} from './helpers.js';
import {testingExports} from './testing-exports.js';

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

type Snapshot = {bytes: Buffer; ino: bigint; uid: number; mode: number; mtimeNs: bigint};

/**
Moves the file's mtime a year into the past (so that any write would show), then records
its bytes, inode, owner, mode and mtime.
*/
function snapshot(file: string): Snapshot {
  const past = new Date(Date.now() - 365 * 24 * 3600 * 1000);
  utimesSync(file, past, past);
  const st = lstatSync(file, {bigint: true});
  return {
    bytes: readFileSync(file),
    ino: st.ino,
    uid: Number(st.uid),
    mode: Number(st.mode),
    mtimeNs: st.mtimeNs,
  };
}

/** The file is byte for byte what `snapshot` saw, the same inode, owner, mode and mtime. */
function expectUnchanged(file: string, before: Snapshot): void {
  const st = lstatSync(file, {bigint: true});
  const bytes = readFileSync(file);
  if (before.bytes.length <= 4096) {
    expect(bytes.toString('latin1'), file).toBe(before.bytes.toString('latin1'));
  } else {
    expect(bytes.equals(before.bytes), file).toBe(true); // a deep toEqual takes seconds
  }

  expect({ino: st.ino, uid: Number(st.uid), mode: Number(st.mode), mtimeNs: st.mtimeNs}).toEqual({
    ino: before.ino,
    uid: before.uid,
    mode: before.mode,
    mtimeNs: before.mtimeNs,
  });
}

/** Claims and returns the error (fails the test if the claim succeeds). */
function claimError(file: string, options?: {force?: boolean}): unknown {
  try {
    claimPidFile(file, options).release();
  } catch (error) {
    return error;
  }

  throw new Error(`claimPidFile(${file}) succeeded`);
}

/** A `sleep 60` (tracked): a live process that knows nothing of PID files. */
function sleeper(): ChildProcess & {pid: number} {
  const child = spawn('sleep', ['60'], {stdio: 'ignore'});
  track(child.pid);
  return child as ChildProcess & {pid: number};
}

/** The state letter of /proc/`pid`/stat ('Z' for a zombie), `undefined` when there is none. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2];
  } catch {
    return undefined;
  }
}

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const {pid, status} = spawnSync('true');
  expect(status).toBe(0);
  return pid!;
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
        holder: expect.objectContaining({
          pid: holder.pid,
          alive: true,
          locked: true,
          data: {hello: 1},
        }),
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

  it('treats a file naming our pid with another start time as stale', () => {
    const file = path.join(dir(), 'reused.pid');
    writeFileSync(file, `${process.pid}\n${self.startTime! + 1}\n${self.bootId}\n`);
    expect(readPidFile(file)).toMatchObject({pid: process.pid, locked: false, alive: false});
    writeFileSync(file, `${process.pid}\n${self.startTime}\nanother-boot\n`);
    expect(readPidFile(file)).toMatchObject({pid: process.pid, locked: false, alive: false});
    // Naming this very process, unlocked: no claim of ours holds it (a worker thread that
    // ended, say), so this process takes it over.
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

  it('leaves unlocked files with garbage, huge, negative or non-numeric contents alone unless forced', () => {
    const d = dir();
    const contents = [
      '-5\n',
      '0\n',
      '+12\n',
      '99999999999999999999999999\n',
      '2147483648\n',
      'abc\n',
      '12abc\n',
      '1e3\n',
      '\n42\n', // the pid is not on the first line
      '\u0000\u0000\u0000',
      randomBytes(4096),
      Buffer.alloc(1024 * 1024, '7'), // a huge "number"
    ];
    for (const [index, content] of contents.entries()) {
      const file = path.join(d, `g${index}.pid`);
      writeFileSync(file, content);
      const before = snapshot(file);
      expect(readPidFile(file), `contents #${index}`).toMatchObject({
        pid: undefined,
        locked: false,
        alive: false,
      });
      let error: unknown;
      try {
        claimPidFile(file);
      } catch (e) {
        error = e;
      }

      expect(error, `contents #${index}`).toBeInstanceOf(PidFileError);
      expect(error).toMatchObject({code: 'EBADMSG', path: file});
      expect((error as Error).message).toContain(file);
      expect((error as Error).message).toContain('not a PID file this package can read');
      expect((error as Error).message).toContain('left untouched');
      expectUnchanged(file, before);
      const handle = claimPidFile(file, {force: true});
      expect(handle.tookOver, `contents #${index}`).toBe(true);
      expect(handle.previous).toMatchObject({pid: undefined, alive: false, locked: false});
      expect(readPidFile(file)).toMatchObject({pid: process.pid, locked: true});
      handle.release();
    }

    // Empty or blank (a crash between create and write): stale, taken over without force.
    for (const content of ['', '\n\n\n', ' \t\n']) {
      const file = path.join(d, 'blank.pid');
      writeFileSync(file, content);
      const handle = claimPidFile(file);
      expect(handle).toMatchObject({created: false, tookOver: false, previous: undefined});
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
    const parse = testingExports().parsePidFile;
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
    expect(() => claim(file, {force: 'yes'})).toThrow(
      new TypeError("Expected options.force to be a boolean, got 'yes'"),
    );
    expect(() => claim(file, {force: 1})).toThrow(
      new TypeError('Expected options.force to be a boolean, got 1'),
    );
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
    // Each guard names the function, the argument and the value (node's error codes).
    const misuse = (call: () => unknown, ErrorClass: typeof Error, message: string) => {
      expect(call).toThrow(ErrorClass);
      expect(call).toThrow(message);
    };
    misuse(
      () => b.pidfileClaim!('', ''),
      RangeError,
      "pidfileClaim: expected path to be a non-empty string without NUL, got ''",
    );
    misuse(
      () => b.pidfileClaim!(path.join(dir(), 'n.pid'), 'a\nb'),
      RangeError,
      "pidfileClaim: expected data to be a string of 0 to 16384 bytes without NUL or newline, got 'a\\nb'",
    );
    misuse(
      () => b.pidfileClaim!(path.join(dir(), 'n.pid'), '', 'yes'),
      TypeError,
      "pidfileClaim: expected force to be a boolean, got 'yes'",
    );
    expect(() => b.pidfileRelease!('1')).toThrow(TypeError);
    expect(() => b.pidfileRelease!(-1)).toThrow(RangeError);
    // Only descriptors returned by pidfileClaim are released (never close a random fd).
    expect(() => b.pidfileRelease!(0)).toThrow(expect.objectContaining({code: 'EBADF'}));
    expect(() => b.pidfileRead!(5)).toThrow(TypeError);
  });

  it('closes, but never removes, the file of a worker thread that ends (stale: this process takes it over)', async () => {
    const file = path.join(dir(), 'worker.pid');
    const worker = new Worker(
      `
      const {parentPort, workerData} = require('node:worker_threads');
      import(workerData.url).then(({claimPidFile}) => {
        const h = claimPidFile(workerData.file);
        parentPort.postMessage({pid: h.pid});
        parentPort.once('message', () => parentPort.close()); // then the worker ends
      });
      `,
      {eval: true, workerData: {file, url: `file://${packageRoot}/dist/index.js`}},
    );
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    const message = await new Promise((resolve) => worker.once('message', resolve));
    expect(message).toEqual({pid: process.pid});
    expect(readPidFile(file)).toMatchObject({pid: process.pid, locked: true});
    // The worker's claim excludes this thread too: one process, one claim per file.
    expect(() => claimPidFile(file)).toThrow(AlreadyRunningError);
    const bytes = readFileSync(file);
    worker.postMessage('end');
    expect(await exited).toBe(0);
    // The addon's per-environment state closed the descriptor (the lock is gone) and left
    // the file as it was.
    expect(readFileSync(file)).toEqual(bytes);
    expect(readPidFile(file)).toMatchObject({pid: process.pid, locked: false});
    // Another process cannot prove this process gone, so it leaves the file alone...
    const other = forkClaimer({mode: 'once', path: file});
    expect(await other.next()).toMatchObject({
      owner: false,
      name: 'AlreadyRunningError',
      holderPid: process.pid,
    });
    expect(readFileSync(file)).toEqual(bytes);
    // ...while this process knows it holds no claim on it: stale, taken over.
    const handle = claimPidFile(file);
    expect(handle).toMatchObject({tookOver: true, previous: {pid: process.pid, locked: false}});
    expect(readPidFile(file)).toMatchObject({pid: process.pid, locked: true});
    handle.release();
    expect(existsSync(file)).toBe(false);
  });
});

describe('readPidFile', () => {
  it('returns undefined when there is no file', () => {
    expect(readPidFile(path.join(dir(), 'none.pid'))).toBeUndefined();
  });

  it('answers a missing directory with undefined and a path through a file with ENOTDIR, as the stopping sentinel does', () => {
    const d = dir();
    const missing = path.join(d, 'missing', 'x.pid');
    expect(readPidFile(missing)).toBeUndefined();
    expect(isStopping(missing)).toBe(false);
    expect(readStopping(missing)).toBeUndefined();
    expect(clearStopping(missing)).toBe(false);

    writeFileSync(path.join(d, 'file'), 'x');
    const through = path.join(d, 'file', 'x.pid');
    const calls = {
      readPidFile: () => readPidFile(through),
      claimPidFile: () => claimPidFile(through),
      isStopping: () => isStopping(through),
      readStopping: () => readStopping(through),
      clearStopping: () => clearStopping(through),
      markStopping: () => markStopping(through),
    };
    for (const [name, call] of Object.entries(calls)) {
      let error: unknown;
      try {
        call();
      } catch (e) {
        error = e;
      }

      expect(error, name).toBeInstanceOf(PidFileError);
      expect(error, name).toMatchObject({code: 'ENOTDIR', path: through});
    }

    expect(readFileSync(path.join(d, 'file'), 'utf8')).toBe('x');
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

describe('foreign PID files (unlocked, written by daemons that do not lock)', () => {
  it('refuses a plain-pid file naming a live process, whatever its blanks, and leaves it unchanged', async () => {
    const d = dir();
    const live = sleeper();
    const variants = [
      `${live.pid}`,
      `${live.pid}\n`,
      `  ${live.pid}  \n`,
      `\t${live.pid}\r\n`,
      ` ${live.pid}`,
      `${live.pid}\n\n`,
    ];
    for (const [index, content] of variants.entries()) {
      const file = path.join(d, `live${index}.pid`);
      writeFileSync(file, content);
      const before = snapshot(file);
      expect(readPidFile(file), JSON.stringify(content)).toMatchObject({
        pid: live.pid,
        startTime: undefined,
        locked: false,
        alive: true,
      });
      const error = claimError(file);
      expect(error, JSON.stringify(content)).toBeInstanceOf(AlreadyRunningError);
      expect(error).toMatchObject({
        code: 'EEXIST',
        path: file,
        holder: {pid: live.pid, startTime: undefined, locked: false, alive: true},
      });
      expect((error as Error).message).toContain(`held by pid ${live.pid}`);
      expect((error as Error).message).toContain('does not lock it; left untouched');
      expectUnchanged(file, before);
      // The refusal dropped its momentary lock: the next claimer judges the same.
      expect(claimError(file)).toBeInstanceOf(AlreadyRunningError);
      expectUnchanged(file, before);
    }

    // From another process too.
    const file = path.join(d, 'live1.pid');
    const before = snapshot(file);
    const claimer = forkClaimer({mode: 'once', path: file});
    expect(await claimer.next()).toMatchObject({
      owner: false,
      name: 'AlreadyRunningError',
      holderPid: live.pid,
    });
    expectUnchanged(file, before);
    // pid 1 (init) runs; a file naming it, even with unreadable later lines, is held.
    const init = path.join(d, 'init.pid');
    writeFileSync(init, `1\n${'9'.repeat(100)}\n${'x'.repeat(100)}\n{not json\n`);
    const initBefore = snapshot(init);
    expect(claimError(init)).toMatchObject({
      name: 'AlreadyRunningError',
      holder: {pid: 1, startTime: undefined, locked: false, alive: true},
    });
    expectUnchanged(init, initBefore);
  });

  it('takes over a live foreign file only with force, without touching the process', () => {
    const live = sleeper();
    const file = path.join(dir(), 'forced.pid');
    writeFileSync(file, `${live.pid}\n`);
    const handle = claimPidFile(file, {force: true});
    expect(handle).toMatchObject({
      created: false,
      tookOver: true,
      previous: {pid: live.pid, startTime: undefined, alive: true, locked: false},
    });
    expect(readPidFile(file)).toMatchObject({pid: process.pid, locked: true, alive: true});
    expect(processInfo(live.pid)).toBeDefined(); // force never signals anyone
    handle.release();
    expect(existsSync(file)).toBe(false);
  });

  it('takes over plain-pid files naming a process that is gone (exited, or a zombie)', async () => {
    const d = dir();
    const dead = deadPid();
    for (const [index, content] of [`${dead}`, `${dead}\n`, `  ${dead}\t\n`].entries()) {
      const file = path.join(d, `dead${index}.pid`);
      writeFileSync(file, content);
      expect(readPidFile(file)).toMatchObject({pid: dead, locked: false, alive: false});
      const handle = claimPidFile(file);
      expect(handle).toMatchObject({tookOver: true, previous: {pid: dead, alive: false}});
      expect(readPidFile(file)).toMatchObject({pid: process.pid, locked: true});
      handle.release();
    }

    if (process.platform !== 'linux') {
      return;
    }

    // A zombie: `sleep 0.2` exits under a parent (the exec'd `sleep 60`) that never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 0.2 & echo $!; exec sleep 60'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    track(parent.pid);
    const zombie = await new Promise<number>((resolve) =>
      parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
    );
    await until(() => procState(zombie) === 'Z');
    const file = path.join(d, 'zombie.pid');
    writeFileSync(file, `${zombie}\n`);
    expect(readPidFile(file)).toMatchObject({pid: zombie, locked: false, alive: false});
    const handle = claimPidFile(file);
    expect(handle).toMatchObject({tookOver: true, previous: {pid: zombie, alive: false}});
    handle.release();
  });

  it('judges a record in our format by start time and boot id (a reused pid is gone)', () => {
    const d = dir();
    const live = sleeper();
    const info = processInfo(live.pid)!;
    const reused = [
      `${live.pid}\n${info.startTime! + 1}\n${self.bootId}\n`, // pid reused by `sleep`
      `${live.pid}\n${info.startTime}\nanother-boot\n`, // written before a reboot
      `${process.pid}\n${self.startTime! + 1}\n${self.bootId}\n{"a":1}\n`, // our pid, reused
    ];
    for (const [index, content] of reused.entries()) {
      const file = path.join(d, `reused${index}.pid`);
      writeFileSync(file, content);
      expect(readPidFile(file)).toMatchObject({locked: false, alive: false});
      const handle = claimPidFile(file);
      expect(handle, `record #${index}`).toMatchObject({tookOver: true, previous: {alive: false}});
      handle.release();
    }

    // The same identity: the process it names runs (its owner closed it without unlocking
    // it... or a tool that copies our format): held, untouched.
    const file = path.join(d, 'same.pid');
    writeFileSync(file, `${live.pid}\n${info.startTime}\n${self.bootId}\n`);
    const before = snapshot(file);
    expect(claimError(file)).toMatchObject({
      name: 'AlreadyRunningError',
      holder: {pid: live.pid, startTime: info.startTime, locked: false, alive: true},
    });
    expectUnchanged(file, before);
  });

  it('refuses garbage unless forced, and takes over empty files', () => {
    const d = dir();
    for (const [index, content] of ['not a pid\n', 'PID=1234\n', '{"pid": 1234}\n'].entries()) {
      const file = path.join(d, `garbage${index}.pid`);
      writeFileSync(file, content);
      const before = snapshot(file);
      expect(claimError(file)).toMatchObject({name: 'PidFileError', code: 'EBADMSG', path: file});
      expectUnchanged(file, before);
      // force never means "locked too"; here nothing holds it: taken over.
      const handle = claimPidFile(file, {force: true});
      expect(handle).toMatchObject({tookOver: true, previous: {pid: undefined, locked: false}});
      handle.release();
    }

    const empty = path.join(d, 'empty.pid');
    writeFileSync(empty, '');
    const handle = claimPidFile(empty);
    expect(handle).toMatchObject({created: false, tookOver: false});
    expect(readFileSync(empty, 'utf8')).toBe(`${process.pid}\n${self.startTime}\n${self.bootId}\n`);
    handle.release();
  });

  it('force never takes a locked file', async () => {
    const file = path.join(dir(), 'locked.pid');
    const holder = flockHolder(file, 'echo $$ > "$0"; exec sleep 60');
    await until(() => existsSync(file) && statSync(file).size > 0);
    await untilLocked(file);
    const before = snapshot(file);
    expect(claimError(file, {force: true})).toMatchObject({
      name: 'AlreadyRunningError',
      holder: {pid: holder.pid, locked: true, alive: true},
    });
    expectUnchanged(file, before);
  });

  it.runIf(process.getuid?.() === 0)(
    "refuses another user's file naming a live process (as root too); its owner is judged the same",
    async () => {
      const d = dir();
      const live = sleeper();
      const file = path.join(d, 'nobody.pid');
      writeFileSync(file, `${live.pid}\n`);
      chownSync(file, 65_534, 65_534);
      const before = snapshot(file);
      expect(claimError(file)).toMatchObject({
        name: 'AlreadyRunningError',
        holder: {pid: live.pid, locked: false, alive: true},
      });
      expectUnchanged(file, before);
      const result = await runAsNobody(`
        const {claimPidFile} = await import(${JSON.stringify(distEntry)});
        try { claimPidFile(${JSON.stringify(file)}); console.log('{"claimed":true}'); }
        catch (e) { console.log(JSON.stringify({name: e.name, code: e.code, holder: e.holder})); }
      `);
      expect(result).toMatchObject({
        name: 'AlreadyRunningError',
        holder: {pid: live.pid, locked: false, alive: true},
      });
      expectUnchanged(file, before);
    },
  );

  it.runIf(process.getuid?.() === 0)(
    'as a user who cannot write the directory or the file: EACCES, the file unchanged',
    async () => {
      const d = dir(); // root-owned, 0755
      const stale = path.join(d, 'stale.pid');
      writeFileSync(stale, `${deadPid()}\n`);
      const live = path.join(d, 'live.pid');
      writeFileSync(live, `${sleeper().pid}\n`);
      const before = [snapshot(stale), snapshot(live)];
      const absent = path.join(d, 'absent.pid');
      const result = await runAsNobody(`
        const {claimPidFile} = await import(${JSON.stringify(distEntry)});
        const out = [];
        for (const file of ${JSON.stringify([stale, live, absent])}) {
          for (const force of [false, true]) {
            try { claimPidFile(file, {force}); out.push({claimed: file}); }
            catch (e) { out.push({name: e.name, code: e.code, path: e.path}); }
          }
        }
        console.log(JSON.stringify(out));
      `);
      expect(result).toEqual(
        [stale, stale, live, live, absent, absent].map((file) => ({
          name: 'PidFileError',
          code: 'EACCES',
          path: file,
        })),
      );
      expectUnchanged(stale, before[0]!);
      expectUnchanged(live, before[1]!);
      expect(existsSync(absent)).toBe(false);
    },
  );
});

describe('environment teardown', () => {
  it('keeps a handed-over file when the launcher exits normally: the child holds it', async () => {
    const file = path.join(dir(), 'handed.pid');
    const {launcher, daemon} = await runNode<{launcher: number; daemon: number}>(`
      import {spawn} from 'node:child_process';
      const {claimPidFile} = await import(${JSON.stringify(distEntry)});
      const h = claimPidFile(${JSON.stringify(file)});
      const child = spawn('sleep', ['60'], {stdio: ['ignore', 'ignore', 'ignore', h.fd], detached: true});
      child.unref();
      h.handOver(child.pid);
      console.log(JSON.stringify({launcher: process.pid, daemon: child.pid}));
    `);
    track(daemon);
    expect(daemon).not.toBe(launcher);
    // The launcher's teardown closed its descriptor; the daemon's keeps the lock.
    expect(existsSync(file)).toBe(true);
    expect(readPidFile(file)).toMatchObject({pid: daemon, locked: true, alive: true});
    const before = snapshot(file);
    expect(claimError(file)).toMatchObject({
      name: 'AlreadyRunningError',
      holder: {pid: daemon, locked: true, alive: true},
    });
    expect(claimError(file, {force: true})).toBeInstanceOf(AlreadyRunningError);
    expectUnchanged(file, before);

    process.kill(daemon, 'SIGKILL');
    await until(() => readPidFile(file)?.locked === false);
    const handle = claimPidFile(file);
    expect(handle).toMatchObject({tookOver: true, previous: {pid: daemon, alive: false}});
    handle.release();
  });

  it('keeps a file still claimed at exit (closed, not removed): stale once the process is gone', async () => {
    const file = path.join(dir(), 'kept.pid');
    const {launcher} = await runNode<{launcher: number}>(`
      const {claimPidFile} = await import(${JSON.stringify(distEntry)});
      claimPidFile(${JSON.stringify(file)});
      console.log(JSON.stringify({launcher: process.pid}));
    `);
    expect(existsSync(file)).toBe(true);
    expect(readPidFile(file)).toMatchObject({pid: launcher, locked: false, alive: false});
    const handle = claimPidFile(file);
    expect(handle).toMatchObject({tookOver: true, previous: {pid: launcher, alive: false}});
    handle.release();
  });
});
