import {spawn} from 'node:child_process';
import {existsSync, readFileSync, statSync, writeFileSync} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {claimInstance, type IsAlive, processInfo, readPidFile} from '../src/index.js';
import {
  isServiceRecord,
  parseServiceRecord,
  serialiseServiceRecord,
  servicePathOf,
} from '../src/service-record.js';
import {type Claimer, forkClaimer} from './claimer.js';
import {aliveByPing} from './fixtures/ping.mjs';
import {numberedDirs, startListener, track} from './helpers.js';
import {testPort} from './ports.js';

const dir = numberedDirs('portwarden-instance-');
const self = processInfo(process.pid)!;

function service(config: Record<string, unknown>): Claimer {
  return forkClaimer(config, {fixture: 'instance.mjs'});
}

async function ready(c: Claimer): Promise<void> {
  expect(await c.next()).toMatchObject({ready: true});
}

async function claimIn(c: Claimer): Promise<Record<string, unknown>> {
  c.send({cmd: 'claim'});
  return c.next();
}

const isAlive: IsAlive = aliveByPing();

describe('claimInstance', () => {
  it('owns a free PID file, records its service, and release removes both', async () => {
    const pidFile = path.join(dir(), 'svc.pid');
    const port = testPort();
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      const r = await claimInstance({pidFile, port, data: {version: 1}});
      expect(r.role).toBe('owner');
      if (r.role !== 'owner') {
        return;
      }

      const {handle} = r;
      expect(handle).toMatchObject({path: pidFile, pid: process.pid, created: true});
      expect(handle.servicePath).toBe(`${pidFile}.service.json`);
      const record = handle.recordService();
      expect(record).toEqual({
        pid: process.pid,
        startTime: self.startTime,
        bootId: self.bootId,
        port,
        socketPath: undefined,
      });
      expect(JSON.parse(readFileSync(handle.servicePath, 'utf8'))).toEqual({
        portwarden: 'service',
        pid: process.pid,
        startTime: self.startTime,
        bootId: self.bootId,
        port,
      });
      // Seen from a second claimer: the holder is us, its record is confirmed by the probe.
      const again = await claimInstance({pidFile});
      expect(again).toMatchObject({
        role: 'existing',
        holder: {pid: process.pid, hung: false, data: {version: 1}, service: {port}},
      });
      handle.release();
      expect(existsSync(pidFile)).toBe(false);
      expect(existsSync(handle.servicePath)).toBe(false);
      expect(() => handle.recordService()).toThrow(expect.objectContaining({code: 'EBADF'}));
    } finally {
      server.close();
    }
  });

  it('reports a SIGSTOPped holder as hung, and replaces it with replaceHung', async () => {
    const pidFile = path.join(dir(), 'hung.pid');
    const holder = service({pidFile});
    await ready(holder);
    const owned = await claimIn(holder);
    expect(owned).toMatchObject({role: 'owner', pid: holder.pid});

    // Alive: it answers the status request.
    let r = await claimInstance({pidFile, isAlive, aliveTimeout: 1000});
    expect(r).toMatchObject({
      role: 'existing',
      holder: {pid: holder.pid, hung: false, alive: true, service: {port: owned.port}},
    });

    process.kill(holder.pid, 'SIGSTOP');
    let started = performance.now();
    r = await claimInstance({pidFile, isAlive, aliveTimeout: 300});
    let elapsed = performance.now() - started;
    expect(r).toMatchObject({
      role: 'existing',
      // A stopped process still holds its lock and its listening socket.
      holder: {pid: holder.pid, hung: true, alive: true, service: {port: owned.port}},
    });
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1300);
    expect(readPidFile(pidFile)).toMatchObject({pid: holder.pid, locked: true});

    // An isAlive that throws or answers false counts as hung as well (without waiting).
    r = await claimInstance({
      pidFile,
      isAlive() {
        throw new Error('boom');
      },
    });
    expect(r).toMatchObject({role: 'existing', holder: {hung: true}});

    started = performance.now();
    r = await claimInstance({
      pidFile,
      isAlive,
      aliveTimeout: 300,
      replaceHung: true,
      forceAfter: 200,
    });
    elapsed = performance.now() - started;
    expect(r.role).toBe('owner');
    if (r.role !== 'owner') {
      return;
    }

    // aliveTimeout + forceAfter, plus the time to die and a generous margin.
    expect(elapsed).toBeLessThan(300 + 200 + 1500);
    expect(r.handle).toMatchObject({tookOver: true, previous: {pid: holder.pid}});
    expect(await holder.exited).toMatchObject({signal: 'SIGKILL'});
    // The dead holder's service record was removed at claim time.
    expect(existsSync(r.handle.servicePath)).toBe(false);
    r.handle.release();
  });

  it('ends with exactly one owner among 4 concurrent callers (5 rounds)', async () => {
    const pidFile = path.join(dir(), 'four.pid');
    const callers = [0, 1, 2, 3].map(() => service({pidFile, aliveTimeout: 2000}));
    await Promise.all(callers.map(ready));
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all(callers.map(claimIn));
      const owners = results.filter((m) => m.role === 'owner');
      expect(owners, JSON.stringify(results)).toHaveLength(1);
      const owner = owners[0]!;
      for (const m of results) {
        if (m !== owner) {
          expect(m).toMatchObject({role: 'existing', holderPid: owner.pid, hung: false});
        }
      }

      const c = callers.find((x) => x.pid === owner.pid)!;
      c.send({cmd: 'release'});
      expect(await c.next()).toEqual({released: true});
    }
  });

  it('4 concurrent callers replace one hung holder: one owner, the others see it alive', async () => {
    const pidFile = path.join(dir(), 'four-hung.pid');
    const port = testPort();
    const config = {pidFile, port, aliveTimeout: 500, replaceHung: true, forceAfter: 200};
    const hung = service(config);
    await ready(hung);
    expect(await claimIn(hung)).toMatchObject({role: 'owner', port});
    process.kill(hung.pid, 'SIGSTOP');

    const callers = [0, 1, 2, 3].map(() => service(config));
    await Promise.all(callers.map(ready));
    const started = performance.now();
    const results = await Promise.all(callers.map(claimIn));
    const elapsed = performance.now() - started;
    const owners = results.filter((m) => m.role === 'owner');
    expect(owners, JSON.stringify(results)).toHaveLength(1);
    const owner = owners[0]!;
    expect(owner).toMatchObject({tookOver: true, previousPid: hung.pid, port});
    for (const m of results) {
      if (m !== owner) {
        expect(m).toMatchObject({role: 'existing', holderPid: owner.pid, hung: false});
      }
    }

    expect(await hung.exited).toMatchObject({signal: 'SIGKILL'});
    expect(elapsed).toBeLessThan(500 + 200 + 3000);
  });

  it('trusts a service record only while the probe shows the port held by that identity', async () => {
    const pidFile = path.join(dir(), 'trust.pid');
    const servicePath = `${pidFile}.service.json`;
    const owner = service({pidFile});
    await ready(owner);
    const owned = await claimIn(owner);
    const port = owned.port as number;
    let r = await claimInstance({pidFile});
    expect(r).toMatchObject({role: 'existing', holder: {pid: owner.pid, service: {port}}});

    // It stops listening: the record stays (it is the holder's) but is not trusted.
    owner.send({cmd: 'close'});
    expect(await owner.next()).toEqual({closed: true});
    r = await claimInstance({pidFile});
    expect(r).toMatchObject({role: 'existing', holder: {pid: owner.pid, service: undefined}});
    expect(existsSync(servicePath)).toBe(true);

    // Another process listens on that port: still not the recorded identity.
    const other = await startListener({host: '127.0.0.1', port});
    expect(other.pid).not.toBe(owner.pid);
    r = await claimInstance({pidFile});
    expect(r).toMatchObject({role: 'existing', holder: {pid: owner.pid, service: undefined}});

    // A record naming another process than the holder is stale: removed at claim time.
    const record = JSON.parse(readFileSync(servicePath, 'utf8')) as Record<string, unknown>;
    writeFileSync(servicePath, JSON.stringify({...record, pid: other.pid, startTime: 1}));
    r = await claimInstance({pidFile});
    expect(r).toMatchObject({role: 'existing', holder: {pid: owner.pid, service: undefined}});
    expect(existsSync(servicePath)).toBe(false);

    // Corrupt records are removed too.
    writeFileSync(servicePath, '{"portwarden":"service","pid":"x"');
    await claimInstance({pidFile});
    expect(existsSync(servicePath)).toBe(false);
  });

  it('removes the record of a dead owner when it takes over', async () => {
    const pidFile = path.join(dir(), 'dead.pid');
    const owner = service({pidFile});
    await ready(owner);
    await claimIn(owner);
    expect(existsSync(`${pidFile}.service.json`)).toBe(true);
    owner.child.kill('SIGKILL');
    await owner.exited;
    const r = await claimInstance({pidFile});
    expect(r).toMatchObject({role: 'owner', handle: {tookOver: true}});
    expect(existsSync(`${pidFile}.service.json`)).toBe(false);
    if (r.role === 'owner') {
      r.handle.release();
    }
  });

  it('trusts a unix socket record while that process listens on it', async () => {
    const d = dir();
    const pidFile = path.join(d, 'sock.pid');
    const socketPath = path.join(d, 'svc.sock');
    const r = await claimInstance({pidFile, socketPath});
    expect(r.role).toBe('owner');
    if (r.role !== 'owner') {
      return;
    }

    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    expect(r.handle.recordService()).toMatchObject({socketPath, port: undefined});
    expect(await claimInstance({pidFile})).toMatchObject({
      role: 'existing',
      holder: {pid: process.pid, service: {socketPath}},
    });
    await new Promise((resolve) => server.close(resolve));
    expect(await claimInstance({pidFile})).toMatchObject({
      role: 'existing',
      holder: {pid: process.pid, service: undefined},
    });
    r.handle.release();
  });

  it('never replaces a holder it cannot identify or this very process', async () => {
    const pidFile = path.join(dir(), 'self.pid');
    const r = await claimInstance({pidFile});
    expect(r.role).toBe('owner');
    const again = await claimInstance({
      pidFile,
      isAlive: () => false,
      replaceHung: true,
    });
    expect(again).toMatchObject({role: 'existing', holder: {pid: process.pid, hung: true}});
    if (r.role === 'owner') {
      r.handle.release();
    }
  });

  it("reports a foreign daemon's live plain-pid file as the existing instance and leaves it alone", async () => {
    const pidFile = path.join(dir(), 'foreign.pid');
    const daemon = spawn('sleep', ['60'], {stdio: 'ignore'});
    track(daemon.pid);
    writeFileSync(pidFile, `${daemon.pid}\n`);
    const before = {bytes: readFileSync(pidFile, 'utf8'), mtimeMs: statSync(pidFile).mtimeMs};
    const r = await claimInstance({pidFile});
    expect(r).toMatchObject({
      role: 'existing',
      holder: {pid: daemon.pid, locked: false, alive: true, hung: false, service: undefined},
    });
    // A bare pid is not an identity: never replaced, even when it does not answer.
    const hung = await claimInstance({pidFile, isAlive: () => false, replaceHung: true});
    expect(hung).toMatchObject({role: 'existing', holder: {pid: daemon.pid, hung: true}});
    expect(daemon.exitCode).toBeNull();
    expect(daemon.signalCode).toBeNull();
    expect({bytes: readFileSync(pidFile, 'utf8'), mtimeMs: statSync(pidFile).mtimeMs}).toEqual(
      before,
    );
  });

  it('an AbortSignal ends the liveness question and the replacement at once', async () => {
    const pidFile = path.join(dir(), 'abort.pid');
    const holder = service({pidFile});
    await ready(holder);
    expect(await claimIn(holder)).toMatchObject({role: 'owner'});
    const never: IsAlive = async () => new Promise(() => {});
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop asking')), 200);
    const started = performance.now();
    await expect(
      claimInstance({pidFile, isAlive: never, aliveTimeout: 20_000, signal: controller.signal}),
    ).rejects.toThrow('stop asking');
    expect(performance.now() - started).toBeLessThan(5000);
    await expect(
      claimInstance({pidFile, signal: AbortSignal.abort(new Error('already'))}),
    ).rejects.toThrow('already');
    await expect(claimInstance({pidFile, signal: 'SIGTERM' as never})).rejects.toThrow(
      /AbortSignal/,
    );
    holder.child.kill();
  });

  it('validates its arguments', async () => {
    const pidFile = path.join(dir(), 'v.pid');
    const claim = claimInstance as (options: unknown) => Promise<unknown>;
    await expect(claim(undefined)).rejects.toThrow(
      new TypeError('Expected the options of claimInstance to be an object, got undefined'),
    );
    await expect(claim({})).rejects.toThrow(
      new TypeError('Expected pidFile to be a non-empty string, got undefined'),
    );
    await expect(claim({pidFile, port: 0})).rejects.toThrow(
      new RangeError('Expected port to be an integer between 1 and 65535, got 0'),
    );
    await expect(claim({pidFile, socketPath: 'x'.repeat(200)})).rejects.toThrow(RangeError);
    await expect(claim({pidFile, isAlive: true})).rejects.toThrow(
      new TypeError('Expected isAlive to be a function, got true'),
    );
    await expect(claim({pidFile, aliveTimeout: -1})).rejects.toThrow(RangeError);
    await expect(claim({pidFile, replaceHung: 'yes'})).rejects.toThrow(
      new TypeError("Expected replaceHung to be a boolean, got 'yes'"),
    );
    await expect(claim({pidFile, forceAfter: 0})).rejects.toThrow(RangeError);
    await expect(claim({pidFile, pidfile: 'x'})).rejects.toThrow(/Unknown option 'pidfile'/);
    expect(existsSync(pidFile)).toBe(false);

    const r = await claimInstance({pidFile});
    if (r.role === 'owner') {
      expect(() => r.handle.recordService()).toThrow(
        new TypeError('Expected recordService to be given a port or a socketPath'),
      );
      expect(() => r.handle.recordService({port: 70_000})).toThrow(RangeError);
      expect(() => r.handle.recordService({host: 'x'} as never)).toThrow(/Unknown option 'host'/);
      r.handle.release();
    }
  });
});

