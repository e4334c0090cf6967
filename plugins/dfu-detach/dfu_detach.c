/* The dfu-detach entry plugin: the standard DFU 1.1 way into the bootloader
 * for applications with a DFU runtime interface (class 0xFE, subclass 1,
 * protocol 1). It reads the interface's DFU functional descriptor, sends
 * DFU_DETACH, resets the device when the descriptor says it does not detach
 * by itself (bitWillDetach clear), then waits until the application leaves
 * the bus.
 *
 * Settings (the plugin's configuration section):
 *   vid, pid           the running application's USB ids (ints, required)
 *   serial, port       narrow the selection (strings, optional)
 *   interface          the runtime interface's number (default: found in the
 *                      descriptors)
 *   detach_timeout_ms  DETACH's wValue (default: the descriptor's
 *                      wDetachTimeOut, at most 5000)
 *   leave_ms           how long the application has to leave the bus
 *                      (default 3000)
 * The exit operation has nothing to do: the flasher's leave starts the
 * application. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <mcu-ota/cleanup.h>

#include "usb_match.h"

#define DFU_CLASS           0xFE
#define DFU_SUBCLASS        0x01
#define DFU_PROTO_RUNTIME   0x01
#define DFU_PROTO_DFU_MODE  0x02
#define DFU_FUNCTIONAL_TYPE 0x21
#define DFU_DETACH          0
#define DFU_GETSTATUS       3
#define DFU_WILL_DETACH     0x08
#define DFU_STATE_APP_IDLE  0
#define DFU_STATE_APP_DET   1

#define IO_TIMEOUT_MS 2000
#define LEAVE_MS_MAX  60000
/* The device waits this long in appDETACH for the reset; a long wait only
 * matters when our reset never comes, so the default is capped. */
#define DETACH_TIMEOUT_CAP_MS     5000
#define DETACH_TIMEOUT_DEFAULT_MS 1000 /* without a functional descriptor (dfu-util's) */
#define INTERFACES_LISTED         8

#define ROM_NOTE "the ROM bootloader: the chip is in DFU mode already"

struct detach_config {
	long long interface;         /* -1: find it */
	long long detach_timeout_ms; /* -1: from the descriptor */
	long long leave_ms;
};

/* What the descriptors say about the runtime interface. */
struct runtime {
	int interface; /* -1: none */
	bool has_functional;
	uint8_t attributes;
	uint16_t detach_timeout, transfer_size, dfu_version;
	bool dfu_mode;        /* a DFU-mode interface (protocol 2) is there instead */
	char interfaces[160]; /* "0 ff/00/00, 1 fe/01/01", for messages */
};

/* The settings read_config reads, the selection's included. */
static const char *const settings[] = {USB_MATCH_SETTINGS, "interface", "detach_timeout_ms",
                                       "leave_ms", NULL};

static int read_config(const struct mcu_ota_host *host, struct usb_match *m,
                       struct detach_config *c, char *err, size_t errlen)
{
	int r = usb_match_config(host, m, err, errlen);
	if (r < 0)
		return r;
	*c = (struct detach_config){.interface = -1, .detach_timeout_ms = -1, .leave_ms = 3000};
	if ((r = usb_match_config_int(host, "interface", 0, 255, &c->interface, err, errlen)) < 0 ||
	    (r = usb_match_config_int(host, "detach_timeout_ms", 0, 0xffff, &c->detach_timeout_ms,
	                              err, errlen)) < 0 ||
	    (r = usb_match_config_int(host, "leave_ms", 0, LEAVE_MS_MAX, &c->leave_ms, err,
	                              errlen)) < 0)
		return r;
	return 0;
}

/* Looks for the DFU functional descriptor among extra descriptors (libusb
 * keeps those after an interface, or after its endpoints). */
static bool find_functional(const unsigned char *p, int len, struct runtime *rt)
{
	while (len >= 2) {
		int n = p[0];
		if (n < 2 || n > len)
			return false; /* malformed: stop rather than read past it */
		if (p[1] == DFU_FUNCTIONAL_TYPE && n >= 7) {
			rt->has_functional = true;
			rt->attributes = p[2];
			rt->detach_timeout = (uint16_t)(p[3] | p[4] << 8);
			rt->transfer_size = (uint16_t)(p[5] | p[6] << 8);
			rt->dfu_version = n >= 9 ? (uint16_t)(p[7] | p[8] << 8) : 0x0100;
			return true;
		}
		p += n;
		len -= n;
	}
	return false;
}

