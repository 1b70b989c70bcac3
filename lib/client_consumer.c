/*
 * client_consumer.c - the consumer: assigned partitions, long-poll
 * fetches with prefetch, records one at a time, group offsets.
 *
 * Design.  Each assigned partition has a position (the next offset poll
 * returns), a fetch offset (where its next FETCH starts: past everything
 * already fetched), at most one FETCH in flight, and up to two chunks of
 * fetched batches: the one being read and one queued behind it.  A chunk
 * is the reply frame itself when it was read into its own block (large
 * replies: no copy), else a copy of its records.  With prefetch (the
 * default) the next FETCH is sent the moment a reply arrives, as long as
 * the queue slot is free, so the broker's work and the wire overlap with
 * the application's: the partition is read from memory while the next
 * chunk is on its way.  Fetches long-poll (max_wait_ms), so an idle
 * consumer costs one request per partition per max_wait.
 *
 * "The moment a reply arrives" is the next poll after it, not the reply
 * handler: a send on a local socket runs the broker's side of the
 * delivery and its wake-up before it returns, and the records of the
 * reply would wait for that.  So the handler only marks the consumer
 * (refill) and poll sends the FETCHes that are due first thing next
 * time, once the reply's first record is in the application's hands;
 * an empty reply, which hands nothing out, is followed at once.
 *
 * poll() reads one chunk of a partition to its end before moving to the
 * next partition (round robin), checking each batch (CRC included)
 * before iterating its records and skipping records below the position:
 * a fetch returns whole batches, which may start below the offset asked
 * for.  Seeking bumps the partition's epoch, cancels its FETCH in flight
 * and drops its chunks, so nothing fetched for an old position is ever
 * returned.  Records point into a chunk, which is freed only on the next
 * poll after it was used up: that is the "valid until the next poll"
 * promise of logd.h.
 *
 * A subscribed consumer (a group member) has the same partitions, but
 * client_group.c decides which: poll first lets it take a join's result,
 * follow a rebalance and send heartbeats (cs_member_step()), and waits
 * no longer than the next heartbeat.  A member's partition whose
 * position falls outside the log restarts at start_offset instead of
 * stopping with LOGD_ERANGE.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "consumer_int.h"

#define CS_DEFAULT_MAX_BYTES (1u << 20)
#define CS_DEFAULT_MAX_WAIT 500
/*
 * A stream's window, in replies: what a partition may buffer (at most
 * this many times max_bytes).  Credit goes back in batches of half of
 * it, so at the tail (a reply per record) one FETCH_CREDIT costs the
 * broker a wake every 4 records; the suggested 2 to 4 would cost one
 * every 1 or 2, most of what the stream saves.
 */
#define CS_STREAM_WINDOW 8

int
logd_consumer_new(struct logd_client *c,
    const struct logd_consumer_options *opts, struct logd_consumer **out)
{
	struct logd_consumer *cs;
	int r;

	if (opts != NULL && opts->group != NULL &&
	    (r = logd_group_name_check(opts->group)) < 0)
		return cl_seterr(c, r, "bad group name");
	if (opts != NULL && opts->max_wait_ms < 0)
		return cl_seterr(c, -EINVAL, "negative max_wait_ms");
	if (opts != NULL && opts->session_ms != 0 &&
	    (opts->session_ms < 1000 || opts->session_ms > 300000))
		return cl_seterr(c, -EINVAL, "session_ms must be within "
		    "1000..300000");
	if (opts != NULL && opts->start_offset != 0 &&
	    opts->start_offset != LOGD_OFFSET_EARLIEST &&
	    opts->start_offset != LOGD_OFFSET_LATEST)
		return cl_seterr(c, -EINVAL, "start_offset must be "
		    "LOGD_OFFSET_EARLIEST or LOGD_OFFSET_LATEST");
	cs = calloc(1, sizeof(*cs));
	if (cs == NULL)
		return -ENOMEM;
	cs->c = c;
	cs->max_bytes = CS_DEFAULT_MAX_BYTES;
	cs->min_bytes = 1;
	cs->max_wait_ms = CS_DEFAULT_MAX_WAIT;
	cs->prefetch = 1;
	if (opts != NULL) {
		cs->opts = *opts;
		cs->opts.group = NULL;
		if (opts->max_bytes)
			cs->max_bytes = opts->max_bytes;
		if (opts->min_bytes)
			cs->min_bytes = opts->min_bytes;
		if (opts->max_wait_ms)
			cs->max_wait_ms = opts->max_wait_ms;
		cs->prefetch = !opts->no_prefetch;
		if (opts->no_stream)
			cs->window = -1;
		if (opts->group != NULL &&
		    (cs->group = strdup(opts->group)) == NULL) {
			free(cs);
			return -ENOMEM;
		}
	}
	/* Streams need a broker that knows them (HELLO lists the api). */
	cs->window = cs->window == 0 && cs->prefetch &&
	    cl_has_api(c, LOGD_API_FETCH_CREDIT) ? CS_STREAM_WINDOW : 0;
	*out = cs;
	return 0;
}

