/*
 * kafka_offsets.c - Kafka's OffsetCommit and OffsetFetch (the group
 * offsets in logd's LMDB store, shared with native groups), and the
 * group listings DescribeGroups and ListGroups.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

#define TOPIC_SIZE (LOGD_TOPIC_NAME_MAX + 1)
#define GROUP_SIZE (LOGD_GROUP_NAME_MAX + 1)
#define MEMBER_SIZE 256
#define METADATA_MAX 4096    /* Kafka's offset.metadata.max.bytes */
#define KERR_OFFSET_METADATA_TOO_LARGE 12

/* ------------------------------------------------------------------ */
/* OffsetCommit                                                        */
/* ------------------------------------------------------------------ */

struct kcommit {
	struct rwait w;
	struct commit_op *op;      /* NULL: refused before the broker */
	int16_t kerr;
	size_t n;
	struct logd_offset_commit *oc;
	char (*topics)[TOPIC_SIZE];
	char (*metas)[METADATA_MAX + 1];
	int16_t *errs;
};

static void kcommit_free(struct kcommit *k)
{
	broker_commit_free(k->op);
	free(k->oc);
	free(k->topics);
	free(k->metas);
	free(k->errs);
	free(k);
}

static void commit_reply(struct kcommit *k)
{
	struct obuf *b = &k->w.c->out;
	size_t start = kafka_begin_wait(&k->w), i, j, nt = 0;
	int16_t e = k->kerr ? k->kerr : k->op ? kafka_error(k->op->err) : 0;

	if (k->w.version >= 3)
		kw_i32(b, 0);             /* throttle */
	for (i = 0; i < k->n; i++)
		nt += !i || strcmp(k->oc[i].topic, k->oc[i - 1].topic);
	kw_i32(b, (int32_t)nt);
	for (i = 0; i < k->n; i = j) {
		for (j = i; j < k->n && !strcmp(k->oc[j].topic,
		    k->oc[i].topic); j++)
			;
		kw_str(b, k->oc[i].topic);
		kw_i32(b, (int32_t)(j - i));
		for (; i < j; i++) {
			kw_i32(b, k->oc[i].partition);
			kw_i16(b, k->errs[i] ? k->errs[i] : e);
		}
	}
	kafka_end(k->w.c, start);
}

static void commit_done(struct commit_op *op)
{
	struct kcommit *k = op->arg;

	if (conn_wait_answering(&k->w))
		commit_reply(k);
	if (!k->w.in_call)
		kcommit_free(k);
}

static void commit_drop(struct parked *p)
{
	((struct kcommit *)(void *)p)->w.orphan = 1;
}

static int commit_room(struct kcommit *k, size_t n, size_t *cap)
{
	void *a, *b, *c, *d;

	if (n <= *cap)
		return 0;
	*cap = *cap ? *cap * 2 : 16;
	a = realloc(k->oc, *cap * sizeof(*k->oc));
	if (a)
		k->oc = a;
	b = realloc(k->topics, *cap * sizeof(*k->topics));
	if (b)
		k->topics = b;
	c = realloc(k->metas, *cap * sizeof(*k->metas));
	if (c)
		k->metas = c;
	d = realloc(k->errs, *cap * sizeof(*k->errs));
	if (d)
		k->errs = d;
	return a && b && c && d ? 0 : -ENOMEM;
}

