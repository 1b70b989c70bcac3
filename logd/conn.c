/*
 * conn.c - client connections.
 *
 * A connection is a small state machine driven by one function, conn_io():
 *
 *   OPEN     reads frames and dispatches them; replies accumulate
 *   CLOSING  reads nothing more (peer sent EOF, or its stream cannot be
 *            trusted); closes once parked requests are answered and all
 *            output is sent
 *   DEAD     socket closed; the struct lives on while parked requests
 *            or flusher jobs still point at it (refs), and is freed at
 *            the end of the loop turn
 *
 * Input: one buffer per connection, read 256 KiB at a time (grown for a
 * larger frame, shrunk when empty); every complete frame in it is decoded
 * in place (str and bin objects point into the buffer, so a produce
 * request's batches are copied only once, into the segment map).
 *
 * Output, in order: a queue of segments, each either an owned buffer or a
 * borrowed logd_read (a fetch reply's stored batches, straight from the
 * segment map, released once written), followed by the logd_pbuf being
 * packed.  All of it goes out with writev at the end of the turn
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

static size_t conn_pending(const struct conn *c)
{
	return c->pending + (c->out.len - c->out_pos);
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
	if (c->state == CONN_OPEN &&
	    conn_pending(c) <= srv.cfg.max_pending_bytes)
		want |= EPOLLIN;
	if (conn_pending(c))
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
		/* What is packed goes first: hand the buffer to the queue. */
		s.own = c->out.data;
		s.p = c->out.data + c->out_pos;
		s.len = c->out.len - c->out_pos;
		if (push_seg(c, &s))
			goto fail;
		logd_pbuf_init(&c->out);
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
	if (c->state == CONN_CLOSING && !c->parked && !conn_pending(c))
		conn_close(c, "closed");
}

/* Writes as much output as the socket takes. */
static void conn_flush(struct conn *c)
{
	struct iovec iov[IOV_BATCH];
	size_t i, k, n, total;
	ssize_t w;

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
		n = total = (size_t)w;
		srv.bytes_out += total;
		c->active = ev_now();
		while (n && c->q_head < c->q_len) {
			struct outseg *s = &c->q[c->q_head];

			if (s->len > n) {
				s->p += n;
				s->len -= n;
				c->pending -= n;
				n = 0;
				break;
			}
			n -= s->len;
			c->pending -= s->len;
			seg_release(s);
			c->q_head++;
		}
		c->out_pos += n;
		if (c->out_pos == c->out.len) {
			if (c->out.cap > (4u << 20)) {
				logd_pbuf_free(&c->out);
				logd_pbuf_init(&c->out);
			} else {
				logd_pbuf_reset(&c->out);
			}
			c->out_pos = 0;
		}
	}
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
		was_full = !(c->events & EPOLLIN);
		conn_flush(c);
		if (was_full)
			conn_resume(c);
	}
}

void conn_error(struct conn *c, const struct logd_msg *m, int code,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (c->state == CONN_DEAD)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (logd_proto_error(&c->out, m ? m->api : 0, m ? m->corr : 0, code,
	    "%s", msg)) {
		conn_close(c, "out of memory packing a reply");
		return;
	}
	conn_touch(c);
}

void conn_end(struct conn *c, size_t trailing)
{
	int rc = logd_proto_end(&c->out, trailing);

	if (rc) {
		conn_close(c, logd_strerror(rc));
		return;
	}
	conn_touch(c);
}

