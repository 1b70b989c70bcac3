/*
 * logetl_read.c - logetl's readings: a small msgpack reader and the
 * decoding of one sensor reading (see logetl.h).
 */
#include <math.h>
#include <string.h>

#include "logetl.h"

const char *const etl_metrics[NMETRICS] = { "temperature", "humidity",
    "wind_speed", "pressure" };

const char *const etl_bad_names[BAD_KINDS] = {
	"null or empty value",
	"not one msgpack value",
	"not a msgpack map",
	"no sensor_id string",
	"no city string",
	"timestamp is not an ISO 8601 UTC time",
	"lat or lon is not a finite number",
	"no finite number temperature",
	"no finite number humidity",
	"no finite number wind_speed",
	"no finite number pressure",
};

/* ---- Readings ---- */

/*
 * A small msgpack reader, enough for a map of scalars: msgpack-c's
 * unpacker allocates a zone for every value, which was a tenth of the
 * load's time.  Values are checked as strictly as msgpack-c does (every
 * length within the bytes, no 0xc1); nested containers are skipped up to
 * MP_DEPTH levels.
 */
#define MP_DEPTH 32

enum mp_type { MP_NIL, MP_BOOL, MP_UINT, MP_INT, MP_FLOAT, MP_STR, MP_BIN,
    MP_EXT, MP_ARRAY, MP_MAP };

struct mp {
	const uint8_t *p, *end;
};

struct mp_val {
	enum mp_type type;
	uint64_t u;               /* MP_UINT, MP_BOOL; a container's count */
	int64_t i;                /* MP_INT */
	double f;                 /* MP_FLOAT */
	const char *s;            /* MP_STR, MP_BIN, MP_EXT bytes */
	size_t len;
};

/* Reads an n-byte big-endian number.  0 or -1 (too short). */
static int
mp_be(struct mp *m, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if ((size_t)(m->end - m->p) < n)
		return -1;
	for (i = 0; i < n; i++)
		x = x << 8 | m->p[i];
	m->p += n;
	*v = x;
	return 0;
}

/* Takes n bytes of body.  0 or -1. */
static int
mp_body(struct mp *m, uint64_t n, struct mp_val *v)
{
	if ((uint64_t)(m->end - m->p) < n)
		return -1;
	v->s = (const char *)m->p;
	v->len = (size_t)n;
	m->p += n;
	return 0;
}

/* Reads one value's header (and a string's, bin's or ext's bytes; the
 * elements of an array or map follow).  0 or -1 (malformed). */
static int
mp_next(struct mp *m, struct mp_val *v)
{
	uint64_t x;
	uint8_t b;

	if (m->p >= m->end)
		return -1;
	b = *m->p++;
	if (b <= 0x7f || b >= 0xe0) {
		v->type = b <= 0x7f ? MP_UINT : MP_INT;
		v->u = b;
		v->i = (int8_t)b;
		return 0;
	}
	if (b <= 0x8f || (b >= 0x90 && b <= 0x9f)) {
		v->type = b <= 0x8f ? MP_MAP : MP_ARRAY;
		v->u = b & 0x0f;
		return 0;
	}
	if (b <= 0xbf) {
		v->type = MP_STR;
		return mp_body(m, b & 0x1f, v);
	}
	switch (b) {
	case 0xc0:
		v->type = MP_NIL;
		return 0;
	case 0xc2:
	case 0xc3:
		v->type = MP_BOOL;
		v->u = b == 0xc3;
		return 0;
	case 0xc4: case 0xc5: case 0xc6:
		v->type = MP_BIN;
		return mp_be(m, (size_t)1 << (b - 0xc4), &x) < 0 ? -1 :
		    mp_body(m, x, v);
	case 0xc7: case 0xc8: case 0xc9:
		v->type = MP_EXT;
		return mp_be(m, (size_t)1 << (b - 0xc7), &x) < 0 ? -1 :
		    mp_body(m, x + 1, v);
	case 0xca:
		if (mp_be(m, 4, &x) < 0)
			return -1;
		{
			uint32_t w = (uint32_t)x;
			float fl;

			memcpy(&fl, &w, sizeof(fl));
			v->f = fl;
		}
		v->type = MP_FLOAT;
		return 0;
	case 0xcb:
		if (mp_be(m, 8, &x) < 0)
			return -1;
		memcpy(&v->f, &x, sizeof(v->f));
		v->type = MP_FLOAT;
		return 0;
	case 0xcc: case 0xcd: case 0xce: case 0xcf:
		v->type = MP_UINT;
		return mp_be(m, (size_t)1 << (b - 0xcc), &v->u);
	case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
		size_t n = (size_t)1 << (b - 0xd0);

		if (mp_be(m, n, &x) < 0)
			return -1;
		/* Sign-extend from n bytes. */
		v->i = n == 8 ? (int64_t)x :
		    (int64_t)(x ^ (1ULL << (8 * n - 1))) -
		    (int64_t)(1ULL << (8 * n - 1));
		v->type = v->i >= 0 ? MP_UINT : MP_INT;
		v->u = (uint64_t)v->i;
		return 0;
	}
	case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
		v->type = MP_EXT;
		return mp_body(m, 1 + ((uint64_t)1 << (b - 0xd4)), v);
	case 0xd9: case 0xda: case 0xdb:
		v->type = MP_STR;
		return mp_be(m, (size_t)1 << (b - 0xd9), &x) < 0 ? -1 :
		    mp_body(m, x, v);
	case 0xdc: case 0xdd:
		v->type = MP_ARRAY;
		return mp_be(m, b == 0xdc ? 2 : 4, &v->u);
	case 0xde: case 0xdf:
		v->type = MP_MAP;
		return mp_be(m, b == 0xde ? 2 : 4, &v->u);
	default:                /* 0xc1: never used */
		return -1;
	}
}

