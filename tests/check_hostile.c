/*
 * check_hostile.c - requests that wait (long-poll fetches) used as a
 * weapon: they must cost an append nothing, and go with their client.
 *
 *   parked_fetches_cheap: one connection parks 500 fetches that want
 *     1 MiB each and never reads.  Producing 5,000 one-record requests
 *     on that partition must cost logd about what it costs with no
 *     fetch parked (it once re-read 1 MiB for each parked fetch on
 *     every append: producers fell from 166 MB/s to 2 MB/s).  When the
 *     client closes, its fetches go: the cost stays low after it.
 *   ghost_connections: 300 clients each send one long-poll fetch
 *     (max_wait_ms one hour) and close.  logd closes every one of them
 *     at once (it once kept them in CLOSE-WAIT until the fetch timed
 *     out, and refused everyone at max_connections).
 *   poison_batch: a batch whose attributes say gzip but whose records
 *     are plain, with a good CRC, and a transactional batch are refused
 *     with a message that says why, and nothing is stored (one was
 *     stored once: every consumer then failed at its offset forever).
 *   commit_past_end: a group whose commit is past the log's end (2^63-1
 *     once made logtail -g read nothing, forever) reads from the start
 *     like a group without a commit: Kafka's brokers take any offset, so
 *     logd does too, and its consumers treat a fetch out of range as a
 *     reset.
 *   timestamps: a producer whose every batch is 8 days after the one
 *     before once rolled a segment per batch (segment.ms by record time;
 *     21,800 segments exhausted the maps): 400 such batches now make one
 *     segment; a batch two hours ahead of the clock is refused (topic
 *     setting message.timestamp.after.max.ms), and one a year behind
 *     when message.timestamp.before.max.ms says a day.
 *   warn_flood: 1,000 clients that each send a bad frame once wrote a
 *     warning line each (36,492 for 100k): a handful now, the next one
 *     after a quiet spell saying how many more were left out.
 *   utf8_errors: an error reply that names what the client sent (an
 *     unknown group of invalid UTF-8) is valid UTF-8: strict msgpack
 *     decoders refuse anything else.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "logd.h"
#include "proto.h"
#include "testlogd.h"

static struct testlogd t;

static void setup(void)
{
	ck_assert_int_eq(testlogd_start(&t, "auto_create_topics = yes\n"
	    "max_connections = 2000\n"), 0);
}

static void teardown(void)
{
	testlogd_stop(&t);
}

/* Sends a native FETCH of topic/0 at offset on fd. */
static void send_fetch(int fd, uint32_t corr, int64_t offset,
    int64_t min_bytes, int64_t max_wait)
{
	struct logd_pbuf b;

	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_FETCH, corr);
	msgpack_pack_map(&b.pk, 5);
	logd_pack_kv_str(&b.pk, "topic", "hostile");
	logd_pack_kv_int(&b.pk, "partition", 0);
	logd_pack_kv_int(&b.pk, "offset", offset);
	logd_pack_kv_int(&b.pk, "min_bytes", min_bytes);
	logd_pack_kv_int(&b.pk, "max_wait_ms", max_wait);
	ck_assert_int_eq(logd_proto_end(&b, 0), 0);
	ck_assert_int_eq(write(fd, b.data, b.len), (ssize_t)b.len);
	logd_pbuf_free(&b);
}

