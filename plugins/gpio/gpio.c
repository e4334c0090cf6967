/* The gpio entry plugin: puts an STM32 into its ROM bootloader by driving
 * BOOT0 and NRST through the Linux GPIO character device (v2 uapi, or v1
 * where the kernel has no v2: gpio_lines.h), and takes it back out.
 *
 * Settings (the plugin's configuration section):
 *   chip              "/dev/gpiochipN", "gpiochipN" or the chip's label
 *   boot0, nrst       a line offset (int) or a line name (string)
 *   boot0_active_low  false (default): BOOT0 is selected by a high line;
 *                     true when the board inverts it
 *   nrst_active_low   true (default): the chip is held in reset by a low
 *                     line, as NRST is wired directly; false when the line
 *                     drives a transistor that pulls NRST down
 *   nrst_open_drain   true (default): NRST is only ever pulled down, never
 *                     driven high (released as an input: the pull-up takes
 *                     it), because the chip drives it low itself (watchdog,
 *                     brown-out); false to drive it both ways (push-pull,
 *                     e.g. through an inverting transistor)
 *   reset_pulse_ms    how long NRST stays asserted (default 50; a real chip
 *                     needs ~20 us, the VM rig's model samples every 2 ms)
 *   boot_hold_ms      how long BOOT0 stays selected after NRST is released
 *                     (default 500: the ROM samples it and enumerates)
 *   uapi              "auto" (default: v2, v1 where v2 is missing), "v2"
 *                     or "v1" (gpio_chip.h)
 *
 * The levels on the lines when the plugin is done: a line request lives only
 * as long as the file descriptor, and a plugin operation must return, so the
 * lines cannot stay requested between enter and exit. What a released line
 * does depends on the GPIO driver: most keep driving the last value, some
 * (gpio-sim) fall back to the pull, a few float. The ROM samples BOOT0 only
 * when NRST is released, so once the hold is over BOOT0 is not needed any
 * more: both operations end by driving BOOT0 to its inactive level and NRST
 * deasserted (an input with open drain), the levels of the board's pull-down
 * on BOOT0 and pull-up on NRST, and only then release the lines. Whether the driver keeps driving
 * them or lets the resistors take over, no level changes on release: no
 * spurious reset, and a later reset (watchdog, power) boots the application.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gpio_chip.h"

#define PULSE_MS_MAX 10000 /* reset_pulse_ms */
#define HOLD_MS_MAX  60000 /* boot_hold_ms */

struct gpio_config {
	struct gpio_chip_ref ref;
	unsigned boot0, nrst; /* offsets */
	char boot0_name[GPIO_MAX_NAME_SIZE + 16], nrst_name[GPIO_MAX_NAME_SIZE + 16];
	bool boot0_active_low, nrst_active_low, nrst_open_drain;
	long long pulse_ms, hold_ms;
};

/* The settings configure reads (the chip's through gpio_chip_open). */
static const char *const settings[] = {GPIO_CHIP_SETTINGS, "boot0",           "nrst",
                                       "boot0_active_low", "nrst_active_low", "nrst_open_drain",
                                       "reset_pulse_ms",   "boot_hold_ms",    NULL};

