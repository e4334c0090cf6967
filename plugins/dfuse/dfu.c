#include "dfu.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mcu-ota/cleanup.h>

enum {
	DFU_DETACH = 0,
	DFU_DNLOAD = 1,
	DFU_UPLOAD = 2,
	DFU_GETSTATUS = 3,
	DFU_CLRSTATUS = 4,
	DFU_GETSTATE = 5,
	DFU_ABORT = 6,
};

enum {
	DFUSE_SET_ADDRESS = 0x21,
	DFUSE_ERASE = 0x41,
};

#define REQ_OUT            0x21 /* class, interface, host to device */
#define REQ_IN             0xA1
#define REQUEST_TIMEOUT_MS 5000 /* requests that do not wait for flash (dfu-util's value) */
#define STALL_RETRIES      3    /* a stalled request is recovered and resent this often */
#define PREPARE_ATTEMPTS   6    /* requests to bring the device back to dfuIDLE */
#define DESCRIPTOR_MAX     4096

static const char *const status_names[] = {
    "OK",      "errTARGET", "errFILE",    "errWRITE",      "errERASE",    "errCHECK_ERASED",
    "errPROG", "errVERIFY", "errADDRESS", "errNOTDONE",    "errFIRMWARE", "errVENDOR",
    "errUSBR", "errPOR",    "errUNKNOWN", "errSTALLEDPKT",
};
static const char *const state_names[] = {
    "appIDLE",        "appDETACH",        "dfuIDLE",     "dfuDNLOAD-SYNC",         "dfuDNBUSY",
    "dfuDNLOAD-IDLE", "dfuMANIFEST-SYNC", "dfuMANIFEST", "dfuMANIFEST-WAIT-RESET", "dfuUPLOAD-IDLE",
    "dfuERROR",
};

const char *dfu_status_name(uint8_t status)
{
	return status < sizeof(status_names) / sizeof(*status_names) ? status_names[status]
	                                                             : "unknown status";
}

const char *dfu_state_name(uint8_t state)
{
	return state < sizeof(state_names) / sizeof(*state_names) ? state_names[state]
	                                                          : "unknown state";
}

int dfu_prepare(struct dfu_device *d, char *err, size_t errlen);

