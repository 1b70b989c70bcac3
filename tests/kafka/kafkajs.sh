#!/bin/sh
# kafkajs.sh - KafkaJS 2.2.4 (npm, tests/kafka/kafkajs) under node --test
# against a real logd: admin, producers (acks -1, gzip, idempotent),
# consumer groups (split, leave, resume from commits), seek, and a
# KafkaJS member beside a kcat member (error 23).  scripts/test.sh
# installs the package from its lockfile (npm ci).
set -u
build=${LOGD_BUILDDIR:?run by make check}
src=${LOGD_SRCDIR:?run by make check}
dir=$src/tests/kafka/kafkajs
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kafkajs.XXXXXX")
logd=
cleanup() {
	[ -n "$logd" ] && kill -9 "$logd" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
command -v node >/dev/null || { echo "kafkajs.sh: FAIL: node is not installed"; exit 1; }
[ -d "$dir/node_modules/kafkajs" ] ||
    { echo "kafkajs.sh: FAIL: run 'npm ci' in $dir (scripts/test.sh does)"; exit 1; }
port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
nport=$(port)
kport=$(port)
"$build/logd/logd" -d "$tmp/data" -l 127.0.0.1:$nport --log-file "$tmp/logd.log" \
    --set kafka_listen=127.0.0.1:$kport --set http_listen=none --set auto_create_topics=yes &
logd=$!
i=0
until "$build/tools/logctl" -b 127.0.0.1:$nport topics >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "kafkajs.sh: logd did not start"; exit 1; }
	sleep 0.1
done
KAFKA_BROKER=127.0.0.1:$kport LOGD_NATIVE=127.0.0.1:$nport \
    LOGD_BUILDDIR=$build timeout 300 node --test "$dir/kafkajs.test.mjs"
rc=$?
if [ $rc -ne 0 ]; then
	echo "kafkajs.sh: FAIL (node --test exited $rc); logd log:"
	tail -40 "$tmp/logd.log"
	exit 1
fi
kill -TERM $logd; wait $logd; st=$?; logd=
[ $st -eq 0 ] || { echo "kafkajs.sh: logd exited $st"; exit 1; }
echo "kafkajs.sh: all passed"
