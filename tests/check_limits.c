/*
 * check_limits.c - many hostile connections do not hurt a good client.
 *
 * check_daemon covers each limit with one or two connections (max
 * connections 2, one half frame, idle timeout, backpressure, socket and
 * datadir modes).  This suite does the same at scale, against a logd
 * with max_connections = 1000:
 *   - a flood of 1200 connections (fewer if RLIMIT_NOFILE is lower):
 *     exactly those past max_connections are closed by logd at once,
 *     while a client that connected before keeps producing and
 *     fetching; once the flood goes, new connections are served;
 *   - 500 connections that each send half a frame and stall: the good
 *     client is served meanwhile, and the idle timeout (1 s here)
 *     closes every staller.
 * And the default: logd with no listen setting serves 127.0.0.1:9400,
 * loopback only (its log names the address it listens on, or the one it
 * could not take when another program holds port 9400).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "logd.h"
#include "testlogd.h"

#define MAX_CONN 1000

static struct testlogd t;
static int flood;                 /* connections to open */

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static void start(int idle_ms)
{
	char conf[128];

	snprintf(conf, sizeof(conf), "max_connections = %d\n"
	    "idle_timeout_ms = %d\nauto_create_topics = yes\n", MAX_CONN,
	    idle_ms);
	ck_assert_int_eq(testlogd_start(&t, conf), 0);
}

static void setup_flood(void)
{
	start(0);
}

static void setup_stall(void)
{
	start(1000);
}

static void teardown(void)
{
	testlogd_stop(&t);
}

/* A good client's round trip: produce one record, fetch it back. */
static void served(struct logd_client *c, int n)
{
	struct logd_batch_builder *b;
	struct logd_fetch *f = NULL;
	const uint8_t *batch;
	size_t len;
	int64_t base = -1;
	char value[32];

	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	snprintf(value, sizeof(value), "still served %d", n);
	ck_assert_int_eq(logd_batch_builder_add(b, 0, NULL, 0, value,
	    strlen(value), NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(b, &batch, &len), 0);
	ck_assert_int_eq(logd_client_produce(c, "limits", 0, NULL, 0,
	    LOGD_ACKS_ALL, batch, len, NULL, &base), 0);
	ck_assert_int_eq(base, n);
	ck_assert_int_eq(logd_client_fetch(c, "limits", 0, base, 1 << 16, 0,
	    &f), 0);
	ck_assert_uint_eq(f->len, len);
	ck_assert_int_eq(f->end_offset, base + 1);
	logd_fetch_free(f);
	logd_batch_builder_free(b);
}

/* Waits up to ms for fd to be closed by logd (EOF or reset). */
static int closed_by_peer(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, ms) <= 0)
		return 0;
	return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

/* How many of fds[0..n) logd closes within ms (closed ones set to -1). */
static int count_closed(int *fds, int n, int ms)
{
	long end = now_ms() + ms;
	int i, closed = 0;

	for (i = 0; i < n; i++) {
		long left = end - now_ms();

		if (closed_by_peer(fds[i], left > 0 ? (int)left : 0)) {
			close(fds[i]);
			fds[i] = -1;
			closed++;
		}
	}
	return closed;
}

