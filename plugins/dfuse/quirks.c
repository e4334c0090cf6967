#include "quirks.h"

#include <string.h>
#include <strings.h>

/* First match wins; the last row matches everything. Times are datasheet
 * maxima with margin (docs/protocol.md §6): F4 128 KiB sector at x8
 * parallelism 4 s, mass erase 32 s (dfu-util uses 35 s); H7 128 KiB sector
 * 4 s max; L4/G4 2 KiB page 25 ms max, mass erase ~25 ms per bank. */
static const struct dfuse_quirk quirks[] = {
    {
        .family = "STM32L4",
        .vid = 0x0483,
        .pid = 0xdf11,
        .alt_match = "/0x1FFF7800/01*040 e",
        .busy_timeout_ms = 2000,
        .mass_erase_timeout_ms = 5000,
        .stall_means_busy = 1,
        .stall_wait_ms = 5,
    },
    {
        .family = "STM32H7",
        .vid = 0x0483,
        .pid = 0xdf11,
        .alt_match = "/0x5200201C/",
        .busy_timeout_ms = 6000,
        .mass_erase_timeout_ms = 40000,
    },
    {
        .family = "STM32F2/F4",
        .vid = 0x0483,
        .pid = 0xdf11,
        .alt_match = "/0x1FFFC000/", /* their option bytes */
        .busy_timeout_ms = 6000,
        .mass_erase_timeout_ms = 40000,
    },
    {
        .family = "STM32 (generic DfuSe)",
        .busy_timeout_ms = 6000,
        .mass_erase_timeout_ms = 40000,
        /* dfu-util treats a stall during GETSTATUS as busy for every DfuSe device;
         * harmless elsewhere and it saves unknown L4-like parts. */
        .stall_means_busy = 1,
        .stall_wait_ms = 5,
    },
};

const struct dfuse_quirk *dfuse_quirk_find(uint16_t vid, uint16_t pid, const char *const *alts,
                                           size_t alt_count)
{
	size_t n = sizeof(quirks) / sizeof(quirks[0]);
	for (size_t i = 0; i < n; i++) {
		const struct dfuse_quirk *q = &quirks[i];
		if ((q->vid && q->vid != vid) || (q->pid && q->pid != pid))
			continue;
		if (!q->alt_match)
			return q;
		for (size_t a = 0; a < alt_count; a++)
			if (alts[a] && strstr(alts[a], q->alt_match))
				return q;
	}
	return &quirks[n - 1];
}

int dfuse_quirk_family_is(const struct dfuse_quirk *q, const char *family)
{
	if (!q->vid) /* the generic row */
		return -1;
	if (!strncasecmp(family, "STM32", 5))
		family += 5;
	const char *members = q->family + 5; /* "F2/F4" after "STM32" */
	size_t n = strlen(family);
	for (const char *m = members; *m;) {
		size_t len = strcspn(m, "/");
		if (len == n && !strncasecmp(m, family, n))
			return 1;
		m += len + (m[len] == '/');
	}
	return 0;
}
