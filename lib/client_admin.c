/*
 * client_admin.c - the client's request/reply calls: topics, metadata,
 * offsets, stats, raw produce and fetch, group offsets.
 *
 * Each call packs its request body, then cl_call() sends it and waits;
 * the parse function runs on the reply while its frame is alive and
 * copies out what the caller keeps (results are malloc'd and freed by
 * the matching _free function).  The connection machinery is in
 * client.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

static void
cl_pack_config(msgpack_packer *pk, const struct logd_kv *kv, size_t n)
{
	size_t i;

	msgpack_pack_map(pk, n);
	for (i = 0; i < n; i++) {
		logd_pack_str(pk, kv[i].key);
		logd_pack_str(pk, kv[i].value);
	}
}

/* Checks the strings a caller passes: NULL is -EINVAL. */
static int
cl_need(struct logd_client *c, const char *what, const char *s)
{
	if (s == NULL)
		return cl_seterr(c, -EINVAL, "%s is NULL", what);
	return 0;
}

int
logd_client_topic_create(struct logd_client *c, const char *topic,
    int32_t partitions, const struct logd_kv *config, size_t n)
{
	msgpack_packer *pk;
	int r;

	if ((r = cl_need(c, "topic", topic)) < 0 ||
	    (r = cl_req_begin(c, LOGD_API_CREATE, &pk)) < 0)
		return r;
	msgpack_pack_map(pk, 1 + (partitions > 0) + (n > 0));
	logd_pack_kv_str(pk, "topic", topic);
	if (partitions > 0)
		logd_pack_kv_int(pk, "partitions", partitions);
	if (n > 0) {
		logd_pack_str(pk, "config");
		cl_pack_config(pk, config, n);
	}
	return cl_call(c, NULL, NULL, 0);
}

int
logd_client_topic_delete(struct logd_client *c, const char *topic)
{
	msgpack_packer *pk;
	int r;

	if ((r = cl_need(c, "topic", topic)) < 0 ||
	    (r = cl_req_begin(c, LOGD_API_DELETE, &pk)) < 0)
		return r;
	msgpack_pack_map(pk, 1);
	logd_pack_kv_str(pk, "topic", topic);
	return cl_call(c, NULL, NULL, 0);
}

int
logd_client_topic_alter(struct logd_client *c, const char *topic,
    const struct logd_kv *config, size_t n)
{
	msgpack_packer *pk;
	int r;

	if ((r = cl_need(c, "topic", topic)) < 0 ||
	    (r = cl_req_begin(c, LOGD_API_ALTER, &pk)) < 0)
		return r;
	msgpack_pack_map(pk, 2);
	logd_pack_kv_str(pk, "topic", topic);
	logd_pack_str(pk, "config");
	cl_pack_config(pk, config, n);
	return cl_call(c, NULL, NULL, 0);
}

struct cl_compact_res {
	struct logd_clean_stats st;
	int64_t partitions;
};

static int
cl_compact_parse(struct logd_client *c, struct logd_msg *m,
    struct cl_frame *f, void *arg)
{
	struct cl_compact_res *res = arg;
	int64_t v[9];
	int r;

	(void)c;
	(void)f;
	if ((r = logd_proto_int_opt(m, NULL, "partitions", 0,
	    &res->partitions)) < 0 ||
	    (r = logd_proto_int_opt(m, NULL, "segments", 0, &v[0])) < 0 ||
	    (r = logd_proto_int_opt(m, NULL, "deleted", 0, &v[1])) < 0 ||
	    (r = logd_proto_int_opt(m, NULL, "records_read", 0, &v[2])) < 0 ||
	    (r = logd_proto_int_opt(m, NULL, "records_kept", 0, &v[3])) < 0 ||
	    (r = logd_proto_int_opt(m, NULL, "tombstones", 0, &v[4])) < 0 ||
	    (r = logd_proto_int_opt(m, NULL, "keyless", 0, &v[5])) < 0 ||
	    (r = logd_proto_int_opt(m, NULL, "bytes_before", 0, &v[6])) < 0 ||
	    (r = logd_proto_int_opt(m, NULL, "bytes_after", 0, &v[7])) < 0 ||
	    (r = logd_proto_int_opt(m, NULL, "run_ms", 0, &v[8])) < 0)
		return r;
	memset(&res->st, 0, sizeof(res->st));
	res->st.segments = (uint32_t)v[0];
	res->st.deleted = (uint32_t)v[1];
	res->st.records_read = (uint64_t)v[2];
	res->st.records_kept = (uint64_t)v[3];
	res->st.tombstones_dropped = (uint64_t)v[4];
	res->st.keyless_dropped = (uint64_t)v[5];
	res->st.bytes_before = (uint64_t)v[6];
	res->st.bytes_after = (uint64_t)v[7];
	res->st.run_ms = v[8];
	res->st.clean_point = -1;
	return 0;
}

