/* Image files: format detection, loading with a size cap, raw binaries, and
 * the segment builder every reader hands its data to. */
#include "bundle/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/format.h"

static const char *const format_names[] = {
    [IMAGE_FORMAT_AUTO] = "auto", [IMAGE_FORMAT_BIN] = "bin", [IMAGE_FORMAT_HEX] = "hex",
    [IMAGE_FORMAT_DFU] = "dfu",   [IMAGE_FORMAT_ELF] = "elf",
};

const char *image_format_name(enum image_format format)
{
	if ((unsigned)format < sizeof(format_names) / sizeof(format_names[0]))
		return format_names[format];
	return "unknown";
}

int image_format_parse(const char *name, enum image_format *format)
{
	if (!name)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++) {
		if (strcmp(name, format_names[i]) == 0) {
			*format = (enum image_format)i;
			return 0;
		}
	}
	return -EINVAL;
}

uint64_t image_total_size(const struct image *image)
{
	uint64_t total = 0;
	for (size_t i = 0; image && i < image->segment_count; i++)
		total += image->segments[i].length;
	return total;
}

void image_free(struct image *image)
{
	if (!image)
		return;
	free(image->segments);
	free(image->storage);
	memset(image, 0, sizeof(*image));
	image->alt = -1;
}

static void image_reset(struct image *out)
{
	memset(out, 0, sizeof(*out));
	out->alt = -1;
}

/* ---- builder ---- */

void image_origin_format(enum image_origin_kind kind, size_t origin, char *out, size_t outlen)
{
	if (kind == IMAGE_ORIGIN_LINE)
		snprintf(out, outlen, "line %zu", origin);
	else
		snprintf(out, outlen, "offset %zu (0x%zx)", origin, origin);
}

void image_builder_init(struct image_builder *b, enum image_origin_kind kind, char *err,
                        size_t errlen)
{
	memset(b, 0, sizeof(*b));
	b->origin_kind = kind;
	b->err = err;
	b->errlen = errlen;
}

void image_builder_free(struct image_builder *b)
{
	if (!b)
		return;
	free(b->pieces);
	b->pieces = NULL;
	b->count = b->capacity = 0;
}

int image_builder_add(struct image_builder *b, uint32_t address, const uint8_t *data, size_t length,
                      size_t origin)
{
	char where[48];
	struct image_piece *last;

	if (length == 0)
		return 0;
	if (length > UINT32_MAX || (uint64_t)address + length > (uint64_t)UINT32_MAX + 1) {
		image_origin_format(b->origin_kind, origin, where, sizeof(where));
		mcu_ota_set_error(b->err, b->errlen,
		                  "%s: %zu bytes at 0x%08x run past the end of the address space "
		                  "(0xffffffff)",
		                  where, length, address);
		return -EINVAL;
	}
	/* Coalesce data that continues the previous piece both in the address
	 * space and in memory (consecutive HEX records, mostly). */
	last = b->count ? &b->pieces[b->count - 1] : NULL;
	if (last && (uint64_t)last->address + last->length == address &&
	    last->data + last->length == data && (uint64_t)last->length + length <= UINT32_MAX) {
		last->length += (uint32_t)length;
		return 0;
	}
	if (b->count == b->capacity) {
		size_t ncap = b->capacity ? b->capacity * 2 : 16;
		struct image_piece *np;
		if (b->count >= IMAGE_MAX_PIECES) {
			image_origin_format(b->origin_kind, origin, where, sizeof(where));
			mcu_ota_set_error(
			    b->err, b->errlen,
			    "%s: more than %u separate pieces of data (records out of "
			    "address order?)",
			    where, IMAGE_MAX_PIECES);
			return -E2BIG;
		}
		if (ncap > IMAGE_MAX_PIECES)
			ncap = IMAGE_MAX_PIECES;
		np = realloc(b->pieces, ncap * sizeof(*np));
		if (!np) {
			mcu_ota_set_error(b->err, b->errlen, "out of memory");
			return -ENOMEM;
		}
		b->pieces = np;
		b->capacity = ncap;
	}
	b->pieces[b->count++] = (struct image_piece){
	    .address = address,
	    .length = (uint32_t)length,
	    .data = data,
	    .origin = origin,
	};
	return 0;
}

