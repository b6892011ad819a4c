#!/usr/bin/env bash
# `npm run test:asan`: the vitest suite against the AddressSanitizer + UBSan build of the
# addon (scripts/build-asan.sh), then the libFuzzer harnesses (scripts/fuzz.sh).
#
# The sanitizer runtime is preloaded into node (and so into every process the tests
# spawn). ASan reports are written to build-asan/logs/; UBSan (libubsan of g++ ignores
# log_path) prints to stderr and aborts the process. Any report fails the run, also one
# from a child process whose failure a test would have tolerated: the logs, and the run's
# output, are searched for reports at the end.
#
# Excluded from the sanitizer run:
#   test/package.test.ts  packs the package and runs two npm installs that compile the
#                         addon from source: minutes of compiler time, no addon code of
#                         ours runs under the sanitizer there.
#   test/soak.test.ts     measures RSS growth and per-call latency; ASan's quarantine
#                         (freed memory is held back on purpose) and its 2-3x slowdown
#                         make both figures meaningless. It runs in the normal suite.
#   test/services/        restart orchestration against systemd and a launchctl simulator:
#                         10+ minutes of restarts whose addon calls are the probe, wait and
#                         terminate calls the other files cover, with timing assertions
#                         (a simulated bootout delay) that the slowdown breaks.
#   test/bench.test.ts    a benchmark that spawns lsof, ss and others hundreds of times:
#                         over its 2-minute timeout under the sanitizer.
# Environment: SKIP_FUZZ=1 skips the fuzzing step; fuzz.sh reads FUZZ_SECONDS (default 60);
# SKIP_ASAN_BUILD=1 reuses build-asan/; arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [ "$(uname -s)" != Linux ]; then
	echo "test:asan: Linux only (the ASan runtime is preloaded with LD_PRELOAD); skipped"
	exit 0
fi

[ "${SKIP_ASAN_BUILD:-}" = 1 ] || bash scripts/build-asan.sh
npm run build:ts # dist/, which child processes of the tests import

addon=$root/build-asan/build/Release/portwarden.node
logs=$root/build-asan/logs
rm -rf "$logs"
mkdir -p "$logs"

export LD_PRELOAD=$(cat "$root/build-asan/runtime")
# detect_leaks=0: node and V8 keep allocations until exit by design, so LeakSanitizer
# would report them all; leaks of the addon are measured by test/soak.test.ts instead.
# handle_segv/sigbus/sigfpe=0: the runtime is preloaded into every process the tests start,
# and some tests make a process die by a signal on purpose (a fake lsof runs
# `kill -SEGV $$`); the process must die by it as it would without the sanitizer. Memory
# errors of the addon are still caught by the instrumentation, before any signal.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:detect_odr_violation=0:log_path=$logs/asan"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
export PORTWARDEN_ADDON_PATH=$addon

# The sanitizer build must really be the one the suite loads, and a testing build.
node --input-type=module -e "
  const {nativeBinding, nativeLoadError} = await import('./dist/native.js');
  if (!nativeBinding()) throw nativeLoadError();
  if (!nativeBinding().testing) throw new Error('the asan addon is not a testing build (portwarden_testing=1)');
  const maps = (await import('node:fs')).readFileSync('/proc/self/maps', 'utf8');
  if (!maps.includes('build-asan/build/Release/portwarden.node')) throw new Error('not the asan addon');
  if (!maps.includes('libasan')) throw new Error('libasan is not loaded');
"

status=0
npx vitest run \
	--exclude test/package.test.ts \
	--exclude test/soak.test.ts \
	--exclude 'test/services/**' \
	--exclude test/bench.test.ts \
	"$@" 2>&1 | tee "$logs/../test-asan.log" || status=$? # pipefail: vitest's status

unset LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS PORTWARDEN_ADDON_PATH
reports=0
if compgen -G "$logs/*" >/dev/null; then
	echo "test:asan: sanitizer reports:" >&2
	for f in "$logs"/*; do
		echo "==> $f" >&2
		cat "$f" >&2
	done
	reports=1
fi
if grep -n -E 'runtime error:|ERROR: AddressSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer' \
	"$logs/../test-asan.log" >&2; then
	echo "test:asan: sanitizer reports in the output (above)" >&2
	reports=1
fi
[ "$reports" -eq 0 ] || exit 1
if [ "$status" -ne 0 ]; then
	exit "$status"
fi
echo "test:asan: the suite passed under AddressSanitizer + UBSan with no report"

# The fuzzers: 60 s each (7 harnesses: about 7.5 minutes with the builds).
if [ "${SKIP_FUZZ:-}" != 1 ]; then
	bash scripts/fuzz.sh
fi
