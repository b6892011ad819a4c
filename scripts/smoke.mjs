#!/usr/bin/env node
// node scripts/smoke.mjs: loads the addon the way the installed package does (node-gyp-build
// from the package root; PORTWARDEN_PREBUILD=DIR makes it look in DIR/build and
// DIR/prebuilds instead) and prints, as JSON, which binary it loaded and what processInfo,
// claimPidFile/readPidFile and a probe of a port this process listens on answer. Exits 1
// when the addon did not load or an answer is wrong. Needs dist/ (npm run build:ts).
//
// A binary for another architecture runs under qemu-user with that architecture's node
// from Debian, unpacked into a directory (never installed over this machine's node):
//   dpkg --add-architecture arm64 && apt-get update
//   apt-get download nodejs:arm64 libnode108:arm64 <its arm64 libraries> node-acorn \
//     node-cjs-module-lexer node-undici && for f in *.deb; do dpkg-deb -x "$f" ROOT; done
//   dpkg --remove-architecture arm64 && apt-get update
//   PORTWARDEN_PREBUILD=DIR qemu-aarch64 -L ROOT ROOT/usr/bin/node scripts/smoke.mjs
import {mkdtempSync, rmSync} from 'node:fs';
import {createRequire} from 'node:module';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const require = createRequire(import.meta.url);
const report = {node: process.version, platform: process.platform, arch: process.arch};
const problems = [];

try {
  report.binary = require('node-gyp-build').path(root);
} catch (error) {
  report.binary = `not found: ${error.message.split('\n')[0]}`;
}

// Debian's arm64 node (the one qemu runs) is 18, older than the package supports: it lacks
// process.getBuiltinModule, which dist/ uses to load builtins lazily. The binary is what
// is checked here, so the smoke lends it one.
process.getBuiltinModule ??= (id) => require(id);

const {nativeUnavailable} = await import('../dist/native.js');
const pw = await import('../dist/index.js');
report.loadError = nativeUnavailable();
if (report.loadError) problems.push('the addon did not load');

const info = pw.processInfo(process.pid);
report.processInfo = info;
if (info?.pid !== process.pid) problems.push('processInfo(process.pid) did not name this process');

const dir = mkdtempSync(path.join(tmpdir(), 'portwarden-smoke-'));
try {
  const file = path.join(dir, 'smoke.pid');
  const handle = pw.claimPidFile(file, {data: {smoke: true}});
  report.claimPidFile = {pid: handle.pid};
  report.readPidFile = pw.readPidFile(file);
  if (report.readPidFile?.pid !== process.pid || report.readPidFile?.locked !== true) {
    problems.push('readPidFile did not see our locked PID file');
  }

  handle.release();
  report.afterRelease = pw.readPidFile(file) ?? null;
} catch (error) {
  problems.push(`claimPidFile: ${error.message}`);
} finally {
  rmSync(dir, {recursive: true, force: true});
}

const server = net.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const {port} = server.address();
try {
  const probe = await pw.probePort(port, {owners: true});
  report.probePort = {
    backend: probe.backend,
    sockets: probe.sockets.map((s) => ({
      state: s.state,
      local: `${s.localAddress}:${s.localPort}`,
      owner: s.owner,
    })),
  };
  const check = await pw.checkPort(port);
  report.checkPort = check;
  if (check.status === 'free') problems.push(`checkPort(${port}) says free while we listen on it`);
} catch (error) {
  report.probeError = `${error.name}: ${error.message}`;
} finally {
  server.close();
}

report.problems = problems;
console.log(JSON.stringify(report, null, 2));
process.exit(problems.length > 0 ? 1 : 0);
