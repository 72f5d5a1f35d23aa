#!/usr/bin/env bash
# Drill: the network between clients and a node is cut, then restored.
# Goal: a client that gets no answer learns nothing about the outcome and resends with the same
# ids once the node is reachable: the resend returns one hold, never two; while cut, Prometheus
# sees the scrape time out (up == 0, HoldfastDown pending) and /health does not answer.
# Method: loopback only, so the cut is simulated by stopping the node (SIGSTOP): the kernel still
# takes the bytes but nothing answers, as with a black-holed path (only new connects still
# complete). holdfastd (1 shard, fsync, --metrics-listen) and a private Prometheus with
# docs/alerts.yml; stop the node; send a hold with a fixed id (--timeout 300); check the CLI's
# error, /health and the alert; SIGCONT; resend the same hold; check one hold of that id and
# holdfast_holds_live 1.
# Then the same cut in the middle of an on-sale: holdfast-bench (onsale, its own ledger of every
# acknowledged answer) runs 6 s while the node is cut off for 2.5 s; its consistency check must
# pass (no seat owned twice, the server's bookings equal the acknowledged confirms).
#   network_cut.sh HOLDFASTD HOLDFAST_CLI HOLDFAST_BENCH
set -euo pipefail
drill=network_cut
holdfastd=$1
cli=$2
bench=$3
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
require_prometheus
trap 'kill -CONT "${pid:-0}" 2>/dev/null || true; drill_cleanup' EXIT

port=$(free_ports 4)
mport=$((port + 2))
pport=$((port + 3))
start_holdfastd "$build" "$port" 1 "$tmp" fsync --metrics-listen "127.0.0.1:$mport"
pid=$STARTED_PID
start_prometheus "$tmp/prom" "$pport" "127.0.0.1:$mport" "$root/docs/alerts.yml"
hf event create 7 --seats 100 >/dev/null
expect_query "$pport" 'up{job="holdfast"}' 1 >/dev/null

say "cutting the node off (SIGSTOP)"
kill -STOP "$pid"
set +e
out=$("$cli" --host "127.0.0.1:$port" --timeout 300 hold 7 --user 1 --seats 5 --id 777 2>&1)
rc=$?
set -e
[ $rc -eq 2 ] || fail "a hold to a cut-off node exited $rc: $out"
operator_sees "client: '$out' (exit $rc): the outcome is unknown"
h=$(health "$mport")
[ "${h%% *}" = "000" ] || fail "/health answered through the cut: $h"
operator_sees "GET /health: no answer within 5 s"
expect_query "$pport" 'up{job="holdfast"}' 0 >/dev/null
st=$(wait_alert "$pport" HoldfastDown)
operator_sees "Prometheus: up = 0 (scrape timeout); alert HoldfastDown: $st"

say "network back (SIGCONT); the client resends with the same id"
kill -CONT "$pid"
out=$(hf hold 7 --user 1 --seats 5 --id 777)
operator_sees "client resend: $out"
hf seats 7 5 | grep -q "held (hold 777)" || fail "seat 5 is not held by hold 777"
held=$(hf --json avail 7 | python3 -c 'import json,sys; print(json.load(sys.stdin)["held"])')
[ "$held" = 1 ] || fail "$held seats held after the resend, expected 1"
live=$(wait_metric "$mport" holdfast_holds_live '>=' 1)
[ "$live" = 1 ] || fail "holdfast_holds_live is $live"
operator_sees "one hold of id 777, 1 seat held; holdfast_holds_live $live"
expect_query "$pport" 'up{job="holdfast"}' 1 >/dev/null
operator_sees "Prometheus: up = 1 again"

say "an on-sale with a 2.5 s cut in its middle"
"$bench" --host "127.0.0.1:$port" --workload onsale --seats 3000 --connections 4 --pipeline 8 \
	--duration 6 --no-progress >"$tmp/onsale.txt" 2>&1 &
bpid=$!
sleep 1.5
kill -STOP "$pid"
sleep 2.5
kill -CONT "$pid"
set +e
wait "$bpid"
brc=$?
set -e
operator_sees "holdfast-bench: $(grep -E '^(hold|confirm) ' "$tmp/onsale.txt" | awk '{print $1 ": " $3 " ok, " $5 " errors, max " $NF " us"}' | tr '\n' ';')"
operator_sees "$(grep -m1 '^check' "$tmp/onsale.txt" | cut -c1-200)"
[ $brc -eq 0 ] && grep -q '^PASS' "$tmp/onsale.txt" ||
	fail "the on-sale's consistency check failed across the cut (exit $brc)"
say "PASS"
