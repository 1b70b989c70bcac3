/*
 * check_group.c - consumer groups with several members, against a real
 * logd: the broker's coordinator (join held until the rebalance is done,
 * assignment, heartbeats, session timeout, leave, fenced commits) and
 * the client's member side (logd_consumer_subscribe()).
 *
 * Members live in this process, one client each, and are driven in turn
 * by pump(): each polls with a short timeout, records every (partition,
 * offset) it got in a bitmap, and commits after each turn.  A member to
 * be killed without a LEAVE is a forked child that reports what it
 * processed through a pipe before committing it, and gets SIGKILL.
 * "Nothing skipped" is checked as: every offset of every partition was
 * processed by some member at least once.  Session timeouts are short
 * (2 s) so the whole program stays well under a minute; the deadlines
 * are generous and only bound how long a test may wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "logd.h"
#include "client_int.h"
#include "testlogd.h"

#define NPART 6
#define MAXOFF 4096
#define SESSION 2000

static struct testlogd T;

static void
setup(void)
{
	memset(&T, 0, sizeof(T));
	ck_assert_int_eq(testlogd_start(&T, NULL), 0);
}

static void
teardown(void)
{
	testlogd_stop(&T);
}

static int64_t
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct logd_client *
connect_ok(void)
{
	struct logd_client *c = NULL;
	int r = logd_client_open(T.addr, NULL, &c);

	ck_assert_msg(r == 0, "connect %s: %s", T.addr, logd_strerror(r));
	return c;
}

/* Appends n records to each partition of topic ("p<part>-<i>"). */
static void
produce(const char *topic, int n)
{
	struct logd_client *c = connect_ok();
	struct logd_batch_builder *b = NULL;
	const uint8_t *batch;
	size_t len;
	char v[32];
	int p, i, r;

	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	for (p = 0; p < NPART; p++) {
		logd_batch_builder_reset(b);
		for (i = 0; i < n; i++) {
			snprintf(v, sizeof(v), "p%d-%d", p, i);
			ck_assert_int_eq(logd_batch_builder_add(b, 0, NULL, 0,
			    v, strlen(v), NULL, 0), 0);
		}
		ck_assert_int_eq(logd_batch_builder_finish(b, &batch, &len),
		    0);
		r = logd_client_produce(c, topic, p, NULL, 0, 1, batch, len,
		    NULL, NULL);
		ck_assert_msg(r == 0, "produce: %s", logd_client_errmsg(c));
	}
	logd_batch_builder_free(b);
	logd_client_close(c);
}

static void
create_topic(const char *topic)
{
	struct logd_client *c = connect_ok();
	int r = logd_client_topic_create(c, topic, NPART, NULL, 0);

	ck_assert_msg(r == 0, "create: %s", logd_client_errmsg(c));
	logd_client_close(c);
}

/* What a set of members processed: (partition, offset) bitmap. */
struct seen {
	unsigned char bit[NPART][MAXOFF];
	long total;
};

static void
seen_mark(struct seen *s, int32_t p, int64_t off)
{
	ck_assert_int_ge(p, 0);
	ck_assert_int_lt(p, NPART);
	ck_assert_int_ge(off, 0);
	ck_assert_int_lt(off, MAXOFF);
	s->bit[p][off] = 1;
	s->total++;
}

/* Every offset below n of every partition was processed. */
static void
seen_all(const struct seen *s, int n, const char *who)
{
	int p, o;

	for (p = 0; p < NPART; p++)
		for (o = 0; o < n; o++)
			ck_assert_msg(s->bit[p][o], "%s: partition %d offset "
			    "%d was never processed", who, p, o);
}

struct mem {
	struct logd_client *c;
	struct logd_consumer *cs;
	struct seen *seen;
	int revokes, assigns;
	int dead;                 /* connection gone (logd restarted) */
	int64_t first[NPART];     /* first offset read per partition */
};

static void
on_revoke(void *arg, const struct logd_group_assignment *a, size_t n)
{
	struct mem *m = arg;

	(void)a;
	(void)n;
	m->revokes++;
}