/* Skips the elements of a container whose header was v.  0 or -1. */
static int
mp_skip_elems(struct mp *m, const struct mp_val *v, int depth)
{
	uint64_t n, i;
	struct mp_val e;

	if (v->type != MP_ARRAY && v->type != MP_MAP)
		return 0;
	if (depth >= MP_DEPTH)
		return -1;
	n = v->type == MP_MAP ? 2 * v->u : v->u;
	/* Each element takes a byte at least. */
	if (n > (uint64_t)(m->end - m->p))
		return -1;
	for (i = 0; i < n; i++)
		if (mp_next(m, &e) < 0 || mp_skip_elems(m, &e, depth + 1) < 0)
			return -1;
	return 0;
}

/* A finite number from v, or -1. */
static int
mp_number(const struct mp_val *v, double *out)
{
	switch (v->type) {
	case MP_UINT:
		*out = (double)v->u;
		return 0;
	case MP_INT:
		*out = (double)v->i;
		return 0;
	case MP_FLOAT:
		if (!isfinite(v->f))
			return -1;
		*out = v->f;
		return 0;
	default:
		return -1;
	}
}

static int
str_is(const struct mp_val *k, const char *name, size_t n)
{
	return k->len == n && !memcmp(k->s, name, n);
}

/* The reading's time: ISO 8601 as tool_parse_time() reads it, but never a
 * relative time ("now", "-5m"). */
static int
parse_ts(const char *s, size_t len, int64_t *ms)
{
	char buf[64];

	if (len == 0 || len >= sizeof(buf) || s[0] < '0' || s[0] > '9')
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return tool_parse_time(buf, 0, ms) < 0 ? -1 : 0;
}

/*
 * Decodes a record's value into *rd (pointing into the record).  Returns
 * BAD_NONE or why it is not a reading.  The whole value is read before a
 * field is judged, so a truncated value is always BAD_MSGPACK; with a
 * key given twice the last one counts.
 */
enum bad
etl_reading_parse(const struct logd_record *rec, struct reading *rd)
{
	struct mp m;
	struct mp_val top, k, v;
	unsigned have = 0;
	int bad_ts = 0, bad_latlon = 0, j;
	uint64_t i;

	memset(rd, 0, sizeof(*rd));
	if (rec->value == NULL || rec->value_len == 0)
		return BAD_EMPTY;
	m.p = rec->value;
	m.end = m.p + rec->value_len;
	if (mp_next(&m, &top) < 0)
		return BAD_MSGPACK;
	if (top.type != MP_MAP)
		return mp_skip_elems(&m, &top, 0) < 0 || m.p != m.end ?
		    BAD_MSGPACK : BAD_NOTMAP;
	if (top.u > (uint64_t)(m.end - m.p))
		return BAD_MSGPACK;
	for (i = 0; i < top.u; i++) {
		if (mp_next(&m, &k) < 0 || mp_skip_elems(&m, &k, 1) < 0 ||
		    mp_next(&m, &v) < 0 || mp_skip_elems(&m, &v, 1) < 0)
			return BAD_MSGPACK;
		if (k.type != MP_STR)
			continue;
		if (str_is(&k, "sensor_id", 9)) {
			rd->sensor_id = v.type == MP_STR ? v.s : NULL;
			rd->sensor_id_len = (int)v.len;
		} else if (str_is(&k, "city", 4)) {
			rd->city = v.type == MP_STR ? v.s : NULL;
			rd->city_len = (int)v.len;
		} else if (str_is(&k, "timestamp", 9)) {
			bad_ts = v.type != MP_STR ||
			    parse_ts(v.s, v.len, &rd->ts_ms) < 0;
			rd->ts = bad_ts ? NULL : v.s;
			rd->ts_len = (int)v.len;
		} else if (str_is(&k, "lat", 3)) {
			bad_latlon |= mp_number(&v, &rd->lat) < 0;
			rd->have_lat = 1;
		} else if (str_is(&k, "lon", 3)) {
			bad_latlon |= mp_number(&v, &rd->lon) < 0;
			rd->have_lon = 1;
		} else {
			for (j = 0; j < NMETRICS; j++)
				if (str_is(&k, etl_metrics[j], strlen(etl_metrics[j])))
					break;
			if (j == NMETRICS)
				continue;
			if (mp_number(&v, &rd->m[j]) < 0)
				have &= ~(1u << j);
			else
				have |= 1u << j;
		}
	}
	if (m.p != m.end)
		return BAD_MSGPACK;
	if (rd->sensor_id == NULL || rd->sensor_id_len <= 0 ||
	    rd->sensor_id_len > 1000)
		return BAD_SENSOR;
	if (rd->city == NULL || rd->city_len <= 0 || rd->city_len > 1000)
		return BAD_CITY;
	if (bad_ts)
		return BAD_TIMESTAMP;
	if (bad_latlon)
		return BAD_LATLON;
	for (j = 0; j < NMETRICS; j++)
		if (!(have & 1u << j))
			return (enum bad)(BAD_METRIC + j);
	if (rd->ts == NULL) {
		/* No timestamp field: the record's own time. */
		rd->ts_ms = rec->timestamp;
		tool_format_time(rec->timestamp, rd->ts_buf,
		    sizeof(rd->ts_buf));
		rd->ts = rd->ts_buf;
		rd->ts_len = (int)strlen(rd->ts_buf);
	}
	return BAD_NONE;
}
