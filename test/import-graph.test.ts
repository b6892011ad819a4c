// The cold path, guarded by the import graph rather than by a timing: what `import
// 'portwarden'` and the CLI's start-up load before any work. Static imports only (`import
// type` and dynamic `import()` load nothing at start-up).
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {repoRoot} from './helpers.js';

const src = path.join(repoRoot, 'src');

/** The static, value-carrying import specifiers of a TypeScript file. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers: string[] = [];
  for (const match of text.matchAll(/^(import|export)\s+([^;]*?)\s+from\s+'([^']+)';/gms)) {
    const clause = match[2]!;
    if (/^type\s/.test(clause)) {
      continue; // import type {...} / export type {...}
    }

    // `import {type A, type B}` carries no value either.
    const names = /^\{([^}]*)\}$/.exec(clause.trim())?.[1];
    if (
      names !== undefined &&
      names.split(',').every((n) => n.trim() === '' || /^type\s/.test(n.trim()))
    ) {
      continue;
    }

    specifiers.push(match[3]!);
  }

  for (const match of text.matchAll(/^import\s+'([^']+)';/gm)) {
    specifiers.push(match[1]!);
  }

  return specifiers;
}

/** Every module reachable from `entry` through static imports: {files, packages, builtins}. */
function graph(entry: string) {
  const files = new Set<string>();
  const external = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) {
      continue;
    }

    files.add(file);
    for (const specifier of staticImports(file)) {
      if (specifier.startsWith('.')) {
        queue.push(path.resolve(path.dirname(file), specifier.replace(/\.js$/, '.ts')));
      } else {
        external.add(specifier);
      }
    }
  }

  return {
    files: [...files].map((f) => path.relative(src, f)).sort(),
    external: [...external].sort(),
  };
}

// ES imports of these build a whole module namespace, which loads every lazy part of the
// builtin (node:net loads streams, dgram, child_process): use builtin.ts instead.
const LIGHT_BUILTINS = ['node:module', 'node:path', 'node:url'];

describe('import graph', () => {
  it("import 'portwarden' loads no package and only light builtins", () => {
    const g = graph(path.join(src, 'index.ts'));
    expect(g.external.filter((s) => !LIGHT_BUILTINS.includes(s))).toEqual([]);
  });

  it('import of the package leaves services, serve and the CLI for when they are called', () => {
    const {files} = graph(path.join(src, 'index.ts'));
    const lazy = files.filter(
      (f) =>
        /^services\/(systemd|launchd|command|exec|plist|free|owners|group|trail)\.ts$/.test(f) ||
        f === 'serve/supervisor.ts' ||
        f === 'serve/notify-receiver.ts' ||
        f.startsWith('cli/'),
    );
    expect(lazy).toEqual([]);
  });

  it('the CLI starts with its table and argument parsing only; a command loads when it runs', () => {
    const g = graph(path.join(src, 'bin.ts'));
    expect(g.external.filter((s) => !LIGHT_BUILTINS.includes(s))).toEqual([]);
    // bin.ts imports the CLI dynamically (after the compile cache is on).
    expect(g.files).toEqual(['bin.ts']);
    const main = graph(path.join(src, 'cli', 'main.ts'));
    expect(main.external.filter((s) => !LIGHT_BUILTINS.includes(s))).toEqual([]);
    const commands = [
      'probe',
      'wait',
      'free',
      'pidfile',
      'pidfile-exec',
      'service',
      'bench',
      'serve',
    ];
    expect(main.files.filter((f) => commands.some((c) => f === `cli/${c}.ts`))).toEqual([]);
    // Nothing of the library beyond the error classes, validation, the package root and the addon.
    expect(main.files.filter((f) => !f.startsWith('cli/')).sort()).toEqual([
      'addon-path.ts',
      'builtin.ts',
      'errors.ts',
      'native.ts',
      'validate.ts',
    ]);
  });

  it('a service call (the CLI restart) loads only the builtins it uses: child_process via builtin.ts', () => {
    for (const manager of ['systemd', 'launchd', 'command']) {
      const g = graph(path.join(src, 'services', `${manager}.ts`));
      expect(g.files).toContain('services/exec.ts');
      expect(g.external.filter((s) => !LIGHT_BUILTINS.includes(s))).toEqual([]);
    }
  });

  it('the graph walker sees static imports and skips type-only ones (a control)', () => {
    const g = graph(path.join(src, 'services', 'command.ts'));
    expect(g.files).toContain('services/group.ts');
    expect(g.files).not.toContain('services/types.ts'); // import type only
    expect(graph(path.join(src, 'cli', 'service.ts')).files).toContain('services/index.ts');
  });
});

