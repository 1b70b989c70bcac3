/*
 * check_proto.c - the native protocol codec: frames round-trip, the frame
 * parser's boundaries (need more, too big, empty), malformed and hostile
 * msgpack, and the strict field getters.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static msgpack_zone zone;

static void setup(void)
{
	ck_assert(msgpack_zone_init(&zone, 4096));
}

static void teardown(void)
{
	msgpack_zone_destroy(&zone);
}

/* Builds a frame whose payload is the raw bytes p/n. */
static size_t raw_frame(unsigned char *out, const void *p, size_t n)
{
	out[0] = n >> 24;
	out[1] = n >> 16;
	out[2] = n >> 8;
	out[3] = n;
	memcpy(out + 4, p, n);
	return n + 4;
}

static int decode_raw(const void *p, size_t n, struct logd_msg *m)
{
	return logd_proto_decode(p, n, &zone, m);
}

START_TEST(test_roundtrip)
{
	struct logd_pbuf b;
	struct logd_msg m;
	size_t flen = 0;
	int64_t v;
	uint64_t u;
	const char *s;
	const void *bin;
	size_t len;
	char name[16];
	const msgpack_object_array *arr;
	const msgpack_object *sub;

	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_PRODUCE, 0xfffffffeu);
	msgpack_pack_map(&b.pk, 6);
	logd_pack_kv_str(&b.pk, "topic", "weather");
	logd_pack_kv_int(&b.pk, "partition", -1);
	logd_pack_kv_int(&b.pk, "acks", 1);
	logd_pack_kv_bin(&b.pk, "records", "\x00\x01\x02", 3);
	logd_pack_str(&b.pk, "list");
	msgpack_pack_array(&b.pk, 2);
	msgpack_pack_int(&b.pk, 1);
	msgpack_pack_int(&b.pk, 2);
	logd_pack_str(&b.pk, "cfg");
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "k", "v");
	ck_assert_int_eq(logd_proto_end(&b, 0), 0);

	ck_assert_int_eq(logd_proto_frame(b.data, b.len, 1024, &flen), 0);
	ck_assert_uint_eq(flen, b.len);
	ck_assert_int_eq(decode_raw(b.data + 4, b.len - 4, &m), 0);
	ck_assert_int_eq(m.api, LOGD_API_PRODUCE);
	ck_assert_uint_eq(m.corr, 0xfffffffeu);
	ck_assert_int_eq(logd_proto_int(&m, NULL, "partition", &v), 0);
	ck_assert_int_eq(v, -1);
	ck_assert_int_eq(logd_proto_uint(&m, NULL, "acks", &u), 0);
	ck_assert_uint_eq(u, 1);
	ck_assert_int_eq(logd_proto_str(&m, NULL, "topic", &s, &len), 0);
	ck_assert_uint_eq(len, 7);
	ck_assert(memcmp(s, "weather", 7) == 0);
	/* Strings point into the frame, not a copy. */
	ck_assert(s > b.data && s < b.data + b.len);
	ck_assert_int_eq(logd_proto_cstr(&m, NULL, "topic", name,
	    sizeof(name)), 0);
	ck_assert_str_eq(name, "weather");
	ck_assert_int_eq(logd_proto_bin(&m, NULL, "records", &bin, &len), 0);
	ck_assert_uint_eq(len, 3);
	ck_assert(memcmp(bin, "\x00\x01\x02", 3) == 0);
	ck_assert_int_eq(logd_proto_array(&m, NULL, "list", &arr), 0);
	ck_assert_uint_eq(arr->size, 2);
	ck_assert_int_eq(logd_proto_map(&m, NULL, "cfg", &sub), 0);
	ck_assert_int_eq(logd_proto_cstr(&m, sub, "k", name, sizeof(name)), 0);
	ck_assert_str_eq(name, "v");
	ck_assert_str_eq(logd_proto_api_name(m.api), "produce");
	ck_assert_str_eq(logd_proto_api_name(999), "unknown");
	logd_pbuf_free(&b);
}
END_TEST

