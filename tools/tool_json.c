/*
 * tool_json.c - JSON for the tools: rendering msgpack values and record
 * bytes as JSON, and a strict JSON parser that emits msgpack.  See
 * tool.h for the contracts.
 *
 * The parser makes two passes over the text with the same code.
 * msgpack needs the element count of a map or array before its elements,
 * so the first pass only validates and records the count of every
 * container in the order the containers open; the second pass packs,
 * taking the counts back in the same order.  Both passes are linear, no
 * tree is built, and since the first pass has validated everything the
 * second can only fail for lack of memory (then out is restored).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

/* ---- UTF-8 ---- */

/*
 * Decodes one UTF-8 sequence at p (n > 0 bytes available).  Returns its
 * length with the code point in *cp, or 0 if the bytes there are not
 * valid UTF-8 (overlong, surrogate, past U+10FFFF, truncated).
 */
static size_t utf8_next(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint32_t c = p[0], min;
	size_t len, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0) {
		len = 2;
		c &= 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3;
		c &= 0x0f;
		min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

int tool_utf8_valid(const void *p, size_t n)
{
	const uint8_t *s = p;
	size_t i = 0, k;
	uint32_t cp;

	while (i < n) {
		k = utf8_next(s + i, n - i, &cp);
		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

/* ---- Rendering ---- */

int tool_json_string(struct tool_buf *b, const void *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *s = p;
	size_t start = b->len, i = 0, k;
	uint32_t cp;
	int rc = 0;

	rc |= tool_buf_addc(b, '"');
	while (i < n && rc == 0) {
		uint8_t c = s[i];

		if (c >= 0x80) {
			k = utf8_next(s + i, n - i, &cp);
			if (k == 0) {
				rc |= tool_buf_adds(b, "\xef\xbf\xbd");
				i++;
			} else {
				rc |= tool_buf_add(b, s + i, k);
				i += k;
			}
			continue;
		}
		i++;
		switch (c) {
		case '"': rc |= tool_buf_adds(b, "\\\""); break;
		case '\\': rc |= tool_buf_adds(b, "\\\\"); break;
		case '\b': rc |= tool_buf_adds(b, "\\b"); break;
		case '\f': rc |= tool_buf_adds(b, "\\f"); break;
		case '\n': rc |= tool_buf_adds(b, "\\n"); break;
		case '\r': rc |= tool_buf_adds(b, "\\r"); break;
		case '\t': rc |= tool_buf_adds(b, "\\t"); break;
		default:
			if (c < 0x20 || c == 0x7f) {
				char u[7] = { '\\', 'u', '0', '0',
					hex[c >> 4], hex[c & 15], 0 };
				rc |= tool_buf_adds(b, u);
			} else {
				rc |= tool_buf_addc(b, (char)c);
			}
		}
	}
	rc |= tool_buf_addc(b, '"');
	if (rc != 0) {
		b->len = start;
		return -ENOMEM;
	}
	return 0;
}

int tool_base64(struct tool_buf *b, const void *p, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *s = p;
	size_t start = b->len, i = 0, o;
	char out[256];

	/* 192 input bytes -> 256 output characters per round */
	while (i < n) {
		for (o = 0; i + 2 < n && o < sizeof(out); i += 3) {
			uint32_t v = (uint32_t)s[i] << 16 |
			    (uint32_t)s[i + 1] << 8 | s[i + 2];

			out[o++] = tab[v >> 18];
			out[o++] = tab[(v >> 12) & 63];
			out[o++] = tab[(v >> 6) & 63];
			out[o++] = tab[v & 63];
		}
		if (i < n && i + 2 >= n && o < sizeof(out)) {
			uint32_t v = (uint32_t)s[i] << 16;

			if (i + 1 < n)
				v |= (uint32_t)s[i + 1] << 8;
			out[o++] = tab[v >> 18];
			out[o++] = tab[(v >> 12) & 63];
			out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
			out[o++] = '=';
			i = n;
		}
		if (tool_buf_add(b, out, o) < 0) {
			b->len = start;
			return -ENOMEM;
		}
	}
	return 0;
}

/* Shortest %g form that reads back as the same double (or float). */
static int render_float(struct tool_buf *b, double v, int is32)
{
	char tmp[64];
	int prec;

	if (isnan(v) || isinf(v))
		return tool_buf_adds(b, "null");
	for (prec = is32 ? 6 : 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (is32 ? (float)strtod(tmp, NULL) == (float)v
		    : strtod(tmp, NULL) == v)
			break;
	}
	if (strpbrk(tmp, ".eE") == NULL)
		strcat(tmp, ".0");
	return tool_buf_adds(b, tmp);
}

static int render_obj(struct tool_buf *b, const msgpack_object *o, int depth);

static int render_key(struct tool_buf *b, const msgpack_object *k, int depth)
{
	struct tool_buf tmp = TOOL_BUF_INIT;
	int rc;

	if (k->type == MSGPACK_OBJECT_STR)
		return tool_json_string(b, k->via.str.ptr, k->via.str.size);
	rc = render_obj(&tmp, k, depth);
	if (rc == 0)
		rc = tool_json_string(b, tmp.data, tmp.len);
	tool_buf_free(&tmp);
	return rc;
}

static int render_obj(struct tool_buf *b, const msgpack_object *o, int depth)
{
	uint32_t i;
	int rc = 0;

	if (depth > TOOL_JSON_MAX_DEPTH)
		return -EINVAL;
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return tool_buf_adds(b, "null");
	case MSGPACK_OBJECT_BOOLEAN:
		return tool_buf_adds(b, o->via.boolean ? "true" : "false");
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return tool_buf_printf(b, "%llu",
		    (unsigned long long)o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return tool_buf_printf(b, "%lld", (long long)o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
		return render_float(b, o->via.f64, 1);
	case MSGPACK_OBJECT_FLOAT64:
		return render_float(b, o->via.f64, 0);
	case MSGPACK_OBJECT_STR:
		return tool_json_string(b, o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_BIN:
		rc |= tool_buf_addc(b, '"');
		rc |= tool_base64(b, o->via.bin.ptr, o->via.bin.size);
		rc |= tool_buf_addc(b, '"');
		return rc ? -ENOMEM : 0;
	case MSGPACK_OBJECT_EXT:
		rc |= tool_buf_addc(b, '"');
		rc |= tool_base64(b, o->via.ext.ptr, o->via.ext.size);
		rc |= tool_buf_addc(b, '"');
		return rc ? -ENOMEM : 0;
	case MSGPACK_OBJECT_ARRAY:
		if (tool_buf_addc(b, '[') < 0)
			return -ENOMEM;
		for (i = 0; i < o->via.array.size; i++) {
			if (i > 0 && tool_buf_addc(b, ',') < 0)
				return -ENOMEM;
			rc = render_obj(b, &o->via.array.ptr[i], depth + 1);
			if (rc < 0)
				return rc;
		}
		return tool_buf_addc(b, ']');
	case MSGPACK_OBJECT_MAP:
		if (tool_buf_addc(b, '{') < 0)
			return -ENOMEM;
		for (i = 0; i < o->via.map.size; i++) {
			const msgpack_object_kv *kv = &o->via.map.ptr[i];

			if (i > 0 && tool_buf_addc(b, ',') < 0)
				return -ENOMEM;
			rc = render_key(b, &kv->key, depth + 1);
			if (rc == 0)
				rc = tool_buf_addc(b, ':');
			if (rc == 0)
				rc = render_obj(b, &kv->val, depth + 1);
			if (rc < 0)
				return rc;
		}
		return tool_buf_addc(b, '}');
	}
	return -EINVAL;
}

/* Unpacks exactly one object from p[0..n) into *u (destroyed by caller). */
static int unpack_one(msgpack_unpacked *u, const void *p, size_t n)
{
	size_t off = 0;

	if (p == NULL || n == 0)
		return -EINVAL;
	if (msgpack_unpack_next(u, p, n, &off) != MSGPACK_UNPACK_SUCCESS ||
	    off != n)
		return -EINVAL;
	return 0;
}

int tool_msgpack_to_json(struct tool_buf *b, const void *p, size_t n)
{
	msgpack_unpacked u;
	size_t start = b->len;
	int rc;

	msgpack_unpacked_init(&u);
	rc = unpack_one(&u, p, n);
	if (rc == 0)
		rc = render_obj(b, &u.data, 0);
	msgpack_unpacked_destroy(&u);
	if (rc < 0) {
		b->len = start;
		if (b->data != NULL)
			b->data[start] = '\0';
	}
	return rc;
}

int tool_is_msgpack_container(const void *p, size_t n)
{
	const uint8_t *s = p;
	msgpack_unpacked u;
	int ok;

	if (p == NULL || n == 0)
		return 0;
	/* fixmap, fixarray, array16/32, map16/32 */
	if (!((s[0] >= 0x80 && s[0] <= 0x9f) || (s[0] >= 0xdc && s[0] <= 0xdf)))
		return 0;
	msgpack_unpacked_init(&u);
	ok = unpack_one(&u, p, n) == 0;
	msgpack_unpacked_destroy(&u);
	return ok;
}

int tool_value_to_json(struct tool_buf *b, const void *p, size_t n,
    enum tool_value_kind *kind)
{
	enum tool_value_kind k;
	size_t start = b->len;
	int rc = 0;

	if (p == NULL) {
		k = TOOL_VALUE_NULL;
		rc = tool_buf_adds(b, "null");
	} else if (tool_is_msgpack_container(p, n) &&
	    tool_msgpack_to_json(b, p, n) == 0) {
		k = TOOL_VALUE_MSGPACK;
	} else if (tool_utf8_valid(p, n)) {
		k = TOOL_VALUE_STRING;
		rc = tool_json_string(b, p, n);
	} else {
		k = TOOL_VALUE_BASE64;
		rc |= tool_buf_addc(b, '"');
		rc |= tool_base64(b, p, n);
		rc |= tool_buf_addc(b, '"');
	}
	if (rc != 0) {
		b->len = start;
		return -ENOMEM;
	}
	if (kind != NULL)
		*kind = k;
	return 0;
}

/* ---- JSON parser ---- */

struct jp {
	const char *s;
	size_t n, i;
	int emit;                 /* 0: validate and count, 1: pack */
	int depth;
	msgpack_packer pk;
	uint32_t *counts;         /* element count per container, in order */
	size_t ncounts, cap, ci;
	struct tool_buf str;      /* decoded string scratch */
	char *err;
	size_t err_size;
	int nomem;
};

static int jp_fail(struct jp *j, const char *what)
{
	size_t line = 1, col = 1, k;

	for (k = 0; k < j->i && k < j->n; k++) {
		if (j->s[k] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	if (j->err != NULL && j->err_size > 0)
		snprintf(j->err, j->err_size, "line %zu, column %zu: %s",
		    line, col, what);
	return -EINVAL;
}

static int jp_nomem(struct jp *j)
{
	j->nomem = 1;
	return -ENOMEM;
}

static void jp_ws(struct jp *j)
{
	while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' ||
	    j->s[j->i] == '\n' || j->s[j->i] == '\r'))
		j->i++;
}

static int jp_peek(struct jp *j)
{
	return j->i < j->n ? (unsigned char)j->s[j->i] : -1;
}

static int jp_hex4(struct jp *j, uint32_t *v)
{
	uint32_t r = 0;
	int k;

	if (j->n - j->i < 4)
		return jp_fail(j, "truncated \\u escape");
	for (k = 0; k < 4; k++) {
		char c = j->s[j->i + k];

		r <<= 4;
		if (c >= '0' && c <= '9')
			r |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			r |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			r |= (uint32_t)(c - 'A' + 10);
		else
			return jp_fail(j, "bad hex digit in \\u escape");
	}
	j->i += 4;
	*v = r;
	return 0;
}

static int jp_put_utf8(struct jp *j, uint32_t cp)
{
	char u[4];
	size_t len;

	if (cp < 0x80) {
		u[0] = (char)cp;
		len = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		len = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		len = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		len = 4;
	}
	return tool_buf_add(&j->str, u, len) < 0 ? jp_nomem(j) : 0;
}

/* Parses a string at '"' into j->str; packs it when emitting. */
static int jp_string(struct jp *j)
{
	uint32_t cp, lo;
	size_t k;
	int rc;

	tool_buf_reset(&j->str);
	j->i++;
	for (;;) {
		int c = jp_peek(j);

		if (c < 0)
			return jp_fail(j, "unterminated string");
		if (c == '"') {
			j->i++;
			break;
		}
		if (c < 0x20)
			return jp_fail(j, "control character in string");
		if (c == '\\') {
			j->i++;
			c = jp_peek(j);
			j->i++;
			switch (c) {
			case '"': cp = '"'; break;
			case '\\': cp = '\\'; break;
			case '/': cp = '/'; break;
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			case 'u':
				if ((rc = jp_hex4(j, &cp)) < 0)
					return rc;
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return jp_fail(j, "lone low surrogate");
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (j->n - j->i < 2 ||
					    j->s[j->i] != '\\' ||
					    j->s[j->i + 1] != 'u')
						return jp_fail(j,
						    "lone high surrogate");
					j->i += 2;
					if ((rc = jp_hex4(j, &lo)) < 0)
						return rc;
					if (lo < 0xdc00 || lo > 0xdfff)
						return jp_fail(j,
						    "bad low surrogate");
					cp = 0x10000 + ((cp - 0xd800) << 10) +
					    (lo - 0xdc00);
				}
				break;
			default:
				j->i--;
				return jp_fail(j, "bad escape in string");
			}
			if ((rc = jp_put_utf8(j, cp)) < 0)
				return rc;
			continue;
		}
		k = utf8_next((const uint8_t *)j->s + j->i, j->n - j->i, &cp);
		if (k == 0)
			return jp_fail(j, "invalid UTF-8 in string");
		if (tool_buf_add(&j->str, j->s + j->i, k) < 0)
			return jp_nomem(j);
		j->i += k;
	}
	if (j->emit) {
		if (msgpack_pack_str(&j->pk, j->str.len) < 0 ||
		    msgpack_pack_str_body(&j->pk, j->str.data, j->str.len) < 0)
			return jp_nomem(j);
	}
	return 0;
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int jp_number(struct jp *j)
{
	size_t start = j->i;
	int integral = 1;
	char *end;
	int rc = 0;

	if (jp_peek(j) == '-')
		j->i++;
	if (jp_peek(j) == '0') {
		j->i++;
		if (is_digit(jp_peek(j)))
			return jp_fail(j, "leading zero in number");
	} else if (is_digit(jp_peek(j))) {
		while (is_digit(jp_peek(j)))
			j->i++;
	} else {
		return jp_fail(j, "bad number");
	}
	if (jp_peek(j) == '.') {
		integral = 0;
		j->i++;
		if (!is_digit(jp_peek(j)))
			return jp_fail(j, "digit expected after '.'");
		while (is_digit(jp_peek(j)))
			j->i++;
	}
	if (jp_peek(j) == 'e' || jp_peek(j) == 'E') {
		integral = 0;
		j->i++;
		if (jp_peek(j) == '+' || jp_peek(j) == '-')
			j->i++;
		if (!is_digit(jp_peek(j)))
			return jp_fail(j, "digit expected in exponent");
		while (is_digit(jp_peek(j)))
			j->i++;
	}
	/* A NUL-terminated copy for strto*(). */
	tool_buf_reset(&j->str);
	if (tool_buf_add(&j->str, j->s + start, j->i - start) < 0)
		return jp_nomem(j);
	if (integral) {
		errno = 0;
		if (j->s[start] == '-') {
			long long v = strtoll(j->str.data, &end, 10);

			if (errno == 0) {
				if (j->emit)
					rc = msgpack_pack_int64(&j->pk, v);
				return rc < 0 ? jp_nomem(j) : 0;
			}
		} else {
			unsigned long long v = strtoull(j->str.data, &end, 10);

			if (errno == 0) {
				if (j->emit)
					rc = msgpack_pack_uint64(&j->pk, v);
				return rc < 0 ? jp_nomem(j) : 0;
			}
		}
	}
	{
		double d = strtod(j->str.data, &end);

		if (isinf(d)) {
			j->i = start;
			return jp_fail(j, "number out of range");
		}
		if (j->emit && msgpack_pack_double(&j->pk, d) < 0)
			return jp_nomem(j);
	}
	return 0;
}

static int jp_literal(struct jp *j, const char *word)
{
	size_t len = strlen(word);

	if (j->n - j->i < len || memcmp(j->s + j->i, word, len) != 0)
		return jp_fail(j, "unexpected character");
	j->i += len;
	return 0;
}

static int jp_value(struct jp *j);

/* Reserves (pass 1) or takes (pass 2) the count of the next container. */
static int jp_count_slot(struct jp *j, size_t *slot, uint32_t *count)
{
	if (j->emit) {
		*count = j->counts[j->ci++];
		return 0;
	}
	if (j->ncounts == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 16;
		uint32_t *p = realloc(j->counts, cap * sizeof(*p));

		if (p == NULL)
			return jp_nomem(j);
		j->counts = p;
		j->cap = cap;
	}
	*slot = j->ncounts++;
	j->counts[*slot] = 0;
	return 0;
}

static int jp_container(struct jp *j, int obj)
{
	char close = obj ? '}' : ']';
	uint32_t count = 0, k = 0;
	size_t slot = 0;
	int rc;

	if (++j->depth > TOOL_JSON_MAX_DEPTH)
		return jp_fail(j, "nesting too deep");
	if ((rc = jp_count_slot(j, &slot, &count)) < 0)
		return rc;
	if (j->emit) {
		rc = obj ? msgpack_pack_map(&j->pk, count)
		    : msgpack_pack_array(&j->pk, count);
		if (rc < 0)
			return jp_nomem(j);
	}
	j->i++;
	jp_ws(j);
	if (jp_peek(j) == close) {
		j->i++;
		j->depth--;
		return 0;
	}
	for (;;) {
		jp_ws(j);
		if (obj) {
			if (jp_peek(j) != '"')
				return jp_fail(j, "expected a string key");
			if ((rc = jp_string(j)) < 0)
				return rc;
			jp_ws(j);
			if (jp_peek(j) != ':')
				return jp_fail(j, "expected ':'");
			j->i++;
		}
		if ((rc = jp_value(j)) < 0)
			return rc;
		if (k == UINT32_MAX)
			return jp_fail(j, "too many elements");
		k++;
		jp_ws(j);
		if (jp_peek(j) == ',') {
			j->i++;
			continue;
		}
		if (jp_peek(j) == close) {
			j->i++;
			break;
		}
		return jp_fail(j, obj ? "expected ',' or '}'" :
		    "expected ',' or ']'");
	}
	if (!j->emit)
		j->counts[slot] = k;
	j->depth--;
	return 0;
}

static int jp_value(struct jp *j)
{
	int rc = 0;

	jp_ws(j);
	switch (jp_peek(j)) {
	case '{':
		return jp_container(j, 1);
	case '[':
		return jp_container(j, 0);
	case '"':
		return jp_string(j);
	case 't':
		if ((rc = jp_literal(j, "true")) == 0 && j->emit)
			rc = msgpack_pack_true(&j->pk) < 0 ? jp_nomem(j) : 0;
		return rc;
	case 'f':
		if ((rc = jp_literal(j, "false")) == 0 && j->emit)
			rc = msgpack_pack_false(&j->pk) < 0 ? jp_nomem(j) : 0;
		return rc;
	case 'n':
		if ((rc = jp_literal(j, "null")) == 0 && j->emit)
			rc = msgpack_pack_nil(&j->pk) < 0 ? jp_nomem(j) : 0;
		return rc;
	case -1:
		return jp_fail(j, "unexpected end of input");
	default:
		if (jp_peek(j) == '-' || is_digit(jp_peek(j)))
			return jp_number(j);
		return jp_fail(j, "unexpected character");
	}
}

static int jp_pass(struct jp *j)
{
	int rc;

	j->i = 0;
	j->depth = 0;
	j->ci = 0;
	if ((rc = jp_value(j)) < 0)
		return rc;
	jp_ws(j);
	if (j->i != j->n)
		return jp_fail(j, "trailing characters after the value");
	return 0;
}

static int json_parse(const char *s, size_t n, msgpack_sbuffer *out,
    char *err, size_t err_size)
{
	struct jp j;
	size_t start = out != NULL ? out->size : 0;
	int rc;

	memset(&j, 0, sizeof(j));
	j.s = s;
	j.n = n;
	j.err = err;
	j.err_size = err_size;
	if (err != NULL && err_size > 0)
		err[0] = '\0';
	rc = jp_pass(&j);
	if (rc == 0 && out != NULL) {
		j.emit = 1;
		msgpack_packer_init(&j.pk, out, msgpack_sbuffer_write);
		rc = jp_pass(&j);
		if (rc < 0)
			out->size = start;
	}
	if (rc < 0 && j.nomem) {
		rc = -ENOMEM;
		if (err != NULL && err_size > 0)
			snprintf(err, err_size, "out of memory");
	}
	free(j.counts);
	tool_buf_free(&j.str);
	return rc;
}

int tool_json_to_msgpack(const char *s, size_t n, msgpack_sbuffer *out,
    char *err, size_t err_size)
{
	return json_parse(s, n, out, err, err_size);
}

int tool_json_check(const char *s, size_t n, char *err, size_t err_size)
{
	return json_parse(s, n, NULL, err, err_size);
}

char tool_json_type(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
	    s[i] == '\r'))
		i++;
	if (i == n)
		return 0;
	switch (s[i]) {
	case '{': return 'o';
	case '[': return 'a';
	case '"': return 's';
	case 't': return 't';
	case 'f': return 'f';
	case 'n': return 'z';
	default:
		return s[i] == '-' || is_digit((unsigned char)s[i]) ? 'n' : 0;
	}
}
