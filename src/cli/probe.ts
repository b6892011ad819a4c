// who, check: one probe of a port.
import {checkPort, probePort} from '../probe.js';
import {parseChoice, parseDuration, parsePort} from './args.js';
import {EXIT, formatSocket, printStatus, report} from './output.js';
import type {CheckFlags, Runner, WhoFlags} from './spec.js';

const PROTOCOLS = ['tcp', 'udp'] as const;
const BACKENDS = ['auto', 'native', 'lsof'] as const;

/** The probe flags every probing command shares. */
export function probeFlags(values: {protocol: string; backend: string}) {
  return {
    protocol: parseChoice(values.protocol, '--protocol', PROTOCOLS),
    backend: parseChoice(values.backend, '--backend', BACKENDS),
  };
}

export const who: Runner<WhoFlags> = async (portTexts, values, io) => {
  const ports = portTexts.map((text) => parsePort(text));
  const reports = [];
  for (const port of ports) {
    reports.push(
      await probePort(port, {
        ...probeFlags(values),
        states: values.listen ? 'listen' : 'all',
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
    strict: values.strict,
    ...(values.host === undefined ? {} : {host: values.host}),
    ...(values.timeout === undefined ? {} : {attemptTimeout: parseDuration(values.timeout)}),
  });
  return printStatus(port, status, values, io);
};
