import {readFileSync} from 'node:fs';
import {afterEach, describe, expect, it, onTestFinished} from 'vitest';
import {
  checkPortSync,
  freePort,
  freePortSync,
  PortBusyError,
  processInfo,
  terminate,
  TerminateError,
  terminateSync,
  TerminateAggregateError,
} from '../src/index.js';
import {
  type BadCall,
  bindServer,
  distEntry,
  itRefuses,
  runAsNobody,
  sleep,
  spawnNode,
  startListener,
} from './helpers.js';
import {testPort} from './ports.js';

/** Running (a zombie, exited but not yet reaped by us, is not). */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
};

async function rejection(promise: Promise<unknown>): Promise<TerminateAggregateError> {
  const error = await promise.then(
    () => undefined,
    (error_: unknown) => error_,
  );
  expect(error).toBeInstanceOf(TerminateAggregateError);
  expect(error).toBeInstanceOf(AggregateError);
  for (const e of (error as TerminateAggregateError).errors) {
    expect(e).toBeInstanceOf(TerminateError);
  }

  expect(Array.isArray((error as TerminateAggregateError).results)).toBe(true);
  return error as TerminateAggregateError;
}

const isRoot = process.getuid?.() === 0;

describe('killSignal forms', () => {
  it("takes 'SIGINT', 'int' and the number, and reports the canonical name", async () => {
    for (const killSignal of ['SIGINT', 'int', 2] as const) {
      const child = spawnNode('setInterval(() => {}, 1000)');
      await sleep(100);
      const [result] = await terminate([child.pid], {
        killSignal: killSignal as NodeJS.Signals,
        forceAfter: 5000,
      });
      expect(result).toMatchObject({pid: child.pid, killSignal: 'SIGINT', forced: false});
    }
  });
});

