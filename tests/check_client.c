/*
 * check_client.c - the client library against a real logd.
 *
 * Every test starts its own logd on a temp datadir and a free port
 * (tests/testlogd.h) and talks to it only through logd.h's client API,
 * except the slow consumer, which writes raw FETCH frames and never
 * reads.  Records carry their sequence number so a check can say which
 * record went wrong.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "logd.h"
#include "client_int.h"
#include "proto.h"
#include "testlogd.h"

static struct testlogd T;

static void
setup(void)
{
	memset(&T, 0, sizeof(T));
	ck_assert_int_eq(testlogd_start(&T, NULL), 0);
}

static void
teardown(void)
{
	testlogd_stop(&T);
}

static int64_t
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct logd_client *
connect_ok(void)
{
	struct logd_client *c = NULL;
	int r = logd_client_open(T.addr, NULL, &c);

	ck_assert_msg(r == 0, "connect %s: %s", T.addr, logd_strerror(r));
	return c;
}

static void
create_ok(struct logd_client *c, const char *topic, int32_t parts)
{
	int r = logd_client_topic_create(c, topic, parts, NULL, 0);

	ck_assert_msg(r == 0, "create %s: %s", topic, logd_client_errmsg(c));
}

/* Record i's value: "v<i>:" then i % 61 bytes of a pattern with zeros. */
static size_t
make_value(uint8_t *buf, int i)
{
	int n = snprintf((char *)buf, 32, "v%d:", i);
	int k;

	for (k = 0; k < i % 61; k++)
		buf[n + k] = (uint8_t)((i * 7 + k * 13) & 0xff);
	return (size_t)(n + k);
}

static int
value_seq(const struct logd_record *r)
{
	char tmp[16];
	size_t n = r->value_len < 15 ? r->value_len : 15;

	ck_assert_ptr_nonnull(r->value);
	memcpy(tmp, r->value, n);
	tmp[n] = '\0';
	ck_assert_msg(tmp[0] == 'v', "value does not start with v");
	return atoi(tmp + 1);
}

/* ---- produce and consume across topics and partitions ---- */

#define PC_N 3000

struct delivered {
	int64_t offset[PC_N];
	int32_t partition[PC_N];
	int errors;
	int count;
};

static void
on_delivery(void *arg, const struct logd_delivery *d)
{
	struct delivered *dv = arg;
	int i = (int)(intptr_t)d->opaque;

	ck_assert_int_ge(i, 0);
	ck_assert_int_lt(i, PC_N);
	dv->count++;
	if (d->error != 0) {
		dv->errors++;
		return;
	}
	dv->offset[i] = d->offset;
	dv->partition[i] = d->partition;
}

START_TEST(test_produce_consume)
{
	static const char *const topics[2] = { "alpha", "beta.2" };
	static const int32_t nparts[2] = { 3, 2 };
	static struct delivered dv;
	struct logd_producer_options po;
	struct logd_consumer_record cr;
	struct logd_producer *p;
	struct logd_consumer *cs;
	struct logd_client *c, *c2;
	int64_t next[2][3] = { { 0 } };
	uint8_t val[128];
	char key[32], hval[32];
	int i, r, seen = 0;

	memset(&dv, 0, sizeof(dv));
	c = connect_ok();
	create_ok(c, topics[0], nparts[0]);
	create_ok(c, topics[1], nparts[1]);
	logd_producer_options_default(&po);
	po.batch_bytes = 4096;       /* many batches */
	po.max_in_flight = 4;
	po.on_delivery = on_delivery;
	po.arg = &dv;
	ck_assert_int_eq(logd_producer_new(c, &po, &p), 0);
	for (i = 0; i < PC_N; i++) {
		struct logd_header h = { "h", 1, hval, 0 };
		struct logd_message m;

		memset(&m, 0, sizeof(m));
		m.topic = topics[i % 2];
		m.partition = (i / 2) % nparts[i % 2];
		m.value = val;
		m.value_len = make_value(val, i);
		if (i % 3 != 0) {
			m.key = key;
			m.key_len = (size_t)snprintf(key, sizeof(key),
			    "k%d", i);
		}
		if (i % 5 == 0) {
			h.value_len = (size_t)snprintf(hval, sizeof(hval),
			    "x%d", i);
			m.headers = &h;
			m.header_count = 1;
		}
		m.timestamp = 1700000000000LL + i;
		m.opaque = (void *)(intptr_t)i;
		r = logd_producer_send(p, &m);
		ck_assert_msg(r == 0, "send %d: %s", i, logd_client_errmsg(c));
	}
	ck_assert_int_eq(logd_producer_close(p), 0);
	ck_assert_int_eq(dv.count, PC_N);
	ck_assert_int_eq(dv.errors, 0);

	/* A second connection reads everything back. */
	c2 = connect_ok();
	ck_assert_int_eq(logd_consumer_new(c2, NULL, &cs), 0);
	ck_assert_int_eq(logd_consumer_assign(cs, topics[0],
	    LOGD_PARTITION_ANY, LOGD_OFFSET_EARLIEST), 0);
	ck_assert_int_eq(logd_consumer_assign(cs, topics[1],
	    LOGD_PARTITION_ANY, LOGD_OFFSET_EARLIEST), 0);
	while (seen < PC_N) {
		struct logd_header h;
		size_t pos = 0;
		int t;

		r = logd_consumer_poll(cs, 5000, &cr);
		ck_assert_msg(r == 1, "poll after %d records: %d %s", seen, r,
		    logd_client_errmsg(c2));
		i = value_seq(&cr.rec);
		ck_assert_int_lt(i, PC_N);
		t = i % 2;
		ck_assert_str_eq(cr.topic, topics[t]);
		ck_assert_int_eq(cr.partition, (i / 2) % nparts[t]);
		ck_assert_int_eq(cr.partition, dv.partition[i]);
		ck_assert_int_eq(cr.rec.offset, dv.offset[i]);
		/* In order, no gap, no duplicate. */
		ck_assert_int_eq(cr.rec.offset, next[t][cr.partition]);
		next[t][cr.partition]++;
		ck_assert_int_eq(cr.rec.value_len, make_value(val, i));
		ck_assert_mem_eq(cr.rec.value, val, cr.rec.value_len);
		ck_assert_int_eq(cr.rec.timestamp, 1700000000000LL + i);
		if (i % 3 == 0) {
			ck_assert_ptr_null(cr.rec.key);
		} else {
			size_t kl = (size_t)snprintf(key, sizeof(key), "k%d",
			    i);

			ck_assert_int_eq(cr.rec.key_len, kl);
			ck_assert_mem_eq(cr.rec.key, key, kl);
		}
		if (i % 5 == 0) {
			ck_assert_int_eq(cr.rec.header_count, 1);
			ck_assert_int_eq(logd_record_header_next(&cr.rec, &pos,
			    &h), 1);
			snprintf(hval, sizeof(hval), "x%d", i);
			ck_assert_int_eq(h.key_len, 1);
			ck_assert_mem_eq(h.key, "h", 1);
			ck_assert_int_eq(h.value_len, strlen(hval));
			ck_assert_mem_eq(h.value, hval, h.value_len);
		} else {
			ck_assert_int_eq(cr.rec.header_count, 0);
		}
		seen++;
	}
	/* Nothing more. */
	ck_assert_int_eq(logd_consumer_poll(cs, 200, &cr), 0);

	/* Reading from the middle of a batch skips what comes before. */
	ck_assert_int_eq(logd_consumer_seek(cs, topics[0], 1, 7), 0);
	ck_assert_int_eq(logd_consumer_unassign(cs, topics[1], -1), 0);
	ck_assert_int_eq(logd_consumer_poll(cs, 5000, &cr), 1);
	ck_assert_str_eq(cr.topic, topics[0]);
	ck_assert_int_eq(cr.partition, 1);
	ck_assert_int_eq(cr.rec.offset, 7);
	logd_consumer_close(cs);
	logd_client_close(c2);
	logd_client_close(c);
}
END_TEST

