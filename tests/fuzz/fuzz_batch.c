/*
 * fuzz_batch.c - RecordBatch v2 validation on arbitrary bytes.
 *
 * Input: one mode byte, then bytes read as back-to-back batches.  Mode
 * bit 0 first repairs each batch's CRC32C in a copy (so the fuzzer gets
 * past the CRC into the record parser); bit 1 also stamps log-append time
 * and a new base offset on every valid batch and checks it stays valid.
 *
 * For each batch, logd_batch_check() must either refuse it or accept a
 * batch that lies inside the bytes given; the header decode must agree;
 * an accepted uncompressed batch must iterate to exactly recordCount
 * records with offsets base..last, every key, value and header inside
 * the batch, and exactly header_count headers per record.  The header
 * walker also runs on the raw input as if it were a record's encoded
 * headers.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "logd.h"

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* Rewrites the CRC of every batch whose length fits, walking by length. */
static void fix_crcs(uint8_t *p, size_t n)
{
	size_t pos = 0;

	while (n - pos >= LOGD_BATCH_HEADER_SIZE) {
		uint32_t blen = get32(p + pos + LOGD_BATCH_LENGTH_OFFSET);
		size_t size = (size_t)blen + 12;
		uint32_t crc;

		if (blen < 9 || size > n - pos)
			break;
		crc = logd_crc32c(0, p + pos + 21, size - 21);
		p[pos + 17] = crc >> 24;
		p[pos + 18] = crc >> 16;
		p[pos + 19] = crc >> 8;
		p[pos + 20] = crc;
		pos += size;
	}
}

static int inside(const void *x, size_t len, const uint8_t *lo,
    const uint8_t *hi)
{
	const uint8_t *p = x;

	if (p == NULL)
		return 1;       /* a null key or value */
	return p >= lo && p <= hi && len <= (size_t)(hi - p);
}

/* counted: rec comes from the iterator, so header_count is exact. */
static void walk_headers(const struct logd_record *rec, const uint8_t *lo,
    const uint8_t *hi, int counted)
{
	struct logd_header h;
	size_t pos = 0;
	int rc, n = 0;

	while ((rc = logd_record_header_next(rec, &pos, &h)) == 1) {
		FUZZ_CHECK(h.key != NULL || h.key_len == 0);
		FUZZ_CHECK(inside(h.key, h.key_len, lo, hi));
		FUZZ_CHECK(inside(h.value, h.value_len, lo, hi));
		FUZZ_CHECK(pos <= rec->headers_len);
		n++;
	}
	if (counted)
		FUZZ_CHECK(rc == 0 && n == rec->header_count);
	else
		FUZZ_CHECK(rc == 0 || rc == LOGD_EBADBATCH);
}

static void iterate(const uint8_t *p, const struct logd_batch_info *info)
{
	struct logd_batch_iter it;
	struct logd_record rec;
	/* Offsets wrap as the library computes them (a hostile baseOffset
	 * may sit just below INT64_MAX): count in unsigned arithmetic. */
	uint64_t want = (uint64_t)info->base_offset;
	int rc;

	rc = logd_batch_iter_init(&it, p, info->size);
	if ((info->attributes & LOGD_ATTR_COMPRESSION_MASK) != 0) {
		/* Inflated records live in the iterator's memory: any
		 * outcome but a crash or a leak is fine. */
		while (rc == 0 && (rc = logd_batch_iter_next(&it, &rec)) == 1)
			walk_headers(&rec, rec.headers, rec.headers +
			    rec.headers_len, 0);
		logd_batch_iter_release(&it);
		return;
	}
	FUZZ_CHECK(rc == 0);
	while ((rc = logd_batch_iter_next(&it, &rec)) == 1) {
		FUZZ_CHECK((uint64_t)rec.offset == want);
		FUZZ_CHECK(inside(rec.key, rec.key_len, p, p + info->size));
		FUZZ_CHECK(inside(rec.value, rec.value_len, p, p + info->size));
		FUZZ_CHECK(rec.header_count >= 0);
		FUZZ_CHECK(inside(rec.headers, rec.headers_len, p,
		    p + info->size));
		walk_headers(&rec, p, p + info->size, 1);
		want++;
	}
	/* A checked uncompressed batch parses to the end, count exact. */
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(want == (uint64_t)info->last_offset + 1);
	FUZZ_CHECK(want - (uint64_t)info->base_offset ==
	    (uint64_t)info->record_count);
}

static void restamp(const uint8_t *p, const struct logd_batch_info *info)
{
	struct logd_batch_info again;
	uint8_t *copy = malloc(info->size);
	int64_t base = (int64_t)((uint64_t)info->base_offset + 12345);

	FUZZ_CHECK(copy != NULL);
	memcpy(copy, p, info->size);
	logd_batch_set_base_offset(copy, base);
	logd_batch_set_log_append_time(copy, 1764000000000);
	FUZZ_CHECK(logd_batch_check(copy, info->size, &again) == 0);
	FUZZ_CHECK(again.base_offset == base);
	FUZZ_CHECK(again.max_timestamp == 1764000000000);
	FUZZ_CHECK(again.attributes & LOGD_ATTR_LOG_APPEND_TIME);
	FUZZ_CHECK(again.record_count == info->record_count);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct logd_batch_info info, hdr;
	struct logd_record fake;
	uint8_t *buf;
	size_t n, pos = 0;
	int mode, rc;

	if (size < 1)
		return 0;
	mode = data[0];
	n = size - 1;
	/* An exact-size copy, so ASan sees any read past the end. */
	buf = malloc(n ? n : 1);
	FUZZ_CHECK(buf != NULL);
	memcpy(buf, data + 1, n);
	if (mode & 1)
		fix_crcs(buf, n);

	while (pos < n) {
		rc = logd_batch_check(buf + pos, n - pos, &info);
		if (rc != 0) {
			FUZZ_CHECK(rc == LOGD_EBADBATCH || rc == LOGD_ECRC ||
			    rc == -EAGAIN);
			if (n - pos >= LOGD_BATCH_HEADER_SIZE)
				(void)logd_batch_header(buf + pos, n - pos,
				    &hdr);
			break;
		}
		FUZZ_CHECK(info.size >= LOGD_BATCH_HEADER_SIZE);
		FUZZ_CHECK(info.size <= n - pos);
		FUZZ_CHECK(info.record_count > 0);
		FUZZ_CHECK(logd_batch_header(buf + pos, n - pos, &hdr) == 0);
		FUZZ_CHECK(hdr.size == info.size);
		FUZZ_CHECK(hdr.base_offset == info.base_offset);
		FUZZ_CHECK(hdr.last_offset == info.last_offset);
		FUZZ_CHECK(hdr.record_count == info.record_count);
		iterate(buf + pos, &info);
		if (mode & 2)
			restamp(buf + pos, &info);
		pos += info.size;
	}

	/* The header walker on raw bytes, trusting a count from the input. */
	memset(&fake, 0, sizeof(fake));
	fake.headers = buf;
	fake.headers_len = n;
	walk_headers(&fake, buf, buf + n, 0);

	free(buf);
	return 0;
}
