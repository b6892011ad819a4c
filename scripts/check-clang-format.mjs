// Checks (or with --fix, applies) .clang-format on native/. Missing clang-format fails
// under CI=true and is only a warning on a developer machine.
import {spawnSync} from 'node:child_process';
import {readdirSync} from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const files = readdirSync(path.join(root, 'native'), {recursive: true})
  .filter((f) => /\.(cc|h)$/.test(f))
  .map((f) => path.join(root, 'native', f));
const fix = process.argv.includes('--fix');
const result = spawnSync(
  'clang-format',
  [fix ? '-i' : '--dry-run', ...(fix ? [] : ['--Werror']), ...files],
  {
    stdio: 'inherit',
  },
);
if (result.error) {
  const message = `clang-format not found (${result.error.code}); native code style not checked`;
  if (process.env.CI) {
    console.error(message);
    process.exit(1);
  }

  console.warn(message);
  process.exit(0);
}

process.exit(result.status ?? 1);
