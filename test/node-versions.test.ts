// The shipped package as other Node lines load it: the official linux-x64 builds of Node 22
// (the oldest line with module.enableCompileCache) and 26 (the newest LTS line), fetched on
// first use (scripts/node-versions.mjs). And how this machine's Node starts the CLI.
import {mkdirSync, symlinkSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {execa} from 'execa';
import {beforeAll, describe, expect, it} from 'vitest';
import {ensureNode, NODE_VERSIONS} from '../scripts/node-versions.mjs';
import {distBin, repoRoot, startListener, tempDir} from './helpers.js';
import {testPort} from './ports.js';

/** Writes Node's list of loaded internal modules to stderr at exit (a --require preload). */
const LOAD_LIST = `process.on('exit', () => require('node:fs').writeSync(2, '\\nLOADED ' + JSON.stringify(process.moduleLoadList) + '\\n'));`;

function loadedModules(stderr: string): string[] {
  const line = stderr.split('\n').find((l) => l.startsWith('LOADED '));
  expect(line, stderr).toBeDefined();
  return JSON.parse(line!.slice('LOADED '.length)) as string[];
}

describe('how Node starts the CLI', () => {
  it("the shipped CLI runs as CommonJS, without Node's ES module loader; the ES entry (a control) needs it", async () => {
    const dir = tempDir();
    const preload = path.join(dir, 'load-list.cjs');
    writeFileSync(preload, LOAD_LIST);
    const port = String(testPort());
    const esmJob = 'NativeModule internal/modules/esm/module_job';

    const shipped = await execa(process.execPath, ['-r', preload, distBin, 'check', port], {
      reject: false,
      stdin: 'ignore',
    });
    expect(shipped.exitCode, shipped.stderr).toBe(0);
    expect(shipped.stdout).toBe(`port ${port} is free`);
    expect(loadedModules(shipped.stderr)).not.toContain(esmJob);

    const esm = await execa(
      process.execPath,
      ['-r', preload, path.join(repoRoot, 'dist', 'bin.js'), 'check', port],
      {reject: false, stdin: 'ignore'},
    );
    expect(esm.exitCode, esm.stderr).toBe(0);
    expect(loadedModules(esm.stderr)).toContain(esmJob);
  });
});

// The fetched builds are linux-x64 binaries; elsewhere (the macOS runners of test.yml) the
// workflow's matrix runs the whole suite under each Node line instead.
const linuxX64 = process.platform === 'linux' && process.arch === 'x64';

describe.runIf(linuxX64).each(Object.keys(NODE_VERSIONS))('Node %s', (version) => {
  let node = '';
  // The first run fetches it (about 50 MB from the npm registry); later runs find it cached.
  beforeAll(() => {
    node = ensureNode(version, {log: () => {}});
  }, 300_000);

  it('the CLI names the holder of a port; import and require give the same exports', async () => {
    const l = await startListener();
    const check = await execa(node, [distBin, 'check', String(l.port), '--json'], {
      reject: false,
      stdin: 'ignore',
    });
    expect(check.exitCode, check.stderr).toBe(1);
    expect(JSON.parse(check.stdout)).toMatchObject({status: 'busy', backend: 'native'});
    const who = await execa(node, [distBin, 'who', String(l.port), '--json'], {
      reject: false,
      stdin: 'ignore',
    });
    expect(who.exitCode, who.stderr).toBe(0);
    expect(who.stderr).toBe('');
    const pids = (
      JSON.parse(who.stdout) as {sockets: Array<{owner?: {processes?: Array<{pid: number}>}}>}
    ).sockets.flatMap((e) => e.owner?.processes?.map((p) => p.pid) ?? []);
    expect(pids).toContain(l.pid);

    const project = tempDir();
    mkdirSync(path.join(project, 'node_modules'));
    symlinkSync(repoRoot, path.join(project, 'node_modules', 'portwarden'));
    const both = await execa(
      node,
      [
        '-e',
        `const cjs = require('portwarden');
import('portwarden').then((esm) => console.log(JSON.stringify({
  cjs: Object.keys(cjs).sort(), esm: Object.keys(esm).filter((k) => k !== 'default').sort(),
  status: esm.checkPortSync(${l.port}).status,
})));`,
      ],
      {cwd: project, reject: false, stdin: 'ignore'},
    );
    expect(both.exitCode, both.stderr).toBe(0);
    const exports = JSON.parse(both.stdout) as {cjs: string[]; esm: string[]; status: string};
    expect(exports.cjs).toEqual(exports.esm);
    expect(exports.esm).toContain('restartService');
    expect(exports.status).toBe('busy');
  });

  it("bin.cjs turns on the compile cache and the CLI's code is kept in it (not with it disabled, a control)", async () => {
    const tmp = tempDir(); // Node's default cache directory is os.tmpdir()/node-compile-cache
    const cli = path.join(repoRoot, 'dist', 'bundle', 'cli.cjs');
    // Node 22: "cache for <file> was accepted"; 26: "V8 code cache for CommonJS <file> was accepted".
    const accepted = new RegExp(`cache for (CommonJS )?${cli.replaceAll('.', '\\.')} was accepted`);
    const run = async (extra: Record<string, string>) =>
      execa(node, [distBin, 'check', String(testPort())], {
        env: {TMPDIR: tmp, NODE_DEBUG_NATIVE: 'COMPILE_CACHE', ...extra},
        reject: false,
        stdin: 'ignore',
      });
    const first = await run({});
    expect(first.exitCode, first.stderr).toBe(0);
    const second = await run({});
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stderr).toMatch(accepted);
    const disabled = await run({NODE_DISABLE_COMPILE_CACHE: '1'});
    expect(disabled.exitCode, disabled.stderr).toBe(0);
    expect(disabled.stderr).not.toMatch(accepted);
  });
});

// The unbundled entry stays usable from a checkout (README: `node dist/bin.js`).
it('dist/bin.js, the unbundled CLI, answers too', async () => {
  const r = await execa(process.execPath, [path.join(repoRoot, 'dist', 'bin.js'), '--version'], {
    reject: false,
    stdin: 'ignore',
  });
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^\d+\.\d+\.\d+$/);
});
