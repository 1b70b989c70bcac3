/*
 * native_group.c - the native protocol's group requests: JOIN_GROUP,
 * HEARTBEAT and LEAVE_GROUP (checked here, carried out by the
 * coordinator in group.c), OFFSET_COMMIT (fenced by group.c, committed
 * by the broker off the loop thread), OFFSET_FETCH, LIST_GROUPS
 * (committed offsets from LMDB merged with the members in memory) and
 * DELETE_GROUP.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

/* Limits of a JOIN_GROUP request (proto.h). */
#define JOIN_TOPICS_MAX 1000
#define CLIENT_MAX 128
#define MEMBER_MAX 255
#define SESSION_MIN 1000
#define SESSION_MAX 300000

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return 0;
	return 1;
}

/* ------------------------------------------------------------------ */
/* JOIN_GROUP                                                          */
/* ------------------------------------------------------------------ */

struct njoin {
	struct rwait w;
	struct group_join j;
	char group[LOGD_GROUP_NAME_MAX + 1], member[MEMBER_MAX + 1];
	char client[CLIENT_MAX + 1];
	char **names;              /* the topics, sorted, unique */
};

static void njoin_free(struct njoin *nj)
{
	free(nj->names);
	free(nj);
}

static void pack_assignment(msgpack_packer *pk, const struct group_assign *a,
    size_t n)
{
	size_t i, k;

	msgpack_pack_array(pk, (uint32_t)n);
	for (i = 0; i < n; i++) {
		msgpack_pack_map(pk, 2);
		logd_pack_kv_str(pk, "topic", a[i].topic);
		logd_pack_str(pk, "partitions");
		msgpack_pack_array(pk, (uint32_t)a[i].n);
		for (k = 0; k < a[i].n; k++)
			msgpack_pack_int32(pk, a[i].parts[k]);
	}
}

static void join_done(struct group_join *j)
{
	struct njoin *nj = j->arg;
	struct nreply r;

	if (conn_wait_answering(&nj->w)) {
		if (j->err) {
			native_error(nj->w.c, nj->w.api, nj->w.corr, j->err,
			    "%s", j->msg);
		} else {
			native_begin(&r, nj->w.c, nj->w.api, nj->w.corr);
			msgpack_pack_map(&r.pk, 5);
			logd_pack_kv_int(&r.pk, "error", 0);
			logd_pack_kv_str(&r.pk, "member", j->member_id);
			logd_pack_kv_int(&r.pk, "generation", j->generation);
			logd_pack_kv_int(&r.pk, "heartbeat_ms",
			    j->heartbeat_ms);
			logd_pack_str(&r.pk, "assignment");
			pack_assignment(&r.pk, j->assign, j->nassign);
			native_end(&r, 0);
		}
	}
	if (!nj->w.in_call)
		njoin_free(nj);
}

static void join_drop(struct parked *p)
{
	struct njoin *nj = (struct njoin *)(void *)p;

	group_join_cancel(&nj->j);
	njoin_free(nj);
}

