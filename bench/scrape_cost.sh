#!/usr/bin/env bash
# What one /metrics scrape costs holdfastd (docs/bench.md, "Metrics scrape cost"):
#   1. idle: SCRAPES scrapes back to back; CPU time of the metrics thread and of the whole process
#      per scrape (from /proc/PID/task/*/schedstat, nanoseconds);
#   2. under load: holdfast-bench (holds workload) for DURATION s without scraping, with a scrape
#      every second (what Prometheus does at a 1 s interval) and with scrapes back to back (the
#      worst case), and the throughput of each.
# Release build in build-release (set up when missing). Loopback only; everything it starts is
# stopped on exit.
#   [ROUNDS=3] bench/scrape_cost.sh [SCRAPES=1000] [DURATION=5]   (ROUNDS: load rounds, medians)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/compare/lib.sh
scrapes=${1:-1000}
duration=${2:-5}
build=build-release
ensure_build "$build"
tmp=$(mktemp -d /tmp/hf-scrape-cost.XXXXXX)
scraper=
trap '[ -n "$scraper" ] && kill "$scraper" 2>/dev/null; cleanup_servers; rm -rf "$tmp"' EXIT

port=$(free_ports 3)
mport=$((port + 2))
start_holdfastd "$build" "$port" 2 "$tmp" none --metrics-listen "127.0.0.1:$mport"
pid=$STARTED_PID
url="http://127.0.0.1:$mport/metrics"

# Sum of schedstat CPU ns over the process's threads; with a name, only the threads so named.
cpu_ns() {
	local want=${1:-} t sum=0 name ns
	for t in /proc/$pid/task/*; do
		name=$(cat "$t/comm")
		[ -n "$want" ] && [ "$name" != "$want" ] && continue
		read -r ns _ <"$t/schedstat"
		sum=$((sum + ns))
	done
	echo "$sum"
}

curl -sf "$url" -o "$tmp/one.txt"
echo "scrape: $(wc -c <"$tmp/one.txt") bytes, $(grep -vc '^#' "$tmp/one.txt") samples (2 shards)"
m0=$(cpu_ns hf-metrics)
p0=$(cpu_ns)
t0=$(date +%s%N)
# One curl for many URLs: its connections are sequential (Connection: close on every answer).
urls=()
for ((i = 0; i < scrapes; i++)); do urls+=("$url"); done
curl -sf "${urls[@]}" >/dev/null
t1=$(date +%s%N)
m1=$(cpu_ns hf-metrics)
p1=$(cpu_ns)
echo "idle: $scrapes scrapes in $(((t1 - t0) / 1000000)) ms;" \
	"metrics thread $(((m1 - m0) / scrapes / 1000)) us CPU per scrape," \
	"whole process $(((p1 - p0) / scrapes / 1000)) us CPU per scrape"

run_bench() {
	"$build/bench/holdfast-bench" --host "127.0.0.1:$port" --workload holds --connections 8 \
		--pipeline 16 --duration "$duration" --no-progress --json 2>/dev/null |
		grep -o '"ok_per_s": [0-9.]*' | tail -1 | awk '{print $2}'
}

# A fresh server for each run: the holds of one run do not weigh on the next.
fresh_server() {
	cleanup_servers
	rm -rf "$tmp/data"
	start_holdfastd "$build" "$port" 2 "$tmp" none --metrics-listen "127.0.0.1:$mport"
	pid=$STARTED_PID
}

# One load run with a scraper mode: none, second (a scrape per second), b2b (back to back).
# Sets RUN_OUT to "ops/s scrapes metrics_thread_us_per_scrape" (not printed: a $(...) subshell
# would lose track of the server it starts).
load_run() {
	local mode=$1 r m0 m1 n
	fresh_server
	m0=$(cpu_ns hf-metrics)
	case $mode in
	second) (while :; do curl -sf "$url" -o /dev/null; sleep 1; done) & scraper=$! ;;
	b2b) (while :; do curl -sf "${urls[@]:0:100}" >/dev/null; done) & scraper=$! ;;
	esac
	r=$(run_bench)
	if [ -n "$scraper" ]; then
		kill "$scraper"
		wait "$scraper" 2>/dev/null || true
		scraper=
	fi
	m1=$(cpu_ns hf-metrics)
	n=$(curl -sf "$url" | awk '/^holdfast_metrics_scrapes_total/ {print $2}')
	RUN_OUT="$r $n $(((m1 - m0) / (n > 0 ? n : 1) / 1000))"
}

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# ROUNDS rounds, the three modes in a rotated order each round (the machine's load drifts).
rounds=${ROUNDS:-1}
modes=(none second b2b)
: >"$tmp/runs"
for ((k = 0; k < rounds; k++)); do
	for ((j = 0; j < 3; j++)); do
		mode=${modes[$(((j + k) % 3))]}
		load_run "$mode"
		out=$RUN_OUT
		echo "$mode $out" >>"$tmp/runs"
		echo "round $((k + 1)) $mode: ${out%% *} ops/s"
	done
done
for mode in none second b2b; do
	med=$(awk -v m="$mode" '$1 == m {print $2}' "$tmp/runs" | median)
	case $mode in
	none) echo "load, no scrapes: median $med ops/s" ;;
	second) echo "load, a scrape per second: median $med ops/s" ;;
	b2b)
		extra=$(awk '$1 == "b2b" {print $3 " scrapes, " $4 " us"}' "$tmp/runs" | tail -1)
		echo "load, scrapes back to back: median $med ops/s (last run: $extra of" \
			"metrics-thread CPU per scrape)"
		;;
	esac
done
curl -sf "$url" | grep '^holdfast_shard_stats_seconds'