/* The chunk's buffer goes back to the client for the next big reply. */
static void
cs_chunk_free(struct logd_consumer *cs, struct cs_chunk *ch)
{
	if (ch == NULL)
		return;
	cl_buf_put(cs->c, ch->buf);
	free(ch);
}

/* Sends FETCH_CREDIT for pt's stream: n more replies, or a cancel. */
static int
cs_credit(struct logd_consumer *cs, struct cs_part *pt, int n, int cancel)
{
	msgpack_packer *pk;
	int r;

	if ((r = cl_req_begin(cs->c, LOGD_API_FETCH_CREDIT, &pk)) < 0)
		return r;
	msgpack_pack_map(pk, 2);
	logd_pack_kv_int(pk, "corr", pt->stream_corr);
	logd_pack_kv_int(pk, cancel ? "cancel" : "credit", cancel ? 1 : n);
	/* No reply when it works; an error reply (a stream that just
	 * ended) finds no request and is dropped. */
	return cl_req_end(cs->c, NULL, NULL, 0);
}

/*
 * Forgets what was fetched for the partition and its FETCH in flight; a
 * stream is cancelled, and what it still sends is dropped.
 */
static void
cs_part_reset(struct logd_consumer *cs, struct cs_part *pt)
{
	struct cs_chunk *ch;

	if (pt->req != NULL) {
		if (pt->streaming && !cl_broken(cs->c))
			cs_credit(cs, pt, 0, 1);
		cl_cancel(cs->c, pt->req);
		free(pt->req);
		pt->req = NULL;
	}
	pt->streaming = 0;
	pt->credit = pt->owed = 0;
	cs_chunk_free(cs, pt->cur);
	while ((ch = pt->queued) != NULL) {
		pt->queued = ch->next;
		cs_chunk_free(cs, ch);
	}
	pt->cur = pt->queued = pt->qtail = NULL;
	pt->nchunks = 0;
	logd_cursor_release(&pt->cur_rec);
	pt->in_chunk = 0;
}

static void
cs_part_free(struct logd_consumer *cs, struct cs_part *pt)
{
	cs_part_reset(cs, pt);
	free(pt->topic);
	free(pt);
}

void
logd_consumer_close(struct logd_consumer *cs)
{
	size_t i;

	if (cs == NULL)
		return;
	/* Asynchronous commits in flight are forgotten (see logd.h). */
	cl_cancel(cs->c, cs);
	cs_member_close(cs);
	for (i = 0; i < cs->nparts; i++)
		cs_part_free(cs, cs->parts[i]);
	free(cs->parts);
	free(cs->group);
	free(cs);
}

