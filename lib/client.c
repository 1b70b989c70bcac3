/*
 * client.c - one connection to a logd broker: connect, the request
 * table, pipelined I/O (the administrative calls are in client_admin.c,
 * the producer, consumer and group member in client_producer.c,
 * client_consumer.c and client_group.c).
 *
 * Design.  The socket is non-blocking and owned by one thread; nothing
 * happens in the background.  Every request gets a slot in a table; its
 * correlation id is the slot index in the low 16 bits and the slot's
 * reuse count in the high 16, so a reply that comes after its request
 * timed out (and the slot was reused) is recognised and dropped.  Output
 * is one growing buffer of whole frames (struct logd_pbuf from proto.c)
 * written as far as the socket takes it, right when a request is ended
 * and again whenever cl_poll() runs.  Input is read into a 256 KiB
 * buffer and small frames are dispatched in place; a frame larger than
 * CL_BIG_FRAME (typically a fetch reply full of batches) gets its own
 * malloc'd block, read straight into, whose ownership the reply handler
 * may take: fetched batches are never copied.
 *
 * A synchronous call is an asynchronous one plus cl_wait() on a flag the
 * done function sets; while it waits, replies to other requests on the
 * same connection (producer acks, consumer prefetches) are handled too.
 *
 * Failure model: a broker error reply is returned as its code with the
 * broker's message kept for logd_client_errmsg().  A timed-out request is
 * failed and forgotten, the connection stays.  A broken connection or an
 * unreadable frame fails every request in flight and every later call
 * with the same error.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"

#define CL_RBUF_SIZE (256u << 10)
#define CL_BIG_FRAME (64u << 10)
/*
 * Large-frame buffers are recycled: a consumer reading at full speed
 * takes in a ~1 MiB fetch reply after another, and handing each back to
 * malloc makes glibc trim and re-grow the heap, so every reply paid page
 * faults and zeroing on fresh pages (half the consumer's CPU time).  At
 * most CL_SPARES buffers are kept, so the memory held is bounded by
 * CL_SPARES times the largest frame taken in.
 */
#define CL_SPARES 4
#define CL_MAX_SLOTS 65536

struct cl_slot {
	cl_done_fn done;          /* NULL: free */
	void *arg;
	int64_t deadline;         /* INT64_MAX: a stream, never expires */
	uint16_t seq;
	int stream;               /* kept until the stream's last reply */
	int32_t next_free;
};

struct logd_client {
	int fd;
	int broken;               /* 0, or why the connection is unusable */
	int connect_timeout_ms;
	int request_timeout_ms;
	uint32_t max_frame;

	struct logd_pbuf out;     /* frames to write */
	size_t out_off;           /* bytes of out already written */

	uint8_t *rbuf;            /* input: [rpos, rlen) not yet dispatched */
	size_t rpos, rlen;
	uint8_t *big;             /* a large frame being read: big_have of */
	size_t big_len, big_have; /* big_len payload bytes */
	void *spare[CL_SPARES];   /* recycled large-frame buffers */
	size_t spare_cap[CL_SPARES];

	struct cl_slot *slots;
	int32_t nslots, free_head, inflight;
	int32_t streams;          /* of inflight: streams, which never expire */
	int32_t open_slot;        /* between cl_req_begin and _end */

	msgpack_zone zone;
	struct logd_msg msg;
	char version[64];
	uint64_t apis;            /* bit n: HELLO listed api n (n < 64) */
	char client_id[64];       /* as sent in HELLO */
	char errmsg[512];
};

int64_t
cl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
cl_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
cl_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void *
cl_buf_get(struct logd_client *c, size_t len)
{
	int i, best = -1;
	void *p;

	for (i = 0; i < CL_SPARES; i++)
		if (c->spare[i] != NULL && c->spare_cap[i] >= len &&
		    (best < 0 || c->spare_cap[i] < c->spare_cap[best]))
			best = i;
	if (best < 0)
		return malloc(len ? len : 1);
	p = c->spare[best];
	c->spare[best] = NULL;
	return p;
}