/** Builtins in `text` loaded by statements at column 0: at the top of a bundle, on load. */
function topLevelBuiltins(text: string): string[] {
  const found = new Set<string>();
  for (const line of text.split('\n')) {
    if (/^(import|export|var|let|const) /.test(line)) {
      for (const m of line.matchAll(/(?:from |require\()["']([^"']+)["']/g)) found.add(m[1]!);
    }
  }

  return [...found].sort();
}

describe('what the shipped bundles load on start', () => {
  const bundle = (file: string) =>
    readFileSync(path.join(repoRoot, 'dist', 'bundle', file), 'utf8');

  // esbuild hoists every ES import of the bundled modules to the top of an ES bundle, lazily
  // evaluated ones included: a service module's `import {spawn} from 'node:child_process'`
  // would be loaded by every `import 'portwarden'`. So only light builtins at the top.
  it("index.js (import 'portwarden') imports only light builtins", () => {
    const builtins = topLevelBuiltins(bundle('index.js'));
    expect(builtins).toContain('node:module'); // a control: the scan sees the imports
    expect(builtins.filter((s) => !LIGHT_BUILTINS.includes(s))).toEqual([]);
  });

  it('cli.cjs requires only light builtins outside its lazily evaluated modules; bin.cjs requires it', () => {
    const builtins = topLevelBuiltins(bundle('cli.cjs'));
    expect(builtins).toContain('node:url'); // a control
    expect(builtins.filter((s) => !LIGHT_BUILTINS.includes(s))).toEqual([]);
    // A lazily evaluated module's require is indented inside its init function.
    expect(bundle('cli.cjs')).toMatch(/^ +import_node_path\d* = __toESM\(require\("node:path"\)/m);
    expect(topLevelBuiltins(bundle('bin.cjs'))).toEqual(['node:module']);
    expect(bundle('bin.cjs')).toContain('require("./cli.cjs")');
  });
});

/** The modules of src/ that `file` imports statically (values), relative to src/. */
function localImports(file: string): string[] {
  const from = path.join(src, file);
  return staticImports(from)
    .filter((s) => s.startsWith('.'))
    .map((s) => path.relative(src, path.resolve(path.dirname(from), s.replace(/\.js$/, '.ts'))));
}

describe('layers: imports point down', () => {
  // The foundation every layer uses: it imports nothing above itself.
  it.each([
    ['builtin.ts', []],
    ['steps.ts', []],
    ['service-record.ts', []],
    ['addon-path.ts', ['builtin.ts']],
    ['validate.ts', ['builtin.ts']],
    ['errors.ts', ['validate.ts']],
    ['small-file.ts', ['builtin.ts', 'errors.ts']],
  ])('%s imports only %j', (file, allowed) => {
    expect(localImports(file).filter((f) => !allowed.includes(f))).toEqual([]);
  });

  it.each([
    // Process control and port waits meet in free-port.ts, not in each other.
    ['terminate.ts', /^(wait|free-port|probe)\.ts$/],
    ['process-control.ts', /^(wait|terminate|free-port|probe)\.ts$/],
    ['wait.ts', /^(terminate|free-port)\.ts$/],
    // Files beside a PID file do not go through the PID file feature.
    ['stopping.ts', /^pidfile\.ts$/],
    ['small-file.ts', /^pidfile\.ts$/],
    // serve and services are siblings; the CLI is the top.
    ['serve/supervisor.ts', /^(services|cli)\//],
    ['serve/control.ts', /^(services|cli)\//],
    ['services/command.ts', /^(serve|cli)\//],
    ['services/systemd.ts', /^(serve|cli)\//],
  ])('%s imports nothing matching %s', (file, forbidden) => {
    expect(localImports(file).filter((f) => forbidden.test(f))).toEqual([]);
  });

  it('sees the imports it forbids elsewhere (a control)', () => {
    expect(localImports('free-port.ts')).toEqual(
      expect.arrayContaining(['terminate.ts', 'wait.ts']),
    );
    expect(localImports('serve/supervisor.ts')).toContain('process-control.ts');
  });
});
