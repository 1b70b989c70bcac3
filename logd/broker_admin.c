/*
 * broker_admin.c - the broker operations on topics, group offsets and
 * statistics (broker.h): create, alter, delete, listings, list offsets,
 * offset commit and fetch.
 *
 * Deleting a topic closes its logs, which a running flush may still be
 * syncing: the delete waits for the flush (commit_when_idle), in arrival
 * order.  Before a topic goes, requests parked on its partitions are
 * answered with LOGD_ENOTOPIC.
 *
 * An offset commit is a durable LMDB transaction: it runs on the flusher
 * thread (logd_store_offsets_commit() is documented as safe there) and
 * is answered when it is done, so the loop never waits for an LMDB sync.
 * Reads (offset fetch, listings) are LMDB read transactions on the loop
 * thread: they do not block.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "broker.h"

/* ------------------------------------------------------------------ */
/* Create, alter                                                       */
/* ------------------------------------------------------------------ */

/* Names the key, the value and what is allowed (or the store's error). */
static int config_error(int rc, const char *key, const char *value,
    char *msg, size_t msgsz)
{
	if (rc == LOGD_EBADCONFIG)
		logd_topic_config_error(key, value, msg, msgsz);
	else
		snprintf(msg, msgsz, "config \"%s\" = \"%s\": %s", key,
		    value, logd_strerror(rc));
	return rc;
}

/*
 * Each partition holds about PART_FDS descriptors (its directory and the
 * active segment's log and two indexes), so the open-files limit bounds
 * the partitions one logd can hold beside max_connections: a topic that
 * would not fit is refused at create (or alter), instead of failing
 * appends and accepts later with EMFILE.
 */
#define PART_FDS 4
#define FDS_SPARE 64

static int count_parts(void *arg, const char *name,
    const struct logd_topic_config *cfg)
{
	*(int64_t *)arg += cfg->partitions;
	return 0;
}

static int fd_room(int64_t more, char *msg, size_t msgsz)
{
	struct rlimit rl;
	int64_t have = 0, room;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	logd_store_topics(srv.store, count_parts, &have);
	room = ((int64_t)rl.rlim_cur - (int64_t)srv.cfg.max_connections -
	    FDS_SPARE) / PART_FDS;
	if (have + more <= room)
		return 0;
	snprintf(msg, msgsz, "%" PRId64 " more partitions do not fit: logd "
	    "holds %" PRId64 " and the open files limit %llu (less "
	    "max_connections %llu) leaves room for %" PRId64 "; raise the "
	    "limit (ulimit -n, LimitNOFILE)", more, have,
	    (unsigned long long)rl.rlim_cur,
	    (unsigned long long)srv.cfg.max_connections, room < 0 ? 0 : room);
	return LOGD_EBADCONFIG;
}

int broker_topic_create(const char *topic, int32_t partitions,
    const struct kv *cfg, size_t ncfg, char *msg, size_t msgsz)
{
	struct logd_topic_config tc = srv.cfg.topic;
	size_t i;
	int rc;

	for (i = 0; i < ncfg; i++) {
		rc = logd_topic_config_set(&tc, cfg[i].key, cfg[i].value);
		if (rc)
			return config_error(rc, cfg[i].key, cfg[i].value, msg,
			    msgsz);
	}
	if (partitions)
		tc.partitions = partitions;
	if (tc.partitions < 1 || tc.partitions > 10000) {
		snprintf(msg, msgsz, "partitions must be 1 to 10000, not %"
		    PRId32, tc.partitions);
		return LOGD_EBADCONFIG;
	}
	if ((rc = fd_room(tc.partitions, msg, msgsz)))
		return rc;
	rc = logd_store_topic_create(srv.store, topic, &tc, ev_wall());
	if (rc) {
		if (rc == LOGD_EBADNAME && strlen(topic) >
		    LOGD_TOPIC_NAME_MAX)
			snprintf(msg, msgsz, "invalid topic name: %zu bytes, "
			    "longer than %d", strlen(topic),
			    LOGD_TOPIC_NAME_MAX);
		else if (rc == LOGD_EBADNAME)
			snprintf(msg, msgsz, "invalid topic name \"%s\": use "
			    "1-%d of [A-Za-z0-9._-], not . or ..", topic,
			    LOGD_TOPIC_NAME_MAX);
		else
			snprintf(msg, msgsz, "cannot create topic \"%s\": %s",
			    topic, logd_strerror(rc));
		return rc;
	}
	log_info("created topic %s (%d partitions)", topic, tc.partitions);
	return 0;
}

