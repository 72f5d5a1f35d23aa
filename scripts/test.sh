#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds with AddressSanitizer and
# UndefinedBehaviorSanitizer (system malloc, store invariant checks on) and runs every meson test.
#
#   scripts/test.sh                 the default suite (what CI runs; about 10 minutes or less)
#   HF_LONG=1 scripts/test.sh       also the long forms (soak, hundreds of crash kills); see docs/operations.md
#   scripts/test.sh --suite shards  any extra arguments go to `meson test` (and skip the fuzzing)
#
# Without arguments it then runs every libFuzzer harness for 30 s (scripts/fuzz.sh; 10 min each
# with HF_LONG=1) and fails when either part failed.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build=build-test
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" --werror -Dbuildtype=debug -Db_sanitize=address,undefined \
		-Dallocator=system -Dstore_checks=true >/dev/null
fi
ninja -C "$build"

log="$build/meson-logs/test-run.txt"
status=0
meson test -C "$build" --print-errorlogs --num-processes 2 "$@" 2>&1 | tee "$log" || status=$?
count() { awk -v k="$1" '$1 == k { print $2; exit }' "$log"; }
ok=$(count "Ok:"); fail=$(count "Fail:"); skipped=$(count "Skipped:"); timeout=$(count "Timeout:")
echo "tests: ${ok:-0} passed, $(( ${fail:-0} + ${timeout:-0} )) failed, ${skipped:-0} skipped"

if [ $# -eq 0 ]; then
	scripts/fuzz.sh || status=1
fi
exit "$status"
