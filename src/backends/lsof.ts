import type {SpawnSyncOptionsWithStringEncoding} from 'node:child_process';
import {builtin} from '../builtin.js';
import {loadExeca} from '../execa.js';
import {nativeBinding} from '../native.js';
import type {Owner, ProcessInfo, SocketEntry, SocketState} from '../types.js';
import {perform} from '../steps.js';
import {type Backend, BackendFailure, type ProbeRequest} from './backend.js';
import {nativeProcessInfo} from './native.js';

/** What one lsof run ended with, whichever way it was spawned. */
export type LsofOutcome = {
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly timedOut: boolean;
  /** Spawn error code (ENOENT, EACCES, ...), when lsof could not be started. */
  readonly spawnError: string | undefined;
  readonly stdout: string;
  readonly stderr: string;
};

const MAX_OUTPUT = 16 * 1024 * 1024;

export function lsofArguments(request: ProbeRequest): string[] {
  const args = ['-nP', '-w', `-i${request.protocol.toUpperCase()}:${request.port}`];
  if (request.protocol === 'tcp' && request.states === 'listen') {
    args.push('-sTCP:LISTEN');
  }

  args.push('-F', 'pcuftPTn');
  return args;
}

/**
lsof's exit status, read exactly: 0 → parse; 1 with an empty stderr → parse (empty output
means no sockets; lsof also exits 1 when one of several search items matched nothing);
1 with stderr, any other status, a signal or the per-call timeout → unknown (transient);
a binary that cannot be spawned → unknown (permanent). Never "free" by default.
*/
export function interpretLsof(outcome: LsofOutcome): string {
  if (outcome.spawnError !== undefined) {
    const permanent = outcome.spawnError === 'ENOENT' || outcome.spawnError === 'EACCES';
    throw new BackendFailure(
      `lsof could not be started (${outcome.spawnError})`,
      outcome.spawnError,
      permanent,
    );
  }

  if (outcome.timedOut) {
    throw new BackendFailure('lsof did not answer within its per-call timeout', 'ETIMEDOUT', false);
  }

  if (outcome.signal !== undefined) {
    throw new BackendFailure(`lsof was killed by ${outcome.signal}`, 'ESIGNAL', false);
  }

  const stderr = outcome.stderr.trim();
  if (outcome.exitCode === 0 || (outcome.exitCode === 1 && stderr === '')) {
    return outcome.stdout;
  }

  const detail = stderr === '' ? '' : `: ${stderr.split('\n')[0]}`;
  throw new BackendFailure(
    `lsof exited with status ${String(outcome.exitCode)}${detail}`,
    'ELSOF',
    false,
  );
}

/**
lsof's TCP state names → the kernel names the native backends report. lsof prints the
names of the OS it runs on: Linux lsof the kernel's (`SYN_RECV`, `FIN_WAIT1`, `CLOSE`,
and `CLOSED` for state 0), BSD and macOS lsof those of <netinet/tcp_fsm.h> (`SYN_RCVD`,
`FIN_WAIT_1`, `CLOSED`), Solaris lsof also `BOUND` and `IDLE`. Both `CLOSE` and `CLOSED`
are `CLOSE`, as the darwin native backend reports TCPS_CLOSED; `BOUND` (bound, neither
listening nor connected) is Linux's `BOUND_INACTIVE`; `IDLE` (not even bound) is `CLOSE`,
the state of a fresh Linux socket.
*/
const LSOF_TCP_STATES: Readonly<Record<string, SocketState>> = {
  LISTEN: 'LISTEN',
  ESTABLISHED: 'ESTABLISHED',
  SYN_SENT: 'SYN_SENT',
  SYN_RECV: 'SYN_RECV',
  SYN_RCVD: 'SYN_RECV',
  FIN_WAIT1: 'FIN_WAIT1',
  FIN_WAIT_1: 'FIN_WAIT1',
  FIN_WAIT2: 'FIN_WAIT2',
  FIN_WAIT_2: 'FIN_WAIT2',
  TIME_WAIT: 'TIME_WAIT',
  CLOSE: 'CLOSE',
  CLOSED: 'CLOSE',
  CLOSE_WAIT: 'CLOSE_WAIT',
  LAST_ACK: 'LAST_ACK',
  CLOSING: 'CLOSING',
  BOUND: 'BOUND_INACTIVE',
  IDLE: 'CLOSE',
};

