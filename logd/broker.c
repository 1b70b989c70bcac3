/*
 * broker.c - the broker operations every protocol calls (broker.h):
 * produce, fetch with long-poll, topics, list offsets, group offsets,
 * statistics.
 *
 * Produce is one lib call (logd_store_produce: the topic, the partition
 * by key or round robin, the batch checks, one copy into the segment
 * map); acks=all waits in commit.c for the sync that covers it.
 *
 * Fetch reads whole stored batches borrowed from the segment maps
 * (logd_log_read); the protocol queues them behind its reply header, so
 * stored data is never copied in user space.  Long-poll: a fetch that
 * finds fewer than min_bytes waits on the plog of each partition it
 * reads.  An append only marks its plog (O(1)); at the end of the turn
 * (broker_before_sleep) each waiter of a marked plog adds the log's
 * growth in bytes to its fetch's count, a compare and an add, and only
 * a fetch that now has min_bytes reads again.  Many parked fetches on
 * one partition thus cost an append nothing but that walk, never a read
 * each.  A timer answers a fetch with what there is at max_wait_ms.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define container_of(p, type, field) \
	((type *)(void *)((char *)(p) - offsetof(type, field)))

static struct plog *appended;        /* logs appended to this turn */
static struct fetch_op *parked;      /* every parked fetch */

struct plog *broker_plog(struct logd_log *log)
{
	struct plog *pl = logd_log_userctx(log);

	if (pl)
		return pl;
	pl = calloc(1, sizeof(*pl));
	if (!pl)
		return NULL;
	pl->log = log;
	logd_log_set_userctx(log, pl);
	return pl;
}

int broker_log(const char *topic, int32_t partition, struct logd_log **log)
{
	return logd_store_log(srv.store, topic, partition, log);
}

/* ------------------------------------------------------------------ */
/* Produce                                                             */
/* ------------------------------------------------------------------ */

/* done(), once every part has its result. */
static void produce_finish(struct produce_op *op)
{
	if (op->acks)
		hist_observe(op->acks == -1 ? &stats.produce_acks_all :
		    &stats.produce_acks1, stats_ns() - op->start_ns);
	op->done(op);
}

static void sync_done(struct sync_wait *w, int err)
{
	struct produce_part *pp = container_of(w, struct produce_part, sw);
	struct produce_op *op = pp->op;

	if (err) {
		pp->err = err;
		snprintf(pp->msg, sizeof(pp->msg), "offsets %" PRId64 "..%"
		    PRId64 " were appended but %s", pp->base_offset,
		    pp->last_offset, err == LOGD_ENOTOPIC ? "the topic was "
		    "deleted" : "the sync failed: the partition is read-only");
	}
	if (--op->waiting == 0)
		produce_finish(op);
}

static void produce_error(struct produce_part *pp, int rc,
    const struct logd_produce *p)
{
	pp->err = rc;
	switch (rc) {
	case LOGD_ENOTOPIC:
		snprintf(pp->msg, sizeof(pp->msg), "unknown topic \"%s\"",
		    pp->topic);
		break;
	case LOGD_ENOPART:
		snprintf(pp->msg, sizeof(pp->msg), "topic \"%s\" has no "
		    "partition %" PRId32, pp->topic, pp->partition);
		break;
	case LOGD_EBADBATCH:
	case LOGD_ECRC:
	case LOGD_ETOOBIG:
	case LOGD_ETIMESTAMP:
		if (!pp->len)
			snprintf(pp->msg, sizeof(pp->msg), "no record batch");
		else
			snprintf(pp->msg, sizeof(pp->msg), "batch %zu at byte "
			    "%zu: %s", p->bad_batch, p->bad_at, p->why ?
			    p->why : logd_strerror(rc));
		break;
	default:
		log_warn("append to %s-%" PRId32 " failed: %s", pp->topic,
		    pp->partition, logd_strerror(rc));
		snprintf(pp->msg, sizeof(pp->msg), "append to \"%s\" partition "
		    "%" PRId32 " failed: %s", pp->topic, pp->partition,
		    logd_strerror(rc));
	}
}