/* ---- keys land on Kafka's partition ---- */

START_TEST(test_key_partition)
{
	/* Kafka's UtilsTest.testMurmur2 vectors. */
	static const struct {
		const char *key;
		int32_t hash;
	} v[] = {
		{ "21", -973932308 },
		{ "foobar", -790332482 },
		{ "a-little-bit-long-string", -985981536 },
		{ "a-little-bit-longer-string", -1486304829 },
		{ "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
		    -58897971 },
		{ "abc", 479470107 },
	};
	struct logd_consumer_record cr;
	struct logd_producer *p;
	struct logd_consumer *cs;
	struct logd_client *c;
	int64_t counts[7] = { 0 };
	char key[16];
	size_t i;
	int k;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int32_t h = (int32_t)logd_murmur2(v[i].key, strlen(v[i].key));

		ck_assert_int_eq(h, v[i].hash);
		ck_assert_int_eq(logd_partition_for_key(v[i].key,
		    strlen(v[i].key), 7), (v[i].hash & 0x7fffffff) % 7);
	}
	c = connect_ok();
	create_ok(c, "keyed", 7);

	/* The broker's choice for a keyed batch agrees with Kafka's. */
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct logd_batch_builder *b;
		const uint8_t *batch;
		size_t len;
		int32_t part = -5;
		int64_t base = -5;

		ck_assert_int_eq(logd_batch_builder_new(&b), 0);
		ck_assert_int_eq(logd_batch_builder_add(b, 1, v[i].key,
		    strlen(v[i].key), "x", 1, NULL, 0), 0);
		ck_assert_int_eq(logd_batch_builder_finish(b, &batch, &len), 0);
		ck_assert_int_eq(logd_client_produce(c, "keyed", -1, v[i].key,
		    strlen(v[i].key), 1, batch, len, &part, &base), 0);
		ck_assert_int_eq(part, (v[i].hash & 0x7fffffff) % 7);
		ck_assert_int_eq(base, counts[part]);
		counts[part]++;
		logd_batch_builder_free(b);
	}

	/* The producer partitions keyed records the same way. */
	ck_assert_int_eq(logd_producer_new(c, NULL, &p), 0);
	for (k = 0; k < 500; k++) {
		struct logd_message m;

		memset(&m, 0, sizeof(m));
		m.topic = "keyed";
		m.partition = LOGD_PARTITION_ANY;
		m.key = key;
		m.key_len = (size_t)snprintf(key, sizeof(key), "key-%d", k);
		m.value = key;
		m.value_len = m.key_len;
		ck_assert_int_eq(logd_producer_send(p, &m), 0);
	}
	ck_assert_int_eq(logd_producer_close(p), 0);
	ck_assert_int_eq(logd_consumer_new(c, NULL, &cs), 0);
	ck_assert_int_eq(logd_consumer_assign(cs, "keyed", -1,
	    LOGD_OFFSET_EARLIEST), 0);
	for (k = 0; k < 500 + (int)(sizeof(v) / sizeof(v[0])); k++) {
		ck_assert_int_eq(logd_consumer_poll(cs, 5000, &cr), 1);
		ck_assert_ptr_nonnull(cr.rec.key);
		ck_assert_int_eq(cr.partition,
		    logd_partition_for_key(cr.rec.key, cr.rec.key_len, 7));
	}
	ck_assert_int_eq(logd_consumer_poll(cs, 100, &cr), 0);
	logd_consumer_close(cs);
	logd_client_close(c);
}
END_TEST

/* ---- admin calls and errors ---- */

