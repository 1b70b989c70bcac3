#!/bin/sh
# quicktest.sh - a one-line check of a running logd and the weather
# pipeline:
#
#     sh scripts/quicktest.sh [-b addr] [-r rules]
#
# On a topic and a group of its own (quicktest-PID, deleted at the end),
# sensorgen publishes 20 readings with a fixed seed, simulated clock and
# more extremes than by default, so that a few of them break the rules;
# logalerts consumes them (-x: until caught up) and prints each alert.
# The alerts expected are worked out here, independently, from the
# readings as logtail replays them and the rules file (tools/alerts.rules,
# the rules logalerts applies by default), and compared one by one with
# those logalerts raised.  Prints one verdict line and exits 0 or 1:
#
#     20 readings, 5 alerts (expected 5), 0 pending, PASSED
#
# The tools are taken from $LOGD_BIN if set, else from build/tools next
# to this script when built there, else from $PATH.  The broker is -b,
# else $LOGD_BROKER, else the tools' default (127.0.0.1:9400).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
addr=${LOGD_BROKER:-127.0.0.1:9400}
rules=$top/tools/alerts.rules
readings=20
while getopts b:r:h opt; do
	case $opt in
	b) addr=$OPTARG ;;
	r) rules=$OPTARG ;;
	h) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: quicktest.sh [-b addr] [-r rules]" >&2; exit 2 ;;
	esac
done
if [ -n "${LOGD_BIN:-}" ]; then
	bin=$LOGD_BIN/
elif [ -x "$top/build/tools/logctl" ]; then
	bin=$top/build/tools/
else
	bin=
fi
name=quicktest-$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/quicktest.XXXXXX") || exit 1
cleanup() {
	"${bin}logctl" -b "$addr" delete "$name" >/dev/null 2>&1
	"${bin}logctl" -b "$addr" delete-group "$name" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The verdict line, with what went wrong (and its output) on stderr.
fail() {
	echo "quicktest: $1" >&2
	[ -s "$tmp/err" ] && sed 's/^/  /' "$tmp/err" >&2
	echo "${2:-0} readings, ${3:-0} alerts (expected ${4:-?}), ${5:-?} pending, FAILED"
	exit 1
}

[ -r "$rules" ] || fail "cannot read the rules file $rules"
"${bin}logctl" -b "$addr" create "$name" -p 2 >/dev/null 2>"$tmp/err" ||
	fail "cannot create topic $name on $addr"
"${bin}sensorgen" -b "$addr" -t "$name" -c "$readings" --seed 1 -X 0.1 \
	-s 2026-03-15T06:00:00Z -q 2>"$tmp/err" ||
	fail "sensorgen could not publish the readings"
"${bin}logtail" -b "$addr" -F '%s\n' "$name" >"$tmp/readings" 2>"$tmp/err" ||
	fail "logtail could not replay the readings"
got=$(wc -l <"$tmp/readings" | tr -d ' ')
[ "$got" -eq "$readings" ] ||
	fail "$got readings stored, $readings sent" "$got"
"${bin}logalerts" -b "$addr" -t "$name" -g "$name" --rules "$rules" \
	-d "$tmp/alerts.db" -x -q -P >"$tmp/raised" 2>"$tmp/err" ||
	fail "logalerts failed" "$got"

# Expected: "timestamp sensor_id NAME" for each rule each reading breaks.
awk 'NR == FNR {
	if ($0 ~ /^[ \t]*(#|$)/) next
	n++; name[n] = $1; metric[n] = $2; op[n] = $3; limit[n] = $4 + 0
	next
}
function field(k,    m) {
	if (!match($0, "\"" k "\":(\"[^\"]*\"|[-+0-9.eE]+)")) return ""
	m = substr($0, RSTART + length(k) + 3, RLENGTH - length(k) - 3)
	gsub(/"/, "", m)
	return m
}
{
	for (i = 1; i <= n; i++) {
		v = field(metric[i])
		if (v == "") continue
		v += 0
		if ((op[i] == ">" && v > limit[i]) ||
		    (op[i] == "<" && v < limit[i]) ||
		    (op[i] == ">=" && v >= limit[i]) ||
		    (op[i] == "<=" && v <= limit[i]))
			print field("timestamp"), field("sensor_id"), name[i]
	}
}' "$rules" "$tmp/readings" | sort >"$tmp/expected"
# Raised: logalerts -P prints timestamp, severity, alert_type, sensor_id.
awk '{ print $1, $4, $3 }' "$tmp/raised" | sort >"$tmp/actual"
want=$(wc -l <"$tmp/expected" | tr -d ' ')
alerts=$(wc -l <"$tmp/actual" | tr -d ' ')
# The group's total lag comes before its per-partition "offsets".
pending=$("${bin}logctl" -b "$addr" --json group "$name" 2>"$tmp/err" |
	sed -n 's/,"offsets":.*//; s/.*,"lag":\([0-9-]*\)$/\1/p')
[ -n "$pending" ] || fail "cannot read the lag of group $name" "$got" \
	"$alerts" "$want"
if ! cmp -s "$tmp/expected" "$tmp/actual"; then
	diff "$tmp/expected" "$tmp/actual" | sed -n 's/^[<>]/&/p' >"$tmp/err"
	fail "the alerts differ from the rules in $rules (< expected, > raised)" \
		"$got" "$alerts" "$want" "$pending"
fi
[ "$pending" -eq 0 ] || fail "readings left unconsumed" "$got" "$alerts" \
	"$want" "$pending"
[ "$want" -gt 0 ] || fail "the readings raised no alert: nothing checked" \
	"$got" "$alerts" "$want" "$pending"
echo "$got readings, $alerts alerts (expected $want), $pending pending, PASSED"
