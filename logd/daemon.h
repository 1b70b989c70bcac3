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
#include "proto.h"

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
void ev_stop(void);

/* ------------------------------------------------------------------ */
/* listen.c                                                            */
/* ------------------------------------------------------------------ */

int listen_start(void);
void listen_stop(void);

/* ------------------------------------------------------------------ */
/* conn.c: connections                                                 */
/* ------------------------------------------------------------------ */

enum conn_state { CONN_OPEN, CONN_CLOSING, CONN_DEAD };

/* One queued piece of output: an owned buffer or a borrowed read. */
struct outseg {
	const char *p;
	size_t len;
	char *own;                 /* free() when sent */
	struct logd_read rd;       /* released when sent (rd.seg != NULL) */
};

struct conn {
	struct ev_io io;
	enum conn_state state;
	unsigned refs;             /* parked requests + the open socket */
	unsigned parked;           /* requests waiting for a reply */
	char peer[64];
	char *in;                  /* input buffer */
	size_t in_len, in_pos, in_cap;
	struct logd_pbuf out;      /* replies being packed (last in order) */
	size_t out_pos;            /* bytes of out already sent */
	struct outseg *q;          /* queued before out, oldest first */
	size_t q_head, q_len, q_cap;
	size_t pending;            /* unsent bytes (q and out) */
	uint32_t events;           /* epoll interest */
	int dirty;                 /* on srv.dirty_conns */
	int64_t active;            /* last progress (monotonic ms) */
	msgpack_zone zone;
	struct conn *next, *prev;  /* srv.conns */
	struct conn *dnext;        /* srv.dirty_conns */
};

