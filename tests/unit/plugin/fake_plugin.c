/* Built several times with different FAKE_* definitions, to give the loader
 * plugins of the right and the wrong ABI, kind and symbol, and with and
 * without a settings list. */
#include <stddef.h>

#include <mcu-ota/plugin.h>

static int enter(const struct mcu_ota_host *host, char *err, size_t errlen)
{
	(void)host, (void)err, (void)errlen;
	return 0;
}

#if defined(FAKE_SETTINGS) || defined(FAKE_OLD_TABLE)
static const char *const settings[] = {"chip", "line", NULL};
#endif

static const struct mcu_ota_entry_ops ops = {
#ifndef FAKE_INCOMPLETE
#ifdef FAKE_OLD_TABLE
    /* built before the settings list existed: the table ends before it, so
     * whatever follows must not be taken for one */
    .size = offsetof(struct mcu_ota_entry_ops, settings),
#else
    .size = sizeof(struct mcu_ota_entry_ops),
#endif
    .enter = enter,
#endif
    .exit = enter,
#if defined(FAKE_SETTINGS) || defined(FAKE_OLD_TABLE)
    .settings = settings,
#endif
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
