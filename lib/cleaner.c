/*
 * cleaner.c - log compaction: keep the last record of each key in the
 * closed segments of a log (logd.h, "Log compaction", says what a clean
 * does; this says how).
 *
 * The key map is an open-addressing table of (128-bit key hash, offset)
 * entries, linear probing, at most 3/4 full, over a fixed allocation: its
 * memory is bounded whatever the keys.  Two keys with the same 128-bit
 * hash would lose the older one's record (Kafka's cleaner takes the same
 * risk with MD5).
 *
 * The output of each segment goes to NNN.log.cleaned through a buffered
 * writer that builds the offset and time indexes as segment.c does for
 * appends (seg_index_batch), into NNN.idx.cleaned and NNN.tix.cleaned;
 * all three are fdatasync()ed, the .log's mtime set, then the directory
 * synced.  The swap of one segment: rename the .log over the old one
 * (the commit), fsync the directory, rename the two indexes.  A segment
 * left empty is swapped by unlinking its .log (the commit), then its
 * indexes.  Recovery (logd_clean_recover): a NNN.log.cleaned left means
 * the swap did not commit, and every NNN.*.cleaned is removed; index
 * files .cleaned without it belong to a committed swap and are renamed
 * into place.  So each segment is either the old or the new one.
 * Segments swap oldest first: a tombstone dropped from a segment can no
 * longer uncover an older record of its key (older segments were
 * cleaned, so the record went, before the tombstone could expire).
 *
 * After the swaps the clean point is written (cleaner-point: temp file,
 * fsync, rename, fsync of the directory).  A crash before that only
 * makes the next clean treat the segments as dirty again, which keeps
 * tombstones longer, never shorter.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log_int.h"

#define WRITE_BUF (1u << 20)
#define MAP_ENTRY 24

/* ------------------------------------------------------------------ */
/* Key map                                                             */
/* ------------------------------------------------------------------ */

struct key_map {
	uint64_t *h;              /* 2 per slot: the key's hash */
	int64_t *off;             /* -1: empty slot */
	size_t cap, n, max;
};

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x7fb5d329728ea185ULL;
	x ^= x >> 27;
	x *= 0x81dadef4bc2dd44dULL;
	x ^= x >> 33;
	return x;
}

/* Two 64-bit hashes of the key from different seeds and rounds. */
static void
key_hash(const uint8_t *k, size_t n, uint64_t out[2])
{
	uint64_t a = 0x243f6a8885a308d3ULL ^ n, b = 0x13198a2e03707344ULL + n;
	uint64_t w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, k + i, 8);
		a = mix(a ^ w) + 0x9e3779b97f4a7c15ULL;
		b = (b + w) * 0xa0761d6478bd642fULL;
		b = (b << 29 | b >> 35) ^ a;
	}
	w = 0;
	memcpy(&w, k + i, n - i);
	a = mix(a ^ w ^ (uint64_t)(n - i) << 56);
	b = mix(b + w + 0xe7037ed1a0b428dbULL);
	out[0] = a;
	out[1] = b ^ (a >> 17);
}

static int
map_init(struct key_map *m, size_t bytes)
{
	size_t cap = 1024, i;

	while (cap * 2 * MAP_ENTRY <= bytes)
		cap *= 2;
	m->h = malloc(cap * 2 * sizeof(*m->h));
	m->off = malloc(cap * sizeof(*m->off));
	if (m->h == NULL || m->off == NULL) {
		free(m->h);
		free(m->off);
		return -ENOMEM;
	}
	for (i = 0; i < cap; i++)
		m->off[i] = -1;
	m->cap = cap;
	m->n = 0;
	m->max = cap / 4 * 3;
	return 0;
}

static void
map_free(struct key_map *m)
{
	free(m->h);
	free(m->off);
}

/* The slot of hash h: its entry, or the empty slot where it would go. */
static size_t
map_slot(const struct key_map *m, const uint64_t h[2])
{
	size_t i = (size_t)h[0] & (m->cap - 1);

	while (m->off[i] >= 0 &&
	    (m->h[2 * i] != h[0] || m->h[2 * i + 1] != h[1]))
		i = (i + 1) & (m->cap - 1);
	return i;
}

