#!/usr/bin/env bash
# Where an onsale run's tail comes from: one fresh holdfastd (2 shards unless flags say otherwise,
# durability none) and one `holdfast-bench --workload onsale --pick best --connections 50
# --pipeline 16` run; prints the bench's HOLD/AVAIL percentiles (client side: submit to answer)
# next to the shard's own (STATS lat_hold_*: parse to reply handed to the kernel), and how long the
# busiest server thread ran and waited in the CPU run queue over the run (/proc/PID/task/*/schedstat).
# A tail the server's own histogram does not show, or that follows the run-queue wait, is the
# machine's scheduling, not the server's work.
#
#   bench/onsale_tail.sh BUILD_DIR [HOLDFASTD_FLAG...]
#   e.g. bench/onsale_tail.sh build-release --shards 1
#   HF_BENCH_FLAGS="--threads 1" and HF_TASKSET="taskset -c 1" change the bench's side.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
build=$1
shift
dir=$(mktemp -d /tmp/hf-onsale.XXXXXX)
port=$((20000 + RANDOM % 20000))
"$build/engine/holdfastd" --listen "127.0.0.1:$port" --shards 2 --durability none \
	--data-dir "$dir/d" --log-level warn "$@" 2>"$dir/log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
	"$build/bench/holdfast-bench" --host "127.0.0.1:$port" --workload ping --duration 0.1 \
		--no-progress >/dev/null 2>&1 && break
	sleep 0.05
done
snap() { for t in /proc/$pid/task/*; do echo "$(basename "$t") $(cat "$t/schedstat")"; done; }
snap >"$dir/s0"
# shellcheck disable=SC2086 # the flags are words on purpose
${HF_TASKSET:-} "$build/bench/holdfast-bench" --host "127.0.0.1:$port" --workload onsale \
	--pick best --connections 50 --pipeline 16 --duration 10 --json --no-progress \
	${HF_BENCH_FLAGS:-} >"$dir/out.json" 2>/dev/null || true
snap >"$dir/s1"
"$build/client/holdfast" --host "127.0.0.1:$port" --json stats >"$dir/stats.json"
python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
r = json.load(open(d + "/out.json"))
h, a = r["ops"]["hold"], r["ops"]["avail"]
st = max(json.load(open(d + "/stats.json")), key=lambda s: s["stats"].get("ops_hold", 0))["stats"]
def load(p):
    return {l.split()[0]: [int(x) for x in l.split()[1:]] for l in open(p)}
s0, s1 = load(d + "/s0"), load(d + "/s1")
ran, waited, slices = max(((s1[t][0] - s0[t][0], s1[t][1] - s0[t][1], s1[t][2] - s0[t][2])
                           for t in s1 if t in s0), key=lambda x: x[0])
print("bench: hold p50 %.2f p99 %.2f max %.1f ms, avail p99 %.2f ms | server: hold p50 %.2f "
      "p99 %.2f p999 %.2f ms, avail p99 %.2f ms | busiest thread ran %.0f ms, waited %.0f ms in "
      "the run queue (%d slices) | t99 %s ms"
      % (h["p50_us"] / 1e3, h["p99_us"] / 1e3, h["max_us"] / 1e3, a["p99_us"] / 1e3,
         st["lat_hold_p50_us"] / 1e3, st["lat_hold_p99_us"] / 1e3, st["lat_hold_p999_us"] / 1e3,
         st["lat_avail_p99_us"] / 1e3, ran / 1e6, waited / 1e6, slices, r["sellout"]["t99_ms"]))
PY
