#!/bin/sh
# http.sh - logd's HTTP listener against real clients: curl, promtool
# and a real Prometheus server (Debian's prometheus), and hostile ones.
#   /metrics passes `promtool check metrics`; counters only grow;
#   /api/groups and a Prometheus server that scrapes logd both give the
#   lag of a group made to lag by exactly 40 records;
#   405 for POST, 404 for an unknown path, 4xx for garbage and for
#   huge headers; 80 stalled connections (past the limit of 64) and a
#   slow client do not stop the native and Kafka listeners, and HTTP
#   serves again once they go.
set -u
build=${LOGD_BUILDDIR:?run by make check}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/http.XXXXXX")
pids=
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "http.sh: FAIL: $*"
	echo "---- logd log (tail)"
	tail -20 "$tmp/logd.log" 2>/dev/null
	exit 1
}
for c in curl promtool prometheus kcat; do
	command -v $c >/dev/null || fail "$c is not installed (scripts/deps.sh)"
done
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
native=127.0.0.1:$(free_port)
kafka=127.0.0.1:$(free_port)
hport=$(free_port)
http=http://127.0.0.1:$hport
"$build/logd/logd" -d "$tmp/data" -l "$native" --log-file "$tmp/logd.log" \
    --set kafka_listen="$kafka" --set http_listen=127.0.0.1:$hport \
    --set auto_create_topics=yes &
logd=$!
pids="$logd"
i=0
until curl -sf "$http/api/stats" >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || fail "logd's HTTP listener did not start"
	sleep 0.1
done
logctl() { timeout 30 "$build/tools/logctl" -b "$native" "$@"; }
metric() {   # the value of one sample line of /metrics
	curl -sf "$http/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

# --- a group that lags by exactly 40
logctl create lagt >/dev/null || fail "create lagt"
seq 1 100 | timeout 30 "$build/tools/logput" -b "$native" lagt >/dev/null ||
    fail "logput lagt"
logctl reset g40 --topic lagt --to 60 >/dev/null || fail "logctl reset"
sleep 0.3   # a snapshot is at most 200 ms old

# --- /metrics
curl -sf "$http/metrics" > "$tmp/m1" || fail "GET /metrics"
promtool check metrics < "$tmp/m1" > "$tmp/promtool.out" 2>&1 ||
    fail "promtool check metrics: $(cat "$tmp/promtool.out")"
grep -q '^logd_consumergroup_lag{consumergroup="g40",topic="lagt",partition="0"} 40$' "$tmp/m1" ||
    fail "no lag 40 for g40 in /metrics: $(grep consumergroup "$tmp/m1")"
grep -q '^logd_topic_partition_current_offset{topic="lagt",partition="0"} 100$' "$tmp/m1" ||
    fail "lagt's current offset is not 100"
grep -q '^logd_build_info{version="' "$tmp/m1" || fail "no build info"
grep -q '^logd_produce_reply_seconds_bucket{acks="all",le="+Inf"} [1-9]' "$tmp/m1" ||
    fail "no acks=all produce in the reply time histogram"
in1=$(awk '$1 == "logd_records_in_total" { print $2 }' "$tmp/m1")
[ "$in1" -ge 100 ] || fail "records_in_total $in1 < 100"
printf 'a\nb\n' | kcat -b "$kafka" -P -t lagt || fail "kcat produce"
sleep 0.3
in2=$(metric logd_records_in_total)
[ "$in2" -eq $((in1 + 2)) ] || fail "records_in_total went $in1 -> $in2, not +2"
kreq=$(curl -sf "$http/metrics" | grep -c '^logd_requests_total{protocol="kafka",api="Produce"}')
[ "$kreq" -eq 1 ] || fail "no Kafka Produce request count"

# --- the JSON API
curl -sf "$http/api/groups" > "$tmp/groups.json" || fail "GET /api/groups"
python3 - "$tmp/groups.json" <<'PY' || fail "/api/groups: $(cat "$tmp/groups.json")"
import json, sys
d = json.load(open(sys.argv[1]))
g = [g for g in d["groups"] if g["group"] == "g40"][0]
assert g["offsets"][0]["committed"] == 60, g
assert g["offsets"][0]["lag"] == 42, g      # 40 and the 2 kcat added
PY
curl -sf "$http/api/topics" | python3 -c '
import json, sys
t = {t["name"]: t for t in json.load(sys.stdin)["topics"]}
assert t["lagt"]["partitions"][0]["end"] == 102, t
assert "retention.ms" in t["lagt"]["config"], t' || fail "/api/topics"
curl -sf "$http/" | grep -q '<title>logd status</title>' || fail "GET / is not the status page"
curl -sf "$http/chart.js" | head -c 300 | grep -qi chart || fail "GET /chart.js"

# --- errors
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code -X POST "$http/metrics")" = 405 ] || fail "POST is not 405"
[ "$(code "$http/nope")" = 404 ] || fail "an unknown path is not 404"
[ "$(code "$http/api/nope")" = 404 ] || fail "an unknown API is not 404"
python3 - "$hport" <<'PY' || fail "garbage or huge headers were not refused"
import socket, sys
port = int(sys.argv[1])
def ask(data):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(data)
    except OSError:
        pass
    try:
        r = s.recv(200)
    except OSError:
        r = b""
    s.close()
    return r
