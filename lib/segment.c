/*
 * segment.c - segment files: creation, mapping, indexes, recovery scans,
 * lookups (the offline checks behind logctl verify and dump are in
 * verify.c).
 *
 * File formats and the index invariants are described in segment.h.  A
 * segment never moves its .log mapping once made while readers may hold
 * slices into it: sealing only trims the file past the bytes in use and
 * mprotect()s the index maps read-only (the .log map is read-only from
 * the start), and the map goes away with the last reference.  Batches in
 * a map were checked (CRC included) when they were appended or
 * recovered, so lookups decode headers directly, with bounds
 * checks only, so that a damaged index can give a wrong answer or an
 * error but never a read outside the map.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <limits.h>
#include <unistd.h>

#include "segment.h"

#define SEG_PAGE 4096
/*
 * Disk is reserved in steps, not a segment's capacity at once (a 128 MiB
 * log and two 10 MiB indexes per partition used to be fallocate'd while
 * empty).  The .log is written with pwritev(), which reports ENOSPC, so
 * it needs no reservation: the file holds what was written and its
 * mapping covers the capacity (pages past the end are never touched).
 * The indexes are written through their maps, where a full disk would
 * be SIGBUS: they are reserved SEG_INDEX_STEP at a time, before the
 * append that could need the room writes anything.
 */
#define SEG_INDEX_STEP (64 * 1024)

void
logd_segment_name(char *buf, int64_t base, const char *ext)
{
	snprintf(buf, 32, "%020" PRId64 ".%s", base, ext);
}

/* posix_fallocate, or ftruncate where the file system cannot. */
static int
seg_prealloc(int fd, size_t len)
{
	int rc = posix_fallocate(fd, 0, (off_t)len);

	if (rc == EOPNOTSUPP || rc == EINVAL) {
		if (ftruncate(fd, (off_t)len) < 0)
			return -errno;
		return 0;
	}
	return -rc;
}

void *
seg_map(int fd, size_t len, int prot, int *err)
{
	void *p;

	if (len == 0)
		return NULL;
	p = mmap(NULL, len, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		*err = -errno;
		return NULL;
	}
	return p;
}

static void
seg_unmap(void **p, size_t *len)
{
	if (*p != NULL)
		munmap(*p, *len);
	*p = NULL;
	*len = 0;
}

static uint64_t
seg_blocks(uint64_t n)
{
	return (n + SEG_PAGE - 1) / SEG_PAGE * SEG_PAGE;
}

static int64_t
seg_mtime_ms(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000 +
	    st->st_mtim.tv_nsec / 1000000;
}

static struct logd_segment *
seg_alloc(int64_t base, int64_t now_ms)
{
	struct logd_segment *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->base_offset = base;
	s->next_offset = base;
	s->max_timestamp = -1;
	s->first_timestamp = -1;
	s->created_ms = now_ms;
	s->tix_last = INT64_MIN;
	s->fd = s->idx_fd = s->tix_fd = -1;
	s->refs = 1;
	s->index_interval = 4096;
	pthread_mutex_init(&s->rsv_lock, NULL);
	return s;
}

/*
 * Opens one index file read-write, empty, mapped for len bytes with the
 * first SEG_INDEX_STEP of them reserved (*alloc).
 */
static int
seg_index_create(int dirfd, int64_t base, const char *ext, size_t len,
    int *fdp, uint8_t **map, size_t *map_len, size_t *alloc)
{
	char name[32];
	size_t first = len < SEG_INDEX_STEP ? len : SEG_INDEX_STEP;
	int fd, rc = 0;
	uint8_t *p;

	logd_segment_name(name, base, ext);
	fd = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = seg_prealloc(fd, first);
	if (rc < 0)
		goto fail;
	p = seg_map(fd, len, PROT_READ | PROT_WRITE, &rc);
	if (rc < 0)
		goto fail;
	*fdp = fd;
	*map = p;
	*map_len = len;
	*alloc = first;
	return 0;
fail:
	close(fd);
	unlinkat(dirfd, name, 0);
	return rc;
}

/* Room on disk for n more entries of esize in one index. */
static int
seg_index_room(int fd, size_t *alloc, size_t map_len, uint32_t used,
    size_t esize, size_t n)
{
	size_t need = ((size_t)used + n) * esize, want;
	int rc;

	if (need <= *alloc || *alloc >= map_len)
		return 0;
	want = (need / SEG_INDEX_STEP + 1) * SEG_INDEX_STEP;
	if (want > map_len)
		want = map_len;
	if ((rc = seg_prealloc(fd, want)) < 0)
		return rc;
	*alloc = want;
	return 0;
}

