/*
 * logtail.h - what logtail.c (options, output, replay, follow) shares
 * with logtail_group.c (-g: a member of a consumer group).
 */
#ifndef LOGTAIL_H
#define LOGTAIL_H

#include <signal.h>
#include <stdint.h>

#include "logd.h"
#include "tool.h"

enum start_kind {
	START_DEFAULT,        /* group commit, else beginning */
	START_OFFSET,         /* -o N */
	START_BEGINNING,
	START_END,
	START_LAST,           /* -o -N */
	START_TIME            /* -s TIME */
};

enum out_mode { OUT_TEXT, OUT_JSON, OUT_RAW };

struct opts {
	const char *broker;
	const char *topic;
	enum start_kind start;
	int64_t start_arg;        /* N, or ms for START_TIME */
	int64_t end_offset;       /* -e OFFSET (exclusive), -1: none */
	int64_t end_time;         /* -e TIME, -1: none */
	int64_t count;            /* -c, -1: unlimited */
	int follow;
	int32_t partition;        /* -p, -1: all */
	const char *group;
	enum out_mode mode;
	const char *format;       /* text format, escapes decoded */
	int print_key;
	int skip_bad;             /* --skip-bad */
};

struct part {
	int32_t id;
	int64_t pos;              /* next offset to print */
	int64_t limit;            /* replay stops before this offset */
	int done;                 /* reached -e: read no more */
	int replayed;             /* reached the replay limit */
	struct logd_fetch *f;
	struct logd_cursor cur;   /* the unread records of f */
	int has_rec;
	struct logd_record rec;   /* head record, points into f */
	/* -g: a partition the group may give this member */
	int owned;                /* assigned to us now */
	int fresh;                /* assigned, limit not looked up yet */
	int started;              /* -o/-s applied (first assignment) */
	int64_t resume;           /* -g: next to print when the connection
	                             broke, -1: none */
	struct qrec *qhead, *qtail; /* rendered, not printed yet */
};

/* A rendered record waiting for the merge (-g). */
struct qrec {
	struct qrec *next;
	int64_t offset, ts;
	size_t len;
	int skip;                 /* not a record: the batch up to offset
	                             was skipped (--skip-bad) */
	char data[];
};

struct tail {
	struct opts *o;
	struct logd_client *c;
	struct part *parts;
	size_t nparts;
	int64_t printed;
	int64_t uncommitted;      /* records printed since the last commit */
	int64_t last_commit_ms;
	struct tool_buf out;
	struct logd_consumer *cs; /* -g: the group member */
	int lost;                 /* -g -f: the error that broke the
	                             connection, 0: none */
};

/* Set by SIGINT/SIGTERM. */
extern volatile sig_atomic_t stop_requested;

/* Renders r into t->out (emptied first): 0 or TOOL_EXIT_FAIL. */
int render_record(struct tail *t, int32_t partition,
    const struct logd_record *r);
/* Writes n rendered bytes to stdout as one printed record. */
int print_bytes(struct tail *t, const void *p, size_t n);
/* Has the record r ended its partition (-e)? */
int past_end(const struct opts *o, const struct logd_record *r);
/* Says that off lies outside [start, end) of p; TOOL_EXIT_FAIL. */
int describe_range_error(struct tail *t, struct part *p, int64_t off,
    int64_t start, int64_t end);
/* Where -o/-s (default: the beginning) starts p, holding [start, end). */
int start_point(struct tail *t, struct part *p, int64_t start, int64_t end,
    int64_t *off);
/* --skip-bad: says which batch of partition was skipped (why names it). */
void skip_warn(const char *why);
/* Commits what was printed (-g), when due or now with force. */
int commit(struct tail *t, int force);

/* logtail_group.c */
void qfree(struct part *p);
/* The member's commit of every owned partition's next record to print. */
int member_commit(struct tail *t, int64_t now);
/* -g: joins the group and prints until done; an exit status. */
int run_group(struct tail *t);

#endif /* LOGTAIL_H */
