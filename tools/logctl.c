/*
 * logctl - administration of a logd broker, and offline checks of a
 * datadir.
 *
 * Design.  main() parses the global options (-b, --json) up to the
 * command name, then hands the rest of argv to the command's function,
 * which parses its own options (the global ones are accepted there too).
 * Broker commands connect with liblogd's client; verify and dump read
 * segment files directly (logd_segment_verify(), logd_segment_walk()) and
 * need no broker.  Every listing prints either aligned text for people
 * or, with --json, one JSON document (dump: one JSON object per batch
 * per line) for scripts and jq.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "logd.h"
#include "tool.h"

#define MAX_CONFIGS 64

struct ctl {
	const char *broker;
	int json;
	struct logd_client *c;
	/* per-command options */
	int64_t partitions;       /* create -p, reset -p (-1: none) */
	struct logd_kv config[MAX_CONFIGS];
	size_t nconfig;
	const char *topic;        /* reset --topic */
	const char *to;           /* reset --to */
	char **args;              /* positional arguments of the command */
	int nargs;
};

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: logctl [-hV] [-b addr] [--json] command [arguments]\n"
	    "commands:\n"
	    "  topics                         list topics\n"
	    "  create NAME [-p N] [--config key=value]...\n"
	    "  describe NAME                  partitions, offsets, sizes, "
	    "configs\n"
	    "  alter NAME --config key=value...\n"
	    "  delete NAME\n"
	    "  compact NAME [-p N]            clean a compacted topic now\n"
	    "  groups                         list consumer groups, members "
	    "and lag\n"
	    "  group NAME                     a group's members, partitions "
	    "and lag\n"
	    "  reset NAME --topic T --to earliest|latest|OFFSET|TIME "
	    "[-p N]\n"
	    "  delete-group NAME\n"
	    "  stats                          broker counters\n"
	    "  verify PATH                    check a datadir, partition or "
	    "segment (offline)\n"
	    "  dump FILE                      print a segment's batches and "
	    "records (offline)\n"
	    "options:\n"
	    "  -b, --broker ADDR    broker (default $LOGD_BROKER or %s)\n"
	    "  --json               JSON output\n"
	    "  -p, --partitions N   partition count (create), partition "
	    "(reset, compact)\n"
	    "  --config K=V         a topic setting (create, alter; repeatable)\n"
	    "  --topic T            the topic to reset\n"
	    "  --to WHERE           where to reset to\n"
	    "  -h, --help           print this help and exit\n"
	    "  -V, --version        print the version and exit\n",
	    LOGD_DEFAULT_ADDR);
}

/* Command option parsing: --json and -b everywhere, the rest per flag. */
#define OPT_JSON 0x100
#define OPT_CONFIG 0x101
#define OPT_TOPIC 0x102
#define OPT_TO 0x103

static int parse_cmd(struct ctl *x, const char *cmd, int argc, char **argv,
    const char *allowed, int min_args, int max_args)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "broker", required_argument, NULL, 'b' },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "topic", required_argument, NULL, OPT_TOPIC },
		{ "to", required_argument, NULL, OPT_TO },
		{ "partitions", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	char *eq;

	optind = 0;	/* glibc: start over on a new argv, permuting */
	while ((ch = getopt_long(argc, argv, "b:p:", longopts, NULL)) != -1) {
		if (ch == '?')
			return tool_usage_err("%s: bad option", cmd);
		if ((ch == 'p' && strchr(allowed, 'p') == NULL) ||
		    (ch == OPT_CONFIG && strchr(allowed, 'c') == NULL) ||
		    ((ch == OPT_TOPIC || ch == OPT_TO) &&
		    strchr(allowed, 'r') == NULL))
			return tool_usage_err("%s: option %s%s is not for this "
			    "command", cmd, ch == 'p' ? "-" : "--",
			    ch == 'p' ? "p" : argv[optind - 1] + 2);
		switch (ch) {
		case 'b':
			x->broker = optarg;
			break;
		case 'p':
			if (tool_parse_i64(optarg, 0, 10000, &x->partitions) <
			    0)
				return tool_usage_err("%s: bad partition count '%s'",
				    cmd, optarg);
			break;
		case OPT_JSON:
			x->json = 1;
			break;
		case OPT_CONFIG:
			eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg)
				return tool_usage_err("%s: bad --config '%s': "
				    "expected key=value", cmd, optarg);
			if (x->nconfig == MAX_CONFIGS)
				return tool_usage_err("%s: too many --config", cmd);
			*eq = '\0';
			x->config[x->nconfig].key = optarg;
			x->config[x->nconfig].value = eq + 1;
			x->nconfig++;
			break;
		case OPT_TOPIC:
			x->topic = optarg;
			break;
		case OPT_TO:
			x->to = optarg;
			break;
		}
	}
	x->args = argv + optind;
	x->nargs = argc - optind;
	if (x->nargs < min_args)
		return tool_usage_err("%s: missing argument", cmd);
	if (x->nargs > max_args)
		return tool_usage_err("%s: too many arguments", cmd);
	return 0;
}

/* Checks the --config settings with the broker's own rules. */
static int check_configs(const struct ctl *x, const char *cmd)
{
	struct logd_topic_config tc;
	size_t i;

	logd_topic_config_default(&tc);
	for (i = 0; i < x->nconfig; i++) {
		char why[300];

		if (logd_topic_config_set(&tc, x->config[i].key,
		    x->config[i].value) == 0)
			continue;
		logd_topic_config_error(x->config[i].key, x->config[i].value,
		    why, sizeof(why));
		return tool_usage_err("%s: bad --config '%s=%s': %s", cmd,
		    x->config[i].key, x->config[i].value, why);
	}
	return 0;
}

static int connect_broker(struct ctl *x)
{
	return tool_connect(x->broker, &x->c);
}

static void jstr(struct tool_buf *b, const char *s)
{
	tool_json_string(b, s, strlen(s));
}

static int emit(struct tool_buf *b)
{
	int ex = 0;

	if (b->len > 0 && fwrite(b->data, 1, b->len, stdout) != b->len)
		ex = TOOL_EXIT_FAIL;
	tool_buf_free(b);
	if (fflush(stdout) != 0)
		ex = TOOL_EXIT_FAIL;
	if (ex != 0)
		tool_err("write error: %s", strerror(errno));
	return ex;
}

