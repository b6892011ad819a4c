// wait-free, wait-listen: one process for a whole wait.
import {waitForListening, waitForPortFree} from '../wait.js';
import {parseDuration, parsePid, parsePort} from './args.js';
import {EXIT, formatSocket, progressLine, report} from './output.js';
import {parseStates, probeFlags} from './probe.js';
import type {Runner, WaitFreeFlags, WaitListenFlags} from './spec.js';

export const waitFree: Runner<WaitFreeFlags> = async ([portText], values, io) => {
  const port = parsePort(portText);
  const progress = progressLine(io, values);
  try {
    const result = await waitForPortFree(port, {
      ...probeFlags(values),
      states: parseStates(values),
      ...(values.host === undefined ? {} : {host: values.host}),
      ...(values.timeout === undefined ? {} : {timeout: parseDuration(values.timeout)}),
      onProgress: progress.update,
    });
    progress.done();
    report(io, values, `port ${port} is free (after ${Math.round(result.elapsedMs)} ms)`, {
      status: 'free',
      ...result,
    });
    return EXIT.ok;
  } catch (error) {
    progress.done();
    throw error;
  }
};

export const waitListen: Runner<WaitListenFlags> = async ([portText], values, io) => {
  const port = parsePort(portText);
  const entry = await waitForListening(port, {
    ...probeFlags(values),
    ...(values.host === undefined ? {} : {host: values.host}),
    ...(values.timeout === undefined ? {} : {timeout: parseDuration(values.timeout)}),
    ...(values.pid === undefined ? {} : {pid: parsePid(values.pid, '--pid')}),
  });
  report(io, values, formatSocket(entry), entry);
  return EXIT.ok;
};