/* One partition entry into k->oc[n]. */
static void commit_entry(struct kreq *q, struct kcommit *k, size_t n,
    const char *topic)
{
	struct kreader *r = &q->r;
	struct logd_offset_commit *oc = &k->oc[n];
	const char *md;
	size_t ml;

	memcpy(k->topics[n], topic, TOPIC_SIZE);
	oc->topic = k->topics[n];
	oc->partition = kr_i32(r);
	oc->offset = kr_i64(r);
	if (q->version >= 6)
		kr_i32(r);                /* leader epoch */
	if (q->version == 1)
		kr_i64(r);                /* commit timestamp */
	md = kr_str(r, &ml);
	k->errs[n] = 0;
	oc->metadata = NULL;
	if (md && (ml > METADATA_MAX || memchr(md, 0, ml))) {
		k->errs[n] = KERR_OFFSET_METADATA_TOO_LARGE;
	} else if (md) {
		memcpy(k->metas[n], md, ml);
		k->metas[n][ml] = 0;
		oc->metadata = k->metas[n];
	}
	/*
	 * Kafka stores any offset; logd's store holds real ones.  The two
	 * special offsets clients commit to reset a group (KafkaJS's
	 * resetOffsets) are resolved now: -2 the log start, -1 its end.
	 */
	if (oc->offset == -2 || oc->offset == -1) {
		struct logd_log *log;

		if (broker_log(topic, oc->partition, &log))
			k->errs[n] = KERR_UNKNOWN_TOPIC_OR_PARTITION;
		else
			oc->offset = oc->offset == -2 ?
			    logd_log_start_offset(log) : logd_log_end_offset(log);
	}
	if (oc->offset < 0 || oc->partition < 0)
		k->errs[n] = KERR_INVALID_REQUEST;
}

static int commit_decode(struct kreq *q, struct kcommit *k, char *group,
    char *member, int32_t *gen)
{
	struct kreader *r = &q->r;
	char topic[TOPIC_SIZE], instance[256];
	int32_t nt, t, np, p;
	size_t cap = 0;

	kr_cstr(r, group, GROUP_SIZE);
	*gen = -1;
	member[0] = 0;
	if (q->version >= 1) {
		*gen = kr_i32(r);
		kr_cstr(r, member, MEMBER_SIZE);
	}
	if (q->version >= 7)
		kr_cstr(r, instance, sizeof(instance));
	if (q->version >= 2 && q->version <= 4)
		kr_i64(r);                /* retention */
	nt = kr_array(r, 6);
	for (t = 0; t < nt && !r->err; t++) {
		kr_topic(r, topic);
		np = kr_array(r, 14);
		for (p = 0; p < np && !r->err; p++) {
			if (commit_room(k, k->n + 1, &cap))
				return -ENOMEM;
			commit_entry(q, k, k->n++, topic);
		}
	}
	return r->err;
}

void kafka_offset_commit(struct kreq *q)
{
	struct kcommit *k = calloc(1, sizeof(*k));
	char group[GROUP_SIZE], member[MEMBER_SIZE];
	struct logd_offset_commit *ok;
	size_t i, n = 0;
	int32_t gen;
	int rc;

	if (!k || (rc = commit_decode(q, k, group, member, &gen))) {
		if (!q->r.err)
			q->r.err = -ENOMEM;
		if (k)
			kcommit_free(k);
		return;
	}
	kafka_wait_init(&k->w, q);
	/* Commit the entries that are well formed; the others keep their
	 * error. */
	ok = calloc(k->n ? k->n : 1, sizeof(*ok));
	if (!ok) {
		kcommit_free(k);
		q->r.err = -ENOMEM;
		return;
	}
	for (i = 0; i < k->n; i++)
		if (!k->errs[i])
			ok[n++] = k->oc[i];
	if (logd_group_name_check(group))
		k->kerr = KERR_INVALID_GROUP_ID;
	else if (n && !(k->op = broker_commit_new(group, gen, member, ok, n)))
		k->kerr = KERR_UNKNOWN;
	free(ok);
	if (k->op) {
		k->op->done = commit_done;
		k->op->arg = k;
		broker_commit(k->op);
	} else {
		k->w.answered = 1;
		commit_reply(k);
	}
	if (conn_wait_after(&k->w, commit_drop))
		kcommit_free(k);
}

/* ------------------------------------------------------------------ */
/* OffsetFetch                                                         */
/* ------------------------------------------------------------------ */

struct entry {
	char topic[TOPIC_SIZE];
	int32_t partition;
	int64_t offset;
	char *meta;
};

struct entries {
	struct entry *v;
	size_t n, cap;
	int failed;
};

