/*
 * proto.c - the native protocol's codec, shared by the daemon and the
 * client library.
 *
 * Encoding: a logd_pbuf is a growable byte buffer with a msgpack_packer
 * whose write callback appends to it.  A frame is begun by reserving its
 * u32 length and packing [api, corr, ...; the caller packs the body map;
 * logd_proto_end() patches the length in, counting bytes the caller will
 * send after the buffer (a fetch reply's stored batches go out with
 * writev straight from the segment map, never copied here).
 *
 * Decoding: logd_proto_frame() says whether a whole frame is buffered.
 * logd_proto_decode() first walks the msgpack bytes itself (mp_skip) to
 * prove the payload is exactly one well-formed object whose container
 * counts fit in the bytes present and whose nesting is bounded: msgpack-c
 * allocates an array's elements before it has read them, so a ten-byte
 * frame claiming four billion elements must be refused before it reaches
 * the unpacker.  Then msgpack_unpack() builds the objects in the caller's
 * zone (reused from frame to frame); str and bin objects point into the
 * frame, so a produce request's batches are never copied by the codec.
 *
 * Getters are strict: a field of the wrong type is LOGD_EPROTO with a
 * message naming the field, never a silent default.  nil counts as absent.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define MP_MAX_DEPTH 32

static const char *const api_names[LOGD_API_COUNT] = {
	[LOGD_API_HELLO] = "hello",
	[LOGD_API_METADATA] = "metadata",
	[LOGD_API_CREATE] = "create",
	[LOGD_API_DELETE] = "delete",
	[LOGD_API_ALTER] = "alter",
	[LOGD_API_PRODUCE] = "produce",
	[LOGD_API_FETCH] = "fetch",
	[LOGD_API_LIST_OFFSETS] = "list_offsets",
	[LOGD_API_OFFSET_COMMIT] = "offset_commit",
	[LOGD_API_OFFSET_FETCH] = "offset_fetch",
	[LOGD_API_JOIN_GROUP] = "join_group",
	[LOGD_API_HEARTBEAT] = "heartbeat",
	[LOGD_API_LEAVE_GROUP] = "leave_group",
	[LOGD_API_STATS] = "stats",
	[LOGD_API_LIST_GROUPS] = "list_groups",
	[LOGD_API_DELETE_GROUP] = "delete_group",
	[LOGD_API_COMPACT] = "compact",
	[LOGD_API_FETCH_CREDIT] = "fetch_credit",
};

const char *logd_proto_api_name(int api)
{
	if (api < 0 || api >= LOGD_API_COUNT)
		return "unknown";
	return api_names[api];
}

/* ------------------------------------------------------------------ */
/* Output buffer                                                       */
/* ------------------------------------------------------------------ */

static int pbuf_write(void *data, const char *buf, size_t len)
{
	return logd_pbuf_append(data, buf, len) ? -1 : 0;
}

void logd_pbuf_init(struct logd_pbuf *b)
{
	memset(b, 0, sizeof(*b));
	msgpack_packer_init(&b->pk, b, pbuf_write);
}

void logd_pbuf_free(struct logd_pbuf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = b->frame = 0;
}

void logd_pbuf_reset(struct logd_pbuf *b)
{
	b->len = 0;
	b->frame = 0;
	b->err = 0;
}

int logd_pbuf_reserve(struct logd_pbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->err)
		return b->err;
	if (b->cap - b->len >= n)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n) {
		if (cap > SIZE_MAX / 2)
			goto fail;
		cap *= 2;
	}
	p = realloc(b->data, cap);
	if (!p)
		goto fail;
	b->data = p;
	b->cap = cap;
	return 0;
fail:
	b->err = -ENOMEM;
	return b->err;
}

