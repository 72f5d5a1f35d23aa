#!/usr/bin/env bash
# Server memory per seat: starts holdfastd (durability none, fresh), reads its VmRSS, creates one
# event of --seats seats with `holdfast-bench --workload create`, reads VmRSS again and prints the
# difference per seat. Optionally the same for Redis+Lua (--redis), whose create script allocates
# the seat bitmap.
#
#   bench/compare/memory.sh [--seats N] [--shards N] [--build DIR] [--redis]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
. "$here/lib.sh"

seats=10000000 shards=2 with_redis=0
build=${HF_BUILD:-build-release}
while [ $# -gt 0 ]; do
	case $1 in
	--seats) seats=$2; shift 2 ;;
	--shards) shards=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--redis) with_redis=1; shift ;;
	-h|--help) sed -n '2,7p' "$0"; exit 0 ;;
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
	--seats "$seats" --row-width 100 --no-progress >/dev/null
sleep 0.2
after=$(rss_kib "$pid")
report holdfastd "$pid" "$before" "$after"
stop_pid "$pid"

if [ $with_redis -eq 1 ]; then
	ensure_redis
	port=$(free_ports 1)
	start_redis "$port" "$tmp/redis" none
	pid=$STARTED_PID
	sleep 0.2
	before=$(rss_kib "$pid")
	"$build/bench/holdfast-bench" --target redis --redis "127.0.0.1:$port" --workload create \
		--events 1 --seats "$seats" --row-width 100 --no-progress >/dev/null
	after=$(rss_kib "$pid")
	report redis-server "$pid" "$before" "$after"
	stop_pid "$pid"
fi
