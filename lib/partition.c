/*
 * partition.c - a partition log: an ordered array of segments (segment.h), the
 * last one active.
 *
 * Appends copy whole batches into the active segment's map and rewrite
 * their baseOffset.  A segment rolls before an append that would not fit,
 * when the segment's age passes segment_ms, or when an index is full.
 * The age is the broker's clock since the segment was created (or
 * opened), or as Kafka measures it, the new batch's max timestamp minus
 * the first batch's; but record time rolls a segment only once it is
 * LOG_ROLL_FLOOR_MS old on the broker's clock (or segment_ms, if less),
 * so a producer whose every batch is a week after the one before rolls
 * one segment an hour, not one per batch.
 *
 * Durability: flush_begin captures, for each segment with unsynced bytes,
 * a reference and the byte range, plus whether the directory changed
 * (segments created or removed); flush_run (any thread) fdatasync()s
 * those files (a MAP_SHARED mapping writes into the page cache, so
 * fdatasync of the fd covers it; a sealed segment's fds are closed at
 * once, so its files are opened by name for the sync: the dirty pages
 * belong to the file, not to a descriptor), fsync()s the directory, and sometimes
 * rewrites the recovery-point file (temp file, fsync, rename, fsync dir):
 * after a roll, at close, and at most every RP_INTERVAL_MS otherwise.
 * The recovery point only shortens recovery; nothing depends on it being
 * fresh, only on it never being ahead of synced data.  A failed sync
 * makes the log read-only for good: after a failed fsync the page cache
 * can no longer be trusted to reach the disk.
 *
 * Recovery (logd_log_open): segments whose offsets are all below the
 * recovery point were synced whole, so they are trusted and opened
 * lazily (their files stat()ed, nothing read or mapped); the first use
 * (a read, a time lookup, retention by time, a clean) loads one and
 * checks it cheaply (its tail from the last index entry, the last
 * batch's CRC), so open time follows the number of files, not the data
 * or the page cache.  The last segment is checked that way at open when
 * it ends exactly at the recovery point (clean close).  Every other
 * segment is scanned with logd_batch_check() and offset continuity; the
 * first invalid byte ends the log, later bytes and segments are removed.
 * Damage below the recovery point is never repaired by truncation: in
 * the scanned tail open fails with LOGD_ECORRUPT, in a lazy segment its
 * loads (and so its reads) do.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log_int.h"
#include "producers.h"
#include "segment.h"

#define RP_FILE "recovery-point"
#define RP_TMP "recovery-point.tmp"
#define RP_INTERVAL_MS 5000


struct flush_item {
	struct logd_segment *seg;
	int fd, idx_fd, tix_fd;       /* idx/tix -1 unless sealed dirty */
	int reopen;                   /* fds closed: sync the files by name */
	int sync_index;               /* with reopen: the indexes too */
	size_t to;
	int rsv;                      /* zero [rsv_from, rsv_to) after */
	size_t rsv_from, rsv_to;
};

struct logd_flush {
	struct flush_item *items;
	size_t n;
	int dirfd;                    /* dup, -1 if unused */
	int sync_dir;
	int write_rp;
	int rp_ok;
	int64_t end_offset;
	int err;
};

void
logd_log_config_default(struct logd_log_config *c)
{
	c->segment_bytes = 128u << 20;
	c->segment_ms = 7LL * 24 * 3600 * 1000;
	c->retention_ms = 7LL * 24 * 3600 * 1000;
	c->retention_bytes = -1;
	c->index_interval = 4096;
	c->index_bytes = 10u << 20;
	c->log_append_time = 0;
	c->cleanup_policy = LOGD_CLEANUP_DELETE;
	c->min_cleanable_dirty_ratio = 0.5;
	c->min_compaction_lag_ms = 0;
	c->delete_retention_ms = 24LL * 3600 * 1000;
}

