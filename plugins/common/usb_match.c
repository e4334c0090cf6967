/* The device selection and the polling waits of the USB plugins. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mcu-ota/cleanup.h>

#include "usb_match.h"

#define POLL_MS            50
#define GONE_POLL_MS       20 /* leaving is what the caller waits for: see it soon */
#define LISTED_MAX         8  /* devices named in a timeout message */
#define ROM_BOOTLOADER_PID 0xdf11u

int usb_match_config_int(const struct mcu_ota_host *host, const char *key, long long min,
                         long long max, long long *out, char *err, size_t errlen)
{
	long long v;
	int r = host->config_int(host->ctx, key, &v);
	if (r == -ENOENT)
		return 0;
	if (r < 0 || v < min || v > max) {
		snprintf(err, errlen, "%s must be an integer from %lld to %lld", key, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* Skips one run of decimal digits; NULL when there is none. */
static const char *digits(const char *p)
{
	const char *start = p;
	while (*p >= '0' && *p <= '9')
		p++;
	return p == start ? NULL : p;
}

/* "bus-port[.port...]", digits only: a typo fails here, not as "no device". */
static bool port_valid(const char *p)
{
	if (strlen(p) > USB_MATCH_PORT_MAX || !(p = digits(p)) || *p++ != '-')
		return false;
	for (;;) {
		if (!(p = digits(p)))
			return false;
		if (*p == '\0')
			return true;
		if (*p++ != '.')
			return false;
	}
}

static int required_id(const struct mcu_ota_host *host, const char *key, unsigned *out, char *err,
                       size_t errlen)
{
	long long v = -1;
	int r = usb_match_config_int(host, key, 0, 0xffff, &v, err, errlen);
	if (r < 0)
		return r;
	if (v < 0) {
		snprintf(err, errlen, "%s is not set (the application's USB %s, 0 to 65535)", key,
		         strcmp(key, "vid") == 0 ? "vendor id" : "product id");
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

int usb_match_config(const struct mcu_ota_host *host, struct usb_match *m, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	int r = required_id(host, "vid", &m->vid, err, errlen);
	if (r == 0)
		r = required_id(host, "pid", &m->pid, err, errlen);
	if (r < 0)
		return r;
	const char *serial;
	r = host->config_string(host->ctx, "serial", &serial);
	if (r != -ENOENT) {
		if (r < 0 || !serial[0] || strlen(serial) > USB_MATCH_SERIAL_MAX) {
			snprintf(err, errlen, "serial must be a string of 1 to %d characters",
			         USB_MATCH_SERIAL_MAX);
			return -EINVAL;
		}
		m->has_serial = true;
		snprintf(m->serial, sizeof(m->serial), "%s", serial);
	}
	const char *port;
	r = host->config_string(host->ctx, "port", &port);
	if (r == -ENOENT)
		return 0;
	if (r < 0 || !port_valid(port)) {
		snprintf(err, errlen,
		         "port must be a USB port path as the kernel names it, like 1-1 or 1-1.3 "
		         "(a string of at most %d characters)",
		         USB_MATCH_PORT_MAX);
		return -EINVAL;
	}
	m->has_port = true;
	snprintf(m->port, sizeof(m->port), "%s", port);
	return 0;
}

void usb_match_name(const struct usb_match *m, char *out, size_t outlen)
{
	snprintf(out, outlen, "%04x:%04x%s%s%s%s", m->vid, m->pid,
	         m->has_serial ? " with serial " : "", m->has_serial ? m->serial : "",
	         m->has_port ? " at port " : "", m->has_port ? m->port : "");
}

void usb_match_port_path(libusb_device *dev, char *out, size_t outlen)
{
	uint8_t ports[8];
	int n = libusb_get_port_numbers(dev, ports, sizeof(ports));
	int w = snprintf(out, outlen, "%u", libusb_get_bus_number(dev));
	for (int i = 0; i < n && w > 0 && (size_t)w < outlen; i++)
		w += snprintf(out + w, outlen - (size_t)w, "%c%u", i ? '.' : '-', ports[i]);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void usb_match_printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

/* The serial of an open device into out ("" when it has none). */
static int read_serial(libusb_device_handle *h, const struct libusb_device_descriptor *d, char *out,
                       size_t outlen)
{
	out[0] = '\0';
	if (!d->iSerialNumber)
		return 0;
	int n = libusb_get_string_descriptor_ascii(h, d->iSerialNumber, (unsigned char *)out,
	                                           (int)outlen);
	if (n < 0) {
		out[0] = '\0';
		return n;
	}
	out[(size_t)n < outlen ? (size_t)n : outlen - 1] = '\0';
	usb_match_printable(out);
	return 0;
}

/* Appends printf-style to a message of fixed size; cuts quietly when full. */
static MCU_OTA_PRINTF(3, 4) void append(char *buf, size_t buflen, const char *fmt, ...)
{
	size_t used = strlen(buf);
	if (used + 1 >= buflen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + used, buflen - used, fmt, ap);
	va_end(ap);
}

/* The devices on the bus: their count, or -EIO with err set. */
static ssize_t list_devices(libusb_context *usb, libusb_device ***list, char *err, size_t errlen)
{
	ssize_t n = libusb_get_device_list(usb, list);
	if (n < 0) {
		snprintf(err, errlen, "cannot list USB devices: %s", libusb_strerror((int)n));
		return -EIO;
	}
	return n;
}

void usb_match_describe_bus(libusb_context *usb, const struct usb_match *m, const char *rom_note,
                            char *out, size_t outlen)
{
	_cleanup_(libusb_device_list_freep) libusb_device **list = NULL;
	out[0] = '\0';
	ssize_t n = list_devices(usb, &list, out, outlen);
	if (n < 0)
		return;
	unsigned listed = 0, more = 0;
	for (ssize_t i = 0; i < n; i++) {
		struct libusb_device_descriptor d;
		if (libusb_get_device_descriptor(list[i], &d) < 0 || d.idVendor != m->vid)
			continue;
		if (listed == LISTED_MAX) {
			more++;
			continue;
		}
		char serial[USB_MATCH_SERIAL_MAX + 1] = "";
		libusb_device_handle *h;
		bool opened = libusb_open(list[i], &h) == 0;
		if (opened) {
			(void)read_serial(h, &d, serial, sizeof(serial));
			libusb_close(h);
		}
		append(out, outlen, "%s%04x:%04x", listed ? ", " : "", d.idVendor, d.idProduct);
		if (serial[0])
			append(out, outlen, " serial %s", serial);
		else if (!opened)
			append(out, outlen, " (cannot be opened to read its serial)");
		/* ports only when they are part of the selection: short messages otherwise */
		if (m->has_port) {
			char port[USB_MATCH_PORT_MAX + 1];
			usb_match_port_path(list[i], port, sizeof(port));
			append(out, outlen, " at port %s", port);
		}
		if (rom_note && d.idVendor == 0x0483 && d.idProduct == ROM_BOOTLOADER_PID)
			append(out, outlen, " (%s)", rom_note);
		listed++;
	}
	if (more)
		append(out, outlen, " and %u more", more);
	if (!listed)
		snprintf(out, outlen, "nothing with vendor id %04x", m->vid);
}

int usb_match_find(libusb_context *usb, const struct usb_match *m, const char *rom_note,
                   libusb_device **dev, struct usb_match_device *found, char *err, size_t errlen)
{
	_cleanup_(libusb_device_list_freep) libusb_device **list = NULL;
	*dev = NULL;
	ssize_t n = list_devices(usb, &list, err, errlen);
	if (n < 0)
		return (int)n;
	char candidates[512] = "", why[256] = "";
	unsigned matches = 0;
	for (ssize_t i = 0; i < n; i++) {
		struct libusb_device_descriptor d;
		if (libusb_get_device_descriptor(list[i], &d) < 0 || d.idVendor != m->vid ||
		    d.idProduct != m->pid)
			continue;
		char port[USB_MATCH_PORT_MAX + 1], serial[USB_MATCH_SERIAL_MAX + 1] = "";
		usb_match_port_path(list[i], port, sizeof(port));
		if (m->has_port && strcmp(port, m->port) != 0)
			continue;
		/* the serial names the candidates, so it is read even when not selected */
		libusb_device_handle *h;
		int r = libusb_open(list[i], &h);
		if (r == 0) {
			r = read_serial(h, &d, serial, sizeof(serial));
			libusb_close(h);
		}
		if (r < 0 && m->has_serial) {
			snprintf(why, sizeof(why),
			         "the serial of %04x:%04x at port %s cannot be read: %s",
			         d.idVendor, d.idProduct, port, libusb_strerror(r));
			continue;
		}
		if (m->has_serial && strcasecmp(serial, m->serial) != 0)
			continue;
		append(candidates, sizeof(candidates), "%s%s%s%sport %s", matches ? ", " : "",
		       serial[0] ? "serial " : "", serial, serial[0] ? " at " : "", port);
		if (matches++ == 0) {
			*dev = libusb_ref_device(list[i]);
			memset(found, 0, sizeof(*found));
			found->bus = libusb_get_bus_number(list[i]);
			found->address = libusb_get_device_address(list[i]);
			found->vid = d.idVendor;
			found->pid = d.idProduct;
			snprintf(found->serial, sizeof(found->serial), "%s", serial);
			snprintf(found->port, sizeof(found->port), "%s", port);
		}
	}
	char name[256];
	usb_match_name(m, name, sizeof(name));
	if (matches > 1) {
		libusb_unref_device(*dev);
		*dev = NULL;
		snprintf(err, errlen, "%u devices match %s: %s; set serial or port to choose one",
		         matches, name, candidates);
		return -ENOTUNIQ;
	}
	if (matches == 0) {
		char bus[768];
		usb_match_describe_bus(usb, m, rom_note, bus, sizeof(bus));
		snprintf(err, errlen, "no %s on the bus%s%s%s; on the bus: %s", name,
		         why[0] ? " (" : "", why, why[0] ? ")" : "", bus);
		return -ENODEV;
	}
	return 0;
}

/* Is the enumeration d still on the bus? 1 yes, 0 no, < 0 an error. */
static int still_there(libusb_context *usb, const struct usb_match_device *d, char *err,
                       size_t errlen)
{
	_cleanup_(libusb_device_list_freep) libusb_device **list = NULL;
	ssize_t n = list_devices(usb, &list, err, errlen);
	if (n < 0)
		return (int)n;
	int there = 0;
	for (ssize_t i = 0; i < n && !there; i++) {
		struct libusb_device_descriptor desc;
		there = libusb_get_bus_number(list[i]) == d->bus &&
		        libusb_get_device_address(list[i]) == d->address &&
		        libusb_get_device_descriptor(list[i], &desc) == 0 &&
		        desc.idVendor == d->vid && desc.idProduct == d->pid;
	}
	return there;
}

/* One look at the bus: 0 done, 1 not (yet), < 0 an error that ends the check.
 * why says what stopped the last candidate (when there was one). */
static int poll_once(libusb_context *usb, const struct usb_match *m, unsigned left_ms,
                     usb_match_ready_fn ready, void *user, char *why, size_t whylen, char *err,
                     size_t errlen)
{
	_cleanup_(libusb_device_list_freep) libusb_device **list = NULL;
	ssize_t n = list_devices(usb, &list, err, errlen);
	if (n < 0)
		return (int)n;
	int result = 1;
	for (ssize_t i = 0; i < n && result == 1; i++) {
		struct libusb_device_descriptor d;
		if (libusb_get_device_descriptor(list[i], &d) < 0 || d.idVendor != m->vid ||
		    d.idProduct != m->pid)
			continue;
		if (m->has_port) {
			char port[USB_MATCH_PORT_MAX + 1];
			usb_match_port_path(list[i], port, sizeof(port));
			if (strcmp(port, m->port) != 0)
				continue;
		}
		if (!m->has_serial && !ready) {
			result = 0;
			break;
		}
		/* closed at the end of each turn, whichever way it ends */
		_cleanup_(libusb_closep) libusb_device_handle *h = NULL;
		int r = libusb_open(list[i], &h);
		if (r < 0) {
			snprintf(why, whylen, "%04x:%04x is on the bus but cannot be opened: %s",
			         m->vid, m->pid, libusb_strerror(r));
			continue;
		}
		if (m->has_serial) {
			char serial[USB_MATCH_SERIAL_MAX + 1];
			r = read_serial(h, &d, serial, sizeof(serial));
			if (r < 0) {
				snprintf(why, whylen, "the serial of %04x:%04x cannot be read: %s",
				         m->vid, m->pid, libusb_strerror(r));
				continue;
			}
			if (strcasecmp(serial, m->serial) != 0)
				continue;
		}
		if (ready) {
			char reason[512] = "";
			result = ready(h, left_ms, user, reason, sizeof(reason));
			if (result < 0)
				snprintf(err, errlen, "%s", reason);
			else if (result > 0)
				snprintf(why, whylen, "%04x:%04x is on the bus but %s", m->vid,
				         m->pid, reason);
		} else {
			result = 0;
		}
	}
	return result;
}

int usb_match_init(libusb_context **usb, char *err, size_t errlen)
{
	int r = libusb_init(usb);
	if (r < 0) {
		snprintf(err, errlen, "cannot initialise libusb: %s", libusb_strerror(r));
		return -EIO;
	}
	return 0;
}

/* One look at the bus with a fresh libusb context: poll_once's answer, *t
 * when it ended; past end, -ETIMEDOUT with what the bus holds. */
static int look(const struct usb_match *m, unsigned deadline_ms, uint64_t end,
                usb_match_ready_fn ready, void *user, uint64_t *t, char *why, size_t whylen,
                char *err, size_t errlen)
{
	_cleanup_(libusb_exitp) libusb_context *usb = NULL;
	*t = now_ms();
	unsigned left = *t < end ? (unsigned)(end - *t) : 0;
	int r = usb_match_init(&usb, err, errlen);
	if (r < 0)
		return r;
	r = poll_once(usb, m, left ? left : 1, ready, user, why, whylen, err, errlen);
	*t = now_ms();
	if (r <= 0 || *t < end)
		return r;
	char bus[768], expected[256];
	usb_match_describe_bus(usb, m, "the ROM bootloader: the chip did not leave DFU", bus,
	                       sizeof(bus));
	usb_match_name(m, expected, sizeof(expected));
	if (why[0])
		snprintf(err, errlen, "no %s within %u ms (%s); on the bus: %s", expected,
		         deadline_ms, why, bus);
	else
		snprintf(err, errlen, "no %s within %u ms; on the bus: %s", expected, deadline_ms,
		         bus);
	return -ETIMEDOUT;
}

int usb_match_wait(const struct mcu_ota_host *host, const struct usb_match *m, unsigned deadline_ms,
                   usb_match_ready_fn ready, void *user, char *err, size_t errlen)
{
	uint64_t start = now_ms(), end = start + deadline_ms, t;
	char why[512] = "";
	bool told = false;
	int r;
	/* a fresh libusb context per look: a context's device list is kept up
	 * to date by hotplug events, which a gateway without udev may not deliver */
	while ((r = look(m, deadline_ms, end, ready, user, &t, why, sizeof(why), err, errlen)) >
	       0) {
		if (!told) { /* once: the wait has begun (a scenario releases the chip on it) */
			char expected[256];
			usb_match_name(m, expected, sizeof(expected));
			mcu_ota_log(host, MCU_OTA_LOG_DEBUG,
			            "%s is not up yet: waiting up to %u ms", expected, deadline_ms);
			told = true;
		}
		uint64_t rest = end - t;
		sleep_ms(rest < POLL_MS ? (unsigned)rest : POLL_MS);
	}
	if (r == 0)
		mcu_ota_log(host, MCU_OTA_LOG_INFO, "%04x:%04x%s%s is up after %llu ms", m->vid,
		            m->pid, m->has_serial ? " serial " : "", m->has_serial ? m->serial : "",
		            (unsigned long long)(now_ms() - start));
	return r;
}

int usb_match_open(libusb_device *dev, const char *name, libusb_device_handle **h, char *err,
                   size_t errlen)
{
	int r = libusb_open(dev, h);
	if (r == 0)
		return 0;
	snprintf(err, errlen, "cannot open the application %s: %s%s", name, libusb_strerror(r),
	         r == LIBUSB_ERROR_ACCESS ? "; the agent needs write access to its /dev/bus/usb "
	                                    "node (a udev rule)"
	                                  : "");
	return r == LIBUSB_ERROR_ACCESS ? -EACCES : r == LIBUSB_ERROR_NO_DEVICE ? -ENODEV : -EIO;
}

enum usb_match_outcome usb_match_outcome(int transfer)
{
	switch (transfer) {
	case LIBUSB_ERROR_PIPE:
		return USB_MATCH_STALLED;
	case LIBUSB_ERROR_IO:
	case LIBUSB_ERROR_TIMEOUT:
	case LIBUSB_ERROR_NO_DEVICE:
		return USB_MATCH_LOST;
	default:
		return transfer < 0 ? USB_MATCH_FAILED : USB_MATCH_ACKNOWLEDGED;
	}
}

int usb_match_wait_gone(const struct usb_match_device *d, unsigned deadline_ms, unsigned *waited_ms,
                        char *err, size_t errlen)
{
	uint64_t start = now_ms(), end = start + deadline_ms;
	for (;;) {
		libusb_context *usb;
		int r = usb_match_init(&usb, err, errlen);
		if (r < 0)
			return r;
		r = still_there(usb, d, err, errlen);
		libusb_exit(usb);
		if (r < 0)
			return r;
		uint64_t t = now_ms();
		if (!r) {
			if (waited_ms)
				*waited_ms = (unsigned)(t - start);
			return 0;
		}
		if (t >= end) {
			snprintf(err, errlen,
			         "%04x:%04x at port %s is still on the bus after %u ms", d->vid,
			         d->pid, d->port, deadline_ms);
			return -ETIMEDOUT;
		}
		uint64_t rest = end - t;
		sleep_ms(rest < GONE_POLL_MS ? (unsigned)rest : GONE_POLL_MS);
	}
}

int usb_match_await_leave(const struct mcu_ota_host *host, const struct usb_match_device *d,
                          const char *what, int transfer, unsigned leave_ms, char *err,
                          size_t errlen)
{
	if (transfer < 0)
		mcu_ota_log(host, MCU_OTA_LOG_DEBUG, "%s ended with %s; watching the bus", what,
		            libusb_strerror(transfer));
	unsigned waited;
	int r = usb_match_wait_gone(d, leave_ms, &waited, err, errlen);
	if (r == 0)
		mcu_ota_log(host, MCU_OTA_LOG_INFO,
		            "the application %04x:%04x left the bus %u ms after %s", d->vid, d->pid,
		            waited, what);
	return r;
}
