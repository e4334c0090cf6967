/* The chip and line lookup shared by the gpio plugins (gpio_chip.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "gpio_chip.h"

#define LINE_COUNT_MAX 4096 /* lines looked at for a name */
#define CHIP_COUNT_MAX 256  /* /dev/gpiochip* looked at for a label */

void gpio_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static void close_dir(DIR **d)
{
	if (*d)
		closedir(*d);
}

void gpio_sleep_ms(long long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- settings ---- */

int gpio_get_bool(const struct mcu_ota_host *host, const char *who, const char *key, bool def,
                  bool *out, char *err, size_t errlen)
{
	int r = host->config_bool(host->ctx, key, out);
	if (r == -ENOENT) {
		*out = def;
		return 0;
	}
	if (r < 0)
		mcu_ota_set_error(err, errlen, "%s: setting %s must be true or false", who, key);
	return r;
}

int gpio_get_ms(const struct mcu_ota_host *host, const char *who, const char *key, long long def,
                long long min, long long max, long long *out, char *err, size_t errlen)
{
	int r = host->config_int(host->ctx, key, out);
	if (r == -ENOENT) {
		*out = def;
		return 0;
	}
	if (r < 0 || *out < min || *out > max) {
		mcu_ota_set_error(
		    err, errlen,
		    "%s: setting %s must be a number of milliseconds from %lld to %lld", who, key,
		    min, max);
		return -EINVAL;
	}
	return 0;
}

/* ---- the chip ---- */

static int open_chip(const struct mcu_ota_host *host, struct gpio_chip_ref *ref, char *err,
                     size_t errlen)
{
	const char *who = ref->who;
	const char *chip;
	int r = host->config_string(host->ctx, "chip", &chip);
	if (r == -ENOENT) {
		mcu_ota_set_error(err, errlen,
		                  "%s: no chip set (a path like /dev/gpiochip0, a name or a label)",
		                  who);
		return -EINVAL;
	}
	if (r < 0 || !*chip || strlen(chip) > GPIO_CHIP_SETTING_MAX) {
		mcu_ota_set_error(err, errlen,
		                  "%s: setting chip must be a path, a chip name or a label "
		                  "(text, at most %d characters)",
		                  who, GPIO_CHIP_SETTING_MAX);
		return -EINVAL;
	}

	if (chip[0] == '/' || strncmp(chip, "gpiochip", 8) == 0) {
		if (chip[0] == '/')
			snprintf(ref->path, sizeof(ref->path), "%s", chip);
		else
			snprintf(ref->path, sizeof(ref->path), "/dev/%s", chip);
		int fd = open(ref->path, O_RDWR | O_CLOEXEC);
		if (fd >= 0 || chip[0] == '/') {
			if (fd < 0) {
				r = -errno;
				mcu_ota_set_error(err, errlen, "%s: cannot open %s: %s", who,
				                  ref->path, strerror(-r));
				return r;
			}
			if (ioctl(fd, GPIO_GET_CHIPINFO_IOCTL, &ref->info) < 0) {
				r = -errno;
				mcu_ota_set_error(err, errlen, "%s: %s is not a GPIO chip: %s", who,
				                  ref->path, strerror(-r));
				close(fd);
				return r;
			}
			snprintf(ref->chip, sizeof(ref->chip), "%s", ref->info.name);
			return fd;
		}
		/* "gpiochipN" that does not exist may still be a label */
	}

	/* a label: exactly one chip must carry it */
	__attribute__((cleanup(close_dir))) DIR *d = opendir("/dev");
	if (!d) {
		r = -errno;
		mcu_ota_set_error(err, errlen, "%s: cannot list /dev: %s", who, strerror(-r));
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
		ref->info = ci;
		snprintf(ref->path, sizeof(ref->path), "%s", path);
		snprintf(ref->chip, sizeof(ref->chip), "%s", ci.name);
	}
	if (matches > 1) {
		close(found);
		mcu_ota_set_error(err, errlen,
		                  "%s: %u GPIO chips are labelled \"%s\"; set chip to a path (%s)",
		                  who, matches, chip, seen);
		return -ENOTUNIQ;
	}
	if (found < 0) {
		mcu_ota_set_error(err, errlen,
		                  "%s: no GPIO chip named or labelled \"%s\" (chips: %s)", who,
		                  chip, chips ? seen : "none; is the driver loaded?");
		return -ENODEV;
	}
	return found;
}

static int get_uapi(const struct mcu_ota_host *host, const char *who, enum gpio_uapi *uapi,
                    char *err, size_t errlen)
{
	const char *s;
	int r = host->config_string(host->ctx, "uapi", &s);
	*uapi = GPIO_UAPI_AUTO;
	if (r == -ENOENT || (r == 0 && strcmp(s, "auto") == 0))
		return 0;
	if (r == 0 && strcmp(s, "v2") == 0) {
		*uapi = GPIO_UAPI_V2;
		return 0;
	}
	if (r == 0 && strcmp(s, "v1") == 0) {
		*uapi = GPIO_UAPI_V1;
		return 0;
	}
	mcu_ota_set_error(err, errlen, "%s: setting uapi must be \"auto\", \"v2\" or \"v1\"", who);
	return -EINVAL;
}

int gpio_chip_open(const struct mcu_ota_host *host, struct gpio_chip_ref *ref, char *err,
                   size_t errlen)
{
	enum gpio_uapi want;
	int r = get_uapi(host, ref->who, &want, err, errlen);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = open_chip(host, ref, err, errlen);
	if (fd < 0)
		return fd;
	r = gpio_uapi_resolve(fd, ref->info.lines, want, &ref->uapi);
	if (r < 0) {
		if (want == GPIO_UAPI_AUTO && ref->uapi == GPIO_UAPI_V2) /* not a missing uapi */
			mcu_ota_set_error(err, errlen, "%s: cannot read line 0 of %s (%s): %s",
			                  ref->who, ref->chip, ref->path, strerror(-r));
		else if (want == GPIO_UAPI_AUTO)
			mcu_ota_set_error(err, errlen,
			                  "%s: %s (%s) answers neither the GPIO v2 nor the v1 "
			                  "character device uapi: %s",
			                  ref->who, ref->chip, ref->path, strerror(-r));
		else
			mcu_ota_set_error(
			    err, errlen,
			    "%s: %s (%s) does not answer the GPIO %s character device "
			    "uapi (%s): %s; set uapi = \"auto\"",
			    ref->who, ref->chip, ref->path, gpio_uapi_name(want),
			    want == GPIO_UAPI_V2 ? "Linux 5.10 or later"
			                         : "a kernel built with CONFIG_GPIO_CDEV_V1",
			    strerror(-r));
		return r;
	}
	if (want == GPIO_UAPI_AUTO && ref->uapi == GPIO_UAPI_V1)
		mcu_ota_log(host, MCU_OTA_LOG_DEBUG,
		            "%s: %s has no GPIO v2 uapi (a kernel before 5.10?): using v1",
		            ref->who, ref->chip);
	else
		mcu_ota_log(host, MCU_OTA_LOG_DEBUG, "%s: %s: GPIO %s uapi%s", ref->who, ref->chip,
		            gpio_uapi_name(ref->uapi),
		            want == GPIO_UAPI_AUTO ? "" : " (the uapi setting)");
	int ret = fd;
	fd = -1;
	return ret;
}

/* ---- lines ---- */

/* The lines of the chip as "0 BOOT0, 1 NRST, ...", for messages. */
static void list_lines(int fd, enum gpio_uapi uapi, const struct gpiochip_info *info, char *out,
                       size_t outlen)
{
	size_t n = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < info->lines && i < LINE_COUNT_MAX && n < outlen; i++) {
		struct gpio_line_desc li;
		if (gpio_line_info(fd, uapi, i, &li) < 0)
			continue;
		n += (size_t)snprintf(out + n, outlen - n, "%s%u %s", n ? ", " : "", i,
		                      li.name[0] ? li.name : "(unnamed)");
	}
}

