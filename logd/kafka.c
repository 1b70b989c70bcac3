/*
 * kafka.c - Kafka's wire protocol: framing, the request header, the API
 * table and ApiVersions, and the reader and writer every Kafka request
 * uses (kafka.h).
 *
 * A request is a big-endian i32 size and then: api_key i16, api_version
 * i16, correlation_id i32, client_id (nullable string), the body.  Only
 * the non-flexible versions (before KIP-482's tagged fields) are
 * served; the clients logd is tested with need no more.  One exception:
 * an ApiVersions request at a version logd does not serve (librdkafka
 * sends v3 first) is answered in the v0 format with error 35
 * (UNSUPPORTED_VERSION) and logd's ranges, so the client retries at a
 * version both know.  Any other unknown API or version closes the
 * connection, as Kafka does.
 *
 * A connection's requests are served one at a time (serial): a request
 * that waits (a long-poll fetch, an acks=all produce, a join) holds the
 * next until its reply is queued, so replies go out in request order,
 * which Kafka's clients require.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

static const uint8_t *take(struct kreader *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->err || (size_t)(r->end - r->p) < n) {
		r->err = LOGD_EPROTO;
		return NULL;
	}
	r->p += n;
	return p;
}

int8_t kr_i8(struct kreader *r)
{
	const uint8_t *p = take(r, 1);

	return p ? (int8_t)p[0] : 0;
}

int16_t kr_i16(struct kreader *r)
{
	const uint8_t *p = take(r, 2);

	return p ? (int16_t)(p[0] << 8 | p[1]) : 0;
}

int32_t kr_i32(struct kreader *r)
{
	const uint8_t *p = take(r, 4);

	return p ? (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3]) : 0;
}

int64_t kr_i64(struct kreader *r)
{
	uint64_t hi = (uint32_t)kr_i32(r), lo = (uint32_t)kr_i32(r);

	return (int64_t)(hi << 32 | lo);
}

const char *kr_str(struct kreader *r, size_t *len)
{
	int16_t n = kr_i16(r);

	*len = 0;
	if (n < 0) {
		if (n != -1)
			r->err = LOGD_EPROTO;
		return NULL;
	}
	*len = (size_t)n;
	return (const char *)take(r, (size_t)n);
}

void kr_cstr(struct kreader *r, char *buf, size_t size)
{
	size_t len;
	const char *s = kr_str(r, &len);

	buf[0] = 0;
	if (!s)
		return;
	if (len >= size || memchr(s, 0, len)) {
		r->err = LOGD_EPROTO;
		return;
	}
	memcpy(buf, s, len);
	buf[len] = 0;
}

void kr_topic(struct kreader *r, char *buf)
{
	kr_cstr(r, buf, LOGD_TOPIC_NAME_MAX + 1);
}

const uint8_t *kr_bytes(struct kreader *r, size_t *len)
{
	int32_t n = kr_i32(r);

	*len = 0;
	if (n < 0) {
		if (n != -1)
			r->err = LOGD_EPROTO;
		return NULL;
	}
	*len = (size_t)n;
	return take(r, (size_t)n);
}

int32_t kr_array(struct kreader *r, size_t min_size)
{
	int32_t n = kr_i32(r);

	if (r->err)
		return 0;
	if (n == -1)
		return -1;
	if (n < 0 || (min_size && (size_t)n > (size_t)(r->end - r->p) /
	    min_size)) {
		r->err = LOGD_EPROTO;
		return 0;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

void kw_i8(struct obuf *b, int8_t v)
{
	obuf_append(b, &v, 1);
}

void kw_i16(struct obuf *b, int16_t v)
{
	uint8_t x[2] = { (uint8_t)((uint16_t)v >> 8), (uint8_t)v };

	obuf_append(b, x, 2);
}

void kw_i32(struct obuf *b, int32_t v)
{
	uint32_t u = (uint32_t)v;
	uint8_t x[4] = { (uint8_t)(u >> 24), (uint8_t)(u >> 16),
		(uint8_t)(u >> 8), (uint8_t)u };

	obuf_append(b, x, 4);
}

void kw_i64(struct obuf *b, int64_t v)
{
	kw_i32(b, (int32_t)((uint64_t)v >> 32));
	kw_i32(b, (int32_t)(uint32_t)v);
}

void kw_strn(struct obuf *b, const char *s, size_t len)
{
	if (!s) {
		kw_i16(b, -1);
		return;
	}
	if (len > INT16_MAX)
		len = INT16_MAX;
	kw_i16(b, (int16_t)len);
	obuf_append(b, s, len);
}

void kw_str(struct obuf *b, const char *s)
{
	kw_strn(b, s, s ? strlen(s) : 0);
}

void kw_bytes(struct obuf *b, const void *p, size_t len)
{
	if (!p) {
		kw_i32(b, -1);
		return;
	}
	kw_i32(b, (int32_t)len);
	obuf_append(b, p, len);
}

void kw_put_i32(struct obuf *b, size_t pos, int32_t v)
{
	uint32_t u = (uint32_t)v;
	uint8_t *x;

	if (b->err || pos + 4 > b->len)
		return;
	x = (uint8_t *)b->data + pos;
	x[0] = (uint8_t)(u >> 24);
	x[1] = (uint8_t)(u >> 16);
	x[2] = (uint8_t)(u >> 8);
	x[3] = (uint8_t)u;
}

/* The api whose reply is being written, for the error counts. */
static int cur_api = -1;

