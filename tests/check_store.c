/*
 * check_store.c - the store: names, topic configs, topics on disk, the
 * datadir lock, and committed group offsets (also across a kill -9).
 *
 * Every test works in a fresh mkdtemp directory removed by the fixture.
 * Topics are created with 64 KiB segments so that preallocation stays
 * small.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "logd.h"

static char tmpdir[64];
static char datadir[PATH_MAX];

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
	strcpy(tmpdir, "/tmp/check_store.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(datadir, sizeof(datadir), "%s/data", tmpdir);
}

static void
teardown(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct logd_store *
open_store(void)
{
	struct logd_store *st = NULL;
	int rc = logd_store_open(datadir, LOGD_STORE_CREATE, 1000, NULL, NULL,
	    &st);

	ck_assert_msg(rc == 0, "open: %s", logd_strerror(rc));
	return st;
}

static void
small_config(struct logd_topic_config *c, int32_t partitions)
{
	logd_topic_config_default(c);
	c->partitions = partitions;
	c->log.segment_bytes = 64 << 10;
}

static void
create_topic(struct logd_store *st, const char *name, int32_t partitions)
{
	struct logd_topic_config c;
	int rc;

	small_config(&c, partitions);
	rc = logd_store_topic_create(st, name, &c, 1000);
	ck_assert_msg(rc == 0, "create %s: %s", name, logd_strerror(rc));
}

static int
exists(const char *rel)
{
	char p[PATH_MAX * 2];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", datadir, rel);
	return stat(p, &sb) == 0;
}

/* ------------------------------------------------------------------ */

START_TEST(test_topic_names)
{
	static const char *good[] = {
		"a", "A", "0", "sensors", "weather.readings", "a_b-c.d",
		"...", ".a", "a.", "-", "_", "..a",
	};
	static const char *bad[] = {
		"", ".", "..", "a/b", "../x", "/abs", "a b", "a\tb", "é",
		"caf\xc3\xa9", "a*", "a:b", "a\\b", "\x7f", "a\nb",
	};
	char name[300];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(logd_topic_name_check(good[i]) == 0,
		    "rejected '%s'", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(logd_topic_name_check(bad[i]) == LOGD_EBADNAME,
		    "accepted '%s'", bad[i]);
	ck_assert_int_eq(logd_topic_name_check(NULL), LOGD_EBADNAME);

	memset(name, 'x', sizeof(name));
	name[LOGD_TOPIC_NAME_MAX] = '\0';
	ck_assert_int_eq(logd_topic_name_check(name), 0);
	name[LOGD_TOPIC_NAME_MAX] = 'x';
	name[LOGD_TOPIC_NAME_MAX + 1] = '\0';
	ck_assert_int_eq(logd_topic_name_check(name), LOGD_EBADNAME);
}
END_TEST

START_TEST(test_group_names)
{
	char name[300];

	ck_assert_int_eq(logd_group_name_check("alerts"), 0);
	ck_assert_int_eq(logd_group_name_check("my group/1:x"), 0);
	ck_assert_int_eq(logd_group_name_check("~"), 0);
	ck_assert_int_eq(logd_group_name_check(""), LOGD_EBADNAME);
	ck_assert_int_eq(logd_group_name_check(NULL), LOGD_EBADNAME);
	ck_assert_int_eq(logd_group_name_check("a\nb"), LOGD_EBADNAME);
	ck_assert_int_eq(logd_group_name_check("caf\xc3\xa9"), LOGD_EBADNAME);
	ck_assert_int_eq(logd_group_name_check("\x7f"), LOGD_EBADNAME);
	memset(name, 'g', sizeof(name));
	name[LOGD_GROUP_NAME_MAX] = '\0';
	ck_assert_int_eq(logd_group_name_check(name), 0);
	name[LOGD_GROUP_NAME_MAX] = 'g';
	name[LOGD_GROUP_NAME_MAX + 1] = '\0';
	ck_assert_int_eq(logd_group_name_check(name), LOGD_EBADNAME);
}
END_TEST

/* ------------------------------------------------------------------ */

/* Field by field: struct padding is not compared. */
static int
config_eq(const struct logd_topic_config *a, const struct logd_topic_config *b)
{
	return a->partitions == b->partitions &&
	    a->log.segment_bytes == b->log.segment_bytes &&
	    a->log.segment_ms == b->log.segment_ms &&
	    a->log.retention_ms == b->log.retention_ms &&
	    a->log.retention_bytes == b->log.retention_bytes &&
	    a->log.index_interval == b->log.index_interval &&
	    a->log.index_bytes == b->log.index_bytes &&
	    a->log.log_append_time == b->log.log_append_time &&
	    a->timestamp_after_max_ms == b->timestamp_after_max_ms &&
	    a->timestamp_before_max_ms == b->timestamp_before_max_ms;
}

START_TEST(test_config_defaults)
{
	struct logd_topic_config c, d;
	char buf[512];

	logd_topic_config_default(&c);
	d.partitions = 1;
	logd_log_config_default(&d.log);
	d.timestamp_after_max_ms = 3600000;
	d.timestamp_before_max_ms = INT64_MAX;
	ck_assert(config_eq(&c, &d));
	ck_assert_int_eq(c.partitions, 1);
	logd_topic_config_format(&c, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "partitions=1\n"));
	ck_assert_ptr_nonnull(strstr(buf,
	    "message.timestamp.type=CreateTime\n"));
}
END_TEST

/* Parses "key=value" lines back into a config (what a client does). */
static void
parse_lines(struct logd_topic_config *c, char *buf)
{
	char *line, *save = NULL;

	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		ck_assert_ptr_nonnull(eq);
		*eq = '\0';
		ck_assert_msg(logd_topic_config_set(c, line, eq + 1) == 0,
		    "key %s", line);
	}
}

