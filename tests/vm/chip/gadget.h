/* A thin layer over the kernel's raw_gadget interface (/dev/raw-gadget): one
 * USB device on dummy_hcd's device controller, whose every control request
 * the program answers itself. Closing the handle makes the device leave the
 * bus, as a chip in reset does.
 *
 * All calls return 0 or a byte count on success and a negative errno value on
 * failure. Blocking calls (gadget_fetch, gadget_ep0_*) return -EINTR when a
 * signal interrupts them; raw_gadget then drops the pending EP0 transfer.
 * -EOVERFLOW from an EP0 transfer means the host sent a new SETUP before the
 * answer went out (it gave up on the request: a USB timeout). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/usb/ch9.h>

/* raw_gadget's limit for one EP0 transfer (USB_RAW_IO_LENGTH_MAX, a page). */
#define GADGET_EP0_MAX 4096

enum gadget_event {
	GADGET_EVENT_OTHER = 0,
	GADGET_EVENT_CONNECT = 1,
	GADGET_EVENT_CONTROL = 2,
};

/* Open /dev/raw-gadget, bind to the UDC named udc (dummy_udc.N) at the given speed and start:
 * the device appears on the bus. Returns the handle (>= 0). */
int gadget_open(enum usb_device_speed speed, const char *udc) __attribute__((warn_unused_result));
/* Leave the bus. Accepts a negative handle. */
void gadget_close(int fd);

/* Wait for the next event; for GADGET_EVENT_CONTROL the SETUP packet is
 * copied to ctrl (fields in host byte order). */
int gadget_fetch(int fd, struct usb_ctrlrequest *ctrl) __attribute__((warn_unused_result));

/* Data stage IN (answer) with len bytes; zero adds a zero-length packet when
 * len is a multiple of the packet size (a short answer to a longer wLength). */
int gadget_ep0_write(int fd, const void *data, size_t len, bool zero)
    __attribute__((warn_unused_result));
/* Data stage OUT: receive up to len bytes (len 0: acknowledge a request
 * without data). Returns the number of bytes received. */
int gadget_ep0_read(int fd, void *data, size_t len) __attribute__((warn_unused_result));
/* Stall the pending request. */
int gadget_ep0_stall(int fd) __attribute__((warn_unused_result));
/* SET_CONFIGURATION accepted: enable the configuration (bMaxPower units of 2 mA). */
int gadget_configure(int fd, unsigned max_power) __attribute__((warn_unused_result));
