/* Shared by the health plugins "usb" and "usb-version": the device selection
 * (settings "vid", "pid", "serial") and the wait until it enumerates. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <libusb.h>

#include <mcu-ota/plugin.h>

#define USB_MATCH_SERIAL_MAX 126 /* a string descriptor holds at most 126 UTF-16 units */

struct usb_match {
	unsigned vid, pid;
	bool has_serial;
	char serial[USB_MATCH_SERIAL_MAX + 1];
};

/* Reads "vid", "pid" (required ints 0..65535) and "serial" (optional string). */
int usb_match_config(const struct mcu_ota_host *host, struct usb_match *m, char *err,
                     size_t errlen);

/* Reads an optional int setting within [min, max]; *out keeps its default when unset. */
int usb_match_config_int(const struct mcu_ota_host *host, const char *key, long long min,
                         long long max, long long *out, char *err, size_t errlen);

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
