/*
 * check_dash.c - sensordash against a real logd, over real HTTP.
 *
 * Each test starts logd (testlogd.h) and sensordash on a port the kernel
 * picks (-l 127.0.0.1:0; the port is read from its "dashboard at" line),
 * produces readings and alerts with the client library, and looks at
 * what sensordash serves: the JSON endpoints parsed as JSON (through
 * tools/tool_json.c into msgpack), the event stream read off a socket.
 *
 * - api: the JSON endpoints reflect the readings and alerts produced
 *   (values, cities, counts, chart points, the alert group's lag).
 * - sse: a new reading arrives on /events within a second.
 * - restart: a new sensordash refills the same history from the log by
 *   time; a reading older than the window is not replayed.
 * - hostile: garbage, a huge header, an unknown path, a POST, more
 *   connections than -m, a client that never finishes its request: each
 *   gets a 4xx or is cut off, and sensordash keeps serving.
 * - slow_stream: a stream whose browser stops reading is cut after -T
 *   seconds without progress, and costs nothing meanwhile.
 * - logd_down: started before logd is reachable it serves, says logd is
 *   down, and reads once logd is up; after a logd restart it reconnects
 *   and goes on without counting anything twice.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <msgpack.h>

#include "logd.h"
#include "testlogd.h"
#include "../tools/tool.h"

static struct testlogd T;
static pid_t dash_pid;
static int dash_port;
static char dash_err[512];

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- logd ---- */

static struct logd_client *
connect_ok(void)
{
	struct logd_client *c = NULL;
	int r = logd_client_open(T.addr, NULL, &c);

	ck_assert_msg(r == 0, "connect %s: %s", T.addr, logd_strerror(r));
	return c;
}

static void
create_topics(void)
{
	struct logd_client *c = connect_ok();

	ck_assert_int_eq(logd_client_topic_create(c, "sensor_data", 3, NULL,
	    0), 0);
	ck_assert_int_eq(logd_client_topic_create(c, "weather_alerts", 1,
	    NULL, 0), 0);
	logd_client_close(c);
}

static void
pack_s(msgpack_packer *pk, const char *k, const char *v)
{
	msgpack_pack_str(pk, strlen(k));
	msgpack_pack_str_body(pk, k, strlen(k));
	msgpack_pack_str(pk, strlen(v));
	msgpack_pack_str_body(pk, v, strlen(v));
}

static void
pack_d(msgpack_packer *pk, const char *k, double v)
{
	msgpack_pack_str(pk, strlen(k));
	msgpack_pack_str_body(pk, k, strlen(k));
	msgpack_pack_double(pk, v);
}

/* Sends one record (acks=all) to topic, keyed by key, stamped ts. */
static void
produce(const char *topic, const char *key, const msgpack_sbuffer *sb,
    int64_t ts)
{
	struct logd_client *c = connect_ok();
	struct logd_producer_options po;
	struct logd_producer *p = NULL;
	struct logd_message m;

	logd_producer_options_default(&po);
	po.acks = LOGD_ACKS_ALL;
	ck_assert_int_eq(logd_producer_new(c, &po, &p), 0);
	memset(&m, 0, sizeof(m));
	m.topic = topic;
	m.partition = LOGD_PARTITION_ANY;
	m.key = key;
	m.key_len = strlen(key);
	m.value = sb->data;
	m.value_len = sb->size;
	m.timestamp = ts;
	ck_assert_int_eq(logd_producer_send(p, &m), 0);
	ck_assert_int_eq(logd_producer_close(p), 0);
	logd_client_close(c);
}

static void
reading(const char *id, const char *city, double temp, int64_t ts)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 8);
	pack_s(&pk, "sensor_id", id);
	pack_s(&pk, "city", city);
	pack_d(&pk, "lat", 30.04);
	pack_d(&pk, "lon", 31.24);
	pack_d(&pk, "temperature", temp);
	pack_d(&pk, "humidity", 50.5);
	pack_d(&pk, "wind_speed", 12.0);
	pack_d(&pk, "pressure", 1013.5);
	produce("sensor_data", id, &sb, ts);
	msgpack_sbuffer_destroy(&sb);
}

