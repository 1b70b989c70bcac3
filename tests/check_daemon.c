/*
 * check_daemon.c - the logd daemon, spoken to in the raw native protocol
 * (lib/proto.c) over real sockets: a real logd on a temp dir and a free
 * port per test (testlogd.h).
 *
 * Covers the request families, group commit (acks=all), long-poll, every
 * kind of bad input (each gets its error, or its connection closed, and
 * another client keeps being served), the config file's errors, the
 * datadir lock, signals, idle timeout, max_connections, a stalled
 * half-frame, backpressure, and restart after kill -9.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "logd.h"
#include "proto.h"
#include "testlogd.h"

static struct testlogd t;
static msgpack_zone zone;
static struct logd_msg msg;
static uint8_t *rbuf;
static size_t rbuf_cap;

static void setup_zone(void)
{
	ck_assert(msgpack_zone_init(&zone, 8192));
}

static void teardown(void)
{
	testlogd_stop(&t);
	msgpack_zone_destroy(&zone);
	free(rbuf);
	rbuf = NULL;
	rbuf_cap = 0;
}

static void start(const char *extra)
{
	setup_zone();
	ck_assert_msg(testlogd_start(&t, extra) == 0, "logd did not start");
}

static void setup(void)
{
	start(NULL);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static void send_all(int fd, const void *p, size_t n)
{
	const char *s = p;

	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		ck_assert_msg(w > 0, "send: %s", strerror(errno));
		s += w;
		n -= (size_t)w;
	}
}

/* Reads exactly n bytes; 0, or -1 on EOF/error/timeout. */
static int read_full(int fd, void *p, size_t n, int timeout_ms)
{
	char *s = p;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	while (n) {
		ssize_t r;

		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
		r = read(fd, s, n);
		if (r <= 0)
			return -1;
		s += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Reads one frame and decodes it into msg; 0 or -1. */
static int recv_msg(int fd, int timeout_ms)
{
	uint8_t h[4];
	size_t n;

	if (read_full(fd, h, 4, timeout_ms))
		return -1;
	n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
	if (n > rbuf_cap) {
		rbuf = realloc(rbuf, n);
		rbuf_cap = n;
	}
	if (read_full(fd, rbuf, n, timeout_ms))
		return -1;
	ck_assert_int_eq(logd_proto_decode(rbuf, n, &zone, &msg), 0);
	return 0;
}

static int64_t field_int(const char *key)
{
	int64_t v = 0;

	ck_assert_msg(logd_proto_int(&msg, NULL, key, &v) == 0, "%s", msg.err);
	return v;
}

static int64_t reply_error(void)
{
	return field_int("error");
}

static const char *reply_message(void)
{
	static char m[512];

	if (logd_proto_cstr_opt(&msg, NULL, "message", m, sizeof(m)))
		return "";
	return m;
}

static int connect_ok(void)
{
	int fd = testlogd_connect(&t);

	ck_assert_int_ge(fd, 0);
	return fd;
}

/* Sends the frame in b and waits for one reply. */
static void rpc(int fd, struct logd_pbuf *b)
{
	ck_assert_int_eq(logd_proto_end(b, 0), 0);
	send_all(fd, b->data, b->len);
	logd_pbuf_reset(b);
	ck_assert_msg(recv_msg(fd, 10000) == 0, "no reply");
}

static int64_t create_topic(int fd, const char *name, int parts,
    const char *ckey, const char *cval)
{
	struct logd_pbuf b;

	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_CREATE, 1);
	msgpack_pack_map(&b.pk, ckey ? 3 : 2);
	logd_pack_kv_str(&b.pk, "topic", name);
	logd_pack_kv_int(&b.pk, "partitions", parts);
	if (ckey) {
		logd_pack_str(&b.pk, "config");
		msgpack_pack_map(&b.pk, 1);
		logd_pack_kv_str(&b.pk, ckey, cval);
	}
	rpc(fd, &b);
	logd_pbuf_free(&b);
	return reply_error();
}

/* A batch of n records of vlen bytes; the caller frees it. */
static uint8_t *make_batch(int n, size_t vlen, size_t *len)
{
	struct logd_batch_builder *bb;
	const uint8_t *p;
	uint8_t *out, *v = malloc(vlen + 1);
	int i;

	memset(v, 'v', vlen);
	ck_assert_int_eq(logd_batch_builder_new(&bb), 0);
	for (i = 0; i < n; i++) {
		v[0] = (uint8_t)i;
		ck_assert_int_eq(logd_batch_builder_add(bb, 1700000000000 + i,
		    "k", 1, v, vlen, NULL, 0), 0);
	}
	ck_assert_int_eq(logd_batch_builder_finish(bb, &p, len), 0);
	out = malloc(*len);
	memcpy(out, p, *len);
	logd_batch_builder_free(bb);
	free(v);
	return out;
}

static void pack_produce(struct logd_pbuf *b, uint32_t corr,
    const char *topic, int partition, int acks, const void *rec,
    size_t len)
{
	logd_proto_begin(b, LOGD_API_PRODUCE, corr);
	msgpack_pack_map(&b->pk, 4);
	logd_pack_kv_str(&b->pk, "topic", topic);
	logd_pack_kv_int(&b->pk, "partition", partition);
	logd_pack_kv_int(&b->pk, "acks", acks);
	logd_pack_kv_bin(&b->pk, "records", rec, len);
}

static int64_t produce(int fd, const char *topic, int partition, int acks,
    const void *rec, size_t len)
{
	struct logd_pbuf b;

	logd_pbuf_init(&b);
	pack_produce(&b, 7, topic, partition, acks, rec, len);
	rpc(fd, &b);
	logd_pbuf_free(&b);
	return reply_error();
}

static void pack_fetch(struct logd_pbuf *b, uint32_t corr, const char *topic,
    int partition, int64_t offset, int64_t max_wait, int64_t min_bytes)
{
	logd_proto_begin(b, LOGD_API_FETCH, corr);
	msgpack_pack_map(&b->pk, 5);
	logd_pack_kv_str(&b->pk, "topic", topic);
	logd_pack_kv_int(&b->pk, "partition", partition);
	logd_pack_kv_int(&b->pk, "offset", offset);
	logd_pack_kv_int(&b->pk, "max_wait_ms", max_wait);
	logd_pack_kv_int(&b->pk, "min_bytes", min_bytes);
}

static int64_t fetch(int fd, const char *topic, int partition,
    int64_t offset, const void **rec, size_t *len)
{
	struct logd_pbuf b;
	int64_t e;

	logd_pbuf_init(&b);
	pack_fetch(&b, 9, topic, partition, offset, 0, 1);
	rpc(fd, &b);
	logd_pbuf_free(&b);
	e = reply_error();
	if (!e && rec)
		ck_assert_int_eq(logd_proto_bin(&msg, NULL, "records", rec,
		    len), 0);
	return e;
}

static void hello_ok(int fd)
{
	struct logd_pbuf b;
	char v[32];

	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_HELLO, 77);
	msgpack_pack_map(&b.pk, 0);
	rpc(fd, &b);
	logd_pbuf_free(&b);
	ck_assert_int_eq(msg.api, LOGD_API_HELLO);
	ck_assert_uint_eq(msg.corr, 77);
	ck_assert_int_eq(reply_error(), 0);
	ck_assert_int_eq(logd_proto_cstr(&msg, NULL, "version", v, sizeof(v)),
	    0);
	ck_assert_str_eq(v, LOGD_VERSION_STRING);
}

