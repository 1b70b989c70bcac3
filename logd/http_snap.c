/*
 * http_snap.c - what the HTTP listener shows, made on the loop thread
 * (http.h): the Prometheus text and the JSON documents, from the broker's
 * topics, partitions, groups, offsets and statistics (stats.h).
 *
 * Metric names follow kafka_exporter's under a logd_ prefix
 * (logd_topic_partition_current_offset, logd_consumergroup_lag, ...);
 * logd.8 lists them all.  Label values are escaped as the text format
 * says (backslash, double quote, newline); JSON strings are escaped and
 * any byte that is not valid UTF-8 becomes U+FFFD.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "http.h"
#include "proto.h"
#include "stats.h"

/* ------------------------------------------------------------------ */
/* Text building                                                       */
/* ------------------------------------------------------------------ */

static void bprintf(struct obuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void bprintf(struct obuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err || obuf_reserve(b, 256))
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		if (obuf_reserve(b, (size_t)n + 1))
			return;
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

static void bputs(struct obuf *b, const char *s)
{
	obuf_append(b, s, strlen(s));
}

/* A Prometheus label value. */
static void label(struct obuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			bputs(b, "\\\\");
		else if (*s == '"')
			bputs(b, "\\\"");
		else if (*s == '\n')
			bputs(b, "\\n");
		else
			obuf_append(b, s, 1);
	}
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static int utf8_len(const unsigned char *s)
{
	int n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((n == 3 && s[0] == 0xe0 && s[1] < 0xa0) ||
	    (n == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
	    (n == 4 && s[0] == 0xf0 && s[1] < 0x90) ||
	    (n == 4 && s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return n;
}

/* A JSON string, quoted. */
static void jstr(struct obuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int n;

	bputs(b, "\"");
	while (*p) {
		if (*p == '"' || *p == '\\') {
			bprintf(b, "\\%c", *p++);
		} else if (*p < 0x20) {
			bprintf(b, "\\u%04x", *p++);
		} else if ((n = utf8_len(p)) == 0) {
			bputs(b, "\\ufffd");
			p++;
		} else {
			obuf_append(b, p, (size_t)n);
			p += n;
		}
	}
	bputs(b, "\"");
}

static char *take(struct obuf *b, size_t *len)
{
	char *s;

	obuf_append(b, "", 1);
	if (b->err) {
		obuf_free(b);
		return NULL;
	}
	s = b->data;
	*len = b->len - 1;
	b->data = NULL;
	return s;
}

/*
 * A metric family: the text format wants each one's samples together, so
 * per-topic and per-group samples gather here and go out one after the
 * other.
 */
struct family {
	const char *name, *type, *help;
	struct obuf b;
};

enum {
	F_TOPIC_PARTITIONS, F_TOPIC_RIN, F_TOPIC_ROUT, F_TOPIC_BIN,
	F_TOPIC_BOUT, F_PART_CUR, F_PART_OLD, F_PART_BYTES, F_PART_SEGS,
	F_PART_DISK,
	F_GROUP_CUR, F_GROUP_LAG, F_GROUP_MEMBERS, F_GROUP_LAGSUM, F_N
};

static const struct family family_defs[F_N] = {
	{ "logd_topic_partitions", "gauge", "Partitions of the topic.", {0} },
	{ "logd_topic_records_in_total", "counter",
	    "Records appended to the topic since logd started.", {0} },
	{ "logd_topic_records_out_total", "counter",
	    "Records of the topic sent to consumers since logd started.", {0} },
	{ "logd_topic_bytes_in_total", "counter",
	    "Batch bytes appended to the topic since logd started.", {0} },
	{ "logd_topic_bytes_out_total", "counter",
	    "Batch bytes of the topic sent since logd started.", {0} },
	{ "logd_topic_partition_current_offset", "gauge",
	    "The partition's end offset (high watermark).", {0} },
	{ "logd_topic_partition_oldest_offset", "gauge",
	    "The partition's start offset.", {0} },
	{ "logd_topic_partition_bytes", "gauge",
	    "Bytes of the partition's segments.", {0} },
	{ "logd_topic_partition_segments", "gauge",
	    "Segments of the partition.", {0} },
	{ "logd_topic_partition_disk_bytes", "gauge",
	    "Bytes of disk the partition's files take (reserved room too).",
	    {0} },
	{ "logd_consumergroup_current_offset", "gauge",
	    "The group's committed offset.", {0} },
	{ "logd_consumergroup_lag", "gauge",
	    "End offset less the group's committed offset.", {0} },
	{ "logd_consumergroup_members", "gauge", "Members of the group.", {0} },
	{ "logd_consumergroup_group_lag", "gauge",
	    "The group's lag over all its partitions.", {0} },
};

static void families_out(struct obuf *m, struct family *f)
{
	int i;

	for (i = 0; i < F_N; i++) {
		bprintf(m, "# HELP %s %s\n# TYPE %s %s\n", f[i].name, f[i].help,
		    f[i].name, f[i].type);
		if (f[i].b.err)
			m->err = 1;
		else
			obuf_append(m, f[i].b.data, f[i].b.len);
		obuf_free(&f[i].b);
	}
}

/* ------------------------------------------------------------------ */
/* Throughput history (sampled every 5 s by http.c)                    */
/* ------------------------------------------------------------------ */

#define SAMPLES 120                /* 10 minutes */

static struct sample {
	int64_t ms;                /* wall clock */
	uint64_t records_in, records_out, bytes_in, bytes_out;
} samples[SAMPLES];
static size_t nsamples, sample_head;

void http_snap_sample(void)
{
	struct sample *s = &samples[sample_head];

	s->ms = ev_wall();
	s->records_in = srv.records_in;
	s->records_out = srv.records_out;
	s->bytes_in = srv.bytes_in;
	s->bytes_out = srv.bytes_out;
	sample_head = (sample_head + 1) % SAMPLES;
	if (nsamples < SAMPLES)
		nsamples++;
}

static void throughput_json(struct obuf *b)
{
	size_t i, k;

	bputs(b, "{\"interval_ms\":5000,\"samples\":[");
	for (i = 0; i < nsamples; i++) {
		const struct sample *s;

		k = (sample_head + SAMPLES - nsamples + i) % SAMPLES;
		s = &samples[k];
		bprintf(b, "%s{\"time_ms\":%" PRId64 ",\"records_in\":%" PRIu64
		    ",\"records_out\":%" PRIu64 ",\"bytes_in\":%" PRIu64
		    ",\"bytes_out\":%" PRIu64 "}", i ? "," : "", s->ms,
		    s->records_in, s->records_out, s->bytes_in, s->bytes_out);
	}
	/* and now, so the last point is current */
	bprintf(b, "],\"now\":{\"time_ms\":%" PRId64 ",\"records_in\":%"
	    PRIu64 ",\"records_out\":%" PRIu64 ",\"bytes_in\":%" PRIu64
	    ",\"bytes_out\":%" PRIu64 "}}\n", ev_wall(), srv.records_in,
	    srv.records_out, srv.bytes_in, srv.bytes_out);
}

/* ------------------------------------------------------------------ */
/* Topics                                                              */
/* ------------------------------------------------------------------ */

struct topics_ctx {
	struct family *f;          /* metrics */
	struct obuf *j;            /* JSON */
	int first;
};

static int config_kv(void *arg, const char *key, const char *value)
{
	struct obuf *j = arg;

	if (j->len && j->data[j->len - 1] != '{')
		bputs(j, ",");
	jstr(j, key);
	bputs(j, ":");
	jstr(j, value);
	return 0;
}

static int topic_out(void *arg, const char *name, int err,
    const struct logd_topic_config *cfg, const struct part_info *parts)
{
	struct topics_ctx *t = arg;
	struct family *f = t->f;
	struct obuf *j = t->j;
	uint64_t tin = 0, tout = 0, bin = 0, bout = 0, bytes = 0, disk = 0;
	int32_t i;

	if (err)
		return 0;
	bprintf(j, "%s{\"name\":", t->first ? "" : ",");
	t->first = 0;
	jstr(j, name);
	bprintf(j, ",\"config\":{");
	logd_topic_config_each(cfg, config_kv, j);
	bputs(j, "},\"partitions\":[");
	for (i = 0; i < cfg->partitions; i++) {
		const struct part_info *p = &parts[i];
		struct logd_log *log;
		struct plog *pl = NULL;

		if (!broker_log(name, p->partition, &log))
			pl = logd_log_userctx(log);
		if (pl) {
			tin += pl->records_in;
			tout += pl->records_out;
			bin += pl->bytes_in;
			bout += pl->bytes_out;
		}
		bytes += p->size;
		disk += p->disk;
		bprintf(j, "%s{\"partition\":%" PRId32 ",\"start\":%" PRId64
		    ",\"end\":%" PRId64 ",\"bytes\":%" PRIu64 ",\"disk_bytes\":%"
		    PRIu64 ",\"segments\":%" PRIu32 ",\"readonly\":%s}",
		    i ? "," : "", p->partition, p->start, p->end, p->size,
		    p->disk, p->segments, p->err ? "true" : "false");
#define PM(fam, fmt, v) do { \
		struct obuf *m = &f[fam].b; \
		bprintf(m, "%s{topic=\"", f[fam].name); \
		label(m, name); \
		bprintf(m, "\",partition=\"%" PRId32 "\"} " fmt "\n", \
		    p->partition, v); \
	} while (0)
		PM(F_PART_CUR, "%" PRId64, p->end);
		PM(F_PART_OLD, "%" PRId64, p->start);
		PM(F_PART_BYTES, "%" PRIu64, p->size);
		PM(F_PART_SEGS, "%" PRIu32, p->segments);
		PM(F_PART_DISK, "%" PRIu64, p->disk);
#undef PM
	}
	bprintf(j, "],\"bytes\":%" PRIu64 ",\"disk_bytes\":%" PRIu64
	    ",\"records_in\":%" PRIu64 ",\"records_out\":%" PRIu64 "}", bytes,
	    disk, tin, tout);
#define TM(fam, fmt, v) do { \
	struct obuf *m = &f[fam].b; \
	bprintf(m, "%s{topic=\"", f[fam].name); \
	label(m, name); \
	bprintf(m, "\"} " fmt "\n", v); \
} while (0)
	TM(F_TOPIC_PARTITIONS, "%" PRId32, cfg->partitions);
	TM(F_TOPIC_RIN, "%" PRIu64, tin);
	TM(F_TOPIC_ROUT, "%" PRIu64, tout);
	TM(F_TOPIC_BIN, "%" PRIu64, bin);
	TM(F_TOPIC_BOUT, "%" PRIu64, bout);
#undef TM
	return 0;
}

/* ------------------------------------------------------------------ */
/* Groups                                                              */
/* ------------------------------------------------------------------ */

struct commit_row {
	char *group, *topic;
	int32_t partition;
	int64_t offset, commit_ms;
};

struct rows {
	struct commit_row *v;
	size_t n, cap;
	int failed;
};

static int add_row(void *arg, const char *group, const char *topic,
    int32_t partition, int64_t offset, int64_t commit_ms,
    const char *metadata)
{
	struct rows *rs = arg;
	struct commit_row *r;

	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 64;

		if (!(r = realloc(rs->v, cap * sizeof(*r)))) {
			rs->failed = 1;
			return 0;
		}
		rs->v = r;
		rs->cap = cap;
	}
	r = &rs->v[rs->n];
	r->group = strdup(group);
	r->topic = strdup(topic);
	if (!r->group || !r->topic) {
		free(r->group);
		free(r->topic);
		rs->failed = 1;
		return 0;
	}
	r->partition = partition;
	r->offset = offset;
	r->commit_ms = commit_ms;
	rs->n++;
	return 0;
}

static int row_cmp(const void *a, const void *b)
{
	const struct commit_row *x = a, *y = b;
	int d = strcmp(x->group, y->group);

	if (!d)
		d = strcmp(x->topic, y->topic);
	if (!d)
		d = (x->partition > y->partition) - (x->partition < y->partition);
	return d;
}

static void member_json(void *arg, const struct member_info *mi)
{
	struct obuf *j = arg;
	const struct group_assign *a = mi->assign;
	struct group_assign *ka = NULL;
	size_t n = mi->nassign, i, k;

	if (j->data[j->len - 1] != '[')
		bputs(j, ",");
	bputs(j, "{\"member\":");
	jstr(j, mi->id);
	bputs(j, ",\"client\":");
	jstr(j, mi->client);
	bprintf(j, ",\"session_ms\":%" PRId64 ",\"assignment\":[",
	    mi->session_ms);
	if (!n && mi->kassign_len &&
	    group_kafka_assignment(mi->kassign, mi->kassign_len, &ka, &n) == 0)
		a = ka;
	for (i = 0; a && i < n; i++) {
		bputs(j, i ? ",{\"topic\":" : "{\"topic\":");
		jstr(j, a[i].topic);
		bputs(j, ",\"partitions\":[");
		for (k = 0; k < a[i].n; k++)
			bprintf(j, "%s%" PRId32, k ? "," : "", a[i].parts[k]);
		bputs(j, "]}");
	}
	bputs(j, "]}");
	group_assign_free(ka, ka ? n : 0);
}

/* One group: its coordinator state g (NULL: commits only) and rows. */
static void group_out(struct family *f, struct obuf *j, int first,
    const char *name, const struct group *g, const struct commit_row *r,
    size_t n)
{
	struct logd_log *log;
	int64_t end, lag, total = 0;
	size_t i;

	bprintf(j, "%s{\"group\":", first ? "" : ",");
	jstr(j, name);
	bputs(j, ",\"state\":");
	jstr(j, group_state(g));
	bprintf(j, ",\"kind\":\"%s\",\"generation\":%" PRId64
	    ",\"members\":[", !g ? "" : group_kind(g) == GROUP_KAFKA ?
	    "kafka" : "native", g ? group_generation(g) : 0);
	group_each_member(g, member_json, j);
	bputs(j, "],\"offsets\":[");
	for (i = 0; i < n; i++) {
		end = -1;
		lag = 0;
		if (!broker_log(r[i].topic, r[i].partition, &log)) {
			end = logd_log_end_offset(log);
			lag = end > r[i].offset ? end - r[i].offset : 0;
		}
		total += lag;
		bprintf(j, "%s{\"topic\":", i ? "," : "");
		jstr(j, r[i].topic);
		bprintf(j, ",\"partition\":%" PRId32 ",\"committed\":%" PRId64
		    ",\"end\":%" PRId64 ",\"lag\":%" PRId64 ",\"commit_ms\":%"
		    PRId64 "}", r[i].partition, r[i].offset, end, lag,
		    r[i].commit_ms);
#define GM(fam, v) do { \
		struct obuf *m = &f[fam].b; \
		bprintf(m, "%s{consumergroup=\"", f[fam].name); \
		label(m, name); \
		bputs(m, "\",topic=\""); \
		label(m, r[i].topic); \
		bprintf(m, "\",partition=\"%" PRId32 "\"} %" PRId64 "\n", \
		    r[i].partition, v); \
	} while (0)
		GM(F_GROUP_CUR, r[i].offset);
		GM(F_GROUP_LAG, lag);
#undef GM
	}
	bprintf(j, "],\"lag\":%" PRId64 "}", total);
	bputs(&f[F_GROUP_MEMBERS].b, "logd_consumergroup_members{"
	    "consumergroup=\"");
	label(&f[F_GROUP_MEMBERS].b, name);
	bprintf(&f[F_GROUP_MEMBERS].b, "\"} %zu\n", g ?
	    group_member_count(name) : 0);
	bputs(&f[F_GROUP_LAGSUM].b, "logd_consumergroup_group_lag{"
	    "consumergroup=\"");
	label(&f[F_GROUP_LAGSUM].b, name);
	bprintf(&f[F_GROUP_LAGSUM].b, "\"} %" PRId64 "\n", total);
}

