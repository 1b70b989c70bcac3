/*
 * check_group_proto.c - the group coordinator of logd, spoken to in the
 * raw native protocol (lib/proto.h: JOIN_GROUP, HEARTBEAT, LEAVE_GROUP,
 * fenced OFFSET_COMMIT, LIST_GROUPS, DELETE_GROUP) against a real logd
 * (testlogd.h), one per test.
 *
 * Each member is its own connection.  A join that waits for a rebalance
 * is sent without reading its reply; the test then makes the rebalance
 * finish (the other members rejoin, leave, or expire) and reads every
 * held reply.  Sessions are 1.5 to 2 s so that expiry takes little time;
 * every wait for the daemon has a margin of several seconds.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "logd.h"
#include "proto.h"
#include "testlogd.h"

#define GROUP "g"
#define TOPIC "t6"
#define WAIT_MS 15000

static struct testlogd t;
static msgpack_zone zone;
static struct logd_msg msg;
static uint8_t *rbuf;
static size_t rbuf_cap;
static uint32_t corr_seq = 100;

/* What a JOIN_GROUP reply said (partitions of TOPIC only, flattened). */
struct jr {
	int64_t error;
	char member[256];
	int64_t generation;
	int64_t heartbeat_ms;
	int parts[64];
	int nparts;
	int ntopics;
};

static void setup(void)
{
	ck_assert(msgpack_zone_init(&zone, 8192));
	ck_assert_msg(testlogd_start(&t, NULL) == 0, "logd did not start");
}

static void teardown(void)
{
	testlogd_stop(&t);
	msgpack_zone_destroy(&zone);
	free(rbuf);
	rbuf = NULL;
	rbuf_cap = 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static int connect_ok(void)
{
	int fd = testlogd_connect(&t);

	ck_assert_int_ge(fd, 0);
	return fd;
}

static void send_frame(int fd, struct logd_pbuf *b)
{
	const char *s;
	size_t n;

	ck_assert_int_eq(logd_proto_end(b, 0), 0);
	s = b->data;
	n = b->len;
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		ck_assert_msg(w > 0, "send: %s", strerror(errno));
		s += w;
		n -= (size_t)w;
	}
	logd_pbuf_reset(b);
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

/* Reads one frame into msg; 0 or -1. */
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

/* 1 if a reply is waiting on fd within ms (a held join must not be). */
static int readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) > 0;
}

static int64_t field_int(const char *key)
{
	int64_t v = 0;

	ck_assert_msg(logd_proto_int(&msg, NULL, key, &v) == 0, "%s", msg.err);
	return v;
}

static const char *reply_message(void)
{
	static char m[1024];

	if (logd_proto_cstr_opt(&msg, NULL, "message", m, sizeof(m)))
		return "";
	return m;
}

/* Sends b and reads its reply; returns the reply's error. */
static int64_t rpc(int fd, struct logd_pbuf *b)
{
	send_frame(fd, b);
	ck_assert_msg(recv_msg(fd, WAIT_MS) == 0, "no reply");
	return field_int("error");
}

static int64_t create_topic(int fd, const char *name, int parts)
{
	struct logd_pbuf b;
	int64_t e;

	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_CREATE, corr_seq++);
	msgpack_pack_map(&b.pk, 2);
	logd_pack_kv_str(&b.pk, "topic", name);
	logd_pack_kv_int(&b.pk, "partitions", parts);
	e = rpc(fd, &b);
	logd_pbuf_free(&b);
	return e;
}

/* Sends a JOIN_GROUP for TOPIC (and extra, if not NULL), not waiting. */
static void send_join2(int fd, const char *member, const char *client,
    int session_ms, const char *extra)
{
	struct logd_pbuf b;

	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_JOIN_GROUP, corr_seq++);
	msgpack_pack_map(&b.pk, 5);
	logd_pack_kv_str(&b.pk, "group", GROUP);
	logd_pack_kv_str(&b.pk, "member", member);
	logd_pack_kv_str(&b.pk, "client", client);
	logd_pack_kv_int(&b.pk, "session_ms", session_ms);
	logd_pack_str(&b.pk, "topics");
	msgpack_pack_array(&b.pk, extra ? 2 : 1);
	logd_pack_str(&b.pk, TOPIC);
	if (extra)
		logd_pack_str(&b.pk, extra);
	send_frame(fd, &b);
	logd_pbuf_free(&b);
}

static void send_join(int fd, const char *member, int session_ms)
{
	send_join2(fd, member, "c", session_ms, NULL);
}

