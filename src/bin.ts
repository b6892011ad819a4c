#!/usr/bin/env node
// Node ≥ 22.1 keeps the compiled code of the CLI between runs (a no-op where it is missing).
// The CLI is loaded after that call, so that it is the code being cached: in the shipped
// bundle it is a file of its own (dist/bundle/cli.cjs, see scripts/bundle.mjs).
import module from 'node:module';

(module as {enableCompileCache?: () => unknown}).enableCompileCache?.();
import('./cli/run.js').then(
  ({runCli}) => {
    runCli(process.argv.slice(2));
  },
  (error: unknown) => {
    process.stderr.write(
      `portwarden: cannot load the CLI: ${(error as Error).stack ?? String(error)}\n`,
    );
    process.exitCode = 70; // EXIT.internal; the module that names it did not load.
  },
);
