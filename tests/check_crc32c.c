/*
 * check_crc32c.c - CRC32C: published vectors for both implementations,
 * incremental use, and the hardware path (one stream and three joined
 * streams) against the software path on random lengths and alignments,
 * with extra weight on the block boundaries of the three-stream loop.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logd.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

/* RFC 3720 appendix B.4 vectors (iSCSI), plus the usual check value. */
static void
vectors(crc_fn f)
{
	uint8_t buf[48];
	int i;
	/* B.4's "READ (10) command" iSCSI PDU. */
	static const uint8_t pdu[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
		0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};

	memset(buf, 0, 32);
	ck_assert_uint_eq(f(0, buf, 32), 0x8a9136aa);
	memset(buf, 0xff, 32);
	ck_assert_uint_eq(f(0, buf, 32), 0x62a8ab43);
	for (i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	ck_assert_uint_eq(f(0, buf, 32), 0x46dd794e);
	for (i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	ck_assert_uint_eq(f(0, buf, 32), 0x113fdb5c);
	ck_assert_uint_eq(f(0, pdu, sizeof(pdu)), 0xd9963a56);
	ck_assert_uint_eq(f(0, "123456789", 9), 0xe3069283);
	ck_assert_uint_eq(f(0, "", 0), 0);
	ck_assert_uint_eq(f(0, "a", 1), 0xc1d04330);
}

START_TEST(test_vectors_sw)
{
	vectors(logd_crc32c_sw);
}
END_TEST

START_TEST(test_vectors_dispatch)
{
	vectors(logd_crc32c);
}
END_TEST

START_TEST(test_hw_reported)
{
#if defined(__x86_64__)
	ck_assert_int_eq(logd_crc32c_hw(),
	    __builtin_cpu_supports("sse4.2") ? 1 : 0);
#else
	ck_assert_int_eq(logd_crc32c_hw(), 0);
#endif
}
END_TEST

/* Every split point of a buffer gives the same CRC as one call. */
START_TEST(test_incremental)
{
	uint8_t buf[1500];
	uint32_t whole, sw, a;
	size_t i, cut;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	whole = logd_crc32c(0, buf, sizeof(buf));
	sw = logd_crc32c_sw(0, buf, sizeof(buf));
	ck_assert_uint_eq(whole, sw);
	for (cut = 0; cut <= sizeof(buf); cut++) {
		a = logd_crc32c(0, buf, cut);
		ck_assert_uint_eq(logd_crc32c(a, buf + cut,
		    sizeof(buf) - cut), whole);
		a = logd_crc32c_sw(0, buf, cut);
		ck_assert_uint_eq(logd_crc32c_sw(a, buf + cut,
		    sizeof(buf) - cut), whole);
	}
}
END_TEST

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random lengths, alignments and starting values: hw == sw. */
START_TEST(test_hw_matches_sw_random)
{
	const size_t size = 256 * 1024;
	uint8_t *buf = malloc(size + 64);
	uint64_t s = 0x9e3779b97f4a7c15ull;
	size_t i, off, len;
	uint32_t seed;
	int t;

	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < size + 64; i++)
		buf[i] = (uint8_t)rnd(&s);
	for (t = 0; t < 3000; t++) {
		off = rnd(&s) % 64;
		/* Mostly short, some up to the whole buffer. */
		len = t % 10 == 0 ? rnd(&s) % size : rnd(&s) % 20000;
		seed = (uint32_t)rnd(&s);
		ck_assert_uint_eq(logd_crc32c(seed, buf + off, len),
		    logd_crc32c_sw(seed, buf + off, len));
	}
	free(buf);
}
END_TEST

/* Lengths around the three-stream block sizes (3 x 256, 3 x 4096). */
START_TEST(test_hw_matches_sw_boundaries)
{
	static const size_t bases[] = { 0, 8, 768, 1536, 12288, 24576,
	    12288 + 768, 65536 };
	const size_t size = 70000;
	uint8_t *buf = malloc(size + 16);
	uint64_t s = 12345;
	size_t i, b, off;
	long d;

	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < size + 16; i++)
		buf[i] = (uint8_t)rnd(&s);
	for (b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
		for (d = -9; d <= 9; d++) {
			if ((long)bases[b] + d < 0)
				continue;
			for (off = 0; off < 9; off++) {
				size_t len = (size_t)((long)bases[b] + d);

				ck_assert_uint_eq(logd_crc32c(0, buf + off,
				    len), logd_crc32c_sw(0, buf + off, len));
			}
		}
	}
	/* All zeros and all ones stress the joining of streams too. */
	memset(buf, 0, size);
	ck_assert_uint_eq(logd_crc32c(0, buf, size),
	    logd_crc32c_sw(0, buf, size));
	memset(buf, 0xff, size);
	ck_assert_uint_eq(logd_crc32c(0, buf, size),
	    logd_crc32c_sw(0, buf, size));
	free(buf);
}
END_TEST

static Suite *
crc32c_suite(void)
{
	Suite *s = suite_create("crc32c");
	TCase *tc;

	tc = tcase_create("vectors");
	tcase_add_test(tc, test_vectors_sw);
	tcase_add_test(tc, test_vectors_dispatch);
	tcase_add_test(tc, test_hw_reported);
	suite_add_tcase(s, tc);

	tc = tcase_create("incremental");
	tcase_add_test(tc, test_incremental);
	suite_add_tcase(s, tc);

	tc = tcase_create("hw_vs_sw");
	tcase_add_test(tc, test_hw_matches_sw_random);
	tcase_add_test(tc, test_hw_matches_sw_boundaries);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(crc32c_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