/* 1 if the peer closed fd (EOF) within timeout_ms. */
static int closed_by_peer(int fd, int timeout_ms)
{
	char c[4096];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	long end = now_ms() + timeout_ms;

	while (now_ms() < end) {
		ssize_t r;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		r = read(fd, c, sizeof(c));
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */

START_TEST(test_produce_fetch)
{
	int fd = connect_ok();
	uint8_t *b1, *b2, *b3;
	size_t l1, l2, l3, len;
	const void *rec;
	const uint8_t *r;
	struct logd_batch_info info;

	hello_ok(fd);
	ck_assert_int_eq(create_topic(fd, "weather", 2, NULL, NULL), 0);
	ck_assert_int_eq(create_topic(fd, "weather", 2, NULL, NULL),
	    LOGD_ETOPICEXIST);
	b1 = make_batch(10, 100, &l1);
	b2 = make_batch(5, 50, &l2);
	b3 = make_batch(1, 10, &l3);
	ck_assert_int_eq(produce(fd, "weather", 1, 1, b1, l1), 0);
	ck_assert_int_eq(field_int("partition"), 1);
	ck_assert_int_eq(field_int("base_offset"), 0);
	ck_assert_int_eq(field_int("last_offset"), 9);
	ck_assert_int_eq(produce(fd, "weather", 1, -1, b2, l2), 0);
	ck_assert_int_eq(field_int("base_offset"), 10);
	ck_assert_int_eq(field_int("last_offset"), 14);
	/* acks=0: no reply; the next request's reply comes first. */
	{
		struct logd_pbuf b;

		logd_pbuf_init(&b);
		pack_produce(&b, 8, "weather", 1, 0, b3, l3);
		ck_assert_int_eq(logd_proto_end(&b, 0), 0);
		send_all(fd, b.data, b.len);
		logd_pbuf_free(&b);
	}
	ck_assert_int_eq(fetch(fd, "weather", 1, 0, &rec, &len), 0);
	ck_assert_int_eq(field_int("start"), 0);
	ck_assert_int_eq(field_int("end"), 16);
	ck_assert_uint_eq(len, l1 + l2 + l3);
	r = rec;
	/* Stored bytes are the sent batches with baseOffset rewritten. */
	ck_assert(memcmp(r + 8, b1 + 8, l1 - 8) == 0);
	ck_assert(memcmp(r + l1 + 8, b2 + 8, l2 - 8) == 0);
	ck_assert(memcmp(r + l1 + l2 + 8, b3 + 8, l3 - 8) == 0);
	ck_assert_int_eq(logd_batch_check(r + l1, len - l1, &info), 0);
	ck_assert_int_eq(info.base_offset, 10);
	ck_assert_int_eq(logd_batch_check(r + l1 + l2, l3, &info), 0);
	ck_assert_int_eq(info.base_offset, 15);
	/* Fetch from the middle of a batch returns the whole batch. */
	ck_assert_int_eq(fetch(fd, "weather", 1, 12, &rec, &len), 0);
	ck_assert_uint_eq(len, l2 + l3);
	/* At the end, with no wait: empty. */
	ck_assert_int_eq(fetch(fd, "weather", 1, 16, &rec, &len), 0);
	ck_assert_uint_eq(len, 0);
	/* Partition 0 is untouched. */
	ck_assert_int_eq(fetch(fd, "weather", 0, 0, &rec, &len), 0);
	ck_assert_uint_eq(len, 0);
	free(b1);
	free(b2);
	free(b3);
	close(fd);
}
END_TEST

START_TEST(test_produce_by_key)
{
	int fd = connect_ok(), i, seen[8] = { 0 };
	struct logd_pbuf b;
	uint8_t *batch;
	size_t len;
	char key[16];
	int32_t want;

	ck_assert_int_eq(create_topic(fd, "keyed", 8, NULL, NULL), 0);
	batch = make_batch(1, 20, &len);
	logd_pbuf_init(&b);
	for (i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "station-%d", i);
		want = logd_partition_for_key(key, strlen(key), 8);
		logd_proto_begin(&b, LOGD_API_PRODUCE, (uint32_t)i);
		msgpack_pack_map(&b.pk, 4);
		logd_pack_kv_str(&b.pk, "topic", "keyed");
		logd_pack_kv_bin(&b.pk, "key", key, strlen(key));
		logd_pack_kv_int(&b.pk, "acks", 1);
		logd_pack_kv_bin(&b.pk, "records", batch, len);
		rpc(fd, &b);
		ck_assert_int_eq(reply_error(), 0);
		ck_assert_int_eq(field_int("partition"), want);
		ck_assert_int_eq(field_int("base_offset"), seen[want]++);
	}
	/* No key: round robin spreads over every partition. */
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < 16; i++) {
		logd_proto_begin(&b, LOGD_API_PRODUCE, 100);
		msgpack_pack_map(&b.pk, 3);
		logd_pack_kv_str(&b.pk, "topic", "keyed");
		logd_pack_kv_int(&b.pk, "acks", 1);
		logd_pack_kv_bin(&b.pk, "records", batch, len);
		rpc(fd, &b);
		ck_assert_int_eq(reply_error(), 0);
		seen[field_int("partition")]++;
	}
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(seen[i], 2);
	logd_pbuf_free(&b);
	free(batch);
	close(fd);
}
END_TEST

/* Many acks=all produces pipelined: every one answered, in offsets. */
START_TEST(test_acks_all_pipelined)
{
	int fd = connect_ok(), i, n = 200;
	struct logd_pbuf b;
	uint8_t *batch;
	size_t len;
	int got[200] = { 0 };

	ck_assert_int_eq(create_topic(fd, "durable", 1, NULL, NULL), 0);
	batch = make_batch(10, 100, &len);
	logd_pbuf_init(&b);
	for (i = 0; i < n; i++) {
		pack_produce(&b, (uint32_t)i, "durable", 0, -1, batch, len);
		ck_assert_int_eq(logd_proto_end(&b, 0), 0);
	}
	send_all(fd, b.data, b.len);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(recv_msg(fd, 10000), 0);
		ck_assert_int_eq(reply_error(), 0);
		ck_assert_uint_lt(msg.corr, (unsigned)n);
		got[msg.corr]++;
		ck_assert_int_eq(field_int("base_offset"), msg.corr * 10);
	}
	for (i = 0; i < n; i++)
		ck_assert_int_eq(got[i], 1);
	logd_pbuf_free(&b);
	free(batch);
	close(fd);
}
END_TEST

