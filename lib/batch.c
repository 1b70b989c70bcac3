/*
 * batch.c - Kafka RecordBatch v2: checking, iterating, building, and the
 * default key partitioner.
 *
 * The broker checks every produced batch with logd_batch_check() before
 * it is appended, and the same check runs again during recovery, so it is
 * both the broker's hot path and its first line of defence against hostile
 * input.  It therefore:
 *
 * - never reads a byte it has not bounds-checked against len (every
 *   varint reader takes an end pointer, every length is compared against
 *   the bytes that are left before it is used, and nothing is summed
 *   that could overflow);
 * - answers -EAGAIN only when the bytes seen so far are a plausible batch
 *   prefix (length within bounds, magic 2 once visible), so a stream
 *   reader can wait for more; anything else that is wrong is
 *   LOGD_EBADBATCH, or LOGD_ECRC for a checksum mismatch;
 * - for uncompressed batches parses every record in one pass straight
 *   after the CRC: each record must end exactly where its length says,
 *   the last one exactly at the batch end, offset deltas must be
 *   0, 1, ..., count-1, lengths -1 (null) or more, header keys non-null,
 *   and varints no longer than Kafka's (5 bytes for a varint, 10 for a
 *   varlong) with no bits beyond 32 or 64.
 *
 * maxTimestamp: Kafka's broker recomputes maxTimestamp from the records
 * of a CreateTime batch and rewrites the header if it differs.  logd
 * never rewrites a batch beyond baseOffset, and the time index and
 * logd_batch_header() must agree with what is stored, so instead the
 * check requires that the header's maxTimestamp equals the largest record
 * timestamp of an uncompressed CreateTime batch and rejects the batch
 * otherwise (every client we know, the Java client, librdkafka, sarama,
 * kafka-python and KafkaJS, writes the true maximum; the tests check
 * librdkafka's bytes).  For compressed batches the records cannot be seen
 * and the header is trusted, as Kafka trusts it for its indexes; for
 * log-append-time batches the header is the record time by definition.
 *
 * The builder writes records into one growable buffer behind 61 reserved
 * header bytes; finish fills in the header and the CRC.  reset keeps the
 * buffer, so a producer that reuses one builder allocates only while its
 * batches grow.
 *
 * Varints are Kafka's: zigzag-encoded signed values in little-endian base
 * 128 groups (protobuf's sint32/sint64).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logd.h"
#include "segment.h"

/* The record decoders are small and sit in the broker's hot loop. */
#define HOT static inline __attribute__((always_inline))

/* Header field offsets. */
#define B_BASE_OFFSET     0
#define B_LENGTH          8
#define B_LEADER_EPOCH    12
#define B_MAGIC           16
#define B_CRC             17
#define B_ATTRIBUTES      21
#define B_LAST_DELTA      23
#define B_BASE_TIMESTAMP  27
#define B_MAX_TIMESTAMP   35
#define B_PRODUCER_ID     43
#define B_PRODUCER_EPOCH  51
#define B_BASE_SEQUENCE   53
#define B_RECORD_COUNT    57

/* The smallest record: seven one-byte fields. */
#define RECORD_MIN_SIZE 7
#define BATCH_MIN_SIZE  (LOGD_BATCH_HEADER_SIZE + RECORD_MIN_SIZE)
/* Codecs Kafka defines: none, gzip, snappy, lz4, zstd. */
#define CODEC_MAX 4

/* ------------------------------------------------------------------ */
/* Big-endian fields and varints                                       */
/* ------------------------------------------------------------------ */

static inline uint16_t
get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t
get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

static inline void
put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)(v >> 32));
	put_u32(p + 4, (uint32_t)v);
}

/*
 * Reads an unsigned base-128 value of at most max bytes (5: 32 bits, 10:
 * 64 bits) from p, never at or past end.  Returns the position after it,
 * or NULL if it is truncated, too long, or has bits beyond its width.
 * Record fields are mostly one or two bytes long, so those are decoded
 * without a loop; the loop checks the end before every byte.
 */
