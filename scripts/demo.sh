#!/bin/sh
# The weather pipeline, end to end: installs what is missing (Debian 12),
# builds logd in build/, starts logd on a fresh data directory, creates
# sensor_data (4 partitions) and weather_alerts, runs sensorgen (stations
# in Egyptian cities), logalerts (alerts into SQLite and onto
# weather_alerts) and sensordash (the dashboard, http://127.0.0.1:8050/),
# and shows the alerts live with logtail -f.  After
# DEMO_SECONDS (default 60) or Ctrl-C it stops everything cleanly and
# prints a summary and where the data is.
#
#   DEMO_SECONDS  how long to run (default 60)
#   DEMO_PORT     first TCP port to try (default 9400; the next free one
#                 up to +20 is used)
#   DEMO_DATA     the demo's directory (default ./demo-data in the source
#                 tree); it is emptied first if an earlier demo made it
#   DEMO_KAFKA_PORT  first port to try for the Kafka listener (default
#                 9092, moving up with DEMO_PORT's)
#   DEMO_HTTP_PORT  first port to try for sensordash (default 8050; the
#                 next free one up to +20 is used)
#   DEMO_STATUS_PORT  first port to try for logd's status page and
#                 /metrics (default 9401, moving up with DEMO_PORT's)
#   DEMO_RATE     readings per second (default 20)
#   DEMO_STATIONS number of stations (default 12)
#   DEMO_BUILD    an existing build directory to run from; the demo then
#                 neither installs nor builds (tests/demo_live.sh)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
seconds=${DEMO_SECONDS:-60}
port=${DEMO_PORT:-9400}
kport=${DEMO_KAFKA_PORT:-9092}
hport=${DEMO_HTTP_PORT:-8050}
sport=${DEMO_STATUS_PORT:-9401}
data=${DEMO_DATA:-$top/demo-data}
rate=${DEMO_RATE:-20}
stations=${DEMO_STATIONS:-12}
bin=${DEMO_BUILD:-$top/build}

case $seconds in ''|*[!0-9]*) echo "demo: DEMO_SECONDS must be a number" >&2; exit 2;; esac

say() { printf '\n== %s\n' "$*"; }

if [ -z "${DEMO_BUILD:-}" ]; then
	say "dependencies"
	sh "$top/scripts/deps.sh"
	say "building in $bin"
	sh "$top/scripts/build.sh" "$bin"
fi

# A fresh data directory; only one this script made is ever removed.
if [ -e "$data" ]; then
	if [ -f "$data/.logd-demo" ]; then
		rm -rf "$data"
	else
		echo "demo: $data exists and was not made by the demo;" \
		    "set DEMO_DATA to another path" >&2
		exit 1
	fi
fi
mkdir -p "$data"
: > "$data/.logd-demo"
data=$(cd "$data" && pwd)

logd_pid= gen_pid= alerts_pid= tail_pid= view_pid= timer_pid= dash_pid=
dash_url=
interrupted=

stop_all() {
	[ -n "$timer_pid" ] && kill "$timer_pid" 2>/dev/null || true
	# Producer first, then the consumer (it finishes its batch and
	# commits), then the viewer, then the broker.
	for p in $gen_pid $alerts_pid; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	gen_pid= alerts_pid=
	# logtail, then the formatter reading from it sees the end; then
	# the dashboard.
	for p in $tail_pid $view_pid $dash_pid; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	tail_pid= view_pid= dash_pid=
	rm -f "$data/.alerts.fifo"
}

stop_logd() {
	if [ -n "$logd_pid" ]; then
		kill -TERM "$logd_pid" 2>/dev/null || true
		wait "$logd_pid" 2>/dev/null || true
		logd_pid=
	fi
}

# Whatever ends the script (an error, Ctrl-C before the pipeline runs),
# what it started is stopped.
trap 'stop_all; stop_logd' EXIT
trap 'exit 130' INT TERM

