/* The STM32 ROM model, driven with raw control requests the way a USB host
 * does (a tiny host below), pinning the behaviour of docs/protocol.md. */
#include "check.h"
#include "stm32_model.h"

#include <time.h>

#define OUT_CLASS 0x21
#define IN_CLASS  0xA1
#define TIMEOUT   5000

enum { DETACH, DNLOAD, UPLOAD, GETSTATUS, CLRSTATUS, GETSTATE, ABORT };

/* ---- a tiny host -------------------------------------------------------- */

struct status {
	int rc;
	uint8_t status, state;
	uint32_t poll;
};

static struct stm32_model *model_for(const char *name, const struct stm32_model_options *o)
{
	struct stm32_model_options def = {0};
	struct stm32_model *m = stm32_model_new(stm32_profile_find(name), o ? o : &def);
	CHECK(m != NULL);
	return m;
}

static int out(struct stm32_model *m, uint8_t req, uint16_t value, const void *data, uint16_t len)
{
	return stm32_model_control(m, OUT_CLASS, req, value, 0, (uint8_t *)data, len, TIMEOUT);
}

static struct status getstatus_t(struct stm32_model *m, unsigned timeout_ms)
{
	uint8_t b[6] = {0};
	struct status s = {0};
	s.rc = stm32_model_control(m, IN_CLASS, GETSTATUS, 0, 0, b, 6, timeout_ms);
	s.status = b[0];
	s.poll = (uint32_t)b[1] | (uint32_t)b[2] << 8 | (uint32_t)b[3] << 16;
	s.state = b[4];
	return s;
}

static struct status getstatus(struct stm32_model *m)
{
	return getstatus_t(m, TIMEOUT);
}

/* DNLOAD, then the two polls: the first must say dfuDNBUSY. Returns the
 * second poll (or the DNLOAD's error in rc). */
static struct status dnload_polled(struct stm32_model *m, uint16_t block, const void *data,
                                   uint16_t len)
{
	struct status s = {0};
	s.rc = out(m, DNLOAD, block, data, len);
	if (s.rc < 0)
		return s;
	s = getstatus(m);
	CHECK_INT(s.rc, 6);
	CHECK_INT(s.state, STM32_DFU_DNBUSY);
	if (s.rc != 6 || s.state != STM32_DFU_DNBUSY)
		return s;
	return getstatus(m);
}

static struct status command(struct stm32_model *m, uint8_t op, uint32_t address, bool with_address)
{
	uint8_t b[5] = {op, (uint8_t)address, (uint8_t)(address >> 8), (uint8_t)(address >> 16),
	                (uint8_t)(address >> 24)};
	return dnload_polled(m, 0, b, with_address ? 5 : 1);
}

static struct status set_address(struct stm32_model *m, uint32_t address)
{
	return command(m, 0x21, address, true);
}

static struct status erase(struct stm32_model *m, uint32_t address)
{
	return command(m, 0x41, address, true);
}

static void check_ok(struct status s)
{
	CHECK_INT(s.rc, 6);
	CHECK_INT(s.status, STM32_DFU_OK);
	CHECK_INT(s.state, STM32_DFU_DNLOAD_IDLE);
}

static void check_error(struct status s, uint8_t status)
{
	CHECK_INT(s.rc, 6);
	CHECK_INT(s.state, STM32_DFU_ERROR);
	CHECK_INT(s.status, status);
}

static int clear_status(struct stm32_model *m)
{
	return out(m, CLRSTATUS, 0, NULL, 0);
}

/* Write len bytes at address in transfer-size blocks. */
static struct status write_at(struct stm32_model *m, uint32_t address, const uint8_t *data,
                              size_t len, uint16_t xfer)
{
	struct status s = set_address(m, address);
	for (size_t off = 0; off < len && s.rc == 6 && s.status == 0; off += xfer) {
		size_t n = len - off < xfer ? len - off : xfer;
		s = dnload_polled(m, (uint16_t)(2 + off / xfer), data + off, (uint16_t)n);
	}
	return s;
}

/* Read-back as dfu-util and fwupd do it: Set Address, ABORT, UPLOAD 2, 3... */
static int read_at(struct stm32_model *m, uint32_t address, uint8_t *buf, size_t len, uint16_t xfer)
{
	struct status s = set_address(m, address);
	size_t done = 0;
	if (s.status != 0)
		return -1;
	CHECK_INT(out(m, ABORT, 0, NULL, 0), 0);
	CHECK_INT(getstatus(m).state, STM32_DFU_IDLE);
	for (uint16_t block = 2; done < len; block++) {
		size_t n = len - done < xfer ? len - done : xfer;
		int rc = stm32_model_control(m, IN_CLASS, UPLOAD, block, 0, buf + done, (uint16_t)n,
		                             TIMEOUT);
		if (rc < 0)
			return rc;
		done += (size_t)rc;
		if ((size_t)rc < n)
			break;
	}
	CHECK_INT(out(m, ABORT, 0, NULL, 0), 0);
	return (int)done;
}

static int get_descriptor(struct stm32_model *m, uint8_t type, uint8_t index, uint8_t *buf,
                          uint16_t len)
{
	return stm32_model_control(m, 0x80, 6, (uint16_t)(type << 8 | index), 0x0409, buf, len,
	                           TIMEOUT);
}

/* A string descriptor as ASCII; "" on failure. */
static const char *get_string(struct stm32_model *m, uint8_t index)
{
	static char s[128];
	uint8_t b[255];
	int rc = get_descriptor(m, 3, index, b, sizeof(b));
	s[0] = '\0';
	if (rc < 2 || b[1] != 3 || b[0] != rc)
		return s;
	for (int i = 0; i < (rc - 2) / 2 && i < 127; i++) {
		s[i] = (char)b[2 + 2 * i];
		s[i + 1] = '\0';
	}
	return s;
}

/* Virtual time for the timing tests: it moves only when the model waits (or a
 * test lets it pass), so what they measure is the model's own arithmetic and
 * never how busy the machine is (under ctest -j8 a real clock ran on while
 * the test was not scheduled, and an operation ended before its checks). */
static uint64_t vnow = 1000000000u;

static uint64_t vclock_now(void *ctx)
{
	(void)ctx;
	return vnow;
}

static void vclock_sleep_until(void *ctx, uint64_t when)
{
	(void)ctx;
	if (when > vnow)
		vnow = when;
}

static const struct stm32_model_clock vclock = {vclock_now, vclock_sleep_until, NULL};

static double ms_since(const uint64_t *t0)
{
	return (double)(vnow - *t0) / 1e6;
}

static void let_pass_ms(unsigned ms)
{
	vnow += (uint64_t)ms * 1000000u;
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 7 + seed * 13 + (i >> 8));
}

/* ---- profiles and descriptors ------------------------------------------- */

static void profiles_all_build_and_unknown_is_null(void)
{
	const char *const *names = stm32_profile_names();
	size_t count = 0;
	for (; names[count]; count++) {
		struct stm32_model *m = model_for(names[count], NULL);
		const struct stm32_profile *p = stm32_profile_find(names[count]);
		size_t size = 0;
		CHECK(stm32_model_flash(m, &size) != NULL);
		CHECK_INT(size, p->flash_size);
		CHECK_INT(p->vid, 0x0483);
		CHECK_INT(p->pid, 0xdf11);
		CHECK_INT(stm32_model_state(m), STM32_DFU_IDLE);
		stm32_model_free(m);
	}
	CHECK_INT(count, 7);
	CHECK(stm32_profile_find("F999") == NULL);
	CHECK(stm32_profile_find(NULL) == NULL);
	CHECK(stm32_model_new(NULL, NULL) == NULL);
	stm32_model_free(NULL);
}

