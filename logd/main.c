/*
 * main.c - logd: parse the command line and the config, then serve.
 *
 * Settings come from the embedded defaults, then the config file (-C),
 * then the flags, each overriding the one before: --set key=value sets
 * any logd.conf key, the other flags are shorthands for the common ones.
 * The letters mean what they mean in the tools (tools/options.txt): the
 * options with no letter of their own are long only.
 * Anything wrong is said on stderr and logd exits 1 before touching the
 * datadir.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: logd [-hV] [-C file] [-d datadir] [-l addr:port] "
	    "[-u path] [--foreground]\n"
	    "            [--log-file file] [--log-level level] "
	    "[--set key=value ...]\n"
	    "  -C, --config FILE       read settings from FILE "
	    "(logd.conf(5))\n"
	    "  -d, --datadir DATADIR   data: serve this data directory\n"
	    "  -l, --listen ADDR:PORT  listen on this TCP address\n"
	    "  -u, --unix-socket PATH  also listen on a Unix socket at PATH\n"
	    "      --foreground        stay in the foreground (the only "
	    "mode)\n"
	    "      --log-file FILE     append the log to FILE\n"
	    "      --log-level LEVEL   log level: error, warn, info or "
	    "debug\n"
	    "      --set KEY=VALUE     set any logd.conf(5) setting "
	    "(repeatable)\n"
	    "  -h, --help              print this help and exit\n"
	    "  -V, --version           print the version and exit\n");
}

struct args {
	const char *conf;
	const char *set[128];      /* by flag letter */
	char *kv[64];              /* --set key=value */
	int nkv;
};

/* 0 to go on, else 1 + the exit status (-h, -V, a bad flag). */
static int parse_args(int argc, char **argv, struct args *a)
{
	/* The long-only options return a letter getopt's string lacks. */
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'C' },
		{ "datadir", required_argument, NULL, 'd' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "listen", required_argument, NULL, 'l' },
		{ "log-file", required_argument, NULL, 'o' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "set", required_argument, NULL, 's' },
		{ "unix-socket", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	/* Our own messages: getopt's would name argv[0], which may be a
	 * libtool .libs path. */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":C:d:l:u:hV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'C':
			a->conf = optarg;
			break;
		case 'd': case 'l': case 'u': case 'L': case 'o':
			a->set[ch] = optarg;
			break;
		case 's':
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				fprintf(stderr, "logd: --set %s: expected "
				    "key=value\n", optarg);
				return 2;
			}
			if (a->nkv == (int)(sizeof(a->kv) / sizeof(a->kv[0]))) {
				fprintf(stderr, "logd: too many --set\n");
				return 2;
			}
			a->kv[a->nkv++] = optarg;
			break;
		case 'f':
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("logd %s\n", LOGD_VERSION_STRING);
			return 1;
		case ':':
			fprintf(stderr, "logd: option %s needs an argument\n"
			    "Try 'logd -h' for help.\n", argv[optind - 1]);
			return 2;
		default:
			if (optopt != 0)
				fprintf(stderr, "logd: invalid option '-%c'\n",
				    optopt);
			else
				fprintf(stderr, "logd: invalid option '%s'\n",
				    argv[optind - 1]);
			fprintf(stderr, "Try 'logd -h' for help.\n");
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	return 0;
}

/* Defaults, then the file, then --set, then the flags.  0 or -1 (said). */
static int load_config(const struct args *a)
{
	static const char *const flag_keys[128] = {
		['d'] = "datadir", ['l'] = "listen", ['u'] = "unix_socket",
		['L'] = "log_level", ['o'] = "log_file",
	};
	static const char *const flag_names[128] = {
		['d'] = "-d", ['l'] = "-l", ['u'] = "-u",
		['L'] = "--log-level", ['o'] = "--log-file",
	};
	char err[1024];
	int ch, i, rc;

	config_default(&srv.cfg);
	if (a->conf && config_load(&srv.cfg, a->conf, err, sizeof(err))) {
		fprintf(stderr, "logd: %s\n", err);
		return -1;
	}
	for (i = 0; i < a->nkv; i++) {
		char *eq = strchr(a->kv[i], '=');

		*eq = 0;
		rc = config_set(&srv.cfg, a->kv[i], eq + 1, err, sizeof(err));
		*eq = '=';
		if (rc) {
			fprintf(stderr, "logd: --set %s: %s\n", a->kv[i], err);
			return -1;
		}
	}
	for (ch = 0; ch < 128; ch++) {
		if (!a->set[ch])
			continue;
		if (config_set(&srv.cfg, flag_keys[ch], a->set[ch], err,
		    sizeof(err))) {
			fprintf(stderr, "logd: %s: %s\n", flag_names[ch], err);
			return -1;
		}
	}
	if (config_check(&srv.cfg, err, sizeof(err))) {
		fprintf(stderr, "logd: %s\n", err);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	sigset_t sigs;
	int rc;

	if ((rc = parse_args(argc, argv, &a)))
		return rc - 1;
	if (load_config(&a))
		return 1;
	rc = log_open(srv.cfg.log_level, srv.cfg.log_file);
	if (rc) {
		fprintf(stderr, "logd: log_file %s: %s\n", srv.cfg.log_file,
		    strerror(-rc));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	rc = server_run();
	log_close();
	return rc;
}
