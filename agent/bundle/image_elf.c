/* ELF32 little-endian executables: the file bytes of every PT_LOAD segment go
 * to its physical (load) address, which is where a linker script's AT> puts
 * initialised data in flash. Every error names the byte offset. */
#include "bundle/image.h"

#include <errno.h>
#include <string.h>

#include "util/format.h"

/* Offsets into the ELF32 file header and program header (System V gABI). */
#define EI_CLASS    4
#define EI_DATA     5
#define EI_VERSION  6
#define ELFCLASS32  1
#define ELFCLASS64  2
#define ELFDATA2LSB 1
#define ELFDATA2MSB 2
#define EHDR_SIZE   52
#define E_TYPE      16
#define E_ENTRY     24
#define E_PHOFF     28
#define E_PHENTSIZE 42
#define E_PHNUM     44
#define ET_REL      1
#define ET_EXEC     2
#define ET_DYN      3
#define PHDR_SIZE   32
#define P_TYPE      0
#define P_OFFSET    4
#define P_PADDR     12
#define P_FILESZ    16
#define P_MEMSZ     20
#define PT_LOAD     1
#define PN_XNUM     0xffff

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#define ERR(off, fmt, ...)                                                                         \
	mcu_ota_set_error(err, errlen, "offset %zu (0x%zx): " fmt, (size_t)(off), (size_t)(off),   \
	                  __VA_ARGS__)

static int check_header(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	uint16_t type;

	if (len < 4 || memcmp(buf,
	                      "\x7f"
	                      "ELF",
	                      4) != 0) {
		ERR(0, "%s", "no ELF magic (7f 45 4c 46)");
		return -EINVAL;
	}
	if (len < EI_CLASS + 1) {
		ERR(len, "%s", "file ends inside the ELF identification");
		return -EINVAL;
	}
	if (buf[EI_CLASS] == ELFCLASS64) {
		ERR(EI_CLASS, "%s",
		    "ELF64 file: STM32 firmware is ELF32, link it for a 32-bit target "
		    "(arm-none-eabi)");
		return -EINVAL;
	}
	if (buf[EI_CLASS] != ELFCLASS32) {
		ERR(EI_CLASS, "unknown ELF class %u", buf[EI_CLASS]);
		return -EINVAL;
	}
	if (len < EHDR_SIZE) {
		ERR(len, "file ends inside the %d-byte ELF header", EHDR_SIZE);
		return -EINVAL;
	}
	if (buf[EI_DATA] == ELFDATA2MSB) {
		ERR(EI_DATA, "%s", "big-endian ELF: only little-endian is supported");
		return -EINVAL;
	}
	if (buf[EI_DATA] != ELFDATA2LSB) {
		ERR(EI_DATA, "unknown ELF data encoding %u", buf[EI_DATA]);
		return -EINVAL;
	}
	if (buf[EI_VERSION] != 1) {
		ERR(EI_VERSION, "ELF version %u, expected 1", buf[EI_VERSION]);
		return -EINVAL;
	}
	type = le16(buf + E_TYPE);
	if (type == ET_REL) {
		ERR(E_TYPE, "%s", "a relocatable object (.o), not a linked program");
		return -EINVAL;
	}
	if (type != ET_EXEC && type != ET_DYN) {
		ERR(E_TYPE, "ELF type %u is not an executable", type);
		return -EINVAL;
	}
	return 0;
}

int image_elf_parse(const uint8_t *buf, size_t len, struct image *out, char *err, size_t errlen)
{
	struct image_builder b;
	uint32_t phoff;
	uint16_t phentsize, phnum;
	int r;

	r = check_header(buf, len, err, errlen);
	if (r < 0)
		return r;
	phoff = le32(buf + E_PHOFF);
	phentsize = le16(buf + E_PHENTSIZE);
	phnum = le16(buf + E_PHNUM);
	if (phnum == 0) {
		ERR(E_PHNUM, "%s", "no program headers: not a linked program");
		return -EINVAL;
	}
	if (phnum == PN_XNUM) {
		ERR(E_PHNUM, "%s", "extended program header count (PN_XNUM) is not supported");
		return -EINVAL;
	}
	if (phentsize < PHDR_SIZE) {
		ERR(E_PHENTSIZE, "e_phentsize %u, smaller than an ELF32 program header (%d)",
		    phentsize, PHDR_SIZE);
		return -EINVAL;
	}
	if ((uint64_t)phoff + (uint64_t)phnum * phentsize > len) {
		ERR(E_PHOFF,
		    "program headers (%u x %u bytes at offset %u) run past the end of the "
		    "file (%zu bytes)",
		    phnum, phentsize, phoff, len);
		return -EINVAL;
	}

	image_builder_init(&b, IMAGE_ORIGIN_OFFSET, err, errlen);
	for (unsigned i = 0; i < phnum; i++) {
		size_t ph = (size_t)phoff + (size_t)i * phentsize;
		uint32_t offset, paddr, filesz, memsz;

		if (le32(buf + ph + P_TYPE) != PT_LOAD)
			continue;
		offset = le32(buf + ph + P_OFFSET);
		paddr = le32(buf + ph + P_PADDR);
		filesz = le32(buf + ph + P_FILESZ);
		memsz = le32(buf + ph + P_MEMSZ);
		if (filesz == 0)
			continue; /* .bss and stacks: nothing to write */
		if (filesz > memsz) {
			ERR(ph + P_FILESZ, "program header %u: p_filesz %u larger than p_memsz %u",
			    i, filesz, memsz);
			r = -EINVAL;
			goto out;
		}
		if ((uint64_t)offset + filesz > len) {
			ERR(ph + P_OFFSET,
			    "program header %u: %u bytes at offset %u run past the end of the file "
			    "(%zu bytes)",
			    i, filesz, offset, len);
			r = -EINVAL;
			goto out;
		}
		if ((uint64_t)paddr + filesz > (uint64_t)UINT32_MAX + 1) {
			ERR(ph + P_PADDR,
			    "program header %u: %u bytes at physical address 0x%08x run past "
			    "0xffffffff",
			    i, filesz, paddr);
			r = -EINVAL;
			goto out;
		}
		/* The origin is the program header, so overlaps name it. */
		r = image_builder_add(&b, paddr, buf + offset, filesz, ph);
		if (r < 0)
			goto out;
	}
	if (b.count == 0) {
		ERR(E_PHOFF, "%s", "no PT_LOAD segment with file data: nothing to write");
		r = -ENODATA;
		goto out;
	}
	r = image_builder_finish(&b, out);
	if (r < 0)
		goto out;
	out->entry = le32(buf + E_ENTRY);
	out->has_entry = 1;
out:
	image_builder_free(&b);
	return r;
}