describe('service record', () => {
  const record = {pid: 4711, startTime: 123, bootId: 'b-1', port: 8080, socketPath: undefined};

  it('round-trips through its file text, tagged, one line', () => {
    const text = serialiseServiceRecord(record);
    expect(text).toBe(
      '{"portwarden":"service","pid":4711,"startTime":123,"bootId":"b-1","port":8080}\n',
    );
    expect(parseServiceRecord(text)).toEqual(record);
    const socket = {...record, port: undefined, socketPath: '/run/app.sock'};
    expect(parseServiceRecord(serialiseServiceRecord(socket))).toEqual(socket);
    expect(servicePathOf('/run/app.pid')).toBe('/run/app.pid.service.json');
  });

  it('keeps only its own fields', () => {
    const text = JSON.stringify({portwarden: 'service', ...record, extra: true});
    expect(parseServiceRecord(text)).toEqual(record);
  });

  it.each([
    ['not JSON', '{"portwarden":"service","pid":"x"'],
    ['untagged', JSON.stringify(record)],
    ['another tag', JSON.stringify({...record, portwarden: 'stopping'})],
    ['an array', '[4711]'],
    ['null', 'null'],
    ['pid 0', JSON.stringify({portwarden: 'service', ...record, pid: 0})],
    ['a string pid', JSON.stringify({portwarden: 'service', ...record, pid: '4711'})],
    ['a fractional start time', JSON.stringify({portwarden: 'service', ...record, startTime: 1.5})],
    ['a numeric boot id', JSON.stringify({portwarden: 'service', ...record, bootId: 7})],
    ['port 0', JSON.stringify({portwarden: 'service', ...record, port: 0})],
    ['port 65536', JSON.stringify({portwarden: 'service', ...record, port: 65_536})],
    ['a numeric socket path', JSON.stringify({portwarden: 'service', ...record, socketPath: 1})],
    ['neither port nor socket', JSON.stringify({portwarden: 'service', pid: 1, startTime: 1})],
  ])('refuses %s', (_name, text) => {
    expect(parseServiceRecord(text)).toBeUndefined();
  });

  it('isServiceRecord narrows unknown values', () => {
    const value: unknown = JSON.parse(JSON.stringify(record));
    expect(isServiceRecord(value)).toBe(true);
    expect(isServiceRecord({...record, port: undefined})).toBe(false);
    expect(isServiceRecord(undefined)).toBe(false);
    expect(isServiceRecord('4711')).toBe(false);
  });
});
