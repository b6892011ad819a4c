// `portwarden bench --quick`: the built CLI runs the benchmark (lsof, ss, the peer packages
// and the connect probe against portwarden) and writes its three outputs.
import {existsSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {runCli, tempDir} from './helpers.js';

describe('portwarden bench', () => {
  it('bench --quick writes the table, the JSON and the chart', async () => {
    const out = tempDir();
    const result = await runCli(['bench', '--quick', '--out', out]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('| idle | listening check | portwarden checkPortSync |');
    for (const file of ['results.md', 'results.json', 'results.svg']) {
      expect(existsSync(path.join(out, file))).toBe(true);
    }

    const json = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as {
      results: Array<{method: string; medianUs: number}>;
    };
    const ours = json.results.find((r) => r.method === 'portwarden checkPortSync');
    const lsof = json.results.find((r) => r.method.startsWith('spawn lsof'));
    expect(ours!.medianUs).toBeGreaterThan(0);
    expect(lsof!.medianUs).toBeGreaterThan(0);
    expect(readFileSync(path.join(out, 'results.svg'), 'utf8')).toMatch(/^<svg /);
  }, 120_000);
});
