// The cross-build tooling (scripts/prebuild-all.mjs and friends): binding.gyp is read as
// gyp reads it, check-prebuilds fails loudly on a binary that is not portable, and - when
// prebuilds/ holds all six binaries (`npm run prebuild:all`) - the packed package carries
// them and loads the linux-x64 one with no compiler on PATH and no install script run.
import {execFileSync, spawnSync} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, describe, expect, it} from 'vitest';
import {repoRoot} from './helpers.js';

const work = mkdtempSync(path.join(tmpdir(), 'portwarden-prebuilds-'));
afterAll(() => rmSync(work, {recursive: true, force: true}));

const SIX = [
  'linux-x64/node.napi.glibc.node',
  'linux-x64/node.napi.musl.node',
  'linux-arm64/node.napi.glibc.node',
  'linux-arm64/node.napi.musl.node',
  'darwin-x64/node.napi.node',
  'darwin-arm64/node.napi.node',
];
const complete = SIX.every((file) => existsSync(path.join(repoRoot, 'prebuilds', file)));

function node(args: string[], cwd = repoRoot) {
  return spawnSync(process.execPath, args, {cwd, encoding: 'utf8'});
}

function gyp(code: string): unknown {
  const result = node([
    '--input-type=module',
    '-e',
    `import * as gyp from './scripts/binding-gyp.mjs'; console.log(JSON.stringify(await (async () => { ${code} })()));`,
  ]);
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout);
}

describe('binding.gyp reader', () => {
  it('parses Python literals: quotes, concatenation, comments, trailing commas, constants', () => {
    expect(
      gyp(
        `return gyp.parsePythonLiteral("{'a': ['x' \\"y\\", 1, True, None,], # note\\n 'b': {}}")`,
      ),
    ).toEqual({a: ['xy', 1, true, null], b: {}});
  });

  it('fails with the line of a syntax error', () => {
    expect(() => gyp(`return gyp.parsePythonLiteral("{\\n'a': [1,\\n}", 'x.gyp')`)).toThrow(
      /x\.gyp:3: unexpected '}'/,
    );
  });

  it("gives each OS binding.gyp's sources, defines and flags", () => {
    const linux = gyp(`return gyp.bindingTarget(process.cwd(), 'linux')`) as Record<
      string,
      string[]
    >;
    const mac = gyp(`return gyp.bindingTarget(process.cwd(), 'mac')`) as Record<string, unknown>;
    expect(linux.sources).toContain('native/binding.cc');
    expect(linux.sources).toContain('native/linux/sock_diag.cc');
    expect(linux.sources).not.toContain('native/darwin/libproc.cc');
    expect(mac.sources).toContain('native/darwin/libproc.cc');
    expect(mac.sources).not.toContain('native/linux/sock_diag.cc');
    expect(linux.defines).toContain('NAPI_VERSION=8');
    // Releases (the cross builds pass no variables) leave the test-only code out.
    expect(linux.defines).not.toContain('PORTWARDEN_TESTING=1');
    expect(mac.defines).not.toContain('PORTWARDEN_TESTING=1');
    expect(linux.cflags).toContain('-fvisibility=hidden');
    // `<!(node -p ...)` was run: node-addon-api's directory, absolute.
    expect(linux.includeDirs).toEqual([path.join(repoRoot, 'node_modules', 'node-addon-api')]);
    expect(
      gyp(`return gyp.xcodeFlags(gyp.bindingTarget(process.cwd(), 'mac').xcodeSettings)`),
    ).toEqual({
      flags: ['-fvisibility=hidden', '-std=c++17', '-fno-exceptions'],
      deploymentTarget: '11.0',
    });
  });

  it('applies binding.gyp variables given as gyp -D would: portwarden_testing=1 is the testing build', () => {
    for (const os of ['linux', 'mac']) {
      const testing = gyp(
        `return gyp.bindingTarget(process.cwd(), '${os}', undefined, {portwarden_testing: 1})`,
      ) as Record<string, string[]>;
      expect(testing.defines).toContain('PORTWARDEN_TESTING=1');
    }

    expect(() =>
      gyp(`return gyp.bindingTarget(process.cwd(), 'linux', undefined, {portwarden_testng: 1})`),
    ).toThrow(/no variable portwarden_testng/);
  });

  it('refuses what it does not understand instead of guessing', () => {
    const dir = path.join(work, 'gyp');
    mkdirSync(dir);
    writeFileSync(
      path.join(dir, 'binding.gyp'),
      `{'targets': [{'target_name': 'x', 'conditions': [["OS=='linux' and target_arch=='x64'", {}]]}]}`,
    );
    expect(() => gyp(`return gyp.bindingTarget(${JSON.stringify(dir)}, 'linux')`)).toThrow(
      /unsupported condition/,
    );
  });
});

