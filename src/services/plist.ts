/*
Just enough of a property-list reader for launchd job files: XML plists (dict, array,
key, string, integer, real, true, false, date, data). Binary plists are converted with
`plutil` on macOS first.
*/
import {builtin} from '../builtin.js';
import {runTool} from './exec.js';
import type {Trail} from './trail.js';

const {readFileSync} = builtin.fs();

export type PlistValue = string | number | boolean | PlistValue[] | {[key: string]: PlistValue};

const ENTITIES: Record<string, string> = {lt: '<', gt: '>', amp: '&', quot: '"', apos: "'"};

function decode(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (match, name: string) => {
    if (name.startsWith('#')) {
      const code = /^#x/i.test(name) ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1));
      return Number.isFinite(code) ? String.fromCodePoint(code) : match;
    }

    return ENTITIES[name] ?? match;
  });
}

type Token = {tag: string; close: boolean; selfClose: boolean} | {text: string};

/** Parses an XML property list; throws an Error naming what is malformed. */
export function parsePlist(xml: string): PlistValue {
  const source = xml.replace(/<\?[\s\S]*?\?>|<!DOCTYPE[^>]*>|<!--[\s\S]*?-->/g, '');
  const tokens: Token[] = [];
  const re = /<(\/?)([A-Za-z]+)[^>]*?(\/?)>|([^<]+)/g;
  for (let m = re.exec(source); m !== null; m = re.exec(source)) {
    tokens.push(
      m[4] === undefined
        ? {tag: m[2]!, close: m[1] === '/', selfClose: m[3] === '/'}
        : {text: m[4]},
    );
  }

  let i = 0;
  const isBlank = (t: Token | undefined) => t !== undefined && 'text' in t && t.text.trim() === '';
  const skipBlank = () => {
    while (isBlank(tokens[i])) {
      i++;
    }
  };

  const closing = (tag: string) => {
    const t = tokens[i++];
    if (t === undefined || 'text' in t || !t.close || t.tag !== tag) {
      throw new Error(`expected </${tag}>`);
    }
  };

  const text = (tag: string): string => {
    let out = '';
    for (let t = tokens[i]; t !== undefined && 'text' in t; t = tokens[++i]) {
      out += t.text;
    }

    closing(tag);
    return decode(out);
  };

  const value = (): PlistValue => {
    skipBlank();
    const t = tokens[i++];
    if (t === undefined || 'text' in t || t.close) {
      throw new Error('expected a value element');
    }

    switch (t.tag) {
      case 'true':
      case 'false': {
        if (!t.selfClose) {
          skipBlank();
          closing(t.tag);
        }

        return t.tag === 'true';
      }

      case 'string':
      case 'date':
      case 'data':
        return t.selfClose ? '' : text(t.tag);
      case 'integer':
      case 'real': {
        const n = Number(text(t.tag).trim());
        if (!Number.isFinite(n)) {
          throw new TypeError(`bad <${t.tag}>`);
        }

        return n;
      }

      case 'array': {
        const out: PlistValue[] = [];
        if (t.selfClose) {
          return out;
        }

        for (;;) {
          skipBlank();
          const next = tokens[i];
          if (next !== undefined && !('text' in next) && next.close && next.tag === 'array') {
            i++;
            return out;
          }

          out.push(value());
        }
      }

      case 'dict': {
        const out: Record<string, PlistValue> = {};
        if (t.selfClose) {
          return out;
        }

        for (;;) {
          skipBlank();
          const k = tokens[i++];
          if (k !== undefined && !('text' in k) && k.close && k.tag === 'dict') {
            return out;
          }

          if (k === undefined || 'text' in k || k.tag !== 'key') {
            throw new Error('expected <key> in <dict>');
          }

          const key = text('key');
          out[key] = value();
        }
      }

      default:
        throw new Error(`unsupported element <${t.tag}>`);
    }
  };

  skipBlank();
  const root = tokens[i++];
  if (root === undefined || 'text' in root || root.tag !== 'plist') {
    throw new Error('missing <plist> root element');
  }

  const result = value();
  skipBlank();
  closing('plist');
  return result;
}

