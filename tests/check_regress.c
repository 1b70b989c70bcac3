/*
 * check_regress.c - regression tests for bugs the fuzz targets and the
 * crash torture found (tests/fuzz, tests/torture.c).  Each test names
 * the input that found the bug; the same input stays in the target's
 * corpus, which `make check` replays (fuzz/replay_*).  A bug that logd
 * itself had is also shown against a running logd (testlogd.h).
 * Bugs found otherwise are here too, with how they were found.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logd.h"
#include "proto.h"
#include "testlogd.h"

static char tmp[256];
static char part[300];

static void setup(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmp, sizeof(tmp), "%s/check_regress.XXXXXX",
	    t && *t ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(part, sizeof(part), "%s/t-0", tmp);
}

static void rm_tree(const char *dir)
{
	char path[600];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static void teardown(void)
{
	rm_tree(tmp);
}

static void put(const char *name, const void *p, size_t n)
{
	char path[600];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", part, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
	close(fd);
}

/*
 * fuzz_recovery, empty input (crash-da39a3ee...): a partition directory
 * with no .log file made log_list() call qsort(NULL, 0, ...), undefined
 * behaviour that UBSan stops on.  Every new partition opens this way.
 */
START_TEST(test_open_empty_dir)
{
	struct logd_log *log = NULL;
	struct logd_recovery rec;

	ck_assert_int_eq(mkdir(part, 0755), 0);
	ck_assert_int_eq(logd_log_open(part, NULL, 0, &log, &rec), 0);
	ck_assert_int_eq(rec.start_offset, 0);
	ck_assert_int_eq(rec.end_offset, 0);
	ck_assert_uint_eq(rec.truncated_bytes, 0);
	logd_log_close(log);
}
END_TEST

