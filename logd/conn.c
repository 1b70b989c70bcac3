/*
 * conn.c - client connections.
 *
 * A connection is a small state machine driven by one function, conn_io():
 *
 *   OPEN     reads requests and hands them to its protocol; replies
 *            accumulate
 *   CLOSING  reads nothing more (peer sent EOF, or its stream cannot be
 *            trusted); its parked requests are dropped; closes once all
 *            output is sent
 *   DEAD     socket closed, parked requests dropped; the struct is freed
 *            at the end of the loop turn (the code that closed it may
 *            still hold it)
 *
 * A connection belongs to a listener, whose protocol (struct proto)
 * frames and serves its requests; nothing here knows any request.
 *
 * Input: one buffer per connection, read 256 KiB at a time (grown for a
 * larger frame, shrunk when empty); every complete request in it is
 * served in place (a produce request's batches are copied only once,
 * into the segment map).
 *
 * Parked requests (waiting for a sync, for data, for a rebalance) are on
 * the connection's list with a drop() function: a connection that closes
 * drops them all, so nothing waits on a connection that is gone.
 *
 * Output, in order: a queue of segments, each either an owned buffer or a
 * borrowed logd_read (a fetch reply's stored batches, straight from the
 * segment map, released once written), followed by the obuf being
 * written.  All of it goes out with writev at the end of the turn
 * (conn_write_dirty, from the before-sleep hook), so replies to pipelined
 * requests are coalesced.  Backpressure: while more than
 * max_pending_bytes wait to be sent, the connection is not read, so a
 * client that never reads costs at most that much memory and never
 * slows anyone else.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"

#define IN_CHUNK (256u << 10)
#define IOV_BATCH 64

/* ------------------------------------------------------------------ */
/* Output buffers                                                      */
/* ------------------------------------------------------------------ */

