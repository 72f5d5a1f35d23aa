#!/usr/bin/env bash
# Side by side: the same holds workload against several holdfastd builds, alternating build by
# build within each round, so that they share the machine's state. Each run starts a fresh
# holdfastd (2 shards, the given durability, a fresh data dir under /tmp) on loopback, runs
# holdfast-bench --workload holds --connections 50 --pipeline 16 for DURATION seconds, reads the
# server's CPU time from /proc, and stops it by pid.
#
#   bench/ab_builds.sh DURABILITY ROUNDS DURATION BUILD_DIR...
#   e.g. bench/ab_builds.sh fsync 3 5 /tmp/old/build-release build-release
#
# Prints one line per run: the build, holds/s, p50, p99, the server's CPU share and CPU per hold
# (and its user-space part),
# and the server's resident memory per live hold (VmRSS growth over the holds run / holds). With
# HF_AB_PING=1 each run first loads the same server with the ping workload (same connections,
# same duration) and the line adds pings/s, the server's CPU per ping and HOLD/PING (ok/s).
# HF_AB_SERVER_FLAGS adds holdfastd flags to every server (e.g. "--prefault --records-max N").
# The bench is the first BUILD_DIR's holdfast-bench unless HF_BENCH names one.
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
mode=$1 rounds=$2 duration=$3
shift 3
bench=${HF_BENCH:-$1/bench/holdfast-bench}
for round in $(seq 1 "$rounds"); do
	for build in "$@"; do
		dir=$(mktemp -d /tmp/hf-ab.XXXXXX)
		port=$((20000 + RANDOM % 20000))
		# shellcheck disable=SC2086 # HF_AB_SERVER_FLAGS is words on purpose
		"$build/engine/holdfastd" --listen "127.0.0.1:$port" --shards 2 --durability "$mode" \
			--data-dir "$dir/data" --no-pin --log-level warn ${HF_AB_SERVER_FLAGS:-} \
			2>"$dir/log" &
		pid=$!
		for _ in $(seq 1 600); do
			"$bench" --host "127.0.0.1:$port" --workload ping --duration 0.1 --no-progress \
				>/dev/null 2>&1 && break
			sleep 0.05
		done
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "$build: holdfastd did not start (port $port taken?): $(tail -n 1 "$dir/log")"
			rm -rf "$dir"
			continue
		fi
		pticks=0
		echo '{}' >"$dir/ping.json"
		if [ "${HF_AB_PING:-0}" = "1" ]; then
			p0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
			"$bench" --host "127.0.0.1:$port" --workload ping --connections 50 \
				--pipeline 16 --duration "$duration" --json --no-progress \
				>"$dir/ping.json" 2>/dev/null || true
			p1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
			pticks=$((p1 - p0))
		fi
		rss0=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
		t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
		u0=$(awk '{print $14}' "/proc/$pid/stat")
		"$bench" --host "127.0.0.1:$port" --workload holds --connections 50 --pipeline 16 \
			--duration "$duration" --json --no-progress >"$dir/out.json" 2>/dev/null || true
		t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
		u1=$(awk '{print $14}' "/proc/$pid/stat")
		rss1=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
		kill "$pid"
		wait "$pid" 2>/dev/null || true
		python3 - "$build" "$mode" "$dir/out.json" "$((t1 - t0))" "$duration" \
			"$((rss1 - rss0))" "$dir/ping.json" "$pticks" "$((u1 - u0))" <<'PY'
import json, sys
build, mode, path, ticks, duration, rss_kib, ping_path, pticks, uticks = sys.argv[1:]
h = json.load(open(path))["ops"]["hold"]
ticks = int(ticks)
line = ("%-40s %-5s holds/s %9.0f  p50 %7.0f us  p99 %7.0f us  server CPU %3.0f %%  %.2f us/hold"
        " (user %.2f)  %4.0f B RSS/hold"
        % (build, mode, h["ok_per_s"], h["p50_us"], h["p99_us"], ticks / float(duration),
           ticks * 10000.0 / max(1, h["ok"]), int(uticks) * 10000.0 / max(1, h["ok"]),
           int(rss_kib) * 1024.0 / max(1, h["ok"])))
p = json.load(open(ping_path)).get("ops", {}).get("ping")
if p:
    line += ("  pings/s %9.0f  %.2f us/ping  HOLD/PING %.2f"
             % (p["ok_per_s"], int(pticks) * 10000.0 / max(1, p["ok"]),
                h["ok_per_s"] / max(1.0, p["ok_per_s"])))
print(line)
PY
		rm -rf "$dir"
	done
done
