/*
 * group_sync.c - Kafka's SyncGroup: after a rebalance the leader sends
 * every member's assignment (opaque bytes: the protocol is the
 * assignor's); the other members' SyncGroups wait for it, then each gets
 * its own.  Until then the group is "syncing"; a change meanwhile starts
 * a rebalance and the waiting SyncGroups get LOGD_EREBALANCE.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group_int.h"


static void sync_fail(struct group_sync *sy, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void sync_fail(struct group_sync *sy, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sy->msg, sizeof(sy->msg), fmt, ap);
	va_end(ap);
	sy->err = code;
	sy->m = NULL;
	sy->done(sy);
}

static void reply_sync(struct group_sync *sy, const struct group *g,
    const struct gmember *m)
{
	sy->err = 0;
	sy->msg[0] = 0;
	sy->data = m->kassign;
	sy->len = m->kassign_len;
	sy->protocol_type = g->ptype;
	sy->protocol = g->protocol;
	sy->m = NULL;
	sy->done(sy);
}

/* Stores the leader's assignments; -ENOMEM leaves them unchanged. */
static int take_assignments(struct group *g, const struct group_sync *sy)
{
	void **v = calloc(g->nmembers, sizeof(*v));
	struct gmember *m;
	size_t i, k;

	if (!v)
		return -ENOMEM;
	for (m = g->members, k = 0; m; m = m->next, k++)
		for (i = 0; i < sy->nassign; i++) {
			if (strcmp(sy->assign[i].member, m->id))
				continue;
			v[k] = malloc(sy->assign[i].len ? sy->assign[i].len : 1);
			if (!v[k])
				goto fail;
			memcpy(v[k], sy->assign[i].data, sy->assign[i].len);
		}
	for (m = g->members, k = 0; m; m = m->next, k++) {
		free(m->kassign);
		m->kassign = v[k];
		m->kassign_len = 0;
		for (i = 0; v[k] && i < sy->nassign; i++)
			if (!strcmp(sy->assign[i].member, m->id))
				m->kassign_len = sy->assign[i].len;
	}
	free(v);
	return 0;
fail:
	for (k = 0; k < g->nmembers; k++)
		free(v[k]);
	free(v);
	return -ENOMEM;
}

void group_sync(struct group_sync *sy)
{
	struct group *g = group_get(sy->group);
	struct gmember *m = member_find(g, sy->member), *o;

	sy->m = NULL;
	if (!m)
		return sync_fail(sy, LOGD_EMEMBER, "group \"%s\" has no member "
		    "\"%s\"", sy->group, sy->member);
	m->seen = ev_now();
	if (g->state == G_REBALANCING)
		return sync_fail(sy, LOGD_EREBALANCE, "group \"%s\" is "
		    "rebalancing: join again", sy->group);
	if (sy->generation != g->generation)
		return sync_fail(sy, LOGD_EGENERATION, "generation %" PRId64
		    " is not the current one (%" PRId64 ")", sy->generation,
		    g->generation);
	if (g->state == G_STABLE)
		return reply_sync(sy, g, m);
	if (strcmp(m->id, g->leader)) {
		release_sync(m, LOGD_EREBALANCE, "replaced by a newer "
		    "SyncGroup of the same member");
		m->held_sync = sy;
		sy->m = m;
		return;
	}
	if (take_assignments(g, sy))
		return sync_fail(sy, -ENOMEM, "out of memory");
	g->state = G_STABLE;
	log_info("group %s: generation %" PRId64 " assigned by its leader %s "
	    "(protocol %s)", g->name, g->generation, m->id, g->protocol);
	for (o = g->members; o; o = o->next) {
		struct group_sync *h = o->held_sync;

		if (!h)
			continue;
		o->held_sync = NULL;
		reply_sync(h, g, o);
	}
	reply_sync(sy, g, m);
}

void group_sync_cancel(struct group_sync *sy)
{
	if (sy->m && sy->m->held_sync == sy)
		sy->m->held_sync = NULL;
	sy->m = NULL;
}

