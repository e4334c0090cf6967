#include "plugin/config_plugins.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "util/suggest.h"

/* The plugin of dir ("mcu-ota-NAME.so") whose name is closest to typo, into
 * out; false when none is close. */
static bool suggest_plugin(const char *dir, const char *typo, char *out, size_t outlen)
{
	static const char prefix[] = "mcu-ota-", suffix[] = ".so";
	DIR *d = opendir(dir);
	unsigned best = ~0u;
	bool found = false;
	if (!d)
		return false;
	for (struct dirent *e; (e = readdir(d));) {
		size_t n = strlen(e->d_name);
		if (n <= strlen(prefix) + strlen(suffix) ||
		    strncmp(e->d_name, prefix, strlen(prefix)) ||
		    strcmp(e->d_name + n - strlen(suffix), suffix))
			continue;
		char name[SUGGEST_NAME_MAX + 1];
		size_t len = n - strlen(prefix) - strlen(suffix);
		if (len > SUGGEST_NAME_MAX)
			continue;
		memcpy(name, e->d_name + strlen(prefix), len);
		name[len] = '\0';
		if (suggest_closer(typo, name, &best)) {
			snprintf(out, outlen, "%s", name);
			found = true;
		}
	}
	closedir(d);
	return found;
}

int config_check_plugin(const struct config *c, const struct config_plugin *cp,
                        const struct plugin *p, char *err, size_t errlen)
{
	const config_setting_t *section = cp->section;
	if (!section)
		return 0;
	const char *const *known = plugin_settings(p);
	if (!known) {
		char where[1024];
		(void)config_error_at(c, section, where, sizeof(where),
		                      "the %s plugin (%s) declares no settings list: its settings "
		                      "are not checked",
		                      cp->plugin, p->path);
		log_debug("%s", where);
		return 0;
	}
	for (int i = 0; i < config_setting_length(section); i++) {
		const config_setting_t *m = config_setting_get_elem(section, (unsigned)i);
		const char *name = config_setting_name(m);
		bool ok = !strcmp(name, "plugin");
		for (const char *const *k = known; *k && !ok; k++)
			ok = !strcmp(name, *k);
		if (ok)
			continue;
		if (!*known)
			return config_error_at(c, m, err, errlen,
			                       "the %s plugin has no setting \"%s\": it takes none",
			                       cp->plugin, name);
		char list[512] = "";
		size_t off = 0;
		for (const char *const *k = known; *k && off < sizeof(list); k++) {
			int w = snprintf(list + off, sizeof(list) - off, "%s%s",
			                 k == known ? "" : ", ", *k);
			if (w < 0)
				break;
			off += (size_t)w;
		}
		const char *near = suggest_name(name, known);
		return config_error_at(c, m, err, errlen,
		                       "the %s plugin has no setting \"%s\"; it knows: %s%s%s%s",
		                       cp->plugin, name, list, near ? "; did you mean \"" : "",
		                       near ? near : "", near ? "\"?" : "");
	}
	return 0;
}

/* How to change the plugin directory that had no such plugin, in the order
 * plugin_dir() applies (a directory the caller gave is its own to name). */
static const char *dir_hint(const char *given, const struct config *c)
{
	if (given)
		return "";
	return c->plugin_dir ? " (is the plugin_dir setting right?)"
	                     : " (set the plugin directory with the plugin_dir setting or "
	                       "MCU_OTA_PLUGIN_DIR)";
}

/* Where a device's plugin is named: its "plugin" setting, else its section
 * (a default flasher with settings), else the device. */
static const config_setting_t *named_at(const struct config *c, size_t device,
                                        const struct config_plugin *cp)
{
	const config_setting_t *at = NULL;
	if (cp->section)
		at = config_setting_get_member(cp->section, "plugin");
	if (!at)
		at = cp->section;
	if (!at)
		at = config_setting_get_elem(config_lookup(&c->cfg, "devices"), (unsigned)device);
	return at;
}

int config_check_plugins(const struct config *c, const char *dir, char *err, size_t errlen)
{
	const char *from = plugin_dir(dir ? dir : c->plugin_dir);
	for (size_t i = 0; i < c->device_count; i++) {
		const struct device_config *d = &c->devices[i];
		const struct {
			const struct config_plugin *cp;
			enum mcu_ota_plugin_kind kind;
		} parts[] = {
		    {&d->entry, MCU_OTA_PLUGIN_ENTRY},
		    {&d->flasher, MCU_OTA_PLUGIN_FLASHER},
		    {&d->health, MCU_OTA_PLUGIN_HEALTH},
		};
		for (size_t k = 0; k < sizeof(parts) / sizeof(parts[0]); k++) {
			const struct config_plugin *cp = parts[k].cp;
			struct plugin p;
			char why[1024], near[SUGGEST_NAME_MAX + 1];
			int r = plugin_load(from, cp->plugin, parts[k].kind, &p, why, sizeof(why));
			if (r < 0) {
				bool hint = r == -ENOENT &&
				            suggest_plugin(from, cp->plugin, near, sizeof(near));
				return config_error_at(
				    c, named_at(c, i, cp), err, errlen, "%s%s%s%s%s", why,
				    hint ? "; did you mean \"" : "", hint ? near : "",
				    hint ? "\"?" : "",
				    r == -ENOENT && !hint ? dir_hint(dir, c) : "");
			}
			r = config_check_plugin(c, cp, &p, err, errlen);
			plugin_unload(&p);
			if (r < 0)
				return r;
		}
	}
	return 0;
}
