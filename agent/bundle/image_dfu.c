/* DfuSe .dfu files (ST UM0391) and plain DFU 1.1 files (a binary with the
 * 16-byte suffix). Every error names the byte offset it is about. */
#include "bundle/image.h"

#include <errno.h>
#include <string.h>

#include "util/format.h"

#define DFUSE_PREFIX_SIZE         11
#define DFUSE_TARGET_PREFIX_SIZE  274
#define DFUSE_ELEMENT_HEADER_SIZE 8
#define DFU_SUFFIX_SIZE           16
#define DFUSE_BCD_DFU             0x011a

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* CRC-32 (reflected polynomial 0xedb88320) four bits at a time: a table
 * small enough to be a constant, so there is no lazy initialisation to race
 * on. Entry i is the CRC of nibble i shifted through four rounds. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
    0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
    0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
};

uint32_t image_dfu_crc(const uint8_t *buf, size_t len)
{
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < len; i++) {
		crc ^= buf[i];
		crc = crc_nibble[crc & 15] ^ (crc >> 4);
		crc = crc_nibble[crc & 15] ^ (crc >> 4);
	}
	return crc; /* DFU leaves out the final xor */
}

static int suffix_signature_ok(const uint8_t *buf, size_t len)
{
	return len >= DFU_SUFFIX_SIZE && memcmp(buf + len - 8, "UFD", 3) == 0 &&
	       buf[len - 5] == DFU_SUFFIX_SIZE;
}

int image_dfu_has_suffix(const uint8_t *buf, size_t len)
{
	return suffix_signature_ok(buf, len) && image_dfu_crc(buf, len - 4) == le32(buf + len - 4);
}

#define ERR(off, fmt, ...)                                                                         \
	mcu_ota_set_error(err, errlen, "offset %zu (0x%zx): " fmt, (size_t)(off), (size_t)(off),   \
	                  __VA_ARGS__)

static int check_suffix(const uint8_t *buf, size_t len, struct image *out, char *err, size_t errlen)
{
	uint32_t stored, computed;

	if (len < DFU_SUFFIX_SIZE) {
		ERR(0, "%zu bytes, too short for a DFU suffix (%d bytes)", len, DFU_SUFFIX_SIZE);
		return -EINVAL;
	}
	if (memcmp(buf + len - 8, "UFD", 3) != 0) {
		ERR(len - 8, "no DFU suffix signature 'UFD' in the last %d bytes (truncated file?)",
		    DFU_SUFFIX_SIZE);
		return -EINVAL;
	}
	if (buf[len - 5] != DFU_SUFFIX_SIZE) {
		ERR(len - 5, "DFU suffix length %u, expected %d", buf[len - 5], DFU_SUFFIX_SIZE);
		return -EINVAL;
	}
	stored = le32(buf + len - 4);
	computed = image_dfu_crc(buf, len - 4);
	if (stored != computed) {
		ERR(len - 4, "suffix CRC 0x%08x, computed 0x%08x: the file is damaged", stored,
		    computed);
		return -EINVAL;
	}
	out->dfu_bcd_device = le16(buf + len - 16);
	out->dfu_pid = le16(buf + len - 14);
	out->dfu_vid = le16(buf + len - 12);
	return 0;
}

/* A plain DFU file: everything before the suffix goes to bin_address. */
static int parse_plain(const uint8_t *buf, size_t len, uint32_t bin_address, struct image *out,
                       char *err, size_t errlen)
{
	struct image_builder b;
	uint16_t bcd = le16(buf + len - 10);
	int r;

	if (bcd == DFUSE_BCD_DFU) {
		ERR(0, "bcdDFU 0x%04x (DfuSe) at offset %zu, but no \"DfuSe\" prefix", bcd,
		    len - 10);
		return -EINVAL;
	}
	if (len == DFU_SUFFIX_SIZE) {
		ERR(0, "%s", "no firmware before the DFU suffix");
		return -ENODATA;
	}
	image_builder_init(&b, IMAGE_ORIGIN_OFFSET, err, errlen);
	r = image_builder_add(&b, bin_address, buf, len - DFU_SUFFIX_SIZE, 0);
	if (r == 0)
		r = image_builder_finish(&b, out);
	image_builder_free(&b);
	return r;
}

