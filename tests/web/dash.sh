#!/bin/sh
# dash.sh - sensordash's page in a real browser: starts logd, sensorgen,
# logalerts (publishing to weather_alerts) and sensordash on free ports,
# then runs dash.test.mjs under node --test, which drives Debian's
# Chromium through playwright-core (tests/web, installed from its
# lockfile by 'npm ci'; scripts/test.sh does it).  The screenshot goes to
# tests/web/dash.png in the build tree, beside this test's log.
# Skips (77) only when Chromium is not installed.
set -u
build=${LOGD_BUILDDIR:?run by make check}
src=${LOGD_SRCDIR:?run by make check}
dir=$src/tests/web
out=$build/tests/web
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || chromium=$(command -v chromium 2>/dev/null) ||
    { echo "dash.sh: SKIP: chromium is not installed"; exit 77; }
command -v node >/dev/null ||
    { echo "dash.sh: FAIL: node is not installed"; exit 1; }
[ -d "$dir/node_modules/playwright-core" ] ||
    { echo "dash.sh: FAIL: run 'npm ci' in $dir (scripts/test.sh does)"; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dash.XXXXXX")
pids=
logd=
cleanup() {
	for p in $pids; do kill -TERM "$p" 2>/dev/null; done
	[ -n "$logd" ] && kill -TERM "$logd" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "dash.sh: FAIL: $*"
	for f in logd.log sensorgen.err logalerts.err sensordash.err; do
		[ -s "$tmp/$f" ] && { echo "---- $f"; tail -30 "$tmp/$f"; }
	done
	exit 1
}
port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
nport=$(port)
hport=$(port)
broker=127.0.0.1:$nport
"$build/logd/logd" -d "$tmp/data" -l "$broker" --log-file "$tmp/logd.log" \
    --set kafka_listen=127.0.0.1:0 --set http_listen=none &
logd=$!
i=0
until "$build/tools/logctl" -b "$broker" topics >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || fail "logd did not start"
	sleep 0.1
done
"$build/tools/logctl" -b "$broker" create sensor_data -p 4 >/dev/null &&
"$build/tools/logctl" -b "$broker" create weather_alerts -p 1 >/dev/null ||
    fail "cannot create the topics"

# Six stations, five readings a second, no random extremes: the one
# alert the test waits for is the one it causes.
"$build/tools/sensorgen" -b "$broker" -n 6 -r 5 -X 0 -q \
    2> "$tmp/sensorgen.err" &
pids="$pids $!"
"$build/tools/logalerts" -b "$broker" -d "$tmp/alerts.db" -A weather_alerts \
    -q > /dev/null 2> "$tmp/logalerts.err" &
pids="$pids $!"
"$build/tools/sensordash" -b "$broker" -l "127.0.0.1:$hport" \
    2> "$tmp/sensordash.err" &
pids="$pids $!"

# Until every station has reported once and sensordash answers.
i=0
while :; do
	# the stations as stored in the log (the keys), not as sensordash
	# reports them
	ids=$("$build/tools/logtail" -b "$broker" -o beginning -F '%k\n' \
	    sensor_data 2>/dev/null | sort -u | paste -sd, -)
	n=$(printf '%s' "$ids" | tr ',' '\n' | grep -c .)
	[ "$n" -eq 6 ] && python3 -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2)' \
	    "http://127.0.0.1:$hport/api/health" >/dev/null 2>&1 && break
	i=$((i + 1)); [ $i -lt 150 ] || fail "the pipeline did not start"
	sleep 0.1
done

DASH_URL="http://127.0.0.1:$hport/" LOGD_BROKER=$broker LOGD_BUILDDIR=$build \
    DASH_STATIONS=$ids DASH_ARTIFACTS=$out CHROMIUM=$chromium \
    timeout 180 node --test "$dir/dash.test.mjs"
rc=$?
[ $rc -eq 0 ] || fail "node --test exited $rc"
for p in $pids; do
	kill -TERM "$p"; wait "$p"; st=$?
	[ $st -eq 0 ] || fail "a pipeline program (pid $p) exited $st"
done
pids=
echo "dash.sh: all passed; screenshot $out/dash.png"
