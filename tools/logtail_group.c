/*
 * logtail_group.c - logtail -g: a member of a consumer group.
 *
 * logtail joins the group with logd_consumer_subscribe(); the group
 * gives it partitions, which start at the group's commits.  Records are
 * rendered as they come and queued per partition; records below a
 * partition's end offset at assignment are printed merged by timestamp
 * once every such partition has its next record queued, later ones as
 * they come (with -f).  Positions are committed every second or 1000
 * records, at exit and when partitions are taken away (on_revoke),
 * always after stdout was flushed and as the next record not printed:
 * the member is seeked back over what was fetched or queued but not
 * printed, so a record is never counted consumed before it was written
 * out.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logtail.h"

void qfree(struct part *p)
{
	struct qrec *q;

	while ((q = p->qhead) != NULL) {
		p->qhead = q->next;
		free(q);
	}
	p->qtail = NULL;
}

/*
 * Makes the member's position of p the next record to print: records
 * fetched or queued past it are dropped (they come again).
 */
static void rewind_part(struct tail *t, struct part *p)
{
	int64_t cur;

	if (logd_consumer_position(t->cs, t->o->topic, p->id, &cur) == 0 &&
	    cur != p->pos && p->pos >= 0)
		logd_consumer_seek(t->cs, t->o->topic, p->id, p->pos);
	qfree(p);
}

/* Commits what was printed, as the group member (-g). */
int member_commit(struct tail *t, int64_t now)
{
	size_t i;
	int rc;

	for (i = 0; i < t->nparts; i++)
		if (t->parts[i].owned)
			rewind_part(t, &t->parts[i]);
	rc = logd_consumer_commit(t->cs);
	/* Refused because the partitions moved on: their new owner prints
	 * from the last accepted commit. */
	if (rc < 0 && rc != LOGD_EGENERATION && rc != LOGD_EMEMBER &&
	    rc != LOGD_EREBALANCE)
		return tool_client_err(t->c, rc, "commit for group %s",
		    t->o->group);
	t->uncommitted = 0;
	t->last_commit_ms = now;
	return 0;
}

/* ---- -g: a member of the group, merging what it owns by time ---- */

static void on_assign(void *arg, const struct logd_group_assignment *a,
    size_t n)
{
	struct tail *t = arg;
	size_t i, k;

	for (i = 0; i < n; i++) {
		if (strcmp(a[i].topic, t->o->topic) != 0)
			continue;
		for (k = 0; k < a[i].partition_count; k++) {
			struct part *p;

			if (a[i].partitions[k] < 0 ||
			    (size_t)a[i].partitions[k] >= t->nparts)
				continue;
			p = &t->parts[a[i].partitions[k]];
			p->owned = 1;
			p->fresh = 1;
			p->done = 0;
			p->limit = -1;
			logd_consumer_position(t->cs, t->o->topic, p->id,
			    &p->pos);
			/* Back after a reconnect: after what was printed,
			 * unless the group's commit is further on. */
			if (p->resume > p->pos) {
				p->pos = p->resume;
				logd_consumer_seek(t->cs, t->o->topic, p->id,
				    p->pos);
			}
			p->resume = -1;
		}
	}
}

/* Before a partition goes: what was printed is what gets committed. */
static void on_revoke(void *arg, const struct logd_group_assignment *a,
    size_t n)
{
	struct tail *t = arg;
	size_t i, k;

	fflush(stdout);
	for (i = 0; i < n; i++) {
		if (strcmp(a[i].topic, t->o->topic) != 0)
			continue;
		for (k = 0; k < a[i].partition_count; k++) {
			struct part *p;

			if (a[i].partitions[k] < 0 ||
			    (size_t)a[i].partitions[k] >= t->nparts)
				continue;
			p = &t->parts[a[i].partitions[k]];
			rewind_part(t, p);
			p->owned = 0;
		}
	}
}

/* A partition just given: its replay limit, and -o/-s the first time. */
static int take_part(struct tail *t, struct part *p)
{
	struct opts *o = t->o;
	int64_t start, end, off = p->pos;
	int rc;

	p->fresh = 0;
	if ((rc = logd_client_list_offset(t->c, o->topic, p->id,
	    LOGD_OFFSET_EARLIEST, &start)) < 0 ||
	    (rc = logd_client_list_offset(t->c, o->topic, p->id,
	    LOGD_OFFSET_LATEST, &end)) < 0)
		return tool_client_err(t->c, rc, "%s partition %d", o->topic,
		    p->id);
	p->limit = end;
	if (o->end_offset >= 0 && o->end_offset < p->limit)
		p->limit = o->end_offset;
	if (!p->started && o->start != START_DEFAULT) {
		if ((rc = start_point(t, p, start, end, &off)) != 0)
			return rc;
	} else if (off < start) {
		tool_err("warning: group %s's offset %lld on partition %d is "
		    "below the log start; starting at %lld", o->group,
		    (long long)off, p->id, (long long)start);
		off = start;
	}
	p->started = 1;
	if (off != p->pos) {
		p->pos = off;
		rewind_part(t, p);
	}
	return 0;
}

