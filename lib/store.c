/*
 * store.c - a datadir: topics, their partition logs, and group offsets.
 *
 * Layout:
 *   <datadir>/LOCK                   flock(LOCK_EX|LOCK_NB), held while
 *                                    the store is open: one process (and
 *                                    one open store) per datadir
 *   <datadir>/meta/                  LMDB environment, two databases:
 *     "topics"   name -> "key=value\n" lines (logd_topic_config_format()
 *                plus created.ms=N): readable with mdb_dump
 *     "offsets"  group \0 topic \0 partition (u32 big-endian) ->
 *                offset (i64 BE), commit time ms (i64 BE), a flag byte
 *                (1: metadata present) and the metadata bytes.  Keys
 *                sort as (group, topic, partition), so one cursor walk
 *                lists a group in order.
 *   <datadir>/topics/<topic>-<partition>/   one partition log each
 *
 * A topic name is [A-Za-z0-9._-]{1,249}, not "." or "..": it has no "/",
 * so a partition directory is always a direct child of topics/, and
 * "<topic>-<partition>" splits back uniquely at its last '-'.
 *
 * Crash safety.  Creating a topic (or growing its partitions) makes and
 * opens the partition directories first and commits the metadata last;
 * deleting commits the metadata (topic and its offsets, one transaction)
 * first and removes the directories after.  So a crash leaves at worst
 * partition directories that no metadata names: store_open() removes
 * these orphans (only names of the form <valid topic>-<partition>;
 * anything else in topics/ is left alone).  Metadata whose directories
 * are missing gets empty partitions.  One exception guards against data
 * loss: when meta/ holds no environment yet but topics/ holds partition
 * directories, the metadata was lost, not the data, and the open fails
 * with LOGD_ESTORE instead of deleting everything.
 *
 * Threads.  The topic table (a chained hash on the name, since
 * logd_store_log() is on every produce and fetch) belongs to the thread
 * that creates, alters and deletes topics.  Offset commit, fetch and
 * listing touch only LMDB (opened MDB_NOTLS), validating the topic and
 * partition inside their transaction, so they may run on another thread.
 * The map starts at 1 GiB (sparse) and doubles on MDB_MAP_FULL; LMDB
 * allows resizing only with no transaction active in the process, so
 * every transaction holds a read lock on st->resize and the resize takes
 * it for writing.  Every LMDB code is translated in store_txn() or where
 * it is returned: none leaves this file.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include <lmdb.h>

#include "logd.h"

#define STORE_MAP_INITIAL ((size_t)1 << 30)
#define STORE_MAP_MAX ((size_t)1 << 36)
#define STORE_PARTITIONS_MAX 10000
#define STORE_META_MAX 4096       /* bytes of commit metadata */
#define STORE_KEY_MAX (LOGD_GROUP_NAME_MAX + 1 + LOGD_TOPIC_NAME_MAX + 1 + 4)
#define STORE_VAL_HDR 17          /* offset, commit ms, metadata flag */

struct topic {
	struct topic *next;       /* hash chain */
	uint32_t hash;
	struct logd_topic_config cfg;
	int64_t created_ms;
	struct logd_log **logs;   /* cfg.partitions of them */
	char name[];
};

struct logd_store {
	char *dir;
	int lock_fd;
	MDB_env *env;
	MDB_dbi topics_dbi;
	MDB_dbi offsets_dbi;
	pthread_rwlock_t resize;  /* read: in a txn; write: resizing map */
	int resize_init;
	struct topic **buckets;
	size_t nbuckets;          /* power of two */
	size_t ntopics;
};

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

int
logd_topic_name_check(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0')
		return LOGD_EBADNAME;
	for (i = 0; name[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (i >= LOGD_TOPIC_NAME_MAX)
			return LOGD_EBADNAME;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		    ch == '-'))
			return LOGD_EBADNAME;
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return LOGD_EBADNAME;
	return 0;
}

