#!/usr/bin/env bash
# Installs the Debian 12 packages holdfast builds and tests with, when any is missing.
# Idempotent and quiet when everything is there; needs root (or sudo) only when it installs.
set -euo pipefail

# clang and libclang-rt-14-dev: the libFuzzer build of scripts/fuzz.sh.
# libhttp-parser-dev: holdfast-http (gateway/); wrk, postgresql-15, python3-psycopg2: bench/http/replay.sh.
# python3-aiohttp and chromium: the live seat map of examples/seatmap/ and its headless browser test.
packages=(gcc g++ pkg-config meson ninja-build liburing-dev librocksdb-dev libjemalloc-dev libcmocka-dev
	libuv1-dev python3 python3-pytest python3-venv python3-pip python3-setuptools python3-wheel
	python3-wheel-whl clang libclang-rt-14-dev prometheus tmux gnuplot-nox curl
	libcurl4-openssl-dev libjansson-dev etcd-server etcd-client mypy black
	libhttp-parser-dev wrk postgresql-15 python3-psycopg2 python3-aiohttp chromium)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
