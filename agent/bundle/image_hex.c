/* Intel HEX: record types 00 (data), 01 (end of file), 02 (extended segment
 * address), 03 (start segment address), 04 (extended linear address) and 05
 * (start linear address). Every error names its line. */
#include "bundle/image.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/format.h"

/* count(1) + address(2) + type(1) + 255 data + checksum(1) */
#define HEX_MAX_RECORD 260

enum {
	HEX_DATA = 0x00,
	HEX_EOF = 0x01,
	HEX_EXT_SEGMENT = 0x02,
	HEX_START_SEGMENT = 0x03,
	HEX_EXT_LINEAR = 0x04,
	HEX_START_LINEAR = 0x05,
};

static int hex_value(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int is_blank(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

struct hex_state {
	struct image_builder builder;
	uint8_t *data; /* decoded data bytes, in file order */
	size_t used;
	uint32_t base; /* from the last 02 or 04 record */
	size_t eof_line;
	size_t entry_line;
	uint32_t entry;
	char *err;
	size_t errlen;
};

static int hex_set_entry(struct hex_state *st, size_t line, uint32_t entry)
{
	if (st->entry_line && st->entry != entry) {
		mcu_ota_set_error(
		    st->err, st->errlen,
		    "line %zu: start address 0x%08x differs from 0x%08x set on line %zu", line,
		    entry, st->entry, st->entry_line);
		return -EINVAL;
	}
	st->entry = entry;
	st->entry_line = line;
	return 0;
}

/* One record, without its line ending and trailing blanks. */
static int hex_record(struct hex_state *st, const uint8_t *s, size_t n, size_t line)
{
	uint8_t rec[HEX_MAX_RECORD];
	size_t nbytes;
	uint8_t sum = 0, count, type;
	uint32_t offset;
	const uint8_t *data;

	if (s[0] != ':') {
		mcu_ota_set_error(st->err, st->errlen, "line %zu: does not start with ':'", line);
		return -EINVAL;
	}
	if (n < 11) {
		mcu_ota_set_error(st->err, st->errlen,
		                  "line %zu: record too short (%zu characters, at least 11)", line,
		                  n);
		return -EINVAL;
	}
	if ((n - 1) % 2) {
		mcu_ota_set_error(st->err, st->errlen, "line %zu: odd number of hex digits", line);
		return -EINVAL;
	}
	nbytes = (n - 1) / 2;
	if (nbytes > HEX_MAX_RECORD) {
		mcu_ota_set_error(st->err, st->errlen, "line %zu: record longer than %d bytes",
		                  line, HEX_MAX_RECORD);
		return -EINVAL;
	}
	for (size_t i = 0; i < nbytes; i++) {
		int hi = hex_value(s[1 + 2 * i]), lo = hex_value(s[2 + 2 * i]);
		if (hi < 0 || lo < 0) {
			size_t col = hi < 0 ? 2 + 2 * i : 3 + 2 * i;
			uint8_t c = s[col - 1];
			if (c >= 0x20 && c < 0x7f)
				mcu_ota_set_error(st->err, st->errlen,
				                  "line %zu, column %zu: '%c' is not a hex digit",
				                  line, col, c);
			else
				mcu_ota_set_error(
				    st->err, st->errlen,
				    "line %zu, column %zu: byte 0x%02x is not a hex digit", line,
				    col, c);
			return -EINVAL;
		}
		rec[i] = (uint8_t)(hi << 4 | lo);
	}
	count = rec[0];
	if (nbytes != (size_t)count + 5) {
		mcu_ota_set_error(st->err, st->errlen,
		                  "line %zu: byte count says %u data bytes, the record has %zu",
		                  line, count, nbytes - 5);
		return -EINVAL;
	}
	for (size_t i = 0; i + 1 < nbytes; i++)
		sum += rec[i];
	sum = (uint8_t)(0x100 - sum);
	if (sum != rec[nbytes - 1]) {
		mcu_ota_set_error(st->err, st->errlen, "line %zu: checksum 0x%02X, expected 0x%02X",
		                  line, rec[nbytes - 1], sum);
		return -EINVAL;
	}
	offset = (uint32_t)rec[1] << 8 | rec[2];
	type = rec[3];
	data = rec + 4;

	switch (type) {
	case HEX_DATA:
		if (offset + count > 0x10000) {
			mcu_ota_set_error(
			    st->err, st->errlen,
			    "line %zu: %u bytes at offset 0x%04x cross a 64 KiB boundary "
			    "(split the record with an 02 or 04 record)",
			    line, count, offset);
			return -EINVAL;
		}
		memcpy(st->data + st->used, data, count);
		{
			int r = image_builder_add(&st->builder, st->base + offset,
			                          st->data + st->used, count, line);
			if (r < 0)
				return r;
		}
		st->used += count;
		return 0;
	case HEX_EOF:
		if (count != 0) {
			mcu_ota_set_error(st->err, st->errlen,
			                  "line %zu: end-of-file record with %u data bytes", line,
			                  count);
			return -EINVAL;
		}
		st->eof_line = line;
		return 0;
	case HEX_EXT_SEGMENT:
	case HEX_EXT_LINEAR:
		if (count != 2) {
			mcu_ota_set_error(
			    st->err, st->errlen,
			    "line %zu: extended address record (type %02X) with %u data "
			    "bytes, expected 2",
			    line, type, count);
			return -EINVAL;
		}
		st->base = (uint32_t)data[0] << 8 | data[1];
		st->base <<= type == HEX_EXT_SEGMENT ? 4 : 16;
		return 0;
	case HEX_START_SEGMENT:
	case HEX_START_LINEAR: {
		uint32_t v;
		if (count != 4) {
			mcu_ota_set_error(
			    st->err, st->errlen,
			    "line %zu: start address record (type %02X) with %u data bytes, "
			    "expected 4",
			    line, type, count);
			return -EINVAL;
		}
		if (type == HEX_START_LINEAR)
			v = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
			    (uint32_t)data[2] << 8 | data[3];
		else /* CS:IP, real-mode style */
			v = ((uint32_t)data[0] << 8 | data[1]) * 16 +
			    ((uint32_t)data[2] << 8 | data[3]);
		return hex_set_entry(st, line, v);
	}
	default:
		mcu_ota_set_error(st->err, st->errlen, "line %zu: unknown record type 0x%02X", line,
		                  type);
		return -EINVAL;
	}
}

int image_hex_parse(const uint8_t *buf, size_t len, struct image *out, char *err, size_t errlen)
{
	struct hex_state st = {.err = err, .errlen = errlen};
	size_t pos = 0, line = 0;
	int r = 0;

	image_builder_init(&st.builder, IMAGE_ORIGIN_LINE, err, errlen);
	/* Every data byte takes two characters of the file. */
	st.data = malloc(len / 2 + 1);
	if (!st.data) {
		mcu_ota_set_error(err, errlen, "out of memory");
		return -ENOMEM;
	}
	while (pos < len) {
		const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len;
		size_t n = end - pos;
		const uint8_t *s = buf + pos;

		line++;
		pos = nl ? end + 1 : len;
		if (n > IMAGE_HEX_MAX_LINE) {
			mcu_ota_set_error(err, errlen, "line %zu: longer than %d characters", line,
			                  IMAGE_HEX_MAX_LINE);
			r = -EINVAL;
			goto out;
		}
		while (n > 0 && is_blank(s[n - 1]))
			n--;
		if (n == 0)
			continue; /* blank lines are harmless */
		if (st.eof_line) {
			mcu_ota_set_error(err, errlen,
			                  "line %zu: data after the end-of-file record on line %zu",
			                  line, st.eof_line);
			r = -EINVAL;
			goto out;
		}
		r = hex_record(&st, s, n, line);
		if (r < 0)
			goto out;
	}
	if (line == 0) {
		mcu_ota_set_error(err, errlen, "empty file");
		r = -ENODATA;
		goto out;
	}
	if (!st.eof_line) {
		mcu_ota_set_error(err, errlen,
		                  "line %zu: no end-of-file record (:00000001FF) at the end; "
		                  "truncated file?",
		                  line);
		r = -EINVAL;
		goto out;
	}
	r = image_builder_finish(&st.builder, out);
	if (r < 0)
		goto out;
	if (st.entry_line) {
		out->entry = st.entry;
		out->has_entry = 1;
	}
out:
	image_builder_free(&st.builder);
	free(st.data);
	return r;
}
