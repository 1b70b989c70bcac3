/*
 * check_tools.c - logtail, logput and logctl against a real logd.
 *
 * Each test starts its own logd (tests/testlogd.h) and runs the built
 * programs from $LOGD_BUILDDIR/tools with posix_spawn, feeding stdin and
 * collecting stdout, stderr and the exit status, then asserts exactly
 * what was printed.  JSON output is checked with the strict parser of
 * tools/tool.c (tool_json_check()), line by line.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "logd.h"
#include "testlogd.h"
#include "../tools/tool.h"

extern char **environ;

static struct testlogd T;

struct run {
	int status;               /* exit status, 128 + signal if killed */
	struct tool_buf out;
	struct tool_buf err;
};

static void run_free(struct run *r)
{
	tool_buf_free(&r->out);
	tool_buf_free(&r->err);
}

static const char *out_of(const struct run *r)
{
	return r->out.data != NULL ? r->out.data : "";
}

static const char *err_of(const struct run *r)
{
	return r->err.data != NULL ? r->err.data : "";
}

static const char *err_of_buf(const struct tool_buf *b)
{
	return b->data != NULL ? b->data : "";
}

static void tool_path(const char *name, char *buf, size_t size)
{
	const char *b = getenv("LOGD_BUILDDIR");

	snprintf(buf, size, "%s/tools/%s", b ? b : "..", name);
}

/* A child with pipes on stdin, stdout, stderr. */
struct child {
	pid_t pid;
	int in, out, err;
};

