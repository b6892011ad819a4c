// free: stop every holder of a port, then wait until it is free.
import {freePort, type FreePortFilter} from '../free-port.js';
import {
  parseDuration,
  parseForceAfter,
  parsePid,
  parsePort,
  parseSignal,
  UsageError,
} from './args.js';
import {describeTerminated, EXIT, report} from './output.js';
import {probeFlags} from './probe.js';
import type {FreeFlags, Runner, Values} from './spec.js';

function filterOf(values: Values<FreeFlags>): FreePortFilter | undefined {
  const filter: {-readonly [K in keyof FreePortFilter]: FreePortFilter[K]} = {};
  if (values.filter !== undefined) {
    try {
      filter.command = new RegExp(values.filter);
    } catch {
      throw new UsageError(`Expected --filter to be a regular expression, got '${values.filter}'`);
    }
  }

  if (values['filter-pid'] !== undefined) {
    filter.pids = values['filter-pid'].map((p) => parsePid(p, '--filter-pid'));
  }

  if (values['filter-uid'] !== undefined) {
    const uid = values['filter-uid'];
    if (!/^\d+$/.test(uid)) {
      throw new UsageError(`Expected --filter-uid to be a uid, got '${uid}'`);
    }

    filter.uid = Number(uid);
  }

  return Object.keys(filter).length > 0 ? filter : undefined;
}

export const free: Runner<FreeFlags> = async (portTexts, values, io) => {
  const ports = portTexts.map((text) => parsePort(text));
  const filter = filterOf(values);
  const results = await freePort(ports, {
    ...probeFlags(values),
    ...(values.host === undefined ? {} : {host: values.host}),
    ...(values.timeout === undefined ? {} : {timeout: parseDuration(values.timeout)}),
    ...parseForceAfter(values['force-after']),
    killSignal: parseSignal(values.signal),
    dryRun: values['dry-run'],
    allowOtherUsers: values['allow-other-users'],
    ...(filter === undefined ? {} : {filter}),
  });
  report(
    io,
    values,
    [
      ...results.map((r) => describeTerminated(r)),
      ...(values['dry-run']
        ? []
        : [
            `port${ports.length > 1 ? 's' : ''} ${ports.join(', ')} ${ports.length > 1 ? 'are' : 'is'} free`,
          ]),
    ],
    results,
  );
  return EXIT.ok;
};
