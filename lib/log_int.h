/*
 * log_int.h - the partition log's state, shared by partition.c and the
 * cleaner (cleaner.c); not installed.
 *
 * Everything here belongs to the log's thread.  The cleaner reads the
 * maps of the closed segments it holds references to on another thread
 * (they never change), and changes this struct only in
 * logd_log_clean_begin() and logd_log_clean_end(), on the log's thread.
 */
#ifndef LOGD_LOG_INT_H
#define LOGD_LOG_INT_H

#include "logd.h"
#include "segment.h"

struct prod_table;

/*
 * Closed segments are mapped on demand: after open only the active one
 * is, and a read or time lookup maps a closed one again; a log keeps at
 * most LOG_WARM of them mapped (the most recently used), so maps grow
 * with partitions, not with segments (vm.max_map_count is 65530 and
 * each segment has three files).
 */
#define LOG_WARM 2


struct logd_log {
	struct logd_log_config cfg;
	int dirfd;
	struct logd_segment **segs;   /* oldest first; last is active */
	size_t nsegs, segs_cap;
	uint64_t closed_bytes;        /* sum of sizes but the active's */
	int64_t flushed;
	int64_t rp_written;           /* last recovery point on disk */
	int64_t rp_time;              /* monotonic ms of that write */
	int rp_due;                   /* write it at the next flush */
	int dir_dirty;
	int flushing;
	int readonly;                 /* the sync error, 0 if writable */
	void *userctx;                /* logd_log_set_userctx() */
	struct prod_table *producers; /* producers.c, built on first use */
	int producers_built;
	int64_t clean_point;          /* cleaner: first dirty offset */
	int cleaning;                 /* a logd_clean is begun, not ended */
	struct logd_segment *warm[LOG_WARM];  /* closed segments mapped */
};

#define CLEAN_POINT_FILE "cleaner-point"
#define CLEAN_POINT_TMP "cleaner-point.tmp"
#define CLEAN_SUFFIX ".cleaned"

/*
 * At open, before the segments are listed: finishes or undoes a swap a
 * crash interrupted (cleaner.c) and reads the clean point (-1 if none).
 */
__attribute__((visibility("hidden")))
int logd_clean_recover(int dirfd, int64_t *clean_point);

/*
 * partition.c: loads s if it is lazy (segment.h), so that its indexes'
 * counts and timestamps are known; it stays mapped only if warm.
 */
__attribute__((visibility("hidden")))
int log_load(struct logd_log *log, struct logd_segment *s);

/* partition.c: s leaves the log (retention, a clean's swap). */
__attribute__((visibility("hidden")))
void log_unwarm(struct logd_log *log, const struct logd_segment *s);

#endif /* LOGD_LOG_INT_H */
