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
 *
 * A failed sync (test_failed_sync) needs a disk that fails under the
 * page cache, which tmpfs never does.  The datadir is an ext4 file system
 * on a loop device whose backing file is sparse and lives on a 6 MiB
 * tmpfs: ext4 has room (the segment is preallocated), so writes land in
 * the page cache, but writing them back finds the tmpfs full and the
 * kernel fails the writeback: fdatasync() returns an error exactly as a
 * failing disk's would.  The acks=all produce whose sync failed must get
 * an error, never a success; the partition turns read-only, says so
 * (METADATA, the log) and refuses appends; reads go on.  After logd is
 * killed, the disk grown and logd started again, every acknowledged
 * record is there and writes resume.  Without loop devices or mkfs.ext4
 * that test says so and passes without running.
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
#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
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

/* ---- failed sync ---- */

static char backing[400], image[420];
static int loop_fd = -1;
static int no_loop;               /* the environment cannot do it */
static int backing_mounted, ext4_mounted;

/* Attaches image to a free loop device (auto-cleared) and mounts its
 * ext4 on the datadir.  0, or -1 when this machine cannot. */
static int mount_image(void)
{
	struct loop_info64 li;
	char dev[64];
	int ctl, n, img;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -1;
	n = ioctl(ctl, LOOP_CTL_GET_FREE);
	close(ctl);
	if (n < 0)
		return -1;
	snprintf(dev, sizeof(dev), "/dev/loop%d", n);
	loop_fd = open(dev, O_RDWR | O_CLOEXEC);
	if (loop_fd < 0)
		return -1;
	img = open(image, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(img, 0);
	if (ioctl(loop_fd, LOOP_SET_FD, img) < 0) {
		close(img);
		close(loop_fd);
		loop_fd = -1;
		return -1;
	}
	close(img);
	memset(&li, 0, sizeof(li));
	li.lo_flags = LO_FLAGS_AUTOCLEAR;
	ck_assert_int_eq(ioctl(loop_fd, LOOP_SET_STATUS64, &li), 0);
	/* noinit_itable: no background zeroing eats the small disk. */
	if (mount(dev, t.datadir, "ext4", 0, "noinit_itable") < 0) {
		close(loop_fd);
		loop_fd = -1;
		return -1;
	}
	ext4_mounted = 1;
	ck_assert_int_eq(chmod(t.datadir, 0700), 0);
	return 0;
}

static void unmount_image(void)
{
	if (ext4_mounted && umount2(t.datadir, 0) < 0)
		umount2(t.datadir, MNT_DETACH);
	ext4_mounted = 0;
	if (loop_fd >= 0)
		close(loop_fd);
	loop_fd = -1;
}

static void setup_sync(void)
{
	char cmd[1024];
	int fd;

	no_loop = 0;
	ck_assert_int_eq(testlogd_start(&t, NULL), 0);
	ck_assert_int_eq(testlogd_term(&t), 0);
	snprintf(backing, sizeof(backing), "%s/backing", t.dir);
	snprintf(image, sizeof(image), "%s/ext4.img", backing);
	ck_assert_int_eq(mkdir(backing, 0700), 0);
	ck_assert_int_eq(mount("tmpfs", backing, "tmpfs", 0,
	    "size=6m,mode=0700"), 0);
	backing_mounted = 1;
	fd = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 64 << 20), 0);       /* sparse */
	close(fd);
	/* With its journal, as ext4 is used: a write that fails leaves the
	 * file system as of its last commit, not torn. */
	snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F -J size=4 -E "
	    "lazy_itable_init=1,lazy_journal_init=1,nodiscard '%s' "
	    ">/dev/null 2>&1", image);
	if (system(cmd) != 0 || mount_image() < 0) {
		no_loop = 1;
		return;
	}
	ck_assert_int_eq(testlogd_restart(&t), 0);
}

static void teardown_sync(void)
{
	if (t.pid)
		testlogd_kill9(&t);
	unmount_image();
	if (backing_mounted)
		umount2(backing, MNT_DETACH);
	backing_mounted = 0;
	testlogd_stop(&t);
}