START_TEST(test_admin)
{
	static const struct logd_kv cfg[] = {
		{ "retention.ms", "3600000" },
	};
	static const struct logd_kv bad[] = { { "no.such.key", "1" } };
	struct logd_metadata *md;
	struct logd_group_list *gl;
	struct logd_group *g;
	struct logd_stats st;
	struct logd_client *c;
	struct logd_offset_commit oc[2] = {
		{ "adm", 0, 3, "m0" }, { "adm", 1, 0, NULL },
	};
	const char *name = "adm";
	int64_t off;
	int32_t i;
	size_t k;
	int found = 0;

	c = connect_ok();
	ck_assert_str_ne(logd_client_server_version(c), "");
	ck_assert_int_eq(logd_client_topic_create(c, "adm", 2, cfg, 1), 0);
	ck_assert_int_eq(logd_client_topic_create(c, "adm", 2, NULL, 0),
	    LOGD_ETOPICEXIST);
	ck_assert_str_ne(logd_client_errmsg(c), "");
	ck_assert_int_eq(logd_client_topic_create(c, "../x", 1, NULL, 0),
	    LOGD_EBADNAME);
	ck_assert_int_eq(logd_client_topic_alter(c, "adm", bad, 1),
	    LOGD_EBADCONFIG);
	ck_assert_int_eq(logd_client_topic_alter(c, "nope", cfg, 1),
	    LOGD_ENOTOPIC);
	ck_assert_int_eq(logd_client_list_offset(c, "nope", 0,
	    LOGD_OFFSET_LATEST, &off), LOGD_ENOTOPIC);
	ck_assert_int_eq(logd_client_list_offset(c, "adm", 9,
	    LOGD_OFFSET_LATEST, &off), LOGD_ENOPART);

	/* Five records in partition 0 with timestamps 100..500. */
	for (i = 1; i <= 5; i++) {
		struct logd_batch_builder *b;
		const uint8_t *batch;
		size_t len;
		int64_t base;

		ck_assert_int_eq(logd_batch_builder_new(&b), 0);
		ck_assert_int_eq(logd_batch_builder_add(b, i * 100, NULL, 0,
		    "v", 1, NULL, 0), 0);
		ck_assert_int_eq(logd_batch_builder_finish(b, &batch, &len), 0);
		ck_assert_int_eq(logd_client_produce(c, "adm", 0, NULL, 0,
		    LOGD_ACKS_ALL, batch, len, NULL, &base), 0);
		ck_assert_int_eq(base, i - 1);
		logd_batch_builder_free(b);
	}
	ck_assert_int_eq(logd_client_list_offset(c, "adm", 0,
	    LOGD_OFFSET_EARLIEST, &off), 0);
	ck_assert_int_eq(off, 0);
	ck_assert_int_eq(logd_client_list_offset(c, "adm", 0,
	    LOGD_OFFSET_LATEST, &off), 0);
	ck_assert_int_eq(off, 5);
	ck_assert_int_eq(logd_client_list_offset(c, "adm", 0, 250, &off), 0);
	ck_assert_int_eq(off, 2);

	ck_assert_int_eq(logd_client_metadata(c, &name, 1, &md), 0);
	ck_assert_int_eq(md->topic_count, 1);
	ck_assert_str_eq(md->topics[0].name, "adm");
	ck_assert_int_eq(md->topics[0].error, 0);
	ck_assert_int_eq(md->topics[0].partition_count, 2);
	for (i = 0; i < 2; i++) {
		const struct logd_partition_meta *pm =
		    &md->topics[0].partitions[i];

		ck_assert_int_eq(pm->start_offset, 0);
		ck_assert_int_eq(pm->end_offset, pm->partition == 0 ? 5 : 0);
	}
	for (k = 0; k < md->topics[0].config_count; k++)
		if (strcmp(md->topics[0].config[k].key, "retention.ms") == 0) {
			ck_assert_str_eq(md->topics[0].config[k].value,
			    "3600000");
			found = 1;
		}
	ck_assert_int_eq(found, 1);
	logd_metadata_free(md);

	/* Group offsets, lag, delete. */
	ck_assert_int_eq(logd_client_offsets_commit(c, "g1", oc, 2), 0);
	ck_assert_int_eq(logd_client_offsets_fetch(c, "g1", "adm", &g), 0);
	ck_assert_int_eq(g->offset_count, 2);
	for (k = 0; k < 2; k++) {
		const struct logd_group_offset *go = &g->offsets[k];

		ck_assert_str_eq(go->topic, "adm");
		ck_assert_int_eq(go->offset, go->partition == 0 ? 3 : 0);
		if (go->partition == 0)
			ck_assert_str_eq(go->metadata, "m0");
	}
	logd_group_free(g);
	ck_assert_int_eq(logd_client_groups(c, &gl), 0);
	ck_assert_int_eq(gl->count, 1);
	ck_assert_str_eq(gl->groups[0].name, "g1");
	for (k = 0; k < gl->groups[0].offset_count; k++) {
		const struct logd_group_offset *go = &gl->groups[0].offsets[k];

		if (go->partition == 0) {
			ck_assert_int_eq(go->end_offset, 5);
			ck_assert_int_eq(go->lag, 2);
		}
	}
	logd_group_list_free(gl);
	ck_assert_int_eq(logd_client_group_delete(c, "g1"), 0);
	ck_assert_int_eq(logd_client_offsets_fetch(c, "g1", NULL, &g), 0);
	ck_assert_int_eq(g->offset_count, 0);
	logd_group_free(g);

	ck_assert_int_eq(logd_client_stats(c, &st), 0);
	ck_assert_int_ge(st.connections, 1);
	ck_assert_int_ge(st.uptime_ms, 0);

	ck_assert_int_eq(logd_client_topic_delete(c, "adm"), 0);
	ck_assert_int_eq(logd_client_topic_delete(c, "adm"), LOGD_ENOTOPIC);
	logd_client_close(c);

	/* Bad addresses and a closed port. */
	ck_assert_int_eq(logd_client_open("127.0.0.1:0", NULL, &c), -EINVAL);
	ck_assert_int_eq(logd_client_open("[::1", NULL, &c), -EINVAL);
	ck_assert_int_eq(logd_client_open(T.unix_path, NULL, &c), 0);
	ck_assert_int_eq(logd_client_stats(c, &st), 0);
	logd_client_close(c);
}
END_TEST

/* ---- restart: data and group offsets survive ---- */