/* Reads and checks every setting, opens the chip; returns its fd. */
static int configure(const struct mcu_ota_host *host, struct gpio_config *c, char *err,
                     size_t errlen)
{
	int r;

	memset(c, 0, sizeof(*c));
	c->ref.who = "gpio";
	if ((r = gpio_get_bool(host, "gpio", "boot0_active_low", false, &c->boot0_active_low, err,
	                       errlen)) < 0 ||
	    (r = gpio_get_bool(host, "gpio", "nrst_active_low", true, &c->nrst_active_low, err,
	                       errlen)) < 0 ||
	    (r = gpio_get_bool(host, "gpio", "nrst_open_drain", true, &c->nrst_open_drain, err,
	                       errlen)) < 0 ||
	    (r = gpio_get_ms(host, "gpio", "reset_pulse_ms", 50, 1, PULSE_MS_MAX, &c->pulse_ms, err,
	                     errlen)) < 0 ||
	    (r = gpio_get_ms(host, "gpio", "boot_hold_ms", 500, 0, HOLD_MS_MAX, &c->hold_ms, err,
	                     errlen)) < 0)
		return r;

	_cleanup_close_ int fd = gpio_chip_open(host, &c->ref, err, errlen);
	if (fd < 0)
		return fd;
	if ((r = gpio_chip_find_line(host, fd, &c->ref, "boot0", &c->boot0, c->boot0_name,
	                             sizeof(c->boot0_name), err, errlen)) < 0 ||
	    (r = gpio_chip_find_line(host, fd, &c->ref, "nrst", &c->nrst, c->nrst_name,
	                             sizeof(c->nrst_name), err, errlen)) < 0)
		return r;
	if (c->boot0 == c->nrst) {
		mcu_ota_set_error(err, errlen, "gpio: boot0 and nrst are the same line, %s",
		                  c->boot0_name);
		return -EINVAL;
	}
	mcu_ota_log(host, MCU_OTA_LOG_DEBUG, "gpio: %s: BOOT0 %s%s, NRST %s%s%s", c->ref.path,
	            c->boot0_name, c->boot0_active_low ? " (active low)" : "", c->nrst_name,
	            c->nrst_active_low ? "" : " (active high)",
	            c->nrst_open_drain ? ", open drain" : "");
	int ret = fd;
	fd = -1;
	return ret;
}

/* ---- the lines ---- */

/* Line 0 is BOOT0, line 1 is NRST. Values are logical: 1 = BOOT0 selected,
 * NRST asserted; the kernel applies active-low. */
enum { LINE_BOOT0, LINE_NRST };

/* How NRST is left: asserted, or deasserted either by driving it to its
 * inactive level (push-pull) or by turning the line into an input so that
 * the pull-up takes it (open drain). The open-drain release is done by hand
 * rather than with the uapi's open-drain flag (v2 GPIO_V2_LINE_FLAG_OPEN_DRAIN,
 * v1 GPIOHANDLE_REQUEST_OPEN_DRAIN): where the controller cannot do open
 * drain, gpiolib emulates the release with an input but still counts the line
 * as an output, and some drivers (gpio-sim) then keep the last driven low
 * level: the chip would stay in reset. */
enum nrst_state { NRST_ASSERTED, NRST_DEASSERTED };

static void line_states(const struct gpio_config *c, bool boot0, enum nrst_state nrst,
                        struct gpio_line_state st[2])
{
	bool nrst_input = nrst == NRST_DEASSERTED && c->nrst_open_drain;
	st[LINE_BOOT0].flags = GPIO_LINE_OUTPUT | (c->boot0_active_low ? GPIO_LINE_ACTIVE_LOW : 0);
	st[LINE_BOOT0].value = boot0;
	st[LINE_NRST].flags =
	    (nrst_input ? 0 : GPIO_LINE_OUTPUT) | (c->nrst_active_low ? GPIO_LINE_ACTIVE_LOW : 0);
	st[LINE_NRST].value = nrst == NRST_ASSERTED;
}

