/* plugin-run: runs one operation of an entry or health plugin, loaded the way
 * mcu-ota loads it, with settings from the command line. A test driver for
 * the VM rig until the update engine drives plugins itself.
 *
 * usage: plugin-run [-v] PLUGIN_DIR NAME enter|exit [key=value...]
 *        plugin-run [-v] PLUGIN_DIR NAME check [--expect VERSION] [--deadline MS]
 *                   [key=value...]
 * check runs a health plugin (deadline 5000 ms unless given; no expected
 * version unless given).
 * A value that is a decimal integer becomes an int, true/false a bool,
 * anything else a string. Exit 0 on success; 1 with the plugin's message on
 * stderr when the operation fails; 2 on a usage or load error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/host.h"
#include "plugin/plugin_loader.h"
#include "util/log.h"

static int usage(void)
{
	fprintf(stderr, "usage: plugin-run [-v] PLUGIN_DIR NAME enter|exit [key=value...]\n"
	                "       plugin-run [-v] PLUGIN_DIR NAME check [--expect VERSION] "
	                "[--deadline MS] [key=value...]\n");
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
	bool enter = strcmp(op, "enter") == 0, check = strcmp(op, "check") == 0;
	if (!enter && !check && strcmp(op, "exit") != 0)
		return usage();
	const char *expect = NULL;
	long long deadline = 5000;
	int i = a + 3;
	while (check && i < argc && strncmp(argv[i], "--", 2) == 0) {
		if (i + 1 == argc)
			return usage();
		if (strcmp(argv[i], "--expect") == 0)
			expect = argv[i + 1];
		else if (strcmp(argv[i], "--deadline") != 0 || !parse_int(argv[i + 1], &deadline) ||
		         deadline < 0 || deadline > 24LL * 3600 * 1000)
			return usage();
		i += 2;
	}

	static struct host h;
	host_init(&h, true);
	for (; i < argc; i++) {
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
	if (plugin_load(dir, name, check ? MCU_OTA_PLUGIN_HEALTH : MCU_OTA_PLUGIN_ENTRY, &p, err,
	                sizeof(err)) < 0) {
		fprintf(stderr, "plugin-run: %s\n", err);
		return 2;
	}
	int r;
	if (check)
		r = p.desc->health->check(&h.api, expect, (unsigned)deadline, err, sizeof(err));
	else if (enter)
		r = p.desc->entry->enter(&h.api, err, sizeof(err));
	else
		r = p.desc->entry->exit(&h.api, err, sizeof(err));
	plugin_unload(&p);
	if (r < 0) {
		fprintf(stderr, "plugin-run: %s %s: %s\n", name, op,
		        err[0] ? err : "failed without a message");
		return 1;
	}
	return 0;
}
