// The README's CLI reference is the CLI's help text: generated from src/cli/spec.ts.
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {commands, helpText, overview, referenceMarkdown} from '../src/cli/spec.js';
import {repoRoot, runCli} from './helpers.js';

const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');

describe('CLI reference', () => {
  it('the README holds exactly the generated reference (npm run docs:cli)', () => {
    const start = readme.indexOf('<!-- cli-reference:start');
    const end = readme.indexOf('<!-- cli-reference:end -->');
    const block = readme.slice(readme.indexOf('\n', start) + 1, end).trim();
    expect(block).toBe(referenceMarkdown());
  });

  it('the CLI prints that same help for the overview and every command', async () => {
    expect((await runCli(['--help'])).stdout).toBe(overview());
    for (const c of Object.values(commands)) {
      const r = await runCli([c.name, '--help']);
      expect(r.exitCode).toBe(0);
      expect(r.stdout, c.name).toBe(helpText(c));
    }
  });
});
