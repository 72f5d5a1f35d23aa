#!/usr/bin/env bash
# Goal: holdfast-bench --workload onsale --waiting-room runs an on-sale through a real holdfastd's
# waiting room end to end and reports it: every seat sold, buyers admitted, buyers told SOLD_OUT
# while they waited, no errors; and --waiting-room=off runs the same buyers without a room.
# Method: start holdfastd (durability none, 1 shard, free loopback ports), run 600 buyers for 120
# seats with --room-shoppers 0.67 and then without the room, both --json; check the JSON's numbers
# with python3; stop the server on every exit path.
#   room.sh HOLDFASTD HOLDFAST_BENCH
set -euo pipefail
holdfastd=$1
bench=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../bench/compare/lib.sh"

tmp=$(mktemp -d /tmp/hf-bench-room.XXXXXX)
trap 'cleanup_servers; rm -rf "$tmp"' EXIT
build=$(cd "$(dirname "$holdfastd")/.." && pwd)
port=$(free_ports 1)
start_holdfastd "$build" "$port" 1 "$tmp" none

run() { # MODE OUT [more args]
	local mode=$1 out=$2
	shift 2
	set +e
	timeout 120 "$bench" --host "127.0.0.1:$port" --workload onsale --waiting-room="$mode" \
		--users 600 --seats 120 --duration 60 --json "$@" >"$out" 2>"$tmp/bench.err"
	local rc=$?
	set -e
	cat "$out"
	if [ $rc -ne 0 ]; then
		echo "holdfast-bench exited $rc" >&2
		cat "$tmp/bench.err" "$tmp/holdfastd.log" >&2 || true
		exit 1
	fi
}
run on "$tmp/on.json" --room-shoppers 0.67 --seed 7
run off "$tmp/off.json" --seed 8

python3 - "$tmp/on.json" "$tmp/off.json" <<'PY'
import json, sys
on = json.load(open(sys.argv[1]))
off = json.load(open(sys.argv[2]))
def need(cond, what):
    if not cond:
        sys.exit("room.sh: %s (on=%s off=%s)" % (what, on, off))
need(on["waiting_room"] == "on" and off["waiting_room"] == "off", "modes")
need(on["booked"] == 120 and on["sold_out_s"] > 0, "the room's sale sold out")
need(off["booked"] == 120 and off["sold_out_s"] > 0, "the sale without a room sold out")
need(on["joins"] == 600 and on["admitted"] >= 80, "joins and admissions")
need(on["sold_out"] > 0, "waiting buyers told SOLD_OUT")
need(on["error"] == 0 and on["transport_errors"] == 0, "no errors with the room")
need(on["holds"] < off["holds"], "the room sends fewer HOLDs than the flood")
need(on["admitted_found_nothing_pct"] < 25.0, "admitted buyers who found nothing")
PY
echo "room: PASS"
