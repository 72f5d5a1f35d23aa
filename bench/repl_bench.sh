#!/usr/bin/env bash
# bench/repl_bench.sh BUILD RUNS SECONDS: holds/s and latency of a 1-shard fsync primary with no
# replica, one async replica, one sync replica, all on this machine (runs alternate mode by mode).
#   meson setup build-release -Dbuildtype=release -Dtests=false && ninja -C build-release
#   bench/repl_bench.sh build-release 3 4
# Prints one line per run, and the primary's repl_* counters after each replicated run.
set -euo pipefail
B=$1; RUNS=$2; SECS=$3
W=$(mktemp -d)
run() { # mode
	local mode=$1 pp=$((20000 + RANDOM % 20000)) rp
	rp=$((pp + 1000))
	rm -rf "$W/p" "$W/r"
	local args=(--listen 127.0.0.1:$pp --shards 1 --data-dir "$W/p" --no-pin --log-level warn --records-max 4000000)
	[ "$mode" != none ] && args+=(--replication "$mode")
	"$B/engine/holdfastd" "${args[@]}" 2> "$W/p.log" & local ppid=$!
	local rpid=
	if [ "$mode" != none ]; then
		"$B/engine/holdfastd" --listen 127.0.0.1:$rp --shards 1 --data-dir "$W/r" --no-pin --log-level warn --records-max 4000000 --replica-of 127.0.0.1:$pp 2> "$W/r.log" & rpid=$!
	fi
	for i in $(seq 50); do "$B/client/holdfast" --host 127.0.0.1:$pp ping >/dev/null 2>&1 && break; sleep 0.1; done
	if [ -n "$rpid" ]; then
		for i in $(seq 100); do "$B/client/holdfast" --host 127.0.0.1:$pp --json stats 2>/dev/null | grep -q '"repl_in_sync":1' && break; sleep 0.1; done
	fi
	local out
	out=$("$B/bench/holdfast-bench" --host 127.0.0.1:$pp --workload holds --connections 20 --pipeline 16 --duration "$SECS" --warmup 1 --no-progress --json --server-pid $ppid 2>/dev/null || true)
	echo "$mode $out" | python3 -c '
import json,sys
mode,js=sys.stdin.read().split(" ",1); h=json.loads(js)["ops"]["hold"]
print("%-5s holds/s %8.0f  p50 %6.2f ms  p99 %6.2f ms  errors %d" % (mode, h["ok_per_s"], h["p50_us"]/1000, h["p99_us"]/1000, h["errors"]))' 2>/dev/null || echo "$mode raw: ${out:0:400}"
	[ -n "$rpid" ] && "$B/client/holdfast" --host 127.0.0.1:$pp --json stats | grep -o '"repl_[a-z_]*":[0-9]*' | tr '\n' ' ' && echo
	kill $ppid ${rpid:-} 2>/dev/null; wait $ppid ${rpid:-} 2>/dev/null || true
}
for r in $(seq "$RUNS"); do for m in none async sync; do run $m; done; done
rm -rf "$W"
