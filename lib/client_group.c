/*
 * client_group.c - the member side of a consumer group: JOIN_GROUP,
 * HEARTBEAT, LEAVE_GROUP and commits fenced by the generation
 * (lib/proto.h has the protocol).
 *
 * Design.  Nothing runs in the background: the member is a small state
 * machine that logd_consumer_poll() drives by calling cs_member_step()
 * before it reads, and whose requests are asynchronous.  The broker
 * holds a JOIN reply until its rebalance is done (which can take up to
 * the largest session timeout in the group), so a JOIN is sent once and
 * poll keeps returning 0 while it waits; its reply handler only stores
 * the result, and the next step adopts it: it fetches the group's
 * committed offsets, assigns the partitions (where there is no commit,
 * at opts.start_offset) and calls on_assign.  Reply handlers never make
 * synchronous calls; steps may.
 *
 * Heartbeats go out every heartbeat_ms (from the JOIN reply) from poll
 * and commit; poll shortens its wait so that it wakes up for them.  A
 * heartbeat (or commit) answered with LOGD_EREBALANCE, LOGD_EMEMBER or
 * LOGD_EGENERATION marks the member for a rejoin, which the next step
 * does: on_revoke, then (for a rebalance only: the partitions are still
 * ours in this generation) a commit of the positions with the current
 * generation, then every partition with its fetched data and FETCH in
 * flight is dropped, and a JOIN goes out, with the same member id, or
 * with "" when the broker no longer knows it.  Close calls on_revoke and
 * sends LEAVE_GROUP so the others get the partitions at once instead of
 * after the session timeout.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "consumer_int.h"

#define CS_DEFAULT_SESSION 10000
/* A JOIN is held for at most the largest session timeout in the group. */
#define CS_JOIN_EXTRA_MS 300000

struct cs_member {
	char **topics;
	size_t ntopics;
	int session_ms;
	char *id;                 /* "" until the broker named us */
	int64_t generation;
	int heartbeat_ms;
	int joined;               /* the assignment below is ours */
	struct logd_group_assignment *assign;
	size_t nassign;
	int rejoin;               /* 0, or the code that asks for a rejoin */

	/* The JOIN in flight and its result, adopted by the next step. */
	int join_sent;
	int join_done;
	int join_err;
	char *join_id;
	int64_t join_gen;
	int join_hb;
	struct logd_group_assignment *join_assign;
	size_t join_nassign;
	int join_tag;             /* address is the JOIN's request arg */

	int hb_inflight;
	int hb_tag;               /* address is the HEARTBEAT's arg */
	int64_t next_hb;
	struct logd_group_assignment none; /* returned for "joined, owns
	                                      nothing" */
};

static void
cs_assignment_free(struct logd_group_assignment *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free((char *)a[i].topic);
		free(a[i].partitions);
	}
	free(a);
}

/* ---- JOIN_GROUP ---- */

/* Parses [{topic, partitions:[int]}] into a malloc'd assignment. */
static int
cs_assignment_parse(struct logd_msg *m, const msgpack_object_array *arr,
    struct logd_group_assignment **out, size_t *n)
{
	struct logd_group_assignment *a = NULL;
	size_t k = 0;
	uint32_t i, j;
	int r = 0;

	if (arr != NULL && arr->size > 0 &&
	    (a = calloc(arr->size, sizeof(*a))) == NULL)
		return -ENOMEM;
	for (i = 0; arr != NULL && i < arr->size; i++) {
		const msgpack_object_array *pa = NULL;
		const char *t;
		size_t tl;

		if ((r = logd_proto_str(m, &arr->ptr[i], "topic", &t,
		    &tl)) < 0 ||
		    (r = logd_proto_array(m, &arr->ptr[i], "partitions",
		    &pa)) < 0)
			goto fail;
		a[k].topic = strndup(t, tl);
		if (a[k].topic == NULL)
			goto nomem;
		k++;
		if (pa->size > 0 && (a[k - 1].partitions = calloc(pa->size,
		    sizeof(int32_t))) == NULL)
			goto nomem;
		for (j = 0; j < pa->size; j++) {
			const msgpack_object *o = &pa->ptr[j];

			if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
			    o->via.u64 > INT32_MAX) {
				snprintf(m->err, sizeof(m->err), "bad "
				    "partition in assignment");
				r = LOGD_EPROTO;
				goto fail;
			}
			a[k - 1].partitions[j] = (int32_t)o->via.u64;
			a[k - 1].partition_count++;
		}
	}
	*out = a;
	*n = k;
	return 0;