/* Queues the rendered record r of p for the merge. */
static int queue_record(struct tail *t, struct part *p,
    const struct logd_record *r)
{
	struct qrec *q;
	int rc;

	if ((rc = render_record(t, p->id, r)) != 0)
		return rc;
	q = malloc(sizeof(*q) + t->out.len);
	if (q == NULL) {
		tool_err("out of memory");
		return TOOL_EXIT_FAIL;
	}
	q->next = NULL;
	q->skip = 0;
	q->offset = r->offset;
	q->ts = r->timestamp;
	q->len = t->out.len;
	memcpy(q->data, t->out.data, t->out.len);
	if (p->qtail != NULL)
		p->qtail->next = q;
	else
		p->qhead = q;
	p->qtail = q;
	return 0;
}

/*
 * --skip-bad: the member skipped a batch of partition.  Queued behind the
 * records before it (and first in the merge), so the position committed
 * moves past it once they are printed.
 */
static void on_skip(void *arg, const char *topic, int32_t partition,
    int64_t first, int64_t last, const char *why)
{
	struct tail *t = arg;
	struct part *p;
	struct qrec *q;

	(void)topic;
	(void)first;
	skip_warn(why);
	if (partition < 0 || (size_t)partition >= t->nparts)
		return;
	p = &t->parts[partition];
	if (!p->owned || (q = malloc(sizeof(*q))) == NULL)
		return;
	q->next = NULL;
	q->skip = 1;
	q->offset = last;
	q->ts = INT64_MIN;
	q->len = 0;
	if (p->qtail != NULL)
		p->qtail->next = q;
	else
		p->qhead = q;
	p->qtail = q;
}

/* Prints and unlinks the head of p's queue (or drops it). */
static int pop_record(struct tail *t, struct part *p, int print)
{
	struct qrec *q = p->qhead;
	int rc = 0;

	if (print && q->skip) {
		t->uncommitted++;
		p->pos = q->offset + 1;
	} else if (print) {
		rc = print_bytes(t, q->data, q->len);
		p->pos = q->offset + 1;
	}
	p->qhead = q->next;
	if (p->qhead == NULL)
		p->qtail = NULL;
	free(q);
	return rc;
}

/*
 * Prints what can be printed: records at or past a partition's replay
 * limit as they come (with -f), older ones merged by timestamp once every
 * partition still replaying has its next record queued.
 */
static int drain(struct tail *t)
{
	struct part *best;
	size_t i;
	int rc, blocked, again = 1;

	while (again && (t->o->count < 0 || t->printed < t->o->count)) {
		again = 0;
		best = NULL;
		blocked = 0;
		for (i = 0; i < t->nparts; i++) {
			struct part *p = &t->parts[i];

			if (!p->owned || p->done)
				continue;
			if (p->qhead == NULL) {
				if (p->fresh || p->pos < p->limit)
					blocked = 1;
				continue;
			}
			if (p->qhead->offset >= p->limit) {
				if ((rc = pop_record(t, p, t->o->follow)) != 0)
					return rc;
				again = 1;
				break;
			}
			if (best == NULL || p->qhead->ts < best->qhead->ts)
				best = p;
		}
		if (!again && best != NULL && !blocked) {
			if ((rc = pop_record(t, best, 1)) != 0)
				return rc;
			again = 1;
		}
	}
	return 0;
}

/* Without -f: done once every owned partition reached its limit. */
static int caught_up(struct tail *t)
{
	size_t i, n;

	if (logd_consumer_assignment(t->cs, &n) == NULL)
		return 0; /* joining */
	for (i = 0; i < t->nparts; i++) {
		struct part *p = &t->parts[i];

		if (p->owned && !p->done && (p->fresh || p->pos < p->limit))
			return 0;
	}
	return 1;
}