int
logd_group_name_check(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0')
		return LOGD_EBADNAME;
	for (i = 0; name[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (i >= LOGD_GROUP_NAME_MAX || ch < 0x20 || ch > 0x7e)
			return LOGD_EBADNAME;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Topic config                                                        */
/* ------------------------------------------------------------------ */

void
logd_topic_config_default(struct logd_topic_config *c)
{
	memset(c, 0, sizeof(*c));
	c->partitions = 1;
	logd_log_config_default(&c->log);
}

/* Strict decimal: optional '-', digits, nothing else, within [min, max]. */
static int
parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	const char *p = s;
	char *end;
	long long v;

	if (s == NULL)
		return LOGD_EBADCONFIG;
	if (*p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		return LOGD_EBADCONFIG;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return LOGD_EBADCONFIG;
	*out = v;
	return 0;
}

/* The accepted range of each setting; see logd_topic_config_set(). */
#define SEGMENT_BYTES_MIN ((int64_t)64 << 10)
#define SEGMENT_BYTES_MAX ((int64_t)INT32_MAX) /* index positions are u32 */
#define INDEX_BYTES_MIN ((int64_t)1024)
#define INDEX_BYTES_MAX ((int64_t)1 << 30)

static int
topic_config_valid(const struct logd_topic_config *c)
{
	const struct logd_log_config *l = &c->log;

	if (c->partitions < 1 || c->partitions > STORE_PARTITIONS_MAX)
		return LOGD_EBADCONFIG;
	if (l->segment_bytes < (uint64_t)SEGMENT_BYTES_MIN ||
	    l->segment_bytes > (uint64_t)SEGMENT_BYTES_MAX)
		return LOGD_EBADCONFIG;
	if (l->segment_ms < 1 || l->retention_ms < -1 ||
	    l->retention_bytes < -1)
		return LOGD_EBADCONFIG;
	if (l->index_interval > (uint32_t)INT32_MAX)
		return LOGD_EBADCONFIG;
	if (l->index_bytes < (uint32_t)INDEX_BYTES_MIN ||
	    l->index_bytes > (uint32_t)INDEX_BYTES_MAX)
		return LOGD_EBADCONFIG;
	if (l->log_append_time != 0 && l->log_append_time != 1)
		return LOGD_EBADCONFIG;
	return 0;
}

int
logd_topic_config_set(struct logd_topic_config *c, const char *key,
    const char *value)
{
	int64_t v;
	int rc;

	if (key == NULL || value == NULL)
		return LOGD_EBADCONFIG;
	if (strcmp(key, "message.timestamp.type") == 0) {
		if (strcmp(value, "CreateTime") == 0)
			c->log.log_append_time = 0;
		else if (strcmp(value, "LogAppendTime") == 0)
			c->log.log_append_time = 1;
		else
			return LOGD_EBADCONFIG;
		return 0;
	}
	if (strcmp(key, "partitions") == 0) {
		rc = parse_i64(value, 1, STORE_PARTITIONS_MAX, &v);
		if (rc == 0)
			c->partitions = (int32_t)v;
	} else if (strcmp(key, "segment.bytes") == 0) {
		rc = parse_i64(value, SEGMENT_BYTES_MIN, SEGMENT_BYTES_MAX, &v);
		if (rc == 0)
			c->log.segment_bytes = (uint64_t)v;
	} else if (strcmp(key, "segment.ms") == 0) {
		rc = parse_i64(value, 1, INT64_MAX, &v);
		if (rc == 0)
			c->log.segment_ms = v;
	} else if (strcmp(key, "retention.ms") == 0) {
		rc = parse_i64(value, -1, INT64_MAX, &v);
		if (rc == 0)
			c->log.retention_ms = v;
	} else if (strcmp(key, "retention.bytes") == 0) {
		rc = parse_i64(value, -1, INT64_MAX, &v);
		if (rc == 0)
			c->log.retention_bytes = v;
	} else if (strcmp(key, "index.interval.bytes") == 0) {
		rc = parse_i64(value, 0, INT32_MAX, &v);
		if (rc == 0)
			c->log.index_interval = (uint32_t)v;
	} else if (strcmp(key, "segment.index.bytes") == 0) {
		rc = parse_i64(value, INDEX_BYTES_MIN, INDEX_BYTES_MAX, &v);
		if (rc == 0)
			c->log.index_bytes = (uint32_t)v;
	} else {
		rc = LOGD_EBADCONFIG;
	}
	return rc;
}

size_t
logd_topic_config_format(const struct logd_topic_config *c, char *buf,
    size_t size)
{
	const struct logd_log_config *l = &c->log;
	int n;

	n = snprintf(buf, size,
	    "partitions=%" PRId32 "\n"
	    "segment.bytes=%" PRIu64 "\n"
	    "segment.ms=%" PRId64 "\n"
	    "retention.ms=%" PRId64 "\n"
	    "retention.bytes=%" PRId64 "\n"
	    "index.interval.bytes=%" PRIu32 "\n"
	    "segment.index.bytes=%" PRIu32 "\n"
	    "message.timestamp.type=%s\n",
	    c->partitions, l->segment_bytes, l->segment_ms, l->retention_ms,
	    l->retention_bytes, l->index_interval, l->index_bytes,
	    l->log_append_time ? "LogAppendTime" : "CreateTime");
	return n < 0 ? 0 : (size_t)n;
}

/*
 * The "topics" value: logd_topic_config_format() lines and created.ms.
 * Decoding starts from the defaults so a key added later reads back from
 * an older record as its default.
 */
static int
topic_encode(const struct logd_topic_config *c, int64_t created_ms,
    char *buf, size_t size, size_t *len)
{
	size_t n = logd_topic_config_format(c, buf, size);
	int m;

	if (n >= size)
		return -ENOMEM;
	m = snprintf(buf + n, size - n, "created.ms=%" PRId64 "\n",
	    created_ms);
	if (m < 0 || (size_t)m >= size - n)
		return -ENOMEM;
	*len = n + (size_t)m;
	return 0;
}

static int
topic_decode(const void *data, size_t len, struct logd_topic_config *cfg,
    int64_t *created_ms)
{
	struct logd_topic_config c;
	int64_t created = 0;
	char line[128];
	const char *p = data, *end = p + len;

	logd_topic_config_default(&c);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		char *eq;

		if (n >= sizeof(line))
			return LOGD_ESTORE;
		memcpy(line, p, n);
		line[n] = '\0';
		p += n + (nl != NULL);
		if (n == 0)
			continue;
		eq = strchr(line, '=');
		if (eq == NULL)
			return LOGD_ESTORE;
		*eq++ = '\0';
		if (strcmp(line, "created.ms") == 0) {
			if (parse_i64(eq, INT64_MIN, INT64_MAX, &created) != 0)
				return LOGD_ESTORE;
		} else if (logd_topic_config_set(&c, line, eq) != 0) {
			return LOGD_ESTORE;
		}
	}
	*cfg = c;
	if (created_ms != NULL)
		*created_ms = created;
	return 0;
}

/* ------------------------------------------------------------------ */
/* LMDB                                                                */
/* ------------------------------------------------------------------ */

/* LMDB codes into ours: system errors are positive errno in LMDB. */
static int
mdb_error(int rc)
{
	if (rc > 0)
		return -rc;
	if (rc <= MDB_KEYEXIST && rc >= MDB_LAST_ERRCODE)
		return LOGD_ESTORE;
	return rc;
}

/* Doubles the map (or adopts a size another opener set). */
static int
store_grow(struct logd_store *st, int why)
{
	MDB_envinfo info;
	int rc;

	pthread_rwlock_wrlock(&st->resize);
	if (why == MDB_MAP_RESIZED) {
		rc = mdb_env_set_mapsize(st->env, 0);
	} else {
		rc = mdb_env_info(st->env, &info);
		if (rc == 0 && info.me_mapsize >= STORE_MAP_MAX)
			rc = MDB_MAP_FULL;
		else if (rc == 0)
			rc = mdb_env_set_mapsize(st->env, info.me_mapsize * 2);
	}
	pthread_rwlock_unlock(&st->resize);
	return rc == 0 ? 0 : LOGD_ESTORE;
}

typedef int (*txn_fn)(struct logd_store *st, MDB_txn *txn, void *arg);

/*
 * Runs fn in a transaction (read-only with MDB_RDONLY) and commits a
 * write transaction when fn returns 0.  fn may return raw LMDB codes;
 * MDB_MAP_FULL grows the map and runs fn again from the start, so fn
 * must keep its effects inside the transaction or idempotent.
 */
static int
store_txn(struct logd_store *st, unsigned flags, txn_fn fn, void *arg)
{
	for (;;) {
		MDB_txn *txn;
		int rc;

		pthread_rwlock_rdlock(&st->resize);
		rc = mdb_txn_begin(st->env, NULL, flags, &txn);
		if (rc == 0) {
			rc = fn(st, txn, arg);
			if (rc == 0 && !(flags & MDB_RDONLY))
				rc = mdb_txn_commit(txn);
			else
				mdb_txn_abort(txn);
		}
		pthread_rwlock_unlock(&st->resize);
		if (rc == MDB_MAP_FULL || rc == MDB_MAP_RESIZED) {
			int g = store_grow(st, rc);

			if (g != 0)
				return g;
			continue;
		}
		return mdb_error(rc);
	}
}

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

static char *
path_join(const char *a, const char *b)
{
	char *s;

	if (asprintf(&s, "%s/%s", a, b) < 0)
		return NULL;
	return s;
}

static char *
partition_path(const struct logd_store *st, const char *topic, int32_t part)
{
	char *s;

	if (asprintf(&s, "%s/topics/%s-%" PRId32, st->dir, topic, part) < 0)
		return NULL;
	return s;
}

static int
fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int
mkdir_ok(const char *path)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

/* rm -r path; a missing path is fine. */
static int
rm_tree(const char *path)
{
	if (nftw(path, rm_entry, 8, FTW_DEPTH | FTW_PHYS) != 0 &&
	    errno != ENOENT)
		return errno != 0 ? -errno : -EIO;
	return 0;
}

/*
 * Splits a topics/ entry "<topic>-<partition>"; 0 if it has that form,
 * with topic copied into name (LOGD_TOPIC_NAME_MAX + 1 bytes).
 */
static int
split_partition_dir(const char *ent, char *name, int32_t *part)
{
	const char *dash = strrchr(ent, '-');
	const char *d;
	size_t n;
	int64_t v;

	if (dash == NULL || dash == ent)
		return -1;
	n = (size_t)(dash - ent);
	if (n > LOGD_TOPIC_NAME_MAX)
		return -1;
	for (d = dash + 1; *d != '\0'; d++)
		if (!isdigit((unsigned char)*d))
			return -1;
	if (dash[1] == '\0' || (dash[1] == '0' && dash[2] != '\0'))
		return -1;
	if (parse_i64(dash + 1, 0, STORE_PARTITIONS_MAX - 1, &v) != 0)
		return -1;
	memcpy(name, ent, n);
	name[n] = '\0';
	if (logd_topic_name_check(name) != 0)
		return -1;
	*part = (int32_t)v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Topic table                                                         */
/* ------------------------------------------------------------------ */

static uint32_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h;
}

static struct topic *
topic_find(const struct logd_store *st, const char *name)
{
	uint32_t h;
	struct topic *t;

	if (st->nbuckets == 0 || name == NULL)
		return NULL;
	h = name_hash(name);
	for (t = st->buckets[h & (st->nbuckets - 1)]; t != NULL; t = t->next)
		if (t->hash == h && strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

static int
table_insert(struct logd_store *st, struct topic *t)
{
	size_t i;

	if (st->ntopics + 1 > st->nbuckets) {
		size_t n = st->nbuckets != 0 ? st->nbuckets * 2 : 16;
		struct topic **b = calloc(n, sizeof(*b));

		if (b == NULL)
			return -ENOMEM;
		for (i = 0; i < st->nbuckets; i++) {
			struct topic *u, *next;

			for (u = st->buckets[i]; u != NULL; u = next) {
				next = u->next;
				u->next = b[u->hash & (n - 1)];
				b[u->hash & (n - 1)] = u;
			}
		}
		free(st->buckets);
		st->buckets = b;
		st->nbuckets = n;
	}
	i = t->hash & (st->nbuckets - 1);
	t->next = st->buckets[i];
	st->buckets[i] = t;
	st->ntopics++;
	return 0;
}

static void
table_remove(struct logd_store *st, struct topic *t)
{
	struct topic **pp = &st->buckets[t->hash & (st->nbuckets - 1)];

	while (*pp != t)
		pp = &(*pp)->next;
	*pp = t->next;
	st->ntopics--;
}

static struct topic *
topic_new(const char *name, const struct logd_topic_config *cfg,
    int64_t created_ms)
{
	size_t n = strlen(name);
	struct topic *t = calloc(1, sizeof(*t) + n + 1);

	if (t == NULL)
		return NULL;
	t->logs = calloc((size_t)cfg->partitions, sizeof(*t->logs));
	if (t->logs == NULL) {
		free(t);
		return NULL;
	}
	memcpy(t->name, name, n + 1);
	t->hash = name_hash(name);
	t->cfg = *cfg;
	t->created_ms = created_ms;
	return t;
}

/* Closes the logs of partitions [from, to). */
static void
topic_close_logs(struct topic *t, int32_t from, int32_t to)
{
	int32_t i;

	for (i = from; i < to; i++) {
		logd_log_close(t->logs[i]);
		t->logs[i] = NULL;
	}
}

static void
topic_free(struct topic *t)
{
	if (t == NULL)
		return;
	topic_close_logs(t, 0, t->cfg.partitions);
	free(t->logs);
	free(t);
}

/* Removes the directories of partitions [from, to) of topic name. */
static int
remove_partitions(struct logd_store *st, const char *name, int32_t from,
    int32_t to)
{
	int32_t i;
	int rc = 0;

	for (i = from; i < to; i++) {
		char *p = partition_path(st, name, i);
		int r;

		if (p == NULL)
			return -ENOMEM;
		r = rm_tree(p);
		free(p);
		if (r != 0 && rc == 0)
			rc = r;
	}
	return rc;
}

/*
 * Opens partitions [from, to) of t into t->logs, creating their
 * directories.  fresh: remove whatever an earlier crash left there first.
 * On failure the logs opened here are closed (their directories stay for
 * the caller to remove).
 */
static int
open_partitions(struct logd_store *st, struct topic *t, int32_t from,
    int32_t to, int fresh, int64_t now_ms,
    void (*on_recover)(void *, const char *, int32_t,
        const struct logd_recovery *), void *arg)
{
	int32_t i;
	int rc = 0;

	for (i = from; i < to; i++) {
		struct logd_recovery rec;
		char *p = partition_path(st, t->name, i);

		if (p == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		if (fresh)
			rc = rm_tree(p);
		if (rc == 0)
			rc = mkdir_ok(p);
		if (rc == 0) {
			memset(&rec, 0, sizeof(rec));
			rc = logd_log_open(p, &t->cfg.log, now_ms, &t->logs[i],
			    &rec);
		}
		free(p);
		if (rc != 0)
			goto fail;
		if (on_recover != NULL)
			on_recover(arg, t->name, i, &rec);
	}
	return 0;
fail:
	topic_close_logs(t, from, i);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Open and close                                                      */
/* ------------------------------------------------------------------ */

struct load_arg {
	struct logd_store *st;
};

static int
load_topics(struct logd_store *st, MDB_txn *txn, void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(txn, st->topics_dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		char name[LOGD_TOPIC_NAME_MAX + 1];
		struct logd_topic_config cfg;
		struct topic *t;
		int64_t created;

		if (k.mv_size == 0 || k.mv_size > LOGD_TOPIC_NAME_MAX) {
			rc = LOGD_ESTORE;
			break;
		}
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = '\0';
		if (logd_topic_name_check(name) != 0 ||
		    topic_find(st, name) != NULL) {
			rc = LOGD_ESTORE;
			break;
		}
		rc = topic_decode(v.mv_data, v.mv_size, &cfg, &created);
		if (rc == 0)
			rc = topic_config_valid(&cfg) == 0 ? 0 : LOGD_ESTORE;
		if (rc != 0)
			break;
		t = topic_new(name, &cfg, created);
		if (t == NULL) {
			rc = -ENOMEM;
			break;
		}
		rc = table_insert(st, t);
		if (rc != 0) {
			topic_free(t);
			break;
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * Removes partition directories that no topic names (see the comment at
 * the top).  *found counts the partition directories seen at all.
 */
static int
remove_orphans(struct logd_store *st, const char *topics_dir, int dry_run,
    size_t *found)
{
	DIR *d = opendir(topics_dir);
	struct dirent *e;
	int rc = 0;

	*found = 0;
	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		char name[LOGD_TOPIC_NAME_MAX + 1];
		struct topic *t;
		int32_t part;
		char *p;

		if (split_partition_dir(e->d_name, name, &part) != 0)
			continue;
		(*found)++;
		t = topic_find(st, name);
		if (dry_run || (t != NULL && part < t->cfg.partitions))
			continue;
		p = path_join(topics_dir, e->d_name);
		if (p == NULL) {
			rc = -ENOMEM;
			break;
		}
		rc = rm_tree(p);
		free(p);
		if (rc != 0)
			break;
	}
	closedir(d);
	return rc;
}

static int
open_dbis(struct logd_store *st, MDB_txn *txn, void *arg)
{
	int rc = mdb_dbi_open(txn, "topics", MDB_CREATE, &st->topics_dbi);

	if (rc == 0)
		rc = mdb_dbi_open(txn, "offsets", MDB_CREATE, &st->offsets_dbi);
	return rc;
}

static int
store_lock(struct logd_store *st)
{
	char *p = path_join(st->dir, "LOCK");

	if (p == NULL)
		return -ENOMEM;
	st->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(p);
	if (st->lock_fd < 0)
		return -errno;
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return errno == EWOULDBLOCK ? LOGD_ELOCKED : -errno;
	return 0;
}

/* Opens meta/; *fresh says whether the environment was just made. */
static int
store_open_meta(struct logd_store *st, int *fresh)
{
	char *meta = path_join(st->dir, "meta");
	char *data = path_join(st->dir, "meta/data.mdb");
	struct stat sb;
	int rc;

	if (meta == NULL || data == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	*fresh = stat(data, &sb) != 0;
	rc = mkdir_ok(meta);
	if (rc != 0)
		goto fail;
	rc = mdb_error(mdb_env_create(&st->env));
	if (rc != 0)
		goto fail;
	rc = mdb_env_set_maxdbs(st->env, 4);
	if (rc == 0)
		rc = mdb_env_set_mapsize(st->env, STORE_MAP_INITIAL);
	if (rc == 0)
		rc = mdb_env_open(st->env, meta, MDB_NOTLS, 0600);
	rc = mdb_error(rc);
	if (rc != 0)
		goto fail;
	rc = store_txn(st, 0, open_dbis, NULL);
fail:
	free(meta);
	free(data);
	return rc;
}

int
logd_store_open(const char *datadir, unsigned flags, int64_t now_ms,
    void (*on_recover)(void *arg, const char *topic, int32_t partition,
        const struct logd_recovery *rec),
    void *arg, struct logd_store **out)
{
	struct logd_store *st;
	char *topics_dir = NULL;
	size_t i, found;
	struct stat sb;
	int fresh = 0, rc;

	if (datadir == NULL || datadir[0] == '\0')
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	st->lock_fd = -1;
	st->dir = strdup(datadir);
	if (st->dir == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if (pthread_rwlock_init(&st->resize, NULL) != 0) {
		rc = -ENOMEM;
		goto fail;
	}
	st->resize_init = 1;
	if (flags & LOGD_STORE_CREATE) {
		rc = mkdir_ok(datadir);
		if (rc != 0)
			goto fail;
	} else {
		char *meta = path_join(datadir, "meta");

		rc = meta == NULL ? -ENOMEM : stat(meta, &sb) != 0 ? -errno : 0;
		free(meta);
		if (rc != 0)
			goto fail;
	}
	rc = store_lock(st);
	if (rc != 0)
		goto fail;
	rc = store_open_meta(st, &fresh);
	if (rc != 0)
		goto fail;
	topics_dir = path_join(datadir, "topics");
	if (topics_dir == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = mkdir_ok(topics_dir);
	if (rc == 0 && (flags & LOGD_STORE_CREATE))
		rc = fsync_path(datadir);
	if (rc == 0)
		rc = store_txn(st, MDB_RDONLY, load_topics, NULL);
	if (rc == 0)
		rc = remove_orphans(st, topics_dir, fresh, &found);
	if (rc == 0 && fresh && found != 0)
		rc = LOGD_ESTORE; /* data without metadata: keep it */
	if (rc != 0)
		goto fail;
	for (i = 0; i < st->nbuckets; i++) {
		struct topic *t;

		for (t = st->buckets[i]; t != NULL; t = t->next) {
			rc = open_partitions(st, t, 0, t->cfg.partitions, 0,
			    now_ms, on_recover, arg);
			if (rc != 0)
				goto fail;
		}
	}
	free(topics_dir);
	*out = st;
	return 0;
fail:
	free(topics_dir);
	logd_store_close(st);
	return rc;
}

void
logd_store_close(struct logd_store *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->nbuckets; i++) {
		struct topic *t, *next;

		for (t = st->buckets[i]; t != NULL; t = next) {
			next = t->next;
			topic_free(t);
		}
	}
	free(st->buckets);
	if (st->env != NULL)
		mdb_env_close(st->env);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	if (st->resize_init)
		pthread_rwlock_destroy(&st->resize);
	free(st->dir);
	free(st);
}

/* ------------------------------------------------------------------ */
/* Topics                                                              */
/* ------------------------------------------------------------------ */

struct put_arg {
	const char *name;
	const char *val;
	size_t len;
	unsigned flags;           /* MDB_NOOVERWRITE for a new topic */
};

static int
put_topic(struct logd_store *st, MDB_txn *txn, void *arg)
{
	struct put_arg *a = arg;
	MDB_val k = { strlen(a->name), (void *)a->name };
	MDB_val v = { a->len, (void *)a->val };
	int rc = mdb_put(txn, st->topics_dbi, &k, &v, a->flags);

	return rc == MDB_KEYEXIST ? LOGD_ETOPICEXIST : rc;
}

/* Writes t's name with config cfg to "topics". */
static int
store_put_topic(struct logd_store *st, const char *name,
    const struct logd_topic_config *cfg, int64_t created_ms, unsigned flags)
{
	char buf[1024];
	struct put_arg a = { name, buf, 0, flags };
	int rc = topic_encode(cfg, created_ms, buf, sizeof(buf), &a.len);

	if (rc == 0)
		rc = store_txn(st, 0, put_topic, &a);
	return rc;
}

int
logd_store_topic_create(struct logd_store *st, const char *name,
    const struct logd_topic_config *cfg, int64_t now_ms)
{
	struct logd_topic_config c;
	struct topic *t = NULL;
	char *topics_dir = NULL;
	int rc;

	rc = logd_topic_name_check(name);
	if (rc != 0)
		return rc;
	if (cfg != NULL)
		c = *cfg;
	else
		logd_topic_config_default(&c);
	rc = topic_config_valid(&c);
	if (rc != 0)
		return rc;
	if (topic_find(st, name) != NULL)
		return LOGD_ETOPICEXIST;
	t = topic_new(name, &c, now_ms);
	topics_dir = path_join(st->dir, "topics");
	if (t == NULL || topics_dir == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = open_partitions(st, t, 0, c.partitions, 1, now_ms, NULL, NULL);
	if (rc == 0)
		rc = fsync_path(topics_dir);
	if (rc == 0)
		rc = table_insert(st, t);
	if (rc != 0)
		goto fail;
	rc = store_put_topic(st, name, &c, now_ms, MDB_NOOVERWRITE);
	if (rc != 0) {
		table_remove(st, t);
		goto fail;
	}
	free(topics_dir);
	return 0;
fail:
	if (t != NULL) {
		topic_free(t);
		if (rc != LOGD_ETOPICEXIST)
			remove_partitions(st, name, 0, c.partitions);
	}
	free(topics_dir);
	return rc;
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

static int
delete_topic(struct logd_store *st, MDB_txn *txn, void *arg)
{
	const char *name = arg;
	MDB_val k = { strlen(name), (void *)name }, v;
	MDB_cursor *cur;
	int rc;

	rc = mdb_del(txn, st->topics_dbi, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return LOGD_ENOTOPIC;
	if (rc != 0)
		return rc;
	rc = mdb_cursor_open(txn, st->offsets_dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *g, *t;
		int32_t p;

		if (offset_key_split(&k, &g, &t, &p) == 0 &&
		    strcmp(t, name) == 0) {
			rc = mdb_cursor_del(cur, 0);
			if (rc != 0)
				break;
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int
logd_store_topic_delete(struct logd_store *st, const char *name)
{
	struct topic *t = topic_find(st, name);
	int32_t n;
	int rc;

	if (t == NULL)
		return LOGD_ENOTOPIC;
	rc = store_txn(st, 0, delete_topic, (void *)t->name);
	if (rc != 0)
		return rc;
	table_remove(st, t);
	n = t->cfg.partitions;
	topic_close_logs(t, 0, n);
	/* Directories left behind now are orphans removed at next open. */
	remove_partitions(st, t->name, 0, n);
	topic_free(t);
	return 0;
}

int
logd_store_topic_alter(struct logd_store *st, const char *name,
    const char *key, const char *value, int64_t now_ms)
{
	struct topic *t = topic_find(st, name);
	struct logd_topic_config c;
	struct logd_log_config saved;
	struct logd_log **logs;
	int32_t old, i;
	char *topics_dir = NULL;
	int rc;

	if (t == NULL)
		return LOGD_ENOTOPIC;
	c = t->cfg;
	rc = logd_topic_config_set(&c, key, value);
	if (rc != 0)
		return rc;
	old = t->cfg.partitions;
	if (c.partitions < old)
		return LOGD_EBADCONFIG;
	if (c.partitions > old) {
		logs = realloc(t->logs, (size_t)c.partitions * sizeof(*logs));
		if (logs == NULL)
			return -ENOMEM;
		t->logs = logs;
		for (i = old; i < c.partitions; i++)
			logs[i] = NULL;
		topics_dir = path_join(st->dir, "topics");
		if (topics_dir == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		/* New logs take the new config; old ones get it below. */
		saved = t->cfg.log;
		t->cfg.log = c.log;
		rc = open_partitions(st, t, old, c.partitions, 1, now_ms,
		    NULL, NULL);
		t->cfg.log = saved;
		if (rc == 0)
			rc = fsync_path(topics_dir);
		if (rc != 0)
			goto fail;
	}
	rc = store_put_topic(st, name, &c, t->created_ms, 0);
	if (rc != 0)
		goto fail;
	for (i = 0; i < old; i++)
		logd_log_set_config(t->logs[i], &c.log);
	t->cfg = c;
	free(topics_dir);
	return 0;
fail:
	if (c.partitions > old) {
		topic_close_logs(t, old, c.partitions);
		remove_partitions(st, name, old, c.partitions);
	}
	free(topics_dir);
	return rc;
}

int
logd_store_topic_config(struct logd_store *st, const char *name,
    struct logd_topic_config *cfg)
{
	struct topic *t = topic_find(st, name);

	if (t == NULL)
		return LOGD_ENOTOPIC;
	if (cfg != NULL)
		*cfg = t->cfg;
	return 0;
}

int
logd_store_log(struct logd_store *st, const char *topic, int32_t partition,
    struct logd_log **log)
{
	struct topic *t = topic_find(st, topic);

	if (t == NULL)
		return LOGD_ENOTOPIC;
	if (partition < 0 || partition >= t->cfg.partitions)
		return LOGD_ENOPART;
	*log = t->logs[partition];
	return 0;
}

struct topic_snap {
	char *name;
	struct logd_topic_config cfg;
};

static int
snap_cmp(const void *a, const void *b)
{
	return strcmp(((const struct topic_snap *)a)->name,
	    ((const struct topic_snap *)b)->name);
}

/*
 * Works on a sorted copy of the table, so fn may create or delete topics.
 */
int
logd_store_topics(struct logd_store *st,
    int (*fn)(void *arg, const char *name, const struct logd_topic_config *cfg),
    void *arg)
{
	struct topic_snap *s;
	size_t i, n = 0;
	int rc = 0;

	if (st->ntopics == 0)
		return 0;
	s = calloc(st->ntopics, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	for (i = 0; i < st->nbuckets; i++) {
		struct topic *t;

		for (t = st->buckets[i]; t != NULL; t = t->next) {
			s[n].name = strdup(t->name);
			s[n].cfg = t->cfg;
			if (s[n++].name == NULL) {
				rc = -ENOMEM;
				goto done;
			}
		}
	}
	qsort(s, n, sizeof(*s), snap_cmp);
	for (i = 0; i < n && rc == 0; i++)
		rc = fn(arg, s[i].name, &s[i].cfg);
done:
	for (i = 0; i < n; i++)
		free(s[i].name);
	free(s);
	return rc;
}

int
logd_store_retain(struct logd_store *st, int64_t now_ms)
{
	size_t i;
	int32_t p;
	int rc = 0;

	for (i = 0; i < st->nbuckets; i++) {
		struct topic *t;

		for (t = st->buckets[i]; t != NULL; t = t->next) {
			for (p = 0; p < t->cfg.partitions; p++) {
				int r = logd_log_retain(t->logs[p], now_ms,
				    NULL);

				if (r != 0 && rc == 0)
					rc = r;
			}
		}
	}
	return rc;
}

int
logd_store_flush(struct logd_store *st)
{
	size_t i;
	int32_t p;
	int rc = 0, r;

	for (i = 0; i < st->nbuckets; i++) {
		struct topic *t;

		for (t = st->buckets[i]; t != NULL; t = t->next) {
			for (p = 0; p < t->cfg.partitions; p++) {
				char *path = partition_path(st, t->name, p);

				r = logd_log_flush(t->logs[p]);
				if (r == 0)
					r = path != NULL ? fsync_path(path) :
					    -ENOMEM;
				free(path);
				if (r != 0 && rc == 0)
					rc = r;
			}
		}
	}
	pthread_rwlock_rdlock(&st->resize);
	r = mdb_error(mdb_env_sync(st->env, 1));
	pthread_rwlock_unlock(&st->resize);
	return rc != 0 ? rc : r;
}

/* ------------------------------------------------------------------ */
/* Group offsets (LMDB only: callable from another thread)             */
/* ------------------------------------------------------------------ */

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
	rc = topic_decode(v.mv_data, v.mv_size, &cfg, NULL);
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

int
logd_store_offsets_commit(struct logd_store *st, const char *group,
    const struct logd_offset_commit *c, size_t n, int64_t now_ms)
{
	struct commit_arg a = { group, c, n, now_ms, NULL };
	size_t i;
	int rc;

	rc = logd_group_name_check(group);
	if (rc != 0)
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
	if (n == 0)
		return 0;
	a.val = malloc(STORE_VAL_HDR + STORE_META_MAX);
	if (a.val == NULL)
		return -ENOMEM;
	rc = store_txn(st, 0, commit_offsets, &a);
	free(a.val);
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
	rc = store_txn(st, MDB_RDONLY, fetch_offset, &a);
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
	rc = store_txn(st, MDB_RDONLY, list_offsets, &a);
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
	return store_txn(st, 0, delete_group, (void *)group);
}
