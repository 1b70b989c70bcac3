/*
 * h_produce.c - PRODUCE, and group commit for acks=all.
 *
 * The produce path does no per-record work: it finds the partition,
 * checks each batch in "records" (logd_batch_check: bounds, magic, CRC),
 * appends them all with one logd_log_append() (one copy, into the segment
 * map) and answers.  acks=0 gets no reply; acks=1 is answered at once;
 * acks=-1 (all) is parked until a sync covers its last offset.
 *
 * Group commit: every log appended to joins srv.dirty_logs.  At the end
 * of a loop turn (before-sleep) with acks=all replies parked, or when
 * flush_ms has passed (acks=1 data), and no flush is running,
 * produce_maybe_flush() calls logd_log_flush_begin() for every dirty log
 * and hands the lot to the flusher thread as one job.  Appends go on
 * meanwhile and are covered by the next flush.  When the job is done, the
 * loop calls logd_log_flush_end() for each log and answers every parked
 * request whose log's flushed offset now passes its last offset.  A
 * failed sync never produces a success: its requests get LOGD_EREADONLY
 * (the log refuses appends from then on).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

struct pprod {
	struct pprod *next;
	struct conn *c;
	struct logd_log *log;
	int64_t first, last;
	uint32_t corr;
	int32_t partition;
};

static struct pprod *parked, **parked_tail = &parked;

int produce_parked(void)
{
	return parked != NULL;
}

static void reply_ok(struct conn *c, uint32_t corr, int32_t partition,
    int64_t first, int64_t last)
{
	msgpack_packer *pk = &c->out.pk;

	logd_proto_begin(&c->out, LOGD_API_PRODUCE, corr);
	msgpack_pack_map(pk, 4);
	logd_pack_kv_int(pk, "error", 0);
	logd_pack_kv_int(pk, "partition", partition);
	logd_pack_kv_int(pk, "base_offset", first);
	logd_pack_kv_int(pk, "last_offset", last);
	conn_end(c, 0);
}

/*
 * Answers and removes the parked requests that match: ok() says whether
 * one is covered (1), failed (negative code) or still waiting (0).
 * Returns how many were answered with success.
 */
static int resolve(int (*ok)(struct pprod *p, void *arg), void *arg,
    const char *why)
{
	struct pprod **pp = &parked, *p;
	int rc, answered = 0;

	while ((p = *pp)) {
		rc = ok(p, arg);
		if (!rc) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		if (p->c->state != CONN_DEAD) {
			struct logd_msg m = { .api = LOGD_API_PRODUCE,
				.corr = p->corr };

			if (rc > 0) {
				reply_ok(p->c, p->corr, p->partition,
				    p->first, p->last);
				answered++;
			} else {
				conn_error(p->c, &m, rc, "offsets %lld..%lld "
				    "were appended but %s: %s",
				    (long long)p->first, (long long)p->last,
				    why, logd_strerror(rc));
			}
		}
		p->c->parked--;
		conn_put(p->c);
		free(p);
	}
	parked_tail = &parked;
	for (p = parked; p; p = p->next)
		parked_tail = &p->next;
	return answered;
}

struct failed {
	struct logd_log **logs;
	size_t n;
};

static int covered(struct pprod *p, void *arg)
{
	struct failed *f = arg;
	size_t i;

	if (logd_log_flushed_offset(p->log) > p->last)
		return 1;
	for (i = 0; f && i < f->n; i++)
		if (f->logs[i] == p->log)
			return LOGD_EREADONLY;
	return 0;
}

static int on_log(struct pprod *p, void *arg)
{
	struct failed *f = arg;

	return p->log == f->logs[0] ? (int)f->n : 0;
}

static int on_conn(struct pprod *p, void *arg)
{
	return p->c == arg ? LOGD_ECLOSED : 0;
}

