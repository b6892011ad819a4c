// listenTarget() in a real child that inherited real descriptors at fd 3, 4 with the
// socket-activation variables set the way systemd sets them (test/fixtures/pass-fds.py
// makes the descriptors, dup2s them into place and execs node, so LISTEN_PID is the
// server's own pid).
import {spawn} from 'node:child_process';
import dgram from 'node:dgram';
import {writeFileSync} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {afterEach, describe, expect, test} from 'vitest';
import {listenTarget, ListenTargetError} from '../src/index.js';
import {fixtures, tempDir, track} from './helpers.js';
import {testPort} from './ports.js';

type Fd =
  | {kind: 'tcp' | 'tcp-bound' | 'udp'; port: number; host?: string}
  | {kind: 'pipe'}
  | {kind: 'file' | 'unix'; path: string};

type Outcome = {
  target?: {fd?: number; port?: number; host?: string};
  address?: {port: number; address: string};
  error?: {name: string; code: string; message: string; found: unknown[]};
};

/** Starts the fixture with `fds` passed in; resolves with its first JSON line. */
async function inherit(
  fds: Fd[],
  port: number,
  options: Record<string, unknown> = {},
  extra: {listenPid?: 'self' | 'parent' | 'unset'; names?: string; listenFds?: string} = {},
): Promise<Outcome & {pid: number}> {
  const child = spawn(
    'python3',
    [
      path.join(fixtures, 'pass-fds.py'),
      JSON.stringify({fds, listenPid: extra.listenPid ?? 'self', ...extra}),
      process.execPath,
      path.join(fixtures, 'listen-target.mjs'),
      String(port),
      JSON.stringify(options),
    ],
    {stdio: ['ignore', 'pipe', 'inherit']},
  );
  track(child.pid);
  let out = '';
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) {
        resolve(out.slice(0, out.indexOf('\n')));
      }
    });
    child.once('exit', (code) => reject(new Error(`fixture exited with ${code}: ${out}`)));
  });
  return {...(JSON.parse(line) as Outcome), pid: child.pid!};
}

