/*
 * logetl - the weather pipeline's ETL: sensor readings into SQLite.
 *
 * Reads every partition of a topic of readings (msgpack maps, as
 * sensorgen(1) writes them) and loads each reading into the SQLite table
 * readings, keeping hourly aggregates per station and city in the table
 * hourly (count; min, sum and max of the four metrics, the mean derived
 * from the sum, so it is exact up to floating-point addition).
 *
 * Exactly once.  The offsets logetl has loaded up to live in the table
 * etl_offsets of the same database and are written in the same SQLite
 * transaction as the rows and the aggregate updates, so the database
 * never holds a row whose offset is not covered, nor an offset whose row
 * is missing.  On start each partition resumes from etl_offsets; only a
 * partition the database has never seen starts from the group's
 * committed offset (else the log start).  The group's offsets in logd are
 * committed after each SQLite COMMIT: they only show progress (logctl
 * group etl shows the lag) and never decide what is loaded.  Rows are
 * also inserted with INSERT OR IGNORE under UNIQUE (topic, partition,
 * offset) and the aggregates take only rows that were new, so even two
 * logetl running on one database by mistake cannot count a reading twice.
 *
 * Durability: WAL with synchronous=NORMAL.  A committed transaction is in
 * the WAL file (the operating system's page cache) when COMMIT returns,
 * so kill -9 of logetl loses nothing committed.  A power loss may roll
 * back the last transactions, but their offsets roll back with their
 * rows, so they are loaded again.  The one hole would be a database that
 * lost every transaction while logd kept the group's commit (the group's
 * offsets would then be taken as the start); so the first transaction of
 * a database, which writes a row for every partition, runs with
 * synchronous=FULL.
 *
 * Speed: prepared statements, one transaction per up to -n records (or
 * one second), the aggregates of a transaction gathered in a hash table
 * and written once per key at its end.
 *
 * Batch mode (default) reads up to the end offsets found at start, then
 * exits; -f follows the topic, reconnecting with backoff when logd goes
 * away.  A record that is not a valid reading is recorded in
 * etl_rejects, counted, reported on stderr the first time each kind
 * occurs, and skipped.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "logd.h"
#include "tool.h"

#define ROWS_DEFAULT 50000      /* records per transaction at most */
#define COMMIT_MS 1000          /* and a transaction lasts this long */
#define IDLE_MS 2000            /* batch mode: a wait this long with no
                                   record means nothing more is there */
#define FOLLOW_MS 500           /* follow mode: first wait of a batch */
#define IDLE_ROUNDS 3           /* then the rest is taken for a gap */
#define NEXT_MS 100             /* later waits inside a transaction */
#define FETCH_BYTES (4u << 20)  /* per fetch request */
#define BACKOFF_MAX_MS 2000
/* A database failure (reported where it happened); distinct from every
 * code the client library returns, so it is never taken for a lost
 * connection. */
#define ETL_EDB (-ENOTRECOVERABLE)

/* The four metrics, in the order of the tables' columns. */
#define NMETRICS 4
static const char *const metrics[NMETRICS] = { "temperature", "humidity",
    "wind_speed", "pressure" };

/* Why a record is not a reading (reported once per kind). */
enum bad {
	BAD_NONE = -1,
	BAD_EMPTY,
	BAD_MSGPACK,
	BAD_NOTMAP,
	BAD_SENSOR,
	BAD_CITY,
	BAD_TIMESTAMP,
	BAD_LATLON,
	BAD_METRIC,             /* + metric index */
	BAD_KINDS = BAD_METRIC + NMETRICS
};

static const char *const bad_names[BAD_KINDS] = {
	"null or empty value",
	"not one msgpack value",
	"not a msgpack map",
	"no sensor_id string",
	"no city string",
	"timestamp is not an ISO 8601 UTC time",
	"lat or lon is not a finite number",
	"no finite number temperature",
	"no finite number humidity",
	"no finite number wind_speed",
	"no finite number pressure",
};

struct opts {
	const char *addr;
	const char *topic;
	const char *group;
	const char *db;
	int64_t rows;
	int follow;
	int quiet;
};

struct reading {
	const char *sensor_id, *city, *ts;
	int sensor_id_len, city_len, ts_len;
	char ts_buf[40];
	int64_t ts_ms;
	double lat, lon;
	int have_lat, have_lon;
	double m[NMETRICS];
};

struct part {
	int32_t id;
	int64_t next;             /* next offset to load (this transaction) */
	int64_t committed;        /* as etl_offsets holds it */
	int64_t target;           /* batch mode: stop here */
	int in_db;                /* etl_offsets has a row for it */
	int assigned;
};

/* One hourly aggregate gathered during a transaction. */
struct agg {
	uint64_t hash;            /* 0: free slot */
	int64_t hour_ms;
	size_t sensor_off, city_off;
	int sensor_len, city_len;
	int64_t n;
	double min[NMETRICS], max[NMETRICS], sum[NMETRICS];
};

struct app {
	struct opts o;
	sqlite3 *db;
	sqlite3_stmt *ins_reading, *ins_reject, *up_agg, *up_off, *sel_off;
	struct logd_client *c;
	struct logd_consumer *cs;
	struct part *parts;
	size_t nparts;
	struct agg *aggs;
	size_t agg_cap, agg_used;
	struct tool_buf strs;     /* the aggregates' station and city names */
	int in_txn;
	int64_t txn_records;
	uint64_t loaded, skipped, dups;
	int idle_rounds;          /* batch mode: waits that brought nothing */
	uint64_t txn_counts[3];   /* loaded, skipped, dups at BEGIN */
	unsigned reported;        /* bit per enum bad already printed */
	double started;
};

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* ---- Readings ---- */

/*
 * A small msgpack reader, enough for a map of scalars: msgpack-c's
 * unpacker allocates a zone for every value, which was a tenth of the
 * load's time.  Values are checked as strictly as msgpack-c does (every
 * length within the bytes, no 0xc1); nested containers are skipped up to
 * MP_DEPTH levels.
 */
#define MP_DEPTH 32

enum mp_type { MP_NIL, MP_BOOL, MP_UINT, MP_INT, MP_FLOAT, MP_STR, MP_BIN,
    MP_EXT, MP_ARRAY, MP_MAP };

struct mp {
	const uint8_t *p, *end;
};