static struct cs_part *
cs_find(const struct logd_consumer *cs, const char *topic, int32_t partition)
{
	size_t i;

	for (i = 0; i < cs->nparts; i++)
		if (cs->parts[i]->partition == partition &&
		    strcmp(cs->parts[i]->topic, topic) == 0)
			return cs->parts[i];
	return NULL;
}

/* Sets the error poll returns next, with a message naming the partition. */
static void
cs_fail(struct logd_consumer *cs, struct cs_part *pt, int err)
{
	pt->stopped = err;
	if (cs->err == 0) {
		cs->err = err;
		snprintf(cs->errmsg, sizeof(cs->errmsg),
		    "%s/%d at offset %lld: %s", pt->topic, (int)pt->partition,
		    (long long)pt->position, logd_client_errmsg(cs->c));
	}
}

/* The offset after the last batch in [p, end), or -1 if there is none. */
static int64_t
cs_chunk_next_offset(const uint8_t *p, const uint8_t *end)
{
	struct logd_batch_info info;
	int64_t next = -1;

	while (p < end && logd_batch_header(p, (size_t)(end - p), &info) == 0 &&
	    info.size <= (size_t)(end - p)) {
		next = info.last_offset + 1;
		p += info.size;
	}
	return next;
}

static int cs_fetch(struct logd_consumer *cs, struct cs_part *pt);

/*
 * Queues the records of a successful fetch reply as a chunk of pt: 1, 0
 * when it holds none, or an error (pt failed with it).
 */
static int
cs_take_chunk(struct logd_consumer *cs, struct cs_part *pt,
    struct logd_msg *m, struct cl_frame *f)
{
	struct logd_client *c = cs->c;
	struct cs_chunk *ch;
	const void *p = NULL;
	size_t len = 0;
	int64_t next;

	if (logd_proto_bin_opt(m, NULL, "records", &p, &len) < 0) {
		cl_seterr(c, LOGD_EPROTO, "bad fetch reply: %s", m->err);
		cs_fail(cs, pt, LOGD_EPROTO);
		return LOGD_EPROTO;
	}
	if (len == 0)
		return 0;
	next = cs_chunk_next_offset(p, (const uint8_t *)p + len);
	if (next < 0) {
		cl_seterr(c, LOGD_EBADBATCH, "fetch reply holds no whole "
		    "batch");
		cs_fail(cs, pt, LOGD_EBADBATCH);
		return LOGD_EBADBATCH;
	}
	ch = malloc(sizeof(*ch));
	if (ch == NULL) {
		cl_seterr(c, -ENOMEM, "out of memory");
		cs_fail(cs, pt, -ENOMEM);
		return -ENOMEM;
	}
	if (f->owned) {
		ch->buf = f->buf;
		f->buf = NULL;
		ch->p = p;
	} else {
		ch->buf = malloc(len);
		if (ch->buf == NULL) {
			free(ch);
			cl_seterr(c, -ENOMEM, "out of memory");
			cs_fail(cs, pt, -ENOMEM);
			return -ENOMEM;
		}
		memcpy(ch->buf, p, len);
		ch->p = ch->buf;
	}
	ch->end = ch->p + len;
	ch->next = NULL;
	if (next > pt->fetch_offset)
		pt->fetch_offset = next;
	if (pt->cur == NULL) {
		pt->cur = ch;
	} else {
		if (pt->qtail != NULL)
			pt->qtail->next = ch;
		else
			pt->queued = ch;
		pt->qtail = ch;
	}
	pt->nchunks++;
	return 1;
}

/*
 * A fetch or stream reply's error: a group member's offset out of range
 * restarts the partition at start_offset (cs_fill), anything else fails
 * it.  1 when there was one.
 */
static int
cs_reply_error(struct logd_consumer *cs, struct cs_part *pt, int err)
{
	if (err == 0)
		return 0;
	if (err == LOGD_ERANGE && cs->member != NULL)
		pt->reset = 1;
	else
		cs_fail(cs, pt, err);
	return 1;
}

