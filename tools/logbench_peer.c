/*
 * logbench_peer.c - the logd and relay peers of `logbench latency`, and
 * the socket plumbing the relay and Redis peers share (logbench.h).
 *
 * logd: liblogd's producer (linger 0, so each record goes out at once
 * while fewer than four requests are in flight) on one connection, a
 * consumer assigned at the end of the topic on another, exactly as the
 * latency test always ran.
 *
 * relay: two TCP connections to `logbench relay`.  The consumer's sends
 * LB_RELAY_CONSUMER and waits for LB_RELAY_READY (from then on the relay
 * copies every producer byte to it); the producer's sends
 * LB_RELAY_PRODUCER and then frames, a 4-byte big-endian length and the
 * value.  The relay never looks inside them: the frames come back as
 * they were written.
 *
 * Sockets are nonblocking with TCP_NODELAY; a send writes at once and
 * queues only what the socket did not take, so a record waits for
 * nothing but the kernel.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "logd.h"
#include "logbench.h"

/* ---- addresses and sockets ---- */

/* Splits "host:port", "[v6]:port", "host" into host and port strings. */
static int
net_split(const char *addr, int default_port, char *host, size_t hsize,
    char *port, size_t psize)
{
	const char *colon, *h = addr;
	size_t hl;

	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return -EINVAL;
		h = addr + 1;
		hl = (size_t)(close - h);
		colon = close[1] == ':' ? close + 1 : NULL;
	} else {
		colon = strrchr(addr, ':');
		if (colon != NULL && strchr(addr, ':') != colon)
			return -EINVAL;  /* a bare v6 address: use [ ] */
		hl = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
	}
	if (hl == 0 || hl >= hsize)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (colon == NULL)
		snprintf(port, psize, "%d", default_port);
	else if (colon[1] == '\0' || strlen(colon + 1) >= psize ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -EINVAL;
	else
		snprintf(port, psize, "%s", colon + 1);
	return 0;
}

static int
net_resolve(const char *addr, int default_port, int passive,
    struct addrinfo **res, char *err, size_t err_size)
{
	struct addrinfo hints = { 0 };
	char host[256], port[16];
	int r;

	if (net_split(addr, default_port, host, sizeof(host), port,
	    sizeof(port)) < 0) {
		snprintf(err, err_size, "%s: not host:port", addr);
		return -EINVAL;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	r = getaddrinfo(host, port, &hints, res);
	if (r != 0) {
		snprintf(err, err_size, "%s: %s", addr, gai_strerror(r));
		return -EINVAL;
	}
	return 0;
}

static void
net_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
lb_net_connect(const char *addr, int default_port, char *err,
    size_t err_size)
{
	struct addrinfo *res, *ai;
	int fd = -1, r = -ECONNREFUSED;

	if ((r = net_resolve(addr, default_port, 0, &res, err, err_size)) < 0)
		return r;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct pollfd pfd;
		socklen_t len = sizeof(int);
		int soerr = 0;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		r = -errno;
		if (errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			r = poll(&pfd, 1, 5000);
			if (r == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR,
			    &soerr, &len) == 0 && soerr == 0)
				break;
			r = r == 0 ? -ETIMEDOUT : soerr ? -soerr : -EIO;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, err_size, "cannot connect to %s: %s", addr,
		    strerror(-r));
		return r;
	}
	net_nodelay(fd);
	return fd;
}

int
lb_net_listen(const char *addr, int default_port, char *bound,
    size_t bound_size, char *err, size_t err_size)
{
	struct addrinfo *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN], port[16];
	int fd = -1, one = 1, r;

	if ((r = net_resolve(addr, default_port, 1, &res, err, err_size)) < 0)
		return r;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 128) == 0)
			break;
		r = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, err_size, "cannot listen on %s: %s", addr,
		    strerror(-r));
		return r;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port,
	    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(bound, bound_size, "%s", addr);
	else
		snprintf(bound, bound_size, ss.ss_family == AF_INET6 ?
		    "[%s]:%s" : "%s:%s", host, port);
	return fd;
}

