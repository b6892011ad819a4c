/*
The service record of `claimInstance`: where an instance listens, written by its owner beside
the PID file as one line of JSON, `{"portwarden":"service","pid":…,"startTime":…,…}`. Pure
functions: reading, writing and removing the file are instance.ts's.
*/

/** Where a service listens, recorded by its owner beside the PID file. */
export type ServiceRecord = {
  readonly pid: number;
  readonly startTime: number;
  readonly bootId: string | undefined;
  readonly port: number | undefined;
  readonly socketPath: string | undefined;
};

/** The tag that tells a service record from any other JSON file. */
const TAG = {portwarden: 'service'} as const;

/** `<pidFile>.service.json` */
export const servicePathOf = (pidFile: string): string => `${pidFile}.service.json`;

const isPort = (value: unknown): boolean =>
  Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65_535;

/**
Whether `value` has the fields of a service record: a pid (a positive integer), a start
time, an optional boot id, and a port (1–65535), a unix socket path, or both.
*/
export function isServiceRecord(value: unknown): value is ServiceRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return false;
  }

  const {pid, startTime, bootId, port, socketPath} = value as Record<string, unknown>;
  return (
    Number.isSafeInteger(pid) &&
    (pid as number) > 0 &&
    Number.isSafeInteger(startTime) &&
    (bootId === undefined || typeof bootId === 'string') &&
    (port === undefined || isPort(port)) &&
    (socketPath === undefined || typeof socketPath === 'string') &&
    (port !== undefined || socketPath !== undefined)
  );
}

/** The record's own fields, nothing else that an object carrying them may hold. */
export const recordFields = (r: ServiceRecord): ServiceRecord => ({
  pid: r.pid,
  startTime: r.startTime,
  bootId: r.bootId,
  port: r.port,
  socketPath: r.socketPath,
});

/** The record in a file's text; `undefined` when the text is not a tagged, valid record. */
export function parseServiceRecord(text: string): ServiceRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }

  return isServiceRecord(value) && (value as {portwarden?: unknown}).portwarden === TAG.portwarden
    ? recordFields(value)
    : undefined;
}

/** The file's text: one line of JSON, tagged. */
export function serialiseServiceRecord(record: ServiceRecord): string {
  return JSON.stringify({...TAG, ...recordFields(record)}) + '\n';
}
