#!/bin/sh
# Installs what building and testing logd needs on Debian 12.
# Run as root (or through sudo).  Does nothing that is already done.
set -e
pkgs="build-essential autoconf automake libtool pkg-config liblmdb-dev
libmsgpack-dev libsqlite3-dev zlib1g-dev libsnappy-dev liblz4-dev libzstd-dev libmicrohttpd-dev libjs-chart.js sqlite3 check mandoc python3 procps curl
clang libclang-rt-14-dev kcat librdkafka-dev prometheus chromium
redis-server"
missing=""
for p in $pkgs; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
# redis-server: logbench latency --peer redis (tests/check_logbench.c,
# scripts/bench.sh) starts its own on a free port.
# Node.js and npm run the KafkaJS tests (tests/kafka/kafkajs.sh).
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: need root to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
