#!/bin/sh
# kcat.sh - real Kafka clients (kcat, on Debian's librdkafka) against a
# real logd's Kafka listener, and logd's own tools on the same topics:
#   metadata (-L, -L -J) names logd's broker at the advertised address;
#   keys, headers, timestamps and offsets come back exactly (-P, -C -J);
#   acks 0, 1 and all; what logput writes kcat reads byte for byte, and
#   what kcat writes logtail reads; -o -N and -Q (offsets for times);
#   two kcat -G members split four partitions, one is SIGKILLed and the
#   other takes them over, and logctl shows the group's lag; after a
#   kill -9 and restart of logd a member resumes from the commits;
#   -o s@TIMESTAMP;
#   an idempotent producer (-X enable.idempotence=true).
set -u
build=${LOGD_BUILDDIR:?run by make check}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kcat.XXXXXX")
pids=
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "kcat.sh: FAIL: $*"
	echo "---- logd log (tail)"
	tail -30 "$tmp/logd.log" 2>/dev/null
	exit 1
}
command -v kcat >/dev/null || fail "kcat is not installed (apt-get install kcat)"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
nport=$(free_port)
kport=$(free_port)
native=127.0.0.1:$nport
kafka=127.0.0.1:$kport
start_logd() {
	"$build/logd/logd" -d "$tmp/data" -l "$native" --log-file "$tmp/logd.log" \
	    --set kafka_listen="$kafka" --set http_listen=none \
	    --set auto_create_topics=yes &
	logd=$!
	pids="$pids $logd"
	i=0
	until "$build/tools/logctl" -b "$native" topics >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -lt 100 ] || fail "logd did not start"
		sleep 0.1
	done
}
start_logd
kc() { timeout 60 kcat -b "$kafka" "$@"; }
logtail() { timeout 30 "$build/tools/logtail" -b "$native" "$@"; }
logput() { timeout 30 "$build/tools/logput" -b "$native" "$@"; }
logctl() { timeout 30 "$build/tools/logctl" -b "$native" "$@"; }

# --- metadata
logctl create four -p 4 >/dev/null || fail "logctl create"
kc -L -J > "$tmp/meta.json" || fail "kcat -L -J"
python3 - "$tmp/meta.json" "$kport" <<'PY' || fail "metadata: $(cat "$tmp/meta.json")"
import json, sys
m = json.load(open(sys.argv[1]))
assert m["brokers"] == [{"id": 0, "name": "127.0.0.1:%s" % sys.argv[2]}], m["brokers"]
t = {x["topic"]: x for x in m["topics"]}
assert len(t["four"]["partitions"]) == 4, t
for p in t["four"]["partitions"]:
    assert p["leader"] == 0 and p["replicas"] == [{"id": 0}], p
PY
kc -L | grep -q 'topic "four" with 4 partitions' || fail "kcat -L"

# --- keys, headers, timestamps and offsets exact
printf 'k1:v1\nk2:v2\nk3:v3\n' | kc -P -t kv -K: -H a=1 -H b=2 ||
    fail "kcat -P"
kc -C -t kv -e -J > "$tmp/kv.json" || fail "kcat -C"
python3 - "$tmp/kv.json" <<'PY' || fail "kv: $(cat "$tmp/kv.json")"
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
assert [r["offset"] for r in rs] == [0, 1, 2], rs
assert [(r["key"], r["payload"]) for r in rs] == [("k1","v1"),("k2","v2"),("k3","v3")], rs
assert all(r["headers"] == ["a", "1", "b", "2"] for r in rs), rs
assert all(r["tstype"] == "create" and r["ts"] > 1.7e12 for r in rs), rs
PY
[ "$(logtail -o beginning kv)" = "$(printf 'v1\nv2\nv3')" ] ||
    fail "logtail does not read what kcat wrote"

# --- acks 0, 1, all
for acks in 0 1 all; do
	seq 1 500 | kc -P -t acks$acks -X acks=$acks 2>"$tmp/acks.err" ||
	    fail "kcat -X acks=$acks: $(cat "$tmp/acks.err")"
	n=$(kc -C -t acks$acks -e -q | wc -l)
	[ "$n" -eq 500 ] || fail "acks=$acks: $n of 500 records read back"
done

