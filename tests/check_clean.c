/*
 * check_clean.c - log compaction (cleaner.c): keys overwritten many
 * times across segments compact to one record each, byte for byte
 * against a model (key -> last value, offset, timestamp, headers);
 * compressed and log-append-time batches; tombstones kept for
 * delete.retention.ms after a clean, then dropped; reads across the
 * gaps; a slice held during the swap; reopen and recovery (with and
 * without a recovery point) over the gaps; leftovers of an interrupted
 * swap; the dirty ratio and min.compaction.lag.ms; the store refusing
 * keyless records on a compacted topic; the config keys.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "logd.h"

static char tmpdir[64];
static char logdir[PATH_MAX];

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	(void)sb;
	(void)type;
	(void)f;
	return remove(path);
}

static void
setup(void)
{
	strcpy(tmpdir, "/tmp/check_clean.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(logdir, sizeof(logdir), "%s/t-0", tmpdir);
}

static void
teardown(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------ */
/* A model: every record produced                                      */
/* ------------------------------------------------------------------ */

struct mrec {
	int64_t offset, ts;
	int key;                  /* -1: no key */
	int tomb;
	char value[40];
	char hval[16];            /* one header "h" */
};

static struct mrec *model;
static size_t nmodel;

static uint64_t rng = 88172645463325252ULL;
static int lat_mode;         /* the log stamps log-append time */

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static void
compact_config(struct logd_log_config *c)
{
	logd_log_config_default(c);
	c->segment_bytes = 16 << 10;
	c->index_interval = 256;
	c->cleanup_policy = LOGD_CLEANUP_COMPACT;
	c->retention_ms = -1;
}

/*
 * Appends one batch of n records with random keys out of nkeys (tomb_pct
 * percent tombstones), codec as given; records in the model.
 */
static void
append_batch(struct logd_log *log, struct logd_batch_builder *b, int n,
    int nkeys, int tomb_pct, int codec, int64_t ts)
{
	const uint8_t *data;
	size_t len;
	int64_t first, last;
	int i;

	logd_batch_builder_reset(b);
	ck_assert_int_eq(logd_batch_builder_set_codec(b, codec), 0);
	model = realloc(model, (nmodel + (size_t)n) * sizeof(*model));
	for (i = 0; i < n; i++) {
		struct mrec *m = &model[nmodel + (size_t)i];
		struct logd_header h = { "h", 1, m->hval, 0 };
		char key[16];

		memset(m, 0, sizeof(*m));
		m->key = (int)(rnd() % (uint32_t)nkeys);
		m->tomb = (int)(rnd() % 100) < tomb_pct;
		m->ts = lat_mode ? ts : ts + i;
		snprintf(m->value, sizeof(m->value), "value-%zu-%u",
		    nmodel + (size_t)i, rnd() % 1000);
		snprintf(m->hval, sizeof(m->hval), "h%u", rnd() % 100);
		h.value_len = strlen(m->hval);
		snprintf(key, sizeof(key), "key-%d", m->key);
		ck_assert_int_eq(logd_batch_builder_add(b, m->ts, key,
		    strlen(key), m->tomb ? NULL : m->value, strlen(m->value),
		    &h, 1), 0);
	}
	ck_assert_int_eq(logd_batch_builder_finish(b, &data, &len), 0);
	ck_assert_int_eq(logd_log_append(log, data, len, ts, &first, &last),
	    0);
	for (i = 0; i < n; i++)
		model[nmodel + (size_t)i].offset = first + i;
	nmodel += (size_t)n;
}

/*
 * What the log must hold after a clean of everything below `end` (the
 * active segment's base): records at or past end, and below it the last
 * record of each key (tombstones too unless drop_tombs).
 */
static int
expected(size_t i, int64_t end, int drop_tombs)
{
	const struct mrec *m = &model[i];
	size_t j;

	if (m->offset >= end)
		return 1;
	for (j = i + 1; j < nmodel && model[j].offset < end; j++)
		if (model[j].key == m->key)
			return 0;
	return !(m->tomb && drop_tombs);
}

