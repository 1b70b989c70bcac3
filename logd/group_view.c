/*
 * group_view.c - the coordinator's groups as listings show them
 * (read-only; valid until the loop turn ends).
 */
#include "config.h"

#include <string.h>

#include "group_int.h"

const struct group *group_next(const struct group *g)
{
	return g ? g->next : group_first();
}

const struct group *group_lookup(const char *name)
{
	return group_get(name);
}

const char *group_name(const struct group *g)
{
	return g->name;
}

size_t group_member_count(const char *name)
{
	const struct group *g = group_get(name);

	return g ? g->nmembers : 0;
}

const char *group_state(const struct group *g)
{
	return !g ? "empty" : g->state == G_STABLE ? "stable" :
	    g->state == G_SYNCING ? "syncing" : "rebalancing";
}

int group_kind(const struct group *g)
{
	return g ? g->kind : GROUP_NATIVE;
}

const char *group_protocol_type(const struct group *g)
{
	return g && g->ptype ? g->ptype : "";
}

const char *group_protocol(const struct group *g)
{
	return g && g->protocol && g->state != G_REBALANCING ?
	    g->protocol : "";
}

int64_t group_generation(const struct group *g)
{
	return g ? g->generation : 0;
}

void group_each_member(const struct group *g,
    void (*fn)(void *arg, const struct member_info *mi), void *arg)
{
	const struct gmember *m;
	struct member_info mi;

	for (m = g ? g->members : NULL; m; m = m->next) {
		mi.id = m->id;
		mi.client = m->client;
		mi.session_ms = m->session_ms;
		mi.topics = m->topics;
		mi.ntopics = m->ntopics;
		mi.assign = m->assign;
		mi.nassign = m->nassign;
		mi.meta = NULL;
		mi.meta_len = 0;
		if (g->protocol) {
			const struct kproto *kp = member_proto(m, g->protocol);

			mi.meta = kp ? kp->meta : NULL;
			mi.meta_len = kp ? kp->len : 0;
		}
		mi.kassign = m->kassign;
		mi.kassign_len = m->kassign_len;
		fn(arg, &mi);
	}
}