describe('freePort', () => {
  it('frees several ports in one call: every holder stopped, every port proven free', async () => {
    const a = await startListener({host: '127.0.0.1'});
    const b = await startListener({host: '127.0.0.1', onTerm: 'ignore'});
    const results = await freePort([a.port, b.port, a.port], {forceAfter: 300});
    expect(results.map((r) => r.pid).sort()).toEqual([a.pid, b.pid].sort());
    expect(results.find((r) => r.pid === b.pid)).toMatchObject({forced: true});
    (await bindServer(a.port)).close();
    (await bindServer(b.port)).close();
  });

  it('refuses several ports before signalling anything when one holder is excluded', async () => {
    const a = await startListener({host: '127.0.0.1'});
    const b = await startListener({host: '127.0.0.1'});
    await expect(freePort([a.port, b.port], {filter: {pids: [a.pid]}})).rejects.toBeInstanceOf(
      PortBusyError,
    );
    expect(alive(a.pid)).toBe(true);
    expect(alive(b.pid)).toBe(true);
    await expect(freePort([])).rejects.toThrow(RangeError);
    await expect(freePort([a.port, 0])).rejects.toThrow(/ports\[1\]/);
  });

  it('returns only once a draining server is gone; a naive kill-then-listen fails with EADDRINUSE', async () => {
    // The regression: SIGTERM, then listen at once, while the old server still drains.
    const naive = await startListener({onTerm: {drainMs: 800}});
    process.kill(naive.pid, 'SIGTERM');
    await expect(bindServer(naive.port)).rejects.toMatchObject({code: 'EADDRINUSE'});

    const l = await startListener({onTerm: {drainMs: 800}});
    const started = performance.now();
    const results = await freePort(l.port);
    const elapsed = performance.now() - started;
    expect(results).toEqual([
      {
        pid: l.pid,
        command: expect.stringContaining('listener.mjs') as string,
        killSignal: 'SIGTERM',
        forced: false,
        status: 'terminated',
      },
    ]);
    expect(elapsed).toBeGreaterThan(700);
    expect(alive(l.pid)).toBe(false);
    (await bindServer(l.port)).close(); // the new server binds at once
  });

  it('finds and stops a forked grandchild that inherited the listener and outlived its parent', async () => {
    const l = await startListener({forkHolder: true});
    process.kill(l.pid, 'SIGKILL');
    await l.exited;
    expect(checkPortSync(l.port).status).toBe('busy');
    const results = await freePort(l.port, {forceAfter: 2000});
    expect(results).toMatchObject([{pid: l.holderPid, status: 'terminated', forced: false}]);
    expect(checkPortSync(l.port).status).toBe('free');
    (await bindServer(l.port)).close();
  });

  it('stops every holder of a shared listener (parent and child)', async () => {
    const l = await startListener({forkHolder: true});
    const results = await freePort(l.port);
    expect(results.map((r) => r.pid).sort()).toEqual([l.pid, l.holderPid].sort());
    expect(checkPortSync(l.port).status).toBe('free');
  });

  it('escalates to SIGKILL after forceAfter and reports forced: true', async () => {
    const l = await startListener({onTerm: 'ignore'});
    const started = performance.now();
    const results = await freePort(l.port, {forceAfter: 300});
    expect(performance.now() - started).toBeGreaterThanOrEqual(295);
    expect(results).toMatchObject([
      {pid: l.pid, killSignal: 'SIGKILL', forced: true, status: 'terminated'},
    ]);
    expect(checkPortSync(l.port).status).toBe('free');
  });

  it('dryRun reports what would be signalled and signals nothing', async () => {
    const l = await startListener({onTerm: 'ignore'});
    const results = await freePort(l.port, {dryRun: true, killSignal: 'SIGINT'});
    expect(results).toMatchObject([
      {pid: l.pid, killSignal: 'SIGINT', forced: false, status: 'dry-run'},
    ]);
    expect(freePortSync(l.port, {dryRun: true})).toMatchObject([{pid: l.pid, status: 'dry-run'}]);
    expect(alive(l.pid)).toBe(true);
    expect(checkPortSync(l.port).status).toBe('busy');
  });

  it('filter: a holder the filter excludes makes it reject before signalling', async () => {
    const l = await startListener();
    await expect(freePort(l.port, {filter: {command: /python/}})).rejects.toThrow(
      `Cannot free port ${l.port}: it is also held by pid ${l.pid}`,
    );
    await expect(freePort(l.port, {filter: {pids: [l.pid + 100_000]}})).rejects.toThrow(
      PortBusyError,
    );
    await expect(freePort(l.port, {filter: {uid: 12_345}})).rejects.toThrow('filter excludes');
    expect(alive(l.pid)).toBe(true);
    const results = await freePort(l.port, {
      filter: {command: 'node', pids: [l.pid], uid: process.getuid!()},
    });
    expect(results).toMatchObject([{pid: l.pid, status: 'terminated'}]);
  });

  it('on a free port resolves with nothing signalled', async () => {
    const port = testPort();
    await expect(freePort(port)).resolves.toEqual([]);
  });

  it('freePortSync blocks until the port is free', async () => {
    const l = await startListener({onTerm: {drainMs: 300}});
    const started = performance.now();
    const results = freePortSync(l.port);
    expect(performance.now() - started).toBeGreaterThan(250);
    expect(results).toMatchObject([{pid: l.pid, status: 'terminated', forced: false}]);
    expect(checkPortSync(l.port).status).toBe('free');
  });

  it('refuses to stop its own listener (this process)', async () => {
    const port = testPort();
    const server = await bindServer(port);
    try {
      const error = await rejection(freePort(port, {killSignal: 'SIGCONT', forceAfter: false}));
      expect(error.errors[0]).toMatchObject({code: 'ERR_PROTECTED_PROCESS', pid: process.pid});
    } finally {
      server.close();
    }
  });

  it.runIf(isRoot)(
    'a holder another user cannot see: rejects naming the socket, signals nothing',
    async () => {
      const l = await startListener({host: '127.0.0.1'});
      const result = (await runAsNobody(`
        const pw = await import(${JSON.stringify(distEntry)});
        try {
          await pw.freePort(${l.port}, {timeout: 1000});
          console.log(JSON.stringify({ok: true}));
        } catch (error) {
          console.log(JSON.stringify({name: error.name, message: error.message}));
        }
      `)) as {name: string; message: string};
      expect(result.name).toBe('PortBusyError');
      expect(result.message).toContain(
        `Cannot free port ${l.port}: cannot tell who holds tcp 127.0.0.1:${l.port} LISTEN owner unknown (EACCES, uid 0)`,
      );
      expect(alive(l.pid)).toBe(true);
    },
  );
});

