#!/bin/sh
# Installs the dependencies, builds logd twice (plain, and with ASan and
# UBSan) and runs every test in both builds.  Exits non-zero on any
# failure.  The last line counts the Check tests that passed and failed.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
sh "$top/scripts/deps.sh"
# KafkaJS for tests/kafka/kafkajs.sh, exactly as its lockfile says.
if ! (cd "$top/tests/kafka/kafkajs" && npm ci --no-audit --no-fund \
    >/tmp/logd-npm.log 2>&1); then
	cat /tmp/logd-npm.log >&2
	echo "test.sh: npm ci in tests/kafka/kafkajs failed" >&2
	exit 1
fi
# playwright-core for the browser tests in tests/web (Debian's Chromium).
if ! (cd "$top/tests/web" && npm ci --no-audit --no-fund \
    >/tmp/logd-npm-web.log 2>&1); then
	cat /tmp/logd-npm-web.log >&2
	echo "test.sh: npm ci in tests/web failed" >&2
	exit 1
fi
if ! (cd "$top" && autoreconf -fi >/tmp/logd-autoreconf.log 2>&1); then
	cat /tmp/logd-autoreconf.log >&2
	echo "test.sh: autoreconf failed" >&2
	exit 1
fi

status=0
for variant in plain asan; do
	dir="$top/build-test-$variant"
	flags=""
	[ "$variant" = asan ] && flags="--enable-sanitizers"
	rm -rf "$dir"
	echo "== $variant build"
	sh "$top/scripts/build.sh" "$dir" "$flags"
	echo "== $variant tests"
	if ! (cd "$dir" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    make -s -j"$(nproc)" check); then
		status=1
		for f in "$dir"/tests/*.log; do
			grep -q '^FAIL\|^ERROR' "${f%.log}.trs" 2>/dev/null &&
			    { echo "---- $f"; tail -50 "$f"; }
		done
	fi
done

# Third stage: the libFuzzer targets, 10 s each (tests/fuzz/README).
echo "== fuzz build and short runs"
dir="$top/build-test-fuzz"
rm -rf "$dir" && mkdir -p "$dir"
if ! (cd "$dir" && CC=clang "$top/configure" -q --enable-fuzzing &&
    sh "$top/tests/fuzz/run.sh" "$dir" 10); then
	status=1
fi

# Check prints "NN%: Checks: N, Failures: F, Errors: E" per program;
# test-suite.log repeats the failing programs' logs, so it is left out.
ls "$top"/build-test-*/tests/*.log "$top"/build-test-*/tests/*/*.log \
    2>/dev/null | grep -v '/test-suite\.log$' | xargs cat 2>/dev/null |
    python3 -c '
import re, sys
p = f = 0
for m in re.finditer(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)", sys.stdin.read()):
    n, fa, e = map(int, m.groups())
    p += n - fa - e
    f += fa + e
print("check: %d passed, %d failed" % (p, f))
'
exit $status
