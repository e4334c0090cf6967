/* The plugin sections of a loaded configuration checked against the plugins
 * they name: each plugin must load as its kind, and a section may hold only
 * the settings its plugin declares that it reads (the settings list of its
 * ops table, plugin.h), so that a typo in a plugin section is refused like
 * one anywhere else in the file instead of leaving a setting at its default.
 * Errors have config_load's form: "FILE:LINE: setting: what is wrong". */
#pragma once

#include <stddef.h>

#include "config/config.h"
#include "plugin/plugin_loader.h"

/* Every setting of cp's section (besides "plugin") must be one that p, the
 * plugin cp names, declares; -EINVAL otherwise, e.g.
 *   FILE:LINE: devices[0].flasher.seral: the dfuse plugin has no setting
 *   "seral"; it knows: serial, port, vid, pid; did you mean "serial"?
 * (the suggestion when a known name is at most 2 edits away). A plugin that
 * declares no list is not checked (logged at debug); no section passes. */
__attribute__((warn_unused_result)) int config_check_plugin(const struct config *c,
                                                            const struct config_plugin *cp,
                                                            const struct plugin *p, char *err,
                                                            size_t errlen);

/* Loads the entry, flasher and health plugin of every device of c from the
 * plugin directory (dir, the caller's choice, else c's plugin_dir, else
 * plugin_dir()'s search: the engine's order), checks each
 * section with config_check_plugin and unloads them again. 0, or -EINVAL
 * with the first problem; a plugin that does not load is named at its
 * "plugin" setting:
 *   FILE:LINE: devices[0].entry.plugin: no entry plugin "gpoi": ... does not
 *   exist (...); did you mean "gpio"? */
__attribute__((warn_unused_result)) int
config_check_plugins(const struct config *c, const char *dir, char *err, size_t errlen);
