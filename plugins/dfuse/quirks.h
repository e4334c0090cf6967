/* Per-family behaviour of DfuSe bootloaders, as data (like fwupd's dfu.quirk
 * and dfu-util's quirks.c): the protocol code asks, it never branches on a
 * family itself. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct dfuse_quirk {
	const char *family; /* for messages */
	uint16_t vid, pid;  /* 0 = any */
	/* Substring that must appear in one of the alt setting strings (the
	 * option-byte address tells families apart), NULL = any. */
	const char *alt_match;
	/* USB timeout for the GETSTATUS that waits for an erase or a block
	 * write: at or above the worst-case (datasheet maximum) operation time,
	 * since the ROM holds the control pipe until it is done. */
	unsigned busy_timeout_ms;
	unsigned mass_erase_timeout_ms;
	/* The ROM STALLs GETSTATUS while busy (L4): on a stall, wait the last
	 * bwPollTimeout (at least stall_wait_ms) and ask again, until the busy
	 * timeout runs out. */
	int stall_means_busy;
	unsigned stall_wait_ms;
};

/* Never NULL: unknown devices get conservative defaults. alts are the
 * interface strings of the device's alt settings. */
const struct dfuse_quirk *dfuse_quirk_find(uint16_t vid, uint16_t pid, const char *const *alts,
                                           size_t alt_count);

/* Whether the configured family name (e.g. "STM32F4", "stm32l4") is q's:
 * q's family lists its members ("STM32F2/F4"), compared without regard to
 * case. 0 no, 1 yes, -1 q is the generic row (the family cannot be told). */
int dfuse_quirk_family_is(const struct dfuse_quirk *q, const char *family);
