/*
 * logetl_db.c - logetl's SQLite side: the schema, the prepared
 * statements, the hourly aggregates gathered during a transaction, and
 * the transactions that hold rows, aggregates and offsets together (see
 * logetl.c for why that makes the load exactly once).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logetl.h"

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
int
etl_db_open(struct app *a)
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

void
etl_db_close(struct app *a)
{
	sqlite3_finalize(a->ins_reading);
	sqlite3_finalize(a->ins_reject);
	sqlite3_finalize(a->up_agg);
	sqlite3_finalize(a->up_off);
	sqlite3_finalize(a->sel_off);
	sqlite3_close(a->db);
}

struct part *
etl_part_find(struct app *a, int32_t id)
{
	size_t i;

	for (i = 0; i < a->nparts; i++)
		if (a->parts[i].id == id)
			return &a->parts[i];
	return NULL;
}

/* Reads etl_offsets for the topic into the partitions.  0 or ETL_EDB. */
int
etl_db_load_offsets(struct app *a)
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
		p = etl_part_find(a, sqlite3_column_int(s, 0));
		if (p == NULL)
			continue;
		p->committed = p->next = sqlite3_column_int64(s, 1);
		p->in_db = 1;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : db_err(a, "etl_offsets");
}

int
etl_txn_begin(struct app *a)
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

void
etl_txn_rollback(struct app *a)
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
int
etl_txn_commit(struct app *a)
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
		    cr->topic, cr->partition, cr->rec.offset, etl_bad_names[why]);
	}
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, cr->topic, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, cr->partition);
	sqlite3_bind_int64(s, 3, cr->rec.offset);
	sqlite3_bind_text(s, 4, etl_bad_names[why], -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_err(a, "etl_rejects");
	return 0;
}

/* Loads one record inside the open transaction.  0 or ETL_EDB/-ENOMEM. */
int
etl_load(struct app *a, const struct logd_consumer_record *cr)
{
	sqlite3_stmt *s = a->ins_reading;
	struct reading rd;
	enum bad why;
	int k;

	why = etl_reading_parse(&cr->rec, &rd);
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
