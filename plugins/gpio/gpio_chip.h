/* Shared by the gpio entry plugin and the gpio-ready health plugin: typed
 * settings, the chip lookup (path, name or label), the choice of the uapi
 * (the "uapi" setting) and the line lookup (offset or name) over the GPIO
 * character device (v2 or v1 uapi, gpio_lines.h). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <linux/gpio.h>

#include <mcu-ota/plugin.h>

#include "gpio_lines.h"

#define GPIO_CHIP_SETTING_MAX 255 /* a path or a label */

struct gpio_chip_ref {
	const char *who;                       /* the plugin's name, first word of messages */
	char path[GPIO_CHIP_SETTING_MAX + 16]; /* the chip's device node */
	char chip[GPIO_MAX_NAME_SIZE];         /* its name, for messages */
	struct gpiochip_info info;
	enum gpio_uapi uapi; /* resolved by gpio_chip_open: V2 or V1 */
};

void gpio_close_fd(int *fd);
#define _cleanup_close_ __attribute__((cleanup(gpio_close_fd)))

void gpio_sleep_ms(long long ms);

/* An optional bool setting; def when unset. */
__attribute__((warn_unused_result)) int gpio_get_bool(const struct mcu_ota_host *host,
                                                      const char *who, const char *key, bool def,
                                                      bool *out, char *err, size_t errlen);

/* An optional number of milliseconds within [min, max]; def when unset. */
__attribute__((warn_unused_result)) int gpio_get_ms(const struct mcu_ota_host *host,
                                                    const char *who, const char *key, long long def,
                                                    long long min, long long max, long long *out,
                                                    char *err, size_t errlen);

/* Opens the chip named by the "chip" setting: a path, a name under /dev, or a
 * label matched against every /dev/gpiochip*, and picks the uapi of the
 * "uapi" setting ("auto", the default: v2, or v1 where the kernel has no v2;
 * "v2"; "v1") that the chip answers. Fills ref (who must be set); returns the
 * chip's fd or a negative errno. */
__attribute__((warn_unused_result)) int gpio_chip_open(const struct mcu_ota_host *host,
                                                       struct gpio_chip_ref *ref, char *err,
                                                       size_t errlen);
/* The settings gpio_chip_open reads, for the plugins' settings lists. */
#define GPIO_CHIP_SETTINGS "chip", "uapi"

/* Resolves setting key (a line offset or a line name) to an offset of the
 * chip; label gets "NAME (gpiochipN line K)" or "gpiochipN line K". */
__attribute__((warn_unused_result)) int gpio_chip_find_line(const struct mcu_ota_host *host, int fd,
                                                            const struct gpio_chip_ref *ref,
                                                            const char *key, unsigned *offset,
                                                            char *label, size_t labellen, char *err,
                                                            size_t errlen);
