/*
 * logbench_relay.c - `logbench relay`: a loopback relay, the floor under
 * the latency of any broker.
 *
 * What a broker that does nothing costs: a record crosses loopback into
 * one process, wakes it, and crosses loopback out again.  The relay does
 * that and nothing else, so `logbench latency --peer relay` measured in
 * the same run as logd says how much of logd's latency is logd's.
 *
 * A connection says what it is with its first byte: LB_RELAY_PRODUCER
 * or LB_RELAY_CONSUMER (logbench.h).  A consumer is answered with
 * LB_RELAY_READY once registered; from then on every byte any producer
 * sends is copied to it, in the chunks read, never parsed (so producers
 * sending at once interleave at read boundaries: use one).  Bytes a
 * producer sends while no consumer is there are dropped.  Any other
 * first byte closes that connection and nothing else.
 *
 * One thread and one poll() loop over nonblocking sockets.  A consumer
 * that cannot keep up has its bytes queued up to RELAY_QUEUE_MAX; while
 * any consumer is past that, producers are not read (backpressure
 * through TCP).  Runs until killed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "logbench.h"

/* Connections at once: logbench latency uses two. */
#define RELAY_CONNS_MAX 64
/* Bytes queued for one slow consumer before producers wait. */
#define RELAY_QUEUE_MAX ((size_t)4 << 20)

struct relay_conn {
	int fd;
	char role;                /* 0 until its first byte, then P or C */
	struct lb_out out;        /* bytes for a consumer not yet written */
};

struct relay {
	int lfd;
	struct relay_conn conn[RELAY_CONNS_MAX];
	size_t n;
};

static void
relay_drop(struct relay *rl, size_t i, const char *why)
{
	struct relay_conn *c = &rl->conn[i];

	if (why != NULL)
		fprintf(stderr, "logbench relay: closed a connection: %s\n",
		    why);
	close(c->fd);
	lb_out_free(&c->out);
	rl->conn[i] = rl->conn[--rl->n];
	memset(&rl->conn[rl->n], 0, sizeof(rl->conn[rl->n]));
}

static void
relay_accept(struct relay *rl)
{
	int fd, one = 1;

	while ((fd = accept4(rl->lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) >= 0) {
		if (rl->n == RELAY_CONNS_MAX) {
			close(fd);
			fprintf(stderr, "logbench relay: refused a "
			    "connection: %d at once already\n",
			    RELAY_CONNS_MAX);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		rl->conn[rl->n].fd = fd;
		rl->conn[rl->n].role = 0;
		rl->n++;
	}
}

/* Its first byte: 0 kept, -1 closed. */
static int
relay_hello(struct relay *rl, size_t i)
{
	struct relay_conn *c = &rl->conn[i];
	char why[64], role;
	ssize_t n = recv(c->fd, &role, 1, 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		relay_drop(rl, i, NULL);
		return -1;
	}
	if (role == LB_RELAY_PRODUCER) {
		c->role = role;
		return 0;
	}
	if (role == LB_RELAY_CONSUMER) {
		char ready = LB_RELAY_READY;

		c->role = role;
		if (lb_out_add(&c->out, &ready, 1) < 0 ||
		    lb_out_flush(&c->out, c->fd) < 0) {
			relay_drop(rl, i, "cannot answer a consumer");
			return -1;
		}
		return 0;
	}
	snprintf(why, sizeof(why), "its first byte 0x%02x is neither %c "
	    "(producer) nor %c (consumer)", (unsigned char)role,
	    LB_RELAY_PRODUCER, LB_RELAY_CONSUMER);
	relay_drop(rl, i, why);
	return -1;
}

/* Copies buf to every consumer. */
static void
relay_copy(struct relay *rl, const uint8_t *buf, size_t n)
{
	size_t i;

	for (i = 0; i < rl->n;) {
		struct relay_conn *c = &rl->conn[i];

		if (c->role != LB_RELAY_CONSUMER ||
		    (lb_out_add(&c->out, buf, n) == 0 &&
		    lb_out_flush(&c->out, c->fd) >= 0)) {
			i++;
			continue;
		}
		relay_drop(rl, i, NULL);  /* gone, or out of memory */
	}
}

/* A producer's bytes: 0 kept, -1 closed. */
static int
relay_produce(struct relay *rl, size_t i)
{
	uint8_t buf[65536];
	ssize_t n = recv(rl->conn[i].fd, buf, sizeof(buf), 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		relay_drop(rl, i, NULL);
		return -1;
	}
	relay_copy(rl, buf, (size_t)n);
	return 0;
}

/* A consumer: what it sends is ignored, its end closes it. */
static int
relay_consumer(struct relay *rl, size_t i, short revents)
{
	struct relay_conn *c = &rl->conn[i];
	uint8_t junk[4096];

	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		ssize_t n = recv(c->fd, junk, sizeof(junk), 0);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			relay_drop(rl, i, NULL);
			return -1;
		}
	}
	if ((revents & POLLOUT) && lb_out_flush(&c->out, c->fd) < 0) {
		relay_drop(rl, i, NULL);
		return -1;
	}
	return 0;
}

/* One turn: wait, then serve each ready connection. */
static int
relay_turn(struct relay *rl)
{
	struct pollfd pfd[RELAY_CONNS_MAX + 1];
	int fds[RELAY_CONNS_MAX];
	size_t i, n = rl->n, full = 0;

	for (i = 0; i < rl->n; i++)
		if (rl->conn[i].role == LB_RELAY_CONSUMER &&
		    lb_out_pending(&rl->conn[i].out) > RELAY_QUEUE_MAX)
			full = 1;
	pfd[0].fd = rl->lfd;
	pfd[0].events = POLLIN;
	for (i = 0; i < n; i++) {
		const struct relay_conn *c = &rl->conn[i];

		fds[i] = c->fd;
		pfd[i + 1].fd = c->fd;
		pfd[i + 1].events = c->role == LB_RELAY_PRODUCER && full ? 0 :
		    POLLIN;
		if (lb_out_pending(&c->out) > 0)
			pfd[i + 1].events |= POLLOUT;
	}
	if (poll(pfd, n + 1, -1) < 0)
		return errno == EINTR ? 0 : -errno;
	/* Connections move when one is dropped: find each by its fd. */
	for (i = 0; i < n; i++) {
		size_t k;

		if (pfd[i + 1].revents == 0)
			continue;
		for (k = 0; k < rl->n && rl->conn[k].fd != fds[i]; k++)
			;
		if (k == rl->n)
			continue;
		if (rl->conn[k].role == 0)
			relay_hello(rl, k);
		else if (rl->conn[k].role == LB_RELAY_PRODUCER)
			relay_produce(rl, k);
		else
			relay_consumer(rl, k, pfd[i + 1].revents);
	}
	if (pfd[0].revents & POLLIN)
		relay_accept(rl);
	return 0;
}

int
lb_relay_main(const char *addr)
{
	static struct relay rl;
	char bound[300], err[300];
	int r;

	signal(SIGPIPE, SIG_IGN);
	rl.lfd = lb_net_listen(addr, LB_RELAY_DEFAULT_PORT, bound,
	    sizeof(bound), err, sizeof(err));
	if (rl.lfd < 0) {
		fprintf(stderr, "logbench relay: %s\n", err);
		return 1;
	}
	printf("{\"test\":\"relay\",\"listen\":\"%s\"}\n", bound);
	fflush(stdout);
	while ((r = relay_turn(&rl)) == 0)
		;
	fprintf(stderr, "logbench relay: poll: %s\n", strerror(-r));
	return 1;
}
