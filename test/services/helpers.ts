// Helpers shared by the service tests (command, launchd, systemd).
import {existsSync, readFileSync} from 'node:fs';
import {expect} from 'vitest';
import {probePort, ServiceError} from '../../src/index.js';

/** The JSON lines the service-server fixture wrote to its `--events` file (none if missing). */
export function events(file: string): Array<{event: string; pid: number}> {
  if (!existsSync(file)) {
    return [];
  }

  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as {event: string; pid: number});
}

/** The ServiceError the promise rejects with; fails the test if it resolves or throws another. */
export async function rejection(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ServiceError);
    return error as ServiceError;
  }

  throw new Error('expected a ServiceError');
}

export const stepNames = (r: {steps: readonly {step: string}[]}) => r.steps.map((s) => s.step);

/** The pid that owns the LISTEN socket on the port, if a probe finds one. */
export async function listenerPid(port: number): Promise<number | undefined> {
  return (await listenerPids(port))[0];
}

/** Every process holding the port's listening socket(s). */
export async function listenerPids(port: number): Promise<number[]> {
  const report = await probePort(port, {states: 'listen'});
  return report.sockets.flatMap((e) =>
    e.state === 'LISTEN' && e.owner?.status === 'found' ? e.owner.processes.map((p) => p.pid) : [],
  );
}
