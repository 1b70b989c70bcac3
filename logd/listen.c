/*
 * listen.c - the listening sockets, each with its protocol: the native
 * protocol on TCP (listen = ADDR:PORT) and a Unix socket (unix_socket =
 * PATH), Kafka's on TCP (kafka_listen = ADDR:PORT).
 *
 * All are non-blocking and close-on-exec.  TCP sets SO_REUSEADDR so a
 * restart right after a crash can bind again.  The Unix socket is created
 * under umask 0177 (mode 0600: only logd's user may connect) after
 * removing a stale socket file left by a killed logd; the datadir's LOCK,
 * taken before, guarantees it is not another live logd's on the same
 * datadir.  Accepting drains the backlog each time the socket is ready.
 *
 * When accept() fails for want of descriptors or memory (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM), the connection stays in the backlog and the socket
 * stays readable, so a level-triggered loop would spin on it at full CPU
 * and flood the log.  Instead both listeners leave the loop for
 * ACCEPT_PAUSE_MS and one warning says so (then at most one a minute,
 * with a count); clients wait in the backlog until descriptors free up.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "http.h"

#define ACCEPT_PAUSE_MS 100
#define ACCEPT_WARN_MS 60000

#define LISTENERS_MAX 4

static struct listener listeners[LISTENERS_MAX];
static size_t nlisteners;
static int http_port = -1;         /* for the log only */
static struct ev_timer resume_timer;
static int paused;
static int64_t last_warn_ms = -ACCEPT_WARN_MS;
static uint64_t pauses;         /* since the last warning */

static void listeners_watch(int on)
{
	size_t i;

	for (i = 0; i < nlisteners; i++)
		on ? (void)ev_add(&listeners[i].io, EPOLLIN) :
		    ev_del(&listeners[i].io);
}

static void on_resume(struct ev_timer *t)
{
	paused = 0;
	listeners_watch(1);
}

static void accept_pause(int err)
{
	pauses++;
	if (ev_now() - last_warn_ms >= ACCEPT_WARN_MS) {
		log_warn("accept: %s: not accepting connections for %d ms "
		    "(%llu pauses since the last warning; raise the open "
		    "files limit or lower max_connections)", strerror(err),
		    ACCEPT_PAUSE_MS, (unsigned long long)pauses);
		last_warn_ms = ev_now();
		pauses = 0;
	}
	paused = 1;
	listeners_watch(0);
	resume_timer.fn = on_resume;
	ev_timer_start(&resume_timer, ACCEPT_PAUSE_MS);
}

static void on_accept(struct ev_io *io, uint32_t events)
{
	int i;

	/* Bounded, so a connection storm cannot hold the loop. */
	for (i = 0; i < 64 && !paused; i++) {
		int fd = accept4(io->fd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				accept_pause(errno);
			else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept: %s", strerror(errno));
			return;
		}
		conn_accept(fd, io->arg);
	}
}

/*
 * Says where TCP listens, with the port the kernel chose for port 0,
 * and warns loudly when that is every interface: logd has no
 * authentication, so whoever reaches the port may do anything the
 * protocol allows.
 */
static int log_tcp_port(int fd, const char *spec, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int port = -1, any = 0;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *in = (void *)&ss;

			port = ntohs(in->sin_port);
			any = in->sin_addr.s_addr == htonl(INADDR_ANY);
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *in6 = (void *)&ss;

			port = ntohs(in6->sin6_port);
			any = IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
		}
	}
	if (any)
		log_warn("%s listens on %s, every network interface, and "
		    "logd has no authentication: anyone who can reach it "
		    "can %s; listen on 127.0.0.1 or a private address, or "
		    "firewall the port", what, spec, strcmp(what, "http") ?
		    "read, write and delete every topic" : "see every "
		    "topic, group and metric");
	if (port >= 0 && strlen(spec) > 2 &&
	    strcmp(spec + strlen(spec) - 2, ":0") == 0)
		log_info("listening on %.*s:%d (%s)", (int)strlen(spec) - 2,
		    spec, port, what);
	else
		log_info("listening on %s (%s)", spec, what);
	return port;
}

