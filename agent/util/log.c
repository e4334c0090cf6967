#include "util/log.h"

#include <stdio.h>

static enum mcu_ota_log_level threshold = MCU_OTA_LOG_INFO;

void log_set_level(enum mcu_ota_log_level level)
{
	threshold = level;
}

enum mcu_ota_log_level log_get_level(void)
{
	return threshold;
}

void log_msgv(enum mcu_ota_log_level level, const char *fmt, va_list ap)
{
	static const char *const prefix[] = {"error: ", "warning: ", "", "debug: "};
	if (level > threshold)
		return;
	fprintf(stderr, "mcu-ota: %s", prefix[level]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void log_msg(enum mcu_ota_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_msgv(level, fmt, ap);
	va_end(ap);
}