int logd_pbuf_append(struct logd_pbuf *b, const void *p, size_t len)
{
	int rc = logd_pbuf_reserve(b, len);

	if (rc)
		return rc;
	if (len)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Frames                                                              */
/* ------------------------------------------------------------------ */

void logd_proto_begin(struct logd_pbuf *b, int api, uint32_t corr)
{
	static const char zero[LOGD_FRAME_HEADER];

	b->frame = b->len;
	logd_pbuf_append(b, zero, sizeof(zero));
	msgpack_pack_array(&b->pk, 3);
	msgpack_pack_int(&b->pk, api);
	msgpack_pack_uint32(&b->pk, corr);
}

int logd_proto_end(struct logd_pbuf *b, size_t trailing)
{
	uint64_t n;
	unsigned char *h;

	if (b->err)
		return b->err;
	n = (uint64_t)(b->len - b->frame - LOGD_FRAME_HEADER) + trailing;
	if (n > UINT32_MAX)
		return LOGD_ETOOBIG;
	h = (unsigned char *)b->data + b->frame;
	h[0] = n >> 24;
	h[1] = n >> 16;
	h[2] = n >> 8;
	h[3] = n;
	return 0;
}

void logd_pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

void logd_pack_kv_int(msgpack_packer *pk, const char *key, int64_t v)
{
	logd_pack_str(pk, key);
	msgpack_pack_int64(pk, v);
}

void logd_pack_kv_str(msgpack_packer *pk, const char *key, const char *s)
{
	logd_pack_str(pk, key);
	logd_pack_str(pk, s);
}

void logd_pack_kv_bin(msgpack_packer *pk, const char *key, const void *p,
    size_t len)
{
	logd_pack_str(pk, key);
	msgpack_pack_bin(pk, len);
	msgpack_pack_bin_body(pk, p, len);
}

int logd_proto_error(struct logd_pbuf *b, int api, uint32_t corr, int code,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	} else {
		snprintf(msg, sizeof(msg), "%s", logd_strerror(code));
	}
	logd_proto_begin(b, api, corr);
	msgpack_pack_map(&b->pk, 2);
	logd_pack_kv_int(&b->pk, "error", code);
	logd_pack_kv_str(&b->pk, "message", msg);
	return logd_proto_end(b, 0);
}