void
cl_buf_put(struct logd_client *c, void *buf)
{
	size_t cap;
	int i, small = 0;

	if (buf == NULL)
		return;
	cap = malloc_usable_size(buf);
	for (i = 0; i < CL_SPARES; i++) {
		if (c->spare[i] == NULL) {
			c->spare[i] = buf;
			c->spare_cap[i] = cap;
			return;
		}
		if (c->spare_cap[i] < c->spare_cap[small])
			small = i;
	}
	/* Full: keep the larger buffers, which serve any smaller frame. */
	if (cap > c->spare_cap[small]) {
		free(c->spare[small]);
		c->spare[small] = buf;
		c->spare_cap[small] = cap;
	} else
		free(buf);
}

int
cl_seterr(struct logd_client *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	return err;
}

const char *
logd_client_errmsg(const struct logd_client *c)
{
	return c->errmsg;
}

const char *
logd_client_server_version(const struct logd_client *c)
{
	return c->version;
}

const char *
cl_client_id(const struct logd_client *c)
{
	return c->client_id;
}

int
logd_client_fd(const struct logd_client *c)
{
	return c->fd;
}

int
cl_inflight(const struct logd_client *c)
{
	return c->inflight;
}

size_t
cl_unsent(const struct logd_client *c)
{
	return c->out.len - c->out_off;
}

int
cl_broken(const struct logd_client *c)
{
	return c->broken;
}

int
cl_request_timeout(const struct logd_client *c)
{
	return c->request_timeout_ms;
}

/* ---- the request table ---- */

static int
cl_slot_alloc(struct logd_client *c)
{
	int32_t i;

	if (c->free_head < 0) {
		int32_t n = c->nslots ? c->nslots * 2 : 64;
		struct cl_slot *s;

		if (c->nslots >= CL_MAX_SLOTS)
			return -ENOBUFS;
		if (n > CL_MAX_SLOTS)
			n = CL_MAX_SLOTS;
		s = realloc(c->slots, (size_t)n * sizeof(*s));
		if (s == NULL)
			return -ENOMEM;
		/* All of a new slot: a stream flag left from what the
		 * memory held once kept a request from ever timing out. */
		memset(&s[c->nslots], 0, (size_t)(n - c->nslots) *
		    sizeof(*s));
		for (i = n - 1; i >= c->nslots; i--) {
			s[i].next_free = c->free_head;
			c->free_head = i;
		}
		c->slots = s;
		c->nslots = n;
	}
	i = c->free_head;
	c->free_head = c->slots[i].next_free;
	return i;
}

static void
cl_slot_free(struct logd_client *c, int32_t i)
{
	c->slots[i].done = NULL;
	if (c->slots[i].stream)
		c->streams--;
	c->slots[i].stream = 0;
	c->slots[i].seq++;
	c->slots[i].next_free = c->free_head;
	c->free_head = i;
	c->inflight--;
}

/* Fails the request in slot i with err (local: no reply). */
static void
cl_slot_fail(struct logd_client *c, int32_t i, int err)
{
	cl_done_fn done = c->slots[i].done;
	void *arg = c->slots[i].arg;

	cl_slot_free(c, i);
	done(c, arg, err, NULL, NULL);
}

/* Marks the connection broken and fails everything in flight. */
static int
cl_break(struct logd_client *c, int err)
{
	int32_t i;

	if (c->broken)
		return c->broken;
	c->broken = err;
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	for (i = 0; i < c->nslots; i++)
		if (c->slots[i].done != NULL)
			cl_slot_fail(c, i, err);
	return err;
}

/* Fails requests past their deadline; returns ms to the nearest one
 * (-1: none). */
static int
cl_expire(struct logd_client *c, int64_t now)
{
	int64_t next = -1;
	int32_t i;

	/* Only streams (a consumer's usual state): no slot to look at. */
	if (c->inflight == c->streams)
		return -1;
	for (i = 0; i < c->nslots; i++) {
		if (c->slots[i].done == NULL || c->slots[i].stream)
			continue;
		if (c->slots[i].deadline <= now) {
			cl_seterr(c, LOGD_ETIMEDOUT, "request timed out after "
			    "%d ms", c->request_timeout_ms);
			cl_slot_fail(c, i, LOGD_ETIMEDOUT);
		} else if (next < 0 || c->slots[i].deadline - now < next) {
			next = c->slots[i].deadline - now;
		}
	}
	return (int)next;
}