static void human_size(uint64_t n, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
}

/* ---- Topics ---- */

static int get_metadata(struct ctl *x, const char *topic,
    struct logd_metadata **md)
{
	const char *names[1] = { topic };
	int rc;

	rc = logd_client_metadata(x->c, topic ? names : NULL, topic ? 1 : 0,
	    md);
	if (rc < 0)
		return tool_client_err(x->c, rc, "metadata");
	if (topic != NULL && ((*md)->topic_count != 1 ||
	    (*md)->topics[0].error != 0)) {
		int err = (*md)->topic_count == 1 ? (*md)->topics[0].error :
		    LOGD_ENOTOPIC;

		if (err == LOGD_ENOTOPIC)
			tool_err("unknown topic '%s'", topic);
		else
			tool_err("topic '%s': %s", topic, logd_strerror(err));
		logd_metadata_free(*md);
		*md = NULL;
		return TOOL_EXIT_FAIL;
	}
	return 0;
}

static void topic_totals(const struct logd_topic_meta *t, int64_t *records,
    uint64_t *bytes, uint64_t *disk)
{
	int32_t i;

	*records = 0;
	*bytes = 0;
	*disk = 0;
	for (i = 0; i < t->partition_count; i++) {
		*records += t->partitions[i].end_offset -
		    t->partitions[i].start_offset;
		*bytes += t->partitions[i].size;
		*disk += t->partitions[i].disk;
	}
}

static int cmd_topics(struct ctl *x)
{
	struct tool_buf b = TOOL_BUF_INIT;
	struct logd_metadata *md;
	char hs[32];
	size_t i;
	int ex;

	if ((ex = connect_broker(x)) != 0 || (ex = get_metadata(x, NULL, &md))
	    != 0)
		return ex;
	if (x->json)
		tool_buf_addc(&b, '[');
	else if (md->topic_count > 0)
		tool_buf_printf(&b, "%-30s %10s %12s %12s %12s\n", "TOPIC",
		    "PARTITIONS", "RECORDS", "SIZE", "DISK");
	for (i = 0; i < md->topic_count; i++) {
		const struct logd_topic_meta *t = &md->topics[i];
		int64_t records;
		uint64_t bytes, disk;
		char ds[32];

		topic_totals(t, &records, &bytes, &disk);
		if (x->json) {
			tool_buf_adds(&b, i ? ",{\"name\":" : "{\"name\":");
			jstr(&b, t->name);
			tool_buf_printf(&b, ",\"partitions\":%d,\"records\":"
			    "%lld,\"size\":%llu,\"disk\":%llu}",
			    t->partition_count, (long long)records,
			    (unsigned long long)bytes,
			    (unsigned long long)disk);
		} else {
			human_size(bytes, hs, sizeof(hs));
			human_size(disk, ds, sizeof(ds));
			tool_buf_printf(&b, "%-30s %10d %12lld %12s %12s\n",
			    t->name, t->partition_count, (long long)records, hs,
			    ds);
		}
	}
	if (x->json)
		tool_buf_adds(&b, "]\n");
	logd_metadata_free(md);
	return emit(&b);
}

static int cmd_create(struct ctl *x)
{
	const char *name = x->args[0];
	int rc, ex;

	if (x->partitions == 0)
		return tool_usage_err("create: bad partition count '0': 1 to "
		    "10000");
	if ((ex = check_configs(x, "create")) != 0 ||
	    (ex = connect_broker(x)) != 0)
		return ex;
	rc = logd_client_topic_create(x->c, name,
	    x->partitions > 0 ? (int32_t)x->partitions : 0, x->config,
	    x->nconfig);
	if (rc == LOGD_ETOPICEXIST) {
		tool_err("topic '%s' already exists", name);
		return TOOL_EXIT_FAIL;
	}
	if (rc < 0)
		return tool_client_err(x->c, rc, "create %s", name);
	if (x->json)
		printf("{\"created\":\"%s\"}\n", name);
	else
		printf("created topic %s\n", name);
	return 0;
}

static int cmd_describe(struct ctl *x)
{
	struct tool_buf b = TOOL_BUF_INIT;
	const struct logd_topic_meta *t;
	struct logd_metadata *md;
	const char *policy = "delete";
	char hs[32];
	int32_t i;
	size_t k;
	int ex, compacted;

	if ((ex = connect_broker(x)) != 0 ||
	    (ex = get_metadata(x, x->args[0], &md)) != 0)
		return ex;
	t = &md->topics[0];
	for (k = 0; k < t->config_count; k++)
		if (strcmp(t->config[k].key, "cleanup.policy") == 0)
			policy = t->config[k].value;
	compacted = strstr(policy, "compact") != NULL;
	if (x->json) {
		tool_buf_adds(&b, "{\"name\":");
		jstr(&b, t->name);
		tool_buf_printf(&b, ",\"partitions\":[");
		for (i = 0; i < t->partition_count; i++) {
			const struct logd_partition_meta *p = &t->partitions[i];

			tool_buf_printf(&b, "%s{\"partition\":%d,\"start\":%lld,"
			    "\"end\":%lld,\"records\":%lld,\"size\":%llu,"
			    "\"disk\":%llu,\"error\":%d,\"dirty_ratio\":%.4f,"
			    "\"clean_point\":%lld}",
			    i ? "," : "", p->partition,
			    (long long)p->start_offset,
			    (long long)p->end_offset,
			    (long long)(p->end_offset - p->start_offset),
			    (unsigned long long)p->size,
			    (unsigned long long)p->disk, p->error,
			    p->dirty_ratio, (long long)p->clean_point);
		}
		tool_buf_adds(&b, "],\"cleanup_policy\":");
		jstr(&b, policy);
		tool_buf_adds(&b, ",\"config\":{");
		for (k = 0; k < t->config_count; k++) {
			if (k)
				tool_buf_addc(&b, ',');
			jstr(&b, t->config[k].key);
			tool_buf_addc(&b, ':');
			jstr(&b, t->config[k].value);
		}
		tool_buf_adds(&b, "}}\n");
	} else {
		tool_buf_printf(&b, "topic %s: %d partitions\n", t->name,
		    t->partition_count);
		if (compacted)
			tool_buf_printf(&b, "cleanup.policy %s: DIRTY is the "
			    "dirty ratio of the cleanable segments, CLEAN the "
			    "offset cleaned up to\n", policy);
		tool_buf_printf(&b, "%9s %12s %12s %12s %12s %12s", "PARTITION",
		    "START", "END", "RECORDS", "SIZE", "DISK");
		if (compacted)
			tool_buf_printf(&b, " %6s %12s", "DIRTY", "CLEAN");
		tool_buf_addc(&b, '\n');
		for (i = 0; i < t->partition_count; i++) {
			const struct logd_partition_meta *p = &t->partitions[i];
			char ds[32];

			human_size(p->size, hs, sizeof(hs));
			human_size(p->disk, ds, sizeof(ds));
			tool_buf_printf(&b, "%9d %12lld %12lld %12lld %12s %12s",
			    p->partition, (long long)p->start_offset,
			    (long long)p->end_offset,
			    (long long)(p->end_offset - p->start_offset), hs, ds);
			if (compacted)
				tool_buf_printf(&b, " %5.1f%% %12lld",
				    p->dirty_ratio * 100,
				    (long long)p->clean_point);
			tool_buf_printf(&b, "%s\n", p->error ?
			    "  read-only: a sync failed" : "");
		}
		if (t->config_count > 0)
			tool_buf_adds(&b, "config:\n");
		for (k = 0; k < t->config_count; k++)
			tool_buf_printf(&b, "  %s=%s\n", t->config[k].key,
			    t->config[k].value);
	}
	logd_metadata_free(md);
	return emit(&b);
}

