/*
 * sensordash - the weather pipeline's dashboard, on http://127.0.0.1:8050.
 *
 * A view, not a consumer group: it reads sensor_data and weather_alerts
 * from logd without committing anything, keeps the last -w (3 hours) of
 * every station in memory, and serves one page (with Chart.js, both
 * from this program: the page loads nothing from elsewhere), JSON
 * snapshots and a stream of Server-Sent Events that shows new readings
 * and alerts within a fraction of a second.  A restart refills the
 * charts by reading the log again from now - window, by timestamp.
 *
 * dash.h describes the parts: the reader thread (dash_feed.c), the
 * state (dash_state.c) and the HTTP side (dash_http.c).  main() parses
 * the options, starts the server and the reader, and waits for SIGINT
 * or SIGTERM (blocked in every thread, taken with sigwait here), then
 * stops both and exits 0.  logd need not be up: the page is served at
 * once, shows logd as down, and the reader keeps trying (see
 * dash_feed.c).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logd.h"
#include "dash.h"
#include "sensordash_html.h"

#define DEFAULT_LISTEN "127.0.0.1:8050"
#define DEFAULT_WINDOW_MS (3 * 3600 * 1000LL) /* "the last few hours" */
#define DEFAULT_CONNS 64        /* browsers of one team, with room for
                                   a few tabs each */
#define DEFAULT_STREAMS 32      /* each open page holds one */
#define DEFAULT_TIMEOUT_S 30    /* idle connection: an event stream sends
                                   something every 15 s */
#define CHARTJS_MAX (16 << 20)

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sensordash [-hVv] [-A topic] [-b addr] [-g group] "
	    "[-l host:port]\n"
	    "                  [-M streams] [-m connections] [-T seconds] "
	    "[-t topic]\n"
	    "                  [-w window]\n");
}

static void
help(void)
{
	usage(stdout);
	printf("\n"
	    "  -A, --alerts-topic T  alerts topic (weather_alerts)\n"
	    "  -b, --broker ADDR     logd address ($LOGD_BROKER, else "
	    LOGD_DEFAULT_ADDR ")\n"
	    "  -g, --group G         alert consumer group whose lag is shown "
	    "(alerts)\n"
	    "  -h, --help            this help\n"
	    "  -l, --listen H:P      HTTP address (" DEFAULT_LISTEN ")\n"
	    "  -M, --max-streams N   event streams at once (%d)\n"
	    "  -m, --max-connections N  HTTP connections at once (%d)\n"
	    "  -T, --timeout S       close an idle connection after S "
	    "seconds (%d)\n"
	    "  -t, --topic T         readings topic (sensor_data)\n"
	    "  -V, --version         print the version\n"
	    "  -v, --verbose         log HTTP errors\n"
	    "  -w, --window DUR      history kept and replayed: N with s, m, "
	    "h or d (3h)\n", DEFAULT_STREAMS, DEFAULT_CONNS,
	    DEFAULT_TIMEOUT_S);
}

/* "90m", "3h", "1d", "600s" (or plain seconds): 1 minute to 7 days. */
static int
parse_window(const char *s, int64_t *out)
{
	char *end;
	long long n;
	int64_t unit = 1000;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || n <= 0)
		return -EINVAL;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		unit = 60 * 1000;
		break;
	case 'h':
		unit = 3600 * 1000;
		break;
	case 'd':
		unit = 86400 * 1000;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1])
		return -EINVAL;
	if (n > 7 * 86400 || n * unit < 60 * 1000 ||
	    n * unit > 7 * 86400 * 1000LL)
		return -ERANGE;
	*out = n * unit;
	return 0;
}

