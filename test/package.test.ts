// The published package and a fresh clone. The install matrix: the packed tarball installed
// (a) from a prebuild with no compiler on PATH, (b) from a prebuild with the install scripts
// ignored, compiled from source, (c) with neither prebuild nor compiler (the install still
// succeeds; probes answer through lsof), and with a compile error (shown, not fatal). Then
// the README's quick start, verbatim, in a clone of the committed HEAD after `npm ci`
// alone. Slow (npm installs, an npm ci and two compiles of the addon), but it runs in CI.
import {execFileSync, spawnSync} from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(path.join(tmpdir(), 'portwarden-pack-'));
afterAll(() => rmSync(work, {recursive: true, force: true}));
const PLATFORM = `${process.platform}-${process.arch}`;
const npmCli = path.join(
  path.dirname(process.execPath),
  '..',
  'lib',
  'node_modules',
  'npm',
  'bin',
  'npm-cli.js',
);

/**
A minimal environment for the nested npm: the variables of the npm and vitest that run
this test (npm_*, INIT_CWD, NODE, ...) would steer it, and the node_modules/.bin
directories on their PATH would lend it this checkout's tools (node-gyp, tsc). Packages
already in the npm cache are taken from there.
*/
function cleanEnv(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const keep =
    /^(HOME|PATH|LANG|TERM|TMPDIR|SSL_CERT_FILE|SSL_CERT_DIR|NODE_EXTRA_CA_CERTS|HTTPS?_PROXY|NO_PROXY)$/i;
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => keep.test(key)));
  env.PATH = (env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => !dir.split(path.sep).includes('node_modules'))
    .join(path.delimiter);
  return {...env, npm_config_prefer_offline: 'true', ...overrides};
}

type Run = {status: number | null; stdout: string; stderr: string; ms: number};

function run(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = cleanEnv(),
): Run {
  const started = performance.now();
  const result = spawnSync(command, args, {cwd, env, encoding: 'utf8', timeout: 300_000});
  if (result.error) {
    throw result.error;
  }

  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
    ms: Math.round(performance.now() - started),
  };
}

