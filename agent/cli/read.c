#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mcu-ota/cleanup.h>

#include "bundle/image.h"
#include "cli/cli.h"
#include "util/atomic.h"
#include "util/format.h"
#include "util/log.h"

static void help(FILE *f)
{
	fprintf(
	    f,
	    "Usage: mcu-ota read --address A --length N [--alt N] [--serial S | --port P] OUT\n\n"
	    "Reads N bytes of the device's memory from address A into the file OUT. OUT\n"
	    "appears only when the whole read succeeded. Numbers take 0x and K/M suffixes.\n\n"
	    "  --address A   first address (default 0x08000000)\n"
	    "  --length N    bytes to read (required, at most 64M)\n"
	    "  --alt N       the memory (alt setting) to read (default 0)\n" CLI_DEVICE_HELP
	    "\nExample: mcu-ota read --address 0x08000000 --length 1M backup.bin\n");
}

int cli_read(int argc, char **argv)
{
	static const struct option options[] = {
	    {"address", required_argument, NULL, 'a'},
	    {"length", required_argument, NULL, 'n'},
	    {"alt", required_argument, NULL, 'A'},
	    {"help", no_argument, NULL, 'h'},
	    CLI_DEVICE_OPTIONS,
	    {0},
	};
	const char *serial = NULL, *port = NULL;
	uint32_t address = IMAGE_DEFAULT_ADDRESS, length = 0, alt = 0;
	int c;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (!cli_opt_number("--address", optarg, 0, UINT32_MAX, "a 32-bit address",
			                    &address))
				return EXIT_USAGE;
			break;
		case 'n':
			if (!cli_opt_number("--length", optarg, 1, IMAGE_MAX_FILE_SIZE,
			                    "a length from 1 to 64M", &length))
				return EXIT_USAGE;
			break;
		case 'A':
			if (!cli_opt_number("--alt", optarg, 0, 255,
			                    "an alt setting number (0-255)", &alt))
				return EXIT_USAGE;
			break;
		default: {
			int code = cli_device_option(c, &serial, &port, help);
			if (code >= 0)
				return code;
		}
		}
	}
	if (optind + 1 != argc || !length) {
		log_error("read needs --length and one OUT file; see mcu-ota read --help");
		return EXIT_USAGE;
	}
	const char *out = argv[optind];
	_cleanup_(freep) uint8_t *buf = malloc(length);
	if (!buf) {
		log_error("out of memory for %" PRIu32 " bytes", length);
		return EXIT_FAILURE_GENERIC;
	}
	_cleanup_(cli_device_close) struct cli_device d = {0};
	int code = cli_device_open(&d, serial, port);
	if (code != EXIT_OK)
		return code;
	char err[1024];
	int r = d.ops->read(d.handle, alt, address, buf, length, err, sizeof(err));
	host_progress_done(&d.host);
	if (r < 0) {
		log_error("%s", err);
		return cli_exit_code(r);
	}
	if ((r = atomic_write_file(out, buf, length, 0644)) < 0) {
		log_error("cannot write %s: %s", out, strerror(-r));
		return EXIT_FAILURE_GENERIC;
	}
	if (!cli_globals.quiet)
		printf("read %" PRIu32 " bytes from 0x%08" PRIx32 " into %s\n", length, address,
		       out);
	return EXIT_OK;
}
