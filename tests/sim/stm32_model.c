/* The STM32 ROM DfuSe bootloader, modelled from the host's side of the USB
 * cable. See stm32_model.h for the contract and docs/protocol.md §1, §2,
 * §3, §5, §6 and §8 for the behaviour.
 *
 * How an operation runs (ST's usbd_dfu.c shape, docs/protocol.md §2):
 *   DNLOAD (command or block)    -> dfuDNLOAD-SYNC, data kept, nothing done
 *   GETSTATUS                    -> reports dfuDNBUSY + bwPollTimeout; the
 *                                   operation starts: it is validated, its
 *                                   effect on memory applied and its end time
 *                                   (datasheet time * time_scale) set
 *   any request before the end   -> held (blocks) until the end, or
 *                                   STM32_MODEL_TIMEDOUT after the host's
 *                                   timeout; STALL for class requests on
 *                                   stall_while_busy profiles
 *   at the end                   -> dfuDNLOAD-SYNC (then GETSTATUS reports
 *                                   dfuDNLOAD-IDLE) or dfuERROR/errX
 * Applying the effect when the operation starts keeps every counter exact at
 * time_scale 0; no host can see the difference because the pipe is held.
 *
 * The model is not thread-safe: a front end serialises calls.
 */
#include "stm32_model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ALTS         4
#define MAX_SEGMENTS     8
#define MAX_MEMORY_BYTES (16u * 1024 * 1024)
#define MAX_TRANSFER     4096

#define ACCESS_READ  1
#define ACCESS_ERASE 2
#define ACCESS_WRITE 4

#define CMD_GET_COMMANDS   0x00
#define CMD_SET_ADDRESS    0x21
#define CMD_ERASE          0x41
#define CMD_READ_UNPROTECT 0x92

#define RDP_LEVEL0 0xAA
#define RDP_LEVEL1 0x55

enum dfu_request {
	DFU_DETACH = 0,
	DFU_DNLOAD = 1,
	DFU_UPLOAD = 2,
	DFU_GETSTATUS = 3,
	DFU_CLRSTATUS = 4,
	DFU_GETSTATE = 5,
	DFU_ABORT = 6,
};

enum memory_kind { MEMORY_FLASH, MEMORY_OTP, MEMORY_OPTION, MEMORY_PLAIN };

/* COUNT sectors of SECTOR_SIZE bytes at ADDRESS, stored at OFFSET of the
 * memory's buffer. */
struct segment {
	uint32_t address;
	uint32_t sector_size;
	uint32_t count;
	uint32_t offset;
	uint32_t first_sector;
	uint8_t access;
};

struct memory {
	enum memory_kind kind;
	struct segment segments[MAX_SEGMENTS];
	size_t segment_count;
	uint32_t size;
	uint32_t sector_count;
	uint8_t *data;
};

struct stm32_model {
	const struct stm32_profile *profile;
	struct stm32_model_options options;
	struct stm32_model_faults faults;
	unsigned request_count, block_count;

	struct memory memories[MAX_ALTS];
	size_t alt_count;
	unsigned *erase_counts;

	bool connected;
	enum stm32_model_gone_reason gone_reason;
	uint32_t boot_address;
	bool read_protected;

	uint8_t configuration;
	uint8_t alt;
	enum stm32_dfu_state state;
	enum stm32_dfu_status status;
	uint32_t pointer;

	/* The DNLOAD waiting for its GETSTATUS. */
	bool pending;
	uint16_t pending_block;
	uint16_t pending_length;
	uint8_t buffer[MAX_TRANSFER];

	/* The operation holding the pipe. */
	bool busy;
	bool busy_forever;
	uint64_t busy_end_ns;
	enum stm32_dfu_status busy_result;
	bool busy_then_reset;

	uint64_t busy_us;
	char serial[13];
};

/* ---- memory layout ------------------------------------------------------ */

static int parse_number(const char **p, unsigned base, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;
	unsigned digits = 0;

	for (;; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
		digits++;
	}
	if (!digits)
		return -EINVAL;
	*p = s;
	*out = v;
	return 0;
}

/* "@" NAME ( "/0x" ADDR "/" SEG ("," SEG)* )+ with SEG = COUNT "*" SIZE MULT TYPE. */
static int memory_parse(struct memory *mem, const char *descriptor)
{
	const char *p, *slash;
	uint64_t offset = 0;
	uint32_t sectors = 0;

	if (!descriptor || descriptor[0] != '@')
		return -EINVAL;
	slash = strchr(descriptor, '/');
	if (!slash)
		return -EINVAL;
	if (strncmp(descriptor + 1, "Internal Flash", 14) == 0)
		mem->kind = MEMORY_FLASH;
	else if (strncmp(descriptor + 1, "OTP", 3) == 0)
		mem->kind = MEMORY_OTP;
	else if (strncmp(descriptor + 1, "Option Bytes", 12) == 0)
		mem->kind = MEMORY_OPTION;
	else
		mem->kind = MEMORY_PLAIN;

	p = slash;
	while (*p == '/') {
		uint64_t address;
		p++;
		if (p[0] != '0' || (p[1] != 'x' && p[1] != 'X'))
			return -EINVAL;
		p += 2;
		if (parse_number(&p, 16, &address) || address > UINT32_MAX || *p != '/')
			return -EINVAL;
		p++;
		for (;;) {
			uint64_t count, size;
			struct segment *seg;

			if (parse_number(&p, 10, &count) || *p != '*')
				return -EINVAL;
			p++;
			if (parse_number(&p, 10, &size) || size > MAX_MEMORY_BYTES)
				return -EINVAL;
			if (*p == 'K')
				size *= 1024;
			else if (*p == 'M')
				size *= 1024 * 1024;
			if (*p == 'K' || *p == 'M' || *p == 'B' || *p == ' ')
				p++;
			if (*p < 'a' || *p > 'g')
				return -EINVAL;
			if (count == 0 || size == 0 || count > MAX_MEMORY_BYTES ||
			    count * size > MAX_MEMORY_BYTES - offset ||
			    address + count * size > (uint64_t)UINT32_MAX + 1 ||
			    mem->segment_count == MAX_SEGMENTS)
				return -EINVAL;
			seg = &mem->segments[mem->segment_count++];
			seg->address = (uint32_t)address;
			seg->sector_size = (uint32_t)size;
			seg->count = (uint32_t)count;
			seg->offset = (uint32_t)offset;
			seg->first_sector = sectors;
			seg->access = (uint8_t)(*p & 7);
			p++;
			address += count * size;
			offset += count * size;
			sectors += (uint32_t)count;
			if (*p != ',')
				break;
			p++;
		}
	}
	if (*p != '\0' || mem->segment_count == 0)
		return -EINVAL;
	mem->size = (uint32_t)offset;
	mem->sector_count = sectors;
	return 0;
}