/* ---- output ---- */

/* Writes what the socket takes.  0, or the (broken) error. */
static int
cl_write(struct logd_client *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off,
		    c->out.len - c->out_off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			cl_seterr(c, -errno, "send: %s", strerror(errno));
			return cl_break(c, -errno);
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out.len) {
		logd_pbuf_reset(&c->out);
		c->out_off = 0;
	} else if (c->out_off >= (1u << 20) && c->out_off * 2 >= c->out.len) {
		memmove(c->out.data, c->out.data + c->out_off,
		    c->out.len - c->out_off);
		c->out.len -= c->out_off;
		c->out_off = 0;
	}
	return 0;
}

int
cl_req_begin(struct logd_client *c, int api, msgpack_packer **pk)
{
	int slot;

	if (c->broken)
		return cl_seterr(c, c->broken, "connection is closed: %s",
		    logd_strerror(c->broken));
	slot = cl_slot_alloc(c);
	if (slot < 0)
		return cl_seterr(c, slot, "too many requests in flight");
	c->open_slot = slot;
	logd_proto_begin(&c->out,
	    api, ((uint32_t)c->slots[slot].seq << 16) | (uint32_t)slot);
	*pk = &c->out.pk;
	return 0;
}

int
cl_req_end(struct logd_client *c, cl_done_fn done, void *arg, int extra_ms)
{
	int32_t slot = c->open_slot;
	int r;

	c->open_slot = -1;
	r = logd_proto_end(&c->out, 0);
	if (r < 0) {
		/* Drop the half-packed frame. */
		c->out.len = c->out.frame;
		c->out.err = 0;
		c->slots[slot].next_free = c->free_head;
		c->free_head = slot;
		return cl_seterr(c, r, "cannot encode request: %s",
		    logd_strerror(r));
	}
	if (done == NULL) {
		c->slots[slot].seq++;
		c->slots[slot].next_free = c->free_head;
		c->free_head = slot;
		return cl_write(c);
	}
	c->slots[slot].done = done;
	c->slots[slot].arg = arg;
	c->slots[slot].deadline = cl_now_ms() + c->request_timeout_ms +
	    (extra_ms > 0 ? extra_ms : 0);
	c->inflight++;
	/* Registered: a write failure reaches done through cl_break(). */
	cl_write(c);
	return 0;
}

int
cl_req_end_stream(struct logd_client *c, cl_done_fn done, void *arg,
    uint32_t *corr)
{
	int32_t slot = c->open_slot;
	uint32_t id = ((uint32_t)c->slots[slot].seq << 16) | (uint32_t)slot;
	int r;

	r = cl_req_end(c, done, arg, 0);
	if (r < 0)
		return r;
	/* cl_break() in that write freed it (and called done). */
	if (c->slots[slot].done == done && c->slots[slot].arg == arg &&
	    c->slots[slot].seq == (id >> 16)) {
		c->slots[slot].stream = 1;
		c->slots[slot].deadline = INT64_MAX;
		c->streams++;
	}
	*corr = id;
	return 0;
}

void
cl_stream_forget(struct logd_client *c, uint32_t corr)
{
	uint32_t slot = corr & 0xffff;

	if (slot < (uint32_t)c->nslots && c->slots[slot].done != NULL &&
	    c->slots[slot].stream && c->slots[slot].seq == (corr >> 16))
		cl_slot_free(c, (int32_t)slot);
}

int
cl_has_api(const struct logd_client *c, int api)
{
	return api >= 0 && api < 64 && (c->apis >> api & 1);
}

/* ---- input ---- */

