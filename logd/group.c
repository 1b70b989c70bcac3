/*
 * group.c - the group coordinator: consumer groups and their members, in
 * memory (committed offsets are the store's business, in LMDB).
 *
 * A group is a sorted list of members (by member id, which is also the
 * order the assignment uses), a generation and a state:
 *
 *   stable       every member has the assignment of the current
 *                generation; heartbeats get 0
 *   rebalancing  something changed (a member joined, left, expired, or
 *                changed its topics); members that have not rejoined get
 *                LOGD_EREBALANCE on their heartbeat, and every JOIN is
 *                held (parked on its connection) until each member has
 *                rejoined, or left, or the rebalance timeout (the largest
 *                session_ms of the members when it began) passed and the
 *                late ones were removed.  Then the generation goes up,
 *                the assignment is computed (per topic, partitions in
 *                order round-robin over the subscribed members by id) and
 *                every held JOIN is answered.
 *
 * A group without members is freed at once (its generation with it: no
 * member can commit into it, since member ids are never reused; the
 * boot id in every id makes them unique across restarts).
 *
 * Members are removed when silent for session_ms (a member whose JOIN is
 * held is not silent: it waits for us), on LEAVE_GROUP, when they miss a
 * rebalance, and when the connection holding their JOIN closes
 * (group_join_cancel): such a member can never learn its assignment, so
 * keeping it would only leave its partitions unread until its session
 * expires.
 *
 * This file is the state machine only: a join comes as a struct
 * group_join and is answered through its done(); the protocols encode
 * requests and replies.  A group has one kind of member: native members
 * (logd assigns, group_assign.c) or Kafka members (classic protocol: the
 * leader assigns; the rebalance chooses a protocol every member supports
 * and ends in "syncing" until the leader's SyncGroup, group_sync.c).  A
 * Kafka JoinGroup without a member id (v4+) gets LOGD_EMEMBERREQ with a
 * new id, which the next join must use (pending, for session_ms).
 *
 * One timer serves every group: it is armed for the earliest session
 * expiry or rebalance timeout.  Connection closes only mark members (the
 * close may happen while this file is sending replies); the timer,
 * started at 0 ms, removes them on the next turn.  All changes end with
 * settle(), which finishes a rebalance that has everything it waits for
 * and frees an empty group.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "group_int.h"

static struct group *groups;
static struct ev_timer timer;
static char boot_id[32];
static uint64_t member_seq;

/* How often a member heartbeats: a third of its session, but at most 3 s
   (Kafka's default): members learn of a rebalance only at their next
   heartbeat, so a long session must not slow a rebalance down. */
#define HEARTBEAT_MAX_MS 3000

static int64_t group_heartbeat_ms(int64_t session_ms)
{
	int64_t hb = session_ms / 3;

	return hb < HEARTBEAT_MAX_MS ? hb : HEARTBEAT_MAX_MS;
}

/* ------------------------------------------------------------------ */
/* Members                                                             */
/* ------------------------------------------------------------------ */

static void free_topics(char **topics, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(topics[i]);
	free(topics);
}

static char **copy_topics(const char *const *topics, size_t n)
{
	char **v = calloc(n ? n : 1, sizeof(*v));
	size_t i;

	if (!v)
		return NULL;
	for (i = 0; i < n; i++) {
		v[i] = strdup(topics[i]);
		if (!v[i]) {
			free_topics(v, i);
			return NULL;
		}
	}
	return v;
}

static void protos_free(struct kproto *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].meta);
	}
	free(v);
}

/* A copy of a Kafka join's protocols; NULL when out of memory. */
static struct kproto *protos_copy(const struct group_protocol *p, size_t n)
{
	struct kproto *v = calloc(n ? n : 1, sizeof(*v));
	size_t i;

	if (!v)
		return NULL;
	for (i = 0; i < n; i++) {
		v[i].name = strdup(p[i].name);
		v[i].meta = malloc(p[i].len ? p[i].len : 1);
		v[i].len = p[i].len;
		if (!v[i].name || !v[i].meta) {
			protos_free(v, i + 1);
			return NULL;
		}
		memcpy(v[i].meta, p[i].meta, p[i].len);
	}
	return v;
}

