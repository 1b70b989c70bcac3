/*
 * logbench - throughput and latency benchmarks for a logd broker, in the
 * spirit of Kafka's producer and consumer perf tools.
 *
 *   logbench produce   records/s and MB/s for a record size, batch size,
 *                      acks and number of producers (threads, each with
 *                      its own connection)
 *   logbench consume   records/s reading a topic from the start, plain
 *                      or as a group committing offsets as it goes
 *   logbench latency   end-to-end latency percentiles at a fixed rate:
 *                      a producer and a consumer in one thread on two
 *                      connections, the send time inside each record;
 *                      against logd, or (--peer) the bare relay below
 *                      or Redis Streams, through the same loop
 *   logbench relay     a loopback relay that copies what a producer
 *                      sends to its consumers: the latency floor
 *
 * Each test prints one JSON object on stdout; errors go to stderr.  The
 * topic is created when missing.  logbench only talks to a running logd
 * (-b ADDR); it never starts one.  The latency loop is cmd_latency();
 * what carries its records is a peer (logbench.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logd.h"
#include "logbench.h"
#include "tool.h"

struct opts {
	const char *addr;
	const char *topic;
	const char *group;
	int32_t partitions;
	uint64_t records;
	size_t size;
	size_t batch_bytes;
	int32_t batch_records;
	int acks;
	int producers;
	int linger_ms;
	int in_flight;
	double rate;
	double seconds;
	int commit_ms;
	uint64_t commit_every;     /* records between commits; 0: commit_ms */
	int commit_async;
	size_t fetch_bytes;
	int addr_set;              /* -b given: the peer's default otherwise */
	const struct lb_peer_ops *peer;   /* latency: whom to measure */
	double warmup;             /* latency: seconds; < 0: the default */
	const char *listen;        /* relay: the address to listen on */
};

/* getopt values of the options with no letter */
enum {
	OPT_ADDR = 256, OPT_COMMIT, OPT_FETCH, OPT_PRODUCERS, OPT_SIZE,
	OPT_PEER, OPT_WARMUP,
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: logbench produce [-a acks] [-b addr] [-c records] "
	    "[-I in_flight]\n"
	    "                        [-L linger_ms] [-p partitions] "
	    "[-t topic] [-z batch]\n"
	    "                        [--producers N] [--size bytes]\n"
	    "       logbench consume [-b addr] [-c records] [-g group] "
	    "[-t topic]\n"
	    "                        [--commit-ms ms] [--commit-every N] "
	    "[--async-commit]\n"
	    "                        [--fetch-bytes bytes]\n"
	    "       logbench latency [-a acks] [-b addr] [-D seconds] "
	    "[-p partitions]\n"
	    "                        [-r rate] [-t topic] [--size bytes]\n"
	    "                        [--peer logd|relay|redis] "
	    "[--warmup seconds]\n"
	    "       logbench relay [-l addr]\n"
	    "       logbench -h | -V\n"
	    "  -a, --acks ACKS       acks: 0, 1 or all (default 1)\n"
	    "  -b, --broker ADDR     broker (default $LOGD_BROKER or %s)\n"
	    "      --addr ADDR       an old spelling of --broker\n"
	    "  -c, --count N         count: records to send or read\n"
	    "      --commit-ms MS    ms between group commits (consume -g; "
	    "default 100)\n"
	    "      --commit-every N  commit every N records instead (consume -g)\n"
	    "      --async-commit    commit without waiting (consume -g)\n"
	    "  -D, --duration SECONDS  duration of the latency test "
	    "(default 10)\n"
	    "      --fetch-bytes N   bytes asked for by each fetch "
	    "(default 1048576)\n"
	    "  -g, --group GROUP     consume as this consumer group, "
	    "committing\n"
	    "  -I, --in-flight N     produce requests in flight per "
	    "producer\n"
	    "  -l, --listen ADDR     relay: the address to listen on "
	    "(default %s)\n"
	    "  -L, --linger MS       linger to fill a batch\n"
	    "  -p, --partitions N    partitions if the topic is created "
	    "(default 1)\n"
	    "      --peer PEER       latency: logd (default), relay or redis\n"
	    "      --producers N     producer threads (produce)\n"
	    "  -r, --rate RATE       records per second (latency; default "
	    "10000)\n"
	    "      --size BYTES      value size (default 100)\n"
	    "  -t, --topic TOPIC     topic (default logbench)\n"
	    "      --warmup SECONDS  latency: seconds not counted "
	    "(default -D/10, <= 0.5)\n"
	    "  -z, --batch BATCH     batch: records, or bytes with k, m or B "
	    "(default 256k)\n"
	    "  -h, --help            print this help and exit\n"
	    "  -V, --version         print the version and exit\n",
	    LOGD_DEFAULT_ADDR, LB_RELAY_DEFAULT_ADDR);
}

