/*
 * store_config.c - topic and group names, topic configs.
 *
 * A topic name is [A-Za-z0-9._-]{1,249}, not "." or "..": it has no "/",
 * so the partition directory topics/<topic>-<partition> is always a
 * direct child of topics/, and splits back uniquely at its last '-'.
 *
 * Settings use Kafka's names and are parsed strictly: plain decimal
 * (strtoll with an end check: no blanks, no '+', no hex), each within a
 * range the partition log can honour.  The stored form of a topic's
 * config in LMDB is the readable "key=value" lines of
 * logd_topic_config_format() plus created.ms, decoded with the same
 * setter, so what a client sets and what is stored cannot drift apart.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logd.h"
#include "store_int.h"

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

int
logd_topic_name_check(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0')
		return LOGD_EBADNAME;
	for (i = 0; name[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (i >= LOGD_TOPIC_NAME_MAX)
			return LOGD_EBADNAME;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		    ch == '-'))
			return LOGD_EBADNAME;
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return LOGD_EBADNAME;
	return 0;
}

int
logd_group_name_check(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0')
		return LOGD_EBADNAME;
	for (i = 0; name[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (i >= LOGD_GROUP_NAME_MAX || ch < 0x20 || ch > 0x7e)
			return LOGD_EBADNAME;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Topic config                                                        */
/* ------------------------------------------------------------------ */

void
logd_topic_config_default(struct logd_topic_config *c)
{
	memset(c, 0, sizeof(*c));
	c->partitions = 1;
	logd_log_config_default(&c->log);
	/* Kafka 4's defaults: an hour ahead (a clock that is off, not a
	 * week: far-future stamps would roll and keep segments), any age
	 * before (replays of old data are normal). */
	c->timestamp_after_max_ms = 3600000;
	c->timestamp_before_max_ms = INT64_MAX;
}

/* Strict decimal: optional '-', digits, nothing else, within [min, max]. */
static int
parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	const char *p = s;
	char *end;
	long long v;

	if (s == NULL)
		return LOGD_EBADCONFIG;
	if (*p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		return LOGD_EBADCONFIG;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return LOGD_EBADCONFIG;
	*out = v;
	return 0;
}

/* The accepted range of each setting; see logd_topic_config_set(). */
#define SEGMENT_BYTES_MIN ((int64_t)64 << 10)
#define SEGMENT_BYTES_MAX ((int64_t)INT32_MAX) /* index positions are u32 */
#define INDEX_BYTES_MIN ((int64_t)1024)
#define INDEX_BYTES_MAX ((int64_t)1 << 30)

int
logd_topic_config_check(const struct logd_topic_config *c)
{
	const struct logd_log_config *l = &c->log;

	if (c->partitions < 1 || c->partitions > STORE_PARTITIONS_MAX)
		return LOGD_EBADCONFIG;
	if (l->segment_bytes < (uint64_t)SEGMENT_BYTES_MIN ||
	    l->segment_bytes > (uint64_t)SEGMENT_BYTES_MAX)
		return LOGD_EBADCONFIG;
	if (l->segment_ms < 1 || l->retention_ms < -1 ||
	    l->retention_bytes < -1)
		return LOGD_EBADCONFIG;
	if (l->index_interval > (uint32_t)INT32_MAX)
		return LOGD_EBADCONFIG;
	if (l->index_bytes < (uint32_t)INDEX_BYTES_MIN ||
	    l->index_bytes > (uint32_t)INDEX_BYTES_MAX)
		return LOGD_EBADCONFIG;
	if (l->log_append_time != 0 && l->log_append_time != 1)
		return LOGD_EBADCONFIG;
	if (c->timestamp_after_max_ms < 0 || c->timestamp_before_max_ms < 0)
		return LOGD_EBADCONFIG;
	if (l->cleanup_policy < 1 || l->cleanup_policy > 3 ||
	    !(l->min_cleanable_dirty_ratio >= 0.0 &&
	    l->min_cleanable_dirty_ratio <= 1.0) ||
	    l->min_compaction_lag_ms < 0 || l->delete_retention_ms < 0)
		return LOGD_EBADCONFIG;
	return 0;
}