static void member_free(struct gmember *m)
{
	if (!m)
		return;
	assign_clear(m);
	protos_free(m->protos, m->nprotos);
	free(m->kassign);
	free_topics(m->topics, m->ntopics);
	free(m->id);
	free(m->client);
	free(m);
}

struct gmember *member_find(const struct group *g, const char *id)
{
	struct gmember *m;

	for (m = g ? g->members : NULL; m; m = m->next)
		if (!strcmp(m->id, id))
			return m;
	return NULL;
}

/* Waiting members (held join during a rebalance) do not expire. */
static int member_waiting(const struct group *g, const struct gmember *m)
{
	return g->state == G_REBALANCING && m->rejoined;
}

/* Ends a join with an error. */
static void join_fail(struct group_join *j, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void join_fail(struct group_join *j, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->msg, sizeof(j->msg), fmt, ap);
	va_end(ap);
	j->err = code;
	j->m = NULL;
	j->done(j);
}

/*
 * Answers the held join of m with an error (if any is held).  m->held is
 * cleared first: the reply may close its connection, which cancels the
 * joins it holds, and must not find this one.
 */
static void release_held(struct gmember *m, int code, const char *why)
{
	struct group_join *j = m->held;

	if (!j)
		return;
	m->held = NULL;
	join_fail(j, code, "%s", why);
}

/* Answers the held SyncGroup of m with an error (if any is held). */
void release_sync(struct gmember *m, int code, const char *why)
{
	struct group_sync *sy = m->held_sync;

	if (!sy)
		return;
	m->held_sync = NULL;
	sy->m = NULL;
	sy->err = code;
	snprintf(sy->msg, sizeof(sy->msg), "%.*s", (int)sizeof(sy->msg) - 1,
	    why);
	sy->done(sy);
}

/* Holds the JOIN j of m; a join held before is answered as replaced. */
static void hold(struct gmember *m, struct group_join *j)
{
	release_held(m, LOGD_EREBALANCE, "replaced by a newer join of the "
	    "same member");
	m->gone = 0;              /* back on another connection */
	m->held = j;
	j->m = m;
}

/* ------------------------------------------------------------------ */
/* Groups                                                              */
/* ------------------------------------------------------------------ */

struct group *group_first(void)
{
	return groups;
}

struct group *group_get(const char *name)
{
	struct group *g;

	for (g = groups; g; g = g->next) {
		int d = strcmp(g->name, name);

		if (!d)
			return g;
		if (d > 0)
			break;
	}
	return NULL;
}

static struct group *group_new(const char *name)
{
	struct group **pp = &groups, *g = calloc(1, sizeof(*g));

	if (!g || !(g->name = strdup(name))) {
		free(g);
		return NULL;
	}
	while (*pp && strcmp((*pp)->name, name) < 0)
		pp = &(*pp)->next;
	g->next = *pp;
	*pp = g;
	return g;
}

static void group_free(struct group *g)
{
	struct group **pp = &groups;
	struct gmember *m;

	while (*pp && *pp != g)
		pp = &(*pp)->next;
	if (*pp)
		*pp = g->next;
	while ((m = g->members)) {
		g->members = m->next;
		release_held(m, LOGD_ECLOSED, "the group is gone");
		release_sync(m, LOGD_ECLOSED, "the group is gone");
		member_free(m);
	}
	free(g->ptype);
	free(g->protocol);
	free(g->leader);
	free(g->name);
	free(g);
}

static void start_rebalance(struct group *g, const char *why)
{
	struct gmember *m;
	int64_t longest = 0;

	if (g->state == G_REBALANCING || !g->nmembers)
		return;
	g->state = G_REBALANCING;
	for (m = g->members; m; m = m->next) {
		int64_t t = m->rebalance_ms ? m->rebalance_ms : m->session_ms;

		m->rejoined = 0;
		release_sync(m, LOGD_EREBALANCE, why);
		if (t > longest)
			longest = t;
	}
	g->deadline = ev_now() + longest;
	log_info("group %s: rebalance of generation %" PRId64 " started: %s",
	    g->name, g->generation, why);
}