START_TEST(test_config_round_trip)
{
	struct logd_topic_config c, d;
	char buf[512], buf2[512];
	size_t n;

	logd_topic_config_default(&c);
	ck_assert_int_eq(logd_topic_config_set(&c, "partitions", "12"), 0);
	ck_assert_int_eq(logd_topic_config_set(&c, "segment.bytes",
	    "1048576"), 0);
	ck_assert_int_eq(logd_topic_config_set(&c, "segment.ms", "3600000"), 0);
	ck_assert_int_eq(logd_topic_config_set(&c, "retention.ms", "-1"), 0);
	ck_assert_int_eq(logd_topic_config_set(&c, "retention.bytes",
	    "1073741824"), 0);
	ck_assert_int_eq(logd_topic_config_set(&c, "index.interval.bytes",
	    "8192"), 0);
	ck_assert_int_eq(logd_topic_config_set(&c, "segment.index.bytes",
	    "65536"), 0);
	ck_assert_int_eq(logd_topic_config_set(&c, "message.timestamp.type",
	    "LogAppendTime"), 0);
	ck_assert_int_eq(logd_topic_config_set(&c,
	    "message.timestamp.after.max.ms", "60000"), 0);
	ck_assert_int_eq(logd_topic_config_set(&c,
	    "message.timestamp.before.max.ms", "86400000"), 0);
	ck_assert_int_eq(c.partitions, 12);
	ck_assert_uint_eq(c.log.segment_bytes, 1048576);
	ck_assert_int_eq(c.log.segment_ms, 3600000);
	ck_assert_int_eq(c.log.retention_ms, -1);
	ck_assert_int_eq(c.log.retention_bytes, 1073741824);
	ck_assert_uint_eq(c.log.index_interval, 8192);
	ck_assert_uint_eq(c.log.index_bytes, 65536);
	ck_assert_int_eq(c.log.log_append_time, 1);

	n = logd_topic_config_format(&c, buf, sizeof(buf));
	ck_assert_uint_eq(n, strlen(buf));
	ck_assert_str_eq(buf,
	    "partitions=12\n"
	    "segment.bytes=1048576\n"
	    "segment.ms=3600000\n"
	    "retention.ms=-1\n"
	    "retention.bytes=1073741824\n"
	    "index.interval.bytes=8192\n"
	    "segment.index.bytes=65536\n"
	    "message.timestamp.type=LogAppendTime\n"
	    "message.timestamp.after.max.ms=60000\n"
	    "message.timestamp.before.max.ms=86400000\n"
	    "cleanup.policy=delete\n"
	    "min.cleanable.dirty.ratio=0.5\n"
	    "min.compaction.lag.ms=0\n"
	    "delete.retention.ms=86400000\n");

	logd_topic_config_default(&d);
	strcpy(buf2, buf);
	parse_lines(&d, buf2);
	ck_assert(config_eq(&c, &d));

	/* Truncation: NUL-terminated, returns the length it needed. */
	ck_assert_uint_eq(logd_topic_config_format(&c, buf2, 10), n);
	ck_assert_uint_eq(strlen(buf2), 9);
	ck_assert_uint_eq(logd_topic_config_format(&c, NULL, 0), n);
}
END_TEST

/* The reason names the key, the value and the allowed range. */
START_TEST(test_config_error)
{
	char buf[300];
	size_t n;

	n = logd_topic_config_error("segment.bytes", "60000", buf,
	    sizeof(buf));
	ck_assert_str_eq(buf, "segment.bytes = \"60000\": expected an integer "
	    "from 65536 to 2147483647");
	ck_assert_uint_eq(n, strlen(buf));
	logd_topic_config_error("partitions", "0", buf, sizeof(buf));
	ck_assert_str_eq(buf, "partitions = \"0\": expected an integer from "
	    "1 to 10000");
	logd_topic_config_error("retention.ms", "abc", buf, sizeof(buf));
	ck_assert_str_eq(buf, "retention.ms = \"abc\": expected -1 (no "
	    "limit) or an integer >= 0");
	logd_topic_config_error("segment.ms", "0", buf, sizeof(buf));
	ck_assert_str_eq(buf, "segment.ms = \"0\": expected an integer >= 1");
	logd_topic_config_error("message.timestamp.type", "x", buf,
	    sizeof(buf));
	ck_assert_str_eq(buf, "message.timestamp.type = \"x\": expected "
	    "CreateTime or LogAppendTime");
	logd_topic_config_error("nokey", "1", buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "unknown setting \"nokey\" (known: "
	    "partitions, segment.bytes,"));
	/* truncated like snprintf */
	ck_assert_uint_eq(logd_topic_config_error("segment.bytes", "60000",
	    buf, 8), n);
	ck_assert_str_eq(buf, "segment");
}
END_TEST

START_TEST(test_config_rejects)
{
	static const char *const bad[][2] = {
		{ "partitions", "0" }, { "partitions", "-1" },
		{ "partitions", "10001" }, { "partitions", "" },
		{ "partitions", " 1" }, { "partitions", "1 " },
		{ "partitions", "+1" }, { "partitions", "1x" },
		{ "partitions", "0x10" }, { "partitions", "-" },
		{ "segment.bytes", "65535" }, { "segment.bytes", "2147483648" },
		{ "segment.bytes", "-1" }, { "segment.bytes", "1e6" },
		{ "segment.ms", "0" }, { "segment.ms", "-1" },
		{ "segment.ms", "99999999999999999999" },
		{ "retention.ms", "-2" }, { "retention.ms", "abc" },
		{ "retention.bytes", "-2" },
		{ "retention.bytes", "9223372036854775808" },
		{ "index.interval.bytes", "-1" },
		{ "index.interval.bytes", "2147483648" },
		{ "segment.index.bytes", "1023" },
		{ "segment.index.bytes", "1073741825" },
		{ "message.timestamp.type", "createtime" },
		{ "message.timestamp.type", "" },
		{ "message.timestamp.type", "LogAppendTime " },
		{ "unknown.key", "1" }, { "", "1" }, { "Partitions", "1" },
	};
	struct logd_topic_config c, orig;
	size_t i;

	logd_topic_config_default(&c);
	orig = c;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(logd_topic_config_set(&c, bad[i][0], bad[i][1]) ==
		    LOGD_EBADCONFIG, "accepted %s=%s", bad[i][0], bad[i][1]);
		ck_assert(config_eq(&c, &orig));
	}
	ck_assert_int_eq(logd_topic_config_set(&c, NULL, "1"), LOGD_EBADCONFIG);
	ck_assert_int_eq(logd_topic_config_set(&c, "partitions", NULL),
	    LOGD_EBADCONFIG);
	/* The edges that are allowed. */
	ck_assert_int_eq(logd_topic_config_set(&c, "partitions", "10000"), 0);
	ck_assert_int_eq(logd_topic_config_set(&c, "segment.bytes",
	    "65536"), 0);
	ck_assert_int_eq(logd_topic_config_set(&c, "segment.bytes",
	    "2147483647"), 0);
	ck_assert_int_eq(logd_topic_config_set(&c, "retention.ms", "0"), 0);
	ck_assert_int_eq(logd_topic_config_set(&c, "retention.bytes", "-1"), 0);
	ck_assert_int_eq(logd_topic_config_set(&c, "index.interval.bytes", "0"),
	    0);
}
END_TEST

