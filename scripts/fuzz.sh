#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ (clang, -fsanitize=fuzzer,address,undefined)
# and runs each for FUZZ_SECONDS (default 60) from its seed corpus fuzz/corpus/<name>/.
# Any crash, sanitizer report, broken invariant (CHECK in the harness), timeout (> 5 s for
# one input) or out-of-memory fails the run; the input is saved in build-fuzz/artifacts/.
# New inputs the fuzzer finds go to build-fuzz/corpus/<name>/ (the committed seeds are
# only read). Replay a crash: build-fuzz/<name> build-fuzz/artifacts/<name>-crash-...
#
#   bash scripts/fuzz.sh                  build and run every harness
#   bash scripts/fuzz.sh inet_diag ...    only these harnesses
#   bash scripts/fuzz.sh --capture        rewrite fuzz/corpus/ from this machine's kernel
#                                         (fuzz/capture.cc) and the documented layouts
# Needs clang with libFuzzer (Debian: clang, libclang-rt-14-dev).
set -euo pipefail
cd "$(dirname "$0")/.."

out=build-fuzz
mkdir -p "$out"

if [ "${1:-}" = --capture ]; then
	"${CXX:-c++}" -std=c++17 -O1 -Wall -Wextra -o "$out/capture" fuzz/capture.cc
	# Regression inputs (regress-*: inputs that once failed) are kept.
	find fuzz/corpus -type f ! -name "regress-*" -delete 2>/dev/null || true
	"$out/capture" fuzz/corpus
	exit 0
fi

seconds=${FUZZ_SECONDS:-60}
cxx=${FUZZ_CXX:-clang++}
if ! command -v "$cxx" >/dev/null; then
	echo "fuzz: $cxx not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
	exit 1
fi

# harness -> the parser sources it links
declare -A sources=(
	[inet_diag]="native/parse/netlink.cc"
	[unix_diag]="native/parse/netlink.cc"
	[procfs]="native/parse/procfs.cc"
	[pidfile]="native/parse/pidfile.cc native/parse/procfs.cc"
	[darwin_fdinfo]="native/parse/darwin.cc"
	[darwin_pcblist]="native/parse/darwin.cc"
	[darwin_procargs]="native/parse/darwin.cc"
)
order=(inet_diag unix_diag procfs pidfile darwin_fdinfo darwin_pcblist darwin_procargs)
if [ "$#" -gt 0 ]; then
	order=("$@")
fi

flags=(-std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=all -Wall -Wextra)
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

passed=0
failed=0
summary=()
for name in "${order[@]}"; do
	srcs=${sources[$name]:-}
	if [ -z "$srcs" ]; then
		echo "fuzz: unknown harness $name" >&2
		exit 64
	fi
	missing=
	for s in $srcs; do [ -f "$s" ] || missing=$s; done
	if [ -n "$missing" ]; then
		echo "fuzz: $name skipped: $missing does not exist"
		continue
	fi

	# shellcheck disable=SC2086
	"$cxx" "${flags[@]}" "fuzz/$name.cc" $srcs -o "$out/$name"
	mkdir -p "$out/corpus/$name" "$out/artifacts" "fuzz/corpus/$name"
	log=$out/$name.log
	status=0
	"$out/$name" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix="$out/artifacts/$name-" \
		"$out/corpus/$name" "fuzz/corpus/$name" >"$log" 2>&1 || status=$?
	seeds=$(find "fuzz/corpus/$name" -type f | wc -l)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	last=$( (grep -E '^#[0-9]+' "$log" || true) | tail -1 | sed -E 's/^#[0-9]+[[:space:]]+[A-Z]+[[:space:]]+//')
	line="$name: ${seconds}s, $seeds seeds, ${execs:-?} execs, ${last:-no stats}"
	if [ "$status" -eq 0 ]; then
		passed=$((passed + 1))
		summary+=("ok   $line")
	else
		failed=$((failed + 1))
		summary+=("FAIL $line (exit $status, log $log)")
		echo "fuzz: $name failed; the end of its log:" >&2
		tail -60 "$log" >&2
	fi
done

printf '%s\n' "${summary[@]}"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