struct mp_val {
	enum mp_type type;
	uint64_t u;               /* MP_UINT, MP_BOOL; a container's count */
	int64_t i;                /* MP_INT */
	double f;                 /* MP_FLOAT */
	const char *s;            /* MP_STR, MP_BIN, MP_EXT bytes */
	size_t len;
};

/* Reads an n-byte big-endian number.  0 or -1 (too short). */
static int
mp_be(struct mp *m, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if ((size_t)(m->end - m->p) < n)
		return -1;
	for (i = 0; i < n; i++)
		x = x << 8 | m->p[i];
	m->p += n;
	*v = x;
	return 0;
}

/* Takes n bytes of body.  0 or -1. */
static int
mp_body(struct mp *m, uint64_t n, struct mp_val *v)
{
	if ((uint64_t)(m->end - m->p) < n)
		return -1;
	v->s = (const char *)m->p;
	v->len = (size_t)n;
	m->p += n;
	return 0;
}

/* Reads one value's header (and a string's, bin's or ext's bytes; the
 * elements of an array or map follow).  0 or -1 (malformed). */
static int
mp_next(struct mp *m, struct mp_val *v)
{
	uint64_t x;
	uint8_t b;

	if (m->p >= m->end)
		return -1;
	b = *m->p++;
	if (b <= 0x7f || b >= 0xe0) {
		v->type = b <= 0x7f ? MP_UINT : MP_INT;
		v->u = b;
		v->i = (int8_t)b;
		return 0;
	}
	if (b <= 0x8f || (b >= 0x90 && b <= 0x9f)) {
		v->type = b <= 0x8f ? MP_MAP : MP_ARRAY;
		v->u = b & 0x0f;
		return 0;
	}
	if (b <= 0xbf) {
		v->type = MP_STR;
		return mp_body(m, b & 0x1f, v);
	}
	switch (b) {
	case 0xc0:
		v->type = MP_NIL;
		return 0;
	case 0xc2:
	case 0xc3:
		v->type = MP_BOOL;
		v->u = b == 0xc3;
		return 0;
	case 0xc4: case 0xc5: case 0xc6:
		v->type = MP_BIN;
		return mp_be(m, (size_t)1 << (b - 0xc4), &x) < 0 ? -1 :
		    mp_body(m, x, v);
	case 0xc7: case 0xc8: case 0xc9:
		v->type = MP_EXT;
		return mp_be(m, (size_t)1 << (b - 0xc7), &x) < 0 ? -1 :
		    mp_body(m, x + 1, v);
	case 0xca:
		if (mp_be(m, 4, &x) < 0)
			return -1;
		{
			uint32_t w = (uint32_t)x;
			float fl;

			memcpy(&fl, &w, sizeof(fl));
			v->f = fl;
		}
		v->type = MP_FLOAT;
		return 0;
	case 0xcb:
		if (mp_be(m, 8, &x) < 0)
			return -1;
		memcpy(&v->f, &x, sizeof(v->f));
		v->type = MP_FLOAT;
		return 0;
	case 0xcc: case 0xcd: case 0xce: case 0xcf:
		v->type = MP_UINT;
		return mp_be(m, (size_t)1 << (b - 0xcc), &v->u);
	case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
		size_t n = (size_t)1 << (b - 0xd0);

		if (mp_be(m, n, &x) < 0)
			return -1;
		/* Sign-extend from n bytes. */
		v->i = n == 8 ? (int64_t)x :
		    (int64_t)(x ^ (1ULL << (8 * n - 1))) -
		    (int64_t)(1ULL << (8 * n - 1));
		v->type = v->i >= 0 ? MP_UINT : MP_INT;
		v->u = (uint64_t)v->i;
		return 0;
	}
	case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
		v->type = MP_EXT;
		return mp_body(m, 1 + ((uint64_t)1 << (b - 0xd4)), v);
	case 0xd9: case 0xda: case 0xdb:
		v->type = MP_STR;
		return mp_be(m, (size_t)1 << (b - 0xd9), &x) < 0 ? -1 :
		    mp_body(m, x, v);
	case 0xdc: case 0xdd:
		v->type = MP_ARRAY;
		return mp_be(m, b == 0xdc ? 2 : 4, &v->u);
	case 0xde: case 0xdf:
		v->type = MP_MAP;
		return mp_be(m, b == 0xde ? 2 : 4, &v->u);
	default:                /* 0xc1: never used */
		return -1;
	}
}

/* Skips the elements of a container whose header was v.  0 or -1. */
static int
mp_skip_elems(struct mp *m, const struct mp_val *v, int depth)
{
	uint64_t n, i;
	struct mp_val e;

	if (v->type != MP_ARRAY && v->type != MP_MAP)
		return 0;
	if (depth >= MP_DEPTH)
		return -1;
	n = v->type == MP_MAP ? 2 * v->u : v->u;
	/* Each element takes a byte at least. */
	if (n > (uint64_t)(m->end - m->p))
		return -1;
	for (i = 0; i < n; i++)
		if (mp_next(m, &e) < 0 || mp_skip_elems(m, &e, depth + 1) < 0)
			return -1;
	return 0;
}

/* A finite number from v, or -1. */
static int
mp_number(const struct mp_val *v, double *out)
{
	switch (v->type) {
	case MP_UINT:
		*out = (double)v->u;
		return 0;
	case MP_INT:
		*out = (double)v->i;
		return 0;
	case MP_FLOAT:
		if (!isfinite(v->f))
			return -1;
		*out = v->f;
		return 0;
	default:
		return -1;
	}
}

static int
str_is(const struct mp_val *k, const char *name, size_t n)
{
	return k->len == n && !memcmp(k->s, name, n);
}

/* The reading's time: ISO 8601 as tool_parse_time() reads it, but never a
 * relative time ("now", "-5m"). */
static int
parse_ts(const char *s, size_t len, int64_t *ms)
{
	char buf[64];

	if (len == 0 || len >= sizeof(buf) || s[0] < '0' || s[0] > '9')
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return tool_parse_time(buf, 0, ms) < 0 ? -1 : 0;
}

/*
 * Decodes a record's value into *rd (pointing into the record).  Returns
 * BAD_NONE or why it is not a reading.  The whole value is read before a
 * field is judged, so a truncated value is always BAD_MSGPACK; with a
 * key given twice the last one counts.
 */
