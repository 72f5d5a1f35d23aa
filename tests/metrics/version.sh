#!/usr/bin/env bash
# Goal: holdfastd, holdfast and holdfast-bench answer --version with the project's version and the
# protocol version, exit 0, and holdfastd names both in its startup log.
# Method: run each with --version and compare with "<program> VERSION (protocol 1)"; start a
# holdfastd (durability none, free loopback ports) and look for the line in its log; stop it.
#   version.sh VERSION HOLDFASTD HOLDFAST_CLI HOLDFAST_BENCH
set -euo pipefail
version=$1
holdfastd=$2
cli=$3
bench=$4
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/bench/compare/lib.sh"
tmp=$(mktemp -d /tmp/hf-version.XXXXXX)
trap 'cleanup_servers; rm -rf "$tmp"' EXIT

check() {
	local name=$1 exe=$2 got
	got=$("$exe" --version)
	if [ "$got" != "$name $version (protocol 1)" ]; then
		echo "FAIL: $exe --version printed '$got'" >&2
		exit 1
	fi
	echo "version: $got"
}
check holdfastd "$holdfastd"
check holdfast "$cli"
check holdfast-bench "$bench"

build=$(cd "$(dirname "$holdfastd")/.." && pwd)
port=$(free_ports 1)
# start_holdfastd logs at warn; the version line is info, so ask for info here.
start_holdfastd "$build" "$port" 1 "$tmp" none --log-level info
if ! grep -q "holdfastd $version (protocol 1) starting" "$tmp/holdfastd.log"; then
	echo "FAIL: no version line in the startup log:" >&2
	cat "$tmp/holdfastd.log" >&2
	exit 1
fi
echo "version: PASS"