int gpio_chip_find_line(const struct mcu_ota_host *host, int fd, const struct gpio_chip_ref *ref,
                        const char *key, unsigned *offset, char *label, size_t labellen, char *err,
                        size_t errlen)
{
	const char *who = ref->who;
	const struct gpiochip_info *info = &ref->info;
	char lines[200];
	long long n;
	int r = host->config_int(host->ctx, key, &n);
	if (r == 0) {
		if (n < 0 || n >= info->lines) {
			list_lines(fd, ref->uapi, info, lines, sizeof(lines));
			mcu_ota_set_error(err, errlen,
			                  "%s: %s line %lld is not on %s, which has %u lines (%s)",
			                  who, key, n, ref->chip, info->lines, lines);
			return -EINVAL;
		}
		*offset = (unsigned)n;
		snprintf(label, labellen, "%s line %u", ref->chip, *offset);
		return 0;
	}
	if (r == -ENOENT) {
		mcu_ota_set_error(err, errlen,
		                  "%s: no %s line set (a line offset or a line name of %s)", who,
		                  key, ref->chip);
		return -EINVAL;
	}
	const char *name;
	r = host->config_string(host->ctx, key, &name);
	if (r < 0 || !*name || strlen(name) >= GPIO_MAX_NAME_SIZE) {
		mcu_ota_set_error(err, errlen,
		                  "%s: setting %s must be a line offset or a line name (at most %d "
		                  "characters)",
		                  who, key, GPIO_MAX_NAME_SIZE - 1);
		return -EINVAL;
	}
	unsigned matches = 0;
	for (unsigned i = 0; i < info->lines && i < LINE_COUNT_MAX; i++) {
		struct gpio_line_desc li;
		if ((r = gpio_line_info(fd, ref->uapi, i, &li)) < 0) {
			mcu_ota_set_error(err, errlen, "%s: cannot read line %u of %s: %s", who, i,
			                  ref->chip, strerror(-r));
			return r;
		}
		if (strcmp(li.name, name) == 0 && matches++ == 0)
			*offset = i;
	}
	if (matches == 0) {
		list_lines(fd, ref->uapi, info, lines, sizeof(lines));
		mcu_ota_set_error(err, errlen, "%s: no line named %s on %s (%s) for %s (lines: %s)",
		                  who, name, ref->chip, ref->path, key, lines);
		return -ENOENT;
	}
	if (matches > 1) {
		mcu_ota_set_error(err, errlen,
		                  "%s: %u lines of %s are named %s; set %s to an offset", who,
		                  matches, ref->chip, name, key);
		return -ENOTUNIQ;
	}
	snprintf(label, labellen, "%s (%s line %u)", name, ref->chip, *offset);
	return 0;
}
