// Human and JSON output of the commands.
import {describeSocket} from '../errors.js';
import type {TerminateResult} from '../terminate.js';
import type {PortStatus, SocketEntry} from '../types.js';
import type {WaitProgress} from '../wait.js';
import type {CommonValues} from './spec.js';

export type Io = {
  out: (text: string) => void;
  err: (text: string) => void;
  isTTY: boolean;
  /**
	For a command that writes while it runs: output from here on must not hold up the event
	loop when its reader is slow (the CLI's writers switch to Node's streams).
	*/
  streaming?: () => void;
};

export const EXIT = {ok: 0, no: 1, unknown: 2, usage: 64, internal: 70} as const;

/** Prints the JSON document with --json, the human text otherwise (nothing with --quiet). */
export function report(io: Io, values: CommonValues, text: string | string[], json: unknown): void {
  if (values.json) {
    io.out(JSON.stringify(json));
  } else if (!values.quiet) {
    for (const line of Array.isArray(text) ? text : [text]) {
      io.out(line);
    }
  }
}

/** `tcp [::]:8080 LISTEN pid 4711 node server.js` */
export function formatSocket(entry: SocketEntry): string {
  const owner = entry.owner;
  const holders =
    owner?.status === 'found'
      ? owner.processes.map((p) => `pid ${p.pid} ${p.command}`).join('; ')
      : undefined;
  return holders === undefined
    ? describeSocket(entry)
    : `${describeSocket({...entry, owner: undefined})} ${holders}`;
}

export function printStatus(
  port: number,
  status: PortStatus,
  values: CommonValues,
  io: Io,
): number {
  if (status.status === 'unknown' && !values.json && !values.quiet) {
    io.err(
      `port ${port}: unknown (${status.code}${status.permanent ? ', permanent' : ''}): ${status.reason}`,
    );
  } else {
    report(
      io,
      values,
      status.status === 'free'
        ? `port ${port} is free`
        : status.status === 'busy'
          ? [`port ${port} is busy:`, ...status.blockers.map((b) => `  ${formatSocket(b)}`)]
          : [],
      {port, ...status},
    );
  }

  return status.status === 'free' ? EXIT.ok : status.status === 'busy' ? EXIT.no : EXIT.unknown;
}

/** On a TTY, one self-rewriting status line while waiting; nothing otherwise. */
export function progressLine(io: Io, values: CommonValues) {
  if (!io.isTTY || values.quiet || values.json) {
    return {update: (_p: WaitProgress) => {}, done: () => {}};
  }

  let last = 0;
  let shown = false;
  return {
    update(progress: WaitProgress) {
      if (progress.elapsedMs - last < 100) {
        return;
      }

      last = progress.elapsedMs;
      shown = true;
      const who = progress.blockers.map((b) => describeSocket(b)).join('; ');
      io.err(
        `\r\u001B[2K${(progress.elapsedMs / 1000).toFixed(1)} s: ${who}`.slice(0, 200) +
          '\u001B[1A',
      );
    },
    done() {
      if (shown) {
        io.err('\r\u001B[2K\u001B[1A');
      }
    },
  };
}

export function describeTerminated(r: TerminateResult): string {
  const what =
    r.status === 'dry-run'
      ? `would send ${r.killSignal ?? 'nothing'} to`
      : r.status === 'terminated'
        ? `${r.forced ? 'killed (SIGKILL after the grace period)' : `stopped by ${r.killSignal ?? 'signal'}`}`
        : r.status === 'reused'
          ? 'skipped (pid reused by another process)'
          : 'already gone:';
  return `${what} pid ${r.pid}${r.command ? ` ${r.command}` : ''}`;
}
