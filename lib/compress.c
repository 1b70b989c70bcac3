/*
 * compress.c - the four codecs of Kafka's record batches (attributes
 * bits 0-2): gzip (zlib), snappy, lz4 and zstd, from Debian's libraries.
 *
 * Decompression is bounded: a batch whose records inflate past
 * LOGD_DECOMPRESS_MAX is refused (a few compressed bytes must not make
 * the broker or a consumer allocate gigabytes).  Kafka's own framings
 * are read as Kafka's clients write them: snappy either raw or in the
 * xerial (snappy-java) framing Java clients use, lz4 in the LZ4 frame
 * format, zstd as a frame that may not state its size (streamed), gzip
 * as a gzip (or zlib) stream.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "logd.h"

static const char *const names[] = { "none", "gzip", "snappy", "lz4",
	"zstd" };

int
logd_codec_parse(const char *name)
{
	int i;

	for (i = 0; i <= LOGD_CODEC_ZSTD; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -EINVAL;
}

const char *
logd_codec_name(int codec)
{
	return codec >= 0 && codec <= LOGD_CODEC_ZSTD ? names[codec] : "?";
}

/* A growable output; out of room past max is LOGD_ETOOBIG. */
struct out {
	uint8_t *p;
	size_t len, cap, max;
};

static int
out_room(struct out *o, size_t need)
{
	size_t cap;
	uint8_t *p;

	if (o->p != NULL && o->cap - o->len >= need)
		return 0;
	if (o->len + need > o->max)
		return LOGD_ETOOBIG;
	cap = o->cap ? o->cap : 4096;
	while (cap - o->len < need)
		cap *= 2;
	/* Always a buffer, also for nothing: never arithmetic on NULL. */
	if (cap > o->max)
		cap = o->max;
	p = realloc(o->p, cap);
	if (p == NULL)
		return -ENOMEM;
	o->p = p;
	o->cap = cap;
	return 0;
}

static int
gzip_inflate(const uint8_t *src, size_t len, struct out *o)
{
	z_stream z;
	int rc, zr = Z_OK;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 15 + 32) != Z_OK)   /* gzip or zlib header */
		return -ENOMEM;
	z.next_in = (Bytef *)src;
	z.avail_in = (uInt)len;
	while (zr != Z_STREAM_END) {
		if ((rc = out_room(o, 65536)) < 0) {
			inflateEnd(&z);
			return rc;
		}
		z.next_out = o->p + o->len;
		z.avail_out = (uInt)(o->cap - o->len);
		zr = inflate(&z, Z_NO_FLUSH);
		o->len = o->cap - z.avail_out;
		if (zr != Z_OK && zr != Z_STREAM_END) {
			inflateEnd(&z);
			return zr == Z_MEM_ERROR ? -ENOMEM : LOGD_EBADBATCH;
		}
		if (zr == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
			inflateEnd(&z);
			return LOGD_EBADBATCH;    /* truncated */
		}
	}
	inflateEnd(&z);
	return 0;
}

static int
snappy_block(const uint8_t *src, size_t len, struct out *o)
{
	size_t n;
	int rc;

	if (snappy_uncompressed_length((const char *)src, len, &n) !=
	    SNAPPY_OK)
		return LOGD_EBADBATCH;
	if ((rc = out_room(o, n)) < 0)
		return rc;
	if (snappy_uncompress((const char *)src, len, (char *)o->p + o->len,
	    &n) != SNAPPY_OK)
		return LOGD_EBADBATCH;
	o->len += n;
	return 0;
}

static const uint8_t xerial_magic[8] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y',
	0 };

static int
snappy_decode(const uint8_t *src, size_t len, struct out *o)
{
	size_t pos = 16;
	int rc;

	if (len < 16 || memcmp(src, xerial_magic, 8) != 0)
		return snappy_block(src, len, o);
	while (pos < len) {
		uint32_t n;

		if (len - pos < 4)
			return LOGD_EBADBATCH;
		n = (uint32_t)src[pos] << 24 | (uint32_t)src[pos + 1] << 16 |
		    (uint32_t)src[pos + 2] << 8 | src[pos + 3];
		pos += 4;
		if (n > len - pos)
			return LOGD_EBADBATCH;
		if ((rc = snappy_block(src + pos, n, o)) < 0)
			return rc;
		pos += n;
	}
	return 0;
}