static int member_loop(struct tail *t)
{
	struct logd_consumer_record cr;
	size_t i;
	int rc, ex;

	while (!stop_requested && (t->o->count < 0 ||
	    t->printed < t->o->count)) {
		struct part *p = NULL;

		rc = logd_consumer_poll(t->cs, 250, &cr);
		if (rc < 0 && t->o->follow && tool_is_connection_error(rc)) {
			t->lost = rc;
			return 0;
		}
		if (rc < 0) {
			if (rc != LOGD_ERANGE)
				return tool_client_err(t->c, rc, "%s",
				    t->o->topic);
			tool_err("%s", logd_client_errmsg(t->c));
			return TOOL_EXIT_FAIL;
		}
		for (i = 0; i < t->nparts; i++)
			if (t->parts[i].owned && t->parts[i].fresh &&
			    (ex = take_part(t, &t->parts[i])) != 0)
				return ex;
		if (rc == 1 && (size_t)cr.partition < t->nparts)
			p = &t->parts[cr.partition];
		/* Records from before a seek (take_part) come below the
		 * next offset expected: dropped. */
		if (p != NULL && p->owned && !p->done && cr.rec.offset >=
		    (p->qtail != NULL ? p->qtail->offset + 1 : p->pos)) {
			if (past_end(t->o, &cr.rec))
				p->done = 1;
			else if ((ex = queue_record(t, p, &cr.rec)) != 0)
				return ex;
		}
		if ((ex = drain(t)) != 0)
			return ex;
		if ((ex = commit(t, 0)) == TOOL_EXIT_CONNECT && t->o->follow) {
			t->lost = LOGD_ECLOSED;
			return 0;
		}
		if (ex != 0)
			return ex;
		if (!t->o->follow && caught_up(t))
			break;
	}
	return 0;
}

/* Joins the group as a new member of it (on t->c). */
static int join(struct tail *t)
{
	struct logd_consumer_options co;
	int rc;

	memset(&co, 0, sizeof(co));
	co.group = t->o->group;
	co.max_wait_ms = 500;
	co.on_assign = on_assign;
	co.on_revoke = on_revoke;
	co.skip_bad = t->o->skip_bad;
	co.on_skip = on_skip;
	co.cb_arg = t;
	if ((rc = logd_consumer_new(t->c, &co, &t->cs)) < 0 ||
	    (rc = logd_consumer_subscribe(t->cs, t->o->topic)) < 0) {
		if (t->o->follow && tool_is_connection_error(rc)) {
			t->lost = rc;
			return 0;
		}
		return tool_client_err(t->c, rc, "group %s", t->o->group);
	}
	return 0;
}

/*
 * -f and the connection broke: keeps where each owned partition was
 * printed up to, leaves the member, reconnects (backoff, until a signal)
 * and joins again.  0 to go on, 1 when a signal stopped it, or an exit
 * code.
 */
static int rejoin(struct tail *t)
{
	int err = t->lost, ex;
	size_t i;

	t->lost = 0;
	if (fflush(stdout) != 0) {
		tool_err("write error: %s", strerror(errno));
		return TOOL_EXIT_FAIL;
	}
	for (i = 0; i < t->nparts; i++) {
		struct part *p = &t->parts[i];

		qfree(p);
		if (p->owned && p->pos >= 0)
			p->resume = p->pos;
	}
	logd_consumer_close(t->cs);
	t->cs = NULL;
	for (i = 0; i < t->nparts; i++)
		t->parts[i].owned = t->parts[i].fresh = 0;
	if (tool_reconnect(t->o->broker, err, &stop_requested, &t->c) != 0)
		return 1;
	if ((ex = join(t)) != 0)
		return ex;
	if (t->lost == 0)
		tool_err("rejoined group %s: resuming %s after the last record "
		    "printed", t->o->group, t->o->topic);
	return 0;
}

int run_group(struct tail *t)
{
	const char *names[1] = { t->o->topic };
	struct logd_metadata *md = NULL;
	const struct logd_topic_meta *tm;
	int rc, ex = TOOL_EXIT_FAIL;
	int32_t i;

	rc = logd_client_metadata(t->c, names, 1, &md);
	if (rc < 0)
		return tool_client_err(t->c, rc, "metadata");
	tm = md->topic_count == 1 ? &md->topics[0] : NULL;
	if (tm == NULL || tm->error != 0) {
		tool_err("unknown topic '%s'", t->o->topic);
		goto out;
	}
	t->parts = calloc((size_t)tm->partition_count, sizeof(*t->parts));
	if (t->parts == NULL) {
		tool_err("out of memory");
		goto out;
	}
	t->nparts = (size_t)tm->partition_count;
	for (i = 0; i < tm->partition_count; i++) {
		t->parts[i].id = i;
		t->parts[i].pos = t->parts[i].limit = -1;
		t->parts[i].resume = -1;
	}
	if ((ex = join(t)) != 0)
		goto out;
	for (;;) {
		if (t->lost == 0 && (ex = member_loop(t)) != 0)
			break;
		if (t->lost == 0)
			break;
		if ((ex = rejoin(t)) == 1) {
			ex = 0;
			break;
		}
		if (ex != 0)
			break;
	}
	/* Commit what was printed, unless the connection is gone. */
	if (ex != TOOL_EXIT_CONNECT && (rc = commit(t, 1)) != 0 && ex == 0)
		ex = rc;
out:
	logd_consumer_close(t->cs);
	t->cs = NULL;
	for (i = 0; i < (int32_t)t->nparts; i++)
		qfree(&t->parts[i]);
	logd_metadata_free(md);
	return ex;
}
