/*
 * testlogd.h - start a real logd for an integration test.
 *
 * testlogd_start() makes a mkdtemp directory holding the datadir, a
 * config file, the log file and the Unix socket, picks a free TCP port on
 * 127.0.0.1, runs $LOGD_BUILDDIR/logd/logd -c <conf> and waits until it
 * accepts connections.  The daemon dies with the test process
 * (PR_SET_PDEATHSIG), so a failed assertion never leaves one behind.
 * testlogd_stop() always stops it (SIGTERM, then SIGKILL after 10 s) and
 * removes the directory.
 */
#ifndef TESTLOGD_H
#define TESTLOGD_H

#include <sys/types.h>

struct testlogd {
	pid_t pid;                /* 0 when not running */
	int port;                 /* TCP port on 127.0.0.1 */
	char addr[32];            /* "127.0.0.1:<port>" */
	char dir[256];            /* the temporary directory */
	char datadir[300];        /* <dir>/data */
	char unix_path[300];      /* <dir>/logd.sock */
	char conf[300];           /* <dir>/logd.conf */
	char logfile[300];        /* <dir>/logd.log: the daemon's log */
	char extra[4096];         /* extra config lines, kept for restart */
};

/*
 * Starts logd.  extra_conf (may be NULL) is appended to the generated
 * config (lines of "key = value").  Returns 0, or -1 after printing why
 * (with the daemon's log) to stderr.
 */
int testlogd_start(struct testlogd *t, const char *extra_conf);

/* Stops logd (if running) and removes the directory.  Accepts a zeroed
 * struct. */
void testlogd_stop(struct testlogd *t);

/*
 * SIGTERM, then waits up to 10 s.  Returns the exit status (0..255), 128 +
 * signal if killed by a signal, -1 on timeout (then SIGKILLed).  Keeps the
 * directory, so testlogd_restart() finds the data again.
 */
int testlogd_term(struct testlogd *t);

/* SIGKILL and reap.  Keeps the directory.  Returns 0 or -1. */
int testlogd_kill9(struct testlogd *t);

/* Starts logd again on the same directory, port and config.  0 or -1. */
int testlogd_restart(struct testlogd *t);

/* Open descriptors of process pid, and its CPU time in clock ticks
 * (from /proc; abort() when they cannot be read). */
int testlogd_proc_fds(pid_t pid);
long testlogd_cpu_ticks(pid_t pid);

/* The port its Kafka listener bound (from its log), or -1. */
int testlogd_kafka_port(const struct testlogd *t);

/* A blocking TCP socket connected to the daemon, or -1. */
int testlogd_connect(const struct testlogd *t);

/* A blocking socket connected to the daemon's Unix socket, or -1. */
int testlogd_connect_unix(const struct testlogd *t);

/*
 * Runs logd with argv (argv[0] is ignored and replaced by the binary's
 * path; NULL-terminated), waits up to timeout_ms for it to exit, and
 * copies what it printed on stderr into err (NUL-terminated, truncated).
 * Returns its exit status, or -1 if it had to be killed.
 */
int testlogd_run(char *const argv[], int timeout_ms, char *err,
    size_t err_size);

/* The path of the logd binary ($LOGD_BUILDDIR/logd/logd). */
const char *testlogd_binary(void);

#endif /* TESTLOGD_H */