/* The same path with stray index files and no .log: they are removed. */
START_TEST(test_open_only_indexes)
{
	static const uint8_t junk[16] = { 0, 0, 0, 1, 0, 0, 0, 9 };
	struct logd_log *log = NULL;
	char path[600];

	ck_assert_int_eq(mkdir(part, 0755), 0);
	put("00000000000000000500.idx", junk, sizeof(junk));
	put("00000000000000000500.tix", junk, sizeof(junk));
	ck_assert_int_eq(logd_log_open(part, NULL, 0, &log, NULL), 0);
	ck_assert_int_eq(logd_log_end_offset(log), 0);
	logd_log_close(log);
	snprintf(path, sizeof(path), "%s/00000000000000000500.idx", part);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/*
 * fuzz_frame (crash-ab2105bc..., corpus/frame/regress-empty-key): msgpack-c
 * gives an empty str or bin a NULL pointer.  The harness's memcpy of an
 * empty key was undefined behaviour, and so was logd's: h_admin.c copies
 * config keys and values and METADATA's topic names with memcpy, which
 * UBSan stops on for CREATE {config: {"": ...}} or METADATA {topics:
 * [""]}; and PRODUCE's key getter could not tell an empty key (Kafka
 * hashes it) from none (round-robin).  logd_proto_decode() now points
 * every empty slice into the frame.
 */
static const uint8_t empty_key_frame[] = {
	0x00, 0x00, 0x00, 0x16, 0x93, 0x00, 0x01, 0x89, 0x22, 0x2c, 0x74,
	0x72, 0x61, 0x63, 0x65, 0x01, 0x1a, 0x00, 0x3c, 0x06, 0x00, 0x00,
	0x6d, 0x01, 0xa0, 0x16
};

START_TEST(test_decode_empty_slices)
{
	/* [5, 1, {"": "", "key": bin "", "topic": "t"}] */
	static const uint8_t msg[] = {
		0x93, 0x05, 0x01, 0x83, 0xa0, 0xa0, 0xa3, 'k', 'e', 'y',
		0xc4, 0x00, 0xa5, 't', 'o', 'p', 'i', 'c', 0xa1, 't'
	};
	const msgpack_object_kv *kv;
	struct logd_msg m;
	msgpack_zone zone;
	const void *bin;
	const char *str;
	size_t len = 99, flen = 0;

	ck_assert(msgpack_zone_init(&zone, 1024));
	ck_assert_int_eq(logd_proto_decode(msg, sizeof(msg), &zone, &m), 0);
	kv = &m.body->via.map.ptr[0];
	ck_assert_uint_eq(kv->key.via.str.size, 0);
	ck_assert_ptr_nonnull(kv->key.via.str.ptr);
	ck_assert_ptr_nonnull(kv->val.via.str.ptr);
	/* present and empty: a pointer, length 0; absent: NULL */
	ck_assert_int_eq(logd_proto_bin_opt(&m, NULL, "key", &bin, &len), 0);
	ck_assert_ptr_nonnull(bin);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(logd_proto_bin_opt(&m, NULL, "nokey", &bin, &len),
	    0);
	ck_assert_ptr_null(bin);
	ck_assert_int_eq(logd_proto_str(&m, NULL, "", &str, &len), 0);
	ck_assert_ptr_nonnull(str);
	ck_assert_uint_eq(len, 0);
	/* The input the fuzzer found: its first frame decodes, keys set. */
	ck_assert_int_eq(logd_proto_frame(empty_key_frame,
	    sizeof(empty_key_frame), 1 << 20, &flen), 0);
	ck_assert_int_eq(logd_proto_decode(empty_key_frame + 4, flen - 4,
	    &zone, &m), 0);
	for (len = 0; len < m.body->via.map.size; len++)
		ck_assert_ptr_nonnull(m.body->via.map.ptr[len].key.via.str.ptr);
	msgpack_zone_destroy(&zone);
}
END_TEST

/* One request on fd; the reply decoded into m (zone), its error code. */
static int64_t call(int fd, struct logd_pbuf *b, msgpack_zone *zone,
    struct logd_msg *m, uint8_t *buf, size_t size)
{
	size_t have = 0, flen = 0;
	int64_t err = 1;
	ssize_t n;

	ck_assert_int_eq(logd_proto_end(b, 0), 0);
	ck_assert_int_eq(write(fd, b->data, b->len), (ssize_t)b->len);
	logd_pbuf_reset(b);
	while (logd_proto_frame(buf, have, size, &flen) == -EAGAIN) {
		n = read(fd, buf + have, size - have);
		ck_assert_msg(n > 0, "logd closed the connection (n %zd)", n);
		have += (size_t)n;
	}
	ck_assert_uint_eq(have, flen);
	ck_assert_int_eq(logd_proto_decode(buf + 4, flen - 4, zone, m), 0);
	ck_assert_int_eq(logd_proto_int(m, NULL, "error", &err), 0);
	return err;
}

/* The same bug against a running logd: each request gets its answer,
 * logd lives on and exits cleanly (a sanitizer report would not). */
START_TEST(test_daemon_empty_strings)
{
	struct testlogd t;
	struct logd_batch_builder *bb;
	struct logd_pbuf b;
	struct logd_msg m;
	msgpack_zone zone;
	msgpack_packer *pk = &b.pk;
	static uint8_t buf[1 << 16];
	const msgpack_object_array *a;
	const uint8_t *batch;
	size_t len;
	int64_t v;
	int32_t want = logd_partition_for_key("", 0, 4);
	int fd, i;

	ck_assert_int_eq(testlogd_start(&t, NULL), 0);
	ck_assert(msgpack_zone_init(&zone, 4096));
	logd_pbuf_init(&b);
	fd = testlogd_connect(&t);
	ck_assert_int_ge(fd, 0);

	/* METADATA {topics: [""]}: the topic is reported unknown. */
	logd_proto_begin(&b, LOGD_API_METADATA, 1);
	msgpack_pack_map(pk, 1);
	logd_pack_str(pk, "topics");
	msgpack_pack_array(pk, 1);
	logd_pack_str(pk, "");
	ck_assert_int_eq(call(fd, &b, &zone, &m, buf, sizeof(buf)), 0);
	ck_assert_int_eq(logd_proto_array(&m, NULL, "topics", &a), 0);
	ck_assert_uint_eq(a->size, 1);
	ck_assert_int_eq(logd_proto_int(&m, &a->ptr[0], "error", &v), 0);
	ck_assert_int_ne(v, 0);

	/* CREATE with an empty config key, then an empty value: refused. */
	for (i = 0; i < 2; i++) {
		logd_proto_begin(&b, LOGD_API_CREATE, 2);
		msgpack_pack_map(pk, 3);
		logd_pack_kv_str(pk, "topic", "e");
		logd_pack_kv_int(pk, "partitions", 4);
		logd_pack_str(pk, "config");
		msgpack_pack_map(pk, 1);
		logd_pack_kv_str(pk, i ? "retention.ms" : "", "");
		ck_assert_int_eq(call(fd, &b, &zone, &m, buf, sizeof(buf)),
		    LOGD_EBADCONFIG);
	}
	logd_proto_begin(&b, LOGD_API_CREATE, 3);
	msgpack_pack_map(pk, 2);
	logd_pack_kv_str(pk, "topic", "e");
	logd_pack_kv_int(pk, "partitions", 4);
	ck_assert_int_eq(call(fd, &b, &zone, &m, buf, sizeof(buf)), 0);

	/* An empty key is a key: Kafka's partitioner, every time. */
	ck_assert_int_eq(logd_batch_builder_new(&bb), 0);
	ck_assert_int_eq(logd_batch_builder_add(bb, 1764000000000LL, "", 0,
	    "v", 1, NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(bb, &batch, &len), 0);
	for (i = 0; i < 3; i++) {
		logd_proto_begin(&b, LOGD_API_PRODUCE, 10 + (uint32_t)i);
		msgpack_pack_map(pk, 4);
		logd_pack_kv_str(pk, "topic", "e");
		logd_pack_kv_int(pk, "acks", 1);
		logd_pack_kv_bin(pk, "key", "", 0);
		logd_pack_kv_bin(pk, "records", batch, len);
		ck_assert_int_eq(call(fd, &b, &zone, &m, buf, sizeof(buf)), 0);
		ck_assert_int_eq(logd_proto_int(&m, NULL, "partition", &v), 0);
		ck_assert_int_eq(v, want);
	}
	logd_batch_builder_free(bb);
	close(fd);
	logd_pbuf_free(&b);
	msgpack_zone_destroy(&zone);
	ck_assert_int_eq(testlogd_term(&t), 0);
	testlogd_stop(&t);
}
END_TEST

/*
 * fuzz_batch, corpus/batch/regress-offset-wrap: a batch whose baseOffset
 * sits just below INT64_MAX.  The library wraps offsets as a Java long
 * (unsigned arithmetic, no undefined behaviour); the harness counted
 * them with a signed ++ and UBSan stopped it.  This pins the library
 * side: check, header and iterator agree on the wrapped offsets, and
 * stay clean under -fsanitize=undefined.
 */
START_TEST(test_batch_offset_wrap)
{
	struct logd_batch_builder *bb;
	struct logd_batch_info info, hdr;
	struct logd_batch_iter it;
	struct logd_record rec;
	const uint8_t *batch;
	uint8_t *copy;
	size_t len;
	int64_t want[3] = { INT64_MAX - 1, INT64_MAX, INT64_MIN };
	int i;

	ck_assert_int_eq(logd_batch_builder_new(&bb), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(logd_batch_builder_add(bb, 1764000000000LL,
		    NULL, 0, "v", 1, NULL, 0), 0);
	ck_assert_int_eq(logd_batch_builder_finish(bb, &batch, &len), 0);
	copy = malloc(len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, batch, len);
	logd_batch_builder_free(bb);
	/* baseOffset is outside the CRC: the batch stays valid */
	logd_batch_set_base_offset(copy, INT64_MAX - 1);
	ck_assert_int_eq(logd_batch_check(copy, len, &info), 0);
	ck_assert_int_eq(info.base_offset, INT64_MAX - 1);
	ck_assert_int_eq(info.last_offset, INT64_MIN);
	ck_assert_int_eq(info.record_count, 3);
	ck_assert_int_eq(logd_batch_header(copy, len, &hdr), 0);
	ck_assert_int_eq(hdr.last_offset, info.last_offset);
	ck_assert_int_eq(logd_batch_iter_init(&it, copy, len), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(logd_batch_iter_next(&it, &rec), 1);
		ck_assert_int_eq(rec.offset, want[i]);
		ck_assert_uint_eq(rec.value_len, 1);
		ck_assert_int_eq(memcmp(rec.value, "v", 1), 0);
	}
	ck_assert_int_eq(logd_batch_iter_next(&it, &rec), 0);
	free(copy);
}
END_TEST

/*
 * Found by scripts/bench-restart.sh with 100 topics: a METADATA of every
 * topic on a broker with more than 64 freed name copies it had never
 * made (a NULL array), and logd died with SIGSEGV (`logctl topics`).
 */
START_TEST(test_metadata_many_topics)
{
	const struct logd_kv small[2] = { { "segment.bytes", "65536" },
	    { "segment.index.bytes", "4096" } };
	struct logd_client *c = NULL;
	struct logd_metadata *md = NULL;
	struct testlogd t;
	char name[16];
	int i;

	ck_assert_int_eq(testlogd_start(&t, ""), 0);
	ck_assert_int_eq(logd_client_open(t.addr, NULL, &c), 0);
	for (i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "many%02d", i);
		ck_assert_int_eq(logd_client_topic_create(c, name, 1, small, 2),
		    0);
	}
	ck_assert_int_eq(logd_client_metadata(c, NULL, 0, &md), 0);
	ck_assert_uint_eq(md->topic_count, 70);
	logd_metadata_free(md);
	md = NULL;
	ck_assert_int_eq(logd_client_metadata(c, NULL, 0, &md), 0);
	logd_metadata_free(md);
	logd_client_close(c);
	ck_assert_int_eq(testlogd_term(&t), 0);
	testlogd_stop(&t);
}
END_TEST

static Suite *regress_suite(void)
{
	Suite *s = suite_create("regress");
	TCase *tc;

	tc = tcase_create("log_open_no_segments");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_open_empty_dir);
	tcase_add_test(tc, test_open_only_indexes);
	suite_add_tcase(s, tc);

	tc = tcase_create("batch_offset_wrap");
	tcase_add_test(tc, test_batch_offset_wrap);
	suite_add_tcase(s, tc);

	tc = tcase_create("empty_str_and_bin");
	tcase_add_test(tc, test_decode_empty_slices);
	tcase_add_test(tc, test_daemon_empty_strings);
	suite_add_tcase(s, tc);

	tc = tcase_create("metadata_many_topics");
	tcase_add_test(tc, test_metadata_many_topics);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(regress_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