/**
The state of a TCP socket from lsof's `T` field (`TST=LISTEN`). A missing or unknown name
(`UNKNOWN_TCP_STATE_12`, a dialect's own word) is `'UNKNOWN'`, as the native backends
report a kernel state number they do not know: such a socket counts for checks with
`states: 'all'` and never as a listener. Under `-sTCP:LISTEN` lsof itself matched the state
against its LISTEN name, so listeners always arrive as `LISTEN`.
*/
export function lsofTcpState(text: string | undefined): SocketState {
  return text !== undefined && Object.hasOwn(LSOF_TCP_STATES, text)
    ? LSOF_TCP_STATES[text]!
    : 'UNKNOWN';
}

type Endpoint = {address: string; port: number};

function parseEndpoint(text: string, ipv6: boolean): Endpoint | undefined {
  const match = /^(\*|\[[\da-fA-F:.%\w]+\]|[\d.]+):(\d+|\*)$/.exec(text);
  if (!match) {
    return undefined;
  }

  let address = match[1]!;
  if (address === '*') {
    address = ipv6 ? '::' : '0.0.0.0';
  } else if (address.startsWith('[')) {
    address = address.slice(1, -1);
  }

  if (address.startsWith('::ffff:') && address.includes('.')) {
    address = address.slice(7);
  }

  const port = match[2] === '*' ? 0 : Number(match[2]);
  return {address, port};
}

type FileRecord = {type?: string; protocol?: string; name?: string; state?: string};
type ProcessRecord = {pid: number; command: string; uid: number};

function badOutput(line: string): never {
  throw new BackendFailure(
    `lsof printed output that is not -F field output: ${JSON.stringify(line.slice(0, 80))}`,
    'EBADMSG',
    false,
  );
}

/** Parses `lsof -F pcuftPTn` output into sockets on `port`, grouping holders of the same socket. */
export function parseLsof(stdout: string, port: number, protocol: 'tcp' | 'udp'): SocketEntry[] {
  const groups = new Map<string, {entry: Omit<SocketEntry, 'owner'>; processes: ProcessRecord[]}>();
  let proc: ProcessRecord | undefined;
  let file: FileRecord | undefined;

  const flush = () => {
    if (!proc || !file?.name) {
      return;
    }

    const ipv6 = file.type === 'IPv6';
    const [localText, remoteText] = file.name.split('->');
    const local = parseEndpoint(localText!, ipv6);
    const remote =
      remoteText === undefined
        ? {address: ipv6 ? '::' : '0.0.0.0', port: 0}
        : parseEndpoint(remoteText, ipv6);
    if (!local || !remote) {
      badOutput(file.name);
    }

    // `-iTCP:P` also matches sockets whose *remote* port is P: keep local matches only.
    if (local.port !== port) {
      return;
    }

    let state: SocketState;
    if (protocol === 'udp') {
      state = remoteText === undefined ? 'UNCONN' : 'ESTABLISHED';
    } else {
      state = lsofTcpState(file.state);
    }

    const key = `${file.type}|${file.name}|${state}`;
    let group = groups.get(key);
    if (!group) {
      group = {
        entry: {
          protocol,
          family: ipv6 ? 6 : 4,
          state,
          localAddress: local.address,
          localPort: local.port,
          remoteAddress: remote.address,
          remotePort: remote.port,
          uid: proc.uid,
          inode: 0,
        },
        processes: [],
      };
      groups.set(key, group);
    }

    if (!group.processes.some((p) => p.pid === proc!.pid)) {
      group.processes.push(proc);
    }
  };

  for (const line of stdout.split('\n')) {
    if (line === '') {
      continue;
    }

    const field = line[0]!;
    const value = line.slice(1);
    switch (field) {
      case 'p': {
        flush();
        file = undefined;
        const pid = Number(value);
        if (!Number.isInteger(pid) || pid <= 0) {
          badOutput(line);
        }

        proc = {pid, command: '', uid: -1};
        break;
      }

      case 'c':
      case 'u': {
        if (!proc) {
          badOutput(line);
        }

        if (field === 'c') {
          proc.command = value;
        } else {
          proc.uid = Number(value);
        }

        break;
      }

      case 'f': {
        flush();
        if (!proc) {
          badOutput(line);
        }

        file = {};
        break;
      }

      case 't':
      case 'P':
      case 'n':
      case 'T': {
        if (!file) {
          badOutput(line);
        }

        if (field === 't') {
          file.type = value;
        } else if (field === 'P') {
          file.protocol = value;
        } else if (field === 'n') {
          file.name = value;
        } else if (value.startsWith('ST=')) {
          file.state = value.slice(3);
        }

        break;
      }

      default: {
        badOutput(line);
      }
    }
  }

  flush();
  const b = nativeBinding();
  return [...groups.values()].map(({entry, processes}) => {
    const owner: Owner = {
      status: 'found',
      processes: processes.map((p): ProcessInfo => {
        const info = b ? safeInfo(() => nativeProcessInfo(b, p.pid)) : undefined;
        return (
          info ?? {
            pid: p.pid,
            ppid: undefined,
            uid: p.uid,
            name: p.command,
            command: p.command,
            startTime: undefined,
            bootId: undefined,
          }
        );
      }),
    };
    return {...entry, owner};
  });
}

