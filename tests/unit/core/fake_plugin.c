/* Built several times with different FAKE_* definitions, to give the loader
 * plugins of the right and the wrong ABI, kind and symbol. */
#include <mcu-ota/plugin.h>

static int enter(const struct mcu_ota_host *host, char *err, size_t errlen)
{
	(void)host, (void)err, (void)errlen;
	return 0;
}

static const struct mcu_ota_entry_ops ops = {
#ifndef FAKE_INCOMPLETE
    .size = sizeof(struct mcu_ota_entry_ops),
    .enter = enter,
#endif
    .exit = enter,
};

static const struct mcu_ota_plugin plugin = {
    .abi = FAKE_ABI,
    .kind = MCU_OTA_PLUGIN_ENTRY,
    .name = "fake",
    .entry = &ops,
};

#ifdef FAKE_NO_SYMBOL
MCU_OTA_EXPORT const struct mcu_ota_plugin *some_other_symbol(void);
MCU_OTA_EXPORT const struct mcu_ota_plugin *some_other_symbol(void)
{
	return &plugin;
}
#else
MCU_OTA_DEFINE_PLUGIN(plugin)
#endif
