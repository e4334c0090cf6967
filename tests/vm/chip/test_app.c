/* The application identity of the rig's chip (app.c), without USB: the
 * descriptors a host reads and the vendor requests the scenarios use. */
#include "app.h"
#include "check.h"

static enum app_action ask(const struct app_identity *id, uint8_t type, uint8_t req, uint16_t value,
                           uint16_t index, uint16_t length, uint8_t *reply, size_t *len)
{
	struct usb_ctrlrequest c = {.bRequestType = type,
	                            .bRequest = req,
	                            .wValue = value,
	                            .wIndex = index,
	                            .wLength = length};
	return app_request(id, &c, reply, 4096, len);
}

static const struct app_identity id = {0x0483, 0x5740, "3574364C3034", "2.0.0"};

static void device_descriptor_is_the_application(void)
{
	uint8_t r[4096];
	size_t n;
	CHECK_INT(ask(&id, 0x80, 6, 0x0100, 0, 64, r, &n), APP_ANSWER);
	CHECK_INT(n, 18);
	CHECK_INT(r[8] | r[9] << 8, 0x0483);
	CHECK_INT(r[10] | r[11] << 8, 0x5740);
	CHECK_INT(r[7], 64);
	CHECK_INT(r[17], 1);
	/* a host asking for 8 bytes first gets 8 */
	CHECK_INT(ask(&id, 0x80, 6, 0x0100, 0, 8, r, &n), APP_ANSWER);
	CHECK_INT(n, 8);
}

static void configuration_has_a_vendor_interface_named_by_the_version(void)
{
	uint8_t r[4096];
	size_t n;
	CHECK_INT(ask(&id, 0x80, 6, 0x0200, 0, 255, r, &n), APP_ANSWER);
	CHECK_INT(n, 36);
	CHECK_INT(r[2] | r[3] << 8, 36);
	CHECK_INT(r[4], 2); /* bNumInterfaces */
	CHECK_INT(r[9 + 2], 0);
	CHECK_INT(r[9 + 4], 0); /* no endpoints */
	CHECK_INT(r[9 + 5], 0xFF);
	CHECK_INT(r[9 + 8], APP_STRING_VERSION);
	/* a host reading the first 9 bytes learns the total length */
	CHECK_INT(ask(&id, 0x80, 6, 0x0200, 0, 9, r, &n), APP_ANSWER);
	CHECK_INT(n, 9);
	CHECK_INT(ask(&id, 0x80, 6, 0x0201, 0, 255, r, &n), APP_STALL);
	CHECK_INT(ask(&id, 0x80, 6, 0x0600, 0, 10, r, &n), APP_STALL); /* qualifier */
}

/* Interface 1 as ST's USB device library gives applications: DFU runtime
 * (FE/01/01), the functional descriptor right after it. */
static void configuration_has_a_dfu_runtime_interface(void)
{
	uint8_t r[4096];
	size_t n;
	CHECK_INT(ask(&id, 0x80, 6, 0x0200, 0, 255, r, &n), APP_ANSWER);
	const uint8_t *itf = r + 18, *f = r + 27;
	CHECK_INT(itf[0], 9);
	CHECK_INT(itf[1], 4);
	CHECK_INT(itf[2], APP_DFU_INTERFACE);
	CHECK_INT(itf[3], 0); /* alt */
	CHECK_INT(itf[4], 0); /* no endpoints */
	CHECK_INT(itf[5], 0xFE);
	CHECK_INT(itf[6], 0x01);
	CHECK_INT(itf[7], 0x01); /* runtime, not DFU mode (2) */
	CHECK_INT(itf[8], APP_STRING_DFU);
	CHECK_INT(f[0], 9);
	CHECK_INT(f[1], 0x21);
	CHECK_INT(f[2], 0x0B); /* bitWillDetach | bitCanUpload | bitCanDnload */
	CHECK(f[2] & 0x08);
	CHECK_INT(f[3] | f[4] << 8, 1000);
	CHECK_INT(f[5] | f[6] << 8, 2048);
	CHECK_INT(f[7] | f[8] << 8, 0x011A);
	/* the same 9 bytes when asked on their own (GET_DESCRIPTOR to the interface) */
	uint8_t alone[4096];
	CHECK_INT(ask(&id, 0x81, 6, 0x2100, APP_DFU_INTERFACE, 255, alone, &n), APP_ANSWER);
	CHECK_INT(n, 9);
	CHECK(memcmp(alone, f, 9) == 0);
	CHECK_INT(ask(&id, 0x81, 6, 0x2100, 0, 255, alone, &n), APP_STALL);
	/* its name */
	CHECK_INT(ask(&id, 0x80, 6, 0x0300 | APP_STRING_DFU, 0x409, 255, r, &n), APP_ANSWER);
	CHECK_INT(n, 2 + 2 * 19);
	CHECK_INT(r[2], 'm');
}

