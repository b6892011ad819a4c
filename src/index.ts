export {
  checkPort,
  checkPortSync,
  probePort,
  probePortSync,
  type CheckPortOptions,
  type ProbePortOptions,
} from './probe.js';
export {
  probeUnixSocket,
  probeUnixSocketSync,
  type UnixSocketEntry,
  type UnixSocketReport,
} from './unix-socket.js';
export {processInfo} from './process.js';
export {ProbeUnavailableError, PortBusyError} from './errors.js';
export type {
  BackendChoice,
  BackendName,
  Owner,
  PortReport,
  PortStatus,
  ProcessInfo,
  Protocol,
  SocketEntry,
  SocketState,
} from './types.js';