void produce_drop_log(struct logd_log *log, int code)
{
	struct failed f = { &log, (size_t)code };

	resolve(on_log, &f, "the topic was deleted");
}

void produce_drop_conn(struct conn *c)
{
	resolve(on_conn, c, "the connection closed");
}

void produce_flush_done(struct fjob *j)
{
	struct failed f = { 0 };
	size_t i;
	int rc, n;

	f.logs = calloc(j->n ? j->n : 1, sizeof(*f.logs));
	for (i = 0; i < j->n; i++) {
		rc = logd_log_flush_end(j->logs[i], j->fl[i]);
		if (rc) {
			log_error("sync failed (%s): the partition is read-only "
			    "from now on", logd_strerror(rc));
			if (f.logs)
				f.logs[f.n++] = j->logs[i];
		}
	}
	srv.flushing = 0;
	n = resolve(covered, &f, "the sync failed");
	/* How many acks=all requests one sync served: group commit at
	 * work, visible at debug level. */
	log_debug("sync of %zu partitions answered %d acks=all requests",
	    j->n, n);
	free(f.logs);
	admin_flush_idle();
}

void produce_maybe_flush(void)
{
	struct fjob *j;
	struct failed f = { 0 };
	size_t i;
	int rc;

	if (srv.flushing)
		return;
	if (!parked && !srv.flush_due && !srv.stopping)
		return;
	srv.flush_due = 0;
	if (!srv.ndirty) {
		resolve(covered, NULL, NULL);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j) {
		j->type = JOB_FLUSH;
		j->logs = calloc(srv.ndirty, sizeof(*j->logs));
		j->fl = calloc(srv.ndirty, sizeof(*j->fl));
		j->rcs = calloc(srv.ndirty, sizeof(*j->rcs));
	}
	f.logs = calloc(srv.ndirty, sizeof(*f.logs));
	if (!j || !j->logs || !j->fl || !j->rcs || !f.logs) {
		/* Try again next turn; nothing was captured. */
		log_error("out of memory starting a flush");
		fjob_free(j);
		free(f.logs);
		return;
	}
	for (i = 0; i < srv.ndirty; i++) {
		struct logd_flush *fl = NULL;

		rc = logd_log_flush_begin(srv.dirty_logs[i], &fl);
		if (rc) {
			log_error("cannot start a sync: %s",
			    logd_strerror(rc));
			f.logs[f.n++] = srv.dirty_logs[i];
			continue;
		}
		if (!fl)
			continue;
		j->logs[j->n] = srv.dirty_logs[i];
		j->fl[j->n++] = fl;
	}
	srv.ndirty = 0;
	if (f.n)
		resolve(covered, &f, "the sync failed");
	free(f.logs);
	if (!j->n) {
		fjob_free(j);
		resolve(covered, NULL, NULL);
		return;
	}
	srv.flushing = 1;
	flusher_submit(j);
}

/* ------------------------------------------------------------------ */
/* PRODUCE                                                             */
/* ------------------------------------------------------------------ */

/* Checks every batch in records; the record count in *records. */
static int check_batches(struct conn *c, struct logd_msg *m, int acks,
    const uint8_t *p, size_t len, uint64_t *records)
{
	struct logd_batch_info info;
	size_t off = 0, k = 0;
	uint64_t n = 0;
	int rc;

	if (!len) {
		rc = LOGD_EBADBATCH;
		if (acks)
			conn_error(c, m, rc, "\"records\" holds no batch");
		return rc;
	}
	while (off < len) {
		rc = logd_batch_check(p + off, len - off, &info);
		if (rc) {
			if (rc == -EAGAIN)
				rc = LOGD_EBADBATCH;
			if (acks)
				conn_error(c, m, rc, "batch %zu at byte %zu of "
				    "\"records\": %s", k, off,
				    logd_strerror(rc));
			return rc;
		}
		n += (uint64_t)info.record_count;
		off += info.size;
		k++;
	}
	*records = n;
	return 0;
}

