/*
 * torture.c - crash torture: kill logd at random moments under load and
 * check that nothing it promised is lost.
 *
 *     tests/torture [--cycles N] [--power-loss | --plain] [--seed S] [-v]
 *
 * One logd (tests/testlogd.h) serves topic "torture" with 2 partitions and
 * 64 KiB segments, so segments roll often.  Each cycle:
 *
 *   load     two producer threads (client library, acks=all, one client
 *            each) send records whose value is a unique id (cycle,
 *            producer, sequence), in batches of up to 1-32 KiB (picked
 *            per cycle: the client's 256 KiB default would not fit a
 *            64 KiB segment and be refused); a consumer thread in group
 *            "torture" reads from its committed offsets, checks that
 *            offsets come dense and increasing, and commits every 100
 *            records;
 *   kill     after a random 10-400 ms, SIGKILL;
 *   loss     in power-loss cycles, unsynced data is then discarded (see
 *            below);
 *   restart  logd recovers; in about one cycle in eight it is killed
 *            again 0-30 ms after starting (during recovery) and
 *            restarted once more;
 *   check    every record acknowledged this cycle is at its acknowledged
 *            offset, exactly once (no id appears twice in the log);
 *            batches are contiguous and their offsets dense; records
 *            below the durable watermark are unchanged (a sample of
 *            older acknowledged records is fetched again); the group's
 *            committed offsets did not go backwards from the last commit
 *            the broker acknowledged; every segment file passes
 *            logd_segment_verify() (what `logctl verify` runs) with no
 *            bad byte and a consistent index.
 *   end      logd is stopped cleanly; `logctl verify` itself must pass;
 *            logd starts again and everything is read back and checked.
 *
 * Power-loss model.  A SIGKILL keeps the page cache, so it loses nothing
 * written.  A power cut loses what was not synced.  logd syncs before it
 * acknowledges an acks=all produce, and a group commit covers everything
 * appended before it, so in each partition every offset up to the last
 * acknowledged one is promised durable; so is everything below the
 * recovery-point file, which logd writes only after syncing.  After the
 * kill, for each partition, the bytes past the end of the batch holding
 * the highest durable offset are zeroed from a random point on (or the
 * file is cut there), later segments are zeroed from a random point or
 * removed, and the active segment's .idx/.tix (which logd does not sync
 * before acknowledging) lose a random tail.  Acknowledged data must
 * survive that; what was lost must not come back.
 *
 * In a power-loss run a consumer may have read and committed records
 * that were appended but not yet synced (fetch serves up to the end of
 * the log, as Kafka with acks=1 does).  Such a commit can end up past
 * the end of the recovered log; that is counted and printed
 * ("commit past end"), not failed: it loses no acknowledged record.
 *
 * Exit status 0 when every cycle passed.  With no arguments (as `make
 * check` runs it) 50 cycles (20 under ASan), each randomly plain or
 * power-loss.
 * --self-test proves the checks can fail: its power cuts also destroy
 * the last byte of the newest acknowledged batch, which must be reported
 * as lost acknowledged records (exit status 1).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "logd.h"
#include "testlogd.h"

#define TOPIC "torture"
#define GROUP "torture"
#define NPART 2
#define NPROD 2
#define MAXSEQ 65536              /* records per producer per cycle, at most */
#define MAGIC 0x54525452u         /* "TRTR" */
#define VALUE_LEN 16

/*
 * Cycles with no --cycles (make check): 50, about 35 s on two idle cores
 * (1.4 s a cycle measured on two cores shared with a load of 10); 20 in a
 * sanitizer build, where a cycle costs over twice the CPU.
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TORTURE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(TORTURE_ASAN)
#define DEFAULT_CYCLES 20
#else
#define DEFAULT_CYCLES 50
#endif

enum mode { MODE_MIXED, MODE_PLAIN, MODE_POWER };

struct ack {
	int64_t offset;
	uint64_t id;
};

struct acks {
	struct ack *a;
	size_t n, cap;
};

struct producer {
	pthread_t th;
	int idx;
	int cycle;
	size_t batch_bytes;
	struct acks acked[NPART];
	uint64_t sent;
	int err;
};

struct consumer {
	pthread_t th;
	int64_t committed[NPART];  /* last commit the broker acknowledged */
	uint64_t records;
	uint64_t commits;
	int err;                   /* what stopped it */
	int gaps;                  /* offsets not dense: a failure */
};

