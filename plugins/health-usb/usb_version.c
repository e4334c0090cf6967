/* The "usb-version" health plugin: as "usb", and the version the application
 * reports equals the one being installed.
 *
 * Settings: vid, pid, serial, port as for "usb", and
 *   version_from  "string" (default): a string descriptor, "string_index"
 *                 (default 4); "vendor": a vendor IN control request,
 *                 "request_type" (default 0xC0, must be device-to-host),
 *                 "request" (default 0x56 'V'), "value", "index" (default 0),
 *                 "length" (default 64, at most 255)
 * The answer is compared with the expected version exactly, after trimming
 * NULs and whitespace at both ends. A device that is on the bus but does not
 * answer is asked again until the deadline. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "usb_match.h"

#define VERSION_MAX       255 /* the longest answer read */
#define IO_TIMEOUT_MS_MAX 1000

struct version_query {
	bool vendor;
	long long string_index;
	long long request_type, request, value, index, length;
	const char *expected; /* trimmed, or NULL */
	char expected_buf[VERSION_MAX + 1];
	const struct mcu_ota_host *host;
};

static void trim(char *s)
{
	size_t n = strlen(s);
	while (n && (isspace((unsigned char)s[n - 1]) || s[n - 1] == '\0'))
		s[--n] = '\0';
	size_t i = 0;
	while (isspace((unsigned char)s[i]))
		i++;
	memmove(s, s + i, n - i + 1);
}

/* The settings read_config reads, and the selection (usb_match_config). */
static const char *const settings[] = {USB_MATCH_SETTINGS,
                                       "version_from",
                                       "string_index",
                                       "request_type",
                                       "request",
                                       "value",
                                       "index",
                                       "length",
                                       NULL};

static int read_config(const struct mcu_ota_host *host, struct version_query *q, char *err,
                       size_t errlen)
{
	const char *from = "string";
	int r = host->config_string(host->ctx, "version_from", &from);
	if (r == -EINVAL) {
		snprintf(err, errlen, "version_from must be \"string\" or \"vendor\"");
		return -EINVAL;
	}
	if (strcmp(from, "vendor") == 0) {
		q->vendor = true;
	} else if (strcmp(from, "string") != 0) {
		snprintf(err, errlen,
		         "version_from must be \"string\" or \"vendor\", not \"%.64s\"", from);
		return -EINVAL;
	}
	q->string_index = 4;
	q->request_type = 0xC0;
	q->request = 0x56;
	q->value = 0;
	q->index = 0;
	q->length = 64;
	if ((r = usb_match_config_int(host, "string_index", 1, 255, &q->string_index, err,
	                              errlen)) < 0 ||
	    (r = usb_match_config_int(host, "request_type", 0, 255, &q->request_type, err,
	                              errlen)) < 0 ||
	    (r = usb_match_config_int(host, "request", 0, 255, &q->request, err, errlen)) < 0 ||
	    (r = usb_match_config_int(host, "value", 0, 0xffff, &q->value, err, errlen)) < 0 ||
	    (r = usb_match_config_int(host, "index", 0, 0xffff, &q->index, err, errlen)) < 0 ||
	    (r = usb_match_config_int(host, "length", 1, VERSION_MAX, &q->length, err, errlen)) < 0)
		return r;
	if (q->vendor && !(q->request_type & LIBUSB_ENDPOINT_IN)) {
		snprintf(err, errlen,
		         "request_type 0x%02llx is host-to-device; the version is read with a "
		         "device-to-host request (bit 7 set, e.g. 0xC0)",
		         q->request_type);
		return -EINVAL;
	}
	return 0;
}

static int read_version(libusb_device_handle *h, unsigned left_ms, void *user, char *err,
                        size_t errlen)
{
	struct version_query *q = user;
	unsigned timeout = left_ms < IO_TIMEOUT_MS_MAX ? left_ms : IO_TIMEOUT_MS_MAX;
	unsigned char buf[VERSION_MAX + 1];
	int n;
	if (q->vendor)
		n = libusb_control_transfer(h, (uint8_t)q->request_type, (uint8_t)q->request,
		                            (uint16_t)q->value, (uint16_t)q->index, buf,
		                            (uint16_t)q->length, timeout ? timeout : 1);
	else
		n = libusb_get_string_descriptor_ascii(h, (uint8_t)q->string_index, buf,
		                                       (int)sizeof(buf) - 1);
	if (n < 0) {
		if (q->vendor)
			snprintf(err, errlen,
			         "does not answer the version request (bmRequestType 0x%02llx, "
			         "bRequest 0x%02llx): %s",
			         q->request_type, q->request, libusb_strerror(n));
		else
			snprintf(err, errlen, "does not answer for string descriptor %lld: %s",
			         q->string_index, libusb_strerror(n));
		return 1;
	}
	buf[n] = '\0';
	/* NULs inside: the version ends at the first one */
	char version[VERSION_MAX + 1];
	snprintf(version, sizeof(version), "%s", (char *)buf);
	trim(version);
	usb_match_printable(version);
	if (!q->expected) {
		mcu_ota_log(q->host, MCU_OTA_LOG_INFO, "the application reports %s", version);
		return 0;
	}
	if (strcmp(version, q->expected) != 0) {
		snprintf(err, errlen, "the application reports %s, expected %s",
		         version[0] ? version : "an empty version", q->expected);
		return -EBADMSG;
	}
	mcu_ota_log(q->host, MCU_OTA_LOG_INFO, "the application reports %s, as expected", version);
	return 0;
}

static int usb_version_check(const struct mcu_ota_host *host, const char *expected_version,
                             unsigned deadline_ms, char *err, size_t errlen)
{
	struct usb_match m;
	struct version_query q = {.host = host};
	int r = usb_match_config(host, &m, err, errlen);
	if (r == 0)
		r = read_config(host, &q, err, errlen);
	if (r < 0)
		return r;
	if (expected_version) {
		if (strlen(expected_version) > VERSION_MAX) {
			snprintf(err, errlen, "the expected version is longer than %d characters",
			         VERSION_MAX);
			return -EINVAL;
		}
		snprintf(q.expected_buf, sizeof(q.expected_buf), "%s", expected_version);
		trim(q.expected_buf);
		q.expected = q.expected_buf;
	}
	return usb_match_wait(host, &m, deadline_ms, read_version, &q, err, errlen);
}

static const struct mcu_ota_health_ops ops = {
    .size = sizeof(struct mcu_ota_health_ops),
    .check = usb_version_check,
    .settings = settings,
};

static const struct mcu_ota_plugin plugin = {
    .abi = MCU_OTA_PLUGIN_ABI,
    .kind = MCU_OTA_PLUGIN_HEALTH,
    .name = "usb-version",
    .description = "as usb, and the version the application reports (string descriptor or "
                   "vendor request) equals the one installed",
    .health = &ops,
};

MCU_OTA_DEFINE_PLUGIN(plugin)