/* "delete", "compact", "compact,delete" or "delete,compact". */
static int
parse_policy(const char *s)
{
	if (strcmp(s, "delete") == 0)
		return LOGD_CLEANUP_DELETE;
	if (strcmp(s, "compact") == 0)
		return LOGD_CLEANUP_COMPACT;
	if (strcmp(s, "compact,delete") == 0 ||
	    strcmp(s, "delete,compact") == 0)
		return LOGD_CLEANUP_DELETE | LOGD_CLEANUP_COMPACT;
	return LOGD_EBADCONFIG;
}

/* A ratio from 0 to 1: digits, at most one '.', digits; nothing else. */
static int
parse_ratio(const char *s, double *out)
{
	const char *p = s;
	int digits = 0, dot = 0;
	double v;

	for (; *p; p++) {
		if (*p == '.' && !dot)
			dot = 1;
		else if (isdigit((unsigned char)*p))
			digits++;
		else
			return LOGD_EBADCONFIG;
	}
	if (digits == 0 || digits > 20)
		return LOGD_EBADCONFIG;
	v = strtod(s, NULL);
	if (!(v >= 0.0 && v <= 1.0))
		return LOGD_EBADCONFIG;
	*out = v;
	return 0;
}

/*
 * The integer settings and their ranges: one table for the setter and
 * for logd_topic_config_error(), so the message cannot drift from the
 * rule.  min -1 means "-1 (none) or from 0".
 */
enum { K_PARTITIONS, K_SEGMENT_BYTES, K_SEGMENT_MS, K_RETENTION_MS,
	K_RETENTION_BYTES, K_INDEX_INTERVAL, K_INDEX_BYTES, K_TS_AFTER,
	K_TS_BEFORE, K_COMPACTION_LAG, K_DELETE_RETENTION };

static const struct {
	const char *key;
	int64_t min, max;
} int_keys[] = {
	[K_PARTITIONS] = { "partitions", 1, STORE_PARTITIONS_MAX },
	[K_SEGMENT_BYTES] = { "segment.bytes", SEGMENT_BYTES_MIN,
	    SEGMENT_BYTES_MAX },
	[K_SEGMENT_MS] = { "segment.ms", 1, INT64_MAX },
	[K_RETENTION_MS] = { "retention.ms", -1, INT64_MAX },
	[K_RETENTION_BYTES] = { "retention.bytes", -1, INT64_MAX },
	[K_INDEX_INTERVAL] = { "index.interval.bytes", 0, INT32_MAX },
	[K_INDEX_BYTES] = { "segment.index.bytes", INDEX_BYTES_MIN,
	    INDEX_BYTES_MAX },
	[K_TS_AFTER] = { "message.timestamp.after.max.ms", 0, INT64_MAX },
	[K_TS_BEFORE] = { "message.timestamp.before.max.ms", 0, INT64_MAX },
	[K_COMPACTION_LAG] = { "min.compaction.lag.ms", 0, INT64_MAX },
	[K_DELETE_RETENTION] = { "delete.retention.ms", 0, INT64_MAX },
};

#define N_INT_KEYS (sizeof(int_keys) / sizeof(int_keys[0]))

static int
int_key(const char *key)
{
	size_t i;

	for (i = 0; i < N_INT_KEYS; i++)
		if (strcmp(key, int_keys[i].key) == 0)
			return (int)i;
	return -1;
}