int logd_proto_frame(const void *p, size_t len, size_t max,
    size_t *frame_len)
{
	const unsigned char *h = p;
	uint32_t n;

	if (len < LOGD_FRAME_HEADER)
		return -EAGAIN;
	n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
	    (uint32_t)h[2] << 8 | h[3];
	if (n == 0)
		return LOGD_EPROTO;
	if (n > max)
		return LOGD_ETOOBIG;
	*frame_len = (size_t)n + LOGD_FRAME_HEADER;
	if (len < (size_t)n + LOGD_FRAME_HEADER)
		return -EAGAIN;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Structural check of msgpack bytes                                   */
/* ------------------------------------------------------------------ */

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

/*
 * Skips one object at *pp (before end).  Returns 0, or -1 when the bytes
 * are truncated, use the reserved byte 0xc1, nest deeper than
 * MP_MAX_DEPTH or hold a container claiming more elements than bytes
 * remain.
 */
static int mp_skip(const unsigned char **pp, const unsigned char *end,
    int depth)
{
	const unsigned char *p = *pp;
	uint64_t n = 0, body = 0;
	int hdr = 0, kids = 0;
	unsigned c;

	if (p >= end || depth > MP_MAX_DEPTH)
		return -1;
	c = *p++;
	if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
		;
	} else if (c <= 0x8f) {
		n = 2 * (uint64_t)(c & 0x0f);
		kids = 1;
	} else if (c <= 0x9f) {
		n = c & 0x0f;
		kids = 1;
	} else if (c <= 0xbf) {
		body = c & 0x1f;
	} else {
		switch (c) {
		case 0xc4: case 0xd9: hdr = 1; break;
		case 0xc5: case 0xda: hdr = 2; break;
		case 0xc6: case 0xdb: hdr = 4; break;
		case 0xc7: hdr = 1; body = 1; break;
		case 0xc8: hdr = 2; body = 1; break;
		case 0xc9: hdr = 4; body = 1; break;
		case 0xca: body = 4; break;
		case 0xcb: body = 8; break;
		case 0xcc: case 0xd0: body = 1; break;
		case 0xcd: case 0xd1: body = 2; break;
		case 0xce: case 0xd2: body = 4; break;
		case 0xcf: case 0xd3: body = 8; break;
		case 0xd4: body = 2; break;
		case 0xd5: body = 3; break;
		case 0xd6: body = 5; break;
		case 0xd7: body = 9; break;
		case 0xd8: body = 17; break;
		case 0xdc: hdr = 2; kids = 1; break;
		case 0xdd: hdr = 4; kids = 1; break;
		case 0xde: hdr = 2; kids = 2; break;
		case 0xdf: hdr = 4; kids = 2; break;
		default: return -1; /* 0xc1 */
		}
		if (hdr) {
			if ((size_t)(end - p) < (size_t)hdr)
				return -1;
			if (kids) {
				n = be(p, hdr) * (uint64_t)kids;
				kids = 1;
			} else {
				body += be(p, hdr);
			}
			p += hdr;
		}
	}
	if (kids) {
		if (n > (uint64_t)(end - p))
			return -1;
		while (n--)
			if (mp_skip(&p, end, depth + 1))
				return -1;
	} else {
		if (body > (uint64_t)(end - p))
			return -1;
		p += body;
	}
	*pp = p;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

static int msg_fail(struct logd_msg *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int msg_fail(struct logd_msg *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->err, sizeof(m->err), fmt, ap);
	va_end(ap);
	return LOGD_EPROTO;
}

/*
 * msgpack-c gives an empty str, bin or ext a NULL pointer.  Every user of
 * a slice would then need a special case (memcpy(dst, NULL, 0) is
 * undefined behaviour, and an _opt getter could not tell an empty value
 * from a missing one), so empty slices are pointed at the frame instead,
 * length 0.  mp_skip() has bounded the nesting.
 */
static void empty_slices(msgpack_object *o, const char *frame)
{
	uint32_t i;

	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		if (!o->via.str.ptr)
			o->via.str.ptr = frame;
		break;
	case MSGPACK_OBJECT_BIN:
		if (!o->via.bin.ptr)
			o->via.bin.ptr = frame;
		break;
	case MSGPACK_OBJECT_EXT:
		if (!o->via.ext.ptr)
			o->via.ext.ptr = frame;
		break;
	case MSGPACK_OBJECT_ARRAY:
		for (i = 0; i < o->via.array.size; i++)
			empty_slices(&o->via.array.ptr[i], frame);
		break;
	case MSGPACK_OBJECT_MAP:
		for (i = 0; i < o->via.map.size; i++) {
			empty_slices(&o->via.map.ptr[i].key, frame);
			empty_slices(&o->via.map.ptr[i].val, frame);
		}
		break;
	default:
		break;
	}
}

int logd_proto_decode(const void *p, size_t n, msgpack_zone *zone,
    struct logd_msg *m)
{
	const unsigned char *s = p, *e = s + n;
	msgpack_object *o;
	msgpack_unpack_return ur;
	size_t off = 0;
	const msgpack_object *a;