nomem:
	r = -ENOMEM;
fail:
	cs_assignment_free(a, k);
	return r;
}

static void
cs_join_done(struct logd_client *c, void *arg, int err, struct logd_msg *m,
    struct cl_frame *f)
{
	struct cs_member *mb = (struct cs_member *)((char *)arg -
	    offsetof(struct cs_member, join_tag));
	const msgpack_object_array *arr = NULL;
	const char *id;
	size_t idl;
	int64_t gen, hb;
	int r;

	(void)f;
	mb->join_done = 1;
	mb->join_err = err;
	if (err != 0)
		return;
	if ((r = logd_proto_str(m, NULL, "member", &id, &idl)) < 0 ||
	    (r = logd_proto_int(m, NULL, "generation", &gen)) < 0 ||
	    (r = logd_proto_int_opt(m, NULL, "heartbeat_ms",
	    mb->session_ms / 3, &hb)) < 0 ||
	    (r = logd_proto_array_opt(m, NULL, "assignment", &arr)) < 0 ||
	    (r = cs_assignment_parse(m, arr, &mb->join_assign,
	    &mb->join_nassign)) < 0) {
		mb->join_err = cl_seterr(c, r == -ENOMEM ? r : LOGD_EPROTO,
		    "bad join reply: %s", m->err);
		return;
	}
	mb->join_id = strndup(id, idl);
	if (mb->join_id == NULL) {
		cs_assignment_free(mb->join_assign, mb->join_nassign);
		mb->join_assign = NULL;
		mb->join_nassign = 0;
		mb->join_err = -ENOMEM;
		return;
	}
	if (hb < 1)
		hb = 1;
	if (hb > mb->session_ms)
		hb = mb->session_ms;
	mb->join_gen = gen;
	mb->join_hb = (int)hb;
}

static int
cs_join_send(struct logd_consumer *cs)
{
	struct cs_member *mb = cs->member;
	msgpack_packer *pk;
	size_t i;
	int r;

	r = cl_req_begin(cs->c, LOGD_API_JOIN_GROUP, &pk);
	if (r < 0)
		return r;
	msgpack_pack_map(pk, 5);
	logd_pack_kv_str(pk, "group", cs->group);
	logd_pack_kv_str(pk, "member", mb->id);
	logd_pack_kv_str(pk, "client", cl_client_id(cs->c));
	logd_pack_str(pk, "topics");
	msgpack_pack_array(pk, mb->ntopics);
	for (i = 0; i < mb->ntopics; i++)
		logd_pack_str(pk, mb->topics[i]);
	logd_pack_kv_int(pk, "session_ms", mb->session_ms);
	r = cl_req_end(cs->c, cs_join_done, &mb->join_tag, CS_JOIN_EXTRA_MS);
	if (r < 0)
		return r;
	mb->join_sent = 1;
	mb->join_done = 0;
	return 0;
}

/* ---- HEARTBEAT ---- */

static int
cs_rejoin_code(int err)
{
	return err == LOGD_EREBALANCE || err == LOGD_EMEMBER ||
	    err == LOGD_EGENERATION;
}

static void
cs_hb_done(struct logd_client *c, void *arg, int err, struct logd_msg *m,
    struct cl_frame *f)
{
	struct cs_member *mb = (struct cs_member *)((char *)arg -
	    offsetof(struct cs_member, hb_tag));

