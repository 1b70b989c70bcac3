#!/bin/bash
# compact.sh - log compaction (cleanup.policy compact) against a real
# logd, read by logtail (native) and kcat (Kafka):
#  - keys overwritten many times across segments compact to one record
#    each below the clean point; every record read is the one produced
#    at its offset (byte for byte: partition, offset, key, value), and
#    the last value of every key is there;
#  - logtail and kcat print the same records, also from an offset that
#    cleaning removed (both start at the next record kept);
#  - a group whose committed offset was removed resumes at the next
#    record;
#  - records without a key are refused (logput, kcat: INVALID_RECORD);
#  - tombstones survive a clean, then go after delete.retention.ms;
#  - cleaning under concurrent produce and a following reader;
#  - kill -9 during cleaning, again and again: logctl verify is clean,
#    no .cleaned file survives the restart, and the records are as
#    before.
. "$LOGD_SRCDIR/tests/kafka/lib.sh"
need kcat "apt-get install kcat (scripts/deps.sh)"

logd_start "cleaner_check_ms = 200"
FMT='%p %o %k %s\n'

# gen N KEYS SEED: "key:value" lines, keys overwritten at random.
gen() {
	python3 -c '
import random, sys
n, keys, seed = map(int, sys.argv[1:])
r = random.Random(seed)
for i in range(n):
    print("station-%03d:reading-%d-%d" % (r.randrange(keys), i, r.randrange(10**6)))' "$@"
}

# model_check INPUT OUT CLEAN: OUT ("P O K V" lines of one partition,
# written from INPUT in order, so offset i is line i) holds only records
# of INPUT at their offsets, increasing, the last record of every key,
# and below CLEAN at most one record per key.
model_check() {
	python3 - "$1" "$2" "$3" <<'EOF'
import sys
inp = [l.rstrip("\n").split(":", 1) for l in open(sys.argv[1])]
out = [l.rstrip("\n").split(" ", 3) for l in open(sys.argv[2])]
clean = int(sys.argv[3])
last = {}
for i, (k, v) in enumerate(inp):
    last[k] = i
prev, seen, below = -1, set(), set()
for p, o, k, v in out:
    o = int(o)
    if o <= prev:
        sys.exit("offset %d after %d" % (o, prev))
    prev = o
    if inp[o] != [k, v]:
        sys.exit("offset %d: %s=%s, produced %s" % (o, k, v, inp[o]))
    if o < clean:
        if k in below:
            sys.exit("key %s twice below the clean point %d" % (k, clean))
        below.add(k)
    seen.add(o)
missing = [k for k, o in last.items() if o not in seen]
if missing:
    sys.exit("last record of %d keys missing (%s...)" % (len(missing), missing[0]))
print(len(out))
EOF
}

clean_point() {
	"$LOGCTL" --json describe "$1" | python3 -c '
import json, sys
print(json.load(sys.stdin)["partitions"][int(sys.argv[1])]["clean_point"])' "$2"
}

