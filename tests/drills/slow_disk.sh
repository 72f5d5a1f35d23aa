#!/usr/bin/env bash
# Drill: a slow disk (every sync takes longer), through the engine's HOLDFAST_SYNC_DELAY_MS hook.
# Goal: writes keep being answered, only slower; the operator sees the sync time per commit rise
# to the injected delay on /metrics and the HoldfastSyncSlow alert go pending; group commit keeps
# throughput up (more ops per commit).
# Method: holdfastd (1 shard, fsync, --metrics-listen) with HOLDFAST_SYNC_DELAY_MS=50 and a
# private Prometheus with docs/alerts.yml; a 3 s holdfast-bench (holds); compare the sync time per
# commit and the batch size on /metrics with the delay, and wait for the alert. Skips (77) when
# `holdfastd --help` does not list the hook (an engine without it).
#   slow_disk.sh HOLDFASTD HOLDFAST_CLI HOLDFAST_BENCH
set -euo pipefail
drill=slow_disk
holdfastd=$1
cli=$2
bench=$3
if ! "$holdfastd" --help 2>&1 | grep -q HOLDFAST_SYNC_DELAY_MS; then
	echo "SKIP: this holdfastd has no HOLDFAST_SYNC_DELAY_MS hook (holdfastd --help)" >&2
	exit 77
fi
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
require_prometheus
trap drill_cleanup EXIT
delay_ms=50

port=$(free_ports 4)
mport=$((port + 2))
pport=$((port + 3))
HOLDFAST_SYNC_DELAY_MS=$delay_ms start_holdfastd "$build" "$port" 1 "$tmp" fsync \
	--metrics-listen "127.0.0.1:$mport"
start_prometheus "$tmp/prom" "$pport" "127.0.0.1:$mport" "$root/docs/alerts.yml"
hf event create 9 --seats 100000 >/dev/null
say "every sync delayed by $delay_ms ms; loading"
out=$(timeout 60 "$bench" --host "127.0.0.1:$port" --workload holds --connections 4 \
	--pipeline 16 --duration 3 --no-progress --no-create --event-base 9 --events 1 \
	--seats 100000 | grep -E '^hold ' || true)
operator_sees "client: $out"
[ -n "$out" ] || fail "no hold answered under a slow disk"
commits=$(metric "$mport" holdfast_persist_commits_total)
secs=$(metric "$mport" holdfast_persist_commit_seconds_total)
ops=$(metric "$mport" holdfast_commit_ops_total)
n=$(metric "$mport" holdfast_commits_total)
per=$(awk -v s="$secs" -v c="$commits" 'BEGIN { printf "%.1f", (c > 0 ? 1000 * s / c : 0) }')
batch=$(awk -v o="$ops" -v c="$n" 'BEGIN { printf "%.0f", (c > 0 ? o / c : 0) }')
operator_sees "/metrics: sync time per commit ${per} ms (max $(metric "$mport" holdfast_persist_commit_max_seconds) s), $batch ops per group commit"
awk -v p="$per" -v d="$delay_ms" 'BEGIN { exit !(p >= d * 0.9) }' ||
	fail "sync time per commit $per ms is below the injected $delay_ms ms"
# The alert reads a rate of commits: keep writing while it is evaluated (bounded by --duration,
# stopped by pid right after).
"$bench" --host "127.0.0.1:$port" --workload holds --connections 2 --pipeline 4 \
	--duration "$PROM_WAIT_S" --no-progress --no-create --event-base 9 --events 1 \
	--seats 100000 >/dev/null 2>&1 &
load_pid=$!
st=$(wait_alert "$pport" HoldfastSyncSlow)
kill "$load_pid" 2>/dev/null || true
wait "$load_pid" 2>/dev/null || true
operator_sees "alert HoldfastSyncSlow: $st (fires after 2 minutes)"
say "PASS"