/* "1000" (records) or "256k" / "1m" / "4096B" (bytes). */
static int
parse_batch(const char *s, struct opts *o)
{
	char *e;
	unsigned long long v = strtoull(s, &e, 10);

	if (e == s || v == 0)
		return -1;
	if (*e == '\0') {
		if (v > INT32_MAX)
			return -1;
		o->batch_records = (int32_t)v;
		o->batch_bytes = LOGD_BATCH_MAX_SIZE / 2;
		return 0;
	}
	if ((*e == 'k' || *e == 'K') && e[1] == '\0')
		v <<= 10;
	else if ((*e == 'm' || *e == 'M') && e[1] == '\0')
		v <<= 20;
	else if (!(*e == 'B' && e[1] == '\0'))
		return -1;
	if (v > LOGD_BATCH_MAX_SIZE / 2)
		return -1;
	o->batch_bytes = (size_t)v;
	o->batch_records = 0;
	return 0;
}

static int
parse_u64(const char *s, uint64_t *v)
{
	char *e;

	errno = 0;
	*v = strtoull(s, &e, 10);
	return e == s || *e != '\0' || errno != 0 ? -1 : 0;
}

int
lb_connect(const char *addr, struct logd_client **c)
{
	int r = logd_client_open(addr, NULL, c);

	if (r < 0)
		fprintf(stderr, "logbench: cannot connect to %s: %s\n",
		    addr, logd_strerror(r));
	return r;
}

int
lb_ensure_topic(struct logd_client *c, const char *topic, int32_t partitions,
    char *err, size_t err_size)
{
	int r = logd_client_topic_create(c, topic, partitions, NULL, 0);

	if (r < 0 && r != LOGD_ETOPICEXIST) {
		snprintf(err, err_size, "create topic %s: %s", topic,
		    logd_client_errmsg(c));
		return r;
	}
	return 0;
}

static const char *
acks_name(int acks)
{
	return acks == LOGD_ACKS_ALL ? "all" : acks == 0 ? "0" : "1";
}

/* ---- produce ---- */

struct prod_thread {
	const struct opts *o;
	uint64_t n;
	pthread_barrier_t *start;
	struct logd_producer_stats st;
	int err;
	char msg[256];
};

static void *
prod_run(void *arg)
{
	struct prod_thread *pt = arg;
	const struct opts *o = pt->o;
	struct logd_producer_options po;
	struct logd_producer *p = NULL;
	struct logd_client *c = NULL;
	struct logd_message m;
	uint8_t *value;
	uint64_t i;
	int r;

	value = malloc(o->size ? o->size : 1);
	if (value == NULL) {
		pt->err = -ENOMEM;
		pthread_barrier_wait(pt->start);
		return NULL;
	}
	for (i = 0; i < o->size; i++)
		value[i] = (uint8_t)('a' + i % 26);
	r = logd_client_open(o->addr, NULL, &c);
	if (r == 0) {
		logd_producer_options_default(&po);
		po.acks = o->acks;
		po.linger_ms = o->linger_ms;
		po.batch_bytes = o->batch_bytes;
		po.batch_records = o->batch_records;
		po.max_in_flight = o->in_flight;
		r = logd_producer_new(c, &po, &p);
	}
	pthread_barrier_wait(pt->start);
	if (r < 0)
		goto out;
	memset(&m, 0, sizeof(m));
	m.topic = o->topic;
	m.partition = LOGD_PARTITION_ANY;
	m.value = value;
	m.value_len = o->size;
	for (i = 0; i < pt->n && r == 0; i++)
		r = logd_producer_send(p, &m);
	if (r == 0)
		r = logd_producer_flush(p);
	logd_producer_stats(p, &pt->st);
out:
	if (r < 0) {
		pt->err = r;
		snprintf(pt->msg, sizeof(pt->msg), "%s",
		    c ? logd_client_errmsg(c) : logd_strerror(r));
	}
	logd_producer_close(p);
	logd_client_close(c);
	free(value);
	return NULL;
}