describe('terminate', () => {
  it('SIGTERM: resolves once the process has exited', async () => {
    const l = await startListener();
    const results = await terminate([l.pid]);
    expect(results).toEqual([
      {
        pid: l.pid,
        command: expect.stringContaining('listener.mjs') as string,
        killSignal: 'SIGTERM',
        forced: false,
        status: 'terminated',
      },
    ]);
    expect(alive(l.pid)).toBe(false);
  });

  it('a process ignoring SIGTERM gets SIGKILL after forceAfter (forced: true)', async () => {
    const l = await startListener({onTerm: 'ignore'});
    const started = performance.now();
    const results = await terminate([l.pid], {forceAfter: 300});
    const elapsed = performance.now() - started;
    expect(results).toMatchObject([
      {pid: l.pid, killSignal: 'SIGKILL', forced: true, status: 'terminated'},
    ]);
    expect(elapsed).toBeGreaterThanOrEqual(295);
    expect(elapsed).toBeLessThan(2000);
  });

  it('with only a short timeout, escalates halfway through it', async () => {
    const l = await startListener({onTerm: 'ignore'});
    const started = performance.now();
    const results = await terminate([l.pid], {timeout: 600});
    const elapsed = performance.now() - started;
    expect(results).toMatchObject([{pid: l.pid, forced: true, status: 'terminated'}]);
    expect(elapsed).toBeGreaterThanOrEqual(295);
    expect(elapsed).toBeLessThan(600);
  });

  it('forceAfter: false never escalates; the deadline is an ETIMEDOUT error', async () => {
    const l = await startListener({onTerm: 'ignore'});
    const error = await rejection(terminate([l.pid], {forceAfter: false, timeout: 300}));
    expect(error.errors).toHaveLength(1);
    expect(error.errors[0]).toMatchObject({code: 'ETIMEDOUT', pid: l.pid});
    expect(error.message).toContain(`pid ${l.pid}`);
    expect(error.results).toEqual([]);
    expect(alive(l.pid)).toBe(true);
  });

  it('PID reuse: an identity whose start time differs is never signalled, and is reported', async () => {
    const l = await startListener();
    const info = processInfo(l.pid)!;
    const stale = {pid: l.pid, startTime: info.startTime! - 1};
    const results = await terminate([stale], {killSignal: 'SIGKILL'});
    expect(results).toEqual([
      {pid: l.pid, command: null, killSignal: null, forced: false, status: 'reused'},
    ]);
    expect(terminateSync([stale], {killSignal: 'SIGKILL'})[0]!.status).toBe('reused');
    await sleep(50);
    expect(alive(l.pid)).toBe(true);
    expect(checkPortSync(l.port).status).toBe('busy');
    // The true identity is signalled.
    const ok = await terminate([{pid: l.pid, startTime: info.startTime!}]);
    expect(ok[0]!.status).toBe('terminated');
  });

  it('a target that already exited is reported as gone', async () => {
    const child = spawnNode('');
    await new Promise((resolve) => child.once('exit', resolve));
    await sleep(20);
    await expect(terminate([child.pid])).resolves.toEqual([
      {pid: child.pid, command: null, killSignal: null, forced: false, status: 'gone'},
    ]);
  });

  it('several targets: one wait, each escalated on its own', async () => {
    const a = await startListener();
    const b = await startListener({onTerm: 'ignore'});
    const c = await startListener({onTerm: {drainMs: 100}});
    const results = await terminate([a.pid, b.pid, c.pid], {forceAfter: 400});
    expect(results).toMatchObject([
      {pid: a.pid, forced: false, killSignal: 'SIGTERM'},
      {pid: b.pid, forced: true, killSignal: 'SIGKILL'},
      {pid: c.pid, forced: false, killSignal: 'SIGTERM'},
    ]);
  });

  it('terminateSync blocks until the exit', async () => {
    const l = await startListener({onTerm: 'ignore'});
    const results = terminateSync([l.pid], {forceAfter: 200});
    expect(results).toMatchObject([{pid: l.pid, forced: true}]);
    expect(alive(l.pid)).toBe(false);
  });

  it('never signals pid 1, this process or its ancestors; other targets still proceed', async () => {
    const l = await startListener();
    // SIGCONT: harmless even if a guard failed.
    const error = await rejection(
      terminate([1, process.pid, process.ppid, l.pid], {killSignal: 'SIGCONT', forceAfter: 300}),
    );
    expect(error.errors.map((e) => [e.pid, e.code])).toEqual([
      [1, 'ERR_PROTECTED_PROCESS'],
      [process.pid, 'ERR_PROTECTED_PROCESS'],
      [process.ppid, 'ERR_PROTECTED_PROCESS'],
    ]);
    expect(error.errors[0]!.message).toContain('Refusing to signal pid 1');
    expect(error.errors[1]!.message).toContain('this process');
    expect(error.errors[2]!.message).toContain('an ancestor of this process');
    expect(error.message).toContain('Failed to terminate 3 of 4 processes');
    // SIGCONT does not stop it, so it was escalated.
    expect(error.results).toMatchObject([{pid: l.pid, killSignal: 'SIGKILL', forced: true}]);
  });

  it.runIf(isRoot)("another user's process: refused unless allowOtherUsers", async () => {
    const l = await startListener({host: '127.0.0.1', uid: 65_534});
    const error = await rejection(terminate([l.pid]));
    expect(error.errors[0]).toMatchObject({code: 'ERR_OTHER_USER', pid: l.pid});
    expect(error.errors[0]!.message).toContain('it belongs to uid 65534, not 0');
    await expect(freePort(l.port)).rejects.toThrow(AggregateError);
    expect(alive(l.pid)).toBe(true);
    const results = await freePort(l.port, {allowOtherUsers: true});
    expect(results).toMatchObject([{pid: l.pid, status: 'terminated'}]);
  });

  it.runIf(isRoot)('EPERM from the kernel is reported, not swallowed', async () => {
    const l = await startListener({host: '127.0.0.1'});
    const result = (await runAsNobody(`
      const pw = await import(${JSON.stringify(distEntry)});
      try {
        await pw.terminate([${l.pid}], {allowOtherUsers: true, timeout: 1000, forceAfter: 500});
        console.log(JSON.stringify({ok: true}));
      } catch (error) {
        console.log(JSON.stringify({name: error.name, errors: error.errors.map((e) => ({code: e.code, pid: e.pid, message: e.message}))}));
      }
    `)) as {name: string; errors: Array<{code: string; pid: number; message: string}>};
    expect(result.name).toBe('TerminateAggregateError');
    expect(result.errors).toEqual([
      {
        code: 'EPERM',
        pid: l.pid,
        message: expect.stringContaining('Cannot send SIGTERM') as string,
      },
    ]);
    expect(alive(l.pid)).toBe(true);
  });

  describe('without pidfds (PORTWARDEN_DISABLE_PIDFD=1): kill(2) after a re-check, polled exits', () => {
    afterEach(() => {
      delete process.env.PORTWARDEN_DISABLE_PIDFD;
    });

    it('escalates, and still refuses a reused pid', async () => {
      process.env.PORTWARDEN_DISABLE_PIDFD = '1';
      const l = await startListener({onTerm: 'ignore'});
      const info = processInfo(l.pid)!;
      await expect(
        terminate([{pid: l.pid, startTime: info.startTime! + 1}], {killSignal: 'SIGKILL'}),
      ).resolves.toMatchObject([{status: 'reused'}]);
      expect(alive(l.pid)).toBe(true);
      await expect(terminate([l.pid], {forceAfter: 200})).resolves.toMatchObject([
        {pid: l.pid, forced: true, status: 'terminated'},
      ]);
      expect(alive(l.pid)).toBe(false);
    });
  });
});

