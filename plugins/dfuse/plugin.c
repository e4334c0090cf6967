/* The dfuse flasher plugin: finds ROM DfuSe devices with libusb and drives
 * them with the protocol code of dfu.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libusb.h>

#include <mcu-ota/cleanup.h>
#include <mcu-ota/plugin.h>

#include "dfu.h"
#include "usb_match.h"

#define DEFAULT_VID 0x0483
#define DEFAULT_PID 0xdf11

struct dfuse_handle {
	libusb_context *usb;
	libusb_device_handle *h;
	bool claimed;
	struct dfu_device dev;
};

struct selection {
	long long vid, pid;
	const char *serial; /* NULL = any; compared without regard to case */
	const char *port;   /* NULL = any */
	const char *family; /* NULL = any; else the bootloader must be of it */
	char others[256];   /* devices of this VID:PID that did not match, for messages */
};

static int map_usb_error(int r)
{
	switch (r) {
	case LIBUSB_ERROR_PIPE:
		return -EPIPE;
	case LIBUSB_ERROR_NO_DEVICE:
		return -ENODEV;
	case LIBUSB_ERROR_TIMEOUT:
		return -ETIMEDOUT;
	case LIBUSB_ERROR_ACCESS:
		return -EACCES;
	case LIBUSB_ERROR_BUSY:
		return -EBUSY;
	case LIBUSB_ERROR_NO_MEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* A device that drops off the bus fails the transfer in flight with an I/O
 * error; the kernel's hub thread tells "no device" only later (seen at over
 * 200 ms in a busy guest). Ask, for up to GONE_PROBE_MS, whether it is still
 * there, so the user hears that it left. */
#define GONE_PROBE_MS 1500

static int io_error_or_gone(struct dfuse_handle *u)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		uint8_t state;
		int r = libusb_control_transfer(u->h, 0xA1, 5 /* DFU GETSTATE */, 0,
		                                u->dev.interface, &state, 1, 100);
		if (r == LIBUSB_ERROR_NO_DEVICE)
			return -ENODEV;
		if (r >= 0)
			return -EIO; /* still there: a real transfer error */
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms =
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (ms >= GONE_PROBE_MS)
			return -EIO;
		nanosleep(&(struct timespec){.tv_nsec = 20 * 1000000}, NULL);
	}
}

static int usb_control(void *ctx, uint8_t type, uint8_t req, uint16_t value, uint16_t index,
                       uint8_t *data, uint16_t len, unsigned timeout_ms)
{
	struct dfuse_handle *u = ctx;
	int r = libusb_control_transfer(u->h, type, req, value, index, data, len, timeout_ms);
	if (r == LIBUSB_ERROR_IO)
		return io_error_or_gone(u);
	return r < 0 ? map_usb_error(r) : r;
}

static int usb_set_alt(void *ctx, uint8_t interface, uint8_t alt)
{
	struct dfuse_handle *u = ctx;
	if (!u->claimed) {
		int r = libusb_claim_interface(u->h, interface);
		if (r < 0)
			return map_usb_error(r);
		u->claimed = true;
	}
	int r = libusb_set_interface_alt_setting(u->h, interface, alt);
	return r < 0 ? map_usb_error(r) : 0;
}

/* The settings read_selection reads: all this plugin reads. */
static const char *const settings[] = {"serial", "port", "vid", "pid", "family", NULL};

static int read_selection(const struct mcu_ota_host *host, struct selection *sel, char *err,
                          size_t errlen)
{
	*sel = (struct selection){.vid = DEFAULT_VID, .pid = DEFAULT_PID};
	if (!host || !host->config_int || !host->config_string)
		return 0;
	int r1 = host->config_int(host->ctx, "vid", &sel->vid);
	int r2 = host->config_int(host->ctx, "pid", &sel->pid);
	if ((r1 < 0 && r1 != -ENOENT) || (r2 < 0 && r2 != -ENOENT) || sel->vid < 0 ||
	    sel->vid > 0xFFFF || sel->pid < 0 || sel->pid > 0xFFFF) {
		snprintf(err, errlen, "vid and pid must be numbers from 0 to 0xffff");
		return -EINVAL;
	}
	/* a selection of the wrong type must not silently widen to "any device" */
	int r3 = host->config_string(host->ctx, "serial", &sel->serial);
	int r4 = host->config_string(host->ctx, "port", &sel->port);
	if ((r3 < 0 && r3 != -ENOENT) || (r4 < 0 && r4 != -ENOENT)) {
		snprintf(err, errlen, "serial and port must be strings");
		return -EINVAL;
	}
	if (r3 < 0)
		sel->serial = NULL;
	if (r4 < 0)
		sel->port = NULL;
	int r5 = host->config_string(host->ctx, "family", &sel->family);
	if (r5 < 0 && r5 != -ENOENT) {
		snprintf(err, errlen, "family must be a string such as \"STM32F4\"");
		return -EINVAL;
	}
	if (r5 < 0)
		sel->family = NULL;
	return 0;
}