/* Produces n one-record requests; logd's CPU ticks it took. */
static long produce_cost(struct logd_client *c, int n)
{
	struct logd_batch_builder *b;
	const uint8_t *batch;
	size_t len;
	long t0;
	int i;

	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	ck_assert_int_eq(logd_batch_builder_add(b, 0, NULL, 0, "reading", 7,
	    NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(b, &batch, &len), 0);
	t0 = testlogd_cpu_ticks(t.pid);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(logd_client_produce(c, "hostile", 0, NULL, 0,
		    1, batch, len, NULL, NULL), 0);
	logd_batch_builder_free(b);
	return testlogd_cpu_ticks(t.pid) - t0;
}

START_TEST(test_parked_fetches_cheap)
{
	struct logd_client *c;
	long base, parked, after;
	int fd, i;

	ck_assert_int_eq(logd_client_open(t.addr, NULL, &c), 0);
	produce_cost(c, 10);
	base = produce_cost(c, 5000);
	fd = testlogd_connect(&t);
	ck_assert_int_ge(fd, 0);
	for (i = 0; i < 500; i++)
		send_fetch(fd, (uint32_t)i, 0, 1 << 20, 3600000);
	usleep(300000);
	parked = produce_cost(c, 5000);
	close(fd);
	usleep(300000);
	after = produce_cost(c, 5000);
	printf("parked_fetches_cheap: logd CPU ticks for 5000 appends: %ld "
	    "alone, %ld with 500 parked fetches, %ld after their client "
	    "left\n", base, parked, after);
	ck_assert_int_lt(parked, 3 * base + 30);
	ck_assert_int_lt(after, 3 * base + 30);
	logd_client_close(c);
}
END_TEST

START_TEST(test_ghost_connections)
{
	struct logd_client *c;
	int fds[300], base, now, i, tries;

	ck_assert_int_eq(logd_client_open(t.addr, NULL, &c), 0);
	produce_cost(c, 1);
	base = testlogd_proc_fds(t.pid);
	for (i = 0; i < 300; i++) {
		fds[i] = testlogd_connect(&t);
		ck_assert_int_ge(fds[i], 0);
		send_fetch(fds[i], 1, 1, 1, 3600000);
	}
	usleep(200000);
	ck_assert_int_ge(testlogd_proc_fds(t.pid), base + 250);
	for (i = 0; i < 300; i++)
		close(fds[i]);
	for (tries = 0; tries < 50; tries++) {
		now = testlogd_proc_fds(t.pid);
		if (now <= base + 2)
			break;
		usleep(100000);
	}
	printf("ghost_connections: logd fds %d before, %d after 300 clients "
	    "parked a fetch and left\n", base, now);
	ck_assert_int_le(now, base + 2);
	/* and a new client is served */
	ck_assert_int_eq(produce_cost(c, 1) >= 0, 1);
	logd_client_close(c);
}
END_TEST

START_TEST(test_poison_batch)
{
	struct logd_batch_builder *b;
	struct logd_client *c = NULL;
	const uint8_t *batch;
	uint8_t *bad;
	uint32_t crc;
	size_t len;
	int64_t base = -1;

	ck_assert_int_eq(logd_client_open(t.addr, NULL, &c), 0);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	ck_assert_int_eq(logd_batch_builder_add(b, 0, NULL, 0, "plain", 5,
	    NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(b, &batch, &len), 0);
	bad = malloc(len);
	memcpy(bad, batch, len);
	bad[22] |= LOGD_CODEC_GZIP;
	crc = logd_crc32c(0, bad + 21, len - 21);
	bad[17] = (uint8_t)(crc >> 24);
	bad[18] = (uint8_t)(crc >> 16);
	bad[19] = (uint8_t)(crc >> 8);
	bad[20] = (uint8_t)crc;
	ck_assert_int_eq(logd_client_produce(c, "poison", 0, NULL, 0, -1, bad,
	    len, NULL, &base), LOGD_EBADBATCH);
	ck_assert_msg(strstr(logd_client_errmsg(c), "do not decompress"),
	    "%s", logd_client_errmsg(c));
	memcpy(bad, batch, len);
	bad[22] |= LOGD_ATTR_TRANSACTIONAL;
	crc = logd_crc32c(0, bad + 21, len - 21);
	bad[17] = (uint8_t)(crc >> 24);
	bad[18] = (uint8_t)(crc >> 16);
	bad[19] = (uint8_t)(crc >> 8);
	bad[20] = (uint8_t)crc;
	ck_assert_int_eq(logd_client_produce(c, "poison", 0, NULL, 0, -1, bad,
	    len, NULL, &base), LOGD_EBADBATCH);
	ck_assert_msg(strstr(logd_client_errmsg(c), "transactional"), "%s",
	    logd_client_errmsg(c));
	/* nothing was stored: the good batch is offset 0 */
	ck_assert_int_eq(logd_client_produce(c, "poison", 0, NULL, 0, -1,
	    batch, len, NULL, &base), 0);
	ck_assert_int_eq(base, 0);
	free(bad);
	logd_batch_builder_free(b);
	logd_client_close(c);
}
END_TEST

/* A one-record batch with timestamp ts. */
static void ts_batch(struct logd_batch_builder *b, int64_t ts,
    const uint8_t **batch, size_t *len)
{
	logd_batch_builder_reset(b);
	ck_assert_int_eq(logd_batch_builder_add(b, ts, NULL, 0, "t", 1, NULL,
	    0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(b, batch, len), 0);
}

/* The .log files of topic-0. */
static int segment_files(const char *topic)
{
	char cmd[600], out[32] = "";
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ls %s/topics/%s-0 | grep -c '\\.log$'",
	    t.datadir, topic);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(out, sizeof(out), f));
	pclose(f);
	return atoi(out);
}

START_TEST(test_timestamps)
{
	const int64_t day = 24 * 3600 * 1000LL;
	const struct logd_kv day_before = { "message.timestamp.before.max.ms",
	    "86400000" };
	struct logd_batch_builder *b;
	struct logd_client *c = NULL;
	const uint8_t *batch;
	struct timespec now;
	int64_t ms, base;
	size_t len;
	int i;

	clock_gettime(CLOCK_REALTIME, &now);
	ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	ck_assert_int_eq(logd_client_open(t.addr, NULL, &c), 0);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	ck_assert_int_eq(logd_client_topic_create(c, "days", 1, NULL, 0), 0);
	/* 400 batches 8 days apart (ending now): one segment */
	base = ms - 400 * 8 * day;
	for (i = 0; i < 400; i++) {
		ts_batch(b, base + i * 8 * day, &batch, &len);
		ck_assert_int_eq(logd_client_produce(c, "days", 0, NULL, 0, 1,
		    batch, len, NULL, NULL), 0);
	}
	ck_assert_int_le(segment_files("days"), 2);
	/* two hours ahead: refused, saying why */
	ts_batch(b, ms + 2 * 3600 * 1000, &batch, &len);
	ck_assert_int_eq(logd_client_produce(c, "days", 0, NULL, 0, 1, batch,
	    len, NULL, NULL), LOGD_ETIMESTAMP);
	ck_assert_msg(strstr(logd_client_errmsg(c), "ms after the broker's "
	    "clock") && strstr(logd_client_errmsg(c),
	    "message.timestamp.after.max.ms"), "%s", logd_client_errmsg(c));
	/* a minute ahead is fine */
	ts_batch(b, ms + 60 * 1000, &batch, &len);
	ck_assert_int_eq(logd_client_produce(c, "days", 0, NULL, 0, 1, batch,
	    len, NULL, NULL), 0);
	/* a topic that takes a day before: a year back is refused */
	ck_assert_int_eq(logd_client_topic_create(c, "recent", 1, &day_before,
	    1), 0);
	ts_batch(b, ms - 365 * day, &batch, &len);
	ck_assert_int_eq(logd_client_produce(c, "recent", 0, NULL, 0, 1, batch,
	    len, NULL, NULL), LOGD_ETIMESTAMP);
	ck_assert_msg(strstr(logd_client_errmsg(c),
	    "message.timestamp.before.max.ms"), "%s", logd_client_errmsg(c));
	ts_batch(b, ms - 3600 * 1000, &batch, &len);
	ck_assert_int_eq(logd_client_produce(c, "recent", 0, NULL, 0, 1, batch,
	    len, NULL, NULL), 0);
	logd_batch_builder_free(b);
	logd_client_close(c);
}
END_TEST

/* Lines of logd's log holding s. */
static int log_lines(const char *s)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(t.logfile, "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, s) != NULL)
			n++;
	fclose(f);
	return n;
}

/* Connects, sends a frame length over max_frame_bytes, waits for EOF. */
static void bad_frame(void)
{
	static const unsigned char huge[4] = { 0x7f, 0xff, 0xff, 0xff };
	char buf[4096];
	int fd = testlogd_connect(&t);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, huge, sizeof(huge)), (ssize_t)sizeof(huge));
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
}

