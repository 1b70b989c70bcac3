/*
 * logbench_redis.c - the Redis Streams peer of `logbench latency`.
 *
 * The nearest thing Redis has to a log: a stream.  Two TCP connections
 * speak RESP2, written and read by hand (no client library):
 *
 *   producer  XADD <topic> MAXLEN ~ 1000000 * v <value>, pipelined: each
 *             record is one command written at once; the replies (an
 *             entry ID each, the moment the entry is in memory: Redis's
 *             acks=1) are read as they come, and an error reply fails
 *             the run with Redis's message.
 *   consumer  XREAD BLOCK 1000 COUNT 1000 STREAMS <topic> <last id>, one
 *             at a time, the next one sent as soon as a reply is in.
 *
 * The first XREAD starts where the stream ends when the peer opens.  A
 * literal `$` would be resolved when Redis runs that XREAD, which may be
 * after the first XADDs, losing them; so open() asks for the last entry
 * (XREVRANGE <topic> + - COUNT 1, "0-0" for none) and reads on from its
 * ID, which is what `$` means without the race.
 *
 * Replies are parsed from a buffer that holds whatever has arrived:
 * resp_complete() first measures one whole reply (or says more is
 * needed), then a cursor walks it.  Nothing is assumed about how reads
 * split a reply; nulls (an XREAD that timed out), empty arrays, and
 * fields other than "v" are taken as they come.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logbench.h"

#define REDIS_DEFAULT_PORT 6379
/* The most one reply may take (COUNT 1000 values of at most 1 MiB). */
#define REDIS_REPLY_MAX ((size_t)1 << 31)
/* Stream IDs are two 64-bit numbers and a dash. */
#define REDIS_ID_MAX 48

struct peer_redis {
	struct lb_peer base;
	int pfd, cfd;
	const char *topic;
	struct lb_out pout, cout;
	uint8_t *pin, *cin;       /* replies received, from [0] */
	size_t pin_len, pin_cap, cin_len, cin_cap;
	int reading;              /* an XREAD is out */
	char last_id[REDIS_ID_MAX];
	uint64_t replies;         /* XADD replies read */
};

/* ---- RESP ---- */

/*
 * The length of the one whole reply at b[0..n): > 0, 0 if it is not all
 * there yet, -EPROTO if it is not RESP2.
 */
static long long
resp_complete(const uint8_t *b, size_t n)
{
	size_t off = 0;
	long long pending = 1;

	while (pending > 0) {
		const uint8_t *eol;
		long long v = 0;
		size_t i, line;
		int neg = 0;

		if (off >= n || (eol = memchr(b + off, '\r', n - off)) == NULL ||
		    (size_t)(eol - b) + 1 >= n)
			return 0;
		if (eol[1] != '\n')
			return -EPROTO;
		line = (size_t)(eol - b);
		pending--;
		if (b[off] == '+' || b[off] == '-') {
			off = line + 2;
			continue;
		}
		i = off + 1;
		if (i < line && b[i] == '-')
			neg = 1, i++;
		if (i == line || line - i > 18)
			return -EPROTO;
		for (; i < line; i++) {
			if (b[i] < '0' || b[i] > '9')
				return -EPROTO;
			v = v * 10 + (b[i] - '0');
		}
		v = neg ? -v : v;
		switch (b[off]) {
		case ':':
			off = line + 2;
			break;
		case '$':
			off = line + 2;
			if (v == -1)
				break;
			if (v < 0 || (size_t)v > REDIS_REPLY_MAX)
				return -EPROTO;
			if (n - off < (size_t)v + 2)
				return 0;
			if (b[off + (size_t)v] != '\r' ||
			    b[off + (size_t)v + 1] != '\n')
				return -EPROTO;
			off += (size_t)v + 2;
			break;
		case '*':
			off = line + 2;
			if (v < -1 || (size_t)(v + 1) > REDIS_REPLY_MAX / 4)
				return -EPROTO;
			if (v > 0)
				pending += v;
			break;
		default:
			return -EPROTO;
		}
	}
	return (long long)off;
}

/* A cursor over one whole reply (checked by resp_complete()). */
struct resp {
	const uint8_t *p, *end;
};

/*
 * The next item: its type ('+', '-', ':', '$', '*'), n (the integer, a
 * bulk string's length or an array's count, -1 for null) and, for
 * strings, the bytes.  Advances past it (an array's elements follow).
 */
