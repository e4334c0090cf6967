/* The gpio entry plugin: puts an STM32 into its ROM bootloader by driving
 * BOOT0 and NRST through the Linux GPIO character device (v2 uapi), and
 * takes it back out.
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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/gpio.h>

#include <mcu-ota/plugin.h>

#define CHIP_SETTING_MAX 255   /* a path or a label */
#define LINE_COUNT_MAX   4096  /* lines looked at for a name */
#define CHIP_COUNT_MAX   256   /* /dev/gpiochip* looked at for a label */
#define PULSE_MS_MAX     10000 /* reset_pulse_ms */
#define HOLD_MS_MAX      60000 /* boot_hold_ms */
#define CONSUMER         "mcu-ota"

struct gpio_config {
	char path[CHIP_SETTING_MAX + 16]; /* the chip's device node */
	char chip[GPIO_MAX_NAME_SIZE];    /* its name, for messages */
	unsigned boot0, nrst;             /* offsets */
	char boot0_name[GPIO_MAX_NAME_SIZE + 16], nrst_name[GPIO_MAX_NAME_SIZE + 16];
	bool boot0_active_low, nrst_active_low, nrst_open_drain;
	long long pulse_ms, hold_ms;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_close_ __attribute__((cleanup(close_fd)))

static void close_dir(DIR **d)
{
	if (*d)
		closedir(*d);
}

static void sleep_ms(long long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- settings ---- */

static int get_bool(const struct mcu_ota_host *host, const char *key, bool def, bool *out,
                    char *err, size_t errlen)
{
	int r = host->config_bool(host->ctx, key, out);
	if (r == -ENOENT) {
		*out = def;
		return 0;
	}
	if (r < 0)
		snprintf(err, errlen, "gpio: setting %s must be true or false", key);
	return r;
}

static int get_ms(const struct mcu_ota_host *host, const char *key, long long def, long long min,
                  long long max, long long *out, char *err, size_t errlen)
{
	int r = host->config_int(host->ctx, key, out);
	if (r == -ENOENT) {
		*out = def;
		return 0;
	}
	if (r < 0 || *out < min || *out > max) {
		snprintf(err, errlen,
		         "gpio: setting %s must be a number of milliseconds from %lld to %lld", key,
		         min, max);
		return -EINVAL;
	}
	return 0;
}

/* Opens the chip named by the "chip" setting: a path, a name under /dev, or a
 * label matched against every /dev/gpiochip*. */
static int open_chip(const struct mcu_ota_host *host, struct gpio_config *c,
                     struct gpiochip_info *info, char *err, size_t errlen)
{
	const char *chip;
	int r = host->config_string(host->ctx, "chip", &chip);
	if (r == -ENOENT) {
		snprintf(err, errlen,
		         "gpio: no chip set (a path like /dev/gpiochip0, a name or a label)");
		return -EINVAL;
	}
	if (r < 0 || !*chip || strlen(chip) > CHIP_SETTING_MAX) {
		snprintf(err, errlen,
		         "gpio: setting chip must be a path, a chip name or a label "
		         "(text, at most %d characters)",
		         CHIP_SETTING_MAX);
		return -EINVAL;
	}

	if (chip[0] == '/' || strncmp(chip, "gpiochip", 8) == 0) {
		if (chip[0] == '/')
			snprintf(c->path, sizeof(c->path), "%s", chip);
		else
			snprintf(c->path, sizeof(c->path), "/dev/%s", chip);
		int fd = open(c->path, O_RDWR | O_CLOEXEC);
		if (fd >= 0 || chip[0] == '/') {
			if (fd < 0) {
				r = -errno;
				snprintf(err, errlen, "gpio: cannot open %s: %s", c->path,
				         strerror(-r));
				return r;
			}
			if (ioctl(fd, GPIO_GET_CHIPINFO_IOCTL, info) < 0) {
				r = -errno;
				snprintf(err, errlen, "gpio: %s is not a GPIO chip: %s", c->path,
				         strerror(-r));
				close(fd);
				return r;
			}
			snprintf(c->chip, sizeof(c->chip), "%s", info->name);
			return fd;
		}
		/* "gpiochipN" that does not exist may still be a label */
	}

	/* a label: exactly one chip must carry it */
	__attribute__((cleanup(close_dir))) DIR *d = opendir("/dev");
	if (!d) {
		r = -errno;
		snprintf(err, errlen, "gpio: cannot list /dev: %s", strerror(-r));
		return r;
	}
	char seen[512] = "";
	size_t seen_len = 0;
	unsigned chips = 0, matches = 0;
	int found = -1;
	struct dirent *e;
	while ((e = readdir(d)) && chips < CHIP_COUNT_MAX) {
		if (strncmp(e->d_name, "gpiochip", 8) != 0)
			continue;
		char path[256];
		snprintf(path, sizeof(path), "/dev/%.200s", e->d_name);
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct gpiochip_info ci;
		memset(&ci, 0, sizeof(ci));
		if (ioctl(fd, GPIO_GET_CHIPINFO_IOCTL, &ci) < 0) {
			close(fd);
			continue;
		}
		chips++;
		if (seen_len < sizeof(seen))
			seen_len += (size_t)snprintf(seen + seen_len, sizeof(seen) - seen_len,
			                             "%s%s \"%s\"", seen_len ? ", " : "", ci.name,
			                             ci.label);
		if (strcmp(ci.label, chip) != 0) {
			close(fd);
			continue;
		}
		if (++matches > 1) {
			close(fd);
			continue;
		}
		found = fd;
		*info = ci;
		snprintf(c->path, sizeof(c->path), "%s", path);
		snprintf(c->chip, sizeof(c->chip), "%s", ci.name);
	}
	if (matches > 1) {
		close(found);
		snprintf(err, errlen,
		         "gpio: %u GPIO chips are labelled \"%s\"; set chip to a path (%s)",
		         matches, chip, seen);
		return -ENOTUNIQ;
	}
	if (found < 0) {
		snprintf(err, errlen, "gpio: no GPIO chip named or labelled \"%s\" (chips: %s)",
		         chip, chips ? seen : "none; is the driver loaded?");
		return -ENODEV;
	}
	return found;
}

/* The lines of the chip as "0 BOOT0, 1 NRST, ...", for messages. */
static void list_lines(int fd, const struct gpiochip_info *info, char *out, size_t outlen)
{
	size_t n = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < info->lines && i < LINE_COUNT_MAX && n < outlen; i++) {
		struct gpio_v2_line_info li;
		memset(&li, 0, sizeof(li));
		li.offset = i;
		if (ioctl(fd, GPIO_V2_GET_LINEINFO_IOCTL, &li) < 0)
			continue;
		n += (size_t)snprintf(out + n, outlen - n, "%s%u %s", n ? ", " : "", i,
		                      li.name[0] ? li.name : "(unnamed)");
	}
}

/* Resolves setting key (an offset or a line name) to an offset of the chip. */
static int find_line(const struct mcu_ota_host *host, int fd, const struct gpio_config *c,
                     const struct gpiochip_info *info, const char *key, unsigned *offset,
                     char *label, size_t labellen, char *err, size_t errlen)
{
	char lines[200];
	long long n;
	int r = host->config_int(host->ctx, key, &n);
	if (r == 0) {
		if (n < 0 || n >= info->lines) {
			list_lines(fd, info, lines, sizeof(lines));
			snprintf(err, errlen,
			         "gpio: %s line %lld is not on %s, which has %u lines (%s)", key, n,
			         c->chip, info->lines, lines);
			return -EINVAL;
		}
		*offset = (unsigned)n;
		snprintf(label, labellen, "%s line %u", c->chip, *offset);
		return 0;
	}
	if (r == -ENOENT) {
		snprintf(err, errlen, "gpio: no %s line set (a line offset or a line name of %s)",
		         key, c->chip);
		return -EINVAL;
	}
	const char *name;
	r = host->config_string(host->ctx, key, &name);
	if (r < 0 || !*name || strlen(name) >= GPIO_MAX_NAME_SIZE) {
		snprintf(err, errlen,
		         "gpio: setting %s must be a line offset or a line name (at most %d "
		         "characters)",
		         key, GPIO_MAX_NAME_SIZE - 1);
		return -EINVAL;
	}
	unsigned matches = 0;
	for (unsigned i = 0; i < info->lines && i < LINE_COUNT_MAX; i++) {
		struct gpio_v2_line_info li;
		memset(&li, 0, sizeof(li));
		li.offset = i;
		if (ioctl(fd, GPIO_V2_GET_LINEINFO_IOCTL, &li) < 0) {
			r = -errno;
			snprintf(err, errlen, "gpio: cannot read line %u of %s: %s", i, c->chip,
			         strerror(-r));
			return r;
		}
		if (strcmp(li.name, name) == 0 && matches++ == 0)
			*offset = i;
	}
	if (matches == 0) {
		list_lines(fd, info, lines, sizeof(lines));
		snprintf(err, errlen, "gpio: no line named %s on %s (%s) for %s (lines: %s)", name,
		         c->chip, c->path, key, lines);
		return -ENOENT;
	}
	if (matches > 1) {
		snprintf(err, errlen, "gpio: %u lines of %s are named %s; set %s to an offset",
		         matches, c->chip, name, key);
		return -ENOTUNIQ;
	}
	snprintf(label, labellen, "%s (%s line %u)", name, c->chip, *offset);
	return 0;
}

/* Reads and checks every setting, opens the chip; returns its fd. */
static int configure(const struct mcu_ota_host *host, struct gpio_config *c, char *err,
                     size_t errlen)
{
	struct gpiochip_info info;
	int r;

	memset(c, 0, sizeof(*c));
	memset(&info, 0, sizeof(info));
	if ((r = get_bool(host, "boot0_active_low", false, &c->boot0_active_low, err, errlen)) <
	        0 ||
	    (r = get_bool(host, "nrst_active_low", true, &c->nrst_active_low, err, errlen)) < 0 ||
	    (r = get_bool(host, "nrst_open_drain", true, &c->nrst_open_drain, err, errlen)) < 0 ||
	    (r = get_ms(host, "reset_pulse_ms", 50, 1, PULSE_MS_MAX, &c->pulse_ms, err, errlen)) <
	        0 ||
	    (r = get_ms(host, "boot_hold_ms", 500, 0, HOLD_MS_MAX, &c->hold_ms, err, errlen)) < 0)
		return r;

	_cleanup_close_ int fd = open_chip(host, c, &info, err, errlen);
	if (fd < 0)
		return fd;
	if ((r = find_line(host, fd, c, &info, "boot0", &c->boot0, c->boot0_name,
	                   sizeof(c->boot0_name), err, errlen)) < 0 ||
	    (r = find_line(host, fd, c, &info, "nrst", &c->nrst, c->nrst_name, sizeof(c->nrst_name),
	                   err, errlen)) < 0)
		return r;
	if (c->boot0 == c->nrst) {
		snprintf(err, errlen, "gpio: boot0 and nrst are the same line, %s", c->boot0_name);
		return -EINVAL;
	}
	mcu_ota_log(host, MCU_OTA_LOG_DEBUG, "gpio: %s: BOOT0 %s%s, NRST %s%s%s", c->path,
	            c->boot0_name, c->boot0_active_low ? " (active low)" : "", c->nrst_name,
	            c->nrst_active_low ? "" : " (active high)",
	            c->nrst_open_drain ? ", open drain" : "");
	int ret = fd;
	fd = -1;
	return ret;
}

/* ---- the lines ---- */

/* Bits of the request: line 0 is BOOT0, line 1 is NRST. Values are logical:
 * 1 = BOOT0 selected, NRST asserted; the kernel applies active-low. */
#define BIT_BOOT0 1u
#define BIT_NRST  2u

/* How NRST is left: asserted, or deasserted either by driving it to its
 * inactive level (push-pull) or by turning the line into an input so that
 * the pull-up takes it (open drain). The open-drain release is done by hand
 * rather than with GPIO_V2_LINE_FLAG_OPEN_DRAIN: where the controller cannot
 * do open drain, gpiolib emulates the release with an input but still counts
 * the line as an output, and some drivers (gpio-sim) then keep the last
 * driven low level: the chip would stay in reset. */
enum nrst_state { NRST_ASSERTED, NRST_DEASSERTED };

static void line_config(const struct gpio_config *c, bool boot0, enum nrst_state nrst,
                        struct gpio_v2_line_config *lc)
{
	bool nrst_input = nrst == NRST_DEASSERTED && c->nrst_open_drain;
	memset(lc, 0, sizeof(*lc));
	lc->flags = GPIO_V2_LINE_FLAG_OUTPUT;
	lc->num_attrs = 3;
	lc->attrs[0].attr.id = GPIO_V2_LINE_ATTR_ID_FLAGS;
	lc->attrs[0].attr.flags =
	    GPIO_V2_LINE_FLAG_OUTPUT | (c->boot0_active_low ? GPIO_V2_LINE_FLAG_ACTIVE_LOW : 0);
	lc->attrs[0].mask = BIT_BOOT0;
	lc->attrs[1].attr.id = GPIO_V2_LINE_ATTR_ID_FLAGS;
	lc->attrs[1].attr.flags =
	    (nrst_input ? GPIO_V2_LINE_FLAG_INPUT : GPIO_V2_LINE_FLAG_OUTPUT) |
	    (c->nrst_active_low ? GPIO_V2_LINE_FLAG_ACTIVE_LOW : 0);
	lc->attrs[1].mask = BIT_NRST;
	lc->attrs[2].attr.id = GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES;
	lc->attrs[2].attr.values = (boot0 ? BIT_BOOT0 : 0) | (nrst == NRST_ASSERTED ? BIT_NRST : 0);
	lc->attrs[2].mask = nrst_input ? BIT_BOOT0 : BIT_BOOT0 | BIT_NRST;
}

/* Requests both lines as outputs: BOOT0 as given, NRST asserted. */
static int request_lines(int chip_fd, const struct gpio_config *c, bool boot0, char *err,
                         size_t errlen)
{
	struct gpio_v2_line_request req;
	memset(&req, 0, sizeof(req));
	req.offsets[0] = c->boot0;
	req.offsets[1] = c->nrst;
	req.num_lines = 2;
	snprintf(req.consumer, sizeof(req.consumer), "%s", CONSUMER);
	line_config(c, boot0, NRST_ASSERTED, &req.config);

	if (ioctl(chip_fd, GPIO_V2_GET_LINE_IOCTL, &req) < 0) {
		int r = -errno;
		if (r == -EBUSY) {
			struct gpio_v2_line_info li[2];
			memset(li, 0, sizeof(li));
			li[0].offset = c->boot0;
			li[1].offset = c->nrst;
			(void)ioctl(chip_fd, GPIO_V2_GET_LINEINFO_IOCTL, &li[0]);
			(void)ioctl(chip_fd, GPIO_V2_GET_LINEINFO_IOCTL, &li[1]);
			snprintf(err, errlen,
			         "gpio: %s or %s is in use (consumers: \"%s\", \"%s\"); stop the "
			         "program that holds it",
			         c->boot0_name, c->nrst_name, li[0].consumer, li[1].consumer);
		} else {
			snprintf(err, errlen, "gpio: cannot request %s and %s as outputs: %s",
			         c->boot0_name, c->nrst_name, strerror(-r));
		}
		return r;
	}
	return req.fd;
}

static int set_lines(int line_fd, const struct gpio_config *c, bool boot0, enum nrst_state nrst,
                     char *err, size_t errlen)
{
	struct gpio_v2_line_config lc;
	line_config(c, boot0, nrst, &lc);
	if (ioctl(line_fd, GPIO_V2_LINE_SET_CONFIG_IOCTL, &lc) < 0) {
		int r = -errno;
		snprintf(err, errlen, "gpio: cannot set %s and %s: %s", c->boot0_name, c->nrst_name,
		         strerror(-r));
		return r;
	}
	return 0;
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
	_cleanup_close_ int line_fd = request_lines(chip_fd, &c, rom, err, errlen);
	if (line_fd < 0)
		return line_fd;
	mcu_ota_log(host, MCU_OTA_LOG_DEBUG, "gpio: NRST asserted, BOOT0 %s for %lld ms",
	            rom ? "selected" : "inactive", c.pulse_ms);
	sleep_ms(c.pulse_ms);
	if ((r = set_lines(line_fd, &c, rom, NRST_DEASSERTED, err, errlen)) < 0)
		return r;
	if (rom) {
		mcu_ota_log(host, MCU_OTA_LOG_DEBUG, "gpio: NRST released, BOOT0 held for %lld ms",
		            c.hold_ms);
		sleep_ms(c.hold_ms);
		if ((r = set_lines(line_fd, &c, false, NRST_DEASSERTED, err, errlen)) < 0)
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
};

static const struct mcu_ota_plugin plugin = {
    .abi = MCU_OTA_PLUGIN_ABI,
    .kind = MCU_OTA_PLUGIN_ENTRY,
    .name = "gpio",
    .description = "BOOT0 and NRST through the Linux GPIO character device",
    .entry = &ops,
};

MCU_OTA_DEFINE_PLUGIN(plugin)