static void
alert(const char *id, const char *city, const char *type, double value)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 7);
	pack_s(&pk, "alert_ts", "2026-12-01T10:00:00.000Z");
	pack_s(&pk, "sensor_id", id);
	pack_s(&pk, "city", city);
	pack_s(&pk, "alert_type", type);
	pack_s(&pk, "metric", "temperature");
	pack_s(&pk, "severity", "CRITICAL");
	pack_d(&pk, "value", value);
	produce("weather_alerts", id, &sb, now_ms());
	msgpack_sbuffer_destroy(&sb);
}

/* ---- sensordash ---- */

static const char *
dash_binary(void)
{
	static char path[512];
	const char *b = getenv("LOGD_BUILDDIR");

	snprintf(path, sizeof(path), "%s/tools/sensordash", b ? b : "..");
	return path;
}

static int
file_has(const char *path, const char *needle, char *line, size_t size)
{
	char buf[8192], *p, *e;
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strstr(buf, needle);
	if (p == NULL)
		return 0;
	if (line != NULL) {
		e = strchr(p, '\n');
		snprintf(line, size, "%.*s", e ? (int)(e - p) : (int)strlen(p),
		    p);
	}
	return 1;
}

/* Starts sensordash with extra options (NULL-terminated) against addr;
 * waits for its port. */
static void
dash_start(const char *addr, const char *const *extra)
{
	static int runs;
	char *argv[32];
	char line[256];
	int n = 0, i;
	const char *p;

	/* a new file each time: never the last run's "dashboard at" */
	snprintf(dash_err, sizeof(dash_err), "%s/sensordash.%d.err", T.dir,
	    ++runs);
	argv[n++] = (char *)dash_binary();
	argv[n++] = (char *)"-b";
	argv[n++] = (char *)addr;
	argv[n++] = (char *)"-l";
	argv[n++] = (char *)"127.0.0.1:0";
	for (i = 0; extra != NULL && extra[i] != NULL && n < 30; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	dash_pid = fork();
	ck_assert_int_ge(dash_pid, 0);
	if (dash_pid == 0) {
		int fe = open(dash_err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fo = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fo, 1);
		dup2(fe, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	for (i = 0; i < 500; i++) {
		if (file_has(dash_err, "dashboard at http://", line,
		    sizeof(line)))
			break;
		usleep(10000);
	}
	ck_assert_msg(i < 500, "sensordash did not start");
	p = strstr(line, "127.0.0.1:");
	ck_assert_ptr_nonnull(p);
	dash_port = atoi(p + 10);
	ck_assert_int_gt(dash_port, 0);
}

/* SIGTERM; asserts a clean exit 0 within 15 s. */
static void
dash_stop(void)
{
	int st = 0, i;

	if (dash_pid <= 0)
		return;
	kill(dash_pid, SIGTERM);
	for (i = 0; i < 1500; i++) {
		if (waitpid(dash_pid, &st, WNOHANG) == dash_pid)
			break;
		usleep(10000);
	}
	if (i == 1500) {
		kill(dash_pid, SIGKILL);
		waitpid(dash_pid, &st, 0);
	}
	dash_pid = 0;
	ck_assert_msg(i < 1500, "sensordash did not stop on SIGTERM");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "sensordash exited with status %d", st);
}

static int
dash_alive(void)
{
	return dash_pid > 0 && waitpid(dash_pid, NULL, WNOHANG) == 0;
}

/* ---- HTTP ---- */

static int
http_connect(int timeout_ms)
{
	struct sockaddr_in sa;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)dash_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);

		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Sends req raw and reads the reply until the peer closes (or 5 s).
 * Returns the status (0 when there was no status line); the reply's
 * body in *body (malloc'd, NUL-terminated) when body is not NULL. */
static int
http_raw(const void *req, size_t len, char **body)
{
	struct tool_buf b = TOOL_BUF_INIT;
	char buf[65536], *p;
	int fd = http_connect(5000), status = 0;
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	send_all(fd, req, len);   /* the server may close early: fine */
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		tool_buf_add(&b, buf, (size_t)n);
	close(fd);
	if (b.len > 12 && !strncmp(b.data, "HTTP/1.", 7))
		status = atoi(b.data + 9);
	if (body != NULL) {
		p = b.data ? strstr(b.data, "\r\n\r\n") : NULL;
		*body = strdup(p ? p + 4 : "");
	}
	tool_buf_free(&b);
	return status;
}

static int
http_get(const char *path, char **body)
{
	char req[512];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: test\r\n"
	    "Connection: close\r\n\r\n", path);
	return http_raw(req, strlen(req), body);
}

/* ---- JSON, parsed into msgpack ---- */

struct json {
	msgpack_sbuffer sb;
	msgpack_unpacked up;
};

static const msgpack_object *
json_parse(struct json *j, const char *text)
{
	char err[128];
	size_t off = 0;

	msgpack_sbuffer_init(&j->sb);
	msgpack_unpacked_init(&j->up);
	ck_assert_msg(tool_json_to_msgpack(text, strlen(text), &j->sb, err,
	    sizeof(err)) == 0, "bad JSON (%s): %.200s", err, text);
	ck_assert(msgpack_unpack_next(&j->up, j->sb.data, j->sb.size, &off) ==
	    MSGPACK_UNPACK_SUCCESS);
	return &j->up.data;
}

static void
json_free(struct json *j)
{
	msgpack_unpacked_destroy(&j->up);
	msgpack_sbuffer_destroy(&j->sb);
}

static const msgpack_object *
get(const msgpack_object *o, const char *key)
{
	uint32_t i;

	if (o == NULL || o->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR &&
		    k->via.str.size == strlen(key) &&
		    !memcmp(k->via.str.ptr, key, k->via.str.size))
			return &o->via.map.ptr[i].val;
	}
	return NULL;
}