START_TEST(test_connection_flood)
{
	struct logd_client *c = NULL, *late = NULL;
	int *fds, i, closed;

	ck_assert_int_eq(logd_client_open(t.addr, NULL, &c), 0);
	served(c, 0);
	fds = calloc((size_t)flood, sizeof(*fds));
	ck_assert_ptr_nonnull(fds);
	for (i = 0; i < flood; i++) {
		fds[i] = testlogd_connect(&t);
		ck_assert_int_ge(fds[i], 0);
		if (i % 200 == 199)
			served(c, 1 + i / 200);
	}
	/* The first max_connections - 1 (c holds one) stay; the rest go. */
	closed = count_closed(fds, flood, 3000);
	ck_assert_int_eq(closed, flood - (MAX_CONN - 1));
	served(c, 1 + flood / 200);
	for (i = 0; i < flood; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	/* The flood gone, a newcomer is served. */
	usleep(200000);
	ck_assert_int_eq(logd_client_open(t.addr, NULL, &late), 0);
	served(late, 2 + flood / 200);
	logd_client_close(late);
	logd_client_close(c);
}
END_TEST

START_TEST(test_half_frame_stallers)
{
	/* A frame of 4096 bytes announced, 2 of them sent. */
	static const char half[] = "\x00\x00\x10\x00\x93\x00";
	struct logd_client *c = NULL;
	int fds[500], i, closed;

	ck_assert_int_eq(logd_client_open(t.addr, NULL, &c), 0);
	for (i = 0; i < 500; i++) {
		fds[i] = testlogd_connect(&t);
		ck_assert_int_ge(fds[i], 0);
		ck_assert_int_eq(send(fds[i], half, 6, 0), 6);
	}
	/* The stallers hold no one up. */
	for (i = 0; i < 5; i++)
		served(c, i);
	/* The idle timeout (1 s) closes every one of them. */
	closed = count_closed(fds, 500, 10000);
	ck_assert_int_eq(closed, 500);
	logd_client_close(c);
}
END_TEST

static int log_count(const char *path, const char *what)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, what))
			n++;
	fclose(f);
	return n;
}

/*
 * logd out of descriptors (EMFILE) while connections wait: it once spun
 * on the readable listener at full CPU, logging "accept: Too many open
 * files" thousands of times a second.  Now it pauses accepting, warns
 * once, serves the clients it has, and accepts again when fds free up.
 */
START_TEST(test_out_of_fds)
{
	struct logd_client *c = NULL, *late = NULL;
	struct rlimit rl;
	int fds[60], i, n;
	long t0;

	ck_assert_int_eq(logd_client_open(t.addr, NULL, &c), 0);
	served(c, 0);
	n = testlogd_proc_fds(t.pid);
	/* the soft limit only: raising it again needs no privilege */
	ck_assert_int_eq(prlimit(t.pid, RLIMIT_NOFILE, NULL, &rl), 0);
	rl.rlim_cur = (rlim_t)n + 20;
	ck_assert_int_eq(prlimit(t.pid, RLIMIT_NOFILE, &rl, NULL), 0);
	for (i = 0; i < 60; i++) {
		fds[i] = testlogd_connect(&t);
		ck_assert_int_ge(fds[i], 0);
	}
	usleep(300000);
	t0 = testlogd_cpu_ticks(t.pid);
	usleep(1000000);
	/* a spinning loop takes the whole second (sysconf: 100 ticks) */
	ck_assert_int_lt(testlogd_cpu_ticks(t.pid) - t0,
	    sysconf(_SC_CLK_TCK) / 4);
	ck_assert_int_eq(log_count(t.logfile, "accept: "), 1);
	ck_assert_int_eq(log_count(t.logfile, "not accepting connections"), 1);
	served(c, 1);
	for (i = 0; i < 60; i++)
		close(fds[i]);
	/* room again: a newcomer is accepted within the pause */
	rl.rlim_cur = (rlim_t)n + 200;
	ck_assert_int_eq(prlimit(t.pid, RLIMIT_NOFILE, &rl, NULL), 0);
	ck_assert_int_eq(logd_client_open(t.addr, NULL, &late), 0);
	served(late, 2);
	logd_client_close(late);
	logd_client_close(c);
}
END_TEST

/*
 * Each partition holds 4 descriptors: a logd whose open-files limit
 * leaves room for 60 partitions beside max_connections refuses the topic
 * (or the alter) that would pass it (55 + 4 + 1 for served() fit), naming the limit, instead of
 * failing appends and accepts with EMFILE later; what fits still works.
 */