/* Sets key -> offset: 0, or 1 when the key is new and the map full. */
static int
map_put(struct key_map *m, const void *key, size_t len, int64_t offset)
{
	uint64_t h[2];
	size_t i;

	key_hash(key, len, h);
	i = map_slot(m, h);
	if (m->off[i] < 0) {
		if (m->n >= m->max)
			return 1;
		m->h[2 * i] = h[0];
		m->h[2 * i + 1] = h[1];
		m->n++;
	}
	m->off[i] = offset;
	return 0;
}

/* The last offset mapped for key, -1 if none. */
static int64_t
map_get(const struct key_map *m, const void *key, size_t len)
{
	uint64_t h[2];

	key_hash(key, len, h);
	return m->off[map_slot(m, h)];
}

/* ------------------------------------------------------------------ */
/* File names                                                          */
/* ------------------------------------------------------------------ */

/* "NNN.ext" or "NNN.ext.cleaned" into buf (48 bytes). */
static void
clean_name(char *buf, int64_t base, const char *ext, int cleaned)
{
	snprintf(buf, 48, "%020" PRId64 ".%s%s", base, ext,
	    cleaned ? CLEAN_SUFFIX : "");
}

static const char *const exts[] = { "log", "idx", "tix" };

static void
unlink_cleaned(int dirfd, int64_t base)
{
	char name[48];
	size_t i;

	for (i = 0; i < 3; i++) {
		clean_name(name, base, exts[i], 1);
		unlinkat(dirfd, name, 0);
	}
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
point_write(int dirfd, int64_t point)
{
	char buf[32];
	int fd, len, rc = 0;

	len = snprintf(buf, sizeof(buf), "%" PRId64 "\n", point);
	fd = openat(dirfd, CLEAN_POINT_TMP, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)len) != len || fdatasync(fd) < 0)
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(dirfd, CLEAN_POINT_TMP, dirfd,
	    CLEAN_POINT_FILE) < 0)
		rc = -errno;
	if (rc == 0 && fsync(dirfd) < 0)
		rc = -errno;
	return rc;
}

static int64_t
point_read(int dirfd)
{
	char buf[32], *end;
	ssize_t n;
	long long v;
	int fd;

	fd = openat(dirfd, CLEAN_POINT_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 2 || buf[n - 1] != '\n' || buf[0] < '0' || buf[0] > '9')
		return 0;
	buf[n] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\n')
		return 0;
	return v;
}

/* "NNN.ext.cleaned": the base and ext index (0 log, 1 idx, 2 tix). */
static int64_t
cleaned_base(const char *name, int *ext)
{
	char *end;
	long long v;
	size_t i;

	if (strlen(name) != LOGD_SEGMENT_NAME_LEN + 4 + strlen(CLEAN_SUFFIX) ||
	    strcmp(name + LOGD_SEGMENT_NAME_LEN + 4, CLEAN_SUFFIX) != 0 ||
	    name[0] < '0' || name[0] > '9' || name[LOGD_SEGMENT_NAME_LEN] != '.')
		return -1;
	for (i = 0; i < 3; i++)
		if (strncmp(name + LOGD_SEGMENT_NAME_LEN + 1, exts[i], 3) == 0)
			break;
	if (i == 3)
		return -1;
	errno = 0;
	v = strtoll(name, &end, 10);
	if (errno != 0 || end != name + LOGD_SEGMENT_NAME_LEN || v < 0)
		return -1;
	*ext = (int)i;
	return v;
}

