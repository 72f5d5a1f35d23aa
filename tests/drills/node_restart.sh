#!/usr/bin/env bash
# Drill: a node killed (SIGKILL) under traffic and restarted.
# Goal: while it is down clients get a clear connection error and Prometheus sees the target
# down (HoldfastDown pending, then firing after 30 s); after the restart every acknowledged hold
# and booking is back (durability fsync), the metrics answer again with a fresh uptime, and the
# alert clears.
# Method: holdfastd (2 shards, fsync, --metrics-listen) and a private Prometheus with
# docs/alerts.yml; create an event, place 20 holds with the CLI and confirm 5 of them; kill -9
# the node; check the CLI error, /health unreachable, up == 0 and the alert; restart on the same
# data directory and ports; check every hold and booking with `holdfast seats` and /metrics.
#   node_restart.sh HOLDFASTD HOLDFAST_CLI
set -euo pipefail
drill=node_restart
holdfastd=$1
cli=$2
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
require_prometheus
trap drill_cleanup EXIT
holds=20
booked=5

port=$(free_ports 4)
mport=$((port + 2))
pport=$((port + 3))
start_holdfastd "$build" "$port" 2 "$tmp" fsync --metrics-listen "127.0.0.1:$mport"
pid=$STARTED_PID
start_prometheus "$tmp/prom" "$pport" "127.0.0.1:$mport" "$root/docs/alerts.yml"
hf event create 5 --seats 1000 >/dev/null
for ((i = 0; i < holds; i++)); do
	hf hold 5 --user $((i + 1)) --seats $i --id $((500 + i)) >/dev/null
done
for ((i = 0; i < booked; i++)); do
	hf confirm 5 $((500 + i)) >/dev/null
done
expect_query "$pport" 'sum(holdfast_holds_live)' $((holds - booked)) >/dev/null
start1=$(metric "$mport" holdfast_process_start_time_seconds)
say "$holds holds acknowledged, $booked of them confirmed; killing holdfastd (pid $pid) with SIGKILL"
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true

set +e
out=$(hf avail 5 2>&1)
rc=$?
set -e
[ $rc -eq 2 ] || fail "the CLI exited $rc against a dead node"
operator_sees "client: '$out' (exit $rc)"
h=$(health "$mport")
[ "${h%% *}" = "000" ] || fail "/health answered a dead node: $h"
operator_sees "GET /health: no answer (connection refused)"
expect_query "$pport" 'up{job="holdfast"}' 0 >/dev/null
operator_sees "Prometheus: up{job=\"holdfast\"} = 0"
st=$(wait_alert "$pport" HoldfastDown)
operator_sees "alert HoldfastDown: $st (fires after 30 s down)"

say "restarting on the same data directory"
forget_pid "$pid"
start_holdfastd "$build" "$port" 2 "$tmp" fsync --metrics-listen "127.0.0.1:$mport"
seats=$(hf --json seats 5 0-$((holds - 1)))
held=$(echo "$seats" | python3 -c 'import json,sys
s = json.load(sys.stdin)["seats"]
print(sum(1 for x in s if x["state"] == "held" and x["owner_id"] == 500 + x["seat"]))')
bk=$(echo "$seats" | python3 -c 'import json,sys
s = json.load(sys.stdin)["seats"]
print(sum(1 for x in s if x["state"] == "booked" and x["owner_id"] == 500 + x["seat"]))')
[ "$held" = $((holds - booked)) ] || fail "$held holds came back, expected $((holds - booked))"
[ "$bk" = $booked ] || fail "$bk bookings came back, expected $booked"
operator_sees "client after the restart: $held holds and $bk bookings, every one with its id"
wait_metric "$mport" holdfast_holds_live '>=' 0 >/dev/null
live=$(metric "$mport" holdfast_holds_live)
[ "$live" = $((holds - booked)) ] || fail "holdfast_holds_live is $live after the restart"
start2=$(metric "$mport" holdfast_process_start_time_seconds)
up_s=$(metric "$mport" 'holdfast_uptime_seconds{shard="0"')
operator_sees "/metrics: holdfast_holds_live $live, holdfast_seats{state=\"booked\"} $(metric "$mport" 'holdfast_seats{shard="0",state="booked"' ) + $(metric "$mport" 'holdfast_seats{shard="1",state="booked"'), uptime ${up_s} s, start time $start1 -> $start2"
expect_query "$pport" 'up{job="holdfast"}' 1 >/dev/null
for ((i = 0; i < PROM_WAIT_S * 4; i++)); do
	[ -z "$(prom_alert_state "$pport" HoldfastDown)" ] && break
	sleep 0.25
done
[ -z "$(prom_alert_state "$pport" HoldfastDown)" ] || fail "HoldfastDown did not clear"
operator_sees "Prometheus: up = 1 again, HoldfastDown cleared"
say "PASS"
