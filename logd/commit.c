/*
 * commit.c - group commit: one sync answers every acks=all request
 * appended before it began.
 *
 * Every log appended to joins the dirty set (a flag and a list on its
 * plog: O(1) per append, no scan).  At the end of a loop turn
 * (commit_before_sleep) with acks=all requests waiting, or once flush_ms
 * has passed (acks=1 data), and no flush running, every dirty log gets
 * logd_log_flush_begin() and the lot goes to the flusher thread as one
 * job.  Appends go on meanwhile; they are dirty again and covered by the
 * next flush.  When the job is done, logd_log_flush_end() runs for each
 * log on the loop thread and the waiters of those logs whose last offset
 * is now below the flushed offset are answered.  A failed sync never
 * produces a success: its waiters get LOGD_EREADONLY (the log refuses
 * appends from then on).
 *
 * What must not run while the flusher holds logs (deleting a topic, the
 * retention check, which close and unmap segments) waits in a queue for
 * the end of the running flush: commit_when_idle().  The cleaner holds
 * the same queue while it rewrites segments (commit_idle_hold()).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

struct flush_job {
	struct fjob job;
	size_t n;
	struct plog **pls;
	struct logd_flush **fl;
	int *rcs;
	int64_t ns;                /* how long the syncs took */
};

struct idle_fn {
	struct idle_fn *next;
	void (*fn)(void *arg);
	void *arg;
};

static struct plog *dirty;          /* the dirty set */
static size_t nwaiting;             /* sync_waits on any log */
static int flushing, flush_due;
static int held;                    /* commit_idle_hold() */
static struct idle_fn *idle, **idle_tail = &idle;

void commit_dirty(struct plog *pl)
{
	if (pl->dirty)
		return;
	pl->dirty = 1;
	pl->dnext = dirty;
	dirty = pl;
}

static void wait_unlink(struct sync_wait *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		w->pl->syncs = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->next = w->prev = NULL;
	w->pl = NULL;
	nwaiting--;
}

void commit_wait(struct sync_wait *w)
{
	struct plog *pl = w->pl;

	w->prev = NULL;
	w->next = pl->syncs;
	if (pl->syncs)
		pl->syncs->prev = w;
	pl->syncs = w;
	nwaiting++;
}

void commit_wait_cancel(struct sync_wait *w)
{
	if (w->pl)
		wait_unlink(w);
}

/*
 * Answers pl's waiters: err for all of them, or (err 0) those the
 * flushed offset now covers.  Returns how many were answered.
 */
static int resolve(struct plog *pl, int err)
{
	int64_t flushed = logd_log_flushed_offset(pl->log);
	struct sync_wait *w, *next;
	int n = 0;

	for (w = pl->syncs; w; w = next) {
		next = w->next;
		if (!err && flushed <= w->last)
			continue;
		wait_unlink(w);
		w->done(w, err);
		n++;
	}
	return n;
}

static void run_idle(void)
{
	struct idle_fn *f;

	while (!flushing && !held && (f = idle)) {
		idle = f->next;
		if (!idle)
			idle_tail = &idle;
		f->fn(f->arg);
		free(f);
	}
}

int commit_when_idle(void (*fn)(void *arg), void *arg)
{
	struct idle_fn *f;

	if (!flushing && !held && !idle) {
		fn(arg);
		return 0;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fn = fn;
	f->arg = arg;
	*idle_tail = f;
	idle_tail = &f->next;
	return 0;
}

static void flush_job_free(struct flush_job *j)
{
	free(j->pls);
	free(j->fl);
	free(j->rcs);
	free(j);
}

static void flush_run(struct fjob *fj)
{
	struct flush_job *j = (struct flush_job *)fj;
	int64_t t0 = stats_ns();
	size_t i;

	for (i = 0; i < j->n; i++)
		j->rcs[i] = logd_flush_run(j->fl[i]);
	j->ns = stats_ns() - t0;
}

static void flush_done(struct fjob *fj)
{
	struct flush_job *j = (struct flush_job *)fj;
	size_t i;
	int rc, n = 0;

	flushing = 0;
	hist_observe(&stats.sync, j->ns);
	for (i = 0; i < j->n; i++) {
		rc = logd_log_flush_end(j->pls[i]->log, j->fl[i]);
		if (rc)
			log_error("sync failed (%s): the partition is read-only "
			    "from now on", logd_strerror(rc));
		n += resolve(j->pls[i], rc ? LOGD_EREADONLY : 0);
	}
	/* How many acks=all requests one sync served: group commit at
	 * work, visible at debug level. */
	log_debug("sync of %zu partitions answered %d acks=all requests",
	    j->n, n);
	flush_job_free(j);
	run_idle();
}

static struct flush_job *flush_job_new(size_t n)
{
	struct flush_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->pls = calloc(n, sizeof(*j->pls));
	j->fl = calloc(n, sizeof(*j->fl));
	j->rcs = calloc(n, sizeof(*j->rcs));
	if (!j->pls || !j->fl || !j->rcs) {
		flush_job_free(j);
		return NULL;
	}
	j->job.run = flush_run;
	j->job.done = flush_done;
	return j;
}

/* Starts a sync of every dirty log. */
static void flush_start(void)
{
	struct flush_job *j;
	struct plog *pl;
	size_t n = 0;
	int rc;

	for (pl = dirty; pl; pl = pl->dnext)
		n++;
	j = flush_job_new(n);
	if (!j) {
		/* Nothing was captured: try again next turn. */
		log_error("out of memory starting a flush");
		return;
	}
	while ((pl = dirty)) {
		struct logd_flush *fl = NULL;

		dirty = pl->dnext;
		pl->dirty = 0;
		pl->dnext = NULL;
		rc = logd_log_flush_begin(pl->log, &fl);
		if (rc) {
			log_error("cannot start a sync: %s", logd_strerror(rc));
			resolve(pl, LOGD_EREADONLY);
		} else if (!fl) {
			resolve(pl, 0);
		} else {
			j->pls[j->n] = pl;
			j->fl[j->n++] = fl;
		}
	}
	if (!j->n) {
		flush_job_free(j);
		return;
	}
	flushing = 1;
	flusher_submit(&j->job);
}

void commit_flush_due(void)
{
	if (dirty)
		flush_due = 1;
}

int commit_due(void)
{
	return !flushing && dirty && (nwaiting || flush_due || srv.stopping);
}

void commit_before_sleep(void)
{
	if (!commit_due())
		return;
	flush_due = 0;
	flush_start();
}

void commit_forget(struct plog *pl, int code)
{
	struct plog **pp;

	while (pl->syncs) {
		struct sync_wait *w = pl->syncs;

		wait_unlink(w);
		w->done(w, code);
	}
	if (!pl->dirty)
		return;
	for (pp = &dirty; *pp && *pp != pl; pp = &(*pp)->dnext)
		;
	if (*pp)
		*pp = pl->dnext;
	pl->dirty = 0;
}

void commit_idle_hold(void)
{
	held++;
}

void commit_idle_release(void)
{
	if (held > 0)
		held--;
	run_idle();
}

int commit_busy(void)
{
	return flushing || nwaiting || idle;
}
