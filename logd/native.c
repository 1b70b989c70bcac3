/*
 * native.c - logd's own protocol (lib/proto.h): framing, the API table,
 * and the requests on topics, produce and fetch (native_group.c has the
 * group requests).
 *
 * A frame is a big-endian u32 length and one msgpack array [api, corr,
 * body]; it is decoded in place (str and bin objects point into the
 * connection's input buffer, so a produce's batches are copied only
 * once, into the segment map).  Each request becomes a broker call
 * (broker.h); the reply is packed straight into the connection's output
 * buffer.  A fetch reply is packed up to the "records" bin header (the
 * last key of its body), then the stored batches are queued behind it
 * with conn_push_read: stored data is never copied in user space.
 *
 * Requests that wait (acks=all produce, long-poll fetch, commit, delete,
 * a held join) keep a struct rwait, parked on the connection; a closing
 * connection drops them (cancelling what can be, orphaning the rest).
 * A streaming fetch is native_stream.c's.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

/* ------------------------------------------------------------------ */
/* Writing replies                                                     */
/* ------------------------------------------------------------------ */

static int pk_write(void *data, const char *buf, size_t len)
{
	obuf_append(data, buf, len);
	return 0;
}

void native_begin(struct nreply *r, struct conn *c, int api, uint32_t corr)
{
	static const char zero[4];

	r->c = c;
	r->start = c->out.len;
	obuf_append(&c->out, zero, sizeof(zero));
	msgpack_packer_init(&r->pk, &c->out, pk_write);
	msgpack_pack_array(&r->pk, 3);
	msgpack_pack_int(&r->pk, api);
	msgpack_pack_uint32(&r->pk, corr);
}

void native_end(struct nreply *r, size_t trailing)
{
	struct conn *c = r->c;
	uint64_t n = c->out.len - r->start - LOGD_FRAME_HEADER + trailing;
	unsigned char *h;

	if (c->out.err) {
		conn_close(c, "out of memory packing a reply");
		return;
	}
	if (n > UINT32_MAX) {
		conn_close(c, logd_strerror(LOGD_ETOOBIG));
		return;
	}
	h = (unsigned char *)c->out.data + r->start;
	h[0] = (unsigned char)(n >> 24);
	h[1] = (unsigned char)(n >> 16);
	h[2] = (unsigned char)(n >> 8);
	h[3] = (unsigned char)n;
	conn_touch(c);
}

/* Packs s as a msgpack str, with invalid UTF-8 replaced by '?'. */
static void pack_text(msgpack_packer *pk, const char *s)
{
	char buf[1024];
	size_t i = 0, n = 0, k, len;
	const unsigned char *u = (const unsigned char *)s;

	while (u[i] && n < sizeof(buf) - 1) {
		len = u[i] < 0x80 ? 1 : (u[i] & 0xe0) == 0xc0 ? 2 :
		    (u[i] & 0xf0) == 0xe0 ? 3 : (u[i] & 0xf8) == 0xf0 ? 4 : 0;
		for (k = 1; k < len; k++)
			if ((u[i + k] & 0xc0) != 0x80)
				len = 0;
		if (!len || (len == 2 && u[i] < 0xc2) ||
		    n + len > sizeof(buf) - 1) {
			buf[n++] = '?';
			i++;
			continue;
		}
		memcpy(buf + n, u + i, len);
		n += len;
		i += len;
	}
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, buf, n);
}

void native_error(struct conn *c, int api, uint32_t corr, int code,
    const char *fmt, ...)
{
	struct nreply r;
	char msg[512];
	va_list ap;

	if (c->state == CONN_DEAD)
		return;
	stats_error(STATS_NATIVE, api, code);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	native_begin(&r, c, api, corr);
	msgpack_pack_map(&r.pk, 2);
	logd_pack_kv_int(&r.pk, "error", code);
	logd_pack_str(&r.pk, "message");
	pack_text(&r.pk, msg);
	native_end(&r, 0);
}

void native_ok(struct conn *c, int api, uint32_t corr)
{
	struct nreply r;

	if (c->state == CONN_DEAD)
		return;
	native_begin(&r, c, api, corr);
	msgpack_pack_map(&r.pk, 1);
	logd_pack_kv_int(&r.pk, "error", 0);
	native_end(&r, 0);
}

