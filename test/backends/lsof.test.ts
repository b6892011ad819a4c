import {spawn} from 'node:child_process';
import {chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {pathToFileURL} from 'node:url';
import {describe, expect, it, onTestFinished} from 'vitest';
import {
  checkPort,
  checkPortSync,
  type PortStatus,
  ProbeUnavailableError,
  probePort,
  probePortSync,
  processInfo,
  type SocketEntry,
  type SocketState,
} from '../../src/index.js';
import {packageRoot} from '../../src/native.js';
import {jsonOf, startListener, track} from '../helpers.js';
import {testPort} from '../ports.js';
import {connectAccepted, until} from '../sockets.js';

const originalPath = process.env.PATH!;

type Fake = {dir: string; calls: () => number};

/** Puts an executable `lsof` running `body` (sh) first on PATH for this test. */
function fakeLsof(body: string, mode = 0o755): Fake {
  const dir = mkdtempSync(path.join(tmpdir(), 'portwarden-lsof-'));
  writeFileSync(path.join(dir, 'lsof'), `#!/bin/sh\necho "$@" >> "${dir}/calls"\n${body}\n`);
  chmodSync(path.join(dir, 'lsof'), mode);
  process.env.PATH = `${dir}:${originalPath}`;
  onTestFinished(() => {
    process.env.PATH = originalPath;
    rmSync(dir, {recursive: true, force: true});
  });
  return {
    dir,
    calls() {
      const file = path.join(dir, 'calls');
      return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
    },
  };
}

/** A PATH on which no lsof exists (an empty directory). */
function noLsof(): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'portwarden-nolsof-'));
  process.env.PATH = dir;
  onTestFinished(() => {
    process.env.PATH = originalPath;
    rmSync(dir, {recursive: true, force: true});
  });
}

const PORT = 47_123; // only fakes answer for it, so any number works

type Expected = {code: string; permanent: boolean};

/** Every API with backend 'lsof' reports `expected` as unknown: never free. */
async function expectUnknown(expected: Expected, fake?: Fake) {
  const options = {backend: 'lsof' as const, attemptTimeout: 2000};
  const statuses: PortStatus[] = [
    checkPortSync(PORT, options),
    await checkPort(PORT, options),
    checkPortSync(PORT, {...options, states: 'all', host: '127.0.0.1'}),
  ];
  for (const status of statuses) {
    expect(status).toMatchObject({status: 'unknown', backend: 'lsof', ...expected});
    expect(status.status === 'unknown' && status.reason).toMatch(/lsof/);
  }

  // An unknown answer is final: no second attempt that could turn it into "free".
  if (fake) {
    expect(fake.calls()).toBe(statuses.length);
  }

  for (const attempt of [
    async () => probePortSync(PORT, options),
    async () => probePort(PORT, options),
  ]) {
    const error = await attempt().then(
      () => undefined,
      (error_: unknown) => error_,
    );
    expect(error).toBeInstanceOf(ProbeUnavailableError);
    expect(error).toMatchObject({name: 'ProbeUnavailableError', backend: 'lsof', ...expected});
    expect((error as Error).message).toContain(`Cannot probe port ${PORT}`);
  }
}

/**
Waits until the helper of a hanging fake lsof (its pid in `<dir>/helper.pid`) is gone: the
whole process group was killed (a zombie awaiting its reaper counts as gone).
*/
async function helperDies(dir: string): Promise<void> {
  const helper = Number(readFileSync(path.join(dir, 'helper.pid'), 'utf8'));
  track(helper);
  await until(
    'the helper to die',
    () => {
      const info = processInfo(helper);
      return info === undefined || info.name !== 'sleep' || (info as {state?: string}).state === 'Z'
        ? true
        : undefined;
    },
    3000,
  );
}

