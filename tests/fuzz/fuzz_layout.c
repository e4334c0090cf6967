/* The DfuSe memory-layout string comes from the device's descriptors: an
 * outsider's input. Parsed sectors must be ascending and never overlap; the
 * layout printed back one sector per group parses to the same sectors, and
 * dfuse_layout_find finds every sector by its first and last byte. */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[512], err[1024];
	struct dfuse_layout l;
	if (size >= sizeof(s))
		size = sizeof(s) - 1;
	memcpy(s, data, size);
	s[size] = '\0';
	if (dfuse_layout_parse(s, &l, err, sizeof(err)) != 0) {
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(l.sectors == NULL && l.sector_count == 0);
		return 0;
	}
	FUZZ_CHECK(l.sector_count > 0 && l.sector_count <= DFUSE_LAYOUT_MAX_SECTORS);
	FUZZ_CHECK(strlen(l.name) < sizeof(l.name) && !strchr(l.name, '/'));
	for (size_t i = 0; i < l.sector_count; i++) {
		const struct mcu_ota_sector *sec = &l.sectors[i];
		FUZZ_CHECK(sec->size > 0 && sec->access >= 1 && sec->access <= 7);
		FUZZ_CHECK((uint64_t)sec->address + sec->size <= (uint64_t)UINT32_MAX + 1);
		if (i)
			FUZZ_CHECK((uint64_t)l.sectors[i - 1].address + l.sectors[i - 1].size <=
			           sec->address);
		FUZZ_CHECK(dfuse_layout_find(l.sectors, l.sector_count, sec->address) == (long)i);
		FUZZ_CHECK(dfuse_layout_find(l.sectors, l.sector_count,
		                             sec->address + (sec->size - 1)) == (long)i);
	}

	/* print it back: "@name/0xADDR/1*SIZEBt" per sector */
	size_t cap = 64 + l.sector_count * 32, used;
	char *printed = malloc(cap);
	FUZZ_CHECK(printed != NULL);
	used = (size_t)snprintf(printed, cap, "@%s", l.name);
	for (size_t i = 0; i < l.sector_count; i++)
		used += (size_t)snprintf(printed + used, cap - used,
		                         "/0x%08" PRIX32 "/1*%" PRIu32 "B%c", l.sectors[i].address,
		                         l.sectors[i].size, (char)(0x60 | l.sectors[i].access));
	FUZZ_CHECK(used < cap);
	struct dfuse_layout again;
	FUZZ_CHECK(dfuse_layout_parse(printed, &again, err, sizeof(err)) == 0);
	FUZZ_CHECK(again.sector_count == l.sector_count);
	/* a long name cut at 63 bytes may end in blanks, which the parse drops */
	size_t name_len = strlen(l.name);
	while (name_len && l.name[name_len - 1] == ' ')
		name_len--;
	FUZZ_CHECK(strlen(again.name) == name_len && !memcmp(again.name, l.name, name_len));
	for (size_t i = 0; i < l.sector_count; i++)
		FUZZ_CHECK(again.sectors[i].address == l.sectors[i].address &&
		           again.sectors[i].size == l.sectors[i].size &&
		           again.sectors[i].access == l.sectors[i].access);
	dfuse_layout_free(&again);
	free(printed);
	dfuse_layout_free(&l);
	return 0;
}
