export {
  checkPort,
  checkPortSync,
  probePort,
  probePortSync,
  type CheckPortOptions,
  type CheckPortSyncOptions,
  type ProbePortOptions,
  type ProbePortSyncOptions,
} from './probe.js';
export {
  probeUnixSocket,
  probeUnixSocketSync,
  type UnixSocketEntry,
  type UnixSocketReport,
} from './unix-socket.js';
export {processInfo} from './process.js';
export {
  pidsOnPort,
  pidsOnPortSync,
  type PidsOnPortOptions,
  type PidsOnPortSyncOptions,
} from './pids-on-port.js';
export {
  waitForExit,
  waitForExitSync,
  waitForListening,
  waitForPortFree,
  waitForPortFreeSync,
  type WaitForExitOptions,
  type WaitForExitSyncOptions,
  type WaitForListeningOptions,
  type WaitForPortFreeOptions,
  type WaitForPortFreeSyncOptions,
  type WaitFreeResult,
  type WaitProgress,
} from './wait.js';
export {
  terminate,
  terminateSync,
  type TerminateOptions,
  type TerminateResult,
  type TerminateSyncOptions,
  type TerminateTarget,
} from './terminate.js';
export {
  freePort,
  freePortSync,
  type FreePortFilter,
  type FreePortOptions,
  type FreePortSyncOptions,
} from './free-port.js';
export type {ProcessIdentity} from './process-control.js';
export {
  claimPidFile,
  readPidFile,
  type ClaimPidFileOptions,
  type PidFileHandle,
  type PidFileHolder,
  type PidFileInfo,
} from './pidfile.js';
export {
  clearStopping,
  isStopping,
  markStopping,
  readStopping,
  type MarkStoppingOptions,
  type StoppingInfo,
} from './stopping.js';
export {
  claimInstance,
  type ClaimInstanceOptions,
  type ClaimInstanceResult,
  type InstanceHandle,
  type InstanceHolder,
  type IsAlive,
  type IsAliveContext,
  type ServiceRecord,
} from './instance.js';
export {
  notifyReady,
  restartService,
  startService,
  stopService,
  type CommandServiceSpec,
  type LaunchdServiceSpec,
  type ServiceAction,
  type ServiceOptions,
  type ServiceResult,
  type ServiceSpec,
  type SystemdServiceSpec,
} from './services/index.js';
export {
  listenTarget,
  type InheritedDescriptor,
  type ListenTarget,
  type ListenTargetOptions,
} from './listen-target.js';
export {serve} from './serve/index.js';
export {exitStatusOf, type ServeExit} from './serve/exit.js';
export type {
  ServeChildExit,
  ServeOptions,
  ServeReady,
  ServeSupervisor,
} from './serve/supervisor.js';
export {
  requestReload,
  servePidFile,
  type RequestReloadOptions,
  type RequestReloadResult,
  type ServeState,
} from './serve/control.js';
export type {ServiceManager, ServiceStep} from './types.js';
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

// Every error class, in one place: each has a `code` and fields of its own (README: Errors).
export {
  AlreadyRunningError,
  NotListeningError,
  PidFileError,
  PortBusyError,
  ProbeUnavailableError,
  ServiceError,
  TerminateAggregateError,
  TerminateError,
  type ServiceErrorCode,
  type TerminateErrorCode,
} from './errors.js';
export {ListenTargetError, type ListenTargetErrorCode} from './listen-target.js';
export {ServeError, type ServeErrorCode} from './serve/errors.js';