/* Copies, sorts and dedups the topics; replies and returns -1 on error. */
static int join_topics(struct conn *c, struct logd_msg *m, struct njoin *nj,
    const msgpack_object_array *ta)
{
	size_t need = 0, i, n;
	char *s;

	if (!ta->size || ta->size > JOIN_TOPICS_MAX) {
		native_error(c, m->api, m->corr, LOGD_EPROTO, "topics must "
		    "list 1 to %d topics, not %u", JOIN_TOPICS_MAX, ta->size);
		return -1;
	}
	for (i = 0; i < ta->size; i++) {
		const msgpack_object *o = &ta->ptr[i];

		if (o->type != MSGPACK_OBJECT_STR || !o->via.str.size ||
		    o->via.str.size > LOGD_TOPIC_NAME_MAX ||
		    memchr(o->via.str.ptr, 0, o->via.str.size)) {
			native_error(c, m->api, m->corr, LOGD_EPROTO,
			    "topics[%zu] is not a topic name string", i);
			return -1;
		}
		need += o->via.str.size + 1;
	}
	nj->names = malloc(ta->size * sizeof(*nj->names) + need);
	if (!nj->names) {
		native_error(c, m->api, m->corr, -ENOMEM, "out of memory");
		return -1;
	}
	s = (char *)(nj->names + ta->size);
	for (i = 0; i < ta->size; i++) {
		const msgpack_object_str *o = &ta->ptr[i].via.str;

		memcpy(s, o->ptr, o->size);
		s[o->size] = 0;
		nj->names[i] = s;
		s += o->size + 1;
	}
	qsort(nj->names, ta->size, sizeof(*nj->names), cmp_name);
	for (i = n = 0; i < ta->size; i++)
		if (!n || strcmp(nj->names[i], nj->names[n - 1]))
			nj->names[n++] = nj->names[i];
	for (i = 0; i < n; i++)
		if (logd_store_topic_config(srv.store, nj->names[i], NULL)) {
			native_error(c, m->api, m->corr, LOGD_ENOTOPIC,
			    "unknown topic \"%s\"", nj->names[i]);
			return -1;
		}
	nj->j.topics = (const char *const *)nj->names;
	nj->j.ntopics = n;
	return 0;
}

/* Decodes and checks a JOIN_GROUP into nj; replies and -1 on error. */
static int join_decode(struct conn *c, struct logd_msg *m, struct njoin *nj)
{
	const msgpack_object_array *ta;
	int64_t session;

	if (logd_proto_cstr(m, NULL, "group", nj->group, sizeof(nj->group)) ||
	    logd_proto_cstr_opt(m, NULL, "member", nj->member,
	    sizeof(nj->member)) ||
	    logd_proto_array(m, NULL, "topics", &ta) ||
	    logd_proto_int_opt(m, NULL, "session_ms", 10000, &session) ||
	    logd_proto_cstr_opt(m, NULL, "client", nj->client,
	    sizeof(nj->client))) {
		native_bad(c, m);
		return -1;
	}
	if (logd_group_name_check(nj->group)) {
		native_error(c, m->api, m->corr, LOGD_EBADNAME, "invalid group "
		    "name \"%s\"", nj->group);
		return -1;
	}
	if (session < SESSION_MIN || session > SESSION_MAX) {
		native_error(c, m->api, m->corr, LOGD_EPROTO, "session_ms must "
		    "be %d to %d, not %lld", SESSION_MIN, SESSION_MAX,
		    (long long)session);
		return -1;
	}
	if (!printable(nj->client) || !printable(nj->member)) {
		native_error(c, m->api, m->corr, LOGD_EPROTO, "client and "
		    "member must be printable ASCII");
		return -1;
	}
	nj->j.session_ms = session;
	return join_topics(c, m, nj, ta);
}

void native_join_group(struct conn *c, struct logd_msg *m)
{
	struct njoin *nj = calloc(1, sizeof(*nj));

	if (!nj)
		return native_error(c, m->api, m->corr, -ENOMEM,
		    "out of memory");
	if (join_decode(c, m, nj)) {
		njoin_free(nj);
		return;
	}
	nj->w.c = c;
	nj->w.api = m->api;
	nj->w.corr = m->corr;
	nj->w.in_call = 1;
	nj->j.group = nj->group;
	nj->j.member = nj->member;
	nj->j.client = nj->client;
	nj->j.peer = c->peer;
	nj->j.done = join_done;
	nj->j.arg = nj;
	group_join(&nj->j);
	if (conn_wait_after(&nj->w, join_drop))
		njoin_free(nj);
}

/* ------------------------------------------------------------------ */
/* HEARTBEAT, LEAVE_GROUP                                              */
/* ------------------------------------------------------------------ */

