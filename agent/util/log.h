/* Logging for the agent: to stderr, the systemd journal (stderr with <N>
 * level prefixes) or syslog, with a level threshold. Library-level code logs
 * at debug; commands decide what the user sees. Each message is written in
 * one call, so lines of parallel threads never mix. */
#pragma once

#include <stdarg.h>

#include <mcu-ota/plugin.h>

enum log_sink {
	LOG_SINK_STDERR,  /* "mcu-ota: warning: text" */
	LOG_SINK_JOURNAL, /* "<4>warning: text": stderr read by systemd-journald */
	LOG_SINK_SYSLOG,  /* syslog(3), ident "mcu-ota", facility daemon */
};

void log_set_level(enum mcu_ota_log_level level);
enum mcu_ota_log_level log_get_level(void);
void log_set_sink(enum log_sink sink);
/* Whether stderr is the systemd journal ($JOURNAL_STREAM names its device and inode). */
int log_stderr_is_journal(void);

/* Also hand every message that passes the threshold to fn (NULL: stop), from
 * whichever thread logs: the daemon streams a job's log to the client that
 * asked for it. fn must not log. */
void log_set_tee(void (*fn)(void *ctx, enum mcu_ota_log_level level, const char *text), void *ctx);

void log_msg(enum mcu_ota_log_level level, const char *fmt, ...) MCU_OTA_PRINTF(2, 3);
void log_msgv(enum mcu_ota_log_level level, const char *fmt, va_list ap) MCU_OTA_PRINTF(2, 0);

#define log_error(...)   log_msg(MCU_OTA_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(MCU_OTA_LOG_WARNING, __VA_ARGS__)
#define log_info(...)    log_msg(MCU_OTA_LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(MCU_OTA_LOG_DEBUG, __VA_ARGS__)
