/* Shared by the USB plugins (health "usb" and "usb-version", entry
 * "usb-vendor" and "dfu-detach"): the device selection (settings "vid",
 * "pid", "serial", "port"), finding exactly one matching device, and the
 * polling waits until it enumerates or leaves the bus. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libusb.h>

#include <mcu-ota/plugin.h>

#define USB_MATCH_SERIAL_MAX 126 /* a string descriptor holds at most 126 UTF-16 units */
#define USB_MATCH_PORT_MAX   31  /* "bus-p.p.p.p.p.p.p": 7 hub tiers at most */

struct usb_match {
	unsigned vid, pid;
	bool has_serial, has_port;
	char serial[USB_MATCH_SERIAL_MAX + 1];
	char port[USB_MATCH_PORT_MAX + 1];
};

/* One device on the bus, as usb_match_find saw it. The bus number and the
 * address name this enumeration of it: a device that resets comes back with
 * another address. */
struct usb_match_device {
	uint8_t bus, address;
	uint16_t vid, pid;
	char serial[USB_MATCH_SERIAL_MAX + 1]; /* "" when it has none or was not read */
	char port[USB_MATCH_PORT_MAX + 1];
};

/* libusb_init, with the message every USB plugin gives when it fails: 0 or -EIO. */
int usb_match_init(libusb_context **usb, char *err, size_t errlen);

/* Reads "vid", "pid" (required ints 0..65535), "serial" and "port"
 * (optional strings; port as the kernel names it, "1-1.3"). */
int usb_match_config(const struct mcu_ota_host *host, struct usb_match *m, char *err,
                     size_t errlen);

/* The settings usb_match_config reads, for the plugins' settings lists. */
#define USB_MATCH_SETTINGS "vid", "pid", "serial", "port"

/* Reads an optional int setting within [min, max]; *out keeps its default when unset. */
int usb_match_config_int(const struct mcu_ota_host *host, const char *key, long long min,
                         long long max, long long *out, char *err, size_t errlen);

/* Replaces every byte outside printable ASCII with '?' in place, so that what
 * a device sends (a serial, a version) cannot garble a message. */
void usb_match_printable(char *s);

/* "0483:5740 with serial X at port 1-1", for messages. */
void usb_match_name(const struct usb_match *m, char *out, size_t outlen);

/* The port path of dev, "bus-port.port...", as the kernel's sysfs and
 * dfu-util's --path name it. */
void usb_match_port_path(libusb_device *dev, char *out, size_t outlen);

/* What is on the bus with the selection's VID, for messages; rom_note is
 * added after a 0483:df11 (the ROM bootloader), may be NULL. */
void usb_match_describe_bus(libusb_context *usb, const struct usb_match *m, const char *rom_note,
                            char *out, size_t outlen);

/* Exactly one matching device: 0 with *dev referenced (libusb_unref_device
 * it) and found filled; -ENODEV naming what is on the bus when there is
 * none; -ENOTUNIQ naming the candidates when there are several. */
int usb_match_find(libusb_context *usb, const struct usb_match *m, const char *rom_note,
                   libusb_device **dev, struct usb_match_device *found, char *err, size_t errlen);

/* Opens dev, the application name ("0483:5740 (serial X at port 1-1)"):
 * 0, or -EACCES (the message says a udev rule is missing), -ENODEV or -EIO. */
int usb_match_open(libusb_device *dev, const char *name, libusb_device_handle **h, char *err,
                   size_t errlen);

/* How a request that makes the application leave the bus ended, as far as
 * its answer goes. Firmware often resets before it completes the status
 * stage, so only USB_MATCH_FAILED is a failure by itself: for the others,
 * whether the application leaves the bus decides. */
enum usb_match_outcome {
	USB_MATCH_ACKNOWLEDGED, /* the status stage completed */
	USB_MATCH_STALLED,      /* refused, or reset at once */
	USB_MATCH_LOST,         /* I/O error, timeout, gone: reset before the status stage? */
	USB_MATCH_FAILED,       /* any other error: the request did not go out */
};

/* The outcome of a libusb_control_transfer's result. */
enum usb_match_outcome usb_match_outcome(int transfer);

/* Polls the bus (a fresh libusb context per look) until the enumeration d
 * is gone: 0, with the milliseconds it took in *waited_ms (may be NULL);
 * -ETIMEDOUT when it is still there after deadline_ms. */
int usb_match_wait_gone(const struct usb_match_device *d, unsigned deadline_ms, unsigned *waited_ms,
                        char *err, size_t errlen);

/* After the request what ("DFU_DETACH") ended with transfer (its libusb
 * result; not USB_MATCH_FAILED): waits up to leave_ms for the application d
 * to leave the bus, and logs how long it took. 0 when it left; -ETIMEDOUT
 * when it stayed (the caller words err: why depends on the outcome);
 * another negative errno with err set. */
int usb_match_await_leave(const struct mcu_ota_host *host, const struct usb_match_device *d,
                          const char *what, int transfer, unsigned leave_ms, char *err,
                          size_t errlen);

/* Called with an open handle of a matching device and the milliseconds left.
 * Returns 0 when the check is done, 1 when the device is not ready yet (err
 * says why; the wait goes on), a negative errno to end the check with err. */
typedef int (*usb_match_ready_fn)(libusb_device_handle *h, unsigned left_ms, void *user, char *err,
                                  size_t errlen);

/* Polls the bus every 50 ms until a matching device enumerates (and ready,
 * when not NULL, returns 0) or deadline_ms passes: then -ETIMEDOUT, with a
 * message naming what was expected and what is on the bus with that VID. */
int usb_match_wait(const struct mcu_ota_host *host, const struct usb_match *m, unsigned deadline_ms,
                   usb_match_ready_fn ready, void *user, char *err, size_t errlen);