/* Unlinks and frees m; starts a rebalance for the others. */
static void remove_member(struct group *g, struct gmember *m, const char *what)
{
	struct gmember **pp = &g->members;
	char why[512];

	while (*pp != m)
		pp = &(*pp)->next;
	*pp = m->next;
	g->nmembers--;
	log_info("group %s: member %s %s (%zu remain)", g->name, m->id, what,
	    g->nmembers);
	snprintf(why, sizeof(why), "member %s %s", m->id, what);
	release_held(m, LOGD_EMEMBER, why);
	release_sync(m, LOGD_EMEMBER, why);
	if (g->leader && !strcmp(g->leader, m->id)) {
		free(g->leader);
		g->leader = NULL;
	}
	member_free(m);
	start_rebalance(g, why);
}

/* Answers j with m's assignment in g's generation. */
static void reply_join(struct group_join *j, const struct group *g,
    const struct gmember *m)
{
	j->err = 0;
	j->msg[0] = 0;
	j->member_id = m->id;
	j->generation = g->generation;
	j->heartbeat_ms = group_heartbeat_ms(m->session_ms);
	j->assign = m->assign;
	j->nassign = m->nassign;
	j->protocol = g->protocol ? g->protocol : "";
	j->leader = g->leader ? g->leader : "";
	j->members = NULL;
	j->nmembers = 0;
	j->m = NULL;
	j->done(j);
}

/* Answers the leader's join with every member's metadata. */
static void reply_leader(struct group_join *j, const struct group *g,
    const struct gmember *m)
{
	struct member_info *v = calloc(g->nmembers, sizeof(*v));
	const struct gmember *o;
	size_t n = 0;

	if (!v) {
		join_fail(j, -ENOMEM, "out of memory");
		return;
	}
	for (o = g->members; o; o = o->next) {
		const struct kproto *kp = member_proto(o, g->protocol);

		v[n].id = o->id;
		v[n].client = o->client;
		v[n].session_ms = o->session_ms;
		v[n].meta = kp ? kp->meta : NULL;
		v[n++].meta_len = kp ? kp->len : 0;
	}
	j->err = 0;
	j->msg[0] = 0;
	j->member_id = m->id;
	j->generation = g->generation;
	j->heartbeat_ms = group_heartbeat_ms(m->session_ms);
	j->assign = NULL;
	j->nassign = 0;
	j->protocol = g->protocol;
	j->leader = g->leader;
	j->members = v;
	j->nmembers = n;
	j->m = NULL;
	j->done(j);
	free(v);
}

/*
 * Kafka's rebalance ends with the protocol chosen and a leader: the
 * generation is set, SyncGroups from now on.  0 or -ENOMEM.
 */
static int complete_kafka(struct group *g)
{
	const char *p = choose_protocol(g, NULL);
	char *proto = strdup(p ? p : ""), *leader;
	struct gmember *m;

	if (!proto)
		return -ENOMEM;
	if (!g->leader || !member_find(g, g->leader)) {
		leader = strdup(g->members->id);
		if (!leader) {
			free(proto);
			return -ENOMEM;
		}
		free(g->leader);
		g->leader = leader;
	}
	free(g->protocol);
	g->protocol = proto;
	for (m = g->members; m; m = m->next) {
		free(m->kassign);
		m->kassign = NULL;
		m->kassign_len = 0;
	}
	return 0;
}

/*
 * Ends the rebalance: removes the members that did not rejoin, moves to
 * the next generation and answers every held join.
 */