static int
resp_item(struct resp *r, char *type, long long *n, const uint8_t **data)
{
	const uint8_t *eol;
	char num[24];
	size_t len;

	if (r->p >= r->end ||
	    (eol = memchr(r->p, '\r', (size_t)(r->end - r->p))) == NULL)
		return -EPROTO;
	*type = (char)r->p[0];
	*data = r->p + 1;
	*n = (long long)(eol - r->p - 1);
	if (*type != '+' && *type != '-') {
		len = (size_t)(eol - r->p - 1);
		if (len >= sizeof(num))
			return -EPROTO;
		memcpy(num, r->p + 1, len);
		num[len] = '\0';
		*n = strtoll(num, NULL, 10);
	}
	r->p = eol + 2;
	if (*type == '$' && *n >= 0) {
		if ((size_t)(r->end - r->p) < (size_t)*n + 2)
			return -EPROTO;
		*data = r->p;
		r->p += *n + 2;
	}
	return 0;
}

/* Skips one value, an array with all it holds. */
static int
resp_skip(struct resp *r)
{
	long long pending = 1, n;
	const uint8_t *d;
	char t;

	while (pending-- > 0) {
		if (resp_item(r, &t, &n, &d) < 0)
			return -EPROTO;
		if (t == '*' && n > 0)
			pending += n;
	}
	return 0;
}

/* The next item must be an array (n its count, -1 null) or fails. */
static int
resp_array(struct resp *r, long long *n)
{
	const uint8_t *d;
	char t;

	if (resp_item(r, &t, n, &d) < 0 || t != '*')
		return -EPROTO;
	return 0;
}

/* The next item must be a bulk string (not null). */
static int
resp_bulk(struct resp *r, const uint8_t **d, size_t *len)
{
	long long n;
	char t;

	if (resp_item(r, &t, &n, d) < 0 || t != '$' || n < 0)
		return -EPROTO;
	*len = (size_t)n;
	return 0;
}

/* Queues one command of argc bulk strings. */
static int
resp_command(struct lb_out *o, int argc, const char *const *argv,
    const size_t *lens)
{
	char head[32];
	int i, r;

	snprintf(head, sizeof(head), "*%d\r\n", argc);
	if ((r = lb_out_add(o, head, strlen(head))) < 0)
		return r;
	for (i = 0; i < argc; i++) {
		size_t len = lens != NULL && lens[i] != (size_t)-1 ? lens[i] :
		    strlen(argv[i]);

		snprintf(head, sizeof(head), "$%zu\r\n", len);
		if ((r = lb_out_add(o, head, strlen(head))) < 0 ||
		    (r = lb_out_add(o, argv[i], len)) < 0 ||
		    (r = lb_out_add(o, "\r\n", 2)) < 0)
			return r;
	}
	return 0;
}

/* ---- the peer ---- */

static void
redis_peer_close(struct lb_peer *base)
{
	struct peer_redis *rd = (struct peer_redis *)base;

	if (rd == NULL)
		return;
	if (rd->pfd >= 0)
		close(rd->pfd);
	if (rd->cfd >= 0)
		close(rd->cfd);
	lb_out_free(&rd->pout);
	lb_out_free(&rd->cout);
	free(rd->pin);
	free(rd->cin);
	free(rd);
}

/* Copies an error reply's text (a '-' item at data, n bytes) to err. */
static void
redis_error(char *err, size_t err_size, const char *what,
    const uint8_t *data, long long n)
{
	snprintf(err, err_size, "%s: %.*s", what, (int)(n > 200 ? 200 :
	    n), (const char *)data);
}

/* Reads the one XREVRANGE reply that says where the stream ends. */
static int
redis_last_id(struct peer_redis *rd, char *err, size_t err_size)
{
	const char *argv[] = { "XREVRANGE", rd->topic, "+", "-", "COUNT", "1" };
	struct resp cur;
	long long len = 0, n;
	const uint8_t *d;
	size_t idlen;
	char t;
	int r;

	if ((r = resp_command(&rd->cout, 6, argv, NULL)) < 0 ||
	    (r = lb_out_flush(&rd->cout, rd->cfd)) != 0)
		goto io;
	while ((len = resp_complete(rd->cin, rd->cin_len)) == 0) {
		struct pollfd pfd = { rd->cfd, POLLIN, 0 };

		if (poll(&pfd, 1, 5000) != 1) {
			snprintf(err, err_size, "XREVRANGE: no answer in 5 s "
			    "(is it Redis?)");
			return -ETIMEDOUT;
		}
		if ((r = lb_in_read(rd->cfd, &rd->cin, &rd->cin_len,
		    &rd->cin_cap, REDIS_REPLY_MAX)) < 0)
			goto io;
	}
	if (len < 0)
		goto proto;
	cur.p = rd->cin;
	cur.end = rd->cin + len;
	snprintf(rd->last_id, sizeof(rd->last_id), "0-0");
	if (resp_item(&cur, &t, &n, &d) < 0)
		goto proto;
	if (t == '-') {
		redis_error(err, err_size, "XREVRANGE", d, n);
		return -EPROTO;
	}
	if (t != '*')
		goto proto;
	if (n > 0) {      /* [[id, [field, value, ...]]] */
		if (resp_array(&cur, &n) < 0 || n < 1 ||
		    resp_bulk(&cur, &d, &idlen) < 0 ||
		    idlen >= sizeof(rd->last_id))
			goto proto;
		memcpy(rd->last_id, d, idlen);
		rd->last_id[idlen] = '\0';
	}
	rd->cin_len -= (size_t)len;
	memmove(rd->cin, rd->cin + len, rd->cin_len);
	return 0;
io:
	snprintf(err, err_size, "%s", r == -EPIPE ?
	    "the server closed the connection" : strerror(r < 0 ? -r :
	    EAGAIN));
	return r < 0 ? r : -EAGAIN;
proto:
	snprintf(err, err_size, "not a Redis reply to XREVRANGE");
	return -EPROTO;
}