/* Decodes one reply frame and hands it to its request's done function. */
static int
cl_dispatch(struct logd_client *c, struct cl_frame *f)
{
	struct logd_msg *m = &c->msg;
	int64_t err = 0;
	uint32_t slot;
	cl_done_fn done;
	void *arg;
	int r;

	r = logd_proto_decode(f->payload, f->len, &c->zone, m);
	if (r < 0) {
		cl_seterr(c, r, "bad reply from broker: %s", m->err);
		return cl_break(c, r == -ENOMEM ? r : LOGD_EPROTO);
	}
	slot = m->corr & 0xffff;
	if (slot >= (uint32_t)c->nslots || c->slots[slot].done == NULL ||
	    c->slots[slot].seq != (m->corr >> 16))
		return 0; /* a reply to a request that timed out */
	done = c->slots[slot].done;
	arg = c->slots[slot].arg;
	if (c->slots[slot].stream) {
		int64_t more = 0;

		/* A stream stays registered until its last reply: an error,
		 * or stream 0. */
		if (logd_proto_int_opt(m, NULL, "error", 0, &err) < 0 ||
		    err != 0 || logd_proto_int_opt(m, NULL, "stream", 0,
		    &more) < 0 || more == 0)
			cl_slot_free(c, (int32_t)slot);
		err = 0;
	} else {
		cl_slot_free(c, (int32_t)slot);
	}
	if (logd_proto_int_opt(m, NULL, "error", 0, &err) < 0 ||
	    err > 0 || err < INT32_MIN) {
		cl_seterr(c, LOGD_EPROTO, "bad reply from broker: %s", m->err);
		done(c, arg, LOGD_EPROTO, NULL, NULL);
		return cl_break(c, LOGD_EPROTO);
	}
	if (err != 0) {
		const char *msg = NULL;
		size_t len = 0;

		if (logd_proto_str_opt(m, NULL, "message", &msg, &len) < 0 ||
		    msg == NULL) {
			msg = logd_strerror((int)err);
			len = strlen(msg);
		}
		cl_seterr(c, (int)err, "%.*s", (int)len, msg);
	}
	done(c, arg, (int)err, m, f);
	return 1;
}

/* Dispatches the big frame, now whole. */
static int
cl_read_dispatch_big(struct logd_client *c)
{
	struct cl_frame f = { c->big, c->big, c->big_len, 1 };
	int r;

	c->big = NULL;
	r = cl_dispatch(c, &f);
	cl_buf_put(c, f.buf);
	if (r < 0)
		return r;
	return c->broken ? c->broken : r;
}

/*
 * Dispatches the whole frames in rbuf; a frame too big for it moves to
 * its own buffer (c->big) with what has arrived.  Handled replies, or a
 * negative code.
 */
static int
cl_read_frames(struct logd_client *c)
{
	int handled = 0;

	while (c->big == NULL && c->rlen - c->rpos >= LOGD_FRAME_HEADER) {
		size_t flen = 0, have = c->rlen - c->rpos;
		int r = logd_proto_frame(c->rbuf + c->rpos, have,
		    c->max_frame, &flen);

		if (r == 0) {
			struct cl_frame f = { NULL,
			    c->rbuf + c->rpos + LOGD_FRAME_HEADER,
			    flen - LOGD_FRAME_HEADER, 0 };

			c->rpos += flen;
			r = cl_dispatch(c, &f);
			if (r < 0)
				return r;
			if (c->broken)
				return c->broken;
			handled += r;
			continue;
		}
		if (r != -EAGAIN) {
			cl_seterr(c, LOGD_EPROTO, "bad frame from broker: %s",
			    logd_strerror(r));
			return cl_break(c, LOGD_EPROTO);
		}
		if (flen - LOGD_FRAME_HEADER >= CL_BIG_FRAME) {
			size_t got = have - LOGD_FRAME_HEADER;

			c->big_len = flen - LOGD_FRAME_HEADER;
			c->big = cl_buf_get(c, c->big_len);
			if (c->big == NULL) {
				cl_seterr(c, -ENOMEM, "out of memory");
				return cl_break(c, -ENOMEM);
			}
			memcpy(c->big, c->rbuf + c->rpos + LOGD_FRAME_HEADER,
			    got);
			c->big_have = got;
			c->rpos = c->rlen = 0;
		}
		break;
	}
	return handled;
}