static int
cmd_produce(const struct opts *o)
{
	struct prod_thread *pt;
	pthread_barrier_t start;
	pthread_t *tid;
	struct logd_client *c;
	uint64_t acked = 0, failed = 0, requests = 0, bytes = 0;
	double t0, t1;
	char msg[300];
	int i, err = 0;

	if (lb_connect(o->addr, &c) < 0)
		return 1;
	if (lb_ensure_topic(c, o->topic, o->partitions, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "logbench: %s\n", msg);
		return 1;
	}
	logd_client_close(c);
	pt = calloc((size_t)o->producers, sizeof(*pt));
	tid = calloc((size_t)o->producers, sizeof(*tid));
	if (pt == NULL || tid == NULL)
		return 1;
	pthread_barrier_init(&start, NULL, (unsigned)o->producers + 1);
	for (i = 0; i < o->producers; i++) {
		pt[i].o = o;
		pt[i].n = o->records / (uint64_t)o->producers +
		    ((uint64_t)i < o->records % (uint64_t)o->producers);
		pt[i].start = &start;
		if (pthread_create(&tid[i], NULL, prod_run, &pt[i]) != 0) {
			fprintf(stderr, "logbench: cannot start a thread\n");
			exit(1);
		}
	}
	pthread_barrier_wait(&start);
	t0 = tool_mono_s();
	for (i = 0; i < o->producers; i++)
		pthread_join(tid[i], NULL);
	t1 = tool_mono_s();
	for (i = 0; i < o->producers; i++) {
		if (pt[i].err != 0) {
			fprintf(stderr, "logbench: producer %d: %s\n", i,
			    pt[i].msg);
			err = 1;
		}
		acked += pt[i].st.records_acked;
		failed += pt[i].st.records_failed;
		requests += pt[i].st.requests;
		bytes += pt[i].st.bytes;
	}
	printf("{\"test\":\"produce\",\"topic\":\"%s\",\"records\":%" PRIu64
	    ",\"record_size\":%zu,\"acks\":\"%s\",\"producers\":%d,"
	    "\"batch_bytes\":%zu,\"batch_records\":%d,\"linger_ms\":%d,"
	    "\"seconds\":%.3f,\"records_per_sec\":%.0f,\"mb_per_sec\":%.1f,"
	    "\"requests\":%" PRIu64 ",\"batch_bytes_sent\":%" PRIu64
	    ",\"acked\":%" PRIu64 ",\"failed\":%" PRIu64 "}\n",
	    o->topic, o->records, o->size, acks_name(o->acks), o->producers,
	    o->batch_bytes, o->batch_records, o->linger_ms, t1 - t0,
	    (double)o->records / (t1 - t0),
	    (double)o->records * (double)o->size / (t1 - t0) / 1e6,
	    requests, bytes, acked, failed);
	pthread_barrier_destroy(&start);
	free(pt);
	free(tid);
	return err || failed ? 1 : 0;
}

/* ---- consume ---- */

/* Records currently stored in topic (sum over partitions). */
static int
topic_records(struct logd_client *c, const char *topic, uint64_t *n)
{
	struct logd_metadata *md;
	uint64_t sum = 0;
	int32_t i;
	int r;

	r = logd_client_metadata(c, &topic, 1, &md);
	if (r < 0)
		return r;
	if (md->topic_count != 1 || md->topics[0].error != 0) {
		r = md->topic_count == 1 ? md->topics[0].error : LOGD_ENOTOPIC;
		logd_metadata_free(md);
		return r;
	}
	for (i = 0; i < md->topics[0].partition_count; i++) {
		const struct logd_partition_meta *pm =
		    &md->topics[0].partitions[i];

		sum += (uint64_t)(pm->end_offset - pm->start_offset);
	}
	logd_metadata_free(md);
	*n = sum;
	return 0;
}