/* Time as the transport tells it (a test's virtual clock), else the real one. */
static uint64_t now_ms(const struct dfu_device *d)
{
	if (d->transport.now_ms)
		return d->transport.now_ms(d->transport.clock_ctx);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(const struct dfu_device *d, uint32_t ms)
{
	if (d->transport.sleep_ms) {
		d->transport.sleep_ms(d->transport.clock_ctx, ms);
		return;
	}
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void progress(struct dfu_device *d, const char *phase, uint64_t done, uint64_t total)
{
	if (d->host && d->host->progress)
		d->host->progress(d->host->ctx, phase, done, total);
}

static int control(struct dfu_device *d, uint8_t type, uint8_t req, uint16_t value, uint8_t *data,
                   uint16_t len, unsigned timeout_ms)
{
	return d->transport.control(d->transport.ctx, type, req, value, d->interface, data, len,
	                            timeout_ms);
}

/* A transport failure as the user should read it. */
static int transport_error(struct dfu_device *d, int r, const char *what, uint32_t address,
                           unsigned timeout_ms, char *err, size_t errlen)
{
	switch (r) {
	case -ENODEV:
		mcu_ota_set_error(
		    err, errlen,
		    "the device left the bus during %s at 0x%08" PRIx32
		    ": check its cable and power; flash it again, the chip holds a partial image",
		    what, address);
		break;
	case -ETIMEDOUT:
		mcu_ota_set_error(err, errlen,
		                  "the device did not finish %s at 0x%08" PRIx32
		                  " within %u ms; reset it (NRST) and try again",
		                  what, address, timeout_ms);
		break;
	case -EPIPE:
		mcu_ota_set_error(err, errlen, "the device stalled %s at 0x%08" PRIx32, what,
		                  address);
		break;
	default:
		mcu_ota_set_error(err, errlen, "USB error during %s at 0x%08" PRIx32 ": %s", what,
		                  address, strerror(-r));
		r = r < 0 ? r : -EIO;
		break;
	}
	(void)d;
	return r;
}

static int get_status(struct dfu_device *d, struct dfu_status *st, unsigned timeout_ms)
{
	uint8_t buf[6];
	int r = control(d, REQ_IN, DFU_GETSTATUS, 0, buf, sizeof(buf), timeout_ms);
	if (r < 0)
		return r;
	if (r < 6)
		return -EIO;
	st->status = buf[0];
	st->poll_timeout_ms = buf[1] | (uint32_t)buf[2] << 8 | (uint32_t)buf[3] << 16;
	st->state = buf[4];
	d->poll_timeout_ms = st->poll_timeout_ms;
	return 0;
}

/* The device reported dfuERROR: explain, then clear it so the next step can run. */
static int status_error(struct dfu_device *d, uint8_t status, const char *what, uint32_t address,
                        char *err, size_t errlen)
{
	int r;
	switch (status) {
	case 0x01: /* errTARGET */
		mcu_ota_set_error(
		    err, errlen,
		    "%s at 0x%08" PRIx32
		    " refused by the device (errTARGET): the address is outside its memory",
		    what, address);
		r = -ERANGE;
		break;
	case 0x0B: /* errVENDOR */
		mcu_ota_set_error(
		    err, errlen,
		    "%s at 0x%08" PRIx32
		    " refused (errVENDOR): read protection (RDP level 1) is active. The ROM "
		    "will not read, erase or write flash until it is removed; removing it "
		    "(DfuSe read-unprotect) erases the whole chip",
		    what, address);
		r = -EACCES;
		break;
	default:
		mcu_ota_set_error(err, errlen,
		                  "%s at 0x%08" PRIx32 " failed: the device reports %s", what,
		                  address, dfu_status_name(status));
		r = -EIO;
		break;
	}
	(void)control(d, REQ_OUT, DFU_CLRSTATUS, 0, NULL, 0, REQUEST_TIMEOUT_MS);
	return r;
}

/* After a DNLOAD: the first GETSTATUS starts the operation (dfuDNBUSY), the
 * next one is held by the ROM until it is done, so it is sent right away with
 * a timeout above the worst case instead of sleeping bwPollTimeout. Devices
 * that answer dfuDNBUSY without holding the pipe are polled at bwPollTimeout;
 * a stall means busy where the quirk says so, elsewhere a passing fault that
 * is asked again (never answered by resending: the block may be programmed
 * already, and ECC flash refuses a second programming). The device must show
 * that it took the request (dfuDNBUSY) before dfuDNLOAD-IDLE counts as done.
 * Every wait ends by timeout_ms. */
static int wait_done(struct dfu_device *d, unsigned timeout_ms, const char *what, uint32_t address,
                     char *err, size_t errlen)
{
	uint64_t deadline = now_ms(d) + timeout_ms;
	unsigned busy_replies = 0, stalls = 0;
	struct dfu_status st;
	for (;;) {
		uint64_t now = now_ms(d);
		if (now >= deadline)
			return transport_error(d, -ETIMEDOUT, what, address, timeout_ms, err,
			                       errlen);
		uint64_t left = deadline - now;
		int r = get_status(d, &st, (unsigned)left);
		if (r == -EPIPE && d->quirk->stall_means_busy) {
			uint32_t wait = d->poll_timeout_ms > d->quirk->stall_wait_ms
			                    ? d->poll_timeout_ms
			                    : d->quirk->stall_wait_ms;
			sleep_ms(d, wait < left ? wait : (uint32_t)left);
			stalls++;
			continue;
		}
		if (r == -EPIPE && stalls++ < STALL_RETRIES)
			continue;
		if (r < 0)
			return transport_error(d, r, what, address, timeout_ms, err, errlen);
		switch (st.state) {
		case DFU_STATE_DNBUSY:
		case DFU_STATE_DNLOAD_SYNC:
			/* The ROM holds the next GETSTATUS until the operation ends, so
			 * it goes out at once; a device that answers busy again does not
			 * hold the pipe and is asked at its bwPollTimeout pace. */
			if (busy_replies++) {
				uint32_t wait = st.poll_timeout_ms ? st.poll_timeout_ms : 1;
				sleep_ms(d, wait < left ? wait : (uint32_t)left);
			}
			continue;
		case DFU_STATE_ERROR:
			return status_error(d, st.status, what, address, err, errlen);
		case DFU_STATE_DNLOAD_IDLE:
			if (busy_replies || stalls)
				return 0;
			/* done without ever being busy: the request was not taken */
			/* fall through */
		default:
			mcu_ota_set_error(err, errlen,
			                  "%s at 0x%08" PRIx32
			                  ": the device did not take the request (state %s "
			                  "where dfuDNBUSY was due)",
			                  what, address, dfu_state_name(st.state));
			return -EIO;
		}
	}
}

/* A command or data block and its completion. ROMs stall a request now and
 * then (seen on F411): when the DNLOAD itself stalled, the device did not
 * take it, so it is brought back to dfuIDLE and the same request sent again;
 * the address pointer survives, so a block keeps its number. */
static int dnload(struct dfu_device *d, uint16_t block, uint8_t *data, uint16_t len,
                  unsigned busy_timeout_ms, const char *what, uint32_t address, char *err,
                  size_t errlen)
{
	for (unsigned attempt = 1;; attempt++) {
		int r = control(d, REQ_OUT, DFU_DNLOAD, block, data, len, REQUEST_TIMEOUT_MS);
		if (r == -EPIPE && attempt <= STALL_RETRIES) {
			mcu_ota_log(d->host, MCU_OTA_LOG_WARNING,
			            "the device stalled %s at 0x%08" PRIx32 "; retrying (%u of %u)",
			            what, address, attempt, STALL_RETRIES);
			r = dfu_prepare(d, err, errlen);
			if (r < 0)
				return r;
			continue;
		}
		if (r < 0)
			return transport_error(d, r, what, address, REQUEST_TIMEOUT_MS, err,
			                       errlen);
		return wait_done(d, busy_timeout_ms, what, address, err, errlen);
	}
}

static int dfuse_command(struct dfu_device *d, uint8_t opcode, uint32_t address, bool has_address,
                         unsigned busy_timeout_ms, const char *what, char *err, size_t errlen)
{
	uint8_t cmd[5] = {opcode, (uint8_t)address, (uint8_t)(address >> 8),
	                  (uint8_t)(address >> 16), (uint8_t)(address >> 24)};
	return dnload(d, 0, cmd, has_address ? 5 : 1, busy_timeout_ms, what, address, err, errlen);
}

static int set_address(struct dfu_device *d, uint32_t address, char *err, size_t errlen)
{
	return dfuse_command(d, DFUSE_SET_ADDRESS, address, true, REQUEST_TIMEOUT_MS,
	                     "setting the address", err, errlen);
}

int dfu_prepare(struct dfu_device *d, char *err, size_t errlen)
{
	struct dfu_status st;
	bool answered = false;
	for (unsigned attempt = 0; attempt < PREPARE_ATTEMPTS; attempt++) {
		int r = get_status(d, &st, REQUEST_TIMEOUT_MS);
		if (r == -EPIPE)
			continue;
		if (r < 0)
			return transport_error(d, r, "reading the status", 0, REQUEST_TIMEOUT_MS,
			                       err, errlen);
		answered = true;
		switch (st.state) {
		case DFU_STATE_IDLE:
			return 0;
		case DFU_STATE_ERROR:
			mcu_ota_log(d->host, MCU_OTA_LOG_DEBUG,
			            "device was in dfuERROR (%s), clearing it",
			            dfu_status_name(st.status));
			r = control(d, REQ_OUT, DFU_CLRSTATUS, 0, NULL, 0, REQUEST_TIMEOUT_MS);
			break;
		case DFU_STATE_DNBUSY:
			/* ABORT is not accepted while busy: give the operation its poll
			 * time, then clear it as STM32CubeProgrammer does with H7 ROMs
			 * whose bank erase stays busy (docs/protocol.md §7). */
			sleep_ms(d, st.poll_timeout_ms < 1      ? 1
			            : st.poll_timeout_ms > 1000 ? 1000
			                                        : st.poll_timeout_ms);
			r = attempt < 2 ? 0
			                : control(d, REQ_OUT, DFU_CLRSTATUS, 0, NULL, 0,
			                          REQUEST_TIMEOUT_MS);
			break;
		default:
			r = control(d, REQ_OUT, DFU_ABORT, 0, NULL, 0, REQUEST_TIMEOUT_MS);
			break;
		}
		if (r < 0 && r != -EPIPE)
			return transport_error(d, r, "resetting the DFU state", 0,
			                       REQUEST_TIMEOUT_MS, err, errlen);
	}
	if (!answered)
		mcu_ota_set_error(
		    err, errlen,
		    "the device stalls every status request: reset it (NRST) and try again");
	else
		mcu_ota_set_error(err, errlen,
		                  "the device stays in state %s: reset it (NRST) and try again",
		                  dfu_state_name(st.state));
	return -EIO;
}

static int select_alt(struct dfu_device *d, unsigned alt, char *err, size_t errlen)
{
	if (alt >= d->info.memory_count) {
		mcu_ota_set_error(err, errlen, "the device has no alt setting %u (it has %zu)", alt,
		                  d->info.memory_count);
		return -EINVAL;
	}
	if (d->alt == (int)alt)
		return 0;
	int r = d->transport.set_alt(d->transport.ctx, d->interface, (uint8_t)alt);
	for (unsigned attempt = 0; r == -EPIPE && attempt < STALL_RETRIES; attempt++)
		r = d->transport.set_alt(d->transport.ctx, d->interface, (uint8_t)alt);
	if (r < 0)
		return transport_error(d, r, "selecting the alt setting", 0, REQUEST_TIMEOUT_MS,
		                       err, errlen);
	d->alt = (int)alt;
	return 0;
}

/* ---- descriptors ---- */

static int get_descriptor(struct dfu_device *d, uint8_t type, uint8_t index, uint16_t lang,
                          uint8_t *buf, uint16_t len)
{
	return d->transport.control(d->transport.ctx, 0x80, 6 /* GET_DESCRIPTOR */,
	                            (uint16_t)(type << 8 | index), lang, buf, len,
	                            REQUEST_TIMEOUT_MS);
}

/* UTF-16LE string descriptor to ASCII ('?' for anything else). */
static void get_string(struct dfu_device *d, uint8_t index, char *out, size_t outlen)
{
	uint8_t buf[255];
	out[0] = '\0';
	if (!index)
		return;
	int r = get_descriptor(d, 3, index, 0x0409, buf, sizeof(buf));
	if (r < 2 || buf[1] != 3)
		return;
	size_t n = 0, len = buf[0] < r ? buf[0] : (size_t)r;
	for (size_t i = 2; i + 1 < len && n + 1 < outlen; i += 2) {
		uint16_t c = (uint16_t)(buf[i] | buf[i + 1] << 8);
		out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[n] = '\0';
}

/* The configuration descriptor: the DFU-mode interface (d->interface), the
 * string index of each of its alt settings, and the functional descriptor
 * (d->info's attributes, transfer size, DFU version). */
static int scan_config(struct dfu_device *d, uint8_t alt_string_index[DFU_MAX_ALTS], size_t *alts,
                       char *err, size_t errlen)
{
	uint8_t head[9];
	bool have_functional = false, have_interface = false;
	int r = get_descriptor(d, 2, 0, 0, head, sizeof(head));
	if (r < (int)sizeof(head) || head[1] != 2) {
		mcu_ota_set_error(err, errlen, "cannot read the configuration descriptor");
		return r < 0 ? r : -EIO;
	}
	uint16_t total = (uint16_t)(head[2] | head[3] << 8);
	if (total < 9 || total > DESCRIPTOR_MAX) {
		mcu_ota_set_error(err, errlen,
		                  "configuration descriptor of %u bytes is implausible", total);
		return -EIO;
	}
	_cleanup_(freep) uint8_t *cfg = malloc(total);
	if (!cfg)
		return -ENOMEM;
	r = get_descriptor(d, 2, 0, 0, cfg, total);
	if (r < total) {
		mcu_ota_set_error(err, errlen, "short configuration descriptor");
		return r < 0 ? r : -EIO;
	}
	for (size_t off = 0; off + 2 <= total;) {
		const uint8_t *p = cfg + off;
		if (p[0] < 2 || off + p[0] > total)
			break;
		if (p[1] == 4 && p[0] >= 9) { /* interface */
			bool dfu_mode = p[5] == 0xFE && p[6] == 0x01 && p[7] == 0x02;
			if (dfu_mode && (!have_interface || p[2] == d->interface)) {
				have_interface = true;
				d->interface = p[2];
				if (*alts < DFU_MAX_ALTS && p[3] == *alts)
					alt_string_index[(*alts)++] = p[8];
			}
		} else if (p[1] == 0x21 && p[0] >= 7 && have_interface && !have_functional) {
			have_functional = true;
			d->info.attributes = p[2];
			d->info.transfer_size = (uint16_t)(p[5] | p[6] << 8);
			d->info.dfu_version = p[0] >= 9 ? (uint16_t)(p[7] | p[8] << 8) : 0x0100;
		}
		off += p[0];
	}
	if (!have_interface || !*alts) {
		mcu_ota_set_error(err, errlen, "the device has no DFU-mode interface");
		return -ENODEV;
	}
	if (!have_functional || d->info.transfer_size == 0 || d->info.transfer_size > 4096) {
		mcu_ota_set_error(err, errlen,
		                  "the device has no usable DFU functional descriptor");
		return -EIO;
	}
	return 0;
}

/* Each alt setting's memory, from its string: a DfuSe layout, or (not one)
 * listed with nothing that can be written; then the family's quirks. */
static void describe_memories(struct dfu_device *d, const uint8_t *alt_string_index, size_t alts)
{
	const char *alt_strings[DFU_MAX_ALTS];
	for (size_t i = 0; i < alts; i++) {
		struct mcu_ota_memory *m = &d->memories[i];
		m->alt = (unsigned)i;
		get_string(d, alt_string_index[i], m->description, sizeof(m->description));
		alt_strings[i] = m->description;
		char why[256];
		if (dfuse_layout_parse(m->description, &d->layouts[i], why, sizeof(why)) == 0) {
			memcpy(m->name, d->layouts[i].name, sizeof(m->name));
			m->sectors = d->layouts[i].sectors;
			m->sector_count = d->layouts[i].sector_count;
		} else {
			/* Not a DfuSe layout: listed, but nothing can be written there. */
			mcu_ota_log(d->host, MCU_OTA_LOG_DEBUG, "alt %zu: %s", i, why);
			size_t n = strnlen(m->description, sizeof(m->name) - 1);
			memcpy(m->name, m->description, n);
			m->name[n] = '\0';
		}
	}
	d->info.memories = d->memories;
	d->info.memory_count = alts;
	d->quirk = dfuse_quirk_find(d->info.vid, d->info.pid, alt_strings, alts);
}

int dfu_describe(struct dfu_device *d, char *err, size_t errlen)
{
	uint8_t dev[18];
	uint8_t alt_string_index[DFU_MAX_ALTS];
	size_t alts = 0;

	d->alt = -1;
	int r = get_descriptor(d, 1, 0, 0, dev, sizeof(dev));
	if (r < (int)sizeof(dev) || dev[1] != 1) {
		mcu_ota_set_error(err, errlen, "cannot read the device descriptor%s%s",
		                  r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
		return r < 0 ? r : -EIO;
	}
	d->info.vid = (uint16_t)(dev[8] | dev[9] << 8);
	d->info.pid = (uint16_t)(dev[10] | dev[11] << 8);
	d->info.bcd_device = (uint16_t)(dev[12] | dev[13] << 8);
	if ((r = scan_config(d, alt_string_index, &alts, err, errlen)) < 0)
		return r;
	get_string(d, dev[14], d->info.manufacturer, sizeof(d->info.manufacturer));
	get_string(d, dev[15], d->info.product, sizeof(d->info.product));
	get_string(d, dev[16], d->info.serial, sizeof(d->info.serial));
	describe_memories(d, alt_string_index, alts);
	return 0;
}

void dfu_release(struct dfu_device *d)
{
	for (size_t i = 0; i < DFU_MAX_ALTS; i++)
		dfuse_layout_free(&d->layouts[i]);
	d->info.memory_count = 0;
}

/* ---- read ---- */

/* Read-back as the ROM wants it: Set Address, ABORT to dfuIDLE, then UPLOAD
 * blocks 2, 3, ... of wTransferSize from that pointer. */
static int upload(struct dfu_device *d, uint32_t address, uint8_t *buf, size_t len,
                  const char *phase, uint64_t *done, uint64_t total, char *err, size_t errlen)
{
	const uint16_t ts = d->info.transfer_size;
	unsigned stalls = 0;
	size_t off = 0;
	int r = 0;
	while (off < len) {
		uint32_t pointer = address + (uint32_t)off;
		r = set_address(d, pointer, err, errlen);
		if (r < 0)
			return r;
		/* ABORT to dfuIDLE, and GETSTATUS must show it, before UPLOAD */
		r = dfu_prepare(d, err, errlen);
		if (r < 0)
			return r;
		/* wValue is 16 bits: restart from a new pointer before it wraps */
		for (uint32_t block = 2; r >= 0 && block <= 0xFFFF && off < len; block++) {
			uint16_t n = (uint16_t)(len - off < ts ? len - off : ts);
			r = control(d, REQ_IN, DFU_UPLOAD, (uint16_t)block, buf + off, n,
			            REQUEST_TIMEOUT_MS);
			if (r >= 0 && r < n) {
				mcu_ota_set_error(
				    err, errlen,
				    "the device returned %d of %u bytes at 0x%08" PRIx32, r, n,
				    address + (uint32_t)off);
				return -EIO;
			}
			if (r >= 0) {
				off += n;
				*done += n;
				progress(d, phase, *done, total);
			}
		}
		if (r == -EPIPE) {
			/* a refusal (errVENDOR under read protection) or a passing stall */
			struct dfu_status st;
			if (get_status(d, &st, REQUEST_TIMEOUT_MS) == 0 &&
			    st.state == DFU_STATE_ERROR && st.status != 0x0F /* errSTALLEDPKT */)
				return status_error(d, st.status, "reading",
				                    address + (uint32_t)off, err, errlen);
			if (stalls++ < STALL_RETRIES) {
				r = dfu_prepare(d, err, errlen);
				if (r < 0)
					return r;
				continue; /* again from a fresh Set Address at off */
			}
		}
		if (r < 0)
			return transport_error(d, r, "reading", address + (uint32_t)off,
			                       REQUEST_TIMEOUT_MS, err, errlen);
	}
	r = control(d, REQ_OUT, DFU_ABORT, 0, NULL, 0, REQUEST_TIMEOUT_MS);
	if (r == -EPIPE)
		return dfu_prepare(d, err, errlen);
	if (r < 0)
		return transport_error(d, r, "reading", address, REQUEST_TIMEOUT_MS, err, errlen);
	return 0;
}

/* Every byte of [address, address + len) must lie in sectors with access. */
static int check_range(const struct mcu_ota_memory *m, uint32_t address, uint64_t len,
                       unsigned access, const char *verb, char *err, size_t errlen)
{
	uint64_t a = address, end = (uint64_t)address + len;
	while (a < end) {
		long i = dfuse_layout_find(m->sectors, m->sector_count, (uint32_t)a);
		if (i < 0) {
			mcu_ota_set_error(err, errlen,
			                  "cannot %s 0x%08" PRIx64 ": outside the device's %s (%s)",
			                  verb, a, m->name, m->description);
			return -ERANGE;
		}
		if ((m->sectors[i].access & access) != access) {
			mcu_ota_set_error(
			    err, errlen, "cannot %s 0x%08" PRIx64 ": %s is not %s there", verb, a,
			    m->name, access & MCU_OTA_SECTOR_WRITABLE ? "writable" : "readable");
			return -ERANGE;
		}
		a = (uint64_t)m->sectors[i].address + m->sectors[i].size;
	}
	return 0;
}

int dfu_read(struct dfu_device *d, unsigned alt, uint32_t address, uint8_t *buf, size_t len,
             char *err, size_t errlen)
{
	uint64_t done = 0;
	int r = select_alt(d, alt, err, errlen);
	if (r < 0)
		return r;
	r = check_range(&d->memories[alt], address, len, MCU_OTA_SECTOR_READABLE, "read", err,
	                errlen);
	if (r < 0)
		return r;
	r = dfu_prepare(d, err, errlen);
	if (r < 0)
		return r;
	return upload(d, address, buf, len, "read", &done, len, err, errlen);
}

/* ---- write ---- */

struct write_plan {
	const struct mcu_ota_memory *mem;
	size_t first, count; /* sectors [first, first + count) span the image */
	bool *touched;       /* by the image */
	bool *skip;          /* already hold exactly what erase + write would leave */
};

/* The bytes sector i should hold after erase + write: 0xFF where the image has none. */
static void expected_sector(const struct mcu_ota_image *image, const struct mcu_ota_sector *s,
                            uint8_t *out)
{
	memset(out, 0xFF, s->size);
	uint64_t s_end = (uint64_t)s->address + s->size;
	for (size_t i = 0; i < image->segment_count; i++) {
		const struct mcu_ota_segment *g = &image->segments[i];
		uint64_t g_end = (uint64_t)g->address + g->length;
		uint64_t lo = g->address > s->address ? g->address : s->address;
		uint64_t hi = g_end < s_end ? g_end : s_end;
		if (lo < hi)
			memcpy(out + (lo - s->address), g->data + (lo - g->address), hi - lo);
	}
}

static int plan_write(struct dfu_device *d, const struct mcu_ota_image *image,
                      const struct mcu_ota_memory *mem, struct write_plan *plan, char *err,
                      size_t errlen)
{
	memset(plan, 0, sizeof(*plan));
	plan->mem = mem;
	if (!image->segment_count) {
		mcu_ota_set_error(err, errlen, "the image is empty");
		return -EINVAL;
	}
	if (!mem->sector_count) {
		mcu_ota_set_error(err, errlen,
		                  "alt %u (%s) has no memory layout mcu-ota understands", mem->alt,
		                  mem->name);
		return -EINVAL;
	}
	for (size_t i = 0; i < image->segment_count; i++) {
		const struct mcu_ota_segment *g = &image->segments[i];
		if (i && g->address < (uint64_t)image->segments[i - 1].address +
		                          image->segments[i - 1].length) {
			mcu_ota_set_error(err, errlen,
			                  "image segments at 0x%08" PRIx32
			                  " overlap or are unsorted",
			                  g->address);
			return -EINVAL;
		}
		int r = check_range(mem, g->address, g->length, MCU_OTA_SECTOR_WRITABLE, "write",
		                    err, errlen);
		if (r < 0)
			return r;
	}
	plan->touched = calloc(mem->sector_count, sizeof(bool));
	plan->skip = calloc(mem->sector_count, sizeof(bool));
	if (!plan->touched || !plan->skip)
		return -ENOMEM;
	size_t lo = mem->sector_count, hi = 0;
	for (size_t i = 0; i < image->segment_count; i++) {
		const struct mcu_ota_segment *g = &image->segments[i];
		if (!g->length)
			continue;
		size_t a = (size_t)dfuse_layout_find(mem->sectors, mem->sector_count, g->address);
		size_t b = (size_t)dfuse_layout_find(mem->sectors, mem->sector_count,
		                                     g->address + g->length - 1);
		for (size_t s = a; s <= b; s++)
			plan->touched[s] = true;
		lo = a < lo ? a : lo;
		hi = b > hi ? b : hi;
	}
	plan->first = lo;
	plan->count = hi >= lo ? hi - lo + 1 : 0;
	(void)d;
	return 0;
}

static void plan_free(struct write_plan *plan)
{
	free(plan->touched);
	free(plan->skip);
}

/* Skip sectors that already hold the new content: reading is far cheaper than
 * an erase and the programming of every word. */
static int find_unchanged(struct dfu_device *d, const struct mcu_ota_image *image,
                          struct write_plan *plan, char *err, size_t errlen)
{
	const struct mcu_ota_memory *mem = plan->mem;
	uint64_t total = 0, done = 0;
	for (size_t s = plan->first; s < plan->first + plan->count; s++)
		if (plan->touched[s] && (mem->sectors[s].access & MCU_OTA_SECTOR_READABLE))
			total += mem->sectors[s].size;
	for (size_t s = plan->first; s < plan->first + plan->count; s++) {
		const struct mcu_ota_sector *sec = &mem->sectors[s];
		if (!plan->touched[s] || !(sec->access & MCU_OTA_SECTOR_READABLE))
			continue;
		_cleanup_(freep) uint8_t *have = malloc(sec->size);
		_cleanup_(freep) uint8_t *want = malloc(sec->size);
		if (!have || !want)
			return -ENOMEM;
		int r =
		    upload(d, sec->address, have, sec->size, "compare", &done, total, err, errlen);
		if (r < 0)
			return r;
		expected_sector(image, sec, want);
		plan->skip[s] = memcmp(have, want, sec->size) == 0;
	}
	return 0;
}

static int erase(struct dfu_device *d, struct write_plan *plan, bool mass, char *err, size_t errlen)
{
	const struct mcu_ota_memory *mem = plan->mem;
	if (mass) {
		progress(d, "erase", 0, 1);
		int r = dfuse_command(d, DFUSE_ERASE, 0, false, d->quirk->mass_erase_timeout_ms,
		                      "mass erase", err, errlen);
		if (r == 0)
			progress(d, "erase", 1, 1);
		return r;
	}
	uint64_t total = 0, done = 0;
	for (size_t s = plan->first; s < plan->first + plan->count; s++)
		if (plan->touched[s] && !plan->skip[s] &&
		    (mem->sectors[s].access & MCU_OTA_SECTOR_ERASABLE))
			total += mem->sectors[s].size;
	progress(d, "erase", 0, total);
	for (size_t s = plan->first; s < plan->first + plan->count; s++) {
		const struct mcu_ota_sector *sec = &mem->sectors[s];
		if (!plan->touched[s] || plan->skip[s] || !(sec->access & MCU_OTA_SECTOR_ERASABLE))
			continue;
		int r = dfuse_command(d, DFUSE_ERASE, sec->address, true, d->quirk->busy_timeout_ms,
		                      "erasing the sector", err, errlen);
		if (r < 0)
			return r;
		done += sec->size;
		progress(d, "erase", done, total);
	}
	return 0;
}

static bool all_erased(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0xFF)
			return false;
	return true;
}

static int write_run(struct dfu_device *d, uint32_t address, const uint8_t *data, uint32_t len,
                     uint64_t *done, uint64_t total, char *err, size_t errlen)
{
	const uint16_t ts = d->info.transfer_size;
	uint32_t off = 0;
	while (off < len) {
		int r = set_address(d, address + off, err, errlen);
		if (r < 0)
			return r;
		/* wValue is 16 bits: restart from a new pointer before it wraps */
		for (uint32_t block = 2; block <= 0xFFFF && off < len; block++) {
			uint16_t n = (uint16_t)(len - off < ts ? len - off : ts);
			/* the sector was just erased: a block of 0xFF would change nothing
			 * (and costs a program cycle; on ECC flash it would even use up
			 * the words). Block numbers stay tied to the pointer, so the next
			 * one still lands at its own address; verify reads them all. */
			if (!all_erased(data + off, n)) {
				r = dnload(d, (uint16_t)block, (uint8_t *)data + off, n,
				           d->quirk->busy_timeout_ms, "writing", address + off, err,
				           errlen);
				if (r < 0)
					return r;
			}
			off += n;
			*done += n;
			progress(d, "write", *done, total);
		}
	}
	return 0;
}

/* Calls fn for every maximal run of image bytes that lies in sectors not skipped. */
static int for_each_run(struct dfu_device *d, const struct mcu_ota_image *image,
                        const struct write_plan *plan,
                        int (*fn)(struct dfu_device *d, uint32_t address, const uint8_t *data,
                                  uint32_t len, void *arg),
                        void *arg)
{
	const struct mcu_ota_memory *mem = plan->mem;
	for (size_t i = 0; i < image->segment_count; i++) {
		const struct mcu_ota_segment *g = &image->segments[i];
		uint64_t a = g->address, end = (uint64_t)g->address + g->length;
		while (a < end) {
			size_t s =
			    (size_t)dfuse_layout_find(mem->sectors, mem->sector_count, (uint32_t)a);
			uint64_t run = a;
			while (run < end) {
				size_t t = (size_t)dfuse_layout_find(
				    mem->sectors, mem->sector_count, (uint32_t)run);
				if (plan->skip[t] != plan->skip[s])
					break;
				uint64_t sec_end =
				    (uint64_t)mem->sectors[t].address + mem->sectors[t].size;
				run = sec_end < end ? sec_end : end;
			}
			if (!plan->skip[s]) {
				int r = fn(d, (uint32_t)a, g->data + (a - g->address),
				           (uint32_t)(run - a), arg);
				if (r < 0)
					return r;
			}
			a = run;
		}
	}
	return 0;
}

struct run_ctx {
	uint64_t done, total;
	char *err;
	size_t errlen;
};

static int count_run(struct dfu_device *d, uint32_t address, const uint8_t *data, uint32_t len,
                     void *arg)
{
	(void)d, (void)address, (void)data;
	((struct run_ctx *)arg)->total += len;
	return 0;
}

static int write_one_run(struct dfu_device *d, uint32_t address, const uint8_t *data, uint32_t len,
                         void *arg)
{
	struct run_ctx *c = arg;
	return write_run(d, address, data, len, &c->done, c->total, c->err, c->errlen);
}

static int verify_one_run(struct dfu_device *d, uint32_t address, const uint8_t *data, uint32_t len,
                          void *arg)
{
	struct run_ctx *c = arg;
	_cleanup_(freep) uint8_t *back = malloc(len);
	if (!back)
		return -ENOMEM;
	int r = upload(d, address, back, len, "verify", &c->done, c->total, c->err, c->errlen);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < len; i++) {
		if (back[i] == data[i])
			continue;
		mcu_ota_set_error(
		    c->err, c->errlen,
		    "verification failed at 0x%08" PRIx32
		    ": wrote 0x%02x, read back 0x%02x (a write-protected sector "
		    "\"accepts\" writes without storing them; check the option bytes)",
		    address + i, data[i], back[i]);
		return -EBADMSG;
	}
	return 0;
}

int dfu_write(struct dfu_device *d, const struct mcu_ota_image *image,
              const struct mcu_ota_write_options *opts, char *err, size_t errlen)
{
	_cleanup_(plan_free) struct write_plan plan = {0};
	int r = select_alt(d, opts->alt, err, errlen);
	if (r < 0)
		return r;
	/* Nothing is erased before every byte is known to fit. */
	r = plan_write(d, image, &d->memories[opts->alt], &plan, err, errlen);
	if (r == 0)
		r = dfu_prepare(d, err, errlen);
	if (r == 0 && opts->skip_unchanged && !opts->mass_erase)
		r = find_unchanged(d, image, &plan, err, errlen);
	if (r == 0)
		r = erase(d, &plan, opts->mass_erase, err, errlen);

	struct run_ctx c = {.err = err, .errlen = errlen};
	if (r == 0)
		r = for_each_run(d, image, &plan, count_run, &c);
	if (r == 0) {
		progress(d, "write", 0, c.total);
		r = for_each_run(d, image, &plan, write_one_run, &c);
	}
	if (r == 0 && opts->verify) {
		c.done = 0;
		progress(d, "verify", 0, c.total);
		r = for_each_run(d, image, &plan, verify_one_run, &c);
	}
	return r;
}

/* ---- leave ---- */

int dfu_leave(struct dfu_device *d, uint32_t address, char *err, size_t errlen)
{
	int r = select_alt(d, 0, err, errlen);
	if (r == 0)
		r = dfu_prepare(d, err, errlen);
	if (r == 0)
		r = set_address(d, address, err, errlen);
	if (r < 0)
		return r;
	r = control(d, REQ_OUT, DFU_DNLOAD, 2, NULL, 0, REQUEST_TIMEOUT_MS);
	if (r < 0)
		return transport_error(d, r, "leaving the bootloader", address, REQUEST_TIMEOUT_MS,
		                       err, errlen);
	d->left = true;
	/* The ROM is not manifestation-tolerant: this GETSTATUS may well fail as
	 * the chip drops off the bus to start the application. */
	struct dfu_status st;
	r = get_status(d, &st, REQUEST_TIMEOUT_MS);
	if (r == 0 && st.state == DFU_STATE_ERROR) {
		mcu_ota_set_error(err, errlen,
		                  "leaving the bootloader failed: the device reports %s",
		                  dfu_status_name(st.status));
		return -EIO;
	}
	return 0;
}
