/*
 * fuzz_kafka.c - the Kafka listener: request framing, header and every
 * API's decoder and handler, in a real broker.
 *
 * The daemon runs in this process: its event loop, store (a scratch
 * datadir with small segments), group coordinator and flusher thread,
 * with topic "t" (2 partitions) made at the first input.  Each input is
 * what one client sends on one connection: it is written into one end of
 * a socketpair whose other end logd serves as a Kafka connection, the
 * loop turns until logd has read everything and is idle, then the client
 * half-closes and logd must close the connection.  Invariants:
 *   - what logd sends back is a sequence of whole response frames, each
 *     at least a correlation id, the last one complete;
 *   - their correlation ids are, in order, a subsequence of the requests'
 *     (replies in request order; acks=0 produces have none);
 *   - logd closes the connection within a bounded number of turns after
 *     the client's half-close, whatever was parked (long-poll fetches,
 *     held joins, acks=all produces);
 *   - the topics that were made can be deleted (within bounded turns).
 * Between inputs the topics an input made are deleted and the groups
 * forgotten, so inputs do not pile state up (their committed offsets stay
 * in LMDB, which is bounded by the run).
 *
 * The seed corpus (corpus/kafka/) is what real clients sent: kcat -L,
 * -P with each codec and acks, -C, -G, KafkaJS admin, producer and
 * consumer group runs, recorded by tests/fuzz/kafka_capture.py.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "broker.h"

#define MAX_REQS 4096
#define MAX_TURNS 20000

static int inited;
static char datadir[] = "/tmp/logd-fuzz-kafka-XXXXXX";
static struct listener lst = { .proto = &kafka_proto, .spec = "fuzz",
    .is_unix = 1 };

static int rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	return remove(path);
}

static void cleanup(void)
{
	if (srv.store) {
		flusher_stop();
		group_free_all();
		conn_free_dead();
		broker_free_all();
		logd_store_close(srv.store);
		srv.store = NULL;
	}
	nftw(datadir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_t(void)
{
	char msg[BROKER_MSG_MAX];

	FUZZ_CHECK(broker_topic_create("t", 2, NULL, 0, msg,
	    sizeof(msg)) == 0);
}

static void init(void)
{
	char err[256];
	struct rlimit rl;

	/* Partitions must fit the fd limit (broker_admin.c): keep it low so
	 * a CreateTopics of 10,000 partitions is refused, not made. */
	rl.rlim_cur = rl.rlim_max = 1024;
	setrlimit(RLIMIT_NOFILE, &rl);
	FUZZ_CHECK(mkdtemp(datadir) != NULL);
	atexit(cleanup);
	config_default(&srv.cfg);
	snprintf(srv.cfg.datadir, sizeof(srv.cfg.datadir), "%s", datadir);
	snprintf(srv.cfg.kafka_listen, sizeof(srv.cfg.kafka_listen),
	    "127.0.0.1:9092");
	srv.cfg.max_connections = 16;
	srv.cfg.auto_create_topics = 1;
	FUZZ_CHECK(config_set(&srv.cfg, "default.segment.bytes", "65536",
	    err, sizeof(err)) == 0);
	FUZZ_CHECK(config_set(&srv.cfg, "default.segment.index.bytes",
	    "4096", err, sizeof(err)) == 0);
	log_open(L_ERROR, NULL);
	FUZZ_CHECK(ev_init() == 0);
	srv.started_ms = ev_now();
	group_init();
	FUZZ_CHECK(logd_store_open(datadir, LOGD_STORE_CREATE, ev_wall(),
	    NULL, NULL, &srv.store) == 0);
	FUZZ_CHECK(flusher_start() == 0);
	make_t();
	inited = 1;
}

/* The correlation ids of the requests in data, framed as logd does. */
static size_t request_ids(const uint8_t *data, size_t size, int32_t *ids)
{
	size_t pos = 0, n = 0;
	uint32_t len;

	while (size - pos >= 4 && n < MAX_REQS) {
		len = (uint32_t)data[pos] << 24 | (uint32_t)data[pos + 1] << 16 |
		    (uint32_t)data[pos + 2] << 8 | data[pos + 3];
		if (len < 8 || len > size - pos - 4)
			break;
		ids[n++] = (int32_t)((uint32_t)data[pos + 8] << 24 |
		    (uint32_t)data[pos + 9] << 16 |
		    (uint32_t)data[pos + 10] << 8 | data[pos + 11]);
		pos += 4 + len;
	}
	return n;
}

struct reply {
	uint8_t *p;
	size_t len, cap;
};