t_compact() {
	local n cp first
	"$LOGCTL" create latest -p 1 --config cleanup.policy=compact \
	    --config segment.bytes=65536 > "$T/c.out" 2>&1 ||
	    { bad "create: $(cat "$T/c.out")"; return; }
	gen 60000 300 1 > "$T/in"
	"$LOGPUT" -q -K: latest "$T/in" 2> "$T/lp.err" ||
	    { bad "logput: $(cat "$T/lp.err")"; return; }
	"$LOGCTL" compact latest > "$T/compact.out" 2>&1 ||
	    { bad "logctl compact: $(cat "$T/compact.out")"; return; }
	check "logctl compact: $(cat "$T/compact.out")"
	cp=$(clean_point latest 0)
	[ "$cp" -gt 50000 ] || { bad "clean point $cp"; return; }
	"$LOGCTL" describe latest > "$T/describe" 2>&1
	grep -q "^cleanup.policy compact" "$T/describe" &&
	    grep -q "DIRTY" "$T/describe" &&
	    check "logctl describe shows the policy and the dirty ratio" ||
	    bad "describe: $(cat "$T/describe")"
	timeout 20 "$LOGTAIL" -o beginning -F "$FMT" latest \
	    > "$T/lt" 2> "$T/lt.err"
	kc -C -t latest -o beginning -e -q -f "$FMT" > "$T/kc" 2> "$T/kc.err"
	n=$(model_check "$T/in" "$T/lt" "$cp") ||
	    { bad "logtail against the model: $n"; return; }
	[ "$n" -lt 20000 ] || { bad "$n records left of 60000"; return; }
	check "logtail: $n records of 60000, one a key below offset $cp," \
	    "each as produced at its offset"
	if cmp -s "$T/lt" "$T/kc"; then
		check "kcat reads the same $n records"
	else
		bad "kcat and logtail differ: $(diff "$T/lt" "$T/kc" | head -3)"
	fi
	# from an offset that cleaning removed
	first=$(python3 -c '
import sys
offs = [int(l.split()[1]) for l in open(sys.argv[1])]
for a, b in zip(offs, offs[1:]):
    if b > a + 1:
        print(a + 1, b); break' "$T/lt")
	set -- $first
	timeout 20 "$LOGTAIL" -o "$1" -c 1 -F "$FMT" latest > "$T/lt1" 2>&1
	kc -C -t latest -p 0 -o "$1" -c 1 -q -f "$FMT" > "$T/kc1" 2>&1
	expect_eq "logtail -o $1 (removed) starts at the next record" \
	    "$(cut -d' ' -f2 "$T/lt1")" "$2"
	expect_eq "kcat -o $1 (removed) starts at the next record" \
	    "$(cut -d' ' -f2 "$T/kc1")" "$2"
	# a group committed inside the removed range
	"$LOGCTL" reset g1 --topic latest --to "$1" > "$T/r.out" 2>&1 ||
	    { bad "reset: $(cat "$T/r.out")"; return; }
	timeout 20 "$LOGTAIL" -g g1 -c 1 -F "$FMT" latest > "$T/g1" 2>&1
	expect_eq "group committed at removed offset $1 resumes at $2" \
	    "$(cut -d' ' -f2 "$T/g1")" "$2"
	"$LOGCTL" verify "$T/data" > "$T/verify" 2>&1 &&
	    ! grep -q DAMAGED "$T/verify" &&
	    check "logctl verify: clean after compaction" ||
	    bad "verify: $(grep DAMAGED "$T/verify" | head -3)"
}

t_keyless() {
	echo "no key here" | "$LOGPUT" latest > "$T/nk.out" 2>&1
	if [ $? -ne 0 ] && grep -q "records with a key" "$T/nk.out"; then
		check "logput without a key refused: $(head -1 "$T/nk.out")"
	else
		bad "logput without a key: $(cat "$T/nk.out")"
	fi
	echo "no key" | kc -P -t latest -p 0 > "$T/knk.out" 2>&1
	# librdkafka's text for INVALID_RECORD (87)
	if grep -qi "failed to validate record\|invalid.record" "$T/knk.out"
	then
		check "kcat without a key refused: INVALID_RECORD"
	else
		bad "kcat without a key: $(cat "$T/knk.out")"
	fi
}

t_tombstones() {
	local v
	"$LOGCTL" create tomb -p 1 --config cleanup.policy=compact \
	    --config segment.bytes=65536 --config delete.retention.ms=1500 \
	    > "$T/c.out" 2>&1 || { bad "create: $(cat "$T/c.out")"; return; }
	{ echo "gone:first"; echo "gone:"; } |
	    kc -P -t tomb -p 0 -K: -Z 2> "$T/kp.err"
	gen 20000 50 2 | "$LOGPUT" -q -K: tomb 2> "$T/lp.err"
	"$LOGCTL" compact tomb > /dev/null 2>&1
	kc -C -t tomb -o beginning -e -q -f '%k %S\n' > "$T/t1" 2>&1
	expect_eq "a tombstone stays after the first clean" \
	    "$(grep '^gone ' "$T/t1")" "gone -1"
	sleep 2
	"$LOGCTL" compact tomb > "$T/t.out" 2>&1
	kc -C -t tomb -o beginning -e -q -f '%k %S\n' > "$T/t2" 2>&1
	v=$(grep -c '^gone ' "$T/t2")
	expect_eq "the tombstone is gone after delete.retention.ms" "$v" 0
	expect_eq "the other 50 keys remain" \
	    "$(grep -v '^gone ' "$T/t2" | cut -d' ' -f1 | sort -u | wc -l)" 50
}

t_concurrent() {
	local n
	"$LOGCTL" create busy -p 1 --config cleanup.policy=compact \
	    --config segment.bytes=65536 \
	    --config min.cleanable.dirty.ratio=0.01 > "$T/c.out" 2>&1
	gen 80000 200 3 > "$T/bin"
	head -40000 "$T/bin" | "$LOGPUT" -q -K: busy 2> "$T/lp.err"
	# a follower parked at the end while cleans and produce go on
	bg "$LOGTAIL" -f -o beginning -F "$FMT" busy > "$T/follow" 2>&1
	local follower=$BG
	tail -n +40001 "$T/bin" | "$LOGPUT" -q -K: -z 4096 busy \
	    2> "$T/lp2.err" &
	local prod=$!
	for i in 1 2 3 4 5; do
		"$LOGCTL" compact busy >> "$T/cc.out" 2>&1 ||
		    bad "compact under produce: $(tail -1 "$T/cc.out")"
	done
	wait $prod || bad "logput during cleaning: $(cat "$T/lp2.err")"
	"$LOGCTL" compact busy >> "$T/cc.out" 2>&1
	logd_alive || { kill "$follower"; return; }
	timeout 20 "$LOGTAIL" -o beginning -F "$FMT" busy > "$T/b" 2>&1
	n=$(model_check "$T/bin" "$T/b" "$(clean_point busy 0)") ||
	    { bad "after cleaning under produce: $n"; kill "$follower"; return; }
	check "cleaning under produce: $n records, as produced"
	if wait_for 20 grep -q "^0 79999 " "$T/follow" &&
	    python3 -c '
import sys
o = [int(l.split()[1]) for l in open(sys.argv[1])]
sys.exit(any(b <= a for a, b in zip(o, o[1:])))' "$T/follow"; then
		check "a follower reading during the cleans got to the end," 		    "in order ($(wc -l < "$T/follow") records)"
	else
		bad "follower: $(tail -2 "$T/follow")"
	fi
	kill "$follower" 2>/dev/null
}

# One kill -9 at a random moment of a clean of a large topic.
t_kill9() {
	local i n ok=0 mid=0 left
	# only the cleans asked for: none may start behind the check for
	# leftovers after a restart
	logd_term
	echo "cleaner_check_ms = 0" >> "$T/logd.conf"
	logd_launch || return
	"$LOGCTL" create crash -p 1 --config cleanup.policy=compact \
	    --config segment.bytes=65536 \
	    --config min.cleanable.dirty.ratio=0.99 > "$T/c.out" 2>&1
	gen 150000 2000 4 > "$T/cin"
	"$LOGPUT" -q -K: crash "$T/cin" 2> "$T/lp.err" ||
	    { bad "logput: $(cat "$T/lp.err")"; return; }
	# until two kills caught a clean in the act (.cleaned files left)
	for i in $(seq 12); do
		[ "$mid" -ge 2 ] && [ "$ok" -ge 4 ] && break
		# more dirty data each round, so each round has work
		gen 30000 2000 $((10 + i)) > "$T/more"
		"$LOGPUT" -q -K: crash "$T/more" 2> "$T/lp.err" ||
		    { bad "logput: $(cat "$T/lp.err")"; return; }
		cat "$T/more" >> "$T/cin"
		[ "$i" -eq 1 ] && python3 -c '
import json, subprocess, sys
d = json.loads(subprocess.check_output([sys.argv[1], "--json", "describe",
    "crash"]))
sys.exit(d["partitions"][0]["dirty_ratio"] <= 0)' "$LOGCTL" &&
		    check "describe --json: a dirty ratio above 0 before the clean"
		"$LOGCTL" compact crash > /dev/null 2>&1 &
		if [ $((i % 2)) -eq 1 ]; then
			# odd rounds: once the clean is writing, 0-30 ms on
			for w in $(seq 600); do
				compgen -G "$T/data/topics/crash-0/*.cleaned" \
				    > /dev/null && break
				sleep 0.005
			done
			sleep "0.0$((RANDOM % 4))"
		else
			sleep "0.0$((RANDOM % 10))"
		fi
		logd_kill9
		wait
		"$LOGCTL" verify "$T/data" > "$T/verify" 2>&1
		if grep -q DAMAGED "$T/verify"; then
			bad "kill -9 round $i: verify: $(grep DAMAGED "$T/verify" |
			    head -2)"
			return
		fi
		ls "$T/data/topics/crash-0" | grep -q cleaned && mid=$((mid + 1))
		logd_launch || return
		left=$(ls "$T/data/topics/crash-0" | grep -c cleaned)
		[ "$left" -eq 0 ] || { bad "round $i: .cleaned left"; return; }
		timeout 30 "$LOGTAIL" -o beginning -F "$FMT" crash > "$T/cr" \
		    2>&1
		n=$(model_check "$T/cin" "$T/cr" 0) ||
		    { bad "kill -9 round $i: $n"; return; }
		ok=$((ok + 1))
	done
	[ "$mid" -ge 1 ] || { bad "no kill of $ok landed during a clean"; return; }
	check "$ok kills ($mid of them with a clean half done): verify" \
	    "clean, no leftovers, records as produced ($n left)"
	"$LOGCTL" compact crash > "$T/cc.out" 2>&1 &&
	    check "a clean after the kills: $(cat "$T/cc.out")" ||
	    bad "compact after kills: $(cat "$T/cc.out")"
}

