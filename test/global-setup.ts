// The suite loads the testing build of the addon (scripts/build-testing.mjs: `testing`
// exports and PORTWARDEN_FAULT, which release builds leave out): it is brought up to date
// here and named by PORTWARDEN_ADDON_PATH, which the test workers and every process they
// start inherit. A run that names another build (the sanitizer run) keeps it. Tests of the
// release build and of installs load build/Release or a packed copy themselves.
//
// Tests run some children as uid 65534 (another user's listener, /proc unreadable, EACCES on
// a PID-file directory). Those children load dist/, the addon and test/fixtures/ from the
// checkout, which uid 65534 cannot reach when a directory above it is private (a clone under
// /root, or in a mktemp -d directory). Then they get a view of the checkout that it can reach:
// a hard-linked copy (a plain copy across filesystems) in a fresh world-traversable temporary
// directory, made once per run and removed at the end. Tests map paths with `forNobody`.
import {execFileSync, spawnSync} from 'node:child_process';
import {chmodSync, existsSync, mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import type {TestProject} from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The checkout as uid 65534 can reach it (the checkout itself when it can). */
    nobodyRoot: string;
  }
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// What children run as uid 65534 load: dist/ and the addon (build-testing/, build-asan/ in
// the sanitizer run, build/), their dependencies, test/fixtures/.
const VIEW = [
  'package.json',
  'dist',
  'build',
  'build-testing',
  'build-asan',
  'node_modules',
  'test',
];

function reachable(dir: string): boolean {
  const probe = spawnSync(
    process.execPath,
    ['-e', `require('fs').accessSync(${JSON.stringify(path.join(dir, 'package.json'))})`],
    {uid: 65_534, gid: 65_534, cwd: '/', stdio: 'ignore'},
  );
  return probe.status === 0;
}

/** scripts/build-testing.mjs (incremental: a no-op make when nothing changed); its addon. */
function testingAddon(): string {
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build-testing.mjs')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return path.join(root, 'build-testing', 'build', 'Release', 'portwarden.node');
}

export default function setup(project: TestProject): (() => void) | undefined {
  process.env.PORTWARDEN_ADDON_PATH ??= testingAddon();
  if (process.getuid?.() !== 0 || reachable(root)) {
    project.provide('nobodyRoot', root);
    return undefined;
  }

  const view = mkdtempSync(path.join(tmpdir(), 'portwarden-view-'));
  chmodSync(view, 0o755);
  const parts = VIEW.filter((p) => existsSync(path.join(root, p)));
  try {
    execFileSync('cp', ['-al', '--parents', ...parts, view], {cwd: root, stdio: 'pipe'});
  } catch {
    for (const part of parts) {
      rmSync(path.join(view, part), {recursive: true, force: true});
    }

    execFileSync('cp', ['-a', '--parents', ...parts, view], {cwd: root, stdio: 'pipe'});
  }

  if (!reachable(view)) {
    throw new Error(`uid 65534 can reach neither ${root} nor its view ${view}`);
  }

  project.provide('nobodyRoot', view);
  return () => rmSync(view, {recursive: true, force: true});
}