static double
num(const msgpack_object *o)
{
	ck_assert_ptr_nonnull(o);
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return (double)o->via.u64;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return (double)o->via.i64;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return o->via.f64;
	default:
		ck_abort_msg("not a number (type %d)", o->type);
		return 0;
	}
}

static int
str_is(const msgpack_object *o, const char *s)
{
	return o != NULL && o->type == MSGPACK_OBJECT_STR &&
	    o->via.str.size == strlen(s) &&
	    !memcmp(o->via.str.ptr, s, o->via.str.size);
}

/* The station with id in a /api/stations reply, or NULL. */
static const msgpack_object *
station(const msgpack_object *root, const char *id)
{
	const msgpack_object *a = get(root, "stations");
	uint32_t i;

	ck_assert(a != NULL && a->type == MSGPACK_OBJECT_ARRAY);
	for (i = 0; i < a->via.array.size; i++)
		if (str_is(get(&a->via.array.ptr[i], "id"), id))
			return &a->via.array.ptr[i];
	return NULL;
}

/* Polls path until pred(root) holds (up to timeout_ms); returns the
 * body that satisfied it (the caller frees). */
static char *
wait_json(const char *path, int (*pred)(const msgpack_object *, void *),
    void *arg, int timeout_ms)
{
	int64_t until = mono_ms() + timeout_ms;
	char *body = NULL;

	for (;;) {
		struct json j;
		int ok;

		free(body);
		ck_assert_int_eq(http_get(path, &body), 200);
		ok = pred(json_parse(&j, body), arg);
		json_free(&j);
		if (ok)
			return body;
		ck_assert_msg(mono_ms() < until, "%s: condition not met; last "
		    "reply: %.300s", path, body);
		usleep(50000);
	}
}

static int
has_readings(const msgpack_object *root, void *arg)
{
	const msgpack_object *s = station(root, "ws_cairo_001");

	return s != NULL && num(get(s, "readings")) >= *(int *)arg;
}

/* ---- Fixture ---- */

static void
setup(void)
{
	memset(&T, 0, sizeof(T));
	dash_pid = 0;
	ck_assert_int_eq(testlogd_start(&T, NULL), 0);
}

static void
teardown(void)
{
	if (dash_pid > 0) {
		kill(dash_pid, SIGKILL);
		waitpid(dash_pid, NULL, 0);
		dash_pid = 0;
	}
	testlogd_stop(&T);
}