# The pipeline: sensorgen --latest keeps each station's latest reading (its
# producer's batches are up to 256 KiB: segments of 1 MiB).
t_sensorgen() {
	local n keys
	"$LOGCTL" create station_latest -p 1 --config cleanup.policy=compact \
	    --config segment.bytes=1048576 > "$T/c.out" 2>&1
	"$LOGD_BUILDDIR/tools/sensorgen" -q -i 0 -c 40000 -n 25 --seed 7 \
	    -p 2 -t readings --latest station_latest > "$T/sg.out" 2>&1 ||
	    { bad "sensorgen --latest: $(cat "$T/sg.out")"; return; }
	"$LOGCTL" compact station_latest > "$T/cc.out" 2>&1 ||
	    { bad "compact: $(cat "$T/cc.out")"; return; }
	timeout 20 "$LOGTAIL" -o beginning -F '%k\n' station_latest \
	    > "$T/sl" 2>&1
	n=$(wc -l < "$T/sl")
	keys=$(sort -u "$T/sl" | wc -l)
	expect_eq "station_latest holds all 25 stations" "$keys" 25
	[ "$n" -lt 20000 ] && check "sensorgen --latest: $n records left of 40000" \
	    "in station_latest" ||
	    bad "station_latest: $n records of 40000 after compact"
	expect_eq "readings keeps all 40000" \
	    "$("$LOGCTL" --json describe readings | python3 -c '
import json, sys
print(sum(p["records"] for p in json.load(sys.stdin)["partitions"]))')" \
	    40000
}