static int cmd_alter(struct ctl *x)
{
	const char *name = x->args[0];
	int rc, ex;

	if (x->nconfig == 0)
		return tool_usage_err("alter: nothing to change: give --config "
		    "key=value");
	if ((ex = check_configs(x, "alter")) != 0 ||
	    (ex = connect_broker(x)) != 0)
		return ex;
	rc = logd_client_topic_alter(x->c, name, x->config, x->nconfig);
	if (rc == LOGD_ENOTOPIC) {
		tool_err("unknown topic '%s'", name);
		return TOOL_EXIT_FAIL;
	}
	if (rc < 0)
		return tool_client_err(x->c, rc, "alter %s", name);
	if (x->json)
		printf("{\"altered\":\"%s\"}\n", name);
	else
		printf("altered topic %s\n", name);
	return 0;
}

static int cmd_compact(struct ctl *x)
{
	const char *name = x->args[0];
	struct logd_clean_stats st;
	uint32_t n;
	int rc, ex;

	if ((ex = connect_broker(x)) != 0)
		return ex;
	/* a clean may take minutes on a large topic */
	rc = logd_client_topic_compact(x->c, name, x->partitions >= 0 ?
	    (int32_t)x->partitions : -1, 3600 * 1000, &st, &n);
	if (rc == LOGD_ENOTOPIC) {
		tool_err("unknown topic '%s'", name);
		return TOOL_EXIT_FAIL;
	}
	if (rc < 0)
		return tool_client_err(x->c, rc, "compact %s", name);
	if (x->json) {
		printf("{\"compacted\":\"%s\",\"partitions\":%u,"
		    "\"segments\":%u,\"deleted_segments\":%u,"
		    "\"records_read\":%llu,\"records_kept\":%llu,"
		    "\"tombstones_dropped\":%llu,\"keyless_dropped\":%llu,"
		    "\"bytes_before\":%llu,\"bytes_after\":%llu,"
		    "\"ms\":%lld}\n", name, n, st.segments, st.deleted,
		    (unsigned long long)st.records_read,
		    (unsigned long long)st.records_kept,
		    (unsigned long long)st.tombstones_dropped,
		    (unsigned long long)st.keyless_dropped,
		    (unsigned long long)st.bytes_before,
		    (unsigned long long)st.bytes_after, (long long)st.run_ms);
		return 0;
	}
	printf("compacted topic %s: %u partition%s, %u segment%s rewritten "
	    "(%u deleted), %llu of %llu records kept, %llu tombstones "
	    "dropped, %llu -> %llu bytes, %lld ms\n", name, n,
	    n == 1 ? "" : "s", st.segments, st.segments == 1 ? "" : "s",
	    st.deleted, (unsigned long long)st.records_kept,
	    (unsigned long long)st.records_read,
	    (unsigned long long)st.tombstones_dropped,
	    (unsigned long long)st.bytes_before,
	    (unsigned long long)st.bytes_after, (long long)st.run_ms);
	return 0;
}

static int cmd_delete(struct ctl *x)
{
	const char *name = x->args[0];
	int rc, ex;

	if ((ex = connect_broker(x)) != 0)
		return ex;
	rc = logd_client_topic_delete(x->c, name);
	if (rc == LOGD_ENOTOPIC) {
		tool_err("unknown topic '%s'", name);
		return TOOL_EXIT_FAIL;
	}
	if (rc < 0)
		return tool_client_err(x->c, rc, "delete %s", name);
	if (x->json)
		printf("{\"deleted\":\"%s\"}\n", name);
	else
		printf("deleted topic %s\n", name);
	return 0;
}

/* ---- Groups ---- */

static int64_t group_lag(const struct logd_group *g)
{
	int64_t lag = 0;
	size_t i;

	for (i = 0; i < g->offset_count; i++) {
		if (g->offsets[i].lag < 0)
			return -1;
		lag += g->offsets[i].lag;
	}
	return lag;
}

static void assignment_json(struct tool_buf *b,
    const struct logd_group_assignment *a, size_t n)
{
	size_t i, k;

	tool_buf_addc(b, '[');
	for (i = 0; i < n; i++) {
		tool_buf_adds(b, i ? ",{\"topic\":" : "{\"topic\":");
		jstr(b, a[i].topic);
		tool_buf_adds(b, ",\"partitions\":[");
		for (k = 0; k < a[i].partition_count; k++)
			tool_buf_printf(b, "%s%d", k ? "," : "",
			    a[i].partitions[k]);
		tool_buf_adds(b, "]}");
	}
	tool_buf_addc(b, ']');
}

