// The CLI process: argv in, one answer out, and an exit code that is never 0 by accident.
import {builtin} from '../builtin.js';
import {EXIT, main} from './main.js';

/**
Writes lines on fd 1 or 2 directly. Building process.stdout or process.stderr loads Node's
streams, about 2 ms of a cold start for a command that prints one line. A write that cannot
complete at once (EAGAIN: a non-blocking pipe that is full) goes, with everything after it,
through the stream, so the order stays. A reader that went away (EPIPE: `portwarden who 80 |
head -1`) gets nothing more, and the command still answers by its exit code, without a stack
trace.
*/
function lineWriter(fd: 1 | 2): (text: string) => void {
  let state: 'direct' | 'stream' | 'closed' = 'direct';
  const closed = (error: unknown) => (error as {code?: unknown}).code === 'EPIPE';
  return (text) => {
    let data = Buffer.from(text + '\n');
    if (state === 'direct') {
      try {
        while (data.length > 0) {
          data = data.subarray(builtin.fs().writeSync(fd, data));
        }

        return;
      } catch (error) {
        state = closed(error) ? 'closed' : 'stream';
        if (state === 'stream') {
          const stream = fd === 1 ? process.stdout : process.stderr;
          stream.on('error', (streamError) => {
            if (!closed(streamError)) throw streamError;
          });
        }
      }
    }

    if (state === 'stream') {
      (fd === 1 ? process.stdout : process.stderr).write(data);
    }
  };
}

export function runCli(argv: string[]): void {
  let settled = false;
  const err = lineWriter(2);
  main(argv, {
    out: lineWriter(1),
    err,
    // A getter: process.stderr is built only when a command asks.
    get isTTY() {
      return Boolean(process.stderr.isTTY);
    },
  }).then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (error: unknown) => {
      settled = true;
      err(`portwarden: ${(error as Error).stack ?? String(error)}`);
      process.exitCode = EXIT.internal;
    },
  );

  // The event loop emptied before the command answered: a bug (something awaited a handle that
  // was not keeping the process alive). Never let that exit 0.
  process.on('exit', (code) => {
    if (!settled && code === 0) {
      err('portwarden: internal error: the command ended without an answer');
      process.exitCode = EXIT.internal;
    }
  });
}