/* ------------------------------------------------------------------ */
/* HELLO, METADATA, STATS                                              */
/* ------------------------------------------------------------------ */

static void native_hello(struct conn *c, struct logd_msg *m)
{
	struct nreply r;
	int api;

	native_begin(&r, c, m->api, m->corr);
	msgpack_pack_map(&r.pk, 4);
	logd_pack_kv_int(&r.pk, "error", 0);
	logd_pack_kv_str(&r.pk, "version", LOGD_VERSION_STRING);
	logd_pack_str(&r.pk, "apis");
	msgpack_pack_array(&r.pk, LOGD_API_COUNT);
	for (api = 0; api < LOGD_API_COUNT; api++)
		msgpack_pack_int(&r.pk, api);
	logd_pack_kv_int(&r.pk, "max_frame", (int64_t)srv.cfg.max_frame_bytes);
	native_end(&r, 0);
}

static int pack_setting(void *arg, const char *key, const char *value)
{
	logd_pack_kv_str(arg, key, value);
	return 0;
}

static int count_setting(void *arg, const char *key, const char *value)
{
	(*(uint32_t *)arg)++;
	return 0;
}

static int pack_topic(void *arg, const char *name, int err,
    const struct logd_topic_config *tc, const struct part_info *parts)
{
	msgpack_packer *pk = arg;
	int32_t p;

	msgpack_pack_map(pk, 4);
	logd_pack_kv_str(pk, "name", name);
	logd_pack_kv_int(pk, "error", err);
	logd_pack_str(pk, "partitions");
	msgpack_pack_array(pk, err ? 0 : (uint32_t)tc->partitions);
	for (p = 0; !err && p < tc->partitions; p++) {
		msgpack_pack_map(pk, 8);
		logd_pack_kv_int(pk, "partition", p);
		logd_pack_kv_int(pk, "start", parts[p].start);
		logd_pack_kv_int(pk, "end", parts[p].end);
		logd_pack_kv_int(pk, "size", (int64_t)parts[p].size);
		logd_pack_kv_int(pk, "disk", (int64_t)parts[p].disk);
		logd_pack_kv_int(pk, "error", parts[p].err);
		logd_pack_kv_int(pk, "dirty_ppm",
		    (int64_t)(parts[p].dirty_ratio * 1e6 + 0.5));
		logd_pack_kv_int(pk, "clean_point", parts[p].clean_point);
	}
	logd_pack_str(pk, "config");
	if (err) {
		msgpack_pack_map(pk, 0);
		return 0;
	}
	p = 0;
	logd_topic_config_each(tc, count_setting, &p);
	msgpack_pack_map(pk, (uint32_t)p);
	return logd_topic_config_each(tc, pack_setting, pk);
}

static int count_topic(void *arg, const char *name, int err,
    const struct logd_topic_config *tc, const struct part_info *parts)
{
	(*(uint32_t *)arg)++;
	return 0;
}

static void native_metadata(struct conn *c, struct logd_msg *m)
{
	const msgpack_object_array *want;
	char names[64][LOGD_TOPIC_NAME_MAX + 1], **v = NULL;
	struct nreply r;
	uint32_t i, n = 0, named = 0;   /* named: entries of v filled */
	int rc;

	if (logd_proto_array_opt(m, NULL, "topics", &want))
		return native_bad(c, m);
	if (want) {
		v = calloc(want->size ? want->size : 1, sizeof(*v));
		if (!v)
			return native_error(c, m->api, m->corr, -ENOMEM,
			    "out of memory");
		for (i = 0; i < want->size; i++) {
			const msgpack_object *o = &want->ptr[i];

			if (o->type != MSGPACK_OBJECT_STR ||
			    o->via.str.size > LOGD_TOPIC_NAME_MAX ||
			    memchr(o->via.str.ptr, 0, o->via.str.size)) {
				free(v);
				return native_error(c, m->api, m->corr,
				    LOGD_EPROTO, "topics[%u] is not a topic "
				    "name string", i);
			}
			/* The names live in the frame: NUL-terminate copies
			 * (on the stack for the first 64). */
			v[i] = i < 64 ? names[i] : malloc(o->via.str.size + 1);
			if (!v[i]) {
				rc = -ENOMEM;
				goto out;
			}
			memcpy(v[i], o->via.str.ptr, o->via.str.size);
			v[i][o->via.str.size] = 0;
			named = ++n;
		}
	} else if ((rc = broker_topics(NULL, 0, 0, count_topic, &n))) {
		return native_error(c, m->api, m->corr, rc, "listing topics: %s",
		    logd_strerror(rc));
	}
	native_begin(&r, c, m->api, m->corr);
	msgpack_pack_map(&r.pk, 2);
	logd_pack_kv_int(&r.pk, "error", 0);
	logd_pack_str(&r.pk, "topics");
	msgpack_pack_array(&r.pk, n);
	/* A topic made meanwhile cannot appear: this is one loop turn. */
	rc = broker_topics((const char *const *)v, n, 0, pack_topic, &r.pk);
	if (rc)
		c->out.err = rc;
	native_end(&r, 0);
	rc = 0;
out:
	/* All topics (want NULL): n counts them but v holds none. */
	for (i = 64; i < named; i++)
		free(v[i]);
	free(v);
	if (rc)
		native_error(c, m->api, m->corr, rc, "out of memory");
}