/* The log was appended to: parked fetches look at it this turn. */
static void mark_appended(struct plog *pl)
{
	if (pl->appended)
		return;
	pl->appended = 1;
	pl->anext = appended;
	appended = pl;
}

static void produce_one(struct produce_op *op, struct produce_part *pp)
{
	struct logd_produce p = { 0 };
	struct plog *pl;
	int rc;

	pp->op = op;
	pp->sw.pl = NULL;
	if (pp->err)
		return;           /* refused by the protocol */
	pp->msg[0] = 0;
	p.topic = pp->topic;
	p.partition = pp->partition;
	p.key = pp->key;
	p.key_len = pp->key_len;
	p.data = pp->records;
	p.len = pp->len;
	p.now_ms = ev_wall();
	p.create = srv.cfg.auto_create_topics ? &srv.cfg.topic : NULL;
	rc = logd_store_produce(srv.store, &p);
	if (p.created)
		log_info("created topic %s (%d partitions) on first produce",
		    pp->topic, srv.cfg.topic.partitions);
	if (rc) {
		produce_error(pp, rc, &p);
		return;
	}
	pp->partition = p.partition;
	pp->base_offset = p.first;
	pp->last_offset = p.last;
	pp->log_start = logd_log_start_offset(p.log);
	pp->append_time = p.append_time;
	srv.records_in += p.records;
	pl = broker_plog(p.log);
	if (pl) {
		pl->records_in += p.records;
		pl->bytes_in += pp->len;
	}
	if (!pl) {
		pp->err = -ENOMEM;
		snprintf(pp->msg, sizeof(pp->msg), "appended at %" PRId64
		    "..%" PRId64 " but out of memory tracking the sync",
		    p.first, p.last);
		return;
	}
	mark_appended(pl);
	commit_dirty(pl);
	if (op->acks == -1) {
		pp->sw.pl = pl;
		pp->sw.last = p.last;
		pp->sw.done = sync_done;
		commit_wait(&pp->sw);
		op->waiting++;
	}
}

void broker_produce(struct produce_op *op)
{
	size_t i;

	op->waiting = 1;          /* no done() until every part is tried */
	op->start_ns = stats_ns();
	for (i = 0; i < op->nparts; i++)
		produce_one(op, &op->parts[i]);
	if (--op->waiting == 0)
		produce_finish(op);
}

void broker_produce_cancel(struct produce_op *op)
{
	size_t i;

	for (i = 0; i < op->nparts; i++)
		commit_wait_cancel(&op->parts[i].sw);
	op->waiting = 0;
}

/* ------------------------------------------------------------------ */
/* Fetch                                                               */
/* ------------------------------------------------------------------ */

/* Reads one part within budget bytes; the bytes it found (or 1 for an
 * error, which is worth answering at once). */
static size_t read_part(struct fetch_part *fp, size_t budget)
{
	struct logd_log *log;
	int rc;

	memset(&fp->rd, 0, sizeof(fp->rd));
	fp->err = 0;
	fp->start = fp->end = -1;
	rc = broker_log(fp->topic, fp->partition, &log);
	if (rc) {
		fp->err = rc;
		snprintf(fp->msg, sizeof(fp->msg), rc == LOGD_ENOTOPIC ?
		    "unknown topic \"%s\"" : "topic \"%s\" has no partition "
		    "%" PRId32, fp->topic, fp->partition);
		return 1;
	}
	fp->start = logd_log_start_offset(log);
	fp->end = logd_log_end_offset(log);
	if (fp->offset < fp->start || fp->offset > fp->end) {
		fp->err = LOGD_ERANGE;
		snprintf(fp->msg, sizeof(fp->msg), "offset %" PRId64 " is out "
		    "of range: partition %" PRId32 " holds %" PRId64 " to %"
		    PRId64 " (start %" PRId64 ", end %" PRId64 ")", fp->offset,
		    fp->partition, fp->start, fp->end, fp->start, fp->end);
		return 1;
	}
	fp->pl = broker_plog(log);
	if (!budget || fp->offset == fp->end)
		return 0;
	rc = logd_log_read(log, fp->offset, budget < fp->max_bytes ? budget :
	    fp->max_bytes, &fp->rd);
	if (rc) {
		fp->err = rc;
		snprintf(fp->msg, sizeof(fp->msg), "read of partition %" PRId32
		    " at offset %" PRId64 ": %s", fp->partition, fp->offset,
		    logd_strerror(rc));
		return 1;
	}
	return fp->rd.len;
}

