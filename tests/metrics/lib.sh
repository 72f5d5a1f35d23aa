# Shared helpers of the metrics and drill scripts (sourced after bench/compare/lib.sh, whose
# start_holdfastd, free_ports and cleanup_servers they use): a private Prometheus on loopback and
# bounded queries of its HTTP API. Every server started here is recorded in SERVER_PIDS.

PROM_WAIT_S=${PROM_WAIT_S:-60}

# require_prometheus: prometheus and promtool, installed by scripts/install-deps.sh when missing;
# exits 77 (skip) only when they cannot be installed.
require_prometheus() {
	if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
		"$root/scripts/install-deps.sh" >&2 || true
	fi
	if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
		echo "SKIP: prometheus/promtool not installed and cannot be installed" >&2
		exit 77
	fi
}

# start_prometheus DIR PORT TARGET [RULES_FILE]: a private prometheus scraping TARGET every
# second, with a fresh tsdb in DIR; waits (bounded) until it is ready.
start_prometheus() {
	local dir=$1 pport=$2 target=$3 rules=${4:-}
	mkdir -p "$dir/tsdb"
	{
		echo "global:"
		echo "  scrape_interval: 1s"
		echo "  evaluation_interval: 1s"
		if [ -n "$rules" ]; then
			echo "rule_files:"
			echo "  - $rules"
		fi
		echo "scrape_configs:"
		echo "  - job_name: holdfast"
		echo "    scrape_timeout: 1s"
		echo "    static_configs:"
		echo "      - targets: ['$target']"
	} >"$dir/prometheus.yml"
	prometheus --config.file "$dir/prometheus.yml" --storage.tsdb.path "$dir/tsdb" \
		--web.listen-address "127.0.0.1:$pport" --log.level warn >"$dir/prometheus.log" 2>&1 &
	local pid=$!
	SERVER_PIDS+=("$pid")
	local i
	for ((i = 0; i < PROM_WAIT_S * 10; i++)); do
		if curl -sf "http://127.0.0.1:$pport/-/ready" >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	echo "FAIL: prometheus did not become ready on 127.0.0.1:$pport" >&2
	cat "$dir/prometheus.log" >&2
	exit 1
}

# prom_value PORT QUERY: the first result's value of an instant query ("" when none).
prom_value() {
	curl -sf --get "http://127.0.0.1:$1/api/v1/query" --data-urlencode "query=$2" |
		python3 -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null || true
}

# expect_query PORT QUERY VALUE: waits (at most PROM_WAIT_S) until QUERY evaluates to VALUE.
expect_query() {
	local pport=$1 query=$2 want=$3 got="" i
	for ((i = 0; i < PROM_WAIT_S * 4; i++)); do
		got=$(prom_value "$pport" "$query")
		if [ "$got" = "$want" ]; then
			echo "prometheus: $query = $got"
			return 0
		fi
		sleep 0.25
	done
	echo "FAIL: $query is '$got' after ${PROM_WAIT_S} s, expected $want" >&2
	exit 1
}

# prom_alerts PORT: the names of the alerts firing now, one per line.
prom_alerts() {
	curl -sf "http://127.0.0.1:$1/api/v1/alerts" |
		python3 -c 'import json,sys
for a in json.load(sys.stdin)["data"]["alerts"]:
    if a["state"] == "firing":
        print(a["labels"]["alertname"])' 2>/dev/null | sort -u || true
}