static const struct segment *memory_find(const struct memory *mem, uint64_t address)
{
	for (size_t i = 0; i < mem->segment_count; i++) {
		const struct segment *seg = &mem->segments[i];
		uint64_t end = (uint64_t)seg->address + (uint64_t)seg->count * seg->sector_size;
		if (address >= seg->address && address < end)
			return seg;
	}
	return NULL;
}

static uint64_t segment_end(const struct segment *seg)
{
	return (uint64_t)seg->address + (uint64_t)seg->count * seg->sector_size;
}

/* Pointer to the byte at address, how many bytes follow in the same segment,
 * and the global sector index; NULL when unmapped. */
static uint8_t *memory_at(const struct memory *mem, uint64_t address, uint64_t *run,
                          uint32_t *sector, uint8_t *access)
{
	const struct segment *seg = memory_find(mem, address);
	uint64_t rel;

	if (!seg)
		return NULL;
	rel = address - seg->address;
	if (run)
		*run = segment_end(seg) - address;
	if (sector)
		*sector = seg->first_sector + (uint32_t)(rel / seg->sector_size);
	if (access)
		*access = seg->access;
	return mem->data + seg->offset + rel;
}

/* Every byte of [address, address + length) mapped with the access bits. */
static bool memory_allows(const struct memory *mem, uint64_t address, uint64_t length, uint8_t need)
{
	do {
		uint64_t run = 0;
		uint8_t access;
		if (!memory_at(mem, address, &run, NULL, &access) || (access & need) != need)
			return false;
		if (run >= length)
			return true;
		address += run;
		length -= run;
	} while (length);
	return true;
}

/* ---- small helpers ------------------------------------------------------ */

static uint64_t real_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(const struct stm32_model *m)
{
	const struct stm32_model_clock *c = m->options.clock;
	return c ? c->now_ns(c->ctx) : real_now_ns();
}