static enum bad
reading_parse(const struct logd_record *rec, struct reading *rd)
{
	struct mp m;
	struct mp_val top, k, v;
	unsigned have = 0;
	int bad_ts = 0, bad_latlon = 0, j;
	uint64_t i;

	memset(rd, 0, sizeof(*rd));
	if (rec->value == NULL || rec->value_len == 0)
		return BAD_EMPTY;
	m.p = rec->value;
	m.end = m.p + rec->value_len;
	if (mp_next(&m, &top) < 0)
		return BAD_MSGPACK;
	if (top.type != MP_MAP)
		return mp_skip_elems(&m, &top, 0) < 0 || m.p != m.end ?
		    BAD_MSGPACK : BAD_NOTMAP;
	if (top.u > (uint64_t)(m.end - m.p))
		return BAD_MSGPACK;
	for (i = 0; i < top.u; i++) {
		if (mp_next(&m, &k) < 0 || mp_skip_elems(&m, &k, 1) < 0 ||
		    mp_next(&m, &v) < 0 || mp_skip_elems(&m, &v, 1) < 0)
			return BAD_MSGPACK;
		if (k.type != MP_STR)
			continue;
		if (str_is(&k, "sensor_id", 9)) {
			rd->sensor_id = v.type == MP_STR ? v.s : NULL;
			rd->sensor_id_len = (int)v.len;
		} else if (str_is(&k, "city", 4)) {
			rd->city = v.type == MP_STR ? v.s : NULL;
			rd->city_len = (int)v.len;
		} else if (str_is(&k, "timestamp", 9)) {
			bad_ts = v.type != MP_STR ||
			    parse_ts(v.s, v.len, &rd->ts_ms) < 0;
			rd->ts = bad_ts ? NULL : v.s;
			rd->ts_len = (int)v.len;
		} else if (str_is(&k, "lat", 3)) {
			bad_latlon |= mp_number(&v, &rd->lat) < 0;
			rd->have_lat = 1;
		} else if (str_is(&k, "lon", 3)) {
			bad_latlon |= mp_number(&v, &rd->lon) < 0;
			rd->have_lon = 1;
		} else {
			for (j = 0; j < NMETRICS; j++)
				if (str_is(&k, metrics[j], strlen(metrics[j])))
					break;
			if (j == NMETRICS)
				continue;
			if (mp_number(&v, &rd->m[j]) < 0)
				have &= ~(1u << j);
			else
				have |= 1u << j;
		}
	}
	if (m.p != m.end)
		return BAD_MSGPACK;
	if (rd->sensor_id == NULL || rd->sensor_id_len <= 0 ||
	    rd->sensor_id_len > 1000)
		return BAD_SENSOR;
	if (rd->city == NULL || rd->city_len <= 0 || rd->city_len > 1000)
		return BAD_CITY;
	if (bad_ts)
		return BAD_TIMESTAMP;
	if (bad_latlon)
		return BAD_LATLON;
	for (j = 0; j < NMETRICS; j++)
		if (!(have & 1u << j))
			return (enum bad)(BAD_METRIC + j);
	if (rd->ts == NULL) {
		/* No timestamp field: the record's own time. */
		rd->ts_ms = rec->timestamp;
		tool_format_time(rec->timestamp, rd->ts_buf,
		    sizeof(rd->ts_buf));
		rd->ts = rd->ts_buf;
		rd->ts_len = (int)strlen(rd->ts_buf);
	}
	return BAD_NONE;
}

/* ---- Hourly aggregates of the open transaction ---- */

static uint64_t
agg_hash(int64_t hour, const char *s, int sn, const char *c, int cn)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)hour;
	int i;

	for (i = 0; i < sn; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	h = (h ^ 0xff) * 1099511628211ULL;
	for (i = 0; i < cn; i++)
		h = (h ^ (unsigned char)c[i]) * 1099511628211ULL;
	return h != 0 ? h : 1;
}

static struct agg *
agg_slot(struct agg *tab, size_t cap, const struct tool_buf *strs,
    uint64_t h, int64_t hour, const char *s, int sn, const char *c, int cn)
{
	size_t i = (size_t)h & (cap - 1);

	for (;; i = (i + 1) & (cap - 1)) {
		struct agg *g = &tab[i];

		if (g->hash == 0)
			return g;
		if (g->hash == h && g->hour_ms == hour && g->sensor_len == sn &&
		    g->city_len == cn &&
		    !memcmp(strs->data + g->sensor_off, s, (size_t)sn) &&
		    !memcmp(strs->data + g->city_off, c, (size_t)cn))
			return g;
	}
}

/* Doubles the table.  0 or -ENOMEM. */
static int
agg_grow(struct app *a)
{
	size_t cap = a->agg_cap ? a->agg_cap * 2 : 1024, i;
	struct agg *tab = calloc(cap, sizeof(*tab));

	if (tab == NULL)
		return -ENOMEM;
	for (i = 0; i < a->agg_cap; i++) {
		struct agg *g = &a->aggs[i];

		if (g->hash != 0)
			*agg_slot(tab, cap, &a->strs, g->hash, g->hour_ms,
			    a->strs.data + g->sensor_off, g->sensor_len,
			    a->strs.data + g->city_off, g->city_len) = *g;
	}
	free(a->aggs);
	a->aggs = tab;
	a->agg_cap = cap;
	return 0;
}

static int64_t
hour_of(int64_t ms)
{
	int64_t h = ms / 3600000;

	if (ms < 0 && h * 3600000 != ms)
		h--;
	return h * 3600000;
}

