#!/usr/bin/env bash
# Goal: holdfast-bench --plot draws the run: an onsale to FILE.svg (throughput, latency
# percentiles, the sell-out curve) and a holds run to FILE.png, each a real, non-trivial picture;
# a path that is not .svg or .png is refused with a clear message before any load.
# Method: start holdfastd (durability none, 2 shards, free loopback ports); run a short onsale
# with --plot x.svg and a short holds run with --plot x.png; require exit 0, an SVG document with
# the three panel titles and plotted paths, a PNG signature and sizes above a few KiB; then
# --plot x.jpg must exit 2 naming the rule. Installs gnuplot-nox when missing (skip only if it
# cannot be installed).
#   plot.sh HOLDFASTD HOLDFAST_BENCH
set -euo pipefail
holdfastd=$1
bench=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/bench/compare/lib.sh"
if ! command -v gnuplot >/dev/null 2>&1; then
	"$root/scripts/install-deps.sh" >&2 || true
fi
command -v gnuplot >/dev/null 2>&1 || { echo "SKIP: gnuplot cannot be installed" >&2; exit 77; }

tmp=$(mktemp -d /tmp/hf-bench-plot.XXXXXX)
trap 'cleanup_servers; rm -rf "$tmp"' EXIT
build=$(cd "$(dirname "$holdfastd")/.." && pwd)
port=$(free_ports 2)
start_holdfastd "$build" "$port" 2 "$tmp" none

timeout 120 "$bench" --host "127.0.0.1:$port" --workload onsale --seats 2000 --connections 4 \
	--pipeline 8 --duration 3 --no-progress --plot "$tmp/onsale.svg" >"$tmp/onsale.txt"
timeout 120 "$bench" --host "127.0.0.1:$port" --workload holds --connections 4 --pipeline 8 \
	--duration 2 --no-progress --plot "$tmp/holds.png" >"$tmp/holds.txt"

svg=$tmp/onsale.svg
size=$(stat -c %s "$svg")
if [ "$size" -lt 8000 ] || ! grep -q '<svg' "$svg"; then
	echo "FAIL: $svg is not a plot ($size bytes)" >&2
	exit 1
fi
for title in 'Throughput over time' 'Latency percentiles by operation' 'Sell-out: 2000 seats'; do
	if ! grep -q "$title" "$svg"; then
		echo "FAIL: no '$title' panel in $svg" >&2
		exit 1
	fi
done
paths=$(grep -c '<path' "$svg")
if [ "$paths" -lt 10 ]; then
	echo "FAIL: $svg has only $paths paths" >&2
	exit 1
fi
png=$tmp/holds.png
size_png=$(stat -c %s "$png")
if [ "$size_png" -lt 8000 ] || [ "$(head -c 4 "$png" | od -An -tx1 | tr -d ' ')" != "89504e47" ]; then
	echo "FAIL: $png is not a PNG plot ($size_png bytes)" >&2
	exit 1
fi
echo "plot: onsale.svg $size bytes ($paths paths), holds.png $size_png bytes"

set +e
"$bench" --host "127.0.0.1:$port" --plot "$tmp/x.jpg" >"$tmp/bad.out" 2>&1
rc=$?
set -e
if [ $rc -ne 2 ] || ! grep -q "must end in .svg or .png" "$tmp/bad.out"; then
	echo "FAIL: --plot x.jpg gave exit $rc:" >&2
	head -3 "$tmp/bad.out" >&2
	exit 1
fi
echo "plot: PASS"
