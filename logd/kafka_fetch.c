/*
 * kafka_fetch.c - Kafka's Fetch and ListOffsets.
 *
 * A Fetch names partitions and offsets; the broker reads whole stored
 * batches (long-polling for min_bytes up to max_wait), and the response
 * is written around them: its header and per-partition fields go into a
 * side buffer, then out in pieces with each partition's stored batches
 * queued between them (conn_push_read), straight from the segment maps.
 * No fetch sessions (session id 0, every request full), no transactions
 * (last stable offset = high watermark, no aborted transactions), one
 * replica (preferred read replica -1).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

#define TOPIC_SIZE (LOGD_TOPIC_NAME_MAX + 1)

struct kfetch {
	struct rwait w;
	struct fetch_op op;
	struct fetch_part *parts;
	int32_t *topic_of;
	char (*topics)[TOPIC_SIZE];
	int32_t ntopics;
	size_t *cut;               /* side-buffer offset of each part's bytes */
};

static void kfetch_free(struct kfetch *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; f->parts && i < f->op.nparts; i++)
		logd_log_read_release(&f->parts[i].rd);
	free(f->parts);
	free(f->topic_of);
	free(f->topics);
	free(f->cut);
	free(f);
}

/* Writes the response header and fields into b, noting the cuts. */
static void fetch_fields(struct kfetch *f, struct obuf *b)
{
	int16_t v = f->w.version;
	size_t i = 0;
	int32_t t;

	kw_i32(b, (int32_t)f->w.corr);
	if (v >= 1)
		kw_i32(b, 0);             /* throttle */
	if (v >= 7) {
		kw_i16(b, 0);
		kw_i32(b, 0);             /* session id: none */
	}
	kw_i32(b, f->ntopics);
	for (t = 0; t < f->ntopics; t++) {
		size_t k = i;

		while (k < f->op.nparts && f->topic_of[k] == t)
			k++;
		kw_str(b, f->topics[t]);
		kw_i32(b, (int32_t)(k - i));
		for (; i < k; i++) {
			struct fetch_part *fp = &f->parts[i];
			int16_t e = kafka_error(fp->err);

			kw_i32(b, fp->partition);
			kw_i16(b, e);
			kw_i64(b, fp->end);           /* high watermark */
			if (v >= 4)
				kw_i64(b, fp->end);   /* last stable */
			if (v >= 5)
				kw_i64(b, fp->start);
			if (v >= 4)
				kw_i32(b, 0);         /* aborted txns */
			if (v >= 11)
				kw_i32(b, -1);        /* read replica */
			kw_i32(b, (int32_t)fp->rd.len);
			f->cut[i] = b->len;
		}
	}
}

static void fetch_reply(struct kfetch *f)
{
	struct conn *c = f->w.c;
	struct obuf side = { 0 };
	size_t i, pos = 0, total;

	fetch_fields(f, &side);
	if (side.err) {
		obuf_free(&side);
		conn_close(c, "out of memory writing a reply");
		return;
	}
	total = side.len;
	for (i = 0; i < f->op.nparts; i++)
		total += f->parts[i].rd.len;
	kw_i32(&c->out, (int32_t)total);
	for (i = 0; i < f->op.nparts; i++) {
		struct fetch_part *fp = &f->parts[i];

		obuf_append(&c->out, side.data + pos, f->cut[i] - pos);
		pos = f->cut[i];
		if (!fp->rd.len)
			continue;
		conn_push_read(c, &fp->rd);
	}
	obuf_append(&c->out, side.data + pos, side.len - pos);
	obuf_free(&side);
	if (c->out.err) {
		conn_close(c, "out of memory writing a reply");
		return;
	}
	conn_touch(c);
}

static void fetch_done(struct fetch_op *op)
{
	struct kfetch *f = op->arg;

	if (conn_wait_answering(&f->w))
		fetch_reply(f);
	if (!f->w.in_call)
		kfetch_free(f);
}

static void fetch_drop(struct parked *park)
{
	struct kfetch *f = (struct kfetch *)(void *)park;

	broker_fetch_cancel(&f->op);
	kfetch_free(f);
}

static int fetch_room(struct kfetch *f, size_t n, size_t *cap)
{
	void *a, *b, *c;

	if (n <= *cap)
		return 0;
	*cap = *cap ? *cap * 2 : 16;
	a = realloc(f->parts, *cap * sizeof(*f->parts));
	if (a)
		f->parts = a;
	b = realloc(f->topic_of, *cap * sizeof(*f->topic_of));
	if (b)
		f->topic_of = b;
	c = realloc(f->cut, *cap * sizeof(*f->cut));
	if (c)
		f->cut = c;
	return a && b && c ? 0 : -ENOMEM;
}

