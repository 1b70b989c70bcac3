/*
 * daemon.h - the logd daemon's internal interfaces.
 *
 * One event-loop thread (ev.c) owns every socket, the store and its logs;
 * a flusher thread (flusher.c) runs syncs and offset commits.  The daemon
 * state is one global, srv: a daemon is one process, and passing it
 * everywhere would only add noise.  Each file's functions are prefixed
 * with the file's name.
 */
#ifndef LOGD_DAEMON_H
#define LOGD_DAEMON_H

#include <limits.h>
#include <stdint.h>
#include <sys/uio.h>

#include "logd.h"

/* ------------------------------------------------------------------ */
/* log.c: the daemon's own log                                         */
/* ------------------------------------------------------------------ */

enum { L_ERROR, L_WARN, L_INFO, L_DEBUG };

/* -1 if s is not one of error, warn, info, debug. */
int log_level_parse(const char *s);
/* file: NULL or "" for stderr, "syslog", or a path (appended to). */
int log_open(int level, const char *file);
/* Reopens the log file (SIGHUP, after rotation). */
void log_reopen(void);
void log_close(void);
void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int log_enabled(int level);

#define log_error(...) log_msg(L_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(L_WARN, __VA_ARGS__)
#define log_info(...) log_msg(L_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { if (log_enabled(L_DEBUG)) log_msg(L_DEBUG, __VA_ARGS__); } while (0)

/* ------------------------------------------------------------------ */
/* config.c                                                            */
/* ------------------------------------------------------------------ */

struct config {
	char datadir[PATH_MAX];
	char listen[256];          /* ADDR:PORT, or "none" */
	char kafka_listen[256];    /* ADDR:PORT, or "none" */
	char kafka_advertised[256];/* HOST:PORT in Metadata; "": kafka_listen */
	char http_listen[256];     /* ADDR:PORT, or "none" */
	char unix_socket[108];     /* "" for none */
	int log_level;
	char log_file[PATH_MAX];   /* "" stderr, "syslog", or a path */
	int64_t flush_ms;
	uint64_t max_frame_bytes;
	uint64_t max_connections;
	uint64_t max_pending_bytes;
	int64_t idle_timeout_ms;   /* 0: never */
	int auto_create_topics;
	int64_t retention_check_ms;
	int64_t cleaner_check_ms;  /* 0: no periodic cleaning */
	uint64_t cleaner_map_bytes;
	uint64_t cleaner_io_bytes_per_sec; /* 0: unlimited */
	struct logd_topic_config topic;   /* default.* */
};

void config_default(struct config *c);
/*
 * Sets one key.  Returns 0, or -1 with a message in err (without the
 * file and line, which the caller adds).
 */
int config_set(struct config *c, const char *key, const char *value,
    char *err, size_t errsz);
/* Reads a logd.conf.  -1 with "FILE:LINE: message" in err. */
int config_load(struct config *c, const char *path, char *err, size_t errsz);
/* Checks the whole config (after flags); -1 with a message. */
int config_check(const struct config *c, char *err, size_t errsz);

/* ------------------------------------------------------------------ */
/* ev.c: the event loop                                                */
/* ------------------------------------------------------------------ */

struct ev_io;
typedef void ev_io_fn(struct ev_io *io, uint32_t events);
struct ev_io {
	int fd;
	ev_io_fn *fn;
	void *arg;
};

struct ev_timer;
typedef void ev_timer_fn(struct ev_timer *t);
struct ev_timer {
	int64_t when;              /* monotonic ms */
	size_t slot;               /* heap index + 1; 0: not armed */
	ev_timer_fn *fn;
	void *arg;
};

int ev_init(void);
void ev_free(void);
int ev_add(struct ev_io *io, uint32_t events);
int ev_mod(struct ev_io *io, uint32_t events);
void ev_del(struct ev_io *io);
void ev_timer_start(struct ev_timer *t, int64_t after_ms);
void ev_timer_stop(struct ev_timer *t);
/* Monotonic and wall-clock milliseconds, as of this loop turn. */
int64_t ev_now(void);
int64_t ev_wall(void);
/* Runs until ev_stop(); before_sleep runs at the end of every turn. */
void ev_run(void (*before_sleep)(void));
/* One turn of ev_run, waiting at most max_ms (-1: no limit). */
int ev_turn(int max_ms, void (*before_sleep)(void));
void ev_stop(void);