static void group_json(struct tool_buf *b, const struct logd_group *g)
{
	size_t i, k;

	tool_buf_adds(b, "{\"group\":");
	jstr(b, g->name);
	tool_buf_adds(b, ",\"state\":");
	jstr(b, g->state);
	tool_buf_printf(b, ",\"generation\":%lld,\"members\":[",
	    (long long)g->generation);
	for (i = 0; i < g->member_count; i++) {
		const struct logd_group_member *m = &g->members[i];

		tool_buf_adds(b, i ? ",{\"member\":" : "{\"member\":");
		jstr(b, m->member);
		tool_buf_adds(b, ",\"client\":");
		jstr(b, m->client);
		tool_buf_printf(b, ",\"session_ms\":%d,\"topics\":[",
		    m->session_ms);
		for (k = 0; k < m->topic_count; k++) {
			if (k)
				tool_buf_addc(b, ',');
			jstr(b, m->topics[k]);
		}
		tool_buf_adds(b, "],\"assignment\":");
		assignment_json(b, m->assignment, m->assignment_count);
		tool_buf_addc(b, '}');
	}
	tool_buf_printf(b, "],\"lag\":%lld,\"offsets\":[",
	    (long long)group_lag(g));
	for (i = 0; i < g->offset_count; i++) {
		const struct logd_group_offset *o = &g->offsets[i];

		tool_buf_adds(b, i ? ",{\"topic\":" : "{\"topic\":");
		jstr(b, o->topic);
		tool_buf_printf(b, ",\"partition\":%d,\"offset\":%lld,"
		    "\"end\":%lld,\"lag\":%lld}", o->partition,
		    (long long)o->offset, (long long)o->end_offset,
		    (long long)o->lag);
	}
	tool_buf_adds(b, "]}");
}

static int cmd_groups(struct ctl *x)
{
	struct tool_buf b = TOOL_BUF_INIT;
	struct logd_group_list *l;
	size_t i;
	int rc, ex;

	if ((ex = connect_broker(x)) != 0)
		return ex;
	rc = logd_client_groups(x->c, &l);
	if (rc < 0)
		return tool_client_err(x->c, rc, "groups");
	if (x->json)
		tool_buf_addc(&b, '[');
	else if (l->count > 0)
		tool_buf_printf(&b, "%-30s %-11s %7s %10s %12s\n", "GROUP",
		    "STATE", "MEMBERS", "PARTITIONS", "LAG");
	for (i = 0; i < l->count; i++) {
		const struct logd_group *g = &l->groups[i];

		if (x->json) {
			if (i)
				tool_buf_addc(&b, ',');
			group_json(&b, g);
		} else {
			tool_buf_printf(&b, "%-30s %-11s %7zu %10zu %12lld\n",
			    g->name, g->state[0] ? g->state : "-",
			    g->member_count, g->offset_count,
			    (long long)group_lag(g));
		}
	}
	if (x->json)
		tool_buf_adds(&b, "]\n");
	logd_group_list_free(l);
	return emit(&b);
}

/* The member that owns topic/part, or NULL. */
static const char *owner_of(const struct logd_group *g, const char *topic,
    int32_t part)
{
	size_t i, j, k;

	for (i = 0; i < g->member_count; i++) {
		const struct logd_group_member *m = &g->members[i];

		for (j = 0; j < m->assignment_count; j++) {
			if (strcmp(m->assignment[j].topic, topic) != 0)
				continue;
			for (k = 0; k < m->assignment[j].partition_count; k++)
				if (m->assignment[j].partitions[k] == part)
					return m->member;
		}
	}
	return NULL;
}

static void group_text(struct tool_buf *b, const struct logd_group *g)
{
	size_t i, j, k;

	tool_buf_printf(b, "group %s: %s, generation %lld, %zu member%s\n",
	    g->name, g->state[0] ? g->state : "-", (long long)g->generation,
	    g->member_count, g->member_count == 1 ? "" : "s");
	if (g->member_count > 0)
		tool_buf_printf(b, "%-40s %-16s %s\n", "MEMBER", "CLIENT",
		    "PARTITIONS");
	for (i = 0; i < g->member_count; i++) {
		const struct logd_group_member *m = &g->members[i];

		tool_buf_printf(b, "%-40s %-16s", m->member,
		    m->client[0] ? m->client : "-");
		if (m->assignment_count == 0)
			tool_buf_adds(b, " -");
		for (j = 0; j < m->assignment_count; j++) {
			tool_buf_printf(b, " %s:", m->assignment[j].topic);
			for (k = 0; k < m->assignment[j].partition_count; k++)
				tool_buf_printf(b, "%s%d", k ? "," : "",
				    m->assignment[j].partitions[k]);
			if (m->assignment[j].partition_count == 0)
				tool_buf_adds(b, "-");
		}
		tool_buf_addc(b, '\n');
	}
	if (g->offset_count == 0)
		return;
	tool_buf_printf(b, "%-30s %9s %12s %12s %12s  %s\n", "TOPIC",
	    "PARTITION", "COMMITTED", "END", "LAG", "MEMBER");
	for (i = 0; i < g->offset_count; i++) {
		const struct logd_group_offset *o = &g->offsets[i];
		const char *own = owner_of(g, o->topic, o->partition);

		tool_buf_printf(b, "%-30s %9d %12lld %12lld %12lld  %s\n",
		    o->topic, o->partition, (long long)o->offset,
		    (long long)o->end_offset, (long long)o->lag,
		    own != NULL ? own : "-");
	}
}

static int cmd_group(struct ctl *x)
{
	struct tool_buf b = TOOL_BUF_INIT;
	const char *name = x->args[0];
	struct logd_group *g;
	size_t i;
	int rc, ex;

	if ((ex = connect_broker(x)) != 0)
		return ex;
	rc = logd_client_group_describe(x->c, name, &g);
	if (rc == LOGD_ENOGROUP) {
		tool_err("unknown group '%s' (no members and no committed "
		    "offsets)", name);
		return TOOL_EXIT_FAIL;
	}
	if (rc < 0)
		return tool_client_err(x->c, rc, "group %s", name);
	/* The broker may not report end offsets: ask for them. */
	for (i = 0; i < g->offset_count; i++) {
		struct logd_group_offset *o = &g->offsets[i];
		int64_t end;

		if (o->end_offset >= 0)
			continue;
		if (logd_client_list_offset(x->c, o->topic, o->partition,
		    LOGD_OFFSET_LATEST, &end) == 0) {
			o->end_offset = end;
			o->lag = end > o->offset ? end - o->offset : 0;
		}
	}
	if (x->json) {
		group_json(&b, g);
		tool_buf_addc(&b, '\n');
	} else {
		group_text(&b, g);
	}
	logd_group_free(g);
	return emit(&b);
}

