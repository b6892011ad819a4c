/**
execa, loaded on first use. Loading it costs more than the rest of the package together, and
the probes, the PID files and most CLI commands never spawn a process.
*/
let loading: Promise<typeof import('execa')> | undefined;

export async function loadExeca(): Promise<typeof import('execa')> {
  loading ??= import('execa');
  return loading;
}
