/*
 * replay.c - runs a fuzz target without libFuzzer.
 *
 * Linked with one fuzz_<name>.c (FUZZ_NAME is "<name>"), it feeds every
 * file of the target's seed corpus, $LOGD_SRCDIR/tests/fuzz/corpus/<name>
 * (or the files and directories named on the command line), to
 * LLVMFuzzerTestOneInput(), in name order.  A broken invariant aborts, as
 * it would under libFuzzer; a clean run prints the count and exits 0.
 * `make check` runs these, so gcc builds replay the corpora too, and a
 * crash input saved into the corpus stays a regression test.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifndef FUZZ_NAME
#error "FUZZ_NAME must name the target"
#endif

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
			if (buf == NULL) {
				fclose(f);
				return -1;
			}
		}
		n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	/* An exact-size block, so a read past the end is caught. */
	if (len > 0) {
		uint8_t *exact = malloc(len);

		if (exact == NULL) {
			free(buf);
			return -1;
		}
		memcpy(exact, buf, len);
		free(buf);
		buf = exact;
	}
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Runs path (a file, or every regular file of a directory). */
static int run_path(const char *path, unsigned *count)
{
	struct dirent **list;
	struct stat st;
	char sub[4096];
	int i, n, rc = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (run_file(path) < 0)
			return -1;
		(*count)++;
		return 0;
	}
	n = scandir(path, &list, NULL, name_cmp);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		snprintf(sub, sizeof(sub), "%s/%s", path, list[i]->d_name);
		if (list[i]->d_name[0] != '.' && stat(sub, &st) == 0 &&
		    S_ISREG(st.st_mode)) {
			if (run_file(sub) < 0)
				rc = -1;
			else
				(*count)++;
		}
		free(list[i]);
	}
	free(list);
	return rc;
}

int main(int argc, char **argv)
{
	const char *src = getenv("LOGD_SRCDIR");
	char dir[4096];
	unsigned count = 0;
	int i, rc = 0;

	if (argc > 1) {
		for (i = 1; i < argc; i++)
			if (run_path(argv[i], &count) < 0)
				rc = 1;
	} else {
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s",
		    src ? src : ".", FUZZ_NAME);
		if (run_path(dir, &count) < 0)
			rc = 1;
		if (count == 0) {
			fprintf(stderr, "%s: no corpus files\n", dir);
			rc = 1;
		}
	}
	printf("fuzz_%s: replayed %u inputs%s\n", FUZZ_NAME, count,
	    rc ? ", some unreadable" : "");
	return rc;
}
