/*
 * kafka.h - what the Kafka protocol's files share: kafka.c (framing,
 * request header, dispatch, ApiVersions, wire primitives), kafka_data.c
 * (topics, produce, fetch, offsets) and kafka_group.c (the group
 * coordinator's requests).
 *
 * Requests are decoded with a bounds-checked reader whose error is
 * sticky: after the first short or bad field every read returns zero or
 * NULL and r->err is set, so a decoder reads straight through and checks
 * once.  Responses are written into the connection's output buffer with
 * the writer below; the frame's size is patched at the end.
 */
#ifndef LOGD_KAFKA_H
#define LOGD_KAFKA_H

#include "broker.h"

/* Kafka's error codes that logd answers with. */
enum {
	KERR_UNKNOWN = -1,
	KERR_NONE = 0,
	KERR_OFFSET_OUT_OF_RANGE = 1,
	KERR_CORRUPT_MESSAGE = 2,
	KERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
	KERR_MESSAGE_TOO_LARGE = 10,
	KERR_COORDINATOR_NOT_AVAILABLE = 15,
	KERR_INVALID_TOPIC = 17,
	KERR_INVALID_REQUIRED_ACKS = 21,
	KERR_ILLEGAL_GENERATION = 22,
	KERR_INCONSISTENT_GROUP_PROTOCOL = 23,
	KERR_INVALID_GROUP_ID = 24,
	KERR_UNKNOWN_MEMBER_ID = 25,
	KERR_INVALID_SESSION_TIMEOUT = 26,
	KERR_REBALANCE_IN_PROGRESS = 27,
	KERR_INVALID_TIMESTAMP = 32,
	KERR_UNSUPPORTED_VERSION = 35,
	KERR_TOPIC_ALREADY_EXISTS = 36,
	KERR_INVALID_PARTITIONS = 37,
	KERR_INVALID_REPLICATION_FACTOR = 38,
	KERR_INVALID_CONFIG = 40,
	KERR_INVALID_REQUEST = 42,
	KERR_OUT_OF_ORDER_SEQUENCE = 45,
	KERR_DUPLICATE_SEQUENCE = 46,
	KERR_INVALID_PRODUCER_EPOCH = 47,
	KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
	KERR_KAFKA_STORAGE_ERROR = 56,
	KERR_NON_EMPTY_GROUP = 68,
	KERR_GROUP_ID_NOT_FOUND = 69,
	KERR_MEMBER_ID_REQUIRED = 79,
	KERR_INVALID_RECORD = 87,
};

/* Kafka's code for a liblogd one. */
int16_t kafka_error(int logd_code);

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

struct kreader {
	const uint8_t *p, *end;
	int err;                   /* sticky: 0 or LOGD_EPROTO */
};

int8_t kr_i8(struct kreader *r);
int16_t kr_i16(struct kreader *r);
int32_t kr_i32(struct kreader *r);
int64_t kr_i64(struct kreader *r);
/* A string (i16 length; -1 is null: NULL, *len 0).  Not NUL-terminated. */
const char *kr_str(struct kreader *r, size_t *len);
/*
 * A string copied NUL-terminated into buf; null reads as "".  Too long
 * for buf or holding a NUL byte: the reader's error.
 */
void kr_cstr(struct kreader *r, char *buf, size_t size);
/* Bytes (i32 length; -1 is null: NULL, *len 0). */
const uint8_t *kr_bytes(struct kreader *r, size_t *len);
/*
 * An array's count (i32; -1 is null: returns -1).  A count that min_size
 * bytes per element could not fill from what is left is an error (0).
 */
int32_t kr_array(struct kreader *r, size_t min_size);

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

void kw_i8(struct obuf *b, int8_t v);
void kw_i16(struct obuf *b, int16_t v);
void kw_i32(struct obuf *b, int32_t v);
void kw_i64(struct obuf *b, int64_t v);
/* A string (NULL: null). */
void kw_str(struct obuf *b, const char *s);
void kw_strn(struct obuf *b, const char *s, size_t len);
/* Bytes (NULL: null). */
void kw_bytes(struct obuf *b, const void *p, size_t len);
/* Overwrites the i32 at pos. */
void kw_put_i32(struct obuf *b, size_t pos, int32_t v);

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

struct kreq {
	struct conn *c;
	int16_t api, version;
	int32_t corr;
	char client_id[256];
	struct kreader r;          /* the body */
};

/* Starts the response to q in q->c->out: returns the frame's start. */
size_t kafka_begin(const struct kreq *q);
/* Patches the frame's size and queues it. */
void kafka_end(struct conn *c, size_t start);

typedef void kafka_handler(struct kreq *q);

struct kapi {
	int16_t key, min, max;
	kafka_handler *fn;
};

/* kafka_data.c, kafka_group.c */
kafka_handler kafka_metadata, kafka_produce, kafka_fetch,
    kafka_list_offsets, kafka_create_topics, kafka_delete_topics,
    kafka_describe_configs, kafka_init_producer_id;
kafka_handler kafka_find_coordinator, kafka_join_group, kafka_sync_group,
    kafka_heartbeat, kafka_leave_group, kafka_offset_commit,
    kafka_offset_fetch, kafka_describe_groups, kafka_list_groups;

/* The host and port Metadata and FindCoordinator give (kafka_advertised,
 * else kafka_listen with the port bound). */
void kafka_advertised(char *host, size_t size, int32_t *port);

/* Begins the response of a parked request. */
size_t kafka_begin_wait(const struct rwait *w);
void kafka_wait_init(struct rwait *w, const struct kreq *q);

/* Topic name from the reader into buf (LOGD_TOPIC_NAME_MAX + 1 bytes). */
void kr_topic(struct kreader *r, char *buf);

#endif /* LOGD_KAFKA_H */
