/*
 * h_group.c - committed offsets: OFFSET_COMMIT, OFFSET_FETCH,
 * LIST_GROUPS, DELETE_GROUP; and JOIN/HEARTBEAT/LEAVE, which this version
 * answers with LOGD_EUNSUPPORTED (group membership comes later).
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

void h_membership(struct conn *c, struct logd_msg *m)
{
	conn_error(c, m, LOGD_EUNSUPPORTED, "%s: consumer group membership "
	    "(join, heartbeat, leave) is not supported by this logd yet; "
	    "read partitions directly and commit offsets with generation -1",
	    logd_proto_api_name(m->api));
}

/* ------------------------------------------------------------------ */
/* OFFSET_COMMIT                                                       */
/* ------------------------------------------------------------------ */

void h_offset_commit(struct conn *c, struct logd_msg *m)
{
	char group[LOGD_GROUP_NAME_MAX + 1];
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
	    logd_proto_array(m, NULL, "offsets", &offs)) {
		conn_error(c, m, LOGD_EPROTO, "%s", m->err);
		return;
	}
	if (gen != -1) {
		conn_error(c, m, LOGD_EUNSUPPORTED, "generation %lld: group "
		    "membership is not supported yet; commit with generation "
		    "-1", (long long)gen);
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

void h_list_groups(struct conn *c, struct logd_msg *m)
{
	struct entries es = { 0 };
	msgpack_packer *pk = &c->out.pk;
	struct logd_log *log;
	size_t i, k, ngroups = 0;
	int rc;

	rc = logd_store_offsets(srv.store, NULL, add_entry, &es);
	if (rc || es.failed) {
		free_entries(&es);
		conn_error(c, m, rc ? rc : -ENOMEM, "listing groups: %s",
		    logd_strerror(rc ? rc : -ENOMEM));
		return;
	}
	for (i = 0; i < es.n; i++)
		if (!i || strcmp(es.v[i].group, es.v[i - 1].group))
			ngroups++;
	logd_proto_begin(&c->out, m->api, m->corr);
	msgpack_pack_map(pk, 2);
	logd_pack_kv_int(pk, "error", 0);
	logd_pack_str(pk, "groups");
	msgpack_pack_array(pk, (uint32_t)ngroups);
	for (i = 0; i < es.n; i = k) {
		for (k = i + 1; k < es.n; k++)
			if (strcmp(es.v[k].group, es.v[i].group))
				break;
		msgpack_pack_map(pk, 2);
		logd_pack_kv_str(pk, "group", es.v[i].group);
		logd_pack_str(pk, "offsets");
		msgpack_pack_array(pk, (uint32_t)(k - i));
		for (; i < k; i++) {
			struct entry *e = &es.v[i];
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