static void handle_close(struct dfuse_handle *u)
{
	if (!u)
		return;
	dfu_release(&u->dev);
	if (u->h) {
		if (u->claimed && !u->dev.left)
			libusb_release_interface(u->h, u->dev.interface);
		libusb_close(u->h);
	}
	if (u->usb)
		libusb_exit(u->usb);
	free(u);
}

/* Opens dev and reads its DFU description; 1 when it does not match sel. */
static void note_other(struct selection *sel, const char *serial, const char *port)
{
	size_t len = strlen(sel->others);
	snprintf(sel->others + len, sizeof(sel->others) - len, "%s%s%s%sport %s", len ? ", " : "",
	         serial ? "serial " : "", serial ? serial : "", serial ? " at " : "", port);
}

static int try_device(struct dfuse_handle *u, libusb_device *dev, struct selection *sel,
                      const struct mcu_ota_host *host, char *err, size_t errlen)
{
	struct libusb_device_descriptor dd;
	char port[64];
	if (libusb_get_device_descriptor(dev, &dd) < 0 || dd.idVendor != sel->vid ||
	    dd.idProduct != sel->pid)
		return 1;
	usb_match_port_path(dev, port, sizeof(port));
	if (sel->port && strcmp(sel->port, port) != 0) {
		note_other(sel, NULL, port);
		return 1;
	}
	int r = libusb_open(dev, &u->h);
	if (r < 0) {
		snprintf(err, errlen, "cannot open the DFU device at port %s: %s%s", port,
		         libusb_strerror(r),
		         r == LIBUSB_ERROR_ACCESS
		             ? " (install mcu-ota's udev rules, or run as a user in their group)"
		             : "");
		return map_usb_error(r);
	}
	u->dev = (struct dfu_device){
	    .transport = {.ctx = u, .control = usb_control, .set_alt = usb_set_alt},
	    .host = host,
	};
	snprintf(u->dev.info.port, sizeof(u->dev.info.port), "%s", port);
	r = dfu_describe(&u->dev, err, errlen);
	if (r == 0 && sel->serial && strcasecmp(sel->serial, u->dev.info.serial) != 0) {
		note_other(sel, u->dev.info.serial, port);
		r = 1;
	}
	/* the configured family guards against flashing another kind of chip */
	int fam = r == 0 && sel->family ? dfuse_quirk_family_is(u->dev.quirk, sel->family) : 1;
	if (fam == 0) {
		snprintf(err, errlen,
		         "the bootloader at port %s is an %s (told by its memory layout), but the "
		         "configuration says family \"%s\": a different chip is selected, or the "
		         "setting is wrong; nothing was written",
		         port, u->dev.quirk->family, sel->family);
		r = -EMEDIUMTYPE;
	} else if (fam < 0) {
		mcu_ota_log(host, MCU_OTA_LOG_WARNING,
		            "the bootloader at port %s does not tell its family: family \"%s\" "
		            "is not checked",
		            port, sel->family);
	}
	if (r != 0) {
		dfu_release(&u->dev);
		libusb_close(u->h);
		u->h = NULL;
	}
	return r;
}

static const char no_device_hint[] =
    "Usual causes: BOOT0 was not high when the chip left reset; a charge-only USB cable; "
    "on STM32F2/F4/F7 no HSE crystal (their ROM enumerates over USB only with one); "
    "the device is still running its application (put it into its bootloader first).";

static void describe_selection(const struct selection *sel, char *out, size_t outlen)
{
	snprintf(out, outlen, "%04llx:%04llx%s%s%s%s", sel->vid, sel->pid,
	         sel->serial ? " with serial " : "", sel->serial ? sel->serial : "",
	         sel->port ? " at port " : "", sel->port ? sel->port : "");
}

static int usb_init(libusb_context **usb, char *err, size_t errlen)
{
	int r = libusb_init(usb);
	if (r < 0) {
		snprintf(err, errlen, "cannot initialise libusb: %s", libusb_strerror(r));
		return -EIO;
	}
	return 0;
}

/* Walk the bus; for each matching device call fn with an open handle. fn
 * returns 1 when it keeps the handle, 0 when it may be closed. */
static int walk(libusb_context *usb, const struct mcu_ota_host *host, struct selection *sel,
                int (*fn)(void *arg, struct dfuse_handle *u), void *arg, unsigned *matched,
                char *err, size_t errlen)
{
	_cleanup_(libusb_device_list_freep) libusb_device **list = NULL;
	ssize_t n = libusb_get_device_list(usb, &list);
	if (n < 0) {
		snprintf(err, errlen, "cannot list USB devices: %s", libusb_strerror((int)n));
		return -EIO;
	}
	*matched = 0;
	int last_error = 0;
	for (ssize_t i = 0; i < n; i++) {
		struct dfuse_handle *u = calloc(1, sizeof(*u));
		if (!u)
			return -ENOMEM;
		int t = try_device(u, list[i], sel, host, err, errlen);
		if (t != 0) {
			if (t < 0) {
				last_error = t;
				mcu_ota_log(host, MCU_OTA_LOG_WARNING, "%s", err);
			}
			free(u);
			continue;
		}
		(*matched)++;
		if (fn(arg, u) == 0)
			handle_close(u);
	}
	if (!*matched && last_error)
		return last_error; /* err already names the device we could not open */
	return 0;
}