static int
redis_peer_open(const struct lb_peer_conf *c, struct lb_peer **out,
    char *err, size_t err_size)
{
	struct peer_redis *rd = calloc(1, sizeof(*rd));
	int r;

	if (rd == NULL)
		return -ENOMEM;
	rd->base.ops = &lb_peer_redis;
	rd->topic = c->topic;
	rd->pfd = -1;
	if ((rd->cfd = lb_net_connect(c->addr, REDIS_DEFAULT_PORT, err,
	    err_size)) < 0) {
		r = rd->cfd;
		goto fail;
	}
	if ((r = redis_last_id(rd, err, err_size)) < 0)
		goto fail;
	if ((rd->pfd = lb_net_connect(c->addr, REDIS_DEFAULT_PORT, err,
	    err_size)) < 0) {
		r = rd->pfd;
		goto fail;
	}
	*out = &rd->base;
	return 0;
fail:
	redis_peer_close(&rd->base);
	return r;
}

static int
redis_peer_send(struct lb_peer *base, const uint8_t *value, size_t len)
{
	struct peer_redis *rd = (struct peer_redis *)base;
	const char *argv[] = { "XADD", rd->topic, "MAXLEN", "~", "1000000",
		"*", "v", (const char *)value };
	const size_t lens[] = { (size_t)-1, (size_t)-1, (size_t)-1,
		(size_t)-1, (size_t)-1, (size_t)-1, (size_t)-1, len };
	int r;

	if ((r = resp_command(&rd->pout, 8, argv, lens)) < 0 ||
	    (r = lb_out_flush(&rd->pout, rd->pfd)) < 0) {
		snprintf(base->err, sizeof(base->err), "XADD: %s",
		    strerror(-r));
		return r;
	}
	base->requests++;
	return 0;
}

/* The XADD replies that have come in: IDs, or an error that stops all. */
static int
redis_produced(struct peer_redis *rd)
{
	size_t off = 0;
	long long len;
	int r = 0;

	while ((len = resp_complete(rd->pin + off, rd->pin_len - off)) > 0) {
		struct resp cur = { rd->pin + off, rd->pin + off + len };
		const uint8_t *d;
		long long n;
		char t;

		if (resp_item(&cur, &t, &n, &d) < 0)
			break;
		if (t == '-') {
			redis_error(rd->base.err, sizeof(rd->base.err),
			    "XADD", d, n);
			return -EPROTO;
		}
		if (t != '$' || n <= 0)
			break;
		rd->replies++;
		off += (size_t)len;
	}
	if (len != 0) {
		snprintf(rd->base.err, sizeof(rd->base.err), "not a Redis "
		    "reply to XADD");
		return -EPROTO;
	}
	rd->pin_len -= off;
	memmove(rd->pin, rd->pin + off, rd->pin_len);
	return r;
}

/*
 * One XREAD reply: null (timed out) or [[key, [[id, [field, value,
 * ...]], ...]], ...]; each "v" goes to fn and the last ID is kept.
 */
