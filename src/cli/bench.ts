// bench: runs the bundled benchmark script in a child process.
import path from 'node:path';
import {builtin} from '../builtin.js';
import {packageRoot} from '../native.js';
import {EXIT} from './output.js';
import type {BenchFlags, Runner} from './spec.js';

const script = path.join(packageRoot, 'scripts', 'bench.mjs');

export const bench: Runner<BenchFlags> = async (_positionals, values) => {
  const args = [script, '--out', path.resolve(values.out)];
  if (values.quick) {
    args.push('--quick');
  }

  const child = builtin.childProcess().spawn(process.execPath, args, {stdio: 'inherit'});
  return new Promise((resolve) => child.on('close', (code) => resolve(code ?? EXIT.unknown)));
};
