/*
 * bench_batch.c - throughput of CRC32C (hardware and software paths) and
 * of building, checking and iterating batches of 1000 records with
 * 100-byte values, the broker's per-batch work.  Built by "make bench",
 * never run by "make check".  Each measurement runs for about half a
 * second of this thread's CPU time (so that other processes on a busy
 * machine disturb it less); the best of three rounds is printed.
 *
 * usage: bench_batch [seconds per measurement, default 0.5]
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logd.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Keeps results alive so the compiler cannot drop the work. */
static volatile uint64_t sink;

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

/* Best GB/s of crc over len bytes. */
static double
bench_crc(crc_fn f, const uint8_t *buf, size_t len, double secs)
{
	double best = 0;
	int round;

	for (round = 0; round < 3; round++) {
		double t0 = now(), t;
		uint64_t n = 0;

		/* Enough calls between clock reads to hide their cost. */
		int inner = len >= 65536 ? 16 : (int)(1048576 / len);

		do {
			for (int i = 0; i < inner; i++)
				sink += f(0, buf, len);
			n += (uint64_t)inner;
			t = now() - t0;
		} while (t < secs / 3);
		if ((double)n * (double)len / t / 1e9 > best)
			best = (double)n * (double)len / t / 1e9;
	}
	return best;
}

/* 1000 records: 7-byte keys (made once), 100-byte values. */
static char keys[1000][8];

static void
fill(struct logd_batch_builder *b, const char *value)
{
	logd_batch_builder_reset(b);
	for (int i = 0; i < 1000; i++) {
		if (logd_batch_builder_add(b, 1764000000000 + i, keys[i], 7,
		    value, 100, NULL, 0) != 0) {
			fprintf(stderr, "bench_batch: add failed\n");
			exit(1);
		}
	}
}

int
main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 0.5;
	const size_t big = 1 << 20;
	uint8_t *buf = malloc(big);
	struct logd_batch_builder *b;
	struct logd_batch_iter it;
	struct logd_record r;
	const uint8_t *batch;
	size_t len;
	char value[100];
	double t0, t, best;
	uint64_t n;
	int round, rc;

	if (buf == NULL || secs <= 0)
		return 1;
	for (size_t i = 0; i < big; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	memset(value, 'v', sizeof(value));
	for (int i = 0; i < 1000; i++)
		snprintf(keys[i], sizeof(keys[i]), "k%06u", (unsigned)i % 1000000u);

	printf("crc32c hw instruction: %s\n", logd_crc32c_hw() ? "yes" : "no");
	printf("crc32c     1 MiB: %6.2f GB/s (logd_crc32c)\n",
	    bench_crc(logd_crc32c, buf, big, secs));
	printf("crc32c_sw  1 MiB: %6.2f GB/s (slicing-by-8)\n",
	    bench_crc(logd_crc32c_sw, buf, big, secs));
	printf("crc32c   4 KiB: %6.2f GB/s, 256 B: %6.2f GB/s\n",
	    bench_crc(logd_crc32c, buf, 4096, secs),
	    bench_crc(logd_crc32c, buf, 256, secs));

	if (logd_batch_builder_new(&b) != 0)
		return 1;
	fill(b, value);
	if (logd_batch_builder_finish(b, &batch, &len) != 0)
		return 1;
	printf("batch: 1000 records x 100-byte values, %zu bytes\n", len);

	/* Build: reset + 1000 adds + finish (header and CRC). */
	best = 0;
	for (round = 0; round < 3; round++) {
		t0 = now();
		n = 0;
		do {
			fill(b, value);
			logd_batch_builder_finish(b, &batch, &len);
			sink += batch[20];
			n++;
			t = now() - t0;
		} while (t < secs / 3);
		if ((double)n / t > best)
			best = (double)n / t;
	}
	printf("build:   %8.0f batches/s = %5.2f M records/s (%.2f us/batch)\n",
	    best, best * 1000 / 1e6, 1e6 / best);

	/* Check: framing, CRC, every record. */
	best = 0;
	for (round = 0; round < 3; round++) {
		t0 = now();
		n = 0;
		do {
			for (int i = 0; i < 16; i++) {
				rc = logd_batch_check(batch, len, NULL);
				if (rc != 0) {
					fprintf(stderr, "check: %s\n",
					    logd_strerror(rc));
					return 1;
				}
			}
			n += 16;
			t = now() - t0;
		} while (t < secs / 3);
		if ((double)n / t > best)
			best = (double)n / t;
	}
	printf("check:   %8.0f batches/s = %5.2f M records/s (%.2f us/batch, "
	    "%.2f GB/s)\n", best, best * 1000 / 1e6, 1e6 / best,
	    best * (double)len / 1e9);

	/* Iterate: decode every record. */
	best = 0;
	for (round = 0; round < 3; round++) {
		t0 = now();
		n = 0;
		do {
			logd_batch_iter_init(&it, batch, len);
			while (logd_batch_iter_next(&it, &r) == 1)
				sink += r.value_len;
			n++;
			t = now() - t0;
		} while (t < secs / 3);
		if ((double)n / t > best)
			best = (double)n / t;
	}
	printf("iterate: %8.0f batches/s = %5.2f M records/s (%.2f us/batch)\n",
	    best, best * 1000 / 1e6, 1e6 / best);

	logd_batch_builder_free(b);
	free(buf);
	return 0;
}