/* ---- Tests ---- */

START_TEST(api)
{
	int64_t t = now_ms();
	const msgpack_object *root, *s, *pts, *v, *a;
	struct json j;
	char *body;
	int want = 3;
	uint32_t i;

	create_topics();
	reading("ws_cairo_001", "Cairo", 20.0, t - 2000);
	reading("ws_cairo_001", "Cairo", 22.0, t - 1000);
	reading("ws_cairo_001", "Cairo", 24.5, t);
	reading("ws_aswan_001", "Aswan", 38.5, t);
	dash_start(T.addr, NULL);
	body = wait_json("/api/stations", has_readings, &want, 10000);
	root = json_parse(&j, body);
	s = station(root, "ws_cairo_001");
	ck_assert(str_is(get(s, "city"), "Cairo"));
	ck_assert_double_eq_tol(num(get(s, "temperature")), 24.5, 1e-9);
	ck_assert_double_eq_tol(num(get(s, "humidity")), 50.5, 1e-9);
	ck_assert_double_eq_tol(num(get(s, "lat")), 30.04, 1e-6);
	ck_assert_int_eq((int64_t)num(get(s, "t")), t);
	pts = get(s, "points");
	ck_assert(pts != NULL && pts->type == MSGPACK_OBJECT_ARRAY);
	ck_assert_uint_ge(pts->via.array.size, 1);
	/* the points' readings average to the three temperatures' mean
	   when they share a bucket, else hold them one by one */
	{
		double sum = 0;

		for (i = 0; i < pts->via.array.size; i++) {
			v = &pts->via.array.ptr[i];
			ck_assert_int_eq(v->type, MSGPACK_OBJECT_ARRAY);
			ck_assert_int_eq(v->via.array.size, 5);
			sum += num(&v->via.array.ptr[1]);
		}
		if (pts->via.array.size == 1)
			ck_assert_double_eq_tol(sum, (20.0 + 22 + 24.5) / 3,
			    1e-3);
	}
	s = station(root, "ws_aswan_001");
	ck_assert_ptr_nonnull(s);
	ck_assert(str_is(get(s, "city"), "Aswan"));
	ck_assert_int_eq(get(s, "alert")->type, MSGPACK_OBJECT_NIL);
	json_free(&j);
	free(body);

	alert("ws_aswan_001", "Aswan", "HIGH_TEMP", 41.5);
	alert("ws_aswan_001", "Aswan", "HIGH_TEMP", 42.5);
	alert("ws_cairo_001", "Cairo", "LOW_HUMIDITY", 12.0);
	for (i = 0; i < 200; i++) {
		ck_assert_int_eq(http_get("/api/alerts", &body), 200);
		root = json_parse(&j, body);
		if (num(get(root, "total")) == 3)
			break;
		json_free(&j);
		free(body);
		usleep(50000);
	}
	ck_assert_msg(i < 200, "three alerts not shown");
	a = get(root, "recent");
	ck_assert_int_eq(a->via.array.size, 3);
	/* newest first */
	ck_assert(str_is(get(&a->via.array.ptr[0], "type"), "LOW_HUMIDITY"));
	ck_assert(str_is(get(&a->via.array.ptr[1], "sensor_id"),
	    "ws_aswan_001"));
	ck_assert_double_eq_tol(num(get(&a->via.array.ptr[1], "value")), 42.5,
	    1e-9);
	a = get(root, "counts");
	ck_assert_int_eq(a->via.array.size, 2);
	for (i = 0; i < 2; i++) {
		const msgpack_object *c = &a->via.array.ptr[i];

		if (str_is(get(c, "type"), "HIGH_TEMP")) {
			ck_assert(str_is(get(c, "city"), "Aswan"));
			ck_assert_int_eq((int)num(get(c, "n")), 2);
		} else {
			ck_assert(str_is(get(c, "city"), "Cairo"));
			ck_assert_int_eq((int)num(get(c, "n")), 1);
		}
	}
	json_free(&j);
	free(body);
	ck_assert_int_eq(http_get("/api/stations", &body), 200);
	root = json_parse(&j, body);
	s = get(station(root, "ws_aswan_001"), "alert");
	ck_assert(str_is(get(s, "type"), "HIGH_TEMP"));
	ck_assert(str_is(get(s, "severity"), "CRITICAL"));
	json_free(&j);
	free(body);

	ck_assert_int_eq(http_get("/api/health", &body), 200);
	root = json_parse(&j, body);
	ck_assert_int_eq(get(root, "connected")->type, MSGPACK_OBJECT_BOOLEAN);
	ck_assert(get(root, "connected")->via.boolean);
	ck_assert_int_eq((int)num(get(root, "readings")), 4);
	ck_assert_int_eq((int)num(get(root, "stations")), 2);
	ck_assert_int_eq((int)num(get(root, "readings_end")), 4);
	json_free(&j);
	free(body);

	/* the page and Chart.js */
	ck_assert_int_eq(http_get("/", &body), 200);
	ck_assert_ptr_nonnull(strstr(body, "<script src=\"/chart.js\">"));
	/* nothing from elsewhere (the SVG namespace is only a name) */
	ck_assert_ptr_null(strstr(body, "src=\"http"));
	ck_assert_ptr_null(strstr(body, "href=\"http"));
	ck_assert_ptr_null(strstr(body, "url(http"));
	ck_assert_ptr_null(strstr(body, "https://"));
	free(body);
	ck_assert_int_eq(http_get("/chart.js", &body), 200);
	ck_assert_ptr_nonnull(strstr(body, "Chart.js"));
	free(body);
	dash_stop();
}
END_TEST

