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
#define IMAGE_MAX_FILE_SIZE   (64u * 1024 * 1024) /* larger than any STM32 flash */
#define IMAGE_MAX_SEGMENTS    4096

struct image {
	enum image_format format;
	size_t segment_count;
	struct mcu_ota_segment *segments; /* sorted by address, never overlapping */
	/* DfuSe files only: the suffix's ids (0xFFFF = any) and the target's alt. */
	uint16_t dfu_vid, dfu_pid, dfu_bcd_device;
	int alt;          /* -1 when the file does not say */
	uint32_t entry;   /* ELF e_entry or HEX 03/05 start address, 0 when unknown */
	int has_entry;    /* entry came from the file (ELF e_entry, HEX 03/05 record) */
	uint8_t *storage; /* owns the bytes every segment points into */
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

/* The format a file's bytes show (IMAGE_FORMAT_AUTO's rules): reads the
 * first bytes and, for a DFU suffix, the last ones. */
enum image_format image_detect(const uint8_t *buf, size_t len);
/* What image_load_buffer checks of a raw binary of len bytes at
 * bin_address, with its messages: for one that is used where it lies. */
__attribute__((warn_unused_result)) int image_bin_check(size_t len, uint32_t bin_address, char *err,
                                                        size_t errlen);
/* The image as one run of bytes from its lowest address to the end of its
 * last segment, gaps erased (0xFF), handed to out in order in pieces of at
 * most 64 KiB: nothing of that size is built. out's negative code stops it
 * and is returned. */
__attribute__((warn_unused_result)) int
image_flatten(const struct image *image, int (*out)(void *ctx, const uint8_t *data, size_t len),
              void *ctx);

/* Sum of the segments' lengths. */
uint64_t image_total_size(const struct image *image);

/* The view a flasher takes. */
static inline struct mcu_ota_image image_view(const struct image *image)
{
	return (struct mcu_ota_image){image->segment_count, image->segments};
}

/* ---- for the format readers (image_*.c) only ---- */

/* Where a piece of data came from, for error messages. */
enum image_origin_kind {
	IMAGE_ORIGIN_OFFSET, /* byte offset in the file */
	IMAGE_ORIGIN_LINE,   /* line number (Intel HEX) */
};

struct image_piece {
	uint32_t address;
	uint32_t length;
	const uint8_t *data; /* borrowed until image_builder_finish() copies it */
	size_t origin;
};

/* Collects pieces in file order, then sorts, refuses overlaps, merges
 * adjacent pieces and copies the bytes into one allocation. */
struct image_builder {
	struct image_piece *pieces;
	size_t count, capacity;
	enum image_origin_kind origin_kind;
	char *err;
	size_t errlen;
};

/* More pieces than this before merging is refused (a HEX file whose records
 * jump around); contiguous records are coalesced as they arrive. */
#define IMAGE_MAX_PIECES (1u << 20)
/* ':' + count + address + type + 255 data bytes + checksum = 521; some slack
 * for trailing blanks. */
#define IMAGE_HEX_MAX_LINE 600

void image_builder_init(struct image_builder *b, enum image_origin_kind kind, char *err,
                        size_t errlen);
__attribute__((warn_unused_result)) int image_builder_add(struct image_builder *b, uint32_t address,
                                                          const uint8_t *data, size_t length,
                                                          size_t origin);
__attribute__((warn_unused_result)) int image_builder_finish(struct image_builder *b,
                                                             struct image *out);
void image_builder_free(struct image_builder *b);
/* "line 12" or "offset 283 (0x11b)" */
void image_origin_format(enum image_origin_kind kind, size_t origin, char *out, size_t outlen);

/* The readers: out is zeroed with alt = -1 before they are called, and is
 * left empty on failure. */
__attribute__((warn_unused_result)) int
image_hex_parse(const uint8_t *buf, size_t len, struct image *out, char *err, size_t errlen);
__attribute__((warn_unused_result)) int image_dfu_parse(const uint8_t *buf, size_t len,
                                                        uint32_t bin_address, struct image *out,
                                                        char *err, size_t errlen);
__attribute__((warn_unused_result)) int
image_elf_parse(const uint8_t *buf, size_t len, struct image *out, char *err, size_t errlen);
/* A DFU 1.1 suffix at the end of buf: 16 bytes ending "UFD", bLength 16, and
 * a CRC that matches. Used by auto-detection. */
int image_dfu_has_suffix(const uint8_t *buf, size_t len);
/* DfuSe's CRC: reflected CRC-32, init 0xFFFFFFFF, no final xor. */
uint32_t image_dfu_crc(const uint8_t *buf, size_t len);
