/*
 * check_diskfull.c - logd on a full file system.
 *
 * The datadir is put on a real small file system: the test (in its own
 * mount namespace, so nothing leaks out of it) mounts a 6 MiB tmpfs
 * over the datadir of a testlogd, which then creates its datadir there.
 * Mounting needs root (CAP_SYS_ADMIN); without it the suite is skipped
 * (exit 77) and says so.  tmpfs is a fair stand-in for a disk here:
 * posix_fallocate() of a new segment fails with ENOSPC exactly as on
 * ext4, which is where logd meets a full disk (appends go into space
 * preallocated at the roll).
 *
 * Producing acks=all until the disk is full must end with a produce
 * refused with -ENOSPC and a message, never a broken connection or a
 * dead broker; everything acknowledged before is read back intact; the
 * broker keeps serving reads and metadata while full; once space comes
 * back (the tmpfs is remounted larger, as an admin would grow the disk)
 * produces succeed again at the next offset, with no gap and no offset
 * used twice; and after a clean restart everything is still there.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* unshare(2) */
#endif
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "logd.h"
#include "testlogd.h"

#define TOPIC "full"
#define VALUE_LEN 1000
#define RECORDS 16                /* per batch: ~16 KiB batches */

static struct testlogd t;
static int mounted;

/* Our own mount namespace; 0, or -1 when mounting is not allowed. */
static int private_mounts(void)
{
	if (unshare(CLONE_NEWNS) < 0)
		return -1;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	return 0;
}

static void setup(void)
{
	ck_assert_int_eq(testlogd_start(&t, NULL), 0);
	ck_assert_int_eq(testlogd_term(&t), 0);
	/* A fresh, small file system where the datadir was. */
	ck_assert_int_eq(mount("tmpfs", t.datadir, "tmpfs", 0,
	    "size=6m,mode=0700"), 0);
	mounted = 1;
	ck_assert_int_eq(testlogd_restart(&t), 0);
}

static void teardown(void)
{
	if (t.pid)
		testlogd_kill9(&t);
	if (mounted)
		umount2(t.datadir, MNT_DETACH);
	mounted = 0;
	testlogd_stop(&t);
}

/* A batch of RECORDS records whose values carry id and the record's
 * index, so every byte read back can be checked. */
static void make_batch(struct logd_batch_builder *b, uint32_t id,
    const uint8_t **p, size_t *len)
{
	uint8_t value[VALUE_LEN];
	int i;

	logd_batch_builder_reset(b);
	for (i = 0; i < RECORDS; i++) {
		memset(value, (int)(id * 31 + (uint32_t)i) & 0xff,
		    sizeof(value));
		memcpy(value, &id, sizeof(id));
		value[4] = (uint8_t)i;
		ck_assert_int_eq(logd_batch_builder_add(b, 1764000000000LL,
		    NULL, 0, value, sizeof(value), NULL, 0), 0);
	}
	ck_assert_int_eq(logd_batch_builder_finish(b, p, len), 0);
}

/*
 * Reads the partition from 0 and checks that batch number k (k <
 * nbatch) sits at offset k * RECORDS with the values make_batch(ids[k])
 * gives.  Returns the end offset.
 */
static int64_t read_check(struct logd_client *c, const uint32_t *ids,
    size_t nbatch)
{
	int64_t off = 0, end = -1;

	for (;;) {
		struct logd_fetch *f = NULL;
		struct logd_batch_info info;
		struct logd_batch_iter it;
		struct logd_record r;
		size_t pos = 0;

		ck_assert_int_eq(logd_client_fetch(c, TOPIC, 0, off, 1 << 20,
		    0, &f), 0);
		end = f->end_offset;
		if (f->len == 0) {
			logd_fetch_free(f);
			break;
		}
		while (pos < f->len) {
			ck_assert_int_eq(logd_batch_check(f->records + pos,
			    f->len - pos, &info), 0);
			ck_assert_int_eq(logd_batch_iter_init(&it,
			    f->records + pos, info.size), 0);
			while (logd_batch_iter_next(&it, &r) == 1) {
				size_t k = (size_t)(r.offset / RECORDS);
				const uint8_t *v = r.value;
				uint32_t id;

				if (r.offset < off)
					continue;
				ck_assert_int_eq(r.offset, off);
				ck_assert_uint_eq(r.value_len, VALUE_LEN);
				memcpy(&id, v, sizeof(id));
				if (k < nbatch) {
					ck_assert_uint_eq(id, ids[k]);
					ck_assert_uint_eq(v[4],
					    (unsigned)(r.offset % RECORDS));
					ck_assert_uint_eq(v[VALUE_LEN - 1],
					    (id * 31 + v[4]) & 0xff);
				}
				off++;
			}
			pos += info.size;
		}
		logd_fetch_free(f);
		if (off >= end)
			break;
	}
	ck_assert_int_eq(off, end);
	return end;
}