int
logd_clean_recover(int dirfd, int64_t *clean_point)
{
	struct dirent *de;
	char name[48], final[48];
	int64_t *undo = NULL, b;
	size_t nundo = 0, cap = 0, i;
	int fd, ext, changed = 0, rc = 0;
	DIR *d;

	unlinkat(dirfd, CLEAN_POINT_TMP, 0);
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -ENOMEM;
	}
	/* First pass: the swaps that did not commit. */
	while ((de = readdir(d)) != NULL) {
		if ((b = cleaned_base(de->d_name, &ext)) < 0 || ext != 0)
			continue;
		if (nundo == cap) {
			void *p = realloc(undo, (cap ? cap * 2 : 8) *
			    sizeof(*undo));

			if (p == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			undo = p;
			cap = cap ? cap * 2 : 8;
		}
		undo[nundo++] = b;
	}
	for (i = 0; i < nundo; i++)
		unlink_cleaned(dirfd, undo[i]);
	changed = nundo > 0;
	/* Second pass: indexes of committed swaps. */
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if ((b = cleaned_base(de->d_name, &ext)) < 0 || ext == 0)
			continue;
		for (i = 0; i < nundo && undo[i] != b; i++)
			;
		if (i < nundo)
			continue;   /* removed above */
		clean_name(name, b, exts[ext], 1);
		clean_name(final, b, "log", 0);
		if (fstatat(dirfd, final, &st, 0) == 0) {
			clean_name(final, b, exts[ext], 0);
			if (renameat(dirfd, name, dirfd, final) < 0) {
				rc = -errno;
				goto out;
			}
		} else {
			unlinkat(dirfd, name, 0);
		}
		changed = 1;
	}
	if (changed && fsync(dirfd) < 0)
		rc = -errno;
	*clean_point = point_read(dirfd);
out:
	closedir(d);
	free(undo);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Writing a cleaned segment                                           */
/* ------------------------------------------------------------------ */

struct seg_writer {
	int dirfd;
	int fd;
	int64_t base;
	uint8_t *buf;
	size_t used;
	size_t size;              /* bytes written so far, buffered too */
	struct logd_segment idx;  /* only its index fields are used */
	int err;
};

static int
writer_open(struct seg_writer *w, int dirfd, int64_t base,
    uint32_t index_bytes, uint32_t interval)
{
	char name[48];

	memset(w, 0, sizeof(*w));
	w->dirfd = dirfd;
	w->base = base;
	w->fd = -1;
	w->buf = malloc(WRITE_BUF);
	w->idx.idx = malloc(index_bytes);
	w->idx.tix = malloc(index_bytes);
	if (w->buf == NULL || w->idx.idx == NULL || w->idx.tix == NULL)
		return -ENOMEM;
	w->idx.base_offset = base;
	w->idx.max_timestamp = -1;
	w->idx.first_timestamp = -1;
	w->idx.tix_last = INT64_MIN;
	w->idx.index_interval = interval ? interval : 1;
	w->idx.idx_cap = index_bytes / LOGD_IDX_ENTRY;
	w->idx.tix_cap = index_bytes / LOGD_TIX_ENTRY;
	clean_name(name, base, "log", 1);
	w->fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);
	return w->fd < 0 ? -errno : 0;
}

static int
write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t r = write(fd, p, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/*
 * Writes the buffer out and starts its writeback now (sync_file_range),
 * so that the final fdatasync() has little left to do: a clean then
 * trickles to the disk instead of one long sync that the flusher's
 * acks=all syncs would queue behind.
 */
static int
writer_flush(struct seg_writer *w)
{
	int rc = write_all(w->fd, w->buf, w->used);

#ifdef SYNC_FILE_RANGE_WRITE
	if (rc == 0 && w->used > 0)
		(void)sync_file_range(w->fd, (off_t)(w->size - w->used),
		    (off_t)w->used, SYNC_FILE_RANGE_WRITE);
#endif
	w->used = 0;
	return rc;
}

/* Appends one whole batch. */
static int
writer_add(struct seg_writer *w, const uint8_t *b, size_t len)
{
	int rc;

	seg_index_batch(&w->idx, w->size, len, logd_hdr_base(b),
	    logd_hdr_max_ts(b));
	if (len > WRITE_BUF - w->used) {
		if ((rc = writer_flush(w)) < 0)
			return rc;
		if (len > WRITE_BUF) {
			w->size += len;
			return write_all(w->fd, b, len);
		}
	}
	memcpy(w->buf + w->used, b, len);
	w->used += len;
	w->size += len;
	return 0;
}

/* Writes one index file, synced. */
static int
write_index(int dirfd, int64_t base, const char *ext, const uint8_t *p,
    size_t len)
{
	char name[48];
	int fd, rc;

	clean_name(name, base, ext, 1);
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, p, len);
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* Syncs the .log (its mtime set to mtime_ms) and writes the indexes. */
static int
writer_finish(struct seg_writer *w, int64_t mtime_ms)
{
	struct timespec ts[2];
	int rc;

	rc = writer_flush(w);
	ts[0].tv_sec = ts[1].tv_sec = mtime_ms / 1000;
	ts[0].tv_nsec = ts[1].tv_nsec = (mtime_ms % 1000) * 1000000;
	if (rc == 0 && futimens(w->fd, ts) < 0)
		rc = -errno;
	if (rc == 0 && fdatasync(w->fd) < 0)
		rc = -errno;
	if (close(w->fd) < 0 && rc == 0)
		rc = -errno;
	w->fd = -1;
	if (rc == 0)
		rc = write_index(w->dirfd, w->base, "idx", w->idx.idx,
		    (size_t)w->idx.idx_n * LOGD_IDX_ENTRY);
	if (rc == 0)
		rc = write_index(w->dirfd, w->base, "tix", w->idx.tix,
		    (size_t)w->idx.tix_n * LOGD_TIX_ENTRY);
	return rc;
}

static void
writer_free(struct seg_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->buf);
	free(w->idx.idx);
	free(w->idx.tix);
	w->fd = -1;
	w->buf = NULL;
	w->idx.idx = w->idx.tix = NULL;
}

