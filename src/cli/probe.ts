// who, check: one probe of a port.
import {checkPort, probePort} from '../probe.js';
import {parseChoice, parseDuration, parsePort} from './args.js';
import {EXIT, formatSocket, printStatus, report} from './output.js';
import type {CheckFlags, Runner, WhoFlags} from './spec.js';

const PROTOCOLS = ['tcp', 'udp'] as const;
const BACKENDS = ['auto', 'native', 'lsof'] as const;
const STATES = ['listen', 'all'] as const;

/** The probe flags every probing command shares. */
export function probeFlags(values: {protocol: string; backend: string}) {
  return {
    protocol: parseChoice(values.protocol, '--protocol', PROTOCOLS),
    backend: parseChoice(values.backend, '--backend', BACKENDS),
  };
}

/** `--states listen|all`: which sockets count (listed, or keep the port busy). */
export function parseStates(values: {states: string}): 'listen' | 'all' {
  return parseChoice(values.states, '--states', STATES);
}

export const who: Runner<WhoFlags> = async (portTexts, values, io) => {
  const ports = portTexts.map((text) => parsePort(text));
  const reports = [];
  for (const port of ports) {
    reports.push(
      await probePort(port, {
        ...probeFlags(values),
        states: parseStates(values),
        ...(values.timeout === undefined ? {} : {attemptTimeout: parseDuration(values.timeout)}),
      }),
    );
  }

  report(
    io,
    values,
    reports.flatMap((r) =>
      r.sockets.length === 0
        ? [`nothing on ${r.protocol} port ${r.port}`]
        : r.sockets.map((s) => formatSocket(s)),
    ),
    reports.length === 1 ? reports[0] : reports,
  );
  return reports.every((r) => r.sockets.length > 0) ? EXIT.ok : EXIT.no;
};

export const check: Runner<CheckFlags> = async ([portText], values, io) => {
  const port = parsePort(portText);
  const status = await checkPort(port, {
    ...probeFlags(values),
    states: parseStates(values),
    ...(values.host === undefined ? {} : {host: values.host}),
    ...(values.timeout === undefined ? {} : {attemptTimeout: parseDuration(values.timeout)}),
  });
  return printStatus(port, status, values, io);
};