static void dfu_runtime_requests(void)
{
	uint8_t r[4096];
	size_t n;
	/* GETSTATUS: OK, poll timeout 0, appIDLE */
	CHECK_INT(ask(&id, 0xA1, APP_DFU_GETSTATUS, 0, APP_DFU_INTERFACE, 6, r, &n), APP_ANSWER);
	CHECK_INT(n, 6);
	CHECK_INT(r[0], 0);
	CHECK_INT(r[1] | r[2] << 8 | r[3] << 16, 0);
	CHECK_INT(r[4], 0);
	CHECK_INT(ask(&id, 0xA1, APP_DFU_GETSTATE, 0, APP_DFU_INTERFACE, 1, r, &n), APP_ANSWER);
	CHECK_INT(n, 1);
	CHECK_INT(r[0], 0);
	/* DETACH with the host's timeout: the application goes at once (bitWillDetach) */
	CHECK_INT(ask(&id, 0x21, APP_DFU_DETACH, 1000, APP_DFU_INTERFACE, 0, r, &n),
	          APP_ENTER_BOOTLOADER);
	CHECK_INT(ask(&id, 0x21, APP_DFU_DETACH, 0, APP_DFU_INTERFACE, 0, r, &n),
	          APP_ENTER_BOOTLOADER);
	/* to the wrong interface, or with data: stalled */
	CHECK_INT(ask(&id, 0x21, APP_DFU_DETACH, 1000, 0, 0, r, &n), APP_STALL);
	CHECK_INT(ask(&id, 0x21, APP_DFU_DETACH, 1000, APP_DFU_INTERFACE, 2, r, &n), APP_STALL);
	CHECK_INT(ask(&id, 0xA1, APP_DFU_GETSTATUS, 0, 0, 6, r, &n), APP_STALL);
	/* the DFU-mode requests have no meaning in appIDLE */
	CHECK_INT(ask(&id, 0x21, 1 /* DNLOAD */, 0, APP_DFU_INTERFACE, 0, r, &n), APP_STALL);
	CHECK_INT(ask(&id, 0xA1, 2 /* UPLOAD */, 0, APP_DFU_INTERFACE, 64, r, &n), APP_STALL);
	CHECK_INT(ask(&id, 0x21, 4 /* CLRSTATUS */, 0, APP_DFU_INTERFACE, 0, r, &n), APP_STALL);
	CHECK_INT(ask(&id, 0x21, 6 /* ABORT */, 0, APP_DFU_INTERFACE, 0, r, &n), APP_STALL);
	/* both interfaces have one alt setting */
	CHECK_INT(ask(&id, 0x01, 11, 0, APP_DFU_INTERFACE, 0, r, &n), APP_ANSWER);
	CHECK_INT(ask(&id, 0x01, 11, 1, APP_DFU_INTERFACE, 0, r, &n), APP_STALL);
	CHECK_INT(ask(&id, 0x81, 10, 0, APP_DFU_INTERFACE, 1, r, &n), APP_ANSWER);
	CHECK_INT(ask(&id, 0x81, 10, 0, 2, 1, r, &n), APP_STALL);
}