	m->err[0] = 0;
	if (mp_skip(&s, e, 0))
		return msg_fail(m, "malformed msgpack in frame");
	if (s != e)
		return msg_fail(m, "%zu bytes after the message in frame",
		    (size_t)(e - s));
	msgpack_zone_clear(zone);
	o = msgpack_zone_malloc(zone, sizeof(*o));
	if (!o)
		return -ENOMEM;
	ur = msgpack_unpack(p, n, &off, zone, o);
	if (ur == MSGPACK_UNPACK_NOMEM_ERROR)
		return -ENOMEM;
	if (ur != MSGPACK_UNPACK_SUCCESS || off != n)
		return msg_fail(m, "malformed msgpack in frame");
	empty_slices(o, p);
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3)
		return msg_fail(m, "frame is not an array [api, "
		    "correlation_id, body]");
	a = o->via.array.ptr;
	if (a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    a[0].via.u64 > INT32_MAX)
		return msg_fail(m, "api must be a non-negative integer");
	if (a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    a[1].via.u64 > UINT32_MAX)
		return msg_fail(m, "correlation_id must be an unsigned "
		    "32-bit integer");
	if (a[2].type != MSGPACK_OBJECT_MAP)
		return msg_fail(m, "body must be a map");
	m->api = (int32_t)a[0].via.u64;
	m->corr = (uint32_t)a[1].via.u64;
	m->body = &a[2];
	return 0;
}

/* ------------------------------------------------------------------ */
/* Field getters                                                       */
/* ------------------------------------------------------------------ */

const msgpack_object *logd_proto_field(const msgpack_object *map,
    const char *key)
{
	size_t kl = strlen(key);
	uint32_t i;

	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl &&
		    memcmp(k->via.str.ptr, key, kl) == 0)
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

/*
 * The field key of map (m->body when NULL), or NULL when missing or nil.
 */
static const msgpack_object *get(struct logd_msg *m,
    const msgpack_object *map, const char *key)
{
	const msgpack_object *o = logd_proto_field(map ? map : m->body, key);

	if (o && o->type == MSGPACK_OBJECT_NIL)
		return NULL;
	return o;
}

static int missing(struct logd_msg *m, const char *key)
{
	return msg_fail(m, "missing field \"%s\"", key);
}

static int wrong(struct logd_msg *m, const char *key, const char *what)
{
	return msg_fail(m, "field \"%s\" must be %s", key, what);
}

static int to_int(struct logd_msg *m, const msgpack_object *o,
    const char *key, int64_t *v)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 > INT64_MAX)
			return wrong(m, key, "a signed 64-bit integer");
		*v = (int64_t)o->via.u64;
		return 0;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return 0;
	}
	return wrong(m, key, "an integer");
}

int logd_proto_int(struct logd_msg *m, const msgpack_object *map,
    const char *key, int64_t *v)
{
	const msgpack_object *o = get(m, map, key);

	if (!o)
		return missing(m, key);
	return to_int(m, o, key, v);
}

int logd_proto_int_opt(struct logd_msg *m, const msgpack_object *map,
    const char *key, int64_t def, int64_t *v)
{
	const msgpack_object *o = get(m, map, key);

	if (!o) {
		*v = def;
		return 0;
	}
	return to_int(m, o, key, v);
}

static int to_uint(struct logd_msg *m, const msgpack_object *o,
    const char *key, uint64_t *v)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return wrong(m, key, "a non-negative integer");
	*v = o->via.u64;
	return 0;
}

int logd_proto_uint(struct logd_msg *m, const msgpack_object *map,
    const char *key, uint64_t *v)
{
	const msgpack_object *o = get(m, map, key);

	if (!o)
		return missing(m, key);
	return to_uint(m, o, key, v);
}

int logd_proto_uint_opt(struct logd_msg *m, const msgpack_object *map,
    const char *key, uint64_t def, uint64_t *v)
{
	const msgpack_object *o = get(m, map, key);

	if (!o) {
		*v = def;
		return 0;
	}
	return to_uint(m, o, key, v);
}

static int str_or_bin(struct logd_msg *m, const msgpack_object *map,
    const char *key, int type, int opt, const void **p, size_t *len)
{
	const msgpack_object *o = get(m, map, key);

	if (!o) {
		if (!opt)
			return missing(m, key);
		*p = NULL;
		*len = 0;
		return 0;
	}
	if ((int)o->type != type)
		return wrong(m, key, type == MSGPACK_OBJECT_STR ?
		    "a string" : "binary (bin)");
	if (type == MSGPACK_OBJECT_STR) {
		*p = o->via.str.ptr;
		*len = o->via.str.size;
	} else {
		*p = o->via.bin.ptr;
		*len = o->via.bin.size;
	}
	return 0;
}

