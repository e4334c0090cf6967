/* Fake entry, flasher and health plugins for the update engine's tests: a
 * chip simulated in a folder, so that the engine runs without hardware. Built
 * three times (FAKE_ENTRY, FAKE_FLASHER, FAKE_HEALTH) into
 * mcu-ota-fake-{entry,flasher,health}.so.
 *
 * Every plugin section names the chip's folder with chip = "<dir>". In it:
 *   flash      FAKE_FLASH_SIZE bytes of flash at FAKE_FLASH_BASE
 *   dfu        present while the chip is in its bootloader
 *   ops        one line per operation (enter, open, write, read, leave,
 *              exit, check), appended
 * and, made by a test to inject a fault (present = always, until removed):
 *   fault-enter       enter fails
 *   fault-open        open fails with -EIO
 *   fault-write       a write stops half-way through with -EIO
 *   fault-write-once  the same, once (the file is removed)
 *   fault-read        read fails with -EACCES (read protection)
 *   fault-unreadable  the bootloader describes no readable sector
 *   fault-health      the health check fails
 *   fault-exit        exit fails
 * and, to hold a write in the middle (status, progress, a stop during it),
 * a pause point that the test moves and releases:
 *   hold              holds a number N: a write goes a sector at a time with
 *                     "write" progress, and waits before sector N (counted
 *                     from 0 in each segment) while this file exists and says
 *                     N or less; rewriting it with a larger N (by rename) lets
 *                     it go on to that sector, removing it lets it finish
 *   held              made by the flasher while it waits: the sector number
 *                     it waits before; removed when it goes on
 *
 * The application: flash that starts with "APP:" runs and reports the
 * NUL-ended version after it; anything else does not boot.
 *
 * With bus = "<dir>" instead of chip, the flasher opens whatever chip folder
 * under <dir> is in its bootloader (a selection that matches any device). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mcu-ota/plugin.h>

#include "fake_chip.h"

static int chip_dir(const struct mcu_ota_host *host, const char **dir, char *err, size_t errlen)
{
	if (host->config_string(host->ctx, "chip", dir) < 0) {
		mcu_ota_set_error(err, errlen, "fake: no chip setting");
		return -EINVAL;
	}
	return 0;
}

static void path(char *out, size_t n, const char *dir, const char *file)
{
	if (snprintf(out, n, "%s/%s", dir, file) >= (int)n)
		out[0] = '\0';
}

static bool has(const char *dir, const char *file)
{
	char p[4200];
	path(p, sizeof(p), dir, file);
	return access(p, F_OK) == 0;
}

__attribute__((unused)) static void put(const char *dir, const char *file)
{
	char p[4200];
	path(p, sizeof(p), dir, file);
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
}

__attribute__((unused)) static void drop(const char *dir, const char *file)
{
	char p[4200];
	path(p, sizeof(p), dir, file);
	unlink(p);
}

static void note(const char *dir, const char *fmt, ...) MCU_OTA_PRINTF(2, 3);
static void note(const char *dir, const char *fmt, ...)
{
	char p[4200];
	path(p, sizeof(p), dir, "ops");
	FILE *f = fopen(p, "ae");
	if (!f)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

__attribute__((unused)) static int flash_io(const char *dir, bool write, uint32_t address,
                                            void *data, size_t len)
{
	char p[4200];
	if (address < FAKE_FLASH_BASE ||
	    (uint64_t)address + len > FAKE_FLASH_BASE + FAKE_FLASH_SIZE)
		return -ERANGE;
	path(p, sizeof(p), dir, "flash");
	int fd = open(p, (write ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write ? pwrite(fd, data, len, address - FAKE_FLASH_BASE)
	                  : pread(fd, data, len, address - FAKE_FLASH_BASE);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

#ifdef FAKE_ENTRY
static int enter(const struct mcu_ota_host *host, char *err, size_t errlen)
{
	const char *dir;
	int r = chip_dir(host, &dir, err, errlen);
	if (r < 0)
		return r;
	note(dir, "enter");
	if (has(dir, "fault-enter")) {
		mcu_ota_set_error(err, errlen, "fake: BOOT0 line is stuck");
		return -EIO;
	}
	put(dir, "dfu");
	return 0;
}

static int leave_dfu(const struct mcu_ota_host *host, char *err, size_t errlen)
{
	const char *dir;
	int r = chip_dir(host, &dir, err, errlen);
	if (r < 0)
		return r;
	note(dir, "exit");
	if (has(dir, "fault-exit")) {
		mcu_ota_set_error(err, errlen, "fake: NRST line is stuck");
		return -EIO;
	}
	drop(dir, "dfu");
	return 0;
}

static const struct mcu_ota_entry_ops entry_ops = {
    .size = sizeof(struct mcu_ota_entry_ops),
    .enter = enter,
    .exit = leave_dfu,
    .missing_hint = "the fake chip did not enter",
};

static const struct mcu_ota_plugin plugin = {
    .abi = MCU_OTA_PLUGIN_ABI,
    .kind = MCU_OTA_PLUGIN_ENTRY,
    .name = "fake-entry",
    .description = "a chip in a folder: entry",
    .entry = &entry_ops,
};
#endif

#ifdef FAKE_FLASHER
struct handle {
	char dir[4096];
	const struct mcu_ota_host *host; /* for progress; lives as long as the handle */
	struct mcu_ota_sector sectors[FAKE_FLASH_SIZE / FAKE_SECTOR_SIZE];
	struct mcu_ota_memory memory;
	struct mcu_ota_device_info info;
};

