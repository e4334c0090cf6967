#include "plugin/plugin_loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/trusted_file.h"
#include "util/format.h"

const char *plugin_kind_name(enum mcu_ota_plugin_kind kind)
{
	switch (kind) {
	case MCU_OTA_PLUGIN_ENTRY:
		return "entry";
	case MCU_OTA_PLUGIN_FLASHER:
		return "flasher";
	case MCU_OTA_PLUGIN_HEALTH:
		return "health";
	}
	return "unknown";
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *plugin_dir(const char *option)
{
	static char beside_exe[PATH_MAX];
	const char *env = getenv("MCU_OTA_PLUGIN_DIR");
	if (option && *option)
		return option;
	if (env && *env)
		return env;
	ssize_t n = readlink("/proc/self/exe", beside_exe, sizeof(beside_exe) - sizeof("/plugins"));
	if (n > 0) {
		beside_exe[n] = '\0';
		char *slash = strrchr(beside_exe, '/');
		if (slash) {
			strcpy(slash, "/plugins");
			if (is_dir(beside_exe))
				return beside_exe;
		}
	}
	return MCU_OTA_PLUGIN_DIR;
}

static bool valid_name(const char *name)
{
	if (!*name || strlen(name) > 64)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_'))
			return false;
	return true;
}

/* Every operation of ABI 1 is required; members appended later are optional
 * and checked with MCU_OTA_HAS where they are used. */
static bool ops_complete(const struct mcu_ota_plugin *p)
{
	const struct mcu_ota_flasher_ops *f = p->flasher;
	const struct mcu_ota_entry_ops *e = p->entry;
	const struct mcu_ota_health_ops *h = p->health;
	switch (p->kind) {
	case MCU_OTA_PLUGIN_FLASHER:
		return f && MCU_OTA_HAS(f, struct mcu_ota_flasher_ops, close) && f->list &&
		       f->open && f->info && f->write && f->read && f->leave && f->close;
	case MCU_OTA_PLUGIN_ENTRY:
		return e && MCU_OTA_HAS(e, struct mcu_ota_entry_ops, exit) && e->enter && e->exit;
	case MCU_OTA_PLUGIN_HEALTH:
		return h && MCU_OTA_HAS(h, struct mcu_ota_health_ops, check) && h->check;
	}
	return false;
}

int plugin_load(const char *dir, const char *name, enum mcu_ota_plugin_kind kind,
                struct plugin *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!valid_name(name)) {
		mcu_ota_set_error(err, errlen,
		                  "invalid plugin name \"%s\" (letters, digits, - and _)", name);
		return -EINVAL;
	}
	snprintf(out->path, sizeof(out->path), "%s/mcu-ota-%s.so", dir, name);
	if (access(out->path, R_OK) != 0) {
		/* the caller knows how the directory was chosen, and says how to change it */
		mcu_ota_set_error(err, errlen, "no %s plugin \"%s\": %s does not exist",
		                  plugin_kind_name(kind), name, out->path);
		return -ENOENT;
	}
	/* a plugin runs inside mcu-ota (root): whoever may replace it runs code as root */
	int trust = trusted_file_check("plugin", out->path, TRUSTED_PUBLIC, err, errlen);
	if (trust < 0)
		return trust;
	out->dl = dlopen(out->path, RTLD_NOW | RTLD_LOCAL);
	if (!out->dl) {
		mcu_ota_set_error(err, errlen, "cannot load plugin %s: %s", out->path, dlerror());
		return -ENOEXEC;
	}
	mcu_ota_plugin_fn fn;
	*(void **)&fn = dlsym(out->dl, MCU_OTA_PLUGIN_SYMBOL);
	const struct mcu_ota_plugin *desc = fn ? fn() : NULL;
	int r = 0;
	if (!desc) {
		mcu_ota_set_error(
		    err, errlen,
		    "%s is not an mcu-ota plugin of this ABI: it exports no %s() (plugins "
		    "built for another ABI version export another symbol; rebuild it against "
		    "this mcu-ota's plugin.h)",
		    out->path, MCU_OTA_PLUGIN_SYMBOL);
		r = -EPROTO;
	} else if (desc->abi != MCU_OTA_PLUGIN_ABI) {
		mcu_ota_set_error(
		    err, errlen,
		    "plugin %s was built for plugin ABI %u, this mcu-ota speaks ABI %u: "
		    "rebuild it against this mcu-ota's plugin.h",
		    out->path, (unsigned)desc->abi, MCU_OTA_PLUGIN_ABI);
		r = -EPROTO;
	} else if (desc->kind != (uint32_t)kind) {
		mcu_ota_set_error(err, errlen, "plugin %s is a%s %s plugin, not a%s %s plugin",
		                  out->path, desc->kind == MCU_OTA_PLUGIN_ENTRY ? "n" : "",
		                  plugin_kind_name((enum mcu_ota_plugin_kind)desc->kind),
		                  kind == MCU_OTA_PLUGIN_ENTRY ? "n" : "", plugin_kind_name(kind));
		r = -EPROTO;
	} else if (!ops_complete(desc)) {
		mcu_ota_set_error(
		    err, errlen,
		    "plugin %s lacks operations that %s plugins must have (an operation is NULL "
		    "or its ops table is too short): fix the plugin",
		    out->path, plugin_kind_name(kind));
		r = -EPROTO;
	}
	if (r < 0) {
		dlclose(out->dl);
		out->dl = NULL;
		return r;
	}
	out->desc = desc;
	return 0;
}

const char *const *plugin_settings(const struct plugin *p)
{
	const struct mcu_ota_plugin *d = p ? p->desc : NULL;
	if (!d)
		return NULL;
	switch (d->kind) {
	case MCU_OTA_PLUGIN_ENTRY:
		return MCU_OTA_HAS(d->entry, struct mcu_ota_entry_ops, settings)
		           ? d->entry->settings
		           : NULL;
	case MCU_OTA_PLUGIN_FLASHER:
		return MCU_OTA_HAS(d->flasher, struct mcu_ota_flasher_ops, settings)
		           ? d->flasher->settings
		           : NULL;
	case MCU_OTA_PLUGIN_HEALTH:
		return MCU_OTA_HAS(d->health, struct mcu_ota_health_ops, settings)
		           ? d->health->settings
		           : NULL;
	}
	return NULL;
}

void plugin_unload(struct plugin *p)
{
	if (p && p->dl) {
		dlclose(p->dl);
		p->dl = NULL;
		p->desc = NULL;
	}
}
