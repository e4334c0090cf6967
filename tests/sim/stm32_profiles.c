/* The STM32 ROM bootloaders the model can be. Quirks are data: every
 * difference between families lives in this table.
 *
 * Identity and memory strings: docs/protocol.md §1, §3 and §5.
 * Times are datasheet *typical* values ("Flash memory characteristics" table
 * of each datasheet):
 *   F405/F407  DS8626, x32 parallelism: 16 KiB sector 250 ms, 64 KiB 550 ms,
 *              128 KiB 1 s, mass erase 8 s, word (32-bit) program 16 us.
 *   F411       DS10314 lists the same F4 flash (x32): same values as F405.
 *   F072       DS9826: half-word program 53.5 us typ (54 here); page (2 KiB)
 *              erase and mass erase are given as 20 ms min / 40 ms max with no
 *              typical value: the model uses the 40 ms maximum.
 *   L4         DS11453 (STM32L432, 256 KiB): 64-bit program 81.69 us typ
 *              (82 here), page (2 KiB) erase 22.02 ms, mass erase 22.13 ms.
 *   G474       DS12288: 64-bit program 81.7 us typ, page (2 KiB) erase 22 ms,
 *              mass erase 22.1 ms (the L4 flash macro).
 *   H743       DS12110, x32 parallelism (voltage range 3, what the ROM runs
 *              at [inference]): 256-bit flash word 130 us, 128 KiB sector
 *              1.1 s typ (2.2 s max; 1 s at x64, 2 s at x8, docs/protocol.md §6),
 *              bank mass erase 6.5 s.
 * bwPollTimeout: ~100 ms on the F4 ROM (docs/protocol.md §6); the F0 uses the same
 * ROM generation [inference]; 50 ms for L4/G4/H7 is the ST middleware's
 * FLASH_ERASE_TIME/FLASH_PROGRAM_TIME default [inference].
 */
#include "stm32_model.h"

#include <stddef.h>
#include <string.h>

#define KIB 1024u

/* Application side (issue 3): ST's virtual COM port identity. */
#define APP_VID 0x0483
#define APP_PID 0x5740

#define F4_COMMON                                                                                  \
	.vid = 0x0483, .pid = 0xdf11, .bcd_device = 0x2200, .manufacturer = "STMicroelectronics",  \
	.product = "STM32  BOOTLOADER", .transfer_size = 2048, .attributes = 0x0B,                 \
	.detach_timeout = 255, .flash_base = 0x08000000, .sram_base = 0x20000000,                  \
	.sram_size = 128 * KIB, .erase_us_per_kib = 7813, .erase_min_us = 250000,                  \
	.mass_erase_us = 8000000, .program_us_per_word = 16, .program_word_bytes = 4,              \
	.check_erased = false, .stall_while_busy = false, .poll_timeout_ms = 100,                  \
	.app_vid = APP_VID, .app_pid = APP_PID,                                                    \
	.erase_times = {{16 * KIB, 250000}, {64 * KIB, 550000}, {128 * KIB, 1000000}},             \
	.rdp_offset = 1, .system_memory_base = 0x1FFF0000

#define F4_OPTION_ALTS                                                                             \
	{"@Option Bytes  /0x1FFFC000/01*016 e"}, {"@OTP Memory /0x1FFF7800/01*512 e,01*016 e"},    \
	{                                                                                          \
		"@Device Feature/0xFFFF0000/01*004 e"                                              \
	}