/** `run`, throwing with the output when the command fails. */
function sh(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = cleanEnv(),
): string {
  const result = run(command, args, cwd, env);
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited with ${result.status}:\n${result.stdout}\n${result.stderr}`,
    );
  }

  return result.stdout;
}

function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv = cleanEnv()): string {
  return sh(process.execPath, [npmCli, ...args], cwd, env);
}

/**
A PATH with no compiler: node, npm, sh (npm runs scripts through it) and lsof (the
fallback backend), nothing else, so any compile attempt fails.
*/
function noCompilerEnv(): NodeJS.ProcessEnv {
  const bin = path.join(work, 'bin-no-compiler');
  if (!existsSync(bin)) {
    mkdirSync(bin);
    symlinkSync(process.execPath, path.join(bin, 'node'));
    symlinkSync(npmCli, path.join(bin, 'npm'));
    symlinkSync(path.join(path.dirname(npmCli), 'npx-cli.js'), path.join(bin, 'npx'));
    symlinkSync('/bin/sh', path.join(bin, 'sh'));
    symlinkSync(
      execFileSync('/bin/sh', ['-c', 'command -v lsof'], {encoding: 'utf8'}).trim(),
      path.join(bin, 'lsof'),
    );
  }

  return cleanEnv({PATH: bin});
}

/**
A copy of the package sources packed into a tarball, so building here never touches the tree
the other tests load from: with `edit` applied to the copy first, or with a prebuild. The
prebuild is this checkout's build/Release addon (which the rest of the suite tests) where
`npm run prebuild` (prebuildify --napi --tag-libc) puts it, which is where node-gyp-build
looks: another compile would cost 10-40 s and test nothing more.
*/
function stage(name: string, options: {prebuild?: boolean; edit?: (dir: string) => void} = {}) {
  const dir = path.join(work, `stage-${name}`);
  mkdirSync(dir);
  for (const entry of ['package.json', 'binding.gyp', 'native', 'dist', 'scripts', 'README.md']) {
    cpSync(path.join(root, entry), path.join(dir, entry), {recursive: true});
  }

  options.edit?.(dir);
  if (options.prebuild) {
    const prebuilds = path.join(dir, 'prebuilds', PLATFORM);
    mkdirSync(prebuilds, {recursive: true});
    copyFileSync(
      path.join(root, 'build', 'Release', 'portwarden.node'),
      path.join(prebuilds, 'portwarden.glibc.node'),
    );
  }

  const tarball = npm(['pack', '--silent', '--ignore-scripts'], dir).trim().split('\n').pop()!;
  return path.join(dir, tarball);
}

/** Installs the tarball into a fresh project; the install must exit 0. */
function install(tarball: string, name: string, env: NodeJS.ProcessEnv, flags: string[] = []) {
  const project = path.join(work, name);
  mkdirSync(project);
  writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({name, private: true, type: 'module'}),
  );
  const result = run(
    process.execPath,
    [npmCli, 'install', '--no-audit', '--no-fund', ...flags, tarball],
    project,
    env,
  );
  expect(result.status, `npm install:\n${result.stdout}\n${result.stderr}`).toBe(0);
  console.info(`package test: ${name} installed in ${(result.ms / 1000).toFixed(1)} s`);
  return {project, output: result.stdout + result.stderr};
}

type Probed = {
  check: {status: string; backend: string};
  backend: string;
  pids: number[];
  self: number;
  pidFile: string | {name: string; code: string; message: string};
};

/** Probes a listener of its own and claims a PID file through the installed package. */
function probe(project: string, env: NodeJS.ProcessEnv): {result: Probed; stderr: string} {
  const script = `
		import net from 'node:net';
		import path from 'node:path';
		import {checkPortSync, claimPidFile, probePort} from 'portwarden';
		const server = net.createServer().listen(0, '127.0.0.1', async () => {
			const port = server.address().port;
			const check = checkPortSync(port);
			// The listener only: a TIME_WAIT another test left on a reused port has no owner.
			const report = await probePort(port, {states: 'listen'});
			let pidFile;
			try {
				claimPidFile(path.resolve('test.pid')).release();
				pidFile = 'claimed';
			} catch (error) {
				pidFile = {name: error.name, code: error.code, message: error.message};
			}
			console.log(JSON.stringify({
				check: {status: check.status, backend: check.backend},
				backend: report.backend,
				pids: report.sockets.flatMap((s) => s.owner.status === 'found' ? s.owner.processes.map((p) => p.pid) : []),
				self: process.pid,
				pidFile,
			}));
			server.close();
		});`;
  const result = run(process.execPath, ['--input-type=module', '-e', script], project, env);
  expect(result.status, result.stderr).toBe(0);
  return {result: JSON.parse(result.stdout.trim()) as Probed, stderr: result.stderr};
}

/** The line scripts/install.mjs prints when the addon is unavailable. */
const NOTICE =
  /^portwarden: the native addon is unavailable .*; probes will use lsof\. To get the addon, install a C\+\+ toolchain \(g\+\+, make, python3\) and run `npm rebuild portwarden`\.$/gm;

const CLONE_BLOCK = 'test/package.test.ts runs this block verbatim in a fresh clone';
const INSTALLED_BLOCK =
  'test/package.test.ts runs this block verbatim where portwarden is installed';

type Step = {command: string; output: string[]};

/** The commands of the sh block after `<!-- marker -->` in README.md, each with the output shown under it. */
function readmeBlock(marker: string): Step[] {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const block = new RegExp(`<!-- ${escape(marker)} -->\\s*\`\`\`sh\\n([^]*?)\`\`\``).exec(readme);
  expect(block, `README.md: no sh block after <!-- ${marker} -->`).not.toBeNull();
  const steps: Step[] = [];
  for (const line of block![1]!.split('\n').filter((l) => l !== '')) {
    if (line.startsWith('# ')) {
      steps.at(-1)!.output.push(line.slice(2));
    } else {
      steps.push({command: line, output: []});
    }
  }

  return steps;
}