START_TEST(test_restart)
{
	struct logd_consumer_options co = { .group = "resumer" };
	struct logd_consumer_record cr;
	struct logd_producer *p;
	struct logd_consumer *cs;
	struct logd_client *c;
	uint8_t val[128];
	int64_t pos;
	int i;

	c = connect_ok();
	create_ok(c, "durable", 2);
	ck_assert_int_eq(logd_producer_new(c, NULL, &p), 0);
	for (i = 0; i < 1000; i++) {
		struct logd_message m = { .topic = "durable",
			.partition = i % 2, .value = val };

		m.value_len = make_value(val, i);
		ck_assert_int_eq(logd_producer_send(p, &m), 0);
	}
	ck_assert_int_eq(logd_producer_close(p), 0);

	/* Read 300 records of partition 0 as the group and commit. */
	ck_assert_int_eq(logd_consumer_new(c, &co, &cs), 0);
	ck_assert_int_eq(logd_consumer_assign(cs, "durable", 0,
	    LOGD_OFFSET_COMMITTED), 0);
	for (i = 0; i < 300; i++) {
		ck_assert_int_eq(logd_consumer_poll(cs, 5000, &cr), 1);
		ck_assert_int_eq(cr.rec.offset, i);
		ck_assert_int_eq(value_seq(&cr.rec), 2 * i);
	}
	ck_assert_int_eq(logd_consumer_commit(cs), 0);
	logd_consumer_close(cs);
	logd_client_close(c);

	ck_assert_int_eq(testlogd_term(&T), 0);
	ck_assert_int_eq(testlogd_restart(&T), 0);

	c = connect_ok();
	ck_assert_int_eq(logd_client_list_offset(c, "durable", 0,
	    LOGD_OFFSET_LATEST, &pos), 0);
	ck_assert_int_eq(pos, 500);
	ck_assert_int_eq(logd_client_list_offset(c, "durable", 1,
	    LOGD_OFFSET_LATEST, &pos), 0);
	ck_assert_int_eq(pos, 500);

	/* The group resumes where it committed. */
	ck_assert_int_eq(logd_consumer_new(c, &co, &cs), 0);
	ck_assert_int_eq(logd_consumer_assign(cs, "durable", 0,
	    LOGD_OFFSET_COMMITTED), 0);
	ck_assert_int_eq(logd_consumer_position(cs, "durable", 0, &pos), 0);
	ck_assert_int_eq(pos, 300);
	ck_assert_int_eq(logd_consumer_poll(cs, 5000, &cr), 1);
	ck_assert_int_eq(cr.rec.offset, 300);
	logd_consumer_close(cs);

	/* Everything is there, byte for byte. */
	ck_assert_int_eq(logd_consumer_new(c, NULL, &cs), 0);
	ck_assert_int_eq(logd_consumer_assign(cs, "durable", -1,
	    LOGD_OFFSET_EARLIEST), 0);
	for (i = 0; i < 1000; i++) {
		int seq;

		ck_assert_int_eq(logd_consumer_poll(cs, 5000, &cr), 1);
		seq = value_seq(&cr.rec);
		ck_assert_int_eq(cr.partition, seq % 2);
		ck_assert_int_eq(cr.rec.offset, seq / 2);
		ck_assert_int_eq(cr.rec.value_len, make_value(val, seq));
		ck_assert_mem_eq(cr.rec.value, val, cr.rec.value_len);
	}
	ck_assert_int_eq(logd_consumer_poll(cs, 100, &cr), 0);
	logd_consumer_close(cs);
	logd_client_close(c);
}
END_TEST

/* ---- kill -9 during acks=all produce ---- */

#define K9_MAX 2000000

struct k9 {
	int64_t *offset;          /* by sequence: acked offset, or -1 */
	atomic_int acked;
};

static void
k9_delivery(void *arg, const struct logd_delivery *d)
{
	struct k9 *k = arg;
	int i = (int)(intptr_t)d->opaque;

	if (d->error == 0) {
		k->offset[i] = d->offset;
		atomic_fetch_add(&k->acked, 1);
	}
}

static void *
k9_killer(void *arg)
{
	struct k9 *k = arg;
	int64_t t0 = ms_now();

	/* Let a good number of acks through first, then kill. */
	while (atomic_load(&k->acked) < 20000 && ms_now() - t0 < 10000)
		usleep(1000);
	usleep(20000);
	testlogd_kill9(&T);
	return NULL;
}