/* Reads the event stream on fd until needle shows up or timeout_ms
 * passes; 1 if it did. */
static int
stream_wait(int fd, struct tool_buf *b, const char *needle, int timeout_ms)
{
	int64_t until = mono_ms() + timeout_ms;
	char buf[8192];

	while (mono_ms() < until) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n > 0)
			tool_buf_add(b, buf, (size_t)n);
		if (b->data != NULL && strstr(b->data, needle) != NULL)
			return 1;
		if (n == 0)
			return 0;
	}
	return 0;
}

START_TEST(sse)
{
	static const char req[] = "GET /events HTTP/1.1\r\nHost: t\r\n\r\n";
	struct tool_buf b = TOOL_BUF_INIT;
	int64_t t0;
	int fd, k;

	create_topics();
	reading("ws_cairo_001", "Cairo", 20.0, now_ms());
	dash_start(T.addr, NULL);
	fd = http_connect(200);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(send_all(fd, req, sizeof(req) - 1), 0);
	ck_assert(stream_wait(fd, &b, "event: hello", 5000));
	ck_assert_ptr_nonnull(strstr(b.data, "text/event-stream"));
	/* three times: produce, and the reading is on the stream in 1 s */
	for (k = 0; k < 3; k++) {
		char id[32], needle[64];

		snprintf(id, sizeof(id), "ws_sse_%03d", k);
		snprintf(needle, sizeof(needle), "\"id\":\"%s\"", id);
		tool_buf_reset(&b);
		/* from the acknowledgement (acks=all waits for the disk) */
		reading(id, "Suez", 25.0 + k, now_ms());
		t0 = mono_ms();
		ck_assert_msg(stream_wait(fd, &b, needle, 1000),
		    "reading %s not streamed within 1 s (%" PRId64 " ms)", id,
		    mono_ms() - t0);
		ck_assert_ptr_nonnull(strstr(b.data, "event: readings"));
	}
	/* and an alert */
	tool_buf_reset(&b);
	alert("ws_sse_001", "Suez", "HIGH_WIND", 60.0);
	ck_assert(stream_wait(fd, &b, "event: alert", 1000));
	ck_assert_ptr_nonnull(strstr(b.data, "\"type\":\"HIGH_WIND\""));
	close(fd);
	tool_buf_free(&b);
	dash_stop();
}
END_TEST