int
lb_out_add(struct lb_out *b, const void *p, size_t n)
{
	if (b->off == b->len)
		b->off = b->len = 0;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *d;

		if (b->off > 0) {     /* slide what is left to the front */
			memmove(b->data, b->data + b->off, b->len - b->off);
			b->len -= b->off;
			b->off = 0;
		}
		while (cap < b->len + n)
			cap *= 2;
		if (cap > b->cap) {
			if ((d = realloc(b->data, cap)) == NULL)
				return -ENOMEM;
			b->data = d;
			b->cap = cap;
		}
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int
lb_out_flush(struct lb_out *b, int fd)
{
	while (b->off < b->len) {
		ssize_t w = send(fd, b->data + b->off, b->len - b->off,
		    MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 1 :
			    -errno;
		b->off += (size_t)w;
	}
	b->off = b->len = 0;
	return 0;
}

void
lb_out_free(struct lb_out *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int
lb_in_read(int fd, uint8_t **buf, size_t *len, size_t *cap, size_t max)
{
	ssize_t n;

	if (*cap - *len < 4096 && *cap < max) {
		size_t c = *cap ? *cap * 2 : 65536;
		uint8_t *d;

		if (c > max)
			c = max;
		if ((d = realloc(*buf, c)) == NULL)
			return -ENOMEM;
		*buf = d;
		*cap = c;
	}
	if (*len == *cap)
		return -ENOBUFS;
	do
		n = read(fd, *buf + *len, *cap - *len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if (n == 0)
		return -EPIPE;
	*len += (size_t)n;
	return n > INT_MAX ? INT_MAX : (int)n;
}

/* ---- logd ---- */

struct peer_logd {
	struct lb_peer base;
	struct logd_client *pc, *cc;
	struct logd_producer *p;
	struct logd_consumer *cs;
	struct logd_message m;
};

static void
logd_peer_close(struct lb_peer *base)
{
	struct peer_logd *l = (struct peer_logd *)base;

	if (l == NULL)
		return;
	logd_producer_close(l->p);
	logd_consumer_close(l->cs);
	logd_client_close(l->cc);
	logd_client_close(l->pc);
	free(l);
}

static int
logd_peer_open(const struct lb_peer_conf *c, struct lb_peer **out,
    char *err, size_t err_size)
{
	struct logd_producer_options po;
	struct logd_consumer_options co;
	struct peer_logd *l = calloc(1, sizeof(*l));
	int r;

	if (l == NULL)
		return -ENOMEM;
	l->base.ops = &lb_peer_logd;
	if ((r = logd_client_open(c->addr, NULL, &l->pc)) < 0 ||
	    (r = logd_client_open(c->addr, NULL, &l->cc)) < 0) {
		snprintf(err, err_size, "cannot connect to %s: %s", c->addr,
		    logd_strerror(r));
		goto fail;
	}
	if ((r = lb_ensure_topic(l->pc, c->topic, c->partitions, err,
	    err_size)) < 0)
		goto fail;
	logd_producer_options_default(&po);
	po.acks = c->acks;
	memset(&co, 0, sizeof(co));
	co.max_wait_ms = 1000;
	if ((r = logd_producer_new(l->pc, &po, &l->p)) < 0 ||
	    (r = logd_consumer_new(l->cc, &co, &l->cs)) < 0 ||
	    (r = logd_consumer_assign(l->cs, c->topic, LOGD_PARTITION_ANY,
	    LOGD_OFFSET_LATEST)) < 0) {
		snprintf(err, err_size, "latency setup: %s",
		    logd_client_errmsg(l->p == NULL ? l->pc : l->cc));
		goto fail;
	}
	l->m.topic = c->topic;
	l->m.partition = LOGD_PARTITION_ANY;
	*out = &l->base;
	return 0;
fail:
	logd_peer_close(&l->base);
	return r;
}

static int
logd_peer_send(struct lb_peer *base, const uint8_t *value, size_t len)
{
	struct peer_logd *l = (struct peer_logd *)base;
	int r;

	l->m.value = value;
	l->m.value_len = len;
	if ((r = logd_producer_send(l->p, &l->m)) < 0)
		snprintf(base->err, sizeof(base->err), "send: %s",
		    logd_client_errmsg(l->pc));
	return r;
}

static int
logd_peer_io(struct lb_peer *base, lb_recv_fn fn, void *arg)
{
	struct peer_logd *l = (struct peer_logd *)base;
	struct logd_producer_stats st;
	struct logd_consumer_record rec;
	int r;

	/* Records first: the produce replies, which come at the same time,
	 * are not what is timed (the redis peer reads in the same order). */
	while ((r = logd_consumer_poll(l->cs, 0, &rec)) == 1)
		if ((r = fn(arg, rec.rec.value, rec.rec.value_len)) < 0)
			return r;
	if (r < 0) {
		snprintf(base->err, sizeof(base->err), "%s",
		    logd_client_errmsg(l->cc));
		return r;
	}
	if ((r = logd_producer_poll(l->p, 0)) < 0) {
		snprintf(base->err, sizeof(base->err), "%s",
		    logd_client_errmsg(l->pc));
		return r;
	}
	logd_producer_stats(l->p, &st);
	base->requests = st.requests;
	return 0;
}

static size_t
logd_peer_fds(struct lb_peer *base, struct pollfd *pfd, size_t max)
{
	struct peer_logd *l = (struct peer_logd *)base;

	if (max < 2)
		return 0;
	pfd[0].fd = logd_client_fd(l->cc);
	pfd[1].fd = logd_client_fd(l->pc);
	pfd[0].events = pfd[1].events = POLLIN;
	return 2;
}

const struct lb_peer_ops lb_peer_logd = {
	"logd", LOGD_DEFAULT_ADDR, 1, logd_peer_open, logd_peer_send,
	logd_peer_io, logd_peer_fds, logd_peer_close,
};

/* ---- relay ---- */

/* The most a received frame may hold (logbench --size is at most 1 MiB). */
#define RELAY_FRAME_MAX ((size_t)1 << 24)

struct peer_relay {
	struct lb_peer base;
	int pfd, cfd;             /* producer and consumer sockets */
	struct lb_out out;        /* frames not yet written */
	uint8_t *in;              /* bytes received, frames from in[0] */
	size_t in_len, in_cap;
};

static void
relay_peer_close(struct lb_peer *base)
{
	struct peer_relay *r = (struct peer_relay *)base;

	if (r == NULL)
		return;
	if (r->pfd >= 0)
		close(r->pfd);
	if (r->cfd >= 0)
		close(r->cfd);
	lb_out_free(&r->out);
	free(r->in);
	free(r);
}

/* Sends the role byte on fd (a fresh socket takes one byte). */
static int
relay_role(int fd, char role)
{
	return send(fd, &role, 1, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

static int
relay_peer_open(const struct lb_peer_conf *c, struct lb_peer **out,
    char *err, size_t err_size)
{
	struct peer_relay *r = calloc(1, sizeof(*r));
	struct pollfd pfd;
	char ready = 0;
	int e;

	if (r == NULL)
		return -ENOMEM;
	r->base.ops = &lb_peer_relay;
	r->pfd = -1;
	if ((r->cfd = lb_net_connect(c->addr, LB_RELAY_DEFAULT_PORT, err,
	    err_size)) < 0) {
		e = r->cfd;
		goto fail;
	}
	/* The consumer first, and ready, so that no frame passes before it
	 * is there to be copied to. */
	if ((e = relay_role(r->cfd, LB_RELAY_CONSUMER)) < 0)
		goto io_fail;
	pfd.fd = r->cfd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 5000) != 1 || read(r->cfd, &ready, 1) != 1 ||
	    ready != LB_RELAY_READY) {
		snprintf(err, err_size, "%s: no answer from a relay "
		    "(is it logbench relay?)", c->addr);
		e = -EPROTO;
		goto fail;
	}
	if ((r->pfd = lb_net_connect(c->addr, LB_RELAY_DEFAULT_PORT, err,
	    err_size)) < 0) {
		e = r->pfd;
		goto fail;
	}
	if ((e = relay_role(r->pfd, LB_RELAY_PRODUCER)) < 0)
		goto io_fail;
	*out = &r->base;
	return 0;
io_fail:
	snprintf(err, err_size, "%s: %s", c->addr, strerror(-e));
fail:
	relay_peer_close(&r->base);
	return e;
}

static int
relay_peer_send(struct lb_peer *base, const uint8_t *value, size_t len)
{
	struct peer_relay *r = (struct peer_relay *)base;
	uint32_t n = htonl((uint32_t)len);
	int e;

	if ((e = lb_out_add(&r->out, &n, 4)) < 0 ||
	    (e = lb_out_add(&r->out, value, len)) < 0 ||
	    (e = lb_out_flush(&r->out, r->pfd)) < 0) {
		snprintf(base->err, sizeof(base->err), "send: %s",
		    strerror(-e));
		return e;
	}
	base->requests++;
	return 0;
}

static int
relay_peer_io(struct lb_peer *base, lb_recv_fn fn, void *arg)
{
	struct peer_relay *r = (struct peer_relay *)base;
	size_t off;
	int e;

	/* (The relay writes nothing to a producer; if it goes, the
	 * consumer's end of stream says so.) */
	if ((e = lb_out_flush(&r->out, r->pfd)) < 0)
		goto fail;
	while ((e = lb_in_read(r->cfd, &r->in, &r->in_len, &r->in_cap,
	    RELAY_FRAME_MAX + 4)) > 0) {
		for (off = 0; r->in_len - off >= 4;) {
			uint32_t n;

			memcpy(&n, r->in + off, 4);
			n = ntohl(n);
			if (n > RELAY_FRAME_MAX) {
				snprintf(base->err, sizeof(base->err), "a "
				    "frame of %u bytes: not a logbench relay "
				    "stream", n);
				return -EPROTO;
			}
			if (r->in_len - off - 4 < n)
				break;
			if ((e = fn(arg, r->in + off + 4, n)) < 0)
				return e;
			off += 4 + (size_t)n;
		}
		memmove(r->in, r->in + off, r->in_len - off);
		r->in_len -= off;
	}
	if (e == 0)
		return 0;
fail:
	snprintf(base->err, sizeof(base->err), "%s", e == -EPIPE ?
	    "the relay closed the connection" : strerror(-e));
	return e;
}

static size_t
relay_peer_fds(struct lb_peer *base, struct pollfd *pfd, size_t max)
{
	struct peer_relay *r = (struct peer_relay *)base;

	if (max < 2)
		return 0;
	pfd[0].fd = r->cfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = r->pfd;
	pfd[1].events = lb_out_pending(&r->out) ? POLLOUT : 0;
	return 2;
}

const struct lb_peer_ops lb_peer_relay = {
	"relay", LB_RELAY_DEFAULT_ADDR, 0, relay_peer_open, relay_peer_send,
	relay_peer_io, relay_peer_fds, relay_peer_close,
};

const struct lb_peer_ops *
lb_peer_find(const char *name)
{
	static const struct lb_peer_ops *const all[] = {
		&lb_peer_logd, &lb_peer_relay, &lb_peer_redis,
	};
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(all[i]->name, name) == 0)
			return all[i];
	return NULL;
}
