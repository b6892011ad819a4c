/*
systemd's manager API over its private socket, the way systemctl itself reaches it:
`$XDG_RUNTIME_DIR/systemd/private` for a user manager, `/run/systemd/private` for the
system manager when we are root (systemd's bus_connect_user_systemd and
bus_connect_system_systemd). A direct connection is sent every manager signal without
Subscribe() (systemd's bus_foreach_bus: "Send to all direct buses, unconditionally"), so
a job's end arrives as JobRemoved, which is what `systemctl restart` waits for too.
*/
import path from 'node:path';
import {BusConnection} from './connection.js';
import type {BusValue, Variant} from './wire.js';

const DESTINATION = 'org.freedesktop.systemd1';
const MANAGER_PATH = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';
const PROPERTIES = 'org.freedesktop.DBus.Properties';

const UNIT_TYPES = [
  'service',
  'socket',
  'target',
  'device',
  'mount',
  'automount',
  'swap',
  'timer',
  'path',
  'slice',
  'scope',
];

/** The manager's private socket for a scope, or undefined when there is none to try. */
export function privateSocket(scope: 'user' | 'system'): string | undefined {
  if (scope === 'system') {
    return process.getuid?.() === 0 ? '/run/systemd/private' : undefined;
  }

  const dir = process.env.XDG_RUNTIME_DIR;
  return dir !== undefined && path.isAbsolute(dir)
    ? path.join(dir, 'systemd', 'private')
    : undefined;
}

/**
The unit name systemctl would use: a name with a unit type suffix as it is, a plain name
with `.service` added. Undefined for names systemctl would escape or treat as paths
(those stay with systemctl, which knows its own rules).
*/
export function unitName(name: string): string | undefined {
  if (!/^[A-Za-z0-9:_.\\@-]+$/.test(name)) {
    return undefined;
  }

  const dot = name.lastIndexOf('.');
  const full = dot > 0 && UNIT_TYPES.includes(name.slice(dot + 1)) ? name : `${name}.service`;
  return full.length <= 255 ? full : undefined;
}

/** The unit's object path: systemd's bus_label_escape (bytes other than [A-Za-z0-9] as _xx). */
export function unitObjectPath(name: string): string {
  let label = '';
  for (const byte of Buffer.from(name, 'utf8')) {
    const c = String.fromCharCode(byte);
    label += /[A-Za-z0-9]/.test(c) ? c : `_${byte.toString(16).padStart(2, '0')}`;
  }

  return `${MANAGER_PATH}/unit/${label === '' ? '_' : label}`;
}

export type JobVerb = 'restart' | 'start' | 'stop';

const METHOD: Record<JobVerb, string> = {
  restart: 'RestartUnit',
  start: 'StartUnit',
  stop: 'StopUnit',
};

/** Job results `systemctl` reports as success (systemd's check_wait_response). */
export const JOB_SUCCESS = new Set(['done', 'skipped']);

/** How many ends of jobs nobody waits for yet are kept (a job may end before its call returns). */
const KEEP_REMOVED = 256;

type Waiter = {resolve: (result: string) => void; reject: (error: Error) => void};

export class SystemdBus {
  private readonly removed = new Map<string, string>();
  private readonly waiting = new Map<string, Waiter>();

  private constructor(private readonly conn: BusConnection) {
    conn.wantSignal = (m) =>
      m.interface === MANAGER && m.member === 'JobRemoved' && m.signature === 'uoss';
    conn.onSignal = (m) => {
      const [, job, , result] = m.body as [number, string, string, string];
      const waiter = this.waiting.get(job);
      if (waiter === undefined) {
        this.removed.set(job, result);
        if (this.removed.size > KEEP_REMOVED) {
          this.removed.delete(this.removed.keys().next().value!);
        }
      } else {
        this.waiting.delete(job);
        waiter.resolve(result);
      }
    };

    conn.onClose = (error) => {
      for (const waiter of this.waiting.values()) {
        waiter.reject(error);
      }

      this.waiting.clear();
    };
  }

  /** Connects; the first call says whether the manager is there (a BusUnreachableError if not). */
  static open(socketPath: string): SystemdBus {
    return new SystemdBus(new BusConnection(socketPath));
  }

  /**
	Properties of a unit, values unwrapped: `general` from org.freedesktop.systemd1.Unit,
	`typed` from its type's interface (Service for a .service). All calls go out at once;
	one Get each costs the manager far less than GetAll (which computes some 400 values).
	A property the unit's type lacks is left out, as `systemctl show -p` leaves it out.
	*/
  async properties(
    unit: string,
    general: readonly string[],
    typed: readonly string[],
  ): Promise<Map<string, BusValue>> {
    const objectPath = unitObjectPath(unit);
    const type = unit.slice(unit.lastIndexOf('.') + 1);
    const typeInterface = `org.freedesktop.systemd1.${type[0]!.toUpperCase()}${type.slice(1)}`;
    const get = async (iface: string, name: string) =>
      this.conn.call({
        destination: DESTINATION,
        path: objectPath,
        interface: PROPERTIES,
        member: 'Get',
        signature: 'ss',
        body: [iface, name],
      });
    // The first call loads the unit (LoadState=not-found when there is no such unit, as
    // systemctl show reports it); its errors are the answer's errors.
    const values = await Promise.all([
      ...general.map(async (name) => get('org.freedesktop.systemd1.Unit', name)),
      ...typed.map(async (name) => get(typeInterface, name).catch(() => undefined)),
    ]);
    const props = new Map<string, BusValue>();
    for (const [i, name] of [...general, ...typed].entries()) {
      const value = values[i]?.body[0] as Variant | undefined;
      if (value !== undefined && typeof value === 'object' && 'signature' in value) {
        props.set(name, value.value);
      }
    }

    return props;
  }

  /** Queues the job (mode "replace", as systemctl) and resolves with its result once it ends. */
  async job(verb: JobVerb, unit: string): Promise<string> {
    const reply = await this.conn.call({
      destination: DESTINATION,
      path: MANAGER_PATH,
      interface: MANAGER,
      member: METHOD[verb],
      signature: 'ss',
      body: [unit, 'replace'],
    });
    const job = reply.body[0];
    if (typeof job !== 'string') {
      throw new Error(`${METHOD[verb]} answered without a job (signature "${reply.signature}")`);
    }

    const ended = this.removed.get(job);
    if (ended !== undefined) {
      this.removed.delete(job);
      return ended;
    }

    if (this.conn.closed !== undefined) {
      throw this.conn.closed;
    }

    const release = this.conn.hold();
    try {
      return await new Promise<string>((resolve, reject) => {
        this.waiting.set(job, {resolve, reject});
      });
    } finally {
      this.waiting.delete(job);
      release();
    }
  }

  async resetFailed(unit: string): Promise<void> {
    await this.conn.call({
      destination: DESTINATION,
      path: MANAGER_PATH,
      interface: MANAGER,
      member: 'ResetFailedUnit',
      signature: 's',
      body: [unit],
    });
  }

  close(): void {
    this.conn.close();
  }
}
