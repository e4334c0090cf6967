/* Prints, for each plugin file given, "NAME KIND SETTING...": the settings it declares, read
 * through the installed SDK the way the agent reads them. The packaging tests check that
 * mcu-ota.conf(5) documents every one. */
#include <dlfcn.h>
#include <mcu-ota/plugin.h>
#include <stdio.h>

static const char *const *settings_of(const struct mcu_ota_plugin *p, const char **kind)
{
	switch (p->kind) {
	case MCU_OTA_PLUGIN_ENTRY:
		*kind = "entry";
		return p->entry && MCU_OTA_HAS(p->entry, struct mcu_ota_entry_ops, settings)
		           ? p->entry->settings
		           : NULL;
	case MCU_OTA_PLUGIN_FLASHER:
		*kind = "flasher";
		return p->flasher && MCU_OTA_HAS(p->flasher, struct mcu_ota_flasher_ops, settings)
		           ? p->flasher->settings
		           : NULL;
	case MCU_OTA_PLUGIN_HEALTH:
		*kind = "health";
		return p->health && MCU_OTA_HAS(p->health, struct mcu_ota_health_ops, settings)
		           ? p->health->settings
		           : NULL;
	}
	*kind = "unknown";
	return NULL;
}

int main(int argc, char **argv)
{
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		void *so = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
		mcu_ota_plugin_fn fn =
		    so ? (mcu_ota_plugin_fn)dlsym(so, MCU_OTA_PLUGIN_SYMBOL) : NULL;
		const struct mcu_ota_plugin *p = fn ? fn() : NULL;
		if (!p || p->abi != MCU_OTA_PLUGIN_ABI) {
			fprintf(stderr, "%s: not a plugin of ABI %u: %s\n", argv[i],
			        MCU_OTA_PLUGIN_ABI, so ? "no or another descriptor" : dlerror());
			rc = 1;
			continue;
		}
		const char *kind;
		const char *const *s = settings_of(p, &kind);
		printf("%s %s", p->name, kind);
		for (; s && *s; s++)
			printf(" %s", *s);
		printf("\n");
	}
	return rc;
}
