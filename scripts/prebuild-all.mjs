#!/usr/bin/env node
// npm run prebuild:all: every prebuilt binary the package ships, built on one Linux x64
// machine with Zig (scripts/zig.mjs) from binding.gyp's sources and flags:
//   prebuilds/linux-{x64,arm64}/node.napi.{glibc,musl}.node   (glibc >= 2.17)
//   prebuilds/darwin-{x64,arm64}/node.napi.node                (macOS >= 11)
// Linux: Zig links libc++ statically; a version script keeps napi_register_module_v1 the
// only exported symbol, -s strips the rest; glibc builds get glibc's stat wrappers
// (scripts/glibc-stat.c) in place of Zig 0.11's, which set a private errno. macOS: Zig 0.11's Mach-O linker ignores
// -exported_symbols_list, so Zig links once to build libc++ and name its archives, and
// LLVM's ld64.lld (Debian's lld package) links the dylib with one exported symbol.
// Without that, ~1,300 libc++/libc++abi symbols (operator new/delete among them, as weak
// definitions) would be exported into node's process.
//
// Usage: node scripts/prebuild-all.mjs [--targets linux-x64-glibc,darwin-arm64] [--jobs N]
//        [--out DIR] [--testing]
// --testing builds the test suite's variant instead (binding.gyp portwarden_testing=1:
// `testing` exports, PORTWARDEN_FAULT), by default into build-zig/prebuilds-testing/: never
// shipped; the prebuild workflow runs the macOS test subset against it.
import {existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {availableParallelism} from 'node:os';
import path from 'node:path';
import {parseArgs} from 'node:util';
import {TARGETS, compileSettings, napiIncludeDir, objectName, pool, root, run} from './cross.mjs';
import {ensureZig} from './zig.mjs';

const {values: args} = parseArgs({
  options: {
    targets: {type: 'string'},
    jobs: {type: 'string'},
    out: {type: 'string'},
    testing: {type: 'boolean', default: false},
  },
});

const wanted = args.targets ? args.targets.split(',') : TARGETS.map((t) => t.name);
const unknown = wanted.filter((name) => !TARGETS.some((t) => t.name === name));
if (unknown.length > 0) {
  console.error(`unknown target ${unknown.join(', ')}; known: ${TARGETS.map((t) => t.name)}`);
  process.exit(64);
}

const targets = TARGETS.filter((t) => wanted.includes(t.name));
const jobs = Number(args.jobs ?? Math.min(2, availableParallelism()));
const variables = args.testing ? {portwarden_testing: 1} : {};
const outDir = path.resolve(
  args.out ?? path.join(root, args.testing ? 'build-zig/prebuilds-testing' : 'prebuilds'),
);
const work = args.testing ? path.join(root, 'build-zig', 'testing') : path.join(root, 'build-zig');
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const log = (message) => console.error(`[prebuild ${elapsed()}] ${message}`);

/** The first ld64.lld on PATH (plain, or Debian's versioned name), or $PORTWARDEN_LD64. */
async function findLd64() {
  const names = process.env.PORTWARDEN_LD64
    ? [process.env.PORTWARDEN_LD64]
    : ['ld64.lld', ...Array.from({length: 12}, (_, i) => `ld64.lld-${20 - i}`)];
  for (const name of names) {
    try {
      await run(name, ['-v']);
      return name;
    } catch (error) {
      if (error.code !== 'ENOENT') return name; // it exists; `-v` alone may exit non-zero
    }
  }

  throw new Error(
    'ld64.lld not found (Debian: apt-get install lld); it links the macOS builds ' +
      'with napi_register_module_v1 as the only exported symbol',
  );
}

const {zig, lib, env} = ensureZig({log});
const includeDir = napiIncludeDir(path.join(root, 'build-zig', 'include'));
const needsLd64 = targets.some((t) => t.os === 'mac');
const ld64 = needsLd64 ? await findLd64() : undefined;
const limit = pool(jobs);
const zigRun = (args, options) => run(zig, args, {env, ...options});

async function compile(target, settings, source, objDir) {
  const object = path.join(objDir, objectName(source));
  const {stderr} = await zigRun(
    ['c++', ...settings.flags, '-c', path.join(root, source), '-o', object],
    {cwd: root},
  );
  if (stderr.trim()) console.error(`${target.name} ${source}:\n${stderr.trimEnd()}`);
  return object;
}

/** scripts/glibc-stat.c: glibc's own stat wrappers in place of Zig's (see that file). */
async function compileGlibcStat(settings, objDir) {
  const object = path.join(objDir, 'glibc-stat.o');
  const source = path.join(root, 'scripts', 'glibc-stat.c');
  await zigRun([
    'cc',
    '-target',
    settings.triple,
    '-O2',
    '-fPIC',
    '-Wall',
    '-Wextra',
    '-Werror',
    '-c',
    source,
    '-o',
    object,
  ]);
  return object;
}

async function linkLinux(target, settings, objects, output) {
  const versionScript = path.join(work, target.name, 'exports.map');
  writeFileSync(versionScript, '{\n  global: napi_register_module_v1;\n  local: *;\n};\n');
  await zigRun([
    'c++',
    '-target',
    settings.triple,
    '-O2',
    '-shared',
    '-s',
    `-Wl,--version-script=${versionScript}`,
    '-Wl,-z,noexecstack',
    '-o',
    output,
    ...objects,
  ]);
}

async function linkDarwin(target, settings, objects, output) {
  // 1. Zig links (building or reusing its libc++, libc++abi and compiler-rt for the target)
  //    and prints its link line, which names those archives.
  const scratch = path.join(work, target.name, 'zig-linked.node');
  const {stderr} = await zigRun([
    'c++',
    '-target',
    settings.triple,
    '-O2',
    '-shared',
    '-Wl,-undefined,dynamic_lookup',
    '-v',
    '-o',
    scratch,
    ...objects,
  ]);
  const linkLine = stderr.split('\n').find((line) => line.startsWith('zig ld '));
  const archives = linkLine?.split(' ').filter((word) => word.endsWith('.a')) ?? [];
  for (const name of ['libc++.a', 'libc++abi.a', 'libcompiler_rt.a']) {
    if (!archives.some((a) => path.basename(a) === name)) {
      throw new Error(`${target.name}: no ${name} in Zig's link line:\n${linkLine ?? stderr}`);
    }
  }

  // 2. ld64.lld links the same objects and archives, exporting one symbol.
  const major = settings.deploymentTarget.split('.')[0];
  const libSystem = path.join(lib, 'libc', 'darwin', `libSystem.${major}.tbd`);
  if (!existsSync(libSystem)) throw new Error(`${libSystem} is not in Zig ${zig}`);
  const version = /^\d+\.\d+$/.test(settings.deploymentTarget)
    ? settings.deploymentTarget
    : `${settings.deploymentTarget}.0`;
  await run(ld64, [
    '-arch',
    target.arch === 'aarch64' ? 'arm64' : 'x86_64',
    '-platform_version',
    'macos',
    version,
    version,
    '-dylib',
    '-install_name',
    `@rpath/${settings.name}.node`,
    '-undefined',
    'dynamic_lookup',
    '-exported_symbol',
    '_napi_register_module_v1',
    '-dead_strip',
    '-x', // no local symbols
    '-S', // no debug map (it would name the build's object files and sources)
    '-o',
    output,
    ...objects,
    ...archives,
    libSystem,
  ]);
}

async function build(target) {
  const targetStart = Date.now();
  const settings = compileSettings(target, includeDir, variables);
  const objDir = path.join(work, target.name, 'obj');
  mkdirSync(objDir, {recursive: true});
  const objects = await Promise.all(
    settings.sources.map((source) => limit(() => compile(target, settings, source, objDir))),
  );
  if (target.libc === 'glibc')
    objects.unshift(await limit(() => compileGlibcStat(settings, objDir)));
  const output = path.join(outDir, target.dir, target.file);
  const partial = path.join(work, target.name, target.file);
  mkdirSync(path.dirname(output), {recursive: true});
  await limit(() =>
    target.os === 'mac'
      ? linkDarwin(target, settings, objects, partial)
      : linkLinux(target, settings, objects, partial),
  );
  renameSync(partial, output);
  const seconds = (Date.now() - targetStart) / 1000;
  log(
    `${target.name}: ${path.relative(root, output)} (${statSync(output).size} bytes, ${seconds.toFixed(1)}s)`,
  );
  return {target, output, size: statSync(output).size, seconds};
}

// A full build replaces prebuilds/ (a binary from an older run is never shipped).
if (!args.targets) rmSync(outDir, {recursive: true, force: true});
log(`${targets.length} targets, ${jobs} jobs, zig ${zig}${ld64 ? `, ${ld64}` : ''}`);
const results = await Promise.allSettled(targets.map((t) => build(t)));
const failed = results.filter((r) => r.status === 'rejected');
for (const r of failed) console.error(r.reason.message);
console.log(`\n${'target'.padEnd(20)} ${'bytes'.padStart(9)}  file`);
for (const r of results.filter((r) => r.status === 'fulfilled')) {
  const {target, output, size} = r.value;
  console.log(
    `${target.name.padEnd(20)} ${String(size).padStart(9)}  ${path.relative(root, output)}`,
  );
}

console.log(`\n${targets.length - failed.length}/${targets.length} built in ${elapsed()}`);
process.exit(failed.length > 0 ? 1 : 0);