/* Decodes and dispatches every whole frame in the input buffer. */
static void conn_process(struct conn *c)
{
	struct logd_msg m;
	size_t flen = 0, avail;
	int rc;

	while (c->state == CONN_OPEN) {
		if (conn_pending(c) > srv.cfg.max_pending_bytes)
			break;
		avail = c->in_len - c->in_pos;
		if (!avail)
			break;
		rc = logd_proto_frame(c->in + c->in_pos, avail,
		    srv.cfg.max_frame_bytes, &flen);
		if (rc == -EAGAIN)
			break;
		if (rc) {
			const unsigned char *h =
			    (const unsigned char *)c->in + c->in_pos;
			uint32_t n = (uint32_t)h[0] << 24 | h[1] << 16 |
			    h[2] << 8 | h[3];

			log_warn("%s: frame length %u %s: closing", c->peer,
			    n, rc == LOGD_ETOOBIG ? "exceeds max_frame_bytes" :
			    "is invalid");
			conn_error(c, NULL, rc, "frame length %u %s (max %llu)"
			    "; closing the connection", n,
			    rc == LOGD_ETOOBIG ? "exceeds max_frame_bytes" :
			    "is invalid",
			    (unsigned long long)srv.cfg.max_frame_bytes);
			conn_shutdown(c);
			break;
		}
		rc = logd_proto_decode(c->in + c->in_pos + LOGD_FRAME_HEADER,
		    flen - LOGD_FRAME_HEADER, &c->zone, &m);
		c->in_pos += flen;
		if (rc) {
			log_warn("%s: undecodable frame (%s): closing", c->peer,
			    rc == LOGD_EPROTO ? m.err : logd_strerror(rc));
			conn_error(c, NULL, rc, "undecodable frame: %s; closing "
			    "the connection", rc == LOGD_EPROTO ? m.err :
			    logd_strerror(rc));
			conn_shutdown(c);
			break;
		}
		h_dispatch(c, &m);
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

/* Makes room to read: at least IN_CHUNK, or the frame being received. */
static int in_room(struct conn *c)
{
	size_t need = IN_CHUNK, flen = 0, avail = c->in_len - c->in_pos;
	char *p;

	if (logd_proto_frame(c->in + c->in_pos, avail,
	    srv.cfg.max_frame_bytes, &flen) == -EAGAIN && flen > need)
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
	if (events & EPOLLOUT) {
		int was_full = !(c->events & EPOLLIN);

		conn_flush(c);
		if (was_full)
			conn_resume(c);
	}
	if ((events & EPOLLIN) && c->state == CONN_OPEN)
		conn_read(c);
}

void conn_accept(int fd, const char *kind)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct conn *c;
	int one = 1;

	if (srv.stopping) {
		close(fd);
		return;
	}
	if (srv.nconns >= srv.cfg.max_connections) {
		log_warn("refusing a %s connection: max_connections (%llu) "
		    "reached", kind,
		    (unsigned long long)srv.cfg.max_connections);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !msgpack_zone_init(&c->zone, 8192)) {
		log_error("out of memory accepting a connection");
		free(c);
		close(fd);
		return;
	}
	if (!strcmp(kind, "tcp")) {
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
		snprintf(c->peer, sizeof(c->peer), "%s fd %d", kind, fd);
	logd_pbuf_init(&c->out);
	c->io.fd = fd;
	c->io.fn = conn_io;
	c->io.arg = c;
	c->events = EPOLLIN;
	c->refs = 1;
	c->active = ev_now();
	if (ev_add(&c->io, c->events)) {
		log_error("epoll: cannot add a connection");
		msgpack_zone_destroy(&c->zone);
		free(c);
		close(fd);
		return;
	}
	c->next = srv.conns;
	if (srv.conns)
		srv.conns->prev = c;
	srv.conns = c;
	srv.nconns++;
	log_debug("%s: connected", c->peer);
}

void conn_shutdown(struct conn *c)
{
	if (c->state != CONN_OPEN)
		return;
	c->state = CONN_CLOSING;
	shutdown(c->io.fd, SHUT_RD);
	/* A member whose join waits here can send no heartbeat: drop it. */
	group_drop_conn(c);
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
	logd_pbuf_free(&c->out);
	logd_pbuf_init(&c->out);
	c->out_pos = 0;
	produce_drop_conn(c);
	fetch_drop_conn(c);
	group_drop_conn(c);
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
	c->refs--;
}

void conn_put(struct conn *c)
{
	c->refs--;
}

void conn_free_dead(void)
{
	struct conn **pp = &srv.dead, *c;

	while ((c = *pp)) {
		if (c->refs || c->dirty) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		free(c->in);
		free(c->q);
		logd_pbuf_free(&c->out);
		msgpack_zone_destroy(&c->zone);
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
		if (!c->parked && now - c->active >= srv.cfg.idle_timeout_ms) {
			log_info("%s: idle for %lld ms: closing", c->peer,
			    (long long)(now - c->active));
			conn_close(c, "idle timeout");
		}
	}
}
