/*
 * fuzz_frame.c - the native protocol decoder and its field getters.
 *
 * The input is read twice: as a frame payload on its own (what
 * logd_proto_decode() sees after the length), and as a stream of framed
 * messages the way a connection buffers them (logd_proto_frame() then
 * decode, frame after frame, until the parser wants more bytes or
 * refuses).  Every decoded message then goes through:
 *   - the request fields of its api, read with the getters the daemon's
 *     handlers use (the "request decoders": PRODUCE's records are also
 *     walked as batches, OFFSET_COMMIT's offsets array entry by entry);
 *   - every getter on every string key found in the body and in nested
 *     maps (depth-limited), so each getter meets every msgpack type.
 * Invariants: str and bin slices point inside the payload; a cstr getter
 * that succeeds returns a NUL-terminated string without inner NUL that
 * fits its buffer; errors are only LOGD_EPROTO or -ENOMEM.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"

/* The payload being decoded, for slice bounds checks. */
struct span {
	const uint8_t *lo, *hi;
};

static void slice_ok(const struct span *s, const void *p, size_t len)
{
	const uint8_t *q = p;

	if (len == 0)
		return;
	FUZZ_CHECK(q >= s->lo && q <= s->hi && len <= (size_t)(s->hi - q));
}

static void rc_ok(int rc)
{
	FUZZ_CHECK(rc == 0 || rc == LOGD_EPROTO || rc == -ENOMEM);
}

static void cstr_ok(int rc, const char *buf, size_t size)
{
	rc_ok(rc);
	if (rc == 0)
		FUZZ_CHECK(memchr(buf, '\0', size) != NULL);
}

static void walk_map(struct logd_msg *m, const struct span *s,
    const msgpack_object *map, int depth);

/* Every getter on one key of map. */
static void all_getters(struct logd_msg *m, const struct span *s,
    const msgpack_object *map, const char *key, int depth)
{
	const msgpack_object_array *a;
	const msgpack_object *o;
	const char *str;
	const void *bin;
	size_t len;
	int64_t i;
	uint64_t u;
	char buf[64];
	int rc;

	rc_ok(logd_proto_int(m, map, key, &i));
	rc_ok(logd_proto_int_opt(m, map, key, -7, &i));
	rc_ok(logd_proto_uint(m, map, key, &u));
	rc_ok(logd_proto_uint_opt(m, map, key, 7, &u));
	rc = logd_proto_str(m, map, key, &str, &len);
	rc_ok(rc);
	if (rc == 0)
		slice_ok(s, str, len);
	rc = logd_proto_str_opt(m, map, key, &str, &len);
	rc_ok(rc);
	if (rc == 0 && str != NULL)
		slice_ok(s, str, len);
	cstr_ok(logd_proto_cstr(m, map, key, buf, sizeof(buf)), buf,
	    sizeof(buf));
	cstr_ok(logd_proto_cstr_opt(m, map, key, buf, 4), buf, 4);
	rc = logd_proto_bin(m, map, key, &bin, &len);
	rc_ok(rc);
	if (rc == 0)
		slice_ok(s, bin, len);
	rc = logd_proto_bin_opt(m, map, key, &bin, &len);
	rc_ok(rc);
	if (rc == 0 && bin != NULL)
		slice_ok(s, bin, len);
	rc = logd_proto_array(m, map, key, &a);
	rc_ok(rc);
	if (rc == 0 && depth < 4) {
		uint32_t k;

		for (k = 0; k < a->size && k < 64; k++)
			if (a->ptr[k].type == MSGPACK_OBJECT_MAP)
				walk_map(m, s, &a->ptr[k], depth + 1);
	}
	rc_ok(logd_proto_array_opt(m, map, key, &a));
	rc = logd_proto_map(m, map, key, &o);
	rc_ok(rc);
	if (rc == 0 && depth < 4)
		walk_map(m, s, o, depth + 1);
	rc_ok(logd_proto_map_opt(m, map, key, &o));
}

/* Every getter on every string key of map. */
static void walk_map(struct logd_msg *m, const struct span *s,
    const msgpack_object *map, int depth)
{
	char key[64];
	uint32_t i;

	if (map->type != MSGPACK_OBJECT_MAP)
		return;
	for (i = 0; i < map->via.map.size && i < 64; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type != MSGPACK_OBJECT_STR ||
		    k->via.str.size >= sizeof(key))
			continue;
		slice_ok(s, k->via.str.ptr, k->via.str.size);
		memcpy(key, k->via.str.ptr, k->via.str.size);
		key[k->via.str.size] = '\0';
		if (strlen(key) != k->via.str.size)
			continue;
		FUZZ_CHECK(logd_proto_field(map, key) != NULL);
		all_getters(m, s, map, key, depth);
	}
}

/* Raw batches, as the daemon checks a produce request's records. */
static void walk_batches(const uint8_t *p, size_t n)
{
	struct logd_batch_info info;
	size_t pos = 0;

	while (pos < n && logd_batch_check(p + pos, n - pos, &info) == 0) {
		FUZZ_CHECK(info.size <= n - pos);
		pos += info.size;
	}
}

