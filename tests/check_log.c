/*
 * check_log.c - partition logs and segment files: round trips across
 * segments, index lookups against brute force, crash recovery, rolling,
 * retention, flushing, read-only after a failed sync, offline verify.
 *
 * Every test works in a fresh mkdtemp directory removed by the fixture.
 * A model keeps a copy of every batch appended (with its assigned base
 * offset written in) so reads can be compared byte for byte.  Crashes are
 * simulated by a child process that appends and then _exit()s without
 * closing the log: what it wrote through the MAP_SHARED maps is in the
 * files, as after a process crash.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
	strcpy(tmpdir, "/tmp/check_log.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(logdir, sizeof(logdir), "%s/t-0", tmpdir);
}

static void
teardown(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static uint64_t rng_state;
static int fixed_values;     /* make_batch: values exactly maxlen long */

static uint32_t
rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static void
small_config(struct logd_log_config *c)
{
	logd_log_config_default(c);
	c->segment_bytes = 64 << 10;
	c->index_interval = 512;
	c->index_bytes = 4096;
	c->retention_ms = -1;
}

/* Every batch appended, as stored. */
struct model {
	size_t n, cap;
	uint8_t **b;
	size_t *len;
	int64_t *first, *last;
	int64_t **ts;             /* record timestamps */
};

static void
model_free(struct model *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		free(m->b[i]);
		free(m->ts[i]);
	}
	free(m->b);
	free(m->len);
	free(m->first);
	free(m->last);
	free(m->ts);
	memset(m, 0, sizeof(*m));
}

static void
put_be64(uint8_t *p, int64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v = (int64_t)((uint64_t)v >> 8);
	}
}

/*
 * Builds a batch of nrec records (values of random length of non-zero
 * bytes, maxlen at most), timestamps ts0 + random jitter when jitter > 0.
 * Returns a malloc'd copy; the record timestamps go to *tsv.
 */
static uint8_t *
make_batch(int nrec, size_t maxlen, int64_t ts0, int jitter, size_t *len,
    int64_t **tsv)
{
	static uint8_t val[70000];
	struct logd_batch_builder *b;
	const uint8_t *out;
	uint8_t *copy;
	int64_t *ts = calloc((size_t)nrec, sizeof(*ts));
	int i;

	ck_assert_ptr_nonnull(ts);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	for (i = 0; i < nrec; i++) {
		size_t vl = fixed_values ? maxlen : rnd() % (maxlen + 1), j;
		char key[16];
		int kl = snprintf(key, sizeof(key), "k%d", i);

		for (j = 0; j < vl; j++)
			val[j] = (uint8_t)(1 + rnd() % 255);
		ts[i] = ts0 + (jitter > 0 ? (int64_t)(rnd() % (unsigned)jitter)
		    : 0);
		ck_assert_int_eq(logd_batch_builder_add(b, ts[i], key,
		    (size_t)kl, val, vl, NULL, 0), 0);
	}
	ck_assert_int_eq(logd_batch_builder_finish(b, &out, len), 0);
	copy = malloc(*len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, out, *len);
	logd_batch_builder_free(b);
	*tsv = ts;
	return copy;
}

/* Appends a batch and records it in the model. */
static void
append_model(struct logd_log *log, struct model *m, int nrec, size_t maxlen,
    int64_t ts0, int jitter, int64_t now)
{
	int64_t first, last, *ts;
	size_t len;
	uint8_t *b = make_batch(nrec, maxlen, ts0, jitter, &len, &ts);
	int rc;

	rc = logd_log_append(log, b, len, now, &first, &last);
	ck_assert_msg(rc == 0, "append: %s", logd_strerror(rc));
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->b = realloc(m->b, m->cap * sizeof(*m->b));
		m->len = realloc(m->len, m->cap * sizeof(*m->len));
		m->first = realloc(m->first, m->cap * sizeof(*m->first));
		m->last = realloc(m->last, m->cap * sizeof(*m->last));
		m->ts = realloc(m->ts, m->cap * sizeof(*m->ts));
		ck_assert(m->b && m->len && m->first && m->last && m->ts);
	}
	if (m->n > 0)
		ck_assert_int_eq(first, m->last[m->n - 1] + 1);
	ck_assert_int_eq(last, first + nrec - 1);
	put_be64(b, first);
	m->b[m->n] = b;
	m->len[m->n] = len;
	m->first[m->n] = first;
	m->last[m->n] = last;
	m->ts[m->n] = ts;
	m->n++;
}