START_TEST(test_long_poll)
{
	int a = connect_ok(), p = connect_ok();
	struct logd_pbuf b;
	uint8_t *batch;
	size_t len;
	const void *rec;
	long t0;

	ck_assert_int_eq(create_topic(p, "lp", 1, NULL, NULL), 0);
	batch = make_batch(3, 30, &len);
	logd_pbuf_init(&b);
	/* Wakes on append, well before max_wait. */
	pack_fetch(&b, 5, "lp", 0, 0, 20000, 1);
	ck_assert_int_eq(logd_proto_end(&b, 0), 0);
	send_all(a, b.data, b.len);
	logd_pbuf_reset(&b);
	usleep(100000);
	t0 = now_ms();
	ck_assert_int_eq(produce(p, "lp", 0, 1, batch, len), 0);
	ck_assert_int_eq(recv_msg(a, 10000), 0);
	ck_assert_msg(now_ms() - t0 < 5000, "long-poll did not wake");
	ck_assert_uint_eq(msg.corr, 5);
	ck_assert_int_eq(reply_error(), 0);
	ck_assert_int_eq(logd_proto_bin(&msg, NULL, "records", &rec, &len), 0);
	ck_assert_uint_eq(len, len);
	ck_assert_int_gt(len, 0);
	/* Times out with nothing. */
	pack_fetch(&b, 6, "lp", 0, 3, 200, 1);
	t0 = now_ms();
	rpc(a, &b);
	ck_assert_int_ge(now_ms() - t0, 150);
	ck_assert_int_eq(reply_error(), 0);
	ck_assert_int_eq(logd_proto_bin(&msg, NULL, "records", &rec, &len), 0);
	ck_assert_uint_eq(len, 0);
	/* Waits for min_bytes across several appends. */
	pack_fetch(&b, 7, "lp", 0, 3, 20000, 3 * 100);
	ck_assert_int_eq(logd_proto_end(&b, 0), 0);
	send_all(a, b.data, b.len);
	logd_pbuf_reset(&b);
	free(batch);
	batch = make_batch(1, 10, &len);
	ck_assert_int_eq(produce(p, "lp", 0, 1, batch, len), 0);
	{
		struct pollfd pfd = { .fd = a, .events = POLLIN };

		ck_assert_int_eq(poll(&pfd, 1, 300), 0);
	}
	free(batch);
	batch = make_batch(10, 100, &len);
	ck_assert_int_eq(produce(p, "lp", 0, 1, batch, len), 0);
	ck_assert_int_eq(recv_msg(a, 10000), 0);
	ck_assert_uint_eq(msg.corr, 7);
	ck_assert_int_eq(logd_proto_bin(&msg, NULL, "records", &rec, &len), 0);
	ck_assert_uint_ge(len, 300);
	logd_pbuf_free(&b);
	free(batch);
	close(a);
	close(p);
}
END_TEST

/* ---- streaming fetches (FETCH stream, FETCH_CREDIT) ---- */

static void send_frame(int fd, struct logd_pbuf *b)
{
	ck_assert_int_eq(logd_proto_end(b, 0), 0);
	send_all(fd, b->data, b->len);
	logd_pbuf_reset(b);
}

static void pack_stream(struct logd_pbuf *b, uint32_t corr,
    const char *topic, int64_t offset, int64_t max_wait, int64_t n)
{
	logd_proto_begin(b, LOGD_API_FETCH, corr);
	msgpack_pack_map(&b->pk, 5);
	logd_pack_kv_str(&b->pk, "topic", topic);
	logd_pack_kv_int(&b->pk, "partition", 0);
	logd_pack_kv_int(&b->pk, "offset", offset);
	logd_pack_kv_int(&b->pk, "max_wait_ms", max_wait);
	logd_pack_kv_int(&b->pk, "stream", n);
}

static void pack_credit(struct logd_pbuf *b, uint32_t corr,
    int64_t stream, const char *key, int64_t v)
{
	logd_proto_begin(b, LOGD_API_FETCH_CREDIT, corr);
	msgpack_pack_map(&b->pk, 2);
	logd_pack_kv_int(&b->pk, "corr", stream);
	logd_pack_kv_int(&b->pk, key, v);
}

/* Nothing arrives on fd within ms. */
static int quiet(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 0;
}

/* The stream reply in msg: its corr, stream flag, base of its records. */
static int64_t stream_reply(uint32_t corr, int64_t more, size_t *len)
{
	struct logd_batch_info info;
	const void *rec;

	ck_assert_uint_eq(msg.corr, corr);
	ck_assert_int_eq(msg.api, LOGD_API_FETCH);
	ck_assert_msg(reply_error() == 0, "%s", reply_message());
	ck_assert_int_eq(field_int("stream"), more);
	ck_assert_int_eq(logd_proto_bin(&msg, NULL, "records", &rec, len), 0);
	if (!*len)
		return -1;
	ck_assert_int_eq(logd_batch_header(rec, *len, &info), 0);
	return info.base_offset;
}

START_TEST(test_stream)
{
	int a = connect_ok(), p = connect_ok();
	struct logd_pbuf b;
	uint8_t *batch;
	size_t len, blen;
	int i;

	ck_assert_int_eq(create_topic(p, "st", 1, NULL, NULL), 0);
	batch = make_batch(2, 20, &blen);
	logd_pbuf_init(&b);
	/* A credit window of 1: each reply waits for its credit, and every
	 * record comes once, in order, across many appends. */
	pack_stream(&b, 40, "st", 0, 20000, 1);
	send_frame(a, &b);
	for (i = 0; i < 50; i++) {
		ck_assert_int_eq(produce(p, "st", 0, 1, batch, blen), 0);
		ck_assert_int_eq(recv_msg(a, 10000), 0);
		ck_assert_int_eq(stream_reply(40, 1, &len), 2 * i);
		ck_assert_uint_eq(len, blen);
		pack_credit(&b, 41, 40, "credit", 1);
		send_frame(a, &b);
	}
	/* Out of credit: no reply until credit comes. */
	ck_assert_int_eq(produce(p, "st", 0, 1, batch, blen), 0);
	ck_assert_int_eq(recv_msg(a, 10000), 0);
	ck_assert_int_eq(stream_reply(40, 1, &len), 100);
	ck_assert_int_eq(produce(p, "st", 0, 1, batch, blen), 0);
	ck_assert(quiet(a, 300));
	pack_credit(&b, 42, 40, "credit", 2);
	send_frame(a, &b);
	ck_assert_int_eq(recv_msg(a, 10000), 0);
	ck_assert_int_eq(stream_reply(40, 1, &len), 102);
	/* One credit left: an empty reply at max_wait keeps "end" fresh. */
	pack_credit(&b, 43, 40, "cancel", 1);
	send_frame(a, &b);
	ck_assert_int_eq(recv_msg(a, 10000), 0);
	ck_assert_int_eq(stream_reply(40, 0, &len), -1);
	ck_assert_int_eq(field_int("end"), 104);
	/* Cancelled: later data is not delivered, credit is refused. */
	ck_assert_int_eq(produce(p, "st", 0, 1, batch, blen), 0);
	ck_assert(quiet(a, 300));
	pack_credit(&b, 44, 40, "credit", 1);
	rpc(a, &b);
	ck_assert_uint_eq(msg.corr, 44);
	ck_assert_int_eq(reply_error(), LOGD_EPROTO);
	/* The keep-alive: an empty reply after max_wait, then data. */
	pack_stream(&b, 45, "st", 106, 200, 3);
	send_frame(a, &b);
	ck_assert_int_eq(recv_msg(a, 10000), 0);
	ck_assert_int_eq(stream_reply(45, 1, &len), -1);
	ck_assert_int_eq(field_int("end"), 106);
	ck_assert_int_eq(produce(p, "st", 0, 1, batch, blen), 0);
	ck_assert_int_eq(recv_msg(a, 10000), 0);
	ck_assert_int_eq(stream_reply(45, 1, &len), 106);
	/* Deleting the topic ends the stream with an error. */
	logd_proto_begin(&b, LOGD_API_DELETE, 46);
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "topic", "st");
	rpc(p, &b);
	ck_assert_int_eq(reply_error(), 0);
	ck_assert_int_eq(recv_msg(a, 10000), 0);
	ck_assert_uint_eq(msg.corr, 45);
	ck_assert_int_eq(reply_error(), LOGD_ENOTOPIC);
	pack_credit(&b, 47, 45, "credit", 1);
	rpc(a, &b);
	ck_assert_int_eq(reply_error(), LOGD_EPROTO);
	/* A stream left armed when its connection closes is dropped. */
	ck_assert_int_eq(create_topic(p, "st2", 1, NULL, NULL), 0);
	pack_stream(&b, 48, "st2", 0, 20000, 5);
	send_frame(a, &b);
	close(a);
	ck_assert_int_eq(produce(p, "st2", 0, 1, batch, blen), 0);
	a = connect_ok();
	hello_ok(a);
	logd_pbuf_free(&b);
	free(batch);
	close(a);
	close(p);
}
END_TEST

