/* `mcu-ota config check [FILE]`: validate a configuration without touching
 * anything (what an operator runs before a reload). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mcu-ota/cleanup.h>

#include "cli/cli.h"
#include "config/config.h"
#include "plugin/config_plugins.h"
#include "util/log.h"
#include "util/trusted_file.h"

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
	        "The configuration and the keys, CA files and TLS client key it names must not\n"
	        "be writable by group or others, nor owned by another user than root (or the\n"
	        "user mcu-ota runs as); a client key must not be readable by them either.\n"
	        "Exit: 0 valid, 3 invalid (the error names file:line and the setting, or the\n"
	        "file others may change), 1 unreadable.\n");
}

/* The files the configuration names, as the commands that read them will
 * judge them (util/trusted_file.h): every one that others may change is
 * reported. A file that is not there yet is not judged. */
static int check_named_files(const struct config *c)
{
	struct named_file {
		const char *what, *path;
		enum trusted_kind kind;
	} files[CONFIG_MAX_KEYS + 7];
	size_t n = 0;
	for (size_t i = 0; i < c->trust.key_count; i++)
		files[n++] = (struct named_file){"key", c->trust.key_files[i], TRUSTED_PUBLIC};
	files[n++] = (struct named_file){"CA file", c->trust.ca_file, TRUSTED_PUBLIC};
	files[n++] = (struct named_file){"CA directory", c->trust.ca_dir, TRUSTED_PUBLIC};
	files[n++] = (struct named_file){"CRL file", c->trust.crl_file, TRUSTED_PUBLIC};
	files[n++] = (struct named_file){"fetch CA file", c->fetch.ca_file, TRUSTED_PUBLIC};
	files[n++] = (struct named_file){"fetch CA directory", c->fetch.ca_dir, TRUSTED_PUBLIC};
	/* without client_key the certificate's file holds the key too */
	files[n++] = (struct named_file){"client certificate", c->fetch.client_cert,
	                                 c->fetch.client_key ? TRUSTED_PUBLIC : TRUSTED_SECRET};
	files[n++] = (struct named_file){"client key", c->fetch.client_key, TRUSTED_SECRET};
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		char err[1024];
		if (files[i].path && trusted_file_check(files[i].what, files[i].path, files[i].kind,
		                                        err, sizeof(err)) == -EPERM) {
			log_error("%s: %s", c->path, err);
			bad++;
		}
	}
	return bad ? -EPERM : 0;
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
	const char *named = argv[optind + 1];
	const char *path = named ? named : cli_config_path();
	_cleanup_(config_free) struct config cfg = {0};
	char err[1024];
	int r = config_load(path, &cfg, err, sizeof(err));
	bool loaded = r == 0;
	if (loaded)
		r = config_check_plugins(&cfg, cli_globals.plugin_dir, err, sizeof(err));
	if (r < 0) {
		if (loaded || named) /* a FILE named here is not --config's to change */
			log_error("%s", err);
		else
			cli_config_error(r, err);
		return r == -EINVAL || r == -EPERM ? EXIT_BAD_INPUT : EXIT_FAILURE_GENERIC;
	}
	if (check_named_files(&cfg) < 0) /* each one is named above */
		return EXIT_BAD_INPUT;
	printf("%s: OK, %zu device%s\n", path, cfg.device_count, cfg.device_count == 1 ? "" : "s");
	return EXIT_OK;
}
