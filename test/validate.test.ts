import {describe, expect, it} from 'vitest';
import {checkPort, checkPortSync, probePort, probePortSync, processInfo} from '../src/index.js';

type Call = (...args: unknown[]) => unknown;

// The four port functions, each wrapped so that a synchronous throw and a rejection both
// surface as a rejected promise (the async ones must reject, never throw synchronously).
const portFunctions: Array<[name: string, call: Call, isAsync: boolean]> = [
  ['checkPort', checkPort as Call, true],
  ['checkPortSync', checkPortSync as Call, false],
  ['probePort', probePort as Call, true],
  ['probePortSync', probePortSync as Call, false],
];

/** Runs `call` and returns what it threw or rejected with (fails when it succeeded). */
async function thrown(call: () => unknown, isAsync: boolean): Promise<Error> {
  let result: unknown;
  try {
    result = call();
  } catch (error) {
    expect(isAsync, 'an async function threw synchronously instead of rejecting').toBe(false);
    return error as Error;
  }

  expect(isAsync, 'a sync function returned instead of throwing').toBe(true);
  expect(result).toBeInstanceOf(Promise);
  try {
    await result;
  } catch (error) {
    return error as Error;
  }

  throw new Error('expected a rejection, got a result');
}

const badPorts: Array<[value: unknown, type: typeof TypeError | typeof RangeError, shown: string]> =
  [
    [0, RangeError, '0'],
    [-1, RangeError, '-1'],
    [65_536, RangeError, '65536'],
    [1.5, RangeError, '1.5'],
    [Number.NaN, RangeError, 'NaN'],
    [Number.POSITIVE_INFINITY, RangeError, 'Infinity'],
    ['80', TypeError, "'80'"],
    [null, TypeError, 'null'],
    [undefined, TypeError, 'undefined'],
    [80n, TypeError, '80n'],
    [{valueOf: () => 80}, TypeError, '{ valueOf: [Function: valueOf] }'],
  ];

describe('port validation', () => {
  for (const [name, call, isAsync] of portFunctions) {
    for (const [value, ErrorType, shown] of badPorts) {
      it(`${name}(${shown}) throws ${ErrorType.name} naming port and value`, async () => {
        const error = await thrown(() => call(value), isAsync);
        expect(error).toBeInstanceOf(ErrorType);
        expect(error.message).toContain('Expected port to be an integer between 1 and 65535');
        expect(error.message).toContain(`got ${shown}`);
      });
    }
  }

  it('prints the exact message of the contract', () => {
    expect(() => checkPortSync(0)).toThrow(
      new RangeError('Expected port to be an integer between 1 and 65535, got 0'),
    );
  });

  it('accepts the extreme ports 1 and 65535', () => {
    for (const port of [1, 65_535]) {
      expect(['free', 'busy']).toContain(checkPortSync(port).status);
      expect(probePortSync(port, {owners: false}).port).toBe(port);
    }
  });
});

// [options, error type, text the message must contain (the option's name and the value)]
type BadOption = [
  options: unknown,
  type: typeof TypeError | typeof RangeError,
  ...mentions: string[],
];

const commonBadOptions: BadOption[] = [
  [{protocol: 'sctp'}, TypeError, 'protocol', "'sctp'"],
  [{protocol: 6}, TypeError, 'protocol', '6'],
  [{backend: 'x'}, TypeError, 'backend', "'x'"],
  [{backend: null}, TypeError, 'backend', 'null'],
  [{attemptTimeout: 0}, RangeError, 'attemptTimeout', '0'],
  [{attemptTimeout: -1}, RangeError, 'attemptTimeout', '-1'],
  [{attemptTimeout: Number.NaN}, RangeError, 'attemptTimeout', 'NaN'],
  [{attemptTimeout: Number.POSITIVE_INFINITY}, RangeError, 'attemptTimeout', 'Infinity'],
  [{attemptTimeout: '100'}, TypeError, 'attemptTimeout', "'100'"],
  [{bogus: 1}, TypeError, "'bogus'"],
  [{Protocol: 'tcp'}, TypeError, "'Protocol'"],
  [null, TypeError, 'options', 'null'],
  ['tcp', TypeError, 'options', "'tcp'"],
  [42, TypeError, 'options', '42'],
  [['tcp'], TypeError, 'options', "[ 'tcp' ]"],
  [new Map([['attemptTimeout', 0]]), TypeError, 'options', 'Map(1)'],
  [new Date(0), TypeError, 'options', '1970-01-01'],
];

