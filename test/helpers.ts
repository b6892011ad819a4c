import {type ChildProcess, fork, spawn, type StdioOptions} from 'node:child_process';
import {chmodSync, mkdirSync, mkdtempSync, rmSync} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {execa} from 'execa';
import {afterAll, afterEach, expect, inject, it, onTestFinished} from 'vitest';
import {testPort} from './ports.js';

export const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
Paths and file URLs into the checkout (in a path, a URL or a code string), as a child running
as uid 65534 must name them: the checkout itself, or its view when uid 65534 cannot reach
the checkout (test/global-setup.ts).
*/
export function forNobody(text: string): string {
  const view = inject('nobodyRoot');
  if (view === repoRoot) {
    return text;
  }

  return text
    .replaceAll(pathToFileURL(repoRoot).href, pathToFileURL(view).href)
    .replaceAll(repoRoot, view);
}

/** The environment of a child running as uid 65534 (the addon override mapped to the view). */
export function nobodyEnv(): NodeJS.ProcessEnv {
  const addon = process.env.PORTWARDEN_ADDON_PATH;
  return addon === undefined
    ? process.env
    : {...process.env, PORTWARDEN_ADDON_PATH: forNobody(addon)};
}

/**
Forks test/fixtures/`name` with an IPC channel; with `uid`, as that user, through the paths,
environment and node options (those of the worker) that it can reach.
*/
export function forkFixture(
  name: string,
  args: string[],
  ids: {uid?: number; gid?: number} = {},
): ChildProcess {
  const script = path.join(fixtures, name);
  const stdio: StdioOptions = ['ignore', 'inherit', 'inherit', 'ipc'];
  if (ids.uid === undefined) {
    return fork(script, args, {stdio});
  }

  return fork(forNobody(script), args, {
    stdio,
    uid: ids.uid,
    gid: ids.gid ?? ids.uid,
    env: nobodyEnv(),
    execArgv: process.execArgv.map((a) => forNobody(a)),
  });
}

export type ListenerConfig = {
  kind?: 'tcp' | 'udp' | 'unix';
  host?: string;
  port?: number;
  path?: string;
  ipv6Only?: boolean;
  onTerm?: 'exit' | 'ignore' | {drainMs: number};
  forkHolder?: boolean;
  heapMiB?: number;
  /** Run the child as this uid/gid (root only). */
  uid?: number;
  gid?: number;
};

export type Listener = {
  child: ChildProcess;
  pid: number;
  port: number;
  path?: string;
  holderPid?: number;
  exited: Promise<void>;
};

const spawned = new Set<number>();

/** Registers a pid that the current test started, to be SIGKILLed after the test. */
export function track(pid: number | undefined): void {
  if (pid !== undefined) {
    spawned.add(pid);
  }
}

afterEach(() => {
  for (const pid of spawned) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }

  spawned.clear();
});

/**
Starts test/fixtures/listener.mjs and resolves once it is bound (a TCP or UDP listener without
a `port` on a `testPort()`).
*/
export async function startListener(config: ListenerConfig = {}): Promise<Listener> {
  const {uid, gid, ...rest} = config;
  if (rest.kind !== 'unix' && rest.port === undefined) {
    rest.port = testPort();
  }

  const child = forkFixture('listener.mjs', [JSON.stringify(rest)], {uid, gid});
  track(child.pid);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const message = await new Promise<{pid: number; port: number; path?: string; holderPid?: number}>(
    (resolve, reject) => {
      child.once('message', (m) => resolve(m as never));
      child.once('exit', (code, signal) =>
        reject(new Error(`listener exited early (${code ?? signal})`)),
      );
    },
  );
  track(message.holderPid);
  return {child, exited, ...message};
}

/** A temporary directory removed when the test that made it ends (or after the file). */
export function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'portwarden-test-'));
  const remove = () => rmSync(dir, {recursive: true, force: true});
  try {
    onTestFinished(remove); // inside a test
  } catch {
    afterAll(remove); // at file or describe level
  }

  return dir;
}