void native_heartbeat(struct conn *c, struct logd_msg *m)
{
	char group[LOGD_GROUP_NAME_MAX + 1], member[MEMBER_MAX + 1];
	char err[1024];
	int64_t gen;
	int rc;

	if (logd_proto_cstr(m, NULL, "group", group, sizeof(group)) ||
	    logd_proto_cstr(m, NULL, "member", member, sizeof(member)) ||
	    logd_proto_int(m, NULL, "generation", &gen))
		return native_bad(c, m);
	rc = group_heartbeat(group, member, gen, err, sizeof(err));
	if (rc)
		native_error(c, m->api, m->corr, rc, "%s", err);
	else
		native_ok(c, m->api, m->corr);
}

void native_leave_group(struct conn *c, struct logd_msg *m)
{
	char group[LOGD_GROUP_NAME_MAX + 1], member[MEMBER_MAX + 1];
	char err[1024];
	int rc;

	if (logd_proto_cstr(m, NULL, "group", group, sizeof(group)) ||
	    logd_proto_cstr(m, NULL, "member", member, sizeof(member)))
		return native_bad(c, m);
	rc = group_leave(group, member, err, sizeof(err));
	if (rc)
		native_error(c, m->api, m->corr, rc, "%s", err);
	else
		native_ok(c, m->api, m->corr);
}

/* ------------------------------------------------------------------ */
/* OFFSET_COMMIT                                                       */
/* ------------------------------------------------------------------ */

struct ncommit {
	struct rwait w;
	struct commit_op *op;
};

static void commit_done(struct commit_op *op)
{
	struct ncommit *nc = op->arg;

	if (conn_wait_answering(&nc->w)) {
		if (op->err)
			native_error(nc->w.c, nc->w.api, nc->w.corr, op->err,
			    "%s", op->msg);
		else
			native_ok(nc->w.c, nc->w.api, nc->w.corr);
	}
	if (!nc->w.in_call) {
		broker_commit_free(op);
		free(nc);
	}
}

/* The connection went while the commit ran: it completes anyway. */
static void commit_drop(struct parked *p)
{
	((struct ncommit *)(void *)p)->w.orphan = 1;
}

/* Checks one entry of "offsets" into oc (strings borrowed into bufs). */
static int commit_entry(struct logd_msg *m, const msgpack_object *e,
    uint32_t i, struct logd_offset_commit *oc, char *topic, char *meta,
    size_t metasz)
{
	int64_t part, off;
	const char *md;
	size_t ml;

	if (e->type != MSGPACK_OBJECT_MAP) {
		snprintf(m->err, sizeof(m->err), "offsets[%u] must be a map",
		    i);
		return -1;
	}
	if (logd_proto_cstr(m, e, "topic", topic, LOGD_TOPIC_NAME_MAX + 1) ||
	    logd_proto_int(m, e, "partition", &part) ||
	    logd_proto_int(m, e, "offset", &off) ||
	    logd_proto_str_opt(m, e, "metadata", &md, &ml))
		return -1;
	if (part < 0 || part > INT32_MAX || off < 0) {
		snprintf(m->err, sizeof(m->err), "offsets[%u]: partition and "
		    "offset must be >= 0", i);
		return -1;
	}
	if (md && (memchr(md, 0, ml) || ml >= metasz)) {
		snprintf(m->err, sizeof(m->err), "offsets[%u]: metadata holds "
		    "a NUL byte or is over %zu bytes", i, metasz - 1);
		return -1;
	}
	if (md) {
		memcpy(meta, md, ml);
		meta[ml] = 0;
	}
	oc->topic = topic;
	oc->metadata = md ? meta : NULL;
	oc->partition = (int32_t)part;
	oc->offset = off;
	return 0;
}

