/*
 * flusher.c - the thread that does what may block on the disk.
 *
 * The loop hands it jobs through a mutex-protected queue and a condition
 * variable.  A job is a struct fjob embedded in its owner's struct, with
 * run() (on this thread: fdatasync, an LMDB commit) and done() (back on
 * the loop thread: replies).  Finished jobs go on a done list and an
 * eventfd wakes the loop, which calls their done() in submission order.
 * The flusher knows no job: commit.c flushes logs through it, broker.c
 * commits group offsets.
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
		j->run(j);
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

int flusher_running(void)
{
	return running;
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
		j->done(j);
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
