#!/usr/bin/env python3
"""A fake one-broker Kafka cluster that records what producers send.

Used once to capture the RecordBatch bytes librdkafka writes (see
README): it answers ApiVersions (v3), Metadata (v1) and Produce (v3),
writes the records field of each Produce partition to
<prefix>-<n>.bin, and exits after the given number of batches.  Not run
by the tests; kept so the capture can be repeated.

usage: capture-broker.py PORT PREFIX COUNT
"""
import socket
import struct
import sys
import threading

PORT, PREFIX, COUNT = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
lock = threading.Lock()
captured = [0]
done = threading.Event()

# (api key, min, max): librdkafka uses magic-2 batches with Produce 3 and
# Fetch 4, and compresses only when older versions are listed too.
APIS = [(0, 0, 3), (1, 0, 4), (3, 1, 1), (18, 0, 3)]


class Reader:
    def __init__(self, b):
        self.b, self.i = b, 0

    def take(self, n):
        v = self.b[self.i:self.i + n]
        self.i += n
        return v

    def i16(self):
        return struct.unpack('>h', self.take(2))[0]

    def i32(self):
        return struct.unpack('>i', self.take(4))[0]

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def uvarint(self):
        v = s = 0
        while True:
            b = self.take(1)[0]
            v |= (b & 0x7f) << s
            s += 7
            if b < 0x80:
                return v


def kstr(s):
    b = s.encode()
    return struct.pack('>h', len(b)) + b


def uvarint(v):
    out = b''
    while v >= 0x80:
        out += bytes([v & 0x7f | 0x80])
        v >>= 7
    return out + bytes([v])


def api_versions():
    body = struct.pack('>h', 0) + uvarint(len(APIS) + 1)
    for k, lo, hi in APIS:
        body += struct.pack('>hhh', k, lo, hi) + uvarint(0)
    return body + struct.pack('>i', 0) + uvarint(0)


def metadata(r):
    n = r.i32()
    topics = [r.string() for _ in range(max(n, 0))] or ['test']
    body = struct.pack('>i', 1)                      # brokers
    body += struct.pack('>i', 1) + kstr('127.0.0.1')
    body += struct.pack('>i', PORT) + struct.pack('>h', -1)
    body += struct.pack('>i', 1)                     # controller
    body += struct.pack('>i', len(topics))
    for t in topics:
        body += struct.pack('>h', 0) + kstr(t) + b'\x00'
        body += struct.pack('>i', 1)                 # one partition
        body += struct.pack('>hii', 0, 0, 1)
        body += struct.pack('>ii', 1, 1) + struct.pack('>ii', 1, 1)
    return body


def produce(r):
    r.string()                                       # transactional id
    r.i16()                                          # acks
    r.i32()                                          # timeout
    out = []
    for _ in range(r.i32()):
        name = r.string()
        parts = []
        for _ in range(r.i32()):
            idx = r.i32()
            n = r.i32()
            data = r.take(n)
            with lock:
                captured[0] += 1
                path = '%s-%d.bin' % (PREFIX, captured[0])
                if captured[0] <= COUNT:
                    with open(path, 'wb') as f:
                        f.write(data)
                    print('captured %s (%d bytes)' % (path, n), flush=True)
                if captured[0] >= COUNT:
                    done.set()
            parts.append(idx)
        out.append((name, parts))
    body = struct.pack('>i', len(out))
    for name, parts in out:
        body += kstr(name) + struct.pack('>i', len(parts))
        for idx in parts:
            body += struct.pack('>ihqq', idx, 0, 0, -1)
    return body + struct.pack('>i', 0)


def serve(conn):
    with conn:
        while True:
            hdr = conn.recv(4, socket.MSG_WAITALL)
            if len(hdr) < 4:
                return
            n = struct.unpack('>i', hdr)[0]
            req = conn.recv(n, socket.MSG_WAITALL)
            r = Reader(req)
            key, ver, corr = r.i16(), r.i16(), r.i32()
            r.string()                               # client id
            if key == 18:
                if ver >= 3:
                    r.uvarint()                      # header tags
                body = api_versions()
            elif key == 3:
                body = metadata(r)
            elif key == 0:
                body = produce(r)
            else:
                print('unexpected api %d v%d' % (key, ver), flush=True)
                return
            resp = struct.pack('>i', corr) + body
            conn.sendall(struct.pack('>i', len(resp)) + resp)


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(('127.0.0.1', PORT))
    srv.listen(4)
    srv.settimeout(0.2)
    while not done.is_set():
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


main()
