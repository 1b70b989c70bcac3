/*
 * h_group.c - consumer group requests: JOIN_GROUP, HEARTBEAT and
 * LEAVE_GROUP (checked here, carried out by the coordinator in group.c),
 * OFFSET_COMMIT (fenced by group.c), OFFSET_FETCH, LIST_GROUPS (committed
 * offsets from LMDB merged with the members in memory), DELETE_GROUP.
 *
 * A commit is a durable LMDB transaction: it runs on the flusher thread
 * (logd_store_offsets_commit() is documented as safe there) and the reply
 * goes out when it is done, so the loop never waits for an LMDB sync.  The
 * request's strings are copied into the job first, since the frame they
 * point into is gone by then.  Reads (fetch, list) are LMDB read
 * transactions on the loop thread: they do not block.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

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

void h_join_group(struct conn *c, struct logd_msg *m)
{
	char group[LOGD_GROUP_NAME_MAX + 1], member[MEMBER_MAX + 1];
	char client[CLIENT_MAX + 1];
	struct group_join_req r = { group, member, client, NULL, 0, 0 };
	const msgpack_object_array *ta;
	char **names = NULL, *s;
	size_t need = 0, i, n;
	int64_t session;

	if (logd_proto_cstr(m, NULL, "group", group, sizeof(group)) ||
	    logd_proto_cstr_opt(m, NULL, "member", member, sizeof(member)) ||
	    logd_proto_array(m, NULL, "topics", &ta) ||
	    logd_proto_int_opt(m, NULL, "session_ms", 10000, &session) ||
	    logd_proto_cstr_opt(m, NULL, "client", client, sizeof(client))) {
		conn_error(c, m, LOGD_EPROTO, "%s", m->err);
		return;
	}
	if (logd_group_name_check(group)) {
		conn_error(c, m, LOGD_EBADNAME, "invalid group name \"%s\"",
		    group);
		return;
	}
	if (session < SESSION_MIN || session > SESSION_MAX) {
		conn_error(c, m, LOGD_EPROTO, "session_ms must be %d to %d, "
		    "not %lld", SESSION_MIN, SESSION_MAX, (long long)session);
		return;
	}
	if (!printable(client) || !printable(member)) {
		conn_error(c, m, LOGD_EPROTO, "client and member must be "
		    "printable ASCII");
		return;
	}
	if (!ta->size || ta->size > JOIN_TOPICS_MAX) {
		conn_error(c, m, LOGD_EPROTO, "topics must list 1 to %d "
		    "topics, not %u", JOIN_TOPICS_MAX, ta->size);
		return;
	}
	for (i = 0; i < ta->size; i++) {
		const msgpack_object *o = &ta->ptr[i];

		if (o->type != MSGPACK_OBJECT_STR || !o->via.str.size ||
		    o->via.str.size > LOGD_TOPIC_NAME_MAX ||
		    memchr(o->via.str.ptr, 0, o->via.str.size)) {
			conn_error(c, m, LOGD_EPROTO, "topics[%zu] is not a "
			    "topic name string", i);
			return;
		}
		need += o->via.str.size + 1;
	}
	names = malloc(ta->size * sizeof(*names) + need);
	if (!names) {
		conn_error(c, m, -ENOMEM, "out of memory");
		return;
	}
	s = (char *)(names + ta->size);
	for (i = 0; i < ta->size; i++) {
		const msgpack_object_str *o = &ta->ptr[i].via.str;

		memcpy(s, o->ptr, o->size);
		s[o->size] = 0;
		names[i] = s;
		s += o->size + 1;
	}
	qsort(names, ta->size, sizeof(*names), cmp_name);
	for (i = n = 0; i < ta->size; i++)
		if (!n || strcmp(names[i], names[n - 1]))
			names[n++] = names[i];
	for (i = 0; i < n; i++)
		if (logd_store_topic_config(srv.store, names[i], NULL)) {
			conn_error(c, m, LOGD_ENOTOPIC, "unknown topic \"%s\"",
			    names[i]);
			free(names);
			return;
		}
	r.topics = (const char *const *)names;
	r.ntopics = n;
	r.session_ms = session;
	group_join(c, m, &r);
	free(names);
}

static void reply_ok(struct conn *c, struct logd_msg *m)
{
	logd_proto_begin(&c->out, m->api, m->corr);
	msgpack_pack_map(&c->out.pk, 1);
	logd_pack_kv_int(&c->out.pk, "error", 0);
	conn_end(c, 0);
}

void h_heartbeat(struct conn *c, struct logd_msg *m)
{
	char group[LOGD_GROUP_NAME_MAX + 1], member[MEMBER_MAX + 1];
	char err[1024];
	int64_t gen;
	int rc;

	if (logd_proto_cstr(m, NULL, "group", group, sizeof(group)) ||
	    logd_proto_cstr(m, NULL, "member", member, sizeof(member)) ||
	    logd_proto_int(m, NULL, "generation", &gen)) {
		conn_error(c, m, LOGD_EPROTO, "%s", m->err);
		return;
	}
	rc = group_heartbeat(group, member, gen, err, sizeof(err));
	if (rc)
		conn_error(c, m, rc, "%s", err);
	else
		reply_ok(c, m);
}

void h_leave_group(struct conn *c, struct logd_msg *m)
{
	char group[LOGD_GROUP_NAME_MAX + 1], member[MEMBER_MAX + 1];
	char err[1024];
	int rc;

	if (logd_proto_cstr(m, NULL, "group", group, sizeof(group)) ||
	    logd_proto_cstr(m, NULL, "member", member, sizeof(member))) {
		conn_error(c, m, LOGD_EPROTO, "%s", m->err);
		return;
	}
	rc = group_leave(group, member, err, sizeof(err));
	if (rc)
		conn_error(c, m, rc, "%s", err);
	else
		reply_ok(c, m);
}

/* ------------------------------------------------------------------ */
/* OFFSET_COMMIT                                                       */
/* ------------------------------------------------------------------ */