/* Reads a JOIN_GROUP reply into r; parts of TOPIC (or of topic). */
static void recv_join_topic(int fd, struct jr *r, const char *topic)
{
	const msgpack_object_array *as, *ps;
	char tn[64];
	uint32_t i, k;

	memset(r, 0, sizeof(*r));
	ck_assert_msg(recv_msg(fd, WAIT_MS) == 0, "no join reply");
	ck_assert_int_eq(msg.api, LOGD_API_JOIN_GROUP);
	r->error = field_int("error");
	if (r->error)
		return;
	ck_assert_int_eq(logd_proto_cstr(&msg, NULL, "member", r->member,
	    sizeof(r->member)), 0);
	r->generation = field_int("generation");
	r->heartbeat_ms = field_int("heartbeat_ms");
	ck_assert_int_eq(logd_proto_array(&msg, NULL, "assignment", &as), 0);
	r->ntopics = (int)as->size;
	for (i = 0; i < as->size; i++) {
		ck_assert_int_eq(logd_proto_cstr(&msg, &as->ptr[i], "topic",
		    tn, sizeof(tn)), 0);
		ck_assert_int_eq(logd_proto_array(&msg, &as->ptr[i],
		    "partitions", &ps), 0);
		if (strcmp(tn, topic))
			continue;
		for (k = 0; k < ps->size; k++) {
			ck_assert_int_lt(r->nparts, 64);
			r->parts[r->nparts++] = (int)ps->ptr[k].via.i64;
		}
	}
}

static void recv_join(int fd, struct jr *r)
{
	recv_join_topic(fd, r, TOPIC);
}

static int64_t heartbeat(int fd, const char *member, int64_t gen)
{
	struct logd_pbuf b;
	int64_t e;

	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_HEARTBEAT, corr_seq++);
	msgpack_pack_map(&b.pk, 3);
	logd_pack_kv_str(&b.pk, "group", GROUP);
	logd_pack_kv_str(&b.pk, "member", member);
	logd_pack_kv_int(&b.pk, "generation", gen);
	e = rpc(fd, &b);
	logd_pbuf_free(&b);
	return e;
}

static int64_t leave(int fd, const char *member)
{
	struct logd_pbuf b;
	int64_t e;

	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_LEAVE_GROUP, corr_seq++);
	msgpack_pack_map(&b.pk, 2);
	logd_pack_kv_str(&b.pk, "group", GROUP);
	logd_pack_kv_str(&b.pk, "member", member);
	e = rpc(fd, &b);
	logd_pbuf_free(&b);
	return e;
}

/* Commits offset for TOPIC/partition; member NULL: no "member" key. */
static int64_t commit(int fd, int64_t gen, const char *member, int part,
    int64_t offset)
{
	struct logd_pbuf b;
	int64_t e;

	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_OFFSET_COMMIT, corr_seq++);
	msgpack_pack_map(&b.pk, member ? 4 : 3);
	logd_pack_kv_str(&b.pk, "group", GROUP);
	logd_pack_kv_int(&b.pk, "generation", gen);
	if (member)
		logd_pack_kv_str(&b.pk, "member", member);
	logd_pack_str(&b.pk, "offsets");
	msgpack_pack_array(&b.pk, 1);
	msgpack_pack_map(&b.pk, 3);
	logd_pack_kv_str(&b.pk, "topic", TOPIC);
	logd_pack_kv_int(&b.pk, "partition", part);
	logd_pack_kv_int(&b.pk, "offset", offset);
	e = rpc(fd, &b);
	logd_pbuf_free(&b);
	return e;
}

/*
 * Heartbeats until the answer is not 0 and returns it: a request sent on
 * another connection (a join) may be read after this one's first beat.
 */
static int64_t heartbeat_until(int fd, const char *member, int64_t gen)
{
	long until = now_ms() + WAIT_MS;
	int64_t rc;

	while ((rc = heartbeat(fd, member, gen)) == 0 && now_ms() < until)
		usleep(20000);
	return rc;
}

/* LIST_GROUPS (of GROUP if one, else all); the reply stays in msg. */
static int64_t list_groups(int fd, int one)
{
	struct logd_pbuf b;
	int64_t e;

	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_LIST_GROUPS, corr_seq++);
	msgpack_pack_map(&b.pk, one ? 1 : 0);
	if (one)
		logd_pack_kv_str(&b.pk, "group", GROUP);
	e = rpc(fd, &b);
	logd_pbuf_free(&b);
	return e;
}

static int64_t delete_group(int fd)
{
	struct logd_pbuf b;
	int64_t e;

	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_DELETE_GROUP, corr_seq++);
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "group", GROUP);
	e = rpc(fd, &b);
	logd_pbuf_free(&b);
	return e;
}

/* Checks that the replies own each of TOPIC's 6 partitions exactly once,
 * round-robin over the members sorted by id. */
static void check_split(struct jr *rs, int n, int parts)
{
	int owner[64], i, k, rank;

	memset(owner, -1, sizeof(owner));
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(rs[i].error, 0);
		ck_assert_int_eq(rs[i].generation, rs[0].generation);
		for (k = 0; k < rs[i].nparts; k++) {
			ck_assert_int_lt(rs[i].parts[k], parts);
			ck_assert_int_eq(owner[rs[i].parts[k]], -1);
			owner[rs[i].parts[k]] = i;
		}
	}
	for (k = 0; k < parts; k++) {
		ck_assert_int_ge(owner[k], 0);
		/* The rank of the owner among the members by id. */
		rank = 0;
		for (i = 0; i < n; i++)
			if (strcmp(rs[i].member, rs[owner[k]].member) < 0)
				rank++;
		ck_assert_int_eq(rank, k % n);
	}
}