int
logd_client_topic_compact(struct logd_client *c, const char *topic,
    int32_t partition, int timeout_ms, struct logd_clean_stats *st,
    uint32_t *partitions)
{
	struct cl_compact_res res;
	msgpack_packer *pk;
	int r;

	if ((r = cl_need(c, "topic", topic)) < 0 ||
	    (r = cl_req_begin(c, LOGD_API_COMPACT, &pk)) < 0)
		return r;
	msgpack_pack_map(pk, 2);
	logd_pack_kv_str(pk, "topic", topic);
	logd_pack_kv_int(pk, "partition", partition);
	r = cl_call(c, cl_compact_parse, &res, timeout_ms);
	if (r < 0)
		return r;
	if (st != NULL)
		*st = res.st;
	if (partitions != NULL)
		*partitions = (uint32_t)res.partitions;
	return 0;
}

/* A msgpack str or integer as a malloc'd C string (NULL: bad type). */
static char *
cl_obj_strdup(const msgpack_object *o)
{
	char buf[32];

	if (o->type == MSGPACK_OBJECT_STR)
		return strndup(o->via.str.ptr, o->via.str.size);
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		snprintf(buf, sizeof(buf), "%llu",
		    (unsigned long long)o->via.u64);
	else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		snprintf(buf, sizeof(buf), "%lld", (long long)o->via.i64);
	else
		return NULL;
	return strdup(buf);
}

/* A required string field as a malloc'd copy. */
static int
cl_get_strdup(struct logd_msg *m, const msgpack_object *map, const char *key,
    int opt, char **out)
{
	const char *p;
	size_t len;
	int r;

	r = opt ? logd_proto_str_opt(m, map, key, &p, &len) :
	    logd_proto_str(m, map, key, &p, &len);
	if (r < 0)
		return r;
	*out = p != NULL ? strndup(p, len) : strdup("");
	return *out != NULL ? 0 : -ENOMEM;
}

void
logd_metadata_free(struct logd_metadata *md)
{
	size_t i, j;

	if (md == NULL)
		return;
	for (i = 0; i < md->topic_count; i++) {
		struct logd_topic_meta *t = &md->topics[i];

		free((char *)t->name);
		free(t->partitions);
		for (j = 0; j < t->config_count; j++) {
			free((char *)t->config[j].key);
			free((char *)t->config[j].value);
		}
		free(t->config);
	}
	free(md->topics);
	free(md);
}

static int
cl_topic_meta_parse(struct logd_msg *m, const msgpack_object *o,
    struct logd_topic_meta *t)
{
	const msgpack_object_array *parts = NULL;
	const msgpack_object *cfg = NULL;
	int64_t v;
	uint32_t i;
	int r;