/* A group with members refused a reset or delete: say what to do. */
static int group_busy(struct ctl *x, const char *what, const char *name)
{
	struct logd_group *g = NULL;
	size_t n = 0;

	if (logd_client_group_describe(x->c, name, &g) == 0)
		n = g->member_count;
	logd_group_free(g);
	tool_err("%s %s: the group has %zu active member%s; stop its "
	    "consumers (or wait for their sessions to expire) first", what,
	    name, n, n == 1 ? "" : "s");
	return TOOL_EXIT_FAIL;
}

/* Resolves --to for one partition. */
static int reset_target(struct ctl *x, const char *topic, int32_t part,
    int64_t *off)
{
	int64_t v, start, end;
	int rc;

	if (strcmp(x->to, "earliest") == 0)
		v = LOGD_OFFSET_EARLIEST;
	else if (strcmp(x->to, "latest") == 0)
		v = LOGD_OFFSET_LATEST;
	else if (tool_parse_i64(x->to, 0, INT64_MAX, &v) == 0)
		v = -10 - v;  /* marker: a plain offset, checked below */
	else if (tool_parse_time(x->to, tool_now_ms(), &v) < 0)
		return -EINVAL;
	if (v > -10) {
		rc = logd_client_list_offset(x->c, topic, part, v, off);
		return rc < 0 ? tool_client_err(x->c, rc, "%s partition %d",
		    topic, part) : 0;
	}
	v = -(v + 10);
	if ((rc = logd_client_list_offset(x->c, topic, part,
	    LOGD_OFFSET_EARLIEST, &start)) < 0 ||
	    (rc = logd_client_list_offset(x->c, topic, part,
	    LOGD_OFFSET_LATEST, &end)) < 0)
		return tool_client_err(x->c, rc, "%s partition %d", topic,
		    part);
	if (v < start || v > end) {
		tool_err("offset %lld is outside %s partition %d: it holds "
		    "offsets %lld to %lld", (long long)v, topic, part,
		    (long long)start, (long long)end);
		return TOOL_EXIT_FAIL;
	}
	*off = v;
	return 0;
}

static int cmd_reset(struct ctl *x)
{
	struct logd_offset_commit *oc = NULL;
	struct tool_buf b = TOOL_BUF_INIT;
	const char *name = x->args[0];
	struct logd_metadata *md = NULL;
	const struct logd_topic_meta *t;
	int64_t v;
	size_t n = 0;
	int32_t i;
	int rc, ex;

	if (x->topic == NULL || x->to == NULL)
		return tool_usage_err("reset: needs --topic TOPIC and --to "
		    "earliest|latest|OFFSET|TIME");
	if (strcmp(x->to, "earliest") != 0 && strcmp(x->to, "latest") != 0 &&
	    tool_parse_i64(x->to, 0, INT64_MAX, &v) < 0 &&
	    tool_parse_time(x->to, tool_now_ms(), &v) < 0)
		return tool_usage_err("reset: bad --to '%s': expected earliest, "
		    "latest, an offset or a time", x->to);
	if ((ex = connect_broker(x)) != 0 ||
	    (ex = get_metadata(x, x->topic, &md)) != 0)
		return ex;
	t = &md->topics[0];
	if (x->partitions >= 0 && x->partitions >= t->partition_count) {
		tool_err("topic '%s' has no partition %lld", x->topic,
		    (long long)x->partitions);
		ex = TOOL_EXIT_FAIL;
		goto out;
	}
	oc = calloc((size_t)t->partition_count, sizeof(*oc));
	if (oc == NULL) {
		tool_err("out of memory");
		ex = TOOL_EXIT_FAIL;
		goto out;
	}
	for (i = 0; i < t->partition_count; i++) {
		int32_t p = t->partitions[i].partition;

		if (x->partitions >= 0 && p != x->partitions)
			continue;
		oc[n].topic = x->topic;
		oc[n].partition = p;
		if ((ex = reset_target(x, x->topic, p, &oc[n].offset)) != 0)
			goto out;
		n++;
	}
	rc = logd_client_offsets_commit(x->c, name, oc, n);
	if (rc == LOGD_EGENERATION) {
		ex = group_busy(x, "reset", name);
		goto out;
	}
	if (rc < 0) {
		ex = tool_client_err(x->c, rc, "reset %s", name);
		goto out;
	}
	if (x->json)
		tool_buf_addc(&b, '[');
	for (i = 0; i < (int32_t)n; i++) {
		if (x->json)
			tool_buf_printf(&b, "%s{\"partition\":%d,\"offset\":"
			    "%lld}", i ? "," : "", oc[i].partition,
			    (long long)oc[i].offset);
		else
			tool_buf_printf(&b, "group %s: %s partition %d reset to "
			    "offset %lld\n", name, x->topic, oc[i].partition,
			    (long long)oc[i].offset);
	}
	if (x->json)
		tool_buf_adds(&b, "]\n");
	ex = emit(&b);
out:
	free(oc);
	logd_metadata_free(md);
	tool_buf_free(&b);
	return ex;
}

static int cmd_delete_group(struct ctl *x)
{
	const char *name = x->args[0];
	int rc, ex;

	if ((ex = connect_broker(x)) != 0)
		return ex;
	rc = logd_client_group_delete(x->c, name);
	if (rc == LOGD_ENOGROUP) {
		tool_err("unknown group '%s'", name);
		return TOOL_EXIT_FAIL;
	}
	if (rc == LOGD_EGENERATION)
		return group_busy(x, "delete-group", name);
	if (rc < 0)
		return tool_client_err(x->c, rc, "delete-group %s", name);
	if (x->json)
		printf("{\"deleted_group\":\"%s\"}\n", name);
	else
		printf("deleted group %s\n", name);
	return 0;
}

/* ---- Stats ---- */

