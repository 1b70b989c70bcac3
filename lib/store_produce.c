/*
 * store_produce.c - one produce: find (or create) the topic, choose the
 * partition, check every batch, append them with one copy.
 *
 * The daemon's protocols (native and Kafka) differ only in how they
 * carry a produce; what a produce does is decided here, once.  The
 * partition for a key is Kafka's default partitioner (murmur2, positive,
 * modulo the partition count), so logd and Kafka clients agree; without
 * a key, partitions take turns.  The batches are checked before anything
 * is appended (bounds, magic, CRC), so a request is stored whole or not
 * at all.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "logd.h"
#include "producers.h"
#include "store_int.h"

/* Checks every batch in p's data; the record count, the batch count and
 * the first batch's header on success. */
static int
check_batches(struct logd_produce *p, uint64_t *records, size_t *nbatches,
    struct logd_batch_info *first)
{
	const uint8_t *b = p->data;
	struct logd_batch_info info;
	size_t off = 0, k = 0;
	uint64_t n = 0;
	int rc;

	p->bad_batch = p->bad_at = 0;
	p->why = NULL;
	if (p->len == 0)
		return LOGD_EBADBATCH;
	while (off < p->len) {
		rc = logd_batch_check(b + off, p->len - off, &info);
		if (!rc)
			rc = logd_batch_check_deep(b + off, &info, &p->why);
		if (rc) {
			p->bad_batch = k;
			p->bad_at = off;
			return rc == -EAGAIN ? LOGD_EBADBATCH : rc;
		}
		if (k == 0)
			*first = info;
		n += (uint64_t)info.record_count;
		off += info.size;
		k++;
	}
	*records = n;
	*nbatches = k;
	return 0;
}

/* A compacted topic keeps records by key: each record must have one. */
static int
check_keys(struct logd_produce *p)
{
	const uint8_t *b = p->data;
	struct logd_batch_info info;
	struct logd_batch_iter it;
	struct logd_record rec;
	size_t off = 0, k = 0, sz;
	int rc;

	while (off < p->len) {
		/* check_batches() checked them all */
		if ((rc = logd_batch_header(b + off, p->len - off, &info)) < 0)
			return rc;
		sz = info.size;
		if ((rc = logd_batch_iter_init(&it, b + off, sz)) < 0)
			return rc;
		while ((rc = logd_batch_iter_next(&it, &rec)) == 1)
			if (rec.key == NULL) {
				logd_batch_iter_release(&it);
				p->bad_batch = k;
				p->bad_at = off;
				p->why = "a record without a key: the topic is "
				    "compacted (cleanup.policy compact)";
				return LOGD_ENOKEY;
			}
		if (rc < 0)
			return rc;
		off += sz;
		k++;
	}
	return 0;
}

/*
 * A CreateTime topic takes a timestamp t (other than -1, "none") within
 * [now - before.max, now + after.max]; computed without overflow.
 */
static int
ts_refused(const struct logd_topic_config *tc, int64_t now, int64_t t,
    const char **dir, int64_t *limit)
{
	if (t == -1)
		return 0;
	if (t > now && (uint64_t)t - (uint64_t)now >
	    (uint64_t)tc->timestamp_after_max_ms) {
		*dir = "after";
		*limit = tc->timestamp_after_max_ms;
		return 1;
	}
	if (t < now && (uint64_t)now - (uint64_t)t >
	    (uint64_t)tc->timestamp_before_max_ms) {
		*dir = "before";
		*limit = tc->timestamp_before_max_ms;
		return 1;
	}
	return 0;
}

/*
 * Refuses timestamps too far from the broker's clock (Kafka 3.6's
 * message.timestamp.after.max.ms and before.max.ms): a producer whose
 * clock is off, or one that means harm, would otherwise roll a segment
 * per batch and keep segments from retention.  Checked on each batch's
 * first and largest timestamp, as the header gives them.
 */
