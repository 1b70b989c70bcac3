/*
 * broker.h - the broker operations, the same for every protocol.
 *
 * A protocol (native.c, kafka*.c, ...) decodes a request into one of the
 * plain structs below, calls the operation, and encodes the result.  No
 * operation knows about connections, correlation ids or wire formats.
 *
 * Synchronous operations (metadata, create, alter, list offsets, offset
 * fetch, stats) return their result at once.  Asynchronous ones (produce,
 * fetch, offset commit, topic delete, group join) take an op struct that
 * the caller owns and keeps in place until its done() is called; done()
 * is called exactly once, possibly before the operation returns, always
 * on the loop thread.  produce and fetch can be cancelled (the connection
 * went away): after broker_*_cancel() done() is never called.  The others
 * cannot (they may be on the flusher thread): the caller marks its own
 * request as orphaned and frees it in done() without replying.
 *
 * Strings in an op ("topic", ...) are borrowed: they must live as long
 * as the op.  Record bytes given to produce are borrowed only during
 * broker_produce() (they are copied into the segment map before it
 * returns).
 */
#ifndef LOGD_BROKER_H
#define LOGD_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "stats.h"

#define BROKER_MSG_MAX 256

/*
 * Upper bound of a fetch's max_wait_ms.  Longer waits are clamped to it:
 * a parked fetch holds a connection's resources, and clients poll again
 * anyway (Kafka's clients wait 500 ms, logd's 1000 ms).
 */
#define BROKER_MAX_WAIT_MS 30000

/* ------------------------------------------------------------------ */
/* Per-partition state the daemon keeps (logd_log_userctx)             */
/* ------------------------------------------------------------------ */

struct fetch_part;
struct sync_wait;

struct plog {
	struct logd_log *log;
	struct plog *dnext;        /* commit.c: logs to sync */
	int dirty;                 /* on that list */
	struct plog *anext;        /* broker.c: logs appended this turn */
	int appended;              /* on that list */
	struct fetch_part *waiters;/* parked fetches on this log */
	struct sync_wait *syncs;   /* acks=all produces on this log */
	/* since logd started (or the topic was made): /metrics */
	uint64_t records_in, bytes_in, records_out, bytes_out;
};

/* The plog of log, made on first use; NULL when out of memory. */
struct plog *broker_plog(struct logd_log *log);

/* ------------------------------------------------------------------ */
/* Produce                                                             */
/* ------------------------------------------------------------------ */

/* commit.c: an acks=all request waiting for the sync covering "last". */
struct sync_wait {
	struct sync_wait *next, *prev;
	struct plog *pl;
	int64_t last;
	void (*done)(struct sync_wait *w, int err);
};

struct produce_part {
	/* in */
	const char *topic;
	int32_t partition;         /* -1: by key (murmur2), else round robin */
	const void *key;           /* NULL: none */
	size_t key_len;
	const void *records;       /* one or more RecordBatch v2 */
	size_t len;
	/* out: err 0 or a LOGD_E* code with msg; partition is the one used.
	 * A part whose err is set before the call is left alone. */
	int err;
	char msg[BROKER_MSG_MAX];
	int64_t base_offset, last_offset;
	int64_t log_start;         /* the partition's start offset */
	int64_t append_time;       /* LogAppendTime topics: the time set, else -1 */
	/* private */
	struct produce_op *op;
	struct sync_wait sw;
};

struct produce_op {
	struct produce_part *parts;
	size_t nparts;
	int acks;                  /* 0, 1 or -1 (all) */
	void (*done)(struct produce_op *op);
	void *arg;
	/* private */
	size_t waiting;            /* parts waiting for their sync */
	int64_t start_ns;          /* for the reply time histograms */
};

/*
 * Appends every part (each independently: one part's error does not stop
 * the others) and calls done() once every part has its result: at once
 * for acks 0 and 1, after the sync covering each appended part for acks
 * -1.  A failed sync gives LOGD_EREADONLY, never success.
 */
void broker_produce(struct produce_op *op);
/* Forgets op (its appends stay); done() will not be called. */
void broker_produce_cancel(struct produce_op *op);

/* ------------------------------------------------------------------ */
/* Fetch (long-poll)                                                   */
/* ------------------------------------------------------------------ */

struct fetch_part {
	/* in */
	const char *topic;
	int32_t partition;
	int64_t offset;
	size_t max_bytes;          /* this partition's limit (>= 1) */
	/* out: err 0 or a LOGD_E* code with msg */
	int err;
	char msg[BROKER_MSG_MAX];
	int64_t start, end;        /* log start offset, high watermark */
	struct logd_read rd;       /* whole stored batches; the caller takes
	                              them (conn_push_read) or releases them */
	/* private */
	struct fetch_op *op;
	struct plog *pl;
	struct fetch_part *wnext, *wprev;
	uint64_t seen_size;        /* log size when last looked at */
};