/* What the checker knows, across cycles. */
static struct {
	struct testlogd t;
	enum mode mode;
	unsigned seed;
	int verbose;
	int self_test;             /* --self-test: lose acked bytes */
	int cycles;
	volatile int stop;
	/* per partition: the id stored at each offset read so far */
	uint64_t *ids[NPART];
	size_t nids[NPART], capids[NPART];
	int64_t durable[NPART];    /* offsets below are promised kept */
	int64_t last_commit[NPART];/* highest commit acknowledged or seen */
	uint8_t *seen;             /* bitmap of ids present in the log */
	size_t seen_bits;
	struct acks sample[NPART]; /* acknowledged records, for re-fetch */
	/* totals */
	uint64_t acked, produced, consumed, commits, kills, recovery_kills;
	uint64_t power_cuts, zeroed_bytes, commit_past_end, sampled;
	int failures;
} T;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
	va_list ap;

	if (++T.failures > 20)
		return;         /* the first ones say enough */
	va_start(ap, fmt);
	fprintf(stderr, "torture: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "torture: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	testlogd_stop(&T.t);
	exit(1);
}

static unsigned rnd(unsigned n)
{
	return n ? (unsigned)rand() % n : 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void acks_push(struct acks *a, int64_t off, uint64_t id)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 1024;
		a->a = realloc(a->a, a->cap * sizeof(*a->a));
		if (a->a == NULL)
			die("out of memory");
	}
	a->a[a->n].offset = off;
	a->a[a->n].id = id;
	a->n++;
}

/* ---- ids: (cycle, producer, seq) in one u64; one bit each ---- */

static uint64_t make_id(int cycle, int prod, uint32_t seq)
{
	return ((uint64_t)cycle * NPROD + (uint64_t)prod) * MAXSEQ + seq;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static int seen_test_set(uint64_t id, int set)
{
	uint8_t bit = (uint8_t)(1u << (id & 7));
	int was;

	if (id >= T.seen_bits) {
		size_t nb = T.seen_bits ? T.seen_bits : 1 << 20;

		while (nb <= id)
			nb *= 2;
		T.seen = realloc(T.seen, nb / 8);
		if (T.seen == NULL)
			die("out of memory");
		memset(T.seen + T.seen_bits / 8, 0, (nb - T.seen_bits) / 8);
		T.seen_bits = nb;
	}
	was = (T.seen[id >> 3] & bit) != 0;
	if (set)
		T.seen[id >> 3] |= bit;
	else
		T.seen[id >> 3] &= (uint8_t)~bit;
	return was;
}

/* ---- load: producers and the consumer ---- */

static void on_delivery(void *arg, const struct logd_delivery *d)
{
	struct producer *p = arg;

	if (d->error == 0 && d->offset >= 0 && d->partition >= 0 &&
	    d->partition < NPART)
		acks_push(&p->acked[d->partition], d->offset,
		    (uint64_t)(uintptr_t)d->opaque);
}

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	struct logd_producer_options po;
	struct logd_client *c = NULL;
	struct logd_producer *pr = NULL;
	uint8_t value[VALUE_LEN];
	uint32_t seq;
	int rc;

	rc = logd_client_open(T.t.addr, NULL, &c);
	if (rc != 0) {
		p->err = rc;
		return NULL;
	}
	logd_producer_options_default(&po);
	po.acks = LOGD_ACKS_ALL;
	po.batch_bytes = p->batch_bytes;
	po.on_delivery = on_delivery;
	po.arg = p;
	rc = logd_producer_new(c, &po, &pr);
	if (rc != 0) {
		p->err = rc;
		logd_client_close(c);
		return NULL;
	}
	for (seq = 0; seq < MAXSEQ && !T.stop; seq++) {
		uint64_t id = make_id(p->cycle, p->idx, seq);
		struct logd_message m = {
			.topic = TOPIC,
			.partition = (int32_t)((seq + (uint32_t)p->idx) % NPART),
			.value = value,
			.value_len = sizeof(value),
			.opaque = (void *)(uintptr_t)id,
		};

		put_be32(value, MAGIC);
		put_be32(value + 4, (uint32_t)(id >> 32));
		put_be32(value + 8, (uint32_t)id);
		put_be32(value + 12, seq);
		rc = logd_producer_send(pr, &m);
		if (rc != 0) {
			p->err = rc;
			break;
		}
		p->sent++;
		/* A little pacing keeps batches mixed in size. */
		if (seq % 64 == 63)
			logd_producer_poll(pr, 1);
	}
	rc = logd_producer_close(pr);
	if (p->err == 0)
		p->err = rc;
	logd_client_close(c);
	return NULL;
}

