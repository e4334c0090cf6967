/* The struct mcu_ota_host the commands hand to plugins: a small key/value
 * table as the plugin's configuration section, logging through util/log,
 * and progress drawn on the terminal. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <mcu-ota/plugin.h>

#define HOST_MAX_SETTINGS 32

struct host_setting {
	const char *key;
	enum { HOST_STRING, HOST_INT, HOST_BOOL } type;
	const char *s;
	long long i;
};

struct host {
	struct mcu_ota_host api;
	struct host_setting settings[HOST_MAX_SETTINGS];
	unsigned setting_count;
	/* progress display */
	bool tty, quiet;
	char phase[16];
	uint64_t phase_start_ns, last_draw_ns, last_done, last_total;
};

void host_init(struct host *h, bool quiet);
/* Settings keep the pointers they are given. */
void host_set_string(struct host *h, const char *key, const char *value);
void host_set_int(struct host *h, const char *key, long long value);
void host_set_bool(struct host *h, const char *key, bool value);
/* Close the progress line of the running phase. */
void host_progress_done(struct host *h);

uint64_t host_now_ns(void);
