/*
 * check_logbench.c - logbench latency through each of its peers: the
 * bare relay (`logbench relay`), a real redis-server and a real logd.
 *
 * Each test starts what it measures on a free port of 127.0.0.1 (the
 * relay binds port 0 and prints the port it got; redis-server is given
 * one found free by binding port 0), runs the built logbench against it
 * and checks the JSON line it prints: every record sent came back, and
 * the percentiles are real numbers.  Servers die with the test process
 * (PR_SET_PDEATHSIG) and are always stopped in the teardown.  Without
 * redis-server in $PATH (Debian's redis-server package, scripts/deps.sh)
 * the Redis tests say so and pass.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "logd.h"
#include "testlogd.h"
#include "../tools/tool.h"

/* A program running beside the test (the relay, redis-server). */
struct server {
	pid_t pid;
	int out;                  /* its stdout, or -1 */
	char addr[64];            /* where it listens */
};

static struct server relay, redis;
static struct testlogd T;
static char redis_dir[256];

/* What a run printed and how it ended. */
struct run {
	int status;               /* exit status, 128 + signal */
	char out[8192];
	char err[8192];
};

static const char *
builddir(void)
{
	const char *b = getenv("LOGD_BUILDDIR");

	return b != NULL ? b : "..";
}

/*
 * Starts prog (a path, or a name looked up in $PATH) with its stdout on
 * *out and its stderr on *err (closed when err is NULL); it dies with
 * the test process.
 */
