/*
 * native_stream.c - streaming fetches: a FETCH with stream = N stays
 * parked after its reply and is answered again each time data comes,
 * with credit-based flow control in the style of Apache Pulsar's FLOW
 * permits (FETCH_CREDIT in lib/proto.h).
 *
 * Why.  A consumer at the tail that long-polls sends a FETCH for each
 * reply, so every record cost logd two wakes (the produce, then the
 * consumer's next FETCH).  A stream is armed again by logd itself, in
 * the same turn that answered it: a record at the tail costs one wake,
 * the producer's.  Credit counts replies, so a consumer bounds what it
 * buffers (credit times max_bytes) and tops it up in batches, one small
 * request every few replies.
 *
 * A stream is an nstream on its connection's list (native_conn), in one
 * of three states:
 *
 *   armed    in the broker (broker_fetch, parked there and on the
 *            connection, so that a closing connection cancels it)
 *   idle     out of credit: waits for FETCH_CREDIT
 *   blocked  has credit but the connection's unsent output is over
 *            max_pending_bytes: waits for conn.c's drained() hook
 *
 * Every reply is written by stream_done(), the fetch's done function;
 * it re-arms the stream at the offset after the reply's last batch.
 * broker_fetch() may call done() before it returns (the data is there),
 * which would re-arm from inside the arming: stream_arm() loops instead
 * of recursing (arming, again), bounded by the credit and by the
 * connection's output limit.  A stream ends with an error reply, with
 * its last reply (stream 0) when cancelled or when logd stops, or
 * silently with its connection; the nstream is freed when it ends, or
 * with the connection (native_stream_free_all) if that comes first.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

struct nstream {
	struct parked park;        /* on the connection while armed */
	struct fetch_op op;
	struct fetch_part part;
	struct conn *c;
	struct nstream *next;      /* native_conn's streams */
	uint32_t corr;
	int64_t credit;            /* replies it may still send */
	int armed, blocked;
	int arming, again;         /* stream_arm() is running; re-arm */
	int ended;                 /* freed once stream_arm() returns */
	char topic[LOGD_TOPIC_NAME_MAX + 1];
};

static struct nstream *stream_find(struct native_conn *nc, uint32_t corr)
{
	struct nstream *s;

	for (s = nc->streams; s; s = s->next)
		if (s->corr == corr && !s->ended)
			return s;
	return NULL;
}

static void stream_free(struct nstream *s)
{
	struct native_conn *nc = s->c->pstate;
	struct nstream **pp;

	for (pp = &nc->streams; *pp != s; pp = &(*pp)->next)
		;
	*pp = s->next;
	if (s->blocked)
		nc->nblocked--;
	free(s);
}

/* The stream is over (its last reply written, or none due). */
static void stream_end(struct nstream *s)
{
	s->ended = 1;
	if (!s->arming)
		stream_free(s);
}

/* The connection closes: the fetch is cancelled, the nstream stays on
 * the list until native_stream_free_all(). */
static void stream_drop(struct parked *p)
{
	struct nstream *s = (struct nstream *)(void *)p;

	broker_fetch_cancel(&s->op);
	s->armed = 0;
	s->ended = 1;
}

/* The offset after the last whole batch of rd, or -1 when none. */
static int64_t next_offset(const struct logd_read *rd)
{
	struct logd_batch_info info;
	const uint8_t *p = rd->data;
	size_t len = rd->len;
	int64_t next = -1;

	while (len >= LOGD_BATCH_HEADER_SIZE &&
	    logd_batch_header(p, len, &info) == 0 && info.size <= len) {
		next = info.last_offset + 1;
		p += info.size;
		len -= info.size;
	}
	return next;
}

/* Puts s in the broker, again and again while replies come at once. */
static void stream_arm(struct nstream *s)
{
	struct native_conn *nc = s->c->pstate;

	if (s->arming) {
		s->again = 1;
		return;
	}
	s->arming = 1;
	do {
		s->again = 0;
		if (s->ended || s->credit <= 0 || s->c->state != CONN_OPEN)
			break;
		if (conn_full(s->c)) {
			if (!s->blocked)
				nc->nblocked++;
			s->blocked = 1;
			break;
		}
		conn_park(s->c, &s->park, stream_drop);
		s->armed = 1;
		broker_fetch(&s->op);
	} while (s->again);
	s->arming = 0;
	if (s->ended)
		stream_free(s);
}

