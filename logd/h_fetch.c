/*
 * h_fetch.c - FETCH, with long-poll.
 *
 * A fetch reads whole stored batches with logd_log_read(), which borrows
 * them from the segment map.  The reply is packed up to the "records" bin
 * header (the last key of the body), then the borrowed bytes are queued
 * behind it and written with writev: stored data is never copied in user
 * space.  The read is released once written.
 *
 * Long-poll: when fewer than min_bytes are available (including a fetch
 * at the end of the log) and max_wait_ms > 0, the fetch is parked with a
 * timer.  At the end of every loop turn in which something was appended
 * (fetch_wake, from before-sleep), each parked fetch whose log's end
 * moved is tried again, so a consumer is answered in the same turn as the
 * producer.  When the timer fires it is answered with whatever there is.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

struct pfetch {
	struct pfetch *next, *prev;
	struct conn *c;
	struct logd_log *log;
	int64_t offset, seen_end;
	size_t max_bytes, min_bytes;
	uint32_t corr;
	int32_t partition;
	struct ev_timer timer;
};

static struct pfetch *pfs;

int fetch_parked(void)
{
	return pfs != NULL;
}

static uint64_t count_records(const uint8_t *p, size_t len)
{
	struct logd_batch_info info;
	uint64_t n = 0;

	while (len >= LOGD_BATCH_HEADER_SIZE &&
	    logd_batch_header(p, len, &info) == 0 && info.size <= len) {
		n += (uint64_t)info.record_count;
		p += info.size;
		len -= info.size;
	}
	return n;
}

/*
 * Answers the fetch if it can: returns 1 when a reply (data or error) was
 * queued, 0 when fewer than min_bytes are available and force is 0.
 */
static int fetch_try(struct conn *c, uint32_t corr, struct logd_log *log,
    int32_t partition, int64_t offset, size_t max_bytes, size_t min_bytes,
    int force)
{
	struct logd_msg m = { .api = LOGD_API_FETCH, .corr = corr };
	msgpack_packer *pk = &c->out.pk;
	struct logd_read rd = { 0 };
	int64_t start = logd_log_start_offset(log);
	int64_t end = logd_log_end_offset(log);
	int rc;

	if (offset < start || offset > end) {
		conn_error(c, &m, LOGD_ERANGE, "offset %" PRId64 " is out of "
		    "range: partition %d holds %" PRId64 " to %" PRId64
		    " (start %" PRId64 ", end %" PRId64 ")", offset,
		    partition, start, end, start, end);
		return 1;
	}
	rc = logd_log_read(log, offset, max_bytes, &rd);
	if (rc) {
		conn_error(c, &m, rc, "read of partition %d at offset %"
		    PRId64 ": %s", partition, offset, logd_strerror(rc));
		return 1;
	}
	if (!force && rd.len < min_bytes) {
		logd_log_read_release(&rd);
		return 0;
	}
	logd_proto_begin(&c->out, LOGD_API_FETCH, corr);
	msgpack_pack_map(pk, 5);
	logd_pack_kv_int(pk, "error", 0);
	logd_pack_kv_int(pk, "partition", partition);
	logd_pack_kv_int(pk, "start", start);
	logd_pack_kv_int(pk, "end", logd_log_end_offset(log));
	logd_pack_str(pk, "records");
	msgpack_pack_bin(pk, rd.len);
	conn_end(c, rd.len);
	srv.records_out += count_records(rd.data, rd.len);
	conn_push_read(c, &rd);
	return 1;
}

static void unpark(struct pfetch *pf)
{
	ev_timer_stop(&pf->timer);
	if (pf->prev)
		pf->prev->next = pf->next;
	else
		pfs = pf->next;
	if (pf->next)
		pf->next->prev = pf->prev;
	pf->c->parked--;
	conn_put(pf->c);
	free(pf);
}

static void answer(struct pfetch *pf)
{
	if (pf->c->state != CONN_DEAD)
		fetch_try(pf->c, pf->corr, pf->log, pf->partition, pf->offset,
		    pf->max_bytes, pf->min_bytes, 1);
	unpark(pf);
}

static void on_timeout(struct ev_timer *t)
{
	answer(t->arg);
}

