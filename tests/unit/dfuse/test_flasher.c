/* The dfuse flasher's protocol code against the STM32 model, in process:
 * every family profile, every injected fault, and what the chip's flash
 * holds afterwards. Flasher and model share a virtual clock that moves only
 * when one of them waits: every deadline, poll pace and busy time below is
 * exact, and a loaded machine that deschedules the test changes nothing. */
#include "check.h"
#include "dfu.h"
#include "model_transport.h"

#include <stdlib.h>

struct rig {
	struct stm32_model *model;
	struct dfu_device dev;
	struct dfuse_quirk quirk; /* a copy, so tests may shorten timeouts */
	struct model_clock clock; /* the flasher's and the model's time */
	char err[1024];
};

static int rig_open_with(struct rig *g, const char *profile, const struct stm32_model_options *o)
{
	memset(g, 0, sizeof(*g));
	const struct stm32_profile *p = stm32_profile_find(profile);
	CHECK(p != NULL);
	if (!p)
		return -1;
	model_clock_init(&g->clock);
	struct stm32_model_options on_clock = *o;
	on_clock.clock = &g->clock.model;
	g->model = stm32_model_new(p, &on_clock);
	g->dev.transport = model_transport_on(g->model, &g->clock);
	int r = dfu_describe(&g->dev, g->err, sizeof(g->err));
	CHECK_INT(r, 0);
	if (r)
		fprintf(stderr, "describe: %s\n", g->err);
	else {
		g->quirk = *g->dev.quirk;
		g->dev.quirk = &g->quirk;
	}
	return r;
}

static int rig_open(struct rig *g, const char *profile)
{
	struct stm32_model_options o = {.time_scale = 0};
	return rig_open_with(g, profile, &o);
}

/* A test transport that wraps the model, on the rig's clock. */
static void rig_wrap(struct rig *g, void *ctx,
                     int (*control)(void *ctx, uint8_t type, uint8_t req, uint16_t value,
                                    uint16_t index, uint8_t *data, uint16_t len,
                                    unsigned timeout_ms),
                     int (*set_alt)(void *ctx, uint8_t interface, uint8_t alt))
{
	g->dev.transport =
	    (struct dfu_transport){.ctx = ctx, .control = control, .set_alt = set_alt};
	model_clock_attach(&g->dev.transport, &g->clock);
}

static void rig_close(struct rig *g)
{
	dfu_release(&g->dev);
	stm32_model_free(g->model);
}

/* Deterministic bytes that differ per address and per seed. */
static void pattern(uint8_t *buf, size_t len, uint32_t address, unsigned seed)
{
	for (size_t i = 0; i < len; i++) {
		uint32_t x = (uint32_t)(address + i) * 2654435761u + seed * 40503u;
		buf[i] = (uint8_t)(x >> 13);
	}
}

static const struct mcu_ota_write_options write_verify = {.alt = 0, .verify = true};

static const struct mcu_ota_memory *flash_memory(struct rig *g)
{
	return &g->dev.memories[0];
}

/* Every profile: write three segments (sector-aligned start, a run across a
 * sector boundary, a partial last sector), verify, and check the chip. */
