/*
 * testlogd.c - run a real logd for integration tests (see testlogd.h).
 *
 * The free port comes from binding port 0 and closing the socket; logd
 * sets SO_REUSEADDR, so a restart on the same port works right after a
 * kill -9.  Readiness is a successful connect(), polled every 10 ms; if
 * the daemon exits first its log is printed so a failing test says why.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlogd.h"

const char *testlogd_binary(void)
{
	static char path[512];
	const char *b = getenv("LOGD_BUILDDIR");

	snprintf(path, sizeof(path), "%s/logd/logd", b ? b : "..");
	return path;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd, port = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void print_log(const struct testlogd *t)
{
	char buf[4096];
	FILE *f = fopen(t->logfile, "r");
	size_t n;

	if (!f)
		return;
	fprintf(stderr, "---- %s\n", t->logfile);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

static int write_conf(const struct testlogd *t)
{
	FILE *f = fopen(t->conf, "w");

	if (!f)
		return -1;
	/* Kafka on a port of the kernel's choosing (testlogd_kafka_port). */
	fprintf(f, "# written by testlogd\n"
	    "datadir = %s\nlisten = %s\nunix_socket = %s\n"
	    "kafka_listen = 127.0.0.1:0\nhttp_listen = 127.0.0.1:0\n"
	    "log_file = %s\nlog_level = debug\n%s\n",
	    t->datadir, t->addr, t->unix_path, t->logfile, t->extra);
	return fclose(f) ? -1 : 0;
}

static pid_t spawn(char *const argv[], int errfd)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (errfd >= 0) {
		dup2(errfd, 1);
		dup2(errfd, 2);
	}
	execv(testlogd_binary(), argv);
	fprintf(stderr, "testlogd: exec %s: %s\n", testlogd_binary(),
	    strerror(errno));
	_exit(127);
}

/* Waits for pid up to timeout_ms; its status as testlogd_term() says. */
static int reap(pid_t pid, int timeout_ms)
{
	long end = now_ms() + timeout_ms;
	int st;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (r < 0)
			return -1;
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		usleep(5000);
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

static int launch(struct testlogd *t)
{
	char *argv[] = { "logd", "-C", t->conf, NULL };
	long end = now_ms() + 15000;
	int fd, st;

	t->pid = spawn(argv, -1);
	if (t->pid < 0) {
		t->pid = 0;
		return -1;
	}
	while (now_ms() < end) {
		if (waitpid(t->pid, &st, WNOHANG) == t->pid) {
			fprintf(stderr, "testlogd: logd exited with status "
			    "%d before accepting\n", WIFEXITED(st) ?
			    WEXITSTATUS(st) : 128 + WTERMSIG(st));
			print_log(t);
			t->pid = 0;
			return -1;
		}
		fd = testlogd_connect(t);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		usleep(10000);
	}
	fprintf(stderr, "testlogd: logd did not accept within 15 s\n");
	print_log(t);
	testlogd_kill9(t);
	return -1;
}

int testlogd_proc_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d) {
		fprintf(stderr, "testlogd: %s: %s\n", path, strerror(errno));
		abort();
	}
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

long testlogd_cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f) || !(p = strrchr(buf, ')')) ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu "
	    "%lu", &ut, &st) != 2) {
		fprintf(stderr, "testlogd: cannot read %s\n", path);
		abort();
	}
	fclose(f);
	return (long)(ut + st);
}

int testlogd_kafka_port(const struct testlogd *t)
{
	char line[1024];
	const char *p;
	int port = -1;
	FILE *f = fopen(t->logfile, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if ((p = strstr(line, "listening on ")) &&
		    strstr(line, "(kafka)") && (p = strrchr(line, ':')))
			port = atoi(p + 1);
	fclose(f);
	return port;
}

int testlogd_start(struct testlogd *t, const char *extra_conf)
{
	const char *tmp = getenv("TMPDIR");

	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "%s/testlogd-XXXXXX",
	    tmp ? tmp : "/tmp");
	if (!mkdtemp(t->dir)) {
		fprintf(stderr, "testlogd: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	snprintf(t->datadir, sizeof(t->datadir), "%s/data", t->dir);
	snprintf(t->unix_path, sizeof(t->unix_path), "%s/logd.sock", t->dir);
	snprintf(t->conf, sizeof(t->conf), "%s/logd.conf", t->dir);
	snprintf(t->logfile, sizeof(t->logfile), "%s/logd.log", t->dir);
	snprintf(t->extra, sizeof(t->extra), "%s", extra_conf ? extra_conf : "");
	t->port = free_port();
	if (t->port < 0)
		return -1;
	snprintf(t->addr, sizeof(t->addr), "127.0.0.1:%d", t->port);
	if (write_conf(t))
		return -1;
	return launch(t);
}

int testlogd_restart(struct testlogd *t)
{
	if (t->pid)
		testlogd_term(t);
	return launch(t);
}

int testlogd_term(struct testlogd *t)
{
	int rc;

	if (!t->pid)
		return -1;
	kill(t->pid, SIGTERM);
	rc = reap(t->pid, 10000);
	t->pid = 0;
	return rc;
}

int testlogd_kill9(struct testlogd *t)
{
	if (!t->pid)
		return -1;
	kill(t->pid, SIGKILL);
	reap(t->pid, 10000);
	t->pid = 0;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	remove(path);
	return 0;
}

void testlogd_stop(struct testlogd *t)
{
	int rc;

	if (!t)
		return;
	if (t->pid) {
		rc = testlogd_term(t);
		if (rc != 0) {
			/* A sanitizer report or a failed shutdown. */
			fprintf(stderr, "testlogd: logd exited with status "
			    "%d\n", rc);
			print_log(t);
		}
	}
	if (t->dir[0])
		nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	t->dir[0] = 0;
}

int testlogd_connect(const struct testlogd *t)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(t->port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

int testlogd_connect_unix(const struct testlogd *t)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(t->unix_path);
	int fd;

	if (n >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, t->unix_path, n + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

int testlogd_run(char *const argv[], int timeout_ms, char *err,
    size_t err_size)
{
	char tmpl[] = "/tmp/testlogd-err-XXXXXX";
	int fd = mkstemp(tmpl), rc;
	ssize_t n;
	pid_t pid;

	if (fd < 0)
		return -1;
	unlink(tmpl);
	pid = spawn(argv, fd);
	if (pid < 0) {
		close(fd);
		return -1;
	}
	rc = reap(pid, timeout_ms);
	if (err && err_size) {
		n = pread(fd, err, err_size - 1, 0);
		err[n > 0 ? n : 0] = 0;
	}
	close(fd);
	return rc;
}
