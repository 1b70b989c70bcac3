/*
 * logalerts - the weather pipeline's alert consumer.
 *
 * Reads every partition of a topic of sensor readings (msgpack maps, as
 * sensorgen(1) writes them) as a consumer group, applies threshold rules
 * and records each alert in the SQLite table alert_log; optionally it
 * also publishes each alert to a topic.
 *
 * Exactly-once in the table, at-least-once everywhere else.  Work goes in
 * batches: the records of one batch are evaluated inside one SQLite
 * transaction (BEGIN IMMEDIATE ... COMMIT, synchronous=FULL), and only
 * after COMMIT has returned are the group's offsets committed to logd.  A
 * crash between the two makes the next run evaluate those records again;
 * the table's UNIQUE (topic, partition, offset, alert_type) key and
 * INSERT OR IGNORE turn the second insert into nothing, so after any
 * crash the table holds each alert exactly once.  Alerts are published
 * only when their row is new, and the producer is flushed (acks=all)
 * before the SQLite COMMIT, so the alerts topic has every alert at least
 * once (twice only if a crash fell between that flush and the COMMIT).
 *
 * logalerts is a member of its group (logd_consumer_subscribe()): several
 * instances with the same group split the topic's partitions, and when
 * one stops or dies its partitions move to the others.  A partition
 * starts at the group's committed offset (the earliest offset when there
 * is none).  When a rebalance takes partitions away in the middle of a
 * batch, on_revoke first finishes the batch's SQLite transaction (flush
 * the alerts published, COMMIT) and only then does the consumer commit
 * the offsets: the order of a normal batch, so the crash rules above
 * hold for it too; if that COMMIT fails, logalerts exits at once, before
 * any offset of the batch is committed (as a crash would).  A lost
 * connection rolls nothing back that was committed: logalerts reconnects
 * with backoff, joins again and resumes from the committed offsets.
 * SIGINT and SIGTERM end the
 * current batch normally (commit, then exit 0).  A rule whose metric a
 * reading lacks does not fire for that reading; the other rules still
 * apply.  A record that is not a msgpack map, has no sensor_id string or
 * has a number for none of the rules' metrics is counted and skipped.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#include <sqlite3.h>

#include "logd.h"
#include "tool.h"

#define MAX_RULES 64
#define MAX_FIELDS 32
#define BATCH_MAX 1000          /* records per transaction at most */
#define POLL_MS 500             /* first wait of a batch; bounds the
                                   reaction to a signal */
#define WARN_MAX 20             /* skipped-record warnings printed */

enum op { OP_GT, OP_LT, OP_GE, OP_LE };
static const char *const op_names[] = { ">", "<", ">=", "<=" };

struct rule {
	char name[33];
	char metric[65];
	enum op op;
	double threshold;
	char severity[16];
};

/* The seven rules in force without --rules. */
static const struct rule default_rules[] = {
	{ "HIGH_TEMP", "temperature", OP_GT, 40, "CRITICAL" },
	{ "LOW_TEMP", "temperature", OP_LT, 0, "WARNING" },
	{ "LOW_HUMIDITY", "humidity", OP_LT, 20, "WARNING" },
	{ "HIGH_HUMIDITY", "humidity", OP_GT, 90, "WARNING" },
	{ "HIGH_WIND", "wind_speed", OP_GT, 50, "WARNING" },
	{ "LOW_PRESSURE", "pressure", OP_LT, 980, "WARNING" },
	{ "HIGH_PRESSURE", "pressure", OP_GT, 1040, "WARNING" },
};

struct opts {
	const char *addr;
	const char *topic;
	const char *group;
	const char *db;
	const char *rules_file;
	const char *alerts_topic;  /* NULL: do not publish */
	uint64_t stats_every;      /* 0: no periodic stats */
	int exit_at_end;
	int print;
	int quiet;
	int skip_bad;              /* --skip-bad */
};

/* A string or number field of a reading, borrowed from the msgpack. */
struct field {
	const char *key;
	size_t key_len;
	double num;
};

struct reading {
	const char *sensor_id, *city, *ts;
	size_t sensor_id_len, city_len, ts_len;
	char ts_buf[40];
	struct field f[MAX_FIELDS];
	size_t nf;
};

struct app {
	struct opts o;
	struct rule rules[MAX_RULES];
	size_t nrules;
	sqlite3 *db;
	sqlite3_stmt *ins;
	struct logd_client *c;
	struct logd_consumer *cs;
	struct logd_producer *p;
	msgpack_unpacked up;
	msgpack_sbuffer sb;
	uint64_t processed, skipped, alerts, alerts_new, published;
	uint64_t next_stats;
	int in_txn;
	int skipped_batch;         /* a bad batch was skipped: commit */
	double started;
};

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* ---- Rules ---- */

static int
valid_word(const char *s, size_t max)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return 1;
}

