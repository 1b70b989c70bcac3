#!/bin/sh
# The Kafka path beside the native one, in one run on one logd: librdkafka
# (tests/bench_kafka, "make bench") produces N x 100-byte records through
# the Kafka listener with acks=1 and acks=-1 and consumes them, logbench
# does the same on the native port, alternated BENCH_ROUNDS times.  Each
# line is the client's JSON plus logd's CPU time for it (utime + stime
# from /proc, in ms), so CPU per record compares across the two paths.
#
#   BENCH_BUILD    a build directory (default build/, built if missing)
#   BENCH_RECORDS  records per run (default 1000000)
#   BENCH_ROUNDS   alternations (default 3)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${BENCH_BUILD:-$top/build}
n=${BENCH_RECORDS:-1000000}
rounds=${BENCH_ROUNDS:-3}
[ -n "${BENCH_BUILD:-}" ] || sh "$top/scripts/build.sh" "$bin" >&2
(cd "$bin/tests" && make -s bench >&2)
[ -x "$bin/tests/bench_kafka" ] || {
	echo "bench-kafka: no tests/bench_kafka: install librdkafka-dev and configure again" >&2
	exit 1
}
dir=$(mktemp -d /tmp/logd-kbench.XXXXXX)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
np=$(port); kp=$(port)
"$bin/logd/logd" -d "$dir/data" -l 127.0.0.1:$np --log-file "$dir/logd.log" \
    --set kafka_listen=127.0.0.1:$kp --set http_listen=none --set auto_create_topics=yes &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
i=0
until "$bin/tools/logctl" -b 127.0.0.1:$np topics >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "bench-kafka: logd did not start" >&2; exit 1; }
	sleep 0.1
done
ticks() { awk '{print $14 + $15}' /proc/$pid/stat; }
hz=$(getconf CLK_TCK)
run() { # label, command...
	label=$1; shift
	t0=$(ticks)
	out=$("$@")
	t1=$(ticks)
	printf '%s %s {"logd_cpu_ms":%d}\n' "$label" "$out" $(((t1 - t0) * 1000 / hz))
}
for r in $(seq "$rounds"); do
	for acks in 1 all; do
		run "kafka_produce_acks$acks" "$bin/tests/bench_kafka" -b 127.0.0.1:$kp \
		    -t k$r$acks -n "$n" -a $acks produce
		run "native_produce_acks$acks" "$bin/tools/logbench" produce \
		    -b 127.0.0.1:$np -t n$r$acks -p 1 -c "$n" --size 100 -a $acks
	done
	run kafka_consume "$bin/tests/bench_kafka" -b 127.0.0.1:$kp -t k${r}1 \
	    -n "$n" consume
	run native_consume "$bin/tools/logbench" consume -b 127.0.0.1:$np \
	    -t n${r}1 -c "$n"
done
