import {nativeProcessInfo} from './backends/native.js';
import {ProbeUnavailableError} from './errors.js';
import {type NativeBinding, nativeBinding, nativeUnavailable} from './native.js';
import type {ProcessInfo} from './types.js';
import {assertPid} from './validate.js';

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

/**
Identity of a live process: `{pid, ppid, uid, name, command, startTime, bootId}`, or
`undefined` when no such process exists. Two infos name the same process only when
`pid`, `startTime` and `bootId` all match.
*/
export function processInfo(pid: number): ProcessInfo | undefined {
  assertPid(pid);
  return nativeProcessInfo(requireNative('processInfo'), pid);
}
