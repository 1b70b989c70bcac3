/*
 * segment.h - one segment of a partition log (internal to liblogd).
 *
 * A segment is three files named by its 20-digit base offset:
 *   NNN.log  the batches, back to back.  The active segment's file
 *            holds what was written (pwritev, no preallocation) and is
 *            mapped read-only to its capacity; a closed one is trimmed to
 *            its size (the map itself is never moved, so slices
 *            handed to readers stay valid).
 *   NNN.idx  offset index: 8-byte entries (u32 relative base offset of a
 *            batch, u32 position of the batch), big-endian, strictly
 *            increasing in both fields.  An entry is added for a batch
 *            when at least index_interval bytes were appended since the
 *            previous entry (or the segment start), so a position is never
 *            0 and an all-zero entry marks the end of a preallocated file.
 *   NNN.tix  time index: 12-byte entries (i64 timestamp T, u32 relative
 *            offset R), big-endian.  Invariant: every record of the
 *            segment with offset < base + R has a timestamp <= T.  Entries
 *            are added together with offset index entries (R is then the
 *            base of the indexed batch and T the largest maxTimestamp of
 *            the batches before it) when T grew since the last entry, so
 *            T is strictly increasing.  R is never 0, so an entry with
 *            R == 0 marks the end.  To find the first record with
 *            timestamp >= ts, start at the R of the last entry whose
 *            T < ts (or at the segment start).  A segment's max timestamp
 *            is max(T of the last entry, maxTimestamp of the batches from
 *            the last offset index entry on): a short scan at open.
 *
 * Reference counting: the log holds one reference, each logd_read and
 * each pending logd_flush one more.  All reference changes happen on the
 * log's thread (append, read, release, flush begin/end, retention,
 * close), so the count is a plain int.  logd_flush_run() on another
 * thread only uses the fds of segments whose references its flush holds
 * (the fds stay open until the last reference goes), never the count.
 *
 * Open files: a sealed segment needs its files no more (its maps stay
 * valid without them, retention unlinks by name, and a flush that must
 * still sync it opens the files by name for the sync), so its fds are
 * closed once no flush in flight holds them (logd_segment_release_fds).
 * A partition then holds open only its active segment, however long it
 * is and however fast it rolls (with fds kept until the next sync, 100
 * partitions rolling 64 KiB segments ran out of descriptors within a
 * second); the recovery paths that must change a file reopen it by name.
 */
#ifndef LOGD_SEGMENT_H
#define LOGD_SEGMENT_H

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "logd.h"

#define LOGD_IDX_ENTRY 8
#define LOGD_TIX_ENTRY 12
#define LOGD_SEGMENT_NAME_LEN 20

struct logd_segment {
	int64_t base_offset;
	int64_t next_offset;      /* offset after the last batch */
	int64_t max_timestamp;    /* largest batch maxTimestamp, -1 none */
	int64_t first_timestamp;  /* first batch's maxTimestamp, -1 none */
	int64_t created_ms;       /* for age when batches carry no time */
	uint8_t *map;             /* the .log mapping (NULL if map_len 0) */
	size_t map_len;
	size_t size;              /* bytes of whole batches */
	size_t capacity;          /* bytes writable (active), else size */
	size_t synced;            /* bytes known to be on disk */
	uint8_t *idx, *tix;       /* index mappings */
	size_t idx_map_len, tix_map_len;
	uint32_t idx_n, idx_cap;  /* entries used, entries that fit */
	uint32_t tix_n, tix_cap;
	size_t idx_alloc, tix_alloc;  /* index bytes reserved on disk */
	uint32_t index_interval;
	size_t since_index;       /* bytes appended since the last entry */
	int64_t tix_last;         /* T of the last time entry */
	int fd, idx_fd, tix_fd;   /* -1 once released (or not yet opened) */
	int64_t mtime_ms;         /* .log mtime when fd was last closed */
	int writable;             /* active: mapped read-write */
	int index_dirty;          /* sealed indexes not yet synced */
	int in_flush;             /* a flush in flight holds its fds */
	int refs;
	int deleted;              /* files unlinked */
	/*
	 * Opened lazily (logd_segment_open_lazy): a closed segment below
	 * the recovery point whose files were only stat()ed.  size,
	 * next_offset, mtime_ms and lazy_disk are known; the indexes, their
	 * counts and the timestamps are not until logd_segment_load().
	 */
	int lazy;
	uint64_t lazy_disk;       /* its three files' blocks, while lazy */
	/*
	 * The .log's reserve (active segment): zeros written ahead of the
	 * data by the flusher, so that appends overwrite allocated blocks
	 * and a sync writes data, not block maps and a new file size (twice
	 * as fast here).  rsv_end, rsv_busy and rsv_from belong to the
	 * log's thread; rsv_cancel and rsv_done are shared under rsv_lock.
	 */
	size_t rsv_end;           /* the file is zeros from size to here */
	int rsv_busy;             /* a reserve job [rsv_from, ...) queued */
	size_t rsv_from;
	pthread_mutex_t rsv_lock;
	int rsv_cancel;           /* the job must write no more */
	size_t rsv_done;          /* where the job's zeros end */
};

