/*
 * native.h - what the two files of the native protocol share (native.c:
 * framing, dispatch, topics, produce and fetch; native_group.c: groups
 * and their offsets).  The only daemon files that know msgpack.
 */
#ifndef LOGD_NATIVE_H
#define LOGD_NATIVE_H

#include "broker.h"
#include "proto.h"

struct nstream;

/* Per connection: the zone decoded requests live in, and its streams. */
struct native_conn {
	msgpack_zone zone;
	struct nstream *streams;   /* native_stream.c */
	size_t nblocked;           /* streams stopped for backpressure */
};

/* A reply being written into c->out. */
struct nreply {
	struct conn *c;
	msgpack_packer pk;
	size_t start;              /* offset of the frame in c->out */
};

/* Starts a reply frame [api, corr, body]; pack the body with r->pk. */
void native_begin(struct nreply *r, struct conn *c, int api, uint32_t corr);
/* Closes it; trailing bytes follow separately (conn_push_read). */
void native_end(struct nreply *r, size_t trailing);
/* A whole error reply. */
void native_error(struct conn *c, int api, uint32_t corr, int code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* {error: 0} */
void native_ok(struct conn *c, int api, uint32_t corr);
/* An error from a decoded request's m->err (LOGD_EPROTO). */
#define native_bad(c, m) \
	native_error((c), (m)->api, (m)->corr, LOGD_EPROTO, "%s", (m)->err)

/*
 * A fetch reply for fp: {error 0, partition, start, end, [stream,]
 * records} with fp's read queued behind it (taken).  stream < 0: no
 * stream key (a plain fetch).
 */
void native_fetch_reply(struct conn *c, int api, uint32_t corr,
    struct fetch_part *fp, int stream);

/* A decoded FETCH is a stream (stream > 0): the fields as checked by
 * native_fetch.  Replies (the first, or an error) are written here. */
struct nfetch_args {
	const char *topic;
	int32_t partition;
	int64_t offset, max_bytes, min_bytes, max_wait_ms, stream;
};
void native_stream_open(struct conn *c, struct logd_msg *m,
    const struct nfetch_args *a);
/* The connection goes: frees its streams (none may be in the broker). */
void native_stream_free_all(struct native_conn *nc);
/* The connection's output drained: blocked streams go on. */
void native_stream_drained(struct conn *c);

typedef void native_handler(struct conn *c, struct logd_msg *m);

native_handler native_offset_commit, native_offset_fetch,
    native_join_group, native_heartbeat, native_leave_group,
    native_list_groups, native_delete_group, native_fetch_credit;

#endif /* LOGD_NATIVE_H */
