/* Firmware image files: raw binary, Intel HEX, DfuSe .dfu and ELF32, read
 * into a list of address/bytes segments that a flasher can write. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <mcu-ota/plugin.h>

enum image_format {
	IMAGE_FORMAT_AUTO = 0, /* by content (ELF magic, "DfuSe", ':' records), else bin */
	IMAGE_FORMAT_BIN,
	IMAGE_FORMAT_HEX,
	IMAGE_FORMAT_DFU,
	IMAGE_FORMAT_ELF,
};

#define IMAGE_DEFAULT_ADDRESS 0x08000000u
#define IMAGE_MAX_FILE_SIZE (64u * 1024 * 1024) /* larger than any STM32 flash */
#define IMAGE_MAX_SEGMENTS 4096

struct image {
	enum image_format format;
	size_t segment_count;
	struct mcu_ota_segment *segments; /* sorted by address, never overlapping */
	/* DfuSe files only: the suffix's ids (0xFFFF = any) and the target's alt. */
	uint16_t dfu_vid, dfu_pid, dfu_bcd_device;
	int alt; /* -1 when the file does not say */
	uint32_t entry; /* ELF e_entry, 0 when unknown */
};

const char *image_format_name(enum image_format format);
/* "bin", "hex", "dfu", "elf", "auto"; -EINVAL for anything else. */
int image_format_parse(const char *name, enum image_format *format);

/* Load a file. bin_address is where a raw binary goes. On failure, err says
 * what is wrong and where (byte offset or line). */
__attribute__((warn_unused_result)) int image_load_file(const char *path, enum image_format format,
							uint32_t bin_address, struct image *out,
							char *err, size_t errlen);
/* Same from memory; the image keeps its own copy of the bytes. */
__attribute__((warn_unused_result)) int image_load_buffer(const uint8_t *buf, size_t len,
							  enum image_format format,
							  uint32_t bin_address, struct image *out,
							  char *err, size_t errlen);
void image_free(struct image *image);

/* The view a flasher takes. */
static inline struct mcu_ota_image image_view(const struct image *image)
{
	return (struct mcu_ota_image){ image->segment_count, image->segments };
}
