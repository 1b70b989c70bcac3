/*
 * logput - produce records to a topic of a logd broker.
 *
 * Design.  Input (stdin or the files named, "-" being stdin) is read a
 * line at a time, or a whole file at a time with -R, and each piece
 * becomes one record, handed to a liblogd producer that batches per
 * partition (-z, -L) and keeps several requests in flight.  A key comes
 * from -k, or from the text before a delimiter (-K); -J parses each line
 * as JSON and sends it as msgpack.  Input that cannot become a record
 * (bad JSON, no delimiter) is reported with its file and line and
 * counted as failed; the rest is still sent.  At the end the producer is
 * flushed and the count of acknowledged records is printed: the exit
 * status is 0 only when every record was stored.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logd.h"
#include "tool.h"

#define MAX_HEADERS 64
#define MAX_ERROR_LINES 10
#define DEFAULT_BATCH_BYTES 262144  /* liblogd's default: 256 KiB */

struct opts {
	const char *broker;
	const char *topic;
	const char *key;          /* -k */
	const char *delim;        /* -K */
	int32_t partition;
	int acks;
	int json;
	int whole;                /* -R */
	int quiet;
	int64_t batch_bytes;      /* 0: default */
	int64_t linger_ms;        /* -1: default */
	int codec;                /* -Z */
	struct logd_header headers[MAX_HEADERS];
	size_t header_count;
	char **files;
	int nfiles;
};

struct put {
	struct opts *o;
	struct logd_producer *prod;
	struct logd_client *c;
	uint64_t input_failed;    /* lines that never became records */
	uint64_t delivery_failed;
	int first_error;
	int fatal;                /* exit code that stops everything */
	int64_t segment_bytes;    /* the topic's, 0 if not known */
	msgpack_sbuffer sb;
};

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: logput [-hJqRV] [-a acks] [-b addr] [-H key=value] "
	    "[-Z codec]\n"
	    "              [-k key | -K delim] [-L linger_ms] [-p partition] "
	    "[-z batch_bytes]\n"
	    "              topic [file ...]\n"
	    "  -k KEY        key of every record\n"
	    "  -K DELIM      key is the text before DELIM on each line\n"
	    "  -p N          partition (default: by key, else spread)\n"
	    "  -a ACKS       0, 1 or all (default all)\n"
	    "  -J            lines are JSON, sent as msgpack\n"
	    "  -R, --raw     raw: each file is one record\n"
	    "  -H KEY=VALUE  add a header to every record (repeatable)\n"
	    "  -z, --batch BYTES  batch size (default 262144, at most "
	    "segment.bytes / 4)\n"
	    "  -Z, --compression CODEC  compress batches: none, gzip, "
	    "snappy, lz4, zstd\n"
	    "  -L MS         linger before sending a batch (default 0)\n"
	    "  -q            quiet: no count at the end\n"
	    "  -b, --broker ADDR  broker (default $LOGD_BROKER or %s)\n"
	    "  -h, --help    print this help and exit\n"
	    "  -V, --version print the version and exit\n",
	    LOGD_DEFAULT_ADDR);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "broker", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "compression", required_argument, NULL, 'Z' },
		{ "raw", no_argument, NULL, 'R' },
		{ "batch", required_argument, NULL, 'z' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	int64_t v;
	char *eq;

	memset(o, 0, sizeof(*o));
	o->partition = LOGD_PARTITION_ANY;
	o->acks = LOGD_ACKS_ALL;
	o->linger_ms = -1;
	while ((ch = getopt_long(argc, argv, "a:b:H:hJk:K:L:p:qRVz:Z:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'a':
			if (strcmp(optarg, "all") == 0 ||
			    strcmp(optarg, "-1") == 0)
				o->acks = LOGD_ACKS_ALL;
			else if (strcmp(optarg, "0") == 0)
				o->acks = 0;
			else if (strcmp(optarg, "1") == 0)
				o->acks = 1;
			else
				return tool_usage_err("bad acks '%s': expected 0, 1 "
				    "or all", optarg);
			break;
		case 'b':
			o->broker = optarg;
			break;
		case 'Z':
			o->codec = logd_codec_parse(optarg);
			if (o->codec < 0)
				return tool_usage_err("unknown codec '%s': expected "
				    "none, gzip, snappy, lz4 or zstd", optarg);
			break;
		case 'H':
			eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg)
				return tool_usage_err("bad header '%s': expected "
				    "key=value", optarg);
			if (o->header_count == MAX_HEADERS)
				return tool_usage_err("too many headers (at most "
				    "%d)", MAX_HEADERS);
			*eq = '\0';
			o->headers[o->header_count].key = optarg;
			o->headers[o->header_count].key_len = strlen(optarg);
			o->headers[o->header_count].value = eq + 1;
			o->headers[o->header_count].value_len = strlen(eq + 1);
			o->header_count++;
			break;
		case 'h':
			usage(stdout);
			exit(TOOL_EXIT_OK);
		case 'J':
			o->json = 1;
			break;
		case 'k':
			o->key = optarg;
			break;
		case 'K':
			if (*optarg == '\0')
				return tool_usage_err("empty key delimiter");
			o->delim = optarg;
			break;
		case 'R':
			o->whole = 1;
			break;
		case 'L':
			if (tool_parse_i64(optarg, 0, 600000, &o->linger_ms) < 0)
				return tool_usage_err("bad linger '%s': expected "
				    "0..600000 ms", optarg);
			break;
		case 'p':
			if (tool_parse_i64(optarg, 0, INT32_MAX, &v) < 0)
				return tool_usage_err("bad partition '%s'", optarg);
			o->partition = (int32_t)v;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'z':
			if (tool_parse_i64(optarg, 1, LOGD_BATCH_MAX_SIZE,
			    &o->batch_bytes) < 0)
				return tool_usage_err("bad batch size '%s': expected "
				    "1..%u bytes", optarg,
				    (unsigned)LOGD_BATCH_MAX_SIZE);
			break;
		case 'V':
			printf("logput %s\n", LOGD_VERSION_STRING);
			exit(TOOL_EXIT_OK);
		default:
			fprintf(stderr, "Try 'logput -h' for help.\n");
			return TOOL_EXIT_USAGE;
		}
	}
	if (o->key != NULL && o->delim != NULL)
		return tool_usage_err("-k and -K exclude each other");
	if (o->delim != NULL && o->whole)
		return tool_usage_err("-K and -R exclude each other");
	if (optind == argc)
		return tool_usage_err("missing topic");
	o->topic = argv[optind++];
	if (logd_topic_name_check(o->topic) < 0)
		return tool_usage_err("bad topic name '%s'", o->topic);
	o->files = argv + optind;
	o->nfiles = argc - optind;
	return 0;
}