static int list(const struct mcu_ota_host *host, mcu_ota_device_cb cb, void *user, char *err,
                size_t errlen)
{
	(void)host, (void)cb, (void)user, (void)err, (void)errlen;
	return 0;
}

/* The chip folder of a bus = "<dir>" selection: the first one in DFU. */
static int find_on_bus(const char *bus, char *out, size_t outlen)
{
	DIR *d = opendir(bus);
	if (!d)
		return -ENODEV;
	int r = -ENODEV;
	for (struct dirent *e; r < 0 && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		if (snprintf(out, outlen, "%s/%s", bus, e->d_name) < (int)outlen && has(out, "dfu"))
			r = 0;
	}
	closedir(d);
	return r;
}

static int fopen_(const struct mcu_ota_host *host, void **out, char *err, size_t errlen)
{
	const char *dir = NULL, *bus = NULL;
	char found[4096];
	if (host->config_string(host->ctx, "bus", &bus) == 0) {
		if (find_on_bus(bus, found, sizeof(found)) < 0) {
			mcu_ota_set_error(err, errlen, "fake: no chip in DFU on %s", bus);
			return -ENODEV;
		}
		dir = found;
	} else {
		int r = chip_dir(host, &dir, err, errlen);
		if (r < 0)
			return r;
	}
	note(dir, "open");
	if (has(dir, "fault-open")) {
		mcu_ota_set_error(err, errlen, "fake: cannot open");
		return -EIO;
	}
	if (!has(dir, "dfu")) {
		mcu_ota_set_error(err, errlen, "fake: no DFU device");
		return -ENODEV;
	}
	struct handle *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	snprintf(h->dir, sizeof(h->dir), "%s", dir);
	h->host = host;
	unsigned access = MCU_OTA_SECTOR_ERASABLE | MCU_OTA_SECTOR_WRITABLE;
	if (!has(dir, "fault-unreadable"))
		access |= MCU_OTA_SECTOR_READABLE;
	for (size_t i = 0; i < sizeof(h->sectors) / sizeof(*h->sectors); i++)
		h->sectors[i] = (struct mcu_ota_sector){
		    FAKE_FLASH_BASE + (uint32_t)(i * FAKE_SECTOR_SIZE), FAKE_SECTOR_SIZE, access};
	h->memory.alt = 0;
	snprintf(h->memory.name, sizeof(h->memory.name), "Internal Flash");
	h->memory.sector_count = sizeof(h->sectors) / sizeof(*h->sectors);
	h->memory.sectors = h->sectors;
	h->info.vid = 0x0483;
	h->info.pid = 0xdf11;
	snprintf(h->info.serial, sizeof(h->info.serial), "FAKE");
	h->info.memory_count = 1;
	h->info.memories = &h->memory;
	*out = h;
	return 0;
}