static size_t
model_find(const struct model *m, int64_t off)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (m->last[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Reads offset with max_bytes and checks the result against the model. */
static void
check_read(struct logd_log *log, const struct model *m, int64_t off,
    size_t max_bytes)
{
	struct logd_read r;
	size_t i = model_find(m, off), pos = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = logd_log_read(log, off, max_bytes, &r);
	ck_assert_msg(rc == 0, "read %" PRId64 ": %s", off, logd_strerror(rc));
	ck_assert_uint_ge(r.len, m->len[i]);
	while (pos < r.len) {
		ck_assert_uint_lt(i, m->n);
		ck_assert_uint_le(pos + m->len[i], r.len);
		ck_assert_msg(memcmp(r.data + pos, m->b[i], m->len[i]) == 0,
		    "bytes of batch %zu differ (read at %" PRId64 ")", i, off);
		pos += m->len[i];
		i++;
	}
	ck_assert_int_eq(r.next_offset, m->last[i - 1] + 1);
	ck_assert(r.len <= max_bytes || r.len == m->len[model_find(m, off)]);
	logd_log_read_release(&r);
}

static void
check_all(struct logd_log *log, const struct model *m)
{
	size_t i;

	ck_assert_int_eq(logd_log_end_offset(log),
	    m->n ? m->last[m->n - 1] + 1 : 0);
	for (i = 0; i < m->n; i++) {
		int64_t o;

		for (o = m->first[i]; o <= m->last[i]; o++)
			check_read(log, m, o, 1);
		check_read(log, m, m->first[i], 1 + rnd() % 20000);
	}
}

static struct logd_log *
open_log(const struct logd_log_config *c, struct logd_recovery *rec)
{
	struct logd_log *log = NULL;
	struct logd_recovery tmp;
	int rc = logd_log_open(logdir, c, 1000, &log, rec ? rec : &tmp);

	ck_assert_msg(rc == 0, "open: %s", logd_strerror(rc));
	return log;
}

static char *
seg_path(int64_t base, const char *ext)
{
	static char p[PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/%020" PRId64 ".%s", logdir, base, ext);
	return p;
}

static int
file_exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0;
}

/* Brute force: first offset with a record timestamp >= ts. */
static int64_t
brute_time(const struct model *m, int64_t ts, int64_t end)
{
	size_t i;
	int64_t k;

	for (i = 0; i < m->n; i++)
		for (k = 0; k <= m->last[i] - m->first[i]; k++)
			if (m->ts[i][k] >= ts)
				return m->first[i] + k;
	return end;
}

/* ------------------------------------------------------------------ */
/* Round trips and lookups                                             */
/* ------------------------------------------------------------------ */

START_TEST(test_roundtrip)
{
	struct logd_log_config c;
	struct logd_recovery rec;
	struct model m = { 0 };
	struct logd_log *log;
	int i;

	rng_state = 0x1234567;
	small_config(&c);
	log = open_log(&c, &rec);
	ck_assert_int_eq(rec.end_offset, 0);
	ck_assert_int_eq(rec.segments, 1);
	for (i = 0; i < 400; i++)
		append_model(log, &m, 1 + (int)(rnd() % 20), 600,
		    1000 + i * 10, 5, 2000);
	ck_assert_uint_gt(logd_log_segment_count(log), 5);
	check_all(log, &m);
	logd_log_close(log);

	log = open_log(&c, &rec);
	ck_assert_int_eq(rec.truncated_bytes, 0);
	ck_assert_int_eq(rec.start_offset, 0);
	ck_assert_int_eq(rec.end_offset, m.last[m.n - 1] + 1);
	check_all(log, &m);
	/* Appends continue after a reopen. */
	for (i = 0; i < 50; i++)
		append_model(log, &m, 1 + (int)(rnd() % 20), 600,
		    6000 + i * 10, 5, 2000);
	check_all(log, &m);
	/* Reads at and past the end. */
	{
		struct logd_read r;
		int64_t end = logd_log_end_offset(log);

		ck_assert_int_eq(logd_log_read(log, end, 100, &r), 0);
		ck_assert_uint_eq(r.len, 0);
		ck_assert_int_eq(r.next_offset, end);
		logd_log_read_release(&r);
		ck_assert_int_eq(logd_log_read(log, end + 1, 100, &r),
		    LOGD_ERANGE);
		ck_assert_int_eq(logd_log_read(log, -1, 100, &r), LOGD_ERANGE);
	}
	logd_log_close(log);
	model_free(&m);
}
END_TEST

/*
 * LogAppendTime: each stored batch carries the attribute bit, the append
 * time as maxTimestamp and a CRC over both, in its file as in its map,
 * across rolls and a reopen (whose recovery scan checks every CRC).
 */
START_TEST(test_log_append_time)
{
	struct logd_log_config c;
	struct logd_recovery rec;
	struct logd_log *log;
	int64_t first, last, end;
	int i;

	rng_state = 0x5eed;
	small_config(&c);
	c.log_append_time = 1;
	log = open_log(&c, &rec);
	for (i = 0; i < 200; i++) {
		int64_t *ts;
		size_t len;
		uint8_t *b = make_batch(1 + (int)(rnd() % 10), 300, 5000, 0,
		    &len, &ts);

		ck_assert_int_eq(logd_log_append(log, b, len, 777000 + i,
		    &first, &last), 0);
		free(b);
		free(ts);
	}
	ck_assert_uint_gt(logd_log_segment_count(log), 2);
	end = logd_log_end_offset(log);
	logd_log_close(log);
	log = open_log(&c, &rec);
	ck_assert_int_eq(rec.truncated_bytes, 0);
	ck_assert_int_eq(logd_log_end_offset(log), end);
	for (i = 0; i < end;) {
		struct logd_batch_info info;
		struct logd_read r;
		size_t pos = 0;

		ck_assert_int_eq(logd_log_read(log, i, 1 << 20, &r), 0);
		ck_assert_uint_gt(r.len, 0);
		while (pos < r.len) {
			ck_assert_int_eq(logd_batch_check(r.data + pos,
			    r.len - pos, &info), 0);
			ck_assert(info.attributes & LOGD_ATTR_LOG_APPEND_TIME);
			ck_assert_int_ge(info.max_timestamp, 777000);
			ck_assert_int_lt(info.max_timestamp, 777200);
			pos += info.size;
		}
		i = (int)r.next_offset;
		logd_log_read_release(&r);
	}
	logd_log_close(log);
}
END_TEST

START_TEST(test_bad_append)
{
	struct logd_log_config c;
	struct logd_log *log;
	struct model m = { 0 };
	uint8_t *b;
	int64_t *ts;
	size_t len;

	rng_state = 99;
	small_config(&c);
	log = open_log(&c, NULL);
	b = make_batch(3, 10, 1000, 0, &len, &ts);
	/* not whole batches */
	ck_assert_int_eq(logd_log_append(log, b, len - 1, 1, NULL, NULL),
	    LOGD_EBADBATCH);
	ck_assert_int_eq(logd_log_append(log, b, 30, 1, NULL, NULL),
	    LOGD_EBADBATCH);
	ck_assert_int_eq(logd_log_append(log, b, 0, 1, NULL, NULL),
	    LOGD_EBADBATCH);
	ck_assert_int_eq(logd_log_end_offset(log), 0);
	free(b);
	free(ts);
	/* larger than a segment */
	b = make_batch(40, 60000, 1000, 0, &len, &ts);
	ck_assert_uint_gt(len, c.segment_bytes);
	ck_assert_int_eq(logd_log_append(log, b, len, 1, NULL, NULL),
	    LOGD_ETOOBIG);
	ck_assert_int_eq(logd_log_end_offset(log), 0);
	free(b);
	free(ts);
	/* several batches at once go to one segment, in order */
	append_model(log, &m, 5, 100, 1000, 0, 1);
	{
		size_t l1, l2;
		int64_t *t1, *t2, first, last;
		uint8_t *b1 = make_batch(4, 50, 1000, 0, &l1, &t1);
		uint8_t *b2 = make_batch(6, 50, 1000, 0, &l2, &t2);
		uint8_t *both = malloc(l1 + l2);

		memcpy(both, b1, l1);
		memcpy(both + l1, b2, l2);
		ck_assert_int_eq(logd_log_append(log, both, l1 + l2, 1, &first,
		    &last), 0);
		ck_assert_int_eq(first, 5);
		ck_assert_int_eq(last, 14);
		free(both);
		free(b1);
		free(b2);
		free(t1);
		free(t2);
	}
	logd_log_close(log);
	model_free(&m);
}
END_TEST

START_TEST(test_config_change)
{
	struct logd_log_config c;
	struct model m = { 0 };
	struct logd_log *log;

	rng_state = 98;
	small_config(&c);
	log = open_log(&c, NULL);
	/* a bigger segment size reaches the empty active segment */
	c.segment_bytes = 256 << 10;
	logd_log_set_config(log, &c);
	fixed_values = 1;
	append_model(log, &m, 20, 5000, 1000, 0, 1);
	ck_assert_uint_gt(m.len[0], 64 << 10);
	append_model(log, &m, 20, 5000, 1000, 0, 1);
	ck_assert_uint_eq(logd_log_segment_count(log), 1);
	/* a smaller one rolls at the next append */
	c.segment_bytes = 64 << 10;
	logd_log_set_config(log, &c);
	fixed_values = 0;
	append_model(log, &m, 2, 100, 1000, 0, 1);
	ck_assert_uint_eq(logd_log_segment_count(log), 2);
	check_all(log, &m);
	logd_log_close(log);
	log = open_log(&c, NULL);
	check_all(log, &m);
	logd_log_close(log);
	model_free(&m);
}
END_TEST

/* Lookups against brute force, on the live log and after reopens. */
static void
check_lookups(struct logd_log *log, const struct model *m, int64_t tmin,
    int64_t tmax)
{
	int64_t end = logd_log_end_offset(log), off;
	int k;

	for (k = 0; k < 400; k++) {
		int64_t ts = tmin - 5 + (int64_t)(rnd() % (uint32_t)(tmax -
		    tmin + 10));

		ck_assert_int_eq(logd_log_offset_for_time(log, ts, &off), 0);
		ck_assert_msg(off == brute_time(m, ts, end),
		    "ts %" PRId64 ": got %" PRId64 " want %" PRId64, ts, off,
		    brute_time(m, ts, end));
	}
	ck_assert_int_eq(logd_log_offset_for_time(log, tmax + 1000, &off), 0);
	ck_assert_int_eq(off, end);
	ck_assert_int_eq(logd_log_offset_for_time(log, INT64_MIN, &off), 0);
	ck_assert_int_eq(off, m->first[0]);
	for (k = 0; k < 2000; k++) {
		int64_t o = m->first[0] + (int64_t)(rnd() % (uint32_t)(end -
		    m->first[0]));

		check_read(log, m, o, rnd() % 3 == 0 ? 1 : rnd() % 30000);
	}
}

START_TEST(test_index_lookup)
{
	struct logd_log_config c;
	struct model m = { 0 };
	struct logd_log *log;
	int i;

	rng_state = 0xfeedbeef;
	small_config(&c);
	c.index_interval = 300;
	log = open_log(&c, NULL);
	/* Timestamps mostly rising, with batches that jump back. */
	for (i = 0; i < 600; i++) {
		int64_t t0 = 10000 + i * 7 - (rnd() % 4 == 0 ? 500 : 0);

		append_model(log, &m, 1 + (int)(rnd() % 12), 300, t0, 40, 1);
	}
	ck_assert_uint_gt(logd_log_segment_count(log), 3);
	check_lookups(log, &m, 9000, 10000 + 600 * 7 + 40);
	logd_log_close(log);
	log = open_log(&c, NULL);
	check_lookups(log, &m, 9000, 10000 + 600 * 7 + 40);
	logd_log_close(log);
	/* Without a recovery point every segment is scanned and reindexed. */
	ck_assert_int_eq(unlink(seg_path(0, "tix")) == 0 ||
	    errno == ENOENT, 1);
	{
		char p[PATH_MAX + 32];

		snprintf(p, sizeof(p), "%s/recovery-point", logdir);
		ck_assert_int_eq(unlink(p), 0);
	}
	log = open_log(&c, NULL);
	check_lookups(log, &m, 9000, 10000 + 600 * 7 + 40);
	logd_log_close(log);
	model_free(&m);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Recovery                                                            */
/* ------------------------------------------------------------------ */

struct snap_file {
	char name[64];
	uint8_t *data;
	size_t len;
};

struct snap {
	struct snap_file f[64];
	size_t n;
};

static void
snap_take(struct snap *s)
{
	DIR *d = opendir(logdir);
	struct dirent *de;

	ck_assert_ptr_nonnull(d);
	s->n = 0;
	while ((de = readdir(d)) != NULL) {
		char p[PATH_MAX + 300];
		struct stat st;
		FILE *fp;

		if (de->d_name[0] == '.' || strlen(de->d_name) >= 64)
			continue;
		ck_assert_uint_lt(s->n, 64);
		snprintf(p, sizeof(p), "%s/%s", logdir, de->d_name);
		ck_assert_int_eq(stat(p, &st), 0);
		memcpy(s->f[s->n].name, de->d_name, strlen(de->d_name) + 1);
		s->f[s->n].len = (size_t)st.st_size;
		s->f[s->n].data = malloc(st.st_size + 1);
		fp = fopen(p, "rb");
		ck_assert_ptr_nonnull(fp);
		ck_assert_uint_eq(fread(s->f[s->n].data, 1, s->f[s->n].len, fp),
		    s->f[s->n].len);
		fclose(fp);
		s->n++;
	}
	closedir(d);
}

static void
snap_restore(const struct snap *s)
{
	size_t i;

	nftw(logdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	ck_assert_int_eq(mkdir(logdir, 0755), 0);
	for (i = 0; i < s->n; i++) {
		char p[PATH_MAX + 80];
		FILE *fp;

		snprintf(p, sizeof(p), "%s/%s", logdir, s->f[i].name);
		fp = fopen(p, "wb");
		ck_assert_ptr_nonnull(fp);
		ck_assert_uint_eq(fwrite(s->f[i].data, 1, s->f[i].len, fp),
		    s->f[i].len);
		fclose(fp);
	}
}

static void
snap_free(struct snap *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->f[i].data);
	s->n = 0;
}

/* Patches bytes of a file in place. */
static void
file_patch(const char *p, size_t pos, const void *bytes, size_t n)
{
	int fd = open(p, O_WRONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, bytes, n, (off_t)pos), (ssize_t)n);
	close(fd);
}

static void
file_read(const char *p, size_t pos, void *bytes, size_t n)
{
	int fd = open(p, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, bytes, n, (off_t)pos), (ssize_t)n);
	close(fd);
}

/*
 * Runs in a child: appends m's batches (nflushed of them flushed, the
 * rest not) and dies without closing.  The parent's model is built with
 * the same random stream, so it knows what was written.
 */
static void
crash_writer(const struct logd_log_config *c, struct model *m, int total,
    int nflushed, int maxrec, size_t maxlen)
{
	struct logd_log *log;
	pid_t pid;
	int st, i;
	uint64_t seed = rng_state;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (logd_log_open(logdir, c, 1000, &log, NULL) != 0)
			_exit(2);
		for (i = 0; i < total; i++) {
			append_model(log, m, 1 + (int)(rnd() % maxrec), maxlen,
			    1000 + i, 3, 1000);
			if (i + 1 == nflushed && logd_log_flush(log) != 0)
				_exit(3);
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* Rebuild the same model here, in a scratch log. */
	rng_state = seed;
	{
		char save[PATH_MAX];

		strcpy(save, logdir);
		snprintf(logdir, sizeof(logdir), "%s/model", tmpdir);
		log = open_log(c, NULL);
		for (i = 0; i < total; i++)
			append_model(log, m, 1 + (int)(rnd() % maxrec), maxlen,
			    1000 + i, 3, 1000);
		logd_log_close(log);
		strcpy(logdir, save);
	}
}

/* Position of model batch i in its segment file. */
static size_t
batch_pos(const struct model *m, size_t i, int64_t seg_base)
{
	size_t pos = 0, k = model_find(m, seg_base);

	for (; k < i; k++)
		pos += m->len[k];
	return pos;
}

/* Non-zero extent of bytes [from, to) of the snapshot file bytes. */
static uint64_t
nonzero_extent(const uint8_t *b, size_t from, size_t to)
{
	size_t e = to;

	while (e > from && b[e - 1] == 0)
		e--;
	return e - from;
}

/* Non-zero extent of the snapshot's segment base from pos. */
static uint64_t
snap_extent(const struct snap *s, int64_t base, size_t pos)
{
	char name[64];
	size_t i;

	snprintf(name, sizeof(name), "%020" PRId64 ".log", base);
	for (i = 0; i < s->n; i++)
		if (strcmp(s->f[i].name, name) == 0)
			return nonzero_extent(s->f[i].data, pos, s->f[i].len);
	ck_abort_msg("no segment %s", name);
	return 0;
}

/*
 * Reopens after damage and checks: the log ends exactly before model
 * batch `keep` (offsets and bytes), truncated_bytes as expected, and an
 * append continues at the right offset.
 */
static void
check_recovered(const struct logd_log_config *c, struct model *m,
    size_t keep, uint64_t truncated)
{
	struct logd_recovery rec;
	struct logd_log *log;
	struct model mm = *m;
	int64_t first, last, *ts;
	uint8_t *b;
	size_t len, i;

	log = open_log(c, &rec);
	ck_assert_msg(rec.end_offset == (keep ? m->last[keep - 1] + 1 : 0),
	    "end %" PRId64 " want %" PRId64 " truncated %" PRIu64
	    " scanned %u segments %u", rec.end_offset,
	    keep ? m->last[keep - 1] + 1 : 0, rec.truncated_bytes,
	    rec.scanned_batches, rec.segments);
	ck_assert_uint_eq(rec.truncated_bytes, truncated);
	mm.n = keep;
	for (i = 0; i < keep; i += 1 + keep / 50)
		check_read(log, &mm, mm.first[i], 1);
	if (keep > 0)
		check_read(log, &mm, mm.last[keep - 1], 1);
	b = make_batch(2, 20, 5000, 0, &len, &ts);
	ck_assert_int_eq(logd_log_append(log, b, len, 1, &first, &last), 0);
	ck_assert_int_eq(first, rec.end_offset);
	free(b);
	free(ts);
	logd_log_close(log);
}

START_TEST(test_recovery_tail)
{
	struct logd_log_config c;
	struct model m = { 0 };
	struct snap s;
	uint8_t *seg = NULL;
	size_t last, start, end, cut, i, seglen = 0;
	int64_t base;

	rng_state = 0xabcdef;
	small_config(&c);
	/* 40 batches, 10 flushed: the recovery point is at batch 10. */
	crash_writer(&c, &m, 40, 10, 4, 30);
	last = m.n - 1;
	snap_take(&s);
	for (i = 0; i < s.n; i++)
		if (strcmp(s.f[i].name, "00000000000000000000.log") == 0) {
			seg = s.f[i].data;
			seglen = s.f[i].len;
		}
	ck_assert_ptr_nonnull(seg);
	base = 0;
	start = batch_pos(&m, last, base);
	end = start + m.len[last];
	/* the active segment holds what was written, then at most its
	 * reserve (1 MiB, here the 64 KiB capacity) of zeros */
	ck_assert_uint_ge(seglen, end);
	ck_assert_uint_le(seglen, end + (1u << 20));
	for (i = end; i < seglen; i++)
		ck_assert_uint_eq(seg[i], 0);
	ck_assert(memcmp(seg + start, m.b[last], m.len[last]) == 0);

	/* Cut the file at every byte of the last batch. */
	for (cut = start; cut < end; cut++) {
		snap_restore(&s);
		ck_assert_int_eq(truncate(seg_path(base, "log"), (off_t)cut),
		    0);
		check_recovered(&c, &m, last, nonzero_extent(seg, start, cut));
	}
	/* Zero the tail from every byte of the last batch. */
	for (cut = start; cut < end; cut++) {
		static const uint8_t zeros[4096];

		snap_restore(&s);
		file_patch(seg_path(base, "log"), cut, zeros, end - cut);
		if (nonzero_extent(seg, cut, end) == 0) /* nothing changed */
			check_recovered(&c, &m, last + 1, 0);
		else
			check_recovered(&c, &m, last,
			    nonzero_extent(seg, start, cut));
	}
	/* Flip one bit of every byte of the last batch. */
	for (cut = start; cut < end; cut++) {
		uint8_t byte = seg[cut] ^ (uint8_t)(1u << (cut % 8));

		snap_restore(&s);
		file_patch(seg_path(base, "log"), cut, &byte, 1);
		if (cut - start >= 12 && cut - start < 16) {
			/* partitionLeaderEpoch: outside the CRC, as in Kafka */
			m.b[last][cut - start] = byte;
			check_recovered(&c, &m, last + 1, 0);
			m.b[last][cut - start] = seg[cut];
		} else {
			uint8_t copy[4096];

			memcpy(copy, seg + start, end - start);
			copy[cut - start] = byte;
			check_recovered(&c, &m, last,
			    nonzero_extent(copy, 0, end - start));
		}
	}
	/* Damage below the recovery point is refused, not truncated. */
	snap_restore(&s);
	{
		uint8_t byte, after;
		size_t pos = batch_pos(&m, 3, 0) + 30;
		struct logd_log *log = NULL;

		file_read(seg_path(0, "log"), pos, &byte, 1);
		byte ^= 0x10;
		file_patch(seg_path(0, "log"), pos, &byte, 1);
		ck_assert_int_eq(logd_log_open(logdir, &c, 1000, &log, NULL),
		    LOGD_ECORRUPT);
		file_read(seg_path(0, "log"), pos, &after, 1);
		ck_assert_int_eq(after, byte);
		ck_assert(file_exists(seg_path(0, "log")));
	}
	snap_free(&s);
	model_free(&m);
}
END_TEST

START_TEST(test_recovery_segments)
{
	struct logd_log_config c;
	struct model m = { 0 };
	struct logd_log *log;
	struct logd_recovery rec;
	struct snap s;
	int64_t bases[64];
	size_t nb = 0, i, k, victim;
	uint64_t garbage;

	rng_state = 0x5151;
	small_config(&c);
	/* ~10 segments, the first 2 flushed. */
	crash_writer(&c, &m, 600, 60, 10, 300);
	snap_take(&s);
	for (i = 0; i < s.n; i++)
		if (strstr(s.f[i].name, ".log"))
			bases[nb++] = strtoll(s.f[i].name, NULL, 10);
	ck_assert_uint_gt(nb, 5);
	for (i = 1; i < nb; i++)
		for (k = i; k > 0 && bases[k - 1] > bases[k]; k--) {
			int64_t t = bases[k];

			bases[k] = bases[k - 1];
			bases[k - 1] = t;
		}

	/* A plain crash: everything the child wrote is recovered. */
	snap_restore(&s);
	log = open_log(&c, &rec);
	ck_assert_int_eq(rec.end_offset, m.last[m.n - 1] + 1);
	ck_assert_uint_eq(rec.truncated_bytes, 0);
	ck_assert_uint_eq(rec.segments, nb);
	ck_assert_uint_gt(rec.scanned_batches, 0);
	check_all(log, &m);
	logd_log_close(log);

	/* A flipped bit in a middle segment past the recovery point ends
	 * the log there: later segments go. */
	snap_restore(&s);
	victim = model_find(&m, bases[nb - 4]) + 2;
	{
		size_t pos = batch_pos(&m, victim, bases[nb - 4]) + 70;
		uint8_t byte;

		file_read(seg_path(bases[nb - 4], "log"), pos, &byte, 1);
		byte ^= 1;
		file_patch(seg_path(bases[nb - 4], "log"), pos, &byte, 1);
	}
	/* garbage: the non-zero bytes from the bad batch on */
	garbage = snap_extent(&s, bases[nb - 4],
	    batch_pos(&m, victim, bases[nb - 4]));
	for (k = nb - 3; k < nb; k++)
		garbage += snap_extent(&s, bases[k], 0);
	check_recovered(&c, &m, victim, garbage);
	ck_assert(!file_exists(seg_path(bases[nb - 1], "log")));
	ck_assert(!file_exists(seg_path(bases[nb - 2], "idx")));
	ck_assert(file_exists(seg_path(bases[nb - 4], "log")));

	/* A gap (a lost middle segment past the recovery point) also ends
	 * the log. */
	snap_restore(&s);
	ck_assert_int_eq(unlink(seg_path(bases[nb - 3], "log")), 0);
	garbage = snap_extent(&s, bases[nb - 2], 0) +
	    snap_extent(&s, bases[nb - 1], 0);
	check_recovered(&c, &m, model_find(&m, bases[nb - 3]), garbage);
	snap_free(&s);
	model_free(&m);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Rolling                                                             */
/* ------------------------------------------------------------------ */

START_TEST(test_roll_size)
{
	struct logd_log_config c;
	struct model m = { 0 };
	struct logd_log *log;
	struct stat st;
	int i;

	rng_state = 7;
	small_config(&c);
	log = open_log(&c, NULL);
	/* fixed-size batches: 20 records of 500 bytes */
	fixed_values = 1;
	for (i = 0; i < 30; i++) {
		append_model(log, &m, 20, 500, 1000, 0, 1);
		ck_assert_int_eq(m.len[0], m.len[i]);
	}
	{
		size_t per = c.segment_bytes / m.len[0];
		uint32_t want = (uint32_t)((30 + per - 1) / per);

		ck_assert_uint_eq(logd_log_segment_count(log), want);
		/* closed segments are trimmed to their batches */
		ck_assert_int_eq(stat(seg_path(0, "log"), &st), 0);
		ck_assert_int_eq(st.st_size, (off_t)(per * m.len[0]));
		ck_assert_uint_eq(logd_log_size(log), 30 * m.len[0]);
	}
	check_all(log, &m);
	logd_log_close(log);
	model_free(&m);
}
END_TEST

START_TEST(test_roll_age)
{
	struct logd_log_config c;
	struct model m = { 0 };
	struct logd_log *log;

	rng_state = 8;
	small_config(&c);
	c.segment_ms = 1000;
	log = open_log(&c, NULL);   /* at 1000 on the broker's clock */
	/* record time rolls a segment as old as segment.ms on the clock */
	append_model(log, &m, 1, 10, 1000, 0, 2000);
	append_model(log, &m, 1, 10, 1500, 0, 2000);
	append_model(log, &m, 1, 10, 2000, 0, 2000);
	ck_assert_uint_eq(logd_log_segment_count(log), 1);
	append_model(log, &m, 1, 10, 2001, 0, 2000);
	ck_assert_uint_eq(logd_log_segment_count(log), 2);
	ck_assert(file_exists(seg_path(3, "log")));
	/* an older timestamp does not roll */
	append_model(log, &m, 1, 10, 500, 0, 3000);
	ck_assert_uint_eq(logd_log_segment_count(log), 2);
	append_model(log, &m, 1, 10, 3002, 0, 3000);
	ck_assert_uint_eq(logd_log_segment_count(log), 3);
	check_all(log, &m);
	logd_log_close(log);
	model_free(&m);
}
END_TEST

/*
 * segment.ms on the broker's clock: batches a week and a day apart in
 * record time, appended within a second, once rolled a segment each
 * (21,800 segments exhausted the maps); now the segment rolls when it
 * is segment.ms old on the clock, or by record time once an hour old.
 */
START_TEST(test_roll_clock)
{
	const int64_t day = 24 * 3600 * 1000LL;
	struct logd_log_config c;
	struct model m = { 0 };
	struct logd_log *log;
	int64_t now = 1000;
	int i;

	rng_state = 81;
	small_config(&c);
	c.segment_ms = 7 * day;
	log = open_log(&c, NULL);
	for (i = 0; i < 200; i++)
		append_model(log, &m, 1, 10, 1000 + i * 8 * day, 0, now + i);
	ck_assert_uint_eq(logd_log_segment_count(log), 1);
	/* an hour later on the clock, record time rolls it */
	now += 3600 * 1000;
	append_model(log, &m, 1, 10, 1000 + 200 * 8 * day, 0, now);
	ck_assert_uint_eq(logd_log_segment_count(log), 2);
	append_model(log, &m, 1, 10, 1000 + 201 * 8 * day, 0, now + 1);
	ck_assert_uint_eq(logd_log_segment_count(log), 2);
	/* segment.ms on the clock rolls it, whatever the records say */
	append_model(log, &m, 1, 10, 5, 0, now + 7 * day);
	ck_assert_uint_eq(logd_log_segment_count(log), 2);
	append_model(log, &m, 1, 10, 5, 0, now + 7 * day + 1);
	ck_assert_uint_eq(logd_log_segment_count(log), 3);
	check_all(log, &m);
	logd_log_close(log);
	model_free(&m);
}
END_TEST

START_TEST(test_roll_index_full)
{
	struct logd_log_config c;
	struct model m = { 0 };
	struct logd_log *log;
	int i;

	rng_state = 9;
	small_config(&c);
	c.index_interval = 1;
	c.index_bytes = 64;     /* 8 offset entries, 5 time entries */
	log = open_log(&c, NULL);
	/* rising times: every batch but the first adds both entries; the
	 * time index (5, one kept free) holds 4, so 5 batches a segment */
	for (i = 0; i < 5; i++)
		append_model(log, &m, 2, 10, 1000 + i, 0, 1);
	ck_assert_uint_eq(logd_log_segment_count(log), 1);
	append_model(log, &m, 2, 10, 1010, 0, 1);
	ck_assert_uint_eq(logd_log_segment_count(log), 2);
	for (i = 0; i < 9; i++)
		append_model(log, &m, 2, 10, 1020 + i, 0, 1);
	ck_assert_uint_eq(logd_log_segment_count(log), 3);
	check_all(log, &m);
	logd_log_close(log);
	log = open_log(&c, NULL);
	check_all(log, &m);
	logd_log_close(log);
	model_free(&m);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Retention                                                           */
/* ------------------------------------------------------------------ */

/* Segments of fixed batches; returns the model, log open. */
static struct logd_log *
three_segments(struct logd_log_config *c, struct model *m)
{
	struct logd_log *log;
	int i;

	small_config(c);
	c->segment_ms = 1000;
	log = open_log(c, NULL);
	/* segment k holds times 10000k .. 10000k + 500 */
	for (i = 0; i < 15; i++)
		append_model(log, m, 10, 100, 10000 * (i / 5) + (i % 5) * 100,
		    0, 1000 + 10000 * (i / 5) + (i % 5) * 100);
	ck_assert_uint_eq(logd_log_segment_count(log), 3);
	return log;
}

START_TEST(test_retention_time)
{
	struct logd_log_config c;
	struct model m = { 0 };
	struct logd_log *log;
	struct logd_read r, held;
	uint32_t deleted;
	uint8_t *copy;
	size_t len;

	rng_state = 10;
	log = three_segments(&c, &m);
	/* a reader holds a slice of the first segment */
	ck_assert_int_eq(logd_log_read(log, 3, 100000, &held), 0);
	len = held.len;
	copy = malloc(len);
	memcpy(copy, held.data, len);

	c.retention_ms = 5000;
	logd_log_set_config(log, &c);
	/* segment 0's newest record is 400: expired at now > 5400 */
	ck_assert_int_eq(logd_log_retain(log, 5400, &deleted), 0);
	ck_assert_uint_eq(deleted, 0);
	ck_assert_int_eq(logd_log_retain(log, 5401, &deleted), 0);
	ck_assert_uint_eq(deleted, 1);
	ck_assert_int_eq(logd_log_start_offset(log), m.first[5]);
	ck_assert(!file_exists(seg_path(0, "log")));
	ck_assert(!file_exists(seg_path(0, "idx")));
	ck_assert_int_eq(logd_log_read(log, m.first[5] - 1, 100, &r),
	    LOGD_ERANGE);
	ck_assert_int_eq(logd_log_read(log, 0, 100, &r), LOGD_ERANGE);
	check_read(log, &m, m.first[5], 100);
	/* the held slice is intact */
	ck_assert(memcmp(held.data, copy, len) == 0);
	ck_assert(memcmp(held.data, m.b[0], m.len[0]) == 0);
	logd_log_read_release(&held);
	logd_log_read_release(&held);
	/* the active segment is never deleted */
	ck_assert_int_eq(logd_log_retain(log, 1000000, &deleted), 0);
	ck_assert_uint_eq(deleted, 1);
	ck_assert_uint_eq(logd_log_segment_count(log), 1);
	ck_assert_int_eq(logd_log_start_offset(log), m.first[10]);
	logd_log_close(log);
	/* and the start survives a reopen */
	log = open_log(&c, NULL);
	ck_assert_int_eq(logd_log_start_offset(log), m.first[10]);
	check_read(log, &m, m.first[12], 1);
	/* a slice outlives the log's close */
	ck_assert_int_eq(logd_log_read(log, m.first[12], 1, &held), 0);
	logd_log_close(log);
	ck_assert_uint_eq(held.len, m.len[12]);
	ck_assert(memcmp(held.data, m.b[12], m.len[12]) == 0);
	logd_log_read_release(&held);
	free(copy);
	model_free(&m);
}
END_TEST

START_TEST(test_retention_bytes)
{
	struct logd_log_config c;
	struct model m = { 0 };
	struct logd_log *log;
	uint32_t deleted;
	uint64_t seg0, total;
	struct logd_read held;
	int64_t start;

	rng_state = 11;
	log = three_segments(&c, &m);
	total = logd_log_size(log);
	seg0 = m.len[0] + m.len[1] + m.len[2] + m.len[3] + m.len[4];
	ck_assert_int_eq(logd_log_read(log, m.first[6], 1, &held), 0);
	/* just too little to drop segment 0 */
	c.retention_bytes = (int64_t)(total - seg0 + 1);
	logd_log_set_config(log, &c);
	ck_assert_int_eq(logd_log_retain(log, 0, &deleted), 0);
	ck_assert_uint_eq(deleted, 0);
	c.retention_bytes = (int64_t)(total - seg0);
	logd_log_set_config(log, &c);
	ck_assert_int_eq(logd_log_retain(log, 0, &deleted), 0);
	ck_assert_uint_eq(deleted, 1);
	ck_assert_uint_eq(logd_log_size(log), total - seg0);
	c.retention_bytes = 0;
	logd_log_set_config(log, &c);
	ck_assert_int_eq(logd_log_retain(log, 0, &deleted), 0);
	ck_assert_uint_eq(deleted, 1);
	ck_assert_uint_eq(logd_log_segment_count(log), 1);
	start = logd_log_start_offset(log);
	ck_assert_int_eq(start, m.first[10]);
	ck_assert(memcmp(held.data, m.b[6], m.len[6]) == 0);
	logd_log_read_release(&held);
	/* delete_before: whole segments only */
	append_model(log, &m, 10, 100, 50000, 0, 51000);
	append_model(log, &m, 10, 100, 60000, 0, 61000);
	ck_assert_uint_eq(logd_log_segment_count(log), 3);
	ck_assert_int_eq(logd_log_delete_before(log, m.first[15] + 1), 0);
	ck_assert_int_eq(logd_log_start_offset(log), m.first[15]);
	ck_assert_int_eq(logd_log_delete_before(log, 1 << 30), LOGD_ERANGE);
	logd_log_close(log);
	model_free(&m);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Flush                                                               */
/* ------------------------------------------------------------------ */

static int64_t
read_rp(void)
{
	char p[PATH_MAX + 32], buf[64] = { 0 };
	FILE *fp;

	snprintf(p, sizeof(p), "%s/recovery-point", logdir);
	fp = fopen(p, "r");
	if (fp == NULL)
		return -1;
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	return strtoll(buf, NULL, 10);
}

START_TEST(test_flush)
{
	struct logd_log_config c;
	struct model m = { 0 };
	struct logd_log *log;
	struct logd_flush *f, *g;
	int i;

	rng_state = 12;
	small_config(&c);
	log = open_log(&c, NULL);
	for (i = 0; i < 5; i++)
		append_model(log, &m, 5, 100, 1000, 0, 1);
	ck_assert_int_eq(logd_log_flushed_offset(log), 0);
	ck_assert_int_eq(logd_log_flush_begin(log, &f), 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(logd_log_flush_begin(log, &g), -EBUSY);
	/* appends go on while the flush runs; they are not covered */
	append_model(log, &m, 5, 100, 1000, 0, 1);
	ck_assert_int_eq(logd_flush_run(f), 0);
	ck_assert_int_eq(logd_log_flushed_offset(log), 0);
	ck_assert_int_eq(logd_log_flush_end(log, f), 0);
	ck_assert_int_eq(logd_log_flushed_offset(log), 25);
	/* the first flush of a new log writes the recovery point */
	ck_assert_int_eq(read_rp(), 25);
	ck_assert_int_eq(logd_log_flush(log), 0);
	ck_assert_int_eq(logd_log_flushed_offset(log), 30);
	/* nothing dirty: nothing to do */
	ck_assert_int_eq(logd_log_flush_begin(log, &f), 0);
	ck_assert_ptr_null(f);
	/* a flush across a roll covers both segments */
	for (i = 0; i < 200; i++)
		append_model(log, &m, 5, 100, 1000, 0, 1);
	ck_assert_uint_gt(logd_log_segment_count(log), 1);
	ck_assert_int_eq(logd_log_flush(log), 0);
	ck_assert_int_eq(logd_log_flushed_offset(log),
	    logd_log_end_offset(log));
	ck_assert_int_eq(read_rp(), logd_log_end_offset(log));
	append_model(log, &m, 5, 100, 1000, 0, 1);
	logd_log_close(log);
	ck_assert_int_eq(read_rp(), m.last[m.n - 1] + 1);
	model_free(&m);
}
END_TEST

/* The fd of the file at path in this process, or -1. */
static int
find_fd(const char *path)
{
	char link[300], target[PATH_MAX];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int fd = -1;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, path) == 0)
			fd = atoi(de->d_name);
	}
	closedir(d);
	return fd;
}

START_TEST(test_flush_failure)
{
	struct logd_log_config c;
	struct model m = { 0 };
	struct logd_log *log;
	struct logd_flush *f;
	char real[PATH_MAX];
	int fd, pipefd[2], rc;
	int64_t *ts, flushed;
	uint8_t *b;
	size_t len;

	rng_state = 13;
	small_config(&c);
	log = open_log(&c, NULL);
	append_model(log, &m, 5, 100, 1000, 0, 1);
	ck_assert_int_eq(logd_log_flush(log), 0);
	flushed = logd_log_flushed_offset(log);
	append_model(log, &m, 5, 100, 1000, 0, 1);
	ck_assert_int_eq(logd_log_flush_begin(log, &f), 0);
	ck_assert_ptr_nonnull(f);
	/*
	 * Simulated disk failure: the segment's descriptor now names a pipe,
	 * on which fdatasync() fails (EINVAL) as it would with EIO.
	 */
	ck_assert_ptr_nonnull(realpath(seg_path(0, "log"), real));
	fd = find_fd(real);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pipe(pipefd), 0);
	ck_assert_int_eq(dup2(pipefd[0], fd), fd);
	rc = logd_flush_run(f);
	ck_assert_int_lt(rc, 0);
	ck_assert_int_eq(logd_log_flush_end(log, f), rc);
	/* never reported flushed, read-only from now on */
	ck_assert_int_eq(logd_log_flushed_offset(log), flushed);
	b = make_batch(1, 10, 1000, 0, &len, &ts);
	ck_assert_int_eq(logd_log_append(log, b, len, 1, NULL, NULL),
	    LOGD_EREADONLY);
	ck_assert_int_eq(logd_log_flush(log), LOGD_EREADONLY);
	/* reads still work */
	check_all(log, &m);
	logd_log_close(log);
	close(pipefd[0]);
	close(pipefd[1]);
	free(b);
	free(ts);
	model_free(&m);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Offline checks                                                      */
/* ------------------------------------------------------------------ */

static int
count_walk(void *arg, const uint8_t *batch, size_t len, int check,
    const struct logd_batch_info *info)
{
	int *n = arg;

	(void)batch;
	(void)len;
	(void)info;
	if (check == 0)
		n[0]++;
	else
		n[1]++;
	return 0;
}

START_TEST(test_verify)
{
	struct logd_log_config c;
	struct logd_segment_report r;
	struct model m = { 0 };
	struct logd_log *log;
	size_t per, i, pos;
	uint64_t recs = 0;
	uint8_t byte;
	int n[2] = { 0, 0 };

	rng_state = 14;
	small_config(&c);
	log = open_log(&c, NULL);
	for (i = 0; i < 300; i++)
		append_model(log, &m, 1 + (int)(rnd() % 10), 200,
		    1000 + (int64_t)i, 50, 1);
	ck_assert_uint_gt(logd_log_segment_count(log), 2);
	ck_assert_int_eq(logd_segment_verify(seg_path(0, "log"), &r), 0);
	for (per = 0; per < m.n && m.first[per] < r.next_offset; per++)
		recs += (uint64_t)(m.last[per] - m.first[per] + 1);
	ck_assert_int_eq(r.error, 0);
	ck_assert_int_eq(r.index_error, 0);
	ck_assert_int_eq(r.bad_position, -1);
	ck_assert_int_eq(r.base_offset, 0);
	ck_assert_uint_eq(r.batches, per);
	ck_assert_uint_eq(r.records, recs);
	ck_assert_uint_eq(r.valid_bytes, r.file_bytes);
	/* the active segment: what was written, no reserved zeros */
	{
		int64_t base = logd_log_end_offset(log);
		size_t k = m.n;

		while (k-- > 0)
			if (file_exists(seg_path(m.first[k], "log")))
				break;
		ck_assert_int_eq(logd_segment_verify(seg_path(m.first[k],
		    "log"), &r), 0);
		ck_assert_int_eq(r.error, 0);
		ck_assert_int_eq(r.index_error, 0);
		ck_assert_int_eq(r.next_offset, base);
		ck_assert_uint_eq(r.file_bytes, r.valid_bytes);
		ck_assert_uint_lt(r.file_bytes, c.segment_bytes);
	}
	logd_log_close(log);

	ck_assert_int_eq(logd_segment_walk(seg_path(0, "log"), count_walk, n),
	    0);
	ck_assert_int_eq(n[0], (int)per);
	ck_assert_int_eq(n[1], 0);

	/* plant a bit flip in batch 7 */
	pos = batch_pos(&m, 7, 0);
	file_read(seg_path(0, "log"), pos + m.len[7] / 2, &byte, 1);
	byte ^= 0x04;
	file_patch(seg_path(0, "log"), pos + m.len[7] / 2, &byte, 1);
	ck_assert_int_eq(logd_segment_verify(seg_path(0, "log"), &r), 0);
	ck_assert_int_eq(r.bad_position, (int64_t)pos);
	ck_assert_uint_eq(r.valid_bytes, pos);
	ck_assert_int_ne(r.error, 0);
	ck_assert_uint_eq(r.batches, 7);
	ck_assert_int_eq(r.next_offset, m.first[7]);
	n[0] = n[1] = 0;
	ck_assert_int_eq(logd_segment_walk(seg_path(0, "log"), count_walk, n),
	    0);
	ck_assert_int_eq(n[0], 7);
	ck_assert_int_eq(n[1], 1);
	byte ^= 0x04;
	file_patch(seg_path(0, "log"), pos + m.len[7] / 2, &byte, 1);
	/*
	 * Damage to the last batch of a closed segment below the recovery
	 * point: the log opens (such segments are checked when first used),
	 * reads of that segment fail with LOGD_ECORRUPT every time and
	 * change nothing on disk, and the segments after it still read.
	 */
	{
		struct logd_log *l2 = NULL;
		struct logd_read rd;
		size_t lastb = per - 1, at;
		uint8_t after;

		at = batch_pos(&m, lastb, 0) + m.len[lastb] / 2;
		file_read(seg_path(0, "log"), at, &byte, 1);
		byte ^= 0x40;
		file_patch(seg_path(0, "log"), at, &byte, 1);
		ck_assert_int_eq(logd_log_open(logdir, &c, 1, &l2, NULL), 0);
		ck_assert_int_eq(logd_log_read(l2, 0, 1 << 20, &rd),
		    LOGD_ECORRUPT);
		ck_assert_int_eq(logd_log_read(l2, m.first[lastb], 1 << 20,
		    &rd), LOGD_ECORRUPT);
		check_read(l2, &m, m.first[per], 1 << 20);
		logd_log_close(l2);
		file_read(seg_path(0, "log"), at, &after, 1);
		ck_assert_int_eq(after, byte);
		ck_assert_int_eq(logd_segment_verify(seg_path(0, "log"), &r),
		    0);
		ck_assert_int_eq(r.bad_position,
		    (int64_t)batch_pos(&m, lastb, 0));
		byte ^= 0x40;
		file_patch(seg_path(0, "log"), at, &byte, 1);
		ck_assert_int_eq(logd_log_open(logdir, &c, 1, &l2, NULL), 0);
		logd_log_close(l2);
	}
	/* an index entry pointing elsewhere is reported */
	{
		uint8_t e[4];

		file_read(seg_path(0, "idx"), 4, e, 4);
		e[3] ^= 1;
		file_patch(seg_path(0, "idx"), 4, e, 4);
	}
	ck_assert_int_eq(logd_segment_verify(seg_path(0, "log"), &r), 0);
	ck_assert_int_eq(r.error, 0);
	ck_assert_int_eq(r.index_error, LOGD_ECORRUPT);
	ck_assert_int_eq(logd_segment_verify("/nonexistent/00000000000000000000.log",
	    &r), -ENOENT);
	ck_assert_int_eq(logd_segment_verify("bad-name.log", &r), -EINVAL);
	model_free(&m);
}
END_TEST

/* A batch cut short by the end of the file is reported as a malformed
 * batch, by walk as by verify, never as -EAGAIN ("try again"). */
static int
last_check_walk(void *arg, const uint8_t *batch, size_t len, int check,
    const struct logd_batch_info *info)
{
	int *last = arg;

	(void)batch;
	(void)len;
	(void)info;
	*last = check;
	return 0;
}

START_TEST(test_walk_truncated)
{
	struct logd_log_config c;
	struct logd_segment_report r;
	struct model m = { 0 };
	struct logd_log *log;
	size_t cut;
	int last = 1;

	rng_state = 15;
	small_config(&c);
	log = open_log(&c, NULL);
	append_model(log, &m, 3, 100, 1000, 50, 1);
	append_model(log, &m, 3, 100, 1001, 50, 1);
	logd_log_close(log);
	/* keep the first batch and half of the second */
	cut = batch_pos(&m, 1, 0) + m.len[1] / 2;
	ck_assert_int_eq(truncate(seg_path(0, "log"), (off_t)cut), 0);
	ck_assert_int_eq(logd_segment_walk(seg_path(0, "log"),
	    last_check_walk, &last), 0);
	ck_assert_int_eq(last, LOGD_EBADBATCH);
	ck_assert_int_eq(logd_segment_verify(seg_path(0, "log"), &r), 0);
	ck_assert_int_eq(r.error, LOGD_EBADBATCH);
	ck_assert_int_eq(r.bad_position, (int64_t)batch_pos(&m, 1, 0));
	ck_assert_uint_eq(r.batches, 1);
	/* a file holding only the first batch header fields (the base
	 * offset 0 and the length: not all zeros) */
	ck_assert_int_eq(truncate(seg_path(0, "log"), 12), 0);
	last = 1;
	ck_assert_int_eq(logd_segment_walk(seg_path(0, "log"),
	    last_check_walk, &last), 0);
	ck_assert_int_eq(last, LOGD_EBADBATCH);
	model_free(&m);
}
END_TEST

/* Open descriptors of this process. */
static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;             /* the DIR's own */
}

/*
 * A long log holds open only its active segment and those still to be
 * synced: 300 synced segments once kept 900 fds, and a logd with
 * thousands of segments ran out of descriptors (torture --cycles 1000:
 * EMFILE, appends refused).  Reopening must not need them all at once.
 */
/* Mappings of files under dir, from /proc/self/maps. */
static int
count_maps(const char *dir)
{
	char line[4096];
	size_t n = strlen(dir);
	int count = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');

		if (p && strncmp(p, dir, n) == 0)
			count++;
	}
	fclose(f);
	return count;
}

/*
 * Closed segments map on demand (vm.max_map_count is 65530 and each
 * segment has three files): a log of 300 segments holds the active
 * one's three maps and those of at most two closed ones, when written,
 * reopened and read through.
 */
START_TEST(test_many_segments_fds)
{
	struct logd_log_config c;
	struct model m = { 0 };
	struct logd_log *log;
	struct logd_flush *f;
	int base, i, status;
	pid_t pid;

	rng_state = 21;
	small_config(&c);
	c.segment_bytes = 4096;
	base = count_fds();
	log = open_log(&c, NULL);
	fixed_values = 1;
	for (i = 0; i < 1200; i++)
		append_model(log, &m, 1, 900, 1000, 0, 1);
	fixed_values = 0;
	ck_assert_uint_ge(logd_log_segment_count(log), 300);
	ck_assert_int_eq(logd_log_flush_begin(log, &f), 0);
	ck_assert_int_eq(logd_flush_run(f), 0);
	ck_assert_int_eq(logd_log_flush_end(log, f), 0);
	/* the directory and the active segment's three files */
	ck_assert_int_le(count_fds() - base, 4);
	ck_assert_int_le(count_maps(logdir), 9);
	check_all(log, &m);
	ck_assert_int_le(count_maps(logdir), 9);
	logd_log_close(log);
	ck_assert_int_eq(count_fds(), base);

	/* reopen with room for 32 more descriptors, read all, append */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rlimit rl = { (rlim_t)base + 32, (rlim_t)base + 32 };
		struct logd_log *l2 = NULL;

		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 ||
		    logd_log_open(logdir, &c, 1000, &l2, NULL) < 0)
			_exit(1);
		if (count_maps(logdir) > 3)
			_exit(2);
		check_all(l2, &m);
		if (count_maps(logdir) > 9)
			_exit(3);
		append_model(l2, &m, 1, 900, 1000, 0, 1);
		check_all(l2, &m);
		logd_log_close(l2);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "reopen with %d fds to spare failed (status %#x)", 32, status);
	model_free(&m);
}
END_TEST

