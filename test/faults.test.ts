// Fault injection: the probe degrades to a correct, labelled answer (a fallback backend,
// `unknown`, an owner it cannot see) and never to a wrong one ("free", a stale pid).
import {spawn, spawnSync} from 'node:child_process';
import {chmodSync, mkdirSync, rmSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {
  checkPortSync,
  claimPidFile,
  isStopping,
  markStopping,
  PidFileError,
  probePort,
  probePortSync,
  processInfo,
  readPidFile,
  type SocketEntry,
  waitForExit,
} from '../src/index.js';
import {nativeBinding} from '../src/native.js';
import {
  distEntry,
  forkFixture,
  forNobody,
  nobodyEnv,
  jsonOf,
  runAsNobody,
  runNode,
  startListener,
  tempDir,
  track,
} from './helpers.js';

// A mount namespace whose /proc is an empty tmpfs of mode 000: a system without procfs (as
// root), or one where /proc cannot even be opened (as uid 65534: EACCES). Needs root and
// unshare(CLONE_NEWNS).
const HIDE_PROC = 'umount -l /proc && mount -t tmpfs -o mode=000 none /proc';
const procHidable =
  process.platform === 'linux' &&
  process.getuid?.() === 0 &&
  spawnSync('unshare', ['-m', '--', 'sh', '-c', HIDE_PROC]).status === 0;
const withoutProc = describe.runIf(procHidable);

/** Runs `code` (an ES module that prints JSON) with node without /proc (see HIDE_PROC). */
async function runWithoutProc(
  code: string,
  {nobody = false, env = {}}: {nobody?: boolean; env?: NodeJS.ProcessEnv} = {},
): Promise<unknown> {
  const drop = nobody ? 'setpriv --reuid=65534 --regid=65534 --clear-groups -- ' : '';
  const node = [process.execPath, '--input-type=module', '-e', nobody ? forNobody(code) : code];
  const child = spawn(
    'unshare',
    ['-m', '--', 'sh', '-c', `${HIDE_PROC} && exec ${drop}"$@"`, 'sh', ...node],
    {
      env: {...(nobody ? nobodyEnv() : process.env), ...env},
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return jsonOf(child);
}

const listenerOf = (sockets: readonly SocketEntry[]) => sockets.find((s) => s.state === 'LISTEN');
// The faults are Linux ones (sock_diag, /proc, pidfds).
const onLinux = describe.runIf(process.platform === 'linux');

onLinux(
  'sock_diag unavailable (PORTWARDEN_FAULT=sock_diag_enoent: every dump answers ENOENT)',
  () => {
    const fault = {PORTWARDEN_FAULT: 'sock_diag_enoent'};

    it('checkPortSync, checkPort, probePortSync and probePort fall back to lsof and say so', async () => {
      const l = await startListener({host: '127.0.0.1'});
      const result = (await runNode(
        `
      const pw = await import(${JSON.stringify(distEntry)});
      const free = ${l.port === 1 ? 2 : 1};
      const pids = (r) => r.sockets.filter((s) => s.state === 'LISTEN').map((s) => s.owner.processes?.map((p) => p.pid));
      const sync = pw.probePortSync(${l.port});
      const async_ = await pw.probePort(${l.port});
      console.log(JSON.stringify({
        checkSync: pw.checkPortSync(${l.port}),
        check: await pw.checkPort(${l.port}),
        checkFreeSync: pw.checkPortSync(free, {host: '127.0.0.1'}),
        probeSync: {backend: sync.backend, pids: pids(sync)},
        probe: {backend: async_.backend, pids: pids(async_)},
        native: pw.checkPortSync(${l.port}, {backend: 'native'}),
      }));
    `,
        fault,
      )) as Record<string, any>;
      expect(result.checkSync).toMatchObject({status: 'busy', backend: 'lsof'});
      expect(result.check).toMatchObject({status: 'busy', backend: 'lsof'});
      expect(result.checkFreeSync).toEqual({status: 'free', backend: 'lsof'});
      expect(result.probeSync).toEqual({backend: 'lsof', pids: [[l.pid]]});
      expect(result.probe).toEqual({backend: 'lsof', pids: [[l.pid]]});
      // Asked for the native backend only: unknown (permanent), never free.
      expect(result.native).toMatchObject({
        status: 'unknown',
        code: 'ENOENT',
        permanent: true,
        backend: 'native',
      });
    });

    it('with lsof missing too, every check is unknown (permanent), never free', async () => {
      const l = await startListener({host: '127.0.0.1'});
      const u = await startListener({kind: 'unix', path: path.join(tempDir(), 'u.sock')});
      const result = (await runNode(
        `
      const pw = await import(${JSON.stringify(distEntry)});
      let probe;
      try { pw.probePortSync(${l.port}); probe = 'no error'; } catch (e) { probe = {name: e.name, code: e.code, permanent: e.permanent}; }
      let unix;
      try { pw.probeUnixSocketSync(${JSON.stringify(u.path)}); unix = 'no error'; } catch (e) { unix = {name: e.name, code: e.code, permanent: e.permanent}; }
      const missing = pw.probeUnixSocketSync('/nonexistent/x.sock').exists;
      console.log(JSON.stringify({
        busy: pw.checkPortSync(${l.port}),
        free: await pw.checkPort(1, {host: '127.0.0.1'}),
        probe,
        unix,
        missing,
      }));
    `,
        {...fault, PATH: '/nonexistent'},
      )) as Record<string, any>;
      for (const status of [result.busy, result.free]) {
        expect(status).toMatchObject({status: 'unknown', code: 'ENOENT', permanent: true});
      }

      expect(result.probe).toEqual({
        name: 'ProbeUnavailableError',
        code: 'ENOENT',
        permanent: true,
      });
      expect(result.unix).toEqual({name: 'ProbeUnavailableError', code: 'ENOENT', permanent: true});
      // A unix socket path that does not exist needs no dump.
      expect(result.missing).toBe(false);
    });
  },
);

onLinux('/proc unreadable: probing as uid 65534 a listener of root', () => {
  it('reports the owner as unknown (EACCES), the port as busy, never free', async () => {
    const l = await startListener({host: '127.0.0.1'});
    const result = (await runAsNobody(`
      const pw = await import(${JSON.stringify(distEntry)});
      const owner = (r) => r.sockets.find((s) => s.state === 'LISTEN').owner;
      let wait;
      try { await pw.waitForPortFree(${l.port}, {timeout: 300}); wait = 'resolved'; } catch (e) { wait = e.name; }
      console.log(JSON.stringify({
        check: pw.checkPortSync(${l.port}),
        checkHost: pw.checkPortSync(${l.port}, {host: '127.0.0.1'}),
        sync: owner(pw.probePortSync(${l.port})),
        async: owner(await pw.probePort(${l.port})),
        candidate: owner(pw.probePortSync(${l.port}, {candidates: [${l.pid}]})),
        wait,
      }));
    `)) as Record<string, any>;
    expect(result.check).toMatchObject({status: 'busy', backend: 'native'});
    expect(result.checkHost).toMatchObject({status: 'busy', backend: 'native'});
    for (const owner of [result.sync, result.async, result.candidate]) {
      expect(owner).toEqual({status: 'unknown', code: 'EACCES'});
    }

    expect(result.wait).toBe('PortBusyError');
  });
});

withoutProc('/proc missing or unreadable (a mount namespace without procfs)', () => {
  it('probeUnixSocket: an owner scan that cannot open /proc is a ProbeUnavailableError, as a failed dump is', async () => {
    const dir = tempDir();
    chmodSync(dir, 0o777);
    const socketPath = path.join(dir, 's.sock');
    const result = (await runWithoutProc(
      `
      const net = await import('node:net');
      const pw = await import(${JSON.stringify(distEntry)});
      const server = net.createServer();
      await new Promise((resolve) => server.listen(${JSON.stringify(socketPath)}, resolve));
      const describe = (e) => ({name: e.name, code: e.code, permanent: e.permanent, backend: e.backend, message: e.message});
      let sync;
      try { pw.probeUnixSocketSync(${JSON.stringify(socketPath)}); sync = 'no error'; } catch (e) { sync = describe(e); }
      let async_;
      try { await pw.probeUnixSocket(${JSON.stringify(socketPath)}); async_ = 'no error'; } catch (e) { async_ = describe(e); }
      server.close();
      console.log(JSON.stringify({sync, async: async_}));
    `,
      {nobody: true},
    )) as Record<string, unknown>;
    for (const error of [result.sync, result.async]) {
      expect(error).toEqual({
        name: 'ProbeUnavailableError',
        code: 'EACCES',
        permanent: true,
        backend: 'native',
        message: expect.stringContaining(
          `Cannot probe unix socket '${socketPath}': owner scan failed: EACCES`,
        ) as string,
      });
    }
  });

  it('waitForExit without the addon falls back to kill(pid, 0): running is running, gone is gone', async () => {
    const running = spawn('sleep', ['30'], {stdio: 'ignore'});
    track(running.pid);
    const gone = spawn('true', [], {stdio: 'ignore'});
    await new Promise((resolve) => gone.once('exit', resolve));
    const result = (await runWithoutProc(
      `
      const {existsSync} = await import('node:fs');
      const pw = await import(${JSON.stringify(distEntry)});
      console.log(JSON.stringify({
        proc: existsSync('/proc/self/stat'),
        running: await pw.waitForExit(${running.pid}, {timeout: 200}),
        runningSync: pw.waitForExitSync(${running.pid}, {timeout: 50}),
        gone: await pw.waitForExit(${gone.pid}, {timeout: 2000}),
      }));
    `,
      {env: {PORTWARDEN_DISABLE_NATIVE: '1'}},
    )) as Record<string, boolean>;
    expect(result).toEqual({proc: false, running: false, runningSync: false, gone: true});
  });
});

onLinux('processes exiting mid-scan', () => {
  it('1000 owner lookups during a churn of short-lived holders: no error, no stale pid', async () => {
    const child = forkFixture('churn.mjs', []);
    track(child.pid);
    const spawned = new Set<number>();
    const forked = new Set<number>();
    const ready = new Promise<{port: number; pid: number}>((resolve) => {
      child.on('message', (m: {port?: number; pid?: number; spawned?: number; forked?: number}) => {
        if (m.spawned !== undefined) {
          spawned.add(m.spawned);
          track(m.spawned);
        } else if (m.forked !== undefined) {
          forked.add(m.forked);
        } else {
          resolve(m as {port: number; pid: number});
        }
      });
    });
    const {port, pid} = await ready;
    const listener = processInfo(pid)!;
    const reported: Array<{pid: number; name: string; startTime?: number}> = [];
    let forkWindow = 0;
    let sawChurn = 0;
    for (let i = 0; i < 1000; i++) {
      const kind = i % 10;
      let sockets: readonly SocketEntry[];
      if (kind < 3) {
        expect(checkPortSync(port).status).toBe('busy');
        continue;
      }

      if (kind < 6) {
        sockets = (await probePort(port, {states: 'listen'})).sockets;
      } else if (kind < 9) {
        sockets = probePortSync(port, {states: 'listen'}).sockets;
      } else {
        sockets = probePortSync(port, {states: 'listen', candidates: [pid]}).sockets;
      }

      const owner = listenerOf(sockets)?.owner;
      // The listener itself holds the socket throughout: always found, never lost.
      expect(owner?.status).toBe('found');
      const processes = owner?.status === 'found' ? owner.processes : [];
      expect(processes.map((p) => p.pid)).toContain(pid);
      if (processes.length > 1) {
        sawChurn++;
      }

      reported.push(...processes);
    }

    // The messages about children started before the last lookup, then stop the churn.
    await new Promise((resolve) => setTimeout(resolve, 300));
    child.kill('SIGKILL');
    for (const p of reported) {
      if (p.pid === pid) {
        expect(p).toMatchObject({name: listener.name, startTime: listener.startTime});
      } else if (spawned.has(p.pid)) {
        // A churn holder: the listener started it with the socket as fd 3 (described
        // before its exec, it is still a copy of the listener).
        expect([listener.name, 'sleep']).toContain(p.name);
      } else {
        // A child of the listener caught between fork and exec, when it still had every fd
        // of its parent: a holder at scan time, described before or after its exec.
        expect(forked.has(p.pid), `pid ${p.pid} (${p.name}) never held the socket`).toBe(true);
        expect([listener.name, 'true']).toContain(p.name);
        forkWindow++;
      }
    }

    // The churn was seen (holders found while they lived), not only the listener.
    expect(sawChurn).toBeGreaterThan(0);
    console.log(
      `[churn] ${spawned.size} holders and ${forked.size} other children started; ${sawChurn} lookups saw a churn holder; ${forkWindow} reports of a child between fork and exec`,
    );
  }, 120_000);
});

onLinux('thread ids are not processes', () => {
  it('processInfo(tid) is undefined, signalProcess(tid) and waitForExit(tid) see no process, a tid candidate finds its process', async () => {
    const l = await startListener({host: '127.0.0.1'});
    const {readdirSync} = await import('node:fs');
    const tid = readdirSync(`/proc/${l.pid}/task`)
      .map(Number)
      .find((t) => t !== l.pid)!;
    expect(tid).toBeGreaterThan(0);
    expect(processInfo(tid)).toBeUndefined();
    expect(processInfo(l.pid)?.pid).toBe(l.pid);
    expect(nativeBinding()!.waitExit([tid], [-1], 10)).toEqual([0]);
    // kill(2) given a thread id would signal the whole listener: with or without a pidfd,
    // a thread id is "gone", and signal 0 checks it without harm if the guard is missing.
    for (const usePidfd of [true, false]) {
      expect(nativeBinding()!.signalProcess(tid, -1, 0, usePidfd), `usePidfd ${usePidfd}`).toBe(
        'gone',
      );
    }
    expect(nativeBinding()!.signalProcess(l.pid, -1, 0, false)).toBe('sent');
    await expect(waitForExit(tid, {timeout: 100})).resolves.toBe(true);
    const owner = listenerOf(probePortSync(l.port, {candidates: [tid]}).sockets)?.owner;
    expect(owner?.status === 'found' && owner.processes.map((p) => p.pid)).toEqual([l.pid]);
  });
});

onLinux('a PID-file directory removed between calls', () => {
  it('claim, read, release and the stopping sentinel stay well-defined', () => {
    const base = tempDir();
    const dir = path.join(base, 'run');
    mkdirSync(dir);
    const file = path.join(dir, 'app.pid');
    const handle = claimPidFile(file);
    expect(readPidFile(file)).toMatchObject({pid: process.pid, locked: true});
    rmSync(dir, {recursive: true, force: true});

    // Nothing to read; claiming needs the directory (ENOENT, typed); release is a no-op
    // for a file someone else removed.
    expect(readPidFile(file)).toBeUndefined();
    expect(() => claimPidFile(file)).toThrow(PidFileError);
    try {
      claimPidFile(file);
    } catch (error) {
      expect(error).toMatchObject({code: 'ENOENT'});
    }

    expect(() => handle.release()).not.toThrow();
    expect(handle.released).toBe(true);
    expect(isStopping(file)).toBe(false);
    expect(() => markStopping(file)).toThrow(PidFileError);

    // The directory back: a fresh claim works.
    mkdirSync(dir);
    const again = claimPidFile(file);
    expect(again.created).toBe(true);
    expect(readPidFile(file)).toMatchObject({pid: process.pid, locked: true});
    again.release();
    expect(readPidFile(file)).toBeUndefined();

    // Replaced by a regular file of the same name: typed errors, no crash.
    writeFileSync(path.join(base, 'run2'), 'x');
    const through = path.join(base, 'run2', 'app.pid');
    for (const call of [() => claimPidFile(through), () => readPidFile(through)]) {
      expect(call).toThrow(PidFileError);
      expect(call).toThrow(/ENOTDIR/);
    }
  });
});