/* Keeps settings where the file formats work: u32 positions. */
static void
log_config_norm(struct logd_log_config *c)
{
	if (c->segment_bytes < 4096)
		c->segment_bytes = 4096;
	if (c->segment_bytes > UINT32_MAX)
		c->segment_bytes = UINT32_MAX;
	if (c->index_interval == 0)
		c->index_interval = 1;
	if (c->index_bytes < 64)
		c->index_bytes = 64;
	if (c->segment_ms <= 0)
		c->segment_ms = INT64_MAX;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct logd_segment *
log_active(const struct logd_log *log)
{
	return log->segs[log->nsegs - 1];
}

static int
log_grow(struct logd_log *log)
{
	size_t ncap;
	void *p;

	if (log->nsegs < log->segs_cap)
		return 0;
	ncap = log->segs_cap ? log->segs_cap * 2 : 16;
	p = realloc(log->segs, ncap * sizeof(*log->segs));
	if (p == NULL)
		return -ENOMEM;
	log->segs = p;
	log->segs_cap = ncap;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Recovery point                                                      */
/* ------------------------------------------------------------------ */

/* The recovery point, or -1 when missing or not a clean number. */
static int64_t
rp_read(int dirfd)
{
	char buf[32], *end;
	ssize_t n;
	long long v;
	int fd;

	fd = openat(dirfd, RP_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 2 || buf[n - 1] != '\n')
		return -1;
	buf[n] = '\0';
	if (buf[0] < '0' || buf[0] > '9')
		return -1;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\n' || end != buf + n - 1)
		return -1;
	return v;
}

static int
rp_write(int dirfd, int64_t rp)
{
	char buf[32];
	int fd, len, rc = 0;

	len = snprintf(buf, sizeof(buf), "%" PRId64 "\n", rp);
	fd = openat(dirfd, RP_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)len) != len || fdatasync(fd) < 0)
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(dirfd, RP_TMP, dirfd, RP_FILE) < 0)
		rc = -errno;
	if (rc == 0 && fsync(dirfd) < 0)
		rc = -errno;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Open and close                                                      */
/* ------------------------------------------------------------------ */

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* 20 digits then ".ext": the base offset, or -1. */
static int64_t
seg_name_base(const char *name, const char *ext)
{
	char *end;
	long long v;

	if (strlen(name) != LOGD_SEGMENT_NAME_LEN + 4 ||
	    strcmp(name + LOGD_SEGMENT_NAME_LEN, ext) != 0 ||
	    name[0] < '0' || name[0] > '9')
		return -1;
	errno = 0;
	v = strtoll(name, &end, 10);
	if (errno != 0 || end != name + LOGD_SEGMENT_NAME_LEN || v < 0)
		return -1;
	return v;
}

/*
 * Lists segment bases (sorted) and removes leftovers: a temporary
 * recovery point and index files whose .log is gone.
 */
static int
log_list(int dirfd, int64_t **out, size_t *count)
{
	int64_t *bases = NULL, *idx = NULL;
	size_t n = 0, cap = 0, ni = 0, icap = 0, i;
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		int64_t b = seg_name_base(de->d_name, ".log");
		int64_t **arr = &bases;
		size_t *an = &n, *acap = &cap;

		if (strcmp(de->d_name, RP_TMP) == 0) {
			unlinkat(dirfd, RP_TMP, 0);
			continue;
		}
		if (b < 0) {
			b = seg_name_base(de->d_name, ".idx");
			if (b < 0)
				b = seg_name_base(de->d_name, ".tix");
			if (b < 0)
				continue;
			arr = &idx;
			an = &ni;
			acap = &icap;
		}
		if (*an == *acap) {
			size_t nc = *acap ? *acap * 2 : 16;
			void *p = realloc(*arr, nc * sizeof(**arr));

			if (p == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			*arr = p;
			*acap = nc;
		}
		(*arr)[(*an)++] = b;
	}
	if (n > 1)      /* bases is NULL when n is 0: qsort wants non-NULL */
		qsort(bases, n, sizeof(*bases), cmp_i64);
	for (i = 0; i < ni; i++) {
		if (bases != NULL && bsearch(&idx[i], bases, n, sizeof(*bases),
		    cmp_i64) != NULL)
			continue;
		char name[32];

		logd_segment_name(name, idx[i], "idx");
		unlinkat(dirfd, name, 0);
		logd_segment_name(name, idx[i], "tix");
		unlinkat(dirfd, name, 0);
	}
out:
	closedir(d);
	free(idx);
	if (rc < 0) {
		free(bases);
		return rc;
	}
	*out = bases;
	*count = n;
	return 0;
}

/* What recovery decided for one segment. */
struct seg_plan {
	size_t valid;
	int64_t next;
	uint64_t garbage;
	int trusted;
};

/*
 * Phase one of recovery, read-only: decides where the log ends.  Returns
 * the index of the segment that becomes active, or LOGD_ECORRUPT.
 */
static int
log_plan(struct logd_log *log, int64_t rp, struct seg_plan *plan,
    uint32_t *scanned)
{
	const struct logd_log_config *c = &log->cfg;
	size_t i, n = log->nsegs;
	uint32_t batches;
	int gaps;

	for (i = 0; i < n; i++) {
		struct logd_segment *s = log->segs[i];
		struct seg_plan *p = &plan[i];
		int last = i + 1 == n;
		int64_t nb = last ? -1 : log->segs[i + 1]->base_offset;

		if (p->trusted)
			continue;      /* loaded as it was opened */
		if (last && rp > s->base_offset &&
		    logd_segment_load_closed(log->dirfd, s, rp, 0,
		    c->index_bytes, c->index_interval) == 0) {
			p->trusted = 1;
			p->valid = s->size;
			p->next = rp;
			return (int)i;
		}
		/* Below the clean point the cleaner may have left gaps. */
		gaps = s->base_offset < log->clean_point;
		logd_segment_scan(s, gaps, &p->valid, &p->next, &batches);
		*scanned += batches;
		p->garbage = logd_segment_garbage(s, p->valid);
		/* A cleaned segment may end below the next one's base: it is
		 * whole when the scan reached its (trimmed) end. */
		if (last || p->next > nb || (p->next < nb && (!gaps ||
		    p->valid != s->map_len))) {
			if (rp >= 0 && p->next < rp)
				return LOGD_ECORRUPT;
			return (int)i;
		}
	}
	return (int)n - 1;
}