int logd_proto_str(struct logd_msg *m, const msgpack_object *map,
    const char *key, const char **p, size_t *len)
{
	return str_or_bin(m, map, key, MSGPACK_OBJECT_STR, 0,
	    (const void **)p, len);
}

int logd_proto_str_opt(struct logd_msg *m, const msgpack_object *map,
    const char *key, const char **p, size_t *len)
{
	return str_or_bin(m, map, key, MSGPACK_OBJECT_STR, 1,
	    (const void **)p, len);
}

int logd_proto_bin(struct logd_msg *m, const msgpack_object *map,
    const char *key, const void **p, size_t *len)
{
	return str_or_bin(m, map, key, MSGPACK_OBJECT_BIN, 0, p, len);
}

int logd_proto_bin_opt(struct logd_msg *m, const msgpack_object *map,
    const char *key, const void **p, size_t *len)
{
	return str_or_bin(m, map, key, MSGPACK_OBJECT_BIN, 1, p, len);
}

static int cstr(struct logd_msg *m, const msgpack_object *map,
    const char *key, int opt, char *buf, size_t size)
{
	const char *p = NULL;
	size_t len = 0;
	int rc;

	rc = str_or_bin(m, map, key, MSGPACK_OBJECT_STR, opt,
	    (const void **)&p, &len);
	if (rc)
		return rc;
	if (len >= size)
		return msg_fail(m, "field \"%s\" is longer than %zu bytes",
		    key, size - 1);
	if (len && memchr(p, 0, len))
		return msg_fail(m, "field \"%s\" holds a NUL byte", key);
	if (len)
		memcpy(buf, p, len);
	buf[len] = 0;
	return 0;
}

int logd_proto_cstr(struct logd_msg *m, const msgpack_object *map,
    const char *key, char *buf, size_t size)
{
	return cstr(m, map, key, 0, buf, size);
}

int logd_proto_cstr_opt(struct logd_msg *m, const msgpack_object *map,
    const char *key, char *buf, size_t size)
{
	return cstr(m, map, key, 1, buf, size);
}

static int container(struct logd_msg *m, const msgpack_object *map,
    const char *key, int type, int opt, const msgpack_object **out)
{
	const msgpack_object *o = get(m, map, key);

	if (!o) {
		if (!opt)
			return missing(m, key);
		*out = NULL;
		return 0;
	}
	if ((int)o->type != type)
		return wrong(m, key, type == MSGPACK_OBJECT_ARRAY ?
		    "an array" : "a map");
	*out = o;
	return 0;
}

int logd_proto_array(struct logd_msg *m, const msgpack_object *map,
    const char *key, const msgpack_object_array **a)
{
	const msgpack_object *o = NULL;
	int rc = container(m, map, key, MSGPACK_OBJECT_ARRAY, 0, &o);

	if (!rc)
		*a = &o->via.array;
	return rc;
}

int logd_proto_array_opt(struct logd_msg *m, const msgpack_object *map,
    const char *key, const msgpack_object_array **a)
{
	const msgpack_object *o = NULL;
	int rc = container(m, map, key, MSGPACK_OBJECT_ARRAY, 1, &o);

	if (!rc)
		*a = o ? &o->via.array : NULL;
	return rc;
}

int logd_proto_map(struct logd_msg *m, const msgpack_object *map,
    const char *key, const msgpack_object **o)
{
	return container(m, map, key, MSGPACK_OBJECT_MAP, 0, o);
}

int logd_proto_map_opt(struct logd_msg *m, const msgpack_object *map,
    const char *key, const msgpack_object **o)
{
	return container(m, map, key, MSGPACK_OBJECT_MAP, 1, o);
}
