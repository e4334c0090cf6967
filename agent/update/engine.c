#include "update/engine.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "bundle/image.h"
#include "bundle/swu.h"
#include "bundle/swu_fetch.h"
#include "bundle/version.h"
#include "plugin/config_plugins.h"
#include "plugin/host.h"
#include "plugin/plugin_loader.h"
#include "fetch/fetch.h"
#include "update/hardware.h"
#include "update/receive.h"
#include "util/format.h"
#include "util/log.h"

#define MAX_IMAGE_EXTENT  (16u << 20) /* larger than any STM32 flash */
#define BACKUP_ALIGN      256u        /* a backup keeps whole flash words of any family */
#define OPEN_RETRY_MS     100u
#define PROGRESS_STEP_PCT 25u

struct run;

/* A plugin's host: the core's key/value host plus the run it belongs to, so
 * that logs and progress can name the device. */
struct run_host {
	struct host host; /* first: the core's callbacks get &host as ctx */
	struct run *run;
	unsigned last_pct;
	char phase[16];
};

struct run {
	const struct engine_options *o;
	const struct device_config *dev;
	struct store store;
	bool locked;
	struct journal j;
	struct plugin entry_p, flasher_p, health_p;
	struct run_host entry_h, flasher_h, health_h;
	void *fh; /* the bootloader, while open */
	/* The chip may sit in its bootloader already (a crash, a failed
	 * rollback, an image that does not boot): look for it before entering.
	 * Otherwise never: a loose selection could find another chip's. */
	bool may_be_in_bootloader;
	struct engine_outcome *out;
	/* what engine_update stages: img, received into the store's received slot */
	const struct swu_manifest *manifest;
	const struct swu_image *img;
	struct received *rx;
};

static const char *crash_at(void)
{
	static const char *v;
	static bool read;
	if (!read) {
		v = getenv("MCU_OTA_CRASH_AT");
		read = true;
	}
	return v;
}

/* ---- plugin hosts ---- */

static MCU_OTA_PRINTF(3, 0) void run_log(void *ctx, enum mcu_ota_log_level level, const char *fmt,
                                         va_list ap)
{
	struct run_host *h = ctx;
	char line[1024];
	vsnprintf(line, sizeof(line), fmt, ap);
	log_msg(level, "%s: %s", h->run->dev->name, line);
}

static void run_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
	struct run_host *h = ctx;
	const struct engine_options *o = h->run->o;
	if (o->progress)
		o->progress(o->progress_ctx, h->run->dev->name, phase, done, total);
	if (o->quiet || !total)
		return;
	/* parallel devices share the terminal: a line per quarter, never a redraw */
	unsigned pct = (unsigned)(done * 100 / total);
	if (strncmp(h->phase, phase, sizeof(h->phase) - 1)) {
		snprintf(h->phase, sizeof(h->phase), "%s", phase);
		h->last_pct = 0;
		if (pct < PROGRESS_STEP_PCT && done < total)
			return;
	} else if (pct < h->last_pct + PROGRESS_STEP_PCT && done < total) {
		return;
	} else if (h->last_pct == 100) {
		return;
	}
	h->last_pct = done >= total ? 100 : pct - pct % PROGRESS_STEP_PCT;
	char a[32], b[32];
	format_size(done, a, sizeof(a));
	format_size(total, b, sizeof(b));
	log_info("%s: %s %3u%% (%s of %s)", h->run->dev->name, phase, h->last_pct, a, b);
}

static void host_from_section(struct run *r, struct run_host *h, const config_setting_t *section)
{
	host_init(&h->host, true);
	h->host.api.log = run_log;
	h->host.api.progress = run_progress;
	h->run = r;
	if (!section)
		return;
	for (int i = 0; i < config_setting_length(section); i++) {
		config_setting_t *m = config_setting_get_elem(section, (unsigned)i);
		const char *k = config_setting_name(m);
		if (!strcmp(k, "plugin"))
			continue;
		switch (config_setting_type(m)) {
		case CONFIG_TYPE_STRING:
			host_set_string(&h->host, k, config_setting_get_string(m));
			break;
		case CONFIG_TYPE_BOOL:
			host_set_bool(&h->host, k, config_setting_get_bool(m));
			break;
		default: /* config_load allowed only integers besides */
			host_set_int(&h->host, k, config_setting_get_int64(m));
			break;
		}
	}
}

/* ---- the journal ---- */

static int fail(struct run *r, int code, const char *fmt, ...) MCU_OTA_PRINTF(3, 4);
static int fail(struct run *r, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->out->message, sizeof(r->out->message), fmt, ap);
	va_end(ap);
	r->out->code = code < 0 ? code : -EIO;
	return r->out->code;
}

static void say(struct run *r, const char *fmt, ...) MCU_OTA_PRINTF(2, 3);
static void say(struct run *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->out->message, sizeof(r->out->message), fmt, ap);
	va_end(ap);
}

/* Journal state s (and j's other fields) before acting on it. */
static int save(struct run *r, enum update_state s)
{
	char err[512];
	r->j.state = s;
	int rc = journal_save(&r->store, &r->j, err, sizeof(err));
	if (rc < 0)
		return fail(r, rc, "%s", err);
	log_debug("%s: journal: %s", r->dev->name, update_state_name(s));
	if (r->o->progress)
		r->o->progress(r->o->progress_ctx, r->dev->name, update_state_name(s), 0, 0);
	const char *c = crash_at();
	if (c && !strcmp(c, update_state_name(s)))
		raise(SIGKILL); /* the test hook: power lost right after the save */
	return 0;
}

/* ---- the bootloader ---- */

static const struct mcu_ota_flasher_ops *flasher(struct run *r)
{
	return r->flasher_p.desc->flasher;
}

static void bootloader_close(struct run *r)
{
	if (r->fh)
		flasher(r)->close(r->fh);
	r->fh = NULL;
}

static uint64_t now_ms(void)
{
	return host_now_ns() / 1000000u;
}

/* Open the chip's bootloader: at once when it is already there (a chip left
 * in it by a crash, or one whose image does not boot), else after the entry
 * plugin's enter, waiting up to bootloader_timeout_ms for it to appear. */