static void
cs_fetch_done(struct logd_client *c, void *arg, int err, struct logd_msg *m,
    struct cl_frame *f)
{
	struct cs_req *rq = arg;
	struct logd_consumer *cs = rq->cs;
	struct cs_part *pt = rq->part;
	int r;

	pt->req = NULL;
	free(rq);
	if (err == LOGD_ETIMEDOUT)
		return; /* poll asks again */
	if (cs_reply_error(cs, pt, err))
		return;
	r = cs_take_chunk(cs, pt, m, f);
	if (r < 0)
		return;
	if (r == 0)
		goto refetch;
	/* The next FETCH goes out on the next poll (see the top). */
	if (cs->prefetch)
		cs->refill = 1;
	return;
refetch:
	if (cs_fetch(cs, pt) < 0)
		cs_fail(cs, pt, cl_broken(c) ? cl_broken(c) : -ENOMEM);
}

/*
 * A reply of pt's stream.  Its last (an error, stream 0, a broken
 * connection) ends it: poll opens a new one if the partition goes on.
 * Credit for an empty reply, and for each chunk used up, is owed back
 * and sent by poll (cs_fill), half a window at a time.
 */
static void
cs_stream_done(struct logd_client *c, void *arg, int err,
    struct logd_msg *m, struct cl_frame *f)
{
	struct cs_req *rq = arg;
	struct logd_consumer *cs = rq->cs;
	struct cs_part *pt = rq->part;
	int64_t more = 0;
	int r;

	if (err == 0 && logd_proto_int_opt(m, NULL, "stream", 0, &more) < 0)
		more = 0;
	if (err != 0 || more == 0) {
		pt->req = NULL;
		pt->streaming = 0;
		pt->credit = pt->owed = 0;
		free(rq);
	}
	cs->refill = 1;
	if (cs_reply_error(cs, pt, err))
		return;
	r = cs_take_chunk(cs, pt, m, f);
	if (r < 0 || !pt->streaming)
		return;
	pt->credit--;
	if (r == 0)
		pt->owed++;
}

/*
 * Sends a FETCH for pt at its fetch offset: a stream when the broker
 * knows them, with the window's credit less what pt holds (nothing is
 * sent while pt holds a whole window), else one long-poll.
 */
static int
cs_fetch(struct logd_consumer *cs, struct cs_part *pt)
{
	int n = cs->window > 0 ? cs->window - (int)pt->nchunks : 0;
	struct cs_req *rq;
	msgpack_packer *pk;
	int r;

	if (cs->window > 0 && n <= 0)
		return 0;
	rq = malloc(sizeof(*rq));
	if (rq == NULL)
		return -ENOMEM;
	rq->cs = cs;
	rq->part = pt;
	r = cl_req_begin(cs->c, LOGD_API_FETCH, &pk);
	if (r < 0) {
		free(rq);
		return r;
	}
	msgpack_pack_map(pk, n > 0 ? 7 : 6);
	logd_pack_kv_str(pk, "topic", pt->topic);
	logd_pack_kv_int(pk, "partition", pt->partition);
	logd_pack_kv_int(pk, "offset", pt->fetch_offset);
	logd_pack_kv_int(pk, "max_bytes", (int64_t)cs->max_bytes);
	logd_pack_kv_int(pk, "min_bytes", (int64_t)cs->min_bytes);
	logd_pack_kv_int(pk, "max_wait_ms", cs->max_wait_ms);
	pt->req = rq;
	if (n > 0) {
		logd_pack_kv_int(pk, "stream", n);
		pt->streaming = 1;
		pt->credit = n;
		pt->owed = 0;
		r = cl_req_end_stream(cs->c, cs_stream_done, rq,
		    &pt->stream_corr);
	} else {
		r = cl_req_end(cs->c, cs_fetch_done, rq, cs->max_wait_ms);
	}
	if (r < 0) {
		pt->req = NULL;
		pt->streaming = 0;
		pt->credit = 0;
		free(rq);
	}
	return r;
}