	if ((r = cl_get_strdup(m, o, "name", 0, (char **)&t->name)) < 0 ||
	    (r = logd_proto_int_opt(m, o, "error", 0, &v)) < 0 ||
	    (r = logd_proto_array_opt(m, o, "partitions", &parts)) < 0 ||
	    (r = logd_proto_map_opt(m, o, "config", &cfg)) < 0)
		return r;
	t->error = (int)v;
	if (parts != NULL && parts->size > 0) {
		t->partitions = calloc(parts->size, sizeof(*t->partitions));
		if (t->partitions == NULL)
			return -ENOMEM;
		for (i = 0; i < parts->size; i++) {
			struct logd_partition_meta *pm = &t->partitions[i];
			const msgpack_object *po = &parts->ptr[i];
			int64_t pn, s, e, pe, ppm, cp;
			uint64_t sz, dk;

			if ((r = logd_proto_int(m, po, "partition", &pn)) < 0 ||
			    (r = logd_proto_int_opt(m, po, "start", -1,
			    &s)) < 0 ||
			    (r = logd_proto_int_opt(m, po, "end", -1, &e)) < 0 ||
			    (r = logd_proto_uint_opt(m, po, "size", 0,
			    &sz)) < 0 ||
			    (r = logd_proto_uint_opt(m, po, "disk", 0,
			    &dk)) < 0 ||
			    (r = logd_proto_int_opt(m, po, "error", 0,
			    &pe)) < 0 ||
			    (r = logd_proto_int_opt(m, po, "dirty_ppm", 0,
			    &ppm)) < 0 ||
			    (r = logd_proto_int_opt(m, po, "clean_point", 0,
			    &cp)) < 0)
				return r;
			pm->dirty_ratio = (double)ppm / 1e6;
			pm->clean_point = cp;
			pm->partition = (int32_t)pn;
			pm->error = (int)pe;
			pm->start_offset = s;
			pm->end_offset = e;
			pm->size = sz;
			pm->disk = dk;
			t->partition_count++;
		}
	}
	if (cfg != NULL && cfg->type == MSGPACK_OBJECT_MAP &&
	    cfg->via.map.size > 0) {
		t->config = calloc(cfg->via.map.size, sizeof(*t->config));
		if (t->config == NULL)
			return -ENOMEM;
		for (i = 0; i < cfg->via.map.size; i++) {
			const msgpack_object_kv *kv = &cfg->via.map.ptr[i];
			char *k = cl_obj_strdup(&kv->key);
			char *val = cl_obj_strdup(&kv->val);

			if (k == NULL || val == NULL) {
				free(k);
				free(val);
				snprintf(m->err, sizeof(m->err),
				    "bad config entry in topic metadata");
				return LOGD_EPROTO;
			}
			t->config[t->config_count].key = k;
			t->config[t->config_count].value = val;
			t->config_count++;
		}
	}
	return 0;
}

static int
cl_metadata_parse(struct logd_client *c, struct logd_msg *m,
    struct cl_frame *f, void *arg)
{
	const msgpack_object_array *topics = NULL;
	struct logd_metadata *md;
	uint32_t i;
	int r;

	r = logd_proto_array_opt(m, NULL, "topics", &topics);
	if (r < 0)
		return r;
	md = calloc(1, sizeof(*md));
	if (md == NULL)
		return -ENOMEM;
	if (topics != NULL && topics->size > 0) {
		md->topics = calloc(topics->size, sizeof(*md->topics));
		if (md->topics == NULL) {
			r = -ENOMEM;
			goto fail;
		}
		for (i = 0; i < topics->size; i++) {
			md->topic_count++;
			r = cl_topic_meta_parse(m, &topics->ptr[i],
			    &md->topics[i]);
			if (r < 0)
				goto fail;
		}
	}
	*(struct logd_metadata **)arg = md;
	return 0;
fail:
	logd_metadata_free(md);
	return r;
}

int
logd_client_metadata(struct logd_client *c, const char *const *topics,
    size_t n, struct logd_metadata **out)
{
	struct logd_metadata *md = NULL;
	msgpack_packer *pk;
	size_t i;
	int r;

	for (i = 0; i < n; i++)
		if ((r = cl_need(c, "topic", topics[i])) < 0)
			return r;
	if ((r = cl_req_begin(c, LOGD_API_METADATA, &pk)) < 0)
		return r;
	msgpack_pack_map(pk, n > 0);
	if (n > 0) {
		logd_pack_str(pk, "topics");
		msgpack_pack_array(pk, n);
		for (i = 0; i < n; i++)
			logd_pack_str(pk, topics[i]);
	}
	r = cl_call(c, cl_metadata_parse, &md, 0);
	if (r < 0)
		return r;
	*out = md;
	return 0;
}

