import {createRequire} from 'node:module';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {shippedAddonPath} from './addon-path.js';
import {builtin} from './builtin.js';
import {ProbeUnavailableError} from './errors.js';

export type RawInetSocket = {
  protocol: 'tcp' | 'udp';
  family: 4 | 6;
  state: number;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  v6only?: boolean;
  uid: number;
  inode: number;
};

export type RawUnixSocket = {
  type: number;
  state: number;
  inode: number;
  name: string;
  vfsIno?: number;
  vfsDev?: number;
};

export type RawOwnerScan = {holders: number[][]; denied: number; scanned: number};

/** What a PID file says; absent fields did not parse (garbage, a foreign format, empty). */
export type RawPidFileRecord = {
  empty: boolean;
  pid?: number;
  startTime?: number;
  bootId?: string;
  /** The raw JSON line of caller data. */
  data?: string;
};

export type RawPidFileClaim =
  | {
      fd: number;
      created: boolean;
      tookOver: boolean;
      pid: number;
      startTime: number;
      bootId: string;
      previous?: RawPidFileRecord;
    }
  /** `locked`: the holder holds the lock; otherwise the unlocked file names a live process. */
  | {held: RawPidFileRecord; locked: boolean};

export type RawProcessInfo = {
  pid: number;
  ppid: number;
  uid: number;
  name: string;
  command: string;
  startTime: number;
  state: string;
};

/** What an inherited descriptor is (`socketInfo`); absent fields the kernel did not report. */
export type RawSocketInfo = {
  /** SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5. */
  type: number;
  /** AF_INET, AF_INET6, AF_UNIX (numbers of this OS). */
  domain: number;
  /** IPPROTO_TCP 6, IPPROTO_UDP 17 (Linux). */
  protocol?: number;
  /** SO_ACCEPTCONN. */
  listening?: boolean;
  v6only?: boolean;
  /** 4, 6, or 0 for a unix (or other) socket. */
  family: 0 | 4 | 6;
  /** Numeric IP; a unix path; `@name` for an abstract unix name; '' when unbound. */
  address: string;
  port?: number;
};

/** One sd_notify datagram; `pid` is the sender's (Linux SCM_CREDENTIALS), -1 when unknown. */
export type RawDatagram = {message: string; pid: number; truncated: boolean};

/** The addon's surface. Arguments are validated by the callers in src/; native keeps only guards. */
export type NativeBinding = {
  inetDump(port: number, protocols: number, tcpStates: number): RawInetSocket[];
  unixDump(path: string): {exists: boolean; isSocket: boolean; sockets: RawUnixSocket[]};
  findOwners(
    inodes: number[],
    candidates: number[],
    uids: number[],
    stopWhenResolved: boolean,
  ): RawOwnerScan;
  findOwnersAsync(
    inodes: number[],
    candidates: number[],
    uids: number[],
    stopWhenResolved: boolean,
  ): Promise<RawOwnerScan>;
  processInfo(pid: number): RawProcessInfo | undefined;
  bootId(): string;
  /**
  Blocks until one of the processes is gone (exited, or its pid now has another start
  time; `startTimes[i]` -1 = any), or `timeoutMs` passes. Returns the indices of the gone
  ones (`[]` on timeout). Throws `ENOSYS` where pidfds are unavailable.
  */
  waitExit(pids: number[], startTimes: number[], timeoutMs: number): number[];
  /** `waitExit` on the threadpool; `cancel()` ends the wait early (the promise resolves `[]`). */
  waitExitAsync(
    pids: number[],
    startTimes: number[],
    timeoutMs: number,
  ): {promise: Promise<number[]>; cancel: () => void};
  /**
  Signals `pid` only while it is the process started at `startTime` (-1: no check);
  pidfd-pinned unless `usePidfd` is false. Throws errno errors such as `EPERM`.
  */
  signalProcess(
    pid: number,
    startTime: number,
    signo: number,
    usePidfd: boolean,
  ): 'sent' | 'gone' | 'mismatch';
  /** One datagram to a unix socket path (`@name` = Linux abstract namespace); throws errno errors. */
  notify(socketPath: string, message: string): void;
  /**
  Claims a PID file (open O_EXCL/existing, flock, dev/ino re-check, judge the unlocked
  contents, ftruncate + one pwrite). `data` is '' or one line of JSON. `force` takes over an
  unlocked file naming a live process or no pid. Throws errno errors (`syscall` names the
  failing call; `EAGAIN` = locked but still empty; `EBADMSG` = unlocked, not empty, no pid).
  */
  pidfileClaim(path: string, data: string, force?: boolean): RawPidFileClaim;
  /** Rewrites the record of a held file to name `pid` (a child that inherited `fd`). */
  pidfileHandOver(
    fd: number,
    pid: number,
    data: string,
  ): {pid: number; startTime: number; bootId: string};
  /** Unlinks the file while still locked (if the path still names it), then closes `fd`. */
  pidfileRelease(fd: number): void;
  /** Reads a PID file without taking it; `undefined` when there is no file. */
  pidfileRead(path: string): {locked: boolean; record: RawPidFileRecord} | undefined;
  // serve and listenTarget (native/posix/listen.h). Errors are errno errors with `syscall`.
  /** Describes a descriptor; throws `EBADF` (not open) or `ENOTSOCK` (a pipe, a file). */
  socketInfo(fd: number): RawSocketInfo;
  setCloexec(fd: number, on: boolean): void;
  /** A new bound, listening TCP socket (SO_REUSEADDR, close-on-exec); its fd. */
  listenTcp(host: string, port: number, backlog: number): number;
  /** Closes a descriptor returned by `listenTcp` (`EBADF` for any other). */
  closeListener(fd: number): void;
  /** A unix datagram receiver (`@name` = abstract) that learns each sender's pid (Linux). */
  notifySocketOpen(path: string): number;
  /** Resolves with the queued datagrams once readable (`[]` on timeout or `cancel()`). */
  notifySocketReceive(
    fd: number,
    timeoutMs: number,
  ): {promise: Promise<RawDatagram[]>; cancel: () => void};
  /** Ends a pending receive and closes the socket once nothing uses it. */
  notifySocketClose(fd: number): void;
  /** macOS `launch_activate_socket(name)`: the fds of a launchd `Sockets` entry. */
  launchdSockets(name: string): number[];
  /**
  The byte parsers, for the unit tests: only in the test suite's build of the addon
  (binding.gyp portwarden_testing=1, scripts/build-testing.mjs), never in a release.
  */
  testing?: {
    parsePidFile(buf: Uint8Array): RawPidFileRecord;
    parseInetDiag(
      buf: Uint8Array,
      seq: number,
      port: number,
    ): {status: number; sockets: RawInetSocket[]};
    parseUnixDiag(buf: Uint8Array, seq: number): {status: number; sockets: RawUnixSocket[]};
    /** 1: the buffer holds the end of dump `seq`; 0: not yet; -74 (EBADMSG): malformed. */
    parseDumpEnd(buf: Uint8Array, seq: number): number;
    parseProcStat(
      buf: Uint8Array,
    ): {comm: string; state: string; ppid: number; startTime: number} | undefined;
    /**
    A darwin `struct socket_fdinfo`, parsed as an inet and as a unix socket
    (1: parsed, 0: another kind of socket, -74 EBADMSG: malformed).
    */
    parseSocketFdinfo(buf: Uint8Array): {
      inet: number;
      unix: number;
      socket?: RawInetSocket;
      unixSocket?: RawUnixSocket;
    };
    /** A darwin `net.inet.{tcp,udp}.pcblist_n` buffer (0, -11 EAGAIN: retry, -74 EBADMSG). */
    walkPcblistN(
      buf: Uint8Array,
      protocol: number,
      port: number,
    ): {status: number; sockets: RawInetSocket[]; lastPids: number[]};
    /** The socket fds of a darwin PROC_PIDLISTFDS answer. */
    parseFdList(buf: Uint8Array): {status: number; fds: number[]};
    /** The command line of a darwin KERN_PROCARGS2 buffer. */
    parseProcargs2(buf: Uint8Array): {status: number; command: string};
  };
};