int
logd_topic_config_set(struct logd_topic_config *c, const char *key,
    const char *value)
{
	int64_t v;
	int k, rc;

	if (key == NULL || value == NULL)
		return LOGD_EBADCONFIG;
	if (strcmp(key, "message.timestamp.type") == 0) {
		if (strcmp(value, "CreateTime") == 0)
			c->log.log_append_time = 0;
		else if (strcmp(value, "LogAppendTime") == 0)
			c->log.log_append_time = 1;
		else
			return LOGD_EBADCONFIG;
		return 0;
	}
	if (strcmp(key, "cleanup.policy") == 0) {
		if ((rc = parse_policy(value)) < 0)
			return rc;
		c->log.cleanup_policy = rc;
		return 0;
	}
	if (strcmp(key, "min.cleanable.dirty.ratio") == 0)
		return parse_ratio(value, &c->log.min_cleanable_dirty_ratio);
	if ((k = int_key(key)) < 0)
		return LOGD_EBADCONFIG;
	rc = parse_i64(value, int_keys[k].min, int_keys[k].max, &v);
	if (rc != 0)
		return rc;
	switch (k) {
	case K_PARTITIONS:
		c->partitions = (int32_t)v;
		break;
	case K_SEGMENT_BYTES:
		c->log.segment_bytes = (uint64_t)v;
		break;
	case K_SEGMENT_MS:
		c->log.segment_ms = v;
		break;
	case K_RETENTION_MS:
		c->log.retention_ms = v;
		break;
	case K_RETENTION_BYTES:
		c->log.retention_bytes = v;
		break;
	case K_INDEX_INTERVAL:
		c->log.index_interval = (uint32_t)v;
		break;
	case K_TS_AFTER:
		c->timestamp_after_max_ms = v;
		break;
	case K_TS_BEFORE:
		c->timestamp_before_max_ms = v;
		break;
	case K_COMPACTION_LAG:
		c->log.min_compaction_lag_ms = v;
		break;
	case K_DELETE_RETENTION:
		c->log.delete_retention_ms = v;
		break;
	default:
		c->log.index_bytes = (uint32_t)v;
		break;
	}
	return 0;
}

size_t
logd_topic_config_error(const char *key, const char *value, char *buf,
    size_t size)
{
	struct logd_topic_config c;
	char range[80];
	int k, n;

	logd_topic_config_default(&c);
	if (key == NULL || value == NULL)
		n = snprintf(buf, size, "missing key or value");
	else if (logd_topic_config_set(&c, key, value) == 0)
		n = snprintf(buf, size, "%s = %s is valid", key, value);
	else if (strcmp(key, "message.timestamp.type") == 0)
		n = snprintf(buf, size, "%s = \"%s\": expected CreateTime or "
		    "LogAppendTime", key, value);
	else if (strcmp(key, "cleanup.policy") == 0)
		n = snprintf(buf, size, "%s = \"%s\": expected delete, "
		    "compact or compact,delete", key, value);
	else if (strcmp(key, "min.cleanable.dirty.ratio") == 0)
		n = snprintf(buf, size, "%s = \"%s\": expected a decimal "
		    "from 0 to 1", key, value);
	else if ((k = int_key(key)) < 0)
		n = snprintf(buf, size, "unknown setting \"%s\" (known: "
		    "partitions, segment.bytes, segment.ms, retention.ms, "
		    "retention.bytes, index.interval.bytes, "
		    "segment.index.bytes, message.timestamp.type, "
		    "message.timestamp.after.max.ms, "
		    "message.timestamp.before.max.ms, "
		    "cleanup.policy, min.cleanable.dirty.ratio, "
		    "min.compaction.lag.ms, delete.retention.ms)", key);
	else {
		if (int_keys[k].min == -1)
			snprintf(range, sizeof(range), "-1 (no limit) or an "
			    "integer >= 0");
		else if (int_keys[k].max == INT64_MAX)
			snprintf(range, sizeof(range), "an integer >= %" PRId64,
			    int_keys[k].min);
		else
			snprintf(range, sizeof(range), "an integer from %"
			    PRId64 " to %" PRId64, int_keys[k].min,
			    int_keys[k].max);
		n = snprintf(buf, size, "%s = \"%s\": expected %s", key, value,
		    range);
	}
	return n > 0 ? (size_t)n : 0;
}

