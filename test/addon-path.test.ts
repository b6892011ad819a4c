// The addon file found without node-gyp-build (src/addon-path.ts) is node-gyp-build's own
// choice, on every layout; outside the shipped layouts it leaves the choice to node-gyp-build.
import {cpSync, mkdirSync, writeFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import path from 'node:path';
import {pathToFileURL} from 'node:url';
import {execa} from 'execa';
import {afterEach, describe, expect, it} from 'vitest';
import {shippedAddonPath} from '../src/addon-path.js';
import {distEntry, repoRoot, tempDir} from './helpers.js';

const require = createRequire(import.meta.url);
const nodeGypBuild = require('node-gyp-build') as {resolve: (dir: string) => string};
const tuple = `${process.platform}-${process.arch}`;
const glibc = process.platform === 'linux' ? 'node.napi.glibc.node' : 'node.napi.node';

/** A package root holding these files (empty: only paths are compared, nothing is loaded). */
function layout(files: string[]): string {
  const root = tempDir();
  writeFileSync(path.join(root, 'package.json'), '{"name": "portwarden"}');
  for (const file of files) {
    mkdirSync(path.dirname(path.join(root, file)), {recursive: true});
    if (!file.endsWith('/')) writeFileSync(path.join(root, file), '');
  }

  return root;
}

function nodeGypBuildChoice(root: string): string | undefined {
  try {
    return nodeGypBuild.resolve(root);
  } catch {
    return undefined; // "No native build was found"
  }
}

describe('shippedAddonPath', () => {
  const saved = {...process.env};
  afterEach(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  });

  // [what, files, whether the answer is found here (else left to node-gyp-build)]
  const layouts: Array<[string, string[], boolean]> = [
    ['a local build', ['build/Release/portwarden.node'], true],
    [
      'a local build beside the prebuilds',
      [
        'build/Release/portwarden.node',
        `prebuilds/${tuple}/node.napi.glibc.node`,
        `prebuilds/${tuple}/node.napi.musl.node`,
      ],
      true,
    ],
    [
      'the prebuilds, build/Release without an addon',
      [
        'build/Release/obj.target/',
        `prebuilds/${tuple}/node.napi.glibc.node`,
        `prebuilds/${tuple}/node.napi.musl.node`,
      ],
      true,
    ],
    ['one untagged prebuild', [`prebuilds/${tuple}/node.napi.node`], true],
    [
      'a tagged and an untagged prebuild',
      [`prebuilds/${tuple}/node.napi.node`, `prebuilds/${tuple}/${glibc}`],
      true,
    ],
    [
      'another addon in build/Release',
      ['build/Release/other.node', 'build/Release/portwarden.node'],
      false,
    ],
    [
      'a debug build',
      ['build/Debug/portwarden.node', `prebuilds/${tuple}/node.napi.glibc.node`],
      false,
    ],
    ['a prebuild of another libc only', [`prebuilds/${tuple}/node.napi.musl.node`], false],
    [
      'a file this package does not ship',
      [`prebuilds/${tuple}/node.napi.glibc.node`, `prebuilds/${tuple}/node.abi115.node`],
      false,
    ],
    ['a multi-architecture directory', [`prebuilds/${tuple}+other/node.napi.node`], false],
    ['nothing', [], false],
  ];

  it.each(layouts)('%s: node-gyp-build would pick the same file', (_what, files, found) => {
    const root = layout(files);
    const ours = shippedAddonPath(root);
    expect(ours !== undefined).toBe(found);
    if (ours !== undefined) {
      expect(ours).toBe(nodeGypBuildChoice(root));
    }
  });

  it.each([
    ['PREBUILDS_ONLY', '1'],
    ['PORTWARDEN_PREBUILD', '/elsewhere'],
    ['npm_config_arch', 'arm64'],
    ['npm_config_platform', 'darwin'],
    ['LIBC', 'musl'],
  ])('%s in the environment leaves the choice to node-gyp-build', (name, value) => {
    const root = layout(['build/Release/portwarden.node', `prebuilds/${tuple}/${glibc}`]);
    expect(shippedAddonPath(root)).toBeDefined();
    process.env[name] = value;
    expect(shippedAddonPath(root)).toBeUndefined();
  });
});

describe('loading the addon', () => {
  const loadedFiles = `import(${JSON.stringify(distEntry)}).then((m) => {
  const {status, backend} = m.checkPortSync(1);
  const files = Object.keys(require.cache);
  console.log(JSON.stringify({status, backend, nodeGypBuild: files.some((f) => f.includes('node-gyp-build'))}));
});`;

  it('a package of the bundle and its prebuilds alone (no build/, no node_modules) loads the prebuild', async () => {
    expect(shippedAddonPath(tempDir())).toBeUndefined(); // a control: nothing where nothing is
    const root = tempDir();
    writeFileSync(path.join(root, 'package.json'), '{"name": "portwarden", "type": "module"}');
    cpSync(path.join(repoRoot, 'dist', 'bundle'), path.join(root, 'dist', 'bundle'), {
      recursive: true,
    });
    cpSync(path.join(repoRoot, 'prebuilds', tuple), path.join(root, 'prebuilds', tuple), {
      recursive: true,
    });
    const file = shippedAddonPath(root);
    expect(file).toBe(path.join(root, 'prebuilds', tuple, glibc));
    const entry = pathToFileURL(path.join(root, 'dist', 'bundle', 'index.js')).href;
    const r = await execa(
      process.execPath,
      [
        '-e',
        `import(${JSON.stringify(entry)}).then((m) => console.log(JSON.stringify(m.checkPortSync(1))))`,
      ],
      {cwd: root, env: {PORTWARDEN_ADDON_PATH: ''}, reject: false, stdin: 'ignore'},
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({backend: 'native'});
  });

  it('a fresh process loads the addon without node-gyp-build; with an override (a control) through it', async () => {
    for (const [env, viaNodeGypBuild] of [
      [{}, false],
      [{PREBUILDS_ONLY: '1'}, true],
    ] as const) {
      const r = await execa(process.execPath, ['-e', loadedFiles], {
        env: {...env, PORTWARDEN_ADDON_PATH: ''},
        reject: false,
        stdin: 'ignore',
      });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toEqual({
        status: expect.stringMatching(/^(free|busy)$/),
        backend: 'native',
        nodeGypBuild: viaNodeGypBuild,
      });
    }
  });
});