START_TEST(test_stream_bad)
{
	int a = connect_ok();
	struct logd_pbuf b;
	size_t len;
	const struct {
		const char *key;
		int64_t v;
	} bad[] = {
		{ "credit", 0 }, { "credit", -1 },
		{ "credit", LOGD_STREAM_CREDIT_MAX }, { "credit", INT64_MAX },
		{ "nothing", 1 },
	};
	size_t i;

	ck_assert_int_eq(create_topic(a, "sb", 1, NULL, NULL), 0);
	logd_pbuf_init(&b);
	/* Bad stream counts, no wait, an unknown topic. */
	pack_stream(&b, 1, "sb", 0, 1000, -1);
	rpc(a, &b);
	ck_assert_int_eq(reply_error(), LOGD_EPROTO);
	pack_stream(&b, 1, "sb", 0, 1000, LOGD_STREAM_CREDIT_MAX + 1);
	rpc(a, &b);
	ck_assert_int_eq(reply_error(), LOGD_EPROTO);
	pack_stream(&b, 1, "sb", 0, 0, 1);
	rpc(a, &b);
	ck_assert_int_eq(reply_error(), LOGD_EPROTO);
	pack_stream(&b, 1, "nosuch", 0, 1000, 1);
	rpc(a, &b);
	ck_assert_int_eq(reply_error(), LOGD_ENOTOPIC);
	pack_stream(&b, 1, "sb", 5, 1000, 1);
	rpc(a, &b);
	ck_assert_int_eq(reply_error(), LOGD_ERANGE);
	/* Credit for no stream, and for a plain parked fetch. */
	pack_credit(&b, 2, 12345, "credit", 1);
	rpc(a, &b);
	ck_assert_int_eq(reply_error(), LOGD_EPROTO);
	pack_fetch(&b, 3, "sb", 0, 0, 20000, 1);
	send_frame(a, &b);
	pack_credit(&b, 4, 3, "credit", 1);
	rpc(a, &b);
	ck_assert_uint_eq(msg.corr, 4);
	ck_assert_int_eq(reply_error(), LOGD_EPROTO);
	/* A live stream: bad credit, and a second stream on its corr. */
	pack_stream(&b, 5, "sb", 0, 20000, 2);
	send_frame(a, &b);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pack_credit(&b, 6, 5, bad[i].key, bad[i].v);
		rpc(a, &b);
		ck_assert_uint_eq(msg.corr, 6);
		ck_assert_msg(reply_error() == LOGD_EPROTO, "%s %lld",
		    bad[i].key, (long long)bad[i].v);
	}
	logd_proto_begin(&b, LOGD_API_FETCH_CREDIT, 7);
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "corr", "five");
	rpc(a, &b);
	ck_assert_int_eq(reply_error(), LOGD_EPROTO);
	pack_stream(&b, 5, "sb", 0, 20000, 2);
	rpc(a, &b);
	ck_assert_uint_eq(msg.corr, 5);
	ck_assert_int_eq(reply_error(), LOGD_EPROTO);
	/* The stream is still there: cancel ends it. */
	pack_credit(&b, 8, 5, "cancel", 1);
	send_frame(a, &b);
	ck_assert_int_eq(recv_msg(a, 10000), 0);
	ck_assert_int_eq(stream_reply(5, 0, &len), -1);
	hello_ok(a);
	logd_pbuf_free(&b);
	close(a);
}
END_TEST

START_TEST(test_bad_requests)
{
	int fd = connect_ok(), other;
	struct logd_pbuf b;
	uint8_t *batch, *big;
	size_t len, blen;

	ck_assert_int_eq(create_topic(fd, "t", 2, NULL, NULL), 0);
	ck_assert_int_eq(create_topic(fd, "small", 1, "segment.bytes",
	    "65536"), 0);
	batch = make_batch(2, 10, &len);
	logd_pbuf_init(&b);

	/* Unknown api: an error, and the connection goes on. */
	logd_proto_begin(&b, 99, 3);
	msgpack_pack_map(&b.pk, 0);
	rpc(fd, &b);
	ck_assert_uint_eq(msg.corr, 3);
	ck_assert_int_eq(reply_error(), LOGD_EUNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(reply_message(), "99"));

	/* Wrong field type: the message names the field. */
	logd_proto_begin(&b, LOGD_API_FETCH, 4);
	msgpack_pack_map(&b.pk, 3);
	logd_pack_kv_str(&b.pk, "topic", "t");
	logd_pack_kv_int(&b.pk, "partition", 0);
	logd_pack_kv_str(&b.pk, "offset", "zero");
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), LOGD_EPROTO);
	ck_assert_ptr_nonnull(strstr(reply_message(), "offset"));

	/* Missing field. */
	logd_proto_begin(&b, LOGD_API_PRODUCE, 5);
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "topic", "t");
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), LOGD_EPROTO);
	ck_assert_ptr_nonnull(strstr(reply_message(), "records"));

	/* Unknown topic, unknown partition. */
	ck_assert_int_eq(produce(fd, "nope", 0, 1, batch, len),
	    LOGD_ENOTOPIC);
	ck_assert_ptr_nonnull(strstr(reply_message(), "nope"));
	ck_assert_int_eq(produce(fd, "t", 2, 1, batch, len), LOGD_ENOPART);
	ck_assert_int_eq(fetch(fd, "t", 5, 0, NULL, NULL), LOGD_ENOPART);
	ck_assert_int_eq(fetch(fd, "nope", 0, 0, NULL, NULL), LOGD_ENOTOPIC);

	/* Offset out of range: the message gives start and end. */
	ck_assert_int_eq(produce(fd, "t", 0, 1, batch, len), 0);
	ck_assert_int_eq(fetch(fd, "t", 0, 3, NULL, NULL), LOGD_ERANGE);
	ck_assert_ptr_nonnull(strstr(reply_message(), "start 0"));
	ck_assert_ptr_nonnull(strstr(reply_message(), "end 2"));
	ck_assert_int_eq(fetch(fd, "t", 0, -5, NULL, NULL), LOGD_ERANGE);

	/* Bad CRC, truncated batch, garbage. */
	batch[len - 1] ^= 0xff;
	ck_assert_int_eq(produce(fd, "t", 0, 1, batch, len), LOGD_ECRC);
	batch[len - 1] ^= 0xff;
	ck_assert_int_eq(produce(fd, "t", 0, 1, batch, len - 3),
	    LOGD_EBADBATCH);
	ck_assert_int_eq(produce(fd, "t", 0, 1, "hello", 5), LOGD_EBADBATCH);
	ck_assert_int_eq(produce(fd, "t", 0, 1, "", 0), LOGD_EBADBATCH);
	/* A valid batch followed by a bad one: nothing appended. */
	{
		uint8_t *two = malloc(2 * len);

		memcpy(two, batch, len);
		memcpy(two + len, batch, len);
		two[2 * len - 1] ^= 1;
		ck_assert_int_eq(produce(fd, "t", 0, 1, two, 2 * len),
		    LOGD_ECRC);
		ck_assert_ptr_nonnull(strstr(reply_message(), "batch 1"));
		free(two);
	}
	ck_assert_int_eq(fetch(fd, "t", 0, 0, NULL, NULL), 0);
	ck_assert_int_eq(field_int("end"), 2);

	/* A batch larger than the segment size. */
	big = make_batch(1, 100000, &blen);
	ck_assert_int_eq(produce(fd, "small", 0, 1, big, blen), LOGD_ETOOBIG);
	free(big);

	/* Bad acks, bad topic name on create. */
	ck_assert_int_eq(produce(fd, "t", 0, 2, batch, len), LOGD_EPROTO);
	ck_assert_int_eq(create_topic(fd, "../x", 1, NULL, NULL),
	    LOGD_EBADNAME);
	ck_assert_int_eq(create_topic(fd, "x", 1, "no.such", "1"),
	    LOGD_EBADCONFIG);
	ck_assert_ptr_nonnull(strstr(reply_message(), "no.such"));

	/* The same connection still works; so does another. */
	hello_ok(fd);
	other = connect_ok();
	hello_ok(other);
	close(other);
	logd_pbuf_free(&b);
	free(batch);
	close(fd);
}
END_TEST

