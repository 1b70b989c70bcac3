/*
 * store.c - a datadir: its lock, its LMDB environment, topics and their
 * partition logs.  Names and configs are in store_config.c, committed
 * group offsets in store_offsets.c.
 *
 * Layout:
 *   <datadir>/LOCK                   flock(LOCK_EX|LOCK_NB), held while
 *                                    the store is open: one process (and
 *                                    one open store) per datadir; a
 *                                    second open, even in the same
 *                                    process, is a new open file
 *                                    description and is refused
 *   <datadir>/meta/                  LMDB environment, two databases:
 *     "topics"   name -> "key=value\n" lines (readable with mdb_dump)
 *     "offsets"  (group, topic, partition) -> offset (store_offsets.c)
 *   <datadir>/topics/<topic>-<partition>/   one partition log each
 *
 * Crash safety.  Creating a topic (or growing its partitions) makes and
 * opens the partition directories first and commits the metadata last;
 * deleting commits the metadata (topic and its offsets, one transaction)
 * first and removes the directories after.  So a crash leaves at worst
 * partition directories that no metadata names: logd_store_open()
 * removes these orphans (only names of the form <valid topic>-<number>;
 * anything else in topics/ is left alone).  Metadata whose directories
 * are missing gets empty partitions.  One exception guards against data
 * loss: when meta/ holds no environment yet but topics/ holds partition
 * directories, the metadata was lost, not the data, and the open fails
 * with LOGD_ESTORE instead of deleting everything.
 *
 * Threads.  The topic table (a chained hash on the name, since
 * logd_store_log() is on every produce and fetch) belongs to the thread
 * that creates, alters and deletes topics.  Offset commit, fetch and
 * listing touch only LMDB (opened MDB_NOTLS), so they may run on another
 * thread.  The map starts at 1 GiB (sparse) and doubles on MDB_MAP_FULL;
 * LMDB allows resizing only with no transaction active in the process,
 * so every transaction holds a read lock on st->resize and the resize
 * takes it for writing.  Every LMDB code is translated in
 * logd_store_txn() or where it is returned: none leaves the store.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <lmdb.h>

#include "logd.h"
#include "store_int.h"

#ifndef STORE_MAP_INITIAL /* overridable to test growth */
#define STORE_MAP_INITIAL ((size_t)1 << 30)
#endif
#define STORE_MAP_MAX ((size_t)1 << 36)

struct topic {
	struct topic *next;       /* hash chain */
	uint32_t hash;
	struct logd_topic_config cfg;
	int64_t created_ms;
	struct logd_log **logs;   /* cfg.partitions of them */
	char name[];
};

/* ------------------------------------------------------------------ */
/* LMDB                                                                */
/* ------------------------------------------------------------------ */

/* System errors are positive errno in LMDB. */
int
logd_store_mdb_error(int rc)
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

/*
 * LMDB writes through its map and syncs: on a full filesystem the sync
 * fails with EIO.  Say ENOSPC when that is what it is (under 1 MiB left
 * to unprivileged writers).
 */
static int
disk_full(const struct logd_store *st)
{
	struct statvfs vs;

	return statvfs(st->dir, &vs) == 0 &&
	    (uint64_t)vs.f_bavail * vs.f_frsize < (1u << 20);
}

int
logd_store_txn(struct logd_store *st, unsigned flags, store_txn_fn fn,
    void *arg)
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
		if (rc == EIO && disk_full(st))
			return -ENOSPC;
		return logd_store_mdb_error(rc);
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
	int32_t v = 0;

	if (dash == NULL || dash == ent)
		return -1;
	n = (size_t)(dash - ent);
	if (n > LOGD_TOPIC_NAME_MAX)
		return -1;
	if (dash[1] == '\0' || (dash[1] == '0' && dash[2] != '\0'))
		return -1;
	for (d = dash + 1; *d != '\0'; d++) {
		if (*d < '0' || *d > '9')
			return -1;
		v = v * 10 + (*d - '0');
		if (v >= STORE_PARTITIONS_MAX)
			return -1;
	}
	memcpy(name, ent, n);
	name[n] = '\0';
	if (logd_topic_name_check(name) != 0)
		return -1;
	*part = v;
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
		rc = logd_topic_config_decode(v.mv_data, v.mv_size, &cfg,
		    &created);
		if (rc == 0 && logd_topic_config_check(&cfg) != 0)
			rc = LOGD_ESTORE;
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

/*
 * Refuses a datadir whose meta/ holds no environment while topics/ holds
 * partitions: its metadata is lost, and opening would treat every
 * partition as an orphan.  Checked before meta/ is created, so a second
 * attempt refuses too.
 */
static int
store_check_meta_lost(struct logd_store *st, const char *topics_dir)
{
	char *data = path_join(st->dir, "meta/data.mdb");
	struct stat sb;
	size_t found = 0;
	int rc;

	if (data == NULL)
		return -ENOMEM;
	rc = stat(data, &sb) == 0 ? 0 : errno == ENOENT ? 1 : -errno;
	free(data);
	if (rc <= 0)
		return rc;
	rc = remove_orphans(st, topics_dir, 1, &found);
	if (rc == -ENOENT)
		return 0;
	if (rc == 0 && found != 0)
		rc = LOGD_ESTORE;
	return rc;
}

