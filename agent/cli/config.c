/* `mcu-ota config check [FILE]`: validate a configuration without touching
 * anything (what an operator runs before a reload). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "core/config_plugins.h"
#include "util/log.h"

static void config_help(FILE *f)
{
	fprintf(f,
	        "Usage: mcu-ota config check [FILE]\n\n"
	        "Checks a configuration file completely (every setting, its type and range;\n"
	        "unknown settings are errors) without touching any device or file. Each device's\n"
	        "entry, flasher and health plugin is loaded (from --plugin-dir, plugin_dir, then\n"
	        "the default search), and a plugin section may hold only the settings its plugin\n"
	        "declares. FILE defaults to --config, $MCU_OTA_CONFIG, then " CONFIG_DEFAULT_PATH
	        ".\n"
	        "Exit: 0 valid, 3 invalid (the error names file:line and the setting), 1 "
	        "unreadable.\n");
}

int cli_config(int argc, char **argv)
{
	static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int c;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		config_help(c == 'h' ? stdout : stderr);
		return c == 'h' ? EXIT_OK : EXIT_USAGE;
	}
	if (optind >= argc || strcmp(argv[optind], "check") || argc - optind > 2) {
		config_help(stderr);
		return EXIT_USAGE;
	}
	const char *path = argv[optind + 1];
	if (!path)
		path = cli_config_path();
	struct config cfg;
	char err[1024];
	int r = config_load(path, &cfg, err, sizeof(err));
	if (r == 0) {
		r = config_check_plugins(&cfg, cli_globals.plugin_dir, err, sizeof(err));
		if (r < 0)
			config_free(&cfg);
	}
	if (r < 0) {
		log_error("%s", err);
		return r == -EINVAL ? EXIT_BAD_INPUT : EXIT_FAILURE_GENERIC;
	}
	printf("%s: OK, %zu device%s\n", path, cfg.device_count, cfg.device_count == 1 ? "" : "s");
	config_free(&cfg);
	return EXIT_OK;
}
