/*
 * cleaner.c - log compaction for topics with cleanup.policy compact, on
 * a thread of its own.
 *
 * A clean reads every cleanable segment of a partition and writes most
 * of them again: seconds of disk work that must stall neither produce
 * nor fetch, nor the flusher's syncs (acks=all latency).  So it runs on
 * this file's thread, one partition at a time, in liblogd's three steps:
 * logd_log_clean_begin() on the loop (picks segments, takes references),
 * logd_clean_run() on the thread (reads the maps, writes, syncs, renames),
 * logd_log_clean_end() back on the loop (puts the new segments in the
 * log: pointer swaps).  Meanwhile appends, reads and flushes go on; what
 * must not run while segments are held (retention, topic deletes) waits
 * in commit.c's idle queue (commit_idle_hold()).
 *
 * Work comes from two places: every cleaner_check_ms a sweep of the
 * compacted topics starts a clean for each partition whose dirty ratio
 * reached min.cleanable.dirty.ratio (one after the other, until none
 * is left), and COMPACT requests (logctl compact) queue forced cleans
 * of a topic's partitions, answered when the last one is done.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "broker.h"

struct cjob {
	struct logd_clean *c;
	struct logd_log *log;
	char topic[LOGD_TOPIC_NAME_MAX + 1];
	int32_t partition;
	struct compact_op *op;     /* NULL: from the sweep */
	int rc;
};

static pthread_t thread;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct cjob *todo, *finished;   /* under lock */
static int quit, running;
static struct ev_io efd_io = { .fd = -1 };
static struct ev_timer timer, retry;

static struct cjob *cur;               /* begun, not ended (loop) */

/* Partitions whose last clean failed: the sweep leaves them alone for a
 * minute, so that one failing partition neither spins nor starves the
 * others. */
#define BACKOFF_MS 60000
#define NBACKOFF 16
static struct backoff {
	struct logd_log *log;
	int64_t until;             /* ev_now() */
} backoff[NBACKOFF];
static struct compact_op *ops, **ops_tail = &ops;
static int sweep_due;

/*
 * The cleaner yields to the loop and the flusher: its thread runs at nice
 * 10 and at the lowest best-effort I/O priority (for I/O schedulers that
 * honour it).  Failures only lose the courtesy.
 */
static void lower_priority(void)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);

	(void)setpriority(PRIO_PROCESS, (id_t)tid, 10);
#ifdef SYS_ioprio_set
	/* IOPRIO_WHO_PROCESS, IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 7) */
	(void)syscall(SYS_ioprio_set, 1, tid, (2 << 13) | 7);
#endif
}