static int piece_cmp(const void *a, const void *b)
{
	const struct image_piece *pa = a, *pb = b;
	if (pa->address != pb->address)
		return pa->address < pb->address ? -1 : 1;
	if (pa->origin != pb->origin)
		return pa->origin < pb->origin ? -1 : 1;
	return 0;
}

static uint64_t piece_end(const struct image_piece *p)
{
	return (uint64_t)p->address + p->length;
}

int image_builder_finish(struct image_builder *b, struct image *out)
{
	size_t nseg = 0;
	uint64_t total = 0;
	struct mcu_ota_segment *segs;
	uint8_t *storage, *w;

	if (b->count == 0) {
		mcu_ota_set_error(b->err, b->errlen, "the file holds no data to write");
		return -ENODATA;
	}
	qsort(b->pieces, b->count, sizeof(b->pieces[0]), piece_cmp);
	for (size_t i = 0; i < b->count; i++) {
		const struct image_piece *p = &b->pieces[i];
		if (i > 0) {
			/* Sorted and overlap-free so far, so the previous piece is
			 * the one that reaches furthest. */
			const struct image_piece *q = &b->pieces[i - 1];
			if (p->address < piece_end(q)) {
				char wp[48], wq[48];
				image_origin_format(b->origin_kind, p->origin, wp, sizeof(wp));
				image_origin_format(b->origin_kind, q->origin, wq, sizeof(wq));
				mcu_ota_set_error(b->err, b->errlen,
				                  "%s: data at 0x%08x-0x%08x overlaps data at "
				                  "0x%08x-0x%08x from %s",
				                  wp, p->address, (uint32_t)(piece_end(p) - 1),
				                  q->address, (uint32_t)(piece_end(q) - 1), wq);
				return -EINVAL;
			}
			if (p->address == piece_end(q)) {
				total += p->length;
				continue;
			}
		}
		nseg++;
		total += p->length;
	}
	if (nseg > IMAGE_MAX_SEGMENTS) {
		mcu_ota_set_error(b->err, b->errlen,
		                  "%zu separate segments, more than the limit of %d", nseg,
		                  IMAGE_MAX_SEGMENTS);
		return -E2BIG;
	}
	if (total > IMAGE_MAX_FILE_SIZE) {
		mcu_ota_set_error(b->err, b->errlen,
		                  "%llu bytes of data, more than the limit of %u",
		                  (unsigned long long)total, IMAGE_MAX_FILE_SIZE);
		return -EFBIG;
	}
	segs = calloc(nseg, sizeof(*segs));
	storage = malloc((size_t)total);
	if (!segs || !storage) {
		free(segs);
		free(storage);
		mcu_ota_set_error(b->err, b->errlen, "out of memory");
		return -ENOMEM;
	}
	w = storage;
	nseg = 0;
	for (size_t i = 0; i < b->count; i++) {
		const struct image_piece *p = &b->pieces[i];
		if (i == 0 || p->address != piece_end(&b->pieces[i - 1])) {
			segs[nseg].address = p->address;
			segs[nseg].length = 0;
			segs[nseg].data = w;
			nseg++;
		}
		memcpy(w, p->data, p->length);
		w += p->length;
		segs[nseg - 1].length += p->length;
	}
	out->segments = segs;
	out->segment_count = nseg;
	out->storage = storage;
	return 0;
}

/* ---- raw binary ---- */

