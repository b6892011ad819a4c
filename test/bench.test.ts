// `portwarden bench --quick`: the built CLI runs the benchmark (lsof, ss, the peer packages
// and the connect probe against portwarden) and writes its three outputs.
import {existsSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {repoRoot, runCli, tempDir} from './helpers.js';

/** The relative imports (static and dynamic) of a script, as paths from the repository root. */
function relativeImports(file: string): string[] {
  const text = readFileSync(path.join(repoRoot, file), 'utf8');
  return [...text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)].map((m) =>
    path.relative(repoRoot, path.resolve(path.dirname(path.join(repoRoot, file)), m[1]!)),
  );
}

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

  it('every script the shipped bench loads is in the package (`files`)', () => {
    const {files} = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
      files: string[];
    };
    const shipped = (f: string) => files.some((entry) => f === entry || f.startsWith(`${entry}/`));
    // Loaded only where it exists (a checkout): its import() failing with ERR_MODULE_NOT_FOUND is caught.
    const checkoutOnly = ['scripts/node-versions.mjs'];
    expect(readFileSync(path.join(repoRoot, 'scripts/bench.mjs'), 'utf8')).toContain(
      "await import('./node-versions.mjs').catch((error) => {",
    );
    const seen = new Set<string>();
    const queue = ['scripts/bench.mjs'];
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file) || checkoutOnly.includes(file)) continue;
      seen.add(file);
      expect(shipped(file), `${file} is loaded by the bench but not in package.json files`).toBe(
        true,
      );
      if (!file.startsWith('dist/')) queue.push(...relativeImports(file));
    }

    expect([...seen]).toContain('scripts/bench-serve.mjs'); // the walker follows imports
  });
});