static void writes_every_profile(void)
{
	for (const char *const *name = stm32_profile_names(); *name; name++) {
		struct rig g;
		if (rig_open(&g, *name))
			continue;
		const struct mcu_ota_memory *m = flash_memory(&g);
		size_t flash_size;
		uint8_t *flash = stm32_model_flash(g.model, &flash_size);
		uint32_t base = m->sectors[0].address;
		/* factory content everywhere, so untouched sectors can be told apart */
		pattern(flash, flash_size, base, 99);
		uint8_t *before = malloc(flash_size);
		memcpy(before, flash, flash_size);

		uint32_t s0 = m->sectors[0].size, s1 = m->sectors[1].size;
		uint32_t a0 = base, l0 = s0 + s1 / 2;        /* sector 0 whole, half of 1 */
		uint32_t a1 = base + s0 + s1 + 16, l1 = 100; /* inside sector 2 */
		uint8_t *d0 = malloc(l0), *d1 = malloc(l1);
		pattern(d0, l0, a0, 1);
		pattern(d1, l1, a1, 2);
		struct mcu_ota_segment segs[] = {{a0, l0, d0}, {a1, l1, d1}};
		struct mcu_ota_image img = {2, segs};

		int r = dfu_write(&g.dev, &img, &write_verify, g.err, sizeof(g.err));
		CHECK_INT(r, 0);
		if (r)
			fprintf(stderr, "%s: %s\n", *name, g.err);
		CHECK(memcmp(flash, d0, l0) == 0);
		CHECK(memcmp(flash + (a1 - base), d1, l1) == 0);
		/* the rest of touched sectors is erased, nothing else changed */
		uint32_t end2 = s0 + s1 + m->sectors[2].size;
		for (uint32_t i = l0; i < s0 + s1; i++)
			if (flash[i] != 0xFF) {
				CHECK(flash[i] == 0xFF);
				break;
			}
		CHECK(memcmp(flash + end2, before + end2, flash_size - end2) == 0);
		CHECK_INT(stm32_model_erase_count(g.model, 0), 1);
		CHECK_INT(stm32_model_erase_count(g.model, 1), 1);
		CHECK_INT(stm32_model_erase_count(g.model, 2), 1);
		CHECK_INT(stm32_model_erase_count(g.model, 3), 0);
		printf("     %-5s %zu alts, transfer %u, quirk %s\n", *name,
		       g.dev.info.memory_count, g.dev.info.transfer_size, g.dev.quirk->family);
		free(d0);
		free(d1);
		free(before);
		rig_close(&g);
	}
}

static void describes_the_f407_as_the_rom_does(void)
{
	struct rig g;
	if (rig_open(&g, "F407"))
		return;
	CHECK_INT(g.dev.info.vid, 0x0483);
	CHECK_INT(g.dev.info.pid, 0xdf11);
	CHECK_INT(g.dev.info.transfer_size, 2048);
	CHECK_INT(g.dev.info.dfu_version, 0x011A);
	CHECK_INT(g.dev.info.memory_count, 4);
	CHECK_STR(g.dev.info.product, "STM32  BOOTLOADER");
	CHECK_INT(strlen(g.dev.info.serial), 12);
	CHECK_STR(g.dev.info.serial, stm32_model_serial(g.model));
	CHECK_STR(g.dev.memories[0].name, "Internal Flash");
	CHECK_INT(g.dev.memories[0].sector_count, 12);
	CHECK_STR(g.dev.memories[1].name, "Option Bytes");
	CHECK_STR(g.dev.quirk->family, "STM32F2/F4");
	rig_close(&g);
}

static void out_of_range_image_erases_nothing(void)
{
	struct rig g;
	if (rig_open(&g, "F411"))
		return;
	size_t flash_size;
	uint8_t *flash = stm32_model_flash(g.model, &flash_size);
	memset(flash, 0x5A, flash_size);
	static uint8_t data[4096];
	/* the first segment fits, the second runs 16 bytes past the end of flash */
	struct mcu_ota_segment segs[] = {{0x08000000, 256, data},
	                                 {0x08000000 + (uint32_t)flash_size - 16, 32, data}};
	struct mcu_ota_image img = {2, segs};
	CHECK_INT(dfu_write(&g.dev, &img, &write_verify, g.err, sizeof(g.err)), -ERANGE);
	CHECK_CONTAINS(g.err, "cannot write 0x08080000");
	CHECK_CONTAINS(g.err, "outside the device's Internal Flash");
	for (size_t s = 0; s < flash_memory(&g)->sector_count; s++)
		CHECK_INT(stm32_model_erase_count(g.model, s), 0);
	CHECK(flash[0] == 0x5A && flash[flash_size - 1] == 0x5A);

	/* a read-only memory: nothing is written either */
	struct mcu_ota_write_options to_feature = {.alt = 3, .verify = true};
	struct mcu_ota_segment feature = {0xFFFF0000, 4, data};
	struct mcu_ota_image fimg = {1, &feature};
	int r = dfu_write(&g.dev, &fimg, &to_feature, g.err, sizeof(g.err));
	if (g.dev.info.memory_count > 3 &&
	    !(g.dev.memories[3].sectors[0].access & MCU_OTA_SECTOR_WRITABLE))
		CHECK_INT(r, -ERANGE);
	struct mcu_ota_write_options no_alt = {.alt = 9};
	CHECK_INT(dfu_write(&g.dev, &img, &no_alt, g.err, sizeof(g.err)), -EINVAL);
	CHECK_CONTAINS(g.err, "no alt setting 9");
	rig_close(&g);
}

