/*
 * sensorgen - the weather pipeline's station generator.
 *
 * N stations in Egyptian cities publish readings to a topic (default
 * sensor_data), one msgpack map per record, keyed by sensor_id so each
 * station's readings stay in order on one partition.
 *
 * The climate model is small and deterministic given --seed: each city
 * has a January and a July mean temperature (a cosine between them over
 * the year), a daily swing peaking at 15:00 local time (UTC+2), a base
 * humidity that falls as the day warms (coast high, desert low), a mean
 * wind speed with gusts, and sea-level pressure around 1013 hPa.  With
 * probability -X a reading is an extreme event instead (heat wave, cold
 * snap, dry khamsin, fog, storm, deep low, strong high), chosen so every
 * rule of logalerts(1) fires now and then.
 *
 * Pacing: -i SECONDS sends every station once per round; -r N spreads N
 * readings per second evenly.  Between sends the producer handles acks.
 * With -s the clock is simulated: readings carry START plus the elapsed
 * rounds and are sent as fast as the broker takes them.
 *
 * With -L TOPIC every reading also goes to TOPIC, keyed by sensor_id, a
 * compacted topic (cleanup.policy compact, created so when missing): the
 * latest reading of each station, which a reader loads at start without
 * replaying the history.  Only the readings of -t count below.
 *
 * A reading counts as failed when the broker did not store it; the exit
 * status is 1 if any failed.  With -P every stored reading's partition,
 * offset and sensor_id is printed on stdout, so a test can check that
 * each acknowledged reading was processed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include "logd.h"
#include "tool.h"

struct city {
	const char *name;
	const char *slug;
	double lat, lon;
	double t_jan, t_jul;      /* mean daily temperature, deg C */
	double swing;             /* half the daily range, deg C */
	double humidity;          /* mean relative humidity, % */
	double wind;              /* mean wind speed, km/h */
};

/* Climate normals rounded from public tables; enough to look right. */
static const struct city cities[] = {
	{ "Cairo", "cairo", 30.0444, 31.2357, 14.0, 28.5, 6.0, 55, 14 },
	{ "Alexandria", "alexandria", 31.2001, 29.9187, 13.5, 26.5, 4.0, 68, 18 },
	{ "Giza", "giza", 30.0131, 31.2089, 14.0, 28.5, 6.5, 52, 13 },
	{ "Aswan", "aswan", 24.0889, 32.8998, 16.0, 34.5, 8.0, 22, 15 },
	{ "Luxor", "luxor", 25.6872, 32.6396, 14.5, 33.0, 8.5, 28, 12 },
	{ "Port Said", "port_said", 31.2653, 32.3019, 15.0, 27.5, 3.5, 70, 20 },
	{ "Suez", "suez", 29.9668, 32.5498, 14.5, 29.0, 5.5, 50, 20 },
	{ "Hurghada", "hurghada", 27.2579, 33.8116, 17.0, 31.0, 5.0, 45, 25 },
	{ "Sharm El Sheikh", "sharm_el_sheikh", 27.9158, 34.3300, 19.0, 32.5,
	    5.0, 40, 20 },
	{ "Siwa", "siwa", 29.2032, 25.5195, 11.5, 29.5, 9.0, 35, 12 },
	{ "Mersa Matruh", "mersa_matruh", 31.3543, 27.2373, 13.5, 25.5, 4.5,
	    65, 22 },
	{ "Asyut", "asyut", 27.1783, 31.1859, 13.0, 29.5, 8.0, 35, 12 },
	{ "Saint Catherine", "saint_catherine", 28.5559, 33.9760, 6.0, 23.0,
	    7.0, 35, 16 },
	{ "Ismailia", "ismailia", 30.5965, 32.2715, 14.0, 28.0, 6.0, 55, 15 },
	{ "Faiyum", "faiyum", 29.3084, 30.8428, 13.5, 29.0, 7.0, 48, 12 },
	{ "Minya", "minya", 28.1099, 30.7503, 13.0, 28.5, 8.0, 42, 12 },
	{ "Sohag", "sohag", 26.5591, 31.6957, 14.0, 31.0, 8.0, 32, 12 },
	{ "Qena", "qena", 26.1551, 32.7160, 14.5, 32.5, 8.5, 30, 12 },
	{ "Kharga", "kharga", 25.4390, 30.5586, 13.5, 32.5, 9.5, 22, 14 },
	{ "Marsa Alam", "marsa_alam", 25.0676, 34.8790, 19.0, 31.0, 4.5, 45,
	    22 },
	{ "Damietta", "damietta", 31.4165, 31.8133, 14.0, 27.0, 4.0, 70, 16 },
	{ "El Arish", "el_arish", 31.1313, 33.7984, 13.5, 26.0, 5.0, 65, 16 },
	{ "Tanta", "tanta", 30.7865, 31.0004, 13.0, 27.0, 6.5, 60, 11 },
	{ "Mansoura", "mansoura", 31.0409, 31.3785, 13.5, 27.5, 6.0, 62, 12 },
};
#define NCITIES (sizeof(cities) / sizeof(cities[0]))