struct stats_ctx {
	msgpack_packer *pk;
	uint32_t n;
};

static int pack_topic_stats(void *arg, const char *name, int err,
    const struct logd_topic_config *tc, const struct part_info *parts)
{
	struct stats_ctx *s = arg;
	int64_t bytes = 0, records = 0;
	int32_t p;

	if (!s->pk) {
		s->n++;
		return 0;
	}
	for (p = 0; !err && p < tc->partitions; p++) {
		bytes += (int64_t)parts[p].size;
		if (parts[p].end >= 0)
			records += parts[p].end - parts[p].start;
	}
	msgpack_pack_map(s->pk, 4);
	logd_pack_kv_str(s->pk, "name", name);
	logd_pack_kv_int(s->pk, "partitions", err ? 0 : tc->partitions);
	logd_pack_kv_int(s->pk, "bytes", bytes);
	logd_pack_kv_int(s->pk, "records", records);
	return 0;
}

static void native_stats(struct conn *c, struct logd_msg *m)
{
	struct stats_ctx s = { NULL, 0 };
	struct broker_stats st;
	struct nreply r;
	int rc = broker_topics(NULL, 0, 0, pack_topic_stats, &s);

	if (rc)
		return native_error(c, m->api, m->corr, rc, "listing topics: "
		    "%s", logd_strerror(rc));
	broker_stats(&st);
	native_begin(&r, c, m->api, m->corr);
	msgpack_pack_map(&r.pk, 8);
	logd_pack_kv_int(&r.pk, "error", 0);
	logd_pack_kv_int(&r.pk, "connections", (int64_t)st.connections);
	logd_pack_kv_int(&r.pk, "bytes_in", (int64_t)st.bytes_in);
	logd_pack_kv_int(&r.pk, "bytes_out", (int64_t)st.bytes_out);
	logd_pack_kv_int(&r.pk, "records_in", (int64_t)st.records_in);
	logd_pack_kv_int(&r.pk, "records_out", (int64_t)st.records_out);
	logd_pack_kv_int(&r.pk, "uptime_ms", st.uptime_ms);
	logd_pack_str(&r.pk, "topics");
	msgpack_pack_array(&r.pk, s.n);
	s.pk = &r.pk;
	broker_topics(NULL, 0, 0, pack_topic_stats, &s);
	native_end(&r, 0);
}

/* ------------------------------------------------------------------ */
/* CREATE, ALTER, DELETE                                               */
/* ------------------------------------------------------------------ */

#define CONFIG_MAX 64

/* The settings of a "config" map, copied NUL-terminated into buf. */
struct settings {
	struct kv kv[CONFIG_MAX];
	size_t n;
	char buf[CONFIG_MAX][2][256];
};

