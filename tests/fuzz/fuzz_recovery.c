/*
 * fuzz_recovery.c - partition log recovery on arbitrary file contents.
 *
 * The input describes the files of one partition directory as a list of
 * sections, each [type u8][segment u8][length u16 BE][bytes]:
 *   type 0  bytes appended to segment k's .log    (k = segment % 3)
 *   type 1  ... to its .idx                     type 2  ... to its .tix
 *   type 3  segment k's base offset (u32 BE; default 0, 1000, 2000)
 *   type 4  the recovery-point file's contents
 *   type 5  index.interval.bytes (u16 BE; default 256)
 * A segment exists when it has a .log section.  The files are written
 * into a fresh directory, checked with logd_segment_verify() and
 * logd_segment_walk() (logctl verify), and opened with logd_log_open();
 * then everything is read, a batch appended and read back, the log
 * closed, reopened and read again.  Nothing may crash or hang.
 *
 * Without a recovery point every segment is scanned, so the library
 * promises more, and the target checks it: open succeeds, every batch
 * served passes logd_batch_check(), offsets are dense from start to end,
 * the append lands at the old end, and after the clean close a reopen
 * finds the same end with nothing truncated and every segment verifies
 * clean.  With a recovery point, damage below it may make open fail
 * with LOGD_ECORRUPT (bytes are never removed below it) and trusted
 * segments are not re-checked, so only memory safety is required.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "logd.h"

#define NOW_MS 1764000000000LL
#define NSEG 3

static char root[256];
static char part[300];

static void rm_dir(const char *dir)
{
	char path[600];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
		    (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static void cleanup(void)
{
	rm_dir(part);
	rmdir(root);
}

static void init_once(void)
{
	const char *tmp = getenv("TMPDIR");

	if (root[0] != '\0')
		return;
	/* tmpfs when there is one: the target syncs on every close. */
	if (tmp == NULL || *tmp == '\0')
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(root, sizeof(root), "%s/fuzz_recovery.XXXXXX", tmp);
	FUZZ_CHECK(mkdtemp(root) != NULL);
	snprintf(part, sizeof(part), "%s/t-0", root);
	atexit(cleanup);
}

static void put_file(const char *name, const uint8_t *p, size_t n, int trunc)
{
	char path[600];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", part, name);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | (trunc ? O_TRUNC : 0),
	    0644);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, p, n) == (ssize_t)n);
	close(fd);
}

static void seg_name(char *buf, size_t size, int64_t base, const char *ext)
{
	snprintf(buf, size, "%020lld.%s", (long long)base, ext);
}

static int count_batch(void *arg, const uint8_t *batch, size_t len,
    int check, const struct logd_batch_info *info)
{
	FUZZ_CHECK(check != 0 || (info != NULL && info->size == len));
	(*(uint64_t *)arg)++;
	return 0;
}

/* logctl verify over every .log in the directory; returns the damage. */
static int verify_dir(void)
{
	struct logd_segment_report rep;
	char path[600];
	struct dirent *de;
	uint64_t walked;
	int bad = 0;
	DIR *d = opendir(part);

	FUZZ_CHECK(d != NULL);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l < 5 || strcmp(de->d_name + l - 4, ".log") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", part, de->d_name);
		if (logd_segment_verify(path, &rep) != 0) {
			bad = 1;
			continue;
		}
		FUZZ_CHECK(rep.valid_bytes <= rep.file_bytes);
		if (rep.error != 0 || rep.index_error != 0 ||
		    rep.bad_position != -1)
			bad = 1;
		walked = 0;
		(void)logd_segment_walk(path, count_batch, &walked);
		FUZZ_CHECK(rep.error != 0 || walked == rep.batches);
	}
	closedir(d);
	return bad;
}

/*
 * Reads every offset from start to end.  strict: each batch must pass
 * the full check and offsets must be dense.  Returns the batches read.
 */
static uint64_t read_all(struct logd_log *log, int strict)
{
	int64_t off = logd_log_start_offset(log);
	int64_t end = logd_log_end_offset(log);
	uint64_t batches = 0;

	FUZZ_CHECK(off >= 0 && off <= end);
	while (off < end) {
		struct logd_read r;
		struct logd_batch_info info;
		size_t pos = 0;
		int rc;

		memset(&r, 0, sizeof(r));
		rc = logd_log_read(log, off, 1 << 16, &r);
		if (strict)
			FUZZ_CHECK(rc == 0);
		if (rc != 0)
			return batches;
		FUZZ_CHECK(r.len > 0);
		FUZZ_CHECK(r.next_offset > off);
		while (pos < r.len) {
			rc = strict ? logd_batch_check(r.data + pos,
			    r.len - pos, &info) : logd_batch_header(
			    r.data + pos, r.len - pos, &info);
			FUZZ_CHECK(!strict || rc == 0);
			if (rc != 0)
				break;
			if (strict) {
				FUZZ_CHECK(pos > 0 ||
				    (info.base_offset <= off &&
				    off <= info.last_offset));
				FUZZ_CHECK(pos == 0 || info.base_offset == off);
			}
			off = info.last_offset + 1;
			pos += info.size;
			batches++;
		}
		if (strict)
			FUZZ_CHECK(pos == r.len && off == r.next_offset);
		off = r.next_offset;
		logd_log_read_release(&r);
	}
	return batches;
}