struct station {
	const struct city *city;
	char id[48];
	double lat, lon;
	double t_bias;            /* this station's own microclimate */
	double pressure;          /* slowly wandering sea-level pressure */
};

struct opts {
	const char *addr;
	const char *topic;
	int stations;
	double interval;          /* seconds per round (-i) */
	double rate;              /* readings per second (-r), 0: rounds */
	uint64_t count;           /* 0: until interrupted */
	uint64_t seed;
	int have_seed;
	int acks;
	double extreme;           /* probability of an extreme reading */
	int64_t sim_start_ms;     /* -s: simulated clock, -1: real time */
	int32_t create_partitions; /* -p: create the topic if missing */
	int print;                /* -P: print stored readings */
	int quiet;
	const char *latest;       /* -L: compacted topic of the latest */
};

struct gen {
	struct opts o;
	struct station *st;
	uint64_t rng;
	uint64_t sent, acked, failed;
	uint64_t latest_failed;   /* -L copies not stored */
	double start;             /* tool_mono_s() when sending began */
	int first_error;
	char first_msg[256];
};

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* splitmix64: tiny, good enough, identical on every platform. */
static uint64_t
rnd_u64(struct gen *g)
{
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double
rnd(struct gen *g)
{
	return (double)(rnd_u64(g) >> 11) / 9007199254740992.0;
}

/* Standard normal (Box-Muller; one value per call keeps it simple). */
static double
rnd_normal(struct gen *g)
{
	double u = rnd(g), v = rnd(g);

	if (u < 1e-300)
		u = 1e-300;
	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static double
round1(double x)
{
	return round(x * 10.0) / 10.0;
}

static double
clamp(double x, double lo, double hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

static void
stations_init(struct gen *g)
{
	int i;

	for (i = 0; i < g->o.stations; i++) {
		struct station *s = &g->st[i];
		int k = i / (int)NCITIES;

		s->city = &cities[(size_t)i % NCITIES];
		snprintf(s->id, sizeof(s->id), "ws_%s_%03d", s->city->slug,
		    k + 1);
		/* Further stations of a city stand a few km apart. */
		s->lat = s->city->lat + 0.02 * k * (k % 2 ? 1 : -1);
		s->lon = s->city->lon + 0.015 * k;
		s->t_bias = 0.8 * rnd_normal(g);
		s->pressure = 1013.0 + 3.0 * rnd_normal(g);
	}
}

/* Normal weather at station s at time t (ms since the epoch, UTC). */
struct reading {
	double temperature, humidity, wind_speed, pressure;
};

static void
weather(struct gen *g, struct station *s, int64_t t, struct reading *r)
{
	const struct city *c = s->city;
	time_t secs = (time_t)(t / 1000);
	struct tm tm;
	double doy, hour, season, daily, mean;

	gmtime_r(&secs, &tm);
	doy = tm.tm_yday + tm.tm_hour / 24.0;
	/* Local time is UTC+2 (Egypt standard time). */
	hour = fmod(tm.tm_hour + 2 + tm.tm_min / 60.0, 24.0);
	/* Coldest in mid January, hottest half a year later. */
	season = -cos(2.0 * M_PI * (doy - 15.0) / 365.25);
	mean = (c->t_jan + c->t_jul) / 2 + (c->t_jul - c->t_jan) / 2 * season;
	/* Warmest at 15:00, coolest before dawn. */
	daily = cos(2.0 * M_PI * (hour - 15.0) / 24.0);
	r->temperature = mean + s->t_bias + c->swing * daily +
	    1.2 * rnd_normal(g);
	/* Relative humidity falls as the air warms. */
	r->humidity = clamp(c->humidity - 12.0 * daily - 0.4 * season *
	    (c->t_jul - c->t_jan) + 5.0 * rnd_normal(g), 3.0, 100.0);
	r->wind_speed = clamp(c->wind * (1.0 + 0.25 * daily) +
	    0.35 * c->wind * rnd_normal(g), 0.0, 200.0);
	/* Pressure wanders slowly around 1013 hPa, lower in summer. */
	s->pressure += 0.3 * rnd_normal(g) + 0.02 * (1013.0 - s->pressure);
	r->pressure = s->pressure - 4.0 * season;
}

/* With probability -X, turns r into one of seven kinds of extreme. */
static void
extreme(struct gen *g, struct reading *r)
{
	if (rnd(g) >= g->o.extreme)
		return;
	switch (rnd_u64(g) % 7) {
	case 0: /* heat wave */
		r->temperature = 40.5 + 7.0 * rnd(g);
		r->humidity = clamp(r->humidity * 0.5, 5.0, 100.0);
		break;
	case 1: /* cold snap */
		r->temperature = -0.5 - 5.0 * rnd(g);
		break;
	case 2: /* dry khamsin wind */
		r->humidity = 4.0 + 15.0 * rnd(g);
		break;
	case 3: /* fog */
		r->humidity = 90.5 + 9.0 * rnd(g);
		break;
	case 4: /* storm */
		r->wind_speed = 50.5 + 40.0 * rnd(g);
		break;
	case 5: /* deep low */
		r->pressure = 960.0 + 19.5 * rnd(g);
		break;
	default: /* strong high */
		r->pressure = 1040.5 + 10.0 * rnd(g);
		break;
	}
}

static void
pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void
pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
	pack_str(pk, k);
	pack_str(pk, v);
}

static void
pack_kv_num(msgpack_packer *pk, const char *k, double v)
{
	pack_str(pk, k);
	msgpack_pack_double(pk, v);
}

/* Encodes the reading of station s at time t into sb (cleared first). */
static void
encode(struct gen *g, struct station *s, int64_t t, msgpack_sbuffer *sb)
{
	msgpack_packer pk;
	struct reading r;
	char ts[40];

	weather(g, s, t, &r);
	extreme(g, &r);
	tool_format_time(t, ts, sizeof(ts));

	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 9);
	pack_kv_str(&pk, "sensor_id", s->id);
	pack_kv_str(&pk, "city", s->city->name);
	pack_kv_num(&pk, "lat", s->lat);
	pack_kv_num(&pk, "lon", s->lon);
	pack_kv_str(&pk, "timestamp", ts);
	pack_kv_num(&pk, "temperature", round1(r.temperature));
	pack_kv_num(&pk, "humidity", round1(r.humidity));
	pack_kv_num(&pk, "wind_speed", round1(r.wind_speed));
	pack_kv_num(&pk, "pressure", round1(r.pressure));
}

static void
on_delivery(void *arg, const struct logd_delivery *d)
{
	struct gen *g = arg;
	const struct station *s = d->opaque;

	if (s == NULL) {          /* the -L copy */
		if (d->error != 0 && g->latest_failed++ == 0)
			tool_err("latest reading to %s: %s", g->o.latest,
			    logd_strerror(d->error));
		return;
	}
	if (d->error != 0) {
		if (g->failed++ == 0) {
			g->first_error = d->error;
			snprintf(g->first_msg, sizeof(g->first_msg), "%s",
			    logd_strerror(d->error));
		}
		return;
	}
	g->acked++;
	if (g->o.print)
		printf("%" PRId32 " %" PRId64 " %s\n", d->partition, d->offset,
		    s->id);
}

/* Creates the -L topic, compacted, unless it exists. */
static int
ensure_latest(struct logd_client *c, const struct opts *o)
{
	static const struct logd_kv cfg[] = {
		{ "cleanup.policy", "compact" },
	};
	int r;

	if (o->latest == NULL)
		return 0;
	r = logd_client_topic_create(c, o->latest, 0, cfg, 1);
	if (r < 0 && r != LOGD_ETOPICEXIST) {
		tool_err("create topic %s: %s", o->latest,
		    logd_client_errmsg(c));
		return r;
	}
	return 0;
}

/* Creates the topic when -p asks for it and it does not exist. */
static int
ensure_topic(struct logd_client *c, const struct opts *o)
{
	struct logd_metadata *m;
	const char *names[1] = { o->topic };
	int r, missing;

	r = logd_client_metadata(c, names, 1, &m);
	if (r < 0) {
		tool_err("metadata for %s: %s", o->topic,
		    logd_client_errmsg(c));
		return r;
	}
	missing = m->topic_count == 0 ||
	    m->topics[0].error == LOGD_ENOTOPIC;
	logd_metadata_free(m);
	if (!missing)
		return 0;
	if (o->create_partitions <= 0) {
		tool_err("topic %s does not exist (create it with logctl, "
		    "or give -p PARTITIONS)", o->topic);
		return LOGD_ENOTOPIC;
	}
	r = logd_client_topic_create(c, o->topic, o->create_partitions,
	    NULL, 0);
	if (r < 0 && r != LOGD_ETOPICEXIST) {
		tool_err("create topic %s: %s", o->topic,
		    logd_client_errmsg(c));
		return r;
	}
	return 0;
}

static void
progress(struct gen *g, int final)
{
	double el = tool_mono_s() - g->start;

	fprintf(stderr, "\rsensorgen: %" PRIu64 " readings sent, %" PRIu64
	    " stored, %" PRIu64 " failed, %.1f/s   %s", g->sent, g->acked,
	    g->failed, el > 0 ? (double)g->acked / el : 0.0,
	    final ? "\n" : "");
	fflush(stderr);
}

/*
 * The send loop.  Reading k (0-based) is due at start + k / rate, or with
 * rounds at start + (k / stations) * interval.  Returns 0, or a negative
 * code when the producer failed in a way that stops the run.
 */
static int
run(struct gen *g, struct logd_producer *p)
{
	const struct opts *o = &g->o;
	msgpack_sbuffer sb;
	double start = g->start = tool_mono_s(), next_progress = start + 0.5;
	int tty = !o->quiet && isatty(STDERR_FILENO);
	int64_t t0 = o->sim_start_ms >= 0 ? o->sim_start_ms : 0;
	uint64_t k;
	int r = 0;

	msgpack_sbuffer_init(&sb);
	for (k = 0; !stop && (o->count == 0 || k < o->count); k++) {
		uint64_t round = k / (uint64_t)o->stations;
		struct station *s = &g->st[k % (uint64_t)o->stations];
		double due, step;
		struct logd_message m;
		int64_t ts;

		step = o->rate > 0 ? o->stations / o->rate : o->interval;
		if (o->sim_start_ms >= 0) {
			ts = t0 + (int64_t)(round * step * 1000.0);
		} else {
			due = start + (o->rate > 0 ? (double)k / o->rate :
			    (double)round * o->interval);
			for (;;) {
				double now = tool_mono_s(), left = due - now;

				if (tty && now >= next_progress) {
					progress(g, 0);
					next_progress = now + 0.5;
				}
				if (left <= 0 || stop)
					break;
				r = logd_producer_poll(p, (int)(left * 1000) +
				    1);
				if (r < 0)
					goto out;
			}
			if (stop)
				break;
			ts = tool_now_ms();
		}
		encode(g, s, ts, &sb);
		memset(&m, 0, sizeof(m));
		m.topic = o->topic;
		m.partition = LOGD_PARTITION_ANY;
		m.key = s->id;
		m.key_len = strlen(s->id);
		m.value = sb.data;
		m.value_len = sb.size;
		m.timestamp = ts;
		m.opaque = s;
		r = logd_producer_send(p, &m);
		if (r < 0)
			goto out;
		g->sent++;
		if (o->latest != NULL) {
			m.topic = o->latest;
			m.opaque = NULL;
			r = logd_producer_send(p, &m);
			if (r < 0)
				goto out;
		}
		if (o->sim_start_ms >= 0 && tty && tool_mono_s() >= next_progress) {
			progress(g, 0);
			next_progress = tool_mono_s() + 0.5;
		}
	}
	r = 0;
out:
	msgpack_sbuffer_destroy(&sb);
	return r;
}

/* getopt values of the options with no letter */
enum { OPT_SEED = 256, OPT_LATEST };

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sensorgen [-PqV] [-a acks] [-b addr] [-c count] "
	    "[-i seconds | -r rate]\n"
	    "                 [-n stations] [-p partitions] [-s start] "
	    "[-t topic]\n"
	    "                 [-X probability] [--latest topic] [--seed N]\n"
	    "  -a, --acks ACKS          0, 1 or all (default all)\n"
	    "  -b, --broker ADDR        broker (default $LOGD_BROKER or "
	    "%s)\n"
	    "  -c, --count N            send N readings, then stop "
	    "(default: until a signal)\n"
	    "  -i, --interval SECONDS   one round of readings every SECONDS "
	    "(default 1)\n"
	    "      --latest TOPIC       also to TOPIC, compacted: each "
	    "station's latest\n"
	    "  -n, --stations N         number of stations (default 10)\n"
	    "  -P, --print              print where each reading was "
	    "stored\n"
	    "  -p, --partitions N       partitions if the topic is created\n"
	    "  -q, --quiet              no progress line, no summary\n"
	    "  -r, --rate N             N readings per second in all\n"
	    "  -s, --start TIME         start time: simulate the clock from "
	    "TIME\n"
	    "  -S TIME                  an old spelling of -s\n"
	    "  -t, --topic TOPIC        topic (default sensor_data)\n"
	    "  -X, --extreme P          chance of an extreme reading, 0 to 1 "
	    "(default 0.02)\n"
	    "      --seed N             seed of the random generator\n"
	    "  -h, --help               print this help and exit\n"
	    "  -V, --version            print the version and exit\n",
	    LOGD_DEFAULT_ADDR);
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "acks", required_argument, NULL, 'a' },
		{ "broker", required_argument, NULL, 'b' },
		{ "count", required_argument, NULL, 'c' },
		{ "extreme", required_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ "interval", required_argument, NULL, 'i' },
		{ "latest", required_argument, NULL, OPT_LATEST },
		{ "stations", required_argument, NULL, 'n' },
		{ "partitions", required_argument, NULL, 'p' },
		{ "print", no_argument, NULL, 'P' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "start", required_argument, NULL, 's' },
		{ "topic", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	char *end;
	int ch;

	memset(o, 0, sizeof(*o));
	o->addr = tool_broker_addr(NULL);
	o->topic = "sensor_data";
	o->stations = 10;
	o->interval = 1.0;
	o->acks = LOGD_ACKS_ALL;
	o->extreme = 0.02;
	o->sim_start_ms = -1;
	while ((ch = getopt_long(argc, argv, "a:b:c:hi:n:p:Pqr:s:S:t:VX:",
	    longopts, NULL)) != -1) {
		errno = 0;
		end = NULL;
		switch (ch) {
		case 'a':
			if (!strcmp(optarg, "all") || !strcmp(optarg, "-1"))
				o->acks = LOGD_ACKS_ALL;
			else if (!strcmp(optarg, "0") || !strcmp(optarg, "1"))
				o->acks = optarg[0] - '0';
			else
				goto bad;
			break;
		case 'b':
			o->addr = optarg;
			break;
		case 'c':
			o->count = strtoull(optarg, &end, 10);
			if (*end || optarg[0] == '-' || o->count == 0)
				goto bad;
			break;
		case 'X':
			o->extreme = strtod(optarg, &end);
			if (*end || !(o->extreme >= 0 && o->extreme <= 1))
				goto bad;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'i':
			o->interval = strtod(optarg, &end);
			if (*end || !(o->interval >= 0 && o->interval < 1e6))
				goto bad;
			o->rate = 0;
			break;
		case 'n':
			o->stations = (int)strtol(optarg, &end, 10);
			if (*end || o->stations < 1 || o->stations > 100000)
				goto bad;
			break;
		case 'p':
			o->create_partitions = (int32_t)strtol(optarg, &end,
			    10);
			if (*end || o->create_partitions < 1 ||
			    o->create_partitions > 100000)
				goto bad;
			break;
		case 'P':
			o->print = 1;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'r':
			o->rate = strtod(optarg, &end);
			if (*end || !(o->rate > 0 && o->rate <= 1e7))
				goto bad;
			break;
		case OPT_SEED:
			o->seed = strtoull(optarg, &end, 0);
			if (*end || errno)
				goto bad;
			o->have_seed = 1;
			break;
		case 's':
		case 'S':
			if (tool_parse_time(optarg, tool_now_ms(),
			    &o->sim_start_ms) < 0) {
				/* -s was the seed once: say where it went */
				if (strspn(optarg, "0123456789") ==
				    strlen(optarg))
					tool_err("bad value for -%c: \"%s\" (a "
					    "start time; the seed is --seed)",
					    ch, optarg);
				else
					tool_err("bad value for -%c: \"%s\"", ch,
					    optarg);
				return -1;
			}
			break;
		case 't':
			o->topic = optarg;
			break;
		case OPT_LATEST:
			if (logd_topic_name_check(optarg) != 0)
				goto bad;
			o->latest = optarg;
			break;
		case 'V':
			printf("sensorgen %s\n", LOGD_VERSION_STRING);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
		continue;
bad:
		if (ch == OPT_SEED)
			tool_err("bad value for --seed: \"%s\"", optarg);
		else
			tool_err("bad value for -%c: \"%s\"", ch, optarg);
		return -1;
	}
	if (optind != argc) {
		usage(stderr);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct logd_producer_options po;
	struct logd_client *c = NULL;
	struct logd_producer *p = NULL;
	struct sigaction sa;
	struct gen g;
	int r, rc = 1;

	tool_init(argv[0]);
	memset(&g, 0, sizeof(g));
	if (parse_opts(argc, argv, &g.o) < 0)
		return TOOL_EXIT_USAGE;
	g.rng = g.o.have_seed ? g.o.seed :
	    ((uint64_t)tool_now_ms() << 16) ^ (uint64_t)getpid();
	g.st = calloc((size_t)g.o.stations, sizeof(*g.st));
	if (g.st == NULL) {
		tool_err("out of memory");
		return 1;
	}
	stations_init(&g);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = tool_connect(g.o.addr, &c);
	if (r != 0) {
		rc = r;
		goto out;
	}
	if (ensure_topic(c, &g.o) < 0 || ensure_latest(c, &g.o) < 0)
		goto out;
	logd_producer_options_default(&po);
	po.acks = g.o.acks;
	po.on_delivery = on_delivery;
	po.arg = &g;
	r = logd_producer_new(c, &po, &p);
	if (r < 0) {
		tool_err("producer: %s", logd_strerror(r));
		goto out;
	}
	r = run(&g, p);
	if (r < 0)
		tool_err("send: %s", logd_client_errmsg(c)[0] ?
		    logd_client_errmsg(c) : logd_strerror(r));
	r = logd_producer_close(p);
	p = NULL;
	/* The last progress line, with every delivery counted. */
	if (!g.o.quiet && isatty(STDERR_FILENO))
		progress(&g, 1);
	if (r < 0 && g.failed == 0)
		tool_err("flush: %s", logd_strerror(r));
	fflush(stdout);
	if (g.failed > 0)
		tool_err("%" PRIu64 " of %" PRIu64 " readings were not "
		    "stored (first error: %s)", g.failed, g.sent,
		    g.first_msg);
	else if (r == 0 && g.acked + (g.o.acks == 0 ? g.sent : 0) >=
	    g.sent && !g.o.quiet && !isatty(STDERR_FILENO))
		fprintf(stderr, "sensorgen: %" PRIu64 " readings stored in "
		    "%s\n", g.sent, g.o.topic);
	if (r == 0 && g.failed == 0 && (g.o.acks == 0 || g.acked == g.sent))
		rc = 0;
out:
	logd_producer_close(p);
	logd_client_close(c);
	free(g.st);
	return rc;
}
