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
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