/*
 * Parses one non-comment line "NAME METRIC OP THRESHOLD SEVERITY" into
 * *r.  Returns 0, or -1 with a message in err.
 */
static int
rule_parse(char *line, struct rule *r, char *err, size_t errsz)
{
	char *w[6], *save = NULL, *end;
	int n = 0;
	size_t i;

	for (char *t = strtok_r(line, " \t\r\n", &save); t != NULL;
	    t = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == 6)
			break;
		w[n++] = t;
	}
	if (n != 5) {
		snprintf(err, errsz, "expected NAME METRIC OP THRESHOLD "
		    "SEVERITY");
		return -1;
	}
	if (!valid_word(w[0], sizeof(r->name) - 1)) {
		snprintf(err, errsz, "bad rule name \"%s\"", w[0]);
		return -1;
	}
	if (!valid_word(w[1], sizeof(r->metric) - 1)) {
		snprintf(err, errsz, "bad metric name \"%s\"", w[1]);
		return -1;
	}
	for (i = 0; i < 4; i++)
		if (!strcmp(w[2], op_names[i]))
			break;
	if (i == 4) {
		snprintf(err, errsz, "bad operator \"%s\" (one of > < >= <=)",
		    w[2]);
		return -1;
	}
	r->op = (enum op)i;
	errno = 0;
	r->threshold = strtod(w[3], &end);
	if (*end || errno || r->threshold != r->threshold) {
		snprintf(err, errsz, "bad threshold \"%s\"", w[3]);
		return -1;
	}
	for (i = 0; w[4][i]; i++)
		w[4][i] = (char)toupper((unsigned char)w[4][i]);
	if (strcmp(w[4], "INFO") && strcmp(w[4], "WARNING") &&
	    strcmp(w[4], "CRITICAL")) {
		snprintf(err, errsz, "bad severity \"%s\" (INFO, WARNING or "
		    "CRITICAL)", w[4]);
		return -1;
	}
	snprintf(r->name, sizeof(r->name), "%s", w[0]);
	snprintf(r->metric, sizeof(r->metric), "%s", w[1]);
	snprintf(r->severity, sizeof(r->severity), "%s", w[4]);
	return 0;
}

/* Whether sensorgen's readings carry the metric (lat and lon are numbers
   too, so a rule may name them). */
static int
metric_known(const char *m)
{
	static const char *const known[] = { "temperature", "humidity",
	    "wind_speed", "pressure", "lat", "lon" };
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(m, known[i]))
			return 1;
	return 0;
}

/* Loads the rules file: it replaces the defaults entirely.  0 or -1. */
static int
rules_load(struct app *a, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512], err[200];
	unsigned lineno = 0;
	size_t i;

	if (f == NULL) {
		tool_err("%s: %s", path, strerror(errno));
		return -1;
	}
	a->nrules = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s = line;
		struct rule r;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			tool_err("%s:%u: line too long", path, lineno);
			goto fail;
		}
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0' || *s == '#')
			continue;
		if (rule_parse(s, &r, err, sizeof(err)) < 0) {
			tool_err("%s:%u: %s", path, lineno, err);
			goto fail;
		}
		for (i = 0; i < a->nrules; i++)
			if (!strcmp(a->rules[i].name, r.name))
				break;
		if (i < a->nrules) {
			tool_err("%s:%u: rule %s defined twice", path, lineno,
			    r.name);
			goto fail;
		}
		if (a->nrules == MAX_RULES) {
			tool_err("%s:%u: more than %d rules", path, lineno,
			    MAX_RULES);
			goto fail;
		}
		a->rules[a->nrules++] = r;
	}
	if (ferror(f)) {
		tool_err("%s: read error", path);
		goto fail;
	}
	fclose(f);
	if (a->nrules == 0) {
		tool_err("%s: no rules", path);
		return -1;
	}
	for (i = 0; i < a->nrules; i++)
		if (!metric_known(a->rules[i].metric))
			tool_err("warning: %s: rule %s: sensorgen readings have "
			    "no metric \"%s\" (known: temperature, humidity, "
			    "wind_speed, pressure); it fires only for readings "
			    "that have it", path, a->rules[i].name,
			    a->rules[i].metric);
	return 0;
fail:
	fclose(f);
	return -1;
}

static int
rule_fires(const struct rule *r, double v)
{
	switch (r->op) {
	case OP_GT:
		return v > r->threshold;
	case OP_LT:
		return v < r->threshold;
	case OP_GE:
		return v >= r->threshold;
	default:
		return v <= r->threshold;
	}
}

/* ---- Readings ---- */

static const struct field *
field_find(const struct reading *rd, const char *name)
{
	size_t n = strlen(name), i;

	for (i = 0; i < rd->nf; i++)
		if (rd->f[i].key_len == n && !memcmp(rd->f[i].key, name, n))
			return &rd->f[i];
	return NULL;
}