/* Phase two: applies the plan, end is the index of the active segment. */
static int
log_apply(struct logd_log *log, size_t end, const struct seg_plan *plan,
    uint64_t *truncated)
{
	const struct logd_log_config *c = &log->cfg;
	size_t i;
	int rc;

	for (i = end + 1; i < log->nsegs; i++) {
		struct logd_segment *s = log->segs[i];

		*truncated += logd_segment_garbage(s, 0);
		logd_segment_unlink(log->dirfd, s);
		logd_segment_unref(s);
		log->dir_dirty = 1;
	}
	log->nsegs = end + 1;
	for (i = 0; i <= end; i++) {
		struct logd_segment *s = log->segs[i];
		const struct seg_plan *p = &plan[i];

		*truncated += p->garbage;
		if (i < end && p->trusted) {
			log->closed_bytes += s->size;
			continue;
		}
		rc = logd_segment_reset(log->dirfd, s, p->valid, p->next,
		    i == end, c->segment_bytes, c->index_bytes,
		    c->index_interval);
		if (rc < 0)
			return rc;
		if (i == end && p->trusted)
			s->synced = s->size;
		if (i < end) {
			log->closed_bytes += s->size;
			s->next_offset = log->segs[i + 1]->base_offset;
		}
	}
	return 0;
}

/* A new log's first segment. */
static int
log_open_empty(struct logd_log *log, int64_t rp, int64_t now_ms)
{
	int rc;

	if (rp > 0)
		return LOGD_ECORRUPT;     /* synced data is gone */
	rc = log_grow(log);
	if (rc == 0)
		rc = logd_segment_create(log->dirfd, 0, log->cfg.segment_bytes,
		    log->cfg.index_bytes, log->cfg.index_interval, now_ms,
		    &log->segs[0]);
	if (rc < 0)
		return rc;
	log->nsegs = 1;
	log->dir_dirty = 1;
	log->rp_due = 1;
	return 0;
}

/* Opens the n existing segments and recovers the tail past rp. */
static int
log_open_existing(struct logd_log *log, const int64_t *bases, size_t n,
    int64_t rp, int64_t now_ms, uint64_t *truncated, uint32_t *scanned)
{
	struct seg_plan *plan = calloc(n, sizeof(*plan));
	size_t i;
	int rc = 0, end;

	log->segs = calloc(n, sizeof(*log->segs));
	if (plan == NULL || log->segs == NULL) {
		free(plan);
		return -ENOMEM;
	}
	log->segs_cap = n;
	for (i = 0; i < n && rc == 0; i++) {
		/*
		 * Below the recovery point: synced whole, so trusted
		 * without being read; its indexes and last batch are checked
		 * when it is first used (log_load).
		 */
		if (i + 1 < n && rp >= 0 && bases[i + 1] <= rp) {
			rc = logd_segment_open_lazy(log->dirfd, bases[i],
			    bases[i + 1], now_ms, &log->segs[i]);
			if (rc < 0)
				break;
			log->nsegs++;
			plan[i].trusted = 1;
			plan[i].valid = log->segs[i]->size;
			plan[i].next = bases[i + 1];
			continue;
		}
		rc = logd_segment_open(log->dirfd, bases[i], now_ms,
		    &log->segs[i]);
		if (rc < 0)
			break;
		log->nsegs++;
	}
	end = rc < 0 ? rc : log_plan(log, rp, plan, scanned);
	if (end >= 0)
		rc = log_apply(log, (size_t)end, plan, truncated);
	else
		rc = end;
	if (rc == 0 && (*truncated > 0 || (size_t)end + 1 < n))
		log->rp_due = 1;
	free(plan);
	return rc < 0 ? rc : 0;
}