static void
seg_index_drop(struct logd_segment *s)
{
	seg_unmap((void **)&s->idx, &s->idx_map_len);
	seg_unmap((void **)&s->tix, &s->tix_map_len);
	if (s->idx_fd >= 0)
		close(s->idx_fd);
	if (s->tix_fd >= 0)
		close(s->tix_fd);
	s->idx_fd = s->tix_fd = -1;
	s->idx_n = s->idx_cap = s->tix_n = s->tix_cap = 0;
	s->idx_alloc = s->tix_alloc = 0;
}

/* Empty, writable indexes of index_bytes each. */
static int
seg_index_new(int dirfd, struct logd_segment *s, uint32_t index_bytes)
{
	int rc;

	seg_index_drop(s);
	rc = seg_index_create(dirfd, s->base_offset, "idx", index_bytes,
	    &s->idx_fd, &s->idx, &s->idx_map_len, &s->idx_alloc);
	if (rc < 0)
		return rc;
	rc = seg_index_create(dirfd, s->base_offset, "tix", index_bytes,
	    &s->tix_fd, &s->tix, &s->tix_map_len, &s->tix_alloc);
	if (rc < 0) {
		seg_index_drop(s);
		return rc;
	}
	s->idx_cap = index_bytes / LOGD_IDX_ENTRY;
	s->tix_cap = index_bytes / LOGD_TIX_ENTRY;
	s->since_index = 0;
	s->tix_last = INT64_MIN;
	return 0;
}

int
logd_segment_create(int dirfd, int64_t base, size_t capacity,
    uint32_t index_bytes, uint32_t index_interval, int64_t now_ms,
    struct logd_segment **out)
{
	struct logd_segment *s = seg_alloc(base, now_ms);
	char name[32];
	int rc = 0;

	if (s == NULL)
		return -ENOMEM;
	s->index_interval = index_interval;
	logd_segment_name(name, base, "log");
	s->fd = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);
	if (s->fd < 0) {
		rc = -errno;
		goto fail;
	}
	/* Nothing reserved: pwritev() extends the file (see SEG_INDEX_STEP).
	 * The map is only read: see logd_segment_append. */
	s->map = seg_map(s->fd, capacity, PROT_READ, &rc);
	if (rc < 0)
		goto fail;
	s->map_len = capacity;
	s->capacity = capacity;
	s->writable = 1;
	rc = seg_index_new(dirfd, s, index_bytes);
	if (rc < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	if (s->fd >= 0) {
		unlinkat(dirfd, name, 0);
		s->deleted = 1;
	}
	logd_segment_unref(s);
	return rc;
}

int
logd_segment_open(int dirfd, int64_t base, int64_t now_ms,
    struct logd_segment **out)
{
	struct logd_segment *s = seg_alloc(base, now_ms);
	struct stat st;
	char name[32];
	int rc = 0;

	if (s == NULL)
		return -ENOMEM;
	logd_segment_name(name, base, "log");
	s->fd = openat(dirfd, name, O_RDWR | O_CLOEXEC);
	if (s->fd < 0 || fstat(s->fd, &st) < 0) {
		rc = -errno;
		goto fail;
	}
	if ((uint64_t)st.st_size > UINT32_MAX) {
		rc = LOGD_ECORRUPT;
		goto fail;
	}
	s->map = seg_map(s->fd, (size_t)st.st_size, PROT_READ, &rc);
	if (rc < 0)
		goto fail;
	s->map_len = (size_t)st.st_size;
	s->mtime_ms = seg_mtime_ms(&st);
	/* A long log must open with few fds: the map is enough to read. */
	close(s->fd);
	s->fd = -1;
	*out = s;
	return 0;
fail:
	logd_segment_unref(s);
	return rc;
}

int
logd_segment_open_lazy(int dirfd, int64_t base, int64_t next,
    int64_t now_ms, struct logd_segment **out)
{
	static const char *const exts[] = { "log", "idx", "tix" };
	struct logd_segment *s;
	struct stat st;
	char name[32];
	size_t i;
	int rc;

	if (next < base)
		return LOGD_ECORRUPT;
	if ((s = seg_alloc(base, now_ms)) == NULL)
		return -ENOMEM;
	for (i = 0; i < 3; i++) {
		logd_segment_name(name, base, exts[i]);
		if (fstatat(dirfd, name, &st, 0) < 0) {
			if (i > 0 && errno == ENOENT)
				continue;
			rc = -errno;
			goto fail;
		}
		if (i == 0) {
			if ((uint64_t)st.st_size > UINT32_MAX) {
				rc = LOGD_ECORRUPT;
				goto fail;
			}
			s->size = (size_t)st.st_size;
			s->mtime_ms = seg_mtime_ms(&st);
		}
		s->lazy_disk += seg_blocks((uint64_t)st.st_size);
	}
	s->capacity = s->synced = s->size;
	s->next_offset = next;
	s->lazy = 1;
	*out = s;
	return 0;
fail:
	logd_segment_unref(s);
	return rc;
}

