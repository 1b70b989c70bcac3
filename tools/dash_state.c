/*
 * dash_state.c - sensordash's in-memory view of the pipeline (dash.h).
 *
 * Stations live in one array allocated at start (DASH_MAX_STATIONS) in
 * the order they first reported, found by id through an open-addressing
 * table; pages want them by city, so rendering sorts an index array.
 * Each station's chart is a ring of DASH_POINTS buckets of window /
 * DASH_POINTS milliseconds: a reading in the newest bucket is averaged
 * into it, a later one starts a new bucket, an earlier one (out of
 * order, which per-station ordering on one partition rules out for
 * sensorgen) changes only the counts.  Buckets older than the window
 * before the station's newest reading are dropped.
 *
 * Events are rendered once, when published, and kept in a ring; streams
 * copy them out under the mutex.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* qsort_r */
#endif
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dash.h"

#define INDEX_SIZE (4 * DASH_MAX_STATIONS) /* at most a quarter full */

static const char *const metric_names[4] = {
	"temperature", "humidity", "wind_speed", "pressure"
};

int
dash_init(struct dash *d)
{
	size_t i;

	d->st = calloc(DASH_MAX_STATIONS, sizeof(*d->st));
	d->index = malloc(INDEX_SIZE * sizeof(*d->index));
	d->counts = calloc(DASH_MAX_COUNTS, sizeof(*d->counts));
	if (d->st == NULL || d->index == NULL || d->counts == NULL) {
		dash_free(d);
		return -ENOMEM;
	}
	for (i = 0; i < INDEX_SIZE; i++)
		d->index[i] = -1;
	d->bucket_ms = d->o.window_ms / DASH_POINTS;
	if (d->bucket_ms < 1)
		d->bucket_ms = 1;
	d->h.group_lag = -1;
	d->h.readings_end = d->h.alerts_end = -1;
	d->h.replaying = 1;
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cond, NULL);
	return 0;
}

void
dash_free(struct dash *d)
{
	size_t i;

	if (d->st != NULL)
		for (i = 0; i < d->nst; i++)
			free(d->st[i].pts);
	for (i = 0; i < DASH_EVENTS; i++)
		free(d->ev[i].data);
	free(d->st);
	free(d->index);
	free(d->counts);
	free(d->chartjs);
	d->st = NULL;
	d->index = NULL;
	d->counts = NULL;
	d->chartjs = NULL;
}

/* ---- Stations ---- */

/* FNV-1a: enough for station ids. */
static size_t
hash_id(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % INDEX_SIZE;
}

static struct dash_station *
station_get(struct dash *d, const char *id)
{
	size_t k = hash_id(id);
	struct dash_station *s;

	while (d->index[k] >= 0) {
		s = &d->st[d->index[k]];
		if (!strcmp(s->id, id))
			return s;
		k = (k + 1) % INDEX_SIZE;
	}
	if (d->nst == DASH_MAX_STATIONS)
		return NULL;
	s = &d->st[d->nst];
	s->pts = calloc(DASH_POINTS, sizeof(*s->pts));
	if (s->pts == NULL)
		return NULL;
	snprintf(s->id, sizeof(s->id), "%s", id);
	d->index[k] = (int)d->nst++;
	return s;
}

static struct dash_point *
point_at(struct dash_station *s, size_t i)
{
	return &s->pts[(s->head + i) % DASH_POINTS];
}

static void
rate_count(struct dash *d, int64_t t, int64_t now_ms)
{
	int64_t sec = t / 1000;
	size_t k;

	if (t < now_ms - 1000 * DASH_RATE_SLOTS || t > now_ms + 1000)
		return;
	k = (size_t)(sec % DASH_RATE_SLOTS);
	if (d->rate_sec[k] != sec) {
		d->rate_sec[k] = sec;
		d->rate[k] = 0;
	}
	d->rate[k]++;
}

double
dash_rate(const struct dash *d, int64_t now_ms)
{
	int64_t now_sec = now_ms / 1000;
	uint64_t n = 0;
	size_t k;

	for (k = 0; k < DASH_RATE_SLOTS; k++)
		if (d->rate_sec[k] >= now_sec - 10 && d->rate_sec[k] < now_sec)
			n += d->rate[k];
	return (double)n / 10.0;
}