size_t kafka_begin(const struct kreq *q)
{
	size_t start = q->c->out.len;

	kw_i32(&q->c->out, 0);
	kw_i32(&q->c->out, q->corr);
	return start;
}

size_t kafka_begin_wait(const struct rwait *w)
{
	size_t start = w->c->out.len;

	cur_api = w->api;
	kw_i32(&w->c->out, 0);
	kw_i32(&w->c->out, (int32_t)w->corr);
	return start;
}

void kafka_end(struct conn *c, size_t start)
{
	if (c->out.err) {
		conn_close(c, "out of memory writing a reply");
		return;
	}
	kw_put_i32(&c->out, start, (int32_t)(c->out.len - start - 4));
	conn_touch(c);
}

void kafka_wait_init(struct rwait *w, const struct kreq *q)
{
	w->c = q->c;
	w->api = q->api;
	w->version = q->version;
	w->corr = (uint32_t)q->corr;
	w->in_call = 1;
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static int16_t kafka_code(int rc);

int16_t kafka_error(int rc)
{
	int16_t code = kafka_code(rc);

	if (code)
		stats_error(STATS_KAFKA, cur_api, code);
	return code;
}

static int16_t kafka_code(int rc)
{
	switch (rc) {
	case 0:
		return KERR_NONE;
	case LOGD_ERANGE:
		return KERR_OFFSET_OUT_OF_RANGE;
	case LOGD_EBADBATCH:
	case LOGD_ECRC:
	case LOGD_ECORRUPT:
		return KERR_CORRUPT_MESSAGE;
	case LOGD_ENOTOPIC:
	case LOGD_ENOPART:
		return KERR_UNKNOWN_TOPIC_OR_PARTITION;
	case LOGD_ETOOBIG:
	case LOGD_EFULL:
		return KERR_MESSAGE_TOO_LARGE;
	case LOGD_ETIMESTAMP:
		return KERR_INVALID_TIMESTAMP;
	case LOGD_ETOPICEXIST:
		return KERR_TOPIC_ALREADY_EXISTS;
	case LOGD_EBADNAME:
		return KERR_INVALID_TOPIC;
	case LOGD_EBADCONFIG:
		return KERR_INVALID_CONFIG;
	case LOGD_EREADONLY:
	case -EIO:
	case -ENOSPC:
		return KERR_KAFKA_STORAGE_ERROR;
	case LOGD_EGENERATION:
		return KERR_ILLEGAL_GENERATION;
	case LOGD_EMEMBER:
		return KERR_UNKNOWN_MEMBER_ID;
	case LOGD_EREBALANCE:
		return KERR_REBALANCE_IN_PROGRESS;
	case LOGD_ENOGROUP:
		return KERR_GROUP_ID_NOT_FOUND;
	case LOGD_EINCONSISTENT:
		return KERR_INCONSISTENT_GROUP_PROTOCOL;
	case LOGD_EMEMBERREQ:
		return KERR_MEMBER_ID_REQUIRED;
	case LOGD_ESEQUENCE:
		return KERR_OUT_OF_ORDER_SEQUENCE;
	case LOGD_EFENCED:
		return KERR_INVALID_PRODUCER_EPOCH;
	case LOGD_ENOKEY:
		return KERR_INVALID_RECORD;
	case LOGD_ECLOSED:
		return KERR_COORDINATOR_NOT_AVAILABLE;
	case LOGD_EPROTO:
		return KERR_INVALID_REQUEST;
	default:
		return KERR_UNKNOWN;
	}
}

/* ------------------------------------------------------------------ */
/* The API table, ApiVersions                                          */
/* ------------------------------------------------------------------ */

static void kafka_api_versions(struct kreq *q);

/* Versions before flexible encodings (KIP-482) only. */
static const struct kapi apis[] = {
	/* From 0, though v0-2 carry only old message formats, which logd
	 * refuses (CORRUPT_MESSAGE) and cannot serve: librdkafka turns
	 * compression off against a broker without Produce v0. */
	{ 0, 0, 7, kafka_produce },
	{ 1, 0, 11, kafka_fetch },
	{ 2, 0, 2, kafka_list_offsets },
	{ 3, 0, 5, kafka_metadata },
	{ 8, 0, 7, kafka_offset_commit },
	{ 9, 0, 5, kafka_offset_fetch },
	{ 10, 0, 2, kafka_find_coordinator },
	{ 11, 0, 5, kafka_join_group },
	{ 12, 0, 3, kafka_heartbeat },
	{ 13, 0, 3, kafka_leave_group },
	{ 14, 0, 3, kafka_sync_group },
	{ 15, 0, 4, kafka_describe_groups },
	{ 16, 0, 2, kafka_list_groups },
	{ 18, 0, 2, kafka_api_versions },
	{ 19, 0, 4, kafka_create_topics },
	{ 20, 0, 3, kafka_delete_topics },
	{ 22, 0, 1, kafka_init_producer_id },
	{ 32, 0, 2, kafka_describe_configs },
};

#define NAPIS (sizeof(apis) / sizeof(apis[0]))
#define API_VERSIONS 18

static void kafka_api_versions(struct kreq *q)
{
	struct obuf *b = &q->c->out;
	size_t start = kafka_begin(q), i;
	int ok = q->version <= 2;

	kw_i16(b, ok ? KERR_NONE : KERR_UNSUPPORTED_VERSION);
	kw_i32(b, (int32_t)NAPIS);
	for (i = 0; i < NAPIS; i++) {
		kw_i16(b, apis[i].key);
		kw_i16(b, apis[i].min);
		kw_i16(b, apis[i].max);
	}
	if (ok && q->version >= 1)
		kw_i32(b, 0);     /* throttle_time_ms */
	kafka_end(q->c, start);
}

static const struct kapi *find_api(int16_t key)
{
	size_t i;

	for (i = 0; i < NAPIS; i++)
		if (apis[i].key == key)
			return &apis[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The protocol                                                        */
/* ------------------------------------------------------------------ */

/* A warning about a client: rate-limited with the others (conn.c). */
static void warn_client(const struct conn *c, const char *what)
{
	conn_warn(c->peer, "%s: closing", what);
}

static int kafka_frame(struct conn *c, const char *p, size_t n, size_t *len)
{
	const uint8_t *u = (const uint8_t *)p;
	uint32_t size;

	if (n < 4)
		return -EAGAIN;
	size = (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 |
	    (uint32_t)u[2] << 8 | u[3];
	if (size < 8 || size > srv.cfg.max_frame_bytes || size > INT32_MAX)
		return size < 8 ? LOGD_EPROTO : LOGD_ETOOBIG;
	*len = 4 + (size_t)size;
	return n >= *len ? 0 : -EAGAIN;
}

static void kafka_request(struct conn *c, const char *p, size_t len)
{
	struct kreq q = { .c = c };
	const struct kapi *api;
	char what[128];

	q.r.p = (const uint8_t *)p + 4;
	q.r.end = (const uint8_t *)p + len;
	q.api = kr_i16(&q.r);
	q.version = kr_i16(&q.r);
	q.corr = kr_i32(&q.r);
	kr_cstr(&q.r, q.client_id, sizeof(q.client_id));
	if (q.r.err) {
		warn_client(c, "malformed Kafka request header");
		conn_shutdown(c);
		return;
	}
	stats_request(STATS_KAFKA, q.api);
	cur_api = q.api;
	api = find_api(q.api);
	if (api && (q.version < api->min || q.version > api->max) &&
	    q.api != API_VERSIONS)
		api = NULL;
	if (!api) {
		snprintf(what, sizeof(what), "Kafka API %d version %d is not "
		    "supported", q.api, q.version);
		warn_client(c, what);
		conn_shutdown(c);
		return;
	}
	log_debug("%s: kafka api %d v%d corr %d (%s)", c->peer, q.api,
	    q.version, q.corr, q.client_id);
	api->fn(&q);
	if (c->state == CONN_OPEN && q.r.err && !c->nparked) {
		/* A handler that found the body malformed wrote nothing. */
		snprintf(what, sizeof(what), "malformed Kafka API %d v%d "
		    "request", q.api, q.version);
		warn_client(c, what);
		conn_shutdown(c);
	}
}

static void kafka_bad_frame(struct conn *c, int rc, const char *p, size_t n)
{
	warn_client(c, rc == LOGD_ETOOBIG ? "Kafka request size exceeds "
	    "max_frame_bytes" : "Kafka request size is invalid");
}

const struct proto kafka_proto = {
	.name = "kafka",
	.serial = 1,
	.frame = kafka_frame,
	.request = kafka_request,
	.error = kafka_bad_frame,
};

/* ------------------------------------------------------------------ */
/* The address clients are told                                        */
/* ------------------------------------------------------------------ */

void kafka_advertised(char *host, size_t size, int32_t *port)
{
	const char *spec = srv.cfg.kafka_advertised[0] ?
	    srv.cfg.kafka_advertised : srv.cfg.kafka_listen;
	const char *colon = strrchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
	int p = colon ? atoi(colon + 1) : 9092;

	if (n >= 2 && spec[0] == '[' && spec[n - 1] == ']') {
		spec++;
		n -= 2;
	}
	if (n >= size)
		n = size - 1;
	memcpy(host, spec, n);
	host[n] = 0;
	if (!host[0])
		snprintf(host, size, "127.0.0.1");
	if (!srv.cfg.kafka_advertised[0] && p == 0)
		p = listen_port(&kafka_proto);
	*port = p;
}
