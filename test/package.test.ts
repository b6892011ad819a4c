// The published package: a prebuild installs with no compiler on PATH, and without a
// prebuild the install compiles from source. Slow (two npm installs), but it runs in CI.
import {execFileSync} from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(path.join(tmpdir(), 'portwarden-pack-'));
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
this test (npm_*, INIT_CWD, NODE, ...) would steer it.
*/
function cleanEnv(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const keep =
    /^(HOME|PATH|LANG|TERM|TMPDIR|SSL_CERT_FILE|SSL_CERT_DIR|NODE_EXTRA_CA_CERTS|HTTPS?_PROXY|NO_PROXY)$/i;
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => keep.test(key)));
  return {...env, ...overrides};
}

function sh(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = cleanEnv(),
): string {
  return execFileSync(command, args, {
    cwd,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 300_000,
  });
}

function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv = cleanEnv()): string {
  return sh(process.execPath, [npmCli, ...args], cwd, env);
}

/** A copy of the package sources, so building here never touches the tree the other tests load from. */
function stage(withPrebuild: boolean): string {
  const dir = path.join(work, withPrebuild ? 'stage-prebuilt' : 'stage-source');
  mkdirSync(dir);
  for (const entry of ['package.json', 'binding.gyp', 'native', 'dist', 'scripts', 'README.md']) {
    cpSync(path.join(root, entry), path.join(dir, entry), {recursive: true});
  }

  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  if (withPrebuild) {
    sh(
      path.join(root, 'node_modules', '.bin', 'prebuildify'),
      ['--napi', '--strip', '--tag-libc', '--target', process.versions.node],
      dir,
      cleanEnv({npm_config_nodedir: path.resolve(process.execPath, '..', '..')}),
    );
  }

  const tarball = npm(['pack', '--silent', '--ignore-scripts'], dir).trim().split('\n').pop()!;
  return path.join(dir, tarball);
}

/** Installs the tarball into a fresh project and runs a real probe through it. */
function installAndProbe(tarball: string, name: string, env: NodeJS.ProcessEnv) {
  const project = path.join(work, name);
  mkdirSync(project);
  writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({name, private: true, type: 'module'}),
  );
  npm(['install', '--no-audit', '--no-fund', tarball], project, env);
  const script = `
		import net from 'node:net';
		import {probePortSync} from 'portwarden';
		const server = net.createServer().listen(0, '127.0.0.1', () => {
			// The listener only: a TIME_WAIT another test left on a reused port has no owner.
			const report = probePortSync(server.address().port, {states: 'listen'});
			console.log(JSON.stringify({backend: report.backend, pids: report.sockets.flatMap((s) => s.owner.processes.map((p) => p.pid)), self: process.pid}));
			server.close();
		});`;
  const out = sh(process.execPath, ['--input-type=module', '-e', script], project, env);
  return {
    project,
    result: JSON.parse(out.trim()) as {backend: string; pids: number[]; self: number},
  };
}

describe('npm package', () => {
  let prebuilt: string;
  let source: string;
  beforeAll(() => {
    prebuilt = stage(true);
    source = stage(false);
  }, 300_000);
  afterAll(() => rmSync(work, {recursive: true, force: true}));

  it('packs the prebuild, the native sources and dist, and nothing heavy', () => {
    const listing = npm(
      ['pack', '--dry-run', '--json', '--ignore-scripts'],
      path.dirname(prebuilt),
    );
    const files = (JSON.parse(listing) as Array<{files: Array<{path: string}>}>)[0]!.files.map(
      (f) => f.path,
    );
    expect(files).toContain('prebuilds/linux-x64/portwarden.glibc.node');
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

  it('installs from the prebuild with no compiler on PATH', () => {
    // PATH holds node and sh only (npm runs install scripts through sh): no g++, make or
    // python3, so any compile attempt fails.
    const bin = path.join(work, 'bin-no-compiler');
    mkdirSync(bin);
    symlinkSync(process.execPath, path.join(bin, 'node'));
    symlinkSync('/bin/sh', path.join(bin, 'sh'));
    const env = cleanEnv({PATH: bin});
    expect(execFileSync('/bin/sh', ['-c', 'command -v sh'], {env, encoding: 'utf8'})).toContain(
      bin,
    );
    for (const tool of ['g++', 'c++', 'cc', 'make', 'python3']) {
      expect(() => execFileSync('/bin/sh', ['-c', `command -v ${tool}`], {env})).toThrow();
    }

    const {project, result} = installAndProbe(prebuilt, 'consumer-prebuilt', env);
    expect(result).toMatchObject({backend: 'native', pids: [result.self]});
    const installed = path.join(project, 'node_modules', 'portwarden');
    expect(existsSync(path.join(installed, 'build'))).toBe(false); // nothing was compiled
    expect(readdirSync(path.join(installed, 'prebuilds', 'linux-x64'))).toEqual([
      'portwarden.glibc.node',
    ]);
  }, 300_000);

  it('compiles from source when no prebuild is packed', () => {
    const {project, result} = installAndProbe(source, 'consumer-source', cleanEnv());
    expect(result).toMatchObject({backend: 'native', pids: [result.self]});
    expect(
      existsSync(
        path.join(project, 'node_modules', 'portwarden', 'build', 'Release', 'portwarden.node'),
      ),
    ).toBe(true);
  }, 300_000);
});