static void
on_assign(void *arg, const struct logd_group_assignment *a, size_t n)
{
	struct mem *m = arg;

	(void)a;
	(void)n;
	m->assigns++;
}

static void
mem_open(struct mem *m, const char *group, const char *topic,
    struct seen *s, int session_ms)
{
	struct logd_consumer_options o;
	int r, p;

	memset(m, 0, sizeof(*m));
	memset(&o, 0, sizeof(o));
	o.group = group;
	o.session_ms = session_ms;
	o.max_wait_ms = 100;
	o.on_revoke = on_revoke;
	o.on_assign = on_assign;
	o.cb_arg = m;
	m->c = connect_ok();
	m->seen = s;
	for (p = 0; p < NPART; p++)
		m->first[p] = -1;
	ck_assert_int_eq(logd_consumer_new(m->c, &o, &m->cs), 0);
	r = logd_consumer_subscribe(m->cs, topic);
	ck_assert_msg(r == 0, "subscribe: %s", logd_client_errmsg(m->c));
}

static void
mem_close(struct mem *m)
{
	logd_consumer_close(m->cs);
	logd_client_close(m->c);
	m->cs = NULL;
	m->c = NULL;
}

/* One turn of m: read what is there (up to 500 records), commit it. */
static void
mem_turn(struct mem *m, int timeout_ms)
{
	struct logd_consumer_record cr;
	int r, k, got = 0;

	if (m->dead)
		return;
	for (k = 0; k < 500; k++) {
		r = logd_consumer_poll(m->cs, k == 0 ? timeout_ms : 0, &cr);
		if (r == 0)
			break;
		if (r < 0 && (r == LOGD_ECLOSED || cl_broken(m->c))) {
			m->dead = 1;
			return;
		}
		ck_assert_msg(r == 1, "poll: %s (%s)", logd_strerror(r),
		    logd_client_errmsg(m->c));
		seen_mark(m->seen, cr.partition, cr.rec.offset);
		if (m->first[cr.partition] < 0)
			m->first[cr.partition] = cr.rec.offset;
		got++;
	}
	if (got == 0)
		return;
	r = logd_consumer_commit(m->cs);
	if (r < 0 && cl_broken(m->c)) {
		m->dead = 1;
		return;
	}
	/* Refused when the partitions moved meanwhile: they are read
	 * again by their new owner. */
	ck_assert_msg(r == 0 || r == LOGD_EGENERATION || r == LOGD_EMEMBER ||
	    r == LOGD_EREBALANCE, "commit: %s (%s)", logd_strerror(r),
	    logd_client_errmsg(m->c));
}

static void
pump(struct mem **ms, int n, int ms_total)
{
	int64_t end = ms_now() + ms_total;
	int i;

	do {
		for (i = 0; i < n; i++)
			mem_turn(ms[i], 10);
	} while (ms_now() < end);
}

/* Partitions owned by m (0 while it is joining). */
static size_t
owned(const struct mem *m)
{
	const struct logd_group_assignment *a;
	size_t n, i, k = 0;

	a = logd_consumer_assignment(m->cs, &n);
	for (i = 0; i < n; i++)
		k += a[i].partition_count;
	return k;
}

/*
 * Is the group stable with exactly these members, each owning want[i]
 * partitions, all of one generation, every partition owned once, and
 * does the broker agree?
 */
static int
group_settled(struct mem **ms, int n, const size_t *want, const char *group)
{
	struct logd_group *g = NULL;
	int own[NPART] = { 0 };
	int64_t gen = -1, g2;
	size_t i, j, k, na;
	int ok = 1;

	for (i = 0; i < (size_t)n; i++) {
		const struct logd_group_assignment *a;

		if (logd_consumer_member(ms[i]->cs, &g2) == NULL ||
		    owned(ms[i]) != want[i] || (gen >= 0 && g2 != gen))
			return 0;
		gen = g2;
		a = logd_consumer_assignment(ms[i]->cs, &na);
		for (j = 0; j < na; j++)
			for (k = 0; k < a[j].partition_count; k++)
				own[a[j].partitions[k]]++;
	}
	for (i = 0; i < NPART; i++)
		if (own[i] != 1)
			return 0;
	if (logd_client_group_describe(ms[0]->c, group, &g) < 0)
		return 0;
	if (strcmp(g->state, "stable") != 0 || g->generation != gen ||
	    g->member_count != (size_t)n)
		ok = 0;
	logd_group_free(g);
	return ok;
}

