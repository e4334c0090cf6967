/* The image readers against files made at build time by real tools
 * (arm-none-eabi-gcc, objcopy, dfuse-pack, dfu-suffix): every format must give
 * the bytes objcopy's raw binary has, at the same addresses; malformed
 * variants derived from those files must be refused with a message that
 * names the line or byte offset. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"

#include "bundle/image.h"

#ifndef IMAGE_FIXTURE_DIR
#error "IMAGE_FIXTURE_DIR must name the build-time fixtures"
#endif

struct blob {
	uint8_t *p;
	size_t len;
};

static struct blob fixture(const char *name)
{
	char path[512];
	struct blob b = {0};
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", IMAGE_FIXTURE_DIR, name);
	f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "cannot read fixture %s\n", path);
		exit(2);
	}
	b.len = (size_t)n;
	b.p = malloc(b.len + 1);
	if (!b.p || fread(b.p, 1, b.len, f) != b.len) {
		fprintf(stderr, "cannot read fixture %s\n", path);
		exit(2);
	}
	b.p[b.len] = 0; /* text fixtures can be used as strings */
	fclose(f);
	return b;
}

static struct blob blob_copy(const struct blob *b)
{
	struct blob c = {malloc(b->len + 1), b->len};
	if (!c.p)
		exit(2);
	memcpy(c.p, b->p, b->len);
	c.p[c.len] = 0;
	return c;
}

static struct blob blob_from_string(const char *s)
{
	struct blob b = {(uint8_t *)s, strlen(s)};
	return blob_copy(&b);
}

