/*
 * tool.c - code shared by the command-line tools: messages, a growable
 * buffer, time and number parsing, broker connections.  JSON lives in
 * tool_json.c.  See tool.h for the contracts.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logd.h"
#include "tool.h"

const char *tool_prog = "logd-tool";

void tool_init(const char *argv0)
{
	const char *slash;

	if (argv0 == NULL || *argv0 == '\0')
		return;
	slash = strrchr(argv0, '/');
	tool_prog = slash != NULL ? slash + 1 : argv0;
}

void tool_verr(const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "%s: %s\n", tool_prog, msg);
}

void tool_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tool_verr(fmt, ap);
	va_end(ap);
}

int tool_usage_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tool_verr(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s -h' for help.\n", tool_prog);
	return TOOL_EXIT_USAGE;
}

double tool_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t tool_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- Buffer ---- */

static int buf_reserve(struct tool_buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (more > SIZE_MAX - b->len - 1)
		return -ENOMEM;
	if (b->len + more + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	p = realloc(b->data, cap);
	if (p == NULL)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int tool_buf_add(struct tool_buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -ENOMEM;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int tool_buf_addc(struct tool_buf *b, char c)
{
	return tool_buf_add(b, &c, 1);
}

int tool_buf_adds(struct tool_buf *b, const char *s)
{
	return tool_buf_add(b, s, strlen(s));
}

int tool_buf_printf(struct tool_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if (buf_reserve(b, (size_t)n) < 0)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void tool_buf_reset(struct tool_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void tool_buf_free(struct tool_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ---- Times ---- */

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
		31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

/* Reads exactly k digits at *p. */
static int digits(const char **p, int k, int *v)
{
	int r = 0, i;

	for (i = 0; i < k; i++) {
		if (!is_digit((unsigned char)(*p)[i]))
			return -EINVAL;
		r = r * 10 + ((*p)[i] - '0');
	}
	*p += k;
	*v = r;
	return 0;
}

static int parse_iso(const char *s, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, k;
	const char *p = s;

	if (digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 ||
	    *p++ != '-' || digits(&p, 2, &d) < 0)
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -EINVAL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (digits(&p, 2, &h) < 0 || *p++ != ':' ||
		    digits(&p, 2, &mi) < 0)
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &sec) < 0)
				return -EINVAL;
			if (*p == '.' || *p == ',') {
				p++;
				if (!is_digit((unsigned char)*p))
					return -EINVAL;
				for (k = 0; is_digit((unsigned char)*p); k++, p++) {
					if (k >= 9)
						return -EINVAL;
					if (k < 3)
						ms = ms * 10 + (*p - '0');
				}
				for (; k < 3; k++)
					ms *= 10;
			}
		}
		if (h > 23 || mi > 59 || sec > 60)
			return -EINVAL;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	if (*p != '\0')
		return -EINVAL;
	*out = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 +
	    (int64_t)sec * 1000 + ms;
	return 0;
}

int tool_parse_time(const char *s, int64_t now_ms, int64_t *out)
{
	static const struct {
		const char *name;
		int64_t ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 }, { "w", 604800000 },
	};
	const char *p;
	int64_t n = 0;
	size_t u;

	if (s == NULL)
		return -EINVAL;
	if (strcmp(s, "now") == 0) {
		*out = now_ms;
		return 0;
	}
	if (s[0] != '-')
		return parse_iso(s, out);
	p = s + 1;
	if (!is_digit((unsigned char)*p))
		return -EINVAL;
	for (; is_digit((unsigned char)*p); p++) {
		if (n > (INT64_MAX / 1000 - 9) / 10)
			return -EINVAL;
		n = n * 10 + (*p - '0');
	}
	for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		if (strcmp(p, units[u].name) == 0) {
			if (n > INT64_MAX / units[u].ms)
				return -EINVAL;
			*out = now_ms - n * units[u].ms;
			return 0;
		}
	}
	return -EINVAL;
}

/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z. */
#define TIME_MIN_MS (-62167219200000LL)
#define TIME_MAX_MS (253402300799999LL)

void tool_format_time(int64_t ms, char *buf, size_t size)
{
	time_t secs;
	int frac;
	struct tm tm;

	/* Four-digit years only: -2^63 once printed as year 292278994. */
	if (ms < TIME_MIN_MS || ms > TIME_MAX_MS) {
		snprintf(buf, size, "%lld", (long long)ms);
		return;
	}
	secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	frac = (int)(ms - (int64_t)secs * 1000);
	if (gmtime_r(&secs, &tm) == NULL) {
		snprintf(buf, size, "%lld", (long long)ms);
		return;
	}
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, frac);
}