static int bootloader_open(struct run *r)
{
	char err[1024] = "";
	int rc;
	if (r->fh)
		return 0;
	if (r->may_be_in_bootloader) {
		rc = flasher(r)->open(&r->flasher_h.host.api, &r->fh, err, sizeof(err));
		if (rc == 0)
			return 0;
		if (rc != -ENODEV)
			return fail(r, rc, "cannot open the bootloader: %s", err);
	}
	const struct mcu_ota_entry_ops *e = r->entry_p.desc->entry;
	log_info("%s: entering the bootloader (%s)", r->dev->name, r->entry_p.desc->name);
	rc = e->enter(&r->entry_h.host.api, err, sizeof(err));
	if (rc < 0)
		return fail(r, rc, "%s entry failed: %s", r->entry_p.desc->name, err);
	uint64_t deadline = now_ms() + r->dev->bootloader_timeout_ms;
	for (;;) {
		rc = flasher(r)->open(&r->flasher_h.host.api, &r->fh, err, sizeof(err));
		if (rc == 0)
			return 0;
		if ((rc != -ENODEV && rc != -EIO) || now_ms() >= deadline)
			break;
		struct timespec ts = {0, OPEN_RETRY_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
	const char *hint = MCU_OTA_HAS(e, struct mcu_ota_entry_ops, missing_hint) && e->missing_hint
	                       ? e->missing_hint
	                       : "the entry method does not work on this board";
	if (rc == -ENODEV)
		return fail(r, -ETIMEDOUT,
		            "no bootloader appeared within %u ms after %s entry (%s). Likely: %s",
		            r->dev->bootloader_timeout_ms, r->entry_p.desc->name, err, hint);
	return fail(r, rc, "cannot open the bootloader after %s entry: %s", r->entry_p.desc->name,
	            err);
}

/* Start the application: leave DFU, then the entry plugin's exit (BOOT0 low
 * and a reset for gpio). A leave that fails because the chip already went is
 * not an error; the health check decides. */
static int bootloader_leave(struct run *r, uint32_t address)
{
	char err[1024] = "";
	if (r->fh) {
		int rc = flasher(r)->leave(r->fh, address, err, sizeof(err));
		if (rc < 0)
			log_debug("%s: leave: %s", r->dev->name, err);
		bootloader_close(r);
	}
	int rc = r->entry_p.desc->entry->exit(&r->entry_h.host.api, err, sizeof(err));
	if (rc < 0)
		return fail(r, rc, "%s exit failed: %s", r->entry_p.desc->name, err);
	return 0;
}

static int health_check(struct run *r, const char *version)
{
	char err[1024] = "";
	bool known = version && strcmp(version, ENGINE_VERSION_UNKNOWN) &&
	             strcmp(version, ENGINE_VERSION_BLANK);
	log_info("%s: waiting for the application%s%s (%s, %u ms)", r->dev->name,
	         known ? " to report " : "", known ? version : "", r->health_p.desc->name,
	         r->dev->health_timeout_ms);
	int rc = r->health_p.desc->health->check(&r->health_h.host.api, known ? version : NULL,
	                                         r->dev->health_timeout_ms, err, sizeof(err));
	if (rc < 0)
		return fail(r, rc, "health check failed: %s", err);
	return 0;
}

/* ---- images ---- */

static int sha256_hex(const uint8_t *data, size_t len, char out[65])
{
	uint8_t md[32];
	unsigned mdlen = 0;
	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -ENOMEM;
	hex_encode(md, 32, out);
	return 0;
}

/* version into m, or the outcome says why it does not fit. */
static int meta_version(struct run *r, struct slot_meta *m, const char *version)
{
	if (strlen(version) >= sizeof(m->version))
		return fail(r, -EINVAL, "version \"%.16s...\" is longer than %zu characters",
		            version, sizeof(m->version) - 1);
	snprintf(m->version, sizeof(m->version), "%s", version);
	return 0;
}

static int slot_put(struct run *r, enum store_slot slot, const uint8_t *data, size_t len,
                    uint32_t address, const char *version)
{
	char err[512];
	struct slot_meta m = {.size = len, .address = address};
	if (meta_version(r, &m, version) < 0)
		return r->out->code;
	int rc = sha256_hex(data, len, m.sha256);
	struct store_writer w;
	if (rc == 0)
		rc = store_write_begin(&r->store, slot, &m, &w, err, sizeof(err));
	if (rc == 0) {
		rc = store_write(&w, data, len, err, sizeof(err));
		if (rc == 0)
			rc = store_write_commit(&w, err, sizeof(err));
		else
			store_write_abort(&w);
	}
	if (rc < 0)
		return fail(r, rc, "%s", err);
	return 0;
}

/* The staged slot holds m's image: the journal says so, the start of every
 * install, an update's or a rollback's. */
static int staged(struct run *r, const struct slot_meta *m)
{
	snprintf(r->j.sha256, sizeof(r->j.sha256), "%s", m->sha256);
	snprintf(r->j.version, sizeof(r->j.version), "%s", m->version);
	r->j.error[0] = '\0';
	r->j.result = RESULT_NONE; /* until this attempt ends: not the last one's */
	return save(r, UPDATE_STAGED);
}

static int write_to_chip(struct run *r, const uint8_t *data, size_t len, uint32_t address)
{
	char err[1024] = "";
	struct mcu_ota_segment seg = {address, (uint32_t)len, data};
	struct mcu_ota_image img = {len ? 1 : 0, &seg};
	struct mcu_ota_write_options wo = {
	    .size = sizeof(wo), .alt = 0, .verify = true, .skip_unchanged = true};
	if (!len)
		return 0;
	r->flasher_h.phase[0] = '\0'; /* every write shows its phases from the start */
	int rc = flasher(r)->write(r->fh, &img, &wo, err, sizeof(err));
	if (rc < 0)
		return fail(r, rc, "%s", err);
	return 0;
}

/* ---- backing up ---- */

/* The readable run of the chip's main memory (alt 0) that starts at the
 * device's address. */
static size_t flash_extent(const struct mcu_ota_device_info *info, uint32_t address)
{
	const struct mcu_ota_memory *m = NULL;
	for (size_t i = 0; i < info->memory_count && !m; i++)
		if (info->memories[i].alt == 0)
			m = &info->memories[i];
	if (!m)
		return 0;
	uint64_t end = address;
	for (size_t i = 0; i < m->sector_count; i++) {
		const struct mcu_ota_sector *s = &m->sectors[i];
		if (!(s->access & MCU_OTA_SECTOR_READABLE))
			continue;
		if (s->address <= end && (uint64_t)s->address + s->size > end)
			end = (uint64_t)s->address + s->size;
	}
	return (size_t)(end - address);
}

static int backup(struct run *r)
{
	char err[1024] = "";
	int rc = bootloader_open(r);
	if (rc < 0)
		return rc;
	size_t len = flash_extent(flasher(r)->info(r->fh), r->dev->address);
	_cleanup_(freep) uint8_t *buf = len && len <= MAX_IMAGE_EXTENT ? malloc(len) : NULL;
	if (!len || len > MAX_IMAGE_EXTENT)
		snprintf(err, sizeof(err),
		         "the bootloader shows no readable memory at 0x%08" PRIx32,
		         r->dev->address);
	else if (!buf)
		return fail(r, -ENOMEM, "out of memory");
	else
		log_info("%s: no stored image: reading the chip's firmware back (%zu KiB) so that "
		         "it can be restored",
		         r->dev->name, len / 1024);
	rc =
	    buf ? flasher(r)->read(r->fh, 0, r->dev->address, buf, len, err, sizeof(err)) : -EACCES;
	if (rc < 0) {
		if (rc == -ENODEV)
			return fail(r, rc, "%s", err);
		if (r->dev->backup_required)
			return fail(
			    r, -EACCES,
			    "cannot read the firmware back from the chip (%s), so it could not "
			    "be restored if the update failed. Set "
			    "backup = \"optional\" for %s to update it anyway",
			    err, r->dev->name);
		log_warning("%s: cannot read the firmware back from the chip (%s): if this update "
		            "fails, there is nothing to roll back to (backup = \"optional\")",
		            r->dev->name, err);
		return 0;
	}
	/* erased flash at the end is not part of the image */
	size_t used = len;
	while (used && buf[used - 1] == 0xFF)
		used--;
	used = (used + BACKUP_ALIGN - 1) / BACKUP_ALIGN * BACKUP_ALIGN;
	if (used > len)
		used = len;
	rc = slot_put(r, STORE_CURRENT, buf, used, r->dev->address,
	              used ? ENGINE_VERSION_UNKNOWN : ENGINE_VERSION_BLANK);
	if (rc == 0)
		log_info("%s: kept %zu bytes of the chip's firmware as the image to restore",
		         r->dev->name, used);
	return rc;
}

/* ---- the high-water mark ---- */

/* One comparison everywhere (issue 12, finding 12): "2.0" is "2.0.0". */
static bool same_version(const char *a, const char *b)
{
	int c = 1;
	return version_compare(a, b, &c) == 0 && c == 0;
}

/* The device's high-water mark into mark ("" when none): the mark file, or
 * for a store written before marks were kept, the version current holds
 * (the best evidence of how far the device got). A corrupt mark is an
 * error: nothing is checked against a guess. */
static int mark_of(const struct store *s, char mark[STORE_VERSION_MAX], bool *from_current,
                   char *err, size_t errlen)
{
	mark[0] = '\0';
	*from_current = false;
	int rc = store_mark_load(s, mark, err, errlen);
	if (rc == 0 && !version_valid(mark)) {
		mcu_ota_set_error(err, errlen,
		                  "%s/mark is corrupt: \"%s\" is not a version. Write the highest "
		                  "version the device ran into it as root (version=X.Y.Z)",
		                  s->dir, mark);
		mark[0] = '\0';
		return -EBADMSG;
	}
	if (rc == -EBADMSG)
		snprintf(err + strlen(err), errlen - strlen(err),
		         ". Write the highest version the device ran into it as root "
		         "(version=X.Y.Z)");
	if (rc != -ENOENT)
		return rc;
	struct slot_meta cur;
	char ignored[512];
	if (store_meta(s, STORE_CURRENT, &cur, ignored, sizeof(ignored)) == 0 &&
	    version_valid(cur.version)) {
		snprintf(mark, STORE_VERSION_MAX, "%s", cur.version);
		*from_current = true;
	}
	return 0;
}

/* The lowest version the device may run, max(mark, min_version), into
 * floor ("" when none), and which of them it is. */
static int floor_of(struct run *r, char floor[STORE_VERSION_MAX], const char **why)
{
	char err[512];
	bool from_current;
	int rc = mark_of(&r->store, floor, &from_current, err, sizeof(err));
	if (rc < 0)
		return fail(r, rc, "%s", err);
	*why = "its high-water mark";
	const char *min = r->dev->min_version;
	int c = 0;
	if (min && (!floor[0] || (version_compare(min, floor, &c) == 0 && c > 0))) {
		snprintf(floor, STORE_VERSION_MAX, "%s", min);
		*why = "its min_version";
	}
	return 0;
}

/* Whether version may be installed (what: "install it", "roll back to it")
 * against the device's floor; else the outcome says why and what to do. A
 * version that cannot be compared is below any floor (finding 5). */
static int check_floor(struct run *r, const char *version, const char *what)
{
	char floor[STORE_VERSION_MAX];
	const char *why = "";
	int rc = floor_of(r, floor, &why);
	if (rc < 0 || !floor[0])
		return rc;
	int c = -1;
	bool comparable = version_compare(version, floor, &c) == 0;
	if (comparable && c >= 0)
		return 0;
	if (r->o->allow_downgrade) {
		log_warning("%s: %s is below %s, the lowest version it may run (%s): the downgrade "
		            "was allowed explicitly",
		            r->dev->name, version, floor, why);
		return 0;
	}
	if (comparable)
		return fail(r, -EPERM,
		            "%s is below %s, the lowest version device %s may run (%s): root must "
		            "allow the downgrade to %s",
		            version, floor, r->dev->name, why, what);
	return fail(r, -EPERM,
	            "\"%s\" is not a version, so it cannot be shown to be at least %s, the "
	            "lowest version device %s may run (%s): root must allow the downgrade to %s",
	            version, floor, r->dev->name, why, what);
}

/* At each commit (before staged becomes current, so that a store without a
 * mark file still counts the version it ran): the mark rises to version,
 * never falls. Repeated after a crash like the rest of committing. */
static int raise_mark(struct run *r, const char *version)
{
	char mark[STORE_VERSION_MAX], err[512];
	bool from_current;
	if (!version_valid(version)) /* "unknown", "blank": nothing to raise to */
		return 0;
	int rc = mark_of(&r->store, mark, &from_current, err, sizeof(err));
	if (rc == -EBADMSG) /* the update was checked against it before: replace it */
		log_warning("%s: %s: replacing it with %s", r->dev->name, err, version);
	else if (rc < 0)
		return fail(r, rc, "%s", err);
	int c = 1;
	if (rc == 0 && mark[0] && version_compare(version, mark, &c) == 0 && c <= 0) {
		if (!from_current)
			return 0; /* recorded, and as high or higher */
		version = mark;   /* a store without a mark file: record what it ran */
	}
	if ((rc = store_mark_save(&r->store, version, err, sizeof(err))) < 0)
		return fail(r, rc, "%s", err);
	return 0;
}

/* ---- rolling back ---- */

static void finish(struct run *r, enum update_state state, enum update_result result)
{
	r->j.result = result;
	snprintf(r->j.error, sizeof(r->j.error), "%s",
	         result == RESULT_INSTALLED ? "" : r->out->message);
	r->out->result = result;
	(void)save(r, state); /* a failed save leaves the last state: the next start repeats */
}

/* The image in slot (m its meta) padded with erased bytes over every byte
 * of the image described by other, so that nothing of that image survives
 * on the chip beside this one: one buffer of the span both cover (at most
 * the chip's flash), the slot read into it in chunks and checked against its
 * SHA-256. *out is the caller's to free. */
static int padded_image(struct run *r, enum store_slot slot, const struct slot_meta *m,
                        const struct slot_meta *other, uint8_t **out, size_t *outlen,
                        uint32_t *outaddr)
{
	char err[512];
	uint64_t lo = m->address, hi = (uint64_t)m->address + m->size;
	if (other && other->size) {
		if (other->address < lo)
			lo = other->address;
		if ((uint64_t)other->address + other->size > hi)
			hi = (uint64_t)other->address + other->size;
	}
	if (hi - lo > MAX_IMAGE_EXTENT)
		return fail(r, -ERANGE, "the images span more than 16 MiB");
	_cleanup_(freep) uint8_t *buf = malloc(hi - lo ? hi - lo : 1);
	if (!buf)
		return fail(r, -ENOMEM, "out of memory");
	memset(buf, 0xFF, hi - lo);
	int rc = store_read(&r->store, slot, m, buf + (m->address - lo), err, sizeof(err));
	if (rc < 0)
		return fail(r, rc, "%s", err);
	*out = take_ptr(&buf);
	*outlen = hi - lo;
	*outaddr = (uint32_t)lo;
	return 0;
}

/* current, padded with erased bytes over every byte staged covers, so that
 * nothing of a failed image survives beside the restored one. */
static int restore_image(struct run *r, uint8_t **out, size_t *len, uint32_t *address,
                         struct slot_meta *cur)
{
	char err[512];
	int rc = store_meta(&r->store, STORE_CURRENT, cur, err, sizeof(err));
	if (rc == 0)
		rc = store_read(&r->store, STORE_CURRENT, cur, NULL, err, sizeof(err));
	if (rc < 0)
		return fail(r, rc,
		            rc == -ENOENT ? "there is no image to roll back to (the chip could not "
		                            "be read before its first update)"
		                          : "the image to roll back to is damaged: %s",
		            err);
	struct slot_meta st;
	bool have_staged = store_meta(&r->store, STORE_STAGED, &st, err, sizeof(err)) == 0;
	return padded_image(r, STORE_CURRENT, cur, have_staged ? &st : NULL, out, len, address);
}

/* The update failed before committing: put current back. */
static void roll_back(struct run *r)
{
	r->may_be_in_bootloader = true; /* e.g. an image that does not boot */
	char why[sizeof(r->out->message)];
	snprintf(why, sizeof(why), "%s", r->out->message);
	snprintf(r->j.error, sizeof(r->j.error), "%s", why);
	log_error("%s: the update to %s failed: %s", r->dev->name, r->j.version, why);
	if (save(r, UPDATE_ROLLING_BACK) < 0)
		return;
	_cleanup_(freep) uint8_t *buf = NULL;
	size_t len = 0;
	uint32_t address = 0;
	struct slot_meta cur;
	int rc = restore_image(r, &buf, &len, &address, &cur);
	if (rc == 0) {
		log_info("%s: rolling back to %s", r->dev->name, cur.version);
		rc = bootloader_open(r);
	}
	if (rc == 0)
		rc = write_to_chip(r, buf, len, address);
	if (rc == 0)
		rc = bootloader_leave(r, cur.address);
	if (rc == 0 && strcmp(cur.version, ENGINE_VERSION_BLANK))
		rc = health_check(r, cur.version);
	if (rc < 0) {
		char how[sizeof(r->out->message)];
		snprintf(how, sizeof(how), "%s", r->out->message);
		bootloader_close(r);
		fail(r, rc, "the update to %s failed: %s; the rollback failed too: %s",
		     r->j.version, why, how);
		log_error("%s: %s. The device needs attention.", r->dev->name, r->out->message);
		finish(r, UPDATE_FAILED, RESULT_FAILED);
		return;
	}
	char err[512];
	if (store_drop(&r->store, STORE_STAGED, err, sizeof(err)) < 0)
		log_warning("%s: %s", r->dev->name, err);
	say(r, "the update to %s failed: %s; rolled back to %s", r->j.version, why, cur.version);
	log_warning("%s: %s", r->dev->name, r->out->message);
	finish(r, UPDATE_IDLE, RESULT_ROLLED_BACK);
}

/* The update failed before the chip was written: bring the chip back out of
 * its bootloader and forget the staged image. */
static void abandon(struct run *r)
{
	char err[512];
	int code = r->out->code;
	char why[sizeof(r->out->message)];
	snprintf(why, sizeof(why), "%s", r->out->message);
	bootloader_close(r);
	if (r->entry_p.desc->entry->exit(&r->entry_h.host.api, err, sizeof(err)) < 0)
		log_warning("%s: %s exit: %s", r->dev->name, r->entry_p.desc->name, err);
	if (store_drop(&r->store, STORE_STAGED, err, sizeof(err)) < 0)
		log_warning("%s: %s", r->dev->name, err);
	fail(r, code, "the update to %s was not started: %s", r->j.version, why);
	log_error("%s: %s", r->dev->name, r->out->message);
	finish(r, UPDATE_IDLE, RESULT_UNCHANGED);
}

/* ---- installing ---- */

/* Before the chip is written: the image to restore made whole (read back
 * from the chip when there is none, or the stored one is damaged), then the
 * bootloader opened. */
static int install_prepare(struct run *r)
{
	char err[512];
	struct slot_meta cur;
	bool have_current = store_meta(&r->store, STORE_CURRENT, &cur, err, sizeof(err)) == 0;
	/* the chip still runs it (the journal was idle), so it can be read again */
	if (have_current &&
	    store_read(&r->store, STORE_CURRENT, &cur, NULL, err, sizeof(err)) < 0) {
		log_warning("%s: the stored image of what the chip runs is damaged (%s): "
		            "reading it back from the chip again",
		            r->dev->name, err);
		if (store_drop(&r->store, STORE_CURRENT, err, sizeof(err)) == 0)
			have_current = false;
	}
	int rc = 0;
	if (!have_current) {
		rc = save(r, UPDATE_BACKING_UP);
		if (rc == 0)
			rc = backup(r);
	}
	if (rc == 0)
		rc = save(r, UPDATE_ENTERING);
	if (rc == 0)
		rc = bootloader_open(r);
	return rc;
}

/* Install staged, the journal being at state from (staged after staging;
 * anything up to checking after a crash). */
static void install(struct run *r, enum update_state from)
{
	char err[512];
	struct slot_meta st, cur;
	int rc = store_meta(&r->store, STORE_STAGED, &st, err, sizeof(err));
	if (rc == 0) /* checked here, read into the padded image below */
		rc = store_read(&r->store, STORE_STAGED, &st, NULL, err, sizeof(err));
	if (rc < 0) {
		fail(r, rc, "the staged image is damaged: %s", err);
		if (from >= UPDATE_FLASHING)
			roll_back(r);
		else
			abandon(r);
		return;
	}
	snprintf(r->j.version, sizeof(r->j.version), "%s", st.version);
	snprintf(r->j.sha256, sizeof(r->j.sha256), "%s", st.sha256);
	/* the chip is untouched until flashing: a failure here changes nothing */
	if (from < UPDATE_FLASHING && install_prepare(r) < 0) {
		abandon(r);
		return;
	}
	log_info("%s: installing %s (%" PRIu64 " bytes at 0x%08" PRIx32 ")", r->dev->name,
	         st.version, st.size, st.address);
	/* what the chip holds afterwards is the image alone: the sectors only the
	 * old image used are erased (a rollback to a smaller image leaves no code
	 * of the newer one behind) */
	_cleanup_(freep) uint8_t *padded = NULL;
	size_t padded_len = 0;
	uint32_t padded_at = 0;
	bool have_current = store_meta(&r->store, STORE_CURRENT, &cur, err, sizeof(err)) == 0;
	rc = padded_image(r, STORE_STAGED, &st, have_current ? &cur : NULL, &padded, &padded_len,
	                  &padded_at);
	if (rc == 0)
		rc = save(r, UPDATE_FLASHING);
	if (rc == 0)
		rc = bootloader_open(r);
	if (rc == 0)
		rc = write_to_chip(r, padded, padded_len, padded_at);
	if (rc == 0)
		rc = save(r, UPDATE_EXITING);
	if (rc == 0)
		rc = bootloader_leave(r, st.address);
	if (rc == 0)
		rc = save(r, UPDATE_CHECKING);
	if (rc == 0)
		rc = health_check(r, st.version);
	if (rc < 0) {
		bootloader_close(r);
		roll_back(r);
		return;
	}
	if (save(r, UPDATE_COMMITTING) < 0)
		return;
	if (raise_mark(r, st.version) < 0)
		return; /* the journal stays at committing: the next start repeats */
	if ((rc = store_promote(&r->store, err, sizeof(err))) < 0) {
		fail(r, rc, "%s",
		     err); /* the journal stays at committing: the next start repeats */
		return;
	}
	say(r, "%s installed and running", st.version);
	log_info("%s: %s", r->dev->name, r->out->message);
	finish(r, UPDATE_IDLE, RESULT_INSTALLED);
}

static void recover_step(struct run *r);

/* Finish what a crash interrupted. True when the caller may go on with its
 * own work: the journal is idle (recovered or never interrupted), or failed
 * from before (a person asks for an update or a rollback to mend it). */
static bool recover(struct run *r)
{
	enum update_state s = r->j.state;
	if (s == UPDATE_FAILED)
		r->may_be_in_bootloader = true;
	if (s == UPDATE_IDLE || s == UPDATE_FAILED)
		return true;
	r->may_be_in_bootloader = true;
	recover_step(r);
	if (r->j.state != UPDATE_IDLE)
		return false;
	/* the recovery is told in the log; the outcome is the requested work's */
	log_info("%s: recovered: %s", r->dev->name, r->out->message);
	r->out->result = RESULT_NONE;
	r->out->code = 0;
	r->out->message[0] = '\0';
	return true;
}

static void recover_step(struct run *r)
{
	char err[512];
	enum update_state s = r->j.state;
	log_warning("%s: an update to %s was interrupted while %s: finishing it", r->dev->name,
	            r->j.version, update_state_name(s));
	switch (s) {
	case UPDATE_COMMITTING: {
		if (raise_mark(r, r->j.version) < 0)
			return;
		int rc = store_promote(&r->store, err, sizeof(err));
		if (rc < 0) {
			fail(r, rc, "%s", err);
			return;
		}
		say(r, "%s installed and running", r->j.version);
		finish(r, UPDATE_IDLE, RESULT_INSTALLED);
		return;
	}
	case UPDATE_ROLLING_BACK:
		fail(r, -EINTR, "%s", r->j.error[0] ? r->j.error : "interrupted");
		roll_back(r);
		return;
	default:
		install(r, s);
		return;
	}
}

/* ---- a device's run ---- */

static int run_open(struct run *r, const struct engine_options *o, const struct device_config *dev,
                    struct engine_outcome *out)
{
	char err[1024];
	const char *dir = o->plugin_dir ? o->plugin_dir : o->config->plugin_dir;
	memset(out, 0, sizeof(*out));
	snprintf(out->device, sizeof(out->device), "%s", dev->name);
	r->o = o;
	r->dev = dev;
	r->out = out;
	host_from_section(r, &r->entry_h, dev->entry.section);
	host_from_section(r, &r->flasher_h, dev->flasher.section);
	host_from_section(r, &r->health_h, dev->health.section);
	const struct {
		const struct config_plugin *section;
		enum mcu_ota_plugin_kind kind;
		struct plugin *p;
	} parts[] = {{&dev->entry, MCU_OTA_PLUGIN_ENTRY, &r->entry_p},
	             {&dev->flasher, MCU_OTA_PLUGIN_FLASHER, &r->flasher_p},
	             {&dev->health, MCU_OTA_PLUGIN_HEALTH, &r->health_p}};
	int rc = 0;
	for (size_t i = 0; i < sizeof(parts) / sizeof(*parts) && rc == 0; i++) {
		rc = plugin_load(plugin_dir(dir), parts[i].section->plugin, parts[i].kind,
		                 parts[i].p, err, sizeof(err));
		/* a setting the plugin does not know is a typo: nothing is touched */
		if (rc == 0)
			rc = config_check_plugin(o->config, parts[i].section, parts[i].p, err,
			                         sizeof(err));
	}
	if (rc == 0 && r->rx && !r->rx->locked) { /* the bundle came in without it */
		rc = r->rx->lock_code ? r->rx->lock_code : -EIO;
		snprintf(err, sizeof(err), "%s", r->rx->lock_error);
	} else if (rc == 0 && r->rx) { /* locked while its image came in */
		r->store = r->rx->store;
		r->rx->locked = false;
		r->locked = true;
	} else if (rc == 0) {
		rc = store_open(o->config->state_dir, dev->name, &r->store, err, sizeof(err));
		r->locked = rc == 0;
	}
	if (rc == 0)
		rc = journal_load(&r->store, &r->j, err, sizeof(err));
	if (rc < 0)
		return fail(r, rc, "%s", err);
	return 0;
}

static void run_close(struct run *r)
{
	bootloader_close(r);
	if (r->locked)
		store_close(&r->store);
	r->locked = false;
	plugin_unload(&r->entry_p);
	plugin_unload(&r->flasher_p);
	plugin_unload(&r->health_p);
}

void engine_recover(const struct engine_options *o, const struct device_config *dev,
                    struct engine_outcome *out)
{
	struct run r = {0};
	if (run_open(&r, o, dev, out) == 0) {
		if (r.j.state == UPDATE_IDLE || r.j.state == UPDATE_FAILED)
			say(&r, r.j.state == UPDATE_FAILED ? "failed before: needs a person"
			                                   : "nothing to recover");
		else
			recover_step(&r);
	}
	run_close(&r);
}

void engine_rollback(const struct engine_options *o, const struct device_config *dev,
                     struct engine_outcome *out)
{
	struct run r = {0};
	char err[512];
	if (run_open(&r, o, dev, out) < 0 || !recover(&r)) {
		run_close(&r);
		return;
	}
	struct slot_meta prev;
	int rc = store_meta(&r.store, STORE_PREVIOUS, &prev, err, sizeof(err));
	if (rc == 0)
		rc = store_read(&r.store, STORE_PREVIOUS, &prev, NULL, err, sizeof(err));
	if (rc < 0) {
		fail(&r, rc, rc == -ENOENT ? "%s has no previous image to roll back to" : "%s: %s",
		     dev->name, err);
		run_close(&r);
		return;
	}
	if (!strcmp(prev.version, ENGINE_VERSION_BLANK)) {
		fail(&r, -ENOENT,
		     "%s was blank before its first update: there is no firmware to roll "
		     "back to",
		     dev->name);
		run_close(&r);
		return;
	}
	/* rollback is a downgrade like any other (finding 5) */
	if (check_floor(&r, prev.version, "roll back to it") < 0) {
		log_error("%s: %s", dev->name, r.out->message);
		run_close(&r);
		return;
	}
	log_info("%s: rolling back to the previous image, %s", dev->name, prev.version);
	/* previous goes through staged like any update, so a crash is recovered
	 * the same way; committing then swaps current and previous */
	rc = store_copy(&r.store, STORE_PREVIOUS, STORE_STAGED, err, sizeof(err));
	if (rc < 0)
		fail(&r, rc, "%s", err);
	else
		rc = staged(&r, &prev);
	if (rc == 0)
		install(&r, UPDATE_STAGED);
	run_close(&r);
}

/* ---- updating from a bundle ---- */

static int hash_piece(void *ctx, const uint8_t *data, size_t len)
{
	return EVP_DigestUpdate(ctx, data, len) ? 0 : -ENOMEM;
}

/* The flat image's SHA-256, from its pieces: nothing of its size is built. */
static int flat_sha256(const struct image *im, char out[65])
{
	_cleanup_(evp_md_ctx_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t digest[32];
	unsigned n = 0;
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) ||
	    image_flatten(im, hash_piece, md) || !EVP_DigestFinal_ex(md, digest, &n))
		return -ENOMEM;
	hex_encode(digest, sizeof(digest), out);
	return 0;
}

/* What the staged slot will hold (m: its size, address and SHA-256), from
 * the received image. A raw binary is one run of bytes already and stays
 * where it lies (*raw); any other format is parsed from the file mapped in
 * place, so that only the pages the parser reads come in, into im (its
 * data segments, not the file). */
static int flatten(struct run *r, struct slot_meta *m, struct image *im, bool *raw)
{
	char err[512];
	const struct swu_image *img = r->img;
	uint32_t at = img->has_address ? img->address : r->dev->address;
	size_t len = (size_t)img->size;
	_cleanup_(closep) int fd = store_image_fd(&r->store, STORE_RECEIVED, err, sizeof(err));
	if (fd < 0)
		return fail(r, fd, "image %s: %s", img->filename, err);
	uint8_t *map = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	if (map == MAP_FAILED)
		return fail(r, -errno, "image %s: cannot map it: %s", img->filename,
		            strerror(errno));
	enum image_format fmt = img->format ? img->format : image_detect(map, len);
	int rc;
	*raw = fmt == IMAGE_FORMAT_BIN;
	if (*raw)
		rc = image_bin_check(len, at, err, sizeof(err));
	else
		rc = image_load_buffer(map, len, fmt, at, im, err, sizeof(err));
	if (map)
		munmap(map, len);
	if (rc < 0)
		return fail(r, rc, "image %s: %s", img->filename, err);
	if (!*raw && !im->segment_count)
		return fail(r, -EINVAL, "image %s holds no data", img->filename);
	if (*raw) {
		*m = (struct slot_meta){.size = len, .address = at};
		snprintf(m->sha256, sizeof(m->sha256), "%s", img->sha256_hex);
	} else {
		const struct mcu_ota_segment *last = &im->segments[im->segment_count - 1];
		*m = (struct slot_meta){.address = im->segments[0].address};
		m->size = (uint64_t)last->address + last->length - m->address;
	}
	if (m->size > MAX_IMAGE_EXTENT)
		return fail(r, -EFBIG, "image %s spans more than 16 MiB", img->filename);
	if (!*raw && flat_sha256(im, m->sha256) < 0)
		return fail(r, -ENOMEM, "out of memory");
	return 0;
}

static int write_piece(void *ctx, const uint8_t *data, size_t len)
{
	char err[512];
	return store_write(ctx, data, len, err, sizeof(err));
}

/* The received image becomes the staged one (m, flatten's): a raw binary by
 * a rename, any other format written flat in pieces. */
static int stage_received(struct run *r, struct slot_meta *m, const struct image *im, bool raw,
                          const char *version)
{
	char err[512];
	struct store_writer w;
	if (meta_version(r, m, version) < 0)
		return r->out->code;
	int rc = raw ? store_move(&r->store, STORE_RECEIVED, STORE_STAGED, err, sizeof(err))
	             : store_write_begin(&r->store, STORE_STAGED, m, &w, err, sizeof(err));
	if (rc == 0 && !raw) {
		rc = image_flatten(im, write_piece, &w);
		if (rc < 0) {
			store_write_abort(&w);
			snprintf(err, sizeof(err), "cannot write the staged image: %s",
			         strerror(-rc));
		} else {
			rc = store_write_commit(&w, err, sizeof(err));
		}
	}
	if (rc < 0)
		return fail(r, rc, "%s", err);
	return staged(r, m);
}

/* The version policy: whether r's image is to be installed; else the
 * outcome says why not. cur and have: what current holds. */
static bool policy_allows(struct run *r, const char *version, const struct slot_meta *cur,
                          bool have)
{
	/* root's --allow-downgrade goes below what runs as well as below the mark */
	struct version_policy pol = {.install_if_different = r->img->install_if_different,
	                             .install_if_higher = r->img->install_if_higher,
	                             .allow_downgrade =
	                                 r->dev->allow_downgrade || r->o->allow_downgrade};
	char reason[256];
	enum version_decision d =
	    version_decide(have ? cur->version : NULL, version, &pol, reason, sizeof(reason));
	if (d == VERSION_SKIP) {
		say(r, "%s", reason);
		log_info("%s: nothing to do: %s", r->dev->name, reason);
		return false;
	}
	/* the floor holds whatever current is: unknown, blank or not a version
	 * (finding 5), and whatever the device's allow_downgrade says */
	if (check_floor(r, version, "install it") < 0) {
		log_error("%s: %s", r->dev->name, r->out->message);
		return false;
	}
	if (d == VERSION_REFUSE) {
		fail(r, -EPERM,
		     "%s (root must allow the downgrade, or set allow_downgrade = true for this "
		     "device)",
		     reason);
		log_error("%s: %s", r->dev->name, r->out->message);
		return false;
	}
	return true;
}

static void update_device(struct run *r)
{
	char err[512];
	if (!recover(r))
		return;
	const char *version = swu_image_version(r->manifest, r->img);
	snprintf(r->out->version, sizeof(r->out->version), "%s", version);
	struct slot_meta cur;
	/* after a failed rollback the chip holds neither image: nothing to skip */
	bool have = r->j.state != UPDATE_FAILED &&
	            store_meta(&r->store, STORE_CURRENT, &cur, err, sizeof(err)) == 0 &&
	            version_valid(cur.version);
	if (!policy_allows(r, version, &cur, have))
		return;
	struct image im = {0};
	struct slot_meta m;
	bool raw = false;
	if (flatten(r, &m, &im, &raw) < 0) {
		image_free(&im);
		log_error("%s: %s", r->dev->name, r->out->message);
		return;
	}
	/* the very image that runs (a server that re-published the same bytes):
	 * the daemon does not put the chip through its bootloader for nothing */
	if (r->o->skip_running_image && have && r->j.state == UPDATE_IDLE &&
	    same_version(cur.version, version) && cur.address == m.address &&
	    !strcmp(m.sha256, cur.sha256)) {
		image_free(&im);
		say(r, "%s already runs (the same image, sha256 %.16s...)", version, m.sha256);
		log_info("%s: nothing to do: %s", r->dev->name, r->out->message);
		return;
	}
	int rc = stage_received(r, &m, &im, raw, version);
	image_free(&im);
	if (rc < 0) {
		log_error("%s: %s", r->dev->name, r->out->message);
		return;
	}
	install(r, UPDATE_STAGED);
}

static void *update_thread(void *arg)
{
	struct run *r = arg;
	char err[512];
	if (!r->locked)
		return NULL;
	update_device(r);
	/* staged, or not wanted: the received image is done with either way */
	if (store_drop(&r->store, STORE_RECEIVED, err, sizeof(err)) < 0)
		log_warning("%s: %s", r->dev->name, err);
	return NULL;
}

static void download_progress(void *ctx, uint64_t done, uint64_t total)
{
	const struct engine_options *o = ctx;
	o->progress(o->progress_ctx, "", "download", done, total);
}

/* A passed descriptor is read through itself (never re-opened, so the
 * sender's rights, not ours, decide), under a time limit; the reader bounds
 * the size (limits.max_bundle). */
#define FD_READ_LIMIT_MS 300000u

/* What the configuration calls the settings a download error may name. */
static const struct fetch_setting_names config_fetch_names = {
    .tls_ca = "fetch.ca or fetch.ca_dir",
    .client_cert = "fetch.client_cert and fetch.client_key",
    .allow_http = "fetch.allow_http",
    .max_size = "bundle.max_size",
    .proxy = "fetch.proxy",
};

/* A URL's bundle, kept in <state_dir>/downloads while it comes in (fetch/
 * resume.h): a download cut off for good leaves its bytes there, and the
 * next one for the URL replays them through the reader and asks only for
 * the rest. A verified or refused bundle leaves nothing. */
static int download_bundle(const struct engine_options *o, const char *source,
                           struct swu_reader *rd, bool *not_modified, char *err, size_t errlen)
{
	struct fetch_part_consumer consumer = swu_fetch_consumer(rd);
	struct fetch_options fo = o->config->fetch;
	struct fetch_result local, *res = o->fetched ? o->fetched : &local;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/downloads", o->config->state_dir);
	_cleanup_(fetch_part_closep) struct fetch_part *part = NULL;
	int rc = fetch_part_open_in(&part, dir, source, err, errlen);
	if (rc < 0)
		return rc;
	fo.progress = o->progress ? download_progress : NULL;
	fo.ctx = (void *)o;
	fo.cancel = o->cancel;
	fo.max_size = o->config->limits.max_bundle;
	fo.if_none_match = o->if_none_match;
	fo.if_modified_since = o->if_modified_since;
	fo.names = &config_fetch_names;
	rc = fetch_part_download(part, source, &fo, &consumer, res, err, errlen);
	if (rc == 0)
		*not_modified = res->not_modified;
	if (rc == 0)
		return fetch_part_commit(part, NULL, err, errlen);
	char path[sizeof(part->path)], size[32];
	snprintf(path, sizeof(path), "%s", part->path);
	uint64_t kept = fetch_part_close(take_ptr(&part));
	format_size(kept, size, sizeof(size));
	if (kept)
		log_info("kept %s of the download in %s: the next update from this URL goes on "
		         "from there",
		         size, path);
	return rc;
}

static int read_bundle(const struct engine_options *o, const char *source, struct swu_reader *rd,
                       bool *not_modified, char *err, size_t errlen)
{
	*not_modified = false;
	if (o->source_fd >= 0)
		return swu_reader_feed_fd(rd, o->source_fd,
		                          o->source_name ? o->source_name : source, o->cancel,
		                          FD_READ_LIMIT_MS, err, errlen);
	if (!fetch_is_url(source))
		return swu_reader_feed_file(rd, source, err, errlen);
	return download_bundle(o, source, rd, not_modified, err, errlen);
}

/* The device of runs[*k] gets its image from the bundle m (received into
 * rx), unless it is not asked for or the bundle has none for it. */
static int pick_image(const struct engine_options *o, const struct swu_manifest *m,
                      struct receiver *rx, const struct device_config *d,
                      const char *const *devices, size_t n, struct run *runs, size_t *k, char *err,
                      size_t errlen)
{
	bool wanted = receiver_asks(rx, d->name);
	const struct swu_image *img = NULL;
	for (size_t j = 0; j < m->image_count && !img; j++)
		if (!strcmp(m->images[j].device, d->name))
			img = &m->images[j];
	if (!wanted || (!img && n == 0))
		return 0;
	if (!img) {
		mcu_ota_set_error(err, errlen, "the bundle has no image for device %s", d->name);
		return -ESRCH;
	}
	/* the version the install would use (finding 1: an image may have
	 * none of its own), compared as versions (finding 12) */
	const char *offered = swu_image_version(m, img);
	for (size_t w = 0; w < n && o->expect_versions; w++)
		if (!strcmp(devices[w], d->name) && o->expect_versions[w] &&
		    !same_version(o->expect_versions[w], offered)) {
			mcu_ota_set_error(err, errlen,
			                  "the bundle holds version %s for device %s, but "
			                  "version %s is wanted: nothing installed",
			                  offered, d->name, o->expect_versions[w]);
			return -ESRCH;
		}
	struct run *r = &runs[*k];
	r->manifest = m;
	r->img = img;
	r->rx = receiver_get(rx, d);
	/* a device another process drives: its outcome says so when it runs */
	if (!r->rx->committed && !r->rx->lock_code) {
		mcu_ota_set_error(err, errlen, "image %s is missing", img->filename);
		return -EBADMSG;
	}
	r->dev = d;
	(*k)++;
	return 0;
}

/* Each run's device locked (a device another process drives is reported,
 * the others go on), then updated, in parallel when there are several. */
static void run_devices(const struct engine_options *o, struct run *runs, size_t k,
                        struct engine_outcome *outcomes)
{
	for (size_t i = 0; i < k; i++) {
		const struct device_config *d = runs[i].dev;
		if (run_open(&runs[i], o, d, &outcomes[i]) < 0)
			log_error("%s: %s", d->name, outcomes[i].message);
	}
	pthread_t th[CONFIG_MAX_DEVICES];
	bool started[CONFIG_MAX_DEVICES] = {false};
	for (size_t i = 0; i < k; i++)
		started[i] = k > 1 && log_thread_create(&th[i], update_thread, &runs[i]) == 0;
	for (size_t i = 0; i < k; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			update_thread(&runs[i]);
		run_close(&runs[i]);
	}
}

int engine_update(const struct engine_options *o, const char *source, const char *const *devices,
                  size_t n, struct engine_outcome *outcomes, size_t *count, char *err,
                  size_t errlen)
{
	const struct config *c = o->config;
	/* the receiver outlives the reader: freeing a reader aborts its open images there */
	_cleanup_(receiver_freep) struct receiver *rx = NULL;
	_cleanup_(swu_reader_freep) struct swu_reader *rd = NULL;
	*count = 0;
	for (size_t i = 0; i < n; i++)
		if (!config_device(c, devices[i])) {
			mcu_ota_set_error(err, errlen, "no device \"%s\" in %s", devices[i],
			                  c->path);
			return -ESRCH;
		}
	int rc = receiver_new(&rx, c, devices, n);
	if (rc < 0) {
		mcu_ota_set_error(err, errlen, "out of memory");
		return rc;
	}
	/* images of the devices updated go into their stores as they arrive */
	rc = swu_reader_new(&rd, &c->trust, &c->limits, &receiver_ops, rx, err, errlen);
	bool not_modified = false;
	if (rc == 0)
		rc = read_bundle(o, source, rd, &not_modified, err, errlen);
	if (rc < 0 || not_modified)
		return rc;
	const struct swu_manifest *m = swu_reader_manifest(rd);
	char shown[1024];
	if (o->source_name)
		snprintf(shown, sizeof(shown), "%s", o->source_name);
	else if (fetch_is_url(source))
		fetch_redact_url(source, shown,
		                 sizeof(shown)); /* no credentials or tokens in logs */
	else
		snprintf(shown, sizeof(shown), "%s", source);
	log_info("bundle %s verified: version %s, signed by %s", shown, m->version, m->signer);
	/* the gateway's hardware before any device is touched (finding 6) */
	struct hardware_id hw;
	hardware_identify(c, &hw);
	if ((rc = hardware_check(&hw, m, err, errlen)) < 0)
		return rc;

	/* which device gets which image */
	_cleanup_(freep) struct run *runs = calloc(CONFIG_MAX_DEVICES, sizeof(*runs));
	if (!runs) {
		mcu_ota_set_error(err, errlen, "out of memory");
		return -ENOMEM;
	}
	size_t k = 0;
	for (size_t i = 0; i < c->device_count && rc == 0; i++)
		rc = pick_image(o, m, rx, &c->devices[i], devices, n, runs, &k, err, errlen);
	if (rc < 0)
		return rc;
	for (size_t j = 0; j < m->image_count; j++)
		if (!config_device(c, m->images[j].device))
			log_warning("image %s is for device %s, which is not configured: skipped",
			            m->images[j].filename, m->images[j].device);
	if (k == 0) {
		mcu_ota_set_error(err, errlen, "the bundle has no image for any configured device");
		return -ESRCH;
	}
	run_devices(o, runs, k, outcomes);
	*count = k;
	return 0;
}

void engine_status(const struct config *c, const struct device_config *dev, struct engine_status *s)
{
	struct store st;
	char err[512];
	memset(s, 0, sizeof(*s));
	int r = store_open_readonly(c->state_dir, dev->name, &st, err, sizeof(err));
	if (r == -ENOENT)
		return;
	if (r < 0) {
		snprintf(s->error, sizeof(s->error), "%s", err);
		return;
	}
	s->known = true;
	s->has_current = store_meta(&st, STORE_CURRENT, &s->current, err, sizeof(err)) == 0;
	s->has_previous = store_meta(&st, STORE_PREVIOUS, &s->previous, err, sizeof(err)) == 0;
	if (journal_load(&st, &s->journal, err, sizeof(err)) < 0)
		snprintf(s->error, sizeof(s->error), "%s", err);
	if (mark_of(&st, s->mark, &s->mark_from_current, err, sizeof(err)) < 0)
		snprintf(s->error, sizeof(s->error), "%s", err);
	store_close(&st);
}
