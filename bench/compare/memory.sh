#!/usr/bin/env bash
# Server memory per seat: starts holdfastd (durability none, fresh), reads its VmRSS, creates one
# event of --seats seats with `holdfast-bench --workload create`, reads VmRSS again and prints the
# difference per seat. Optionally the same for Redis+Lua (--redis), whose create script allocates
# the seat bitmap. With --fill-ops N it then places N holds of 1-4 seats (2.5 on average) on that
# event (holds workload, same event id) and reads VmRSS again: the cost of a held seat.
#
#   bench/compare/memory.sh [--seats N] [--shards N] [--build DIR] [--redis] [--fill-ops N]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
. "$here/lib.sh"

seats=10000000 shards=2 with_redis=0 fill_ops=0
build=${HF_BUILD:-build-release}
while [ $# -gt 0 ]; do
	case $1 in
	--seats) seats=$2; shift 2 ;;
	--shards) shards=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--redis) with_redis=1; shift ;;
	--fill-ops) fill_ops=$2; shift 2 ;;
	-h|--help) sed -n '2,9p' "$0"; exit 0 ;;
	*) log "unknown option $1"; exit 2 ;;
	esac
done
ensure_build "$build"
tmp=$(mktemp -d /tmp/hf-memory.XXXXXX)
trap 'cleanup_servers; rm -rf "$tmp"' EXIT

report() { # name pid before_kib after_kib
	awk -v n="$1" -v b="$3" -v a="$4" -v s="$seats" 'BEGIN {
		printf "%s: RSS %.1f MiB before, %.1f MiB after one %d-seat event: %.2f bytes/seat\n",
			n, b / 1024, a / 1024, s, (a - b) * 1024 / s }'
}

port=$(free_ports "$shards")
start_holdfastd "$build" "$port" "$shards" "$tmp/holdfast" none
pid=$STARTED_PID
sleep 0.5
before=$(rss_kib "$pid")
"$build/bench/holdfast-bench" --host "127.0.0.1:$port" --workload create --events 1 \
	--seats "$seats" --row-width 100 --seed 1 --no-progress >/dev/null
sleep 0.2
after=$(rss_kib "$pid")
report holdfastd "$pid" "$before" "$after"
fill() { # target options...: N holds on the created event, prints the RSS growth per held seat
	local pid=$1
	shift
	local b a
	b=$(rss_kib "$pid")
	"$build/bench/holdfast-bench" "$@" --workload holds --events 1 --seats "$seats" \
		--row-width 100 --seed 1 --ops "$fill_ops" --duration 600 --connections 8 \
		--pipeline 16 --no-progress >/dev/null
	sleep 0.2
	a=$(rss_kib "$pid")
	awk -v b="$b" -v a="$a" -v n="$fill_ops" 'BEGIN {
		printf "  after %d holds (~%d seats held): +%.1f MiB, %.1f bytes per held seat, %.0f per hold\n",
			n, n * 2.5, (a - b) / 1024, (a - b) * 1024 / (n * 2.5), (a - b) * 1024 / n }'
}
if [ "$fill_ops" -gt 0 ]; then
	fill "$pid" --host "127.0.0.1:$port"
fi
stop_pid "$pid"

if [ $with_redis -eq 1 ]; then
	ensure_redis
	port=$(free_ports 1)
	start_redis "$port" "$tmp/redis" none
	pid=$STARTED_PID
	sleep 0.2
	before=$(rss_kib "$pid")
	"$build/bench/holdfast-bench" --target redis --redis "127.0.0.1:$port" --workload create \
		--events 1 --seats "$seats" --row-width 100 --seed 1 --no-progress >/dev/null
	after=$(rss_kib "$pid")
	report redis-server "$pid" "$before" "$after"
	if [ "$fill_ops" -gt 0 ]; then
		fill "$pid" --target redis --redis "127.0.0.1:$port"
	fi
	stop_pid "$pid"
fi
