#!/bin/sh
# raw.sh - Kafka requests written by hand on raw sockets against a real
# logd: ApiVersions at every version logd serves, and at v3 and v99
# (error 35 with logd's ranges, in the v0 format, so a client retries
# lower); an unknown API key, a truncated request and an oversized size
# close only their own connection while another client is served;
# Metadata, Produce v3 (acks 1 and -1) and Fetch v4 return the same bytes;
# a batch two hours ahead of the clock gets 32 (INVALID_TIMESTAMP).
set -u
build=${LOGD_BUILDDIR:?run by make check}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kraw.XXXXXX")
logd=
cleanup() {
	[ -n "$logd" ] && kill -9 "$logd" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
kport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$build/logd/logd" -d "$tmp/data" -l 127.0.0.1:$nport --log-file "$tmp/logd.log" \
    --set kafka_listen=127.0.0.1:$kport --set http_listen=none --set auto_create_topics=yes \
    --set max_frame_bytes=1048576 --set flush_ms=60000 --set idle_timeout_ms=0 &
logd=$!
i=0
until "$build/tools/logctl" -b 127.0.0.1:$nport topics >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "raw.sh: logd did not start"; exit 1; }
	sleep 0.1
done
timeout 60 python3 - "$kport" "$build" "$nport" "$tmp" <<'PY'
import socket, struct, sys, zlib

port = int(sys.argv[1])

def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s

def frame(api, ver, corr, body=b"", client=b"raw"):
    h = struct.pack(">hhih", api, ver, corr, len(client)) + client
    p = h + body
    return struct.pack(">i", len(p)) + p

def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed after %d of %d bytes" % (len(b), n))
        b += c
    return b

def reply(s):
    n, = struct.unpack(">i", recv_exact(s, 4))
    return recv_exact(s, n)

def closed(s):
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False

def api_versions(s, ver, corr):
    s.sendall(frame(18, ver, corr))
    r = reply(s)
    c, err, n = struct.unpack(">ihi", r[:10])
    assert c == corr, (c, corr)
    apis = {}
    for i in range(n):
        k, lo, hi = struct.unpack(">hhh", r[10 + 6 * i:16 + 6 * i])
        apis[k] = (lo, hi)
    return err, apis, r[10 + 6 * n:]

s = conn()
for v in (0, 1, 2):
    err, apis, tail = api_versions(s, v, 10 + v)
    assert err == 0, (v, err)
    assert apis[18] == (0, 2) and apis[0] == (0, 7) and apis[1] == (0, 11), apis
    assert all(lo == 0 for lo, hi in apis.values()), apis
    assert len(tail) == (4 if v >= 1 else 0), (v, tail)
for v in (3, 99):
    err, apis, tail = api_versions(s, v, 20 + v)
    assert err == 35, (v, err)
    assert apis[18] == (0, 2), apis
print("raw: ApiVersions v0-2 ok, v3 and v99 get 35 with the ranges")

def metadata(s, topics, corr):
    body = struct.pack(">i", len(topics)) + b"".join(
        struct.pack(">h", len(t)) + t for t in topics) + b"\x01"
    s.sendall(frame(3, 4, corr, body))
    return reply(s)

def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 & -(crc & 1))
    return crc ^ 0xffffffff

def varint(n):
    n = (n << 1) ^ (n >> 63)
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])

def batch(values, ts=1700000000000, pid=-1, epoch=-1, seq=-1):
    recs = b""
    for i, v in enumerate(values):
        r = b"\x00" + varint(0) + varint(i) + varint(-1) + varint(len(v)) + v + varint(0)
        recs += varint(len(r)) + r
    after = struct.pack(">hiqqqhii", 0, len(values) - 1, ts, ts, pid, epoch, seq, len(values)) + recs
    crc = crc32c(after)
    head = struct.pack(">qiibI", 0, 4 + 1 + 4 + len(after), 0, 2, crc)
    return head + after

def produce(s, topic, acks, data, corr):
    body = struct.pack(">hhi", -1, acks, 1000) + struct.pack(">i", 1)
    body += struct.pack(">h", len(topic)) + topic + struct.pack(">i", 1)
    body += struct.pack(">ii", 0, len(data)) + data
    s.sendall(frame(0, 3, corr, body))
    r = reply(s)
    c, nt = struct.unpack(">ii", r[:8])
    assert c == corr
    tl, = struct.unpack(">h", r[8:10])
    off = 10 + tl
    np, part, err, base, lat = struct.unpack(">iihqq", r[off:off + 26])
    return err, base