/* A config value as a string: str, or an integer formatted. */
static int config_value(const msgpack_object *v, char *buf, size_t size)
{
	if (v->type == MSGPACK_OBJECT_STR) {
		if (v->via.str.size >= size ||
		    memchr(v->via.str.ptr, 0, v->via.str.size))
			return -1;
		memcpy(buf, v->via.str.ptr, v->via.str.size);
		buf[v->via.str.size] = 0;
		return 0;
	}
	if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		snprintf(buf, size, "%llu", (unsigned long long)v->via.u64);
		return 0;
	}
	if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		snprintf(buf, size, "%lld", (long long)v->via.i64);
		return 0;
	}
	return -1;
}

/* Decodes cfg (may be NULL) into s; replies and returns -1 on error. */
static int get_settings(struct conn *c, struct logd_msg *m,
    const msgpack_object *cfg, struct settings *s)
{
	uint32_t i;

	s->n = 0;
	if (cfg && cfg->via.map.size > CONFIG_MAX) {
		native_error(c, m->api, m->corr, LOGD_EPROTO, "at most %d "
		    "config settings", CONFIG_MAX);
		return -1;
	}
	for (i = 0; cfg && i < cfg->via.map.size; i++) {
		const msgpack_object_kv *kv = &cfg->via.map.ptr[i];
		char *k = s->buf[i][0], *v = s->buf[i][1];

		if (kv->key.type != MSGPACK_OBJECT_STR ||
		    config_value(&kv->key, k, sizeof(s->buf[i][0]))) {
			native_error(c, m->api, m->corr, LOGD_EPROTO, "config "
			    "keys must be strings");
			return -1;
		}
		if (config_value(&kv->val, v, sizeof(s->buf[i][1]))) {
			native_error(c, m->api, m->corr, LOGD_EPROTO, "config "
			    "\"%s\": value must be a string or an integer", k);
			return -1;
		}
		s->kv[s->n].key = k;
		s->kv[s->n++].value = v;
	}
	return 0;
}

static void native_create(struct conn *c, struct logd_msg *m)
{
	char topic[LOGD_TOPIC_NAME_MAX + 1], msg[BROKER_MSG_MAX];
	const msgpack_object *cfg;
	struct settings *s;
	int64_t parts;
	int rc;

	if (logd_proto_cstr(m, NULL, "topic", topic, sizeof(topic)) ||
	    logd_proto_int_opt(m, NULL, "partitions", 0, &parts) ||
	    logd_proto_map_opt(m, NULL, "config", &cfg))
		return native_bad(c, m);
	if (parts < 0 || parts > 10000)
		return native_error(c, m->api, m->corr, LOGD_EBADCONFIG,
		    "partitions must be 1 to 10000, not %lld",
		    (long long)parts);
	s = malloc(sizeof(*s));
	if (!s)
		return native_error(c, m->api, m->corr, -ENOMEM,
		    "out of memory");
	if (!get_settings(c, m, cfg, s)) {
		rc = broker_topic_create(topic, (int32_t)parts, s->kv, s->n,
		    msg, sizeof(msg));
		if (rc)
			native_error(c, m->api, m->corr, rc, "%s", msg);
		else
			native_ok(c, m->api, m->corr);
	}
	free(s);
}

static void native_alter(struct conn *c, struct logd_msg *m)
{
	char topic[LOGD_TOPIC_NAME_MAX + 1], msg[BROKER_MSG_MAX];
	const msgpack_object *cfg;
	struct settings *s;
	int rc;

	if (logd_proto_cstr(m, NULL, "topic", topic, sizeof(topic)) ||
	    logd_proto_map(m, NULL, "config", &cfg))
		return native_bad(c, m);
	s = malloc(sizeof(*s));
	if (!s)
		return native_error(c, m->api, m->corr, -ENOMEM,
		    "out of memory");
	if (!get_settings(c, m, cfg, s)) {
		rc = broker_topic_alter(topic, s->kv, s->n, msg, sizeof(msg));
		if (rc)
			native_error(c, m->api, m->corr, rc, "%s", msg);
		else
			native_ok(c, m->api, m->corr);
	}
	free(s);
}

struct ndelete {
	struct rwait w;
	struct delete_op op;
	char topic[LOGD_TOPIC_NAME_MAX + 1];
};

