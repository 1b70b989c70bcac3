/*
 * h_admin.c - request dispatch, and the topic and broker requests:
 * HELLO, METADATA, CREATE, DELETE, ALTER, LIST_OFFSETS, STATS.
 *
 * Deleting a topic closes its logs, which a running flush may still be
 * syncing: a DELETE that arrives while the flusher holds a job waits
 * (parked, in arrival order) until the job is finished, then runs.  The
 * same holds for the retention check.  Before a topic goes, requests
 * parked on its partitions (long-poll fetches, acks=all produces) are
 * answered with LOGD_ENOTOPIC.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

typedef void handler_fn(struct conn *c, struct logd_msg *m);

static handler_fn *const handlers[LOGD_API_COUNT] = {
	[LOGD_API_HELLO] = h_hello,
	[LOGD_API_METADATA] = h_metadata,
	[LOGD_API_CREATE] = h_create,
	[LOGD_API_DELETE] = h_delete,
	[LOGD_API_ALTER] = h_alter,
	[LOGD_API_PRODUCE] = h_produce,
	[LOGD_API_FETCH] = h_fetch,
	[LOGD_API_LIST_OFFSETS] = h_list_offsets,
	[LOGD_API_OFFSET_COMMIT] = h_offset_commit,
	[LOGD_API_OFFSET_FETCH] = h_offset_fetch,
	[LOGD_API_JOIN_GROUP] = h_join_group,
	[LOGD_API_HEARTBEAT] = h_heartbeat,
	[LOGD_API_LEAVE_GROUP] = h_leave_group,
	[LOGD_API_STATS] = h_stats,
	[LOGD_API_LIST_GROUPS] = h_list_groups,
	[LOGD_API_DELETE_GROUP] = h_delete_group,
};

void h_dispatch(struct conn *c, struct logd_msg *m)
{
	if (m->api < 0 || m->api >= LOGD_API_COUNT) {
		conn_error(c, m, LOGD_EUNSUPPORTED, "unknown api %d",
		    (int)m->api);
		return;
	}
	log_debug("%s: %s corr %u", c->peer, logd_proto_api_name(m->api),
	    m->corr);
	handlers[m->api](c, m);
}

static void reply_ok(struct conn *c, struct logd_msg *m)
{
	logd_proto_begin(&c->out, m->api, m->corr);
	msgpack_pack_map(&c->out.pk, 1);
	logd_pack_kv_int(&c->out.pk, "error", 0);
	conn_end(c, 0);
}

void h_hello(struct conn *c, struct logd_msg *m)
{
	msgpack_packer *pk = &c->out.pk;
	int api;

	logd_proto_begin(&c->out, m->api, m->corr);
	msgpack_pack_map(pk, 4);
	logd_pack_kv_int(pk, "error", 0);
	logd_pack_kv_str(pk, "version", LOGD_VERSION_STRING);
	logd_pack_str(pk, "apis");
	msgpack_pack_array(pk, LOGD_API_COUNT);
	for (api = 0; api < LOGD_API_COUNT; api++)
		msgpack_pack_int(pk, api);
	logd_pack_kv_int(pk, "max_frame", (int64_t)srv.cfg.max_frame_bytes);
	conn_end(c, 0);
}

/* ------------------------------------------------------------------ */
/* METADATA                                                            */
/* ------------------------------------------------------------------ */

struct names {
	char **v;
	size_t n, cap;
};

static int add_name(void *arg, const char *name,
    const struct logd_topic_config *cfg)
{
	struct names *ns = arg;

	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 16;
		char **v = realloc(ns->v, cap * sizeof(*v));

		if (!v)
			return -1;
		ns->v = v;
		ns->cap = cap;
	}
	ns->v[ns->n] = strdup(name);
	return ns->v[ns->n++] ? 0 : -1;
}