/* Pumps until the group settles as group_settled() says, or fails. */
static void
settle(struct mem **ms, int n, const size_t *want, const char *group,
    int limit_ms)
{
	int64_t end = ms_now() + limit_ms;

	while (!group_settled(ms, n, want, group)) {
		ck_assert_msg(ms_now() < end, "group %s did not settle "
		    "within %d ms", group, limit_ms);
		pump(ms, n, 50);
	}
}

/* ---- 3 members of one group on 6 partitions get 2 each ---- */

START_TEST(test_three_members)
{
	static const size_t two[3] = { 2, 2, 2 };
	struct seen *s = calloc(1, sizeof(*s));
	struct mem m[3];
	struct mem *ms[3] = { &m[0], &m[1], &m[2] };
	struct logd_group *g = NULL;
	struct logd_client *c;
	size_t i;
	int k;

	create_topic("t");
	produce("t", 50);
	for (k = 0; k < 3; k++)
		mem_open(&m[k], "g", "t", s, SESSION);
	settle(ms, 3, two, "g", 30000);
	pump(ms, 3, 500);
	produce("t", 50);
	pump(ms, 3, 1000);
	seen_all(s, 100, "3 members");

	/* The broker's view: 3 members with 2 partitions each. */
	c = connect_ok();
	ck_assert_int_eq(logd_client_group_describe(c, "g", &g), 0);
	ck_assert_str_eq(g->name, "g");
	ck_assert_str_eq(g->state, "stable");
	ck_assert_int_ge(g->generation, 1);
	ck_assert_uint_eq(g->member_count, 3);
	for (i = 0; i < g->member_count; i++) {
		ck_assert_uint_eq(g->members[i].assignment_count, 1);
		ck_assert_str_eq(g->members[i].assignment[0].topic, "t");
		ck_assert_uint_eq(g->members[i].assignment[0].partition_count,
		    2);
		ck_assert_int_eq(g->members[i].session_ms, SESSION);
		ck_assert_uint_eq(g->members[i].topic_count, 1);
		ck_assert_str_eq(g->members[i].topics[0], "t");
	}
	ck_assert_uint_eq(g->offset_count, NPART);
	for (i = 0; i < g->offset_count; i++) {
		ck_assert_int_eq(g->offsets[i].offset, 100);
		ck_assert_int_eq(g->offsets[i].lag, 0);
	}
	logd_group_free(g);
	/* Standalone commits and deletes are refused while it has members. */
	{
		struct logd_offset_commit oc = { "t", 0, 1, NULL };

		ck_assert_int_eq(logd_client_offsets_commit(c, "g", &oc, 1),
		    LOGD_EGENERATION);
		ck_assert_int_eq(logd_client_group_delete(c, "g"),
		    LOGD_EGENERATION);
	}
	for (k = 0; k < 3; k++) {
		ck_assert_int_ge(m[k].assigns, 1);
		mem_close(&m[k]);
	}
	/* All left: the group is empty, its offsets stay. */
	ck_assert_int_eq(logd_client_group_describe(c, "g", &g), 0);
	ck_assert_str_eq(g->state, "empty");
	ck_assert_uint_eq(g->member_count, 0);
	ck_assert_uint_eq(g->offset_count, NPART);
	logd_group_free(g);
	logd_client_close(c);
	free(s);
}
END_TEST

/* ---- a member that leaves hands its partitions over at once ---- */