	(void)c;
	(void)m;
	(void)f;
	mb->hb_inflight = 0;
	/* A lost heartbeat is not fatal: the next one goes out on time. */
	if (cs_rejoin_code(err) && mb->joined && mb->rejoin == 0)
		mb->rejoin = err;
}

void
cs_member_heartbeat(struct logd_consumer *cs)
{
	struct cs_member *mb = cs->member;
	msgpack_packer *pk;
	int64_t now;

	if (mb == NULL || !mb->joined || mb->hb_inflight || mb->rejoin)
		return;
	now = cl_now_ms();
	if (now < mb->next_hb)
		return;
	if (cl_req_begin(cs->c, LOGD_API_HEARTBEAT, &pk) < 0)
		return;
	msgpack_pack_map(pk, 3);
	logd_pack_kv_str(pk, "group", cs->group);
	logd_pack_kv_str(pk, "member", mb->id);
	logd_pack_kv_int(pk, "generation", mb->generation);
	if (cl_req_end(cs->c, cs_hb_done, &mb->hb_tag, 0) == 0)
		mb->hb_inflight = 1;
	mb->next_hb = now + mb->heartbeat_ms;
}

/* ---- commits ---- */

int
cs_member_commit(struct logd_consumer *cs)
{
	int r = cs_member_commit_begin(cs);

	if (r <= 0)
		return r;
	r = cl_call(cs->c, NULL, NULL, 0);
	cs_member_commit_seen(cs, r);
	return r;
}

void
cs_member_commit_seen(struct logd_consumer *cs, int err)
{
	struct cs_member *mb = cs->member;

	if (mb != NULL && cs_rejoin_code(err) && mb->rejoin == 0)
		mb->rejoin = err;
}

int
cs_member_commit_begin(struct logd_consumer *cs)
{
	struct cs_member *mb = cs->member;
	msgpack_packer *pk;
	size_t i;
	int r;

	if (!mb->joined || cs->nparts == 0)
		return 0;
	r = cl_req_begin(cs->c, LOGD_API_OFFSET_COMMIT, &pk);
	if (r < 0)
		return r;
	msgpack_pack_map(pk, 4);
	logd_pack_kv_str(pk, "group", cs->group);
	logd_pack_kv_int(pk, "generation", mb->generation);
	logd_pack_kv_str(pk, "member", mb->id);
	logd_pack_str(pk, "offsets");
	msgpack_pack_array(pk, cs->nparts);
	for (i = 0; i < cs->nparts; i++) {
		msgpack_pack_map(pk, 3);
		logd_pack_kv_str(pk, "topic", cs->parts[i]->topic);
		logd_pack_kv_int(pk, "partition", cs->parts[i]->partition);
		logd_pack_kv_int(pk, "offset", cs->parts[i]->position);
	}
	return 1;
}

/* ---- following the group ---- */

/*
 * Gives the partitions up: on_revoke, a commit when they are still ours
 * (a rebalance), then they are dropped.  Returns a connection error of
 * the commit, else 0 (a refused commit only means they were not ours).
 */
static int
cs_revoke(struct logd_consumer *cs, int commit)
{
	struct cs_member *mb = cs->member;
	int r = 0;

	cl_cancel(cs->c, &mb->hb_tag);
	mb->hb_inflight = 0;
	if (mb->joined && mb->nassign > 0 && cs->opts.on_revoke != NULL)
		cs->opts.on_revoke(cs->opts.cb_arg, mb->assign, mb->nassign);
	if (commit && mb->joined) {
		r = cs_member_commit(cs);
		if (r < 0 && cl_broken(cs->c) == 0)
			r = 0;
		/* Refused: we are rejoining anyway, as a new member if the
		 * broker forgot us. */
		if (mb->rejoin == LOGD_EMEMBER)
			mb->id[0] = '\0';
		mb->rejoin = 0;
	}
	cs_unassign_all(cs);
	cs_assignment_free(mb->assign, mb->nassign);
	mb->assign = NULL;
	mb->nassign = 0;
	mb->joined = 0;
	return r;
}