static void sleep_until_ns(const struct stm32_model *m, uint64_t when)
{
	const struct stm32_model_clock *c = m->options.clock;
	if (c) {
		c->sleep_until_ns(c->ctx, when);
		return;
	}
	struct timespec ts = {.tv_sec = (time_t)(when / 1000000000u),
	                      .tv_nsec = (long)(when % 1000000000u)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool sector_write_protected(const struct stm32_model *m, uint32_t sector)
{
	if (sector >= 32 * 4)
		return false;
	return (m->options.write_protected_sectors[sector / 32] >> (sector % 32)) & 1;
}

static struct memory *option_memory(struct stm32_model *m)
{
	for (size_t i = 0; i < m->alt_count; i++)
		if (m->memories[i].kind == MEMORY_OPTION)
			return &m->memories[i];
	return NULL;
}

static uint8_t *rdp_byte(struct stm32_model *m)
{
	struct memory *opt = option_memory(m);
	if (!opt || m->profile->rdp_offset < 0 || (uint32_t)m->profile->rdp_offset >= opt->size)
		return NULL;
	return opt->data + m->profile->rdp_offset;
}

static void disconnect(struct stm32_model *m, enum stm32_model_gone_reason reason)
{
	m->connected = false;
	m->gone_reason = reason;
	m->busy = false;
	m->pending = false;
}

/* The serial the way ST's USB device library builds it (Get_SerialNum in
 * usbd_desc.c): the UID as three little-endian 32-bit words w0, w1, w2;
 * w0 + w2 printed as 8 hex digits, then the top 16 bits of w1 as 4. */
static void make_serial(struct stm32_model *m)
{
	static const char hex[] = "0123456789ABCDEF";
	uint32_t w0 = le32(m->options.uid), w1 = le32(m->options.uid + 4),
	         w2 = le32(m->options.uid + 8);
	uint32_t a = w0 + w2;
	uint32_t b = w1 >> 16;

	for (int i = 0; i < 8; i++)
		m->serial[i] = hex[(a >> (28 - 4 * i)) & 0xF];
	for (int i = 0; i < 4; i++)
		m->serial[8 + i] = hex[(b >> (12 - 4 * i)) & 0xF];
	m->serial[12] = '\0';
}

/* ---- lifecycle ---------------------------------------------------------- */

struct stm32_model *stm32_model_new(const struct stm32_profile *profile,
                                    const struct stm32_model_options *options)
{
	struct stm32_model *m;
	uint8_t *rdp;

	if (!profile || profile->alt_count == 0 || profile->alt_count > MAX_ALTS ||
	    profile->transfer_size == 0 || profile->transfer_size > MAX_TRANSFER ||
	    profile->program_word_bytes == 0)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->profile = profile;
	if (options)
		m->options = *options;
	if (!(m->options.time_scale > 0) || !isfinite(m->options.time_scale))
		m->options.time_scale = 0;
	if (m->options.time_scale > 1e6)
		m->options.time_scale = 1e6;
	m->alt_count = profile->alt_count;
	for (size_t i = 0; i < m->alt_count; i++) {
		struct memory *mem = &m->memories[i];
		if (memory_parse(mem, profile->alts[i].descriptor) < 0)
			goto fail;
		mem->data = malloc(mem->size);
		if (!mem->data)
			goto fail;
		memset(mem->data, 0xFF, mem->size);
	}
	if (m->memories[0].kind != MEMORY_FLASH ||
	    m->memories[0].segments[0].address != profile->flash_base ||
	    m->memories[0].size != profile->flash_size)
		goto fail;
	m->erase_counts = calloc(m->memories[0].sector_count, sizeof(*m->erase_counts));
	if (!m->erase_counts)
		goto fail;
	rdp = rdp_byte(m);
	if (rdp)
		*rdp = m->options.read_protected ? RDP_LEVEL1 : RDP_LEVEL0;
	m->read_protected = m->options.read_protected;
	make_serial(m);
	stm32_model_reset(m);
	return m;
fail:
	stm32_model_free(m);
	return NULL;
}

void stm32_model_free(struct stm32_model *model)
{
	if (!model)
		return;
	for (size_t i = 0; i < MAX_ALTS; i++)
		free(model->memories[i].data);
	free(model->erase_counts);
	free(model);
}

void stm32_model_set_faults(struct stm32_model *model, const struct stm32_model_faults *faults)
{
	if (!model)
		return;
	if (faults)
		model->faults = *faults;
	else
		memset(&model->faults, 0, sizeof(model->faults));
	model->request_count = 0;
	model->block_count = 0;
}

/* Power-on: the ROM re-reads the option bytes (RDP) and starts in dfuIDLE,
 * or in dfuERROR/errFIRMWARE when start_in_error is set and the flash is
 * blank (its first word erased), as F4-Discovery and F411 boards do. */
void stm32_model_reset(struct stm32_model *m)
{
	const uint8_t *rdp;

	if (!m)
		return;
	rdp = rdp_byte(m);
	if (rdp)
		m->read_protected = *rdp != RDP_LEVEL0;
	m->connected = true;
	m->gone_reason = STM32_MODEL_ON_BUS;
	m->configuration = 1; /* the host OS has enumerated and configured it */
	m->alt = 0;
	m->pointer = m->profile->flash_base;
	m->pending = false;
	m->busy = false;
	m->status = STM32_DFU_OK;
	m->state = STM32_DFU_IDLE;
	if (m->options.start_in_error && le32(m->memories[0].data) == 0xFFFFFFFFu) {
		m->state = STM32_DFU_ERROR;
		m->status = STM32_DFU_ERR_FIRMWARE;
	}
}

/* ---- operations --------------------------------------------------------- */

uint32_t stm32_profile_erase_us(const struct stm32_profile *p, uint32_t sector_bytes)
{
	uint64_t us;

	for (size_t i = 0; i < sizeof(p->erase_times) / sizeof(p->erase_times[0]); i++)
		if (p->erase_times[i].sector_bytes == sector_bytes)
			return p->erase_times[i].us;
	us = (uint64_t)p->erase_us_per_kib * (sector_bytes / 1024);
	if (us < p->erase_min_us)
		us = p->erase_min_us;
	return us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

uint64_t stm32_profile_program_us(const struct stm32_profile *p, uint32_t bytes)
{
	return (uint64_t)((bytes + p->program_word_bytes - 1) / p->program_word_bytes) *
	       p->program_us_per_word;
}

/* Erase one sector of main flash; write-protected sectors are skipped
 * silently (the ROM reports success) unless ignore_protection. */
static void erase_flash_sector(struct stm32_model *m, uint32_t sector, bool ignore_protection)
{
	struct memory *flash = &m->memories[0];

	if (!ignore_protection && sector_write_protected(m, sector))
		return;
	for (size_t i = 0; i < flash->segment_count; i++) {
		const struct segment *seg = &flash->segments[i];
		if (sector >= seg->first_sector && sector < seg->first_sector + seg->count) {
			memset(flash->data + seg->offset +
			           (uint64_t)(sector - seg->first_sector) * seg->sector_size,
			       0xFF, seg->sector_size);
			m->erase_counts[sector]++;
			return;
		}
	}
}

/* Mass erase (0x41 alone) keeps write-protected sectors; the RDP regression
 * of Read Unprotect erases everything. */
static void mass_erase(struct stm32_model *m, bool ignore_protection)
{
	for (uint32_t s = 0; s < m->memories[0].sector_count; s++)
		erase_flash_sector(m, s, ignore_protection);
}

/* Program main flash. Bits only go 1 -> 0 (flash = old & new). On ECC
 * families (check_erased) every program word touched must be erased, unless
 * the data for it is all zero (RM0394: programming all-zero over a
 * programmed double word is allowed): otherwise errPROG and nothing is
 * written. Write-protected sectors keep their content silently. */
static enum stm32_dfu_status program_flash(struct stm32_model *m, uint64_t address,
                                           const uint8_t *data, uint32_t length)
{
	struct memory *flash = &m->memories[0];
	const uint32_t word = m->profile->program_word_bytes;
	const uint64_t end = address + length;

	if (m->profile->check_erased) {
		for (uint64_t w = address - address % word; w < end; w += word) {
			bool erased = true, zero = true;
			for (uint32_t i = 0; i < word; i++) {
				uint64_t a = w + i;
				uint32_t sector = 0;
				const uint8_t *old;
				uint8_t v = (a >= address && a < end) ? data[a - address] : 0xFF;
				if (v)
					zero = false;
				old = memory_at(flash, a, NULL, &sector, NULL);
				if (old && *old != 0xFF && !sector_write_protected(m, sector))
					erased = false;
			}
			if (!erased && !zero)
				return STM32_DFU_ERR_PROG;
		}
	}
	for (uint64_t a = address; a < end;) {
		uint64_t run = 0;
		uint32_t sector = 0;
		uint8_t *p = memory_at(flash, a, &run, &sector, NULL);
		const struct segment *seg = memory_find(flash, a);
		uint64_t in_sector = seg->sector_size - (a - seg->address) % seg->sector_size;
		uint64_t n = end - a;
		if (n > in_sector)
			n = in_sector;
		if (!sector_write_protected(m, sector))
			for (uint64_t i = 0; i < n; i++)
				p[i] &= data[a - address + i];
		a += n;
	}
	return STM32_DFU_OK;
}

static void write_memory(struct memory *mem, uint64_t address, const uint8_t *data, uint32_t length,
                         bool and_only)
{
	for (uint32_t i = 0; i < length;) {
		uint64_t run = 0;
		uint8_t *p = memory_at(mem, address + i, &run, NULL, NULL);
		uint32_t n = length - i;
		if (run < n)
			n = (uint32_t)run;
		for (uint32_t j = 0; j < n; j++)
			p[j] = and_only ? (uint8_t)(p[j] & data[i + j]) : data[i + j];
		i += n;
	}
}

/* Validate and perform the pending DNLOAD. Returns its status; sets the
 * physical duration, whether it never ends, and whether the chip resets
 * itself afterwards. */
static enum stm32_dfu_status execute(struct stm32_model *m, uint64_t *us, bool *forever,
                                     bool *then_reset)
{
	struct memory *mem = &m->memories[m->alt];
	const uint8_t *b = m->buffer;
	const uint32_t length = m->pending_length;
	uint64_t address;
	enum stm32_dfu_status st = STM32_DFU_OK;

	if (m->pending_block == 0) {
		address = length == 5 ? le32(b + 1) : 0;
		switch (b[0]) {
		case CMD_SET_ADDRESS:
			if (m->read_protected)
				return STM32_DFU_ERR_VENDOR;
			if (!memory_find(mem, address))
				return STM32_DFU_ERR_TARGET;
			m->pointer = (uint32_t)address;
			return STM32_DFU_OK;
		case CMD_ERASE: {
			uint32_t sector = 0;
			uint8_t access;
			const struct segment *seg;
			if (m->read_protected)
				return STM32_DFU_ERR_VENDOR;
			if (length == 1) {
				*us = m->profile->mass_erase_us;
				*forever = m->faults.erase_stays_busy;
				if (!*forever)
					mass_erase(m, false);
				return STM32_DFU_OK;
			}
			seg = memory_find(mem, address);
			if (!memory_at(mem, address, NULL, &sector, &access) ||
			    !(access & ACCESS_ERASE))
				return STM32_DFU_ERR_TARGET;
			*us = stm32_profile_erase_us(m->profile, seg->sector_size);
			*forever = m->faults.erase_stays_busy;
			if (*forever)
				return STM32_DFU_OK;
			if (mem->kind == MEMORY_FLASH && m->alt == 0) {
				erase_flash_sector(m, sector, false);
			} else {
				uint64_t start =
				    address - (address - seg->address) % seg->sector_size;
				memset(memory_at(mem, start, NULL, NULL, NULL), 0xFF,
				       seg->sector_size);
			}
			return STM32_DFU_OK;
		}
		case CMD_READ_UNPROTECT: {
			uint8_t *rdp = rdp_byte(m);
			*us = m->profile->mass_erase_us;
			mass_erase(m, true);
			if (rdp)
				*rdp = RDP_LEVEL0;
			m->read_protected = false;
			*then_reset = true;
			return STM32_DFU_OK;
		}
		default:
			return STM32_DFU_ERR_STALLEDPKT; /* filtered at DNLOAD already */
		}
	}

	if (m->read_protected)
		return STM32_DFU_ERR_VENDOR;
	address =
	    (uint64_t)m->pointer + (uint64_t)(m->pending_block - 2) * m->profile->transfer_size;
	if (!memory_allows(mem, address, length, ACCESS_WRITE))
		return STM32_DFU_ERR_TARGET;
	*us = stm32_profile_program_us(m->profile, length);
	switch (mem->kind) {
	case MEMORY_FLASH:
		st = program_flash(m, address, b, length);
		break;
	case MEMORY_OTP:
		write_memory(mem, address, b, length, true);
		break;
	case MEMORY_OPTION:
		write_memory(mem, address, b, length, false);
		*then_reset = true; /* the new option bytes load on a reset */
		break;
	case MEMORY_PLAIN:
		write_memory(mem, address, b, length, false);
		break;
	}
	if (st == STM32_DFU_OK && m->faults.flip_bit && mem == &m->memories[0] &&
	    m->faults.flip_bit_address >= address &&
	    m->faults.flip_bit_address < address + length) {
		uint8_t *p = memory_at(mem, m->faults.flip_bit_address, NULL, NULL, NULL);
		*p ^= 1;
		if (m->faults.flip_bit_once)
			m->faults.flip_bit = false;
	}
	return st;
}

static void operation_start(struct stm32_model *m)
{
	uint64_t us = 0;
	bool forever = false, then_reset = false;
	enum stm32_dfu_status st = execute(m, &us, &forever, &then_reset);

	if (st != STM32_DFU_OK) {
		us = 0;
		forever = false;
		then_reset = false;
	}
	m->pending = false;
	m->busy = true;
	m->busy_forever = forever;
	m->busy_result = st;
	m->busy_then_reset = then_reset;
	m->busy_end_ns = now_ns(m) + (uint64_t)((double)us * 1000.0 * m->options.time_scale);
	if (!forever)
		m->busy_us += us;
	m->state = STM32_DFU_DNBUSY;
}

static void operation_finish(struct stm32_model *m)
{
	m->busy = false;
	if (m->busy_then_reset) {
		disconnect(m, STM32_MODEL_SELF_RESET);
		return;
	}
	if (m->busy_result == STM32_DFU_OK) {
		m->state = STM32_DFU_DNLOAD_SYNC;
	} else {
		m->state = STM32_DFU_ERROR;
		m->status = m->busy_result;
	}
}

/* ---- descriptors -------------------------------------------------------- */

static int reply(uint8_t *data, uint16_t wLength, const void *src, size_t n)
{
	if (n > wLength)
		n = wLength;
	if (n)
		memcpy(data, src, n);
	return (int)n;
}

static size_t string_descriptor(uint8_t *out, const char *s)
{
	size_t n = strlen(s);
	if (n > 126)
		n = 126;
	out[0] = (uint8_t)(2 + 2 * n);
	out[1] = 0x03;
	for (size_t i = 0; i < n; i++) {
		out[2 + 2 * i] = (uint8_t)s[i];
		out[3 + 2 * i] = 0;
	}
	return 2 + 2 * n;
}

static int get_descriptor(struct stm32_model *m, uint16_t wValue, uint8_t *data, uint16_t wLength)
{
	const struct stm32_profile *p = m->profile;
	uint8_t type = wValue >> 8, index = wValue & 0xFF;
	uint8_t d[256];
	size_t n = 0;

	switch (type) {
	case 0x01: { /* device */
		const uint8_t dev[18] = {18,
		                         0x01,
		                         0x00,
		                         0x02, /* bcdUSB 2.00 */
		                         0x00,
		                         0x00,
		                         0x00, /* class in the interface */
		                         64,
		                         (uint8_t)p->vid,
		                         (uint8_t)(p->vid >> 8),
		                         (uint8_t)p->pid,
		                         (uint8_t)(p->pid >> 8),
		                         (uint8_t)p->bcd_device,
		                         (uint8_t)(p->bcd_device >> 8),
		                         1,
		                         2,
		                         3,
		                         1};
		return reply(data, wLength, dev, sizeof(dev));
	}
	case 0x02: { /* configuration + interfaces (one per alt) + DFU functional */
		if (index != 0)
			return STM32_MODEL_STALL;
		n = 9;
		for (size_t i = 0; i < m->alt_count; i++) {
			const uint8_t intf[9] = {9,    0x04, 0,    (uint8_t)i,      0,
			                         0xFE, 0x01, 0x02, (uint8_t)(4 + i)};
			memcpy(d + n, intf, 9);
			n += 9;
		}
		const uint8_t func[9] = {9,
		                         0x21,
		                         p->attributes,
		                         (uint8_t)p->detach_timeout,
		                         (uint8_t)(p->detach_timeout >> 8),
		                         (uint8_t)p->transfer_size,
		                         (uint8_t)(p->transfer_size >> 8),
		                         0x1A,
		                         0x01};
		memcpy(d + n, func, 9);
		n += 9;
		const uint8_t conf[9] = {9, 0x02, (uint8_t)n, (uint8_t)(n >> 8),
		                         1, 1,    0,          0xC0, /* self-powered */
		                         50 /* 100 mA */};
		memcpy(d, conf, 9);
		return reply(data, wLength, d, n);
	}
	case 0x03: /* string */
		if (index == 0) {
			const uint8_t langid[4] = {4, 0x03, 0x09, 0x04};
			return reply(data, wLength, langid, sizeof(langid));
		}
		if (index == 1)
			n = string_descriptor(d, p->manufacturer);
		else if (index == 2)
			n = string_descriptor(d, p->product);
		else if (index == 3)
			n = string_descriptor(d, m->serial);
		else if (index >= 4 && index < 4 + m->alt_count)
			n = string_descriptor(d, p->alts[index - 4].descriptor);
		else
			return STM32_MODEL_STALL;
		return reply(data, wLength, d, n);
	default: /* device qualifier and the rest: a full-speed device stalls */
		return STM32_MODEL_STALL;
	}
}

static int standard_request(struct stm32_model *m, uint8_t bmRequestType, uint8_t bRequest,
                            uint16_t wValue, uint16_t wIndex, uint8_t *data, uint16_t wLength)
{
	const uint8_t zero2[2] = {0, 0};

	switch (bRequest) {
	case 0x00: /* GET_STATUS */
		if (bmRequestType == 0x80) {
			const uint8_t self_powered[2] = {1, 0};
			return reply(data, wLength, self_powered, 2);
		}
		if ((bmRequestType == 0x81 && wIndex == 0) ||
		    (bmRequestType == 0x82 && (wIndex & 0x7F) == 0))
			return reply(data, wLength, zero2, 2);
		return STM32_MODEL_STALL;
	case 0x01: /* CLEAR_FEATURE */
	case 0x03: /* SET_FEATURE: only ENDPOINT_HALT on endpoint 0, a no-op */
		if (bmRequestType == 0x02 && wValue == 0 && (wIndex & 0x7F) == 0)
			return 0;
		return STM32_MODEL_STALL;
	case 0x05: /* SET_ADDRESS */
		return bmRequestType == 0x00 && wValue <= 127 ? 0 : STM32_MODEL_STALL;
	case 0x06: /* GET_DESCRIPTOR */
		if (bmRequestType != 0x80)
			return STM32_MODEL_STALL;
		return get_descriptor(m, wValue, data, wLength);
	case 0x08: /* GET_CONFIGURATION */
		if (bmRequestType != 0x80)
			return STM32_MODEL_STALL;
		return reply(data, wLength, &m->configuration, 1);
	case 0x09: /* SET_CONFIGURATION */
		if (bmRequestType != 0x00 || wValue > 1)
			return STM32_MODEL_STALL;
		m->configuration = (uint8_t)wValue;
		m->alt = 0;
		return 0;
	case 0x0A: /* GET_INTERFACE */
		if (bmRequestType != 0x81 || wIndex != 0 || !m->configuration)
			return STM32_MODEL_STALL;
		return reply(data, wLength, &m->alt, 1);
	case 0x0B: /* SET_INTERFACE */
		if (bmRequestType != 0x01 || wIndex != 0 || !m->configuration ||
		    wValue >= m->alt_count)
			return STM32_MODEL_STALL;
		m->alt = (uint8_t)wValue;
		return 0;
	default:
		return STM32_MODEL_STALL;
	}
}

/* ---- DFU class requests ------------------------------------------------- */

static bool abort_allowed(enum stm32_dfu_state s)
{
	return s == STM32_DFU_IDLE || s == STM32_DFU_DNLOAD_SYNC || s == STM32_DFU_DNLOAD_IDLE ||
	       s == STM32_DFU_MANIFEST_SYNC || s == STM32_DFU_UPLOAD_IDLE;
}

static int dfu_dnload(struct stm32_model *m, uint16_t wValue, const uint8_t *data, uint16_t wLength)
{
	if (m->state != STM32_DFU_IDLE && m->state != STM32_DFU_DNLOAD_IDLE)
		return STM32_MODEL_STALL;
	if (wLength > m->profile->transfer_size)
		return STM32_MODEL_STALL;
	if (wLength == 0) { /* leave: manifestation on the next GETSTATUS */
		m->state = STM32_DFU_MANIFEST_SYNC;
		return 0;
	}
	if (wValue == 1)
		return STM32_MODEL_STALL;
	if (wValue == 0) {
		uint8_t op = data[0];
		bool ok = (op == CMD_SET_ADDRESS && wLength == 5) ||
		          (op == CMD_ERASE && (wLength == 5 || wLength == 1)) ||
		          (op == CMD_READ_UNPROTECT && wLength == 1);
		if (!ok) {
			m->state = STM32_DFU_ERROR;
			m->status = STM32_DFU_ERR_STALLEDPKT;
			return STM32_MODEL_STALL;
		}
	} else {
		m->block_count++;
		if (m->faults.disconnect_at_block &&
		    m->block_count == m->faults.disconnect_at_block) {
			disconnect(m, STM32_MODEL_FAULT_GONE);
			return STM32_MODEL_GONE;
		}
	}
	memcpy(m->buffer, data, wLength);
	m->pending = true;
	m->pending_block = wValue;
	m->pending_length = wLength;
	m->state = STM32_DFU_DNLOAD_SYNC;
	return wLength;
}

static int dfu_upload(struct stm32_model *m, uint16_t wValue, uint8_t *data, uint16_t wLength)
{
	static const uint8_t commands[4] = {CMD_GET_COMMANDS, CMD_SET_ADDRESS, CMD_ERASE,
	                                    CMD_READ_UNPROTECT};
	const struct memory *mem = &m->memories[m->alt];
	uint64_t address;
	uint32_t n = 0;

	if (m->state != STM32_DFU_IDLE && m->state != STM32_DFU_UPLOAD_IDLE)
		return STM32_MODEL_STALL;
	if (wLength > m->profile->transfer_size)
		return STM32_MODEL_STALL;
	if (wLength == 0) {
		m->state = STM32_DFU_IDLE;
		return 0;
	}
	if (wValue == 0) {
		m->state = STM32_DFU_UPLOAD_IDLE;
		return reply(data, wLength, commands, sizeof(commands));
	}
	if (wValue == 1)
		return STM32_MODEL_STALL;
	if (m->read_protected) {
		m->state = STM32_DFU_ERROR;
		m->status = STM32_DFU_ERR_VENDOR;
		return STM32_MODEL_STALL;
	}
	address = (uint64_t)m->pointer + (uint64_t)(wValue - 2) * m->profile->transfer_size;
	/* Read what is readable from address on; a short packet ends the upload. */
	while (n < wLength) {
		uint64_t run = 0;
		uint8_t access;
		const uint8_t *p = memory_at(mem, address + n, &run, NULL, &access);
		uint32_t chunk = wLength - n;
		if (!p || !(access & ACCESS_READ))
			break;
		if (run < chunk)
			chunk = (uint32_t)run;
		memcpy(data + n, p, chunk);
		n += chunk;
	}
	if (n == 0) {
		m->state = STM32_DFU_ERROR;
		m->status = STM32_DFU_ERR_TARGET;
		return STM32_MODEL_STALL;
	}
	m->state = n < wLength ? STM32_DFU_IDLE : STM32_DFU_UPLOAD_IDLE;
	return (int)n;
}

static int dfu_getstatus(struct stm32_model *m, uint8_t *data, uint16_t wLength)
{
	uint32_t poll = 0;
	uint8_t r[6];
	int n;

	if (m->state == STM32_DFU_DNLOAD_SYNC) {
		if (m->pending) {
			operation_start(m);
			poll = m->profile->poll_timeout_ms;
		} else {
			m->state = STM32_DFU_DNLOAD_IDLE;
		}
	} else if (m->state == STM32_DFU_MANIFEST_SYNC) {
		m->state = STM32_DFU_MANIFEST;
	}
	r[0] = m->status;
	r[1] = (uint8_t)poll;
	r[2] = (uint8_t)(poll >> 8);
	r[3] = (uint8_t)(poll >> 16);
	r[4] = (uint8_t)m->state;
	r[5] = 0;
	n = reply(data, wLength, r, sizeof(r));
	if (m->state == STM32_DFU_MANIFEST) {
		/* Not manifestation-tolerant: jump to the pointer, leave the bus. */
		m->boot_address = m->pointer;
		disconnect(m, STM32_MODEL_LEFT_DFU);
	}
	return n;
}

static int dfu_request(struct stm32_model *m, uint8_t bmRequestType, uint8_t bRequest,
                       uint16_t wValue, uint16_t wIndex, uint8_t *data, uint16_t wLength)
{
	bool in = bmRequestType & 0x80;

	if (wIndex != 0 || !m->configuration || (bmRequestType & 0x7F) != 0x21)
		return STM32_MODEL_STALL;
	switch (bRequest) {
	case DFU_DETACH:
		/* [inference] the ROM is already in DFU mode: back to dfuIDLE. */
		if (in || !abort_allowed(m->state))
			return STM32_MODEL_STALL;
		m->pending = false;
		m->state = STM32_DFU_IDLE;
		return 0;
	case DFU_DNLOAD:
		return in ? STM32_MODEL_STALL : dfu_dnload(m, wValue, data, wLength);
	case DFU_UPLOAD:
		return in ? dfu_upload(m, wValue, data, wLength) : STM32_MODEL_STALL;
	case DFU_GETSTATUS:
		return in ? dfu_getstatus(m, data, wLength) : STM32_MODEL_STALL;
	case DFU_CLRSTATUS:
		if (in)
			return STM32_MODEL_STALL;
		if (m->state == STM32_DFU_ERROR) {
			m->state = STM32_DFU_IDLE;
			m->status = STM32_DFU_OK;
		} else { /* ST middleware and the H7 ROM */
			m->pending = false;
			m->state = STM32_DFU_ERROR;
			m->status = STM32_DFU_ERR_UNKNOWN;
		}
		return 0;
	case DFU_GETSTATE: {
		uint8_t s = (uint8_t)m->state;
		return in ? reply(data, wLength, &s, 1) : STM32_MODEL_STALL;
	}
	case DFU_ABORT:
		if (in || !abort_allowed(m->state))
			return STM32_MODEL_STALL;
		m->pending = false;
		m->state = STM32_DFU_IDLE;
		return 0;
	default:
		return STM32_MODEL_STALL;
	}
}

int stm32_model_control(struct stm32_model *m, uint8_t bmRequestType, uint8_t bRequest,
                        uint16_t wValue, uint16_t wIndex, uint8_t *data, uint16_t wLength,
                        unsigned timeout_ms)
{
	uint8_t type;

	if (!m)
		return STM32_MODEL_GONE;
	if (!m->connected)
		return STM32_MODEL_GONE;
	if (wLength && !data)
		return STM32_MODEL_STALL;
	type = bmRequestType & 0x60;
	m->request_count++;
	if (m->faults.stall_request && m->request_count == m->faults.stall_request)
		return STM32_MODEL_STALL;

	if (m->busy) {
		uint64_t now = now_ns(m);
		if (m->busy_forever || now < m->busy_end_ns) {
			uint64_t wait = m->busy_forever ? UINT64_MAX : m->busy_end_ns - now;
			uint64_t limit = (uint64_t)timeout_ms * 1000000u;
			if (type == 0x20 && m->profile->stall_while_busy)
				return STM32_MODEL_STALL;
			/* A host that would wait forever on an operation that
			 * never ends would hang: report the hang at once. */
			if (m->busy_forever && timeout_ms == 0)
				return STM32_MODEL_TIMEDOUT;
			if (timeout_ms && wait > limit) {
				sleep_until_ns(m, now + limit);
				return STM32_MODEL_TIMEDOUT;
			}
			sleep_until_ns(m, m->busy_end_ns);
		}
		operation_finish(m);
		if (!m->connected)
			return STM32_MODEL_GONE;
	}

	if (type == 0x00)
		return standard_request(m, bmRequestType, bRequest, wValue, wIndex, data, wLength);
	if (type == 0x20 && (bmRequestType & 0x1F) == 0x01)
		return dfu_request(m, bmRequestType, bRequest, wValue, wIndex, data, wLength);
	return STM32_MODEL_STALL;
}

/* ---- getters ------------------------------------------------------------ */

bool stm32_model_connected(const struct stm32_model *model)
{
	return model && model->connected;
}

uint32_t stm32_model_boot_address(const struct stm32_model *model)
{
	return model ? model->boot_address : 0;
}

uint8_t *stm32_model_flash(struct stm32_model *model, size_t *size)
{
	if (!model) {
		if (size)
			*size = 0;
		return NULL;
	}
	if (size)
		*size = model->memories[0].size;
	return model->memories[0].data;
}

unsigned stm32_model_erase_count(const struct stm32_model *model, size_t sector_index)
{
	if (!model || sector_index >= model->memories[0].sector_count)
		return 0;
	return model->erase_counts[sector_index];
}

uint64_t stm32_model_busy_us(const struct stm32_model *model)
{
	return model ? model->busy_us : 0;
}

const char *stm32_model_serial(const struct stm32_model *model)
{
	return model ? model->serial : NULL;
}

enum stm32_dfu_state stm32_model_state(const struct stm32_model *model)
{
	return model ? model->state : STM32_DFU_ERROR;
}

enum stm32_dfu_status stm32_model_status(const struct stm32_model *model)
{
	return model ? model->status : STM32_DFU_ERR_UNKNOWN;
}

enum stm32_model_gone_reason stm32_model_gone_reason(const struct stm32_model *model)
{
	return model ? model->gone_reason : STM32_MODEL_ON_BUS;
}

bool stm32_model_read_protected(const struct stm32_model *model)
{
	return model && model->read_protected;
}

size_t stm32_model_sector_count(const struct stm32_model *model)
{
	return model ? model->memories[0].sector_count : 0;
}

int stm32_model_read(const struct stm32_model *model, unsigned alt, uint32_t address, void *buf,
                     size_t len)
{
	uint8_t *out = buf;
	size_t done = 0;

	if (!model || alt >= model->alt_count || (len && !buf))
		return -EINVAL;
	if (!memory_allows(&model->memories[alt], address, len, 0))
		return -EFAULT;
	while (done < len) {
		uint64_t run = 0;
		const uint8_t *p =
		    memory_at(&model->memories[alt], (uint64_t)address + done, &run, NULL, NULL);
		size_t n = len - done;
		if (run < n)
			n = (size_t)run;
		memcpy(out + done, p, n);
		done += n;
	}
	return 0;
}

bool stm32_model_vector_valid(const struct stm32_model *model, uint32_t address)
{
	uint8_t v[8];
	uint32_t sp, pc;
	const struct stm32_profile *p;

	if (!model || stm32_model_read(model, 0, address, v, sizeof(v)) < 0)
		return false;
	p = model->profile;
	sp = le32(v);
	pc = le32(v + 4);
	return sp >= p->sram_base && (uint64_t)sp <= (uint64_t)p->sram_base + p->sram_size &&
	       (sp & 3) == 0 && (pc & 1) && (pc & ~1u) >= p->flash_base &&
	       (uint64_t)(pc & ~1u) < (uint64_t)p->flash_base + p->flash_size;
}

bool stm32_model_app_valid(const struct stm32_model *model)
{
	return model && stm32_model_vector_valid(model, model->boot_address);
}

int stm32_model_app_version(const struct stm32_model *model, uint32_t address, char *buf,
                            size_t size)
{
	static const char marker[] = STM32_MODEL_VERSION_MARKER;
	const size_t mlen = sizeof(marker) - 1;
	const struct memory *flash;
	const uint8_t *p, *end;
	uint32_t base;

	if (!model || !buf || size == 0)
		return -EINVAL;
	buf[0] = '\0';
	flash = &model->memories[0];
	base = model->profile->flash_base;
	if (address < base || address - base >= flash->size)
		return -ENOENT;
	p = flash->data + (address - base);
	end = flash->data + flash->size;
	while ((p = memchr(p, marker[0], (size_t)(end - p))) != NULL) {
		const uint8_t *v = p + mlen;
		if ((size_t)(end - p) < mlen || memcmp(p, marker, mlen) != 0) {
			p++;
			continue;
		}
		size_t n = 0;
		while (v + n < end && n <= STM32_MODEL_VERSION_MAX && v[n] >= 0x20 && v[n] < 0x7F)
			n++;
		if (n >= 1 && n <= STM32_MODEL_VERSION_MAX && v + n < end && v[n] == 0) {
			if (n >= size)
				return -EINVAL;
			memcpy(buf, v, n);
			buf[n] = '\0';
			return 0;
		}
		p += 1;
	}
	return -ENOENT;
}

bool stm32_model_wait_idle(struct stm32_model *model, unsigned timeout_ms)
{
	uint64_t now, limit;

	if (!model || !model->connected || !model->busy)
		return true;
	now = now_ns(model);
	limit = now + (uint64_t)timeout_ms * 1000000u;
	if (model->busy_forever) {
		if (timeout_ms)
			sleep_until_ns(model, limit);
		return false;
	}
	if (now >= model->busy_end_ns)
		return true;
	if (limit >= model->busy_end_ns) {
		sleep_until_ns(model, model->busy_end_ns);
		return true;
	}
	sleep_until_ns(model, limit);
	return false;
}

bool stm32_model_idle_tick(struct stm32_model *model)
{
	if (!model || !model->connected)
		return false;
	if (model->busy && !model->busy_forever && now_ns(model) >= model->busy_end_ns)
		operation_finish(model);
	return model->connected;
}

int stm32_model_sector_info(const struct stm32_model *model, size_t index, uint32_t *address,
                            uint32_t *size)
{
	const struct memory *flash;

	if (!model)
		return -EINVAL;
	flash = &model->memories[0];
	for (size_t i = 0; i < flash->segment_count; i++) {
		const struct segment *seg = &flash->segments[i];
		if (index >= seg->first_sector && index < (size_t)seg->first_sector + seg->count) {
			if (address)
				*address = seg->address +
				           (uint32_t)(index - seg->first_sector) * seg->sector_size;
			if (size)
				*size = seg->sector_size;
			return 0;
		}
	}
	return -EINVAL;
}
