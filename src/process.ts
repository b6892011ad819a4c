import {nativeProcessInfo} from './backends/native.js';
import {requireNative} from './native.js';
import type {ProcessInfo} from './types.js';
import {assertPid} from './validate.js';

/**
Identity of a live process: `{pid, ppid, uid, name, command, startTime, bootId}`, or
`undefined` when no such process exists. Two infos name the same process only when
`pid`, `startTime` and `bootId` all match.
*/
export function processInfo(pid: number): ProcessInfo | undefined {
  assertPid(pid);
  return nativeProcessInfo(requireNative('processInfo'), pid);
}
