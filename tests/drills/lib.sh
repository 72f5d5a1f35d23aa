# Shared helpers of the failure drills (sourced by each drill after it sets `drill`, `holdfastd`
# and `cli`): the server harness of bench/compare/lib.sh, the private Prometheus of
# tests/metrics/lib.sh, and small readers of a node's /metrics. Every wait is bounded; every
# process started is stopped on exit (the drills trap drill_cleanup).

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/bench/compare/lib.sh"
. "$root/tests/metrics/lib.sh"

DRILL_WAIT_S=${DRILL_WAIT_S:-30}
tmp=$(mktemp -d "/tmp/hf-drill-$drill.XXXXXX")
build=$(cd "$(dirname "$holdfastd")/.." && pwd)
DRILL_CLEANUPS=()

drill_cleanup() {
	cleanup_servers
	local c
	for c in "${DRILL_CLEANUPS[@]+"${DRILL_CLEANUPS[@]}"}"; do
		eval "$c" || true
	done
	rm -rf "$tmp"
}

say() { echo "drill $drill: $*"; }
operator_sees() { echo "  operator sees: $*"; }
fail() {
	echo "drill $drill: FAIL: $*" >&2
	exit 1
}

# metric PORT SERIES: the sum over the lines of /metrics starting with SERIES (a name, or a name
# with the start of its labels, e.g. 'holdfast_replies_total{shard="0",status="IO"'); empty
# when the endpoint does not answer.
metric() {
	local body
	body=$(curl -sf --max-time 5 "http://127.0.0.1:$1/metrics") || return 0
	echo "$body" | awk -v s="$2" 'index($0, s) == 1 && substr($0, length(s) + 1, 1) ~ /[ {,}]/ {
		sum += $NF; n++ } END { if (n) printf "%.12g\n", sum }'
}

# wait_metric PORT SERIES OP VALUE: waits until `metric PORT SERIES` OP VALUE (awk comparison).
wait_metric() {
	local mport=$1 series=$2 op=$3 want=$4 got="" i
	for ((i = 0; i < DRILL_WAIT_S * 10; i++)); do
		got=$(metric "$mport" "$series")
		if [ -n "$got" ] && awk -v a="$got" -v b="$want" "BEGIN { exit !(a $op b) }"; then
			echo "$got"
			return 0
		fi
		sleep 0.1
	done
	fail "$series is '$got' after ${DRILL_WAIT_S} s, expected $op $want"
}

# health PORT: "CODE body" of GET /health ("000" when nothing answers).
health() {
	local out
	out=$(curl -s --max-time 5 -w ' %{http_code}' "http://127.0.0.1:$1/health" || true)
	echo "${out##* } ${out% *}"
}

# prom_alert_state PORT ALERT: "firing", "pending" or "" for an alert of docs/alerts.yml.
prom_alert_state() {
	curl -sf "http://127.0.0.1:$1/api/v1/alerts" | python3 -c 'import json,sys
want = sys.argv[1]
states = [a["state"] for a in json.load(sys.stdin)["data"]["alerts"]
          if a["labels"]["alertname"] == want]
print("firing" if "firing" in states else "pending" if states else "")' "$2" 2>/dev/null || true
}

# wait_alert PORT ALERT: waits until ALERT is pending or firing; prints the state.
wait_alert() {
	local pport=$1 name=$2 st="" i
	for ((i = 0; i < PROM_WAIT_S * 4; i++)); do
		st=$(prom_alert_state "$pport" "$name")
		if [ -n "$st" ]; then
			echo "$st"
			return 0
		fi
		sleep 0.25
	done
	echo "alerts now: $(curl -sf "http://127.0.0.1:$pport/api/v1/alerts")" >&2
	echo "up: $(prom_value "$pport" 'up')" >&2
	fail "alert $name neither pending nor firing after ${PROM_WAIT_S} s"
}

# forget_pid PID: takes a server that is already gone off the cleanup list.
forget_pid() {
	local keep=() p
	for p in "${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}"; do
		[ "$p" != "$1" ] && keep+=("$p")
	done
	SERVER_PIDS=("${keep[@]+"${keep[@]}"}")
}

# hf ARGS...: the holdfast CLI against this drill's node, a short timeout.
hf() {
	"$cli" --host "127.0.0.1:$port" --timeout 1000 "$@"
}