int image_bin_check(size_t len, uint32_t bin_address, char *err, size_t errlen)
{
	if (len == 0) {
		mcu_ota_set_error(err, errlen, "empty file");
		return -ENODATA;
	}
	if (len > IMAGE_MAX_FILE_SIZE) {
		mcu_ota_set_error(err, errlen, "%zu bytes, larger than the limit of %u", len,
		                  IMAGE_MAX_FILE_SIZE);
		return -EFBIG;
	}
	if ((uint64_t)bin_address + len > (uint64_t)UINT32_MAX + 1) {
		char where[48];
		image_origin_format(IMAGE_ORIGIN_OFFSET, 0, where, sizeof(where));
		mcu_ota_set_error(err, errlen,
		                  "%s: %zu bytes at 0x%08x run past the end of the address space "
		                  "(0xffffffff)",
		                  where, len, bin_address);
		return -EINVAL;
	}
	return 0;
}

int image_flatten(const struct image *image, int (*out)(void *ctx, const uint8_t *data, size_t len),
                  void *ctx)
{
	enum { PIECE = 64 << 10 };
	uint8_t erased[4096];
	memset(erased, 0xFF, sizeof(erased));
	for (size_t i = 0; i < image->segment_count; i++) {
		const struct mcu_ota_segment *g = &image->segments[i];
		if (i) { /* the gap since the previous segment */
			const struct mcu_ota_segment *p = &image->segments[i - 1];
			for (uint64_t gap = g->address - ((uint64_t)p->address + p->length); gap;) {
				size_t n = gap < sizeof(erased) ? (size_t)gap : sizeof(erased);
				int r = out(ctx, erased, n);
				if (r < 0)
					return r;
				gap -= n;
			}
		}
		for (uint32_t off = 0; off < g->length;) {
			size_t n = g->length - off < PIECE ? g->length - off : PIECE;
			int r = out(ctx, g->data + off, n);
			if (r < 0)
				return r;
			off += (uint32_t)n;
		}
	}
	return 0;
}

static int image_bin_parse(const uint8_t *buf, size_t len, uint32_t bin_address, struct image *out,
                           char *err, size_t errlen)
{
	struct image_builder b;
	int r = image_bin_check(len, bin_address, err, errlen);

	if (r < 0)
		return r;
	image_builder_init(&b, IMAGE_ORIGIN_OFFSET, err, errlen);
	r = image_builder_add(&b, bin_address, buf, len, 0);
	if (r == 0)
		r = image_builder_finish(&b, out);
	image_builder_free(&b);
	return r;
}

/* ---- detection and loading ---- */

