/*
 * kafka_data.c - Kafka's requests on topics and records: Metadata,
 * Produce, Fetch, ListOffsets, CreateTopics, DeleteTopics,
 * DescribeConfigs, InitProducerId.  Each decodes its request, calls the
 * broker operations (broker.h) and encodes the response; the record
 * bytes go to and from the segment maps untouched (Produce appends the
 * request's batches with one copy, Fetch queues the stored batches
 * behind the response header with no copy).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

#define NODE_ID 0
#define CLUSTER_ID "logd-single-node"
#define TOPIC_SIZE (LOGD_TOPIC_NAME_MAX + 1)

/* ------------------------------------------------------------------ */
/* Metadata                                                            */
/* ------------------------------------------------------------------ */

static void write_brokers(struct obuf *b, int16_t v)
{
	char host[256];
	int32_t port;

	kafka_advertised(host, sizeof(host), &port);
	kw_i32(b, 1);
	kw_i32(b, NODE_ID);
	kw_str(b, host);
	kw_i32(b, port);
	if (v >= 1)
		kw_str(b, NULL);          /* rack */
	if (v >= 2)
		kw_str(b, CLUSTER_ID);
	if (v >= 1)
		kw_i32(b, NODE_ID);       /* controller */
}

struct meta_ctx {
	struct obuf *b;
	int16_t v;
	int32_t n;
};

static void write_node_list(struct obuf *b)
{
	kw_i32(b, 1);
	kw_i32(b, NODE_ID);
}

static int write_topic(void *arg, const char *name, int err,
    const struct logd_topic_config *tc, const struct part_info *parts)
{
	struct meta_ctx *m = arg;
	int32_t p;

	m->n++;
	kw_i16(m->b, kafka_error(err));
	kw_str(m->b, name);
	if (m->v >= 1)
		kw_i8(m->b, 0);           /* is_internal */
	kw_i32(m->b, err ? 0 : tc->partitions);
	for (p = 0; !err && p < tc->partitions; p++) {
		kw_i16(m->b, 0);
		kw_i32(m->b, p);
		kw_i32(m->b, NODE_ID);    /* leader */
		write_node_list(m->b);    /* replicas */
		write_node_list(m->b);    /* isr */
		if (m->v >= 5)
			kw_i32(m->b, 0);  /* offline replicas */
	}
	return 0;
}