/* One entry at a time into op's copies; -1 with m->err on a bad one. */
static struct commit_op *commit_decode(struct logd_msg *m, const char *group,
    int64_t gen, const char *member, const msgpack_object_array *offs)
{
	struct logd_offset_commit *oc;
	struct commit_op *op = NULL;
	char (*topics)[LOGD_TOPIC_NAME_MAX + 1];
	char (*metas)[4096];
	uint32_t i;

	oc = calloc(offs->size, sizeof(*oc));
	topics = calloc(offs->size, sizeof(*topics));
	metas = calloc(offs->size, sizeof(*metas));
	if (!oc || !topics || !metas) {
		snprintf(m->err, sizeof(m->err), "out of memory");
		goto out;
	}
	for (i = 0; i < offs->size; i++)
		if (commit_entry(m, &offs->ptr[i], i, &oc[i], topics[i],
		    metas[i], sizeof(metas[i])))
			goto out;
	op = broker_commit_new(group, gen, member, oc, offs->size);
	if (!op)
		snprintf(m->err, sizeof(m->err), "out of memory");
out:
	free(oc);
	free(topics);
	free(metas);
	return op;
}

void native_offset_commit(struct conn *c, struct logd_msg *m)
{
	char group[LOGD_GROUP_NAME_MAX + 1], member[MEMBER_MAX + 1];
	const msgpack_object_array *offs;
	struct ncommit *nc;
	int64_t gen;
	int rc;

	if (logd_proto_cstr(m, NULL, "group", group, sizeof(group)) ||
	    logd_proto_int_opt(m, NULL, "generation", -1, &gen) ||
	    logd_proto_cstr_opt(m, NULL, "member", member, sizeof(member)) ||
	    logd_proto_array(m, NULL, "offsets", &offs))
		return native_bad(c, m);
	if (gen < -1)
		return native_error(c, m->api, m->corr, LOGD_EPROTO,
		    "generation must be -1 (no member) or >= 0, not %lld",
		    (long long)gen);
	if ((rc = logd_group_name_check(group)))
		return native_error(c, m->api, m->corr, rc, "invalid group "
		    "name \"%s\"", group);
	if (!offs->size)
		return native_error(c, m->api, m->corr, LOGD_EPROTO,
		    "\"offsets\" is empty");
	nc = calloc(1, sizeof(*nc));
	if (!nc)
		return native_error(c, m->api, m->corr, -ENOMEM,
		    "out of memory");
	nc->op = commit_decode(m, group, gen, member, offs);
	if (!nc->op) {
		free(nc);
		return native_bad(c, m);
	}
	nc->w.c = c;
	nc->w.api = m->api;
	nc->w.corr = m->corr;
	nc->w.in_call = 1;
	nc->op->done = commit_done;
	nc->op->arg = nc;
	broker_commit(nc->op);
	if (conn_wait_after(&nc->w, commit_drop)) {
		broker_commit_free(nc->op);
		free(nc);
	}
}

/* ------------------------------------------------------------------ */
/* OFFSET_FETCH, LIST_GROUPS, DELETE_GROUP                             */
/* ------------------------------------------------------------------ */

struct entry {
	char *group, *topic, *meta;
	int32_t partition;
	int64_t offset;
};

struct entries {
	struct entry *v;
	size_t n, cap;
	const char *topic;        /* only this topic, if set */
	int failed;
};

static int add_entry(void *arg, const char *group, const char *topic,
    int32_t partition, int64_t offset, int64_t commit_ms,
    const char *metadata)
{
	struct entries *es = arg;
	struct entry *e;

	if (es->topic && strcmp(es->topic, topic))
		return 0;
	if (es->n == es->cap) {
		size_t cap = es->cap ? es->cap * 2 : 32;

		e = realloc(es->v, cap * sizeof(*e));
		if (!e)
			goto fail;
		es->v = e;
		es->cap = cap;
	}
	e = &es->v[es->n];
	e->group = strdup(group);
	e->topic = strdup(topic);
	e->meta = metadata ? strdup(metadata) : NULL;
	e->partition = partition;
	e->offset = offset;
	es->n++;
	if (!e->group || !e->topic || (metadata && !e->meta))
		goto fail;
	return 0;
fail:
	es->failed = 1;
	return -ENOMEM;
}

