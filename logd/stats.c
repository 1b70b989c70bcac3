/*
 * stats.c - request counts, error counts and latency histograms
 * (stats.h).
 */
#include "config.h"

#include <time.h>

#include "stats.h"

struct stats stats;

const double hist_bounds[HIST_BOUNDS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

int64_t stats_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void stats_request(int proto, int api)
{
	if (api >= 0 && api < STATS_APIS)
		stats.requests[proto][api]++;
}

void stats_error(int proto, int api, int code)
{
	size_t i;

	if (api < 0 || api >= STATS_APIS)
		return;
	for (i = 0; i < stats.nerrors; i++) {
		struct stats_error *e = &stats.errors[i];

		if (e->proto == proto && e->api == api && e->code == code) {
			e->n++;
			return;
		}
	}
	if (stats.nerrors == STATS_ERRORS) {
		stats.errors_other++;
		return;
	}
	stats.errors[stats.nerrors++] = (struct stats_error){ proto, api,
	    code, 1 };
}

void hist_observe(struct hist *h, int64_t ns)
{
	double s = ns < 0 ? 0 : (double)ns / 1e9;
	int i = 0;

	while (i < HIST_BOUNDS && s > hist_bounds[i])
		i++;
	h->b[i]++;
	h->count++;
	h->sum += s;
}