static void on_delivery(void *arg, const struct logd_delivery *d)
{
	struct put *p = arg;

	if (d->error == 0)
		return;
	if (p->delivery_failed++ == 0)
		p->first_error = d->error;
}

/* Reports input that cannot become a record; counts it as failed. */
static void input_error(struct put *p, const char *name, uint64_t line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void input_error(struct put *p, const char *name, uint64_t line,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (p->input_failed++ >= MAX_ERROR_LINES) {
		if (p->input_failed == MAX_ERROR_LINES + 1)
			tool_err("(more input errors not shown)");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		tool_err("%s:%llu: %s", name, (unsigned long long)line, msg);
	else
		tool_err("%s: %s", name, msg);
}

/* Sends one record made of data[0..len) (a line or a file). */
static int send_piece(struct put *p, const char *name, uint64_t line,
    const char *data, size_t len)
{
	struct opts *o = p->o;
	struct logd_message m;
	char err[160];
	int rc;

	memset(&m, 0, sizeof(m));
	m.topic = o->topic;
	m.partition = o->partition;
	m.headers = o->header_count ? o->headers : NULL;
	m.header_count = o->header_count;
	if (o->key != NULL) {
		m.key = o->key;
		m.key_len = strlen(o->key);
	} else if (o->delim != NULL) {
		const char *d = memmem(data, len, o->delim, strlen(o->delim));

		if (d == NULL) {
			input_error(p, name, line, "no key delimiter '%s'",
			    o->delim);
			return 0;
		}
		m.key = data;
		m.key_len = (size_t)(d - data);
		len -= m.key_len + strlen(o->delim);
		data = d + strlen(o->delim);
	}
	m.value = data;
	m.value_len = len;
	if (o->json) {
		char t = tool_json_type(data, len);

		if (t != 'o' && t != 'a') {
			input_error(p, name, line, "not a JSON object or "
			    "array");
			return 0;
		}
		p->sb.size = 0;
		rc = tool_json_to_msgpack(data, len, &p->sb, err, sizeof(err));
		if (rc < 0 && line > 0 &&
		    strncmp(err, "line 1, column ", 15) == 0) {
			/* One line: its number is in the prefix already. */
			input_error(p, name, line, "bad JSON at column %s",
			    err + 15);
			return 0;
		}
		if (rc < 0) {
			input_error(p, name, line, "bad JSON: %s", err);
			return 0;
		}
		m.value = p->sb.data;
		m.value_len = p->sb.size;
	}
	rc = logd_producer_send(p->prod, &m);
	if (rc == 0)
		return 0;
	if (rc == LOGD_ENOTOPIC) {
		tool_err("unknown topic '%s'", o->topic);
		return TOOL_EXIT_FAIL;
	}
	if (rc == LOGD_ENOPART) {
		tool_err("topic '%s' has no partition %d", o->topic,
		    o->partition);
		return TOOL_EXIT_FAIL;
	}
	if (rc == LOGD_ETOOBIG) {
		input_error(p, name, line, "record too large (%zu bytes)",
		    len);
		return 0;
	}
	return tool_client_err(p->c, rc, "send");
}

/*
 * Looks the topic up before reading any input, so that an unknown topic
 * fails the same way whether or not there is input to send.
 */
static int check_topic(struct put *p)
{
	const char *names[1] = { p->o->topic };
	struct logd_metadata *md = NULL;
	int rc;

	rc = logd_client_metadata(p->c, names, 1, &md);
	if (rc < 0)
		return tool_client_err(p->c, rc, "metadata");
	rc = md->topic_count == 1 ? md->topics[0].error : LOGD_ENOTOPIC;
	if (rc == 0) {
		const struct logd_topic_meta *t = &md->topics[0];
		size_t i;

		for (i = 0; i < t->config_count; i++)
			if (strcmp(t->config[i].key, "segment.bytes") == 0)
				tool_parse_i64(t->config[i].value, 1, INT64_MAX,
				    &p->segment_bytes);
	}
	logd_metadata_free(md);
	if (rc == LOGD_ENOTOPIC) {
		tool_err("unknown topic '%s'", p->o->topic);
		return TOOL_EXIT_FAIL;
	}
	if (rc < 0)
		return tool_client_err(p->c, rc, "topic '%s'", p->o->topic);
	return 0;
}

/*
 * The batch size: -z, or the default capped to a quarter of the topic's
 * segment.bytes, since the broker refuses a batch larger than a segment
 * (and a batch that does not fit the rest of a segment starts a new one).
 * -z larger than segment.bytes is refused here, naming both.
 */
static int batch_size(struct put *p, size_t *out)
{
	int64_t seg = p->segment_bytes;

	if (p->o->batch_bytes > 0) {
		if (seg > 0 && p->o->batch_bytes > seg) {
			tool_err("-z %lld is larger than topic '%s''s "
			    "segment.bytes (%lld): a batch must fit in a "
			    "segment", (long long)p->o->batch_bytes,
			    p->o->topic, (long long)seg);
			return TOOL_EXIT_USAGE;
		}
		*out = (size_t)p->o->batch_bytes;
	} else if (seg > 0 && seg / 4 < DEFAULT_BATCH_BYTES) {
		*out = (size_t)(seg / 4);
	} else {
		*out = DEFAULT_BATCH_BYTES;
	}
	return 0;
}

static int put_lines(struct put *p, FILE *f, const char *name)
{
	char *line = NULL;
	size_t cap = 0;
	uint64_t lineno = 0;
	ssize_t n;
	int ex = 0;

	while (ex == 0 && (n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			n--;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0)
			continue;
		ex = send_piece(p, name, lineno, line, (size_t)n);
	}
	if (ex == 0 && ferror(f)) {
		tool_err("%s: %s", name, strerror(errno));
		ex = TOOL_EXIT_FAIL;
	}
	free(line);
	return ex;
}

static int put_whole(struct put *p, FILE *f, const char *name)
{
	struct tool_buf b = TOOL_BUF_INIT;
	char chunk[65536];
	size_t n;
	int ex = 0;

	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (tool_buf_add(&b, chunk, n) < 0) {
			tool_err("%s: out of memory", name);
			ex = TOOL_EXIT_FAIL;
			break;
		}
	}
	if (ex == 0 && ferror(f)) {
		tool_err("%s: %s", name, strerror(errno));
		ex = TOOL_EXIT_FAIL;
	}
	if (ex == 0)
		ex = send_piece(p, name, 0, b.data != NULL ? b.data : "",
		    b.len);
	tool_buf_free(&b);
	return ex;
}

static int put_file(struct put *p, const char *path)
{
	int is_stdin = strcmp(path, "-") == 0;
	const char *name = is_stdin ? "<stdin>" : path;
	FILE *f = is_stdin ? stdin : fopen(path, "r");
	int ex;

	if (f == NULL) {
		tool_err("%s: %s", path, strerror(errno));
		return TOOL_EXIT_FAIL;
	}
	ex = p->o->whole ? put_whole(p, f, name) : put_lines(p, f, name);
	if (!is_stdin)
		fclose(f);
	return ex;
}

int main(int argc, char **argv)
{
	struct logd_producer_options po;
	struct logd_producer_stats st;
	struct opts o;
	struct put p;
	int ex, rc, i;

	tool_init(argv[0]);
	if ((ex = parse_args(argc, argv, &o)) != 0)
		return ex;
	memset(&p, 0, sizeof(p));
	p.o = &o;
	msgpack_sbuffer_init(&p.sb);
	if ((ex = tool_connect(o.broker, &p.c)) != 0)
		return ex;
	if ((ex = check_topic(&p)) != 0) {
		logd_client_close(p.c);
		return ex;
	}
	logd_producer_options_default(&po);
	po.acks = o.acks;
	po.codec = o.codec;
	if (o.linger_ms >= 0)
		po.linger_ms = (int)o.linger_ms;
	if ((ex = batch_size(&p, &po.batch_bytes)) != 0)
		goto out;
	po.on_delivery = on_delivery;
	po.arg = &p;
	rc = logd_producer_new(p.c, &po, &p.prod);
	if (rc < 0) {
		ex = tool_client_err(p.c, rc, "producer");
		goto out;
	}
	if (o.nfiles == 0)
		ex = put_file(&p, "-");
	for (i = 0; i < o.nfiles && ex == 0; i++)
		ex = put_file(&p, o.files[i]);
	rc = logd_producer_flush(p.prod);
	logd_producer_stats(p.prod, &st);
	if (rc < 0 && p.delivery_failed == 0 && ex == 0)
		ex = tool_client_err(p.c, rc, "flush");
	if (p.delivery_failed > 0 && p.first_error == LOGD_ETOOBIG)
		tool_err("%llu record%s failed: too large: a batch (-z %zu) "
		    "and each record must fit in topic '%s''s segment.bytes "
		    "(%lld)", (unsigned long long)p.delivery_failed,
		    p.delivery_failed == 1 ? "" : "s", po.batch_bytes, o.topic,
		    (long long)p.segment_bytes);
	else if (p.delivery_failed > 0)
		tool_err("%llu record%s failed: %s",
		    (unsigned long long)p.delivery_failed,
		    p.delivery_failed == 1 ? "" : "s",
		    logd_strerror(p.first_error));
	if (!o.quiet)
		tool_err("%llu record%s %s%s",
		    (unsigned long long)st.records_acked,
		    st.records_acked == 1 ? "" : "s", o.acks == 0 ?
		    "sent (acks=0: not acknowledged)" : "acknowledged",
		    p.input_failed ? ", input errors above" : "");
	if (ex == 0 && (p.delivery_failed > 0 || p.input_failed > 0 ||
	    rc < 0 || st.records_acked < st.records_sent))
		ex = TOOL_EXIT_FAIL;
out:
	logd_producer_close(p.prod);
	logd_client_close(p.c);
	msgpack_sbuffer_destroy(&p.sb);
	return ex;
}
