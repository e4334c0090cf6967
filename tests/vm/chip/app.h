/* The application side of the chip: what a booted test image looks like on
 * USB. A vendor-class device with the profile's application VID:PID
 * (0483:5740) that reports the firmware version embedded in the image:
 *
 *   string descriptor 4 (the interface string, iInterface): the version
 *   vendor request IN  bmRequestType 0xC0, bRequest 0x56 ('V'), wValue 0,
 *                      wIndex 0: the version string, no NUL, at most 31 bytes
 *   vendor request OUT bmRequestType 0x40, bRequest 0x42 ('B'), wValue 0,
 *                      wIndex 0, no data: the application jumps to the ROM
 *                      bootloader (the way firmware offers a "reboot to DFU"
 *                      command)
 *   interface 1        a DFU 1.1 runtime interface (class FE/01/01) with the
 *                      functional descriptor ST's USB device library gives
 *                      applications: bmAttributes 0x0B (bitWillDetach,
 *                      bitCanUpload, bitCanDnload), wDetachTimeOut 1000,
 *                      wTransferSize 2048, bcdDFUVersion 0x011A.
 *                      DFU_DETACH (0x21, bRequest 0, wIndex 1) acts as 'B'
 *                      (the device detaches by itself); GETSTATUS and
 *                      GETSTATE answer appIDLE; other DFU requests stall.
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
#define APP_STRING_DFU           5 /* the runtime interface's name */

#define APP_DFU_INTERFACE      1
#define APP_DFU_ATTRIBUTES     0x0B /* bitWillDetach | bitCanUpload | bitCanDnload */
#define APP_DFU_DETACH_TIMEOUT 1000 /* wDetachTimeOut, ms */
#define APP_DFU_TRANSFER_SIZE  2048
#define APP_DFU_VERSION        0x011A
#define APP_DFU_DETACH         0
#define APP_DFU_GETSTATUS      3
#define APP_DFU_GETSTATE       5

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