/* The groups with commits and the groups with members, merged by name. */
static int groups_out(struct family *f, struct obuf *j)
{
	struct rows rs = { 0 };
	const struct group *g = group_next(NULL);
	size_t i = 0, k;
	int first = 1, d, rc;

	rc = broker_offsets(NULL, add_row, &rs);
	if (!rc && rs.failed)
		rc = -ENOMEM;
	if (rs.n)
		qsort(rs.v, rs.n, sizeof(*rs.v), row_cmp);
	bputs(j, "{\"groups\":[");
	while (!rc && (i < rs.n || g)) {
		const char *name;

		d = i >= rs.n ? 1 : !g ? -1 : strcmp(rs.v[i].group,
		    group_name(g));
		name = d > 0 ? group_name(g) : rs.v[i].group;
		k = i;
		if (d <= 0)
			while (k < rs.n && !strcmp(rs.v[k].group, name))
				k++;
		group_out(f, j, first, name, d >= 0 ? g : NULL, rs.v + i,
		    k - i);
		first = 0;
		i = k;
		if (d >= 0)
			g = group_next(g);
	}
	bputs(j, "]}\n");
	for (i = 0; i < rs.n; i++) {
		free(rs.v[i].group);
		free(rs.v[i].topic);
	}
	free(rs.v);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Requests, latencies, the process                                    */
/* ------------------------------------------------------------------ */

static const char *const proto_names[STATS_PROTOS] = { "native", "kafka" };

static const char *kafka_api_name(int api)
{
	static const char *const names[] = {
		[0] = "Produce", [1] = "Fetch", [2] = "ListOffsets",
		[3] = "Metadata", [8] = "OffsetCommit", [9] = "OffsetFetch",
		[10] = "FindCoordinator", [11] = "JoinGroup",
		[12] = "Heartbeat", [13] = "LeaveGroup", [14] = "SyncGroup",
		[15] = "DescribeGroups", [16] = "ListGroups",
		[17] = "SaslHandshake", [18] = "ApiVersions",
		[19] = "CreateTopics", [20] = "DeleteTopics",
		[22] = "InitProducerId", [32] = "DescribeConfigs",
	};

	return api >= 0 && (size_t)api < sizeof(names) / sizeof(names[0]) &&
	    names[api] ? names[api] : NULL;
}

static void api_label(struct obuf *m, int proto, int api)
{
	const char *n = proto == STATS_KAFKA ? kafka_api_name(api) :
	    api < LOGD_API_COUNT ? logd_proto_api_name(api) : NULL;

	if (n)
		bprintf(m, "api=\"%s\"", n);
	else
		bprintf(m, "api=\"%d\"", api);
}

static void hist_out(struct obuf *m, const char *name, const char *labels,
    const struct hist *h)
{
	uint64_t cum = 0;
	int i;

	for (i = 0; i < HIST_BOUNDS; i++) {
		cum += h->b[i];
		bprintf(m, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name,
		    labels, *labels ? "," : "", hist_bounds[i], cum);
	}
	cum += h->b[HIST_BOUNDS];
	bprintf(m, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels,
	    *labels ? "," : "", cum);
	bprintf(m, "%s_sum%s%s%s %.9f\n", name, *labels ? "{" : "", labels,
	    *labels ? "}" : "", h->sum);
	bprintf(m, "%s_count%s%s%s %" PRIu64 "\n", name, *labels ? "{" : "",
	    labels, *labels ? "}" : "", h->count);
}

/* Open descriptors and the bytes of datadir files mapped, from /proc. */
static void process_metrics(struct obuf *m)
{
	char line[PATH_MAX + 256];
	unsigned long long lo, hi, mapped = 0;
	struct dirent *de;
	size_t dl = strlen(srv.cfg.datadir);
	int fds = 0;
	DIR *d = opendir("/proc/self/fd");
	FILE *f;

	if (d) {
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				fds++;
		closedir(d);
		bprintf(m, "# HELP logd_open_fds Open file descriptors.\n"
		    "# TYPE logd_open_fds gauge\nlogd_open_fds %d\n", fds - 1);
	}
	if ((f = fopen("/proc/self/maps", "r"))) {
		while (fgets(line, sizeof(line), f)) {
			char *path = strchr(line, '/');

			if (path && sscanf(line, "%llx-%llx", &lo, &hi) == 2 &&
			    (srv.cfg.datadir[0] != '/' ||
			    !strncmp(path, srv.cfg.datadir, dl)) &&
			    strstr(path, "/topics/"))
				mapped += hi - lo;
		}
		fclose(f);
		bprintf(m, "# HELP logd_mapped_bytes Bytes of segment files "
		    "mapped.\n# TYPE logd_mapped_bytes gauge\n"
		    "logd_mapped_bytes %llu\n", mapped);
	}
}

static void requests_out(struct obuf *m)
{
	struct conn *c;
	uint64_t conns[STATS_PROTOS] = { 0 };
	size_t i;
	int p, a;

	for (c = srv.conns; c; c = c->next)
		conns[c->proto == &kafka_proto ? STATS_KAFKA : STATS_NATIVE]++;
	bputs(m, "# HELP logd_connections Open client connections.\n"
	    "# TYPE logd_connections gauge\n");
	for (p = 0; p < STATS_PROTOS; p++)
		bprintf(m, "logd_connections{protocol=\"%s\"} %" PRIu64 "\n",
		    proto_names[p], conns[p]);
	bputs(m, "# HELP logd_requests_total Requests by protocol and "
	    "API.\n# TYPE logd_requests_total counter\n");
	for (p = 0; p < STATS_PROTOS; p++)
		for (a = 0; a < STATS_APIS; a++) {
			if (!stats.requests[p][a])
				continue;
			bprintf(m, "logd_requests_total{protocol=\"%s\",",
			    proto_names[p]);
			api_label(m, p, a);
			bprintf(m, "} %" PRIu64 "\n", stats.requests[p][a]);
		}
	bputs(m, "# HELP logd_request_errors_total Error replies by "
	    "protocol, API and code (Kafka's codes; liblogd's or a negated "
	    "errno for native).\n# TYPE logd_request_errors_total counter\n");
	for (i = 0; i < stats.nerrors; i++) {
		const struct stats_error *e = &stats.errors[i];

		bprintf(m, "logd_request_errors_total{protocol=\"%s\",",
		    proto_names[e->proto]);
		api_label(m, e->proto, e->api);
		bprintf(m, ",code=\"%d\"} %" PRIu64 "\n", e->code, e->n);
	}
	bputs(m, "# HELP logd_produce_reply_seconds Produce request to "
	    "reply, by acks.\n# TYPE logd_produce_reply_seconds histogram\n");
	hist_out(m, "logd_produce_reply_seconds", "acks=\"1\"",
	    &stats.produce_acks1);
	hist_out(m, "logd_produce_reply_seconds", "acks=\"all\"",
	    &stats.produce_acks_all);
	bputs(m, "# HELP logd_sync_seconds One group commit's fsyncs.\n"
	    "# TYPE logd_sync_seconds histogram\n");
	hist_out(m, "logd_sync_seconds", "", &stats.sync);
	bputs(m, "# HELP logd_fetch_wait_seconds Fetch request to reply "
	    "(long-poll included).\n# TYPE logd_fetch_wait_seconds "
	    "histogram\n");
	hist_out(m, "logd_fetch_wait_seconds", "", &stats.fetch_wait);
}

struct http_snap *http_snap_make(void)
{
	struct obuf m = { 0 }, j = { 0 }, gj = { 0 }, sj = { 0 }, tj = { 0 };
	struct family fam[F_N];
	struct topics_ctx t = { fam, &j, 1 };
	struct http_snap *s = calloc(1, sizeof(*s));
	int64_t uptime = ev_now() - srv.started_ms;

	if (!s)
		return NULL;
	memcpy(fam, family_defs, sizeof(fam));
	bprintf(&m, "# HELP logd_build_info The logd version.\n"
	    "# TYPE logd_build_info gauge\n"
	    "logd_build_info{version=\"%s\"} 1\n"
	    "# HELP logd_start_time_seconds When logd started (Unix time).\n"
	    "# TYPE logd_start_time_seconds gauge\n"
	    "logd_start_time_seconds %.3f\n", LOGD_VERSION_STRING,
	    (double)(ev_wall() - uptime) / 1000);
	bprintf(&m, "# HELP logd_records_in_total Records appended.\n"
	    "# TYPE logd_records_in_total counter\n"
	    "logd_records_in_total %" PRIu64 "\n"
	    "# HELP logd_records_out_total Records sent to consumers.\n"
	    "# TYPE logd_records_out_total counter\n"
	    "logd_records_out_total %" PRIu64 "\n"
	    "# HELP logd_bytes_in_total Bytes read from clients.\n"
	    "# TYPE logd_bytes_in_total counter\n"
	    "logd_bytes_in_total %" PRIu64 "\n"
	    "# HELP logd_bytes_out_total Bytes written to clients.\n"
	    "# TYPE logd_bytes_out_total counter\n"
	    "logd_bytes_out_total %" PRIu64 "\n", srv.records_in,
	    srv.records_out, srv.bytes_in, srv.bytes_out);
	requests_out(&m);
	process_metrics(&m);
	bputs(&j, "{\"topics\":[");
	broker_topics(NULL, 0, 0, topic_out, &t);
	bputs(&j, "]}\n");
	groups_out(fam, &gj);
	families_out(&m, fam);
	bprintf(&sj, "{\"version\":\"%s\",\"uptime_ms\":%" PRId64
	    ",\"connections\":%" PRIu64 ",\"records_in\":%" PRIu64
	    ",\"records_out\":%" PRIu64 ",\"bytes_in\":%" PRIu64
	    ",\"bytes_out\":%" PRIu64 ",\"datadir\":", LOGD_VERSION_STRING,
	    uptime, srv.nconns, srv.records_in, srv.records_out,
	    srv.bytes_in, srv.bytes_out);
	jstr(&sj, srv.cfg.datadir);
	bputs(&sj, "}\n");
	throughput_json(&tj);
	s->metrics = take(&m, &s->metrics_len);
	s->topics = take(&j, &s->topics_len);
	s->groups = take(&gj, &s->groups_len);
	s->stats = take(&sj, &s->stats_len);
	s->throughput = take(&tj, &s->throughput_len);
	if (!s->metrics || !s->topics || !s->groups || !s->stats ||
	    !s->throughput) {
		http_snap_free(s);
		return NULL;
	}
	return s;
}

void http_snap_free(struct http_snap *s)
{
	if (!s)
		return;
	free(s->metrics);
	free(s->topics);
	free(s->groups);
	free(s->stats);
	free(s->throughput);
	free(s);
}
