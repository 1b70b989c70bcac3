/*
 * store_offsets.c - committed consumer-group offsets, in LMDB only.
 *
 * Database "offsets": key group \0 topic \0 partition (u32 big-endian),
 * so keys sort as (group, topic, partition) and one cursor walk lists a
 * group in order; value offset (i64 BE), commit time ms (i64 BE), a flag
 * byte (1: metadata present, so NULL and "" differ) and the metadata
 * bytes (at most STORE_META_MAX).  The longest key, 255 + 1 + 249 + 1 + 4
 * = 510 bytes, fits LMDB's default limit of 511.
 *
 * Nothing here touches the in-memory topic table: a commit checks the
 * topic and its partition count in the "topics" database inside its own
 * write transaction, so a daemon can commit on its flusher thread while
 * its loop thread creates, alters and deletes topics, and a commit can
 * never land on a topic deleted a moment before (the delete removes the
 * topic's offsets in the same transaction as its metadata).  Commits are
 * durable when they return: the environment is opened without
 * MDB_NOSYNC, so mdb_txn_commit() syncs.  Listing copies the entries out
 * before calling back, so no transaction is open during a callback.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "logd.h"
#include "store_int.h"

#define STORE_META_MAX 4096       /* bytes of commit metadata */
#define STORE_KEY_MAX (LOGD_GROUP_NAME_MAX + 1 + LOGD_TOPIC_NAME_MAX + 1 + 4)
#define STORE_VAL_HDR 17          /* offset, commit ms, metadata flag */

static size_t
offset_key(uint8_t *buf, const char *group, const char *topic, int32_t part)
{
	size_t g = strlen(group), t = strlen(topic);
	uint32_t u = (uint32_t)part;

	memcpy(buf, group, g + 1);
	memcpy(buf + g + 1, topic, t + 1);
	buf += g + t + 2;
	buf[0] = (uint8_t)(u >> 24);
	buf[1] = (uint8_t)(u >> 16);
	buf[2] = (uint8_t)(u >> 8);
	buf[3] = (uint8_t)u;
	return g + t + 6;
}

static void
put_be64(uint8_t *p, int64_t v)
{
	uint64_t u = (uint64_t)v;
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)u;
		u >>= 8;
	}
}

static int64_t
get_be64(const uint8_t *p)
{
	uint64_t u = 0;
	int i;

	for (i = 0; i < 8; i++)
		u = u << 8 | p[i];
	return (int64_t)u;
}

/* Parses an "offsets" key; 0 when well formed. */
static int
offset_key_split(const MDB_val *k, const char **group, const char **topic,
    int32_t *part)
{
	const char *p = k->mv_data, *end = p + k->mv_size;
	const char *z1, *z2;
	const uint8_t *b;

	z1 = memchr(p, '\0', k->mv_size);
	if (z1 == NULL)
		return -1;
	z2 = memchr(z1 + 1, '\0', (size_t)(end - z1 - 1));
	if (z2 == NULL || end - z2 != 5)
		return -1;
	b = (const uint8_t *)z2 + 1;
	*group = p;
	*topic = z1 + 1;
	*part = (int32_t)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3]);
	return 0;
}

