/* Requesting, driving, reading and waiting on GPIO lines over the Linux GPIO
 * character device, with two backends behind one small interface: the v2
 * uapi (Linux 5.10+) and the v1 uapi (older kernels; gone from kernels built
 * without CONFIG_GPIO_CDEV_V1). The plugins describe each line's wanted state
 * (direction, active-low, bias, edges, value) and never touch an ioctl.
 *
 * These functions return 0 or a negative errno and write no message: the
 * plugins know which chip, line and consumer to name. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define GPIO_CONSUMER  "mcu-ota"
#define GPIO_LINES_MAX 2  /* lines in one request (BOOT0 + NRST) */
#define GPIO_NAME_MAX  32 /* a line's name or consumer, NUL included (both uapis) */

enum gpio_uapi {
	GPIO_UAPI_AUTO, /* the setting's default: v2, v1 where v2 is missing */
	GPIO_UAPI_V2,
	GPIO_UAPI_V1,
};

/* What a line should be; an input ignores value. */
#define GPIO_LINE_OUTPUT         (1u << 0) /* otherwise an input */
#define GPIO_LINE_ACTIVE_LOW     (1u << 1) /* values are logical; the kernel inverts */
#define GPIO_LINE_BIAS_PULL_UP   (1u << 2)
#define GPIO_LINE_BIAS_PULL_DOWN (1u << 3)
#define GPIO_LINE_EDGES          (1u << 4) /* an input reporting both edges (gpio_lines_wait) */
#define GPIO_LINE_BIAS           (GPIO_LINE_BIAS_PULL_UP | GPIO_LINE_BIAS_PULL_DOWN)

struct gpio_line_state {
	unsigned flags; /* GPIO_LINE_* */
	bool value;     /* logical (active) level of an output */
};

struct gpio_line_desc {
	char name[GPIO_NAME_MAX];
	char consumer[GPIO_NAME_MAX];
	bool used; /* requested by someone (a program or the kernel) */
};

/* Requested lines. v2: one request holds them all (fd[0]); v1: one handle or
 * event fd per line, since a v1 request has one set of flags for all its
 * lines and BOOT0 and NRST differ. */
struct gpio_lines {
	enum gpio_uapi uapi;
	unsigned n;
	unsigned offsets[GPIO_LINES_MAX];
	struct gpio_line_state state[GPIO_LINES_MAX]; /* as last applied */
	int fd[GPIO_LINES_MAX];
	int chip_fd; /* borrowed: v1 re-requests a line where it cannot reconfigure it */
};

const char *gpio_uapi_name(enum gpio_uapi uapi);

/* The uapi to use on the chip: uapi itself when the chip answers it, the
 * first that answers for GPIO_UAPI_AUTO (v2, then v1); -ENOTTY when it (or
 * neither) does. lines is the chip's line count (the probe reads line 0). */
__attribute__((warn_unused_result)) int
gpio_uapi_resolve(int chip_fd, unsigned lines, enum gpio_uapi uapi, enum gpio_uapi *resolved);

/* The name, consumer and use of a line. */
__attribute__((warn_unused_result)) int gpio_line_info(int chip_fd, enum gpio_uapi uapi,
                                                       unsigned offset, struct gpio_line_desc *d);

/* Requests n lines (uapi resolved: V2 or V1) in the given states, as consumer
 * GPIO_CONSUMER; -EBUSY when one is in use. On failure nothing stays
 * requested. Every line is checked to be free first: the kernel requests and
 * drives the lines one by one (v2 too), so a busy second line would leave the
 * first driven and released. */
__attribute__((warn_unused_result)) int gpio_lines_request(int chip_fd, enum gpio_uapi uapi,
                                                           const unsigned *offsets,
                                                           const struct gpio_line_state *state,
                                                           unsigned n, struct gpio_lines *l);

/* Moves every line to its new state (direction, flags, value). v2 changes
 * them all at once; v1 line by line, in order. */
__attribute__((warn_unused_result)) int gpio_lines_set(struct gpio_lines *l,
                                                       const struct gpio_line_state *state);

/* The logical values: bit i for line i. */
__attribute__((warn_unused_result)) int gpio_lines_get(struct gpio_lines *l, uint32_t *bits);

/* Sleeps until an edge on a GPIO_LINE_EDGES line or timeout_ms, draining the
 * events (the caller reads the values again): 1 woken, 0 timed out. */
__attribute__((warn_unused_result)) int gpio_lines_wait(struct gpio_lines *l, int timeout_ms);

/* Releases the lines (NULL-safe, idempotent; a zeroed struct holds none). */
void gpio_lines_release(struct gpio_lines *l);
#define _cleanup_lines_ __attribute__((cleanup(gpio_lines_release)))
