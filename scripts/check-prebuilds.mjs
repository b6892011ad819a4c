#!/usr/bin/env node
// npm run check:prebuilds: checks every binary in prebuilds/ (scripts/prebuild-all.mjs) and
// fails loudly, listing every problem:
// - format and architecture (`file`, and the ELF/Mach-O header);
// - the only symbol of its own it exports is napi_register_module_v1 (Linux: the dynamic
//   symbol table; macOS: the external symbols) - no libc++ or addon internals leak;
// - Linux glibc: every libc symbol is versioned GLIBC_x.y with x.y <= 2.28, none from
//   GLIBCXX/CXXABI/GCC (libstdc++/libgcc), NEEDED only glibc's own libraries;
//   unversioned undefined symbols only from node (napi_*, node_api_*, uv_*);
// - Linux musl: no symbol version at all, NEEDED only libc.so;
// - macOS: links only libSystem, binds node's symbols by flat lookup, no weak binds
//   (coalescing with node's own C++ runtime), minimum macOS as binding.gyp says, arm64 with
//   an ad-hoc code signature (arm64 macOS refuses unsigned code);
// - stripped, non-executable stack, no path of the machine that built it (the checkout,
//   the Zig cache, the home directory); and prints each file's size.
//
// Usage: node scripts/check-prebuilds.mjs [--dir prebuilds] [--targets a,b]
import {execFileSync} from 'node:child_process';
import {existsSync, readFileSync, statSync} from 'node:fs';
import {homedir} from 'node:os';
import path from 'node:path';
import {parseArgs} from 'node:util';
import {bindingTarget, xcodeFlags} from './binding-gyp.mjs';
import {GLIBC_VERSION, TARGETS, root} from './cross.mjs';
import {cacheRoot} from './zig.mjs';

const MAX_GLIBC = [2, 28];
const NODE_SYMBOL = /^(napi_|node_api_|uv_)/;
const GLIBC_LIBS = new Set([
  'libc.so.6',
  'libm.so.6',
  'libpthread.so.0',
  'libdl.so.2',
  'librt.so.1',
]);

const {values: args} = parseArgs({
  options: {
    dir: {type: 'string', default: path.join(root, 'prebuilds')},
    targets: {type: 'string'},
  },
});
const wanted = args.targets ? args.targets.split(',') : TARGETS.map((t) => t.name);
const targets = TARGETS.filter((t) => wanted.includes(t.name));
if (targets.length !== wanted.length) {
  console.error(`unknown target in ${wanted}; known: ${TARGETS.map((t) => t.name)}`);
  process.exit(64);
}

/** The first of `names` that runs (Debian names LLVM's tools llvm-nm-14 and so on). */
function tool(...names) {
  for (const name of names) {
    for (const candidate of [name, ...Array.from({length: 10}, (_, i) => `${name}-${20 - i}`)]) {
      try {
        execFileSync(candidate, ['--version'], {stdio: 'ignore'});
        return candidate;
      } catch (error) {
        if (error.code !== 'ENOENT') return candidate;
      }
    }
  }

  throw new Error(`none of ${names.join(', ')} found (Debian: binutils, llvm, file)`);
}

const sh = (command, ...a) => execFileSync(command, a, {encoding: 'utf8', maxBuffer: 64 << 20});
// Looked up on first use: ELF checks need binutils, Mach-O checks LLVM's tools.
const found = {};
const tools = new Proxy(
  {file: ['file'], readelf: ['readelf'], nm: ['llvm-nm'], objdump: ['llvm-objdump']},
  {get: (names, key) => (found[key] ??= tool(...names[key]))},
);

const compareVersion = (a, b) => a[0] - b[0] || a[1] - b[1];