t_errors() {
	"$LOGCTL" compact nosuch > "$T/e1" 2>&1 &&
	    { bad "compact of an unknown topic succeeded"; return; }
	grep -q "unknown topic" "$T/e1" && check "compact nosuch: $(cat "$T/e1")" ||
	    bad "compact nosuch: $(cat "$T/e1")"
	"$LOGCTL" create plain -p 1 > /dev/null 2>&1
	"$LOGCTL" compact plain > "$T/e2" 2>&1 &&
	    { bad "compact of a delete topic succeeded"; return; }
	grep -q "not compacted" "$T/e2" && check "compact plain: $(cat "$T/e2")" ||
	    bad "compact plain: $(cat "$T/e2")"
	"$LOGCTL" compact latest -p 5 > "$T/e3" 2>&1 &&
	    { bad "compact of partition 5 succeeded"; return; }
	grep -q "no partition 5" "$T/e3" && check "compact -p 5: $(cat "$T/e3")" ||
	    bad "compact -p 5: $(cat "$T/e3")"
	"$LOGCTL" alter latest --config cleanup.policy=bogus > "$T/e4" 2>&1 &&
	    { bad "cleanup.policy=bogus accepted"; return; }
	grep -q "expected delete, compact or compact,delete" "$T/e4" &&
	    check "cleanup.policy=bogus refused" || bad "bogus: $(cat "$T/e4")"
	"$LOGCTL" alter plain --config cleanup.policy=compact,delete \
	    > "$T/e5" 2>&1 && "$LOGCTL" compact plain > "$T/e5" 2>&1 &&
	    check "alter to compact,delete, then compact: $(cat "$T/e5")" ||
	    bad "compact,delete: $(cat "$T/e5")"
}

t_compact
t_errors
t_sensorgen
t_keyless
t_tombstones
t_concurrent
t_kill9
logd_term
finish
