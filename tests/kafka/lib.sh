# lib.sh - sourced by the Kafka listener tests (tests/kafka/README).
#
# Starts one real logd from $LOGD_BUILDDIR with both listeners on free
# ports of 127.0.0.1 (kafka_listen and kafka_advertised in its config
# file), runs kcat and the other clients under timeouts, and counts
# checks.  A test is a function; "check" and "bad" record its outcome.
# "finish" prints a Check-style summary line (scripts/test.sh adds it up)
# and exits 1 if anything failed.  Nothing here ever skips: a missing
# program or a listener that never accepts is a failure that says why.
# logd and every background client are stopped on exit (trap).

set -u
: "${LOGD_BUILDDIR:?run by make check (LOGD_BUILDDIR unset)}"
: "${LOGD_SRCDIR:?run by make check (LOGD_SRCDIR unset)}"
KDIR=$LOGD_SRCDIR/tests/kafka
NAME=${NAME:-$(basename "$0" .sh)}
LOGD_BIN=$LOGD_BUILDDIR/logd/logd
LOGPUT=$LOGD_BUILDDIR/tools/logput
LOGTAIL=$LOGD_BUILDDIR/tools/logtail
LOGCTL=$LOGD_BUILDDIR/tools/logctl
KPROD=${KPROD:-$LOGD_BUILDDIR/tests/kafka/kprod}
KCAT_TIMEOUT=${KCAT_TIMEOUT:-20}

CHECKS=0
FAILS=0
BGPIDS=""
LOGD_PID=""
T=$(mktemp -d "${TMPDIR:-/tmp}/$NAME.XXXXXX") || exit 1

cleanup() {
	for p in $BGPIDS; do
		kill -9 "$p" 2>/dev/null
	done
	[ -n "$LOGD_PID" ] && kill -9 "$LOGD_PID" 2>/dev/null
	wait 2>/dev/null
	if [ "$FAILS" -eq 0 ] && [ -z "${KEEP:-}" ]; then
		rm -rf "$T"
	else
		echo "$NAME: files kept in $T"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

say() { echo "$NAME: $*"; }

# check DESC: one passed assertion.
check() {
	CHECKS=$((CHECKS + 1))
	say "ok: $*"
}

# bad DESC: one failed assertion (the caller returns from its test).
bad() {
	CHECKS=$((CHECKS + 1))
	FAILS=$((FAILS + 1))
	say "FAIL: $*"
	return 1
}

# expect_eq WHAT GOT WANT
expect_eq() {
	if [ "$2" = "$3" ]; then
		check "$1"
	else
		bad "$1: got '$2', want '$3'"
	fi
}

# need PROGRAM HINT: a missing program fails the whole test at once.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	bad "$1 is not installed: $2"
	finish
}

need_file() {
	[ -x "$1" ] && return 0
	bad "$1 is missing: $2"
	finish
}

finish() {
	local pct=100

	[ "$CHECKS" -gt 0 ] && pct=$(((CHECKS - FAILS) * 100 / CHECKS))
	if [ "$CHECKS" -eq 0 ]; then
		FAILS=1
		say "FAIL: no check ran"
	fi
	echo "$pct%: Checks: $CHECKS, Failures: $FAILS, Errors: 0"
	[ "$FAILS" -eq 0 ] && exit 0
	exit 1
}

free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# port_open PORT: 0 when something accepts on 127.0.0.1:PORT.
port_open() {
	python3 -c 'import socket, sys
s = socket.socket()
s.settimeout(1)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}

# logd_conf [EXTRA_LINE...]: writes $T/logd.conf.  KAFKA_ADVERTISED may
# name another host:port to advertise.
logd_conf() {
	NPORT=$(free_port)
	KPORT=$(free_port)
	KBROKER=127.0.0.1:$KPORT
	NBROKER=127.0.0.1:$NPORT
	mkdir -p "$T/data"
	{
		echo "datadir = $T/data"
		echo "listen = $NBROKER"
		echo "log_file = $T/logd.log"
		echo "log_level = debug"
		echo "kafka_listen = $KBROKER"
		echo "http_listen = none"
		echo "kafka_advertised = ${KAFKA_ADVERTISED:-$KBROKER}"
		for l in "$@"; do
			echo "$l"
		done
	} > "$T/logd.conf"
	export LOGD_BROKER=$NBROKER
}

# logd_launch: starts logd on $T/logd.conf and waits until both listeners
# accept (15 s).  Returns 1, with the log, when either never does.
logd_launch() {
	local i

	"$LOGD_BIN" -C "$T/logd.conf" >> "$T/logd.out" 2>&1 &
	LOGD_PID=$!
	for i in $(seq 150); do
		if ! kill -0 "$LOGD_PID" 2>/dev/null; then
			wait "$LOGD_PID"
			bad "logd exited ($?) before accepting (does it know" \
			    "kafka_listen?):" "$(tail -5 "$T/logd.out")"
			LOGD_PID=""
			return 1
		fi
		if port_open "$NPORT" && port_open "$KPORT"; then
			return 0
		fi
		sleep 0.1
	done
	bad "logd's Kafka listener did not accept on $KBROKER within 15 s" \
	    "(native $NBROKER: $(port_open "$NPORT" && echo up || echo down))"
	tail -20 "$T/logd.log" 2>/dev/null
	return 1
}

# logd_start [EXTRA_LINE...]: config and launch; a failure ends the test.
logd_start() {
	logd_conf "$@"
	logd_launch || finish
	check "logd serves Kafka on $KBROKER and native on $NBROKER"
}

# logd_term: SIGTERM and wait (10 s, then SIGKILL).  Status in $?.
logd_term() {
	local i

	[ -n "$LOGD_PID" ] || return 0
	kill -TERM "$LOGD_PID"
	for i in $(seq 100); do
		kill -0 "$LOGD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$LOGD_PID" 2>/dev/null
	wait "$LOGD_PID"
	i=$?
	LOGD_PID=""
	return $i
}

logd_kill9() {
	[ -n "$LOGD_PID" ] || return 0
	kill -9 "$LOGD_PID"
	wait "$LOGD_PID" 2>/dev/null
	LOGD_PID=""
}

# logd_alive: fails the current test when logd died.
logd_alive() {
	[ -n "$LOGD_PID" ] && kill -0 "$LOGD_PID" 2>/dev/null && return 0
	bad "logd is not running any more: $(tail -5 "$T/logd.out")"
}

# kc ARGS...: kcat against the Kafka listener, bounded in time.
kc() {
	timeout -k 2 "$KCAT_TIMEOUT" kcat -b "$KBROKER" "$@"
}

# bg COMMAND...: runs COMMAND in the background, killed at exit.
# Its pid is in $BG.
bg() {
	"$@" &
	BG=$!
	BGPIDS="$BGPIDS $BG"
}

# wait_for SECONDS COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
	local end=$(($(date +%s) + $1))

	shift
	while :; do
		"$@" && return 0
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.2
	done
}

# create TOPIC PARTITIONS: through the native protocol (logctl).
create() {
	"$LOGCTL" create "$1" -p "$2" > "$T/create.out" 2>&1 ||
	    bad "logctl create $1 -p $2: $(cat "$T/create.out")"
}

# end_offsets TOPIC: "P END" per partition, from logctl describe --json.
end_offsets() {
	"$LOGCTL" --json describe "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for p in d["partitions"]:
    print(p["partition"], p["end"])'
}

# runpy FILE.py ARGS...: the Python helpers next to this file.
runpy() {
	python3 "$KDIR/$1" "${@:2}"
}