/* Where the next read goes: the big frame's buffer, or rbuf. */
static uint8_t *
cl_read_room(struct logd_client *c, size_t *want)
{
	if (c->big != NULL) {
		*want = c->big_len - c->big_have;
		return c->big + c->big_have;
	}
	if (c->rpos == c->rlen) {
		c->rpos = c->rlen = 0;
	} else if (c->rlen == CL_RBUF_SIZE) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	*want = CL_RBUF_SIZE - c->rlen;
	return c->rbuf + c->rlen;
}

/* Reads what is there and dispatches whole frames.  Returns the number of
 * replies handled, or the error that broke the connection. */
static int
cl_read(struct logd_client *c)
{
	int handled = 0, r;

	for (;;) {
		size_t want;
		uint8_t *dst = cl_read_room(c, &want);
		ssize_t n = recv(c->fd, dst, want, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return handled;
			cl_seterr(c, -errno, "recv: %s", strerror(errno));
			return cl_break(c, -errno);
		}
		if (n == 0) {
			cl_seterr(c, LOGD_ECLOSED,
			    "connection closed by the broker");
			return cl_break(c, LOGD_ECLOSED);
		}
		if (c->big != NULL) {
			c->big_have += (size_t)n;
			if (c->big_have == c->big_len) {
				if ((r = cl_read_dispatch_big(c)) < 0)
					return r;
				handled += r;
			}
		} else {
			c->rlen += (size_t)n;
		}
		if ((r = cl_read_frames(c)) < 0)
			return r;
		handled += r;
		/* A short read means the socket is drained for now. */
		if ((size_t)n < want)
			return handled;
	}
}

int
logd_client_poll(struct logd_client *c, int timeout_ms)
{
	struct pollfd pfd;
	int64_t now, end;
	int handled = 0, r, t, next;

	if (c->broken)
		return c->broken;
	now = cl_now_ms();
	end = timeout_ms < 0 ? -1 : now + timeout_ms;
	for (;;) {
		int32_t was = c->inflight;

		next = cl_expire(c, now);
		if (c->broken)
			return c->broken;
		/* A request that timed out has been answered (its done
		 * function saw LOGD_ETIMEDOUT): waiting on could be for
		 * ever, with a broker that stopped answering. */
		if (c->inflight < was)
			return handled;
		t = end < 0 ? -1 : (int)(end - now);
		if (next >= 0 && (t < 0 || next < t))
			t = next;
		pfd.fd = c->fd;
		pfd.events = POLLIN | (cl_unsent(c) ? POLLOUT : 0);
		pfd.revents = 0;
		if (t == 0) {
			/* No wait: the socket's own calls say what poll()
			 * would, and save a system call on every look. */
			r = 1;
			pfd.revents = pfd.events;
		} else {
			r = poll(&pfd, 1, t);
		}
		if (r < 0 && errno != EINTR) {
			cl_seterr(c, -errno, "poll: %s", strerror(errno));
			return -errno;
		}
		if (r > 0 && (pfd.revents & POLLOUT) && cl_write(c) < 0)
			return c->broken;
		if (r > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
			r = cl_read(c);
			if (r < 0)
				return r;
			handled += r;
		}
		now = cl_now_ms();
		if (handled > 0 || (end >= 0 && now >= end)) {
			cl_expire(c, now);
			return c->broken ? c->broken : handled;
		}
		if (c->inflight == 0 && cl_unsent(c) == 0 && end < 0)
			return 0; /* nothing can ever arrive */
	}
}

void
cl_cancel(struct logd_client *c, void *arg)
{
	int32_t i;

	for (i = 0; i < c->nslots; i++)
		if (c->slots[i].done != NULL && c->slots[i].arg == arg)
			cl_slot_free(c, i);
}

int
cl_wait(struct logd_client *c, const int *flag)
{
	while (!*flag) {
		int r = logd_client_poll(c, -1);

		if (r < 0 && !*flag)
			return r;
		if (r == 0 && !*flag && c->inflight == 0)
			return cl_seterr(c, -EINVAL, "waiting with nothing "
			    "in flight");
	}
	return 0;
}

/* ---- connecting ---- */