/* Reads what logd sent so far; 1 once it closed its end. */
static int drain(int fd, struct reply *r)
{
	ssize_t n;

	for (;;) {
		if (r->cap - r->len < 65536) {
			r->cap = r->cap ? r->cap * 2 : 1 << 17;
			r->p = realloc(r->p, r->cap);
			FUZZ_CHECK(r->p != NULL);
		}
		n = read(fd, r->p + r->len, r->cap - r->len);
		if (n > 0) {
			r->len += (size_t)n;
			continue;
		}
		if (n == 0)
			return 1;
		FUZZ_CHECK(errno == EAGAIN || errno == EINTR ||
		    errno == ECONNRESET);
		return errno == ECONNRESET;
	}
}

static void check_replies(const struct reply *r, const int32_t *ids,
    size_t nids)
{
	size_t pos = 0, next = 0;
	uint32_t len;
	int32_t corr;

	while (pos < r->len) {
		FUZZ_CHECK(r->len - pos >= 8);
		len = (uint32_t)r->p[pos] << 24 | (uint32_t)r->p[pos + 1] << 16 |
		    (uint32_t)r->p[pos + 2] << 8 | r->p[pos + 3];
		FUZZ_CHECK(len >= 4 && len <= r->len - pos - 4);
		corr = (int32_t)((uint32_t)r->p[pos + 4] << 24 |
		    (uint32_t)r->p[pos + 5] << 16 |
		    (uint32_t)r->p[pos + 6] << 8 | r->p[pos + 7]);
		while (next < nids && ids[next] != corr)
			next++;
		FUZZ_CHECK(next < nids);      /* in request order */
		next++;
		pos += 4 + len;
	}
}

static int list_topic(void *arg, const char *name,
    const struct logd_topic_config *cfg)
{
	char (*names)[LOGD_TOPIC_NAME_MAX + 1] = arg;
	size_t i;

	if (strcmp(name, "t") == 0) {
		names[0][0] = 't';
		return 0;
	}
	for (i = 1; i < 64 && names[i][0]; i++)
		;
	if (i < 64)
		snprintf(names[i], sizeof(names[i]), "%s", name);
	return 0;
}

static int deleting;

static void deleted(struct delete_op *op)
{
	deleting--;
}

/* Deletes the topics an input made; groups are forgotten. */
static void reset(void)
{
	static char names[64][LOGD_TOPIC_NAME_MAX + 1];
	static struct delete_op ops[64];
	int i, turns;

	memset(names, 0, sizeof(names));
	FUZZ_CHECK(logd_store_topics(srv.store, list_topic, names) == 0);
	for (i = 1; i < 64 && names[i][0]; i++) {
		memset(&ops[i], 0, sizeof(ops[i]));
		ops[i].topic = names[i];
		ops[i].done = deleted;
		deleting++;
		broker_topic_delete(&ops[i]);
	}
	for (turns = 0; deleting && turns < 10000; turns++)
		ev_turn(1, server_before_sleep);
	FUZZ_CHECK(deleting == 0);
	group_free_all();
	group_init();
	if (!names[0][0])          /* an input deleted it */
		make_t();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int32_t ids[MAX_REQS];
	struct reply r = { 0 };
	size_t nids, off = 0, seen = (size_t)-1;
	int sv[2], turns, idle = 0, closed = 0, halfclosed = 0;
	ssize_t n;

	if (!inited)
		init();
	if (size > 1 << 20)
		return 0;
	nids = request_ids(data, size, ids);
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv) == 0);
	conn_accept(sv[1], &lst);
	FUZZ_CHECK(srv.conns != NULL);
	for (turns = 0; turns < MAX_TURNS && !closed; turns++) {
		if (off < size) {
			n = write(sv[0], data + off, size - off);
			FUZZ_CHECK(n > 0 || errno == EAGAIN || errno == EPIPE ||
			    errno == ECONNRESET);
			if (n > 0)
				off += (size_t)n;
			else if (errno != EAGAIN)
				off = size;     /* logd closed: stop sending */
		}
		ev_turn(1, server_before_sleep);
		closed = drain(sv[0], &r);
		/* Idle: nothing left to send and nothing came for 3 turns. */
		if (off == size && r.len == seen)
			idle++;
		else
			idle = 0;
		seen = r.len;
		if (idle >= 3 && !halfclosed) {
			shutdown(sv[0], SHUT_WR);
			halfclosed = 1;
			idle = 0;
		}
	}
	FUZZ_CHECK(closed);
	for (turns = 0; srv.conns && turns < 100; turns++)
		ev_turn(1, server_before_sleep);
	FUZZ_CHECK(srv.conns == NULL);
	conn_free_dead();
	close(sv[0]);
	check_replies(&r, ids, nids);
	if (getenv("FUZZ_KAFKA_VERBOSE"))
		fprintf(stderr, "fuzz_kafka: %zu bytes, %zu requests: %zu "
		    "bytes back in %d turns\n", size, nids, r.len, turns);
	free(r.p);
	reset();
	return 0;
}
