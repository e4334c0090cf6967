/* plugin-run: runs one operation of an entry plugin, loaded the way mcu-ota
 * loads it, with settings from the command line. A test driver for the VM
 * rig until the update engine drives entry plugins itself.
 *
 * usage: plugin-run [-v] PLUGIN_DIR NAME enter|exit [key=value...]
 * A value that is a decimal integer becomes an int, true/false a bool,
 * anything else a string. Exit 0 on success; 1 with the plugin's message on
 * stderr when the operation fails; 2 on a usage or load error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/host.h"
#include "core/plugin_loader.h"
#include "util/log.h"

static int usage(void)
{
	fprintf(stderr, "usage: plugin-run [-v] PLUGIN_DIR NAME enter|exit [key=value...]\n");
	return 2;
}

static bool parse_int(const char *s, long long *out)
{
	char *end;
	if (!*s)
		return false;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0';
}

int main(int argc, char **argv)
{
	int a = 1;
	if (a < argc && strcmp(argv[a], "-v") == 0) {
		log_set_level(MCU_OTA_LOG_DEBUG);
		a++;
	}
	if (argc - a < 3)
		return usage();
	const char *dir = argv[a], *name = argv[a + 1], *op = argv[a + 2];
	bool enter = strcmp(op, "enter") == 0;
	if (!enter && strcmp(op, "exit") != 0)
		return usage();

	static struct host h;
	host_init(&h, true);
	for (int i = a + 3; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		long long n;
		if (!eq || eq == argv[i]) {
			fprintf(stderr, "plugin-run: '%s' is not key=value\n", argv[i]);
			return 2;
		}
		if (h.setting_count == HOST_MAX_SETTINGS) {
			fprintf(stderr, "plugin-run: more than %d settings\n", HOST_MAX_SETTINGS);
			return 2;
		}
		*eq = '\0';
		const char *value = eq + 1;
		if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
			host_set_bool(&h, argv[i], value[0] == 't');
		else if (parse_int(value, &n))
			host_set_int(&h, argv[i], n);
		else
			host_set_string(&h, argv[i], value);
	}

	struct plugin p;
	char err[1024] = "";
	if (plugin_load(dir, name, MCU_OTA_PLUGIN_ENTRY, &p, err, sizeof(err)) < 0) {
		fprintf(stderr, "plugin-run: %s\n", err);
		return 2;
	}
	const struct mcu_ota_entry_ops *ops = p.desc->entry;
	int r = enter ? ops->enter(&h.api, err, sizeof(err)) : ops->exit(&h.api, err, sizeof(err));
	plugin_unload(&p);
	if (r < 0) {
		fprintf(stderr, "plugin-run: %s %s: %s\n", name, op,
		        err[0] ? err : "failed without a message");
		return 1;
	}
	return 0;
}
