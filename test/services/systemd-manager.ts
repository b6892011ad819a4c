// A private systemd user manager for the tests (scripts/systemd-user.mjs), and unit files.
import {execFileSync} from 'node:child_process';
import {existsSync, mkdirSync, rmSync, writeFileSync} from 'node:fs';
import path from 'node:path';
// @ts-expect-error a plain ESM script without types
import {startUserManager, systemctl as systemctlScript} from '../../scripts/systemd-user.mjs';
import {fixtures, repoRoot as root} from '../helpers.js';

export type Manager = {
  env: Record<string, string>;
  unitDir: string;
  stop(): void;
};

/**
Starts the manager and points this process's environment at it (systemctl --user reads
XDG_RUNTIME_DIR); `stop()` restores the environment and stops exactly that manager.
*/
export const startManager = startUserManager as () => Manager;

/** `systemctl --user ...` against the test manager; returns stdout, throws on failure. */
export const systemctl = systemctlScript as (...args: string[]) => string;

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