static void *consumer_main(void *arg)
{
	struct consumer *cs = arg;
	struct logd_consumer_options co = { .group = GROUP, .max_wait_ms = 50 };
	struct logd_consumer_record r;
	struct logd_client *c = NULL;
	struct logd_consumer *con = NULL;
	int64_t expect[NPART];
	int rc, i;

	for (i = 0; i < NPART; i++) {
		expect[i] = -1;
		cs->committed[i] = -1;
	}
	rc = logd_client_open(T.t.addr, NULL, &c);
	if (rc != 0) {
		cs->err = rc;
		return NULL;
	}
	rc = logd_consumer_new(c, &co, &con);
	if (rc == 0)
		rc = logd_consumer_assign(con, TOPIC, LOGD_PARTITION_ANY,
		    LOGD_OFFSET_COMMITTED);
	while (rc == 0 && !T.stop) {
		rc = logd_consumer_poll(con, 50, &r);
		if (rc <= 0)
			continue;
		rc = 0;
		i = r.partition;
		if (i < 0 || i >= NPART || r.rec.value_len != VALUE_LEN ||
		    get_be32(r.rec.value) != MAGIC) {
			cs->gaps++;
			fprintf(stderr, "torture: consumer: a record that no "
			    "producer wrote at %d/%" PRId64 "\n", i,
			    r.rec.offset);
			break;
		}
		if (expect[i] >= 0 && r.rec.offset != expect[i]) {
			cs->gaps++;
			fprintf(stderr, "torture: consumer: partition %d "
			    "offset %" PRId64 " after %" PRId64 "\n", i,
			    r.rec.offset, expect[i] - 1);
		}
		expect[i] = r.rec.offset + 1;
		if (++cs->records % 100 == 0) {
			int64_t pos[NPART];

			for (i = 0; i < NPART; i++)
				if (logd_consumer_position(con, TOPIC, i,
				    &pos[i]) != 0)
					pos[i] = -1;
			rc = logd_consumer_commit(con);
			if (rc == 0) {
				cs->commits++;
				for (i = 0; i < NPART; i++)
					if (pos[i] >= 0)
						cs->committed[i] = pos[i];
			}
		}
	}
	cs->err = rc;
	logd_consumer_close(con);
	logd_client_close(c);
	return NULL;
}

/* ---- power loss ---- */

static int log_filter(const struct dirent *d)
{
	size_t l = strlen(d->d_name);

	return l == 24 && strcmp(d->d_name + 20, ".log") == 0;
}

