#!/usr/bin/env node
import {EXIT, main} from './cli/main.js';

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
