/*
 * client_producer.c - the producer: per-partition batch builders sent as
 * pipelined PRODUCE requests, with per-record delivery results.
 *
 * Design.  Each (topic, partition) the application writes to has a batch
 * builder (lib/batch.c).  A record is encoded into its partition's
 * builder at once, so the caller's buffers are free when send returns.
 * A batch goes out as one PRODUCE request when it reaches batch_bytes or
 * batch_records, when it is linger_ms old, or, with linger_ms 0, as soon
 * as its partition has fewer than PP_EAGER requests in flight: an idle
 * producer sends each record at once (low latency) while a busy one
 * fills batches behind the requests in flight (high throughput), with
 * no timer thread.
 *
 * Requests are pipelined up to max_in_flight; the broker appends the
 * requests of one connection in order, so records keep their send order
 * per partition.  Each request carries a small record of what it holds
 * (partition, count, opaques) and its reply turns into one delivery per
 * record: offset base_offset + i, or the error.  With acks 0 there is no
 * reply: records count as delivered (offset -1) once queued.
 *
 * Nothing runs in the background: replies are handled whenever a
 * producer, consumer or client call on the same client waits or polls.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

#define PP_DEFAULT_BATCH_BYTES (256u << 10)
#define PP_DEFAULT_IN_FLIGHT 32
/* With acks 0, stop queuing while this much is unwritten. */
#define PP_ACKS0_BACKLOG (8u << 20)
/*
 * With linger 0, a partition's records go out at once while it has
 * fewer than PP_EAGER requests in flight (low latency even when the
 * round trip is longer than the gap between records); past that they
 * gather into a batch, so a producer that outruns the broker sends full
 * batches.  send() looks for acks at most every PP_PEEK_US.
 */
#define PP_EAGER 4
#define PP_PEEK_US 100
/* Record overhead beyond key and value, for the batch_bytes check. */
#define PP_RECORD_OVERHEAD 24

struct pp_part {
	struct logd_batch_builder *b;
	int32_t count;            /* records in b */
	int32_t inflight;         /* requests of this partition in flight */
	int64_t first_ms;         /* monotonic time of the first record in b */
	void **opaques;           /* count of them, when on_delivery is set */
	int32_t opq_cap;
};

struct pp_topic {
	char *name;
	int32_t nparts;
	int32_t sticky;           /* partition for unkeyed records */
	struct pp_part *parts;
	struct pp_topic *next;
};

/* What one PRODUCE request in flight holds. */
struct pp_req {
	struct logd_producer *p;
	struct pp_topic *t;
	int32_t partition;
	int32_t count;
	void **opaques;
};

struct logd_producer {
	struct logd_client *c;
	struct logd_producer_options o;
	struct pp_topic *topics;
	struct pp_topic *last;    /* topic of the previous send */
	int inflight;             /* requests awaiting replies */
	int nonempty;             /* partitions with unsent records */
	int first_err;            /* since the last flush */
	int64_t unacked;          /* records taken, not yet delivered */
	int64_t last_sweep;
	int64_t last_peek_us;     /* last look for acks from send() */
	struct logd_producer_stats st;
};

void
logd_producer_options_default(struct logd_producer_options *o)
{
	memset(o, 0, sizeof(*o));
	o->acks = 1;
}

int
logd_producer_new(struct logd_client *c,
    const struct logd_producer_options *opts, struct logd_producer **out)
{
	struct logd_producer *p;

	if (opts != NULL && opts->acks != 0 && opts->acks != 1 &&
	    opts->acks != LOGD_ACKS_ALL)
		return cl_seterr(c, -EINVAL, "acks must be 0, 1 or -1 (all)");
	if (opts != NULL && (opts->linger_ms < 0 || opts->max_in_flight < 0 ||
	    opts->batch_records < 0))
		return cl_seterr(c, -EINVAL, "negative producer option");
	if (opts != NULL && (opts->codec < LOGD_CODEC_NONE ||
	    opts->codec > LOGD_CODEC_ZSTD))
		return cl_seterr(c, -EINVAL, "unknown codec %d", opts->codec);
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->c = c;
	if (opts != NULL)
		p->o = *opts;
	else
		logd_producer_options_default(&p->o);
	if (p->o.batch_bytes == 0)
		p->o.batch_bytes = PP_DEFAULT_BATCH_BYTES;
	if (p->o.batch_bytes > LOGD_BATCH_MAX_SIZE / 2)
		p->o.batch_bytes = LOGD_BATCH_MAX_SIZE / 2;
	if (p->o.max_in_flight == 0)
		p->o.max_in_flight = PP_DEFAULT_IN_FLIGHT;
	*out = p;
	return 0;
}