void
dash_add_reading(struct dash *d, const struct dash_reading *r,
    int64_t now_ms)
{
	struct dash_station *s = station_get(d, r->id);
	struct dash_point *p;
	int m;

	if (s == NULL) {
		d->skipped++;
		return;
	}
	d->readings++;
	s->readings++;
	rate_count(d, r->t, now_ms);
	if (r->city != NULL)
		snprintf(s->city, sizeof(s->city), "%s", r->city);
	if (r->have_pos) {
		s->lat = r->lat;
		s->lon = r->lon;
	}
	if (r->t < s->last_t)
		return;
	s->last_t = r->t;
	s->last_have = r->have;
	for (m = 0; m < 4; m++)
		s->last[m] = r->v[m];
	s->dirty = 1;

	p = s->npts > 0 ? point_at(s, s->npts - 1) : NULL;
	if (p == NULL || p->t / d->bucket_ms != r->t / d->bucket_ms) {
		if (s->npts == DASH_POINTS) {
			s->head = (s->head + 1) % DASH_POINTS;
			s->npts--;
		}
		p = point_at(s, s->npts++);
		memset(p, 0, sizeof(*p));
	}
	p->t = r->t;
	for (m = 0; m < 4; m++) {
		if (!(r->have & (1 << m)))
			continue;
		p->n[m]++;
		p->v[m] += (float)((r->v[m] - p->v[m]) / p->n[m]);
	}
	while (s->npts > 1 && point_at(s, 0)->t < r->t - d->o.window_ms) {
		s->head = (s->head + 1) % DASH_POINTS;
		s->npts--;
	}
}

/* ---- Rendering ---- */

static void
json_num(struct tool_buf *b, double v, int have)
{
	if (!have || !isfinite(v))
		tool_buf_adds(b, "null");
	else
		tool_buf_printf(b, "%.6g", v);
}

static void
json_str(struct tool_buf *b, const char *s)
{
	tool_json_string(b, s, strlen(s));
}

static void
json_point(struct tool_buf *b, const struct dash_point *p)
{
	int m;

	tool_buf_printf(b, "[%" PRId64, p->t);
	for (m = 0; m < 4; m++) {
		tool_buf_addc(b, ',');
		json_num(b, p->v[m], p->n[m] > 0);
	}
	tool_buf_addc(b, ']');
}

/* One station's fields, without the closing brace. */
static void
json_station(struct tool_buf *b, const struct dash_station *s)
{
	int m;

	tool_buf_adds(b, "{\"id\":");
	json_str(b, s->id);
	tool_buf_adds(b, ",\"city\":");
	json_str(b, s->city);
	tool_buf_printf(b, ",\"lat\":%.5f,\"lon\":%.5f,\"t\":%" PRId64
	    ",\"readings\":%" PRIu64, s->lat, s->lon, s->last_t, s->readings);
	for (m = 0; m < 4; m++) {
		tool_buf_printf(b, ",\"%s\":", metric_names[m]);
		json_num(b, s->last[m], s->last_have & (1 << m));
	}
	tool_buf_adds(b, ",\"alert\":");
	if (s->alert_t == 0) {
		tool_buf_adds(b, "null");
	} else {
		tool_buf_printf(b, "{\"t\":%" PRId64 ",\"type\":", s->alert_t);
		json_str(b, s->alert_type);
		tool_buf_adds(b, ",\"severity\":");
		json_str(b, s->alert_severity);
		tool_buf_addc(b, '}');
	}
}

static void
json_alert(struct tool_buf *b, const struct dash_alert *a)
{
	tool_buf_adds(b, "{\"id\":");
	json_str(b, a->id);
	tool_buf_printf(b, ",\"t\":%" PRId64 ",\"alert_ts\":", a->t);
	json_str(b, a->alert_ts);
	tool_buf_adds(b, ",\"sensor_id\":");
	json_str(b, a->sensor_id);
	tool_buf_adds(b, ",\"city\":");
	json_str(b, a->city);
	tool_buf_adds(b, ",\"type\":");
	json_str(b, a->type);
	tool_buf_adds(b, ",\"metric\":");
	json_str(b, a->metric);
	tool_buf_adds(b, ",\"severity\":");
	json_str(b, a->severity);
	tool_buf_adds(b, ",\"value\":");
	json_num(b, a->value, 1);
	tool_buf_adds(b, ",\"threshold\":");
	json_num(b, a->threshold, 1);
	tool_buf_addc(b, '}');
}

