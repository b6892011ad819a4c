// Reads binding.gyp, the one list of sources, defines and flags, for the builds that do
// not go through node-gyp (scripts/prebuild-all.mjs, scripts/check-darwin.mjs). A .gyp
// file is a Python literal; this parses that literal and applies the parts of gyp's
// semantics binding.gyp uses: top-level `variables` with `name%` defaults, `conditions` on OS
// or on such a variable, list merging, `key!` exclusion lists and `<!(command)` expansion.
// Anything else fails loudly instead of being guessed. The cross builds pass no variables:
// they build releases, so portwarden_testing keeps its default 0.
import {execSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import path from 'node:path';

/** Parses a Python literal (dicts, lists, strings, numbers, True/False/None, # comments). */
export function parsePythonLiteral(text, file = '<input>') {
  let i = 0;
  const fail = (message) => {
    const line = text.slice(0, i).split('\n').length;
    throw new Error(`${file}:${line}: ${message}`);
  };

  const skip = () => {
    for (;;) {
      while (i < text.length && /\s/.test(text[i])) i++;
      if (text[i] !== '#') return;
      while (i < text.length && text[i] !== '\n') i++;
    }
  };

  const string = () => {
    const quote = text[i++];
    let out = '';
    while (text[i] !== quote) {
      if (i >= text.length || text[i] === '\n') fail('unterminated string');
      if (text[i] === '\\') {
        const c = text[i + 1];
        const escapes = {n: '\n', t: '\t', '\\': '\\', "'": "'", '"': '"'};
        if (!(c in escapes)) fail(`unsupported escape \\${c}`);
        out += escapes[c];
        i += 2;
      } else {
        out += text[i++];
      }
    }

    i++;
    return out;
  };

  const value = () => {
    skip();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      const out = c === '{' ? {} : [];
      i++;
      for (;;) {
        skip();
        if (text[i] === close) {
          i++;
          return out;
        }

        if (c === '{') {
          const key = value();
          if (typeof key !== 'string') fail('dict keys must be strings');
          skip();
          if (text[i++] !== ':') fail("expected ':'");
          out[key] = value();
        } else {
          out.push(value());
        }

        skip();
        if (text[i] === ',') i++;
        else if (text[i] !== close) fail(`expected ',' or '${close}'`);
      }
    }

    if (c === '"' || c === "'") {
      let out = string();
      // Adjacent literals concatenate, as in Python.
      for (skip(); text[i] === '"' || text[i] === "'"; skip()) out += string();
      return out;
    }

    const word = /^(-?\d+|True|False|None)/.exec(text.slice(i));
    if (!word) fail(`unexpected ${c === undefined ? 'end of input' : `'${c}'`}`);
    i += word[0].length;
    const constants = {True: true, False: false, None: null};
    return word[0] in constants ? constants[word[0]] : Number(word[0]);
  };

  const out = value();
  skip();
  if (i !== text.length) fail('trailing text after the literal');
  return out;
}

/**
gyp's `OS=='linux'` / `OS!="mac"` and `name==1` conditions (`name` a variable of
binding.gyp); nothing else is evaluated.
*/
function conditionHolds(condition, os, variables) {
  const match = /^\s*(\w+)\s*(==|!=)\s*(?:(['"])(\w+)\3|(-?\d+))\s*$/.exec(condition);
  const value = match ? (match[1] === 'OS' ? os : variables[match[1]]) : undefined;
  if (value === undefined) {
    throw new Error(`binding.gyp: unsupported condition ${JSON.stringify(condition)}`);
  }

  return (match[2] === '==') === (String(value) === (match[4] ?? match[5]));
}

/** Top-level `variables`: `name%` defaults, replaced by `overrides` (as gyp's -Dname=value). */
function variablesOf(gyp, overrides) {
  const out = {};
  for (const [key, value] of Object.entries(gyp.variables ?? {})) {
    if (!key.endsWith('%')) throw new Error(`binding.gyp: unsupported variable ${key}`);
    out[key.slice(0, -1)] = value;
  }

  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in out)) throw new Error(`binding.gyp: no variable ${key}`);
    out[key] = value;
  }

  return out;
}

