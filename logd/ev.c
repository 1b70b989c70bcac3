/*
 * ev.c - the event loop: epoll for descriptors, a binary min-heap for
 * timers, and a before-sleep hook (Redis's ae.c shape).
 *
 * A turn: wait in epoll_wait() until the first timer is due, dispatch the
 * ready descriptors, run the due timers, then call before_sleep.  The hook
 * is where work collected during the turn is acted on at once: replies
 * are written with one writev per connection, and group commit hands
 * every log appended to during the turn to the flusher in one job.
 *
 * Level-triggered epoll: a handler that leaves bytes unread is called
 * again next turn, so one busy client cannot starve the others.  Timers
 * are embedded in their owners (no allocation) and know their heap slot,
 * so stopping one is O(log n).  Times are cached once per turn.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

#define EV_BATCH 256

static int ev_epfd = -1;
static int ev_stopped;
static int64_t ev_mono, ev_real;
static struct ev_timer **heap;
static size_t heap_len, heap_cap;

static void ev_update(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ev_mono = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
	clock_gettime(CLOCK_REALTIME, &ts);
	ev_real = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int64_t ev_now(void)
{
	return ev_mono;
}

int64_t ev_wall(void)
{
	return ev_real;
}

int ev_init(void)
{
	ev_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ev_epfd < 0)
		return -errno;
	ev_update();
	return 0;
}

void ev_free(void)
{
	if (ev_epfd >= 0)
		close(ev_epfd);
	ev_epfd = -1;
	free(heap);
	heap = NULL;
	heap_len = heap_cap = 0;
}

int ev_add(struct ev_io *io, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = io };

	return epoll_ctl(ev_epfd, EPOLL_CTL_ADD, io->fd, &e) ? -errno : 0;
}

int ev_mod(struct ev_io *io, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = io };

	return epoll_ctl(ev_epfd, EPOLL_CTL_MOD, io->fd, &e) ? -errno : 0;
}

void ev_del(struct ev_io *io)
{
	epoll_ctl(ev_epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

/* ------------------------------------------------------------------ */
/* Timer heap                                                          */
/* ------------------------------------------------------------------ */

static void heap_set(size_t i, struct ev_timer *t)
{
	heap[i] = t;
	t->slot = i + 1;
}

static void heap_up(size_t i)
{
	struct ev_timer *t = heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (heap[p]->when <= t->when)
			break;
		heap_set(i, heap[p]);
		i = p;
	}
	heap_set(i, t);
}

static void heap_down(size_t i)
{
	struct ev_timer *t = heap[i];

	for (;;) {
		size_t l = 2 * i + 1, m = i;
		int64_t w = t->when;

		if (l < heap_len && heap[l]->when < w) {
			m = l;
			w = heap[l]->when;
		}
		if (l + 1 < heap_len && heap[l + 1]->when < w)
			m = l + 1;
		if (m == i)
			break;
		heap_set(i, heap[m]);
		i = m;
	}
	heap_set(i, t);
}

void ev_timer_stop(struct ev_timer *t)
{
	size_t i;

	if (!t->slot)
		return;
	i = t->slot - 1;
	t->slot = 0;
	heap_len--;
	if (i == heap_len)
		return;
	heap_set(i, heap[heap_len]);
	heap_up(i);
	heap_down(heap[i]->slot - 1);
}

void ev_timer_start(struct ev_timer *t, int64_t after_ms)
{
	struct ev_timer **h;

	ev_timer_stop(t);
	if (heap_len == heap_cap) {
		size_t cap = heap_cap ? heap_cap * 2 : 64;

		h = realloc(heap, cap * sizeof(*h));
		if (!h) {
			log_error("out of memory arming a timer");
			return;
		}
		heap = h;
		heap_cap = cap;
	}
	t->when = ev_mono + (after_ms > 0 ? after_ms : 0);
	heap_set(heap_len++, t);
	heap_up(heap_len - 1);
}

static void run_timers(void)
{
	while (heap_len && heap[0]->when <= ev_mono) {
		struct ev_timer *t = heap[0];

		ev_timer_stop(t);
		t->fn(t);
	}
}

void ev_stop(void)
{
	ev_stopped = 1;
}

/*
 * One turn: waits for events at most max_ms (-1: until the next timer),
 * dispatches them and the due timers, then calls before_sleep.  Returns
 * -1 when epoll_wait fails.
 */
int ev_turn(int max_ms, void (*before_sleep)(void))
{
	struct epoll_event evs[EV_BATCH];
	int n, i, timeout;

	timeout = max_ms;
	if (heap_len) {
		int64_t d = heap[0]->when - ev_mono;

		d = d < 0 ? 0 : d > 60000 ? 60000 : d;
		if (timeout < 0 || d < timeout)
			timeout = (int)d;
	}
	n = epoll_wait(ev_epfd, evs, EV_BATCH, timeout);
	ev_update();
	if (n < 0 && errno != EINTR) {
		log_error("epoll_wait: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct ev_io *io = evs[i].data.ptr;

		io->fn(io, evs[i].events);
	}
	run_timers();
	if (before_sleep)
		before_sleep();
	return 0;
}

void ev_run(void (*before_sleep)(void))
{
	ev_stopped = 0;
	while (!ev_stopped)
		if (ev_turn(-1, before_sleep) < 0)
			break;
}
