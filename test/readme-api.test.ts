// The README's API reference against the package: every export is documented, nothing
// documented is missing, and each function's documented options are the ones it accepts.
// The accepted options are read from the package itself: an unknown option is rejected with a
// TypeError that lists them ("Unknown option 'x' for f; expected one of a, b, c").
//
// How the README is read: a function is documented by a `### name(...)` heading (several
// functions share one: `### a(...) / b(...) / c`); the error classes by the items of
// `### Errors`; options under a function's `#### options` heading, as `##### name` headings
// (`##### a, b`), table rows (first cell: `` `name` ``) or list items (`` - `name` — ``).
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {distEntry, repoRoot} from './helpers.js';

type Section = {heading: string; names: string[]; body: string[]};

const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
const lines = readme.split('\n');

/** The `###` sections whose heading names functions: `### checkPort(port, options?) / checkPortSync(...)`. */
function functionSections(): Section[] {
  const sections: Section[] = [];
  let current: Section | undefined;
  let fence = false;
  for (const line of lines) {
    if (line.startsWith('```')) {
      fence = !fence;
    }

    if (!fence && /^#{1,3} /.test(line)) {
      current = undefined;
      const heading = /^### (.+)$/.exec(line)?.[1];
      if (heading !== undefined && /^\w+\(/.test(heading)) {
        const names = heading.split(' / ').map((part) => /^(\w+)/.exec(part)![1]!);
        current = {heading, names, body: []};
        sections.push(current);
      }
    } else if (current) {
      current.body.push(line);
    }
  }

  return sections;
}

/** The error classes listed under `### Errors`: `` - `PortBusyError` — ... ``. */
function documentedErrors(): string[] {
  const start = lines.indexOf('### Errors');
  const names: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (/^#{1,3} /.test(line)) {
      break;
    }

    const name = /^- `(\w+Error)`/.exec(line)?.[1];
    if (name !== undefined) {
      names.push(name);
    }
  }

  return names;
}

/** The backticked names at the start of an options line, or [] when it documents none. */
function optionNamesOf(line: string): string[] {
  const backticked = (text: string) => [...text.matchAll(/`(\w+)`/g)].map((m) => m[1]!);
  const heading = /^##### (.+)$/.exec(line)?.[1];
  if (heading !== undefined) {
    return heading.split(',').map((name) => name.trim());
  }

  const cell = /^\| *(`\w+`(?:, *`\w+`)*) *\|/.exec(line)?.[1];
  if (cell !== undefined) {
    return backticked(cell);
  }

  const item = /^- (`\w+`(?:, *`\w+`)*) —/.exec(line)?.[1];
  return item === undefined ? [] : backticked(item);
}