struct fetch_op {
	struct fetch_part *parts;
	size_t nparts;
	size_t max_bytes;          /* whole reply; 0: only the parts' limits.
	                              The first batch found is returned even
	                              when it is larger. */
	size_t min_bytes;          /* wait until this much is there ... */
	int64_t max_wait_ms;       /* ... or this long (clamped) */
	void (*done)(struct fetch_op *op);
	void *arg;
	/* private */
	int parked, ready;
	int64_t start_ns;          /* for the fetch wait histogram */
	uint64_t have;             /* bytes found (estimate while parked) */
	int64_t deadline;          /* monotonic ms */
	struct ev_timer timer;
	struct fetch_op *pnext, *pprev;   /* every parked fetch */
	struct fetch_op *rnext;           /* woken this turn */
};

/*
 * Reads every part.  When fewer than min_bytes are there and max_wait_ms
 * > 0, waits (parked, costing nothing per append but a size compare)
 * until appends bring min_bytes or max_wait_ms passes, then reads again.
 * Parts of unknown topics or partitions, or offsets out of range, get
 * their err; such a part counts as data (the reply goes out at once).
 */
void broker_fetch(struct fetch_op *op);
/* Forgets op, releasing what it holds; done() will not be called. */
void broker_fetch_cancel(struct fetch_op *op);
/* The records in a read's whole batches (for the statistics). */
uint64_t broker_count_records(const struct logd_read *rd);

/* ------------------------------------------------------------------ */
/* Topics                                                              */
/* ------------------------------------------------------------------ */

struct kv {
	const char *key, *value;
};

/* A partition as metadata shows it. */
struct part_info {
	int32_t partition;
	int err;                   /* LOGD_EREADONLY after a failed sync */
	int64_t start, end;
	uint64_t size;
	uint32_t segments;
	uint64_t disk;             /* bytes of disk its files take */
	double dirty_ratio;        /* of the cleanable segments */
	int64_t clean_point;       /* the cleaner's first dirty offset */
};

/*
 * Creates a topic with the daemon's default.* settings, partitions (0:
 * the default) and then each kv.  Returns 0 or a code, with msg.
 */
int broker_topic_create(const char *topic, int32_t partitions,
    const struct kv *cfg, size_t ncfg, char *msg, size_t msgsz);
/* Alters each setting in turn (stops at the first bad one). */
int broker_topic_alter(const char *topic, const struct kv *cfg, size_t ncfg,
    char *msg, size_t msgsz);

struct delete_op {
	const char *topic;
	int err;
	char msg[BROKER_MSG_MAX];
	void (*done)(struct delete_op *op);
	void *arg;
	struct delete_op *next;    /* private */
};
/*
 * Deletes a topic; requests parked on its partitions end with
 * LOGD_ENOTOPIC.  Deferred while a sync holds its logs.
 */
void broker_topic_delete(struct delete_op *op);

/*
 * Calls fn for each topic (sorted by name) or, with names, for each name
 * given (err LOGD_ENOTOPIC for an unknown one, with auto_create when
 * configured and create set).  parts has cfg->partitions entries.
 * Stops at fn's first non-zero return and returns it.
 */
typedef int topic_fn(void *arg, const char *name, int err,
    const struct logd_topic_config *cfg, const struct part_info *parts);
int broker_topics(const char *const *names, size_t n, int create,
    topic_fn *fn, void *arg);

/* The partition log of topic/partition: 0, LOGD_ENOTOPIC, LOGD_ENOPART. */
int broker_log(const char *topic, int32_t partition, struct logd_log **log);

/*
 * timestamp -2: start offset, -1: end offset, else the first offset whose
 * timestamp is >= it (the end offset if none).  0 or a code, with msg.
 */
int broker_list_offset(const char *topic, int32_t partition,
    int64_t timestamp, int64_t *offset, char *msg, size_t msgsz);

/* ------------------------------------------------------------------ */
/* Group offsets                                                       */
/* ------------------------------------------------------------------ */

struct commit_op {
	/* in: group and commits are copied (the op owns its copies) */
	char *group;
	int64_t generation;        /* -1: no member (a simple consumer) */
	char *member;
	struct logd_offset_commit *commits;
	size_t ncommits;
	/* out */
	int err;
	char msg[BROKER_MSG_MAX];
	void (*done)(struct commit_op *op);
	void *arg;
	/* private */
	char *strings;
	struct commit_op *next;    /* waiting for the next transaction */
};