static void scan_interfaces(const struct libusb_config_descriptor *cfg, int wanted,
                            struct runtime *rt)
{
	size_t used = 0;
	unsigned listed = 0;
	memset(rt, 0, sizeof(*rt));
	rt->interface = -1;
	for (int i = 0; i < cfg->bNumInterfaces; i++) {
		const struct libusb_interface *itf = &cfg->interface[i];
		for (int a = 0; a < itf->num_altsetting; a++) {
			const struct libusb_interface_descriptor *d = &itf->altsetting[a];
			if (a == 0 && listed++ < INTERFACES_LISTED && used < sizeof(rt->interfaces))
				used += (size_t)snprintf(
				    rt->interfaces + used, sizeof(rt->interfaces) - used,
				    "%s%u %02x/%02x/%02x", used ? ", " : "", d->bInterfaceNumber,
				    d->bInterfaceClass, d->bInterfaceSubClass,
				    d->bInterfaceProtocol);
			if (d->bInterfaceClass != DFU_CLASS ||
			    d->bInterfaceSubClass != DFU_SUBCLASS)
				continue;
			if (d->bInterfaceProtocol == DFU_PROTO_DFU_MODE)
				rt->dfu_mode = true;
			if (d->bInterfaceProtocol != DFU_PROTO_RUNTIME || rt->interface >= 0 ||
			    (wanted >= 0 && d->bInterfaceNumber != wanted))
				continue;
			rt->interface = d->bInterfaceNumber;
			if (!find_functional(d->extra, d->extra_length, rt))
				for (int e = 0; e < d->bNumEndpoints; e++)
					if (find_functional(d->endpoint[e].extra,
					                    d->endpoint[e].extra_length, rt))
						break;
		}
	}
}

/* The runtime interface of dev, with its functional descriptor. */
static int find_runtime(libusb_device *dev, const char *name, long long wanted, struct runtime *rt,
                        char *err, size_t errlen)
{
	struct libusb_config_descriptor *cfg;
	int r = libusb_get_active_config_descriptor(dev, &cfg);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the configuration of the application %s: %s",
		         name, libusb_strerror(r));
		return r == LIBUSB_ERROR_NOT_FOUND ? -ENODEV : -EIO;
	}
	scan_interfaces(cfg, (int)wanted, rt);
	libusb_free_config_descriptor(cfg);
	if (rt->interface >= 0)
		return 0;
	if (wanted >= 0) {
		snprintf(err, errlen,
		         "interface %lld of the application %s is not a DFU runtime interface "
		         "(class fe/01/01); its interfaces: %s",
		         wanted, name, rt->interfaces);
		return -EINVAL;
	}
	if (rt->dfu_mode) {
		snprintf(err, errlen,
		         "%s has a DFU-mode interface (fe/01/02), not a runtime one: it is a "
		         "bootloader already; check vid and pid (the application's)",
		         name);
		return -EINVAL;
	}
	snprintf(err, errlen,
	         "the application %s has no DFU runtime interface (class fe, subclass 01, "
	         "protocol 01; its interfaces: %s): use the usb-vendor entry plugin (its own "
	         "'enter bootloader' request) or gpio (BOOT0 and NRST) instead",
	         name, rt->interfaces[0] ? rt->interfaces : "none");
	return -EOPNOTSUPP;
}

/* Claims the interface, asks its state, sends DETACH and, when the device does
 * not detach by itself, resets it. Returns 0 with DETACH's libusb result in
 * *transfer, or a negative errno with err set (DETACH did not go out). */