/*
 * A sealed segment closes its fds at once, synced or not: a log that
 * rolls many times between two syncs (100 partitions of 64 KiB segments
 * ran out of descriptors within a second when they were kept until the
 * sync) holds the active segment's three and the directory; the flush
 * syncs the closed ones by name and leaves them readable, and so does
 * the first flush after a crash, whose recovery rebuilt them.
 */
START_TEST(test_fds_between_syncs)
{
	struct logd_log_config c;
	struct model m = { 0 };
	struct logd_log *log;
	struct logd_flush *f;
	int base, i, status;
	pid_t pid;

	rng_state = 41;
	small_config(&c);
	c.segment_bytes = 4096;
	base = count_fds();
	log = open_log(&c, NULL);
	fixed_values = 1;
	for (i = 0; i < 600; i++)
		append_model(log, &m, 1, 900, 1000, 0, 1);
	ck_assert_uint_ge(logd_log_segment_count(log), 150);
	ck_assert_int_le(count_fds() - base, 4);
	ck_assert_int_eq(logd_log_flush_begin(log, &f), 0);
	/* rolls while the flush runs keep their fds out of it too */
	for (i = 0; i < 20; i++)
		append_model(log, &m, 1, 900, 1000, 0, 1);
	ck_assert_int_le(count_fds() - base, 4 + 4);
	ck_assert_int_eq(logd_flush_run(f), 0);
	ck_assert_int_eq(logd_log_flush_end(log, f), 0);
	ck_assert_int_le(count_fds() - base, 4);
	ck_assert_int_eq(logd_log_flush(log), 0);
	ck_assert_int_eq(logd_log_flushed_offset(log),
	    logd_log_end_offset(log));
	check_all(log, &m);
	logd_log_close(log);

	/* a crash with 300 rolls unsynced, then open, flush, read */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct logd_log *l2 = NULL;
		int64_t first, last;
		size_t len;
		int64_t *ts;
		uint8_t *b;

		if (logd_log_open(logdir, &c, 1000, &l2, NULL) < 0)
			_exit(1);
		for (i = 0; i < 1200; i++) {
			b = make_batch(1, 900, 1000, 0, &len, &ts);
			if (logd_log_append(l2, b, len, 1, &first, &last) < 0)
				_exit(2);
			free(b);
			free(ts);
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "writer failed (status %#x)", status);
	fixed_values = 0;
	log = open_log(&c, NULL);
	ck_assert_int_ge(logd_log_end_offset(log), m.last[m.n - 1] + 1200);
	ck_assert_int_le(count_fds() - base, 4);
	ck_assert_int_eq(logd_log_flush(log), 0);
	ck_assert_int_eq(logd_log_flushed_offset(log),
	    logd_log_end_offset(log));
	ck_assert_int_le(count_fds() - base, 4);
	for (i = 0; i < (int)m.n; i++)
		check_read(log, &m, m.first[i], 1);
	logd_log_close(log);
	ck_assert_int_eq(count_fds(), base);
	model_free(&m);
}
END_TEST

