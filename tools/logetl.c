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
 * Speed: prepared statements, one transaction per up to -z records (or
 * one second), the aggregates of a transaction gathered in a hash table
 * and written once per key at its end, a msgpack reader that allocates
 * nothing (logetl_read.c).
 *
 * Batch mode (default) reads up to the end offsets found at start, then
 * exits; -f follows the topic, reconnecting with backoff when logd goes
 * away.  A record that is not a valid reading is recorded in
 * etl_rejects, counted, reported on stderr the first time each kind
 * occurs, and skipped.
 *
 * This file has the options, the broker side and the load loop;
 * logetl_read.c decodes readings, logetl_db.c is the SQLite side
 * (logetl.h between them).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logetl.h"

#define ROWS_DEFAULT 50000      /* records per transaction at most */
#define COMMIT_MS 1000          /* and a transaction lasts this long */
#define IDLE_MS 2000            /* batch mode: a wait this long with no
                                   record means nothing more is there */
#define FOLLOW_MS 500           /* follow mode: first wait of a batch */
#define IDLE_ROUNDS 3           /* then the rest is taken for a gap */
#define NEXT_MS 100             /* later waits inside a transaction */
#define FETCH_BYTES (4u << 20)  /* per fetch request */
#define BACKOFF_MAX_MS 2000

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
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
		struct part *p = etl_part_find(a, t->partitions[i].partition);

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
	if ((r = etl_db_load_offsets(a)) < 0)
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
			if (etl_txn_begin(a) < 0)
				return ETL_EDB;
			deadline = tool_mono_ns() / 1000000 + COMMIT_MS;
		}
		(*n)++;
		a->txn_records++;
		r = etl_load(a, &cr);
		if (r < 0) {
			etl_txn_rollback(a);
			return r;
		}
		{
			struct part *p = etl_part_find(a, cr.partition);

			if (p == NULL) {
				etl_txn_rollback(a);
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
	r = etl_txn_commit(a);
	if (r < 0) {
		etl_txn_rollback(a);
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
	    "[-t topic] [-z rows]\n");
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
	    "  -q, --quiet            no summary line\n"
	    "  -t, --topic TOPIC      topic of readings (default "
	    "sensor_data)\n"
	    "  -V, --version          print the version and exit\n"
	    "  -z, --batch N          batch: records per transaction at most "
	    "(default %d)\n",
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
		{ "batch", required_argument, NULL, 'z' },
		{ "rows", required_argument, NULL, 'z' },   /* old name */
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
	while ((ch = getopt_long(argc, argv, "b:d:fg:hqt:Vz:", longopts,
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
		case 'z':
			if (tool_parse_i64(optarg, 1, 10000000, &o->rows) < 0)
				return tool_usage_err("bad value for -z: "
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
	if (etl_db_open(a) < 0)
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
	etl_txn_rollback(a);
	detach(a);
	if (a->db != NULL)
		etl_db_close(a);    /* checkpoints the WAL: counted in the time */
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
