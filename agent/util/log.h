/* Logging for the agent: to stderr, the systemd journal (stderr with <N>
 * level prefixes) or syslog, with a level threshold. Library-level code logs
 * at debug; commands decide what the user sees. Each message is written in
 * one call, so lines of parallel threads never mix. */
#pragma once

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>

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

/* Also hand every message that passes the threshold to fn (NULL: stop), with
 * the logging thread's tag: the daemon streams a job's log (the lines of the
 * threads tagged with the job's number) to the client that asked for it. fn
 * must not log, and must not block: every thread's logging waits for it. */
void log_set_tee(void (*fn)(void *ctx, unsigned tag, enum mcu_ota_log_level level,
                            const char *text),
                 void *ctx);
/* The calling thread's tag (0: none), which threads it starts through
 * log_thread_create inherit. */
void log_set_thread_tag(unsigned tag);
unsigned log_thread_tag(void);
/* pthread_create (default attributes) whose thread has the caller's tag. */
int log_thread_create(pthread_t *t, void *(*fn)(void *), void *arg);

/* in with control characters (and backslashes) as \xNN escapes, truncated to
 * fit out: for strings a client or a file supplied, before they are logged. */
void log_escape(const char *in, char *out, size_t n);

void log_msg(enum mcu_ota_log_level level, const char *fmt, ...) MCU_OTA_PRINTF(2, 3);
void log_msgv(enum mcu_ota_log_level level, const char *fmt, va_list ap) MCU_OTA_PRINTF(2, 0);

#define log_error(...)   log_msg(MCU_OTA_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(MCU_OTA_LOG_WARNING, __VA_ARGS__)
#define log_info(...)    log_msg(MCU_OTA_LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(MCU_OTA_LOG_DEBUG, __VA_ARGS__)
