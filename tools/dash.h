/*
 * dash.h - the parts of sensordash(1), the weather pipeline's dashboard.
 *
 * Three threads share one struct dash:
 * - the feed thread (dash_feed.c) reads sensor_data and weather_alerts
 *   from logd as a plain consumer (no group, nothing committed: the
 *   dashboard is a view), starting at now - window by timestamp, and
 *   folds every record into the state; it also asks logd for the alert
 *   consumer group's lag;
 * - libmicrohttpd's threads (dash_http.c) render the state as JSON and
 *   stream events to browsers (Server-Sent Events);
 * - main() (sensordash.c) parses options, waits for a signal, stops both.
 *
 * The state (dash_state.c) is guarded by one mutex.  Every change a
 * browser must see is also appended, already rendered as an SSE event,
 * to a ring of recent events with increasing sequence numbers; a stream
 * sends the ring from its position on, and a browser that fell behind
 * the ring is told to reload.  JSON snapshots carry the sequence number
 * they include, so a page that loads a snapshot and then applies events
 * applies each change once.
 *
 * Memory is bounded: at most DASH_MAX_STATIONS stations of at most
 * DASH_POINTS chart points each (readings are averaged into window /
 * DASH_POINTS buckets), DASH_RECENT_ALERTS alerts in the feed,
 * DASH_MAX_COUNTS (type, city) alert counters, DASH_EVENTS events.
 */
#ifndef DASH_H
#define DASH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "tool.h"

#define DASH_MAX_STATIONS 2000  /* ~58 MB of chart points at most */
#define DASH_POINTS 720         /* chart points per station and window */
#define DASH_RECENT_ALERTS 200  /* alerts kept for the feed */
#define DASH_MAX_COUNTS 4096    /* (alert type, city) pairs counted */
#define DASH_EVENTS 1024        /* SSE events kept for slow streams */
#define DASH_EVENT_CHUNK (64 * 1024) /* readings events are split near
                                   this size: the ring holds at most about
                                   DASH_EVENTS of them (64 MiB) */
#define DASH_EVENT_MAX (1 << 20) /* a larger event becomes a "reset" */
#define DASH_ALERT_ACTIVE_MS (15 * 60 * 1000) /* a station's alert state
                                   lasts this long after its alert */
#define DASH_RATE_SLOTS 16      /* seconds of readings/s history */

struct dash_point {
	int64_t t;                /* time of the bucket's latest reading */
	float v[4];               /* mean temperature, humidity, wind,
	                             pressure of the bucket's readings */
	uint32_t n[4];            /* readings averaged into v[m] (0: none
	                             had a number for it) */
};

struct dash_station {
	char id[64];
	char city[64];
	double lat, lon;
	int64_t last_t;           /* latest reading: record timestamp, ms */
	double last[4];
	uint8_t last_have;
	uint64_t readings;
	/* latest alert */
	int64_t alert_t;          /* ms, 0: none */
	char alert_type[33];
	char alert_severity[16];
	/* chart points: a ring of DASH_POINTS, oldest first from head */
	struct dash_point *pts;
	size_t head, npts;
	int dirty;                /* changed since the last readings event */
};

struct dash_alert {
	char id[40];              /* "partition:offset" in weather_alerts */
	int64_t t;                /* record timestamp, ms */
	char alert_ts[40];
	char sensor_id[64];
	char city[64];
	char type[33];
	char metric[33];
	char severity[16];
	double value, threshold;
};

struct dash_count {
	char type[33];
	char city[64];
	uint64_t n;
};

struct dash_event {
	uint64_t seq;
	char *data;               /* "id: ...\nevent: ...\ndata: ...\n\n" */
	size_t len;
};

/* What the feed thread knows of logd, for /api/health. */
struct dash_health {
	int connected;
	char error[256];          /* the last problem, "" when none */
	int64_t since_ms;         /* connected or disconnected since */
	int64_t group_lag;        /* the alert group's lag, -1 unknown */
	char group_state[32];
	int group_members;
	int64_t readings_end;     /* sum of sensor_data end offsets, -1 */
	int64_t alerts_end;       /* sum of weather_alerts end offsets, -1 */
	int replaying;            /* 1 until the first caught-up poll */
};

