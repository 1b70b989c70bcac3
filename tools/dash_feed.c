/*
 * dash_feed.c - sensordash's reader: logd -> the in-memory view (dash.h).
 *
 * One thread, two clients: a consumer on the first (plain assignment of
 * every partition of both topics, no group, nothing committed) and
 * administrative calls on the second (topic metadata, offsets by time,
 * the alert group's lag), so a slow admin reply never holds up a fetch
 * in flight and neither waits on the other's replies.
 *
 * Where reading starts: the first time a partition is assigned, at the
 * first record whose timestamp is >= now - window (logd's time index), so
 * a restarted sensordash refills its charts from the log, not from
 * memory.  After a lost connection, each partition resumes at the offset
 * after the last record folded in, so nothing is counted twice; when that
 * offset is gone (retention) or the topic was deleted, the positions are
 * forgotten and reading starts again by time.
 *
 * Outages: when logd cannot be reached (at start or later), the HTTP side
 * keeps serving what is known with "connected": false, and this thread
 * tries again with backoff from 100 ms to 5 s, printing one message when
 * the connection is lost and one when it is back.  A topic that does not
 * exist yet is looked for again every two seconds.
 *
 * Publishing: records are folded in one by one under the state mutex;
 * every 200 ms the stations they changed go out as one "readings" event,
 * every second a "health" event, and every two seconds the group's lag
 * and the topics' end offsets are asked for.  Alerts go out at once.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msgpack.h>

#include "logd.h"
#include "dash.h"

#define POLL_MS 100             /* consumer wait: bounds the reaction to
                                   a stop and to the timers below */
#define FLUSH_MS 200            /* readings event at most this often */
#define HEALTH_MS 1000
#define GROUP_MS 2000           /* lag and end offsets */
#define ASSIGN_MS 2000          /* look again for a missing topic */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define MAX_PARTITIONS 10000    /* logd's own limit */
#define CAUGHT_UP_MS 2000       /* a record this recent ends the replay */

struct feed_topic {
	const char *name;
	int assigned;
	int32_t n;                /* partitions known */
	int64_t *next;            /* per partition: next offset, -1 none */
};

struct feed {
	struct dash *d;
	struct logd_client *c, *admin;
	struct logd_consumer *cs;
	struct feed_topic t[2];   /* readings, alerts */
	msgpack_unpacked up;
	int delay_ms;
	int reported_down;        /* the outage message was printed */
	char missing[2][300];     /* "waiting for topic" printed for it */
	int64_t next_flush, next_health, next_group, next_assign;
};

/* ---- Helpers ---- */

static int64_t
mono_ms(void)
{
	return tool_mono_ns() / 1000000;
}

/* Sleeps ms, or less when sensordash is stopping. */
static void
feed_sleep(struct dash *d, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&d->mu);
	while (!d->stopping &&
	    pthread_cond_timedwait(&d->cond, &d->mu, &ts) == 0)
		;
	pthread_mutex_unlock(&d->mu);
}

static int
is_conn_error(int r)
{
	return r == LOGD_ECLOSED || r == LOGD_ETIMEDOUT || r == LOGD_EPROTO ||
	    (r < 0 && r > -4096);
}

/* Records the connection state and the problem for /api/health. */
static void
set_health(struct feed *f, int connected, const char *error)
{
	struct dash_health *h = &f->d->h;

	pthread_mutex_lock(&f->d->mu);
	if (h->connected != connected)
		h->since_ms = tool_now_ms();
	h->connected = connected;
	snprintf(h->error, sizeof(h->error), "%s", error);
	if (!connected)
		h->group_lag = -1;
	pthread_mutex_unlock(&f->d->mu);
}

static void
feed_disconnect(struct feed *f)
{
	logd_consumer_close(f->cs);
	logd_client_close(f->c);
	logd_client_close(f->admin);
	f->cs = NULL;
	f->c = f->admin = NULL;
	f->t[0].assigned = f->t[1].assigned = 0;
}

static void
forget_positions(struct feed *f)
{
	int k;

	for (k = 0; k < 2; k++) {
		free(f->t[k].next);
		f->t[k].next = NULL;
		f->t[k].n = 0;
	}
}

/* Waits before the next attempt, twice as long as the last time (up to
 * BACKOFF_MAX_MS); a poll that works starts over at BACKOFF_MIN_MS. */
static void
backoff(struct feed *f)
{
	pthread_mutex_lock(&f->d->mu);
	dash_publish_health(f->d, tool_now_ms());
	pthread_mutex_unlock(&f->d->mu);
	feed_sleep(f->d, f->delay_ms);
	f->delay_ms *= 2;
	if (f->delay_ms > BACKOFF_MAX_MS)
		f->delay_ms = BACKOFF_MAX_MS;
}