/* Undecodable frames: an error, then the connection is closed. */
START_TEST(test_bad_frames)
{
	static const struct {
		const char *what;
		const char *bytes;
		size_t n;
	} bad[] = {
		{ "malformed msgpack", "\x00\x00\x00\x02\xc1\xc1", 6 },
		{ "not an array", "\x00\x00\x00\x01\x80", 5 },
		{ "truncated msgpack", "\x00\x00\x00\x03\x93\x00\x01", 7 },
		{ "zero length", "\x00\x00\x00\x00", 4 },
		{ "huge length", "\xff\xff\xff\xff", 4 },
		{ "over max_frame_bytes", "\x04\x10\x00\x00", 4 },
	};
	size_t i;
	int fd, other;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fd = connect_ok();
		send_all(fd, bad[i].bytes, bad[i].n);
		ck_assert_msg(recv_msg(fd, 5000) == 0, "%s: no error reply",
		    bad[i].what);
		ck_assert_msg(reply_error() < 0, "%s", bad[i].what);
		ck_assert_msg(closed_by_peer(fd, 5000), "%s: not closed",
		    bad[i].what);
		close(fd);
		other = connect_ok();
		hello_ok(other);
		close(other);
	}
}
END_TEST

/* A client that sends half a frame and stalls blocks nobody. */
START_TEST(test_half_frame_stall)
{
	int stall = connect_ok(), other;

	send_all(stall, "\x00\x00\x10\x00\x93\x00", 6);
	other = connect_ok();
	hello_ok(other);
	hello_ok(other);
	close(other);
	/* The staller finishing its frame later is still served. */
	close(stall);
}
END_TEST

/* A client that never reads stops being read; others go on. */
START_TEST(test_backpressure)
{
	int slow, p, i, n = 30;
	struct logd_pbuf b;
	uint8_t *batch;
	size_t len;

	testlogd_stop(&t);
	msgpack_zone_destroy(&zone);
	start("max_pending_bytes = 1048576\n");
	slow = connect_ok();
	p = connect_ok();
	ck_assert_int_eq(create_topic(p, "bp", 1, NULL, NULL), 0);
	batch = make_batch(100, 1000, &len);
	for (i = 0; i < 12; i++)
		ck_assert_int_eq(produce(p, "bp", 0, 1, batch, len), 0);
	logd_pbuf_init(&b);
	/* ~1 MiB per fetch reply, 30 of them: far past the 1 MiB cap. */
	for (i = 0; i < n; i++) {
		pack_fetch(&b, (uint32_t)i, "bp", 0, 0, 0, 1);
		ck_assert_int_eq(logd_proto_end(&b, 0), 0);
	}
	send_all(slow, b.data, b.len);
	logd_pbuf_free(&b);
	usleep(300000);
	/* Others are served while the slow one is stuck. */
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(produce(p, "bp", 0, 1, batch, len), 0);
		hello_ok(p);
	}
	/* The slow client reading now gets every reply, in order. */
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(recv_msg(slow, 10000), 0);
		ck_assert_uint_eq(msg.corr, (unsigned)i);
		ck_assert_int_eq(reply_error(), 0);
	}
	free(batch);
	close(slow);
	close(p);
}
END_TEST

START_TEST(test_admin)
{
	int fd = connect_ok();
	struct logd_pbuf b;
	const msgpack_object_array *topics, *parts;
	const msgpack_object *cfg;
	uint8_t *batch;
	size_t len;
	char v[64];

	ck_assert_int_eq(create_topic(fd, "a", 3, "retention.ms", "1000000"),
	    0);
	ck_assert_int_eq(create_topic(fd, "b", 1, NULL, NULL), 0);
	batch = make_batch(4, 10, &len);
	ck_assert_int_eq(produce(fd, "a", 2, 1, batch, len), 0);
	logd_pbuf_init(&b);

	logd_proto_begin(&b, LOGD_API_METADATA, 1);
	msgpack_pack_map(&b.pk, 0);
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), 0);
	ck_assert_int_eq(logd_proto_array(&msg, NULL, "topics", &topics), 0);
	ck_assert_uint_eq(topics->size, 2);
	ck_assert_int_eq(logd_proto_cstr(&msg, &topics->ptr[0], "name", v,
	    sizeof(v)), 0);
	ck_assert_str_eq(v, "a");
	ck_assert_int_eq(logd_proto_array(&msg, &topics->ptr[0], "partitions",
	    &parts), 0);
	ck_assert_uint_eq(parts->size, 3);
	{
		int64_t end;

		ck_assert_int_eq(logd_proto_int(&msg, &parts->ptr[2], "end",
		    &end), 0);
		ck_assert_int_eq(end, 4);
	}
	ck_assert_int_eq(logd_proto_map(&msg, &topics->ptr[0], "config",
	    &cfg), 0);
	ck_assert_int_eq(logd_proto_cstr(&msg, cfg, "retention.ms", v,
	    sizeof(v)), 0);
	ck_assert_str_eq(v, "1000000");

	/* Named topics, one unknown. */
	logd_proto_begin(&b, LOGD_API_METADATA, 2);
	msgpack_pack_map(&b.pk, 1);
	logd_pack_str(&b.pk, "topics");
	msgpack_pack_array(&b.pk, 1);
	logd_pack_str(&b.pk, "zz");
	rpc(fd, &b);
	ck_assert_int_eq(logd_proto_array(&msg, NULL, "topics", &topics), 0);
	ck_assert_uint_eq(topics->size, 1);
	{
		int64_t e;

		ck_assert_int_eq(logd_proto_int(&msg, &topics->ptr[0], "error",
		    &e), 0);
		ck_assert_int_eq(e, LOGD_ENOTOPIC);
	}

	/* ALTER, then see it. */
	logd_proto_begin(&b, LOGD_API_ALTER, 3);
	msgpack_pack_map(&b.pk, 2);
	logd_pack_kv_str(&b.pk, "topic", "a");
	logd_pack_str(&b.pk, "config");
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "retention.ms", "5000");
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), 0);
	logd_proto_begin(&b, LOGD_API_ALTER, 3);
	msgpack_pack_map(&b.pk, 2);
	logd_pack_kv_str(&b.pk, "topic", "a");
	logd_pack_str(&b.pk, "config");
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "retention.ms", "soon");
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), LOGD_EBADCONFIG);

	/* LIST_OFFSETS. */
	logd_proto_begin(&b, LOGD_API_LIST_OFFSETS, 4);
	msgpack_pack_map(&b.pk, 3);
	logd_pack_kv_str(&b.pk, "topic", "a");
	logd_pack_kv_int(&b.pk, "partition", 2);
	logd_pack_kv_int(&b.pk, "timestamp", -1);
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), 0);
	ck_assert_int_eq(field_int("offset"), 4);
	logd_proto_begin(&b, LOGD_API_LIST_OFFSETS, 4);
	msgpack_pack_map(&b.pk, 3);
	logd_pack_kv_str(&b.pk, "topic", "a");
	logd_pack_kv_int(&b.pk, "partition", 2);
	logd_pack_kv_int(&b.pk, "timestamp", 1700000000002);
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), 0);
	ck_assert_int_eq(field_int("offset"), 2);

	/* STATS. */
	logd_proto_begin(&b, LOGD_API_STATS, 5);
	msgpack_pack_map(&b.pk, 0);
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), 0);
	ck_assert_int_eq(field_int("records_in"), 4);
	ck_assert_int_eq(field_int("connections"), 1);
	ck_assert_int_gt(field_int("bytes_in"), (int64_t)len);

	/* DELETE. */
	logd_proto_begin(&b, LOGD_API_DELETE, 6);
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "topic", "a");
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), 0);
	logd_proto_begin(&b, LOGD_API_DELETE, 6);
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "topic", "a");
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), LOGD_ENOTOPIC);
	ck_assert_int_eq(fetch(fd, "a", 0, 0, NULL, NULL), LOGD_ENOTOPIC);
	logd_pbuf_free(&b);
	free(batch);
	close(fd);
}
END_TEST