static const struct stm32_profile profiles[] = {
    {
        .name = "F407",
        F4_COMMON,
        .alt_count = 4,
        .alts = {{"@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg"}, F4_OPTION_ALTS},
        .flash_size = 1024 * KIB,
    },
    {
        .name = "F405",
        F4_COMMON,
        .alt_count = 4,
        .alts = {{"@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg"}, F4_OPTION_ALTS},
        .flash_size = 1024 * KIB,
    },
    {
        .name = "F411",
        F4_COMMON,
        .alt_count = 4,
        .alts = {{"@Internal Flash  /0x08000000/04*016Kg,01*064Kg,03*128Kg"}, F4_OPTION_ALTS},
        .flash_size = 512 * KIB,
    },
    {
        .name = "F072",
        .vid = 0x0483,
        .pid = 0xdf11,
        .bcd_device = 0x2200,
        .manufacturer = "STMicroelectronics",
        .product = "STM32  BOOTLOADER",
        .transfer_size = 2048,
        .attributes = 0x0B,
        .detach_timeout = 255,
        .alt_count = 2,
        .alts = {{"@Internal Flash  /0x08000000/064*0002Kg"},
                 {"@Option Bytes  /0x1FFFF800/01*016 e"}},
        .flash_base = 0x08000000,
        .flash_size = 128 * KIB,
        .sram_base = 0x20000000,
        .sram_size = 16 * KIB,
        .erase_us_per_kib = 0,
        .erase_min_us = 40000,
        .mass_erase_us = 40000,
        .program_us_per_word = 54,
        .program_word_bytes = 2,
        /* RM0091: programming a half-word that is not 0xFFFF sets PGERR. */
        .check_erased = true,
        .stall_while_busy = false,
        .poll_timeout_ms = 100,
        .app_vid = APP_VID,
        .app_pid = APP_PID,
        .erase_times = {{2 * KIB, 40000}},
        .rdp_offset = 0,
        .system_memory_base = 0x1FFFC800,
    },
    {
        .name = "L4",
        .vid = 0x0483,
        .pid = 0xdf11,
        .bcd_device = 0x2200,
        .manufacturer = "STMicroelectronics",
        .product = "STM32  BOOTLOADER",
        .transfer_size = 2048,
        .attributes = 0x0B,
        .detach_timeout = 255,
        .alt_count = 2,
        .alts = {{"@Internal Flash  /0x08000000/0128*0002Kg"},
                 {"@Option Bytes  /0x1FFF7800/01*040 e"}},
        .flash_base = 0x08000000,
        .flash_size = 256 * KIB,
        .sram_base = 0x20000000,
        .sram_size = 64 * KIB,
        .erase_us_per_kib = 0,
        .erase_min_us = 22020,
        .mass_erase_us = 22130,
        .program_us_per_word = 82,
        .program_word_bytes = 8,
        .check_erased = true,
        .stall_while_busy = true,
        .poll_timeout_ms = 50,
        .app_vid = APP_VID,
        .app_pid = APP_PID,
        .erase_times = {{2 * KIB, 22020}},
        .rdp_offset = 0,
        .system_memory_base = 0x1FFF0000,
    },
    {
        .name = "G474",
        .vid = 0x0483,
        .pid = 0xdf11,
        .bcd_device = 0x0200,
        .manufacturer = "STMicroelectronics",
        .product = "DFU in FS Mode",
        .transfer_size = 1024,
        .attributes = 0x0B,
        .detach_timeout = 255,
        .alt_count = 2,
        .alts = {{"@Internal Flash   /0x08000000/256*02Kg"},
                 {"@Option Bytes   /0x1FFF7800/01*048 e/0x1FFFF800/01*048 e"}},
        .flash_base = 0x08000000,
        .flash_size = 512 * KIB,
        .sram_base = 0x20000000,
        .sram_size = 128 * KIB,
        .erase_us_per_kib = 0,
        .erase_min_us = 22000,
        .mass_erase_us = 22100,
        .program_us_per_word = 82,
        .program_word_bytes = 8,
        .check_erased = true,
        .stall_while_busy = false,
        .poll_timeout_ms = 50,
        .app_vid = APP_VID,
        .app_pid = APP_PID,
        .erase_times = {{2 * KIB, 22000}},
        .rdp_offset = 0,
        .system_memory_base = 0x1FFF0000,
    },
    {
        .name = "H743",
        .vid = 0x0483,
        .pid = 0xdf11,
        .bcd_device = 0x0200,
        .manufacturer = "STMicroelectronics",
        .product = "DFU in FS Mode",
        .transfer_size = 1024,
        .attributes = 0x0B,
        .detach_timeout = 255,
        .alt_count = 2,
        .alts = {{"@Internal Flash   /0x08000000/16*128Kg"},
                 {"@Option Bytes   /0x5200201C/01*128 e"}},
        .flash_base = 0x08000000,
        .flash_size = 2048 * KIB,
        /* DTCM at 0x20000000 up to the end of AXI SRAM at 0x24080000. */
        .sram_base = 0x20000000,
        .sram_size = 0x04080000,
        .erase_us_per_kib = 0,
        .erase_min_us = 1100000,
        .mass_erase_us = 6500000,
        .program_us_per_word = 130,
        .program_word_bytes = 32,
        .check_erased = true,
        .stall_while_busy = false,
        .poll_timeout_ms = 50,
        .app_vid = APP_VID,
        .app_pid = APP_PID,
        .erase_times = {{128 * KIB, 1100000}},
        .rdp_offset = 1, /* FLASH_OPTSR_CUR bits 15:8 */
        .system_memory_base = 0x1FF09800,
    },
};

static const char *const profile_names[] = {"F407", "F405", "F411", "F072",
                                            "L4",   "G474", "H743", NULL};

const struct stm32_profile *stm32_profile_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (strcmp(profiles[i].name, name) == 0)
			return &profiles[i];
	return NULL;
}

const char *const *stm32_profile_names(void)
{
	return profile_names;
}