/* Splits addr into a Unix path or host and port (copied into host). */
static int
cl_parse_addr(const char *addr, char *host, size_t hsize, char *port,
    size_t psize, int *is_unix)
{
	const char *colon, *h = addr;
	size_t hlen;

	*is_unix = 0;
	if (strncmp(addr, "unix:", 5) == 0 || addr[0] == '/' ||
	    addr[0] == '.') {
		const char *path = addr[0] == 'u' ? addr + 5 : addr;

		if (strlen(path) + 1 > sizeof(((struct sockaddr_un *)0)->sun_path)
		    || path[0] == '\0' || strlen(path) >= hsize)
			return -EINVAL;
		strcpy(host, path);
		*is_unix = 1;
		return 0;
	}
	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');

		if (rb == NULL)
			return -EINVAL;
		h = addr + 1;
		hlen = (size_t)(rb - h);
		colon = rb[1] == ':' ? rb + 1 : NULL;
		if (rb[1] != '\0' && colon == NULL)
			return -EINVAL;
	} else {
		colon = strrchr(addr, ':');
		hlen = colon ? (size_t)(colon - addr) : strlen(addr);
	}
	if (hlen == 0 || hlen >= hsize)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (colon != NULL) {
		char *e;
		long v = strtol(colon + 1, &e, 10);

		if (*e != '\0' || v <= 0 || v > 65535)
			return -EINVAL;
	}
	snprintf(port, psize, "%s", colon ? colon + 1 : "9400");
	return 0;
}

/* Non-blocking connect with a timeout.  Returns the socket or an error. */
static int
cl_connect_one(struct logd_client *c, int family, const struct sockaddr *sa,
    socklen_t salen, int64_t deadline)
{
	int fd, r, one = 1;
	socklen_t len = sizeof(r);

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, sa, salen) < 0) {
		struct pollfd pfd = { fd, POLLOUT, 0 };
		int64_t left;

		if (errno != EINPROGRESS && errno != EAGAIN) {
			r = -errno;
			goto fail;
		}
		for (;;) {
			left = deadline - cl_now_ms();
			if (left <= 0) {
				r = LOGD_ETIMEDOUT;
				goto fail;
			}
			r = poll(&pfd, 1, (int)left);
			if (r > 0)
				break;
			if (r < 0 && errno != EINTR) {
				r = -errno;
				goto fail;
			}
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &r, &len) < 0) {
			r = -errno;
			goto fail;
		}
		if (r != 0) {
			r = -r;
			goto fail;
		}
	}
	if (family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)c;
	return fd;
fail:
	close(fd);
	return r;
}

static int
cl_connect(struct logd_client *c, const char *addr)
{
	char host[256], port[16];
	int64_t deadline = cl_now_ms() + c->connect_timeout_ms;
	struct addrinfo hints, *res = NULL, *ai;
	int is_unix, r;

	r = cl_parse_addr(addr, host, sizeof(host), port, sizeof(port),
	    &is_unix);
	if (r < 0)
		return cl_seterr(c, r, "bad address \"%s\": expected "
		    "host:port or a Unix socket path", addr);
	if (is_unix) {
		struct sockaddr_un sun;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		strcpy(sun.sun_path, host);
		r = cl_connect_one(c, AF_UNIX, (struct sockaddr *)&sun,
		    sizeof(sun), deadline);
		if (r < 0)
			return cl_seterr(c, r, "connect to %s: %s", host,
			    logd_strerror(r));
		c->fd = r;
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0)
		return cl_seterr(c, r == EAI_MEMORY ? -ENOMEM : -ENOENT,
		    "%s: %s", host, gai_strerror(r));
	r = -ENOENT;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		r = cl_connect_one(c, ai->ai_family, ai->ai_addr,
		    ai->ai_addrlen, deadline);
		if (r >= 0)
			break;
	}
	freeaddrinfo(res);
	if (r < 0)
		return cl_seterr(c, r, "connect to %s:%s: %s", host, port,
		    logd_strerror(r));
	c->fd = r;
	return 0;
}

/* ---- synchronous calls ---- */

struct cl_sync {
	int done;
	int err;
	cl_parse_fn parse;
	void *arg;
};

static void
cl_sync_done(struct logd_client *c, void *arg, int err, struct logd_msg *m,
    struct cl_frame *f)
{
	struct cl_sync *s = arg;

