/* An out-of-tree health plugin, built by the packaging test with nothing but the installed SDK
 * (pkg-config mcu-ota-plugin), as a third party builds one: the application counts as up when
 * the file named by the setting "path" exists. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <mcu-ota/plugin.h>
#include <unistd.h>

static const char *const settings[] = {"path", NULL};

static int example_check(const struct mcu_ota_host *host, const char *expected_version,
                         unsigned deadline_ms, char *err, size_t errlen)
{
	const char *path;
	(void)deadline_ms;
	if (host->config_string(host->ctx, "path", &path) < 0) {
		mcu_ota_set_error(err, errlen,
		                  "example: no path set (a file the application creates)");
		return -EINVAL;
	}
	if (expected_version)
		mcu_ota_log(host, MCU_OTA_LOG_DEBUG, "example: version %s not checked",
		            expected_version);
	if (access(path, F_OK) < 0) {
		int e = errno;
		mcu_ota_set_error(err, errlen, "example: %s is not there", path);
		return -e;
	}
	return 0;
}

static const struct mcu_ota_health_ops ops = {
    .size = sizeof(struct mcu_ota_health_ops),
    .check = example_check,
    .settings = settings,
};

static const struct mcu_ota_plugin plugin = {
    .abi = MCU_OTA_PLUGIN_ABI,
    .kind = MCU_OTA_PLUGIN_HEALTH,
    .name = "example",
    .description = "the application is up when a file exists",
    .health = &ops,
};

MCU_OTA_DEFINE_PLUGIN(plugin)