static void unchanged_sectors_are_skipped(void)
{
	struct rig g;
	if (rig_open(&g, "F407"))
		return;
	const uint32_t len = 256 * 1024; /* sectors 0-5 */
	uint8_t *data = malloc(len);
	pattern(data, len, 0x08000000, 7);
	struct mcu_ota_segment seg = {0x08000000, len, data};
	struct mcu_ota_image img = {1, &seg};
	struct mcu_ota_write_options skip = {.verify = true, .skip_unchanged = true};
	CHECK_INT(dfu_write(&g.dev, &img, &skip, g.err, sizeof(g.err)), 0);
	uint64_t busy_first = stm32_model_busy_us(g.model);
	/* the same image again: nothing erased, nothing programmed */
	CHECK_INT(dfu_write(&g.dev, &img, &skip, g.err, sizeof(g.err)), 0);
	for (size_t s = 0; s < 6; s++)
		CHECK_INT(stm32_model_erase_count(g.model, s), 1);
	CHECK_INT(stm32_model_busy_us(g.model), busy_first);
	/* one byte changed in sector 4 (64 KiB at 0x08010000): only it is redone */
	data[0x10000 + 5] ^= 0xFF;
	CHECK_INT(dfu_write(&g.dev, &img, &skip, g.err, sizeof(g.err)), 0);
	for (size_t s = 0; s < 6; s++)
		CHECK_INT(stm32_model_erase_count(g.model, s), s == 4 ? 2 : 1);
	size_t flash_size;
	CHECK(memcmp(stm32_model_flash(g.model, &flash_size), data, len) == 0);
	/* without the option every touched sector is erased again */
	struct mcu_ota_write_options all = {.verify = true};
	CHECK_INT(dfu_write(&g.dev, &img, &all, g.err, sizeof(g.err)), 0);
	CHECK_INT(stm32_model_erase_count(g.model, 0), 2);
	free(data);
	rig_close(&g);
}

static void mass_erase_clears_the_whole_flash(void)
{
	struct rig g;
	if (rig_open(&g, "F072"))
		return;
	size_t flash_size;
	uint8_t *flash = stm32_model_flash(g.model, &flash_size);
	memset(flash, 0x11, flash_size);
	uint8_t data[300];
	pattern(data, sizeof(data), 0x08000000, 3);
	struct mcu_ota_segment seg = {0x08000000, sizeof(data), data};
	struct mcu_ota_image img = {1, &seg};
	struct mcu_ota_write_options mass = {.verify = true, .mass_erase = true};
	CHECK_INT(dfu_write(&g.dev, &img, &mass, g.err, sizeof(g.err)), 0);
	CHECK(memcmp(flash, data, sizeof(data)) == 0);
	CHECK(flash[flash_size - 1] == 0xFF);
	CHECK(flash[sizeof(data)] == 0xFF);
	rig_close(&g);
}

static void device_starting_in_error_is_cleared(void)
{
	struct rig g;
	struct stm32_model_options o = {.start_in_error = true};
	if (rig_open_with(&g, "F411", &o))
		return;
	uint8_t data[64];
	pattern(data, sizeof(data), 0x08000000, 4);
	struct mcu_ota_segment seg = {0x08000000, sizeof(data), data};
	struct mcu_ota_image img = {1, &seg};
	CHECK_INT(dfu_write(&g.dev, &img, &write_verify, g.err, sizeof(g.err)), 0);
	rig_close(&g);
}

static void read_protection_is_explained(void)
{
	struct rig g;
	struct stm32_model_options o = {.read_protected = true};
	if (rig_open_with(&g, "F407", &o))
		return;
	uint8_t data[64] = {0};
	struct mcu_ota_segment seg = {0x08000000, sizeof(data), data};
	struct mcu_ota_image img = {1, &seg};
	CHECK_INT(dfu_write(&g.dev, &img, &write_verify, g.err, sizeof(g.err)), -EACCES);
	CHECK_CONTAINS(g.err, "read protection (RDP level 1) is active");
	uint8_t buf[64];
	CHECK_INT(dfu_read(&g.dev, 0, 0x08000000, buf, sizeof(buf), g.err, sizeof(g.err)), -EACCES);
	CHECK_CONTAINS(g.err, "errVENDOR");
	rig_close(&g);
}