# --- logput -> kcat, byte for byte
seq 1 1000 | sed 's/^/line /' > "$tmp/lines"
logctl create lp >/dev/null && logput lp < "$tmp/lines" > /dev/null || fail "logput"
kc -C -t lp -e -q > "$tmp/lines.kcat" || fail "kcat -C lp"
cmp -s "$tmp/lines" "$tmp/lines.kcat" || fail "kcat read other bytes than logput wrote"
kc -C -t lp -e -q -f '%o\n' > "$tmp/offs" || fail "kcat -f %o"
[ "$(head -1 "$tmp/offs") $(tail -1 "$tmp/offs")" = "0 999" ] ||
    fail "offsets $(head -1 "$tmp/offs")..$(tail -1 "$tmp/offs"), want 0..999"

# --- kcat -> logtail, byte for byte
kc -P -t kp < "$tmp/lines" 2>"$tmp/kp.err" ||
    fail "kcat -P kp: $(cat "$tmp/kp.err")"
logtail -o beginning kp > "$tmp/lines.logtail" || fail "logtail kp"
cmp -s "$tmp/lines" "$tmp/lines.logtail" || fail "logtail read other bytes than kcat wrote"

# --- -o -N, -Q
[ "$(kc -C -t lp -o -3 -e -q | tr '\n' ' ')" = "line 998 line 999 line 1000 " ] ||
    fail "kcat -o -3"
q=$(kc -Q -t lp:0:1000 2>&1) || fail "kcat -Q: $q"
echo "$q" | grep -q 'offset 0' || fail "kcat -Q lp:0:1000 (time 1 s after the epoch): $q"
q=$(kc -Q -t lp:0:-1 2>&1)
echo "$q" | grep -q 'offset 1000' || fail "kcat -Q lp:0:-1 (latest): $q"

# --- two members of one group split four partitions
seq 1 400 | sed 's/^/k&:/' | kc -P -t four -K: || fail "produce to four"
group_members() {
	logctl group g4 2>/dev/null | sed -n 's/.*members: *//p'
}
kcat -u -b "$kafka" -G g4 -X session.timeout.ms=6000 \
    -X heartbeat.interval.ms=500 -o beginning four > "$tmp/m1.out" 2>"$tmp/m1.err" &
m1=$!
pids="$pids $m1"
kcat -u -b "$kafka" -G g4 -X session.timeout.ms=6000 \
    -X heartbeat.interval.ms=500 -o beginning four > "$tmp/m2.out" 2>"$tmp/m2.err" &
m2=$!
pids="$pids $m2"
i=0
while :; do
	a1=$(grep -c 'assigned: four' "$tmp/m1.err")
	a2=$(grep -c 'assigned: four' "$tmp/m2.err")
	last1=$(grep 'rebalanced' "$tmp/m1.err" | tail -1)
	last2=$(grep 'rebalanced' "$tmp/m2.err" | tail -1)
	case "$last1$last2" in
	*assigned*assigned*) break;;
	esac
	i=$((i + 1)); [ $i -lt 200 ] || fail "the two members were not both assigned: $last1 / $last2"
	sleep 0.1
done
p1=$(echo "$last1" | grep -o 'four \[[0-9]\]' | sort | tr '\n' ' ')
p2=$(echo "$last2" | grep -o 'four \[[0-9]\]' | sort | tr '\n' ' ')
[ -n "$p1" ] && [ -n "$p2" ] || fail "a member got nothing: '$p1' / '$p2'"
all=$(printf '%s%s' "$p1" "$p2" | tr ' ' '\n' | grep -c .)
# "four [0]" is two words: 4 partitions are 8 words
[ "$all" -eq 8 ] || fail "assignments '$p1' and '$p2' do not cover four's 4 partitions"
# logctl shows each Kafka member with the partitions its leader gave it
logctl group g4 > "$tmp/g4m" 2>&1
[ "$(grep -c 'rdkafka .*four:[0-3]' "$tmp/g4m")" -eq 2 ] ||
    fail "logctl group g4 does not show both members' partitions: $(cat "$tmp/g4m")"
kill -9 $m1
i=0
until grep 'rebalanced' "$tmp/m2.err" | tail -1 |
    grep -q 'assigned: four \[0\], four \[1\], four \[2\], four \[3\]'; do
	i=$((i + 1)); [ $i -lt 300 ] || fail "the survivor did not take over: $(grep rebalanced "$tmp/m2.err" | tail -2)"
	sleep 0.1
done
i=0
until [ "$(sort -u "$tmp/m1.out" "$tmp/m2.out" | wc -l)" -ge 400 ]; do
	i=$((i + 1)); [ $i -lt 200 ] || fail "the group read $(sort -u "$tmp/m1.out" "$tmp/m2.out" | wc -l) of 400 distinct records"
	sleep 0.1