function checkElf(target, file, problems, facts) {
  const description = sh(tools.file, '-b', file);
  const machine = target.arch === 'x86_64' ? 'x86-64' : 'ARM aarch64';
  if (!description.startsWith(`ELF 64-bit LSB shared object, ${machine},`)) {
    problems.push(`file says: ${description.trim()}`);
  }

  if (!/\bstripped\b/.test(description) || /not stripped/.test(description)) {
    problems.push('not stripped');
  }

  const header = sh(tools.readelf, '-h', '-W', file);
  const elfMachine = target.arch === 'x86_64' ? 'Advanced Micro Devices X86-64' : 'AArch64';
  if (!header.includes(`Machine:                           ${elfMachine}`)) {
    problems.push(`ELF machine is not ${elfMachine}`);
  }

  // Symbol table lines: Num: Value Size Type Bind Vis Ndx Name[@version]
  const symbols = sh(tools.readelf, '--dyn-syms', '-W', file)
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => /^\d+:$/.test(f[0]) && f[7])
    .map(([, , , type, bind, , ndx, name]) => {
      const [symbol, version] = name.split(/@+/);
      return {type, bind, defined: ndx !== 'UND', symbol, version};
    });
  const exported = symbols.filter((s) => s.defined && s.bind !== 'LOCAL').map((s) => s.symbol);
  facts.exports = exported.length;
  if (exported.join() !== 'napi_register_module_v1') {
    problems.push(
      `exports ${exported.length} symbols, not only napi_register_module_v1: ${exported.slice(0, 10).join(' ')}`,
    );
  }

  const undefinedSymbols = symbols.filter((s) => !s.defined);
  facts.imports = undefinedSymbols.length;
  const glibcVersions = [];
  for (const s of undefinedSymbols) {
    if (s.version) {
      const glibc = /^GLIBC_(\d+)\.(\d+)(?:\.\d+)?$/.exec(s.version);
      if (target.libc === 'musl')
        problems.push(`${s.symbol}@${s.version}: a musl build has no symbol versions`);
      else if (/^(GLIBCXX|CXXABI|GCC)_/.test(s.version)) {
        problems.push(`${s.symbol}@${s.version}: from libstdc++/libgcc, not linked in statically`);
      } else if (!glibc) problems.push(`${s.symbol}@${s.version}: not a glibc symbol version`);
      else glibcVersions.push([Number(glibc[1]), Number(glibc[2])]);
    } else if (
      target.libc === 'glibc' &&
      !NODE_SYMBOL.test(s.symbol) &&
      !(s.bind === 'WEAK' && s.symbol === '__gmon_start__')
    ) {
      problems.push(`${s.symbol}: unversioned, so not from glibc ${GLIBC_VERSION} nor node`);
    }
  }

  if (glibcVersions.length > 0) {
    const max = glibcVersions.sort(compareVersion).at(-1);
    facts.maxGlibc = `GLIBC_${max.join('.')}`;
    if (compareVersion(max, MAX_GLIBC) > 0) {
      problems.push(`needs ${facts.maxGlibc}, more than GLIBC_${MAX_GLIBC.join('.')}`);
    }
  } else if (target.libc === 'glibc') {
    problems.push('references no GLIBC_ symbol version at all');
  }

  // Every version the file needs, also those only named in .gnu.version_r.
  const versionNeeds = sh(tools.readelf, '-V', '-W', file).match(/Name: (\S+)/g) ?? [];
  for (const need of versionNeeds.map((n) => n.slice(6))) {
    if (target.libc === 'musl' || !/^GLIBC_/.test(need))
      problems.push(`needs symbol version ${need}`);
  }

  const dynamic = sh(tools.readelf, '-d', '-W', file);
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map(
    (m) => m[1],
  );
  facts.needed = needed.join(' ');
  for (const lib of needed) {
    const ok = target.libc === 'musl' ? lib === 'libc.so' : GLIBC_LIBS.has(lib);
    if (!ok) problems.push(`NEEDED ${lib}`);
  }

  if (/\(RPATH\)|\(RUNPATH\)/.test(dynamic)) problems.push('has an RPATH/RUNPATH');
  const segments = sh(tools.readelf, '-l', '-W', file).split('\n');
  // The addon keeps no thread-local data of its own; a TLS segment in a glibc build is a
  // private errno from Zig's libc_nonshared.a (scripts/glibc-stat.c tells the story).
  if (segments.some((l) => l.trim().startsWith('TLS '))) {
    problems.push('has a TLS segment (a private errno: Zig stat wrappers linked?)');
  }

  const stack = segments.find((l) => l.trim().startsWith('GNU_STACK'));
  if (!stack || /\bRWE\s/.test(stack)) problems.push('executable or missing GNU_STACK');
}