/* ------------------------------------------------------------------ */
/* conn.c: connections, their output and their parked requests          */
/* ------------------------------------------------------------------ */

/* A growable byte buffer.  Out of memory is sticky in err (-ENOMEM). */
struct obuf {
	char *data;
	size_t len, cap;
	int err;
};

/* Makes room for n more bytes: 0 or -ENOMEM (also set in err). */
int obuf_reserve(struct obuf *b, size_t n);
/* Appends n bytes (nothing once err is set). */
void obuf_append(struct obuf *b, const void *p, size_t n);
void obuf_free(struct obuf *b);

struct conn;

/*
 * A protocol: how a listener's connections are framed and served.
 *
 * frame: looks at the n buffered input bytes at p: 0 with *len when a
 *   whole request of *len bytes is there; -EAGAIN when more are needed
 *   (with *len the whole request's size if known, else 0); another code
 *   when the stream cannot be trusted: error() is called, then the
 *   connection closes once its output is sent.
 * request: serves one whole request (p, len as frame() found it).  The
 *   bytes stay valid only during the call.  Replies are appended to
 *   c->out (and conn_push_read), then conn_touch(c).
 * error: tells the peer (if the protocol can) why its stream is refused.
 * open / close: the protocol's per-connection state in c->pstate (open
 *   may be NULL; a non-zero return refuses the connection).
 * serial: the next request is read only once no request of the
 *   connection is parked, so replies go out in request order.
 * drained (may be NULL): the connection's unsent output went back to
 *   max_pending_bytes or less after a write (requests that stopped
 *   producing output for backpressure may go on).
 */
struct proto {
	const char *name;
	int serial;                /* one request at a time (Kafka) */
	int (*frame)(struct conn *c, const char *p, size_t n, size_t *len);
	void (*request)(struct conn *c, const char *p, size_t len);
	void (*error)(struct conn *c, int code, const char *p, size_t n);
	int (*open)(struct conn *c);
	void (*close)(struct conn *c);
	void (*drained)(struct conn *c);
};

extern const struct proto native_proto;   /* native.c */
extern const struct proto kafka_proto;    /* kafka.c */

enum conn_state { CONN_OPEN, CONN_CLOSING, CONN_DEAD };

/* One queued piece of output: an owned buffer or a borrowed read. */
struct outseg {
	const char *p;
	size_t len;
	char *own;                 /* free() when sent */
	struct logd_read rd;       /* released when sent (rd.seg != NULL) */
};

/*
 * A request waiting for something (a sync, data, a rebalance): on its
 * connection's list, so that a closing connection drops it (drop() must
 * cancel what it waits for and free it, without replying).
 */
struct parked {
	struct parked *next, *prev;
	struct conn *conn;
	void (*drop)(struct parked *p);
};

struct conn {
	struct ev_io io;
	const struct proto *proto;
	void *pstate;              /* the protocol's per-connection state */
	const struct listener *lst;
	enum conn_state state;
	char peer[64];
	char *in;                  /* input buffer */
	size_t in_len, in_pos, in_cap;
	struct obuf out;           /* replies being written (last in order) */
	size_t out_pos;            /* bytes of out already sent */
	struct outseg *q;          /* queued before out, oldest first */
	size_t q_head, q_len, q_cap;
	size_t pending;            /* unsent bytes (q and out) */
	uint32_t events;           /* epoll interest */
	int dirty;                 /* on srv.dirty_conns */
	int64_t active;            /* last progress (monotonic ms) */
	struct parked *parked;     /* requests waiting for a reply */
	size_t nparked;
	struct conn *next, *prev;  /* srv.conns */
	struct conn *dnext;        /* srv.dirty_conns */
};

