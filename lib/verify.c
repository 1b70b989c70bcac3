/*
 * verify.c - the offline checks of a segment file behind logctl verify
 * and dump: every batch's bounds and CRC, the indexes against the
 * batches, a walk over the batch headers.  They map the files read-only
 * and change nothing.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segment.h"


/* Maps path read-only; *base from its name.  len 0 gives map NULL. */
static int
seg_map_path(const char *path, int64_t *base, uint8_t **map, size_t *len)
{
	const char *name = strrchr(path, '/');
	struct stat st;
	char *end;
	int fd, rc = 0;
	long long b;

	name = name != NULL ? name + 1 : path;
	errno = 0;
	b = strtoll(name, &end, 10);
	if (errno != 0 || end != name + LOGD_SEGMENT_NAME_LEN ||
	    strcmp(end, ".log") != 0 || b < 0)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*map = seg_map(fd, (size_t)st.st_size, PROT_READ, &rc);
	close(fd);
	if (rc < 0)
		return rc;
	*base = b;
	*len = (size_t)st.st_size;
	return 0;
}

/* The cleaner-point beside the segment at path (0 when there is none). */
static int64_t
seg_clean_point(const char *path)
{
	const char *slash = strrchr(path, '/');
	char p[4096], buf[32];
	long long v = 0;
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "%.*s%s", slash ? (int)(slash - path + 1) : 0,
	    path, "cleaner-point");
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%lld", &v) != 1 || v < 0)
		return 0;
	return v;
}

/* Reads a sibling index file (ext replaces "log") whole into memory. */
static int
seg_read_sibling(const char *path, const char *ext, uint8_t **buf,
    size_t *len)
{
	size_t plen = strlen(path), got = 0;
	struct stat st;
	char *ipath;
	uint8_t *b;
	int fd, rc = 0;

	ipath = strdup(path);
	if (ipath == NULL)
		return -ENOMEM;
	memcpy(ipath + plen - 3, ext, 3);
	fd = open(ipath, O_RDONLY | O_CLOEXEC);
	free(ipath);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	b = malloc((size_t)st.st_size + 1);
	if (b == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, b + got, (size_t)st.st_size - got);

		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			free(b);
			goto out;
		}
		got += (size_t)r;
	}
	*buf = b;
	*len = got;
out:
	close(fd);
	return rc;
}

/*
 * Checks .idx and .tix against the batches: each offset entry names the
 * start of a batch by its relative base offset, and each time entry's T
 * bounds every record before it.  starts[] holds batch positions, bases[]
 * their base offsets, maxes[] the running max timestamp before each.
 */
static int
seg_verify_indexes(const char *path, int64_t base, size_t nb,
    const size_t *starts, const int64_t *bases, const int64_t *maxes,
    int64_t next)
{
	uint8_t *b = NULL;
	size_t len, i, n, j = 0;
	int rc;

	rc = seg_read_sibling(path, "idx", &b, &len);
	if (rc < 0)
		return rc;
	for (n = 0; n < len / LOGD_IDX_ENTRY; n++) {
		uint32_t rel = logd_be32(b + n * LOGD_IDX_ENTRY);
		uint32_t pos = logd_be32(b + n * LOGD_IDX_ENTRY + 4);

		if (pos == 0 && rel == 0 &&
		    seg_all_zero(b + n * LOGD_IDX_ENTRY,
		    len - n * LOGD_IDX_ENTRY))
			break;
		while (j < nb && starts[j] < pos)
			j++;
		if (j == nb || starts[j] != pos ||
		    bases[j] != base + (int64_t)rel) {
			free(b);
			return LOGD_ECORRUPT;
		}
	}
	free(b);
	rc = seg_read_sibling(path, "tix", &b, &len);
	if (rc < 0)
		return rc;
	j = 0;
	for (i = 0; i < len / LOGD_TIX_ENTRY; i++) {
		int64_t t = (int64_t)logd_be64(b + i * LOGD_TIX_ENTRY);
		int64_t at = base + logd_be32(b + i * LOGD_TIX_ENTRY + 8);

		if (at == base && seg_all_zero(b + i * LOGD_TIX_ENTRY,
		    len - i * LOGD_TIX_ENTRY))
			break;
		if (at <= base || at > next) {
			free(b);
			return LOGD_ECORRUPT;
		}
		/* batches starting below at must all be <= t */
		while (j < nb && bases[j] < at)
			j++;
		if (bases[j] != at || maxes[j] > t) {
			free(b);
			return LOGD_ECORRUPT;
		}
	}
	free(b);
	return 0;
}