static void
json_health(struct dash *d, struct tool_buf *b, int64_t now_ms)
{
	const struct dash_health *h = &d->h;

	tool_buf_printf(b, "{\"seq\":%" PRIu64 ",\"now\":%" PRId64
	    ",\"uptime_s\":%" PRId64 ",\"broker\":", d->seq, now_ms,
	    (now_ms - d->started_ms) / 1000);
	json_str(b, d->o.addr);
	tool_buf_printf(b, ",\"connected\":%s,\"since\":%" PRId64
	    ",\"replaying\":%s,\"error\":", h->connected ? "true" : "false",
	    h->since_ms, h->replaying ? "true" : "false");
	json_str(b, h->error);
	tool_buf_printf(b, ",\"rate\":%.1f,\"readings\":%" PRIu64
	    ",\"alerts\":%" PRIu64 ",\"skipped\":%" PRIu64 ",\"stations\":%zu"
	    ",\"streams\":%d,\"window_ms\":%" PRId64 ",\"group\":",
	    dash_rate(d, now_ms), d->readings, d->alerts, d->skipped, d->nst,
	    d->streams, d->o.window_ms);
	json_str(b, d->o.group);
	tool_buf_printf(b, ",\"group_lag\":%" PRId64 ",\"group_state\":",
	    h->group_lag);
	json_str(b, h->group_state);
	tool_buf_printf(b, ",\"group_members\":%d,\"readings_end\":%" PRId64
	    ",\"alerts_end\":%" PRId64 ",\"topics\":[", h->group_members,
	    h->readings_end, h->alerts_end);
	json_str(b, d->o.readings_topic);
	tool_buf_addc(b, ',');
	json_str(b, d->o.alerts_topic);
	tool_buf_adds(b, "]}");
}

/* ---- Events ---- */

/* Appends an event made of name and the JSON body (may be cut at
 * DASH_EVENT_MAX: then it is dropped, a reload marker sent instead). */
static void
publish(struct dash *d, const char *name, const struct tool_buf *body)
{
	struct tool_buf b = TOOL_BUF_INIT;
	struct dash_event *e;
	uint64_t seq = d->seq + 1;

	if (body->len > DASH_EVENT_MAX)
		name = "reset";
	if (tool_buf_printf(&b, "id: %" PRIu64 "\nevent: %s\ndata: %s\n\n",
	    seq, name, body->len > DASH_EVENT_MAX || body->data == NULL ?
	    "{}" : body->data) < 0) {
		tool_buf_free(&b);
		return;
	}
	e = &d->ev[seq % DASH_EVENTS];
	free(e->data);
	e->seq = seq;
	e->data = b.data;
	e->len = b.len;
	d->seq = seq;
	pthread_cond_broadcast(&d->cond);
}

void
dash_add_alert(struct dash *d, const struct dash_alert *a)
{
	struct tool_buf b = TOOL_BUF_INIT;
	struct dash_station *s;
	size_t i;

	d->alerts++;
	d->recent[(d->recent_head + d->nrecent) % DASH_RECENT_ALERTS] = *a;
	if (d->nrecent < DASH_RECENT_ALERTS)
		d->nrecent++;
	else
		d->recent_head = (d->recent_head + 1) % DASH_RECENT_ALERTS;
	for (i = 0; i < d->ncounts; i++)
		if (!strcmp(d->counts[i].type, a->type) &&
		    !strcmp(d->counts[i].city, a->city))
			break;
	if (i == d->ncounts && d->ncounts < DASH_MAX_COUNTS) {
		snprintf(d->counts[i].type, sizeof(d->counts[i].type), "%s",
		    a->type);
		snprintf(d->counts[i].city, sizeof(d->counts[i].city), "%s",
		    a->city);
		d->ncounts++;
	}
	if (i < d->ncounts)
		d->counts[i].n++;
	s = station_get(d, a->sensor_id);
	if (s != NULL && a->t >= s->alert_t) {
		s->alert_t = a->t;
		snprintf(s->alert_type, sizeof(s->alert_type), "%s", a->type);
		snprintf(s->alert_severity, sizeof(s->alert_severity), "%s",
		    a->severity);
		if (s->city[0] == '\0')
			snprintf(s->city, sizeof(s->city), "%s", a->city);
		s->dirty = 1;
	}
	json_alert(&b, a);
	publish(d, "alert", &b);
	tool_buf_free(&b);
}

void
dash_flush_readings(struct dash *d)
{
	struct tool_buf b = TOOL_BUF_INIT;
	size_t i, n = 0;

	tool_buf_adds(&b, "{\"stations\":[");
	for (i = 0; i < d->nst; i++) {
		struct dash_station *s = &d->st[i];

		if (!s->dirty)
			continue;
		s->dirty = 0;
		if (n > 0 && b.len >= DASH_EVENT_CHUNK) {
			/* many stations changed: several events */
			tool_buf_adds(&b, "]}");
			publish(d, "readings", &b);
			tool_buf_reset(&b);
			tool_buf_adds(&b, "{\"stations\":[");
			n = 0;
		}
		if (n++ > 0)
			tool_buf_addc(&b, ',');
		json_station(&b, s);
		tool_buf_adds(&b, ",\"point\":");
		if (s->npts > 0)
			json_point(&b, point_at(s, s->npts - 1));
		else
			tool_buf_adds(&b, "null");
		tool_buf_addc(&b, '}');
	}
	tool_buf_adds(&b, "]}");
	if (n > 0)
		publish(d, "readings", &b);
	tool_buf_free(&b);
}