int
cl_partition_count(struct logd_client *c, const char *topic, int32_t *n)
{
	struct logd_metadata *md = NULL;
	int r;

	r = logd_client_metadata(c, &topic, 1, &md);
	if (r < 0)
		return r;
	if (md->topic_count != 1 || md->topics[0].error != 0 ||
	    md->topics[0].partition_count <= 0) {
		r = md->topic_count == 1 && md->topics[0].error != 0 ?
		    md->topics[0].error : LOGD_ENOTOPIC;
		logd_metadata_free(md);
		return cl_seterr(c, r, "topic %s: %s", topic,
		    logd_strerror(r));
	}
	*n = md->topics[0].partition_count;
	logd_metadata_free(md);
	return 0;
}

static int
cl_offset_parse(struct logd_client *c, struct logd_msg *m, struct cl_frame *f,
    void *arg)
{
	return logd_proto_int(m, NULL, "offset", arg);
}

int
logd_client_list_offset(struct logd_client *c, const char *topic,
    int32_t partition, int64_t ts, int64_t *offset)
{
	msgpack_packer *pk;
	int64_t off = -1;
	int r;

	if ((r = cl_need(c, "topic", topic)) < 0 ||
	    (r = cl_req_begin(c, LOGD_API_LIST_OFFSETS, &pk)) < 0)
		return r;
	msgpack_pack_map(pk, 3);
	logd_pack_kv_str(pk, "topic", topic);
	logd_pack_kv_int(pk, "partition", partition);
	logd_pack_kv_int(pk, "timestamp", ts);
	r = cl_call(c, cl_offset_parse, &off, 0);
	if (r < 0)
		return r;
	*offset = off;
	return 0;
}

static int
cl_stats_parse(struct logd_client *c, struct logd_msg *m, struct cl_frame *f,
    void *arg)
{
	struct logd_stats *st = arg;
	int r;

	if ((r = logd_proto_int_opt(m, NULL, "connections", -1,
	    &st->connections)) < 0 ||
	    (r = logd_proto_int_opt(m, NULL, "bytes_in", -1,
	    &st->bytes_in)) < 0 ||
	    (r = logd_proto_int_opt(m, NULL, "bytes_out", -1,
	    &st->bytes_out)) < 0 ||
	    (r = logd_proto_int_opt(m, NULL, "records_in", -1,
	    &st->records_in)) < 0 ||
	    (r = logd_proto_int_opt(m, NULL, "records_out", -1,
	    &st->records_out)) < 0 ||
	    (r = logd_proto_int_opt(m, NULL, "uptime_ms", -1,
	    &st->uptime_ms)) < 0)
		return r;
	return 0;
}

int
logd_client_stats(struct logd_client *c, struct logd_stats *st)
{
	struct logd_stats s;
	msgpack_packer *pk;
	int r;

	if ((r = cl_req_begin(c, LOGD_API_STATS, &pk)) < 0)
		return r;
	msgpack_pack_map(pk, 0);
	r = cl_call(c, cl_stats_parse, &s, 0);
	if (r < 0)
		return r;
	*st = s;
	return 0;
}

struct cl_produce_res {
	int32_t partition;
	int64_t base_offset;
};

static int
cl_produce_parse(struct logd_client *c, struct logd_msg *m,
    struct cl_frame *f, void *arg)
{
	struct cl_produce_res *res = arg;
	int64_t p;
	int r;

	if ((r = logd_proto_int(m, NULL, "partition", &p)) < 0 ||
	    (r = logd_proto_int(m, NULL, "base_offset",
	    &res->base_offset)) < 0)
		return r;
	res->partition = (int32_t)p;
	return 0;
}

int
logd_client_produce(struct logd_client *c, const char *topic,
    int32_t partition, const void *key, size_t key_len, int acks,
    const void *batch, size_t len, int32_t *partition_out,
    int64_t *base_offset)
{
	struct cl_produce_res res = { partition, -1 };
	msgpack_packer *pk;
	int r;

	if ((r = cl_need(c, "topic", topic)) < 0)
		return r;
	if (acks != 0 && acks != 1 && acks != LOGD_ACKS_ALL)
		return cl_seterr(c, -EINVAL, "acks must be 0, 1 or -1");
	if ((r = cl_req_begin(c, LOGD_API_PRODUCE, &pk)) < 0)
		return r;
	msgpack_pack_map(pk, 4 + (key != NULL));
	logd_pack_kv_str(pk, "topic", topic);
	logd_pack_kv_int(pk, "partition", partition);
	if (key != NULL)
		logd_pack_kv_bin(pk, "key", key, key_len);
	logd_pack_kv_int(pk, "acks", acks);
	logd_pack_kv_bin(pk, "records", batch, len);
	if (acks == 0)
		r = cl_req_end(c, NULL, NULL, 0);
	else
		r = cl_call(c, cl_produce_parse, &res, 0);
	if (r < 0)
		return r;
	if (partition_out != NULL)
		*partition_out = res.partition;
	if (base_offset != NULL)
		*base_offset = res.base_offset;
	return 0;
}