START_TEST(test_kill9_acks_all)
{
	struct logd_client_options copt = { .request_timeout_ms = 5000 };
	struct logd_producer_options po;
	struct logd_consumer_record cr;
	struct logd_producer *p;
	struct logd_consumer *cs;
	struct logd_client *c;
	struct k9 k;
	pthread_t killer;
	uint8_t val[128];
	int64_t last_off = -1;
	int i, r = 0, sent, acked, seen = 0, last_seq = -1;

	k.offset = malloc(K9_MAX * sizeof(*k.offset));
	ck_assert_ptr_nonnull(k.offset);
	for (i = 0; i < K9_MAX; i++)
		k.offset[i] = -1;
	atomic_init(&k.acked, 0);
	c = connect_ok();
	create_ok(c, "crash", 1);
	logd_producer_options_default(&po);
	po.acks = LOGD_ACKS_ALL;
	po.batch_bytes = 16384;
	po.max_in_flight = 8;
	po.on_delivery = k9_delivery;
	po.arg = &k;
	ck_assert_int_eq(logd_producer_new(c, &po, &p), 0);
	ck_assert_int_eq(pthread_create(&killer, NULL, k9_killer, &k), 0);
	for (sent = 0; sent < K9_MAX; sent++) {
		struct logd_message m = { .topic = "crash",
			.partition = 0, .value = val };

		m.value_len = make_value(val, sent);
		m.opaque = (void *)(intptr_t)sent;
		r = logd_producer_send(p, &m);
		if (r < 0)
			break;
	}
	pthread_join(killer, NULL);
	ck_assert_msg(r < 0, "the producer never noticed the kill");
	logd_producer_close(p);
	logd_client_close(c);
	acked = atomic_load(&k.acked);
	ck_assert_int_gt(acked, 0);

	ck_assert_int_eq(testlogd_restart(&T), 0);
	ck_assert_int_eq(logd_client_open(T.addr, &copt, &c), 0);
	ck_assert_int_eq(logd_consumer_new(c, NULL, &cs), 0);
	ck_assert_int_eq(logd_consumer_assign(cs, "crash", 0,
	    LOGD_OFFSET_EARLIEST), 0);
	/*
	 * Every stored record: sequence numbers strictly increase (no
	 * duplicate, send order kept) and an acknowledged one sits at its
	 * acknowledged offset, with its bytes.
	 */
	while ((r = logd_consumer_poll(cs, 300, &cr)) == 1) {
		int seq = value_seq(&cr.rec);

		ck_assert_int_gt(seq, last_seq);
		ck_assert_int_lt(seq, sent);
		ck_assert_int_eq(cr.rec.offset, last_off + 1);
		if (k.offset[seq] >= 0) {
			ck_assert_int_eq(cr.rec.offset, k.offset[seq]);
			seen++;
		}
		ck_assert_int_eq(cr.rec.value_len, make_value(val, seq));
		ck_assert_mem_eq(cr.rec.value, val, cr.rec.value_len);
		last_seq = seq;
		last_off = cr.rec.offset;
	}
	ck_assert_int_eq(r, 0);
	fprintf(stderr, "kill9: %d sent, %d acknowledged, %lld stored\n", sent,
	    acked, (long long)(last_off + 1));
	/* Every acknowledged record was found. */
	ck_assert_int_eq(seen, acked);
	logd_consumer_close(cs);
	logd_client_close(c);
	free(k.offset);
}
END_TEST

/* ---- long-poll wakes on append ---- */

struct lp {
	int64_t took_ms;
	size_t len;
	int r;
};

static void *
lp_fetch(void *arg)
{
	struct lp *lp = arg;
	struct logd_fetch *f = NULL;
	struct logd_client *c;
	int64_t t0;

	lp->r = logd_client_open(T.addr, NULL, &c);
	if (lp->r < 0)
		return NULL;
	t0 = ms_now();
	lp->r = logd_client_fetch(c, "lp", 0, 0, 0, 5000, &f);
	lp->took_ms = ms_now() - t0;
	if (lp->r == 0)
		lp->len = f->len;
	logd_fetch_free(f);
	logd_client_close(c);
	return NULL;
}

START_TEST(test_long_poll)
{
	struct logd_message m = { .topic = "lp", .partition = 0,
		.value = "wake", .value_len = 4 };
	struct logd_producer *p;
	struct logd_client *c;
	struct logd_fetch *f;
	struct lp lp = { 0, 0, -1 };
	pthread_t th;
	int64_t t0;

	c = connect_ok();
	create_ok(c, "lp", 1);
	/* With nothing arriving, the fetch waits about max_wait. */
	t0 = ms_now();
	ck_assert_int_eq(logd_client_fetch(c, "lp", 0, 0, 0, 300, &f), 0);
	ck_assert_int_eq(f->len, 0);
	ck_assert_int_ge(ms_now() - t0, 250);
	logd_fetch_free(f);

	ck_assert_int_eq(pthread_create(&th, NULL, lp_fetch, &lp), 0);
	usleep(200000);
	ck_assert_int_eq(logd_producer_new(c, NULL, &p), 0);
	ck_assert_int_eq(logd_producer_send(p, &m), 0);
	ck_assert_int_eq(logd_producer_close(p), 0);
	pthread_join(th, NULL);
	ck_assert_int_eq(lp.r, 0);
	ck_assert_int_gt(lp.len, 0);
	ck_assert_msg(lp.took_ms < 1000, "long-poll took %lld ms",
	    (long long)lp.took_ms);
	logd_client_close(c);
}
END_TEST

/*
 * ---- a reply's records are handed out before the next FETCH goes ----
 *
 * Sending the prefetch from the reply handler made the reply's first
 * record wait for that send (on a local socket it runs the broker's
 * receive and wake-up).  The FETCH must go out on the next poll instead:
 * none in flight when the first record of a reply is returned, one once
 * the second is.
 */
