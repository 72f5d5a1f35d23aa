#!/usr/bin/env bash
# CPU per operation of holdfast-bench and of holdfastd, measured from outside both
# (docs/bench.md, "What the bench costs"): for each bench binary given (default: the release build's)
# and each workload, RUNS runs against a fresh holdfastd (2 shards, durability none); the bench's
# CPU is its rusage (bash `times` of a subshell that only runs it), the server's the utime + stime
# of /proc/PID/stat over the run. Prints one line per run and the medians per (binary, workload).
# Release build in build-release (set up when missing). Loopback only; everything it starts is
# stopped on exit. The machine may be shared: the load average is printed with the figures.
#   bench/cpu_cost.sh [--runs 3] [--duration 5] [--connections 50] [--pipeline 16]
#                     [--workloads "ping holds"] [BENCH_BINARY...]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/compare/lib.sh
runs=3 duration=5 connections=50 pipeline=16 workloads="ping holds"
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--connections) connections=$2; shift 2 ;;
	--pipeline) pipeline=$2; shift 2 ;;
	--workloads) workloads=$2; shift 2 ;;
	-h|--help) sed -n '2,10p' "$0"; exit 0 ;;
	--*) log "unknown option $1"; exit 2 ;;
	*) break ;;
	esac
done
[[ $runs =~ ^[1-9][0-9]?$ ]] || { log "--runs 1..99"; exit 2; }
build=build-release
ensure_build "$build"
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=("$build/bench/holdfast-bench")
tmp=$(mktemp -d /tmp/hf-cpu-cost.XXXXXX)
trap 'cleanup_servers; rm -rf "$tmp"' EXIT
tck=$(getconf CLK_TCK)

# seconds of a bash `times` field such as 1m2.345s
secs() { awk -v t="$1" 'BEGIN { split(t, a, "m"); sub("s", "", a[2]); print a[1] * 60 + a[2] }'; }

one_run() {
	local bench=$1 workload=$2 k=$3 port pid t0 t1 out=$tmp/run.json
	port=$(free_ports 2)
	start_holdfastd "$build" "$port" 2 "$tmp/srv-$k" none --records-max 2097152
	pid=$STARTED_PID
	t0=$(cpu_ticks "$pid")
	local cpu
	cpu=$( (
		"$bench" --host "127.0.0.1:$port" --workload "$workload" --connections "$connections" \
			--pipeline "$pipeline" --duration "$duration" --json --no-progress >"$out" \
			2>"$tmp/bench.err" || echo "holdfast-bench exited $?" >&2
		times
	) | tail -1)
	t1=$(cpu_ticks "$pid")
	stop_pid "$pid"
	rm -rf "$tmp/srv-$k"
	local user sys
	read -r user sys <<<"$cpu"
	python3 - "$out" "$(secs "$user")" "$(secs "$sys")" "$((t1 - t0))" "$tck" "$bench" \
		"$workload" <<'PY'
import json, sys
out, user, sys_s, ticks, tck, bench, workload = sys.argv[1:]
try:
    r = json.load(open(out))
except ValueError:
    sys.exit("%s %s: no JSON report (see the bench's stderr)" % (bench, workload))
ops = sum(o["ok"] + o["refused"] + o["errors"] for o in r["ops"].values())
bench_s = float(user) + float(sys_s)
server_s = int(ticks) / int(tck)
print("%s %s ok_per_s %.0f ops %d bench_cpu_s %.2f server_cpu_s %.2f bench_us_per_op %.3f "
      "server_us_per_op %.3f" % (bench, workload, r["ok_per_s"], ops, bench_s, server_s,
                                 1e6 * bench_s / max(ops, 1), 1e6 * server_s / max(ops, 1)))
PY
}

log "load now: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs; a shared machine makes the figures noisy)"
for bench in "${benches[@]}"; do
	for workload in $workloads; do
		for ((k = 1; k <= runs; k++)); do
			one_run "$bench" "$workload" "$k" | tee -a "$tmp/lines" || true
		done
	done
done
log "load now: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$tmp/lines" <<'PY'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    vals = dict(zip(f[2::2], map(float, f[3::2])))
    rows.setdefault((f[0], f[1]), []).append(vals)
print("medians (%s)" % ", ".join("%s x%d" % (k[1], len(v)) for k, v in rows.items()))
for (bench, workload), vs in rows.items():
    med = {k: statistics.median(v[k] for v in vs) for k in vs[0]}
    print("%-40s %-6s ok/s %9.0f  bench us/op %.3f  server us/op %.3f" %
          (bench[-40:], workload, med["ok_per_s"], med["bench_us_per_op"],
           med["server_us_per_op"]))
PY