void h_offset_commit(struct conn *c, struct logd_msg *m)
{
	char group[LOGD_GROUP_NAME_MAX + 1], member[MEMBER_MAX + 1];
	char err[1024];
	const msgpack_object_array *offs;
	struct fjob *j = NULL;
	int64_t gen, part, off;
	size_t need = 0, tl, ml;
	const char *t, *md;
	char *s;
	uint32_t i;
	int rc;

	if (logd_proto_cstr(m, NULL, "group", group, sizeof(group)) ||
	    logd_proto_int_opt(m, NULL, "generation", -1, &gen) ||
	    logd_proto_cstr_opt(m, NULL, "member", member, sizeof(member)) ||
	    logd_proto_array(m, NULL, "offsets", &offs)) {
		conn_error(c, m, LOGD_EPROTO, "%s", m->err);
		return;
	}
	if (gen < -1) {
		conn_error(c, m, LOGD_EPROTO, "generation must be -1 (no "
		    "member) or >= 0, not %lld", (long long)gen);
		return;
	}
	rc = logd_group_name_check(group);
	if (rc) {
		conn_error(c, m, rc, "invalid group name \"%s\"", group);
		return;
	}
	if (!offs->size) {
		conn_error(c, m, LOGD_EPROTO, "\"offsets\" is empty");
		return;
	}
	/* Check every entry and size the strings. */
	for (i = 0; i < offs->size; i++) {
		const msgpack_object *e = &offs->ptr[i];

		if (e->type != MSGPACK_OBJECT_MAP) {
			conn_error(c, m, LOGD_EPROTO, "offsets[%u] must be a "
			    "map", i);
			return;
		}
		if (logd_proto_str(m, e, "topic", &t, &tl) ||
		    logd_proto_int(m, e, "partition", &part) ||
		    logd_proto_int(m, e, "offset", &off) ||
		    logd_proto_str_opt(m, e, "metadata", &md, &ml)) {
			conn_error(c, m, LOGD_EPROTO, "offsets[%u]: %s", i,
			    m->err);
			return;
		}
		if (part < 0 || part > INT32_MAX || off < 0) {
			conn_error(c, m, LOGD_EPROTO, "offsets[%u]: partition "
			    "and offset must be >= 0", i);
			return;
		}
		if (memchr(t, 0, tl) || (md && memchr(md, 0, ml))) {
			conn_error(c, m, LOGD_EPROTO, "offsets[%u]: NUL byte in "
			    "a string", i);
			return;
		}
		need += tl + 1 + (md ? ml + 1 : 0);
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		goto nomem;
	j->type = JOB_COMMIT;
	j->group = strdup(group);
	j->commits = calloc(offs->size, sizeof(*j->commits));
	j->strings = malloc(need ? need : 1);
	if (!j->group || !j->commits || !j->strings)
		goto nomem;
	s = j->strings;
	for (i = 0; i < offs->size; i++) {
		const msgpack_object *e = &offs->ptr[i];
		struct logd_offset_commit *oc = &j->commits[i];

		logd_proto_str(m, e, "topic", &t, &tl);
		logd_proto_int(m, e, "partition", &part);
		logd_proto_int(m, e, "offset", &off);
		logd_proto_str_opt(m, e, "metadata", &md, &ml);
		memcpy(s, t, tl);
		s[tl] = 0;
		oc->topic = s;
		s += tl + 1;
		if (md) {
			memcpy(s, md, ml);
			s[ml] = 0;
			oc->metadata = s;
			s += ml + 1;
		}
		oc->partition = (int32_t)part;
		oc->offset = off;
	}
	j->ncommits = offs->size;
	rc = group_commit_check(group, gen, member, j->commits, j->ncommits,
	    err, sizeof(err));
	if (rc) {
		fjob_free(j);
		conn_error(c, m, rc, "%s", err);
		return;
	}
	j->now_ms = ev_wall();
	j->conn = c;
	j->corr = m->corr;
	j->api = m->api;
	c->refs++;
	c->parked++;
	flusher_submit(j);
	return;
nomem:
	fjob_free(j);
	conn_error(c, m, -ENOMEM, "out of memory");
}

void group_commit_done(struct fjob *j)
{
	struct conn *c = j->conn;
	struct logd_msg m = { .api = j->api, .corr = j->corr };

	c->parked--;
	if (c->state != CONN_DEAD) {
		if (j->rc) {
			conn_error(c, &m, j->rc, "commit for group \"%s\" "
			    "failed: %s", j->group, logd_strerror(j->rc));
		} else {
			logd_proto_begin(&c->out, m.api, m.corr);
			msgpack_pack_map(&c->out.pk, 1);
			logd_pack_kv_int(&c->out.pk, "error", 0);
			conn_end(c, 0);
		}
	}
	conn_put(c);
}

/* ------------------------------------------------------------------ */
/* OFFSET_FETCH, LIST_GROUPS                                           */
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

void h_offset_fetch(struct conn *c, struct logd_msg *m)
{
	char group[LOGD_GROUP_NAME_MAX + 1], topic[LOGD_TOPIC_NAME_MAX + 1];
	struct entries es = { 0 };
	msgpack_packer *pk = &c->out.pk;
	size_t i;
	int rc;

	if (logd_proto_cstr(m, NULL, "group", group, sizeof(group)) ||
	    logd_proto_cstr_opt(m, NULL, "topic", topic, sizeof(topic))) {
		conn_error(c, m, LOGD_EPROTO, "%s", m->err);
		return;
	}
	if (topic[0])
		es.topic = topic;
	rc = logd_store_offsets(srv.store, group, add_entry, &es);
	if (rc || es.failed) {
		free_entries(&es);
		conn_error(c, m, rc ? rc : -ENOMEM, "offsets of group \"%s\": "
		    "%s", group, logd_strerror(rc ? rc : -ENOMEM));
		return;
	}
	logd_proto_begin(&c->out, m->api, m->corr);
	msgpack_pack_map(pk, 2);
	logd_pack_kv_int(pk, "error", 0);
	logd_pack_str(pk, "offsets");
	msgpack_pack_array(pk, (uint32_t)es.n);
	for (i = 0; i < es.n; i++) {
		msgpack_pack_map(pk, 4);
		logd_pack_kv_str(pk, "topic", es.v[i].topic);
		logd_pack_kv_int(pk, "partition", es.v[i].partition);
		logd_pack_kv_int(pk, "offset", es.v[i].offset);
		logd_pack_str(pk, "metadata");
		if (es.v[i].meta)
			logd_pack_str(pk, es.v[i].meta);
		else
			msgpack_pack_nil(pk);
	}
	free_entries(&es);
	conn_end(c, 0);
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

		if (logd_store_log(srv.store, e->topic, e->partition,
		    &log) == 0) {
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
			group_pack(pk, d >= 0 ? g : NULL);
			pack_offsets(pk, es, i, k);
		}
		i = k;
		if (d >= 0)
			g = filtered ? NULL : group_next(g);
	}
	return n;
}

