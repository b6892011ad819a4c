// The test-only parts of the addon - the `testing` exports (its byte parsers) and
// PORTWARDEN_FAULT fault injection - are compiled only into the testing build (binding.gyp
// portwarden_testing=1, scripts/build-testing.mjs), which this suite loads. What the
// package installs (build/Release through node-gyp-build, or a prebuild) has neither.
import {spawn} from 'node:child_process';
import {existsSync, readdirSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {nativeBinding} from '../src/native.js';
import {jsonOf, repoRoot, startListener} from './helpers.js';

const TESTING = [
  'parseInetDiag',
  'parseUnixDiag',
  'parseDumpEnd',
  'parseProcStat',
  'parsePidFile',
  'parseSocketFdinfo',
  'walkPcblistN',
  'parseFdList',
  'parseProcargs2',
];
// Strings only the test-only code puts into a binary.
const MARKERS = ['parseInetDiag', 'walkPcblistN', 'PORTWARDEN_FAULT', 'sock_diag_enoent'];

/** Loads an addon in a child (`load`: an expression) and reports what it exports and does. */
async function loadIn(load: string, port: number, env: NodeJS.ProcessEnv) {
  const code = `
    const {createRequire} = await import('node:module');
    const require = createRequire(${JSON.stringify(path.join(repoRoot, 'package.json'))});
    const root = ${JSON.stringify(repoRoot)};
    const {binary, b} = ${load};
    let dump;
    try {
      dump = {sockets: b.inetDump(${port}, 1, 1 << 10).length};
    } catch (error) {
      dump = {code: error.code, syscall: error.syscall};
    }
    console.log(JSON.stringify({binary, testing: b.testing === undefined ? null : Object.keys(b.testing), dump}));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return jsonOf<{binary: string; testing: string[] | null; dump: Record<string, unknown>}>(child);
}

function withoutAddonPath(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = {...process.env, ...extra};
  delete env.PORTWARDEN_ADDON_PATH;
  return env;
}

describe('the testing build and the release build', () => {
  it('the suite runs against a testing build', () => {
    expect(process.env.PORTWARDEN_ADDON_PATH).toBeTruthy();
    expect(Object.keys(nativeBinding()!.testing ?? {})).toEqual(TESTING);
  });

  it('the release build node-gyp-build loads has no testing exports and ignores PORTWARDEN_FAULT', async () => {
    const l = await startListener({host: '127.0.0.1'});
    const result = await loadIn(
      `(() => {
        const gypBuild = require('node-gyp-build');
        return {binary: gypBuild.path(root), b: gypBuild(root)};
      })()`,
      l.port,
      withoutAddonPath({PORTWARDEN_FAULT: 'sock_diag_enoent'}),
    );
    expect(result.binary).not.toContain('build-testing');
    expect(result.binary).not.toContain('build-asan');
    expect(result.testing).toBeNull();
    expect(result.dump).toEqual({sockets: 1});
  });

  it('the testing build exports the parsers and answers every dump ENOENT under PORTWARDEN_FAULT', async () => {
    const l = await startListener({host: '127.0.0.1'});
    const addon = path.resolve(process.env.PORTWARDEN_ADDON_PATH!);
    const load = `({binary: ${JSON.stringify(addon)}, b: require(${JSON.stringify(addon)})})`;
    const faulty = await loadIn(load, l.port, {
      ...process.env,
      PORTWARDEN_FAULT: 'sock_diag_enoent',
    });
    expect(faulty.testing).toEqual(TESTING);
    // As a kernel without the diag modules answers: in the reply that recv(2) reads.
    expect(faulty.dump).toEqual({code: 'ENOENT', syscall: 'recv'});
    const healthy = await loadIn(load, l.port, process.env);
    expect(healthy.dump).toEqual({sockets: 1});
  });

  it('no binary the package ships or builds on install carries the test-only code', () => {
    const release = path.join(repoRoot, 'build', 'Release', 'portwarden.node');
    const prebuilds = path.join(repoRoot, 'prebuilds');
    const binaries = [
      ...(existsSync(release) ? [release] : []),
      ...(existsSync(prebuilds)
        ? readdirSync(prebuilds, {recursive: true, encoding: 'utf8'})
            .filter((file) => file.endsWith('.node'))
            .map((file) => path.join(prebuilds, file))
        : []),
    ];
    expect(binaries.length).toBeGreaterThan(0);
    for (const binary of binaries) {
      const bytes = readFileSync(binary);
      for (const marker of MARKERS) {
        expect(bytes.includes(marker), `${marker} in ${binary}`).toBe(false);
      }
    }

    // The markers are what the testing build does carry.
    const testing = readFileSync(process.env.PORTWARDEN_ADDON_PATH!);
    for (const marker of MARKERS) expect(testing.includes(marker), marker).toBe(true);
  });
});
