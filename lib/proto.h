/*
 * proto.h - the native protocol: framing, API numbers, message fields.
 * Internal to liblogd and logd (not installed).
 *
 * A frame is a big-endian u32 length N, then N bytes holding one msgpack
 * array [api, correlation_id, body]: api a positive int, correlation_id a
 * u32 chosen by the client, body a map with string keys.  Requests are
 * pipelined; each response carries the request's api and correlation id.
 * Responses may come back out of request order: a long-poll fetch or an
 * acks=all produce waits while later requests are answered, so clients
 * match responses by correlation id.
 *
 * Every response body has "error" (int: 0, or a liblogd code from
 * logd.h, negative) and, when error != 0, "message" (str, readable).
 * Unknown body keys are ignored, so fields can be added later.
 *
 * Requests and responses (body keys; "?" optional, with its default):
 *
 * HELLO 0       {client?:str}
 *               -> {error, version:str, apis:[int], max_frame:int}
 * METADATA 1    {topics?:[str]}  (absent: all topics)
 *               -> {error, topics:[{name, error, partitions:[{partition,
 *                  start, end, size, disk?, error}], config:{key:str...}}]}
 *               A partition's error is LOGD_EREADONLY once a sync of it
 *               failed (it refuses appends until logd restarts), else 0.
 * CREATE 2      {topic, partitions?:int, config?:{key:str}}  -> {error}
 * DELETE 3      {topic}                                      -> {error}
 * ALTER 4       {topic, config:{key:str}}                    -> {error}
 * PRODUCE 5     {topic, partition?:int (-1), key?:bin, acks?:int (-1),
 *                records:bin}
 *               partition -1 with key: Kafka's murmur2 partitioner; -1
 *               without key: round-robin.  acks 0: no response at all;
 *               1: after append; -1 (all): after the sync covering it.
 *               -> {error, partition, base_offset, last_offset}
 * FETCH 6       {topic, partition, offset, max_bytes?:int (1 MiB),
 *                min_bytes?:int (1), max_wait_ms?:int (0)}
 *               -> {error, partition, start, end, records:bin}
 *               "records" is always the LAST key of the body, so the
 *               daemon writes the msgpack up to the bin header and then
 *               the stored batches straight from the segment map.
 *               Records may start below the offset asked for.
 *               max_wait_ms above 30000 is taken as 30000.
 *               With stream?:int (0) = N > 0 the fetch is a stream:
 *               the first reply goes out as above, then the request
 *               stays parked at the offset after the reply's last
 *               batch and is answered again, same api and corr, each
 *               time min_bytes are there or max_wait_ms passes (an
 *               empty reply keeps the client's "end" fresh), up to N
 *               replies in all; FETCH_CREDIT allows more.  Stream
 *               replies carry stream:int before "records": 1 while
 *               the stream goes on, 0 in its last reply (cancelled, or
 *               logd is stopping).  An error reply also ends it (topic
 *               deleted, offset out of range).  N is 1..1048576 and
 *               max_wait_ms must be >= 1; a corr already streaming on
 *               the connection is refused (LOGD_EPROTO).  A stream does
 *               not re-arm while the connection's unsent output is over
 *               max_pending_bytes, and ends with its connection.
 *               HELLO lists FETCH_CREDIT in "apis" when logd knows
 *               streams; an older logd ignores the field and answers
 *               once.
 * LIST_OFFSETS 7 {topic, partition, timestamp:int}
 *               timestamp -2: earliest, -1: latest, else first offset
 *               whose timestamp >= it.   -> {error, offset}
 * OFFSET_COMMIT 8 {group, generation?:int (-1), member?:str,
 *                offsets:[{topic, partition, offset, metadata?:str}]}
 *               generation -1: a simple (standalone) consumer; refused
 *               with LOGD_EGENERATION while the group has members.
 *               generation >= 0: member must be a member of the group and
 *               generation its current one (also while a rebalance waits
 *               for members to rejoin: that is when they commit what
 *               they give up); else LOGD_EMEMBER / LOGD_EGENERATION.
 *               Partitions outside the member's assignment: LOGD_EMEMBER.
 *               -> {error}
 * OFFSET_FETCH 9 {group, topic?:str}
 *               -> {error, offsets:[{topic, partition, offset,
 *                  metadata}]}
 *
 * Group membership (the broker is the coordinator and does the
 * assignment itself, so there is no separate sync step):
 *
 * JOIN_GROUP 10 {group, member?:str (""), topics:[str],
 *                session_ms?:int (10000, 1000..300000), client?:str}
 *               -> {error, member:str, generation:int,
 *                  heartbeat_ms:int, assignment:[{topic,
 *                  partitions:[int]}]}
 *               member "" joins a new member; the broker names it
 *               ("<client>-<boot id>-<n>", never reused across restarts).
 *               A known member rejoins.  An unknown non-empty member:
 *               LOGD_EMEMBER (join again with "").  Any join that changes
 *               the group (new member, changed topics) starts a
 *               rebalance.  The reply is held until the rebalance is
 *               done: every member known when it began has rejoined,
 *               left, or missed the rebalance timeout (the largest
 *               session_ms among the members) and was removed.  Then
 *               the generation goes up by one and every held join gets
 *               the new generation and its own assignment.
 *               Assignment: per topic, the topic's partitions in order,
 *               round-robin over the members subscribed to it, sorted by
 *               member id; every partition has exactly one owner.  Topics
 *               with no partition for the member are left out.  A rejoin
 *               that changes nothing while the group is stable is
 *               answered at once.  topics: 1 to 1000 existing topics
 *               (else LOGD_EPROTO, or LOGD_ENOTOPIC naming it); client
 *               and member: printable ASCII, at most 128 and 255 bytes.
 *               heartbeat_ms is session_ms / 3, at most 3000: members
 *               learn of a rebalance at their next heartbeat, so a long
 *               session must not slow it down.  A held join is answered
 *               LOGD_ECLOSED when logd shuts down; a member whose held
 *               join's connection closes (or sends EOF) is removed.
 * HEARTBEAT 11  {group, member, generation}  -> {error}
 *               0: carry on.  LOGD_EREBALANCE: a rebalance started:
 *               commit what was consumed (with the current generation),
 *               stop reading, JOIN again with the same member id.
 *               LOGD_EMEMBER: the member was removed (session expired,
 *               logd restarted): join again with member "".
 *               LOGD_EGENERATION: generation is not the current one:
 *               join again.  Any request from a member (join, heartbeat,
 *               commit) renews its session; a member silent for
 *               session_ms is removed and a rebalance starts.
 * LEAVE_GROUP 12 {group, member}  -> {error}
 *               removes the member at once and starts a rebalance for
 *               the others.  LOGD_EMEMBER if it was not a member.
 *               Group membership lives in memory only; committed offsets
 *               live in LMDB, so after a restart members rejoin and
 *               resume from them.
 * STATS 13      {} -> {error, connections, bytes_in, bytes_out,
 *                  records_in, records_out, uptime_ms, topics:[...]}
 * LIST_GROUPS 14 {group?:str} -> {error, groups:[{group, state:str
 *                  ("empty", "stable", "rebalancing"), generation:int,
 *                  members:[{member, client, session_ms, topics:[str],
 *                  assignment:[{topic, partitions:[int]}]}],
 *                  offsets:[{topic, partition, offset, end, lag}]}]}
 *               Groups with committed offsets or members; with group,
 *               only that one (LOGD_ENOGROUP if it has neither).
 * DELETE_GROUP 15 {group} -> {error}
 *               LOGD_EGENERATION while the group has members.
 * COMPACT 16    {topic, partition?:int (-1: all)}
 *               -> {error, partitions, segments, deleted, records_read,
 *                  records_kept, tombstones, keyless, bytes_before,
 *                  bytes_after, run_ms}
 *               cleans the topic's partitions now, whatever their dirty
 *               ratio (logctl compact), one after the other, and answers
 *               when the last is done (the counts summed over them).
 *               LOGD_EBADCONFIG when the topic is not compacted.
 *
 * FETCH_CREDIT 17 {corr:int, credit?:int (0), cancel?:int (0)}
 *               corr names a stream of this connection (the corr of
 *               its FETCH).  credit 1..1048576 adds as many replies
 *               (the stream's unspent credit may not pass 1048576);
 *               cancel 1 ends the stream: its last reply (stream 0,
 *               no records) follows, and nothing after it.  No reply
 *               when it succeeds (like Apache Pulsar's FLOW); an error
 *               reply {error, message} under this request's own corr
 *               when it fails: no such stream (ended, never opened, or
 *               a plain fetch), credit out of range, neither credit
 *               nor cancel.  A client may get that error for a stream
 *               that ended while its credit was on the way: it drops
 *               it, as it drops replies to a cancelled stream.
 *
 * METADATA partitions also carry dirty_ppm (the dirty ratio of the
 * cleanable segments, in millionths) and clean_point (the cleaner's
 * first dirty offset).
 */