void fetch_wake(void)
{
	struct pfetch *pf, *next;
	int64_t end;

	for (pf = pfs; pf; pf = next) {
		next = pf->next;
		end = logd_log_end_offset(pf->log);
		if (end == pf->seen_end)
			continue;
		pf->seen_end = end;
		if (fetch_try(pf->c, pf->corr, pf->log, pf->partition,
		    pf->offset, pf->max_bytes, pf->min_bytes, 0))
			unpark(pf);
	}
}

void fetch_reply_all(void)
{
	while (pfs)
		answer(pfs);
}

void fetch_drop_log(struct logd_log *log, int code)
{
	struct pfetch *pf, *next;

	for (pf = pfs; pf; pf = next) {
		next = pf->next;
		if (pf->log != log)
			continue;
		if (pf->c->state != CONN_DEAD) {
			struct logd_msg m = { .api = LOGD_API_FETCH,
				.corr = pf->corr };

			conn_error(pf->c, &m, code, "the topic was deleted "
			    "while the fetch waited");
		}
		unpark(pf);
	}
}

void fetch_drop_conn(struct conn *c)
{
	struct pfetch *pf, *next;

	for (pf = pfs; pf; pf = next) {
		next = pf->next;
		if (pf->c == c)
			unpark(pf);
	}
}

void h_fetch(struct conn *c, struct logd_msg *m)
{
	char topic[LOGD_TOPIC_NAME_MAX + 1];
	int64_t part, offset, max_bytes, min_bytes, max_wait;
	struct logd_log *log;
	struct pfetch *pf;
	int rc;

	if (logd_proto_cstr(m, NULL, "topic", topic, sizeof(topic)) ||
	    logd_proto_int(m, NULL, "partition", &part) ||
	    logd_proto_int(m, NULL, "offset", &offset) ||
	    logd_proto_int_opt(m, NULL, "max_bytes", 1 << 20, &max_bytes) ||
	    logd_proto_int_opt(m, NULL, "min_bytes", 1, &min_bytes) ||
	    logd_proto_int_opt(m, NULL, "max_wait_ms", 0, &max_wait)) {
		conn_error(c, m, LOGD_EPROTO, "%s", m->err);
		return;
	}
	if (max_bytes < 1 || min_bytes < 0 || max_wait < 0) {
		conn_error(c, m, LOGD_EPROTO, "max_bytes must be >= 1, "
		    "min_bytes and max_wait_ms >= 0");
		return;
	}
	if (part < 0 || part > INT32_MAX) {
		conn_error(c, m, LOGD_ENOPART, "no partition %lld",
		    (long long)part);
		return;
	}
	rc = logd_store_log(srv.store, topic, (int32_t)part, &log);
	if (rc) {
		conn_error(c, m, rc, rc == LOGD_ENOTOPIC ?
		    "unknown topic \"%s\"" : "topic \"%s\" has no partition "
		    "%lld", topic, (long long)part);
		return;
	}
	if (max_bytes > (int64_t)srv.cfg.max_frame_bytes)
		max_bytes = (int64_t)srv.cfg.max_frame_bytes;
	if (fetch_try(c, m->corr, log, (int32_t)part, offset,
	    (size_t)max_bytes, (size_t)min_bytes,
	    max_wait == 0 || srv.stopping))
		return;
	pf = calloc(1, sizeof(*pf));
	if (!pf) {
		fetch_try(c, m->corr, log, (int32_t)part, offset,
		    (size_t)max_bytes, (size_t)min_bytes, 1);
		return;
	}
	pf->c = c;
	pf->log = log;
	pf->offset = offset;
	pf->seen_end = logd_log_end_offset(log);
	pf->max_bytes = (size_t)max_bytes;
	pf->min_bytes = (size_t)min_bytes;
	pf->corr = m->corr;
	pf->partition = (int32_t)part;
	pf->timer.fn = on_timeout;
	pf->timer.arg = pf;
	pf->next = pfs;
	if (pfs)
		pfs->prev = pf;
	pfs = pf;
	c->refs++;
	c->parked++;
	ev_timer_start(&pf->timer, max_wait);
}
