/* Logging for the agent: to stderr, with a level threshold. Library-level
 * code logs at debug; commands decide what the user sees. */
#pragma once

#include <stdarg.h>

#include <mcu-ota/plugin.h>

void log_set_level(enum mcu_ota_log_level level);
enum mcu_ota_log_level log_get_level(void);
void log_msg(enum mcu_ota_log_level level, const char *fmt, ...) MCU_OTA_PRINTF(2, 3);
void log_msgv(enum mcu_ota_log_level level, const char *fmt, va_list ap) MCU_OTA_PRINTF(2, 0);

#define log_error(...)   log_msg(MCU_OTA_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(MCU_OTA_LOG_WARNING, __VA_ARGS__)
#define log_info(...)    log_msg(MCU_OTA_LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(MCU_OTA_LOG_DEBUG, __VA_ARGS__)
