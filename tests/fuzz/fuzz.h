/*
 * fuzz.h - what the fuzz targets share.
 *
 * Each target (fuzz_<name>.c) defines LLVMFuzzerTestOneInput().  Built
 * with clang -fsanitize=fuzzer (configure --enable-fuzzing) it is a
 * libFuzzer program; built with any compiler next to replay.c it is a
 * plain program that feeds every file of its seed corpus to the same
 * function, so `make check` replays the corpora with gcc too.
 *
 * FUZZ_CHECK() is the targets' assertion: an invariant the library
 * promises (for example "a batch the log serves passes logd_batch_check")
 * that fails aborts, so libFuzzer records the input as a crash.
 */
#ifndef LOGD_FUZZ_H
#define LOGD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: invariant failed: %s\n", \
		    __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

#endif /* LOGD_FUZZ_H */
