#!/usr/bin/env bash
# The source report's load test, replayed (issue 17): wrk against the two HTTP APIs of the report,
# served by holdfast-http over holdfastd and by a deliberately plain baseline of the report's
# design (pg_baseline.py: Python's http.server + psycopg2 over PostgreSQL 15, one transaction per
# hold, SELECT ... FOR UPDATE on the seat rows), at several concurrencies, printed next to the
# report's own figures.
#
#   bench/http/replay.sh [--short] [--duration S] [--conns "10 100 1000"] [--threads N]
#                        [--holdfastd PATH --holdfast-http PATH]
#
# Starts, on loopback ports and in a fresh temporary directory: holdfastd (2 shards, durability
# fsync), holdfast-http (one loop per CPU), PostgreSQL 15 (initdb on a fresh data directory, its
# own port, fsync and synchronous_commit on: as durable as holdfastd's fsync mode; run as the
# postgres user when we are root) and pg_baseline.py. For each API (holds: hold.lua, one seat per
# request, unique seats and Idempotency-Keys; availability: avail.lua, counts and the free ranges
# of a 100-seat window) and each concurrency it creates a fresh event on both services, runs
# `wrk -t THREADS -c CONNS -d S --timeout 10s`, and prints requests/s, average, p99 and maximum
# latency and the error rate (every non-2xx answer, connect, read, write error and timeout).
# Every server is stopped by its pid on every exit path; every wait is bounded.
#
# --short: 2 s per run, 10 connections, both APIs on both services; exits 1 unless every run
# parsed and had 0 errors (the meson smoke test `gateway_replay_short`, suite gateway).
# Without --holdfastd / --holdfast-http it builds build-release (meson, release) and uses that.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/bench/compare/lib.sh"

PG_BIN=/usr/lib/postgresql/15/bin
REPORT_HOLD="55.18|2690|-|5630|0" # req/s | avg ms | p99 ms | max ms | error %
REPORT_AVAIL="229.42|523.89|-|3180|0"
HOLD_EVENT_SEATS=2000000   # holds run: one seat per request, never wrapping at these rates
AVAIL_EVENT_SEATS=100000   # availability runs: both services count the same number of seats
PG_HOLD_EVENT_SEATS=300000 # the baseline's inserts cost ~1 s per 100k seats; it never gets near
START_WAIT_TRIES=300       # x 0.1 s
# Debian's interpreter, where python3-psycopg2 is installed (a python3 earlier on PATH may not
# see it).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

short=0
duration=8
conns_list="10 100 1000"
wrk_threads=2
holdfastd=""
gateway=""
while [ $# -gt 0 ]; do
	case $1 in
	--short)
		# Small events: a test build's holdfastd checks the whole event after every change.
		short=1; duration=2; conns_list="10"
		HOLD_EVENT_SEATS=50000; PG_HOLD_EVENT_SEATS=50000; AVAIL_EVENT_SEATS=10000 ;;
	--duration) duration=$2; shift ;;
	--conns) conns_list=$2; shift ;;
	--threads) wrk_threads=$2; shift ;;
	--holdfastd) holdfastd=$2; shift ;;
	--holdfast-http) gateway=$2; shift ;;
	-h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "replay.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

for tool in wrk curl "$PY" "$PG_BIN/initdb" "$PG_BIN/pg_ctl"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "replay.sh: $tool is missing (scripts/install-deps.sh installs wrk, postgresql-15)" >&2
		exit 1
	fi
done
if ! "$PY" -c 'import psycopg2' 2>/dev/null; then
	echo "replay.sh: psycopg2 is missing (scripts/install-deps.sh installs python3-psycopg2)" >&2
	exit 1
fi
if [ -z "$holdfastd" ] || [ -z "$gateway" ]; then
	build="$root/build-release"
	if [ ! -f "$build/build.ninja" ]; then
		meson setup "$build" -Dbuildtype=release -Dtests=false >/dev/null
	fi
	ninja -C "$build" engine/holdfastd gateway/holdfast-http >/dev/null
	holdfastd="$build/engine/holdfastd"
	gateway="$build/gateway/holdfast-http"
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