static int add_entry(void *arg, const char *group, const char *topic,
    int32_t partition, int64_t offset, int64_t commit_ms,
    const char *metadata)
{
	struct entries *es = arg;
	struct entry *e;

	if (es->n == es->cap) {
		size_t cap = es->cap ? es->cap * 2 : 32;

		e = realloc(es->v, cap * sizeof(*e));
		if (!e) {
			es->failed = 1;
			return -ENOMEM;
		}
		es->v = e;
		es->cap = cap;
	}
	e = &es->v[es->n++];
	snprintf(e->topic, sizeof(e->topic), "%s", topic);
	e->partition = partition;
	e->offset = offset;
	e->meta = metadata ? strdup(metadata) : NULL;
	return 0;
}

static void free_entries(struct entries *es)
{
	size_t i;

	for (i = 0; i < es->n; i++)
		free(es->v[i].meta);
	free(es->v);
}

static const struct entry *find_entry(const struct entries *es,
    const char *topic, int32_t partition)
{
	size_t i;

	for (i = 0; i < es->n; i++)
		if (es->v[i].partition == partition &&
		    !strcmp(es->v[i].topic, topic))
			return &es->v[i];
	return NULL;
}

static void write_offset(struct obuf *b, int16_t v, int32_t partition,
    const struct entry *e)
{
	kw_i32(b, partition);
	kw_i64(b, e ? e->offset : -1);
	if (v >= 5)
		kw_i32(b, -1);            /* leader epoch */
	kw_str(b, e ? (e->meta ? e->meta : "") : "");
	kw_i16(b, 0);
}

/* Every committed offset of the group, by topic (null topics, v2+). */
static void write_all(struct obuf *b, int16_t v, const struct entries *es)
{
	size_t i, j, nt = 0;

	for (i = 0; i < es->n; i++)
		nt += !i || strcmp(es->v[i].topic, es->v[i - 1].topic);
	kw_i32(b, (int32_t)nt);
	for (i = 0; i < es->n; i = j) {
		for (j = i; j < es->n && !strcmp(es->v[j].topic,
		    es->v[i].topic); j++)
			;
		kw_str(b, es->v[i].topic);
		kw_i32(b, (int32_t)(j - i));
		for (; i < j; i++)
			write_offset(b, v, es->v[i].partition, &es->v[i]);
	}
}

void kafka_offset_fetch(struct kreq *q)
{
	struct kreader *r = &q->r, save;
	struct obuf *b = &q->c->out;
	struct entries es = { 0 };
	char group[GROUP_SIZE], topic[TOPIC_SIZE];
	int32_t nt, t, np, p, part;
	size_t start;
	int rc;

	kr_cstr(r, group, sizeof(group));
	nt = kr_array(r, 6);
	save = *r;
	for (t = 0; t < nt && !r->err; t++) {
		kr_topic(r, topic);
		np = kr_array(r, 4);
		for (p = 0; p < np && !r->err; p++)
			kr_i32(r);
	}
	if (r->err || (nt < 0 && q->version < 2)) {
		r->err = LOGD_EPROTO;
		return;
	}
	rc = broker_offsets(group, add_entry, &es);
	if (es.failed)
		rc = -ENOMEM;
	start = kafka_begin(q);
	if (q->version >= 3)
		kw_i32(b, 0);             /* throttle */
	if (nt < 0) {
		write_all(b, q->version, &es);
	} else {
		kw_i32(b, nt);
		for (t = 0; t < nt; t++) {
			kr_topic(&save, topic);
			np = kr_array(&save, 4);
			kw_str(b, topic);
			kw_i32(b, np < 0 ? 0 : np);
			for (p = 0; p < np; p++) {
				part = kr_i32(&save);
				write_offset(b, q->version, part, find_entry(&es,
				    topic, part));
			}
		}
	}
	if (q->version >= 2)
		kw_i16(b, rc && rc != LOGD_ENOGROUP ? kafka_error(rc) : 0);
	free_entries(&es);
	kafka_end(q->c, start);
}

/* ------------------------------------------------------------------ */
/* DescribeGroups, ListGroups                                          */
/* ------------------------------------------------------------------ */

static const char *kafka_state(const struct group *g, int has_offsets)
{
	const char *s = group_state(g);

	if (!strcmp(s, "stable"))
		return "Stable";
	if (!strcmp(s, "rebalancing"))
		return "PreparingRebalance";
	if (!strcmp(s, "syncing"))
		return "CompletingRebalance";
	return has_offsets ? "Empty" : "Dead";
}

