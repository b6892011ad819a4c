import {fork, spawn} from 'node:child_process';
import {mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, describe, expect, it} from 'vitest';
import {probeUnixSocket, probeUnixSocketSync, type UnixSocketReport} from '../src/index.js';
import {fixtures, startListener, track} from './helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'portwarden-unix-'));
afterAll(() => rmSync(dir, {recursive: true, force: true}));
let counter = 0;
const socketPath = () => path.join(dir, `s${++counter}.sock`);

/** Binds a unix datagram socket (Node has none) with python; resolves with its pid. */
async function pythonDatagram(address: string): Promise<number> {
  const py = spawn(
    'python3',
    [
      '-c',
      'import socket,sys,time\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\na=sys.argv[1]\ns.bind(a.replace("@","\\0",1).encode() if a.startswith("@") else a)\nprint("ready",flush=True)\ntime.sleep(60)',
      address,
    ],
    {stdio: ['ignore', 'pipe', 'inherit']},
  );
  track(py.pid);
  await new Promise((resolve, reject) => {
    py.stdout.once('data', resolve);
    py.once('exit', (code) => reject(new Error(`python exited with ${code}`)));
  });
  return py.pid!;
}

async function both(target: string): Promise<UnixSocketReport[]> {
  return [probeUnixSocketSync(target), await probeUnixSocket(target)];
}

describe('probeUnixSocket', () => {
  it('finds a listener on a path with its pid', async () => {
    const target = socketPath();
    const l = await startListener({kind: 'unix', path: target});
    for (const report of await both(target)) {
      expect(report).toMatchObject({path: target, exists: true, isSocket: true, backend: 'native'});
      expect(report.elapsedMs).toBeGreaterThanOrEqual(0);
      expect(report.sockets).toHaveLength(1);
      const [socket] = report.sockets;
      expect(socket).toMatchObject({type: 'stream', state: 'LISTEN', name: target});
      expect(socket!.inode).toBeGreaterThan(0);
      expect(socket!.owner).toMatchObject({status: 'found', processes: [{pid: l.pid, uid: 0}]});
    }
  });

  it('matches the socket by its file: a relative path and a symlink find the same listener', async () => {
    const target = socketPath();
    const l = await startListener({kind: 'unix', path: target});
    const link = path.join(dir, 'link.sock');
    symlinkSync(target, link);
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const relative = probeUnixSocketSync(path.basename(target));
      expect(relative.sockets.map((s) => s.owner)).toMatchObject([
        {status: 'found', processes: [{pid: l.pid}]},
      ]);
    } finally {
      process.chdir(cwd);
    }

    const viaLink = probeUnixSocketSync(link);
    expect(viaLink.sockets).toHaveLength(1);
    expect(viaLink.sockets[0]!.name).toBe(target); // the name the listener bound
  });

  it('finds every holder of a listener shared with a forked grandchild', async () => {
    const target = socketPath();
    const l = await startListener({kind: 'unix', path: target, forkHolder: true});
    expect(l.holderPid).toBeGreaterThan(0);
    for (const report of await both(target)) {
      expect(report.sockets).toHaveLength(1);
      const owner = report.sockets[0]!.owner;
      expect(owner.status === 'found' && owner.processes.map((p) => p.pid)).toEqual(
        [l.pid, l.holderPid!].sort((a, b) => a - b),
      );
    }
  });

  it('finds an abstract socket by its @name', async () => {
    const name = `portwarden-test-${process.pid}-${Date.now()}`;
    const child = fork(
      path.join(fixtures, 'listener.mjs'),
      [JSON.stringify({kind: 'unix', path: `\0${name}`})],
      {stdio: ['ignore', 'inherit', 'inherit', 'ipc']},
    );
    track(child.pid);
    await new Promise((resolve) => child.once('message', resolve));
    for (const report of await both(`@${name}`)) {
      expect(report).toMatchObject({path: `@${name}`, exists: true, isSocket: true});
      expect(report.sockets).toHaveLength(1);
      expect(report.sockets[0]).toMatchObject({
        type: 'stream',
        state: 'LISTEN',
        name: `@${name}`,
        owner: {status: 'found', processes: [{pid: child.pid}]},
      });
    }

    // Another abstract name, and a prefix of this one, find nothing.
    expect(probeUnixSocketSync(`@${name}-other`).sockets).toEqual([]);
    expect(probeUnixSocketSync(`@${name.slice(0, -1)}`).sockets).toEqual([]);
    child.kill('SIGKILL');
  });

  it('finds an abstract name bound with its exact length (not padded like Node)', async () => {
    const name = `@portwarden-exact-${process.pid}`;
    const pid = await pythonDatagram(name);
    for (const report of await both(name)) {
      expect(report.sockets).toHaveLength(1);
      expect(report.sockets[0]).toMatchObject({
        type: 'dgram',
        state: 'UNCONN',
        name,
        owner: {status: 'found', processes: [{pid}]},
      });
    }
  });

  it('finds a bound datagram socket as UNCONN', async () => {
    const target = socketPath();
    const pid = await pythonDatagram(target);
    for (const report of await both(target)) {
      expect(report.sockets).toHaveLength(1);
      expect(report.sockets[0]).toMatchObject({
        type: 'dgram',
        state: 'UNCONN',
        name: target,
        owner: {status: 'found', processes: [{pid}]},
      });
    }
  });

  it("finds the empty abstract name ('@')", async () => {
    const pid = await pythonDatagram('@');
    const report = probeUnixSocketSync('@');
    const mine = report.sockets.filter(
      (s) => s.owner.status === 'found' && s.owner.processes.some((p) => p.pid === pid),
    );
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({type: 'dgram', name: '@'});
  });

  it('reports a stale socket file with no listener', async () => {
    const target = socketPath();
    const l = await startListener({kind: 'unix', path: target});
    l.child.kill('SIGKILL'); // no chance to unlink the file
    await l.exited;
    for (const report of await both(target)) {
      expect(report).toMatchObject({path: target, exists: true, isSocket: true, sockets: []});
    }
  });

  it('reports a path that does not exist', async () => {
    for (const target of [path.join(dir, 'missing.sock'), path.join(dir, 'no-dir', 'x.sock')]) {
      for (const report of await both(target)) {
        expect(report).toMatchObject({path: target, exists: false, isSocket: false, sockets: []});
      }
    }
  });

  it('reports a regular file (and a path through it) as not a socket', async () => {
    const file = path.join(dir, 'plain.txt');
    writeFileSync(file, 'x');
    for (const report of await both(file)) {
      expect(report).toMatchObject({exists: true, isSocket: false, sockets: []});
    }

    expect(probeUnixSocketSync(dir)).toMatchObject({exists: true, isSocket: false, sockets: []});
    // ENOTDIR: a path component is a file.
    expect(probeUnixSocketSync(path.join(file, 'x.sock'))).toMatchObject({exists: false});
  });

  it('an abstract name nobody bound has no sockets', async () => {
    for (const report of await both(`@portwarden-nobody-${process.pid}`)) {
      expect(report).toMatchObject({exists: true, isSocket: true, sockets: []});
    }
  });
});

