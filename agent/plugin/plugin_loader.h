/* Loads plugins: mcu-ota-<name>.so from the plugin directory. */
#pragma once

#include <stddef.h>

#include <mcu-ota/plugin.h>

struct plugin {
	void *dl;
	const struct mcu_ota_plugin *desc;
	char path[4096];
};

/* The directory to load from: the explicit option, else $MCU_OTA_PLUGIN_DIR,
 * else "plugins" beside the running binary (the build tree), else the
 * installed ${libdir}/mcu-ota/plugins. */
const char *plugin_dir(const char *option);

/* -ENOENT when no such plugin (err names the file; the caller adds how its
 * plugin directory is chosen), -EPROTO for another ABI version or kind; err
 * says which and what to do. */
__attribute__((warn_unused_result)) int plugin_load(const char *dir, const char *name,
                                                    enum mcu_ota_plugin_kind kind,
                                                    struct plugin *out, char *err, size_t errlen);
void plugin_unload(struct plugin *p);

/* The names of the settings a loaded plugin reads (NULL-terminated), or NULL
 * when it declares none (its list is NULL, or its ops table was built before
 * the list existed): then its section cannot be checked. */
const char *const *plugin_settings(const struct plugin *p);
const char *plugin_kind_name(enum mcu_ota_plugin_kind kind);
