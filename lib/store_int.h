/*
 * store_int.h - what the store's three files share (not installed).
 *
 *   store.c          the datadir: LOCK, the LMDB environment, topics and
 *                    their partition logs
 *   store_config.c   topic and group names, topic configs and their
 *                    stored form
 *   store_offsets.c  committed group offsets (LMDB only)
 *
 * The shared functions are hidden: they are not part of liblogd's ABI.
 */
#ifndef LOGD_STORE_INT_H
#define LOGD_STORE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "logd.h"

#define STORE_HIDDEN __attribute__((visibility("hidden")))

#define STORE_PARTITIONS_MAX 10000

struct topic;

struct logd_store {
	char *dir;
	int lock_fd;
	MDB_env *env;
	MDB_dbi topics_dbi;       /* name -> logd_topic_config_encode() */
	MDB_dbi offsets_dbi;      /* see store_offsets.c */
	pthread_rwlock_t resize;  /* read: in a txn; write: resizing map */
	int resize_init;
	struct topic **buckets;   /* topic table, chained on the name hash */
	size_t nbuckets;          /* power of two */
	size_t ntopics;
	uint32_t round_robin;     /* logd_store_produce() without a key */
};

/*
 * Runs fn in a transaction (read-only with MDB_RDONLY) and commits a
 * write transaction when fn returns 0.  fn may return raw LMDB codes;
 * MDB_MAP_FULL grows the map and runs fn again from the start, so fn
 * must keep its effects inside the transaction or start them over.
 * Returns fn's code or the commit's, translated: never an LMDB code.
 */
typedef int (*store_txn_fn)(struct logd_store *st, MDB_txn *txn, void *arg);
STORE_HIDDEN int logd_store_txn(struct logd_store *st, unsigned flags,
    store_txn_fn fn, void *arg);

/* An LMDB code as a liblogd code: -errno, LOGD_ESTORE, or rc itself. */
STORE_HIDDEN int logd_store_mdb_error(int rc);

/* 0 when every field of c is within the ranges logd_topic_config_set()
 * accepts, else LOGD_EBADCONFIG. */
STORE_HIDDEN int logd_topic_config_check(const struct logd_topic_config *c);

/*
 * The "topics" value: logd_topic_config_format() lines and
 * "created.ms=N".  encode: -ENOMEM when size is too small.  decode:
 * starts from the defaults (a key added later reads back from an older
 * record as its default); LOGD_ESTORE when malformed.
 */
STORE_HIDDEN int logd_topic_config_encode(const struct logd_topic_config *c,
    int64_t created_ms, char *buf, size_t size, size_t *len);
STORE_HIDDEN int logd_topic_config_decode(const void *data, size_t len,
    struct logd_topic_config *cfg, int64_t *created_ms);

/* In a write transaction: deletes every group's offsets of topic. */
STORE_HIDDEN int logd_store_offsets_drop_topic(struct logd_store *st,
    MDB_txn *txn, const char *topic);

#endif /* LOGD_STORE_INT_H */