struct desc_ctx {
	struct obuf *b;
	int16_t v;
};

static void write_member(void *arg, const struct member_info *mi)
{
	struct desc_ctx *d = arg;

	kw_str(d->b, mi->id);
	if (d->v >= 4)
		kw_str(d->b, NULL);       /* group instance id */
	kw_str(d->b, mi->client);
	kw_str(d->b, "");                 /* client host */
	kw_bytes(d->b, mi->meta ? mi->meta : "", mi->meta_len);
	kw_bytes(d->b, mi->kassign ? mi->kassign : "", mi->kassign_len);
}

static int count_one(void *arg, const char *group, const char *topic,
    int32_t partition, int64_t offset, int64_t commit_ms,
    const char *metadata)
{
	(*(size_t *)arg)++;
	return 1;                         /* one is enough */
}

static void describe_group(struct desc_ctx *d, const char *name)
{
	const struct group *g = group_lookup(name);
	size_t offsets = 0;

	broker_offsets(name, count_one, &offsets);
	kw_i16(d->b, 0);
	kw_str(d->b, name);
	kw_str(d->b, kafka_state(g, offsets > 0));
	kw_str(d->b, g ? (group_kind(g) == GROUP_KAFKA ?
	    group_protocol_type(g) : "logd") : "");
	kw_str(d->b, group_protocol(g));
	kw_i32(d->b, g ? (int32_t)group_member_count(name) : 0);
	group_each_member(g, write_member, d);
	if (d->v >= 3)
		kw_i32(d->b, INT32_MIN);  /* authorized operations */
}

void kafka_describe_groups(struct kreq *q)
{
	struct kreader *r = &q->r, save;
	struct desc_ctx d = { &q->c->out, q->version };
	char group[GROUP_SIZE];
	int32_t n, i;
	size_t start;

	n = kr_array(r, 2);
	save = *r;
	for (i = 0; i < n && !r->err; i++)
		kr_cstr(r, group, sizeof(group));
	if (q->version >= 3)
		kr_i8(r);                 /* include authorized operations */
	if (r->err)
		return;
	start = kafka_begin(q);
	if (q->version >= 1)
		kw_i32(d.b, 0);           /* throttle */
	kw_i32(d.b, n < 0 ? 0 : n);
	for (i = 0; i < n; i++) {
		kr_cstr(&save, group, sizeof(group));
		describe_group(&d, group);
	}
	kafka_end(q->c, start);
}

struct names {
	char (*v)[GROUP_SIZE];
	size_t n, cap;
};

static int add_group(void *arg, const char *group, const char *topic,
    int32_t partition, int64_t offset, int64_t commit_ms,
    const char *metadata)
{
	struct names *ns = arg;
	void *v;

	if (ns->n && !strcmp(ns->v[ns->n - 1], group))
		return 0;
	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 16;
		v = realloc(ns->v, ns->cap * sizeof(*ns->v));
		if (!v)
			return -ENOMEM;
		ns->v = v;
	}
	snprintf(ns->v[ns->n++], GROUP_SIZE, "%s", group);
	return 0;
}

void kafka_list_groups(struct kreq *q)
{
	struct obuf *b = &q->c->out;
	struct names ns = { 0 };
	const struct group *g;
	size_t start, i, n = 0, at;
	int rc;

	rc = broker_offsets(NULL, add_group, &ns);
	start = kafka_begin(q);
	if (q->version >= 1)
		kw_i32(b, 0);             /* throttle */
	kw_i16(b, rc ? kafka_error(rc) : 0);
	at = b->len;
	kw_i32(b, 0);
	for (g = group_next(NULL); g; g = group_next(g)) {
		kw_str(b, group_name(g));
		kw_str(b, group_kind(g) == GROUP_KAFKA ?
		    group_protocol_type(g) : "logd");
		n++;
	}
	for (i = 0; i < ns.n; i++) {
		if (group_lookup(ns.v[i]))
			continue;
		kw_str(b, ns.v[i]);
		kw_str(b, "");
		n++;
	}
	kw_put_i32(b, at, (int32_t)n);
	free(ns.v);
	kafka_end(q->c, start);
}
