#!/usr/bin/env node
// Bundles the compiled package into dist/bundle/, so that importing the package or starting
// the CLI reads one file instead of thirty:
// - index.js: the library, what `exports` names (an ES module);
// - bin.cjs: what `bin` names, a few lines that turn on Node's compile cache and require
//   - cli.cjs: the CLI.
// The CLI is CommonJS because Node starts a CommonJS entry without its ES module loader:
// ~9 ms less before a command's first spawn (measured by the cold-path section of
// `npm run bench`). It is a file of its own so that Node ≥ 22.1's compile cache, turned on by
// bin.cjs, can keep its compiled code. Code loaded on demand (services, serve, each CLI
// command) stays lazily evaluated inside each bundle. execa and node-gyp-build stay external
// dependencies (execa, an ES module, through import()).
import {rmSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {build} from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const outdir = path.join(dist, 'bundle');
rmSync(outdir, {recursive: true, force: true});

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  external: ['execa', 'node-gyp-build'],
  sourcemap: true,
  logLevel: 'warning',
};

await build({
  ...common,
  entryPoints: [path.join(dist, 'index.js')],
  outfile: path.join(outdir, 'index.js'),
  format: 'esm',
});

// CommonJS has no import.meta: the bundle's own file URL stands in for it (native.ts finds
// the package root and the addon from it). Strict, as the ES modules it is built from are.
await build({
  ...common,
  entryPoints: [path.join(dist, 'cli', 'run.js')],
  outfile: path.join(outdir, 'cli.cjs'),
  format: 'cjs',
  define: {'import.meta.url': '__bundleUrl'},
  banner: {
    js: "'use strict';\nconst __bundleUrl = require('node:url').pathToFileURL(__filename).href;",
  },
});

// bin.js's import('./cli/run.js') becomes require('./cli.cjs'), after the compile cache is on.
await build({
  ...common,
  entryPoints: [path.join(dist, 'bin.js')],
  format: 'cjs',
  outfile: path.join(outdir, 'bin.cjs'),
  supported: {'dynamic-import': false},
  plugins: [
    {
      name: 'cli-file',
      setup(b) {
        b.onResolve({filter: /^\.\/cli\/run\.js$/}, () => ({path: './cli.cjs', external: true}));
      },
    },
  ],
});
