/*
 * kprod.c - a librdkafka producer for the Kafka listener tests.
 *
 * kcat cannot choose a record's timestamp and says nothing about which
 * records were acknowledged, so the tests that need either use this.
 * It sends COUNT records, record i with key "k<i>" (8 digits) and value
 * "v<i>" padded with '.' to SIZE bytes, optionally with timestamp
 * TS0 + i * STEP, at most RATE records a second, and prints one line per
 * delivery report as librdkafka hands it over:
 *
 *     ack PARTITION OFFSET KEY
 *     nack KEY ERROR-NAME
 *
 * stdout is flushed after every line, so when logd is killed the lines
 * printed so far are exactly the records it acknowledged.  librdkafka
 * properties are passed with -X (acks, compression.codec, ...).  Exit
 * status: 0 every record acknowledged, 1 some were not, 2 bad usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

static long acked, failed;

static void usage(void)
{
	fprintf(stderr, "usage: kprod -b broker -t topic [-n count] "
	    "[-s size] [-p partition] [-T ts0] [-S step_ms] [-r rate] "
	    "[-X prop=value ...]\n");
	exit(2);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	if (m->err) {
		printf("nack %.*s %s\n", (int)m->key_len, (const char *)m->key,
		    rd_kafka_err2name(m->err));
		failed++;
	} else {
		printf("ack %" PRId32 " %" PRId64 " %.*s\n", m->partition,
		    m->offset, (int)m->key_len, (const char *)m->key);
		acked++;
	}
	fflush(stdout);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
	char err[256];

	if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) !=
	    RD_KAFKA_CONF_OK) {
		fprintf(stderr, "kprod: %s=%s: %s\n", k, v, err);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const char *topic = NULL;
	long count = 1000, size = 16, rate = 0, i;
	int64_t ts0 = 0, step = 1000;
	int32_t part = RD_KAFKA_PARTITION_UA;
	char err[256], key[32], *val, *eq;
	rd_kafka_t *rk;
	double start;
	int ch;

	set(conf, "message.timeout.ms", "10000");
	set(conf, "linger.ms", "5");
	while ((ch = getopt(argc, argv, "b:t:n:s:p:T:S:r:X:")) != -1) {
		switch (ch) {
		case 'b': set(conf, "bootstrap.servers", optarg); break;
		case 't': topic = optarg; break;
		case 'n': count = atol(optarg); break;
		case 's': size = atol(optarg); break;
		case 'p': part = atoi(optarg); break;
		case 'T': ts0 = strtoll(optarg, NULL, 10); break;
		case 'S': step = strtoll(optarg, NULL, 10); break;
		case 'r': rate = atol(optarg); break;
		case 'X':
			if (!(eq = strchr(optarg, '=')))
				usage();
			*eq = '\0';
			set(conf, optarg, eq + 1);
			break;
		default: usage();
		}
	}
	if (!topic || count < 0 || size < 9 || optind != argc)
		usage();
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "kprod: %s\n", err);
		return 2;
	}
	if (!(val = malloc(size + 1)))
		return 1;
	start = now_s();
	for (i = 0; i < count; i++) {
		rd_kafka_resp_err_t e;

		snprintf(key, sizeof(key), "k%08ld", i);
		memset(val, '.', size);
		val[snprintf(val, size + 1, "v%08ld", i)] = '.';
		do {
			e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
			    RD_KAFKA_V_PARTITION(part),
			    RD_KAFKA_V_KEY(key, strlen(key)),
			    RD_KAFKA_V_VALUE(val, size),
			    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			    RD_KAFKA_V_TIMESTAMP(ts0 ? ts0 + i * step : 0),
			    RD_KAFKA_V_END);
			if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
				rd_kafka_poll(rk, 10);
		} while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
		if (e) {
			printf("nack %s %s\n", key, rd_kafka_err2name(e));
			fflush(stdout);
			failed++;
		}
		rd_kafka_poll(rk, 0);
		while (rate > 0 && (i + 1) > (now_s() - start) * rate)
			rd_kafka_poll(rk, 1);
	}
	/* Every message ends within message.timeout.ms: acked or failed. */
	while (acked + failed < count && rd_kafka_outq_len(rk) > 0)
		rd_kafka_poll(rk, 100);
	fprintf(stderr, "kprod: %ld acknowledged, %ld failed\n", acked,
	    failed);
	rd_kafka_destroy(rk);
	free(val);
	return acked == count ? 0 : 1;
}
