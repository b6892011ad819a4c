#!/usr/bin/env node
// Writes the CLI reference into README.md between its cli-reference markers, from the same
// table the CLI prints its help from (dist/cli/spec.js: run `npm run build:ts` first).
//   node scripts/cli-reference.mjs          rewrite README.md
//   node scripts/cli-reference.mjs --check  exit 1 if README.md differs
import {readFileSync, writeFileSync} from 'node:fs';
import {referenceMarkdown} from '../dist/cli/spec.js';

const readme = new URL('../README.md', import.meta.url);
const START = '<!-- cli-reference:start: generated from src/cli/spec.ts by `npm run docs:cli` -->';
const END = '<!-- cli-reference:end -->';
const text = readFileSync(readme, 'utf8');
const from = text.indexOf(START);
const to = text.indexOf(END);
if (from === -1 || to < from) {
  console.error('README.md has no cli-reference markers');
  process.exit(1);
}

const next = `${text.slice(0, from + START.length)}\n\n${referenceMarkdown()}\n\n${text.slice(to)}`;
if (process.argv.includes('--check')) {
  if (next !== text) {
    console.error('README.md: the CLI reference differs from the help text; run npm run docs:cli');
    process.exit(1);
  }
} else {
  writeFileSync(readme, next);
}