/** `<!(cmd)` and `<!@(cmd)` run in the .gyp file's directory; other `<(...)` expansions fail. */
function expand(item, dir) {
  if (typeof item !== 'string' || !item.includes('<')) return [item];
  const match = /^<!(@?)\((.*)\)$/s.exec(item);
  if (!match) throw new Error(`binding.gyp: unsupported expansion ${JSON.stringify(item)}`);
  const output = execSync(match[2], {cwd: dir, encoding: 'utf8'}).trim();
  return match[1] ? output.split(/\s+/).filter(Boolean) : [output];
}

/** gyp's merge: lists append, dicts merge, scalars replace. */
function merge(into, from, dir) {
  for (const [key, value] of Object.entries(from)) {
    if (key === 'conditions') continue;
    if (/[=?+/@]$/.test(key)) throw new Error(`binding.gyp: unsupported merge key ${key}`);
    if (Array.isArray(value)) {
      into[key] = [...(into[key] ?? []), ...value.flatMap((item) => expand(item, dir))];
    } else if (value && typeof value === 'object') {
      into[key] = merge({...into[key]}, value, dir);
    } else {
      into[key] = value;
    }
  }

  return into;
}

function applyConditions(into, dict, os, variables, dir) {
  for (const entry of dict.conditions ?? []) {
    const [condition, then, otherwise] = entry;
    const branch = conditionHolds(condition, os, variables) ? then : otherwise;
    if (branch) {
      merge(into, branch, dir);
      applyConditions(into, branch, os, variables, dir);
    }
  }

  return into;
}

const KNOWN_KEYS = new Set([
  'target_name',
  'sources',
  'include_dirs',
  'defines',
  'cflags',
  'cflags_cc',
  'cflags!',
  'cflags_cc!',
  'xcode_settings',
]);

/**
The target's settings for gyp's OS name (`linux`, `mac`): sources relative to `root`,
include dirs absolute, `key!` lists already removed from `key`. `variables` overrides
binding.gyp's variable defaults (`{portwarden_testing: 1}`: the testing build).
*/
export function bindingTarget(root, os, name, variables = {}) {
  const file = path.join(root, 'binding.gyp');
  const gyp = parsePythonLiteral(readFileSync(file, 'utf8'), file);
  for (const key of Object.keys(gyp)) {
    if (key !== 'targets' && key !== 'variables') {
      throw new Error(`binding.gyp: ${key} is not understood by scripts/binding-gyp.mjs`);
    }
  }

  const targets = gyp.targets ?? [];
  const raw = name ? targets.find((t) => t.target_name === name) : targets[0];
  if (!raw) throw new Error(`binding.gyp: no target ${name ?? ''}`);
  const vars = variablesOf(gyp, variables);
  const settings = applyConditions(merge({}, raw, root), raw, os, vars, root);
  for (const key of Object.keys(settings)) {
    if (!KNOWN_KEYS.has(key)) {
      throw new Error(`binding.gyp: ${key} is not understood by scripts/binding-gyp.mjs`);
    }

    if (key.endsWith('!')) {
      const base = key.slice(0, -1);
      settings[base] = (settings[base] ?? []).filter((v) => !settings[key].includes(v));
    }
  }

  return {
    name: settings.target_name,
    sources: settings.sources ?? [],
    includeDirs: (settings.include_dirs ?? []).map((d) => path.resolve(root, d)),
    defines: settings.defines ?? [],
    cflags: settings.cflags ?? [],
    cflagsCc: settings.cflags_cc ?? [],
    xcodeSettings: settings.xcode_settings ?? {},
  };
}

/**
The compiler flags gyp's Xcode settings stand for (on macOS gyp uses these, not `cflags`).
Unknown settings fail, so a new one in binding.gyp is not silently dropped.
*/
export function xcodeFlags(settings) {
  const flags = [];
  let deploymentTarget;
  for (const [key, value] of Object.entries(settings)) {
    if (key === 'GCC_SYMBOLS_PRIVATE_EXTERN') {
      if (value === 'YES') flags.push('-fvisibility=hidden');
    } else if (key === 'CLANG_CXX_LANGUAGE_STANDARD') {
      flags.push(`-std=${value}`);
    } else if (key === 'GCC_ENABLE_CPP_EXCEPTIONS') {
      flags.push(value === 'YES' ? '-fexceptions' : '-fno-exceptions');
    } else if (key === 'MACOSX_DEPLOYMENT_TARGET') {
      deploymentTarget = value;
    } else {
      throw new Error(`binding.gyp: xcode_settings.${key} is not understood by binding-gyp.mjs`);
    }
  }

  return {flags, deploymentTarget};
}