/* A fetch result: the frame that holds the records, kept whole. */
struct cl_fetch {
	struct logd_fetch pub;
	uint8_t *buf;
};

static int
cl_fetch_parse(struct logd_client *c, struct logd_msg *m, struct cl_frame *f,
    void *arg)
{
	struct cl_fetch *cf;
	const void *p = NULL;
	size_t len = 0;
	int64_t s, e;
	int r;

	if ((r = logd_proto_int_opt(m, NULL, "start", -1, &s)) < 0 ||
	    (r = logd_proto_int_opt(m, NULL, "end", -1, &e)) < 0 ||
	    (r = logd_proto_bin_opt(m, NULL, "records", &p, &len)) < 0)
		return r;
	cf = calloc(1, sizeof(*cf));
	if (cf == NULL)
		return -ENOMEM;
	if (f->owned && len > 0) {
		cf->buf = f->buf;
		f->buf = NULL;
		cf->pub.records = p;
	} else if (len > 0) {
		cf->buf = malloc(len);
		if (cf->buf == NULL) {
			free(cf);
			return -ENOMEM;
		}
		memcpy(cf->buf, p, len);
		cf->pub.records = cf->buf;
	}
	cf->pub.len = len;
	cf->pub.start_offset = s;
	cf->pub.end_offset = e;
	*(struct cl_fetch **)arg = cf;
	return 0;
}

int
logd_client_fetch(struct logd_client *c, const char *topic,
    int32_t partition, int64_t offset, size_t max_bytes, int max_wait_ms,
    struct logd_fetch **out)
{
	struct cl_fetch *cf = NULL;
	msgpack_packer *pk;
	int r;

	if ((r = cl_need(c, "topic", topic)) < 0 ||
	    (r = cl_req_begin(c, LOGD_API_FETCH, &pk)) < 0)
		return r;
	msgpack_pack_map(pk, 5);
	logd_pack_kv_str(pk, "topic", topic);
	logd_pack_kv_int(pk, "partition", partition);
	logd_pack_kv_int(pk, "offset", offset);
	logd_pack_kv_int(pk, "max_bytes",
	    max_bytes ? (int64_t)max_bytes : 1 << 20);
	logd_pack_kv_int(pk, "max_wait_ms", max_wait_ms > 0 ? max_wait_ms : 0);
	r = cl_call(c, cl_fetch_parse, &cf, max_wait_ms);
	if (r < 0)
		return r;
	*out = &cf->pub;
	return 0;
}

void
logd_fetch_free(struct logd_fetch *f)
{
	struct cl_fetch *cf = (struct cl_fetch *)f;

	if (cf == NULL)
		return;
	free(cf->buf);
	free(cf);
}

int
logd_client_offsets_commit(struct logd_client *c, const char *group,
    const struct logd_offset_commit *offsets, size_t n)
{
	msgpack_packer *pk;
	size_t i;
	int r;

	if ((r = cl_need(c, "group", group)) < 0)
		return r;
	for (i = 0; i < n; i++)
		if ((r = cl_need(c, "topic", offsets[i].topic)) < 0)
			return r;
	if ((r = cl_req_begin(c, LOGD_API_OFFSET_COMMIT, &pk)) < 0)
		return r;
	msgpack_pack_map(pk, 2);
	logd_pack_kv_str(pk, "group", group);
	logd_pack_str(pk, "offsets");
	msgpack_pack_array(pk, n);
	for (i = 0; i < n; i++) {
		msgpack_pack_map(pk, 3 + (offsets[i].metadata != NULL));
		logd_pack_kv_str(pk, "topic", offsets[i].topic);
		logd_pack_kv_int(pk, "partition", offsets[i].partition);
		logd_pack_kv_int(pk, "offset", offsets[i].offset);
		if (offsets[i].metadata != NULL)
			logd_pack_kv_str(pk, "metadata", offsets[i].metadata);
	}
	return cl_call(c, NULL, NULL, 0);
}