/* Requests both lines as outputs: BOOT0 as given, NRST asserted. */
static int request_lines(int chip_fd, const struct gpio_config *c, bool boot0, struct gpio_lines *l,
                         char *err, size_t errlen)
{
	const unsigned offsets[2] = {[LINE_BOOT0] = c->boot0, [LINE_NRST] = c->nrst};
	struct gpio_line_state st[2];
	line_states(c, boot0, NRST_ASSERTED, st);
	int r = gpio_lines_request(chip_fd, c->ref.uapi, offsets, st, 2, l);
	if (r == -EBUSY) {
		struct gpio_line_desc li[2];
		if (gpio_line_info(chip_fd, c->ref.uapi, c->boot0, &li[0]) < 0)
			li[0].consumer[0] = '\0';
		if (gpio_line_info(chip_fd, c->ref.uapi, c->nrst, &li[1]) < 0)
			li[1].consumer[0] = '\0';
		mcu_ota_set_error(err, errlen,
		                  "gpio: %s or %s is in use (consumers: \"%s\", \"%s\"); stop the "
		                  "program that holds it",
		                  c->boot0_name, c->nrst_name, li[0].consumer, li[1].consumer);
	} else if (r < 0) {
		mcu_ota_set_error(err, errlen, "gpio: cannot request %s and %s as outputs: %s",
		                  c->boot0_name, c->nrst_name, strerror(-r));
	}
	return r;
}

static int set_lines(struct gpio_lines *l, const struct gpio_config *c, bool boot0,
                     enum nrst_state nrst, char *err, size_t errlen)
{
	struct gpio_line_state st[2];
	line_states(c, boot0, nrst, st);
	int r = gpio_lines_set(l, st);
	if (r < 0)
		mcu_ota_set_error(err, errlen, "gpio: cannot set %s and %s: %s", c->boot0_name,
		                  c->nrst_name, strerror(-r));
	return r;
}

/* BOOT0 as given, NRST pulsed, BOOT0 held (when selected), then BOOT0
 * inactive and NRST deasserted before the lines are released (see the top). */
static int reset_with_boot0(const struct mcu_ota_host *host, bool rom, char *err, size_t errlen)
{
	struct gpio_config c;
	int r;

	_cleanup_close_ int chip_fd = configure(host, &c, err, errlen);
	if (chip_fd < 0)
		return chip_fd;
	_cleanup_lines_ struct gpio_lines lines = {.n = 0};
	if ((r = request_lines(chip_fd, &c, rom, &lines, err, errlen)) < 0)
		return r;
	mcu_ota_log(host, MCU_OTA_LOG_DEBUG, "gpio: NRST asserted, BOOT0 %s for %lld ms",
	            rom ? "selected" : "inactive", c.pulse_ms);
	gpio_sleep_ms(c.pulse_ms);
	if ((r = set_lines(&lines, &c, rom, NRST_DEASSERTED, err, errlen)) < 0)
		return r;
	if (rom) {
		mcu_ota_log(host, MCU_OTA_LOG_DEBUG, "gpio: NRST released, BOOT0 held for %lld ms",
		            c.hold_ms);
		gpio_sleep_ms(c.hold_ms);
		if ((r = set_lines(&lines, &c, false, NRST_DEASSERTED, err, errlen)) < 0)
			return r;
	}
	mcu_ota_log(host, MCU_OTA_LOG_DEBUG, "gpio: BOOT0 inactive, NRST released; lines released");
	return 0;
}

static int gpio_enter(const struct mcu_ota_host *host, char *err, size_t errlen)
{
	return reset_with_boot0(host, true, err, errlen);
}

static int gpio_exit(const struct mcu_ota_host *host, char *err, size_t errlen)
{
	return reset_with_boot0(host, false, err, errlen);
}

static const struct mcu_ota_entry_ops ops = {
    .size = sizeof(struct mcu_ota_entry_ops),
    .enter = gpio_enter,
    .exit = gpio_exit,
    .missing_hint = "BOOT0 or NRST wired to other lines than configured (check chip, boot0 and "
                    "nrst), a line's active-low setting wrong, or boot_hold_ms shorter than the "
                    "chip needs to start its bootloader",
    .settings = settings,
};

static const struct mcu_ota_plugin plugin = {
    .abi = MCU_OTA_PLUGIN_ABI,
    .kind = MCU_OTA_PLUGIN_ENTRY,
    .name = "gpio",
    .description = "BOOT0 and NRST through the Linux GPIO character device",
    .entry = &ops,
};

MCU_OTA_DEFINE_PLUGIN(plugin)