/*
 * Forms a stable group of n members on fds (each its own connection)
 * with session ms: the first joins alone, the others join together and
 * the first rejoins when its heartbeat says so.
 */
static void form_group(int *fds, struct jr *rs, int n, int session)
{
	int i;

	send_join(fds[0], "", session);
	recv_join(fds[0], &rs[0]);
	ck_assert_int_eq(rs[0].error, 0);
	ck_assert_int_eq(rs[0].nparts, 6);
	if (n == 1)
		return;
	for (i = 1; i < n; i++)
		send_join(fds[i], "", session);
	/* Held until the first member rejoins. */
	ck_assert_int_eq(heartbeat_until(fds[0], rs[0].member,
	    rs[0].generation), LOGD_EREBALANCE);
	for (i = 1; i < n; i++)
		ck_assert(!readable(fds[i], i == 1 ? 300 : 0));
	send_join(fds[0], rs[0].member, session);
	for (i = 0; i < n; i++)
		recv_join(fds[i], &rs[i]);
	check_split(rs, n, 6);
}

/* ------------------------------------------------------------------ */

START_TEST(test_single_member)
{
	int fd = connect_ok();
	const msgpack_object_array *apis;
	struct logd_pbuf b;
	struct jr r, r2;
	int i, seen = 0;

	logd_pbuf_init(&b);
	logd_proto_begin(&b, LOGD_API_HELLO, 1);
	msgpack_pack_map(&b.pk, 0);
	ck_assert_int_eq(rpc(fd, &b), 0);
	ck_assert_int_eq(logd_proto_array(&msg, NULL, "apis", &apis), 0);
	for (i = 0; i < (int)apis->size; i++)
		if (apis->ptr[i].via.i64 >= LOGD_API_JOIN_GROUP &&
		    apis->ptr[i].via.i64 <= LOGD_API_LEAVE_GROUP)
			seen++;
	ck_assert_int_eq(seen, 3);
	logd_pbuf_free(&b);

	ck_assert_int_eq(create_topic(fd, TOPIC, 6), 0);
	send_join2(fd, "", "reader", 2000, NULL);
	recv_join(fd, &r);
	ck_assert_int_eq(r.error, 0);
	ck_assert_int_eq(r.generation, 1);
	ck_assert_int_eq(strncmp(r.member, "reader-", 7), 0);
	ck_assert_int_eq(r.heartbeat_ms, 2000 / 3);
	ck_assert_int_eq(r.nparts, 6);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(r.parts[i], i);
	ck_assert_int_eq(heartbeat(fd, r.member, 1), 0);
	ck_assert_int_eq(heartbeat(fd, r.member, 7), LOGD_EGENERATION);
	ck_assert_int_eq(heartbeat(fd, "nobody", 1), LOGD_EMEMBER);

	/* A rejoin that changes nothing is answered at once. */
	send_join2(fd, r.member, "reader", 2000, NULL);
	recv_join(fd, &r2);
	ck_assert_int_eq(r2.error, 0);
	ck_assert_str_eq(r2.member, r.member);
	ck_assert_int_eq(r2.generation, 1);
	ck_assert_int_eq(r2.nparts, 6);

	/* An unknown member id; an unknown topic, named. */
	send_join(fd, "c-0-1", 2000);
	recv_join(fd, &r2);
	ck_assert_int_eq(r2.error, LOGD_EMEMBER);
	send_join2(fd, "", "reader", 2000, "nosuch");
	recv_join(fd, &r2);
	ck_assert_int_eq(r2.error, LOGD_ENOTOPIC);
	ck_assert_ptr_nonnull(strstr(reply_message(), "nosuch"));

	/* Commits as the member. */
	ck_assert_int_eq(commit(fd, 1, r.member, 3, 42), 0);
	ck_assert_int_eq(commit(fd, -1, NULL, 3, 42), LOGD_EGENERATION);

	/* A long session heartbeats every 3 s, not every session / 3. */
	ck_assert_int_eq(leave(fd, r.member), 0);
	send_join2(fd, "", "reader", 60000, NULL);
	recv_join(fd, &r2);
	ck_assert_int_eq(r2.error, 0);
	ck_assert_int_eq(r2.heartbeat_ms, 3000);
	ck_assert_int_eq(leave(fd, r2.member), 0);
	close(fd);
}
END_TEST

