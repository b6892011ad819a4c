/*
The D-Bus wire format (the specification's "Message Protocol"): values marshalled by type
signature, and whole messages framed. Every type is read (systemd's property values use
most of them); written are method calls with string arguments, all portwarden sends. Malformed input is a WireError, never a crash or a wrong value.
*/

/** A variant: its signature and its value. */
export type Variant = {readonly signature: string; readonly value: BusValue};

/**
y n q i u h d: number; x t: bigint; b: boolean; s o g: string; a{..}: Map; other
arrays and structs: arrays; v: Variant.
*/
export type BusValue =
  | number
  | bigint
  | boolean
  | string
  | readonly BusValue[]
  | ReadonlyMap<BusValue, BusValue>
  | Variant;

export class WireError extends Error {}
setName(WireError, 'WireError');

function setName(ErrorClass: {prototype: Error}, name: string) {
  Object.defineProperty(ErrorClass.prototype, 'name', {value: name, configurable: true});
}

const ALIGN: Record<string, number> = {
  y: 1,
  b: 4,
  n: 2,
  q: 2,
  i: 4,
  u: 4,
  x: 8,
  t: 8,
  d: 8,
  s: 4,
  o: 4,
  g: 1,
  h: 4,
  v: 1,
  a: 4,
  '(': 8,
  '{': 8,
};

/** The specification's limits: 64 MiB per array, 128 MiB per message, 32 + 32 nesting. */
const MAX_ARRAY = 64 * 1024 * 1024;
export const MAX_MESSAGE = 128 * 1024 * 1024;
const MAX_DEPTH = 64;

/** Index just past the one complete type that starts at `i` of `sig`. */
export function typeEnd(sig: string, i: number): number {
  const c = sig[i];
  if (c === 'a') {
    return typeEnd(sig, i + 1);
  }

  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}';
    let j = i + 1;
    while (sig[j] !== close) {
      if (j >= sig.length) {
        throw new WireError(`Unbalanced signature "${sig}"`);
      }

      j = typeEnd(sig, j);
    }

    if (j === i + 1) {
      throw new WireError(`Empty struct in signature "${sig}"`);
    }

    return j + 1;
  }

  if (c === undefined || !(c in ALIGN)) {
    throw new WireError(`Bad type "${c ?? ''}" in signature "${sig}"`);
  }

  return i + 1;
}

/** Splits a signature into its complete types: "sa{sv}u" → ["s", "a{sv}", "u"]. */
export function completeTypes(sig: string): string[] {
  const types: string[] = [];
  for (let i = 0; i < sig.length;) {
    const end = typeEnd(sig, i);
    types.push(sig.slice(i, end));
    i = end;
  }

  return types;
}

/** Reads values from a message; offsets (and so alignment) count from the message's start. */
export class Reader {
  constructor(
    private readonly buf: Buffer,
    private readonly little: boolean,
    public pos: number,
    private readonly end = buf.length,
  ) {}

  read(sig: string): BusValue[] {
    return completeTypes(sig).map((type) => this.value(type, 0));
  }

  private need(n: number): void {
    if (this.pos + n > this.end) {
      throw new WireError(`Message truncated: ${n} byte(s) needed at offset ${this.pos}`);
    }
  }

  private align(n: number): void {
    const to = (this.pos + n - 1) & ~(n - 1);
    this.need(to - this.pos);
    this.pos = to;
  }