/**
Listens on `port` on `::` as in the README's example (on `0.0.0.0` without IPv6), unless
another process does.
*/
async function holdPort(port: number): Promise<net.Server | undefined> {
  for (const host of ['::', '0.0.0.0']) {
    const server = net.createServer();
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, host, () => resolve(true));
    });
    if (listening) {
      return server;
    }
  }

  return undefined;
}

/**
Runs each command verbatim through sh; each must exit 0. A command shown with a `who` line
(`tcp [::]:8080 LISTEN pid 4711 node server.js`) runs while this process listens on that
port, and must print that line with this process's pid (with the pid of whatever else
listens there, when this process could not); other lines shown must appear as they are.
*/
async function runSteps(steps: Step[], cwd: string, env: NodeJS.ProcessEnv) {
  for (const {command, output} of steps) {
    const port = /:(\d+) LISTEN pid /.exec(output[0] ?? '')?.[1];
    const server = port === undefined ? undefined : await holdPort(Number(port));
    try {
      const result = run('/bin/sh', ['-c', command], cwd, env);
      expect(result.status, `${command}:\n${result.stdout}\n${result.stderr}`).toBe(0);
      console.info(`package test: \`${command}\` took ${(result.ms / 1000).toFixed(1)} s`);
      const lines = result.stdout.split('\n');
      for (const line of output) {
        const [socket, holder] = line.split(' pid ');
        if (holder === undefined) {
          expect(lines).toContain(line);
          continue;
        }

        const exact = (server?.address() as net.AddressInfo | undefined)?.address === '::';
        const pattern = exact
          ? `^${escape(socket!)} pid ${process.pid} \\S`
          : `^tcp \\S+:${port} LISTEN pid ${server ? process.pid : '\\d+'} \\S`;
        expect(lines).toContainEqual(expect.stringMatching(new RegExp(pattern)));
      }
    } finally {
      await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    }
  }
}