static int cmd_stats(struct ctl *x)
{
	struct tool_buf b = TOOL_BUF_INIT;
	struct logd_metadata *md;
	struct logd_stats st;
	double secs, rin = 0, rout = 0;
	char hs[32];
	size_t i;
	int rc, ex;

	if ((ex = connect_broker(x)) != 0)
		return ex;
	rc = logd_client_stats(x->c, &st);
	if (rc < 0)
		return tool_client_err(x->c, rc, "stats");
	if ((ex = get_metadata(x, NULL, &md)) != 0)
		return ex;
	secs = st.uptime_ms > 0 ? (double)st.uptime_ms / 1000 : 0;
	if (secs > 0 && st.records_in >= 0)
		rin = (double)st.records_in / secs;
	if (secs > 0 && st.records_out >= 0)
		rout = (double)st.records_out / secs;
	if (x->json) {
		tool_buf_printf(&b, "{\"connections\":%lld,\"bytes_in\":%lld,"
		    "\"bytes_out\":%lld,\"records_in\":%lld,\"records_out\":"
		    "%lld,\"uptime_ms\":%lld,\"records_in_per_s\":%.1f,"
		    "\"records_out_per_s\":%.1f,\"topics\":[",
		    (long long)st.connections, (long long)st.bytes_in,
		    (long long)st.bytes_out, (long long)st.records_in,
		    (long long)st.records_out, (long long)st.uptime_ms, rin,
		    rout);
	} else {
		tool_buf_printf(&b, "connections        %lld\n"
		    "bytes in           %lld\nbytes out          %lld\n"
		    "records in         %lld (%.1f/s since start)\n"
		    "records out        %lld (%.1f/s since start)\n"
		    "uptime             %.1f s\n",
		    (long long)st.connections, (long long)st.bytes_in,
		    (long long)st.bytes_out, (long long)st.records_in, rin,
		    (long long)st.records_out, rout, secs);
		if (md->topic_count > 0)
			tool_buf_printf(&b, "%-30s %12s %12s\n", "TOPIC",
			    "RECORDS", "SIZE");
	}
	for (i = 0; i < md->topic_count; i++) {
		int64_t records;
		uint64_t bytes, disk;

		topic_totals(&md->topics[i], &records, &bytes, &disk);
		if (x->json) {
			tool_buf_adds(&b, i ? ",{\"name\":" : "{\"name\":");
			jstr(&b, md->topics[i].name);
			tool_buf_printf(&b, ",\"records\":%lld,\"size\":%llu}",
			    (long long)records, (unsigned long long)bytes);
		} else {
			human_size(bytes, hs, sizeof(hs));
			tool_buf_printf(&b, "%-30s %12lld %12s\n",
			    md->topics[i].name, (long long)records, hs);
		}
	}
	if (x->json)
		tool_buf_adds(&b, "]}\n");
	logd_metadata_free(md);
	return emit(&b);
}

/* ---- verify ---- */

struct verify {
	struct ctl *x;
	struct tool_buf b;
	uint64_t segments, damaged;
};

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);

	return n >= k && strcmp(s + n - k, suf) == 0;
}

/* "offsets 0..9", or for a segment without records "no offsets (the
 * next is 0)". */
static void offset_range(char *buf, size_t size, int64_t base, int64_t next)
{
	if (next > base)
		snprintf(buf, size, "offsets %lld..%lld", (long long)base,
		    (long long)next - 1);
	else
		snprintf(buf, size, "no offsets (the next is %lld)",
		    (long long)next);
}