static int grow_room(const char *topic, const char *value, char *msg,
    size_t msgsz)
{
	struct logd_topic_config tc;
	char *end;
	long long n = strtoll(value, &end, 10);

	if (logd_store_topic_config(srv.store, topic, &tc) || *end ||
	    n <= tc.partitions)
		return 0;          /* the store names the bad value */
	return fd_room(n - tc.partitions, msg, msgsz);
}

int broker_topic_alter(const char *topic, const struct kv *cfg, size_t ncfg,
    char *msg, size_t msgsz)
{
	size_t i;
	int rc;

	if (logd_store_topic_config(srv.store, topic, NULL)) {
		snprintf(msg, msgsz, "unknown topic \"%s\"", topic);
		return LOGD_ENOTOPIC;
	}
	for (i = 0; i < ncfg; i++) {
		struct logd_topic_config tc;

		if (strcmp(cfg[i].key, "partitions") == 0 && (rc =
		    grow_room(topic, cfg[i].value, msg, msgsz)))
			return rc;
		rc = logd_store_topic_alter(srv.store, topic, cfg[i].key,
		    cfg[i].value, ev_wall());
		if (rc == LOGD_EBADCONFIG &&
		    strcmp(cfg[i].key, "partitions") == 0 &&
		    logd_store_topic_config(srv.store, topic, &tc) == 0 &&
		    logd_topic_config_set(&tc, cfg[i].key, cfg[i].value) == 0) {
			/* a valid count the store refused: fewer than now */
			logd_store_topic_config(srv.store, topic, &tc);
			snprintf(msg, msgsz, "partitions = \"%s\": topic \"%s\" "
			    "has %" PRId32 " partitions and the count can only "
			    "grow", cfg[i].value, topic, tc.partitions);
			return rc;
		}
		if (rc)
			return config_error(rc, cfg[i].key, cfg[i].value, msg,
			    msgsz);
	}
	log_info("altered topic %s", topic);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Delete                                                              */
/* ------------------------------------------------------------------ */

static void delete_now(void *arg)
{
	struct delete_op *op = arg;
	struct logd_topic_config tc;
	struct fetch_op *woken = NULL;
	struct logd_log *log;
	int32_t p;
	int rc = logd_store_topic_config(srv.store, op->topic, &tc);

	if (!rc) {
		for (p = 0; p < tc.partitions; p++)
			if (!logd_store_log(srv.store, op->topic, p, &log))
				woken = broker_log_gone(log, woken);
		rc = logd_store_topic_delete(srv.store, op->topic);
		if (!rc)
			log_info("deleted topic %s", op->topic);
		broker_answer(woken);
	}
	op->err = rc;
	if (rc)
		snprintf(op->msg, sizeof(op->msg), rc == LOGD_ENOTOPIC ?
		    "unknown topic \"%s\"" : "cannot delete topic \"%s\": %s",
		    op->topic, logd_strerror(rc));
	op->done(op);
}

void broker_topic_delete(struct delete_op *op)
{
	op->err = 0;
	op->msg[0] = 0;
	if (commit_when_idle(delete_now, op)) {
		op->err = -ENOMEM;
		snprintf(op->msg, sizeof(op->msg), "out of memory");
		op->done(op);
	}
}

/* ------------------------------------------------------------------ */
/* Listings                                                            */
/* ------------------------------------------------------------------ */

struct names {
	char **v;
	size_t n, cap;
};

static int add_name(void *arg, const char *name,
    const struct logd_topic_config *cfg)
{
	struct names *ns = arg;

	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 16;
		char **v = realloc(ns->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ns->v = v;
		ns->cap = cap;
	}
	ns->v[ns->n] = strdup(name);
	return ns->v[ns->n++] ? 0 : -ENOMEM;
}

static void free_names(struct names *ns)
{
	size_t i;

	for (i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

/* Creates name when asked and configured to (Kafka's Metadata). */
static int maybe_create(const char *name)
{
	int rc;

	if (!srv.cfg.auto_create_topics || logd_topic_name_check(name))
		return LOGD_ENOTOPIC;
	rc = logd_store_topic_create(srv.store, name, &srv.cfg.topic,
	    ev_wall());
	if (rc == 0)
		log_info("created topic %s (%d partitions) on first use",
		    name, srv.cfg.topic.partitions);
	return rc == LOGD_ETOPICEXIST ? 0 : rc;
}

static int visit_topic(const char *name, int create, topic_fn *fn,
    void *arg)
{
	struct logd_topic_config tc;
	struct part_info *parts = NULL;
	struct logd_log *log;
	int32_t p;
	int rc = logd_store_topic_config(srv.store, name, &tc);

	if (rc == LOGD_ENOTOPIC && create && !(rc = maybe_create(name)))
		rc = logd_store_topic_config(srv.store, name, &tc);
	if (rc)
		return fn(arg, name, rc, NULL, NULL);
	parts = calloc((size_t)tc.partitions, sizeof(*parts));
	if (!parts)
		return -ENOMEM;
	for (p = 0; p < tc.partitions; p++) {
		struct part_info *pi = &parts[p];

		pi->partition = p;
		pi->start = pi->end = -1;
		if (logd_store_log(srv.store, name, p, &log))
			continue;
		pi->start = logd_log_start_offset(log);
		pi->end = logd_log_end_offset(log);
		pi->size = logd_log_size(log);
		pi->segments = logd_log_segment_count(log);
		pi->disk = logd_log_disk_bytes(log);
		pi->dirty_ratio = logd_log_dirty_ratio(log, ev_wall(), NULL);
		pi->clean_point = logd_log_clean_point(log);
		if (logd_log_sync_error(log))
			pi->err = LOGD_EREADONLY;
	}
	rc = fn(arg, name, 0, &tc, parts);
	free(parts);
	return rc;
}

int broker_topics(const char *const *names, size_t n, int create,
    topic_fn *fn, void *arg)
{
	struct names ns = { 0 };
	size_t i;
	int rc = 0;

	if (!names) {
		rc = logd_store_topics(srv.store, add_name, &ns);
		if (rc) {
			free_names(&ns);
			return -ENOMEM;
		}
		names = (const char *const *)ns.v;
		n = ns.n;
	}
	for (i = 0; i < n && !rc; i++)
		rc = visit_topic(names[i], create, fn, arg);
	free_names(&ns);
	return rc;
}

int broker_list_offset(const char *topic, int32_t partition,
    int64_t timestamp, int64_t *offset, char *msg, size_t msgsz)
{
	struct logd_log *log;
	int rc = broker_log(topic, partition, &log);

	if (rc) {
		snprintf(msg, msgsz, rc == LOGD_ENOTOPIC ? "unknown topic "
		    "\"%s\"" : "topic \"%s\" has no partition %" PRId32,
		    topic, partition);
		return rc;
	}
	if (timestamp == -2) {
		*offset = logd_log_start_offset(log);
	} else if (timestamp == -1) {
		*offset = logd_log_end_offset(log);
	} else if (timestamp < 0) {
		snprintf(msg, msgsz, "timestamp must be -2 (earliest), -1 "
		    "(latest) or a time in ms");
		return LOGD_EPROTO;
	} else {
		rc = logd_log_offset_for_time(log, timestamp, offset);
		if (rc) {
			snprintf(msg, msgsz, "offset for time %" PRId64 ": %s",
			    timestamp, logd_strerror(rc));
			return rc;
		}
	}
	return 0;
}

void broker_stats(struct broker_stats *st)
{
	st->connections = srv.nconns;
	st->bytes_in = srv.bytes_in;
	st->bytes_out = srv.bytes_out;
	st->records_in = srv.records_in;
	st->records_out = srv.records_out;
	st->uptime_ms = ev_now() - srv.started_ms;
}

static int free_plogs(void *arg, const char *name,
    const struct logd_topic_config *cfg)
{
	struct logd_log *log;
	int32_t p;

	for (p = 0; p < cfg->partitions; p++)
		if (!logd_store_log(srv.store, name, p, &log)) {
			free(logd_log_userctx(log));
			logd_log_set_userctx(log, NULL);
		}
	return 0;
}

void broker_free_all(void)
{
	if (srv.store)
		logd_store_topics(srv.store, free_plogs, NULL);
}

/* ------------------------------------------------------------------ */
/* Group offsets                                                       */
/* ------------------------------------------------------------------ */

void broker_commit_free(struct commit_op *op)
{
	if (!op)
		return;
	free(op->group);
	free(op->member);
	free(op->commits);
	free(op->strings);
	free(op);
}

struct commit_op *broker_commit_new(const char *group, int64_t generation,
    const char *member, const struct logd_offset_commit *oc, size_t n)
{
	struct commit_op *op = calloc(1, sizeof(*op));
	size_t need = 0, i, l;
	char *s;

	if (!op)
		return NULL;
	for (i = 0; i < n; i++)
		need += strlen(oc[i].topic) + 1 +
		    (oc[i].metadata ? strlen(oc[i].metadata) + 1 : 0);
	op->group = strdup(group);
	op->member = strdup(member ? member : "");
	op->commits = calloc(n ? n : 1, sizeof(*op->commits));
	op->strings = malloc(need ? need : 1);
	if (!op->group || !op->member || !op->commits || !op->strings) {
		broker_commit_free(op);
		return NULL;
	}
	s = op->strings;
	for (i = 0; i < n; i++) {
		op->commits[i] = oc[i];
		l = strlen(oc[i].topic) + 1;
		op->commits[i].topic = memcpy(s, oc[i].topic, l);
		s += l;
		if (oc[i].metadata) {
			l = strlen(oc[i].metadata) + 1;
			op->commits[i].metadata = memcpy(s, oc[i].metadata, l);
			s += l;
		}
	}
	op->ncommits = n;
	op->generation = generation;
	return op;
}

/*
 * Group commit of offsets: while one LMDB transaction runs on the
 * flusher, the commits that arrive wait here, and the next transaction
 * takes all of them (logd_store_offsets_commit_many: one sync, each
 * commit all or none on its own).  Consumers that commit without waiting
 * for the reply (Kafka's commitAsync, logd_consumer_commit_async) then
 * share syncs instead of queueing one each.
 */
struct commit_batch {
	struct fjob job;
	struct commit_op **ops;
	struct logd_offsets_op *sops;
	size_t n;
	int64_t now_ms;
};

static struct commit_op *cq_head, **cq_tail = &cq_head;
static int cq_busy;

static void commit_batch_run(struct fjob *j)
{
	struct commit_batch *b = (struct commit_batch *)(void *)j;
	size_t i;

	logd_store_offsets_commit_many(srv.store, b->sops, b->n, b->now_ms);
	for (i = 0; i < b->n; i++)
		b->ops[i]->err = b->sops[i].err;
}

static void commit_batch_start(void);

static void commit_batch_done(struct fjob *j)
{
	struct commit_batch *b = (struct commit_batch *)(void *)j;
	size_t i;

	for (i = 0; i < b->n; i++) {
		struct commit_op *op = b->ops[i];

		if (op->err) {
			snprintf(op->msg, sizeof(op->msg), "commit for group "
			    "\"%s\" failed: %s", op->group,
			    logd_strerror(op->err));
			log_error("%s", op->msg);
		}
		op->done(op);
	}
	free(b->ops);
	free(b->sops);
	free(b);
	cq_busy = 0;
	commit_batch_start();
}

/* Sends every waiting commit to the flusher as one transaction. */
static void commit_batch_start(void)
{
	struct commit_batch *b;
	struct commit_op *op;
	size_t n = 0, i;

	if (cq_busy || !cq_head)
		return;
	for (op = cq_head; op; op = op->next)
		n++;
	b = calloc(1, sizeof(*b));
	if (b) {
		b->ops = calloc(n, sizeof(*b->ops));
		b->sops = calloc(n, sizeof(*b->sops));
	}
	if (!b || !b->ops || !b->sops) {
		if (b) {
			free(b->ops);
			free(b->sops);
		}
		free(b);
		while ((op = cq_head)) {
			cq_head = op->next;
			op->err = -ENOMEM;
			snprintf(op->msg, sizeof(op->msg), "out of memory "
			    "committing for group \"%s\"", op->group);
			op->done(op);
		}
		cq_tail = &cq_head;
		return;
	}
	for (i = 0, op = cq_head; op; op = op->next, i++) {
		b->ops[i] = op;
		b->sops[i].group = op->group;
		b->sops[i].c = op->commits;
		b->sops[i].n = op->ncommits;
	}
	cq_head = NULL;
	cq_tail = &cq_head;
	b->n = n;
	b->now_ms = ev_wall();
	b->job.run = commit_batch_run;
	b->job.done = commit_batch_done;
	cq_busy = 1;
	if (flusher_running()) {
		flusher_submit(&b->job);
	} else {
		/* the flusher is gone (shutdown): run it here */
		commit_batch_run(&b->job);
		commit_batch_done(&b->job);
	}
}

void broker_commit(struct commit_op *op)
{
	op->err = group_commit_check(op->group, op->generation, op->member,
	    op->commits, op->ncommits, op->msg, sizeof(op->msg));
	if (op->err) {
		op->done(op);
		return;
	}
	op->next = NULL;
	*cq_tail = op;
	cq_tail = &op->next;
	commit_batch_start();
}

int broker_offsets(const char *group,
    int (*fn)(void *arg, const char *group, const char *topic,
    int32_t partition, int64_t offset, int64_t commit_ms,
    const char *metadata), void *arg)
{
	return logd_store_offsets(srv.store, group, fn, arg);
}