describe('probeUnixSocket input validation', () => {
  const long = '/tmp/' + 'x'.repeat(103); // 108 bytes
  const cases: Array<[unknown, typeof TypeError | typeof RangeError, string]> = [
    ['', RangeError, "''"],
    [long, RangeError, `'${long}'`],
    ['/tmp/' + 'é'.repeat(52), RangeError, '(109 bytes)'], // 57 chars but 109 bytes
    ['/tmp/a\0b', RangeError, "'/tmp/a\\x00b'"],
    [undefined, TypeError, 'undefined'],
    [null, TypeError, 'null'],
    [42, TypeError, '42'],
    [Buffer.from('/tmp/x'), TypeError, 'Buffer'],
    [{path: '/tmp/x'}, TypeError, "{ path: '/tmp/x' }"],
  ];
  for (const [value, ErrorType, shown] of cases) {
    const label = typeof value === 'string' ? JSON.stringify(value.slice(0, 20)) : String(value);
    it(`rejects ${label} with ${ErrorType.name} naming path and the value`, async () => {
      expect(() => probeUnixSocketSync(value as string)).toThrow(ErrorType);
      expect(() => probeUnixSocketSync(value as string)).toThrow(/Expected path to be/);
      expect(() => probeUnixSocketSync(value as string)).toThrow(shown);
      await expect(probeUnixSocket(value as string)).rejects.toThrow(ErrorType);
      await expect(probeUnixSocket(value as string)).rejects.toThrow(shown);
    });
  }

  it('accepts a path of exactly 107 bytes', () => {
    const exact = '/tmp/' + 'y'.repeat(102);
    expect(Buffer.byteLength(exact)).toBe(107);
    expect(probeUnixSocketSync(exact)).toMatchObject({exists: false, sockets: []});
  });
});