static void release_reads(struct fetch_op *op)
{
	size_t i;

	for (i = 0; i < op->nparts; i++)
		logd_log_read_release(&op->parts[i].rd);
}

/*
 * Reads every part.  Returns 1 with the reads kept when the fetch is to
 * be answered (min_bytes there, an error, or force), else 0 with them
 * released and op->have set.
 */
static int read_all(struct fetch_op *op, int force)
{
	size_t i, got, total = 0, budget;

	for (i = 0; i < op->nparts; i++) {
		budget = !op->max_bytes ? SIZE_MAX :
		    total >= op->max_bytes ? 0 : op->max_bytes - total;
		/* The first batch found goes out even when larger. */
		if (!total && !budget)
			budget = 1;
		got = read_part(&op->parts[i], budget);
		if (op->parts[i].err)
			force = 1;
		total += got;
	}
	if (force || total >= op->min_bytes || !op->nparts)
		return 1;
	release_reads(op);
	op->have = total;
	return 0;
}

static void on_fetch_timeout(struct ev_timer *t);

/* done(), with the reads counted (records and bytes out, wait time). */
static void fetch_finish(struct fetch_op *op)
{
	uint64_t records;
	size_t i;

	for (i = 0; i < op->nparts; i++) {
		struct fetch_part *fp = &op->parts[i];

		if (!fp->rd.len)
			continue;
		records = broker_count_records(&fp->rd);
		srv.records_out += records;
		if (fp->pl) {
			fp->pl->records_out += records;
			fp->pl->bytes_out += fp->rd.len;
		}
	}
	hist_observe(&stats.fetch_wait, stats_ns() - op->start_ns);
	op->done(op);
}

static void park_fetch(struct fetch_op *op, int64_t wait_ms)
{
	size_t i;

	for (i = 0; i < op->nparts; i++) {
		struct fetch_part *fp = &op->parts[i];
		struct plog *pl = fp->pl;

		fp->op = op;
		fp->wprev = NULL;
		fp->wnext = NULL;
		if (!pl)
			continue;
		fp->seen_size = logd_log_size(pl->log);
		fp->wnext = pl->waiters;
		if (pl->waiters)
			pl->waiters->wprev = fp;
		pl->waiters = fp;
	}
	op->parked = 1;
	op->ready = 0;
	op->pprev = NULL;
	op->pnext = parked;
	if (parked)
		parked->pprev = op;
	parked = op;
	op->timer.fn = on_fetch_timeout;
	op->timer.arg = op;
	ev_timer_start(&op->timer, wait_ms > 0 ? wait_ms : 0);
}

static void unpark_fetch(struct fetch_op *op)
{
	size_t i;

	if (!op->parked)
		return;
	for (i = 0; i < op->nparts; i++) {
		struct fetch_part *fp = &op->parts[i];

		if (!fp->pl)
			continue;
		if (fp->wprev)
			fp->wprev->wnext = fp->wnext;
		else
			fp->pl->waiters = fp->wnext;
		if (fp->wnext)
			fp->wnext->wprev = fp->wprev;
		fp->wnext = fp->wprev = NULL;
		fp->pl = NULL;
	}
	if (op->pprev)
		op->pprev->pnext = op->pnext;
	else
		parked = op->pnext;
	if (op->pnext)
		op->pnext->pprev = op->pprev;
	op->pnext = op->pprev = NULL;
	ev_timer_stop(&op->timer);
	op->parked = 0;
}