START_TEST(test_offsets)
{
	int fd = connect_ok();
	struct logd_pbuf b;
	const msgpack_object_array *offs, *groups;
	char s[64];
	int64_t v;

	ck_assert_int_eq(create_topic(fd, "o", 2, NULL, NULL), 0);
	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_OFFSET_COMMIT, 1);
	msgpack_pack_map(&b.pk, 2);
	logd_pack_kv_str(&b.pk, "group", "alerts");
	logd_pack_str(&b.pk, "offsets");
	msgpack_pack_array(&b.pk, 2);
	msgpack_pack_map(&b.pk, 4);
	logd_pack_kv_str(&b.pk, "topic", "o");
	logd_pack_kv_int(&b.pk, "partition", 0);
	logd_pack_kv_int(&b.pk, "offset", 0);
	logd_pack_kv_str(&b.pk, "metadata", "m0");
	msgpack_pack_map(&b.pk, 3);
	logd_pack_kv_str(&b.pk, "topic", "o");
	logd_pack_kv_int(&b.pk, "partition", 1);
	logd_pack_kv_int(&b.pk, "offset", 0);
	rpc(fd, &b);
	ck_assert_msg(reply_error() == 0, "%s", reply_message());

	logd_proto_begin(&b, LOGD_API_OFFSET_FETCH, 2);
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "group", "alerts");
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), 0);
	ck_assert_int_eq(logd_proto_array(&msg, NULL, "offsets", &offs), 0);
	ck_assert_uint_eq(offs->size, 2);
	ck_assert_int_eq(logd_proto_cstr(&msg, &offs->ptr[0], "metadata", s,
	    sizeof(s)), 0);
	ck_assert_str_eq(s, "m0");
	ck_assert_int_eq(logd_proto_int(&msg, &offs->ptr[1], "partition", &v),
	    0);
	ck_assert_int_eq(v, 1);

	/* Commit to an unknown partition: nothing committed. */
	logd_proto_begin(&b, LOGD_API_OFFSET_COMMIT, 3);
	msgpack_pack_map(&b.pk, 2);
	logd_pack_kv_str(&b.pk, "group", "alerts");
	logd_pack_str(&b.pk, "offsets");
	msgpack_pack_array(&b.pk, 1);
	msgpack_pack_map(&b.pk, 3);
	logd_pack_kv_str(&b.pk, "topic", "o");
	logd_pack_kv_int(&b.pk, "partition", 9);
	logd_pack_kv_int(&b.pk, "offset", 5);
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), LOGD_ENOPART);

	/* Wrong types inside the array name the entry. */
	logd_proto_begin(&b, LOGD_API_OFFSET_COMMIT, 4);
	msgpack_pack_map(&b.pk, 2);
	logd_pack_kv_str(&b.pk, "group", "alerts");
	logd_pack_str(&b.pk, "offsets");
	msgpack_pack_array(&b.pk, 1);
	msgpack_pack_int(&b.pk, 1);
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), LOGD_EPROTO);
	ck_assert_ptr_nonnull(strstr(reply_message(), "offsets[0]"));

	logd_proto_begin(&b, LOGD_API_LIST_GROUPS, 5);
	msgpack_pack_map(&b.pk, 0);
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), 0);
	ck_assert_int_eq(logd_proto_array(&msg, NULL, "groups", &groups), 0);
	ck_assert_uint_eq(groups->size, 1);

	/* A join without its topics (check_group_proto has the rest). */
	logd_proto_begin(&b, LOGD_API_JOIN_GROUP, 6);
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "group", "alerts");
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), LOGD_EPROTO);

	logd_proto_begin(&b, LOGD_API_DELETE_GROUP, 7);
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "group", "alerts");
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), 0);
	logd_proto_begin(&b, LOGD_API_DELETE_GROUP, 8);
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "group", "alerts");
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), LOGD_ENOGROUP);
	logd_pbuf_free(&b);
	close(fd);
}
END_TEST

/* acks=all data and committed offsets survive kill -9. */
START_TEST(test_kill9_restart)
{
	int fd = connect_ok(), i;
	uint8_t *batch;
	size_t len;
	const void *rec;
	struct logd_pbuf b;

	ck_assert_int_eq(create_topic(fd, "k", 1, NULL, NULL), 0);
	batch = make_batch(5, 100, &len);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(produce(fd, "k", 0, -1, batch, len), 0);
	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_OFFSET_COMMIT, 1);
	msgpack_pack_map(&b.pk, 2);
	logd_pack_kv_str(&b.pk, "group", "g");
	logd_pack_str(&b.pk, "offsets");
	msgpack_pack_array(&b.pk, 1);
	msgpack_pack_map(&b.pk, 3);
	logd_pack_kv_str(&b.pk, "topic", "k");
	logd_pack_kv_int(&b.pk, "partition", 0);
	logd_pack_kv_int(&b.pk, "offset", 25);
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), 0);
	close(fd);
	ck_assert_int_eq(testlogd_kill9(&t), 0);
	ck_assert_int_eq(testlogd_restart(&t), 0);
	fd = connect_ok();
	ck_assert_int_eq(fetch(fd, "k", 0, 0, &rec, &len), 0);
	ck_assert_int_eq(field_int("end"), 50);
	logd_proto_begin(&b, LOGD_API_OFFSET_FETCH, 2);
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "group", "g");
	rpc(fd, &b);
	{
		const msgpack_object_array *offs;
		int64_t off;

		ck_assert_int_eq(logd_proto_array(&msg, NULL, "offsets", &offs),
		    0);
		ck_assert_uint_eq(offs->size, 1);
		ck_assert_int_eq(logd_proto_int(&msg, &offs->ptr[0], "offset",
		    &off), 0);
		ck_assert_int_eq(off, 25);
	}
	logd_pbuf_free(&b);
	free(batch);
	close(fd);
}
END_TEST