def fetch(s, topic, offset, corr):
    body = struct.pack(">iiiib", -1, 100, 1, 1 << 20, 0) + struct.pack(">i", 1)
    body += struct.pack(">h", len(topic)) + topic + struct.pack(">i", 1)
    body += struct.pack(">iqi", 0, offset, 1 << 20)
    s.sendall(frame(1, 4, corr, body))
    r = reply(s)
    c, thr, nt = struct.unpack(">iii", r[:12])
    tl, = struct.unpack(">h", r[12:14])
    off = 14 + tl
    np, part, err, hw, lso, na = struct.unpack(">iihqqi", r[off:off + 30])
    off += 30
    n, = struct.unpack(">i", r[off:off + 4])
    return err, hw, r[off + 4:off + 4 + n]

r = metadata(s, [b"rawt"], 30)
assert b"rawt" in r
b1 = batch([b"one", b"two"])
b2 = batch([b"three"])
e1, o1 = produce(s, b"rawt", 1, b1, 31)
e2, o2 = produce(s, b"rawt", -1, b2, 32)
assert (e1, o1, e2, o2) == (0, 0, 0, 2), (e1, o1, e2, o2)
err, hw, recs = fetch(s, b"rawt", 0, 33)
assert err == 0 and hw == 3, (err, hw)
# The stored batches, with the base offsets the broker gave them.
want = bytearray(b1 + b2)
want[len(b1):len(b1) + 8] = struct.pack(">q", 2)
assert recs == bytes(want), (recs, bytes(want))
err, hw, recs = fetch(s, b"rawt", 7, 34)
assert err == 1, err   # OFFSET_OUT_OF_RANGE
bad = bytearray(b1)
bad[-1] ^= 1
e, _ = produce(s, b"rawt", 1, bytes(bad), 35)
assert e == 2, e       # CORRUPT_MESSAGE
import time
later = batch([b"later"], ts=int(time.time() * 1000) + 2 * 3600 * 1000)
e, _ = produce(s, b"rawt", 1, later, 36)
assert e == 32, e      # INVALID_TIMESTAMP: two hours ahead of the clock
print("raw: Produce v3 acks 1 and -1, Fetch v4 bytes exact, errors 1, 2 and 32")

# An idempotent producer: a retried batch is answered with the offsets it
# got and not appended again; a gap gets 45 (OUT_OF_ORDER_SEQUENCE).
pid = 4242
s0 = batch([b"i0", b"i1"], pid=pid, epoch=0, seq=0)
s1 = batch([b"i2"], pid=pid, epoch=0, seq=2)
gap = batch([b"i9"], pid=pid, epoch=0, seq=9)
e, a = produce(s, b"rawt", 1, s0, 50)
e2, a2 = produce(s, b"rawt", 1, s0, 51)
assert e == 0 and (e2, a2) == (0, a), (e, a, e2, a2)
e, _ = produce(s, b"rawt", 1, gap, 52)
assert e == 45, e
e, b_ = produce(s, b"rawt", 1, s1, 53)
assert (e, b_) == (0, a + 2), (e, b_, a)
err, hw, recs = fetch(s, b"rawt", 0, 54)
assert hw == a + 3, (hw, a)
open(sys.argv[4] + "/seq1.bin", "wb").write(s1)
open(sys.argv[4] + "/seq1.off", "w").write("%d %d" % (b_, hw))
print("raw: idempotent retry answered with its offset, not appended; a gap gets 45")

# Pipelined acks=-1 produces: each is served once the one before it is
# answered, and must get its sync then, not at the next timer (they once
# waited for the next loop event, up to flush_ms: 60 s here).
import time
t0 = time.time()
reqs = b""
for i in range(3):
    body = struct.pack(">hhi", -1, -1, 1000) + struct.pack(">i", 1)
    body += struct.pack(">h", 4) + b"rawt" + struct.pack(">i", 1)
    d = batch([b"p%d" % i])
    body += struct.pack(">ii", 0, len(d)) + d
    reqs += frame(0, 3, 40 + i, body)
s.sendall(reqs)
for i in range(3):
    c, = struct.unpack(">i", reply(s)[:4])
    assert c == 40 + i, (c, i)
took = time.time() - t0
assert took < 5, "3 pipelined acks=-1 produces took %.1f s" % took
print("raw: 3 pipelined acks=-1 produces answered in order in %.3f s" % took)

good = conn()
for what, data in (("unknown api key", frame(999, 0, 1)),
                   ("unknown version", frame(3, 99, 1)),
                   ("truncated header", struct.pack(">i", 3) + b"\x00\x03\x00"),
                   ("oversized size", struct.pack(">i", 1 << 30) + b"\x00" * 16),
                   ("negative size", struct.pack(">i", -5))):
    bad = conn()
    bad.sendall(data)
    assert closed(bad), what
    err, apis, _ = api_versions(good, 0, 77)
    assert err == 0, what
print("raw: bad requests close only their own connection")