/* Ends the connection after error r; says so once per outage. */
static void
feed_lost(struct feed *f, int r, const char *what)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s: %s", what,
	    f->c != NULL && logd_client_errmsg(f->c)[0] ?
	    logd_client_errmsg(f->c) : logd_strerror(r));
	if (!f->reported_down)
		tool_err("lost logd at %s (%s); reconnecting with backoff",
		    f->d->o.addr, msg);
	f->reported_down = 1;
	if (r == LOGD_ERANGE || r == LOGD_ENOTOPIC || r == LOGD_ENOPART)
		forget_positions(f);
	feed_disconnect(f);
	set_health(f, 0, msg);
	backoff(f);
}

/* ---- Connecting and assigning ---- */

static int
feed_connect(struct feed *f)
{
	struct logd_client_options co;
	struct logd_consumer_options cso;
	const char *addr = f->d->o.addr;
	char msg[256];
	int r;

	memset(&co, 0, sizeof(co));
	co.client_id = "sensordash";
	co.connect_timeout_ms = 3000;
	co.request_timeout_ms = 10000;
	r = logd_client_open(addr, &co, &f->c);
	if (r == 0)
		r = logd_client_open(addr, &co, &f->admin);
	if (r == 0) {
		memset(&cso, 0, sizeof(cso));
		cso.max_wait_ms = POLL_MS;
		r = logd_consumer_new(f->c, &cso, &f->cs);
	}
	if (r < 0) {
		snprintf(msg, sizeof(msg), "cannot connect to %s: %s", addr,
		    logd_strerror(r));
		if (!f->reported_down)
			tool_err("%s; retrying with backoff (up to every "
			    "%d s)", msg, BACKOFF_MAX_MS / 1000);
		f->reported_down = 1;
		feed_disconnect(f);
		set_health(f, 0, msg);
		backoff(f);
		return r;
	}
	tool_err("%s logd at %s; reading %s and %s", f->reported_down ?
	    "reconnected to" : "connected to", addr, f->t[0].name,
	    f->t[1].name);
	f->reported_down = 0;
	f->next_assign = 0;
	set_health(f, 1, "");
	return 0;
}

/* Assigns every partition of topic k, each at its saved position or by
 * time.  0 (also when the topic does not exist yet) or an error. */
static int
assign_topic(struct feed *f, int k)
{
	struct feed_topic *t = &f->t[k];
	const char *names[1] = { t->name };
	struct logd_metadata *m = NULL;
	int64_t since = tool_now_ms() - f->d->o.window_ms, off;
	int32_t p, n;
	int r;

	r = logd_client_metadata(f->admin, names, 1, &m);
	if (r < 0)
		return r;
	if (m->topic_count == 0 || m->topics[0].error != 0) {
		if (strcmp(f->missing[k], t->name)) {
			tool_err("topic %s not found at %s; looking again "
			    "every %d s", t->name, f->d->o.addr,
			    ASSIGN_MS / 1000);
			snprintf(f->missing[k], sizeof(f->missing[k]), "%s",
			    t->name);
		}
		logd_metadata_free(m);
		return 0;
	}
	n = m->topics[0].partition_count;
	logd_metadata_free(m);
	if (n < 1 || n > MAX_PARTITIONS)
		return LOGD_EPROTO;
	if (n != t->n) {
		int64_t *next = realloc(t->next, (size_t)n * sizeof(*next));

		if (next == NULL)
			return -ENOMEM;
		for (p = t->n; p < n; p++)
			next[p] = -1;
		t->next = next;
		t->n = n;
	}
	for (p = 0; p < n; p++) {
		off = t->next[p];
		if (off < 0) {
			r = logd_client_list_offset(f->admin, t->name, p,
			    since, &off);
			if (r < 0)
				return r;
		}
		r = logd_consumer_assign(f->cs, t->name, p, off);
		if (r < 0)
			return r;
	}
	if (f->missing[k][0])
		tool_err("found topic %s", t->name);
	f->missing[k][0] = '\0';
	t->assigned = 1;
	return 0;
}

/* ---- Decoding ---- */

static int
obj_num(const msgpack_object *o, double *v)
{
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*v = (double)o->via.u64;
		return 1;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*v = (double)o->via.i64;
		return 1;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*v = o->via.f64;
		return isfinite(*v);
	default:
		return 0;
	}
}

/* Copies a string object into buf (NUL-terminated, cut to size);
 * 1 if it was a non-empty string. */
static int
obj_str(const msgpack_object *o, char *buf, size_t size)
{
	size_t n;

	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0)
		return 0;
	n = o->via.str.size < size - 1 ? o->via.str.size : size - 1;
	memcpy(buf, o->via.str.ptr, n);
	buf[n] = '\0';
	return 1;
}

