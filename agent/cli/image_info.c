/* `mcu-ota image info FILE`: what a firmware file would write, and where. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "bundle/image.h"
#include "cli/cli.h"
#include "util/format.h"
#include "util/log.h"

static void image_usage(FILE *f)
{
	fputs("Usage: mcu-ota image info FILE [--json] [--format auto|bin|hex|dfu|elf]\n"
	      "                              [--address ADDRESS]\n"
	      "\n"
	      "Show what a firmware file holds: its format, entry point, DfuSe ids and\n"
	      "alt setting, and each segment's address, size and SHA-256.\n"
	      "\n"
	      "  --json             one JSON object on standard output\n"
	      "  --format FORMAT    read the file as FORMAT instead of guessing (auto)\n"
	      "  --address ADDRESS  where a raw binary goes (default 0x08000000)\n"
	      "  -h, --help         this help\n",
	      f);
}

static int segment_sha256(const struct mcu_ota_segment *seg, char hex[2 * 32 + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(seg->data, seg->length, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -EIO;
	hex_encode(md, mdlen, hex);
	return 0;
}

/* " (1.5 KiB)" when that says more than the byte count, else "". */
static void human_size(uint64_t bytes, char *out, size_t outlen)
{
	char tmp[32];
	if (bytes < 1024) {
		snprintf(out, outlen, "%s", "");
		return;
	}
	format_size(bytes, tmp, sizeof(tmp));
	snprintf(out, outlen, " (%s)", tmp);
}

static int print_text(const char *path, const struct image *image)
{
	char size[48], hex[65];
	uint64_t total = image_total_size(image);

	printf("file:      %s\n", path);
	printf("format:    %s\n", image_format_name(image->format));
	if (image->has_entry)
		printf("entry:     0x%08" PRIx32 "\n", image->entry);
	if (image->format == IMAGE_FORMAT_DFU) {
		printf("usb ids:   %04x:%04x, bcdDevice 0x%04x (0xffff matches any)\n",
		       image->dfu_vid, image->dfu_pid, image->dfu_bcd_device);
		if (image->alt >= 0)
			printf("alt:       %d\n", image->alt);
	}
	printf("segments:  %zu\n", image->segment_count);
	for (size_t i = 0; i < image->segment_count; i++) {
		const struct mcu_ota_segment *seg = &image->segments[i];
		if (segment_sha256(seg, hex) < 0)
			return -EIO;
		human_size(seg->length, size, sizeof(size));
		printf("  0x%08" PRIx32 "-0x%08" PRIx32 "  %10" PRIu32 " bytes%-12s  sha256 %s\n",
		       seg->address, (uint32_t)(seg->address + seg->length - 1), seg->length, size,
		       hex);
	}
	human_size(total, size, sizeof(size));
	printf("total:     %" PRIu64 " bytes%s\n", total, size);
	return 0;
}

static int print_json(const char *path, const struct image *image)
{
	char hex[65];

	fputs("{\"file\":", stdout);
	json_print_string(stdout, path);
	fputs(",\"format\":", stdout);
	json_print_string(stdout, image_format_name(image->format));
	if (image->has_entry)
		printf(",\"entry\":\"0x%08" PRIx32 "\"", image->entry);
	else
		fputs(",\"entry\":null", stdout);
	if (image->format == IMAGE_FORMAT_DFU) {
		printf(",\"dfu\":{\"vid\":\"0x%04x\",\"pid\":\"0x%04x\",\"bcd_device\":\"0x%04x\","
		       "\"alt\":",
		       image->dfu_vid, image->dfu_pid, image->dfu_bcd_device);
		if (image->alt >= 0)
			printf("%d}", image->alt);
		else
			fputs("null}", stdout);
	}
	fputs(",\"segments\":[", stdout);
	for (size_t i = 0; i < image->segment_count; i++) {
		const struct mcu_ota_segment *seg = &image->segments[i];
		if (segment_sha256(seg, hex) < 0)
			return -EIO;
		printf("%s{\"address\":\"0x%08" PRIx32 "\",\"size\":%" PRIu32 ",\"sha256\":\"%s\"}",
		       i ? "," : "", seg->address, seg->length, hex);
	}
	printf("],\"total_size\":%" PRIu64 "}\n", image_total_size(image));
	return 0;
}

static int image_info(int argc, char **argv)
{
	static const struct option options[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"format", required_argument, NULL, 'f'},
	    {"address", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	_cleanup_(image_free) struct image image = {.alt = -1};
	enum image_format format = IMAGE_FORMAT_AUTO;
	uint32_t address = IMAGE_DEFAULT_ADDRESS;
	const char *path;
	char err[256] = "";
	int json = 0, c, r;

	optind = 0; /* full re-initialisation: main() may have parsed its own options */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jf:a:h", options, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'f':
			if (!cli_opt_format(optarg, &format))
				return EXIT_USAGE;
			break;
		case 'a':
			if (!cli_opt_number("--address", optarg, 0, UINT32_MAX, "a 32-bit address",
			                    &address))
				return EXIT_USAGE;
			break;
		case 'h':
			image_usage(stdout);
			return EXIT_OK;
		case ':':
			log_error("image info: %s needs a value", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			if (optopt)
				log_error("image info: unknown option -%c (see --help)", optopt);
			else
				log_error("image info: unknown option %s (see --help)",
				          argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		log_error("image info: %s (see --help)",
		          optind >= argc ? "no FILE given" : "more than one FILE given");
		return EXIT_USAGE;
	}
	path = argv[optind];
	r = image_load_file(path, format, address, &image, err, sizeof(err));
	if (r < 0) {
		log_error("%s: %s", path, err);
		return r == -ENOMEM ? EXIT_FAILURE_GENERIC : EXIT_BAD_INPUT;
	}
	r = json ? print_json(path, &image) : print_text(path, &image);
	if (r < 0) {
		log_error("%s: SHA-256 failed", path);
		return EXIT_FAILURE_GENERIC;
	}
	if (fflush(stdout) != 0) {
		log_error("writing to standard output: %s", strerror(errno));
		return EXIT_FAILURE_GENERIC;
	}
	return EXIT_OK;
}

int cli_image(int argc, char **argv)
{
	if (argc < 2) {
		log_error("image: which subcommand? (info; see mcu-ota image --help)");
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		image_usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "info") == 0)
		return image_info(argc - 1, argv + 1);
	log_error("image: unknown subcommand \"%s\" (info; see mcu-ota image --help)", argv[1]);
	return EXIT_USAGE;
}
