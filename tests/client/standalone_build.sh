#!/bin/sh
# standalone_build.sh SOURCE_ROOT: the client alone builds without the server's dependencies.
# Configures SOURCE_ROOT with -Dserver=false -Dtests=false in a fresh temporary build directory,
# builds it, and checks that libholdfast (shared and static) and the holdfast CLI came out and
# that nothing in the build names liburing or RocksDB. Exits 77 (skip) without meson or ninja.
set -eu
src=$1
command -v meson >/dev/null 2>&1 && command -v ninja >/dev/null 2>&1 || exit 77
work=$(mktemp -d /tmp/hf-standalone-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "standalone_build: $*" >&2; exit 1; }
meson setup "$work/build" "$src" -Dserver=false -Dtests=false -Dallocator=system --werror \
	>"$work/setup.log" 2>&1 || { cat "$work/setup.log" >&2; fail "meson setup failed"; }
ninja -C "$work/build" >"$work/ninja.log" 2>&1 || { tail -n 30 "$work/ninja.log" >&2; fail "build failed"; }
for f in client/libholdfast.so client/libholdfast.a client/holdfast; do
	[ -e "$work/build/$f" ] || fail "$f was not built"
done
[ ! -e "$work/build/engine/holdfastd" ] || fail "holdfastd was built with -Dserver=false"
if grep -qiE 'liburing|rocksdb' "$work/build/build.ninja"; then
	fail "the client-only build names liburing or RocksDB"
fi
echo "standalone_build: ok"