static void write_protected_sector_fails_verification(void)
{
	struct rig g;
	struct stm32_model_options o = {.write_protected_sectors = {1u << 1}};
	if (rig_open_with(&g, "F407", &o))
		return;
	uint32_t len = 32 * 1024; /* sectors 0 and 1 */
	uint8_t *data = malloc(len);
	pattern(data, len, 0x08000000, 5);
	struct mcu_ota_segment seg = {0x08000000, len, data};
	struct mcu_ota_image img = {1, &seg};
	/* the ROM reports success for the protected sector: only read-back shows it */
	struct mcu_ota_write_options blind = {.verify = false};
	CHECK_INT(dfu_write(&g.dev, &img, &blind, g.err, sizeof(g.err)), 0);
	CHECK_INT(dfu_write(&g.dev, &img, &write_verify, g.err, sizeof(g.err)), -EBADMSG);
	CHECK_CONTAINS(g.err, "verification failed at 0x08004000");
	CHECK_CONTAINS(g.err, "write-protected");
	free(data);
	rig_close(&g);
}

static struct mcu_ota_image big_image(uint8_t **data, uint32_t len, struct mcu_ota_segment *seg)
{
	*data = malloc(len);
	pattern(*data, len, 0x08000000, 6);
	*seg = (struct mcu_ota_segment){0x08000000, len, *data};
	return (struct mcu_ota_image){1, seg};
}

static void disconnect_mid_write_is_reported(void)
{
	struct rig g;
	if (rig_open(&g, "F407"))
		return;
	struct stm32_model_faults f = {.disconnect_at_block = 5};
	stm32_model_set_faults(g.model, &f);
	uint8_t *data;
	struct mcu_ota_segment seg;
	struct mcu_ota_image img = big_image(&data, 64 * 1024, &seg);
	CHECK_INT(dfu_write(&g.dev, &img, &write_verify, g.err, sizeof(g.err)), -ENODEV);
	CHECK_CONTAINS(g.err, "left the bus during writing at 0x0800");
	free(data);
	rig_close(&g);
}

/* A stall may hit any request of a write. F411 ROMs are known to stall
 * during downloads; on ECC flash (H743, G474, L4) a block must never be
 * programmed twice, so a stalled GETSTATUS is asked again, not resent. */
static void stalled_request_is_retried(void)
{
	static const char *const profiles[] = {"F411", "H743", "G474", "L4"};
	for (size_t p = 0; p < sizeof(profiles) / sizeof(*profiles); p++) {
		for (unsigned n = 1; n <= 60; n++) {
			struct rig g;
			if (rig_open(&g, profiles[p]))
				return;
			struct stm32_model_faults f = {.stall_request = n};
			stm32_model_set_faults(g.model, &f);
			uint8_t *data;
			struct mcu_ota_segment seg;
			struct mcu_ota_image img = big_image(&data, 8 * 1024, &seg);
			int r = dfu_write(&g.dev, &img, &write_verify, g.err, sizeof(g.err));
			if (r)
				fprintf(stderr, "%s, stall at request %u: %s\n", profiles[p], n,
				        g.err);
			CHECK_INT(r, 0);
			size_t size;
			CHECK(memcmp(stm32_model_flash(g.model, &size), data, seg.length) == 0);
			free(data);
			rig_close(&g);
		}
	}
}

static void flipped_bit_fails_verification(void)
{
	struct rig g;
	if (rig_open(&g, "G474"))
		return;
	struct stm32_model_faults f = {.flip_bit = true, .flip_bit_address = 0x08000123};
	stm32_model_set_faults(g.model, &f);
	uint8_t *data;
	struct mcu_ota_segment seg;
	struct mcu_ota_image img = big_image(&data, 4096, &seg);
	CHECK_INT(dfu_write(&g.dev, &img, &write_verify, g.err, sizeof(g.err)), -EBADMSG);
	CHECK_CONTAINS(g.err, "verification failed at 0x08000123");
	free(data);
	rig_close(&g);
}

