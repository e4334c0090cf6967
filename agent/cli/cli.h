/* One function per command; each parses its own arguments (getopt_long,
 * argv[0] is the command name), prints its own --help and returns the exit
 * code of the process. */
#pragma once

/* Exit codes, documented in README.md and `mcu-ota --help`. */
enum cli_exit {
	EXIT_OK = 0,
	EXIT_FAILURE_GENERIC = 1, /* anything not listed below */
	EXIT_USAGE = 2,		  /* bad command line */
	EXIT_BAD_INPUT = 3,	  /* unreadable or malformed file, image out of the device's memory */
	EXIT_NO_DEVICE = 4,	  /* no matching device, or more than one */
	EXIT_DEVICE_ERROR = 5,	  /* the device refused or failed an operation */
	EXIT_VERIFY_FAILED = 6,	  /* read-back differs from what was written */
	EXIT_DEVICE_LOST = 7,	  /* the device left the bus or stopped answering */
};

/* Map a negative errno from the core or a plugin to an exit code. */
int cli_exit_code(int err);

int cli_list(int argc, char **argv);
int cli_flash(int argc, char **argv);
int cli_read(int argc, char **argv);
/* `mcu-ota image info FILE [--json] [--format F] [--address A]` */
int cli_image(int argc, char **argv);
