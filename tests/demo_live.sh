#!/bin/sh
# demo_live.sh - the README's first command, scripts/demo.sh, run from
# this build for a few seconds: alerts must show while the pipeline runs
# (not only once it stops: Debian's mawk read the FIFO from logtail in
# blocks until told -W interactive), the SQLite table must hold alerts,
# and logalerts must have processed every reading sensorgen stored.
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
    DEMO_PORT=9720 DEMO_KAFKA_PORT=9740 sh "$top/scripts/demo.sh" > "$out" 2>&1 < /dev/null
rc=$?
[ $rc -eq 0 ] || fail "demo.sh exited $rc"

live=$(sed -n '/^== live alerts/,/^== stopping/p' "$out" | grep -c '(limit ')
[ "$live" -gt 0 ] || fail "no alert was shown before the demo stopped"

total=$(sed -n 's/^total: \([0-9]*\) alerts$/\1/p' "$out")
[ -n "$total" ] && [ "$total" -gt 0 ] || fail "alert_log holds no alerts"

stored=$(sed -n 's/^sensorgen: \([0-9]*\) readings stored.*/\1/p' "$out")
done=$(sed -n 's/^logalerts: processed \([0-9]*\) readings.*/\1/p' "$out")
[ -n "$stored" ] && [ "$stored" -gt 0 ] && [ "$stored" = "$done" ] ||
    fail "sensorgen stored '$stored' readings, logalerts processed '$done'"

echo "demo_live: $live alerts shown live, $total in alert_log," \
    "$stored readings stored and processed"