START_TEST(test_leave)
{
	static const size_t two3[2] = { 3, 3 }, six[1] = { 6 };
	struct seen *s = calloc(1, sizeof(*s));
	struct mem m[2];
	struct mem *ms[2] = { &m[0], &m[1] };
	int64_t t0;

	create_topic("t");
	produce("t", 20);
	/* Without a LEAVE the handover would wait for the session timeout
	 * (15 s); with it, for the survivor's next heartbeat (every
	 * session/3 at most). */
	mem_open(&m[0], "g", "t", s, 15000);
	mem_open(&m[1], "g", "t", s, 15000);
	settle(ms, 2, two3, "g", 30000);
	pump(ms, 2, 300);
	mem_close(&m[1]);
	t0 = ms_now();
	settle(ms, 1, six, "g", 30000);
	ck_assert_msg(ms_now() - t0 < 15000, "handover took %lld ms: as long "
	    "as the session timeout", (long long)(ms_now() - t0));
	ck_assert_int_ge(m[0].revokes, 1);
	produce("t", 20);
	pump(ms, 1, 1000);
	seen_all(s, 40, "after leave");
	mem_close(&m[0]);
	free(s);
}
END_TEST

/* ---- kill a member (no leave): the others take its partitions ---- */

/* The child member: processes slowly, reports, then commits. */
static void
child_member(int fd)
{
	struct logd_consumer_options o;
	struct logd_consumer_record cr;
	struct logd_client *c = NULL;
	struct logd_consumer *cs = NULL;
	char line[64];
	int r;

	memset(&o, 0, sizeof(o));
	o.group = "g";
	o.session_ms = SESSION;
	o.max_wait_ms = 100;
	if (logd_client_open(T.addr, NULL, &c) < 0 ||
	    logd_consumer_new(c, &o, &cs) < 0 ||
	    logd_consumer_subscribe(cs, "t") < 0)
		_exit(2);
	for (;;) {
		r = logd_consumer_poll(cs, 100, &cr);
		if (r < 0 && cl_broken(c))
			_exit(3);
		if (r < 0)
			fprintf(stderr, "child poll: %s\n",
			    logd_client_errmsg(c));
		if (r != 1)
			continue;
		snprintf(line, sizeof(line), "%d %lld\n", (int)cr.partition,
		    (long long)cr.rec.offset);
		if (write(fd, line, strlen(line)) < 0)
			_exit(4);
		usleep(5000);
		logd_consumer_commit(cs);
	}
}

/* Reads the child's "partition offset" lines that are there. */
static void
read_child(int fd, struct seen *s, char *buf, size_t *have)
{
	ssize_t n;
	char *nl, *p;

	while ((n = read(fd, buf + *have, 4095 - *have)) > 0) {
		*have += (size_t)n;
		buf[*have] = '\0';
		p = buf;
		while ((nl = strchr(p, '\n')) != NULL) {
			int part;
			long long off;

			ck_assert_int_eq(sscanf(p, "%d %lld", &part, &off), 2);
			seen_mark(s, part, off);
			p = nl + 1;
		}
		*have -= (size_t)(p - buf);
		memmove(buf, p, *have);
	}
}