void h_list_groups(struct conn *c, struct logd_msg *m)
{
	char group[LOGD_GROUP_NAME_MAX + 1];
	struct entries es = { 0 };
	msgpack_packer *pk = &c->out.pk;
	const struct group *g = NULL;
	size_t n;
	int rc;

	if (logd_proto_cstr_opt(m, NULL, "group", group, sizeof(group))) {
		conn_error(c, m, LOGD_EPROTO, "%s", m->err);
		return;
	}
	if (group[0])
		g = group_lookup(group);
	rc = logd_store_offsets(srv.store, group[0] ? group : NULL,
	    add_entry, &es);
	if (rc || es.failed) {
		free_entries(&es);
		conn_error(c, m, rc ? rc : -ENOMEM, "listing groups: %s",
		    logd_strerror(rc ? rc : -ENOMEM));
		return;
	}
	n = walk_groups(NULL, &es, g, group[0] != 0);
	if (group[0] && !n) {
		free_entries(&es);
		conn_error(c, m, LOGD_ENOGROUP, "unknown group \"%s\": no "
		    "members and no committed offsets", group);
		return;
	}
	logd_proto_begin(&c->out, m->api, m->corr);
	msgpack_pack_map(pk, 2);
	logd_pack_kv_int(pk, "error", 0);
	logd_pack_str(pk, "groups");
	msgpack_pack_array(pk, (uint32_t)n);
	walk_groups(pk, &es, g, group[0] != 0);
	free_entries(&es);
	conn_end(c, 0);
}

void h_delete_group(struct conn *c, struct logd_msg *m)
{
	char group[LOGD_GROUP_NAME_MAX + 1];
	int rc;

	if (logd_proto_cstr(m, NULL, "group", group, sizeof(group))) {
		conn_error(c, m, LOGD_EPROTO, "%s", m->err);
		return;
	}
	if (group_member_count(group)) {
		conn_error(c, m, LOGD_EGENERATION, "group \"%s\" has %zu "
		    "members: they must leave (or expire) first", group,
		    group_member_count(group));
		return;
	}
	rc = logd_store_group_delete(srv.store, group);
	if (rc) {
		conn_error(c, m, rc, rc == LOGD_ENOGROUP ? "unknown group "
		    "\"%s\"" : "cannot delete group \"%s\": %s", group,
		    logd_strerror(rc));
		return;
	}
	log_info("deleted group %s", group);
	logd_proto_begin(&c->out, m->api, m->corr);
	msgpack_pack_map(&c->out.pk, 1);
	logd_pack_kv_int(&c->out.pk, "error", 0);
	conn_end(c, 0);
}
