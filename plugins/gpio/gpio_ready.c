/* The gpio-ready health plugin: the application is up when it drives its
 * READY line to the active level, read through the Linux GPIO character
 * device (v2 uapi, or v1 where the kernel has no v2: gpio_lines.h).
 *
 * Settings:
 *   chip              "/dev/gpiochipN", "gpiochipN" or the chip's label
 *   ready             the line: an offset (int) or a line name (string)
 *   ready_active_low  false (default): ready is a high line
 *   bias              "none" (default: the board's resistor, the line's bias
 *                     is not touched), "pull-up" or "pull-down" (v1 uapi:
 *                     Linux 5.5 or later)
 *   uapi              "auto" (default: v2, v1 where v2 is missing), "v2"
 *                     or "v1" (gpio_chip.h)
 *
 * The line is requested as an input with edge detection: the check sleeps in
 * poll() until the line changes or the deadline passes, and reads the value
 * once right after the request (an edge before it would never be reported).
 * A line cannot tell a version: expected_version is not checked. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gpio_chip.h"

#define WHO "gpio-ready"

struct ready_config {
	struct gpio_chip_ref ref;
	unsigned line;
	char label[GPIO_MAX_NAME_SIZE + 48];
	bool active_low;
	unsigned bias; /* GPIO_LINE_BIAS_*, 0 = leave as it is */
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The settings ready_check reads (the chip's through gpio_chip_open). */
static const char *const settings[] = {GPIO_CHIP_SETTINGS, "ready", "ready_active_low", "bias",
                                       NULL};

static int get_bias(const struct mcu_ota_host *host, unsigned *bias, char *err, size_t errlen)
{
	const char *s;
	int r = host->config_string(host->ctx, "bias", &s);
	*bias = 0;
	if (r == -ENOENT)
		return 0;
	if (r == 0 && strcmp(s, "none") == 0)
		return 0;
	if (r == 0 && strcmp(s, "pull-up") == 0) {
		*bias = GPIO_LINE_BIAS_PULL_UP;
		return 0;
	}
	if (r == 0 && strcmp(s, "pull-down") == 0) {
		*bias = GPIO_LINE_BIAS_PULL_DOWN;
		return 0;
	}
	mcu_ota_set_error(err, errlen,
	                  WHO ": setting bias must be \"none\", \"pull-up\" or "
	                      "\"pull-down\"");
	return -EINVAL;
}

/* Requests the line as an input with both edges. */
static int request_line(int chip_fd, const struct ready_config *c, struct gpio_lines *l, char *err,
                        size_t errlen)
{
	const struct gpio_line_state st = {
	    .flags = GPIO_LINE_EDGES | c->bias | (c->active_low ? GPIO_LINE_ACTIVE_LOW : 0),
	};
	int r = gpio_lines_request(chip_fd, c->ref.uapi, &c->line, &st, 1, l);
	if (r == -EBUSY) {
		struct gpio_line_desc li;
		if (gpio_line_info(chip_fd, c->ref.uapi, c->line, &li) < 0)
			li.consumer[0] = '\0';
		mcu_ota_set_error(err, errlen,
		                  WHO ": the ready line %s is in use (consumer \"%s\"); stop the "
		                      "program that holds it",
		                  c->label, li.consumer);
	} else if (r == -EINVAL && c->bias && c->ref.uapi == GPIO_UAPI_V1) {
		mcu_ota_set_error(
		    err, errlen,
		    WHO ": cannot request the ready line %s with bias %s: the GPIO v1 "
		        "uapi of this kernel has no bias (Linux 5.5 or later); set "
		        "bias = \"none\" and use the board's resistor",
		    c->label, c->bias == GPIO_LINE_BIAS_PULL_UP ? "pull-up" : "pull-down");
	} else if (r < 0) {
		mcu_ota_set_error(err, errlen,
		                  WHO ": cannot request the ready line %s as an input with "
		                      "edge events: %s",
		                  c->label, strerror(-r));
	}
	return r;
}

/* 1 when the line is at its active level (the kernel applies active-low). */
static int line_active(struct gpio_lines *l, const struct ready_config *c, char *err, size_t errlen)
{
	uint32_t bits;
	int r = gpio_lines_get(l, &bits);
	if (r < 0) {
		mcu_ota_set_error(err, errlen, WHO ": cannot read the ready line %s: %s", c->label,
		                  strerror(-r));
		return r;
	}
	return (bits & 1) != 0;
}

static int ready_check(const struct mcu_ota_host *host, const char *expected_version,
                       unsigned deadline_ms, char *err, size_t errlen)
{
	struct ready_config c;
	int r;

	memset(&c, 0, sizeof(c));
	c.ref.who = WHO;
	if ((r = gpio_get_bool(host, WHO, "ready_active_low", false, &c.active_low, err, errlen)) <
	        0 ||
	    (r = get_bias(host, &c.bias, err, errlen)) < 0)
		return r;
	_cleanup_close_ int chip_fd = gpio_chip_open(host, &c.ref, err, errlen);
	if (chip_fd < 0)
		return chip_fd;
	if ((r = gpio_chip_find_line(host, chip_fd, &c.ref, "ready", &c.line, c.label,
	                             sizeof(c.label), err, errlen)) < 0)
		return r;
	if (expected_version)
		mcu_ota_log(host, MCU_OTA_LOG_DEBUG,
		            WHO ": a line cannot report a version; %s is not checked",
		            expected_version);

	uint64_t start = now_ms();
	_cleanup_lines_ struct gpio_lines line = {.n = 0};
	if ((r = request_line(chip_fd, &c, &line, err, errlen)) < 0)
		return r;
	mcu_ota_log(host, MCU_OTA_LOG_DEBUG, WHO ": waiting up to %u ms for %s to go %s",
	            deadline_ms, c.label, c.active_low ? "low" : "high");
	for (;;) {
		/* the value, not the events, decides: an edge may precede the request */
		if ((r = line_active(&line, &c, err, errlen)) != 0)
			return r < 0 ? r : 0;
		uint64_t spent = now_ms() - start;
		if (spent >= deadline_ms)
			break;
		if ((r = gpio_lines_wait(&line, (int)(deadline_ms - spent))) < 0) {
			mcu_ota_set_error(err, errlen, WHO ": waiting on the ready line %s: %s",
			                  c.label, strerror(-r));
			return r;
		}
	}
	mcu_ota_set_error(err, errlen,
	                  WHO ": the ready line %s stayed inactive for %u ms: the application did "
	                      "not signal ready, or the line is wired elsewhere",
	                  c.label, deadline_ms);
	return -ETIMEDOUT;
}

static const struct mcu_ota_health_ops ops = {
    .size = sizeof(struct mcu_ota_health_ops),
    .check = ready_check,
    .settings = settings,
};

static const struct mcu_ota_plugin plugin = {
    .abi = MCU_OTA_PLUGIN_ABI,
    .kind = MCU_OTA_PLUGIN_HEALTH,
    .name = "gpio-ready",
    .description = "the application drives a READY line (GPIO character device) within the "
                   "deadline",
    .health = &ops,
};

MCU_OTA_DEFINE_PLUGIN(plugin)