static int
key_is(const msgpack_object *k, const char *s)
{
	size_t n = strlen(s);

	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
	    !memcmp(k->via.str.ptr, s, n);
}

/* The map the record's value holds, or NULL. */
static const msgpack_object_map *
value_map(struct feed *f, const struct logd_record *rec)
{
	size_t off = 0;

	if (rec->value == NULL || msgpack_unpack_next(&f->up, rec->value,
	    rec->value_len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    f->up.data.type != MSGPACK_OBJECT_MAP)
		return NULL;
	return &f->up.data.via.map;
}

static void
on_reading(struct feed *f, const struct logd_record *rec)
{
	static const char *const metrics[4] = {
		"temperature", "humidity", "wind_speed", "pressure"
	};
	const msgpack_object_map *mp = value_map(f, rec);
	struct dash_reading r;
	char id[64] = "", city[64] = "";
	int have_lat = 0, have_lon = 0, m;
	uint32_t i;

	memset(&r, 0, sizeof(r));
	for (i = 0; mp != NULL && i < mp->size; i++) {
		const msgpack_object *k = &mp->ptr[i].key, *v = &mp->ptr[i].val;

		if (key_is(k, "sensor_id"))
			obj_str(v, id, sizeof(id));
		else if (key_is(k, "city"))
			obj_str(v, city, sizeof(city));
		else if (key_is(k, "lat"))
			have_lat = obj_num(v, &r.lat);
		else if (key_is(k, "lon"))
			have_lon = obj_num(v, &r.lon);
		for (m = 0; m < 4; m++)
			if (key_is(k, metrics[m]) && obj_num(v, &r.v[m]))
				r.have |= (uint8_t)(1 << m);
	}
	pthread_mutex_lock(&f->d->mu);
	if (id[0] == '\0' || r.have == 0) {
		f->d->skipped++;
	} else {
		r.id = id;
		r.city = city[0] ? city : NULL;
		r.have_pos = have_lat && have_lon && fabs(r.lat) <= 90 &&
		    fabs(r.lon) <= 180;
		r.t = rec->timestamp;
		dash_add_reading(f->d, &r, tool_now_ms());
	}
	pthread_mutex_unlock(&f->d->mu);
}

static void
on_alert(struct feed *f, int32_t partition, const struct logd_record *rec)
{
	const msgpack_object_map *mp = value_map(f, rec);
	struct dash_alert a;
	uint32_t i;
	int ok = 0;

	memset(&a, 0, sizeof(a));
	snprintf(a.id, sizeof(a.id), "%" PRId32 ":%" PRId64, partition,
	    rec->offset);
	a.t = rec->timestamp;
	for (i = 0; mp != NULL && i < mp->size; i++) {
		const msgpack_object *k = &mp->ptr[i].key, *v = &mp->ptr[i].val;

		if (key_is(k, "alert_type"))
			ok = obj_str(v, a.type, sizeof(a.type));
		else if (key_is(k, "sensor_id"))
			obj_str(v, a.sensor_id, sizeof(a.sensor_id));
		else if (key_is(k, "city"))
			obj_str(v, a.city, sizeof(a.city));
		else if (key_is(k, "alert_ts"))
			obj_str(v, a.alert_ts, sizeof(a.alert_ts));
		else if (key_is(k, "metric"))
			obj_str(v, a.metric, sizeof(a.metric));
		else if (key_is(k, "severity"))
			obj_str(v, a.severity, sizeof(a.severity));
		else if (key_is(k, "value"))
			obj_num(v, &a.value);
		else if (key_is(k, "threshold"))
			obj_num(v, &a.threshold);
	}
	pthread_mutex_lock(&f->d->mu);
	if (!ok || a.sensor_id[0] == '\0')
		f->d->skipped++;
	else
		dash_add_alert(f->d, &a);
	pthread_mutex_unlock(&f->d->mu);
}

/* ---- Periodic work ---- */

/* Sum of the end offsets of topic (-1 if unknown). */
static int64_t
topic_end(struct feed *f, const char *topic)
{
	const char *names[1] = { topic };
	struct logd_metadata *m;
	int64_t sum = -1;
	int32_t p;

	if (logd_client_metadata(f->admin, names, 1, &m) < 0)
		return -1;
	if (m->topic_count == 1 && m->topics[0].error == 0)
		for (p = 0, sum = 0; p < m->topics[0].partition_count; p++)
			sum += m->topics[0].partitions[p].end_offset;
	logd_metadata_free(m);
	return sum;
}

/* Asks for the alert group's lag on the readings topic (as logctl group
 * shows it) and for the topics' end offsets.  0 or a connection error. */
static int
refresh_group(struct feed *f)
{
	struct logd_group *g = NULL;
	int64_t lag = -1, rend, aend;
	char state[32] = "";
	int members = 0, r;
	size_t i;

	r = logd_client_group_describe(f->admin, f->d->o.group, &g);
	if (r == 0) {
		lag = 0;
		for (i = 0; i < g->offset_count; i++) {
			struct logd_group_offset *o = &g->offsets[i];
			int64_t end = o->end_offset;

			if (strcmp(o->topic, f->t[0].name))
				continue;
			if (end < 0 && logd_client_list_offset(f->admin,
			    o->topic, o->partition, LOGD_OFFSET_LATEST,
			    &end) < 0)
				end = o->offset;
			lag += end > o->offset ? end - o->offset : 0;
		}
		snprintf(state, sizeof(state), "%s", g->state);
		members = (int)g->member_count;
		logd_group_free(g);
	} else if (r == LOGD_ENOGROUP) {
		snprintf(state, sizeof(state), "none");
	} else if (is_conn_error(r)) {
		return r;
	}
	rend = topic_end(f, f->t[0].name);
	aend = topic_end(f, f->t[1].name);
	pthread_mutex_lock(&f->d->mu);
	f->d->h.group_lag = lag;
	snprintf(f->d->h.group_state, sizeof(f->d->h.group_state), "%s",
	    state);
	f->d->h.group_members = members;
	f->d->h.readings_end = rend;
	f->d->h.alerts_end = aend;
	pthread_mutex_unlock(&f->d->mu);
	return 0;
}

/* Timers: readings and health events, lag, topics still missing.
 * 0 or an error that ends the connection. */
static int
feed_tick(struct feed *f, int caught_up)
{
	int64_t now = mono_ms();
	int r, k;

	if (now >= f->next_assign) {
		f->next_assign = now + ASSIGN_MS;
		for (k = 0; k < 2; k++)
			if (!f->t[k].assigned && (r = assign_topic(f, k)) < 0)
				return r;
	}
	if (now >= f->next_group) {
		f->next_group = now + GROUP_MS;
		if ((r = refresh_group(f)) < 0)
			return r;
	}
	pthread_mutex_lock(&f->d->mu);
	if (caught_up && f->t[0].assigned)
		f->d->h.replaying = 0;
	if (now >= f->next_flush) {
		f->next_flush = now + FLUSH_MS;
		dash_flush_readings(f->d);
	}
	if (now >= f->next_health) {
		f->next_health = now + HEALTH_MS;
		dash_publish_health(f->d, tool_now_ms());
	}
	pthread_mutex_unlock(&f->d->mu);
	return 0;
}

/* ---- The thread ---- */

static void
feed_run(struct feed *f)
{
	struct logd_consumer_record cr;
	struct dash *d = f->d;
	int r, caught_up;

	while (!__atomic_load_n(&d->stopping, __ATOMIC_ACQUIRE)) {
		if (f->cs == NULL && feed_connect(f) < 0)
			continue;
		if (!f->t[0].assigned && !f->t[1].assigned) {
			/* nothing to poll yet: wait for the topics */
			if ((r = feed_tick(f, 0)) < 0) {
				feed_lost(f, r, "metadata");
				continue;
			}
			if (!f->t[0].assigned && !f->t[1].assigned)
				feed_sleep(d, POLL_MS);
			continue;
		}
		r = logd_consumer_poll(f->cs, POLL_MS, &cr);
		/* caught up: nothing more came, or a record of just now */
		caught_up = r == 0 || (r == 1 &&
		    cr.rec.timestamp >= tool_now_ms() - CAUGHT_UP_MS);
		if (r == 1) {
			int k = !strcmp(cr.topic, f->t[0].name) ? 0 : 1;

			if (k == 0)
				on_reading(f, &cr.rec);
			else
				on_alert(f, cr.partition, &cr.rec);
			if (cr.partition >= 0 && cr.partition < f->t[k].n)
				f->t[k].next[cr.partition] = cr.rec.offset + 1;
		} else if (r < 0) {
			feed_lost(f, r, "fetch");
			continue;
		}
		f->delay_ms = BACKOFF_MIN_MS;
		if ((r = feed_tick(f, caught_up)) < 0)
			feed_lost(f, r, "metadata");
	}
}

void *
dash_feed_main(void *arg)
{
	struct feed f;

	memset(&f, 0, sizeof(f));
	f.d = arg;
	f.t[0].name = f.d->o.readings_topic;
	f.t[1].name = f.d->o.alerts_topic;
	f.delay_ms = BACKOFF_MIN_MS;
	msgpack_unpacked_init(&f.up);
	feed_run(&f);
	feed_disconnect(&f);
	forget_positions(&f);
	msgpack_unpacked_destroy(&f.up);
	return NULL;
}