  private u32(): number {
    this.align(4);
    this.need(4);
    const v = this.little ? this.buf.readUInt32LE(this.pos) : this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  private text(length: number): string {
    this.need(length + 1);
    if (this.buf[this.pos + length] !== 0) {
      throw new WireError(`String at offset ${this.pos} is not nul-terminated`);
    }

    const s = this.buf.toString('utf8', this.pos, this.pos + length);
    this.pos += length + 1;
    return s;
  }

  private signature(): string {
    this.need(1);
    const length = this.buf[this.pos++]!;
    return this.text(length);
  }

  private value(type: string, depth: number): BusValue {
    if (depth > MAX_DEPTH) {
      throw new WireError('Values nested too deeply');
    }

    const c = type[0]!;
    const {buf, little} = this;
    switch (c) {
      case 'y': {
        this.need(1);
        return buf[this.pos++]!;
      }

      case 'b': {
        const v = this.u32();
        if (v > 1) {
          throw new WireError(`Boolean ${v} is neither 0 nor 1`);
        }

        return v === 1;
      }

      case 'n':
      case 'q': {
        this.align(2);
        this.need(2);
        const v =
          c === 'n'
            ? little
              ? buf.readInt16LE(this.pos)
              : buf.readInt16BE(this.pos)
            : little
              ? buf.readUInt16LE(this.pos)
              : buf.readUInt16BE(this.pos);
        this.pos += 2;
        return v;
      }

      case 'i': {
        this.align(4);
        this.need(4);
        const v = little ? buf.readInt32LE(this.pos) : buf.readInt32BE(this.pos);
        this.pos += 4;
        return v;
      }

      case 'u':
      case 'h': {
        return this.u32();
      }

      case 'x':
      case 't':
      case 'd': {
        this.align(8);
        this.need(8);
        const at = this.pos;
        this.pos += 8;
        if (c === 'd') {
          return little ? buf.readDoubleLE(at) : buf.readDoubleBE(at);
        }

        if (c === 'x') {
          return little ? buf.readBigInt64LE(at) : buf.readBigInt64BE(at);
        }

        return little ? buf.readBigUInt64LE(at) : buf.readBigUInt64BE(at);
      }

      case 's':
      case 'o': {
        return this.text(this.u32());
      }

      case 'g': {
        return this.signature();
      }

      case 'v': {
        const signature = this.signature();
        if (completeTypes(signature).length !== 1) {
          throw new WireError(`Variant signature "${signature}" is not one complete type`);
        }

        return {signature, value: this.value(signature, depth + 1)};
      }

      case 'a': {
        const length = this.u32();
        if (length > MAX_ARRAY) {
          throw new WireError(`Array of ${length} bytes exceeds the limit`);
        }

        const element = type.slice(1);
        this.align(ALIGN[element[0]!]!);
        const end = this.pos + length;
        this.need(length);
        if (element[0] === '{') {
          const [keyType, valueType] = completeTypes(element.slice(1, -1));
          const map = new Map<BusValue, BusValue>();
          while (this.pos < end) {
            this.align(8);
            const key = this.value(keyType!, depth + 1);
            map.set(key, this.value(valueType!, depth + 1));
          }

          this.expectEnd(end);
          return map;
        }

        const items: BusValue[] = [];
        while (this.pos < end) {
          items.push(this.value(element, depth + 1));
        }

        this.expectEnd(end);
        return items;
      }

      case '(': {
        this.align(8);
        return completeTypes(type.slice(1, -1)).map((t) => this.value(t, depth + 1));
      }

      default: {
        throw new WireError(`Cannot read type "${type}"`);
      }
    }
  }

  private expectEnd(end: number): void {
    if (this.pos !== end) {
      throw new WireError(`Array elements overran its length at offset ${end}`);
    }
  }
}

export const MESSAGE = {call: 1, reply: 2, error: 3, signal: 4} as const;

export type Message = {
  readonly type: number;
  readonly flags: number;
  readonly serial: number;
  readonly path?: string;
  readonly interface?: string;
  readonly member?: string;
  readonly errorName?: string;
  readonly replySerial?: number;
  readonly destination?: string;
  readonly sender?: string;
  readonly signature: string;
  readonly body: readonly BusValue[];
};

/** A method call whose arguments are all strings (signature of `s` and `o` only). */
export type CallMessage = {
  readonly serial: number;
  readonly path: string;
  readonly interface: string;
  readonly member: string;
  readonly destination?: string;
  readonly signature?: string;
  readonly body?: readonly string[];
};

const align = (n: number, to: number) => (n + to - 1) & ~(to - 1);

/**
Encodes a method call, little-endian, in one pass into one buffer: the calls portwarden
makes take only strings and object paths.
*/
export function encodeCall(m: CallMessage): Buffer {
  const signature = m.signature ?? '';
  const body = m.body ?? [];
  if (!/^[so]*$/.test(signature) || signature.length !== body.length) {
    throw new WireError(
      `Cannot encode a call with signature "${signature}" and ${body.length} argument(s)`,
    );
  }

  const fields: Array<[code: number, type: 'o' | 's' | 'g', value: string]> = [
    [1, 'o', m.path],
    [2, 's', m.interface],
    [3, 's', m.member],
  ];
  if (m.destination !== undefined) {
    fields.push([6, 's', m.destination]);
  }

  if (signature !== '') {
    fields.push([8, 'g', signature]);
  }

  for (const [, , value] of fields) {
    checkText(value);
  }

  for (const value of body) {
    checkText(value);
  }

  // Sizes first: header fields are 8-aligned structs (code, variant), strings carry a
  // u32 length and a nul, a signature a byte length and a nul.
  let fieldsEnd = 16;
  for (const [, type, value] of fields) {
    fieldsEnd = align(fieldsEnd, 8) + 4 + (type === 'g' ? 2 + value.length : 5 + byteLength(value));
  }

  const bodyStart = align(fieldsEnd, 8);
  let end = bodyStart;
  for (const value of body) {
    end = align(end, 4) + 5 + byteLength(value);
  }

  const buf = Buffer.alloc(end);
  buf.write('l\x01\x00\x01', 0, 'latin1');
  buf.writeUInt32LE(end - bodyStart, 4);
  buf.writeUInt32LE(m.serial, 8);
  buf.writeUInt32LE(fieldsEnd - 16, 12);
  let at = 16;
  const string = (value: string) => {
    at = align(at, 4);
    const length = buf.write(value, at + 4, 'utf8');
    buf.writeUInt32LE(length, at);
    at += 5 + length;
  };

  for (const [code, type, value] of fields) {
    at = align(at, 8);
    buf[at] = code;
    buf[at + 1] = 1;
    buf[at + 2] = type.charCodeAt(0);
    at += 4;
    if (type === 'g') {
      buf[at] = value.length;
      buf.write(value, at + 1, 'latin1');
      at += 2 + value.length;
    } else {
      string(value);
    }
  }

  at = bodyStart;
  for (const value of body) {
    string(value);
  }

  return buf;
}

const byteLength = (s: string) => Buffer.byteLength(s, 'utf8');

function checkText(s: string): void {
  if (s.includes('\0')) {
    throw new WireError('A D-Bus string cannot hold a nul character');
  }
}

/** The whole length of the message that starts `buf`, or undefined while fewer than 16 bytes are in. */
export function messageLength(buf: Buffer): number | undefined {
  if (buf.length < 16) {
    return undefined;
  }

  const little = endianOf(buf);
  const bodyLength = little ? buf.readUInt32LE(4) : buf.readUInt32BE(4);
  const fieldsLength = little ? buf.readUInt32LE(12) : buf.readUInt32BE(12);
  const length = ((16 + fieldsLength + 7) & ~7) + bodyLength;
  if (length > MAX_MESSAGE || fieldsLength > MAX_ARRAY) {
    throw new WireError(`Message of ${length} bytes exceeds the limit`);
  }

  return length;
}

function endianOf(buf: Buffer): boolean {
  if (buf[0] === 0x6c) {
    return true;
  }

  if (buf[0] === 0x42) {
    return false;
  }

  throw new WireError(`Bad endianness byte 0x${buf[0]!.toString(16)}`);
}

/** Header fields: code, name, type. */
const FIELDS = [
  [1, 'path', 'o'],
  [2, 'interface', 's'],
  [3, 'member', 's'],
  [4, 'errorName', 's'],
  [5, 'replySerial', 'u'],
  [6, 'destination', 's'],
  [7, 'sender', 's'],
  [8, 'signature', 'g'],
] as const;

/**
Decodes one whole message (exactly `messageLength(buf)` bytes). The body is decoded only
when `wanted(header)` says so (a signal nobody listens to is not worth its decoding:
systemd sends every direct connection every PropertiesChanged); `body` is then empty.
*/
export function decodeMessage(
  buf: Buffer,
  wanted: (header: Omit<Message, 'body'>) => boolean = () => true,
): Message {
  const little = endianOf(buf);
  if (buf[3] !== 1) {
    throw new WireError(`Unsupported protocol version ${buf[3]}`);
  }

  const header = new Reader(buf, little, 0);
  const [, type, flags, , bodyLength, serial, fields] = header.read('yyyyuua(yv)') as [
    number,
    number,
    number,
    number,
    number,
    number,
    Array<[number, Variant]>,
  ];
  const message: Record<string, unknown> = {type, flags, serial, signature: ''};
  for (const [code, variant] of fields) {
    const known = FIELDS.find(([c]) => c === code);
    if (known === undefined) {
      continue; // Unknown header fields are ignored, as the specification requires.
    }

    if (variant.signature !== known[2]) {
      throw new WireError(`Header field ${code} has type "${variant.signature}"`);
    }

    message[known[1]] = variant.value;
  }

  const start = (header.pos + 7) & ~7;
  if (start + bodyLength !== buf.length) {
    throw new WireError(`Body of ${bodyLength} bytes does not fill the message`);
  }

  if (!wanted(message as Omit<Message, 'body'>)) {
    message.body = [];
    return message as Message;
  }

  const body = new Reader(buf, little, start);
  message.body = body.read(message.signature as string);
  if (body.pos !== buf.length) {
    throw new WireError(`Body has ${buf.length - body.pos} byte(s) beyond its signature`);
  }

  return message as Message;
}
