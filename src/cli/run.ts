// The CLI process: argv in, one answer out, and an exit code that is never 0 by accident.
import {builtin} from '../builtin.js';
import {EXIT, main} from './main.js';

type LineWriter = {
  write: (text: string) => void;
  /** From now on through Node's stream (for a command that writes while it runs). */
  stream: () => void;
  /** The error that made output to this fd fail (EPIPE aside), if one did. */
  failed: Error | undefined;
  /** Whether lines went to Node's stream, which may still hold some. */
  readonly queued: boolean;
};

const code = (error: unknown) => (error as {code?: unknown}).code;

/**
Writes lines on fd 1 or 2 directly. Building process.stdout or process.stderr loads Node's
streams, about 2 ms of a cold start for a command that prints one line. A write that cannot
complete at once (EAGAIN: a non-blocking pipe that is full) goes, with everything after it,
through the stream, so the order stays. A reader that went away (EPIPE: `portwarden who 80 |
head -1`) gets nothing more, and the command still answers by its exit code, without a stack
trace. Any other failure (ENOSPC, EIO) is kept in `failed`: the command then exits 70.
A direct write waits for a slow reader, so a command that writes while it runs (serve)
calls stream() first: the stream queues and the event loop goes on.
*/
function lineWriter(fd: 1 | 2): LineWriter {
  let state: 'direct' | 'stream' | 'closed' = 'direct';
  let stream: NodeJS.WriteStream | undefined;
  // Built at the first write that needs it, not before: building it makes the descriptor
  // non-blocking (libuv), and a child spawned before then would make it blocking again.
  const toStream = (data: Buffer) => {
    if (stream === undefined) {
      stream = fd === 1 ? process.stdout : process.stderr;
      stream.on('error', (error) => {
        state = 'closed';
        if (code(error) !== 'EPIPE') {
          writer.failed ??= error;
          process.exitCode = EXIT.internal; // it may come after the command's answer
        }
      });
    }

    stream.write(data);
  };

  const writer: LineWriter = {
    failed: undefined,
    get queued() {
      return stream !== undefined;
    },
    stream() {
      if (state === 'direct') {
        state = 'stream';
      }
    },
    write(text) {
      let data = Buffer.from(text + '\n');
      if (state === 'direct') {
        try {
          while (data.length > 0) {
            data = data.subarray(builtin.fs().writeSync(fd, data));
          }

          return;
        } catch (error) {
          if (code(error) === 'EAGAIN') {
            state = 'stream';
          } else {
            state = 'closed';
            if (code(error) !== 'EPIPE') {
              writer.failed = error as Error;
            }
          }
        }
      }

      if (state === 'stream') {
        toStream(data);
      }
    },
  };
  return writer;
}

export function runCli(argv: string[]): void {
  let settled = false;
  const out = lineWriter(1);
  const err = lineWriter(2);
  const answer = (exitCode: number) => {
    settled = true;
    if (out.failed !== undefined) {
      err.write(`portwarden: cannot write the output: ${out.failed.message}`);
    }

    process.exitCode = (out.failed ?? err.failed) ? EXIT.internal : exitCode;
    // Every line went out by a direct write: end now rather than have Node tear the event
    // loop and the heap down first (4 ms of a CLI restart on Node 22 here). Lines queued in
    // a stream are left to drain the usual way.
    if (!out.queued && !err.queued) {
      process.exit();
    }
  };

  main(argv, {
    out: out.write,
    err: err.write,
    // A getter: process.stderr is built only when a command asks.
    get isTTY() {
      return Boolean(process.stderr.isTTY);
    },
    streaming() {
      out.stream();
      err.stream();
    },
  }).then(answer, (error: unknown) => {
    err.write(`portwarden: ${(error as Error).stack ?? String(error)}`);
    answer(EXIT.internal);
  });

  // The event loop emptied before the command answered: a bug (something awaited a handle that
  // was not keeping the process alive). Never let that exit 0.
  process.on('exit', (exitCode) => {
    if (!settled && exitCode === 0) {
      err.write('portwarden: internal error: the command ended without an answer');
      process.exitCode = EXIT.internal;
    }
  });
}
