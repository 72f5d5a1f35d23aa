#!/usr/bin/env bash
# BATCH frames against plain pipelining, side by side in one run (docs/bench.md, "BATCH"): one
# fresh holdfastd (2 shards, the durability given), then RUNS rounds of the same holdfast-bench
# workload without and with --batch B (the order alternates between rounds), same connections and
# pipeline. Prints per run ok/s, the server's and the bench's CPU per op (--server-pid), and the
# medians of each side. Release build in build-release (set up when missing). Loopback only;
# everything it starts is stopped on exit. The machine may be shared: the load average is printed.
#   bench/batch_ab.sh [--runs 3] [--duration 5] [--connections 50] [--pipeline 16] [--batch 16]
#                     [--workload holds] [--durability none]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/compare/lib.sh
runs=3 duration=5 connections=50 pipeline=16 batch=16 workload=holds durability=none
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--connections) connections=$2; shift 2 ;;
	--pipeline) pipeline=$2; shift 2 ;;
	--batch) batch=$2; shift 2 ;;
	--workload) workload=$2; shift 2 ;;
	--durability) durability=$2; shift 2 ;;
	-h|--help) sed -n '2,9p' "$0"; exit 0 ;;
	*) log "unknown option $1"; exit 2 ;;
	esac
done
[[ $runs =~ ^[1-9][0-9]?$ ]] || { log "--runs 1..99"; exit 2; }
build=build-release
ensure_build "$build"
tmp=$(mktemp -d /tmp/hf-batch-ab.XXXXXX)
trap 'cleanup_servers; rm -rf "$tmp"' EXIT
port=$(free_ports 2)
start_holdfastd "$build" "$port" 2 "$tmp/data" "$durability"
pid=$STARTED_PID
bench=$build/bench/holdfast-bench
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"
printf '%-4s %-8s %12s %14s %14s\n' run batch ok/s server_us/op bench_us/op
: >"$tmp/rows"
for ((r = 1; r <= runs; r++)); do
	if ((r % 2)); then order="0 $batch"; else order="$batch 0"; fi
	for b in $order; do
		"$bench" --host "127.0.0.1:$port" --workload "$workload" --connections "$connections" \
			--pipeline "$pipeline" --batch "$b" --duration "$duration" --warmup 1 \
			--server-pid "$pid" --no-progress --json >"$tmp/out.json" 2>"$tmp/err" ||
			{ cat "$tmp/err" >&2; exit 1; }
		python3 - "$tmp/out.json" "$r" "$b" >>"$tmp/rows" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
cpu = d.get("cpu", {})
print(sys.argv[2], sys.argv[3], round(d["ok_per_s"]), cpu.get("server_us_per_op", 0),
      cpu.get("bench_us_per_op", 0))
PY
		tail -n1 "$tmp/rows" | awk '{printf "%-4s %-8s %12s %14.2f %14.2f\n", $1, $2, $3, $4, $5}'
	done
done
python3 - "$tmp/rows" "$batch" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for b in ("0", sys.argv[2]):
    sel = [r for r in rows if r[1] == b]
    med = lambda i: statistics.median(float(r[i]) for r in sel)
    print(f"median batch {b:>3}: {med(2):12.0f} ok/s  server {med(3):.2f} us/op  bench {med(4):.2f} us/op")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
