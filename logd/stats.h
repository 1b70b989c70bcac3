/*
 * stats.h - the counters and histograms behind /metrics (stats.c).
 *
 * Everything here is written on the loop thread only (the flusher's sync
 * times are recorded when its job is done, on the loop), and read there
 * when a snapshot is made (http_snap.c): no locks, no atomics.
 */
#ifndef LOGD_STATS_H
#define LOGD_STATS_H

#include <stdint.h>

enum { STATS_NATIVE, STATS_KAFKA, STATS_PROTOS };
#define STATS_APIS 64              /* api keys counted (Kafka's < 64) */
#define STATS_ERRORS 256           /* distinct (protocol, api, code) */

/* Bucket bounds in seconds, 100 us to 10 s; the last bucket is +Inf. */
#define HIST_BOUNDS 16
extern const double hist_bounds[HIST_BOUNDS];

struct hist {
	uint64_t b[HIST_BOUNDS + 1];   /* not cumulative */
	uint64_t count;
	double sum;                    /* seconds */
};

struct stats_error {
	int proto, api, code;
	uint64_t n;
};

struct stats {
	uint64_t requests[STATS_PROTOS][STATS_APIS];
	struct stats_error errors[STATS_ERRORS];
	size_t nerrors;
	uint64_t errors_other;         /* past STATS_ERRORS distinct ones */
	struct hist produce_acks1, produce_acks_all, sync, fetch_wait;
};

extern struct stats stats;

/* The monotonic clock in nanoseconds. */
int64_t stats_ns(void);
void stats_request(int proto, int api);
/* code: Kafka's error code, or a liblogd code / negated errno (native). */
void stats_error(int proto, int api, int code);
void hist_observe(struct hist *h, int64_t ns);

#endif /* LOGD_STATS_H */
