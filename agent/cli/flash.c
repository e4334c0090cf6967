#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

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

int cli_flash(int argc, char **argv)
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
	const char *serial = NULL, *port = NULL;
	enum image_format format = IMAGE_FORMAT_AUTO;
	uint32_t address = IMAGE_DEFAULT_ADDRESS, alt = 0;
	uint32_t leave_address = 0;
	bool alt_given = false, leave = false, leave_address_given = false;
	struct mcu_ota_write_options wo = {
	    .size = sizeof(wo), .verify = true, .skip_unchanged = true};
	int c;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!cli_opt_format(optarg, &format))
				return EXIT_USAGE;
			break;
		case 'a':
			if (!cli_opt_number("--address", optarg, 0, UINT32_MAX, "a 32-bit address",
			                    &address))
				return EXIT_USAGE;
			break;
		case 'A':
			if (!cli_opt_number("--alt", optarg, 0, 255,
			                    "an alt setting number (0-255)", &alt))
				return EXIT_USAGE;
			alt_given = true;
			break;
		case 'n':
			wo.verify = false;
			break;
		case 'm':
			wo.mass_erase = true;
			break;
		case 'k':
			wo.skip_unchanged = false;
			break;
		case 'l':
			leave = true;
			break;
		case 'L':
			if (!cli_opt_number("--leave-address", optarg, 0, UINT32_MAX,
			                    "a 32-bit address", &leave_address))
				return EXIT_USAGE;
			leave = leave_address_given = true;
			break;
		default: {
			int code = cli_device_option(c, &serial, &port, help);
			if (code >= 0)
				return code;
		}
		}
	}
	if (optind + 1 != argc) {
		log_error("flash takes one FILE; see mcu-ota flash --help");
		return EXIT_USAGE;
	}
	const char *path = argv[optind];

	char err[1024];
	struct image image;
	int r = image_load_file(path, format, address, &image, err, sizeof(err));
	if (r < 0) {
		log_error("%s: %s", path, err);
		return EXIT_BAD_INPUT;
	}
	uint64_t bytes = 0;
	for (size_t i = 0; i < image.segment_count; i++)
		bytes += image.segments[i].length;
	wo.alt = alt_given ? alt : image.alt >= 0 ? (unsigned)image.alt : 0;

	struct cli_device d;
	int code = cli_device_open(&d, serial, port);
	if (code != EXIT_OK) {
		image_free(&image);
		return code;
	}
	const struct mcu_ota_device_info *info = d.ops->info(d.handle);
	if (image.format == IMAGE_FORMAT_DFU &&
	    ((image.dfu_vid != 0xFFFF && image.dfu_vid != info->vid) ||
	     (image.dfu_pid != 0xFFFF && image.dfu_pid != info->pid))) {
		log_error("%s is for USB device %04x:%04x, this device is %04x:%04x; nothing was "
		          "written",
		          path, image.dfu_vid, image.dfu_pid, info->vid, info->pid);
		code = EXIT_BAD_INPUT;
		goto out;
	}
	char size[32];
	format_size(bytes, size, sizeof(size));
	log_info("writing %s (%s, %s in %zu segment%s) to %s, serial %s, port %s, alt %u", path,
	         image_format_name(image.format), size, image.segment_count,
	         image.segment_count == 1 ? "" : "s", info->product, info->serial, info->port,
	         wo.alt);

	cli_survive_hangup("flash");
	struct mcu_ota_image view = image_view(&image);
	uint64_t start = host_now_ns();
	r = d.ops->write(d.handle, &view, &wo, err, sizeof(err));
	host_progress_done(&d.host);
	if (r < 0) {
		log_error("%s", err);
		code = cli_exit_code(r);
		goto out;
	}
	double secs = (double)(host_now_ns() - start) / 1e9;
	if (leave) {
		/* the chip boots from the start of its flash, not from wherever a
		 * partial image happens to begin */
		if (!leave_address_given && info->memory_count && info->memories[0].sector_count)
			leave_address = info->memories[0].sectors[0].address;
		else if (!leave_address_given)
			leave_address = IMAGE_DEFAULT_ADDRESS;
		r = d.ops->leave(d.handle, leave_address, err, sizeof(err));
		if (r < 0) {
			log_error("the image was written%s, but %s",
			          wo.verify ? " and verified" : "", err);
			code = cli_exit_code(r);
			goto out;
		}
	}
	if (!cli_globals.quiet)
		printf("flashed %s to 0x%08" PRIx32 " in %.1f s (%.1f KiB/s)%s%s\n", size,
		       image.segments[0].address, secs,
		       secs > 0 ? (double)bytes / 1024.0 / secs : 0,
		       wo.verify ? ", verified" : ", not verified",
		       leave ? ", application started" : "");
out:
	cli_device_close(&d);
	image_free(&image);
	return code;
}