/* The fields each request carries (lib/proto.h), read as a handler. */
static void request_fields(struct logd_msg *m, const struct span *s)
{
	const msgpack_object_array *a = NULL;
	const msgpack_object *cfg = NULL;
	char topic[LOGD_TOPIC_NAME_MAX + 1], group[LOGD_GROUP_NAME_MAX + 1];
	const void *bin;
	size_t len;
	int64_t v;
	uint32_t i;

	switch (m->api) {
	case LOGD_API_HELLO:
		(void)logd_proto_cstr_opt(m, NULL, "client", group,
		    sizeof(group));
		break;
	case LOGD_API_METADATA:
		if (logd_proto_array_opt(m, NULL, "topics", &a) == 0 && a)
			for (i = 0; i < a->size; i++)
				if (a->ptr[i].type == MSGPACK_OBJECT_STR)
					slice_ok(s, a->ptr[i].via.str.ptr,
					    a->ptr[i].via.str.size);
		break;
	case LOGD_API_CREATE:
	case LOGD_API_ALTER:
		(void)logd_proto_cstr(m, NULL, "topic", topic, sizeof(topic));
		(void)logd_proto_int_opt(m, NULL, "partitions", 0, &v);
		if (logd_proto_map_opt(m, NULL, "config", &cfg) == 0 && cfg)
			walk_map(m, s, cfg, 3);
		break;
	case LOGD_API_DELETE:
		(void)logd_proto_cstr(m, NULL, "topic", topic, sizeof(topic));
		break;
	case LOGD_API_PRODUCE:
		(void)logd_proto_cstr(m, NULL, "topic", topic, sizeof(topic));
		(void)logd_proto_int_opt(m, NULL, "partition", -1, &v);
		(void)logd_proto_int_opt(m, NULL, "acks", -1, &v);
		if (logd_proto_bin_opt(m, NULL, "key", &bin, &len) == 0 && bin)
			slice_ok(s, bin, len);
		if (logd_proto_bin(m, NULL, "records", &bin, &len) == 0) {
			slice_ok(s, bin, len);
			walk_batches(bin, len);
		}
		break;
	case LOGD_API_FETCH:
		(void)logd_proto_cstr(m, NULL, "topic", topic, sizeof(topic));
		(void)logd_proto_int(m, NULL, "partition", &v);
		(void)logd_proto_int(m, NULL, "offset", &v);
		(void)logd_proto_int_opt(m, NULL, "max_bytes", 1 << 20, &v);
		(void)logd_proto_int_opt(m, NULL, "min_bytes", 1, &v);
		(void)logd_proto_int_opt(m, NULL, "max_wait_ms", 0, &v);
		break;
	case LOGD_API_LIST_OFFSETS:
		(void)logd_proto_cstr(m, NULL, "topic", topic, sizeof(topic));
		(void)logd_proto_int(m, NULL, "partition", &v);
		(void)logd_proto_int(m, NULL, "timestamp", &v);
		break;
	case LOGD_API_OFFSET_COMMIT:
		(void)logd_proto_cstr(m, NULL, "group", group, sizeof(group));
		(void)logd_proto_int_opt(m, NULL, "generation", -1, &v);
		if (logd_proto_array(m, NULL, "offsets", &a) != 0)
			break;
		for (i = 0; i < a->size; i++) {
			const msgpack_object *e = &a->ptr[i];

			(void)logd_proto_cstr(m, e, "topic", topic,
			    sizeof(topic));
			(void)logd_proto_int(m, e, "partition", &v);
			(void)logd_proto_int(m, e, "offset", &v);
			(void)logd_proto_cstr_opt(m, e, "metadata", group,
			    sizeof(group));
		}
		break;
	case LOGD_API_OFFSET_FETCH:
	case LOGD_API_DELETE_GROUP:
		(void)logd_proto_cstr(m, NULL, "group", group, sizeof(group));
		(void)logd_proto_cstr_opt(m, NULL, "topic", topic,
		    sizeof(topic));
		break;
	default:
		break;
	}
	/* Responses share the codec: the client reads "error" first. */
	(void)logd_proto_int_opt(m, NULL, "error", 0, &v);
	(void)logd_proto_cstr_opt(m, NULL, "message", group, sizeof(group));
}

static void one_message(const uint8_t *p, size_t n, msgpack_zone *zone)
{
	struct logd_msg m;
	struct span s = { p, p + n };
	int rc;

	rc = logd_proto_decode(p, n, zone, &m);
	rc_ok(rc);
	if (rc != 0) {
		FUZZ_CHECK(rc == -ENOMEM || m.err[0] != '\0');
		return;
	}
	FUZZ_CHECK(m.body != NULL && m.body->type == MSGPACK_OBJECT_MAP);
	FUZZ_CHECK(m.api >= 0);
	(void)logd_proto_api_name(m.api);
	request_fields(&m, &s);
	walk_map(&m, &s, m.body, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msgpack_zone zone;
	uint8_t *buf;
	size_t pos = 0, flen;
	int rc;

	FUZZ_CHECK(msgpack_zone_init(&zone, 4096));
	/* An exact-size copy, so ASan sees any read past the end. */
	buf = malloc(size ? size : 1);
	FUZZ_CHECK(buf != NULL);
	memcpy(buf, data, size);

	one_message(buf, size, &zone);
	while (pos < size) {
		flen = 0;
		rc = logd_proto_frame(buf + pos, size - pos, 1 << 20, &flen);
		if (rc != 0) {
			FUZZ_CHECK(rc == -EAGAIN || rc == LOGD_ETOOBIG ||
			    rc == LOGD_EPROTO);
			if (rc == -EAGAIN && flen != 0)
				FUZZ_CHECK(flen > size - pos);
			break;
		}
		FUZZ_CHECK(flen > LOGD_FRAME_HEADER && flen <= size - pos);
		one_message(buf + pos + LOGD_FRAME_HEADER,
		    flen - LOGD_FRAME_HEADER, &zone);
		pos += flen;
	}
	free(buf);
	msgpack_zone_destroy(&zone);
	return 0;
}
