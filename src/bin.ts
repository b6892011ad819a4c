#!/usr/bin/env node
import {EXIT, main} from './cli.js';

main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text + '\n'),
  err: (text) => process.stderr.write(text + '\n'),
  isTTY: Boolean(process.stderr.isTTY),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`portwarden: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = EXIT.unknown;
  },
);