static void
pp_deliver(struct logd_producer *p, struct pp_topic *t, int32_t partition,
    int32_t count, void **opaques, int64_t base, int err)
{
	struct logd_delivery d;
	int32_t i;

	p->unacked -= count;
	if (err != 0) {
		p->st.records_failed += (uint64_t)count;
		if (p->first_err == 0)
			p->first_err = err;
	} else {
		p->st.records_acked += (uint64_t)count;
	}
	if (p->o.on_delivery == NULL)
		return;
	d.topic = t->name;
	d.partition = partition;
	d.error = err;
	for (i = 0; i < count; i++) {
		d.offset = err == 0 && base >= 0 ? base + i : -1;
		d.opaque = opaques != NULL ? opaques[i] : NULL;
		p->o.on_delivery(p->o.arg, &d);
	}
}

static void
pp_done(struct logd_client *c, void *arg, int err, struct logd_msg *m,
    struct cl_frame *f)
{
	struct pp_req *rq = arg;
	struct logd_producer *p = rq->p;
	int64_t base = -1, part = rq->partition;

	if (err == 0 &&
	    (logd_proto_int(m, NULL, "base_offset", &base) < 0 ||
	    logd_proto_int_opt(m, NULL, "partition", rq->partition,
	    &part) < 0 || part != rq->partition)) {
		cl_seterr(c, LOGD_EPROTO, "bad produce reply: %s", m->err);
		err = LOGD_EPROTO;
	}
	p->inflight--;
	rq->t->parts[rq->partition].inflight--;
	pp_deliver(p, rq->t, rq->partition, rq->count, rq->opaques, base, err);
	free(rq->opaques);
	free(rq);
}

/* Waits until another request may be sent. */
static int
pp_wait_slot(struct logd_producer *p)
{
	int r;

	for (;;) {
		if (p->o.acks == 0 ? cl_unsent(p->c) < PP_ACKS0_BACKLOG :
		    p->inflight < p->o.max_in_flight)
			return 0;
		r = logd_client_poll(p->c, -1);
		if (r < 0)
			return r;
	}
}

/* Sends the batch of t's partition pn as one PRODUCE request. */
static int
pp_send_part(struct logd_producer *p, struct pp_topic *t, int32_t pn)
{
	struct pp_part *pt = &t->parts[pn];
	struct pp_req *rq = NULL;
	const uint8_t *batch;
	msgpack_packer *pk;
	size_t len;
	int r;

	if (pt->count == 0)
		return 0;
	r = pp_wait_slot(p);
	if (r < 0)
		return r;
	if (pt->count == 0) /* cannot happen: the builder is ours */
		return 0;
	r = logd_batch_builder_finish(pt->b, &batch, &len);
	if (r < 0)
		return cl_seterr(p->c, r, "cannot finish batch: %s",
		    logd_strerror(r));
	if (p->o.acks != 0) {
		rq = malloc(sizeof(*rq));
		if (rq == NULL)
			return -ENOMEM;
		rq->p = p;
		rq->t = t;
		rq->partition = pn;
		rq->count = pt->count;
		rq->opaques = pt->opaques;
	}
	r = cl_req_begin(p->c, LOGD_API_PRODUCE, &pk);
	if (r < 0) {
		free(rq);
		return r;
	}
	msgpack_pack_map(pk, 4);
	logd_pack_kv_str(pk, "topic", t->name);
	logd_pack_kv_int(pk, "partition", pn);
	logd_pack_kv_int(pk, "acks", p->o.acks);
	logd_pack_kv_bin(pk, "records", batch, len);
	if (rq != NULL) {
		/* Counted first: a write failure calls pp_done at once. */
		p->inflight++;
		pt->inflight++;
	}
	r = cl_req_end(p->c, rq != NULL ? pp_done : NULL, rq, 0);
	if (r < 0) {
		if (rq != NULL) {
			p->inflight--;
			pt->inflight--;
			free(rq);
		}
		return r;
	}
	/* From here on the records' fate comes through pp_done. */
	p->st.requests++;
	p->st.bytes += len;
	if (rq != NULL) {
		pt->opaques = NULL;
		pt->opq_cap = 0;
	} else {
		pp_deliver(p, t, pn, pt->count, pt->opaques, -1, 0);
	}
	pt->count = 0;
	p->nonempty--;
	logd_batch_builder_reset(pt->b);
	if (pn == t->sticky)
		t->sticky = (t->sticky + 1) % t->nparts;
	return 0;
}