void
dash_publish_health(struct dash *d, int64_t now_ms)
{
	struct tool_buf b = TOOL_BUF_INIT;

	json_health(d, &b, now_ms);
	publish(d, "health", &b);
	tool_buf_free(&b);
}

/* ---- Snapshots ---- */

static int
by_city(const void *x, const void *y, void *arg)
{
	const struct dash *d = arg;
	const struct dash_station *a = &d->st[*(const int *)x];
	const struct dash_station *b = &d->st[*(const int *)y];
	int c = strcmp(a->city, b->city);

	return c != 0 ? c : strcmp(a->id, b->id);
}

/*
 * A failed tool_buf append leaves the buffer as it was, so a snapshot
 * rendered while memory ran out lacks a part.  A whole snapshot ends
 * with "}"; one that does not is reported as -ENOMEM (a 500).  This is a
 * heuristic: a body that lost only a part before its last "}" passes and
 * the page, failing to parse it, loads it again two seconds later.
 */
static int
buf_result(const struct tool_buf *b)
{
	return b->len > 0 && b->data[b->len - 1] == '}' ? 0 : -ENOMEM;
}

int
dash_json_stations(struct dash *d, struct tool_buf *b)
{
	int *order;
	size_t i, j;

	pthread_mutex_lock(&d->mu);
	order = malloc((d->nst + 1) * sizeof(*order));
	if (order == NULL) {
		pthread_mutex_unlock(&d->mu);
		return -ENOMEM;
	}
	for (i = 0; i < d->nst; i++)
		order[i] = (int)i;
	qsort_r(order, d->nst, sizeof(*order), by_city, d);
	tool_buf_printf(b, "{\"seq\":%" PRIu64 ",\"now\":%" PRId64
	    ",\"window_ms\":%" PRId64 ",\"bucket_ms\":%" PRId64
	    ",\"stations\":[", d->seq, tool_now_ms(), d->o.window_ms,
	    d->bucket_ms);
	for (i = 0; i < d->nst; i++) {
		struct dash_station *s = &d->st[order[i]];

		if (i > 0)
			tool_buf_addc(b, ',');
		json_station(b, s);
		tool_buf_adds(b, ",\"points\":[");
		for (j = 0; j < s->npts; j++) {
			if (j > 0)
				tool_buf_addc(b, ',');
			json_point(b, point_at(s, j));
		}
		tool_buf_adds(b, "]}");
	}
	tool_buf_adds(b, "]}");
	pthread_mutex_unlock(&d->mu);
	free(order);
	return buf_result(b);
}

int
dash_json_alerts(struct dash *d, struct tool_buf *b)
{
	size_t i;

	pthread_mutex_lock(&d->mu);
	tool_buf_printf(b, "{\"seq\":%" PRIu64 ",\"total\":%" PRIu64
	    ",\"recent\":[", d->seq, d->alerts);
	/* newest first */
	for (i = 0; i < d->nrecent; i++) {
		size_t k = (d->recent_head + d->nrecent - 1 - i) %
		    DASH_RECENT_ALERTS;

		if (i > 0)
			tool_buf_addc(b, ',');
		json_alert(b, &d->recent[k]);
	}
	tool_buf_adds(b, "],\"counts\":[");
	for (i = 0; i < d->ncounts; i++) {
		if (i > 0)
			tool_buf_addc(b, ',');
		tool_buf_adds(b, "{\"type\":");
		json_str(b, d->counts[i].type);
		tool_buf_adds(b, ",\"city\":");
		json_str(b, d->counts[i].city);
		tool_buf_printf(b, ",\"n\":%" PRIu64 "}", d->counts[i].n);
	}
	tool_buf_adds(b, "]}");
	pthread_mutex_unlock(&d->mu);
	return buf_result(b);
}

int
dash_json_health(struct dash *d, struct tool_buf *b)
{
	pthread_mutex_lock(&d->mu);
	json_health(d, b, tool_now_ms());
	pthread_mutex_unlock(&d->mu);
	return buf_result(b);
}