START_TEST(test_prefetch_after_handover)
{
	/* The long-poll consumer (a stream stays in flight throughout). */
	struct logd_consumer_options co = { .max_wait_ms = 5000,
		.no_stream = 1 };
	struct logd_message m = { .topic = "pf", .partition = 0,
		.value = "x", .value_len = 1 };
	struct logd_consumer_record cr;
	struct logd_consumer *cs;
	struct logd_producer *p;
	struct logd_client *c, *cc;
	int i;

	c = connect_ok();
	create_ok(c, "pf", 1);
	ck_assert_int_eq(logd_producer_new(c, NULL, &p), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(logd_producer_send(p, &m), 0);
	ck_assert_int_eq(logd_producer_close(p), 0);

	cc = connect_ok();
	ck_assert_int_eq(logd_consumer_new(cc, &co, &cs), 0);
	ck_assert_int_eq(logd_consumer_assign(cs, "pf", 0, 0), 0);
	ck_assert_int_eq(logd_consumer_poll(cs, 5000, &cr), 1);
	ck_assert_int_eq(cr.rec.offset, 0);
	ck_assert_int_eq(cl_inflight(cc), 0);
	ck_assert_int_eq(logd_consumer_poll(cs, 5000, &cr), 1);
	ck_assert_int_eq(cr.rec.offset, 1);
	ck_assert_int_eq(cl_inflight(cc), 1);
	ck_assert_int_eq(logd_consumer_poll(cs, 5000, &cr), 1);
	ck_assert_int_eq(cr.rec.offset, 2);
	logd_consumer_close(cs);
	logd_client_close(cc);
	logd_client_close(c);
}
END_TEST

/*
 * ---- the consumer's streams: seek restarts them, no_stream works ----
 *
 * A seek cancels the partition's stream (whatever it still sends is
 * dropped) and opens one at the new offset; a consumer without streams
 * (as against a logd that lacks them) reads the same records.
 */
static void
stream_consume(struct logd_client *cc, const char *topic, int no_stream)
{
	struct logd_consumer_options co = { .max_wait_ms = 200,
		.no_stream = no_stream };
	struct logd_message m = { .topic = topic, .partition = 0,
		.value = "x", .value_len = 1 };
	struct logd_consumer_record cr;
	struct logd_consumer *cs;
	struct logd_producer *p;
	int i;

	ck_assert_int_eq(logd_producer_new(cc, NULL, &p), 0);
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(logd_producer_send(p, &m), 0);
	ck_assert_int_eq(logd_producer_close(p), 0);
	ck_assert_int_eq(logd_consumer_new(cc, &co, &cs), 0);
	ck_assert_int_eq(logd_consumer_assign(cs, topic, 0, 0), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(logd_consumer_poll(cs, 5000, &cr), 1);
		ck_assert_int_eq(cr.rec.offset, i);
	}
	ck_assert_int_eq(logd_consumer_seek(cs, topic, 0, 17), 0);
	for (i = 17; i < 20; i++) {
		ck_assert_int_eq(logd_consumer_poll(cs, 5000, &cr), 1);
		ck_assert_int_eq(cr.rec.offset, i);
	}
	ck_assert_int_eq(logd_consumer_seek(cs, topic, 0, 1), 0);
	ck_assert_int_eq(logd_consumer_poll(cs, 5000, &cr), 1);
	ck_assert_int_eq(cr.rec.offset, 1);
	ck_assert_int_eq(logd_consumer_seek(cs, topic, 0, 20), 0);
	/* At the tail: what comes later, in order, past empty replies. */
	ck_assert_int_eq(logd_consumer_poll(cs, 300, &cr), 0);
	ck_assert_int_eq(logd_producer_new(cc, NULL, &p), 0);
	for (i = 0; i < 30; i++)
		ck_assert_int_eq(logd_producer_send(p, &m), 0);
	ck_assert_int_eq(logd_producer_flush(p), 0);
	for (i = 20; i < 50; i++) {
		ck_assert_int_eq(logd_consumer_poll(cs, 5000, &cr), 1);
		ck_assert_int_eq(cr.rec.offset, i);
	}
	ck_assert_int_eq(logd_producer_close(p), 0);
	logd_consumer_close(cs);
	ck_assert_int_eq(cl_inflight(cc), 0);
}

START_TEST(test_consumer_stream_seek)
{
	struct logd_client *c;

	c = connect_ok();
	create_ok(c, "sk", 1);
	create_ok(c, "sk2", 1);
	ck_assert(cl_has_api(c, LOGD_API_FETCH_CREDIT));
	stream_consume(c, "sk", 0);
	logd_client_close(c);
	c = connect_ok();
	stream_consume(c, "sk2", 1);
	logd_client_close(c);
}
END_TEST

/*
 * A broker that stops answering (SIGSTOP: a hung host): a request on a
 * connection that also carries a consumer's stream (which never expires)
 * still times out, a producer's flush fails with LOGD_ETIMEDOUT after the
 * request timeout, and a consumer's poll returns when its own timeout is
 * up: nothing waits for ever.
 */
START_TEST(test_stopped_broker)
{
	struct logd_client_options copt = { .request_timeout_ms = 400 };
	struct logd_consumer_options co = { .max_wait_ms = 200 };
	struct logd_message m = { .topic = "hung", .partition = 0,
		.value = "x", .value_len = 1 };
	struct logd_consumer_record cr;
	struct logd_consumer *cs;
	struct logd_producer *p;
	struct logd_client *pc, *cc;
	struct logd_stats st;
	int64_t t0, took_stats, took_flush, took_poll;
	int r, rs, rp;

	ck_assert_int_eq(logd_client_open(T.addr, &copt, &pc), 0);
	ck_assert_int_eq(logd_client_open(T.addr, &copt, &cc), 0);
	create_ok(pc, "hung", 1);
	ck_assert(cl_has_api(cc, LOGD_API_FETCH_CREDIT));
	ck_assert_int_eq(logd_producer_new(pc, NULL, &p), 0);
	ck_assert_int_eq(logd_consumer_new(cc, &co, &cs), 0);
	ck_assert_int_eq(logd_consumer_assign(cs, "hung", 0, 0), 0);
	ck_assert_int_eq(logd_producer_send(p, &m), 0);
	ck_assert_int_eq(logd_producer_flush(p), 0);
	ck_assert_int_eq(logd_consumer_poll(cs, 5000, &cr), 1);
	/* the stream stays open at the tail; then logd stops answering */
	ck_assert_int_eq(logd_consumer_poll(cs, 100, &cr), 0);
	ck_assert_int_gt(cl_inflight(cc), 0);
	ck_assert_int_eq(kill(T.pid, SIGSTOP), 0);
	t0 = ms_now();
	rs = logd_client_stats(cc, &st);
	took_stats = ms_now() - t0;
	t0 = ms_now();
	rp = logd_producer_send(p, &m);
	if (rp == 0)
		rp = logd_producer_flush(p);
	took_flush = ms_now() - t0;
	t0 = ms_now();
	r = logd_consumer_poll(cs, 1000, &cr);
	took_poll = ms_now() - t0;
	kill(T.pid, SIGCONT);
	ck_assert_int_eq(rs, LOGD_ETIMEDOUT);
	ck_assert_int_ge(took_stats, 300);
	ck_assert_int_lt(took_stats, 5000);
	ck_assert_int_eq(rp, LOGD_ETIMEDOUT);
	ck_assert_int_lt(took_flush, 5000);
	ck_assert_int_le(r, 0);
	ck_assert_int_lt(took_poll, 5000);
	logd_consumer_close(cs);
	logd_producer_close(p);
	logd_client_close(cc);
	logd_client_close(pc);
}
END_TEST

/* ---- 200 concurrent clients ---- */

#define MC_PAIRS 100
#define MC_RECORDS 200

struct mc {
	int id;
	int producer;
	int ok;
	char err[200];
};

static void *
mc_run(void *arg)
{
	struct mc *w = arg;
	struct logd_client *c = NULL;
	uint8_t val[128];
	int i, r;

	r = logd_client_open(T.addr, NULL, &c);
	if (r < 0) {
		snprintf(w->err, sizeof(w->err), "connect: %s",
		    logd_strerror(r));
		return NULL;
	}
	if (w->producer) {
		struct logd_producer *p;

		r = logd_producer_new(c, NULL, &p);
		for (i = 0; r == 0 && i < MC_RECORDS; i++) {
			struct logd_message m = { .topic = "many",
				.partition = w->id, .value = val };

			m.value_len = make_value(val, i);
			r = logd_producer_send(p, &m);
			if (r == 0 && i % 50 == 49)
				r = logd_producer_flush(p);
		}
		if (r == 0)
			r = logd_producer_close(p);
		else
			logd_producer_close(p);
	} else {
		struct logd_consumer_record cr;
		struct logd_consumer *cs;

		r = logd_consumer_new(c, NULL, &cs);
		if (r == 0)
			r = logd_consumer_assign(cs, "many", w->id, 0);
		for (i = 0; r == 0 && i < MC_RECORDS; i++) {
			r = logd_consumer_poll(cs, 20000, &cr);
			if (r == 1) {
				r = cr.rec.offset == i &&
				    value_seq(&cr.rec) == i &&
				    cr.rec.value_len == make_value(val, i) &&
				    memcmp(cr.rec.value, val,
				    cr.rec.value_len) == 0 ? 0 : -EBADMSG;
			} else if (r == 0) {
				r = -ETIMEDOUT;
			}
		}
		logd_consumer_close(cs);
	}
	if (r < 0)
		snprintf(w->err, sizeof(w->err), "%s %d: %s (%s)",
		    w->producer ? "producer" : "consumer", w->id,
		    logd_strerror(r), logd_client_errmsg(c));
	else
		w->ok = 1;
	logd_client_close(c);
	return NULL;
}

START_TEST(test_many_clients)
{
	static struct mc w[2 * MC_PAIRS];
	pthread_t th[2 * MC_PAIRS];
	pthread_attr_t attr;
	struct logd_client *c;
	int i;

	c = connect_ok();
	create_ok(c, "many", MC_PAIRS);
	logd_client_close(c);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10);
	/* Consumers first, so they long-poll while producers write. */
	for (i = 0; i < 2 * MC_PAIRS; i++) {
		w[i].id = i % MC_PAIRS;
		w[i].producer = i >= MC_PAIRS;
		w[i].ok = 0;
		w[i].err[0] = '\0';
		ck_assert_int_eq(pthread_create(&th[i], &attr, mc_run, &w[i]),
		    0);
	}
	for (i = 0; i < 2 * MC_PAIRS; i++)
		pthread_join(th[i], NULL);
	pthread_attr_destroy(&attr);
	for (i = 0; i < 2 * MC_PAIRS; i++)
		ck_assert_msg(w[i].ok, "%s", w[i].err);
}
END_TEST