# Clients that park a long-poll fetch (and queue a request behind it)
# and leave: logd closes them at once, not when the fetch would end.
import subprocess, time
def connections():
    out = subprocess.run([sys.argv[2] + "/tools/logctl", "-b",
        "127.0.0.1:" + sys.argv[3], "stats"], capture_output=True,
        text=True).stdout
    return int(out.split("connections")[1].split()[0])
base = connections()
ghosts = []
for i in range(50):
    g = conn()
    body = struct.pack(">iiiib", -1, 30000, 1, 1 << 20, 0) + struct.pack(">i", 1)
    body += struct.pack(">h", 4) + b"rawt" + struct.pack(">i", 1)
    body += struct.pack(">iqi", 0, 3, 1 << 20)
    g.sendall(frame(1, 4, 1, body) + frame(18, 0, 2))
    ghosts.append(g)
time.sleep(0.5)
assert connections() >= base + 50, (connections(), base)
for g in ghosts:
    g.close()
for i in range(50):
    if connections() <= base:
        break
    time.sleep(0.1)
assert connections() <= base, ("ghosts still open", connections(), base)
print("raw: 50 clients that parked a fetch and left are closed at once")

# Requests behind a parked one are not read (Kafka answers in order):
# a client that floods them stalls on its own socket, logd's memory
# does not grow with what it sends.
f = conn()
body = struct.pack(">iiiib", -1, 3000, 1, 1 << 20, 0) + struct.pack(">i", 1)
body += struct.pack(">h", 4) + b"rawt" + struct.pack(">i", 1)
body += struct.pack(">iqi", 0, 3, 1 << 20)
f.sendall(frame(1, 4, 1, body))
time.sleep(0.2)
f.setblocking(False)
chunk = frame(18, 0, 3) * 4096
sent, end = 0, time.time() + 2
while sent < (64 << 20) and time.time() < end:
    try:
        sent += f.send(chunk)
    except BlockingIOError:
        time.sleep(0.05)
assert sent < (16 << 20), "logd read %d bytes behind a parked fetch" % sent
f.close()
print("raw: %d bytes queued behind a parked fetch, then the client stalls" % sent)
PY
rc=$?
if [ $rc -ne 0 ]; then
	echo "raw.sh: FAIL (python exited $rc)"; tail -20 "$tmp/logd.log"; exit 1
fi
kill -TERM $logd; wait $logd; st=$?; logd=
[ $st -eq 0 ] || { echo "raw.sh: logd exited $st"; exit 1; }

# The producer state survives a kill -9: the retry after the restart is
# still recognised.
"$build/logd/logd" -d "$tmp/data" -l 127.0.0.1:$nport --log-file "$tmp/logd.log" \
    --set kafka_listen=127.0.0.1:$kport --set http_listen=none &
logd=$!
i=0
until "$build/tools/logctl" -b 127.0.0.1:$nport topics >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "raw.sh: logd did not restart"; exit 1; }
	sleep 0.1
done
kill -9 $logd; wait $logd 2>/dev/null
"$build/logd/logd" -d "$tmp/data" -l 127.0.0.1:$nport --log-file "$tmp/logd.log" \
    --set kafka_listen=127.0.0.1:$kport --set http_listen=none &
logd=$!
i=0
until "$build/tools/logctl" -b 127.0.0.1:$nport topics >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "raw.sh: logd did not restart"; exit 1; }
	sleep 0.1
done
timeout 30 python3 - "$kport" "$tmp" <<'PY'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
def frame(api, ver, corr, body):
    p = struct.pack(">hhih", api, ver, corr, 3) + b"raw" + body
    return struct.pack(">i", len(p)) + p
def recv_exact(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        assert c, "closed"
        b += c
    return b
data = open(sys.argv[2] + "/seq1.bin", "rb").read()
off, hw = map(int, open(sys.argv[2] + "/seq1.off").read().split())
body = struct.pack(">hhi", -1, 1, 1000) + struct.pack(">i", 1)
body += struct.pack(">h", 4) + b"rawt" + struct.pack(">i", 1)
body += struct.pack(">ii", 0, len(data)) + data
s.sendall(frame(0, 3, 60, body))
n, = struct.unpack(">i", recv_exact(4))
r = recv_exact(n)
tl, = struct.unpack(">h", r[8:10])
np, part, err, base = struct.unpack(">iihq", r[10 + tl:10 + tl + 18])
assert (err, base) == (0, off), (err, base, off)
print("raw: after kill -9 and a restart the retry still gets offset %d" % base)
PY
[ $? -eq 0 ] || { echo "raw.sh: FAIL after the restart"; tail -5 "$tmp/logd.log"; exit 1; }
kill -TERM $logd; wait $logd; logd=
echo "raw.sh: all passed"