/**
Package root: the nearest directory above this file that holds package.json (src/ and dist/
sit one level below it, the bundle of dist/bundle/ two).
*/
export const packageRoot = (() => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const {existsSync} = builtin.fs();
  for (let dir = path.dirname(here); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) || dir === path.dirname(dir)) {
      return dir;
    }
  }
})();

let state: {binding: NativeBinding | undefined; error: Error | undefined} | undefined;

function load(): NonNullable<typeof state> {
  if (process.env.PORTWARDEN_DISABLE_NATIVE === '1') {
    return {binding: undefined, error: new Error('disabled by PORTWARDEN_DISABLE_NATIVE=1')};
  }

  try {
    const require = createRequire(import.meta.url);
    // A specific build of the addon, such as the sanitizer build of `npm run test:asan`.
    const addonPath = process.env.PORTWARDEN_ADDON_PATH;
    if (addonPath) {
      return {binding: require(path.resolve(addonPath)) as NativeBinding, error: undefined};
    }

    const file = shippedAddonPath(packageRoot);
    if (file !== undefined) {
      const module = {exports: {}};
      process.dlopen(module, file); // what require() does with a .node file
      return {binding: module.exports as NativeBinding, error: undefined};
    }

    const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeBinding;
    return {binding: nodeGypBuild(packageRoot), error: undefined};
  } catch (error) {
    return {binding: undefined, error: error as Error};
  }
}

/** What to do when the addon did not load (the install script prints the same advice). */
export const ADDON_HINT =
  'install a C++ toolchain (g++, make, python3) and run `npm rebuild portwarden`, or use a platform with a prebuild';

/** A load error in one line: node-gyp-build ends its message with "loaded from:" on another. */
function oneLine(error: Error): string {
  return error.message.split('\nRequire stack:')[0]!.replace(/\s+/g, ' ').trim();
}

/** The addon, or undefined when no binary for this platform could be loaded (warns once). */
export function nativeBinding(): NativeBinding | undefined {
  if (state === undefined) {
    state = load();
    if (state.error && process.env.PORTWARDEN_DISABLE_NATIVE !== '1') {
      process.emitWarning(
        `portwarden: the native addon could not be loaded (${oneLine(state.error)}); probes use lsof. To get it, ${ADDON_HINT}.`,
        {code: 'PORTWARDEN_NO_NATIVE'},
      );
    }
  }

  return state.binding;
}

/**
Why the addon is not available, in one line with what to do about it (after "the native
addon"), or undefined when it is loaded.
*/
export function nativeUnavailable(): string | undefined {
  nativeBinding();
  const error = state?.error;
  if (error === undefined) {
    return undefined;
  }

  if (process.env.PORTWARDEN_DISABLE_NATIVE === '1') {
    return `is ${error.message}`;
  }

  return `could not be loaded: ${oneLine(error)}. To get it, ${ADDON_HINT}.`;
}

/**
The addon, or a permanent ProbeUnavailableError naming what needed it, why the addon did not
load and how to get it.
*/
export function requireNative(what: string): NativeBinding {
  const b = nativeBinding();
  if (b === undefined) {
    throw new ProbeUnavailableError(
      `${what} needs the native addon, which ${nativeUnavailable() ?? 'is not loaded'}`,
      {
        code: 'ENOTSUP',
        permanent: true,
        backend: 'native',
      },
    );
  }

  return b;
}