/* ------------------------------------------------------------------ */

struct list {
	char names[8][64];
	int32_t partitions[8];
	int n;
};

static int
collect(void *arg, const char *name, const struct logd_topic_config *cfg)
{
	struct list *l = arg;

	ck_assert_int_lt(l->n, 8);
	snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
	l->partitions[l->n++] = cfg->partitions;
	return 0;
}

static int
stop_at_second(void *arg, const char *name, const struct logd_topic_config *cfg)
{
	int *n = arg;

	(void)name;
	(void)cfg;
	return ++*n == 2 ? 42 : 0;
}

START_TEST(test_topics_create_list_delete)
{
	struct logd_store *st = open_store();
	struct logd_topic_config c;
	struct logd_log *log, *log2;
	struct list l;
	int n = 0;

	create_topic(st, "weather", 3);
	create_topic(st, "alerts", 1);
	create_topic(st, "a-1", 2);
	ck_assert(exists("topics/weather-0"));
	ck_assert(exists("topics/weather-2"));
	ck_assert(!exists("topics/weather-3"));
	ck_assert(exists("topics/a-1-1"));

	small_config(&c, 1);
	ck_assert_int_eq(logd_store_topic_create(st, "weather", &c, 1),
	    LOGD_ETOPICEXIST);
	ck_assert_int_eq(logd_store_topic_create(st, "../x", &c, 1),
	    LOGD_EBADNAME);
	ck_assert_int_eq(logd_store_topic_create(st, "..", &c, 1),
	    LOGD_EBADNAME);
	c.partitions = 0;
	ck_assert_int_eq(logd_store_topic_create(st, "zero", &c, 1),
	    LOGD_EBADCONFIG);
	c.partitions = 10001;
	ck_assert_int_eq(logd_store_topic_create(st, "many", &c, 1),
	    LOGD_EBADCONFIG);
	ck_assert(!exists("topics/zero-0"));

	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(logd_store_topics(st, collect, &l), 0);
	ck_assert_int_eq(l.n, 3);
	ck_assert_str_eq(l.names[0], "a-1");
	ck_assert_str_eq(l.names[1], "alerts");
	ck_assert_str_eq(l.names[2], "weather");
	ck_assert_int_eq(l.partitions[2], 3);
	ck_assert_int_eq(logd_store_topics(st, stop_at_second, &n), 42);
	ck_assert_int_eq(n, 2);

	ck_assert_int_eq(logd_store_log(st, "weather", 2, &log), 0);
	ck_assert_ptr_nonnull(log);
	ck_assert_int_eq(logd_store_log(st, "weather", 0, &log2), 0);
	ck_assert_ptr_ne(log, log2);
	ck_assert_int_eq(logd_store_log(st, "weather", 3, &log), LOGD_ENOPART);
	ck_assert_int_eq(logd_store_log(st, "weather", -1, &log),
	    LOGD_ENOPART);
	ck_assert_int_eq(logd_store_log(st, "nope", 0, &log), LOGD_ENOTOPIC);
	ck_assert_int_eq(logd_store_topic_config(st, "weather", &c), 0);
	ck_assert_int_eq(c.partitions, 3);
	ck_assert_uint_eq(c.log.segment_bytes, 64 << 10);
	ck_assert_int_eq(logd_store_topic_config(st, "nope", NULL),
	    LOGD_ENOTOPIC);

	ck_assert_int_eq(logd_store_topic_delete(st, "weather"), 0);
	ck_assert_int_eq(logd_store_topic_delete(st, "weather"),
	    LOGD_ENOTOPIC);
	ck_assert(!exists("topics/weather-0"));
	ck_assert(!exists("topics/weather-2"));
	ck_assert_int_eq(logd_store_log(st, "weather", 0, &log),
	    LOGD_ENOTOPIC);
	/* A deleted name can be created again, empty. */
	create_topic(st, "weather", 1);
	ck_assert_int_eq(logd_store_log(st, "weather", 0, &log), 0);
	ck_assert_int_eq(logd_log_end_offset(log), 0);
	logd_store_close(st);

	st = open_store();
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(logd_store_topics(st, collect, &l), 0);
	ck_assert_int_eq(l.n, 3);
	ck_assert_str_eq(l.names[0], "a-1");
	ck_assert_int_eq(l.partitions[0], 2);
	ck_assert_str_eq(l.names[2], "weather");
	ck_assert_int_eq(l.partitions[2], 1);
	ck_assert_int_eq(logd_store_log(st, "a-1", 1, &log), 0);
	logd_store_close(st);
}
END_TEST

/* Many topics: the table grows and every name is still found. */
START_TEST(test_topics_many)
{
	struct logd_store *st = open_store();
	struct logd_log *log;
	char name[32];
	int i;

	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		create_topic(st, name, 1);
	}
	for (i = 0; i < 40; i += 2) {
		snprintf(name, sizeof(name), "t%d", i);
		ck_assert_int_eq(logd_store_topic_delete(st, name), 0);
	}
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		ck_assert_int_eq(logd_store_log(st, name, 0, &log),
		    i % 2 ? 0 : LOGD_ENOTOPIC);
	}
	logd_store_close(st);
}
END_TEST