START_TEST(test_trailing_bytes_counted)
{
	struct logd_pbuf b;
	static const char stored[10] = "0123456789";
	unsigned char *all;
	struct logd_msg m;
	size_t flen;
	const void *p;
	size_t len;

	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_FETCH, 7);
	msgpack_pack_map(&b.pk, 2);
	logd_pack_kv_int(&b.pk, "error", 0);
	logd_pack_str(&b.pk, "records");
	msgpack_pack_bin(&b.pk, sizeof(stored));
	ck_assert_int_eq(logd_proto_end(&b, sizeof(stored)), 0);
	/* Without the trailing bytes the frame is incomplete. */
	ck_assert_int_eq(logd_proto_frame(b.data, b.len, 1024, &flen),
	    -EAGAIN);
	ck_assert_uint_eq(flen, b.len + sizeof(stored));
	all = malloc(flen);
	memcpy(all, b.data, b.len);
	memcpy(all + b.len, stored, sizeof(stored));
	ck_assert_int_eq(logd_proto_frame(all, flen, 1024, &flen), 0);
	ck_assert_int_eq(decode_raw(all + 4, flen - 4, &m), 0);
	ck_assert_int_eq(logd_proto_bin(&m, NULL, "records", &p, &len), 0);
	ck_assert_uint_eq(len, sizeof(stored));
	ck_assert(memcmp(p, stored, len) == 0);
	free(all);
	logd_pbuf_free(&b);
}
END_TEST

START_TEST(test_pipelined_frames)
{
	struct logd_pbuf b;
	struct logd_msg m;
	size_t off = 0, flen;
	uint32_t i;

	logd_pbuf_init(&b);
	for (i = 0; i < 100; i++) {
		logd_proto_begin(&b, LOGD_API_HELLO, i);
		msgpack_pack_map(&b.pk, 0);
		ck_assert_int_eq(logd_proto_end(&b, 0), 0);
	}
	for (i = 0; i < 100; i++) {
		ck_assert_int_eq(logd_proto_frame(b.data + off, b.len - off,
		    64, &flen), 0);
		ck_assert_int_eq(decode_raw(b.data + off + 4, flen - 4, &m), 0);
		ck_assert_uint_eq(m.corr, i);
		off += flen;
	}
	ck_assert_uint_eq(off, b.len);
	logd_pbuf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	logd_pbuf_free(&b);
	logd_pbuf_free(NULL);
}
END_TEST

START_TEST(test_frame_boundaries)
{
	unsigned char h[8] = { 0, 0, 0, 5, 1, 2 };
	size_t flen = 0;

	ck_assert_int_eq(logd_proto_frame(h, 0, 100, &flen), -EAGAIN);
	ck_assert_int_eq(logd_proto_frame(h, 3, 100, &flen), -EAGAIN);
	ck_assert_int_eq(logd_proto_frame(h, 6, 100, &flen), -EAGAIN);
	ck_assert_uint_eq(flen, 9);
	ck_assert_int_eq(logd_proto_frame(h, 9, 100, &flen), 0);
	ck_assert_uint_eq(flen, 9);
	/* Exactly the maximum is allowed, one more is not. */
	ck_assert_int_eq(logd_proto_frame(h, 9, 5, &flen), 0);
	ck_assert_int_eq(logd_proto_frame(h, 9, 4, &flen), LOGD_ETOOBIG);
	/* A huge length is refused before any byte of it arrives. */
	h[0] = h[1] = h[2] = h[3] = 0xff;
	ck_assert_int_eq(logd_proto_frame(h, 4, LOGD_FRAME_MAX_DEFAULT, &flen),
	    LOGD_ETOOBIG);
	memset(h, 0, 4);
	ck_assert_int_eq(logd_proto_frame(h, 4, 100, &flen), LOGD_EPROTO);
}
END_TEST

START_TEST(test_malformed)
{
	struct logd_msg m;
	/* Each is a payload that must be refused with LOGD_EPROTO. */
	static const struct {
		const char *what;
		const char *p;
		size_t n;
	} bad[] = {
		{ "reserved byte", "\xc1", 1 },
		{ "not an array", "\x81\xa1" "a\x01", 4 },
		{ "array of 2", "\x92\x00\x01", 3 },
		{ "array of 4", "\x94\x00\x01\x80\x00", 5 },
		{ "body not a map", "\x93\x00\x01\x90", 4 },
		{ "negative api", "\x93\xff\x01\x80", 4 },
		{ "string api", "\x93\xa1" "a\x01\x80", 5 },
		{ "corr > u32", "\x93\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00\x80",
		  12 },
		{ "float corr", "\x93\x00\xca\x00\x00\x00\x00\x80", 8 },
		{ "truncated map", "\x93\x00\x01\x81\xa1" "a", 6 },
		{ "truncated str", "\x93\x00\x01\x81\xa5" "ab", 7 },
		{ "extra bytes", "\x93\x00\x01\x80\x00", 5 },
		{ "two objects", "\x93\x00\x01\x80\x93\x00\x01\x80", 8 },
		{ "huge array", "\x93\x00\x01\x81\xa1" "a\xdd\xff\xff\xff\xff",
		  11 },
		{ "huge map", "\xdf\x7f\xff\xff\xff\x00", 6 },
		{ "huge bin", "\x93\x00\x01\x81\xa1" "a\xc6\xff\xff\xff\xf0\x00",
		  12 },
		{ "huge str32", "\xdb\x80\x00\x00\x00", 5 },
		{ "empty", "", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&m, 0, sizeof(m));
		ck_assert_msg(decode_raw(bad[i].p, bad[i].n, &m) ==
		    LOGD_EPROTO, "%s accepted", bad[i].what);
		ck_assert_msg(m.err[0] != 0, "%s: no message", bad[i].what);
	}
}
END_TEST