static int64_t read_rp(const char *dir)
{
	char path[700], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/recovery-point", dir);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

struct walk_end {
	int64_t want;              /* offset that must stay */
	uint64_t pos;              /* end of the batch holding it */
	uint64_t end;              /* end of the valid batches */
};

static int walk_fn(void *arg, const uint8_t *batch, size_t len, int check,
    const struct logd_batch_info *info)
{
	struct walk_end *w = arg;

	if (check != 0)
		return 1;
	w->end += len;
	if (info->base_offset <= w->want)
		w->pos = w->end;
	return 0;
}

/* Zeroes (or, with cut, truncates) path from byte from to its end, or to
 * limit when that comes first (0: no limit).  Returns the bytes lost. */
static uint64_t zero_from(const char *path, uint64_t from, uint64_t limit,
    int cut)
{
	static const uint8_t zeros[65536];
	struct stat st;
	uint64_t left = 0, size;
	int fd = open(path, O_WRONLY);

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > from) {
		size = (uint64_t)st.st_size;
		if (limit && limit < size)
			size = limit;
		left = size > from ? size - from : 0;
		if (cut) {
			if (ftruncate(fd, (off_t)from) < 0)
				die("ftruncate %s: %s", path, strerror(errno));
		} else {
			off_t at = (off_t)from;
			uint64_t done = 0;

			while (done < left) {
				size_t c = left - done > sizeof(zeros) ?
				    sizeof(zeros) : (size_t)(left - done);

				if (pwrite(fd, zeros, c, at) != (ssize_t)c)
					die("pwrite %s: %s", path,
					    strerror(errno));
				at += (off_t)c;
				done += c;
			}
		}
	}
	close(fd);
	return left;
}

/*
 * Drops a random tail of an index file (entry granular).  Index files
 * are preallocated (10 MiB); a 64 KiB segment fills its first entries
 * only, so the loss stops at INDEX_SPAN.
 */
#define INDEX_SPAN 65536
static void index_loss(const char *log_path, const char *ext, size_t entry)
{
	char path[600];

	snprintf(path, sizeof(path), "%.*s.%s", (int)strlen(log_path) - 4,
	    log_path, ext);
	(void)zero_from(path, (uint64_t)rnd(64) * entry, INDEX_SPAN, 0);
}