describe('the lsof backend reads exit statuses exactly', () => {
  it('exit 1 with no output and no stderr: no sockets (free after two answers)', async () => {
    const fake = fakeLsof('exit 1');
    expect(checkPortSync(PORT, {backend: 'lsof'})).toEqual({status: 'free', backend: 'lsof'});
    expect(fake.calls()).toBe(2); // free needs two consecutive empty answers
    expect(await checkPort(PORT, {backend: 'lsof'})).toEqual({status: 'free', backend: 'lsof'});
    expect(fake.calls()).toBe(4);
    expect(probePortSync(PORT, {backend: 'lsof'})).toMatchObject({sockets: [], backend: 'lsof'});
    expect(await probePort(PORT, {backend: 'lsof'})).toMatchObject({sockets: [], backend: 'lsof'});
    // The arguments ask for the port, and for LISTEN only in a default check.
    const calls = readFileSync(path.join(fake.dir, 'calls'), 'utf8').split('\n');
    expect(calls[0]).toBe(`-nP -w -iTCP:${PORT} -sTCP:LISTEN -F pcuftPTn`);
    expect(calls[4]).toBe(`-nP -w -iTCP:${PORT} -F pcuftPTn`);
  });

  it('exit 1 with a message on stderr: unknown, transient', async () => {
    const fake = fakeLsof(
      'echo "lsof: WARNING: can\'t stat() fuse.portal file system" >&2; exit 1',
    );
    await expectUnknown({code: 'ELSOF', permanent: false}, fake);
  });

  it('exit 2: unknown, transient', async () => {
    const fake = fakeLsof('exit 2');
    await expectUnknown({code: 'ELSOF', permanent: false}, fake);
  });

  it('exit 0 with output that is not -F output: unknown', async () => {
    const fake = fakeLsof(
      'echo "COMMAND   PID USER   FD   TYPE DEVICE SIZE/OFF NODE NAME"; echo "node 1 root 19u IPv4 0t0 TCP *:80 (LISTEN)"',
    );
    await expectUnknown({code: 'EBADMSG', permanent: false}, fake);
  });

  it('exit 0 with a name that is not an address: unknown', async () => {
    const fake = fakeLsof('printf "p1\\ncnode\\nu0\\nf3\\ntIPv4\\nPTCP\\nnnot-an-address\\n"');
    await expectUnknown({code: 'EBADMSG', permanent: false}, fake);
  });

  it('killed by a signal: unknown, transient', async () => {
    const fake = fakeLsof('kill -9 $$');
    await expectUnknown({code: 'ESIGNAL', permanent: false}, fake);
  });

  it('killed by a signal after printing a partial answer: unknown, not the partial answer', async () => {
    const fake = fakeLsof('printf "p1\\ncnode\\n"; kill -SEGV $$');
    await expectUnknown({code: 'ESIGNAL', permanent: false}, fake);
  });

  it('no lsof on PATH: unknown, permanent', async () => {
    noLsof();
    await expectUnknown({code: 'ENOENT', permanent: true});
  });

  it('an lsof that is not executable (and no other on PATH): unknown, permanent', async () => {
    const fake = fakeLsof('exit 1', 0o644);
    process.env.PATH = fake.dir; // with the real lsof further down PATH, execvp would run that
    await expectUnknown({code: 'EACCES', permanent: true});
    expect(fake.calls()).toBe(0); // it never ran
  });

  it.each([
    ['checkPortSync', async (options: object) => checkPortSync(PORT, options)],
    ['checkPort', async (options: object) => checkPort(PORT, options)],
  ])(
    'an lsof that hangs: %s gives unknown ETIMEDOUT after about the per-call timeout',
    async (_name, check) => {
      // The hang is in a helper child, like lsof's own forked helpers: it keeps stdout open.
      const fake = fakeLsof(`sleep 30 &\necho $! > "$(dirname "$0")/helper.pid"\nwait`);
      onTestFinished(() => {
        const pidFile = path.join(fake.dir, 'helper.pid');
        if (existsSync(pidFile)) {
          const pid = Number(readFileSync(pidFile, 'utf8'));
          try {
            process.kill(pid, 'SIGKILL');
          } catch {}
        }
      });
      const started = Date.now();
      const status = await check({backend: 'lsof', attemptTimeout: 300});
      const elapsed = Date.now() - started;
      expect(status).toMatchObject({
        status: 'unknown',
        code: 'ETIMEDOUT',
        permanent: false,
        backend: 'lsof',
      });
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(3000);
      expect(fake.calls()).toBe(1);
    },
  );

  it.each([
    ['probePort', async () => probePort(PORT, {backend: 'lsof', attemptTimeout: 300})],
    ['probePortSync', async () => probePortSync(PORT, {backend: 'lsof', attemptTimeout: 300})],
  ])(
    '%s on a hanging lsof rejects with ETIMEDOUT, not permanent, and kills the helpers',
    async (_name, probe) => {
      const fake = fakeLsof(`sleep 30 &\necho $! > "$(dirname "$0")/helper.pid"\nwait`);
      const started = Date.now();
      await expect(probe()).rejects.toMatchObject({
        name: 'ProbeUnavailableError',
        code: 'ETIMEDOUT',
        permanent: false,
      });
      expect(Date.now() - started).toBeLessThan(3000);
      await helperDies(fake.dir);
    },
  );
});