/* The whole of logd's log file, NUL-terminated (static). */
static const char *daemon_log(void)
{
	static char buf[1 << 16];
	FILE *f = fopen(t.logfile, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

START_TEST(test_failed_sync)
{
	static const struct logd_kv cfg[] = {
		{ "segment.bytes", "33554432" },
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

	if (no_loop) {
		printf("check_diskfull: failed_sync not run: no loop device "
		    "or mkfs.ext4 here\n");
		return;
	}
	ck_assert_int_eq(logd_batch_builder_new(&b), 0);
	ck_assert_int_eq(logd_client_open(t.addr, NULL, &c), 0);
	ck_assert_int_eq(logd_client_topic_create(c, TOPIC, 1, cfg, 2), 0);

	/* acks=all until a sync fails: ~16 MiB cannot go back to 6 MiB. */
	for (n = 0; n < 1024; n++) {
		ids[n] = 1000 + (uint32_t)n;
		make_batch(b, ids[n], &batch, &len);
		rc = logd_client_produce(c, TOPIC, 0, NULL, 0, LOGD_ACKS_ALL,
		    batch, len, NULL, &base);
		if (rc != 0)
			break;
		ck_assert_int_eq(base, (int64_t)n * RECORDS);
	}
	ck_assert_int_lt(n, 1024);
	ck_assert_int_gt(n, 0);
	/* Never a success: the request covered by the failed sync fails. */
	ck_assert_msg(rc == LOGD_EREADONLY, "produce when the sync failed: "
	    "%s (%s)", logd_strerror(rc), logd_client_errmsg(c));
	ck_assert_ptr_nonnull(strstr(logd_client_errmsg(c), "sync failed"));
	printf("sync failed after %zu batches: %s\n", n,
	    logd_client_errmsg(c));

	/* Read-only from now on, and it says so. */
	make_batch(b, 1, &batch, &len);
	rc = logd_client_produce(c, TOPIC, 0, NULL, 0, 1, batch,
	    len, NULL, &base);
	ck_assert_int_eq(rc, LOGD_EREADONLY);
	ck_assert_ptr_nonnull(strstr(logd_client_errmsg(c), "read-only"));
	ck_assert_ptr_nonnull(strstr(daemon_log(), "read-only"));
	ck_assert_int_eq(logd_client_metadata(c, NULL, 0, &md), 0);
	ck_assert_uint_eq(md->topic_count, 1);
	ck_assert_int_eq(md->topics[0].partitions[0].error, LOGD_EREADONLY);
	logd_metadata_free(md);

	/* Reads go on: everything acknowledged is served. */
	end = read_check(c, ids, n);
	ck_assert_int_ge(end, (int64_t)n * RECORDS);
	logd_client_close(c);

	/* Power off, a bigger disk, power on: acknowledged data is there. */
	ck_assert_int_eq(testlogd_kill9(&t), 0);
	unmount_image();
	ck_assert_int_eq(mount("tmpfs", backing, "tmpfs", MS_REMOUNT,
	    "size=96m,mode=0700"), 0);
	ck_assert_int_eq(mount_image(), 0);
	ck_assert_int_eq(testlogd_restart(&t), 0);
	ck_assert_int_eq(logd_client_open(t.addr, NULL, &c), 0);
	end = read_check(c, ids, n);
	ck_assert_int_ge(end, (int64_t)n * RECORDS);
	ck_assert_int_eq(end % RECORDS, 0);
	/* Writable again, right after what survived. */
	for (i = 0; i < 4; i++) {
		make_batch(b, 7000 + (uint32_t)i, &batch, &len);
		rc = logd_client_produce(c, TOPIC, 0, NULL, 0, LOGD_ACKS_ALL,
		    batch, len, NULL, &base);
		ck_assert_msg(rc == 0, "produce after restart: %s (%s)",
		    logd_strerror(rc), logd_client_errmsg(c));
		ck_assert_int_eq(base, end + (int64_t)i * RECORDS);
	}
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
	tc = tcase_create("failed_sync");
	tcase_add_checked_fixture(tc, setup_sync, teardown_sync);
	tcase_add_test(tc, test_failed_sync);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
