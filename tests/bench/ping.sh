#!/usr/bin/env bash
# Goal: `holdfast-bench --workload ping` measures the protocol's own ceiling: every request is a
# PING, answered OK by the shard it was sent to, spread over every shard, and no event is created;
# the report gives the bench's CPU per op always and the server's when its pid is given.
# Method: start holdfastd (durability none, 2 shards, free loopback ports), run
# `holdfast-bench --workload ping --connections 4 --pipeline 8 --duration 2 --json --server-pid P`;
# require exit status 0, a "ping" entry with ok > 0 and no errors or refusals, no hold answered,
# each shard's ops_ping counter (holdfast stats) above zero, and numbers for
# cpu.bench_us_per_op and cpu.server_us_per_op; then the table output (no pid) names the ping row,
# prints the bench's CPU per op and no server figure.
# Invalid cases: --workload pong, and a --server-pid of no process, exit 2 with a clear message.
#   ping.sh HOLDFASTD HOLDFAST_BENCH
set -euo pipefail
holdfastd=$1
bench=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../bench/compare/lib.sh"

tmp=$(mktemp -d /tmp/hf-bench-ping.XXXXXX)
trap 'cleanup_servers; rm -rf "$tmp"' EXIT

fail() {
	echo "ping: FAIL: $*" >&2
	cat "$tmp/bench.err" >&2 2>/dev/null || true
	cat "$tmp/holdfastd.log" >&2 2>/dev/null || true
	exit 1
}

build=$(cd "$(dirname "$holdfastd")/.." && pwd)
port=$(free_ports 2)
start_holdfastd "$build" "$port" 2 "$tmp" none
out=$tmp/bench.json
set +e
timeout 60 "$bench" --host "127.0.0.1:$port" --workload ping --connections 4 --pipeline 8 \
	--duration 2 --json --no-progress --server-pid "$STARTED_PID" >"$out" 2>"$tmp/bench.err"
rc=$?
set -e
cat "$out"
[ $rc -eq 0 ] || fail "holdfast-bench exited $rc"
grep -Eq '"ping": \{"ok_per_s": [0-9.]+, "ok": [1-9][0-9]*, "refused": 0, "errors": 0' "$out" ||
	fail "no successful ping, or pings refused or failed"
grep -Eq '"hold": \{"ok_per_s": 0.0, "ok": 0, "refused": 0, "errors": 0' "$out" ||
	fail "the ping workload sent holds"
grep -q '"create"' "$out" && fail "the ping workload created events"
grep -Eq '"cpu": \{"bench_us_per_op": [0-9.]+, "server_us_per_op": [0-9.]+, ' "$out" ||
	fail "no CPU per op for the bench and the server"

# Both shards answered pings: the engine counts them per shard.
cli=$build/client/holdfast
if [ -x "$cli" ]; then
	stats=$("$cli" --host "127.0.0.1:$port" --json stats)
	for shard in 0 1; do
		n=$(printf '%s' "$stats" | python3 -c '
import json, sys
d = json.load(sys.stdin)
shard = int(sys.argv[1])
print(d[shard]["stats"]["ops_ping"])' "$shard" 2>/dev/null || echo "?")
		echo "shard $shard ops_ping: $n"
		[[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] || fail "shard $shard answered no ping ($n)"
	done
fi

timeout 60 "$bench" --host "127.0.0.1:$port" --workload ping --connections 2 --pipeline 4 \
	--duration 0.5 --no-progress >"$tmp/table.txt" 2>"$tmp/bench.err" || fail "table run failed"
cat "$tmp/table.txt"
grep -Eq '^ping +[0-9]+' "$tmp/table.txt" || fail "the table has no ping row"
grep -Eq '^cpu per op: bench [0-9.]+ us .*server - \(give --server-pid\)' "$tmp/table.txt" ||
	fail "the table has no CPU line"

set +e
"$bench" --host "127.0.0.1:$port" --workload ping --duration 1 --server-pid 4194304 \
	>"$tmp/bad.out" 2>"$tmp/bad.err"
rc=$?
set -e
[ $rc -eq 2 ] || fail "--server-pid of no process exited $rc, want 2"
grep -q -- "--server-pid 4194304: no such process" "$tmp/bad.err" || fail "no clear message for the pid"

set +e
"$bench" --workload pong >"$tmp/bad.out" 2>"$tmp/bad.err"
rc=$?
set -e
[ $rc -eq 2 ] || fail "--workload pong exited $rc, want 2"
grep -q "bad value 'pong' for --workload" "$tmp/bad.err" || fail "no clear message for pong"
echo "ping: PASS"