START_TEST(test_three_members)
{
	int fds[3], fd, i, k, other;
	const msgpack_object_array *gs, *ms, *as, *ps, *os;
	const msgpack_object *state;
	struct jr rs[3], r;
	char id[256];

	for (i = 0; i < 3; i++)
		fds[i] = connect_ok();
	fd = connect_ok();
	ck_assert_int_eq(create_topic(fd, TOPIC, 6), 0);
	form_group(fds, rs, 3, 2000);
	ck_assert_int_eq(rs[0].generation, 2);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(rs[i].nparts, 2);
		ck_assert_int_eq(heartbeat(fds[i], rs[i].member, 2), 0);
	}

	/* LIST_GROUPS: the members and their assignment. */
	ck_assert_int_eq(list_groups(fd, 1), 0);
	ck_assert_int_eq(logd_proto_array(&msg, NULL, "groups", &gs), 0);
	ck_assert_uint_eq(gs->size, 1);
	state = logd_proto_field(&gs->ptr[0], "state");
	ck_assert_ptr_nonnull(state);
	ck_assert_int_eq(state->via.str.size, 6);
	ck_assert_int_eq(memcmp(state->via.str.ptr, "stable", 6), 0);
	ck_assert_int_eq(logd_proto_field(&gs->ptr[0], "generation")->via.i64,
	    2);
	ck_assert_int_eq(logd_proto_array(&msg, &gs->ptr[0], "members", &ms),
	    0);
	ck_assert_uint_eq(ms->size, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(logd_proto_cstr(&msg, &ms->ptr[i], "member",
		    id, sizeof(id)), 0);
		for (k = 0; k < 3; k++)
			if (!strcmp(id, rs[k].member))
				break;
		ck_assert_int_lt(k, 3);
		ck_assert_int_eq(logd_proto_array(&msg, &ms->ptr[i],
		    "assignment", &as), 0);
		ck_assert_uint_eq(as->size, 1);
		ck_assert_int_eq(logd_proto_array(&msg, &as->ptr[0],
		    "partitions", &ps), 0);
		ck_assert_uint_eq(ps->size, 2);
		ck_assert_int_eq(ps->ptr[0].via.i64, rs[k].parts[0]);
		ck_assert_int_eq(ps->ptr[1].via.i64, rs[k].parts[1]);
		ck_assert_int_eq(logd_proto_field(&ms->ptr[i],
		    "session_ms")->via.i64, 2000);
	}
	ck_assert_int_eq(logd_proto_array(&msg, &gs->ptr[0], "offsets", &os),
	    0);
	ck_assert_uint_eq(os->size, 0);

	/* Fencing. */
	other = rs[1].parts[0];
	ck_assert_int_eq(commit(fd, 1, rs[0].member, rs[0].parts[0], 5),
	    LOGD_EGENERATION);
	ck_assert_int_eq(commit(fd, 2, "c-0-99", rs[0].parts[0], 5),
	    LOGD_EMEMBER);
	ck_assert_int_eq(commit(fd, 2, NULL, rs[0].parts[0], 5),
	    LOGD_EMEMBER);
	ck_assert_int_eq(commit(fd, -1, NULL, rs[0].parts[0], 5),
	    LOGD_EGENERATION);
	ck_assert_int_eq(commit(fd, 2, rs[0].member, other, 5), LOGD_EMEMBER);
	ck_assert_int_eq(commit(fds[0], 2, rs[0].member, rs[0].parts[0], 5),
	    0);
	ck_assert_int_eq(delete_group(fd), LOGD_EGENERATION);

	/* A leave starts a rebalance; the others rejoin and get 3 each. */
	ck_assert_int_eq(leave(fds[2], rs[2].member), 0);
	ck_assert_int_eq(leave(fds[2], rs[2].member), LOGD_EMEMBER);
	ck_assert_int_eq(heartbeat(fds[0], rs[0].member, 2), LOGD_EREBALANCE);
	/* During the rebalance the current generation still commits. */
	ck_assert_int_eq(commit(fds[0], 2, rs[0].member, rs[0].parts[1], 9),
	    0);
	send_join(fds[0], rs[0].member, 2000);
	ck_assert(!readable(fds[0], 300));
	ck_assert_int_eq(list_groups(fd, 1), 0);
	ck_assert_int_eq(logd_proto_array(&msg, NULL, "groups", &gs), 0);
	state = logd_proto_field(&gs->ptr[0], "state");
	ck_assert_int_eq(memcmp(state->via.str.ptr, "rebalancing", 11), 0);
	ck_assert_int_eq(heartbeat(fds[1], rs[1].member, 2), LOGD_EREBALANCE);
	send_join(fds[1], rs[1].member, 2000);
	recv_join(fds[0], &rs[0]);
	recv_join(fds[1], &rs[1]);
	check_split(rs, 2, 6);
	ck_assert_int_eq(rs[0].generation, 3);
	ck_assert_int_eq(rs[0].nparts, 3);
	ck_assert_int_eq(commit(fds[1], 2, rs[1].member, rs[1].parts[0], 5),
	    LOGD_EGENERATION);

	/* Once every member left, the group can be deleted. */
	ck_assert_int_eq(leave(fds[0], rs[0].member), 0);
	ck_assert_int_eq(leave(fds[1], rs[1].member), 0);
	ck_assert_int_eq(list_groups(fd, 1), 0);
	ck_assert_int_eq(logd_proto_array(&msg, NULL, "groups", &gs), 0);
	state = logd_proto_field(&gs->ptr[0], "state");
	ck_assert_int_eq(memcmp(state->via.str.ptr, "empty", 5), 0);
	ck_assert_int_eq(logd_proto_array(&msg, &gs->ptr[0], "members", &ms),
	    0);
	ck_assert_uint_eq(ms->size, 0);
	ck_assert_int_eq(logd_proto_array(&msg, &gs->ptr[0], "offsets", &os),
	    0);
	ck_assert_uint_eq(os->size, 2);
	ck_assert_int_eq(commit(fd, -1, NULL, 0, 1), 0);
	ck_assert_int_eq(delete_group(fd), 0);
	ck_assert_int_eq(list_groups(fd, 1), LOGD_ENOGROUP);
	ck_assert_int_eq(heartbeat(fds[0], rs[0].member, 3), LOGD_EMEMBER);
	send_join(fds[0], "", 2000);
	recv_join(fds[0], &r);
	ck_assert_int_eq(r.generation, 1);
	ck_assert_str_ne(r.member, rs[0].member);
	for (i = 0; i < 3; i++)
		close(fds[i]);
	close(fd);
}
END_TEST