void kafka_metadata(struct kreq *q)
{
	char (*names)[TOPIC_SIZE] = NULL, **v = NULL;
	struct meta_ctx m = { &q->c->out, q->version, 0 };
	int32_t n, i;
	int create = 1, rc;
	size_t start, count_at;

	n = kr_array(&q->r, 2);
	if (n > 0) {
		names = calloc((size_t)n, sizeof(*names));
		v = calloc((size_t)n, sizeof(*v));
		if (!names || !v) {
			q->r.err = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		kr_topic(&q->r, names[i]);
		v[i] = names[i];
	}
	if (q->version >= 4)
		create = kr_i8(&q->r);
	if (q->r.err)
		goto out;
	start = kafka_begin(q);
	if (q->version >= 3)
		kw_i32(m.b, 0);           /* throttle */
	write_brokers(m.b, q->version);
	count_at = m.b->len;
	kw_i32(m.b, 0);
	if (n > 0 || (n == 0 && q->version >= 1)) {
		rc = broker_topics((const char *const *)v, (size_t)n, create,
		    write_topic, &m);
	} else {
		/* v0's empty list and v1's null: every topic. */
		rc = broker_topics(NULL, 0, 0, write_topic, &m);
	}
	if (rc)
		m.b->err = rc;
	kw_put_i32(m.b, count_at, m.n);
	kafka_end(q->c, start);
out:
	free(names);
	free(v);
}

/* ------------------------------------------------------------------ */
/* Produce                                                             */
/* ------------------------------------------------------------------ */

struct kproduce {
	struct rwait w;
	struct produce_op op;
	struct produce_part *parts;
	int32_t *topic_of;         /* parts[i]'s topic index */
	char (*topics)[TOPIC_SIZE];
	int32_t ntopics;
	int16_t *errs;             /* decided before the broker call */
};

static void kproduce_free(struct kproduce *p)
{
	if (!p)
		return;
	free(p->parts);
	free(p->topic_of);
	free(p->topics);
	free(p->errs);
	free(p);
}

static void produce_reply(struct kproduce *p)
{
	struct obuf *b = &p->w.c->out;
	size_t start = kafka_begin_wait(&p->w), i = 0;
	int32_t t;

	kw_i32(b, p->ntopics);
	for (t = 0; t < p->ntopics; t++) {
		size_t k = i, n = 0;

		while (k < p->op.nparts && p->topic_of[k] == t) {
			k++;
			n++;
		}
		kw_str(b, p->topics[t]);
		kw_i32(b, (int32_t)n);
		for (; i < k; i++) {
			struct produce_part *pp = &p->parts[i];
			int16_t e = p->errs[i] ? p->errs[i] :
			    kafka_error(pp->err);

			kw_i32(b, pp->partition);
			kw_i16(b, e);
			kw_i64(b, e ? -1 : pp->base_offset);
			if (p->w.version >= 2)
				kw_i64(b, e ? -1 : pp->append_time);
			if (p->w.version >= 5)
				kw_i64(b, e ? -1 : pp->log_start);
		}
	}
	if (p->w.version >= 1)
		kw_i32(b, 0);             /* throttle */
	kafka_end(p->w.c, start);
}

static void produce_done(struct produce_op *op)
{
	struct kproduce *p = op->arg;

	if (conn_wait_answering(&p->w) && op->acks)
		produce_reply(p);
	if (!p->w.in_call)
		kproduce_free(p);
}

static void produce_drop(struct parked *park)
{
	struct kproduce *p = (struct kproduce *)(void *)park;

	broker_produce_cancel(&p->op);
	kproduce_free(p);
}

/* Grows p's arrays to hold n parts. */
static int produce_room(struct kproduce *p, size_t n, size_t *cap)
{
	void *a, *b, *c;

	if (n <= *cap)
		return 0;
	*cap = *cap ? *cap * 2 : 16;
	if (*cap < n)
		*cap = n;
	a = realloc(p->parts, *cap * sizeof(*p->parts));
	if (a)
		p->parts = a;
	b = realloc(p->topic_of, *cap * sizeof(*p->topic_of));
	if (b)
		p->topic_of = b;
	c = realloc(p->errs, *cap * sizeof(*p->errs));
	if (c)
		p->errs = c;
	return a && b && c ? 0 : -ENOMEM;
}

/* Decodes the topics and partitions into p. */
static int produce_decode(struct kreq *q, struct kproduce *p)
{
	struct kreader *r = &q->r;
	size_t cap = 0, n = 0, len;
	int32_t t, k, np;

	p->ntopics = kr_array(r, 6);
	if (p->ntopics < 0)
		p->ntopics = 0;
	p->topics = calloc((size_t)p->ntopics + 1, sizeof(*p->topics));
	if (!p->topics)
		return -ENOMEM;
	for (t = 0; t < p->ntopics && !r->err; t++) {
		kr_topic(r, p->topics[t]);
		np = kr_array(r, 8);
		for (k = 0; k < np && !r->err; k++) {
			struct produce_part *pp;

			if (produce_room(p, n + 1, &cap))
				return -ENOMEM;
			pp = &p->parts[n];
			memset(pp, 0, sizeof(*pp));
			pp->topic = p->topics[t];
			pp->partition = kr_i32(r);
			pp->records = kr_bytes(r, &len);
			pp->len = len;
			p->topic_of[n] = t;
			p->errs[n] = 0;
			if (pp->partition < 0)
				p->errs[n] = KERR_UNKNOWN_TOPIC_OR_PARTITION;
			n++;
		}
	}
	p->op.parts = p->parts;
	p->op.nparts = n;
	return r->err;
}

void kafka_produce(struct kreq *q)
{
	struct kproduce *p = calloc(1, sizeof(*p));
	const char *txn;
	size_t len, i;
	int16_t acks, early = 0;

	if (!p) {
		q->r.err = -ENOMEM;
		return;
	}
	txn = q->version >= 3 ? kr_str(&q->r, &len) : NULL;
	acks = kr_i16(&q->r);
	kr_i32(&q->r);                    /* timeout_ms */
	if (produce_decode(q, p)) {
		if (!q->r.err)
			q->r.err = -ENOMEM;
		kproduce_free(p);
		return;
	}
	if (txn)
		early = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
	else if (acks != 0 && acks != 1 && acks != -1)
		early = KERR_INVALID_REQUIRED_ACKS;
	/* Parts refused here carry an error into the broker's call, which
	 * leaves them alone. */
	for (i = 0; i < p->op.nparts; i++) {
		if (early)
			p->errs[i] = early;
		if (p->errs[i])
			p->parts[i].err = LOGD_EPROTO;
	}
	kafka_wait_init(&p->w, q);
	p->op.acks = early ? 1 : acks;
	p->op.done = produce_done;
	p->op.arg = p;
	broker_produce(&p->op);
	if (conn_wait_after(&p->w, produce_drop))
		kproduce_free(p);
}

/* ------------------------------------------------------------------ */
/* CreateTopics                                                        */
/* ------------------------------------------------------------------ */

#define CONFIGS_MAX 64

struct topic_req {
	char name[TOPIC_SIZE];
	int32_t partitions;
	int16_t replication;
	int32_t nassign;
	struct kv cfg[CONFIGS_MAX];
	char keys[CONFIGS_MAX][128], vals[CONFIGS_MAX][256];
	size_t ncfg;
	int too_many;
};

static void read_topic_req(struct kreader *r, struct topic_req *t)
{
	int32_t n, i, k, nb;

	kr_topic(r, t->name);
	t->partitions = kr_i32(r);
	t->replication = kr_i16(r);
	t->nassign = kr_array(r, 8);
	for (i = 0; i < t->nassign && !r->err; i++) {
		kr_i32(r);
		nb = kr_array(r, 4);
		for (k = 0; k < nb && !r->err; k++)
			kr_i32(r);
	}
	n = kr_array(r, 4);
	t->ncfg = 0;
	t->too_many = n > CONFIGS_MAX;
	for (i = 0; i < n && !r->err; i++) {
		size_t j = t->ncfg < CONFIGS_MAX ? t->ncfg : CONFIGS_MAX - 1;

		kr_cstr(r, t->keys[j], sizeof(t->keys[j]));
		kr_cstr(r, t->vals[j], sizeof(t->vals[j]));
		t->cfg[j].key = t->keys[j];
		t->cfg[j].value = t->vals[j];
		if (t->ncfg < CONFIGS_MAX)
			t->ncfg++;
	}
}

/* Checks what create would check, creating nothing. */
static int validate_topic(const struct topic_req *t, char *msg, size_t msgsz)
{
	struct logd_topic_config tc = srv.cfg.topic;
	size_t i;
	int rc;

	if (logd_topic_name_check(t->name)) {
		snprintf(msg, msgsz, "invalid topic name \"%.200s\"", t->name);
		return LOGD_EBADNAME;
	}
	if (!logd_store_topic_config(srv.store, t->name, NULL)) {
		snprintf(msg, msgsz, "topic \"%.200s\" exists", t->name);
		return LOGD_ETOPICEXIST;
	}
	for (i = 0; i < t->ncfg; i++) {
		rc = logd_topic_config_set(&tc, t->cfg[i].key, t->cfg[i].value);
		if (rc) {
			snprintf(msg, msgsz, "config \"%s\" = \"%s\": unknown "
			    "setting or bad value", t->cfg[i].key,
			    t->cfg[i].value);
			return rc;
		}
	}
	return 0;
}

/* The Kafka error and message for creating t. */
static int16_t create_one(struct topic_req *t, int validate, char *msg,
    size_t msgsz)
{
	int32_t parts = t->nassign > 0 ? t->nassign : t->partitions;
	int rc;

	msg[0] = 0;
	if (t->too_many) {
		snprintf(msg, msgsz, "at most %d configs", CONFIGS_MAX);
		return KERR_INVALID_CONFIG;
	}
	if (t->replication != -1 && t->replication != 1) {
		snprintf(msg, msgsz, "logd is one broker: replication factor "
		    "must be 1 (or -1), not %d", t->replication);
		return KERR_INVALID_REPLICATION_FACTOR;
	}
	if (parts != -1 && (parts < 1 || parts > 10000)) {
		snprintf(msg, msgsz, "partitions must be 1 to 10000, not %"
		    PRId32, parts);
		return KERR_INVALID_PARTITIONS;
	}
	rc = validate ? validate_topic(t, msg, msgsz) :
	    broker_topic_create(t->name, parts == -1 ? 0 : parts, t->cfg,
	    t->ncfg, msg, msgsz);
	return kafka_error(rc);
}

void kafka_create_topics(struct kreq *q)
{
	struct kreader *r = &q->r, save;
	struct topic_req *t = malloc(sizeof(*t));
	struct obuf *b = &q->c->out;
	char msg[BROKER_MSG_MAX];
	int32_t n, i;
	int8_t validate = 0;
	size_t start;
	int16_t e;

	if (!t) {
		r->err = -ENOMEM;
		return;
	}
	/* First pass: check the whole request and read its tail. */
	n = kr_array(r, 20);
	save = *r;
	for (i = 0; i < n && !r->err; i++)
		read_topic_req(r, t);
	kr_i32(r);                        /* timeout */
	if (q->version >= 1)
		validate = kr_i8(r);
	if (r->err) {
		free(t);
		return;
	}
	start = kafka_begin(q);
	if (q->version >= 2)
		kw_i32(b, 0);             /* throttle */
	kw_i32(b, n < 0 ? 0 : n);
	for (i = 0; i < n; i++) {
		read_topic_req(&save, t);
		e = create_one(t, validate, msg, sizeof(msg));
		kw_str(b, t->name);
		kw_i16(b, e);
		if (q->version >= 1)
			kw_str(b, e ? msg : NULL);
	}
	free(t);
	kafka_end(q->c, start);
}

/* ------------------------------------------------------------------ */
/* DeleteTopics                                                        */
/* ------------------------------------------------------------------ */

struct kdelete {
	struct rwait w;
	int32_t n, left;
	struct delete_op *ops;
	char (*names)[TOPIC_SIZE];
};

static void kdelete_free(struct kdelete *d)
{
	free(d->ops);
	free(d->names);
	free(d);
}

static void delete_done(struct delete_op *op)
{
	struct kdelete *d = op->arg;
	struct obuf *b;
	size_t start;
	int32_t i;

	if (--d->left > 0)
		return;
	if (conn_wait_answering(&d->w)) {
		b = &d->w.c->out;
		start = kafka_begin_wait(&d->w);
		if (d->w.version >= 1)
			kw_i32(b, 0);     /* throttle */
		kw_i32(b, d->n);
		for (i = 0; i < d->n; i++) {
			kw_str(b, d->names[i]);
			kw_i16(b, kafka_error(d->ops[i].err));
		}
		kafka_end(d->w.c, start);
	}
	if (!d->w.in_call)
		kdelete_free(d);
}

static void delete_drop(struct parked *p)
{
	((struct kdelete *)(void *)p)->w.orphan = 1;
}

void kafka_delete_topics(struct kreq *q)
{
	struct kdelete *d = calloc(1, sizeof(*d));
	int32_t i;

	if (!d) {
		q->r.err = -ENOMEM;
		return;
	}
	d->n = kr_array(&q->r, 2);
	if (d->n < 0)
		d->n = 0;
	d->ops = calloc((size_t)d->n + 1, sizeof(*d->ops));
	d->names = calloc((size_t)d->n + 1, sizeof(*d->names));
	if (!d->ops || !d->names) {
		kdelete_free(d);
		q->r.err = -ENOMEM;
		return;
	}
	for (i = 0; i < d->n; i++)
		kr_topic(&q->r, d->names[i]);
	kr_i32(&q->r);                    /* timeout */
	if (q->r.err) {
		kdelete_free(d);
		return;
	}
	kafka_wait_init(&d->w, q);
	/* One count for this call, so done() waits for the loop's end. */
	d->left = d->n + 1;
	for (i = 0; i < d->n; i++) {
		d->ops[i].topic = d->names[i];
		d->ops[i].done = delete_done;
		d->ops[i].arg = d;
		broker_topic_delete(&d->ops[i]);
	}
	delete_done(&(struct delete_op){ .arg = d });
	if (conn_wait_after(&d->w, delete_drop))
		kdelete_free(d);
}

/* ------------------------------------------------------------------ */
/* DescribeConfigs                                                     */
/* ------------------------------------------------------------------ */

#define RESOURCE_TOPIC 2
#define RESOURCE_BROKER 4
#define SOURCE_DEFAULT 5

struct config_ctx {
	struct obuf *b;
	int16_t v;
	char (*want)[128];         /* NULL: every key */
	int32_t nwant;
	int32_t n;
	int count_only;
};

static int wanted(const struct config_ctx *x, const char *key)
{
	int32_t i;

	if (!x->want)
		return 1;
	for (i = 0; i < x->nwant; i++)
		if (!strcmp(x->want[i], key))
			return 1;
	return 0;
}

static int write_config(void *arg, const char *key, const char *value)
{
	struct config_ctx *x = arg;

	if (!wanted(x, key) || !strcmp(key, "partitions"))
		return 0;
	x->n++;
	if (x->count_only)
		return 0;
	kw_str(x->b, key);
	kw_str(x->b, value);
	kw_i8(x->b, 0);                   /* read only */
	if (x->v == 0)
		kw_i8(x->b, 0);           /* is default */
	else
		kw_i8(x->b, SOURCE_DEFAULT);
	kw_i8(x->b, 0);                   /* sensitive */
	if (x->v >= 1)
		kw_i32(x->b, 0);          /* synonyms */
	return 0;
}

/* A broker's settings as Kafka names them. */
static int broker_configs(const struct logd_topic_config *unused,
    int (*fn)(void *arg, const char *key, const char *value), void *arg)
{
	char n[32], m[32];

	snprintf(n, sizeof(n), "%d", srv.cfg.topic.partitions);
	snprintf(m, sizeof(m), "%llu",
	    (unsigned long long)srv.cfg.max_frame_bytes);
	fn(arg, "broker.id", "0");
	fn(arg, "auto.create.topics.enable",
	    srv.cfg.auto_create_topics ? "true" : "false");
	fn(arg, "num.partitions", n);
	fn(arg, "message.max.bytes", m);
	return 0;
}

static int topic_configs(const struct logd_topic_config *tc,
    int (*fn)(void *arg, const char *key, const char *value), void *arg)
{
	return logd_topic_config_each(tc, fn, arg);
}

static void describe_resource(struct kreq *q, struct config_ctx *x,
    int8_t type, const char *name)
{
	int (*each)(const struct logd_topic_config *, int (*)(void *,
	    const char *, const char *), void *) = NULL;
	struct logd_topic_config tc;
	int16_t e = 0;
	const char *msg = NULL;

	if (type == RESOURCE_TOPIC) {
		if (logd_store_topic_config(srv.store, name, &tc)) {
			e = KERR_UNKNOWN_TOPIC_OR_PARTITION;
			msg = "unknown topic";
		} else {
			each = topic_configs;
		}
	} else if (type == RESOURCE_BROKER) {
		each = broker_configs;
	} else {
		e = KERR_INVALID_REQUEST;
		msg = "logd describes topics (2) and its broker (4) only";
	}
	kw_i16(x->b, e);
	kw_str(x->b, msg);
	kw_i8(x->b, type);
	kw_str(x->b, name);
	if (!each) {
		kw_i32(x->b, 0);
		return;
	}
	x->n = 0;
	x->count_only = 1;
	each(&tc, write_config, x);
	kw_i32(x->b, x->n);
	x->count_only = 0;
	each(&tc, write_config, x);
}

void kafka_describe_configs(struct kreq *q)
{
	struct kreader *r = &q->r, save;
	struct config_ctx x = { &q->c->out, q->version, NULL, 0, 0, 0 };
	char name[256];
	int32_t n, i, k;
	int8_t type;
	size_t start;

	n = kr_array(r, 7);
	save = *r;
	for (i = 0; i < n && !r->err; i++) {
		kr_i8(r);
		kr_cstr(r, name, sizeof(name));
		k = kr_array(r, 2);
		while (k-- > 0 && !r->err)
			kr_cstr(r, name, sizeof(name));
	}
	if (q->version >= 1)
		kr_i8(r);                 /* include synonyms */
	if (r->err)
		return;
	start = kafka_begin(q);
	kw_i32(x.b, 0);                   /* throttle */
	kw_i32(x.b, n < 0 ? 0 : n);
	for (i = 0; i < n; i++) {
		type = kr_i8(&save);
		kr_cstr(&save, name, sizeof(name));
		x.nwant = kr_array(&save, 2);
		x.want = NULL;
		if (x.nwant >= 0) {
			x.want = calloc((size_t)x.nwant + 1, sizeof(*x.want));
			if (!x.want) {
				q->c->out.err = -ENOMEM;
				break;
			}
			for (k = 0; k < x.nwant; k++)
				kr_cstr(&save, x.want[k], sizeof(x.want[k]));
		}
		describe_resource(q, &x, type, name);
		free(x.want);
	}
	kafka_end(q->c, start);
}

/* ------------------------------------------------------------------ */
/* InitProducerId                                                      */
/* ------------------------------------------------------------------ */

/*
 * Producer ids are unique across restarts without being stored: the
 * wall clock in ms at the first one, times 1000, plus a count (1000 ids a
 * ms before two runs could meet; far below 2^63).
 */
void kafka_init_producer_id(struct kreq *q)
{
	static int64_t next;
	struct obuf *b = &q->c->out;
	const char *txn;
	size_t len, start;
	int16_t e = 0;

	txn = kr_str(&q->r, &len);
	kr_i32(&q->r);                    /* transaction timeout */
	if (q->r.err)
		return;
	if (!next || next / 1000 < ev_wall())
		next = ev_wall() * 1000;
	if (txn)
		e = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
	start = kafka_begin(q);
	kw_i32(b, 0);                     /* throttle */
	kw_i16(b, e);
	kw_i64(b, e ? -1 : next++);
	kw_i16(b, e ? -1 : 0);            /* epoch */
	kafka_end(q->c, start);
}
