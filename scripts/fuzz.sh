#!/usr/bin/env bash
# Runs the libFuzzer harnesses of tests/fuzz/ (frame decoders, store op apply, record decoder, the
# server's read path), each for a bounded time, in a clang build of their own (build-fuzz:
# ASan+UBSan, system malloc, store checks, coverage instrumentation everywhere). scripts/test.sh
# calls it after the meson suite.
#
#   scripts/fuzz.sh                    every harness 30 s (what CI runs)
#   HF_LONG=1 scripts/fuzz.sh          every harness 10 minutes
#   HF_FUZZ_SECONDS=N scripts/fuzz.sh  every harness N seconds
#   scripts/fuzz.sh store load         only the named harnesses
#
# Inputs that found new coverage go to build-fuzz/fuzz-run/corpus-<name> (kept between runs; the
# checked-in seeds under tests/fuzz/corpus/<name> are read, never written). A crash, a hang (one
# input over 10 s), a leak or a sanitizer report fails the run; the input is kept as
# build-fuzz/fuzz-run/crashes-<name>/crash-<sha1> (or timeout-, leak-, oom-) and the command that
# replays it is printed. Make it a regression test by copying it into tests/fuzz/corpus/<name>/
# once fixed: the default suite replays every file there. Exits 0 when no harness failed.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

all_harnesses=(frame store load server repl)
seconds=${HF_FUZZ_SECONDS:-30}
if [ "${HF_LONG:-0}" = "1" ] && [ -z "${HF_FUZZ_SECONDS:-}" ]; then
	seconds=600
fi
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] && harnesses=("${all_harnesses[@]}")
for h in "${harnesses[@]}"; do
	case " ${all_harnesses[*]} " in
	*" $h "*) ;;
	*) echo "fuzz: unknown harness '$h' (known: ${all_harnesses[*]})" >&2; exit 2 ;;
	esac
done

build=build-fuzz
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" --werror -Dbuildtype=debugoptimized \
		-Db_sanitize=address,undefined -Db_lundef=false -Dallocator=system -Dstore_checks=true \
		-Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all -fsanitize-coverage-ignorelist=$(pwd)/tests/fuzz/coverage-ignore.txt" >/dev/null
fi
targets=()
for h in "${harnesses[@]}"; do
	targets+=("tests/fuzz/fuzz_$h")
done
# grep reads all of ninja's output (no -q): an early exit would fail the pipe under pipefail.
if ! ninja -C "$build" -t targets all | grep '^tests/fuzz/fuzz_frame:' >/dev/null; then
	echo "fuzz: $build has no libFuzzer targets: clang cannot link -fsanitize=fuzzer" \
		"(install clang and libclang-rt-14-dev: scripts/install-deps.sh)" >&2
	exit 1
fi
ninja -C "$build" "${targets[@]}" >/dev/null

run="$build/fuzz-run"
mkdir -p "$run"
export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=()
for h in "${harnesses[@]}"; do
	corpus="$run/corpus-$h"
	crashes="$run/crashes-$h"
	log="$run/$h.log"
	mkdir -p "$corpus" "$crashes"
	status=0
	"$build/tests/fuzz/fuzz_$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" "tests/fuzz/corpus/$h" \
		>"$log" 2>&1 || status=$?
	runs=$(awk '/^stat::number_of_executed_units:/ { print $2 }' "$log")
	# A harness that dies before its first report has no "cov:" line: grep's status must not
	# end the script (pipefail) before the failure is reported.
	cov=$({ grep -o 'cov: [0-9]*' "$log" || true; } | tail -n 1 | awk '{ print $2 }')
	inputs=$(find "$corpus" -type f | wc -l)
	if [ "$status" -eq 0 ]; then
		echo "fuzz $h: ${seconds} s, ${runs:-?} runs, coverage ${cov:-?}, corpus $inputs inputs: ok"
	else
		failed+=("$h")
		echo "fuzz $h: FAILED (exit $status) after ${runs:-?} runs; log $log"
		grep -E '^(==[0-9]+==|SUMMARY|.*panic|.*assertion)' "$log" | head -n 20 || true
		for f in "$crashes"/*; do
			[ -f "$f" ] && echo "  kept $f; replay: build-test/tests/fuzz/replay_$h $f"
		done
	fi
done
echo "fuzz: ${#harnesses[@]} harnesses, ${seconds} s each, ${#failed[@]} failed${failed:+ (${failed[*]})}"
[ ${#failed[@]} -eq 0 ]