static void device_descriptor_identifies_rom(void)
{
	static const struct {
		const char *name;
		uint16_t bcd;
	} cases[] = {
	    {"F407", 0x2200}, {"F072", 0x2200}, {"L4", 0x2200}, {"G474", 0x0200}, {"H743", 0x0200}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stm32_model *m = model_for(cases[i].name, NULL);
		uint8_t d[18];
		CHECK_INT(get_descriptor(m, 1, 0, d, 18), 18);
		CHECK_INT(d[0], 18);
		CHECK_INT(d[1], 1);
		CHECK_INT(d[2] | d[3] << 8, 0x0200);
		CHECK_INT(d[4], 0);
		CHECK_INT(d[7], 64);
		CHECK_INT(d[8] | d[9] << 8, 0x0483);
		CHECK_INT(d[10] | d[11] << 8, 0xdf11);
		CHECK_INT(d[12] | d[13] << 8, cases[i].bcd);
		CHECK_INT(d[14], 1);
		CHECK_INT(d[15], 2);
		CHECK_INT(d[16], 3);
		CHECK_INT(d[17], 1);
		/* a short read truncates, as USB does */
		CHECK_INT(get_descriptor(m, 1, 0, d, 8), 8);
		stm32_model_free(m);
	}
}

static void configuration_lists_alts_then_functional_descriptor(void)
{
	static const char *const f4_alts[] = {
	    "@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg",
	    "@Option Bytes  /0x1FFFC000/01*016 e",
	    "@OTP Memory /0x1FFF7800/01*512 e,01*016 e",
	    "@Device Feature/0xFFFF0000/01*004 e",
	};
	struct stm32_model *m = model_for("F407", NULL);
	uint8_t c[255];
	int rc = get_descriptor(m, 2, 0, c, 9);
	CHECK_INT(rc, 9);
	CHECK_INT(c[2] | c[3] << 8, 9 + 4 * 9 + 9);
	CHECK_INT(c[4], 1);
	rc = get_descriptor(m, 2, 0, c, sizeof(c));
	CHECK_INT(rc, 54);
	for (int alt = 0; alt < 4; alt++) {
		const uint8_t *i = c + 9 + 9 * alt;
		CHECK_INT(i[0], 9);
		CHECK_INT(i[1], 4);
		CHECK_INT(i[2], 0);
		CHECK_INT(i[3], alt);
		CHECK_INT(i[4], 0);
		CHECK_INT(i[5], 0xFE);
		CHECK_INT(i[6], 0x01);
		CHECK_INT(i[7], 0x02);
		CHECK_STR(get_string(m, i[8]), f4_alts[alt]);
	}
	const uint8_t *f = c + 45;
	CHECK_INT(f[0], 9);
	CHECK_INT(f[1], 0x21);
	CHECK_INT(f[2], 0x0B);
	CHECK_INT(f[3] | f[4] << 8, 255);
	CHECK_INT(f[5] | f[6] << 8, 2048);
	CHECK_INT(f[7] | f[8] << 8, 0x011A);
	stm32_model_free(m);

	m = model_for("G474", NULL);
	rc = get_descriptor(m, 2, 0, c, sizeof(c));
	CHECK_INT(rc, 9 + 2 * 9 + 9);
	CHECK_INT(c[27 + 5] | c[27 + 6] << 8, 1024);
	CHECK_STR(get_string(m, c[9 + 8]), "@Internal Flash   /0x08000000/256*02Kg");
	CHECK_STR(get_string(m, c[18 + 8]),
	          "@Option Bytes   /0x1FFF7800/01*048 e/0x1FFFF800/01*048 e");
	stm32_model_free(m);

	m = model_for("L4", NULL);
	rc = get_descriptor(m, 2, 0, c, sizeof(c));
	CHECK_STR(get_string(m, c[9 + 8]), "@Internal Flash  /0x08000000/0128*0002Kg");
	CHECK_STR(get_string(m, c[18 + 8]), "@Option Bytes  /0x1FFF7800/01*040 e");
	stm32_model_free(m);
}

static void strings_langid_manufacturer_product(void)
{
	struct stm32_model *m = model_for("F072", NULL);
	uint8_t b[8];
	CHECK_INT(get_descriptor(m, 3, 0, b, sizeof(b)), 4);
	CHECK_INT(b[2] | b[3] << 8, 0x0409);
	CHECK_STR(get_string(m, 1), "STMicroelectronics");
	CHECK_STR(get_string(m, 2), "STM32  BOOTLOADER");
	CHECK_STR(get_string(m, 4), "@Internal Flash  /0x08000000/064*0002Kg");
	CHECK_INT(get_descriptor(m, 3, 9, b, sizeof(b)), STM32_MODEL_STALL);
	CHECK_INT(get_descriptor(m, 6, 0, b, sizeof(b)), STM32_MODEL_STALL); /* qualifier */
	stm32_model_free(m);
	m = model_for("H743", NULL);
	CHECK_STR(get_string(m, 2), "DFU in FS Mode");
	CHECK_STR(get_string(m, 5), "@Option Bytes   /0x5200201C/01*128 e");
	stm32_model_free(m);
}

