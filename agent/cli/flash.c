#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <mcu-ota/cleanup.h>

#include "bundle/image.h"
#include "cli/cli.h"
#include "util/format.h"
#include "util/log.h"

static void help(FILE *f)
{
	fprintf(f,
	        "Usage: mcu-ota flash FILE [OPTIONS]\n\n"
	        "Writes FILE (raw binary, Intel HEX, DfuSe .dfu or ELF) to a device in DFU mode:\n"
	        "checks that every byte fits writable memory, erases only the sectors the image\n"
	        "touches (skipping those that already hold the new bytes), writes, and reads\n"
	        "everything back to compare.\n\n"
	        "  --format F         bin, hex, dfu, elf or auto (default: by content)\n"
	        "  --address A        where a raw binary goes (default 0x08000000)\n"
	        "  --alt N            the memory (alt setting) to write (default 0, or the "
	        ".dfu's)\n" CLI_DEVICE_HELP "  --no-verify        do not read back and compare\n"
	        "  --mass-erase       erase the whole memory first\n"
	        "  --no-skip-unchanged  erase and write every touched sector\n"
	        "  --leave            start the application afterwards, from the vector table at\n"
	        "                     the start of the internal flash (alt 0), as a reset would\n"
	        "  --leave-address A  ...from the vector table at A instead\n\n"
	        "Example: mcu-ota flash firmware.hex --serial 3574364C3034 --leave\n");
}

/* What the command line asked for. */
struct flash_args {
	const char *path, *serial, *port;
	enum image_format format;
	uint32_t address, alt, leave_address;
	bool alt_given, leave, leave_address_given;
	struct mcu_ota_write_options wo;
};

/* -1: go on with a; else the exit code. */
static int parse_args(int argc, char **argv, struct flash_args *a)
{
	static const struct option options[] = {
	    {"format", required_argument, NULL, 'f'},
	    {"address", required_argument, NULL, 'a'},
	    {"alt", required_argument, NULL, 'A'},
	    {"no-verify", no_argument, NULL, 'n'},
	    {"mass-erase", no_argument, NULL, 'm'},
	    {"no-skip-unchanged", no_argument, NULL, 'k'},
	    {"leave", no_argument, NULL, 'l'},
	    {"leave-address", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    CLI_DEVICE_OPTIONS,
	    {0},
	};
	*a = (struct flash_args){
	    .format = IMAGE_FORMAT_AUTO,
	    .address = IMAGE_DEFAULT_ADDRESS,
	    .wo = {.size = sizeof(a->wo), .verify = true, .skip_unchanged = true},
	};
	int c, code;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!cli_opt_format(optarg, &a->format))
				return EXIT_USAGE;
			break;
		case 'a':
			if (!cli_opt_number("--address", optarg, 0, UINT32_MAX, "a 32-bit address",
			                    &a->address))
				return EXIT_USAGE;
			break;
		case 'A':
			if (!cli_opt_number("--alt", optarg, 0, 255,
			                    "an alt setting number (0-255)", &a->alt))
				return EXIT_USAGE;
			a->alt_given = true;
			break;
		case 'n':
			a->wo.verify = false;
			break;
		case 'm':
			a->wo.mass_erase = true;
			break;
		case 'k':
			a->wo.skip_unchanged = false;
			break;
		case 'l':
			a->leave = true;
			break;
		case 'L':
			if (!cli_opt_number("--leave-address", optarg, 0, UINT32_MAX,
			                    "a 32-bit address", &a->leave_address))
				return EXIT_USAGE;
			a->leave = a->leave_address_given = true;
			break;
		default:
			if ((code = cli_device_option(c, &a->serial, &a->port, help)) >= 0)
				return code;
		}
	}
	if (optind + 1 != argc) {
		log_error("flash takes one FILE; see mcu-ota flash --help");
		return EXIT_USAGE;
	}
	a->path = argv[optind];
	return -1;
}

/* A DfuSe file names the USB device it is for (0xFFFF: any). */
static bool dfu_file_fits(const char *path, const struct image *image,
                          const struct mcu_ota_device_info *info)
{
	if (image->format != IMAGE_FORMAT_DFU ||
	    ((image->dfu_vid == 0xFFFF || image->dfu_vid == info->vid) &&
	     (image->dfu_pid == 0xFFFF || image->dfu_pid == info->pid)))
		return true;
	log_error("%s is for USB device %04x:%04x, this device is %04x:%04x; nothing was written",
	          path, image->dfu_vid, image->dfu_pid, info->vid, info->pid);
	return false;
}

/* Start the application: the chip boots from the start of its flash, not
 * from wherever a partial image happens to begin. */
static int leave(struct cli_device *d, const struct mcu_ota_device_info *info,
                 const struct flash_args *a)
{
	uint32_t at = a->leave_address;
	if (!a->leave_address_given && info->memory_count && info->memories[0].sector_count)
		at = info->memories[0].sectors[0].address;
	else if (!a->leave_address_given)
		at = IMAGE_DEFAULT_ADDRESS;
	char err[1024];
	int r = d->ops->leave(d->handle, at, err, sizeof(err));
	if (r < 0) {
		log_error("the image was written%s, but %s", a->wo.verify ? " and verified" : "",
		          err);
		return cli_exit_code(r);
	}
	return EXIT_OK;
}

int cli_flash(int argc, char **argv)
{
	struct flash_args a;
	int code = parse_args(argc, argv, &a);
	if (code >= 0)
		return code;
	char err[1024];
	_cleanup_(image_free) struct image image = {.alt = -1};
	int r = image_load_file(a.path, a.format, a.address, &image, err, sizeof(err));
	if (r < 0) {
		log_error("%s: %s", a.path, err);
		return EXIT_BAD_INPUT;
	}
	uint64_t bytes = 0;
	for (size_t i = 0; i < image.segment_count; i++)
		bytes += image.segments[i].length;
	a.wo.alt = a.alt_given ? a.alt : image.alt >= 0 ? (unsigned)image.alt : 0;

	_cleanup_(cli_device_close) struct cli_device d = {0};
	if ((code = cli_device_open(&d, a.serial, a.port)) != EXIT_OK)
		return code;
	const struct mcu_ota_device_info *info = d.ops->info(d.handle);
	if (!dfu_file_fits(a.path, &image, info))
		return EXIT_BAD_INPUT;
	char size[32];
	format_size(bytes, size, sizeof(size));
	log_info("writing %s (%s, %s in %zu segment%s) to %s, serial %s, port %s, alt %u", a.path,
	         image_format_name(image.format), size, image.segment_count,
	         image.segment_count == 1 ? "" : "s", info->product, info->serial, info->port,
	         a.wo.alt);

	cli_survive_hangup("flash");
	struct mcu_ota_image view = image_view(&image);
	uint64_t start = host_now_ns();
	r = d.ops->write(d.handle, &view, &a.wo, err, sizeof(err));
	host_progress_done(&d.host);
	if (r < 0) {
		log_error("%s", err);
		return cli_exit_code(r);
	}
	double secs = (double)(host_now_ns() - start) / 1e9;
	if (a.leave && (code = leave(&d, info, &a)) != EXIT_OK)
		return code;
	if (!cli_globals.quiet)
		printf("flashed %s to 0x%08" PRIx32 " in %.1f s (%.1f KiB/s)%s%s\n", size,
		       image.segments[0].address, secs,
		       secs > 0 ? (double)bytes / 1024.0 / secs : 0,
		       a.wo.verify ? ", verified" : ", not verified",
		       a.leave ? ", application started" : "");
	return EXIT_OK;
}
