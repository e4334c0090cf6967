/* The DfuSe memory-layout string comes from the device's descriptors: an
 * outsider's input. Parsed sectors must be ascending and never overlap. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[512];
	struct dfuse_layout l;
	if (size >= sizeof(s))
		size = sizeof(s) - 1;
	memcpy(s, data, size);
	s[size] = '\0';
	if (dfuse_layout_parse(s, &l, NULL, 0) == 0) {
		for (size_t i = 1; i < l.sector_count; i++)
			if ((uint64_t)l.sectors[i - 1].address + l.sectors[i - 1].size >
			    l.sectors[i].address)
				abort(); /* overlapping or unsorted sectors got through */
		dfuse_layout_free(&l);
	}
	return 0;
}
