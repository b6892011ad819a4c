// Restart overhead against a real systemd user manager (scripts/systemd-user.mjs): portwarden's
// restartService next to what a careful script does without it (`systemctl --user restart`,
// then waitForListening), and the CLI `restart` as a whole process. A unit that binds at once.
// Needs systemd and a checkout (the manager script is not shipped): otherwise it is skipped.
//
//   import {measureRestart} from './bench-restart.mjs';
//   const {rows, skipped} = await measureRestart({rounds: 15});
import {execFile, spawn} from 'node:child_process';
import {writeFileSync} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';
import {restartService, waitForListening} from '../dist/index.js';
import {coldEnv} from './bench-cold.mjs';
import {startUserManager, userManagerUnavailable} from './systemd-user.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'dist', 'bundle', 'bin.cjs');
const run = promisify(execFile);

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const nowUs = () => Number(process.hrtime.bigint()) / 1000;

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const {port} = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function timeProcess(file, args, env) {
  return new Promise((resolve, reject) => {
    const start = nowUs();
    const child = spawn(file, args, {stdio: 'ignore', env});
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(nowUs() - start) : reject(new Error(`${file} exited ${code}`)),
    );
  });
}

export async function measureRestart({rounds}) {
  const skipped = userManagerUnavailable();
  if (skipped) return {rows: [], skipped};

  const manager = startUserManager();
  try {
    const {env, unitDir} = manager;
    // The manager's variables (XDG_RUNTIME_DIR) are in process.env by now.
    const childEnv = {...process.env};
    for (const k of coldEnv.removed) delete childEnv[k];
    const port = await freePort();
    const server = path.join(env.XDG_CONFIG_HOME, 'bench-server.cjs');
    writeFileSync(
      server,
      `require('node:net').createServer().listen(${port});\nprocess.on('SIGTERM', () => process.exit(0));\n`,
    );
    const unit = 'portwarden-bench.service';
    writeFileSync(
      path.join(unitDir, unit),
      `[Unit]\nDescription=portwarden bench\nStartLimitIntervalSec=0\n\n[Service]\nExecStart="${process.execPath}" "${server}"\n`,
    );
    const systemctl = (...args) => run('systemctl', ['--user', ...args], {env: childEnv});
    await systemctl('daemon-reload');
    await systemctl('start', unit);
    await waitForListening(port, {timeout: 10_000});

    const spec = {manager: 'systemd', unit, port};
    const methods = [
      {
        method: 'portwarden restartService',
        fn: async () => restartService(spec),
      },
      {
        method: 'systemctl --user restart + waitForListening',
        fn: async () => {
          await systemctl('restart', unit);
          await waitForListening(port, {timeout: 10_000});
        },
        baseline: true,
      },
      {
        method: 'CLI: portwarden restart --systemd U --port P',
        fn: async () =>
          timeProcess(
            process.execPath,
            [bin, 'restart', '--systemd', unit, '--port', String(port)],
            childEnv,
          ),
      },
      {
        method: 'node -e 0 (start-up alone)',
        ...(coldEnv.removed.length > 0
          ? {note: `${coldEnv.removed.join(', ')} unset for it and the CLI`}
          : {}),
        fn: async () => timeProcess(process.execPath, ['-e', '0'], childEnv),
      },
    ];
    for (const m of methods) await m.fn(); // warm-up
    const samples = methods.map(() => []);
    for (let round = 0; round < rounds; round++) {
      for (const [i, m] of methods.entries()) {
        const start = nowUs();
        await m.fn();
        samples[i].push(nowUs() - start);
      }
    }

    await systemctl('stop', unit);
    const base = methods.findIndex((m) => m.baseline);
    const rows = methods.map((m, i) => ({
      scale: 'restart (systemd user unit)',
      operation: 'restart until listening',
      method: m.method,
      medianUs: median(samples[i]),
      ...(m.note === undefined ? {} : {note: m.note}),
      ...(i === base
        ? {baseline: true}
        : {ratio: median(samples[i].map((us, round) => us / samples[base][round]))}),
    }));
    return {rows};
  } finally {
    manager.stop();
  }
}
