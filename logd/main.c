/*
 * main.c - logd: parse the command line and the config, then serve.
 *
 * Settings come from the embedded defaults, then the config file (-c),
 * then the flags, each overriding the one before: -s key=value sets any
 * logd.conf key, the other flags are shorthands for the common ones.
 * Anything wrong is said on stderr and logd exits 1 before touching the
 * datadir.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: logd [-fhV] [-c file] [-d datadir] [-l addr:port] "
	    "[-u path] [-L level]\n"
	    "            [-o logfile] [-s key=value ...]\n");
}

int main(int argc, char **argv)
{
	static const char *const flag_keys[128] = {
		['d'] = "datadir", ['l'] = "listen", ['u'] = "unix_socket",
		['L'] = "log_level", ['o'] = "log_file",
	};
	const char *conf = NULL, *set[128] = { 0 };
	char *kv[64];
	char err[1024];
	sigset_t sigs;
	int ch, rc, nkv = 0, i;

	while ((ch = getopt(argc, argv, "c:d:l:u:L:o:s:fhV")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'd': case 'l': case 'u': case 'L': case 'o':
			set[ch] = optarg;
			break;
		case 's':
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				fprintf(stderr, "logd: -s %s: expected "
				    "key=value\n", optarg);
				return 1;
			}
			if (nkv == (int)(sizeof(kv) / sizeof(kv[0]))) {
				fprintf(stderr, "logd: too many -s\n");
				return 1;
			}
			kv[nkv++] = optarg;
			break;
		case 'f':
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("logd %s\n", LOGD_VERSION_STRING);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 1;
	}
	config_default(&srv.cfg);
	if (conf && config_load(&srv.cfg, conf, err, sizeof(err))) {
		fprintf(stderr, "logd: %s\n", err);
		return 1;
	}
	for (i = 0; i < nkv; i++) {
		char *eq = strchr(kv[i], '=');

		*eq = 0;
		rc = config_set(&srv.cfg, kv[i], eq + 1, err, sizeof(err));
		*eq = '=';
		if (rc) {
			fprintf(stderr, "logd: -s %s: %s\n", kv[i], err);
			return 1;
		}
	}
	for (ch = 0; ch < 128; ch++) {
		if (!set[ch])
			continue;
		if (config_set(&srv.cfg, flag_keys[ch], set[ch], err,
		    sizeof(err))) {
			fprintf(stderr, "logd: -%c: %s\n", ch, err);
			return 1;
		}
	}
	if (config_check(&srv.cfg, err, sizeof(err))) {
		fprintf(stderr, "logd: %s\n", err);
		return 1;
	}
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