START_TEST(test_topics_alter)
{
	struct logd_store *st = open_store();
	struct logd_topic_config c;
	struct logd_log *log;

	create_topic(st, "w", 2);
	ck_assert_int_eq(logd_store_topic_alter(st, "w", "partitions", "4", 5),
	    0);
	ck_assert(exists("topics/w-3"));
	ck_assert_int_eq(logd_store_log(st, "w", 3, &log), 0);
	ck_assert_int_eq(logd_store_topic_alter(st, "w", "partitions", "3", 5),
	    LOGD_EBADCONFIG);
	ck_assert_int_eq(logd_store_topic_alter(st, "w", "retention.ms",
	    "60000", 5), 0);
	ck_assert_int_eq(logd_store_topic_alter(st, "w", "retention.ms",
	    "soon", 5), LOGD_EBADCONFIG);
	ck_assert_int_eq(logd_store_topic_alter(st, "w", "bogus", "1", 5),
	    LOGD_EBADCONFIG);
	ck_assert_int_eq(logd_store_topic_alter(st, "nope", "retention.ms",
	    "1", 5), LOGD_ENOTOPIC);
	ck_assert_int_eq(logd_store_topic_config(st, "w", &c), 0);
	ck_assert_int_eq(c.partitions, 4);
	ck_assert_int_eq(c.log.retention_ms, 60000);
	logd_store_close(st);

	st = open_store();
	ck_assert_int_eq(logd_store_topic_config(st, "w", &c), 0);
	ck_assert_int_eq(c.partitions, 4);
	ck_assert_int_eq(c.log.retention_ms, 60000);
	ck_assert_uint_eq(c.log.segment_bytes, 64 << 10);
	ck_assert_int_eq(logd_store_log(st, "w", 3, &log), 0);
	ck_assert_int_eq(logd_store_log(st, "w", 4, &log), LOGD_ENOPART);
	logd_store_close(st);
}
END_TEST

