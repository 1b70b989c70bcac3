#!/bin/sh
# logetl's load rate on this machine: a logd on a fresh data directory,
# BENCH_RECORDS readings from sensorgen (simulated clock, 100 stations,
# 4 partitions), then logetl in batch mode into a new database, timed.
# Prints logetl's summary line and the wall time; a second run must load
# nothing.  Builds in build/ (scripts/build.sh) unless BENCH_BUILD names a
# build directory.  The machine is shared: run it a few times.
#
#   BENCH_RECORDS  readings (default 1000000)
#   BENCH_ROWS     logetl -z, records per transaction (default 50000)
#   BENCH_DIR      where the data goes (default a new dir under /tmp)
#   BENCH_PORT     logd's port (default 9494)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${BENCH_BUILD:-$top/build}
n=${BENCH_RECORDS:-1000000}
rows=${BENCH_ROWS:-50000}
port=${BENCH_PORT:-9494}
dir=${BENCH_DIR:-$(mktemp -d /tmp/logetl-bench.XXXXXX)}
addr=127.0.0.1:$port

[ -n "${BENCH_BUILD:-}" ] || sh "$top/scripts/build.sh" "$bin" >&2

logd_pid=
cleanup() {
	[ -n "$logd_pid" ] && kill "$logd_pid" 2>/dev/null &&
	    wait "$logd_pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

mkdir -p "$dir/data"
"$bin/logd/logd" -d "$dir/data" -l "$addr" --log-file "$dir/logd.log" \
    --set kafka_listen=127.0.0.1:0 --set http_listen=none &
logd_pid=$!
i=0
until "$bin/tools/logctl" -b "$addr" stats >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "bench-etl: logd did not start" >&2; exit 1; }
	sleep 0.1
done

t0=$(date +%s.%N)
"$bin/tools/sensorgen" -b "$addr" -p 4 -n 100 -c "$n" -s 2026-01-01 \
    -i 60 --seed 1 -q
t1=$(date +%s.%N)
echo "sensorgen: $n readings in $(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }") s"

t0=$(date +%s.%N)
${BENCH_WRAP:-} "$bin/tools/logetl" -b "$addr" -d "$dir/etl.db" -z "$rows"
t1=$(date +%s.%N)
echo "logetl wall time: $(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }") s"
"$bin/tools/logetl" -b "$addr" -d "$dir/etl.db" | grep -q "loaded 0 readings" ||
    { echo "bench-etl: the second run loaded readings" >&2; exit 1; }
got=$(sqlite3 "$dir/etl.db" 'SELECT count(*) FROM readings' 2>/dev/null ||
    echo "?")
echo "rows: $got of $n; database $(du -sh "$dir/etl.db" | cut -f1)"