static int detach(const struct mcu_ota_host *host, libusb_device_handle *h, const char *name,
                  const struct runtime *rt, unsigned timeout, int *transfer, char *err,
                  size_t errlen)
{
	int itf = rt->interface;
	int r = libusb_claim_interface(h, itf);
	if (r < 0) {
		snprintf(err, errlen, "cannot claim interface %d of the application %s: %s%s", itf,
		         name, libusb_strerror(r),
		         r == LIBUSB_ERROR_BUSY ? " (another program or a kernel driver holds it)"
		                                : "");
		return r == LIBUSB_ERROR_BUSY ? -EBUSY : -EIO;
	}
	/* the state, for the log: a stall means appIDLE (not every runtime answers) */
	uint8_t st[6];
	r = libusb_control_transfer(h, 0xA1, DFU_GETSTATUS, 0, (uint16_t)itf, st, sizeof(st),
	                            IO_TIMEOUT_MS);
	if (r == (int)sizeof(st))
		mcu_ota_log(host, MCU_OTA_LOG_DEBUG, "DFU runtime state %u, status %u", st[4],
		            st[0]);
	else
		mcu_ota_log(host, MCU_OTA_LOG_DEBUG, "no DFU status (%s): taken as appIDLE",
		            r < 0 ? libusb_strerror(r) : "short answer");
	if (r == (int)sizeof(st) && st[4] > DFU_STATE_APP_DET)
		mcu_ota_log(host, MCU_OTA_LOG_WARNING,
		            "the runtime interface reports DFU state %u, not an application state",
		            st[4]);

	mcu_ota_log(
	    host, MCU_OTA_LOG_INFO,
	    "DFU_DETACH to the application %s, interface %d, timeout %u ms%s", name, itf, timeout,
	    rt->attributes & DFU_WILL_DETACH ? "" : " (then a USB reset: no bitWillDetach)");
	*transfer = libusb_control_transfer(h, 0x21, DFU_DETACH, (uint16_t)timeout, (uint16_t)itf,
	                                    NULL, 0, IO_TIMEOUT_MS);
	if (usb_match_outcome(*transfer) == USB_MATCH_FAILED) {
		snprintf(err, errlen, "DFU_DETACH to the application %s failed: %s", name,
		         libusb_strerror(*transfer));
		(void)libusb_release_interface(h, itf);
		return -EIO;
	}
	if (!(rt->attributes & DFU_WILL_DETACH) && *transfer != LIBUSB_ERROR_NO_DEVICE) {
		/* the device waits in appDETACH for a reset to start its bootloader;
		 * NOT_FOUND: it came back as another device, which is the point */
		r = libusb_reset_device(h);
		mcu_ota_log(host, MCU_OTA_LOG_DEBUG, "USB reset: %s",
		            r < 0 ? libusb_strerror(r) : "the same device came back");
	}
	(void)libusb_release_interface(h, itf); /* fails when the device is gone: fine */
	return 0;
}

/* The DETACH timeout: the setting (warned when above the device's own), else
 * the device's wDetachTimeOut (capped), else a default. */
static unsigned detach_timeout(const struct mcu_ota_host *host, const struct detach_config *c,
                               const struct runtime *rt)
{
	unsigned timeout;
	if (c->detach_timeout_ms >= 0) {
		timeout = (unsigned)c->detach_timeout_ms;
		if (rt->has_functional && timeout > rt->detach_timeout)
			mcu_ota_log(host, MCU_OTA_LOG_WARNING,
			            "detach_timeout_ms %u is above the device's wDetachTimeOut %u",
			            timeout, rt->detach_timeout);
	} else if (rt->has_functional) {
		timeout = rt->detach_timeout < DETACH_TIMEOUT_CAP_MS ? rt->detach_timeout
		                                                     : DETACH_TIMEOUT_CAP_MS;
	} else {
		timeout = DETACH_TIMEOUT_DEFAULT_MS;
	}
	if (rt->has_functional)
		mcu_ota_log(host, MCU_OTA_LOG_DEBUG,
		            "DFU functional descriptor: bmAttributes 0x%02x, wDetachTimeOut %u, "
		            "wTransferSize %u, bcdDFUVersion %04x",
		            rt->attributes, rt->detach_timeout, rt->transfer_size, rt->dfu_version);
	else
		mcu_ota_log(host, MCU_OTA_LOG_WARNING,
		            "interface %d has no DFU functional descriptor: DETACH, then a USB "
		            "reset",
		            rt->interface);
	return timeout;
}

/* Finds the application (found, its name), opens its runtime interface (rt)
 * and sends DFU_DETACH (transfer: how that ended). The USB context and the
 * handle are released before the caller waits for the device to leave. */
