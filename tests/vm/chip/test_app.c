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

static void configuration_has_one_vendor_interface_named_by_the_version(void)
{
	uint8_t r[4096];
	size_t n;
	CHECK_INT(ask(&id, 0x80, 6, 0x0200, 0, 255, r, &n), APP_ANSWER);
	CHECK_INT(n, 18);
	CHECK_INT(r[2], 18);
	CHECK_INT(r[9 + 5], 0xFF);
	CHECK_INT(r[9 + 8], APP_STRING_VERSION);
	CHECK_INT(ask(&id, 0x80, 6, 0x0201, 0, 255, r, &n), APP_STALL);
	CHECK_INT(ask(&id, 0x80, 6, 0x0600, 0, 10, r, &n), APP_STALL); /* qualifier */
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
	/* not a DFU device: class requests stall */
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
          TEST(configuration_has_one_vendor_interface_named_by_the_version),
          TEST(strings_report_serial_and_version), TEST(vendor_requests),
          TEST(configuration_requests))