function checkMacho(target, file, problems, facts) {
  const description = sh(tools.file, '-b', file);
  const arch = target.arch === 'x86_64' ? 'x86_64' : 'arm64';
  if (!description.startsWith(`Mach-O 64-bit ${arch} dynamically linked shared library`)) {
    problems.push(`file says: ${description.trim()}`);
  }

  const exported = sh(tools.nm, '--extern-only', '--defined-only', '--format=just-symbols', file)
    .split('\n')
    .filter(Boolean);
  facts.exports = exported.length;
  if (exported.join() !== '_napi_register_module_v1') {
    problems.push(
      `exports ${exported.length} symbols, not only _napi_register_module_v1: ${exported.slice(0, 10).join(' ')}`,
    );
  }

  const dylibs = sh(tools.objdump, '--macho', '--dylibs-used', file)
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(' (')[0])
    .filter(Boolean);
  const ownId = sh(tools.objdump, '--macho', '--dylib-id', file).split('\n')[1]?.trim();
  const linked = dylibs.filter((d) => d !== ownId);
  facts.needed = linked.join(' ');
  if (linked.join() !== '/usr/lib/libSystem.B.dylib') problems.push(`links ${linked.join(', ')}`);

  // Bind tables: "segment section address type addend dylib symbol" (lazy: no type/addend).
  const binds = sh(tools.objdump, '--macho', '--bind', '--lazy-bind', '--weak-bind', file);
  let table = '';
  const flat = [];
  let imports = 0;
  for (const line of binds.split('\n')) {
    if (/^(Bind|Lazy bind|Weak bind) table:/.test(line)) table = line;
    else if (/^__/.test(line)) {
      const fields = line.trim().split(/\s+/);
      const symbol = fields.at(-1);
      if (table.startsWith('Weak')) problems.push(`weak bind ${symbol}`);
      imports++;
      if (line.includes('flat-namespace')) flat.push(symbol.replace(/^_/, ''));
    }
  }

  facts.imports = imports;
  for (const symbol of flat.filter((s) => !NODE_SYMBOL.test(s))) {
    problems.push(`${symbol}: looked up in the flat namespace, not found in libSystem`);
  }

  const headers = sh(tools.objdump, '--macho', '--private-headers', file);
  const minos = /cmd LC_BUILD_VERSION[\s\S]*?minos (\S+)/.exec(headers)?.[1];
  const wantMinos = xcodeFlags(bindingTarget(root, 'mac').xcodeSettings).deploymentTarget;
  facts.minos = minos;
  if (minos !== wantMinos) problems.push(`LC_BUILD_VERSION minos ${minos}, expected ${wantMinos}`);
  // arm64 macOS runs only signed code (ld64 and ld64.lld sign ad hoc); x86_64 has no such rule.
  if (arch === 'arm64' && !headers.includes('cmd LC_CODE_SIGNATURE')) {
    problems.push('no code signature');
  }
  if (!/\bMH_TWOLEVEL\b|TWOLEVEL/.test(description)) problems.push('not two-level namespace');
}

/** The builder's paths (the checkout, the Zig cache) must not be in a shipped binary. */
function checkPaths(file, problems) {
  const bytes = readFileSync(file);
  for (const dir of [root, cacheRoot(), homedir()]) {
    if (bytes.includes(Buffer.from(`${dir}/`))) problems.push(`contains the build path ${dir}/`);
  }
}

const rows = [];
const failures = [];
for (const target of targets) {
  const file = path.join(args.dir, target.dir, target.file);
  const problems = [];
  const facts = {};
  if (existsSync(file)) {
    facts.size = statSync(file).size;
    try {
      if (target.os === 'mac') checkMacho(target, file, problems, facts);
      else checkElf(target, file, problems, facts);
      checkPaths(file, problems);
    } catch (error) {
      problems.push(`could not be read: ${error.message.split('\n')[0]}`);
    }
  } else {
    problems.push('missing');
  }

  rows.push({target, file, facts, problems});
  for (const p of problems) failures.push(`${path.relative(root, file)}: ${p}`);
}

console.log(
  `${'target'.padEnd(18)} ${'bytes'.padStart(8)} ${'exports'.padStart(7)} ${'imports'.padStart(7)}  libc/minos   needs`,
);
for (const {target, facts, problems} of rows) {
  console.log(
    [
      target.name.padEnd(18),
      String(facts.size ?? '-').padStart(8),
      String(facts.exports ?? '-').padStart(7),
      String(facts.imports ?? '-').padStart(7),
      ' ' +
        (facts.maxGlibc ?? (facts.minos ? `macOS ${facts.minos}` : (target.libc ?? ''))).padEnd(12),
      facts.needed ?? '',
      problems.length > 0 ? `  FAILED (${problems.length})` : '',
    ].join(' '),
  );
}

if (failures.length > 0) {
  console.error(`\ncheck-prebuilds: ${failures.length} problem(s):`);
  for (const f of failures) console.error(`  ✗ ${f}`);
  process.exit(1);
}

console.log(`\ncheck-prebuilds: ${rows.length} binaries OK`);
