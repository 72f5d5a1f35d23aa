#!/usr/bin/env bash
# Moving one slot that holds a big event (docs/bench.md, "Moving a slot"): starts a private etcd
# and two holdfastd nodes (one shard each, durability fsync) on free loopback ports, creates the
# cluster, and runs move-bench, which fills the event and moves its slot to the other node while a
# client reads it. Everything it starts it stops by pid.
#
#   bench/move_bench.sh [BUILD_DIR]      (default build-release; extra move-bench flags in MOVE_BENCH_ARGS)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-release}
work=$(mktemp -d /tmp/hf-move-bench-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -n "${MOVE_BENCH_KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for SECONDS COMMAND...: polls the command until it succeeds
	local end=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || { echo "move_bench: timed out waiting for: $*" >&2; exit 1; }
		sleep 0.1
	done
}
ec=$(free_port); epp=$(free_port)
etcd --name b --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$ec" \
	--advertise-client-urls "http://127.0.0.1:$ec" --listen-peer-urls "http://127.0.0.1:$epp" \
	--initial-advertise-peer-urls "http://127.0.0.1:$epp" --initial-cluster "b=http://127.0.0.1:$epp" \
	>"$work/etcd.log" 2>&1 &
pids+=($!)
url="http://127.0.0.1:$ec"
wait_for 20 etcdctl --endpoints "$url" endpoint health
p1=$(free_port); p2=$(free_port)
for p in $p1 $p2; do
	"$build/engine/holdfastd" --listen "127.0.0.1:$p" --shards 1 --data-dir "$work/n$p" \
		--etcd "$url" --cluster bench >"$work/n$p.log" 2>&1 &
	pids+=($!)
done
wait_for 20 "$build/client/holdfast" --host "127.0.0.1:$p1" ping
wait_for 20 "$build/client/holdfast" --host "127.0.0.1:$p2" ping
# The nodes register in etcd (a lease each) before the cluster names them.
wait_for 20 bash -c "[ \$(etcdctl --endpoints '$url' get --prefix /holdfast/bench/nodes/ --keys-only | grep -c .) -ge 2 ]"
"$build/client/holdfast" --etcd "$url" --cluster bench cluster create "127.0.0.1:$p1" "127.0.0.1:$p2"
wait_for 20 bash -c "'$build/client/holdfast' --host 127.0.0.1:$p1 slots | grep -q 127.0.0.1:$p2"
# move-bench moves the event's slot to whichever of the two nodes does not own it.
"$build/bench/move-bench" --host "127.0.0.1:$p1" --etcd "$url" --cluster bench \
	--cli "$build/client/holdfast" --to "127.0.0.1:$p1/0,127.0.0.1:$p2/0" ${MOVE_BENCH_ARGS:-}
