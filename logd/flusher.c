/*
 * flusher.c - the thread that does what may block on the disk.
 *
 * The loop hands it jobs through a mutex-protected queue and a condition
 * variable: JOB_FLUSH (logd_flush_run() for each log captured by
 * logd_log_flush_begin() on the loop thread) and JOB_COMMIT
 * (logd_store_offsets_commit(), which logd.h documents as safe off the
 * loop thread because it touches only LMDB).  Finished jobs go on a done
 * list and an eventfd wakes the loop, which finishes them on its own
 * thread (logd_log_flush_end(), replies).  Jobs run in submission order,
 * so the loop never waits on fdatasync or an LMDB commit.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon.h"

static pthread_t thread;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct fjob *todo, **todo_tail = &todo;
static struct fjob *done, **done_tail = &done;
static int quit, running;
static struct ev_io efd_io = { .fd = -1 };

void fjob_free(struct fjob *j)
{
	if (!j)
		return;
	free(j->logs);
	free(j->fl);
	free(j->rcs);
	free(j->group);
	free(j->commits);
	free(j->strings);
	free(j);
}

static void run_job(struct fjob *j)
{
	size_t i;

	if (j->type == JOB_FLUSH) {
		for (i = 0; i < j->n; i++)
			j->rcs[i] = logd_flush_run(j->fl[i]);
	} else {
		j->rc = logd_store_offsets_commit(srv.store, j->group,
		    j->commits, j->ncommits, j->now_ms);
	}
}

static void *flusher_main(void *arg)
{
	struct fjob *j;
	uint64_t one = 1;

	pthread_mutex_lock(&lock);
	for (;;) {
		while (!todo && !quit)
			pthread_cond_wait(&cond, &lock);
		if (!todo)
			break;
		j = todo;
		todo = j->next;
		if (!todo)
			todo_tail = &todo;
		pthread_mutex_unlock(&lock);
		run_job(j);
		pthread_mutex_lock(&lock);
		j->next = NULL;
		*done_tail = j;
		done_tail = &j->next;
		if (write(efd_io.fd, &one, sizeof(one)) < 0) {
			/* The counter cannot overflow at this rate. */
		}
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

void flusher_submit(struct fjob *j)
{
	j->next = NULL;
	pthread_mutex_lock(&lock);
	*todo_tail = j;
	todo_tail = &j->next;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

/* On the loop thread: finishes every job the flusher has done. */
static void on_done(struct ev_io *io, uint32_t events)
{
	struct fjob *list, *j;
	uint64_t n;

	if (read(io->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_error("flusher eventfd: %s", strerror(errno));
	pthread_mutex_lock(&lock);
	list = done;
	done = NULL;
	done_tail = &done;
	pthread_mutex_unlock(&lock);
	while ((j = list)) {
		list = j->next;
		if (j->type == JOB_FLUSH)
			produce_flush_done(j);
		else
			group_commit_done(j);
		fjob_free(j);
	}
}

int flusher_start(void)
{
	int rc;

	efd_io.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd_io.fd < 0)
		return -errno;
	efd_io.fn = on_done;
	rc = ev_add(&efd_io, EPOLLIN);
	if (rc)
		return rc;
	rc = pthread_create(&thread, NULL, flusher_main, NULL);
	if (rc)
		return -rc;
	running = 1;
	return 0;
}

/* Runs what is queued, finishes it, and joins the thread. */
void flusher_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&lock);
	quit = 1;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	running = 0;
	on_done(&efd_io, EPOLLIN);
	ev_del(&efd_io);
	close(efd_io.fd);
	efd_io.fd = -1;
}