static void complete(struct group *g)
{
	struct gmember *m, *next;
	int64_t now = ev_now(), longest = 0;

	for (m = g->members; m; m = next) {
		next = m->next;
		if (!m->rejoined)
			remove_member(g, m, "did not rejoin within the "
			    "rebalance timeout");
	}
	if (!g->nmembers)
		return;
	if (g->kind == GROUP_KAFKA ? complete_kafka(g) :
	    compute_assignment(g)) {
		log_error("group %s: out of memory computing the assignment: "
		    "members must join again", g->name);
		for (m = g->members; m; m = m->next) {
			release_held(m, -ENOMEM, "out of memory computing the "
			    "assignment: join again");
			m->rejoined = 0;
			if (m->session_ms > longest)
				longest = m->session_ms;
		}
		g->deadline = now + longest;
		return;
	}
	g->generation++;
	g->state = g->kind == GROUP_KAFKA ? G_SYNCING : G_STABLE;
	log_info("group %s: rebalance done, generation %" PRId64
	    " (%zu members)", g->name, g->generation, g->nmembers);
	/*
	 * A reply may fail and close its connection, whose close only marks
	 * members (group_join_cancel): the list does not change under us.
	 */
	for (m = g->members; m; m = m->next) {
		struct group_join *j = m->held;

		m->seen = now;
		if (!j)
			continue;
		m->held = NULL;
		if (g->kind == GROUP_KAFKA && !strcmp(m->id, g->leader))
			reply_leader(j, g, m);
		else
			reply_join(j, g, m);
	}
}

/*
 * Brings g up to date after a change: removes members whose join's
 * connection closed, ends a rebalance that waits for nobody, frees an
 * empty group.  g may be freed: callers do not use it after.
 */
static void settle(struct group *g)
{
	struct gmember *m, *next;
	int waiting = 0;

	for (m = g->members; m; m = next) {
		next = m->next;
		if (m->gone)
			remove_member(g, m, "closed its connection while its "
			    "join waited");
	}
	if (g->state == G_REBALANCING) {
		for (m = g->members; m; m = m->next)
			if (!m->rejoined)
				waiting = 1;
		if (!waiting && g->nmembers)
			complete(g);
	}
	if (!g->nmembers)
		group_free(g);
}

/* Arms the timer for the earliest expiry or rebalance timeout. */
static void arm(void)
{
	const struct group *g;
	const struct gmember *m;
	int64_t first = INT64_MAX, w;

	for (g = groups; g; g = g->next) {
		if (g->state == G_REBALANCING && g->deadline < first)
			first = g->deadline;
		for (m = g->members; m; m = m->next) {
			if (m->gone) {
				first = 0;
				continue;
			}
			if (member_waiting(g, m))
				continue;
			w = m->seen + m->session_ms;
			if (w < first)
				first = w;
		}
	}
	if (first == INT64_MAX) {
		ev_timer_stop(&timer);
		return;
	}
	ev_timer_start(&timer, first - ev_now());
}

