#!/usr/bin/env node
// Bundles the compiled package into dist/bundle/: index.js (the library, what `exports`
// names) and bin.js (the CLI, what `bin` names), one file each, so that importing the package
// or starting the CLI reads one file instead of thirty. Code loaded on demand (services,
// serve, each CLI command) stays lazily evaluated inside it. execa and node-gyp-build stay
// external dependencies. Measured by the cold-path section of `npm run bench`.
import {rmSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {build} from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist', 'bundle');
rmSync(outdir, {recursive: true, force: true});
for (const entry of ['index.js', 'bin.js']) {
  await build({
    entryPoints: [path.join(root, 'dist', entry)],
    outfile: path.join(outdir, entry),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['execa', 'node-gyp-build'],
    sourcemap: true,
    logLevel: 'warning',
  });
}
