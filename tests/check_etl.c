/*
 * check_etl.c - logetl end to end: sensorgen produces readings into a
 * real logd, logetl loads them into SQLite.
 *
 * The test trusts neither logetl's counts nor its aggregates: it reads
 * every stored record back with the client library and compares it with
 * its row (partition, offset, sensor_id, city, timestamp, metrics), and
 * recomputes the hourly aggregates from the readings table with SQL.
 *
 * - load: N readings, batch mode, N rows equal to the log, aggregates
 *   equal to the recomputation, etl_offsets and the group's commit at
 *   the end offsets; a second run loads nothing and changes nothing.
 * - crash: logetl killed with SIGKILL at random moments during a load of
 *   50,000 readings (small transactions), logd killed and restarted once
 *   in the middle, more readings produced after that; in the end every
 *   reading is in the table exactly once and the aggregates agree.
 * - follow: -f loads readings as they come and survives a logd restart.
 * - bad: records that are not readings are skipped, each kind reported
 *   once with topic/partition/offset, and the group is not blocked.
 * - retention: records deleted before they were loaded are skipped with
 *   a warning, the rest loaded.
 * - usage: bad options exit 2, -h lists every option, -V, no broker
 *   exits 3 without creating the database, a missing topic exits 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <msgpack.h>
#include <sqlite3.h>

#include "logd.h"
#include "testlogd.h"

static struct testlogd T;

static void
setup(void)
{
	memset(&T, 0, sizeof(T));
	ck_assert_int_eq(testlogd_start(&T, NULL), 0);
}

/* logd applying retention every 100 ms. */
static void
setup_retention(void)
{
	memset(&T, 0, sizeof(T));
	ck_assert_int_eq(testlogd_start(&T, "retention_check_ms = 100"), 0);
}

static void
teardown(void)
{
	testlogd_stop(&T);
}

/* ---- Running the tools ---- */

static const char *
tool(const char *name)
{
	static char path[4][512];
	static int k;
	const char *b = getenv("LOGD_BUILDDIR");

	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/tools/%s", b ? b : "..", name);
	return path[k];
}

/* A file in the test's directory; the same name gives the same buffer,
 * so paths in argv arrays stay valid (at most 64 names a test). */
static const char *
tmpf(const char *name)
{
	static char names[64][64], path[64][512];
	static char dir[256];
	int k;

	if (strcmp(dir, T.dir) != 0) {
		memset(names, 0, sizeof(names));
		snprintf(dir, sizeof(dir), "%s", T.dir);
	}
	for (k = 0; k < 64 && names[k][0] != '\0'; k++)
		if (strcmp(names[k], name) == 0)
			return path[k];
	ck_assert_int_lt(k, 64);
	snprintf(names[k], sizeof(names[k]), "%s", name);
	snprintf(path[k], sizeof(path[k]), "%s/%s", T.dir, name);
	return path[k];
}