static void erase_that_stays_busy_times_out(void)
{
	struct rig g;
	if (rig_open(&g, "H743"))
		return;
	g.quirk.busy_timeout_ms = 300; /* the real 6 s would only slow the test */
	struct stm32_model_faults f = {.erase_stays_busy = true};
	stm32_model_set_faults(g.model, &f);
	uint8_t *data;
	struct mcu_ota_segment seg;
	struct mcu_ota_image img = big_image(&data, 4096, &seg);
	uint64_t t0 = model_clock_ms(&g.clock);
	CHECK_INT(dfu_write(&g.dev, &img, &write_verify, g.err, sizeof(g.err)), -ETIMEDOUT);
	CHECK_CONTAINS(g.err, "did not finish erasing the sector at 0x08000000 within 300 ms");
	/* bounded: it gave up at its deadline, neither earlier nor later */
	CHECK_INT(model_clock_ms(&g.clock) - t0, 300);
	free(data);
	rig_close(&g);
}

static void l4_stall_while_busy_is_waited_out(void)
{
	struct rig g;
	/* datasheet time: each 2 KiB page erase runs while GETSTATUS stalls */
	struct stm32_model_options o = {.time_scale = 1.0};
	if (rig_open_with(&g, "L4", &o))
		return;
	CHECK(g.dev.quirk->stall_means_busy);
	CHECK_STR(g.dev.quirk->family, "STM32L4");
	uint8_t *data;
	struct mcu_ota_segment seg;
	struct mcu_ota_image img = big_image(&data, 3 * 2048, &seg);
	uint64_t t0 = model_clock_ms(&g.clock);
	int r = dfu_write(&g.dev, &img, &write_verify, g.err, sizeof(g.err));
	CHECK_INT(r, 0);
	if (r)
		fprintf(stderr, "L4: %s\n", g.err);
	/* 3 page erases and 3 blocks, about 22 ms each, each waited out with one
	 * pause of the ROM's 50 ms bwPollTimeout after GETSTATUS stalled: never
	 * reported done before the chip was, and not polled more slowly */
	uint64_t elapsed = model_clock_ms(&g.clock) - t0;
	CHECK(elapsed * 1000 >= stm32_model_busy_us(g.model));
	CHECK_INT(elapsed, 6 * 50);
	size_t size;
	CHECK(memcmp(stm32_model_flash(g.model, &size), data, seg.length) == 0);
	free(data);
	rig_close(&g);
}

static void read_and_leave(void)
{
	struct rig g;
	if (rig_open(&g, "F407"))
		return;
	size_t size;
	uint8_t *flash = stm32_model_flash(g.model, &size);
	pattern(flash, size, 0x08000000, 8);
	uint8_t buf[5000];
	CHECK_INT(dfu_read(&g.dev, 0, 0x08000100, buf, sizeof(buf), g.err, sizeof(g.err)), 0);
	CHECK(memcmp(buf, flash + 0x100, sizeof(buf)) == 0);
	CHECK_INT(dfu_read(&g.dev, 0, 0x080FFF00, buf, 512, g.err, sizeof(g.err)), -ERANGE);
	CHECK_CONTAINS(g.err, "cannot read 0x08100000");
	CHECK_INT(dfu_leave(&g.dev, 0x08000000, g.err, sizeof(g.err)), 0);
	CHECK(!stm32_model_connected(g.model));
	CHECK_INT(stm32_model_boot_address(g.model), 0x08000000);
	rig_close(&g);
}

/* A layout that promises more than the chip has: the device's own errTARGET
 * must reach the user as such, not as a generic failure. */
static void device_refusal_errtarget_is_explained(void)
{
	struct rig g;
	if (rig_open(&g, "F411"))
		return;
	struct mcu_ota_memory *m = &g.dev.memories[0];
	struct mcu_ota_sector *last = (struct mcu_ota_sector *)&m->sectors[m->sector_count - 1];
	uint32_t beyond = last->address + last->size;
	last->size *= 2; /* claims 128 KiB past the end of the F411's 512 KiB */
	uint8_t data[256] = {0};
	struct mcu_ota_segment seg = {beyond, sizeof(data), data};
	struct mcu_ota_image img = {1, &seg};
	CHECK_INT(dfu_write(&g.dev, &img, &write_verify, g.err, sizeof(g.err)), -ERANGE);
	CHECK_CONTAINS(g.err, "errTARGET");
	CHECK_CONTAINS(g.err, "outside its memory");
	/* the device was brought out of dfuERROR: the next operation works */
	uint8_t buf[16];
	CHECK_INT(dfu_read(&g.dev, 0, 0x08000000, buf, sizeof(buf), g.err, sizeof(g.err)), 0);
	rig_close(&g);
}

