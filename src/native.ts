import {createRequire} from 'node:module';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

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

export type RawProcessInfo = {
  pid: number;
  ppid: number;
  uid: number;
  name: string;
  command: string;
  startTime: number;
  state: string;
};

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
  testing: {
    parseInetDiag(
      buf: Uint8Array,
      seq: number,
      port: number,
    ): {status: number; sockets: RawInetSocket[]};
    parseUnixDiag(buf: Uint8Array, seq: number): {status: number; sockets: RawUnixSocket[]};
    parseProcStat(
      buf: Uint8Array,
    ): {comm: string; state: string; ppid: number; startTime: number} | undefined;
  };
};

/** Package root: src/ and dist/ both sit one level below it. */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let state: {binding: NativeBinding | undefined; error: Error | undefined} | undefined;

function load(): NonNullable<typeof state> {
  if (process.env.PORTWARDEN_DISABLE_NATIVE === '1') {
    return {binding: undefined, error: new Error('disabled by PORTWARDEN_DISABLE_NATIVE=1')};
  }

  try {
    const require = createRequire(import.meta.url);
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeBinding;
    return {binding: nodeGypBuild(packageRoot), error: undefined};
  } catch (error) {
    return {binding: undefined, error: error as Error};
  }
}

/** The addon, or undefined when no binary for this platform could be loaded (warns once). */
export function nativeBinding(): NativeBinding | undefined {
  if (state === undefined) {
    state = load();
    if (state.error && process.env.PORTWARDEN_DISABLE_NATIVE !== '1') {
      process.emitWarning(
        `portwarden: the native addon could not be loaded (${state.error.message.split('\n')[0]}); probes use lsof`,
        {code: 'PORTWARDEN_NO_NATIVE'},
      );
    }
  }

  return state.binding;
}

/** Why the addon is not available, or undefined when it is. */
export function nativeLoadError(): Error | undefined {
  nativeBinding();
  return state?.error;
}
