#!/usr/bin/env node
// Node ≥ 22.1 keeps the compiled code of the CLI between runs (a no-op where it is missing);
// the CLI itself is imported after that, so that it is the code being cached.
import module from 'node:module';

(module as {enableCompileCache?: () => unknown}).enableCompileCache?.();
const {EXIT, main} = await import('./cli/main.js');

let settled = false;
main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text + '\n'),
  err: (text) => process.stderr.write(text + '\n'),
  isTTY: Boolean(process.stderr.isTTY),
}).then(
  (code) => {
    settled = true;
    process.exitCode = code;
  },
  (error: unknown) => {
    settled = true;
    process.stderr.write(`portwarden: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = EXIT.internal;
  },
);

// The event loop emptied before the command answered: a bug (something awaited a handle that
// was not keeping the process alive). Never let that exit 0.
process.on('exit', (code) => {
  if (!settled && code === 0) {
    process.stderr.write('portwarden: internal error: the command ended without an answer\n');
    process.exitCode = EXIT.internal;
  }
});