/* A device that reports dfuDNBUSY without holding the pipe (application
 * firmware with ST's DFU middleware does this) is asked again at its
 * bwPollTimeout pace, not hammered. */
struct polite_device {
	struct stm32_model *model;
	int phase; /* 1: DNLOAD sent, 2: the model said busy, fake answers follow */
	unsigned fake_busy, busy_left;
};

static int polite_control(void *ctx, uint8_t type, uint8_t req, uint16_t value, uint16_t index,
                          uint8_t *data, uint16_t len, unsigned timeout_ms)
{
	struct polite_device *p = ctx;
	bool getstatus = type == 0xA1 && req == 3;
	if (type == 0x21 && req == 1) {
		p->phase = 1;
	} else if (getstatus && p->phase == 2 && p->busy_left) {
		static const uint8_t busy[6] = {0, 20, 0, 0, 4 /* dfuDNBUSY, 20 ms */, 0};
		p->fake_busy++;
		p->busy_left--;
		memcpy(data, busy, sizeof(busy));
		return 6;
	}
	int r = stm32_model_control(p->model, type, req, value, index, data, len, timeout_ms);
	if (getstatus && p->phase == 1)
		p->phase = 2;
	return r;
}

static int polite_set_alt(void *ctx, uint8_t interface, uint8_t alt)
{
	struct polite_device *p = ctx;
	return model_transport(p->model).set_alt(p->model, interface, alt);
}

static void busy_without_holding_the_pipe_is_polled_at_its_pace(void)
{
	struct rig g;
	if (rig_open(&g, "F411"))
		return;
	struct polite_device p = {.model = g.model, .busy_left = 5};
	rig_wrap(&g, &p, polite_control, polite_set_alt);
	uint8_t data[64] = {1};
	struct mcu_ota_segment seg = {0x08000000, sizeof(data), data};
	struct mcu_ota_image img = {1, &seg};
	struct mcu_ota_write_options wo = {.verify = false};
	/* five extra busy answers, 20 ms apart each, on the first operation; the
	 * model works at once (time_scale 0), so those waits are all the time */
	uint64_t t0 = model_clock_ms(&g.clock);
	CHECK_INT(dfu_write(&g.dev, &img, &wo, g.err, sizeof(g.err)), 0);
	CHECK_INT(p.fake_busy, 5);
	/* each repeated busy answer waited its bwPollTimeout, and no more */
	CHECK_INT(model_clock_ms(&g.clock) - t0, 5 * 20);
	size_t size;
	CHECK(stm32_model_flash(g.model, &size)[0] == 1);
	rig_close(&g);
}

/* A transport that loses one DNLOAD on the way: the device never sees it and
 * answers the next GETSTATUS with dfuIDLE. Without verification nothing else
 * would notice, so the protocol itself must. */
struct lossy {
	struct stm32_model *model;
	unsigned dnloads, drop;
};

static int lossy_control(void *ctx, uint8_t type, uint8_t req, uint16_t value, uint16_t index,
                         uint8_t *data, uint16_t len, unsigned timeout_ms)
{
	struct lossy *l = ctx;
	if (type == 0x21 && req == 1 && ++l->dnloads == l->drop)
		return len; /* "sent", never arrived */
	return stm32_model_control(l->model, type, req, value, index, data, len, timeout_ms);
}

static int lossy_set_alt(void *ctx, uint8_t interface, uint8_t alt)
{
	struct lossy *l = ctx;
	return model_transport(l->model).set_alt(l->model, interface, alt);
}

static void a_lost_block_is_not_reported_as_written(void)
{
	struct rig g;
	if (rig_open(&g, "F407"))
		return;
	struct lossy l = {.model = g.model, .drop = 4}; /* erase, set address, block, block */
	rig_wrap(&g, &l, lossy_control, lossy_set_alt);
	uint8_t *data;
	struct mcu_ota_segment seg;
	struct mcu_ota_image img = big_image(&data, 8 * 1024, &seg);
	struct mcu_ota_write_options blind = {.verify = false};
	CHECK_INT(dfu_write(&g.dev, &img, &blind, g.err, sizeof(g.err)), -EIO);
	CHECK_CONTAINS(g.err, "did not take the request");
	free(data);
	rig_close(&g);
}

