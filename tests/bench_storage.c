/*
 * bench_storage.c - in-process storage benchmark for partition logs.
 *
 * Appends N records of 100-byte values in batches of 1,000 (one batch is
 * built once with the builder and appended again and again: the log
 * rewrites baseOffset anyway), then reads everything back from the start,
 * iterating every record, then appends M more records with a
 * logd_log_flush() after every batch.  Prints one line per figure:
 *
 *   append: 10000000 records 1.234 s 8103727 records/s 874.0 MB/s
 *       (cpu 1.100 s: 9090909 records/cpu-s)
 *
 * and the same as one JSON object on the last line.  Works in a fresh
 * directory under /tmp (or under -d DIR) and removes it at the end.
 *
 * usage: bench_storage [-d dir] [-n records] [-f flush_records]
 *                      [-s segment_bytes] [-v value_bytes]
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "logd.h"

#define BATCH_RECORDS 1000

struct result {
	const char *name;
	uint64_t records, bytes;
	double secs;
	double cpu;               /* CPU seconds of this process */
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time of the process: rates per CPU second do not depend on what
 * else the machine runs (kernel writeback threads are not counted). */
static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	(void)sb;
	(void)type;
	(void)f;
	return remove(path);
}

static void
die(const char *what, int rc)
{
	fprintf(stderr, "bench_storage: %s: %s\n", what, logd_strerror(rc));
	exit(1);
}

static void
report(const struct result *r)
{
	printf("%s: %" PRIu64 " records %.3f s %.0f records/s %.1f MB/s "
	    "(cpu %.3f s: %.0f records/cpu-s)\n",
	    r->name, r->records, r->secs, r->records / r->secs,
	    r->bytes / r->secs / 1e6, r->cpu, r->records / r->cpu);
	fflush(stdout);
}

/* Appends batches of the prebuilt batch until n records; flush each? */
static struct result
run_append(struct logd_log *log, const uint8_t *batch, size_t len,
    uint64_t n, int flush, const char *name)
{
	struct result r = { name, 0, 0, 0, 0 };
	int64_t ts = wall_ms();
	double t0 = now_s(), c0 = cpu_s();
	int rc;

	while (r.records < n) {
		rc = logd_log_append(log, batch, len, ts, NULL, NULL);
		if (rc != 0)
			die("append", rc);
		if (flush && (rc = logd_log_flush(log)) != 0)
			die("flush", rc);
		r.records += BATCH_RECORDS;
		r.bytes += len;
	}
	r.secs = now_s() - t0;
	r.cpu = cpu_s() - c0;
	return r;
}

static struct result
run_read(struct logd_log *log, size_t max_bytes)
{
	struct result r = { "read", 0, 0, 0, 0 };
	int64_t off = logd_log_start_offset(log);
	int64_t end = logd_log_end_offset(log);
	double t0 = now_s(), c0 = cpu_s();
	uint64_t value_bytes = 0;

	while (off < end) {
		struct logd_read rd;
		size_t pos = 0;
		int rc = logd_log_read(log, off, max_bytes, &rd);

		if (rc != 0)
			die("read", rc);
		while (pos < rd.len) {
			struct logd_batch_info info;
			struct logd_batch_iter it;
			struct logd_record rec;

			rc = logd_batch_header(rd.data + pos, rd.len - pos,
			    &info);
			if (rc == 0)
				rc = logd_batch_iter_init(&it, rd.data + pos,
				    info.size);
			if (rc != 0)
				die("batch", rc);
			while ((rc = logd_batch_iter_next(&it, &rec)) == 1) {
				if (rec.offset >= off)
					r.records++;
				value_bytes += rec.value_len;
			}
			if (rc < 0)
				die("iterate", rc);
			pos += info.size;
		}
		r.bytes += rd.len;
		off = rd.next_offset;
		logd_log_read_release(&rd);
	}
	r.secs = now_s() - t0;
	r.cpu = cpu_s() - c0;
	(void)value_bytes;
	return r;
}

int
main(int argc, char **argv)
{
	struct logd_batch_builder *b;
	struct logd_log_config cfg;
	struct logd_log *log;
	struct result res[3];
	const uint8_t *batch;
	const char *parent = "/tmp";
	char dir[PATH_MAX], logdir[PATH_MAX + 8];
	uint64_t n = 10000000, nflush = 1000000;
	size_t len, vlen = 100;
	uint8_t *value;
	int c, i, rc;

	logd_log_config_default(&cfg);
	while ((c = getopt(argc, argv, "d:n:f:s:v:")) != -1) {
		switch (c) {
		case 'd':
			parent = optarg;
			break;
		case 'n':
			n = strtoull(optarg, NULL, 10);
			break;
		case 'f':
			nflush = strtoull(optarg, NULL, 10);
			break;
		case 's':
			cfg.segment_bytes = strtoull(optarg, NULL, 10);
			break;
		case 'v':
			vlen = strtoull(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: bench_storage [-d dir] "
			    "[-n records] [-f flush_records] "
			    "[-s segment_bytes] [-v value_bytes]\n");
			return 2;
		}
	}
	snprintf(dir, sizeof(dir), "%s/bench_storage.XXXXXX", parent);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(logdir, sizeof(logdir), "%s/p-0", dir);

	/* One batch of 1,000 records with 100-byte values. */
	value = malloc(vlen);
	if (value == NULL)
		die("malloc", -ENOMEM);
	for (i = 0; i < (int)vlen; i++)
		value[i] = (uint8_t)('a' + i % 26);
	if ((rc = logd_batch_builder_new(&b)) != 0)
		die("builder", rc);
	for (i = 0; i < BATCH_RECORDS; i++) {
		char key[16];
		int kl = snprintf(key, sizeof(key), "sensor-%03d", i % 100);

		rc = logd_batch_builder_add(b, wall_ms(), key, (size_t)kl,
		    value, vlen, NULL, 0);
		if (rc != 0)
			die("builder add", rc);
	}
	if ((rc = logd_batch_builder_finish(b, &batch, &len)) != 0)
		die("builder finish", rc);
	if ((rc = logd_batch_check(batch, len, NULL)) != 0)
		die("batch check", rc);

	if ((rc = logd_log_open(logdir, &cfg, wall_ms(), &log, NULL)) != 0)
		die("open", rc);
	res[0] = run_append(log, batch, len, n, 0, "append");
	report(&res[0]);
	res[1] = run_read(log, 1 << 20);
	report(&res[1]);
	if (res[1].records != res[0].records) {
		fprintf(stderr, "bench_storage: read %" PRIu64 " records, "
		    "appended %" PRIu64 "\n", res[1].records, res[0].records);
		return 1;
	}
	res[2] = run_append(log, batch, len, nflush, 1, "append_flush");
	report(&res[2]);
	logd_log_close(log);

	printf("{\"batch_records\": %d, \"value_bytes\": %zu, "
	    "\"batch_bytes\": %zu", BATCH_RECORDS, vlen, len);
	for (i = 0; i < 3; i++)
		printf(", \"%s\": {\"records\": %" PRIu64 ", \"seconds\": %.3f, "
		    "\"records_per_s\": %.0f, \"mb_per_s\": %.1f, "
		    "\"cpu_seconds\": %.3f, \"records_per_cpu_s\": %.0f}",
		    res[i].name, res[i].records, res[i].secs,
		    res[i].records / res[i].secs,
		    res[i].bytes / res[i].secs / 1e6, res[i].cpu,
		    res[i].records / res[i].cpu);
	printf("}\n");
	logd_batch_builder_free(b);
	free(value);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