START_TEST(test_deep_nesting)
{
	unsigned char p[200];
	struct logd_msg m;
	size_t i, n = 0;

	p[n++] = 0x93;
	p[n++] = 0x00;
	p[n++] = 0x01;
	p[n++] = 0x81;
	p[n++] = 0xa1;
	p[n++] = 'a';
	for (i = 0; i < 100; i++)
		p[n++] = 0x91;
	p[n++] = 0x00;
	ck_assert_int_eq(decode_raw(p, n, &m), LOGD_EPROTO);

	/* Ten levels are fine. */
	n = 6;
	for (i = 0; i < 10; i++)
		p[n++] = 0x91;
	p[n++] = 0x00;
	ck_assert_int_eq(decode_raw(p, n, &m), 0);
}
END_TEST

/* Every prefix of a valid frame is refused, never read past its end. */
START_TEST(test_truncations)
{
	struct logd_pbuf b;
	struct logd_msg m;
	size_t n;
	char *copy;

	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_CREATE, 3);
	msgpack_pack_map(&b.pk, 3);
	logd_pack_kv_str(&b.pk, "topic", "t");
	logd_pack_kv_int(&b.pk, "partitions", 1000000);
	logd_pack_str(&b.pk, "config");
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "retention.ms", "1000");
	ck_assert_int_eq(logd_proto_end(&b, 0), 0);
	for (n = 0; n < b.len - 4; n++) {
		copy = malloc(n + 1);
		memcpy(copy, b.data + 4, n);
		ck_assert_int_eq(decode_raw(copy, n, &m), LOGD_EPROTO);
		free(copy);
	}
	ck_assert_int_eq(decode_raw(b.data + 4, b.len - 4, &m), 0);
	logd_pbuf_free(&b);
}
END_TEST

START_TEST(test_getters_strict)
{
	struct logd_pbuf b;
	struct logd_msg m;
	int64_t v = 42;
	uint64_t u = 42;
	const char *s = "x";
	const void *bin = "x";
	size_t len = 9;
	char buf[4];
	const msgpack_object_array *a = (void *)1;
	const msgpack_object *o = (void *)1;

	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_FETCH, 1);
	msgpack_pack_map(&b.pk, 7);
	logd_pack_kv_str(&b.pk, "offset", "12");
	logd_pack_kv_int(&b.pk, "neg", -5);
	logd_pack_kv_str(&b.pk, "long", "abcdef");
	logd_pack_kv_bin(&b.pk, "binstr", "ab", 2);
	logd_pack_str(&b.pk, "nul");
	msgpack_pack_str(&b.pk, 3);
	msgpack_pack_str_body(&b.pk, "a\0b", 3);
	logd_pack_str(&b.pk, "nil");
	msgpack_pack_nil(&b.pk);
	logd_pack_str(&b.pk, "big");
	msgpack_pack_uint64(&b.pk, UINT64_MAX);
	ck_assert_int_eq(logd_proto_end(&b, 0), 0);
	ck_assert_int_eq(decode_raw(b.data + 4, b.len - 4, &m), 0);

	ck_assert_int_eq(logd_proto_int(&m, NULL, "offset", &v), LOGD_EPROTO);
	ck_assert_ptr_nonnull(strstr(m.err, "\"offset\""));
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(logd_proto_int(&m, NULL, "missing", &v), LOGD_EPROTO);
	ck_assert_ptr_nonnull(strstr(m.err, "missing"));
	ck_assert_int_eq(logd_proto_int(&m, NULL, "nil", &v), LOGD_EPROTO);
	ck_assert_int_eq(logd_proto_int(&m, NULL, "big", &v), LOGD_EPROTO);
	ck_assert_int_eq(logd_proto_uint(&m, NULL, "big", &u), 0);
	ck_assert(u == UINT64_MAX);
	ck_assert_int_eq(logd_proto_uint(&m, NULL, "neg", &u), LOGD_EPROTO);
	ck_assert_ptr_nonnull(strstr(m.err, "\"neg\""));
	ck_assert_int_eq(logd_proto_int_opt(&m, NULL, "nil", 7, &v), 0);
	ck_assert_int_eq(v, 7);
	ck_assert_int_eq(logd_proto_int_opt(&m, NULL, "neg", 7, &v), 0);
	ck_assert_int_eq(v, -5);
	ck_assert_int_eq(logd_proto_int_opt(&m, NULL, "offset", 7, &v),
	    LOGD_EPROTO);
	ck_assert_int_eq(logd_proto_uint_opt(&m, NULL, "zz", 9, &u), 0);
	ck_assert_uint_eq(u, 9);

	ck_assert_int_eq(logd_proto_str(&m, NULL, "binstr", &s, &len),
	    LOGD_EPROTO);
	ck_assert_int_eq(logd_proto_bin(&m, NULL, "long", &bin, &len),
	    LOGD_EPROTO);
	ck_assert_ptr_nonnull(strstr(m.err, "\"long\""));
	ck_assert_int_eq(logd_proto_str_opt(&m, NULL, "zz", &s, &len), 0);
	ck_assert_ptr_null(s);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(logd_proto_bin_opt(&m, NULL, "nil", &bin, &len), 0);
	ck_assert_ptr_null(bin);
	ck_assert_int_eq(logd_proto_cstr(&m, NULL, "long", buf, sizeof(buf)),
	    LOGD_EPROTO);
	ck_assert_int_eq(logd_proto_cstr(&m, NULL, "nul", buf, sizeof(buf)),
	    LOGD_EPROTO);
	ck_assert_int_eq(logd_proto_cstr_opt(&m, NULL, "zz", buf, sizeof(buf)),
	    0);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(logd_proto_array(&m, NULL, "neg", &a), LOGD_EPROTO);
	ck_assert_int_eq(logd_proto_array_opt(&m, NULL, "zz", &a), 0);
	ck_assert_ptr_null(a);
	ck_assert_int_eq(logd_proto_map(&m, NULL, "neg", &o), LOGD_EPROTO);
	ck_assert_int_eq(logd_proto_map_opt(&m, NULL, "zz", &o), 0);
	ck_assert_ptr_null(o);
	/* Looking in something that is not a map finds nothing. */
	ck_assert_ptr_null(logd_proto_field(logd_proto_field(m.body, "neg"),
	    "x"));
	logd_pbuf_free(&b);
}
END_TEST