static int parse_targets(const uint8_t *buf, size_t len, struct image_builder *b, int *alt_out,
                         char *err, size_t errlen)
{
	const size_t end = len - DFU_SUFFIX_SIZE;
	unsigned targets = buf[10];
	size_t pos = DFUSE_PREFIX_SIZE;
	int alt0 = -1;
	int r;

	if (targets == 0) {
		ERR(10, "%s", "bTargets is 0: the file holds no target");
		return -EINVAL;
	}
	for (unsigned t = 0; t < targets; t++) {
		size_t data_start, target_end, e;
		uint32_t target_size, elements;
		uint8_t alt;

		if (end - pos < DFUSE_TARGET_PREFIX_SIZE) {
			ERR(pos,
			    "target %u of %u: its %d-byte prefix runs past the end of the data "
			    "(%zu bytes left before the suffix)",
			    t, targets, DFUSE_TARGET_PREFIX_SIZE, end - pos);
			return -EINVAL;
		}
		if (memcmp(buf + pos, "Target", 6) != 0) {
			ERR(pos, "target %u: signature is not \"Target\"", t);
			return -EINVAL;
		}
		alt = buf[pos + 6];
		target_size = le32(buf + pos + 266);
		elements = le32(buf + pos + 270);
		if (alt0 < 0) {
			alt0 = alt;
		} else if (alt != alt0) {
			ERR(pos + 6,
			    "target %u is for alt setting %u but target 0 is for alt setting %d: "
			    "mcu-ota flashes one alt setting at a time, split the file",
			    t, alt, alt0);
			return -EINVAL;
		}
		data_start = pos + DFUSE_TARGET_PREFIX_SIZE;
		if (target_size > end - data_start) {
			ERR(pos + 266,
			    "target %u: dwTargetSize %u runs past the end of the data (%zu bytes "
			    "left before the suffix)",
			    t, target_size, end - data_start);
			return -EINVAL;
		}
		target_end = data_start + target_size;
		e = data_start;
		for (uint32_t i = 0; i < elements; i++) {
			uint32_t address, size;
			if (target_end - e < DFUSE_ELEMENT_HEADER_SIZE) {
				ERR(e,
				    "target %u, element %u of %u: header runs past the end of the "
				    "target (dwTargetSize %u)",
				    t, i, elements, target_size);
				return -EINVAL;
			}
			address = le32(buf + e);
			size = le32(buf + e + 4);
			if (size > target_end - e - DFUSE_ELEMENT_HEADER_SIZE) {
				ERR(e + 4,
				    "target %u, element %u: dwElementSize %u runs past the end of "
				    "the target (%zu bytes left)",
				    t, i, size, target_end - e - DFUSE_ELEMENT_HEADER_SIZE);
				return -EINVAL;
			}
			r = image_builder_add(b, address, buf + e + DFUSE_ELEMENT_HEADER_SIZE, size,
			                      e);
			if (r < 0)
				return r;
			e += DFUSE_ELEMENT_HEADER_SIZE + size;
		}
		if (e != target_end) {
			ERR(e, "target %u: %zu bytes after its last element (dwTargetSize %u)", t,
			    target_end - e, target_size);
			return -EINVAL;
		}
		pos = target_end;
	}
	if (pos != end) {
		ERR(pos, "%zu unexpected bytes after the last target, before the suffix",
		    end - pos);
		return -EINVAL;
	}
	*alt_out = alt0;
	return 0;
}

int image_dfu_parse(const uint8_t *buf, size_t len, uint32_t bin_address, struct image *out,
                    char *err, size_t errlen)
{
	struct image_builder b;
	uint32_t image_size;
	uint16_t bcd;
	int alt = -1;
	int r;

	r = check_suffix(buf, len, out, err, errlen);
	if (r < 0)
		return r;
	if (len < 5 || memcmp(buf, "DfuSe", 5) != 0)
		return parse_plain(buf, len, bin_address, out, err, errlen);

	bcd = le16(buf + len - 10);
	if (bcd != DFUSE_BCD_DFU) {
		ERR(len - 10, "bcdDFU 0x%04x, a DfuSe file needs 0x%04x", bcd, DFUSE_BCD_DFU);
		return -EINVAL;
	}
	if (len < DFUSE_PREFIX_SIZE + DFU_SUFFIX_SIZE) {
		ERR(0, "%zu bytes, too short for a DfuSe prefix and suffix", len);
		return -EINVAL;
	}
	if (buf[5] != 1) {
		ERR(5, "DfuSe version %u, expected 1", buf[5]);
		return -EINVAL;
	}
	/* dfuse-pack counts the suffix, other tools do not: both are fine. */
	image_size = le32(buf + 6);
	if (image_size != len && image_size != len - DFU_SUFFIX_SIZE) {
		ERR(6, "DFUImageSize %u does not match the file size %zu (expected %zu or %zu)",
		    image_size, len, len, len - DFU_SUFFIX_SIZE);
		return -EINVAL;
	}
	image_builder_init(&b, IMAGE_ORIGIN_OFFSET, err, errlen);
	r = parse_targets(buf, len, &b, &alt, err, errlen);
	if (r == 0)
		r = image_builder_finish(&b, out);
	image_builder_free(&b);
	if (r < 0)
		return r;
	out->alt = alt;
	return 0;
}