static int
key_is(const msgpack_object *k, const char *name)
{
	size_t n = strlen(name);

	return k->via.str.size == n && !memcmp(k->via.str.ptr, name, n);
}

/*
 * Decodes the record's value into *rd (pointing into a->up).  Returns 0,
 * or -1 with the reason in why.
 */
static int
reading_parse(struct app *a, const struct logd_record *rec,
    struct reading *rd, char *why, size_t whysz)
{
	const msgpack_object *o;
	size_t off = 0, i;

	memset(rd, 0, sizeof(*rd));
	if (rec->value == NULL || rec->value_len == 0) {
		snprintf(why, whysz, "empty value");
		return -1;
	}
	if (msgpack_unpack_next(&a->up, rec->value, rec->value_len, &off) !=
	    MSGPACK_UNPACK_SUCCESS || off != rec->value_len) {
		snprintf(why, whysz, "not one msgpack value");
		return -1;
	}
	o = &a->up.data;
	if (o->type != MSGPACK_OBJECT_MAP) {
		snprintf(why, whysz, "not a msgpack map");
		return -1;
	}
	for (i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key;
		const msgpack_object *v = &o->via.map.ptr[i].val;
		double num;

		if (k->type != MSGPACK_OBJECT_STR)
			continue;
		if (v->type == MSGPACK_OBJECT_STR) {
			if (key_is(k, "sensor_id")) {
				rd->sensor_id = v->via.str.ptr;
				rd->sensor_id_len = v->via.str.size;
			} else if (key_is(k, "city")) {
				rd->city = v->via.str.ptr;
				rd->city_len = v->via.str.size;
			} else if (key_is(k, "timestamp")) {
				rd->ts = v->via.str.ptr;
				rd->ts_len = v->via.str.size;
			}
			continue;
		}
		switch (v->type) {
		case MSGPACK_OBJECT_POSITIVE_INTEGER:
			num = (double)v->via.u64;
			break;
		case MSGPACK_OBJECT_NEGATIVE_INTEGER:
			num = (double)v->via.i64;
			break;
		case MSGPACK_OBJECT_FLOAT32:
		case MSGPACK_OBJECT_FLOAT64:
			num = v->via.f64;
			break;
		default:
			continue;
		}
		if (rd->nf < MAX_FIELDS) {
			rd->f[rd->nf].key = k->via.str.ptr;
			rd->f[rd->nf].key_len = k->via.str.size;
			rd->f[rd->nf].num = num;
			rd->nf++;
		}
	}
	if (rd->sensor_id == NULL || rd->sensor_id_len == 0) {
		snprintf(why, whysz, "no sensor_id string");
		return -1;
	}
	/* A rule whose metric the reading lacks does not fire for it; the
	   reading is skipped only when no rule has a number to look at. */
	for (i = 0; i < a->nrules; i++)
		if (field_find(rd, a->rules[i].metric) != NULL)
			break;
	if (i == a->nrules) {
		snprintf(why, whysz, "no number for any rule's metric");
		return -1;
	}
	if (rd->ts == NULL) {
		tool_format_time(rec->timestamp, rd->ts_buf,
		    sizeof(rd->ts_buf));
		rd->ts = rd->ts_buf;
		rd->ts_len = strlen(rd->ts_buf);
	}
	return 0;
}