static void delete_done(struct delete_op *op)
{
	struct ndelete *d = op->arg;

	if (conn_wait_answering(&d->w)) {
		if (op->err)
			native_error(d->w.c, d->w.api, d->w.corr, op->err, "%s",
			    op->msg);
		else
			native_ok(d->w.c, d->w.api, d->w.corr);
	}
	if (!d->w.in_call)
		free(d);
}

/* The connection went while the delete waited: it still runs. */
static void delete_drop(struct parked *p)
{
	((struct ndelete *)(void *)p)->w.orphan = 1;
}

static void native_delete(struct conn *c, struct logd_msg *m)
{
	struct ndelete *d = calloc(1, sizeof(*d));

	if (!d)
		return native_error(c, m->api, m->corr, -ENOMEM,
		    "out of memory");
	if (logd_proto_cstr(m, NULL, "topic", d->topic, sizeof(d->topic))) {
		free(d);
		return native_bad(c, m);
	}
	d->w.c = c;
	d->w.api = m->api;
	d->w.corr = m->corr;
	d->w.in_call = 1;
	d->op.topic = d->topic;
	d->op.done = delete_done;
	d->op.arg = d;
	broker_topic_delete(&d->op);
	if (conn_wait_after(&d->w, delete_drop))
		free(d);
}

struct ncompact {
	struct rwait w;
	struct compact_op op;
	char topic[LOGD_TOPIC_NAME_MAX + 1];
};

static void compact_done(struct compact_op *op)
{
	struct ncompact *d = op->arg;
	struct nreply r;

	if (conn_wait_answering(&d->w)) {
		if (op->err) {
			native_error(d->w.c, d->w.api, d->w.corr, op->err, "%s",
			    op->msg);
		} else if (d->w.c->state != CONN_DEAD) {
			native_begin(&r, d->w.c, d->w.api, d->w.corr);
			msgpack_pack_map(&r.pk, 11);
			logd_pack_kv_int(&r.pk, "error", 0);
			logd_pack_kv_int(&r.pk, "partitions", op->partitions);
			logd_pack_kv_int(&r.pk, "segments", op->st.segments);
			logd_pack_kv_int(&r.pk, "deleted", op->st.deleted);
			logd_pack_kv_int(&r.pk, "records_read",
			    (int64_t)op->st.records_read);
			logd_pack_kv_int(&r.pk, "records_kept",
			    (int64_t)op->st.records_kept);
			logd_pack_kv_int(&r.pk, "tombstones",
			    (int64_t)op->st.tombstones_dropped);
			logd_pack_kv_int(&r.pk, "keyless",
			    (int64_t)op->st.keyless_dropped);
			logd_pack_kv_int(&r.pk, "bytes_before",
			    (int64_t)op->st.bytes_before);
			logd_pack_kv_int(&r.pk, "bytes_after",
			    (int64_t)op->st.bytes_after);
			logd_pack_kv_int(&r.pk, "run_ms", op->st.run_ms);
			native_end(&r, 0);
		}
	}
	if (!d->w.in_call)
		free(d);
}

/* The connection went while the clean ran: it still runs. */
static void compact_drop(struct parked *p)
{
	((struct ncompact *)(void *)p)->w.orphan = 1;
}

static void native_compact(struct conn *c, struct logd_msg *m)
{
	struct ncompact *d = calloc(1, sizeof(*d));
	int64_t part;

	if (!d)
		return native_error(c, m->api, m->corr, -ENOMEM,
		    "out of memory");
	if (logd_proto_cstr(m, NULL, "topic", d->topic, sizeof(d->topic)) ||
	    logd_proto_int_opt(m, NULL, "partition", -1, &part) ||
	    part < -1 || part > INT32_MAX) {
		free(d);
		return native_bad(c, m);
	}
	d->w.c = c;
	d->w.api = m->api;
	d->w.corr = m->corr;
	d->w.in_call = 1;
	d->op.topic = d->topic;
	d->op.partition = (int32_t)part;
	d->op.done = compact_done;
	d->op.arg = d;
	cleaner_compact(&d->op);
	if (conn_wait_after(&d->w, compact_drop))
		free(d);
}

/* ------------------------------------------------------------------ */
/* PRODUCE                                                             */
/* ------------------------------------------------------------------ */

struct nproduce {
	struct rwait w;
	struct produce_op op;
	struct produce_part part;
	char topic[LOGD_TOPIC_NAME_MAX + 1];
};