/** An AbortController that aborts with a reason of its own after `ms`. */
function abortAfter(ms: number) {
  const controller = new AbortController();
  const reason = new Error(`aborted after ${ms} ms`);
  const timer = setTimeout(() => controller.abort(reason), ms);
  onTestFinished(() => clearTimeout(timer));
  return {signal: controller.signal, reason};
}

describe('signal (AbortSignal)', () => {
  it('terminate: an abort ends the wait at once (not after forceAfter), and nothing more is sent', async () => {
    const l = await startListener({onTerm: 'ignore'});
    const {signal, reason} = abortAfter(300);
    const started = performance.now();
    await expect(terminate([l.pid], {forceAfter: 20_000, signal})).rejects.toBe(reason);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1000);
    await sleep(100);
    expect(alive(l.pid)).toBe(true); // SIGTERM was ignored; SIGKILL never came
  });

  it('terminate: an already aborted signal rejects before signalling anything', async () => {
    const l = await startListener();
    const reason = new Error('already');
    await expect(terminate([l.pid], {signal: AbortSignal.abort(reason)})).rejects.toBe(reason);
    await sleep(100);
    expect(alive(l.pid)).toBe(true); // it exits on SIGTERM: none was sent
  });

  it('freePort: an abort ends the wait at once', async () => {
    const l = await startListener({onTerm: 'ignore'});
    const {signal, reason} = abortAfter(300);
    const started = performance.now();
    await expect(freePort(l.port, {forceAfter: 20_000, signal})).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(checkPortSync(l.port).status).toBe('busy');
  });

  it('an unaborted signal changes nothing', async () => {
    const l = await startListener();
    const results = await freePort(l.port, {signal: new AbortController().signal});
    expect(results).toMatchObject([{pid: l.pid, status: 'terminated', killSignal: 'SIGTERM'}]);
  });
});