/* Sends the FETCHes that are due. */
static int
cs_fill(struct logd_consumer *cs)
{
	size_t i;
	int r;

	for (i = 0; i < cs->nparts; i++) {
		struct cs_part *pt = cs->parts[i];

		if (pt->reset) {
			/* A group's commit below the log start (retention)
			 * or past its end: as for a partition without one. */
			pt->reset = 0;
			r = cs_assign_one(cs, pt->topic, pt->partition,
			    cs->opts.start_offset ? cs->opts.start_offset :
			    LOGD_OFFSET_EARLIEST);
			if (r < 0)
				return r;
		}
		if (pt->stopped)
			continue;
		if (pt->streaming) {
			/* Credit back half a window at a time, or all of it
			 * when the broker has none left. */
			if (pt->owed > 0 && (pt->owed >= cs->window / 2 ||
			    pt->credit <= 0)) {
				if ((r = cs_credit(cs, pt, pt->owed, 0)) < 0)
					return r;
				pt->credit += pt->owed;
				pt->owed = 0;
			}
			continue;
		}
		if (pt->req != NULL || pt->queued != NULL ||
		    (!cs->prefetch && pt->cur != NULL))
			continue;
		r = cs_fetch(cs, pt);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * pt's cursor failed with err on a batch.  Names the batch (topic,
 * partition, its offsets) and, with skip_bad, moves past it: 0 to go on
 * reading (on_skip was told), else the error poll returns (once, when
 * the batch was skipped; for good, stopping the partition, when not).
 */
static int
cs_bad_batch(struct logd_consumer *cs, struct cs_part *pt, int err)
{
	char why[400];
	int64_t first, last;

	if (logd_cursor_skip(&pt->cur_rec, &first, &last) < 0) {
		cl_seterr(cs->c, err, "%s (its header or length is "
		    "unreadable: it cannot be skipped)", logd_strerror(err));
		cs_part_reset(cs, pt);
		cs_fail(cs, pt, err);
		err = cs->err;
		cs->err = 0;
		return cl_seterr(cs->c, err, "%s", cs->errmsg);
	}
	snprintf(why, sizeof(why), "%s/%d at offset %lld: the batch of "
	    "offsets %lld..%lld cannot be read (%s)%s", pt->topic,
	    (int)pt->partition, (long long)(first > pt->position ? first :
	    pt->position), (long long)first, (long long)last,
	    logd_strerror(err), cs->opts.skip_bad ? ": skipped" : "");
	if (!cs->opts.skip_bad) {
		cs_part_reset(cs, pt);
		pt->stopped = err;
		return cl_seterr(cs->c, err, "%s", why);
	}
	if (last + 1 > pt->position)
		pt->position = last + 1;
	if (cs->opts.on_skip == NULL)
		return cl_seterr(cs->c, err, "%s", why);
	cs->opts.on_skip(cs->opts.cb_arg, pt->topic, pt->partition, first,
	    last, why);
	return 0;
}

/* The next record of pt: 1, 0 when its data is used up, or an error. */
static int
cs_part_next(struct logd_consumer *cs, struct cs_part *pt,
    struct logd_record *rec)
{
	struct cs_chunk *ch;
	int r;

	for (;;) {
		ch = pt->cur;
		if (ch == NULL)
			return 0;
		if (!pt->in_chunk) {
			logd_cursor_init(&pt->cur_rec, ch->p,
			    (size_t)(ch->end - ch->p), pt->position);
			pt->in_chunk = 1;
		}
		r = logd_cursor_next(&pt->cur_rec, rec);
		if (r == 1) {
			pt->position = rec->offset + 1;
			return 1;
		}
		if (r < 0) {
			/* Replies hold whole batches: a partial one is bad. */
			if (r == -EAGAIN)
				r = LOGD_EBADBATCH;
			r = cs_bad_batch(cs, pt, r);
			if (r == 0)
				continue;
			return r;
		}
		pt->in_chunk = 0;
		cs_chunk_free(cs, ch);
		pt->nchunks--;
		pt->cur = pt->queued;
		if (pt->queued != NULL && (pt->queued = pt->queued->next) ==
		    NULL)
			pt->qtail = NULL;
		if (pt->streaming) {
			pt->owed++;
			cs->refill = 1;
		} else if (pt->req == NULL && !pt->stopped &&
		    (r = cs_fetch(cs, pt)) < 0) {
			return r;
		}
	}
}

int
logd_consumer_poll(struct logd_consumer *cs, int timeout_ms,
    struct logd_consumer_record *out)
{
	int64_t end = -2;         /* read the clock only when we must wait */
	struct logd_record rec;
	int64_t t;
	size_t k;
	int r, last = 0, hb_wait = -1;

	/* The prefetches deferred by cs_fetch_done(), now that what they
	 * replied to has been handed out. */
	if (cs->refill) {
		cs->refill = 0;
		if ((r = cs_fill(cs)) < 0)
			return r;
	}
	for (;;) {
		if (cs->member != NULL && (r = cs_member_step(cs,
		    &hb_wait)) < 0)
			return r;
		if (cs->err != 0) {
			r = cs->err;
			cs->err = 0;
			return cl_seterr(cs->c, r, "%s", cs->errmsg);
		}
		for (k = 0; k < cs->nparts; k++) {
			struct cs_part *pt;

			if (cs->rr >= cs->nparts)
				cs->rr = 0;
			pt = cs->parts[cs->rr];
			r = cs_part_next(cs, pt, &rec);
			if (r < 0)
				return r;
			if (r == 1) {
				out->topic = pt->topic;
				out->partition = pt->partition;
				out->rec = rec;
				return 1;
			}
			cs->rr++;
		}
		if (cs->nparts == 0 && cs->member == NULL)
			return cl_seterr(cs->c, -EINVAL, "nothing assigned");
		r = cs_fill(cs);
		if (r < 0)
			return r;
		if (cs->err != 0)
			continue;
		if (last)
			return 0;
		if (cs->member == NULL && cl_inflight(cs->c) == 0 &&
		    cl_unsent(cs->c) == 0)
			return 0; /* every partition is stopped */
		if (end == -2)
			end = timeout_ms < 0 ? -1 : cl_now_ms() + timeout_ms;
		t = end < 0 ? -1 : end - cl_now_ms();
		if (t <= 0 && end >= 0) {
			/* Out of time: one look without waiting, then 0. */
			t = 0;
			last = 1;
		}
		/* A member wakes up for its next heartbeat. */
		if (cs->member != NULL && hb_wait >= 0 && (t < 0 ||
		    hb_wait < t))
			t = hb_wait;
		r = logd_client_poll(cs->c, (int)t);
		if (r < 0)
			return r;
	}
}

/* Resolves a special offset of topic/partition to a real one. */
static int
cs_resolve(struct logd_consumer *cs, const char *topic, int32_t partition,
    int64_t offset, int64_t *out)
{
	struct logd_group *g = NULL;
	size_t i;
	int r;

	if (offset >= 0) {
		*out = offset;
		return 0;
	}
	if (offset == LOGD_OFFSET_COMMITTED) {
		if (cs->group == NULL)
			return cl_seterr(cs->c, -EINVAL, "LOGD_OFFSET_COMMITTED "
			    "needs a consumer group");
		r = logd_client_offsets_fetch(cs->c, cs->group, topic, &g);
		if (r < 0)
			return r;
		for (i = 0; i < g->offset_count; i++) {
			if (g->offsets[i].partition == partition &&
			    strcmp(g->offsets[i].topic, topic) == 0) {
				*out = g->offsets[i].offset;
				logd_group_free(g);
				return 0;
			}
		}
		logd_group_free(g);
		offset = LOGD_OFFSET_EARLIEST;
	}
	if (offset != LOGD_OFFSET_EARLIEST && offset != LOGD_OFFSET_LATEST)
		return cl_seterr(cs->c, -EINVAL, "bad offset %lld",
		    (long long)offset);
	return logd_client_list_offset(cs->c, topic, partition, offset, out);
}

int
cs_assign_one(struct logd_consumer *cs, const char *topic, int32_t partition,
    int64_t offset)
{
	struct cs_part *pt;
	int64_t pos;
	int r;

	r = cs_resolve(cs, topic, partition, offset, &pos);
	if (r < 0)
		return r;
	pt = cs_find(cs, topic, partition);
	if (pt == NULL) {
		if (cs->nparts == cs->cap) {
			size_t cap = cs->cap ? cs->cap * 2 : 8;
			struct cs_part **v = realloc(cs->parts,
			    cap * sizeof(*v));

			if (v == NULL)
				return -ENOMEM;
			cs->parts = v;
			cs->cap = cap;
		}
		pt = calloc(1, sizeof(*pt));
		if (pt == NULL || (pt->topic = strdup(topic)) == NULL) {
			free(pt);
			return -ENOMEM;
		}
		pt->partition = partition;
		cs->parts[cs->nparts++] = pt;
	}
	cs_part_reset(cs, pt);
	pt->position = pos;
	pt->fetch_offset = pos;
	pt->stopped = 0;
	return 0;
}

int
logd_consumer_assign(struct logd_consumer *cs, const char *topic,
    int32_t partition, int64_t offset)
{
	int32_t i, n;
	int r;

	if (topic == NULL)
		return cl_seterr(cs->c, -EINVAL, "topic is NULL");
	if (cs->member != NULL)
		return cl_seterr(cs->c, -EINVAL, "the consumer is subscribed: "
		    "its group assigns its partitions");
	if (partition >= 0)
		return cs_assign_one(cs, topic, partition, offset);
	if (partition != LOGD_PARTITION_ANY)
		return cl_seterr(cs->c, -EINVAL, "bad partition %d",
		    (int)partition);
	r = cl_partition_count(cs->c, topic, &n);
	for (i = 0; r == 0 && i < n; i++)
		r = cs_assign_one(cs, topic, i, offset);
	return r;
}

int
logd_consumer_unassign(struct logd_consumer *cs, const char *topic,
    int32_t partition)
{
	size_t i = 0;
	int found = 0;

	if (cs->member != NULL)
		return cl_seterr(cs->c, -EINVAL, "the consumer is subscribed: "
		    "its group assigns its partitions");
	while (i < cs->nparts) {
		struct cs_part *pt = cs->parts[i];

		if (strcmp(pt->topic, topic) == 0 &&
		    (partition < 0 || pt->partition == partition)) {
			cs_part_free(cs, pt);
			cs->parts[i] = cs->parts[--cs->nparts];
			found = 1;
		} else {
			i++;
		}
	}
	return found ? 0 : cl_seterr(cs->c, -ENOENT, "%s/%d is not assigned",
	    topic, (int)partition);
}

int
logd_consumer_seek(struct logd_consumer *cs, const char *topic,
    int32_t partition, int64_t offset)
{
	if (cs_find(cs, topic, partition) == NULL)
		return cl_seterr(cs->c, -ENOENT, "%s/%d is not assigned",
		    topic, (int)partition);
	return cs_assign_one(cs, topic, partition, offset);
}

int
logd_consumer_seek_time(struct logd_consumer *cs, const char *topic,
    int32_t partition, int64_t ts)
{
	int64_t off;
	int r;

	if (cs_find(cs, topic, partition) == NULL)
		return cl_seterr(cs->c, -ENOENT, "%s/%d is not assigned",
		    topic, (int)partition);
	if (ts < 0)
		return cl_seterr(cs->c, -EINVAL, "negative timestamp");
	r = logd_client_list_offset(cs->c, topic, partition, ts, &off);
	if (r < 0)
		return r;
	return cs_assign_one(cs, topic, partition, off);
}

int
logd_consumer_position(const struct logd_consumer *cs, const char *topic,
    int32_t partition, int64_t *offset)
{
	struct cs_part *pt = cs_find(cs, topic, partition);

	if (pt == NULL)
		return -ENOENT;
	*offset = pt->position;
	return 0;
}

/* The failure of an earlier asynchronous commit, reported once. */
static int
cs_async_error(struct logd_consumer *cs)
{
	int r = cs->commit_err;

	if (r == 0)
		return 0;
	cs->commit_err = 0;
	return cl_seterr(cs->c, r, "an asynchronous commit failed: %s",
	    cs->commit_errmsg);
}

static void
cs_commit_done(struct logd_client *c, void *arg, int err, struct logd_msg *m,
    struct cl_frame *f)
{
	struct logd_consumer *cs = arg;

	cs->commits_inflight--;
	if (err == 0)
		return;
	if (cs->member != NULL)
		cs_member_commit_seen(cs, err);
	if (cs->commit_err == 0) {
		cs->commit_err = err;
		snprintf(cs->commit_errmsg, sizeof(cs->commit_errmsg), "%s",
		    logd_client_errmsg(c));
	}
}

int
logd_consumer_commit_async(struct logd_consumer *cs)
{
	msgpack_packer *pk;
	size_t i;
	int r;

	if (cs->group == NULL)
		return cl_seterr(cs->c, -EINVAL, "consumer has no group");
	if ((r = cs_async_error(cs)) < 0)
		return r;
	if (cs->member != NULL) {
		cs_member_heartbeat(cs);
		if ((r = cs_member_commit_begin(cs)) <= 0)
			return r;
	} else {
		if (cs->nparts == 0)
			return 0;
		if ((r = cl_req_begin(cs->c, LOGD_API_OFFSET_COMMIT, &pk)) < 0)
			return r;
		msgpack_pack_map(pk, 2);
		logd_pack_kv_str(pk, "group", cs->group);
		logd_pack_str(pk, "offsets");
		msgpack_pack_array(pk, cs->nparts);
		for (i = 0; i < cs->nparts; i++) {
			msgpack_pack_map(pk, 3);
			logd_pack_kv_str(pk, "topic", cs->parts[i]->topic);
			logd_pack_kv_int(pk, "partition",
			    cs->parts[i]->partition);
			logd_pack_kv_int(pk, "offset", cs->parts[i]->position);
		}
	}
	if ((r = cl_req_end(cs->c, cs_commit_done, cs, 0)) < 0)
		return r;
	cs->commits_inflight++;
	return 0;
}

int
logd_consumer_commit(struct logd_consumer *cs)
{
	struct logd_offset_commit *oc;
	size_t i;
	int r;

	if (cs->group == NULL)
		return cl_seterr(cs->c, -EINVAL, "consumer has no group");
	if ((r = cs_async_error(cs)) < 0)
		return r;
	if (cs->member != NULL) {
		cs_member_heartbeat(cs);
		return cs_member_commit(cs);
	}
	if (cs->nparts == 0)
		return 0;
	oc = calloc(cs->nparts, sizeof(*oc));
	if (oc == NULL)
		return -ENOMEM;
	for (i = 0; i < cs->nparts; i++) {
		oc[i].topic = cs->parts[i]->topic;
		oc[i].partition = cs->parts[i]->partition;
		oc[i].offset = cs->parts[i]->position;
	}
	r = logd_client_offsets_commit(cs->c, cs->group, oc, cs->nparts);
	free(oc);
	return r;
}

void
cs_unassign_all(struct logd_consumer *cs)
{
	size_t i;

	for (i = 0; i < cs->nparts; i++)
		cs_part_free(cs, cs->parts[i]);
	cs->nparts = 0;
	cs->rr = 0;
	cs->err = 0;
}
