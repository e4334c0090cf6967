/* One function per command; each parses its own arguments (getopt_long,
 * argv[0] is the command name), prints its own --help and returns the exit
 * code of the process. */
#pragma once

/* Exit codes, documented in README.md and `mcu-ota --help`. */
enum cli_exit {
	EXIT_OK = 0,
	EXIT_FAILURE_GENERIC = 1, /* anything not listed below */
	EXIT_USAGE = 2,           /* bad command line */
	EXIT_BAD_INPUT = 3,     /* unreadable or malformed file, image out of the device's memory */
	EXIT_NO_DEVICE = 4,     /* no matching device, or more than one */
	EXIT_DEVICE_ERROR = 5,  /* the device refused or failed an operation */
	EXIT_VERIFY_FAILED = 6, /* read-back differs from what was written */
	EXIT_DEVICE_LOST = 7,   /* the device left the bus or stopped answering */
	EXIT_ROLLED_BACK = 8,   /* an update failed; the image from before runs again */
	EXIT_NEEDS_ATTENTION = 9, /* an update failed and so did the rollback */
};

/* Map a negative errno from the agent's libraries or a plugin to an exit code. */
int cli_exit_code(int err);

int cli_list(int argc, char **argv);
int cli_flash(int argc, char **argv);
int cli_read(int argc, char **argv);
/* `mcu-ota image info FILE [--json] [--format F] [--address A]` */
int cli_image(int argc, char **argv);
int cli_bundle(int argc, char **argv); /* `mcu-ota bundle inspect|verify FILE|URL` */
int cli_fetch(int argc, char **argv);  /* `mcu-ota fetch URL -o FILE` */
int cli_update(int argc, char **argv); /* `mcu-ota update [--device NAME]... BUNDLE|URL` */
int cli_rollback(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_recover(int argc, char **argv);
int cli_config(int argc, char **argv); /* `mcu-ota config check [FILE]` */
int cli_daemon(int argc, char **argv); /* `mcu-ota daemon [--syslog]` */
/* --config, else $MCU_OTA_CONFIG, else the default path */
const char *cli_config_path(void);
/* Prints why config_load(cli_config_path()) failed (r, err); where the file
 * does not exist, how to name another. */
void cli_config_error(int r, const char *err);

#include <stdbool.h>
#include <stdio.h>

#include "bundle/image.h"
#include "plugin/host.h"
#include "plugin/plugin_loader.h"

/* Set by main from the global options. */
struct cli_globals {
	const char *config; /* --config; NULL: $MCU_OTA_CONFIG, else the default */
	const char *plugin_dir;
	bool quiet;
	bool log_level_given; /* -v or -q */
};
extern struct cli_globals cli_globals;

/* A flasher plugin and one device opened through it. */
struct cli_device {
	struct host host;
	struct plugin plugin;
	void *handle;
	const struct mcu_ota_flasher_ops *ops;
};

/* For a command about to write a chip: an SSH hang-up (SIGHUP) or a reader
 * of its output that went away (`| head`: SIGPIPE) must not end it half-way
 * and leave the chip in its bootloader. SIGPIPE is ignored (writes then fail
 * with EPIPE: output stops quietly); SIGHUP lets the work finish and says so
 * on stderr ("finishing the <what> first") while stderr is still open.
 * SIGINT and SIGTERM keep the meaning each command gives them. */
void cli_survive_hangup(const char *what);

/* Load the flasher plugin and set the device selection; on failure print
 * why and return an exit code. */
int cli_flasher_load(struct cli_device *d, const char *serial, const char *port);
/* ... and open the one matching device. */
int cli_device_open(struct cli_device *d, const char *serial, const char *port);
void cli_device_close(struct cli_device *d);

/* The tail of every device command's getopt switch: takes --serial and
 * --port (-1: go on), answers --help (EXIT_OK) and anything unknown
 * (EXIT_USAGE) with the command's help. */
int cli_device_option(int c, const char **serial, const char **port, void (*help)(FILE *f));

/* Option values: true when arg is good, else the option is named with what
 * it takes (on stderr) and the command returns EXIT_USAGE. Numbers take 0x
 * and K/M (parse_u32). */
bool cli_opt_number(const char *option, const char *arg, uint32_t min, uint32_t max,
                    const char *what, uint32_t *out);
bool cli_opt_format(const char *arg, enum image_format *out);

/* The options every device command takes, for getopt_long tables. */
#define CLI_DEVICE_OPTIONS                                                                         \
	{"serial", required_argument, NULL, 'S'},                                                  \
	{                                                                                          \
		"port", required_argument, NULL, 'P'                                               \
	}
#define CLI_DEVICE_HELP                                                                            \
	"  --serial S    the device whose USB serial number is S\n"                                \
	"  --port P      the device at USB port path P (as `mcu-ota list` shows it, e.g. 1-1.3)\n"