describe('an AbortSignal ends an lsof run', () => {
  it.each([
    [
      'probePort',
      async (signal: AbortSignal) =>
        probePort(PORT, {backend: 'lsof', attemptTimeout: 20_000, signal}),
    ],
    [
      'checkPort',
      async (signal: AbortSignal) =>
        checkPort(PORT, {backend: 'lsof', attemptTimeout: 20_000, signal}),
    ],
  ])('%s rejects with the reason at once and kills the hanging lsof', async (_name, call) => {
    const fake = fakeLsof(`sleep 30 &\necho $! > "$(dirname "$0")/helper.pid"\nwait`);
    const reason = new Error('gave up');
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 300);
    const started = Date.now();
    await expect(call(controller.signal)).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(1000);
    await helperDies(fake.dir);
  });
});

describe('the lsof backend parses -F output', () => {
  // Two processes share a dual-stack listener; one has an accepted connection; another
  // socket merely has PORT as its *remote* port (lsof -iTCP:P matches that too).
  const output = [
    'p99999901',
    'cnode',
    'u1000',
    'f19',
    'tIPv6',
    'PTCP',
    `n*:${PORT}`,
    'TST=LISTEN',
    'TQR=0',
    'TQS=0',
    'f20',
    'tIPv6',
    'PTCP',
    `n[::ffff:127.0.0.1]:${PORT}->[::ffff:127.0.0.1]:51000`,
    'TST=ESTABLISHED',
    'p99999902',
    'cworker',
    'u1000',
    'f3',
    'tIPv6',
    'PTCP',
    `n*:${PORT}`,
    'TST=LISTEN',
    'f7',
    'tIPv4',
    'PTCP',
    `n127.0.0.1:51001->127.0.0.1:${PORT}`,
    'TST=ESTABLISHED',
  ].join('\n');

  it('groups holders of one socket, drops remote-port matches, normalises addresses', async () => {
    fakeLsof(`cat <<'EOF'\n${output}\nEOF`);
    for (const report of [
      probePortSync(PORT, {backend: 'lsof'}),
      await probePort(PORT, {backend: 'lsof'}),
    ]) {
      expect(report.backend).toBe('lsof');
      expect(report.sockets).toHaveLength(2);
      const [listen, established] = report.sockets as [SocketEntry, SocketEntry];
      expect(listen).toMatchObject({
        protocol: 'tcp',
        family: 6,
        state: 'LISTEN',
        localAddress: '::',
        localPort: PORT,
        remotePort: 0,
        uid: 1000,
        inode: 0,
      });
      expect(listen.owner).toEqual({
        status: 'found',
        processes: [
          {
            pid: 99_999_901,
            ppid: undefined,
            uid: 1000,
            name: 'node',
            command: 'node',
            startTime: undefined,
            bootId: undefined,
          },
          {
            pid: 99_999_902,
            ppid: undefined,
            uid: 1000,
            name: 'worker',
            command: 'worker',
            startTime: undefined,
            bootId: undefined,
          },
        ],
      });
      expect(established).toMatchObject({
        state: 'ESTABLISHED',
        localAddress: '127.0.0.1',
        remoteAddress: '127.0.0.1',
        remotePort: 51_000,
      });
    }

    const status = checkPortSync(PORT, {backend: 'lsof'});
    expect(status.status).toBe('busy');
    expect(status.status === 'busy' && status.blockers).toHaveLength(1);
    expect(status.status === 'busy' && status.blockers[0]).not.toHaveProperty('owner');
    expect(probePortSync(PORT, {backend: 'lsof', owners: false}).sockets[0]).not.toHaveProperty(
      'owner',
    );
  });

  it("maps every TCP state spelling of lsof's dialects to the kernel names; an unknown one is UNKNOWN", async () => {
    // Linux lsof prints the kernel's names (and CLOSED for state 0); macOS and the BSDs
    // those of <netinet/tcp_fsm.h>; Solaris also BOUND and IDLE; any lsof prints
    // UNKNOWN_TCP_STATE_<n> for a number it has no name for.
    const spellings: Array<[string | undefined, SocketState]> = [
      ['LISTEN', 'LISTEN'],
      ['ESTABLISHED', 'ESTABLISHED'],
      ['SYN_SENT', 'SYN_SENT'],
      ['SYN_RECV', 'SYN_RECV'],
      ['SYN_RCVD', 'SYN_RECV'],
      ['FIN_WAIT1', 'FIN_WAIT1'],
      ['FIN_WAIT_1', 'FIN_WAIT1'],
      ['FIN_WAIT2', 'FIN_WAIT2'],
      ['FIN_WAIT_2', 'FIN_WAIT2'],
      ['TIME_WAIT', 'TIME_WAIT'],
      ['CLOSE', 'CLOSE'],
      ['CLOSED', 'CLOSE'],
      ['CLOSE_WAIT', 'CLOSE_WAIT'],
      ['LAST_ACK', 'LAST_ACK'],
      ['CLOSING', 'CLOSING'],
      ['BOUND', 'BOUND_INACTIVE'],
      ['IDLE', 'CLOSE'],
      ['UNKNOWN_TCP_STATE_12', 'UNKNOWN'],
      ['listen', 'UNKNOWN'], // names are exact
      ['toString', 'UNKNOWN'], // not an inherited property
      [undefined, 'UNKNOWN'], // no ST= at all
    ];
    const lines = ['p99999901', 'cnode', 'u1000'];
    for (const [index, [spelling]] of spellings.entries()) {
      lines.push(
        `f${index + 10}`,
        'tIPv4',
        'PTCP',
        `n127.0.0.1:${PORT}->127.0.0.1:${51_000 + index}`,
      );
      if (spelling !== undefined) {
        lines.push(`TST=${spelling}`);
      }
    }

    fakeLsof(`cat <<'EOF'\n${lines.join('\n')}\nEOF`);
    const report = probePortSync(PORT, {backend: 'lsof'});
    expect(report.sockets.map((e) => [e.remotePort - 51_000, e.state])).toEqual(
      spellings.map(([, state], index) => [index, state]),
    );
    expect((await probePort(PORT, {backend: 'lsof'})).sockets).toEqual(report.sockets);
  });

  it('an UNKNOWN state is a socket: busy for states: all, not a listener for a default one', async () => {
    fakeLsof(
      `cat <<'EOF'\np99999901\ncnode\nu0\nf3\ntIPv4\nPTCP\nn127.0.0.1:${PORT}->127.0.0.1:51000\nTST=UNKNOWN_TCP_STATE_12\nEOF`,
    );
    expect(checkPortSync(PORT, {backend: 'lsof', states: 'all'})).toMatchObject({
      status: 'busy',
      blockers: [{state: 'UNKNOWN', remotePort: 51_000}],
    });
    expect(checkPortSync(PORT, {backend: 'lsof'}).status).toBe('free');
  });

  it('a check with a host that the sockets do not overlap is free', async () => {
    fakeLsof(
      `cat <<'EOF'\np99999901\ncnode\nu0\nf3\ntIPv4\nPTCP\nn127.0.0.1:${PORT}\nTST=LISTEN\nEOF`,
    );
    expect(checkPortSync(PORT, {backend: 'lsof', host: '127.0.0.2'}).status).toBe('free');
    expect(checkPortSync(PORT, {backend: 'lsof', host: '::1'}).status).toBe('free');
    expect(checkPortSync(PORT, {backend: 'lsof', host: '0.0.0.0'}).status).toBe('busy');
  });
});

