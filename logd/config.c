/*
 * config.c - logd.conf: "key = value" lines, "#" comment lines.
 *
 * Every setting has an embedded default (config_default), so logd runs
 * with no file at all.  A key is looked up in one table that names its
 * type and field; the default.* keys pass through to
 * logd_topic_config_set(), so every topic setting the store knows can be
 * given a daemon-wide default without a second list here.  An unknown
 * key or a bad value is an error with FILE:LINE, and logd refuses to
 * start: a typo must never silently leave a default in force.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

enum ktype { K_PATH, K_STR, K_ADDR, K_LEVEL, K_MS, K_U64, K_BOOL };

static const struct key {
	const char *name;
	enum ktype type;
	size_t off;
	size_t size;
	int64_t min;
} keys[] = {
#define F(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
	{ "datadir", K_PATH, F(datadir), 0 },
	{ "listen", K_ADDR, F(listen), 0 },
	{ "kafka_listen", K_ADDR, F(kafka_listen), 0 },
	{ "kafka_advertised", K_ADDR, F(kafka_advertised), 0 },
	{ "http_listen", K_ADDR, F(http_listen), 0 },
	{ "unix_socket", K_PATH, F(unix_socket), 0 },
	{ "log_level", K_LEVEL, F(log_level), 0 },
	{ "log_file", K_PATH, F(log_file), 0 },
	{ "flush_ms", K_MS, F(flush_ms), 1 },
	{ "max_frame_bytes", K_U64, F(max_frame_bytes), 1024 },
	{ "max_connections", K_U64, F(max_connections), 1 },
	{ "max_pending_bytes", K_U64, F(max_pending_bytes), 65536 },
	{ "idle_timeout_ms", K_MS, F(idle_timeout_ms), 0 },
	{ "auto_create_topics", K_BOOL, F(auto_create_topics), 0 },
	{ "retention_check_ms", K_MS, F(retention_check_ms), 1 },
	{ "cleaner_check_ms", K_MS, F(cleaner_check_ms), 0 },
	{ "cleaner_map_bytes", K_U64, F(cleaner_map_bytes), 65536 },
	{ "cleaner_io_bytes_per_sec", K_U64, F(cleaner_io_bytes_per_sec), 0 },
#undef F
};

void config_default(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->datadir, sizeof(c->datadir), "logd-data");
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:9400");
	/* Kafka's own default port, so clients need no other change. */
	snprintf(c->kafka_listen, sizeof(c->kafka_listen), "127.0.0.1:9092");
	/* /metrics, /api and the status page: the port after native's. */
	snprintf(c->http_listen, sizeof(c->http_listen), "127.0.0.1:9401");
	c->log_level = L_INFO;
	/* Kafka's log.flush default is "never"; a second bounds what a
	 * power cut can take from acks=1 producers at little cost. */
	c->flush_ms = 1000;
	/* One maximum batch plus room for the request around it. */
	c->max_frame_bytes = LOGD_BATCH_MAX_SIZE + 65536;
	c->max_connections = 1024;
	/* Room for a few full fetch replies; past it, the connection is
	 * not read until its client reads (backpressure). */
	c->max_pending_bytes = 16u << 20;
	/* Kafka's connections.max.idle.ms. */
	c->idle_timeout_ms = 600000;
	c->auto_create_topics = 0;
	c->retention_check_ms = 60000;
	/* Kafka's cleaner backs off 15 s when it finds nothing to do. */
	c->cleaner_check_ms = 15000;
	/* 16 MiB: 2^19 slots of 24 bytes, 3/4 full: 393,216 keys a pass. */
	c->cleaner_map_bytes = LOGD_CLEAN_MAP_BYTES;
	logd_topic_config_default(&c->topic);
}

static int parse_i64(const char *v, int64_t *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || end == v || *end || !isdigit((unsigned char)v[0]))
		return -1;
	*out = n;
	return 0;
}

static int parse_bool(const char *v, int *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") ||
	    !strcmp(v, "1"))
		*out = 1;
	else if (!strcmp(v, "no") || !strcmp(v, "false") ||
	    !strcmp(v, "off") || !strcmp(v, "0"))
		*out = 0;
	else
		return -1;
	return 0;
}

/*
 * "none", or ADDR:PORT with a decimal port 0-65535 (0: any free port);
 * ADDR may be empty (all interfaces) or a bracketed IPv6 address.  Checked
 * here so that a bad value is reported with its file and line, before the
 * datadir is touched; whether ADDR resolves is left to listen time.
 */
static int check_listen(const char *v)
{
	const char *colon = strrchr(v, ':'), *p;
	long port = 0;

	if (!strcmp(v, "none"))
		return 0;
	if (!colon || !colon[1] || strlen(colon + 1) > 5)
		return -1;
	for (p = colon + 1; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		port = port * 10 + (*p - '0');
	}
	if (port > 65535)
		return -1;
	if (v[0] == '[' && (colon == v + 1 || colon[-1] != ']'))
		return -1;
	return 0;
}

