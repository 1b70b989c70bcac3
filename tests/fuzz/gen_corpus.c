/*
 * gen_corpus.c - writes the fuzz targets' seed corpora.
 *
 *     gen_corpus OUTDIR      (make fuzz-corpus: OUTDIR is
 *                             $(srcdir)/tests/fuzz/corpus)
 *
 * OUTDIR/batch, OUTDIR/frame and OUTDIR/recovery get small, valid inputs
 * built with liblogd itself, so the fuzzers start from bytes that reach
 * deep paths: record batches with keys, nulls and headers; one frame of
 * every request (and some replies) as the client library packs them; and
 * partition directories written by a real logd_log, with and without a
 * recovery point, with a torn tail, as fuzz_recovery's section format.
 * The output is deterministic (fixed timestamps), so regenerating it
 * changes nothing unless the formats do.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"

#define TS 1764000000000LL

static const char *outdir;

static void die(const char *what, int rc)
{
	fprintf(stderr, "gen_corpus: %s: %s\n", what, logd_strerror(rc));
	exit(1);
}

static void put(const char *target, const char *name, const void *p,
    size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die(path, -errno);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		die(path, -EIO);
}

/* A batch of n records, some with null keys, empty values, headers. */
static size_t make_batch(struct logd_batch_builder *b, int n, int headers,
    uint8_t *out, size_t cap)
{
	struct logd_header h[2] = {
		{ "source", 6, "ws_cairo_001", 12 },
		{ "trace", 5, NULL, 0 },
	};
	char value[64];
	const uint8_t *p;
	size_t len;
	int i, rc;

	logd_batch_builder_reset(b);
	for (i = 0; i < n; i++) {
		int vl = snprintf(value, sizeof(value),
		    "{\"sensor_id\":\"ws_%03d\",\"t\":%d.5}", i, 20 + i);

		rc = logd_batch_builder_add(b, TS + i * 10,
		    i % 3 == 1 ? NULL : "station", 7,
		    i % 4 == 3 ? "" : value, i % 4 == 3 ? 0 : (size_t)vl,
		    headers ? h : NULL, headers ? (size_t)(i % 3) : 0);
		if (rc != 0)
			die("builder_add", rc);
	}
	rc = logd_batch_builder_finish(b, &p, &len);
	if (rc != 0)
		die("builder_finish", rc);
	if (len > cap)
		die("batch too big", LOGD_ETOOBIG);
	memcpy(out, p, len);
	return len;
}

static void gen_batch(struct logd_batch_builder *b)
{
	uint8_t buf[8192];
	size_t n1, n2;

	/* fuzz_batch input: a mode byte, then batches. */
	buf[0] = 0;
	n1 = make_batch(b, 1, 0, buf + 1, sizeof(buf) - 1);
	put("batch", "one-record", buf, n1 + 1);
	n1 = make_batch(b, 5, 1, buf + 1, sizeof(buf) - 1);
	put("batch", "headers", buf, n1 + 1);
	n2 = make_batch(b, 3, 0, buf + 1 + n1, sizeof(buf) - 1 - n1);
	put("batch", "two-batches", buf, n1 + n2 + 1);
	buf[0] = 3;      /* repair CRCs, restamp */
	put("batch", "two-batches-restamp", buf, n1 + n2 + 1);
	buf[0] = 0;
	put("batch", "torn", buf, n1 + n2 / 2 + 1);
	/* A log-append-time batch. */
	n1 = make_batch(b, 4, 1, buf + 1, sizeof(buf) - 1);
	logd_batch_set_log_append_time(buf + 1, TS + 999);
	put("batch", "log-append-time", buf, n1 + 1);
	/* Compressed (gzip bit): the CRC is repaired by mode 1. */
	buf[0] = 1;
	buf[1 + 22] |= 1;
	put("batch", "compressed-attr", buf, n1 + 1);
}