static void strings_report_serial_and_version(void)
{
	uint8_t r[4096];
	size_t n;
	CHECK_INT(ask(&id, 0x80, 6, 0x0300, 0, 255, r, &n), APP_ANSWER);
	CHECK_INT(n, 4);
	CHECK_INT(ask(&id, 0x80, 6, 0x0303, 0x409, 255, r, &n), APP_ANSWER);
	CHECK_INT(n, 2 + 2 * 12);
	CHECK_INT(r[2], '3');
	CHECK_INT(ask(&id, 0x80, 6, 0x0300 | APP_STRING_VERSION, 0x409, 255, r, &n), APP_ANSWER);
	CHECK_INT(n, 2 + 2 * 5);
	CHECK(memcmp(r + 2,
	             "2\0.\0"
	             "0\0.\0"
	             "0\0",
	             10) == 0);
	CHECK_INT(ask(&id, 0x80, 6, 0x0309, 0x409, 255, r, &n), APP_STALL);
}

static void vendor_requests(void)
{
	uint8_t r[4096];
	size_t n;
	CHECK_INT(ask(&id, 0xC0, APP_REQ_GET_VERSION, 0, 0, 64, r, &n), APP_ANSWER);
	CHECK_INT(n, 5);
	CHECK(memcmp(r, "2.0.0", 5) == 0);
	CHECK_INT(ask(&id, 0xC0, APP_REQ_GET_VERSION, 1, 0, 64, r, &n), APP_STALL);
	CHECK_INT(ask(&id, 0xC0, 0x01, 0, 0, 64, r, &n), APP_STALL);
	CHECK_INT(ask(&id, 0x40, APP_REQ_ENTER_BOOTLOADER, 0, 0, 0, r, &n), APP_ENTER_BOOTLOADER);
	CHECK_INT(ask(&id, 0x40, APP_REQ_ENTER_BOOTLOADER, 0, 0, 4, r, &n), APP_STALL);
	/* wired to wValue 0, wIndex 0: other values are another command */
	CHECK_INT(ask(&id, 0x40, APP_REQ_ENTER_BOOTLOADER, 1, 0, 0, r, &n), APP_STALL);
	CHECK_INT(ask(&id, 0x40, APP_REQ_ENTER_BOOTLOADER, 0, 1, 0, r, &n), APP_STALL);
	CHECK_INT(ask(&id, 0x40, APP_REQ_ENTER_BOOTLOADER + 1, 0, 0, 0, r, &n), APP_STALL);
	CHECK_INT(ask(&id, 0x41, APP_REQ_ENTER_BOOTLOADER, 0, 0, 0, r, &n), APP_STALL);
	/* interface 0 is not the DFU one: class requests to it stall */
	CHECK_INT(ask(&id, 0xA1, 3, 0, 0, 6, r, &n), APP_STALL);
}

static void configuration_requests(void)
{
	uint8_t r[4096];
	size_t n;
	CHECK_INT(ask(&id, 0x00, 9, 1, 0, 0, r, &n), APP_CONFIGURE);
	CHECK_INT(ask(&id, 0x00, 9, 2, 0, 0, r, &n), APP_STALL);
	CHECK_INT(ask(&id, 0x80, 8, 0, 0, 1, r, &n), APP_ANSWER);
	CHECK_INT(r[0], 1);
	CHECK_INT(ask(&id, 0x01, 11, 0, 0, 0, r, &n), APP_ANSWER);
	CHECK_INT(ask(&id, 0x01, 11, 1, 0, 0, r, &n), APP_STALL);
}

TEST_MAIN(TEST(device_descriptor_is_the_application),
          TEST(configuration_has_a_vendor_interface_named_by_the_version),
          TEST(configuration_has_a_dfu_runtime_interface), TEST(dfu_runtime_requests),
          TEST(strings_report_serial_and_version), TEST(vendor_requests),
          TEST(configuration_requests))