static void serial_is_12_hex_digits_derived_from_uid(void)
{
	/* UID words (little-endian): w0 0x00380041, w1 0x3236510B, w2 0x32353530:
	 * w0 + w2 = 0x326D3571, w1 >> 16 = 0x3236. */
	struct stm32_model_options o = {
	    .uid = {0x41, 0x00, 0x38, 0x00, 0x0B, 0x51, 0x36, 0x32, 0x30, 0x35, 0x35, 0x32}};
	struct stm32_model *a = model_for("F407", &o), *b = model_for("G474", &o);
	const char *s = stm32_model_serial(a);
	CHECK_INT(strlen(s), 12);
	for (size_t i = 0; i < 12; i++)
		CHECK((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F'));
	CHECK_STR(s, "326D35713236");
	CHECK_STR(get_string(a, 3), "326D35713236");
	CHECK_STR(stm32_model_serial(b), s);
	stm32_model_reset(a);
	CHECK_STR(get_string(a, 3), "326D35713236");
	o.uid[0] ^= 0x10;
	struct stm32_model *c = model_for("F407", &o);
	CHECK(strcmp(stm32_model_serial(c), s) != 0);
	stm32_model_free(a);
	stm32_model_free(b);
	stm32_model_free(c);
}

static void standard_requests_and_set_interface(void)
{
	struct stm32_model *m = model_for("F407", NULL);
	uint8_t b[2] = {0xEE, 0xEE};
	CHECK_INT(stm32_model_control(m, 0x80, 0, 0, 0, b, 2, TIMEOUT), 2);
	CHECK_INT(b[0] & 1, 1); /* self-powered */
	CHECK_INT(stm32_model_control(m, 0x80, 8, 0, 0, b, 1, TIMEOUT), 1);
	CHECK_INT(b[0], 1);
	CHECK_INT(stm32_model_control(m, 0x00, 9, 2, 0, NULL, 0, TIMEOUT), STM32_MODEL_STALL);
	CHECK_INT(stm32_model_control(m, 0x00, 9, 1, 0, NULL, 0, TIMEOUT), 0);
	CHECK_INT(stm32_model_control(m, 0x01, 11, 4, 0, NULL, 0, TIMEOUT), STM32_MODEL_STALL);
	CHECK_INT(stm32_model_control(m, 0x01, 11, 3, 0, NULL, 0, TIMEOUT), 0);
	CHECK_INT(stm32_model_control(m, 0x81, 10, 0, 0, b, 1, TIMEOUT), 1);
	CHECK_INT(b[0], 3);
	CHECK_INT(stm32_model_control(m, 0x00, 0x42, 0, 0, NULL, 0, TIMEOUT), STM32_MODEL_STALL);
	CHECK_INT(stm32_model_control(m, 0xC0, 1, 0, 0, b, 1, TIMEOUT), STM32_MODEL_STALL);
	stm32_model_free(m);
}

/* ---- state machine ------------------------------------------------------ */

static void get_commands_lists_dfuse_opcodes(void)
{
	struct stm32_model *m = model_for("F407", NULL);
	uint8_t b[16] = {0};
	CHECK_INT(stm32_model_control(m, IN_CLASS, UPLOAD, 0, 0, b, sizeof(b), TIMEOUT), 4);
	CHECK(memcmp(b, "\x00\x21\x41\x92", 4) == 0);
	CHECK_INT(stm32_model_state(m), STM32_DFU_UPLOAD_IDLE);
	CHECK_INT(stm32_model_control(m, IN_CLASS, GETSTATE, 0, 0, b, 1, TIMEOUT), 1);
	CHECK_INT(b[0], STM32_DFU_UPLOAD_IDLE);
	stm32_model_free(m);
}

static void first_getstatus_is_dnbusy_with_poll_timeout(void)
{
	struct stm32_model *m = model_for("F407", NULL);
	uint8_t cmd[5] = {0x21, 0x00, 0x00, 0x00, 0x08};
	CHECK_INT(out(m, DNLOAD, 0, cmd, 5), 5);
	CHECK_INT(stm32_model_state(m), STM32_DFU_DNLOAD_SYNC);
	struct status s = getstatus(m);
	CHECK_INT(s.state, STM32_DFU_DNBUSY);
	CHECK_INT(s.status, STM32_DFU_OK);
	CHECK_INT(s.poll, 100);
	s = getstatus(m);
	CHECK_INT(s.state, STM32_DFU_DNLOAD_IDLE);
	CHECK_INT(s.poll, 0);
	/* without the second poll the ROM is still in dfuDNLOAD-SYNC: DNLOAD stalls */
	CHECK_INT(out(m, DNLOAD, 0, cmd, 5), 5);
	getstatus(m);
	CHECK_INT(out(m, DNLOAD, 0, cmd, 5), STM32_MODEL_STALL);
	check_ok(getstatus(m));
	stm32_model_free(m);
}

static void requests_outside_their_states_stall(void)
{
	struct stm32_model *m = model_for("F407", NULL);
	uint8_t b[4096] = {0};
	check_ok(set_address(m, 0x08000000));
	/* dfuDNLOAD-IDLE: UPLOAD stalls */
	CHECK_INT(stm32_model_control(m, IN_CLASS, UPLOAD, 2, 0, b, 64, TIMEOUT),
	          STM32_MODEL_STALL);
	CHECK_INT(out(m, ABORT, 0, NULL, 0), 0);
	/* dfuUPLOAD-IDLE: DNLOAD stalls */
	CHECK_INT(stm32_model_control(m, IN_CLASS, UPLOAD, 2, 0, b, 64, TIMEOUT), 64);
	CHECK_INT(stm32_model_state(m), STM32_DFU_UPLOAD_IDLE);
	CHECK_INT(out(m, DNLOAD, 2, b, 64), STM32_MODEL_STALL);
	CHECK_INT(out(m, ABORT, 0, NULL, 0), 0);
	/* wValue 1, oversize blocks, other interfaces, wrong directions */
	CHECK_INT(out(m, DNLOAD, 1, b, 64), STM32_MODEL_STALL);
	CHECK_INT(stm32_model_control(m, IN_CLASS, UPLOAD, 1, 0, b, 64, TIMEOUT),
	          STM32_MODEL_STALL);
	CHECK_INT(out(m, DNLOAD, 2, b, 2049), STM32_MODEL_STALL);
	CHECK_INT(stm32_model_control(m, IN_CLASS, UPLOAD, 2, 0, b, 2049, TIMEOUT),
	          STM32_MODEL_STALL);
	CHECK_INT(stm32_model_control(m, OUT_CLASS, DNLOAD, 2, 1, b, 64, TIMEOUT),
	          STM32_MODEL_STALL);
	CHECK_INT(stm32_model_control(m, IN_CLASS, DNLOAD, 2, 0, b, 64, TIMEOUT),
	          STM32_MODEL_STALL);
	CHECK_INT(stm32_model_control(m, OUT_CLASS, 7, 0, 0, NULL, 0, TIMEOUT), STM32_MODEL_STALL);
	CHECK_INT(stm32_model_control(m, OUT_CLASS, DNLOAD, 2, 0, NULL, 64, TIMEOUT),
	          STM32_MODEL_STALL);
	CHECK_INT(stm32_model_state(m), STM32_DFU_IDLE);
	/* dfuERROR: DNLOAD, UPLOAD and ABORT stall, CLRSTATUS recovers */
	check_error(set_address(m, 0x10000000), STM32_DFU_ERR_TARGET);
	CHECK_INT(out(m, DNLOAD, 0, "\x21\0\0\0\x08", 5), STM32_MODEL_STALL);
	CHECK_INT(stm32_model_control(m, IN_CLASS, UPLOAD, 0, 0, b, 4, TIMEOUT), STM32_MODEL_STALL);
	CHECK_INT(out(m, ABORT, 0, NULL, 0), STM32_MODEL_STALL);
	CHECK_INT(clear_status(m), 0);
	CHECK_INT(getstatus(m).state, STM32_DFU_IDLE);
	stm32_model_free(m);
}

static void unknown_opcode_is_errstalledpkt(void)
{
	struct stm32_model *m = model_for("F407", NULL);
	CHECK_INT(out(m, DNLOAD, 0, "\x55\0\0\0\x08", 5), STM32_MODEL_STALL);
	check_error(getstatus(m), STM32_DFU_ERR_STALLEDPKT);
	CHECK_INT(clear_status(m), 0);
	/* a known opcode with a wrong length too */
	CHECK_INT(out(m, DNLOAD, 0, "\x21\0\0", 3), STM32_MODEL_STALL);
	check_error(getstatus(m), STM32_DFU_ERR_STALLEDPKT);
	stm32_model_free(m);
}

static void clrstatus_outside_error_is_errunknown(void)
{
	struct stm32_model *m = model_for("H743", NULL);
	CHECK_INT(clear_status(m), 0);
	check_error(getstatus(m), STM32_DFU_ERR_UNKNOWN);
	CHECK_INT(clear_status(m), 0);
	struct status s = getstatus(m);
	CHECK_INT(s.state, STM32_DFU_IDLE);
	CHECK_INT(s.status, STM32_DFU_OK);
	stm32_model_free(m);
}

static void start_in_error_needs_clrstatus(void)
{
	struct stm32_model_options o = {.start_in_error = true};
	struct stm32_model *m = model_for("F411", &o);
	uint8_t vt[8] = {0x00, 0x00, 0x02, 0x20, 0x99, 0x01, 0x00, 0x08};
	check_error(getstatus(m), STM32_DFU_ERR_FIRMWARE);
	CHECK_INT(out(m, DNLOAD, 0, "\x21\0\0\0\x08", 5), STM32_MODEL_STALL);
	CHECK_INT(clear_status(m), 0);
	CHECK_INT(getstatus(m).state, STM32_DFU_IDLE);
	check_ok(erase(m, 0x08000000));
	check_ok(write_at(m, 0x08000000, vt, sizeof(vt), 2048));
	stm32_model_reset(m); /* flash no longer blank: the ROM comes up idle */
	CHECK_INT(getstatus(m).state, STM32_DFU_IDLE);
	stm32_model_free(m);
}

/* ---- flash behaviour ---------------------------------------------------- */

static void erase_write_read_round_trip(void)
{
	struct stm32_model *m = model_for("F407", NULL);
	static uint8_t data[5000], back[5000];
	size_t size;
	uint8_t *flash = stm32_model_flash(m, &size);
	memset(flash, 0x00, size);
	fill(data, sizeof(data), 1);
	check_ok(erase(m, 0x08004000));
	CHECK_INT(stm32_model_erase_count(m, 1), 1);
	CHECK_INT(stm32_model_erase_count(m, 0), 0);
	for (size_t i = 0; i < 16384; i++)
		if (flash[0x4000 + i] != 0xFF) {
			CHECK_INT(flash[0x4000 + i], 0xFF);
			break;
		}
	CHECK_INT(flash[0x3FFF], 0x00);
	CHECK_INT(flash[0x8000], 0x00);
	check_ok(write_at(m, 0x08004000, data, sizeof(data), 2048));
	CHECK_INT(read_at(m, 0x08004000, back, sizeof(back), 2048), (int)sizeof(back));
	CHECK(memcmp(back, data, sizeof(data)) == 0);
	CHECK(memcmp(flash + 0x4000, data, sizeof(data)) == 0);
	CHECK_INT(flash[0x4000 + sizeof(data)], 0xFF);
	CHECK_INT(stm32_model_state(m), STM32_DFU_IDLE);
	stm32_model_free(m);
}

static void upload_past_the_end_is_a_short_packet(void)
{
	struct stm32_model *m = model_for("F407", NULL);
	uint8_t b[2048];
	check_ok(set_address(m, 0x080FFC00));
	CHECK_INT(out(m, ABORT, 0, NULL, 0), 0);
	CHECK_INT(stm32_model_control(m, IN_CLASS, UPLOAD, 2, 0, b, 2048, TIMEOUT), 1024);
	CHECK_INT(stm32_model_state(m), STM32_DFU_IDLE);
	stm32_model_free(m);
}

static void mass_erase_erases_every_sector(void)
{
	struct stm32_model *m = model_for("F411", NULL);
	size_t size;
	uint8_t *flash = stm32_model_flash(m, &size);
	memset(flash, 0x12, size);
	check_ok(command(m, 0x41, 0, false));
	CHECK_INT(stm32_model_sector_count(m), 8);
	for (size_t s = 0; s < 8; s++)
		CHECK_INT(stm32_model_erase_count(m, s), 1);
	CHECK_INT(flash[0], 0xFF);
	CHECK_INT(flash[size - 1], 0xFF);
	CHECK_INT(stm32_model_busy_us(m), 8000000);
	stm32_model_free(m);
}

static void f4_programming_only_clears_bits(void)
{
	struct stm32_model *m = model_for("F405", NULL);
	uint8_t a[4] = {0xF0, 0xF0, 0xFF, 0x00}, b[4] = {0x0F, 0x3C, 0xAA, 0xFF};
	uint8_t back[4];
	check_ok(write_at(m, 0x08000000, a, 4, 2048));
	check_ok(write_at(m, 0x08000000, b, 4, 2048)); /* no error: the F4 just ANDs */
	CHECK_INT(read_at(m, 0x08000000, back, 4, 2048), 4);
	CHECK_INT(back[0], 0x00);
	CHECK_INT(back[1], 0x30);
	CHECK_INT(back[2], 0xAA);
	CHECK_INT(back[3], 0x00);
	stm32_model_free(m);
}

static void check_erased_profiles_refuse_rewrites(void)
{
	static const char *const names[] = {"L4", "G474", "H743", "F072"};
	for (size_t i = 0; i < 4; i++) {
		struct stm32_model *m = model_for(names[i], NULL);
		const struct stm32_profile *p = stm32_profile_find(names[i]);
		uint8_t d[64], z[64] = {0};
		memset(d, 0x5A, sizeof(d));
		check_ok(write_at(m, 0x08000000, d, sizeof(d), p->transfer_size));
		check_error(write_at(m, 0x08000000, d, sizeof(d), p->transfer_size),
		            STM32_DFU_ERR_PROG);
		CHECK_INT(clear_status(m), 0);
		/* a partial word landing in a programmed word fails too */
		check_error(write_at(m, 0x08000000 + 64 - 1, d, 2, p->transfer_size),
		            STM32_DFU_ERR_PROG);
		CHECK_INT(stm32_model_flash(m, NULL)[64], 0xFF);
		CHECK_INT(clear_status(m), 0);
		/* all-zero over a programmed word is allowed (RM0394 "full zero") */
		check_ok(write_at(m, 0x08000000, z, sizeof(z), p->transfer_size));
		CHECK_INT(stm32_model_flash(m, NULL)[5], 0x00);
		/* erased again, it programs */
		check_ok(erase(m, 0x08000000));
		check_ok(write_at(m, 0x08000000, d, sizeof(d), p->transfer_size));
		stm32_model_free(m);
	}
}

static void addresses_outside_the_alt_are_errtarget(void)
{
	struct stm32_model *m = model_for("F407", NULL);
	uint8_t d[2048] = {0}, b[64];
	check_error(set_address(m, 0x07FFFFFF), STM32_DFU_ERR_TARGET);
	CHECK_INT(clear_status(m), 0);
	check_error(set_address(m, 0x08100000), STM32_DFU_ERR_TARGET);
	CHECK_INT(clear_status(m), 0);
	check_error(erase(m, 0x20000000), STM32_DFU_ERR_TARGET);
	CHECK_INT(clear_status(m), 0);
	/* a block that runs past the end of flash */
	check_ok(set_address(m, 0x080FF800));
	check_error(dnload_polled(m, 3, d, 2048), STM32_DFU_ERR_TARGET);
	CHECK_INT(clear_status(m), 0);
	/* the address map follows the selected alt */
	CHECK_INT(stm32_model_control(m, 0x01, 11, 1, 0, NULL, 0, TIMEOUT), 0);
	check_error(set_address(m, 0x08000000), STM32_DFU_ERR_TARGET);
	CHECK_INT(clear_status(m), 0);
	check_ok(set_address(m, 0x1FFFC000));
	/* option bytes are not erasable ('e') */
	check_error(erase(m, 0x1FFFC000), STM32_DFU_ERR_TARGET);
	CHECK_INT(clear_status(m), 0);
	CHECK_INT(stm32_model_control(m, 0x01, 11, 0, 0, NULL, 0, TIMEOUT), 0);
	/* upload from an address the alt does not map: stall + errTARGET; the
	 * pointer is still 0x1FFFC000 from alt 1 */
	CHECK_INT(stm32_model_control(m, IN_CLASS, UPLOAD, 2, 0, b, 64, TIMEOUT),
	          STM32_MODEL_STALL);
	check_error(getstatus(m), STM32_DFU_ERR_TARGET);
	stm32_model_free(m);
}

static void read_protection_answers_errvendor(void)
{
	struct stm32_model_options o = {.read_protected = true};
	struct stm32_model *m = model_for("F407", &o);
	uint8_t b[64];
	CHECK(stm32_model_read_protected(m));
	check_error(set_address(m, 0x08000000), STM32_DFU_ERR_VENDOR);
	CHECK_INT(clear_status(m), 0);
	check_error(erase(m, 0x08000000), STM32_DFU_ERR_VENDOR);
	CHECK_INT(clear_status(m), 0);
	check_error(command(m, 0x41, 0, false), STM32_DFU_ERR_VENDOR);
	CHECK_INT(clear_status(m), 0);
	check_error(dnload_polled(m, 2, b, 64), STM32_DFU_ERR_VENDOR);
	CHECK_INT(clear_status(m), 0);
	CHECK_INT(stm32_model_control(m, IN_CLASS, UPLOAD, 2, 0, b, 64, TIMEOUT),
	          STM32_MODEL_STALL);
	check_error(getstatus(m), STM32_DFU_ERR_VENDOR);
	CHECK_INT(clear_status(m), 0);
	/* Get Commands still works */
	CHECK_INT(stm32_model_control(m, IN_CLASS, UPLOAD, 0, 0, b, 4, TIMEOUT), 4);
	stm32_model_free(m);
}

static void read_unprotect_mass_erases_and_resets(void)
{
	struct stm32_model_options o = {.read_protected = true};
	struct stm32_model *m = model_for("F407", &o);
	size_t size;
	uint8_t *flash = stm32_model_flash(m, &size);
	memset(flash, 0x33, size);
	CHECK_INT(out(m, DNLOAD, 0, "\x92", 1), 1);
	struct status s = getstatus(m);
	CHECK_INT(s.state, STM32_DFU_DNBUSY);
	/* no second GETSTATUS: the chip resets */
	CHECK_INT(getstatus(m).rc, STM32_MODEL_GONE);
	CHECK(!stm32_model_connected(m));
	CHECK_INT(stm32_model_gone_reason(m), STM32_MODEL_SELF_RESET);
	CHECK_INT(flash[0], 0xFF);
	CHECK_INT(flash[size - 1], 0xFF);
	stm32_model_reset(m);
	CHECK(!stm32_model_read_protected(m));
	check_ok(set_address(m, 0x08000000));
	stm32_model_free(m);
}

static void write_protected_sectors_succeed_silently(void)
{
	struct stm32_model_options o = {.write_protected_sectors = {0x1}};
	struct stm32_model *m = model_for("F407", &o);
	uint8_t d[2048], back[2048];
	uint8_t *flash = stm32_model_flash(m, NULL);
	fill(d, sizeof(d), 3);
	memset(flash, 0x77, 0x4000); /* an old image in sector 0 */
	check_ok(erase(m, 0x08000000));
	CHECK_INT(flash[0], 0x77);
	CHECK_INT(stm32_model_erase_count(m, 0), 0);
	check_ok(write_at(m, 0x08000000, d, sizeof(d), 2048));
	CHECK_INT(read_at(m, 0x08000000, back, sizeof(back), 2048), 2048);
	CHECK_INT(back[0], 0x77); /* unchanged, not even ANDed */
	CHECK(memcmp(back, d, sizeof(d)) != 0);
	/* sector 1 is not protected */
	check_ok(write_at(m, 0x08004000, d, sizeof(d), 2048));
	CHECK(memcmp(flash + 0x4000, d, sizeof(d)) == 0);
	stm32_model_free(m);
}

static void option_otp_and_feature_alts_are_memories(void)
{
	struct stm32_model *m = model_for("F407", NULL);
	uint8_t b[16], w[16];
	/* option bytes: RDP level 0 (0xAA) in byte 1 */
	CHECK_INT(stm32_model_control(m, 0x01, 11, 1, 0, NULL, 0, TIMEOUT), 0);
	CHECK_INT(read_at(m, 0x1FFFC000, b, 16, 2048), 16);
	CHECK_INT(b[1], 0xAA);
	/* OTP is AND-only and keeps data */
	CHECK_INT(stm32_model_control(m, 0x01, 11, 2, 0, NULL, 0, TIMEOUT), 0);
	memset(w, 0xF0, sizeof(w));
	check_ok(write_at(m, 0x1FFF7800, w, 16, 2048));
	memset(w, 0x3C, sizeof(w));
	check_ok(write_at(m, 0x1FFF7800, w, 16, 2048));
	CHECK_INT(read_at(m, 0x1FFF7800, b, 16, 2048), 16);
	CHECK_INT(b[0], 0x30);
	CHECK_INT(read_at(m, 0x1FFF7A00, b, 16, 2048), 16); /* the lock bytes segment */
	/* device feature */
	CHECK_INT(stm32_model_control(m, 0x01, 11, 3, 0, NULL, 0, TIMEOUT), 0);
	CHECK_INT(read_at(m, 0xFFFF0000, b, 4, 2048), 4);
	/* writing the option bytes: RDP -> level 1, the chip resets after the first poll */
	CHECK_INT(stm32_model_control(m, 0x01, 11, 1, 0, NULL, 0, TIMEOUT), 0);
	check_ok(set_address(m, 0x1FFFC000));
	memset(w, 0xFF, sizeof(w));
	w[1] = 0x55;
	CHECK_INT(out(m, DNLOAD, 2, w, 16), 16);
	CHECK_INT(getstatus(m).state, STM32_DFU_DNBUSY);
	CHECK_INT(getstatus(m).rc, STM32_MODEL_GONE);
	CHECK_INT(stm32_model_gone_reason(m), STM32_MODEL_SELF_RESET);
	stm32_model_reset(m);
	CHECK(stm32_model_read_protected(m));
	check_error(set_address(m, 0x08000000), STM32_DFU_ERR_VENDOR);
	stm32_model_free(m);

	/* G474: two address groups in one alt */
	m = model_for("G474", NULL);
	CHECK_INT(stm32_model_control(m, 0x01, 11, 1, 0, NULL, 0, TIMEOUT), 0);
	CHECK_INT(read_at(m, 0x1FFFF800, b, 16, 1024), 16);
	CHECK_INT(read_at(m, 0x1FFF7800, b, 16, 1024), 16);
	CHECK_INT(b[0], 0xAA);
	check_error(set_address(m, 0x1FFF7830), STM32_DFU_ERR_TARGET);
	stm32_model_free(m);
}

static void layout_strings_parse_or_are_refused(void)
{
	static const char *const bad[] = {
	    "Internal Flash  /0x08000000/1*1Mg",    /* no '@' */
	    "@Internal Flash",                      /* no address */
	    "@Internal Flash  /08000000/1*1Mg",     /* no 0x */
	    "@Internal Flash  /0x08000000/1*1Mz",   /* bad type letter */
	    "@Internal Flash  /0x08000000/1*1M",    /* no type */
	    "@Internal Flash  /0x08000000/1*1Mg,",  /* dangling comma */
	    "@Internal Flash  /0x08000000/1*1Mg x", /* trailing garbage */
	    "@Internal Flash  /0x08000000/0*1Mg",   /* empty segment */
	    "@Internal Flash  /0xFFFFF000/2*4Kg",   /* past 4 GiB */
	    "@Internal Flash  /0x08000000/99999999999999999999999*1Kg",
	    "@Internal Flash  /0x1000000000/1*1Mg", /* address beyond 32 bits */
	    "@Internal Flash  /0x08000000/64*1Mg",  /* beyond the model's limit */
	    "@Internal Flash  /0x08000000/1*512Kg", /* not the profile's flash_size */
	    NULL,
	};
	struct stm32_profile p = *stm32_profile_find("F407");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p.alts[0].descriptor = bad[i];
		struct stm32_model *m = stm32_model_new(&p, NULL);
		if (m)
			fprintf(stderr, "accepted: %s\n", bad[i] ? bad[i] : "(null)");
		CHECK(m == NULL);
		stm32_model_free(m);
	}
	/* 'M' multiplier, hex digits in either case, a size the erase table lacks */
	p.alts[0].descriptor = "@Internal Flash  /0x0800000a/1*1Mg";
	p.flash_base = 0x0800000A;
	struct stm32_model *m = stm32_model_new(&p, NULL);
	CHECK(m != NULL);
	CHECK_INT(stm32_model_sector_count(m), 1);
	check_ok(erase(m, 0x0800000A));
	CHECK_INT(stm32_model_busy_us(m), 7813 * 1024); /* erase_us_per_kib * KiB */
	stm32_model_free(m);
	p.transfer_size = 0;
	CHECK(stm32_model_new(&p, NULL) == NULL);
}

static void writes_cross_sector_and_segment_boundaries(void)
{
	/* sector 3 (16 KiB, first segment) ends at 0x08010000 where sector 4
	 * (64 KiB, second segment) starts; sector 4 is write-protected */
	struct stm32_model_options o = {.write_protected_sectors = {1u << 4}};
	struct stm32_model *m = model_for("F407", &o);
	uint8_t d[2048], back[2048];
	uint8_t *flash = stm32_model_flash(m, NULL);
	struct stm32_model_faults none = {0};
	fill(d, sizeof(d), 11);
	stm32_model_set_faults(m, NULL);
	stm32_model_set_faults(m, &none);
	check_ok(write_at(m, 0x0800FC00, d, sizeof(d), 2048));
	CHECK(memcmp(flash + 0xFC00, d, 1024) == 0);
	CHECK_INT(flash[0x10000], 0xFF);
	CHECK_INT(read_at(m, 0x0800FC00, back, sizeof(back), 2048), 2048);
	CHECK(memcmp(back, d, 1024) == 0);
	stm32_model_free(m);
	m = model_for("F407", NULL);
	check_ok(write_at(m, 0x0800FC00, d, sizeof(d), 2048));
	CHECK(memcmp(stm32_model_flash(m, NULL) + 0xFC00, d, sizeof(d)) == 0);
	uint8_t ob[4];
	CHECK_INT(stm32_model_read(m, 0, 0x0800FC00, back, 2048), 0);
	CHECK(memcmp(back, d, sizeof(d)) == 0);
	CHECK_INT(stm32_model_read(m, 1, 0x1FFFC000, ob, 4), 0);
	CHECK_INT(ob[1], 0xAA);
	CHECK(stm32_model_read(m, 1, 0x1FFFC00E, ob, 4) < 0);
	CHECK(stm32_model_read(m, 4, 0x1FFFC000, ob, 4) < 0);
	stm32_model_free(m);
}

/* ---- timing ------------------------------------------------------------- */

static void host_timeout_is_honoured_while_busy(void)
{
	/* 16 KiB erase = 250 ms; at 0.8 it holds the pipe ~200 ms */
	struct stm32_model_options o = {.time_scale = 0.8, .clock = &vclock};
	struct stm32_model *m = model_for("F407", &o);
	uint64_t t0;
	CHECK_INT(out(m, DNLOAD, 0, "\x41\0\0\0\x08", 5), 5);
	t0 = vnow;
	CHECK_INT(getstatus(m).state, STM32_DFU_DNBUSY);
	CHECK_INT(getstatus_t(m, 50).rc, STM32_MODEL_TIMEDOUT);
	double ms = ms_since(&t0);
	CHECK(ms >= 49 && ms < 180);
	check_ok(getstatus_t(m, 1000));
	ms = ms_since(&t0);
	CHECK(ms >= 195 && ms < 1000);
	CHECK_INT(stm32_model_erase_count(m, 0), 1);
	stm32_model_free(m);
}

static void l4_stalls_getstatus_while_busy(void)
{
	/* 2 KiB page erase = 22.02 ms; at 5.0 about 110 ms */
	struct stm32_model_options o = {.time_scale = 5.0, .clock = &vclock};
	struct stm32_model *m = model_for("L4", &o);
	uint64_t t0;
	CHECK_INT(out(m, DNLOAD, 0, "\x41\0\0\0\x08", 5), 5);
	t0 = vnow;
	struct status s = getstatus(m);
	CHECK_INT(s.state, STM32_DFU_DNBUSY);
	CHECK_INT(s.poll, 50);
	CHECK_INT(getstatus(m).rc, STM32_MODEL_STALL);
	CHECK(ms_since(&t0) < 80); /* the stall is immediate */
	let_pass_ms(150);
	check_ok(getstatus(m));
	stm32_model_free(m);
}

static void busy_us_counts_physical_time(void)
{
	struct stm32_model *m = model_for("F407", NULL);
	uint8_t d[4096] = {0};
	check_ok(erase(m, 0x08000000));
	CHECK_INT(stm32_model_busy_us(m), 250000);
	check_ok(erase(m, 0x08010000)); /* 64 KiB */
	CHECK_INT(stm32_model_busy_us(m), 800000);
	check_ok(erase(m, 0x08020000)); /* 128 KiB */
	CHECK_INT(stm32_model_busy_us(m), 1800000);
	check_ok(write_at(m, 0x08000000, d, 4096, 2048)); /* 2 x 512 words x 16 us */
	CHECK_INT(stm32_model_busy_us(m), 1800000 + 16384);
	check_ok(write_at(m, 0x08004000, d, 10, 2048)); /* ceil(10/4) words */
	CHECK_INT(stm32_model_busy_us(m), 1800000 + 16384 + 48);
	check_ok(set_address(m, 0x08000000)); /* costs nothing */
	CHECK_INT(stm32_model_busy_us(m), 1800000 + 16384 + 48);
	stm32_model_free(m);

	m = model_for("L4", NULL);
	check_ok(write_at(m, 0x08000000, d, 2048, 2048)); /* 256 double words x 82 us */
	CHECK_INT(stm32_model_busy_us(m), 256 * 82);
	stm32_model_free(m);
	m = model_for("H743", NULL);
	check_ok(erase(m, 0x08000000));
	check_ok(write_at(m, 0x08000000, d, 1024, 1024)); /* 32 flash words x 130 us */
	CHECK_INT(stm32_model_busy_us(m), 1100000 + 32 * 130);
	stm32_model_free(m);
}

/* ---- faults ------------------------------------------------------------- */

static void fault_stalls_the_nth_request(void)
{
	struct stm32_model *m = model_for("F407", NULL);
	struct stm32_model_faults f = {.stall_request = 3};
	stm32_model_set_faults(m, &f);
	CHECK_INT(out(m, DNLOAD, 0, "\x21\0\0\0\x08", 5), 5); /* 1 */
	CHECK_INT(getstatus(m).state, STM32_DFU_DNBUSY);      /* 2 */
	CHECK_INT(getstatus(m).rc, STM32_MODEL_STALL);        /* 3 */
	check_ok(getstatus(m));                               /* 4 */
	stm32_model_free(m);
}

static void fault_disconnects_at_the_nth_block(void)
{
	struct stm32_model *m = model_for("F407", NULL);
	struct stm32_model_faults f = {.disconnect_at_block = 2};
	uint8_t d[4096];
	uint8_t *flash = stm32_model_flash(m, NULL);
	fill(d, sizeof(d), 5);
	stm32_model_set_faults(m, &f);
	struct status s = write_at(m, 0x08000000, d, sizeof(d), 2048);
	CHECK_INT(s.rc, STM32_MODEL_GONE);
	CHECK(!stm32_model_connected(m));
	CHECK_INT(stm32_model_gone_reason(m), STM32_MODEL_FAULT_GONE);
	CHECK(memcmp(flash, d, 2048) == 0);
	CHECK_INT(flash[2048], 0xFF);
	CHECK_INT(getstatus(m).rc, STM32_MODEL_GONE);
	stm32_model_reset(m);
	CHECK(stm32_model_connected(m));
	CHECK_INT(getstatus(m).state, STM32_DFU_IDLE);
	stm32_model_free(m);
}

static void fault_flips_a_bit_after_programming(void)
{
	struct stm32_model *m = model_for("F407", NULL);
	struct stm32_model_faults f = {.flip_bit = true, .flip_bit_address = 0x08000810};
	uint8_t d[4096], back[4096];
	fill(d, sizeof(d), 9);
	stm32_model_set_faults(m, &f);
	check_ok(write_at(m, 0x08000000, d, sizeof(d), 2048));
	CHECK_INT(read_at(m, 0x08000000, back, sizeof(back), 2048), 4096);
	for (size_t i = 0; i < sizeof(d); i++)
		if (i == 0x810)
			CHECK_INT(back[i], d[i] ^ 1);
		else if (back[i] != d[i])
			CHECK_INT(back[i], d[i]);
	stm32_model_free(m);
}

static void fault_erase_stays_busy(void)
{
	struct stm32_model_options o = {.time_scale = 1.0, .clock = &vclock};
	struct stm32_model *m = model_for("H743", &o);
	struct stm32_model_faults f = {.erase_stays_busy = true};
	uint64_t t0;
	stm32_model_set_faults(m, &f);
	CHECK_INT(out(m, DNLOAD, 0, "\x41\0\0\0\x08", 5), 5);
	CHECK_INT(getstatus(m).state, STM32_DFU_DNBUSY);
	t0 = vnow;
	CHECK_INT(getstatus_t(m, 20).rc, STM32_MODEL_TIMEDOUT);
	CHECK_INT(getstatus_t(m, 20).rc, STM32_MODEL_TIMEDOUT);
	CHECK(ms_since(&t0) >= 39);
	CHECK_INT(stm32_model_control(m, IN_CLASS, GETSTATE, 0, 0, (uint8_t[1]){0}, 1, 0),
	          STM32_MODEL_TIMEDOUT);
	CHECK_INT(stm32_model_state(m), STM32_DFU_DNBUSY);
	CHECK_INT(stm32_model_busy_us(m), 0);
	stm32_model_reset(m);
	CHECK_INT(getstatus(m).state, STM32_DFU_IDLE);
	stm32_model_free(m);
}

/* ---- leave -------------------------------------------------------------- */

static void leave_boots_the_pointer_and_reset_comes_back(void)
{
	struct stm32_model *m = model_for("F407", NULL);
	/* MSP 0x20020000, reset handler 0x08000199 */
	uint8_t vt[8] = {0x00, 0x00, 0x02, 0x20, 0x99, 0x01, 0x00, 0x08};
	check_ok(write_at(m, 0x08000000, vt, sizeof(vt), 2048));
	check_ok(set_address(m, 0x08000000));
	CHECK_INT(out(m, DNLOAD, 2, NULL, 0), 0);
	CHECK_INT(stm32_model_state(m), STM32_DFU_MANIFEST_SYNC);
	struct status s = getstatus(m);
	CHECK_INT(s.rc, 6);
	CHECK_INT(s.state, STM32_DFU_MANIFEST);
	CHECK(!stm32_model_connected(m));
	CHECK_INT(stm32_model_gone_reason(m), STM32_MODEL_LEFT_DFU);
	CHECK_INT(stm32_model_boot_address(m), 0x08000000);
	CHECK(stm32_model_app_valid(m));
	CHECK_INT(getstatus(m).rc, STM32_MODEL_GONE);
	stm32_model_reset(m);
	CHECK(stm32_model_connected(m));
	CHECK_INT(getstatus(m).state, STM32_DFU_IDLE);
	CHECK_INT(stm32_model_flash(m, NULL)[4], 0x99);
	stm32_model_free(m);

	/* a blank chip: the vector table is not plausible */
	m = model_for("G474", NULL);
	CHECK_INT(out(m, DNLOAD, 0, NULL, 0), 0);
	CHECK_INT(getstatus(m).state, STM32_DFU_MANIFEST);
	CHECK(!stm32_model_app_valid(m));
	stm32_model_free(m);
}

/* ---- the chip of the VM rig --------------------------------------------- */

static void vector_table_is_checked_where_the_core_boots(void)
{
	struct stm32_model *m = model_for("F072", NULL);
	uint8_t *flash = stm32_model_flash(m, NULL);
	/* MSP at the very end of the F072's 16 KiB SRAM, reset handler Thumb */
	memcpy(flash, (uint8_t[]){0x00, 0x40, 0x00, 0x20, 0xC1, 0x00, 0x00, 0x08}, 8);
	CHECK(stm32_model_vector_valid(m, 0x08000000));
	flash[4] = 0xC0; /* an even reset handler is not Thumb code */
	CHECK(!stm32_model_vector_valid(m, 0x08000000));
	flash[4] = 0xC1;
	flash[1] = 0x41; /* MSP one page past the end of SRAM */
	CHECK(!stm32_model_vector_valid(m, 0x08000000));
	flash[1] = 0x40;
	flash[7] = 0x09; /* reset handler outside flash */
	CHECK(!stm32_model_vector_valid(m, 0x08000000));
	CHECK(!stm32_model_vector_valid(m, 0x08020000)); /* past the end of flash */
	CHECK(!stm32_model_vector_valid(m, 0x08000800)); /* erased */
	stm32_model_free(m);
}

static void version_marker_is_found_after_the_address(void)
{
	struct stm32_model *m = model_for("F407", NULL);
	size_t size;
	uint8_t *flash = stm32_model_flash(m, &size);
	char v[STM32_MODEL_VERSION_MAX + 1];
	CHECK_INT(stm32_model_app_version(m, 0x08000000, v, sizeof(v)), -ENOENT);
	CHECK_STR(v, "");
	/* a marker without a NUL, then one with an unprintable byte, then the real one */
	memcpy(flash + 0x100, "MCUOTA-VERSION:1.0", 18);
	memcpy(flash + 0x200, "MCUOTA-VERSION:1\x01", 18);
	memcpy(flash + 0x300, "MCUOTA-VERSION:2.0.0-rc1", 25);
	CHECK_INT(stm32_model_app_version(m, 0x08000000, v, sizeof(v)), 0);
	CHECK_STR(v, "2.0.0-rc1");
	CHECK_INT(stm32_model_app_version(m, 0x08000400, v, sizeof(v)), -ENOENT);
	CHECK_INT(stm32_model_app_version(m, 0x08000000, v, 4), -EINVAL);
	/* 31 characters are a version, 32 are not */
	memset(flash + 0x300 + 15, 'x', 31);
	flash[0x300 + 15 + 31] = 0;
	CHECK_INT(stm32_model_app_version(m, 0x08000000, v, sizeof(v)), 0);
	CHECK_INT(strlen(v), 31);
	flash[0x300 + 15 + 31] = 'x';
	CHECK_INT(stm32_model_app_version(m, 0x08000000, v, sizeof(v)), -ENOENT);
	/* at the very end of flash */
	memcpy(flash + size - 18, "MCUOTA-VERSION:9\0", 17);
	CHECK_INT(stm32_model_app_version(m, 0x08000000, v, sizeof(v)), 0);
	CHECK_STR(v, "9");
	CHECK_INT(stm32_model_app_version(m, 0x07FFFFFF, v, sizeof(v)), -ENOENT);
	stm32_model_free(m);
}

static void wait_idle_holds_in_slices_and_counts_the_request_once(void)
{
	struct stm32_model_options o = {.time_scale = 0.2,
	                                .clock = &vclock}; /* 16 KiB erase: 50 ms */
	struct stm32_model *m = model_for("F407", &o);
	uint64_t t0;
	CHECK(stm32_model_wait_idle(m, 0));
	CHECK_INT(out(m, DNLOAD, 0, "\x41\0\0\0\x08", 5), 5);
	CHECK_INT(getstatus(m).state, STM32_DFU_DNBUSY);
	/* the GETSTATUS that the ROM holds is the 1st request from here */
	struct stm32_model_faults f = {.stall_request = 2};
	stm32_model_set_faults(m, &f);
	t0 = vnow;
	CHECK(!stm32_model_wait_idle(m, 5));
	CHECK(!stm32_model_wait_idle(m, 5));
	unsigned slices = 2;
	while (!stm32_model_wait_idle(m, 5))
		slices++;
	CHECK(slices >= 8);
	CHECK(ms_since(&t0) >= 45);
	t0 = vnow;
	struct status s = getstatus_t(m, 0);
	CHECK(ms_since(&t0) < 20);
	CHECK_INT(s.rc, 6);
	CHECK_INT(s.state, STM32_DFU_DNLOAD_IDLE);
	/* the 2nd request is the one the fault stalls */
	CHECK_INT(getstatus(m).rc, STM32_MODEL_STALL);
	stm32_model_free(m);

	/* an operation that never ends is never idle, and waiting is bounded */
	m = model_for("F407", &o);
	struct stm32_model_faults forever = {.erase_stays_busy = true};
	stm32_model_set_faults(m, &forever);
	CHECK_INT(out(m, DNLOAD, 0, "\x41\0\0\0\x08", 5), 5);
	CHECK_INT(getstatus(m).state, STM32_DFU_DNBUSY);
	t0 = vnow;
	CHECK(!stm32_model_wait_idle(m, 10));
	CHECK(!stm32_model_wait_idle(m, 0));
	CHECK(ms_since(&t0) >= 9 && ms_since(&t0) < 1000);
	stm32_model_reset(m);
	CHECK(stm32_model_wait_idle(m, 0));
	stm32_model_free(m);
	CHECK(stm32_model_wait_idle(NULL, 0));
}

static void idle_tick_completes_operations_and_self_resets(void)
{
	struct stm32_model_options o = {
	    .read_protected = true, .time_scale = 0.01, .clock = &vclock};
	struct stm32_model *m = model_for("F407", &o);
	uint64_t t0;
	CHECK_INT(out(m, DNLOAD, 0, "\x92", 1), 1);
	CHECK_INT(getstatus(m).state, STM32_DFU_DNBUSY);
	/* mass erase: 8 s at time scale 1, 80 ms here */
	CHECK(stm32_model_idle_tick(m));
	CHECK(stm32_model_connected(m));
	t0 = vnow;
	while (stm32_model_idle_tick(m) && ms_since(&t0) < 2000)
		let_pass_ms(1);
	CHECK(!stm32_model_connected(m));
	CHECK(ms_since(&t0) >= 50);
	CHECK_INT(stm32_model_gone_reason(m), STM32_MODEL_SELF_RESET);
	CHECK(!stm32_model_idle_tick(m));
	stm32_model_free(m);

	/* an ordinary erase completes silently: the next GETSTATUS says idle */
	o.read_protected = false;
	m = model_for("F407", &o);
	CHECK_INT(out(m, DNLOAD, 0, "\x41\0\0\0\x08", 5), 5);
	CHECK_INT(getstatus(m).state, STM32_DFU_DNBUSY);
	while (!stm32_model_wait_idle(m, 1))
		;
	CHECK(stm32_model_idle_tick(m));
	CHECK_INT(stm32_model_state(m), STM32_DFU_DNLOAD_SYNC);
	struct status s = getstatus_t(m, 0);
	CHECK_INT(s.state, STM32_DFU_DNLOAD_IDLE);
	CHECK_INT(s.status, STM32_DFU_OK);
	stm32_model_free(m);
	CHECK(!stm32_model_idle_tick(NULL));
}

static void sector_info_walks_the_layout(void)
{
	struct stm32_model *m = model_for("F407", NULL);
	uint32_t a = 0, sz = 0, next = 0x08000000;
	CHECK_INT(stm32_model_sector_count(m), 12);
	for (size_t i = 0; i < 12; i++) {
		CHECK_INT(stm32_model_sector_info(m, i, &a, &sz), 0);
		CHECK_INT(a, next);
		CHECK_INT(sz, i < 4 ? 16384 : i == 4 ? 65536 : 131072);
		next = a + sz;
	}
	CHECK_INT(next, 0x08100000);
	CHECK_INT(stm32_model_sector_info(m, 12, &a, &sz), -EINVAL);
	CHECK_INT(stm32_model_sector_info(NULL, 0, &a, &sz), -EINVAL);
	stm32_model_free(m);
	m = model_for("G474", NULL);
	CHECK_INT(stm32_model_sector_info(m, 255, &a, &sz), 0);
	CHECK_INT(a, 0x0807F800);
	CHECK_INT(sz, 2048);
	stm32_model_free(m);
}

/* ---- robustness --------------------------------------------------------- */

static void random_requests_never_crash(void)
{
	const char *const *names = stm32_profile_names();
	static uint8_t buf[65536];
	uint32_t x = 12345;
	for (size_t p = 0; names[p]; p++) {
		struct stm32_model *m = model_for(names[p], NULL);
		for (int i = 0; i < 20000; i++) {
			x = x * 1103515245u + 12345u;
			uint8_t type = (uint8_t)(x >> 24);
			x = x * 1103515245u + 12345u;
			uint8_t req = (uint8_t)((x >> 24) % 12);
			x = x * 1103515245u + 12345u;
			uint16_t value =
			    (x >> 20) & 1 ? (uint16_t)(x >> 8) : (uint16_t)((x >> 8) % 8);
			x = x * 1103515245u + 12345u;
			uint16_t len =
			    (x >> 20) & 1 ? (uint16_t)(x >> 4) : (uint16_t)((x >> 4) % 6);
			/* mostly class requests to interface 0, with real commands */
			if (type & 1)
				type = (type & 0x80) ? IN_CLASS : OUT_CLASS;
			buf[0] = (uint8_t[]){0x21, 0x41, 0x92, 0x00}[(x >> 28) & 3];
			buf[4] = 0x08;
			int rc = stm32_model_control(m, type, req, value, (x >> 27) & 1 ? 1 : 0,
			                             buf, len, 100);
			CHECK(rc >= STM32_MODEL_TIMEDOUT && rc <= (int)len);
			if (!stm32_model_connected(m))
				stm32_model_reset(m);
		}
		CHECK_INT(stm32_model_control(m, OUT_CLASS, DNLOAD, 2, 0, NULL, 10, 0),
		          STM32_MODEL_STALL);
		stm32_model_free(m);
	}
	CHECK_INT(stm32_model_control(NULL, 0x80, 6, 0x100, 0, buf, 18, 0), STM32_MODEL_GONE);
}

TEST_MAIN(TEST(profiles_all_build_and_unknown_is_null), TEST(device_descriptor_identifies_rom),
          TEST(configuration_lists_alts_then_functional_descriptor),
          TEST(strings_langid_manufacturer_product), TEST(serial_is_12_hex_digits_derived_from_uid),
          TEST(standard_requests_and_set_interface), TEST(get_commands_lists_dfuse_opcodes),
          TEST(first_getstatus_is_dnbusy_with_poll_timeout),
          TEST(requests_outside_their_states_stall), TEST(unknown_opcode_is_errstalledpkt),
          TEST(clrstatus_outside_error_is_errunknown), TEST(start_in_error_needs_clrstatus),
          TEST(erase_write_read_round_trip), TEST(upload_past_the_end_is_a_short_packet),
          TEST(mass_erase_erases_every_sector), TEST(f4_programming_only_clears_bits),
          TEST(check_erased_profiles_refuse_rewrites),
          TEST(addresses_outside_the_alt_are_errtarget), TEST(read_protection_answers_errvendor),
          TEST(read_unprotect_mass_erases_and_resets),
          TEST(write_protected_sectors_succeed_silently),
          TEST(option_otp_and_feature_alts_are_memories), TEST(host_timeout_is_honoured_while_busy),
          TEST(l4_stalls_getstatus_while_busy), TEST(busy_us_counts_physical_time),
          TEST(fault_stalls_the_nth_request), TEST(fault_disconnects_at_the_nth_block),
          TEST(fault_flips_a_bit_after_programming), TEST(fault_erase_stays_busy),
          TEST(leave_boots_the_pointer_and_reset_comes_back),
          TEST(vector_table_is_checked_where_the_core_boots),
          TEST(version_marker_is_found_after_the_address),
          TEST(wait_idle_holds_in_slices_and_counts_the_request_once),
          TEST(idle_tick_completes_operations_and_self_resets), TEST(sector_info_walks_the_layout),
          TEST(random_requests_never_crash), TEST(layout_strings_parse_or_are_refused),
          TEST(writes_cross_sector_and_segment_boundaries))
