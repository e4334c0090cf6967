/* Values of the options several commands share. Only util and the image
 * formats: test_image_cli compiles it with image_info.c alone. */
#include "cli/cli.h"
#include "util/format.h"
#include "util/log.h"

bool cli_opt_number(const char *option, const char *arg, uint32_t min, uint32_t max,
                    const char *what, uint32_t *out)
{
	uint32_t v;
	if (parse_u32(arg, &v) < 0 || v < min || v > max) {
		log_error("%s: \"%s\" is not %s", option, arg, what);
		return false;
	}
	*out = v;
	return true;
}

bool cli_opt_format(const char *arg, enum image_format *out)
{
	if (image_format_parse(arg, out) < 0) {
		log_error("--format: unknown format \"%s\" (auto, bin, hex, dfu or elf)", arg);
		return false;
	}
	return true;
}
