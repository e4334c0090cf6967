/* Firmware files, one harness per format (built with FUZZ_IMAGE_HEX,
 * FUZZ_IMAGE_DFU or FUZZ_IMAGE_ELF defined; the file's bytes are what a bundle or a user hands us).
 * Checked for every image that loads: segments sorted, non-empty, with gaps between them (adjacent
 * data is merged), no more data than the file can hold, and the same result from auto-detection
 * when the file starts like its format. Intel HEX is printed back and must load to the same
 * segments and entry.
 *
 * Checksums would stop a fuzzer at the first changed byte, so an input whose
 * HEX record checksums or DFU suffix CRC are wrong is tried as is (the check
 * must refuse it) and then once more with them corrected. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/image.h"
#include "fuzz.h"

#if defined(FUZZ_IMAGE_HEX)
#define FORMAT IMAGE_FORMAT_HEX
#elif defined(FUZZ_IMAGE_DFU)
#define FORMAT IMAGE_FORMAT_DFU
#elif defined(FUZZ_IMAGE_ELF)
#define FORMAT IMAGE_FORMAT_ELF
#else
#error "define FUZZ_IMAGE_HEX, FUZZ_IMAGE_DFU or FUZZ_IMAGE_ELF"
#endif

static void check_image(const struct image *img, const uint8_t *data, size_t size)
{
	uint64_t total = image_total_size(img);
	FUZZ_CHECK(img->format == FORMAT);
	FUZZ_CHECK(img->segment_count > 0 && img->segment_count <= IMAGE_MAX_SEGMENTS);
	for (size_t i = 0; i < img->segment_count; i++) {
		const struct mcu_ota_segment *s = &img->segments[i];
		FUZZ_CHECK(s->length > 0);
		FUZZ_CHECK((uint64_t)s->address + s->length <= (uint64_t)UINT32_MAX + 1);
		FUZZ_CHECK(s->data >= img->storage && s->data + s->length <= img->storage + total);
		if (i)
			FUZZ_CHECK((uint64_t)img->segments[i - 1].address +
			               img->segments[i - 1].length <
			           s->address);
	}
	/* HEX: two characters per byte; DfuSe: headers around the data; ELF
	 * segments may share file bytes, only the overall cap holds */
	FUZZ_CHECK(total <= (FORMAT == IMAGE_FORMAT_HEX   ? size / 2
	                     : FORMAT == IMAGE_FORMAT_DFU ? size
	                                                  : IMAGE_MAX_FILE_SIZE));
	FUZZ_CHECK(FORMAT == IMAGE_FORMAT_DFU || img->alt == -1);

	/* auto-detection picks this format for files that start like it */
	bool looks = FORMAT == IMAGE_FORMAT_ELF   ? size >= 4 && !memcmp(data,
	                                                                 "\x7f"
	                                                                   "ELF",
	                                                                 4)
	             : FORMAT == IMAGE_FORMAT_DFU ? size >= 5 && !memcmp(data, "DfuSe", 5)
	                                          : false;
	if (looks) {
		struct image a;
		char err[256];
		FUZZ_CHECK(image_load_buffer(data, size, IMAGE_FORMAT_AUTO, IMAGE_DEFAULT_ADDRESS,
		                             &a, err, sizeof(err)) == 0);
		FUZZ_CHECK(a.segment_count == img->segment_count && image_total_size(&a) == total);
		FUZZ_CHECK(!memcmp(a.storage, img->storage, (size_t)total));
		image_free(&a);
	}
}

#ifdef FUZZ_IMAGE_HEX
static void put_record(char **w, uint8_t type, uint16_t offset, const uint8_t *d, size_t n)
{
	uint8_t sum = (uint8_t)(n + (offset >> 8) + (offset & 0xff) + type);
	*w += sprintf(*w, ":%02zX%04X%02X", n, offset, type);
	for (size_t i = 0; i < n; i++) {
		*w += sprintf(*w, "%02X", d[i]);
		sum = (uint8_t)(sum + d[i]);
	}
	*w += sprintf(*w, "%02X\n", (uint8_t)(0x100 - sum));
}

/* The image as Intel HEX (04 and 00 records, 05 for the entry), loaded
 * again: the same segments, bytes and entry. */
