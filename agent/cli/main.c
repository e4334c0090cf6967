#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "util/log.h"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
    {"list", cli_list, "list devices in DFU mode with their memory"},
    {"flash", cli_flash, "write a firmware file to a device in DFU mode"},
    {"read", cli_read, "read a device's memory into a file"},
    {"image", cli_image, "show what a firmware file would write where"},
    {"bundle", cli_bundle, "inspect or verify a signed .swu firmware bundle"},
    {"fetch", cli_fetch, "download a signed .swu bundle over HTTPS and keep it if it verifies"},
    {"update", cli_update,
     "install a signed bundle on configured devices, rolling back on failure"},
    {"rollback", cli_rollback, "put a device's previous image back"},
    {"status", cli_status, "what each configured device runs, and how its last update ended"},
    {"config", cli_config, "check a configuration file without touching anything"},
    {"recover", cli_recover, "finish or roll back updates that a crash or power loss interrupted"},
    {"daemon", cli_daemon, "keep every device on its configured firmware (the service)"},
};

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: mcu-ota [--config FILE] [--plugin-dir DIR] [-v|-q] COMMAND [ARGS]\n\n"
	        "Updates STM32 microcontrollers through their ROM bootloader (USB DFU/DfuSe).\n\n"
	        "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
	        "\nOptions:\n"
	        "  --config FILE     the configuration (default $MCU_OTA_CONFIG, else\n"
	        "                    " CONFIG_DEFAULT_PATH ")\n"
	        "  --plugin-dir DIR  load plugins from DIR (also $MCU_OTA_PLUGIN_DIR)\n"
	        "  -v, --verbose     debug output\n"
	        "  -q, --quiet       errors only, no progress\n"
	        "  -h, --help        this text; `mcu-ota COMMAND --help` for a command\n"
	        "  --version         the version\n\n"
	        "Exit codes: 0 success, 1 other failure, 2 bad command line, 3 bad input file or\n"
	        "image outside the device's memory, 4 no matching device (or several), 5 the\n"
	        "device refused or failed an operation, 6 verification failed, 7 the device\n"
	        "left the bus or stopped answering, 8 an update failed and the device was rolled\n"
	        "back, 9 an update failed and so did the rollback (the device needs attention).\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"config", required_argument, NULL, 'C'},
	    {"plugin-dir", required_argument, NULL, 'D'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	int c;
	/* '+': stop at the command; its options are its own */
	while ((c = getopt_long(argc, argv, "+vqh", options, NULL)) != -1) {
		switch (c) {
		case 'C':
			cli_globals.config = optarg;
			break;
		case 'D':
			cli_globals.plugin_dir = optarg;
			break;
		case 'v':
			cli_globals.log_level_given = true;
			log_set_level(MCU_OTA_LOG_DEBUG);
			break;
		case 'q':
			cli_globals.quiet = true;
			cli_globals.log_level_given = true;
			log_set_level(MCU_OTA_LOG_ERROR);
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("mcu-ota %s\n", MCU_OTA_VERSION);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;
			optind = 0; /* reset getopt for the command's own parsing */
			return commands[i].run(sub_argc, sub_argv);
		}
	}
	log_error("unknown command \"%s\"; see mcu-ota --help", argv[optind]);
	return EXIT_USAGE;
}