/* Reopens the .log read-write by name when its fd was closed. */
static int
seg_log_fd(int dirfd, struct logd_segment *s)
{
	char name[32];

	if (s->fd >= 0)
		return 0;
	logd_segment_name(name, s->base_offset, "log");
	s->fd = openat(dirfd, name, O_RDWR | O_CLOEXEC);
	return s->fd < 0 ? -errno : 0;
}

void
logd_segment_release_fds(struct logd_segment *s)
{
	struct stat st;

	if (s->writable || s->in_flush)
		return;
	if (s->fd >= 0) {
		if (fstat(s->fd, &st) == 0)
			s->mtime_ms = seg_mtime_ms(&st);
		close(s->fd);
		s->fd = -1;
	}
	if (s->idx_fd >= 0)
		close(s->idx_fd);
	if (s->tix_fd >= 0)
		close(s->tix_fd);
	s->idx_fd = s->tix_fd = -1;
}

/* Index entry accessors. */
static inline uint32_t
idx_rel(const struct logd_segment *s, uint32_t i)
{
	return logd_be32(s->idx + (size_t)i * LOGD_IDX_ENTRY);
}

static inline uint32_t
idx_pos(const struct logd_segment *s, uint32_t i)
{
	return logd_be32(s->idx + (size_t)i * LOGD_IDX_ENTRY + 4);
}

static inline int64_t
tix_ts(const struct logd_segment *s, uint32_t i)
{
	return (int64_t)logd_be64(s->tix + (size_t)i * LOGD_TIX_ENTRY);
}

static inline uint32_t
tix_rel(const struct logd_segment *s, uint32_t i)
{
	return logd_be32(s->tix + (size_t)i * LOGD_TIX_ENTRY + 8);
}

void
seg_index_batch(struct logd_segment *s, size_t pos, size_t size,
    int64_t base, int64_t max_ts)
{
	if (pos > 0 && s->since_index >= s->index_interval) {
		uint32_t rel = (uint32_t)(base - s->base_offset);

		if (s->idx_n < s->idx_cap) {
			uint8_t *e = s->idx + (size_t)s->idx_n * LOGD_IDX_ENTRY;

			logd_put_be32(e, rel);
			logd_put_be32(e + 4, (uint32_t)pos);
			s->idx_n++;
			if (s->max_timestamp > s->tix_last &&
			    s->tix_n < s->tix_cap) {
				e = s->tix + (size_t)s->tix_n * LOGD_TIX_ENTRY;
				logd_put_be64(e, (uint64_t)s->max_timestamp);
				logd_put_be32(e + 8, rel);
				s->tix_n++;
				s->tix_last = s->max_timestamp;
			}
		}
		s->since_index = 0;
	}
	s->since_index += size;
	if (pos == 0)
		s->first_timestamp = max_ts;
	if (max_ts > s->max_timestamp)
		s->max_timestamp = max_ts;
}

int
logd_segment_unmap(struct logd_segment *s)
{
	if (s->writable || s->refs != 1 || s->map == NULL)
		return 0;
	seg_unmap((void **)&s->map, &s->map_len);
	seg_unmap((void **)&s->idx, &s->idx_map_len);
	seg_unmap((void **)&s->tix, &s->tix_map_len);
	return 1;
}

/* Maps one file of a closed segment read-only; its length in *len. */
static int
seg_map_file(int dirfd, int64_t base, const char *ext, uint8_t **map,
    size_t *len)
{
	struct stat st;
	char name[32];
	int fd, rc = 0;

	logd_segment_name(name, base, ext);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (st.st_size > 0)
		*map = seg_map(fd, (size_t)st.st_size, PROT_READ, &rc);
	close(fd);
	if (rc == 0)
		*len = (size_t)st.st_size;
	return rc;
}

int
logd_segment_remap(int dirfd, struct logd_segment *s)
{
	int rc;

	if (s->map != NULL || s->writable || s->size == 0)
		return 0;
	if ((rc = seg_map_file(dirfd, s->base_offset, "log", &s->map,
	    &s->map_len)) < 0 ||
	    (rc = seg_map_file(dirfd, s->base_offset, "idx", &s->idx,
	    &s->idx_map_len)) < 0 ||
	    (rc = seg_map_file(dirfd, s->base_offset, "tix", &s->tix,
	    &s->tix_map_len)) < 0)
		goto fail;
	/* The files are what was opened: anything else is damage. */
	if (s->map_len < s->size ||
	    s->idx_map_len < (size_t)s->idx_n * LOGD_IDX_ENTRY ||
	    s->tix_map_len < (size_t)s->tix_n * LOGD_TIX_ENTRY) {
		rc = LOGD_ECORRUPT;
		goto fail;
	}
	return 0;
fail:
	seg_unmap((void **)&s->map, &s->map_len);
	seg_unmap((void **)&s->idx, &s->idx_map_len);
	seg_unmap((void **)&s->tix, &s->tix_map_len);
	return rc;
}