/* Reads the whole log and compares it with the model. */
static void
check_against_model(struct logd_log *log, int64_t end, int drop_tombs,
    size_t *kept)
{
	int64_t off = logd_log_start_offset(log), prev = -1;
	size_t i = 0, n = 0;

	while (off < logd_log_end_offset(log)) {
		struct logd_read r;
		struct logd_cursor cur;
		struct logd_record rec;
		struct logd_batch_info info;
		size_t pos;
		int rc;

		ck_assert_int_eq(logd_log_read(log, off, 1 << 20, &r), 0);
		ck_assert_uint_gt(r.len, 0);
		/* every batch is a valid RecordBatch v2 */
		for (pos = 0; pos < r.len; pos += info.size) {
			ck_assert_int_eq(logd_batch_check(r.data + pos,
			    r.len - pos, &info), 0);
			ck_assert_int_eq(logd_batch_check_deep(r.data + pos,
			    &info, &(const char *){ NULL }), 0);
		}
		logd_cursor_init(&cur, r.data, r.len, off);
		while ((rc = logd_cursor_next(&cur, &rec)) == 1) {
			char key[16];
			size_t hp = 0;
			struct logd_header h;

			while (i < nmodel && !expected(i, end, drop_tombs))
				i++;
			ck_assert_uint_lt(i, nmodel);
			ck_assert_int_gt(rec.offset, prev);
			ck_assert_int_eq(rec.offset, model[i].offset);
			ck_assert_int_eq(rec.timestamp, model[i].ts);
			snprintf(key, sizeof(key), "key-%d", model[i].key);
			ck_assert_uint_eq(rec.key_len, strlen(key));
			ck_assert(memcmp(rec.key, key, rec.key_len) == 0);
			if (model[i].tomb) {
				ck_assert_ptr_null(rec.value);
			} else {
				ck_assert_ptr_nonnull(rec.value);
				ck_assert_uint_eq(rec.value_len,
				    strlen(model[i].value));
				ck_assert(memcmp(rec.value, model[i].value,
				    rec.value_len) == 0);
			}
			ck_assert_int_eq(logd_record_header_next(&rec, &hp, &h),
			    1);
			ck_assert_uint_eq(h.value_len, strlen(model[i].hval));
			ck_assert(memcmp(h.value, model[i].hval,
			    h.value_len) == 0);
			prev = rec.offset;
			i++;
			n++;
		}
		ck_assert_int_eq(rc, 0);
		logd_cursor_release(&cur);
		ck_assert_int_gt(r.next_offset, off);
		off = r.next_offset;
		logd_log_read_release(&r);
	}
	while (i < nmodel && !expected(i, end, drop_tombs))
		i++;
	ck_assert_uint_eq(i, nmodel);
	if (kept != NULL)
		*kept = n;
}

static void
model_reset(void)
{
	free(model);
	model = NULL;
	nmodel = 0;
}