void h_produce(struct conn *c, struct logd_msg *m)
{
	char topic[LOGD_TOPIC_NAME_MAX + 1];
	struct logd_topic_config tc;
	struct logd_log *log;
	const void *key, *rec;
	size_t klen, rlen;
	int64_t part, acks, first, last;
	uint64_t records = 0;
	int32_t p;
	int rc;

	if (logd_proto_int_opt(m, NULL, "acks", -1, &acks) ||
	    logd_proto_cstr(m, NULL, "topic", topic, sizeof(topic)) ||
	    logd_proto_int_opt(m, NULL, "partition", -1, &part) ||
	    logd_proto_bin_opt(m, NULL, "key", &key, &klen) ||
	    logd_proto_bin(m, NULL, "records", &rec, &rlen)) {
		conn_error(c, m, LOGD_EPROTO, "%s", m->err);
		return;
	}
	if (acks != 0 && acks != 1 && acks != -1) {
		conn_error(c, m, LOGD_EPROTO, "acks must be 0, 1 or -1 (all), "
		    "not %lld", (long long)acks);
		return;
	}
	rc = logd_store_topic_config(srv.store, topic, &tc);
	if (rc == LOGD_ENOTOPIC && srv.cfg.auto_create_topics) {
		rc = logd_store_topic_create(srv.store, topic, &srv.cfg.topic,
		    ev_wall());
		if (rc == 0)
			log_info("created topic %s (%d partitions) on first "
			    "produce", topic, srv.cfg.topic.partitions);
		if (rc == 0 || rc == LOGD_ETOPICEXIST)
			rc = logd_store_topic_config(srv.store, topic, &tc);
	}
	if (rc) {
		if (acks)
			conn_error(c, m, rc, rc == LOGD_ENOTOPIC ?
			    "unknown topic \"%s\"" : "topic \"%s\": %s", topic,
			    logd_strerror(rc));
		return;
	}
	if (part == -1) {
		if (key)
			p = logd_partition_for_key(key, klen, tc.partitions);
		else
			p = (int32_t)(srv.round_robin++ %
			    (uint32_t)tc.partitions);
	} else if (part < 0 || part >= tc.partitions) {
		if (acks)
			conn_error(c, m, LOGD_ENOPART, "topic \"%s\" has %d "
			    "partitions: no partition %lld", topic,
			    tc.partitions, (long long)part);
		return;
	} else {
		p = (int32_t)part;
	}
	rc = logd_store_log(srv.store, topic, p, &log);
	if (rc) {
		if (acks)
			conn_error(c, m, rc, "topic \"%s\" partition %d: %s",
			    topic, p, logd_strerror(rc));
		return;
	}
	if (check_batches(c, m, (int)acks, rec, rlen, &records))
		return;
	rc = logd_log_append(log, rec, rlen, ev_wall(), &first, &last);
	if (rc) {
		log_warn("append to %s-%d failed: %s", topic, p,
		    logd_strerror(rc));
		if (acks)
			conn_error(c, m, rc, "append to \"%s\" partition %d "
			    "failed: %s", topic, p, logd_strerror(rc));
		return;
	}
	srv.records_in += records;
	srv.appended = 1;
	server_log_dirty(log);
	if (acks == 1) {
		reply_ok(c, m->corr, p, first, last);
	} else if (acks == -1) {
		struct pprod *pp = malloc(sizeof(*pp));

		if (!pp) {
			conn_error(c, m, -ENOMEM, "appended at %lld..%lld but "
			    "out of memory waiting for the sync",
			    (long long)first, (long long)last);
			return;
		}
		pp->next = NULL;
		pp->c = c;
		pp->log = log;
		pp->first = first;
		pp->last = last;
		pp->corr = m->corr;
		pp->partition = p;
		*parked_tail = pp;
		parked_tail = &pp->next;
		c->refs++;
		c->parked++;
	}
}