describe('bad input', () => {
  const cases: BadCall[] = [
    [
      'empty targets',
      () => terminate([]),
      RangeError,
      'Expected targets to be a non-empty array of pids or {pid, startTime} identities, got []',
    ],
    [
      'targets not an array',
      () => terminate(5 as never),
      TypeError,
      'Expected targets to be a non-empty array',
    ],
    [
      'pid 0',
      () => terminate([0]),
      RangeError,
      'Expected targets[0] to be an integer between 1 and 2147483647, got 0',
    ],
    [
      'pid -1',
      () => terminate([5, -1]),
      RangeError,
      'Expected targets[1] to be an integer between 1 and 2147483647, got -1',
    ],
    ['pid NaN', () => terminate([Number.NaN]), RangeError, 'got NaN'],
    ['pid 1.5', () => terminate([1.5]), RangeError, 'got 1.5'],
    [
      'pid string',
      () => terminate(['5' as never]),
      TypeError,
      "Expected targets[0] to be a pid or a {pid, startTime} identity, got '5'",
    ],
    [
      'identity without startTime',
      () => terminate([{pid: 5} as never]),
      TypeError,
      'Expected targets[0] to be a pid or a {pid, startTime} identity',
    ],
    [
      'identity startTime string',
      () => terminate([{pid: 5, startTime: '1' as never}]),
      TypeError,
      "Expected targets[0].startTime to be an integer between 0 and 9007199254740991, got '1'",
    ],
    [
      'unknown killSignal',
      () => terminate([5], {killSignal: 'SIGFOO' as never}),
      TypeError,
      "Expected killSignal to be a signal such as 'SIGTERM', 'TERM' or 15, got 'SIGFOO'",
    ],
    // Numbers name signals; one that names none is refused (nothing is sent).
    ['killSignal number', () => terminate([5], {killSignal: 999}), TypeError, 'got 999'],
    ['killSignal 0', () => terminate([5], {killSignal: 0}), TypeError, 'got 0'],
    [
      'a signal name as signal (the AbortSignal)',
      () => terminate([5], {signal: 'SIGCONT' as never}), // harmless if it were sent
      TypeError,
      "Expected signal to be an AbortSignal, got 'SIGCONT' (the signal to send is killSignal)",
    ],
    [
      'signal not an AbortSignal',
      () => terminate([5], {signal: {aborted: false} as never}),
      TypeError,
      'Expected signal to be an AbortSignal, got { aborted: false }',
    ],
    [
      'sync signal',
      () => terminateSync([5], {signal: new AbortController().signal} as never),
      TypeError,
      "Unknown option 'signal' for terminateSync",
    ],
    [
      'forceAfter 0',
      () => terminate([5], {forceAfter: 0}),
      RangeError,
      'Expected forceAfter to be a positive finite number of milliseconds, got 0',
    ],
    ['forceAfter true', () => terminate([5], {forceAfter: true as never}), TypeError, 'got true'],
    [
      'forceAfter Infinity',
      () => terminate([5], {forceAfter: Number.POSITIVE_INFINITY}),
      RangeError,
      'got Infinity',
    ],
    [
      'timeout NaN',
      () => terminate([5], {timeout: Number.NaN}),
      RangeError,
      'Expected timeout to be a positive finite number of milliseconds, got NaN',
    ],
    [
      'timeout before forceAfter',
      () => terminate([5], {forceAfter: 1000, timeout: 500}),
      RangeError,
      'Expected timeout to be greater than forceAfter (1000), got 500',
    ],
    [
      'allowOtherUsers',
      () => terminate([5], {allowOtherUsers: 'yes' as never}),
      TypeError,
      "Expected allowOtherUsers to be a boolean, got 'yes'",
    ],
    [
      'unknown option',
      () => terminate([5], {force: true} as never),
      TypeError,
      "Unknown option 'force' for terminate",
    ],
    ['sync empty', () => terminateSync([]), RangeError, 'non-empty array'],
    [
      'freePort port',
      () => freePort(70_000),
      RangeError,
      'Expected port to be an integer between 1 and 65535, got 70000',
    ],
    [
      'freePort filter type',
      () => freePort(80, {filter: 'node' as never}),
      TypeError,
      "Expected filter to be an object with command, uid or pids, got 'node'",
    ],
    [
      'freePort filter.command',
      () => freePort(80, {filter: {command: 5 as never}}),
      TypeError,
      'Expected filter.command to be a RegExp or a string, got 5',
    ],
    [
      'freePort filter.uid',
      () => freePort(80, {filter: {uid: -1}}),
      RangeError,
      'Expected filter.uid to be an integer between 0 and 4294967295, got -1',
    ],
    [
      'freePort filter.pids',
      () => freePort(80, {filter: {pids: [0]}}),
      RangeError,
      'Expected filter.pids[0] to be an integer between 1 and 2147483647, got 0',
    ],
    [
      'freePort filter key',
      () => freePort(80, {filter: {name: 'x'} as never}),
      TypeError,
      "Unknown option 'name' for filter",
    ],
    [
      'freePort dryRun',
      () => freePort(80, {dryRun: 1 as never}),
      TypeError,
      'Expected dryRun to be a boolean, got 1',
    ],
    [
      'freePort timeout',
      () => freePort(80, {timeout: -5}),
      RangeError,
      'Expected timeout to be a positive finite number of milliseconds, got -5',
    ],
    [
      'freePort killSignal',
      () => freePort(80, {killSignal: 'NOTASIG' as never}),
      TypeError,
      "Expected killSignal to be a signal such as 'SIGTERM', 'TERM' or 15, got 'NOTASIG'",
    ],
    [
      'freePort signal',
      () => freePort(80, {signal: 'SIGCONT' as never}),
      TypeError,
      "Expected signal to be an AbortSignal, got 'SIGCONT' (the signal to send is killSignal)",
    ],
    [
      'freePort host',
      () => freePort(80, {host: 'example.com'}),
      TypeError,
      'Expected host to be an IPv4 or IPv6 address',
    ],
    [
      'freePort protocol',
      () => freePort(80, {protocol: 'sctp' as never}),
      TypeError,
      "Expected protocol to be one of 'tcp', 'udp', got 'sctp'",
    ],
    [
      'freePortSync signal',
      () => freePortSync(80, {signal: new AbortController().signal} as never),
      TypeError,
      "Unknown option 'signal' for freePortSync",
    ],
    [
      'freePortSync option',
      () => freePortSync(80, {dryrun: true} as never),
      TypeError,
      "Unknown option 'dryrun' for freePortSync",
    ],
  ];

  itRefuses(cases);
});
