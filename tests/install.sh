#!/bin/sh
# install.sh - the systemd unit and the bash completion: make install puts
# them where configure found (the unit in systemd's systemdsystemunitdir,
# one completion file linked under every program's name), the unit runs
# the installed logd as its own user on /var/lib/logd and passes
# systemd-analyze verify, and the completion completes options and topic
# names from a real logd.
set -u
build=${LOGD_BUILDDIR:?run by make check}
src=${LOGD_SRCDIR:?run by make check}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/install.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait; rm -rf "$tmp"' EXIT
fail() { echo "install.sh: FAIL: $*"; exit 1; }
# The makes below are our own, not part of the make check that runs us.
unset MAKEFLAGS MFLAGS MAKELEVEL
var() { sed -n "s|^$1 = ||p" "$build/$2/Makefile"; }

unitdir=$(var systemdsystemunitdir logd)
compdir=$(make -s --no-print-directory -C "$build/tools" -f Makefile -f - print-compdir \
    2>/dev/null <<'EOF'
print-compdir:
	@echo $(bashcompletiondir)
EOF
)
sbindir=$(make -s --no-print-directory -C "$build/logd" -f Makefile -f - print-sbindir \
    2>/dev/null <<'EOF'
print-sbindir:
	@echo $(sbindir)
EOF
)
[ -n "$compdir" ] && [ -n "$sbindir" ] || fail "cannot read the install dirs"
make -s --no-print-directory -C "$build/logd" install-systemdsystemunitDATA DESTDIR="$tmp" \
    >/dev/null || fail "make install of the unit"
make -s --no-print-directory -C "$build/tools" install-data-local DESTDIR="$tmp" >/dev/null ||
	fail "make install of the completion"

# The unit.
if [ "$unitdir" = no ]; then
	echo "install.sh: no systemd unit dir configured: unit not checked"
else
	unit=$tmp$unitdir/logd.service
	[ -f "$unit" ] || fail "no $unit"
	grep -qx "ExecStart=$sbindir/logd -d /var/lib/logd -u /run/logd/logd.sock" \
	    "$unit" || fail "ExecStart does not run $sbindir/logd"
	for l in DynamicUser=yes User=logd StateDirectory=logd \
	    WantedBy=multi-user.target; do
		grep -qx "$l" "$unit" || fail "unit lacks $l"
	done
	if command -v systemd-analyze >/dev/null 2>&1; then
		# verify wants the binary where the unit says: the built one.
		sed "s|^ExecStart=[^ ]*|ExecStart=$build/logd/logd|" "$unit" \
		    >"$tmp/logd.service"
		out=$(systemd-analyze verify --man=no "$tmp/logd.service" 2>&1) ||
			fail "systemd-analyze verify: $out"
		[ -z "$out" ] || fail "systemd-analyze verify: $out"
	fi
fi

# The completion, under every program's name.
for p in logd logtail logput logctl sensorgen logalerts logbench; do
	[ -f "$tmp$compdir/$p" ] || fail "no completion $tmp$compdir/$p"
done
command -v bash >/dev/null 2>&1 || { echo "install.sh: PASS (no bash)"; exit 0; }
sock=$tmp/logd.sock
"$build/logd/logd" -d "$tmp/data" -u "$sock" --set listen=none \
    --set kafka_listen=none --set http_listen=none --log-file "$tmp/logd.log" &
pid=$!
i=0
while [ ! -S "$sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -S "$sock" ] || fail "logd did not start: $(cat "$tmp/logd.log")"
"$build/tools/logctl" -b "$sock" create weather >/dev/null &&
"$build/tools/logctl" -b "$sock" create wind >/dev/null ||
	fail "cannot create topics"
# What bash offers for the words given, the last being completed.
comp() {
	PATH=$build/tools:$PATH bash -c '
	. "$1"; shift
	COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	_logd_complete
	echo "${COMPREPLY[*]}"' sh "$tmp$compdir/logtail" "$@"
}
got=$(comp logtail -b "$sock" w)
[ "$got" = "weather wind" ] || fail "logtail -b SOCK w completes to '$got'"
[ "$(comp logtail -f --ver)" = "--version" ] || fail "logtail --ver"
[ "$(comp logput -b "$sock" -Z z)" = "zstd" ] || fail "logput -Z z"
[ "$(comp logctl -b "$sock" describe we)" = "weather" ] ||
	fail "logctl describe we"
[ "$(comp logctl de)" = "describe delete delete-group" ] || fail "logctl de"
case " $(comp sensorgen -) " in
*" -t "*" --version "*) ;;
*) fail "sensorgen - completes to '$(comp sensorgen -)'" ;;
esac
echo "install.sh: unit in $unitdir, completion in $compdir: PASS"
