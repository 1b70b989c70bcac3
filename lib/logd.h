/*
 * logd.h - the one public header of liblogd.
 *
 * liblogd is the storage engine of the logd broker (Kafka RecordBatch v2
 * batches in mmap'd segment files with offset and time indexes, topics and
 * consumer-group offsets in LMDB) and its client library (the native
 * protocol: a big-endian u32 length, then a msgpack array).
 *
 * Conventions, everywhere in this header:
 * - Functions return 0 on success or a negative code: a negated errno
 *   (-EINVAL, -EIO, -ENOSPC, ...) or one of the LOGD_E* codes below.
 *   logd_strerror() names every code.  Nothing is left in errno.
 * - Out-parameters are written only on success.
 * - Lengths are size_t, offsets int64_t (Kafka offsets are signed; -1 is
 *   "none").  Timestamps are milliseconds since the Unix epoch.
 * - Destructors (_close, _free) accept NULL.
 * - The library has no globals, never exits, never logs and never touches
 *   signals.  Objects are not thread safe unless a function says so.
 */
#ifndef LOGD_H
#define LOGD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOGD_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/*
 * Library codes live in [-30099, -30000] so they never collide with a
 * negated errno.  The same numbers travel in protocol error replies.
 */
#define LOGD_ECORRUPT    (-30000) /* stored data failed a check (CRC, bounds) */
#define LOGD_EBADBATCH   (-30001) /* a record batch is malformed */
#define LOGD_ECRC        (-30002) /* a record batch's CRC32C does not match */
#define LOGD_ERANGE      (-30003) /* offset out of range of the log */
#define LOGD_ENOTOPIC    (-30004) /* unknown topic */
#define LOGD_ENOPART     (-30005) /* unknown partition */
#define LOGD_ETOPICEXIST (-30006) /* topic already exists */
#define LOGD_EBADNAME    (-30007) /* invalid topic or group name */
#define LOGD_ETOOBIG     (-30008) /* a frame, batch or record is too large */
#define LOGD_EREADONLY   (-30009) /* partition read-only after a failed sync */
#define LOGD_EPROTO      (-30010) /* malformed protocol frame or request */
#define LOGD_ETIMEDOUT   (-30011) /* request timed out */
#define LOGD_ELOCKED     (-30012) /* datadir locked by another process */
#define LOGD_ESTORE      (-30013) /* metadata store (LMDB) failure */
#define LOGD_EBADCONFIG  (-30014) /* unknown config key or bad value */
#define LOGD_EGENERATION (-30015) /* stale group generation */
#define LOGD_EMEMBER     (-30016) /* unknown group member */
#define LOGD_EREBALANCE  (-30017) /* group is rebalancing: rejoin */
#define LOGD_ENOGROUP    (-30018) /* unknown consumer group */
#define LOGD_EUNSUPPORTED (-30019) /* unknown api or unsupported version */
#define LOGD_ECLOSED     (-30020) /* connection closed */
#define LOGD_EFULL       (-30021) /* an index or segment has no room */
#define LOGD_EINCONSISTENT (-30022) /* group protocol or kind does not match */
#define LOGD_EMEMBERREQ  (-30023) /* join again with the member id given */
#define LOGD_ESEQUENCE   (-30024) /* idempotent producer: sequence gap */
#define LOGD_EFENCED     (-30025) /* idempotent producer: older epoch */
#define LOGD_ETIMESTAMP  (-30026) /* a record timestamp too far from now */
#define LOGD_ENOKEY      (-30027) /* a record without a key for a compacted
                                   * topic (Kafka's INVALID_RECORD, 87) */
#define LOGD_ELAST       (-30027)

/* A readable name for any code returned by liblogd (static storage). */
const char *logd_strerror(int err);

/* ------------------------------------------------------------------ */
/* CRC32C (Castagnoli)                                                 */
/* ------------------------------------------------------------------ */

/*
 * Extends crc over len bytes of p (start with crc = 0).  Uses the SSE4.2
 * crc32 instruction when the CPU has it (checked once, at first use),
 * otherwise a slicing-by-8 table.  Thread safe.
 */
uint32_t logd_crc32c(uint32_t crc, const void *p, size_t len);
/* The portable implementation alone, for tests and benchmarks. */
uint32_t logd_crc32c_sw(uint32_t crc, const void *p, size_t len);
/* 1 when logd_crc32c() uses the hardware instruction. */
int logd_crc32c_hw(void);

/* ------------------------------------------------------------------ */
/* Kafka RecordBatch v2                                                */
/* ------------------------------------------------------------------ */

/*
 * Layout (all big-endian):
 *   0  baseOffset i64         27 baseTimestamp i64
 *   8  batchLength i32        35 maxTimestamp i64
 *   12 partitionLeaderEpoch   43 producerId i64
 *   16 magic i8 (= 2)         51 producerEpoch i16
 *   17 crc u32 (CRC32C of 21..end)
 *   21 attributes i16         53 baseSequence i32
 *   23 lastOffsetDelta i32    57 recordCount i32
 *   61 records
 * batchLength counts the bytes after itself: a batch is batchLength + 12
 * bytes.  Attributes: bits 0-2 compression codec, bit 3 timestamp type
 * (1 = log append time), bit 4 transactional, bit 5 control.
 */
#define LOGD_BATCH_HEADER_SIZE   61
#define LOGD_BATCH_LENGTH_OFFSET 8
#define LOGD_BATCH_MAGIC         2
#define LOGD_ATTR_COMPRESSION_MASK 0x07
#define LOGD_ATTR_LOG_APPEND_TIME  0x08
#define LOGD_ATTR_TRANSACTIONAL    0x10
#define LOGD_ATTR_CONTROL          0x20
/* No batch is larger than this (Kafka's message.max.bytes is 1 MiB). */
#define LOGD_BATCH_MAX_SIZE (64u << 20)

/* The header of one batch, decoded. */
struct logd_batch_info {
	int64_t base_offset;
	int64_t last_offset;      /* base_offset + lastOffsetDelta, wrapping
	                           * as a Java long on a hostile base */
	int64_t base_timestamp;
	int64_t max_timestamp;
	int64_t producer_id;
	size_t size;              /* whole batch: batchLength + 12 */
	int32_t record_count;
	int32_t leader_epoch;
	int32_t base_sequence;
	int16_t producer_epoch;
	int16_t attributes;
	uint32_t crc;
};

/* One record header (key is a string, value any bytes or NULL). */
struct logd_header {
	const char *key;
	size_t key_len;
	const void *value;        /* NULL: null value */
	size_t value_len;
};

/*
 * One record, decoded by the iterator.  key/value point into the batch
 * and are valid as long as its bytes are; NULL means a null key or value
 * (distinct from a zero-length one).  Headers are left encoded: walk them
 * with logd_record_header_next().
 */
struct logd_record {
	int64_t offset;
	int64_t timestamp;
	const void *key;
	size_t key_len;
	const void *value;
	size_t value_len;
	const uint8_t *headers;   /* encoded headers, header_count of them */
	size_t headers_len;
	int32_t header_count;
};

/*
 * Decodes and checks the batch at p (at most len bytes available): length
 * within len and within [61 + 7, LOGD_BATCH_MAX_SIZE], magic 2, codec
 * 0-4, CRC32C, lastOffsetDelta + 1 == recordCount > 0, and for
 * uncompressed batches that the records parse to exactly the end of the
 * batch (each record to exactly its own length) with offset deltas
 * 0..count-1, lengths >= -1, header keys not null, varints of at most
 * 5 (varint) or 10 (varlong) bytes, and, unless the batch has log-append
 * time, maxTimestamp equal to the largest record timestamp (Kafka would
 * rewrite a wrong one; logd never rewrites a batch, so it refuses it).
 * Compressed batches are checked by header and CRC only.  baseOffset and
 * partitionLeaderEpoch lie outside the CRC (Kafka's format): damage
 * there is not detected.  Never reads outside [p, p + len).
 * On success fills *info (may be NULL).
 * Errors: LOGD_EBADBATCH (framing, magic, counts, records), LOGD_ECRC,
 * -EAGAIN while the len bytes could still be the start of a valid batch
 * (len < 12, or the batch claims more than len bytes).
 */
int logd_batch_check(const void *p, size_t len, struct logd_batch_info *info);

/*
 * What a broker checks beyond logd_batch_check() before it stores a batch
 * (info is that check's): a compressed batch must decompress with its
 * codec and its records parse as for an uncompressed one (count, offset
 * deltas, maxTimestamp); transactional and control batches are refused
 * (logd does not support transactions).  Returns 0, or LOGD_EBADBATCH /
 * LOGD_ETOOBIG with *why saying what was wrong (static), or -ENOMEM.
 */
int logd_batch_check_deep(const void *p, const struct logd_batch_info *info,
    const char **why);

/*
 * Decodes only the 61-byte header of the batch at p (len >= 61), with no
 * CRC or record check: for scanning data already checked once.
 * Errors: LOGD_EBADBATCH, -EAGAIN as logd_batch_check().
 */
int logd_batch_header(const void *p, size_t len, struct logd_batch_info *info);

/* Rewrites baseOffset (bytes 0..7, outside the CRC). */
void logd_batch_set_base_offset(void *batch, int64_t base_offset);

/*
 * Stamps a batch with log-append time: sets attribute bit 3, writes
 * maxTimestamp = ts and recomputes the CRC (as Kafka does).
 */
void logd_batch_set_log_append_time(void *batch, int64_t ts);

/* Record iterator over one checked batch. */
struct logd_batch_iter {
	const uint8_t *p, *end;
	int64_t base_offset;
	int64_t base_timestamp;
	int64_t max_timestamp;
	int32_t remaining;
	int log_append_time;
	uint8_t *buf;             /* a compressed batch's records, inflated */
};

/*
 * Starts iterating the records of the batch at p (size bytes, as checked
 * by logd_batch_check(); size may be larger than the batch: the iterator
 * stops at the batch's own end).  A compressed batch (gzip, snappy, lz4,
 * zstd) is inflated into memory the iterator owns, at most
 * LOGD_DECOMPRESS_MAX bytes.  Errors: LOGD_EBADBATCH (also a compressed
 * payload that does not inflate), LOGD_ETOOBIG (inflates past the cap),
 * -ENOMEM.  On unchecked bytes the iterator stays within the batch and
 * reports LOGD_EBADBATCH.
 */
int logd_batch_iter_init(struct logd_batch_iter *it, const void *p, size_t size);

/*
 * Decodes the next record into *rec.  Returns 1 with a record, 0 at the
 * end, LOGD_EBADBATCH if the record bytes are malformed (fewer records
 * than the header counts too).  Records of a log-append-time batch take
 * the batch's maxTimestamp.  A record's bytes stay valid until the next
 * call: at the end (0) or an error the inflated memory is freed.
 */
int logd_batch_iter_next(struct logd_batch_iter *it, struct logd_record *rec);

/* Frees what an iterator left before its end holds.  Accepts one that
 * was released, ended, or never inited with a compressed batch. */
void logd_batch_iter_release(struct logd_batch_iter *it);

/*
 * A cursor over the records in a range of whole stored batches (a fetch
 * reply), from a given offset on: batches that end before it are skipped
 * whole, records below it in the first batch are passed over.  The one
 * batch walk every reader of stored batches uses.
 */
struct logd_cursor {
	const uint8_t *p, *end;   /* batches not yet opened */
	int64_t from;
	int in_batch;
	struct logd_batch_iter it;
	struct logd_batch_info info;   /* of the batch being read */
	const uint8_t *batch;     /* where the batch last opened starts */
};

/* Starts at p (len bytes) with the first record at or after from. */
void logd_cursor_init(struct logd_cursor *c, const void *p, size_t len,
    int64_t from);
/*
 * The next record: 1 (valid until the next call), 0 at the end of the
 * range, -EAGAIN when the range ends inside a batch (a partial batch is
 * left), or the error of the batch in c->info (as logd_batch_check()
 * and logd_batch_iter_init() give them).
 */
int logd_cursor_next(struct logd_cursor *c, struct logd_record *rec);
/* Frees what a cursor left before its end holds (accepts any state). */
void logd_cursor_release(struct logd_cursor *c);
/*
 * After logd_cursor_next() failed on a batch (any error but -EAGAIN):
 * moves the cursor past that batch, so the next call goes on with the
 * one after it, and gives the batch's first and last offsets in *first
 * and *last (from its header).  Records of the batch not yet returned
 * are lost.  Returns 0, or LOGD_EBADBATCH when the batch's header itself
 * is unreadable (its length or offsets): then the cursor cannot move on
 * and is left as it was.
 */
int logd_cursor_skip(struct logd_cursor *c, int64_t *first, int64_t *last);

/* Kafka's batch codecs (attributes & 7). */
#define LOGD_CODEC_NONE   0
#define LOGD_CODEC_GZIP   1
#define LOGD_CODEC_SNAPPY 2
#define LOGD_CODEC_LZ4    3
#define LOGD_CODEC_ZSTD   4
/* The largest a compressed batch's records may inflate to. */
#define LOGD_DECOMPRESS_MAX (64u << 20)

/* "none", "gzip", "snappy", "lz4", "zstd": the codec, or -EINVAL. */
int logd_codec_parse(const char *name);
const char *logd_codec_name(int codec);
/*
 * Inflates len bytes of codec into a malloc'd *out (caller frees).
 * Errors: LOGD_EBADBATCH (not valid data of that codec, truncated),
 * LOGD_ETOOBIG (past LOGD_DECOMPRESS_MAX), -ENOMEM.
 */
int logd_decompress(int codec, const void *src, size_t len, uint8_t **out,
    size_t *outlen);
/* Compresses into a malloc'd *out.  Errors: -EINVAL (codec), -ENOMEM. */
int logd_compress(int codec, const void *src, size_t len, uint8_t **out,
    size_t *outlen);

/*
 * Walks a record's encoded headers: *pos starts at 0.  Returns 1 with a
 * header in *h, 0 at the end, LOGD_EBADBATCH when malformed.
 */
int logd_record_header_next(const struct logd_record *rec, size_t *pos,
    struct logd_header *h);

/*
 * Builds one uncompressed batch.  The builder owns a growable buffer; the
 * bytes returned by logd_batch_builder_finish() are valid until the next
 * call on the builder.  Producer id -1, epoch -1, sequence -1 (no
 * idempotence), leader epoch -1, baseOffset 0.
 */
struct logd_batch_builder;

int logd_batch_builder_new(struct logd_batch_builder **out);
void logd_batch_builder_free(struct logd_batch_builder *b);
/* Empties the builder for a new batch, keeping its buffer. */
void logd_batch_builder_reset(struct logd_batch_builder *b);
/*
 * Adds a record.  key/value NULL mean null (their lengths are ignored).
 * Errors: -ENOMEM, LOGD_ETOOBIG when the batch would pass
 * LOGD_BATCH_MAX_SIZE.
 */
int logd_batch_builder_add(struct logd_batch_builder *b, int64_t timestamp,
    const void *key, size_t key_len, const void *value, size_t value_len,
    const struct logd_header *headers, size_t header_count);
/* Records added since the last reset. */
int32_t logd_batch_builder_count(const struct logd_batch_builder *b);
/* Bytes the batch would have if finished now. */
size_t logd_batch_builder_size(const struct logd_batch_builder *b);
/*
 * The codec finish compresses the records with (LOGD_CODEC_NONE at
 * first; kept across resets).  Errors: -EINVAL.
 */
int logd_batch_builder_set_codec(struct logd_batch_builder *b, int codec);
/*
 * Writes the header and CRC (compressing the records when a codec is
 * set) and returns the batch.  Errors: -EINVAL when no record was added,
 * -ENOMEM.
 */
int logd_batch_builder_finish(struct logd_batch_builder *b,
    const uint8_t **batch, size_t *len);

/* Kafka's default partitioner: murmur2(key) & 0x7fffffff, mod n.
 * -EINVAL when n <= 0. */
int32_t logd_partition_for_key(const void *key, size_t len, int32_t n);
/* Kafka's murmur2 (seed 0x9747b28c), as its Java client computes it. */
uint32_t logd_murmur2(const void *key, size_t len);

/* ------------------------------------------------------------------ */
/* Partition logs                                                      */
/* ------------------------------------------------------------------ */

/*
 * A partition log is a directory of segments named by their 20-digit base
 * offset: NNN.log (the batches), NNN.idx (offset index: u32 relative
 * offset, u32 position, every index_interval bytes), NNN.tix (time index:
 * i64 timestamp, u32 relative offset) and recovery-point.  The active
 * segment is mmap'd at its capacity; appends write the batches into the
 * file with one pwritev() (the map shows the same page cache, and whole
 * pages written this way are not zero-filled first as first writes
 * through the map are), so the file holds only what was written.  The
 * indexes, written through their maps, are reserved on disk 64 KiB at a
 * time ahead of their entries.  Reads are served from the maps.  Closed
 * segments are trimmed to size and mapped read-only.
 */
struct logd_log_config {
	uint64_t segment_bytes;   /* roll at this size (default 128 MiB) */
	int64_t segment_ms;       /* roll at this age (default 7 days) */
	int64_t retention_ms;     /* -1: keep forever (default 7 days) */
	int64_t retention_bytes;  /* -1: unlimited (default) */
	uint32_t index_interval;  /* bytes between index entries (4096) */
	uint32_t index_bytes;     /* capacity of each index file (10 MiB) */
	int log_append_time;      /* 1: stamp batches with append time */
	int cleanup_policy;       /* LOGD_CLEANUP_* bits (DELETE) */
	double min_cleanable_dirty_ratio; /* clean when dirty/total >= (0.5) */
	int64_t min_compaction_lag_ms;    /* keep newer records uncleaned (0) */
	int64_t delete_retention_ms;      /* tombstones after a clean (1 day) */
};

/* cleanup.policy: delete, compact, or both ("compact,delete"). */
#define LOGD_CLEANUP_DELETE  0x1  /* retention.ms/bytes delete segments */
#define LOGD_CLEANUP_COMPACT 0x2  /* the cleaner keeps each key's last */

/* Fills *c with the defaults above. */
void logd_log_config_default(struct logd_log_config *c);

/* What logd_log_open() found and repaired. */
struct logd_recovery {
	int64_t start_offset;     /* log start after open */
	int64_t end_offset;       /* next offset to assign */
	/*
	 * Invalid tail bytes removed, counted up to the last non-zero byte
	 * before the first all-zero 4 KiB page after each cut (zeros of
	 * preallocation are not counted): an approximation.
	 */
	uint64_t truncated_bytes;
	uint32_t segments;        /* segments in the log */
	uint32_t scanned_batches; /* batches CRC-checked during recovery */
};

struct logd_log;

/*
 * Opens (creating if needed) the partition log in directory dir.
 * Recovery: every segment holding offsets at or past the recovery point is
 * scanned batch by batch (length bounds, magic, offsets, CRC); the first
 * invalid byte ends the log and everything after it is removed, and the
 * indexes are rebuilt for the scanned part.  rec, if not NULL, says what
 * happened.  Segments wholly below the recovery point are trusted: only
 * their last batches are checked (the last one's CRC included).
 * Errors: negated errno from the file system, LOGD_ECORRUPT when a
 * trusted segment is unusable or when the first invalid byte lies below
 * the recovery point (synced data is never truncated; nothing is changed
 * on disk then).
 */
int logd_log_open(const char *dir, const struct logd_log_config *cfg,
    int64_t now_ms, struct logd_log **out, struct logd_recovery *rec);

/*
 * Closes the log: syncs it, writes the recovery point, unmaps what no
 * reader holds.  Slices still referenced stay valid until released.  A
 * flush begun must be ended first (else close does not sync).
 */
void logd_log_close(struct logd_log *log);

/* Applies a new config (segment size, retention, ...) from now on. */
void logd_log_set_config(struct logd_log *log, const struct logd_log_config *cfg);

/* First offset still stored, and the next offset to be assigned. */
int64_t logd_log_start_offset(const struct logd_log *log);
int64_t logd_log_end_offset(const struct logd_log *log);
/* Every offset below this is known to be on disk (synced). */
int64_t logd_log_flushed_offset(const struct logd_log *log);
/* 0, or the error of the sync that failed: the log is read-only since
 * (appends and flushes return LOGD_EREADONLY); reads go on. */
int logd_log_sync_error(const struct logd_log *log);
/* Bytes of all segments, and the number of segments. */
uint64_t logd_log_size(const struct logd_log *log);
uint32_t logd_log_segment_count(const struct logd_log *log);
/*
 * Disk the log's files take, in 4 KiB blocks: its segments' bytes and
 * index entries, and the index room reserved ahead of the active one's
 * write position (64 KiB at a time).  From memory, no system call.
 */
uint64_t logd_log_disk_bytes(const struct logd_log *log);
/*
 * One pointer the application keeps with the log (NULL at open), like
 * mdb_env_set_userctx: the daemon's per-partition state.
 */
void logd_log_set_userctx(struct logd_log *log, void *ctx);
void *logd_log_userctx(const struct logd_log *log);

/*
 * Appends one or more batches that logd_batch_check() accepted (data is
 * len bytes of whole batches).  Assigns offsets from the end offset,
 * rewriting only baseOffset (and, for log-append-time logs, stamping
 * now_ms).  Rolls a segment first when the data would not fit, the
 * segment is older than segment_ms, or an index is full.  On success
 * *first and *last (may be NULL) are the first and last offsets given.
 * The data is not synced: see logd_log_flush*().  Only framing is
 * checked here (lengths, magic, counts): the caller has run
 * logd_batch_check() on every batch.  Batches that fit in one segment
 * together go into one segment; data larger than a segment is split
 * between segments, and an error then may leave its first batches
 * appended (and first and last unset).
 * Errors: LOGD_EBADBATCH (data is not whole framed batches; nothing
 * appended), LOGD_ETOOBIG (one batch larger than a segment),
 * LOGD_EREADONLY (an earlier sync failed), -ENOSPC and other negated
 * errno from rolling or writing (nothing appended).
 */
int logd_log_append(struct logd_log *log, const void *data, size_t len,
    int64_t now_ms, int64_t *first, int64_t *last);

/*
 * A read: whole stored batches borrowed from a segment's map.  data/len
 * stay valid until logd_log_read_release(), even if the segment is
 * deleted by retention or the log is closed meanwhile.
 */
struct logd_read {
	const uint8_t *data;
	size_t len;
	int64_t next_offset;      /* offset after the last batch returned */
	void *seg;                /* private: the referenced segment */
};

/*
 * Reads whole batches starting with the one that holds offset, up to
 * max_bytes (at least one whole batch is returned, even if larger; a read
 * never spans two segments).  At the end of the log (offset == end
 * offset) returns 0 with len 0.  The first batch may start below offset:
 * readers skip records below what they asked for.
 * Errors: LOGD_ERANGE when offset is below the start or past the end,
 * LOGD_ECORRUPT if the segment's index or batches do not lead to it.
 */
int logd_log_read(struct logd_log *log, int64_t offset, size_t max_bytes,
    struct logd_read *r);

/* Drops the reference a successful logd_log_read() took.  Accepts a
 * zeroed or already released read. */
void logd_log_read_release(struct logd_read *r);

/*
 * Offset of the first record whose timestamp is >= ts (the end offset if
 * there is none).  Errors: none beyond -EIO on a damaged index.
 */
int logd_log_offset_for_time(struct logd_log *log, int64_t ts, int64_t *offset);

/*
 * Flushing in three steps so that a caller can sync on another thread
 * while appends go on (group commit):
 *   logd_log_flush_begin() on the log's thread captures what is unsynced
 *     (cheap, no I/O); returns NULL in *f when nothing is dirty.  One
 *     flush per log at a time: -EBUSY while one is begun and not ended;
 *     LOGD_EREADONLY after a failed one;
 *   logd_flush_run() on any thread does the fdatasync()s (segments and
 *     directory) and, after a roll, at close and at most every 5 s, the
 *     recovery point (temp file, fsync, rename, fsync dir);
 *   logd_log_flush_end() on the log's thread publishes the new flushed
 *     offset and frees f.  If run failed, the log becomes read-only
 *     (LOGD_EREADONLY on append) and flush_end returns the error: data
 *     that was never synced is never reported flushed.
 * logd_log_flush() does all three at once.
 */
struct logd_flush;
int logd_log_flush_begin(struct logd_log *log, struct logd_flush **f);
int logd_flush_run(struct logd_flush *f);
int logd_log_flush_end(struct logd_log *log, struct logd_flush *f);
int logd_log_flush(struct logd_log *log);

/*
 * Deletes closed segments past retention (all of their records older than
 * now_ms - retention_ms, or the oldest while the log exceeds
 * retention_bytes) and moves the start offset.  Segments a reader holds
 * are unlinked now and unmapped when released.  *deleted (may be NULL) is
 * the number of segments removed.
 */
int logd_log_retain(struct logd_log *log, int64_t now_ms, uint32_t *deleted);

/*
 * Removes every record before offset (whole segments only; the start
 * offset becomes the base of the segment holding offset).  For tests and
 * administrative trimming.
 */
int logd_log_delete_before(struct logd_log *log, int64_t offset);

/* ------------------------------------------------------------------ */
/* Log compaction (cleanup.policy compact)                             */
/* ------------------------------------------------------------------ */

/*
 * The cleaner keeps the last record of each key in the closed segments
 * of a log whose config has LOGD_CLEANUP_COMPACT, as Kafka's does.
 *
 * The clean point (the first dirty offset, kept in the partition's
 * cleaner-point file) splits the cleanable segments into clean ones
 * (cleaned before) and dirty ones.  A segment is cleanable when it is
 * closed, synced and below the recovery point on disk, and (with
 * min_compaction_lag_ms) its newest timestamp is at least that old; the
 * first segment that is not ends the cleanable range.  A clean maps the
 * keys of the dirty segments to their last offsets (a 128-bit hash of
 * each key, 24 bytes an entry, at most map_bytes; when the map is full
 * the dirty range ends at the record that did not fit), then rewrites
 * every cleanable segment up to there, dropping each record whose key
 * has a later offset, records without a key, and tombstones (null
 * values) of segments that were already clean delete_retention_ms ago
 * (a segment's .log mtime is the time it was first cleaned).  A batch
 * that loses no record is copied as it is (compression included); one
 * that loses some is rewritten uncompressed, one batch per run of
 * consecutive kept offsets, with the original offsets, timestamps
 * (timestamp type too), keys, values and headers.  A segment left empty
 * is deleted, but for the log's first one, which stays as an empty file:
 * the log start offset never moves by cleaning (as in Kafka).  The output is built beside the segment (NNN.log.cleaned and its
 * indexes), synced, and swapped in by rename, oldest segment first: the
 * rename of the .log is the commit of each segment, and a crash leaves
 * every segment either old or new (logd_log_open() finishes or undoes
 * an interrupted swap).  Readers of the old segments keep their slices
 * until they release them.  Fetches at an offset that was removed get
 * the next record kept.
 *
 * In three steps, as a flush: logd_log_clean_begin() on the log's
 * thread picks the segments and takes references; logd_clean_run() on
 * any thread does all the reading, writing, syncing and renaming;
 * logd_log_clean_end() on the log's thread puts the new segments in the
 * log.  Between begin and end the caller must not call
 * logd_log_retain(), logd_log_delete_before() or logd_log_close() on the
 * log (appends, reads and flushes go on).
 */
struct logd_clean;

/* What a clean did. */
struct logd_clean_stats {
	uint32_t segments;        /* segments rewritten (or deleted) */
	uint32_t deleted;         /* of them, left empty and deleted */
	uint64_t bytes_before;    /* bytes of the cleanable segments */
	uint64_t bytes_after;
	uint64_t records_read;    /* records in the cleaned segments */
	uint64_t records_kept;
	uint64_t tombstones_dropped;
	uint64_t keyless_dropped;
	uint64_t keys;            /* distinct keys mapped in the dirty range */
	int64_t clean_point;      /* the first dirty offset after the clean */
	int64_t run_ms;           /* wall time of logd_clean_run() */
};

/* Clean even below min_cleanable_dirty_ratio (logctl compact). */
#define LOGD_CLEAN_FORCE 0x1
/* The key map's default size: 16 MiB, 393,216 keys a pass. */
#define LOGD_CLEAN_MAP_BYTES (16u << 20)

/*
 * The dirty ratio of the cleanable segments: dirty bytes / (clean +
 * dirty bytes), 0 when there are none; *dirty (may be NULL) the dirty
 * bytes.  For any log (policy not consulted).
 */
double logd_log_dirty_ratio(const struct logd_log *log, int64_t now_ms,
    uint64_t *dirty);
/* The clean point: offsets below it were cleaned (0 if never). */
int64_t logd_log_clean_point(const struct logd_log *log);

/*
 * Starts a clean when the log is compacted and its dirty ratio is at
 * least min_cleanable_dirty_ratio (with LOGD_CLEAN_FORCE: whenever a
 * segment is cleanable).  *out is NULL when there is nothing to do.
 * map_bytes 0 means LOGD_CLEAN_MAP_BYTES.  Errors: -EBUSY (a clean is
 * begun), LOGD_EREADONLY, -ENOMEM, negated errno (dup of the directory).
 */
int logd_log_clean_begin(struct logd_log *log, int64_t now_ms,
    unsigned flags, size_t map_bytes, struct logd_clean **out);
/*
 * Does the clean (any thread; touches no state of the log).  Returns 0
 * or the first error (-ECANCELED after logd_clean_cancel(), -ENOMEM,
 * negated errno, LOGD_EBADBATCH for a batch that does not decode):
 * segments not yet swapped stay as they were.
 */
int logd_clean_run(struct logd_clean *c);
/* Asks a running logd_clean_run() to stop soon (thread safe). */
void logd_clean_cancel(struct logd_clean *c);
/*
 * Before logd_clean_run(): at most bytes_per_sec bytes of segments read
 * (each segment is read once for the key map if dirty, once to rewrite
 * it) a second, sleeping when ahead (0, the default: no limit), as
 * Kafka's log.cleaner.io.max.bytes.per.second.
 */
void logd_clean_set_io_limit(struct logd_clean *c, uint64_t bytes_per_sec);
/*
 * On the log's thread: puts the segments the run swapped into the log,
 * drops the references and frees c; st (may be NULL) says what was done.
 * Returns the run's result.
 */
int logd_log_clean_end(struct logd_log *log, struct logd_clean *c,
    struct logd_clean_stats *st);
/* Flushes the log, then begin, run and end at once. */
int logd_log_clean(struct logd_log *log, int64_t now_ms, unsigned flags,
    struct logd_clean_stats *st);

/* ------------------------------------------------------------------ */
/* Offline segment checks (logctl verify, logctl dump)                 */
/* ------------------------------------------------------------------ */

/* What logd_segment_verify() found in one segment file. */
struct logd_segment_report {
	int64_t base_offset;      /* from the file name */
	int64_t next_offset;      /* after the last valid batch */
	uint64_t valid_bytes;     /* bytes of valid batches from the start */
	uint64_t file_bytes;
	uint64_t batches;
	uint64_t records;
	int64_t bad_position;     /* first invalid byte, -1 if none */
	int error;                /* why it is invalid (0 if valid) */
	int index_error;          /* 0, or what is wrong with .idx/.tix */
};

/*
 * Checks the .log file at path read-only: every batch's bounds, magic,
 * offsets and CRC, and its .idx and .tix against the batches.  Trailing
 * zeros (preallocation) are not an error.  Returns 0 when the file could
 * be read (see report for damage), a negated errno otherwise.
 */
int logd_segment_verify(const char *path, struct logd_segment_report *report);

/*
 * Calls fn for each batch in the .log file at path, in order, with its
 * bytes (valid only during the call) and the result of
 * logd_batch_check() on it (LOGD_EBADBATCH, not -EAGAIN, for a batch
 * cut short by the end of the file); stops at the first invalid batch or
 * when fn returns non-zero (which is returned).
 */
int logd_segment_walk(const char *path,
    int (*fn)(void *arg, const uint8_t *batch, size_t len, int check,
        const struct logd_batch_info *info), void *arg);

/* ------------------------------------------------------------------ */
/* The store: a datadir of topics, with metadata and group offsets     */
/* ------------------------------------------------------------------ */

/*
 * A datadir holds LOCK (flock: one process at a time), meta/ (an LMDB
 * environment with topics, their configs and committed group offsets)
 * and topics/<topic>-<partition>/ (one partition log each).
 */
struct logd_store;

#define LOGD_TOPIC_NAME_MAX 249
#define LOGD_GROUP_NAME_MAX 255

/*
 * 0 if name is a valid topic name: 1-249 characters of [A-Za-z0-9._-],
 * not "." or "..".  LOGD_EBADNAME otherwise.
 */
int logd_topic_name_check(const char *name);
/* 0 if name is a valid group name: 1-255 printable ASCII characters, no
 * NUL.  LOGD_EBADNAME otherwise. */
int logd_group_name_check(const char *name);

/* Topic settings: the partition log config plus the partition count. */
struct logd_topic_config {
	int32_t partitions;
	struct logd_log_config log;
	/*
	 * CreateTime topics: how far a batch's timestamps may lie after
	 * (in the future) or before the broker's clock when it is produced
	 * (Kafka 3.6's message.timestamp.after.max.ms and before.max.ms).
	 */
	int64_t timestamp_after_max_ms;   /* 3600000 (one hour) */
	int64_t timestamp_before_max_ms;  /* INT64_MAX (no limit) */
};

/* Defaults: 1 partition, logd_log_config_default(), timestamps up to an
 * hour ahead and any time before. */
void logd_topic_config_default(struct logd_topic_config *c);

/*
 * Sets one setting by its Kafka-style name: partitions, segment.bytes,
 * segment.ms, retention.ms, retention.bytes, index.interval.bytes,
 * segment.index.bytes, message.timestamp.type (CreateTime or
 * LogAppendTime), message.timestamp.after.max.ms,
 * message.timestamp.before.max.ms.  Values are plain decimal (an
 * optional '-', digits, nothing else) within: partitions 1..10000,
 * segment.bytes 65536..2^31-1 (index positions are u32), segment.ms >= 1,
 * retention.ms and retention.bytes -1 (none) or >= 0,
 * index.interval.bytes 0..2^31-1, segment.index.bytes 1024..2^30, the
 * timestamp limits >= 0.  On error *c is unchanged.
 * Errors: LOGD_EBADCONFIG (unknown key or bad value).
 */
int logd_topic_config_set(struct logd_topic_config *c, const char *key,
    const char *value);

/*
 * Says why logd_topic_config_set(key, value) fails, naming the key, the
 * value and what is allowed: 'segment.bytes = "60000": expected an
 * integer from 65536 to 2147483647', or 'unknown setting "x" (known:
 * ...)'.  Writes into buf (NUL-terminated, truncated to size) and
 * returns the length it needed, like snprintf.
 */
size_t logd_topic_config_error(const char *key, const char *value,
    char *buf, size_t size);

/*
 * Calls fn(arg, key, value) for each setting, in the order above, with
 * its value as a string.  Stops at and returns the first non-zero value
 * fn returns; 0 when all were visited.
 */
int logd_topic_config_each(const struct logd_topic_config *c,
    int (*fn)(void *arg, const char *key, const char *value), void *arg);

/*
 * Writes the settings as "key=value" lines into buf (NUL-terminated,
 * truncated to size).  Returns the length it needed, like snprintf.
 */
size_t logd_topic_config_format(const struct logd_topic_config *c,
    char *buf, size_t size);

/*
 * One produce to a store: the whole policy of appending, in one call.
 * In: topic; partition (-1: the partition for key by Kafka's murmur2
 * partitioner, or round robin without a key); the batches (one or more
 * RecordBatch v2, checked as logd_batch_check() does); now_ms; create,
 * when not NULL, the settings to create a missing topic with.  Out (on
 * success): the partition used, its log, the offsets given to the first
 * and last record, the record count, and whether the topic was created.
 * On LOGD_EBADBATCH/LOGD_ECRC/LOGD_ETOOBIG from a batch, bad_batch and
 * bad_at say which batch (from 0) at which byte.
 */
struct logd_produce {
	const char *topic;
	int32_t partition;
	const void *key;
	size_t key_len;
	const void *data;
	size_t len;
	int64_t now_ms;
	const struct logd_topic_config *create;
	/* out */
	struct logd_log *log;
	int64_t first, last;
	uint64_t records;
	int64_t append_time;      /* LogAppendTime topics: now_ms, else -1 */
	int created;
	int duplicate;            /* a retried idempotent batch: not appended
	                             again, first/last are its offsets */
	size_t bad_batch, bad_at;
	const char *why;          /* a bad batch: what was wrong, or NULL */
	char why_buf[200];        /* where why may point */
};

/*
 * A batch of an idempotent producer (producerId >= 0) must come next in
 * its producer's sequence: one of its last five batches again is a
 * retry, answered with its offsets and not appended (duplicate set).
 * Errors: LOGD_ESEQUENCE (a gap), LOGD_EFENCED (an older producer epoch),
 * LOGD_ENOTOPIC, LOGD_ENOPART (partition outside the topic),
 * LOGD_EBADBATCH (no batch, or a malformed one), LOGD_ECRC, LOGD_ETOOBIG,
 * LOGD_ETIMESTAMP (a CreateTime topic, and a batch's first or largest
 * timestamp, other than -1, lies further after now_ms than
 * timestamp_after_max_ms or further before it than
 * timestamp_before_max_ms; bad_batch, bad_at and why say which),
 * and those of logd_store_topic_create() and logd_log_append().  Nothing
 * is appended unless every batch is valid.
 */
int logd_store_produce(struct logd_store *st, struct logd_produce *p);

#define LOGD_STORE_CREATE 0x1 /* create the datadir if missing */

/*
 * Opens the datadir: takes LOCK (LOGD_ELOCKED if another process holds
 * it), opens meta/ and every topic's partition logs (with recovery).
 * on_recover, if not NULL, is told about each partition as it opens.
 * Without LOGD_STORE_CREATE a directory without meta/ is -ENOENT (a
 * typo never turns some directory into a datadir).  Partition
 * directories that no topic's metadata names (left by a crash during
 * create, grow or delete) are removed; a topic whose directories are
 * missing gets empty partitions.  If meta/ holds no environment but
 * topics/ holds partitions, the open fails with LOGD_ESTORE and deletes
 * nothing.
 * Errors: negated errno, LOGD_ELOCKED, LOGD_ESTORE, and whatever
 * logd_log_open() returns for a partition.
 */
int logd_store_open(const char *datadir, unsigned flags, int64_t now_ms,
    void (*on_recover)(void *arg, const char *topic, int32_t partition,
        const struct logd_recovery *rec),
    void *arg, struct logd_store **out);

/* Flushes and closes every log, the LMDB environment, and LOCK. */
void logd_store_close(struct logd_store *st);

/*
 * Creates a topic with cfg (NULL: defaults) and its partition logs.
 * Errors: LOGD_EBADNAME, LOGD_ETOPICEXIST, LOGD_EBADCONFIG (partitions
 * outside 1..10000), negated errno, LOGD_ESTORE.
 */
int logd_store_topic_create(struct logd_store *st, const char *name,
    const struct logd_topic_config *cfg, int64_t now_ms);

/*
 * Deletes a topic: its metadata, its committed offsets and its files.
 * Readers holding slices keep them until released.  Once the metadata
 * is gone the delete has happened: files that cannot be removed now are
 * removed by the next logd_store_open().
 * Errors: LOGD_ENOTOPIC, LOGD_ESTORE, negated errno.
 */
int logd_store_topic_delete(struct logd_store *st, const char *name);

/*
 * Changes a topic's settings (key/value as logd_topic_config_set()).
 * partitions may only grow (new partitions start empty; other settings
 * apply to the open logs through logd_log_set_config()).
 * Errors: LOGD_ENOTOPIC, LOGD_EBADCONFIG, LOGD_ESTORE, negated errno.
 */
int logd_store_topic_alter(struct logd_store *st, const char *name,
    const char *key, const char *value, int64_t now_ms);

/*
 * Looks up a topic's config (copied into *cfg, may be NULL).  Returns 0,
 * or LOGD_ENOTOPIC.
 */
int logd_store_topic_config(struct logd_store *st, const char *name,
    struct logd_topic_config *cfg);

/*
 * The partition log of topic/partition: borrowed, valid until the topic
 * is deleted or the store closed.  Errors: LOGD_ENOTOPIC, LOGD_ENOPART.
 */
int logd_store_log(struct logd_store *st, const char *topic,
    int32_t partition, struct logd_log **log);

/*
 * Calls fn for every topic, in name order; stops when fn returns non-zero
 * and returns that.
 */
int logd_store_topics(struct logd_store *st,
    int (*fn)(void *arg, const char *name, const struct logd_topic_config *cfg),
    void *arg);

/* What retention removed from one partition (logd_store_retain()). */
struct logd_retained {
	uint32_t segments;        /* segments deleted */
	uint64_t bytes;           /* bytes they held */
	int64_t old_start;        /* log start offset before */
	int64_t new_start;        /* and after */
};

/*
 * Runs logd_log_retain() on every partition.  on_delete, if not NULL, is
 * told about each partition that lost segments (the topic name is
 * borrowed for the call).
 */
int logd_store_retain(struct logd_store *st, int64_t now_ms,
    void (*on_delete)(void *arg, const char *topic, int32_t partition,
        const struct logd_retained *r),
    void *arg);

/*
 * Flushes every partition log (and its directory) and the LMDB
 * environment synchronously.
 */
int logd_store_flush(struct logd_store *st);

/* One committed offset of a group. */
struct logd_offset_commit {
	const char *topic;
	int32_t partition;
	int64_t offset;           /* the next offset the group will read */
	const char *metadata;     /* may be NULL */
};

/*
 * Commits offsets for group in one LMDB write transaction, durably (the
 * commit is synced before this returns): all or none.  Thread safety:
 * this, logd_store_offset_fetch() and logd_store_offsets() touch only
 * LMDB, so a daemon may commit on its flusher thread while its loop
 * thread uses the store; topics are checked in the LMDB transaction.
 * n == 0 commits nothing and returns 0.
 * Errors: LOGD_EBADNAME (group), LOGD_ENOTOPIC, LOGD_ENOPART, -EINVAL
 * (an offset below 0), LOGD_ETOOBIG (metadata over 4096 bytes),
 * LOGD_ESTORE, negated errno (disk).
 */
int logd_store_offsets_commit(struct logd_store *st, const char *group,
    const struct logd_offset_commit *c, size_t n, int64_t now_ms);

/* One group's commit in logd_store_offsets_commit_many(). */
struct logd_offsets_op {
	const char *group;
	const struct logd_offset_commit *c;
	size_t n;
	int err;                  /* out: as logd_store_offsets_commit() */
};

/*
 * Several groups' commits with one sync (group commit): each op is all
 * or none on its own (a nested transaction), and every op that succeeds
 * is durable when this returns.  Returns 0 with each op's err set, or an
 * error that failed them all (then every err is that error).  Thread
 * safety as logd_store_offsets_commit().
 */
int logd_store_offsets_commit_many(struct logd_store *st,
    struct logd_offsets_op *ops, size_t n, int64_t now_ms);

/*
 * The committed offset of group on topic/partition in *offset, and its
 * metadata (copied, NUL-terminated, truncated to meta_size; meta may be
 * NULL).  Returns 0, or LOGD_ENOGROUP when nothing is committed there.
 */
int logd_store_offset_fetch(struct logd_store *st, const char *group,
    const char *topic, int32_t partition, int64_t *offset,
    char *meta, size_t meta_size);

/*
 * Calls fn for every committed offset, in (group, topic, partition)
 * order; group NULL for all groups, else only that group.  The strings
 * are valid only during the call.  Stops when fn returns non-zero.
 */
int logd_store_offsets(struct logd_store *st, const char *group,
    int (*fn)(void *arg, const char *group, const char *topic,
        int32_t partition, int64_t offset, int64_t commit_ms,
        const char *metadata),
    void *arg);

/* Deletes every committed offset of group.  LOGD_ENOGROUP if none. */
int logd_store_group_delete(struct logd_store *st, const char *group);

/* ------------------------------------------------------------------ */
/* Client                                                              */
/* ------------------------------------------------------------------ */

/*
 * A logd_client is one connection to a logd broker speaking the native
 * protocol (lib/proto.h).  Requests are pipelined: many may be in flight,
 * and responses, which may come back in any order, are matched by
 * correlation id.  A producer and a consumer ride on a client; several
 * may share one.  Every call that waits drives the connection, so acks
 * for the producer and fetched data for the consumer are taken in while
 * an administrative call waits for its own reply.
 *
 * Errors: besides the codes each function names, any call that talks to
 * the broker may return LOGD_ECLOSED (the connection broke: every request
 * in flight fails with it and the client stays unusable; open a new one),
 * LOGD_ETIMEDOUT (no reply within the request timeout; the connection
 * stays usable and a late reply is ignored), LOGD_EPROTO (the broker sent
 * something this library cannot read; the connection is closed) or a
 * negated errno from the socket.  When the broker refuses a request, its
 * code is returned and its message is kept: see logd_client_errmsg().
 *
 * Threads: a client and everything on it (producers, consumers) belong to
 * one thread at a time.  Use one client per thread.  No background
 * threads are started; work happens inside the calls.
 */
struct logd_client;
struct logd_producer;
struct logd_consumer;

/* Connection settings.  Zero fields take the defaults shown. */
struct logd_client_options {
	int connect_timeout_ms;   /* 5000 */
	int request_timeout_ms;   /* 30000; a fetch adds its max_wait */
	const char *client_id;    /* sent in HELLO; NULL: "liblogd" */
};

/* The default broker address. */
#define LOGD_DEFAULT_ADDR "127.0.0.1:9400"
#define LOGD_DEFAULT_PORT 9400

/*
 * Connects to the broker at addr and says HELLO.  addr is "host:port",
 * "host" (port 9400), "[v6addr]:port", or a Unix socket path: anything
 * starting with '/' or '.', or "unix:PATH".  NULL means
 * LOGD_DEFAULT_ADDR.  opts may be NULL (defaults).
 * Errors: -EINVAL (bad address), -ENOENT (host not found), LOGD_ETIMEDOUT
 * (connect or HELLO took longer than connect_timeout_ms), -ECONNREFUSED
 * and other negated errno from connect(2), LOGD_ECLOSED (the peer closed
 * or reset the connection before answering HELLO: logd does that past
 * its max_connections and while stopping), LOGD_EPROTO (the peer is not a
 * logd broker), -ENOMEM.  Nothing is allocated on failure.
 */
int logd_client_open(const char *addr, const struct logd_client_options *opts,
    struct logd_client **out);

/*
 * Closes the connection and frees the client.  Requests still in flight
 * are abandoned (an unacknowledged produce may or may not be stored).
 * Producers and consumers on the client must be closed first.
 */
void logd_client_close(struct logd_client *c);

/*
 * A readable description of the last failure of a call on c (or on a
 * producer or consumer using c): the broker's own message when it
 * refused the request, else what went wrong locally.  "" when there was
 * none.  Valid until the next call on c.
 */
const char *logd_client_errmsg(const struct logd_client *c);

/* The broker's version string from HELLO; valid while c is open. */
const char *logd_client_server_version(const struct logd_client *c);

/* The socket, for a caller's own poll(2) (wait for POLLIN, then call
 * logd_client_poll()).  Never read or write it directly. */
int logd_client_fd(const struct logd_client *c);

/*
 * Waits up to timeout_ms (0: no wait, -1: forever) for traffic on the
 * connection and handles it: writes queued requests, reads replies,
 * delivers producer results, stores fetched data.  Returns the number of
 * replies handled (>= 0) or an error.
 */
int logd_client_poll(struct logd_client *c, int timeout_ms);

/* One setting: both strings are borrowed for the call. */
struct logd_kv {
	const char *key;
	const char *value;
};

/*
 * Creates topic with partitions partitions (0: the broker's default) and
 * the settings in config[0..n) (Kafka names, see
 * logd_topic_config_set()).  Errors: LOGD_ETOPICEXIST, LOGD_EBADNAME,
 * LOGD_EBADCONFIG.
 */
int logd_client_topic_create(struct logd_client *c, const char *topic,
    int32_t partitions, const struct logd_kv *config, size_t n);

/* Deletes topic, its data and committed offsets.  LOGD_ENOTOPIC. */
int logd_client_topic_delete(struct logd_client *c, const char *topic);

/* Changes settings of topic.  Errors: LOGD_ENOTOPIC, LOGD_EBADCONFIG. */
int logd_client_topic_alter(struct logd_client *c, const char *topic,
    const struct logd_kv *config, size_t n);

/*
 * Cleans partition (-1: every partition) of a compacted topic now,
 * whatever its dirty ratio, and waits until done (the request timeout
 * is extended by timeout_ms).  On success *st (may be NULL) holds the
 * counts summed over the partitions (clean_point is not set) and
 * *partitions (may be NULL) how many were cleaned.  Errors:
 * LOGD_ENOTOPIC, LOGD_ENOPART, LOGD_EBADCONFIG (cleanup.policy has no
 * compact), and the clean's own (LOGD_ECLOSED when logd stops first).
 */
int logd_client_topic_compact(struct logd_client *c, const char *topic,
    int32_t partition, int timeout_ms, struct logd_clean_stats *st,
    uint32_t *partitions);

/* Metadata, as returned by logd_client_metadata() (owned by it). */
struct logd_partition_meta {
	int32_t partition;
	int64_t start_offset;     /* first stored offset */
	int64_t end_offset;       /* next offset to be assigned */
	uint64_t size;            /* bytes stored */
	uint64_t disk;            /* bytes of disk its files take (0 from a
	                             logd that does not say) */
	int error;                /* 0, or LOGD_EREADONLY after a failed sync */
	double dirty_ratio;       /* compaction: dirty / cleanable bytes */
	int64_t clean_point;      /* compaction: first dirty offset */
};

struct logd_topic_meta {
	const char *name;
	int error;                /* 0, or why this topic has no data here */
	int32_t partition_count;
	struct logd_partition_meta *partitions;
	size_t config_count;
	struct logd_kv *config;   /* the topic's settings */
};

struct logd_metadata {
	size_t topic_count;
	struct logd_topic_meta *topics;
};

/*
 * Describes the topics named in topics[0..n) (n 0: every topic), in the
 * broker's order.  An unknown topic requested by name comes back with
 * error LOGD_ENOTOPIC.  *out is freed with logd_metadata_free().
 * Errors: -ENOMEM, and the connection errors above.
 */
int logd_client_metadata(struct logd_client *c, const char *const *topics,
    size_t n, struct logd_metadata **out);
void logd_metadata_free(struct logd_metadata *m);

/* Special offsets for logd_client_list_offset() and the consumer. */
#define LOGD_OFFSET_LATEST    (-1)  /* the end: only new records */
#define LOGD_OFFSET_EARLIEST  (-2)  /* the first stored record */
#define LOGD_OFFSET_COMMITTED (-3)  /* the group's commit, else earliest */

/*
 * The offset of topic/partition for timestamp ts: LOGD_OFFSET_EARLIEST
 * gives the start offset, LOGD_OFFSET_LATEST the end offset, ts >= 0 the
 * first offset whose record timestamp is >= ts (the end offset if none).
 * Errors: LOGD_ENOTOPIC, LOGD_ENOPART.
 */
int logd_client_list_offset(struct logd_client *c, const char *topic,
    int32_t partition, int64_t ts, int64_t *offset);

/* Broker counters from STATS. */
struct logd_stats {
	int64_t connections;
	int64_t bytes_in;
	int64_t bytes_out;
	int64_t records_in;
	int64_t records_out;
	int64_t uptime_ms;
};

/* Fills *st from the broker's STATS reply (missing counters are -1). */
int logd_client_stats(struct logd_client *c, struct logd_stats *st);

/*
 * Synchronous produce of one finished batch (from logd_batch_builder or
 * any valid RecordBatch v2 bytes).  partition -1 lets the broker choose:
 * by key (Kafka's murmur2) when key is not NULL, else round robin.  acks
 * 0, 1 or -1 (all); with acks 0 nothing comes back and *base_offset is
 * -1.  On success *partition_out and *base_offset (either may be NULL)
 * say where it went.  Errors: LOGD_ENOTOPIC, LOGD_ENOPART, LOGD_EBADBATCH,
 * LOGD_ECRC, LOGD_ETOOBIG, LOGD_EREADONLY.
 */
int logd_client_produce(struct logd_client *c, const char *topic,
    int32_t partition, const void *key, size_t key_len, int acks,
    const void *batch, size_t len, int32_t *partition_out,
    int64_t *base_offset);

/* The result of logd_client_fetch(); records holds whole batches. */
struct logd_fetch {
	const uint8_t *records;   /* valid until logd_fetch_free() */
	size_t len;
	int64_t start_offset;     /* the partition's start and end offsets */
	int64_t end_offset;
};

/*
 * Synchronous fetch of raw stored batches from topic/partition at offset
 * (the first batch may begin below it), at most about max_bytes (0: 1
 * MiB; at least one whole batch).  The broker waits up to max_wait_ms
 * for data when there is none yet, and answers as soon as some arrives.
 * An empty result (len 0) means nothing arrived in time.  Iterate with
 * logd_batch_check()/logd_batch_iter_*().  Errors: LOGD_ENOTOPIC,
 * LOGD_ENOPART, LOGD_ERANGE (offset below the start or past the end).
 */
int logd_client_fetch(struct logd_client *c, const char *topic,
    int32_t partition, int64_t offset, size_t max_bytes, int max_wait_ms,
    struct logd_fetch **out);
void logd_fetch_free(struct logd_fetch *f);

/*
 * Commits offsets for group (offset = the next record the group will
 * read), all in one broker transaction, durably.  Errors: LOGD_EBADNAME,
 * LOGD_ENOTOPIC, LOGD_ENOPART.
 */
int logd_client_offsets_commit(struct logd_client *c, const char *group,
    const struct logd_offset_commit *offsets, size_t n);

/* Committed offsets and lag of one group (strings owned by it). */
struct logd_group_offset {
	const char *topic;
	int32_t partition;
	int64_t offset;           /* committed: next record to read */
	int64_t end_offset;       /* -1 when not reported */
	int64_t lag;              /* end_offset - offset, -1 when unknown */
	const char *metadata;     /* "" when none */
};

/* One partition list of an assignment. */
struct logd_group_assignment {
	const char *topic;
	size_t partition_count;
	int32_t *partitions;
};

/* A member of a group, as the coordinator sees it. */
struct logd_group_member {
	const char *member;
	const char *client;
	int session_ms;
	size_t topic_count;
	const char **topics;
	size_t assignment_count;
	struct logd_group_assignment *assignment;
};

struct logd_group {
	const char *name;
	const char *state;        /* "empty", "stable", "rebalancing"; ""
	                             from logd_client_offsets_fetch() */
	int64_t generation;       /* 0 when the group has no members */
	size_t member_count;
	struct logd_group_member *members;
	size_t offset_count;
	struct logd_group_offset *offsets;
};

/*
 * The offsets group has committed, for topic only (NULL: all topics).  A
 * group with no commits gives offset_count 0.  *out is freed with
 * logd_group_free().  Errors: LOGD_EBADNAME.
 */
int logd_client_offsets_fetch(struct logd_client *c, const char *group,
    const char *topic, struct logd_group **out);
void logd_group_free(struct logd_group *g);

/* Every group with committed offsets or members, with its lag per
 * partition and its members. */
struct logd_group_list {
	size_t count;
	struct logd_group *groups;
};

/* Lists groups (freed with logd_group_list_free()). */
int logd_client_groups(struct logd_client *c, struct logd_group_list **out);
/* One group: members, assignment, offsets and lag.  LOGD_ENOGROUP when it
 * has neither members nor commits.  Freed with logd_group_free(). */
int logd_client_group_describe(struct logd_client *c, const char *group,
    struct logd_group **out);
void logd_group_list_free(struct logd_group_list *l);

/* Deletes every committed offset of group.  LOGD_ENOGROUP if none. */
int logd_client_group_delete(struct logd_client *c, const char *group);

/* ---- Producer ---- */

/* Partition chosen by the producer: by key, else sticky round robin. */
#define LOGD_PARTITION_ANY (-1)
/* acks=all. */
#define LOGD_ACKS_ALL (-1)

/* What happened to one record; passed to on_delivery. */
struct logd_delivery {
	const char *topic;        /* valid during the callback */
	int32_t partition;
	int64_t offset;           /* -1 with acks 0 or on error */
	int error;                /* 0 or why the record was not stored */
	void *opaque;             /* as given to logd_producer_send() */
};

/*
 * Producer settings.  Start from logd_producer_options_default(); other
 * zero fields then take the defaults shown.
 */
struct logd_producer_options {
	int acks;                 /* 1 (default), 0 (no reply: fire and
	                             forget) or LOGD_ACKS_ALL (-1) */
	int linger_ms;            /* wait this long to fill a batch: 0 */
	size_t batch_bytes;       /* send a batch at this size: 256 KiB */
	int32_t batch_records;    /* ...or at this many records: unlimited */
	int max_in_flight;        /* produce requests in flight: 32 */
	/* Called once for every record, in send order per partition, from
	 * inside producer and client calls.  It must not call back into the
	 * producer or its client.  NULL: no per-record results (errors are
	 * still counted and returned by flush). */
	void (*on_delivery)(void *arg, const struct logd_delivery *d);
	void *arg;
	int codec;                /* LOGD_CODEC_*: batches compressed with
	                             it (LOGD_CODEC_NONE) */
};

/* Fills *o with the defaults (acks 1, everything else 0 = default). */
void logd_producer_options_default(struct logd_producer_options *o);

/*
 * Creates a producer that sends on c (borrowed: c must outlive it).
 * opts may be NULL (defaults).  Errors: -EINVAL (bad option), -ENOMEM.
 */
int logd_producer_new(struct logd_client *c,
    const struct logd_producer_options *opts, struct logd_producer **out);

/* One record to send.  Everything is borrowed for the call only. */
struct logd_message {
	const char *topic;
	int32_t partition;        /* >= 0, or LOGD_PARTITION_ANY */
	const void *key;          /* NULL: null key */
	size_t key_len;
	const void *value;        /* NULL: null value */
	size_t value_len;
	int64_t timestamp;        /* ms; 0: now */
	const struct logd_header *headers;
	size_t header_count;
	void *opaque;             /* handed back in the delivery */
};

/*
 * Adds a record to its partition's batch (the record's bytes are copied
 * now).  A batch is sent when it reaches batch_bytes or batch_records, or
 * once it is linger_ms old (checked by this and every producer call).
 * With linger_ms 0 a record is sent at once while its partition has
 * fewer than 4 requests in flight; past that, records gather until
 * replies come back, so batches grow under load by themselves.  When
 * max_in_flight requests are outstanding, blocks (handling replies) until
 * one completes.  The first record for a topic asks the broker for its
 * partition count (cached).  With LOGD_PARTITION_ANY, a keyed record goes
 * to logd_partition_for_key(key) and an unkeyed one to the current sticky
 * partition, which moves on each time a batch is sent.
 * Errors: LOGD_ENOTOPIC, LOGD_ENOPART, LOGD_ETOOBIG, -ENOMEM, connection
 * errors.  A failure here means the record was not taken (no delivery
 * will be reported for it); failures after it was taken are reported
 * through on_delivery and by logd_producer_flush().
 */
int logd_producer_send(struct logd_producer *p, const struct logd_message *m);

/*
 * Sends every pending batch now and handles replies that have arrived,
 * waiting up to timeout_ms (0: not at all, -1: until everything sent is
 * acknowledged).  Returns the number of records still unacknowledged.
 */
int logd_producer_poll(struct logd_producer *p, int timeout_ms);

/*
 * Sends every pending batch and waits until all records sent so far are
 * acknowledged (or written, with acks 0).  Returns 0 when every record
 * taken since the previous flush was stored, else the first error seen
 * (others were reported through on_delivery), LOGD_ETIMEDOUT when the
 * request timeout passed first.
 */
int logd_producer_flush(struct logd_producer *p);

/* Counters since the producer was made. */
struct logd_producer_stats {
	uint64_t records_sent;    /* taken by logd_producer_send() */
	uint64_t records_acked;   /* stored (or written, with acks 0) */
	uint64_t records_failed;
	uint64_t requests;        /* produce requests sent */
	uint64_t bytes;           /* batch bytes sent */
};
void logd_producer_stats(const struct logd_producer *p,
    struct logd_producer_stats *st);

/*
 * Flushes (as logd_producer_flush()) and frees the producer; returns the
 * flush result.  Records the flush could not send (the connection broke)
 * are reported to on_delivery with that error first.  Accepts NULL
 * (returns 0).
 */
int logd_producer_close(struct logd_producer *p);

/* ---- Consumer ---- */

/* Consumer settings.  Zero fields take the defaults shown. */
struct logd_consumer_options {
	const char *group;        /* for commits and LOGD_OFFSET_COMMITTED;
	                             NULL: none (copied) */
	size_t max_bytes;         /* per fetch request: 1 MiB */
	size_t min_bytes;         /* the broker waits for this much: 1 */
	int max_wait_ms;          /* long-poll wait per fetch: 500 */
	int no_prefetch;          /* 1: fetch only when a partition's data
	                             is used up (default: keep one fetch in
	                             flight per partition ahead of use) */
	int no_stream;            /* 1: one FETCH per reply (long-poll),
	                             as with a logd that has no streams
	                             (default: one streaming FETCH per
	                             partition with a credit of 8 replies;
	                             not with no_prefetch) */
	/* Group membership (logd_consumer_subscribe()): */
	int session_ms;           /* removed by the broker after this long
	                             without a heartbeat: 10000 */
	int64_t start_offset;     /* where a partition with no commit starts:
	                             LOGD_OFFSET_EARLIEST (default) or
	                             LOGD_OFFSET_LATEST */
	/*
	 * Called inside poll/commit/close when partitions are taken away
	 * (before their positions are committed, so an application that
	 * keeps its own state can make it durable first) and when new ones
	 * are given (after they are assigned).  May be NULL.  The callbacks
	 * must not call back into the consumer except
	 * logd_consumer_position() and, in on_revoke,
	 * logd_consumer_seek() to an offset >= 0 (to choose the offset
	 * committed for a partition given up, when the application has not
	 * processed everything poll returned).
	 */
	void (*on_revoke)(void *arg, const struct logd_group_assignment *a,
	    size_t n);
	void (*on_assign)(void *arg, const struct logd_group_assignment *a,
	    size_t n);
	void *cb_arg;
	/*
	 * A batch poll cannot read (it does not decompress or parse: stored
	 * before logd checked batches, or damaged) stops its partition with
	 * an error naming topic, partition and the batch's offsets.  With
	 * skip_bad 1 the batch is skipped instead (the position moves to
	 * its last offset + 1; its records are lost) and reported once: to
	 * on_skip (called inside poll, with why a message naming topic,
	 * partition and offsets, valid during the call), or, if on_skip is
	 * NULL, by poll returning the error once, after which the next poll
	 * goes on after the batch.  A batch whose header itself is
	 * unreadable cannot be skipped: it stops its partition.
	 */
	int skip_bad;
	void (*on_skip)(void *arg, const char *topic, int32_t partition,
	    int64_t first, int64_t last, const char *why);
};

/*
 * Creates a consumer that fetches on c (borrowed: c must outlive it).
 * opts may be NULL.  Errors: LOGD_EBADNAME (group), -ENOMEM.
 */
int logd_consumer_new(struct logd_client *c,
    const struct logd_consumer_options *opts, struct logd_consumer **out);

/* Frees the consumer (commits nothing).  A subscribed consumer first
 * calls on_revoke and leaves its group (LEAVE_GROUP), so the other
 * members take its partitions at once.  Accepts NULL. */
void logd_consumer_close(struct logd_consumer *cs);

/*
 * Starts reading topic/partition at offset: an offset >= 0,
 * LOGD_OFFSET_EARLIEST, LOGD_OFFSET_LATEST, or LOGD_OFFSET_COMMITTED (the
 * group's committed offset, earliest if none; needs a group).  partition
 * LOGD_PARTITION_ANY assigns every partition of the topic.  Assigning an
 * assigned partition again seeks it.  Errors: LOGD_ENOTOPIC,
 * LOGD_ENOPART, -EINVAL (LOGD_OFFSET_COMMITTED without a group).
 */
int logd_consumer_assign(struct logd_consumer *cs, const char *topic,
    int32_t partition, int64_t offset);

/* Stops reading topic/partition (all partitions with -1).  -ENOENT if
 * it was not assigned; -EINVAL if cs is subscribed (its group assigns). */
int logd_consumer_unassign(struct logd_consumer *cs, const char *topic,
    int32_t partition);

/*
 * Moves an assigned partition to offset (as logd_consumer_assign()), or
 * with logd_consumer_seek_time() to the first record at or after
 * timestamp ts.  Data fetched for the old position is dropped.
 * Errors: -ENOENT (not assigned), as logd_client_list_offset().
 */
int logd_consumer_seek(struct logd_consumer *cs, const char *topic,
    int32_t partition, int64_t offset);
int logd_consumer_seek_time(struct logd_consumer *cs, const char *topic,
    int32_t partition, int64_t ts);

/* One record returned by logd_consumer_poll(). */
struct logd_consumer_record {
	const char *topic;
	int32_t partition;
	struct logd_record rec;   /* offset, timestamp, key, value, headers
	                             (walk them with logd_record_header_next) */
};

/*
 * Returns the next record of the assigned partitions, in offset order
 * within each partition (partitions take turns, one fetched chunk at a
 * time); records below a partition's position are skipped.  Waits up to
 * timeout_ms (0: not at all, -1: forever) for data.  Returns 1 with a
 * record in *out, 0 when none came in time (or at once when no assigned
 * partition can be read: all stopped by errors).
 * Lifetime: everything *out points to is valid until the next
 * logd_consumer_poll(), seek, unassign or close on cs.
 * Errors: LOGD_ERANGE (a partition's position is outside the log: that
 * partition stops until it is seeked; logd_client_errmsg() names it),
 * LOGD_ENOTOPIC/LOGD_ENOPART (deleted meanwhile, the partition stops
 * likewise), LOGD_EBADBATCH/LOGD_ECRC (corrupt data from the broker),
 * -ENOTSUP (a compressed batch), connection errors.
 */
int logd_consumer_poll(struct logd_consumer *cs, int timeout_ms,
    struct logd_consumer_record *out);

/*
 * The next offset poll will return for topic/partition (special offsets
 * are resolved when assigned).  -ENOENT if not assigned.
 */
int logd_consumer_position(const struct logd_consumer *cs, const char *topic,
    int32_t partition, int64_t *offset);

/*
 * Commits the position of every assigned partition (everything returned
 * so far counts as consumed) for the consumer's group, in one request,
 * waiting for the reply.  A subscribed consumer commits as its member and
 * generation.  Errors: -EINVAL (no group), as
 * logd_client_offsets_commit(); LOGD_EGENERATION / LOGD_EREBALANCE /
 * LOGD_EMEMBER when a subscribed consumer lost its partitions (it rejoins
 * on the next poll; what it returned since its last commit will be read
 * again by the partitions' new owner).
 */
int logd_consumer_commit(struct logd_consumer *cs);

/*
 * The same commit without waiting (Kafka's commitAsync): the request is
 * sent and the consumer goes on; the reply is read by later polls and
 * commits.  A failed asynchronous commit is reported once, by the next
 * logd_consumer_commit_async() or logd_consumer_commit() (with its
 * message in logd_client_errmsg()); the commits of one consumer are
 * applied in the order they were made.  A synchronous commit waits for
 * the asynchronous ones before it; logd_consumer_close() forgets those
 * still in flight (it commits nothing).  Returns 0 once sent.
 */
int logd_consumer_commit_async(struct logd_consumer *cs);

/*
 * Joins the consumer's group as a member reading topic (call once per
 * topic, before the first poll; not mixed with logd_consumer_assign()).
 * The broker splits the topics' partitions between the group's members;
 * poll then reads the partitions this member owns, from the group's
 * committed offsets (opts->start_offset where there is none, or where
 * the commit is outside the log, below its start after retention: a
 * member's partition never stops with LOGD_ERANGE), heartbeats
 * in the background of poll, and follows rebalances: on one it calls
 * on_revoke, commits its positions, rejoins, and calls on_assign.  The
 * broker holds a join until the rebalance is done (up to the largest
 * session_ms in the group): meanwhile poll returns 0 after its timeout.
 * A member the broker removed (silent past session_ms) rejoins as a new
 * member by itself and resumes from the committed offsets.  A logd
 * restart breaks the connection (poll returns LOGD_ECLOSED and the
 * client stays unusable): open a new client and consumer and subscribe
 * again; the new member resumes from the committed offsets.
 * logd_consumer_close() of a subscribed consumer calls on_revoke and
 * leaves the group (it commits nothing: call logd_consumer_commit()
 * first).  Errors: -EINVAL (no group, or assign was used), LOGD_EBADNAME,
 * -ENOMEM.  logd_consumer_assign() and _unassign() on a subscribed
 * consumer: -EINVAL.
 */
int logd_consumer_subscribe(struct logd_consumer *cs, const char *topic);

/*
 * The member id and generation of a subscribed consumer (NULL/0 until
 * its first join completes), and its current assignment (valid until the
 * next poll, commit or close): NULL with *n 0 while the member is
 * joining, non-NULL once it has its partitions (*n may be 0 when the
 * group has more members than partitions).
 */
const char *logd_consumer_member(const struct logd_consumer *cs,
    int64_t *generation);
const struct logd_group_assignment *logd_consumer_assignment(
    const struct logd_consumer *cs, size_t *n);

#ifdef __cplusplus
}
#endif
#endif /* LOGD_H */
