#!/usr/bin/env bash
# Goal: a real Prometheus scrapes a live holdfastd's /metrics and sees the values the traffic
# implies: holdfast_ops_total{op="hold"} sums to the holds sent, the held seats match, both shards
# are up; `promtool check metrics` accepts the exposition text as served.
# Method: start holdfastd (2 shards, durability none, --metrics-listen on a free loopback port) and
# a private prometheus (fresh tsdb directory, free loopback port, scrape interval 1 s); create an
# event and send N holds with the holdfast CLI; poll Prometheus's HTTP API /api/v1/query (bounded)
# until the series have the expected values. Exit 77 only when prometheus cannot be installed.
#   prometheus.sh HOLDFASTD HOLDFAST_CLI
set -euo pipefail
holdfastd=$1
cli=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/bench/compare/lib.sh"
. "$here/lib.sh"

require_prometheus
holds=${HF_PROM_HOLDS:-40}
tmp=$(mktemp -d /tmp/hf-prom.XXXXXX)
trap 'cleanup_servers; rm -rf "$tmp"' EXIT

build=$(cd "$(dirname "$holdfastd")/.." && pwd)
port=$(free_ports 4)
mport=$((port + 2))
pport=$((port + 3))
start_holdfastd "$build" "$port" 2 "$tmp" none --metrics-listen "127.0.0.1:$mport"
# The rules go in by absolute path: Prometheus resolves rule_files against its config's folder.
start_prometheus "$tmp/prom" "$pport" "127.0.0.1:$mport" "$root/docs/alerts.yml"

ev=4242
"$cli" --host "127.0.0.1:$port" event create $ev --seats $((holds + 10)) >/dev/null
for ((i = 0; i < holds; i++)); do
	"$cli" --host "127.0.0.1:$port" hold $ev --user $((i + 1)) --seats $i --id $((1000 + i)) \
		>/dev/null
done
echo "prometheus: sent $holds holds to event $ev"

curl -sf "http://127.0.0.1:$mport/metrics" >"$tmp/metrics.txt"
if ! promtool check metrics <"$tmp/metrics.txt"; then
	echo "FAIL: promtool check metrics refused the exposition text" >&2
	exit 1
fi
echo "prometheus: promtool check metrics passed ($(grep -vc '^#' "$tmp/metrics.txt") samples)"

expect_query "$pport" 'sum(holdfast_ops_total{op="hold"})' "$holds"
expect_query "$pport" 'sum(holdfast_seats{state="held"})' "$holds"
expect_query "$pport" 'sum(holdfast_holds_live)' "$holds"
expect_query "$pport" 'count(holdfast_shard_up == 1)' 2
expect_query "$pport" 'up{job="holdfast"}' 1
expect_query "$pport" 'sum(holdfast_persist_durability{mode="none"})' 2

# The alert rules: valid, their unit tests pass, and the live Prometheus loaded every one.
promtool check rules "$root/docs/alerts.yml"
(cd "$here" && promtool test rules alerts_test.yml)
rules=$(curl -sf "http://127.0.0.1:$pport/api/v1/rules" | python3 -c 'import json,sys
g = json.load(sys.stdin)["data"]["groups"]
print(sum(1 for x in g for r in x["rules"] if r["health"] != "err"))')
want=$(grep -c '^      - alert:' "$root/docs/alerts.yml")
if [ "$rules" != "$want" ]; then
	echo "FAIL: Prometheus loaded $rules healthy rules of $want" >&2
	exit 1
fi
echo "prometheus: $rules alert rules loaded; firing now: $(prom_alerts "$pport" | tr '\n' ' ')"
firing=$(prom_alerts "$pport")
if [ -n "$firing" ]; then
	echo "FAIL: alerts fire on a healthy node: $firing" >&2
	exit 1
fi
# The dashboard: importable structure, names that exist, queries Prometheus parses.
python3 "$here/check_dashboard.py" "$root/docs/grafana-dashboard.json" "$root/docs/alerts.yml" \
	"$tmp/metrics.txt" "$pport"
echo "prometheus: PASS"