static int set_key(struct config *c, const struct key *k, const char *v,
    char *err, size_t errsz)
{
	char *f = (char *)c + k->off;
	int64_t n;
	int b, lvl;

	switch (k->type) {
	case K_PATH:
	case K_STR:
	case K_ADDR:
		if (k->type == K_ADDR && check_listen(v)) {
			snprintf(err, errsz, "%s: \"%s\" is not ADDR:PORT "
			    "(a port 0-65535) or none", k->name, v);
			return -1;
		}
		if (strlen(v) >= k->size) {
			snprintf(err, errsz, "%s: value longer than %zu bytes",
			    k->name, k->size - 1);
			return -1;
		}
		if (k->type != K_PATH && !*v) {
			snprintf(err, errsz, "%s: empty value", k->name);
			return -1;
		}
		memcpy(f, v, strlen(v) + 1);
		return 0;
	case K_LEVEL:
		lvl = log_level_parse(v);
		if (lvl < 0) {
			snprintf(err, errsz, "%s: \"%s\" is not one of error, "
			    "warn, info, debug", k->name, v);
			return -1;
		}
		*(int *)f = lvl;
		return 0;
	case K_BOOL:
		if (parse_bool(v, &b)) {
			snprintf(err, errsz, "%s: \"%s\" is not yes or no",
			    k->name, v);
			return -1;
		}
		*(int *)f = b;
		return 0;
	case K_MS:
	case K_U64:
		if (parse_i64(v, &n) || n < k->min) {
			snprintf(err, errsz, "%s: \"%s\" is not an integer "
			    ">= %lld", k->name, v, (long long)k->min);
			return -1;
		}
		if (k->type == K_MS)
			*(int64_t *)f = n;
		else
			*(uint64_t *)f = (uint64_t)n;
		return 0;
	}
	return -1;
}

int config_set(struct config *c, const char *key, const char *value,
    char *err, size_t errsz)
{
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i].name) == 0)
			return set_key(c, &keys[i], value, err, errsz);
	if (strncmp(key, "default.", 8) == 0 && key[8]) {
		if (logd_topic_config_set(&c->topic, key + 8, value) == 0)
			return 0;
		snprintf(err, errsz, "%s: unknown topic setting or bad value "
		    "\"%s\"", key, value);
		return -1;
	}
	snprintf(err, errsz, "unknown key \"%s\"", key);
	return -1;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

int config_load(struct config *c, const char *path, char *err, size_t errsz)
{
	char line[4096], msg[512], *s, *eq, *key, *val;
	unsigned lineno = 0;
	FILE *f = fopen(path, "r");
	int rc = 0;

	if (!f) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errsz, "%s:%u: line too long", path,
			    lineno);
			rc = -1;
			break;
		}
		s = line;
		/* A UTF-8 byte-order mark (some editors write one) is not
		 * part of the first key. */
		if (lineno == 1 && !strncmp(s, "\xef\xbb\xbf", 3))
			s += 3;
		s = trim(s);
		if (!*s || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errsz, "%s:%u: expected \"key = value\"",
			    path, lineno);
			rc = -1;
			break;
		}
		*eq = 0;
		key = trim(s);
		val = trim(eq + 1);
		if (config_set(c, key, val, msg, sizeof(msg))) {
			snprintf(err, errsz, "%s:%u: %s", path, lineno, msg);
			rc = -1;
			break;
		}
	}
	if (!rc && ferror(f)) {
		snprintf(err, errsz, "%s: read error", path);
		rc = -1;
	}
	fclose(f);
	return rc;
}

/* An ADDR:PORT whose ADDR is empty, 0.0.0.0 or [::]. */
static int wildcard(const char *spec)
{
	size_t n = strrchr(spec, ':') - spec;

	return n == 0 || (n == 7 && !strncmp(spec, "0.0.0.0", 7)) ||
	    (n == 4 && !strncmp(spec, "[::]", 4));
}

int config_check(const struct config *c, char *err, size_t errsz)
{
	if (!c->datadir[0]) {
		snprintf(err, errsz, "datadir is empty");
		return -1;
	}
	if (!strcmp(c->listen, "none") && !c->unix_socket[0]) {
		snprintf(err, errsz, "listen = none and no unix_socket: "
		    "nothing to serve on");
		return -1;
	}
	if (c->max_frame_bytes > UINT32_MAX) {
		snprintf(err, errsz, "max_frame_bytes is above 4 GiB");
		return -1;
	}
	if (strcmp(c->kafka_listen, "none") && !c->kafka_advertised[0] &&
	    wildcard(c->kafka_listen)) {
		snprintf(err, errsz, "kafka_listen %s is a wildcard address: "
		    "set kafka_advertised to the host:port clients should "
		    "connect to", c->kafka_listen);
		return -1;
	}
	return 0;
}