# Starts logd on $port, or the next free port; sets $addr.
start_logd() {
	tries=0
	while :; do
		addr=127.0.0.1:$port
		cat > "$data/logd.conf" <<EOF
# Written by scripts/demo.sh.
datadir = $data/logd
listen = $addr
kafka_listen = 127.0.0.1:$kport
http_listen = 127.0.0.1:$sport
log_file = $data/logd.log
# Small segments: the demo has little data.
default.segment.bytes = 16777216
EOF
		# Its own session: Ctrl-C on the terminal reaches the
		# pipeline programs (they stop cleanly by themselves) but
		# not logd, which this script stops last, after the summary.
		$setsid "$bin/logd/logd" -C "$data/logd.conf" &
		logd_pid=$!
		i=0
		while [ $i -lt 100 ]; do
			if ! kill -0 "$logd_pid" 2>/dev/null; then
				break
			fi
			# Our logd's own word, not just anyone on the port.
			if grep -q 'listening on' "$data/logd.log" \
			    2>/dev/null && "$bin/tools/logctl" -b "$addr" \
			    topics >/dev/null 2>&1; then
				return 0
			fi
			sleep 0.1
			i=$((i + 1))
		done
		kill -TERM "$logd_pid" 2>/dev/null || true
		wait "$logd_pid" 2>/dev/null || true
		logd_pid=
		tries=$((tries + 1))
		if [ $tries -gt 20 ] || ! grep -qi 'in use' "$data/logd.log" \
		    2>/dev/null; then
			echo "demo: logd did not start; its log:" >&2
			cat "$data/logd.log" >&2 2>/dev/null || true
			exit 1
		fi
		port=$((port + 1))
		kport=$((kport + 1))
		sport=$((sport + 1))
		rm -f "$data/logd.log"
	done
}

# Starts sensordash on $hport, or the next free port; sets $dash_url.
start_dash() {
	tries=0
	while :; do
		"$bin/tools/sensordash" -l "127.0.0.1:$hport" \
		    2> "$data/sensordash.log" &
		dash_pid=$!
		i=0
		while [ $i -lt 50 ] && kill -0 "$dash_pid" 2>/dev/null; do
			if grep -q 'dashboard at' "$data/sensordash.log"; then
				dash_url=http://127.0.0.1:$hport/
				return 0
			fi
			sleep 0.1
			i=$((i + 1))
		done
		kill -TERM "$dash_pid" 2>/dev/null || true
		wait "$dash_pid" 2>/dev/null || true
		dash_pid=
		tries=$((tries + 1))
		if [ $tries -gt 20 ] || ! grep -qi 'in use' \
		    "$data/sensordash.log" 2>/dev/null; then
			echo "demo: sensordash did not start; its log:" >&2
			cat "$data/sensordash.log" >&2 2>/dev/null || true
			exit 1
		fi
		hport=$((hport + 1))
	done
}

setsid=
command -v setsid >/dev/null 2>&1 && setsid=setsid

say "starting logd"
start_logd
echo "logd (pid $logd_pid) serving $data/logd on $addr"
export LOGD_BROKER="$addr"

"$bin/tools/logctl" create sensor_data -p 4
"$bin/tools/logctl" create weather_alerts -p 1

say "pipeline: sensorgen ($stations stations, $rate readings/s) -> logd" \
    "-> logalerts -> $data/alerts.db"
"$bin/tools/sensorgen" -n "$stations" -r "$rate" -X 0.03 \
    2> "$data/sensorgen.log" &
gen_pid=$!
"$bin/tools/logalerts" -d "$data/alerts.db" -A weather_alerts --stats 200 \
    2> "$data/logalerts.log" &
alerts_pid=$!
start_dash