/** The options documented under the section's `#### options`; undefined without one. */
function documentedOptions(section: Section): string[] | undefined {
  const start = section.body.findIndex((line) => /^#### options$/i.test(line));
  if (start === -1) {
    return undefined;
  }

  const names: string[] = [];
  for (const line of section.body.slice(start + 1)) {
    if (/^#{1,4} /.test(line)) {
      break;
    }

    names.push(...optionNamesOf(line));
  }

  return names;
}

const pw = (await import(distEntry)) as Record<string, (...args: unknown[]) => unknown>;

/** A call of each function that takes options, with `options` in the place of its options. */
const withOptions: Record<string, (options: Record<string, unknown>) => unknown> = {
  checkPort: (o) => pw.checkPort!(1, o),
  checkPortSync: (o) => pw.checkPortSync!(1, o),
  probePort: (o) => pw.probePort!(1, o),
  probePortSync: (o) => pw.probePortSync!(1, o),
  pidsOnPort: (o) => pw.pidsOnPort!(1, o),
  pidsOnPortSync: (o) => pw.pidsOnPortSync!(1, o),
  waitForPortFree: (o) => pw.waitForPortFree!(1, o),
  waitForPortFreeSync: (o) => pw.waitForPortFreeSync!(1, o),
  waitForListening: (o) => pw.waitForListening!(1, o),
  waitForExit: (o) => pw.waitForExit!(1, o),
  waitForExitSync: (o) => pw.waitForExitSync!(1, o),
  terminate: (o) => pw.terminate!([1], o),
  terminateSync: (o) => pw.terminateSync!([1], o),
  freePort: (o) => pw.freePort!(1, o),
  freePortSync: (o) => pw.freePortSync!(1, o),
  claimPidFile: (o) => pw.claimPidFile!('unused.pid', o),
  markStopping: (o) => pw.markStopping!('unused.stopping', o),
  claimInstance: (o) => pw.claimInstance!({pidFile: 'unused.pid', ...o}),
  restartService: (o) =>
    pw.restartService!({manager: 'command', stop: ['x'], start: ['x'], port: 1}, o),
  stopService: (o) => pw.stopService!({manager: 'command', stop: ['x'], port: 1}, o),
  startService: (o) => pw.startService!({manager: 'command', start: ['x'], port: 1}, o),
  listenTarget: (o) => pw.listenTarget!(1, o),
  serve: (o) => pw.serve!({port: 1, command: ['x'], ...o}),
  requestReload: (o) => pw.requestReload!(1, o),
};

/** The options the function accepts, from the error an unknown one gets. */
async function acceptedOptions(name: string): Promise<string[]> {
  const unknown = 'notAnOptionOfAnyCall';
  let error: unknown;
  try {
    await withOptions[name]!({[unknown]: true});
  } catch (error_) {
    error = error_;
  }

  expect(error, name).toBeInstanceOf(TypeError);
  const message = (error as Error).message;
  expect(message, name).toContain(`Unknown option '${unknown}' for ${name}; expected one of `);
  return message.slice(message.indexOf('expected one of ') + 16).split(', ');
}

const sections = functionSections();

describe('README API reference', () => {
  it('documents every export, and only exports', () => {
    const documented = [...sections.flatMap((s) => s.names), ...documentedErrors()];
    expect(new Set(documented).size, 'a name documented twice').toBe(documented.length);
    expect(documented.sort()).toEqual(Object.keys(pw).sort());
  });

  it('reads the README (a control): headings, errors, and each options format', () => {
    expect(sections.find((s) => s.names.includes('readStopping'))?.names).toEqual([
      'markStopping',
      'isStopping',
      'readStopping',
      'clearStopping',
    ]);
    expect(documentedErrors()).toContain('TerminateAggregateError');
    const options = (name: string) => documentedOptions(sections.find((s) => s.names[0] === name)!);
    expect(options('probePort')).toContain('attemptTimeout'); // `##### backend, attemptTimeout, signal`
    expect(options('serve')).toContain('readyTimeout'); // a table row
    expect(options('terminate')).toContain('allowOtherUsers'); // a list item
    expect(options('processInfo')).toBeUndefined();
  });

  it('documents options exactly for the functions that take them', () => {
    const documented = sections
      .filter((s) => documentedOptions(s) !== undefined)
      .flatMap((s) => s.names)
      .filter(
        (name) => !['isStopping', 'readStopping', 'clearStopping', 'servePidFile'].includes(name),
      );
    expect(documented.sort()).toEqual(Object.keys(withOptions).sort());
  });

  for (const section of sections) {
    const documented = documentedOptions(section);
    const names = section.names.filter((name) => name in withOptions);
    if (documented === undefined || names.length === 0) {
      continue;
    }

    it(`${section.names.join(' / ')}: the documented options are the accepted ones`, async () => {
      expect(new Set(documented).size, 'an option documented twice').toBe(documented.length);
      for (const name of names) {
        // A sync twin takes the same options but the AbortSignal.
        const expected = name.endsWith('Sync')
          ? documented.filter((option) => option !== 'signal')
          : documented;
        expect((await acceptedOptions(name)).sort(), name).toEqual([...expected].sort());
      }
    });
  }
});