#ifndef LOGD_PROTO_H
#define LOGD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "logd.h"

enum logd_api {
	LOGD_API_HELLO = 0,
	LOGD_API_METADATA = 1,
	LOGD_API_CREATE = 2,
	LOGD_API_DELETE = 3,
	LOGD_API_ALTER = 4,
	LOGD_API_PRODUCE = 5,
	LOGD_API_FETCH = 6,
	LOGD_API_LIST_OFFSETS = 7,
	LOGD_API_OFFSET_COMMIT = 8,
	LOGD_API_OFFSET_FETCH = 9,
	LOGD_API_JOIN_GROUP = 10,
	LOGD_API_HEARTBEAT = 11,
	LOGD_API_LEAVE_GROUP = 12,
	LOGD_API_STATS = 13,
	LOGD_API_LIST_GROUPS = 14,
	LOGD_API_DELETE_GROUP = 15,
	LOGD_API_COMPACT = 16,
	LOGD_API_FETCH_CREDIT = 17,
	LOGD_API_COUNT
};

#define LOGD_FRAME_HEADER 4
/* The most replies a stream may have in credit (FETCH stream, credit). */
#define LOGD_STREAM_CREDIT_MAX (1 << 20)
/* Default cap on one frame: a maximum batch plus room for the envelope. */
#define LOGD_FRAME_MAX_DEFAULT (LOGD_BATCH_MAX_SIZE + 65536)