START_TEST(test_warn_flood)
{
	int i, n;

	for (i = 0; i < 1000; i++)
		bad_frame();
	n = log_lines("exceeds max_frame_bytes: closing");
	ck_assert_msg(n >= 1 && n <= 10, "%d warning lines for 1000 bad "
	    "frames", n);
	/* after the window, the next warning counts those left out */
	sleep(10);
	usleep(200000);
	bad_frame();
	ck_assert_int_eq(log_lines("more like it since the last warning"), 1);
	ck_assert_int_le(log_lines("exceeds max_frame_bytes: closing"), 11);
}
END_TEST

START_TEST(test_commit_past_end)
{
	struct logd_consumer_options o = { 0 };
	struct logd_offset_commit oc = { "past", 0, INT64_MAX, NULL };
	struct logd_batch_builder *b;
	struct logd_client *c = NULL, *c2 = NULL;
	struct logd_consumer *cs = NULL;
	struct logd_consumer_record r;
	const uint8_t *batch;
	size_t len;
	int i, n = 0, rc;

	ck_assert_int_eq(logd_client_open(t.addr, NULL, &c), 0);
	ck_assert_int_eq(logd_client_topic_create(c, "past", 1, NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(logd_batch_builder_add(b, 0, NULL, 0, "r", 1,
		    NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(b, &batch, &len), 0);
	ck_assert_int_eq(logd_client_produce(c, "past", 0, NULL, 0, -1, batch,
	    len, NULL, NULL), 0);
	ck_assert_int_eq(logd_client_offsets_commit(c, "gp", &oc, 1), 0);
	ck_assert_int_eq(logd_client_open(t.addr, NULL, &c2), 0);
	o.group = "gp";
	ck_assert_int_eq(logd_consumer_new(c2, &o, &cs), 0);
	ck_assert_int_eq(logd_consumer_subscribe(cs, "past"), 0);
	for (i = 0; i < 100 && n < 3; i++) {
		rc = logd_consumer_poll(cs, 100, &r);
		ck_assert_int_ge(rc, 0);
		if (rc == 1) {
			ck_assert_int_eq(r.rec.offset, n);
			n++;
		}
	}
	ck_assert_int_eq(n, 3);
	logd_consumer_close(cs);
	logd_client_close(c2);
	logd_batch_builder_free(b);
	logd_client_close(c);
}
END_TEST

/* Whether s is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static int utf8_ok(const unsigned char *s)
{
	int n, i;

	while (*s) {
		n = *s < 0x80 ? 1 : *s >= 0xc2 && *s <= 0xdf ? 2 :
		    *s >= 0xe0 && *s <= 0xef ? 3 : *s >= 0xf0 && *s <= 0xf4 ?
		    4 : 0;
		if (!n)
			return 0;
		for (i = 1; i < n; i++)
			if ((s[i] & 0xc0) != 0x80)
				return 0;
		if ((n == 3 && s[0] == 0xe0 && s[1] < 0xa0) ||
		    (n == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
		    (n == 4 && s[0] == 0xf0 && s[1] < 0x90) ||
		    (n == 4 && s[0] == 0xf4 && s[1] >= 0x90))
			return 0;
		s += n;
	}
	return 1;
}

START_TEST(test_utf8_errors)
{
	struct logd_client *c = NULL;
	int rc;

	ck_assert_int_eq(logd_client_open(t.addr, NULL, &c), 0);
	rc = logd_client_group_delete(c, "\xc8" "f2");
	ck_assert_int_eq(rc, LOGD_ENOGROUP);
	ck_assert_msg(strstr(logd_client_errmsg(c), "f2"), "%s",
	    logd_client_errmsg(c));
	ck_assert_msg(utf8_ok((const unsigned char *)logd_client_errmsg(c)),
	    "not UTF-8: %s", logd_client_errmsg(c));
	rc = logd_client_topic_create(c, "bad\xff\xfe", 1, NULL, 0);
	ck_assert_int_eq(rc, LOGD_EBADNAME);
	ck_assert_msg(utf8_ok((const unsigned char *)logd_client_errmsg(c)),
	    "not UTF-8: %s", logd_client_errmsg(c));
	logd_client_close(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hostile");
	TCase *tc;
	SRunner *sr;
	int failed;

	tc = tcase_create("parked_fetches_cheap");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_parked_fetches_cheap);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	tc = tcase_create("ghost_connections");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ghost_connections);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("poison_batch");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_poison_batch);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("timestamps");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_timestamps);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("warn_flood");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_warn_flood);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("commit_past_end");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_commit_past_end);
	suite_add_tcase(s, tc);
	tc = tcase_create("utf8_errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_utf8_errors);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
