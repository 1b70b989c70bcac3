#!/bin/sh
# status.sh - logd's status page in a real browser: starts logd with its
# HTTP listener on free ports, makes topics and a group that lags by a
# known amount, then runs status.test.mjs under node --test, which drives
# Debian's Chromium through playwright-core (tests/web, from its
# lockfile: 'npm ci', which scripts/test.sh runs).  The screenshot goes
# to tests/web/status.png in the build tree, beside this test's log.
# Skips (77) only when Chromium is not installed.
set -u
build=${LOGD_BUILDDIR:?run by make check}
src=${LOGD_SRCDIR:?run by make check}
dir=$src/tests/web
out=$build/tests/web
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || chromium=$(command -v chromium 2>/dev/null) ||
    { echo "status.sh: SKIP: chromium is not installed"; exit 77; }
command -v node >/dev/null ||
    { echo "status.sh: FAIL: node is not installed"; exit 1; }
[ -d "$dir/node_modules/playwright-core" ] ||
    { echo "status.sh: FAIL: run 'npm ci' in $dir (scripts/test.sh does)"; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/status.XXXXXX")
logd=
cleanup() {
	[ -n "$logd" ] && kill -TERM "$logd" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "status.sh: FAIL: $*"
	[ -s "$tmp/logd.log" ] && { echo "---- logd.log"; tail -30 "$tmp/logd.log"; }
	exit 1
}
port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
broker=127.0.0.1:$(port)
hport=$(port)
"$build/logd/logd" -d "$tmp/data" -l "$broker" --log-file "$tmp/logd.log" \
    --set kafka_listen=none --set http_listen=127.0.0.1:$hport &
logd=$!
i=0
until "$build/tools/logctl" -b "$broker" topics >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || fail "logd did not start"
	sleep 0.1
done
ctl() { "$build/tools/logctl" -b "$broker" "$@" >/dev/null || fail "logctl $*"; }
ctl create readings -p 3
ctl create alerts -p 1 --config retention.ms=3600000
seq 1 300 | "$build/tools/logput" -b "$broker" -p 0 readings >/dev/null ||
    fail "logput readings"
seq 1 7 | "$build/tools/logput" -b "$broker" alerts >/dev/null ||
    fail "logput alerts"
# the group "dash" has read 250 of partition 0's 300: lag 50
ctl reset dash --topic readings --to 250 -p 0

LOGD_STATUS_URL="http://127.0.0.1:$hport/" LOGD_BROKER=$broker \
    LOGD_BUILDDIR=$build STATUS_ARTIFACTS=$out CHROMIUM=$chromium \
    timeout 180 node --test "$dir/status.test.mjs"
rc=$?
[ $rc -eq 0 ] || fail "node --test exited $rc"
kill -TERM "$logd"; wait "$logd"; st=$?
logd=
[ $st -eq 0 ] || fail "logd exited $st"
echo "status.sh: all passed; screenshot $out/status.png"
