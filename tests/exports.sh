#!/bin/sh
# exports.sh - the installed liblogd exports exactly the functions logd.h
# declares: nothing internal (proto, segment, client internals) leaks into
# the ABI, and nothing declared is missing.
set -u
build=${LOGD_BUILDDIR:?run by make check}
src=${LOGD_SRCDIR:?run by make check}
so=$build/lib/.libs/liblogd.so
[ -f "$so" ] || { echo "exports.sh: FAIL: no $so"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/exports.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
grep -o '\<logd_[a-z0-9_]*(' "$src/lib/logd.h" | tr -d '(' | sort -u > "$tmp/h"
nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' |
    grep -v '^_' | sort -u > "$tmp/so"
extra=$(comm -13 "$tmp/h" "$tmp/so")
missing=$(comm -23 "$tmp/h" "$tmp/so")
if [ -n "$extra" ] || [ -n "$missing" ]; then
	echo "exports.sh: FAIL"
	[ -n "$extra" ] && echo "exported but not in logd.h:" $extra
	[ -n "$missing" ] && echo "in logd.h but not exported:" $missing
	exit 1
fi
echo "exports.sh: $(wc -l < "$tmp/so") symbols, all declared in logd.h"