static void spawn_tool(struct child *ch, char *const argv[])
{
	int pin[2], pout[2], perr[2];
	posix_spawn_file_actions_t fa;
	char path[512];
	int rc;

	tool_path(argv[0], path, sizeof(path));
	ck_assert_int_eq(pipe2(pin, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(pout, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(perr, O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	rc = posix_spawn(&ch->pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	ck_assert_msg(rc == 0, "spawn %s: %s", path, strerror(rc));
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	ch->in = pin[1];
	ch->out = pout[0];
	ch->err = perr[0];
}

/* Reads what is there on fd into b; returns 0 at EOF, 1 if more may come. */
static int drain(int fd, struct tool_buf *b)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n > 0) {
		tool_buf_add(b, tmp, (size_t)n);
		return 1;
	}
	return n < 0 && errno == EINTR;
}

static int wait_status(pid_t pid)
{
	int st, i;

	for (i = 0; i < 3000; i++) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/*
 * Runs tool argv[0] with input on stdin (may be NULL), up to 30 s.
 * argv is NULL-terminated.
 */
static void run_tool(struct run *r, const char *input, size_t input_len,
    char *const argv[])
{
	struct child ch;
	size_t off = 0;
	int open_out = 1, open_err = 1;

	memset(r, 0, sizeof(*r));
	signal(SIGPIPE, SIG_IGN);
	spawn_tool(&ch, argv);
	if (input == NULL || input_len == 0) {
		close(ch.in);
		ch.in = -1;
	}
	while (open_out || open_err) {
		struct pollfd p[3];
		int n = 0, io = -1, ie = -1, ii = -1;

		if (open_out) {
			p[n].fd = ch.out;
			p[n].events = POLLIN;
			io = n++;
		}
		if (open_err) {
			p[n].fd = ch.err;
			p[n].events = POLLIN;
			ie = n++;
		}
		if (ch.in >= 0) {
			p[n].fd = ch.in;
			p[n].events = POLLOUT;
			ii = n++;
		}
		if (poll(p, (nfds_t)n, 30000) <= 0)
			break;
		if (io >= 0 && p[io].revents)
			open_out = drain(ch.out, &r->out);
		if (ie >= 0 && p[ie].revents)
			open_err = drain(ch.err, &r->err);
		if (ii >= 0 && p[ii].revents) {
			ssize_t w = write(ch.in, input + off, input_len - off);

			if (w > 0)
				off += (size_t)w;
			if (w < 0 || off == input_len) {
				close(ch.in);
				ch.in = -1;
			}
		}
	}
	if (ch.in >= 0)
		close(ch.in);
	close(ch.out);
	close(ch.err);
	r->status = wait_status(ch.pid);
}

/* Runs a tool given as a list of strings ending with NULL. */
static void run(struct run *r, const char *input, ...)
{
	char *argv[64];
	va_list ap;
	int n = 0;

	va_start(ap, input);
	while (n < 63 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	run_tool(r, input, input ? strlen(input) : 0, argv);
}

/* Runs and asserts exit status and exact stdout. */
static void expect(int status, const char *want_out, const char *input, ...)
{
	struct run r;
	char *argv[64];
	va_list ap;
	int n = 0;

	va_start(ap, input);
	while (n < 63 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	run_tool(&r, input, input ? strlen(input) : 0, argv);
	ck_assert_msg(r.status == status, "%s %s %s: status %d, want %d; "
	    "stderr: %s", argv[0], argv[1] ? argv[1] : "",
	    argv[2] && argv[1] ? argv[2] : "", r.status, status, err_of(&r));
	if (want_out != NULL)
		ck_assert_str_eq(out_of(&r), want_out);
	run_free(&r);
}

static void setup(void)
{
	memset(&T, 0, sizeof(T));
	ck_assert_int_eq(testlogd_start(&T, NULL), 0);
}

static void teardown(void)
{
	testlogd_stop(&T);
}

#define B "-b", T.addr

static void create_topic(const char *name, const char *parts)
{
	char want[300];

	snprintf(want, sizeof(want), "created topic %s\n", name);
	expect(0, want, NULL, "logctl", B, "create", name, "-p", parts, NULL);
}

static const char ten[] = "v0\nv1\nv2\nv3\nv4\nv5\nv6\nv7\nv8\nv9\n";

/* ---- replay from each kind of start point ---- */

START_TEST(test_replay_offsets)
{
	create_topic("t", "1");
	expect(0, "", ten, "logput", B, "-q", "t", NULL);
	expect(0, ten, NULL, "logtail", B, "t", NULL);
	expect(0, ten, NULL, "logtail", B, "-o", "beginning", "t", NULL);
	expect(0, "v3\nv4\n", NULL, "logtail", B, "-o", "3", "-c", "2", "t",
	    NULL);
	expect(0, "v7\nv8\nv9\n", NULL, "logtail", B, "-o", "-3", "t", NULL);
	expect(0, ten, NULL, "logtail", B, "-o", "-30", "t", NULL);
	expect(0, "", NULL, "logtail", B, "-o", "end", "t", NULL);
	expect(0, "", NULL, "logtail", B, "-o", "10", "t", NULL);
	expect(0, "v2\nv3\nv4\n", NULL, "logtail", B, "-o", "2", "-e", "5",
	    "t", NULL);
	expect(0, "v0\n", NULL, "logtail", B, "-c", "1", "t", NULL);
	/* --broker is -b, in every tool */
	expect(0, "v1\n", NULL, "logtail", "--broker", T.addr, "-o", "1", "-c",
	    "1", "t", NULL);
	expect(0, "created topic t2\n", NULL, "logctl", "--broker", T.addr,
	    "create", "t2", NULL);
	expect(0, "", "w\n", "logput", "--broker", T.addr, "-q", "t2", NULL);
	expect(0, "w\n", NULL, "logtail", "--broker", T.addr, "t2", NULL);
	expect(0, "deleted topic t2\n", NULL, "logctl", "delete", "t2",
	    "--broker", T.addr, NULL);
	expect(0, "0 9 v9\n", NULL, "logtail", B, "-o", "9", "-F",
	    "%p %o %s\\n", "t", NULL);
	/* key, headers, value size, topic, raw */
	expect(0, "", "k1:x\nk2:yy\n", "logput", B, "-q", "-K", ":", "-H",
	    "src=test", "t", NULL);
	expect(0, "t|k1|src=test|1|x\nt|k2|src=test|2|yy\n", NULL, "logtail",
	    B, "-o", "10", "-F", "%t|%k|%h|%S|%s\\n", "t", NULL);
	expect(0, "k1\tx\nk2\tyy\n", NULL, "logtail", B, "-o", "10", "-K",
	    "t", NULL);
	expect(0, "xyy", NULL, "logtail", B, "-o", "10", "-R", "t", NULL);
}
END_TEST

START_TEST(test_replay_times)
{
	struct run r;
	char iso[40], *end;
	long long ts;

	create_topic("t", "1");
	expect(0, "", "a\nb\n", "logput", B, "-q", "t", NULL);
	usleep(50000);
	expect(0, "", "c\nd\n", "logput", B, "-q", "t", NULL);
	run(&r, NULL, "logtail", B, "-o", "2", "-c", "1", "-F", "%T", "t",
	    NULL);
	ck_assert_int_eq(r.status, 0);
	ts = strtoll(out_of(&r), &end, 10);
	ck_assert(ts > 0 && *end == '\0');
	run_free(&r);
	tool_format_time(ts, iso, sizeof(iso));
	expect(0, "c\nd\n", NULL, "logtail", B, "-s", iso, "t", NULL);
	expect(0, "a\nb\n", NULL, "logtail", B, "-e", iso, "t", NULL);
	expect(0, "a\nb\nc\nd\n", NULL, "logtail", B, "-s", "-1h", "t", NULL);
	expect(0, "a\nb\nc\nd\n", NULL, "logtail", B, "-s",
	    "2020-01-01T00:00", "t", NULL);
	expect(0, "", NULL, "logtail", B, "-s", "2999-01-01T00:00:00Z", "t",
	    NULL);
	expect(0, "", NULL, "logtail", B, "-e", "-1h", "t", NULL);
	/* %I renders the same instant */
	run(&r, NULL, "logtail", B, "-o", "2", "-c", "1", "-F", "%I", "t",
	    NULL);
	ck_assert_str_eq(out_of(&r), iso);
	run_free(&r);
}
END_TEST

START_TEST(test_replay_merged)
{
	/* Written to alternating partitions, one process (one ms) apart:
	 * the replay merges them back in time order. */
	create_topic("m", "2");
	expect(0, "", "a\n", "logput", B, "-q", "-p", "0", "m", NULL);
	usleep(20000);
	expect(0, "", "b\n", "logput", B, "-q", "-p", "1", "m", NULL);
	usleep(20000);
	expect(0, "", "c\n", "logput", B, "-q", "-p", "0", "m", NULL);
	usleep(20000);
	expect(0, "", "d\n", "logput", B, "-q", "-p", "1", "m", NULL);
	expect(0, "0 0 a\n1 0 b\n0 1 c\n1 1 d\n", NULL, "logtail", B, "-F",
	    "%p %o %s\\n", "m", NULL);
	expect(0, "b\nd\n", NULL, "logtail", B, "-p", "1", "m", NULL);
	expect(0, "c\nd\n", NULL, "logtail", B, "-o", "-1", "m", NULL);
	expect(0, "a\nb\nc\n", NULL, "logtail", B, "-c", "3", "m", NULL);
	/* keyed records land where Kafka's partitioner puts them */
	expect(0, "", "ws_cairo_001:x\n", "logput", B, "-q", "-K", ":", "m",
	    NULL);
	{
		char part[16];

		snprintf(part, sizeof(part), "%d",
		    logd_partition_for_key("ws_cairo_001", 12, 2));
		expect(0, "x\n", NULL, "logtail", B, "-p", part, "-o", "2", "m",
		    NULL);
	}
}
END_TEST

/* ---- follow ---- */

/* Reads ch.out until buf holds want (or 15 s pass). */
static void read_until(struct child *ch, struct tool_buf *b, const char *want)
{
	int i;

	for (i = 0; i < 150; i++) {
		struct pollfd p = { ch->out, POLLIN, 0 };

		if (b->data != NULL && strstr(b->data, want) != NULL)
			return;
		if (poll(&p, 1, 100) > 0 && !drain(ch->out, b))
			break;
	}
	ck_assert_msg(b->data != NULL && strstr(b->data, want) != NULL,
	    "wanted %s, got %s", want, b->data ? b->data : "(nothing)");
}

START_TEST(test_follow)
{
	char *argv[] = { "logtail", "-b", T.addr, "-f", "-o", "2", "-F",
		"%p %o %s\\n", "f", NULL };
	struct tool_buf b = TOOL_BUF_INIT;
	struct child ch;

	create_topic("f", "2");
	expect(0, "", "x\ny\n", "logput", B, "-q", "-p", "0", "f", NULL);
	signal(SIGPIPE, SIG_IGN);
	/* -o 2 is the end of partition 0 but past the end of partition 1 */
	{
		struct run r;

		run(&r, NULL, "logtail", B, "-f", "-o", "2", "f", NULL);
		ck_assert_int_eq(r.status, 1);
		ck_assert_ptr_nonnull(strstr(err_of(&r), "past the end of f "
		    "partition 1"));
		run_free(&r);
	}
	argv[4] = "-p";
	argv[5] = "0";
	argv[6] = "-o";
	argv[7] = "2";
	argv[8] = "f";
	spawn_tool(&ch, argv);
	close(ch.in);
	usleep(200000);
	expect(0, "", "live1\nlive2\n", "logput", B, "-q", "-p", "0", "f",
	    NULL);
	read_until(&ch, &b, "live1\nlive2\n");
	expect(0, "", "live3\n", "logput", B, "-q", "-p", "1", "f", NULL);
	expect(0, "", "live4\n", "logput", B, "-q", "-p", "0", "f", NULL);
	read_until(&ch, &b, "live4\n");
	ck_assert_str_eq(b.data, "live1\nlive2\nlive4\n");
	kill(ch.pid, SIGINT);
	ck_assert_int_eq(wait_status(ch.pid), 0);
	close(ch.out);
	close(ch.err);
	tool_buf_free(&b);
}
END_TEST

START_TEST(test_follow_all_partitions)
{
	char *argv[] = { "logtail", "-b", T.addr, "-f", "-o", "end", "-F",
		"%p %s\\n", "f", NULL };
	struct tool_buf b = TOOL_BUF_INIT;
	struct child ch;

	create_topic("f", "3");
	signal(SIGPIPE, SIG_IGN);
	spawn_tool(&ch, argv);
	close(ch.in);
	usleep(300000);
	expect(0, "", "n1\n", "logput", B, "-q", "-p", "2", "f", NULL);
	read_until(&ch, &b, "2 n1\n");
	expect(0, "", "n2\n", "logput", B, "-q", "-p", "0", "f", NULL);
	read_until(&ch, &b, "0 n2\n");
	ck_assert_str_eq(b.data, "2 n1\n0 n2\n");
	kill(ch.pid, SIGTERM);
	ck_assert_int_eq(wait_status(ch.pid), 0);
	close(ch.out);
	close(ch.err);
	tool_buf_free(&b);
}
END_TEST

/* Reads ch.out until b holds n lines (or 20 s pass). */
static void read_lines(struct child *ch, struct tool_buf *b, int n)
{
	int i, k = 0;

	for (i = 0; i < 200 && k < n; i++) {
		struct pollfd p = { ch->out, POLLIN, 0 };
		const char *q;

		if (poll(&p, 1, 100) > 0 && !drain(ch->out, b))
			break;
		for (k = 0, q = b->data; q != NULL && (q = strchr(q, '\n'));
		    q++)
			k++;
	}
	ck_assert_msg(k >= n, "wanted %d lines, got %s", n,
	    b->data ? b->data : "(nothing)");
}

/*
 * logtail -f (with group, or without when NULL) while logd is killed
 * and started again: it reconnects, says so, and prints every record
 * once.
 */
static void follow_across_restart(const char *group)
{
	char *argv[] = { "logtail", "-b", T.addr, "-f", "-F", "%p %o %s\n",
		"fr", NULL, NULL, NULL };
	struct tool_buf b = TOOL_BUF_INIT, e = TOOL_BUF_INIT;
	struct child ch;
	int i;

	if (group != NULL) {
		argv[7] = "-g";
		argv[8] = (char *)group;
	}
	create_topic("fr", "2");
	expect(0, "", "a\nb\n", "logput", B, "-q", "-p", "0", "fr", NULL);
	expect(0, "", "c\n", "logput", B, "-q", "-p", "1", "fr", NULL);
	signal(SIGPIPE, SIG_IGN);
	spawn_tool(&ch, argv);
	close(ch.in);
	read_lines(&ch, &b, 3);
	/* with -g, kill it before the member's commit (every second) */
	ck_assert_int_eq(testlogd_kill9(&T), 0);
	usleep(500000);
	ck_assert_int_eq(testlogd_restart(&T), 0);
	expect(0, "", "d\ne\n", "logput", B, "-q", "-p", "0", "fr", NULL);
	expect(0, "", "f\n", "logput", B, "-q", "-p", "1", "fr", NULL);
	read_lines(&ch, &b, 6);
	/* nothing more comes: no record twice */
	usleep(1500000);
	kill(ch.pid, SIGINT);
	ck_assert_int_eq(wait_status(ch.pid), 0);
	while (drain(ch.out, &b))
		;
	while (drain(ch.err, &e))
		;
	ck_assert_msg(strstr(b.data, "0 0 a\n0 1 b\n") != NULL &&
	    strstr(b.data, "1 0 c\n") != NULL, "%s", b.data);
	ck_assert_msg(strstr(b.data, "0 2 d\n0 3 e\n") != NULL &&
	    strstr(b.data, "1 1 f\n") != NULL, "%s", b.data);
	for (i = 0; b.data[i] != '\0'; i++)
		;
	ck_assert_msg(i == 6 * 6, "records lost or printed twice: %s",
	    b.data);
	ck_assert_msg(strstr(err_of_buf(&e), "logtail: connection to ") !=
	    NULL && strstr(e.data, "lost (") != NULL && strstr(e.data,
	    "reconnecting\n") != NULL, "stderr: %s", err_of_buf(&e));
	ck_assert_msg(strstr(e.data, "logtail: reconnected to ") != NULL,
	    "stderr: %s", e.data);
	ck_assert_msg(strstr(e.data, group != NULL ? "rejoined group G: "
	    "resuming fr after the last record printed\n" : "resuming fr "
	    "after the last record printed\n") != NULL, "stderr: %s",
	    e.data);
	close(ch.out);
	close(ch.err);
	tool_buf_free(&b);
	tool_buf_free(&e);
}

START_TEST(test_follow_reconnect)
{
	follow_across_restart(NULL);
}
END_TEST

START_TEST(test_follow_group_reconnect)
{
	follow_across_restart("G");
	/* the member committed what it printed after rejoining */
	expect(0, "", NULL, "logtail", B, "-g", "G", "fr", NULL);
}
END_TEST

/* ---- groups ---- */

START_TEST(test_group_resume)
{
	struct run r;
	char err[128];

	create_topic("g", "2");
	expect(0, "", "a\nc\ne\n", "logput", B, "-q", "-p", "0", "g", NULL);
	expect(0, "", "b\nd\nf\n", "logput", B, "-q", "-p", "1", "g", NULL);
	/* partition 0 was written first: merged order is a c e b d f */
	expect(0, "a\nc\n", NULL, "logtail", B, "-g", "G", "-c", "2", "g",
	    NULL);
	expect(0, "e\nb\n", NULL, "logtail", B, "-g", "G", "-c", "2", "g",
	    NULL);
	run(&r, NULL, "logctl", B, "--json", "group", "G", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_int_eq(tool_json_check(r.out.data, r.out.len, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(out_of(&r), "{\"group\":\"G\",\"state\":\"empty\","
	    "\"generation\":0,\"members\":[],\"lag\":2,\"offsets\":["
	    "{\"topic\":\"g\",\"partition\":0,\"offset\":3,\"end\":3,"
	    "\"lag\":0},{\"topic\":\"g\",\"partition\":1,\"offset\":1,"
	    "\"end\":3,\"lag\":2}]}\n");
	run_free(&r);

	/* across a restart, then a kill -9 */
	ck_assert_int_eq(testlogd_term(&T), 0);
	ck_assert_int_eq(testlogd_restart(&T), 0);
	expect(0, "d\n", NULL, "logtail", B, "-g", "G", "-c", "1", "g", NULL);
	ck_assert_int_eq(testlogd_kill9(&T), 0);
	ck_assert_int_eq(testlogd_restart(&T), 0);
	expect(0, "f\n", NULL, "logtail", B, "-g", "G", "g", NULL);
	expect(0, "", NULL, "logtail", B, "-g", "G", "g", NULL);

	/* another group reads everything; reset rewinds */
	expect(0, "a\nc\ne\nb\nd\nf\n", NULL, "logtail", B, "-g", "H", "g",
	    NULL);
	expect(0, "group G: g partition 0 reset to offset 0\n"
	    "group G: g partition 1 reset to offset 0\n", NULL, "logctl", B,
	    "reset", "G", "--topic", "g", "--to", "earliest", NULL);
	expect(0, "group G: g partition 0 reset to offset 1\n", NULL,
	    "logctl", B, "reset", "G", "--topic", "g", "--to", "1", "-p", "0",
	    NULL);
	expect(0, "c\ne\nb\nd\nf\n", NULL, "logtail", B, "-g", "G", "g", NULL);
	expect(0, "GROUP                          STATE       MEMBERS "
	    "PARTITIONS          LAG\n"
	    "G                              empty             0          2 "
	    "           0\n"
	    "H                              empty             0          2 "
	    "           0\n", NULL, "logctl", B, "groups", NULL);
	expect(0, "deleted group G\n", NULL, "logctl", B, "delete-group", "G",
	    NULL);
	expect(1, "", NULL, "logctl", B, "delete-group", "G", NULL);
	expect(0, "a\n", NULL, "logtail", B, "-g", "G", "-c", "1", "g", NULL);
}
END_TEST

/* ---- JSON ---- */

/*
 * A second opinion from a JSON parser that is not ours: Python's json
 * module (strict: no NaN, no control characters in strings), when
 * python3 is installed (scripts/deps.sh installs it).  Returns the
 * parser's exit status, or -1 when python3 cannot run.
 */
static int python_json_check(const char *s)
{
	static const char prog[] = "python3 -c '"
	    "import json, sys\n"
	    "def bad(c): raise ValueError(c)\n"
	    "for l in sys.stdin.buffer.read().decode(\"utf-8\")"
	    ".split(\"\\n\")[:-1]:\n"
	    "    json.loads(l, parse_constant=bad)\n"
	    "' 2>&1";
	FILE *p;
	int st;

	if (system("python3 -c '' >/dev/null 2>&1") != 0)
		return -1;
	p = popen(prog, "w");
	ck_assert_ptr_nonnull(p);
	fputs(s, p);
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Every line of s must be one valid JSON value. */
static void check_json_lines(const char *s)
{
	char err[128];
	int lines = 0;

	ck_assert_msg(python_json_check(s) <= 0, "python3's json module "
	    "refuses: %s", s);

	while (*s != '\0') {
		const char *nl = strchr(s, '\n');

		ck_assert_msg(nl != NULL, "unterminated line: %s", s);
		ck_assert_msg(tool_json_check(s, (size_t)(nl - s), err,
		    sizeof(err)) == 0, "bad JSON (%s): %.*s", err,
		    (int)(nl - s), s);
		s = nl + 1;
		lines++;
	}
	ck_assert_int_gt(lines, 0);
}

START_TEST(test_json)
{
	static const char bin[] = { 'a', (char)0xff, 0, 'b' };
	char path[512], *argv[10];
	struct run r;
	FILE *f;

	create_topic("j", "1");
	expect(0, "", "{\"city\":\"Cairo\",\"temperature\":25.5,\"n\":[1,-2],"
	    "\"ok\":true,\"s\":\"\\u00e9\\\"\"}\n", "logput", B, "-q", "-J",
	    "-k", "ws_cairo_001", "-H", "h=v", "j", NULL);
	expect(0, "", "plain \"text\"\ttab\n", "logput", B, "-q", "j", NULL);
	snprintf(path, sizeof(path), "%s/bin", T.dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fwrite(bin, 1, sizeof(bin), f);
	fclose(f);
	argv[0] = "logput";
	argv[1] = "-b";
	argv[2] = T.addr;
	argv[3] = "-q";
	argv[4] = "-R";
	argv[5] = "j";
	argv[6] = path;
	argv[7] = NULL;
	run_tool(&r, NULL, 0, argv);
	ck_assert_int_eq(r.status, 0);
	run_free(&r);

	run(&r, NULL, "logtail", B, "-J", "j", NULL);
	ck_assert_int_eq(r.status, 0);
	check_json_lines(out_of(&r));
	ck_assert_ptr_nonnull(strstr(out_of(&r),
	    "\"offset\":0,"));
	ck_assert_ptr_nonnull(strstr(out_of(&r),
	    ",\"key\":\"ws_cairo_001\",\"value\":{\"city\":\"Cairo\","
	    "\"temperature\":25.5,\"n\":[1,-2],\"ok\":true,"
	    "\"s\":\"\xc3\xa9\\\"\"},\"headers\":[{\"key\":\"h\","
	    "\"value\":\"v\"}]}\n"));
	ck_assert_ptr_nonnull(strstr(out_of(&r),
	    "\"key\":null,\"value\":\"plain \\\"text\\\"\\ttab\","
	    "\"headers\":[]}\n"));
	ck_assert_ptr_nonnull(strstr(out_of(&r),
	    "\"key\":null,\"value\":\"Yf8AYg==\",\"value_encoding\":"
	    "\"base64\",\"headers\":[]}\n"));
	run_free(&r);

	/* text output renders the msgpack value as JSON too */
	expect(0, "{\"city\":\"Cairo\",\"temperature\":25.5,\"n\":[1,-2],"
	    "\"ok\":true,\"s\":\"\xc3\xa9\\\"\"}\n", NULL, "logtail", B, "-c",
	    "1", "j", NULL);

	/* every logctl listing parses */
	run(&r, NULL, "logctl", B, "--json", "topics", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strncmp(out_of(&r), "[{\"name\":\"j\",\"partitions\":1,"
	    "\"records\":3,\"size\":", 47) == 0, "%s", out_of(&r));
	run_free(&r);
}
END_TEST

START_TEST(test_json_listings)
{
	static const char *const cmds[][3] = {
		{ "topics", NULL, NULL }, { "describe", "j", NULL },
		{ "groups", NULL, NULL }, { "group", "G", NULL },
		{ "stats", NULL, NULL }, { "reset", "G", NULL },
	};
	struct run r;
	size_t i;

	create_topic("j", "2");
	expect(0, "", "{\"a\":1}\n[2]\n", "logput", B, "-q", "-J", "j", NULL);
	expect(0, NULL, NULL, "logtail", B, "-g", "G", "j", NULL);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (cmds[i][0][0] == 'r')
			run(&r, NULL, "logctl", B, "--json", "reset", "G",
			    "--topic", "j", "--to", "latest", NULL);
		else
			run(&r, NULL, "logctl", B, "--json", cmds[i][0],
			    cmds[i][1], NULL);
		ck_assert_msg(r.status == 0, "%s: %s", cmds[i][0], err_of(&r));
		check_json_lines(out_of(&r));
		run_free(&r);
	}
	run(&r, NULL, "logctl", B, "--json", "describe", "j", NULL);
	ck_assert_ptr_nonnull(strstr(out_of(&r), "{\"name\":\"j\","
	    "\"partitions\":[{\"partition\":0,\"start\":0,"));
	ck_assert_ptr_nonnull(strstr(out_of(&r), "\"partitions\":\"2\""));
	run_free(&r);
}
END_TEST

/* ---- verify and dump ---- */

START_TEST(test_verify)
{
	char seg[600], part[400];
	struct run r;
	FILE *f;
	int c;

	create_topic("v", "2");
	expect(0, "", ten, "logput", B, "-q", "-p", "1", "v", NULL);
	expect(0, "", "one\n", "logput", B, "-q", "-p", "0", "v", NULL);
	expect(0, "", "two\n", "logput", B, "-q", "-p", "0", "v", NULL);
	create_topic("e", "1");
	create_topic("one", "1");
	expect(0, "", "x\n", "logput", B, "-q", "one", NULL);
	ck_assert_int_eq(testlogd_term(&T), 0);

	/* an empty segment has no offsets; counts agree with their noun */
	{
		char want[1200];

		snprintf(part, sizeof(part), "%s/topics/e-0", T.datadir);
		snprintf(want, sizeof(want), "ok      %s/00000000000000000000"
		    ".log: 0 batches, 0 records, no offsets (the next is 0)\n"
		    "1 segment checked, 0 damaged\n", part);
		expect(0, want, NULL, "logctl", "verify", part, NULL);
		snprintf(part, sizeof(part), "%s/topics/one-0", T.datadir);
		snprintf(want, sizeof(want), "ok      %s/00000000000000000000"
		    ".log: 1 batch, 1 record, offsets 0..0\n"
		    "1 segment checked, 0 damaged\n", part);
		expect(0, want, NULL, "logctl", "verify", part, NULL);
	}

	run(&r, NULL, "logctl", "verify", T.datadir, NULL);
	ck_assert_msg(r.status == 0, "verify: %s %s", out_of(&r), err_of(&r));
	ck_assert_ptr_nonnull(strstr(out_of(&r), "4 segments checked, 0 "
	    "damaged\n"));
	ck_assert_ptr_nonnull(strstr(out_of(&r), "ok      "));
	run_free(&r);
	snprintf(part, sizeof(part), "%s/topics/v-1", T.datadir);
	snprintf(seg, sizeof(seg), "%s/00000000000000000000.log", part);
	run(&r, NULL, "logctl", "dump", seg, NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(out_of(&r), "baseOffset: 0 lastOffset: "));
	ck_assert_ptr_nonnull(strstr(out_of(&r), "| offset: 9 "));
	ck_assert_ptr_nonnull(strstr(out_of(&r), " value: \"v9\"\n"));
	run_free(&r);
	run(&r, NULL, "logctl", "--json", "dump", seg, NULL);
	ck_assert_int_eq(r.status, 0);
	check_json_lines(out_of(&r));
	run_free(&r);

	/* flip one bit of a record value: its batch CRC no longer matches */
	f = fopen(seg, "r+");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 100, SEEK_SET), 0);
	c = fgetc(f);
	ck_assert_int_eq(fseek(f, 100, SEEK_SET), 0);
	fputc(c ^ 0x10, f);
	fclose(f);
	run(&r, NULL, "logctl", "verify", T.datadir, NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(out_of(&r), "DAMAGED "));
	ck_assert_ptr_nonnull(strstr(out_of(&r), "v-1/00000000000000000000.log"));
	ck_assert_ptr_nonnull(strstr(out_of(&r), "4 segments checked, 1 "
	    "damaged\n"));
	run_free(&r);
	expect(1, NULL, NULL, "logctl", "verify", part, NULL);
	expect(1, NULL, NULL, "logctl", "verify", seg, NULL);
	expect(1, NULL, NULL, "logctl", "dump", seg, NULL);
	run(&r, NULL, "logctl", "--json", "verify", seg, NULL);
	ck_assert_int_eq(r.status, 1);
	check_json_lines(out_of(&r));
	ck_assert_ptr_nonnull(strstr(out_of(&r), "\"ok\":false"));
	run_free(&r);
	/* the other partition is still clean */
	snprintf(part, sizeof(part), "%s/topics/v-0", T.datadir);
	expect(0, NULL, NULL, "logctl", "verify", part, NULL);
	expect(1, NULL, NULL, "logctl", "verify", T.dir, NULL);

	/* Damage the header (lastOffsetDelta) of v-0's second batch: dump
	 * names the file position, the expected offset and the fields. */
	{
		unsigned char h[12];
		long pos;
		char want[160];

		snprintf(seg, sizeof(seg), "%s/00000000000000000000.log", part);
		f = fopen(seg, "r+");
		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(fread(h, 1, 12, f), 12);
		pos = 12 + ((long)h[8] << 24 | h[9] << 16 | h[10] << 8 | h[11]);
		ck_assert_int_eq(fseek(f, pos + 25, SEEK_SET), 0);
		c = fgetc(f);
		ck_assert_int_eq(fseek(f, pos + 25, SEEK_SET), 0);
		fputc(c ^ 0xff, f);
		fclose(f);
		run(&r, NULL, "logctl", "dump", seg, NULL);
		ck_assert_int_eq(r.status, 1);
		ck_assert_ptr_nonnull(strstr(out_of(&r), "baseOffset: 0 "));
		snprintf(want, sizeof(want), "invalid batch at byte %ld, after "
		    "1 valid ones, expected baseOffset 1: ", pos);
		ck_assert_msg(strstr(err_of(&r), want) != NULL, "%s",
		    err_of(&r));
		ck_assert_ptr_nonnull(strstr(err_of(&r), "lastOffsetDelta "));
		ck_assert_ptr_null(strstr(err_of(&r), "base offset -1"));
		run_free(&r);
	}
}
END_TEST

/* ---- bad usage ---- */

static void expect_error(int status, const char *msg, ...)
{
	struct run r;
	char *argv[64];
	va_list ap;
	int n = 0;

	va_start(ap, msg);
	while (n < 63 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	run_tool(&r, NULL, 0, argv);
	ck_assert_msg(r.status == status, "%s %s: status %d, want %d (%s)",
	    argv[0], argv[n - 1], r.status, status, err_of(&r));
	ck_assert_msg(strstr(err_of(&r), msg) != NULL, "%s: stderr %s lacks "
	    "%s", argv[0], err_of(&r), msg);
	ck_assert_str_eq(out_of(&r), "");
	run_free(&r);
}

START_TEST(test_bad_usage)
{
	create_topic("u", "1");
	expect(0, "", "a\n", "logput", B, "-q", "u", NULL);

	expect_error(2, "logtail: invalid option", "logtail", B, "-Z", "u",
	    NULL);
	expect_error(2, "logtail: missing topic", "logtail", B, NULL);
	expect_error(2, "logtail: bad offset 'abc'", "logtail", B, "-o", "abc",
	    "u", NULL);
	expect_error(2, "logtail: bad time 'yesterday'", "logtail", B, "-s",
	    "yesterday", "u", NULL);
	expect_error(2, "logtail: bad count", "logtail", B, "-c", "0", "u",
	    NULL);
	expect_error(2, "logtail: bad end", "logtail", B, "-e", "soon", "u",
	    NULL);
	expect_error(2, "logtail: bad format", "logtail", B, "-F", "%q", "u",
	    NULL);
	expect_error(2, "exclude", "logtail", B, "-J", "-R", "u", NULL);
	expect_error(2, "exclude", "logtail", B, "-o", "1", "-s", "-1h", "u",
	    NULL);
	expect_error(2, "bad topic name", "logtail", B, "../etc", NULL);
	expect_error(1, "logtail: unknown topic 'nosuch'", "logtail", B,
	    "nosuch", NULL);
	expect_error(1, "offset 5 is past the end of u partition 0: the next "
	    "offset is 1", "logtail", B, "-o", "5", "u", NULL);
	expect_error(1, "has no partition 3", "logtail", B, "-p", "3", "u",
	    NULL);
	expect_error(3, "logtail: cannot connect to 127.0.0.1:1",
	    "logtail", "-b", "127.0.0.1:1", "u", NULL);
	expect_error(3, "cannot connect to nosuchhost.invalid:9: unknown "
	    "host", "logtail", "-b", "nosuchhost.invalid:9", "u", NULL);
	expect_error(3, "cannot connect to /nonexistent/logd.sock: no such "
	    "socket file", "logtail", "-b", "/nonexistent/logd.sock", "u",
	    NULL);
	expect(0, "logput " LOGD_VERSION_STRING "\n", NULL, "logput", "-V",
	    NULL);
	expect(0, "logtail " LOGD_VERSION_STRING "\n", NULL, "logtail", "-V",
	    NULL);

	expect_error(2, "logput: invalid option", "logput", B, "-c", "u",
	    NULL);
	expect_error(2, "logput: missing topic", "logput", B, NULL);
	expect_error(2, "logput: bad acks '2'", "logput", B, "-a", "2", "u",
	    NULL);
	expect_error(2, "logput: bad header", "logput", B, "-H", "novalue",
	    "u", NULL);
	expect_error(1, "nosuchfile", "logput", B, "u", "/nonexistent/nosuchfile",
	    NULL);
	expect_error(3, "logput: cannot connect", "logput", "-b",
	    "127.0.0.1:1", "u", NULL);
	{
		struct run r;

		run(&r, "x\n", "logput", B, "nosuch", NULL);
		ck_assert_int_eq(r.status, 1);
		ck_assert_ptr_nonnull(strstr(err_of(&r),
		    "unknown topic 'nosuch'"));
		run_free(&r);
		/* no input: still an unknown topic, as logput(1) says */
		run(&r, NULL, "logput", B, "nosuch", NULL);
		ck_assert_int_eq(r.status, 1);
		ck_assert_str_eq(err_of(&r),
		    "logput: unknown topic 'nosuch'\n");
		run_free(&r);
		run(&r, "{\"a\":1}\n{bad}\n[1]\n", "logput", B, "-J", "u",
		    NULL);
		ck_assert_int_eq(r.status, 1);
		ck_assert_msg(strstr(err_of(&r), "logput: <stdin>:2: bad JSON "
		    "at column 2: ") != NULL && strstr(err_of(&r), "line 1") ==
		    NULL, "%s", err_of(&r));
		ck_assert_ptr_nonnull(strstr(err_of(&r),
		    "2 records acknowledged"));
		run_free(&r);
	}

	expect_error(2, "logctl: missing command", "logctl", B, NULL);
	expect_error(2, "logctl: unknown command 'bogus'", "logctl", B,
	    "bogus", NULL);
	expect_error(2, "create: missing argument", "logctl", B, "create",
	    NULL);
	expect_error(2, "create: bad partition count '0'", "logctl", B,
	    "create", "x", "-p", "0", NULL);
	expect_error(2, "bad partition count '10001'", "logctl", B, "create",
	    "x", "--partitions", "10001", NULL);
	expect_error(2, "bad --config 'retention.ms=abc'", "logctl", B,
	    "create", "x", "--config", "retention.ms=abc", NULL);
	expect_error(2, "bad --config 'nokey=1'", "logctl", B, "create", "x",
	    "--config", "nokey=1", NULL);
	expect_error(2, "create: bad --config 'segment.bytes=60000': "
	    "segment.bytes = \"60000\": expected an integer from 65536 to "
	    "2147483647", "logctl", B, "create", "s", "--config",
	    "segment.bytes=60000", NULL);
	expect_error(2, "unknown setting \"nokey\" (known: ", "logctl", B,
	    "create", "x", "--config", "nokey=1", NULL);
	expect_error(2, "bad --config 'x'", "logctl", B, "alter", "u",
	    "--config", "x", NULL);
	expect_error(2, "not for this command", "logctl", B, "describe", "u",
	    "-p", "2", NULL);
	expect_error(2, "bad --to", "logctl", B, "reset", "G", "--topic", "u",
	    "--to", "middle", NULL);
	expect_error(1, "unknown topic 'nosuch'", "logctl", B, "describe",
	    "nosuch", NULL);
	expect_error(1, "already exists", "logctl", B, "create", "u", NULL);
	expect_error(1, "unknown group 'nogroup'", "logctl", B, "group",
	    "nogroup", NULL);
	expect_error(3, "logctl: cannot connect", "logctl", "-b",
	    "127.0.0.1:1", "topics", NULL);
	expect_error(1, "No such file", "logctl", "verify", "/nonexistent",
	    NULL);

	/* only the good lines of the -J run were stored */
	expect(0, "a\n{\"a\":1}\n[1]\n", NULL, "logtail", B, "u", NULL);
}
END_TEST

START_TEST(test_admin)
{
	create_topic("ad", "1");
	expect(0, "altered topic ad\n", NULL, "logctl", B, "alter", "ad",
	    "--config", "retention.ms=-1", "--config", "partitions=3", NULL);
	{
		struct run r;

		run(&r, NULL, "logctl", B, "describe", "ad", NULL);
		ck_assert_int_eq(r.status, 0);
		ck_assert_str_eq(strstr(out_of(&r), "config:") ? "" : "missing",
		    "");
		*strstr(r.out.data, "config:") = '\0';
		/* an empty partition: 64 KiB reserved for each index */
		ck_assert_str_eq(out_of(&r), "topic ad: 3 partitions\n"
		    "PARTITION        START          END      RECORDS"
		    "         SIZE         DISK\n"
		    "        0            0            0            0"
		    "          0 B    128.0 KiB\n"
		    "        1            0            0            0"
		    "          0 B    128.0 KiB\n"
		    "        2            0            0            0"
		    "          0 B    128.0 KiB\n");
		run_free(&r);
	}
	/* the broker says why it refuses fewer partitions */
	expect_error(1, "logctl: alter ad: partitions = \"1\": topic \"ad\" "
	    "has 3 partitions and the count can only grow", "logctl", B,
	    "alter", "ad", "--config", "partitions=1", NULL);
	expect(0, "", "a\nb\n", "logput", B, "-q", "-p", "2", "ad", NULL);
	{
		struct run r;

		run(&r, NULL, "logctl", B, "--json", "topics", NULL);
		ck_assert_msg(strncmp(out_of(&r), "[{\"name\":\"ad\","
		    "\"partitions\":3,\"records\":2,\"size\":", 48) == 0,
		    "%s", out_of(&r));
		run_free(&r);
	}
	expect(0, NULL, NULL, "logctl", B, "stats", NULL);
	expect(0, "deleted topic ad\n", NULL, "logctl", B, "delete", "ad",
	    NULL);
	expect(0, "", NULL, "logctl", B, "topics", NULL);
	expect(0, "[]\n", NULL, "logctl", "--json", B, "topics", NULL);
	/* the Unix socket works as a broker address */
	expect(0, "created topic us\n", NULL, "logctl", "-b", T.unix_path,
	    "create", "us", NULL);
}
END_TEST

/* ---- logput's batches fit a topic with small segments ---- */

START_TEST(test_batch_fits)
{
	struct tool_buf in = TOOL_BUF_INIT;
	char line[101];
	struct run r;
	int i;

	expect(0, "created topic small\n", NULL, "logctl", B, "create",
	    "small", "--config", "segment.bytes=65536", NULL);
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	for (i = 0; i < 2000; i++) {
		tool_buf_adds(&in, line);
		tool_buf_addc(&in, '\n');
	}
	/* the default batch (256 KiB) is capped to fit the segments */
	run(&r, in.data, "logput", B, "small", NULL);
	ck_assert_msg(r.status == 0, "%s", err_of(&r));
	ck_assert_str_eq(err_of(&r), "logput: 2000 records acknowledged\n");
	run_free(&r);
	expect(0, NULL, NULL, "logtail", B, "-c", "2000", "small", NULL);
	/* -z larger than a segment is refused, naming both */
	run(&r, in.data, "logput", B, "-z", "100000", "small", NULL);
	ck_assert_int_eq(r.status, 2);
	ck_assert_str_eq(err_of(&r), "logput: -z 100000 is larger than topic "
	    "'small''s segment.bytes (65536): a batch must fit in a "
	    "segment\n");
	run_free(&r);
	tool_buf_free(&in);
	/* a record larger than a segment says so */
	tool_buf_reset(&in);
	for (i = 0; i < 700; i++)
		tool_buf_adds(&in, line);
	tool_buf_addc(&in, '\n');
	run(&r, in.data, "logput", B, "small", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(err_of(&r), "must fit in topic 'small''s "
	    "segment.bytes (65536)") != NULL, "%s", err_of(&r));
	run_free(&r);
	tool_buf_free(&in);
}
END_TEST

/* ---- offsets below the log start (retention moved it) ---- */

static void setup_retention(void)
{
	memset(&T, 0, sizeof(T));
	ck_assert_int_eq(testlogd_start(&T, "retention_check_ms = 50\n"), 0);
}

/* The log start offset of partition 0 of topic, from logctl --json. */
static long long log_start(const char *topic)
{
	struct run r;
	const char *p;
	long long v;

	run(&r, NULL, "logctl", B, "--json", "describe", topic, NULL);
	ck_assert_int_eq(r.status, 0);
	p = strstr(out_of(&r), "\"start\":");
	ck_assert_ptr_nonnull(p);
	v = atoll(p + 8);
	run_free(&r);
	return v;
}

START_TEST(test_below_start)
{
	struct tool_buf in = TOOL_BUF_INIT;
	char want[200];
	struct run r;
	long long start = 0;
	int i, same;

	expect(0, "created topic rt\n", NULL, "logctl", B, "create", "rt",
	    "--config", "segment.bytes=65536", "--config",
	    "retention.bytes=65536", NULL);
	/* 200 records of 1000 bytes, 4 to a batch: several segments */
	for (i = 0; i < 200; i++) {
		char line[1001];

		memset(line, '.', sizeof(line) - 1);
		line[sizeof(line) - 1] = '\0';
		memcpy(line, "0000", 4);
		line[3] = (char)('0' + i % 10);
		tool_buf_adds(&in, line);
		tool_buf_addc(&in, '\n');
	}
	tool_buf_addc(&in, '\0');
	/* group G reads one record before retention can start */
	expect(0, "", "first\n", "logput", B, "-q", "rt", NULL);
	expect(0, "first\n", NULL, "logtail", B, "-g", "G", "-c", "1", "rt",
	    NULL);
	expect(0, "", in.data, "logput", B, "-q", "-z", "4000", "rt", NULL);
	tool_buf_free(&in);
	/* The broker deletes old segments every 50 ms, also while logput
	 * runs, so the start may still move once after logput is done:
	 * wait until it is past 0 and has held for 10 checks. */
	for (i = 0, same = 0; i < 800 && same < 10; i++) {
		long long now = log_start("rt");

		same = now > 0 && now == start ? same + 1 : 0;
		start = now;
		usleep(50000);
	}
	ck_assert_int_gt(start, 0);
	ck_assert_int_eq(same, 10);
	/* logd's log says what retention deleted, up to the start now */
	{
		char *log = NULL;
		size_t n = 0;
		FILE *f = fopen(T.logfile, "r");

		ck_assert_ptr_nonnull(f);
		ck_assert_int_ge(getdelim(&log, &n, '\0', f), 0);
		fclose(f);
		snprintf(want, sizeof(want), " bytes) of rt-0: the log now "
		    "starts at offset %lld (was ", start);
		ck_assert_msg(strstr(log, "info: retention deleted ") != NULL &&
		    strstr(log, want) != NULL, "logd's log lacks %s: %s", want,
		    log);
		free(log);
	}

	snprintf(want, sizeof(want), "offset 0 is below the start of rt "
	    "partition 0: the log starts at offset %lld", start);
	expect_error(1, want, "logtail", B, "-o", "0", "rt", NULL);
	/* beginning means the log start, whatever it is now */
	snprintf(want, sizeof(want), "%lld\n", start);
	expect(0, want, NULL, "logtail", B, "-o", "beginning", "-c", "1",
	    "-F", "%o\\n", "rt", NULL);
	/* a time before every record starts at the log start too */
	expect(0, want, NULL, "logtail", B, "-s", "2000-01-01T00:00:00Z",
	    "-c", "1", "-F", "%o\\n", "rt", NULL);
	/* a group whose offset fell below the start: warned, then from
	 * the start */
	run(&r, NULL, "logtail", B, "-g", "G", "-c", "1", "-F", "%o\n",
	    "rt", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(out_of(&r), want);
	ck_assert_ptr_nonnull(strstr(err_of(&r), "below the log start"));
	run_free(&r);
}
END_TEST

/* ---- -h, --help, -V, --version: the same in every program ---- */

START_TEST(test_help)
{
	static const struct {
		const char *prog;
		const char *shorts;   /* each printed as "\n  -X" */
		const char *longs;    /* space-separated, each "--NAME" */
	} progs[] = {
		{ "logtail", "bcefFghJKopRsV", "help version broker" },
		{ "logput", "abHhJkKLpqRVzZ", "help version compression broker "
		    "raw batch" },
		{ "logctl", "bphV", "help version json config topic to "
		    "partitions broker" },
		{ "logbench", "abcDghIlLprtVz", "help version acks addr "
		    "broker batch commit-ms count duration fetch-bytes group "
		    "in-flight linger listen partitions peer producers rate "
		    "size topic warmup async-commit commit-every" },
		{ "sensorgen", "abchinpPqrsStVX", "acks broker count extreme "
		    "help interval latest stations partitions print quiet rate "
		    "seed start topic version" },
		{ "logalerts", "AbdghPqtVx", "broker database exit-at-end "
		    "group help alerts-topic print quiet rules stats topic "
		    "version" },
		{ "../logd/logd", "CdluhV", "help version config datadir listen "
		    "unix-socket foreground log-file log-level set" },
	};
	size_t i, k;

	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		const char *name = strrchr(progs[i].prog, '/');
		char want[200], help[8192], opt[64];
		const char *l;
		struct run r;

		name = name != NULL ? name + 1 : progs[i].prog;
		run(&r, NULL, progs[i].prog, "-h", NULL);
		ck_assert_msg(r.status == 0, "%s -h: %d", name, r.status);
		snprintf(want, sizeof(want), "usage: %s ", name);
		ck_assert_msg(strncmp(out_of(&r), want, strlen(want)) == 0,
		    "%s -h: %s", name, out_of(&r));
		snprintf(help, sizeof(help), "%s", out_of(&r));
		run_free(&r);
		/* one line for each option */
		for (k = 0; progs[i].shorts[k] != '\0'; k++) {
			snprintf(opt, sizeof(opt), "\n  -%c", progs[i].shorts[k]);
			l = strstr(help, opt);
			ck_assert_msg(l != NULL && (l[5] == ' ' || l[5] == ','),
			    "%s --help lacks a line for -%c:\n%s", name,
			    progs[i].shorts[k], help);
		}
		for (l = progs[i].longs; *l != '\0';) {
			size_t n = strcspn(l, " ");

			snprintf(opt, sizeof(opt), "--%.*s ", (int)n, l);
			ck_assert_msg(strstr(help, opt) != NULL, "%s --help "
			    "lacks %s:\n%s", name, opt, help);
			l += n + (l[n] == ' ');
		}
		for (l = help; *l != '\0'; l += strcspn(l, "\n") + 1)
			ck_assert_msg(strcspn(l, "\n") <= 80, "%s --help: a line "
			    "longer than 80 columns: %.*s", name,
			    (int)strcspn(l, "\n"), l);
		run(&r, NULL, progs[i].prog, "--help", NULL);
		ck_assert_int_eq(r.status, 0);
		ck_assert_str_eq(out_of(&r), help);
		run_free(&r);
		snprintf(want, sizeof(want), "%s %s\n", name,
		    LOGD_VERSION_STRING);
		expect(0, want, NULL, progs[i].prog, "-V", NULL);
		expect(0, want, NULL, progs[i].prog, "--version", NULL);
	}
	/* logd names itself, not its path, in usage errors */
	expect_error(1, "logd: invalid option '--bogus'\nTry 'logd -h' for "
	    "help.\n", "../logd/logd", "--bogus", NULL);
}
END_TEST

/* ---- logd's own command line ---- */

/* Runs logd with the arguments after the first, expecting exit 1 and msg
 * on stderr. */
static void logd_fails(const char *msg, ...)
{
	char *argv[32], err[2048];
	va_list ap;
	int n = 1, st;

	argv[0] = "logd";
	va_start(ap, msg);
	while (n < 31 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	st = testlogd_run(argv, 10000, err, sizeof(err));
	ck_assert_msg(st == 1, "logd %s: status %d, want 1 (%s)", argv[1], st,
	    err);
	ck_assert_msg(strstr(err, msg) != NULL, "logd %s: stderr %s lacks %s",
	    argv[1], err, msg);
}

START_TEST(test_logd_usage)
{
	char dir[400], conf[420], sock[420], *argv[16];
	struct stat st;
	struct run r;
	pid_t pid;
	FILE *f;
	int i;

	snprintf(dir, sizeof(dir), "%s/d2", T.dir);
	/* a port out of range is refused before anything is opened */
	logd_fails("listen: \"127.0.0.1:99999\" is not ADDR:PORT", "-d", dir,
	    "-l", "127.0.0.1:99999", NULL);
	logd_fails("is not ADDR:PORT", "-d", dir, "-l", "localhost", NULL);
	ck_assert_int_ne(stat(dir, &st), 0);
	/* in a file, with its line */
	snprintf(conf, sizeof(conf), "%s/bad.conf", T.dir);
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "datadir = %s\nlisten = 127.0.0.1:65536\n", dir);
	fclose(f);
	logd_fails("bad.conf:2: listen:", "-C", conf, NULL);
	/* a UTF-8 byte-order mark is not part of the first key (it once
	 * made "\xef\xbb\xbfdatadir" an unknown key): line 2 is the error */
	snprintf(conf, sizeof(conf), "%s/bom.conf", T.dir);
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "\xef\xbb\xbf" "datadir = %s\nbogus = 1\n", dir);
	fclose(f);
	logd_fails("bom.conf:2: unknown key \"bogus\"", "-C", conf, NULL);
	/* --set sets any setting, and is checked like the file */
	logd_fails("--set bogus=1: unknown key \"bogus\"", "-d", dir, "--set",
	    "bogus=1", NULL);
	logd_fails("--set noequals: expected key=value", "-d", dir, "--set",
	    "noequals", NULL);
	logd_fails("max_frame_bytes: \"10\" is not an integer >= 1024", "-d",
	    dir, "--set", "max_frame_bytes=10", NULL);
	logd_fails("nothing to serve on", "-d", dir, "--set", "listen=none",
	    NULL);
	/* -s is a start time in the tools: logd's old letters are gone */
	logd_fails("invalid option '-s'", "-d", dir, "-s", "listen=none",
	    NULL);
	logd_fails("invalid option '-c'", "-c", conf, NULL);

	/* a daemon started with --set uses the setting */
	snprintf(sock, sizeof(sock), "%s/s2.sock", T.dir);
	argv[0] = (char *)testlogd_binary();
	argv[1] = "-d";
	argv[2] = dir;
	argv[3] = "--set";
	argv[4] = "listen=none";
	argv[5] = "-u";
	argv[6] = sock;
	argv[7] = "--set";
	argv[8] = "default.partitions=3";
	argv[9] = "--log-file";
	argv[10] = conf;
	argv[11] = "--set";
	argv[12] = "kafka_listen=none";
	argv[13] = "--set";
	argv[14] = "http_listen=none";
	argv[15] = NULL;
	snprintf(conf, sizeof(conf), "%s/d2.log", T.dir);
	ck_assert_int_eq(posix_spawn(&pid, argv[0], NULL, NULL, argv,
	    environ), 0);
	for (i = 0; i < 1000 && stat(sock, &st) != 0; i++)
		usleep(10000);
	expect(0, "created topic three\n", NULL, "logctl", "-b", sock,
	    "create", "three", NULL);
	run(&r, NULL, "logctl", "-b", sock, "describe", "three", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(out_of(&r), "topic three: 3 "
	    "partitions\n"));
	run_free(&r);
	kill(pid, SIGTERM);
	ck_assert_int_eq(wait_status(pid), 0);
}
END_TEST

/* ---- listeners on every interface are warned about ---- */

START_TEST(test_wildcard_warning)
{
	char dir[400], sock[420], logf[420], *log = NULL, *argv[20];
	struct stat st;
	size_t n = 0;
	pid_t pid;
	FILE *f;
	int i = 0;

	snprintf(dir, sizeof(dir), "%s/dw", T.dir);
	snprintf(sock, sizeof(sock), "%s/dw.sock", T.dir);
	snprintf(logf, sizeof(logf), "%s/dw.log", T.dir);
	argv[i++] = (char *)testlogd_binary();
	argv[i++] = "-d";
	argv[i++] = dir;
	argv[i++] = "-l";
	argv[i++] = "0.0.0.0:0";
	argv[i++] = "-u";
	argv[i++] = sock;
	argv[i++] = "--log-file";
	argv[i++] = logf;
	argv[i++] = "--set";
	argv[i++] = "kafka_listen=0.0.0.0:0";
	argv[i++] = "--set";
	argv[i++] = "kafka_advertised=127.0.0.1:9092";
	argv[i++] = "--set";
	argv[i++] = "http_listen=0.0.0.0:0";
	argv[i] = NULL;
	ck_assert_int_eq(posix_spawn(&pid, argv[0], NULL, NULL, argv,
	    environ), 0);
	for (i = 0; i < 1000 && stat(sock, &st) != 0; i++)
		usleep(10000);
	expect(0, NULL, NULL, "logctl", "-b", sock, "topics", NULL);
	kill(pid, SIGTERM);
	ck_assert_int_eq(wait_status(pid), 0);
	f = fopen(logf, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(getdelim(&log, &n, '\0', f), 0);
	fclose(f);
	ck_assert_msg(strstr(log, "warn: native listens on 0.0.0.0:0, every "
	    "network interface, and logd has no authentication: anyone who "
	    "can reach it can read, write and delete every topic") &&
	    strstr(log, "warn: kafka listens on 0.0.0.0:0, every network") &&
	    strstr(log, "warn: http listens on 0.0.0.0:0, every network"),
	    "%s", log);
	free(log);
	/* loopback only: no such warning */
	log = NULL;
	n = 0;
	f = fopen(T.logfile, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(getdelim(&log, &n, '\0', f), 0);
	fclose(f);
	ck_assert_ptr_null(strstr(log, "every network interface"));
	free(log);
}
END_TEST

/* ---- a LogAppendTime topic stamps what it appends ---- */

START_TEST(test_log_append_time)
{
	struct run r;
	long long before = (long long)time(NULL) * 1000, t;
	const char *p;
	int n = 0;

	expect(0, "created topic lat\n", NULL, "logctl", B, "create", "lat",
	    "--config", "message.timestamp.type=LogAppendTime", NULL);
	expect(0, "created topic ct\n", NULL, "logctl", B, "create", "ct",
	    NULL);
	/* readings stamped 2020-01-01 by the producer */
	expect(0, "", NULL, "sensorgen", B, "-q", "-t", "lat", "-c", "3",
	    "--seed", "1", "-s", "2020-01-01T00:00:00Z", NULL);
	expect(0, "", NULL, "sensorgen", B, "-q", "-t", "ct", "-c", "1",
	    "--seed", "1", "-s", "2020-01-01T00:00:00Z", NULL);
	/* CreateTime keeps the producer's time */
	expect(0, "1577836800000\n", NULL, "logtail", B, "-F", "%T\n", "ct",
	    NULL);
	/* LogAppendTime: the broker's clock, at or after the test began */
	run(&r, NULL, "logtail", B, "-F", "%T\n", "lat", NULL);
	ck_assert_int_eq(r.status, 0);
	for (p = out_of(&r); *p != '\0'; p = strchr(p, '\n') + 1) {
		t = atoll(p);
		ck_assert_int_ge(t, before - 1000);
		ck_assert_int_lt(t, before + 600000);
		n++;
	}
	ck_assert_int_eq(n, 3);
	run_free(&r);
}
END_TEST

/* ---- logbench: each test runs and reports what it did, as JSON ---- */

START_TEST(test_logbench)
{
	struct run r;

	setenv("LOGD_BROKER", T.addr, 1);
	run(&r, NULL, "logbench", "produce", "-c", "1000", "--size", "50",
	    "-a", "all", "-t", "lb", NULL);
	ck_assert_msg(r.status == 0, "%s", err_of(&r));
	check_json_lines(out_of(&r));
	ck_assert_ptr_nonnull(strstr(out_of(&r), "\"test\":\"produce\","
	    "\"topic\":\"lb\",\"records\":1000,\"record_size\":50,"
	    "\"acks\":\"all\""));
	ck_assert_ptr_nonnull(strstr(out_of(&r), "\"acked\":1000,"
	    "\"failed\":0"));
	run_free(&r);
	unsetenv("LOGD_BROKER");
	expect(0, NULL, NULL, "logctl", B, "describe", "lb", NULL);
	run(&r, NULL, "logbench", "consume", "-b", T.addr, "-c", "1000",
	    "-t", "lb", "-g", "bg", NULL);
	ck_assert_msg(r.status == 0, "%s", err_of(&r));
	check_json_lines(out_of(&r));
	ck_assert_ptr_nonnull(strstr(out_of(&r), "\"records\":1000,"
	    "\"bytes\":50000,"));
	run_free(&r);
	/* -b is the broker, as in the other tools; the batch is -z (a -b
	 * that reads as a batch says so); --addr still works (below), -a is
	 * the acks now and says so when given an address */
	expect_error(2, "logbench: -b 1000: -b is the broker address now",
	    "logbench", "produce", "-b", "1000", "-t", "lb", NULL);
	run(&r, NULL, "logbench", "produce", "--broker", T.addr, "-z", "10",
	    "-c", "100", "-t", "lb", NULL);
	ck_assert_msg(r.status == 0, "%s", err_of(&r));
	ck_assert_ptr_nonnull(strstr(out_of(&r), "\"acked\":100,"));
	run_free(&r);
	/* the group committed everything it read */
	run(&r, NULL, "logctl", B, "--json", "group", "bg", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(out_of(&r), "\"partition\":0,"
	    "\"offset\":1000,"));
	run_free(&r);
	expect_error(2, "logbench: -a 127.0.0.1:1: -a is the acks now",
	    "logbench", "latency", "-a", "127.0.0.1:1", "-t", "lat", NULL);
	run(&r, NULL, "logbench", "latency", "--addr", T.addr, "-r", "100",
	    "-D", "1", "-t", "lat", NULL);
	ck_assert_msg(r.status == 0, "%s", err_of(&r));
	check_json_lines(out_of(&r));
	ck_assert_ptr_nonnull(strstr(out_of(&r), "\"sent\":100,"
	    "\"received\":100,"));
	run_free(&r);
	expect_error(2, "unknown test", "logbench", "bogus", NULL);
}
END_TEST

/* ---- logd says what recovery truncated ---- */

START_TEST(test_recovery_log)
{
	struct logd_segment_report rep;
	char seg[700], *log = NULL;
	unsigned char junk[20];
	size_t n = 0;
	FILE *f;

	create_topic("rc", "1");
	expect(0, "", "a\nb\nc\n", "logput", B, "-q", "rc", NULL);
	ck_assert_int_eq(testlogd_kill9(&T), 0);
	/* a torn write after the last batch: non-zero garbage */
	snprintf(seg, sizeof(seg), "%s/topics/rc-0/00000000000000000000.log",
	    T.datadir);
	ck_assert_int_eq(logd_segment_verify(seg, &rep), 0);
	ck_assert_int_eq(rep.next_offset, 3);
	ck_assert_uint_gt(rep.valid_bytes, 0);
	f = fopen(seg, "r+");
	ck_assert_ptr_nonnull(f);
	memset(junk, 0xab, sizeof(junk));
	ck_assert_int_eq(fseek(f, (long)rep.valid_bytes, SEEK_SET), 0);
	ck_assert_uint_eq(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	fclose(f);
	ck_assert_int_eq(testlogd_restart(&T), 0);
	f = fopen(T.logfile, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(getdelim(&log, &n, '\0', f), 0);
	fclose(f);
	ck_assert_msg(strstr(log, "warn: recovery of rc-0 truncated ") !=
	    NULL, "logd's log: %s", log);
	free(log);
	log = NULL;
	n = 0;
	/* the three records are intact and appends continue after them */
	expect(0, "", "d\n", "logput", B, "-q", "rc", NULL);
	expect(0, "0 a\n1 b\n2 c\n3 d\n", NULL, "logtail", B, "-F", "%o %s\n",
	    "rc", NULL);

	/* damage to synced data is not truncated away: logd refuses to
	 * start and says how to find it */
	ck_assert_int_eq(testlogd_term(&T), 0);
	f = fopen(seg, "r+");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 70, SEEK_SET), 0);
	ck_assert_uint_eq(fwrite(junk, 1, 1, f), 1);
	fclose(f);
	{
		char *argv[] = { "logd", "-C", T.conf, NULL }, err[512];

		ck_assert_int_eq(testlogd_run(argv, 10000, err, sizeof(err)),
		    1);
	}
	f = fopen(T.logfile, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(getdelim(&log, &n, '\0', f), 0);
	fclose(f);
	ck_assert_msg(strstr(log, "stored data is corrupt; 'logctl verify ") !=
	    NULL, "logd's log: %s", log);
	free(log);
	expect(1, NULL, NULL, "logctl", "verify", T.datadir, NULL);
}
END_TEST

/* ---- a stored batch that cannot be read: named, and skipped ---- */

/*
 * Appends to topic's partition 0, logd stopped, a batch of one plain
 * record whose attributes say gzip (with a good CRC), as logd stored it
 * before it checked batches: logd_log_append() checks only framing.
 */
static void store_poison(const char *topic)
{
	struct logd_batch_builder *b;
	struct logd_log_config cfg;
	struct logd_log *log;
	const uint8_t *batch;
	uint8_t *bad;
	char dir[700];
	uint32_t crc;
	size_t len;

	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	ck_assert_int_eq(logd_batch_builder_add(b, tool_now_ms(), NULL, 0,
	    "plain", 5, NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(b, &batch, &len), 0);
	bad = malloc(len);
	ck_assert_ptr_nonnull(bad);
	memcpy(bad, batch, len);
	bad[22] |= LOGD_CODEC_GZIP;
	crc = logd_crc32c(0, bad + 21, len - 21);
	bad[17] = (uint8_t)(crc >> 24);
	bad[18] = (uint8_t)(crc >> 16);
	bad[19] = (uint8_t)(crc >> 8);
	bad[20] = (uint8_t)crc;
	snprintf(dir, sizeof(dir), "%s/topics/%s-0", T.datadir, topic);
	logd_log_config_default(&cfg);
	ck_assert_int_eq(logd_log_open(dir, &cfg, tool_now_ms(), &log, NULL),
	    0);
	ck_assert_int_eq(logd_log_append(log, bad, len, tool_now_ms(), NULL,
	    NULL), 0);
	logd_log_close(log);
	free(bad);
	logd_batch_builder_free(b);
}

START_TEST(test_skip_bad)
{
	struct run r;

	create_topic("pz", "1");
	expect(0, "", "a\nb\nc\n", "logput", B, "-q", "pz", NULL);
	ck_assert_int_eq(testlogd_term(&T), 0);
	store_poison("pz");
	ck_assert_int_eq(testlogd_restart(&T), 0);
	expect(0, "", "d\ne\n", "logput", B, "-q", "pz", NULL);

	/* replay stops there, naming topic, partition and offsets */
	run(&r, NULL, "logtail", B, "-F", "%o %s\n", "pz", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(out_of(&r), "0 a\n1 b\n2 c\n");
	ck_assert_msg(strstr(err_of(&r), "pz partition 0 offset 3: the batch "
	    "of offsets 3..3 cannot be read (gzip batch does not inflate") &&
	    strstr(err_of(&r), "--skip-bad"), "%s", err_of(&r));
	run_free(&r);
	/* --skip-bad reads every other record, and says what it skipped */
	run(&r, NULL, "logtail", B, "--skip-bad", "-F", "%o %s\n", "pz",
	    NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(out_of(&r), "0 a\n1 b\n2 c\n4 d\n5 e\n");
	ck_assert_msg(strstr(err_of(&r), "warning: pz partition 0: skipped "
	    "the batch of offsets 3..3"), "%s", err_of(&r));
	run_free(&r);

	/* a group member (liblogd's consumer) fails there on every run */
	run(&r, NULL, "logtail", B, "-g", "gz", "-F", "%o %s\n", "pz", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(err_of(&r), "pz/0 at offset 3: the batch of "
	    "offsets 3..3 cannot be read"), "%s", err_of(&r));
	run_free(&r);
	run(&r, NULL, "logtail", B, "-g", "gz", "-F", "%o %s\n", "pz", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(out_of(&r), "");
	run_free(&r);
	/* with --skip-bad it reads past it and commits past it */
	run(&r, NULL, "logtail", B, "-g", "gz", "--skip-bad", "-F",
	    "%o %s\n", "pz", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(out_of(&r), "4 d\n5 e\n");
	ck_assert_msg(strstr(err_of(&r), "warning: pz/0 at offset 3: the "
	    "batch of offsets 3..3 cannot be read"), "%s", err_of(&r));
	run_free(&r);
	expect(0, "", NULL, "logtail", B, "-g", "gz", "pz", NULL);
	/* the same past the batch when it is the last one stored */
	ck_assert_int_eq(testlogd_term(&T), 0);
	store_poison("pz");
	ck_assert_int_eq(testlogd_restart(&T), 0);
	expect(1, "", NULL, "logtail", B, "-g", "gz", "pz", NULL);
	expect(0, "", NULL, "logtail", B, "-g", "gz", "--skip-bad", "pz",
	    NULL);
	expect(0, "", NULL, "logtail", B, "-g", "gz", "pz", NULL);
	expect(0, "", "f\n", "logput", B, "-q", "pz", NULL);
	expect(0, "7 f\n", NULL, "logtail", B, "-g", "gz", "-F", "%o %s\n",
	    "pz", NULL);
}
END_TEST

/* ---- logd at max_connections: logctl says so, not "protocol error" ---- */

START_TEST(test_max_connections_msg)
{
	struct logd_client *c = NULL;
	struct run r;

	testlogd_stop(&T);
	memset(&T, 0, sizeof(T));
	ck_assert_int_eq(testlogd_start(&T, "max_connections = 1\n"), 0);
	usleep(100000);   /* testlogd's readiness probe has gone */
	ck_assert_int_eq(logd_client_open(T.addr, NULL, &c), 0);
	run(&r, NULL, "logctl", B, "topics", NULL);
	ck_assert_int_eq(r.status, 3);
	ck_assert_msg(strstr(err_of(&r), "logd closed the connection before "
	    "answering (it refuses clients past its max_connections"), "%s",
	    err_of(&r));
	run_free(&r);
	logd_client_close(c);
	usleep(100000);
	expect(0, NULL, NULL, "logctl", B, "topics", NULL);
}
END_TEST

/* ---- group commit: one sync answers several acks=all requests ---- */

START_TEST(test_group_commit)
{
	struct tool_buf in = TOOL_BUF_INIT;
	char *log = NULL, *p;
	size_t n = 0;
	long syncs = 0, answered = 0, most = 0;
	FILE *f;
	int i;

	create_topic("gc", "4");
	for (i = 0; i < 4000; i++)
		tool_buf_printf(&in, "k%d:reading %d\n", i % 97, i);
	tool_buf_addc(&in, '\0');
	/* tiny batches, several in flight per partition, acks=all */
	expect(0, "", in.data, "logput", B, "-q", "-a", "all", "-z", "64",
	    "-K", ":", "gc", NULL);
	tool_buf_free(&in);
	f = fopen(T.logfile, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(getdelim(&log, &n, '\0', f), 0);
	fclose(f);
	for (p = log; (p = strstr(p, "debug: sync of ")) != NULL; p++) {
		long k;
		const char *a = strstr(p, " answered ");

		ck_assert_ptr_nonnull(a);
		k = atol(a + 10);
		syncs++;
		answered += k;
		if (k > most)
			most = k;
	}
	free(log);
	/* every request was answered after a sync, and fewer syncs ran
	 * than requests were answered */
	ck_assert_int_gt(answered, 4000 / 64);
	ck_assert_msg(syncs < answered, "%ld syncs for %ld requests "
	    "(at most %ld per sync)", syncs, answered, most);
	ck_assert_int_ge(most, 2);
	expect(0, NULL, NULL, "logtail", B, "-c", "4000", "gc", NULL);
}
END_TEST

static Suite *tools_suite(void)
{
	Suite *s = suite_create("tools");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "replay_offsets", test_replay_offsets },
		{ "replay_times", test_replay_times },
		{ "replay_merged", test_replay_merged },
		{ "follow", test_follow },
		{ "follow_all_partitions", test_follow_all_partitions },
		{ "follow_reconnect", test_follow_reconnect },
		{ "follow_group_reconnect", test_follow_group_reconnect },
		{ "group_resume", test_group_resume },
		{ "json", test_json },
		{ "json_listings", test_json_listings },
		{ "verify", test_verify },
		{ "bad_usage", test_bad_usage },
		{ "admin", test_admin },
		{ "logd_usage", test_logd_usage },
		{ "log_append_time", test_log_append_time },
		{ "logbench", test_logbench },
		{ "recovery_log", test_recovery_log },
		{ "group_commit", test_group_commit },
		{ "skip_bad", test_skip_bad },
		{ "max_connections_msg", test_max_connections_msg },
		{ "wildcard_warning", test_wildcard_warning },
		{ "batch_fits", test_batch_fits },
		{ "help", test_help },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 60);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	{
		TCase *tc = tcase_create("below_start");

		tcase_add_checked_fixture(tc, setup_retention, teardown);
		tcase_set_timeout(tc, 60);
		tcase_add_test(tc, test_below_start);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tools_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