static void blob_free(struct blob *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* zlib's CRC-32, inverted: the DFU suffix CRC computed independently of the
 * reader's own table. */
static uint32_t dfu_crc_zlib(const uint8_t *p, size_t n)
{
	return ~(uint32_t)crc32(0L, p, (uInt)n);
}

static void dfu_fix_crc(struct blob *b)
{
	wr32(b->p + b->len - 4, dfu_crc_zlib(b->p, b->len - 4));
}

static int load(const struct blob *b, enum image_format fmt, struct image *img, char *err,
                size_t errlen)
{
	err[0] = 0;
	return image_load_buffer(b->p, b->len, fmt, IMAGE_DEFAULT_ADDRESS, img, err, errlen);
}

/* The image holds exactly the bytes of the raw binary at base. */
static void check_same_as_bin(const struct image *img, const struct blob *bin, uint32_t base)
{
	uint64_t total = 0;
	CHECK(img->segment_count > 0);
	for (size_t i = 0; i < img->segment_count; i++) {
		const struct mcu_ota_segment *s = &img->segments[i];
		CHECK(s->address >= base);
		CHECK((uint64_t)s->address + s->length <= (uint64_t)base + bin->len);
		if (s->address < base || (uint64_t)s->address + s->length > base + bin->len)
			return;
		CHECK(memcmp(s->data, bin->p + (s->address - base), s->length) == 0);
		if (i > 0)
			CHECK(s->address >
			      img->segments[i - 1].address + img->segments[i - 1].length - 1);
		total += s->length;
	}
	CHECK_INT(total, bin->len);
	CHECK_INT(image_total_size(img), bin->len);
}

/* Text helpers for HEX variants. */
static char *line_start(char *text, int line)
{
	char *p = text;
	for (int i = 1; i < line && p; i++) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return p;
}

static size_t line_count(const char *text)
{
	size_t n = 0;
	for (; *text; text++)
		n += *text == '\n';
	return n;
}

/* One Intel HEX record with its checksum, for crafted files. */
static void hex_record(char *out, size_t outlen, uint8_t type, uint16_t addr, const uint8_t *data,
                       size_t n)
{
	unsigned sum = (unsigned)n + (addr >> 8) + (addr & 0xff) + type;
	size_t w = (size_t)snprintf(out, outlen, ":%02X%04X%02X", (unsigned)n, addr, type);
	for (size_t i = 0; i < n; i++) {
		w += (size_t)snprintf(out + w, outlen - w, "%02X", data[i]);
		sum += data[i];
	}
	snprintf(out + w, outlen - w, "%02X\n", (0x100 - (sum & 0xff)) & 0xff);
}

static void append(char **text, size_t *len, const char *s)
{
	size_t n = strlen(s);
	char *t = realloc(*text, *len + n + 1);
	if (!t)
		exit(2);
	memcpy(t + *len, s, n + 1);
	*text = t;
	*len += n;
}

/* ---- raw binary ---- */

static void bin_is_placed_at_address(void)
{
	struct blob bin = fixture("fw.bin");
	struct image img;
	char err[256];

	CHECK_INT(load(&bin, IMAGE_FORMAT_BIN, &img, err, sizeof(err)), 0);
	CHECK_INT(img.format, IMAGE_FORMAT_BIN);
	CHECK_INT(img.segment_count, 1);
	CHECK_INT(img.segments[0].address, 0x08000000);
	CHECK(!img.has_entry);
	CHECK_INT(img.alt, -1);
	check_same_as_bin(&img, &bin, 0x08000000);
	image_free(&img);

	CHECK_INT(image_load_buffer(bin.p, bin.len, IMAGE_FORMAT_AUTO, 0x08004000, &img, err,
	                            sizeof(err)),
	          0);
	CHECK_INT(img.format, IMAGE_FORMAT_BIN); /* a vector table is not text */
	check_same_as_bin(&img, &bin, 0x08004000);
	image_free(&img);
	blob_free(&bin);
}

static void bin_empty_and_wrapping_refused(void)
{
	struct blob bin = fixture("fw.bin");
	struct image img;
	char err[256];

	CHECK(image_load_buffer(bin.p, 0, IMAGE_FORMAT_BIN, 0x08000000, &img, err, sizeof(err)) <
	      0);
	CHECK_CONTAINS(err, "empty");
	CHECK_INT(img.segment_count, 0);
	CHECK(image_load_buffer(bin.p, bin.len, IMAGE_FORMAT_BIN, 0xffffff80, &img, err,
	                        sizeof(err)) < 0);
	CHECK_CONTAINS(err, "0xffffff80");
	CHECK_CONTAINS(err, "0xffffffff");
	/* The very last byte of the address space is fine. */
	CHECK_INT(
	    image_load_buffer(bin.p, 0x80, IMAGE_FORMAT_BIN, 0xffffff80, &img, err, sizeof(err)),
	    0);
	image_free(&img);
	image_free(&img); /* idempotent */
	blob_free(&bin);
}

static void file_size_limit_and_missing_file(void)
{
	char path[] = "/tmp/mcu-ota-image-XXXXXX";
	struct image img;
	char err[256];
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	/* Sparse: costs nothing, but is one byte over the cap. */
	CHECK_INT(ftruncate(fd, (off_t)IMAGE_MAX_FILE_SIZE + 1), 0);
	close(fd);
	CHECK_INT(image_load_file(path, IMAGE_FORMAT_AUTO, 0x08000000, &img, err, sizeof(err)),
	          -EFBIG);
	CHECK_CONTAINS(err, "larger than the limit");
	unlink(path);

	CHECK_INT(image_load_file("/nonexistent/fw.bin", IMAGE_FORMAT_AUTO, 0x08000000, &img, err,
	                          sizeof(err)),
	          -ENOENT);
	CHECK_CONTAINS(err, "cannot open");
	CHECK_INT(image_load_file("/", IMAGE_FORMAT_AUTO, 0x08000000, &img, err, sizeof(err)),
	          -EISDIR);

	/* A real file through the file path gives what the buffer path gives. */
	{
		char fw[512];
		struct blob bin = fixture("fw.bin");
		snprintf(fw, sizeof(fw), "%s/fw.hex", IMAGE_FIXTURE_DIR);
		CHECK_INT(image_load_file(fw, IMAGE_FORMAT_AUTO, 0, &img, err, sizeof(err)), 0);
		CHECK_INT(img.format, IMAGE_FORMAT_HEX);
		check_same_as_bin(&img, &bin, 0x08000000);
		image_free(&img);
		blob_free(&bin);
	}
}

static void format_names_round_trip(void)
{
	static const char *const names[] = {"auto", "bin", "hex", "dfu", "elf"};
	enum image_format f;
	for (size_t i = 0; i < 5; i++) {
		CHECK_INT(image_format_parse(names[i], &f), 0);
		CHECK_STR(image_format_name(f), names[i]);
	}
	CHECK_INT(image_format_parse("ihex", &f), -EINVAL);
	CHECK_INT(image_format_parse(NULL, &f), -EINVAL);
}

/* ---- Intel HEX ---- */

static void hex_from_objcopy_binary_matches(void)
{
	struct blob bin = fixture("fw.bin"), hex = fixture("fw.hex");
	struct image img;
	char err[256];

	CHECK_CONTAINS((char *)hex.p, ":020000040800F2"); /* 04 record */
	CHECK_INT(load(&hex, IMAGE_FORMAT_AUTO, &img, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(img.format, IMAGE_FORMAT_HEX);
	CHECK_INT(img.segment_count, 1);
	check_same_as_bin(&img, &bin, 0x08000000);
	CHECK(img.has_entry); /* objcopy writes an 05 record */
	CHECK_INT(img.entry, 0x08000000);
	image_free(&img);
	blob_free(&bin);
	blob_free(&hex);
}

static void hex_from_elf_matches_and_has_entry(void)
{
	struct blob bin = fixture("fw.bin"), hex = fixture("fw_elf.hex"), elf = fixture("fw.elf");
	struct image img, eimg;
	char err[256];

	CHECK_INT(load(&hex, IMAGE_FORMAT_HEX, &img, err, sizeof(err)), 0);
	check_same_as_bin(&img, &bin, 0x08000000);
	CHECK_INT(load(&elf, IMAGE_FORMAT_ELF, &eimg, err, sizeof(err)), 0);
	CHECK(img.has_entry);
	CHECK_INT(img.entry, eimg.entry);
	CHECK_INT(img.entry & 1, 1); /* Thumb */
	image_free(&img);
	image_free(&eimg);
	blob_free(&bin);
	blob_free(&hex);
	blob_free(&elf);
}

static void hex_extended_segment_records(void)
{
	struct blob bin = fixture("fw.bin"), hex = fixture("fw_seg.hex");
	struct image img;
	char err[256];

	/* binutils switched to an 02 record where the data crosses 0x10000. */
	CHECK_CONTAINS((char *)hex.p, ":020000021000EC");
	CHECK_INT(load(&hex, IMAGE_FORMAT_AUTO, &img, err, sizeof(err)), 0);
	CHECK_INT(img.segment_count, 1);
	CHECK_INT(img.segments[0].address, 0xfff0);
	check_same_as_bin(&img, &bin, 0xfff0);
	image_free(&img);
	blob_free(&bin);
	blob_free(&hex);
}

static void hex_crafted_address_records(void)
{
	static const uint8_t ela[] = {0x08, 0x01}, esa[] = {0x10, 0x00};
	static const uint8_t d1[] = {1, 2, 3, 4}, d2[] = {5, 6};
	static const uint8_t ssa[] = {0x10, 0x00, 0x01, 0x00};
	char rec[600], *text = NULL;
	size_t len = 0;
	struct blob b;
	struct image img;
	char err[256];

	hex_record(rec, sizeof(rec), 4, 0, ela, 2); /* base 0x08010000 */
	append(&text, &len, rec);
	hex_record(rec, sizeof(rec), 0, 0x0010, d1, 4);
	append(&text, &len, rec);
	hex_record(rec, sizeof(rec), 2, 0, esa, 2); /* base 0x10000 */
	append(&text, &len, rec);
	hex_record(rec, sizeof(rec), 0, 0x0002, d2, 2);
	append(&text, &len, rec);
	hex_record(rec, sizeof(rec), 3, 0, ssa, 4); /* CS:IP 1000:0100 */
	append(&text, &len, rec);
	append(&text, &len, "\n:00000001FF\n\n");
	b = blob_from_string(text);
	CHECK_INT(load(&b, IMAGE_FORMAT_AUTO, &img, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(img.segment_count, 2);
	if (img.segment_count == 2) {
		CHECK_INT(img.segments[0].address, 0x10002);
		CHECK_INT(img.segments[0].length, 2);
		CHECK_INT(img.segments[0].data[1], 6);
		CHECK_INT(img.segments[1].address, 0x08010010);
		CHECK_INT(img.segments[1].length, 4);
		CHECK_INT(img.segments[1].data[3], 4);
	}
	CHECK(img.has_entry);
	CHECK_INT(img.entry, 0x10100);
	image_free(&img);
	blob_free(&b);
	free(text);
}

static void hex_out_of_order_records_are_sorted_and_merged(void)
{
	static const uint8_t ela[] = {0x08, 0x00};
	uint8_t d[16];
	char rec[600], *text = NULL;
	size_t len = 0;
	struct blob b;
	struct image img;
	char err[256];

	hex_record(rec, sizeof(rec), 4, 0, ela, 2);
	append(&text, &len, rec);
	for (int i = 7; i >= 0; i--) {
		for (int k = 0; k < 16; k++)
			d[k] = (uint8_t)(i * 16 + k);
		hex_record(rec, sizeof(rec), 0, (uint16_t)(i * 16), d, 16);
		append(&text, &len, rec);
	}
	append(&text, &len, ":00000001FF\n");
	b = blob_from_string(text);
	CHECK_INT(load(&b, IMAGE_FORMAT_HEX, &img, err, sizeof(err)), 0);
	CHECK_INT(img.segment_count, 1);
	CHECK_INT(img.segments[0].address, 0x08000000);
	CHECK_INT(img.segments[0].length, 128);
	for (int i = 0; i < 128 && img.segment_count == 1; i++)
		CHECK_INT(img.segments[0].data[i], i);
	CHECK(!img.has_entry);
	image_free(&img);
	blob_free(&b);
	free(text);
}

struct flat {
	uint8_t bytes[8192];
	size_t len, pieces;
};

static int collect(void *ctx, const uint8_t *data, size_t len)
{
	struct flat *f = ctx;
	if (len > sizeof(f->bytes) - f->len)
		return -EFBIG;
	memcpy(f->bytes + f->len, data, len);
	f->len += len;
	f->pieces++;
	return 0;
}

static int refuse(void *ctx, const uint8_t *data, size_t len)
{
	(void)data, (void)len;
	return ++*(int *)ctx == 2 ? -ENOSPC : 0;
}

/* Issue 14: the engine stages a parsed image flat from its pieces: the
 * segments in address order, the gaps between them erased (0xFF), nothing
 * before the first or after the last; a failing consumer stops it. */
static void image_flatten_fills_gaps_in_pieces(void)
{
	static const uint8_t ela[] = {0x08, 0x00}, a[] = {1, 2, 3, 4}, b[] = {5, 6};
	char rec[600], *text = NULL;
	size_t len = 0;
	struct image img;
	char err[256];
	struct flat f = {.len = 0};

	hex_record(rec, sizeof(rec), 4, 0, ela, 2);
	append(&text, &len, rec);
	hex_record(rec, sizeof(rec), 0, 0x0010, a, sizeof(a));
	append(&text, &len, rec);
	hex_record(rec, sizeof(rec), 0, 0x1020, b, sizeof(b)); /* 4124 bytes further on */
	append(&text, &len, rec);
	append(&text, &len, ":00000001FF\n");
	struct blob h = blob_from_string(text);
	CHECK_INT(load(&h, IMAGE_FORMAT_HEX, &img, err, sizeof(err)), 0);
	CHECK_INT(img.segment_count, 2);
	CHECK_INT(image_flatten(&img, collect, &f), 0);
	CHECK_INT(f.len, 0x1022 - 0x10);
	CHECK(memcmp(f.bytes, a, sizeof(a)) == 0);
	for (size_t i = sizeof(a); i < 0x1010 && f.len == 0x1012; i++)
		if (f.bytes[i] != 0xFF) {
			CHECK_INT(f.bytes[i], 0xFF);
			break;
		}
	CHECK(memcmp(f.bytes + 0x1010, b, sizeof(b)) == 0);
	CHECK(f.pieces >= 3); /* segment, gap in pieces of at most 4 KiB, segment */
	int calls = 0;
	CHECK_INT(image_flatten(&img, refuse, &calls), -ENOSPC);
	CHECK_INT(calls, 2);
	image_free(&img);
	blob_free(&h);
	free(text);
}

static void hex_lf_and_lowercase_accepted(void)
{
	struct blob bin = fixture("fw.bin"), hex = fixture("fw.hex");
	char *text = NULL;
	size_t len = 0;
	struct blob b;
	struct image img;
	char err[256];

	/* objcopy writes CRLF, which the other tests load; here plain LF
	 * and lower-case digits. */
	CHECK_CONTAINS((char *)hex.p, "F2\r\n");
	for (char *p = (char *)hex.p; *p; p++) {
		char c[2] = {(char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p), 0};
		if (*p != '\r')
			append(&text, &len, c);
	}
	CHECK(strchr(text, '\r') == NULL);
	CHECK_CONTAINS(text, "f2\n");
	b = blob_from_string(text);
	CHECK_INT(load(&b, IMAGE_FORMAT_AUTO, &img, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	check_same_as_bin(&img, &bin, 0x08000000);
	image_free(&img);
	blob_free(&b);
	blob_free(&bin);
	blob_free(&hex);
	free(text);
}

static void hex_bad_checksum_names_line(void)
{
	struct blob hex = fixture("fw.hex");
	char *l3 = line_start((char *)hex.p, 3), *nl = strchr(l3, '\n'), expect[64];
	unsigned good;
	struct image img;
	char err[256];

	/* Flip the low bit of line 3's checksum byte (objcopy ends lines
	 * with CRLF). */
	if (nl[-1] == '\r')
		nl--;
	sscanf(nl - 2, "%2X", &good);
	snprintf(nl - 2, 3, "%02X", good ^ 1);
	*nl = '\r';
	CHECK(load(&hex, IMAGE_FORMAT_HEX, &img, err, sizeof(err)) < 0);
	snprintf(expect, sizeof(expect), "line 3: checksum 0x%02X, expected 0x%02X", good ^ 1,
	         good);
	CHECK_CONTAINS(err, expect);
	CHECK_INT(img.segment_count, 0);
	blob_free(&hex);
}

static void hex_bad_digit_and_bad_count_name_line(void)
{
	struct blob hex = fixture("fw.hex"), h2;
	struct image img;
	char err[256];

	h2 = blob_copy(&hex);
	line_start((char *)hex.p, 2)[12] = 'G';
	CHECK(load(&hex, IMAGE_FORMAT_HEX, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "line 2, column 13: 'G' is not a hex digit");

	/* Byte count 0x11 on a 16-byte record. */
	line_start((char *)h2.p, 4)[2] = '1';
	line_start((char *)h2.p, 4)[1] = '1';
	CHECK(load(&h2, IMAGE_FORMAT_HEX, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "line 4: byte count says 17 data bytes, the record has 16");
	blob_free(&hex);
	blob_free(&h2);
}

static void hex_missing_eof_and_truncation_refused(void)
{
	struct blob hex = fixture("fw.hex");
	size_t lines = line_count((char *)hex.p);
	char *last = line_start((char *)hex.p, (int)lines), expect[64];
	struct image img;
	char err[256];
	struct blob cut;

	cut = blob_copy(&hex);
	cut.len = (size_t)(last - (char *)hex.p); /* drop ":00000001FF" */
	CHECK(load(&cut, IMAGE_FORMAT_HEX, &img, err, sizeof(err)) < 0);
	snprintf(expect, sizeof(expect), "line %zu: no end-of-file record", lines - 1);
	CHECK_CONTAINS(err, expect);
	blob_free(&cut);

	/* Cut in the middle of line 5. */
	cut = blob_copy(&hex);
	cut.len = (size_t)(line_start((char *)hex.p, 5) - (char *)hex.p) + 20;
	CHECK(load(&cut, IMAGE_FORMAT_HEX, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "line 5: ");
	blob_free(&cut);

	cut = blob_from_string("");
	CHECK(load(&cut, IMAGE_FORMAT_HEX, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "empty");
	blob_free(&cut);

	cut = blob_from_string(":00000001FF\n");
	CHECK(load(&cut, IMAGE_FORMAT_HEX, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "no data");
	blob_free(&cut);
	blob_free(&hex);
}

static void hex_data_after_eof_refused(void)
{
	struct blob hex = fixture("fw.hex"), b;
	size_t lines = line_count((char *)hex.p), len = hex.len;
	char *text = malloc(hex.len + 1), expect[96];
	struct image img;
	char err[256];

	memcpy(text, hex.p, hex.len + 1);
	/* Line 2 (a data record) again, after the EOF record. */
	{
		char *l2 = line_start((char *)hex.p, 2), *e = strchr(l2, '\n');
		char rec[600];
		snprintf(rec, sizeof(rec), "%.*s\n", (int)(e - l2), l2);
		append(&text, &len, rec);
	}
	b = blob_from_string(text);
	CHECK(load(&b, IMAGE_FORMAT_HEX, &img, err, sizeof(err)) < 0);
	snprintf(expect, sizeof(expect), "line %zu: data after the end-of-file record on line %zu",
	         lines + 1, lines);
	CHECK_CONTAINS(err, expect);
	blob_free(&b);
	blob_free(&hex);
	free(text);
}

static void hex_overlapping_records_name_both(void)
{
	struct blob hex = fixture("fw.hex"), b;
	size_t lines = line_count((char *)hex.p), len;
	char *text, rec[600];
	struct image img;
	char err[256];

	/* Insert a copy of line 3 (data at 0x08000010) before the EOF record. */
	{
		char *l3 = line_start((char *)hex.p, 3), *e = strchr(l3, '\n');
		snprintf(rec, sizeof(rec), "%.*s\n", (int)(e - l3), l3);
	}
	len = (size_t)(line_start((char *)hex.p, (int)lines) - (char *)hex.p);
	text = malloc(len + 1);
	memcpy(text, hex.p, len);
	text[len] = 0;
	append(&text, &len, rec);
	append(&text, &len, ":00000001FF\n");
	b = blob_from_string(text);
	CHECK(load(&b, IMAGE_FORMAT_HEX, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "overlaps");
	CHECK_CONTAINS(err, "0x08000010-0x0800001f");
	CHECK_CONTAINS(err, "line 2");
	snprintf(rec, sizeof(rec), "line %zu", lines);
	CHECK_CONTAINS(err, rec);
	blob_free(&b);
	blob_free(&hex);
	free(text);
}

static void hex_limits_and_odd_records(void)
{
	struct image img;
	char err[256], rec[600], line[800];
	uint8_t d[16] = {0};
	struct blob b;

	memset(line, 'A', sizeof(line));
	line[0] = ':';
	line[700] = '\n';
	line[701] = 0;
	b = blob_from_string(line);
	CHECK(load(&b, IMAGE_FORMAT_HEX, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "line 1: longer than");
	blob_free(&b);

	hex_record(rec, sizeof(rec), 6, 0, d, 0);
	snprintf(line, sizeof(line), ":0400000508000000EF\n%s:00000001FF\n", rec);
	b = blob_from_string(line);
	CHECK(load(&b, IMAGE_FORMAT_HEX, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "line 2: unknown record type 0x06");
	blob_free(&b);

	/* 16 bytes at 0xfff8 would cross 64 KiB, which Intel HEX wraps. */
	hex_record(rec, sizeof(rec), 0, 0xfff8, d, 16);
	snprintf(line, sizeof(line), "%s:00000001FF\n", rec);
	b = blob_from_string(line);
	CHECK(load(&b, IMAGE_FORMAT_HEX, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "line 1: 16 bytes at offset 0xfff8 cross a 64 KiB boundary");
	blob_free(&b);

	/* An 04 record must carry two bytes. */
	hex_record(rec, sizeof(rec), 4, 0, d, 3);
	snprintf(line, sizeof(line), "%s:00000001FF\n", rec);
	b = blob_from_string(line);
	CHECK(load(&b, IMAGE_FORMAT_HEX, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "line 1: extended address record (type 04)");
	blob_free(&b);

	/* Two different start addresses. */
	snprintf(line, sizeof(line), ":0400000508000000EF\n:0400000508000101ED\n:00000001FF\n");
	b = blob_from_string(line);
	CHECK(load(&b, IMAGE_FORMAT_HEX, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "line 2: start address 0x08000101 differs from 0x08000000");
	blob_free(&b);

	b = blob_from_string(" :00000001FF\n");
	CHECK(load(&b, IMAGE_FORMAT_HEX, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "line 1: does not start with ':'");
	blob_free(&b);
}

static void hex_too_many_segments_refused(void)
{
	static const uint8_t ela[] = {0x08, 0x00}, one[] = {0x5a};
	char rec[64], *text = NULL, expect[64];
	size_t len = 0;
	struct blob b;
	struct image img;
	char err[256];

	hex_record(rec, sizeof(rec), 4, 0, ela, 2);
	append(&text, &len, rec);
	for (unsigned i = 0; i <= IMAGE_MAX_SEGMENTS; i++) {
		hex_record(rec, sizeof(rec), 0, (uint16_t)(i * 2), one, 1);
		append(&text, &len, rec);
	}
	append(&text, &len, ":00000001FF\n");
	b = blob_from_string(text);
	CHECK(load(&b, IMAGE_FORMAT_HEX, &img, err, sizeof(err)) < 0);
	snprintf(expect, sizeof(expect), "%d separate segments", IMAGE_MAX_SEGMENTS + 1);
	CHECK_CONTAINS(err, expect);
	blob_free(&b);
	free(text);
}

/* ---- DfuSe ---- */

/* Offsets in a one-target, one-element dfuse-pack file. */
#define DFUSE_TARGET0  11
#define DFUSE_ELEMENT0 (11 + 274)

static void dfu_suffix_crc_matches_zlib(void)
{
	struct blob dfu = fixture("fw.dfu");
	CHECK_INT(image_dfu_crc(dfu.p, dfu.len - 4), rd32(dfu.p + dfu.len - 4));
	CHECK_INT(image_dfu_crc(dfu.p, dfu.len - 4), dfu_crc_zlib(dfu.p, dfu.len - 4));
	CHECK(image_dfu_has_suffix(dfu.p, dfu.len));
	blob_free(&dfu);
}

static void dfu_from_dfuse_pack_matches(void)
{
	struct blob bin = fixture("fw.bin"), dfu = fixture("fw.dfu");
	struct image img;
	char err[256];

	CHECK_INT(rd32(dfu.p + 6), dfu.len); /* dfuse-pack counts the suffix */
	CHECK_INT(load(&dfu, IMAGE_FORMAT_AUTO, &img, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(img.format, IMAGE_FORMAT_DFU);
	CHECK_INT(img.segment_count, 1);
	check_same_as_bin(&img, &bin, 0x08000000);
	CHECK_INT(img.dfu_vid, 0x0483);
	CHECK_INT(img.dfu_pid, 0xdf11);
	CHECK_INT(img.dfu_bcd_device, 0);
	CHECK_INT(img.alt, 0);
	CHECK(!img.has_entry);
	image_free(&img);
	blob_free(&bin);
	blob_free(&dfu);
}

static void dfu_image_size_without_suffix_accepted(void)
{
	struct blob bin = fixture("fw.bin"), dfu = fixture("fw.dfu");
	struct image img;
	char err[256];

	/* As micropython's dfu.py writes it: DFUImageSize leaves the suffix out. */
	wr32(dfu.p + 6, (uint32_t)dfu.len - 16);
	dfu_fix_crc(&dfu);
	CHECK_INT(load(&dfu, IMAGE_FORMAT_DFU, &img, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	check_same_as_bin(&img, &bin, 0x08000000);
	image_free(&img);

	/* Anything else is refused. */
	wr32(dfu.p + 6, (uint32_t)dfu.len - 1);
	dfu_fix_crc(&dfu);
	CHECK(load(&dfu, IMAGE_FORMAT_DFU, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "offset 6 (0x6): DFUImageSize");
	blob_free(&bin);
	blob_free(&dfu);
}

static void dfu_two_elements_sorted_with_suffix_ids(void)
{
	struct blob bin = fixture("fw.bin"), dfu = fixture("fw_twoel.dfu");
	struct image img;
	char err[256];

	CHECK_INT(load(&dfu, IMAGE_FORMAT_AUTO, &img, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(img.dfu_vid, 0x1209);
	CHECK_INT(img.dfu_pid, 0x2001);
	CHECK_INT(img.alt, 1);
	CHECK_INT(img.segment_count, 2);
	if (img.segment_count == 2) {
		CHECK_INT(img.segments[0].address, 0x08000000);
		CHECK_INT(img.segments[1].address, 0x08004000);
		CHECK_INT(img.segments[1].length, bin.len);
		CHECK(memcmp(img.segments[0].data, bin.p, bin.len) == 0);
		CHECK(memcmp(img.segments[1].data, bin.p, bin.len) == 0);
	}
	image_free(&img);
	blob_free(&bin);
	blob_free(&dfu);
}

static void dfu_two_alt_settings_refused(void)
{
	struct blob bin = fixture("fw.bin"), dfu = fixture("fw_twoalt.dfu");
	struct image img;
	char err[256], expect[64];
	size_t target1 = DFUSE_ELEMENT0 + 8 + bin.len;

	CHECK(load(&dfu, IMAGE_FORMAT_AUTO, &img, err, sizeof(err)) < 0);
	snprintf(expect, sizeof(expect), "offset %zu (0x%zx): target 1 is for alt setting 1",
	         target1 + 6, target1 + 6);
	CHECK_CONTAINS(err, expect);
	CHECK_CONTAINS(err, "one alt setting at a time");
	blob_free(&bin);
	blob_free(&dfu);
}

static void dfu_overlapping_elements_name_both(void)
{
	struct blob bin = fixture("fw.bin"), dfu = fixture("fw_overlap.dfu");
	struct image img;
	char err[256], expect[64];

	CHECK(load(&dfu, IMAGE_FORMAT_AUTO, &img, err, sizeof(err)) < 0);
	snprintf(expect, sizeof(expect), "offset %zu", (size_t)DFUSE_ELEMENT0 + 8 + bin.len);
	CHECK_CONTAINS(err, expect);
	CHECK_CONTAINS(err, "data at 0x08000010-");
	CHECK_CONTAINS(err, "overlaps data at 0x08000000-");
	blob_free(&bin);
	blob_free(&dfu);
}

static void dfu_damage_refused_with_offset(void)
{
	struct blob dfu = fixture("fw.dfu"), b;
	struct image img;
	char err[256], expect[96];

	/* A flipped data byte: the CRC catches it. */
	b = blob_copy(&dfu);
	b.p[DFUSE_ELEMENT0 + 20] ^= 0x40;
	CHECK(load(&b, IMAGE_FORMAT_DFU, &img, err, sizeof(err)) < 0);
	snprintf(expect, sizeof(expect), "offset %zu (0x%zx): suffix CRC", b.len - 4, b.len - 4);
	CHECK_CONTAINS(err, expect);
	blob_free(&b);

	/* Truncated: no suffix where it should be. */
	b = blob_copy(&dfu);
	b.len -= 10;
	CHECK(load(&b, IMAGE_FORMAT_DFU, &img, err, sizeof(err)) < 0);
	snprintf(expect, sizeof(expect), "offset %zu", b.len - 8);
	CHECK_CONTAINS(err, expect);
	CHECK_CONTAINS(err, "'UFD'");
	blob_free(&b);

	/* Element size past the end of its target (CRC made valid). */
	b = blob_copy(&dfu);
	wr32(b.p + DFUSE_ELEMENT0 + 4, rd32(b.p + DFUSE_ELEMENT0 + 4) + 1);
	dfu_fix_crc(&b);
	CHECK(load(&b, IMAGE_FORMAT_DFU, &img, err, sizeof(err)) < 0);
	snprintf(expect, sizeof(expect), "offset %d (0x%x): target 0, element 0: dwElementSize",
	         DFUSE_ELEMENT0 + 4, DFUSE_ELEMENT0 + 4);
	CHECK_CONTAINS(err, expect);
	blob_free(&b);

	/* Target size past the end of the file. */
	b = blob_copy(&dfu);
	wr32(b.p + DFUSE_TARGET0 + 266, 0x7fffffff);
	dfu_fix_crc(&b);
	CHECK(load(&b, IMAGE_FORMAT_DFU, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "offset 277 (0x115): target 0: dwTargetSize 2147483647 runs past");
	blob_free(&b);

	/* Two targets announced, one present. */
	b = blob_copy(&dfu);
	b.p[10] = 2;
	dfu_fix_crc(&b);
	CHECK(load(&b, IMAGE_FORMAT_DFU, &img, err, sizeof(err)) < 0);
	snprintf(expect, sizeof(expect), "offset %zu", b.len - 16);
	CHECK_CONTAINS(err, expect);
	CHECK_CONTAINS(err, "target 1 of 2");
	blob_free(&b);

	/* Wrong DfuSe version, wrong target signature, wrong bcdDFU. */
	b = blob_copy(&dfu);
	b.p[5] = 2;
	dfu_fix_crc(&b);
	CHECK(load(&b, IMAGE_FORMAT_DFU, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "offset 5 (0x5): DfuSe version 2, expected 1");
	blob_free(&b);

	b = blob_copy(&dfu);
	b.p[DFUSE_TARGET0] = 't';
	dfu_fix_crc(&b);
	CHECK(load(&b, IMAGE_FORMAT_DFU, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "offset 11 (0xb): target 0: signature is not \"Target\"");
	blob_free(&b);

	b = blob_copy(&dfu);
	b.p[b.len - 10] = 0x00;
	b.p[b.len - 9] = 0x01;
	dfu_fix_crc(&b);
	CHECK(load(&b, IMAGE_FORMAT_DFU, &img, err, sizeof(err)) < 0);
	snprintf(expect, sizeof(expect), "offset %zu (0x%zx): bcdDFU 0x0100", b.len - 10,
	         b.len - 10);
	CHECK_CONTAINS(err, expect);
	blob_free(&b);

	/* Wrong magic: no longer DfuSe, and the suffix says it should be. */
	b = blob_copy(&dfu);
	memcpy(b.p, "DfuSx", 5);
	dfu_fix_crc(&b);
	CHECK(load(&b, IMAGE_FORMAT_DFU, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "offset 0 (0x0): bcdDFU 0x011a (DfuSe)");
	CHECK_CONTAINS(err, "no \"DfuSe\" prefix");
	blob_free(&b);

	/* Element data that wraps past 0xffffffff. */
	b = blob_copy(&dfu);
	wr32(b.p + DFUSE_ELEMENT0, 0xffffff80);
	dfu_fix_crc(&b);
	CHECK(load(&b, IMAGE_FORMAT_DFU, &img, err, sizeof(err)) < 0);
	snprintf(expect, sizeof(expect), "offset %d (0x%x):", DFUSE_ELEMENT0, DFUSE_ELEMENT0);
	CHECK_CONTAINS(err, expect);
	CHECK_CONTAINS(err, "past the end of the address space");
	blob_free(&b);
	blob_free(&dfu);
}

static void dfu_plain_suffix_is_stripped(void)
{
	struct blob bin = fixture("fw.bin"), dfu = fixture("fw_plain.dfu");
	struct image img;
	char err[256];

	CHECK_INT(dfu.len, bin.len + 16);
	CHECK_INT(load(&dfu, IMAGE_FORMAT_AUTO, &img, err, sizeof(err)), 0);
	CHECK_INT(img.format, IMAGE_FORMAT_DFU);
	check_same_as_bin(&img, &bin, 0x08000000); /* the suffix is not firmware */
	CHECK_INT(img.dfu_vid, 0x0483);
	CHECK_INT(img.dfu_pid, 0xdf11);
	CHECK_INT(img.dfu_bcd_device, 0x0200);
	CHECK_INT(img.alt, -1);
	image_free(&img);
	/* Forced to bin, the bytes are taken as they are. */
	CHECK_INT(load(&dfu, IMAGE_FORMAT_BIN, &img, err, sizeof(err)), 0);
	CHECK_INT(image_total_size(&img), dfu.len);
	image_free(&img);
	blob_free(&bin);
	blob_free(&dfu);
}

/* ---- ELF ---- */

#define PHDR(b, i) ((b)->p + rd32((b)->p + 28) + (size_t)(i)*32)

static void elf_uses_physical_addresses(void)
{
	struct blob bin = fixture("fw.bin"), elf = fixture("fw.elf");
	struct image img;
	char err[256];
	int found_ram_segment = 0, marker = 0;

	/* The fixture really has a segment that runs from RAM but loads
	 * from flash (.data AT> FLASH), with bss beyond its file size. */
	for (unsigned i = 0; i < (unsigned)(elf.p[44] | elf.p[45] << 8); i++) {
		const uint8_t *ph = PHDR(&elf, i);
		if (rd32(ph) == 1 && rd32(ph + 8) == 0x20000000 && rd32(ph + 12) < 0x20000000 &&
		    rd32(ph + 20) > rd32(ph + 16))
			found_ram_segment = 1;
	}
	CHECK(found_ram_segment);

	CHECK_INT(load(&elf, IMAGE_FORMAT_AUTO, &img, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(img.format, IMAGE_FORMAT_ELF);
	check_same_as_bin(&img, &bin, 0x08000000);
	CHECK(img.has_entry);
	CHECK(img.entry > 0x08000000 && img.entry < 0x08000000 + bin.len);
	for (size_t i = 0; i < img.segment_count; i++) {
		CHECK(img.segments[i].address < 0x20000000);
		for (size_t k = 0; k + 4 <= img.segments[i].length; k += 4)
			marker |= rd32(img.segments[i].data + k) == 0xc0ffee11u;
	}
	CHECK(marker); /* initialised .data is in flash */
	image_free(&img);
	blob_free(&bin);
	blob_free(&elf);
}

static void elf64_and_objects_refused(void)
{
	struct blob elf = fixture("fw.elf"), obj = fixture("fw.o");
	struct image img;
	char err[256];
	char self[] = "/proc/self/exe";

	elf.p[4] = 2;
	CHECK(load(&elf, IMAGE_FORMAT_ELF, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "offset 4 (0x4): ELF64");
	/* A real ELF64 file: this test program, where it is one (built for a 32-bit ARM target it
	 * is an ELF32 ARM program, which the reader takes like any firmware ELF). */
	if (sizeof(void *) == 8) {
		CHECK(image_load_file(self, IMAGE_FORMAT_AUTO, 0, &img, err, sizeof(err)) < 0);
		CHECK_CONTAINS(err, "ELF64");
	}

	CHECK(load(&obj, IMAGE_FORMAT_AUTO, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "offset 16 (0x10): a relocatable object");

	elf.p[4] = 1;
	elf.p[5] = 2;
	CHECK(load(&elf, IMAGE_FORMAT_ELF, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "offset 5 (0x5): big-endian");

	elf.p[5] = 1;
	elf.p[0] = 'E';
	CHECK(load(&elf, IMAGE_FORMAT_ELF, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "offset 0 (0x0): no ELF magic");
	blob_free(&elf);
	blob_free(&obj);
}

static void elf_bounds_checked(void)
{
	struct blob elf = fixture("fw.elf"), b;
	struct image img;
	char err[256], expect[96];
	size_t ph0 = rd32(elf.p + 28);

	b = blob_copy(&elf);
	b.len = 40;
	CHECK(load(&b, IMAGE_FORMAT_ELF, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "offset 40 (0x28): file ends inside the 52-byte ELF header");
	blob_free(&b);

	/* Cut inside the first segment's data. */
	b = blob_copy(&elf);
	b.len = rd32(PHDR(&elf, 0) + 4) + 10;
	CHECK(load(&b, IMAGE_FORMAT_ELF, &img, err, sizeof(err)) < 0);
	snprintf(expect, sizeof(expect), "offset %zu (0x%zx): program header 0:", ph0 + 4, ph0 + 4);
	CHECK_CONTAINS(err, expect);
	CHECK_CONTAINS(err, "run past the end of the file");
	blob_free(&b);

	b = blob_copy(&elf);
	wr32(b.p + 28, 0xfffffff0);
	CHECK(load(&b, IMAGE_FORMAT_ELF, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "offset 28 (0x1c): program headers");
	blob_free(&b);

	b = blob_copy(&elf);
	b.p[42] = 8; /* e_phentsize */
	b.p[43] = 0;
	CHECK(load(&b, IMAGE_FORMAT_ELF, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "offset 42 (0x2a): e_phentsize 8");
	blob_free(&b);

	b = blob_copy(&elf);
	wr32(PHDR(&b, 0) + 12, 0xffffff80);
	CHECK(load(&b, IMAGE_FORMAT_ELF, &img, err, sizeof(err)) < 0);
	snprintf(expect, sizeof(expect), "offset %zu (0x%zx): program header 0:", ph0 + 12,
	         ph0 + 12);
	CHECK_CONTAINS(err, expect);
	CHECK_CONTAINS(err, "0xffffffff");
	blob_free(&b);

	/* p_filesz larger than p_memsz. */
	b = blob_copy(&elf);
	wr32(PHDR(&b, 0) + 20, 4);
	CHECK(load(&b, IMAGE_FORMAT_ELF, &img, err, sizeof(err)) < 0);
	snprintf(expect, sizeof(expect), "offset %zu (0x%zx): program header 0: p_filesz", ph0 + 16,
	         ph0 + 16);
	CHECK_CONTAINS(err, expect);
	blob_free(&b);

	/* .data loaded over the vector table: both named. */
	b = blob_copy(&elf);
	wr32(PHDR(&b, 1) + 12, 0x08000004);
	CHECK(load(&b, IMAGE_FORMAT_ELF, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "data at 0x08000004-");
	CHECK_CONTAINS(err, "overlaps data at 0x08000000-");
	snprintf(expect, sizeof(expect), "offset %zu", ph0 + 32);
	CHECK_CONTAINS(err, expect);
	blob_free(&b);

	/* No loadable bytes at all. */
	b = blob_copy(&elf);
	wr32(PHDR(&b, 0), 6);
	wr32(PHDR(&b, 1), 6);
	CHECK(load(&b, IMAGE_FORMAT_ELF, &img, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "no PT_LOAD segment with file data");
	blob_free(&b);
	blob_free(&elf);
}

/* ---- robustness ---- */

/* Every truncation and every single-byte corruption of the good files
 * either loads or fails with a message; nothing crashes (run under ASan in
 * a sanitizer build). */
static void damaged_files_never_crash(void)
{
	static const char *const names[] = {"fw.dfu", "fw.elf", "fw.hex", "fw_twoel.dfu"};
	struct image img;
	char err[256];

	for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
		struct blob good = fixture(names[n]), b = blob_copy(&good);
		int silent = 0;
		for (size_t cut = 0; cut < good.len; cut++) {
			b.len = cut;
			if (load(&b, IMAGE_FORMAT_AUTO, &img, err, sizeof(err)) < 0)
				silent += err[0] == 0;
			image_free(&img);
		}
		b.len = good.len;
		for (size_t i = 0; i < good.len; i++) {
			b.p[i] ^= 0xa5;
			if (load(&b, IMAGE_FORMAT_AUTO, &img, err, sizeof(err)) < 0)
				silent += err[0] == 0;
			image_free(&img);
			b.p[i] ^= 0xa5;
		}
		CHECK_INT(silent, 0);
		blob_free(&b);
		blob_free(&good);
	}
}

TEST_MAIN(TEST(bin_is_placed_at_address), TEST(bin_empty_and_wrapping_refused),
          TEST(file_size_limit_and_missing_file), TEST(format_names_round_trip),
          TEST(hex_from_objcopy_binary_matches), TEST(hex_from_elf_matches_and_has_entry),
          TEST(hex_extended_segment_records), TEST(hex_crafted_address_records),
          TEST(hex_out_of_order_records_are_sorted_and_merged), TEST(hex_lf_and_lowercase_accepted),
          TEST(hex_bad_checksum_names_line), TEST(hex_bad_digit_and_bad_count_name_line),
          TEST(hex_missing_eof_and_truncation_refused), TEST(hex_data_after_eof_refused),
          TEST(hex_overlapping_records_name_both), TEST(hex_limits_and_odd_records),
          TEST(hex_too_many_segments_refused), TEST(dfu_suffix_crc_matches_zlib),
          TEST(dfu_from_dfuse_pack_matches), TEST(dfu_image_size_without_suffix_accepted),
          TEST(dfu_two_elements_sorted_with_suffix_ids), TEST(dfu_two_alt_settings_refused),
          TEST(dfu_overlapping_elements_name_both), TEST(dfu_damage_refused_with_offset),
          TEST(dfu_plain_suffix_is_stripped), TEST(elf_uses_physical_addresses),
          TEST(elf64_and_objects_refused), TEST(elf_bounds_checked),
          TEST(damaged_files_never_crash), TEST(image_flatten_fills_gaps_in_pieces))