/* ------------------------------------------------------------------ */
/* The clean                                                           */
/* ------------------------------------------------------------------ */

enum { ITEM_SKIP, ITEM_SAME, ITEM_NEW, ITEM_EMPTY };

struct clean_item {
	struct logd_segment *old; /* referenced */
	struct logd_segment *seg; /* the new one once swapped, or NULL */
	int64_t next;             /* old's range end */
	int was_clean;            /* wholly below the clean point */
	int what;                 /* ITEM_* decided by the run */
	int swapped;              /* committed on disk */
};

struct logd_clean {
	int dirfd;
	struct clean_item *items;
	size_t n;
	int64_t old_point, new_point;
	int64_t now_ms, delete_retention_ms;
	uint32_t index_bytes, index_interval;
	size_t map_bytes;
	int cancel;
	int err;
	uint64_t io_limit;        /* bytes a second read + written, 0: none */
	uint64_t io_bytes;
	int64_t io_start;
	struct logd_clean_stats st;
	/* run state */
	struct key_map map;
	struct logd_batch_builder *bld;
	uint8_t *scratch;
	size_t scratch_len, scratch_cap;
	struct logd_header *hdrs;
	size_t hdrs_cap;
};

/* Is segment i of log cleanable (closed, synced, old enough)? */
static int
seg_cleanable(const struct logd_log *log, size_t i, int64_t now_ms)
{
	const struct logd_segment *s = log->segs[i];
	int64_t lag = log->cfg.min_compaction_lag_ms;

	if (i + 1 >= log->nsegs)
		return 0;
	if (s->next_offset > log->rp_written || s->synced < s->size ||
	    s->index_dirty)
		return 0;
	/* a lazy segment's time is not known before it is loaded */
	return lag <= 0 || (!s->lazy && s->max_timestamp <= now_ms - lag);
}

double
logd_log_dirty_ratio(const struct logd_log *log, int64_t now_ms,
    uint64_t *dirty)
{
	uint64_t d = 0, c = 0;
	size_t i;

	for (i = 0; seg_cleanable(log, i, now_ms); i++) {
		if (log->segs[i]->next_offset <= log->clean_point)
			c += log->segs[i]->size;
		else
			d += log->segs[i]->size;
	}
	if (dirty != NULL)
		*dirty = d;
	return d + c ? (double)d / (double)(d + c) : 0.0;
}

int64_t
logd_log_clean_point(const struct logd_log *log)
{
	return log->clean_point;
}

static void
clean_free(struct logd_clean *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++) {
		logd_segment_unref(c->items[i].old);
		logd_segment_unref(c->items[i].seg);
	}
	if (c->dirfd >= 0)
		close(c->dirfd);
	map_free(&c->map);
	logd_batch_builder_free(c->bld);
	free(c->scratch);
	free(c->hdrs);
	free(c->items);
	free(c);
}

