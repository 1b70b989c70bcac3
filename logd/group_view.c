/*
 * group_view.c - the coordinator's groups as listings show them
 * (read-only; valid until the loop turn ends).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
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


/* Big-endian reads within [*p, end); 0 past it (then *p is end). */
static uint32_t get_be(const uint8_t **p, const uint8_t *end, int n)
{
	uint32_t v = 0;
	int i;

	if (end - *p < n) {
		*p = end;
		return 0;
	}
	for (i = 0; i < n; i++)
		v = v << 8 | (*p)[i];
	*p += n;
	return v;
}

void group_assign_free(struct group_assign *a, size_t n)
{
	size_t i;

	for (i = 0; a && i < n; i++) {
		free((char *)a[i].topic);
		free(a[i].parts);
	}
	free(a);
}

int group_kafka_assignment(const void *data, size_t len,
    struct group_assign **out, size_t *nout)
{
	const uint8_t *p = data, *end = p + len, *q;
	struct group_assign *a;
	uint32_t nt, np, i, k, tl;
	int bad = len < 6;

	*out = NULL;
	*nout = 0;
	get_be(&p, end, 2);
	nt = get_be(&p, end, 4);
	/* A first pass checks it all before anything is allocated. */
	for (q = p, i = 0; i < nt && !bad; i++) {
		bad = end - q < 2;
		tl = get_be(&q, end, 2);
		bad = bad || (size_t)(end - q) < (size_t)tl + 4;
		if (bad)
			break;
		q += tl;
		np = get_be(&q, end, 4);
		bad = (size_t)(end - q) / 4 < np;
		if (!bad)
			q += 4 * (size_t)np;
	}
	if (bad || nt > 100000)
		return -1;
	if (!nt)
		return 0;
	if (!(a = calloc(nt, sizeof(*a))))
		return -ENOMEM;
	for (i = 0; i < nt; i++) {
		char *t;

		tl = get_be(&p, end, 2);
		if (!(t = malloc((size_t)tl + 1)))
			goto nomem;
		memcpy(t, p, tl);
		t[tl] = 0;
		a[i].topic = t;
		p += tl;
		np = get_be(&p, end, 4);
		if (np && !(a[i].parts = calloc(np, sizeof(int32_t))))
			goto nomem;
		a[i].n = np;
		for (k = 0; k < np; k++)
			a[i].parts[k] = (int32_t)get_be(&p, end, 4);
	}
	*out = a;
	*nout = nt;
	return 0;
nomem:
	group_assign_free(a, nt);
	return -ENOMEM;
}
