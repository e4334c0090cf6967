#include "layout.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cursor {
	const char *start, *p;
	char *err;
	size_t errlen;
};

static int fail(struct cursor *c, const char *what)
{
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "memory layout \"%s\": %s at column %zu", c->start,
		         what, (size_t)(c->p - c->start) + 1);
	return -EINVAL;
}

/* Unsigned integer of any number of digits (ROMs print "0128"), in base. */
static int read_number(struct cursor *c, int base, uint64_t *out)
{
	uint64_t v = 0;
	const char *begin = c->p;
	for (;; c->p++) {
		int d;
		if (isdigit((unsigned char)*c->p))
			d = *c->p - '0';
		else if (base == 16 && isxdigit((unsigned char)*c->p))
			d = tolower((unsigned char)*c->p) - 'a' + 10;
		else
			break;
		v = v * base + d;
		if (v > UINT32_MAX)
			return fail(c, "number too large");
	}
	if (c->p == begin)
		return fail(c, "expected a number");
	*out = v;
	return 0;
}

static int push_sectors(struct dfuse_layout *out, uint64_t *address, uint64_t count, uint64_t size,
                        unsigned access, struct cursor *c)
{
	if (count == 0 || size == 0)
		return fail(c, "empty segment");
	if (size > UINT32_MAX)
		return fail(c, "sector larger than the address space");
	if (out->sector_count + count > DFUSE_LAYOUT_MAX_SECTORS)
		return fail(c, "too many sectors");
	/* count <= 8192 and size < 2^32: the product cannot wrap 64 bits */
	if (*address + count * size > (uint64_t)UINT32_MAX + 1)
		return fail(c, "segment runs past the end of the address space");
	if (out->sector_count) {
		const struct mcu_ota_sector *last = &out->sectors[out->sector_count - 1];
		if (*address < (uint64_t)last->address + last->size)
			return fail(c, "address groups overlap or go backwards");
	}
	struct mcu_ota_sector *grown =
	    realloc(out->sectors, (out->sector_count + count) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	out->sectors = grown;
	for (uint64_t i = 0; i < count; i++) {
		out->sectors[out->sector_count++] = (struct mcu_ota_sector){
		    .address = (uint32_t)*address, .size = (uint32_t)size, .access = access};
		*address += size;
	}
	return 0;
}

/* SEG = COUNT "*" SIZE MULT TYPE; MULT is B, K, M, or a space/nothing for bytes. */
static int parse_segment(struct cursor *c, struct dfuse_layout *out, uint64_t *address)
{
	uint64_t count, size;
	int r = read_number(c, 10, &count);
	if (r < 0)
		return r;
	if (*c->p != '*')
		return fail(c, "expected '*'");
	c->p++;
	r = read_number(c, 10, &size);
	if (r < 0)
		return r;
	switch (*c->p) {
	case 'K':
		size *= 1024;
		c->p++;
		break;
	case 'M':
		size *= 1024 * 1024;
		c->p++;
		break;
	case 'B':
	case ' ':
		c->p++;
		break;
	default:
		break;
	}
	if (*c->p < 'a' || *c->p > 'g')
		return fail(c, "expected a type letter a-g");
	unsigned access = (unsigned)(*c->p & 7);
	c->p++;
	return push_sectors(out, address, count, size, access, c);
}

int dfuse_layout_parse(const char *s, struct dfuse_layout *out, char *err, size_t errlen)
{
	struct cursor c = {.start = s, .p = s, .err = err, .errlen = errlen};
	memset(out, 0, sizeof(*out));
	if (*c.p != '@')
		return fail(&c, "expected '@'");
	c.p++;
	const char *slash = strchr(c.p, '/');
	if (!slash)
		return fail(&c, "no address group");
	size_t name_len = (size_t)(slash - c.p);
	while (name_len && c.p[name_len - 1] == ' ')
		name_len--;
	if (name_len >= sizeof(out->name))
		name_len = sizeof(out->name) - 1;
	memcpy(out->name, c.p, name_len);
	c.p = slash;

	int r = 0;
	while (*c.p == '/') {
		uint64_t address;
		c.p++;
		if (c.p[0] != '0' || (c.p[1] != 'x' && c.p[1] != 'X')) {
			r = fail(&c, "expected 0x address");
			goto fail;
		}
		c.p += 2;
		if ((r = read_number(&c, 16, &address)) < 0)
			goto fail;
		if (*c.p != '/') {
			r = fail(&c, "expected '/' after the address");
			goto fail;
		}
		c.p++;
		for (;;) {
			if ((r = parse_segment(&c, out, &address)) < 0)
				goto fail;
			if (*c.p != ',')
				break;
			c.p++;
		}
	}
	/* Some ROMs pad the string; anything else after the groups is an error. */
	while (*c.p == ' ')
		c.p++;
	if (*c.p) {
		r = fail(&c, "unexpected character");
		goto fail;
	}
	return 0;
fail:
	dfuse_layout_free(out);
	return r;
}

void dfuse_layout_free(struct dfuse_layout *layout)
{
	if (!layout)
		return;
	free(layout->sectors);
	layout->sectors = NULL;
	layout->sector_count = 0;
}

long dfuse_layout_find(const struct mcu_ota_sector *sectors, size_t count, uint32_t address)
{
	size_t lo = 0, hi = count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (address < sectors[mid].address)
			hi = mid;
		else if (address - sectors[mid].address >= sectors[mid].size)
			lo = mid + 1;
		else
			return (long)mid;
	}
	return -1;
}