r = ask(b"\x00\x01garbage\xff\r\n\r\n")
assert r == b"" or r.startswith(b"HTTP/1.1 4"), r
r = ask(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
assert r == b"" or r.startswith(b"HTTP/1.1 4"), r
PY
# 80 stalled connections and a slow client
python3 - "$hport" > "$tmp/stall.out" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
held = []
for i in range(80):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")   # never ends
        held.append(s)
    except OSError:
        pass
slow = socket.create_connection(("127.0.0.1", port), timeout=5)
for c in b"GET /metrics HTTP/1.1\r\n":
    slow.send(bytes([c]))
    time.sleep(0.1)
time.sleep(3)
PY
stall=$!
pids="$pids $stall"
sleep 1
logctl topics >/dev/null || fail "the native listener stopped serving beside stalled HTTP clients"
timeout 20 kcat -b "$kafka" -L >/dev/null 2>&1 || fail "the Kafka listener stopped serving beside stalled HTTP clients"
wait $stall
i=0
until curl -sf -m 5 "$http/api/stats" >/dev/null; do
	i=$((i + 1)); [ $i -lt 150 ] || fail "HTTP did not serve again after the stalled clients"
	sleep 0.1
done
kill -0 $logd || fail "logd died"

# --- a real Prometheus server scrapes logd
pport=$(free_port)
cat > "$tmp/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: logd
    static_configs:
      - targets: ['127.0.0.1:$hport']
YML
prometheus --config.file="$tmp/prometheus.yml" \
    --storage.tsdb.path="$tmp/tsdb" --web.listen-address=127.0.0.1:$pport \
    > "$tmp/prometheus.log" 2>&1 &
prom=$!
pids="$pids $prom"
i=0
lag=
while :; do
	lag=$(curl -s "http://127.0.0.1:$pport/api/v1/query" \
	    --data-urlencode 'query=logd_consumergroup_lag{consumergroup="g40",topic="lagt"}' 2>/dev/null |
	    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null)
	[ "$lag" = 42 ] && break
	i=$((i + 1)); [ $i -lt 300 ] || fail "Prometheus never saw lag 42 for g40 (last: '$lag'): $(tail -5 "$tmp/prometheus.log")"
	sleep 0.1
done
up=$(curl -s "http://127.0.0.1:$pport/api/v1/query" --data-urlencode 'query=up{job="logd"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1])')
[ "$up" = 1 ] || fail "Prometheus says the logd target is not up"
kill $prom; wait $prom 2>/dev/null

kill -TERM $logd; wait $logd
status=$?
pids=
[ $status -eq 0 ] || fail "logd exited $status"
echo "http.sh: all passed"