START_TEST(test_session_expiry)
{
	int fds[3], fd, i, rc = 0;
	const msgpack_object_array *gs, *ms;
	struct jr rs[3];
	long until;

	for (i = 0; i < 3; i++)
		fds[i] = connect_ok();
	fd = connect_ok();
	ck_assert_int_eq(create_topic(fd, TOPIC, 6), 0);
	form_group(fds, rs, 3, 1500);
	/* The third falls silent; the others heartbeat until told. */
	until = now_ms() + WAIT_MS;
	while (now_ms() < until) {
		rc = (int)heartbeat(fds[0], rs[0].member, rs[0].generation);
		if (rc)
			break;
		ck_assert_int_eq(heartbeat(fds[1], rs[1].member,
		    rs[1].generation), 0);
		usleep(200000);
	}
	ck_assert_int_eq(rc, LOGD_EREBALANCE);
	ck_assert_int_eq(heartbeat(fds[2], rs[2].member, rs[2].generation),
	    LOGD_EMEMBER);
	send_join(fds[0], rs[0].member, 1500);
	ck_assert_int_eq(heartbeat(fds[1], rs[1].member, rs[1].generation),
	    LOGD_EREBALANCE);
	send_join(fds[1], rs[1].member, 1500);
	recv_join(fds[0], &rs[0]);
	recv_join(fds[1], &rs[1]);
	check_split(rs, 2, 6);
	ck_assert_int_eq(rs[0].generation, 3);
	ck_assert_int_eq(rs[0].nparts, 3);
	ck_assert_int_eq(list_groups(fd, 0), 0);
	ck_assert_int_eq(logd_proto_array(&msg, NULL, "groups", &gs), 0);
	ck_assert_uint_eq(gs->size, 1);
	ck_assert_int_eq(logd_proto_array(&msg, &gs->ptr[0], "members", &ms),
	    0);
	ck_assert_uint_eq(ms->size, 2);

	/*
	 * A member that does not rejoin in time is dropped from the
	 * rebalance: the third member's join waits the rebalance timeout
	 * (1.5 s) for the silent first one, then gets everything.
	 */
	send_join(fds[2], "", 1500);
	ck_assert_int_eq(heartbeat_until(fds[1], rs[1].member, 3),
	    LOGD_EREBALANCE);
	send_join(fds[1], rs[1].member, 1500);
	recv_join(fds[1], &rs[1]);
	recv_join(fds[2], &rs[2]);
	ck_assert_int_eq(rs[1].generation, 4);
	check_split(rs + 1, 2, 6);
	ck_assert_int_eq(heartbeat(fds[0], rs[0].member, 3), LOGD_EMEMBER);
	for (i = 0; i < 3; i++)
		close(fds[i]);
	close(fd);
}
END_TEST

/* Two topics, members reading different sets. */
START_TEST(test_topics)
{
	int a = connect_ok(), b = connect_ok();
	struct jr ra, rb, r2;

	ck_assert_int_eq(create_topic(a, TOPIC, 6), 0);
	ck_assert_int_eq(create_topic(a, "t2", 2), 0);
	send_join2(a, "", "c", 2000, "t2");
	recv_join(a, &ra);
	ck_assert_int_eq(ra.ntopics, 2);
	send_join(b, "", 2000);
	ck_assert_int_eq(heartbeat_until(a, ra.member, 1), LOGD_EREBALANCE);
	send_join2(a, ra.member, "c", 2000, "t2");
	recv_join(a, &ra);
	recv_join(b, &rb);
	ck_assert_int_eq(ra.generation, 2);
	/* a sorts first: t6 0,2,4; all of t2 (b does not read it). */
	ck_assert_int_lt(strcmp(ra.member, rb.member), 0);
	ck_assert_int_eq(ra.nparts, 3);
	ck_assert_int_eq(ra.parts[1], 2);
	ck_assert_int_eq(rb.nparts, 3);
	ck_assert_int_eq(rb.parts[0], 1);
	ck_assert_int_eq(rb.ntopics, 1);
	/* A changed topic list starts a rebalance. */
	send_join(a, ra.member, 2000);
	ck_assert(!readable(a, 300));
	ck_assert_int_eq(heartbeat_until(b, rb.member, 2), LOGD_EREBALANCE);
	send_join(b, rb.member, 2000);
	recv_join_topic(a, &r2, "t2");
	ck_assert_int_eq(r2.generation, 3);
	ck_assert_int_eq(r2.nparts, 0);
	ck_assert_int_eq(r2.ntopics, 1);
	recv_join(b, &rb);
	ck_assert_int_eq(rb.generation, 3);
	close(a);
	close(b);
}
END_TEST