static pid_t
spawn(const char *prog, char *const argv[], int *out, int *err)
{
	int po[2], pe[2];
	pid_t pid;

	ck_assert_int_eq(pipe2(po, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(pe, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		if (strchr(prog, '/') != NULL)
			execv(prog, argv);
		else
			execvp(prog, argv);
		fprintf(stderr, "exec %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	*out = po[0];
	if (err != NULL)
		*err = pe[0];
	else
		close(pe[0]);
	return pid;
}

static void
collect(int fd, char *buf, size_t size, size_t *len)
{
	ssize_t n = read(fd, buf + *len, size - 1 - *len);

	if (n > 0)
		*len += (size_t)n;
	buf[*len] = '\0';
}

/* Runs logbench with the NULL-terminated arguments, up to 60 s. */
static void
logbench(struct run *r, ...)
{
	char path[512], *argv[32];
	size_t on = 0, en = 0;
	int out, err, open_fds = 2, st, n = 1;
	va_list ap;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/tools/logbench", builddir());
	argv[0] = path;
	va_start(ap, r);
	while (n < 31 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	memset(r, 0, sizeof(*r));
	pid = spawn(path, argv, &out, &err);
	while (open_fds > 0) {
		struct pollfd p[2] = { { out, POLLIN, 0 }, { err, POLLIN, 0 } };
		size_t o0 = on, e0 = en;

		if (poll(p, 2, 60000) <= 0)
			break;
		if (p[0].revents && out >= 0) {
			collect(out, r->out, sizeof(r->out), &on);
			if (on == o0) {
				close(out);
				out = -1;
				open_fds--;
			}
		}
		if (p[1].revents && err >= 0) {
			collect(err, r->err, sizeof(r->err), &en);
			if (en == e0) {
				close(err);
				err = -1;
				open_fds--;
			}
		}
	}
	if (out >= 0)
		close(out);
	if (err >= 0)
		close(err);
	kill(pid, SIGKILL);  /* (only if it is still there after 60 s) */
	waitpid(pid, &st, 0);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void
server_stop(struct server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
	}
	if (s->out >= 0)
		close(s->out);
	memset(s, 0, sizeof(*s));
	s->out = -1;
}

/* A number from the JSON line: "key":N.  -1 if missing. */
static long long
field(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	return p != NULL ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* One latency run's line: valid JSON, every record back, real times. */
static void
check_latency(const struct run *r, const char *peer, long long records)
{
	char err[128], want[64];
	size_t n = strcspn(r->out, "\n");

	ck_assert_msg(r->status == 0, "status %d: %s", r->status, r->err);
	ck_assert_msg(tool_json_check(r->out, n, err, sizeof(err)) == 0,
	    "bad JSON (%s): %s", err, r->out);
	snprintf(want, sizeof(want), "{\"test\":\"latency\",\"peer\":\"%s\",",
	    peer);
	ck_assert_msg(strncmp(r->out, want, strlen(want)) == 0, "%s", r->out);
	ck_assert_msg(field(r->out, "sent") == records, "%s", r->out);
	ck_assert_msg(field(r->out, "received") == field(r->out, "sent"),
	    "%s", r->out);
	ck_assert_msg(field(r->out, "measured") > records / 2, "%s", r->out);
	ck_assert_msg(field(r->out, "p50_us") > 0, "%s", r->out);
	ck_assert_msg(field(r->out, "p99_us") >= field(r->out, "p50_us") &&
	    field(r->out, "max_us") >= field(r->out, "p999_us"), "%s",
	    r->out);
	/* max_at is a record of the measured part: past the warm-up (a
	 * tenth of the run, less a record or two sent late) */
	ck_assert_msg(field(r->out, "max_at") >= records / 20 &&
	    field(r->out, "max_at") < records, "%s", r->out);
}

/* ---- the relay ---- */

static void
relay_setup(void)
{
	char path[512], line[256];
	char *argv[] = { path, "relay", "-l", "127.0.0.1:0", NULL };
	size_t len = 0;
	const char *a, *e;

	line[0] = '\0';
	signal(SIGPIPE, SIG_IGN);
	snprintf(path, sizeof(path), "%s/tools/logbench", builddir());
	relay.pid = spawn(path, argv, &relay.out, NULL);
	/* {"test":"relay","listen":"127.0.0.1:PORT"} */
	while (strchr(line, '\n') == NULL) {
		struct pollfd p = { relay.out, POLLIN, 0 };
		size_t l0 = len;

		ck_assert_msg(poll(&p, 1, 10000) == 1, "relay: no address");
		collect(relay.out, line, sizeof(line), &len);
		ck_assert_msg(len > l0, "relay exited: %s", line);
	}
	a = strstr(line, "\"listen\":\"");
	ck_assert_ptr_nonnull(a);
	a += strlen("\"listen\":\"");
	e = strchr(a, '"');
	ck_assert_ptr_nonnull(e);
	snprintf(relay.addr, sizeof(relay.addr), "%.*s", (int)(e - a), a);
}

static void
relay_teardown(void)
{
	server_stop(&relay);
}

/* A blocking TCP connection to 127.0.0.1:port. */
static int
connect_port(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static int
addr_port(const char *addr)
{
	const char *c = strrchr(addr, ':');

	return c != NULL ? atoi(c + 1) : -1;
}

/* Waits up to 5 s for fd to be readable; then what read() returns. */
static ssize_t
read_within(int fd, void *buf, size_t n)
{
	struct pollfd p = { fd, POLLIN, 0 };

	if (poll(&p, 1, 5000) != 1)
		return -2;
	return read(fd, buf, n);
}

START_TEST(test_relay_latency)
{
	struct run r;

	logbench(&r, "latency", "--peer", "relay", "-b", relay.addr, "-D", "1",
	    "-r", "2000", NULL);
	check_latency(&r, "relay", 2000);
	ck_assert_ptr_nonnull(strstr(r.out, "\"acks\":null,"));
	ck_assert_int_eq(field(r.out, "requests"), 2000);
	/* --warmup 0: every record counts; and a smaller value */
	logbench(&r, "latency", "--peer", "relay", "-b", relay.addr, "-D",
	    "0.5", "-r", "1000", "--warmup", "0", "--size", "20", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_int_eq(field(r.out, "measured"), 500);
	ck_assert_int_eq(field(r.out, "record_size"), 20);
	/* frames split over many reads */
	logbench(&r, "latency", "--peer", "relay", "-b", relay.addr, "-D", "1",
	    "-r", "500", "--size", "200000", NULL);
	check_latency(&r, "relay", 500);
}
END_TEST

START_TEST(test_relay_bad_role)
{
	char buf[16];
	struct run r;
	int fd, port = addr_port(relay.addr);
	ssize_t n;

	/* A connection whose first byte is no role is closed ... */
	fd = connect_port(port);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	n = read_within(fd, buf, sizeof(buf));
	ck_assert_msg(n == 0 || (n < 0 && errno == ECONNRESET),
	    "still open: read %zd", n);
	close(fd);
	/* ... and so is one that goes before saying anything ... */
	fd = connect_port(port);
	ck_assert_int_ge(fd, 0);
	close(fd);
	/* ... a consumer is told it is one, and the relay serves on. */
	fd = connect_port(port);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "C", 1), 1);
	ck_assert_int_eq(read_within(fd, buf, 1), 1);
	ck_assert_int_eq(buf[0], '+');
	logbench(&r, "latency", "--peer", "relay", "-b", relay.addr, "-D", "1",
	    "-r", "2000", NULL);
	check_latency(&r, "relay", 2000);
	close(fd);
	ck_assert_int_eq(kill(relay.pid, 0), 0);
}
END_TEST

/* ---- what a bad peer or option gives ---- */

START_TEST(test_bad_input)
{
	struct run r;
	int fd;

	logbench(&r, "latency", "--peer", "bogus", "-D", "1", NULL);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "logbench: --peer bogus: not a peer; one "
	    "of logd, relay, redis\n") != NULL, "%s", r.err);
	ck_assert_str_eq(r.out, "");
	logbench(&r, "latency", "--peer", "relay", "-b", relay.addr, "-D", "1",
	    "--warmup", "1", NULL);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "not shorter than the run"));
	logbench(&r, "latency", "--warmup", "x", NULL);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "bad value for --warmup: x"));
	/* nothing listening there */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	{
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t sl = sizeof(sa);
		char addr[64];

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)),
		    0);
		ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl),
		    0);
		snprintf(addr, sizeof(addr), "127.0.0.1:%d",
		    ntohs(sa.sin_port));
		logbench(&r, "latency", "--peer", "relay", "-b", addr, "-D",
		    "1", NULL);
		ck_assert_int_eq(r.status, 1);
		ck_assert_msg(strstr(r.err, "logbench: relay: cannot connect "
		    "to 127.0.0.1:") != NULL, "%s", r.err);
		logbench(&r, "latency", "--peer", "redis", "-b", addr, "-D",
		    "1", NULL);
		ck_assert_int_eq(r.status, 1);
		ck_assert_msg(strstr(r.err, "Connection refused") != NULL,
		    "%s", r.err);
	}
	close(fd);
	/* the relay is not Redis: it closes on the first byte of XREVRANGE */
	logbench(&r, "latency", "--peer", "redis", "-b", relay.addr, "-D", "1",
	    NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strncmp(r.err, "logbench: redis: ", 17) == 0, "%s",
	    r.err);
	/* the relay cannot listen where it is already listening */
	logbench(&r, "relay", "-l", relay.addr, NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "logbench relay: cannot listen on ") !=
	    NULL, "%s", r.err);
	logbench(&r, "relay", "-l", "127.0.0.1:x", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "not host:port") != NULL, "%s", r.err);
}
END_TEST

