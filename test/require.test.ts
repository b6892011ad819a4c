// CommonJS consumers: `require('portwarden')` through the package's `exports` (Node ≥ 20.19
// and ≥ 22.12 load an ES module graph without top-level await synchronously).
import {mkdirSync, symlinkSync} from 'node:fs';
import path from 'node:path';
import {execa} from 'execa';
import {describe, expect, it} from 'vitest';
import {repoRoot, tempDir} from './helpers.js';

describe('require()', () => {
  it('a CommonJS project requires the package and gets the same named exports as import()', async () => {
    const project = tempDir();
    mkdirSync(path.join(project, 'node_modules'));
    symlinkSync(repoRoot, path.join(project, 'node_modules', 'portwarden'));
    const code = `
const cjs = require('portwarden');
import('portwarden').then((esm) => {
  console.log(JSON.stringify({
    cjs: Object.keys(cjs).sort(),
    esm: Object.keys(esm).sort(),
    check: cjs.checkPortSync(1).status,
  }));
});`;
    const r = await execa(process.execPath, ['-e', code], {cwd: project, reject: false});
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as {cjs: string[]; esm: string[]; check: string};
    expect(out.cjs).toEqual(out.esm.filter((k) => k !== 'default'));
    expect(out.cjs).toContain('restartService');
    expect(['free', 'busy', 'unknown']).toContain(out.check);
  });
});