/* The readable name of an api ("produce"), or "unknown". */
const char *logd_proto_api_name(int api);

/* ------------------------------------------------------------------ */
/* Encoding (lib/proto.c)                                              */
/* ------------------------------------------------------------------ */

/*
 * A growable output buffer with a msgpack packer writing into it.  Out of
 * memory is sticky: the packer stops writing, err becomes -ENOMEM, and
 * logd_proto_end() returns it.  data/len are the bytes written so far;
 * data moves when the buffer grows.  pk points at the buffer: never copy
 * a logd_pbuf, keep it where it was initialised.
 */
struct logd_pbuf {
	char *data;
	size_t len;
	size_t cap;
	size_t frame;             /* offset of the open frame's length */
	int err;                  /* 0 or -ENOMEM, sticky until reset */
	msgpack_packer pk;        /* packs into this buffer */
};

/* Initialises an empty buffer (no allocation until the first write). */
void logd_pbuf_init(struct logd_pbuf *b);
/* Frees the bytes; the buffer may be initialised again. */
void logd_pbuf_free(struct logd_pbuf *b);
/* Empties the buffer and clears err, keeping its memory. */
void logd_pbuf_reset(struct logd_pbuf *b);
/* Makes room for n more bytes.  Errors: -ENOMEM (also sets err). */
int logd_pbuf_reserve(struct logd_pbuf *b, size_t n);
/* Appends len raw bytes.  Errors: -ENOMEM. */
int logd_pbuf_append(struct logd_pbuf *b, const void *p, size_t len);

/*
 * Starts a frame at the end of b: reserves the u32 length, packs the
 * array header of 3 and the api and corr.  The caller then packs the body
 * map with b->pk, and calls logd_proto_end().
 */
void logd_proto_begin(struct logd_pbuf *b, int api, uint32_t corr);
/*
 * Closes the frame begun last: writes its length.  trailing is a count of
 * bytes that belong to the frame but are sent separately after b's bytes
 * (the stored batches of a fetch reply, after the bin header packed with
 * msgpack_pack_bin()).  Errors: b->err (-ENOMEM), LOGD_ETOOBIG when the
 * frame would pass 4 GiB.
 */
int logd_proto_end(struct logd_pbuf *b, size_t trailing);

/* Packing helpers: a NUL-terminated string; a key and a value. */
void logd_pack_str(msgpack_packer *pk, const char *s);
void logd_pack_kv_int(msgpack_packer *pk, const char *key, int64_t v);
void logd_pack_kv_str(msgpack_packer *pk, const char *key, const char *s);
void logd_pack_kv_bin(msgpack_packer *pk, const char *key, const void *p,
    size_t len);