int
logd_log_open(const char *dir, const struct logd_log_config *cfg,
    int64_t now_ms, struct logd_log **out, struct logd_recovery *rec)
{
	struct logd_log *log;
	int64_t *bases = NULL, rp;
	uint64_t truncated = 0;
	uint32_t scanned = 0;
	size_t n = 0, i;
	int rc;

	log = calloc(1, sizeof(*log));
	if (log == NULL)
		return -ENOMEM;
	log->dirfd = -1;
	if (cfg != NULL)
		log->cfg = *cfg;
	else
		logd_log_config_default(&log->cfg);
	log_config_norm(&log->cfg);
	rc = mkdir(dir, 0755) < 0 && errno != EEXIST ? -errno : 0;
	if (rc == 0 && (log->dirfd = open(dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0)
		rc = -errno;
	if (rc == 0)
		rc = logd_clean_recover(log->dirfd, &log->clean_point);
	if (rc == 0)
		rc = log_list(log->dirfd, &bases, &n);
	if (rc < 0)
		goto fail;
	rp = rp_read(log->dirfd);
	log->rp_written = rp;
	rc = n == 0 ? log_open_empty(log, rp, now_ms) :
	    log_open_existing(log, bases, n, rp, now_ms, &truncated, &scanned);
	if (rc < 0)
		goto fail;
	/* Recovery is done with them: closed segments map on demand, and
	 * the next flush syncs the recovered ones by name. */
	for (i = 0; i + 1 < log->nsegs; i++) {
		logd_segment_release_fds(log->segs[i]);
		logd_segment_unmap(log->segs[i]);
	}
	log->flushed = rp >= 0 ? rp : log->segs[0]->base_offset;
	if (log->flushed > logd_log_end_offset(log))
		log->flushed = logd_log_end_offset(log);
	if (log->flushed < log->segs[0]->base_offset)
		log->flushed = log->segs[0]->base_offset;
	log->rp_time = mono_ms();
	if (rec != NULL) {
		rec->start_offset = logd_log_start_offset(log);
		rec->end_offset = logd_log_end_offset(log);
		rec->truncated_bytes = truncated;
		rec->segments = (uint32_t)log->nsegs;
		rec->scanned_batches = scanned;
	}
	free(bases);
	*out = log;
	return 0;
fail:
	free(bases);
	for (i = 0; log->segs != NULL && i < log->nsegs; i++)
		logd_segment_unref(log->segs[i]);
	free(log->segs);
	if (log->dirfd >= 0)
		close(log->dirfd);
	free(log);
	return rc;
}

static int log_flush(struct logd_log *log, int force_rp);

/*
 * Maps closed segment s, loading it if it is lazy (segment.h).  Gaps are
 * allowed in any of them, as they were when trusted segments were
 * checked at open: a clean's swap may be on disk before its cleaner
 * point (kill -9 rounds of tests/kafka/compact.sh).
 */
static int
log_map(struct logd_log *log, struct logd_segment *s)
{
	return logd_segment_load(log->dirfd, s, 1, log->cfg.index_bytes,
	    log->cfg.index_interval);
}

/* Maps closed segment s if it is not, and makes it the warmest. */
static int
log_warm(struct logd_log *log, struct logd_segment *s)
{
	struct logd_segment *cold;
	size_t i;
	int rc;

	if (s->writable)
		return 0;
	if ((rc = log_map(log, s)) < 0)
		return rc;
	for (i = 0; i < LOG_WARM && log->warm[i] != s; i++)
		;
	if (i == 0)
		return 0;
	if (i == LOG_WARM) {
		/*
		 * Not warm: the coldest gives its maps back.  One still
		 * being read (a reply not yet sent) keeps them until it is
		 * warmed and cooled again: rare, and bounded by the reads
		 * in flight.
		 */
		i = LOG_WARM - 1;
		if ((cold = log->warm[i]) != NULL)
			logd_segment_unmap(cold);
	}
	memmove(log->warm + 1, log->warm, i * sizeof(log->warm[0]));
	log->warm[0] = s;
	return 0;
}

int
log_load(struct logd_log *log, struct logd_segment *s)
{
	size_t i;
	int rc;

	if (!s->lazy)
		return 0;
	if ((rc = log_map(log, s)) < 0)
		return rc;
	for (i = 0; i < LOG_WARM && log->warm[i] != s; i++)
		;
	if (i == LOG_WARM)
		logd_segment_unmap(s);
	return 0;
}

/* s leaves the log (retention, close, a clean): no longer warm. */
void
log_unwarm(struct logd_log *log, const struct logd_segment *s)
{
	size_t i;

	for (i = 0; i < LOG_WARM; i++)
		if (log->warm[i] == s) {
			memmove(log->warm + i, log->warm + i + 1,
			    (LOG_WARM - 1 - i) * sizeof(log->warm[0]));
			log->warm[LOG_WARM - 1] = NULL;
		}
}

void
logd_log_close(struct logd_log *log)
{
	size_t i;

	if (log == NULL)
		return;
	if (!log->readonly && !log->flushing) {
		/* Trimmed, so that the next open can trust it. */
		logd_segment_seal(log_active(log));
		log_flush(log, 1);
	}
	for (i = 0; i < log->nsegs; i++)
		logd_segment_unref(log->segs[i]);
	free(log->segs);
	prod_free(log->producers);
	close(log->dirfd);
	free(log);
}

/*
 * The idempotent producers' table, rebuilt from the batch headers of the
 * last segment on first use: what a restart must remember to recognise
 * the retries a crash causes (producers.c).
 */
struct prod_table **
logd_log_producers(struct logd_log *log)
{
	const struct logd_segment *s;
	struct logd_batch_info info;
	size_t pos = 0;

	if (log->producers_built)
		return &log->producers;
	log->producers_built = 1;
	s = log->segs[log->nsegs - 1];
	while (pos < s->size && logd_batch_header(s->map + pos, s->size - pos,
	    &info) == 0 && info.size <= s->size - pos) {
		if (prod_record(&log->producers, &info, info.base_offset) < 0)
			break;
		pos += info.size;
	}
	return &log->producers;
}

void
logd_log_set_config(struct logd_log *log, const struct logd_log_config *cfg)
{
	log->cfg = *cfg;
	log_config_norm(&log->cfg);
}

int64_t
logd_log_start_offset(const struct logd_log *log)
{
	return log->segs[0]->base_offset;
}

int64_t
logd_log_end_offset(const struct logd_log *log)
{
	return log_active(log)->next_offset;
}

int64_t
logd_log_flushed_offset(const struct logd_log *log)
{
	return log->flushed;
}

int
logd_log_sync_error(const struct logd_log *log)
{
	return log->readonly;
}

uint64_t
logd_log_size(const struct logd_log *log)
{
	return log->closed_bytes + log_active(log)->size;
}

uint64_t
logd_log_disk_bytes(const struct logd_log *log)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < log->nsegs; i++)
		n += logd_segment_disk(log->segs[i]);
	return n;
}

