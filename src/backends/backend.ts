import type {Steps} from '../steps.js';
import type {BackendName, Protocol, SocketEntry} from '../types.js';

/** `listen`: TCP LISTEN sockets only (the kernel skips the connection tables). `all`: every state. */
export type States = 'listen' | 'all';

export type ProbeRequest = {
  readonly port: number;
  readonly protocol: Protocol;
  readonly states: States;
  readonly owners: boolean;
  readonly candidates: readonly number[];
  /** Budget for one attempt of a backend that spawns a process (lsof). */
  readonly timeoutMs: number;
};

/**
A backend could not answer. `unavailable` means this backend cannot work here at all
(no sock_diag, addon not loaded), so `auto` moves on to the next one.
*/
export class BackendFailure extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly permanent: boolean,
    readonly unavailable = false,
  ) {
    super(message);
    this.name = 'BackendFailure';
  }
}

export type Backend = {
  readonly name: BackendName;
  /** The probe, written once for `runSync` and `runAsync` (see steps.ts). */
  probe(request: ProbeRequest): Steps<SocketEntry[]>;
};