/* Sends every batch that is due (all of them when all is set). */
static int
pp_sweep(struct logd_producer *p, int all)
{
	int64_t now = cl_now_ms();
	struct pp_topic *t;
	int32_t i;
	int r;

	p->last_sweep = now;
	for (t = p->topics; t != NULL && p->nonempty > 0; t = t->next) {
		for (i = 0; i < t->nparts; i++) {
			struct pp_part *pt = &t->parts[i];

			if (pt->count == 0)
				continue;
			if (all || (p->o.linger_ms == 0 ?
			    pt->inflight < PP_EAGER :
			    now - pt->first_ms >= p->o.linger_ms)) {
				r = pp_send_part(p, t, i);
				if (r < 0)
					return r;
			}
		}
	}
	return 0;
}

static int
pp_topic_get(struct logd_producer *p, const char *name, struct pp_topic **out)
{
	struct pp_topic *t;
	int32_t n;
	int r;

	if (p->last != NULL && strcmp(p->last->name, name) == 0) {
		*out = p->last;
		return 0;
	}
	for (t = p->topics; t != NULL; t = t->next)
		if (strcmp(t->name, name) == 0)
			goto found;
	r = cl_partition_count(p->c, name, &n);
	if (r < 0)
		return r;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->parts = calloc((size_t)n, sizeof(*t->parts));
	t->name = strdup(name);
	if (t->parts == NULL || t->name == NULL) {
		free(t->parts);
		free(t->name);
		free(t);
		return -ENOMEM;
	}
	t->nparts = n;
	t->next = p->topics;
	p->topics = t;
found:
	p->last = t;
	*out = t;
	return 0;
}

/* A partition's batch builder, with the producer's codec. */
static int
pp_builder_new(struct logd_producer *p, struct logd_batch_builder **b)
{
	int r = logd_batch_builder_new(b);

	if (r == 0)
		r = logd_batch_builder_set_codec(*b, p->o.codec);
	return r;
}

/* The partition for m: its own, by key, or the topic's sticky one. */
static int
pp_choose(struct logd_producer *p, const struct pp_topic *t,
    const struct logd_message *m, int32_t *pn)
{
	if (m->partition >= 0) {
		if (m->partition >= t->nparts)
			return cl_seterr(p->c, LOGD_ENOPART, "topic %s has no "
			    "partition %d", t->name, (int)m->partition);
		*pn = m->partition;
	} else if (m->partition != LOGD_PARTITION_ANY) {
		return cl_seterr(p->c, -EINVAL, "bad partition %d",
		    (int)m->partition);
	} else if (m->key != NULL) {
		*pn = logd_partition_for_key(m->key, m->key_len, t->nparts);
	} else {
		*pn = t->sticky;
	}
	return 0;
}

/* After a record was added to partition pn: send what is due. */
static int
pp_after_add(struct logd_producer *p, struct pp_topic *t, int32_t pn,
    int64_t now_us)
{
	struct pp_part *pt = &t->parts[pn];
	int r;

	/*
	 * Linger 0: a record waits only while its partition has PP_EAGER
	 * requests in flight.  Acks may already be on the socket: look
	 * (without waiting, at most every PP_PEEK_US, so a tight loop pays
	 * little).
	 */
	if (p->o.linger_ms == 0 && pt->inflight >= PP_EAGER &&
	    now_us - p->last_peek_us >= PP_PEEK_US) {
		p->last_peek_us = now_us;
		r = logd_client_poll(p->c, 0);
		if (r < 0)
			return r;
	}
	if (logd_batch_builder_size(pt->b) >= p->o.batch_bytes ||
	    (p->o.batch_records > 0 && pt->count >= p->o.batch_records) ||
	    (p->o.linger_ms == 0 && pt->inflight < PP_EAGER &&
	    cl_unsent(p->c) == 0)) {
		r = pp_send_part(p, t, pn);
		if (r < 0)
			return r;
	}
	if (p->o.linger_ms > 0 && p->nonempty > 0 &&
	    cl_now_ms() - p->last_sweep >= 1)
		return pp_sweep(p, 0);
	return 0;
}

