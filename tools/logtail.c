/*
 * logtail - replay and follow a topic of a logd broker.
 *
 * Design.  Startup resolves, for every partition read, a start position
 * (-o, -s, the group's commit, or the beginning) and a replay limit: the
 * partition's end offset at startup (or -e OFFSET if lower).  Replay
 * fetches each partition with plain synchronous FETCHes and merges the
 * partitions by record timestamp (ties: lower partition first), so a
 * multi-partition topic reads back in time order.  Without -f, logtail
 * exits once every partition reached its limit.  With -f it then hands
 * the positions to a liblogd consumer (long-poll FETCHes with prefetch)
 * and prints records as they arrive, until SIGINT/SIGTERM, -c or -e.
 *
 * With -g, logtail is a member of the group instead (logtail_group.c).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logd.h"
#include "tool.h"

#include "logtail.h"

volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: logtail [-fhJKRV] [-b addr] [-c count] [-e offset|time] "
	    "[-F format]\n"
	    "               [-g group] [-o offset] [-p partition] "
	    "[-s time] [--skip-bad]\n"
	    "               topic\n"
	    "  -o N|beginning|end|-N  start offset (-N: the last N records)\n"
	    "  -s TIME                start at a time (2026-11-25T10:00:00Z, "
	    "-10m, -2h, -1d)\n"
	    "  -e OFFSET|TIME         stop before this offset or time\n"
	    "  -c N                   stop after N records\n"
	    "  -f                     follow: wait for new records\n"
	    "  -p N                   read partition N only\n"
	    "  -g GROUP               read as a member of group (resume, commit)\n"
	    "  -F FORMAT              text format (%%t %%p %%o %%k %%s %%S "
	    "%%T %%I %%h %%%%, \\n \\t)\n"
	    "  -K                     print the key and a tab before the "
	    "value\n"
	    "  -J                     JSON lines\n"
	    "  -R                     raw value bytes\n"
	    "  --skip-bad             skip a batch that cannot be read "
	    "(say which)\n"
	    "  -b, --broker ADDR      broker (default $LOGD_BROKER or %s)\n"
	    "  -h, --help             print this help and exit\n"
	    "  -V, --version          print the version and exit\n",
	    LOGD_DEFAULT_ADDR);
}

/* Decodes \n \t \\ \r \0 in a format string (in place). */
static int decode_escapes(char *s)
{
	char *w = s;

	for (; *s != '\0'; s++) {
		if (*s != '\\') {
			*w++ = *s;
			continue;
		}
		switch (*++s) {
		case 'n': *w++ = '\n'; break;
		case 't': *w++ = '\t'; break;
		case 'r': *w++ = '\r'; break;
		case '\\': *w++ = '\\'; break;
		default:
			return -EINVAL;
		}
	}
	*w = '\0';
	return 0;
}

static int check_format(const char *f)
{
	for (; *f != '\0'; f++) {
		if (*f != '%')
			continue;
		if (strchr("tpokSsTIh%", f[1]) == NULL || f[1] == '\0')
			return -EINVAL;
		f++;
	}
	return 0;
}