static int send_detach(const struct mcu_ota_host *host, const struct usb_match *m,
                       const struct detach_config *c, struct usb_match_device *found,
                       struct runtime *rt, char *name, size_t namelen, int *transfer, char *err,
                       size_t errlen)
{
	_cleanup_(libusb_exitp) libusb_context *usb = NULL;
	int r = usb_match_init(&usb, err, errlen);
	if (r < 0)
		return r;
	libusb_device *dev;
	if ((r = usb_match_find(usb, m, ROM_NOTE, &dev, found, err, errlen)) < 0)
		return r;
	snprintf(name, namelen, "%04x:%04x (%s%s at port %s)", found->vid, found->pid,
	         found->serial[0] ? "serial " : "", found->serial, found->port);
	r = find_runtime(dev, name, c->interface, rt, err, errlen);
	_cleanup_(libusb_closep) libusb_device_handle *h = NULL;
	if (r == 0)
		r = usb_match_open(dev, name, &h, err, errlen);
	libusb_unref_device(dev);
	if (r < 0)
		return r;
	return detach(host, h, name, rt, detach_timeout(host, c, rt), transfer, err, errlen);
}

/* The application stayed on the bus after DETACH: why, by how DETACH ended. */
static int stayed(const char *name, const struct runtime *rt, int transfer, long long leave_ms,
                  char *err, size_t errlen)
{
	const char *reset = rt->attributes & DFU_WILL_DETACH ? "" : " and the USB reset";
	switch (usb_match_outcome(transfer)) {
	case USB_MATCH_ACKNOWLEDGED:
		snprintf(err, errlen,
		         "the application %s acknowledged DFU_DETACH on interface %d but stayed on "
		         "the bus after it%s for %lld ms: its firmware does not act on DETACH (it "
		         "should jump to the system memory bootloader)",
		         name, rt->interface, reset, leave_ms);
		return -ETIMEDOUT;
	case USB_MATCH_STALLED:
		snprintf(err, errlen,
		         "the application %s stalled DFU_DETACH on interface %d and stayed on the "
		         "bus for %lld ms: its DFU runtime interface refuses DETACH",
		         name, rt->interface, leave_ms);
		return -EOPNOTSUPP;
	default:
		snprintf(err, errlen,
		         "DFU_DETACH to the application %s on interface %d failed (%s) and it "
		         "stayed on the bus for %lld ms",
		         name, rt->interface, libusb_strerror(transfer), leave_ms);
		return -EIO;
	}
}

static int detach_enter(const struct mcu_ota_host *host, char *err, size_t errlen)
{
	struct usb_match m;
	struct detach_config c;
	int r = read_config(host, &m, &c, err, errlen);
	if (r < 0)
		return r;
	struct usb_match_device found;
	struct runtime rt;
	char name[256];
	int transfer = 0;
	r = send_detach(host, &m, &c, &found, &rt, name, sizeof(name), &transfer, err, errlen);
	if (r < 0)
		return r;
	r = usb_match_await_leave(host, &found, "DFU_DETACH", transfer, (unsigned)c.leave_ms, err,
	                          errlen);
	return r == -ETIMEDOUT ? stayed(name, &rt, transfer, c.leave_ms, err, errlen) : r;
}

static int detach_exit(const struct mcu_ota_host *host, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	mcu_ota_log(host, MCU_OTA_LOG_DEBUG,
	            "dfu-detach: nothing to do on exit (leaving DFU starts the application)");
	return 0;
}

static const struct mcu_ota_entry_ops ops = {
    .size = sizeof(struct mcu_ota_entry_ops),
    .enter = detach_enter,
    .exit = detach_exit,
    .missing_hint = "the application detached but no bootloader appeared: check that its "
                    "DFU_DETACH handler jumps to the system memory bootloader rather than "
                    "restarting the application, and that the ROM can run there (no RDP level "
                    "2; an HSE crystal on F4/F7)",
    .settings = settings,
};

static const struct mcu_ota_plugin plugin = {
    .abi = MCU_OTA_PLUGIN_ABI,
    .kind = MCU_OTA_PLUGIN_ENTRY,
    .name = "dfu-detach",
    .description = "DFU 1.1 DETACH to the application's DFU runtime interface",
    .entry = &ops,
};

MCU_OTA_DEFINE_PLUGIN(plugin)
