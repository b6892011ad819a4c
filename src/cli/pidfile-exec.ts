// pidfile exec <path> -- <command>: holds the PID file's lock for the life of a command, as
// flock(1) does. The command inherits the locked descriptor as fd 3 and the record is
// rewritten to name it; signals are forwarded and its exit status is passed through.
import {builtin} from '../builtin.js';
import {claimPidFile} from '../pidfile.js';
import {UsageError} from './args.js';
import type {Io} from './output.js';
import {dataOf} from './pidfile.js';
import type {PidfileFlags, Values} from './spec.js';

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;

export async function exec(
  file: string,
  commandLine: string[],
  values: Values<PidfileFlags>,
  io: Io,
): Promise<number> {
  const [program, ...args] = commandLine;
  if (program === undefined) {
    throw new UsageError('Expected a command after --');
  }

  const handle = claimPidFile(file, {...dataOf(values), force: values.force});
  // The child inherits the locked descriptor as fd 3: the lock lives as long as either of us.
  const child = builtin
    .childProcess()
    .spawn(program, args, {stdio: ['inherit', 'inherit', 'inherit', handle.fd]});
  const relay = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of FORWARDED) {
    process.on(signal, relay);
  }

  return new Promise((resolve) => {
    child.once('spawn', () => {
      try {
        handle.handOver(child.pid!);
      } catch {
        // It exited at once; the exit handler below reports its status.
      }
    });
    child.once('error', (error) => {
      handle.release();
      io.err(`portwarden pidfile exec: cannot run ${program}: ${error.message}`);
      resolve(127);
    });
    child.once('exit', (code, signal) => {
      for (const s of FORWARDED) {
        process.off(s, relay);
      }

      handle.release();
      resolve(code ?? 128 + (signal ? builtin.os().constants.signals[signal] : 0));
    });
  });
}
