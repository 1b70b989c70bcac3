/*
 * http.h - logd's HTTP listener: /metrics (Prometheus text format), the
 * JSON API under /api/ and the status page at /.
 *
 * libmicrohttpd serves the listener's socket (made by listen.c, so it
 * is one more listener beside the native and Kafka ones) on its own
 * thread, with limits on connections, memory and idle time: HTTP never
 * runs on the event loop.  What it shows is a snapshot the loop makes
 * (http_snap.c) when a request finds the last one older than 200 ms:
 * the HTTP thread asks through an eventfd and waits on a condition
 * variable; the loop builds the texts between two events and hands them
 * over.  A scrape costs the loop one pass over the topics and groups at
 * most once a second, however many clients ask.
 */
#ifndef LOGD_HTTP_H
#define LOGD_HTTP_H

#include <stddef.h>

/* What the loop hands over (every text NUL-terminated, malloc'd). */
struct http_snap {
	int refs;                  /* under the HTTP lock */
	long long made_ms;         /* monotonic */
	char *metrics, *topics, *groups, *stats, *throughput;
	size_t metrics_len, topics_len, groups_len, stats_len,
	    throughput_len;
};

/* Serves the listening socket fd (taken).  0 or -1 (logged). */
int http_start(int fd);
/* Stops serving; waits for the HTTP thread. */
void http_stop(void);

/* http_snap.c, on the loop thread: NULL when out of memory. */
struct http_snap *http_snap_make(void);
void http_snap_free(struct http_snap *s);
/* Every 5 s: the throughput history the status page charts. */
void http_snap_sample(void);

#endif /* LOGD_HTTP_H */