static void produce_done(struct produce_op *op)
{
	struct nproduce *p = op->arg;
	struct produce_part *pp = &p->part;
	struct nreply r;

	if (conn_wait_answering(&p->w) && op->acks) {
		if (pp->err) {
			native_error(p->w.c, p->w.api, p->w.corr, pp->err, "%s",
			    pp->msg);
		} else {
			native_begin(&r, p->w.c, p->w.api, p->w.corr);
			msgpack_pack_map(&r.pk, 4);
			logd_pack_kv_int(&r.pk, "error", 0);
			logd_pack_kv_int(&r.pk, "partition", pp->partition);
			logd_pack_kv_int(&r.pk, "base_offset", pp->base_offset);
			logd_pack_kv_int(&r.pk, "last_offset", pp->last_offset);
			native_end(&r, 0);
		}
	}
	if (!p->w.in_call)
		free(p);
}

static void produce_drop(struct parked *park)
{
	struct nproduce *p = (struct nproduce *)(void *)park;

	broker_produce_cancel(&p->op);
	free(p);
}

static void native_produce(struct conn *c, struct logd_msg *m)
{
	struct nproduce *p;
	const void *key, *rec;
	size_t klen, rlen;
	int64_t part, acks;
	char topic[LOGD_TOPIC_NAME_MAX + 1];

	if (logd_proto_int_opt(m, NULL, "acks", -1, &acks) ||
	    logd_proto_cstr(m, NULL, "topic", topic, sizeof(topic)) ||
	    logd_proto_int_opt(m, NULL, "partition", -1, &part) ||
	    logd_proto_bin_opt(m, NULL, "key", &key, &klen) ||
	    logd_proto_bin(m, NULL, "records", &rec, &rlen))
		return native_bad(c, m);
	if (acks != 0 && acks != 1 && acks != -1)
		return native_error(c, m->api, m->corr, LOGD_EPROTO, "acks "
		    "must be 0, 1 or -1 (all), not %lld", (long long)acks);
	if (part < -1 || part > INT32_MAX) {
		if (acks)
			native_error(c, m->api, m->corr, LOGD_ENOPART, "topic "
			    "\"%s\" has no partition %lld", topic,
			    (long long)part);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return native_error(c, m->api, m->corr, -ENOMEM,
		    "out of memory");
	memcpy(p->topic, topic, sizeof(topic));
	p->w.c = c;
	p->w.api = m->api;
	p->w.corr = m->corr;
	p->w.in_call = 1;
	p->part.topic = p->topic;
	p->part.partition = (int32_t)part;
	p->part.key = key;
	p->part.key_len = klen;
	p->part.records = rec;
	p->part.len = rlen;
	p->op.parts = &p->part;
	p->op.nparts = 1;
	p->op.acks = (int)acks;
	p->op.done = produce_done;
	p->op.arg = p;
	broker_produce(&p->op);
	if (conn_wait_after(&p->w, produce_drop))
		free(p);
}

/* ------------------------------------------------------------------ */
/* FETCH, LIST_OFFSETS                                                 */
/* ------------------------------------------------------------------ */

struct nfetch {
	struct rwait w;
	struct fetch_op op;
	struct fetch_part part;
	char topic[LOGD_TOPIC_NAME_MAX + 1];
};

void native_fetch_reply(struct conn *c, int api, uint32_t corr,
    struct fetch_part *fp, int stream)
{
	struct nreply r;

	native_begin(&r, c, api, corr);
	msgpack_pack_map(&r.pk, stream < 0 ? 5 : 6);
	logd_pack_kv_int(&r.pk, "error", 0);
	logd_pack_kv_int(&r.pk, "partition", fp->partition);
	logd_pack_kv_int(&r.pk, "start", fp->start);
	logd_pack_kv_int(&r.pk, "end", fp->end);
	if (stream >= 0)
		logd_pack_kv_int(&r.pk, "stream", stream);
	logd_pack_str(&r.pk, "records");
	msgpack_pack_bin(&r.pk, fp->rd.len);
	native_end(&r, fp->rd.len);
	conn_push_read(c, &fp->rd);
}

static void fetch_done(struct fetch_op *op)
{
	struct nfetch *f = op->arg;
	struct fetch_part *fp = &f->part;
	struct conn *c = f->w.c;

	if (!conn_wait_answering(&f->w)) {
		logd_log_read_release(&fp->rd);
	} else if (fp->err) {
		logd_log_read_release(&fp->rd);
		native_error(c, f->w.api, f->w.corr, fp->err, "%s", fp->msg);
	} else {
		native_fetch_reply(c, f->w.api, f->w.corr, fp, -1);
	}
	if (!f->w.in_call)
		free(f);
}

static void fetch_drop(struct parked *park)
{
	struct nfetch *f = (struct nfetch *)(void *)park;

	broker_fetch_cancel(&f->op);
	free(f);
}

static void native_fetch(struct conn *c, struct logd_msg *m)
{
	int64_t part, offset, max_bytes, min_bytes, max_wait, stream;
	char topic[LOGD_TOPIC_NAME_MAX + 1];
	struct nfetch_args a;
	struct nfetch *f;

	if (logd_proto_cstr(m, NULL, "topic", topic, sizeof(topic)) ||
	    logd_proto_int(m, NULL, "partition", &part) ||
	    logd_proto_int(m, NULL, "offset", &offset) ||
	    logd_proto_int_opt(m, NULL, "max_bytes", 1 << 20, &max_bytes) ||
	    logd_proto_int_opt(m, NULL, "min_bytes", 1, &min_bytes) ||
	    logd_proto_int_opt(m, NULL, "max_wait_ms", 0, &max_wait) ||
	    logd_proto_int_opt(m, NULL, "stream", 0, &stream))
		return native_bad(c, m);
	if (max_bytes < 1 || min_bytes < 0 || max_wait < 0)
		return native_error(c, m->api, m->corr, LOGD_EPROTO,
		    "max_bytes must be >= 1, min_bytes and max_wait_ms >= 0");
	if (part < 0 || part > INT32_MAX)
		return native_error(c, m->api, m->corr, LOGD_ENOPART,
		    "no partition %lld", (long long)part);
	if (max_bytes > (int64_t)srv.cfg.max_frame_bytes)
		max_bytes = (int64_t)srv.cfg.max_frame_bytes;
	if (stream) {
		a.topic = topic;
		a.partition = (int32_t)part;
		a.offset = offset;
		a.max_bytes = max_bytes;
		a.min_bytes = min_bytes;
		a.max_wait_ms = max_wait;
		a.stream = stream;
		return native_stream_open(c, m, &a);
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return native_error(c, m->api, m->corr, -ENOMEM,
		    "out of memory");
	memcpy(f->topic, topic, sizeof(topic));
	f->w.c = c;
	f->w.api = m->api;
	f->w.corr = m->corr;
	f->w.in_call = 1;
	f->part.topic = f->topic;
	f->part.partition = (int32_t)part;
	f->part.offset = offset;
	f->part.max_bytes = (size_t)max_bytes;
	f->op.parts = &f->part;
	f->op.nparts = 1;
	f->op.min_bytes = (size_t)min_bytes;
	f->op.max_wait_ms = max_wait;
	f->op.done = fetch_done;
	f->op.arg = f;
	broker_fetch(&f->op);
	if (conn_wait_after(&f->w, fetch_drop))
		free(f);
}

static void native_list_offsets(struct conn *c, struct logd_msg *m)
{
	char topic[LOGD_TOPIC_NAME_MAX + 1], msg[BROKER_MSG_MAX];
	int64_t part, ts, off;
	struct nreply r;
	int rc;

	if (logd_proto_cstr(m, NULL, "topic", topic, sizeof(topic)) ||
	    logd_proto_int(m, NULL, "partition", &part) ||
	    logd_proto_int(m, NULL, "timestamp", &ts))
		return native_bad(c, m);
	if (part < 0 || part > INT32_MAX)
		return native_error(c, m->api, m->corr, LOGD_ENOPART, "topic "
		    "\"%s\" has no partition %lld", topic, (long long)part);
	rc = broker_list_offset(topic, (int32_t)part, ts, &off, msg,
	    sizeof(msg));
	if (rc)
		return native_error(c, m->api, m->corr, rc, "%s", msg);
	native_begin(&r, c, m->api, m->corr);
	msgpack_pack_map(&r.pk, 2);
	logd_pack_kv_int(&r.pk, "error", 0);
	logd_pack_kv_int(&r.pk, "offset", off);
	native_end(&r, 0);
}

/* ------------------------------------------------------------------ */
/* The protocol                                                        */
/* ------------------------------------------------------------------ */

static native_handler *const handlers[LOGD_API_COUNT] = {
	[LOGD_API_HELLO] = native_hello,
	[LOGD_API_METADATA] = native_metadata,
	[LOGD_API_CREATE] = native_create,
	[LOGD_API_DELETE] = native_delete,
	[LOGD_API_ALTER] = native_alter,
	[LOGD_API_PRODUCE] = native_produce,
	[LOGD_API_FETCH] = native_fetch,
	[LOGD_API_LIST_OFFSETS] = native_list_offsets,
	[LOGD_API_OFFSET_COMMIT] = native_offset_commit,
	[LOGD_API_OFFSET_FETCH] = native_offset_fetch,
	[LOGD_API_JOIN_GROUP] = native_join_group,
	[LOGD_API_HEARTBEAT] = native_heartbeat,
	[LOGD_API_LEAVE_GROUP] = native_leave_group,
	[LOGD_API_STATS] = native_stats,
	[LOGD_API_LIST_GROUPS] = native_list_groups,
	[LOGD_API_DELETE_GROUP] = native_delete_group,
	[LOGD_API_COMPACT] = native_compact,
	[LOGD_API_FETCH_CREDIT] = native_fetch_credit,
};

static int native_frame(struct conn *c, const char *p, size_t n, size_t *len)
{
	return logd_proto_frame(p, n, srv.cfg.max_frame_bytes, len);
}

static void native_request(struct conn *c, const char *p, size_t len)
{
	struct native_conn *nc = c->pstate;
	struct logd_msg m;
	int rc;

	rc = logd_proto_decode(p + LOGD_FRAME_HEADER, len - LOGD_FRAME_HEADER,
	    &nc->zone, &m);
	if (rc) {
		conn_warn(c->peer, "undecodable frame (%s): closing",
		    rc == LOGD_EPROTO ? m.err : logd_strerror(rc));
		native_error(c, 0, 0, rc, "undecodable frame: %s; closing the "
		    "connection", rc == LOGD_EPROTO ? m.err :
		    logd_strerror(rc));
		conn_shutdown(c);
		return;
	}
	if (m.api < 0 || m.api >= LOGD_API_COUNT) {
		native_error(c, m.api, m.corr, LOGD_EUNSUPPORTED,
		    "unknown api %d", (int)m.api);
		return;
	}
	log_debug("%s: %s corr %u", c->peer, logd_proto_api_name(m.api),
	    m.corr);
	stats_request(STATS_NATIVE, m.api);
	handlers[m.api](c, &m);
}

static void native_bad_frame(struct conn *c, int rc, const char *p, size_t n)
{
	const unsigned char *h = (const unsigned char *)p;
	uint32_t len = (uint32_t)h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3];
	const char *what = rc == LOGD_ETOOBIG ? "exceeds max_frame_bytes" :
	    "is invalid";

	conn_warn(c->peer, "frame length %u %s: closing", len, what);
	native_error(c, 0, 0, rc, "frame length %u %s (max %llu); closing "
	    "the connection", len, what,
	    (unsigned long long)srv.cfg.max_frame_bytes);
}

static int native_open(struct conn *c)
{
	struct native_conn *nc = calloc(1, sizeof(*nc));

	if (!nc || !msgpack_zone_init(&nc->zone, 8192)) {
		free(nc);
		return -ENOMEM;
	}
	c->pstate = nc;
	return 0;
}

static void native_close(struct conn *c)
{
	struct native_conn *nc = c->pstate;

	if (!nc)
		return;
	native_stream_free_all(nc);
	msgpack_zone_destroy(&nc->zone);
	free(nc);
	c->pstate = NULL;
}

const struct proto native_proto = {
	.name = "native",
	.frame = native_frame,
	.request = native_request,
	.error = native_bad_frame,
	.open = native_open,
	.close = native_close,
	.drained = native_stream_drained,
};
