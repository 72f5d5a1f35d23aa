#!/bin/sh
# The install check behind tests/client/test_install.c:
#   install_check.sh BUILD_ROOT SOURCE_ROOT HOST:PORT WORK_DIR
# Installs the build into WORK_DIR/root (DESTDIR), checks the installed files and the shared
# library's exported symbols (nm -D: only the functions the public headers declare), extracts the C
# example from README.md, builds it (shared and static) and tests/client/install_app.cpp outside the
# source tree with nothing but pkg-config, runs the three against the live holdfastd at HOST:PORT
# and checks their output. Prints what failed and exits 1; 0 when everything holds.
set -eu
build=$1 src=$2 addr=$3 work=$4
fail() { echo "install_check: $*" >&2; exit 1; }

root=$work/root
meson install -C "$build" --no-rebuild --quiet --destdir "$root" >"$work/install.log" 2>&1 ||
	{ cat "$work/install.log" >&2; fail "meson install failed"; }
pc=$(find "$root" -name holdfast.pc | head -n 1)
[ -n "$pc" ] || fail "no holdfast.pc installed"
pcdir=$(dirname "$pc")
for f in bin/holdfastd bin/holdfast bin/holdfast-bench include/holdfast/holdfast.h \
	include/holdfast/proto/proto.h include/holdfast/proto/watch.h \
	include/holdfast/adapters/holdfast_uv.h; do
	[ -n "$(find "$root" -path "*/$f" | head -n 1)" ] || fail "$f is not installed"
done
so=$(find "$root" -name 'libholdfast.so.*.*.*' | head -n 1)
[ -n "$so" ] || fail "no versioned libholdfast.so installed"
[ -n "$(find "$root" -name libholdfast.a)" ] || fail "no libholdfast.a installed"
readelf -d "$so" | grep -q 'SONAME.*libholdfast\.so\.[0-9]' || fail "libholdfast.so has no SONAME"

# Exports: every dynamic symbol is a function holdfast.h declares with HF_EXPORT, or one of the
# protocol vocabulary functions holdfast.h lists as exported (proto.h's codec stays hidden).
incdir=$(dirname "$(find "$root" -path '*/include/holdfast/holdfast.h')")
{
	tr '\n' ' ' <"$incdir/holdfast.h" | grep -oE 'HF_EXPORT [^;(]*\bhf_[a-z0-9_]+\(' |
		grep -oE 'hf_[a-z0-9_]+\($' | tr -d '('
	printf '%s\n' hf_status_name hf_status_message hf_status_is_retryable hf_opcode_name \
		hf_opcode_is_write hf_request_event_id hf_watch_kind_name
} | sort -u >"$work/declared.txt"
nm -D --defined-only "$so" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort -u \
	>"$work/exported.txt"
[ -s "$work/exported.txt" ] || fail "the library exports nothing"
extra=$(comm -23 "$work/exported.txt" "$work/declared.txt")
[ -z "$extra" ] || fail "exported but not public: $extra"
grep -qx hf_client_open "$work/exported.txt" || fail "hf_client_open is not exported"
grep -qx hf_version "$work/exported.txt" || fail "hf_version is not exported"

# The README's C example, verbatim: the c block after the example marker.
awk '/<!-- example: tests\/client\/test_install.c -->/ { on = 1; next }
	on == 1 && /^```c$/ { on = 2; next }
	on == 2 && /^```$/ { exit }
	on == 2 { print }' "$src/README.md" >"$work/example.c"
[ -s "$work/example.c" ] || fail "no C example found in README.md"

export PKG_CONFIG_PATH="$pcdir"
export PKG_CONFIG_SYSROOT_DIR="$root"
[ "$(pkg-config --modversion holdfast)" = "$(grep -o 'HF_VERSION_STRING "[^"]*"' \
	"$incdir/holdfast.h" | cut -d'"' -f2)" ] || fail "holdfast.pc and HF_VERSION_STRING differ"
cflags=$(pkg-config --cflags holdfast)
libs=$(pkg-config --libs holdfast)
libdir=$(dirname "$pcdir")
# A sanitized build's library needs the same runtime in the program that loads it.
san=""
if readelf -d "$so" | grep -q 'libasan'; then
	san="-fsanitize=address,undefined"
fi
warn="-Wall -Wextra -Werror"
cd "$work"
cc -std=c17 $warn -pedantic $san $cflags example.c -o example $libs ||
	fail "the README example does not build against the installed library"
cc -std=c17 $warn $san $cflags example.c -o example_static "$libdir/libholdfast.a" ||
	fail "the README example does not build against libholdfast.a alone"
c++ -std=c++17 $warn -pedantic $san $cflags "$src/tests/client/install_app.cpp" -o app_cpp $libs ||
	fail "the C++ program does not build against the installed library"
export LD_LIBRARY_PATH="$libdir"
ldd ./example | grep -q "$libdir/libholdfast.so" ||
	fail "the example does not load the installed libholdfast.so"
out=$(./example "$addr" 9001) || fail "example (shared) failed: $out"
[ "$out" = "booked 2 seats: 10 11" ] || fail "example (shared) printed '$out'"
out=$(./example_static "$addr" 9002) || fail "example (static) failed: $out"
[ "$out" = "booked 2 seats: 10 11" ] || fail "example (static) printed '$out'"
out=$(./app_cpp "$addr" 9003) || fail "C++ program failed: $out"
expect="c++ $(pkg-config --modversion holdfast): held 4 seats from 0, 36 free"
[ "$out" = "$expect" ] || fail "C++ program printed '$out', not '$expect'"
if pkg-config --exists libuv; then
	# uv.h needs the POSIX declarations (pthread_rwlock_t): gnu17, not strict c17.
	cc -std=gnu17 $warn -pedantic $san $cflags "$src/tests/client/install_uv.c" -o app_uv \
		$libs $(pkg-config --libs libuv) ||
		fail "the libuv adapter does not build against the installed files"
	out=$(./app_uv "$addr") || fail "the libuv program failed: $out"
	[ "$out" = "uv: 64 of 64 pings answered" ] || fail "the libuv program printed '$out'"
fi
echo "install_check: ok ($(wc -l <"$work/exported.txt") exported symbols)"