static int fetch_decode(struct kreq *q, struct kfetch *f)
{
	struct kreader *r = &q->r;
	size_t cap = 0, n = 0;
	int32_t t, k, np;

	f->ntopics = kr_array(r, 6);
	if (f->ntopics < 0)
		f->ntopics = 0;
	f->topics = calloc((size_t)f->ntopics + 1, sizeof(*f->topics));
	if (!f->topics)
		return -ENOMEM;
	for (t = 0; t < f->ntopics && !r->err; t++) {
		kr_topic(r, f->topics[t]);
		np = kr_array(r, 16);
		for (k = 0; k < np && !r->err; k++) {
			struct fetch_part *fp;
			int32_t max;

			if (fetch_room(f, n + 1, &cap))
				return -ENOMEM;
			fp = &f->parts[n];
			memset(fp, 0, sizeof(*fp));
			fp->topic = f->topics[t];
			fp->partition = kr_i32(r);
			if (q->version >= 9)
				kr_i32(r);        /* current leader epoch */
			fp->offset = kr_i64(r);
			if (q->version >= 5)
				kr_i64(r);        /* follower's log start */
			max = kr_i32(r);
			fp->max_bytes = max > 0 ? (size_t)max : 1;
			f->topic_of[n++] = t;
		}
	}
	f->op.parts = f->parts;
	f->op.nparts = n;
	return r->err;
}

/* v7+'s forgotten topics and v11's rack: read past them. */
static void fetch_skip_tail(struct kreq *q)
{
	struct kreader *r = &q->r;
	size_t len;
	int32_t n, i, k, np;

	if (q->version < 7)
		return;
	n = kr_array(r, 6);
	for (i = 0; i < n && !r->err; i++) {
		kr_str(r, &len);
		np = kr_array(r, 4);
		for (k = 0; k < np && !r->err; k++)
			kr_i32(r);
	}
	if (q->version >= 11)
		kr_str(r, &len);
}

void kafka_fetch(struct kreq *q)
{
	struct kfetch *f = calloc(1, sizeof(*f));
	int32_t max_wait, min_bytes, max_bytes;

	if (!f) {
		q->r.err = -ENOMEM;
		return;
	}
	kr_i32(&q->r);                    /* replica id */
	max_wait = kr_i32(&q->r);
	min_bytes = kr_i32(&q->r);
	max_bytes = q->version >= 3 ? kr_i32(&q->r) : 0;
	if (q->version >= 4)
		kr_i8(&q->r);             /* isolation level */
	if (q->version >= 7) {
		kr_i32(&q->r);            /* session id */
		kr_i32(&q->r);            /* session epoch */
	}
	if (fetch_decode(q, f) || (fetch_skip_tail(q), q->r.err)) {
		if (!q->r.err)
			q->r.err = -ENOMEM;
		kfetch_free(f);
		return;
	}
	kafka_wait_init(&f->w, q);
	f->op.max_bytes = max_bytes > 0 ? (size_t)max_bytes : 0;
	f->op.min_bytes = min_bytes > 0 ? (size_t)min_bytes : 0;
	f->op.max_wait_ms = max_wait > 0 ? max_wait : 0;
	f->op.done = fetch_done;
	f->op.arg = f;
	broker_fetch(&f->op);
	if (conn_wait_after(&f->w, fetch_drop))
		kfetch_free(f);
}

/* ------------------------------------------------------------------ */
/* ListOffsets                                                         */
/* ------------------------------------------------------------------ */

static int past_end(const char *topic, int32_t part, int64_t off)
{
	struct logd_log *log;

	return !broker_log(topic, part, &log) &&
	    off >= logd_log_end_offset(log);
}

void kafka_list_offsets(struct kreq *q)
{
	struct kreader *r = &q->r;
	struct obuf *b = &q->c->out;
	char topic[TOPIC_SIZE], msg[BROKER_MSG_MAX];
	int32_t nt, t, np, k, part;
	int64_t ts, off;
	size_t start;
	int rc;

	kr_i32(r);                        /* replica id */
	if (q->version >= 2)
		kr_i8(r);                 /* isolation level */
	nt = kr_array(r, 6);
	if (r->err)
		return;
	/* Answer as we read: every field is checked before it is used. */
	start = kafka_begin(q);
	if (q->version >= 2)
		kw_i32(b, 0);             /* throttle */
	kw_i32(b, nt < 0 ? 0 : nt);
	for (t = 0; t < nt && !r->err; t++) {
		kr_topic(r, topic);
		np = kr_array(r, q->version == 0 ? 16 : 12);
		kw_str(b, topic);
		kw_i32(b, np < 0 ? 0 : np);
		for (k = 0; k < np && !r->err; k++) {
			part = kr_i32(r);
			ts = kr_i64(r);
			if (q->version == 0)
				kr_i32(r);        /* max offsets */
			rc = r->err ? LOGD_EPROTO : broker_list_offset(topic,
			    part, ts, &off, msg, sizeof(msg));
			/* No record at or after the time: Kafka says -1. */
			if (!rc && ts >= 0 && past_end(topic, part, off))
				off = -1;
			kw_i32(b, part);
			kw_i16(b, kafka_error(rc));
			if (q->version == 0) {
				kw_i32(b, rc || off < 0 ? 0 : 1);
				if (!rc && off >= 0)
					kw_i64(b, off);
			} else {
				kw_i64(b, -1);    /* timestamp */
				kw_i64(b, rc ? -1 : off);
			}
		}
	}
	if (r->err) {
		/* Malformed: take back what was written; the caller closes. */
		b->len = start;
		return;
	}
	kafka_end(q->c, start);
}