static const struct mcu_ota_device_info *info(void *handle)
{
	return &((struct handle *)handle)->info;
}

/* The hold file's sector number; -1 when there is no hold. */
static long hold_at(const char *dir)
{
	char p[4200], text[32] = "";
	path(p, sizeof(p), dir, "hold");
	FILE *f = fopen(p, "re");
	if (!f)
		return -1;
	if (!fgets(text, sizeof(text), f))
		text[0] = '\0';
	fclose(f);
	return strtol(text, NULL, 10);
}

/* Writes "held" (by rename: the test never reads half of it). */
static void say_held(const char *dir, uint32_t sector)
{
	char p[4200], tmp[4200];
	path(p, sizeof(p), dir, "held");
	path(tmp, sizeof(tmp), dir, "held.tmp");
	FILE *f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "%u\n", (unsigned)sector);
	if (fclose(f) == 0)
		rename(tmp, p);
}

/* The pause point: waits while the hold file says this sector or an earlier
 * one. The bound only matters when a test died without releasing it. */
static int wait_for_release(const char *dir, uint32_t sector)
{
	bool said = false;
	for (long ms = 0; hold_at(dir) >= 0 && hold_at(dir) <= (long)sector; ms += 5) {
		if (ms > 600000)
			return -ETIMEDOUT;
		if (!said)
			say_held(dir, sector), said = true;
		struct timespec t = {0, 5000000L};
		while (nanosleep(&t, &t) < 0 && errno == EINTR)
			;
	}
	if (said)
		drop(dir, "held");
	return 0;
}

/* A write a sector at a time, with progress, as a real chip would, stopping
 * at the hold file's sector. */
static int held_write(struct handle *h, const struct mcu_ota_segment *s, char *err, size_t errlen)
{
	uint32_t sector = 0;
	for (uint32_t off = 0; off < s->length; sector++) {
		uint32_t n =
		    s->length - off < FAKE_SECTOR_SIZE ? s->length - off : FAKE_SECTOR_SIZE;
		if (wait_for_release(h->dir, sector) < 0) {
			mcu_ota_set_error(err, errlen, "fake: held for 10 minutes, never released");
			return -ETIMEDOUT;
		}
		int r = flash_io(h->dir, true, s->address + off, (void *)(s->data + off), n);
		if (r < 0) {
			mcu_ota_set_error(err, errlen, "fake: cannot write the flash");
			return r;
		}
		off += n;
		if (h->host && h->host->progress)
			h->host->progress(h->host->ctx, "write", off, s->length);
	}
	return 0;
}

static int fwrite_(void *handle, const struct mcu_ota_image *image,
                   const struct mcu_ota_write_options *o, char *err, size_t errlen)
{
	struct handle *h = handle;
	(void)o;
	for (size_t i = 0; i < image->segment_count; i++) {
		const struct mcu_ota_segment *s = &image->segments[i];
		note(h->dir, "write 0x%08x %u", (unsigned)s->address, (unsigned)s->length);
		uint64_t end = (uint64_t)s->address + s->length;
		if (s->address < FAKE_FLASH_BASE || end > FAKE_FLASH_BASE + FAKE_FLASH_SIZE) {
			mcu_ota_set_error(err, errlen, "fake: 0x%08x+%u is outside the flash",
			                  (unsigned)s->address, (unsigned)s->length);
			return -ERANGE;
		}
		/* erase the touched sectors, as DfuSe does */
		uint32_t lo = s->address - (s->address - FAKE_FLASH_BASE) % FAKE_SECTOR_SIZE;
		uint64_t hi =
		    end + (FAKE_SECTOR_SIZE - (end - FAKE_FLASH_BASE) % FAKE_SECTOR_SIZE) %
		              FAKE_SECTOR_SIZE;
		uint8_t *blank = malloc(hi - lo);
		if (!blank)
			return -ENOMEM;
		memset(blank, 0xFF, hi - lo);
		int r = flash_io(h->dir, true, lo, blank, hi - lo);
		free(blank);
		if (r < 0)
			return r;
		bool once = has(h->dir, "fault-write-once");
		if (once || has(h->dir, "fault-write")) {
			if (once)
				drop(h->dir, "fault-write-once");
			/* half of it, then the transfer fails */
			(void)flash_io(h->dir, true, s->address, (void *)s->data, s->length / 2);
			mcu_ota_set_error(err, errlen, "fake: DfuSe error during download");
			return -EIO;
		}
		if (hold_at(h->dir) >= 0) {
			r = held_write(h, s, err, errlen);
			if (r < 0)
				return r;
			continue;
		}
		r = flash_io(h->dir, true, s->address, (void *)s->data, s->length);
		if (r < 0) {
			mcu_ota_set_error(err, errlen, "fake: cannot write the flash");
			return r;
		}
	}
	return 0;
}

