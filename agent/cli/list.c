#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "cli/cli.h"
#include "util/format.h"
#include "util/log.h"

static void access_letters(unsigned access, char out[4])
{
	out[0] = access & MCU_OTA_SECTOR_READABLE ? 'r' : '-';
	out[1] = access & MCU_OTA_SECTOR_ERASABLE ? 'e' : '-';
	out[2] = access & MCU_OTA_SECTOR_WRITABLE ? 'w' : '-';
	out[3] = '\0';
}

/* Runs of sectors with the same size and access, as the layout string groups them. */
static size_t group_end(const struct mcu_ota_memory *m, size_t i)
{
	size_t j = i + 1;
	while (j < m->sector_count && m->sectors[j].size == m->sectors[i].size &&
	       m->sectors[j].access == m->sectors[i].access &&
	       m->sectors[j].address == m->sectors[j - 1].address + m->sectors[j - 1].size)
		j++;
	return j;
}

static void print_text(void *user, const struct mcu_ota_device_info *info)
{
	unsigned *count = user;
	(*count)++;
	printf("%04x:%04x  serial %s  port %s  \"%s\"  DFU %x.%02x, transfer %u bytes\n", info->vid,
	       info->pid, info->serial[0] ? info->serial : "(none)", info->port, info->product,
	       info->dfu_version >> 8, info->dfu_version & 0xff, info->transfer_size);
	for (size_t a = 0; a < info->memory_count; a++) {
		const struct mcu_ota_memory *m = &info->memories[a];
		uint64_t total = 0;
		for (size_t i = 0; i < m->sector_count; i++)
			total += m->sectors[i].size;
		char size[32];
		format_size(total, size, sizeof(size));
		if (!m->sector_count) {
			printf("  alt %u  \"%s\" (no memory layout)\n", m->alt, m->description);
			continue;
		}
		printf("  alt %u  %-16s 0x%08" PRIx32 "  %-9s", m->alt, m->name,
		       m->sectors[0].address, size);
		for (size_t i = 0; i < m->sector_count;) {
			size_t j = group_end(m, i);
			char ssize[32], acc[4];
			format_size(m->sectors[i].size, ssize, sizeof(ssize));
			access_letters(m->sectors[i].access, acc);
			printf("%s%zu x %s %s", i ? ", " : " ", j - i, ssize, acc);
			i = j;
		}
		printf("\n");
	}
}

struct json_ctx {
	unsigned count;
};

static void print_json(void *user, const struct mcu_ota_device_info *info)
{
	struct json_ctx *c = user;
	printf("%s\n  {\"vid\": \"%04x\", \"pid\": \"%04x\", \"serial\": ", c->count++ ? "," : "",
	       info->vid, info->pid);
	json_print_string(stdout, info->serial);
	printf(", \"port\": ");
	json_print_string(stdout, info->port);
	printf(", \"manufacturer\": ");
	json_print_string(stdout, info->manufacturer);
	printf(", \"product\": ");
	json_print_string(stdout, info->product);
	printf(", \"dfu_version\": \"%x.%02x\", \"transfer_size\": %u, \"attributes\": %u,\n"
	       "   \"alts\": [",
	       info->dfu_version >> 8, info->dfu_version & 0xff, info->transfer_size,
	       info->attributes);
	for (size_t a = 0; a < info->memory_count; a++) {
		const struct mcu_ota_memory *m = &info->memories[a];
		printf("%s\n    {\"alt\": %u, \"name\": ", a ? "," : "", m->alt);
		json_print_string(stdout, m->name);
		printf(", \"descriptor\": ");
		json_print_string(stdout, m->description);
		printf(", \"sectors\": [");
		for (size_t i = 0; i < m->sector_count;) {
			size_t j = group_end(m, i);
			char acc[4];
			access_letters(m->sectors[i].access, acc);
			printf("%s{\"address\": \"0x%08" PRIx32
			       "\", \"count\": %zu, \"size\": %" PRIu32 ", \"access\": \"%s\"}",
			       i ? ", " : "", m->sectors[i].address, j - i, m->sectors[i].size,
			       acc);
			i = j;
		}
		printf("]}");
	}
	printf("]}");
}

static void help(FILE *f)
{
	fprintf(f, "Usage: mcu-ota list [--json] [--serial S] [--port P]\n\n"
	           "Lists the devices in DFU mode (ST's ROM bootloader, 0483:df11) with their\n"
	           "serial number, USB port path and every alt setting's memory: address, size\n"
	           "and sectors (r readable, e erasable, w writable).\n\n"
	           "  --json        machine-readable output\n" CLI_DEVICE_HELP);
}

int cli_list(int argc, char **argv)
{
	static const struct option options[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    CLI_DEVICE_OPTIONS,
	    {0},
	};
	const char *serial = NULL, *port = NULL;
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		default: {
			int code = cli_device_option(c, &serial, &port, help);
			if (code >= 0)
				return code;
		}
		}
	}
	if (optind < argc) {
		log_error("list takes no arguments (got \"%s\")", argv[optind]);
		return EXIT_USAGE;
	}
	struct cli_device d;
	int code = cli_flasher_load(&d, serial, port);
	if (code != EXIT_OK)
		return code;
	char err[1024];
	unsigned count = 0;
	struct json_ctx jc = {0};
	if (json)
		printf("[");
	int r = d.ops->list(&d.host.api, json ? print_json : print_text,
	                    json ? (void *)&jc : &count, err, sizeof(err));
	if (json)
		printf("%s]\n", jc.count ? "\n" : "");
	cli_device_close(&d);
	if (r < 0) {
		log_error("%s", err);
		return cli_exit_code(r);
	}
	if (!json && !count)
		log_info("no device in DFU mode found");
	return EXIT_OK;
}