HOT const uint8_t *
get_uvarint(const uint8_t *p, const uint8_t *end, int max, uint64_t *out)
{
	uint64_t v;
	int i;

	if (end - p >= 2) {
		if (p[0] < 0x80) {
			*out = p[0];
			return p + 1;
		}
		if (p[1] < 0x80) {
			*out = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
			return p + 2;
		}
	}
	v = 0;
	for (i = 0; i < max; i++) {
		uint8_t b;

		if (p >= end)
			return NULL;
		b = *p++;
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (b < 0x80) {
			/* The last group may hold only 32-28 or 64-63 bits. */
			if (i == max - 1 && (b >> (max == 5 ? 4 : 1)) != 0)
				return NULL;
			*out = v;
			return p;
		}
	}
	return NULL;
}

/* A zigzag varint (Kafka's int32 varint). */
HOT const uint8_t *
get_varint(const uint8_t *p, const uint8_t *end, int32_t *out)
{
	uint64_t v;

	p = get_uvarint(p, end, 5, &v);
	if (p != NULL)
		*out = (int32_t)((uint32_t)(v >> 1) ^ (0u - (uint32_t)(v & 1)));
	return p;
}

/* A zigzag varlong (Kafka's int64 varint). */
HOT const uint8_t *
get_varlong(const uint8_t *p, const uint8_t *end, int64_t *out)
{
	uint64_t v;

	p = get_uvarint(p, end, 10, &v);
	if (p != NULL)
		*out = (int64_t)((v >> 1) ^ (0 - (v & 1)));
	return p;
}

