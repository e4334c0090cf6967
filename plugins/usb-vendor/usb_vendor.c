/* The usb-vendor entry plugin: puts an STM32 into its ROM bootloader by
 * sending the running application its own "enter the bootloader" control
 * request (firmware that offers a "reboot to DFU" command jumps to the
 * system memory on it), then waits until the application leaves the bus.
 *
 * Settings (the plugin's configuration section):
 *   vid, pid        the running application's USB ids (ints, required)
 *   serial, port    narrow the selection (strings, optional)
 *   request_type    bmRequestType (default 0x40: vendor, device, host-to-device)
 *   request         bRequest (required)
 *   value, index    wValue, wIndex (default 0)
 *   data            host-to-device data, hex bytes ("01 02 ff", "01:02:ff",
 *                   "0a0b"), at most 64 bytes
 *   length          device-to-host requests only: bytes to read (default 0)
 *   timeout_ms      USB timeout of the request (default 1000)
 *   leave_ms        how long the application has to leave the bus (default 3000)
 *
 * Firmware often resets before it completes the status stage, so a pipe or
 * I/O error, a timeout or "no device" from the request is not a failure by
 * itself: what counts is whether the application leaves the bus. The exit
 * operation has nothing to do: the flasher's leave starts the application. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "usb_match.h"

#define DATA_MAX       64
#define TIMEOUT_MS_MAX 60000
#define LEAVE_MS_MAX   60000
#define ROM_NOTE       "the ROM bootloader: the chip is in DFU mode already"

struct vendor_request {
	long long request_type, request, value, index, length, timeout_ms, leave_ms;
	uint8_t data[DATA_MAX];
	size_t data_len;
};

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Hex bytes, two digits each, optionally separated by spaces, ':' or '-'. */
static int parse_data(const char *s, struct vendor_request *q, char *err, size_t errlen)
{
	q->data_len = 0;
	while (*s) {
		if (*s == ' ' || *s == ':' || *s == '-') {
			s++;
			continue;
		}
		int hi = hex_value(s[0]), lo = hi < 0 ? -1 : hex_value(s[1]);
		if (lo < 0) {
			snprintf(err, errlen,
			         "data must be hex bytes of two digits each, like \"01 02 ff\" or "
			         "\"01:02:ff\" (at \"%.8s\")",
			         s);
			return -EINVAL;
		}
		if (q->data_len == DATA_MAX) {
			snprintf(err, errlen, "data is longer than %d bytes", DATA_MAX);
			return -EINVAL;
		}
		q->data[q->data_len++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return 0;
}

/* The settings read_config reads, the selection's included. */
static const char *const settings[] = {
    USB_MATCH_SETTINGS, "request_type", "request",  "value", "index", "data",
    "length",           "timeout_ms",   "leave_ms", NULL};

static int read_config(const struct mcu_ota_host *host, struct usb_match *m,
                       struct vendor_request *q, char *err, size_t errlen)
{
	int r = usb_match_config(host, m, err, errlen);
	if (r < 0)
		return r;
	*q = (struct vendor_request){
	    .request_type = 0x40, .request = -1, .timeout_ms = 1000, .leave_ms = 3000};
	if ((r = usb_match_config_int(host, "request_type", 0, 255, &q->request_type, err,
	                              errlen)) < 0 ||
	    (r = usb_match_config_int(host, "request", 0, 255, &q->request, err, errlen)) < 0 ||
	    (r = usb_match_config_int(host, "value", 0, 0xffff, &q->value, err, errlen)) < 0 ||
	    (r = usb_match_config_int(host, "index", 0, 0xffff, &q->index, err, errlen)) < 0 ||
	    (r = usb_match_config_int(host, "length", 0, DATA_MAX, &q->length, err, errlen)) < 0 ||
	    (r = usb_match_config_int(host, "timeout_ms", 1, TIMEOUT_MS_MAX, &q->timeout_ms, err,
	                              errlen)) < 0 ||
	    (r = usb_match_config_int(host, "leave_ms", 0, LEAVE_MS_MAX, &q->leave_ms, err,
	                              errlen)) < 0)
		return r;
	if (q->request < 0) {
		snprintf(err, errlen,
		         "request is not set (the bRequest of the application's 'enter the "
		         "bootloader' command, 0 to 255)");
		return -EINVAL;
	}
	if ((q->request_type & 0x60) == 0x60 || (q->request_type & 0x1f) > 3) {
		snprintf(err, errlen,
		         "request_type 0x%02llx is reserved by USB: bits 6-5 are the type (0 "
		         "standard, 1 class, 2 vendor) and bits 4-0 the recipient (0 device, 1 "
		         "interface, 2 endpoint, 3 other)",
		         q->request_type);
		return -EINVAL;
	}
	bool in = q->request_type & LIBUSB_ENDPOINT_IN;
	const char *data;
	r = host->config_string(host->ctx, "data", &data);
	if (r == -EINVAL) {
		snprintf(err, errlen,
		         "data must be a string of hex bytes, like \"01 02 ff\" or \"01:02:ff\"");
		return -EINVAL;
	}
	if (r == 0) {
		if (in) {
			snprintf(err, errlen,
			         "data is sent with host-to-device requests only; request_type "
			         "0x%02llx is device-to-host (bit 7 set)",
			         q->request_type);
			return -EINVAL;
		}
		if ((r = parse_data(data, q, err, errlen)) < 0)
			return r;
	}
	if (q->length && !in) {
		snprintf(err, errlen,
		         "length is read with device-to-host requests only; request_type 0x%02llx "
		         "is host-to-device (set data to send bytes)",
		         q->request_type);
		return -EINVAL;
	}
	return 0;
}

static int vendor_enter(const struct mcu_ota_host *host, char *err, size_t errlen)
{
	struct usb_match m;
	struct vendor_request q;
	int r = read_config(host, &m, &q, err, errlen);
	if (r < 0)
		return r;

	libusb_context *usb;
	if ((r = usb_match_init(&usb, err, errlen)) < 0)
		return r;
	libusb_device *dev;
	struct usb_match_device found;
	r = usb_match_find(usb, &m, ROM_NOTE, &dev, &found, err, errlen);
	if (r < 0) {
		libusb_exit(usb);
		return r;
	}
	char who[256], name[256 + 16];
	snprintf(who, sizeof(who), "%s%s at port %s", found.serial[0] ? "serial " : "",
	         found.serial, found.port);
	snprintf(name, sizeof(name), "%04x:%04x (%s)", m.vid, m.pid, who);

	libusb_device_handle *h;
	r = usb_match_open(dev, name, &h, err, errlen);
	libusb_unref_device(dev);
	if (r < 0) {
		libusb_exit(usb);
		return r;
	}
	char sent[128];
	snprintf(sent, sizeof(sent),
	         "bmRequestType 0x%02llx, bRequest 0x%02llx, wValue 0x%04llx, wIndex 0x%04llx",
	         q.request_type, q.request, q.value, q.index);
	mcu_ota_log(host, MCU_OTA_LOG_INFO,
	            "asking the application %s to start its bootloader (%s, %zu data bytes)", name,
	            sent, q.length ? (size_t)q.length : q.data_len);
	uint8_t buf[DATA_MAX];
	memcpy(buf, q.data, q.data_len);
	bool in = q.request_type & LIBUSB_ENDPOINT_IN;
	int n = libusb_control_transfer(
	    h, (uint8_t)q.request_type, (uint8_t)q.request, (uint16_t)q.value, (uint16_t)q.index,
	    buf, (uint16_t)(in ? q.length : (long long)q.data_len), (unsigned)q.timeout_ms);
	libusb_close(h);
	libusb_exit(usb);

	enum usb_match_outcome o = usb_match_outcome(n);
	if (o == USB_MATCH_FAILED) {
		snprintf(err, errlen,
		         "sending the request (%s) to the application %04x:%04x (%s) "
		         "failed: %s",
		         sent, m.vid, m.pid, who, libusb_strerror(n));
		return -EIO;
	}
	r = usb_match_await_leave(host, &found, "the request", n, (unsigned)q.leave_ms, err,
	                          errlen);
	if (r != -ETIMEDOUT)
		return r;
	static const char causes[] = "it does not implement the command, or it is wired to other "
	                             "values (request_type, request, value, index)";
	switch (o) {
	case USB_MATCH_ACKNOWLEDGED:
		snprintf(err, errlen,
		         "the application %04x:%04x acknowledged the request but "
		         "stayed on the bus: %s; sent %s to %s, watched %lld ms",
		         m.vid, m.pid, causes, sent, who, q.leave_ms);
		return -ETIMEDOUT;
	case USB_MATCH_STALLED:
		snprintf(err, errlen,
		         "the application %04x:%04x stalled the request and stayed "
		         "on the bus: %s; sent %s to %s, watched %lld ms",
		         m.vid, m.pid, causes, sent, who, q.leave_ms);
		return -EOPNOTSUPP;
	default:
		snprintf(err, errlen,
		         "the request to the application %04x:%04x failed (%s) and it "
		         "stayed on the bus: %s; sent %s to %s, watched %lld ms",
		         m.vid, m.pid, libusb_strerror(n), causes, sent, who, q.leave_ms);
		return -EIO;
	}
}

static int vendor_exit(const struct mcu_ota_host *host, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	mcu_ota_log(host, MCU_OTA_LOG_DEBUG,
	            "usb-vendor: nothing to do on exit (leaving DFU starts the application)");
	return 0;
}

static const struct mcu_ota_entry_ops ops = {
    .size = sizeof(struct mcu_ota_entry_ops),
    .enter = vendor_enter,
    .exit = vendor_exit,
    .missing_hint = "the application left the bus but no bootloader appeared: check that its "
                    "'enter bootloader' command jumps to the system memory bootloader rather "
                    "than restarting the application, and that the ROM can run there (no RDP "
                    "level 2; an HSE crystal on F4/F7)",
    .settings = settings,
};

static const struct mcu_ota_plugin plugin = {
    .abi = MCU_OTA_PLUGIN_ABI,
    .kind = MCU_OTA_PLUGIN_ENTRY,
    .name = "usb-vendor",
    .description = "a control request to the running application starts its ROM bootloader",
    .entry = &ops,
};

MCU_OTA_DEFINE_PLUGIN(plugin)
