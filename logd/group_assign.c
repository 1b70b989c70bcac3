/*
 * group_assign.c - who gets what in a group's new generation.
 *
 * Native members are assigned by logd itself: per topic, its partitions
 * in order, round-robin over the members subscribed to it, by member id.
 * Kafka members are assigned by their leader (the classic protocol):
 * logd only chooses the protocol (assignor) every member supports and
 * most prefer, and hands the leader everyone's metadata for it.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "group_int.h"

void assign_clear(struct gmember *m)
{
	size_t i;

	for (i = 0; i < m->nassign; i++)
		free(m->assign[i].parts);
	free(m->assign);
	m->assign = NULL;
	m->nassign = 0;
}

/* m's own copy of topic, or NULL when m does not read it. */
static const char *member_topic(const struct gmember *m, const char *topic)
{
	size_t i;

	for (i = 0; i < m->ntopics; i++)
		if (!strcmp(m->topics[i], topic))
			return m->topics[i];
	return NULL;
}

int member_owns(const struct gmember *m, const char *topic,
    int32_t partition)
{
	size_t i, k;

	for (i = 0; i < m->nassign; i++) {
		if (strcmp(m->assign[i].topic, topic))
			continue;
		for (k = 0; k < m->assign[i].n; k++)
			if (m->assign[i].parts[k] == partition)
				return 1;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The assignment of the next generation: per topic, its partitions in
 * order, round-robin over the members subscribed to it by member id.
 * Partition p goes to subscriber p mod n, so subscriber k gets k, k + n,
 * k + 2n, ...  All or nothing: -ENOMEM leaves every member without one.
 */
int compute_assignment(struct group *g)
{
	struct logd_topic_config tc;
	struct gmember *m;
	const char **topics;
	size_t nt = 0, i, k, nsub, cnt;

	for (m = g->members; m; m = m->next) {
		assign_clear(m);
		nt += m->ntopics;
	}
	topics = malloc((nt ? nt : 1) * sizeof(*topics));
	if (!topics)
		return -ENOMEM;
	nt = 0;
	for (m = g->members; m; m = m->next) {
		for (i = 0; i < m->ntopics; i++)
			topics[nt++] = m->topics[i];
		m->assign = calloc(m->ntopics ? m->ntopics : 1,
		    sizeof(*m->assign));
		if (!m->assign)
			goto fail;
	}
	qsort(topics, nt, sizeof(*topics), cmp_str);
	for (i = 0; i < nt; i++) {
		if (i && !strcmp(topics[i], topics[i - 1]))
			continue;
		if (logd_store_topic_config(srv.store, topics[i], &tc))
			continue;         /* deleted since: nothing to own */
		nsub = 0;
		for (m = g->members; m; m = m->next)
			nsub += member_topic(m, topics[i]) != NULL;
		k = 0;
		for (m = g->members; m; m = m->next) {
			const char *mine = member_topic(m, topics[i]);
			struct group_assign *a;
			size_t p, j;

			if (!mine)
				continue;
			p = k++;
			if (p >= (size_t)tc.partitions)
				continue;
			cnt = ((size_t)tc.partitions - p + nsub - 1) / nsub;
			a = &m->assign[m->nassign];
			a->parts = malloc(cnt * sizeof(*a->parts));
			if (!a->parts)
				goto fail;
			for (j = 0; j < cnt; j++)
				a->parts[j] = (int32_t)(p + j * nsub);
			a->topic = mine;
			a->n = cnt;
			m->nassign++;
		}
	}
	free(topics);
	return 0;
fail:
	for (m = g->members; m; m = m->next)
		assign_clear(m);
	free(topics);
	return -ENOMEM;
}

const struct kproto *member_proto(const struct gmember *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nprotos; i++)
		if (!strcmp(m->protos[i].name, name))
			return &m->protos[i];
	return NULL;
}

/* Whether every member of g (and extra) supports name. */
static int all_support(const struct group *g, const struct gmember *extra,
    const char *name)
{
	const struct gmember *m;

	if (extra && !member_proto(extra, name))
		return 0;
	for (m = g->members; m; m = m->next)
		if (m != extra && !member_proto(m, name))
			return 0;
	return 1;
}

/* m's vote: its most preferred protocol that all support. */
static const char *vote(const struct group *g, const struct gmember *extra,
    const struct gmember *m)
{
	size_t i;

	for (i = 0; i < m->nprotos; i++)
		if (all_support(g, extra, m->protos[i].name))
			return m->protos[i].name;
	return NULL;
}

const char *choose_protocol(const struct group *g, const struct gmember *extra)
{
	const struct gmember *first = extra ? extra : g->members, *m, *v;
	const char *best = NULL, *mine;
	size_t i, n, most = 0;

	for (i = 0; first && i < first->nprotos; i++) {
		const char *cand = first->protos[i].name;

		if (!all_support(g, extra, cand))
			continue;
		n = 0;
		for (v = g->members; v; v = v->next) {
			mine = v != extra ? vote(g, extra, v) : NULL;
			n += mine && !strcmp(mine, cand);
		}
		m = extra;
		if (m && (mine = vote(g, extra, m)) && !strcmp(mine, cand))
			n++;
		if (!best || n > most) {
			best = cand;
			most = n;
		}
	}
	return best;
}
