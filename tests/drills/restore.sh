#!/usr/bin/env bash
# Drill: restore a node from a backup taken online.
# Goal: the restored node holds exactly the state at the backup (holds and bookings acknowledged
# before it, nothing after), serves at once, and its /metrics agree with what the client reads.
# Method: holdfastd (2 shards, fsync, --metrics-listen); an event, 12 holds with the CLI, 4 of
# them confirmed; `holdfast backup --to DIR`; 6 more holds after the backup; stop the node; start
# a second holdfastd with --restore-from DIR on a fresh data directory and other ports; compare
# `holdfast avail` and /metrics (seats by state, holds live) with the state at the backup.
#   restore.sh HOLDFASTD HOLDFAST_CLI
set -euo pipefail
drill=restore
holdfastd=$1
cli=$2
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
trap drill_cleanup EXIT

port=$(free_ports 3)
mport=$((port + 2))
start_holdfastd "$build" "$port" 2 "$tmp/a" fsync --metrics-listen "127.0.0.1:$mport" \
	--backup-root "$tmp"
first=$STARTED_PID
hf event create 3 --seats 500 >/dev/null
for ((i = 0; i < 12; i++)); do
	hf hold 3 --user $((i + 1)) --seats $i --id $((300 + i)) >/dev/null
done
for ((i = 0; i < 4; i++)); do
	hf confirm 3 $((300 + i)) >/dev/null
done
hf backup --to "$tmp/backup" >/dev/null
say "backup taken at 8 holds + 4 bookings: $(ls "$tmp/backup" | tr '\n' ' ')"
for ((i = 12; i < 18; i++)); do
	hf hold 3 --user $((i + 1)) --seats $i --id $((300 + i)) >/dev/null
done
say "6 more holds after the backup; stopping the node"
stop_pid "$first"
forget_pid "$first"

port=$(free_ports 3)
mport=$((port + 2))
start_holdfastd "$build" "$port" 2 "$tmp/b" fsync --restore-from "$tmp/backup" \
	--metrics-listen "127.0.0.1:$mport"
avail=$(hf --json avail 3)
operator_sees "client on the restored node: $avail"
echo "$avail" | python3 -c 'import json,sys
a = json.load(sys.stdin)
assert (a["free"], a["held"], a["booked"]) == (488, 8, 4), a' ||
	fail "the restored node is not the state at the backup"
hf seats 3 12 | grep -q free || fail "a hold made after the backup came back"
held=$(wait_metric "$mport" holdfast_holds_live '>=' 0)
booked=$(metric "$mport" holdfast_bookings)
sb=$(( $(metric "$mport" 'holdfast_seats{shard="0",state="booked"') + $(metric "$mport" 'holdfast_seats{shard="1",state="booked"') ))
operator_sees "/metrics on the restored node: holdfast_holds_live $held, holdfast_bookings $booked, booked seats $sb, durability fsync $(metric "$mport" 'holdfast_persist_durability{shard="0",mode="fsync"')"
[ "$held" = 8 ] && [ "$booked" = 4 ] && [ "$sb" = 4 ] || fail "/metrics disagree with the backup"
h=$(health "$mport")
[ "${h%% *}" = 200 ] || fail "/health on the restored node: $h"
operator_sees "GET /health: $h"
say "PASS"