/* The points array of ws_cairo_001 in /api/stations, as text. */
static char *
cairo_points(int *readings)
{
	const msgpack_object *s;
	struct json j;
	char *body, *p, *e, *out;

	ck_assert_int_eq(http_get("/api/stations", &body), 200);
	s = station(json_parse(&j, body), "ws_cairo_001");
	ck_assert_ptr_nonnull(s);
	*readings = (int)num(get(s, "readings"));
	json_free(&j);
	p = strstr(body, "\"id\":\"ws_cairo_001\"");
	p = strstr(p, "\"points\":");
	e = strstr(p, "]]");
	out = strndup(p, (size_t)(e - p + 2));
	free(body);
	return out;
}

START_TEST(restart)
{
	static const char *const opts[] = { "-w", "1h", NULL };
	int64_t t = now_ms();
	char *before, *after;
	int want = 20, n1, n2, i;

	create_topics();
	/* older than the window: never replayed */
	reading("ws_cairo_001", "Cairo", 99.0, t - 2 * 3600 * 1000);
	/* 20 readings over the last 40 minutes: several chart buckets */
	for (i = 0; i < 20; i++)
		reading("ws_cairo_001", "Cairo", 20.0 + i, t - (19 - i) *
		    120 * 1000);
	dash_start(T.addr, opts);
	free(wait_json("/api/stations", has_readings, &want, 10000));
	before = cairo_points(&n1);
	ck_assert_int_eq(n1, 20);
	ck_assert_ptr_null(strstr(before, ",99,"));
	ck_assert_ptr_nonnull(strstr(before, ",20,"));
	dash_stop();

	dash_start(T.addr, opts);
	free(wait_json("/api/stations", has_readings, &want, 10000));
	after = cairo_points(&n2);
	ck_assert_int_eq(n2, 20);
	ck_assert_str_eq(before, after);
	/* 40 minutes in 5 s buckets: one point per reading */
	for (i = 0, n1 = 0; after[i]; i++)
		n1 += after[i] == '[';
	ck_assert_int_eq(n1, 1 + 20);
	free(before);
	free(after);
	dash_stop();
}
END_TEST

