/*
Which addon file to load. node-gyp-build decides it (build/Release, then build/Debug, then the
best-matching prebuild), but loading node-gyp-build costs about 4 ms of a cold start: it is
CommonJS resolved through node_modules, it reads package.json and lists several directories.
In the two layouts this package ships, a local build (build/Release/portwarden.node) and the
prebuilds of prebuildify (prebuilds/<platform>-<arch>/node.napi[.glibc|.musl].node), the
answer is found here with a few stat calls; it is the file node-gyp-build would pick
(test/addon-path.test.ts compares the two on every layout). Anything else (an environment
override node-gyp-build reads, a debug build, a file this package does not ship) is left to
node-gyp-build itself: undefined.
*/
import path from 'node:path';
import {builtin} from './builtin.js';

/** The addon file names this package ships: what node-gyp-build would choose among them. */
const LOCAL_BUILD = 'portwarden.node';
const PREBUILDS = new Set(['node.napi.glibc.node', 'node.napi.musl.node', 'node.napi.node']);

/** What node-gyp-build reads from the environment to pick another file. */
const OVERRIDES = [
  'PREBUILDS_ONLY',
  'PORTWARDEN_PREBUILD',
  'npm_config_arch',
  'npm_config_platform',
  'LIBC',
  'ELECTRON_RUN_AS_NODE',
];

function list(dir: string): string[] | undefined {
  try {
    return builtin.fs().readdirSync(dir);
  } catch {
    return undefined;
  }
}

const addons = (files: string[]) => files.filter((f) => f.endsWith('.node'));

/** The addon file node-gyp-build would load from `root`, or undefined to ask it. */
export function shippedAddonPath(root: string): string | undefined {
  if (OVERRIDES.some((name) => process.env[name]) || process.versions.electron) {
    return undefined;
  }

  // node-gyp-build takes the first .node file of build/Release, then of build/Debug.
  const release = list(path.join(root, 'build', 'Release'));
  if (release !== undefined && addons(release).length > 0) {
    const [only, ...more] = addons(release);
    return only === LOCAL_BUILD && more.length === 0
      ? path.join(root, 'build', 'Release', only)
      : undefined;
  }

  const debug = list(path.join(root, 'build', 'Debug'));
  if (debug !== undefined && addons(debug).length > 0) {
    return undefined;
  }

  // The single-architecture directory of this platform comes first among the matching ones.
  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const files = addons(list(dir) ?? []);
  if (files.length === 0 || !files.every((f) => PREBUILDS.has(f))) {
    return undefined;
  }

  // A libc tag must match (node-gyp-build: musl where /etc/alpine-release exists); the more
  // specific tagged file wins over the untagged one.
  const libc =
    process.platform === 'linux' && builtin.fs().existsSync('/etc/alpine-release')
      ? 'musl'
      : 'glibc';
  const file = [`node.napi.${libc}.node`, 'node.napi.node'].find((f) => files.includes(f));
  return file === undefined ? undefined : path.join(dir, file);
}
