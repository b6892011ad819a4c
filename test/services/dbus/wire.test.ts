// The D-Bus wire format: what portwarden writes decodes as the specification says, a
// reply captured from a real systemd manager decodes, and malformed bytes are WireErrors.
import fc from 'fast-check';
import {describe, expect, test} from 'vitest';
import {
  completeTypes,
  decodeMessage,
  encodeCall,
  MESSAGE,
  messageLength,
  Reader,
  WireError,
} from '../../../src/services/dbus/wire.js';

/** A reply to Properties.Get (ActiveState) from systemd 252's user manager, serial 1. */
const CAPTURED_REPLY = Buffer.from(
  '6c0201010f0000000100000037000000050175000100000007017300180000006f72672e667265656465736b746f702e73797374656d643100000000000000000801670001760000017300000600000061637469766500',
  'hex',
);

describe('encodeCall', () => {
  test('a call decodes to the same fields and arguments, 8-aligned, little-endian', () => {
    const call = {
      serial: 7,
      destination: 'org.freedesktop.systemd1',
      path: '/org/freedesktop/systemd1',
      interface: 'org.freedesktop.systemd1.Manager',
      member: 'RestartUnit',
      signature: 'ss',
      body: ['web.service', 'replace'],
    };
    const bytes = encodeCall(call);
    expect(bytes[0]).toBe(0x6c); // 'l'
    expect(messageLength(bytes)).toBe(bytes.length);
    expect(decodeMessage(bytes)).toEqual({type: MESSAGE.call, flags: 0, ...call});
    // The body starts 8-aligned after the header fields, then u32 length + bytes + nul.
    const bodyLength = bytes.readUInt32LE(4);
    const bodyStart = bytes.length - bodyLength;
    expect(bodyStart % 8).toBe(0);
    expect(bytes.readUInt32LE(bodyStart)).toBe('web.service'.length);
  });

  test('a call without arguments has no signature field and an empty body', () => {
    const bytes = encodeCall({serial: 1, path: '/', interface: 'a.b', member: 'C'});
    expect(bytes.readUInt32LE(4)).toBe(0);
    expect(decodeMessage(bytes)).toMatchObject({signature: '', body: [], member: 'C'});
  });

  test('multi-byte UTF-8 arguments are counted in bytes', () => {
    const bytes = encodeCall({
      serial: 2,
      path: '/x',
      interface: 'a.b',
      member: 'C',
      signature: 's',
      body: ['ünït–名'],
    });
    expect(decodeMessage(bytes).body).toEqual(['ünït–名']);
  });

  test('any string arguments round-trip (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({unit: 'grapheme'}).filter((s) => !s.includes('\0')),
          {maxLength: 5},
        ),
        fc.integer({min: 1, max: 0xff_ff_ff_ff}),
        (args, serial) => {
          const bytes = encodeCall({
            serial,
            path: '/p',
            interface: 'i.j',
            member: 'M',
            signature: 's'.repeat(args.length),
            body: args,
          });
          const m = decodeMessage(bytes);
          expect(m.body).toEqual(args);
          expect(m.serial).toBe(serial);
        },
      ),
    );
  });

  test('a nul in a string, or a signature that is not all strings, is refused', () => {
    const base = {serial: 1, path: '/', interface: 'a.b', member: 'C'};
    expect(() => encodeCall({...base, signature: 's', body: ['a\0b']})).toThrow(WireError);
    expect(() => encodeCall({...base, signature: 'u', body: ['1']})).toThrow(
      /Cannot encode a call with signature "u"/,
    );
    expect(() => encodeCall({...base, signature: 'ss', body: ['1']})).toThrow(WireError);
  });
});