void conn_accept(int lfd, const char *kind);
/* Queues the stored bytes of r after what is packed (takes r). */
void conn_push_read(struct conn *c, struct logd_read *r);
/* Marks c to be written at the end of this turn. */
void conn_touch(struct conn *c);
void conn_write_dirty(void);
/* Starts a graceful close: reads no more, closes once output is sent. */
void conn_shutdown(struct conn *c);
void conn_close(struct conn *c, const char *why);
void conn_put(struct conn *c);
void conn_free_dead(void);
void conn_sweep_idle(void);
/* Takes input again if it stopped for backpressure or parked replies. */
void conn_resume(struct conn *c);
/* Packs an error reply. */
void conn_error(struct conn *c, const struct logd_msg *m, int code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Closes a reply frame, closing the connection if it cannot be. */
void conn_end(struct conn *c, size_t trailing);

/* ------------------------------------------------------------------ */
/* flusher.c: the sync thread                                          */
/* ------------------------------------------------------------------ */

enum { JOB_FLUSH, JOB_COMMIT };

struct fjob {
	int type;
	int rc;
	struct fjob *next;
	/* JOB_FLUSH */
	size_t n;
	struct logd_log **logs;
	struct logd_flush **fl;
	int *rcs;
	/* JOB_COMMIT */
	int64_t now_ms;            /* wall clock at submission */
	struct conn *conn;
	uint32_t corr;
	int api;
	char *group;
	struct logd_offset_commit *commits;
	size_t ncommits;
	char *strings;
	char err[256];
};

int flusher_start(void);
void flusher_submit(struct fjob *j);
void flusher_stop(void);
void fjob_free(struct fjob *j);

/* ------------------------------------------------------------------ */
/* Handlers (h_*.c)                                                    */
/* ------------------------------------------------------------------ */

void h_dispatch(struct conn *c, struct logd_msg *m);

void h_hello(struct conn *c, struct logd_msg *m);
void h_metadata(struct conn *c, struct logd_msg *m);
void h_create(struct conn *c, struct logd_msg *m);
void h_delete(struct conn *c, struct logd_msg *m);
void h_alter(struct conn *c, struct logd_msg *m);
void h_list_offsets(struct conn *c, struct logd_msg *m);
void h_stats(struct conn *c, struct logd_msg *m);
void h_produce(struct conn *c, struct logd_msg *m);
void h_fetch(struct conn *c, struct logd_msg *m);
void h_offset_commit(struct conn *c, struct logd_msg *m);
void h_offset_fetch(struct conn *c, struct logd_msg *m);
void h_list_groups(struct conn *c, struct logd_msg *m);
void h_delete_group(struct conn *c, struct logd_msg *m);
void h_join_group(struct conn *c, struct logd_msg *m);
void h_heartbeat(struct conn *c, struct logd_msg *m);
void h_leave_group(struct conn *c, struct logd_msg *m);

/* h_produce.c: group commit */
void produce_flush_done(struct fjob *j);
void produce_drop_log(struct logd_log *log, int code);
void produce_drop_conn(struct conn *c);
int produce_parked(void);
/* Starts a flush of every dirty log if one is due and none is running. */
void produce_maybe_flush(void);

/* h_fetch.c: long-poll */
void fetch_wake(void);
void fetch_drop_log(struct logd_log *log, int code);
void fetch_drop_conn(struct conn *c);
void fetch_reply_all(void);
int fetch_parked(void);

/* h_admin.c: deferred deletes */
void admin_flush_idle(void);

/* h_group.c */
void group_commit_done(struct fjob *j);

/* ------------------------------------------------------------------ */
/* group.c: the group coordinator (membership in memory)               */
/* ------------------------------------------------------------------ */

struct group;

/* A checked JOIN_GROUP request (h_group.c parses it). */
struct group_join_req {
	const char *group;
	const char *member;        /* "" for a new member */
	const char *client;        /* "" when not given */
	const char *const *topics; /* existing topics, sorted, unique */
	size_t ntopics;
	int64_t session_ms;
};

/* Arms nothing yet; picks the boot id of member ids.  After ev_init(). */
void group_init(void);
/* Frees every group (after the loop ended). */
void group_free_all(void);
/* Answers every held join with LOGD_ECLOSED (shutdown begins). */
void group_shutdown(void);
/* c is closing: members whose join it holds are removed next turn. */
void group_drop_conn(struct conn *c);
/*
 * Joins (or rejoins) a member and answers: at once when nothing changed,
 * else once the rebalance is done (the reply is parked on c).
 */
void group_join(struct conn *c, const struct logd_msg *m,
    const struct group_join_req *r);
/* These return 0 or a LOGD_E* code, with a message in err. */
int group_heartbeat(const char *group, const char *member,
    int64_t generation, char *err, size_t errsz);
int group_leave(const char *group, const char *member, char *err,
    size_t errsz);
/* Fencing of an OFFSET_COMMIT (proto.h); renews the member's session. */
int group_commit_check(const char *group, int64_t generation,
    const char *member, const struct logd_offset_commit *oc, size_t n,
    char *err, size_t errsz);
/* Groups with members, by name: group_next(NULL) is the first. */
const struct group *group_next(const struct group *g);
const struct group *group_lookup(const char *name);
const char *group_name(const struct group *g);
size_t group_member_count(const char *name);
/* Packs "state", "generation", "members" (3 map entries; g may be NULL
 * for a group with commits only). */
void group_pack(msgpack_packer *pk, const struct group *g);

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
	int flushing;              /* a JOB_FLUSH is with the flusher */
	int flush_due;             /* flush_ms passed with data unsynced */
	int appended;              /* something was appended this turn */
	int retention_due;
	uint32_t round_robin;
	int64_t started_ms;
	uint64_t bytes_in, bytes_out, records_in, records_out;
	/* the set of logs appended to since the last flush began */
	struct logd_log **dirty_logs;
	size_t ndirty, dirty_cap;
};

extern struct server srv;

/* Adds log to srv.dirty_logs (no duplicates). */
void server_log_dirty(struct logd_log *log);
/* Removes log from srv.dirty_logs (its topic is being deleted). */
void server_log_clean(struct logd_log *log);
int server_run(void);

#endif /* LOGD_DAEMON_H */