int
logd_store_offsets_drop_topic(struct logd_store *st, MDB_txn *txn,
    const char *topic)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(txn, st->offsets_dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *g, *t;
		int32_t p;

		if (offset_key_split(&k, &g, &t, &p) == 0 &&
		    strcmp(t, topic) == 0) {
			rc = mdb_cursor_del(cur, 0);
			if (rc != 0)
				break;
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

struct commit_arg {
	const char *group;
	const struct logd_offset_commit *c;
	size_t n;
	int64_t now_ms;
	uint8_t *val;             /* STORE_VAL_HDR + STORE_META_MAX bytes */
};

/* The partition count of topic as the "topics" database holds it. */
static int
txn_partitions(struct logd_store *st, MDB_txn *txn, const char *topic,
    int32_t *n)
{
	MDB_val k = { strlen(topic), (void *)topic }, v;
	struct logd_topic_config cfg;
	int rc = mdb_get(txn, st->topics_dbi, &k, &v);

	if (rc == MDB_NOTFOUND)
		return LOGD_ENOTOPIC;
	if (rc != 0)
		return rc;
	rc = logd_topic_config_decode(v.mv_data, v.mv_size, &cfg, NULL);
	if (rc == 0)
		*n = cfg.partitions;
	return rc;
}

static int
commit_offsets(struct logd_store *st, MDB_txn *txn, void *arg)
{
	struct commit_arg *a = arg;
	size_t i;

	for (i = 0; i < a->n; i++) {
		const struct logd_offset_commit *c = &a->c[i];
		uint8_t key[STORE_KEY_MAX];
		size_t mlen = c->metadata != NULL ? strlen(c->metadata) : 0;
		MDB_val k, v;
		int32_t parts;
		int rc;

		rc = txn_partitions(st, txn, c->topic, &parts);
		if (rc != 0)
			return rc;
		if (c->partition < 0 || c->partition >= parts)
			return LOGD_ENOPART;
		k.mv_size = offset_key(key, a->group, c->topic, c->partition);
		k.mv_data = key;
		put_be64(a->val, c->offset);
		put_be64(a->val + 8, a->now_ms);
		a->val[16] = c->metadata != NULL;
		if (mlen != 0)
			memcpy(a->val + STORE_VAL_HDR, c->metadata, mlen);
		v.mv_size = STORE_VAL_HDR + mlen;
		v.mv_data = a->val;
		rc = mdb_put(txn, st->offsets_dbi, &k, &v, 0);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The checks logd_store_offsets_commit() makes before its transaction. */
static int
commit_check(const char *group, const struct logd_offset_commit *c, size_t n)
{
	size_t i;
	int rc;

	if ((rc = logd_group_name_check(group)) != 0)
		return rc;
	for (i = 0; i < n; i++) {
		if (logd_topic_name_check(c[i].topic) != 0)
			return LOGD_ENOTOPIC;
		if (c[i].offset < 0)
			return -EINVAL;
		if (c[i].metadata != NULL &&
		    strlen(c[i].metadata) > STORE_META_MAX)
			return LOGD_ETOOBIG;
	}
	return 0;
}

int
logd_store_offsets_commit(struct logd_store *st, const char *group,
    const struct logd_offset_commit *c, size_t n, int64_t now_ms)
{
	struct commit_arg a = { group, c, n, now_ms, NULL };
	int rc;

	if ((rc = commit_check(group, c, n)) != 0)
		return rc;
	if (n == 0)
		return 0;
	a.val = malloc(STORE_VAL_HDR + STORE_META_MAX);
	if (a.val == NULL)
		return -ENOMEM;
	rc = logd_store_txn(st, 0, commit_offsets, &a);
	free(a.val);
	return rc;
}

struct many_arg {
	struct logd_offsets_op *ops;
	int *checked;             /* the error commit_check() found */
	size_t n;
	int64_t now_ms;
	uint8_t *val;
};

static int
commit_many(struct logd_store *st, MDB_txn *txn, void *arg)
{
	struct many_arg *m = arg;
	size_t i;
	int rc;

	/* Run again from the start after the map grew: errors afresh. */
	for (i = 0; i < m->n; i++) {
		struct logd_offsets_op *op = &m->ops[i];
		struct commit_arg a = { op->group, op->c, op->n, m->now_ms,
		    m->val };
		MDB_txn *child;

		op->err = m->checked[i];
		if (op->err || op->n == 0)
			continue;
		if ((rc = mdb_txn_begin(st->env, txn, 0, &child)) != 0)
			return rc;
		rc = commit_offsets(st, child, &a);
		if (rc == 0)
			rc = mdb_txn_commit(child);
		else
			mdb_txn_abort(child);
		if (rc == MDB_MAP_FULL || rc == MDB_MAP_RESIZED || rc == EIO ||
		    rc == ENOSPC)
			return rc;      /* the whole transaction */
		op->err = logd_store_mdb_error(rc);
	}
	return 0;
}

int
logd_store_offsets_commit_many(struct logd_store *st,
    struct logd_offsets_op *ops, size_t n, int64_t now_ms)
{
	struct many_arg m = { ops, NULL, n, now_ms, NULL };
	size_t i;
	int rc;

	m.checked = calloc(n ? n : 1, sizeof(*m.checked));
	m.val = malloc(STORE_VAL_HDR + STORE_META_MAX);
	if (m.checked == NULL || m.val == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		m.checked[i] = commit_check(ops[i].group, ops[i].c, ops[i].n);
	rc = logd_store_txn(st, 0, commit_many, &m);
out:
	if (rc != 0)
		for (i = 0; i < n; i++)
			ops[i].err = rc;
	free(m.checked);
	free(m.val);
	return rc;
}

struct fetch_arg {
	const char *group, *topic;
	int32_t partition;
	int64_t offset;
	char *meta;
	size_t meta_size;
};

static int
fetch_offset(struct logd_store *st, MDB_txn *txn, void *arg)
{
	struct fetch_arg *a = arg;
	uint8_t key[STORE_KEY_MAX];
	MDB_val k, v;
	size_t mlen;
	int rc;

	k.mv_size = offset_key(key, a->group, a->topic, a->partition);
	k.mv_data = key;
	rc = mdb_get(txn, st->offsets_dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return LOGD_ENOGROUP;
	if (rc != 0)
		return rc;
	if (v.mv_size < STORE_VAL_HDR)
		return LOGD_ESTORE;
	a->offset = get_be64(v.mv_data);
	if (a->meta != NULL && a->meta_size > 0) {
		mlen = v.mv_size - STORE_VAL_HDR;
		if (mlen >= a->meta_size)
			mlen = a->meta_size - 1;
		memcpy(a->meta, (const uint8_t *)v.mv_data + STORE_VAL_HDR,
		    mlen);
		a->meta[mlen] = '\0';
	}
	return 0;
}

int
logd_store_offset_fetch(struct logd_store *st, const char *group,
    const char *topic, int32_t partition, int64_t *offset, char *meta,
    size_t meta_size)
{
	struct fetch_arg a = { group, topic, partition, 0, meta, meta_size };
	int rc;

	if (logd_group_name_check(group) != 0 ||
	    logd_topic_name_check(topic) != 0)
		return LOGD_ENOGROUP;
	rc = logd_store_txn(st, MDB_RDONLY, fetch_offset, &a);
	if (rc == 0)
		*offset = a.offset;
	return rc;
}

/* One committed offset, copied out of LMDB for logd_store_offsets(). */
struct offset_item {
	char *key;                /* group \0 topic \0 */
	char *meta;               /* NULL: none */
	int32_t partition;
	int64_t offset;
	int64_t commit_ms;
};

struct list_arg {
	const char *group;        /* NULL: all */
	struct offset_item *items;
	size_t n, cap;
};

static void
list_clear(struct list_arg *a)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		free(a->items[i].key);
		free(a->items[i].meta);
	}
	free(a->items);
	a->items = NULL;
	a->n = a->cap = 0;
}

static int
list_add(struct list_arg *a, const MDB_val *k, const MDB_val *v,
    const char *topic, int32_t part)
{
	struct offset_item *it;
	size_t klen = (size_t)(topic - (const char *)k->mv_data) +
	    strlen(topic) + 1;
	size_t mlen = v->mv_size - STORE_VAL_HDR;
	const uint8_t *val = v->mv_data;

	if (a->n == a->cap) {
		size_t cap = a->cap != 0 ? a->cap * 2 : 16;

		it = realloc(a->items, cap * sizeof(*it));
		if (it == NULL)
			return -ENOMEM;
		a->items = it;
		a->cap = cap;
	}
	it = &a->items[a->n];
	memset(it, 0, sizeof(*it));
	it->key = malloc(klen);
	if (it->key == NULL)
		return -ENOMEM;
	memcpy(it->key, k->mv_data, klen);
	if (val[16]) {
		it->meta = malloc(mlen + 1);
		if (it->meta == NULL) {
			free(it->key);
			return -ENOMEM;
		}
		memcpy(it->meta, val + STORE_VAL_HDR, mlen);
		it->meta[mlen] = '\0';
	}
	it->partition = part;
	it->offset = get_be64(val);
	it->commit_ms = get_be64(val + 8);
	a->n++;
	return 0;
}

static int
list_offsets(struct logd_store *st, MDB_txn *txn, void *arg)
{
	struct list_arg *a = arg;
	size_t glen = a->group != NULL ? strlen(a->group) + 1 : 0;
	MDB_cursor *cur;
	MDB_val k = { glen, (void *)a->group }, v;
	int rc;

	list_clear(a); /* a retry starts over */
	rc = mdb_cursor_open(txn, st->offsets_dbi, &cur);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v,
	    a->group != NULL ? MDB_SET_RANGE : MDB_FIRST);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *g, *t;
		int32_t p;

		if (offset_key_split(&k, &g, &t, &p) != 0 ||
		    v.mv_size < STORE_VAL_HDR) {
			rc = LOGD_ESTORE;
			break;
		}
		if (a->group != NULL && strcmp(g, a->group) != 0)
			break;
		rc = list_add(a, &k, &v, t, p);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * Copies the entries out first, so fn runs with no transaction open and
 * may commit offsets itself.
 */
int
logd_store_offsets(struct logd_store *st, const char *group,
    int (*fn)(void *arg, const char *group, const char *topic,
        int32_t partition, int64_t offset, int64_t commit_ms,
        const char *metadata),
    void *arg)
{
	struct list_arg a = { group, NULL, 0, 0 };
	size_t i;
	int rc;

	if (group != NULL && logd_group_name_check(group) != 0)
		return 0;
	rc = logd_store_txn(st, MDB_RDONLY, list_offsets, &a);
	for (i = 0; i < a.n && rc == 0; i++) {
		const struct offset_item *it = &a.items[i];

		rc = fn(arg, it->key, it->key + strlen(it->key) + 1,
		    it->partition, it->offset, it->commit_ms, it->meta);
	}
	list_clear(&a);
	return rc;
}

static int
delete_group(struct logd_store *st, MDB_txn *txn, void *arg)
{
	const char *group = arg;
	size_t glen = strlen(group) + 1;
	MDB_cursor *cur;
	MDB_val k = { glen, (void *)group }, v;
	int rc, deleted = 0;

	rc = mdb_cursor_open(txn, st->offsets_dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < glen || memcmp(k.mv_data, group, glen) != 0)
			break;
		rc = mdb_cursor_del(cur, 0);
		if (rc != 0)
			break;
		deleted++;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	return deleted ? 0 : LOGD_ENOGROUP;
}

int
logd_store_group_delete(struct logd_store *st, const char *group)
{
	if (logd_group_name_check(group) != 0)
		return LOGD_ENOGROUP;
	return logd_store_txn(st, 0, delete_group, (void *)group);
}
