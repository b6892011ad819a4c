// notifyReady() against real unix datagram receivers (a path, and the abstract namespace).
// Node's dgram cannot receive on unix sockets, so a tiny python3 receiver stands in for
// systemd here; the systemd tests cover the real manager (Type=notify).
import {type ChildProcess, spawn} from 'node:child_process';
import path from 'node:path';
import {afterEach, describe, expect, test} from 'vitest';
import {notifyReady} from '../../src/index.js';
import {tempDir, track} from '../helpers.js';

// The receiver is a python3 unix datagram socket (node has none); .ci/run installs python3.
const RECEIVER = `
import socket, sys
name = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(('\\0' + name[1:]) if name.startswith('@') else name)
print('ready', flush=True)
data = s.recv(4096)
sys.stdout.write(data.decode())
sys.stdout.flush()
`;

const saved = process.env.NOTIFY_SOCKET;
afterEach(() => {
  if (saved === undefined) {
    delete process.env.NOTIFY_SOCKET;
  } else {
    process.env.NOTIFY_SOCKET = saved;
  }
});

async function receiver(name: string): Promise<{child: ChildProcess; message: Promise<string>}> {
  const child = spawn('python3', ['-c', RECEIVER, name], {stdio: ['ignore', 'pipe', 'inherit']});
  track(child.pid);
  let out = '';
  let onReady: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.startsWith('ready\n')) {
      onReady();
    }
  });
  const message = new Promise<string>((resolve) =>
    child.on('exit', () => resolve(out.slice('ready\n'.length))),
  );
  await ready;
  return {child, message};
}

describe('notifyReady', () => {
  test('returns false and sends nothing without NOTIFY_SOCKET', () => {
    delete process.env.NOTIFY_SOCKET;
    expect(notifyReady()).toBe(false);
    process.env.NOTIFY_SOCKET = '';
    expect(notifyReady('x')).toBe(false);
  });

  test('rejects a status with a line break (it would inject another assignment)', () => {
    expect(() => notifyReady('ok\nMAINPID=1')).toThrow(
      "Expected status to be a string without line breaks or NUL, got 'ok\\nMAINPID=1'",
    );
  });

  test('a socket nobody listens on is an errno error', () => {
    process.env.NOTIFY_SOCKET = path.join(tempDir(), 'none.sock');
    expect(() => notifyReady()).toThrow(
      expect.objectContaining({code: 'ENOENT', syscall: 'sendto'}),
    );
  });

  test('sends READY=1 and STATUS to a path socket', async () => {
    const socket = path.join(tempDir(), 'notify.sock');
    const r = await receiver(socket);
    process.env.NOTIFY_SOCKET = socket;
    expect(notifyReady('listening on 8080')).toBe(true);
    expect(await r.message).toBe('READY=1\nSTATUS=listening on 8080');
  });

  test('supports the abstract namespace (@name → leading NUL)', async () => {
    const name = `@portwarden-test-${process.pid}-${Date.now()}`;
    const r = await receiver(name);
    process.env.NOTIFY_SOCKET = name;
    expect(notifyReady()).toBe(true);
    expect(await r.message).toBe('READY=1');
  });
});
