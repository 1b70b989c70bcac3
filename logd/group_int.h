/*
 * group_int.h - what the coordinator's files share: group.c (the state
 * machine) and group_assign.c (who gets what: logd's own assignment for
 * native members, the protocol choice for Kafka members, whose leader
 * assigns).
 */
#ifndef LOGD_GROUP_INT_H
#define LOGD_GROUP_INT_H

#include "broker.h"

/*
 * stable       every member has the current generation's assignment
 * rebalancing  joins are held until every member has rejoined
 * syncing      (Kafka) the generation is set, SyncGroups are held until
 *              the leader's brings the assignment
 */
enum { G_STABLE, G_REBALANCING, G_SYNCING };

struct kproto {
	char *name;
	void *meta;
	size_t len;
};

struct gmember {
	struct gmember *next;      /* the group's members, by id */
	char *id, *client;
	char **topics;             /* native: sorted, no duplicates */
	size_t ntopics;
	int64_t session_ms;
	int64_t rebalance_ms;      /* Kafka: its rebalance timeout */
	int64_t seen;              /* last request (monotonic ms) */
	int rejoined;              /* joined in the running rebalance */
	int gone;                  /* the connection of its held join closed */
	struct group_join *held;   /* the held JOIN, if any */
	struct group_sync *held_sync;
	struct group_assign *assign;   /* native: computed here */
	size_t nassign;
	struct kproto *protos;     /* Kafka: what it supports, preferred first */
	size_t nprotos;
	void *kassign;             /* Kafka: the leader's assignment for it */
	size_t kassign_len;
};

struct group {
	struct group *next;        /* by name */
	char *name;
	int kind;                  /* GROUP_NATIVE or GROUP_KAFKA */
	int state;
	int64_t generation;
	int64_t deadline;          /* of the running rebalance (monotonic) */
	struct gmember *members;
	size_t nmembers;
	char *ptype;               /* Kafka: protocol type ("consumer") */
	char *protocol;            /* Kafka: chosen for this generation */
	char *leader;              /* Kafka: the leader's member id */
};

/* group.c */
struct group *group_get(const char *name);
struct group *group_first(void);
struct gmember *member_find(const struct group *g, const char *id);
/* Answers m's held SyncGroup (if any) with code. */
void release_sync(struct gmember *m, int code, const char *why);

/* group_assign.c */
void assign_clear(struct gmember *m);
int member_owns(const struct gmember *m, const char *topic,
    int32_t partition);
/* The next generation's assignment for native members; -ENOMEM. */
int compute_assignment(struct group *g);
/* m's entry for protocol name, or NULL. */
const struct kproto *member_proto(const struct gmember *m, const char *name);
/*
 * The protocol every member supports that most members prefer (ties:
 * the first member's order), with extra (a joining member, may be NULL)
 * counted in.  NULL when there is none.
 */
const char *choose_protocol(const struct group *g, const struct gmember *extra);

#endif /* LOGD_GROUP_INT_H */