struct dash_opts {
	const char *listen;       /* -l host:port */
	const char *addr;         /* -b broker */
	const char *readings_topic;
	const char *alerts_topic;
	const char *group;        /* the alert consumer group, for its lag */
	int64_t window_ms;        /* -w */
	int max_conns;            /* -m */
	int max_streams;          /* -M */
	int timeout_s;            /* -T */
	int verbose;
};

struct dash {
	struct dash_opts o;
	pthread_mutex_t mu;
	pthread_cond_t cond;      /* broadcast on each event and at stop */
	int stopping;             /* set under mu, atomically: the feed
	                             thread reads it without mu */
	int64_t started_ms;
	int64_t bucket_ms;

	struct dash_station *st;  /* DASH_MAX_STATIONS, in arrival order */
	size_t nst;
	int *index;               /* open addressing by id: st index or -1 */
	uint64_t readings, alerts, skipped;
	uint64_t rate[DASH_RATE_SLOTS]; /* readings by arrival second */
	int64_t rate_sec[DASH_RATE_SLOTS];

	struct dash_alert recent[DASH_RECENT_ALERTS]; /* ring */
	size_t recent_head, nrecent;
	struct dash_count *counts;
	size_t ncounts;

	struct dash_event ev[DASH_EVENTS]; /* ring by seq % DASH_EVENTS */
	uint64_t seq;             /* of the last event, 0: none yet */
	int streams;              /* open SSE streams */

	struct dash_health h;

	const char *page;         /* the HTML, static */
	size_t page_len;
	char *chartjs;            /* Chart.js, read at start */
	size_t chartjs_len;
};

/* A reading or an alert, decoded by the feed thread. */
struct dash_reading {
	const char *id, *city;
	double lat, lon;
	int have_pos;
	int64_t t;
	double v[4];
	uint8_t have;
};

/* ---- dash_state.c (callers hold d->mu unless said otherwise) ---- */

/* Initializes d (options already in d->o).  0 or -ENOMEM. */
int dash_init(struct dash *d);
void dash_free(struct dash *d);

/* Folds a reading into its station (created if new, unless there are
 * DASH_MAX_STATIONS already: then it is counted as skipped). */
void dash_add_reading(struct dash *d, const struct dash_reading *r,
    int64_t now_ms);
/* Adds an alert to the feed, the counts and its station's state, and
 * publishes it as an "alert" event. */
void dash_add_alert(struct dash *d, const struct dash_alert *a);
/* Publishes one "readings" event with every dirty station, if any. */
void dash_flush_readings(struct dash *d);
/* Publishes a "health" event. */
void dash_publish_health(struct dash *d, int64_t now_ms);
/* Readings per second over the last ten full seconds. */
double dash_rate(const struct dash *d, int64_t now_ms);

/* The JSON bodies of /api/stations, /api/alerts and /api/health; take
 * d->mu themselves.  0 or -ENOMEM. */
int dash_json_stations(struct dash *d, struct tool_buf *b);
int dash_json_alerts(struct dash *d, struct tool_buf *b);
int dash_json_health(struct dash *d, struct tool_buf *b);

/* ---- dash_feed.c ---- */

/* The feed thread's body (arg: struct dash *); returns when d->stopping. */
void *dash_feed_main(void *arg);

/* ---- dash_http.c ---- */

struct MHD_Daemon;
/* Starts the HTTP server on d->o.listen.  Returns 0, or -1 after
 * printing why. *port is the port bound. */
int dash_http_start(struct dash *d, struct MHD_Daemon **out, int *port);
/* Wakes the streams and stops the server.  Accepts NULL. */
void dash_http_stop(struct dash *d, struct MHD_Daemon *mhd);

#endif /* DASH_H */