static void hex_round_trip(const struct image *img)
{
	uint64_t total = image_total_size(img);
	size_t cap = (size_t)total * 3 + img->segment_count * 64 + 4096;
	char *text = malloc(cap), *w = text;
	FUZZ_CHECK(text != NULL);
	uint32_t upper = 0xffffffffu;
	for (size_t i = 0; i < img->segment_count; i++) {
		const struct mcu_ota_segment *s = &img->segments[i];
		for (uint64_t off = 0; off < s->length;) {
			uint32_t a = s->address + (uint32_t)off;
			size_t n = 16;
			if (n > s->length - off)
				n = (size_t)(s->length - off);
			if (n > 0x10000u - (a & 0xffff))
				n = 0x10000u - (a & 0xffff);
			if (a >> 16 != upper) {
				upper = a >> 16;
				uint8_t u[2] = {(uint8_t)(upper >> 8), (uint8_t)upper};
				put_record(&w, 4, 0, u, 2);
			}
			put_record(&w, 0, (uint16_t)a, s->data + off, n);
			off += n;
		}
	}
	if (img->has_entry) {
		uint8_t e[4] = {(uint8_t)(img->entry >> 24), (uint8_t)(img->entry >> 16),
		                (uint8_t)(img->entry >> 8), (uint8_t)img->entry};
		put_record(&w, 5, 0, e, 4);
	}
	put_record(&w, 1, 0, NULL, 0);
	FUZZ_CHECK((size_t)(w - text) < cap);

	struct image again;
	char err[256];
	int r = image_load_buffer((const uint8_t *)text, (size_t)(w - text), IMAGE_FORMAT_AUTO,
	                          IMAGE_DEFAULT_ADDRESS, &again, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "printed HEX does not load: %s\n", err);
	FUZZ_CHECK(r == 0 && again.format == IMAGE_FORMAT_HEX);
	FUZZ_CHECK(again.segment_count == img->segment_count);
	for (size_t i = 0; i < img->segment_count; i++)
		FUZZ_CHECK(again.segments[i].address == img->segments[i].address &&
		           again.segments[i].length == img->segments[i].length &&
		           !memcmp(again.segments[i].data, img->segments[i].data,
		                   img->segments[i].length));
	FUZZ_CHECK(again.has_entry == img->has_entry && again.entry == img->entry);
	image_free(&again);
	free(text);
}

static int hex_digit(uint8_t c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	                              : -1;
}

/* Rewrite each record's last byte to its right checksum; true when
 * anything changed. */
static bool fix_checksums(uint8_t *buf, size_t len)
{
	bool changed = false;
	for (size_t pos = 0; pos < len;) {
		uint8_t *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len, n = end - pos;
		uint8_t *s = buf + pos;
		pos = nl ? end + 1 : len;
		while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (n < 11 || s[0] != ':' || (n - 1) % 2)
			continue;
		uint8_t sum = 0;
		bool ok = true;
		for (size_t i = 1; ok && i + 2 < n; i += 2) {
			int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
			ok = hi >= 0 && lo >= 0;
			if (ok)
				sum = (uint8_t)(sum + (hi << 4 | lo));
		}
		int hi = hex_digit(s[n - 2]), lo = hex_digit(s[n - 1]);
		uint8_t want = (uint8_t)(0x100 - sum);
		if (ok && !(hi >= 0 && lo >= 0 && (hi << 4 | lo) == want)) {
			char two[3];
			snprintf(two, sizeof(two), "%02X", want);
			memcpy(s + n - 2, two, 2);
			changed = true;
		}
	}
	return changed;
}
#endif

#ifdef FUZZ_IMAGE_DFU
/* A suffix-shaped tail gets its right CRC; true when it changed. */
static bool fix_checksums(uint8_t *buf, size_t len)
{
	if (len < 16 || memcmp(buf + len - 8, "UFD", 3) != 0 || buf[len - 5] != 16)
		return false;
	uint32_t crc = image_dfu_crc(buf, len - 4);
	uint8_t le[4] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
	                 (uint8_t)(crc >> 24)};
	if (!memcmp(buf + len - 4, le, 4))
		return false;
	memcpy(buf + len - 4, le, 4);
	return true;
}
#endif

#ifdef FUZZ_IMAGE_ELF
static bool fix_checksums(uint8_t *buf, size_t len)
{
	(void)buf, (void)len;
	return false; /* ELF has none */
}
#endif

static void one(const uint8_t *data, size_t size)
{
	struct image img;
	char err[512];
	err[0] = '\0';
	if (image_load_buffer(data, size, FORMAT, IMAGE_DEFAULT_ADDRESS, &img, err, sizeof(err)) <
	    0) {
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(img.segments == NULL && img.storage == NULL && img.segment_count == 0);
		return;
	}
	check_image(&img, data, size);
#ifdef FUZZ_IMAGE_HEX
	hex_round_trip(&img);
#endif
	image_free(&img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(data, size);
	uint8_t *copy = malloc(size ? size : 1);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, data, size);
	if (fix_checksums(copy, size)) {
		/* the original had a wrong checksum: it must not have loaded */
		struct image img;
		char err[256];
		FUZZ_CHECK(image_load_buffer(data, size, FORMAT, IMAGE_DEFAULT_ADDRESS, &img, err,
		                             sizeof(err)) < 0);
		one(copy, size);
	}
	free(copy);
	return 0;
}