START_TEST(hostile)
{
	static const char *const opts[] = { "-m", "16", "-M", "4", "-T", "2",
		NULL };
	static const char post[] = "POST /api/health HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 5\r\nConnection: close\r\n\r\nhello";
	static const char garbage[] = "\x16\x03\x01\x02\x00\x01\x00\xff"
	    "GARBAGE / NOT-HTTP\r\n\r\n";
	int fds[40], n, i, st;
	struct tool_buf big = TOOL_BUF_INIT;
	char *body, buf[64];
	int64_t t0;

	create_topics();
	dash_start(T.addr, opts);

	st = http_raw(garbage, sizeof(garbage) - 1, NULL);
	ck_assert_msg(st >= 400 && st < 500, "garbage: %d", st);
	/* a request line of one word: closed, or a 4xx */
	st = http_raw("GET\r\n\r\n", 7, NULL);
	ck_assert_msg(st == 0 || (st >= 400 && st < 500), "GET alone: %d", st);
	ck_assert_int_eq(http_get("/no/such/page", NULL), 404);
	ck_assert_int_eq(http_get("/api/stations/../../etc/passwd", NULL),
	    404);
	ck_assert_int_eq(http_raw(post, strlen(post), NULL), 405);

	/* a 100 KiB header */
	tool_buf_adds(&big, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ");
	for (i = 0; i < 100 * 1024; i++)
		tool_buf_addc(&big, 'a');
	tool_buf_adds(&big, "\r\nConnection: close\r\n\r\n");
	st = http_raw(big.data, big.len, NULL);
	ck_assert_msg(st >= 400 && st < 500, "huge header: %d", st);
	tool_buf_free(&big);
	/* a 100 KiB path */
	tool_buf_adds(&big, "GET /");
	for (i = 0; i < 100 * 1024; i++)
		tool_buf_addc(&big, 'p');
	tool_buf_adds(&big, " HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n");
	st = http_raw(big.data, big.len, NULL);
	ck_assert_msg(st >= 400 && st < 500, "huge path: %d", st);
	tool_buf_free(&big);
	/* 10,000 headers */
	tool_buf_adds(&big, "GET / HTTP/1.1\r\nHost: t\r\n");
	for (i = 0; i < 10000; i++)
		tool_buf_printf(&big, "X-%d: 1\r\n", i);
	tool_buf_adds(&big, "Connection: close\r\n\r\n");
	st = http_raw(big.data, big.len, NULL);
	ck_assert_msg(st >= 400 && st < 500, "many headers: %d", st);
	tool_buf_free(&big);

	/* more event streams than -M: the rest get 503 */
	for (i = 0, n = 0; i < 4; i++) {
		fds[i] = http_connect(2000);
		ck_assert_int_ge(fds[i], 0);
		send_all(fds[i], "GET /events HTTP/1.1\r\nHost: t\r\n\r\n", 34);
	}
	usleep(300000);
	ck_assert_int_eq(http_get("/events", NULL), 503);
	for (i = 0; i < 4; i++)
		close(fds[i]);

	/* more connections than -m, idle: bounded, and cut after -T */
	for (i = 0, n = 0; i < 40; i++) {
		fds[i] = http_connect(5000);
		if (fds[i] >= 0) {
			send_all(fds[i], "GET / HTT", 9);
			n++;
		}
	}
	usleep(200000);
	ck_assert(dash_alive());
	t0 = mono_ms();
	for (i = 0; i < 40; i++) {
		ssize_t r;

		if (fds[i] < 0)
			continue;
		/* closed by sensordash: at once past the limit, after -T 2
		   below it */
		r = recv(fds[i], buf, sizeof(buf), 0);
		while (r > 0)
			r = recv(fds[i], buf, sizeof(buf), 0);
		ck_assert_msg(r == 0 || errno == ECONNRESET,
		    "connection %d not closed (%zd, %s)", i, r,
		    strerror(errno));
		close(fds[i]);
	}
	ck_assert_int_lt(mono_ms() - t0, 6000);
	/* still serving, and with room for new connections once
	   libmicrohttpd has reaped the closed ones' threads */
	for (i = 0; i < 50; i++) {
		usleep(100000);
		if ((st = http_get("/api/health", &body)) == 200)
			break;
		free(body);
	}
	ck_assert_int_eq(st, 200);
	ck_assert_ptr_nonnull(strstr(body, "\"connected\":true"));
	free(body);
	ck_assert(dash_alive());
	dash_stop();
}
END_TEST

/* "connected" is *arg; when it is false, "error" says why. */
static int
streams_are(const msgpack_object *root, void *arg)
{
	return (int)num(get(root, "streams")) == *(int *)arg;
}

/* rounds times: one reading of each of n stations, then a pause. */
static void
burst(int n, int rounds, int pause_ms)
{
	struct logd_client *c = connect_ok();
	struct logd_producer *p = NULL;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int k, i;

	ck_assert_int_eq(logd_producer_new(c, NULL, &p), 0);
	msgpack_sbuffer_init(&sb);
	for (k = 0; k < rounds; k++) {
		for (i = 0; i < n; i++) {
			struct logd_message m;
			char id[32];

			snprintf(id, sizeof(id), "ws_burst_%04d", i);
			msgpack_sbuffer_clear(&sb);
			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			msgpack_pack_map(&pk, 4);
			pack_s(&pk, "sensor_id", id);
			pack_s(&pk, "city", "Giza");
			pack_d(&pk, "temperature", 20.0 + k);
			pack_d(&pk, "humidity", 40.0 + i % 10);
			memset(&m, 0, sizeof(m));
			m.topic = "sensor_data";
			m.partition = LOGD_PARTITION_ANY;
			m.key = id;
			m.key_len = strlen(id);
			m.value = sb.data;
			m.value_len = sb.size;
			ck_assert_int_eq(logd_producer_send(p, &m), 0);
		}
		ck_assert_int_eq(logd_producer_flush(p), 0);
		usleep((useconds_t)pause_ms * 1000);
	}
	msgpack_sbuffer_destroy(&sb);
	ck_assert_int_eq(logd_producer_close(p), 0);
	logd_client_close(c);
}

START_TEST(slow_stream)
{
	static const char *const opts[] = { "-T", "2", NULL };
	static const char req[] = "GET /events HTTP/1.1\r\nHost: t\r\n\r\n";
	struct sockaddr_in sa;
	int fd, small = 4096, one = 1, zero = 0;
	char *body;

	create_topics();
	dash_start(T.addr, opts);
	/* a browser that stops reading: a tiny receive window */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)dash_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(send_all(fd, req, sizeof(req) - 1), 0);
	free(wait_json("/api/health", streams_are, &one, 5000));
	/* quiet for longer than the stream's once-a-second check that its
	   browser is still there: it is, so the stream stays */
	usleep(1500000);
	free(wait_json("/api/health", streams_are, &one, 100));
	/* several MB of events over 8 s, more than the socket buffers
	   hold; meanwhile other clients are served */
	burst(1000, 16, 500);
	ck_assert_int_eq(http_get("/api/health", &body), 200);
	free(body);
	/* the stalled stream is cut after -T 2 without progress */
	free(wait_json("/api/health", streams_are, &zero, 10000));
	ck_assert(dash_alive());
	close(fd);
	dash_stop();
}
END_TEST

