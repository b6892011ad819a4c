// A private systemd user manager (started by scripts/systemd-user.sh) for the benchmarks and
// the service tests. startUserManager() starts it, waits until it has finished starting,
// points this process's environment at it (systemctl --user reads XDG_RUNTIME_DIR) and
// returns {env, unitDir, stop()}; stop() restores the environment and stops exactly that
// manager, by the pid the script recorded.
import {execFileSync} from 'node:child_process';
import {existsSync, mkdirSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'systemd-user.sh');
const ENV_KEYS = ['XDG_RUNTIME_DIR', 'XDG_CONFIG_HOME', 'DBUS_SESSION_BUS_ADDRESS'];

/** Why a user manager cannot run here, or undefined when it can. */
export function userManagerUnavailable() {
  const systemd = ['/lib/systemd/systemd', '/usr/lib/systemd/systemd'].some((p) => existsSync(p));
  if (process.platform !== 'linux' || !systemd || !existsSync(script)) {
    return 'needs Linux, systemd and a checkout (scripts/systemd-user.sh)';
  }

  return undefined;
}

/** `systemctl --user ...` against the current manager; returns stdout, throws on failure. */
export function systemctl(...args) {
  return execFileSync('systemctl', ['--user', '--no-pager', ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function startUserManager() {
  const out = execFileSync('bash', [script, 'start'], {encoding: 'utf8', timeout: 30_000});
  const env = Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  const stopManager = () =>
    execFileSync('bash', [script, 'stop', env.SYSTEMD_USER_STATE], {timeout: 30_000});
  const saved = new Map(ENV_KEYS.map((k) => [k, process.env[k]]));
  const restore = () => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };

  process.env.XDG_RUNTIME_DIR = env.XDG_RUNTIME_DIR;
  delete process.env.DBUS_SESSION_BUS_ADDRESS;
  // Wait until the manager finished starting ('degraded' = a default unit failed: fine).
  let state = '';
  try {
    state = systemctl('is-system-running', '--wait');
  } catch (error) {
    state = String(error?.stdout ?? '');
  }

  if (!/running|degraded/.test(state)) {
    restore();
    stopManager();
    throw new Error(`the systemd user manager did not start: is-system-running says ${state}`);
  }

  const unitDir = path.join(env.XDG_CONFIG_HOME, 'systemd', 'user');
  mkdirSync(unitDir, {recursive: true});
  return {
    env,
    unitDir,
    stop() {
      restore();
      stopManager();
    },
  };
}
