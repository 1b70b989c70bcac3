/*
 * check_batch.c - Kafka RecordBatch v2: a batch derived by hand from the
 * Kafka protocol spec, real batches captured from librdkafka (kcat),
 * random round trips through the builder, check and iterator, every
 * rejection path of logd_batch_check(), bit flips, truncation at every
 * byte, random record damage behind a valid CRC, and Kafka's murmur2.
 *
 * Buffers handed to logd_batch_check() in the damage tests are allocated
 * at their exact size, so an over-read is caught by ASan.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logd.h"

/* ------------------------------------------------------------------ */
/* Helpers: an independent encoder for crafting batches byte by byte  */
/* ------------------------------------------------------------------ */

struct wbuf {
	uint8_t b[8192];
	size_t n;
};

static void
w_raw(struct wbuf *w, const void *p, size_t n)
{
	ck_assert_uint_le(w->n + n, sizeof(w->b));
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void
w_u8(struct wbuf *w, uint8_t v)
{
	w_raw(w, &v, 1);
}

static void
w_uvar(struct wbuf *w, uint64_t v)
{
	while (v >= 0x80) {
		w_u8(w, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	w_u8(w, (uint8_t)v);
}

static void
w_var(struct wbuf *w, int64_t v)
{
	w_uvar(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/* A length-prefixed string; len -1 writes a null. */
static void
w_str(struct wbuf *w, const char *s, int32_t len)
{
	w_var(w, len);
	if (len > 0)
		w_raw(w, s, (size_t)len);
}

/* Appends a record whose body is body (the length prefix is added). */
static void
w_record(struct wbuf *w, const struct wbuf *body)
{
	w_var(w, (int64_t)body->n);
	w_raw(w, body->b, body->n);
}

/* A plain record: attributes 0, key/value strings (NULL: null), no headers. */
static void
w_simple(struct wbuf *w, int64_t ts_delta, int32_t off_delta,
    const char *key, const char *value)
{
	struct wbuf body = { .n = 0 };

	w_u8(&body, 0);
	w_var(&body, ts_delta);
	w_var(&body, off_delta);
	w_str(&body, key, key ? (int32_t)strlen(key) : -1);
	w_str(&body, value, value ? (int32_t)strlen(value) : -1);
	w_var(&body, 0);
	w_record(w, &body);
}

static void
be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
be64(uint8_t *p, uint64_t v)
{
	be32(p, (uint32_t)(v >> 32));
	be32(p + 4, (uint32_t)v);
}

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

/* Recomputes the CRC of a batch of size bytes. */
static void
recrc(uint8_t *b, size_t size)
{
	be32(b + 17, logd_crc32c_sw(0, b + 21, size - 21));
}

/*
 * Wraps records into a batch in out (malloc'd, exact size) with the given
 * header fields and a valid CRC.  Returns the size.
 */
static size_t
mkbatch(uint8_t **out, const struct wbuf *recs, int32_t count,
    int32_t last_delta, int64_t base_ts, int64_t max_ts, uint16_t attr)
{
	size_t size = 61 + recs->n;
	uint8_t *b = calloc(1, size);

	ck_assert_ptr_nonnull(b);
	be64(b, 0);
	be32(b + 8, (uint32_t)(size - 12));
	be32(b + 12, 0xffffffff);
	b[16] = 2;
	b[21] = (uint8_t)(attr >> 8);
	b[22] = (uint8_t)attr;
	be32(b + 23, (uint32_t)last_delta);
	be64(b + 27, (uint64_t)base_ts);
	be64(b + 35, (uint64_t)max_ts);
	be64(b + 43, UINT64_MAX);
	b[51] = b[52] = 0xff;
	be32(b + 53, 0xffffffff);
	be32(b + 57, (uint32_t)count);
	memcpy(b + 61, recs->b, recs->n);
	recrc(b, size);
	*out = b;
	return size;
}

/* Checks a copy of p at exactly len bytes (so ASan sees over-reads). */
static int
check_exact(const uint8_t *p, size_t len, struct logd_batch_info *info)
{
	uint8_t *copy = malloc(len > 0 ? len : 1);
	int rc;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, p, len);
	rc = logd_batch_check(copy, len, info);
	free(copy);
	return rc;
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* ------------------------------------------------------------------ */
/* A batch derived by hand from the Kafka spec                         */
/* ------------------------------------------------------------------ */

/*
 * Two records, base timestamp 1700000000000:
 *   0: ts +0, key "k", value "hello", no headers
 *   1: ts +300, null key, empty value, headers h=v and n=null
 * Record 1's timestamp delta 300 zigzags to 600 = 0xd8 0x04; its body is
 * 14 bytes (length 0x1c).  The CRC was computed by a separate bitwise
 * CRC32C over bytes 21..88.
 */
static const uint8_t spec_batch[89] = {
	0, 0, 0, 0, 0, 0, 0, 0,                 /* baseOffset 0 */
	0x00, 0x00, 0x00, 0x4d,                 /* batchLength 77 */
	0xff, 0xff, 0xff, 0xff,                 /* leader epoch -1 */
	0x02,                                   /* magic */
	0xa7, 0x4a, 0x4e, 0x7f,                 /* crc */
	0x00, 0x00,                             /* attributes */
	0x00, 0x00, 0x00, 0x01,                 /* lastOffsetDelta */
	0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, /* baseTimestamp */
	0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x69, 0x2c, /* maxTimestamp */
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* producerId */
	0xff, 0xff,                             /* producerEpoch */
	0xff, 0xff, 0xff, 0xff,                 /* baseSequence */
	0x00, 0x00, 0x00, 0x02,                 /* recordCount */
	/* record 0 */
	0x18, 0x00, 0x00, 0x00, 0x02, 'k', 0x0a, 'h', 'e', 'l', 'l', 'o', 0x00,
	/* record 1 */
	0x1c, 0x00, 0xd8, 0x04, 0x02, 0x01, 0x00, 0x04,
	0x02, 'h', 0x02, 'v', 0x02, 'n', 0x01,
};

START_TEST(test_spec_builder_bytes)
{
	struct logd_batch_builder *b;
	struct logd_header h[2] = {
		{ "h", 1, "v", 1 },
		{ "n", 1, NULL, 0 },
	};
	const uint8_t *out;
	size_t len;

	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	ck_assert_int_eq(logd_batch_builder_add(b, 1700000000000, "k", 1,
	    "hello", 5, NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_add(b, 1700000000300, NULL, 7,
	    "", 0, h, 2), 0);
	ck_assert_int_eq(logd_batch_builder_count(b), 2);
	ck_assert_uint_eq(logd_batch_builder_size(b), sizeof(spec_batch));
	ck_assert_int_eq(logd_batch_builder_finish(b, &out, &len), 0);
	ck_assert_uint_eq(len, sizeof(spec_batch));
	ck_assert_mem_eq(out, spec_batch, sizeof(spec_batch));
	logd_batch_builder_free(b);
}
END_TEST

START_TEST(test_spec_check_iter)
{
	struct logd_batch_info info;
	struct logd_batch_iter it;
	struct logd_record r;
	struct logd_header h;
	size_t pos = 0;

	ck_assert_int_eq(check_exact(spec_batch, sizeof(spec_batch), &info),
	    0);
	ck_assert_int_eq(info.base_offset, 0);
	ck_assert_int_eq(info.last_offset, 1);
	ck_assert_int_eq(info.record_count, 2);
	ck_assert_int_eq(info.base_timestamp, 1700000000000);
	ck_assert_int_eq(info.max_timestamp, 1700000000300);
	ck_assert_int_eq(info.producer_id, -1);
	ck_assert_int_eq(info.producer_epoch, -1);
	ck_assert_int_eq(info.base_sequence, -1);
	ck_assert_int_eq(info.leader_epoch, -1);
	ck_assert_int_eq(info.attributes, 0);
	ck_assert_uint_eq(info.size, 89);
	ck_assert_uint_eq(info.crc, 0xa74a4e7f);

	ck_assert_int_eq(logd_batch_iter_init(&it, spec_batch,
	    sizeof(spec_batch)), 0);
	ck_assert_int_eq(logd_batch_iter_next(&it, &r), 1);
	ck_assert_int_eq(r.offset, 0);
	ck_assert_int_eq(r.timestamp, 1700000000000);
	ck_assert_uint_eq(r.key_len, 1);
	ck_assert_mem_eq(r.key, "k", 1);
	ck_assert_uint_eq(r.value_len, 5);
	ck_assert_mem_eq(r.value, "hello", 5);
	ck_assert_int_eq(r.header_count, 0);
	ck_assert_int_eq(logd_record_header_next(&r, &pos, &h), 0);

	ck_assert_int_eq(logd_batch_iter_next(&it, &r), 1);
	ck_assert_int_eq(r.offset, 1);
	ck_assert_int_eq(r.timestamp, 1700000000300);
	ck_assert_ptr_null(r.key);
	ck_assert_ptr_nonnull(r.value);
	ck_assert_uint_eq(r.value_len, 0);
	ck_assert_int_eq(r.header_count, 2);
	ck_assert_uint_eq(r.headers_len, 7);
	ck_assert_int_eq(logd_record_header_next(&r, &pos, &h), 1);
	ck_assert_uint_eq(h.key_len, 1);
	ck_assert_mem_eq(h.key, "h", 1);
	ck_assert_uint_eq(h.value_len, 1);
	ck_assert_mem_eq(h.value, "v", 1);
	ck_assert_int_eq(logd_record_header_next(&r, &pos, &h), 1);
	ck_assert_mem_eq(h.key, "n", 1);
	ck_assert_ptr_null(h.value);
	ck_assert_int_eq(logd_record_header_next(&r, &pos, &h), 0);
	ck_assert_int_eq(logd_batch_iter_next(&it, &r), 0);
	ck_assert_int_eq(logd_batch_iter_next(&it, &r), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Random round trips                                                  */
/* ------------------------------------------------------------------ */

struct spec_rec {
	int64_t ts;
	int key_null, value_null;
	size_t key_len, value_len;
	size_t nh;
	struct logd_header h[4];
	uint8_t key[64];
	uint8_t value[3000];
	uint8_t hbytes[4][2][16];
};

static void
random_record(uint64_t *s, struct spec_rec *r, int64_t base)
{
	size_t i, j;

	switch (rnd(s) % 8) {
	case 0:
		r->ts = (int64_t)rnd(s); /* anything, even huge deltas */
		break;
	case 1:
		r->ts = base - (int64_t)(rnd(s) % 100000);
		break;
	default:
		r->ts = base + (int64_t)(rnd(s) % 100000);
		break;
	}
	r->key_null = rnd(s) % 5 == 0;
	r->value_null = rnd(s) % 7 == 0;
	r->key_len = rnd(s) % 5 == 0 ? 0 : rnd(s) % sizeof(r->key);
	r->value_len = rnd(s) % 10 == 0 ? rnd(s) % sizeof(r->value) :
	    rnd(s) % 200;
	for (i = 0; i < r->key_len; i++)
		r->key[i] = (uint8_t)rnd(s);
	for (i = 0; i < r->value_len; i++)
		r->value[i] = (uint8_t)rnd(s);
	r->nh = rnd(s) % 3 == 0 ? rnd(s) % 5 : 0;
	for (i = 0; i < r->nh; i++) {
		for (j = 0; j < 16; j++) {
			r->hbytes[i][0][j] = (uint8_t)('a' + rnd(s) % 26);
			r->hbytes[i][1][j] = (uint8_t)rnd(s);
		}
		r->h[i].key = (const char *)r->hbytes[i][0];
		r->h[i].key_len = rnd(s) % 17;
		r->h[i].value = rnd(s) % 4 == 0 ? NULL : r->hbytes[i][1];
		r->h[i].value_len = rnd(s) % 17;
	}
}

static void
compare_record(const struct spec_rec *want, const struct logd_record *got)
{
	struct logd_header h;
	size_t pos = 0, i;

	ck_assert_int_eq(got->timestamp, want->ts);
	if (want->key_null) {
		ck_assert_ptr_null(got->key);
	} else {
		ck_assert_ptr_nonnull(got->key);
		ck_assert_uint_eq(got->key_len, want->key_len);
		ck_assert(memcmp(got->key, want->key, want->key_len) == 0);
	}
	if (want->value_null) {
		ck_assert_ptr_null(got->value);
	} else {
		ck_assert_ptr_nonnull(got->value);
		ck_assert_uint_eq(got->value_len, want->value_len);
		ck_assert(memcmp(got->value, want->value,
		    want->value_len) == 0);
	}
	ck_assert_int_eq(got->header_count, (int32_t)want->nh);
	for (i = 0; i < want->nh; i++) {
		ck_assert_int_eq(logd_record_header_next(got, &pos, &h), 1);
		ck_assert_uint_eq(h.key_len, want->h[i].key_len);
		ck_assert(memcmp(h.key, want->h[i].key, h.key_len) == 0);
		if (want->h[i].value == NULL) {
			ck_assert_ptr_null(h.value);
		} else {
			ck_assert_ptr_nonnull(h.value);
			ck_assert_uint_eq(h.value_len, want->h[i].value_len);
			ck_assert(memcmp(h.value, want->h[i].value,
			    h.value_len) == 0);
		}
	}
	ck_assert_int_eq(logd_record_header_next(got, &pos, &h), 0);
}

START_TEST(test_roundtrip_random)
{
	struct logd_batch_builder *b;
	struct spec_rec *recs;
	struct logd_batch_info info, hinfo;
	struct logd_batch_iter it;
	struct logd_record r;
	const uint8_t *out;
	uint64_t s = 0x1234567ull + (uint64_t)_i;
	size_t len, n, i;
	int64_t max;
	int round;

	recs = calloc(300, sizeof(*recs));
	ck_assert_ptr_nonnull(recs);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	for (round = 0; round < 60; round++) {
		n = 1 + rnd(&s) % (round % 6 == 0 ? 300 : 20);
		logd_batch_builder_reset(b);
		max = INT64_MIN;
		for (i = 0; i < n; i++) {
			struct spec_rec *sr = &recs[i];

			random_record(&s, sr, 1700000000000 +
			    (int64_t)(rnd(&s) % 1000));
			if (sr->ts > max)
				max = sr->ts;
			ck_assert_int_eq(logd_batch_builder_add(b, sr->ts,
			    sr->key_null ? NULL : sr->key, sr->key_len,
			    sr->value_null ? NULL : sr->value, sr->value_len,
			    sr->h, sr->nh), 0);
		}
		ck_assert_int_eq(logd_batch_builder_count(b), (int32_t)n);
		ck_assert_int_eq(logd_batch_builder_finish(b, &out, &len), 0);
		ck_assert_uint_eq(len, logd_batch_builder_size(b));

		ck_assert_int_eq(check_exact(out, len, &info), 0);
		ck_assert_uint_eq(info.size, len);
		ck_assert_int_eq(info.record_count, (int32_t)n);
		ck_assert_int_eq(info.base_offset, 0);
		ck_assert_int_eq(info.last_offset, (int64_t)n - 1);
		ck_assert_int_eq(info.base_timestamp, recs[0].ts);
		ck_assert_int_eq(info.max_timestamp, max);
		ck_assert_int_eq(logd_batch_header(out, len, &hinfo), 0);
		ck_assert_int_eq(hinfo.base_offset, info.base_offset);
		ck_assert_int_eq(hinfo.last_offset, info.last_offset);
		ck_assert_int_eq(hinfo.base_timestamp, info.base_timestamp);
		ck_assert_int_eq(hinfo.max_timestamp, info.max_timestamp);
		ck_assert_int_eq(hinfo.producer_id, info.producer_id);
		ck_assert_uint_eq(hinfo.size, info.size);
		ck_assert_int_eq(hinfo.record_count, info.record_count);
		ck_assert_int_eq(hinfo.leader_epoch, info.leader_epoch);
		ck_assert_int_eq(hinfo.base_sequence, info.base_sequence);
		ck_assert_int_eq(hinfo.producer_epoch, info.producer_epoch);
		ck_assert_int_eq(hinfo.attributes, info.attributes);
		ck_assert_uint_eq(hinfo.crc, info.crc);

		ck_assert_int_eq(logd_batch_iter_init(&it, out, len), 0);
		for (i = 0; i < n; i++) {
			ck_assert_int_eq(logd_batch_iter_next(&it, &r), 1);
			ck_assert_int_eq(r.offset, (int64_t)i);
			compare_record(&recs[i], &r);
		}
		ck_assert_int_eq(logd_batch_iter_next(&it, &r), 0);
	}
	logd_batch_builder_free(b);
	free(recs);
}
END_TEST

/* Extreme timestamps: 10-byte varlong deltas, wrapping like Java. */
START_TEST(test_roundtrip_extreme_timestamps)
{
	static const int64_t ts[] = { INT64_MAX, INT64_MIN, -1, 0,
	    INT64_MIN + 1, 1 };
	struct logd_batch_builder *b;
	struct logd_batch_info info;
	struct logd_batch_iter it;
	struct logd_record r;
	const uint8_t *out;
	size_t len, i;

	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(logd_batch_builder_add(b, ts[i], "k", 1,
		    "v", 1, NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(b, &out, &len), 0);
	ck_assert_int_eq(check_exact(out, len, &info), 0);
	ck_assert_int_eq(info.base_timestamp, INT64_MAX);
	ck_assert_int_eq(info.max_timestamp, INT64_MAX);
	ck_assert_int_eq(logd_batch_iter_init(&it, out, len), 0);
	for (i = 0; i < 6; i++) {
		ck_assert_int_eq(logd_batch_iter_next(&it, &r), 1);
		ck_assert_int_eq(r.timestamp, ts[i]);
	}
	ck_assert_int_eq(logd_batch_iter_next(&it, &r), 0);
	logd_batch_builder_free(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Builder                                                             */
/* ------------------------------------------------------------------ */

START_TEST(test_builder_reuse)
{
	struct logd_batch_builder *b;
	const uint8_t *out, *out2;
	uint8_t *copy;
	size_t len, len2;
	char value[100];
	int i;

	memset(value, 'x', sizeof(value));
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	ck_assert_int_eq(logd_batch_builder_finish(b, &out, &len), -EINVAL);
	ck_assert_uint_eq(logd_batch_builder_size(b), 61);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(logd_batch_builder_add(b, 1000 + i, NULL, 0,
		    value, sizeof(value), NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(b, &out, &len), 0);
	copy = malloc(len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, out, len);

	/* Same records after reset: same bytes in the same buffer. */
	logd_batch_builder_reset(b);
	ck_assert_int_eq(logd_batch_builder_count(b), 0);
	ck_assert_uint_eq(logd_batch_builder_size(b), 61);
	ck_assert_int_eq(logd_batch_builder_finish(b, &out2, &len2), -EINVAL);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(logd_batch_builder_add(b, 1000 + i, NULL, 0,
		    value, sizeof(value), NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(b, &out2, &len2), 0);
	ck_assert_ptr_eq(out2, out);
	ck_assert_uint_eq(len2, len);
	ck_assert_mem_eq(out2, copy, len);

	/* Adding after finish extends the batch. */
	ck_assert_int_eq(logd_batch_builder_add(b, 5, "a", 1, "b", 1,
	    NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(b, &out2, &len2), 0);
	ck_assert_int_eq(logd_batch_check(out2, len2, NULL), 0);
	ck_assert_uint_gt(len2, len);
	free(copy);
	logd_batch_builder_free(b);
	logd_batch_builder_free(NULL);
}
END_TEST

START_TEST(test_builder_limits)
{
	struct logd_batch_builder *b;
	struct logd_header h = { NULL, 3, "v", 1 };
	char small[8] = "tiny";

	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	/* Rejected before any byte of the (short) buffer is read. */
	ck_assert_int_eq(logd_batch_builder_add(b, 0, small,
	    (size_t)LOGD_BATCH_MAX_SIZE + 1, NULL, 0, NULL, 0), LOGD_ETOOBIG);
	ck_assert_int_eq(logd_batch_builder_add(b, 0, NULL, 0, small,
	    (size_t)LOGD_BATCH_MAX_SIZE - 20, NULL, 0), LOGD_ETOOBIG);
	ck_assert_int_eq(logd_batch_builder_add(b, 0, NULL, 0, small,
	    SIZE_MAX, NULL, 0), LOGD_ETOOBIG);
	ck_assert_int_eq(logd_batch_builder_add(b, 0, NULL, 0, small, 4,
	    &h, 1), -EINVAL);
	ck_assert_int_eq(logd_batch_builder_count(b), 0);
	ck_assert_uint_eq(logd_batch_builder_size(b), 61);
	logd_batch_builder_free(b);
}
END_TEST

START_TEST(test_builder_fills_the_limit)
{
	struct logd_batch_builder *b;
	const size_t chunk = 4u << 20;
	char *value = calloc(1, chunk);
	const uint8_t *out;
	size_t len;
	int i, rc = 0;

	ck_assert_ptr_nonnull(value);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	for (i = 0; i < 20 && rc == 0; i++)
		rc = logd_batch_builder_add(b, i, NULL, 0, value, chunk,
		    NULL, 0);
	ck_assert_int_eq(rc, LOGD_ETOOBIG);
	ck_assert_int_eq(logd_batch_builder_count(b), 15);
	ck_assert_uint_le(logd_batch_builder_size(b), LOGD_BATCH_MAX_SIZE);
	ck_assert_int_eq(logd_batch_builder_finish(b, &out, &len), 0);
	ck_assert_int_eq(logd_batch_check(out, len, NULL), 0);
	logd_batch_builder_free(b);
	free(value);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Rewrites                                                            */
/* ------------------------------------------------------------------ */

static size_t
build_small(struct logd_batch_builder *b, const uint8_t **out, int n)
{
	size_t len;
	int i;

	logd_batch_builder_reset(b);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(logd_batch_builder_add(b, 1000 + 10 * i,
		    "key", 3, "value", 5, NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(b, out, &len), 0);
	return len;
}

START_TEST(test_set_base_offset)
{
	struct logd_batch_builder *b;
	struct logd_batch_info info;
	struct logd_batch_iter it;
	struct logd_record r;
	const uint8_t *out;
	uint8_t *copy;
	size_t len;
	int i;

	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	len = build_small(b, &out, 5);
	copy = malloc(len);
	memcpy(copy, out, len);
	logd_batch_set_base_offset(copy, 1234567890123);
	ck_assert_int_eq(logd_batch_check(copy, len, &info), 0);
	ck_assert_int_eq(info.base_offset, 1234567890123);
	ck_assert_int_eq(info.last_offset, 1234567890127);
	ck_assert_int_eq(info.crc, rd32(out + 17));
	ck_assert_int_eq(logd_batch_iter_init(&it, copy, len), 0);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(logd_batch_iter_next(&it, &r), 1);
		ck_assert_int_eq(r.offset, 1234567890123 + i);
	}
	free(copy);
	logd_batch_builder_free(b);
}
END_TEST

START_TEST(test_set_log_append_time)
{
	struct logd_batch_builder *b;
	struct logd_batch_info info;
	struct logd_batch_iter it;
	struct logd_record r;
	const uint8_t *out;
	uint8_t *copy;
	size_t len;
	int i;

	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	len = build_small(b, &out, 4);
	copy = malloc(len);
	memcpy(copy, out, len);
	logd_batch_set_log_append_time(copy, 99999);
	ck_assert_int_eq(logd_batch_check(copy, len, &info), 0);
	ck_assert_int_eq(info.attributes, LOGD_ATTR_LOG_APPEND_TIME);
	ck_assert_int_eq(info.max_timestamp, 99999);
	ck_assert_int_eq(info.base_timestamp, 1000);
	ck_assert_uint_ne(info.crc, rd32(out + 17));
	ck_assert_int_eq(logd_batch_iter_init(&it, copy, len), 0);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(logd_batch_iter_next(&it, &r), 1);
		ck_assert_int_eq(r.timestamp, 99999);
	}
	ck_assert_int_eq(logd_batch_iter_next(&it, &r), 0);
	free(copy);
	logd_batch_builder_free(b);
}
END_TEST

/* Two batches back to back: check and header see the first only. */
START_TEST(test_concatenated)
{
	struct logd_batch_builder *b;
	struct logd_batch_info info;
	const uint8_t *out;
	uint8_t *two;
	size_t len;

	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	len = build_small(b, &out, 3);
	two = malloc(2 * len);
	memcpy(two, out, len);
	memcpy(two + len, out, len);
	ck_assert_int_eq(logd_batch_check(two, 2 * len, &info), 0);
	ck_assert_uint_eq(info.size, len);
	ck_assert_int_eq(logd_batch_check(two + len, len, &info), 0);
	ck_assert_int_eq(logd_batch_check(two + len, len - 1, &info),
	    -EAGAIN);
	free(two);
	logd_batch_builder_free(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Rejections                                                          */
/* ------------------------------------------------------------------ */

/* A valid two-record batch as crafted bytes, for editing. */
static size_t
valid_crafted(uint8_t **out)
{
	struct wbuf w = { .n = 0 };

	w_simple(&w, 0, 0, "k0", "v0");
	w_simple(&w, 5, 1, "k1", "v1");
	return mkbatch(out, &w, 2, 1, 100, 105, 0);
}

START_TEST(test_reject_framing)
{
	struct logd_batch_info info;
	uint8_t *b;
	size_t size = valid_crafted(&b), l;

	ck_assert_int_eq(check_exact(b, size, &info), 0);
	ck_assert_int_eq(info.max_timestamp, 105);
	/* Too short to know: need more. */
	for (l = 0; l < 61; l++)
		ck_assert_int_eq(check_exact(b, l, NULL), -EAGAIN);
	ck_assert_int_eq(check_exact(b, size - 1, NULL), -EAGAIN);
	/* batchLength below the smallest batch. */
	be32(b + 8, 55);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	ck_assert_int_eq(check_exact(b, 12, NULL), LOGD_EBADBATCH);
	be32(b + 8, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	be32(b + 8, 0xffffffff);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	be32(b + 8, 0x80000000);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	/* Above LOGD_BATCH_MAX_SIZE, and exactly at it (need more). */
	be32(b + 8, LOGD_BATCH_MAX_SIZE - 11);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	be32(b + 8, LOGD_BATCH_MAX_SIZE - 12);
	ck_assert_int_eq(check_exact(b, size, NULL), -EAGAIN);
	ck_assert_int_eq(logd_batch_header(b, size, NULL), -EAGAIN);
	/* Longer than what is there by one byte: need more. */
	be32(b + 8, (uint32_t)(size - 11));
	ck_assert_int_eq(check_exact(b, size, NULL), -EAGAIN);
	be32(b + 8, (uint32_t)(size - 12));
	ck_assert_int_eq(check_exact(b, size, NULL), 0);
	/* Magic, seen as soon as byte 16 is there. */
	b[16] = 1;
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	ck_assert_int_eq(check_exact(b, 17, NULL), LOGD_EBADBATCH);
	ck_assert_int_eq(check_exact(b, 16, NULL), -EAGAIN);
	ck_assert_int_eq(logd_batch_header(b, size, NULL), LOGD_EBADBATCH);
	b[16] = 3;
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	free(b);
}
END_TEST

START_TEST(test_reject_crc)
{
	uint8_t *b;
	size_t size = valid_crafted(&b);

	b[17] ^= 0x01;
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_ECRC);
	/* logd_batch_header() does not look at the CRC. */
	ck_assert_int_eq(logd_batch_header(b, size, NULL), 0);
	b[17] ^= 0x01;
	b[size - 1] ^= 0x80;
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_ECRC);
	free(b);
}
END_TEST

START_TEST(test_reject_counts)
{
	struct wbuf w = { .n = 0 };
	uint8_t *b;
	size_t size;

	w_simple(&w, 0, 0, "k", "v");
	/* recordCount 0 and -1 (with lastOffsetDelta to match). */
	size = mkbatch(&b, &w, 0, -1, 0, 0, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	ck_assert_int_eq(logd_batch_header(b, size, NULL), LOGD_EBADBATCH);
	free(b);
	size = mkbatch(&b, &w, -1, -2, 0, 0, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	free(b);
	/* lastOffsetDelta + 1 != recordCount. */
	size = mkbatch(&b, &w, 1, 1, 0, 0, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	free(b);
	size = mkbatch(&b, &w, 1, 0, 0, 0, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), 0);
	free(b);
	/* More records claimed than present. */
	size = mkbatch(&b, &w, 2, 1, 0, 0, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	ck_assert_int_eq(logd_batch_header(b, size, NULL), 0);
	free(b);
	/* Fewer records claimed than present (trailing record). */
	w_simple(&w, 0, 1, "k", "v");
	size = mkbatch(&b, &w, 1, 0, 0, 0, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	free(b);
	size = mkbatch(&b, &w, 2, 1, 0, 0, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), 0);
	free(b);
	/* Trailing garbage after the last record. */
	w_u8(&w, 0);
	size = mkbatch(&b, &w, 2, 1, 0, 0, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	free(b);
}
END_TEST

START_TEST(test_reject_offset_deltas)
{
	static const int32_t bad[][3] = {
		{ 1, 0, 2 }, { 0, 2, 1 }, { 0, 1, 1 }, { 0, 0, 0 },
		{ -1, 0, 1 }, { 0, 1, 3 },
	};
	struct wbuf w;
	uint8_t *b;
	size_t size, i, j;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		w.n = 0;
		for (j = 0; j < 3; j++)
			w_simple(&w, 0, bad[i][j], "k", "v");
		size = mkbatch(&b, &w, 3, 2, 0, 0, 0);
		ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
		free(b);
	}
}
END_TEST

/* Body of one record with raw control over each field's encoding. */
static size_t
one_record_batch(uint8_t **out, const struct wbuf *body, int64_t max_ts)
{
	struct wbuf w = { .n = 0 };

	w_record(&w, body);
	return mkbatch(out, &w, 1, 0, 0, max_ts, 0);
}

START_TEST(test_reject_lengths)
{
	struct wbuf body;
	uint8_t *b;
	size_t size;
	int32_t klen;
	static const int32_t bad_klen[] = { -2, -100, INT32_MIN, 2, 1000,
	    INT32_MAX };

	for (size_t i = 0; i < sizeof(bad_klen) / sizeof(bad_klen[0]); i++) {
		klen = bad_klen[i];
		body.n = 0;
		w_u8(&body, 0);
		w_var(&body, 0);
		w_var(&body, 0);
		w_var(&body, klen); /* key: only one byte follows it */
		w_u8(&body, 'k');
		w_var(&body, -1);
		w_var(&body, 0);
		size = one_record_batch(&b, &body, 0);
		ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
		free(b);
	}
	/* Value length -2. */
	body.n = 0;
	w_u8(&body, 0);
	w_var(&body, 0);
	w_var(&body, 0);
	w_var(&body, -1);
	w_var(&body, -2);
	w_var(&body, 0);
	w_u8(&body, 0);
	size = one_record_batch(&b, &body, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	free(b);
	/* Header count -1, and 2 with one header present. */
	for (int hc = -1; hc <= 2; hc += 3) {
		body.n = 0;
		w_u8(&body, 0);
		w_var(&body, 0);
		w_var(&body, 0);
		w_var(&body, -1);
		w_var(&body, -1);
		w_var(&body, hc);
		w_str(&body, "h", 1);
		w_str(&body, "v", 1);
		size = one_record_batch(&b, &body, 0);
		ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
		free(b);
	}
	/* A null header key. */
	body.n = 0;
	w_u8(&body, 0);
	w_var(&body, 0);
	w_var(&body, 0);
	w_var(&body, -1);
	w_var(&body, -1);
	w_var(&body, 1);
	w_var(&body, -1);
	w_str(&body, "v", 1);
	size = one_record_batch(&b, &body, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	free(b);
	/* A header value length -3. */
	body.n = 0;
	w_u8(&body, 0);
	w_var(&body, 0);
	w_var(&body, 0);
	w_var(&body, -1);
	w_var(&body, -1);
	w_var(&body, 1);
	w_str(&body, "h", 1);
	w_var(&body, -3);
	w_u8(&body, 0);
	w_u8(&body, 0);
	size = one_record_batch(&b, &body, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	free(b);
}
END_TEST

/* The record's own length disagrees with its fields. */
START_TEST(test_reject_record_length)
{
	struct wbuf body = { .n = 0 }, w;
	uint8_t *b;
	size_t size;

	w_u8(&body, 0);
	w_var(&body, 0);
	w_var(&body, 0);
	w_str(&body, "key", 3);
	w_str(&body, "value", 5);
	w_var(&body, 0);
	/* Correct: accepted. */
	size = one_record_batch(&b, &body, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), 0);
	free(b);
	/* Length one short: the header count falls outside. */
	w.n = 0;
	w_var(&w, (int64_t)body.n - 1);
	w_raw(&w, body.b, body.n);
	size = mkbatch(&b, &w, 1, 0, 0, 0, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	free(b);
	/* Length one long, a spare byte inside the record. */
	w.n = 0;
	w_var(&w, (int64_t)body.n + 1);
	w_raw(&w, body.b, body.n);
	w_u8(&w, 0);
	size = mkbatch(&b, &w, 1, 0, 0, 0, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	free(b);
	/* Length past the end of the batch. */
	w.n = 0;
	w_var(&w, (int64_t)body.n + 50);
	w_raw(&w, body.b, body.n);
	size = mkbatch(&b, &w, 1, 0, 0, 0, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	free(b);
	/* Negative and absurd lengths. */
	for (int64_t l = -1; l >= -3; l--) {
		w.n = 0;
		w_var(&w, l);
		w_raw(&w, body.b, body.n);
		size = mkbatch(&b, &w, 1, 0, 0, 0, 0);
		ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
		free(b);
	}
	w.n = 0;
	w_var(&w, INT32_MAX);
	w_raw(&w, body.b, body.n);
	size = mkbatch(&b, &w, 1, 0, 0, 0, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	free(b);
}
END_TEST

START_TEST(test_reject_varints)
{
	/* offsetDelta 0 encoded in 5 bytes: long but legal. */
	static const uint8_t ok5[] = { 0x80, 0x80, 0x80, 0x80, 0x00 };
	/* offsetDelta in 6 bytes: too long for a varint. */
	static const uint8_t long6[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
	/* Bits past 32 in a varint's fifth byte. */
	static const uint8_t wide5[] = { 0x80, 0x80, 0x80, 0x80, 0x10 };
	/* timestampDelta 0 in 10 bytes: legal; in 11: too long. */
	static const uint8_t ok10[] = { 0x80, 0x80, 0x80, 0x80, 0x80,
	    0x80, 0x80, 0x80, 0x80, 0x00 };
	static const uint8_t long11[] = { 0x80, 0x80, 0x80, 0x80, 0x80,
	    0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
	/* Bits past 64 in a varlong's tenth byte. */
	static const uint8_t wide10[] = { 0x80, 0x80, 0x80, 0x80, 0x80,
	    0x80, 0x80, 0x80, 0x80, 0x02 };
	static const struct {
		const uint8_t *ts, *off;
		size_t ts_len, off_len;
		int want;
	} cases[] = {
		{ (const uint8_t *)"\0", ok5, 1, sizeof(ok5), 0 },
		{ (const uint8_t *)"\0", long6, 1, sizeof(long6),
		    LOGD_EBADBATCH },
		{ (const uint8_t *)"\0", wide5, 1, sizeof(wide5),
		    LOGD_EBADBATCH },
		{ ok10, (const uint8_t *)"\0", sizeof(ok10), 1, 0 },
		{ long11, (const uint8_t *)"\0", sizeof(long11), 1,
		    LOGD_EBADBATCH },
		{ wide10, (const uint8_t *)"\0", sizeof(wide10), 1,
		    LOGD_EBADBATCH },
	};
	struct wbuf body;
	uint8_t *b;
	size_t size, i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		body.n = 0;
		w_u8(&body, 0);
		w_raw(&body, cases[i].ts, cases[i].ts_len);
		w_raw(&body, cases[i].off, cases[i].off_len);
		w_var(&body, -1);
		w_var(&body, -1);
		w_var(&body, 0);
		size = one_record_batch(&b, &body, 0);
		ck_assert_int_eq(check_exact(b, size, NULL), cases[i].want);
		free(b);
	}
	/* A record length varint that never ends, up to the batch end. */
	body.n = 0;
	for (i = 0; i < 7; i++)
		w_u8(&body, 0xff);
	size = mkbatch(&b, &body, 1, 0, 0, 0, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	free(b);
}
END_TEST

START_TEST(test_reject_max_timestamp)
{
	struct wbuf w = { .n = 0 };
	uint8_t *b;
	size_t size;

	w_simple(&w, 10, 0, "k", "v");
	w_simple(&w, -5, 1, "k", "v");
	/* Records at 1010 and 995: max is 1010. */
	size = mkbatch(&b, &w, 2, 1, 1000, 1010, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), 0);
	free(b);
	size = mkbatch(&b, &w, 2, 1, 1000, 1011, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	free(b);
	size = mkbatch(&b, &w, 2, 1, 1000, 995, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	free(b);
	size = mkbatch(&b, &w, 2, 1, 1000, -1, 0);
	ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
	free(b);
	/* Log-append time: the header is the time of every record. */
	size = mkbatch(&b, &w, 2, 1, 1000, 7, LOGD_ATTR_LOG_APPEND_TIME);
	ck_assert_int_eq(check_exact(b, size, NULL), 0);
	free(b);
}
END_TEST

START_TEST(test_compressed)
{
	struct wbuf w = { .n = 0 };
	struct logd_batch_info info;
	struct logd_batch_iter it;
	uint8_t *b;
	size_t size, i;
	uint16_t codec;

	/* Opaque payload: not parsed, header trusted, CRC still checked. */
	for (i = 0; i < 20; i++)
		w_u8(&w, (uint8_t)(0xf0 + i));
	for (codec = 1; codec <= 4; codec++) {
		size = mkbatch(&b, &w, 7, 6, 50, 60, codec);
		ck_assert_int_eq(check_exact(b, size, &info), 0);
		ck_assert_int_eq(info.record_count, 7);
		ck_assert_int_eq(info.max_timestamp, 60);
		ck_assert_int_eq(info.attributes, codec);
		/* Not data of that codec: refused, not read as records. */
		ck_assert_int_eq(logd_batch_iter_init(&it, b, size),
		    LOGD_EBADBATCH);
		b[size - 1] ^= 1;
		ck_assert_int_eq(check_exact(b, size, NULL), LOGD_ECRC);
		free(b);
	}
	for (codec = 5; codec <= 7; codec++) {
		size = mkbatch(&b, &w, 7, 6, 50, 60, codec);
		ck_assert_int_eq(check_exact(b, size, NULL), LOGD_EBADBATCH);
		free(b);
	}
	/* Transactional and control bits are kept, not judged. */
	w.n = 0;
	w_simple(&w, 0, 0, NULL, NULL);
	size = mkbatch(&b, &w, 1, 0, 5, 5,
	    LOGD_ATTR_TRANSACTIONAL | LOGD_ATTR_CONTROL);
	ck_assert_int_eq(check_exact(b, size, &info), 0);
	ck_assert_int_eq(info.attributes,
	    LOGD_ATTR_TRANSACTIONAL | LOGD_ATTR_CONTROL);
	free(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Damage                                                              */
/* ------------------------------------------------------------------ */

/* A batch of 20 records with headers and null fields, about 1 KiB. */
static size_t
damage_batch(uint8_t **out)
{
	struct logd_batch_builder *b;
	struct logd_header h[2] = {
		{ "trace", 5, "abc", 3 },
		{ "empty", 5, NULL, 0 },
	};
	char value[40];
	const uint8_t *p;
	size_t len;
	int i;

	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	for (i = 0; i < 20; i++) {
		snprintf(value, sizeof(value), "value number %d", i);
		ck_assert_int_eq(logd_batch_builder_add(b, 1000 + i * 7,
		    i % 3 ? "key" : NULL, 3, i % 5 ? value : NULL,
		    strlen(value), h, (size_t)(i % 3)), 0);
	}
	ck_assert_int_eq(logd_batch_builder_finish(b, &p, &len), 0);
	*out = malloc(len);
	memcpy(*out, p, len);
	logd_batch_builder_free(b);
	return len;
}

/*
 * Every single-bit flip is rejected, except in baseOffset and
 * partitionLeaderEpoch, which Kafka leaves outside the CRC on purpose
 * (the broker rewrites them).
 */
START_TEST(test_bit_flips)
{
	struct logd_batch_info info, orig;
	uint8_t *b;
	size_t size = damage_batch(&b), i;
	int bit, rc;

	ck_assert_int_eq(check_exact(b, size, &orig), 0);
	for (i = 0; i < size; i++) {
		for (bit = 0; bit < 8; bit++) {
			b[i] ^= (uint8_t)(1 << bit);
			rc = check_exact(b, size, &info);
			if (i < 8 || (i >= 12 && i < 16)) {
				ck_assert_int_eq(rc, 0);
				ck_assert(info.base_offset != orig.base_offset ||
				    info.leader_epoch != orig.leader_epoch);
			} else {
				ck_assert_msg(rc == LOGD_ECRC ||
				    rc == LOGD_EBADBATCH || rc == -EAGAIN,
				    "byte %zu bit %d: %d", i, bit, rc);
				/* Only a longer batchLength asks for more. */
				if (rc == -EAGAIN)
					ck_assert(i >= 8 && i < 12);
			}
			b[i] ^= (uint8_t)(1 << bit);
		}
	}
	free(b);
}
END_TEST

START_TEST(test_truncation)
{
	uint8_t *b, *t;
	size_t size = damage_batch(&b), l;
	int rc;

	for (l = 0; l < size; l++) {
		/* Cut short: a prefix of a valid batch needs more bytes. */
		ck_assert_int_eq(check_exact(b, l, NULL), -EAGAIN);
		if (l < 68)
			continue;
		/* Cut short and relabelled: never valid. */
		t = malloc(l);
		memcpy(t, b, l);
		be32(t + 8, (uint32_t)(l - 12));
		rc = logd_batch_check(t, l, NULL);
		ck_assert_int_eq(rc, LOGD_ECRC);
		/* ... even with a CRC that matches the cut bytes. */
		recrc(t, l);
		rc = logd_batch_check(t, l, NULL);
		ck_assert_int_eq(rc, LOGD_EBADBATCH);
		free(t);
	}
	ck_assert_int_eq(check_exact(b, size, NULL), 0);
	free(b);
}
END_TEST

/* Iterates a batch that passed the check: must yield exactly count. */
static void
iterate_all(const uint8_t *b, size_t size, int32_t count)
{
	struct logd_batch_iter it;
	struct logd_record r;
	struct logd_header h;
	int32_t n = 0, hn;
	size_t pos;

	ck_assert_int_eq(logd_batch_iter_init(&it, b, size), 0);
	while (logd_batch_iter_next(&it, &r) == 1) {
		ck_assert_int_eq(r.offset, n);
		pos = 0;
		hn = 0;
		while (logd_record_header_next(&r, &pos, &h) == 1)
			hn++;
		ck_assert_int_eq(hn, r.header_count);
		n++;
	}
	ck_assert_int_eq(n, count);
}

/*
 * Random bytes changed in the records, the CRC then made valid again:
 * the check must never crash or over-read, and whatever it accepts must
 * iterate to exactly recordCount records.  The iterator must also
 * survive the damaged batches the check refused.
 */
START_TEST(test_damage_behind_valid_crc)
{
	struct logd_batch_info info;
	struct logd_batch_iter it;
	struct logd_record r;
	uint8_t *b, *t;
	size_t size = damage_batch(&b), pos;
	uint64_t s = 99;
	int i, k, n, rc, accepted = 0;

	t = malloc(size);
	for (i = 0; i < 20000; i++) {
		memcpy(t, b, size);
		n = 1 + (int)(rnd(&s) % 4);
		for (k = 0; k < n; k++) {
			pos = 61 + rnd(&s) % (size - 61);
			t[pos] = rnd(&s) % 2 ? (uint8_t)rnd(&s) :
			    (uint8_t)(t[pos] ^ (1u << (rnd(&s) % 8)));
		}
		if (rnd(&s) % 4 == 0)
			be32(t + 57, (uint32_t)(rnd(&s) % 30));
		be32(t + 23, rd32(t + 57) - 1);
		be64(t + 35, rd64(t + 27) + rnd(&s) % 2 * 133);
		recrc(t, size);
		rc = logd_batch_check(t, size, &info);
		if (rc == 0) {
			accepted++;
			iterate_all(t, size, info.record_count);
			continue;
		}
		ck_assert_int_eq(rc, LOGD_EBADBATCH);
		if (logd_batch_iter_init(&it, t, size) == 0)
			while (logd_batch_iter_next(&it, &r) == 1)
				;
	}
	/* Some mutations (inside a value) keep the batch valid. */
	ck_assert_int_gt(accepted, 0);
	free(t);
	free(b);
}
END_TEST

/* Pure garbage of every small size never crashes the check. */
START_TEST(test_garbage)
{
	uint64_t s = 7;
	uint8_t *t;
	size_t len, i;
	int k, rc;

	for (k = 0; k < 20000; k++) {
		len = rnd(&s) % 200;
		t = malloc(len > 0 ? len : 1);
		for (i = 0; i < len; i++)
			t[i] = (uint8_t)rnd(&s);
		if (len > 16 && k % 2) {
			be32(t + 8, (uint32_t)(rnd(&s) % len));
			t[16] = 2;
		}
		rc = logd_batch_check(t, len, NULL);
		ck_assert(rc == -EAGAIN || rc == LOGD_EBADBATCH ||
		    rc == LOGD_ECRC);
		free(t);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* murmur2 and the partitioner                                         */
/* ------------------------------------------------------------------ */

START_TEST(test_murmur2_kafka_vectors)
{
	/* Apache Kafka clients UtilsTest.testMurmur2 (as Java ints). */
	static const struct {
		const char *key;
		int32_t want;
	} v[] = {
		{ "21", -973932308 },
		{ "foobar", -790332482 },
		{ "a-little-bit-long-string", -985981536 },
		{ "a-little-bit-longer-string", -1486304829 },
		{ "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
		    -58897971 },
		{ "abc", 479470107 },
		/* Akka's Kafka-compatible sharding tests, from Java. */
		{ "1", -1993445489 },
		{ "12", 126087238 },
		{ "123", -267702483 },
		{ "1234", -1614185708 },
		{ "12345", -1188365604 },
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		ck_assert_int_eq((int32_t)logd_murmur2(v[i].key,
		    strlen(v[i].key)), v[i].want);
}
END_TEST

START_TEST(test_partition_for_key)
{
	/*
	 * toPositive(murmur2) % n worked out from the vectors above:
	 * "21": -973932308 & 0x7fffffff = 1173551340;
	 * "foobar": 1357151166; "abc": 479470107.
	 */
	ck_assert_int_eq(logd_partition_for_key("21", 2, 1), 0);
	ck_assert_int_eq(logd_partition_for_key("21", 2, 3), 1173551340 % 3);
	ck_assert_int_eq(logd_partition_for_key("21", 2, 7), 1173551340 % 7);
	ck_assert_int_eq(logd_partition_for_key("foobar", 6, 12),
	    1357151166 % 12);
	ck_assert_int_eq(logd_partition_for_key("abc", 3, 10), 7);
	ck_assert_int_eq(logd_partition_for_key("abc", 3, 0), -EINVAL);
	ck_assert_int_eq(logd_partition_for_key("abc", 3, -4), -EINVAL);
	/* An empty key hashes like Java's new byte[0]: seed only. */
	ck_assert_int_eq(logd_partition_for_key(NULL, 0, 5),
	    (int32_t)((logd_murmur2("", 0) & 0x7fffffff) % 5));
	/* Every result is in range, and a key always maps the same way. */
	for (int i = 0; i < 1000; i++) {
		char key[16];
		int n = snprintf(key, sizeof(key), "sensor-%d", i);
		int32_t p = logd_partition_for_key(key, (size_t)n, 6);

		ck_assert_int_ge(p, 0);
		ck_assert_int_lt(p, 6);
		ck_assert_int_eq(logd_partition_for_key(key, (size_t)n, 6), p);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* Real batches captured from librdkafka (see tests/data/README)       */
/* ------------------------------------------------------------------ */

static uint8_t *
read_data(const char *name, size_t *len)
{
	const char *src = getenv("LOGD_SRCDIR");
	char path[4096];
	FILE *f;
	uint8_t *buf;
	long n;

	snprintf(path, sizeof(path), "%s/tests/data/%s",
	    src != NULL ? src : "..", name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_gt(n, 0);
	rewind(f);
	buf = malloc((size_t)n);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* One record as the capture produced it; lengths -1 mean null. */
struct cap_rec {
	int64_t ts;
	const char *key;
	int key_len;
	const char *value;
	int value_len;
	int nh;
	struct logd_header h[2];
};

/*
 * Checks a captured batch: accepted, the records are exactly the ones
 * produced, and the builder, given the same records, writes the same
 * bytes (librdkafka writes partitionLeaderEpoch 0 where logd writes -1;
 * every other byte, the CRC included, must match).
 */
static void
check_capture(const char *name, const struct cap_rec *want, int n,
    int64_t ts_lo, int64_t ts_hi)
{
	struct logd_batch_builder *bld;
	struct logd_batch_info info;
	struct logd_batch_iter it;
	struct logd_record r;
	struct logd_header h;
	const uint8_t *out;
	uint8_t *b;
	size_t len, olen, pos;
	int i, j;

	b = read_data(name, &len);
	ck_assert_int_eq(check_exact(b, len, &info), 0);
	ck_assert_uint_eq(info.size, len);
	ck_assert_int_eq(info.record_count, n);
	ck_assert_int_eq(info.attributes, 0);
	ck_assert_int_eq(info.producer_id, -1);
	ck_assert_int_eq(info.leader_epoch, 0);

	ck_assert_int_eq(logd_batch_iter_init(&it, b, len), 0);
	for (i = 0; i < n; i++) {
		const struct cap_rec *w = &want[i];

		ck_assert_int_eq(logd_batch_iter_next(&it, &r), 1);
		ck_assert_int_eq(r.offset, i);
		if (w->ts != 0)
			ck_assert_int_eq(r.timestamp, w->ts);
		ck_assert_int_ge(r.timestamp, ts_lo);
		ck_assert_int_le(r.timestamp, ts_hi);
		if (w->key_len < 0) {
			ck_assert_ptr_null(r.key);
		} else {
			ck_assert_ptr_nonnull(r.key);
			ck_assert_uint_eq(r.key_len, (size_t)w->key_len);
			ck_assert(memcmp(r.key, w->key, r.key_len) == 0);
		}
		if (w->value_len < 0) {
			ck_assert_ptr_null(r.value);
		} else {
			ck_assert_ptr_nonnull(r.value);
			ck_assert_uint_eq(r.value_len, (size_t)w->value_len);
			ck_assert(memcmp(r.value, w->value, r.value_len) == 0);
		}
		ck_assert_int_eq(r.header_count, w->nh);
		pos = 0;
		for (j = 0; j < w->nh; j++) {
			ck_assert_int_eq(logd_record_header_next(&r, &pos, &h),
			    1);
			ck_assert_uint_eq(h.key_len, w->h[j].key_len);
			ck_assert(memcmp(h.key, w->h[j].key, h.key_len) == 0);
			if (w->h[j].value == NULL) {
				ck_assert_ptr_null(h.value);
			} else {
				ck_assert_uint_eq(h.value_len,
				    w->h[j].value_len);
				ck_assert(memcmp(h.value, w->h[j].value,
				    h.value_len) == 0);
			}
		}
		ck_assert_int_eq(logd_record_header_next(&r, &pos, &h), 0);
	}
	ck_assert_int_eq(logd_batch_iter_next(&it, &r), 0);

	/* The same records through the builder (timestamps as captured). */
	ck_assert_int_eq(logd_batch_builder_new(&bld), 0);
	ck_assert_int_eq(logd_batch_iter_init(&it, b, len), 0);
	for (i = 0; i < n; i++) {
		const struct cap_rec *w = &want[i];

		ck_assert_int_eq(logd_batch_iter_next(&it, &r), 1);
		ck_assert_int_eq(logd_batch_builder_add(bld, r.timestamp,
		    w->key_len < 0 ? NULL : w->key, (size_t)w->key_len,
		    w->value_len < 0 ? NULL : w->value, (size_t)w->value_len,
		    w->h, (size_t)w->nh), 0);
	}
	ck_assert_int_eq(logd_batch_builder_finish(bld, &out, &olen), 0);
	ck_assert_uint_eq(olen, len);
	ck_assert_mem_eq(out, b, 12);
	ck_assert_mem_eq(out + 16, b + 16, len - 16);
	logd_batch_builder_free(bld);
	free(b);
}

/* kcat -P -K : -Z -H trace=abc -H source=kcat, wall-clock timestamps. */
START_TEST(test_capture_kcat)
{
	static char x300[301];
	struct cap_rec want[5] = {
		{ 0, "station-1", 9, "{\"t\":25.5}", 10, 2, { { 0 } } },
		{ 0, NULL, -1, "empty-key", 9, 2, { { 0 } } },
		{ 0, "k3", 2, NULL, -1, 2, { { 0 } } },
		{ 0, NULL, -1, "plain-line", 10, 2, { { 0 } } },
		{ 0, "station-2", 9, x300, 300, 2, { { 0 } } },
	};
	int i;

	memset(x300, 'x', 300);
	for (i = 0; i < 5; i++) {
		want[i].h[0] = (struct logd_header){ "trace", 5, "abc", 3 };
		want[i].h[1] = (struct logd_header){ "source", 6, "kcat", 4 };
	}
	/* The capture window that tests/data/capture.sh printed. */
	check_capture("kcat-batch-1.bin", want, 5, 1795598811115,
	    1795598811387);
}
END_TEST

/* librdkafka with chosen timestamps, null and empty fields. */
START_TEST(test_capture_rdkafka_small)
{
	static const char msgpack[] = "\x82\xa4temp\xcb@9\x80\0\0\0\0\0"
	    "\xa4" "city\xa5" "Cairo";
	static char zeros[200];
	const int64_t t = 1764000000000;
	struct cap_rec want[6] = {
		{ t, "ws_cairo_001", 12, msgpack, 26, 1,
		    { { "src", 3, "gen", 3 } } },
		{ t + 5, NULL, -1, "null key", 8, 0, { { 0 } } },
		{ t - 3, "", 0, "", 0, 2,
		    { { "nullval", 7, NULL, 0 }, { "empty", 5, "", 0 } } },
		{ t + 1000, "k4", 2, NULL, -1, 0, { { 0 } } },
		{ t + 70000, NULL, -1, NULL, -1, 2,
		    { { "a", 1, "1", 1 }, { "b", 1, "22", 2 } } },
		{ t + 2, "\0\xff", 2, zeros, 200, 0, { { 0 } } },
	};

	check_capture("kcat-batch-2.bin", want, 6, t - 3, t + 70000);
}
END_TEST

/* librdkafka, 1000 records of 100 bytes. */
START_TEST(test_capture_rdkafka_big)
{
	static char keys[1000][9], values[1000][101];
	static struct cap_rec want[1000];
	const int64_t t = 1764000000000;
	int i;

	for (i = 0; i < 1000; i++) {
		char num[16];

		snprintf(num, sizeof(num), "%04u", (unsigned)i % 10000u);
		memcpy(keys[i], "key-", 4);
		memcpy(keys[i] + 4, num, 4);
		memset(values[i], '.', 100);
		memcpy(values[i], "value-", 6);
		memcpy(values[i] + 6, num, 4);
		values[i][10] = '-';
		want[i] = (struct cap_rec){ t + i, keys[i], 8, values[i], 100,
		    0, { { 0 } } };
	}
	check_capture("kcat-batch-3.bin", want, 1000, t, t + 999);
}
END_TEST

/* kcat -z gzip: accepted on header and CRC; its records inflate. */
START_TEST(test_capture_gzip)
{
	struct logd_batch_info info;
	struct logd_batch_iter it;
	struct logd_record rec;
	uint8_t *b;
	size_t len;
	int n = 0;

	b = read_data("kcat-batch-4.bin", &len);
	ck_assert_int_eq(check_exact(b, len, &info), 0);
	ck_assert_int_eq(info.attributes & LOGD_ATTR_COMPRESSION_MASK, 1);
	ck_assert_int_eq(info.record_count, 10);
	ck_assert_int_eq(info.last_offset, 9);
	ck_assert_int_eq(logd_batch_iter_init(&it, b, len), 0);
	while (logd_batch_iter_next(&it, &rec) == 1) {
		ck_assert_int_eq(rec.offset, n);
		ck_assert_uint_eq(rec.key_len, 6);
		ck_assert_int_eq(memcmp(rec.key, "key-", 4), 0);
		ck_assert_int_eq(memcmp(rec.value, "value-", 6), 0);
		n++;
	}
	ck_assert_int_eq(n, 10);
	b[len - 5] ^= 0x20;
	ck_assert_int_eq(check_exact(b, len, NULL), LOGD_ECRC);
	free(b);
}
END_TEST

/* Every codec: the builder compresses, the iterator reads it back. */
START_TEST(test_codec_roundtrip)
{
	struct logd_batch_builder *bb;
	struct logd_batch_info info;
	struct logd_batch_iter it;
	struct logd_record rec;
	const uint8_t *batch;
	uint8_t *bad;
	char v[64];
	size_t len;
	int codec, i, n;

	for (codec = LOGD_CODEC_NONE; codec <= LOGD_CODEC_ZSTD; codec++) {
		ck_assert_int_eq(logd_batch_builder_new(&bb), 0);
		ck_assert_int_eq(logd_batch_builder_set_codec(bb, codec), 0);
		for (i = 0; i < 500; i++) {
			snprintf(v, sizeof(v), "reading %d of station 7", i);
			ck_assert_int_eq(logd_batch_builder_add(bb, 1000 + i,
			    "k", 1, v, strlen(v), NULL, 0), 0);
		}
		ck_assert_int_eq(logd_batch_builder_finish(bb, &batch, &len),
		    0);
		ck_assert_int_eq(check_exact(batch, len, &info), 0);
		ck_assert_int_eq(info.attributes & LOGD_ATTR_COMPRESSION_MASK,
		    codec);
		ck_assert_int_eq(info.record_count, 500);
		if (codec != LOGD_CODEC_NONE)
			ck_assert_uint_lt(len, 500 * 20);
		ck_assert_int_eq(logd_batch_iter_init(&it, batch, len), 0);
		n = 0;
		while (logd_batch_iter_next(&it, &rec) == 1) {
			snprintf(v, sizeof(v), "reading %d of station 7", n);
			ck_assert_uint_eq(rec.value_len, strlen(v));
			ck_assert_int_eq(memcmp(rec.value, v, rec.value_len), 0);
			ck_assert_int_eq(rec.timestamp, 1000 + n);
			ck_assert_int_eq(rec.offset, n);
			n++;
		}
		ck_assert_int_eq(n, 500);
		/* Truncated compressed data: refused, not half read. */
		if (codec != LOGD_CODEC_NONE) {
			bad = malloc(len);
			memcpy(bad, batch, len);
			memset(bad + 61 + (len - 61) / 2, 0xa5, (len - 61) / 2);
			n = logd_batch_iter_init(&it, bad, len);
			if (n == 0) {
				while ((n = logd_batch_iter_next(&it, &rec)) == 1)
					;
				logd_batch_iter_release(&it);
			}
			ck_assert_int_lt(n, 0);
			free(bad);
		}
		logd_batch_builder_free(bb);
	}
	ck_assert_int_eq(logd_codec_parse("zstd"), LOGD_CODEC_ZSTD);
	ck_assert_int_eq(logd_codec_parse("brotli"), -EINVAL);
}
END_TEST

/*
 * The broker's check before it stores a batch (issue: a batch whose
 * attributes said gzip but whose records were plain was stored, and then
 * no consumer could read past it): a compressed batch must inflate and
 * its records parse as its header counts them; transactional and control
 * batches are refused; what every builder codec makes passes.
 */
START_TEST(test_check_deep)
{
	struct logd_batch_builder *bb;
	struct logd_batch_info info;
	const uint8_t *batch;
	const char *why;
	uint8_t *b, *z;
	size_t len, zlen;
	int codec;

	for (codec = LOGD_CODEC_NONE; codec <= LOGD_CODEC_ZSTD; codec++) {
		ck_assert_int_eq(logd_batch_builder_new(&bb), 0);
		ck_assert_int_eq(logd_batch_builder_set_codec(bb, codec), 0);
		ck_assert_int_eq(logd_batch_builder_add(bb, 5, "k", 1, "v1", 2,
		    NULL, 0), 0);
		ck_assert_int_eq(logd_batch_builder_add(bb, 7, "k", 1, "v2", 2,
		    NULL, 0), 0);
		ck_assert_int_eq(logd_batch_builder_finish(bb, &batch, &len),
		    0);
		ck_assert_int_eq(logd_batch_check(batch, len, &info), 0);
		ck_assert_int_eq(logd_batch_check_deep(batch, &info, &why), 0);
		ck_assert_ptr_null(why);
		b = malloc(len);
		memcpy(b, batch, len);
		/* flip to transactional, then control, CRC made good */
		b[22] |= LOGD_ATTR_TRANSACTIONAL;
		recrc(b, len);
		ck_assert_int_eq(logd_batch_check(b, len, &info), 0);
		ck_assert_int_eq(logd_batch_check_deep(b, &info, &why),
		    LOGD_EBADBATCH);
		ck_assert_ptr_nonnull(strstr(why, "transactional"));
		b[22] = (uint8_t)((b[22] & ~LOGD_ATTR_TRANSACTIONAL) |
		    LOGD_ATTR_CONTROL);
		recrc(b, len);
		ck_assert_int_eq(logd_batch_check(b, len, &info), 0);
		ck_assert_int_eq(logd_batch_check_deep(b, &info, &why),
		    LOGD_EBADBATCH);
		if (codec == LOGD_CODEC_NONE) {
			/* plain records under a gzip attribute */
			b[22] = 1;
			recrc(b, len);
			ck_assert_int_eq(logd_batch_check(b, len, &info), 0);
			ck_assert_int_eq(logd_batch_check_deep(b, &info, &why),
			    LOGD_EBADBATCH);
			ck_assert_ptr_nonnull(strstr(why, "decompress"));
		}
		free(b);
		logd_batch_builder_free(bb);
	}
	/* gzip that inflates to bytes that are not the records counted */
	ck_assert_int_eq(logd_compress(LOGD_CODEC_GZIP, "not records at all",
	    18, &z, &zlen), 0);
	len = 61 + zlen;
	b = calloc(1, len);
	memcpy(b + 61, z, zlen);
	be32(b + 8, (uint32_t)(len - 12));
	b[16] = 2;
	b[22] = 1;
	be32(b + 23, 0);
	be32(b + 57, 1);
	be64(b + 43, UINT64_MAX);
	b[51] = b[52] = 0xff;
	be32(b + 53, 0xffffffff);
	recrc(b, len);
	ck_assert_int_eq(logd_batch_check(b, len, &info), 0);
	ck_assert_int_eq(logd_batch_check_deep(b, &info, &why), LOGD_EBADBATCH);
	ck_assert_ptr_nonnull(strstr(why, "do not parse"));
	free(b);
	free(z);
}
END_TEST

/* A few bytes that inflate past the cap are refused. */
START_TEST(test_codec_bomb)
{
	uint8_t *zeros = calloc(1, LOGD_DECOMPRESS_MAX + 4096), *z, *out;
	size_t zlen, olen;

	ck_assert_ptr_nonnull(zeros);
	ck_assert_int_eq(logd_compress(LOGD_CODEC_ZSTD, zeros,
	    LOGD_DECOMPRESS_MAX + 4096, &z, &zlen), 0);
	ck_assert_uint_lt(zlen, 1 << 16);
	ck_assert_int_eq(logd_decompress(LOGD_CODEC_ZSTD, z, zlen, &out,
	    &olen), LOGD_ETOOBIG);
	free(z);
	ck_assert_int_eq(logd_compress(LOGD_CODEC_GZIP, zeros,
	    LOGD_DECOMPRESS_MAX + 4096, &z, &zlen), 0);
	ck_assert_int_eq(logd_decompress(LOGD_CODEC_GZIP, z, zlen, &out,
	    &olen), LOGD_ETOOBIG);
	free(z);
	free(zeros);
}
END_TEST

static Suite *
batch_suite(void)
{
	Suite *s = suite_create("batch");
	TCase *tc;

	tc = tcase_create("spec_vector");
	tcase_add_test(tc, test_spec_builder_bytes);
	tcase_add_test(tc, test_spec_check_iter);
	suite_add_tcase(s, tc);

	tc = tcase_create("roundtrip");
	tcase_add_loop_test(tc, test_roundtrip_random, 0, 4);
	tcase_add_test(tc, test_roundtrip_extreme_timestamps);
	suite_add_tcase(s, tc);

	tc = tcase_create("builder");
	tcase_add_test(tc, test_builder_reuse);
	tcase_add_test(tc, test_builder_limits);
	tcase_add_test(tc, test_builder_fills_the_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("rewrite");
	tcase_add_test(tc, test_set_base_offset);
	tcase_add_test(tc, test_set_log_append_time);
	tcase_add_test(tc, test_concatenated);
	suite_add_tcase(s, tc);

	tc = tcase_create("reject");
	tcase_add_test(tc, test_reject_framing);
	tcase_add_test(tc, test_reject_crc);
	tcase_add_test(tc, test_reject_counts);
	tcase_add_test(tc, test_reject_offset_deltas);
	tcase_add_test(tc, test_reject_lengths);
	tcase_add_test(tc, test_reject_record_length);
	tcase_add_test(tc, test_reject_varints);
	tcase_add_test(tc, test_reject_max_timestamp);
	tcase_add_test(tc, test_compressed);
	suite_add_tcase(s, tc);

	tc = tcase_create("damage");
	tcase_add_test(tc, test_bit_flips);
	tcase_add_test(tc, test_truncation);
	tcase_add_test(tc, test_damage_behind_valid_crc);
	tcase_add_test(tc, test_garbage);
	suite_add_tcase(s, tc);

	tc = tcase_create("librdkafka_capture");
	tcase_add_test(tc, test_capture_kcat);
	tcase_add_test(tc, test_capture_rdkafka_small);
	tcase_add_test(tc, test_capture_rdkafka_big);
	tcase_add_test(tc, test_capture_gzip);
	suite_add_tcase(s, tc);

	tc = tcase_create("codecs");
	tcase_add_test(tc, test_codec_roundtrip);
	tcase_add_test(tc, test_codec_bomb);
	tcase_add_test(tc, test_check_deep);
	suite_add_tcase(s, tc);

	tc = tcase_create("murmur2");
	tcase_add_test(tc, test_murmur2_kafka_vectors);
	tcase_add_test(tc, test_partition_for_key);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(batch_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