describe('the real lsof', () => {
  it('finds a real listener with the right pid and identity', async () => {
    const l = await startListener({host: '::'});
    for (const status of [
      checkPortSync(l.port, {backend: 'lsof'}),
      await checkPort(l.port, {backend: 'lsof'}),
    ]) {
      expect(status).toMatchObject({status: 'busy', backend: 'lsof'});
      expect(status.status === 'busy' && status.blockers[0]).toMatchObject({
        state: 'LISTEN',
        localAddress: '::',
        localPort: l.port,
      });
    }

    const native = probePortSync(l.port, {backend: 'native'}).sockets[0]!;
    for (const report of [
      probePortSync(l.port, {backend: 'lsof'}),
      await probePort(l.port, {backend: 'lsof'}),
    ]) {
      expect(report.sockets).toHaveLength(1);
      const [entry] = report.sockets;
      expect(entry).toMatchObject({
        protocol: 'tcp',
        family: 6,
        state: 'LISTEN',
        localAddress: '::',
        localPort: l.port,
        uid: 0,
      });
      // Owners are completed from /proc when the addon is there: same identity as native.
      expect(entry!.owner).toEqual(native.owner);
    }

    l.child.kill('SIGKILL');
    await l.exited;
    expect(checkPortSync(l.port, {backend: 'lsof'})).toEqual({status: 'free', backend: 'lsof'});
  });

  it('does not report a socket whose remote port is the port asked about', async () => {
    const l = await startListener({host: '127.0.0.1'});
    const client = await connectAccepted(l.port, '127.0.0.1', l.pid);
    onTestFinished(() => {
      client.destroy();
    });
    const clientPort = client.localPort!;

    const server = probePortSync(l.port, {backend: 'lsof'}).sockets;
    expect(server.map((s) => [s.state, s.localPort, s.remotePort])).toEqual(
      expect.arrayContaining([
        ['LISTEN', l.port, 0],
        ['ESTABLISHED', l.port, clientPort],
      ]),
    );
    expect(server).toHaveLength(2);
    for (const entry of server) {
      expect(entry.owner).toMatchObject({status: 'found', processes: [{pid: l.pid}]});
    }

    const clientSide = probePortSync(clientPort, {backend: 'lsof'}).sockets;
    expect(clientSide).toHaveLength(1);
    expect(clientSide[0]).toMatchObject({
      state: 'ESTABLISHED',
      localPort: clientPort,
      remotePort: l.port,
      owner: {status: 'found', processes: [{pid: process.pid}]},
    });
    expect(checkPortSync(clientPort, {backend: 'lsof'}).status).toBe('free');
  });

  it('finds a bound UDP socket', async () => {
    const l = await startListener({kind: 'udp', host: '127.0.0.1'});
    const [entry] = probePortSync(l.port, {backend: 'lsof', protocol: 'udp'}).sockets;
    expect(entry).toMatchObject({
      protocol: 'udp',
      state: 'UNCONN',
      localAddress: '127.0.0.1',
      owner: {status: 'found', processes: [{pid: l.pid}]},
    });
    expect(checkPortSync(l.port, {backend: 'lsof', protocol: 'udp'}).status).toBe('busy');
  });
});