/* bwPollTimeout is the device's word, up to 4.6 hours: waits still end by
 * the deadline. */
struct sluggish {
	struct stm32_model *model;
	bool armed;
};

static int sluggish_control(void *ctx, uint8_t type, uint8_t req, uint16_t value, uint16_t index,
                            uint8_t *data, uint16_t len, unsigned timeout_ms)
{
	struct sluggish *s = ctx;
	if (s->armed && type == 0xA1 && req == 3) {
		static const uint8_t busy[6] = {0, 0xA0, 0x0F, 0, 4 /* dfuDNBUSY, 4000 ms */, 0};
		memcpy(data, busy, sizeof(busy));
		return 6;
	}
	if (type == 0x21 && req == 1)
		s->armed = true;
	return stm32_model_control(s->model, type, req, value, index, data, len, timeout_ms);
}

static int sluggish_set_alt(void *ctx, uint8_t interface, uint8_t alt)
{
	struct sluggish *s = ctx;
	return model_transport(s->model).set_alt(s->model, interface, alt);
}

static void a_huge_poll_timeout_does_not_outlast_the_deadline(void)
{
	struct rig g;
	if (rig_open(&g, "F407"))
		return;
	g.quirk.busy_timeout_ms = 300;
	struct sluggish sl = {.model = g.model};
	rig_wrap(&g, &sl, sluggish_control, sluggish_set_alt);
	uint8_t data[16] = {0};
	struct mcu_ota_segment seg = {0x08000000, sizeof(data), data};
	struct mcu_ota_image img = {1, &seg};
	uint64_t t0 = model_clock_ms(&g.clock);
	CHECK_INT(dfu_write(&g.dev, &img, &write_verify, g.err, sizeof(g.err)), -ETIMEDOUT);
	/* the 4000 ms poll wait was cut to the 300 ms left before the deadline */
	CHECK_INT(model_clock_ms(&g.clock) - t0, 300);
	CHECK_CONTAINS(g.err, "within 300 ms");
	rig_close(&g);
}

/* The dfuse plugin's family setting is checked against the family each
 * profile's bootloader is told by (its memory layout). */
static void family_setting_is_told_by_the_layout(void)
{
	static const struct {
		const char *profile, *yes, *no;
	} cases[] = {{"F407", "STM32F4", "STM32L4"},
	             {"F405", "stm32f2", "STM32H7"},
	             {"L4", "STM32L4", "STM32F4"},
	             {"H743", "H7", "STM32F407"}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct rig g;
		if (rig_open(&g, cases[i].profile))
			return;
		CHECK_INT(dfuse_quirk_family_is(g.dev.quirk, cases[i].yes), 1);
		CHECK_INT(dfuse_quirk_family_is(g.dev.quirk, cases[i].no), 0);
		rig_close(&g);
	}
	struct dfuse_quirk generic = {.family = "STM32 (generic DfuSe)"};
	CHECK_INT(dfuse_quirk_family_is(&generic, "STM32F4"), -1);
}

TEST_MAIN(TEST(describes_the_f407_as_the_rom_does), TEST(family_setting_is_told_by_the_layout),
          TEST(writes_every_profile), TEST(out_of_range_image_erases_nothing),
          TEST(unchanged_sectors_are_skipped), TEST(mass_erase_clears_the_whole_flash),
          TEST(device_starting_in_error_is_cleared), TEST(read_protection_is_explained),
          TEST(write_protected_sector_fails_verification), TEST(disconnect_mid_write_is_reported),
          TEST(stalled_request_is_retried), TEST(flipped_bit_fails_verification),
          TEST(erase_that_stays_busy_times_out), TEST(l4_stall_while_busy_is_waited_out),
          TEST(read_and_leave), TEST(device_refusal_errtarget_is_explained),
          TEST(busy_without_holding_the_pipe_is_polled_at_its_pace),
          TEST(a_lost_block_is_not_reported_as_written),
          TEST(a_huge_poll_timeout_does_not_outlast_the_deadline))
