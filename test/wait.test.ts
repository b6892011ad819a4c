import {type ChildProcess, spawn} from 'node:child_process';
import {readFileSync} from 'node:fs';
import {Worker} from 'node:worker_threads';
import {afterEach, describe, expect, it} from 'vitest';
import {
  checkPortSync,
  NotListeningError,
  type Owner,
  PortBusyError,
  ProbeUnavailableError,
  processInfo,
  waitForExit,
  waitForExitSync,
  waitForListening,
  waitForPortFree,
  waitForPortFreeSync,
  type WaitProgress,
} from '../src/index.js';
import {nativeBinding} from '../src/native.js';
import {
  type BadCall,
  bindServer,
  distEntry,
  itRefuses,
  runNode,
  sleep,
  spawnNode,
  startListener,
  track,
} from './helpers.js';
import {testPort} from './ports.js';

const exited = async (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? undefined
    : new Promise((resolve) => child.once('exit', resolve));

describe('waitForPortFree', () => {
  it('resolves at once on a free port', async () => {
    const port = testPort();
    const result = await waitForPortFree(port);
    expect(result).toMatchObject({port, backend: 'native'});
    expect(result.elapsedMs).toBeLessThan(100);
    expect(waitForPortFreeSync(port).port).toBe(port);
  });

  it('waits for a holder that drains after SIGTERM, and reports progress', async () => {
    const l = await startListener({onTerm: {drainMs: 400}});
    const progress: WaitProgress[] = [];
    process.kill(l.pid, 'SIGTERM');
    const started = performance.now();
    const result = await waitForPortFree(l.port, {onProgress: (p) => progress.push(p)});
    expect(performance.now() - started).toBeGreaterThan(300);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[0]!.blockers[0]).toMatchObject({state: 'LISTEN', localPort: l.port});
    expect(result.elapsedMs).toBeGreaterThan(300);
    (await bindServer(l.port)).close();
  });

  it('a 1.1 GiB heap keeps its LISTEN socket after SIGKILL returns; the wait covers it', async () => {
    const l = await startListener({heapMiB: 1100});
    const started = performance.now();
    process.kill(l.pid, 'SIGKILL');
    // process.kill() has returned, yet the kernel is still unmapping the heap: busy.
    const right_after = checkPortSync(l.port);
    expect(right_after.status).toBe('busy');
    const result = await waitForPortFree(l.port, {timeout: 10_000});
    const outlived = performance.now() - started;
    console.log(
      `LISTEN socket of a 1100 MiB process outlived SIGKILL by ${outlived.toFixed(1)} ms (waitForPortFree: ${result.elapsedMs.toFixed(1)} ms)`,
    );
    expect(checkPortSync(l.port).status).toBe('free');
    (await bindServer(l.port)).close();
  });

  it('sees a listener closed by a process that keeps running (no exit to wait for)', async () => {
    const port = testPort();
    const server = await bindServer(port);
    setTimeout(() => server.close(), 150);
    const result = await waitForPortFree(port, {timeout: 3000});
    expect(result.elapsedMs).toBeGreaterThan(100);
  });

  it('waits for a child that inherited the listener once its parent is gone', async () => {
    const l = await startListener({forkHolder: true});
    process.kill(l.pid, 'SIGKILL');
    await l.exited;
    expect(checkPortSync(l.port).status).toBe('busy'); // the grandchild still holds it
    setTimeout(() => process.kill(l.holderPid!, 'SIGKILL'), 200);
    const result = await waitForPortFree(l.port, {timeout: 5000});
    expect(result.elapsedMs).toBeGreaterThan(150);
  });

  it('rejects PortBusyError at the deadline, naming the holders with their pids', async () => {
    const l = await startListener({host: '127.0.0.1'});
    const started = performance.now();
    const error = await waitForPortFree(l.port, {timeout: 200}).catch((error_: unknown) => error_);
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(PortBusyError);
    const busy = error as PortBusyError;
    expect(busy.message).toContain(`Port ${l.port} is still busy after 200 ms`);
    expect(busy.message).toContain(`127.0.0.1:${l.port} LISTEN pid ${l.pid} (node)`);
    expect(busy.port).toBe(l.port);
    expect(busy.blockers[0]!.owner).toMatchObject({status: 'found', processes: [{pid: l.pid}]});
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(1000);
    expect(() => waitForPortFreeSync(l.port, {timeout: 100})).toThrow(`LISTEN pid ${l.pid}`);
  });

  it('respects host: a listener on another address does not block', async () => {
    const l = await startListener({host: '127.0.0.1'});
    await expect(waitForPortFree(l.port, {host: '127.0.0.2', timeout: 500})).resolves.toMatchObject(
      {port: l.port},
    );
    await expect(waitForPortFree(l.port, {host: '0.0.0.0', timeout: 100})).rejects.toThrow(
      PortBusyError,
    );
  });

  it('rejects with the abort reason mid-wait, and at once when already aborted', async () => {
    const l = await startListener();
    const controller = new AbortController();
    const reason = new Error('stop waiting');
    setTimeout(() => controller.abort(reason), 100);
    const started = performance.now();
    await expect(waitForPortFree(l.port, {timeout: 5000, signal: controller.signal})).rejects.toBe(
      reason,
    );
    expect(performance.now() - started).toBeLessThan(1000);
    await expect(waitForPortFree(l.port, {signal: AbortSignal.abort(reason)})).rejects.toBe(reason);
  });

  it('rejects ProbeUnavailableError when the port cannot be probed at all', async () => {
    const port = testPort();
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const error = await waitForPortFree(port, {backend: 'lsof', timeout: 2000}).catch(
        (error_: unknown) => error_,
      );
      expect(error).toBeInstanceOf(ProbeUnavailableError);
      expect(error).toMatchObject({permanent: true, code: 'ENOENT', backend: 'lsof'});
    } finally {
      process.env.PATH = path;
    }
  });

  it('works with the lsof backend (polling, no pidfd)', async () => {
    const l = await startListener();
    setTimeout(() => process.kill(l.pid, 'SIGKILL'), 100);
    const result = await waitForPortFree(l.port, {backend: 'lsof', timeout: 5000});
    expect(result.backend).toBe('lsof');
  });
});