static int64_t
cs_committed(const struct logd_group *g, const char *topic, int32_t part)
{
	size_t i;

	for (i = 0; g != NULL && i < g->offset_count; i++)
		if (g->offsets[i].partition == part &&
		    strcmp(g->offsets[i].topic, topic) == 0)
			return g->offsets[i].offset;
	return -1;
}

/* Takes the JOIN's result: the new generation and its partitions. */
static int
cs_adopt(struct logd_consumer *cs)
{
	struct cs_member *mb = cs->member;
	struct logd_group *g = NULL;
	int64_t start, off;
	size_t i, j;
	int r;

	free(mb->id);
	mb->id = mb->join_id;
	mb->join_id = NULL;
	mb->generation = mb->join_gen;
	mb->heartbeat_ms = mb->join_hb;
	mb->assign = mb->join_assign;
	mb->nassign = mb->join_nassign;
	mb->join_assign = NULL;
	mb->join_nassign = 0;
	mb->joined = 1;
	mb->rejoin = 0;
	mb->next_hb = cl_now_ms() + mb->heartbeat_ms;
	if (mb->nassign == 0)
		return 0;
	r = logd_client_offsets_fetch(cs->c, cs->group, NULL, &g);
	if (r < 0)
		goto fail;
	start = cs->opts.start_offset ? cs->opts.start_offset :
	    LOGD_OFFSET_EARLIEST;
	for (i = 0; i < mb->nassign; i++) {
		const struct logd_group_assignment *a = &mb->assign[i];

		for (j = 0; j < a->partition_count; j++) {
			off = cs_committed(g, a->topic, a->partitions[j]);
			r = cs_assign_one(cs, a->topic, a->partitions[j],
			    off >= 0 ? off : start);
			if (r < 0)
				goto fail;
		}
	}
	logd_group_free(g);
	if (cs->opts.on_assign != NULL)
		cs->opts.on_assign(cs->opts.cb_arg, mb->assign, mb->nassign);
	return 0;
fail:
	/* Leave the generation: a rejoin starts over. */
	logd_group_free(g);
	cs_unassign_all(cs);
	cs_assignment_free(mb->assign, mb->nassign);
	mb->assign = NULL;
	mb->nassign = 0;
	mb->joined = 0;
	return r;
}

int
cs_member_step(struct logd_consumer *cs, int *wait_ms)
{
	struct cs_member *mb = cs->member;
	int r, why;

	*wait_ms = -1;
	if (mb->rejoin != 0) {
		why = mb->rejoin;
		mb->rejoin = 0;
		r = cs_revoke(cs, why == LOGD_EREBALANCE);
		if (why == LOGD_EMEMBER)
			mb->id[0] = '\0';
		if (r < 0)
			return r;
	}
	if (mb->join_sent && mb->join_done) {
		mb->join_sent = 0;
		mb->join_done = 0;
		r = mb->join_err;
		if (r == 0) {
			r = cs_adopt(cs);
			if (r < 0)
				return r;
		} else if (r == LOGD_EMEMBER) {
			mb->id[0] = '\0';
		} else if (r != LOGD_ETIMEDOUT && r != LOGD_EREBALANCE &&
		    r != LOGD_EGENERATION) {
			/* Told to the caller; the next poll tries again. */
			return r;
		}
	}
	if (!mb->joined && !mb->join_sent) {
		r = cs_join_send(cs);
		if (r < 0)
			return r;
	}
	if (mb->joined) {
		int64_t d;

		cs_member_heartbeat(cs);
		d = mb->next_hb - cl_now_ms();
		/* A heartbeat still unanswered when the next is due: its
		 * reply (or timeout) wakes poll up. */
		if (d <= 0 && mb->hb_inflight)
			d = -1;
		*wait_ms = d < 0 ? -1 : (int)d;
	}
	return 0;
}

