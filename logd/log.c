/*
 * log.c - the daemon's own log: stderr, a file, or syslog.
 *
 * One line per message: an ISO 8601 UTC timestamp with milliseconds, the
 * level, the text.  A file is opened O_APPEND and written with one
 * write(2) per line, so lines from the loop and the flusher thread never
 * interleave and an external rotation (rename, then SIGHUP) loses nothing:
 * log_reopen() opens the path again and swaps the descriptor.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

static int log_level = L_INFO;
static int log_fd = 2;
static int log_syslog;
static char log_path[PATH_MAX];

static const char *const level_names[] = { "error", "warn", "info",
	"debug" };

int log_level_parse(const char *s)
{
	int i;

	for (i = 0; i <= L_DEBUG; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	if (strcmp(s, "warning") == 0)
		return L_WARN;
	return -1;
}

int log_enabled(int level)
{
	return level <= log_level;
}

static int open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int log_open(int level, const char *file)
{
	int fd;

	log_level = level;
	if (!file || !*file)
		return 0;
	if (strcmp(file, "syslog") == 0) {
		openlog("logd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_syslog = 1;
		return 0;
	}
	fd = open_file(file);
	if (fd < 0)
		return -errno;
	snprintf(log_path, sizeof(log_path), "%s", file);
	log_fd = fd;
	return 0;
}

void log_reopen(void)
{
	int fd, old;

	if (!log_path[0])
		return;
	fd = open_file(log_path);
	if (fd < 0) {
		log_error("cannot reopen log file %s: %s", log_path,
		    strerror(errno));
		return;
	}
	old = log_fd;
	log_fd = fd;
	close(old);
	log_info("log file reopened");
}

void log_close(void)
{
	if (log_syslog)
		closelog();
	if (log_fd > 2)
		close(log_fd);
	log_fd = 2;
	log_path[0] = 0;
	log_syslog = 0;
}

void log_msg(int level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
		LOG_DEBUG };
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n;
	int k;

	if (level > log_level)
		return;
	if (log_syslog) {
		va_start(ap, fmt);
		vsyslog(prio[level], fmt, ap);
		va_end(ap);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s: ",
	    ts.tv_nsec / 1000000, level_names[level]);
	n += k > 0 ? (size_t)k : 0;
	va_start(ap, fmt);
	k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (k < 0)
		k = 0;
	n += (size_t)k < sizeof(line) - n - 1 ? (size_t)k :
	    sizeof(line) - n - 2;
	line[n++] = '\n';
	if (write(log_fd, line, n) < 0) {
		/* Nowhere left to say it. */
	}
}