const checkBadOptions: BadOption[] = [
  ...commonBadOptions,
  [{states: 'some'}, TypeError, 'states', "'some'"],
  [{states: true}, TypeError, 'states', 'true'],
  // The one spelling is `states`: the boolean of other packages is an unknown option.
  [{strict: true}, TypeError, "'strict'", 'states'],
  [{host: 'localhost'}, TypeError, 'host', "'localhost'"],
  [{host: '999.1.1.1'}, TypeError, 'host', "'999.1.1.1'"],
  [{host: ''}, TypeError, 'host', "''"],
  [{host: 127}, TypeError, 'host', '127'],
  [{host: '127.0.0.1:80'}, TypeError, 'host', "'127.0.0.1:80'"],
  [{candidates: [1]}, TypeError, "'candidates'"],
];

const probeBadOptions: BadOption[] = [
  ...commonBadOptions,
  [{candidates: [0]}, RangeError, 'candidates[0]', '0'],
  [{candidates: [1, -5]}, RangeError, 'candidates[1]', '-5'],
  [{candidates: [1.5]}, RangeError, 'candidates[0]', '1.5'],
  [{candidates: ['1']}, TypeError, 'candidates[0]', "'1'"],
  [{candidates: 1}, TypeError, 'candidates', '1'],
  [{states: 'some'}, TypeError, 'states', "'some'"],
  [{owners: 'yes'}, TypeError, 'owners', "'yes'"],
  [{host: '127.0.0.1'}, TypeError, "'host'"],
  [{strict: true}, TypeError, "'strict'"],
];

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;

describe('option validation', () => {
  for (const [name, call, isAsync] of portFunctions) {
    const table = name.startsWith('check') ? checkBadOptions : probeBadOptions;
    for (const [options, ErrorType, ...mentions] of table) {
      it(`${name}(8080, ${JSON.stringify(options) ?? String(options)}) throws ${ErrorType.name}`, async () => {
        const error = await thrown(() => call(8080, options), isAsync);
        expect(error).toBeInstanceOf(ErrorType);
        for (const text of mentions) {
          expect(error.message).toContain(text);
        }

        const plain = isPlainObject(options);
        if (plain) {
          expect(error.message).toContain(Object.keys(options)[0]);
        } else {
          expect(error.message).toContain(name);
        }
      });
    }
  }

  it('accepts undefined option values as defaults', async () => {
    expect(['free', 'busy']).toContain(
      checkPortSync(8080, {host: undefined, states: undefined, protocol: undefined}).status,
    );
    expect((await probePort(8080, {candidates: undefined, states: undefined})).port).toBe(8080);
  });
});

describe('processInfo validation', () => {
  const bad: Array<[unknown, typeof TypeError | typeof RangeError, string]> = [
    [0, RangeError, '0'],
    [-1, RangeError, '-1'],
    [1.5, RangeError, '1.5'],
    [Number.NaN, RangeError, 'NaN'],
    [2_147_483_648, RangeError, '2147483648'],
    ['1', TypeError, "'1'"],
    [null, TypeError, 'null'],
    [undefined, TypeError, 'undefined'],
  ];
  for (const [value, ErrorType, shown] of bad) {
    it(`processInfo(${shown}) throws ${ErrorType.name}`, () => {
      expect(() => processInfo(value as number)).toThrow(ErrorType);
      expect(() => processInfo(value as number)).toThrow(
        `Expected pid to be an integer between 1 and 2147483647, got ${shown}`,
      );
    });
  }

  it('describes this process and returns undefined for a pid that does not exist', () => {
    const me = processInfo(process.pid);
    expect(me).toMatchObject({pid: process.pid, ppid: process.ppid, uid: process.getuid!()});
    expect(me!.startTime).toBeGreaterThan(0);
    expect(me!.bootId).toMatch(/^[\da-f-]{36}$/);
    expect(processInfo(2_147_483_647)).toBeUndefined();
  });
});
