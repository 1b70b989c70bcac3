#!/bin/sh
# demo_live.sh - the README's first command, scripts/demo.sh, run from
# this build for a few seconds: alerts must show while the pipeline runs
# (not only once it stops: Debian's mawk read the FIFO from logtail in
# blocks until told -W interactive), the SQLite table must hold alerts,
# and logalerts must have processed every reading sensorgen stored; the
# dashboard the demo prints must serve the stations while it runs, and
# logd's status page the topics.
set -u
top=${LOGD_SRCDIR:?run by make check}
build=${LOGD_BUILDDIR:?run by make check}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/demo_live.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out

fail() {
	echo "demo_live: $*"
	echo "---- demo output"
	cat "$out"
	exit 1
}

# 20 readings/s with 3 % extremes: an alert about every second,
# too few bytes to fill a block-buffered reader.
DEMO_BUILD=$build DEMO_DATA=$tmp/demo DEMO_SECONDS=12 DEMO_RATE=20 \
    DEMO_PORT=9720 DEMO_KAFKA_PORT=9740 DEMO_HTTP_PORT=9760 \
    DEMO_STATUS_PORT=9780 \
    sh "$top/scripts/demo.sh" > "$out" 2>&1 < /dev/null &
demo=$!

# While it runs, the dashboard it printed serves the stations, and
# logd's status page lists sensor_data.
dash=
status=
i=0
while [ $i -lt 600 ] && kill -0 $demo 2>/dev/null; do
	surl=$(sed -n 's/^logd: *\(http:[^ ]*\).*/\1/p' "$out")
	if [ -z "$status" ] && [ -n "$surl" ] && python3 -c 'import json, sys, urllib.request
t = json.load(urllib.request.urlopen(sys.argv[1] + "api/topics", timeout=2))
sys.exit(0 if "sensor_data" in [x["name"] for x in t["topics"]] else 1)' "$surl" \
	    2>/dev/null; then
		status=$surl
	fi
	url=$(sed -n 's/^dashboard: \(http:[^ ]*\).*/\1/p' "$out")
	if [ -n "$url" ] && python3 -c 'import json, sys, urllib.request
h = json.load(urllib.request.urlopen(sys.argv[1] + "api/health", timeout=2))
sys.exit(0 if h["connected"] and h["stations"] > 0 else 1)' "$url" \
	    2>/dev/null; then
		dash=$url
		[ -n "$status" ] && break
	fi
	sleep 0.1
	i=$((i + 1))
done
wait $demo
rc=$?
[ $rc -eq 0 ] || fail "demo.sh exited $rc"
[ -n "$dash" ] || fail "the dashboard did not show the stations while the demo ran"
[ -n "$status" ] || fail "logd's status page did not list sensor_data while the demo ran"

live=$(sed -n '/^== live alerts/,/^== stopping/p' "$out" | grep -c '(limit ')
[ "$live" -gt 0 ] || fail "no alert was shown before the demo stopped"

total=$(sed -n 's/^total: \([0-9]*\) alerts$/\1/p' "$out")
[ -n "$total" ] && [ "$total" -gt 0 ] || fail "alert_log holds no alerts"

stored=$(sed -n 's/^sensorgen: \([0-9]*\) readings stored.*/\1/p' "$out")
done=$(sed -n 's/^logalerts: processed \([0-9]*\) readings.*/\1/p' "$out")
[ -n "$stored" ] && [ "$stored" -gt 0 ] && [ "$stored" = "$done" ] ||
    fail "sensorgen stored '$stored' readings, logalerts processed '$done'"

echo "demo_live: $live alerts shown live, $total in alert_log," \
    "$stored readings stored and processed; dashboard at $dash," \
    "status page at $status"
