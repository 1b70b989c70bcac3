#!/bin/sh
# Every performance figure the issues name, in one run on this machine:
# the in-process storage benchmark (tests/bench_storage), then a logd on
# a fresh data directory and logbench against it: produce with acks=1 and
# acks=all, consume plain and as a committing group, end-to-end latency
# at 10,000 records/s beside the bare relay and Redis, then disk in use
# and restart times (scripts/bench-restart.sh: kill -9 and clean restarts
# with P partitions, disk against data after 1M records over them, and a
# large datadir's restart after kill -9).  Builds in build/
# (scripts/build.sh) unless BENCH_BUILD names a build directory.  Prints
# one labelled JSON line per figure.  Compare ratios within one run: the
# machine is shared.
#
#   BENCH_RECORDS  records for the throughput runs (default 10000000)
#   BENCH_DIR      where the data goes (default a new dir under /tmp)
#   BENCH_PORT     logd's port (default 9490)
#   BENCH_PARTITIONS  P for the restart runs (default 100)
#   BENCH_DATADIR_MB  the large datadir, MB (default 10240; 0: skipped)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${BENCH_BUILD:-$top/build}
n=${BENCH_RECORDS:-10000000}
port=${BENCH_PORT:-9490}
dir=${BENCH_DIR:-$(mktemp -d /tmp/logd-bench.XXXXXX)}
addr=127.0.0.1:$port

[ -n "${BENCH_BUILD:-}" ] || sh "$top/scripts/build.sh" "$bin" >&2
(cd "$bin/tests" && make -s bench >&2)

logd_pid=
cleanup() {
	[ -n "$logd_pid" ] && kill "$logd_pid" 2>/dev/null &&
	    wait "$logd_pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

say() { printf '%s ' "$1"; }

say storage
"$bin/tests/bench_storage" -d "$dir" -n "$n" -f 200000 | tail -1

mkdir -p "$dir/data"
"$bin/logd/logd" -d "$dir/data" -l "$addr" --log-file "$dir/logd.log" \
    --set kafka_listen=127.0.0.1:$((port + 1)) --set http_listen=none &
logd_pid=$!
i=0
until "$bin/tools/logctl" -b "$addr" stats >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "bench: logd did not start" >&2; exit 1; }
	sleep 0.1
done

lb="$bin/tools/logbench"
say produce_acks1
"$lb" produce -b "$addr" -t b1 -p 1 -c "$n" --size 100 -a 1
say produce_acksall
"$lb" produce -b "$addr" -t ball -p 1 -c "$((n / 2))" --size 100 -a all
# The issue's durable figure: at most 1,000 records un-acknowledged
# (10 requests of 100 records in flight).
say produce_acksall_1000
"$lb" produce -b "$addr" -t ball1k -p 1 -c 1000000 --size 100 -a all -z 100 -I 10
say consume
"$lb" consume -b "$addr" -t b1 -c "$n"
say consume_group
"$lb" consume -b "$addr" -t b1 -c "$n" -g bench --commit-ms 100
# The issue's group figure: a commit every 1,000 records, synchronous
# and asynchronous.
say consume_group_sync_1000
"$lb" consume -b "$addr" -t b1 -c "$n" -g benchsync --commit-every 1000
say consume_group_async_1000
"$lb" consume -b "$addr" -t b1 -c "$n" -g benchasync --commit-every 1000 --async-commit
# Latency at 10,000 records/s beside its floor, logbench relay (a broker
# that does nothing: two loopback hops, one wake-up), and Redis Streams,
# all through logbench latency's one loop and alternated, so that each
# round sees the same machine: BENCH_LAT_ROUNDS rounds (default 3) of
# BENCH_LAT_SECONDS (default 10) each.  The relay and redis-server run
# on free ports and stop when the rounds end.
lat_rounds=${BENCH_LAT_ROUNDS:-3}
lat_s=${BENCH_LAT_SECONDS:-10}
relay_pid= redis_pid= redis=
lat_stop() {
	for p in $relay_pid $redis_pid; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || :
	done
	relay_pid= redis_pid=
}
trap 'lat_stop; cleanup' EXIT INT TERM
"$lb" relay -l 127.0.0.1:0 >"$dir/relay.out" 2>"$dir/relay.err" &
relay_pid=$!
i=0
until relay=$(sed -n 's/.*"listen":"\([^"]*\)".*/\1/p' "$dir/relay.out") &&
    [ -n "$relay" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "bench: logbench relay did not start" >&2; exit 1; }
	sleep 0.1
done
if command -v redis-server >/dev/null 2>&1; then
	rport=$(python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null) ||
	    rport=$((port + 2))
	redis-server --port "$rport" --bind 127.0.0.1 --save '' \
	    --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
	redis_pid=$!
	i=0
	until redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "bench: redis-server did not start" \
		    "on port $rport" >&2; exit 1; }
		sleep 0.1
	done
	redis=127.0.0.1:$rport
else
	echo "bench: redis-server is not installed (apt-get install" \
	    "redis-server): the Redis latency runs are skipped" >&2
fi
r=1
while [ $r -le "$lat_rounds" ]; do
	say latency_acks1_$r
	"$lb" latency -b "$addr" -t blat -p 1 -r 10000 -D "$lat_s" --size 100 \
	    -a 1
	say latency_relay_$r
	"$lb" latency --peer relay -b "$relay" -r 10000 -D "$lat_s" --size 100
	if [ -n "$redis" ]; then
		say latency_redis_$r
		"$lb" latency --peer redis -b "$redis" -t blat -r 10000 \
		    -D "$lat_s" --size 100
	fi
	r=$((r + 1))
done
lat_stop
trap cleanup EXIT INT TERM
# Disk and restart, on datadirs of their own and free ports.
BENCH_BUILDS=$bin BENCH_ROUNDS=1 BENCH_PARTITIONS=${BENCH_PARTITIONS:-100} \
    BENCH_RECORDS=1000000 BENCH_DATADIR_MB=${BENCH_DATADIR_MB:-10240} \
    sh "$top/scripts/bench-restart.sh" > "$dir/restart.out"
sed 's/^/restart /' "$dir/restart.out"