/*
 * Packs a whole error response frame: [api, corr, {error: code,
 * message: "..."}] (printf-style message; NULL fmt uses
 * logd_strerror(code)).  Returns as logd_proto_end().
 */
int logd_proto_error(struct logd_pbuf *b, int api, uint32_t corr, int code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ------------------------------------------------------------------ */
/* Decoding (lib/proto.c)                                              */
/* ------------------------------------------------------------------ */

/*
 * Looks at the len bytes at p (the start of a frame): returns 0 with
 * *frame_len (header included, so 4 + N) when the whole frame is there,
 * -EAGAIN when more bytes are needed (*frame_len, if the header is there,
 * says how many in all), LOGD_ETOOBIG when N > max (the stream cannot be
 * trusted after that), LOGD_EPROTO when N is 0.
 */
int logd_proto_frame(const void *p, size_t len, size_t max,
    size_t *frame_len);

/*
 * A decoded message.  body is the map; str and bin objects in it point
 * into the frame's bytes (valid as long as they are; an empty one too,
 * never NULL, so "" is not taken for a missing field), arrays and maps
 * live in the zone given to logd_proto_decode() (valid until it is
 * cleared).  err holds the message of the last failed decode or getter.
 */
struct logd_msg {
	int32_t api;
	uint32_t corr;
	const msgpack_object *body;
	char err[256];
};

/*
 * Decodes the payload of one frame (p, n: the bytes after the length):
 * exactly one msgpack array [api:uint, corr:uint32, body:map] and nothing
 * after it.  Containers are checked against the bytes present before
 * anything is allocated, nesting is limited to 32 levels.  Clears zone
 * first.  Errors: LOGD_EPROTO (m->err says what), -ENOMEM.  An unknown
 * api is not an error here: check m->api against LOGD_API_COUNT.
 */
int logd_proto_decode(const void *p, size_t n, msgpack_zone *zone,
    struct logd_msg *m);

/*
 * Body field getters.  map is the map to look in (NULL: m->body).  A
 * required getter returns LOGD_EPROTO when the key is missing or nil; an
 * _opt getter stores def (NULL/0 for pointers) when it is missing or nil.
 * Wrong type or range: LOGD_EPROTO.  On error m->err names the field.
 * Strings and bins are returned as (pointer, length) into the frame.
 */
const msgpack_object *logd_proto_field(const msgpack_object *map,
    const char *key);
int logd_proto_int(struct logd_msg *m, const msgpack_object *map,
    const char *key, int64_t *v);
int logd_proto_int_opt(struct logd_msg *m, const msgpack_object *map,
    const char *key, int64_t def, int64_t *v);
int logd_proto_uint(struct logd_msg *m, const msgpack_object *map,
    const char *key, uint64_t *v);
int logd_proto_uint_opt(struct logd_msg *m, const msgpack_object *map,
    const char *key, uint64_t def, uint64_t *v);
int logd_proto_str(struct logd_msg *m, const msgpack_object *map,
    const char *key, const char **p, size_t *len);
int logd_proto_str_opt(struct logd_msg *m, const msgpack_object *map,
    const char *key, const char **p, size_t *len);
/*
 * A string copied NUL-terminated into buf (size bytes).  LOGD_EPROTO when
 * it does not fit or holds a NUL byte.  _opt: "" when missing.
 */
int logd_proto_cstr(struct logd_msg *m, const msgpack_object *map,
    const char *key, char *buf, size_t size);
int logd_proto_cstr_opt(struct logd_msg *m, const msgpack_object *map,
    const char *key, char *buf, size_t size);
int logd_proto_bin(struct logd_msg *m, const msgpack_object *map,
    const char *key, const void **p, size_t *len);
int logd_proto_bin_opt(struct logd_msg *m, const msgpack_object *map,
    const char *key, const void **p, size_t *len);
int logd_proto_array(struct logd_msg *m, const msgpack_object *map,
    const char *key, const msgpack_object_array **a);
int logd_proto_array_opt(struct logd_msg *m, const msgpack_object *map,
    const char *key, const msgpack_object_array **a);
/* A nested map, returned as its object (to pass as map above). */
int logd_proto_map(struct logd_msg *m, const msgpack_object *map,
    const char *key, const msgpack_object **o);
int logd_proto_map_opt(struct logd_msg *m, const msgpack_object *map,
    const char *key, const msgpack_object **o);

#endif /* LOGD_PROTO_H */
