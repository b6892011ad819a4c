#!/usr/bin/env node
// npm run check:darwin: the macOS code checked on Linux, with Zig's bundled macOS SDK
// headers (scripts/zig.mjs):
// 1. every source binding.gyp builds on macOS compiles for x86_64 and arm64 with
//    binding.gyp's flags plus -Wall -Wextra -Werror (headers of the deployment target),
//    and the sources with test-only code (#ifdef PORTWARDEN_TESTING) once more as the
//    testing build (portwarden_testing=1) compiles them;
// 2. native/darwin/layout_check.cc, which static_asserts native/parse/darwin_layout.h
//    against libproc.h / sys/proc_info.h / sys/socket.h, compiles for each header set
//    (macOS 11, 12, 13) and architecture, and the dependency list proves that header set
//    was the one read;
// 3. negative control: the same file with PW_LAYOUT_SKEW=1 must fail with exactly one
//    static_assert failure per PW_SAME line, so every assert is evaluated.
import {mkdirSync, readFileSync, rmSync} from 'node:fs';
import {availableParallelism} from 'node:os';
import path from 'node:path';
import {TARGETS, compileSettings, napiIncludeDir, objectName, pool, root, run} from './cross.mjs';
import {ensureZig} from './zig.mjs';

const HEADER_SETS = ['11', '12', '13'];
const LAYOUT_CHECK = 'native/darwin/layout_check.cc';
const started = Date.now();
const log = (message) =>
  console.error(`[check:darwin ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);

if (!process.env.PORTWARDEN_ZIG && (process.platform !== 'linux' || process.arch !== 'x64')) {
  // The Zig package runs on linux-x64 only; a macOS machine builds the real thing instead.
  console.log(`check:darwin skipped on ${process.platform}-${process.arch} (set PORTWARDEN_ZIG)`);
  process.exit(0);
}

const {zig, env} = ensureZig({log});
const work = path.join(root, 'build-zig', 'check-darwin');
rmSync(work, {recursive: true, force: true});
const includeDir = napiIncludeDir(path.join(work, 'include'));
const limit = pool(Math.min(2, availableParallelism()));
const failures = [];
const darwinTargets = TARGETS.filter((t) => t.os === 'mac');

// 1. Every macOS source, both architectures, warnings as errors; with `testing`, the
// testing build's variant of the sources that have test-only code.
async function compileSources(target, testing = false) {
  const settings = compileSettings(target, includeDir, testing ? {portwarden_testing: 1} : {});
  const dir = path.join(work, testing ? `${target.name}-testing` : target.name);
  mkdirSync(dir, {recursive: true});
  const sources = testing
    ? settings.sources.filter((s) =>
        readFileSync(path.join(root, s), 'utf8').includes('PORTWARDEN_TESTING'),
      )
    : settings.sources;
  if (testing && sources.length === 0) failures.push('no source has test-only code to check');
  await Promise.all(
    sources.map((source) =>
      limit(async () => {
        const args = ['c++', ...settings.flags, '-Wall', '-Wextra', '-Werror', '-c', source];
        try {
          await run(zig, [...args, '-o', path.join(dir, objectName(source))], {cwd: root, env});
        } catch (error) {
          const variant = testing ? ' (testing build)' : '';
          failures.push(`${target.name} ${source}${variant}:\n${error.stderr ?? error.message}`);
        }
      }),
    ),
  );
  return sources.length;
}

// 2 and 3. The layout asserts against one header set, and the skewed negative control.
const layoutSource = readFileSync(path.join(root, LAYOUT_CHECK), 'utf8');
const assertCount = layoutSource.split('\n').filter((l) => l.startsWith('PW_SAME(')).length;

async function layoutCheck(target, version) {
  const settings = compileSettings(target, includeDir);
  const flags = [...settings.flags];
  flags[flags.indexOf('-target') + 1] = `${target.arch}-macos.${version}.0`;
  const name = `${target.name} macOS ${version}`;
  const base = path.join(work, `layout-${target.name}-${version}`);
  const args = ['c++', ...flags, '-Wall', '-Wextra', '-Werror', '-c', LAYOUT_CHECK];
  try {
    await run(zig, [...args, '-MD', '-MF', `${base}.d`, '-o', `${base}.o`], {cwd: root, env});
  } catch (error) {
    failures.push(`${name}: the layout asserts fail:\n${error.stderr ?? error.message}`);
    return undefined;
  }

  // Which headers were read: the ones of this macOS version's set.
  const deps = readFileSync(`${base}.d`, 'utf8');
  for (const header of ['libproc.h', 'sys/proc_info.h']) {
    if (!deps.includes(`/any-macos.${version}-any/${header}`)) {
      failures.push(`${name}: ${header} did not come from the macOS ${version} header set`);
    }
  }

  let skewed = 0;
  try {
    await run(zig, [...args, '-DPW_LAYOUT_SKEW=1', '-ferror-limit=0', '-o', `${base}-skew.o`], {
      cwd: root,
      env,
    });
    failures.push(`${name}: with PW_LAYOUT_SKEW=1 the layout check still compiles`);
  } catch (error) {
    skewed = (error.stderr?.match(/error: static assertion failed/g) ?? []).length;
    if (skewed !== assertCount) {
      failures.push(
        `${name}: PW_LAYOUT_SKEW=1 failed ${skewed} asserts, expected all ${assertCount}:\n${error.stderr}`,
      );
    }
  }

  return {name, skewed};
}

log(`zig ${zig}`);
const [sourceCounts, testingCounts, layouts] = await Promise.all([
  Promise.all(darwinTargets.map((t) => compileSources(t))),
  Promise.all(darwinTargets.map((t) => compileSources(t, true))),
  Promise.all(darwinTargets.flatMap((t) => HEADER_SETS.map((v) => layoutCheck(t, v)))),
]);

for (const [i, t] of darwinTargets.entries()) {
  console.log(
    `${t.name}: ${sourceCounts[i]} sources compiled with -Wall -Wextra -Werror ` +
      `(and ${testingCounts[i]} as the testing build)`,
  );
}

for (const layout of layouts.filter(Boolean)) {
  console.log(
    `${layout.name}: ${assertCount} layout asserts hold; skewed by 1, ${layout.skewed} of ${assertCount} fail`,
  );
}

if (failures.length > 0) {
  console.error(`\ncheck:darwin FAILED (${failures.length}):`);
  for (const f of failures) console.error(`✗ ${f}\n`);
  process.exit(1);
}

log('OK');