void conn_accept(int fd, const struct listener *l);
/*
 * A warning about a client (peer names it), for every protocol: at most
 * CONN_WARN_BURST lines per CONN_WARN_WINDOW_MS, all protocols together;
 * the first line after some were left out says how many ("and N more
 * like it"), so a flood of bad frames writes a bounded log.
 */
void conn_warn(const char *peer, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Queues the stored bytes of r after what is in c->out (takes r).  What
 * was in c->out moves to the queue: positions into c->out are not valid
 * after this call.
 */
void conn_push_read(struct conn *c, struct logd_read *r);
/* More than max_pending_bytes of c's output wait to be sent. */
int conn_full(const struct conn *c);
/* Marks c to be written at the end of this turn. */
void conn_touch(struct conn *c);
void conn_write_dirty(void);
/*
 * Starts a close: reads no more, drops the parked requests (the peer
 * sent EOF, or its stream is refused), closes once output is sent.
 */
void conn_shutdown(struct conn *c);
/* Shutdown of logd: reads no more, closes once the parked requests are
 * answered and the output is sent. */
void conn_drain(struct conn *c);
void conn_close(struct conn *c, const char *why);
void conn_free_dead(void);
void conn_sweep_idle(void);
/* Takes input again if it stopped for backpressure. */
void conn_resume(struct conn *c);
/*
 * What every request that may wait keeps: its connection, how to answer,
 * and where it is in its life.  in_call is set while the broker call
 * runs, so a done() that comes at once leaves the freeing to the caller.
 */
struct rwait {
	struct parked park;
	struct conn *c;
	int32_t api;
	uint32_t corr;
	int16_t version;
	int in_call, answered, orphan;
};

/*
 * After the broker call returned: parks w when it is not answered yet
 * (drop() is called if c closes first); returns 1 when the caller must
 * free the request now.
 */
int conn_wait_after(struct rwait *w, void (*drop)(struct parked *p));
/* In done(): unparks; returns 1 when a reply may be written to w->c. */
int conn_wait_answering(struct rwait *w);

/* Puts p on c's list of parked requests; drop() if c closes first. */
void conn_park(struct conn *c, struct parked *p, void (*drop)(struct parked *));
/* Takes p off its connection's list (before replying or freeing). */
void conn_unpark(struct parked *p);

/* ------------------------------------------------------------------ */
/* listen.c: the listeners, each with its protocol                     */
/* ------------------------------------------------------------------ */

struct listener {
	struct ev_io io;
	const struct proto *proto;
	char spec[256];            /* ADDR:PORT or a socket path */
	int is_unix;
	int port;                  /* TCP: the port bound */
};

int listen_start(void);
void listen_stop(void);
/* The TCP port a listener of proto bound (for port 0), or -1. */
int listen_port(const struct proto *proto);

/* ------------------------------------------------------------------ */
/* flusher.c: the thread for what may block on the disk                */
/* ------------------------------------------------------------------ */

/*
 * A job: run() on the flusher thread, then done() on the loop thread, in
 * submission order.  Embed it in the job's own struct.
 */
struct fjob {
	void (*run)(struct fjob *j);
	void (*done)(struct fjob *j);
	struct fjob *next;
};

int flusher_start(void);
void flusher_submit(struct fjob *j);
/* Between flusher_start() and flusher_stop(). */
int flusher_running(void);
/* Runs what is queued, finishes it, joins the thread. */
void flusher_stop(void);

/* ------------------------------------------------------------------ */
/* The daemon state                                                    */
/* ------------------------------------------------------------------ */

struct server {
	struct config cfg;
	struct logd_store *store;
	struct conn *conns;
	struct conn *dirty_conns;
	struct conn *dead;
	uint64_t nconns;
	int stopping;
	int64_t started_ms;
	uint64_t bytes_in, bytes_out, records_in, records_out;
};

extern struct server srv;

int server_run(void);
/* What the loop does before it sleeps (writes, syncs, parked work). */
void server_before_sleep(void);

#endif /* LOGD_DAEMON_H */
