/* The "usb" health plugin: the application is up when its VID:PID (and
 * serial, compared without regard to case) enumerates within the deadline.
 *
 * Settings: vid, pid (ints, required), serial, port (strings, optional;
 * port as the kernel names it, "1-1.3"). */
#include "usb_match.h"

/* The settings usb_check reads: the selection only. */
static const char *const settings[] = {USB_MATCH_SETTINGS, NULL};

static int usb_check(const struct mcu_ota_host *host, const char *expected_version,
                     unsigned deadline_ms, char *err, size_t errlen)
{
	struct usb_match m;
	int r = usb_match_config(host, &m, err, errlen);
	if (r < 0)
		return r;
	if (expected_version)
		mcu_ota_log(host, MCU_OTA_LOG_DEBUG,
		            "usb: the version is not checked (usb-version does that)");
	return usb_match_wait(host, &m, deadline_ms, NULL, NULL, err, errlen);
}

static const struct mcu_ota_health_ops ops = {
    .size = sizeof(struct mcu_ota_health_ops),
    .check = usb_check,
    .settings = settings,
};

static const struct mcu_ota_plugin plugin = {
    .abi = MCU_OTA_PLUGIN_ABI,
    .kind = MCU_OTA_PLUGIN_HEALTH,
    .name = "usb",
    .description = "the application's USB VID:PID (and serial) enumerates within the deadline",
    .health = &ops,
};

MCU_OTA_DEFINE_PLUGIN(plugin)