	s->done = 1;
	s->err = err;
	if (err == 0 && s->parse != NULL) {
		s->err = s->parse(c, m, f, s->arg);
		if (s->err == LOGD_EPROTO)
			cl_seterr(c, LOGD_EPROTO, "bad reply from broker: %s",
			    m->err);
	}
}

int
cl_call(struct logd_client *c, cl_parse_fn parse, void *arg, int extra_ms)
{
	struct cl_sync s = { 0, 0, parse, arg };
	int r;

	r = cl_req_end(c, cl_sync_done, &s, extra_ms);
	if (r < 0)
		return r;
	r = cl_wait(c, &s.done);
	if (r < 0)
		return r;
	return s.err;
}

static int
cl_hello_parse(struct logd_client *c, struct logd_msg *m, struct cl_frame *f,
    void *arg)
{
	const msgpack_object_array *a;
	uint64_t mf = 0;
	uint32_t i;
	int r;

	r = logd_proto_cstr_opt(m, NULL, "version", c->version,
	    sizeof(c->version));
	if (r == 0)
		r = logd_proto_uint_opt(m, NULL, "max_frame",
		    LOGD_FRAME_MAX_DEFAULT, &mf);
	if (r < 0)
		return r;
	if (mf > LOGD_FRAME_MAX_DEFAULT)
		mf = LOGD_FRAME_MAX_DEFAULT;
	c->max_frame = (uint32_t)mf;
	/* The apis the broker serves: an older one lacks the newer ones
	 * (FETCH_CREDIT: streaming fetches), and ignores their fields. */
	c->apis = 0;
	if ((r = logd_proto_array_opt(m, NULL, "apis", &a)) < 0)
		return r;
	for (i = 0; a != NULL && i < a->size; i++)
		if (a->ptr[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
		    a->ptr[i].via.u64 < 64)
			c->apis |= (uint64_t)1 << a->ptr[i].via.u64;
	return 0;
}

int
logd_client_open(const char *addr, const struct logd_client_options *opts,
    struct logd_client **out)
{
	struct logd_client *c;
	msgpack_packer *pk;
	int r;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->fd = -1;
	c->free_head = -1;
	c->open_slot = -1;
	c->connect_timeout_ms = 5000;
	c->request_timeout_ms = 30000;
	c->max_frame = LOGD_FRAME_MAX_DEFAULT;
	if (opts != NULL && opts->connect_timeout_ms > 0)
		c->connect_timeout_ms = opts->connect_timeout_ms;
	if (opts != NULL && opts->request_timeout_ms > 0)
		c->request_timeout_ms = opts->request_timeout_ms;
	logd_pbuf_init(&c->out);
	msgpack_zone_init(&c->zone, 4096);
	c->rbuf = malloc(CL_RBUF_SIZE);
	if (c->rbuf == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	r = cl_connect(c, addr != NULL ? addr : LOGD_DEFAULT_ADDR);
	if (r < 0)
		goto fail;
	r = cl_req_begin(c, LOGD_API_HELLO, &pk);
	if (r < 0)
		goto fail;
	snprintf(c->client_id, sizeof(c->client_id), "%s",
	    opts != NULL && opts->client_id ? opts->client_id : "liblogd");
	msgpack_pack_map(pk, 1);
	logd_pack_kv_str(pk, "client", c->client_id);
	{
		/* HELLO must come back within the connect timeout. */
		int rt = c->request_timeout_ms;

		c->request_timeout_ms = c->connect_timeout_ms;
		r = cl_call(c, cl_hello_parse, NULL, 0);
		c->request_timeout_ms = rt;
	}
	/* Closed or reset before HELLO came back: logd refuses a
	 * connection that way past its max_connections (or stopping). */
	if (r == -ECONNRESET || r == -EPIPE)
		r = LOGD_ECLOSED;
	if (r < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	logd_client_close(c);
	return r;
}

void
logd_client_close(struct logd_client *c)
{
	int i;

	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->slots);
	free(c->rbuf);
	free(c->big);
	for (i = 0; i < CL_SPARES; i++)
		free(c->spare[i]);
	logd_pbuf_free(&c->out);
	msgpack_zone_destroy(&c->zone);
	free(c);
}