void
logd_log_set_userctx(struct logd_log *log, void *ctx)
{
	log->userctx = ctx;
}

void *
logd_log_userctx(const struct logd_log *log)
{
	return log->userctx;
}

uint32_t
logd_log_segment_count(const struct logd_log *log)
{
	return (uint32_t)log->nsegs;
}

/* ------------------------------------------------------------------ */
/* Append                                                              */
/* ------------------------------------------------------------------ */

static int
log_roll(struct logd_log *log, int64_t now_ms)
{
	struct logd_segment *old = log_active(log), *s;
	int rc;

	rc = log_grow(log);
	if (rc < 0)
		return rc;
	rc = logd_segment_create(log->dirfd, old->next_offset,
	    log->cfg.segment_bytes, log->cfg.index_bytes,
	    log->cfg.index_interval, now_ms, &s);
	if (rc < 0)
		return rc;
	/* A failed trim leaves zeros that the next open trims. */
	(void)logd_segment_seal(old);
	logd_segment_release_fds(old);
	log->closed_bytes += old->size;
	log->segs[log->nsegs++] = s;
	(void)log_warm(log, old);   /* mapped already: the warmest now */
	log->dir_dirty = 1;
	log->rp_due = 1;
	return 0;
}

/* Record time rolls no segment younger than this on the broker's clock. */
#define LOG_ROLL_FLOOR_MS (3600 * 1000)

/* Must the active segment roll before `len` more bytes with time ts? */
static int
log_should_roll(const struct logd_log *log, size_t len, int64_t ts,
    int64_t now_ms)
{
	const struct logd_segment *s = log_active(log);
	uint64_t limit = log->cfg.segment_bytes;
	int64_t age;

	if (s->size == 0)
		return 0;
	if (limit > s->capacity)
		limit = s->capacity;
	if (s->size + len > limit || logd_segment_index_full(s))
		return 1;
	age = now_ms - s->created_ms;
	if (age > log->cfg.segment_ms)
		return 1;
	if (age < LOG_ROLL_FLOOR_MS && age < log->cfg.segment_ms)
		return 0;
	return s->first_timestamp >= 0 && ts >= 0 &&
	    ts - s->first_timestamp > log->cfg.segment_ms;
}