function safeInfo(read: () => ProcessInfo | undefined): ProcessInfo | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

function stripOwners(entries: SocketEntry[], owners: boolean): SocketEntry[] {
  return owners ? entries : entries.map(({owner: _owner, ...rest}) => rest);
}

/** SIGKILLs a process group we created; it may be gone already. */
function killGroup(pgid: number | undefined): void {
  if (pgid !== undefined && pgid > 0) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {}
  }
}

/**
Runs lsof in a process group of its own, for at most `timeoutMs`. lsof forks helpers that
inherit its stdout, so killing lsof alone can leave the pipes open and the call waiting for
a helper (for as long as it is stuck on a dead mount). On timeout the whole group is killed
and the call returns at once, whatever the streams do.
*/
async function runLsof(
  args: string[],
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<LsofOutcome> {
  const {execa} = await loadExeca();
  const subprocess = execa('lsof', args, {
    reject: false,
    detached: true,
    killSignal: 'SIGKILL',
    stripFinalNewline: false,
    maxBuffer: MAX_OUTPUT,
    stdin: 'ignore',
  });
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
    // The caller gave up (the driver has already rejected): end the run the same way.
    onAbort = () => resolve('timeout');
    signal?.addEventListener('abort', onAbort, {once: true});
  });
  const result = await Promise.race([subprocess, deadline]);
  clearTimeout(timer);
  signal?.removeEventListener('abort', onAbort!);
  if (result === 'timeout') {
    killGroup(subprocess.pid);
    subprocess.stdout?.destroy();
    subprocess.stderr?.destroy();
    return {
      exitCode: undefined,
      signal: undefined,
      timedOut: true,
      spawnError: undefined,
      stdout: '',
      stderr: '',
    };
  }

  const spawnCode =
    result.failed && result.exitCode === undefined && result.signal === undefined
      ? String((result.cause as NodeJS.ErrnoException | undefined)?.code ?? result.code ?? 'ESPAWN')
      : undefined;
  return {
    exitCode: result.exitCode,
    signal: result.signal,
    timedOut: false,
    spawnError: spawnCode,
    stdout: String(result.stdout ?? ''),
    stderr: result.isMaxBuffer ? 'output too large' : String(result.stderr ?? ''),
  };
}

/**
One lsof run, blocking. On timeout spawnSync kills lsof and stops reading its pipes; lsof
runs in a process group of its own so that its helpers are then killed too.
*/
function runLsofSync(args: string[], timeoutMs: number): LsofOutcome {
  // `detached` (setsid) is honoured by spawnSync, though @types/node leaves it out.
  const options: SpawnSyncOptionsWithStringEncoding & {detached: boolean} = {
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: MAX_OUTPUT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  };
  const result = builtin.childProcess().spawnSync('lsof', args, options);
  const code = (result.error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ETIMEDOUT' || code === 'ENOBUFS') {
    killGroup(result.pid);
  }

  return {
    exitCode: result.status ?? undefined,
    signal: code === 'ETIMEDOUT' ? undefined : (result.signal ?? undefined),
    timedOut: code === 'ETIMEDOUT',
    spawnError: code !== undefined && code !== 'ETIMEDOUT' && code !== 'ENOBUFS' ? code : undefined,
    stdout: result.stdout ?? '',
    stderr: code === 'ENOBUFS' ? 'output too large' : (result.stderr ?? ''),
  };
}

export const lsofBackend: Backend = {
  name: 'lsof',
  *probe(request) {
    const args = lsofArguments(request);
    const outcome = yield* perform({
      sync: () => runLsofSync(args, request.timeoutMs),
      async: async (signal) => runLsof(args, request.timeoutMs, signal),
    });
    const stdout = interpretLsof(outcome);
    return stripOwners(parseLsof(stdout, request.port, request.protocol), request.owners);
  },
};
