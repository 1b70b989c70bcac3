/*
 * kafka_group.c - Kafka's group requests: FindCoordinator, JoinGroup,
 * SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
 * DescribeGroups, ListGroups.  logd is every group's coordinator; the
 * classic protocol runs on the coordinator's state machine (group.c),
 * whose groups hold either native or Kafka members, and the offsets live
 * in the same LMDB store as native groups', so logctl shows both.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

#define NODE_ID 0
#define GROUP_SIZE (LOGD_GROUP_NAME_MAX + 1)
#define MEMBER_SIZE 256
#define SESSION_MIN 1000
#define SESSION_MAX 1800000
#define METADATA_MAX 4096    /* Kafka's offset.metadata.max.bytes */

/* ------------------------------------------------------------------ */
/* FindCoordinator                                                     */
/* ------------------------------------------------------------------ */

void kafka_find_coordinator(struct kreq *q)
{
	struct obuf *b = &q->c->out;
	char key[GROUP_SIZE], host[256];
	int8_t type = 0;
	int32_t port;
	int16_t e = 0;
	size_t start;

	kr_cstr(&q->r, key, sizeof(key));
	if (q->version >= 1)
		type = kr_i8(&q->r);
	if (q->r.err)
		return;
	if (type != 0)
		e = KERR_COORDINATOR_NOT_AVAILABLE;   /* no transactions */
	kafka_advertised(host, sizeof(host), &port);
	start = kafka_begin(q);
	if (q->version >= 1)
		kw_i32(b, 0);             /* throttle */
	kw_i16(b, e);
	if (q->version >= 1)
		kw_str(b, e ? "logd has no transaction coordinator" : NULL);
	kw_i32(b, e ? -1 : NODE_ID);
	kw_str(b, e ? "" : host);
	kw_i32(b, e ? -1 : port);
	kafka_end(q->c, start);
}

/* ------------------------------------------------------------------ */
/* JoinGroup                                                           */
/* ------------------------------------------------------------------ */

struct kjoin {
	struct rwait w;
	struct group_join j;
	char group[GROUP_SIZE], member[MEMBER_SIZE], ptype[256];
	char client[256];
	struct group_protocol *protos;
	char (*pnames)[256];
	void *metas;               /* the protocols' metadata, copied */
	int16_t kerr;              /* refused before the coordinator */
};

static void kjoin_free(struct kjoin *k)
{
	free(k->protos);
	free(k->pnames);
	free(k->metas);
	free(k);
}

static void join_reply(struct kjoin *k)
{
	const struct group_join *j = &k->j;
	struct obuf *b = &k->w.c->out;
	size_t start = kafka_begin_wait(&k->w), i;
	int16_t v = k->w.version;
	int16_t e = k->kerr ? k->kerr : kafka_error(j->err);

	if (v >= 2)
		kw_i32(b, 0);             /* throttle */
	kw_i16(b, e);
	kw_i32(b, e ? -1 : (int32_t)j->generation);
	kw_str(b, e ? "" : j->protocol);
	kw_str(b, e ? "" : j->leader);
	kw_str(b, !k->kerr && j->member_id ? j->member_id : k->member);
	kw_i32(b, e ? 0 : (int32_t)j->nmembers);
	for (i = 0; !e && i < j->nmembers; i++) {
		kw_str(b, j->members[i].id);
		if (v >= 5)
			kw_str(b, NULL);  /* group instance id */
		kw_bytes(b, j->members[i].meta ? j->members[i].meta : "",
		    j->members[i].meta_len);
	}
	kafka_end(k->w.c, start);
}

static void join_done(struct group_join *j)
{
	struct kjoin *k = j->arg;

	if (j->err && j->err != LOGD_EMEMBERREQ)
		log_debug("kafka join of group %s: %s", k->group, j->msg);
	if (conn_wait_answering(&k->w))
		join_reply(k);
	if (!k->w.in_call)
		kjoin_free(k);
}

static void join_drop(struct parked *p)
{
	struct kjoin *k = (struct kjoin *)(void *)p;

	group_join_cancel(&k->j);
	kjoin_free(k);
}

