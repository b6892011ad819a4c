// A sequential HTTP client for restart load runs (test/serve/load.test.ts and
// scripts/bench-serve.mjs): one GET per fresh connection to 127.0.0.1, `intervalMs` apart,
// until `until()` says stop, `maxMs` pass or `maxRequests` were made. Each answer's body is
// the serving pid. Loopback only, bounded in count and time.
import http from 'node:http';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function get(port, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = http.get(
      {host: '127.0.0.1', port, path: '/', agent: false, timeout: timeoutMs},
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d.toString()));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(Number(body))
            : reject(new Error(`HTTP ${res.statusCode}`)),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), {code: 'ETIMEDOUT'})));
    req.on('error', reject);
  });
}

/**
Resolves with {requests, ok, failed, failures: [{at, code}], pids: Map<pid, count>, ms}.
`at` is ms since the start of the loop.
*/
export async function clientLoop({
  port,
  intervalMs = 2,
  maxMs = 15_000,
  maxRequests = 10_000,
  requestTimeoutMs = 5000,
  until = () => false,
}) {
  const pids = new Map();
  const failures = [];
  let requests = 0;
  let ok = 0;
  const t0 = performance.now();
  while (!until() && performance.now() - t0 < maxMs && requests < maxRequests) {
    requests++;
    try {
      const pid = await get(port, requestTimeoutMs);
      pids.set(pid, (pids.get(pid) ?? 0) + 1);
      ok++;
    } catch (error) {
      failures.push({at: Math.round(performance.now() - t0), code: error.code ?? error.message});
    }

    await sleep(intervalMs);
  }

  return {requests, ok, failed: failures.length, failures, pids, ms: performance.now() - t0};
}