static const uint8_t *one_batch(struct logd_batch_builder *b, size_t *len)
{
	const uint8_t *p;
	int i;

	logd_batch_builder_reset(b);
	for (i = 0; i < 3; i++)
		FUZZ_CHECK(logd_batch_builder_add(b, NOW_MS + i, "k", 1,
		    "value", 5, NULL, 0) == 0);
	FUZZ_CHECK(logd_batch_builder_finish(b, &p, len) == 0);
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct logd_log_config cfg;
	struct logd_recovery rec, rec2;
	struct logd_batch_builder *b;
	struct logd_log *log = NULL;
	int64_t base[NSEG] = { 0, 1000, 2000 };
	int has_log[NSEG] = { 0 }, has_rp = 0, rc, k;
	int64_t end, first, last;
	const uint8_t *batch;
	size_t pos = 0, blen;
	char name[64];
	uint64_t n1;

	init_once();
	rm_dir(part);
	FUZZ_CHECK(mkdir(part, 0755) == 0);
	logd_log_config_default(&cfg);
	cfg.segment_bytes = 4096;
	cfg.index_interval = 256;
	cfg.index_bytes = 1024;

	/* Bases and config first: file names depend on them. */
	while (size - pos >= 4) {
		size_t n = (size_t)data[pos + 2] << 8 | data[pos + 3];
		const uint8_t *p = data + pos + 4;

		if (n > size - pos - 4)
			n = size - pos - 4;
		k = data[pos + 1] % NSEG;
		if (data[pos] % 8 == 3 && n >= 4)
			base[k] = (int64_t)((uint32_t)p[0] << 24 |
			    (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
		if (data[pos] % 8 == 5 && n >= 2)
			cfg.index_interval = (uint32_t)p[0] << 8 | p[1];
		pos += 4 + n;
	}
	pos = 0;
	while (size - pos >= 4) {
		size_t n = (size_t)data[pos + 2] << 8 | data[pos + 3];
		const uint8_t *p = data + pos + 4;
		static const char *const ext[3] = { "log", "idx", "tix" };

		if (n > size - pos - 4)
			n = size - pos - 4;
		k = data[pos + 1] % NSEG;
		switch (data[pos] % 8) {
		case 0: case 1: case 2:
			seg_name(name, sizeof(name), base[k],
			    ext[data[pos] % 8]);
			put_file(name, p, n, 0);
			if (data[pos] % 8 == 0)
				has_log[k] = 1;
			break;
		case 4:
			put_file("recovery-point", p, n, 1);
			has_rp = 1;
			break;
		default:
			break;
		}
		pos += 4 + n;
	}
	/* Index files without their .log are removed by open: fine. */
	(void)has_log;
	(void)verify_dir();

	rc = logd_log_open(part, &cfg, NOW_MS, &log, &rec);
	if (!has_rp)
		FUZZ_CHECK(rc == 0);
	if (rc != 0)
		goto out;
	FUZZ_CHECK(rec.start_offset == logd_log_start_offset(log));
	FUZZ_CHECK(rec.end_offset == logd_log_end_offset(log));
	n1 = read_all(log, !has_rp);

	FUZZ_CHECK(logd_batch_builder_new(&b) == 0);
	batch = one_batch(b, &blen);
	end = logd_log_end_offset(log);
	rc = logd_log_append(log, batch, blen, NOW_MS, &first, &last);
	if (!has_rp)
		FUZZ_CHECK(rc == 0);
	if (rc == 0) {
		FUZZ_CHECK(first == end && last == end + 2);
		FUZZ_CHECK(logd_log_end_offset(log) == end + 3);
		FUZZ_CHECK(read_all(log, !has_rp) == n1 + 1 || has_rp);
	}
	logd_batch_builder_free(b);
	end = logd_log_end_offset(log);
	logd_log_close(log);
	log = NULL;

	rc = logd_log_open(part, &cfg, NOW_MS, &log, &rec2);
	if (!has_rp) {
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(rec2.end_offset == end);
		FUZZ_CHECK(rec2.truncated_bytes == 0);
		FUZZ_CHECK(read_all(log, 1) == n1 + 1);
	}
	logd_log_close(log);
	if (!has_rp)
		FUZZ_CHECK(verify_dir() == 0);
out:
	rm_dir(part);
	return 0;
}
