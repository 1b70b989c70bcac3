#!/usr/bin/env python3
"""Records what Kafka clients send, for fuzz_kafka's seed corpus.

    kafka_capture.py LISTEN_PORT LOGD_KAFKA_PORT OUTDIR PREFIX

Listens on 127.0.0.1:LISTEN_PORT and relays each connection to logd's
Kafka listener; when a connection ends, what the client sent on it is
written to OUTDIR/PREFIX-N (N counts the connections).  Run logd with
kafka_advertised = 127.0.0.1:LISTEN_PORT so the clients come back through
the relay after Metadata.  Stops on SIGINT or SIGTERM.
"""
import os
import selectors
import signal
import socket
import sys


def main():
    lport, kport, outdir, prefix = (int(sys.argv[1]), int(sys.argv[2]),
                                    sys.argv[3], sys.argv[4])
    os.makedirs(outdir, exist_ok=True)
    sel = selectors.DefaultSelector()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", lport))
    ls.listen(64)
    sel.register(ls, selectors.EVENT_READ, None)
    count = [0]
    pairs = {}

    def finish(c):
        peer, rec, ident = pairs.pop(c)
        pairs.pop(peer, None)
        for s in (c, peer):
            try:
                sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
        if rec is not None and len(rec) > 0:
            with open(os.path.join(outdir, "%s-%d" % (prefix, ident)),
                      "wb") as f:
                f.write(bytes(rec))

    def stop(*_):
        for c in [c for c in pairs if pairs[c][1] is not None]:
            finish(c)
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if s is ls:
                c, _ = ls.accept()
                u = socket.create_connection(("127.0.0.1", kport))
                count[0] += 1
                rec = bytearray()
                pairs[c] = (u, rec, count[0])
                pairs[u] = (c, None, 0)
                sel.register(c, selectors.EVENT_READ, None)
                sel.register(u, selectors.EVENT_READ, None)
                continue
            if s not in pairs:
                continue
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            peer, rec, _ = pairs[s]
            if not data:
                finish(s if rec is not None else peer)
                continue
            if rec is not None:
                rec += data
            peer.sendall(data)


if __name__ == "__main__":
    main()
