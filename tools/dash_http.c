/*
 * dash_http.c - sensordash's HTTP side (dash.h), on libmicrohttpd.
 *
 *   GET /              the dashboard (tools/sensordash.html, built in)
 *   GET /chart.js      Chart.js, from the file configure found
 *   GET /api/stations  every station: latest reading, chart points
 *   GET /api/alerts    the newest alerts, counts by type and city
 *   GET /api/health    the pipeline: logd, readings/s, the group's lag
 *   GET /events        Server-Sent Events: readings, alert, health
 *   anything else      404; a method other than GET or HEAD, 405
 *
 * One thread per connection (MHD_USE_THREAD_PER_CONNECTION), because an
 * event stream waits for news inside libmicrohttpd's content callback;
 * the bounds that keep hostile or careless clients from hurting it:
 * - at most -m connections (libmicrohttpd closes the ones past it at
 *   accept), of which at most -M event streams (503 past that);
 * - a connection idle for -T seconds is closed (a slow client that
 *   neither sends its request nor reads its reply);
 * - 32 KiB of memory per connection for the request line and headers:
 *   more is answered 431 by libmicrohttpd, garbage 400;
 * - a stream that falls more than DASH_EVENTS events behind is told to
 *   reload ("reset") instead of being fed from an unbounded queue, and
 *   one that has had nothing for 15 s gets a comment; a stream whose
 *   browser closed the connection ends within a second (poll for
 *   POLLRDHUP on its socket), so reloading pages do not use up -M.
 * The listening socket is made here (so a bind error names its cause)
 * and handed to libmicrohttpd.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* POLLRDHUP */
#endif
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include <microhttpd.h>

#include "dash.h"

#define CONN_MEMORY (32 * 1024) /* request line + headers, per connection */
#define STACK_SIZE (512 * 1024) /* per connection thread */
#define STREAM_BLOCK (64 * 1024)
#define PING_S 15               /* comment on an idle stream */
#define STREAM_BATCH (256 * 1024) /* events copied out per wake-up */

/* One event stream. */
struct stream {
	struct dash *d;
	int fd;                   /* the connection's socket, -1 unknown */
	uint64_t next;            /* the next event's seq */
	struct tool_buf out;      /* rendered, not yet handed to MHD */
	size_t off;
	int started;
};

static enum MHD_Result
send_buf(struct MHD_Connection *conn, unsigned status, const char *type,
    const void *p, size_t n, enum MHD_ResponseMemoryMode mode,
    const char *cache)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(n, (void *)p, mode);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", cache);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (!strncmp(type, "text/html", 9))
		MHD_add_response_header(r, "Content-Security-Policy",
		    "default-src 'none'; script-src 'self' 'unsafe-inline'; "
		    "style-src 'unsafe-inline'; connect-src 'self'; "
		    "img-src 'self' data:");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
send_text(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	return send_buf(conn, status, "text/plain; charset=utf-8", msg,
	    strlen(msg), MHD_RESPMEM_PERSISTENT, "no-store");
}

static enum MHD_Result
send_json(struct MHD_Connection *conn, struct dash *d,
    int (*render)(struct dash *, struct tool_buf *))
{
	struct tool_buf b = TOOL_BUF_INIT;
	enum MHD_Result ret;

	if (render(d, &b) < 0 || b.data == NULL) {
		tool_buf_free(&b);
		return send_text(conn, 500, "out of memory\n");
	}
	/* MHD frees the body with free() when done. */
	ret = send_buf(conn, 200, "application/json", b.data, b.len,
	    MHD_RESPMEM_MUST_FREE, "no-store");
	if (ret != MHD_YES)
		tool_buf_free(&b);
	return ret;
}

/* ---- Event streams ---- */

