#!/usr/bin/env bash
# Drill: overload. More clients connect than a shard takes (--max-connections), while load runs.
# Goal: the shard keeps serving the connections it has, refuses the rest at once (the client sees
# a closed connection, not a hang), the metrics show it (connections at the cap, rejected
# connections counting, the endpoint still answering) and the alerts HoldfastConnectionsRejected
# and HoldfastConnectionsNearCap go pending or firing; once the clients leave, new ones are served.
# Method: holdfastd (1 shard, --max-connections 8, durability none, --metrics-listen) and a
# private Prometheus with docs/alerts.yml; open 12 idle TCP connections from this shell, run a
# short holdfast-bench on the connections left, try the CLI, read /metrics and the alerts; close
# the connections and check the CLI works again. Prints what an operator sees.
#   overload.sh HOLDFASTD HOLDFAST_CLI HOLDFAST_BENCH
set -euo pipefail
drill=overload
holdfastd=$1
cli=$2
bench=$3
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
require_prometheus
trap drill_cleanup EXIT
cap=8

port=$(free_ports 4)
mport=$((port + 2))
pport=$((port + 3))
start_holdfastd "$build" "$port" 1 "$tmp" none --max-connections $cap \
	--metrics-listen "127.0.0.1:$mport"
start_prometheus "$tmp/prom" "$pport" "127.0.0.1:$mport" "$root/docs/alerts.yml"
hf event create 1 --seats 100000 >/dev/null
# Prometheus must have scraped the healthy node once (a counter it first sees at 5 has not
# increased); the endpoint then holds its own connection to the shard.
expect_query "$pport" 'sum(holdfast_connections_rejected_total)' 0 >/dev/null
wait_metric "$mport" holdfast_connections '>=' 1 >/dev/null

say "opening 12 connections to a shard that takes $cap"
fds=()
for ((i = 0; i < 12; i++)); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$port"
	fds+=("$fd")
done
rejected=$(wait_metric "$mport" holdfast_connections_rejected_total '>=' 4)
open=$(metric "$mport" holdfast_connections)
[ "$open" = "$cap" ] || fail "holdfast_connections is $open, expected the cap $cap"
operator_sees "holdfast_connections $open of holdfast_connections_max $(metric "$mport" holdfast_connections_max); holdfast_connections_rejected_total $rejected"

set +e
out=$(hf ping 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] || fail "a new client was served past the cap"
operator_sees "a new client: '$out' (exit $rc)"
h=$(health "$mport")
operator_sees "GET /health: $h"
[ "${h%% *}" = "200" ] || fail "/health is not 200 at the cap: $h"

st=$(wait_alert "$pport" HoldfastConnectionsRejected)
operator_sees "alert HoldfastConnectionsRejected: $st"
st=$(wait_alert "$pport" HoldfastConnectionsNearCap)
operator_sees "alert HoldfastConnectionsNearCap: $st (fires after 1 minute at the cap)"

for fd in "${fds[@]}"; do
	exec {fd}>&-
done
say "the clients left"
wait_metric "$mport" holdfast_connections '<=' 1 >/dev/null
out=$(timeout 60 "$bench" --host "127.0.0.1:$port" --workload holds --connections 4 --pipeline 8 \
	--duration 1 --no-progress --no-create --event-base 1 --events 1 2>&1 | grep -E '^hold ' || true)
operator_sees "load after the clients left: $out"
hf ping >/dev/null || fail "the CLI is not served after the connections closed"
operator_sees "a new client is served again; holdfast_connections $(metric "$mport" holdfast_connections)"
say "PASS"
