/*
 * server.c - the daemon's life: open the store, listen, run the loop,
 * shut down cleanly.
 *
 * Signals arrive through a signalfd (blocked in every thread, so the
 * flusher never sees one): SIGTERM and SIGINT start the shutdown, SIGHUP
 * reopens the log file.  Shutdown: close the listeners, stop reading,
 * answer parked fetches with what there is and held group joins with
 * LOGD_ECLOSED (group.c), let the last flush answer every acks=all
 * produce, write what is queued (at most 5 s for clients that do not
 * read), then join the flusher and close the store, which syncs
 * everything.
 *
 * Timers: flush_ms (background sync of acks=1 data), retention_check_ms
 * (logd_store_retain), and an idle sweep for idle_timeout_ms.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker.h"

struct server srv;

static struct ev_io sig_io = { .fd = -1 };
static struct ev_timer flush_timer, retain_timer, idle_timer, stop_timer;

static void on_flush_timer(struct ev_timer *t)
{
	commit_flush_due();
	ev_timer_start(t, srv.cfg.flush_ms);
}

static int retain_queued;

/* Retention unmaps segments: not while the flusher holds them. */
/* Retention deleted segments: say which, how much, and the new start. */
static void retained(void *arg, const char *topic, int32_t partition,
    const struct logd_retained *r)
{
	(void)arg;
	log_info("retention deleted %" PRIu32 " segment%s (%" PRIu64
	    " bytes) of %s-%" PRId32 ": the log now starts at offset %"
	    PRId64 " (was %" PRId64 ")", r->segments, r->segments == 1 ?
	    "" : "s", r->bytes, topic, partition, r->new_start, r->old_start);
}

static void retain(void *arg)
{
	retain_queued = 0;
	logd_store_retain(srv.store, ev_wall(), retained, NULL);
}

static void on_retain_timer(struct ev_timer *t)
{
	if (!retain_queued) {
		retain_queued = 1;
		if (commit_when_idle(retain, NULL))
			retain_queued = 0;
	}
	ev_timer_start(t, srv.cfg.retention_check_ms);
}

static int64_t idle_period(void)
{
	int64_t p = srv.cfg.idle_timeout_ms / 4;

	return p < 100 ? 100 : p > 1000 ? 1000 : p;
}

static void on_idle_timer(struct ev_timer *t)
{
	conn_sweep_idle();
	ev_timer_start(t, idle_period());
}

static void on_stop_timer(struct ev_timer *t)
{
	log_warn("shutdown: gave up waiting for slow clients after 5 s");
	ev_stop();
}

static void begin_shutdown(const char *why)
{
	struct conn *c, *next;

	if (srv.stopping)
		return;
	log_info("%s: shutting down", why);
	srv.stopping = 1;
	listen_stop();
	broker_shutdown();
	group_shutdown();
	for (c = srv.conns; c; c = next) {
		next = c->next;
		conn_drain(c);
	}
	stop_timer.fn = on_stop_timer;
	ev_timer_start(&stop_timer, 5000);
}

static void on_signal(struct ev_io *io, uint32_t events)
{
	struct signalfd_siginfo si;

	while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			log_reopen();
		else
			begin_shutdown(si.ssi_signo == SIGINT ? "SIGINT" :
			    "SIGTERM");
	}
}

void server_before_sleep(void)
{
	int i;

	/*
	 * Writing resumes connections that stopped (backpressure, or a
	 * serial connection whose request was just answered), and the
	 * requests they then serve may append or wait for a sync: look
	 * again, or those would wait for the next event (flush_ms).
	 */
	for (i = 0; i < 8; i++) {
		broker_before_sleep();
		commit_before_sleep();
		conn_write_dirty();
		if (!broker_woken() && !commit_due())
			break;
	}
	conn_free_dead();
	if (srv.stopping && !srv.conns && !broker_busy())
		ev_stop();
}