/* 1 when the browser closed its end (it never sends on a stream). */
static int
peer_gone(const struct stream *s)
{
	struct pollfd p = { s->fd, POLLRDHUP, 0 };

	return s->fd >= 0 && poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Fills s->out with what the stream should send next, waiting up to
 * PING_S for an event (and checking every second that the browser is
 * still there).  Returns 0; -1 when sensordash is stopping, -2 when the
 * browser went away. */
static int
stream_fill(struct stream *s)
{
	struct dash *d = s->d;
	struct timespec until, slice;
	size_t n = 0;
	int r;

	tool_buf_reset(&s->out);
	s->off = 0;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += PING_S;
	pthread_mutex_lock(&d->mu);
	if (!s->started) {
		/* Everything from now on; the page loads the rest from
		   the JSON snapshots, which carry their seq. */
		s->started = 1;
		s->next = d->seq + 1;
		tool_buf_printf(&s->out, "retry: 2000\nevent: hello\n"
		    "data: {\"seq\":%" PRIu64 "}\n\n", d->seq);
		pthread_mutex_unlock(&d->mu);
		return 0;
	}
	for (;;) {
		if (d->stopping || s->next <= d->seq)
			break;
		clock_gettime(CLOCK_REALTIME, &slice);
		slice.tv_sec++;
		if (slice.tv_sec > until.tv_sec)
			slice = until;
		r = pthread_cond_timedwait(&d->cond, &d->mu, &slice);
		if (r == ETIMEDOUT) {
			if (peer_gone(s)) {
				pthread_mutex_unlock(&d->mu);
				return -2;
			}
			if (slice.tv_sec >= until.tv_sec)
				break;
		}
	}
	if (d->stopping) {
		pthread_mutex_unlock(&d->mu);
		return -1;
	}
	if (s->next > d->seq) {
		tool_buf_adds(&s->out, ": ping\n\n");
	} else if (d->seq - s->next >= DASH_EVENTS - 1) {
		/* fell behind the ring: start over from a snapshot */
		tool_buf_printf(&s->out, "event: reset\ndata: {\"seq\":%"
		    PRIu64 "}\n\n", d->seq);
		s->next = d->seq + 1;
	} else {
		while (s->next <= d->seq && n < STREAM_BATCH) {
			const struct dash_event *e =
			    &d->ev[s->next % DASH_EVENTS];

			if (e->data != NULL)
				tool_buf_add(&s->out, e->data, e->len);
			n += e->len;
			s->next++;
		}
	}
	pthread_mutex_unlock(&d->mu);
	return 0;
}

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	size_t n;

	(void)pos;
	while (s->off >= s->out.len) {
		int r = stream_fill(s);

		if (r == -1)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (r < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	n = s->out.len - s->off;
	if (n > max)
		n = max;
	memcpy(buf, s->out.data + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void
stream_free(void *cls)
{
	struct stream *s = cls;

	pthread_mutex_lock(&s->d->mu);
	s->d->streams--;
	pthread_mutex_unlock(&s->d->mu);
	tool_buf_free(&s->out);
	free(s);
}

static enum MHD_Result
send_stream(struct MHD_Connection *conn, struct dash *d)
{
	const union MHD_ConnectionInfo *info;
	struct MHD_Response *r;
	struct stream *s;
	enum MHD_Result ret;

	pthread_mutex_lock(&d->mu);
	if (d->streams >= d->o.max_streams) {
		pthread_mutex_unlock(&d->mu);
		return send_text(conn, 503, "too many event streams\n");
	}
	d->streams++;
	pthread_mutex_unlock(&d->mu);
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		pthread_mutex_lock(&d->mu);
		d->streams--;
		pthread_mutex_unlock(&d->mu);
		return send_text(conn, 500, "out of memory\n");
	}
	s->d = d;
	info = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD);
	s->fd = info != NULL ? info->connect_fd : -1;
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK,
	    stream_read, s, stream_free);
	if (r == NULL) {
		stream_free(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	ret = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- Requests ---- */

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct dash *d = cls;

	(void)version;
	(void)upload_data;
	(void)con_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		struct MHD_Response *r;
		enum MHD_Result ret;

		*upload_data_size = 0;
		r = MHD_create_response_from_buffer(19,
		    (void *)"method not allowed\n", MHD_RESPMEM_PERSISTENT);
		if (r == NULL)
			return MHD_NO;
		MHD_add_response_header(r, "Allow", "GET, HEAD");
		MHD_add_response_header(r, "Content-Type", "text/plain");
		ret = MHD_queue_response(conn, 405, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (!strcmp(url, "/") || !strcmp(url, "/index.html"))
		return send_buf(conn, 200, "text/html; charset=utf-8",
		    d->page, d->page_len, MHD_RESPMEM_PERSISTENT, "no-cache");
	if (!strcmp(url, "/chart.js"))
		return send_buf(conn, 200, "text/javascript; charset=utf-8",
		    d->chartjs, d->chartjs_len, MHD_RESPMEM_PERSISTENT,
		    "max-age=3600");
	if (!strcmp(url, "/api/stations"))
		return send_json(conn, d, dash_json_stations);
	if (!strcmp(url, "/api/alerts"))
		return send_json(conn, d, dash_json_alerts);
	if (!strcmp(url, "/api/health"))
		return send_json(conn, d, dash_json_health);
	if (!strcmp(url, "/events"))
		return send_stream(conn, d);
	return send_text(conn, 404, "not found\n");
}

/* Splits "host:port", "[v6]:port" or ":port" and binds a listening
 * socket.  Returns the socket, or -1 after printing why. */
static int
listen_on(const char *spec, int *family)
{
	struct addrinfo hints, *ai = NULL, *a;
	char host[256];
	const char *colon, *port;
	int fd = -1, r, one = 1, err = 0;
	size_t hl;

	if (spec[0] == '[') {
		colon = strstr(spec, "]:");
		if (colon == NULL)
			goto bad;
		hl = (size_t)(colon - spec - 1);
		if (hl >= sizeof(host))
			goto bad;
		memcpy(host, spec + 1, hl);
		port = colon + 2;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL)
			goto bad;
		hl = (size_t)(colon - spec);
		if (hl >= sizeof(host))
			goto bad;
		memcpy(host, spec, hl);
		port = colon + 1;
	}
	host[hl] = '\0';
	if (port[0] == '\0')
		goto bad;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	r = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (r != 0) {
		tool_err("listen address %s: %s", spec, gai_strerror(r));
		return -1;
	}
	for (a = ai; a != NULL; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
		    a->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 &&
		    listen(fd, 64) == 0) {
			*family = a->ai_family;
			break;
		}
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		tool_err("cannot listen on %s: %s", spec, strerror(err));
	return fd;
bad:
	tool_err("bad listen address \"%s\" (HOST:PORT, [V6ADDR]:PORT or "
	    ":PORT)", spec);
	return -1;
}

/* libmicrohttpd's messages (with -v), without their newline. */
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	tool_err("http: %s", msg);
}

int
dash_http_start(struct dash *d, struct MHD_Daemon **out, int *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
	struct MHD_Daemon *mhd;
	int fd, family = AF_INET;

	fd = listen_on(d->o.listen, &family);
	if (fd < 0)
		return -1;
	if (family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (d->o.verbose)
		flags |= MHD_USE_ERROR_LOG;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		*port = ntohs(ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port :
		    ((struct sockaddr_in *)&ss)->sin_port);
	mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, d,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)d->o.max_conns,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)d->o.timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
	    MHD_OPTION_THREAD_STACK_SIZE, (size_t)STACK_SIZE,
	    MHD_OPTION_END);
	if (mhd == NULL) {
		tool_err("cannot start the HTTP server on %s", d->o.listen);
		close(fd);
		return -1;
	}
	*out = mhd;
	return 0;
}

void
dash_http_stop(struct dash *d, struct MHD_Daemon *mhd)
{
	if (mhd == NULL)
		return;
	pthread_mutex_lock(&d->mu);
	__atomic_store_n(&d->stopping, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->mu);
	/* closes the listening socket, waits for the connection threads:
	   the streams among them end within a second of the broadcast */
	MHD_stop_daemon(mhd);
}
