#include "util/format.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;
	/* decimal, or hex after 0x: a leading 0 is not octal ("010" is ten) */
	bool hex = s && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	if (!s || !(hex ? isxdigit((unsigned char)s[2]) : isdigit((unsigned char)s[0])))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, hex ? 16 : 10);
	if (errno == ERANGE)
		return -ERANGE;
	unsigned long long unit = 1;
	if (*end == 'K' || *end == 'k')
		unit = 1024;
	else if (*end == 'M' || *end == 'm')
		unit = 1024 * 1024;
	if (unit > 1)
		end++;
	if (*end)
		return -EINVAL;
	if (v > UINT32_MAX / unit)
		return -ERANGE;
	*out = (uint32_t)(v * unit);
	return 0;
}

void json_print_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

void hex_encode(const uint8_t *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 15];
	}
	out[2 * len] = '\0';
}

void format_size(uint64_t bytes, char *out, size_t outlen)
{
	if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0)
		snprintf(out, outlen, "%llu MiB", (unsigned long long)(bytes >> 20));
	else if (bytes >= 1024 * 1024)
		snprintf(out, outlen, "%.1f MiB", bytes / 1048576.0);
	else if (bytes >= 1024 && bytes % 1024 == 0)
		snprintf(out, outlen, "%llu KiB", (unsigned long long)(bytes >> 10));
	else if (bytes >= 1024)
		snprintf(out, outlen, "%.1f KiB", bytes / 1024.0);
	else
		snprintf(out, outlen, "%llu B", (unsigned long long)bytes);
}
