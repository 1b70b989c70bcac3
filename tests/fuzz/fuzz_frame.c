/*
 * fuzz_frame.c - the native protocol decoder and its field getters.
 *
 * The input is read twice: as a frame payload on its own (what
 * logd_proto_decode() sees after the length), and as a stream of framed
 * messages the way a connection buffers them (logd_proto_frame() then
 * decode, frame after frame, until the parser wants more bytes or
 * refuses).  Every decoded message then goes through:
 *   - the request fields of its api, read with the getters the daemon's
 *     handlers use, in their order (the "request decoders", every api of
 *     lib/proto.h): PRODUCE's records are also walked as batches and its
 *     key goes through the partitioner, OFFSET_COMMIT's offsets array
 *     and JOIN_GROUP's topics entry by entry, CREATE/ALTER's config map
 *     converted as h_admin.c does and applied with
 *     logd_topic_config_set(), topic and group names checked;
 *   - every getter on every string key found in the body and in nested
 *     maps (depth-limited), so each getter meets every msgpack type.
 * Invariants: str and bin slices point inside the payload, never NULL
 * (an empty one too: logd_proto_decode() guarantees it); a cstr getter
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

	FUZZ_CHECK(q != NULL);
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
		/* Also proves an empty key has a pointer (memcpy below). */
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

/* A string object copied into buf as the handlers do; 0 if it fits. */
static int obj_cstr(const struct span *s, const msgpack_object *o,
    char *buf, size_t size)
{
	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= size)
		return -1;
	slice_ok(s, o->via.str.ptr, o->via.str.size);
	memcpy(buf, o->via.str.ptr, o->via.str.size);
	buf[o->via.str.size] = '\0';
	return 0;
}

/* A name as a handler checks it: a valid name is plain and fits. */
static void name_ok(const char *name, int group)
{
	int rc = group ? logd_group_name_check(name) :
	    logd_topic_name_check(name);

	FUZZ_CHECK(rc == 0 || rc == LOGD_EBADNAME);
	if (rc == 0) {
		FUZZ_CHECK(name[0] != '\0');
		FUZZ_CHECK(strlen(name) <= (group ? LOGD_GROUP_NAME_MAX :
		    LOGD_TOPIC_NAME_MAX));
		if (!group)
			FUZZ_CHECK(strchr(name, '/') == NULL &&
			    strcmp(name, "..") != 0);
	}
}

static void topic_field(struct logd_msg *m, const msgpack_object *map,
    const char *key)
{
	char topic[LOGD_TOPIC_NAME_MAX + 2];

	if (logd_proto_cstr(m, map, key, topic, sizeof(topic)) == 0)
		name_ok(topic, 0);
}

static void group_field(struct logd_msg *m)
{
	char group[LOGD_GROUP_NAME_MAX + 1];

	if (logd_proto_cstr(m, NULL, "group", group, sizeof(group)) == 0)
		name_ok(group, 1);
}

/* An array of topic names (METADATA, JOIN_GROUP). */
static void topic_array(const struct span *s, const msgpack_object_array *a)
{
	char topic[LOGD_TOPIC_NAME_MAX + 1];
	uint32_t i;

	for (i = 0; a && i < a->size; i++)
		if (obj_cstr(s, &a->ptr[i], topic, sizeof(topic)) == 0 &&
		    !memchr(a->ptr[i].via.str.ptr, 0, a->ptr[i].via.str.size))
			name_ok(topic, 0);
}

/*
 * CREATE/ALTER's config map as h_admin.c reads it (string keys, string
 * or integer values) applied to a topic config; whatever was accepted
 * must format to lines that parse back to the same config.
 */