START_TEST(test_partitions_fit_fds)
{
	struct logd_client *c = NULL;
	struct logd_kv grow = { "partitions", "55" };
	/* small files: 60 partitions, not 60 x 149 MiB */
	const struct logd_kv small[2] = { { "segment.bytes", "65536" },
	    { "segment.index.bytes", "4096" } };
	struct rlimit rl;

	ck_assert_int_eq(logd_client_open(t.addr, NULL, &c), 0);
	ck_assert_int_eq(prlimit(t.pid, RLIMIT_NOFILE, NULL, &rl), 0);
	rl.rlim_cur = MAX_CONN + 64 + 4 * 60;
	ck_assert_int_eq(prlimit(t.pid, RLIMIT_NOFILE, &rl, NULL), 0);
	ck_assert_int_eq(logd_client_topic_create(c, "fit", 50, small, 2), 0);
	ck_assert_int_eq(logd_client_topic_create(c, "nofit", 20, small, 2),
	    LOGD_EBADCONFIG);
	ck_assert_msg(strstr(logd_client_errmsg(c), "open files limit 1304"),
	    "%s", logd_client_errmsg(c));
	ck_assert_int_eq(logd_client_topic_alter(c, "fit", &grow, 1), 0);
	grow.value = "70";
	ck_assert_int_eq(logd_client_topic_alter(c, "fit", &grow, 1),
	    LOGD_EBADCONFIG);
	ck_assert_msg(strstr(logd_client_errmsg(c), "room for 60"), "%s",
	    logd_client_errmsg(c));
	ck_assert_int_eq(logd_client_topic_create(c, "small", 4, small, 2), 0);
	served(c, 0);
	logd_client_close(c);
}
END_TEST

START_TEST(test_default_listen)
{
	char dir[] = "/tmp/check_limits.XXXXXX", conf[64], cmd[128];
	char out[8192];
	size_t have = 0;
	int pfd[2], status;
	long deadline;
	pid_t pid;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/logd.conf", dir);
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	/* No listen line: the built-in default. */
	fprintf(f, "datadir = %s/data\nkafka_listen = none\nhttp_listen = none\n", dir);
	fclose(f);
	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		execl(testlogd_binary(), "logd", "-C", conf, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	/* Until it serves or gives up (its stderr closes when it exits). */
	deadline = now_ms() + 20000;
	while (now_ms() < deadline && have < sizeof(out) - 1) {
		struct pollfd p = { pfd[0], POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 200) <= 0)
			continue;
		n = read(pfd[0], out + have, sizeof(out) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		out[have] = '\0';
		if (strstr(out, " serving "))
			break;
	}
	out[have] = '\0';
	kill(pid, SIGTERM);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	close(pfd[0]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_msg(strstr(out, "127.0.0.1:9400") != NULL,
	    "default listen is not 127.0.0.1:9400: %s", out);
	ck_assert_ptr_null(strstr(out, "0.0.0.0"));
	ck_assert_ptr_null(strstr(out, "[::]"));
	if (!strstr(out, "listening on 127.0.0.1:9400"))
		printf("check_limits: port 9400 is taken here; logd named the "
		    "default it could not take: %s", out);
}
END_TEST

int main(void)
{
	struct rlimit rl;
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	/* Room for the flood in this process and in logd (inherited). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < MAX_CONN + 200) {
		printf("check_limits: SKIP: RLIMIT_NOFILE %lu is below %d\n",
		    (unsigned long)rl.rlim_cur, MAX_CONN + 200);
		return 77;
	}
	flood = rl.rlim_cur >= 1400 ? 1200 : (int)rl.rlim_cur - 150;
	s = suite_create("limits");
	tc = tcase_create("connection_flood");
	tcase_add_checked_fixture(tc, setup_flood, teardown);
	tcase_add_test(tc, test_connection_flood);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("half_frame_stallers");
	tcase_add_checked_fixture(tc, setup_stall, teardown);
	tcase_add_test(tc, test_half_frame_stallers);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("out_of_fds");
	tcase_add_checked_fixture(tc, setup_flood, teardown);
	tcase_add_test(tc, test_out_of_fds);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("partitions_fit_fds");
	tcase_add_checked_fixture(tc, setup_flood, teardown);
	tcase_add_test(tc, test_partitions_fit_fds);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("default_listen");
	tcase_add_test(tc, test_default_listen);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
