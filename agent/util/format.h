/* Parsing and printing helpers shared by the commands. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <mcu-ota/cleanup.h> /* _cleanup_, used with these helpers */
#include <mcu-ota/plugin.h>  /* mcu_ota_set_error, used with these helpers */

/* A 32-bit number: decimal (a leading 0 is not octal) or 0x-hex, with an
 * optional K or M suffix (x1024); no sign, no spaces.
 * -EINVAL when malformed, -ERANGE when it does not fit. */
__attribute__((warn_unused_result)) int parse_u32(const char *s, uint32_t *out);

/* Print s as a JSON string literal, quotes included. */
void json_print_string(FILE *f, const char *s);

/* Lower-case hex of len bytes into out (2 * len + 1 bytes). */
void hex_encode(const uint8_t *data, size_t len, char *out);

/* "1.5 MiB", "512 KiB", "100 B" */
void format_size(uint64_t bytes, char *out, size_t outlen);