static void *cleaner_main(void *arg)
{
	struct cjob *j;
	uint64_t one = 1;

	(void)arg;
	lower_priority();
	pthread_mutex_lock(&lock);
	for (;;) {
		while (!todo && !quit)
			pthread_cond_wait(&cond, &lock);
		if (!todo)
			break;
		j = todo;
		todo = NULL;
		pthread_mutex_unlock(&lock);
		j->rc = logd_clean_run(j->c);
		pthread_mutex_lock(&lock);
		finished = j;
		if (write(efd_io.fd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow */
		}
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void kick(void);

/* On the loop: the end of a clean. */
static void job_end(struct cjob *j)
{
	struct logd_clean_stats st;
	struct compact_op *op = j->op;
	int rc;

	rc = logd_log_clean_end(j->log, j->c, &st);
	cur = NULL;
	commit_idle_release();
	if (rc && rc != -ECANCELED)
		log_error("cleaning %s-%" PRId32 " failed: %s", j->topic,
		    j->partition, logd_strerror(rc));
	else if (!rc)
		log_info("cleaned %s-%" PRId32 ": %" PRIu32 " segment%s "
		    "rewritten (%" PRIu32 " deleted), %" PRIu64 " of %" PRIu64
		    " records kept (%" PRIu64 " tombstones and %" PRIu64
		    " keyless dropped), %" PRIu64 " -> %" PRIu64 " bytes in %"
		    PRId64 " ms; clean up to offset %" PRId64, j->topic,
		    j->partition, st.segments, st.segments == 1 ? "" : "s",
		    st.deleted, st.records_kept, st.records_read,
		    st.tombstones_dropped, st.keyless_dropped, st.bytes_before,
		    st.bytes_after, st.run_ms, st.clean_point);
	if (op) {
		op->tries = 0;
		if (rc && !op->err) {
			op->err = rc;
			snprintf(op->msg, sizeof(op->msg), "cleaning %.200s-%"
			    PRId32 " failed: %s", j->topic, j->partition,
			    logd_strerror(rc));
		} else if (!rc) {
			op->partitions++;
			op->st.segments += st.segments;
			op->st.deleted += st.deleted;
			op->st.bytes_before += st.bytes_before;
			op->st.bytes_after += st.bytes_after;
			op->st.records_read += st.records_read;
			op->st.records_kept += st.records_kept;
			op->st.tombstones_dropped += st.tombstones_dropped;
			op->st.keyless_dropped += st.keyless_dropped;
			op->st.keys += st.keys;
			op->st.run_ms += st.run_ms;
		}
	} else if (rc) {
		size_t i, k = 0;

		for (i = 1; i < NBACKOFF; i++)
			if (backoff[i].until < backoff[k].until)
				k = i;
		backoff[k].log = j->log;
		backoff[k].until = ev_now() + BACKOFF_MS;
	} else {
		sweep_due = 1;   /* go on with the sweep */
	}
	free(j);
	kick();
}

static void on_done(struct ev_io *io, uint32_t events)
{
	struct cjob *j;
	uint64_t n;

	(void)events;
	if (read(io->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_error("cleaner eventfd: %s", strerror(errno));
	pthread_mutex_lock(&lock);
	j = finished;
	finished = NULL;
	pthread_mutex_unlock(&lock);
	if (j)
		job_end(j);
}

/* Begins a clean of topic/partition: 1 when one started, 0 when there
 * was nothing to do, or an error. */
static int start_job(const char *topic, int32_t partition, unsigned flags,
    struct compact_op *op)
{
	struct logd_clean *c;
	struct logd_log *log;
	struct cjob *j;
	int rc;

	if ((rc = logd_store_log(srv.store, topic, partition, &log)))
		return rc;
	if (!op) {
		size_t i;

		for (i = 0; i < NBACKOFF; i++)
			if (backoff[i].log == log && backoff[i].until > ev_now())
				return 0;
	}
	rc = logd_log_clean_begin(log, ev_wall(), flags,
	    (size_t)srv.cfg.cleaner_map_bytes, &c);
	if (rc || !c)
		return rc;
	logd_clean_set_io_limit(c, srv.cfg.cleaner_io_bytes_per_sec);
	j = calloc(1, sizeof(*j));
	if (!j) {
		/* ending it unrun leaves everything as it was */
		logd_clean_cancel(c);
		logd_log_clean_end(log, c, NULL);
		return -ENOMEM;
	}
	j->c = c;
	j->log = log;
	snprintf(j->topic, sizeof(j->topic), "%s", topic);
	j->partition = partition;
	j->op = op;
	cur = j;
	commit_idle_hold();
	pthread_mutex_lock(&lock);
	todo = j;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	return 1;
}

static int sweep_topic(void *arg, const char *name,
    const struct logd_topic_config *cfg)
{
	int32_t p;
	int rc;

	(void)arg;
	if (!(cfg->log.cleanup_policy & LOGD_CLEANUP_COMPACT))
		return 0;
	for (p = 0; p < cfg->partitions; p++) {
		rc = start_job(name, p, 0, NULL);
		if (rc == 1)
			return 1;
		if (rc < 0 && rc != LOGD_EREADONLY)
			log_warn("cannot start cleaning %s-%" PRId32 ": %s",
			    name, p, logd_strerror(rc));
	}
	return 0;
}

/*
 * A forced clean that found nothing cleanable while the partition has
 * data not yet synced: segments become cleanable once a sync covers them
 * (and writes the recovery point).  Asks for that sync and tries again
 * shortly, for up to 5 s.
 */
static int wait_sync(struct compact_op *op, int32_t p)
{
	struct logd_log *log;

	if (op->tries >= 100 || logd_store_log(srv.store, op->topic, p, &log) ||
	    logd_log_segment_count(log) < 2 ||
	    logd_log_flushed_offset(log) >= logd_log_end_offset(log))
		return 0;
	op->tries++;
	commit_flush_due();
	ev_timer_start(&retry, 50);
	return 1;
}

static void on_retry(struct ev_timer *t)
{
	(void)t;
	kick();
}

/* Starts the next clean: queued requests first, then the sweep. */
static void kick(void)
{
	struct compact_op *op;
	int rc;

	if (cur || !running)
		return;
	while ((op = ops)) {
		while (op->at < op->count) {
			int32_t p = op->at;

			rc = start_job(op->topic, p, LOGD_CLEAN_FORCE, op);
			if (rc == 1) {
				op->at++;
				return;
			}
			if (rc == 0 && wait_sync(op, p))
				return;
			op->at++;
			op->tries = 0;
			if (rc == 0)
				op->partitions++;
			if (rc < 0 && !op->err) {
				op->err = rc;
				snprintf(op->msg, sizeof(op->msg), "cannot "
				    "clean %.200s-%" PRId32 ": %s", op->topic, p,
				    logd_strerror(rc));
			}
		}
		ops = op->next;
		if (!ops)
			ops_tail = &ops;
		op->done(op);
	}
	if (sweep_due) {
		sweep_due = 0;
		logd_store_topics(srv.store, sweep_topic, NULL);
	}
}

static void on_timer(struct ev_timer *t)
{
	sweep_due = 1;
	kick();
	ev_timer_start(t, srv.cfg.cleaner_check_ms);
}

void cleaner_compact(struct compact_op *op)
{
	struct logd_topic_config tc;
	int rc;

	op->err = 0;
	op->msg[0] = '\0';
	op->partitions = 0;
	memset(&op->st, 0, sizeof(op->st));
	op->next = NULL;
	rc = logd_store_topic_config(srv.store, op->topic, &tc);
	if (rc) {
		op->err = rc;
		snprintf(op->msg, sizeof(op->msg), "unknown topic %.200s",
		    op->topic);
	} else if (!(tc.log.cleanup_policy & LOGD_CLEANUP_COMPACT)) {
		op->err = LOGD_EBADCONFIG;
		snprintf(op->msg, sizeof(op->msg), "topic %.100s is not "
		    "compacted (cleanup.policy is delete): set cleanup.policy "
		    "to compact or compact,delete first", op->topic);
	} else if (op->partition >= tc.partitions || op->partition < -1) {
		op->err = LOGD_ENOPART;
		snprintf(op->msg, sizeof(op->msg), "topic %.200s has no "
		    "partition %" PRId32, op->topic, op->partition);
	} else if (!running) {
		op->err = LOGD_ECLOSED;
		snprintf(op->msg, sizeof(op->msg), "logd is stopping");
	}
	if (op->err) {
		op->done(op);
		return;
	}
	op->at = op->partition < 0 ? 0 : op->partition;
	op->count = op->partition < 0 ? tc.partitions : op->partition + 1;
	*ops_tail = op;
	ops_tail = &op->next;
	kick();
}

int cleaner_start(void)
{
	int rc;

	efd_io.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd_io.fd < 0)
		return -errno;
	efd_io.fn = on_done;
	if ((rc = ev_add(&efd_io, EPOLLIN)))
		return rc;
	if ((rc = pthread_create(&thread, NULL, cleaner_main, NULL)))
		return -rc;
	running = 1;
	timer.fn = on_timer;
	retry.fn = on_retry;
	if (srv.cfg.cleaner_check_ms > 0)
		ev_timer_start(&timer, srv.cfg.cleaner_check_ms);
	return 0;
}

void cleaner_stop(void)
{
	struct compact_op *op;
	struct cjob *j;

	if (!running)
		return;
	running = 0;
	ev_timer_stop(&timer);
	ev_timer_stop(&retry);
	if (cur)
		logd_clean_cancel(cur->c);
	pthread_mutex_lock(&lock);
	quit = 1;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	pthread_mutex_lock(&lock);
	j = finished ? finished : todo;
	finished = todo = NULL;
	pthread_mutex_unlock(&lock);
	if (j)
		job_end(j);
	while ((op = ops)) {
		ops = op->next;
		if (!op->err) {
			op->err = LOGD_ECLOSED;
			snprintf(op->msg, sizeof(op->msg), "logd is stopping");
		}
		op->done(op);
	}
	ops_tail = &ops;
	ev_del(&efd_io);
	close(efd_io.fd);
	efd_io.fd = -1;
}