/* Records appended before a close are there after the reopen. */
START_TEST(test_topics_data_survives)
{
	struct logd_store *st = open_store();
	struct logd_batch_builder *b;
	struct logd_log *log;
	const uint8_t *batch;
	size_t len;
	int64_t first, last;

	create_topic(st, "d", 2);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	ck_assert_int_eq(logd_batch_builder_add(b, 1000, "k", 1, "v1", 2,
	    NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_add(b, 1001, "k", 1, "v2", 2,
	    NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(b, &batch, &len), 0);
	ck_assert_int_eq(logd_store_log(st, "d", 1, &log), 0);
	ck_assert_int_eq(logd_log_append(log, batch, len, 1000, &first, &last),
	    0);
	ck_assert_int_eq(first, 0);
	ck_assert_int_eq(last, 1);
	ck_assert_int_eq(logd_store_flush(st), 0);
	logd_batch_builder_free(b);
	logd_store_close(st);

	st = open_store();
	ck_assert_int_eq(logd_store_log(st, "d", 1, &log), 0);
	ck_assert_int_eq(logd_log_end_offset(log), 2);
	ck_assert_int_eq(logd_store_log(st, "d", 0, &log), 0);
	ck_assert_int_eq(logd_log_end_offset(log), 0);
	ck_assert_int_eq(logd_store_retain(st, 2000, NULL, NULL), 0);
	logd_store_close(st);
}
END_TEST

/* What logd_store_retain() reported. */
struct retained_seen {
	int calls;
	char topic[32];
	int32_t partition;
	struct logd_retained r;
};

static void
on_retained(void *arg, const char *topic, int32_t partition,
    const struct logd_retained *r)
{
	struct retained_seen *s = arg;

	s->calls++;
	snprintf(s->topic, sizeof(s->topic), "%s", topic);
	s->partition = partition;
	s->r = *r;
}

/* Retention says what it deleted: segments, bytes, the start before and
 * after. */
START_TEST(test_retain_reports)
{
	struct logd_store *st = open_store();
	struct logd_topic_config c;
	struct logd_batch_builder *b;
	struct retained_seen seen;
	struct logd_log *log;
	const uint8_t *batch;
	char value[2000];
	uint64_t before;
	size_t len;
	int64_t first, last;
	int i;

	small_config(&c, 2);
	c.log.retention_bytes = 65536;
	ck_assert_int_eq(logd_store_topic_create(st, "r", &c, 1000), 0);
	ck_assert_int_eq(logd_store_log(st, "r", 1, &log), 0);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	memset(value, 'v', sizeof(value));
	for (i = 0; i < 100; i++) {
		logd_batch_builder_reset(b);
		ck_assert_int_eq(logd_batch_builder_add(b, 1000, NULL, 0,
		    value, sizeof(value), NULL, 0), 0);
		ck_assert_int_eq(logd_batch_builder_finish(b, &batch, &len),
		    0);
		ck_assert_int_eq(logd_log_append(log, batch, len, 1000, &first,
		    &last), 0);
	}
	logd_batch_builder_free(b);
	ck_assert_uint_gt(logd_log_segment_count(log), 2);
	before = logd_log_size(log);
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(logd_store_retain(st, 2000, on_retained, &seen), 0);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_str_eq(seen.topic, "r");
	ck_assert_int_eq(seen.partition, 1);
	ck_assert_uint_ge(seen.r.segments, 1);
	ck_assert_uint_eq(seen.r.bytes, before - logd_log_size(log));
	ck_assert_int_eq(seen.r.old_start, 0);
	ck_assert_int_gt(seen.r.new_start, 0);
	ck_assert_int_eq(seen.r.new_start, logd_log_start_offset(log));
	/* nothing more to delete: not called */
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(logd_store_retain(st, 2000, on_retained, &seen), 0);
	ck_assert_int_eq(seen.calls, 0);
	logd_store_close(st);
}
END_TEST

struct recovered {
	int calls;
	int seen[4];
	char order[8];
};

static void
on_recover(void *arg, const char *topic, int32_t partition,
    const struct logd_recovery *rec)
{
	struct recovered *r = arg;

	ck_assert(strcmp(topic, "r") == 0 || strcmp(topic, "b") == 0);
	ck_assert_int_ge(partition, 0);
	ck_assert_int_lt(partition, 4);
	ck_assert_int_eq(rec->end_offset, 0);
	if (topic[0] == 'r')
		r->seen[partition]++;
	if (r->calls < 7)
		r->order[r->calls] = topic[0];
	r->calls++;
}

START_TEST(test_open_recover_callback)
{
	struct logd_store *st = open_store();
	struct recovered r;

	create_topic(st, "r", 4);
	create_topic(st, "b", 1);
	logd_store_close(st);
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(logd_store_open(datadir, 0, 1000, on_recover, &r,
	    &st), 0);
	ck_assert_int_eq(r.calls, 5);
	ck_assert_str_eq(r.order, "brrrr"); /* topics in name order */
	ck_assert_int_eq(r.seen[0] + r.seen[1] + r.seen[2] + r.seen[3], 4);
	ck_assert_int_eq(r.seen[3], 1);
	logd_store_close(st);
}
END_TEST

/* ------------------------------------------------------------------ */

START_TEST(test_open_missing)
{
	struct logd_store *st = NULL;
	char p[PATH_MAX * 2];
	struct stat sb;

	ck_assert_int_eq(logd_store_open(datadir, 0, 1000, NULL, NULL, &st),
	    -ENOENT);
	ck_assert_ptr_null(st);
	/* An existing directory that is no datadir is not taken over. */
	ck_assert_int_eq(mkdir(datadir, 0755), 0);
	ck_assert_int_eq(logd_store_open(datadir, 0, 1000, NULL, NULL, &st),
	    -ENOENT);
	ck_assert(!exists("LOCK"));
	ck_assert_int_eq(logd_store_open("", LOGD_STORE_CREATE, 1000, NULL,
	    NULL, &st), -EINVAL);
	/* CREATE makes the layout, private to the owner. */
	ck_assert_int_eq(rmdir(datadir), 0);
	st = open_store();
	logd_store_close(st);
	ck_assert_int_eq(stat(datadir, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0700);
	snprintf(p, sizeof(p), "%s/meta", datadir);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert(exists("topics"));
	snprintf(p, sizeof(p), "%s/LOCK", datadir);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	/* Now it is a datadir: opening without CREATE works. */
	ck_assert_int_eq(logd_store_open(datadir, 0, 1000, NULL, NULL, &st),
	    0);
	logd_store_close(st);
	logd_store_close(NULL);
}
END_TEST

START_TEST(test_lock)
{
	struct logd_store *st = open_store(), *st2 = NULL;
	pid_t pid;
	int status;

	/* A second open in the same process: its own file description. */
	ck_assert_int_eq(logd_store_open(datadir, LOGD_STORE_CREATE, 1000,
	    NULL, NULL, &st2), LOGD_ELOCKED);
	ck_assert_ptr_null(st2);
	/* And from another process. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct logd_store *s = NULL;
		int rc = logd_store_open(datadir, 0, 1000, NULL, NULL, &s);

		_exit(rc == LOGD_ELOCKED ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	/* The store still works after the refused opens. */
	create_topic(st, "after", 1);
	logd_store_close(st);
	/* Closing releases the lock. */
	st = open_store();
	ck_assert_int_eq(logd_store_topic_config(st, "after", NULL), 0);
	logd_store_close(st);
}
END_TEST

static void
make_dir(const char *rel)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", datadir, rel);
	ck_assert_int_eq(mkdir(p, 0700), 0);
}

static void
make_file(const char *rel)
{
	char p[PATH_MAX * 2];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", datadir, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "junk", 4), 4);
	close(fd);
}

static void
remove_rel(const char *rel)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", datadir, rel);
	ck_assert_int_eq(nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/*
 * What a crash can leave: partition directories without metadata (a
 * create or grow that did not commit, a delete that did not finish) are
 * removed; metadata without directories gets empty partitions; other
 * files are left alone.
 */
START_TEST(test_open_orphans)
{
	struct logd_store *st = open_store();
	struct logd_log *log;

	create_topic(st, "keep", 2);
	logd_store_close(st);
	make_dir("topics/gone-0");
	make_file("topics/gone-0/00000000000000000000.log");
	make_dir("topics/keep-2");     /* past the partition count */
	make_dir("topics/not a partition");
	make_file("topics/README");
	remove_rel("topics/keep-1");

	st = open_store();
	ck_assert(!exists("topics/gone-0"));
	ck_assert(!exists("topics/keep-2"));
	ck_assert(exists("topics/not a partition"));
	ck_assert(exists("topics/README"));
	ck_assert(exists("topics/keep-0"));
	ck_assert(exists("topics/keep-1"));
	ck_assert_int_eq(logd_store_log(st, "keep", 1, &log), 0);
	ck_assert_int_eq(logd_log_end_offset(log), 0);
	ck_assert_int_eq(logd_store_topic_config(st, "gone", NULL),
	    LOGD_ENOTOPIC);
	logd_store_close(st);
}
END_TEST

/* Metadata lost but data present: refuse rather than delete the data. */
START_TEST(test_open_meta_lost)
{
	struct logd_store *st = open_store();

	create_topic(st, "precious", 1);
	logd_store_close(st);
	remove_rel("meta");
	ck_assert_int_eq(logd_store_open(datadir, LOGD_STORE_CREATE, 1000,
	    NULL, NULL, &st), LOGD_ESTORE);
	ck_assert(exists("topics/precious-0"));
	/* Still refused the second time: the first left no empty meta/. */
	ck_assert_int_eq(logd_store_open(datadir, LOGD_STORE_CREATE, 1000,
	    NULL, NULL, &st), LOGD_ESTORE);
	ck_assert(exists("topics/precious-0"));
	ck_assert(!exists("meta/data.mdb"));
}
END_TEST

/* ------------------------------------------------------------------ */

static int64_t
fetch(struct logd_store *st, const char *g, const char *t, int32_t p)
{
	int64_t off = -7;
	int rc = logd_store_offset_fetch(st, g, t, p, &off, NULL, 0);

	return rc == 0 ? off : rc;
}

/*
 * Several groups' commits in one transaction (logd's group commit): a
 * bad one fails alone, the others land and stay after a reopen.
 */
START_TEST(test_offsets_commit_many)
{
	struct logd_store *st = open_store();
	struct logd_offset_commit a = { "w", 0, 7, NULL }, b = { "w", 5, 1,
	    NULL }, c = { "nosuch", 0, 1, NULL }, d = { "w", 1, 9, "m" };
	struct logd_offsets_op ops[5] = {
		{ "g1", &a, 1, 99 }, { "g2", &b, 1, 99 }, { "g3", &c, 1, 99 },
		{ "", &a, 1, 99 }, { "g1", &d, 1, 99 },
	};

	create_topic(st, "w", 2);
	ck_assert_int_eq(logd_store_offsets_commit_many(st, ops, 5, 1), 0);
	ck_assert_int_eq(ops[0].err, 0);
	ck_assert_int_eq(ops[1].err, LOGD_ENOPART);
	ck_assert_int_eq(ops[2].err, LOGD_ENOTOPIC);
	ck_assert_int_eq(ops[3].err, LOGD_EBADNAME);
	ck_assert_int_eq(ops[4].err, 0);
	ck_assert_int_eq(fetch(st, "g2", "w", 5), LOGD_ENOGROUP);
	logd_store_close(st);
	st = open_store();
	ck_assert_int_eq(fetch(st, "g1", "w", 0), 7);
	ck_assert_int_eq(fetch(st, "g1", "w", 1), 9);
	ck_assert_int_eq(fetch(st, "g3", "nosuch", 0), LOGD_ENOGROUP);
	logd_store_close(st);
}
END_TEST

START_TEST(test_offsets_commit_fetch)
{
	struct logd_store *st = open_store();
	struct logd_offset_commit c[3] = {
		{ "w", 0, 10, "meta-0" },
		{ "w", 1, 20, NULL },
		{ "a", 0, 5, "" },
	};
	char meta[16];
	int64_t off = -7;

	create_topic(st, "w", 2);
	create_topic(st, "a", 1);
	ck_assert_int_eq(logd_store_offset_fetch(st, "g", "w", 0, &off, meta,
	    sizeof(meta)), LOGD_ENOGROUP);
	ck_assert_int_eq(off, -7);
	ck_assert_int_eq(logd_store_offsets_commit(st, "g", c, 3, 1234), 0);
	ck_assert_int_eq(logd_store_offset_fetch(st, "g", "w", 0, &off, meta,
	    sizeof(meta)), 0);
	ck_assert_int_eq(off, 10);
	ck_assert_str_eq(meta, "meta-0");
	/* Truncated to the buffer, NUL-terminated. */
	ck_assert_int_eq(logd_store_offset_fetch(st, "g", "w", 0, &off, meta,
	    4), 0);
	ck_assert_str_eq(meta, "met");
	ck_assert_int_eq(logd_store_offset_fetch(st, "g", "w", 1, &off, meta,
	    sizeof(meta)), 0);
	ck_assert_int_eq(off, 20);
	ck_assert_str_eq(meta, "");
	ck_assert_int_eq(fetch(st, "g", "a", 0), 5);
	ck_assert_int_eq(fetch(st, "other", "w", 0), LOGD_ENOGROUP);
	ck_assert_int_eq(fetch(st, "g", "w", 2), LOGD_ENOGROUP);

	/* A later commit replaces. */
	c[0].offset = 11;
	ck_assert_int_eq(logd_store_offsets_commit(st, "g", c, 1, 1235), 0);
	ck_assert_int_eq(fetch(st, "g", "w", 0), 11);
	/* Bad input. */
	ck_assert_int_eq(logd_store_offsets_commit(st, "", c, 1, 1),
	    LOGD_EBADNAME);
	ck_assert_int_eq(logd_store_offsets_commit(st, "a\nb", c, 1, 1),
	    LOGD_EBADNAME);
	c[0].offset = -1;
	ck_assert_int_eq(logd_store_offsets_commit(st, "g", c, 1, 1),
	    -EINVAL);
	ck_assert_int_eq(logd_store_offsets_commit(st, "g", c, 0, 1), 0);
	ck_assert_int_eq(fetch(st, "g", "w", 0), 11);
	logd_store_close(st);

	/* Survives close and reopen. */
	st = open_store();
	ck_assert_int_eq(fetch(st, "g", "w", 0), 11);
	ck_assert_int_eq(fetch(st, "g", "w", 1), 20);
	ck_assert_int_eq(fetch(st, "g", "a", 0), 5);
	logd_store_close(st);
}
END_TEST

START_TEST(test_offsets_atomic)
{
	struct logd_store *st = open_store();
	struct logd_offset_commit c[3] = {
		{ "w", 0, 100, NULL },
		{ "w", 1, 200, NULL },
		{ "w", 2, 300, NULL }, /* w has 2 partitions */
	};
	static char big[4098];

	create_topic(st, "w", 2);
	ck_assert_int_eq(logd_store_offsets_commit(st, "g", c, 3, 1),
	    LOGD_ENOPART);
	ck_assert_int_eq(fetch(st, "g", "w", 0), LOGD_ENOGROUP);
	ck_assert_int_eq(fetch(st, "g", "w", 1), LOGD_ENOGROUP);
	c[2].topic = "nope";
	c[2].partition = 0;
	ck_assert_int_eq(logd_store_offsets_commit(st, "g", c, 3, 1),
	    LOGD_ENOTOPIC);
	ck_assert_int_eq(fetch(st, "g", "w", 0), LOGD_ENOGROUP);
	c[2].topic = "../w";
	ck_assert_int_eq(logd_store_offsets_commit(st, "g", c, 3, 1),
	    LOGD_ENOTOPIC);
	c[2].topic = "w";
	c[2].partition = -1;
	ck_assert_int_eq(logd_store_offsets_commit(st, "g", c, 3, 1),
	    LOGD_ENOPART);
	ck_assert_int_eq(fetch(st, "g", "w", 1), LOGD_ENOGROUP);
	memset(big, 'm', sizeof(big) - 1);
	c[2].partition = 1;
	c[2].metadata = big;
	ck_assert_int_eq(logd_store_offsets_commit(st, "g", c, 3, 1),
	    LOGD_ETOOBIG);
	ck_assert_int_eq(fetch(st, "g", "w", 0), LOGD_ENOGROUP);
	big[4096] = '\0'; /* the limit itself is fine */
	ck_assert_int_eq(logd_store_offsets_commit(st, "g", c, 3, 1), 0);
	ck_assert_int_eq(fetch(st, "g", "w", 0), 100);
	ck_assert_int_eq(fetch(st, "g", "w", 1), 300);
	/* After growing, the new partition takes commits. */
	c[2].partition = 2;
	c[2].metadata = NULL;
	ck_assert_int_eq(logd_store_offsets_commit(st, "g", c + 2, 1, 1),
	    LOGD_ENOPART);
	ck_assert_int_eq(logd_store_topic_alter(st, "w", "partitions", "3", 1),
	    0);
	ck_assert_int_eq(logd_store_offsets_commit(st, "g", c + 2, 1, 1), 0);
	ck_assert_int_eq(fetch(st, "g", "w", 2), 300);
	logd_store_close(st);
}
END_TEST

struct seen {
	char line[16][96];
	int n;
	int stop_after;
};

static int
collect_offsets(void *arg, const char *group, const char *topic,
    int32_t partition, int64_t offset, int64_t commit_ms, const char *meta)
{
	struct seen *s = arg;

	ck_assert_int_lt(s->n, 16);
	snprintf(s->line[s->n++], sizeof(s->line[0]), "%s/%s/%d=%" PRId64
	    "@%" PRId64 ":%s", group, topic, (int)partition, offset, commit_ms,
	    meta != NULL ? meta : "(null)");
	return s->n == s->stop_after ? 7 : 0;
}

START_TEST(test_offsets_list_delete)
{
	struct logd_store *st = open_store();
	struct logd_offset_commit c[] = {
		{ "w", 1, 1, "x" }, { "w", 0, 2, NULL }, { "w", 10, 3, NULL },
		{ "w", 2, 4, NULL }, { "a", 0, 5, NULL },
	};
	struct seen s;

	create_topic(st, "w", 11);
	create_topic(st, "a", 1);
	ck_assert_int_eq(logd_store_offsets_commit(st, "g2", c, 5, 77), 0);
	ck_assert_int_eq(logd_store_offsets_commit(st, "g", c + 4, 1, 88), 0);
	ck_assert_int_eq(logd_store_offsets_commit(st, "g1", c, 1, 99), 0);

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(logd_store_offsets(st, NULL, collect_offsets, &s), 0);
	ck_assert_int_eq(s.n, 7);
	ck_assert_str_eq(s.line[0], "g/a/0=5@88:(null)");
	ck_assert_str_eq(s.line[1], "g1/w/1=1@99:x");
	ck_assert_str_eq(s.line[2], "g2/a/0=5@77:(null)");
	ck_assert_str_eq(s.line[3], "g2/w/0=2@77:(null)");
	ck_assert_str_eq(s.line[4], "g2/w/1=1@77:x");
	ck_assert_str_eq(s.line[5], "g2/w/2=4@77:(null)");
	ck_assert_str_eq(s.line[6], "g2/w/10=3@77:(null)");

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(logd_store_offsets(st, "g", collect_offsets, &s), 0);
	ck_assert_int_eq(s.n, 1); /* not g1's or g2's */
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	ck_assert_int_eq(logd_store_offsets(st, "g2", collect_offsets, &s), 7);
	ck_assert_int_eq(s.n, 2);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(logd_store_offsets(st, "zzz", collect_offsets, &s), 0);
	ck_assert_int_eq(s.n, 0);

	ck_assert_int_eq(logd_store_group_delete(st, "g2"), 0);
	ck_assert_int_eq(logd_store_group_delete(st, "g2"), LOGD_ENOGROUP);
	ck_assert_int_eq(logd_store_group_delete(st, "nope"), LOGD_ENOGROUP);
	ck_assert_int_eq(fetch(st, "g2", "w", 0), LOGD_ENOGROUP);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(logd_store_offsets(st, NULL, collect_offsets, &s), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.line[0], "g/a/0=5@88:(null)");
	ck_assert_str_eq(s.line[1], "g1/w/1=1@99:x");
	logd_store_close(st);
}
END_TEST

START_TEST(test_offsets_topic_deleted)
{
	struct logd_store *st = open_store();
	struct logd_offset_commit c[] = {
		{ "w", 0, 1, NULL }, { "w", 1, 2, NULL }, { "k", 0, 3, NULL },
	};
	struct seen s;

	create_topic(st, "w", 2);
	create_topic(st, "k", 1);
	ck_assert_int_eq(logd_store_offsets_commit(st, "g", c, 3, 1), 0);
	ck_assert_int_eq(logd_store_offsets_commit(st, "h", c, 2, 1), 0);
	ck_assert_int_eq(logd_store_topic_delete(st, "w"), 0);
	ck_assert_int_eq(fetch(st, "g", "w", 0), LOGD_ENOGROUP);
	ck_assert_int_eq(fetch(st, "h", "w", 1), LOGD_ENOGROUP);
	ck_assert_int_eq(fetch(st, "g", "k", 0), 3);
	ck_assert_int_eq(logd_store_offsets_commit(st, "g", c, 1, 1),
	    LOGD_ENOTOPIC);
	/* A new topic of the same name starts without offsets. */
	create_topic(st, "w", 2);
	ck_assert_int_eq(fetch(st, "g", "w", 0), LOGD_ENOGROUP);
	logd_store_close(st);
	st = open_store();
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(logd_store_offsets(st, NULL, collect_offsets, &s), 0);
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(s.line[0], "g/k/0=3@1:(null)");
	ck_assert_int_eq(logd_store_group_delete(st, "h"), LOGD_ENOGROUP);
	logd_store_close(st);
}
END_TEST

/*
 * A daemon commits offsets on its flusher thread while its loop thread
 * creates, deletes and lists: both see consistent results.
 */
struct committer {
	struct logd_store *st;
	int failures;
};

static void *
commit_loop(void *arg)
{
	struct committer *c = arg;
	int64_t k, off;

	for (k = 1; k <= 100; k++) {
		struct logd_offset_commit oc = { "t", 0, k, "x" };

		if (logd_store_offsets_commit(c->st, "g", &oc, 1, k) != 0)
			c->failures++;
		if (logd_store_offset_fetch(c->st, "g", "t", 0, &off, NULL,
		    0) != 0 || off != k)
			c->failures++;
	}
	return NULL;
}

static int
count_offsets(void *arg, const char *group, const char *topic,
    int32_t partition, int64_t offset, int64_t commit_ms, const char *meta)
{
	(void)group;
	(void)topic;
	(void)partition;
	(void)offset;
	(void)commit_ms;
	(void)meta;
	++*(int *)arg;
	return 0;
}

START_TEST(test_offsets_threads)
{
	struct logd_store *st = open_store();
	struct committer c = { st, 0 };
	pthread_t th;
	char name[16];
	int i, n;

	create_topic(st, "t", 1);
	ck_assert_int_eq(pthread_create(&th, NULL, commit_loop, &c), 0);
	for (i = 0; i < 20; i++) {
		struct logd_offset_commit oc = { name, 0, i, NULL };

		snprintf(name, sizeof(name), "x%d", i);
		create_topic(st, name, 1);
		ck_assert_int_eq(logd_store_offsets_commit(st, "h", &oc, 1, 1),
		    0);
		n = 0;
		ck_assert_int_eq(logd_store_offsets(st, "h", count_offsets, &n),
		    0);
		ck_assert_int_eq(n, 1);
		ck_assert_int_eq(logd_store_topic_delete(st, name), 0);
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(c.failures, 0);
	ck_assert_int_eq(fetch(st, "g", "t", 0), 100);
	n = 0;
	ck_assert_int_eq(logd_store_offsets(st, NULL, count_offsets, &n), 0);
	ck_assert_int_eq(n, 1);
	logd_store_close(st);
}
END_TEST

/*
 * A child commits k to two partitions at once, k = 1, 2, ..., and writes
 * k to a pipe after each commit returns.  SIGKILL it at a random moment:
 * the stored offsets must be equal (one transaction), at least the last
 * k reported, and at most one more (a commit that returned but was not
 * yet reported); the metadata must be the one committed with it.
 */
static void
crash_child(int wfd)
{
	struct logd_store *st = NULL;
	int64_t k;
	char meta[32];

	if (logd_store_open(datadir, 0, 1000, NULL, NULL, &st) != 0)
		_exit(2);
	for (k = 1; k < 1000000; k++) {
		struct logd_offset_commit c[2] = {
			{ "crash", 0, k, meta }, { "crash", 1, k, meta },
		};

		snprintf(meta, sizeof(meta), "m%" PRId64, k);
		if (logd_store_offsets_commit(st, "g", c, 2, k) != 0)
			_exit(3);
		if (write(wfd, &k, sizeof(k)) != sizeof(k))
			_exit(4);
	}
	_exit(5);
}

START_TEST(test_offsets_survive_kill)
{
	struct logd_store *st = open_store();
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	int round;

	create_topic(st, "crash", 2);
	logd_store_close(st);
	srand(seed);
	for (round = 0; round < 3; round++) {
		int fds[2], status, want = 3 + rand() % 60;
		int64_t k, last = 0, off0, off1;
		char meta[32], expect[32];
		ssize_t r;
		pid_t pid;

		ck_assert_int_eq(pipe(fds), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			crash_child(fds[1]);
		}
		close(fds[1]);
		while (want-- > 0 &&
		    (r = read(fds[0], &k, sizeof(k))) == sizeof(k))
			last = k;
		usleep((useconds_t)(rand() % 3000));
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status), "child exited %d (seed %u)",
		    WEXITSTATUS(status), seed);
		while ((r = read(fds[0], &k, sizeof(k))) == sizeof(k))
			last = k;
		close(fds[0]);
		ck_assert_int_gt(last, 0);

		st = open_store();
		ck_assert_int_eq(logd_store_offset_fetch(st, "g", "crash", 0,
		    &off0, meta, sizeof(meta)), 0);
		ck_assert_int_eq(logd_store_offset_fetch(st, "g", "crash", 1,
		    &off1, NULL, 0), 0);
		logd_store_close(st);
		ck_assert_msg(off0 == off1, "torn commit %" PRId64 " %" PRId64
		    " (seed %u)", off0, off1, seed);
		ck_assert_msg(off0 >= last && off0 <= last + 1,
		    "stored %" PRId64 ", last reported %" PRId64 " (seed %u)",
		    off0, last, seed);
		snprintf(expect, sizeof(expect), "m%" PRId64, off0);
		ck_assert_str_eq(meta, expect);
	}
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

#define ADD(name, fn) do { \
	tc = tcase_create(name); \
	tcase_add_checked_fixture(tc, setup, teardown); \
	tcase_add_test(tc, fn); \
	suite_add_tcase(s, tc); \
} while (0)
	ADD("topic_names", test_topic_names);
	ADD("group_names", test_group_names);
	ADD("config_defaults", test_config_defaults);
	ADD("config_round_trip", test_config_round_trip);
	ADD("config_rejects", test_config_rejects);
	ADD("config_error", test_config_error);
	ADD("retain_reports", test_retain_reports);
	ADD("topics_create_list_delete", test_topics_create_list_delete);
	ADD("topics_many", test_topics_many);
	ADD("topics_alter", test_topics_alter);
	ADD("topics_data_survives", test_topics_data_survives);
	ADD("open_recover_callback", test_open_recover_callback);
	ADD("open_missing", test_open_missing);
	ADD("lock", test_lock);
	ADD("open_orphans", test_open_orphans);
	ADD("open_meta_lost", test_open_meta_lost);
	ADD("offsets_commit_fetch", test_offsets_commit_fetch);
	ADD("offsets_commit_many", test_offsets_commit_many);
	ADD("offsets_atomic", test_offsets_atomic);
	ADD("offsets_list_delete", test_offsets_list_delete);
	ADD("offsets_topic_deleted", test_offsets_topic_deleted);
	ADD("offsets_threads", test_offsets_threads);
	ADD("offsets_survive_kill", test_offsets_survive_kill);
#undef ADD
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
