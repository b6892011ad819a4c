// The cold path: what a user pays before the first probe runs. Whole processes, timed from
// spawn to exit, run in turns (node -e 0, then each command, round after round) so that a
// drift in the machine's speed hits them alike; medians over the rounds.
//
//   import {measureColdStart} from './bench-cold.mjs';
//   const rows = await measureColdStart({rounds: 15, port});
import {spawn} from 'node:child_process';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'dist', 'bundle', 'bin.cjs');
const entry = path.join(root, 'dist', 'bundle', 'index.js');

/**
The environment of every timed process: this one's without NODE_EXTRA_CA_CERTS. Node 20 reads
that certificate file at start-up (about 45 ms on the machine of the README's figures), which
would add the same large sum to `node -e 0` and to every command and hide what the package
itself costs. `removed` names it when it was set, for the bench's report.
*/
export const coldEnv = (() => {
  const env = {...process.env};
  const removed = ['NODE_EXTRA_CA_CERTS'].filter((k) => env[k] !== undefined);
  for (const k of removed) delete env[k];
  return {env, removed};
})();

/** Wall time of one whole process in µs (stdout and stderr discarded). */
function timeProcess(file, args) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(file, args, {stdio: 'ignore', env: coldEnv.env});
    child.on('error', reject);
    child.on('exit', () => resolve(Number(process.hrtime.bigint() - start) / 1000));
  });
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/**
Rows for the results table: operation 'cold start' (each command once, vs `node -e 0`) and
'shell loop (20 calls)' (a bash loop doing 20 `portwarden check` calls vs 20 `lsof` calls,
what a shell wrapper pays). `hasSs`: whether ss exists here. `node`: the Node binary to time
(default this one), `scale`: the rows' label, `others`: whether to add lsof, ss and the shell
loop (for this machine's Node only).
*/
export async function measureColdStart({
  rounds,
  loopRounds,
  port,
  hasSs,
  node = process.execPath,
  scale = 'cold path',
  others = true,
}) {
  const commands = [
    {method: 'node -e 0', file: node, args: ['-e', '0'], baseline: true},
    {
      method: 'node -e "import(\'portwarden\')"',
      file: node,
      args: ['-e', `import(${JSON.stringify(entry)})`],
    },
    {method: 'portwarden check P', file: node, args: [bin, 'check', String(port)]},
    {method: 'portwarden who P --json', file: node, args: [bin, 'who', String(port), '--json']},
    ...(others
      ? [
          {
            method: 'spawn lsof -nP -iTCP:P -sTCP:LISTEN -t',
            file: 'lsof',
            args: ['-nP', `-iTCP:${port}`, '-sTCP:LISTEN', '-t'],
          },
          ...(hasSs
            ? [
                {
                  method: "spawn ss -ltnH 'sport = :P'",
                  file: 'ss',
                  args: ['-ltnH', `sport = :${port}`],
                },
              ]
            : []),
        ]
      : []),
  ];
  const loops = [
    {
      method: 'bash: 20 × portwarden check P',
      file: 'bash',
      args: [
        '-c',
        `for i in $(seq 20); do ${JSON.stringify(node)} ${JSON.stringify(bin)} check ${port} >/dev/null; done`,
      ],
      baseline: true,
    },
    {
      method: 'bash: 20 × lsof -iTCP:P -sTCP:LISTEN -t',
      file: 'bash',
      args: [
        '-c',
        `for i in $(seq 20); do lsof -nP -iTCP:${port} -sTCP:LISTEN -t >/dev/null; done`,
      ],
    },
  ];

  const rows = [];
  for (const [operation, list, n] of [
    ['cold start', commands, rounds],
    ...(others ? [['shell loop (20 calls)', loops, loopRounds]] : []),
  ]) {
    if (operation === 'cold start') {
      for (const c of list) await timeProcess(c.file, c.args); // warm-up (page cache)
    }

    const samples = list.map(() => []);
    for (let round = 0; round < n; round++) {
      for (const [i, c] of list.entries()) samples[i].push(await timeProcess(c.file, c.args));
    }

    const base = list.findIndex((c) => c.baseline);
    for (const [i, c] of list.entries()) {
      rows.push({
        scale,
        operation,
        method: c.method,
        medianUs: median(samples[i]),
        // Paired: the median of this round's time over the baseline's of the same round.
        ...(i === base
          ? {
              baseline: true,
              ...(coldEnv.removed.length > 0
                ? {note: `${coldEnv.removed.join(', ')} unset in every timed process`}
                : {}),
            }
          : {ratio: median(samples[i].map((us, round) => us / samples[base][round]))}),
      });
    }
  }

  return rows;
}
