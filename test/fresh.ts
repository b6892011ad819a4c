// Calls a public async function of the built package in a fresh node process
// (test/fixtures/call.mjs) and reads how its promise settled.
import path from 'node:path';
import {execa} from 'execa';
import {expect} from 'vitest';
import {distEntry, fixtures, track} from './helpers.js';

export type Settled =
  | {settled: 'resolved'; value: unknown}
  | {settled: 'rejected'; name: string; code?: string; reason?: string; message: string}
  | {settled: false};

/** Calls `name(...args)` of dist/ in a fresh node process; how its promise settled. */
export async function call(
  name: string,
  args: unknown[],
  env: Record<string, string> = {},
): Promise<Settled & {exitCode: number | undefined; ms: number}> {
  const t0 = performance.now();
  const child = execa(
    process.execPath,
    [path.join(fixtures, 'call.mjs'), distEntry, name, JSON.stringify(args)],
    {reject: false, stdin: 'ignore', env, timeout: 60_000},
  );
  track(child.pid);
  const r = await child;
  const ms = performance.now() - t0;
  const lines = r.stdout.trim().split('\n');
  let parsed: Settled;
  try {
    parsed = JSON.parse(lines.at(-1)!) as Settled;
  } catch {
    throw new Error(`${name}: no JSON answer (exit ${r.exitCode}): ${r.stdout} ${r.stderr}`);
  }

  return {...parsed, exitCode: r.exitCode, ms};
}

export function resolved(r: Settled): unknown {
  expect(r.settled, JSON.stringify(r)).toBe('resolved');
  return (r as {value: unknown}).value;
}

export function rejected(r: Settled, name: string, code?: string) {
  expect(r.settled, JSON.stringify(r)).toBe('rejected');
  const e = r as Extract<Settled, {settled: 'rejected'}>;
  expect(e.name, e.message).toBe(name);
  if (code !== undefined) {
    expect(e.code, e.message).toBe(code);
  }

  return e;
}