/* ---- a real redis-server ---- */

static int
have_redis(void)
{
	const char *path = getenv("PATH");
	char buf[4096], *save, *dir;

	snprintf(buf, sizeof(buf), "%s", path != NULL ? path : "/usr/bin");
	for (dir = strtok_r(buf, ":", &save); dir != NULL;
	    dir = strtok_r(NULL, ":", &save)) {
		char p[4200];

		snprintf(p, sizeof(p), "%s/redis-server", dir);
		if (access(p, X_OK) == 0)
			return 1;
	}
	return 0;
}

static int
free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* Sends one inline command to redis and returns the reply's first line. */
static void
redis_cmd(const char *cmd, char *reply, size_t size)
{
	int fd = connect_port(addr_port(redis.addr));
	size_t len = 0;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
	while (len < size - 1 && memchr(reply, '\n', len) == NULL) {
		ssize_t n = read_within(fd, reply + len, size - 1 - len);

		ck_assert_msg(n > 0, "redis: no reply to %s", cmd);
		len += (size_t)n;
	}
	reply[len] = '\0';
	close(fd);
}

static void
redis_setup(void)
{
	char port[16], pong[64];
	int i, fd = -1;

	signal(SIGPIPE, SIG_IGN);
	memset(&redis, 0, sizeof(redis));
	redis.out = -1;
	if (!have_redis())
		return;
	snprintf(redis_dir, sizeof(redis_dir), "/tmp/check_logbench.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(redis_dir));
	snprintf(port, sizeof(port), "%d", free_port());
	{
		char *argv[] = { "redis-server", "--port", port, "--bind",
			"127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", redis_dir, NULL };

		redis.pid = spawn("redis-server", argv, &redis.out, NULL);
	}
	snprintf(redis.addr, sizeof(redis.addr), "127.0.0.1:%s", port);
	for (i = 0; i < 500 && (fd = connect_port(atoi(port))) < 0; i++)
		usleep(10000);
	ck_assert_msg(fd >= 0, "redis-server did not start on %s", port);
	close(fd);
	redis_cmd("PING\r\n", pong, sizeof(pong));
	ck_assert_str_eq(pong, "+PONG\r\n");
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static void
redis_teardown(void)
{
	server_stop(&redis);
	if (redis_dir[0] != '\0')
		nftw(redis_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	redis_dir[0] = '\0';
}

START_TEST(test_redis_latency)
{
	char reply[256];
	struct run r;

	if (redis.pid == 0) {
		printf("check_logbench: no redis-server in $PATH: the Redis "
		    "tests are skipped (apt-get install redis-server)\n");
		return;
	}
	logbench(&r, "latency", "--peer", "redis", "-b", redis.addr, "-D", "1",
	    "-r", "2000", "-t", "lat", NULL);
	check_latency(&r, "redis", 2000);
	ck_assert_int_eq(field(r.out, "requests"), 2000);
	/* the stream has them all; a second run starts at its end */
	redis_cmd("XLEN lat\r\n", reply, sizeof(reply));
	ck_assert_str_eq(reply, ":2000\r\n");
	logbench(&r, "latency", "--peer", "redis", "-b", redis.addr, "-D",
	    "0.5", "-r", "2000", "-t", "lat", "--size", "1000", NULL);
	check_latency(&r, "redis", 1000);
	redis_cmd("XLEN lat\r\n", reply, sizeof(reply));
	ck_assert_str_eq(reply, ":3000\r\n");
	/* replies split over many reads: 64 KiB values, several an XREAD */
	logbench(&r, "latency", "--peer", "redis", "-b", redis.addr, "-D", "1",
	    "-r", "500", "-t", "big", "--size", "65536", NULL);
	check_latency(&r, "redis", 500);
	/* two records 2 s apart: the XREAD between them times out (a null
	 * reply) and the next one goes out */
	logbench(&r, "latency", "--peer", "redis", "-b", redis.addr, "-D",
	    "2.5", "-r", "0.5", "--warmup", "0", "-t", "slow", NULL);
	check_latency(&r, "redis", 2);
}
END_TEST

START_TEST(test_redis_errors)
{
	char reply[256];
	struct run r;

	if (redis.pid == 0) {
		printf("check_logbench: no redis-server: skipped\n");
		return;
	}
	/* a key that holds no stream: Redis's own words */
	redis_cmd("SET notastream x\r\n", reply, sizeof(reply));
	logbench(&r, "latency", "--peer", "redis", "-b", redis.addr, "-D", "1",
	    "-t", "notastream", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "logbench: redis: XREVRANGE: WRONGTYPE ")
	    != NULL, "%s", r.err);
	/* an XADD refused (the pipelined replies are read): no memory */
	redis_cmd("CONFIG SET maxmemory 1\r\n", reply, sizeof(reply));
	ck_assert_str_eq(reply, "+OK\r\n");
	logbench(&r, "latency", "--peer", "redis", "-b", redis.addr, "-D", "1",
	    "-t", "full", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "logbench: redis: XADD: OOM ") != NULL,
	    "%s", r.err);
	ck_assert_str_eq(r.out, "");
}
END_TEST

/* ---- logd, through the same loop ---- */

static void
logd_setup(void)
{
	memset(&T, 0, sizeof(T));
	ck_assert_int_eq(testlogd_start(&T, NULL), 0);
}

static void
logd_teardown(void)
{
	testlogd_stop(&T);
}

START_TEST(test_logd_latency)
{
	struct run r;

	logbench(&r, "latency", "-b", T.addr, "-D", "1", "-r", "2000", "-t",
	    "lat", NULL);
	check_latency(&r, "logd", 2000);
	ck_assert_ptr_nonnull(strstr(r.out, "\"acks\":\"1\","));
	logbench(&r, "latency", "--peer", "logd", "-b", T.addr, "-D", "0.5",
	    "-r", "1000", "-a", "all", "-t", "lat", NULL);
	check_latency(&r, "logd", 500);
	ck_assert_ptr_nonnull(strstr(r.out, "\"acks\":\"all\","));
}
END_TEST

static Suite *
logbench_suite(void)
{
	Suite *s = suite_create("logbench");
	struct {
		const char *name;
		const TTest *test;
		void (*setup)(void), (*teardown)(void);
	} cases[] = {
		{ "relay_latency", test_relay_latency, relay_setup,
			relay_teardown },
		{ "relay_bad_role", test_relay_bad_role, relay_setup,
			relay_teardown },
		{ "bad_input", test_bad_input, relay_setup, relay_teardown },
		{ "redis_latency", test_redis_latency, redis_setup,
			redis_teardown },
		{ "redis_errors", test_redis_errors, redis_setup,
			redis_teardown },
		{ "logd_latency", test_logd_latency, logd_setup,
			logd_teardown },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_add_checked_fixture(tc, cases[i].setup,
		    cases[i].teardown);
		tcase_set_timeout(tc, 120);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(logbench_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