/* Opens the LMDB environment in meta/, creating it if needed. */
static int
store_open_meta(struct logd_store *st)
{
	char *meta = path_join(st->dir, "meta");
	int rc;

	if (meta == NULL)
		return -ENOMEM;
	rc = mkdir_ok(meta);
	if (rc != 0)
		goto fail;
	rc = logd_store_mdb_error(mdb_env_create(&st->env));
	if (rc != 0)
		goto fail;
	rc = mdb_env_set_maxdbs(st->env, 4);
	if (rc == 0)
		rc = mdb_env_set_mapsize(st->env, STORE_MAP_INITIAL);
	if (rc == 0)
		rc = mdb_env_open(st->env, meta, MDB_NOTLS, 0600);
	rc = logd_store_mdb_error(rc);
	if (rc != 0)
		goto fail;
	rc = logd_store_txn(st, 0, open_dbis, NULL);
fail:
	free(meta);
	return rc;
}

static int
topic_cmp(const void *a, const void *b)
{
	return strcmp((*(struct topic *const *)a)->name,
	    (*(struct topic *const *)b)->name);
}

/* The datadir exists (made with LOGD_STORE_CREATE), or has meta/. */
static int
store_check_dir(const char *datadir, unsigned flags)
{
	struct stat sb;
	char *meta;
	int rc;

	if (flags & LOGD_STORE_CREATE)
		return mkdir_ok(datadir);
	meta = path_join(datadir, "meta");
	rc = meta == NULL ? -ENOMEM : stat(meta, &sb) != 0 ? -errno : 0;
	free(meta);
	return rc;
}

/* Opens every topic's partitions, in name order (for on_recover). */
static int
store_open_topics(struct logd_store *st, int64_t now_ms,
    void (*on_recover)(void *arg, const char *topic, int32_t partition,
        const struct logd_recovery *rec),
    void *arg)
{
	struct topic **sorted, *t;
	size_t i, n = 0;
	int rc = 0;

	sorted = calloc(st->ntopics + 1, sizeof(*sorted));
	if (sorted == NULL)
		return -ENOMEM;
	for (i = 0; i < st->nbuckets; i++)
		for (t = st->buckets[i]; t != NULL; t = t->next)
			sorted[n++] = t;
	qsort(sorted, n, sizeof(*sorted), topic_cmp);
	for (i = 0; i < n && rc == 0; i++)
		rc = open_partitions(st, sorted[i], 0,
		    sorted[i]->cfg.partitions, 0, now_ms, on_recover, arg);
	free(sorted);
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
	size_t found;
	int rc;

	if (datadir == NULL || datadir[0] == '\0')
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	st->lock_fd = -1;
	st->dir = strdup(datadir);
	rc = st->dir == NULL ? -ENOMEM : 0;
	if (rc == 0 && pthread_rwlock_init(&st->resize, NULL) != 0)
		rc = -ENOMEM;
	if (rc != 0)
		goto fail;
	st->resize_init = 1;
	rc = store_check_dir(datadir, flags);
	if (rc == 0 && (topics_dir = path_join(datadir, "topics")) == NULL)
		rc = -ENOMEM;
	if (rc == 0)
		rc = store_lock(st);
	if (rc == 0)
		rc = store_check_meta_lost(st, topics_dir);
	if (rc == 0)
		rc = store_open_meta(st);
	if (rc == 0)
		rc = mkdir_ok(topics_dir);
	if (rc == 0 && (flags & LOGD_STORE_CREATE))
		rc = fsync_path(datadir);
	if (rc == 0)
		rc = logd_store_txn(st, MDB_RDONLY, load_topics, NULL);
	if (rc == 0)
		rc = remove_orphans(st, topics_dir, 0, &found);
	if (rc == 0)
		rc = store_open_topics(st, now_ms, on_recover, arg);
	if (rc != 0)
		goto fail;
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
	int rc = logd_topic_config_encode(cfg, created_ms, buf, sizeof(buf),
	    &a.len);

	if (rc == 0)
		rc = logd_store_txn(st, 0, put_topic, &a);
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
	rc = logd_topic_config_check(&c);
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

static int
delete_topic(struct logd_store *st, MDB_txn *txn, void *arg)
{
	const char *name = arg;
	MDB_val k = { strlen(name), (void *)name };
	int rc;

	rc = mdb_del(txn, st->topics_dbi, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return LOGD_ENOTOPIC;
	if (rc != 0)
		return rc;
	return logd_store_offsets_drop_topic(st, txn, name);
}

int
logd_store_topic_delete(struct logd_store *st, const char *name)
{
	struct topic *t = topic_find(st, name);
	int32_t n;
	int rc;

	if (t == NULL)
		return LOGD_ENOTOPIC;
	rc = logd_store_txn(st, 0, delete_topic, (void *)t->name);
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
logd_store_retain(struct logd_store *st, int64_t now_ms,
    void (*on_delete)(void *arg, const char *topic, int32_t partition,
        const struct logd_retained *r),
    void *arg)
{
	size_t i;
	int32_t p;
	int rc = 0;

	for (i = 0; i < st->nbuckets; i++) {
		struct topic *t;

		for (t = st->buckets[i]; t != NULL; t = t->next) {
			for (p = 0; p < t->cfg.partitions; p++) {
				struct logd_log *log = t->logs[p];
				struct logd_retained r;
				uint64_t size = logd_log_size(log);
				int err;

				r.old_start = logd_log_start_offset(log);
				err = logd_log_retain(log, now_ms, &r.segments);
				if (err != 0 && rc == 0)
					rc = err;
				if (r.segments == 0 || on_delete == NULL)
					continue;
				r.bytes = size - logd_log_size(log);
				r.new_start = logd_log_start_offset(log);
				on_delete(arg, t->name, p, &r);
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
	r = logd_store_mdb_error(mdb_env_sync(st->env, 1));
	pthread_rwlock_unlock(&st->resize);
	return rc != 0 ? rc : r;
}