static int
connected_is(const msgpack_object *root, void *arg)
{
	const msgpack_object *c = get(root, "connected");
	const msgpack_object *e = get(root, "error");

	return c != NULL && c->type == MSGPACK_OBJECT_BOOLEAN &&
	    c->via.boolean == *(int *)arg && (*(int *)arg ||
	    (e != NULL && e->type == MSGPACK_OBJECT_STR &&
	    e->via.str.size > 0));
}

START_TEST(logd_down)
{
	const msgpack_object *root;
	struct json j;
	char *body;
	int no = 0, yes = 1, want;

	create_topics();
	ck_assert_int_eq(testlogd_term(&T), 0);
	dash_start(T.addr, NULL);
	body = wait_json("/api/health", connected_is, &no, 5000);
	root = json_parse(&j, body);
	ck_assert(get(root, "error")->via.str.size > 0);
	json_free(&j);
	free(body);
	ck_assert(file_has(dash_err, "cannot connect to", NULL, 0));
	ck_assert(file_has(dash_err, "retrying", NULL, 0));
	ck_assert_int_eq(http_get("/", NULL), 200);

	ck_assert_int_eq(testlogd_restart(&T), 0);
	free(wait_json("/api/health", connected_is, &yes, 10000));
	reading("ws_cairo_001", "Cairo", 21.0, now_ms());
	want = 1;
	free(wait_json("/api/stations", has_readings, &want, 5000));

	/* logd restarts under it: reconnect, resume, count nothing twice */
	ck_assert_int_eq(testlogd_term(&T), 0);
	free(wait_json("/api/health", connected_is, &no, 5000));
	ck_assert(file_has(dash_err, "lost logd", NULL, 0));
	ck_assert_int_eq(testlogd_restart(&T), 0);
	free(wait_json("/api/health", connected_is, &yes, 10000));
	ck_assert(file_has(dash_err, "reconnected to logd", NULL, 0));
	reading("ws_cairo_001", "Cairo", 22.0, now_ms());
	want = 2;
	body = wait_json("/api/stations", has_readings, &want, 5000);
	free(body);
	usleep(500000);
	ck_assert_int_eq(http_get("/api/health", &body), 200);
	root = json_parse(&j, body);
	ck_assert_int_eq((int)num(get(root, "readings")), 2);
	json_free(&j);
	free(body);
	dash_stop();
}
END_TEST

static Suite *
dash_suite(void)
{
	Suite *s = suite_create("sensordash");
	struct {
		const char *name;
		const TTest *fn;
	} t[] = {
		{ "api", api },
		{ "sse", sse },
		{ "restart", restart },
		{ "hostile", hostile },
		{ "slow_stream", slow_stream },
		{ "logd_down", logd_down },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TCase *tc = tcase_create(t[i].name);

		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 120);
		tcase_add_test(tc, t[i].fn);
		suite_add_tcase(s, tc);
	}
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dash_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