static inline uint32_t
logd_be32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return __builtin_bswap32(v);
}

static inline uint64_t
logd_be64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return __builtin_bswap64(v);
}

static inline void
logd_put_be32(uint8_t *p, uint32_t v)
{
	v = __builtin_bswap32(v);
	memcpy(p, &v, 4);
}

static inline void
logd_put_be64(uint8_t *p, uint64_t v)
{
	v = __builtin_bswap64(v);
	memcpy(p, &v, 8);
}

/* Header fields of a batch already checked once (no validation). */
static inline size_t
logd_hdr_size(const uint8_t *p)
{
	return (size_t)logd_be32(p + LOGD_BATCH_LENGTH_OFFSET) + 12;
}

static inline int64_t
logd_hdr_base(const uint8_t *p)
{
	return (int64_t)logd_be64(p);
}

static inline int64_t
logd_hdr_last(const uint8_t *p)
{
	return (int64_t)logd_be64(p) + (int32_t)logd_be32(p + 23);
}

static inline int64_t
logd_hdr_max_ts(const uint8_t *p)
{
	return (int64_t)logd_be64(p + 35);
}

/*
 * The header of the whole batch p as stored with LogAppendTime ts, into
 * h (LOGD_BATCH_HEADER_SIZE bytes, or p itself): the attribute bit,
 * maxTimestamp and the CRC over them and the rest of p (batch.c).
 */
void logd_batch_stamp_header(uint8_t *h, const uint8_t *p, int64_t ts);

/* "NNNNNNNNNNNNNNNNNNNN.ext" into buf (at least 32 bytes). */
void logd_segment_name(char *buf, int64_t base, const char *ext);

/*
 * Creates a new empty active segment in dirfd: the .log preallocated to
 * capacity and the indexes to index_bytes, all mapped read-write.
 * Existing files of that name are replaced.  One reference.
 */
int logd_segment_create(int dirfd, int64_t base, size_t capacity,
    uint32_t index_bytes, uint32_t index_interval, int64_t now_ms,
    struct logd_segment **out);

/*
 * Opens the existing segment base in dirfd for recovery: the .log mapped
 * read-only at its file size (size and next_offset are 0/base until the
 * caller establishes them), no indexes, no fd kept (the recovery calls
 * below reopen the file when they must change it).  One reference.
 */
int logd_segment_open(int dirfd, int64_t base, int64_t now_ms,
    struct logd_segment **out);

/*
 * Opens the closed segment base, trusted (below the recovery point, so
 * it was synced whole) and ending at offset next, without reading it:
 * its three files are stat()ed (the indexes may be missing: a load
 * rebuilds them), nothing is mapped or kept open.  The segment is lazy
 * until logd_segment_load().  A log of many segments opens in time
 * proportional to its directory, not to its data: a cold page cache
 * made every eager check a few random reads (6.5 s for 966 segments of
 * 10 MiB here).  One reference.
 */
int logd_segment_open_lazy(int dirfd, int64_t base, int64_t next,
    int64_t now_ms, struct logd_segment **out);

/*
 * Maps a closed segment for reading: a lazy one is loaded first (mapped,
 * then checked as logd_segment_load_closed() does, with gaps when the
 * cleaner rewrote it, indexes rebuilt and synced if they alone are
 * wrong), then it is an ordinary closed segment; any other is remapped
 * (logd_segment_remap).  LOGD_ECORRUPT when a lazy segment does not
 * verify: it stays lazy, unmapped and unchanged on disk, and every load
 * fails the same way.
 */
int logd_segment_load(int dirfd, struct logd_segment *s, int gaps,
    uint32_t index_bytes, uint32_t index_interval);

/*
 * Closes the segment's three fds if it is sealed and no flush in flight
 * holds them (in_flush); keeps the .log mtime in mtime_ms.  Does nothing
 * otherwise, or when they are closed already.  What is not yet synced
 * stays in the page cache: the next flush opens the files by name.
 */
void logd_segment_release_fds(struct logd_segment *s);

/*
 * Loads the existing .idx/.tix read-only and checks them against the
 * batches of a closed segment that must end exactly at the file's end
 * with next offset `next`: the last indexed batch and those after it are
 * checked (last one with its CRC).  With gaps (a closed segment the
 * cleaner rewrote) the batches may skip offsets and end below next.
 * On success sets size, next_offset and
 * max/first timestamps.  LOGD_ECORRUPT if the segment does not verify
 * (whole-file header scan included); indexes are rebuilt when they alone
 * are wrong.
 */
int logd_segment_load_closed(int dirfd, struct logd_segment *s,
    int64_t next, int gaps, uint32_t index_bytes, uint32_t index_interval);

