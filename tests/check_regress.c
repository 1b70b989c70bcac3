/*
 * check_regress.c - regression tests for bugs the fuzz targets and the
 * crash torture found (tests/fuzz, tests/torture.c).  Each test names
 * the input that found the bug; the same input stays in the target's
 * corpus, which `make check` replays (fuzz/replay_*).
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

static Suite *regress_suite(void)
{
	Suite *s = suite_create("regress");
	TCase *tc;

	tc = tcase_create("log_open_no_segments");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_open_empty_dir);
	tcase_add_test(tc, test_open_only_indexes);
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
