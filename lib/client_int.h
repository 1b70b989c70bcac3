/*
 * client_int.h - what client.c shares with the producer and consumer
 * (client_producer.c, client_consumer.c).  Internal to liblogd.
 *
 * The connection core is a request table and two buffers.  A request is
 * begun with cl_req_begin() (which allocates its correlation id and
 * starts the frame in the output buffer), its body packed with the
 * returned packer, and ended with cl_req_end(), which names the function
 * to call with the reply.  Replies are dispatched from inside cl_poll(),
 * whoever called it: a synchronous admin call and the producer's acks
 * share one connection without knowing about each other.
 */
#ifndef LOGD_CLIENT_INT_H
#define LOGD_CLIENT_INT_H

#include <stdint.h>

#include <msgpack.h>

#include "logd.h"
#include "proto.h"

/*
 * A reply frame handed to a done function.  payload/len are the bytes
 * after the length prefix.  When owned is 1, buf is a malloc'd block the
 * done function may keep by setting buf to NULL (payload points into
 * it); otherwise the bytes live in the client's input buffer and are
 * valid only during the call.
 */
struct cl_frame {
	uint8_t *buf;
	const uint8_t *payload;
	size_t len;
	int owned;
};

/*
 * Called once per request: with err 0 and the reply, with the broker's
 * error code (negative) and the reply, or with a local error
 * (LOGD_ETIMEDOUT, LOGD_ECLOSED, ...) and m == NULL.  It may begin new
 * requests; it must not call cl_poll().
 */
typedef void (*cl_done_fn)(struct logd_client *c, void *arg, int err,
    struct logd_msg *m, struct cl_frame *f);

/*
 * Buffers for large frames, recycled by the client: cl_buf_get() returns
 * a malloc'd block of at least len bytes (NULL when out of memory), and
 * cl_buf_put() takes back one (from cl_buf_get() or a cl_frame a done
 * function kept), keeping a few for reuse and freeing the rest.  Accepts
 * NULL.
 */
void *cl_buf_get(struct logd_client *c, size_t len);
void cl_buf_put(struct logd_client *c, void *buf);

/* Monotonic milliseconds. */
int64_t cl_now_ms(void);
/* Wall-clock milliseconds and microseconds since the epoch. */
int64_t cl_wall_ms(void);
int64_t cl_wall_us(void);

/*
 * Starts a request frame: returns the packer for the body map.  With done
 * NULL at cl_req_end() no reply is expected (produce with acks 0).
 * Errors: the client's broken state, -ENOMEM.
 */
int cl_req_begin(struct logd_client *c, int api, msgpack_packer **pk);
/*
 * Finishes the frame begun last, registers done(arg) for its reply with
 * a deadline of the request timeout plus extra_ms, and writes what the
 * socket takes.  Returns an error only when the request was not
 * registered (done will not be called); once registered, every outcome,
 * a broken connection during this very write included, reaches done.
 * With done NULL, returns the write's error.
 */
int cl_req_end(struct logd_client *c, cl_done_fn done, void *arg,
    int extra_ms);
/*
 * As cl_req_end() for a streaming FETCH (stream > 0): the request stays
 * registered, without a deadline, and done is called for each reply
 * until the stream's last (an error, stream 0, or a local error).
 * *corr is its correlation id, for FETCH_CREDIT.
 */
int cl_req_end_stream(struct logd_client *c, cl_done_fn done, void *arg,
    uint32_t *corr);
/* Forgets the stream corr (if still registered): done is not called
 * again and its late replies are dropped. */
void cl_stream_forget(struct logd_client *c, uint32_t corr);
/* 1 when the broker listed api in its HELLO reply. */
int cl_has_api(const struct logd_client *c, int api);
/* Forgets the requests registered with arg: their done is never called
 * and late replies are dropped. */
void cl_cancel(struct logd_client *c, void *arg);
/* Requests awaiting replies. */
int cl_inflight(const struct logd_client *c);
/* Bytes queued but not yet written to the socket. */
size_t cl_unsent(const struct logd_client *c);
/* 0, or the error that broke the connection. */
int cl_broken(const struct logd_client *c);
/* Request timeout in ms. */
int cl_request_timeout(const struct logd_client *c);
/* The client id sent in HELLO (at most 63 bytes of it). */
const char *cl_client_id(const struct logd_client *c);

/*
 * Waits until *flag is set (by a done function), driving the connection.
 * Returns 0, or the connection's error if it broke first.
 */
int cl_wait(struct logd_client *c, const int *flag);

/*
 * Parses a successful reply (err 0) of a synchronous call, copying out
 * what the caller keeps into arg.  Returns 0 or an error for the call.
 */
typedef int (*cl_parse_fn)(struct logd_client *c, struct logd_msg *m,
    struct cl_frame *f, void *arg);

/*
 * Ends the request begun last and waits for its reply; parse (may be
 * NULL) reads it.  extra_ms extends the deadline (long-poll fetches).
 * Returns 0, the broker's error, or a local one.
 */
int cl_call(struct logd_client *c, cl_parse_fn parse, void *arg,
    int extra_ms);

/* Sets the client's error message (printf style); returns err. */
int cl_seterr(struct logd_client *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The partition count of topic (a METADATA call).  LOGD_ENOTOPIC. */
int cl_partition_count(struct logd_client *c, const char *topic,
    int32_t *n);

#endif /* LOGD_CLIENT_INT_H */