int
cs_member_joined(const struct logd_consumer *cs)
{
	return cs->member != NULL && cs->member->joined;
}

void
cs_member_close(struct logd_consumer *cs)
{
	struct cs_member *mb = cs->member;
	msgpack_packer *pk;
	size_t i;

	if (mb == NULL)
		return;
	cl_cancel(cs->c, &mb->join_tag);
	if (mb->joined)
		cs_revoke(cs, 0);
	cl_cancel(cs->c, &mb->hb_tag);
	/* A JOIN in flight with our id may still make us a member. */
	if (mb->id[0] != '\0' && cl_broken(cs->c) == 0 &&
	    cl_req_begin(cs->c, LOGD_API_LEAVE_GROUP, &pk) == 0) {
		msgpack_pack_map(pk, 2);
		logd_pack_kv_str(pk, "group", cs->group);
		logd_pack_kv_str(pk, "member", mb->id);
		cl_call(cs->c, NULL, NULL, 0);
	}
	for (i = 0; i < mb->ntopics; i++)
		free(mb->topics[i]);
	free(mb->topics);
	free(mb->id);
	free(mb->join_id);
	cs_assignment_free(mb->assign, mb->nassign);
	cs_assignment_free(mb->join_assign, mb->join_nassign);
	free(mb);
	cs->member = NULL;
}

/* ---- the public calls ---- */

int
logd_consumer_subscribe(struct logd_consumer *cs, const char *topic)
{
	struct cs_member *mb = cs->member;
	char **v;
	size_t i;
	int r;

	if (cs->group == NULL)
		return cl_seterr(cs->c, -EINVAL, "subscribe needs a consumer "
		    "group");
	if (mb == NULL && cs->nparts > 0)
		return cl_seterr(cs->c, -EINVAL, "the consumer has assigned "
		    "partitions: subscribe and assign do not mix");
	if (topic == NULL)
		return cl_seterr(cs->c, -EINVAL, "topic is NULL");
	if ((r = logd_topic_name_check(topic)) < 0)
		return cl_seterr(cs->c, r, "bad topic name \"%s\"", topic);
	if (mb == NULL) {
		mb = calloc(1, sizeof(*mb));
		if (mb == NULL || (mb->id = strdup("")) == NULL) {
			free(mb);
			return -ENOMEM;
		}
		mb->session_ms = cs->opts.session_ms ? cs->opts.session_ms :
		    CS_DEFAULT_SESSION;
		mb->generation = 0;
		cs->member = mb;
	}
	for (i = 0; i < mb->ntopics; i++)
		if (strcmp(mb->topics[i], topic) == 0)
			return 0;
	v = realloc(mb->topics, (mb->ntopics + 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	mb->topics = v;
	if ((v[mb->ntopics] = strdup(topic)) == NULL)
		return -ENOMEM;
	mb->ntopics++;
	/* Joined already: join again with the new topic list. */
	if (mb->joined && mb->rejoin == 0)
		mb->rejoin = LOGD_EREBALANCE;
	return 0;
}

const char *
logd_consumer_member(const struct logd_consumer *cs, int64_t *generation)
{
	const struct cs_member *mb = cs->member;

	if (mb == NULL || mb->id[0] == '\0') {
		if (generation != NULL)
			*generation = 0;
		return NULL;
	}
	if (generation != NULL)
		*generation = mb->generation;
	return mb->id;
}

const struct logd_group_assignment *
logd_consumer_assignment(const struct logd_consumer *cs, size_t *n)
{
	const struct cs_member *mb = cs->member;

	if (mb == NULL || !mb->joined) {
		*n = 0;
		return NULL;
	}
	*n = mb->nassign;
	return mb->nassign > 0 ? mb->assign : &mb->none;
}