static int
cmd_consume(const struct opts *o)
{
	struct logd_consumer_options co;
	struct logd_consumer *cs = NULL;
	struct logd_consumer_record rec;
	struct logd_client *c;
	uint64_t n = o->records, got = 0, bytes = 0, commits = 0;
	double t0, t1, last_commit;
	int r;

	if (lb_connect(o->addr, &c) < 0)
		return 1;
	if (n == 0 && (r = topic_records(c, o->topic, &n)) < 0) {
		fprintf(stderr, "logbench: topic %s: %s\n", o->topic,
		    logd_client_errmsg(c));
		return 1;
	}
	memset(&co, 0, sizeof(co));
	co.group = o->group;
	co.max_bytes = o->fetch_bytes;
	r = logd_consumer_new(c, &co, &cs);
	if (r == 0)
		r = logd_consumer_assign(cs, o->topic, LOGD_PARTITION_ANY,
		    LOGD_OFFSET_EARLIEST);
	if (r < 0)
		goto fail;
	t0 = last_commit = tool_mono_s();
	while (got < n) {
		r = logd_consumer_poll(cs, 5000, &rec);
		if (r < 0)
			goto fail;
		if (r == 0) {
			fprintf(stderr, "logbench: no record for 5 s after "
			    "%" PRIu64 " of %" PRIu64 "\n", got, n);
			break;
		}
		got++;
		bytes += rec.rec.value_len + rec.rec.key_len;
		if (o->group != NULL && (o->commit_every ?
		    got % o->commit_every == 0 : (got & 1023) == 0 &&
		    tool_mono_s() - last_commit >= o->commit_ms / 1000.0)) {
			r = o->commit_async ? logd_consumer_commit_async(cs) :
			    logd_consumer_commit(cs);
			if (r < 0)
				goto fail;
			commits++;
			last_commit = tool_mono_s();
		}
	}
	if (o->group != NULL) {
		if ((r = logd_consumer_commit(cs)) < 0)
			goto fail;
		commits++;
	}
	t1 = tool_mono_s();
	printf("{\"test\":\"consume\",\"topic\":\"%s\",\"group\":%s%s%s,"
	    "\"records\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"seconds\":%.3f,"
	    "\"records_per_sec\":%.0f,\"mb_per_sec\":%.1f,\"commits\":%"
	    PRIu64 "}\n", o->topic, o->group ? "\"" : "",
	    o->group ? o->group : "null", o->group ? "\"" : "", got, bytes,
	    t1 - t0, (double)got / (t1 - t0), (double)bytes / (t1 - t0) / 1e6,
	    commits);
	logd_consumer_close(cs);
	logd_client_close(c);
	return got == n ? 0 : 1;
fail:
	fprintf(stderr, "logbench: consume: %s\n", logd_client_errmsg(c));
	logd_consumer_close(cs);
	logd_client_close(c);
	return 1;
}

/* ---- latency ---- */

/*
 * A record's value starts with the monotonic time it was sent and its
 * number from 0 (8 bytes each, in host order: this process reads them
 * back); zeros fill it to --size.
 */
#define LAT_HEAD 16

struct lat {
	uint32_t *us;             /* one per record received after warm-up */
	size_t n, cap;
	int64_t warm_ns;          /* records sent before this are not counted */
	uint64_t received;
	uint32_t max_us;          /* the largest of us[] ... */
	uint64_t max_at;          /* ... and its record's number */
};

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint32_t
pct(const struct lat *l, double q)
{
	size_t i;

	if (l->n == 0)
		return 0;
	i = (size_t)(q * (double)(l->n - 1) + 0.5);
	return l->us[i];
}

/* lb_recv_fn: one record is back. */
static int
lat_got(void *arg, const uint8_t *value, size_t len)
{
	struct lat *l = arg;
	int64_t sent, now = tool_mono_ns();
	uint64_t seq;
	uint32_t us;

	l->received++;
	if (len < LAT_HEAD)
		return 0;
	memcpy(&sent, value, 8);
	memcpy(&seq, value + 8, 8);
	if (sent < l->warm_ns)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 65536;
		uint32_t *v = realloc(l->us, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		l->us = v;
		l->cap = cap;
	}
	us = (uint32_t)((now - sent) / 1000);
	if (l->n == 0 || us > l->max_us) {
		l->max_us = us;
		l->max_at = seq;
	}
	l->us[l->n++] = us;
	return 0;
}

