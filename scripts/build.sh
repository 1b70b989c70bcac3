#!/bin/sh
# Builds logd out of tree in build/ (or $1) with extra configure flags
# from $2.  Used by the demo and by the tests.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$top/build}
[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi)
mkdir -p "$dir"
cd "$dir"
[ -f Makefile ] || "$top/configure" -q $2
make -s -j"$(nproc)"