struct list_ctx {
	mcu_ota_device_cb cb;
	void *user;
};

static int list_one(void *arg, struct dfuse_handle *u)
{
	struct list_ctx *c = arg;
	c->cb(c->user, &u->dev.info);
	return 0;
}

static int dfuse_list(const struct mcu_ota_host *host, mcu_ota_device_cb cb, void *user, char *err,
                      size_t errlen)
{
	struct selection sel;
	struct list_ctx c = {cb, user};
	unsigned matched;
	_cleanup_(libusb_exitp) libusb_context *usb = NULL;
	int r = read_selection(host, &sel, err, errlen);
	if (r == 0)
		r = usb_init(&usb, err, errlen);
	if (r < 0)
		return r;
	return walk(usb, host, &sel, list_one, &c, &matched, err, errlen);
}

struct open_ctx {
	struct dfuse_handle *found;
	char others[256];
};

static int open_one(void *arg, struct dfuse_handle *u)
{
	struct open_ctx *c = arg;
	size_t len = strlen(c->others);
	snprintf(c->others + len, sizeof(c->others) - len, "%s%s (port %s)", len ? ", " : "",
	         u->dev.info.serial, u->dev.info.port);
	if (c->found)
		return 0;
	c->found = u;
	return 1;
}

static int dfuse_open(const struct mcu_ota_host *host, void **handle, char *err, size_t errlen)
{
	struct selection sel;
	struct open_ctx c = {0};
	unsigned matched;
	char what[160];
	_cleanup_(libusb_exitp) libusb_context *usb = NULL;
	int r = read_selection(host, &sel, err, errlen);
	if (r == 0)
		r = usb_init(&usb, err, errlen);
	if (r < 0)
		return r;
	r = walk(usb, host, &sel, open_one, &c, &matched, err, errlen);
	describe_selection(&sel, what, sizeof(what));
	if (r == 0 && !matched && sel.others[0]) {
		snprintf(err, errlen, "no DFU device %s found (found %s instead)", what,
		         sel.others);
		r = -ENODEV;
	} else if (r == 0 && !matched) {
		snprintf(err, errlen, "no DFU device %s found. %s", what, no_device_hint);
		r = -ENODEV;
	} else if (r == 0 && matched > 1) {
		snprintf(err, errlen,
		         "%u DFU devices match %s: %s; set serial or port to choose one", matched,
		         what, c.others);
		r = -ENOTUNIQ;
	}
	/* claimed now, so that a device another program holds is told at once */
	if (r == 0) {
		int u = libusb_claim_interface(c.found->h, c.found->dev.interface);
		if (u == 0) {
			c.found->claimed = true;
		} else {
			snprintf(err, errlen,
			         "the DFU device %s is held by another program (dfu-util, another "
			         "mcu-ota?): %s",
			         c.found->dev.info.serial, libusb_strerror(u));
			r = map_usb_error(u);
		}
	}
	if (r < 0) {
		handle_close(c.found);
		return r;
	}
	c.found->usb = take_ptr(&usb); /* the handle owns the context from here on */
	*handle = c.found;
	return 0;
}

static const struct mcu_ota_device_info *dfuse_info(void *handle)
{
	return &((struct dfuse_handle *)handle)->dev.info;
}

static int dfuse_write(void *handle, const struct mcu_ota_image *image,
                       const struct mcu_ota_write_options *options, char *err, size_t errlen)
{
	/* an agent built with fewer options: the missing ones stay off */
	struct mcu_ota_write_options o = {.size = sizeof(o)};
	memcpy(&o, options, options->size < sizeof(o) ? options->size : sizeof(o));
	return dfu_write(&((struct dfuse_handle *)handle)->dev, image, &o, err, errlen);
}

static int dfuse_read(void *handle, unsigned alt, uint32_t address, uint8_t *buffer, size_t length,
                      char *err, size_t errlen)
{
	return dfu_read(&((struct dfuse_handle *)handle)->dev, alt, address, buffer, length, err,
	                errlen);
}

static int dfuse_leave(void *handle, uint32_t address, char *err, size_t errlen)
{
	return dfu_leave(&((struct dfuse_handle *)handle)->dev, address, err, errlen);
}

static void dfuse_close(void *handle)
{
	handle_close(handle);
}

static const struct mcu_ota_flasher_ops ops = {
    .size = sizeof(struct mcu_ota_flasher_ops),
    .list = dfuse_list,
    .open = dfuse_open,
    .info = dfuse_info,
    .write = dfuse_write,
    .read = dfuse_read,
    .leave = dfuse_leave,
    .close = dfuse_close,
    .settings = settings,
};

static const struct mcu_ota_plugin plugin = {
    .abi = MCU_OTA_PLUGIN_ABI,
    .kind = MCU_OTA_PLUGIN_FLASHER,
    .name = "dfuse",
    .description = "STM32 ROM bootloader over USB DFU with ST's DfuSe extensions (libusb)",
    .flasher = &ops,
};

MCU_OTA_DEFINE_PLUGIN(plugin)
