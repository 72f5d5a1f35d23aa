#!/usr/bin/env bash
# Goal: holdfast-bench runs an onsale against a real holdfastd end to end and its consistency check
# passes (every seat free, held or booked; no seat owned twice; the server's booked count equals
# the bench's acknowledged confirms).
# Method: start holdfastd (durability none, 2 shards, free loopback ports), run
# `holdfast-bench --workload onsale --seats 2000 --connections 4 --pipeline 8 --duration 3 --json`,
# require exit status 0 and "ok": true in the check object; stop the server on every exit path.
#   smoke.sh HOLDFASTD HOLDFAST_BENCH
set -euo pipefail
holdfastd=$1
bench=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../bench/compare/lib.sh"

tmp=$(mktemp -d /tmp/hf-bench-smoke.XXXXXX)
trap 'cleanup_servers; rm -rf "$tmp"' EXIT

# holdfastd lives in BUILD/engine; start_holdfastd wants the build directory.
build=$(cd "$(dirname "$holdfastd")/.." && pwd)
port=$(free_ports 2)
start_holdfastd "$build" "$port" 2 "$tmp" none
out=$tmp/bench.json
set +e
timeout 120 "$bench" --host "127.0.0.1:$port" --workload onsale --seats 2000 --connections 4 \
	--pipeline 8 --duration 3 --json --no-progress >"$out" 2>"$tmp/bench.err"
rc=$?
set -e
cat "$out"
if [ $rc -ne 0 ]; then
	echo "holdfast-bench exited $rc" >&2
	cat "$tmp/bench.err" >&2
	cat "$tmp/holdfastd.log" >&2 || true
	exit 1
fi
if ! grep -Eq '"check": \{"ran": true, "ok": true' "$out"; then
	echo "the check did not pass" >&2
	exit 1
fi
if ! grep -Eq '"hold": \{"ok_per_s": [0-9.]+, "ok": [1-9]' "$out"; then
	echo "no successful hold" >&2
	exit 1
fi
echo "smoke: PASS"