static pid_t
spawn(char *const argv[], const char *out, const char *err)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fo = open(out ? out : "/dev/null",
		    O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fe = open(err ? err : "/dev/null",
		    O_WRONLY | O_CREAT | O_TRUNC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fo < 0 || fe < 0)
			_exit(126);
		dup2(fo, 1);
		dup2(fe, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* The exit status, 128 + signal, or -1 after timeout_ms (then killed). */
static int
wait_for(pid_t pid, int timeout_ms)
{
	int st, i;

	for (i = 0; i < timeout_ms / 5; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
		usleep(5000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static void
dump(const char *path)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return;
	fprintf(stderr, "---- %s\n", path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

static void
run_ok(char *const argv[], const char *out, const char *err, int want)
{
	int st = wait_for(spawn(argv, out, err), 30000);

	if (st != want) {
		if (out != NULL)
			dump(out);
		if (err != NULL)
			dump(err);
		ck_abort_msg("%s exited %d, expected %d", argv[0], st, want);
	}
}

/* How often needle occurs in the file. */
static int
count_in(const char *path, const char *needle)
{
	static char buf[1 << 20];
	FILE *f = fopen(path, "r");
	const char *p;
	size_t n;
	int k = 0;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (p = buf; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		k++;
	return k;
}

static struct logd_client *
connect_ok(void)
{
	struct logd_client *c = NULL;
	int r = logd_client_open(T.addr, NULL, &c);

	ck_assert_msg(r == 0, "connect %s: %s", T.addr, logd_strerror(r));
	return c;
}

static void
create_topic(const char *topic, int32_t partitions)
{
	struct logd_client *c = connect_ok();

	ck_assert_int_eq(logd_client_topic_create(c, topic, partitions, NULL,
	    0), 0);
	logd_client_close(c);
}

/* sensorgen: count readings on a simulated clock, 10 minutes a round. */
static void
produce(int count, int seed)
{
	char c[16], s[16];
	char *gen[] = { (char *)tool("sensorgen"), "-b", T.addr, "-c", c,
	    "-n", "30", "-s", "2026-03-01T00:00", "-i", "600", "--seed", s, "-q",
	    NULL };

	snprintf(c, sizeof(c), "%d", count);
	snprintf(s, sizeof(s), "%d", seed);
	run_ok(gen, NULL, tmpf("gen.err"), 0);
}

/* ---- What the log holds ---- */

struct rec {
	int32_t partition;
	int64_t offset;
	char sensor_id[64], city[64], ts[40];
	double m[4];
};

static void
copy_str(char *dst, size_t size, const msgpack_object *v)
{
	size_t n = v->via.str.size < size - 1 ? v->via.str.size : size - 1;

	memcpy(dst, v->via.str.ptr, n);
	dst[n] = '\0';
}

static void
decode(const struct logd_consumer_record *cr, struct rec *r)
{
	static const char *const names[4] = { "temperature", "humidity",
	    "wind_speed", "pressure" };
	msgpack_unpacked up;
	size_t off = 0, i, k;

	memset(r, 0, sizeof(*r));
	r->partition = cr->partition;
	r->offset = cr->rec.offset;
	msgpack_unpacked_init(&up);
	ck_assert_int_eq(msgpack_unpack_next(&up, cr->rec.value,
	    cr->rec.value_len, &off), MSGPACK_UNPACK_SUCCESS);
	ck_assert_int_eq(up.data.type, MSGPACK_OBJECT_MAP);
	for (i = 0; i < up.data.via.map.size; i++) {
		const msgpack_object *key = &up.data.via.map.ptr[i].key;
		const msgpack_object *v = &up.data.via.map.ptr[i].val;
		char name[32];

		copy_str(name, sizeof(name), key);
		if (!strcmp(name, "sensor_id"))
			copy_str(r->sensor_id, sizeof(r->sensor_id), v);
		else if (!strcmp(name, "city"))
			copy_str(r->city, sizeof(r->city), v);
		else if (!strcmp(name, "timestamp"))
			copy_str(r->ts, sizeof(r->ts), v);
		for (k = 0; k < 4; k++)
			if (!strcmp(name, names[k]))
				r->m[k] = v->via.f64;
	}
	msgpack_unpacked_destroy(&up);
}

/* Every record of sensor_data, sorted by partition and offset. */
static struct rec *
read_all(size_t *n)
{
	struct logd_client *c = connect_ok();
	struct logd_consumer *cs = NULL;
	struct logd_metadata *m = NULL;
	struct logd_consumer_record cr;
	const char *names[1] = { "sensor_data" };
	struct rec *out;
	size_t total = 0, got = 0;
	int32_t i;

	ck_assert_int_eq(logd_client_metadata(c, names, 1, &m), 0);
	for (i = 0; i < m->topics[0].partition_count; i++)
		total += (size_t)m->topics[0].partitions[i].end_offset;
	logd_metadata_free(m);
	out = calloc(total + 1, sizeof(*out));
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(logd_consumer_new(c, NULL, &cs), 0);
	for (i = 0; i < 64; i++)
		if (logd_consumer_assign(cs, "sensor_data", i,
		    LOGD_OFFSET_EARLIEST) < 0)
			break;
	while (got < total) {
		ck_assert_int_eq(logd_consumer_poll(cs, 5000, &cr), 1);
		decode(&cr, &out[got++]);
	}
	logd_consumer_close(cs);
	logd_client_close(c);
	*n = total;
	return out;
}

static int
rec_cmp(const void *pa, const void *pb)
{
	const struct rec *a = pa, *b = pb;

	if (a->partition != b->partition)
		return a->partition < b->partition ? -1 : 1;
	return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* ---- The database ---- */

static sqlite3 *
db_open(const char *path)
{
	sqlite3 *h = NULL;

	ck_assert_int_eq(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	return h;
}

static int64_t
db_int(sqlite3 *h, const char *sql)
{
	sqlite3_stmt *s = NULL;
	int64_t v;

	ck_assert_msg(sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(h));
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static int64_t
q(const char *db, const char *sql)
{
	sqlite3 *h = db_open(db);
	int64_t v = db_int(h, sql);

	sqlite3_close(h);
	return v;
}

/* Recomputes the hourly aggregates from readings; they must match. */
#define RECOMPUTE(m) \
    "min(" m ") AS " m "_min, max(" m ") AS " m "_max, sum(" m ") AS " \
    m "_sum, avg(" m ") AS " m "_mean"
#define DIFFER(m) \
    " OR h." m "_min IS NOT r." m "_min OR h." m "_max IS NOT r." m "_max" \
    " OR abs(h." m "_sum - r." m "_sum) > 1e-9 * max(1, abs(r." m "_sum))" \
    " OR abs(h." m "_mean - r." m "_mean) > 1e-9 * max(1, abs(r." m \
    "_mean))"

static void
check_aggregates(const char *db, int64_t want_rows)
{
#define RECOMPUTE_ALL \
	    "WITH r AS (SELECT strftime('%Y-%m-%dT%H:00:00.000Z', " \
	    "ts_ms / 1000, 'unixepoch') AS hour, sensor_id, city, " \
	    "count(*) AS n, " RECOMPUTE("temperature") ", " \
	    RECOMPUTE("humidity") ", " RECOMPUTE("wind_speed") ", " \
	    RECOMPUTE("pressure") " FROM readings GROUP BY 1, 2, 3) "
	sqlite3 *h = db_open(db);
	int64_t groups, bad;

	ck_assert_int_eq(db_int(h, "SELECT count(*) FROM readings"),
	    want_rows);
	ck_assert_int_eq(db_int(h, "SELECT coalesce(sum(n), 0) FROM hourly"),
	    want_rows);
	groups = db_int(h, "WITH r AS (SELECT DISTINCT strftime("
	    "'%Y-%m-%dT%H', ts_ms / 1000, 'unixepoch'), sensor_id, city "
	    "FROM readings) SELECT count(*) FROM r");
	ck_assert_int_eq(db_int(h, "SELECT count(*) FROM hourly"), groups);
	bad = db_int(h, RECOMPUTE_ALL "SELECT count(*) FROM r LEFT JOIN "
	    "hourly h USING (hour, sensor_id, city) WHERE h.n IS NOT r.n"
	    DIFFER("temperature") DIFFER("humidity") DIFFER("wind_speed")
	    DIFFER("pressure"));
	ck_assert_msg(bad == 0, "%" PRId64 " of %" PRId64 " hourly rows "
	    "differ from the recomputation", bad, groups);
	sqlite3_close(h);
}

/* The table holds exactly the log's records, field by field. */
static void
check_rows(const char *db)
{
	sqlite3 *h = db_open(db);
	sqlite3_stmt *s = NULL;
	struct rec *want;
	size_t n, i = 0;
	int k;

	want = read_all(&n);
	qsort(want, n, sizeof(*want), rec_cmp);
	ck_assert_int_eq(sqlite3_prepare_v2(h, "SELECT \"partition\", "
	    "\"offset\", sensor_id, city, ts, temperature, humidity, "
	    "wind_speed, pressure, topic FROM readings ORDER BY 1, 2", -1, &s,
	    NULL), SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW) {
		const struct rec *w = &want[i];

		ck_assert_msg(i < n, "more rows than records (%zu)", n);
		ck_assert_msg(sqlite3_column_int(s, 0) == w->partition &&
		    sqlite3_column_int64(s, 1) == w->offset, "row %zu is %d/%"
		    PRId64 ", the log has %d/%" PRId64, i,
		    sqlite3_column_int(s, 0), (int64_t)sqlite3_column_int64(s,
		    1), w->partition, w->offset);
		ck_assert_str_eq((const char *)sqlite3_column_text(s, 2),
		    w->sensor_id);
		ck_assert_str_eq((const char *)sqlite3_column_text(s, 3),
		    w->city);
		ck_assert_str_eq((const char *)sqlite3_column_text(s, 4),
		    w->ts);
		for (k = 0; k < 4; k++)
			ck_assert(sqlite3_column_double(s, 5 + k) == w->m[k]);
		ck_assert_str_eq((const char *)sqlite3_column_text(s, 9),
		    "sensor_data");
		i++;
	}
	ck_assert_uint_eq(i, n);
	sqlite3_finalize(s);
	sqlite3_close(h);
	free(want);
}

/* etl_offsets and the group's commit are at every partition's end. */
static void
check_offsets(const char *db, const char *group)
{
	struct logd_client *c = connect_ok();
	struct logd_metadata *m = NULL;
	struct logd_group *g = NULL;
	const char *names[1] = { "sensor_data" };
	sqlite3 *h = db_open(db);
	int32_t i;
	size_t j;

	ck_assert_int_eq(logd_client_metadata(c, names, 1, &m), 0);
	ck_assert_int_eq(logd_client_offsets_fetch(c, group, "sensor_data",
	    &g), 0);
	for (i = 0; i < m->topics[0].partition_count; i++) {
		const struct logd_partition_meta *pm =
		    &m->topics[0].partitions[i];
		char sql[200];
		int64_t off = -1;

		snprintf(sql, sizeof(sql), "SELECT next_offset FROM "
		    "etl_offsets WHERE topic = 'sensor_data' AND "
		    "\"partition\" = %d", pm->partition);
		ck_assert_int_eq(db_int(h, sql), pm->end_offset);
		for (j = 0; j < g->offset_count; j++)
			if (g->offsets[j].partition == pm->partition)
				off = g->offsets[j].offset;
		ck_assert_msg(off == pm->end_offset, "group %s partition %d: "
		    "committed %" PRId64 ", end %" PRId64, group,
		    pm->partition, off, pm->end_offset);
	}
	sqlite3_close(h);
	logd_group_free(g);
	logd_metadata_free(m);
	logd_client_close(c);
}

/* ---- Tests ---- */

START_TEST(load)
{
	char *etl[] = { (char *)tool("logetl"), "-b", T.addr, "-d",
	    (char *)tmpf("etl.db"), NULL };
	const char *db = tmpf("etl.db");
	int64_t sum_t;

	create_topic("sensor_data", 4);
	produce(3000, 1);
	run_ok(etl, tmpf("etl.out"), tmpf("etl.err"), 0);
	ck_assert_int_eq(count_in(tmpf("etl.out"),
	    "logetl: loaded 3000 readings, skipped 0"), 1);
	check_rows(db);
	check_aggregates(db, 3000);
	check_offsets(db, "etl");
	/* 30 stations, 6 readings an hour each: several hours. */
	ck_assert_int_gt(q(db, "SELECT count(DISTINCT hour) FROM hourly"), 10);
	ck_assert_int_eq(q(db, "SELECT count(*) FROM hourly WHERE n != 6 AND "
	    "hour < (SELECT max(hour) FROM hourly)"), 0);
	sum_t = q(db, "SELECT CAST(sum(temperature_sum) * 10 AS INTEGER) "
	    "FROM hourly");

	/* Again: nothing new, nothing doubled. */
	run_ok(etl, tmpf("etl2.out"), tmpf("etl2.err"), 0);
	ck_assert_int_eq(count_in(tmpf("etl2.out"),
	    "logetl: loaded 0 readings, skipped 0, 0 already loaded"), 1);
	check_aggregates(db, 3000);
	ck_assert_int_eq(q(db, "SELECT CAST(sum(temperature_sum) * 10 AS "
	    "INTEGER) FROM hourly"), sum_t);

	/* More readings: only they are loaded. */
	produce(600, 2);
	run_ok(etl, tmpf("etl3.out"), tmpf("etl3.err"), 0);
	ck_assert_int_eq(count_in(tmpf("etl3.out"),
	    "logetl: loaded 600 readings"), 1);
	check_rows(db);
	check_aggregates(db, 3600);
	check_offsets(db, "etl");
}
END_TEST

/* Readings in the table now (-1 when it has none yet). */
static int64_t
rows_now(const char *db)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *s = NULL;
	int64_t n = -1;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, "SELECT count(*) FROM readings", -1, &s,
	    NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(h);
	return n;
}

/*
 * Until the table holds want readings, or logetl ends (not reaped), or
 * 5 s; then a random moment more (up to 3 ms): a kill after this lands
 * in the middle of the load however fast the load runs, and not always
 * just after a commit.
 */
static void
wait_load(pid_t pid, const char *db, int64_t want)
{
	siginfo_t si;
	int i;

	for (i = 0; i < 2500; i++) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si,
		    WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
			return;
		if (access(db, F_OK) == 0 && rows_now(db) >= want)
			break;
		usleep(2000);
	}
	usleep((useconds_t)(rand() % 3000));
}

START_TEST(crash)
{
	char *etl[] = { (char *)tool("logetl"), "-b", T.addr, "-d",
	    (char *)tmpf("c.db"), "-z", "700", NULL };
	const char *db = tmpf("c.db");
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	int i, st, kills = 0, exits = 0, logd_killed = 0, mid = 0;
	int64_t rows = -1, rows_seen = 0;
	pid_t pid;

	fprintf(stderr, "crash: seed %u\n", seed);
	srand(seed);
	create_topic("sensor_data", 4);
	produce(50000, 3);
	for (i = 0; i < 80; i++) {
		pid = spawn(etl, tmpf("c.out"), tmpf("c.err"));
		wait_load(pid, db, rows_seen + 1 + rand() % 12000);
		if (!logd_killed && mid >= 3) {
			/* logd dies under a running logetl, which must
			 * fail cleanly; more readings come after. */
			ck_assert_int_eq(testlogd_kill9(&T), 0);
			st = wait_for(pid, 20000);
			ck_assert_msg(st == 3 || st == 0 || st == 1,
			    "logetl exited %d when logd died", st);
			ck_assert_int_eq(testlogd_restart(&T), 0);
			produce(20000, 4);
			logd_killed = 1;
			continue;
		}
		if (waitpid(pid, &st, WNOHANG) == pid) {
			exits++;
			ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			    "logetl ended with status %d", st);
			if (logd_killed)
				break;
			continue;
		}
		kill(pid, SIGKILL);
		ck_assert_int_eq(wait_for(pid, 5000), 128 + SIGKILL);
		kills++;
		/* Killed in the middle of the load (not before the
		 * database exists, not after the end)? */
		if (access(db, F_OK) == 0 && (rows = rows_now(db)) > 0 &&
		    rows < (logd_killed ? 70000 : 50000))
			mid++;
		if (rows > rows_seen)
			rows_seen = rows;
	}
	fprintf(stderr, "crash: %d runs killed (%d in the middle of the "
	    "load), %d finished\n", kills, mid, exits);
	ck_assert_int_ge(mid, 3);
	ck_assert(logd_killed);
	ck_assert_int_gt(q(db, "SELECT count(*) FROM readings"), 0);
	/* Then to the end, undisturbed. */
	run_ok(etl, tmpf("c.out"), tmpf("c.err"), 0);
	check_rows(db);
	check_aggregates(db, 70000);
	check_offsets(db, "etl");
	/* A last run finds nothing to do. */
	run_ok(etl, tmpf("c2.out"), tmpf("c2.err"), 0);
	ck_assert_int_eq(count_in(tmpf("c2.out"), "loaded 0 readings"), 1);
	check_aggregates(db, 70000);
}
END_TEST

/* Waits until the table has n readings (up to 20 s). */
static void
wait_rows(const char *db, int64_t n)
{
	int64_t got = -1;
	int i;

	for (i = 0; i < 400; i++) {
		if (access(db, F_OK) == 0 && (got = rows_now(db)) == n)
			return;
		usleep(50000);
	}
	ck_abort_msg("%s: %" PRId64 " readings, want %" PRId64, db, got, n);
}

START_TEST(follow)
{
	char *etl[] = { (char *)tool("logetl"), "-b", T.addr, "-d",
	    (char *)tmpf("f.db"), "-f", NULL };
	const char *db = tmpf("f.db");
	pid_t pid;

	create_topic("sensor_data", 3);
	pid = spawn(etl, tmpf("f.out"), tmpf("f.err"));
	produce(2000, 5);
	wait_rows(db, 2000);
	ck_assert_int_eq(testlogd_kill9(&T), 0);
	usleep(300000);
	ck_assert_int_eq(testlogd_restart(&T), 0);
	produce(1000, 6);
	wait_rows(db, 3000);
	kill(pid, SIGTERM);
	ck_assert_int_eq(wait_for(pid, 10000), 0);
	ck_assert_int_eq(count_in(tmpf("f.err"), "reconnected to"), 1);
	ck_assert_int_eq(count_in(tmpf("f.out"), "loaded 3000 readings"), 1);
	check_rows(db);
	check_aggregates(db, 3000);
	check_offsets(db, "etl");
}
END_TEST

START_TEST(bad)
{
	char *etl[] = { (char *)tool("logetl"), "-b", T.addr, "-d",
	    (char *)tmpf("b.db"), NULL };
	static const struct {
		const char *value;
		size_t len;
		const char *why;
	} recs[] = {
		{ "plain text", 10, "not one msgpack value" },
		{ "\x93\x01\x02\x03", 4, "not a msgpack map" },
		{ "\x81\xa9sensor_id\xa4ws_x", 16, "no city string" },
		{ "\x82\xa9sensor_id\xa4ws_x\xa4""city\xa1X", 23,
		    "no finite number temperature" },
		{ "\x83\xa9sensor_id\xa4ws_x\xa4""city\xa1X"
		    "\xa9timestamp\xa9yesterday", 43,
		    "timestamp is not an ISO 8601 UTC time" },
		{ "\x85\xa9sensor_id\xa4ws_x\xa4""city\xa1X"
		    "\xabtemperature\xcb\x7f\xf8\0\0\0\0\0\0"
		    "\xa8humidity\x10\xaawind_speed\x01", 66,
		    "no finite number temperature" },
		{ "also text", 9, "not one msgpack value" },
		{ "\x85\xa9sensor_id", 11, "not one msgpack value" },
		{ NULL, 0, "null or empty value" },
	};
	struct logd_client *c;
	struct logd_producer *pr;
	size_t i;
	char line[200];

	create_topic("sensor_data", 2);
	produce(10, 7);
	c = connect_ok();
	ck_assert_int_eq(logd_producer_new(c, NULL, &pr), 0);
	for (i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		struct logd_message m = { .topic = "sensor_data",
		    .partition = (int32_t)(i % 2), .value = recs[i].value,
		    .value_len = recs[i].len };

		ck_assert_int_eq(logd_producer_send(pr, &m), 0);
	}
	{
		/* A reading in other encodings: ints, float32, a nested
		 * field to ignore, no timestamp (the record's is used). */
		static const char odd[] = "\x87\xa9sensor_id\xa4ws_y"
		    "\xa4""city\xa1Y\xa5""extra\x92\x01\x81\xa1""a\xc0"
		    "\xabtemperature\xfd\xa8humidity\xcc\xc8"
		    "\xaawind_speed\xca\x3f\xc0\x00\x00"
		    "\xa8pressure\xcd\x03\xf5";
		struct logd_message m = { .topic = "sensor_data",
		    .partition = 1, .value = odd,
		    .value_len = sizeof(odd) - 1 };

		ck_assert_uint_eq(sizeof(odd) - 1, 87);
		ck_assert_int_eq(logd_producer_send(pr, &m), 0);
	}
	ck_assert_int_eq(logd_producer_close(pr), 0);
	logd_client_close(c);
	produce(10, 8);

	run_ok(etl, tmpf("b.out"), tmpf("b.err"), 0);
	ck_assert_int_eq(count_in(tmpf("b.out"),
	    "loaded 21 readings, skipped 9"), 1);
	/* Once per kind, with where it is. */
	for (i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		snprintf(line, sizeof(line), "skipped: %s (", recs[i].why);
		ck_assert_msg(count_in(tmpf("b.err"), line) == 1,
		    "\"%s\" reported %d times", recs[i].why,
		    count_in(tmpf("b.err"), line));
	}
	ck_assert_int_eq(count_in(tmpf("b.err"), "warning: sensor_data/"),
	    6);
	ck_assert_int_eq(q(tmpf("b.db"), "SELECT count(*) FROM etl_rejects"),
	    9);
	ck_assert_int_eq(q(tmpf("b.db"), "SELECT count(*) FROM readings "
	    "WHERE sensor_id = 'ws_y' AND city = 'Y' AND temperature = -3 "
	    "AND humidity = 200 AND wind_speed = 1.5 AND pressure = 1013 "
	    "AND lat IS NULL AND ts LIKE '20__-__-__T__:__:__.___Z' AND "
	    "ts_ms > 1700000000000"), 1);
	check_aggregates(tmpf("b.db"), 21);
	check_offsets(tmpf("b.db"), "etl");
	/* The bad records do not come back. */
	run_ok(etl, tmpf("b2.out"), tmpf("b2.err"), 0);
	ck_assert_int_eq(count_in(tmpf("b2.out"),
	    "loaded 0 readings, skipped 0"), 1);
	ck_assert_int_eq(count_in(tmpf("b2.err"), "warning"), 0);
}
END_TEST

/* The start and end offsets of sensor_data/0. */
static void
bounds(int64_t *start, int64_t *end)
{
	struct logd_client *c = connect_ok();

	ck_assert_int_eq(logd_client_list_offset(c, "sensor_data", 0,
	    LOGD_OFFSET_EARLIEST, start), 0);
	ck_assert_int_eq(logd_client_list_offset(c, "sensor_data", 0,
	    LOGD_OFFSET_LATEST, end), 0);
	logd_client_close(c);
}

/* Waits until retention has moved the log start past min (10 s). */
static void
wait_start_past(int64_t min, int64_t *start, int64_t *end)
{
	int64_t last = -1;
	int i, same = 0;

	for (i = 0; i < 200; i++) {
		bounds(start, end);
		/* Past min and no longer moving. */
		same = *start > min && *start == last ? same + 1 : 0;
		if (same >= 3)
			return;
		last = *start;
		usleep(50000);
	}
	ck_abort_msg("retention did not move the start past %" PRId64
	    " (start %" PRId64 ")", min, *start);
}

/* Records deleted by retention before they were loaded: logetl warns and
 * goes on from the log start. */
START_TEST(retention)
{
	static const struct logd_kv cfg[] = {
		{ "segment.bytes", "524288" }, { "retention.bytes", "524288" },
	};
	char *etl[] = { (char *)tool("logetl"), "-b", T.addr, "-d",
	    (char *)tmpf("r.db"), NULL };
	const char *db = tmpf("r.db");
	struct logd_client *c;
	int64_t s1, e1, s2, e2;

	c = connect_ok();
	ck_assert_int_eq(logd_client_topic_create(c, "sensor_data", 1, cfg, 2),
	    0);
	logd_client_close(c);
	produce(8000, 9);
	wait_start_past(0, &s1, &e1);
	run_ok(etl, tmpf("r.out"), tmpf("r.err"), 0);
	ck_assert_int_eq(q(db, "SELECT count(*) FROM readings"), e1 - s1);
	ck_assert_int_eq(q(db, "SELECT min(\"offset\") FROM readings"), s1);
	produce(12000, 10);
	wait_start_past(e1, &s2, &e2);
	run_ok(etl, tmpf("r2.out"), tmpf("r2.err"), 0);
	ck_assert_int_eq(count_in(tmpf("r2.err"), "were deleted (retention) "
	    "before they were loaded"), 1);
	check_aggregates(db, (e1 - s1) + (e2 - s2));
	check_offsets(db, "etl");
}
END_TEST

START_TEST(usage)
{
	static const char *const opts[] = { "-b,", "-d,", "-f,", "-g,",
	    "-h,", "-q,", "-t,", "-V,", "-z," };
	const char *db = tmpf("u.db");
	char *badopt[] = { (char *)tool("logetl"), "-x", NULL };
	char *badn[] = { (char *)tool("logetl"), "-z", "0", NULL };
	char *extra[] = { (char *)tool("logetl"), "extra", NULL };
	char *help[] = { (char *)tool("logetl"), "--help", NULL };
	char *version[] = { (char *)tool("logetl"), "-V", NULL };
	char *nobroker[] = { (char *)tool("logetl"), "-b", "127.0.0.1:1",
	    "-d", (char *)db, NULL };
	char *notopic[] = { (char *)tool("logetl"), "-b", T.addr, "-d",
	    (char *)db, "-t", "nosuch", NULL };
	struct stat sb;
	size_t i;

	run_ok(badopt, NULL, tmpf("u1.err"), 2);
	ck_assert_int_eq(count_in(tmpf("u1.err"), "usage: logetl"), 1);
	run_ok(badn, NULL, tmpf("u2.err"), 2);
	ck_assert_int_eq(count_in(tmpf("u2.err"), "bad value for -z"), 1);
	run_ok(extra, NULL, tmpf("u3.err"), 2);
	run_ok(help, tmpf("h.out"), NULL, 0);
	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		ck_assert_msg(count_in(tmpf("h.out"), opts[i]) == 1,
		    "--help does not list %s", opts[i]);
	run_ok(version, tmpf("v.out"), NULL, 0);
	ck_assert_int_eq(count_in(tmpf("v.out"), "logetl "
	    LOGD_VERSION_STRING "\n"), 1);
	run_ok(nobroker, NULL, tmpf("u4.err"), 3);
	ck_assert_int_eq(count_in(tmpf("u4.err"), "cannot connect to "
	    "127.0.0.1:1"), 1);
	ck_assert_int_ne(stat(db, &sb), 0);
	run_ok(notopic, NULL, tmpf("u5.err"), 1);
	ck_assert_int_eq(count_in(tmpf("u5.err"), "topic nosuch does not "
	    "exist"), 1);
	ck_assert_int_ne(stat(db, &sb), 0);
}
END_TEST

static Suite *
etl_suite(void)
{
	Suite *s = suite_create("etl");
	struct {
		const char *name;
		const TTest *fn;
		void (*setup)(void);
	} t[] = {
		{ "load", load, NULL },
		{ "crash", crash, NULL },
		{ "follow", follow, NULL },
		{ "bad", bad, NULL },
		{ "retention", retention, setup_retention },
		{ "usage", usage, NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TCase *tc = tcase_create(t[i].name);

		tcase_add_checked_fixture(tc, t[i].setup ? t[i].setup : setup,
		    teardown);
		tcase_set_timeout(tc, 90);
		tcase_add_test(tc, t[i].fn);
		suite_add_tcase(s, tc);
	}
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(etl_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