static int
check_timestamps(struct logd_produce *p, const struct logd_topic_config *tc)
{
	const uint8_t *b = p->data;
	struct logd_batch_info info;
	size_t off = 0, k = 0;
	const char *dir;
	int64_t limit, t;

	if (tc->log.log_append_time)
		return 0;   /* stamped by the broker */
	while (off < p->len && logd_batch_header(b + off, p->len - off,
	    &info) == 0 && info.size <= p->len - off) {
		t = info.base_timestamp;
		if (ts_refused(tc, p->now_ms, t, &dir, &limit) ||
		    ts_refused(tc, p->now_ms, t = info.max_timestamp, &dir,
		    &limit)) {
			p->bad_batch = k;
			p->bad_at = off;
			snprintf(p->why_buf, sizeof(p->why_buf), "timestamp "
			    "%" PRId64 " is more than %" PRId64 " ms %s the "
			    "broker's clock (%" PRId64 "; topic setting "
			    "message.timestamp.%s.max.ms)", t, limit, dir,
			    p->now_ms, dir);
			p->why = p->why_buf;
			return LOGD_ETIMESTAMP;
		}
		off += info.size;
		k++;
	}
	return 0;
}

/*
 * Idempotent producers: the first batch against its producer's state.
 * 1 when the request is a retry (p->first/last set), 0 to append, or an
 * error.  A retry must be the one batch it was (Kafka's clients send one
 * batch per partition and request).
 */
static int
check_sequence(struct logd_log *log, struct logd_produce *p, size_t nb,
    const struct logd_batch_info *info)
{
	int64_t first, last;
	int rc;

	if (info->producer_id < 0)
		return 0;
	rc = prod_check(*logd_log_producers(log), info, &first, &last);
	if (rc < 0)
		return rc;
	if (rc == PROD_DUPLICATE) {
		if (nb != 1)
			return LOGD_ESEQUENCE;
		p->first = first;
		p->last = last;
		p->duplicate = 1;
		p->records = 0;
		return 1;
	}
	return 0;
}

/* Remembers the appended batches of idempotent producers. */
static void
record_sequences(struct logd_log *log, const struct logd_produce *p,
    int64_t first)
{
	struct prod_table **t = logd_log_producers(log);
	const uint8_t *b = p->data;
	struct logd_batch_info info;
	size_t off = 0;

	while (off < p->len && logd_batch_header(b + off, p->len - off,
	    &info) == 0 && info.size <= p->len - off) {
		if (prod_record(t, &info, first) < 0)
			return;   /* unknown producer next time: accepted */
		first += info.last_offset - info.base_offset + 1;
		off += info.size;
	}
}

/* The topic's config, creating the topic when p asks for it. */
static int
find_topic(struct logd_store *st, struct logd_produce *p,
    struct logd_topic_config *tc, int *created)
{
	int rc = logd_store_topic_config(st, p->topic, tc);

	*created = 0;
	if (rc != LOGD_ENOTOPIC || p->create == NULL)
		return rc;
	rc = logd_store_topic_create(st, p->topic, p->create, p->now_ms);
	if (rc == 0)
		*created = 1;
	if (rc == 0 || rc == LOGD_ETOPICEXIST)
		rc = logd_store_topic_config(st, p->topic, tc);
	return rc;
}

int
logd_store_produce(struct logd_store *st, struct logd_produce *p)
{
	struct logd_topic_config tc;
	struct logd_batch_info info;
	struct logd_log *log;
	int64_t first, last;
	uint64_t records = 0;
	size_t nb = 0;
	int32_t part;
	int created, rc;

	rc = find_topic(st, p, &tc, &created);
	if (rc)
		return rc;
	p->created = created;
	if (p->partition == -1)
		part = p->key != NULL ?
		    logd_partition_for_key(p->key, p->key_len, tc.partitions) :
		    (int32_t)(st->round_robin++ % (uint32_t)tc.partitions);
	else if (p->partition < 0 || p->partition >= tc.partitions)
		return LOGD_ENOPART;
	else
		part = p->partition;
	rc = logd_store_log(st, p->topic, part, &log);
	if (rc)
		return rc;
	rc = check_batches(p, &records, &nb, &info);
	if (rc == 0)
		rc = check_timestamps(p, &tc);
	if (rc == 0 && (tc.log.cleanup_policy & LOGD_CLEANUP_COMPACT))
		rc = check_keys(p);
	if (rc)
		return rc;
	p->duplicate = 0;
	rc = check_sequence(log, p, nb, &info);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		p->partition = part;
		p->log = log;
		p->append_time = tc.log.log_append_time ? p->now_ms : -1;
		return 0;
	}
	rc = logd_log_append(log, p->data, p->len, p->now_ms, &first, &last);
	if (rc)
		return rc;
	if (info.producer_id >= 0)
		record_sequences(log, p, first);
	p->partition = part;
	p->log = log;
	p->first = first;
	p->last = last;
	p->records = records;
	p->append_time = tc.log.log_append_time ? p->now_ms : -1;
	return 0;
}
