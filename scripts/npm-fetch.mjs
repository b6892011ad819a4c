// Tools the build and the tests fetch from the npm registry on first use (Zig for the cross
// builds, other Node versions for the tests): one pinned version, checked against the
// integrity the registry publishes, unpacked into a cache outside node_modules so that
// `npm ci` never downloads them and a second run finds them.
import {execFileSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync} from 'node:fs';
import {homedir} from 'node:os';
import path from 'node:path';

/** `$PORTWARDEN_CACHE_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/portwarden`. */
export function cacheRoot() {
  if (process.env.PORTWARDEN_CACHE_DIR) return path.resolve(process.env.PORTWARDEN_CACHE_DIR);
  const base = process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(base, 'portwarden');
}

/**
Unpacks `name@version` (its tarball's `package/` directory) into `dir`, unless `isReady(dir)`
already holds. `integrity`: the registry's `dist.integrity` (`npm view name@version
dist.integrity`); a tarball that does not match is refused. `isReady` also checks the result.
*/
export function fetchPinned({name, version, integrity, dir, isReady, log = console.error}) {
  if (isReady(dir)) return dir;
  rmSync(dir, {recursive: true, force: true});
  mkdirSync(path.dirname(dir), {recursive: true});
  const tmp = mkdtempSync(`${dir}.tmp-`);
  try {
    log(`fetching ${name}@${version} from the npm registry into ${dir}`);
    execFileSync(
      'npm',
      ['pack', `${name}@${version}`, '--loglevel=warn', '--pack-destination', tmp],
      {
        cwd: tmp,
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    const tarball = path.join(tmp, readdirSync(tmp).find((f) => f.endsWith('.tgz')) ?? '?');
    const got = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    if (got !== integrity) {
      throw new Error(`${name}@${version}: integrity ${got}, expected ${integrity}`);
    }

    execFileSync('tar', ['-xzf', tarball, '-C', tmp]);
    if (!isReady(path.join(tmp, 'package'))) {
      throw new Error(`${name}@${version}: the unpacked package is not what was expected`);
    }

    try {
      renameSync(path.join(tmp, 'package'), dir);
    } catch (error) {
      if (!isReady(dir)) throw error; // else another run put it there first
    }
  } finally {
    rmSync(tmp, {recursive: true, force: true});
  }

  return dir;
}
