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
 *                  start, end, size}], config:{key:str...}}]}
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
 * LIST_OFFSETS 7 {topic, partition, timestamp:int}
 *               timestamp -2: earliest, -1: latest, else first offset
 *               whose timestamp >= it.   -> {error, offset}
 * OFFSET_COMMIT 8 {group, generation?:int (-1), member?:str,
 *                offsets:[{topic, partition, offset, metadata?:str}]}
 *               generation -1: a simple (standalone) consumer.
 *               -> {error}
 * OFFSET_FETCH 9 {group, topic?:str}
 *               -> {error, offsets:[{topic, partition, offset,
 *                  metadata}]}
 * JOIN_GROUP 10 {group, member?:str, topics:[str], session_ms?:int}
 * HEARTBEAT 11  {group, member, generation}
 * LEAVE_GROUP 12 {group, member}
 *               (group membership: issue 6; until then LOGD_EUNSUPPORTED)
 * STATS 13      {} -> {error, connections, bytes_in, bytes_out,
 *                  records_in, records_out, uptime_ms, topics:[...]}
 * LIST_GROUPS 14 {} -> {error, groups:[{group, offsets:[{topic,
 *                  partition, offset, end, lag}]}]}
 * DELETE_GROUP 15 {group} -> {error}
 */
#ifndef LOGD_PROTO_H
#define LOGD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

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
	LOGD_API_COUNT
};

#define LOGD_FRAME_HEADER 4
/* Default cap on one frame: a maximum batch plus room for the envelope. */
#define LOGD_FRAME_MAX_DEFAULT (LOGD_BATCH_MAX_SIZE + 65536)

#endif /* LOGD_PROTO_H */