function escape(text: string): string {
  return text.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// Linux with glibc: the prebuild's name carries the libc tag (prebuildify --tag-libc).
describe.skipIf(process.platform !== 'linux')('npm package: the install matrix', () => {
  let prebuilt: string;
  let source: string;
  beforeAll(() => {
    prebuilt = stage('prebuilt', {prebuild: true});
    source = stage('source');
  }, 300_000);

  it('packs the prebuild, the install script, the native sources and dist, and nothing heavy', () => {
    const listing = npm(
      ['pack', '--dry-run', '--json', '--ignore-scripts'],
      path.dirname(prebuilt),
    );
    const files = (JSON.parse(listing) as Array<{files: Array<{path: string}>}>)[0]!.files.map(
      (f) => f.path,
    );
    expect(files).toContain(`prebuilds/${PLATFORM}/portwarden.glibc.node`);
    expect(files).toContain('scripts/install.mjs');
    expect(files).toContain('binding.gyp');
    expect(files).toContain('native/binding.cc');
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(
      files.filter(
        (f) => f.startsWith('test/') || f.startsWith('build/') || f.startsWith('node_modules/'),
      ),
    ).toEqual([]);
  });

  it('(a) installs from the prebuild with no compiler on PATH', async () => {
    const env = noCompilerEnv();
    for (const tool of ['g++', 'c++', 'cc', 'make', 'python3']) {
      expect(() => execFileSync('/bin/sh', ['-c', `command -v ${tool}`], {env})).toThrow();
    }

    const {project, output} = install(prebuilt, 'consumer-prebuilt', env, ['--foreground-scripts']);
    expect(output).not.toMatch(NOTICE);
    const {result, stderr} = probe(project, env);
    expect(result).toMatchObject({
      check: {status: 'busy', backend: 'native'},
      backend: 'native',
      pids: [result.self],
      pidFile: 'claimed',
    });
    expect(stderr).not.toContain('PORTWARDEN_NO_NATIVE');
    const installed = path.join(project, 'node_modules', 'portwarden');
    expect(existsSync(path.join(installed, 'build'))).toBe(false); // nothing was compiled
    expect(readdirSync(path.join(installed, 'prebuilds', PLATFORM))).toEqual([
      'portwarden.glibc.node',
    ]);

    // The README's quick start for an installed package (npx runs its bin).
    const steps = readmeBlock(INSTALLED_BLOCK);
    expect(steps.map((s) => s.command)).toEqual(['npx portwarden who 8080']);
    await runSteps(steps, project, env);
  }, 300_000);

  it('(b) loads the prebuild when install scripts are ignored', () => {
    const env = noCompilerEnv();
    const {project} = install(prebuilt, 'consumer-ignore-scripts', env, ['--ignore-scripts']);
    const {result} = probe(project, env);
    expect(result).toMatchObject({backend: 'native', pids: [result.self], pidFile: 'claimed'});
  }, 300_000);

  it('compiles from source when no prebuild is packed', () => {
    const {project} = install(source, 'consumer-source', cleanEnv());
    const {result} = probe(project, cleanEnv());
    expect(result).toMatchObject({backend: 'native', pids: [result.self], pidFile: 'claimed'});
    expect(
      existsSync(
        path.join(project, 'node_modules', 'portwarden', 'build', 'Release', 'portwarden.node'),
      ),
    ).toBe(true);
  }, 300_000);

  it('(c) installs with neither prebuild nor compiler, says so in one line, and probes through lsof', () => {
    const env = noCompilerEnv();
    const {project, output} = install(source, 'consumer-no-addon', env, ['--foreground-scripts']);
    expect(output.match(NOTICE), output).toHaveLength(1);

    const {result, stderr} = probe(project, env);
    expect(result).toMatchObject({
      check: {status: 'busy', backend: 'lsof'},
      backend: 'lsof',
      pids: [result.self],
      pidFile: {name: 'ProbeUnavailableError', code: 'ENOTSUP'},
    });
    expect(stderr.match(/\[PORTWARDEN_NO_NATIVE\]/g)).toHaveLength(1);
    expect(stderr).toContain('npm rebuild portwarden');
    const {message} = result.pidFile as {message: string};
    expect(message).toMatch(/^claimPidFile needs the native addon, which could not be loaded: /);
    expect(message).toContain(`No native build was found for platform=linux arch=${process.arch} `);
    expect(message).toContain(
      'install a C++ toolchain (g++, make, python3) and run `npm rebuild portwarden`, or use a platform with a prebuild',
    );
    expect(message).not.toContain('\n');
  }, 300_000);

  it('(d) shows a compile error in the install output without failing the install', () => {
    const broken = stage('broken', {
      edit(dir) {
        const file = path.join(dir, 'native', 'binding.cc');
        writeFileSync(
          file,
          `#error "deliberately broken by the package test"\n${readFileSync(file, 'utf8')}`,
        );
      },
    });
    const {project, output} = install(broken, 'consumer-broken', cleanEnv(), [
      '--foreground-scripts',
    ]);
    expect(output).toContain('deliberately broken by the package test');
    expect(output.match(NOTICE), output).toHaveLength(1);
    const {result} = probe(project, cleanEnv());
    expect(result.backend).toBe('lsof');
  }, 300_000);
});

describe('a fresh clone', () => {
  // The committed HEAD: commit before running this on a working tree.
  it.skipIf(!existsSync(path.join(root, '.git')))(
    "runs the README's first commands verbatim after npm ci alone, and imports itself",
    async () => {
      const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
      const quickStart = readme.slice(readme.indexOf('\n## Quick start\n'));
      expect(quickStart.indexOf(CLONE_BLOCK)).toBeGreaterThan(0);
      expect(quickStart.indexOf(CLONE_BLOCK)).toBeLessThan(quickStart.indexOf('```'));
      const steps = readmeBlock(CLONE_BLOCK);
      expect(steps[0]?.command).toBe('npm ci');

      const clone = path.join(work, 'clone');
      const head = sh('git', ['rev-parse', 'HEAD'], root).trim();
      sh('git', ['clone', '--quiet', '--no-checkout', root, clone], work);
      sh('git', ['checkout', '--quiet', '--detach', head], clone);
      await runSteps(steps, clone, cleanEnv());

      // The package resolves itself through its exports, with the addon it compiled.
      const self = sh(
        process.execPath,
        ['-e', "import('portwarden').then((pw) => console.log(pw.checkPortSync(1).backend))"],
        clone,
      );
      expect(self.trim()).toBe('native');
    },
    300_000,
  );
});