START_TEST(test_error_frame)
{
	struct logd_pbuf b;
	struct logd_msg m;
	int64_t code;
	char msg[64];
	unsigned char raw[64];
	size_t n;

	logd_pbuf_init(&b);
	ck_assert_int_eq(logd_proto_error(&b, LOGD_API_FETCH, 5, LOGD_ERANGE,
	    "offset %d is past the end %d", 12, 10), 0);
	ck_assert_int_eq(logd_proto_error(&b, LOGD_API_DELETE, 6,
	    LOGD_ENOTOPIC, NULL), 0);
	ck_assert_int_eq(decode_raw(b.data + 4, b.len - 4 -
	    (b.len - b.frame), &m), 0);
	ck_assert_int_eq(m.api, LOGD_API_FETCH);
	ck_assert_int_eq(logd_proto_int(&m, NULL, "error", &code), 0);
	ck_assert_int_eq(code, LOGD_ERANGE);
	ck_assert_int_eq(logd_proto_cstr(&m, NULL, "message", msg,
	    sizeof(msg)), 0);
	ck_assert_str_eq(msg, "offset 12 is past the end 10");
	ck_assert_int_eq(decode_raw(b.data + b.frame + 4,
	    b.len - b.frame - 4, &m), 0);
	ck_assert_int_eq(logd_proto_cstr(&m, NULL, "message", msg,
	    sizeof(msg)), 0);
	ck_assert_str_eq(msg, logd_strerror(LOGD_ENOTOPIC));
	logd_pbuf_free(&b);

	/* A hand-made frame with an unknown api decodes; the caller
	 * decides. */
	n = raw_frame(raw, "\x93\x63\x01\x80", 4);
	ck_assert_int_eq(decode_raw(raw + 4, n - 4, &m), 0);
	ck_assert_int_eq(m.api, 99);
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	struct {
		const char *name;
		const TTest *fn;
	} t[] = {
		{ "roundtrip", test_roundtrip },
		{ "trailing", test_trailing_bytes_counted },
		{ "pipelined", test_pipelined_frames },
		{ "frame_boundaries", test_frame_boundaries },
		{ "malformed", test_malformed },
		{ "deep_nesting", test_deep_nesting },
		{ "truncations", test_truncations },
		{ "getters_strict", test_getters_strict },
		{ "error_frame", test_error_frame },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TCase *tc = tcase_create(t[i].name);

		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_add_test(tc, t[i].fn);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