static void
lat_print(const struct opts *o, const struct lb_peer *p, double warmup,
    size_t size, uint64_t sent, struct lat *l)
{
	qsort(l->us, l->n, sizeof(*l->us), cmp_u32);
	printf("{\"test\":\"latency\",\"peer\":\"%s\",\"topic\":\"%s\","
	    "\"acks\":%s%s%s,\"rate\":%.0f,\"seconds\":%.1f,\"warmup\":%.3f,"
	    "\"record_size\":%zu,\"sent\":%" PRIu64 ",\"received\":%" PRIu64
	    ",\"measured\":%zu,\"p50_us\":%u,\"p99_us\":%u,\"p999_us\":%u,"
	    "\"max_us\":%u,\"max_at\":%" PRIu64 ",\"requests\":%" PRIu64 "}\n",
	    p->ops->name, o->topic, p->ops->has_acks ? "\"" : "",
	    p->ops->has_acks ? acks_name(o->acks) : "null",
	    p->ops->has_acks ? "\"" : "", o->rate, o->seconds, warmup, size,
	    sent, l->received, l->n, pct(l, 0.5), pct(l, 0.99),
	    pct(l, 0.999), l->max_us, l->max_at, p->requests);
}

/*
 * Sends o->rate records a second for o->seconds through the peer and
 * takes each one back, in one thread: the send timer and the peer's
 * sockets wake one ppoll().  Every peer runs this same loop.
 */
static int
cmd_latency(const struct opts *o)
{
	struct lb_peer_conf pc = {
		o->addr_set || o->peer == &lb_peer_logd ? o->addr :
		    o->peer->default_addr,
		o->topic, o->partitions, o->acks,
	};
	struct lb_peer *p = NULL;
	struct lat l = { 0 };
	int64_t t0, next, end, interval, now;
	uint64_t sent = 0;
	size_t size = o->size < LAT_HEAD ? LAT_HEAD : o->size;
	/* By default the first tenth of the run (at most 0.5 s) warms up. */
	double warmup = o->warmup >= 0 ? o->warmup : o->seconds / 10 < 0.5 ?
	    o->seconds / 10 : 0.5;
	char err[300];
	uint8_t *value;
	int r;

	if (warmup >= o->seconds) {
		fprintf(stderr, "logbench: --warmup %.3f: not shorter than the "
		    "run (-D %.3f)\n", warmup, o->seconds);
		return 2;
	}
	if ((value = calloc(1, size)) == NULL)
		return 1;
	if ((r = o->peer->open(&pc, &p, err, sizeof(err))) < 0) {
		fprintf(stderr, "logbench: %s: %s\n", o->peer->name, err);
		free(value);
		return 1;
	}
	p->err[0] = '\0';
	interval = (int64_t)(1e9 / o->rate);
	t0 = tool_mono_ns();
	l.warm_ns = t0 + (int64_t)(warmup * 1e9);
	end = t0 + (int64_t)(o->seconds * 1e9);
	next = t0;
	for (;;) {
		struct pollfd pfd[4];
		int64_t wait_ns;
		size_t nfd;

		now = tool_mono_ns();
		while (now >= next && next < end) {
			memcpy(value, &now, 8);
			memcpy(value + 8, &sent, 8);
			if ((r = p->ops->send(p, value, size)) < 0)
				goto fail;
			sent++;
			next += interval;
			now = tool_mono_ns();
		}
		if ((r = p->ops->io(p, lat_got, &l)) < 0)
			goto fail;
		if (next >= end && l.received >= sent)
			break;
		if (now > end + 5000000000LL) {
			fprintf(stderr, "logbench: %" PRIu64 " records never "
			    "arrived\n", sent - l.received);
			break;
		}
		nfd = p->ops->fds(p, pfd, 4);
		wait_ns = next < end ? next - tool_mono_ns() : 1000000;
		if (wait_ns > 0) {
			struct timespec ts = { wait_ns / 1000000000,
				wait_ns % 1000000000 };

			ppoll(pfd, nfd, &ts, NULL);
		}
	}
	lat_print(o, p, warmup, size, sent, &l);
	p->ops->close(p);
	free(l.us);
	free(value);
	return l.received >= sent ? 0 : 1;
fail:
	fprintf(stderr, "logbench: %s: %s\n", o->peer->name, p->err[0] ?
	    p->err : r == -ENOMEM ? "out of memory" : logd_strerror(r));
	p->ops->close(p);
	free(l.us);
	free(value);
	return 1;
}