int
logd_segment_verify(const char *path, struct logd_segment_report *report)
{
	struct logd_segment_report r;
	struct logd_batch_info info;
	size_t *starts = NULL, cap = 0, nb = 0, pos = 0;
	int64_t *bases = NULL, *maxes = NULL, base, runmax = INT64_MIN, point;
	uint8_t *map = NULL;
	size_t len;
	int rc;

	rc = seg_map_path(path, &base, &map, &len);
	if (rc < 0)
		return rc;
	point = seg_clean_point(path);
	memset(&r, 0, sizeof(r));
	r.base_offset = base;
	r.next_offset = base;
	r.file_bytes = len;
	r.bad_position = -1;
	for (;;) {
		if (nb + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 256;
			void *a = realloc(starts, ncap * sizeof(*starts));
			void *b = a ? realloc(bases, ncap * sizeof(*bases)) :
			    NULL;
			void *c = b ? realloc(maxes, ncap * sizeof(*maxes)) :
			    NULL;

			if (a != NULL)
				starts = a;
			if (b != NULL)
				bases = b;
			if (c == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			maxes = c;
			cap = ncap;
		}
		bases[nb] = r.next_offset;
		maxes[nb] = runmax;
		if (pos >= len)
			break;
		rc = logd_batch_check(map + pos, len - pos, &info);
		/* Offsets follow on; below the clean point the cleaner may
		 * have left gaps. */
		if (rc == 0 && info.base_offset != r.next_offset &&
		    (base >= point || info.base_offset < r.next_offset))
			rc = LOGD_ECORRUPT;
		if (rc != 0 && seg_all_zero(map + pos, len - pos))
			break; /* preallocated tail */
		if (rc != 0) {
			r.bad_position = (int64_t)pos;
			r.error = rc == -EAGAIN ? LOGD_EBADBATCH : rc;
			break;
		}
		bases[nb] = info.base_offset;
		starts[nb++] = pos;
		if (info.max_timestamp > runmax)
			runmax = info.max_timestamp;
		pos += info.size;
		r.batches++;
		r.records += (uint64_t)info.record_count;
		r.next_offset = info.last_offset + 1;
	}
	r.valid_bytes = pos;
	rc = seg_verify_indexes(path, base, nb, starts, bases, maxes,
	    r.next_offset);
	r.index_error = rc == -ENOENT ? 0 : rc;
	rc = 0;
	*report = r;
out:
	free(starts);
	free(bases);
	free(maxes);
	if (map != NULL)
		munmap(map, len);
	return rc;
}

int
logd_segment_walk(const char *path,
    int (*fn)(void *arg, const uint8_t *batch, size_t len, int check,
        const struct logd_batch_info *info), void *arg)
{
	struct logd_batch_info info;
	uint8_t *map = NULL;
	size_t len, pos = 0;
	int64_t base;
	int rc;

	rc = seg_map_path(path, &base, &map, &len);
	if (rc < 0)
		return rc;
	while (pos < len) {
		int check = logd_batch_check(map + pos, len - pos, &info);

		if (check != 0 && seg_all_zero(map + pos, len - pos))
			break; /* preallocated tail */
		if (check != 0) {
			/* -EAGAIN: the file ends inside the batch */
			if (check == -EAGAIN)
				check = LOGD_EBADBATCH;
			rc = fn(arg, map + pos, len - pos, check, NULL);
			break;
		}
		rc = fn(arg, map + pos, info.size, 0, &info);
		if (rc != 0)
			break;
		pos += info.size;
	}
	if (map != NULL)
		munmap(map, len);
	return rc;
}
