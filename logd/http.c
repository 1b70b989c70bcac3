/*
 * http.c - the HTTP listener on libmicrohttpd (http.h).
 *
 * Pages: / (the status page, built in), /chart.js (Debian's Chart.js,
 * read at start), /metrics, /api/topics, /api/groups, /api/stats,
 * /api/throughput.  Only GET and HEAD; anything else is 405, an unknown
 * path 404.  libmicrohttpd answers malformed requests (400) and headers
 * past the connection's memory (431) itself.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "daemon.h"
#include "http.h"
#include "status_html.h"

#define HTTP_MAX_CONNS 64
#define HTTP_TIMEOUT_S 10
#define HTTP_MEMORY (32 * 1024)
#define SNAP_MAX_AGE_MS 200
#define SNAP_WAIT_MS 2000
#define SAMPLE_MS 5000

static struct MHD_Daemon *mhd;
static char *chartjs;
static size_t chartjs_len;

/* The handover: HTTP threads ask, the loop makes (see http.h). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t made = PTHREAD_COND_INITIALIZER;
static struct http_snap *cur;
static unsigned long long generation;
static int asked, stopping;
static struct ev_io ask_io = { .fd = -1 };
static struct ev_timer sample_timer;

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void snap_unref(struct http_snap *s)
{
	if (s && --s->refs == 0)
		http_snap_free(s);
}

/* Loop thread: the HTTP side asked for a snapshot. */
static void on_ask(struct ev_io *io, uint32_t events)
{
	struct http_snap *s, *old;
	uint64_t v;

	while (read(io->fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		;
	s = http_snap_make();
	pthread_mutex_lock(&lock);
	asked = 0;
	if (s) {
		s->refs = 1;
		s->made_ms = mono_ms();
		old = cur;
		cur = s;
		snap_unref(old);
	}
	generation++;
	pthread_cond_broadcast(&made);
	pthread_mutex_unlock(&lock);
	if (!s)
		log_error("http: out of memory making a snapshot");
}

static void on_sample(struct ev_timer *t)
{
	http_snap_sample();
	ev_timer_start(t, SAMPLE_MS);
}

/* HTTP thread: a snapshot at most a second old (a reference), or NULL. */
static struct http_snap *snap_get(void)
{
	struct http_snap *s = NULL;
	unsigned long long gen;
	struct timespec until;
	uint64_t one = 1;

	pthread_mutex_lock(&lock);
	if (!cur || mono_ms() - cur->made_ms > SNAP_MAX_AGE_MS) {
		gen = generation;
		if (!asked && !stopping) {
			asked = 1;
			if (write(ask_io.fd, &one, sizeof(one)) < 0)
				asked = 0;
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += SNAP_WAIT_MS / 1000;
		while (generation == gen && !stopping &&
		    pthread_cond_timedwait(&made, &lock, &until) == 0)
			;
	}
	if (cur && mono_ms() - cur->made_ms <= SNAP_MAX_AGE_MS + SNAP_WAIT_MS) {
		s = cur;
		s->refs++;
	}
	pthread_mutex_unlock(&lock);
	return s;
}

static void snap_put(struct http_snap *s)
{
	pthread_mutex_lock(&lock);
	snap_unref(s);
	pthread_mutex_unlock(&lock);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
    const char *type, const void *body, size_t len, int copy)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body, copy ?
	    MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *conn,
    unsigned status, const char *msg)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", msg);

	return reply(conn, status, "application/json", body, (size_t)n, 1);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
    const char *url, const char *method, const char *version,
    const char *upload, size_t *upload_len, void **ctx)
{
	static const char json[] = "application/json";
	struct http_snap *s;
	enum MHD_Result ret;
	const char *body = NULL;
	size_t len = 0;
	const char *type = json;

	if (!*ctx) {
		/* Headers are in; a body (if any) comes in later calls. */
		*ctx = (void *)1;
		return MHD_YES;
	}
	if (*upload_len) {
		*upload_len = 0;   /* nothing takes a body: drop it */
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "only GET and HEAD");
	if (!strcmp(url, "/") || !strcmp(url, "/index.html"))
		return reply(conn, MHD_HTTP_OK, "text/html; charset=utf-8",
		    status_html, sizeof(status_html) - 1, 0);
	if (!strcmp(url, "/chart.js")) {
		if (!chartjs)
			return reply_error(conn, MHD_HTTP_NOT_FOUND,
			    "Chart.js was not found at " LOGD_CHARTJS);
		return reply(conn, MHD_HTTP_OK,
		    "text/javascript; charset=utf-8", chartjs, chartjs_len, 0);
	}
	if (strcmp(url, "/metrics") && strncmp(url, "/api/", 5))
		return reply_error(conn, MHD_HTTP_NOT_FOUND, "no such page");
	if (!(s = snap_get()))
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "the broker did not answer");
	if (!strcmp(url, "/metrics")) {
		body = s->metrics;
		len = s->metrics_len;
		type = "text/plain; version=0.0.4; charset=utf-8";
	} else if (!strcmp(url, "/api/topics")) {
		body = s->topics;
		len = s->topics_len;
	} else if (!strcmp(url, "/api/groups")) {
		body = s->groups;
		len = s->groups_len;
	} else if (!strcmp(url, "/api/stats")) {
		body = s->stats;
		len = s->stats_len;
	} else if (!strcmp(url, "/api/throughput")) {
		body = s->throughput;
		len = s->throughput_len;
	}
	ret = body ? reply(conn, MHD_HTTP_OK, type, body, len, 1) :
	    reply_error(conn, MHD_HTTP_NOT_FOUND, "no such API");
	snap_put(s);
	return ret;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = 0;
	log_debug("http: %s", msg);
}

