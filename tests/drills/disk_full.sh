#!/usr/bin/env bash
# Drill: the data disk fills up under write load.
# Goal: no acknowledged write is lost. What the operator sees is one of the two outcomes
# docs/operations.md names: the shard answers IO and counts holdfast_persist_errors_total
# (reads keep working), or librocksdb aborts the process on its own failed write (Debian builds
# it with assertions on) and the node is down; once space is freed the node writes again (after
# a restart in the second case) and every hold that was acknowledged is there.
# Method: a size-limited tmpfs (8 MiB, needs root) as the data directory; holdfastd (1 shard,
# fsync, --metrics-listen); 10 holds with the CLI, then fill the disk with a file and run
# holdfast-bench (holds) for 3 s; record the acknowledged holds; read /metrics or the exit status;
# remove the file, restart if needed, and count the live holds. Skips (77) without root.
#   disk_full.sh HOLDFASTD HOLDFAST_CLI HOLDFAST_BENCH
set -euo pipefail
drill=disk_full
holdfastd=$1
cli=$2
bench=$3
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
trap drill_cleanup EXIT

disk=$tmp/disk
mkdir -p "$disk"
if ! mount -t tmpfs -o size=8m tmpfs "$disk" 2>/dev/null; then
	echo "SKIP: cannot mount a tmpfs (needs root)" >&2
	exit 77
fi
DRILL_CLEANUPS+=("umount '$disk'")
port=$(free_ports 3)
mport=$((port + 2))
start_srv() {
	"$build/engine/holdfastd" --listen "127.0.0.1:$port" --shards 1 --data-dir "$disk/data" \
		--durability fsync --metrics-listen "127.0.0.1:$mport" --no-pin >>"$tmp/holdfastd.log" 2>&1 &
	pid=$!
	SERVER_PIDS+=("$pid")
	wait_port "$port" "$pid" || fail "holdfastd did not start (see the log)"
}
start_srv
hf event create 9 --seats 100000 >/dev/null
for ((i = 0; i < 10; i++)); do
	hf hold 9 --user $((i + 1)) --seats $i --id $((900 + i)) >/dev/null
done
dd if=/dev/zero of="$disk/filler" bs=64k >/dev/null 2>&1 || true
say "disk full: $(df -k "$disk" | awk 'NR == 2 {print $3 " KiB used, " $4 " KiB free"}'); loading"
set +e
timeout 60 "$bench" --host "127.0.0.1:$port" --workload holds --connections 2 --pipeline 8 \
	--duration 3 --no-progress --no-create --event-base 9 --events 1 --seats 100000 --json \
	>"$tmp/bench.json" 2>"$tmp/bench.err"
set -e
ok=$(grep -o '"hold": {"ok_per_s": [0-9.]*, "ok": [0-9]*' "$tmp/bench.json" | awk '{print $NF}')
ok=${ok:-0}
acked=$((10 + ok))
say "$acked holds acknowledged in all"

if kill -0 "$pid" 2>/dev/null; then
	errs=$(metric "$mport" holdfast_persist_errors_total)
	io=$(metric "$mport" 'holdfast_replies_total{shard="0",status="IO"')
	operator_sees "/metrics: holdfast_persist_errors_total $errs, IO replies $io, degraded $(metric "$mport" holdfast_degraded)"
	awk -v e="${errs:-0}" 'BEGIN { exit !(e > 0) }' || fail "the disk filled but no persist error"
	hf avail 9 >/dev/null || fail "reads stopped on a full disk"
	operator_sees "reads keep working: $(hf avail 9)"
	rm -f "$disk/filler"
	say "space freed"
	for ((i = 0; i < 50; i++)); do
		hf hold 9 --user 99999 --seats 99999 --id 99999 >/dev/null 2>&1 && break
		sleep 0.2
	done
	hf seats 9 99999 | grep -q held || fail "writes did not resume after space was freed"
	operator_sees "writes resume without a restart"
else
	set +e
	wait "$pid"
	rc=$?
	set -e
	operator_sees "holdfastd exited with status $rc; its log says: $(grep -m1 -E 'Assertion|ERROR' "$tmp/holdfastd.log" | cut -c1-160)"
	operator_sees "clients: $(hf avail 9 2>&1 || true)"
	rm -f "$disk/filler"
	say "space freed; restarting"
	start_srv
fi
live=$(wait_metric "$mport" holdfast_holds_live '>=' "$acked")
for ((i = 0; i < 10; i++)); do
	hf seats 9 $i | grep -q "held (hold $((900 + i)))" || fail "hold $((900 + i)) is lost"
done
operator_sees "after recovery: holdfast_holds_live $live >= $acked acknowledged holds; the first 10 by id"
say "PASS"