static void free_entries(struct entries *es)
{
	size_t i;

	for (i = 0; i < es->n; i++) {
		free(es->v[i].group);
		free(es->v[i].topic);
		free(es->v[i].meta);
	}
	free(es->v);
}

void native_offset_fetch(struct conn *c, struct logd_msg *m)
{
	char group[LOGD_GROUP_NAME_MAX + 1], topic[LOGD_TOPIC_NAME_MAX + 1];
	struct entries es = { 0 };
	struct nreply r;
	size_t i;
	int rc;

	if (logd_proto_cstr(m, NULL, "group", group, sizeof(group)) ||
	    logd_proto_cstr_opt(m, NULL, "topic", topic, sizeof(topic)))
		return native_bad(c, m);
	if (topic[0])
		es.topic = topic;
	rc = broker_offsets(group, add_entry, &es);
	if (rc || es.failed) {
		free_entries(&es);
		rc = rc ? rc : -ENOMEM;
		return native_error(c, m->api, m->corr, rc, "offsets of group "
		    "\"%s\": %s", group, logd_strerror(rc));
	}
	native_begin(&r, c, m->api, m->corr);
	msgpack_pack_map(&r.pk, 2);
	logd_pack_kv_int(&r.pk, "error", 0);
	logd_pack_str(&r.pk, "offsets");
	msgpack_pack_array(&r.pk, (uint32_t)es.n);
	for (i = 0; i < es.n; i++) {
		msgpack_pack_map(&r.pk, 4);
		logd_pack_kv_str(&r.pk, "topic", es.v[i].topic);
		logd_pack_kv_int(&r.pk, "partition", es.v[i].partition);
		logd_pack_kv_int(&r.pk, "offset", es.v[i].offset);
		logd_pack_str(&r.pk, "metadata");
		if (es.v[i].meta)
			logd_pack_str(&r.pk, es.v[i].meta);
		else
			msgpack_pack_nil(&r.pk);
	}
	free_entries(&es);
	native_end(&r, 0);
}

/* Packs the offsets of one group: es->v[i..k) with their end and lag. */
static void pack_offsets(msgpack_packer *pk, const struct entries *es,
    size_t i, size_t k)
{
	struct logd_log *log;

	logd_pack_str(pk, "offsets");
	msgpack_pack_array(pk, (uint32_t)(k - i));
	for (; i < k; i++) {
		const struct entry *e = &es->v[i];
		int64_t end = -1, lag = -1;

		if (broker_log(e->topic, e->partition, &log) == 0) {
			end = logd_log_end_offset(log);
			lag = end > e->offset ? end - e->offset : 0;
		}
		msgpack_pack_map(pk, 5);
		logd_pack_kv_str(pk, "topic", e->topic);
		logd_pack_kv_int(pk, "partition", e->partition);
		logd_pack_kv_int(pk, "offset", e->offset);
		logd_pack_kv_int(pk, "end", end);
		logd_pack_kv_int(pk, "lag", lag);
	}
}

static void pack_member(void *arg, const struct member_info *mi)
{
	msgpack_packer *pk = arg;
	size_t i;

	msgpack_pack_map(pk, 5);
	logd_pack_kv_str(pk, "member", mi->id);
	logd_pack_kv_str(pk, "client", mi->client);
	logd_pack_kv_int(pk, "session_ms", mi->session_ms);
	logd_pack_str(pk, "topics");
	msgpack_pack_array(pk, (uint32_t)mi->ntopics);
	for (i = 0; i < mi->ntopics; i++)
		logd_pack_str(pk, mi->topics[i]);
	logd_pack_str(pk, "assignment");
	if (!mi->nassign && mi->kassign_len) {
		/* Kafka's: unreadable packs as no assignment */
		struct group_assign *ka = NULL;
		size_t nka = 0;

		group_kafka_assignment(mi->kassign, mi->kassign_len, &ka, &nka);
		pack_assignment(pk, ka, nka);
		group_assign_free(ka, nka);
	} else {
		pack_assignment(pk, mi->assign, mi->nassign);
	}
}

