/*
 * logetl.h - what logetl.c (options, the broker, the load loop) shares
 * with logetl_read.c (decoding readings) and logetl_db.c (SQLite: the
 * tables, the hourly aggregates, transactions).  logetl.c's opening
 * comment is the design.
 */
#ifndef LOGETL_H
#define LOGETL_H

#include <errno.h>
#include <stdint.h>

#include <sqlite3.h>

#include "logd.h"
#include "tool.h"

/* A database failure (reported where it happened); distinct from every
 * code the client library returns, so it is never taken for a lost
 * connection. */
#define ETL_EDB (-ENOTRECOVERABLE)

/* The four metrics, in the order of the tables' columns. */
#define NMETRICS 4
extern const char *const etl_metrics[NMETRICS];

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

/* What each kind is called in messages and in etl_rejects. */
extern const char *const etl_bad_names[BAD_KINDS];

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


/* ---- logetl_read.c ---- */

/*
 * Decodes a record's value into *rd (pointing into the record's bytes,
 * or rd->ts_buf).  Returns BAD_NONE or why it is not a reading.
 */
enum bad etl_reading_parse(const struct logd_record *rec,
    struct reading *rd);

/* ---- logetl_db.c: every function reports its own failures ---- */

/* Opens or creates a->o.db: WAL, the schema, the statements.  0 or
 * ETL_EDB. */
int etl_db_open(struct app *a);
/* Finalizes the statements and closes the database (checkpointing). */
void etl_db_close(struct app *a);
/* Reads etl_offsets for the topic into a->parts.  0 or ETL_EDB. */
int etl_db_load_offsets(struct app *a);
struct part *etl_part_find(struct app *a, int32_t id);
/* BEGIN IMMEDIATE (the first transaction of a database synced).  0 or
 * ETL_EDB. */
int etl_txn_begin(struct app *a);
/* Loads one record into the open transaction: a row and its hour's
 * aggregate, or an etl_rejects row.  0, ETL_EDB or -ENOMEM. */
int etl_load(struct app *a, const struct logd_consumer_record *cr);
/* Writes the aggregates and offsets, COMMIT.  0 or ETL_EDB (the caller
 * rolls back). */
int etl_txn_commit(struct app *a);
/* ROLLBACK, and forgets what the transaction loaded.  Accepts no open
 * transaction. */
void etl_txn_rollback(struct app *a);

#endif /* LOGETL_H */