static void verify_one(struct verify *v, const char *path)
{
	struct logd_segment_report r;
	struct tool_buf *b = &v->b;
	char range[80];
	int rc, bad;

	v->segments++;
	rc = logd_segment_verify(path, &r);
	bad = rc < 0 || r.error != 0 || r.index_error != 0;
	if (bad)
		v->damaged++;
	if (v->x->json) {
		tool_buf_adds(b, v->segments > 1 ? ",{\"file\":" :
		    "{\"file\":");
		jstr(b, path);
		if (rc < 0) {
			tool_buf_adds(b, ",\"ok\":false,\"error\":");
			jstr(b, logd_strerror(rc));
			tool_buf_addc(b, '}');
			return;
		}
		tool_buf_printf(b, ",\"ok\":%s,\"base_offset\":%lld,"
		    "\"next_offset\":%lld,\"batches\":%llu,\"records\":%llu,"
		    "\"valid_bytes\":%llu,\"file_bytes\":%llu,"
		    "\"bad_position\":%lld,\"error\":",
		    bad ? "false" : "true", (long long)r.base_offset,
		    (long long)r.next_offset, (unsigned long long)r.batches,
		    (unsigned long long)r.records,
		    (unsigned long long)r.valid_bytes,
		    (unsigned long long)r.file_bytes,
		    (long long)r.bad_position);
		if (r.error)
			jstr(b, logd_strerror(r.error));
		else
			tool_buf_adds(b, "null");
		tool_buf_adds(b, ",\"index_error\":");
		if (r.index_error)
			jstr(b, logd_strerror(r.index_error));
		else
			tool_buf_adds(b, "null");
		tool_buf_addc(b, '}');
		return;
	}
	if (rc < 0) {
		tool_buf_printf(b, "DAMAGED %s: cannot read: %s\n", path,
		    rc == -EINVAL ? "not a segment file (a segment is named "
		    "by its 20-digit base offset, then .log)" :
		    logd_strerror(rc));
		return;
	}
	offset_range(range, sizeof(range), r.base_offset, r.next_offset);
	if (!bad) {
		tool_buf_printf(b, "ok      %s: %llu batch%s, %llu record%s, "
		    "%s\n", path, (unsigned long long)r.batches,
		    r.batches == 1 ? "" : "es", (unsigned long long)r.records,
		    r.records == 1 ? "" : "s", range);
		return;
	}
	tool_buf_printf(b, "DAMAGED %s:", path);
	if (r.error)
		tool_buf_printf(b, " %s at byte %lld (valid: %llu batch%s, "
		    "%s, %llu of %llu bytes)",
		    logd_strerror(r.error), (long long)r.bad_position,
		    (unsigned long long)r.batches, r.batches == 1 ? "" : "es",
		    range, (unsigned long long)r.valid_bytes,
		    (unsigned long long)r.file_bytes);
	if (r.index_error)
		tool_buf_printf(b, "%s index: %s", r.error ? ";" : "",
		    logd_strerror(r.index_error));
	tool_buf_addc(b, '\n');
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Calls fn for each entry of dir (sorted) that matches want: 'l' .log
 * files, 'd' subdirectories.  Returns 0 or a negated errno.
 */
static int for_each(struct verify *v, const char *dir, int want,
    void (*fn)(struct verify *, const char *))
{
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	struct stat sb;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (want == 'l' ? !has_suffix(de->d_name, ".log") :
		    stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		if (n == cap) {
			char **p = realloc(names, (cap ? cap * 2 : 16) *
			    sizeof(*p));

			if (p == NULL)
				break;
			names = p;
			cap = cap ? cap * 2 : 16;
		}
		names[n] = strdup(path);
		if (names[n] != NULL)
			n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		fn(v, names[i]);
		free(names[i]);
	}
	free(names);
	return 0;
}

static void verify_partition(struct verify *v, const char *dir)
{
	int rc = for_each(v, dir, 'l', verify_one);

	if (rc < 0) {
		v->damaged++;
		tool_err("%s: %s", dir, strerror(-rc));
	}
}

static int cmd_verify(struct ctl *x)
{
	struct verify v = { x, TOOL_BUF_INIT, 0, 0 };
	const char *path = x->args[0];
	char sub[4096];
	struct stat sb;
	int rc, ex;

	if (stat(path, &sb) < 0) {
		tool_err("%s: %s", path, strerror(errno));
		return TOOL_EXIT_FAIL;
	}
	if (x->json)
		tool_buf_adds(&v.b, "{\"segments\":[");
	snprintf(sub, sizeof(sub), "%s/topics", path);
	if (S_ISREG(sb.st_mode)) {
		if (!has_suffix(path, ".log")) {
			tool_err("%s: not a segment (.log) file", path);
			tool_buf_free(&v.b);
			return TOOL_EXIT_FAIL;
		}
		verify_one(&v, path);
	} else if (S_ISDIR(sb.st_mode) && stat(sub, &sb) == 0 &&
	    S_ISDIR(sb.st_mode)) {
		rc = for_each(&v, sub, 'd', verify_partition);
		if (rc < 0) {
			tool_err("%s: %s", sub, strerror(-rc));
			tool_buf_free(&v.b);
			return TOOL_EXIT_FAIL;
		}
	} else if (S_ISDIR(sb.st_mode)) {
		verify_partition(&v, path);
		if (v.segments == 0 && v.damaged == 0) {
			tool_err("%s: no segments: not a datadir, partition "
			    "directory or .log file", path);
			tool_buf_free(&v.b);
			return TOOL_EXIT_FAIL;
		}
	} else {
		tool_err("%s: not a datadir, partition directory or .log file",
		    path);
		tool_buf_free(&v.b);
		return TOOL_EXIT_FAIL;
	}
	if (x->json)
		tool_buf_printf(&v.b, "],\"checked\":%llu,\"damaged\":%llu}\n",
		    (unsigned long long)v.segments,
		    (unsigned long long)v.damaged);
	else
		tool_buf_printf(&v.b, "%llu segment%s checked, %llu damaged\n",
		    (unsigned long long)v.segments, v.segments == 1 ? "" : "s",
		    (unsigned long long)v.damaged);
	ex = emit(&v.b);
	if (ex == 0 && v.damaged > 0)
		ex = TOOL_EXIT_FAIL;
	return ex;
}

/* ---- dump ---- */

struct dump {
	struct ctl *x;
	struct tool_buf b;
	uint64_t batches;
	int bad;                  /* the walk stopped at an invalid batch */
	int bad_error;
	uint64_t pos;             /* file position of the next batch */
	int64_t next_offset;      /* the offset after the last valid batch */
	char bad_what[160];       /* what the invalid batch's header says */
};

static uint64_t be_read(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

static void dump_records(struct dump *d, const uint8_t *batch, size_t len)
{
	struct tool_buf *b = &d->b;
	struct logd_batch_iter it;
	struct logd_record r;
	struct logd_header h;
	size_t pos;
	int rc, n = 0;

	if (logd_batch_iter_init(&it, batch, len) < 0) {
		if (!d->x->json)
			tool_buf_adds(b, "| (compressed: records not shown)\n");
		return;
	}
	while ((rc = logd_batch_iter_next(&it, &r)) == 1) {
		if (d->x->json) {
			tool_buf_printf(b, "%s{\"offset\":%lld,\"timestamp\":"
			    "%lld,\"key\":", n++ ? "," : "",
			    (long long)r.offset, (long long)r.timestamp);
			tool_value_to_json(b, r.key, r.key_len, NULL);
			tool_buf_adds(b, ",\"value\":");
			tool_value_to_json(b, r.value, r.value_len, NULL);
			tool_buf_adds(b, ",\"headers\":[");
			pos = 0;
			while (logd_record_header_next(&r, &pos, &h) == 1) {
				tool_buf_adds(b, pos > 0 && b->data[b->len - 1]
				    != '[' ? ",{\"key\":" : "{\"key\":");
				tool_json_string(b, h.key, h.key_len);
				tool_buf_adds(b, ",\"value\":");
				tool_value_to_json(b, h.value, h.value_len,
				    NULL);
				tool_buf_addc(b, '}');
			}
			tool_buf_adds(b, "]}");
			continue;
		}
		tool_buf_printf(b, "| offset: %lld timestamp: %lld keysize: "
		    "%lld valuesize: %lld headers: %d key: ",
		    (long long)r.offset, (long long)r.timestamp,
		    r.key ? (long long)r.key_len : -1LL,
		    r.value ? (long long)r.value_len : -1LL, r.header_count);
		tool_value_to_json(b, r.key, r.key_len, NULL);
		tool_buf_adds(b, " value: ");
		tool_value_to_json(b, r.value, r.value_len, NULL);
		tool_buf_addc(b, '\n');
	}
	if (rc < 0 && !d->x->json)
		tool_buf_adds(b, "| (malformed record)\n");
}

static int dump_batch(void *arg, const uint8_t *batch, size_t len, int check,
    const struct logd_batch_info *info)
{
	struct dump *d = arg;
	struct tool_buf *b = &d->b;
	struct logd_batch_info hi;

	if (check < 0) {
		d->bad = 1;
		d->bad_error = check;
		/* The raw header fields, so the reader sees what is off. */
		if (logd_batch_header(batch, len, &hi) == 0)
			snprintf(d->bad_what, sizeof(d->bad_what),
			    "its header reads baseOffset %lld, lastOffset "
			    "%lld, size %zu bytes", (long long)hi.base_offset,
			    (long long)hi.last_offset, hi.size);
		else if (len >= 61)   /* the v2 header: fields at fixed places */
			snprintf(d->bad_what, sizeof(d->bad_what),
			    "its header does not parse: baseOffset %lld, "
			    "batchLength %ld, magic %d, lastOffsetDelta %ld, "
			    "recordCount %ld", (long long)be_read(batch, 8),
			    (long)(int32_t)be_read(batch + 8, 4), batch[16],
			    (long)(int32_t)be_read(batch + 23, 4),
			    (long)(int32_t)be_read(batch + 57, 4));
		else
			snprintf(d->bad_what, sizeof(d->bad_what),
			    "only %zu bytes left in the file: a batch header "
			    "needs 61", len);
		return 0;
	}
	d->batches++;
	d->pos += info->size;
	d->next_offset = info->last_offset + 1;
	if (d->x->json) {
		tool_buf_printf(b, "{\"base_offset\":%lld,\"last_offset\":%lld,"
		    "\"count\":%d,\"base_timestamp\":%lld,\"max_timestamp\":"
		    "%lld,\"size\":%zu,\"attributes\":%d,\"crc\":%u,"
		    "\"producer_id\":%lld,\"records\":[",
		    (long long)info->base_offset, (long long)info->last_offset,
		    info->record_count, (long long)info->base_timestamp,
		    (long long)info->max_timestamp, info->size,
		    info->attributes, info->crc, (long long)info->producer_id);
		dump_records(d, batch, len);
		tool_buf_adds(b, "]}\n");
	} else {
		tool_buf_printf(b, "baseOffset: %lld lastOffset: %lld count: %d "
		    "baseTimestamp: %lld maxTimestamp: %lld size: %zu "
		    "attributes: %d crc: %u isValid: true\n",
		    (long long)info->base_offset, (long long)info->last_offset,
		    info->record_count, (long long)info->base_timestamp,
		    (long long)info->max_timestamp, info->size,
		    info->attributes, info->crc);
		dump_records(d, batch, len);
	}
	/* Write as we go: a segment may be large. */
	if (fwrite(b->data, 1, b->len, stdout) != b->len)
		return -EIO;
	tool_buf_reset(b);
	return 0;
}

static int cmd_dump(struct ctl *x)
{
	struct dump d = { x, TOOL_BUF_INIT, 0, 0, 0, 0, -1, "" };
	const char *path = x->args[0];
	int rc;

	rc = logd_segment_walk(path, dump_batch, &d);
	tool_buf_free(&d.b);
	if (fflush(stdout) != 0 || rc == -EIO) {
		tool_err("write error: %s", strerror(errno));
		return TOOL_EXIT_FAIL;
	}
	if (rc < 0) {
		tool_err("%s: %s", path, rc == -EINVAL ? "not a segment file "
		    "(a segment is named by its 20-digit base offset, then "
		    ".log)" : logd_strerror(rc));
		return TOOL_EXIT_FAIL;
	}
	if (d.bad) {
		char want[64] = "";

		if (d.next_offset >= 0)
			snprintf(want, sizeof(want), ", expected baseOffset "
			    "%lld", (long long)d.next_offset);
		tool_err("%s: invalid batch at byte %llu, after %llu valid "
		    "ones%s: %s; %s", path, (unsigned long long)d.pos,
		    (unsigned long long)d.batches, want,
		    logd_strerror(d.bad_error), d.bad_what);
		return TOOL_EXIT_FAIL;
	}
	return 0;
}

/* ---- main ---- */

static const struct command {
	const char *name;
	int (*fn)(struct ctl *);
	const char *allowed;      /* p: -p, c: --config, r: --topic/--to */
	int nargs;                /* 0 or 1 positional argument */
	char arg;                 /* it is a t: topic, g: group, f: path */
} commands[] = {
	{ "topics", cmd_topics, "", 0, 0 },
	{ "create", cmd_create, "pc", 1, 't' },
	{ "describe", cmd_describe, "", 1, 't' },
	{ "alter", cmd_alter, "c", 1, 't' },
	{ "delete", cmd_delete, "", 1, 't' },
	{ "compact", cmd_compact, "p", 1, 't' },
	{ "groups", cmd_groups, "", 0, 0 },
	{ "group", cmd_group, "", 1, 'g' },
	{ "reset", cmd_reset, "pr", 1, 'g' },
	{ "delete-group", cmd_delete_group, "", 1, 'g' },
	{ "stats", cmd_stats, "", 0, 0 },
	{ "verify", cmd_verify, "", 1, 'f' },
	{ "dump", cmd_dump, "", 1, 'f' },
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "broker", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const struct command *cmd = NULL;
	struct ctl x;
	size_t i;
	int ch, ex;

	tool_init(argv[0]);
	memset(&x, 0, sizeof(x));
	x.partitions = -1;
	while ((ch = getopt_long(argc, argv, "+b:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			x.broker = optarg;
			break;
		case OPT_JSON:
			x.json = 1;
			break;
		case 'h':
			usage(stdout);
			return TOOL_EXIT_OK;
		case 'V':
			printf("logctl %s\n", LOGD_VERSION_STRING);
			return TOOL_EXIT_OK;
		default:
			fprintf(stderr, "Try 'logctl -h' for help.\n");
			return TOOL_EXIT_USAGE;
		}
	}
	if (optind == argc)
		return tool_usage_err("missing command");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			cmd = &commands[i];
	if (cmd == NULL)
		return tool_usage_err("unknown command '%s'", argv[optind]);
	ex = parse_cmd(&x, cmd->name, argc - optind, argv + optind,
	    cmd->allowed, cmd->nargs, cmd->nargs);
	if (ex != 0)
		return ex;
	if (cmd->arg == 't' && logd_topic_name_check(x.args[0]) < 0)
		return tool_usage_err("%s: bad topic name '%s' (1-249 characters "
		    "of [A-Za-z0-9._-])", cmd->name, x.args[0]);
	if (cmd->arg == 'g' && logd_group_name_check(x.args[0]) < 0)
		return tool_usage_err("%s: bad group name '%s'", cmd->name,
		    x.args[0]);
	ex = cmd->fn(&x);
	logd_client_close(x.c);
	return ex;
}