START_TEST(test_kill_member)
{
	static const size_t two[2] = { 3, 3 };
	struct seen *s = calloc(1, sizeof(*s));
	struct seen *cs = calloc(1, sizeof(*cs));
	struct mem m[2];
	struct mem *ms[2] = { &m[0], &m[1] };
	struct logd_group *g = NULL;
	char buf[4096];
	size_t have = 0, i;
	int fds[2], st, p, o, three = 0, produced = 0;
	int64_t end, t0;
	pid_t pid;

	create_topic("t");
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		child_member(fds[1]);
	}
	close(fds[1]);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	mem_open(&m[0], "g", "t", s, SESSION);
	mem_open(&m[1], "g", "t", s, SESSION);
	/* Once the group of 3 formed, 300 records go to each partition;
	 * wait until the child has processed some of its (it is slow: 5 ms
	 * a record). */
	end = ms_now() + 30000;
	while (!three || cs->total < 30) {
		ck_assert_msg(ms_now() < end, "the group of 3 did not form "
		    "(child processed %ld)", cs->total);
		pump(ms, 2, 50);
		read_child(fds[0], cs, buf, &have);
		if (three && !produced) {
			produce("t", 300);
			produced = 1;
		}
		if (!three && owned(&m[0]) == 2 && owned(&m[1]) == 2 &&
		    logd_client_group_describe(m[0].c, "g", &g) == 0) {
			three = g->member_count == 3 &&
			    strcmp(g->state, "stable") == 0;
			logd_group_free(g);
			g = NULL;
		}
	}
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	t0 = ms_now();
	read_child(fds[0], cs, buf, &have);
	close(fds[0]);
	ck_assert_msg(cs->total < 600, "the child read all its records "
	    "before it was killed");
	/* Within the session timeout plus a (generous) margin the two
	 * survivors own all 6 partitions. */
	settle(ms, 2, two, "g", SESSION + 15000);
	ck_assert_msg(ms_now() - t0 <= SESSION + 15000, "takeover took "
	    "%lld ms", (long long)(ms_now() - t0));
	produce("t", 100);
	pump(ms, 2, 1500);
	/* Nothing skipped: what the child processed (and maybe did not
	 * commit) plus what the survivors processed is everything. */
	for (p = 0; p < NPART; p++)
		for (o = 0; o < 400; o++)
			ck_assert_msg(s->bit[p][o] || cs->bit[p][o], "partition "
			    "%d offset %d was skipped", p, o);
	/* The child's partitions were read by the survivors from its
	 * commit on: so every offset past what it processed is theirs. */
	ck_assert_int_eq(logd_client_group_describe(m[0].c, "g", &g), 0);
	ck_assert_uint_eq(g->member_count, 2);
	for (i = 0; i < g->offset_count; i++)
		ck_assert_int_eq(g->offsets[i].offset, 400);
	logd_group_free(g);
	mem_close(&m[0]);
	mem_close(&m[1]);
	free(s);
	free(cs);
}
END_TEST

/* ---- fencing: a commit from a stale generation is refused ---- */

/* OFFSET_COMMIT of one partition as (member, generation). */
static int
raw_commit(struct logd_client *c, const char *member, int64_t gen,
    int32_t part, int64_t off)
{
	msgpack_packer *pk;
	int r;

	r = cl_req_begin(c, LOGD_API_OFFSET_COMMIT, &pk);
	if (r < 0)
		return r;
	msgpack_pack_map(pk, 4);
	logd_pack_kv_str(pk, "group", "g");
	logd_pack_kv_int(pk, "generation", gen);
	logd_pack_kv_str(pk, "member", member);
	logd_pack_str(pk, "offsets");
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 3);
	logd_pack_kv_str(pk, "topic", "t");
	logd_pack_kv_int(pk, "partition", part);
	logd_pack_kv_int(pk, "offset", off);
	return cl_call(c, NULL, NULL, 0);
}

static int64_t
committed(struct logd_client *c, const char *group, int32_t part)
{
	struct logd_group *g = NULL;
	int64_t off = -1;
	size_t i;

	ck_assert_int_eq(logd_client_offsets_fetch(c, group, "t", &g), 0);
	for (i = 0; i < g->offset_count; i++)
		if (g->offsets[i].partition == part)
			off = g->offsets[i].offset;
	logd_group_free(g);
	return off;
}