int obuf_reserve(struct obuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->err)
		return b->err;
	if (b->cap - b->len >= n)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n) {
		if (cap > SIZE_MAX / 2) {
			b->err = -ENOMEM;
			return b->err;
		}
		cap *= 2;
	}
	p = realloc(b->data, cap);
	if (!p) {
		b->err = -ENOMEM;
		return b->err;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void obuf_append(struct obuf *b, const void *p, size_t n)
{
	if (!n || obuf_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void obuf_free(struct obuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

static size_t conn_pending(const struct conn *c)
{
	return c->pending + (c->out.len - c->out_pos);
}

int conn_full(const struct conn *c)
{
	return conn_pending(c) > srv.cfg.max_pending_bytes;
}

static void seg_release(struct outseg *s)
{
	free(s->own);
	logd_log_read_release(&s->rd);
}

static void set_events(struct conn *c)
{
	uint32_t want = 0;

	if (c->state == CONN_DEAD)
		return;
	/* Not read: a client that does not read its replies (backpressure),
	 * or whose one request at a time waits (serial). */
	if (c->state == CONN_OPEN &&
	    conn_pending(c) <= srv.cfg.max_pending_bytes &&
	    !(c->proto->serial && c->nparked))
		want |= EPOLLIN;
	/* A peer that closes is seen even while it is not read. */
	if (c->state == CONN_OPEN)
		want |= EPOLLRDHUP;
	/* Output is written at the end of the turn (conn_write_dirty):
	 * EPOLLOUT only once the socket took less than all of it. */
	if (conn_pending(c) && !c->dirty)
		want |= EPOLLOUT;
	if (want != c->events) {
		c->events = want;
		ev_mod(&c->io, want);
	}
}

static int push_seg(struct conn *c, const struct outseg *s)
{
	struct outseg *q;

	if (c->q_head == c->q_len)
		c->q_head = c->q_len = 0;
	if (c->q_len == c->q_cap) {
		if (c->q_head) {
			memmove(c->q, c->q + c->q_head,
			    (c->q_len - c->q_head) * sizeof(*q));
			c->q_len -= c->q_head;
			c->q_head = 0;
		} else {
			size_t cap = c->q_cap ? c->q_cap * 2 : 16;

			q = realloc(c->q, cap * sizeof(*q));
			if (!q)
				return -ENOMEM;
			c->q = q;
			c->q_cap = cap;
		}
	}
	c->q[c->q_len++] = *s;
	c->pending += s->len;
	return 0;
}

void conn_push_read(struct conn *c, struct logd_read *r)
{
	struct outseg s = { 0 };

	if (c->state == CONN_DEAD || !r->len) {
		logd_log_read_release(r);
		return;
	}
	if (c->out.len > c->out_pos) {
		/* What is written goes first: hand the buffer to the queue. */
		s.own = c->out.data;
		s.p = c->out.data + c->out_pos;
		s.len = c->out.len - c->out_pos;
		if (push_seg(c, &s))
			goto fail;
		memset(&c->out, 0, sizeof(c->out));
		c->out_pos = 0;
	}
	memset(&s, 0, sizeof(s));
	s.p = (const char *)r->data;
	s.len = r->len;
	s.rd = *r;
	if (push_seg(c, &s))
		goto fail;
	memset(r, 0, sizeof(*r));
	conn_touch(c);
	return;
fail:
	logd_log_read_release(r);
	conn_close(c, "out of memory queueing a reply");
}


void conn_touch(struct conn *c)
{
	if (c->dirty || c->state == CONN_DEAD)
		return;
	c->dirty = 1;
	c->dnext = srv.dirty_conns;
	srv.dirty_conns = c;
}

static void conn_maybe_finish(struct conn *c)
{
	if (c->state == CONN_CLOSING && !c->nparked && !conn_pending(c))
		conn_close(c, "closed");
}

/* Takes n sent bytes off the queue and the buffer. */
static void conn_sent(struct conn *c, size_t n)
{
	while (n && c->q_head < c->q_len) {
		struct outseg *s = &c->q[c->q_head];

		if (s->len > n) {
			s->p += n;
			s->len -= n;
			c->pending -= n;
			return;
		}
		n -= s->len;
		c->pending -= s->len;
		seg_release(s);
		c->q_head++;
	}
	c->out_pos += n;
	if (c->out_pos == c->out.len) {
		if (c->out.cap > (4u << 20))
			obuf_free(&c->out);
		else
			c->out.len = 0;
		c->out_pos = 0;
	}
}

/* Writes as much output as the socket takes. */
static void conn_flush(struct conn *c)
{
	struct iovec iov[IOV_BATCH];
	size_t i, k;
	ssize_t w;

	if (c->out.err) {
		conn_close(c, "out of memory writing a reply");
		return;
	}
	while (c->state != CONN_DEAD && conn_pending(c)) {
		k = 0;
		for (i = c->q_head; i < c->q_len && k < IOV_BATCH; i++) {
			iov[k].iov_base = (void *)c->q[i].p;
			iov[k++].iov_len = c->q[i].len;
		}
		if (k < IOV_BATCH && c->out.len > c->out_pos) {
			iov[k].iov_base = c->out.data + c->out_pos;
			iov[k++].iov_len = c->out.len - c->out_pos;
		}
		w = writev(c->io.fd, iov, (int)k);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_close(c, strerror(errno));
			return;
		}
		srv.bytes_out += (uint64_t)w;
		c->active = ev_now();
		conn_sent(c, (size_t)w);
	}
	/* Streams that stopped for backpressure may go on (they may add
	 * output: c is then written again at the end of the turn). */
	if (c->state == CONN_OPEN && c->proto->drained && !conn_full(c))
		c->proto->drained(c);
	set_events(c);
	conn_maybe_finish(c);
}

void conn_write_dirty(void)
{
	while (srv.dirty_conns) {
		struct conn *c = srv.dirty_conns;
		int was_full;

		srv.dirty_conns = c->dnext;
		c->dirty = 0;
		if (c->state == CONN_DEAD)
			continue;
		was_full = !(c->events & EPOLLIN) ||
		    (c->proto->serial && c->in_len > c->in_pos);
		conn_flush(c);
		if (was_full)
			conn_resume(c);
	}
}

/* ------------------------------------------------------------------ */
/* Parked requests                                                     */
/* ------------------------------------------------------------------ */

void conn_park(struct conn *c, struct parked *p, void (*drop)(struct parked *))
{
	p->conn = c;
	p->drop = drop;
	p->prev = NULL;
	p->next = c->parked;
	if (c->parked)
		c->parked->prev = p;
	c->parked = p;
	c->nparked++;
}

void conn_unpark(struct parked *p)
{
	struct conn *c = p->conn;

	if (!c)
		return;
	if (p->prev)
		p->prev->next = p->next;
	else
		c->parked = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->next = p->prev = NULL;
	p->conn = NULL;
	c->nparked--;
	if (c->proto->serial && !c->nparked && c->in_len > c->in_pos)
		conn_touch(c);     /* read on at the end of the turn */
}

int conn_wait_after(struct rwait *w, void (*drop)(struct parked *p))
{
	w->in_call = 0;
	if (w->answered)
		return 1;
	if (w->c->state != CONN_OPEN) {
		/* Its connection already dropped what it had parked. */
		drop(&w->park);
		return 0;
	}
	conn_park(w->c, &w->park, drop);
	return 0;
}

int conn_wait_answering(struct rwait *w)
{
	w->answered = 1;
	conn_unpark(&w->park);
	return !w->orphan && w->c->state != CONN_DEAD;
}

/* Drops every parked request of c: none will be answered. */
static void drop_parked(struct conn *c)
{
	struct parked *p;

	while ((p = c->parked)) {
		conn_unpark(p);
		p->drop(p);
	}
}

/* ------------------------------------------------------------------ */
/* Input                                                               */
/* ------------------------------------------------------------------ */

/* Serves every whole request in the input buffer. */
static void conn_process(struct conn *c)
{
	size_t flen = 0, avail;
	int rc;

	while (c->state == CONN_OPEN) {
		if (conn_pending(c) > srv.cfg.max_pending_bytes)
			break;
		if (c->proto->serial && c->nparked)
			break;
		avail = c->in_len - c->in_pos;
		if (!avail)
			break;
		flen = 0;
		rc = c->proto->frame(c, c->in + c->in_pos, avail, &flen);
		if (rc == -EAGAIN)
			break;
		if (rc) {
			c->proto->error(c, rc, c->in + c->in_pos, avail);
			conn_shutdown(c);
			break;
		}
		c->in_pos += flen;
		c->proto->request(c, c->in + c->in_pos - flen, flen);
	}
	if (c->in_pos == c->in_len)
		c->in_pos = c->in_len = 0;
	if (c->state != CONN_DEAD) {
		if (conn_pending(c))
			conn_touch(c);
		set_events(c);
	}
}

void conn_resume(struct conn *c)
{
	if (c->state == CONN_OPEN &&
	    conn_pending(c) <= srv.cfg.max_pending_bytes)
		conn_process(c);
}

/* Makes room to read: at least IN_CHUNK, or the request being received. */
static int in_room(struct conn *c)
{
	size_t need = IN_CHUNK, flen = 0, avail = c->in_len - c->in_pos;
	char *p;

	if (avail && c->proto->frame(c, c->in + c->in_pos, avail,
	    &flen) == -EAGAIN && flen > need)
		need = flen;
	if (c->in_pos && (c->in_cap - c->in_len < need / 4 ||
	    c->in_cap - c->in_pos < need)) {
		memmove(c->in, c->in + c->in_pos, avail);
		c->in_len = avail;
		c->in_pos = 0;
	}
	if (!avail && c->in_cap > 4 * IN_CHUNK) {
		free(c->in);
		c->in = NULL;
		c->in_cap = c->in_len = c->in_pos = 0;
	}
	if (c->in_cap - c->in_pos >= need && c->in_cap > c->in_len)
		return 0;
	if (need < c->in_len - c->in_pos + IN_CHUNK / 4)
		need = c->in_len - c->in_pos + IN_CHUNK / 4;
	p = realloc(c->in, c->in_pos + need);
	if (!p)
		return -ENOMEM;
	c->in = p;
	c->in_cap = c->in_pos + need;
	return 0;
}

static void conn_read(struct conn *c)
{
	ssize_t n;

	if (in_room(c)) {
		conn_close(c, "out of memory");
		return;
	}
	n = read(c->io.fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(c, strerror(errno));
		return;
	}
	if (n == 0) {
		conn_shutdown(c);
		return;
	}
	c->in_len += (size_t)n;
	srv.bytes_in += (uint64_t)n;
	c->active = ev_now();
	conn_process(c);
}

static void conn_io(struct ev_io *io, uint32_t events)
{
	struct conn *c = io->arg;

	if (c->state == CONN_DEAD)
		return;
	if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN)) {
		conn_close(c, "connection reset");
		return;
	}
	if ((events & EPOLLRDHUP) && !(c->events & EPOLLIN)) {
		/* Closed by the peer while its input waits: nothing it sent
		 * after what waits can be answered any more. */
		conn_shutdown(c);
		return;
	}
	if (events & EPOLLOUT) {
		int was_full = !(c->events & EPOLLIN);

		conn_flush(c);
		if (was_full)
			conn_resume(c);
	}
	if ((events & EPOLLIN) && c->state == CONN_OPEN)
		conn_read(c);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

static void peer_name(struct conn *c, int fd, const struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int one = 1;

	if (!l->is_unix) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
		    ss.ss_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			char a[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
			snprintf(c->peer, sizeof(c->peer), "%s:%u", a,
			    ntohs(sin->sin_port));
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			char a[INET6_ADDRSTRLEN];

			inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
			snprintf(c->peer, sizeof(c->peer), "[%s]:%u", a,
			    ntohs(s6->sin6_port));
		}
	}
	if (!c->peer[0])
		snprintf(c->peer, sizeof(c->peer), "%s fd %d",
		    l->is_unix ? "unix" : "tcp", fd);
}

#define CONN_WARN_WINDOW_MS 10000
#define CONN_WARN_BURST 5

void conn_warn(const char *peer, const char *fmt, ...)
{
	static int64_t window = INT64_MIN;
	static unsigned n;
	static unsigned long quiet;
	char what[512];
	va_list ap;

	if (window == INT64_MIN || ev_now() - window >= CONN_WARN_WINDOW_MS) {
		window = ev_now();
		n = 0;
	}
	if (n >= CONN_WARN_BURST) {
		quiet++;
		return;
	}
	n++;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (quiet)
		log_warn("%s: %s (and %lu more like it since the last "
		    "warning)", peer, what, quiet);
	else
		log_warn("%s: %s", peer, what);
	quiet = 0;
}

void conn_accept(int fd, const struct listener *l)
{
	struct conn *c;

	if (srv.stopping) {
		close(fd);
		return;
	}
	if (srv.nconns >= srv.cfg.max_connections) {
		conn_warn(l->spec, "refusing a %s connection: "
		    "max_connections (%llu) reached", l->proto->name,
		    (unsigned long long)srv.cfg.max_connections);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("out of memory accepting a connection");
		close(fd);
		return;
	}
	c->proto = l->proto;
	c->lst = l;
	peer_name(c, fd, l);
	c->io.fd = fd;
	c->io.fn = conn_io;
	c->io.arg = c;
	c->events = EPOLLIN | EPOLLRDHUP;
	c->active = ev_now();
	if ((c->proto->open && c->proto->open(c)) ||
	    ev_add(&c->io, c->events)) {
		log_error("%s: cannot set up a connection", c->peer);
		if (c->proto->close)
			c->proto->close(c);
		free(c);
		close(fd);
		return;
	}
	c->next = srv.conns;
	if (srv.conns)
		srv.conns->prev = c;
	srv.conns = c;
	srv.nconns++;
	log_debug("%s: %s connection", c->peer, c->proto->name);
}

void conn_drain(struct conn *c)
{
	if (c->state != CONN_OPEN)
		return;
	c->state = CONN_CLOSING;
	shutdown(c->io.fd, SHUT_RD);
	set_events(c);
	if (conn_pending(c))
		conn_touch(c);
	conn_maybe_finish(c);
}

void conn_shutdown(struct conn *c)
{
	if (c->state != CONN_OPEN)
		return;
	c->state = CONN_CLOSING;
	shutdown(c->io.fd, SHUT_RD);
	/* Nobody is left to wait for: a peer that closed its side (or whose
	 * stream is refused) gets no parked reply, and holds nothing. */
	drop_parked(c);
	set_events(c);
	if (conn_pending(c))
		conn_touch(c);
	conn_maybe_finish(c);
}

void conn_close(struct conn *c, const char *why)
{
	if (c->state == CONN_DEAD)
		return;
	log_debug("%s: %s", c->peer, why);
	ev_del(&c->io);
	close(c->io.fd);
	c->state = CONN_DEAD;
	while (c->q_head < c->q_len)
		seg_release(&c->q[c->q_head++]);
	c->q_head = c->q_len = 0;
	c->pending = 0;
	obuf_free(&c->out);
	c->out_pos = 0;
	drop_parked(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv.nconns--;
	c->prev = NULL;
	c->next = srv.dead;
	srv.dead = c;
}

void conn_free_dead(void)
{
	struct conn **pp = &srv.dead, *c;

	while ((c = *pp)) {
		if (c->dirty) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		if (c->proto->close)
			c->proto->close(c);
		free(c->in);
		free(c->q);
		obuf_free(&c->out);
		free(c);
	}
}

void conn_sweep_idle(void)
{
	struct conn *c, *next;
	int64_t now = ev_now();

	if (srv.cfg.idle_timeout_ms <= 0)
		return;
	for (c = srv.conns; c; c = next) {
		next = c->next;
		if (now - c->active >= srv.cfg.idle_timeout_ms) {
			log_info("%s: idle for %lld ms%s: closing", c->peer,
			    (long long)(now - c->active), c->nparked ?
			    " with requests waiting" : "");
			conn_close(c, "idle timeout");
		}
	}
}