static void frame_file(struct logd_pbuf *pb, const char *name)
{
	int rc = logd_proto_end(pb, 0);

	if (rc != 0)
		die(name, rc);
	put("frame", name, pb->data, pb->len);
	logd_pbuf_reset(pb);
}

static void gen_frame(struct logd_batch_builder *b)
{
	struct logd_pbuf pb;
	uint8_t batch[8192], stream[65536];
	size_t blen, slen = 0;
	msgpack_packer *pk = &pb.pk;
	static const char *const names[] = { "hello", "metadata", "create",
	    "produce", "fetch", "list_offsets", "commit", "offset_fetch",
	    "stats", "fetch_stream", "fetch_credit" };
	size_t i;

	blen = make_batch(b, 4, 1, batch, sizeof(batch));
	logd_pbuf_init(&pb);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		switch (i) {
		case 0:
			logd_proto_begin(&pb, LOGD_API_HELLO, 1);
			msgpack_pack_map(pk, 1);
			logd_pack_kv_str(pk, "client", "gen_corpus");
			break;
		case 1:
			logd_proto_begin(&pb, LOGD_API_METADATA, 2);
			msgpack_pack_map(pk, 1);
			logd_pack_str(pk, "topics");
			msgpack_pack_array(pk, 2);
			logd_pack_str(pk, "weather");
			logd_pack_str(pk, "alerts");
			break;
		case 2:
			logd_proto_begin(&pb, LOGD_API_CREATE, 3);
			msgpack_pack_map(pk, 3);
			logd_pack_kv_str(pk, "topic", "weather");
			logd_pack_kv_int(pk, "partitions", 3);
			logd_pack_str(pk, "config");
			msgpack_pack_map(pk, 2);
			logd_pack_kv_str(pk, "retention.ms", "86400000");
			logd_pack_kv_str(pk, "segment.bytes", "1048576");
			break;
		case 3:
			logd_proto_begin(&pb, LOGD_API_PRODUCE, 4);
			msgpack_pack_map(pk, 5);
			logd_pack_kv_str(pk, "topic", "weather");
			logd_pack_kv_int(pk, "partition", -1);
			logd_pack_kv_bin(pk, "key", "ws_cairo_001", 12);
			logd_pack_kv_int(pk, "acks", -1);
			logd_pack_kv_bin(pk, "records", batch, blen);
			break;
		case 4:
			logd_proto_begin(&pb, LOGD_API_FETCH, 5);
			msgpack_pack_map(pk, 6);
			logd_pack_kv_str(pk, "topic", "weather");
			logd_pack_kv_int(pk, "partition", 0);
			logd_pack_kv_int(pk, "offset", 42);
			logd_pack_kv_int(pk, "max_bytes", 1048576);
			logd_pack_kv_int(pk, "min_bytes", 1);
			logd_pack_kv_int(pk, "max_wait_ms", 500);
			break;
		case 5:
			logd_proto_begin(&pb, LOGD_API_LIST_OFFSETS, 6);
			msgpack_pack_map(pk, 3);
			logd_pack_kv_str(pk, "topic", "weather");
			logd_pack_kv_int(pk, "partition", 0);
			logd_pack_kv_int(pk, "timestamp", -2);
			break;
		case 6:
			logd_proto_begin(&pb, LOGD_API_OFFSET_COMMIT, 7);
			msgpack_pack_map(pk, 3);
			logd_pack_kv_str(pk, "group", "alerts");
			logd_pack_kv_int(pk, "generation", -1);
			logd_pack_str(pk, "offsets");
			msgpack_pack_array(pk, 2);
			msgpack_pack_map(pk, 4);
			logd_pack_kv_str(pk, "topic", "weather");
			logd_pack_kv_int(pk, "partition", 0);
			logd_pack_kv_int(pk, "offset", 100);
			logd_pack_kv_str(pk, "metadata", "m");
			msgpack_pack_map(pk, 3);
			logd_pack_kv_str(pk, "topic", "weather");
			logd_pack_kv_int(pk, "partition", 1);
			logd_pack_kv_int(pk, "offset", 7);
			break;
		case 7:
			logd_proto_begin(&pb, LOGD_API_OFFSET_FETCH, 8);
			msgpack_pack_map(pk, 2);
			logd_pack_kv_str(pk, "group", "alerts");
			logd_pack_kv_str(pk, "topic", "weather");
			break;
		case 8:
			logd_proto_begin(&pb, LOGD_API_STATS, 9);
			msgpack_pack_map(pk, 0);
			break;
		case 9:
			logd_proto_begin(&pb, LOGD_API_FETCH, 10);
			msgpack_pack_map(pk, 5);
			logd_pack_kv_str(pk, "topic", "weather");
			logd_pack_kv_int(pk, "partition", 0);
			logd_pack_kv_int(pk, "offset", 42);
			logd_pack_kv_int(pk, "max_wait_ms", 500);
			logd_pack_kv_int(pk, "stream", 8);
			break;
		default:
			logd_proto_begin(&pb, LOGD_API_FETCH_CREDIT, 11);
			msgpack_pack_map(pk, 3);
			logd_pack_kv_int(pk, "corr", 10);
			logd_pack_kv_int(pk, "credit", 4);
			logd_pack_kv_int(pk, "cancel", 0);
			break;
		}
		if (logd_proto_end(&pb, 0) != 0)
			die(names[i], pb.err);
		put("frame", names[i], pb.data, pb.len);
		if (slen + pb.len <= sizeof(stream)) {
			memcpy(stream + slen, pb.data, pb.len);
			slen += pb.len;
		}
		logd_pbuf_reset(&pb);
	}
	put("frame", "pipelined", stream, slen);
	/* Replies, as the broker packs them. */
	if (logd_proto_error(&pb, LOGD_API_PRODUCE, 4, LOGD_ENOTOPIC,
	    "unknown topic %s", "weather") != 0)
		die("error reply", pb.err);
	put("frame", "error-reply", pb.data, pb.len);
	logd_pbuf_reset(&pb);
	logd_proto_begin(&pb, LOGD_API_FETCH, 5);
	msgpack_pack_map(pk, 5);
	logd_pack_kv_int(pk, "error", 0);
	logd_pack_kv_int(pk, "partition", 0);
	logd_pack_kv_int(pk, "start", 0);
	logd_pack_kv_int(pk, "end", 4);
	logd_pack_kv_bin(pk, "records", batch, blen);
	frame_file(&pb, "fetch-reply");
	/* The payload alone: fuzz_frame also decodes the input unframed. */
	logd_proto_begin(&pb, LOGD_API_STATS, 9);
	msgpack_pack_map(pk, 1);
	logd_pack_kv_int(pk, "error", 0);
	if (logd_proto_end(&pb, 0) != 0)
		die("stats", pb.err);
	put("frame", "payload-only", pb.data + 4, pb.len - 4);
	logd_pbuf_free(&pb);
}