static void config_map(const struct span *s, const msgpack_object *cfg)
{
	struct logd_topic_config tc, back;
	char key[128], val[256], text[1024], again[1024], *line, *save;
	uint32_t i;
	int rc;

	logd_topic_config_default(&tc);
	for (i = 0; cfg && i < cfg->via.map.size; i++) {
		const msgpack_object_kv *kv = &cfg->via.map.ptr[i];

		if (obj_cstr(s, &kv->key, key, sizeof(key)))
			continue;
		if (kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			snprintf(val, sizeof(val), "%llu",
			    (unsigned long long)kv->val.via.u64);
		else if (kv->val.type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
			snprintf(val, sizeof(val), "%lld",
			    (long long)kv->val.via.i64);
		else if (obj_cstr(s, &kv->val, val, sizeof(val)))
			continue;
		rc = logd_topic_config_set(&tc, key, val);
		FUZZ_CHECK(rc == 0 || rc == LOGD_EBADCONFIG);
	}
	FUZZ_CHECK(logd_topic_config_format(&tc, text, sizeof(text)) <
	    sizeof(text));
	logd_topic_config_default(&back);
	memcpy(again, text, sizeof(text));
	for (line = strtok_r(again, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		FUZZ_CHECK(eq != NULL);
		*eq = '\0';
		FUZZ_CHECK(logd_topic_config_set(&back, line, eq + 1) == 0);
	}
	FUZZ_CHECK(logd_topic_config_format(&back, again, sizeof(again)) <
	    sizeof(again));
	FUZZ_CHECK(strcmp(text, again) == 0);
}

/* The fields each request carries (lib/proto.h), read as a handler. */
static void request_fields(struct logd_msg *m, const struct span *s)
{
	const msgpack_object_array *a = NULL;
	const msgpack_object *cfg = NULL;
	char buf[LOGD_GROUP_NAME_MAX + 1];
	const char *str;
	const void *bin;
	size_t len;
	uint64_t u;
	int64_t v;
	uint32_t i;

	switch (m->api) {
	case LOGD_API_HELLO:
		(void)logd_proto_cstr_opt(m, NULL, "client", buf, sizeof(buf));
		break;
	case LOGD_API_METADATA:
		if (logd_proto_array_opt(m, NULL, "topics", &a) == 0)
			topic_array(s, a);
		break;
	case LOGD_API_CREATE:
	case LOGD_API_ALTER:
		topic_field(m, NULL, "topic");
		(void)logd_proto_int_opt(m, NULL, "partitions", 0, &v);
		if (logd_proto_map_opt(m, NULL, "config", &cfg) == 0)
			config_map(s, cfg);
		break;
	case LOGD_API_DELETE:
		topic_field(m, NULL, "topic");
		break;
	case LOGD_API_PRODUCE:
		(void)logd_proto_int_opt(m, NULL, "acks", -1, &v);
		topic_field(m, NULL, "topic");
		(void)logd_proto_int_opt(m, NULL, "partition", -1, &v);
		if (logd_proto_bin_opt(m, NULL, "key", &bin, &len) == 0 &&
		    bin) {
			int32_t p = logd_partition_for_key(bin, len, 7);

			slice_ok(s, bin, len);
			FUZZ_CHECK(p >= 0 && p < 7);
		}
		if (logd_proto_bin(m, NULL, "records", &bin, &len) == 0) {
			slice_ok(s, bin, len);
			walk_batches(bin, len);
		}
		break;
	case LOGD_API_FETCH:
		topic_field(m, NULL, "topic");
		(void)logd_proto_int(m, NULL, "partition", &v);
		(void)logd_proto_int(m, NULL, "offset", &v);
		(void)logd_proto_int_opt(m, NULL, "max_bytes", 1 << 20, &v);
		(void)logd_proto_int_opt(m, NULL, "min_bytes", 1, &v);
		(void)logd_proto_int_opt(m, NULL, "max_wait_ms", 0, &v);
		(void)logd_proto_int_opt(m, NULL, "stream", 0, &v);
		break;
	case LOGD_API_FETCH_CREDIT:
		(void)logd_proto_uint(m, NULL, "corr", &u);
		(void)logd_proto_int_opt(m, NULL, "credit", 0, &v);
		(void)logd_proto_int_opt(m, NULL, "cancel", 0, &v);
		break;
	case LOGD_API_LIST_OFFSETS:
		topic_field(m, NULL, "topic");
		(void)logd_proto_int(m, NULL, "partition", &v);
		(void)logd_proto_int(m, NULL, "timestamp", &v);
		break;
	case LOGD_API_OFFSET_COMMIT:
		group_field(m);
		(void)logd_proto_int_opt(m, NULL, "generation", -1, &v);
		if (logd_proto_str_opt(m, NULL, "member", &str, &len) == 0 &&
		    str)
			slice_ok(s, str, len);
		if (logd_proto_array(m, NULL, "offsets", &a) != 0)
			break;
		for (i = 0; i < a->size; i++) {
			const msgpack_object *e = &a->ptr[i];

			if (logd_proto_str(m, e, "topic", &str, &len) == 0)
				slice_ok(s, str, len);
			(void)logd_proto_int(m, e, "partition", &v);
			(void)logd_proto_int(m, e, "offset", &v);
			if (logd_proto_str_opt(m, e, "metadata", &str,
			    &len) == 0 && str)
				slice_ok(s, str, len);
		}
		break;
	case LOGD_API_OFFSET_FETCH:
		group_field(m);
		(void)logd_proto_cstr_opt(m, NULL, "topic", buf, sizeof(buf));
		break;
	case LOGD_API_JOIN_GROUP:
		group_field(m);
		(void)logd_proto_cstr_opt(m, NULL, "member", buf, sizeof(buf));
		if (logd_proto_array(m, NULL, "topics", &a) == 0)
			topic_array(s, a);
		(void)logd_proto_int_opt(m, NULL, "session_ms", 10000, &v);
		(void)logd_proto_cstr_opt(m, NULL, "client", buf, sizeof(buf));
		break;
	case LOGD_API_HEARTBEAT:
		group_field(m);
		(void)logd_proto_cstr(m, NULL, "member", buf, sizeof(buf));
		(void)logd_proto_int(m, NULL, "generation", &v);
		break;
	case LOGD_API_LEAVE_GROUP:
		group_field(m);
		(void)logd_proto_cstr(m, NULL, "member", buf, sizeof(buf));
		break;
	case LOGD_API_LIST_GROUPS:
		(void)logd_proto_cstr_opt(m, NULL, "group", buf, sizeof(buf));
		break;
	case LOGD_API_DELETE_GROUP:
		group_field(m);
		break;
	default:
		break;
	}
	/* Responses share the codec: the client reads "error" first. */
	(void)logd_proto_int_opt(m, NULL, "error", 0, &v);
	(void)logd_proto_cstr_opt(m, NULL, "message", buf, sizeof(buf));
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
