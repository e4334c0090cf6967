/* DfuSe memory layouts: the alt setting's interface string, e.g.
 * "@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg", expanded into
 * one entry per sector. Grammar and real strings: docs/protocol.md §3. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <mcu-ota/plugin.h>

/* A crafted descriptor must not make us allocate without bound. */
#define DFUSE_LAYOUT_MAX_SECTORS 8192

struct dfuse_layout {
	char name[64];
	size_t sector_count;
	struct mcu_ota_sector *sectors; /* ascending, owned */
};

/* 0, or -EINVAL with err naming the column at fault. */
__attribute__((warn_unused_result)) int dfuse_layout_parse(const char *s, struct dfuse_layout *out,
                                                           char *err, size_t errlen);
void dfuse_layout_free(struct dfuse_layout *layout);

/* Index of the sector holding address, or -1. */
long dfuse_layout_find(const struct mcu_ota_sector *sectors, size_t count, uint32_t address);