static int fread_(void *handle, unsigned alt, uint32_t address, uint8_t *buffer, size_t length,
                  char *err, size_t errlen)
{
	struct handle *h = handle;
	note(h->dir, "read 0x%08x %zu", (unsigned)address, length);
	if (alt != 0 || has(h->dir, "fault-read")) {
		mcu_ota_set_error(err, errlen, "fake: read protection is on");
		return -EACCES;
	}
	int r = flash_io(h->dir, false, address, buffer, length);
	if (r < 0)
		mcu_ota_set_error(err, errlen, "fake: read outside the flash");
	return r;
}

static int leave(void *handle, uint32_t address, char *err, size_t errlen)
{
	struct handle *h = handle;
	(void)err, (void)errlen;
	note(h->dir, "leave 0x%08x", (unsigned)address);
	drop(h->dir, "dfu");
	return 0;
}

static void fclose_(void *handle)
{
	free(handle);
}

static const struct mcu_ota_flasher_ops flasher_ops = {
    .size = sizeof(struct mcu_ota_flasher_ops),
    .list = list,
    .open = fopen_,
    .info = info,
    .write = fwrite_,
    .read = fread_,
    .leave = leave,
    .close = fclose_,
};

static const struct mcu_ota_plugin plugin = {
    .abi = MCU_OTA_PLUGIN_ABI,
    .kind = MCU_OTA_PLUGIN_FLASHER,
    .name = "fake-flasher",
    .description = "a chip in a folder: flasher",
    .flasher = &flasher_ops,
};
#endif

#ifdef FAKE_HEALTH
static int check(const struct mcu_ota_host *host, const char *expected, unsigned deadline_ms,
                 char *err, size_t errlen)
{
	const char *dir;
	char app[4 + 64 + 1] = "";
	(void)deadline_ms;
	int r = chip_dir(host, &dir, err, errlen);
	if (r < 0)
		return r;
	note(dir, "check %s", expected ? expected : "(any)");
	if (has(dir, "fault-health")) {
		mcu_ota_set_error(err, errlen, "fake: the application did not come back");
		return -ETIMEDOUT;
	}
	if (has(dir, "dfu")) {
		mcu_ota_set_error(err, errlen, "fake: the chip is still in its bootloader");
		return -ETIMEDOUT;
	}
	if (flash_io(dir, false, FAKE_FLASH_BASE, app, sizeof(app) - 1) < 0 ||
	    memcmp(app, "APP:", 4) != 0) {
		mcu_ota_set_error(err, errlen, "fake: no application runs");
		return -ETIMEDOUT;
	}
	if (expected && strcmp(app + 4, expected) != 0) {
		mcu_ota_set_error(err, errlen, "fake: the application reports %s, not %s", app + 4,
		                  expected);
		return -EPROTO;
	}
	return 0;
}

static const struct mcu_ota_health_ops health_ops = {
    .size = sizeof(struct mcu_ota_health_ops),
    .check = check,
};

static const struct mcu_ota_plugin plugin = {
    .abi = MCU_OTA_PLUGIN_ABI,
    .kind = MCU_OTA_PLUGIN_HEALTH,
    .name = "fake-health",
    .description = "a chip in a folder: health",
    .health = &health_ops,
};
#endif

MCU_OTA_DEFINE_PLUGIN(plugin)
