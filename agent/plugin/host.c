#include "plugin/host.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/format.h"
#include "util/log.h"

uint64_t host_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const struct host_setting *find(struct host *h, const char *key)
{
	for (unsigned i = 0; i < h->setting_count; i++)
		if (strcmp(h->settings[i].key, key) == 0)
			return &h->settings[i];
	return NULL;
}

static int get_string(void *ctx, const char *key, const char **value)
{
	const struct host_setting *s = find(ctx, key);
	if (!s)
		return -ENOENT;
	if (s->type != HOST_STRING)
		return -EINVAL;
	*value = s->s;
	return 0;
}

static int get_int(void *ctx, const char *key, long long *value)
{
	const struct host_setting *s = find(ctx, key);
	if (!s)
		return -ENOENT;
	if (s->type != HOST_INT)
		return -EINVAL;
	*value = s->i;
	return 0;
}

static int get_bool(void *ctx, const char *key, bool *value)
{
	const struct host_setting *s = find(ctx, key);
	if (!s)
		return -ENOENT;
	if (s->type != HOST_BOOL)
		return -EINVAL;
	*value = s->i != 0;
	return 0;
}

static MCU_OTA_PRINTF(3, 0) void host_log(void *ctx, enum mcu_ota_log_level level, const char *fmt,
                                          va_list ap)
{
	struct host *h = ctx;
	if (h->tty && h->phase[0] && level <= log_get_level())
		fputc('\n', stderr); /* do not write over a progress line */
	log_msgv(level, fmt, ap);
}

static void draw(struct host *h, uint64_t now)
{
	char done[32], total[32];
	double secs = (double)(now - h->phase_start_ns) / 1e9;
	double rate = secs > 0 ? (double)h->last_done / secs / 1024.0 : 0;
	format_size(h->last_done, done, sizeof(done));
	format_size(h->last_total, total, sizeof(total));
	unsigned pct = h->last_total ? (unsigned)(h->last_done * 100 / h->last_total) : 0;
	fprintf(stderr, "%s%-7s %10s / %-10s %3u%%  %7.1f KiB/s  %5.1f s", h->tty ? "\r" : "",
	        h->phase, done, total, pct, rate, secs);
	fprintf(stderr, h->tty ? "\033[K" : "\n");
	fflush(stderr);
}

static void host_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
	struct host *h = ctx;
	uint64_t now = host_now_ns();
	if (h->quiet)
		return;
	if (strncmp(h->phase, phase, sizeof(h->phase) - 1) != 0) {
		host_progress_done(h);
		snprintf(h->phase, sizeof(h->phase), "%s", phase);
		h->phase_start_ns = now;
		h->last_draw_ns = 0;
	}
	h->last_done = done;
	h->last_total = total;
	/* On a terminal redraw ten times a second; in a log, one line per phase. */
	if (h->tty && now - h->last_draw_ns >= 100000000u) {
		draw(h, now);
		h->last_draw_ns = now;
	}
}

void host_progress_done(struct host *h)
{
	if (!h->phase[0])
		return;
	if (h->last_total || h->last_done) {
		draw(h, host_now_ns());
		if (h->tty)
			fputc('\n', stderr);
	}
	h->phase[0] = '\0';
}

void host_init(struct host *h, bool quiet)
{
	memset(h, 0, sizeof(*h));
	h->api = (struct mcu_ota_host){
	    .size = sizeof(struct mcu_ota_host),
	    .ctx = h,
	    .log = host_log,
	    .progress = host_progress,
	    .config_string = get_string,
	    .config_int = get_int,
	    .config_bool = get_bool,
	};
	h->quiet = quiet;
	h->tty = isatty(STDERR_FILENO);
}

static struct host_setting *add(struct host *h, const char *key)
{
	for (unsigned i = 0; i < h->setting_count; i++)
		if (strcmp(h->settings[i].key, key) == 0)
			return &h->settings[i];
	if (h->setting_count == HOST_MAX_SETTINGS)
		return NULL;
	h->settings[h->setting_count].key = key;
	return &h->settings[h->setting_count++];
}

void host_set_string(struct host *h, const char *key, const char *value)
{
	struct host_setting *s = add(h, key);
	if (s) {
		s->type = HOST_STRING;
		s->s = value;
	}
}

void host_set_int(struct host *h, const char *key, long long value)
{
	struct host_setting *s = add(h, key);
	if (s) {
		s->type = HOST_INT;
		s->i = value;
	}
}

void host_set_bool(struct host *h, const char *key, bool value)
{
	struct host_setting *s = add(h, key);
	if (s) {
		s->type = HOST_BOOL;
		s->i = value;
	}
}