async function fetchPid(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({port, host});
    let data = '';
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

const saved = {...process.env};
afterEach(() => {
  for (const key of ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES']) {
    if (saved[key] === undefined) {
      delete process.env[key];
    } else {
      process.env[key] = saved[key];
    }
  }
});

describe('listenTarget with an inherited socket', () => {
  test('a TCP listener on the port: {fd: 3}, and the server accepts through it', async () => {
    const port = testPort();
    const r = await inherit([{kind: 'tcp', port}], port);
    expect(r.error).toBeUndefined();
    expect(r.target).toEqual({fd: 3});
    expect(r.address).toMatchObject({port, address: '127.0.0.1'});
    expect(await fetchPid(port)).toBe(String(r.pid));
  });

  test('with a host: the exact address matches; another address is an error naming the socket', async () => {
    const port = testPort();
    const ok = await inherit([{kind: 'tcp', port}], port, {host: '127.0.0.1'});
    expect(ok.target).toEqual({fd: 3});
    await fetchPid(port);

    const port2 = testPort();
    const bad = await inherit([{kind: 'tcp', port: port2}], port2, {host: '0.0.0.0'});
    expect(bad.error).toMatchObject({
      name: 'ListenTargetError',
      code: 'LISTEN_FD_MISMATCH',
      message: `LISTEN_FDS=1 passes fd 3: tcp 127.0.0.1:${port2} listening; none is a TCP listener on 0.0.0.0:${port2}`,
    });
  });

  test('a dual-stack :: listener serves host 0.0.0.0', async () => {
    const port = testPort();
    const r = await inherit([{kind: 'tcp', port, host: '::'}], port, {host: '0.0.0.0'});
    expect(r.target).toEqual({fd: 3});
    expect(await fetchPid(port)).toBe(String(r.pid));
  });

  test('a listener on another port is an error naming what was found', async () => {
    const port = testPort();
    const other = testPort();
    const r = await inherit([{kind: 'tcp', port: other}], port);
    expect(r.error).toMatchObject({
      name: 'ListenTargetError',
      code: 'LISTEN_FD_MISMATCH',
      message: `LISTEN_FDS=1 passes fd 3: tcp 127.0.0.1:${other} listening; none is a TCP listener on port ${port}`,
      found: [{fd: 3, kind: 'tcp', port: other, address: '127.0.0.1', listening: true}],
    });
  });

  test('a pipe is not a socket', async () => {
    const port = testPort();
    const r = await inherit([{kind: 'pipe'}], port);
    expect(r.error?.code).toBe('LISTEN_FD_MISMATCH');
    expect(r.error?.message).toBe(
      `LISTEN_FDS=1 passes fd 3: a pipe (not a socket); none is a TCP listener on port ${port}`,
    );
  });

  test('a regular file is not a socket', async () => {
    const file = path.join(tempDir(), 'plain');
    writeFileSync(file, 'x');
    const port = testPort();
    const r = await inherit([{kind: 'file', path: file}], port);
    expect(r.error?.message).toBe(
      `LISTEN_FDS=1 passes fd 3: a regular file (not a socket); none is a TCP listener on port ${port}`,
    );
  });

  test('LISTEN_FDS counting past the passed descriptors reports what fd 4 is', async () => {
    const port = testPort();
    const other = testPort();
    const r = await inherit([{kind: 'tcp', port: other}], port, {}, {listenFds: '2'});
    // Node itself may have opened fd 4 (an epoll or event descriptor) by then.
    expect(r.error?.message).toMatch(
      new RegExp(
        `^LISTEN_FDS=2 passes fd 3: tcp 127\\.0\\.0\\.1:${other} listening; fd 4: (not open|not a socket|a pipe \\(not a socket\\)); none is a TCP listener on port ${port}$`,
      ),
    );
  });

  test('a bound TCP socket that does not listen is not a listener', async () => {
    const port = testPort();
    const r = await inherit([{kind: 'tcp-bound', port}], port);
    expect(r.error?.message).toBe(
      `LISTEN_FDS=1 passes fd 3: tcp 127.0.0.1:${port} not listening; none is a TCP listener on port ${port}`,
    );
  });

  test('UDP: protocol udp takes the bound datagram socket; tcp refuses it', async () => {
    const port = testPort();
    const r = await inherit([{kind: 'udp', port}], port, {protocol: 'udp'});
    expect(r.target).toEqual({fd: 3});
    expect(r.address).toMatchObject({port, address: '127.0.0.1'});
    const client = dgram.createSocket('udp4');
    const answer = new Promise<string>((resolve) =>
      client.once('message', (m) => resolve(m.toString())),
    );
    client.send('hello', port, '127.0.0.1');
    expect(await answer).toBe(String(r.pid));
    client.close();

    const port2 = testPort();
    const tcp = await inherit([{kind: 'udp', port: port2}], port2);
    expect(tcp.error?.message).toBe(
      `LISTEN_FDS=1 passes fd 3: udp 127.0.0.1:${port2} bound; none is a TCP listener on port ${port2}`,
    );
  });

  test('several descriptors: the one on the port, or the one with the asked name', async () => {
    const a = testPort();
    const b = testPort();
    const byPort = await inherit(
      [
        {kind: 'tcp', port: a},
        {kind: 'tcp', port: b},
      ],
      b,
      {},
      {names: 'web:admin'},
    );
    expect(byPort.target).toEqual({fd: 4});
    expect(await fetchPid(b)).toBe(String(byPort.pid));

    const c = testPort();
    const d = testPort();
    const byName = await inherit(
      [
        {kind: 'tcp', port: c},
        {kind: 'tcp', port: d},
      ],
      c,
      {name: 'admin'},
      {names: 'web:admin'},
    );
    expect(byName.error?.message).toBe(
      `LISTEN_FDS=2 passes fd 3 ('web'): tcp 127.0.0.1:${c} listening; fd 4 ('admin'): tcp 127.0.0.1:${d} listening; none is a TCP listener on port ${c} named 'admin'`,
    );
  });

  test('LISTEN_PID naming another process: its socket for this port is an error', async () => {
    const port = testPort();
    const r = await inherit([{kind: 'tcp', port}], port, {}, {listenPid: 'parent'});
    expect(r.error?.code).toBe('LISTEN_PID_MISMATCH');
    expect(r.error?.message).toMatch(
      new RegExp(
        `^LISTEN_PID is '\\d+' but this process is pid ${r.pid}, and it holds fd 3: tcp 127\\.0\\.0\\.1:${port} listening: the sockets were passed to another process`,
      ),
    );
  });

  test('LISTEN_PID naming another process, nothing here for this port: bind normally', async () => {
    const port = testPort();
    const other = testPort();
    const r = await inherit([{kind: 'tcp', port: other}], port, {}, {listenPid: 'parent'});
    expect(r.target).toEqual({port});
    const unset = await inherit([{kind: 'pipe'}], port, {host: '::1'}, {listenPid: 'unset'});
    expect(unset.target).toEqual({port, host: '::1'});
  });
});

describe('listenTarget without inherited sockets', () => {
  test('no LISTEN_FDS (or 0): {port} / {port, host}', () => {
    delete process.env.LISTEN_FDS;
    expect(listenTarget(8080)).toEqual({port: 8080});
    expect(listenTarget(8080, {host: '127.0.0.1', protocol: 'udp'})).toEqual({
      port: 8080,
      host: '127.0.0.1',
    });
    process.env.LISTEN_FDS = '0';
    process.env.LISTEN_PID = String(process.pid);
    expect(listenTarget(8080)).toEqual({port: 8080});
  });

  test('a LISTEN_FDS that does not parse is an error', () => {
    process.env.LISTEN_FDS = 'three';
    process.env.LISTEN_PID = String(process.pid);
    expect(() => listenTarget(8080)).toThrow(
      new ListenTargetError("LISTEN_FDS must be a number of descriptors (0 to 1024), got 'three'", {
        code: 'LISTEN_FDS_INVALID',
        port: 8080,
        found: [],
      }),
    );
  });

  test('validates its arguments', () => {
    expect(() => listenTarget(0)).toThrow(
      expect.objectContaining({
        name: 'RangeError',
        message: 'Expected port to be an integer between 1 and 65535, got 0',
      }),
    );
    expect(() => listenTarget(80, {host: 'localhost'})).toThrow(
      "Expected options.host to be an IPv4 or IPv6 address such as '127.0.0.1' or '::', got 'localhost'",
    );
    expect(() => listenTarget(80, {protocol: 'sctp' as never})).toThrow(
      "Expected options.protocol to be one of 'tcp', 'udp', got 'sctp'",
    );
    expect(() => listenTarget(80, {name: 'a:b'})).toThrow(
      "Expected options.name to be a non-empty string without ':' or NUL, got 'a:b'",
    );
    expect(() => listenTarget(80, {fd: 3} as never)).toThrow(
      "Unknown option 'fd' for listenTarget; expected one of host, protocol, name",
    );
  });
});