/* Answers a parked fetch with what there is now. */
static void answer(struct fetch_op *op)
{
	unpark_fetch(op);
	read_all(op, 1);
	fetch_finish(op);
}

static void on_fetch_timeout(struct ev_timer *t)
{
	answer(t->arg);
}

void broker_fetch(struct fetch_op *op)
{
	size_t i;

	for (i = 0; i < op->nparts; i++) {
		op->parts[i].pl = NULL;
		op->parts[i].op = op;
	}
	op->parked = 0;
	op->start_ns = stats_ns();
	if (op->max_wait_ms > BROKER_MAX_WAIT_MS)
		op->max_wait_ms = BROKER_MAX_WAIT_MS;
	if (read_all(op, op->max_wait_ms <= 0 || srv.stopping)) {
		fetch_finish(op);
		return;
	}
	op->deadline = ev_now() + op->max_wait_ms;
	park_fetch(op, op->max_wait_ms);
}

uint64_t broker_count_records(const struct logd_read *rd)
{
	struct logd_batch_info info;
	const uint8_t *p = rd->data;
	size_t len = rd->len;
	uint64_t n = 0;

	while (len >= LOGD_BATCH_HEADER_SIZE &&
	    logd_batch_header(p, len, &info) == 0 && info.size <= len) {
		n += (uint64_t)info.record_count;
		p += info.size;
		len -= info.size;
	}
	return n;
}

void broker_fetch_cancel(struct fetch_op *op)
{
	unpark_fetch(op);
	release_reads(op);
}

/* The waiters of pl learn how much it grew; full ones go on *ready. */
static void wake_log(struct plog *pl, struct fetch_op **ready)
{
	uint64_t size = logd_log_size(pl->log);
	struct fetch_part *fp;

	for (fp = pl->waiters; fp; fp = fp->wnext) {
		struct fetch_op *op = fp->op;

		if (size > fp->seen_size)
			op->have += size - fp->seen_size;
		fp->seen_size = size;
		if (!op->ready && op->have >= op->min_bytes) {
			op->ready = 1;
			op->rnext = *ready;
			*ready = op;
		}
	}
}

void broker_before_sleep(void)
{
	struct fetch_op *ready = NULL, *op;
	struct plog *pl;

	while ((pl = appended)) {
		appended = pl->anext;
		pl->appended = 0;
		pl->anext = NULL;
		if (pl->waiters)
			wake_log(pl, &ready);
	}
	while ((op = ready)) {
		ready = op->rnext;
		op->ready = 0;
		unpark_fetch(op);
		if (read_all(op, 0))
			fetch_finish(op);
		else
			park_fetch(op, op->deadline - ev_now());
	}
}

int broker_woken(void)
{
	return appended != NULL;
}

void broker_shutdown(void)
{
	while (parked)
		answer(parked);
}

int broker_busy(void)
{
	return commit_busy();
}

/* ------------------------------------------------------------------ */
/* A log that goes (its topic is deleted)                              */
/* ------------------------------------------------------------------ */

struct fetch_op *broker_log_gone(struct logd_log *log, struct fetch_op *list)
{
	struct plog *pl = logd_log_userctx(log), **pp;

	if (!pl)
		return list;
	while (pl->waiters) {
		struct fetch_op *op = pl->waiters->op;

		unpark_fetch(op);
		op->rnext = list;
		list = op;
	}
	commit_forget(pl, LOGD_ENOTOPIC);
	if (pl->appended) {
		for (pp = &appended; *pp && *pp != pl; pp = &(*pp)->anext)
			;
		if (*pp)
			*pp = pl->anext;
	}
	logd_log_set_userctx(log, NULL);
	free(pl);
	return list;
}

void broker_answer(struct fetch_op *list)
{
	struct fetch_op *op;

	while ((op = list)) {
		list = op->rnext;
		read_all(op, 1);
		fetch_finish(op);
	}
}
