#!/usr/bin/env bash
# Side by side: the same holdfast-bench workload against holdfastd and against Redis+Lua, with
# matching durability, on loopback. Each of --runs runs starts both servers fresh, loads each in turn
# (alternating which goes first), and stops them; the summary shows the medians and the ratio
# holdfast / redis per operation, and the server CPU time each run used (the bench shares the
# machine's CPUs with the servers, so ops per server-CPU-second is the fairer efficiency figure).
#
#   bench/compare/run.sh [--workload onsale|holds|avail|mixed|ping] [--connections N] [--pipeline P]
#                        [--duration S] [--durability none|wal|fsync] [--runs K] [--shards N]
#                        [--build DIR] [--out DIR] [--targets "holdfast redis"]
#                        [-- more holdfast-bench options]
#
# Durability: none <-> redis without RDB/AOF; wal <-> appendonly, appendfsync everysec;
# fsync <-> appendonly, appendfsync always. The release build comes from --build (or $HF_BUILD,
# default build-release, set up with -Dbuildtype=release -Dtests=false when missing).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
. "$here/lib.sh"

workload=holds connections=50 pipeline=16 duration=10 durability=none runs=3 shards=2
build=${HF_BUILD:-build-release}
out=""
targets="holdfast redis"
extra=()
while [ $# -gt 0 ]; do
	case $1 in
	--workload) workload=$2; shift 2 ;;
	--connections) connections=$2; shift 2 ;;
	--pipeline) pipeline=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--durability) durability=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--shards) shards=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--targets) targets=$2; shift 2 ;;
	--) shift; extra=("$@"); break ;;
	-h|--help) sed -n '2,14p' "$0"; exit 0 ;;
	*) log "unknown option $1"; exit 2 ;;
	esac
done
case $durability in none|wal|fsync) ;; *) log "--durability none|wal|fsync"; exit 2 ;; esac
[[ $runs =~ ^[1-9][0-9]?$ ]] || { log "--runs 1..99"; exit 2; }

ensure_redis
ensure_build "$build"
command -v python3 >/dev/null || { log "python3 is needed for the summary"; exit 2; }

tmp=$(mktemp -d /tmp/hf-compare.XXXXXX)
[ -n "$out" ] || out=$tmp/results
mkdir -p "$out"
# Server logs stay next to the results (srv/); only the servers are cleaned up.
trap 'cleanup_servers' EXIT
trap 'exit 130' INT TERM

bench=("$build/bench/holdfast-bench" --workload "$workload" --connections "$connections"
	--pipeline "$pipeline" --duration "$duration" --json --no-progress "${extra[@]}")
log "$workload, $connections connections x pipeline $pipeline, ${duration}s, durability $durability," \
	"$runs run(s), holdfastd with $shards shard(s); results in $out"
log "load now: $(cut -d' ' -f1-3 /proc/loadavg) (others' builds make the figures noisy)"

run_redis() {
	local k=$1 port pid
	port=$(free_ports 1)
	start_redis "$port" "$out/srv/redis-$k" "$durability"
	pid=$STARTED_PID
	local t0
	t0=$(cpu_ticks "$pid")
	"${bench[@]}" --target redis --redis "127.0.0.1:$port" --server-pid "$pid" \
		>"$out/redis-$k.json" ||
		log "redis run $k: holdfast-bench exited $?"
	echo "$(($(cpu_ticks "$pid") - t0)) $(getconf CLK_TCK)" >"$out/redis-$k.cpu"
	stop_pid "$pid"
}

run_holdfast() {
	local k=$1 port pid
	port=$(free_ports "$shards")
	# Room for the holds of a 10 s holds run (that workload never releases): 2M records per
	# shard. Much larger pools make start-up slow.
	start_holdfastd "$build" "$port" "$shards" "$out/srv/holdfast-$k" "$durability" \
		--records-max 2097152
	pid=$STARTED_PID
	local t0
	t0=$(cpu_ticks "$pid")
	"${bench[@]}" --host "127.0.0.1:$port" --server-pid "$pid" >"$out/holdfast-$k.json" ||
		log "holdfast run $k: holdfast-bench exited $?"
	echo "$(($(cpu_ticks "$pid") - t0)) $(getconf CLK_TCK)" >"$out/holdfast-$k.cpu"
	echo "$(rss_kib "$pid")" >"$out/holdfast-$k.rss_kib"
	stop_pid "$pid"
}

order=($targets)
for ((k = 1; k <= runs; k++)); do
	for t in "${order[@]}"; do
		case $t in
		holdfast) run_holdfast "$k" ;;
		redis) run_redis "$k" ;;
		*) log "unknown target $t"; exit 2 ;;
		esac
	done
	# Alternate which target goes first.
	order=($(printf '%s\n' "${order[@]}" | tac))
	log "run $k/$runs done"
done

python3 "$here/summary.py" "$out" "$runs"