describe('waitForListening', () => {
  it('resolves with the owner of a child that binds late', async () => {
    const port = testPort();
    const child = spawnNode(
      `setTimeout(() => require('net').createServer().listen(${port}), 300); setInterval(() => {}, 1000);`,
    );
    const started = performance.now();
    const entry = await waitForListening(port, {pid: child.pid, timeout: 5000});
    expect(performance.now() - started).toBeGreaterThan(250);
    expect(entry).toMatchObject({state: 'LISTEN', localPort: port});
    expect(entry.owner).toMatchObject({status: 'found', processes: [{pid: child.pid}]});
  });

  it('accepts a listener held by a descendant of pid', async () => {
    const port = testPort();
    const child = spawnNode(
      `const c = require('child_process').spawn(process.execPath, ['-e', "require('net').createServer().listen(${port}); setInterval(() => {}, 1000)"], {stdio: 'ignore'}); process.on('SIGTERM', () => { c.kill('SIGKILL'); process.exit(); }); setInterval(() => {}, 1000);`,
    );
    const entry = await waitForListening(port, {pid: child.pid, timeout: 5000});
    expect(entry.owner?.status).toBe('found');
    const holder = (entry.owner as Extract<Owner, {status: 'found'}>).processes[0]!;
    track(holder.pid);
    expect(holder.pid).not.toBe(child.pid);
    expect(holder.ppid).toBe(child.pid);
  });

  it('rejects within a few hundred ms when pid exits before binding', async () => {
    const port = testPort();
    const child = spawnNode('setTimeout(() => process.exit(3), 100)');
    let exitedAt = Number.NaN;
    child.once('exit', () => (exitedAt = performance.now()));
    const error = await waitForListening(port, {pid: child.pid, timeout: 10_000}).catch(
      (error_: unknown) => error_,
    );
    const rejectedAt = performance.now();
    expect(error).toBeInstanceOf(NotListeningError);
    expect(error).toMatchObject({reason: 'exited', pid: child.pid, port});
    expect((error as Error).message).toContain(`Process ${child.pid} exited after`);
    await exited(child);
    // The pidfd wait sees the exit as soon as node's own SIGCHLD handling does.
    expect(Math.abs(rejectedAt - exitedAt)).toBeLessThan(100);
  });

  it('rejects at once for a pid that does not exist', async () => {
    const child = spawnNode('');
    await exited(child);
    await sleep(20);
    await expect(waitForListening(testPort(), {pid: child.pid})).rejects.toMatchObject({
      name: 'NotListeningError',
      reason: 'exited',
    });
  });

  it('does not take a foreign listener for pid; the timeout names what was seen', async () => {
    const l = await startListener();
    const child = spawnNode('setInterval(() => {}, 1000)');
    const error = await waitForListening(l.port, {pid: child.pid, timeout: 300}).catch(
      (error_: unknown) => error_,
    );
    expect(error).toBeInstanceOf(NotListeningError);
    expect(error).toMatchObject({reason: 'timeout'});
    expect((error as Error).message).toContain(`by pid ${child.pid} or its descendants`);
    expect((error as Error).message).toContain(`LISTEN pid ${l.pid} (node)`);
  });

  it('accepts a listener first held by another process and handed to pid later (check-in)', async () => {
    // launchd hands a job its Sockets at check-in, not at spawn: the socket's inode is
    // first held by the manager alone, then by the job too.
    const port = testPort();
    const child = spawn(
      process.execPath,
      [
        '-e',
        `process.on('message', (m, server) => { if (m === 'socket') { server.on('connection', (c) => c.end()); process.send('held'); } }); setInterval(() => {}, 1000);`,
      ],
      {stdio: ['ignore', 'ignore', 'ignore', 'ipc']},
    );
    track(child.pid!);
    const server = await bindServer(port);
    try {
      const waiting = waitForListening(port, {pid: child.pid, timeout: 5000});
      await sleep(400); // several polls see the manager's listener only
      const held = new Promise((resolve) => child.once('message', resolve));
      child.send('socket', server);
      await held;
      const entry = await waiting;
      expect(entry).toMatchObject({state: 'LISTEN', localPort: port});
      const owners = (entry.owner as Extract<Owner, {status: 'found'}>).processes;
      expect(owners.map((p) => p.pid)).toContain(child.pid);
    } finally {
      server.close();
      child.kill('SIGKILL');
    }
  });

  it('without pid: any listener, with its owner; timeout when none', async () => {
    const l = await startListener();
    const entry = await waitForListening(l.port);
    expect(entry.owner).toMatchObject({status: 'found', processes: [{pid: l.pid}]});
    const port = testPort();
    await expect(waitForListening(port, {timeout: 100})).rejects.toThrow(
      `Port ${port} is not listening after 100 ms; no listening socket seen`,
    );
  });

  it('rejects with the abort reason', async () => {
    const reason = new Error('aborted');
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 50);
    await expect(waitForListening(testPort(), {signal: controller.signal})).rejects.toBe(reason);
  });
});

