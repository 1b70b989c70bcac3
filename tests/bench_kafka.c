/*
 * bench_kafka.c - produce and consume throughput through logd's Kafka
 * listener with librdkafka (a test-only dependency: Debian's
 * librdkafka-dev), the Kafka-path twin of logbench.
 *
 *   bench_kafka -b HOST:PORT -t TOPIC [-n records] [-s size] [-a acks]
 *               produce|consume
 *
 * produce sends n records of size bytes (no key) as fast as librdkafka
 * takes them and waits for every delivery report; consume reads them
 * back from offset 0 of partition 0 (no group).  Prints one JSON line
 * like logbench's.  Built by "make bench"; never run by make check.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

static long long delivered, failed;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	if (m->err)
		failed++;
	else
		delivered++;
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *broker,
    const char *acks)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	if (rd_kafka_conf_set(conf, "bootstrap.servers", broker, err,
	    sizeof(err)) != RD_KAFKA_CONF_OK ||
	    (type == RD_KAFKA_PRODUCER &&
	    (rd_kafka_conf_set(conf, "acks", acks, err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000",
	    err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "batch.size", "1000000", err,
	    sizeof(err))))) {
		fprintf(stderr, "bench_kafka: %s\n", err);
		exit(2);
	}
	if (type == RD_KAFKA_PRODUCER)
		rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
	/* Large fetches and a deep prefetch queue, as a throughput
	 * consumer is tuned. */
	if (type == RD_KAFKA_CONSUMER &&
	    (rd_kafka_conf_set(conf, "fetch.message.max.bytes", "4194304", err,
	    sizeof(err)) || rd_kafka_conf_set(conf, "queued.min.messages",
	    "1000000", err, sizeof(err)))) {
		fprintf(stderr, "bench_kafka: %s\n", err);
		exit(2);
	}
	rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "bench_kafka: %s\n", err);
		exit(2);
	}
	return rk;
}

static int produce(const char *broker, const char *topic, long long n,
    size_t size, const char *acks)
{
	rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, broker, acks);
	char *v = malloc(size);
	double t0;
	long long i;

	memset(v, 'x', size);
	t0 = now_s();
	for (i = 0; i < n; i++) {
		while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
		    RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_VALUE(v, size),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(rk, 1);
		if ((i & 1023) == 0)
			rd_kafka_poll(rk, 0);
	}
	rd_kafka_flush(rk, 120000);
	t0 = now_s() - t0;
	printf("{\"test\":\"kafka_produce\",\"records\":%lld,\"record_size\":%zu,"
	    "\"acks\":\"%s\",\"seconds\":%.3f,\"records_per_sec\":%.0f,"
	    "\"mb_per_sec\":%.1f,\"acked\":%lld,\"failed\":%lld}\n", n, size,
	    acks, t0, n / t0, n * (double)size / t0 / 1e6, delivered, failed);
	rd_kafka_destroy(rk);
	free(v);
	return failed || delivered != n;
}

static int consume(const char *broker, const char *topic, long long n)
{
	rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, broker, "1");
	rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_message_t *batch[10000];
	long long got = 0;
	double t0;
	ssize_t k, i;

	rd_kafka_consume_start(t, 0, 0);
	t0 = now_s();
	while (got < n && now_s() - t0 < 120) {
		k = rd_kafka_consume_batch(t, 0, 1000, batch, 10000);
		for (i = 0; i < k; i++) {
			if (!batch[i]->err)
				got++;
			rd_kafka_message_destroy(batch[i]);
		}
	}
	t0 = now_s() - t0;
	rd_kafka_consume_stop(t, 0);
	printf("{\"test\":\"kafka_consume\",\"records\":%lld,\"seconds\":%.3f,"
	    "\"records_per_sec\":%.0f}\n", got, t0, got / t0);
	rd_kafka_topic_destroy(t);
	rd_kafka_destroy(rk);
	return got != n;
}

int main(int argc, char **argv)
{
	const char *broker = "127.0.0.1:9092", *topic = "bench", *acks = "1";
	long long n = 1000000;
	size_t size = 100;
	int ch;

	while ((ch = getopt(argc, argv, "a:b:n:s:t:")) != -1) {
		switch (ch) {
		case 'a': acks = optarg; break;
		case 'b': broker = optarg; break;
		case 'n': n = atoll(optarg); break;
		case 's': size = (size_t)atol(optarg); break;
		case 't': topic = optarg; break;
		default:
			fprintf(stderr, "usage: bench_kafka [-b broker] [-t topic] "
			    "[-n records] [-s size] [-a acks] produce|consume\n");
			return 2;
		}
	}
	if (optind + 1 != argc)
		return 2;
	if (!strcmp(argv[optind], "produce"))
		return produce(broker, topic, n, size, acks);
	if (!strcmp(argv[optind], "consume"))
		return consume(broker, topic, n);
	return 2;
}
