#!/bin/bash
# kcat_metadata.sh - kcat -L and -L -J against logd's Kafka listener.
#
# The broker list must hold one broker at kafka_advertised (a name that
# does not resolve, so only the bootstrap connection works: Metadata
# itself must carry it), every topic created through the native protocol
# with its partition count, each partition led by that broker with it as
# the only replica and in-sync replica, and an unknown topic must come
# back with UNKNOWN_TOPIC_OR_PARTITION and stay unknown.  Without
# kafka_advertised the listen address is advertised, as Kafka's
# advertised.listeners defaults to listeners.
. "$LOGD_SRCDIR/tests/kafka/lib.sh"
need kcat "apt-get install kcat (scripts/deps.sh)"

ADV=adv.logd.invalid:29092
KAFKA_ADVERTISED=$ADV logd_start

# The topics' names and partition counts, as "name count" lines.
TOPICS="meta-a 3
meta-b 1
meta.c_1 2"

t_create() {
	while read -r n p; do
		create "$n" "$p" || return 1
	done <<< "$TOPICS"
}

t_text() {
	kc -L > "$T/L.txt" 2> "$T/L.err" ||
	    { bad "kcat -L failed: $(cat "$T/L.err")"; return; }
	grep -q "^ 1 brokers:$" "$T/L.txt" ||
	    { bad "kcat -L does not list one broker: $(cat "$T/L.txt")"; return; }
	grep -Eq "^  broker [0-9]+ at $ADV( \(controller\))?$" "$T/L.txt" ||
	    { bad "kcat -L does not show the advertised $ADV: $(cat "$T/L.txt")"; return; }
	while read -r n p; do
		grep -q "^  topic \"$n\" with $p partitions:$" "$T/L.txt" ||
		    { bad "kcat -L: no line for topic $n with $p partitions"; return 1; }
	done <<< "$TOPICS"
	check "kcat -L shows one broker at $ADV and every topic"
}

t_json() {
	kc -L -J > "$T/L.json" 2> "$T/L.err" ||
	    { bad "kcat -L -J failed: $(cat "$T/L.err")"; return; }
	if python3 - "$T/L.json" "$ADV" "$TOPICS" <<'EOF'
import json, sys
md = json.load(open(sys.argv[1]))
adv = sys.argv[2]
want = {l.split()[0]: int(l.split()[1]) for l in sys.argv[3].splitlines()}
errs = []
b = md["brokers"]
if len(b) != 1 or b[0]["name"] != adv:
    errs.append("brokers %r, want one at %s" % (b, adv))
bid = b[0]["id"] if b else None
if md.get("controllerid") != bid:
    errs.append("controllerid %r is not the broker %r" % (md.get("controllerid"), bid))
got = {t["topic"]: t for t in md["topics"]}
if set(got) != set(want):
    errs.append("topics %s, want %s" % (sorted(got), sorted(want)))
for name, n in want.items():
    t = got.get(name)
    if t is None:
        continue
    if "error" in t:
        errs.append("%s: error %s" % (name, t["error"]))
    ids = sorted(p["partition"] for p in t["partitions"])
    if ids != list(range(n)):
        errs.append("%s: partitions %s, want 0..%d" % (name, ids, n - 1))
    for p in t["partitions"]:
        if "error" in p or p["leader"] != bid or \
           p["replicas"] != [{"id": bid}] or p["isrs"] != [{"id": bid}]:
            errs.append("%s: partition %r" % (name, p))
if errs:
    print("\n".join(errs))
    sys.exit(1)
EOF
	then
		check "kcat -L -J: one broker ($ADV), controller, topics, partitions, leaders, replicas, ISRs"
	else
		bad "kcat -L -J: $(cat "$T/L.json")"
	fi
}

t_one_topic() {
	kc -L -J -t meta-a > "$T/La.json" 2> "$T/L.err" ||
	    { bad "kcat -L -J -t meta-a failed: $(cat "$T/L.err")"; return; }
	got=$(python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))
print(",".join("%s/%d" % (t["topic"], len(t["partitions"])) for t in m["topics"]))' "$T/La.json")
	expect_eq "kcat -L -t meta-a lists that topic only" "$got" "meta-a/3"
}

t_unknown() {
	kc -L -J -t no.such.topic > "$T/Lu.json" 2> "$T/L.err" ||
	    { bad "kcat -L -J -t no.such.topic failed: $(cat "$T/L.err")"; return; }
	got=$(python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))
print(";".join("%s:%s:%d" % (t["topic"], t.get("error", "-"), len(t["partitions"])) for t in m["topics"]))' "$T/Lu.json")
	expect_eq "an unknown topic gets UNKNOWN_TOPIC_OR_PARTITION" "$got" \
	    "no.such.topic:Broker: Unknown topic or partition:0"
	if "$LOGCTL" describe no.such.topic > /dev/null 2>&1; then
		bad "Metadata created no.such.topic with auto_create_topics = no"
	else
		check "Metadata did not create the unknown topic (auto_create_topics = no)"
	fi
}

# Without kafka_advertised, the listen address is what clients are told.
t_default_advertised() {
	logd_term
	sed -i '/^kafka_advertised/d' "$T/logd.conf"
	logd_launch || return
	kc -L -J > "$T/Ld.json" 2> "$T/L.err" ||
	    { bad "kcat -L -J failed: $(cat "$T/L.err")"; return; }
	got=$(python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))
print(" ".join(b["name"] for b in m["brokers"]))' "$T/Ld.json")
	expect_eq "without kafka_advertised the broker is kafka_listen" "$got" "$KBROKER"
	# Now the broker is reachable: a produce and a fetch go through it.
	echo "through-advertised" | kc -P -t meta-b -p 0 2> "$T/P.err" ||
	    { bad "kcat -P through the advertised address: $(cat "$T/P.err")"; return; }
	got=$(kc -C -t meta-b -p 0 -o beginning -e -q 2> "$T/C.err")
	expect_eq "a record produced and fetched through the advertised broker" \
	    "$got" "through-advertised"
}

t_create && t_text
t_json
t_one_topic
t_unknown
t_default_advertised
logd_alive && check "logd still running"
finish