/*
 * A member that heartbeats but does not rejoin is removed when the
 * rebalance timeout (its 1.5 s session) passes; a member whose join is
 * held gets 0 from its heartbeats; a second join replaces the first.
 */
START_TEST(test_rebalance_timeout)
{
	int a = connect_ok(), b = connect_ok(), c = connect_ok();
	struct jr ra, rb, rc;
	long until;
	int64_t e;

	ck_assert_int_eq(create_topic(a, TOPIC, 6), 0);
	send_join(a, "", 1500);
	recv_join(a, &ra);
	send_join(b, "", 1500);
	ck_assert_int_eq(heartbeat_until(a, ra.member, 1), LOGD_EREBALANCE);
	/* a keeps beating, never rejoins: dropped after ~1.5 s. */
	until = now_ms() + WAIT_MS;
	ck_assert(!readable(b, 100));
	while ((e = heartbeat(a, ra.member, 1)) == LOGD_EREBALANCE &&
	    now_ms() < until)
		usleep(100000);
	ck_assert_int_eq(e, LOGD_EMEMBER);
	recv_join(b, &rb);
	ck_assert_int_eq(rb.error, 0);
	ck_assert_int_eq(rb.generation, 2);
	ck_assert_int_eq(rb.nparts, 6);

	/* c joins and b rejoins: generation 3. */
	send_join(c, "", 1500);
	ck_assert_int_eq(heartbeat_until(b, rb.member, 2), LOGD_EREBALANCE);
	send_join(b, rb.member, 1500);
	recv_join(b, &rb);
	recv_join(c, &rc);
	ck_assert_int_eq(rc.generation, 3);
	check_split((struct jr[]){ rb, rc }, 2, 6);

	/*
	 * d joins; b rejoins twice while c has not: the first join is
	 * answered as replaced, b's heartbeats get 0 while it waits.
	 */
	close(a);
	a = connect_ok();
	send_join(a, "", 1500);
	ck_assert_int_eq(heartbeat_until(b, rb.member, 3), LOGD_EREBALANCE);
	send_join(b, rb.member, 1500);
	ck_assert_int_eq(heartbeat(b, rb.member, 3), 0);
	send_join(b, rb.member, 1500);
	recv_join(b, &ra);
	ck_assert_int_eq(ra.error, LOGD_EREBALANCE);
	ck_assert_int_eq(heartbeat(b, rb.member, 3), 0);
	ck_assert(!readable(b, 200));
	ck_assert_int_eq(heartbeat(c, rc.member, 3), LOGD_EREBALANCE);
	send_join(c, rc.member, 1500);
	{
		struct jr rs[3];

		recv_join(a, &rs[0]);
		recv_join(b, &rs[1]);
		recv_join(c, &rs[2]);
		ck_assert_int_eq(rs[0].generation, 4);
		check_split(rs, 3, 6);
	}
	close(a);
	close(b);
	close(c);
}
END_TEST

/* The connection holding a join closes: that member is dropped. */
START_TEST(test_held_conn_closes)
{
	int a = connect_ok(), b = connect_ok();
	const msgpack_object_array *gs, *ms;
	struct jr ra;

	ck_assert_int_eq(create_topic(a, TOPIC, 6), 0);
	send_join(a, "", 2000);
	recv_join(a, &ra);
	send_join(b, "", 2000);
	ck_assert_int_eq(heartbeat_until(a, ra.member, 1), LOGD_EREBALANCE);
	ck_assert(!readable(b, 200));
	close(b);
	send_join(a, ra.member, 2000);
	recv_join(a, &ra);
	ck_assert_int_eq(ra.error, 0);
	ck_assert_int_eq(ra.generation, 2);
	ck_assert_int_eq(ra.nparts, 6);
	ck_assert_int_eq(list_groups(a, 1), 0);
	ck_assert_int_eq(logd_proto_array(&msg, NULL, "groups", &gs), 0);
	ck_assert_int_eq(logd_proto_array(&msg, &gs->ptr[0], "members", &ms),
	    0);
	ck_assert_uint_eq(ms->size, 1);
	close(a);
}
END_TEST

/*
 * logd stops while a join is held (answered LOGD_ECLOSED) and restarts:
 * old members are unknown, a new join works, the commits are there.
 */