/* Reads the protocols, copying their metadata. */
static int join_protocols(struct kreader *r, struct kjoin *k)
{
	struct kreader save;
	int32_t n = kr_array(r, 6), i;
	size_t total = 0, len, off = 0;
	const uint8_t *m;

	save = *r;
	for (i = 0; i < n && !r->err; i++) {
		kr_str(r, &len);
		kr_bytes(r, &len);
		total += len;
	}
	if (r->err || n <= 0)
		return r->err;
	k->protos = calloc((size_t)n, sizeof(*k->protos));
	k->pnames = calloc((size_t)n, sizeof(*k->pnames));
	k->metas = malloc(total ? total : 1);
	if (!k->protos || !k->pnames || !k->metas)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		kr_cstr(&save, k->pnames[i], sizeof(k->pnames[i]));
		m = kr_bytes(&save, &len);
		memcpy((char *)k->metas + off, m ? m : (const uint8_t *)"",
		    len);
		k->protos[i].name = k->pnames[i];
		k->protos[i].meta = (char *)k->metas + off;
		k->protos[i].len = len;
		off += len;
	}
	k->j.protocols = k->protos;
	k->j.nprotocols = (size_t)n;
	return save.err;
}

static int join_decode(struct kreq *q, struct kjoin *k)
{
	struct kreader *r = &q->r;
	char instance[256];
	int32_t session, rebalance;

	kr_cstr(r, k->group, sizeof(k->group));
	session = kr_i32(r);
	rebalance = q->version >= 1 ? kr_i32(r) : session;
	kr_cstr(r, k->member, sizeof(k->member));
	if (q->version >= 5)
		kr_cstr(r, instance, sizeof(instance));
	kr_cstr(r, k->ptype, sizeof(k->ptype));
	if (r->err)
		return r->err;
	k->j.session_ms = session;
	k->j.rebalance_ms = rebalance > 0 ? rebalance : session;
	return join_protocols(r, k);
}

void kafka_join_group(struct kreq *q)
{
	struct kjoin *k = calloc(1, sizeof(*k));
	int rc;

	if (!k) {
		q->r.err = -ENOMEM;
		return;
	}
	rc = join_decode(q, k);
	if (rc) {
		if (!q->r.err)
			q->r.err = rc;
		kjoin_free(k);
		return;
	}
	kafka_wait_init(&k->w, q);
	snprintf(k->client, sizeof(k->client), "%s", q->client_id);
	k->j.kind = GROUP_KAFKA;
	k->j.group = k->group;
	k->j.member = k->member;
	k->j.client = k->client;
	k->j.peer = q->c->peer;
	k->j.protocol_type = k->ptype;
	k->j.require_member_id = q->version >= 4;
	k->j.done = join_done;
	k->j.arg = k;
	k->w.in_call = 1;
	if (!k->group[0] || logd_group_name_check(k->group))
		k->kerr = KERR_INVALID_GROUP_ID;
	else if (k->j.session_ms < SESSION_MIN ||
	    k->j.session_ms > SESSION_MAX)
		k->kerr = KERR_INVALID_SESSION_TIMEOUT;
	if (k->kerr) {
		k->w.answered = 1;
		join_reply(k);
	} else {
		group_join(&k->j);
	}
	if (conn_wait_after(&k->w, join_drop))
		kjoin_free(k);
}

/* ------------------------------------------------------------------ */
/* SyncGroup                                                           */
/* ------------------------------------------------------------------ */

struct ksync {
	struct rwait w;
	struct group_sync s;
	char group[GROUP_SIZE], member[MEMBER_SIZE];
	struct group_sync_assign *assign;
	char (*ids)[MEMBER_SIZE];
	void *data;
};

static void ksync_free(struct ksync *k)
{
	free(k->assign);
	free(k->ids);
	free(k->data);
	free(k);
}

static void sync_done(struct group_sync *s)
{
	struct ksync *k = s->arg;
	struct obuf *b;
	size_t start;

	if (conn_wait_answering(&k->w)) {
		b = &k->w.c->out;
		start = kafka_begin_wait(&k->w);
		if (k->w.version >= 1)
			kw_i32(b, 0);     /* throttle */
		kw_i16(b, kafka_error(s->err));
		kw_bytes(b, !s->err && s->data ? s->data : "",
		    s->err ? 0 : s->len);
		kafka_end(k->w.c, start);
	}
	if (!k->w.in_call)
		ksync_free(k);
}

static void sync_drop(struct parked *p)
{
	struct ksync *k = (struct ksync *)(void *)p;

	group_sync_cancel(&k->s);
	ksync_free(k);
}

