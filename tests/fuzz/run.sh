#!/bin/sh
# Runs each libFuzzer target for a short while.
#
#   tests/fuzz/run.sh BUILDDIR [SECONDS]
#
# BUILDDIR must be configured with CC=clang --enable-fuzzing (scripts/
# test.sh's "fuzz" stage does that).  Each target starts from its seed
# corpus (tests/fuzz/corpus/<target>, read only) and a scratch corpus in
# BUILDDIR/tests/fuzz/work/<target>, runs SECONDS (default 10) and stops
# at the first crash, leaking input or broken invariant; the input that
# did it is saved as BUILDDIR/tests/fuzz/work/crash-*.  Exit status 0
# when every target ran clean.  The last line of each run ("Done N
# runs") is the exec count.
set -e
build=${1:?usage: run.sh BUILDDIR [SECONDS]}
secs=${2:-10}
src=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$build" && pwd)
# fuzz_kafka compiles the daemon, whose http.c includes the status page
# that logd/ generates.
make -s -C "$build/logd" status_html.h
cd "$build/tests"
make -s fuzz/fuzz_batch fuzz/fuzz_frame fuzz/fuzz_recovery fuzz/fuzz_kafka
work="$build/tests/fuzz/work"
mkdir -p "$work"
status=0
for t in batch frame recovery kafka; do
	mkdir -p "$work/$t"
	echo "== fuzz_$t (${secs}s)"
	if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ./fuzz/fuzz_$t -max_total_time="$secs" -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$work/" "$work/$t" "$src/corpus/$t" \
	    >"$work/$t.log" 2>&1; then
		status=1
		echo "fuzz_$t FAILED:"
		grep -v '^#[0-9]' "$work/$t.log" | tail -40
	fi
	grep -E '^Done [0-9]+ runs' "$work/$t.log" || true
done
exit $status