static int
lz4_decode(const uint8_t *src, size_t len, struct out *o)
{
	LZ4F_dctx *d;
	size_t pos = 0, r = 1;
	int rc = 0;

	if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)))
		return -ENOMEM;
	while (r != 0) {
		size_t in = len - pos, outn;

		if ((rc = out_room(o, 65536)) < 0)
			break;
		outn = o->cap - o->len;
		r = LZ4F_decompress(d, o->p + o->len, &outn, src + pos, &in,
		    NULL);
		if (LZ4F_isError(r)) {
			rc = LOGD_EBADBATCH;
			break;
		}
		o->len += outn;
		pos += in;
		if (r != 0 && pos == len && outn == 0) {
			rc = LOGD_EBADBATCH;      /* truncated */
			break;
		}
	}
	LZ4F_freeDecompressionContext(d);
	return rc;
}

static int
zstd_decode(const uint8_t *src, size_t len, struct out *o)
{
	ZSTD_DStream *d = ZSTD_createDStream();
	ZSTD_inBuffer in = { src, len, 0 };
	size_t r = 1;
	int rc = 0;

	if (d == NULL)
		return -ENOMEM;
	ZSTD_initDStream(d);
	while (r != 0) {
		ZSTD_outBuffer ob;

		if ((rc = out_room(o, 65536)) < 0)
			break;
		ob.dst = o->p + o->len;
		ob.size = o->cap - o->len;
		ob.pos = 0;
		r = ZSTD_decompressStream(d, &ob, &in);
		if (ZSTD_isError(r)) {
			rc = LOGD_EBADBATCH;
			break;
		}
		o->len += ob.pos;
		if (r != 0 && in.pos == in.size && ob.pos < ob.size) {
			rc = LOGD_EBADBATCH;      /* truncated */
			break;
		}
	}
	ZSTD_freeDStream(d);
	return rc;
}

int
logd_decompress(int codec, const void *src, size_t len, uint8_t **out,
    size_t *outlen)
{
	struct out o = { NULL, 0, 0, LOGD_DECOMPRESS_MAX };
	int rc;

	switch (codec) {
	case LOGD_CODEC_GZIP:
		rc = gzip_inflate(src, len, &o);
		break;
	case LOGD_CODEC_SNAPPY:
		rc = snappy_decode(src, len, &o);
		break;
	case LOGD_CODEC_LZ4:
		rc = lz4_decode(src, len, &o);
		break;
	case LOGD_CODEC_ZSTD:
		rc = zstd_decode(src, len, &o);
		break;
	default:
		rc = LOGD_EBADBATCH;
	}
	if (rc < 0) {
		free(o.p);
		return rc;
	}
	*out = o.p;
	*outlen = o.len;
	return 0;
}

static int
gzip_deflate(const uint8_t *src, size_t len, struct out *o)
{
	z_stream z;
	int rc;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	if ((rc = out_room(o, deflateBound(&z, (uLong)len))) < 0) {
		deflateEnd(&z);
		return rc;
	}
	z.next_in = (Bytef *)src;
	z.avail_in = (uInt)len;
	z.next_out = o->p;
	z.avail_out = (uInt)o->cap;
	rc = deflate(&z, Z_FINISH);
	o->len = o->cap - z.avail_out;
	deflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -ENOMEM;
}

int
logd_compress(int codec, const void *src, size_t len, uint8_t **out,
    size_t *outlen)
{
	struct out o = { NULL, 0, 0, SIZE_MAX };
	size_t n;
	int rc = 0;

	switch (codec) {
	case LOGD_CODEC_GZIP:
		rc = gzip_deflate(src, len, &o);
		break;
	case LOGD_CODEC_SNAPPY:
		n = snappy_max_compressed_length(len);
		if ((rc = out_room(&o, n)) == 0 && snappy_compress(src, len,
		    (char *)o.p, &n) != SNAPPY_OK)
			rc = -ENOMEM;
		o.len = n;
		break;
	case LOGD_CODEC_LZ4:
		n = LZ4F_compressFrameBound(len, NULL);
		if ((rc = out_room(&o, n)) == 0) {
			n = LZ4F_compressFrame(o.p, o.cap, src, len, NULL);
			rc = LZ4F_isError(n) ? -ENOMEM : 0;
			o.len = n;
		}
		break;
	case LOGD_CODEC_ZSTD:
		n = ZSTD_compressBound(len);
		if ((rc = out_room(&o, n)) == 0) {
			n = ZSTD_compress(o.p, o.cap, src, len, 3);
			rc = ZSTD_isError(n) ? -ENOMEM : 0;
			o.len = n;
		}
		break;
	default:
		rc = -EINVAL;
	}
	if (rc < 0) {
		free(o.p);
		return rc;
	}
	*out = o.p;
	*outlen = o.len;
	return 0;
}