static inline size_t
uvarint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static inline uint64_t
zigzag64(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline uint64_t
zigzag32(int32_t v)
{
	return (uint32_t)(((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

static inline uint8_t *
put_uvarint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

/* One record as it is encoded; lengths -1 mean null. */
struct rec_raw {
	int64_t ts_delta;
	int32_t offset_delta;
	int32_t key_len;
	int32_t value_len;
	int32_t header_count;
	const uint8_t *key;
	const uint8_t *value;
	const uint8_t *headers;
	const uint8_t *end;
};

/*
 * Reads a length (-1 for null when nullable) and skips that many bytes,
 * all before end.  Returns the position after the bytes, or NULL.
 */
HOT const uint8_t *
get_bytes(const uint8_t *p, const uint8_t *end, int nullable,
    int32_t *len, const uint8_t **bytes)
{
	int32_t n;

	p = get_varint(p, end, &n);
	if (p == NULL)
		return NULL;
	if (n < 0) {
		if (n != -1 || !nullable)
			return NULL;
		*len = -1;
		*bytes = NULL;
		return p;
	}
	if ((size_t)n > (size_t)(end - p))
		return NULL;
	*len = n;
	*bytes = p;
	return p + n;
}

/* Walks header_count headers that must end exactly at end. */
static inline int
headers_valid(const uint8_t *p, const uint8_t *end, int32_t count)
{
	int32_t i, len;
	const uint8_t *bytes;

	for (i = 0; i < count; i++) {
		p = get_bytes(p, end, 0, &len, &bytes);
		if (p == NULL)
			return 0;
		p = get_bytes(p, end, 1, &len, &bytes);
		if (p == NULL)
			return 0;
	}
	return p == end;
}

/*
 * Decodes the record at p, which must fit before end.  Returns the
 * position after it, or NULL if it is malformed.
 */
HOT const uint8_t *
parse_record(const uint8_t *p, const uint8_t *end, struct rec_raw *r)
{
	int32_t len;
	const uint8_t *rend;

	p = get_varint(p, end, &len);
	if (p == NULL || len < RECORD_MIN_SIZE - 1 ||
	    (size_t)len > (size_t)(end - p))
		return NULL;
	rend = p + len;
	p++; /* attributes: unused by Kafka v2 records */
	p = get_varlong(p, rend, &r->ts_delta);
	if (p == NULL)
		return NULL;
	p = get_varint(p, rend, &r->offset_delta);
	if (p == NULL)
		return NULL;
	p = get_bytes(p, rend, 1, &r->key_len, &r->key);
	if (p == NULL)
		return NULL;
	p = get_bytes(p, rend, 1, &r->value_len, &r->value);
	if (p == NULL)
		return NULL;
	p = get_varint(p, rend, &r->header_count);
	if (p == NULL || r->header_count < 0)
		return NULL;
	if (r->header_count == 0) {
		if (p != rend)
			return NULL;
	} else if (!headers_valid(p, rend, r->header_count)) {
		return NULL;
	}
	r->headers = p;
	r->end = rend;
	return rend;
}

/* ------------------------------------------------------------------ */
/* Checking                                                            */
/* ------------------------------------------------------------------ */

/*
 * Framing from the first bytes: -EAGAIN while what is there could still
 * be the start of a valid batch, LOGD_EBADBATCH as soon as it cannot.
 * On 0 the whole batch (*size bytes) is within len.
 */
static int
batch_frame(const uint8_t *p, size_t len, size_t *size)
{
	int32_t blen;
	size_t n;

	if (len < B_LENGTH + 4)
		return -EAGAIN;
	blen = (int32_t)get_u32(p + B_LENGTH);
	if (blen < BATCH_MIN_SIZE - 12 ||
	    (uint64_t)blen + 12 > LOGD_BATCH_MAX_SIZE)
		return LOGD_EBADBATCH;
	n = (size_t)blen + 12;
	if (len > B_MAGIC && p[B_MAGIC] != LOGD_BATCH_MAGIC)
		return LOGD_EBADBATCH;
	if (n > len)
		return -EAGAIN;
	*size = n;
	return 0;
}

/* Decodes and checks the header fields of a framed batch. */
static int
batch_decode(const uint8_t *p, size_t size, struct logd_batch_info *bi)
{
	int32_t last_delta;

	bi->base_offset = (int64_t)get_u64(p + B_BASE_OFFSET);
	bi->size = size;
	bi->leader_epoch = (int32_t)get_u32(p + B_LEADER_EPOCH);
	bi->crc = get_u32(p + B_CRC);
	bi->attributes = (int16_t)get_u16(p + B_ATTRIBUTES);
	last_delta = (int32_t)get_u32(p + B_LAST_DELTA);
	bi->base_timestamp = (int64_t)get_u64(p + B_BASE_TIMESTAMP);
	bi->max_timestamp = (int64_t)get_u64(p + B_MAX_TIMESTAMP);
	bi->producer_id = (int64_t)get_u64(p + B_PRODUCER_ID);
	bi->producer_epoch = (int16_t)get_u16(p + B_PRODUCER_EPOCH);
	bi->base_sequence = (int32_t)get_u32(p + B_BASE_SEQUENCE);
	bi->record_count = (int32_t)get_u32(p + B_RECORD_COUNT);
	if (bi->record_count <= 0 || last_delta != bi->record_count - 1)
		return LOGD_EBADBATCH;
	if ((bi->attributes & LOGD_ATTR_COMPRESSION_MASK) > CODEC_MAX)
		return LOGD_EBADBATCH;
	/* Wraps instead of overflowing on a hostile baseOffset. */
	bi->last_offset = (int64_t)((uint64_t)bi->base_offset +
	    (uint64_t)last_delta);
	return 0;
}

int
logd_batch_header(const void *buf, size_t len, struct logd_batch_info *info)
{
	struct logd_batch_info bi;
	size_t size;
	int rc;

	rc = batch_frame(buf, len, &size);
	if (rc != 0)
		return rc;
	rc = batch_decode(buf, size, &bi);
	if (rc != 0)
		return rc;
	if (info != NULL)
		*info = bi;
	return 0;
}

/*
 * Parses the records of an uncompressed batch: exactly count of them,
 * offset deltas 0..count-1 in order, ending exactly at end.  *max_ts is
 * the largest record timestamp (base + delta, wrapping as a Java long).
 */
static int
records_check(const uint8_t *p, const uint8_t *end, int32_t count,
    int64_t base_ts, int64_t *max_ts)
{
	struct rec_raw r;
	int64_t ts, max = INT64_MIN;
	int32_t i;

	for (i = 0; i < count; i++) {
		p = parse_record(p, end, &r);
		if (p == NULL || r.offset_delta != i)
			return LOGD_EBADBATCH;
		ts = (int64_t)((uint64_t)base_ts + (uint64_t)r.ts_delta);
		if (ts > max)
			max = ts;
	}
	if (p != end)
		return LOGD_EBADBATCH;
	*max_ts = max;
	return 0;
}

int
logd_batch_check(const void *buf, size_t len, struct logd_batch_info *info)
{
	const uint8_t *p = buf;
	struct logd_batch_info bi;
	size_t size;
	int64_t max_ts;
	int rc;

	rc = batch_frame(p, len, &size);
	if (rc != 0)
		return rc;
	rc = batch_decode(p, size, &bi);
	if (rc != 0)
		return rc;
	if (logd_crc32c(0, p + B_ATTRIBUTES, size - B_ATTRIBUTES) != bi.crc)
		return LOGD_ECRC;
	if ((bi.attributes & LOGD_ATTR_COMPRESSION_MASK) == 0) {
		rc = records_check(p + LOGD_BATCH_HEADER_SIZE, p + size,
		    bi.record_count, bi.base_timestamp, &max_ts);
		if (rc != 0)
			return rc;
		if (!(bi.attributes & LOGD_ATTR_LOG_APPEND_TIME) &&
		    max_ts != bi.max_timestamp)
			return LOGD_EBADBATCH;
	}
	if (info != NULL)
		*info = bi;
	return 0;
}

int
logd_batch_check_deep(const void *buf, const struct logd_batch_info *bi,
    const char **why)
{
	const uint8_t *p = buf;
	uint8_t *out = NULL;
	size_t len;
	int64_t max_ts;
	int codec = bi->attributes & LOGD_ATTR_COMPRESSION_MASK, rc;

	*why = NULL;
	if (bi->attributes & (LOGD_ATTR_TRANSACTIONAL | LOGD_ATTR_CONTROL)) {
		*why = "transactional and control batches are not supported";
		return LOGD_EBADBATCH;
	}
	if (!codec)
		return 0;          /* logd_batch_check() parsed the records */
	rc = logd_decompress(codec, p + LOGD_BATCH_HEADER_SIZE,
	    bi->size - LOGD_BATCH_HEADER_SIZE, &out, &len);
	if (rc == LOGD_ETOOBIG) {
		*why = "its records inflate past 64 MiB";
		return LOGD_ETOOBIG;
	}
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		*why = "its records do not decompress with the codec its "
		    "attributes name";
		return LOGD_EBADBATCH;
	}
	rc = records_check(out, out + len, bi->record_count,
	    bi->base_timestamp, &max_ts);
	free(out);
	if (rc) {
		*why = "its decompressed records do not parse as its header "
		    "counts them";
		return LOGD_EBADBATCH;
	}
	if (!(bi->attributes & LOGD_ATTR_LOG_APPEND_TIME) &&
	    max_ts != bi->max_timestamp) {
		*why = "its maxTimestamp is not its largest record timestamp";
		return LOGD_EBADBATCH;
	}
	return 0;
}

void
logd_batch_set_base_offset(void *batch, int64_t base_offset)
{
	put_u64((uint8_t *)batch + B_BASE_OFFSET, (uint64_t)base_offset);
}

void
logd_batch_set_log_append_time(void *batch, int64_t ts)
{
	logd_batch_stamp_header(batch, batch, ts);
}

void
logd_batch_stamp_header(uint8_t *h, const uint8_t *p, int64_t ts)
{
	size_t size = (size_t)get_u32(p + B_LENGTH) + 12;
	uint16_t attr = get_u16(p + B_ATTRIBUTES);
	uint32_t crc;

	if (h != p)
		memcpy(h, p, LOGD_BATCH_HEADER_SIZE);
	put_u16(h + B_ATTRIBUTES, (uint16_t)(attr | LOGD_ATTR_LOG_APPEND_TIME));
	put_u64(h + B_MAX_TIMESTAMP, (uint64_t)ts);
	crc = logd_crc32c(0, h + B_ATTRIBUTES,
	    LOGD_BATCH_HEADER_SIZE - B_ATTRIBUTES);
	crc = logd_crc32c(crc, p + LOGD_BATCH_HEADER_SIZE,
	    size - LOGD_BATCH_HEADER_SIZE);
	put_u32(h + B_CRC, crc);
}

/* ------------------------------------------------------------------ */
/* Iterating                                                           */
/* ------------------------------------------------------------------ */

int
logd_batch_iter_init(struct logd_batch_iter *it, const void *buf, size_t size)
{
	const uint8_t *p = buf;
	size_t n;
	int32_t count;
	uint16_t attr;

	if (size < LOGD_BATCH_HEADER_SIZE || p[B_MAGIC] != LOGD_BATCH_MAGIC)
		return LOGD_EBADBATCH;
	n = (size_t)get_u32(p + B_LENGTH) + 12;
	if (n < LOGD_BATCH_HEADER_SIZE || n > size)
		return LOGD_EBADBATCH;
	count = (int32_t)get_u32(p + B_RECORD_COUNT);
	if (count < 0)
		return LOGD_EBADBATCH;
	attr = get_u16(p + B_ATTRIBUTES);
	it->buf = NULL;
	if ((attr & LOGD_ATTR_COMPRESSION_MASK) != 0) {
		size_t len;
		int rc = logd_decompress(attr & LOGD_ATTR_COMPRESSION_MASK,
		    p + LOGD_BATCH_HEADER_SIZE, n - LOGD_BATCH_HEADER_SIZE,
		    &it->buf, &len);

		if (rc < 0)
			return rc;
		it->p = it->buf;
		it->end = it->buf + len;
	} else {
		it->p = p + LOGD_BATCH_HEADER_SIZE;
		it->end = p + n;
	}
	it->base_offset = (int64_t)get_u64(p + B_BASE_OFFSET);
	it->base_timestamp = (int64_t)get_u64(p + B_BASE_TIMESTAMP);
	it->max_timestamp = (int64_t)get_u64(p + B_MAX_TIMESTAMP);
	it->remaining = count;
	it->log_append_time = (attr & LOGD_ATTR_LOG_APPEND_TIME) != 0;
	return 0;
}

int
logd_batch_iter_next(struct logd_batch_iter *it, struct logd_record *rec)
{
	struct rec_raw r;
	const uint8_t *next;

	if (it->remaining <= 0) {
		logd_batch_iter_release(it);
		return 0;
	}
	/* Records come from cold page-cache pages: ask for the lines ahead. */
	__builtin_prefetch(it->p + 1024);
	next = parse_record(it->p, it->end, &r);
	if (next == NULL) {
		logd_batch_iter_release(it);
		it->remaining = 0;
		return LOGD_EBADBATCH;
	}
	rec->offset = (int64_t)((uint64_t)it->base_offset +
	    (uint64_t)(int64_t)r.offset_delta);
	rec->timestamp = it->log_append_time ? it->max_timestamp :
	    (int64_t)((uint64_t)it->base_timestamp + (uint64_t)r.ts_delta);
	rec->key = r.key;
	rec->key_len = r.key_len < 0 ? 0 : (size_t)r.key_len;
	rec->value = r.value;
	rec->value_len = r.value_len < 0 ? 0 : (size_t)r.value_len;
	rec->headers = r.headers;
	rec->headers_len = (size_t)(r.end - r.headers);
	rec->header_count = r.header_count;
	it->p = next;
	it->remaining--;
	return 1;
}

void
logd_batch_iter_release(struct logd_batch_iter *it)
{
	free(it->buf);
	it->buf = NULL;
}

void
logd_cursor_init(struct logd_cursor *c, const void *p, size_t len,
    int64_t from)
{
	memset(c, 0, sizeof(*c));
	c->p = p;
	c->end = c->p + len;
	c->from = from;
}

int
logd_cursor_next(struct logd_cursor *c, struct logd_record *rec)
{
	const uint8_t *batch;
	int r;

	for (;;) {
		if (c->in_batch) {
			r = logd_batch_iter_next(&c->it, rec);
			if (r == 1) {
				if (rec->offset < c->from)
					continue;
				return 1;
			}
			c->in_batch = 0;
			if (r < 0)
				return r;
		}
		if (c->p >= c->end)
			return 0;
		c->batch = c->p;
		r = logd_batch_check(c->p, (size_t)(c->end - c->p), &c->info);
		if (r < 0)
			return r;
		batch = c->p;
		c->p += c->info.size;
		if (c->info.last_offset < c->from)
			continue;
		r = logd_batch_iter_init(&c->it, batch, c->info.size);
		if (r < 0)
			return r;
		c->in_batch = 1;
	}
}

void
logd_cursor_release(struct logd_cursor *c)
{
	if (c->in_batch)
		logd_batch_iter_release(&c->it);
	c->in_batch = 0;
}

int
logd_cursor_skip(struct logd_cursor *c, int64_t *first, int64_t *last)
{
	struct logd_batch_info bi;

	if (c->batch == NULL || c->batch >= c->end ||
	    logd_batch_header(c->batch, (size_t)(c->end - c->batch), &bi) < 0 ||
	    bi.size > (size_t)(c->end - c->batch))
		return LOGD_EBADBATCH;
	logd_cursor_release(c);
	c->p = c->batch + bi.size;
	c->batch = NULL;
	*first = bi.base_offset;
	*last = bi.last_offset;
	return 0;
}

int
logd_record_header_next(const struct logd_record *rec, size_t *pos,
    struct logd_header *h)
{
	const uint8_t *p, *end, *key, *value;
	int32_t klen, vlen;

	if (*pos >= rec->headers_len)
		return 0;
	p = rec->headers + *pos;
	end = rec->headers + rec->headers_len;
	p = get_bytes(p, end, 0, &klen, &key);
	if (p == NULL)
		return LOGD_EBADBATCH;
	p = get_bytes(p, end, 1, &vlen, &value);
	if (p == NULL)
		return LOGD_EBADBATCH;
	h->key = (const char *)key;
	h->key_len = (size_t)klen;
	h->value = value;
	h->value_len = vlen < 0 ? 0 : (size_t)vlen;
	*pos = (size_t)(p - rec->headers);
	return 1;
}

/* ------------------------------------------------------------------ */
/* Building                                                            */
/* ------------------------------------------------------------------ */

struct logd_batch_builder {
	uint8_t *buf;
	size_t len;               /* header (reserved) + records */
	size_t cap;
	int32_t count;
	int64_t base_ts;
	int64_t max_ts;
	int codec;
	uint8_t *zbuf;            /* the compressed batch finish returned */
};

#define BUILDER_INITIAL_CAP 4096

int
logd_batch_builder_new(struct logd_batch_builder **out)
{
	struct logd_batch_builder *b;

	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->len = LOGD_BATCH_HEADER_SIZE;
	*out = b;
	return 0;
}

void
logd_batch_builder_free(struct logd_batch_builder *b)
{
	if (b == NULL)
		return;
	free(b->buf);
	free(b->zbuf);
	free(b);
}

void
logd_batch_builder_reset(struct logd_batch_builder *b)
{
	b->len = LOGD_BATCH_HEADER_SIZE;
	b->count = 0;
	b->base_ts = 0;
	b->max_ts = 0;
}

int32_t
logd_batch_builder_count(const struct logd_batch_builder *b)
{
	return b->count;
}

size_t
logd_batch_builder_size(const struct logd_batch_builder *b)
{
	return b->len;
}

static int
builder_reserve(struct logd_batch_builder *b, size_t need)
{
	size_t cap;
	uint8_t *buf;

	if (need <= b->cap)
		return 0;
	cap = b->cap != 0 ? b->cap : BUILDER_INITIAL_CAP;
	while (cap < need)
		cap *= 2;
	buf = realloc(b->buf, cap);
	if (buf == NULL)
		return -ENOMEM;
	b->buf = buf;
	b->cap = cap;
	return 0;
}

/* Encoded size of a nullable byte string of length n (-1: null). */
static inline size_t
bytes_size(int64_t n)
{
	return uvarint_size(zigzag32((int32_t)n)) + (n > 0 ? (size_t)n : 0);
}

static inline uint8_t *
put_bytes(uint8_t *p, const void *bytes, int64_t n)
{
	p = put_uvarint(p, zigzag32((int32_t)n));
	if (n > 0) {
		memcpy(p, bytes, (size_t)n);
		p += n;
	}
	return p;
}

int
logd_batch_builder_add(struct logd_batch_builder *b, int64_t timestamp,
    const void *key, size_t key_len, const void *value, size_t value_len,
    const struct logd_header *headers, size_t header_count)
{
	const size_t max = LOGD_BATCH_MAX_SIZE;
	int64_t klen = key != NULL ? (int64_t)key_len : -1;
	int64_t vlen = value != NULL ? (int64_t)value_len : -1;
	int64_t ts_delta;
	size_t body, total, i;
	uint8_t *p;
	int rc;

	/* Each term is at most max, so no sum below can overflow. */
	if ((key != NULL && key_len > max) ||
	    (value != NULL && value_len > max) || header_count > max)
		return LOGD_ETOOBIG;
	ts_delta = b->count == 0 ? 0 :
	    (int64_t)((uint64_t)timestamp - (uint64_t)b->base_ts);
	body = 1 + uvarint_size(zigzag64(ts_delta)) +
	    uvarint_size(zigzag32(b->count)) + bytes_size(klen) +
	    bytes_size(vlen) + uvarint_size(zigzag32((int32_t)header_count));
	for (i = 0; i < header_count; i++) {
		const struct logd_header *h = &headers[i];

		if (h->key_len > max || (h->value != NULL &&
		    h->value_len > max))
			return LOGD_ETOOBIG;
		if (h->key == NULL && h->key_len != 0)
			return -EINVAL;
		body += bytes_size((int64_t)h->key_len) +
		    bytes_size(h->value != NULL ? (int64_t)h->value_len : -1);
		if (body > max)
			return LOGD_ETOOBIG;
	}
	if (body > max)
		return LOGD_ETOOBIG;
	total = uvarint_size(zigzag32((int32_t)body)) + body;
	if (total > max - b->len)
		return LOGD_ETOOBIG;
	rc = builder_reserve(b, b->len + total);
	if (rc != 0)
		return rc;

	p = b->buf + b->len;
	p = put_uvarint(p, zigzag32((int32_t)body));
	*p++ = 0; /* record attributes */
	p = put_uvarint(p, zigzag64(ts_delta));
	p = put_uvarint(p, zigzag32(b->count));
	p = put_bytes(p, key, klen);
	p = put_bytes(p, value, vlen);
	p = put_uvarint(p, zigzag32((int32_t)header_count));
	for (i = 0; i < header_count; i++) {
		const struct logd_header *h = &headers[i];

		p = put_bytes(p, h->key, (int64_t)h->key_len);
		p = put_bytes(p, h->value,
		    h->value != NULL ? (int64_t)h->value_len : -1);
	}
	b->len += total;
	if (b->count == 0) {
		b->base_ts = timestamp;
		b->max_ts = timestamp;
	} else if (timestamp > b->max_ts) {
		b->max_ts = timestamp;
	}
	b->count++;
	return 0;
}

int
logd_batch_builder_set_codec(struct logd_batch_builder *b, int codec)
{
	if (codec < LOGD_CODEC_NONE || codec > LOGD_CODEC_ZSTD)
		return -EINVAL;
	b->codec = codec;
	return 0;
}

/* The finished batch with its records compressed, in b->zbuf. */
static int
builder_compress(struct logd_batch_builder *b, const uint8_t **batch,
    size_t *len)
{
	uint8_t *z, *p;
	size_t zlen;
	int rc;

	rc = logd_compress(b->codec, b->buf + LOGD_BATCH_HEADER_SIZE,
	    b->len - LOGD_BATCH_HEADER_SIZE, &z, &zlen);
	if (rc < 0)
		return rc;
	free(b->zbuf);
	b->zbuf = p = malloc(LOGD_BATCH_HEADER_SIZE + zlen);
	if (p == NULL) {
		free(z);
		return -ENOMEM;
	}
	memcpy(p, b->buf, LOGD_BATCH_HEADER_SIZE);
	memcpy(p + LOGD_BATCH_HEADER_SIZE, z, zlen);
	free(z);
	zlen += LOGD_BATCH_HEADER_SIZE;
	put_u32(p + B_LENGTH, (uint32_t)(zlen - 12));
	put_u16(p + B_ATTRIBUTES, (uint16_t)b->codec);
	put_u32(p + B_CRC, logd_crc32c(0, p + B_ATTRIBUTES,
	    zlen - B_ATTRIBUTES));
	*batch = p;
	*len = zlen;
	return 0;
}

int
logd_batch_builder_finish(struct logd_batch_builder *b,
    const uint8_t **batch, size_t *len)
{
	uint8_t *p = b->buf;

	if (b->count == 0)
		return -EINVAL;
	put_u64(p + B_BASE_OFFSET, 0);
	put_u32(p + B_LENGTH, (uint32_t)(b->len - 12));
	put_u32(p + B_LEADER_EPOCH, UINT32_MAX);
	p[B_MAGIC] = LOGD_BATCH_MAGIC;
	put_u16(p + B_ATTRIBUTES, 0);
	put_u32(p + B_LAST_DELTA, (uint32_t)(b->count - 1));
	put_u64(p + B_BASE_TIMESTAMP, (uint64_t)b->base_ts);
	put_u64(p + B_MAX_TIMESTAMP, (uint64_t)b->max_ts);
	put_u64(p + B_PRODUCER_ID, UINT64_MAX);
	put_u16(p + B_PRODUCER_EPOCH, UINT16_MAX);
	put_u32(p + B_BASE_SEQUENCE, UINT32_MAX);
	put_u32(p + B_RECORD_COUNT, (uint32_t)b->count);
	put_u32(p + B_CRC, logd_crc32c(0, p + B_ATTRIBUTES,
	    b->len - B_ATTRIBUTES));
	if (b->codec != LOGD_CODEC_NONE)
		return builder_compress(b, batch, len);
	*batch = p;
	*len = b->len;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Partitioning                                                        */
/* ------------------------------------------------------------------ */

/*
 * Kafka's murmur2 as org.apache.kafka.common.utils.Utils.murmur2 computes
 * it: 32-bit arithmetic, little-endian 4-byte blocks, seed 0x9747b28c
 * mixed with the length (a Java int: the low 32 bits of len).
 */
uint32_t
logd_murmur2(const void *key, size_t len)
{
	const uint8_t *p = key;
	const uint32_t m = 0x5bd1e995;
	uint32_t h = 0x9747b28cu ^ (uint32_t)len;
	size_t i, n4 = len / 4;

	for (i = 0; i < n4; i++) {
		const uint8_t *q = p + 4 * i;
		uint32_t k = (uint32_t)q[0] | (uint32_t)q[1] << 8 |
		    (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;

		k *= m;
		k ^= k >> 24;
		k *= m;
		h *= m;
		h ^= k;
	}
	switch (len & 3) {
	case 3:
		h ^= (uint32_t)p[4 * n4 + 2] << 16;
		/* fall through */
	case 2:
		h ^= (uint32_t)p[4 * n4 + 1] << 8;
		/* fall through */
	case 1:
		h ^= p[4 * n4];
		h *= m;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return h;
}

int32_t
logd_partition_for_key(const void *key, size_t len, int32_t n)
{
	if (n <= 0)
		return -EINVAL;
	return (int32_t)((logd_murmur2(key, len) & 0x7fffffff) % (uint32_t)n);
}