static void
cl_assignment_clear(struct logd_group_assignment *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free((char *)a[i].topic);
		free(a[i].partitions);
	}
	free(a);
}

static void
cl_group_clear(struct logd_group *g)
{
	size_t i, j;

	for (i = 0; i < g->offset_count; i++) {
		free((char *)g->offsets[i].topic);
		free((char *)g->offsets[i].metadata);
	}
	free(g->offsets);
	for (i = 0; i < g->member_count; i++) {
		struct logd_group_member *gm = &g->members[i];

		free((char *)gm->member);
		free((char *)gm->client);
		for (j = 0; j < gm->topic_count; j++)
			free((char *)gm->topics[j]);
		free(gm->topics);
		cl_assignment_clear(gm->assignment, gm->assignment_count);
	}
	free(g->members);
	free((char *)g->state);
	free((char *)g->name);
}

void
logd_group_free(struct logd_group *g)
{
	if (g == NULL)
		return;
	cl_group_clear(g);
	free(g);
}

void
logd_group_list_free(struct logd_group_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->count; i++)
		cl_group_clear(&l->groups[i]);
	free(l->groups);
	free(l);
}

/* Fills g->offsets from the array a of {topic, partition, offset, ...}. */
static int
cl_group_offsets_parse(struct logd_msg *m, const msgpack_object_array *a,
    struct logd_group *g)
{
	uint32_t i;
	int r;

	if (a == NULL || a->size == 0)
		return 0;
	g->offsets = calloc(a->size, sizeof(*g->offsets));
	if (g->offsets == NULL)
		return -ENOMEM;
	for (i = 0; i < a->size; i++) {
		struct logd_group_offset *go = &g->offsets[i];
		const msgpack_object *o = &a->ptr[i];
		int64_t p;

		g->offset_count++;
		if ((r = cl_get_strdup(m, o, "topic", 0,
		    (char **)&go->topic)) < 0 ||
		    (r = cl_get_strdup(m, o, "metadata", 1,
		    (char **)&go->metadata)) < 0 ||
		    (r = logd_proto_int(m, o, "partition", &p)) < 0 ||
		    (r = logd_proto_int(m, o, "offset", &go->offset)) < 0 ||
		    (r = logd_proto_int_opt(m, o, "end", -1,
		    &go->end_offset)) < 0 ||
		    (r = logd_proto_int_opt(m, o, "lag", -1, &go->lag)) < 0)
			return r;
		go->partition = (int32_t)p;
	}
	return 0;
}

/* Copies an array of strings into *out (NULL when empty). */
static int
cl_strings_parse(struct logd_msg *m, const msgpack_object_array *a,
    const char ***out, size_t *n)
{
	uint32_t i;

	if (a == NULL || a->size == 0)
		return 0;
	*out = calloc(a->size, sizeof(**out));
	if (*out == NULL)
		return -ENOMEM;
	for (i = 0; i < a->size; i++) {
		if (a->ptr[i].type != MSGPACK_OBJECT_STR) {
			snprintf(m->err, sizeof(m->err), "a topic is not a "
			    "string");
			return LOGD_EPROTO;
		}
		(*out)[i] = strndup(a->ptr[i].via.str.ptr,
		    a->ptr[i].via.str.size);
		if ((*out)[i] == NULL)
			return -ENOMEM;
		(*n)++;
	}
	return 0;
}

/* Fills an assignment from [{topic, partitions:[int]}]. */
static int
cl_assignment_parse(struct logd_msg *m, const msgpack_object_array *a,
    struct logd_group_assignment **out, size_t *n)
{
	uint32_t i, j;
	int r;