static int
parse_opts(int argc, char **argv, struct dash_opts *o)
{
	static const struct option longopts[] = {
		{ "alerts-topic", required_argument, NULL, 'A' },
		{ "broker", required_argument, NULL, 'b' },
		{ "group", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ "listen", required_argument, NULL, 'l' },
		{ "max-streams", required_argument, NULL, 'M' },
		{ "max-connections", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "topic", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "window", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	int64_t v;
	int ch;

	memset(o, 0, sizeof(*o));
	o->listen = DEFAULT_LISTEN;
	o->addr = tool_broker_addr(NULL);
	o->readings_topic = "sensor_data";
	o->alerts_topic = "weather_alerts";
	o->group = "alerts";
	o->window_ms = DEFAULT_WINDOW_MS;
	o->max_conns = DEFAULT_CONNS;
	o->max_streams = DEFAULT_STREAMS;
	o->timeout_s = DEFAULT_TIMEOUT_S;
	while ((ch = getopt_long(argc, argv, "A:b:g:hl:M:m:T:t:Vvw:",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'A':
			if (logd_topic_name_check(optarg) < 0)
				goto bad;
			o->alerts_topic = optarg;
			break;
		case 'b':
			o->addr = optarg;
			break;
		case 'g':
			if (logd_group_name_check(optarg) < 0)
				goto bad;
			o->group = optarg;
			break;
		case 'h':
			help();
			exit(0);
		case 'l':
			o->listen = optarg;
			break;
		case 'M':
			if (tool_parse_i64(optarg, 1, 1000, &v) < 0)
				goto bad;
			o->max_streams = (int)v;
			break;
		case 'm':
			if (tool_parse_i64(optarg, 2, 10000, &v) < 0)
				goto bad;
			o->max_conns = (int)v;
			break;
		case 'T':
			if (tool_parse_i64(optarg, 1, 3600, &v) < 0)
				goto bad;
			o->timeout_s = (int)v;
			break;
		case 't':
			if (logd_topic_name_check(optarg) < 0)
				goto bad;
			o->readings_topic = optarg;
			break;
		case 'V':
			printf("sensordash %s\n", LOGD_VERSION_STRING);
			exit(0);
		case 'v':
			o->verbose = 1;
			break;
		case 'w':
			if (parse_window(optarg, &o->window_ms) < 0)
				goto bad;
			break;
		default:
			usage(stderr);
			return -1;
		}
		continue;
bad:
		tool_err("bad value for -%c: \"%s\"", ch, optarg);
		return -1;
	}
	if (optind != argc) {
		usage(stderr);
		return -1;
	}
	if (o->max_streams >= o->max_conns)
		o->max_streams = o->max_conns - 1;
	return 0;
}

/* Reads Chart.js into d.  0, or -1 after printing why. */
static int
load_chartjs(struct dash *d, const char *path)
{
	FILE *f = fopen(path, "rb");
	struct tool_buf b = TOOL_BUF_INIT;
	char chunk[65536];
	size_t n;

	if (f == NULL) {
		tool_err("cannot read Chart.js at %s: %s (install the Debian "
		    "package libjs-chart.js)", path, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (b.len + n > CHARTJS_MAX || tool_buf_add(&b, chunk, n) < 0) {
			tool_err("%s: too large or out of memory", path);
			fclose(f);
			tool_buf_free(&b);
			return -1;
		}
	}
	fclose(f);
	d->chartjs = b.data;
	d->chartjs_len = b.len;
	return 0;
}

/* Says where the page is: the listen host (127.0.0.1 for a wildcard)
 * and the port bound (which -l :0 leaves to the kernel). */
static void
print_url(const char *listen, int port, const char *broker)
{
	const char *colon = strrchr(listen, ':');
	int hl = colon != NULL ? (int)(colon - listen) : 0;

	if (hl == 0 || (hl == 7 && !strncmp(listen, "0.0.0.0", 7)) ||
	    (hl == 4 && !strncmp(listen, "[::]", 4))) {
		listen = "127.0.0.1";
		hl = 9;
	}
	tool_err("dashboard at http://%.*s:%d/ (logd at %s)", hl, listen,
	    port, broker);
}

int
main(int argc, char **argv)
{
	static struct dash d;     /* large: not on the stack */
	struct MHD_Daemon *mhd = NULL;
	pthread_t feed;
	sigset_t set;
	int sig, port = 0, r;

	tool_init(argv[0]);
	if (parse_opts(argc, argv, &d.o) < 0)
		return TOOL_EXIT_USAGE;
	if (dash_init(&d) < 0) {
		tool_err("out of memory");
		return TOOL_EXIT_FAIL;
	}
	d.page = (const char *)sensordash_html;
	d.page_len = sizeof(sensordash_html);
	d.started_ms = tool_now_ms();
	if (load_chartjs(&d, LOGD_CHARTJS) < 0) {
		dash_free(&d);
		return TOOL_EXIT_FAIL;
	}

	/* Every thread started from here on inherits the blocked set. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (dash_http_start(&d, &mhd, &port) < 0) {
		dash_free(&d);
		return TOOL_EXIT_FAIL;
	}
	r = pthread_create(&feed, NULL, dash_feed_main, &d);
	if (r != 0) {
		tool_err("cannot start the reader thread: %s", strerror(r));
		dash_http_stop(&d, mhd);
		dash_free(&d);
		return TOOL_EXIT_FAIL;
	}
	print_url(d.o.listen, port, d.o.addr);

	while (sigwait(&set, &sig) != 0)
		;
	tool_err("stopping (signal %d)", sig);
	dash_http_stop(&d, mhd);
	pthread_join(feed, NULL);
	dash_free(&d);
	return 0;
}