int64_t tool_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tool_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	const char *p = s;
	long long v;
	char *end;

	if (s == NULL)
		return -EINVAL;
	if (*p == '-')
		p++;
	if (!is_digit((unsigned char)*p))
		return -EINVAL;
	for (; *p != '\0'; p++)
		if (!is_digit((unsigned char)*p))
			return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

const char *tool_broker_addr(const char *opt)
{
	const char *env;

	if (opt != NULL)
		return opt;
	env = getenv("LOGD_BROKER");
	if (env != NULL && *env != '\0')
		return env;
	return LOGD_DEFAULT_ADDR;
}

int tool_is_connection_error(int err)
{
	switch (err) {
	case LOGD_ECLOSED:
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -EPIPE:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -ENOTCONN:
		return 1;
	default:
		return 0;
	}
}

int tool_client_err(const struct logd_client *c, int err, const char *fmt,
    ...)
{
	const char *msg = c != NULL ? logd_client_errmsg(c) : "";
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (msg == NULL || *msg == '\0')
		msg = logd_strerror(err);
	tool_err("%s: %s", what, msg);
	return tool_is_connection_error(err) ? TOOL_EXIT_CONNECT :
	    TOOL_EXIT_FAIL;
}

int tool_connect(const char *addr, struct logd_client **out)
{
	struct logd_client_options co;
	int rc;

	addr = tool_broker_addr(addr);
	memset(&co, 0, sizeof(co));
	co.client_id = tool_prog;  /* names the tool's group members */
	rc = logd_client_open(addr, &co, out);
	if (rc < 0) {
		/* -ENOENT: no such socket file, or a host name that does
		 * not resolve (logd_client_open's contract). */
		int is_unix = addr[0] == '/' || addr[0] == '.' ||
		    strncmp(addr, "unix:", 5) == 0;

		tool_err("cannot connect to %s: %s", addr,
		    rc == -ECONNREFUSED ? "connection refused (is logd "
		    "running?)" : rc == -ENOENT && is_unix ? "no such "
		    "socket file (is logd running with unix_socket?)" :
		    rc == -ENOENT ? "unknown host" : rc == LOGD_ECLOSED ?
		    "logd closed the connection before answering (it "
		    "refuses clients past its max_connections; its log "
		    "says so)" : logd_strerror(rc));
		return TOOL_EXIT_CONNECT;
	}
	return 0;
}

/* Sleeps ms milliseconds; a signal cuts it short. */
static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

int tool_reconnect(const char *addr, int err, volatile sig_atomic_t *stop,
    struct logd_client **c)
{
	struct logd_client_options co;
	int delay_ms = TOOL_RECONNECT_MIN_MS;

	addr = tool_broker_addr(addr);
	tool_err("connection to %s lost (%s); reconnecting", addr,
	    logd_strerror(err));
	logd_client_close(*c);
	*c = NULL;
	memset(&co, 0, sizeof(co));
	co.client_id = tool_prog;
	while (!*stop) {
		if (logd_client_open(addr, &co, c) == 0) {
			tool_err("reconnected to %s", addr);
			return 0;
		}
		*c = NULL;
		sleep_ms(delay_ms);
		delay_ms = delay_ms * 2 < TOOL_RECONNECT_MAX_MS ? delay_ms * 2 :
		    TOOL_RECONNECT_MAX_MS;
	}
	return 1;
}