describe('decodeMessage', () => {
  test("a reply from systemd's manager", () => {
    expect(messageLength(CAPTURED_REPLY)).toBe(CAPTURED_REPLY.length);
    expect(decodeMessage(CAPTURED_REPLY)).toEqual({
      type: MESSAGE.reply,
      flags: 1,
      serial: 1,
      replySerial: 1,
      sender: 'org.freedesktop.systemd1',
      signature: 'v',
      body: [{signature: 's', value: 'active'}],
    });
  });

  test('a big-endian message', () => {
    // Error reply, serial 3, reply serial 9, error name, signature "s", body "no".
    const header = Buffer.from([0x42, 3, 0, 1, 0, 0, 0, 7, 0, 0, 0, 3]);
    const fields = Buffer.concat([
      Buffer.from([5, 1, 0x75, 0, 0, 0, 0, 9]), // reply serial: u 9
      Buffer.from([4, 1, 0x73, 0, 0, 0, 0, 3]), // error name: s "e.X"
      Buffer.from('e.X\0\0\0\0\0', 'latin1'), // and padding to the next 8-aligned field
      Buffer.from([8, 1, 0x67, 0, 1, 0x73, 0]), // signature: g "s"
    ]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(fields.length);
    const head = Buffer.concat([header, length, fields]);
    const padded = Buffer.concat([head, Buffer.alloc((8 - (head.length % 8)) % 8)]);
    const body = Buffer.from([0, 0, 0, 2, 0x6e, 0x6f, 0]);
    const m = decodeMessage(Buffer.concat([padded, body]));
    expect(m).toMatchObject({
      type: MESSAGE.error,
      serial: 3,
      replySerial: 9,
      errorName: 'e.X',
      signature: 's',
      body: ['no'],
    });
  });

  test('every type systemd uses reads back: arrays, dicts, structs, variants, 64-bit', () => {
    // a{sv} holding t, as, (ii) and b, written by hand as the specification lays them out.
    const w: number[] = [];
    const pad = (n: number) => {
      while (w.length % n) w.push(0);
    };

    const u32 = (v: number) => {
      pad(4);
      w.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24);
    };

    const str = (s: string) => {
      u32(s.length);
      w.push(...Buffer.from(s), 0);
    };

    const sig = (s: string) => w.push(s.length, ...Buffer.from(s), 0);
    /** An array: its u32 length, padding to the element's alignment, then the elements. */
    const array = (align: number, elements: () => void) => {
      u32(0);
      const at = w.length - 4;
      pad(align);
      const start = w.length;
      elements();
      const length = w.length - start;
      w.splice(at, 4, length & 255, (length >>> 8) & 255, 0, 0);
    };

    const entry = (key: string, signature: string, value: () => void) => {
      pad(8);
      str(key);
      sig(signature);
      value();
    };

    array(8, () => {
      entry('T', 't', () => {
        pad(8);
        w.push(1, 0, 0, 0, 0, 0, 0, 0x80); // 2^63 + 1
      });
      entry('As', 'as', () =>
        array(4, () => {
          str('a');
          str('b');
        }),
      );
      entry('S', '(ii)', () => {
        pad(8);
        u32(0xff_ff_ff_ff);
        u32(5);
      });
      entry('B', 'b', () => u32(1));
    });
    const [dict] = new Reader(Buffer.from(w), true, 0).read('a{sv}');
    expect(dict).toEqual(
      new Map<string, unknown>([
        ['T', {signature: 't', value: 2n ** 63n + 1n}],
        ['As', {signature: 'as', value: ['a', 'b']}],
        ['S', {signature: '(ii)', value: [-1, 5]}],
        ['B', {signature: 'b', value: true}],
      ]),
    );
  });

  test('malformed messages are WireErrors that say what is wrong', () => {
    const bad = (bytes: Buffer, message: RegExp) => {
      expect(() => decodeMessage(bytes)).toThrow(WireError);
      expect(() => decodeMessage(bytes)).toThrow(message);
    };

    bad(Buffer.from('X'.repeat(16)), /Bad endianness byte 0x58/);
    const version = Buffer.from(CAPTURED_REPLY);
    version[3] = 2;
    bad(version, /Unsupported protocol version 2/);
    bad(CAPTURED_REPLY.subarray(0, CAPTURED_REPLY.length - 1), /does not fill|truncated/);
    const unterminated = Buffer.from(CAPTURED_REPLY);
    unterminated[unterminated.length - 1] = 0x41;
    bad(unterminated, /not nul-terminated/);
    const wrongField = Buffer.from(CAPTURED_REPLY);
    wrongField[18] = 0x73; // reply serial declared as a string
    bad(wrongField, /WireError|Header field 5|truncated|nul-terminated/);
    expect(() => new Reader(Buffer.from([2, 0, 0, 0]), true, 0).read('b')).toThrow(
      /Boolean 2 is neither 0 nor 1/,
    );
    expect(() =>
      new Reader(Buffer.from([8, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0]), true, 0).read('au'),
    ).toThrow(/truncated/);
    expect(() =>
      new Reader(Buffer.from([5, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]), true, 0).read('au'),
    ).toThrow(/overran/);
    expect(() => messageLength(Buffer.from('l\x02\x01\x01\xff\xff\xff\xff00000000'))).toThrow(
      /exceeds the limit/,
    );
  });

  test('signatures: complete types, and bad ones refused', () => {
    expect(completeTypes('sa{sv}(iu)as')).toEqual(['s', 'a{sv}', '(iu)', 'as']);
    expect(() => completeTypes('(s')).toThrow(/Unbalanced/);
    expect(() => completeTypes('()')).toThrow(/Empty struct/);
    expect(() => completeTypes('z')).toThrow(/Bad type "z"/);
    expect(() => completeTypes('a')).toThrow(/Bad type ""/);
  });

  test('random bytes never crash the reader: a message or a WireError (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({minLength: 0, maxLength: 300}), (raw) => {
        const bytes = Buffer.from(raw);
        if (bytes.length > 0) {
          bytes[0] = 0x6c;
        }

        try {
          const length = messageLength(bytes);
          if (length !== undefined && length === bytes.length) {
            decodeMessage(bytes);
          }
        } catch (error) {
          expect(error).toBeInstanceOf(WireError);
        }
      }),
      {numRuns: 2000},
    );
  });

  test('mutations of a real reply: a message or a WireError (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({min: 0, max: CAPTURED_REPLY.length - 1}),
        fc.integer({min: 0, max: 255}),
        (at, byte) => {
          const bytes = Buffer.from(CAPTURED_REPLY);
          bytes[at] = byte;
          try {
            const length = messageLength(bytes);
            decodeMessage(length === bytes.length ? bytes : bytes.subarray(0, length));
          } catch (error) {
            expect(error).toBeInstanceOf(WireError);
          }
        },
      ),
      {numRuns: 3000},
    );
  });
});