static void stream_done(struct fetch_op *op)
{
	struct nstream *s = op->arg;
	struct fetch_part *fp = &s->part;
	struct conn *c = s->c;
	int64_t next;
	int last;

	if (s->armed) {
		conn_unpark(&s->park);
		s->armed = 0;
	}
	if (fp->err) {
		logd_log_read_release(&fp->rd);
		native_error(c, LOGD_API_FETCH, s->corr, fp->err, "%s",
		    fp->msg);
		stream_end(s);
		return;
	}
	next = next_offset(&fp->rd);
	if (next > fp->offset)
		fp->offset = next;
	/* Nothing is armed again once logd stops or the peer is gone. */
	last = srv.stopping || c->state != CONN_OPEN;
	native_fetch_reply(c, LOGD_API_FETCH, s->corr, fp, !last);
	s->credit--;
	if (last)
		stream_end(s);
	else
		stream_arm(s);
}

void native_stream_open(struct conn *c, struct logd_msg *m,
    const struct nfetch_args *a)
{
	struct native_conn *nc = c->pstate;
	struct nstream *s;

	if (a->stream < 0 || a->stream > LOGD_STREAM_CREDIT_MAX)
		return native_error(c, m->api, m->corr, LOGD_EPROTO, "stream "
		    "must be 0 to %d, not %lld", LOGD_STREAM_CREDIT_MAX,
		    (long long)a->stream);
	if (a->max_wait_ms < 1)
		return native_error(c, m->api, m->corr, LOGD_EPROTO, "a "
		    "stream needs max_wait_ms >= 1");
	if (stream_find(nc, m->corr))
		return native_error(c, m->api, m->corr, LOGD_EPROTO, "corr "
		    "%u already names a stream of this connection", m->corr);
	s = calloc(1, sizeof(*s));
	if (!s)
		return native_error(c, m->api, m->corr, -ENOMEM,
		    "out of memory");
	memcpy(s->topic, a->topic, strlen(a->topic) + 1);
	s->c = c;
	s->corr = m->corr;
	s->credit = a->stream;
	s->part.topic = s->topic;
	s->part.partition = a->partition;
	s->part.offset = a->offset;
	s->part.max_bytes = (size_t)a->max_bytes;
	s->op.parts = &s->part;
	s->op.nparts = 1;
	s->op.min_bytes = (size_t)a->min_bytes;
	s->op.max_wait_ms = a->max_wait_ms;
	s->op.done = stream_done;
	s->op.arg = s;
	s->next = nc->streams;
	nc->streams = s;
	stream_arm(s);
}

/* Ends s at once with its last reply: no records, stream 0. */
static void stream_cancel(struct nstream *s)
{
	struct native_conn *nc = s->c->pstate;

	if (s->armed) {
		broker_fetch_cancel(&s->op);
		conn_unpark(&s->park);
		s->armed = 0;
	}
	if (s->blocked) {
		nc->nblocked--;
		s->blocked = 0;
	}
	memset(&s->part.rd, 0, sizeof(s->part.rd));
	native_fetch_reply(s->c, LOGD_API_FETCH, s->corr, &s->part, 0);
	stream_end(s);
}

void native_fetch_credit(struct conn *c, struct logd_msg *m)
{
	struct native_conn *nc = c->pstate;
	int64_t credit, cancel;
	uint64_t corr;
	struct nstream *s;

	if (logd_proto_uint(m, NULL, "corr", &corr) ||
	    logd_proto_int_opt(m, NULL, "credit", 0, &credit) ||
	    logd_proto_int_opt(m, NULL, "cancel", 0, &cancel))
		return native_bad(c, m);
	if (corr > UINT32_MAX || !(s = stream_find(nc, (uint32_t)corr)))
		return native_error(c, m->api, m->corr, LOGD_EPROTO, "no "
		    "stream with corr %llu on this connection",
		    (unsigned long long)corr);
	if (cancel)
		return stream_cancel(s);
	if (credit < 1 || credit > LOGD_STREAM_CREDIT_MAX - s->credit)
		return native_error(c, m->api, m->corr, LOGD_EPROTO, "credit "
		    "must be 1 to %lld for stream %u, not %lld",
		    (long long)(LOGD_STREAM_CREDIT_MAX - s->credit),
		    s->corr, (long long)credit);
	s->credit += credit;
	if (!s->armed && !s->blocked)
		stream_arm(s);
}

void native_stream_drained(struct conn *c)
{
	struct native_conn *nc = c->pstate;
	struct nstream *s, *next;

	if (!nc || !nc->nblocked)
		return;
	for (s = nc->streams; s; s = next) {
		next = s->next;
		if (!s->blocked)
			continue;
		s->blocked = 0;
		nc->nblocked--;
		stream_arm(s);
		if (conn_full(c))
			break;
	}
}

void native_stream_free_all(struct native_conn *nc)
{
	struct nstream *s;

	while ((s = nc->streams)) {
		nc->streams = s->next;
		if (s->armed)
			broker_fetch_cancel(&s->op);
		free(s);
	}
	nc->nblocked = 0;
}
