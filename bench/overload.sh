#!/usr/bin/env bash
# Open-loop overload ladder (docs/bench.md "Overload in open loop"): one fresh holdfastd (2 shards,
# the given durability, --shed-after-ms SHED, a fresh data dir under /tmp) on loopback; first the
# closed-loop peak (holds, 50 connections x pipeline 16), then the same workload offered in open
# loop at K times that peak (pipeline 64, --client-retries 0 so that every BUSY reaches the bench)
# for each K. Stops the server by pid.
#
#   bench/overload.sh BUILD_DIR DURABILITY SHED_AFTER_MS DURATION [K...]
#   e.g. bench/overload.sh build-release fsync 10 5 1 2 3 5
#
# Prints one line per run: offered, admitted holds/s and its share of the peak, p50, p99, BUSY
# answers (bench errors), the shards' busy_shed and busy_pipeline_full, and the sends that were
# late by more than 1 ms (the bench could not keep up).
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
build=$1 mode=$2 shed=$3 duration=$4
shift 4
multiples=${*:-1 2 3 5}
bench=$build/bench/holdfast-bench
cli=$build/client/holdfast
dir=$(mktemp -d /tmp/hf-overload.XXXXXX)
port=$((20000 + RANDOM % 20000))
"$build/engine/holdfastd" --listen "127.0.0.1:$port" --shards 2 --durability "$mode" \
	--data-dir "$dir/data" --no-pin --log-level warn --shed-after-ms "$shed" \
	--records-max 4194304 2>"$dir/log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
	"$bench" --host "127.0.0.1:$port" --workload ping --duration 0.1 --no-progress \
		>/dev/null 2>&1 && break
	sleep 0.05
done
shards_stat() {
	"$cli" --host "127.0.0.1:$port" --json stats |
		python3 -c 'import json,sys; print(sum(s["stats"].get(sys.argv[1], 0) for s in json.load(sys.stdin)))' "$1"
}
run() { # OUT PIPELINE [more bench flags]
	local out=$1 pipeline=$2
	shift 2
	"$bench" --host "127.0.0.1:$port" --workload holds --connections 50 --pipeline "$pipeline" \
		--duration "$duration" --json --no-progress "$@" >"$out" 2>/dev/null || true
}
run "$dir/peak.json" 16
peak=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["ops"]["hold"]["ok_per_s"]))' "$dir/peak.json")
echo "closed-loop peak (50 x P16): $peak holds/s, shed-after-ms $shed, durability $mode"
for k in $multiples; do
	shed0=$(shards_stat busy_shed) full0=$(shards_stat busy_pipeline_full)
	run "$dir/k$k.json" 64 --rate $((k * peak)) --client-retries 0
	shed1=$(shards_stat busy_shed) full1=$(shards_stat busy_pipeline_full)
	python3 - "$dir/k$k.json" "$k" "$peak" $((shed1 - shed0)) $((full1 - full0)) <<'PY'
import json, sys
path, k, peak, shed, full = sys.argv[1:]
r = json.load(open(path))
h = r["ops"]["hold"]
ol = r.get("open_loop") or {}
print("%sx  admitted %8.0f/s  %4.0f %% of peak  p50 %8.1f ms  p99 %8.1f ms  BUSY %8d  "
      "busy_shed %8s  busy_pipeline_full %6s  sends_late %s"
      % (k, h["ok_per_s"], 100.0 * h["ok_per_s"] / max(1, int(peak)), h["p50_us"] / 1000.0,
         h["p99_us"] / 1000.0, h["errors"], shed, full, ol.get("sends_late")))
PY
done
