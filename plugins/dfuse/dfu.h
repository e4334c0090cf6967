/* DFU 1.1 with ST's DfuSe extensions, over any control-transfer transport:
 * libusb on a gateway, the STM32 model in unit tests. Every descriptor is
 * read through the transport too, so the tests exercise the same parser the
 * device sees. Protocol facts and sources: docs/protocol.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mcu-ota/plugin.h>

#include "layout.h"
#include "quirks.h"

/* Negative errno on failure: -EPIPE (stalled), -ENODEV (left the bus),
 * -ETIMEDOUT, -EIO. Otherwise the number of bytes transferred. */
struct dfu_transport {
	void *ctx;
	int (*control)(void *ctx, uint8_t request_type, uint8_t request, uint16_t value,
	               uint16_t index, uint8_t *data, uint16_t length, unsigned timeout_ms);
	int (*set_alt)(void *ctx, uint8_t interface, uint8_t alt);
	/* The flasher's time, for its deadlines and poll waits. NULL (libusb on
	 * a gateway): CLOCK_MONOTONIC and nanosleep. The in-process tests give
	 * the model's virtual clock, so a deadline is measured in the chip's
	 * time and a loaded machine that deschedules the test cannot trip it. */
	uint64_t (*now_ms)(void *clock_ctx);
	void (*sleep_ms)(void *clock_ctx, uint32_t ms);
	void *clock_ctx;
};

#define DFU_MAX_ALTS 16

enum dfu_state {
	DFU_STATE_APP_IDLE = 0,
	DFU_STATE_APP_DETACH = 1,
	DFU_STATE_IDLE = 2,
	DFU_STATE_DNLOAD_SYNC = 3,
	DFU_STATE_DNBUSY = 4,
	DFU_STATE_DNLOAD_IDLE = 5,
	DFU_STATE_MANIFEST_SYNC = 6,
	DFU_STATE_MANIFEST = 7,
	DFU_STATE_MANIFEST_WAIT_RESET = 8,
	DFU_STATE_UPLOAD_IDLE = 9,
	DFU_STATE_ERROR = 10,
};

struct dfu_status {
	uint8_t status;
	uint32_t poll_timeout_ms;
	uint8_t state;
};

struct dfu_device {
	struct dfu_transport transport;
	const struct mcu_ota_host *host; /* may be NULL */
	struct mcu_ota_device_info info;
	struct mcu_ota_memory memories[DFU_MAX_ALTS];
	struct dfuse_layout layouts[DFU_MAX_ALTS];
	const struct dfuse_quirk *quirk;
	uint8_t interface;
	int alt;                  /* selected alt setting, -1 before the first selection */
	uint32_t poll_timeout_ms; /* the last bwPollTimeout the device reported */
	bool left;                /* leave was sent: the device is gone */
};

/* Read the descriptors (device, configuration, strings, DFU functional
 * descriptor, alt layouts) and pick the quirk. info.port is the caller's. */
__attribute__((warn_unused_result)) int dfu_describe(struct dfu_device *d, char *err,
                                                     size_t errlen);
void dfu_release(struct dfu_device *d);

/* Bring the device to dfuIDLE: clear dfuERROR, abort anything half done. */
__attribute__((warn_unused_result)) int dfu_prepare(struct dfu_device *d, char *err, size_t errlen);

__attribute__((warn_unused_result)) int dfu_write(struct dfu_device *d,
                                                  const struct mcu_ota_image *image,
                                                  const struct mcu_ota_write_options *opts,
                                                  char *err, size_t errlen);
__attribute__((warn_unused_result)) int dfu_read(struct dfu_device *d, unsigned alt,
                                                 uint32_t address, uint8_t *buf, size_t len,
                                                 char *err, size_t errlen);
__attribute__((warn_unused_result)) int dfu_leave(struct dfu_device *d, uint32_t address, char *err,
                                                  size_t errlen);

const char *dfu_status_name(uint8_t status);
const char *dfu_state_name(uint8_t state);