/**
A temporary directory `<prefix>XXXXXX` removed after the test file, and a function that makes
a new subdirectory of it (0, 1, 2, ..., mode 0755) on each call.
*/
export function numberedDirs(prefix: string): () => string {
  const root = mkdtempSync(path.join(tmpdir(), prefix));
  afterAll(() => rmSync(root, {recursive: true, force: true}));
  let counter = 0;
  return () => {
    const d = path.join(root, String(counter++));
    mkdirSync(d);
    chmodSync(d, 0o755);
    return d;
  };
}

/** Runs a command and returns its stdout (throws on failure). */
export async function run(command: string, args: string[]): Promise<string> {
  const child = spawn(command, args, {stdio: ['ignore', 'pipe', 'inherit']});
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${code}`);
  }

  return out;
}

export const sleep = async (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
The package as it ships (dist/bundle/index.js, what `exports` names) as a file URL, for code
run in child processes (`npm test` builds it first).
*/
export const distEntry = pathToFileURL(path.join(repoRoot, 'dist', 'bundle', 'index.js')).href;

/** The built CLI as it ships (dist/bundle/bin.cjs, what `bin` names). */
export const distBin = path.join(repoRoot, 'dist', 'bundle', 'bin.cjs');

/** A compiled module of dist/ (unbundled), as a file URL: `distModule('cli/spec.js')`. */
export const distModule = (file: string) => pathToFileURL(path.join(repoRoot, 'dist', file)).href;

/** Runs the built CLI (stdin ignored); resolves whatever its exit code. */
export async function runCli(args: string[], env: Record<string, string> = {}) {
  return execa(process.execPath, [distBin, ...args], {reject: false, env, stdin: 'ignore'});
}

/** Tracks a spawned child and collects its output until it exits. */
export async function collect(child: ChildProcess): Promise<{
  status: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}> {
  track(child.pid);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('exit', (c, s) => resolve([c, s])),
  );
  return {status, signal, out, err};
}

/** The JSON a child printed, once it exited 0 with nothing on stderr (the test fails otherwise). */
export async function jsonOf<T = unknown>(child: ChildProcess): Promise<T> {
  const {status, err, out} = await collect(child);
  expect({status, err}).toEqual({status: 0, err: ''});
  return JSON.parse(out) as T;
}

/** Runs `code` (an ES module that prints JSON) in a fresh node process with extra environment. */
export async function runNode<T = unknown>(code: string, env: NodeJS.ProcessEnv = {}): Promise<T> {
  return jsonOf<T>(
    spawn(process.execPath, ['--input-type=module', '-e', code], {
      env: {...process.env, ...env},
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/** Runs `code` (an ES module) with node as uid/gid 65534 (root only) and returns its JSON output. */
export async function runAsNobody(code: string): Promise<unknown> {
  return jsonOf(
    spawn(process.execPath, ['--input-type=module', '-e', forNobody(code)], {
      uid: 65_534,
      gid: 65_534,
      env: nobodyEnv(),
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/** Binds a new TCP server on the port (proving it free); rejects with EADDRINUSE otherwise. */
export async function bindServer(port: number): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, resolve);
  });
  return server;
}

/** Runs `node -e code`, tracked for cleanup. */
export function spawnNode(code: string): ChildProcess & {pid: number} {
  const child = spawn(process.execPath, ['-e', code], {stdio: 'ignore'});
  track(child.pid);
  return child as ChildProcess & {pid: number};
}

/** A call with bad arguments: its name, the call, the error class and a part of its message. */
export type BadCall = [
  name: string,
  call: () => unknown,
  ErrorClass: ErrorConstructor,
  message: string,
];

/** One test per bad call: it throws or rejects with that class, with that in its message. */
export function itRefuses(cases: readonly BadCall[]): void {
  it.each(cases)('%s', async (_name, call, ErrorClass, message) => {
    const error = await Promise.resolve()
      .then(call)
      .catch((error_: unknown) => error_);
    expect(error).toBeInstanceOf(ErrorClass);
    expect((error as Error).message).toContain(message);
  });
}
