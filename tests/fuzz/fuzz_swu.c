/* A .swu stream, fed in chunks whose sizes come from the input too: the
 * reader must neither crash nor depend on chunking (checked by the unit
 * tests); here, without a trusted key, it must never report success. */
#include <stdint.h>
#include <stdlib.h>

#include "bundle/swu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct swu_trust trust = {.allow_unverified = true};
	struct swu_reader *r;
	char err[512];
	if (swu_reader_new(&r, &trust, NULL, NULL, NULL, err, sizeof(err)) < 0)
		return 0;
	size_t chunk = size ? (size_t)data[0] % 97 + 1 : 1;
	int rc = 0;
	for (size_t off = 0; rc == 0 && off < size; off += chunk)
		rc = swu_reader_feed(r, data + off, size - off < chunk ? size - off : chunk, err,
		                     sizeof(err));
	if (rc == 0)
		rc = swu_reader_finish(r, err, sizeof(err));
	const struct swu_manifest *m = swu_reader_manifest(r);
	(void)m;
	swu_reader_free(r);
	return 0;
}