int
logd_log_clean_begin(struct logd_log *log, int64_t now_ms, unsigned flags,
    size_t map_bytes, struct logd_clean **out)
{
	struct logd_clean *c;
	uint64_t dirty;
	double ratio;
	size_t i, n;

	*out = NULL;
	if (!(log->cfg.cleanup_policy & LOGD_CLEANUP_COMPACT))
		return 0;
	if (log->cleaning)
		return -EBUSY;
	if (log->readonly)
		return LOGD_EREADONLY;
	/* Lazy segments (segment.h) are loaded once: checked before the
	 * cleaner reads them, and with their times for the lag. */
	for (i = 0; i + 1 < log->nsegs; i++) {
		int rc = log_load(log, log->segs[i]);

		if (rc < 0)
			return rc;
	}
	ratio = logd_log_dirty_ratio(log, now_ms, &dirty);
	for (n = 0; seg_cleanable(log, n, now_ms); n++)
		;
	if (n == 0 || (!(flags & LOGD_CLEAN_FORCE) && (dirty == 0 ||
	    ratio < log->cfg.min_cleanable_dirty_ratio)))
		return 0;
	/* The cleaner thread reads their maps: mapped, and held (a held
	 * segment is not unmapped). */
	for (i = 0; i < n; i++) {
		int rc = logd_segment_remap(log->dirfd, log->segs[i]);

		if (rc < 0)
			return rc;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->items = calloc(n, sizeof(*c->items));
	c->dirfd = fcntl(log->dirfd, F_DUPFD_CLOEXEC, 0);
	if (c->items == NULL || c->dirfd < 0) {
		int rc = c->dirfd < 0 ? -errno : -ENOMEM;

		clean_free(c);
		return rc;
	}
	for (i = 0; i < n; i++) {
		struct clean_item *it = &c->items[i];

		it->old = log->segs[i];
		logd_segment_ref(it->old);
		it->next = it->old->next_offset;
		it->was_clean = it->next <= log->clean_point;
		c->st.bytes_before += it->old->size;
	}
	c->n = n;
	c->old_point = c->new_point = log->clean_point;
	c->now_ms = now_ms;
	c->delete_retention_ms = log->cfg.delete_retention_ms;
	c->index_bytes = log->cfg.index_bytes;
	c->index_interval = log->cfg.index_interval;
	c->map_bytes = map_bytes ? map_bytes : LOGD_CLEAN_MAP_BYTES;
	log->cleaning = 1;
	*out = c;
	return 0;
}

void
logd_clean_cancel(struct logd_clean *c)
{
	__atomic_store_n(&c->cancel, 1, __ATOMIC_RELAXED);
}

static int
cancelled(struct logd_clean *c)
{
	return __atomic_load_n(&c->cancel, __ATOMIC_RELAXED);
}

void
logd_clean_set_io_limit(struct logd_clean *c, uint64_t bytes_per_sec)
{
	c->io_limit = bytes_per_sec;
}

/* Counts len bytes of I/O; sleeps while ahead of the limit. */
static void
throttle(struct logd_clean *c, size_t len)
{
	int64_t due, now;

	c->io_bytes += len;
	if (c->io_limit == 0)
		return;
	for (;;) {
		struct timespec ts = { 0, 0 };

		due = c->io_start + (int64_t)(c->io_bytes * 1000 / c->io_limit);
		now = wall_ms();
		if (due <= now + 5 || cancelled(c))
			return;
		ts.tv_nsec = (due - now > 100 ? 100 : due - now) * 1000000;
		nanosleep(&ts, NULL);
	}
}

/*
 * Maps the keys of the dirty items.  Sets new_point to the offset of the
 * first record left unmapped (the map is full), or the end of the last
 * dirty item.
 */
static int
build_map(struct logd_clean *c)
{
	struct logd_batch_iter it;
	struct logd_record rec;
	size_t i;
	int rc;

	for (i = 0; i < c->n; i++) {
		const struct logd_segment *s = c->items[i].old;
		size_t pos = 0;

		if (c->items[i].was_clean)
			continue;
		while (pos < s->size) {
			size_t sz = logd_hdr_size(s->map + pos);

			if (cancelled(c))
				return -ECANCELED;
			throttle(c, sz);
			rc = logd_batch_iter_init(&it, s->map + pos, sz);
			if (rc < 0)
				return rc;
			while ((rc = logd_batch_iter_next(&it, &rec)) == 1) {
				/* below the clean point: cleaned already */
				if (rec.key == NULL || rec.offset < c->old_point)
					continue;
				if (map_put(&c->map, rec.key, rec.key_len,
				    rec.offset) == 1) {
					logd_batch_iter_release(&it);
					c->new_point = rec.offset;
					return 0;
				}
			}
			if (rc < 0)
				return rc;
			pos += sz;
		}
		c->new_point = c->items[i].next;
	}
	return 0;
}

/* Copies rec's headers into c->hdrs for the builder. */
static int
decode_headers(struct logd_clean *c, const struct logd_record *rec)
{
	struct logd_header h;
	size_t pos = 0, n = 0;
	int rc;

	if ((size_t)rec->header_count > c->hdrs_cap) {
		void *p = realloc(c->hdrs, (size_t)rec->header_count *
		    sizeof(*c->hdrs));

		if (p == NULL)
			return -ENOMEM;
		c->hdrs = p;
		c->hdrs_cap = (size_t)rec->header_count;
	}
	while ((rc = logd_record_header_next(rec, &pos, &h)) == 1) {
		if (n == c->hdrs_cap)
			return LOGD_EBADBATCH;
		c->hdrs[n++] = h;
	}
	return rc < 0 ? rc : (int)n;
}

/* Finishes the builder's run into the scratch buffer. */
static int
run_flush(struct logd_clean *c, int64_t first, int lat, int64_t lat_ts)
{
	const uint8_t *b;
	size_t len;
	uint8_t *dst;
	int rc;

	if (logd_batch_builder_count(c->bld) == 0)
		return 0;
	rc = logd_batch_builder_finish(c->bld, &b, &len);
	if (rc < 0)
		return rc;
	if (c->scratch_len + len > c->scratch_cap) {
		size_t cap = c->scratch_cap ? c->scratch_cap : 65536;
		void *p;

		while (cap < c->scratch_len + len)
			cap *= 2;
		p = realloc(c->scratch, cap);
		if (p == NULL)
			return -ENOMEM;
		c->scratch = p;
		c->scratch_cap = cap;
	}
	dst = c->scratch + c->scratch_len;
	memcpy(dst, b, len);
	logd_batch_set_base_offset(dst, first);
	if (lat)
		logd_batch_set_log_append_time(dst, lat_ts);
	c->scratch_len += len;
	logd_batch_builder_reset(c->bld);
	return 0;
}

/*
 * Filters one batch: the batches to write for it in c->scratch, or
 * *same set when every record stays (write the batch as it is).
 */
static int
clean_batch(struct logd_clean *c, const struct clean_item *item,
    const uint8_t *p, size_t sz, int drop_tombstones, int *same)
{
	struct logd_batch_info info;
	struct logd_batch_iter it;
	struct logd_record rec;
	int64_t first = -1, prev = -1;
	int lat, rc, nh, dropped = 0;

	(void)item;
	c->scratch_len = 0;
	logd_batch_builder_reset(c->bld);
	if ((rc = logd_batch_header(p, sz, &info)) < 0)
		return rc;
	lat = (info.attributes & LOGD_ATTR_LOG_APPEND_TIME) != 0;
	if ((rc = logd_batch_iter_init(&it, p, sz)) < 0)
		return rc;
	while ((rc = logd_batch_iter_next(&it, &rec)) == 1) {
		int keep = 1;

		c->st.records_read++;
		if (rec.key == NULL) {
			keep = 0;
			c->st.keyless_dropped++;
		} else if (map_get(&c->map, rec.key, rec.key_len) >
		    rec.offset) {
			keep = 0;
		} else if (rec.value == NULL && drop_tombstones) {
			keep = 0;
			c->st.tombstones_dropped++;
		}
		if (!keep) {
			dropped = 1;
			continue;
		}
		c->st.records_kept++;
		if (prev >= 0 && rec.offset != prev + 1 &&
		    (rc = run_flush(c, first, lat, info.max_timestamp)) < 0)
			break;
		if (logd_batch_builder_count(c->bld) == 0)
			first = rec.offset;
		prev = rec.offset;
		if ((nh = decode_headers(c, &rec)) < 0) {
			rc = nh;
			break;
		}
		rc = logd_batch_builder_add(c->bld, rec.timestamp, rec.key,
		    rec.key_len, rec.value, rec.value_len, c->hdrs,
		    (size_t)nh);
		if (rc < 0)
			break;
	}
	logd_batch_iter_release(&it);
	if (rc < 0)
		return rc;
	*same = !dropped;
	if (dropped)
		return run_flush(c, first, lat, info.max_timestamp);
	return 0;
}

/* The mtime of item's .log in ms, -1 if it cannot be read. */
static int64_t
item_mtime(const struct logd_clean *c, const struct clean_item *it)
{
	struct stat st;
	char name[48];

	clean_name(name, it->old->base_offset, "log", 0);
	if (fstatat(c->dirfd, name, &st, 0) < 0)
		return -1;
	return (int64_t)st.st_mtim.tv_sec * 1000 +
	    st.st_mtim.tv_nsec / 1000000;
}

/* Writes the cleaned form of one segment aside (or decides it stays). */
static int
clean_segment(struct logd_clean *c, struct clean_item *it)
{
	const struct logd_segment *s = it->old;
	struct seg_writer w;
	int64_t mtime = item_mtime(c, it);
	int drop_tomb = it->was_clean && mtime >= 0 &&
	    mtime + c->delete_retention_ms < c->now_ms;
	size_t pos = 0;
	int rc, same, changed = 0;

	rc = writer_open(&w, c->dirfd, s->base_offset, c->index_bytes,
	    c->index_interval);
	while (rc == 0 && pos < s->size) {
		const uint8_t *p = s->map + pos;
		size_t sz = logd_hdr_size(p);

		if (cancelled(c)) {
			rc = -ECANCELED;
			break;
		}
		throttle(c, sz);
		rc = clean_batch(c, it, p, sz, drop_tomb, &same);
		if (rc == 0 && same)
			rc = writer_add(&w, p, sz);
		else if (rc == 0) {
			size_t q = 0;

			changed = 1;
			while (rc == 0 && q < c->scratch_len) {
				size_t bsz = logd_hdr_size(c->scratch + q);

				rc = writer_add(&w, c->scratch + q, bsz);
				q += bsz;
			}
		}
		pos += sz;
	}
	if (rc == 0 && !changed) {
		/* Nothing to drop: the segment stays; a dirty one is now
		 * clean, and its mtime starts the tombstones' clock. */
		writer_free(&w);
		unlink_cleaned(c->dirfd, s->base_offset);
		it->what = ITEM_SAME;
		c->st.bytes_after += s->size;
		return 0;
	}
	/* Emptied: deleted, but for the log's first segment, which stays
	 * as an empty file so that the log start does not move. */
	if (rc == 0 && w.size == 0 && it != &c->items[0]) {
		writer_free(&w);
		unlink_cleaned(c->dirfd, s->base_offset);
		it->what = ITEM_EMPTY;
		return 0;
	}
	if (rc == 0)
		rc = writer_finish(&w, it->was_clean && mtime >= 0 ? mtime :
		    c->now_ms);
	if (rc == 0) {
		it->what = ITEM_NEW;
		c->st.bytes_after += w.size;
	}
	writer_free(&w);
	if (rc < 0)
		unlink_cleaned(c->dirfd, s->base_offset);
	return rc;
}

/* The commit of one segment (see the top of the file). */
static int
swap_item(struct logd_clean *c, struct clean_item *it)
{
	int64_t base = it->old->base_offset;
	char from[48], to[48];
	size_t i;

	if (it->what == ITEM_SAME) {
		struct timespec ts[2];

		if (it->was_clean)
			return 0;
		ts[0].tv_sec = ts[1].tv_sec = c->now_ms / 1000;
		ts[0].tv_nsec = ts[1].tv_nsec = (c->now_ms % 1000) * 1000000;
		clean_name(to, base, "log", 0);
		(void)utimensat(c->dirfd, to, ts, 0);
		return 0;
	}
	for (i = 0; i < 3; i++) {
		clean_name(from, base, exts[i], 1);
		clean_name(to, base, exts[i], 0);
		if (it->what == ITEM_EMPTY ? unlinkat(c->dirfd, to, 0) < 0 &&
		    errno != ENOENT : renameat(c->dirfd, from, c->dirfd, to) < 0)
			return -errno;
		if (i == 0) {
			it->swapped = 1;
			if (fsync(c->dirfd) < 0)
				return -errno;
		}
	}
	return 0;
}

int
logd_clean_run(struct logd_clean *c)
{
	int64_t t0 = wall_ms();
	size_t i, last;
	int rc;

	c->io_start = t0;
	rc = map_init(&c->map, c->map_bytes);
	if (rc == 0)
		rc = logd_batch_builder_new(&c->bld);
	if (rc == 0)
		rc = build_map(c);
	c->st.keys = c->map.n;
	/* Items past the mapped range wait for the next clean. */
	for (last = 0; last < c->n && c->items[last].old->base_offset <
	    c->new_point; last++)
		;
	for (i = 0; rc == 0 && i < last; i++)
		rc = clean_segment(c, &c->items[i]);
	if (rc == 0 && fsync(c->dirfd) < 0)
		rc = -errno;
	for (i = 0; i < last && rc < 0; i++)
		unlink_cleaned(c->dirfd, c->items[i].old->base_offset);
	/* From here on, no cancel: the swaps are quick. */
	for (i = 0; rc == 0 && i < last; i++)
		rc = swap_item(c, &c->items[i]);
	if (rc == 0 && fsync(c->dirfd) < 0)
		rc = -errno;
	if (rc == 0 && c->new_point > c->old_point)
		rc = point_write(c->dirfd, c->new_point);
	for (i = 0; i < last; i++) {
		struct clean_item *it = &c->items[i];
		int r;

		if (!it->swapped || it->what != ITEM_NEW)
			continue;
		r = logd_segment_open(c->dirfd, it->old->base_offset, c->now_ms,
		    &it->seg);
		if (r == 0)
			r = logd_segment_load_closed(c->dirfd, it->seg, it->next,
			    1, c->index_bytes, c->index_interval);
		if (r == 0)
			logd_segment_release_fds(it->seg);
		if (r < 0 && rc == 0)
			rc = r;
	}
	c->st.run_ms = wall_ms() - t0;
	c->err = rc;
	return rc;
}

int
logd_log_clean_end(struct logd_log *log, struct logd_clean *c,
    struct logd_clean_stats *st)
{
	size_t i, j;
	int rc;

	if (c == NULL)
		return 0;
	log->cleaning = 0;
	for (i = 0; i < c->n; i++) {
		struct clean_item *it = &c->items[i];

		if (!it->swapped)
			continue;
		for (j = 0; j + 1 < log->nsegs && log->segs[j] != it->old; j++)
			;
		if (j + 1 >= log->nsegs)
			continue;   /* gone meanwhile: not ours to change */
		if (it->what == ITEM_NEW && it->seg == NULL)
			continue;   /* swapped but not reopened: the old map
			             * serves until the next open */
		c->st.segments++;
		log->closed_bytes -= it->old->size;
		log_unwarm(log, it->old);
		if (it->what == ITEM_NEW) {
			log->segs[j] = it->seg;
			log->closed_bytes += it->seg->size;
			logd_segment_unmap(it->seg);   /* maps on demand */
			it->seg = NULL;
		} else {
			/* Empty: the offsets join the previous segment's
			 * range (or the log starts later). */
			if (j > 0)
				log->segs[j - 1]->next_offset = it->next;
			memmove(log->segs + j, log->segs + j + 1,
			    (log->nsegs - j - 1) * sizeof(*log->segs));
			log->nsegs--;
			c->st.deleted++;
		}
		logd_segment_unref(it->old);   /* the log's reference */
	}
	rc = c->err;
	if (rc == 0 && c->new_point > log->clean_point)
		log->clean_point = c->new_point;
	c->st.clean_point = log->clean_point;
	if (st != NULL)
		*st = c->st;
	clean_free(c);
	return rc;
}

int
logd_log_clean(struct logd_log *log, int64_t now_ms, unsigned flags,
    struct logd_clean_stats *st)
{
	struct logd_clean *c;
	int rc;

	rc = logd_log_flush(log);
	if (rc < 0)
		return rc;
	rc = logd_log_clean_begin(log, now_ms, flags, 0, &c);
	if (rc < 0)
		return rc;
	if (c == NULL) {
		if (st != NULL) {
			memset(st, 0, sizeof(*st));
			st->clean_point = log->clean_point;
		}
		return 0;
	}
	logd_clean_run(c);
	return logd_log_clean_end(log, c, st);
}