static int listen_tcp(const char *spec)
{
	char host[256], *colon;
	const char *h;
	struct addrinfo hints = { 0 }, *ai = NULL, *a;
	int fd = -1, one = 1, rc;

	if (strlen(spec) >= sizeof(host))
		return -EINVAL;
	strcpy(host, spec);
	colon = strrchr(host, ':');
	if (!colon || !colon[1]) {
		log_error("listen \"%s\": expected ADDR:PORT", spec);
		return -EINVAL;
	}
	*colon = 0;
	h = host;
	if (h[0] == '[' && colon > host + 1 && colon[-1] == ']') {
		colon[-1] = 0;
		h++;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai);
	if (rc) {
		log_error("listen \"%s\": %s", spec, gai_strerror(rc));
		return -EINVAL;
	}
	rc = -EADDRNOTAVAIL;
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 &&
		    listen(fd, 511) == 0)
			break;
		rc = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		log_error("listen %s: %s", spec, strerror(-rc));
		return rc;
	}
	return fd;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("unix_socket %s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("unix_socket %s exists and is not a socket",
			    path);
			return -EEXIST;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc || listen(fd, 511)) {
		rc = -errno;
		log_error("unix_socket %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	return fd;
}

static int add_listener(const struct proto *proto, const char *spec,
    int is_unix)
{
	struct listener *l = &listeners[nlisteners];
	int fd = is_unix ? listen_unix(spec) : listen_tcp(spec);

	if (fd < 0)
		return fd;
	memset(l, 0, sizeof(*l));
	l->proto = proto;
	snprintf(l->spec, sizeof(l->spec), "%s", spec);
	l->is_unix = is_unix;
	l->io.fd = fd;
	l->io.fn = on_accept;
	l->io.arg = l;
	if (is_unix)
		log_info("listening on %s (%s)", spec, proto->name);
	else
		l->port = log_tcp_port(fd, spec, proto->name);
	nlisteners++;
	return ev_add(&l->io, EPOLLIN);
}

int listen_start(void)
{
	int rc = 0;

	if (strcmp(srv.cfg.listen, "none") != 0)
		rc = add_listener(&native_proto, srv.cfg.listen, 0);
	if (!rc && srv.cfg.unix_socket[0])
		rc = add_listener(&native_proto, srv.cfg.unix_socket, 1);
	if (!rc && strcmp(srv.cfg.kafka_listen, "none") != 0)
		rc = add_listener(&kafka_proto, srv.cfg.kafka_listen, 0);
	if (!rc && strcmp(srv.cfg.http_listen, "none") != 0) {
		/* Served by libmicrohttpd on its thread (http.c). */
		int fd = listen_tcp(srv.cfg.http_listen);

		if (fd < 0)
			return fd;
		http_port = log_tcp_port(fd, srv.cfg.http_listen, "http");
		if (http_start(fd))
			return -1;
	}
	return rc;
}

/* The TCP port a listener of proto bound (for port 0), or -1. */
int listen_port(const struct proto *proto)
{
	size_t i;

	for (i = 0; i < nlisteners; i++)
		if (listeners[i].proto == proto && !listeners[i].is_unix)
			return listeners[i].port;
	return -1;
}

void listen_stop(void)
{
	size_t i;

	ev_timer_stop(&resume_timer);
	paused = 0;
	http_stop();
	for (i = 0; i < nlisteners; i++) {
		struct listener *l = &listeners[i];

		if (l->io.fd < 0)
			continue;
		ev_del(&l->io);
		close(l->io.fd);
		l->io.fd = -1;
		if (l->is_unix)
			unlink(l->spec);
	}
	/* Connections keep pointing at their listener: the table stays. */
}