static void on_timer(struct ev_timer *t)
{
	struct group *g, *gnext;
	struct gmember *m, *next;
	int64_t now = ev_now();
	char what[128];

	for (g = groups; g; g = gnext) {
		gnext = g->next;
		for (m = g->members; m; m = next) {
			next = m->next;
			if (m->gone || member_waiting(g, m) ||
			    now - m->seen < m->session_ms)
				continue;
			snprintf(what, sizeof(what), "expired (no request for "
			    "%" PRId64 " ms, session %" PRId64 " ms)",
			    now - m->seen, m->session_ms);
			remove_member(g, m, what);
		}
		if (g->state == G_REBALANCING && now >= g->deadline &&
		    g->nmembers)
			complete(g);
		settle(g);
	}
	arm();
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

static int same_topics(const struct gmember *m,
    const struct group_join *r)
{
	size_t i;

	if (m->ntopics != r->ntopics)
		return 0;
	for (i = 0; i < r->ntopics; i++)
		if (strcmp(m->topics[i], r->topics[i]))
			return 0;
	return 1;
}

/* A new member id: "<client>-<boot id>-<n>", never reused. */
static void new_member_id(const char *client, char *id, size_t size)
{
	snprintf(id, size, "%s-%s-%" PRIu64, client[0] ? client : "member",
	    boot_id, ++member_seq);
}

/* ------------------------------------------------------------------ */
/* Member ids handed out with LOGD_EMEMBERREQ (Kafka JoinGroup v4+),   */
/* waiting for the join that uses them                                 */
/* ------------------------------------------------------------------ */

#define PENDING_MAX 1024

struct pending {
	struct pending *next;
	int64_t expires;
	char id[];
};

static struct pending *pendings;
static size_t npending;

/* Takes id off the pending list: 1 when it was there and is still due. */
static int pending_take(const char *id)
{
	struct pending **pp = &pendings, *p;
	int64_t now = ev_now();
	int found = 0;

	while ((p = *pp)) {
		if (!found && !strcmp(p->id, id) && p->expires > now) {
			found = 1;
		} else if (p->expires > now) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		npending--;
		free(p);
	}
	return found;
}

static int pending_add(const char *id, int64_t session_ms)
{
	size_t len = strlen(id) + 1;
	struct pending *p;

	pending_take("");         /* drops the expired */
	if (npending >= PENDING_MAX)
		return -ENOMEM;
	p = malloc(sizeof(*p) + len);
	if (!p)
		return -ENOMEM;
	memcpy(p->id, id, len);
	p->expires = ev_now() + session_ms;
	p->next = pendings;
	pendings = p;
	npending++;
	return 0;
}

static struct gmember *member_new(const struct group_join *r, const char *id)
{
	struct gmember *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->id = strdup(id);
	m->client = strdup(r->client);
	m->topics = copy_topics(r->topics, r->ntopics);
	if (r->kind == GROUP_KAFKA) {
		m->protos = protos_copy(r->protocols, r->nprotocols);
		if (m->protos)
			m->nprotos = r->nprotocols;
	}
	if (!m->id || !m->client || !m->topics ||
	    (r->kind == GROUP_KAFKA && !m->protos)) {
		if (m->topics)
			m->ntopics = r->ntopics;
		member_free(m);
		return NULL;
	}
	m->ntopics = r->ntopics;
	m->session_ms = r->session_ms;
	m->rebalance_ms = r->kind == GROUP_KAFKA ? r->rebalance_ms : 0;
	m->seen = ev_now();
	return m;
}

static void insert_member(struct group *g, struct gmember *m)
{
	struct gmember **pp = &g->members;

	while (*pp && strcmp((*pp)->id, m->id) < 0)
		pp = &(*pp)->next;
	m->next = *pp;
	*pp = m;
	g->nmembers++;
}

/* A known member rejoins; 1 when j was answered at once. */
static int rejoin(struct group *g, struct gmember *m, struct group_join *j)
{
	char why[512];

	m->seen = ev_now();
	m->session_ms = j->session_ms;
	if (j->kind == GROUP_KAFKA) {
		struct kproto *v = protos_copy(j->protocols, j->nprotocols);

		if (!v) {
			join_fail(j, -ENOMEM, "out of memory");
			return 1;
		}
		protos_free(m->protos, m->nprotos);
		m->protos = v;
		m->nprotos = j->nprotocols;
		m->rebalance_ms = j->rebalance_ms;
		/* As Kafka does for a leader or changed metadata; its clients
		 * rejoin only to rebalance. */
		snprintf(why, sizeof(why), "member %s rejoined", m->id);
		start_rebalance(g, why);
	} else if (!same_topics(m, j)) {
		char **t = copy_topics(j->topics, j->ntopics);

		if (!t) {
			join_fail(j, -ENOMEM, "out of memory");
			return 1;
		}
		free_topics(m->topics, m->ntopics);
		m->topics = t;
		m->ntopics = j->ntopics;
		log_info("group %s: member %s changed its topics", g->name,
		    m->id);
		snprintf(why, sizeof(why), "member %s changed its topics",
		    m->id);
		start_rebalance(g, why);
	} else if (g->state == G_STABLE) {
		/* Nothing changed: the current assignment. */
		reply_join(j, g, m);
		arm();
		return 1;
	}
	return 0;
}

/* A new member; NULL when j was answered (out of memory). */
static struct gmember *add_member(struct group **gp, struct group_join *j,
    const char *id)
{
	struct group *g = *gp;
	struct gmember *m;
	char why[512];

	if (!g && !(g = *gp = group_new(j->group))) {
		join_fail(j, -ENOMEM, "out of memory");
		return NULL;
	}
	if (!g->nmembers) {
		free(g->ptype);
		g->ptype = strdup(j->protocol_type ? j->protocol_type : "");
		g->kind = j->kind;
		if (!g->ptype) {
			group_free(g);
			join_fail(j, -ENOMEM, "out of memory");
			return NULL;
		}
	}
	m = member_new(j, id);
	if (!m) {
		if (!g->nmembers)
			group_free(g);
		join_fail(j, -ENOMEM, "out of memory");
		return NULL;
	}
	insert_member(g, m);
	log_info("group %s: member %s joined (%s, session %" PRId64 " ms, %zu "
	    "topics)", g->name, m->id, j->peer ? j->peer : "?",
	    m->session_ms, m->ntopics);
	snprintf(why, sizeof(why), "member %s joined", m->id);
	start_rebalance(g, why);
	return m;
}

/* Refuses a join that does not fit the group: 1 when j was answered. */
static int misfit(const struct group *g, struct group_join *j)
{
	struct gmember probe = { 0 };
	struct kproto kp[64];
	size_t i;

	if (!g || !g->nmembers)
		return 0;
	if (g->kind != j->kind) {
		join_fail(j, LOGD_EINCONSISTENT, "group \"%s\" is in use by %s",
		    j->group, g->kind == GROUP_KAFKA ? "Kafka clients" :
		    "logd's own consumers");
		return 1;
	}
	if (j->kind != GROUP_KAFKA)
		return 0;
	if (strcmp(g->ptype, j->protocol_type)) {
		join_fail(j, LOGD_EINCONSISTENT, "group \"%s\" has protocol "
		    "type \"%s\", not \"%s\"", j->group, g->ptype,
		    j->protocol_type);
		return 1;
	}
	probe.id = (char *)j->member;
	probe.nprotos = j->nprotocols < 64 ? j->nprotocols : 64;
	probe.protos = kp;
	for (i = 0; i < probe.nprotos; i++)
		kp[i].name = (char *)j->protocols[i].name;
	if (!choose_protocol(g, &probe)) {
		join_fail(j, LOGD_EINCONSISTENT, "group \"%s\": no protocol "
		    "(assignor) is supported by every member", j->group);
		return 1;
	}
	return 0;
}

void group_join(struct group_join *j)
{
	struct group *g = group_get(j->group);
	struct gmember *m;
	char id[512];

	j->m = NULL;
	j->member_id = NULL;
	if (srv.stopping) {
		join_fail(j, LOGD_ECLOSED, "logd is shutting down");
		return;
	}
	if (j->kind == GROUP_KAFKA && j->nprotocols == 0) {
		join_fail(j, LOGD_EINCONSISTENT, "a join must name at least "
		    "one protocol");
		return;
	}
	if (misfit(g, j))
		return;
	if (!j->member[0] && j->require_member_id) {
		new_member_id(j->client, id, sizeof(id));
		if (pending_add(id, j->session_ms)) {
			join_fail(j, -ENOMEM, "too many joins waiting");
			return;
		}
		j->member_id = id;
		join_fail(j, LOGD_EMEMBERREQ, "member id required: join again "
		    "as \"%s\"", id);
		return;
	}
	if (j->member[0] && !member_find(g, j->member) &&
	    pending_take(j->member)) {
		if (!(m = add_member(&g, j, j->member)))
			return;
	} else if (j->member[0]) {
		m = member_find(g, j->member);
		if (!m) {
			join_fail(j, LOGD_EMEMBER, "group \"%s\" has no member "
			    "\"%s\" (session expired, left, or logd restarted)"
			    ": join with member \"\"", j->group, j->member);
			return;
		}
		if (rejoin(g, m, j))
			return;
	} else {
		new_member_id(j->client, id, sizeof(id));
		if (!(m = add_member(&g, j, id)))
			return;
	}
	m->rejoined = 1;
	hold(m, j);
	settle(g);
	arm();
}

void group_join_cancel(struct group_join *j)
{
	struct gmember *m = j->m;

	if (!m || m->held != j)
		return;
	m->held = NULL;
	m->gone = 1;
	j->m = NULL;
	ev_timer_start(&timer, 0);
}

int group_heartbeat(const char *group, const char *member,
    int64_t generation, char *err, size_t errsz)
{
	struct group *g = group_get(group);
	struct gmember *m = member_find(g, member);

	if (!m) {
		snprintf(err, errsz, "group \"%s\" has no member \"%s\" "
		    "(session expired, left, or logd restarted): join with "
		    "member \"\"", group, member);
		return LOGD_EMEMBER;
	}
	m->seen = ev_now();
	if (g->state == G_REBALANCING) {
		if (m->rejoined)
			return 0;
		snprintf(err, errsz, "group \"%s\" is rebalancing: commit, "
		    "then join again as \"%s\"", group, member);
		return LOGD_EREBALANCE;
	}
	if (generation != g->generation) {
		snprintf(err, errsz, "generation %" PRId64 " is not the "
		    "current one (%" PRId64 "): join again", generation,
		    g->generation);
		return LOGD_EGENERATION;
	}
	return 0;
}

int group_leave(const char *group, const char *member, char *err,
    size_t errsz)
{
	struct group *g = group_get(group);
	struct gmember *m = member_find(g, member);

	if (!m) {
		snprintf(err, errsz, "group \"%s\" has no member \"%s\"",
		    group, member);
		return LOGD_EMEMBER;
	}
	remove_member(g, m, "left");
	settle(g);
	arm();
	return 0;
}

int group_commit_check(const char *group, int64_t generation,
    const char *member, const struct logd_offset_commit *oc, size_t n,
    char *err, size_t errsz)
{
	struct group *g = group_get(group);
	struct gmember *m;
	size_t i;

	if (generation == -1) {
		if (!g)
			return 0;
		snprintf(err, errsz, "group \"%s\" has %zu members: commit as "
		    "a member, with its generation", group, g->nmembers);
		return LOGD_EGENERATION;
	}
	m = member_find(g, member);
	if (!m) {
		snprintf(err, errsz, "group \"%s\" has no member \"%s\"",
		    group, member);
		return LOGD_EMEMBER;
	}
	m->seen = ev_now();
	if (generation != g->generation) {
		snprintf(err, errsz, "generation %" PRId64 " is not the "
		    "current one (%" PRId64 ") of group \"%s\"", generation,
		    g->generation, group);
		return LOGD_EGENERATION;
	}
	/* Kafka members are assigned by their leader: logd cannot check. */
	for (i = 0; g->kind == GROUP_NATIVE && i < n; i++)
		if (!member_owns(m, oc[i].topic, oc[i].partition)) {
			snprintf(err, errsz, "%s-%d is not assigned to member "
			    "\"%s\" in generation %" PRId64, oc[i].topic,
			    oc[i].partition, member, generation);
			return LOGD_EMEMBER;
		}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Listing, life cycle                                                 */
/* ------------------------------------------------------------------ */

void group_shutdown(void)
{
	struct group *g;
	struct gmember *m;

	for (g = groups; g; g = g->next)
		for (m = g->members; m; m = m->next) {
			release_held(m, LOGD_ECLOSED, "logd is shutting "
			    "down: join again once it is back");
			release_sync(m, LOGD_ECLOSED, "logd is shutting "
			    "down");
		}
}

void group_init(void)
{
	timer.fn = on_timer;
	snprintf(boot_id, sizeof(boot_id), "%" PRIx64 "%04x",
	    (uint64_t)ev_wall(), (unsigned)getpid() & 0xffff);
}

void group_free_all(void)
{
	ev_timer_stop(&timer);
	while (groups)
		group_free(groups);
	while (pendings) {
		struct pending *p = pendings;

		pendings = p->next;
		free(p);
	}
	npending = 0;
}