/** What portwarden needs from a launchd job file. */
export type JobFile = {
  readonly label: string | undefined;
  readonly keepAlive: boolean;
  readonly runAtLoad: boolean;
  /** Seconds launchd waits after SIGTERM before SIGKILL (ExitTimeOut, default 20). */
  readonly exitTimeOut: number;
  /** The `Sockets` launchd creates and holds for the job (socket activation). */
  readonly sockets: readonly JobSocket[];
  /** sha256 of the file's bytes. */
  readonly sha256: string;
};

/** One socket of a job's `Sockets` dictionary (launchd.plist(5)). */
export type JobSocket = {
  /** The key in `Sockets`: the name the job asks `launch_activate_socket` for. */
  readonly name: string;
  readonly protocol: 'tcp' | 'udp' | 'unix';
  /** `SockServiceName` when it is a port number (a service name is not resolved). */
  readonly port?: number;
  /** `SockNodeName`: undefined means every address. */
  readonly host?: string;
  /** `SockPathName` of a unix socket. */
  readonly path?: string;
};

function jobSocket(name: string, entry: PlistValue): JobSocket | undefined {
  if (typeof entry !== 'object' || Array.isArray(entry)) {
    return undefined;
  }

  if (typeof entry.SockPathName === 'string') {
    return {name, protocol: 'unix', path: entry.SockPathName};
  }

  // SockType stream (the default) is TCP, dgram UDP; SockProtocol can say so too.
  const dgram = entry.SockType === 'dgram' || entry.SockProtocol === 'UDP';
  const service = entry.SockServiceName;
  const port =
    typeof service === 'number' ? service : /^\d+$/.test(String(service)) ? Number(service) : NaN;
  return {
    name,
    protocol: dgram ? 'udp' : 'tcp',
    ...(Number.isInteger(port) && port >= 1 && port <= 65_535 ? {port} : {}),
    ...(typeof entry.SockNodeName === 'string' ? {host: entry.SockNodeName} : {}),
  };
}

/** Every socket of `Sockets`: each value is one socket dictionary or an array of them. */
export function jobSockets(sockets: PlistValue | undefined): JobSocket[] {
  if (typeof sockets !== 'object' || Array.isArray(sockets)) {
    return [];
  }

  return Object.entries(sockets).flatMap(([name, value]) =>
    (Array.isArray(value) ? value : [value]).flatMap((entry) => jobSocket(name, entry) ?? []),
  );
}

export function sha256(data: Buffer | string): string {
  return builtin.crypto().createHash('sha256').update(data).digest('hex');
}

/** Reads and parses a job's plist; throws an Error naming the problem. */
export async function readJobFile(trail: Trail, file: string): Promise<JobFile> {
  const bytes = readFileSync(file);
  let xml = bytes.toString('utf8');
  if (bytes.subarray(0, 6).toString('latin1') === 'bplist') {
    const r = await runTool(trail, 'plutil', ['-convert', 'xml1', '-o', '-', file], {
      timeout: 10_000,
    });
    if (r.exitCode !== 0) {
      throw new Error(`${file} is a binary plist and plutil could not convert it: ${r.stderr}`);
    }

    xml = r.stdout;
  }

  let root: PlistValue;
  try {
    root = parsePlist(xml);
  } catch (error) {
    throw new Error(`${file} is not a valid XML property list: ${(error as Error).message}`);
  }

  if (typeof root !== 'object' || Array.isArray(root)) {
    throw new TypeError(`${file}: the property list's root is not a <dict>`);
  }

  const keepAlive = root.KeepAlive;
  return {
    label: typeof root.Label === 'string' ? root.Label : undefined,
    // A KeepAlive dictionary (SuccessfulExit, Crashed, ...) can respawn the job too.
    keepAlive: keepAlive === true || (typeof keepAlive === 'object' && !Array.isArray(keepAlive)),
    runAtLoad: root.RunAtLoad === true,
    exitTimeOut: typeof root.ExitTimeOut === 'number' ? root.ExitTimeOut : 20,
    sockets: jobSockets(root.Sockets),
    sha256: sha256(bytes),
  };
}
