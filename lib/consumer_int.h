/*
 * consumer_int.h - what the consumer (client_consumer.c: partitions,
 * fetches, records) shares with its group member side (client_group.c:
 * join, heartbeat, leave, fenced commits).  Internal to liblogd.
 *
 * A consumer either reads partitions it was given with
 * logd_consumer_assign() (member == NULL), or is a member of its group
 * (logd_consumer_subscribe()): then the member side decides which
 * partitions are assigned, through cs_assign_one() and cs_unassign_all(),
 * and poll drives it with cs_member_step() before it reads.
 */
#ifndef LOGD_CONSUMER_INT_H
#define LOGD_CONSUMER_INT_H

#include <stdint.h>

#include "client_int.h"

struct cs_chunk {
	uint8_t *buf;             /* owned block */
	const uint8_t *p, *end;   /* batches not yet read */
	struct cs_chunk *next;    /* queued after it */
};

struct cs_req;

struct cs_part {
	char *topic;
	int32_t partition;
	int64_t position;         /* next offset poll returns */
	int64_t fetch_offset;     /* next FETCH starts here */
	int stopped;              /* 0, or the error that stopped it */
	int reset;                /* member: position outside the log */
	struct cs_req *req;       /* FETCH in flight or stream, or NULL */
	struct cs_chunk *cur;     /* being read */
	struct cs_chunk *queued;  /* fetched, read after cur, in order */
	struct cs_chunk *qtail;   /* the last of them */
	int nchunks;              /* cur and queued */
	/* A stream (req != NULL with stream_corr set): credit + nchunks +
	 * owed is the window; owed is sent with FETCH_CREDIT by poll. */
	int streaming;
	uint32_t stream_corr;
	int credit;               /* replies the broker may still send */
	int owed;                 /* chunks used up (or empty replies) */
	struct logd_cursor cur_rec;   /* the records of cur */
	int in_chunk;             /* cur_rec walks cur */
};

struct cs_req {
	struct logd_consumer *cs;
	struct cs_part *part;
};

struct cs_member;

struct logd_consumer {
	struct logd_client *c;
	char *group;
	size_t max_bytes, min_bytes;
	int max_wait_ms;
	int prefetch;
	int window;               /* replies a stream may buffer; 0: no
	                             streams (plain long-poll FETCHes) */
	int refill;               /* a reply came in: poll sends the next
	                             FETCHes once its records are handed out */
	struct cs_part **parts;
	size_t nparts, cap;
	size_t rr;                /* partition poll reads first */
	int err;                  /* an error for the next poll to return */
	char errmsg[512];
	struct logd_consumer_options opts; /* as given (group not kept) */
	struct cs_member *member; /* NULL unless subscribed */
	int commits_inflight;     /* asynchronous commits not yet answered */
	int commit_err;           /* the first of them that failed, once */
	char commit_errmsg[512];
};

/* Adds or seeks topic/partition at offset (special offsets resolved). */
int cs_assign_one(struct logd_consumer *cs, const char *topic,
    int32_t partition, int64_t offset);
/* Drops every partition, its fetched data and its FETCH in flight. */
void cs_unassign_all(struct logd_consumer *cs);

/*
 * Drives the member: completes a join (fetches the committed offsets,
 * assigns the partitions, calls on_assign), follows a rebalance (on_revoke,
 * commit, drop the partitions, join again), sends the JOIN and the
 * heartbeats that are due.  Never called from a reply handler.  *wait_ms
 * is how long poll may wait before calling it again (-1: until traffic).
 * Returns 0 or an error for poll to return.
 */
int cs_member_step(struct logd_consumer *cs, int *wait_ms);
/* Sends a heartbeat if one is due (from commit). */
void cs_member_heartbeat(struct logd_consumer *cs);
/* 1 when the member has its assignment (not joining). */
int cs_member_joined(const struct logd_consumer *cs);
/* The fenced commit of a member's positions. */
int cs_member_commit(struct logd_consumer *cs);
/*
 * Begins a member's fenced commit request (the caller ends it): 1 when
 * begun, 0 when there is nothing to commit, or an error.
 */
int cs_member_commit_begin(struct logd_consumer *cs);
/* A member commit's error seen: rejoin when it says so. */
void cs_member_commit_seen(struct logd_consumer *cs, int err);
/* on_revoke, LEAVE_GROUP, and frees the member state. */
void cs_member_close(struct logd_consumer *cs);

#endif /* LOGD_CONSUMER_INT_H */
