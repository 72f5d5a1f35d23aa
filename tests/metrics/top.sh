#!/usr/bin/env bash
# Goal: `holdfast top` shows a live view of every shard of the slot map in a real terminal: totals
# per node and a line per shard, hold rates that follow the traffic, and `q` quits it; `holdfast
# stats` prints node totals before the per-shard detail and keeps its --json shape.
# Method: start holdfastd (2 shards, durability none, free loopback ports); run `holdfast top
# --interval 300` in a detached tmux session on a private socket (160x40); send holds with the CLI
# in the background; capture-pane until the shard owning the event shows hold/s > 0 (bounded);
# send-keys q and wait (bounded) for the session to end. Then run `holdfast stats` both ways.
#   top.sh HOLDFASTD HOLDFAST_CLI
set -euo pipefail
holdfastd=$1
cli=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/bench/compare/lib.sh"
if ! command -v tmux >/dev/null 2>&1; then
	"$root/scripts/install-deps.sh" >&2 || true
fi
command -v tmux >/dev/null 2>&1 || { echo "SKIP: tmux cannot be installed" >&2; exit 77; }

tmp=$(mktemp -d /tmp/hf-top.XXXXXX)
sock="hf-top-$$"
loader=
cleanup() {
	[ -n "$loader" ] && kill "$loader" 2>/dev/null
	tmux -L "$sock" kill-server 2>/dev/null || true
	cleanup_servers
	rm -rf "$tmp"
}
trap cleanup EXIT

build=$(cd "$(dirname "$holdfastd")/.." && pwd)
port=$(free_ports 2)
start_holdfastd "$build" "$port" 2 "$tmp" none
host="127.0.0.1:$port"
"$cli" --host "$host" event create 77 --seats 100000 >/dev/null

tmux -L "$sock" new-session -d -s top -x 160 -y 40 "$cli --host $host top --interval 300"
(i=0; while [ $i -lt 100000 ]; do
	"$cli" --host "$host" hold 77 --user $((i + 1)) --seats $i >/dev/null 2>&1 || true
	i=$((i + 1))
done) &
loader=$!

pane() { tmux -L "$sock" capture-pane -p -t top 2>/dev/null || true; }
seen=0
for ((i = 0; i < 150; i++)); do
	screen=$(pane)
	# A shard line with a nonzero hold rate (first number after "shard N").
	if echo "$screen" | grep -q "^127.0.0.1:$port " &&
		echo "$screen" | grep -q '^  shard 0 ' && echo "$screen" | grep -q '^  shard 1 ' &&
		echo "$screen" | awk '/^  shard [01] / && $3 + 0 > 0 { found = 1 } END { exit !found }'; then
		seen=1
		break
	fi
	sleep 0.1
done
echo "top: what the operator sees:"
pane | sed -n '1,8p'
if [ $seen -ne 1 ]; then
	echo "FAIL: no node line, shard lines and hold rate on the screen within 15 s" >&2
	exit 1
fi
kill "$loader" 2>/dev/null; wait "$loader" 2>/dev/null || true
loader=

tmux -L "$sock" send-keys -t top q
for ((i = 0; i < 50; i++)); do
	tmux -L "$sock" has-session -t top 2>/dev/null || break
	sleep 0.1
done
if tmux -L "$sock" has-session -t top 2>/dev/null; then
	echo "FAIL: top did not quit on q within 5 s" >&2
	exit 1
fi
echo "top: q quit the view"

"$cli" --host "$host" stats >"$tmp/stats.txt"
if ! head -1 "$tmp/stats.txt" | grep -q "^node 127.0.0.1:$port: 2 of 2 shards answered$"; then
	echo "FAIL: stats does not start with the node totals:" >&2
	head -5 "$tmp/stats.txt" >&2
	exit 1
fi
total=$(awk '/^node / {n = 1} n && $1 == "ops_hold" {print $2; exit}' "$tmp/stats.txt")
per_shard=$(awk '/^shard / {s = 1} s && $1 == "ops_hold" {sum += $2} END {print sum}' "$tmp/stats.txt")
if [ "$total" != "$per_shard" ] || [ "$total" -lt 1 ]; then
	echo "FAIL: node total ops_hold $total is not the shards' sum $per_shard" >&2
	exit 1
fi
"$cli" --host "$host" --json stats | python3 -c 'import json,sys
a = json.load(sys.stdin)
assert isinstance(a, list) and len(a) == 2, a
for o in a:
    assert set(o) == {"owner", "host", "port", "stats"}, o.keys()
    assert "ops_hold" in o["stats"]'
echo "top: stats prints node totals ($total holds) first; --json keeps its shape"
# Bad arguments are one clear line and exit 2, before any connection.
for bad in "--interval 5" "--interval x" "--iterations 0" "--frobnicate"; do
	set +e
	# shellcheck disable=SC2086
	"$cli" --host "$host" top $bad >/dev/null 2>"$tmp/bad.err"
	rc=$?
	set -e
	if [ $rc -ne 2 ] || ! grep -q "^holdfast: top: bad argument" "$tmp/bad.err"; then
		echo "FAIL: top $bad gave exit $rc: $(cat "$tmp/bad.err")" >&2
		exit 1
	fi
done
echo "top: bad arguments refused"
echo "top: PASS"
