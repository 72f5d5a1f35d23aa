#!/usr/bin/env bash
# Resident memory per live hold: for each build, a fresh holdfastd (1 shard, durability none,
# --records-max RECORDS) is loaded with the holds workload until HOLDS holds are live (1-4 seats
# each, never confirmed or released, 64 events of 100,000 seats); the server's VmRSS growth over
# the run divided by the holds. The tables sized by --records-max (the record table and the
# per-user index) are touched at random, so run with HOLDS close to RECORDS to see the cost of a
# hold in a full store rather than the tables' first touch.
#
#   bench/rss_hold.sh RECORDS HOLDS BUILD_DIR...
#   e.g. bench/rss_hold.sh 1048576 1000000 /tmp/old/build-release build-release
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
records=$1 holds=$2
shift 2
for build in "$@"; do
	dir=$(mktemp -d /tmp/hf-rss.XXXXXX)
	port=$((20000 + RANDOM % 20000))
	"$build/engine/holdfastd" --listen "127.0.0.1:$port" --shards 1 --durability none \
		--data-dir "$dir/data" --no-pin --log-level warn --records-max "$records" \
		2>"$dir/log" &
	pid=$!
	for _ in $(seq 1 100); do
		"$build/bench/holdfast-bench" --host "127.0.0.1:$port" --workload ping \
			--duration 0.1 --no-progress >/dev/null 2>&1 && break
		sleep 0.05
	done
	bench=$build/bench/holdfast-bench
	"$bench" --host "127.0.0.1:$port" --workload create --no-progress >/dev/null 2>&1 || true
	rss0=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
	"$bench" --host "127.0.0.1:$port" --workload holds --connections 8 --pipeline 16 \
		--ops "$holds" --duration 600 --json --no-progress >"$dir/out.json" 2>/dev/null || true
	rss1=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	python3 - "$build" "$dir/out.json" "$rss0" "$rss1" <<'PY'
import json, sys
build, path, rss0, rss1 = sys.argv[1:]
h = json.load(open(path))["ops"]["hold"]
grow = (int(rss1) - int(rss0)) * 1024.0
print("%-40s %9d holds live  RSS +%7.1f MiB  %5.0f B per hold"
      % (build, h["ok"], grow / 1048576.0, grow / max(1, h["ok"])))
PY
	rm -rf "$dir"
done
