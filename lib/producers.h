/*
 * producers.h - idempotent producers' sequences per partition log
 * (producers.c), shared with partition.c and store_produce.c.  Not
 * installed.
 */
#ifndef LOGD_PRODUCERS_H
#define LOGD_PRODUCERS_H

#include <stddef.h>
#include <stdint.h>

#include "logd.h"

struct prod_table;

/* The outcome of checking one batch against its producer's state. */
enum { PROD_NEW, PROD_DUPLICATE };

/*
 * Checks the batch (its header in info) of an idempotent producer
 * (producer_id >= 0): PROD_NEW when it is the next in sequence (or the
 * producer is unknown), PROD_DUPLICATE with the offsets it was given when
 * it is one of the producer's last five batches; LOGD_ESEQUENCE for a
 * gap, LOGD_EFENCED for an older epoch.
 */
int prod_check(struct prod_table *t, const struct logd_batch_info *info,
    int64_t *first, int64_t *last);
/* Records an appended batch at first..last.  -ENOMEM leaves it out. */
int prod_record(struct prod_table **t, const struct logd_batch_info *info,
    int64_t first);
void prod_free(struct prod_table *t);

/* partition.c: the log's table, built from its last segment on first use. */
struct prod_table **logd_log_producers(struct logd_log *log);

#endif /* LOGD_PRODUCERS_H */