/* ---- recovery: fuzz_recovery's section format ---- */

struct sections {
	uint8_t buf[1 << 16];
	size_t len;
};

static void section(struct sections *s, int type, int seg, const void *p,
    size_t n)
{
	const uint8_t *q = p;

	/* Long files take several sections; each appends. */
	do {
		size_t c = n > 65535 ? 65535 : n;

		if (s->len + 4 + c > sizeof(s->buf))
			die("recovery seed too big", LOGD_ETOOBIG);
		s->buf[s->len++] = (uint8_t)type;
		s->buf[s->len++] = (uint8_t)seg;
		s->buf[s->len++] = (uint8_t)(c >> 8);
		s->buf[s->len++] = (uint8_t)c;
		memcpy(s->buf + s->len, q, c);
		s->len += c;
		q += c;
		n -= c;
	} while (n > 0);
}

/* Reads a file, dropping trailing zeros (preallocation). */
static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, cap);
	close(fd);
	if (n < 0)
		return 0;
	while (n > 0 && buf[n - 1] == 0)
		n--;
	return (size_t)n;
}

/* Packs the partition directory dir as sections (bases kept). */
static void pack_dir(struct sections *s, const char *dir, int with_rp,
    size_t tear)
{
	static uint8_t file[1 << 16];
	char path[4096];
	int64_t base = 0;
	int seg = 0, e;
	size_t n;
	static const char *const ext[3] = { "log", "idx", "tix" };

	s->len = 0;
	for (base = 0; base < 10000 && seg < 3; base++) {
		uint8_t b[4];

		snprintf(path, sizeof(path), "%s/%020lld.log", dir,
		    (long long)base);
		if (access(path, F_OK) != 0)
			continue;
		b[0] = (uint8_t)(base >> 24);
		b[1] = (uint8_t)(base >> 16);
		b[2] = (uint8_t)(base >> 8);
		b[3] = (uint8_t)base;
		section(s, 3, seg, b, 4);
		for (e = 0; e < 3; e++) {
			snprintf(path, sizeof(path), "%s/%020lld.%s", dir,
			    (long long)base, ext[e]);
			n = slurp(path, file, sizeof(file));
			if (e == 0 && tear && n > tear)
				n -= tear;
			section(s, e, seg, file, n);
		}
		seg++;
	}
	if (with_rp) {
		snprintf(path, sizeof(path), "%s/recovery-point", dir);
		n = slurp(path, file, sizeof(file));
		if (n > 0)
			section(s, 4, 0, file, n);
	}
}