/* ---- one slow consumer ---- */

static long
rss_anon_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "RssAnon: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

START_TEST(test_slow_consumer)
{
	struct logd_producer_options po;
	struct logd_consumer_record cr;
	struct logd_producer *p;
	struct logd_consumer *cs;
	struct logd_client *c;
	struct logd_pbuf b;
	uint8_t val[1024];
	size_t off = 0;
	long before, after;
	int fd, i, rcv = 4096, queued = 0;
	int64_t t0;

	c = connect_ok();
	create_ok(c, "big", 1);
	create_ok(c, "other", 1);
	/* 16 MiB in "big" for the slow consumer to ask for. */
	memset(val, 'b', sizeof(val));
	logd_producer_options_default(&po);
	po.batch_bytes = 512 << 10;
	ck_assert_int_eq(logd_producer_new(c, &po, &p), 0);
	for (i = 0; i < 16384; i++) {
		struct logd_message m = { .topic = "big", .partition = 0,
			.value = val, .value_len = sizeof(val) };

		ck_assert_int_eq(logd_producer_send(p, &m), 0);
	}
	ck_assert_int_eq(logd_producer_flush(p), 0);
	before = rss_anon_kb(T.pid);
	ck_assert_int_gt(before, 0);

	/* The slow consumer: 4096 pipelined 1 MiB fetches, never read. */
	fd = testlogd_connect(&T);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	logd_pbuf_init(&b);
	for (i = 0; i < 4096; i++) {
		logd_proto_begin(&b, LOGD_API_FETCH, (uint32_t)i);
		msgpack_pack_map(&b.pk, 4);
		logd_pack_kv_str(&b.pk, "topic", "big");
		logd_pack_kv_int(&b.pk, "partition", 0);
		logd_pack_kv_int(&b.pk, "offset", (i * 997) % 16000);
		logd_pack_kv_int(&b.pk, "max_bytes", 1 << 20);
		ck_assert_int_eq(logd_proto_end(&b, 0), 0);
	}
	/* Write what the broker takes without blocking. */
	t0 = ms_now();
	while (off < b.len && ms_now() - t0 < 2000) {
		ssize_t n = send(fd, b.data + off, b.len - off,
		    MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			break;
		queued++;
		usleep(10000);
	}
	logd_pbuf_free(&b);

	/* Meanwhile everyone else gets through. */
	for (i = 0; i < 20000; i++) {
		struct logd_message m = { .topic = "other", .partition = 0,
			.value = val, .value_len = 100 };

		ck_assert_int_eq(logd_producer_send(p, &m), 0);
	}
	ck_assert_int_eq(logd_producer_close(p), 0);
	ck_assert_int_eq(logd_consumer_new(c, NULL, &cs), 0);
	ck_assert_int_eq(logd_consumer_assign(cs, "other", 0,
	    LOGD_OFFSET_EARLIEST), 0);
	t0 = ms_now();
	for (i = 0; i < 20000; i++) {
		ck_assert_int_eq(logd_consumer_poll(cs, 5000, &cr), 1);
		ck_assert_int_eq(cr.rec.offset, i);
	}
	ck_assert_msg(ms_now() - t0 < 10000, "others took %lld ms",
	    (long long)(ms_now() - t0));
	logd_consumer_close(cs);
	after = rss_anon_kb(T.pid);
	fprintf(stderr, "slow consumer: %zu request bytes taken, logd "
	    "RssAnon %ld -> %ld kB\n", off, before, after);
	ck_assert_msg(after - before < 64 * 1024,
	    "logd anonymous memory grew from %ld to %ld kB (%zu of the "
	    "requests written)", before, after, off);
	close(fd);
	logd_client_close(c);
}
END_TEST

/*
 * Topic names of 250 and 251 bytes: every refusal names the real limit,
 * 249 (create once said 250, other requests 249).
 */
START_TEST(test_name_limit)
{
	struct logd_client *c;
	struct logd_fetch *f = NULL;
	char name[260];
	size_t n;
	int64_t off;

	c = connect_ok();
	for (n = 250; n <= 251; n++) {
		memset(name, 'n', n);
		name[n] = '\0';
		ck_assert_int_lt(logd_client_topic_create(c, name, 1, NULL, 0),
		    0);
		ck_assert_msg(strstr(logd_client_errmsg(c), "249") &&
		    !strstr(logd_client_errmsg(c), "250"), "create %zu: %s", n,
		    logd_client_errmsg(c));
		ck_assert_int_lt(logd_client_fetch(c, name, 0, 0, 0, 0, &f), 0);
		ck_assert_msg(strstr(logd_client_errmsg(c), "249") &&
		    !strstr(logd_client_errmsg(c), "250"), "fetch %zu: %s", n,
		    logd_client_errmsg(c));
		ck_assert_int_lt(logd_client_list_offset(c, name, 0,
		    LOGD_OFFSET_LATEST, &off), 0);
		ck_assert_msg(strstr(logd_client_errmsg(c), "249") &&
		    !strstr(logd_client_errmsg(c), "250"), "list %zu: %s", n,
		    logd_client_errmsg(c));
	}
	memset(name, 'n', 249);
	name[249] = '\0';
	ck_assert_int_eq(logd_client_topic_create(c, name, 1, NULL, 0), 0);
	logd_client_close(c);
}
END_TEST

/*
 * logd_consumer_commit_async: commits go out without waiting and land in
 * order (the last one wins, and a later synchronous commit waits for
 * them); a failed one (its topic deleted meanwhile) is reported by the
 * next commit call, once, with the broker's message.
 */
START_TEST(test_commit_async)
{
	struct logd_consumer_options co = { .group = "asy" };
	struct logd_consumer_record cr;
	struct logd_producer *p;
	struct logd_consumer *cs;
	struct logd_client *c, *admin;
	struct logd_group *g = NULL;
	uint8_t val[128];
	int i, r;

	c = connect_ok();
	admin = connect_ok();
	create_ok(c, "asy", 1);
	ck_assert_int_eq(logd_producer_new(c, NULL, &p), 0);
	for (i = 0; i < 500; i++) {
		struct logd_message m = { .topic = "asy", .partition = 0,
			.value = val };

		m.value_len = make_value(val, i);
		ck_assert_int_eq(logd_producer_send(p, &m), 0);
	}
	ck_assert_int_eq(logd_producer_close(p), 0);
	ck_assert_int_eq(logd_consumer_new(c, &co, &cs), 0);
	ck_assert_int_eq(logd_consumer_assign(cs, "asy", 0,
	    LOGD_OFFSET_EARLIEST), 0);
	for (i = 0; i < 500; i++) {
		ck_assert_int_eq(logd_consumer_poll(cs, 5000, &cr), 1);
		if (i % 10 == 9)
			ck_assert_int_eq(logd_consumer_commit_async(cs), 0);
	}
	/* a synchronous commit after them: everything is in, in order */
	ck_assert_int_eq(logd_consumer_commit(cs), 0);
	ck_assert_int_eq(logd_client_offsets_fetch(admin, "asy", "asy", &g),
	    0);
	ck_assert_uint_eq(g->offset_count, 1);
	ck_assert_int_eq(g->offsets[0].offset, 500);
	logd_group_free(g);

	/* the topic goes: the next async commit fails at the broker */
	ck_assert_int_eq(logd_client_topic_delete(admin, "asy"), 0);
	ck_assert_int_eq(logd_consumer_commit_async(cs), 0);
	r = 0;
	for (i = 0; i < 100 && r == 0; i++) {
		(void)logd_consumer_poll(cs, 20, &cr);
		r = logd_consumer_commit_async(cs);
	}
	ck_assert_int_eq(r, LOGD_ENOTOPIC);
	ck_assert_msg(strstr(logd_client_errmsg(c), "asynchronous commit"),
	    "%s", logd_client_errmsg(c));
	logd_consumer_close(cs);
	logd_client_close(admin);
	logd_client_close(c);
}
END_TEST

static Suite *
client_suite(void)
{
	Suite *s = suite_create("client");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "produce_consume", test_produce_consume },
		{ "key_partition", test_key_partition },
		{ "admin", test_admin },
		{ "name_limit", test_name_limit },
		{ "restart", test_restart },
		{ "kill9_acks_all", test_kill9_acks_all },
		{ "long_poll", test_long_poll },
		{ "prefetch_after_handover", test_prefetch_after_handover },
		{ "consumer_stream_seek", test_consumer_stream_seek },
		{ "stopped_broker", test_stopped_broker },
		{ "many_clients", test_many_clients },
		{ "slow_consumer", test_slow_consumer },
		{ "commit_async", test_commit_async },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 60);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(client_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