/* "state", "generation", "members" of g (NULL: commits only). */
static void pack_group(msgpack_packer *pk, const struct group *g)
{
	logd_pack_kv_str(pk, "state", group_state(g));
	logd_pack_kv_int(pk, "generation", group_generation(g));
	logd_pack_str(pk, "members");
	msgpack_pack_array(pk, g ? (uint32_t)group_member_count(
	    group_name(g)) : 0);
	group_each_member(g, pack_member, pk);
}

/*
 * Walks the groups with commits (es, in group order) and the groups with
 * members (group_next(), in name order) as one sorted list; pk NULL only
 * counts them.  A filter (one group) has filtered both already.
 */
static size_t walk_groups(msgpack_packer *pk, const struct entries *es,
    const struct group *only, int filtered)
{
	const struct group *g = filtered ? only : group_next(NULL);
	size_t i = 0, k, n = 0;
	int d;

	while (i < es->n || g) {
		const char *name;

		if (i >= es->n)
			d = 1;
		else if (!g)
			d = -1;
		else
			d = strcmp(es->v[i].group, group_name(g));
		name = d > 0 ? group_name(g) : es->v[i].group;
		k = i;
		if (d <= 0)
			while (k < es->n && !strcmp(es->v[k].group, name))
				k++;
		n++;
		if (pk) {
			msgpack_pack_map(pk, 5);
			logd_pack_kv_str(pk, "group", name);
			pack_group(pk, d >= 0 ? g : NULL);
			pack_offsets(pk, es, i, k);
		}
		i = k;
		if (d >= 0)
			g = filtered ? NULL : group_next(g);
	}
	return n;
}

void native_list_groups(struct conn *c, struct logd_msg *m)
{
	char group[LOGD_GROUP_NAME_MAX + 1];
	struct entries es = { 0 };
	const struct group *g = NULL;
	struct nreply r;
	size_t n;
	int rc;

	if (logd_proto_cstr_opt(m, NULL, "group", group, sizeof(group)))
		return native_bad(c, m);
	if (group[0])
		g = group_lookup(group);
	rc = broker_offsets(group[0] ? group : NULL, add_entry, &es);
	if (rc || es.failed) {
		free_entries(&es);
		rc = rc ? rc : -ENOMEM;
		return native_error(c, m->api, m->corr, rc, "listing groups: "
		    "%s", logd_strerror(rc));
	}
	n = walk_groups(NULL, &es, g, group[0] != 0);
	if (group[0] && !n) {
		free_entries(&es);
		return native_error(c, m->api, m->corr, LOGD_ENOGROUP,
		    "unknown group \"%s\": no members and no committed "
		    "offsets", group);
	}
	native_begin(&r, c, m->api, m->corr);
	msgpack_pack_map(&r.pk, 2);
	logd_pack_kv_int(&r.pk, "error", 0);
	logd_pack_str(&r.pk, "groups");
	msgpack_pack_array(&r.pk, (uint32_t)n);
	walk_groups(&r.pk, &es, g, group[0] != 0);
	free_entries(&es);
	native_end(&r, 0);
}

void native_delete_group(struct conn *c, struct logd_msg *m)
{
	char group[LOGD_GROUP_NAME_MAX + 1];
	int rc;

	if (logd_proto_cstr(m, NULL, "group", group, sizeof(group)))
		return native_bad(c, m);
	if (group_member_count(group))
		return native_error(c, m->api, m->corr, LOGD_EGENERATION,
		    "group \"%s\" has %zu members: they must leave (or "
		    "expire) first", group, group_member_count(group));
	rc = logd_store_group_delete(srv.store, group);
	if (rc)
		return native_error(c, m->api, m->corr, rc, rc == LOGD_ENOGROUP ?
		    "unknown group \"%s\"" : "cannot delete group \"%s\": %s",
		    group, logd_strerror(rc));
	log_info("deleted group %s", group);
	native_ok(c, m->api, m->corr);
}