/*
 * Scans the mapped .log from its start with logd_batch_check() and
 * offset continuity (with gaps, for a segment the cleaner rewrote:
 * increasing offsets): *valid is the end of the last good batch, *next the offset
 * after it, *batches how many were good.  Read-only.
 */
void logd_segment_scan(const struct logd_segment *s, int gaps,
    size_t *valid, int64_t *next, uint32_t *batches);

/*
 * Non-zero bytes of the file from pos up to the first all-zero page
 * after it (the approximation of "garbage" reported by recovery).
 */
uint64_t logd_segment_garbage(const struct logd_segment *s, size_t pos);

/*
 * Makes s hold exactly its first `valid` bytes (next offset `next`) and
 * rebuilds its indexes from them.  If active, it becomes the writable
 * segment with the given capacity (file preallocated again, so the tail
 * is zeros); otherwise it is trimmed and sealed read-only.
 */
int logd_segment_reset(int dirfd, struct logd_segment *s, size_t valid,
    int64_t next, int active, size_t capacity, uint32_t index_bytes,
    uint32_t index_interval);

/*
 * Maps on demand: a closed segment nobody reads (refs 1) gives its three
 * maps back (1 when it did, 0 when it keeps them); remap maps them again
 * read-only from the files, before a read or a time lookup.  The
 * segment's counts and timestamps stay in memory meanwhile.
 */
int logd_segment_unmap(struct logd_segment *s);
int logd_segment_remap(int dirfd, struct logd_segment *s);

/* The bytes of disk its three files take, rounded to 4 KiB blocks. */
uint64_t logd_segment_disk(const struct logd_segment *s);

/*
 * The reserve (see struct logd_segment).  reserve_begin, on the log's
 * thread, decides whether s needs more and returns 1 with the range to
 * zero; reserve_run writes it on any thread, a chunk at a time, stopping
 * early if the log's thread needs the room first (an append past
 * rsv_from, a seal); reserve_end, on the log's thread, takes the result.
 * Failures (a full disk) only leave less reserved.
 */
int logd_segment_reserve_begin(struct logd_segment *s, size_t *from,
    size_t *to);
void logd_segment_reserve_run(struct logd_segment *s, size_t from, size_t to);
void logd_segment_reserve_end(struct logd_segment *s);

/* 1 when an append of one more batch might not find index room. */
int logd_segment_index_full(const struct logd_segment *s);

/*
 * Appends whole batches (data, len: framing checked, and they fit) to
 * the end of the active segment: baseOffsets become consecutive from
 * next_offset, batches are stamped with append_time when it is >= 0,
 * and the indexes are updated.  The bytes go through pwritev() on the
 * file, not through the map: a page wholly overwritten by write() is not
 * read first, while a first write through a MAP_SHARED map faults the
 * page in and zero-fills it (most of the append time in profiles).  The
 * map shows the same page cache.  On error (a negated errno) nothing is
 * appended.
 */
int logd_segment_append(struct logd_segment *s, const uint8_t *data,
    size_t len, int64_t append_time);

/*
 * Gives an empty active segment a larger capacity (after the config's
 * segment size grew).  Safe only because no reader can hold a slice of
 * an empty segment.  -EINVAL if s is not empty and active.
 */
int logd_segment_grow(struct logd_segment *s, size_t capacity);

/*
 * Closes an active segment: files trimmed to their sizes, maps made
 * read-only, index_dirty set.  A failed trim is harmless: open trims a
 * zero tail of a closed segment.
 */
int logd_segment_seal(struct logd_segment *s);

/*
 * Position of the first batch whose last offset is >= offset (offset in
 * [base, next)): offset index lookup, then a header scan.  In a cleaned
 * segment that batch may start above offset (a gap).  LOGD_ERANGE
 * outside the segment, -ENOENT when only a gap is left after offset.
 */
int logd_segment_find(const struct logd_segment *s, int64_t offset,
    size_t *pos);

/*
 * Offset of the first record with timestamp >= ts in s, or -1 when the
 * segment has none.  -EIO if a batch cannot be decoded.
 */
int logd_segment_offset_for_time(const struct logd_segment *s, int64_t ts,
    int64_t *offset);

/* Unlinks the segment's three files (the maps and fds stay). */
void logd_segment_unlink(int dirfd, struct logd_segment *s);

void logd_segment_ref(struct logd_segment *s);
/* Drops a reference; the last one unmaps and closes everything. */
void logd_segment_unref(struct logd_segment *s);

/* Shared with verify.c: mmap of fd (NULL with *err on failure; len 0
 * gives NULL with *err 0), and whether len bytes at p are all zero. */
void *seg_map(int fd, size_t len, int prot, int *err);
/* Shared with cleaner.c: adds the index entries due for the batch at pos
 * (size bytes, base offset, max timestamp) to s's idx/tix buffers. */
void seg_index_batch(struct logd_segment *s, size_t pos, size_t size,
    int64_t base, int64_t max_ts);
int seg_all_zero(const uint8_t *p, size_t len);


#endif /* LOGD_SEGMENT_H */