/*
 * Makes a commit_op owning copies of group, member and the commits
 * (topic and metadata strings too).  NULL when out of memory.
 */
struct commit_op *broker_commit_new(const char *group, int64_t generation,
    const char *member, const struct logd_offset_commit *oc, size_t n);
void broker_commit_free(struct commit_op *op);
/*
 * Checks the member's right to commit (group.c), then commits in one
 * durable LMDB transaction off the loop thread.  done() always called.
 */
void broker_commit(struct commit_op *op);

/* Calls fn as logd_store_offsets() does (group NULL: every group). */
int broker_offsets(const char *group,
    int (*fn)(void *arg, const char *group, const char *topic,
    int32_t partition, int64_t offset, int64_t commit_ms,
    const char *metadata), void *arg);

/* ------------------------------------------------------------------ */
/* Groups (group.c: the coordinator's state machine)                   */
/* ------------------------------------------------------------------ */

struct group;
struct gmember;

struct group_assign {
	const char *topic;
	int32_t *parts;
	size_t n;
};

enum { GROUP_NATIVE, GROUP_KAFKA };

/* A Kafka member's protocol (assignor) and its opaque metadata. */
struct group_protocol {
	const char *name;
	const void *meta;
	size_t len;
};

/* A member as listings (and a Kafka leader's join) show it. */
struct member_info {
	const char *id, *client;
	int64_t session_ms;
	char *const *topics;       /* native */
	size_t ntopics;
	const struct group_assign *assign;   /* native */
	size_t nassign;
	const void *meta;          /* Kafka: metadata for the chosen protocol */
	size_t meta_len;
	const void *kassign;       /* Kafka: the leader's assignment */
	size_t kassign_len;
};

struct group_join {
	/* in */
	int kind;                  /* GROUP_NATIVE or GROUP_KAFKA */
	const char *group;
	const char *member;        /* "" for a new member */
	const char *client;        /* "" when not given */
	const char *peer;          /* for the log */
	const char *const *topics; /* native: existing topics, sorted, unique */
	size_t ntopics;
	int64_t session_ms;
	/* Kafka */
	int64_t rebalance_ms;      /* 0: session_ms */
	const char *protocol_type;
	const struct group_protocol *protocols;
	size_t nprotocols;
	int require_member_id;     /* "": LOGD_EMEMBERREQ with member_id */
	/* out, valid during done() */
	int err;
	char msg[BROKER_MSG_MAX];
	const char *member_id;
	int64_t generation;
	int64_t heartbeat_ms;
	const struct group_assign *assign;   /* native */
	size_t nassign;
	const char *protocol;      /* Kafka: the chosen one */
	const char *leader;        /* Kafka: the leader's member id */
	const struct member_info *members;   /* Kafka, to the leader only */
	size_t nmembers;
	void (*done)(struct group_join *j);
	void *arg;
	/* private */
	struct gmember *m;
};

/*
 * Joins (or rejoins) a member: done() at once when nothing changed, else
 * once the rebalance is done (every member rejoined, or the rebalance
 * timeout passed).
 */
void group_join(struct group_join *j);
/* The request's connection went: the member is removed next turn. */
void group_join_cancel(struct group_join *j);
/* These return 0 or a LOGD_E* code, with a message in err. */
int group_heartbeat(const char *group, const char *member,
    int64_t generation, char *err, size_t errsz);
int group_leave(const char *group, const char *member, char *err,
    size_t errsz);
/* Fencing of an offset commit; renews the member's session. */
int group_commit_check(const char *group, int64_t generation,
    const char *member, const struct logd_offset_commit *oc, size_t n,
    char *err, size_t errsz);

/* One member's assignment in a Kafka leader's SyncGroup. */
struct group_sync_assign {
	const char *member;
	const void *data;
	size_t len;
};

struct group_sync {
	/* in */
	const char *group, *member;
	int64_t generation;
	const struct group_sync_assign *assign;   /* the leader's, else none */
	size_t nassign;
	/* out, valid during done() */
	int err;
	char msg[BROKER_MSG_MAX];
	const void *data;          /* this member's assignment */
	size_t len;
	const char *protocol_type, *protocol;
	void (*done)(struct group_sync *s);
	void *arg;
	/* private */
	struct gmember *m;
};

/*
 * Kafka's SyncGroup: the leader's brings every member's assignment and
 * ends the rebalance; the others wait for it (done() then).
 */
