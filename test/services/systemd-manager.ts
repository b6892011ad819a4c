// A private systemd user manager for the tests (scripts/systemd-user.sh), and unit files.
import {execFileSync} from 'node:child_process';
import {existsSync, mkdirSync, rmSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {fixtures, repoRoot as root} from '../helpers.js';

const script = path.join(root, 'scripts', 'systemd-user.sh');

export type Manager = {
  env: Record<string, string>;
  unitDir: string;
  stop(): void;
};

const ENV_KEYS = ['XDG_RUNTIME_DIR', 'XDG_CONFIG_HOME', 'DBUS_SESSION_BUS_ADDRESS'];

/**
Starts the manager and points this process's environment at it (systemctl --user reads
XDG_RUNTIME_DIR); `stop()` restores the environment and stops exactly that manager.
*/
export function startManager(): Manager {
  const out = execFileSync('bash', [script, 'start'], {encoding: 'utf8', timeout: 30_000});
  const env: Record<string, string> = {};
  for (const line of out.trim().split('\n')) {
    const eq = line.indexOf('=');
    env[line.slice(0, eq)] = line.slice(eq + 1);
  }

  const saved = new Map(ENV_KEYS.map((k) => [k, process.env[k]]));
  process.env.XDG_RUNTIME_DIR = env.XDG_RUNTIME_DIR;
  delete process.env.DBUS_SESSION_BUS_ADDRESS;
  // Wait until the manager finished starting up ('degraded' = some default unit failed: fine).
  let state = '';
  try {
    state = execFileSync('systemctl', ['--user', 'is-system-running', '--wait'], {
      encoding: 'utf8',
      timeout: 30_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    state = String((error as {stdout?: string}).stdout ?? '');
  }

  if (!/running|degraded/.test(state)) {
    execFileSync('bash', [script, 'stop', env.SYSTEMD_USER_STATE!], {timeout: 30_000});
    throw new Error(`the systemd user manager did not start: is-system-running says ${state}`);
  }

  const unitDir = path.join(env.XDG_CONFIG_HOME!, 'systemd', 'user');
  mkdirSync(unitDir, {recursive: true});
  return {
    env,
    unitDir,
    stop() {
      for (const [k, v] of saved) {
        if (v === undefined) {
          delete process.env[k];
        } else {
          process.env[k] = v;
        }
      }

      execFileSync('bash', [script, 'stop', env.SYSTEMD_USER_STATE!], {timeout: 30_000});
    },
  };
}

/** `systemctl --user ...` against the test manager; returns stdout, throws on failure. */
export function systemctl(...args: string[]): string {
  return execFileSync('systemctl', ['--user', '--no-pager', ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function showProps(unit: string): Record<string, string> {
  const out = systemctl(
    'show',
    '-p',
    'MainPID',
    '-p',
    'ActiveState',
    '-p',
    'SubState',
    '-p',
    'NRestarts',
    '-p',
    'Result',
    '-p',
    'StatusText',
    '--',
    unit,
  );
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/** Installs a unit file (systemd quotes: each argv element in double quotes). */
export function installUnit(
  manager: Manager,
  name: string,
  sections: {unit?: string[]; service: string[]},
): void {
  const text = [
    '[Unit]',
    `Description=portwarden test ${name}`,
    ...(sections.unit ?? []),
    '',
    '[Service]',
    ...sections.service,
    '',
  ].join('\n');
  writeFileSync(path.join(manager.unitDir, name), text);
}

export function removeUnits(manager: Manager, names: string[]): void {
  for (const name of names) {
    try {
      systemctl('stop', '--', name);
    } catch {}

    try {
      systemctl('reset-failed', '--', name);
    } catch {}

    rmSync(path.join(manager.unitDir, name), {force: true});
  }

  systemctl('daemon-reload');
}

/** ExecStart= line running the service-server fixture with node. */
export function serverExec(args: Array<string | number>): string {
  const argv = [process.execPath, path.join(fixtures, 'service-server.mjs'), ...args.map(String)];
  const quote = (a: string) =>
    `"${a.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('%', '%%').replaceAll('$', '$$$$')}"`;
  return `ExecStart=${argv.map(quote).join(' ')}`;
}

/** Ensures dist/ exists: unit ExecStart scripts import dist/index.js for notifyReady. */
export function ensureDist(): void {
  if (!existsSync(path.join(root, 'dist', 'index.js'))) {
    execFileSync('npx', ['tsc', '-p', path.join(root, 'tsconfig.build.json')], {
      cwd: root,
      stdio: 'inherit',
    });
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
