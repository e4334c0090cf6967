/* The application side of the chip: what a booted test image looks like on
 * USB. A vendor-class device with the profile's application VID:PID
 * (0483:5740) that reports the firmware version embedded in the image:
 *
 *   string descriptor 4 (the interface string, iInterface): the version
 *   vendor request IN  bmRequestType 0xC0, bRequest 0x56 ('V'), wValue 0,
 *                      wIndex 0: the version string, no NUL, at most 31 bytes
 *   vendor request OUT bmRequestType 0x40, bRequest 0x42 ('B'), no data: the
 *                      application jumps to the ROM bootloader (the way
 *                      firmware offers a "reboot to DFU" command)
 *
 * Manufacturer "STMicroelectronics", product "mcu-ota test application",
 * serial the same 12 hex digits as the ROM reports (both come from the UID).
 * Pure functions: the raw_gadget plumbing is the caller's. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/usb/ch9.h>

#define APP_REQ_GET_VERSION      0x56 /* 'V' */
#define APP_REQ_ENTER_BOOTLOADER 0x42 /* 'B' */
#define APP_STRING_VERSION       4

struct app_identity {
	uint16_t vid, pid;
	const char *serial;
	const char *version;
};

enum app_action {
	APP_ANSWER,           /* IN: send the reply; OUT: acknowledge */
	APP_CONFIGURE,        /* SET_CONFIGURATION: enable it, then acknowledge */
	APP_STALL,            /* not supported: stall */
	APP_ENTER_BOOTLOADER, /* acknowledge, then leave the bus and start the ROM */
};

/* Decide the answer to one control request. For APP_ANSWER on an IN request
 * the reply (at most wLength bytes) is written to reply and its length to
 * *len. */
enum app_action app_request(const struct app_identity *id, const struct usb_ctrlrequest *ctrl,
                            uint8_t *reply, size_t cap, size_t *len);