/* ---- SQLite ---- */

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS alert_log (\n"
    "  alert_ts   TEXT NOT NULL,\n"
    "  sensor_id  TEXT NOT NULL,\n"
    "  city       TEXT,\n"
    "  alert_type TEXT NOT NULL,\n"
    "  metric     TEXT NOT NULL,\n"
    "  value      REAL NOT NULL,\n"
    "  threshold  REAL NOT NULL,\n"
    "  severity   TEXT NOT NULL,\n"
    "  topic      TEXT NOT NULL,\n"
    "  \"partition\" INTEGER NOT NULL,\n"
    "  \"offset\"   INTEGER NOT NULL,\n"
    "  created_at TEXT NOT NULL\n"
    "    DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),\n"
    "  UNIQUE (topic, \"partition\", \"offset\", alert_type)\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS alert_log_sensor\n"
    "  ON alert_log (sensor_id, alert_ts);\n";

static const char insert_sql[] =
    "INSERT OR IGNORE INTO alert_log (alert_ts, sensor_id, city, "
    "alert_type, metric, value, threshold, severity, topic, \"partition\", "
    "\"offset\") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

static int
db_exec(struct app *a, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(a->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		tool_err("%s: %s", a->o.db, msg != NULL ? msg :
		    sqlite3_errmsg(a->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * WAL lets readers run during a batch; FULL makes each COMMIT durable
 * before the group offsets move past its records.  Switching a new
 * database to WAL (and creating the schema) can fail with SQLITE_BUSY at
 * once, without the busy handler, when another process does the same at
 * the same moment: two logalerts of one group started together (35 of
 * 300 such pairs failed here).  So a busy setup is retried, for up to
 * 10 s like the busy timeout.
 */
static int
db_setup(struct app *a)
{
	static const char *const steps[] = { "PRAGMA journal_mode=WAL",
	    "PRAGMA synchronous=FULL", schema_sql };
	char *msg = NULL;
	size_t i;
	int rc = SQLITE_OK, tries;

	for (tries = 0; tries < 200; tries++) {
		for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			sqlite3_free(msg);
			msg = NULL;
			rc = sqlite3_exec(a->db, steps[i], NULL, NULL, &msg);
			if (rc != SQLITE_OK)
				break;
		}
		if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			break;
		usleep(50000);
	}
	if (rc != SQLITE_OK) {
		tool_err("%s: %s", a->o.db, msg != NULL ? msg :
		    sqlite3_errmsg(a->db));
		sqlite3_free(msg);
		return -1;
	}
	sqlite3_free(msg);
	return 0;
}

static int
db_open(struct app *a)
{
	if (sqlite3_open_v2(a->o.db, &a->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		tool_err("%s: %s", a->o.db, a->db != NULL ?
		    sqlite3_errmsg(a->db) : "cannot open");
		return -1;
	}
	/* Readers (a dashboard, sqlite3) must not make a batch fail. */
	sqlite3_busy_timeout(a->db, 10000);
	if (db_setup(a) < 0)
		return -1;
	if (sqlite3_prepare_v2(a->db, insert_sql, -1, &a->ins, NULL) !=
	    SQLITE_OK) {
		tool_err("%s: alert_log: %s", a->o.db, sqlite3_errmsg(a->db));
		return -1;
	}
	return 0;
}

static int
db_insert(struct app *a, const struct logd_consumer_record *cr,
    const struct reading *rd, const struct rule *r, double v, int *is_new)
{
	sqlite3_stmt *s = a->ins;
	int rc;

	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, rd->ts, (int)rd->ts_len, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, rd->sensor_id, (int)rd->sensor_id_len,
	    SQLITE_STATIC);
	if (rd->city != NULL)
		sqlite3_bind_text(s, 3, rd->city, (int)rd->city_len,
		    SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 3);
	sqlite3_bind_text(s, 4, r->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, r->metric, -1, SQLITE_STATIC);
	sqlite3_bind_double(s, 6, v);
	sqlite3_bind_double(s, 7, r->threshold);
	sqlite3_bind_text(s, 8, r->severity, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 9, cr->topic, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 10, cr->partition);
	sqlite3_bind_int64(s, 11, cr->rec.offset);
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		tool_err("%s: insert: %s", a->o.db, sqlite3_errmsg(a->db));
		sqlite3_reset(s);
		return -1;
	}
	*is_new = sqlite3_changes(a->db) == 1;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return 0;
}

/* ---- Alerts out ---- */

static void
pack_str(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void
pack_key(msgpack_packer *pk, const char *k)
{
	pack_str(pk, k, strlen(k));
}

static int
publish(struct app *a, const struct logd_consumer_record *cr,
    const struct reading *rd, const struct rule *r, double v)
{
	struct logd_message m;
	msgpack_packer pk;
	int ret;

	msgpack_sbuffer_clear(&a->sb);
	msgpack_packer_init(&pk, &a->sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 11);
	pack_key(&pk, "alert_ts");
	pack_str(&pk, rd->ts, rd->ts_len);
	pack_key(&pk, "sensor_id");
	pack_str(&pk, rd->sensor_id, rd->sensor_id_len);
	pack_key(&pk, "city");
	if (rd->city != NULL)
		pack_str(&pk, rd->city, rd->city_len);
	else
		msgpack_pack_nil(&pk);
	pack_key(&pk, "alert_type");
	pack_key(&pk, r->name);
	pack_key(&pk, "metric");
	pack_key(&pk, r->metric);
	pack_key(&pk, "value");
	msgpack_pack_double(&pk, v);
	pack_key(&pk, "threshold");
	msgpack_pack_double(&pk, r->threshold);
	pack_key(&pk, "severity");
	pack_key(&pk, r->severity);
	pack_key(&pk, "topic");
	pack_key(&pk, cr->topic);
	pack_key(&pk, "partition");
	msgpack_pack_int32(&pk, cr->partition);
	pack_key(&pk, "offset");
	msgpack_pack_int64(&pk, cr->rec.offset);

	memset(&m, 0, sizeof(m));
	m.topic = a->o.alerts_topic;
	m.partition = LOGD_PARTITION_ANY;
	m.key = rd->sensor_id;
	m.key_len = rd->sensor_id_len;
	m.value = a->sb.data;
	m.value_len = a->sb.size;
	ret = logd_producer_send(a->p, &m);
	if (ret == 0)
		a->published++;
	return ret;
}

/* Evaluates one record inside the open transaction.  0, or < 0. */
static int
handle(struct app *a, const struct logd_consumer_record *cr)
{
	struct reading rd;
	char why[128];
	size_t i;
	int r, is_new;

	if (reading_parse(a, &cr->rec, &rd, why, sizeof(why)) < 0) {
		a->skipped++;
		if (a->skipped <= WARN_MAX)
			tool_err("warning: %s/%" PRId32 "@%" PRId64 ": skipped: "
			    "%s%s", cr->topic, cr->partition, cr->rec.offset,
			    why, a->skipped == WARN_MAX ? " (further skips "
			    "are only counted)" : "");
		return 0;
	}
	a->processed++;
	for (i = 0; i < a->nrules; i++) {
		const struct rule *ru = &a->rules[i];
		const struct field *fl = field_find(&rd, ru->metric);
		double v;

		if (fl == NULL)
			continue;
		v = fl->num;
		if (!rule_fires(ru, v))
			continue;
		a->alerts++;
		if (db_insert(a, cr, &rd, ru, v, &is_new) < 0)
			return -EIO;
		if (!is_new)
			continue;
		a->alerts_new++;
		if (a->o.print) {
			printf("%.*s %-8s %-13s %.*s (%.*s) %s %g %s %g\n",
			    (int)rd.ts_len, rd.ts, ru->severity, ru->name,
			    (int)rd.sensor_id_len, rd.sensor_id,
			    rd.city ? (int)rd.city_len : 1,
			    rd.city ? rd.city : "?", ru->metric, v,
			    op_names[ru->op], ru->threshold);
			fflush(stdout);
		}
		if (a->p != NULL && (r = publish(a, cr, &rd, ru, v)) < 0)
			return r;
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
	logd_producer_close(a->p);
	a->p = NULL;
	logd_consumer_close(a->cs);
	a->cs = NULL;
	logd_client_close(a->c);
	a->c = NULL;
}

/* Creates the alerts topic when it does not exist yet. */
static int
alerts_topic_ensure(struct app *a)
{
	const char *names[1] = { a->o.alerts_topic };
	struct logd_metadata *m;
	int r, missing;

	r = logd_client_metadata(a->c, names, 1, &m);
	if (r < 0)
		return r;
	missing = m->topic_count == 0 || m->topics[0].error == LOGD_ENOTOPIC;
	logd_metadata_free(m);
	if (!missing)
		return 0;
	r = logd_client_topic_create(a->c, a->o.alerts_topic, 0, NULL, 0);
	return r == LOGD_ETOPICEXIST ? 0 : r;
}

/* --skip-bad: the consumer skipped a batch it cannot read. */
static void
on_skip(void *arg, const char *topic, int32_t partition, int64_t first,
    int64_t last, const char *why)
{
	struct app *a = arg;

	(void)topic;
	(void)partition;
	(void)first;
	(void)last;
	tool_err("warning: %s", why);
	a->skipped_batch = 1;
}

/*
 * A rebalance takes partitions away: make the open batch durable (alerts
 * published, SQLite COMMIT) before the consumer commits their offsets.
 */
static void
on_revoke(void *arg, const struct logd_group_assignment *as, size_t n)
{
	struct app *a = arg;
	int r;

	(void)as;
	(void)n;
	if (!a->in_txn)
		return;
	if (a->p != NULL && (r = logd_producer_flush(a->p)) < 0) {
		tool_client_err(a->c, r, "publish to %s before a rebalance",
		    a->o.alerts_topic);
		sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
		_exit(TOOL_EXIT_FAIL);
	}
	if (db_exec(a, "COMMIT") < 0) {
		sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
		_exit(TOOL_EXIT_FAIL);
	}
	a->in_txn = 0;
}

/* LOGD_ENOTOPIC when the topic does not exist (yet). */
/* "" for one, "s" for any other count. */
static const char *
plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

static int
topic_check(struct app *a)
{
	const char *names[1] = { a->o.topic };
	struct logd_metadata *m;
	int r;

	r = logd_client_metadata(a->c, names, 1, &m);
	if (r < 0)
		return r;
	r = m->topic_count == 1 ? m->topics[0].error : LOGD_ENOTOPIC;
	logd_metadata_free(m);
	return r;
}

/*
 * Connects and joins the group as a member reading the topic.  0, or < 0
 * with the client closed again; *what says which step failed.
 */
static int
attach(struct app *a, const char **what)
{
	struct logd_consumer_options co;
	struct logd_producer_options po;
	struct logd_client_options cl;
	int r;

	*what = "connect";
	memset(&cl, 0, sizeof(cl));
	cl.client_id = "logalerts";
	r = logd_client_open(a->o.addr, &cl, &a->c);
	if (r < 0)
		return r;
	memset(&co, 0, sizeof(co));
	co.group = a->o.group;
	co.on_revoke = on_revoke;
	co.skip_bad = a->o.skip_bad;
	co.on_skip = on_skip;
	co.cb_arg = a;
	*what = "consumer";
	r = logd_consumer_new(a->c, &co, &a->cs);
	if (r < 0)
		goto fail;
	*what = a->o.topic;
	if ((r = topic_check(a)) < 0 ||
	    (r = logd_consumer_subscribe(a->cs, a->o.topic)) < 0)
		goto fail;
	if (a->o.alerts_topic != NULL) {
		*what = a->o.alerts_topic;
		r = alerts_topic_ensure(a);
		if (r < 0)
			goto fail;
		logd_producer_options_default(&po);
		po.acks = LOGD_ACKS_ALL;
		r = logd_producer_new(a->c, &po, &a->p);
		if (r < 0)
			goto fail;
	}
	return 0;
fail:
	if (r == LOGD_ENOTOPIC)
		tool_err("unknown topic '%s'", *what);
	else if (a->c != NULL)
		tool_client_err(a->c, r, "%s", *what);
	detach(a);
	return r;
}

/* Reconnects with backoff until it works or a signal asks to stop. */
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
			    "committed offsets", a->o.addr);
			return 0;
		}
		if (!is_conn_error(r) && r != LOGD_ENOTOPIC)
			return r;
		usleep((useconds_t)delay_ms * 1000);
		if (delay_ms < 2000)
			delay_ms *= 2;
	}
}

/*
 * Records not yet consumed, summed over the partitions this member owns;
 * -1 unknown (also while it is joining the group).
 */
static int64_t
lag(struct app *a)
{
	const char *names[1] = { a->o.topic };
	struct logd_metadata *m;
	const struct logd_topic_meta *t;
	int64_t sum = 0, pos;
	size_t na;
	int32_t i;

	if (logd_consumer_assignment(a->cs, &na) == NULL)
		return -1;
	if (logd_client_metadata(a->c, names, 1, &m) < 0)
		return -1;
	if (m->topic_count != 1 || m->topics[0].error != 0) {
		logd_metadata_free(m);
		return -1;
	}
	t = &m->topics[0];
	for (i = 0; i < t->partition_count; i++) {
		const struct logd_partition_meta *pm = &t->partitions[i];

		if (logd_consumer_position(a->cs, a->o.topic, pm->partition,
		    &pos) < 0)
			continue; /* another member's */
		if (pm->end_offset > pos)
			sum += pm->end_offset - pos;
	}
	logd_metadata_free(m);
	return sum;
}

/*
 * After LOGD_ERANGE: moves every partition whose position left the log
 * back inside it (below the start: records were deleted by retention
 * before they were read; past the end: the log was truncated).
 */
static int
fix_ranges(struct app *a)
{
	const char *names[1] = { a->o.topic };
	struct logd_metadata *m;
	const struct logd_topic_meta *t;
	int64_t pos;
	int32_t i;
	int r;

	r = logd_client_metadata(a->c, names, 1, &m);
	if (r < 0)
		return r;
	t = &m->topics[0];
	for (i = 0; m->topic_count == 1 && i < t->partition_count; i++) {
		const struct logd_partition_meta *pm = &t->partitions[i];
		int64_t to;

		if (logd_consumer_position(a->cs, a->o.topic, pm->partition,
		    &pos) < 0)
			continue;
		if (pos < pm->start_offset)
			to = LOGD_OFFSET_EARLIEST;
		else if (pos > pm->end_offset)
			to = LOGD_OFFSET_LATEST;
		else
			continue;
		tool_err("warning: %s/%" PRId32 ": offset %" PRId64 " is "
		    "outside the log [%" PRId64 ", %" PRId64 "); moving to "
		    "the %s", a->o.topic, pm->partition, pos,
		    pm->start_offset, pm->end_offset,
		    to == LOGD_OFFSET_EARLIEST ? "start" : "end");
		r = logd_consumer_seek(a->cs, a->o.topic, pm->partition, to);
		if (r < 0)
			break;
	}
	logd_metadata_free(m);
	return r;
}

static void
stats_line(struct app *a)
{
	double el = tool_mono_s() - a->started;
	int64_t l = lag(a);
	char lagbuf[32];

	if (l < 0)
		snprintf(lagbuf, sizeof(lagbuf), "?");
	else
		snprintf(lagbuf, sizeof(lagbuf), "%" PRId64, l);
	tool_err("%" PRIu64 " reading%s processed, %" PRIu64 " skipped, %"
	    PRIu64 " alert%s (%" PRIu64 " new), lag %s, %.1f readings/s",
	    a->processed, plural(a->processed), a->skipped, a->alerts,
	    plural(a->alerts), a->alerts_new, lagbuf,
	    el > 0 ? (double)a->processed / el : 0.0);
}

/*
 * One batch: poll records (waiting up to POLL_MS for the first), evaluate
 * them in one transaction, flush published alerts, COMMIT, then commit
 * the group offsets.  *n is the number of records taken.  A poll error
 * ends the batch normally (what was taken is committed) and is returned
 * afterwards.  Returns 0, a broker error, or -EIO for a database failure
 * (nothing of the batch was committed anywhere).
 */
static int
batch(struct app *a, int *n)
{
	struct logd_consumer_record cr;
	uint64_t counts[5] = { a->processed, a->skipped, a->alerts,
	    a->alerts_new, a->published };
	int r, perr = 0;

	*n = 0;
	while (!stop && *n < BATCH_MAX) {
		r = logd_consumer_poll(a->cs, *n == 0 ? POLL_MS : 0, &cr);
		if (r < 0) {
			perr = r;
			break;
		}
		if (r == 0)
			break;
		if (!a->in_txn) {
			if (db_exec(a, "BEGIN IMMEDIATE") < 0)
				return -EIO;
			a->in_txn = 1;
		}
		(*n)++;
		r = handle(a, &cr);
		if (r == -EIO)
			goto rollback;
		if (r < 0) {
			/* Publishing failed: the batch must not count. */
			tool_client_err(a->c, r, "publish to %s",
			    a->o.alerts_topic);
			goto rollback_r;
		}
	}
	if (!a->in_txn) {
		/* Nothing taken, but a skipped batch moved a position. */
		if (a->skipped_batch && perr == 0) {
			a->skipped_batch = 0;
			if ((r = logd_consumer_commit(a->cs)) < 0)
				return r;
		}
		return perr;
	}
	a->skipped_batch = 0;
	if (a->p != NULL && (r = logd_producer_flush(a->p)) < 0) {
		tool_client_err(a->c, r, "publish to %s", a->o.alerts_topic);
		goto rollback_r;
	}
	if (db_exec(a, "COMMIT") < 0)
		goto rollback;
	a->in_txn = 0;
	r = logd_consumer_commit(a->cs);
	if (r < 0) {
		if (perr == 0)
			tool_client_err(a->c, r, "commit offsets of group %s",
			    a->o.group);
		return perr != 0 ? perr : r;
	}
	return perr;
rollback:
	r = -EIO;
rollback_r:
	sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
	a->in_txn = 0;
	/* These records will be read again: count them then. */
	a->processed = counts[0];
	a->skipped = counts[1];
	a->alerts = counts[2];
	a->alerts_new = counts[3];
	a->published = counts[4];
	return r;
}

static int
run(struct app *a)
{
	int n, r;
	int64_t l;

	for (;;) {
		r = batch(a, &n);
		if (a->o.stats_every > 0 && !a->o.quiet &&
		    a->processed + a->skipped >= a->next_stats && n > 0 &&
		    a->c != NULL && r == 0) {
			stats_line(a);
			while (a->next_stats <= a->processed + a->skipped)
				a->next_stats += a->o.stats_every;
		}
		if (r == -EIO)
			return TOOL_EXIT_FAIL;
		if (r < 0 && is_conn_error(r)) {
			tool_client_err(a->c, r, "lost the broker at %s; "
			    "reconnecting", a->o.addr);
			detach(a);
			r = reattach(a);
			if (r == -EINTR)
				return 0;
			if (r < 0)
				return TOOL_EXIT_FAIL;
			continue;
		}
		if (r == LOGD_ERANGE) {
			r = fix_ranges(a);
			if (r < 0 && !is_conn_error(r)) {
				tool_client_err(a->c, r, "seek");
				return TOOL_EXIT_FAIL;
			}
			continue;
		}
		if (r < 0) {
			tool_client_err(a->c, r, "consume %s", a->o.topic);
			return TOOL_EXIT_FAIL;
		}
		if (stop)
			return 0;
		if (n == 0 && a->o.exit_at_end) {
			l = lag(a);
			if (l == 0)
				return 0;
		}
	}
}

/* getopt values of the options with no letter */
enum { OPT_RULES = 256, OPT_SKIP_BAD, OPT_STATS };

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: logalerts [-hPqVx] [-A alerts_topic] [-b addr] "
	    "[-d database] [-g group]\n"
	    "                 [-t topic] [--rules file] [--skip-bad] "
	    "[--stats every]\n"
	    "  -A, --alerts-topic T     also publish each new alert to T\n"
	    "  -b, --broker ADDR        broker (default $LOGD_BROKER or "
	    "%s)\n"
	    "  -d, --database FILE      SQLite database (default alerts.db)\n"
	    "  -g, --group GROUP        consumer group (default alerts)\n"
	    "  -P, --print              print each new alert\n"
	    "  -q, --quiet              no statistics, no summary\n"
	    "  -t, --topic TOPIC        topic of readings (default "
	    "sensor_data)\n"
	    "  -x, --exit-at-end        exit 0 once caught up\n"
	    "      --rules FILE         read the rules from FILE\n"
	    "      --skip-bad           skip a stored batch that cannot be "
	    "read (say which)\n"
	    "      --stats N            statistics every N readings "
	    "(default 1000, 0: off)\n"
	    "  -h, --help               print this help and exit\n"
	    "  -V, --version            print the version and exit\n",
	    LOGD_DEFAULT_ADDR);
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "broker", required_argument, NULL, 'b' },
		{ "database", required_argument, NULL, 'd' },
		{ "exit-at-end", no_argument, NULL, 'x' },
		{ "group", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ "alerts-topic", required_argument, NULL, 'A' },
		{ "print", no_argument, NULL, 'P' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "rules", required_argument, NULL, OPT_RULES },
		{ "skip-bad", no_argument, NULL, OPT_SKIP_BAD },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "topic", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int64_t v;
	int ch;

	memset(o, 0, sizeof(*o));
	o->addr = tool_broker_addr(NULL);
	o->topic = "sensor_data";
	o->group = "alerts";
	o->db = "alerts.db";
	o->stats_every = 1000;
	while ((ch = getopt_long(argc, argv, "A:b:d:g:hPqt:Vx", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'b':
			o->addr = optarg;
			break;
		case 'd':
			o->db = optarg;
			break;
		case 'g':
			o->group = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'A':
			o->alerts_topic = optarg;
			break;
		case 'P':
			o->print = 1;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case OPT_RULES:
			o->rules_file = optarg;
			break;
		case OPT_STATS:
			if (tool_parse_i64(optarg, 0, INT64_MAX, &v) < 0) {
				tool_err("bad value for --stats: \"%s\"",
				    optarg);
				return -1;
			}
			o->stats_every = (uint64_t)v;
			break;
		case 't':
			o->topic = optarg;
			break;
		case 'V':
			printf("logalerts %s\n", LOGD_VERSION_STRING);
			exit(0);
		case 'x':
			o->exit_at_end = 1;
			break;
		case OPT_SKIP_BAD:
			o->skip_bad = 1;
			break;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -1;
	}
	if (logd_group_name_check(o->group) < 0) {
		tool_err("bad group name \"%s\"", o->group);
		return -1;
	}
	if (logd_topic_name_check(o->topic) < 0 || (o->alerts_topic != NULL &&
	    logd_topic_name_check(o->alerts_topic) < 0)) {
		tool_err("bad topic name \"%s\"",
		    logd_topic_name_check(o->topic) < 0 ? o->topic :
		    o->alerts_topic);
		return -1;
	}
	if (o->alerts_topic != NULL && !strcmp(o->alerts_topic, o->topic)) {
		tool_err("the alerts topic must differ from the input topic");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	struct app *a;
	const char *what;
	int r, rc = TOOL_EXIT_FAIL;

	tool_init(argv[0]);
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		tool_err("out of memory");
		return TOOL_EXIT_FAIL;
	}
	if (parse_opts(argc, argv, &a->o) < 0) {
		free(a);
		return TOOL_EXIT_USAGE;
	}
	memcpy(a->rules, default_rules, sizeof(default_rules));
	a->nrules = sizeof(default_rules) / sizeof(default_rules[0]);
	if (a->o.rules_file != NULL && rules_load(a, a->o.rules_file) < 0) {
		free(a);
		return TOOL_EXIT_USAGE;
	}
	a->next_stats = a->o.stats_every;
	msgpack_unpacked_init(&a->up);
	msgpack_sbuffer_init(&a->sb);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* The broker first: a database is made only once it is reached
	 * and the topic exists. */
	r = attach(a, &what);
	if (r < 0) {
		if (!strcmp(what, "connect"))
			tool_err("cannot connect to %s: %s", a->o.addr,
			    r == -ECONNREFUSED ? "connection refused (is logd "
			    "running?)" : logd_strerror(r));
		rc = !strcmp(what, "connect") ? TOOL_EXIT_CONNECT :
		    TOOL_EXIT_FAIL;
		goto out;
	}
	if (db_open(a) < 0)
		goto out;
	a->started = tool_mono_s();
	rc = run(a);
	if (!a->o.quiet)
		tool_err("processed %" PRIu64 " reading%s, skipped %" PRIu64
		    ", %" PRIu64 " alert%s (%" PRIu64 " new, %" PRIu64
		    " published)", a->processed, plural(a->processed),
		    a->skipped, a->alerts, plural(a->alerts), a->alerts_new,
		    a->published);
out:
	detach(a);
	sqlite3_finalize(a->ins);
	sqlite3_close(a->db);
	msgpack_unpacked_destroy(&a->up);
	msgpack_sbuffer_destroy(&a->sb);
	free(a);
	return rc;
}