uint64_t
logd_segment_disk(const struct logd_segment *s)
{
	uint64_t idx, tix;
	size_t log;

	if (s->lazy)
		return s->lazy_disk;
	idx = s->writable ? s->idx_alloc :
	    (uint64_t)s->idx_n * LOGD_IDX_ENTRY;
	tix = s->writable ? s->tix_alloc :
	    (uint64_t)s->tix_n * LOGD_TIX_ENTRY;
	log = s->writable && s->rsv_end > s->size ? s->rsv_end : s->size;

	return seg_blocks(log) + seg_blocks(idx) + seg_blocks(tix);
}

int
logd_segment_index_full(const struct logd_segment *s)
{
	return s->idx_n + 1 >= s->idx_cap || s->tix_n + 1 >= s->tix_cap;
}

/* pwritev() of all of iov at off, through short writes and EINTR. */
static int
seg_pwritev_all(int fd, struct iovec *iov, int n, off_t off)
{
	while (n > 0) {
		ssize_t r = pwritev(fd, iov, n > IOV_MAX ? IOV_MAX : n, off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		off += r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/*
 * The .log reserve: a step as large as the data (RSV_CHUNK at least,
 * RSV_STEP at most, so a small partition reserves little), renewed once
 * less than a quarter of it is left, written RSV_CHUNK at a time (each
 * chunk holds the file's write lock that long, so an append waits at
 * most that).
 */
#define RSV_STEP (1u << 20)
#define RSV_CHUNK (64u << 10)

int
logd_segment_reserve_begin(struct logd_segment *s, size_t *from, size_t *to)
{
	size_t a, b, step = s->size < RSV_CHUNK ? RSV_CHUNK :
	    s->size > RSV_STEP ? RSV_STEP : s->size;

	if (!s->writable || s->rsv_busy || s->fd < 0 ||
	    s->rsv_end >= s->size + step / 4)
		return 0;
	/* From the page after the one being written at the least. */
	a = (s->size + SEG_PAGE - 1) / SEG_PAGE * SEG_PAGE;
	if (a < s->rsv_end)
		a = s->rsv_end;
	b = s->size + step < s->capacity ? s->size + step : s->capacity;
	if (b <= a)
		return 0;
	s->rsv_busy = 1;
	s->rsv_from = a;
	s->rsv_cancel = 0;
	s->rsv_done = a;
	*from = a;
	*to = b;
	return 1;
}

void
logd_segment_reserve_run(struct logd_segment *s, size_t from, size_t to)
{
	static const uint8_t zeros[RSV_CHUNK];
	size_t pos = from;

	while (pos < to) {
		size_t n = to - pos < RSV_CHUNK ? to - pos : RSV_CHUNK;
		ssize_t w;

		pthread_mutex_lock(&s->rsv_lock);
		if (s->rsv_cancel) {
			pthread_mutex_unlock(&s->rsv_lock);
			break;
		}
		w = pwrite(s->fd, zeros, n, (off_t)pos);
		if (w > 0)
			s->rsv_done = pos + (size_t)w;
		pthread_mutex_unlock(&s->rsv_lock);
		if (w <= 0)
			break;             /* a full disk: reserve less */
		pos += (size_t)w;
	}
}

/* On the log's thread: no more zeros from the job once this returns. */
static void
seg_reserve_cancel(struct logd_segment *s)
{
	pthread_mutex_lock(&s->rsv_lock);
	s->rsv_cancel = 1;
	pthread_mutex_unlock(&s->rsv_lock);
	s->rsv_from = SIZE_MAX;    /* later appends need not ask again */
}

void
logd_segment_reserve_end(struct logd_segment *s)
{
	pthread_mutex_lock(&s->rsv_lock);
	if (s->rsv_done > s->rsv_end)
		s->rsv_end = s->rsv_done;
	pthread_mutex_unlock(&s->rsv_lock);
	s->rsv_busy = 0;
}

#define SEG_IOV_BATCHES 128

int
logd_segment_append(struct logd_segment *s, const uint8_t *data, size_t len,
    int64_t append_time)
{
	uint8_t hdrs[SEG_IOV_BATCHES][LOGD_BATCH_HEADER_SIZE];
	struct iovec iov[2 * SEG_IOV_BATCHES];
	/* Written from copies of the headers, never through the map: the
	 * map is read-only, so the kernel never has to take write access to
	 * a page back from it (write-protecting it for writeback, then a
	 * fault on the next write) while the flusher syncs the file. */
	size_t hl = append_time >= 0 ? LOGD_BATCH_HEADER_SIZE : 8;
	int64_t next = s->next_offset;
	size_t done = 0, pos;
	int rc;

	/*
	 * Index room first (an entry at most every index_interval bytes, one
	 * of each index), then the data: on failure nothing becomes visible.
	 */
	if (s->idx_fd >= 0 && s->tix_fd >= 0) {
		size_t n = len / (s->index_interval ? s->index_interval : 1) + 2;

		if ((rc = seg_index_room(s->idx_fd, &s->idx_alloc,
		    s->idx_map_len, s->idx_n, LOGD_IDX_ENTRY, n)) < 0 ||
		    (rc = seg_index_room(s->tix_fd, &s->tix_alloc,
		    s->tix_map_len, s->tix_n, LOGD_TIX_ENTRY, n)) < 0)
			return rc;
	}
	if (s->rsv_busy && s->size + len > s->rsv_from)
		seg_reserve_cancel(s);
	while (done < len) {
		size_t from = done;
		int n = 0;

		while (done < len && n < SEG_IOV_BATCHES) {
			const uint8_t *p = data + done;
			size_t sz = logd_hdr_size(p);

			if (append_time >= 0)
				logd_batch_stamp_header(hdrs[n], p,
				    append_time);
			logd_put_be64(hdrs[n], (uint64_t)next);
			iov[2 * n].iov_base = hdrs[n];
			iov[2 * n].iov_len = hl;
			iov[2 * n + 1].iov_base = (void *)(p + hl);
			iov[2 * n + 1].iov_len = sz - hl;
			next += logd_hdr_last(p) - logd_hdr_base(p) + 1;
			done += sz;
			n++;
		}
		rc = seg_pwritev_all(s->fd, iov, 2 * n,
		    (off_t)(s->size + from));
		if (rc < 0)
			return rc;
	}
	next = s->next_offset;
	for (pos = 0; pos < len;) {
		const uint8_t *p = data + pos;
		size_t sz = logd_hdr_size(p);
		int64_t max_ts = logd_hdr_max_ts(p);

		if (append_time >= 0)
			max_ts = append_time;
		seg_index_batch(s, s->size + pos, sz, next, max_ts);
		next += logd_hdr_last(p) - logd_hdr_base(p) + 1;
		pos += sz;
	}
	s->size += len;
	s->next_offset = next;
	return 0;
}

int
logd_segment_grow(struct logd_segment *s, size_t capacity)
{
	uint8_t *map;
	int rc = 0;

	if (s->size != 0 || !s->writable || capacity <= s->capacity)
		return s->size != 0 || !s->writable ? -EINVAL : 0;
	map = seg_map(s->fd, capacity, PROT_READ, &rc);
	if (rc < 0)
		return rc;
	seg_unmap((void **)&s->map, &s->map_len);
	s->map = map;
	s->map_len = capacity;
	s->capacity = capacity;
	return 0;
}

int
logd_segment_seal(struct logd_segment *s)
{
	int rc = 0;

	if (!s->writable)
		return 0;
	if (s->rsv_busy)
		seg_reserve_cancel(s);
	s->writable = 0;
	s->capacity = s->size;
	s->rsv_end = s->size;
	s->index_dirty = 1;
	if (ftruncate(s->fd, (off_t)s->size) < 0)
		rc = -errno;
	if (s->idx_fd >= 0 &&
	    ftruncate(s->idx_fd, (off_t)s->idx_n * LOGD_IDX_ENTRY) < 0 &&
	    rc == 0)
		rc = -errno;
	if (s->tix_fd >= 0 &&
	    ftruncate(s->tix_fd, (off_t)s->tix_n * LOGD_TIX_ENTRY) < 0 &&
	    rc == 0)
		rc = -errno;
	s->idx_cap = s->idx_n;
	s->tix_cap = s->tix_n;
	if (s->idx != NULL)
		mprotect(s->idx, s->idx_map_len, PROT_READ);
	if (s->tix != NULL)
		mprotect(s->tix, s->tix_map_len, PROT_READ);
	return rc;
}

/* A header at p with room left in [p, end): its size, or 0 if absurd. */
static inline size_t
seg_hdr_ok(const uint8_t *p, const uint8_t *end)
{
	size_t sz;

	if ((size_t)(end - p) < LOGD_BATCH_HEADER_SIZE)
		return 0;
	sz = logd_hdr_size(p);
	if (sz < LOGD_BATCH_HEADER_SIZE || sz > (size_t)(end - p))
		return 0;
	return sz;
}

/* Position to start scanning for offset: last index entry <= it. */
static size_t
seg_index_lookup(const struct logd_segment *s, int64_t offset)
{
	uint32_t lo = 0, hi = s->idx_n;
	uint64_t rel = (uint64_t)(offset - s->base_offset);

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (idx_rel(s, mid) <= rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == 0 ? 0 : idx_pos(s, lo - 1);
}

int
logd_segment_find(const struct logd_segment *s, int64_t offset, size_t *pos)
{
	const uint8_t *end = s->map + s->size, *p;
	size_t sz;

	if (offset < s->base_offset || offset >= s->next_offset)
		return LOGD_ERANGE;
	if (s->size == 0)
		return -ENOENT;       /* emptied by the cleaner */
	p = s->map + seg_index_lookup(s, offset);
	if (p > end)
		return LOGD_ECORRUPT;
	while ((sz = seg_hdr_ok(p, end)) != 0) {
		/* A cleaned segment has gaps: the first batch at or past
		 * offset is the answer, even if it starts above it. */
		if (logd_hdr_last(p) >= offset) {
			*pos = (size_t)(p - s->map);
			return 0;
		}
		p += sz;
	}
	return p == end ? -ENOENT : LOGD_ECORRUPT;
}

int
logd_segment_offset_for_time(const struct logd_segment *s, int64_t ts,
    int64_t *offset)
{
	const uint8_t *end = s->map + s->size, *p;
	struct logd_batch_iter it;
	struct logd_record rec;
	uint32_t lo = 0, hi = s->tix_n;
	int64_t start = s->base_offset;
	size_t pos, sz;
	int rc;

	if (s->size == 0 || s->max_timestamp < ts) {
		*offset = -1;
		return 0;
	}
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (tix_ts(s, mid) < ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0)
		start = s->base_offset + tix_rel(s, lo - 1);
	if (start >= s->next_offset) {
		*offset = -1;
		return 0;
	}
	if (logd_segment_find(s, start, &pos) < 0)
		return -EIO;
	for (p = s->map + pos; (sz = seg_hdr_ok(p, end)) != 0; p += sz) {
		if (logd_hdr_max_ts(p) < ts)
			continue;
		rc = logd_batch_iter_init(&it, p, sz);
		if (rc < 0) {
			/* A compressed batch that does not inflate here (out
			 * of memory): its first offset is a safe answer. */
			*offset = logd_hdr_base(p);
			return 0;
		}
		while ((rc = logd_batch_iter_next(&it, &rec)) == 1) {
			if (rec.timestamp >= ts) {
				*offset = rec.offset;
				logd_batch_iter_release(&it);
				return 0;
			}
		}
		return -EIO; /* maxTimestamp promised a record */
	}
	*offset = -1;
	return 0;
}

void
logd_segment_scan(const struct logd_segment *s, int gaps, size_t *valid,
    int64_t *next, uint32_t *batches)
{
	struct logd_batch_info info;
	int64_t expect = s->base_offset;
	size_t pos = 0;
	uint32_t n = 0;

	while (pos < s->map_len &&
	    logd_batch_check(s->map + pos, s->map_len - pos, &info) == 0 &&
	    (info.base_offset == expect ||
	    (gaps && info.base_offset > expect))) {
		pos += info.size;
		expect = info.last_offset + 1;
		n++;
	}
	*valid = pos;
	*next = expect;
	*batches = n;
}

int
seg_all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

uint64_t
logd_segment_garbage(const struct logd_segment *s, size_t pos)
{
	size_t end = pos, p = pos;

	while (p < s->map_len) {
		size_t page_end = (p / SEG_PAGE + 1) * SEG_PAGE, i;

		if (page_end > s->map_len)
			page_end = s->map_len;
		if (seg_all_zero(s->map + p, page_end - p))
			break;
		for (i = page_end; i > p; i--)
			if (s->map[i - 1] != 0)
				break;
		end = i;
		p = page_end;
	}
	return end - pos;
}

/*
 * Header-only walk of [from, len) of s's map starting at offset expect:
 * stops at the first batch that does not decode or continue the offsets.
 * Returns the position reached; *next and *max_ts (max with its input)
 * are updated; *last_pos is the start of the last good batch.
 */
static size_t
seg_walk_headers(const struct logd_segment *s, size_t from, size_t len,
    int64_t *next, int64_t *max_ts, size_t *last_pos)
{
	struct logd_batch_info info;
	size_t pos = from;

	while (pos < len &&
	    logd_batch_header(s->map + pos, len - pos, &info) == 0 &&
	    info.base_offset >= *next && info.size <= len - pos) {
		*last_pos = pos;
		if (info.max_timestamp > *max_ts)
			*max_ts = info.max_timestamp;
		*next = info.last_offset + 1;
		pos += info.size;
	}
	return pos;
}

/* Maps an existing index file read-only; counts entries up to a zero. */
static int
seg_index_load(int dirfd, struct logd_segment *s, const char *ext,
    size_t esize, int *fdp, uint8_t **map, size_t *map_len, uint32_t *n)
{
	struct stat st;
	char name[32];
	uint32_t lo, hi;
	uint8_t *p;
	int fd, rc = 0;

	logd_segment_name(name, s->base_offset, ext);
	fd = openat(dirfd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > UINT32_MAX) {
		close(fd);
		return LOGD_ECORRUPT;
	}
	p = seg_map(fd, (size_t)st.st_size, PROT_READ, &rc);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	/*
	 * Entries are a prefix; their last u32 (an .idx position, a .tix
	 * relative offset) is never 0.
	 */
	lo = 0;
	hi = (uint32_t)((size_t)st.st_size / esize);
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (logd_be32(p + (size_t)mid * esize + esize - 4) != 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*fdp = fd;
	*map = p;
	*map_len = (size_t)st.st_size;
	*n = lo;
	return 0;
}

/* Do the loaded indexes look right for a segment of size bytes? */
static int
seg_index_sane(const struct logd_segment *s, size_t size, int64_t next)
{
	uint64_t span = (uint64_t)(next - s->base_offset);
	uint32_t i;

	for (i = 0; i < s->idx_n; i++) {
		if (idx_pos(s, i) >= size || idx_rel(s, i) >= span ||
		    idx_pos(s, i) == 0)
			return 0;
		if (i > 0 && (idx_rel(s, i) <= idx_rel(s, i - 1) ||
		    idx_pos(s, i) <= idx_pos(s, i - 1)))
			return 0;
	}
	for (i = 0; i < s->tix_n; i++) {
		if (tix_rel(s, i) > span)
			return 0;
		if (i > 0 && (tix_rel(s, i) <= tix_rel(s, i - 1) ||
		    tix_ts(s, i) < tix_ts(s, i - 1)))
			return 0;
	}
	return s->idx_n > 0 || s->tix_n == 0;
}

/*
 * Rebuilds the indexes of s from its first valid bytes (headers only) and
 * sets size, next offset and timestamps from them.
 */
static int
seg_rebuild(int dirfd, struct logd_segment *s, size_t valid,
    uint32_t index_bytes, uint32_t index_interval)
{
	size_t pos = 0;
	int rc;

	s->index_interval = index_interval;
	rc = seg_index_new(dirfd, s, index_bytes);
	if (rc < 0)
		return rc;
	s->max_timestamp = -1;
	s->first_timestamp = -1;
	s->next_offset = s->base_offset;
	while (pos < valid) {
		const uint8_t *p = s->map + pos;
		size_t sz = logd_hdr_size(p);

		seg_index_batch(s, pos, sz, logd_hdr_base(p),
		    logd_hdr_max_ts(p));
		s->next_offset = logd_hdr_last(p) + 1;
		pos += sz;
	}
	s->size = valid;
	return 0;
}

int
logd_segment_load_closed(int dirfd, struct logd_segment *s, int64_t next,
    int gaps, uint32_t index_bytes, uint32_t index_interval)
{
	size_t flen = s->map_len, pos, last = 0, from = 0;
	int64_t expect = s->base_offset, max_ts = -1;
	int rc, indexes_ok;

	if (flen == 0 && gaps) {
		/* The cleaner left the log's first segment empty (so that the
		 * log start stays): no batches, no indexes. */
		seg_index_drop(s);
		s->size = s->capacity = s->synced = 0;
		s->next_offset = next;
		s->max_timestamp = s->first_timestamp = -1;
		return 0;
	}
	if (flen == 0)
		return LOGD_ECORRUPT;
	seg_index_drop(s);
	indexes_ok = seg_index_load(dirfd, s, "idx", LOGD_IDX_ENTRY,
	    &s->idx_fd, &s->idx, &s->idx_map_len, &s->idx_n) == 0 &&
	    seg_index_load(dirfd, s, "tix", LOGD_TIX_ENTRY, &s->tix_fd,
	    &s->tix, &s->tix_map_len, &s->tix_n) == 0 &&
	    seg_index_sane(s, flen, next);
	if (indexes_ok && s->idx_n > 0) {
		from = idx_pos(s, s->idx_n - 1);
		expect = s->base_offset + idx_rel(s, s->idx_n - 1);
	}
	if (indexes_ok && s->tix_n > 0)
		max_ts = tix_ts(s, s->tix_n - 1);
	pos = seg_walk_headers(s, from, flen, &expect, &max_ts, &last);
	if (expect > next || (!gaps && expect != next) || pos == from ||
	    !seg_all_zero(s->map + pos, flen - pos)) {
		/* The index may be what is wrong: walk the whole file. */
		indexes_ok = 0;
		expect = s->base_offset;
		max_ts = -1;
		pos = seg_walk_headers(s, 0, flen, &expect, &max_ts, &last);
		if (expect > next || (!gaps && expect != next) || pos == 0 ||
		    !seg_all_zero(s->map + pos, flen - pos))
			goto corrupt;
	}
	if (logd_batch_check(s->map + last, pos - last, NULL) != 0)
		goto corrupt;
	if ((pos < flen || !indexes_ok) && (rc = seg_log_fd(dirfd, s)) < 0)
		return rc;
	if (pos < flen && ftruncate(s->fd, (off_t)pos) < 0)
		return -errno;
	if (!indexes_ok) {
		rc = seg_rebuild(dirfd, s, pos, index_bytes, index_interval);
		if (rc < 0)
			return rc;
		s->writable = 1;
		rc = logd_segment_seal(s);
		if (rc < 0)
			return rc;
	}
	s->size = pos;
	s->capacity = pos;
	s->synced = pos;
	s->next_offset = next;
	s->max_timestamp = max_ts;
	s->first_timestamp = logd_hdr_max_ts(s->map);
	s->idx_cap = s->idx_n;
	s->tix_cap = s->tix_n;
	return 0;
corrupt:
	seg_index_drop(s);
	return LOGD_ECORRUPT;
}

int
logd_segment_load(int dirfd, struct logd_segment *s, int gaps,
    uint32_t index_bytes, uint32_t index_interval)
{
	int rc;

	if (!s->lazy)
		return logd_segment_remap(dirfd, s);
	rc = seg_map_file(dirfd, s->base_offset, "log", &s->map, &s->map_len);
	if (rc == 0)
		rc = logd_segment_load_closed(dirfd, s, s->next_offset, gaps,
		    index_bytes, index_interval);
	/* Rebuilt indexes: synced now (rare, after damage only), since the
	 * flusher looks for dirty segments at the log's end alone. */
	if (rc == 0 && s->index_dirty) {
		if (fdatasync(s->idx_fd) < 0 || fdatasync(s->tix_fd) < 0)
			rc = -errno;
		else
			s->index_dirty = 0;
	}
	if (rc < 0) {
		seg_index_drop(s);
		seg_unmap((void **)&s->map, &s->map_len);
		if (s->fd >= 0)
			close(s->fd);
		s->fd = -1;
		s->index_dirty = 0;
		return rc;
	}
	s->lazy = 0;
	logd_segment_release_fds(s);
	return 0;
}

int
logd_segment_reset(int dirfd, struct logd_segment *s, size_t valid,
    int64_t next, int active, size_t capacity, uint32_t index_bytes,
    uint32_t index_interval)
{
	int rc;

	if ((rc = seg_log_fd(dirfd, s)) < 0)
		return rc;
	if (active) {
		if (capacity < valid)
			capacity = valid;
		seg_unmap((void **)&s->map, &s->map_len);
		if (ftruncate(s->fd, (off_t)valid) < 0)
			return -errno;
		s->map = seg_map(s->fd, capacity, PROT_READ, &rc);
		if (rc < 0)
			return rc;
		s->map_len = capacity;
	} else if (s->map_len > valid && ftruncate(s->fd, (off_t)valid) < 0) {
		return -errno;
	}
	rc = seg_rebuild(dirfd, s, valid, index_bytes, index_interval);
	if (rc < 0)
		return rc;
	if (s->next_offset != next)
		return LOGD_ECORRUPT;
	s->synced = 0;
	s->writable = 1;
	s->capacity = capacity;
	if (!active)
		return logd_segment_seal(s);
	return 0;
}

void
logd_segment_unlink(int dirfd, struct logd_segment *s)
{
	static const char *const exts[] = { "log", "idx", "tix" };
	char name[32];
	size_t i;

	for (i = 0; i < 3; i++) {
		logd_segment_name(name, s->base_offset, exts[i]);
		unlinkat(dirfd, name, 0);
	}
	s->deleted = 1;
}

void
logd_segment_ref(struct logd_segment *s)
{
	s->refs++;
}

void
logd_segment_unref(struct logd_segment *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	seg_index_drop(s);
	seg_unmap((void **)&s->map, &s->map_len);
	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->rsv_lock);
	free(s);
}