/*
 * Closed segments below the recovery point open lazily, their files only
 * stat()ed, and load on first use: nothing is mapped at open, the disk
 * they take is known before they load, retention after a reopen goes by
 * their records' time (their files are newer: a lazy segment taken at
 * its file time would be kept), and an index lost while closed is
 * rebuilt by the load.
 */
START_TEST(test_lazy_open)
{
	struct logd_log_config c;
	struct model m = { 0 };
	struct logd_log *log;
	struct logd_segment_report r;
	uint64_t disk;
	uint32_t deleted;
	size_t i;

	rng_state = 31;
	log = three_segments(&c, &m);
	logd_log_close(log);
	log = open_log(&c, NULL);
	/* the active segment's three maps, no others */
	ck_assert_int_le(count_maps(logdir), 3);
	disk = logd_log_disk_bytes(log);
	for (i = 0; i < m.n; i++)
		check_read(log, &m, m.first[i], 1);
	ck_assert_uint_eq(logd_log_disk_bytes(log), disk);
	logd_log_close(log);

	ck_assert_int_eq(unlink(seg_path(m.first[5], "idx")), 0);
	log = open_log(&c, NULL);
	for (i = 5; i < m.n; i++)
		check_read(log, &m, m.first[i], 1);
	ck_assert(file_exists(seg_path(m.first[5], "idx")));
	ck_assert_int_eq(logd_segment_verify(seg_path(m.first[5], "log"), &r),
	    0);
	ck_assert_int_eq(r.error, 0);
	ck_assert_int_eq(r.index_error, 0);
	logd_log_close(log);

	log = open_log(&c, NULL);
	c.retention_ms = 5000;
	logd_log_set_config(log, &c);
	/* segment 0's newest record is 400, segment 1's 10400 */
	ck_assert_int_eq(logd_log_retain(log, 5400, &deleted), 0);
	ck_assert_uint_eq(deleted, 0);
	ck_assert_int_eq(logd_log_retain(log, 15401, &deleted), 0);
	ck_assert_uint_eq(deleted, 2);
	ck_assert_int_eq(logd_log_start_offset(log), m.first[10]);
	for (i = 10; i < m.n; i++)
		check_read(log, &m, m.first[i], 1);
	logd_log_close(log);
	model_free(&m);
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc;

#define ADD(name, fn) do { \
	tc = tcase_create(name); \
	tcase_add_checked_fixture(tc, setup, teardown); \
	tcase_set_timeout(tc, 120); \
	tcase_add_test(tc, fn); \
	suite_add_tcase(s, tc); \
} while (0)
	ADD("roundtrip", test_roundtrip);
	ADD("log_append_time", test_log_append_time);
	ADD("bad_append", test_bad_append);
	ADD("config_change", test_config_change);
	ADD("index_lookup", test_index_lookup);
	ADD("recovery_tail", test_recovery_tail);
	ADD("lazy_open", test_lazy_open);
	ADD("fds_between_syncs", test_fds_between_syncs);
	ADD("recovery_segments", test_recovery_segments);
	ADD("roll_size", test_roll_size);
	ADD("roll_age", test_roll_age);
	ADD("roll_clock", test_roll_clock);
	ADD("roll_index_full", test_roll_index_full);
	ADD("retention_time", test_retention_time);
	ADD("retention_bytes", test_retention_bytes);
	ADD("flush", test_flush);
	ADD("flush_failure", test_flush_failure);
	ADD("many_segments_fds", test_many_segments_fds);
	ADD("verify", test_verify);
	ADD("walk_truncated", test_walk_truncated);
#undef ADD
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