int
logd_producer_send(struct logd_producer *p, const struct logd_message *m)
{
	struct pp_topic *t;
	struct pp_part *pt;
	int64_t now_us;
	int32_t pn = 0;
	size_t est;
	int r;

	if (m->topic == NULL)
		return cl_seterr(p->c, -EINVAL, "message without a topic");
	r = pp_topic_get(p, m->topic, &t);
	if (r < 0)
		return r;
	r = pp_choose(p, t, m, &pn);
	if (r < 0)
		return r;
	pt = &t->parts[pn];
	if (pt->b == NULL && (r = pp_builder_new(p, &pt->b)) < 0)
		return r;
	est = (m->key ? m->key_len : 0) + (m->value ? m->value_len : 0) +
	    PP_RECORD_OVERHEAD;
	if (pt->count > 0 &&
	    logd_batch_builder_size(pt->b) + est > p->o.batch_bytes) {
		r = pp_send_part(p, t, pn);
		if (r < 0)
			return r;
		if (m->key == NULL && m->partition < 0) {
			pn = t->sticky;
			pt = &t->parts[pn];
			if (pt->b == NULL &&
			    (r = pp_builder_new(p, &pt->b)) < 0)
				return r;
		}
	}
	if (p->o.on_delivery != NULL && pt->count >= pt->opq_cap) {
		int32_t cap = pt->opq_cap ? pt->opq_cap * 2 : 64;
		void **o = realloc(pt->opaques, (size_t)cap * sizeof(*o));

		if (o == NULL)
			return -ENOMEM;
		pt->opaques = o;
		pt->opq_cap = cap;
	}
	now_us = cl_wall_us();
	r = logd_batch_builder_add(pt->b,
	    m->timestamp ? m->timestamp : now_us / 1000, m->key, m->key_len,
	    m->value, m->value_len, m->headers, m->header_count);
	if (r < 0)
		return cl_seterr(p->c, r, "cannot add record: %s",
		    logd_strerror(r));
	if (p->o.on_delivery != NULL)
		pt->opaques[pt->count] = m->opaque;
	if (pt->count++ == 0) {
		pt->first_ms = cl_now_ms();
		p->nonempty++;
	}
	p->unacked++;
	p->st.records_sent++;
	return pp_after_add(p, t, pn, now_us);
}

int
logd_producer_poll(struct logd_producer *p, int timeout_ms)
{
	int r;

	if (timeout_ms < 0) {
		r = logd_producer_flush(p);
		return r < 0 && p->unacked > 0 ? r : (int)p->unacked;
	}
	r = pp_sweep(p, 0);
	if (r < 0)
		return r;
	if (p->inflight > 0 || cl_unsent(p->c) > 0) {
		r = logd_client_poll(p->c, timeout_ms);
		if (r < 0)
			return r;
		r = pp_sweep(p, 0);
		if (r < 0)
			return r;
	}
	return p->unacked > INT32_MAX ? INT32_MAX : (int)p->unacked;
}

int
logd_producer_flush(struct logd_producer *p)
{
	int r;

	r = pp_sweep(p, 1);
	while (r == 0 && (p->inflight > 0 || cl_unsent(p->c) > 0)) {
		r = logd_client_poll(p->c, -1);
		if (r > 0)
			r = 0;
	}
	if (r == 0) {
		r = p->first_err;
		p->first_err = 0;
		if (r < 0)
			cl_seterr(p->c, r, "%llu records failed, first: %s",
			    (unsigned long long)p->st.records_failed,
			    logd_strerror(r));
	}
	return r;
}

void
logd_producer_stats(const struct logd_producer *p,
    struct logd_producer_stats *st)
{
	*st = p->st;
}

int
logd_producer_close(struct logd_producer *p)
{
	struct pp_topic *t, *next;
	int r, i;

	if (p == NULL)
		return 0;
	r = logd_producer_flush(p);
	for (t = p->topics; t != NULL; t = next) {
		next = t->next;
		for (i = 0; i < t->nparts; i++) {
			/* Never sent (the flush failed): report them. */
			if (t->parts[i].count > 0)
				pp_deliver(p, t, i, t->parts[i].count,
				    t->parts[i].opaques, -1,
				    r < 0 ? r : LOGD_ECLOSED);
			logd_batch_builder_free(t->parts[i].b);
			free(t->parts[i].opaques);
		}
		free(t->parts);
		free(t->name);
		free(t);
	}
	free(p);
	return r;
}