	if (a == NULL || a->size == 0)
		return 0;
	*out = calloc(a->size, sizeof(**out));
	if (*out == NULL)
		return -ENOMEM;
	for (i = 0; i < a->size; i++) {
		struct logd_group_assignment *ga = &(*out)[i];
		const msgpack_object_array *pa = NULL;

		(*n)++;
		if ((r = cl_get_strdup(m, &a->ptr[i], "topic", 0,
		    (char **)&ga->topic)) < 0 ||
		    (r = logd_proto_array_opt(m, &a->ptr[i], "partitions",
		    &pa)) < 0)
			return r;
		if (pa == NULL || pa->size == 0)
			continue;
		ga->partitions = calloc(pa->size, sizeof(*ga->partitions));
		if (ga->partitions == NULL)
			return -ENOMEM;
		for (j = 0; j < pa->size; j++) {
			if (pa->ptr[j].type != MSGPACK_OBJECT_POSITIVE_INTEGER
			    || pa->ptr[j].via.u64 > INT32_MAX) {
				snprintf(m->err, sizeof(m->err), "bad "
				    "partition in an assignment");
				return LOGD_EPROTO;
			}
			ga->partitions[ga->partition_count++] =
			    (int32_t)pa->ptr[j].via.u64;
		}
	}
	return 0;
}

/* Fills g->members from [{member, client, session_ms, topics,
 * assignment}]. */
static int
cl_group_members_parse(struct logd_msg *m, const msgpack_object_array *a,
    struct logd_group *g)
{
	uint32_t i;
	int r;

	if (a == NULL || a->size == 0)
		return 0;
	g->members = calloc(a->size, sizeof(*g->members));
	if (g->members == NULL)
		return -ENOMEM;
	for (i = 0; i < a->size; i++) {
		struct logd_group_member *gm = &g->members[i];
		const msgpack_object *o = &a->ptr[i];
		const msgpack_object_array *ta = NULL, *aa = NULL;
		int64_t sm;

		g->member_count++;
		if ((r = cl_get_strdup(m, o, "member", 0,
		    (char **)&gm->member)) < 0 ||
		    (r = cl_get_strdup(m, o, "client", 1,
		    (char **)&gm->client)) < 0 ||
		    (r = logd_proto_int_opt(m, o, "session_ms", 0, &sm)) < 0 ||
		    (r = logd_proto_array_opt(m, o, "topics", &ta)) < 0 ||
		    (r = logd_proto_array_opt(m, o, "assignment", &aa)) < 0 ||
		    (r = cl_strings_parse(m, ta, &gm->topics,
		    &gm->topic_count)) < 0 ||
		    (r = cl_assignment_parse(m, aa, &gm->assignment,
		    &gm->assignment_count)) < 0)
			return r;
		gm->session_ms = (int)sm;
	}
	return 0;
}

/* One group of a LIST_GROUPS reply. */
static int
cl_group_parse(struct logd_msg *m, const msgpack_object *o,
    struct logd_group *g)
{
	const msgpack_object_array *oa = NULL, *ma = NULL;
	int r;

	if ((r = cl_get_strdup(m, o, "group", 0, (char **)&g->name)) < 0 ||
	    (r = cl_get_strdup(m, o, "state", 1, (char **)&g->state)) < 0 ||
	    (r = logd_proto_int_opt(m, o, "generation", 0,
	    &g->generation)) < 0 ||
	    (r = logd_proto_array_opt(m, o, "members", &ma)) < 0 ||
	    (r = logd_proto_array_opt(m, o, "offsets", &oa)) < 0 ||
	    (r = cl_group_members_parse(m, ma, g)) < 0 ||
	    (r = cl_group_offsets_parse(m, oa, g)) < 0)
		return r;
	return 0;
}

struct cl_offsets_fetch {
	const char *group;
	struct logd_group *g;
};

static int
cl_offsets_fetch_parse(struct logd_client *c, struct logd_msg *m,
    struct cl_frame *f, void *arg)
{
	struct cl_offsets_fetch *of = arg;
	const msgpack_object_array *a = NULL;
	struct logd_group *g;
	int r;

	if ((r = logd_proto_array_opt(m, NULL, "offsets", &a)) < 0)
		return r;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return -ENOMEM;
	g->name = strdup(of->group);
	g->state = strdup("");
	r = g->name == NULL || g->state == NULL ? -ENOMEM :
	    cl_group_offsets_parse(m, a, g);
	if (r < 0) {
		logd_group_free(g);
		return r;
	}
	of->g = g;
	return 0;
}