static void power_cut_partition(int part)
{
	char dir[600], path[900];
	struct dirent **list;
	int64_t durable = T.durable[part], rp;
	int i, n, hold = -1, gone;
	struct walk_end w;

	snprintf(dir, sizeof(dir), "%s/topics/%s-%d", T.t.datadir, TOPIC, part);
	rp = read_rp(dir);
	if (rp > durable)
		durable = rp;
	n = scandir(dir, &list, log_filter, alphasort);
	if (n < 0)
		die("scandir %s: %s", dir, strerror(errno));
	/* The segment holding offset durable - 1 keeps it and before. */
	for (i = 0; i < n; i++)
		if (durable > 0 && strtoll(list[i]->d_name, NULL, 10) <=
		    durable - 1)
			hold = i;
	/* Sometimes the newest segments' creation never reached the disk. */
	gone = rnd(8) == 0 ? hold + 1 + (int)rnd((unsigned)(n - hold)) : n;
	for (i = hold < 0 ? 0 : hold; i < n; i++) {
		uint64_t keep, at;

		snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
		memset(&w, 0, sizeof(w));
		w.want = durable - 1;
		(void)logd_segment_walk(path, walk_fn, &w);
		if (i >= gone) {
			unlink(path);
			snprintf(path + strlen(path) - 4, 5, ".idx");
			unlink(path);
			snprintf(path + strlen(path) - 4, 5, ".tix");
			unlink(path);
			T.zeroed_bytes += w.end;
			continue;
		}
		/* Lose the bytes from a random point past what is kept. */
		keep = i == hold ? w.pos : 0;
		at = keep + rnd((unsigned)(w.end - keep + 1));
		if (T.self_test && i == hold && keep > 0)
			at = keep - 1;  /* break the promise on purpose */
		T.zeroed_bytes += w.end > at ? w.end - at : 0;
		(void)zero_from(path, at, 0, rnd(4) == 0);
		/* The active segment's indexes are not synced per ack. */
		if (i == n - 1 || i == hold) {
			index_loss(path, "idx", 8);
			index_loss(path, "tix", 12);
		}
	}
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* ---- checks ---- */

static void ids_truncate(int part, size_t len)
{
	size_t i;

	for (i = len; i < T.nids[part]; i++)
		seen_test_set(T.ids[part][i], 0);
	if (T.nids[part] > len)
		T.nids[part] = len;
}

static void ids_push(int part, uint64_t id)
{
	if (T.nids[part] == T.capids[part]) {
		T.capids[part] = T.capids[part] ? T.capids[part] * 2 : 4096;
		T.ids[part] = realloc(T.ids[part],
		    T.capids[part] * sizeof(uint64_t));
		if (T.ids[part] == NULL)
			die("out of memory");
	}
	T.ids[part][T.nids[part]++] = id;
}

/*
 * Reads partition part from offset from to its end, checking batches
 * and offsets, and records the ids from `from` on.  Returns the end.
 */
static int64_t read_partition(struct logd_client *c, int part, int64_t from)
{
	int64_t off = from, end = -1;
	int rc;

	for (;;) {
		struct logd_fetch *f = NULL;
		size_t pos = 0;

		rc = logd_client_fetch(c, TOPIC, part, off, 1 << 20, 0, &f);
		if (rc != 0) {
			fail("fetch %d at %" PRId64 ": %s (%s)", part, off,
			    logd_strerror(rc), logd_client_errmsg(c));
			return -1;
		}
		end = f->end_offset;
		if (f->start_offset != 0)
			fail("partition %d starts at %" PRId64 ", not 0",
			    part, f->start_offset);
		if (f->len == 0) {
			logd_fetch_free(f);
			if (off != end)
				fail("partition %d: empty read at %" PRId64
				    " before the end %" PRId64, part, off,
				    end);
			return end;
		}
		while (pos < f->len) {
			struct logd_batch_info info;
			struct logd_batch_iter it;
			struct logd_record r;

			rc = logd_batch_check(f->records + pos, f->len - pos,
			    &info);
			if (rc != 0) {
				fail("partition %d: bad batch after offset %"
				    PRId64 ": %s", part, off,
				    logd_strerror(rc));
				logd_fetch_free(f);
				return -1;
			}
			if (info.base_offset > off ||
			    (pos > 0 && info.base_offset != off))
				fail("partition %d: batch %" PRId64 "..%"
				    PRId64 " where offset %" PRId64
				    " was due (offsets not dense)", part,
				    info.base_offset, info.last_offset, off);
			rc = logd_batch_iter_init(&it, f->records + pos,
			    info.size);
			while (rc == 0 && logd_batch_iter_next(&it, &r) == 1) {
				uint64_t id;

				if (r.offset < off)
					continue;
				if (r.offset != off)
					fail("partition %d: record %" PRId64
					    " where %" PRId64 " was due", part,
					    r.offset, off);
				if (r.value_len != VALUE_LEN ||
				    get_be32(r.value) != MAGIC) {
					fail("partition %d offset %" PRId64
					    ": not a torture record", part,
					    r.offset);
					id = UINT64_MAX;
				} else {
					const uint8_t *v = r.value;

					id = (uint64_t)get_be32(v + 4) << 32 |
					    get_be32(v + 8);
					if (seen_test_set(id, 1))
						fail("record id %" PRIu64
						    " twice: again at "
						    "%d/%" PRId64, id, part,
						    r.offset);
				}
				ids_push(part, id);
				off = r.offset + 1;
			}
			pos += info.size;
		}
		logd_fetch_free(f);
		if (off >= end)
			return end;
	}
}

/* One record fetched again by offset: the id stored there. */
static int fetch_one(struct logd_client *c, int part, int64_t off,
    uint64_t *id)
{
	struct logd_fetch *f = NULL;
	struct logd_batch_iter it;
	struct logd_record r;
	struct logd_batch_info info;
	size_t pos = 0;
	int rc;

	rc = logd_client_fetch(c, TOPIC, part, off, 1, 0, &f);
	if (rc != 0)
		return rc;
	rc = -ENOENT;
	while (pos < f->len && logd_batch_check(f->records + pos,
	    f->len - pos, &info) == 0) {
		if (logd_batch_iter_init(&it, f->records + pos, info.size) == 0)
			while (logd_batch_iter_next(&it, &r) == 1)
				if (r.offset == off && r.value_len ==
				    VALUE_LEN) {
					const uint8_t *v = r.value;

					*id = (uint64_t)get_be32(v + 4) << 32 |
					    get_be32(v + 8);
					rc = 0;
				}
		pos += info.size;
	}
	logd_fetch_free(f);
	return rc;
}

static int verify_one(const char *path)
{
	struct logd_segment_report rep;
	int rc = logd_segment_verify(path, &rep);

	if (rc != 0) {
		fail("verify %s: %s", path, logd_strerror(rc));
		return -1;
	}
	if (rep.error != 0 || rep.bad_position != -1 || rep.index_error != 0) {
		fail("verify %s: error %s at byte %" PRId64 ", index %s",
		    path, logd_strerror(rep.error), rep.bad_position,
		    logd_strerror(rep.index_error));
		return -1;
	}
	return 0;
}

/* logctl verify: every segment of every partition. */
static void verify_datadir(void)
{
	char dir[600], path[900];
	struct dirent **list;
	int part, i, n;

	for (part = 0; part < NPART; part++) {
		snprintf(dir, sizeof(dir), "%s/topics/%s-%d", T.t.datadir,
		    TOPIC, part);
		n = scandir(dir, &list, log_filter, alphasort);
		if (n < 0) {
			fail("scandir %s: %s", dir, strerror(errno));
			continue;
		}
		for (i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s/%s", dir,
			    list[i]->d_name);
			verify_one(path);
			free(list[i]);
		}
		free(list);
	}
}