static int parse_offset_arg(const char *s, struct opts *o)
{
	int64_t v;

	if (strcmp(s, "beginning") == 0) {
		o->start = START_BEGINNING;
	} else if (strcmp(s, "end") == 0) {
		o->start = START_END;
	} else if (tool_parse_i64(s, -INT64_MAX, INT64_MAX, &v) == 0 &&
	    strcmp(s, "-0") != 0) {
		o->start = v < 0 ? START_LAST : START_OFFSET;
		o->start_arg = v < 0 ? -v : v;
	} else {
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "broker", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ "skip-bad", no_argument, NULL, 'S' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, have_o = 0, have_s = 0;
	char *format = NULL;
	int64_t v;

	memset(o, 0, sizeof(*o));
	o->end_offset = o->end_time = o->count = -1;
	o->partition = -1;
	while ((ch = getopt_long(argc, argv, "b:c:e:fF:g:hJKo:p:Rs:V", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'b':
			o->broker = optarg;
			break;
		case 'c':
			if (tool_parse_i64(optarg, 1, INT64_MAX, &o->count) < 0)
				return tool_usage_err("bad count '%s': expected a "
				    "number >= 1", optarg);
			break;
		case 'e':
			if (tool_parse_i64(optarg, 0, INT64_MAX, &v) == 0)
				o->end_offset = v;
			else if (tool_parse_time(optarg, tool_now_ms(), &v)
			    == 0)
				o->end_time = v;
			else
				return tool_usage_err("bad end '%s': expected an "
				    "offset or a time", optarg);
			break;
		case 'f':
			o->follow = 1;
			break;
		case 'F':
			format = optarg;
			break;
		case 'g':
			if (logd_group_name_check(optarg) < 0)
				return tool_usage_err("bad group name '%s'", optarg);
			o->group = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(TOOL_EXIT_OK);
		case 'J':
			if (o->mode != OUT_TEXT)
				return tool_usage_err("-J and -R exclude each "
				    "other");
			o->mode = OUT_JSON;
			break;
		case 'K':
			o->print_key = 1;
			break;
		case 'o':
			if (have_o++ || parse_offset_arg(optarg, o) < 0)
				return tool_usage_err("bad offset '%s': expected N, "
				    "beginning, end or -N", optarg);
			break;
		case 'p':
			if (tool_parse_i64(optarg, 0, INT32_MAX, &v) < 0)
				return tool_usage_err("bad partition '%s'", optarg);
			o->partition = (int32_t)v;
			break;
		case 'S':
			o->skip_bad = 1;
			break;
		case 'R':
			if (o->mode != OUT_TEXT)
				return tool_usage_err("-J and -R exclude each "
				    "other");
			o->mode = OUT_RAW;
			break;
		case 's':
			have_s = 1;
			if (tool_parse_time(optarg, tool_now_ms(),
			    &o->start_arg) < 0)
				return tool_usage_err("bad time '%s': expected "
				    "2026-11-25T10:00:00Z, 2026-11-25T10:00 "
				    "or -10m, -2h, -1d, -30s", optarg);
			break;
		case 'V':
			printf("logtail %s\n", LOGD_VERSION_STRING);
			exit(TOOL_EXIT_OK);
		default:
			fprintf(stderr, "Try 'logtail -h' for help.\n");
			return TOOL_EXIT_USAGE;
		}
	}
	if (o->group != NULL && o->partition >= 0)
		return tool_usage_err("-g and -p exclude each other: the group "
		    "assigns the partitions");
	if (have_s) {
		if (have_o)
			return tool_usage_err("-o and -s exclude each other");
		o->start = START_TIME;
	}
	if (format != NULL) {
		if (o->mode != OUT_TEXT || o->print_key)
			return tool_usage_err("-F excludes -J, -K and -R");
		if (decode_escapes(format) < 0 || check_format(format) < 0)
			return tool_usage_err("bad format '%s': use %%t %%p %%o %%k "
			    "%%s %%S %%T %%I %%h %%%% and \\n \\t \\r \\\\",
			    format);
		o->format = format;
	} else if (o->print_key && o->mode != OUT_TEXT) {
		return tool_usage_err("-K excludes -J and -R");
	} else {
		o->format = o->print_key ? "%k\t%s\n" : "%s\n";
	}
	if (optind == argc)
		return tool_usage_err("missing topic");
	if (argc - optind > 1)
		return tool_usage_err("too many arguments: one topic only");
	o->topic = argv[optind];
	if (logd_topic_name_check(o->topic) < 0)
		return tool_usage_err("bad topic name '%s'", o->topic);
	return 0;
}

/* ---- Output ---- */

/* Text form of a key or value: msgpack as JSON, anything else as is. */
static int add_text(struct tool_buf *b, const void *p, size_t n)
{
	if (p == NULL)
		return 0;
	if (tool_is_msgpack_container(p, n) && tool_msgpack_to_json(b, p, n)
	    == 0)
		return 0;
	return tool_buf_add(b, p, n);
}

static int add_headers_text(struct tool_buf *b, const struct logd_record *r)
{
	struct logd_header h;
	size_t pos = 0;
	int rc, first = 1;

	while ((rc = logd_record_header_next(r, &pos, &h)) == 1) {
		if (!first)
			tool_buf_addc(b, ',');
		first = 0;
		tool_buf_add(b, h.key, h.key_len);
		tool_buf_addc(b, '=');
		if (h.value != NULL)
			tool_buf_add(b, h.value, h.value_len);
	}
	return rc;
}

static int render_text(struct tool_buf *b, const char *fmt, const char *topic,
    int32_t partition, const struct logd_record *r)
{
	char ts[40];

	for (; *fmt != '\0'; fmt++) {
		if (*fmt != '%') {
			tool_buf_addc(b, *fmt);
			continue;
		}
		switch (*++fmt) {
		case 't': tool_buf_adds(b, topic); break;
		case 'p': tool_buf_printf(b, "%d", partition); break;
		case 'o': tool_buf_printf(b, "%lld", (long long)r->offset); break;
		case 'k': add_text(b, r->key, r->key_len); break;
		case 's': add_text(b, r->value, r->value_len); break;
		case 'S':
			tool_buf_printf(b, "%lld", r->value != NULL ?
			    (long long)r->value_len : -1LL);
			break;
		case 'T':
			tool_buf_printf(b, "%lld", (long long)r->timestamp);
			break;
		case 'I':
			tool_format_time(r->timestamp, ts, sizeof(ts));
			tool_buf_adds(b, ts);
			break;
		case 'h':
			if (add_headers_text(b, r) < 0)
				return LOGD_EBADBATCH;
			break;
		default:
			tool_buf_addc(b, '%');
			break;
		}
	}
	return 0;
}

/* "name":<value>[,"name_encoding":"base64"] */
static void add_json_field(struct tool_buf *b, const char *name,
    const void *p, size_t n)
{
	enum tool_value_kind kind;

	tool_buf_printf(b, ",\"%s\":", name);
	tool_value_to_json(b, p, n, &kind);
	if (kind == TOOL_VALUE_BASE64)
		tool_buf_printf(b, ",\"%s_encoding\":\"base64\"", name);
}

static int render_json(struct tool_buf *b, const char *topic,
    int32_t partition, const struct logd_record *r)
{
	struct logd_header h;
	size_t pos = 0;
	int rc, first = 1;

	tool_buf_adds(b, "{\"topic\":");
	tool_json_string(b, topic, strlen(topic));
	tool_buf_printf(b, ",\"partition\":%d,\"offset\":%lld,"
	    "\"timestamp\":%lld", partition, (long long)r->offset,
	    (long long)r->timestamp);
	add_json_field(b, "key", r->key, r->key_len);
	add_json_field(b, "value", r->value, r->value_len);
	tool_buf_adds(b, ",\"headers\":[");
	while ((rc = logd_record_header_next(r, &pos, &h)) == 1) {
		if (!first)
			tool_buf_addc(b, ',');
		first = 0;
		tool_buf_adds(b, "{\"key\":");
		tool_json_string(b, h.key, h.key_len);
		add_json_field(b, "value", h.value, h.value_len);
		tool_buf_addc(b, '}');
	}
	tool_buf_adds(b, "]}\n");
	return rc < 0 ? rc : 0;
}

/* Renders r into t->out (emptied first): 0 or TOOL_EXIT_FAIL. */
int render_record(struct tail *t, int32_t partition,
    const struct logd_record *r)
{
	struct tool_buf *b = &t->out;
	int rc = 0;

	tool_buf_reset(b);
	switch (t->o->mode) {
	case OUT_RAW:
		if (r->value != NULL)
			rc = tool_buf_add(b, r->value, r->value_len);
		break;
	case OUT_JSON:
		rc = render_json(b, t->o->topic, partition, r);
		break;
	case OUT_TEXT:
		rc = render_text(b, t->o->format, t->o->topic, partition, r);
		break;
	}
	if (rc < 0) {
		tool_err("partition %d offset %lld: malformed record headers",
		    partition, (long long)r->offset);
		return TOOL_EXIT_FAIL;
	}
	return 0;
}

/* Writes n rendered bytes as one printed record. */
int print_bytes(struct tail *t, const void *p, size_t n)
{
	if (n > 0 && fwrite(p, 1, n, stdout) != n) {
		tool_err("write error: %s", strerror(errno));
		return TOOL_EXIT_FAIL;
	}
	t->printed++;
	t->uncommitted++;
	return 0;
}

static int print_record(struct tail *t, int32_t partition,
    const struct logd_record *r)
{
	int rc = render_record(t, partition, r);

	return rc != 0 ? rc : print_bytes(t, t->out.data, t->out.len);
}

/* ---- Group commits ---- */

/*
 * Commits the position of every partition read, as the group member:
 * every second or 1000 records, or now with force; always after stdout
 * was flushed, so nothing is counted consumed before it was written.
 */
int commit(struct tail *t, int force)
{
	int64_t now = tool_now_ms();

	if (t->cs == NULL)
		return 0;
	if (!force && t->uncommitted < 1000 && now - t->last_commit_ms < 1000)
		return 0;
	if (fflush(stdout) != 0) {
		tool_err("write error: %s", strerror(errno));
		return TOOL_EXIT_FAIL;
	}
	return member_commit(t, now);
}

/* ---- Startup ---- */

int describe_range_error(struct tail *t, struct part *p, int64_t off,
    int64_t start, int64_t end)
{
	if (off < start)
		tool_err("offset %lld is below the start of %s partition %d: "
		    "the log starts at offset %lld", (long long)off,
		    t->o->topic, p->id, (long long)start);
	else
		tool_err("offset %lld is past the end of %s partition %d: "
		    "the next offset is %lld", (long long)off, t->o->topic,
		    p->id, (long long)end);
	return TOOL_EXIT_FAIL;
}

/* The log moved under us (retention, delete): say where it is now. */
static int range_error(struct tail *t, struct part *p)
{
	int64_t start = -1, end = -1;

	if (logd_client_list_offset(t->c, t->o->topic, p->id,
	    LOGD_OFFSET_EARLIEST, &start) < 0 ||
	    logd_client_list_offset(t->c, t->o->topic, p->id,
	    LOGD_OFFSET_LATEST, &end) < 0)
		return tool_client_err(t->c, LOGD_ERANGE, "%s partition %d "
		    "offset %lld", t->o->topic, p->id, (long long)p->pos);
	return describe_range_error(t, p, p->pos, start, end);
}

/* Where -o/-s (or the default, the beginning) starts p, whose log holds
 * [start, end). */
int start_point(struct tail *t, struct part *p, int64_t start,
    int64_t end, int64_t *off)
{
	struct opts *o = t->o;
	int rc;

	switch (o->start) {
	case START_DEFAULT:
	case START_BEGINNING:
		*off = start;
		break;
	case START_OFFSET:
		*off = o->start_arg;
		if (*off < start || *off > end)
			return describe_range_error(t, p, *off, start, end);
		break;
	case START_END:
		*off = end;
		break;
	case START_LAST:
		*off = end - o->start_arg < start ? start : end - o->start_arg;
		break;
	case START_TIME:
		rc = logd_client_list_offset(t->c, o->topic, p->id,
		    o->start_arg, off);
		if (rc < 0)
			return tool_client_err(t->c, rc, "%s partition %d",
			    o->topic, p->id);
		break;
	default:
		return TOOL_EXIT_FAIL;
	}
	return 0;
}

static int resolve_start(struct tail *t, struct part *p,
    const struct logd_partition_meta *pm)
{
	int rc = start_point(t, p, pm->start_offset, pm->end_offset, &p->pos);

	if (rc != 0)
		return rc;
	p->limit = pm->end_offset;
	if (t->o->end_offset >= 0 && t->o->end_offset < p->limit)
		p->limit = t->o->end_offset;
	return 0;
}

static int setup(struct tail *t)
{
	struct opts *o = t->o;
	const char *names[1] = { o->topic };
	struct logd_metadata *md = NULL;
	const struct logd_topic_meta *tm;
	int rc, ex = TOOL_EXIT_FAIL;
	int32_t i;

	rc = logd_client_metadata(t->c, names, 1, &md);
	if (rc < 0) {
		ex = tool_client_err(t->c, rc, "metadata");
		goto fail;
	}
	tm = md->topic_count == 1 ? &md->topics[0] : NULL;
	if (tm == NULL || tm->error == LOGD_ENOTOPIC) {
		tool_err("unknown topic '%s'", o->topic);
		goto fail;
	}
	if (tm->error != 0) {
		tool_err("topic '%s': %s", o->topic, logd_strerror(tm->error));
		goto fail;
	}
	if (o->partition >= tm->partition_count) {
		tool_err("topic '%s' has no partition %d (it has %d)", o->topic,
		    o->partition, tm->partition_count);
		goto fail;
	}
	t->parts = calloc((size_t)tm->partition_count, sizeof(*t->parts));
	if (t->parts == NULL) {
		tool_err("out of memory");
		goto fail;
	}
	for (i = 0; i < tm->partition_count; i++) {
		const struct logd_partition_meta *pm = &tm->partitions[i];
		struct part *p;

		if (o->partition >= 0 && pm->partition != o->partition)
			continue;
		p = &t->parts[t->nparts++];
		p->id = pm->partition;
		if ((rc = resolve_start(t, p, pm)) != 0) {
			ex = rc;
			goto fail;
		}
	}
	logd_metadata_free(md);
	return 0;
fail:
	logd_metadata_free(md);
	return ex;
}

/* ---- Replay: per-partition fetches merged by timestamp ---- */

/* Has the record r ended partition p (-e)? */
int past_end(const struct opts *o, const struct logd_record *r)
{
	return (o->end_offset >= 0 && r->offset >= o->end_offset) ||
	    (o->end_time >= 0 && r->timestamp >= o->end_time);
}

/*
 * Makes p's head record available (1), or returns 0 when p has nothing
 * more before its replay limit, or an exit code < 0 negated.
 */
/* A record the cursor gave: 1 to print it, 0 to look further. */
static int part_take(struct tail *t, struct part *p)
{
	if (p->rec.offset >= p->limit) {
		p->replayed = 1;
		return 0;
	}
	if (past_end(t->o, &p->rec)) {
		p->done = 1;
		return 0;
	}
	p->has_rec = 1;
	return 1;
}

void skip_warn(const char *why)
{
	tool_err("warning: %s", why);
}

/*
 * p's cursor failed with rc on a batch: says which (topic, partition,
 * offsets) and, with --skip-bad, moves past it: 0 to go on, or an exit
 * code negated.
 */
static int part_bad_batch(struct tail *t, struct part *p, int rc)
{
	struct logd_batch_info *bi = &p->cur.info;
	int64_t first, last;
	char how[80] = "";

	if (logd_cursor_skip(&p->cur, &first, &last) < 0) {
		tool_err("%s partition %d near offset %lld: corrupt record "
		    "batch (%s)", t->o->topic, p->id, (long long)p->pos,
		    logd_strerror(rc));
		return -TOOL_EXIT_FAIL;
	}
	if (bi->base_offset == first && (bi->attributes &
	    LOGD_ATTR_COMPRESSION_MASK))
		snprintf(how, sizeof(how), "%s batch does not inflate: ",
		    logd_codec_name(bi->attributes &
		    LOGD_ATTR_COMPRESSION_MASK));
	if (!t->o->skip_bad) {
		tool_err("%s partition %d offset %lld: the batch of offsets "
		    "%lld..%lld cannot be read (%s%s); --skip-bad skips it",
		    t->o->topic, p->id, (long long)(first > p->pos ? first :
		    p->pos), (long long)first, (long long)last, how,
		    logd_strerror(rc));
		return -TOOL_EXIT_FAIL;
	}
	tool_err("warning: %s partition %d: skipped the batch of offsets "
	    "%lld..%lld (%s%s)", t->o->topic, p->id, (long long)first,
	    (long long)last, how, logd_strerror(rc));
	if (last + 1 > p->pos)
		p->pos = last + 1;
	return 0;
}

static int part_head(struct tail *t, struct part *p)
{
	int rc;

	while (!p->has_rec && !p->done && !p->replayed) {
		if (p->f != NULL) {
			rc = logd_cursor_next(&p->cur, &p->rec);
			if (rc == 1) {
				if (part_take(t, p))
					break;
				continue;
			}
			if (rc < 0 && rc != -EAGAIN) {
				if ((rc = part_bad_batch(t, p, rc)) < 0)
					return rc;
				continue;
			}
			/* Used up (a partial batch at the end is left). */
			logd_cursor_release(&p->cur);
			logd_fetch_free(p->f);
			p->f = NULL;
			continue;
		}
		if (p->pos >= p->limit) {
			p->replayed = 1;
			break;
		}
		rc = logd_client_fetch(t->c, t->o->topic, p->id, p->pos, 0, 0,
		    &p->f);
		if (rc < 0) {
			if (rc == LOGD_ERANGE)
				return -range_error(t, p);
			return -tool_client_err(t->c, rc, "fetch %s partition "
			    "%d at offset %lld", t->o->topic, p->id,
			    (long long)p->pos);
		}
		if (p->f->len == 0) {
			/* Nothing there although the limit said so (the log
			 * was truncated meanwhile): replay ends here. */
			p->replayed = 1;
			break;
		}
		logd_cursor_init(&p->cur, p->f->records, p->f->len, p->pos);
	}
	return p->has_rec;
}

static int replay(struct tail *t)
{
	size_t i;
	int rc;

	while (!stop_requested && (t->o->count < 0 ||
	    t->printed < t->o->count)) {
		struct part *best = NULL;

		for (i = 0; i < t->nparts; i++) {
			struct part *p = &t->parts[i];

			rc = part_head(t, p);
			if (rc < 0)
				return -rc;
			if (rc == 1 && (best == NULL ||
			    p->rec.timestamp < best->rec.timestamp))
				best = p;
		}
		if (best == NULL)
			return 0;
		if ((rc = print_record(t, best->id, &best->rec)) != 0)
			return rc;
		best->pos = best->rec.offset + 1;
		best->has_rec = 0;
		if ((rc = commit(t, 0)) != 0)
			return rc;
	}
	return 0;
}

/* ---- Follow: a consumer from the replayed positions ---- */

static struct part *find_part(struct tail *t, int32_t id)
{
	size_t i;

	for (i = 0; i < t->nparts; i++)
		if (t->parts[i].id == id)
			return &t->parts[i];
	return NULL;
}

/* --skip-bad while following: every record before it was printed. */
static void follow_skipped(void *arg, const char *topic, int32_t partition,
    int64_t first, int64_t last, const char *why)
{
	struct tail *t = arg;
	struct part *p = find_part(t, partition);

	(void)topic;
	(void)first;
	skip_warn(why);
	if (p != NULL && last + 1 > p->pos)
		p->pos = last + 1;
}

/*
 * A consumer of every partition not done, from the next record to print.
 * Returns 0 or an exit code; *active is the number of partitions.
 */
static int follow_start(struct tail *t, struct logd_consumer **out,
    size_t *active)
{
	struct logd_consumer_options co = { 0 };
	struct logd_consumer *cs = NULL;
	size_t i;
	int rc;

	co.max_wait_ms = 500;
	co.skip_bad = t->o->skip_bad;
	co.on_skip = follow_skipped;
	co.cb_arg = t;
	rc = logd_consumer_new(t->c, &co, &cs);
	if (rc < 0)
		return tool_client_err(t->c, rc, "consumer");
	*active = 0;
	for (i = 0; i < t->nparts; i++) {
		struct part *p = &t->parts[i];

		logd_cursor_release(&p->cur);
		logd_fetch_free(p->f);
		p->f = NULL;
		if (p->done)
			continue;
		rc = logd_consumer_assign(cs, t->o->topic, p->id, p->pos);
		if (rc < 0) {
			logd_consumer_close(cs);
			return tool_client_err(t->c, rc, "%s partition %d",
			    t->o->topic, p->id);
		}
		(*active)++;
	}
	*out = cs;
	return 0;
}

/*
 * The connection broke while following: reconnects (with backoff, until
 * a signal) and follows again after the last record printed.  0 to go
 * on with *cs, 1 when a signal stopped it, or an exit code.
 */
static int follow_reconnect(struct tail *t, int err,
    struct logd_consumer **cs, size_t *active)
{
	int ex;

	logd_consumer_close(*cs);
	*cs = NULL;
	if (fflush(stdout) != 0) {
		tool_err("write error: %s", strerror(errno));
		return TOOL_EXIT_FAIL;
	}
	if (tool_reconnect(t->o->broker, err, &stop_requested, &t->c) != 0)
		return 1;
	if ((ex = follow_start(t, cs, active)) != 0)
		return ex;
	tool_err("resuming %s after the last record printed", t->o->topic);
	return 0;
}

static int follow(struct tail *t)
{
	struct logd_consumer *cs = NULL;
	struct logd_consumer_record cr;
	size_t active = 0;
	int rc, ex = 0;

	if ((ex = follow_start(t, &cs, &active)) != 0)
		return ex;
	if (fflush(stdout) != 0)
		goto werr;
	while (active > 0 && !stop_requested && (t->o->count < 0 ||
	    t->printed < t->o->count)) {
		struct part *p;

		rc = logd_consumer_poll(cs, 250, &cr);
		if (rc < 0 && tool_is_connection_error(rc)) {
			ex = follow_reconnect(t, rc, &cs, &active);
			if (ex == 1)
				ex = 0;
			if (ex != 0 || cs == NULL)
				goto out;
			continue;
		}
		if (rc < 0) {
			if (rc == LOGD_ERANGE)
				tool_err("%s", logd_client_errmsg(t->c));
			else
				ex = tool_client_err(t->c, rc, "%s",
				    t->o->topic);
			ex = ex ? ex : TOOL_EXIT_FAIL;
			goto out;
		}
		if (rc == 0) {
			if ((ex = commit(t, 0)) != 0)
				goto out;
			continue;
		}
		p = find_part(t, cr.partition);
		if (p == NULL || p->done)
			continue;
		if (past_end(t->o, &cr.rec)) {
			p->done = 1;
			active--;
			logd_consumer_unassign(cs, t->o->topic, p->id);
			continue;
		}
		if ((ex = print_record(t, p->id, &cr.rec)) != 0)
			goto out;
		p->pos = cr.rec.offset + 1;
		if (fflush(stdout) != 0)
			goto werr;
		if ((ex = commit(t, 0)) != 0)
			goto out;
	}
out:
	logd_consumer_close(cs);
	return ex;
werr:
	tool_err("write error: %s", strerror(errno));
	logd_consumer_close(cs);
	return TOOL_EXIT_FAIL;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct tail t;
	size_t i;
	int ex, cex;

	tool_init(argv[0]);
	if ((ex = parse_args(argc, argv, &o)) != 0)
		return ex;
	memset(&t, 0, sizeof(t));
	t.o = &o;
	t.last_commit_ms = tool_now_ms();
	install_signals();
	if ((ex = tool_connect(o.broker, &t.c)) != 0)
		return ex;
	if (o.group != NULL) {
		ex = run_group(&t);
	} else if ((ex = setup(&t)) == 0) {
		ex = replay(&t);
		if (ex == 0 && o.follow)
			ex = follow(&t);
		/* Commit what was printed, also after a failure on one
		 * partition, unless the connection is gone. */
		if (ex != TOOL_EXIT_CONNECT && (cex = commit(&t, 1)) != 0 &&
		    ex == 0)
			ex = cex;
	}
	if (fflush(stdout) != 0 && ex == 0) {
		tool_err("write error: %s", strerror(errno));
		ex = TOOL_EXIT_FAIL;
	}
	for (i = 0; i < t.nparts; i++) {
		logd_cursor_release(&t.parts[i].cur);
		logd_fetch_free(t.parts[i].f);
	}
	free(t.parts);
	tool_buf_free(&t.out);
	logd_client_close(t.c);
	return ex;
}