START_TEST(test_restart)
{
	int a = connect_ok(), b = connect_ok(), i;
	const msgpack_object_array *os;
	struct logd_pbuf pb;
	struct jr ra, rb;

	ck_assert_int_eq(create_topic(a, TOPIC, 6), 0);
	send_join(a, "", 2000);
	recv_join(a, &ra);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(commit(a, 1, ra.member, i, 10 + i), 0);
	send_join(b, "", 2000);
	ck_assert_int_eq(heartbeat_until(a, ra.member, 1), LOGD_EREBALANCE);
	ck_assert(!readable(b, 200));
	ck_assert_int_eq(testlogd_term(&t), 0);
	recv_join(b, &rb);
	ck_assert_int_eq(rb.error, LOGD_ECLOSED);
	close(a);
	close(b);

	ck_assert_int_eq(testlogd_restart(&t), 0);
	a = connect_ok();
	ck_assert_int_eq(heartbeat(a, ra.member, 1), LOGD_EMEMBER);
	send_join(a, ra.member, 2000);
	recv_join(a, &rb);
	ck_assert_int_eq(rb.error, LOGD_EMEMBER);
	send_join(a, "", 2000);
	recv_join(a, &rb);
	ck_assert_int_eq(rb.error, 0);
	ck_assert_int_eq(rb.generation, 1);
	ck_assert_int_eq(rb.nparts, 6);
	ck_assert_str_ne(rb.member, ra.member);

	logd_pbuf_init(&pb);
	logd_proto_begin(&pb, LOGD_API_OFFSET_FETCH, corr_seq++);
	msgpack_pack_map(&pb.pk, 1);
	logd_pack_kv_str(&pb.pk, "group", GROUP);
	ck_assert_int_eq(rpc(a, &pb), 0);
	logd_pbuf_free(&pb);
	ck_assert_int_eq(logd_proto_array(&msg, NULL, "offsets", &os), 0);
	ck_assert_uint_eq(os->size, 6);
	for (i = 0; i < 6; i++) {
		ck_assert_int_eq(logd_proto_field(&os->ptr[i],
		    "partition")->via.i64, i);
		ck_assert_int_eq(logd_proto_field(&os->ptr[i],
		    "offset")->via.i64, 10 + i);
	}
	close(a);
}
END_TEST

/* Sends the request in b: its error, which must come with a message. */
static int64_t join_raw(int fd, struct logd_pbuf *b)
{
	int64_t e = rpc(fd, b);

	if (e)
		ck_assert_msg(reply_message()[0], "no message");
	return e;
}