int
logd_topic_config_each(const struct logd_topic_config *c,
    int (*fn)(void *arg, const char *key, const char *value), void *arg)
{
	const struct logd_log_config *l = &c->log;
	char v[14][32];
	const char *keys[15] = { "partitions", "segment.bytes", "segment.ms",
	    "retention.ms", "retention.bytes", "index.interval.bytes",
	    "segment.index.bytes", "message.timestamp.type",
	    "message.timestamp.after.max.ms",
	    "message.timestamp.before.max.ms",
	    "cleanup.policy", "min.cleanable.dirty.ratio",
	    "min.compaction.lag.ms", "delete.retention.ms", NULL };
	size_t i;
	int rc;

	snprintf(v[0], sizeof(v[0]), "%" PRId32, c->partitions);
	snprintf(v[1], sizeof(v[1]), "%" PRIu64, l->segment_bytes);
	snprintf(v[2], sizeof(v[2]), "%" PRId64, l->segment_ms);
	snprintf(v[3], sizeof(v[3]), "%" PRId64, l->retention_ms);
	snprintf(v[4], sizeof(v[4]), "%" PRId64, l->retention_bytes);
	snprintf(v[5], sizeof(v[5]), "%" PRIu32, l->index_interval);
	snprintf(v[6], sizeof(v[6]), "%" PRIu32, l->index_bytes);
	snprintf(v[7], sizeof(v[7]), "%s", l->log_append_time ?
	    "LogAppendTime" : "CreateTime");
	snprintf(v[8], sizeof(v[8]), "%" PRId64, c->timestamp_after_max_ms);
	snprintf(v[9], sizeof(v[9]), "%" PRId64, c->timestamp_before_max_ms);
	snprintf(v[10], sizeof(v[10]), "%s", l->cleanup_policy ==
	    LOGD_CLEANUP_COMPACT ? "compact" : l->cleanup_policy ==
	    LOGD_CLEANUP_DELETE ? "delete" : "compact,delete");
	snprintf(v[11], sizeof(v[11]), "%.6g", l->min_cleanable_dirty_ratio);
	snprintf(v[12], sizeof(v[12]), "%" PRId64, l->min_compaction_lag_ms);
	snprintf(v[13], sizeof(v[13]), "%" PRId64, l->delete_retention_ms);
	for (i = 0; keys[i]; i++)
		if ((rc = fn(arg, keys[i], v[i])))
			return rc;
	return 0;
}

struct format_ctx {
	char *buf;
	size_t size, n;
};

static int
format_one(void *arg, const char *key, const char *value)
{
	struct format_ctx *f = arg;
	int n = snprintf(f->buf + (f->n < f->size ? f->n : f->size),
	    f->n < f->size ? f->size - f->n : 0, "%s=%s\n", key, value);

	if (n > 0)
		f->n += (size_t)n;
	return 0;
}

size_t
logd_topic_config_format(const struct logd_topic_config *c, char *buf,
    size_t size)
{
	struct format_ctx f = { buf, size, 0 };

	if (size)
		buf[0] = 0;
	logd_topic_config_each(c, format_one, &f);
	return f.n;
}

int
logd_topic_config_encode(const struct logd_topic_config *c,
    int64_t created_ms, char *buf, size_t size, size_t *len)
{
	size_t n = logd_topic_config_format(c, buf, size);
	int m;

	if (n >= size)
		return -ENOMEM;
	m = snprintf(buf + n, size - n, "created.ms=%" PRId64 "\n",
	    created_ms);
	if (m < 0 || (size_t)m >= size - n)
		return -ENOMEM;
	*len = n + (size_t)m;
	return 0;
}

int
logd_topic_config_decode(const void *data, size_t len,
    struct logd_topic_config *cfg, int64_t *created_ms)
{
	struct logd_topic_config c;
	int64_t created = 0;
	char line[128];
	const char *p = data, *end = p + len;

	logd_topic_config_default(&c);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		char *eq;

		if (n >= sizeof(line))
			return LOGD_ESTORE;
		memcpy(line, p, n);
		line[n] = '\0';
		p += n + (nl != NULL);
		if (n == 0)
			continue;
		eq = strchr(line, '=');
		if (eq == NULL)
			return LOGD_ESTORE;
		*eq++ = '\0';
		if (strcmp(line, "created.ms") == 0) {
			if (parse_i64(eq, INT64_MIN, INT64_MAX, &created) != 0)
				return LOGD_ESTORE;
		} else if (logd_topic_config_set(&c, line, eq) != 0) {
			return LOGD_ESTORE;
		}
	}
	*cfg = c;
	if (created_ms != NULL)
		*created_ms = created;
	return 0;
}