tmp=$(mktemp -d /tmp/hf-http-replay.XXXXXX)
chmod 755 "$tmp"
pg_dir="$tmp/pg"
pg_pid=""
as_pg=()
[ "$(id -u)" -eq 0 ] && as_pg=(runuser -u postgres --)

# PostgreSQL is pg_ctl's child, not ours: SIGINT (its fast shutdown) by the pid of
# postmaster.pid, a bounded wait, then SIGKILL.
stop_pg() {
	[ -n "$pg_pid" ] || return 0
	kill -INT "$pg_pid" 2>/dev/null || true
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pg_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pg_pid" 2>/dev/null || true
	pg_pid=""
}
cleanup() {
	set +e # a server's own exit status (SIGTERM: 143) is not the replay's
	stop_pg
	cleanup_servers
	rm -rf "$tmp"
}
trap cleanup EXIT

# wait_line FILE PATTERN PID: the first line of FILE matching PATTERN, once PID printed it.
wait_line() {
	local file=$1 pattern=$2 pid=$3 i line
	for ((i = 0; i < START_WAIT_TRIES; i++)); do
		line=$(grep -m1 -E "$pattern" "$file" 2>/dev/null || true)
		if [ -n "$line" ]; then
			echo "$line"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "replay.sh: no '$pattern' from pid $pid; its log:" >&2
	cat "$file" >&2
	return 1
}

# ---- the servers ----
hf_port=$(free_ports 2)
start_holdfastd "$(dirname "$(dirname "$holdfastd")")" "$hf_port" 2 "$tmp/hf" fsync
# --deadline past wrk's --timeout: a slow answer is measured as slow, not turned into a 503.
"$gateway" --listen 127.0.0.1:0 --holdfast "127.0.0.1:$hf_port" --deadline 20000 \
	>"$tmp/gateway.log" 2>&1 &
gw_pid=$!
SERVER_PIDS+=("$gw_pid")
gw_addr=$(wait_line "$tmp/gateway.log" "listening on" "$gw_pid" | awk '{print $4}')

mkdir -p "$pg_dir"
[ "$(id -u)" -eq 0 ] && chown postgres: "$pg_dir"
"${as_pg[@]}" "$PG_BIN/initdb" -D "$pg_dir/data" -U postgres --auth=trust >"$tmp/initdb.log" 2>&1 || {
	cat "$tmp/initdb.log" >&2
	exit 1
}
pg_port=$(free_ports 1)
"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/pg.log" -w -t 30 \
	-o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=100" \
	start >/dev/null
pg_pid=$(head -1 "$pg_dir/data/postmaster.pid")
"$PY" "$here/pg_baseline.py" --listen 127.0.0.1:0 \
	--dsn "host=$pg_dir port=$pg_port dbname=postgres user=postgres" >"$tmp/baseline.log" 2>&1 &
pb_pid=$!
SERVER_PIDS+=("$pb_pid")
pb_addr=$(wait_line "$tmp/baseline.log" "listening on" "$pb_pid" | awk '{print $4}')

# ---- the runs ----
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
next_event=1000
results=()
failed=0

create_event() { # ADDR EVENT SEATS
	local code
	code=$(curl -s -o "$tmp/create.out" -w '%{http_code}' --max-time 120 -X POST \
		"http://$1/events" -d "{\"event_id\":$2,\"seats\":$3,\"row_width\":100}")
	if [ "$code" != 201 ]; then
		echo "replay.sh: POST /events on $1 answered $code: $(cat "$tmp/create.out")" >&2
		return 1
	fi
}