static void load_chartjs(void)
{
	struct stat st;
	int fd = open(LOGD_CHARTJS, O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;

	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0 &&
	    st.st_size < 16 << 20 && (chartjs = malloc((size_t)st.st_size)))
		n = read(fd, chartjs, (size_t)st.st_size);
	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)st.st_size || n <= 0) {
		free(chartjs);
		chartjs = NULL;
		log_warn("http: cannot read %s (install libjs-chart.js): the "
		    "status page shows no charts", LOGD_CHARTJS);
		return;
	}
	chartjs_len = (size_t)n;
}

int http_start(int fd)
{
	ask_io.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ask_io.fd < 0) {
		log_error("http: eventfd: %s", strerror(errno));
		close(fd);
		return -1;
	}
	ask_io.fn = on_ask;
	if (ev_add(&ask_io, EPOLLIN)) {
		log_error("http: cannot watch the eventfd");
		goto fail;
	}
	load_chartjs();
	stopping = 0;
	mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request,
	    NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
	    MHD_OPTION_END);
	if (!mhd) {
		log_error("http: cannot start libmicrohttpd");
		ev_del(&ask_io);
		goto fail;
	}
	http_snap_sample();
	sample_timer.fn = on_sample;
	ev_timer_start(&sample_timer, SAMPLE_MS);
	return 0;
fail:
	close(ask_io.fd);
	ask_io.fd = -1;
	close(fd);
	return -1;
}

void http_stop(void)
{
	if (!mhd)
		return;
	pthread_mutex_lock(&lock);
	stopping = 1;
	pthread_cond_broadcast(&made);
	pthread_mutex_unlock(&lock);
	/* Waits for the thread; the listening socket is closed with it. */
	MHD_stop_daemon(mhd);
	mhd = NULL;
	ev_timer_stop(&sample_timer);
	ev_del(&ask_io);
	close(ask_io.fd);
	ask_io.fd = -1;
	snap_unref(cur);
	cur = NULL;
	free(chartjs);
	chartjs = NULL;
}