static void free_names(struct names *ns)
{
	size_t i;

	for (i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

/* Packs "key=value\n" lines as a map of strings. */
static void pack_config(msgpack_packer *pk, const struct logd_topic_config *tc)
{
	char buf[2048], *line, *save = NULL, *eq;
	uint32_t n = 0;
	size_t i;

	logd_topic_config_format(tc, buf, sizeof(buf));
	for (i = 0; buf[i]; i++)
		if (buf[i] == '\n')
			n++;
	msgpack_pack_map(pk, n);
	for (line = strtok_r(buf, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		eq = strchr(line, '=');
		if (!eq) {
			/* Keep the count right for a malformed line. */
			logd_pack_kv_str(pk, line, "");
			continue;
		}
		*eq = 0;
		logd_pack_kv_str(pk, line, eq + 1);
	}
}

static void pack_topic(msgpack_packer *pk, const char *name)
{
	struct logd_topic_config tc;
	struct logd_log *log;
	int32_t p;
	int rc = logd_store_topic_config(srv.store, name, &tc);

	msgpack_pack_map(pk, 4);
	logd_pack_kv_str(pk, "name", name);
	logd_pack_kv_int(pk, "error", rc);
	logd_pack_str(pk, "partitions");
	if (rc) {
		msgpack_pack_array(pk, 0);
		logd_pack_str(pk, "config");
		msgpack_pack_map(pk, 0);
		return;
	}
	msgpack_pack_array(pk, (uint32_t)tc.partitions);
	for (p = 0; p < tc.partitions; p++) {
		int64_t start = -1, end = -1, size = 0;
		int err = 0;

		if (logd_store_log(srv.store, name, p, &log) == 0) {
			start = logd_log_start_offset(log);
			end = logd_log_end_offset(log);
			size = (int64_t)logd_log_size(log);
			if (logd_log_sync_error(log))
				err = LOGD_EREADONLY;
		}
		msgpack_pack_map(pk, 5);
		logd_pack_kv_int(pk, "partition", p);
		logd_pack_kv_int(pk, "start", start);
		logd_pack_kv_int(pk, "end", end);
		logd_pack_kv_int(pk, "size", size);
		logd_pack_kv_int(pk, "error", err);
	}
	logd_pack_str(pk, "config");
	pack_config(pk, &tc);
}

void h_metadata(struct conn *c, struct logd_msg *m)
{
	const msgpack_object_array *want;
	msgpack_packer *pk = &c->out.pk;
	struct names ns = { 0 };
	char name[LOGD_TOPIC_NAME_MAX + 1];
	uint32_t i;

	if (logd_proto_array_opt(m, NULL, "topics", &want)) {
		conn_error(c, m, LOGD_EPROTO, "%s", m->err);
		return;
	}
	if (want) {
		for (i = 0; i < want->size; i++) {
			const msgpack_object *o = &want->ptr[i];

			if (o->type != MSGPACK_OBJECT_STR ||
			    o->via.str.size > LOGD_TOPIC_NAME_MAX ||
			    memchr(o->via.str.ptr, 0, o->via.str.size)) {
				conn_error(c, m, LOGD_EPROTO, "topics[%u] is "
				    "not a topic name string", i);
				return;
			}
		}
	} else if (logd_store_topics(srv.store, add_name, &ns)) {
		free_names(&ns);
		conn_error(c, m, -ENOMEM, "out of memory listing topics");
		return;
	}
	logd_proto_begin(&c->out, m->api, m->corr);
	msgpack_pack_map(pk, 2);
	logd_pack_kv_int(pk, "error", 0);
	logd_pack_str(pk, "topics");
	if (want) {
		msgpack_pack_array(pk, want->size);
		for (i = 0; i < want->size; i++) {
			const msgpack_object_str *s = &want->ptr[i].via.str;

			memcpy(name, s->ptr, s->size);
			name[s->size] = 0;
			pack_topic(pk, name);
		}
	} else {
		msgpack_pack_array(pk, (uint32_t)ns.n);
		for (i = 0; i < ns.n; i++)
			pack_topic(pk, ns.v[i]);
	}
	free_names(&ns);
	conn_end(c, 0);
}

/* ------------------------------------------------------------------ */
/* CREATE, ALTER                                                       */
/* ------------------------------------------------------------------ */

/* A config value as a string: str, or an integer formatted. */
static int config_value(const msgpack_object *v, char *buf, size_t size)
{
	if (v->type == MSGPACK_OBJECT_STR) {
		if (v->via.str.size >= size)
			return -1;
		memcpy(buf, v->via.str.ptr, v->via.str.size);
		buf[v->via.str.size] = 0;
		return 0;
	}
	if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		snprintf(buf, size, "%" PRIu64, v->via.u64);
		return 0;
	}
	if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		snprintf(buf, size, "%" PRId64, v->via.i64);
		return 0;
	}
	return -1;
}

/*
 * Calls fn for each key/value of the "config" map.  Replies with the
 * error and returns non-zero on the first failure.
 */
static int each_config(struct conn *c, struct logd_msg *m,
    const msgpack_object *cfg,
    int (*fn)(void *arg, const char *k, const char *v), void *arg)
{
	char key[128], val[256];
	uint32_t i;
	int rc;

	for (i = 0; cfg && i < cfg->via.map.size; i++) {
		const msgpack_object_kv *kv = &cfg->via.map.ptr[i];

		if (kv->key.type != MSGPACK_OBJECT_STR ||
		    kv->key.via.str.size >= sizeof(key)) {
			conn_error(c, m, LOGD_EPROTO, "config keys must be "
			    "strings");
			return -1;
		}
		memcpy(key, kv->key.via.str.ptr, kv->key.via.str.size);
		key[kv->key.via.str.size] = 0;
		if (config_value(&kv->val, val, sizeof(val))) {
			conn_error(c, m, LOGD_EPROTO, "config \"%s\": value "
			    "must be a string or an integer", key);
			return -1;
		}
		rc = fn(arg, key, val);
		if (rc) {
			conn_error(c, m, rc, "config \"%s\" = \"%s\": %s", key,
			    val, rc == LOGD_EBADCONFIG ? "unknown setting or "
			    "bad value" : logd_strerror(rc));
			return -1;
		}
	}
	return 0;
}

static int set_cfg(void *arg, const char *k, const char *v)
{
	return logd_topic_config_set(arg, k, v);
}

void h_create(struct conn *c, struct logd_msg *m)
{
	char topic[LOGD_TOPIC_NAME_MAX + 2];
	struct logd_topic_config tc = srv.cfg.topic;
	const msgpack_object *cfg;
	int64_t parts;
	int rc;

	if (logd_proto_cstr(m, NULL, "topic", topic, sizeof(topic)) ||
	    logd_proto_int_opt(m, NULL, "partitions", tc.partitions,
	    &parts) || logd_proto_map_opt(m, NULL, "config", &cfg)) {
		conn_error(c, m, LOGD_EPROTO, "%s", m->err);
		return;
	}
	if (each_config(c, m, cfg, set_cfg, &tc))
		return;
	if (parts < 1 || parts > 10000) {
		conn_error(c, m, LOGD_EBADCONFIG, "partitions must be 1 to "
		    "10000, not %lld", (long long)parts);
		return;
	}
	tc.partitions = (int32_t)parts;
	rc = logd_store_topic_create(srv.store, topic, &tc, ev_wall());
	if (rc) {
		conn_error(c, m, rc, rc == LOGD_EBADNAME ? "invalid topic name "
		    "\"%s\": use 1-249 of [A-Za-z0-9._-], not . or .." :
		    "cannot create topic \"%s\": %s", topic,
		    logd_strerror(rc));
		return;
	}
	log_info("created topic %s (%d partitions)", topic, tc.partitions);
	reply_ok(c, m);
}

struct alter {
	const char *topic;
};

static int alter_one(void *arg, const char *k, const char *v)
{
	struct alter *a = arg;

	return logd_store_topic_alter(srv.store, a->topic, k, v, ev_wall());
}

void h_alter(struct conn *c, struct logd_msg *m)
{
	char topic[LOGD_TOPIC_NAME_MAX + 1];
	const msgpack_object *cfg;
	struct alter a = { topic };

	if (logd_proto_cstr(m, NULL, "topic", topic, sizeof(topic)) ||
	    logd_proto_map(m, NULL, "config", &cfg)) {
		conn_error(c, m, LOGD_EPROTO, "%s", m->err);
		return;
	}
	if (logd_store_topic_config(srv.store, topic, NULL)) {
		conn_error(c, m, LOGD_ENOTOPIC, "unknown topic \"%s\"", topic);
		return;
	}
	if (each_config(c, m, cfg, alter_one, &a))
		return;
	log_info("altered topic %s", topic);
	reply_ok(c, m);
}

/* ------------------------------------------------------------------ */
/* DELETE (deferred while a flush runs)                                */
/* ------------------------------------------------------------------ */

struct pdel {
	struct pdel *next;
	struct conn *c;
	uint32_t corr;
	char topic[LOGD_TOPIC_NAME_MAX + 1];
};

static struct pdel *pdels, **pdels_tail = &pdels;

static int do_delete(const char *topic)
{
	struct logd_topic_config tc;
	struct logd_log *log;
	int32_t p;
	int rc = logd_store_topic_config(srv.store, topic, &tc);

	if (rc)
		return rc;
	for (p = 0; p < tc.partitions; p++) {
		if (logd_store_log(srv.store, topic, p, &log))
			continue;
		fetch_drop_log(log, LOGD_ENOTOPIC);
		produce_drop_log(log, LOGD_ENOTOPIC);
		server_log_clean(log);
	}
	rc = logd_store_topic_delete(srv.store, topic);
	if (!rc)
		log_info("deleted topic %s", topic);
	return rc;
}

static void delete_reply(struct conn *c, uint32_t corr, const char *topic,
    int rc)
{
	struct logd_msg m = { .api = LOGD_API_DELETE, .corr = corr };

	if (c->state == CONN_DEAD)
		return;
	if (rc)
		conn_error(c, &m, rc, rc == LOGD_ENOTOPIC ? "unknown topic "
		    "\"%s\"" : "cannot delete topic \"%s\": %s", topic,
		    logd_strerror(rc));
	else
		reply_ok(c, &m);
}

void h_delete(struct conn *c, struct logd_msg *m)
{
	char topic[LOGD_TOPIC_NAME_MAX + 1];
	struct pdel *d;

	if (logd_proto_cstr(m, NULL, "topic", topic, sizeof(topic))) {
		conn_error(c, m, LOGD_EPROTO, "%s", m->err);
		return;
	}
	if (!srv.flushing) {
		delete_reply(c, m->corr, topic, do_delete(topic));
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		conn_error(c, m, -ENOMEM, "out of memory");
		return;
	}
	d->c = c;
	d->corr = m->corr;
	strcpy(d->topic, topic);
	*pdels_tail = d;
	pdels_tail = &d->next;
	c->refs++;
	c->parked++;
}

void admin_flush_idle(void)
{
	struct pdel *d;

	while ((d = pdels)) {
		pdels = d->next;
		delete_reply(d->c, d->corr, d->topic, do_delete(d->topic));
		d->c->parked--;
		conn_put(d->c);
		free(d);
	}
	pdels_tail = &pdels;
	if (srv.retention_due) {
		srv.retention_due = 0;
		logd_store_retain(srv.store, ev_wall());
	}
}

/* ------------------------------------------------------------------ */
/* LIST_OFFSETS, STATS                                                 */
/* ------------------------------------------------------------------ */

void h_list_offsets(struct conn *c, struct logd_msg *m)
{
	char topic[LOGD_TOPIC_NAME_MAX + 1];
	int64_t part, ts, off;
	struct logd_log *log;
	int rc;

	if (logd_proto_cstr(m, NULL, "topic", topic, sizeof(topic)) ||
	    logd_proto_int(m, NULL, "partition", &part) ||
	    logd_proto_int(m, NULL, "timestamp", &ts)) {
		conn_error(c, m, LOGD_EPROTO, "%s", m->err);
		return;
	}
	rc = part < 0 || part > INT32_MAX ? LOGD_ENOPART :
	    logd_store_log(srv.store, topic, (int32_t)part, &log);
	if (rc) {
		conn_error(c, m, rc, rc == LOGD_ENOTOPIC ?
		    "unknown topic \"%s\"" : "topic \"%s\" has no partition "
		    "%lld", topic, (long long)part);
		return;
	}
	if (ts == -2) {
		off = logd_log_start_offset(log);
	} else if (ts == -1) {
		off = logd_log_end_offset(log);
	} else if (ts < 0) {
		conn_error(c, m, LOGD_EPROTO, "timestamp must be -2 (earliest),"
		    " -1 (latest) or a time in ms");
		return;
	} else {
		rc = logd_log_offset_for_time(log, ts, &off);
		if (rc) {
			conn_error(c, m, rc, "offset for time %lld: %s",
			    (long long)ts, logd_strerror(rc));
			return;
		}
	}
	logd_proto_begin(&c->out, m->api, m->corr);
	msgpack_pack_map(&c->out.pk, 2);
	logd_pack_kv_int(&c->out.pk, "error", 0);
	logd_pack_kv_int(&c->out.pk, "offset", off);
	conn_end(c, 0);
}

void h_stats(struct conn *c, struct logd_msg *m)
{
	msgpack_packer *pk = &c->out.pk;
	struct names ns = { 0 };
	struct logd_topic_config tc;
	struct logd_log *log;
	size_t i;
	int32_t p;

	if (logd_store_topics(srv.store, add_name, &ns)) {
		free_names(&ns);
		conn_error(c, m, -ENOMEM, "out of memory listing topics");
		return;
	}
	logd_proto_begin(&c->out, m->api, m->corr);
	msgpack_pack_map(pk, 8);
	logd_pack_kv_int(pk, "error", 0);
	logd_pack_kv_int(pk, "connections", (int64_t)srv.nconns);
	logd_pack_kv_int(pk, "bytes_in", (int64_t)srv.bytes_in);
	logd_pack_kv_int(pk, "bytes_out", (int64_t)srv.bytes_out);
	logd_pack_kv_int(pk, "records_in", (int64_t)srv.records_in);
	logd_pack_kv_int(pk, "records_out", (int64_t)srv.records_out);
	logd_pack_kv_int(pk, "uptime_ms", ev_now() - srv.started_ms);
	logd_pack_str(pk, "topics");
	msgpack_pack_array(pk, (uint32_t)ns.n);
	for (i = 0; i < ns.n; i++) {
		int64_t bytes = 0, records = 0;

		if (logd_store_topic_config(srv.store, ns.v[i], &tc))
			tc.partitions = 0;
		for (p = 0; p < tc.partitions; p++) {
			if (logd_store_log(srv.store, ns.v[i], p, &log))
				continue;
			bytes += (int64_t)logd_log_size(log);
			records += logd_log_end_offset(log) -
			    logd_log_start_offset(log);
		}
		msgpack_pack_map(pk, 4);
		logd_pack_kv_str(pk, "name", ns.v[i]);
		logd_pack_kv_int(pk, "partitions", tc.partitions);
		logd_pack_kv_int(pk, "bytes", bytes);
		logd_pack_kv_int(pk, "records", records);
	}
	free_names(&ns);
	conn_end(c, 0);
}
