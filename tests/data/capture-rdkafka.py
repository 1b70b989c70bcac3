#!/usr/bin/env python3
"""Produces records with chosen timestamps through librdkafka itself.

kcat cannot set record timestamps, so this drives librdkafka.so.1 (the
library kcat uses) through ctypes and rd_kafka_produceva(), against
capture-broker.py (see README).  Not run by the tests.

usage: capture-rdkafka.py PORT small|big
  small: 6 records with exact timestamps, null and empty keys, values
         and header values
  big:   1000 records with 100-byte values, timestamps base + i
"""
import ctypes as C
import sys

PORT, WHICH = int(sys.argv[1]), sys.argv[2]
BASE_TS = 1764000000000

VT_END, VT_TOPIC, VT_PARTITION, VT_VALUE, VT_KEY = 0, 1, 3, 4, 5
VT_MSGFLAGS, VT_TIMESTAMP, VT_HEADER = 7, 8, 9
MSG_F_COPY = 0x2


class Mem(C.Structure):
    _fields_ = [('ptr', C.c_void_p), ('size', C.c_size_t)]


class Header(C.Structure):
    _fields_ = [('name', C.c_char_p), ('val', C.c_void_p),
                ('size', C.c_ssize_t)]


class U(C.Union):
    _fields_ = [('cstr', C.c_char_p), ('i', C.c_int), ('i32', C.c_int32),
                ('i64', C.c_int64), ('mem', Mem), ('header', Header),
                ('pad', C.c_char * 64)]


class VU(C.Structure):
    _fields_ = [('vtype', C.c_int), ('u', U)]


lib = C.CDLL('librdkafka.so.1')
lib.rd_kafka_conf_new.restype = C.c_void_p
lib.rd_kafka_new.restype = C.c_void_p
lib.rd_kafka_new.argtypes = [C.c_int, C.c_void_p, C.c_char_p, C.c_size_t]
lib.rd_kafka_conf_set.argtypes = [C.c_void_p, C.c_char_p, C.c_char_p,
                                  C.c_char_p, C.c_size_t]
lib.rd_kafka_produceva.restype = C.c_void_p
lib.rd_kafka_produceva.argtypes = [C.c_void_p, C.POINTER(VU), C.c_size_t]
lib.rd_kafka_flush.argtypes = [C.c_void_p, C.c_int]
lib.rd_kafka_destroy.argtypes = [C.c_void_p]

keep = []                       # buffers must outlive produceva


def buf(b):
    if b is None:
        return None
    s = C.create_string_buffer(b, len(b) + 1)
    keep.append(s)
    return C.cast(s, C.c_void_p)


def produce(rk, ts, key, value, headers):
    vus = []

    def add(t, **kw):
        v = VU()
        v.vtype = t
        for k, x in kw.items():
            setattr(v.u, k, x)
        vus.append(v)
    add(VT_TOPIC, cstr=b'sensors')
    add(VT_PARTITION, i32=0)
    add(VT_MSGFLAGS, i=MSG_F_COPY)
    add(VT_TIMESTAMP, i64=ts)
    add(VT_KEY, mem=Mem(buf(key), len(key) if key is not None else 0))
    add(VT_VALUE, mem=Mem(buf(value),
                          len(value) if value is not None else 0))
    for name, val in headers:
        add(VT_HEADER, header=Header(name, buf(val),
                                     len(val) if val is not None else -1))
    arr = (VU * len(vus))(*vus)
    err = lib.rd_kafka_produceva(rk, arr, len(vus))
    assert not err, 'produceva failed'


def main():
    err = C.create_string_buffer(512)
    conf = lib.rd_kafka_conf_new()
    for k, v in ((b'bootstrap.servers', b'127.0.0.1:%d' % PORT),
                 (b'linger.ms', b'500'),
                 (b'batch.num.messages', b'10000')):
        assert lib.rd_kafka_conf_set(conf, k, v, err, 512) == 0, err.value
    rk = lib.rd_kafka_new(0, conf, err, 512)  # RD_KAFKA_PRODUCER
    assert rk, err.value
    if WHICH == 'small':
        produce(rk, BASE_TS, b'ws_cairo_001', b'\x82\xa4temp\xcb@9\x80\x00'
                b'\x00\x00\x00\x00\xa4city\xa5Cairo', [(b'src', b'gen')])
        produce(rk, BASE_TS + 5, None, b'null key', [])
        produce(rk, BASE_TS - 3, b'', b'', [(b'nullval', None),
                                           (b'empty', b'')])
        produce(rk, BASE_TS + 1000, b'k4', None, [])
        produce(rk, BASE_TS + 70000, None, None, [(b'a', b'1'),
                                                  (b'b', b'22')])
        produce(rk, BASE_TS + 2, b'\x00\xff', b'\x00' * 200, [])
    else:
        for i in range(1000):
            produce(rk, BASE_TS + i, b'key-%04d' % i,
                    (b'value-%04d-' % i).ljust(100, b'.'), [])
    lib.rd_kafka_flush(rk, 10000)
    lib.rd_kafka_destroy(rk)


main()