done
sleep 1.5     # an auto commit (every 5 s by default) or the leave
kill -TERM $m2; wait $m2 2>/dev/null
logctl group g4 > "$tmp/g4" 2>&1 || fail "logctl group g4: $(cat "$tmp/g4")"
grep -q '^four ' "$tmp/g4" || fail "logctl group g4 shows no partitions of four: $(cat "$tmp/g4")"

# --- the group's lag counts what it has not read, and after a kill -9
# and restart of logd a member resumes from the group's commits
group_lag() {
	logctl group g4 | awk '$1 == "four" { s += $5 } END { print s + 0 }'
}
lag0=$(group_lag)
seq 401 450 | sed 's/^/k&:/' | kc -P -t four -K: || fail "produce 50 more to four"
lag1=$(group_lag)
[ "$lag1" -eq $((lag0 + 50)) ] || fail "lag $lag0 then $lag1 after 50 more records"
kill -9 $logd; wait $logd 2>/dev/null
start_logd
[ "$(group_lag)" -eq "$lag1" ] || fail "the lag changed across a restart: $(group_lag), not $lag1"
# (kcat -G -o would assign at that offset, ignoring the commits)
kc -G g4 -X auto.offset.reset=earliest -e four > "$tmp/resume" 2>"$tmp/resume.err" ||
    fail "kcat -G after the restart: $(tail -3 "$tmp/resume.err")"
[ "$(wc -l < "$tmp/resume")" -eq "$lag1" ] ||
    fail "the resumed member read $(wc -l < "$tmp/resume") records, not the $lag1 uncommitted"
for n in $(seq 401 450); do
	grep -qx "$n" "$tmp/resume" || fail "the resumed member did not read record $n"
done
[ "$(group_lag)" -eq 0 ] || fail "lag $(group_lag) after the member read to the end"

# --- -o s@TIMESTAMP: the first record at or after a time
echo early | kc -P -t ts || fail "produce early"
sleep 0.3
t=$(python3 -c 'import time; print(int(time.time() * 1000))')
sleep 0.3
printf 'late1\nlate2\n' | kc -P -t ts || fail "produce late"
[ "$(kc -C -t ts -o "s@$t" -e -q | tr '\n' ' ')" = "late1 late2 " ] ||
    fail "kcat -o s@$t: $(kc -C -t ts -o "s@$t" -e -q 2>&1 | tr '\n' ' ')"
[ "$(kc -C -t ts -o "s@$((t + 3600000))" -e -q | wc -l)" -eq 0 ] ||
    fail "kcat -o s@ an hour ahead read records"

# --- compressed batches: kcat -z CODEC read by kcat and logtail, and
# logput -Z CODEC read by kcat
codec=0
for z in gzip snappy lz4 zstd; do
	codec=$((codec + 1))
	kc -P -t z$z -z $z < "$tmp/lines" 2>"$tmp/z.err" ||
	    fail "kcat -P -z $z: $(cat "$tmp/z.err")"
	# Stored as sent: librdkafka compresses only when the broker's
	# ApiVersions satisfy its feature checks (Produce from v0).
	"$build/tools/logctl" dump "$tmp/data/topics/z$z-0/00000000000000000000.log" \
	    2>/dev/null | grep -q "attributes: $codec " ||
	    fail "kcat -z $z: the stored batch is not $z-compressed"
	kc -C -t z$z -e -q > "$tmp/z.kcat" || fail "kcat -C z$z"
	cmp -s "$tmp/lines" "$tmp/z.kcat" || fail "kcat reads other bytes back from -z $z"
	logtail -o beginning z$z > "$tmp/z.logtail" || fail "logtail z$z"
	cmp -s "$tmp/lines" "$tmp/z.logtail" || fail "logtail reads other bytes than kcat -z $z wrote"
	logctl create c$z >/dev/null && logput -Z $z c$z < "$tmp/lines" >/dev/null ||
	    fail "logput -Z $z"
	kc -C -t c$z -e -q > "$tmp/c.kcat" || fail "kcat -C c$z"
	cmp -s "$tmp/lines" "$tmp/c.kcat" || fail "kcat reads other bytes than logput -Z $z wrote"
done

# --- idempotent producer
seq 1 300 | kc -P -t idem -X enable.idempotence=true || fail "idempotent produce"
[ "$(kc -C -t idem -e -q | wc -l)" -eq 300 ] || fail "idempotent: not 300 records"

kill -TERM $logd; wait $logd
status=$?
pids=
[ $status -eq 0 ] || fail "logd exited $status"
echo "kcat.sh: all passed"
