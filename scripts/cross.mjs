// What the cross builds share (scripts/prebuild-all.mjs, scripts/check-darwin.mjs): the
// targets, the N-API headers, the compile command made from binding.gyp, and a job pool.
import {spawn} from 'node:child_process';
import {cpSync, existsSync, mkdirSync} from 'node:fs';
import {homedir} from 'node:os';
import path from 'node:path';
import {bindingTarget, xcodeFlags} from './binding-gyp.mjs';

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** The oldest glibc the Linux builds link against (symbols newer than it cannot be used). */
export const GLIBC_VERSION = '2.17';

/**
Every target the package ships: `prebuilds/<dir>/<file>`, named as node-gyp-build matches
them (platform-arch directory; `napi` and the libc as tags).
*/
export const TARGETS = [
  {name: 'linux-x64-glibc', os: 'linux', arch: 'x86_64', libc: 'glibc'},
  {name: 'linux-arm64-glibc', os: 'linux', arch: 'aarch64', libc: 'glibc'},
  {name: 'linux-x64-musl', os: 'linux', arch: 'x86_64', libc: 'musl'},
  {name: 'linux-arm64-musl', os: 'linux', arch: 'aarch64', libc: 'musl'},
  {name: 'darwin-x64', os: 'mac', arch: 'x86_64'},
  {name: 'darwin-arm64', os: 'mac', arch: 'aarch64'},
].map((t) => {
  const nodeArch = t.arch === 'x86_64' ? 'x64' : 'arm64';
  const platform = t.os === 'mac' ? 'darwin' : 'linux';
  return {
    ...t,
    dir: `${platform}-${nodeArch}`,
    file: t.libc ? `node.napi.${t.libc}.node` : 'node.napi.node',
  };
});

/** The Zig target triple: glibc pinned to GLIBC_VERSION, macOS to MACOSX_DEPLOYMENT_TARGET. */
export function zigTriple(target, deploymentTarget) {
  if (target.os === 'mac') return `${target.arch}-macos.${deploymentTarget}`;
  return target.libc === 'glibc'
    ? `${target.arch}-linux-gnu.${GLIBC_VERSION}`
    : `${target.arch}-linux-musl`;
}

/** The directory with node_api.h: the running node's, else node-gyp's download of it. */
function nodeIncludeDir() {
  const version = process.versions.node;
  const candidates = [
    process.env.npm_config_nodedir && path.join(process.env.npm_config_nodedir, 'include', 'node'),
    path.resolve(process.execPath, '..', '..', 'include', 'node'),
    path.join(homedir(), '.cache', 'node-gyp', version, 'include', 'node'),
  ].filter(Boolean);
  const found = candidates.find((dir) => existsSync(path.join(dir, 'node_api.h')));
  if (!found) {
    throw new Error(
      `node_api.h not found in ${candidates.join(', ')}; run \`npx node-gyp install\` first`,
    );
  }

  return found;
}

/**
Copies only the N-API headers (and libuv's, for uv_err_name/uv_strerror in binding.cc)
into `dir`, so a cross build cannot include V8 or other node internals by accident.
*/
export function napiIncludeDir(dir) {
  const from = nodeIncludeDir();
  mkdirSync(dir, {recursive: true});
  for (const file of [
    'node_api.h',
    'node_api_types.h',
    'js_native_api.h',
    'js_native_api_types.h',
    'uv.h',
    'uv',
  ]) {
    cpSync(path.join(from, file), path.join(dir, file), {recursive: true});
  }

  return dir;
}

/**
The sources and the compile flags binding.gyp gives a target (`os`: linux or mac), for
Zig's clang. On macOS gyp uses `xcode_settings` rather than `cflags`; both apply here.
`variables` overrides binding.gyp's variables; releases pass none.
*/
export function compileSettings(target, includeDir, variables = {}) {
  const gyp = bindingTarget(root, target.os, undefined, variables);
  const xcode = xcodeFlags(gyp.xcodeSettings);
  const deploymentTarget = xcode.deploymentTarget ?? '11.0';
  const triple = zigTriple(target, deploymentTarget);
  const flags = [
    '-target',
    triple,
    '-O2',
    '-fPIC',
    ...gyp.cflags,
    ...gyp.cflagsCc,
    ...(target.os === 'mac' ? xcode.flags : []),
    ...gyp.defines.map((d) => `-D${d}`),
    '-DBUILDING_NODE_EXTENSION',
    `-DNODE_GYP_MODULE_NAME=${gyp.name}`,
    `-I${includeDir}`,
    ...gyp.includeDirs.map((d) => `-I${d}`),
  ];
  return {name: gyp.name, sources: gyp.sources, flags, triple, deploymentTarget};
}

/** Runs `command`; resolves with its output, rejects with the command line and its stderr. */
export function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {stdio: ['ignore', 'pipe', 'pipe'], ...options});
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve({stdout, stderr});
      else {
        const error = new Error(
          `${[command, ...args].join(' ')}\nexited ${code ?? signal}\n${stderr}${stdout}`,
        );
        error.stderr = stderr;
        reject(error);
      }
    });
  });
}

/** `limit(fn)` runs at most `n` of the functions given to it at once. */
export function pool(n) {
  let active = 0;
  const waiting = [];
  const next = () => {
    if (active >= n || waiting.length === 0) return;
    active++;
    const {fn, resolve, reject} = waiting.shift();
    fn()
      .then(resolve, reject)
      .finally(() => {
        active--;
        next();
      });
  };

  return (fn) =>
    new Promise((resolve, reject) => {
      waiting.push({fn, resolve, reject});
      next();
    });
}

/** An object file name for a source: native/parse/darwin.cc -> native_parse_darwin.o */
export function objectName(source) {
  return source.replace(/\.[^.]+$/, '').replace(/[/\\]/g, '_') + '.o';
}