START_TEST(test_malformed)
{
	int fd = connect_ok(), i;
	struct logd_pbuf b;
	char *huge = malloc(100001);

	memset(huge, 'x', 100000);
	huge[100000] = 0;
	logd_pbuf_init(&b);
	ck_assert_int_eq(create_topic(fd, TOPIC, 6), 0);

	/* No topics. */
	logd_proto_begin(&b, LOGD_API_JOIN_GROUP, 1);
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "group", GROUP);
	ck_assert_int_eq(join_raw(fd, &b), LOGD_EPROTO);
	/* No group. */
	logd_proto_begin(&b, LOGD_API_JOIN_GROUP, 1);
	msgpack_pack_map(&b.pk, 1);
	logd_pack_str(&b.pk, "topics");
	msgpack_pack_array(&b.pk, 1);
	logd_pack_str(&b.pk, TOPIC);
	ck_assert_int_eq(join_raw(fd, &b), LOGD_EPROTO);
	/* topics not an array; empty; holding a number; too many. */
	logd_proto_begin(&b, LOGD_API_JOIN_GROUP, 1);
	msgpack_pack_map(&b.pk, 2);
	logd_pack_kv_str(&b.pk, "group", GROUP);
	logd_pack_kv_str(&b.pk, "topics", TOPIC);
	ck_assert_int_eq(join_raw(fd, &b), LOGD_EPROTO);
	logd_proto_begin(&b, LOGD_API_JOIN_GROUP, 1);
	msgpack_pack_map(&b.pk, 2);
	logd_pack_kv_str(&b.pk, "group", GROUP);
	logd_pack_str(&b.pk, "topics");
	msgpack_pack_array(&b.pk, 0);
	ck_assert_int_eq(join_raw(fd, &b), LOGD_EPROTO);
	logd_proto_begin(&b, LOGD_API_JOIN_GROUP, 1);
	msgpack_pack_map(&b.pk, 2);
	logd_pack_kv_str(&b.pk, "group", GROUP);
	logd_pack_str(&b.pk, "topics");
	msgpack_pack_array(&b.pk, 2);
	logd_pack_str(&b.pk, TOPIC);
	msgpack_pack_int(&b.pk, 7);
	ck_assert_int_eq(join_raw(fd, &b), LOGD_EPROTO);
	ck_assert_ptr_nonnull(strstr(reply_message(), "topics[1]"));
	logd_proto_begin(&b, LOGD_API_JOIN_GROUP, 1);
	msgpack_pack_map(&b.pk, 2);
	logd_pack_kv_str(&b.pk, "group", GROUP);
	logd_pack_str(&b.pk, "topics");
	msgpack_pack_array(&b.pk, 5000);
	for (i = 0; i < 5000; i++)
		logd_pack_str(&b.pk, TOPIC);
	ck_assert_int_eq(join_raw(fd, &b), LOGD_EPROTO);
	/* A huge topic name, group, member, client. */
	logd_proto_begin(&b, LOGD_API_JOIN_GROUP, 1);
	msgpack_pack_map(&b.pk, 2);
	logd_pack_kv_str(&b.pk, "group", GROUP);
	logd_pack_str(&b.pk, "topics");
	msgpack_pack_array(&b.pk, 1);
	logd_pack_str(&b.pk, huge);
	ck_assert_int_eq(join_raw(fd, &b), LOGD_EPROTO);
	for (i = 0; i < 3; i++) {
		static const char *const keys[] = { "group", "member",
			"client" };

		logd_proto_begin(&b, LOGD_API_JOIN_GROUP, 1);
		msgpack_pack_map(&b.pk, i ? 3 : 2);
		if (i)
			logd_pack_kv_str(&b.pk, "group", GROUP);
		logd_pack_kv_str(&b.pk, keys[i], huge);
		logd_pack_str(&b.pk, "topics");
		msgpack_pack_array(&b.pk, 1);
		logd_pack_str(&b.pk, TOPIC);
		ck_assert_int_eq(join_raw(fd, &b), LOGD_EPROTO);
	}
	/* Bad session_ms: too small, too large, not an int. */
	for (i = 0; i < 3; i++) {
		logd_proto_begin(&b, LOGD_API_JOIN_GROUP, 1);
		msgpack_pack_map(&b.pk, 3);
		logd_pack_kv_str(&b.pk, "group", GROUP);
		if (i == 2)
			logd_pack_kv_str(&b.pk, "session_ms", "1000");
		else
			logd_pack_kv_int(&b.pk, "session_ms",
			    i ? 1000000000000LL : 5);
		logd_pack_str(&b.pk, "topics");
		msgpack_pack_array(&b.pk, 1);
		logd_pack_str(&b.pk, TOPIC);
		ck_assert_int_eq(join_raw(fd, &b), LOGD_EPROTO);
	}
	/* A control character in client; a bad group name. */
	logd_proto_begin(&b, LOGD_API_JOIN_GROUP, 1);
	msgpack_pack_map(&b.pk, 3);
	logd_pack_kv_str(&b.pk, "group", GROUP);
	logd_pack_kv_str(&b.pk, "client", "a\nb");
	logd_pack_str(&b.pk, "topics");
	msgpack_pack_array(&b.pk, 1);
	logd_pack_str(&b.pk, TOPIC);
	ck_assert_int_eq(join_raw(fd, &b), LOGD_EPROTO);
	logd_proto_begin(&b, LOGD_API_JOIN_GROUP, 1);
	msgpack_pack_map(&b.pk, 2);
	logd_pack_kv_str(&b.pk, "group", "");
	logd_pack_str(&b.pk, "topics");
	msgpack_pack_array(&b.pk, 1);
	logd_pack_str(&b.pk, TOPIC);
	ck_assert_int_eq(join_raw(fd, &b), LOGD_EBADNAME);
	/* Heartbeat, leave and commit without their fields. */
	logd_proto_begin(&b, LOGD_API_HEARTBEAT, 1);
	msgpack_pack_map(&b.pk, 2);
	logd_pack_kv_str(&b.pk, "group", GROUP);
	logd_pack_kv_str(&b.pk, "member", "m");
	ck_assert_int_eq(join_raw(fd, &b), LOGD_EPROTO);
	logd_proto_begin(&b, LOGD_API_LEAVE_GROUP, 1);
	msgpack_pack_map(&b.pk, 1);
	logd_pack_kv_str(&b.pk, "group", GROUP);
	ck_assert_int_eq(join_raw(fd, &b), LOGD_EPROTO);
	ck_assert_int_eq(commit(fd, -5, "m", 0, 1), LOGD_EPROTO);
	/* Nothing joined; the connection still works. */
	ck_assert_int_eq(list_groups(fd, 1), LOGD_ENOGROUP);
	ck_assert_int_eq(list_groups(fd, 0), 0);
	logd_pbuf_free(&b);
	free(huge);
	close(fd);
}
END_TEST

static Suite *group_proto_suite(void)
{
	Suite *s = suite_create("group_proto");
	struct {
		const char *name;
		const TTest *fn;
	} tests[] = {
		{ "single_member", test_single_member },
		{ "three_members", test_three_members },
		{ "session_expiry", test_session_expiry },
		{ "topics", test_topics },
		{ "rebalance_timeout", test_rebalance_timeout },
		{ "held_conn_closes", test_held_conn_closes },
		{ "restart", test_restart },
		{ "malformed", test_malformed },
	};
	TCase *tc;
	size_t i;

	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		tc = tcase_create(tests[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_add_test(tc, tests[i].fn);
		tcase_set_timeout(tc, 60);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(group_proto_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