/*
 * One option into *o: 0, -1 for a bad value, 1 for -h, 2 for an unknown
 * option, 3 for -V, 4 for a -b that reads as a batch size (-z now), 5
 * for an unknown --peer.
 */
static int
set_opt(struct opts *o, int ch, const char *arg)
{
	uint64_t v;

	switch (ch) {
	case OPT_ADDR:   /* the old spelling of -b */
	case 'b':
		/* -b was the batch size before it meant the broker, as in
		 * every other tool: say so rather than dial "1000". */
		if (ch == 'b' && strpbrk(arg, ":/.") == NULL &&
		    parse_batch(arg, &(struct opts){ 0 }) == 0)
			return 4;
		o->addr = arg;
		o->addr_set = 1;
		break;
	case 'l':
		o->listen = arg;
		break;
	case OPT_PEER:
		if ((o->peer = lb_peer_find(arg)) == NULL)
			return 5;
		break;
	case OPT_WARMUP: {
		char *e;

		o->warmup = strtod(arg, &e);
		if (e == arg || *e != '\0' ||
		    !(o->warmup >= 0 && o->warmup <= 86400))
			return -1;
		break;
	}
	case 'Y':
		o->commit_async = 1;
		break;
	case 'E': {
		char *e;
		unsigned long long every = strtoull(arg, &e, 10);

		if (e == arg || *e || every == 0)
			return -1;
		o->commit_every = every;
		break;
	}
	case 'a':
		if (strcmp(arg, "all") == 0 ||
		    strcmp(arg, "-1") == 0)
			o->acks = LOGD_ACKS_ALL;
		else if (strcmp(arg, "0") == 0 ||
		    strcmp(arg, "1") == 0)
			o->acks = arg[0] - '0';
		else
			return -1;
		break;
	case 'z':
		if (parse_batch(arg, o) < 0)
			return -1;
		break;
	case OPT_COMMIT:
		if (parse_u64(arg, &v) < 0 || v > 3600000)
			return -1;
		o->commit_ms = (int)v;
		break;
	case 'D':
		o->seconds = strtod(arg, NULL);
		if (!(o->seconds > 0 && o->seconds <= 86400))
			return -1;
		break;
	case 'g':
		o->group = arg;
		break;
	case 'h':
		return 1;
	case 'V':
		return 3;
	case 'I':
		if (parse_u64(arg, &v) < 0 || v == 0 || v > 4096)
			return -1;
		o->in_flight = (int)v;
		break;
	case 'L':
		if (parse_u64(arg, &v) < 0 || v > 60000)
			return -1;
		o->linger_ms = (int)v;
		break;
	case OPT_FETCH:
		if (parse_u64(arg, &v) < 0 || v == 0 ||
		    v > LOGD_BATCH_MAX_SIZE)
			return -1;
		o->fetch_bytes = (size_t)v;
		break;
	case 'c':
		if (parse_u64(arg, &o->records) < 0)
			return -1;
		break;
	case 'p':
		if (parse_u64(arg, &v) < 0 || v == 0 || v > 10000)
			return -1;
		o->partitions = (int32_t)v;
		break;
	case OPT_PRODUCERS:
		if (parse_u64(arg, &v) < 0 || v == 0 || v > 1024)
			return -1;
		o->producers = (int)v;
		break;
	case 'r':
		o->rate = strtod(arg, NULL);
		if (!(o->rate > 0 && o->rate <= 1e7))
			return -1;
		break;
	case OPT_SIZE:
		if (parse_u64(arg, &v) < 0 || v > (1u << 20))
			return -1;
		o->size = (size_t)v;
		break;
	case 't':
		if (logd_topic_name_check(arg) < 0)
			return -1;
		o->topic = arg;
		break;
	default:
		return 2;
	}	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "acks", required_argument, NULL, 'a' },
		{ "addr", required_argument, NULL, OPT_ADDR },
		{ "async-commit", no_argument, NULL, 'Y' },
		{ "commit-every", required_argument, NULL, 'E' },
		{ "batch", required_argument, NULL, 'z' },
		{ "broker", required_argument, NULL, 'b' },
		{ "commit-ms", required_argument, NULL, OPT_COMMIT },
		{ "count", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'D' },
		{ "fetch-bytes", required_argument, NULL, OPT_FETCH },
		{ "group", required_argument, NULL, 'g' },
		{ "in-flight", required_argument, NULL, 'I' },
		{ "linger", required_argument, NULL, 'L' },
		{ "listen", required_argument, NULL, 'l' },
		{ "partitions", required_argument, NULL, 'p' },
		{ "peer", required_argument, NULL, OPT_PEER },
		{ "producers", required_argument, NULL, OPT_PRODUCERS },
		{ "rate", required_argument, NULL, 'r' },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "topic", required_argument, NULL, 't' },
		{ "warmup", required_argument, NULL, OPT_WARMUP },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = {
		.addr = LOGD_DEFAULT_ADDR, .topic = "logbench",
		.partitions = 1, .records = 0, .size = 100,
		.batch_bytes = 256u << 10, .acks = 1, .producers = 1,
		.in_flight = 0, .rate = 10000, .seconds = 10,
		.commit_ms = 100, .fetch_bytes = 1u << 20,
		.peer = &lb_peer_logd, .warmup = -1,
		.listen = LB_RELAY_DEFAULT_ADDR,
	};
	const char *cmd;
	int ch, ch2;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("logbench %s\n", LOGD_VERSION_STRING);
		return 0;
	}
	/* Like the other tools: $LOGD_BROKER unless -b is given. */
	if (getenv("LOGD_BROKER") != NULL && *getenv("LOGD_BROKER") != '\0')
		o.addr = getenv("LOGD_BROKER");
	cmd = argv[1];
	argv++;
	argc--;
	while ((ch = getopt_long(argc, argv, "a:b:c:D:g:hI:l:L:p:r:t:Vz:",
	    longopts, NULL)) != -1) {
		int r = set_opt(&o, ch, optarg);

		if (r == 1) {
			usage(stdout);
			return 0;
		}
		if (r == 3) {
			printf("logbench %s\n", LOGD_VERSION_STRING);
			return 0;
		}
		if (r == 4) {
			fprintf(stderr, "logbench: -b %s: -b is the broker "
			    "address now, as in the other tools; the batch "
			    "size is -z\n", optarg);
			return 2;
		}
		if (r == 2) {
			usage(stderr);
			return 2;
		}
		if (r == 5) {
			fprintf(stderr, "logbench: --peer %s: not a peer; one "
			    "of logd, relay, redis\n", optarg);
			return 2;
		}
		if (r < 0)
			goto bad;
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (strcmp(cmd, "produce") == 0) {
		if (o.records == 0)
			o.records = 1000000;
		return cmd_produce(&o);
	}
	if (strcmp(cmd, "consume") == 0)
		return cmd_consume(&o);
	if (strcmp(cmd, "latency") == 0)
		return cmd_latency(&o);
	if (strcmp(cmd, "relay") == 0)
		return lb_relay_main(o.listen);
	fprintf(stderr, "logbench: unknown test \"%s\"\n", cmd);
	usage(stderr);
	return 2;
bad:
	if (ch >= OPT_ADDR) {
		for (ch2 = 0; longopts[ch2].name != NULL; ch2++)
			if (longopts[ch2].val == ch)
				break;
		fprintf(stderr, "logbench: bad value for --%s: %s\n",
		    longopts[ch2].name, optarg);
	} else if (ch == 'a' && strpbrk(optarg, ":/") != NULL)
		/* -a was the broker before it meant acks, as elsewhere */
		fprintf(stderr, "logbench: -a %s: -a is the acks now, as in "
		    "the other tools; the broker is -b\n", optarg);
	else
		fprintf(stderr, "logbench: bad value for -%c: %s\n", ch,
		    optarg);
	return 2;
}