int
logd_log_append(struct logd_log *log, const void *data, size_t len,
    int64_t now_ms, int64_t *first, int64_t *last)
{
	const uint8_t *p = data, *end = p + len;
	struct logd_batch_info info;
	int64_t stamp = log->cfg.log_append_time ? now_ms : -1;
	int64_t first_off = logd_log_end_offset(log);
	int rc;

	if (log->readonly)
		return LOGD_EREADONLY;
	if (len == 0)
		return LOGD_EBADBATCH;
	/* Framing only: the caller ran logd_batch_check() on each batch. */
	while (p < end) {
		if (logd_batch_header(p, (size_t)(end - p), &info) != 0 ||
		    info.size > (size_t)(end - p))
			return LOGD_EBADBATCH;
		if (info.size > log->cfg.segment_bytes)
			return LOGD_ETOOBIG;
		p += info.size;
	}
	/* All in one segment when they fit in one: nothing or everything. */
	if (log_active(log)->size == 0 &&
	    log_active(log)->capacity < log->cfg.segment_bytes &&
	    (rc = logd_segment_grow(log_active(log),
	    log->cfg.segment_bytes)) < 0)
		return rc;
	if (len <= log->cfg.segment_bytes) {
		int64_t ts = stamp >= 0 ? stamp : logd_hdr_max_ts(data);

		if (log_should_roll(log, len, ts, now_ms) &&
		    (rc = log_roll(log, now_ms)) < 0)
			return rc;
		rc = logd_segment_append(log_active(log), data, len, stamp);
		if (rc < 0)
			return rc;
	} else {
		/* Batch by batch: a failure leaves the earlier ones. */
		for (p = data; p < end; p += logd_hdr_size(p)) {
			size_t sz = logd_hdr_size(p);
			int64_t ts = stamp >= 0 ? stamp : logd_hdr_max_ts(p);

			if (log_should_roll(log, sz, ts, now_ms) &&
			    (rc = log_roll(log, now_ms)) < 0)
				return rc;
			rc = logd_segment_append(log_active(log), p, sz,
			    stamp);
			if (rc < 0)
				return rc;
		}
	}
	if (first != NULL)
		*first = first_off;
	if (last != NULL)
		*last = logd_log_end_offset(log) - 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reads                                                               */
/* ------------------------------------------------------------------ */

/* Index of the segment holding offset (start <= offset < end). */
static size_t
log_find(const struct logd_log *log, int64_t offset)
{
	size_t lo = 0, hi = log->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (log->segs[mid]->base_offset <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == 0 ? 0 : lo - 1;
}

/*
 * Maps the pages of a large read in one call.  Touching a fresh mapping
 * page by page costs a fault per 64 KiB (fault-around), and faults are
 * dear in a VM: measured here, populating 1 MiB at a time read a file
 * from the page cache ~1.5x faster than faulting it in.  Smaller reads
 * are left to fault-around.  Errors (kernels before 5.14 lack
 * MADV_POPULATE_READ) only lose the speed-up.
 */
#define READ_POPULATE_MIN (64u << 10)

static void
read_populate(const uint8_t *p, size_t len)
{
#ifdef MADV_POPULATE_READ
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1);

	(void)madvise((void *)a, (uintptr_t)p + len - a, MADV_POPULATE_READ);
#else
	(void)p;
	(void)len;
#endif
}

int
logd_log_read(struct logd_log *log, int64_t offset, size_t max_bytes,
    struct logd_read *r)
{
	struct logd_segment *s;
	const uint8_t *p, *end, *lastb;
	size_t pos, total, i;
	int rc;

	if (offset < logd_log_start_offset(log) ||
	    offset > logd_log_end_offset(log))
		return LOGD_ERANGE;
	if (offset == logd_log_end_offset(log)) {
		r->data = NULL;
		r->len = 0;
		r->next_offset = offset;
		r->seg = NULL;
		return 0;
	}
	i = log_find(log, offset);
	for (;;) {
		s = log->segs[i];
		if ((rc = log_warm(log, s)) < 0)
			return rc;
		rc = logd_segment_find(s, offset, &pos);
		/* The rest of a cleaned segment is a gap: go on in the next
		 * (the active segment has no gaps, so one follows). */
		if (rc != -ENOENT || i + 1 == log->nsegs)
			break;
		offset = log->segs[++i]->base_offset;
		if (offset == logd_log_end_offset(log)) {
			/* nothing after the gap yet: as at the end */
			r->data = NULL;
			r->len = 0;
			r->next_offset = offset;
			r->seg = NULL;
			return 0;
		}
	}
	if (rc < 0)
		return rc == LOGD_ERANGE || rc == -ENOENT ? LOGD_ECORRUPT : rc;
	p = s->map + pos;
	end = s->map + s->size;
	/* Large by what there is to read, not by what was asked for: a
	 * consumer at the tail asks for 1 MiB and gets a few hundred bytes
	 * of pages mapped already, which need no system call. */
	if (max_bytes >= READ_POPULATE_MIN &&
	    (size_t)(end - p) >= READ_POPULATE_MIN)
		read_populate(p, (size_t)(end - p) < max_bytes ?
		    (size_t)(end - p) : max_bytes);
	lastb = p;
	total = logd_hdr_size(p);
	while (p + total + LOGD_BATCH_HEADER_SIZE <= end) {
		size_t sz = logd_hdr_size(p + total);

		if (total + sz > max_bytes || sz > (size_t)(end - p - total))
			break;
		lastb = p + total;
		total += sz;
	}
	logd_segment_ref(s);
	r->data = p;
	r->len = total;
	r->next_offset = logd_hdr_last(lastb) + 1;
	r->seg = s;
	return 0;
}

void
logd_log_read_release(struct logd_read *r)
{
	if (r == NULL || r->seg == NULL)
		return;
	logd_segment_unref(r->seg);
	r->seg = NULL;
	r->data = NULL;
	r->len = 0;
}

int
logd_log_offset_for_time(struct logd_log *log, int64_t ts, int64_t *offset)
{
	size_t i;

	for (i = 0; i < log->nsegs; i++) {
		struct logd_segment *s = log->segs[i];
		int64_t off;
		int rc;

		if (s->lazy && (rc = log_load(log, s)) < 0)
			return rc;
		if (s->size == 0 || s->max_timestamp < ts)
			continue;
		if ((rc = log_warm(log, s)) < 0)
			return rc;
		rc = logd_segment_offset_for_time(s, ts, &off);
		if (rc < 0)
			return rc;
		if (off >= 0) {
			*offset = off;
			return 0;
		}
	}
	*offset = logd_log_end_offset(log);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Flush                                                               */
/* ------------------------------------------------------------------ */


static void
flush_free(struct logd_flush *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->n; i++)
		logd_segment_unref(f->items[i].seg);
	if (f->dirfd >= 0)
		close(f->dirfd);
	free(f->items);
	free(f);
}

static int
log_flush_begin(struct logd_log *log, int force_rp, struct logd_flush **out)
{
	struct logd_flush *f;
	size_t i, n = 0, from = log->nsegs;
	int need_rp, reopen = 0;

	if (log->readonly)
		return LOGD_EREADONLY;
	if (log->flushing)
		return -EBUSY;
	/* Syncs happen in order: dirty segments are the last ones. */
	for (i = log->nsegs; i > 0; i--) {
		struct logd_segment *s = log->segs[i - 1];
		int dirty = s->synced < s->size || s->index_dirty;

		if (!dirty && s->size > 0)
			break;
		n += dirty;
		reopen |= dirty && s->fd < 0;
		from = i - 1;
	}
	need_rp = logd_log_end_offset(log) != log->rp_written &&
	    (force_rp || log->rp_due ||
	    mono_ms() - log->rp_time >= RP_INTERVAL_MS);
	if (n == 0 && !log->dir_dirty && !need_rp) {
		*out = NULL;
		return 0;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	f->dirfd = -1;
	f->items = calloc(n ? n : 1, sizeof(*f->items));
	if (f->items == NULL) {
		free(f);
		return -ENOMEM;
	}
	if (log->dir_dirty || need_rp || reopen) {
		f->dirfd = fcntl(log->dirfd, F_DUPFD_CLOEXEC, 0);
		if (f->dirfd < 0) {
			int rc = -errno;

			flush_free(f);
			return rc;
		}
	}
	for (i = from; i < log->nsegs; i++) {
		struct logd_segment *s = log->segs[i];
		struct flush_item *it;

		if (s->synced >= s->size && !s->index_dirty)
			continue;
		it = &f->items[f->n++];
		logd_segment_ref(s);
		it->seg = s;
		s->in_flush = 1;
		it->fd = s->fd;
		it->to = s->size;
		it->idx_fd = s->index_dirty ? s->idx_fd : -1;
		it->tix_fd = s->index_dirty ? s->tix_fd : -1;
		it->reopen = s->fd < 0;
		it->sync_index = s->index_dirty;
		s->index_dirty = 0;
		it->rsv = logd_segment_reserve_begin(s, &it->rsv_from,
		    &it->rsv_to);
	}
	f->sync_dir = log->dir_dirty;
	log->dir_dirty = 0;
	f->write_rp = need_rp;
	log->rp_due = 0;
	f->end_offset = logd_log_end_offset(log);
	log->flushing = 1;
	*out = f;
	return 0;
}

int
logd_log_flush_begin(struct logd_log *log, struct logd_flush **f)
{
	return log_flush_begin(log, 0, f);
}

/*
 * Syncs one file of a sealed segment whose fds were closed, by name.
 * Gone (retention or a topic's deletion took it meanwhile): nothing to
 * sync.  A write error that nobody has seen yet is reported to a
 * descriptor opened after it (Linux 4.13 and later).
 */
static int
flush_by_name(int dirfd, int64_t base, const char *ext)
{
	char name[32];
	int fd, rc = 0;

	logd_segment_name(name, base, ext);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fdatasync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int
flush_item_run(const struct logd_flush *f, const struct flush_item *it)
{
	int64_t base = it->seg->base_offset;
	int rc;

	if (it->reopen) {
		if ((rc = flush_by_name(f->dirfd, base, "log")) == 0 &&
		    it->sync_index &&
		    (rc = flush_by_name(f->dirfd, base, "idx")) == 0)
			rc = flush_by_name(f->dirfd, base, "tix");
		return rc;
	}
	if (fdatasync(it->fd) < 0 ||
	    (it->idx_fd >= 0 && fdatasync(it->idx_fd) < 0) ||
	    (it->tix_fd >= 0 && fdatasync(it->tix_fd) < 0))
		return -errno;
	return 0;
}

int
logd_flush_run(struct logd_flush *f)
{
	size_t i;

	for (i = 0; i < f->n && f->err == 0; i++)
		f->err = flush_item_run(f, &f->items[i]);
	if (f->err == 0 && f->sync_dir && fsync(f->dirfd) < 0)
		f->err = -errno;
	/* The recovery point is an optimisation: its failure is not. */
	if (f->err == 0 && f->write_rp)
		f->rp_ok = rp_write(f->dirfd, f->end_offset) == 0;
	/* After the syncs, which it must not delay; the next one writes
	 * these zeros. */
	for (i = 0; i < f->n && f->err == 0; i++)
		if (f->items[i].rsv)
			logd_segment_reserve_run(f->items[i].seg,
			    f->items[i].rsv_from, f->items[i].rsv_to);
	return f->err;
}

int
logd_log_flush_end(struct logd_log *log, struct logd_flush *f)
{
	size_t i;
	int rc;

	if (f == NULL)
		return 0;
	log->flushing = 0;
	for (i = 0; i < f->n; i++) {
		f->items[i].seg->in_flush = 0;
		if (f->items[i].rsv)
			logd_segment_reserve_end(f->items[i].seg);
	}
	rc = f->err;
	if (rc != 0) {
		log->readonly = rc;
	} else {
		for (i = 0; i < f->n; i++) {
			struct logd_segment *s = f->items[i].seg;

			if (s->synced < f->items[i].to)
				s->synced = f->items[i].to;
			logd_segment_release_fds(s);
		}
		if (f->end_offset > log->flushed)
			log->flushed = f->end_offset;
		if (f->rp_ok) {
			log->rp_written = f->end_offset;
			log->rp_time = mono_ms();
		} else if (f->write_rp) {
			log->rp_due = 1;
		}
	}
	flush_free(f);
	return rc;
}

static int
log_flush(struct logd_log *log, int force_rp)
{
	struct logd_flush *f;
	int rc;

	rc = log_flush_begin(log, force_rp, &f);
	if (rc < 0 || f == NULL)
		return rc;
	logd_flush_run(f);
	return logd_log_flush_end(log, f);
}

int
logd_log_flush(struct logd_log *log)
{
	return log_flush(log, 0);
}

/* ------------------------------------------------------------------ */
/* Retention                                                           */
/* ------------------------------------------------------------------ */

static void
log_drop_first(struct logd_log *log)
{
	struct logd_segment *s = log->segs[0];

	log_unwarm(log, s);
	logd_segment_unlink(log->dirfd, s);
	log->closed_bytes -= s->size;
	memmove(log->segs, log->segs + 1, (log->nsegs - 1) * sizeof(*log->segs));
	log->nsegs--;
	log->dir_dirty = 1;
	logd_segment_unref(s);
}

/*
 * Newest timestamp of a segment, its file time when batches have none
 * (or when a lazy one does not load: damage is no reason to keep it).
 */
static int64_t
seg_time(struct logd_log *log, struct logd_segment *s)
{
	struct stat st;

	(void)log_load(log, s);
	if (s->max_timestamp >= 0)
		return s->max_timestamp;
	if (s->fd < 0)
		return s->mtime_ms;
	if (fstat(s->fd, &st) < 0)
		return INT64_MAX;
	return (int64_t)st.st_mtim.tv_sec * 1000 +
	    st.st_mtim.tv_nsec / 1000000;
}

int
logd_log_retain(struct logd_log *log, int64_t now_ms, uint32_t *deleted)
{
	const struct logd_log_config *c = &log->cfg;
	uint32_t n = 0;

	while (log->nsegs > 1 && (c->cleanup_policy & LOGD_CLEANUP_DELETE)) {
		struct logd_segment *s = log->segs[0];
		int by_time = c->retention_ms >= 0 &&
		    now_ms - seg_time(log, s) > c->retention_ms;
		int by_size = c->retention_bytes >= 0 &&
		    logd_log_size(log) - s->size >=
		    (uint64_t)c->retention_bytes;

		if (!by_time && !by_size)
			break;
		log_drop_first(log);
		n++;
	}
	if (deleted != NULL)
		*deleted = n;
	return 0;
}

int
logd_log_delete_before(struct logd_log *log, int64_t offset)
{
	if (offset > logd_log_end_offset(log))
		return LOGD_ERANGE;
	while (log->nsegs > 1 && log->segs[0]->next_offset <= offset)
		log_drop_first(log);
	return 0;
}