void group_sync(struct group_sync *s);
void group_sync_cancel(struct group_sync *s);
/* Groups with members, by name: group_next(NULL) is the first. */
const struct group *group_next(const struct group *g);
const struct group *group_lookup(const char *name);
const char *group_name(const struct group *g);
/* "stable", "rebalancing" or "syncing"; "empty" for NULL. */
const char *group_state(const struct group *g);
int group_kind(const struct group *g);
/* Kafka: protocol type and chosen protocol ("" when none). */
const char *group_protocol_type(const struct group *g);
const char *group_protocol(const struct group *g);
int64_t group_generation(const struct group *g);
size_t group_member_count(const char *name);
/* Calls fn for each member of g (none for NULL), in member id order. */
void group_each_member(const struct group *g,
    void (*fn)(void *arg, const struct member_info *mi), void *arg);

/*
 * A Kafka member's assignment (the consumer protocol the leader wrote:
 * version i16, [topic string, [partition i32]], user data) decoded into
 * *out (free with group_assign_free).  0, -1 when unreadable, -ENOMEM.
 */
int group_kafka_assignment(const void *p, size_t len,
    struct group_assign **out, size_t *n);
void group_assign_free(struct group_assign *a, size_t n);

void group_init(void);
void group_free_all(void);
/* Shutdown: every held join ends with LOGD_ECLOSED. */
void group_shutdown(void);

/* ------------------------------------------------------------------ */
/* Broker statistics                                                   */
/* ------------------------------------------------------------------ */

struct broker_stats {
	uint64_t connections;
	uint64_t bytes_in, bytes_out, records_in, records_out;
	int64_t uptime_ms;
};
void broker_stats(struct broker_stats *st);

/* ------------------------------------------------------------------ */
/* The loop's hooks (server.c)                                         */
/* ------------------------------------------------------------------ */

/*
 * broker_admin.c: log is going away.  Its parked fetches are unparked and
 * put on list (returned), to be answered by broker_answer() once it is
 * gone; its acks=all waiters end with LOGD_ENOTOPIC; its plog is freed.
 */
struct fetch_op *broker_log_gone(struct logd_log *log, struct fetch_op *list);
void broker_answer(struct fetch_op *list);
/* Frees every plog (before the store closes). */
void broker_free_all(void);

/* End of a loop turn: wakes parked fetches on logs appended to. */
void broker_before_sleep(void);
/* Something was appended since broker_before_sleep() last ran. */
int broker_woken(void);
/* Shutdown: answers every parked fetch with what there is. */
void broker_shutdown(void);
/* Anything still waiting that must be answered before exit? */
int broker_busy(void);

/* ------------------------------------------------------------------ */
/* commit.c: group commit                                              */
/* ------------------------------------------------------------------ */

/* pl was appended to: the next flush syncs it.  O(1). */
void commit_dirty(struct plog *pl);
/* Waits for the sync that covers w->last on w->pl (acks=all). */
void commit_wait(struct sync_wait *w);
void commit_wait_cancel(struct sync_wait *w);
/* End of a loop turn: starts a flush when one is due and none runs. */
void commit_before_sleep(void);
/* Whether commit_before_sleep() would start a flush now. */
int commit_due(void);
/* flush_ms passed: sync acks=1 data at the end of this turn. */
void commit_flush_due(void);
/*
 * Runs fn(arg) now when no flush holds the logs, else once the running
 * flush is done (topic deletes, retention), in the order asked.  fn must
 * be a static function; arg is owned by the caller.
 */
int commit_when_idle(void (*fn)(void *arg), void *arg);
/* Defers what commit_when_idle() queues until as many releases (the
 * cleaner, while it holds segments of logs). */
void commit_idle_hold(void);
void commit_idle_release(void);
/* pl's topic is going: its waiters end with code, it leaves the set. */
void commit_forget(struct plog *pl, int code);
/* A flush is running or acks=all requests wait. */
int commit_busy(void);

/* ------------------------------------------------------------------ */
/* cleaner.c: log compaction on its own thread                         */
/* ------------------------------------------------------------------ */

/* A clean asked for now (logctl compact): forced, whatever the ratio. */
struct compact_op {
	const char *topic;
	int32_t partition;         /* -1: every partition */
	int err;
	char msg[BROKER_MSG_MAX];
	uint32_t partitions;       /* out: partitions done */
	struct logd_clean_stats st;/* out: summed over them */
	void (*done)(struct compact_op *op);
	void *arg;
	struct compact_op *next;   /* private */
	int32_t at, count;         /* private: next partition, how many */
	int tries;                 /* private: waits for a sync */
};

int cleaner_start(void);
/* Cleans op's partitions one after the other, then calls done. */
void cleaner_compact(struct compact_op *op);
/* Stops a clean in progress (its segments stay as they were), fails
 * queued requests, joins the thread. */
void cleaner_stop(void);

#endif /* LOGD_BROKER_H */
