/*
 * producers.c - the sequences of idempotent (Kafka) producers, per
 * partition log, so that a retried batch is not appended twice and a
 * lost one is noticed.
 *
 * Each producer id keeps its epoch and its last five batches (first and
 * last sequence, first and last offset), as Kafka brokers do.  A batch
 * whose sequences match one of them is a retry: it is answered with the
 * offsets it got then and not appended.  The next batch must start one
 * past the last sequence (wrapping after 2^31 - 1); a new epoch starts at
 * sequence 0; an older epoch is fenced.  A producer the table does not
 * know is accepted as it comes.
 *
 * The state survives restarts the way Kafka rebuilds it: from the log.
 * On a log's first idempotent produce the table is rebuilt from the
 * batch headers of its last segment (partition.c), which covers the
 * retries a crash provokes.  At most PROD_MAX producers are kept per
 * partition; the one used longest ago is dropped first.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "producers.h"

#define PROD_BATCHES 5
#define PROD_MAX 1024

struct prod_batch {
	int32_t first_seq, last_seq;
	int64_t first_off, last_off;
};

struct prod_entry {
	int64_t pid;
	uint64_t used;             /* tick of the last use, for eviction */
	int16_t epoch;
	int nb;                    /* batches kept, newest last */
	struct prod_batch b[PROD_BATCHES];
};

struct prod_table {
	struct prod_entry *v;
	size_t n, cap;
	uint64_t tick;
};

static struct prod_entry *
find(struct prod_table *t, int64_t pid)
{
	size_t i;

	for (i = 0; t != NULL && i < t->n; i++)
		if (t->v[i].pid == pid)
			return &t->v[i];
	return NULL;
}

static int32_t
last_seq_of(const struct logd_batch_info *info)
{
	int64_t s = (int64_t)info->base_sequence + info->record_count - 1;

	return (int32_t)(s > INT32_MAX ? s - INT32_MAX - 1 : s);
}

int
prod_check(struct prod_table *t, const struct logd_batch_info *info,
    int64_t *first, int64_t *last)
{
	struct prod_entry *e;
	int32_t want;
	int i;

	if (info->producer_id < 0 || info->base_sequence < 0)
		return PROD_NEW;
	e = find(t, info->producer_id);
	if (e == NULL || e->nb == 0)
		return PROD_NEW;
	if (info->producer_epoch < e->epoch)
		return LOGD_EFENCED;
	if (info->producer_epoch > e->epoch)
		return info->base_sequence == 0 ? PROD_NEW : LOGD_ESEQUENCE;
	for (i = 0; i < e->nb; i++)
		if (e->b[i].first_seq == info->base_sequence &&
		    e->b[i].last_seq == last_seq_of(info)) {
			*first = e->b[i].first_off;
			*last = e->b[i].last_off;
			return PROD_DUPLICATE;
		}
	want = e->b[e->nb - 1].last_seq == INT32_MAX ? 0 :
	    e->b[e->nb - 1].last_seq + 1;
	return info->base_sequence == want ? PROD_NEW : LOGD_ESEQUENCE;
}

/* The entry for pid, made (evicting the least recently used) if new. */
static struct prod_entry *
entry(struct prod_table *t, int64_t pid)
{
	struct prod_entry *e = find(t, pid), *v;
	size_t i, old = 0;

	if (e != NULL)
		return e;
	if (t->n == PROD_MAX) {
		for (i = 1; i < t->n; i++)
			if (t->v[i].used < t->v[old].used)
				old = i;
		e = &t->v[old];
	} else {
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 8;

			v = realloc(t->v, cap * sizeof(*v));
			if (v == NULL)
				return NULL;
			t->v = v;
			t->cap = cap;
		}
		e = &t->v[t->n++];
	}
	memset(e, 0, sizeof(*e));
	e->pid = pid;
	return e;
}

int
prod_record(struct prod_table **tp, const struct logd_batch_info *info,
    int64_t first)
{
	struct prod_table *t = *tp;
	struct prod_entry *e;
	struct prod_batch *b;

	if (info->producer_id < 0 || info->base_sequence < 0)
		return 0;
	if (t == NULL) {
		t = calloc(1, sizeof(*t));
		if (t == NULL)
			return -ENOMEM;
		*tp = t;
	}
	e = entry(t, info->producer_id);
	if (e == NULL)
		return -ENOMEM;
	if (info->producer_epoch != e->epoch)
		e->nb = 0;
	e->epoch = info->producer_epoch;
	e->used = ++t->tick;
	if (e->nb == PROD_BATCHES) {
		memmove(e->b, e->b + 1, (PROD_BATCHES - 1) * sizeof(e->b[0]));
		e->nb--;
	}
	b = &e->b[e->nb++];
	b->first_seq = info->base_sequence;
	b->last_seq = last_seq_of(info);
	b->first_off = first;
	b->last_off = first + (info->last_offset - info->base_offset);
	return 0;
}

void
prod_free(struct prod_table *t)
{
	if (t == NULL)
		return;
	free(t->v);
	free(t);
}
