#!/usr/bin/env node
// npm run build:testing: the addon the test suite loads, built with binding.gyp's
// portwarden_testing=1 (it exports `testing`, the byte parsers, and honours
// PORTWARDEN_FAULT) into build-testing/build/Release/portwarden.node. build/Release, which
// the install script builds and the package tests ship as a prebuild, stays the release
// build. node-gyp runs in a staging directory, build-testing/, that holds a copy of
// binding.gyp and symlinks to native/ and node_modules/ (as scripts/build-asan.sh does).
//
// Incremental: gyp is configured again only when binding.gyp changed or nothing is
// configured yet; make then recompiles what changed. test/global-setup.ts runs this before
// every vitest run, so the suite never loads a stale testing build.
import {spawnSync} from 'node:child_process';
import {existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stage = path.join(root, 'build-testing');
const testingAddon = path.join(stage, 'build', 'Release', 'portwarden.node');

function link(name) {
  const target = path.join(root, name);
  const at = path.join(stage, name);
  rmSync(at, {force: true});
  symlinkSync(target, at);
}

/** Node's headers: npm's nodedir setting when run through npm, else the system's. */
function nodedir() {
  if (process.env.npm_config_nodedir) return [`--nodedir=${process.env.npm_config_nodedir}`];
  return existsSync('/usr/include/node/node_api.h') ? ['--nodedir=/usr'] : [];
}

/** `node-gyp <command>`; `gypArgs` go to gyp itself (after `--`). */
function nodeGyp(command, gypArgs = []) {
  const script = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  // -j 2: the machine has two cores shared with other work.
  const result = spawnSync(
    process.execPath,
    [script, command, ...nodedir(), '-j', '2', '--loglevel=warn', '--', ...gypArgs],
    {cwd: stage, stdio: ['ignore', 'ignore', 'inherit']},
  );
  if (result.status !== 0) {
    throw new Error(`build-testing: node-gyp ${command} failed (exit ${result.status})`);
  }
}

function buildTesting() {
  mkdirSync(stage, {recursive: true});
  const gyp = readFileSync(path.join(root, 'binding.gyp'), 'utf8');
  const staged = path.join(stage, 'binding.gyp');
  const configured =
    existsSync(path.join(stage, 'build', 'Makefile')) &&
    existsSync(staged) &&
    readFileSync(staged, 'utf8') === gyp;
  if (!configured) {
    writeFileSync(staged, gyp);
    link('native');
    link('node_modules');
    nodeGyp('configure', ['-Dportwarden_testing=1']);
  }

  nodeGyp('build');
  if (!existsSync(testingAddon)) throw new Error(`build-testing: no ${testingAddon}`);
  return testingAddon;
}

console.log(`build-testing: ${path.relative(root, buildTesting())}`);