START_TEST(test_enospc)
{
	static const struct logd_kv cfg[] = {
		{ "segment.bytes", "1048576" },
		{ "segment.index.bytes", "4096" },
		{ "retention.ms", "-1" },
	};
	struct logd_batch_builder *b;
	struct logd_client *c = NULL;
	struct logd_metadata *md = NULL;
	uint32_t ids[1024];
	size_t n = 0, i;
	const uint8_t *batch;
	size_t len;
	int64_t base, end;
	int rc = 0;

	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	ck_assert_int_eq(logd_client_open(t.addr, NULL, &c), 0);
	ck_assert_int_eq(logd_client_topic_create(c, TOPIC, 1, cfg, 3), 0);

	/* Fill the disk: ~16 KiB acks=all produces until one is refused. */
	for (n = 0; n < 1024; n++) {
		ids[n] = 1000 + (uint32_t)n;
		make_batch(b, ids[n], &batch, &len);
		rc = logd_client_produce(c, TOPIC, 0, NULL, 0, LOGD_ACKS_ALL,
		    batch, len, NULL, &base);
		if (rc != 0)
			break;
		ck_assert_int_eq(base, (int64_t)n * RECORDS);
	}
	/* 6 MiB cannot hold 16 MiB: the disk filled up first. */
	ck_assert_int_lt(n, 1024);
	ck_assert_int_gt(n, 0);
	ck_assert_msg(rc == -ENOSPC, "produce on a full disk: %s (%s)",
	    logd_strerror(rc), logd_client_errmsg(c));
	ck_assert_str_ne(logd_client_errmsg(c), "");
	printf("disk full after %zu batches (%zu KiB acknowledged): %s\n",
	    n, n * len / 1024, logd_client_errmsg(c));

	/* Still full: refused again, the same way, on the same connection. */
	make_batch(b, 1, &batch, &len);
	rc = logd_client_produce(c, TOPIC, 0, NULL, 0, LOGD_ACKS_ALL, batch,
	    len, NULL, &base);
	ck_assert_int_eq(rc, -ENOSPC);

	/* Reads and metadata go on; every acknowledged record is there. */
	end = read_check(c, ids, n);
	ck_assert_int_eq(end, (int64_t)n * RECORDS);
	ck_assert_int_eq(logd_client_metadata(c, NULL, 0, &md), 0);
	ck_assert_uint_eq(md->topic_count, 1);
	ck_assert_int_eq(md->topics[0].partitions[0].end_offset, end);
	logd_metadata_free(md);

	/* Space returns: writes are accepted again, at the next offset. */
	ck_assert_int_eq(mount("tmpfs", t.datadir, "tmpfs", MS_REMOUNT,
	    "size=64m,mode=0700"), 0);
	for (i = 0; i < 8; i++, n++) {
		ids[n] = 5000 + (uint32_t)i;
		make_batch(b, ids[n], &batch, &len);
		rc = logd_client_produce(c, TOPIC, 0, NULL, 0, LOGD_ACKS_ALL,
		    batch, len, NULL, &base);
		ck_assert_msg(rc == 0, "produce after space returned: %s (%s)",
		    logd_strerror(rc), logd_client_errmsg(c));
		ck_assert_int_eq(base, (int64_t)n * RECORDS);
	}
	ck_assert_int_eq(read_check(c, ids, n), (int64_t)n * RECORDS);
	logd_client_close(c);

	/* A clean restart keeps all of it. */
	ck_assert_int_eq(testlogd_term(&t), 0);
	ck_assert_int_eq(testlogd_restart(&t), 0);
	ck_assert_int_eq(logd_client_open(t.addr, NULL, &c), 0);
	ck_assert_int_eq(read_check(c, ids, n), (int64_t)n * RECORDS);
	logd_client_close(c);
	logd_batch_builder_free(b);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	if (private_mounts() < 0) {
		printf("check_diskfull: SKIP: cannot mount a small file system "
		    "here (%s); needs root\n", strerror(errno));
		return 77;
	}
	s = suite_create("diskfull");
	tc = tcase_create("enospc");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_enospc);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