START_TEST(test_sigterm)
{
	int fd = connect_ok();
	uint8_t *batch;
	size_t len;

	ck_assert_int_eq(create_topic(fd, "s", 1, NULL, NULL), 0);
	batch = make_batch(5, 100, &len);
	ck_assert_int_eq(produce(fd, "s", 0, 1, batch, len), 0);
	/* An idle open connection does not hold the shutdown up. */
	ck_assert_int_eq(testlogd_term(&t), 0);
	ck_assert(closed_by_peer(fd, 2000));
	close(fd);
	ck_assert_int_eq(testlogd_restart(&t), 0);
	fd = connect_ok();
	ck_assert_int_eq(fetch(fd, "s", 0, 0, NULL, NULL), 0);
	ck_assert_int_eq(field_int("end"), 5);
	free(batch);
	close(fd);
}
END_TEST

START_TEST(test_unix_socket)
{
	struct stat st;
	int fd;

	ck_assert_int_eq(stat(t.unix_path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(t.datadir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	fd = testlogd_connect_unix(&t);
	ck_assert_int_ge(fd, 0);
	hello_ok(fd);
	close(fd);
}
END_TEST

START_TEST(test_auto_create)
{
	int fd;
	uint8_t *batch;
	size_t len;

	testlogd_stop(&t);
	msgpack_zone_destroy(&zone);
	start("auto_create_topics = yes\ndefault.partitions = 3\n");
	fd = connect_ok();
	batch = make_batch(1, 10, &len);
	ck_assert_int_eq(produce(fd, "fresh", -1, 1, batch, len), 0);
	ck_assert_int_eq(fetch(fd, "fresh", 2, 0, NULL, NULL), 0);
	ck_assert_int_eq(fetch(fd, "fresh", 3, 0, NULL, NULL), LOGD_ENOPART);
	free(batch);
	close(fd);
}
END_TEST

START_TEST(test_idle_timeout)
{
	int fd, busy;

	testlogd_stop(&t);
	msgpack_zone_destroy(&zone);
	start("idle_timeout_ms = 300\n");
	fd = connect_ok();
	busy = connect_ok();
	hello_ok(busy);
	ck_assert(closed_by_peer(fd, 5000));
	close(fd);
	close(busy);
	fd = connect_ok();
	hello_ok(fd);
	close(fd);
}
END_TEST

START_TEST(test_max_connections)
{
	int a, b, c;

	testlogd_stop(&t);
	msgpack_zone_destroy(&zone);
	/* testlogd's readiness probe is closed before this runs. */
	start("max_connections = 2\n");
	usleep(100000);
	a = connect_ok();
	b = connect_ok();
	hello_ok(a);
	hello_ok(b);
	c = connect_ok();
	ck_assert(closed_by_peer(c, 5000));
	close(c);
	/* liblogd says the broker closed it, not "protocol error" */
	{
		struct logd_client *lc = NULL;

		ck_assert_int_eq(logd_client_open(t.addr, NULL, &lc),
		    LOGD_ECLOSED);
	}
	hello_ok(a);
	close(b);
	usleep(100000);
	c = connect_ok();
	hello_ok(c);
	close(a);
	close(c);
}
END_TEST

START_TEST(test_sighup_reopens_log)
{
	char moved[400];
	struct stat st;
	int fd;

	snprintf(moved, sizeof(moved), "%s.1", t.logfile);
	ck_assert_int_eq(rename(t.logfile, moved), 0);
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	fd = connect_ok();
	hello_ok(fd);
	close(fd);
	{
		long end = now_ms() + 5000;

		while (stat(t.logfile, &st) != 0 && now_ms() < end)
			usleep(10000);
	}
	ck_assert_int_eq(stat(t.logfile, &st), 0);
	ck_assert_int_gt(st.st_size, 0);
	ck_assert_int_eq(stat(moved, &st), 0);
}
END_TEST

/* Old closed segments go at the retention check; reads below get
 * LOGD_ERANGE. */
START_TEST(test_retention)
{
	int fd, i;
	uint8_t *batch;
	size_t len;
	struct logd_pbuf b;
	int64_t earliest = 0;
	long end;

	testlogd_stop(&t);
	msgpack_zone_destroy(&zone);
	start("retention_check_ms = 100\n");
	fd = connect_ok();
	ck_assert_int_eq(create_topic(fd, "old", 1, "segment.bytes",
	    "65536"), 0);
	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_ALTER, 1);
	msgpack_pack_map(&b.pk, 2);
	logd_pack_kv_str(&b.pk, "topic", "old");
	logd_pack_str(&b.pk, "config");
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "retention.ms", "1000");
	rpc(fd, &b);
	ck_assert_int_eq(reply_error(), 0);
	/* 2023 timestamps: long past retention. */
	batch = make_batch(30, 1000, &len);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(produce(fd, "old", 0, 1, batch, len), 0);
	end = now_ms() + 10000;
	while (earliest == 0 && now_ms() < end) {
		usleep(50000);
		logd_proto_begin(&b, LOGD_API_LIST_OFFSETS, 2);
		msgpack_pack_map(&b.pk, 3);
		logd_pack_kv_str(&b.pk, "topic", "old");
		logd_pack_kv_int(&b.pk, "partition", 0);
		logd_pack_kv_int(&b.pk, "timestamp", -2);
		rpc(fd, &b);
		earliest = field_int("offset");
	}
	ck_assert_int_gt(earliest, 0);
	ck_assert_int_eq(fetch(fd, "old", 0, 0, NULL, NULL), LOGD_ERANGE);
	ck_assert_int_eq(fetch(fd, "old", 0, earliest, NULL, NULL), 0);
	logd_pbuf_free(&b);
	free(batch);
	close(fd);
}
END_TEST

/* Random frames and random bytes: never a crash, others served. */
START_TEST(test_garbage)
{
	unsigned seed = 12345;
	uint8_t buf[2100];
	int round, i, fd;
	size_t n, k;

	for (round = 0; round < 60; round++) {
		fd = connect_ok();
		for (i = 0; i < 5; i++) {
			n = 1 + (size_t)rand_r(&seed) % 2000;
			buf[0] = 0;
			buf[1] = 0;
			buf[2] = (uint8_t)(n >> 8);
			buf[3] = (uint8_t)n;
			for (k = 4; k < n + 4; k++)
				buf[k] = (uint8_t)rand_r(&seed);
			/* Half the rounds: a plausible array header. */
			if (round % 2 && n >= 3) {
				buf[4] = 0x93;
				buf[5] = (uint8_t)(rand_r(&seed) % 20);
				buf[6] = 0x01;
			}
			/* logd may have closed the connection already. */
			if (round % 7 == 0)
				(void)!send(fd, buf + 4, n, MSG_NOSIGNAL);
			else
				(void)!send(fd, buf, n + 4, MSG_NOSIGNAL);
		}
		close(fd);
	}
	fd = connect_ok();
	hello_ok(fd);
	close(fd);
}
END_TEST

static void pack_random_value(msgpack_packer *pk, unsigned *seed, int depth)
{
	static const char *const strs[] = { "t", "g", "", "../x", "weather",
		"retention.ms", "segment.bytes", "-1", "CreateTime" };
	uint8_t junk[64];
	int i, n;

	switch (rand_r(seed) % (depth > 2 ? 5 : 8)) {
	case 0:
		msgpack_pack_int64(pk, (int64_t)(rand_r(seed) % 7) - 3);
		break;
	case 1:
		msgpack_pack_int64(pk, rand_r(seed) % 2 ? INT64_MAX :
		    INT64_MIN);
		break;
	case 2:
		logd_pack_str(pk, strs[rand_r(seed) % 9]);
		break;
	case 3:
		n = rand_r(seed) % (int)sizeof(junk);
		for (i = 0; i < n; i++)
			junk[i] = (uint8_t)rand_r(seed);
		msgpack_pack_bin(pk, (size_t)n);
		msgpack_pack_bin_body(pk, junk, (size_t)n);
		break;
	case 4:
		msgpack_pack_nil(pk);
		break;
	case 5:
		msgpack_pack_double(pk, 1.5);
		break;
	case 6:
		n = rand_r(seed) % 3;
		msgpack_pack_array(pk, (size_t)n);
		for (i = 0; i < n; i++)
			pack_random_value(pk, seed, depth + 1);
		break;
	default:
		n = rand_r(seed) % 3;
		msgpack_pack_map(pk, (size_t)n);
		for (i = 0; i < n; i++) {
			logd_pack_str(pk, strs[rand_r(seed) % 9]);
			pack_random_value(pk, seed, depth + 1);
		}
		break;
	}
}

/*
 * Well-formed frames with random apis and bodies of known field names and
 * random values: every handler meets wrong types, missing fields, odd
 * numbers and nil.  Never a crash; others served.
 */
START_TEST(test_random_requests)
{
	static const char *const keys[] = { "topic", "partition", "offset",
		"acks", "key", "records", "max_bytes", "min_bytes",
		"max_wait_ms", "timestamp", "group", "generation", "offsets",
		"topics", "config", "partitions", "member", "metadata" };
	unsigned seed = 777;
	struct logd_pbuf b;
	uint8_t *batch;
	size_t len;
	int i, j, n, fd;

	fd = connect_ok();
	ck_assert_int_eq(create_topic(fd, "t", 2, NULL, NULL), 0);
	batch = make_batch(2, 10, &len);
	logd_pbuf_init(&b);
	for (i = 0; i < 3000; i++) {
		logd_proto_begin(&b, rand_r(&seed) % (LOGD_API_COUNT + 1),
		    (uint32_t)i);
		n = rand_r(&seed) % 6;
		msgpack_pack_map(&b.pk, (size_t)n + 1);
		/* A short max_wait keeps long-polls from piling up. */
		logd_pack_kv_int(&b.pk, "max_wait_ms", rand_r(&seed) % 20);
		for (j = 0; j < n; j++) {
			logd_pack_str(&b.pk, keys[rand_r(&seed) % 18]);
			if (rand_r(&seed) % 8 == 0) {
				msgpack_pack_bin(&b.pk, len);
				msgpack_pack_bin_body(&b.pk, batch, len);
			} else
				pack_random_value(&b.pk, &seed, 0);
		}
		ck_assert_int_eq(logd_proto_end(&b, 0), 0);
		if (b.len > 65536) {
			(void)!send(fd, b.data, b.len, MSG_NOSIGNAL);
			logd_pbuf_reset(&b);
		}
	}
	(void)!send(fd, b.data, b.len, MSG_NOSIGNAL);
	logd_pbuf_free(&b);
	free(batch);
	usleep(200000);
	close(fd);
	fd = connect_ok();
	hello_ok(fd);
	close(fd);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Starting logd: config errors, the datadir lock                      */
/* ------------------------------------------------------------------ */

static char dir[64];

static void dir_setup(void)
{
	strcpy(dir, "/tmp/check_daemon-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void dir_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static int run_conf(const char *conf, char *err, size_t errsz)
{
	char path[128];
	char *argv[] = { "logd", "-C", path, NULL };
	FILE *f;

	snprintf(path, sizeof(path), "%s/logd.conf", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(conf, f);
	fclose(f);
	return testlogd_run(argv, 10000, err, errsz);
}

START_TEST(test_config_errors)
{
	static const struct {
		const char *conf;
		const char *want;
	} bad[] = {
		{ "# ok\nlisten = 127.0.0.1:1\nbogus = 1\n", "logd.conf:3:" },
		{ "flush_ms = soon\n", "logd.conf:1:" },
		{ "\n\nmax_connections = -5\n", "logd.conf:3:" },
		{ "log_level = loud\n", "logd.conf:1:" },
		{ "auto_create_topics = maybe\n", "logd.conf:1:" },
		{ "default.retention.ms = x\n", "logd.conf:1:" },
		{ "default.nonsense = 1\n", "logd.conf:1:" },
		{ "just words\n", "logd.conf:1:" },
		{ "listen = none\n", "nothing to serve" },
	};
	char err[2048];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = run_conf(bad[i].conf, err, sizeof(err));
		ck_assert_msg(rc == 1, "%s: exit %d", bad[i].conf, rc);
		ck_assert_msg(strstr(err, bad[i].want) != NULL,
		    "%s: stderr \"%s\"", bad[i].conf, err);
	}
	{
		char *argv[] = { "logd", "--log-level", "chatty", NULL };

		ck_assert_int_eq(testlogd_run(argv, 10000, err, sizeof(err)),
		    1);
		ck_assert_ptr_nonnull(strstr(err, "log_level"));
	}
	{
		char *argv[] = { "logd", "-C", "/nonexistent/logd.conf", NULL };

		ck_assert_int_eq(testlogd_run(argv, 10000, err, sizeof(err)),
		    1);
		ck_assert_ptr_nonnull(strstr(err, "/nonexistent/logd.conf"));
	}
	{
		char *argv[] = { "logd", "-V", NULL };

		ck_assert_int_eq(testlogd_run(argv, 10000, err, sizeof(err)),
		    0);
		ck_assert_ptr_nonnull(strstr(err, LOGD_VERSION_STRING));
	}
}
END_TEST

START_TEST(test_datadir_lock)
{
	char err[2048], conf[512];
	int rc;

	setup_zone();
	ck_assert_int_eq(testlogd_start(&t, NULL), 0);
	snprintf(conf, sizeof(conf), "datadir = %s\nlisten = 127.0.0.1:0\n",
	    t.datadir);
	rc = run_conf(conf, err, sizeof(err));
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(err, "in use by another logd") != NULL, "%s", err);
	/* The first one is unharmed. */
	{
		int fd = connect_ok();

		hello_ok(fd);
		close(fd);
	}
	ck_assert_int_eq(testlogd_term(&t), 0);
	testlogd_stop(&t);
	msgpack_zone_destroy(&zone);
}
END_TEST

static Suite *daemon_suite(void)
{
	Suite *s = suite_create("daemon");
	struct {
		const char *name;
		const TTest *fn;
	} live[] = {
		{ "produce_fetch", test_produce_fetch },
		{ "produce_by_key", test_produce_by_key },
		{ "acks_all_pipelined", test_acks_all_pipelined },
		{ "long_poll", test_long_poll },
		{ "stream", test_stream },
		{ "stream_bad", test_stream_bad },
		{ "bad_requests", test_bad_requests },
		{ "bad_frames", test_bad_frames },
		{ "half_frame_stall", test_half_frame_stall },
		{ "backpressure", test_backpressure },
		{ "admin", test_admin },
		{ "offsets", test_offsets },
		{ "kill9_restart", test_kill9_restart },
		{ "sigterm", test_sigterm },
		{ "unix_socket", test_unix_socket },
		{ "auto_create", test_auto_create },
		{ "idle_timeout", test_idle_timeout },
		{ "max_connections", test_max_connections },
		{ "sighup_reopens_log", test_sighup_reopens_log },
		{ "retention", test_retention },
		{ "garbage", test_garbage },
		{ "random_requests", test_random_requests },
	};
	TCase *tc;
	size_t i;

	for (i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		tc = tcase_create(live[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_add_test(tc, live[i].fn);
		suite_add_tcase(s, tc);
	}
	tc = tcase_create("config_errors");
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc, test_config_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("datadir_lock");
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc, test_datadir_lock);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(daemon_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
