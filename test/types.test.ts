// The public API's types, checked by tsc (npm run lint) and by vitest's expectTypeOf: one
// vocabulary (signal = AbortSignal everywhere it can wait, killSignal = the POSIX signal,
// timeout = an overall budget), typed error codes, the shapes users destructure.
import {describe, expectTypeOf, it} from 'vitest';
import type * as pw from '../src/index.js';

type Abort = AbortSignal | undefined;

describe('public types', () => {
  it('signal is an AbortSignal in every call that can wait', () => {
    expectTypeOf<pw.WaitForPortFreeOptions['signal']>().toEqualTypeOf<Abort>();
    expectTypeOf<pw.WaitForListeningOptions['signal']>().toEqualTypeOf<Abort>();
    expectTypeOf<pw.WaitForExitOptions['signal']>().toEqualTypeOf<Abort>();
    expectTypeOf<pw.TerminateOptions['signal']>().toEqualTypeOf<Abort>();
    expectTypeOf<pw.FreePortOptions['signal']>().toEqualTypeOf<Abort>();
    expectTypeOf<pw.ServiceOptions['signal']>().toEqualTypeOf<Abort>();
    expectTypeOf<pw.PidsOnPortOptions['signal']>().toEqualTypeOf<Abort>();
    expectTypeOf<pw.CheckPortOptions['signal']>().toEqualTypeOf<Abort>();
    expectTypeOf<pw.ClaimInstanceOptions['signal']>().toEqualTypeOf<Abort>();
    // The sync twins cannot be aborted.
    expectTypeOf<pw.TerminateSyncOptions>().not.toHaveProperty('signal');
    expectTypeOf<pw.WaitForPortFreeSyncOptions>().not.toHaveProperty('signal');
  });

  it('killSignal is the POSIX signal, by name or number', () => {
    expectTypeOf<pw.TerminateOptions['killSignal']>().toEqualTypeOf<
      NodeJS.Signals | number | undefined
    >();
    expectTypeOf<pw.FreePortOptions['killSignal']>().toEqualTypeOf<
      NodeJS.Signals | number | undefined
    >();
    // What was sent is reported under the same name, as a POSIX name.
    expectTypeOf<pw.TerminateResult['killSignal']>().toEqualTypeOf<NodeJS.Signals | null>();
    expectTypeOf<pw.TerminateResult>().not.toHaveProperty('signal');
  });

  it("states says which sockets count: 'listen' or 'all', never a boolean", () => {
    type States = 'listen' | 'all' | undefined;
    expectTypeOf<pw.CheckPortOptions['states']>().toEqualTypeOf<States>();
    expectTypeOf<pw.CheckPortSyncOptions['states']>().toEqualTypeOf<States>();
    expectTypeOf<pw.ProbePortOptions['states']>().toEqualTypeOf<States>();
    expectTypeOf<pw.WaitForPortFreeOptions['states']>().toEqualTypeOf<States>();
    expectTypeOf<pw.PidsOnPortOptions['states']>().toEqualTypeOf<States>();
    expectTypeOf<pw.CheckPortOptions>().not.toHaveProperty('strict');
    expectTypeOf<pw.WaitForPortFreeOptions>().not.toHaveProperty('strict');
  });

  it('answers: three-state checks, pid lists, several ports', () => {
    expectTypeOf<ReturnType<typeof pw.checkPortSync>>().toEqualTypeOf<pw.PortStatus>();
    expectTypeOf<pw.PortStatus['status']>().toEqualTypeOf<'free' | 'busy' | 'unknown'>();
    expectTypeOf<ReturnType<typeof pw.pidsOnPort>>().toEqualTypeOf<Promise<number[]>>();
    expectTypeOf<Parameters<typeof pw.freePort>[0]>().toEqualTypeOf<number | readonly number[]>();
    expectTypeOf<ReturnType<typeof pw.freePort>>().toEqualTypeOf<Promise<pw.TerminateResult[]>>();
  });

  it('errors carry typed codes', () => {
    expectTypeOf<pw.ServiceError['code']>().toEqualTypeOf<pw.ServiceErrorCode>();
    expectTypeOf<pw.TerminateError['code']>().toEqualTypeOf<pw.TerminateErrorCode>();
    expectTypeOf<pw.TerminateAggregateError['errors']>().toEqualTypeOf<pw.TerminateError[]>();
    expectTypeOf<pw.TerminateAggregateError>().toMatchTypeOf<AggregateError>();
    expectTypeOf<pw.AlreadyRunningError['holder']['locked']>().toEqualTypeOf<boolean>();
  });

  it('service options: keepFailed, and a command spec needs only what its action runs', () => {
    expectTypeOf<pw.ServiceOptions['keepFailed']>().toEqualTypeOf<boolean | undefined>();
    expectTypeOf<{
      manager: 'command';
      stop: string[];
      port: number;
    }>().toMatchTypeOf<pw.CommandServiceSpec>();
  });
});