/* The program itself, once logd is stopped after the last cycle. */
static void logctl_verify(void)
{
	const char *b = getenv("LOGD_BUILDDIR");
	char cmd[1400];
	int rc;

	snprintf(cmd, sizeof(cmd), "'%s/tools/logctl' verify '%s' >/dev/null",
	    b && *b ? b : "..", T.t.datadir);
	rc = system(cmd);
	if (rc != 0)
		fail("logctl verify %s: exit status %d", T.t.datadir,
		    WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
}

/*
 * The checks after a restart.  acked: this cycle's acknowledgements per
 * partition (NULL at the final check).  cons: the consumer's commits.
 */
static void check(struct producer *prods, const struct consumer *cons,
    int cycle)
{
	struct logd_client *c = NULL;
	struct logd_group *g = NULL;
	int part, rc, i;
	size_t k;

	rc = logd_client_open(T.t.addr, NULL, &c);
	if (rc != 0)
		die("cycle %d: cannot connect after restart: %s", cycle,
		    logd_strerror(rc));
	for (part = 0; part < NPART; part++) {
		int64_t from = T.durable[part], end, top = -1;

		if (T.mode == MODE_PLAIN)
			from = (int64_t)T.nids[part];  /* nothing is lost */
		if (from > (int64_t)T.nids[part])
			from = (int64_t)T.nids[part];
		ids_truncate(part, (size_t)from);
		end = read_partition(c, part, from);
		if (end < 0)
			continue;
		if (end < T.durable[part])
			fail("partition %d ends at %" PRId64 " below the "
			    "durable %" PRId64, part, end, T.durable[part]);
		for (i = 0; prods && i < NPROD; i++) {
			struct acks *a = &prods[i].acked[part];

			for (k = 0; k < a->n; k++) {
				int64_t o = a->a[k].offset;

				if (o >= (int64_t)T.nids[part])
					fail("acked %d/%" PRId64 " (id %" PRIu64
					    ") is past the end %" PRId64
					    " after restart", part, o,
					    a->a[k].id, end);
				else if (T.ids[part][o] != a->a[k].id)
					fail("acked %d/%" PRId64 " holds id %"
					    PRIu64 ", not %" PRIu64, part, o,
					    T.ids[part][o], a->a[k].id);
				if (o > top)
					top = o;
				/* A sample of acks, fetched again later. */
				if (rnd(64) == 0)
					acks_push(&T.sample[part], o,
					    a->a[k].id);
			}
			T.acked += a->n;
		}
		if (top + 1 > T.durable[part])
			T.durable[part] = top + 1;
		/* Old acknowledged records are still where they were. */
		for (i = 0; i < 8 && T.sample[part].n > 0; i++) {
			struct ack *s = &T.sample[part].a[rnd(
			    (unsigned)T.sample[part].n)];
			uint64_t id = 0;

			rc = fetch_one(c, part, s->offset, &id);
			T.sampled++;
			if (rc != 0 || id != s->id)
				fail("old ack %d/%" PRId64 " (id %" PRIu64
				    "): %s, id %" PRIu64, part, s->offset,
				    s->id, rc ? logd_strerror(rc) : "found",
				    id);
		}
	}

	/* Group offsets never go backwards. */
	rc = logd_client_offsets_fetch(c, GROUP, TOPIC, &g);
	if (rc != 0) {
		fail("offsets fetch: %s", logd_strerror(rc));
	} else {
		for (part = 0; part < NPART; part++) {
			int64_t got = -1;

			for (k = 0; k < g->offset_count; k++)
				if (g->offsets[k].partition == part)
					got = g->offsets[k].offset;
			if (cons && cons->committed[part] > T.last_commit[part])
				T.last_commit[part] = cons->committed[part];
			if (got < T.last_commit[part])
				fail("group offset of partition %d went back "
				    "to %" PRId64 " from %" PRId64, part, got,
				    T.last_commit[part]);
			if (got > T.last_commit[part])
				T.last_commit[part] = got;
			if (got > (int64_t)T.nids[part]) {
				if (T.mode == MODE_PLAIN)
					fail("group offset %" PRId64 " of "
					    "partition %d is past its end %zu",
					    got, part, T.nids[part]);
				else
					T.commit_past_end++;
			}
		}
		logd_group_free(g);
	}
	logd_client_close(c);
	verify_datadir();
}

/* ---- the cycle ---- */

static void restart(int cycle)
{
	if (testlogd_restart(&T.t) != 0)
		die("cycle %d: logd did not restart (see its log above)",
		    cycle);
	if (rnd(8) == 0) {
		/* Killed again during (or right after) recovery. */
		sleep_ms(rnd(30));
		if (testlogd_kill9(&T.t) != 0)
			die("cycle %d: kill during recovery failed", cycle);
		T.recovery_kills++;
		if (testlogd_restart(&T.t) != 0)
			die("cycle %d: logd did not restart after a kill "
			    "during recovery", cycle);
	}
}

static void cycle_run(int cycle)
{
	struct producer prods[NPROD];
	struct consumer cons;
	int power, i, part;

	memset(prods, 0, sizeof(prods));
	memset(&cons, 0, sizeof(cons));
	T.stop = 0;
	for (i = 0; i < NPROD; i++) {
		prods[i].idx = i;
		prods[i].cycle = cycle;
		prods[i].batch_bytes = (size_t)1024 << rnd(6);
		if (pthread_create(&prods[i].th, NULL, producer_main,
		    &prods[i]) != 0)
			die("pthread_create failed");
	}
	if (pthread_create(&cons.th, NULL, consumer_main, &cons) != 0)
		die("pthread_create failed");
	sleep_ms(10 + rnd(390));
	if (testlogd_kill9(&T.t) != 0)
		die("cycle %d: kill failed", cycle);
	T.kills++;
	T.stop = 1;
	for (i = 0; i < NPROD; i++) {
		pthread_join(prods[i].th, NULL);
		T.produced += prods[i].sent;
	}
	pthread_join(cons.th, NULL);
	T.consumed += cons.records;
	T.commits += cons.commits;
	if (cons.gaps)
		fail("cycle %d: the consumer saw %d offset gaps", cycle,
		    cons.gaps);

	power = T.mode == MODE_POWER || (T.mode == MODE_MIXED && rnd(2)) ||
	    T.self_test;
	if (power) {
		/* Acks seen now are durable too, before the cut. */
		for (part = 0; part < NPART; part++)
			for (i = 0; i < NPROD; i++) {
				struct acks *a = &prods[i].acked[part];
				size_t k;

				for (k = 0; k < a->n; k++)
					if (a->a[k].offset + 1 >
					    T.durable[part])
						T.durable[part] =
						    a->a[k].offset + 1;
			}
		for (part = 0; part < NPART; part++)
			power_cut_partition(part);
		T.power_cuts++;
	}
	restart(cycle);
	check(prods, &cons, cycle);
	if (T.verbose || cycle % 10 == 9)
		printf("cycle %d: %s, produced %" PRIu64 " acked %" PRIu64
		    " consumed %" PRIu64 ", ends %zu/%zu, failures %d\n",
		    cycle + 1, power ? "power loss" : "kill -9", T.produced,
		    T.acked, T.consumed, T.nids[0], T.nids[1], T.failures);
	for (i = 0; i < NPROD; i++)
		for (part = 0; part < NPART; part++)
			free(prods[i].acked[part].a);
	fflush(stdout);
}

static void setup_topic(void)
{
	static const struct logd_kv cfg[] = {
		{ "segment.bytes", "65536" },
		{ "retention.ms", "-1" },
	};
	struct logd_client *c = NULL;
	int rc;

	rc = logd_client_open(T.t.addr, NULL, &c);
	if (rc == 0)
		rc = logd_client_topic_create(c, TOPIC, NPART, cfg, 2);
	if (rc != 0)
		die("create topic: %s (%s)", logd_strerror(rc),
		    c ? logd_client_errmsg(c) : "");
	logd_client_close(c);
}

static void usage(void)
{
	fprintf(stderr, "usage: torture [--cycles N] [--power-loss | --plain] "
	    "[--seed S] [-v]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int i, part;

	T.cycles = DEFAULT_CYCLES;
	T.mode = MODE_MIXED;
	T.seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--cycles") == 0 && i + 1 < argc)
			T.cycles = atoi(argv[++i]);
		else if (strcmp(argv[i], "--power-loss") == 0)
			T.mode = MODE_POWER;
		else if (strcmp(argv[i], "--plain") == 0)
			T.mode = MODE_PLAIN;
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			T.seed = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-v") == 0)
			T.verbose = 1;
		else if (strcmp(argv[i], "--self-test") == 0)
			T.self_test = 1;
		else
			usage();
	}
	if (T.cycles < 1)
		usage();
	signal(SIGPIPE, SIG_IGN);
	srand(T.seed);
	printf("torture: %d cycles, %s, seed %u\n", T.cycles,
	    T.mode == MODE_POWER ? "power loss" : T.mode == MODE_PLAIN ?
	    "kill -9" : "kill -9 or power loss", T.seed);
	fflush(stdout);
	for (part = 0; part < NPART; part++)
		T.last_commit[part] = -1;
	if (testlogd_start(&T.t, "flush_ms = 200\n") != 0)
		die("logd did not start");
	setup_topic();
	for (i = 0; i < T.cycles && T.failures == 0; i++)
		cycle_run(i);

	/* A clean stop and start: the same data, nothing truncated. */
	if (T.failures == 0) {
		if (testlogd_term(&T.t) != 0)
			fail("logd did not stop cleanly on SIGTERM");
		verify_datadir();
		logctl_verify();
		if (testlogd_restart(&T.t) != 0)
			die("logd did not start after a clean stop");
		for (part = 0; part < NPART; part++) {
			T.durable[part] = (int64_t)T.nids[part];
			ids_truncate(part, 0);
		}
		T.mode = MODE_PLAIN;
		check(NULL, NULL, T.cycles);
	}
	printf("torture: %s after %d cycles (seed %u): %" PRIu64 " kills "
	    "(%" PRIu64 " during recovery), %" PRIu64 " power cuts "
	    "(%" PRIu64 " bytes discarded); produced %" PRIu64 ", acked %"
	    PRIu64 ", consumed %" PRIu64 ", %" PRIu64 " commits, %" PRIu64
	    " old acks re-fetched, log ends %zu/%zu, commit past end %"
	    PRIu64 ", failures %d\n",
	    T.failures ? "FAILED" : "passed", i, T.seed, T.kills,
	    T.recovery_kills, T.power_cuts, T.zeroed_bytes, T.produced,
	    T.acked, T.consumed, T.commits, T.sampled, T.nids[0], T.nids[1],
	    T.commit_past_end, T.failures);
	if (T.failures && !T.self_test) {
		testlogd_kill9(&T.t);
		fprintf(stderr, "torture: logd's directory kept: %s\n",
		    T.t.dir);
	} else {
		testlogd_stop(&T.t);
	}
	for (part = 0; part < NPART; part++) {
		free(T.ids[part]);
		free(T.sample[part].a);
	}
	free(T.seen);
	return T.failures ? 1 : 0;
}