# run API TARGET ADDR CONNS: one wrk run; appends "API|CONNS|TARGET|rps|avg|p99|max|err%".
run() {
	local api=$1 target=$2 addr=$3 conns=$4 seats event script args line
	next_event=$((next_event + 1))
	event=$next_event
	if [ "$api" = holds ]; then
		seats=$HOLD_EVENT_SEATS
		[ "$target" = pg-baseline ] && seats=$PG_HOLD_EVENT_SEATS
		script=hold.lua
		args=("$event" "$seats" "$wrk_threads" "r$event")
	else
		seats=$AVAIL_EVENT_SEATS
		script=avail.lua
		args=("$event" "$seats")
	fi
	create_event "$addr" "$event" "$seats"
	local threads=$wrk_threads
	[ "$conns" -lt "$threads" ] && threads=$conns
	timeout $((duration + 60)) wrk -t "$threads" -c "$conns" -d "${duration}s" --timeout 10s \
		-s "$here/$script" "http://$addr" -- "${args[@]}" >"$tmp/wrk.out" 2>&1 || true
	line=$(grep -m1 '^RESULT ' "$tmp/wrk.out" || true)
	if [ -z "$line" ]; then
		echo "replay.sh: wrk printed no RESULT line ($api, $target, $conns):" >&2
		cat "$tmp/wrk.out" >&2
		failed=1
		return 0
	fi
	local kv rps avg p99 max errors requests
	for kv in $line; do
		case $kv in
		rps=*) rps=${kv#rps=} ;;
		avg_ms=*) avg=${kv#avg_ms=} ;;
		p99_ms=*) p99=${kv#p99_ms=} ;;
		max_ms=*) max=${kv#max_ms=} ;;
		errors=*) errors=${kv#errors=} ;;
		requests=*) requests=${kv#requests=} ;;
		esac
	done
	local rate
	rate=$(awk -v e="$errors" -v r="$requests" 'BEGIN { printf "%.2f", (r > 0 ? 100 * e / r : 100) }')
	[ "$requests" -gt 0 ] || failed=1
	if [ "$short" -eq 1 ] && [ "$errors" -ne 0 ]; then
		echo "replay.sh: $errors errors ($api, $target, $conns):" >&2
		cat "$tmp/wrk.out" >&2
		failed=1
	fi
	results+=("$api|$conns|$target|$rps|$avg|$p99|$max|$rate")
	echo "replay: $api c=$conns $target: $line" >&2
}

for api in holds availability; do
	for conns in $conns_list; do
		run "$api" holdfast-http "$gw_addr" "$conns"
		run "$api" pg-baseline "$pb_addr" "$conns"
	done
done

# ---- the table ----
fmt_ms() { awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else if (v >= 1000) printf "%.2f s", v / 1000; else printf "%.2f ms", v }'; }
echo
echo "wrk 4.1, ${duration} s per run, $wrk_threads wrk threads, --timeout 10s; $(nproc) CPUs shared by wrk, the service and its store"
echo "load average before the runs: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| API | connections | service | requests/s | avg | p99 | max | errors |"
echo "|---|---:|---|---:|---:|---:|---:|---:|"
for api in holds availability; do
	for r in "${results[@]}"; do
		IFS='|' read -r a c t rps avg p99 max rate <<<"$r"
		[ "$a" = "$api" ] || continue
		printf '| %s | %s | %s | %s | %s | %s | %s | %s %% |\n' "$a" "$c" "$t" "$rps" \
			"$(fmt_ms "$avg")" "$(fmt_ms "$p99")" "$(fmt_ms "$max")" "$rate"
	done
	rep=$REPORT_HOLD
	[ "$api" = availability ] && rep=$REPORT_AVAIL
	IFS='|' read -r rps avg p99 max rate <<<"$rep"
	printf '| %s | (report) | the source report | %s | %s | %s | %s | %s %% |\n' "$api" "$rps" \
		"$(fmt_ms "$avg")" "$p99" "$(fmt_ms "$max")" "$rate"
done
if [ "$failed" -ne 0 ]; then
	echo "replay.sh: FAILED (see above)" >&2
	exit 1
fi
[ "$short" -eq 1 ] && echo "replay --short: PASS"
exit 0