static int
redis_walk(struct peer_redis *rd, struct resp *cur, lb_recv_fn fn, void *arg)
{
	long long streams, entries, fields, i, k, f;
	const uint8_t *d, *v;
	size_t dl, vl;
	int r;

	if (resp_array(cur, &streams) < 0)
		return -EPROTO;
	for (i = 0; i < streams; i++) {
		if (resp_array(cur, &k) < 0 || k != 2 ||
		    resp_bulk(cur, &d, &dl) < 0 ||
		    resp_array(cur, &entries) < 0)
			return -EPROTO;
		for (k = 0; k < entries; k++) {
			if (resp_array(cur, &f) < 0 || f != 2 ||
			    resp_bulk(cur, &d, &dl) < 0 ||
			    dl >= sizeof(rd->last_id) ||
			    resp_array(cur, &fields) < 0 ||
			    (fields > 0 && fields % 2 != 0))
				return -EPROTO;
			memcpy(rd->last_id, d, dl);
			rd->last_id[dl] = '\0';
			for (f = 0; f < fields; f += 2) {
				if (resp_bulk(cur, &d, &dl) < 0)
					return -EPROTO;
				if (dl != 1 || d[0] != 'v') {
					if (resp_skip(cur) < 0)
						return -EPROTO;
					continue;
				}
				if (resp_bulk(cur, &v, &vl) < 0)
					return -EPROTO;
				if ((r = fn(arg, v, vl)) < 0)
					return r;
			}
		}
	}
	return cur->p == cur->end ? 0 : -EPROTO;
}

/* The replies to XREAD that have come in; the next XREAD goes out. */
static int
redis_consumed(struct peer_redis *rd, lb_recv_fn fn, void *arg)
{
	const char *argv[] = { "XREAD", "BLOCK", "1000", "COUNT", "1000",
		"STREAMS", rd->topic, rd->last_id };
	size_t off = 0;
	long long len;
	int r = 0;

	while (rd->reading && (len = resp_complete(rd->cin + off,
	    rd->cin_len - off)) != 0) {
		struct resp cur = { rd->cin + off, rd->cin + off + len };
		const uint8_t *d;
		long long n;
		char t;

		if (len < 0)
			goto proto;
		if (cur.p[0] == '-') {
			resp_item(&cur, &t, &n, &d);
			redis_error(rd->base.err, sizeof(rd->base.err),
			    "XREAD", d, n);
			return -EPROTO;
		}
		if ((r = redis_walk(rd, &cur, fn, arg)) == -EPROTO)
			goto proto;
		off += (size_t)len;
		rd->reading = 0;
		if (r < 0)
			break;
	}
	rd->cin_len -= off;
	memmove(rd->cin, rd->cin + off, rd->cin_len);
	if (r < 0)
		return r;
	if (!rd->reading) {
		if ((r = resp_command(&rd->cout, 8, argv, NULL)) < 0)
			return r;
		rd->reading = 1;
	}
	return 0;
proto:
	snprintf(rd->base.err, sizeof(rd->base.err), "not a Redis reply "
	    "to XREAD");
	return -EPROTO;
}

static int
redis_peer_io(struct lb_peer *base, lb_recv_fn fn, void *arg)
{
	struct peer_redis *rd = (struct peer_redis *)base;
	int r;

	if ((r = lb_out_flush(&rd->pout, rd->pfd)) < 0)
		goto io;
	/* Records first, then the XADD replies (as the logd peer). */
	do {
		if ((r = redis_consumed(rd, fn, arg)) < 0)
			return r;
	} while ((r = lb_in_read(rd->cfd, &rd->cin, &rd->cin_len,
	    &rd->cin_cap, REDIS_REPLY_MAX)) > 0);
	if (r < 0 || (r = lb_out_flush(&rd->cout, rd->cfd)) < 0)
		goto io;
	while ((r = lb_in_read(rd->pfd, &rd->pin, &rd->pin_len, &rd->pin_cap,
	    REDIS_REPLY_MAX)) > 0)
		if ((r = redis_produced(rd)) < 0)
			return r;
	if (r < 0)
		goto io;
	return 0;
io:
	snprintf(base->err, sizeof(base->err), "%s", r == -EPIPE ?
	    "the server closed the connection" : strerror(-r));
	return r;
}

static size_t
redis_peer_fds(struct lb_peer *base, struct pollfd *pfd, size_t max)
{
	struct peer_redis *rd = (struct peer_redis *)base;

	if (max < 2)
		return 0;
	pfd[0].fd = rd->cfd;
	pfd[0].events = POLLIN | (lb_out_pending(&rd->cout) ? POLLOUT : 0);
	pfd[1].fd = rd->pfd;
	pfd[1].events = POLLIN | (lb_out_pending(&rd->pout) ? POLLOUT : 0);
	return 2;
}

const struct lb_peer_ops lb_peer_redis = {
	"redis", "127.0.0.1:6379", 0, redis_peer_open, redis_peer_send,
	redis_peer_io, redis_peer_fds, redis_peer_close,
};