static void gen_recovery(struct logd_batch_builder *b)
{
	static struct sections s;
	struct logd_log_config cfg;
	struct logd_log *log;
	uint8_t batch[8192];
	char dir[] = "/tmp/gen_corpus.XXXXXX", part[64], cmd[128];
	size_t len;
	int i, rc;

	if (mkdtemp(dir) == NULL)
		die("mkdtemp", -errno);
	snprintf(part, sizeof(part), "%s/p", dir);
	logd_log_config_default(&cfg);
	cfg.segment_bytes = 4096;
	cfg.index_interval = 256;
	cfg.index_bytes = 1024;

	/* One small segment, left as a crash leaves it (no close). */
	rc = logd_log_open(part, &cfg, TS, &log, NULL);
	if (rc != 0)
		die("log_open", rc);
	for (i = 0; i < 3; i++) {
		len = make_batch(b, 2 + i, i, batch, sizeof(batch));
		rc = logd_log_append(log, batch, len, TS, NULL, NULL);
		if (rc != 0)
			die("append", rc);
	}
	rc = logd_log_flush(log);
	if (rc != 0)
		die("flush", rc);
	pack_dir(&s, part, 0, 0);
	put("recovery", "one-segment", s.buf, s.len);
	pack_dir(&s, part, 0, 7);
	put("recovery", "torn-tail", s.buf, s.len);

	/* Several segments (rolled at 4 KiB), closed cleanly. */
	for (i = 0; i < 40; i++) {
		len = make_batch(b, 1 + i % 6, i % 2, batch, sizeof(batch));
		rc = logd_log_append(log, batch, len, TS + i, NULL, NULL);
		if (rc != 0)
			die("append", rc);
	}
	logd_log_close(log);
	pack_dir(&s, part, 0, 0);
	put("recovery", "segments", s.buf, s.len);
	pack_dir(&s, part, 1, 0);
	put("recovery", "segments-rp", s.buf, s.len);
	pack_dir(&s, part, 1, 30);
	put("recovery", "segments-rp-torn", s.buf, s.len);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		die("rm", -EIO);
}

int main(int argc, char **argv)
{
	struct logd_batch_builder *b;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) < 0 && errno != EEXIST)
		die(outdir, -errno);
	rc = logd_batch_builder_new(&b);
	if (rc != 0)
		die("builder", rc);
	gen_batch(b);
	gen_frame(b);
	gen_recovery(b);
	logd_batch_builder_free(b);
	return 0;
}