say "live alerts (logtail -f weather_alerts), for ${seconds}s; Ctrl-C stops"
echo "dashboard: $dash_url  (sensordash: readings, charts, map, alerts, health)"
echo "logd:      http://127.0.0.1:$sport/  (status page; /metrics for Prometheus)"
if [ -t 1 ]; then red=$(printf '\033[31m') off=$(printf '\033[0m'); else red= off=; fi
# logtail prints each alert as one JSON object; awk shows it as a table
# row.  A FIFO between them keeps both pids, so both stop cleanly.
# Debian's awk is mawk, which reads a pipe in blocks (so nothing would
# show until logtail exits) unless told -W interactive.
mkfifo "$data/.alerts.fifo"
"$bin/tools/logtail" -f weather_alerts > "$data/.alerts.fifo" &
tail_pid=$!
awkflags=
awk -W version 2>&1 | grep -q mawk && awkflags="-W interactive"
awk $awkflags -v red="$red" -v off="$off" '
function f(k,   m) {
	if (!match($0, "\"" k "\":(\"[^\"]*\"|[^,}]*)"))
		return "?"
	m = substr($0, RSTART + length(k) + 3, RLENGTH - length(k) - 3)
	gsub(/"/, "", m)
	return m
}
{
	sev = f("severity")
	c = sev == "CRITICAL" ? red : ""
	printf "%s  %s%-8s %-13s%s %-26s %-16s %s %s (limit %s)\n",
	    f("alert_ts"), c, sev, f("alert_type"), (c != "" ? off : ""),
	    f("sensor_id"), f("city"), f("metric"), f("value"),
	    f("threshold")
	fflush()
}' < "$data/.alerts.fifo" &
view_pid=$!

# Wait for the time to pass, or for Ctrl-C, or for a pipeline program
# to fail; then stop and summarize in every case.
sleep "$seconds" &
timer_pid=$!
trap 'interrupted=1; kill "$timer_pid" 2>/dev/null || true' INT TERM
while [ -z "$interrupted" ] && kill -0 "$timer_pid" 2>/dev/null; do
	for p in $gen_pid $alerts_pid $dash_pid; do
		if ! kill -0 "$p" 2>/dev/null; then
			echo "demo: a pipeline program stopped early;" \
			    "see $data/*.log" >&2
			kill "$timer_pid" 2>/dev/null || true
		fi
	done
	sleep 1 || true  # a Ctrl-C kills it too: not an error
done
timer_pid=

say "stopping${interrupted:+ (interrupted)}"
trap '' INT
stop_all

say "summary"
"$bin/tools/logctl" describe sensor_data || true
"$bin/tools/logctl" group alerts || true
if command -v sqlite3 >/dev/null 2>&1; then
	echo
	echo "alerts in $data/alerts.db:"
	sqlite3 -column -header "$data/alerts.db" \
	    "SELECT alert_type, severity, count(*) AS alerts,
	            count(DISTINCT sensor_id) AS stations
	     FROM alert_log GROUP BY alert_type, severity ORDER BY alerts DESC;"
	sqlite3 "$data/alerts.db" \
	    "SELECT 'total: ' || count(*) || ' alerts' FROM alert_log;"
fi
tail -n 1 "$data/sensorgen.log" 2>/dev/null || true
tail -n 1 "$data/logalerts.log" 2>/dev/null || true
tail -n 1 "$data/sensordash.log" 2>/dev/null || true
stop_logd

trap - EXIT

say "where things are"
cat <<EOF
logd data:     $data/logd   (logctl verify $data/logd checks it offline)
logd log:      $data/logd.log
alerts:        $data/alerts.db   (sqlite3 $data/alerts.db 'SELECT * FROM alert_log LIMIT 10')
tool logs:     $data/sensorgen.log, $data/logalerts.log, $data/sensordash.log
Dashboard:     $bin/tools/sensordash -b $addr  (then $dash_url; it replays the last 3 hours)
Restart logd:  $bin/logd/logd -C $data/logd.conf
Kafka clients: kcat -b 127.0.0.1:$kport -C -t sensor_data -e
Status page:   http://127.0.0.1:$sport/ while logd runs (/metrics, /api/topics, /api/groups)
EOF