describe('waitForExit', () => {
  it('resolves true when the process exits, event-driven', async () => {
    const child = spawnNode('setInterval(() => {}, 1000)');
    await sleep(50);
    setTimeout(() => child.kill('SIGKILL'), 100);
    const started = performance.now();
    await expect(waitForExit(child.pid, {timeout: 5000})).resolves.toBe(true);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('resolves false at the deadline while it runs', async () => {
    const child = spawnNode('setInterval(() => {}, 1000)');
    await expect(waitForExit(child.pid, {timeout: 100})).resolves.toBe(false);
    expect(waitForExitSync(child.pid, {timeout: 50})).toBe(false);
  });

  it('is identity-aware: another start time means already exited', async () => {
    const child = spawnNode('setInterval(() => {}, 1000)');
    await sleep(20);
    const info = processInfo(child.pid)!;
    const started = performance.now();
    await expect(
      waitForExit({pid: child.pid, startTime: info.startTime! - 1}, {timeout: 5000}),
    ).resolves.toBe(true);
    expect(performance.now() - started).toBeLessThan(100);
    expect(waitForExitSync({pid: child.pid, startTime: info.startTime!}, {timeout: 20})).toBe(
      false,
    );
    expect(processInfo(child.pid)).toBeDefined();
  });

  it('a pid with no process has exited', async () => {
    const child = spawnNode('');
    await exited(child);
    await sleep(20);
    await expect(waitForExit(child.pid)).resolves.toBe(true);
  });

  it('works in a worker thread, and a pending wait does not hold up its termination', async () => {
    const child = spawnNode('setInterval(() => {}, 1000)');
    const worker = new Worker(
      `const {parentPort} = require('node:worker_threads');
      import(${JSON.stringify(distEntry)}).then(async (pw) => {
        parentPort.postMessage(await pw.waitForExit(${child.pid}, {timeout: 50}));
        parentPort.postMessage('waiting');
        await pw.waitForExit(${child.pid}, {timeout: 20_000});
      });`,
      {eval: true},
    );
    const messages: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      worker.on('error', reject);
      worker.on('message', (m) => {
        messages.push(m);
        if (m === 'waiting') {
          resolve();
        }
      });
    });
    expect(messages).toEqual([false, 'waiting']);
    await sleep(100);
    const started = performance.now();
    await worker.terminate();
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('rejects with the abort reason mid-wait (not at the timeout), and at once when already aborted', async () => {
    const child = spawnNode('setInterval(() => {}, 1000)');
    const controller = new AbortController();
    const reason = new Error('stop waiting');
    setTimeout(() => controller.abort(reason), 300);
    const started = performance.now();
    await expect(waitForExit(child.pid, {timeout: 20_000, signal: controller.signal})).rejects.toBe(
      reason,
    );
    expect(performance.now() - started).toBeLessThan(1000);
    await expect(
      waitForExit(child.pid, {timeout: 20_000, signal: AbortSignal.abort(reason)}),
    ).rejects.toBe(reason);
  });

  it('without the addon (PORTWARDEN_DISABLE_NATIVE=1) a zombie has exited, as documented', async () => {
    // `exec sleep` replaces the shell, so nothing ever waits for the background `sleep 0`:
    // it stays a zombie (state Z) until its parent is killed.
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    track(parent.pid);
    const zombie = Number(
      await new Promise<string>((resolve) =>
        parent.stdout.once('data', (d: Buffer) => resolve(String(d))),
      ),
    );
    const state = () => {
      const stat = readFileSync(`/proc/${zombie}/stat`, 'utf8');
      return stat.charAt(stat.lastIndexOf(')') + 2);
    };

    for (let i = 0; i < 100 && state() !== 'Z'; i++) {
      await sleep(10);
    }

    expect(state()).toBe('Z');
    const result = (await runNode(
      `
      const pw = await import(${JSON.stringify(distEntry)});
      const t0 = performance.now();
      const zombie = await pw.waitForExit(${zombie}, {timeout: 3000});
      const ms = performance.now() - t0;
      console.log(JSON.stringify({
        zombie,
        ms,
        sync: pw.waitForExitSync(${zombie}, {timeout: 3000}),
        running: await pw.waitForExit(${parent.pid}, {timeout: 200}),
      }));
    `,
      {PORTWARDEN_DISABLE_NATIVE: '1'},
    )) as {zombie: boolean; ms: number; sync: boolean; running: boolean};
    expect(result).toMatchObject({zombie: true, sync: true, running: false});
    expect(result.ms).toBeLessThan(1000);
    expect(state()).toBe('Z'); // still unreaped: the answer came from its state
  });

  describe('without pidfds (PORTWARDEN_DISABLE_PIDFD=1): polls /proc', () => {
    afterEach(() => {
      delete process.env.PORTWARDEN_DISABLE_PIDFD;
    });

    it('still sees the exit', async () => {
      process.env.PORTWARDEN_DISABLE_PIDFD = '1';
      const child = spawnNode('setInterval(() => {}, 1000)');
      setTimeout(() => child.kill('SIGKILL'), 100);
      await expect(waitForExit(child.pid, {timeout: 5000})).resolves.toBe(true);
      const l = await startListener();
      setTimeout(() => process.kill(l.pid, 'SIGKILL'), 50);
      await expect(waitForPortFree(l.port)).resolves.toMatchObject({port: l.port});
    });
  });
});

describe('bad input', () => {
  const cases: BadCall[] = [
    [
      'port 0',
      () => waitForPortFree(0),
      RangeError,
      'Expected port to be an integer between 1 and 65535, got 0',
    ],
    [
      'timeout 0',
      () => waitForPortFree(80, {timeout: 0}),
      RangeError,
      'Expected timeout to be a positive finite number of milliseconds, got 0',
    ],
    ['timeout -1', () => waitForPortFree(80, {timeout: -1}), RangeError, 'got -1'],
    ['timeout NaN', () => waitForPortFree(80, {timeout: Number.NaN}), RangeError, 'got NaN'],
    [
      'timeout Infinity',
      () => waitForPortFree(80, {timeout: Number.POSITIVE_INFINITY}),
      RangeError,
      'got Infinity',
    ],
    ['timeout string', () => waitForPortFree(80, {timeout: '5' as never}), TypeError, "got '5'"],
    [
      'signal not AbortSignal',
      () => waitForPortFree(80, {signal: {} as never}),
      TypeError,
      'Expected signal to be an AbortSignal, got {}',
    ],
    [
      'onProgress not a function',
      () => waitForPortFree(80, {onProgress: 1 as never}),
      TypeError,
      'Expected onProgress to be a function, got 1',
    ],
    [
      'unknown option',
      () => waitForPortFree(80, {timout: 5} as never),
      TypeError,
      "Unknown option 'timout' for waitForPortFree",
    ],
    [
      'host name',
      () => waitForPortFree(80, {host: 'localhost'}),
      TypeError,
      "Expected host to be an IPv4 or IPv6 address such as '127.0.0.1' or '::', got 'localhost'",
    ],
    [
      'sync signal',
      () => waitForPortFreeSync(80, {signal: new AbortController().signal} as never),
      TypeError,
      "Unknown option 'signal' for waitForPortFreeSync",
    ],
    [
      'listening pid 0',
      () => waitForListening(80, {pid: 0}),
      RangeError,
      'Expected pid to be an integer between 1 and 2147483647, got 0',
    ],
    ['listening pid -5', () => waitForListening(80, {pid: -5}), RangeError, 'got -5'],
    [
      'listening timeout',
      () => waitForListening(80, {timeout: Number.POSITIVE_INFINITY}),
      RangeError,
      'Expected timeout',
    ],
    [
      'exit pid 0',
      () => waitForExit(0),
      RangeError,
      'Expected target to be an integer between 1 and 2147483647, got 0',
    ],
    [
      'exit pid string',
      () => waitForExit('12' as never),
      TypeError,
      "Expected target to be a pid or a {pid, startTime} identity, got '12'",
    ],
    [
      'exit identity startTime',
      () => waitForExit({pid: 5, startTime: -1}),
      RangeError,
      'Expected target.startTime to be an integer between 0 and',
    ],
    ['exit timeout', () => waitForExit(5, {timeout: 0}), RangeError, 'Expected timeout'],
    [
      'exit signal',
      () => waitForExit(5, {signal: 'SIGTERM' as never}),
      TypeError,
      "Expected signal to be an AbortSignal, got 'SIGTERM'",
    ],
    [
      'exit sync signal',
      () => waitForExitSync(5, {signal: new AbortController().signal} as never),
      TypeError,
      "Unknown option 'signal' for waitForExitSync",
    ],
  ];

  itRefuses(cases);
});

describe('native guards', () => {
  const b = nativeBinding()!;
  it.each([
    [
      'waitExit mismatched arrays',
      () => b.waitExit([1, 2], [-1], 10),
      RangeError,
      'waitExit: expected startTimes to be an array as long as pids (2), got an array of length 1',
    ],
    [
      'waitExit pid 0',
      () => b.waitExit([0], [-1], 10),
      RangeError,
      'waitExit: expected pids[0] to be an integer between 1 and 2147483647, got 0',
    ],
    [
      'waitExit startTime -2',
      () => b.waitExit([1], [-2], 10),
      RangeError,
      'expected startTimes[0] to be an integer between -1 and 9007199254740991, got -2',
    ],
    [
      'waitExit timeout',
      () => b.waitExit([1], [-1], -1),
      RangeError,
      'expected timeoutMs to be an integer between 0 and 2147483647, got -1',
    ],
    [
      'waitExitAsync no args',
      () => (b.waitExitAsync as () => unknown)(),
      TypeError,
      'waitExitAsync: expected pids to be an array of at most 4096 elements, got undefined',
    ],
    [
      'signalProcess pid 0',
      () => b.signalProcess(0, -1, 0, true),
      RangeError,
      'signalProcess: expected pid to be an integer between 1 and 2147483647, got 0',
    ],
    [
      'signalProcess signo 99',
      () => b.signalProcess(1, -1, 99, true),
      RangeError,
      'expected signo to be an integer between 0 and 64, got 99',
    ],
    [
      'signalProcess startTime 1.5',
      () => b.signalProcess(1, 1.5, 0, true),
      RangeError,
      'expected startTime to be an integer between -1 and 9007199254740991, got 1.5',
    ],
    [
      'signalProcess usePidfd',
      () => b.signalProcess(1, -1, 0, 1 as never),
      TypeError,
      'expected usePidfd to be a boolean, got 1',
    ],
  ])('%s throws a %O naming the argument', (_name, call, ErrorClass, message) => {
    expect(call).toThrow(ErrorClass);
    expect(call).toThrow(message);
  });

  it('signalProcess: sent, mismatch, gone', async () => {
    const child = spawnNode('setInterval(() => {}, 1000)');
    await sleep(20);
    const {startTime} = processInfo(child.pid)!;
    expect(b.signalProcess(child.pid, startTime! + 1, 9, true)).toBe('mismatch');
    expect(b.signalProcess(child.pid, startTime!, 0, true)).toBe('sent');
    expect(b.signalProcess(child.pid, startTime!, 0, false)).toBe('sent');
    expect(b.waitExit([child.pid], [startTime!], 10)).toEqual([]);
    expect(b.signalProcess(child.pid, startTime!, 9, true)).toBe('sent');
    await exited(child);
    expect(b.signalProcess(child.pid, startTime!, 0, true)).toBe('gone');
    expect(b.waitExit([child.pid, process.pid], [startTime!, -1], 1000)).toEqual([0]);
  });
});