describe.skipIf(process.platform !== 'linux')('check-prebuilds', () => {
  it('fails loudly on a binary built the ordinary way (libstdc++, exports, not stripped)', () => {
    // A shared object as g++ makes one by default, filed as if it were the glibc prebuild.
    const dir = path.join(work, 'bad', 'linux-x64');
    mkdirSync(dir, {recursive: true});
    const source = path.join(work, 'bad.cc');
    writeFileSync(
      source,
      '#include <string>\nstd::string greet(const char* who) { return std::string("hi ") + who; }\n' +
        'extern "C" void* napi_register_module_v1(void*, void* exports) { return exports; }\n',
    );
    execFileSync('g++', ['-shared', '-fPIC', '-o', path.join(dir, 'node.napi.glibc.node'), source]);
    const result = node([
      'scripts/check-prebuilds.mjs',
      '--dir',
      path.dirname(dir),
      '--targets',
      'linux-x64-glibc,darwin-arm64',
    ]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('NEEDED libstdc++.so.6');
    expect(result.stderr).toMatch(/@GLIBCXX_[\d.]+: from libstdc\+\+\/libgcc/);
    expect(result.stderr).toMatch(/exports \d+ symbols, not only napi_register_module_v1/);
    expect(result.stderr).toContain('not stripped');
    expect(result.stderr).toContain('darwin-arm64/node.napi.node: missing');
  });
});

describe.skipIf(!complete)('the six prebuilds (npm run prebuild:all)', () => {
  it('pass check-prebuilds', () => {
    const result = node(['scripts/check-prebuilds.mjs']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('scripts/smoke.mjs (what the release workflow runs) answers with the linux-x64 one', () => {
    const dir = path.join(work, 'smoke');
    mkdirSync(path.join(dir, 'prebuilds'), {recursive: true});
    symlinkSync(
      path.join(repoRoot, 'prebuilds', 'linux-x64'),
      path.join(dir, 'prebuilds', 'linux-x64'),
    );
    const env: NodeJS.ProcessEnv = {...process.env, PORTWARDEN_PREBUILD: dir};
    delete env.PORTWARDEN_ADDON_PATH; // the release binary, not the suite's testing build
    const result = spawnSync(process.execPath, ['scripts/smoke.mjs'], {
      cwd: repoRoot,
      env,
      encoding: 'utf8',
    });
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      binary: path.join(dir, 'prebuilds', 'linux-x64', 'node.napi.glibc.node'),
      claimPidFile: {pid: expect.any(Number)},
      checkPort: {status: 'busy', backend: 'native'},
      problems: [],
    });
  });

  it('are packed, and the linux-x64 one answers with no compiler and no install script', () => {
    const pack = path.join(work, 'pack');
    mkdirSync(pack);
    const listing = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', pack], {
        cwd: repoRoot,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    ) as Array<{filename: string; files: Array<{path: string}>}>;
    const files = listing[0]!.files.map((f) => f.path);
    for (const file of SIX) expect(files).toContain(`prebuilds/${file}`);

    const project = path.join(work, 'consumer');
    mkdirSync(project);
    writeFileSync(path.join(project, 'package.json'), '{"name":"consumer","private":true}');
    const tarball = path.join(pack, listing[0]!.filename);
    execFileSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', tarball], {
      cwd: project,
      stdio: 'ignore',
    });
    // PATH holds node and sh only: nothing could compile the addon.
    const bin = path.join(work, 'bin-no-compiler');
    mkdirSync(bin);
    symlinkSync(process.execPath, path.join(bin, 'node'));
    symlinkSync('/bin/sh', path.join(bin, 'sh'));
    const installed = path.join(project, 'node_modules', 'portwarden');
    const script = `
      import net from 'node:net';
      import {createRequire} from 'node:module';
      import {probePortSync} from 'portwarden';
      const binary = createRequire(import.meta.url)('node-gyp-build').path(${JSON.stringify(installed)});
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const report = probePortSync(server.address().port, {states: 'listen'});
        console.log(JSON.stringify({binary, backend: report.backend}));
        server.close();
      });`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: project,
      env: {PATH: bin, HOME: process.env.HOME},
      encoding: 'utf8',
    });
    expect(existsSync(path.join(installed, 'build'))).toBe(false);
    expect(JSON.parse(out)).toEqual({
      binary: path.join(installed, 'prebuilds', 'linux-x64', 'node.napi.glibc.node'),
      backend: 'native',
    });
  }, 300_000);
});