int
logd_client_offsets_fetch(struct logd_client *c, const char *group,
    const char *topic, struct logd_group **out)
{
	struct cl_offsets_fetch of = { group, NULL };
	msgpack_packer *pk;
	int r;

	if ((r = cl_need(c, "group", group)) < 0 ||
	    (r = cl_req_begin(c, LOGD_API_OFFSET_FETCH, &pk)) < 0)
		return r;
	msgpack_pack_map(pk, 1 + (topic != NULL));
	logd_pack_kv_str(pk, "group", group);
	if (topic != NULL)
		logd_pack_kv_str(pk, "topic", topic);
	r = cl_call(c, cl_offsets_fetch_parse, &of, 0);
	if (r < 0)
		return r;
	*out = of.g;
	return 0;
}

static int
cl_groups_parse(struct logd_client *c, struct logd_msg *m, struct cl_frame *f,
    void *arg)
{
	const msgpack_object_array *a = NULL;
	struct logd_group_list *l;
	uint32_t i;
	int r;

	if ((r = logd_proto_array_opt(m, NULL, "groups", &a)) < 0)
		return r;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	if (a != NULL && a->size > 0) {
		l->groups = calloc(a->size, sizeof(*l->groups));
		if (l->groups == NULL) {
			r = -ENOMEM;
			goto fail;
		}
		for (i = 0; i < a->size; i++) {
			l->count++;
			r = cl_group_parse(m, &a->ptr[i], &l->groups[i]);
			if (r < 0)
				goto fail;
		}
	}
	*(struct logd_group_list **)arg = l;
	return 0;
fail:
	logd_group_list_free(l);
	return r;
}

int
logd_client_groups(struct logd_client *c, struct logd_group_list **out)
{
	struct logd_group_list *l = NULL;
	msgpack_packer *pk;
	int r;

	if ((r = cl_req_begin(c, LOGD_API_LIST_GROUPS, &pk)) < 0)
		return r;
	msgpack_pack_map(pk, 0);
	r = cl_call(c, cl_groups_parse, &l, 0);
	if (r < 0)
		return r;
	*out = l;
	return 0;
}

struct cl_describe {
	const char *group;
	struct logd_group *g;
};

static int
cl_describe_parse(struct logd_client *c, struct logd_msg *m,
    struct cl_frame *f, void *arg)
{
	struct cl_describe *d = arg;
	const msgpack_object_array *a = NULL;
	struct logd_group *g;
	uint32_t i;
	int r;

	if ((r = logd_proto_array_opt(m, NULL, "groups", &a)) < 0)
		return r;
	for (i = 0; a != NULL && i < a->size; i++) {
		g = calloc(1, sizeof(*g));
		if (g == NULL)
			return -ENOMEM;
		r = cl_group_parse(m, &a->ptr[i], g);
		if (r == 0 && strcmp(g->name, d->group) == 0) {
			d->g = g;
			return 0;
		}
		logd_group_free(g);
		if (r < 0)
			return r;
	}
	return cl_seterr(c, LOGD_ENOGROUP, "group %s has no members and no "
	    "committed offsets", d->group);
}

int
logd_client_group_describe(struct logd_client *c, const char *group,
    struct logd_group **out)
{
	struct cl_describe d = { group, NULL };
	msgpack_packer *pk;
	int r;

	if ((r = cl_need(c, "group", group)) < 0 ||
	    (r = cl_req_begin(c, LOGD_API_LIST_GROUPS, &pk)) < 0)
		return r;
	msgpack_pack_map(pk, 1);
	logd_pack_kv_str(pk, "group", group);
	r = cl_call(c, cl_describe_parse, &d, 0);
	if (r < 0)
		return r;
	*out = d.g;
	return 0;
}

int
logd_client_group_delete(struct logd_client *c, const char *group)
{
	msgpack_packer *pk;
	int r;

	if ((r = cl_need(c, "group", group)) < 0 ||
	    (r = cl_req_begin(c, LOGD_API_DELETE_GROUP, &pk)) < 0)
		return r;
	msgpack_pack_map(pk, 1);
	logd_pack_kv_str(pk, "group", group);
	return cl_call(c, NULL, NULL, 0);
}
