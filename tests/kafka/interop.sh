#!/bin/bash
# interop.sh - logd's own tools and Kafka clients read each other's
# records, and kill -9 loses no acknowledged Kafka record.
#
# logtail -F and kcat -f print partition, offset, timestamp, key, value
# and headers with the same tokens, so the same records must print the
# same lines through both listeners, whichever side produced them.
# Binary values (every byte value) must survive both ways byte for byte.
# Keys go to the same partitions from logput and from librdkafka with
# the Java client's murmur2 partitioner.  Then kprod produces with
# acks=all at a steady rate, logd is SIGKILLed mid-stream and restarted,
# and every record kprod saw acknowledged must be read back by kcat at
# the partition and offset of its acknowledgement.
. "$LOGD_SRCDIR/tests/kafka/lib.sh"
need kcat "apt-get install kcat (scripts/deps.sh)"
need_file "$KPROD" "configure found no librdkafka: apt-get install librdkafka-dev, configure again"

logd_start
FMT='%p %o %T %k %s %h\n'

# both TOPIC OUT: the topic as printed by kcat and by logtail, sorted.
both() {
	kc -C -t "$1" -o beginning -e -q -f "$FMT" 2> "$T/C.err" |
	    sort -n -k1,1 -k2,2 > "$2.kcat"
	timeout 20 "$LOGTAIL" -o beginning -F "$FMT" "$1" 2> "$T/lt.err" |
	    sort -n -k1,1 -k2,2 > "$2.logtail"
}

keys_in() {
	for i in $(seq 1 40); do
		echo "station-$i:reading $i ${1}"
	done
}

t_logput_to_kcat() {
	create io.native 3 || return
	keys_in native | "$LOGPUT" -q -K: -H src=logput -H n=1 io.native \
	    2> "$T/lp.err" || { bad "logput: $(cat "$T/lp.err")"; return; }
	both io.native "$T/native"
	if [ "$(wc -l < "$T/native.kcat")" -eq 40 ] &&
	    cmp -s "$T/native.kcat" "$T/native.logtail"; then
		check "logput -> kcat -C: 40 records, same partitions, offsets, timestamps, keys, values, headers as logtail"
	else
		bad "logput -> kcat differs from logtail:" \
		    "$(diff "$T/native.logtail" "$T/native.kcat" | head -4) $(cat "$T/C.err")"
	fi
}

t_kcat_to_logtail() {
	create io.kafka 3 || return
	keys_in kafka | kc -P -t io.kafka -K: -H src=kcat -H n=2 \
	    -X partitioner=murmur2_random 2> "$T/P.err" ||
	    { bad "kcat -P: $(cat "$T/P.err")"; return; }
	both io.kafka "$T/kafka"
	if [ "$(wc -l < "$T/kafka.logtail")" -eq 40 ] &&
	    cmp -s "$T/kafka.kcat" "$T/kafka.logtail"; then
		check "kcat -P -> logtail: 40 records, same fields as kcat -C prints"
	else
		bad "kcat -P -> logtail differs from kcat -C:" \
		    "$(diff "$T/kafka.kcat" "$T/kafka.logtail" | head -4) $(cat "$T/lt.err")"
	fi
	# Same keys, same partitions (murmur2, as DESIGN promises).
	a=$(awk '{ print $4, $1 }' "$T/native.logtail" | sort)
	b=$(awk '{ print $4, $1 }' "$T/kafka.logtail" | sort)
	if [ -n "$a" ] && [ "$a" = "$b" ]; then
		check "logput and librdkafka's murmur2 partitioner put each key in the same partition"
	else
		bad "keys land in different partitions: $(diff <(echo "$a") <(echo "$b") | head -3)"
	fi
}

t_binary() {
	python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4 + b"\n\x00end")' \
	    > "$T/bin.in"
	create io.bin 1 || return
	kc -P -t io.bin -p 0 "$T/bin.in" 2> "$T/P.err" ||
	    { bad "kcat -P FILE: $(cat "$T/P.err")"; return; }
	timeout 20 "$LOGTAIL" -o beginning -R io.bin > "$T/bin.logtail" 2> "$T/lt.err"
	if cmp -s "$T/bin.in" "$T/bin.logtail"; then
		check "kcat -P binary file -> logtail -R: the same $(wc -c < "$T/bin.in") bytes"
	else
		bad "kcat -P binary -> logtail -R: $(cmp "$T/bin.in" "$T/bin.logtail" 2>&1) $(cat "$T/lt.err")"
	fi
	create io.bin2 1 || return
	"$LOGPUT" -q -R -p 0 io.bin2 "$T/bin.in" 2> "$T/lp.err" ||
	    { bad "logput -R: $(cat "$T/lp.err")"; return; }
	kc -C -t io.bin2 -o beginning -e -q -D '' -f '%s' > "$T/bin.kcat"
	if cmp -s "$T/bin.in" "$T/bin.kcat"; then
		check "logput -R binary file -> kcat -C: the same bytes"
	else
		bad "logput -R binary -> kcat: $(cmp "$T/bin.in" "$T/bin.kcat" 2>&1)"
	fi
}

# kill -9 during an acks=all produce.
t_kill9() {
	local i n acked

	create io.crash 4 || return
	"$KPROD" -b "$KBROKER" -t io.crash -n 40000 -r 4000 -s 64 \
	    -X acks=all -X message.timeout.ms=8000 -X retries=1000000 \
	    > "$T/acks.out" 2> "$T/kprod.err" &
	kp=$!
	BGPIDS="$BGPIDS $kp"
	for i in $(seq 100); do
		n=$(grep -c '^ack ' "$T/acks.out")
		[ "$n" -ge 2000 ] && break
		sleep 0.1
	done
	if [ "$n" -lt 2000 ]; then
		bad "only $n records acknowledged after 10 s: $(tail -3 "$T/kprod.err")"
		return
	fi
	logd_kill9
	n=$(grep -c '^ack ' "$T/acks.out")
	say "killed logd with kill -9 after $n acknowledgements"
	# kprod fails what is left once message.timeout.ms passes.
	for i in $(seq 300); do
		kill -0 "$kp" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$kp" 2>/dev/null
	wait "$kp" 2>/dev/null
	acked=$(grep -c '^ack ' "$T/acks.out")
	logd_launch || return
	kc -C -t io.crash -o beginning -e -q -f '%p %o %k\n' > "$T/crash.read" 2> "$T/C.err"
	if python3 - "$T/acks.out" "$T/crash.read" <<'EOF'
import sys
acks = [l.split()[1:] for l in open(sys.argv[1]) if l.startswith("ack ")]
read = {}
dup = 0
for l in open(sys.argv[2]):
    p, o, k = l.split()
    if (p, o) in read:
        dup += 1
    read[(p, o)] = k
lost = [a for a in acks if read.get((a[0], a[1])) != a[2]]
print("%d acknowledged, %d read back, %d lost or moved, %d offsets twice"
      % (len(acks), len(read), len(lost), dup))
for a in lost[:5]:
    print("  lost: partition %s offset %s key %s (found %r)" % (a[0], a[1], a[2], read.get((a[0], a[1]))))
sys.exit(1 if lost or dup or not acks else 0)
EOF
	then
		check "kill -9 during acks=all: every acknowledged record ($acked) is read back at its offset"
	else
		bad "kill -9 during acks=all lost acknowledged records (above)"
	fi
}

t_logput_to_kcat
t_kcat_to_logtail
t_binary
t_kill9
logd_alive && check "logd running after the restart"
finish