/* Adds a reading to its hour's aggregate.  0 or -ENOMEM. */
static int
agg_add(struct app *a, const struct reading *rd)
{
	int64_t hour = hour_of(rd->ts_ms);
	uint64_t h = agg_hash(hour, rd->sensor_id, rd->sensor_id_len,
	    rd->city, rd->city_len);
	struct agg *g;
	int k;

	if ((a->agg_used + 1) * 2 > a->agg_cap && agg_grow(a) < 0)
		return -ENOMEM;
	g = agg_slot(a->aggs, a->agg_cap, &a->strs, h, hour, rd->sensor_id,
	    rd->sensor_id_len, rd->city, rd->city_len);
	if (g->hash == 0) {
		g->sensor_off = a->strs.len;
		if (tool_buf_add(&a->strs, rd->sensor_id,
		    (size_t)rd->sensor_id_len) < 0)
			return -ENOMEM;
		g->city_off = a->strs.len;
		if (tool_buf_add(&a->strs, rd->city, (size_t)rd->city_len) < 0)
			return -ENOMEM;
		g->hash = h;
		g->hour_ms = hour;
		g->sensor_len = rd->sensor_id_len;
		g->city_len = rd->city_len;
		for (k = 0; k < NMETRICS; k++) {
			g->min[k] = g->max[k] = rd->m[k];
			g->sum[k] = 0;
		}
		a->agg_used++;
	}
	g->n++;
	for (k = 0; k < NMETRICS; k++) {
		if (rd->m[k] < g->min[k])
			g->min[k] = rd->m[k];
		if (rd->m[k] > g->max[k])
			g->max[k] = rd->m[k];
		g->sum[k] += rd->m[k];
	}
	return 0;
}

static void
agg_clear(struct app *a)
{
	if (a->aggs != NULL)
		memset(a->aggs, 0, a->agg_cap * sizeof(*a->aggs));
	a->agg_used = 0;
	tool_buf_reset(&a->strs);
}