describe("backend 'auto'", () => {
  it('uses the addon when it is loaded and never runs lsof', async () => {
    const fake = fakeLsof('exit 2');
    const port = testPort();
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    onTestFinished(async () => new Promise<void>((resolve) => server.close(() => resolve())));
    expect(probePortSync(port).backend).toBe('native');
    expect((await checkPort(port)).backend).toBe('native');
    expect(fake.calls()).toBe(0);
  });

  it('falls back to lsof when the addon is unavailable (PORTWARDEN_DISABLE_NATIVE=1)', async () => {
    const l = await startListener({host: '127.0.0.1'});
    const empty = mkdtempSync(path.join(tmpdir(), 'portwarden-nolsof-'));
    onTestFinished(() => rmSync(empty, {recursive: true, force: true}));
    const entry = pathToFileURL(path.join(packageRoot, 'dist', 'index.js')).href;
    const script = `
      const pw = await import(${JSON.stringify(entry)});
      const report = pw.probePortSync(${l.port});
      const out = {
        backend: report.backend,
        pids: report.sockets.map((s) => s.owner.processes.map((p) => p.pid)),
        check: pw.checkPortSync(${l.port}),
        checkAsync: await pw.checkPort(${l.port}),
      };
      process.env.PATH = ${JSON.stringify(empty)};
      out.missing = pw.checkPortSync(${l.port});
      out.missingAsync = await pw.checkPort(${l.port});
      try { pw.processInfo(1); } catch (error) { out.processInfo = {name: error.name, code: error.code}; }
      console.log(JSON.stringify(out));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: {...process.env, PORTWARDEN_DISABLE_NATIVE: '1'},
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const result = await jsonOf<Record<string, unknown>>(child);
    expect(result.backend).toBe('lsof');
    expect(result.pids).toEqual([[l.pid]]);
    expect(result.check).toMatchObject({status: 'busy', backend: 'lsof'});
    expect(result.checkAsync).toMatchObject({status: 'busy', backend: 'lsof'});
    for (const status of [result.missing, result.missingAsync]) {
      expect(status).toMatchObject({
        status: 'unknown',
        code: 'ENOENT',
        permanent: true,
        backend: 'lsof',
      });
    }

    expect(result.processInfo).toEqual({name: 'ProbeUnavailableError', code: 'ENOTSUP'});
  });
});
