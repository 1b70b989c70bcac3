/*
 * logbench.h - what logbench.c shares with its peers and its relay.
 *
 * `logbench latency` runs one loop (logbench.c) that sends records at a
 * fixed rate and reads them back; what carries them is a peer, a small
 * vtable of transports (logbench_peer.c, logbench_redis.c):
 *
 *   logd    liblogd's producer and consumer on two connections
 *   relay   length-prefixed frames through `logbench relay`
 *           (logbench_relay.c), a broker that does nothing: the floor
 *   redis   XADD and XREAD BLOCK on a Redis stream, in RESP by hand
 *
 * The loop owns the record format (its send time and number in the
 * first 16 bytes); a peer moves opaque values and never blocks once
 * open: send() queues and writes what the socket takes, io() finishes
 * writes and hands over every value that has arrived, fds() says what
 * to wait for.
 */
#ifndef LOGBENCH_H
#define LOGBENCH_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

struct logd_client;

/* What a peer is opened with (all borrowed for the peer's life). */
struct lb_peer_conf {
	const char *addr;         /* the peer's address (NULL: its default) */
	const char *topic;        /* the logd topic or the Redis stream key */
	int32_t partitions;       /* logd: partitions if the topic is made */
	int acks;                 /* logd: the producer's acks */
};

/* Called by io() for each value received, in order; a negative return
 * stops io(), which returns it. */
typedef int (*lb_recv_fn)(void *arg, const uint8_t *value, size_t len);

struct lb_peer;

struct lb_peer_ops {
	const char *name;         /* as given to --peer */
	const char *default_addr; /* used when -b is not given */
	int has_acks;             /* 1 if -a means something to it */
	/*
	 * Connects and gets ready: once open returns 0, every value sent
	 * is one the receiving side will see.  On failure writes a message
	 * to err and returns a negative errno or liblogd code.
	 */
	int (*open)(const struct lb_peer_conf *c, struct lb_peer **out,
	    char *err, size_t err_size);
	/* Queues one value (copied) and writes what the socket takes. */
	int (*send)(struct lb_peer *p, const uint8_t *value, size_t len);
	/* Without waiting: writes what is queued, reads what has arrived,
	 * and calls fn for each value received.  0 or an error. */
	int (*io)(struct lb_peer *p, lb_recv_fn fn, void *arg);
	/* Fills up to max pollfds to wait on; returns how many. */
	size_t (*fds)(struct lb_peer *p, struct pollfd *pfd, size_t max);
	/* Closes and frees; accepts NULL. */
	void (*close)(struct lb_peer *p);
};

/* The part every peer starts with. */
struct lb_peer {
	const struct lb_peer_ops *ops;
	uint64_t requests;        /* logd: produce requests; redis: XADDs;
	                             relay: frames */
	char err[256];            /* why the last call failed */
};

extern const struct lb_peer_ops lb_peer_logd;
extern const struct lb_peer_ops lb_peer_relay;
extern const struct lb_peer_ops lb_peer_redis;

/* The peer named name, or NULL. */
const struct lb_peer_ops *lb_peer_find(const char *name);

/* ---- shared with logbench.c ---- */

/* liblogd: connects, printing why not on failure (0 or an error). */
int lb_connect(const char *addr, struct logd_client **c);
/* Creates topic with partitions partitions unless it exists. */
int lb_ensure_topic(struct logd_client *c, const char *topic,
    int32_t partitions, char *err, size_t err_size);

/* ---- sockets (logbench_peer.c) ---- */

/*
 * Connects to addr ("host:port", "host" for default_port, or
 * "[v6addr]:port") over TCP, waiting up to 5 s, and returns the socket:
 * nonblocking, close-on-exec, TCP_NODELAY.  On failure a negative errno
 * and a message in err.
 */
int lb_net_connect(const char *addr, int default_port, char *err,
    size_t err_size);

/*
 * Listens on addr as lb_net_connect() reads it (port 0: the kernel's
 * choice) and writes the bound "host:port" to bound.  The socket is
 * nonblocking and close-on-exec.  A negative errno and err on failure.
 */
int lb_net_listen(const char *addr, int default_port, char *bound,
    size_t bound_size, char *err, size_t err_size);

/* Bytes queued for a nonblocking socket. */
struct lb_out {
	uint8_t *data;
	size_t off;               /* written already */
	size_t len;               /* queued, from data[0] */
	size_t cap;
};

/* Bytes still queued. */
static inline size_t
lb_out_pending(const struct lb_out *b)
{
	return b->len - b->off;
}

/* Queues n bytes; 0 or -ENOMEM. */
int lb_out_add(struct lb_out *b, const void *p, size_t n);
/* Writes what fd takes (short writes and EINTR handled): 0 when all is
 * written, 1 when some is left (wait for POLLOUT), or -errno. */
int lb_out_flush(struct lb_out *b, int fd);
void lb_out_free(struct lb_out *b);

/*
 * Reads what fd has into *buf (grown as needed, up to max bytes held):
 * the count read (> 0), 0 when nothing is there now, -EPIPE at end of
 * stream, -ENOBUFS when the buffer is full, or -errno.
 */
int lb_in_read(int fd, uint8_t **buf, size_t *len, size_t *cap, size_t max);

/* ---- the relay server (logbench_relay.c) ---- */

#define LB_RELAY_DEFAULT_ADDR "127.0.0.1:9470"
#define LB_RELAY_DEFAULT_PORT 9470
#define LB_RELAY_PRODUCER 'P'     /* the first byte a producer sends */
#define LB_RELAY_CONSUMER 'C'     /* ...and a consumer */
#define LB_RELAY_READY    '+'     /* sent to a consumer once it is one */

/* Runs the relay on addr until killed; returns an exit status. */
int lb_relay_main(const char *addr);

#endif /* LOGBENCH_H */
