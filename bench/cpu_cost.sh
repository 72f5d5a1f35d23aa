#!/usr/bin/env bash
# CPU per operation of holdfast-bench and of holdfastd, and HOLD as a fraction of PING
# (docs/bench.md, "PING, HOLD and what the bench costs"): for each bench binary given (default: the
# release build's), RUNS runs; each run starts a fresh holdfastd (2 shards, durability none) and
# loads it with every workload in turn (default ping, then holds; the order alternates between
# runs), same connections and pipeline. CPU is measured from outside both: the bench's is its
# rusage (bash `times` of a subshell that only runs it), the server's the utime + stime of
# /proc/PID/stat over the run; the bench's own report (cpu.*, --server-pid) is printed next to
# it. Prints one line per run, then the medians and the median ratio hold/ping of ok/s.
# Release build in build-release (set up when missing). Loopback only; everything it starts is
# stopped on exit. The machine may be shared: the load average is printed with the figures.
#   bench/cpu_cost.sh [--runs 3] [--duration 5] [--connections 50] [--pipeline 16]
#                     [--workloads "ping holds"] [--no-server-pid] [BENCH_BINARY...]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/compare/lib.sh
runs=3 duration=5 connections=50 pipeline=16 workloads="ping holds" pid_flag=1
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--connections) connections=$2; shift 2 ;;
	--pipeline) pipeline=$2; shift 2 ;;
	--workloads) workloads=$2; shift 2 ;;
	--no-server-pid) pid_flag=0; shift ;; # for bench binaries without --server-pid
	-h|--help) sed -n '2,13p' "$0"; exit 0 ;;
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

# one_run BENCH WORKLOAD PID PORT: one load of the running server; prints the run's line.
one_run() {
	local bench=$1 workload=$2 pid=$3 port=$4 t0 t1 out=$tmp/run.json cpu
	local extra=()
	[ "$pid_flag" -eq 1 ] && extra=(--server-pid "$pid")
	t0=$(cpu_ticks "$pid")
	cpu=$( (
		"$bench" --host "127.0.0.1:$port" --workload "$workload" --connections "$connections" \
			--pipeline "$pipeline" --duration "$duration" --json --no-progress "${extra[@]}" \
			>"$out" 2>"$tmp/bench.err" || echo "holdfast-bench exited $?" >&2
		times
	) | tail -1)
	t1=$(cpu_ticks "$pid")
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
own = r.get("cpu") or {}
print("%s %s ok_per_s %.0f ops %d bench_cpu_s %.2f server_cpu_s %.2f bench_us_per_op %.3f "
      "server_us_per_op %.3f own_bench_us_per_op %.3f own_server_us_per_op %.3f" %
      (bench, workload, r["ok_per_s"], ops, bench_s, server_s, 1e6 * bench_s / max(ops, 1),
       1e6 * server_s / max(ops, 1), own.get("bench_us_per_op") or -1,
       own.get("server_us_per_op") or -1))
PY
}

# one_server BENCH K: a fresh server, every workload in turn (order alternating with K).
one_server() {
	local bench=$1 k=$2 port pid w order=($workloads)
	if [ $((k % 2)) -eq 0 ]; then
		order=($(printf '%s\n' "${order[@]}" | tac))
	fi
	port=$(free_ports 2)
	start_holdfastd "$build" "$port" 2 "$tmp/srv-$k" none --records-max 2097152
	pid=$STARTED_PID
	for w in "${order[@]}"; do
		one_run "$bench" "$w" "$pid" "$port" | tee -a "$tmp/lines" || true
	done
	stop_pid "$pid"
	rm -rf "$tmp/srv-$k"
}

log "load now: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs; a shared machine makes the figures noisy)"
log "$connections connections x pipeline $pipeline, ${duration}s, $runs run(s) of: $workloads"
for bench in "${benches[@]}"; do
	for ((k = 1; k <= runs; k++)); do
		one_server "$bench" "$k"
	done
done
log "load now: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$tmp/lines" <<'PY'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    vals = dict(zip(f[2::2], map(float, f[3::2])))
    rows.setdefault(f[0], {}).setdefault(f[1], []).append(vals)
for bench, per in rows.items():
    print("%s: medians of %s" % (bench, ", ".join("%s x%d" % (w, len(v)) for w, v in per.items())))
    for workload, vs in per.items():
        med = {k: statistics.median(v[k] for v in vs) for k in vs[0]}
        print("  %-6s ok/s %9.0f  bench us/op %.3f (own %.3f)  server us/op %.3f (own %.3f)" %
              (workload, med["ok_per_s"], med["bench_us_per_op"], med["own_bench_us_per_op"],
               med["server_us_per_op"], med["own_server_us_per_op"]))
    if "ping" in per and "holds" in per and len(per["ping"]) == len(per["holds"]):
        ratios = [h["ok_per_s"] / p["ok_per_s"] for h, p in zip(per["holds"], per["ping"])
                  if p["ok_per_s"] > 0]
        print("  hold/ping of ok/s, per run: %s; median %.2f" %
              (" ".join("%.2f" % r for r in ratios), statistics.median(ratios)))
PY
