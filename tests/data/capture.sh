#!/bin/bash
# Captures the kcat-batch-*.bin files (see README): librdkafka, through
# kcat and through capture-rdkafka.py, produces to capture-broker.py,
# which saves the first RecordBatch it receives.  Needs kcat, python3
# and librdkafka.so.1.  usage: capture.sh [outdir]
set -e
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-.}

start_broker() { # port, file name
	python3 "$here/capture-broker.py" "$1" "$out/$2" 1 &
	bpid=$!
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.2
	done
	kill "$bpid"
	return 1
}

finish() { # file name
	wait "$bpid"
	mv "$out/$1-1.bin" "$out/$1.bin"
	echo "$out/$1.bin"
}

lines() {
	printf 'station-1:{"t":25.5}\n:empty-key\nk3:\nplain-line\n'
	printf 'station-2:%0300d\n' 0 | tr 0 x
}

dots() {
	for i in $(seq -w 0 49); do
		printf 'key-%s:value-%s-%080d\n' "$i" "$i" 0 | tr 0 .
	done
}

# 1: kcat, five records, headers, null key (-Z on an empty key) and null
# value (-Z on an empty value); wall-clock timestamps.
start_broker 19191 kcat-batch-1
date -u +'capture window: %s%3N' >&2
lines | kcat -P -b 127.0.0.1:19191 -t sensors -p 0 -K : -Z \
    -H trace=abc -H source=kcat -X linger.ms=200 2>/dev/null || true
date -u +'capture window end: %s%3N' >&2
finish kcat-batch-1

# 2: librdkafka, six records with chosen timestamps and null/empty fields.
start_broker 19192 kcat-batch-2
python3 "$here/capture-rdkafka.py" 19192 small 2>/dev/null || true
finish kcat-batch-2

# 3: librdkafka, 1000 records with 100-byte values.
start_broker 19193 kcat-batch-3
python3 "$here/capture-rdkafka.py" 19193 big 2>/dev/null || true
finish kcat-batch-3

# 4: kcat with gzip: the first batch of 50 lines (kcat then fails, as
# the broker is gone; the batch is what matters).
start_broker 19194 kcat-batch-4
dots | kcat -P -b 127.0.0.1:19194 -t sensors -p 0 -K : -z gzip \
    -X linger.ms=200 2>/dev/null || true
finish kcat-batch-4
