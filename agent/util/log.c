#include "util/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

static enum mcu_ota_log_level threshold = MCU_OTA_LOG_INFO;
static enum log_sink sink = LOG_SINK_STDERR;
static void (*tee)(void *ctx, unsigned tag, enum mcu_ota_log_level level, const char *text);
static void *tee_ctx;
static pthread_mutex_t tee_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local unsigned thread_tag;

void log_set_level(enum mcu_ota_log_level level)
{
	threshold = level;
}

enum mcu_ota_log_level log_get_level(void)
{
	return threshold;
}

void log_set_sink(enum log_sink s)
{
	if (s == LOG_SINK_SYSLOG && sink != LOG_SINK_SYSLOG)
		openlog("mcu-ota", LOG_PID, LOG_DAEMON);
	sink = s;
}

int log_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_set_tee(void (*fn)(void *ctx, unsigned tag, enum mcu_ota_log_level level,
                            const char *text),
                 void *ctx)
{
	pthread_mutex_lock(&tee_lock);
	tee = fn;
	tee_ctx = ctx;
	pthread_mutex_unlock(&tee_lock);
}

void log_set_thread_tag(unsigned tag)
{
	thread_tag = tag;
}

unsigned log_thread_tag(void)
{
	return thread_tag;
}

struct tagged_start {
	void *(*fn)(void *);
	void *arg;
	unsigned tag;
};

static void *tagged_main(void *p)
{
	struct tagged_start s = *(struct tagged_start *)p;
	free(p);
	thread_tag = s.tag;
	return s.fn(s.arg);
}

int log_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
	struct tagged_start *s = malloc(sizeof(*s));
	if (!s)
		return ENOMEM;
	*s = (struct tagged_start){fn, arg, thread_tag};
	int r = pthread_create(t, NULL, tagged_main, s);
	if (r != 0)
		free(s);
	return r;
}

void log_escape(const char *in, char *out, size_t n)
{
	size_t o = 0;
	if (!n)
		return;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		bool plain = *p >= 0x20 && *p != 0x7f && *p != '\\';
		if (o + (plain ? 1 : 4) >= n)
			break;
		if (plain)
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, n - o, "\\x%02x", *p);
	}
	out[o] = '\0';
}

void log_msgv(enum mcu_ota_log_level level, const char *fmt, va_list ap)
{
	static const char *const prefix[] = {"error: ", "warning: ", "", "debug: "};
	static const int syslog_level[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	if (level > threshold)
		return;
	char text[2048];
	vsnprintf(text, sizeof(text), fmt, ap);
	switch (sink) {
	case LOG_SINK_SYSLOG:
		syslog(syslog_level[level], "%s%s", prefix[level], text);
		break;
	case LOG_SINK_JOURNAL:
		fprintf(stderr, "<%d>%s%s\n", syslog_level[level], prefix[level], text);
		break;
	default:
		fprintf(stderr, "mcu-ota: %s%s\n", prefix[level], text);
	}
	pthread_mutex_lock(&tee_lock);
	if (tee)
		tee(tee_ctx, thread_tag, level, text);
	pthread_mutex_unlock(&tee_lock);
}

void log_msg(enum mcu_ota_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_msgv(level, fmt, ap);
	va_end(ap);
}