START_TEST(test_stale_generation)
{
	static const size_t six[1] = { 6 }, three[2] = { 3, 3 };
	struct seen *s = calloc(1, sizeof(*s));
	struct mem m[2];
	struct mem *ms[2] = { &m[0], &m[1] };
	const struct logd_group_assignment *a;
	struct logd_client *c;
	char id0[256], id1[256];
	int64_t g1, g2, before;
	int32_t mine, other;
	size_t n;
	int r;

	create_topic("t");
	produce("t", 10);
	mem_open(&m[0], "g", "t", s, SESSION);
	settle(ms, 1, six, "g", 20000);
	snprintf(id0, sizeof(id0), "%s", logd_consumer_member(m[0].cs, &g1));
	pump(ms, 1, 300);
	mem_open(&m[1], "g", "t", s, SESSION);
	settle(ms, 2, three, "g", 20000);
	ck_assert_str_eq(logd_consumer_member(m[0].cs, &g2), id0);
	ck_assert_int_gt(g2, g1);
	snprintf(id1, sizeof(id1), "%s", logd_consumer_member(m[1].cs, NULL));
	a = logd_consumer_assignment(m[0].cs, &n);
	ck_assert_uint_eq(n, 1);
	mine = a[0].partitions[0];
	a = logd_consumer_assignment(m[1].cs, &n);
	other = a[0].partitions[0];

	c = connect_ok();
	before = committed(c, "g", mine);
	/* Stale generation, right member: refused, nothing written. */
	r = raw_commit(c, id0, g1, mine, 1);
	ck_assert_msg(r == LOGD_EGENERATION, "stale commit gave %s",
	    logd_strerror(r));
	ck_assert_int_eq(committed(c, "g", mine), before);
	/* Unknown member: refused. */
	ck_assert_int_eq(raw_commit(c, "nobody", g2, mine, 1), LOGD_EMEMBER);
	/* A partition the member does not own: refused. */
	ck_assert_int_eq(raw_commit(c, id0, g2, other, 1), LOGD_EMEMBER);
	/* The current generation and an owned partition: accepted. */
	ck_assert_int_eq(raw_commit(c, id0, g2, mine, 7), 0);
	ck_assert_int_eq(committed(c, "g", mine), 7);

	/*
	 * Through the API: m[1] stalls past its session; m[0] gets every
	 * partition; m[1]'s late commit is refused and changes nothing;
	 * then m[1] polls again and rejoins as a new member.
	 */
	produce("t", 10);
	{
		int64_t end = ms_now() + SESSION + 15000;

		while (!group_settled(ms, 1, six, "g")) {
			ck_assert_msg(ms_now() < end, "m[1] was not removed");
			pump(ms, 1, 50);
		}
	}
	pump(ms, 1, 500);
	before = committed(c, "g", other);
	ck_assert_int_eq(before, 20);
	ck_assert_int_eq(logd_consumer_seek(m[1].cs, "t", other, 3), 0);
	r = logd_consumer_commit(m[1].cs);
	ck_assert_msg(r == LOGD_EMEMBER || r == LOGD_EGENERATION,
	    "late commit gave %s", logd_strerror(r));
	ck_assert_int_eq(committed(c, "g", other), before);
	settle(ms, 2, three, "g", 20000);
	ck_assert_str_ne(logd_consumer_member(m[1].cs, NULL), id1);
	ck_assert_int_ge(m[1].revokes, 1);
	seen_all(s, 20, "stale");
	logd_client_close(c);
	mem_close(&m[0]);
	mem_close(&m[1]);
	free(s);
}
END_TEST

/* ---- restart logd mid-consumption: resume from the commits ---- */

START_TEST(test_restart)
{
	static const size_t three[2] = { 3, 3 };
	struct seen *s = calloc(1, sizeof(*s));
	struct mem m[2];
	struct mem *ms[2] = { &m[0], &m[1] };
	struct logd_client *c;
	int64_t commit[NPART];
	int p, k, some = 0;

	create_topic("t");
	mem_open(&m[0], "g", "t", s, SESSION);
	mem_open(&m[1], "g", "t", s, SESSION);
	settle(ms, 2, three, "g", 20000);
	produce("t", 400);
	/* Read a part of the records: a turn takes at most 500. */
	for (k = 0; k < 2; k++)
		mem_turn(ms[k], 100);
	ck_assert_int_eq(testlogd_term(&T), 0);
	ck_assert_int_eq(testlogd_restart(&T), 0);
	/* Both members find the connection gone. */
	pump(ms, 2, 300);
	ck_assert(m[0].dead && m[1].dead);
	mem_close(&m[0]);
	mem_close(&m[1]);

	c = connect_ok();
	for (p = 0; p < NPART; p++) {
		commit[p] = committed(c, "g", p);
		if (commit[p] > 0 && commit[p] < 400)
			some = 1;
	}
	ck_assert_msg(some, "no partition was left half read");
	produce("t", 100);
	mem_open(&m[0], "g", "t", s, SESSION);
	mem_open(&m[1], "g", "t", s, SESSION);
	settle(ms, 2, three, "g", 20000);
	pump(ms, 2, 1500);
	seen_all(s, 500, "restart");
	/* Each partition resumed exactly at its commit. */
	for (p = 0; p < NPART; p++) {
		int64_t f = m[0].first[p];

		if (f < 0 || (m[1].first[p] >= 0 && m[1].first[p] < f))
			f = m[1].first[p];

		if (commit[p] < 0)
			commit[p] = 0;
		ck_assert_msg(f == commit[p], "partition %d resumed at %lld, "
		    "its commit was %lld", p, (long long)f,
		    (long long)commit[p]);
	}
	logd_client_close(c);
	mem_close(&m[0]);
	mem_close(&m[1]);
	free(s);
}
END_TEST

