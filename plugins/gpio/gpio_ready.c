/* The gpio-ready health plugin: the application is up when it drives its
 * READY line to the active level, read through the Linux GPIO character
 * device (v2 uapi).
 *
 * Settings:
 *   chip              "/dev/gpiochipN", "gpiochipN" or the chip's label
 *   ready             the line: an offset (int) or a line name (string)
 *   ready_active_low  false (default): ready is a high line
 *   bias              "none" (default: the board's resistor, the line's bias
 *                     is not touched), "pull-up" or "pull-down"
 *
 * The line is requested as an input with edge detection: the check sleeps in
 * poll() until the line changes or the deadline passes, and reads the value
 * once right after the request (an edge before it would never be reported).
 * A line cannot tell a version: expected_version is not checked. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "gpio_chip.h"

#define WHO        "gpio-ready"
#define EVENTS_MAX 16 /* edge events drained per wake-up */

struct ready_config {
	struct gpio_chip_ref ref;
	unsigned line;
	char label[GPIO_MAX_NAME_SIZE + 48];
	bool active_low;
	uint64_t bias; /* GPIO_V2_LINE_FLAG_BIAS_*, 0 = leave as it is */
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int get_bias(const struct mcu_ota_host *host, uint64_t *bias, char *err, size_t errlen)
{
	const char *s;
	int r = host->config_string(host->ctx, "bias", &s);
	*bias = 0;
	if (r == -ENOENT)
		return 0;
	if (r == 0 && strcmp(s, "none") == 0)
		return 0;
	if (r == 0 && strcmp(s, "pull-up") == 0) {
		*bias = GPIO_V2_LINE_FLAG_BIAS_PULL_UP;
		return 0;
	}
	if (r == 0 && strcmp(s, "pull-down") == 0) {
		*bias = GPIO_V2_LINE_FLAG_BIAS_PULL_DOWN;
		return 0;
	}
	mcu_ota_set_error(err, errlen,
	                  WHO ": setting bias must be \"none\", \"pull-up\" or "
	                      "\"pull-down\"");
	return -EINVAL;
}

/* Requests the line as an input with both edges; returns the line fd. */
static int request_line(int chip_fd, const struct ready_config *c, char *err, size_t errlen)
{
	struct gpio_v2_line_request req;
	memset(&req, 0, sizeof(req));
	req.offsets[0] = c->line;
	req.num_lines = 1;
	snprintf(req.consumer, sizeof(req.consumer), "%s", GPIO_CONSUMER);
	req.config.flags = GPIO_V2_LINE_FLAG_INPUT | GPIO_V2_LINE_FLAG_EDGE_RISING |
	                   GPIO_V2_LINE_FLAG_EDGE_FALLING | c->bias |
	                   (c->active_low ? GPIO_V2_LINE_FLAG_ACTIVE_LOW : 0);
	req.event_buffer_size = EVENTS_MAX;
	if (ioctl(chip_fd, GPIO_V2_GET_LINE_IOCTL, &req) < 0) {
		int r = -errno;
		if (r == -EBUSY) {
			struct gpio_v2_line_info li;
			memset(&li, 0, sizeof(li));
			li.offset = c->line;
			(void)ioctl(chip_fd, GPIO_V2_GET_LINEINFO_IOCTL, &li);
			mcu_ota_set_error(err, errlen,
			                  WHO
			                  ": the ready line %s is in use (consumer \"%s\"); stop "
			                  "the program that holds it",
			                  c->label, li.consumer);
		} else {
			mcu_ota_set_error(err, errlen,
			                  WHO ": cannot request the ready line %s as an input with "
			                      "edge events: %s",
			                  c->label, strerror(-r));
		}
		return r;
	}
	return req.fd;
}

/* 1 when the line is at its active level (the kernel applies active-low). */
static int line_active(int line_fd, const struct ready_config *c, char *err, size_t errlen)
{
	struct gpio_v2_line_values v = {.bits = 0, .mask = 1};
	if (ioctl(line_fd, GPIO_V2_LINE_GET_VALUES_IOCTL, &v) < 0) {
		int r = -errno;
		mcu_ota_set_error(err, errlen, WHO ": cannot read the ready line %s: %s", c->label,
		                  strerror(-r));
		return r;
	}
	return (v.bits & 1) != 0;
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
	_cleanup_close_ int line_fd = request_line(chip_fd, &c, err, errlen);
	if (line_fd < 0)
		return line_fd;
	mcu_ota_log(host, MCU_OTA_LOG_DEBUG, WHO ": waiting up to %u ms for %s to go %s",
	            deadline_ms, c.label, c.active_low ? "low" : "high");
	for (;;) {
		/* the value, not the events, decides: an edge may precede the request */
		if ((r = line_active(line_fd, &c, err, errlen)) != 0)
			return r < 0 ? r : 0;
		uint64_t spent = now_ms() - start;
		if (spent >= deadline_ms)
			break;
		struct pollfd p = {.fd = line_fd, .events = POLLIN};
		int n = poll(&p, 1, (int)(deadline_ms - spent));
		if (n < 0 && errno != EINTR) {
			r = -errno;
			mcu_ota_set_error(err, errlen, WHO ": waiting on the ready line %s: %s",
			                  c.label, strerror(-r));
			return r;
		}
		if (n > 0) {
			struct gpio_v2_line_event ev[EVENTS_MAX];
			if (read(line_fd, ev, sizeof(ev)) < 0 && errno != EINTR &&
			    errno != EAGAIN) {
				r = -errno;
				mcu_ota_set_error(err, errlen,
				                  WHO ": reading events of the ready line %s: %s",
				                  c.label, strerror(-r));
				return r;
			}
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