/* ---- SQLite ---- */

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS readings (\n"
    "  topic       TEXT NOT NULL,\n"
    "  \"partition\" INTEGER NOT NULL,\n"
    "  \"offset\"    INTEGER NOT NULL,\n"
    "  sensor_id   TEXT NOT NULL,\n"
    "  city        TEXT NOT NULL,\n"
    "  lat         REAL,\n"
    "  lon         REAL,\n"
    "  ts          TEXT NOT NULL,\n"
    "  ts_ms       INTEGER NOT NULL,\n"
    "  temperature REAL NOT NULL,\n"
    "  humidity    REAL NOT NULL,\n"
    "  wind_speed  REAL NOT NULL,\n"
    "  pressure    REAL NOT NULL,\n"
    "  PRIMARY KEY (topic, \"partition\", \"offset\")\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS hourly (\n"
    "  hour      TEXT NOT NULL,\n"
    "  sensor_id TEXT NOT NULL,\n"
    "  city      TEXT NOT NULL,\n"
    "  n         INTEGER NOT NULL,\n"
    "  temperature_min REAL NOT NULL, temperature_max REAL NOT NULL,\n"
    "  temperature_sum REAL NOT NULL,\n"
    "  humidity_min REAL NOT NULL, humidity_max REAL NOT NULL,\n"
    "  humidity_sum REAL NOT NULL,\n"
    "  wind_speed_min REAL NOT NULL, wind_speed_max REAL NOT NULL,\n"
    "  wind_speed_sum REAL NOT NULL,\n"
    "  pressure_min REAL NOT NULL, pressure_max REAL NOT NULL,\n"
    "  pressure_sum REAL NOT NULL,\n"
    "  temperature_mean REAL GENERATED ALWAYS AS (temperature_sum / n),\n"
    "  humidity_mean REAL GENERATED ALWAYS AS (humidity_sum / n),\n"
    "  wind_speed_mean REAL GENERATED ALWAYS AS (wind_speed_sum / n),\n"
    "  pressure_mean REAL GENERATED ALWAYS AS (pressure_sum / n),\n"
    "  UNIQUE (hour, sensor_id, city)\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS etl_offsets (\n"
    "  topic       TEXT NOT NULL,\n"
    "  \"partition\" INTEGER NOT NULL,\n"
    "  next_offset INTEGER NOT NULL,\n"
    "  PRIMARY KEY (topic, \"partition\")\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS etl_rejects (\n"
    "  topic       TEXT NOT NULL,\n"
    "  \"partition\" INTEGER NOT NULL,\n"
    "  \"offset\"    INTEGER NOT NULL,\n"
    "  reason      TEXT NOT NULL,\n"
    "  UNIQUE (topic, \"partition\", \"offset\")\n"
    ");\n";

static const char ins_reading_sql[] =
    "INSERT OR IGNORE INTO readings (topic, \"partition\", \"offset\", "
    "sensor_id, city, lat, lon, ts, ts_ms, temperature, humidity, "
    "wind_speed, pressure) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
    "?10, ?11, ?12, ?13)";

static const char ins_reject_sql[] =
    "INSERT OR IGNORE INTO etl_rejects (topic, \"partition\", \"offset\", "
    "reason) VALUES (?1, ?2, ?3, ?4)";

#define AGG_SET(m) \
    m "_min = min(" m "_min, excluded." m "_min), " \
    m "_max = max(" m "_max, excluded." m "_max), " \
    m "_sum = " m "_sum + excluded." m "_sum"

static const char up_agg_sql[] =
    "INSERT INTO hourly (hour, sensor_id, city, n, "
    "temperature_min, temperature_max, temperature_sum, "
    "humidity_min, humidity_max, humidity_sum, "
    "wind_speed_min, wind_speed_max, wind_speed_sum, "
    "pressure_min, pressure_max, pressure_sum) VALUES (?1, ?2, ?3, ?4, "
    "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) "
    "ON CONFLICT (hour, sensor_id, city) DO UPDATE SET n = n + excluded.n, "
    AGG_SET("temperature") ", " AGG_SET("humidity") ", "
    AGG_SET("wind_speed") ", " AGG_SET("pressure");

static const char up_off_sql[] =
    "INSERT INTO etl_offsets (topic, \"partition\", next_offset) "
    "VALUES (?1, ?2, ?3) ON CONFLICT (topic, \"partition\") DO UPDATE SET "
    "next_offset = max(next_offset, excluded.next_offset)";

static const char sel_off_sql[] =
    "SELECT \"partition\", next_offset FROM etl_offsets WHERE topic = ?1";

static int
db_err(struct app *a, const char *what)
{
	tool_err("%s: %s: %s", a->o.db, what, sqlite3_errmsg(a->db));
	return ETL_EDB;
}

static int
db_exec(struct app *a, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(a->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		tool_err("%s: %s", a->o.db, msg != NULL ? msg :
		    sqlite3_errmsg(a->db));
		sqlite3_free(msg);
		return ETL_EDB;
	}
	return 0;
}

/*
 * Opens (creating) the database: WAL, synchronous=NORMAL (see the top of
 * the file), the schema, the statements.  Switching a new database to
 * WAL can fail at once with SQLITE_BUSY when another process does the
 * same (logalerts.c has the story), so a busy setup is retried.
 */
static int
db_open(struct app *a)
{
	static const char *const steps[] = { "PRAGMA page_size=16384",
	    "PRAGMA journal_mode=WAL",
	    "PRAGMA synchronous=NORMAL", "PRAGMA wal_autocheckpoint=4096",
	    "PRAGMA cache_size=-65536",
	    schema_sql };
	struct {
		sqlite3_stmt **s;
		const char *sql;
	} st[] = {
		{ &a->ins_reading, ins_reading_sql },
		{ &a->ins_reject, ins_reject_sql },
		{ &a->up_agg, up_agg_sql },
		{ &a->up_off, up_off_sql },
		{ &a->sel_off, sel_off_sql },
	};
	int rc = SQLITE_OK, tries;
	size_t i;

	if (sqlite3_open_v2(a->o.db, &a->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		tool_err("%s: %s", a->o.db, a->db != NULL ?
		    sqlite3_errmsg(a->db) : "cannot open");
		return ETL_EDB;
	}
	sqlite3_busy_timeout(a->db, 10000);
	for (tries = 0; tries < 200; tries++) {
		for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			rc = sqlite3_exec(a->db, steps[i], NULL, NULL, NULL);
			if (rc != SQLITE_OK)
				break;
		}
		if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			break;
		usleep(50000);
	}
	if (rc != SQLITE_OK)
		return db_err(a, "setup");
	for (i = 0; i < sizeof(st) / sizeof(st[0]); i++)
		if (sqlite3_prepare_v2(a->db, st[i].sql, -1, st[i].s, NULL) !=
		    SQLITE_OK)
			return db_err(a, "prepare");
	return 0;
}

static void
db_close(struct app *a)
{
	sqlite3_finalize(a->ins_reading);
	sqlite3_finalize(a->ins_reject);
	sqlite3_finalize(a->up_agg);
	sqlite3_finalize(a->up_off);
	sqlite3_finalize(a->sel_off);
	sqlite3_close(a->db);
}

static struct part *
part_find(struct app *a, int32_t id)
{
	size_t i;

	for (i = 0; i < a->nparts; i++)
		if (a->parts[i].id == id)
			return &a->parts[i];
	return NULL;
}

/* Reads etl_offsets for the topic into the partitions.  0 or ETL_EDB. */
static int
db_load_offsets(struct app *a)
{
	sqlite3_stmt *s = a->sel_off;
	struct part *p;
	size_t i;
	int rc;

	for (i = 0; i < a->nparts; i++)
		a->parts[i].in_db = 0;
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, a->o.topic, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		p = part_find(a, sqlite3_column_int(s, 0));
		if (p == NULL)
			continue;
		p->committed = p->next = sqlite3_column_int64(s, 1);
		p->in_db = 1;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : db_err(a, "etl_offsets");
}

static int
txn_begin(struct app *a)
{
	size_t i;
	int first = 0;

	for (i = 0; i < a->nparts; i++)
		first |= !a->parts[i].in_db;
	/* The first transaction is synced: see the top of the file. */
	if (db_exec(a, first ? "PRAGMA synchronous=FULL" :
	    "PRAGMA synchronous=NORMAL") < 0 ||
	    db_exec(a, "BEGIN IMMEDIATE") < 0)
		return ETL_EDB;
	a->in_txn = 1;
	a->txn_records = 0;
	a->txn_counts[0] = a->loaded;
	a->txn_counts[1] = a->skipped;
	a->txn_counts[2] = a->dups;
	return 0;
}

static void
txn_rollback(struct app *a)
{
	size_t i;

	if (!a->in_txn)
		return;
	sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
	a->in_txn = 0;
	a->txn_records = 0;
	agg_clear(a);
	for (i = 0; i < a->nparts; i++)
		a->parts[i].next = a->parts[i].committed;
	/* These records will be read again: count them then. */
	a->loaded = a->txn_counts[0];
	a->skipped = a->txn_counts[1];
	a->dups = a->txn_counts[2];
}

/* Writes the gathered aggregates and the offsets, then COMMIT. */
static int
txn_commit(struct app *a)
{
	sqlite3_stmt *s;
	char hour[40];
	size_t i;
	int k;

	for (i = 0; i < a->agg_cap; i++) {
		const struct agg *g = &a->aggs[i];

		if (g->hash == 0)
			continue;
		s = a->up_agg;
		sqlite3_reset(s);
		tool_format_time(g->hour_ms, hour, sizeof(hour));
		sqlite3_bind_text(s, 1, hour, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 2, a->strs.data + g->sensor_off,
		    g->sensor_len, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, a->strs.data + g->city_off,
		    g->city_len, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, g->n);
		for (k = 0; k < NMETRICS; k++) {
			sqlite3_bind_double(s, 5 + 3 * k, g->min[k]);
			sqlite3_bind_double(s, 6 + 3 * k, g->max[k]);
			sqlite3_bind_double(s, 7 + 3 * k, g->sum[k]);
		}
		if (sqlite3_step(s) != SQLITE_DONE)
			return db_err(a, "hourly");
	}
	sqlite3_reset(a->up_agg);
	for (i = 0; i < a->nparts; i++) {
		struct part *p = &a->parts[i];

		if (p->in_db && p->next == p->committed)
			continue;
		s = a->up_off;
		sqlite3_reset(s);
		sqlite3_bind_text(s, 1, a->o.topic, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 2, p->id);
		sqlite3_bind_int64(s, 3, p->next);
		if (sqlite3_step(s) != SQLITE_DONE)
			return db_err(a, "etl_offsets");
	}
	sqlite3_reset(a->up_off);
	if (db_exec(a, "COMMIT") < 0)
		return ETL_EDB;
	a->in_txn = 0;
	a->txn_records = 0;
	agg_clear(a);
	for (i = 0; i < a->nparts; i++) {
		a->parts[i].committed = a->parts[i].next;
		a->parts[i].in_db = 1;
	}
	return 0;
}

/* Prints the first record of each bad kind; every one is counted. */
static int
reject(struct app *a, const struct logd_consumer_record *cr, enum bad why)
{
	sqlite3_stmt *s = a->ins_reject;

	a->skipped++;
	if (!(a->reported & 1u << why)) {
		a->reported |= 1u << why;
		tool_err("warning: %s/%" PRId32 "@%" PRId64 ": skipped: %s "
		    "(further records of this kind are only counted)",
		    cr->topic, cr->partition, cr->rec.offset, bad_names[why]);
	}
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, cr->topic, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, cr->partition);
	sqlite3_bind_int64(s, 3, cr->rec.offset);
	sqlite3_bind_text(s, 4, bad_names[why], -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_err(a, "etl_rejects");
	return 0;
}

/* Loads one record inside the open transaction.  0 or ETL_EDB/-ENOMEM. */
static int
load(struct app *a, const struct logd_consumer_record *cr)
{
	sqlite3_stmt *s = a->ins_reading;
	struct reading rd;
	enum bad why;
	int k;

	why = reading_parse(&cr->rec, &rd);
	if (why != BAD_NONE)
		return reject(a, cr, why);
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, cr->topic, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, cr->partition);
	sqlite3_bind_int64(s, 3, cr->rec.offset);
	sqlite3_bind_text(s, 4, rd.sensor_id, rd.sensor_id_len, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, rd.city, rd.city_len, SQLITE_STATIC);
	if (rd.have_lat)
		sqlite3_bind_double(s, 6, rd.lat);
	else
		sqlite3_bind_null(s, 6);
	if (rd.have_lon)
		sqlite3_bind_double(s, 7, rd.lon);
	else
		sqlite3_bind_null(s, 7);
	sqlite3_bind_text(s, 8, rd.ts, rd.ts_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 9, rd.ts_ms);
	for (k = 0; k < NMETRICS; k++)
		sqlite3_bind_double(s, 10 + k, rd.m[k]);
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_err(a, "readings");
	if (sqlite3_changes(a->db) == 0) {
		a->dups++;      /* loaded before: already aggregated */
		return 0;
	}
	a->loaded++;
	if (agg_add(a, &rd) < 0) {
		tool_err("out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* ---- The broker side ---- */

static int
is_conn_error(int r)
{
	return r == LOGD_ECLOSED || r == LOGD_ETIMEDOUT || r == LOGD_EPROTO ||
	    r == -ECONNRESET || r == -ECONNREFUSED || r == -EPIPE ||
	    r == -ENOTCONN || r == -ECONNABORTED || r == -ETIMEDOUT ||
	    r == -EHOSTUNREACH || r == -ENETUNREACH || r == -EIO;
}

static void
detach(struct app *a)
{
	logd_consumer_close(a->cs);
	a->cs = NULL;
	logd_client_close(a->c);
	a->c = NULL;
}

static int
connect_broker(struct app *a)
{
	struct logd_client_options cl;

	memset(&cl, 0, sizeof(cl));
	cl.client_id = "logetl";
	return logd_client_open(a->o.addr, &cl, &a->c);
}

/*
 * The topic's partitions, with their start and end offsets; on the first
 * call (a->parts NULL) this makes the partition list, with batch targets
 * at the end offsets.  0, LOGD_ENOTOPIC, or a broker error.
 */
static int
topic_meta(struct app *a, int64_t **starts, int64_t **ends)
{
	const char *names[1] = { a->o.topic };
	const struct logd_topic_meta *t;
	struct logd_metadata *m;
	int32_t i;
	int r;

	r = logd_client_metadata(a->c, names, 1, &m);
	if (r < 0)
		return r;
	if (m->topic_count != 1 || m->topics[0].error != 0) {
		r = m->topic_count == 1 ? m->topics[0].error : LOGD_ENOTOPIC;
		logd_metadata_free(m);
		return r;
	}
	t = &m->topics[0];
	if (a->parts == NULL) {
		a->parts = calloc((size_t)t->partition_count + 1,
		    sizeof(*a->parts));
		if (a->parts == NULL) {
			logd_metadata_free(m);
			return -ENOMEM;
		}
		a->nparts = (size_t)t->partition_count;
		for (i = 0; i < t->partition_count; i++) {
			a->parts[i].id = t->partitions[i].partition;
			a->parts[i].target = t->partitions[i].end_offset;
		}
	}
	*starts = calloc(a->nparts + 1, sizeof(int64_t));
	*ends = calloc(a->nparts + 1, sizeof(int64_t));
	if (*starts == NULL || *ends == NULL) {
		free(*starts);
		free(*ends);
		logd_metadata_free(m);
		return -ENOMEM;
	}
	for (i = 0; i < (int32_t)a->nparts; i++) {
		(*starts)[i] = -1;
		(*ends)[i] = -1;
	}
	for (i = 0; i < t->partition_count; i++) {
		struct part *p = part_find(a, t->partitions[i].partition);

		if (p == NULL)
			continue;       /* added since we started: ignored */
		(*starts)[p - a->parts] = t->partitions[i].start_offset;
		(*ends)[p - a->parts] = t->partitions[i].end_offset;
	}
	logd_metadata_free(m);
	return 0;
}

/*
 * Where each partition starts: etl_offsets, else the group's commit, else
 * the log start; checked against the log.  Then assigns the partitions
 * still to read.  0, ETL_EDB (database), -ERANGE (the database is ahead of
 * the log: reported), or a broker error.
 */
static int
position(struct app *a)
{
	struct logd_consumer_options co;
	struct logd_group *g = NULL;
	int64_t *starts = NULL, *ends = NULL;
	size_t i, j;
	int r;

	r = topic_meta(a, &starts, &ends);
	if (r < 0)
		return r;
	if ((r = db_load_offsets(a)) < 0)
		goto out;
	r = logd_client_offsets_fetch(a->c, a->o.group, a->o.topic, &g);
	if (r < 0)
		goto out;
	for (i = 0; i < a->nparts; i++) {
		struct part *p = &a->parts[i];

		if (!p->in_db) {
			p->next = starts[i] >= 0 ? starts[i] : 0;
			for (j = 0; j < g->offset_count; j++)
				if (g->offsets[j].partition == p->id)
					p->next = g->offsets[j].offset;
			p->committed = p->next;
		}
		if (ends[i] >= 0 && p->next > ends[i]) {
			tool_err("%s/%" PRId32 ": %s %" PRId64 " is past the "
			    "end of the log (%" PRId64 "): the broker lost "
			    "records; not loading this topic", a->o.topic,
			    p->id, p->in_db ? "the database has loaded up to" :
			    "the group's commit", p->next, ends[i]);
			r = -ERANGE;
			goto out;
		}
		if (starts[i] >= 0 && p->next < starts[i]) {
			tool_err("warning: %s/%" PRId32 ": records %" PRId64
			    "..%" PRId64 " were deleted (retention) before "
			    "they were loaded; starting at %" PRId64,
			    a->o.topic, p->id, p->next, starts[i] - 1,
			    starts[i]);
			p->next = starts[i];
		}
	}
	memset(&co, 0, sizeof(co));
	co.max_bytes = FETCH_BYTES;
	r = logd_consumer_new(a->c, &co, &a->cs);
	if (r < 0)
		goto out;
	for (i = 0; i < a->nparts; i++) {
		struct part *p = &a->parts[i];

		p->assigned = 0;
		if (!a->o.follow && p->next >= p->target)
			continue;
		r = logd_consumer_assign(a->cs, a->o.topic, p->id, p->next);
		if (r < 0)
			goto out;
		p->assigned = 1;
	}
out:
	logd_group_free(g);
	free(starts);
	free(ends);
	return r;
}

/* Connects and positions.  0, or < 0 with *what naming the step. */
static int
attach(struct app *a, const char **what)
{
	int r;

	*what = "connect";
	r = connect_broker(a);
	if (r < 0)
		return r;
	*what = a->o.topic;
	r = position(a);
	if (r < 0)
		detach(a);
	return r;
}

/*
 * Connects and positions again, with backoff until it works or a signal
 * (follow mode); in batch mode a broker that cannot be reached ends it.
 */
static int
reattach(struct app *a)
{
	int delay_ms = 100, r;
	const char *what;

	for (;;) {
		if (stop)
			return -EINTR;
		r = attach(a, &what);
		if (r == 0) {
			tool_err("reconnected to %s; resuming from the "
			    "database's offsets", a->o.addr);
			return 0;
		}
		if (r == ETL_EDB || r == -ERANGE || r == -ENOMEM ||
		    !a->o.follow)
			return r;
		usleep((useconds_t)delay_ms * 1000);
		if (delay_ms < BACKOFF_MAX_MS)
			delay_ms *= 2;
	}
}

/* Commits the loaded offsets to the group, for logctl's lag. */
static int
group_commit(struct app *a)
{
	struct logd_offset_commit *oc;
	size_t i;
	int r;

	oc = calloc(a->nparts + 1, sizeof(*oc));
	if (oc == NULL)
		return -ENOMEM;
	for (i = 0; i < a->nparts; i++) {
		oc[i].topic = a->o.topic;
		oc[i].partition = a->parts[i].id;
		oc[i].offset = a->parts[i].committed;
	}
	r = logd_client_offsets_commit(a->c, a->o.group, oc, a->nparts);
	free(oc);
	return r;
}

static int
all_done(const struct app *a)
{
	size_t i;

	for (i = 0; i < a->nparts; i++)
		if (a->parts[i].assigned)
			return 0;
	return 1;
}

/*
 * Batch mode, after a wait that brought nothing: a partition whose log
 * ends at its position is done (the end may be below the target after
 * a logd crash lost records that were never acknowledged); after
 * IDLE_ROUNDS such waits the others are taken to end in offsets that
 * hold no records (a gap), and are done too.  0 or a broker error.
 */
static int
idle_check(struct app *a)
{
	size_t i;
	int64_t end;
	int r;

	a->idle_rounds++;
	for (i = 0; i < a->nparts; i++) {
		struct part *p = &a->parts[i];

		if (!p->assigned)
			continue;
		r = logd_client_list_offset(a->c, a->o.topic, p->id,
		    LOGD_OFFSET_LATEST, &end);
		if (r < 0)
			return r;
		if (end > p->next && a->idle_rounds < IDLE_ROUNDS)
			continue;
		r = logd_consumer_unassign(a->cs, a->o.topic, p->id);
		if (r < 0 && r != -ENOENT)
			return r;
		p->assigned = 0;
	}
	return 0;
}

/*
 * One transaction: polls records and loads them until -n records, a
 * second, no more data, or (batch mode) every partition at its target;
 * then COMMIT and the group commit.  *n is the number of records taken.
 * A poll error ends the transaction normally (what was taken is
 * committed) and is returned afterwards.  Returns 0, a broker error, or
 * ETL_EDB / -ENOMEM (nothing of the transaction was committed).
 */
static int
transaction(struct app *a, int *n)
{
	struct logd_consumer_record cr;
	int64_t deadline = 0;
	int r, perr = 0, wait;

	*n = 0;
	while (!stop && a->txn_records < a->o.rows && !all_done(a)) {
		if (*n == 0)
			wait = a->o.follow ? FOLLOW_MS : IDLE_MS;
		else
			wait = NEXT_MS;
		r = logd_consumer_poll(a->cs, wait, &cr);
		if (r < 0) {
			perr = r;
			break;
		}
		if (r == 0) {
			if (*n == 0 && !a->o.follow &&
			    (r = idle_check(a)) < 0)
				perr = r;
			break;
		}
		if (!a->in_txn) {
			if (txn_begin(a) < 0)
				return ETL_EDB;
			deadline = tool_mono_ns() / 1000000 + COMMIT_MS;
		}
		(*n)++;
		a->txn_records++;
		r = load(a, &cr);
		if (r < 0) {
			txn_rollback(a);
			return r;
		}
		{
			struct part *p = part_find(a, cr.partition);

			if (p == NULL) {
				txn_rollback(a);
				tool_err("record from unknown partition %"
				    PRId32, cr.partition);
				return ETL_EDB;
			}
			p->next = cr.rec.offset + 1;
			if (!a->o.follow && p->next >= p->target &&
			    p->assigned) {
				r = logd_consumer_unassign(a->cs, a->o.topic,
				    p->id);
				if (r < 0 && r != -ENOENT) {
					perr = r;
					break;
				}
				p->assigned = 0;
			}
		}
		if (tool_mono_ns() / 1000000 >= deadline)
			break;
	}
	if (!a->in_txn)
		return perr;
	r = txn_commit(a);
	if (r < 0) {
		txn_rollback(a);
		return r;
	}
	if (a->c != NULL && (perr == 0 || !is_conn_error(perr))) {
		r = group_commit(a);
		if (r < 0 && perr == 0)
			perr = r;
	}
	return perr;
}

static int
run(struct app *a)
{
	int n, r;

	for (;;) {
		r = transaction(a, &n);
		if (r == ETL_EDB || r == -ENOMEM)
			return TOOL_EXIT_FAIL;
		if (r < 0 && is_conn_error(r)) {
			tool_client_err(a->c, r, "lost the broker at %s%s",
			    a->o.addr, a->o.follow ? "; reconnecting" : "");
			detach(a);
			if (!a->o.follow)
				return TOOL_EXIT_CONNECT;
			r = reattach(a);
			if (r == -EINTR)
				return TOOL_EXIT_OK;
			if (r < 0)
				return TOOL_EXIT_FAIL;
			continue;
		}
		if (r == LOGD_ERANGE) {
			/* A position left the log (retention deleted records
			 * not loaded yet): position() moves it and says so. */
			detach(a);
			r = reattach(a);
			if (r == -EINTR)
				return TOOL_EXIT_OK;
			if (r < 0)
				return is_conn_error(r) ? TOOL_EXIT_CONNECT :
				    TOOL_EXIT_FAIL;
			continue;
		}
		if (r < 0) {
			tool_client_err(a->c, r, "load %s", a->o.topic);
			return TOOL_EXIT_FAIL;
		}
		if (stop || (!a->o.follow && all_done(a)))
			return TOOL_EXIT_OK;
	}
}

/* ---- Options ---- */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: logetl [-fhqV] [-b addr] [-d database] [-g group] "
	    "[-n rows] [-t topic]\n");
}

static void
help(void)
{
	usage(stdout);
	printf("Loads sensor readings from logd into SQLite, exactly once.\n"
	    "  -b, --broker ADDR      broker (default $LOGD_BROKER or %s)\n"
	    "  -d, --database FILE    SQLite database (default etl.db)\n"
	    "  -f, --follow           keep loading new readings; reconnect "
	    "when logd restarts\n"
	    "  -g, --group GROUP      consumer group for the offsets "
	    "(default etl)\n"
	    "  -h, --help             print this help and exit\n"
	    "  -n, --rows N           records per transaction at most "
	    "(default %d)\n"
	    "  -q, --quiet            no summary line\n"
	    "  -t, --topic TOPIC      topic of readings (default "
	    "sensor_data)\n"
	    "  -V, --version          print the version and exit\n",
	    LOGD_DEFAULT_ADDR, ROWS_DEFAULT);
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "broker", required_argument, NULL, 'b' },
		{ "database", required_argument, NULL, 'd' },
		{ "follow", no_argument, NULL, 'f' },
		{ "group", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ "rows", required_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "topic", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->addr = tool_broker_addr(NULL);
	o->topic = "sensor_data";
	o->group = "etl";
	o->db = "etl.db";
	o->rows = ROWS_DEFAULT;
	while ((ch = getopt_long(argc, argv, "b:d:fg:hn:qt:V", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'b':
			o->addr = optarg;
			break;
		case 'd':
			o->db = optarg;
			break;
		case 'f':
			o->follow = 1;
			break;
		case 'g':
			o->group = optarg;
			break;
		case 'h':
			help();
			exit(0);
		case 'n':
			if (tool_parse_i64(optarg, 1, 10000000, &o->rows) < 0)
				return tool_usage_err("bad value for -n: "
				    "\"%s\" (1 to 10000000)", optarg);
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 't':
			o->topic = optarg;
			break;
		case 'V':
			printf("logetl %s\n", LOGD_VERSION_STRING);
			exit(0);
		default:
			usage(stderr);
			return TOOL_EXIT_USAGE;
		}
	}
	if (optind != argc)
		return tool_usage_err("unexpected argument \"%s\"",
		    argv[optind]);
	if (logd_group_name_check(o->group) < 0)
		return tool_usage_err("bad group name \"%s\"", o->group);
	if (logd_topic_name_check(o->topic) < 0)
		return tool_usage_err("bad topic name \"%s\"", o->topic);
	if (*o->db == '\0')
		return tool_usage_err("empty database name");
	return 0;
}

/* The broker is reached before the database is created or opened. */
static int
start(struct app *a)
{
	const char *what;
	int r;

	r = connect_broker(a);
	if (r < 0) {
		tool_err("cannot connect to %s: %s", a->o.addr,
		    r == -ECONNREFUSED ? "connection refused (is logd "
		    "running?)" : logd_strerror(r));
		return TOOL_EXIT_CONNECT;
	}
	{
		int64_t *s = NULL, *e = NULL;

		r = topic_meta(a, &s, &e);
		free(s);
		free(e);
	}
	if (r < 0) {
		if (r == LOGD_ENOTOPIC)
			tool_err("topic %s does not exist", a->o.topic);
		else
			tool_client_err(a->c, r, "metadata for %s",
			    a->o.topic);
		return is_conn_error(r) ? TOOL_EXIT_CONNECT : TOOL_EXIT_FAIL;
	}
	if (db_open(a) < 0)
		return TOOL_EXIT_FAIL;
	what = a->o.topic;
	r = position(a);
	if (r < 0) {
		if (r != ETL_EDB && r != -ERANGE)
			tool_client_err(a->c, r, "%s", what);
		return is_conn_error(r) ? TOOL_EXIT_CONNECT : TOOL_EXIT_FAIL;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	struct app *a;
	double el;
	int rc, ran;

	tool_init(argv[0]);
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		tool_err("out of memory");
		return TOOL_EXIT_FAIL;
	}
	rc = parse_opts(argc, argv, &a->o);
	if (rc != 0) {
		free(a);
		return rc;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	a->started = tool_mono_s();
	rc = start(a);
	ran = rc == 0;
	if (ran)
		rc = run(a);
	txn_rollback(a);
	detach(a);
	if (a->db != NULL)
		db_close(a);    /* checkpoints the WAL: counted in the time */
	if (ran && !a->o.quiet) {
		el = tool_mono_s() - a->started;
		printf("logetl: loaded %" PRIu64 " readings, skipped %" PRIu64
		    ", %" PRIu64 " already loaded, in %.2f s (%.0f "
		    "readings/s)\n", a->loaded, a->skipped, a->dups, el,
		    el > 0 ? (double)a->loaded / el : 0.0);
		fflush(stdout);
	}
	free(a->aggs);
	tool_buf_free(&a->strs);
	free(a->parts);
	free(a);
	return rc;
}
