// The package's `install` script: use a prebuild (or an earlier build) when one loads,
// otherwise compile the addon with node-gyp. When neither works the install still succeeds:
// portwarden then answers probes through lsof, so this prints one line saying so and how to
// get the addon, and exits 0. A compiler's errors stay in the output above that line.
// Dependency-free on purpose: it runs before anything of the package is usable.
import {spawnSync} from 'node:child_process';
import {createRequire} from 'node:module';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/** Whether node-gyp-build finds a binary that loads (in a child: a crash must not end the install). */
function addonLoads() {
  let loader;
  try {
    loader = require.resolve('node-gyp-build');
  } catch {
    return false;
  }

  const code = `require(${JSON.stringify(loader)})(${JSON.stringify(root)})`;
  return spawnSync(process.execPath, ['-e', code], {stdio: 'ignore'}).status === 0;
}

/** `node-gyp rebuild`: the package's own node-gyp, else npm's, else the one on PATH. */
function compile() {
  let nodeGyp = process.env.npm_config_node_gyp;
  try {
    nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
  } catch {}

  const [command, args] = nodeGyp
    ? [process.execPath, [nodeGyp, 'rebuild']]
    : ['node-gyp', ['rebuild']];
  const result = spawnSync(command, args, {cwd: root, stdio: 'inherit'});
  if (result.error) {
    console.error(`portwarden: could not run node-gyp: ${result.error.message}`);
  }

  return result.status === 0;
}

const fromSource = process.env.npm_config_build_from_source === 'true';
if ((!fromSource && addonLoads()) || (compile() && addonLoads())) {
  process.exit(0);
}

console.error(
  `portwarden: the native addon is unavailable (no prebuild for ${process.platform}-${process.arch} loads here, and building one failed: see above); probes will use lsof. ` +
    'To get the addon, install a C++ toolchain (g++, make, python3) and run `npm rebuild portwarden`.',
);