static int sync_decode(struct kreq *q, struct ksync *k)
{
	struct kreader *r = &q->r, save;
	char instance[256];
	int32_t n, i;
	size_t len, total = 0, off = 0;
	const uint8_t *d;

	kr_cstr(r, k->group, sizeof(k->group));
	k->s.generation = kr_i32(r);
	kr_cstr(r, k->member, sizeof(k->member));
	if (q->version >= 3)
		kr_cstr(r, instance, sizeof(instance));
	n = kr_array(r, 6);
	save = *r;
	for (i = 0; i < n && !r->err; i++) {
		kr_str(r, &len);
		kr_bytes(r, &len);
		total += len;
	}
	if (r->err || n <= 0)
		return r->err;
	k->assign = calloc((size_t)n, sizeof(*k->assign));
	k->ids = calloc((size_t)n, sizeof(*k->ids));
	k->data = malloc(total ? total : 1);
	if (!k->assign || !k->ids || !k->data)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		kr_cstr(&save, k->ids[i], sizeof(k->ids[i]));
		d = kr_bytes(&save, &len);
		memcpy((char *)k->data + off, d ? d : (const uint8_t *)"", len);
		k->assign[i].member = k->ids[i];
		k->assign[i].data = (char *)k->data + off;
		k->assign[i].len = len;
		off += len;
	}
	k->s.assign = k->assign;
	k->s.nassign = (size_t)n;
	return save.err;
}

void kafka_sync_group(struct kreq *q)
{
	struct ksync *k = calloc(1, sizeof(*k));
	int rc;

	if (!k) {
		q->r.err = -ENOMEM;
		return;
	}
	rc = sync_decode(q, k);
	if (rc) {
		if (!q->r.err)
			q->r.err = rc;
		ksync_free(k);
		return;
	}
	kafka_wait_init(&k->w, q);
	k->s.group = k->group;
	k->s.member = k->member;
	k->s.done = sync_done;
	k->s.arg = k;
	group_sync(&k->s);
	if (conn_wait_after(&k->w, sync_drop))
		ksync_free(k);
}

/* ------------------------------------------------------------------ */
/* Heartbeat, LeaveGroup                                               */
/* ------------------------------------------------------------------ */

void kafka_heartbeat(struct kreq *q)
{
	char group[GROUP_SIZE], member[MEMBER_SIZE], instance[256];
	char err[BROKER_MSG_MAX];
	int32_t gen;
	size_t start;
	int rc;

	kr_cstr(&q->r, group, sizeof(group));
	gen = kr_i32(&q->r);
	kr_cstr(&q->r, member, sizeof(member));
	if (q->version >= 3)
		kr_cstr(&q->r, instance, sizeof(instance));
	if (q->r.err)
		return;
	rc = group_heartbeat(group, member, gen, err, sizeof(err));
	start = kafka_begin(q);
	if (q->version >= 1)
		kw_i32(&q->c->out, 0);    /* throttle */
	kw_i16(&q->c->out, kafka_error(rc));
	kafka_end(q->c, start);
}

void kafka_leave_group(struct kreq *q)
{
	struct kreader *r = &q->r, save;
	struct obuf *b = &q->c->out;
	char group[GROUP_SIZE], member[MEMBER_SIZE], instance[256];
	char err[BROKER_MSG_MAX];
	int32_t n = 1, i;
	size_t start;
	int rc = 0;

	kr_cstr(r, group, sizeof(group));
	if (q->version >= 3) {
		n = kr_array(r, 4);
		save = *r;
		for (i = 0; i < n && !r->err; i++) {
			kr_cstr(r, member, sizeof(member));
			kr_cstr(r, instance, sizeof(instance));
		}
	} else {
		kr_cstr(r, member, sizeof(member));
	}
	if (r->err)
		return;
	start = kafka_begin(q);
	if (q->version >= 1)
		kw_i32(b, 0);             /* throttle */
	if (q->version < 3) {
		rc = group_leave(group, member, err, sizeof(err));
		kw_i16(b, kafka_error(rc));
		kafka_end(q->c, start);
		return;
	}
	kw_i16(b, 0);
	kw_i32(b, n < 0 ? 0 : n);
	for (i = 0; i < n; i++) {
		kr_cstr(&save, member, sizeof(member));
		kr_cstr(&save, instance, sizeof(instance));
		rc = group_leave(group, member, err, sizeof(err));
		kw_str(b, member);
		kw_str(b, NULL);
		kw_i16(b, kafka_error(rc));
	}
	kafka_end(q->c, start);
}
