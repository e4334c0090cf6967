/* Shared by the harnesses: a failed invariant aborts with what broke (libFuzzer
 * then saves the input as a crash), and a private scratch folder on tmpfs for
 * the parsers that read files. */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__,       \
			        #cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* A folder of this process's own, removed at exit ($TMPDIR, else /dev/shm:
 * tmpfs keeps the fsyncs of atomic writes cheap). */
const char *fuzz_scratch_dir(void);
/* Write len bytes to path (replacing it); aborts when it cannot. */
void fuzz_write_file(const char *path, const void *data, size_t len);