static int is_hex_digit(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

enum image_format image_detect(const uint8_t *buf, size_t len)
{
	if (len >= 4 && memcmp(buf,
	                       "\x7f"
	                       "ELF",
	                       4) == 0)
		return IMAGE_FORMAT_ELF;
	if (len >= 5 && memcmp(buf, "DfuSe", 5) == 0)
		return IMAGE_FORMAT_DFU;
	/* ':' then count, address and type in hex: no STM32 vector table
	 * starts like that (the initial stack pointer is word aligned). */
	if (len >= 11 && buf[0] == ':') {
		size_t i;
		for (i = 1; i < 9 && is_hex_digit(buf[i]); i++)
			;
		if (i == 9)
			return IMAGE_FORMAT_HEX;
	}
	/* A plain DFU file: a binary with a DFU suffix that must not be
	 * written to flash. */
	if (image_dfu_has_suffix(buf, len))
		return IMAGE_FORMAT_DFU;
	return IMAGE_FORMAT_BIN;
}

int image_load_buffer(const uint8_t *buf, size_t len, enum image_format format,
                      uint32_t bin_address, struct image *out, char *err, size_t errlen)
{
	int r;

	image_reset(out);
	if (!buf && len) {
		mcu_ota_set_error(err, errlen, "no data");
		return -EINVAL;
	}
	if (len > IMAGE_MAX_FILE_SIZE) {
		mcu_ota_set_error(err, errlen, "%zu bytes, larger than the limit of %u", len,
		                  IMAGE_MAX_FILE_SIZE);
		return -EFBIG;
	}
	if (format == IMAGE_FORMAT_AUTO)
		format = image_detect(buf, len);
	switch (format) {
	case IMAGE_FORMAT_BIN:
		r = image_bin_parse(buf, len, bin_address, out, err, errlen);
		break;
	case IMAGE_FORMAT_HEX:
		r = image_hex_parse(buf, len, out, err, errlen);
		break;
	case IMAGE_FORMAT_DFU:
		r = image_dfu_parse(buf, len, bin_address, out, err, errlen);
		break;
	case IMAGE_FORMAT_ELF:
		r = image_elf_parse(buf, len, out, err, errlen);
		break;
	default:
		mcu_ota_set_error(err, errlen, "unknown image format %d", (int)format);
		return -EINVAL;
	}
	if (r < 0) {
		image_free(out);
		return r;
	}
	out->format = format;
	return 0;
}

/* Read at most IMAGE_MAX_FILE_SIZE bytes; one more means too large. Works
 * on pipes too, where st_size says nothing. */
static int read_capped(int fd, uint8_t **data, size_t *len, char *err, size_t errlen)
{
	_cleanup_(freep) uint8_t *buf = NULL;
	size_t cap = 0, used = 0;
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int e = errno;
		mcu_ota_set_error(err, errlen, "cannot stat: %s", strerror(e));
		return -e;
	}
	if (S_ISDIR(st.st_mode)) {
		mcu_ota_set_error(err, errlen, "is a directory");
		return -EISDIR;
	}
	if (S_ISREG(st.st_mode)) {
		if ((uint64_t)st.st_size > IMAGE_MAX_FILE_SIZE) {
			mcu_ota_set_error(err, errlen, "%llu bytes, larger than the limit of %u",
			                  (unsigned long long)st.st_size, IMAGE_MAX_FILE_SIZE);
			return -EFBIG;
		}
		cap = (size_t)st.st_size + 1;
	}
	if (cap < 4096)
		cap = 4096;
	for (;;) {
		ssize_t n;
		if (used == cap) {
			size_t ncap = cap * 2;
			uint8_t *nb;
			if (ncap > (size_t)IMAGE_MAX_FILE_SIZE + 1)
				ncap = (size_t)IMAGE_MAX_FILE_SIZE + 1;
			if (ncap <= used) {
				mcu_ota_set_error(err, errlen, "larger than the limit of %u bytes",
				                  IMAGE_MAX_FILE_SIZE);
				return -EFBIG;
			}
			nb = realloc(buf, ncap);
			if (!nb) {
				mcu_ota_set_error(err, errlen, "out of memory");
				return -ENOMEM;
			}
			buf = nb;
			cap = ncap;
		} else if (!buf) {
			buf = malloc(cap);
			if (!buf) {
				mcu_ota_set_error(err, errlen, "out of memory");
				return -ENOMEM;
			}
		}
		n = read(fd, buf + used, cap - used);
		if (n < 0) {
			int e = errno;
			if (e == EINTR)
				continue;
			mcu_ota_set_error(err, errlen, "read failed: %s", strerror(e));
			return -e;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > IMAGE_MAX_FILE_SIZE) {
			mcu_ota_set_error(err, errlen, "larger than the limit of %u bytes",
			                  IMAGE_MAX_FILE_SIZE);
			return -EFBIG;
		}
	}
	*data = buf;
	buf = NULL;
	*len = used;
	return 0;
}

int image_load_file(const char *path, enum image_format format, uint32_t bin_address,
                    struct image *out, char *err, size_t errlen)
{
	_cleanup_(closep) int fd = -1;
	_cleanup_(freep) uint8_t *data = NULL;
	size_t len = 0;
	int r;

	image_reset(out);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		mcu_ota_set_error(err, errlen, "cannot open: %s", strerror(errno));
		return r;
	}
	r = read_capped(fd, &data, &len, err, errlen);
	if (r < 0)
		return r;
	return image_load_buffer(data, len, format, bin_address, out, err, errlen);
}