static void on_recover(void *arg, const char *topic, int32_t partition,
    const struct logd_recovery *rec)
{
	log_info("opened %s-%d: offsets %lld..%lld, %u segments, %u batches "
	    "checked", topic, partition, (long long)rec->start_offset,
	    (long long)rec->end_offset, rec->segments,
	    rec->scanned_batches);
	if (rec->truncated_bytes)
		log_warn("recovery of %s-%d truncated %llu invalid bytes at "
		    "the end of the log", topic, partition,
		    (unsigned long long)rec->truncated_bytes);
}

static int open_store(void)
{
	int rc;

	if (mkdir(srv.cfg.datadir, 0700) && errno != EEXIST) {
		log_error("cannot create datadir %s: %s", srv.cfg.datadir,
		    strerror(errno));
		return -1;
	}
	rc = logd_store_open(srv.cfg.datadir, LOGD_STORE_CREATE, ev_wall(),
	    on_recover, NULL, &srv.store);
	if (rc == LOGD_ELOCKED) {
		log_error("datadir %s is in use by another logd",
		    srv.cfg.datadir);
		return -1;
	}
	if (rc == LOGD_ECORRUPT) {
		/* Synced data failed its check: never truncated away. */
		log_error("cannot open datadir %s: %s; 'logctl verify %s' "
		    "names the damaged segment", srv.cfg.datadir,
		    logd_strerror(rc), srv.cfg.datadir);
		return -1;
	}
	if (rc) {
		log_error("cannot open datadir %s: %s", srv.cfg.datadir,
		    logd_strerror(rc));
		return -1;
	}
	return 0;
}

static int signals_start(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sig_io.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig_io.fd < 0)
		return -errno;
	sig_io.fn = on_signal;
	return ev_add(&sig_io, EPOLLIN);
}

/*
 * Raises the soft open-files limit to the hard one, as servers do: each
 * connection takes a descriptor, and so do the active and not yet synced
 * segments of every partition.  Says so when max_connections cannot fit
 * (accepting then pauses at the limit instead of failing; listen.c).
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < srv.cfg.max_connections + 64)
		log_warn("open files limit %llu is low for max_connections "
		    "%llu (raise it with ulimit -n or LimitNOFILE)",
		    (unsigned long long)rl.rlim_cur,
		    (unsigned long long)srv.cfg.max_connections);
}

/*
 * Runs the daemon with srv.cfg.  Signals SIGTERM, SIGINT and SIGHUP must
 * already be blocked.  Returns the exit status.
 */
int server_run(void)
{
	struct conn *c;
	int rc, status = 1;

	if ((rc = ev_init())) {
		log_error("epoll: %s", strerror(-rc));
		return 1;
	}
	srv.started_ms = ev_now();
	raise_nofile();
	group_init();
	if ((rc = signals_start())) {
		log_error("signalfd: %s", strerror(-rc));
		goto out;
	}
	if (open_store())
		goto out;
	if (listen_start())
		goto out_store;
	if ((rc = flusher_start())) {
		log_error("cannot start the flusher thread: %s",
		    strerror(-rc));
		goto out_listen;
	}
	if ((rc = cleaner_start())) {
		log_error("cannot start the cleaner thread: %s",
		    strerror(-rc));
		flusher_stop();
		goto out_listen;
	}
	flush_timer.fn = on_flush_timer;
	ev_timer_start(&flush_timer, srv.cfg.flush_ms);
	retain_timer.fn = on_retain_timer;
	ev_timer_start(&retain_timer, srv.cfg.retention_check_ms);
	idle_timer.fn = on_idle_timer;
	if (srv.cfg.idle_timeout_ms > 0)
		ev_timer_start(&idle_timer, idle_period());
	log_info("logd %s serving %s", LOGD_VERSION_STRING, srv.cfg.datadir);

	ev_run(server_before_sleep);

	while ((c = srv.conns))
		conn_close(c, "shutdown");
	cleaner_stop();
	flusher_stop();
	group_free_all();
	conn_free_dead();
	broker_free_all();
	status = 0;
out_listen:
	listen_stop();
out_store:
	logd_store_close(srv.store);
	srv.store = NULL;
	if (!status)
		log_info("stopped cleanly");
out:
	if (sig_io.fd >= 0)
		close(sig_io.fd);
	ev_free();
	return status;
}
