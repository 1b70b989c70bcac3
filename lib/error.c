/*
 * error.c - names for liblogd's return codes.
 *
 * A code is 0, a negated errno, or one of the LOGD_E* codes in logd.h.
 * The table is indexed by LOGD_ECORRUPT - code so a new code is one line.
 */
#include <string.h>

#include "logd.h"

static const char *const logd_errors[] = {
	[LOGD_ECORRUPT - LOGD_ECORRUPT] = "stored data is corrupt",
	[LOGD_ECORRUPT - LOGD_EBADBATCH] = "malformed record batch",
	[LOGD_ECORRUPT - LOGD_ECRC] = "record batch CRC mismatch",
	[LOGD_ECORRUPT - LOGD_ERANGE] = "offset out of range",
	[LOGD_ECORRUPT - LOGD_ENOTOPIC] = "unknown topic",
	[LOGD_ECORRUPT - LOGD_ENOPART] = "unknown partition",
	[LOGD_ECORRUPT - LOGD_ETOPICEXIST] = "topic already exists",
	[LOGD_ECORRUPT - LOGD_EBADNAME] = "invalid name",
	[LOGD_ECORRUPT - LOGD_ETOOBIG] = "too large",
	[LOGD_ECORRUPT - LOGD_EREADONLY] =
	    "partition is read-only after a failed disk sync",
	[LOGD_ECORRUPT - LOGD_EPROTO] = "protocol error",
	[LOGD_ECORRUPT - LOGD_ETIMEDOUT] = "timed out",
	[LOGD_ECORRUPT - LOGD_ELOCKED] =
	    "data directory is locked by another process",
	[LOGD_ECORRUPT - LOGD_ESTORE] = "metadata store error",
	[LOGD_ECORRUPT - LOGD_EBADCONFIG] = "invalid configuration",
	[LOGD_ECORRUPT - LOGD_EGENERATION] = "stale group generation",
	[LOGD_ECORRUPT - LOGD_EMEMBER] = "unknown group member",
	[LOGD_ECORRUPT - LOGD_EREBALANCE] = "group is rebalancing",
	[LOGD_ECORRUPT - LOGD_ENOGROUP] = "unknown consumer group or offset",
	[LOGD_ECORRUPT - LOGD_EUNSUPPORTED] = "unsupported request",
	[LOGD_ECORRUPT - LOGD_ECLOSED] = "connection closed",
	[LOGD_ECORRUPT - LOGD_EFULL] = "no room left in segment or index",
	[LOGD_ECORRUPT - LOGD_EINCONSISTENT] =
	    "group protocol does not match the group's",
	[LOGD_ECORRUPT - LOGD_EMEMBERREQ] =
	    "member id required: join again with the id given",
	[LOGD_ECORRUPT - LOGD_ESEQUENCE] =
	    "out of order sequence number from an idempotent producer",
	[LOGD_ECORRUPT - LOGD_EFENCED] =
	    "producer epoch is older than the producer's current one",
	[LOGD_ECORRUPT - LOGD_ETIMESTAMP] =
	    "record timestamp too far from the broker's clock",
	[LOGD_ECORRUPT - LOGD_ENOKEY] =
	    "a compacted topic takes only records with a key",
};

const char *
logd_strerror(int err)
{
	if (err == 0)
		return "success";
	if (err <= LOGD_ECORRUPT && err >= LOGD_ELAST) {
		const char *s = logd_errors[LOGD_ECORRUPT - err];
		return s != NULL ? s : "unknown logd error";
	}
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "unknown error";
}