/* Every segment file of the log verifies clean (logctl verify). */
static void
verify_all(void)
{
	char path[PATH_MAX + 64];
	int64_t base;
	int found = 0;

	for (base = 0; base < 200000; base++) {
		struct logd_segment_report r;

		snprintf(path, sizeof(path), "%s/%020" PRId64 ".log", logdir,
		    base);
		if (access(path, F_OK) != 0)
			continue;
		found++;
		ck_assert_int_eq(logd_segment_verify(path, &r), 0);
		ck_assert_msg(r.error == 0 && r.index_error == 0,
		    "%s: %s / %s", path, logd_strerror(r.error),
		    logd_strerror(r.index_error));
	}
	ck_assert_int_gt(found, 0);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static void
overwrite_run(int codec, int lat)
{
	struct logd_log_config cfg;
	struct logd_batch_builder *b;
	struct logd_clean_stats st;
	struct logd_log *log;
	int64_t end, now = 1700000000000;
	size_t kept, kept2;
	int i;

	model_reset();
	compact_config(&cfg);
	cfg.log_append_time = lat;
	lat_mode = lat;
	ck_assert_int_eq(logd_log_open(logdir, &cfg, now, &log, NULL), 0);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	for (i = 0; i < 400; i++)
		append_batch(log, b, 1 + (int)(rnd() % 20), 50, 0,
		    i % 3 == 0 ? codec : LOGD_CODEC_NONE, now + i * 100);
	ck_assert_uint_gt(logd_log_segment_count(log), 5);
	ck_assert_int_eq(logd_log_flush(log), 0);
	ck_assert(logd_log_dirty_ratio(log, now, NULL) == 1.0);
	ck_assert_int_eq(logd_log_clean(log, now + 100000, 0, &st), 0);
	ck_assert_uint_gt(st.segments, 0);
	ck_assert_uint_lt(st.records_kept, st.records_read);
	ck_assert_uint_le(st.keys, 50);
	ck_assert_uint_lt(st.bytes_after, st.bytes_before);
	end = st.clean_point;
	ck_assert_int_gt(end, 0);
	check_against_model(log, end, 0, &kept);
	/* one record per key below the clean point */
	ck_assert_uint_le(kept - (size_t)(logd_log_end_offset(log) - end), 50);
	/* the time index of the cleaned segments: first kept record at or
	 * after each time, in offset order */
	for (i = 0; i < 50; i++) {
		int64_t ts = now + (int64_t)(rnd() % 40000), want = -1, got;
		size_t j;

		for (j = 0; j < nmodel && want < 0; j++)
			if (expected(j, end, 0) && model[j].ts >= ts)
				want = model[j].offset;
		if (want < 0)
			want = logd_log_end_offset(log);
		ck_assert_int_eq(logd_log_offset_for_time(log, ts, &got), 0);
		ck_assert_msg(got == want, "ts %" PRId64 ": %" PRId64 " want %"
		    PRId64, ts, got, want);
	}
	ck_assert(logd_log_dirty_ratio(log, now, NULL) == 0.0);
	/* again: nothing dirty, nothing to do */
	ck_assert_int_eq(logd_log_clean(log, now + 100000, 0, &st), 0);
	ck_assert_uint_eq(st.segments, 0);
	logd_log_close(log);
	verify_all();
	/* reopen: trusted below the recovery point, gaps and all */
	ck_assert_int_eq(logd_log_open(logdir, &cfg, now, &log, NULL), 0);
	ck_assert_int_eq(logd_log_clean_point(log), end);
	check_against_model(log, end, 0, &kept2);
	ck_assert_uint_eq(kept, kept2);
	logd_log_close(log);
	/* and without a recovery point: every segment scanned */
	{
		char rp[PATH_MAX + 32];

		snprintf(rp, sizeof(rp), "%s/recovery-point", logdir);
		ck_assert_int_eq(unlink(rp), 0);
	}
	ck_assert_int_eq(logd_log_open(logdir, &cfg, now, &log, NULL), 0);
	check_against_model(log, end, 0, &kept2);
	ck_assert_uint_eq(kept, kept2);
	ck_assert_int_eq(logd_log_end_offset(log), (int64_t)nmodel);
	logd_log_close(log);
	logd_batch_builder_free(b);
	lat_mode = 0;
}

START_TEST(test_overwrite_model)
{
	overwrite_run(LOGD_CODEC_NONE, 0);
}
END_TEST

START_TEST(test_overwrite_compressed)
{
	overwrite_run(LOGD_CODEC_GZIP, 0);
	teardown();
	setup();
	overwrite_run(LOGD_CODEC_LZ4, 0);
	teardown();
	setup();
	overwrite_run(LOGD_CODEC_ZSTD, 1);
}
END_TEST

/* Cleans twice while producing: the second run sees new dirty data. */
START_TEST(test_incremental)
{
	struct logd_log_config cfg;
	struct logd_batch_builder *b;
	struct logd_clean_stats st;
	struct logd_log *log;
	int64_t now = 1700000000000;
	int i, round;

	model_reset();
	compact_config(&cfg);
	ck_assert_int_eq(logd_log_open(logdir, &cfg, now, &log, NULL), 0);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	for (round = 0; round < 4; round++) {
		for (i = 0; i < 150; i++)
			append_batch(log, b, 10, 200, 0, LOGD_CODEC_NONE,
			    now + round * 100000 + i * 10);
		ck_assert_int_eq(logd_log_clean(log, now, 0, &st), 0);
		check_against_model(log, st.clean_point, 0, NULL);
	}
	logd_log_close(log);
	logd_batch_builder_free(b);
	verify_all();
}
END_TEST

/* A tiny key map: each clean covers part of the dirty range. */
START_TEST(test_bounded_map)
{
	struct logd_log_config cfg;
	struct logd_batch_builder *b;
	struct logd_clean_stats st;
	struct logd_clean *c;
	struct logd_log *log;
	int64_t now = 1700000000000, prev = 0;
	int i, runs = 0;

	model_reset();
	compact_config(&cfg);
	ck_assert_int_eq(logd_log_open(logdir, &cfg, now, &log, NULL), 0);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	for (i = 0; i < 300; i++)
		append_batch(log, b, 10, 5000, 0, LOGD_CODEC_NONE, now + i);
	append_batch(log, b, 1, 5000, 0, LOGD_CODEC_NONE, now + 1000);
	ck_assert_int_eq(logd_log_flush(log), 0);
	for (;;) {
		/* 1024 slots, 768 keys a pass */
		ck_assert_int_eq(logd_log_clean_begin(log, now, 0, 1,
		    &c), 0);
		if (c == NULL)
			break;
		ck_assert_int_eq(logd_clean_run(c), 0);
		ck_assert_int_eq(logd_log_clean_end(log, c, &st), 0);
		ck_assert_int_gt(st.clean_point, prev);
		ck_assert_uint_le(st.keys, 768);
		prev = st.clean_point;
		runs++;
		ck_assert_int_lt(runs, 100);
	}
	ck_assert_int_ge(runs, 2);
	/* after all passes: as one clean of everything closed */
	check_against_model(log, prev, 0, NULL);
	logd_log_close(log);
	logd_batch_builder_free(b);
}
END_TEST

/* logd_clean_set_io_limit(): a clean reads no faster than asked. */
START_TEST(test_io_limit)
{
	struct logd_log_config cfg;
	struct logd_batch_builder *b;
	struct logd_clean_stats st;
	struct logd_clean *c;
	struct logd_log *log;
	int64_t now = 1700000000000;
	int i;

	model_reset();
	compact_config(&cfg);
	ck_assert_int_eq(logd_log_open(logdir, &cfg, now, &log, NULL), 0);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	for (i = 0; i < 400; i++)
		append_batch(log, b, 10, 100, 0, LOGD_CODEC_NONE, now + i);
	ck_assert_int_eq(logd_log_flush(log), 0);
	ck_assert_int_eq(logd_log_clean_begin(log, now, 0, 0, &c), 0);
	ck_assert_ptr_nonnull(c);
	/* about 2 x 150 KB read at 600 KB/s: half a second */
	logd_clean_set_io_limit(c, 600000);
	ck_assert_int_eq(logd_clean_run(c), 0);
	ck_assert_int_eq(logd_log_clean_end(log, c, &st), 0);
	ck_assert_uint_gt(st.bytes_before, 100000);
	ck_assert_int_ge(st.run_ms, (int64_t)(st.bytes_before * 2 * 1000 /
	    600000) - 50);
	check_against_model(log, st.clean_point, 0, NULL);
	logd_log_close(log);
	logd_batch_builder_free(b);
}
END_TEST

START_TEST(test_tombstones)
{
	struct logd_log_config cfg;
	struct logd_batch_builder *b;
	struct logd_clean_stats st;
	struct logd_log *log;
	int64_t t = 1700000000000, end;
	int i;

	model_reset();
	compact_config(&cfg);
	cfg.delete_retention_ms = 60000;
	ck_assert_int_eq(logd_log_open(logdir, &cfg, t, &log, NULL), 0);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	for (i = 0; i < 200; i++)
		append_batch(log, b, 10, 30, 30, LOGD_CODEC_NONE, t + i);
	/* first clean at t: tombstones stay (their segments were dirty) */
	ck_assert_int_eq(logd_log_clean(log, t, 0, &st), 0);
	end = st.clean_point;
	ck_assert_uint_eq(st.tombstones_dropped, 0);
	check_against_model(log, end, 0, NULL);
	/* a forced clean within delete.retention.ms keeps them */
	ck_assert_int_eq(logd_log_clean(log, t + 59000, LOGD_CLEAN_FORCE,
	    &st), 0);
	ck_assert_uint_eq(st.tombstones_dropped, 0);
	check_against_model(log, end, 0, NULL);
	/* past it they go */
	ck_assert_int_eq(logd_log_clean(log, t + 61000, LOGD_CLEAN_FORCE,
	    &st), 0);
	ck_assert_uint_gt(st.tombstones_dropped, 0);
	ck_assert_int_eq(st.clean_point, end);
	check_against_model(log, end, 1, NULL);
	logd_log_close(log);
	verify_all();
	ck_assert_int_eq(logd_log_open(logdir, &cfg, t, &log, NULL), 0);
	check_against_model(log, end, 1, NULL);
	logd_log_close(log);
	logd_batch_builder_free(b);
}
END_TEST

/* Every record a tombstone: cleaned segments empty out and go. */
START_TEST(test_all_deleted)
{
	struct logd_log_config cfg;
	struct logd_batch_builder *b;
	struct logd_clean_stats st;
	struct logd_log *log;
	int64_t t = 1700000000000, end;
	int i;

	model_reset();
	compact_config(&cfg);
	cfg.delete_retention_ms = 0;
	ck_assert_int_eq(logd_log_open(logdir, &cfg, t, &log, NULL), 0);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	for (i = 0; i < 400; i++)
		append_batch(log, b, 10, 10, 100, LOGD_CODEC_NONE, t + i);
	ck_assert_int_eq(logd_log_clean(log, t, 0, &st), 0);
	end = st.clean_point;
	ck_assert_msg(st.deleted > 0, "segments %u deleted %u read %llu kept %llu",
	    st.segments, st.deleted, (unsigned long long)st.records_read,
	    (unsigned long long)st.records_kept);
	ck_assert_int_eq(logd_log_clean(log, t + 1, LOGD_CLEAN_FORCE, &st),
	    0);
	ck_assert_uint_gt(st.tombstones_dropped, 0);
	/* an empty first segment (the log start stays 0), the active one */
	ck_assert_uint_eq(logd_log_segment_count(log), 2);
	ck_assert_int_eq(logd_log_start_offset(log), 0);
	check_against_model(log, end, 1, NULL);
	logd_log_close(log);
	verify_all();
	ck_assert_int_eq(logd_log_open(logdir, &cfg, t, &log, NULL), 0);
	ck_assert_int_eq(logd_log_start_offset(log), 0);
	check_against_model(log, end, 1, NULL);
	/* more data, cleaned again past the empty segment */
	for (i = 0; i < 100; i++)
		append_batch(log, b, 10, 10, 0, LOGD_CODEC_NONE, t + i);
	ck_assert_int_eq(logd_log_clean(log, t + 2, 0, &st), 0);
	ck_assert_uint_gt(st.segments, 0);
	check_against_model(log, st.clean_point, 1, NULL);
	logd_log_close(log);
	/* recovery without a recovery point scans the empty segment */
	{
		char rp[PATH_MAX + 32];

		snprintf(rp, sizeof(rp), "%s/recovery-point", logdir);
		ck_assert_int_eq(unlink(rp), 0);
	}
	ck_assert_int_eq(logd_log_open(logdir, &cfg, t, &log, NULL), 0);
	ck_assert_int_eq(logd_log_start_offset(log), 0);
	check_against_model(log, st.clean_point, 1, NULL);
	logd_log_close(log);
	logd_batch_builder_free(b);
}
END_TEST

/*
 * The last cleaned segment ends in a gap (its last record, a tombstone,
 * expired) and the active segment is empty (its unsynced data lost in a
 * crash): a read in the gap is a read at the end, not an error.
 */
START_TEST(test_gap_at_end)
{
	static char big[15000];
	struct logd_log_config cfg;
	struct logd_batch_builder *b;
	struct logd_clean_stats st;
	struct logd_log *log;
	struct logd_read r;
	const uint8_t *data;
	size_t len;
	int64_t t = 1700000000000, last, tomb, active;
	char path[PATH_MAX + 64];
	uint32_t nseg;
	int i;

	model_reset();
	compact_config(&cfg);
	cfg.delete_retention_ms = 0;
	ck_assert_int_eq(logd_log_open(logdir, &cfg, t, &log, NULL), 0);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	for (i = 0; i < 60; i++)
		append_batch(log, b, 10, 10, 0, LOGD_CODEC_NONE, t);
	nseg = logd_log_segment_count(log);
	logd_batch_builder_reset(b);
	ck_assert_int_eq(logd_batch_builder_add(b, t, "gone", 4, NULL, 0,
	    NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(b, &data, &len), 0);
	ck_assert_int_eq(logd_log_append(log, data, len, t, &tomb, &last), 0);
	ck_assert_uint_eq(logd_log_segment_count(log), nseg);
	/* a batch that fits only in an empty segment: it rolls */
	logd_batch_builder_reset(b);
	ck_assert_int_eq(logd_batch_builder_add(b, t, "k", 1, big,
	    sizeof(big), NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(b, &data, &len), 0);
	ck_assert_int_eq(logd_log_append(log, data, len, t, &active, &last),
	    0);
	ck_assert_uint_eq(logd_log_segment_count(log), nseg + 1);
	ck_assert_int_eq(logd_log_clean(log, t, 0, &st), 0);
	ck_assert_int_eq(logd_log_clean(log, t + 1, LOGD_CLEAN_FORCE, &st), 0);
	ck_assert_uint_gt(st.tombstones_dropped, 0);
	logd_log_close(log);
	/* the crash: the active segment's bytes never reached the disk */
	snprintf(path, sizeof(path), "%s/%020" PRId64 ".log", logdir, active);
	ck_assert_int_eq(truncate(path, 0), 0);
	snprintf(path, sizeof(path), "%s/recovery-point", logdir);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(logd_log_open(logdir, &cfg, t, &log, NULL), 0);
	ck_assert_int_eq(logd_log_end_offset(log), active);
	ck_assert_int_eq(logd_log_read(log, tomb, 4096, &r), 0);
	ck_assert_uint_eq(r.len, 0);
	ck_assert_int_eq(r.next_offset, active);
	for (i = 0; i < tomb; i++) {
		ck_assert_int_eq(logd_log_read(log, i, 4096, &r), 0);
		ck_assert_uint_gt(r.len, 0);
		logd_log_read_release(&r);
	}
	logd_log_close(log);
	logd_batch_builder_free(b);
}
END_TEST

/* A slice read before the swap stays as it was until released; reads
 * at removed offsets get the next record kept. */
START_TEST(test_held_read)
{
	struct logd_log_config cfg;
	struct logd_batch_builder *b;
	struct logd_clean_stats st;
	struct logd_log *log;
	struct logd_read r, r2;
	int64_t t = 1700000000000;
	uint8_t *copy;
	size_t i;

	model_reset();
	compact_config(&cfg);
	ck_assert_int_eq(logd_log_open(logdir, &cfg, t, &log, NULL), 0);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	for (i = 0; i < 200; i++)
		append_batch(log, b, 10, 20, 0, LOGD_CODEC_NONE, t);
	ck_assert_int_eq(logd_log_read(log, 0, 1 << 20, &r), 0);
	copy = malloc(r.len);
	memcpy(copy, r.data, r.len);
	ck_assert_int_eq(logd_log_clean(log, t, 0, &st), 0);
	ck_assert_uint_gt(st.segments, 0);
	ck_assert(memcmp(copy, r.data, r.len) == 0);
	/* every offset below the clean point reads its next kept record */
	for (i = 0; i < nmodel && model[i].offset < st.clean_point; i++) {
		struct logd_cursor cur;
		struct logd_record rec;
		size_t j;


		for (j = i; j < nmodel && !expected(j, st.clean_point, 0); j++)
			;
		ck_assert_int_eq(logd_log_read(log, model[i].offset, 4096,
		    &r2), 0);
		logd_cursor_init(&cur, r2.data, r2.len, model[i].offset);
		ck_assert_int_eq(logd_cursor_next(&cur, &rec), 1);
		ck_assert_int_eq(rec.offset, model[j].offset);
		logd_cursor_release(&cur);
		logd_log_read_release(&r2);
	}
	logd_log_read_release(&r);
	free(copy);
	logd_log_close(log);
	logd_batch_builder_free(b);
}
END_TEST

static void
copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out;
	ssize_t n;

	ck_assert_int_ge(in, 0);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(out, 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

/* What a crash in the middle of a swap leaves, both ways. */
START_TEST(test_leftovers)
{
	struct logd_log_config cfg;
	struct logd_batch_builder *b;
	struct logd_log *log;
	int64_t t = 1700000000000;
	char a[PATH_MAX + 64], c[PATH_MAX + 64];
	struct stat sb;
	size_t i;

	model_reset();
	compact_config(&cfg);
	ck_assert_int_eq(logd_log_open(logdir, &cfg, t, &log, NULL), 0);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	for (i = 0; i < 100; i++)
		append_batch(log, b, 10, 20, 0, LOGD_CODEC_NONE, t);
	logd_log_close(log);
	/* not committed: a .log.cleaned (garbage) and its indexes */
	snprintf(a, sizeof(a), "%s/%020d.log.cleaned", logdir, 0);
	ck_assert_int_eq(close(open(a, O_WRONLY | O_CREAT, 0644)), 0);
	snprintf(a, sizeof(a), "%s/%020d.idx.cleaned", logdir, 0);
	ck_assert_int_eq(close(open(a, O_WRONLY | O_CREAT, 0644)), 0);
	/* committed: the .log swapped, its .idx.cleaned left */
	snprintf(a, sizeof(a), "%s/%020d.idx", logdir, 0);
	snprintf(c, sizeof(c), "%s/%020d.idx.x", logdir, 0);
	copy_file(a, c);
	ck_assert_int_eq(logd_log_open(logdir, &cfg, t, &log, NULL), 0);
	snprintf(a, sizeof(a), "%s/%020d.log.cleaned", logdir, 0);
	ck_assert_int_eq(stat(a, &sb), -1);
	snprintf(a, sizeof(a), "%s/%020d.idx.cleaned", logdir, 0);
	ck_assert_int_eq(stat(a, &sb), -1);
	check_against_model(log, 0, 0, NULL);
	logd_log_close(log);
	snprintf(a, sizeof(a), "%s/%020d.idx.cleaned", logdir, 0);
	ck_assert_int_eq(rename(c, a), 0);
	snprintf(c, sizeof(c), "%s/%020d.idx", logdir, 0);
	ck_assert_int_eq(unlink(c), 0);
	ck_assert_int_eq(logd_log_open(logdir, &cfg, t, &log, NULL), 0);
	ck_assert_int_eq(stat(a, &sb), -1);
	ck_assert_int_eq(stat(c, &sb), 0);
	check_against_model(log, 0, 0, NULL);
	logd_log_close(log);
	verify_all();
	logd_batch_builder_free(b);
}
END_TEST

START_TEST(test_ratio_and_lag)
{
	struct logd_log_config cfg;
	struct logd_batch_builder *b;
	struct logd_clean_stats st;
	struct logd_log *log;
	int64_t t = 1700000000000, tl = t + 3601000;
	uint64_t dirty;
	double ratio;
	size_t i;

	model_reset();
	compact_config(&cfg);
	cfg.min_compaction_lag_ms = 3600000;
	ck_assert_int_eq(logd_log_open(logdir, &cfg, t, &log, NULL), 0);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	for (i = 0; i < 200; i++)
		append_batch(log, b, 10, 3000, 0, LOGD_CODEC_NONE, t);
	ck_assert_int_eq(logd_log_flush(log), 0);
	/* newer than the lag: not cleanable */
	ck_assert(logd_log_dirty_ratio(log, t, &dirty) == 0.0);
	ck_assert_int_eq(logd_log_clean(log, t, LOGD_CLEAN_FORCE, &st), 0);
	ck_assert_uint_eq(st.segments, 0);
	ck_assert_int_eq(logd_log_clean(log, tl, 0, &st), 0);
	ck_assert_uint_gt(st.segments, 0);
	/* a little new dirty data: under the 0.5 ratio */
	for (i = 0; i < 60; i++)
		append_batch(log, b, 10, 3000, 0, LOGD_CODEC_NONE, t);
	ck_assert_int_eq(logd_log_flush(log), 0);
	ratio = logd_log_dirty_ratio(log, tl, &dirty);
	ck_assert_msg(ratio > 0.0 && ratio < 0.5, "ratio %f", ratio);
	ck_assert_int_eq(logd_log_clean(log, tl, 0, &st), 0);
	ck_assert_uint_eq(st.segments, 0);
	ck_assert_int_eq(logd_log_clean(log, tl, LOGD_CLEAN_FORCE, &st), 0);
	ck_assert_uint_gt(st.records_read, 0);
	check_against_model(log, st.clean_point, 0, NULL);
	/* a delete-only log is never cleaned */
	cfg.cleanup_policy = LOGD_CLEANUP_DELETE;
	logd_log_set_config(log, &cfg);
	for (i = 0; i < 200; i++)
		append_batch(log, b, 10, 20, 0, LOGD_CODEC_NONE, t);
	ck_assert_int_eq(logd_log_clean(log, tl, LOGD_CLEAN_FORCE, &st), 0);
	ck_assert_uint_eq(st.records_read, 0);
	logd_log_close(log);
	logd_batch_builder_free(b);
}
END_TEST

START_TEST(test_store_keyless)
{
	struct logd_topic_config tc;
	struct logd_store *st;
	struct logd_batch_builder *b;
	struct logd_produce p;
	const uint8_t *data;
	size_t len;
	char dir[PATH_MAX], buf[1024];

	snprintf(dir, sizeof(dir), "%s/data", tmpdir);
	ck_assert_int_eq(logd_store_open(dir, LOGD_STORE_CREATE, 0, NULL,
	    NULL, &st), 0);
	logd_topic_config_default(&tc);
	ck_assert_int_eq(logd_topic_config_set(&tc, "cleanup.policy",
	    "compact"), 0);
	ck_assert_int_eq(logd_store_topic_create(st, "latest", &tc, 0), 0);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	ck_assert_int_eq(logd_batch_builder_add(b, 1, "k", 1, "v", 1, NULL,
	    0), 0);
	ck_assert_int_eq(logd_batch_builder_add(b, 1, NULL, 0, "v", 1, NULL,
	    0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(b, &data, &len), 0);
	memset(&p, 0, sizeof(p));
	p.topic = "latest";
	p.partition = 0;
	p.data = data;
	p.len = len;
	ck_assert_int_eq(logd_store_produce(st, &p), LOGD_ENOKEY);
	ck_assert_ptr_nonnull(p.why);
	ck_assert_str_eq(logd_strerror(LOGD_ENOKEY),
	    "a compacted topic takes only records with a key");
	logd_batch_builder_reset(b);
	ck_assert_int_eq(logd_batch_builder_add(b, 1, "k", 1, NULL, 0, NULL,
	    0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(b, &data, &len), 0);
	p.data = data;
	p.len = len;
	ck_assert_int_eq(logd_store_produce(st, &p), 0);
	/* the config is stored and reads back */
	ck_assert_int_eq(logd_store_topic_alter(st, "latest",
	    "min.cleanable.dirty.ratio", "0.25", 0), 0);
	ck_assert_int_eq(logd_store_topic_alter(st, "latest",
	    "delete.retention.ms", "1000", 0), 0);
	logd_store_close(st);
	ck_assert_int_eq(logd_store_open(dir, 0, 0, NULL, NULL, &st), 0);
	ck_assert_int_eq(logd_store_topic_config(st, "latest", &tc), 0);
	logd_topic_config_format(&tc, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "cleanup.policy=compact\n"));
	ck_assert_ptr_nonnull(strstr(buf, "min.cleanable.dirty.ratio=0.25\n"));
	ck_assert_ptr_nonnull(strstr(buf, "min.compaction.lag.ms=0\n"));
	ck_assert_ptr_nonnull(strstr(buf, "delete.retention.ms=1000\n"));
	logd_store_close(st);
	logd_batch_builder_free(b);
}
END_TEST

START_TEST(test_config_keys)
{
	struct logd_topic_config c;
	char buf[256];

	logd_topic_config_default(&c);
	ck_assert_int_eq(c.log.cleanup_policy, LOGD_CLEANUP_DELETE);
	ck_assert(c.log.min_cleanable_dirty_ratio == 0.5);
	ck_assert_int_eq(c.log.delete_retention_ms, 86400000);
	ck_assert_int_eq(logd_topic_config_set(&c, "cleanup.policy",
	    "compact,delete"), 0);
	ck_assert_int_eq(c.log.cleanup_policy, 3);
	ck_assert_int_eq(logd_topic_config_set(&c, "cleanup.policy",
	    "delete,compact"), 0);
	ck_assert_int_eq(logd_topic_config_set(&c, "cleanup.policy",
	    "compacted"), LOGD_EBADCONFIG);
	ck_assert_int_eq(logd_topic_config_set(&c, "cleanup.policy", ""),
	    LOGD_EBADCONFIG);
	ck_assert_int_eq(logd_topic_config_set(&c,
	    "min.cleanable.dirty.ratio", "1.5"), LOGD_EBADCONFIG);
	ck_assert_int_eq(logd_topic_config_set(&c,
	    "min.cleanable.dirty.ratio", "-0.1"), LOGD_EBADCONFIG);
	ck_assert_int_eq(logd_topic_config_set(&c,
	    "min.cleanable.dirty.ratio", "0.x"), LOGD_EBADCONFIG);
	ck_assert_int_eq(logd_topic_config_set(&c,
	    "min.cleanable.dirty.ratio", "."), LOGD_EBADCONFIG);
	ck_assert_int_eq(logd_topic_config_set(&c,
	    "min.cleanable.dirty.ratio", "0.01"), 0);
	ck_assert(c.log.min_cleanable_dirty_ratio == 0.01);
	ck_assert_int_eq(logd_topic_config_set(&c, "min.compaction.lag.ms",
	    "-1"), LOGD_EBADCONFIG);
	ck_assert_int_eq(logd_topic_config_set(&c, "delete.retention.ms",
	    "0"), 0);
	logd_topic_config_error("cleanup.policy", "x", buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "compact,delete"));
	logd_topic_config_error("min.cleanable.dirty.ratio", "2", buf,
	    sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "from 0 to 1"));
}
END_TEST

static Suite *
clean_suite(void)
{
	Suite *s = suite_create("clean");
	TCase *tc;

#define ADD(name, fn) \
	tc = tcase_create(name); \
	tcase_add_checked_fixture(tc, setup, teardown); \
	tcase_set_timeout(tc, 120); \
	tcase_add_test(tc, fn); \
	suite_add_tcase(s, tc)

	ADD("overwrite_model", test_overwrite_model);
	ADD("overwrite_compressed", test_overwrite_compressed);
	ADD("incremental", test_incremental);
	ADD("bounded_map", test_bounded_map);
	ADD("io_limit", test_io_limit);
	ADD("tombstones", test_tombstones);
	ADD("all_deleted", test_all_deleted);
	ADD("gap_at_end", test_gap_at_end);
	ADD("held_read", test_held_read);
	ADD("leftovers", test_leftovers);
	ADD("ratio_and_lag", test_ratio_and_lag);
	ADD("store_keyless", test_store_keyless);
	ADD("config_keys", test_config_keys);
#undef ADD
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(clean_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free(model);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
