/* file-health: the worked example of docs/plugin-sdk.md, a health plugin.
 *
 * The application counts as up when a file exists whose first line is the version it runs:
 * whatever on the gateway hears from the application (a supervisor, a udev rule, a serial
 * reader) writes that file. The plugin waits for it until the engine's deadline, and when the
 * engine knows which version it installed, the file must name that version.
 *
 * Settings (the device's health section):
 *   path           the file (string, required)
 *   poll_ms        how often to look (integer, 10 to 10000, default 100)
 *   check_version  compare the first line with the installed version (boolean, default true)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <mcu-ota/cleanup.h> /* _cleanup_(fclosep): closed on every return */
#include <mcu-ota/plugin.h>

#define POLL_MS_DEFAULT 100
#define POLL_MS_MIN     10
#define POLL_MS_MAX     10000

/* Every setting the plugin reads: the agent refuses any other in the section (a typo). */
static const char *const settings[] = {"path", "poll_ms", "check_version", NULL};

struct options {
	const char *path; /* the host's string: valid until check returns */
	long long poll_ms;
	bool check_version;
};

static int read_options(const struct mcu_ota_host *host, struct options *o, char *err,
                        size_t errlen)
{
	int r = host->config_string(host->ctx, "path", &o->path);
	if (r < 0) {
		mcu_ota_set_error(err, errlen,
		                  r == -ENOENT
		                      ? "file-health: set path, the file the application's "
		                        "version is written to when it is up"
		                      : "file-health: path must be a string");
		return -EINVAL;
	}
	o->poll_ms = POLL_MS_DEFAULT;
	r = host->config_int(host->ctx, "poll_ms", &o->poll_ms);
	if (r == -EINVAL || o->poll_ms < POLL_MS_MIN || o->poll_ms > POLL_MS_MAX) {
		mcu_ota_set_error(err, errlen,
		                  "file-health: poll_ms must be a number from %d to %d",
		                  POLL_MS_MIN, POLL_MS_MAX);
		return -EINVAL;
	}
	o->check_version = true;
	if (host->config_bool(host->ctx, "check_version", &o->check_version) == -EINVAL) {
		mcu_ota_set_error(err, errlen, "file-health: check_version must be true or false");
		return -EINVAL;
	}
	return 0;
}

/* The first line of path without its line end: 1 when the file is there, 0 when it is not
 * (yet), a negative errno when it cannot be read. */
static int first_line(const char *path, char *line, size_t size)
{
	_cleanup_(fclosep) FILE *f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (!fgets(line, (int)size, f))
		line[0] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	return 1;
}

static unsigned long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned long long ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
	                      .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int file_health_check(const struct mcu_ota_host *host, const char *expected_version,
                             unsigned deadline_ms, char *err, size_t errlen)
{
	struct options o;
	int r = read_options(host, &o, err, errlen);
	if (r < 0)
		return r;
	bool want = o.check_version && expected_version;
	unsigned long long end = now_ms() + deadline_ms;
	char line[128] = "";
	mcu_ota_log(host, MCU_OTA_LOG_DEBUG, "file-health: waiting for %s%s%s", o.path,
	            want ? " to say " : "", want ? expected_version : "");
	for (;;) {
		r = first_line(o.path, line, sizeof(line));
		if (r < 0) {
			mcu_ota_set_error(err, errlen, "file-health: cannot read %s: %s", o.path,
			                  strerror(-r));
			return r;
		}
		/* a file with another version may still be the old application's: wait on */
		if (r == 1 && (!want || strcmp(line, expected_version) == 0)) {
			mcu_ota_log(host, MCU_OTA_LOG_INFO, "file-health: %s says %s", o.path,
			            line[0] ? line : "nothing (no version)");
			return 0;
		}
		unsigned long long now = now_ms();
		if (now >= end)
			break;
		sleep_ms(end - now < (unsigned long long)o.poll_ms ? end - now
		                                                   : (unsigned long long)o.poll_ms);
	}
	if (r == 0) {
		mcu_ota_set_error(
		    err, errlen,
		    "file-health: %s did not appear within %u ms: the application did "
		    "not come up, or nothing writes the file",
		    o.path, deadline_ms);
		return -ETIMEDOUT;
	}
	mcu_ota_set_error(err, errlen, "file-health: %s says \"%s\", expected %s", o.path, line,
	                  expected_version);
	return -EBADMSG;
}

static const struct mcu_ota_health_ops ops = {
    .size = sizeof(struct mcu_ota_health_ops),
    .check = file_health_check,
    .settings = settings,
};

static const struct mcu_ota_plugin plugin = {
    .abi = MCU_OTA_PLUGIN_ABI,
    .kind = MCU_OTA_PLUGIN_HEALTH,
    .name = "file-health",
    .description = "the application is up when a file names the version it runs",
    .health = &ops,
};

MCU_OTA_DEFINE_PLUGIN(plugin)