/* ---- two groups on one topic each see every record ---- */

START_TEST(test_two_groups)
{
	static const size_t six[1] = { 6 }, three[2] = { 3, 3 };
	struct seen *sa = calloc(1, sizeof(*sa));
	struct seen *sb = calloc(1, sizeof(*sb));
	struct mem a, b1, b2;
	struct mem *ma[1] = { &a }, *mb[2] = { &b1, &b2 };
	struct mem *all[3] = { &a, &b1, &b2 };

	create_topic("t");
	produce("t", 100);
	mem_open(&a, "ga", "t", sa, SESSION);
	mem_open(&b1, "gb", "t", sb, SESSION);
	mem_open(&b2, "gb", "t", sb, SESSION);
	settle(ma, 1, six, "ga", 20000);
	settle(mb, 2, three, "gb", 20000);
	produce("t", 100);
	pump(all, 3, 1500);
	seen_all(sa, 200, "group ga");
	seen_all(sb, 200, "group gb");
	mem_close(&a);
	mem_close(&b1);
	mem_close(&b2);
	free(sa);
	free(sb);
}
END_TEST

/* ---- logtail -g: two members print a share each ---- */

/* Starts logtail with args, stdout to out; returns its pid. */
static pid_t
spawn_logtail(const char *out, const char *group)
{
	char path[600], fmt[] = "%p %o\\n";
	pid_t pid;
	int fd;

	snprintf(path, sizeof(path), "%s/tools/logtail",
	    getenv("LOGD_BUILDDIR") ? getenv("LOGD_BUILDDIR") : "..");
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(127);
		execl(path, "logtail", "-b", T.addr, "-f", "-g", group, "-F",
		    fmt, "t", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Marks the "partition offset" lines of file in s; the partitions seen
 * go to mask. */
static void
read_lines(const char *file, struct seen *s, unsigned *mask)
{
	FILE *f = fopen(file, "r");
	int p;
	long long o;

	ck_assert_ptr_nonnull(f);
	while (fscanf(f, "%d %lld", &p, &o) == 2) {
		seen_mark(s, p, o);
		*mask |= 1u << p;
	}
	fclose(f);
}

START_TEST(test_logtail_members)
{
	struct seen *s = calloc(1, sizeof(*s));
	struct logd_client *c;
	struct logd_group *g = NULL;
	char out1[300], out2[300];
	unsigned m1 = 0, m2 = 0;
	pid_t p1, p2;
	int64_t end;
	int st, split = 0, p;
	size_t i;

	create_topic("t");
	snprintf(out1, sizeof(out1), "%s/out1", T.dir);
	snprintf(out2, sizeof(out2), "%s/out2", T.dir);
	p1 = spawn_logtail(out1, "D");
	p2 = spawn_logtail(out2, "D");
	c = connect_ok();
	end = ms_now() + 30000;
	while (!split && ms_now() < end) {
		usleep(50000);
		if (logd_client_group_describe(c, "D", &g) < 0)
			continue;
		split = g->member_count == 2 && strcmp(g->state, "stable") == 0;
		for (i = 0; split && i < g->member_count; i++)
			split = g->members[i].assignment_count == 1 &&
			    g->members[i].assignment[0].partition_count == 3;
		logd_group_free(g);
		g = NULL;
	}
	ck_assert_msg(split, "the two logtails did not split the partitions");
	produce("t", 50);
	end = ms_now() + 30000;
	for (;;) {
		int64_t sum = 0;

		ck_assert_msg(ms_now() < end, "the group did not commit all");
		for (p = 0; p < NPART; p++)
			sum += committed(c, "D", p) > 0 ? committed(c, "D", p) : 0;
		if (sum == 50 * NPART)
			break;
		usleep(50000);
	}
	/* SIGTERM: commit and leave, exit 0. */
	kill(p1, SIGTERM);
	kill(p2, SIGTERM);
	ck_assert_int_eq(waitpid(p1, &st, 0), p1);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_int_eq(waitpid(p2, &st, 0), p2);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	read_lines(out1, s, &m1);
	read_lines(out2, s, &m2);
	seen_all(s, 50, "two logtails");
	ck_assert_msg(s->total == 50 * NPART, "%ld lines for %d records",
	    s->total, 50 * NPART);
	/* Each printed its own three partitions. */
	ck_assert_uint_eq(m1 & m2, 0);
	ck_assert_uint_eq(__builtin_popcount(m1), 3);
	ck_assert_uint_eq(__builtin_popcount(m2), 3);
	ck_assert_int_eq(logd_client_group_describe(c, "D", &g), 0);
	ck_assert_uint_eq(g->member_count, 0);
	logd_group_free(g);
	logd_client_close(c);
	free(s);
}
END_TEST

/* ---- API misuse ---- */

START_TEST(test_api_errors)
{
	struct logd_client *c = connect_ok();
	struct logd_consumer_options o;
	struct logd_consumer *cs = NULL;
	struct logd_group *g = NULL;
	size_t n = 5;

	create_topic("t");
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(logd_consumer_new(c, &o, &cs), 0);
	ck_assert_int_eq(logd_consumer_subscribe(cs, "t"), -EINVAL);
	logd_consumer_close(cs);
	o.group = "g";
	o.session_ms = 10;
	ck_assert_int_eq(logd_consumer_new(c, &o, &cs), -EINVAL);
	o.session_ms = 0;
	ck_assert_int_eq(logd_consumer_new(c, &o, &cs), 0);
	ck_assert_int_eq(logd_consumer_subscribe(cs, "bad/name"),
	    LOGD_EBADNAME);
	ck_assert_int_eq(logd_consumer_assign(cs, "t", 0, 0), 0);
	ck_assert_int_eq(logd_consumer_subscribe(cs, "t"), -EINVAL);
	logd_consumer_close(cs);
	ck_assert_int_eq(logd_consumer_new(c, &o, &cs), 0);
	ck_assert_int_eq(logd_consumer_subscribe(cs, "t"), 0);
	ck_assert_ptr_null(logd_consumer_member(cs, NULL));
	ck_assert_ptr_null(logd_consumer_assignment(cs, &n));
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(logd_consumer_assign(cs, "t", 0, 0), -EINVAL);
	/* Nothing owned yet: nothing to commit. */
	ck_assert_int_eq(logd_consumer_commit(cs), 0);
	logd_consumer_close(cs);
	ck_assert_int_eq(logd_client_group_describe(c, "none", &g),
	    LOGD_ENOGROUP);
	logd_client_close(c);
}
END_TEST

static Suite *
group_suite(void)
{
	Suite *s = suite_create("group");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "three_members", test_three_members },
		{ "leave", test_leave },
		{ "kill_member", test_kill_member },
		{ "stale_generation", test_stale_generation },
		{ "restart", test_restart },
		{ "two_groups", test_two_groups },
		{ "logtail_members", test_logtail_members },
		{ "api_errors", test_api_errors },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 90);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(group_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
