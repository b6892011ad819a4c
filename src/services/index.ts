// The managers load when a service call runs: importing the package does not pay for them.
import {resolveServiceOptions, resolveSpec} from './spec.js';
import type {ServiceAction, ServiceOptions, ServiceResult, ServiceSpec} from './types.js';

async function run(
  action: ServiceAction,
  caller: string,
  spec: ServiceSpec,
  options: ServiceOptions | undefined,
): Promise<ServiceResult> {
  const s = resolveSpec(spec, caller, action);
  const o = resolveServiceOptions(options, caller);
  switch (s.manager) {
    case 'systemd':
      return (await import('./systemd.js')).systemdService(action, s, o);
    case 'launchd':
      return (await import('./launchd.js')).launchdService(action, s, o);
    case 'command':
      return (await import('./command.js')).commandService(action, s, o);
  }
}

/**
Restarts a service and resolves once the new process is proven to listen on `spec.port`
(or, without a port, once the supervisor reports it running). Rejects with a
`ServiceError` whose `code` says what went wrong and whose `steps` show what was done.
*/
export async function restartService(
  spec: ServiceSpec,
  options?: ServiceOptions,
): Promise<ServiceResult> {
  return run('restart', 'restartService', spec, options);
}

/** Stops a service and resolves once `spec.port` is proven free. */
export async function stopService(
  spec: ServiceSpec,
  options?: ServiceOptions,
): Promise<ServiceResult> {
  return run('stop', 'stopService', spec, options);
}

/** Starts a service and resolves once it is proven to listen on `spec.port`. */
export async function startService(
  spec: ServiceSpec,
  options?: ServiceOptions,
): Promise<ServiceResult> {
  return run('start', 'startService', spec, options);
}

export {notifyReady} from './notify.js';
export type {
  CommandServiceSpec,
  LaunchdServiceSpec,
  ServiceAction,
  ServiceOptions,
  ServiceResult,
  ServiceSpec,
  SystemdServiceSpec,
} from './types.js';
