/*
 * bench_segments.c - a log of many segments: how long it takes to open,
 * how many maps it holds, and that every record reads back.
 *
 *   bench_segments [-n SEGMENTS] [-d DIR]
 *
 * Writes SEGMENTS (default 100000) one-record segments into DIR/log (a
 * new directory under /tmp by default; removed at the end), rolling on
 * every append (segment.ms 1 on a clock that advances 2 ms per append),
 * flushing every 500 appends as logd's flusher would, closes, reopens and reads every record from the start, and prints one
 * JSON line: segments, open ms, maps after open and after reading
 * (mappings of files in the log's directory, from /proc/self/maps), the
 * vm.max_map_count the machine has, and records read.  Before closed
 * segments were mapped on demand, each held three maps from open on, so
 * about 21,800 segments reached the default limit of 65530.
 */
#include "config.h"

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "logd.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int count_maps(const char *dir)
{
	char line[4096];
	size_t n = strlen(dir);
	int count = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	while (f && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');

		if (p && strncmp(p, dir, n) == 0)
			count++;
	}
	if (f)
		fclose(f);
	return count;
}

static long max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	return remove(path);
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_segments: %s: %s\n", what, logd_strerror(rc));
	exit(1);
}

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/logd-segments.XXXXXX", dir[4200];
	const char *base = NULL;
	struct logd_log_config c;
	struct logd_batch_builder *b;
	struct logd_log *log;
	const uint8_t *batch;
	long n = 100000, i, read = 0;
	int64_t first, last, off = 0, clock = 1000;
	double t0, open_ms;
	size_t len;
	int opt, rc, maps_open, maps_read;

	while ((opt = getopt(argc, argv, "n:d:")) != -1) {
		if (opt == 'n')
			n = atol(optarg);
		else if (opt == 'd')
			base = optarg;
		else {
			fprintf(stderr, "usage: bench_segments [-n SEGMENTS] "
			    "[-d DIR]\n");
			return 2;
		}
	}
	if (!base && !(base = mkdtemp(tmpl)))
		die("mkdtemp", -1);
	snprintf(dir, sizeof(dir), "%s/log", base);
	logd_log_config_default(&c);
	c.segment_ms = 1;
	c.retention_ms = -1;
	if ((rc = logd_log_open(dir, &c, clock, &log, NULL)))
		die("open", rc);
	if ((rc = logd_batch_builder_new(&b)))
		die("builder", rc);
	for (i = 0; i < n; i++) {
		logd_batch_builder_reset(b);
		if ((rc = logd_batch_builder_add(b, clock, NULL, 0, "reading",
		    7, NULL, 0)) || (rc = logd_batch_builder_finish(b, &batch,
		    &len)))
			die("build", rc);
		clock += 2;
		if ((rc = logd_log_append(log, batch, len, clock, &first,
		    &last)))
			die("append", rc);
		/* as logd's flusher does: synced segments give their fds back */
		if (i % 500 == 499) {
			struct logd_flush *f;

			if ((rc = logd_log_flush_begin(log, &f)) ||
			    (rc = logd_flush_run(f)) ||
			    (rc = logd_log_flush_end(log, f)))
				die("flush", rc);
		}
	}
	logd_log_close(log);
	t0 = now_ms();
	if ((rc = logd_log_open(dir, &c, clock, &log, NULL)))
		die("reopen", rc);
	open_ms = now_ms() - t0;
	maps_open = count_maps(dir);
	while (off < logd_log_end_offset(log)) {
		struct logd_read r;

		if ((rc = logd_log_read(log, off, 1 << 20, &r)))
			die("read", rc);
		off = r.next_offset;
		read += 1;
		logd_log_read_release(&r);
	}
	maps_read = count_maps(dir);
	printf("{\"segments\":%u,\"open_ms\":%.1f,\"maps_after_open\":%d,"
	    "\"maps_after_reading\":%d,\"vm_max_map_count\":%ld,"
	    "\"reads\":%ld,\"end_offset\":%" PRId64 "}\n",
	    logd_log_segment_count(log), open_ms, maps_open, maps_read,
	    max_map_count(), read, logd_log_end_offset(log));
	logd_log_close(log);
	logd_batch_builder_free(b);
	nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
