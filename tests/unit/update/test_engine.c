/* The update engine against chips simulated in folders (fake_plugins.c):
 * a first update reads the chip back before writing it, every failure before
 * committing restores the image from before, a failed rollback ends in the
 * failed state without a loop, a crash after any journaled step is finished
 * by recover, a chip that cannot be read back is refused or updated as the
 * backup setting says, and downgrades are refused.
 *
 * Bundles are signed with a fresh ECDSA key by openssl and packed by cpio,
 * as a vendor would. A crash is the engine's own MCU_OTA_CRASH_AT hook in a
 * child process (a fresh exec: the hook reads the environment once). */
#define _GNU_SOURCE
#include "check.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "fake_chip.h"
#include "update/engine.h"
#include "update/journal.h"
#include "update/store.h"
#include "util/log.h"

static char root[] = "/tmp/mcu-ota-engine-XXXXXX";
static char config_path[4200];
static unsigned serial; /* a fresh folder per test */
static char dir[256];   /* this test's folder */

/* ---- helpers: files, chips, bundles ---- */

static void sh(const char *fmt, ...) MCU_OTA_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int r = system(cmd);
	if (r != 0)
		fprintf(stderr, "command failed (%d): %s\n", r, cmd);
	CHECK_INT(r, 0);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_INT(write(fd, data, len), (long long)len);
	close(fd);
}

static void chip_file(const char *chip, const char *file, bool present)
{
	char p[4400];
	snprintf(p, sizeof(p), "%s/%s/%s", dir, chip, file);
	if (present)
		write_file(p, "", 0);
	else
		unlink(p);
}

static bool chip_has(const char *chip, const char *file)
{
	char p[4400];
	snprintf(p, sizeof(p), "%s/%s/%s", dir, chip, file);
	return access(p, F_OK) == 0;
}

/* An application image: "APP:<version>\0" then a pattern, len bytes. */
static uint8_t *app(const char *version, size_t len)
{
	uint8_t *b = malloc(len);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 7 + 3);
	snprintf((char *)b, len, "APP:%s", version);
	return b;
}

static void flash_read(const char *chip, uint8_t *out)
{
	char p[4400];
	snprintf(p, sizeof(p), "%s/%s/flash", dir, chip);
	FILE *f = fopen(p, "rb");
	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_INT(fread(out, 1, FAKE_FLASH_SIZE, f), FAKE_FLASH_SIZE);
	fclose(f);
}

/* The version the chip's application would report, "" when none boots. */
static const char *chip_app(const char *chip)
{
	static uint8_t flash[FAKE_FLASH_SIZE];
	flash_read(chip, flash);
	flash[4 + 64] = 0;
	return memcmp(flash, "APP:", 4) ? "" : (const char *)flash + 4;
}

/* A chip folder with version's application of len bytes (NULL: erased). */
static void make_chip(const char *chip, const char *version, size_t len)
{
	char p[4400];
	snprintf(p, sizeof(p), "%s/%s", dir, chip);
	CHECK_INT(mkdir(p, 0755), 0);
	uint8_t *flash = malloc(FAKE_FLASH_SIZE);
	memset(flash, 0xFF, FAKE_FLASH_SIZE);
	if (version) {
		uint8_t *a = app(version, len);
		memcpy(flash, a, len);
		free(a);
	}
	snprintf(p, sizeof(p), "%s/%s/flash", dir, chip);
	write_file(p, flash, FAKE_FLASH_SIZE);
	free(flash);
}

static int ops_lines(const char *chip)
{
	char p[4400], line[256];
	int n = 0;
	snprintf(p, sizeof(p), "%s/%s/ops", dir, chip);
	FILE *f = fopen(p, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

struct image_spec {
	const char *device;
	const char *version; /* the application inside */
	size_t len;          /* its size */
	const char *claimed; /* sw-description's version of it; NULL: version */
	const char *extra;   /* more settings of the image entry, or NULL */
	bool noboot;         /* no "APP:" at its start: it does not boot */
};

/* Lines inside sw-description's software group (e.g. hardware-compatibility),
 * and its version (NULL: the first image's); claimed = "" leaves an image
 * without a version of its own. */
static const char *sw_extra, *sw_version;

/* A signed bundle at <dir>/<name>.swu with images[0..n). */
static void make_bundle(const char *name, const struct image_spec *images, size_t n)
{
	char work[4400], p[4600], entries[4096] = "", names[1024] = "";
	snprintf(work, sizeof(work), "%s/work-%s", dir, name);
	CHECK_INT(mkdir(work, 0755), 0);
	for (size_t i = 0; i < n; i++) {
		const struct image_spec *s = &images[i];
		uint8_t *a = app(s->version, s->len);
		if (s->noboot)
			a[0] = 0;
		snprintf(p, sizeof(p), "%s/%s-%zu.bin", work, s->device, i);
		write_file(p, a, s->len);
		free(a);
		char sum[65] = "";
		char cmd[4800];
		snprintf(cmd, sizeof(cmd), "sha256sum '%s' | cut -c1-64", p);
		FILE *f = popen(cmd, "r");
		CHECK(f && fgets(sum, sizeof(sum), f));
		if (f)
			pclose(f);
		size_t off = strlen(entries);
		const char *v = s->claimed ? s->claimed : s->version;
		char vline[128] = "";
		if (*v)
			snprintf(vline, sizeof(vline), " version = \"%s\";", v);
		snprintf(entries + off, sizeof(entries) - off,
		         "%s\n    { filename = \"%s-%zu.bin\"; type = \"mcu-ota\"; device = \"%s\";"
		         "%s sha256 = \"%s\"; %s }",
		         i ? "," : "", s->device, i, s->device, vline, sum,
		         s->extra ? s->extra : "");
		off = strlen(names);
		snprintf(names + off, sizeof(names) - off, " %s-%zu.bin", s->device, i);
	}
	snprintf(p, sizeof(p), "%s/sw-description", work);
	char desc[5000];
	int len = snprintf(desc, sizeof(desc),
	                   "software = {\n  version = \"%s\";\n%s\n  images: (%s\n  );\n}\n",
	                   sw_version          ? sw_version
	                   : images[0].claimed ? images[0].claimed
	                                       : images[0].version,
	                   sw_extra ? sw_extra : "", entries);
	write_file(p, desc, (size_t)len);
	sh("cd '%s' && openssl dgst -sha256 -sign '%s/key.pem' -out sw-description.sig "
	   "sw-description && printf '%%s\\n' sw-description sw-description.sig%s | tr ' ' '\\n' | "
	   "grep . | cpio --quiet -o -H newc > '%s/%s.swu'",
	   work, root, names, dir, name);
}

/* More top-level settings, and more settings of every device, or NULL. */
static const char *conf_top, *conf_device;

/* A configuration for the chips named (device name = chip name). */
static void make_config(const char *backup, const char *const *chips, size_t n)
{
	char text[8192];
	int off = snprintf(text, sizeof(text),
	                   "state_dir = \"%s/state\";\nplugin_dir = \"%s\";\n%s\n"
	                   "bundle = { keys = [\"%s/key.pub\"]; };\ndevices = (",
	                   dir, FAKE_PLUGIN_DIR, conf_top ? conf_top : "", root);
	for (size_t i = 0; i < n; i++)
		off += snprintf(
		    text + off, sizeof(text) - (size_t)off,
		    "%s\n  { name = \"%s\"; backup = \"%s\"; bootloader_timeout_ms = 300; %s\n"
		    "    entry = { plugin = \"fake-entry\"; chip = \"%s/%s\"; };\n"
		    "    flasher = { plugin = \"fake-flasher\"; chip = \"%s/%s\"; serial = \"%s\"; "
		    "};\n"
		    "    health = { plugin = \"fake-health\"; chip = \"%s/%s\"; }; }",
		    i ? "," : "", chips[i], backup, conf_device ? conf_device : "", dir, chips[i],
		    dir, chips[i], chips[i], dir, chips[i]);
	snprintf(text + off, sizeof(text) - (size_t)off, "\n);\n");
	snprintf(config_path, sizeof(config_path), "%s/mcu-ota.conf", dir);
	write_file(config_path, text, strlen(text));
}

/* A fresh folder with one chip "mcu" running version (len bytes). */
static void setup(const char *version, size_t len, const char *backup)
{
	snprintf(dir, sizeof(dir), "%s/t%u", root, ++serial);
	CHECK_INT(mkdir(dir, 0755), 0);
	make_chip("mcu", version, len);
	const char *chips[] = {"mcu"};
	make_config(backup, chips, 1);
}

/* ---- running the engine ---- */

static struct config cfg;

static void load(void)
{
	char err[1024];
	int r = config_load(config_path, &cfg, err, sizeof(err));
	CHECK_INT(r, 0);
	if (r)
		fprintf(stderr, "%s\n", err);
}

static bool allow_downgrade; /* root's --allow-downgrade, for the engine calls */

static struct engine_options opts(void)
{
	return (struct engine_options){
	    .config = &cfg, .quiet = true, .source_fd = -1, .allow_downgrade = allow_downgrade};
}

/* engine_update of <dir>/<bundle>.swu; the one outcome in *out. */
static bool skip_running_image; /* engine_options' for update() */

static char update_err[1024]; /* engine_update's error of the last update() */

static int update(const char *bundle, struct engine_outcome *out)
{
	char src[4400], *err = update_err;
	update_err[0] = '\0';
	struct engine_outcome outs[CONFIG_MAX_DEVICES];
	size_t count = 0;
	snprintf(src, sizeof(src), "%s/%s.swu", dir, bundle);
	load();
	struct engine_options o = opts();
	o.skip_running_image = skip_running_image;
	int r = engine_update(&o, src, NULL, 0, outs, &count, err, sizeof(update_err));
	if (r < 0)
		fprintf(stderr, "engine_update: %s\n", err);
	if (r == 0 && count >= 1)
		*out = outs[0];
	config_free(&cfg);
	return r;
}

static void recover(const char *device, struct engine_outcome *out)
{
	load();
	struct engine_options o = opts();
	engine_recover(&o, config_device(&cfg, device), out);
	config_free(&cfg);
}

static void rollback(const char *device, struct engine_outcome *out)
{
	load();
	struct engine_options o = opts();
	engine_rollback(&o, config_device(&cfg, device), out);
	config_free(&cfg);
}

static struct journal journal_of(const char *device)
{
	struct store s;
	struct journal j = {0};
	char err[512], state[4400];
	snprintf(state, sizeof(state), "%s/state", dir);
	CHECK_INT(store_open(state, device, &s, err, sizeof(err)), 0);
	CHECK_INT(journal_load(&s, &j, err, sizeof(err)), 0);
	store_close(&s);
	return j;
}

/* The slot's version, "" when empty. */
static const char *slot_version(const char *device, enum store_slot slot, struct slot_meta *m)
{
	static struct slot_meta mine;
	struct store s;
	char err[512], state[4400];
	m = m ? m : &mine;
	snprintf(state, sizeof(state), "%s/state", dir);
	CHECK_INT(store_open(state, device, &s, err, sizeof(err)), 0);
	int r = store_meta(&s, slot, m, err, sizeof(err));
	store_close(&s);
	return r == 0 ? m->version : "";
}

/* The device's recorded high-water mark, "" when none. */
static const char *mark_of_device(const char *device)
{
	static char mark[STORE_VERSION_MAX];
	struct store s;
	char err[512], state[4400];
	snprintf(state, sizeof(state), "%s/state", dir);
	CHECK_INT(store_open(state, device, &s, err, sizeof(err)), 0);
	if (store_mark_load(&s, mark, err, sizeof(err)) < 0)
		mark[0] = '\0';
	store_close(&s);
	return mark;
}

/* In a child (a fresh exec, so that MCU_OTA_CRASH_AT is read): an update of
 * bundle, or a rollback when bundle is NULL, that kills itself right after
 * state is journaled. True when it died so. */
static bool crash_at(const char *state, const char *bundle)
{
	pid_t pid = fork();
	if (pid == 0) {
		char src[4400] = "";
		if (bundle)
			snprintf(src, sizeof(src), "%s/%s.swu", dir, bundle);
		setenv("MCU_OTA_CRASH_AT", state, 1);
		setenv("ENGINE_TEST_CHILD_CONFIG", config_path, 1);
		setenv("ENGINE_TEST_CHILD_BUNDLE", src, 1);
		if (allow_downgrade)
			setenv("ENGINE_TEST_CHILD_ALLOW_DOWNGRADE", "1", 1);
		execl("/proc/self/exe", "test_engine", (char *)NULL);
		_exit(127);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
	if (!killed)
		fprintf(stderr, "the child did not crash at %s (status 0x%x)\n", state, status);
	return killed;
}

/* The child's side of crash_at(). */
__attribute__((constructor)) static void child(void)
{
	const char *c = getenv("ENGINE_TEST_CHILD_CONFIG");
	const char *b = getenv("ENGINE_TEST_CHILD_BUNDLE");
	if (!c)
		return;
	char err[1024];
	struct engine_outcome outs[CONFIG_MAX_DEVICES];
	size_t count;
	log_set_level(MCU_OTA_LOG_ERROR);
	if (config_load(c, &cfg, err, sizeof(err)) < 0)
		_exit(2);
	struct engine_options o = opts();
	o.allow_downgrade = getenv("ENGINE_TEST_CHILD_ALLOW_DOWNGRADE") != NULL;
	if (*b)
		(void)!engine_update(&o, b, NULL, 0, outs, &count, err, sizeof(err));
	else
		engine_rollback(&o, &cfg.devices[0], &outs[0]);
	_exit(0);
}

/* ---- the main paths ---- */

static void first_update_reads_the_chip_back(void)
{
	struct engine_outcome out;
	struct slot_meta cur, prev;
	setup("1.0.0", 5000, "required");
	const struct image_spec img = {.device = "mcu", .version = "2.0.0", .len = 9000};
	make_bundle("b2", &img, 1);
	CHECK_INT(update("b2", &out), 0);
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK_STR(out.message, "2.0.0 installed and running");
	CHECK_STR(chip_app("mcu"), "2.0.0");
	CHECK(!chip_has("mcu", "dfu"));
	CHECK_STR(slot_version("mcu", STORE_CURRENT, &cur), "2.0.0");
	CHECK_INT(cur.size, 9000);
	/* the chip's image from before, trailing erased flash cut at 256 bytes */
	CHECK_STR(slot_version("mcu", STORE_PREVIOUS, &prev), "unknown");
	CHECK_INT(prev.size, 5120);
	CHECK_STR(slot_version("mcu", STORE_STAGED, NULL), "");
	struct journal j = journal_of("mcu");
	CHECK_INT(j.state, UPDATE_IDLE);
	CHECK_INT(j.result, RESULT_INSTALLED);
	CHECK_STR(j.version, "2.0.0");
}

/* The daemon's polls (skip_running_image): a server that publishes the same
 * image again (a new ETag, a rebuilt bundle) must not put the chip through
 * its bootloader; other bytes, or the same bytes under another version, must.
 * Without the option (a person asking) the same image is written again. */
static void the_image_that_runs_is_not_flashed_again(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 9000},
	                        b = {.device = "mcu", .version = "2.0.0", .len = 9001},
	                        c = {.device = "mcu",
	                             .version = "2.0.0",
	                             .len = 9000,
	                             .claimed = "2.0.1"};
	make_bundle("b2", &a, 1);
	CHECK_INT(update("b2", &out), 0);
	CHECK_INT(out.result, RESULT_INSTALLED);
	int ops = ops_lines("mcu");
	make_bundle("b2again", &a, 1);
	CHECK_INT(update("b2again", &out), 0); /* asked for: written again */
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK(ops_lines("mcu") > ops);
	ops = ops_lines("mcu");
	skip_running_image = true;
	CHECK_INT(update("b2again", &out), 0);
	CHECK_INT(out.result, RESULT_NONE);
	CHECK_INT(out.code, 0);
	CHECK_CONTAINS(out.message, "2.0.0 already runs (the same image");
	CHECK_INT(ops_lines("mcu"), ops);
	CHECK_INT(journal_of("mcu").result, RESULT_INSTALLED);
	make_bundle("b2other", &b, 1);
	CHECK_INT(update("b2other", &out), 0);
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK(ops_lines("mcu") > ops);
	/* the same bytes as what runs, claimed as another version: installed,
	 * and its health check decides (the app reports 2.0.0, not 2.0.1) */
	make_bundle("b2claimed", &c, 1);
	CHECK_INT(update("b2", &out), 0); /* a's bytes run again */
	CHECK_INT(out.result, RESULT_INSTALLED);
	ops = ops_lines("mcu");
	CHECK_INT(update("b2claimed", &out), 0);
	CHECK_INT(out.result, RESULT_ROLLED_BACK);
	CHECK(ops_lines("mcu") > ops);
	skip_running_image = false;
}

static void a_second_update_needs_no_backup(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 9000},
	                        b = {.device = "mcu", .version = "3.0.0", .len = 3000};
	make_bundle("b2", &a, 1);
	make_bundle("b3", &b, 1);
	CHECK_INT(update("b2", &out), 0);
	chip_file("mcu", "fault-read", true); /* it is not read again */
	CHECK_INT(update("b3", &out), 0);
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK_STR(chip_app("mcu"), "3.0.0");
	CHECK_STR(slot_version("mcu", STORE_CURRENT, NULL), "3.0.0");
	CHECK_STR(slot_version("mcu", STORE_PREVIOUS, NULL), "2.0.0");
}

/* The rolled-back chip holds the image from before, and erased flash where
 * the failed, larger image reached beyond it. */
static void expect_restored(const char *chip, const char *version, size_t len)
{
	static uint8_t flash[FAKE_FLASH_SIZE];
	uint8_t *a = app(version, len);
	flash_read(chip, flash);
	CHECK(memcmp(flash, a, len) == 0);
	free(a);
	bool erased = true;
	for (size_t i = len; i < FAKE_FLASH_SIZE; i++)
		erased = erased && flash[i] == 0xFF;
	CHECK(erased);
	CHECK(!chip_has(chip, "dfu"));
}

static void health_failure_rolls_back(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	/* boots, but reports 2.0.0 where the bundle promises 3.1.0 */
	const struct image_spec img = {
	    .device = "mcu", .version = "2.0.0", .len = 20000, .claimed = "3.1.0"};
	make_bundle("wrong", &img, 1);
	CHECK_INT(update("wrong", &out), 0);
	CHECK_INT(out.result, RESULT_ROLLED_BACK);
	CHECK_INT(out.code, -EPROTO);
	CHECK_CONTAINS(out.message, "the update to 3.1.0 failed: health check failed: fake: the "
	                            "application reports 2.0.0, not 3.1.0; rolled back to unknown");
	expect_restored("mcu", "1.0.0", 5000);
	CHECK_STR(slot_version("mcu", STORE_CURRENT, NULL), "unknown");
	CHECK_STR(slot_version("mcu", STORE_PREVIOUS, NULL), "");
	CHECK_STR(slot_version("mcu", STORE_STAGED, NULL), "");
	struct journal j = journal_of("mcu");
	CHECK_INT(j.state, UPDATE_IDLE);
	CHECK_INT(j.result, RESULT_ROLLED_BACK);
	CHECK_CONTAINS(j.error, "not 3.1.0");
}

static void flash_failure_rolls_back(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	const struct image_spec img = {.device = "mcu", .version = "2.0.0", .len = 12000};
	make_bundle("b2", &img, 1);
	chip_file("mcu", "fault-write-once", true);
	CHECK_INT(update("b2", &out), 0);
	CHECK_INT(out.result, RESULT_ROLLED_BACK);
	CHECK_CONTAINS(out.message, "fake: DfuSe error during download; rolled back to unknown");
	expect_restored("mcu", "1.0.0", 5000);
	CHECK_INT(journal_of("mcu").state, UPDATE_IDLE);
}

static void no_boot_rolls_back_to_a_known_version(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 6000};
	const struct image_spec b = {
	    .device = "mcu", .version = "3.0.0", .len = 6000, .noboot = true};
	make_bundle("b2", &a, 1);
	make_bundle("b3", &b, 1);
	CHECK_INT(update("b2", &out), 0);
	CHECK_INT(update("b3", &out), 0);
	CHECK_INT(out.result, RESULT_ROLLED_BACK);
	CHECK_CONTAINS(out.message, "fake: no application runs; rolled back to 2.0.0");
	CHECK_STR(chip_app("mcu"), "2.0.0");
	CHECK_STR(slot_version("mcu", STORE_CURRENT, NULL), "2.0.0");
	CHECK_STR(slot_version("mcu", STORE_PREVIOUS, NULL), "unknown");
}

static void failed_rollback_is_failed_and_not_retried(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	const struct image_spec img = {.device = "mcu", .version = "2.0.0", .len = 9000};
	make_bundle("b2", &img, 1);
	chip_file("mcu", "fault-write", true);
	CHECK_INT(update("b2", &out), 0);
	CHECK_INT(out.result, RESULT_FAILED);
	CHECK_CONTAINS(out.message, "the update to 2.0.0 failed: fake: DfuSe error during "
	                            "download; the rollback failed too: fake: DfuSe error");
	struct journal j = journal_of("mcu");
	CHECK_INT(j.state, UPDATE_FAILED);
	CHECK_INT(j.result, RESULT_FAILED);
	/* recover does not touch the chip again on its own */
	int before = ops_lines("mcu");
	recover("mcu", &out);
	CHECK_INT(out.result, RESULT_NONE);
	CHECK_STR(out.message, "failed before: needs a person");
	CHECK_INT(ops_lines("mcu"), before);
	CHECK_INT(journal_of("mcu").state, UPDATE_FAILED);
	/* a person fixes the cause and updates again */
	chip_file("mcu", "fault-write", false);
	CHECK_INT(update("b2", &out), 0);
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK_STR(chip_app("mcu"), "2.0.0");
}

static void unreadable_chip_with_backup_required_is_not_updated(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	const struct image_spec img = {.device = "mcu", .version = "2.0.0", .len = 9000};
	make_bundle("b2", &img, 1);
	chip_file("mcu", "fault-read", true);
	CHECK_INT(update("b2", &out), 0);
	CHECK_INT(out.result, RESULT_UNCHANGED);
	CHECK_INT(out.code, -EACCES);
	CHECK_CONTAINS(out.message, "the update to 2.0.0 was not started: cannot read the firmware "
	                            "back from the chip (fake: read protection is on)");
	CHECK_CONTAINS(out.message, "Set backup = \"optional\" for mcu to update it anyway");
	CHECK_STR(chip_app("mcu"), "1.0.0");
	CHECK(!chip_has("mcu", "dfu"));
	CHECK_STR(slot_version("mcu", STORE_STAGED, NULL), "");
	CHECK_STR(slot_version("mcu", STORE_CURRENT, NULL), "");
	struct journal j = journal_of("mcu");
	CHECK_INT(j.state, UPDATE_IDLE);
	CHECK_INT(j.result, RESULT_UNCHANGED);
}

static void unreadable_chip_with_backup_optional_is_updated(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "optional");
	const struct image_spec img = {.device = "mcu", .version = "2.0.0", .len = 9000};
	make_bundle("b2", &img, 1);
	chip_file("mcu", "fault-read", true);
	CHECK_INT(update("b2", &out), 0);
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK_STR(chip_app("mcu"), "2.0.0");
	CHECK_STR(slot_version("mcu", STORE_CURRENT, NULL), "2.0.0");
	CHECK_STR(slot_version("mcu", STORE_PREVIOUS, NULL), "");
}

static void downgrade_is_refused(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 6000},
	                        b = {.device = "mcu", .version = "1.5.0", .len = 6000};
	make_bundle("b2", &a, 1);
	make_bundle("b15", &b, 1);
	CHECK_INT(update("b2", &out), 0);
	int before = ops_lines("mcu");
	CHECK_INT(update("b15", &out), 0);
	CHECK_INT(out.result, RESULT_NONE);
	CHECK_INT(out.code, -EPERM);
	CHECK_STR(out.message, "1.5.0 is below 2.0.0, the lowest version device mcu may run (its "
	                       "high-water mark): root must allow the downgrade to install it");
	CHECK_INT(ops_lines("mcu"), before);
	CHECK_STR(chip_app("mcu"), "2.0.0");
	/* root's --allow-downgrade installs it; the mark stays */
	allow_downgrade = true;
	CHECK_INT(update("b15", &out), 0);
	allow_downgrade = false;
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK_STR(chip_app("mcu"), "1.5.0");
	CHECK_STR(mark_of_device("mcu"), "2.0.0");
}

static void same_version_is_skipped_with_install_if_different(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	const struct image_spec a = {.device = "mcu",
	                             .version = "2.0.0",
	                             .len = 6000,
	                             .claimed = NULL,
	                             .extra = "install-if-different = true;"};
	make_bundle("b2", &a, 1);
	CHECK_INT(update("b2", &out), 0);
	int before = ops_lines("mcu");
	CHECK_INT(update("b2", &out), 0);
	CHECK_INT(out.result, RESULT_NONE);
	CHECK_INT(out.code, 0);
	CHECK_STR(out.message, "2.0.0 is already installed");
	CHECK_INT(ops_lines("mcu"), before);
}

static void rollback_swaps_current_and_previous(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 6000},
	                        b = {.device = "mcu",
	                             .version = "3.0.0",
	                             .len = 12000} /* sectors 2.0.0 does not use */;
	make_bundle("b2", &a, 1);
	make_bundle("b3", &b, 1);
	CHECK_INT(update("b2", &out), 0);
	CHECK_INT(update("b3", &out), 0);
	/* 2.0.0 is below the high-water mark 3.0.0: root's --allow-downgrade */
	allow_downgrade = true;
	rollback("mcu", &out);
	allow_downgrade = false;
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK_STR(chip_app("mcu"), "2.0.0");
	expect_restored("mcu", "2.0.0", 6000); /* nothing of the larger 3.0.0 stays behind */
	CHECK_STR(slot_version("mcu", STORE_CURRENT, NULL), "2.0.0");
	CHECK_STR(slot_version("mcu", STORE_PREVIOUS, NULL), "3.0.0");
	rollback("mcu", &out); /* undoes the first, up to the mark: nothing needed */
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK_STR(chip_app("mcu"), "3.0.0");
}

/* A chip that was blank before its first update has no firmware to go back
 * to: a rollback is refused and the chip is not touched. */
static void rollback_to_a_blank_chip_is_refused(void)
{
	struct engine_outcome out;
	setup(NULL, 0, "required");
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 6000};
	make_bundle("b2", &a, 1);
	CHECK_INT(update("b2", &out), 0);
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK_STR(slot_version("mcu", STORE_PREVIOUS, NULL), "blank");
	int before = ops_lines("mcu");
	rollback("mcu", &out);
	CHECK_INT(out.result, RESULT_NONE);
	CHECK_INT(out.code, -ENOENT);
	CHECK_STR(out.message, "mcu was blank before its first update: there is no firmware to "
	                       "roll back to");
	CHECK_INT(ops_lines("mcu"), before);
	CHECK_STR(chip_app("mcu"), "2.0.0");
}

static void rollback_without_previous_is_an_error(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	rollback("mcu", &out);
	CHECK_INT(out.result, RESULT_NONE);
	CHECK_INT(out.code, -ENOENT);
	CHECK_STR(out.message, "mcu has no previous image to roll back to");
	CHECK_INT(ops_lines("mcu"), 0);
}

static void a_locked_device_is_refused(void)
{
	struct engine_outcome out;
	struct store s;
	char err[512], state[4400];
	setup("1.0.0", 5000, "required");
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 6000};
	make_bundle("b2", &a, 1);
	snprintf(state, sizeof(state), "%s/state", dir);
	int ready[2];
	CHECK_INT(pipe(ready), 0);
	pid_t pid = fork();
	if (pid == 0) { /* another process holds the device, and says so once it does */
		close(ready[0]);
		if (store_open(state, "mcu", &s, err, sizeof(err)) < 0)
			_exit(1);
		(void)!write(ready[1], "L", 1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	char said = 0;
	CHECK_INT(read(ready[0], &said, 1), 1); /* EOF instead: the child could not lock */
	close(ready[0]);
	CHECK_INT(update("b2", &out), 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK_INT(out.code, -EBUSY);
	CHECK_CONTAINS(out.message, "device mcu is being driven by another mcu-ota process");
	CHECK_INT(ops_lines("mcu"), 0);
}

static void devices_are_updated_in_parallel(void)
{
	char err[1024], src[4400];
	setup("1.0.0", 5000, "required");
	make_chip("other", "1.0.0", 4000);
	const char *chips[] = {"mcu", "other"};
	make_config("required", chips, 2);
	const struct image_spec imgs[] = {{.device = "mcu", .version = "2.0.0", .len = 9000},
	                                  {.device = "other", .version = "3.0.0", .len = 7000}};
	make_bundle("pair", imgs, 2);
	struct engine_outcome outs[CONFIG_MAX_DEVICES];
	size_t count = 0;
	snprintf(src, sizeof(src), "%s/pair.swu", dir);
	load();
	struct engine_options o = opts();
	CHECK_INT(engine_update(&o, src, NULL, 0, outs, &count, err, sizeof(err)), 0);
	config_free(&cfg);
	CHECK_INT(count, 2);
	CHECK_INT(outs[0].result, RESULT_INSTALLED);
	CHECK_INT(outs[1].result, RESULT_INSTALLED);
	CHECK_STR(outs[0].device, "mcu");
	CHECK_STR(outs[1].device, "other");
	CHECK_STR(chip_app("mcu"), "2.0.0");
	CHECK_STR(chip_app("other"), "3.0.0");
}

static void an_unverified_bundle_touches_nothing(void)
{
	char err[1024] = "", src[4400];
	setup("1.0.0", 5000, "required");
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 6000};
	make_bundle("b2", &a, 1);
	snprintf(src, sizeof(src), "%s/b2.swu", dir);
	/* one byte of the image changed after signing */
	sh("printf '\\125' | dd of='%s' bs=1 seek=2000 conv=notrunc 2>/dev/null", src);
	struct engine_outcome outs[CONFIG_MAX_DEVICES];
	size_t count = 9;
	load();
	struct engine_options o = opts();
	CHECK(engine_update(&o, src, NULL, 0, outs, &count, err, sizeof(err)) < 0);
	config_free(&cfg);
	CHECK_INT(count, 0);
	CHECK(err[0] != '\0');
	CHECK_INT(ops_lines("mcu"), 0);
	CHECK_STR(chip_app("mcu"), "1.0.0");
}

/* ---- images stream into the store (issue 14) ---- */

/* <dir>/state/devices/<device>/<name> exists. */
static bool store_has(const char *device, const char *name)
{
	char p[4400];
	snprintf(p, sizeof(p), "%s/state/devices/%s/%s", dir, device, name);
	return access(p, F_OK) == 0;
}

/* Until the store holds name (true), or 20 s passed: a bound for when the
 * engine is broken, not a pace. */
static bool wait_store_has(const char *device, const char *name)
{
	for (int ms = 0; ms < 20000; ms += 10) {
		if (store_has(device, name))
			return true;
		struct timespec t = {0, 10000000L};
		nanosleep(&t, NULL);
	}
	fprintf(stderr, "the store of %s never held %s\n", device, name);
	return false;
}

/* A bundle of mcu's image (2.0.0) and 1 MiB for device "far", which this
 * gateway does not have; its bytes in *data. */
static size_t far_bundle(uint8_t **data)
{
	const struct image_spec imgs[] = {{.device = "mcu", .version = "2.0.0", .len = 6000},
	                                  {.device = "far", .version = "2.0.0", .len = 1u << 20}};
	char p[4400];
	make_bundle("far", imgs, 2);
	snprintf(p, sizeof(p), "%s/far.swu", dir);
	struct stat st;
	CHECK_INT(stat(p, &st), 0);
	*data = malloc((size_t)st.st_size);
	FILE *f = fopen(p, "rb");
	CHECK(f && fread(*data, 1, (size_t)st.st_size, f) == (size_t)st.st_size);
	if (f)
		fclose(f);
	return (size_t)st.st_size;
}

struct pipe_update {
	int fd;
	int rc;
	size_t count;
	char err[1024];
};

/* engine_update of the bundle that comes through a pipe. */
static void *update_from_pipe(void *arg)
{
	struct pipe_update *u = arg;
	struct engine_outcome outs[CONFIG_MAX_DEVICES];
	struct engine_options o = opts();
	o.source_fd = u->fd;
	o.source_name = "the pipe";
	u->rc = engine_update(&o, "-", NULL, 0, outs, &u->count, u->err, sizeof(u->err));
	return NULL;
}

static void write_all(int fd, const uint8_t *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);
		CHECK(n > 0);
		if (n <= 0)
			return;
		data += n;
		len -= (size_t)n;
	}
}

/* The configured device's image is in its store (the received slot) while
 * the bundle still streams in, not held in memory; the bundle then breaks
 * off, and nothing of it is kept: no received or staged image, the chip
 * untouched. */
static void images_stream_into_the_store(void)
{
	uint8_t *bundle;
	setup("1.0.0", 5000, "required");
	size_t len = far_bundle(&bundle);
	int p[2];
	CHECK_INT(pipe(p), 0);
	load();
	struct pipe_update u = {.fd = p[0]};
	pthread_t th;
	CHECK_INT(pthread_create(&th, NULL, update_from_pipe, &u), 0);
	write_all(p[1], bundle, len - (256u << 10)); /* mcu's image, and most of far's */
	CHECK(wait_store_has("mcu", "received/meta"));
	CHECK(!store_has("mcu", "staged"));
	close(p[1]); /* the bundle ends early */
	pthread_join(th, NULL);
	close(p[0]);
	config_free(&cfg);
	free(bundle);
	CHECK(u.rc < 0);
	CHECK_CONTAINS(u.err, "truncated");
	CHECK_INT(u.count, 0);
	CHECK(!store_has("mcu", "received"));
	CHECK(!store_has("mcu", "received.new"));
	CHECK(!store_has("mcu", "staged"));
	CHECK(!store_has("far", ""));
	CHECK_INT(ops_lines("mcu"), 0);
	CHECK_STR(chip_app("mcu"), "1.0.0");
}

/* Power lost while an image comes in: what was received is never taken
 * for a staged image, and the next start drops it. */
static void a_crash_while_receiving_keeps_nothing(void)
{
	uint8_t *bundle;
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	size_t len = far_bundle(&bundle);
	int p[2];
	CHECK_INT(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[1]);
		log_set_level(MCU_OTA_LOG_ERROR);
		load();
		struct pipe_update u = {.fd = p[0]};
		update_from_pipe(&u);
		_exit(0);
	}
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	write_all(p[1], bundle, len - (256u << 10));
	CHECK(wait_store_has("mcu", "received/meta"));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(p[1]);
	free(bundle);
	CHECK(!store_has("mcu", "staged"));
	CHECK_INT(journal_of("mcu").state, UPDATE_IDLE); /* opening the store tidied it */
	CHECK(!store_has("mcu", "received"));
	recover("mcu", &out);
	CHECK_STR(out.message, "nothing to recover");
	CHECK_INT(ops_lines("mcu"), 0);
	/* and the whole bundle installs */
	CHECK_INT(update("far", &out), 0);
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK_STR(chip_app("mcu"), "2.0.0");
	CHECK(!store_has("mcu", "received"));
}

/* ---- power loss after every journaled step ---- */

static void crash_then_recover(const char *state)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	const struct image_spec img = {.device = "mcu", .version = "2.0.0", .len = 9000};
	make_bundle("b2", &img, 1);
	CHECK(crash_at(state, "b2"));
	CHECK_STR(update_state_name(journal_of("mcu").state), state);
	recover("mcu", &out);
	if (out.result != RESULT_INSTALLED)
		fprintf(stderr, "after a crash at %s: %s\n", state, out.message);
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK_STR(out.message, "2.0.0 installed and running");
	CHECK_STR(chip_app("mcu"), "2.0.0");
	CHECK(!chip_has("mcu", "dfu"));
	CHECK_STR(slot_version("mcu", STORE_CURRENT, NULL), "2.0.0");
	CHECK_STR(slot_version("mcu", STORE_PREVIOUS, NULL), "unknown");
	CHECK_STR(slot_version("mcu", STORE_STAGED, NULL), "");
	CHECK_INT(journal_of("mcu").state, UPDATE_IDLE);
	CHECK_STR(mark_of_device("mcu"), "2.0.0"); /* the commit the recovery made raised it */
	/* and once finished, there is nothing more to do */
	recover("mcu", &out);
	CHECK_STR(out.message, "nothing to recover");
}

static void crash_when_staged(void)
{
	crash_then_recover("staged");
}
static void crash_when_backing_up(void)
{
	crash_then_recover("backing-up");
}
static void crash_when_entering(void)
{
	crash_then_recover("entering");
}
static void crash_when_flashing(void)
{
	crash_then_recover("flashing");
}
static void crash_when_exiting(void)
{
	crash_then_recover("exiting");
}
static void crash_when_checking(void)
{
	crash_then_recover("checking");
}
static void crash_when_committing(void)
{
	crash_then_recover("committing");
}

static void crash_when_rolling_back(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	const struct image_spec img = {.device = "mcu", .version = "2.0.0", .len = 20000};
	make_bundle("b2", &img, 1);
	chip_file("mcu", "fault-health", true);
	CHECK(crash_at("rolling-back", "b2"));
	chip_file("mcu", "fault-health", false);
	CHECK_INT(journal_of("mcu").state, UPDATE_ROLLING_BACK);
	recover("mcu", &out);
	CHECK_INT(out.result, RESULT_ROLLED_BACK);
	CHECK_CONTAINS(out.message, "the application did not come back; rolled back to unknown");
	expect_restored("mcu", "1.0.0", 5000);
	CHECK_INT(journal_of("mcu").state, UPDATE_IDLE);
}

/* A crash mid-write (the chip half written, the journal at flashing) with a
 * staged image that is damaged since: the chip gets its image from before. */
static void crash_when_flashing_with_a_damaged_staged_image(void)
{
	struct engine_outcome out;
	char p[4400];
	setup("1.0.0", 5000, "required");
	const struct image_spec img = {.device = "mcu", .version = "2.0.0", .len = 9000};
	make_bundle("b2", &img, 1);
	CHECK(crash_at("flashing", "b2"));
	snprintf(p, sizeof(p), "%s/state/devices/mcu/staged/image.bin", dir);
	sh("printf 'X' | dd of='%s' bs=1 seek=100 conv=notrunc 2>/dev/null", p);
	recover("mcu", &out);
	CHECK_INT(out.result, RESULT_ROLLED_BACK);
	CHECK_CONTAINS(out.message, "the staged image is damaged");
	expect_restored("mcu", "1.0.0", 5000);
}

static void crash_during_a_rollback_command(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 6000},
	                        b = {.device = "mcu", .version = "3.0.0", .len = 7000};
	make_bundle("b2", &a, 1);
	make_bundle("b3", &b, 1);
	CHECK_INT(update("b2", &out), 0);
	CHECK_INT(update("b3", &out), 0);
	allow_downgrade = true; /* 2.0.0 is below the mark */
	CHECK(crash_at("flashing", NULL));
	allow_downgrade = false;
	/* meanwhile the journal shows the rollback under way, not the last
	 * update's result beside it (status reads it) */
	struct journal j = journal_of("mcu");
	CHECK_INT(j.state, UPDATE_FLASHING);
	CHECK_STR(j.version, "2.0.0");
	CHECK_INT(j.result, RESULT_NONE);
	recover("mcu", &out);
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK_STR(chip_app("mcu"), "2.0.0");
	CHECK_STR(slot_version("mcu", STORE_CURRENT, NULL), "2.0.0");
	CHECK_STR(slot_version("mcu", STORE_PREVIOUS, NULL), "3.0.0");
}

/* ---- issue 12: anti-rollback, hardware identity, one version comparison ---- */

/* engine_update of <dir>/<bundle>.swu for device mcu with firmware.version
 * wanted (expect_versions), in a child: a crash is this test's failure, not
 * the end of the suite. */
struct wanted_run {
	int rc;
	size_t count;
	struct engine_outcome out;
	char err[1024];
};

static bool update_wanting(const char *bundle, const char *wanted, struct wanted_run *w)
{
	int p[2];
	memset(w, 0, sizeof(*w));
	CHECK_INT(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct wanted_run x = {0};
		struct engine_outcome outs[CONFIG_MAX_DEVICES];
		char src[4400];
		const char *devs[] = {"mcu"}, *versions[] = {wanted};
		close(p[0]);
		snprintf(src, sizeof(src), "%s/%s.swu", dir, bundle);
		load();
		struct engine_options o = opts();
		o.expect_versions = versions;
		x.rc = engine_update(&o, src, devs, 1, outs, &x.count, x.err, sizeof(x.err));
		if (x.count)
			x.out = outs[0];
		_exit(write(p[1], &x, sizeof(x)) == (ssize_t)sizeof(x) ? 0 : 3);
	}
	close(p[1]);
	size_t got = 0;
	for (ssize_t n;
	     got < sizeof(*w) && (n = read(p[0], (char *)w + got, sizeof(*w) - got)) > 0;)
		got += (size_t)n;
	close(p[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "the engine did not come back (status 0x%x%s)\n", status,
		        WIFSIGNALED(status) ? ", killed by a signal" : "");
		return false;
	}
	return got == sizeof(*w);
}

/* Finding 1: with firmware.version configured, a signed bundle whose image
 * has no version of its own made the engine strcmp NULL (the daemon died at
 * every start). The version the install would use, software.version, is
 * compared instead. */
static void finding1_an_image_without_version_against_firmware_version(void)
{
	struct wanted_run w;
	setup("1.0.0", 5000, "required");
	const struct image_spec img = {
	    .device = "mcu", .version = "2.0.0", .len = 6000, .claimed = ""};
	sw_version = "2.0.0";
	make_bundle("nover", &img, 1);
	sw_version = NULL;
	CHECK(update_wanting("nover", "3.0.0", &w));
	CHECK_INT(w.rc, -ESRCH);
	CHECK_STR(w.err, "the bundle holds version 2.0.0 for device mcu, but version 3.0.0 is "
	                 "wanted: nothing installed");
	CHECK_INT(ops_lines("mcu"), 0);
	CHECK(update_wanting("nover", "2.0.0", &w));
	CHECK_INT(w.rc, 0);
	CHECK_INT(w.out.result, RESULT_INSTALLED);
	CHECK_STR(chip_app("mcu"), "2.0.0");
}

/* Finding 12: firmware.version = "2.0" is the image's 2.0.0 (expect_versions
 * used strcmp, "already runs" version_compare: refused and recorded failed). */
static void finding12_version_2_0_is_2_0_0(void)
{
	struct wanted_run w;
	setup("1.0.0", 5000, "required");
	const struct image_spec img = {.device = "mcu", .version = "2.0.0", .len = 6000};
	make_bundle("b2", &img, 1);
	CHECK(update_wanting("b2", "2.0", &w));
	CHECK_INT(w.rc, 0);
	CHECK_INT(w.out.result, RESULT_INSTALLED);
	CHECK_STR(chip_app("mcu"), "2.0.0");
}

/* Finding 5: the old check compared with current alone, and skipped when
 * current was not a version: after a root's rollback to the image read back
 * before the first update ("unknown"), any older signed bundle installed.
 * The high-water mark holds. */
static void finding5_the_mark_holds_when_current_is_unknown(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 6000},
	                        b = {.device = "mcu", .version = "1.5.0", .len = 6000};
	make_bundle("b2", &a, 1);
	make_bundle("b15", &b, 1);
	CHECK_INT(update("b2", &out), 0);
	allow_downgrade = true;
	rollback("mcu", &out);
	allow_downgrade = false;
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK_STR(slot_version("mcu", STORE_CURRENT, NULL), "unknown");
	CHECK_STR(chip_app("mcu"), "1.0.0");
	int before = ops_lines("mcu");
	CHECK_INT(update("b15", &out), 0);
	CHECK_INT(out.code, -EPERM);
	CHECK_STR(out.message, "1.5.0 is below 2.0.0, the lowest version device mcu may run (its "
	                       "high-water mark): root must allow the downgrade to install it");
	CHECK_INT(ops_lines("mcu"), before);
	CHECK_STR(chip_app("mcu"), "1.0.0");
}

/* Finding 5: a device with allow_downgrade = true took any older version;
 * the setting never opens the way below the mark. */
static void finding5_allow_downgrade_setting_does_not_pass_the_mark(void)
{
	struct engine_outcome out;
	conf_device = "allow_downgrade = true;";
	setup("1.0.0", 5000, "required");
	conf_device = NULL;
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 6000},
	                        b = {.device = "mcu", .version = "1.5.0", .len = 6000};
	make_bundle("b2", &a, 1);
	make_bundle("b15", &b, 1);
	CHECK_INT(update("b2", &out), 0);
	int before = ops_lines("mcu");
	CHECK_INT(update("b15", &out), 0);
	CHECK_INT(out.code, -EPERM);
	CHECK_CONTAINS(out.message, "1.5.0 is below 2.0.0, the lowest version device mcu may run");
	CHECK_INT(ops_lines("mcu"), before);
	CHECK_STR(chip_app("mcu"), "2.0.0");
}

/* Finding 5: rollback bypassed every check. Below the mark it is refused,
 * the chip untouched; so is the "unknown" image, which cannot be shown to
 * be at least the mark. */
static void finding5_rollback_below_the_mark_is_refused(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 6000},
	                        b = {.device = "mcu", .version = "3.0.0", .len = 7000};
	make_bundle("b2", &a, 1);
	make_bundle("b3", &b, 1);
	CHECK_INT(update("b2", &out), 0);
	int before = ops_lines("mcu");
	rollback("mcu", &out);
	CHECK_INT(out.result, RESULT_NONE);
	CHECK_INT(out.code, -EPERM);
	CHECK_STR(out.message,
	          "\"unknown\" is not a version, so it cannot be shown to be at least 2.0.0, the "
	          "lowest version device mcu may run (its high-water mark): root must allow the "
	          "downgrade "
	          "to roll back to it");
	CHECK_INT(update("b3", &out), 0);
	before = ops_lines("mcu");
	rollback("mcu", &out);
	CHECK_INT(out.result, RESULT_NONE);
	CHECK_INT(out.code, -EPERM);
	CHECK_STR(out.message,
	          "2.0.0 is below 3.0.0, the lowest version device mcu may run (its "
	          "high-water mark): root must allow the downgrade to roll back to it");
	CHECK_INT(ops_lines("mcu"), before);
	CHECK_STR(chip_app("mcu"), "3.0.0");
	CHECK_STR(slot_version("mcu", STORE_CURRENT, NULL), "3.0.0");
	CHECK_INT(journal_of("mcu").state, UPDATE_IDLE);
}

/* Finding 5: a chip whose firmware is not known before its first update
 * (read back as "unknown") took any signed bundle; min_version bounds it. */
static void finding5_min_version_before_the_first_update(void)
{
	struct engine_outcome out;
	conf_device = "min_version = \"2.0\";";
	setup("1.0.0", 5000, "required");
	conf_device = NULL;
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 6000},
	                        b = {.device = "mcu", .version = "1.5.0", .len = 6000};
	make_bundle("b2", &a, 1);
	make_bundle("b15", &b, 1);
	CHECK_INT(update("b15", &out), 0);
	CHECK_INT(out.code, -EPERM);
	CHECK_STR(out.message, "1.5.0 is below 2.0, the lowest version device mcu may run (its "
	                       "min_version): root must allow the downgrade to install it");
	CHECK_INT(ops_lines("mcu"), 0);
	CHECK_STR(chip_app("mcu"), "1.0.0");
	CHECK_INT(update("b2", &out), 0); /* 2.0.0 is not below 2.0 */
	CHECK_INT(out.result, RESULT_INSTALLED);
}

/* The mark rises with every commit (a recovered one too: crash_then_recover),
 * never with a failed update, never falls; a store written before marks
 * were kept counts the version current holds; a corrupt mark refuses
 * updates rather than guess; status reads it. */
static void the_high_water_mark(void)
{
	struct engine_outcome out;
	char p[4400];
	setup("1.0.0", 5000, "required");
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 6000},
	                        bad = {.device = "mcu",
	                               .version = "2.0.0",
	                               .len = 6000,
	                               .claimed = "3.1.0"},
	                        b = {.device = "mcu", .version = "3.0.0", .len = 7000},
	                        c = {.device = "mcu", .version = "2.5.0", .len = 6500};
	make_bundle("b2", &a, 1);
	make_bundle("bad", &bad, 1);
	make_bundle("b3", &b, 1);
	make_bundle("b25", &c, 1);
	CHECK_STR(mark_of_device("mcu"), "");
	CHECK_INT(update("b2", &out), 0);
	CHECK_STR(mark_of_device("mcu"), "2.0.0");
	CHECK_INT(update("bad", &out), 0);
	CHECK_INT(out.result, RESULT_ROLLED_BACK);
	CHECK_STR(mark_of_device("mcu"), "2.0.0"); /* 3.1.0 never ran */
	CHECK_INT(update("b3", &out), 0);
	CHECK_STR(mark_of_device("mcu"), "3.0.0");
	allow_downgrade = true;
	CHECK_INT(update("b25", &out), 0);
	allow_downgrade = false;
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK_STR(mark_of_device("mcu"), "3.0.0"); /* a downgrade does not lower it */
	snprintf(p, sizeof(p), "%s/state/devices/mcu/mark", dir);
	struct stat st;
	CHECK_INT(stat(p, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(update("b25", &out), 0); /* what runs, but below the mark */
	CHECK_INT(out.code, -EPERM);
	load();
	struct engine_status es;
	engine_status(&cfg, config_device(&cfg, "mcu"), &es);
	config_free(&cfg);
	CHECK_STR(es.mark, "3.0.0");
	CHECK(!es.mark_from_current);

	/* a store from before marks: current's 2.5.0 counts, even for a device
	 * that allows downgrades */
	CHECK_INT(unlink(p), 0);
	conf_device = "allow_downgrade = true;";
	const char *chips[] = {"mcu"};
	make_config("required", chips, 1);
	conf_device = NULL;
	load();
	engine_status(&cfg, config_device(&cfg, "mcu"), &es);
	config_free(&cfg);
	CHECK_STR(es.mark, "2.5.0");
	CHECK(es.mark_from_current);
	int before = ops_lines("mcu");
	CHECK_INT(update("b2", &out), 0);
	CHECK_INT(out.code, -EPERM);
	CHECK_CONTAINS(out.message, "2.0.0 is below 2.5.0");
	CHECK_INT(ops_lines("mcu"), before);
	CHECK_INT(update("b3", &out), 0);
	CHECK_STR(mark_of_device("mcu"), "3.0.0");

	/* a corrupt mark: nothing is checked against a guess */
	write_file(p, "version=latest\n", 15);
	before = ops_lines("mcu");
	CHECK_INT(update("b3", &out), 0);
	CHECK_INT(out.code, -EBADMSG);
	CHECK_CONTAINS(out.message,
	               "mark is corrupt: \"latest\" is not a version. Write the highest "
	               "version the device ran into it as root");
	write_file(p, "3.0.0", 5);
	CHECK_INT(update("b3", &out), 0);
	CHECK_INT(out.code, -EBADMSG);
	CHECK_CONTAINS(out.message, "mark is corrupt: expected one line");
	CHECK_INT(ops_lines("mcu"), before);
	load();
	engine_status(&cfg, config_device(&cfg, "mcu"), &es);
	config_free(&cfg);
	CHECK_CONTAINS(es.error, "mark is corrupt");
}

/* Finding 6: hardware-compatibility was parsed and shown, never enforced. It
 * is checked against the gateway's revision before any device is touched. */
static void finding6_the_hardware_revision_is_checked(void)
{
	struct engine_outcome out;
	char hw[4400], top[9000], want[6000];
	const char *chips[] = {"mcu"};
	setup("1.0.0", 5000, "required");
	snprintf(hw, sizeof(hw), "%s/hwrevision", dir);
	snprintf(top, sizeof(top), "hardware = { revision_file = \"%s\"; };", hw);
	conf_top = top;
	make_config("required", chips, 1);
	conf_top = NULL;
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 6000},
	                        b = {.device = "mcu", .version = "3.0.0", .len = 6000};
	sw_extra = "  hardware-compatibility = [ \"1.0\", \"#RE:^2\\\\.[0-9]$\" ];";
	make_bundle("hw", &a, 1);
	sw_extra = NULL;
	make_bundle("any", &b, 1);

	/* no revision known: refused, and how to set it is said */
	CHECK_INT(update("hw", &out), -ENOEXEC);
	snprintf(want, sizeof(want),
	         "the bundle is for hardware revisions \"1.0\", \"#RE:^2\\.[0-9]$\", but this "
	         "gateway's revision is not known (%s does not exist): set hardware.revision in "
	         "the configuration, or write \"<board> <revision>\" into the file; nothing "
	         "installed",
	         hw);
	CHECK_STR(update_err, want);
	write_file(hw, "gw-7\n", 5);
	CHECK_INT(update("hw", &out), -ENOEXEC);
	CHECK_CONTAINS(update_err, "does not hold \"<board> <revision>\"");
	/* another revision: both named */
	write_file(hw, "gw-7 1.1\n", 9);
	CHECK_INT(update("hw", &out), -ENOEXEC);
	snprintf(want, sizeof(want),
	         "the bundle is for hardware revisions \"1.0\", \"#RE:^2\\.[0-9]$\", not for this "
	         "gateway's revision \"1.1\" (board \"gw-7\", from %s): nothing installed",
	         hw);
	CHECK_STR(update_err, want);
	CHECK_INT(ops_lines("mcu"), 0);
	CHECK_STR(chip_app("mcu"), "1.0.0");
	/* the regular expression, and the equal string */
	write_file(hw, "gw-7 2.3", 8);
	CHECK_INT(update("hw", &out), 0);
	CHECK_INT(out.result, RESULT_INSTALLED);
	write_file(hw, "  gw-7\t1.0\n", 11);
	CHECK_INT(update("hw", &out), 0);
	CHECK_INT(out.result, RESULT_INSTALLED);
	/* the configuration's revision comes before the file */
	snprintf(top, sizeof(top), "hardware = { revision = \"1.1\"; revision_file = \"%s\"; };",
	         hw);
	conf_top = top;
	make_config("required", chips, 1);
	conf_top = NULL;
	CHECK_INT(update("hw", &out), -ENOEXEC);
	snprintf(want, sizeof(want),
	         "not for this gateway's revision \"1.1\" (from hardware.revision in %s)",
	         config_path);
	CHECK_CONTAINS(update_err, want);
	/* a bundle that names no revision: any gateway */
	CHECK_INT(update("any", &out), 0);
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK_STR(chip_app("mcu"), "3.0.0");
}

static void setup_root(void)
{
	CHECK(mkdtemp(root) != NULL);
	sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '%s/key.pem' "
	   "2>/dev/null && openssl pkey -in '%s/key.pem' -pubout -out '%s/key.pub'",
	   root, root, root);
	log_set_level(getenv("ENGINE_TEST_VERBOSE") ? MCU_OTA_LOG_DEBUG : MCU_OTA_LOG_ERROR);
}

static void cleanup_root(void)
{
	if (!getenv("ENGINE_TEST_KEEP"))
		sh("rm -rf '%s'", root);
}

/* ---- regressions found by review, each failed before its fix ---- */

/* B1: rollback after an interrupted update only finishes the update. */
static void regression_rollback_after_interrupted_update_is_not_done(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 6000};
	const struct image_spec b = {.device = "mcu", .version = "3.0.0", .len = 7000};
	make_bundle("b2", &a, 1);
	make_bundle("b3", &b, 1);
	CHECK_INT(update("b2", &out), 0);
	CHECK(crash_at("committing", "b3")); /* 3.0.0 runs and is confirmed */
	allow_downgrade = true;              /* 2.0.0 is below the mark 3.0.0 now */
	rollback("mcu", &out);               /* the operator wants 2.0.0 back */
	allow_downgrade = false;
	CHECK_STR(chip_app("mcu"), "2.0.0");
	CHECK_STR(slot_version("mcu", STORE_CURRENT, NULL), "2.0.0");
}

/* B1b: an update after an interrupted one reports success for the old one. */
static void regression_update_after_interrupted_update_is_not_done(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 6000};
	const struct image_spec b = {.device = "mcu", .version = "3.0.0", .len = 7000};
	make_bundle("b2", &a, 1);
	make_bundle("b3", &b, 1);
	CHECK(crash_at("entering", "b2"));
	CHECK_INT(update("b3", &out), 0);
	CHECK_INT(out.result, RESULT_INSTALLED); /* exit 0 ... */
	CHECK_STR(chip_app("mcu"), "3.0.0");     /* ... but 3.0.0 is not what runs */
}

/* B2: backup = "optional" does not cover a chip whose memory map shows no
 * readable sector. */
static void regression_optional_backup_with_unreadable_map(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "optional");
	const struct image_spec img = {.device = "mcu", .version = "2.0.0", .len = 9000};
	make_bundle("b2", &img, 1);
	chip_file("mcu", "fault-unreadable", true);
	CHECK_INT(update("b2", &out), 0);
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK_STR(chip_app("mcu"), "2.0.0");
}

/* B3: a 64-byte version (valid for sw-description) is cut to 63 in the store,
 * so the health check waits for another version and the update rolls back. */
static void regression_64_byte_version(void)
{
	struct engine_outcome out;
	char v[65] = "";
	for (int i = 0; i < 31; i++)
		strcat(v, "1.");
	strcat(v, "10"); /* 64 bytes */
	CHECK_INT(strlen(v), 64);
	setup("1.0.0", 5000, "required");
	const struct image_spec img = {.device = "mcu", .version = v, .len = 9000};
	make_bundle("b", &img, 1);
	CHECK_INT(update("b", &out), 0);
	CHECK_INT(out.result, RESULT_INSTALLED);
	CHECK_STR(slot_version("mcu", STORE_CURRENT, NULL), v);
}

/* B5: a damaged current image (the only way back) does not stop an update;
 * when it fails, there is nothing to restore. */
static void regression_damaged_current_image_is_not_checked_before_flashing(void)
{
	struct engine_outcome out;
	char p[4400];
	setup("1.0.0", 5000, "required");
	const struct image_spec a = {.device = "mcu", .version = "2.0.0", .len = 6000};
	const struct image_spec b = {
	    .device = "mcu", .version = "3.0.0", .len = 6000, .noboot = true};
	make_bundle("b2", &a, 1);
	make_bundle("b3", &b, 1);
	CHECK_INT(update("b2", &out), 0);
	snprintf(p, sizeof(p), "%s/state/devices/mcu/current/image.bin", dir);
	sh("printf 'X' | dd of='%s' bs=1 seek=100 conv=notrunc 2>/dev/null", p);
	CHECK_INT(update("b3", &out), 0);
	CHECK(out.result != RESULT_FAILED); /* refused, or rolled back to a fresh read-back */
	CHECK_STR(chip_app("mcu"), "2.0.0");
}

/* B6: after a failed rollback, current names a version the chip no longer
 * holds; install-if-different then skips the very image that would fix it. */
static void regression_failed_device_skips_reinstall(void)
{
	struct engine_outcome out;
	setup("1.0.0", 5000, "required");
	const struct image_spec a = {.device = "mcu",
	                             .version = "2.0.0",
	                             .len = 6000,
	                             .extra = "install-if-different = true;"};
	const struct image_spec b = {.device = "mcu", .version = "3.0.0", .len = 9000};
	make_bundle("b2", &a, 1);
	make_bundle("b3", &b, 1);
	CHECK_INT(update("b2", &out), 0);
	chip_file("mcu", "fault-write", true);
	CHECK_INT(update("b3", &out), 0);
	CHECK_INT(out.result, RESULT_FAILED);
	chip_file("mcu", "fault-write", false);
	CHECK(chip_has("mcu", "dfu")); /* the failed chip sits in its bootloader, half written */
	CHECK_INT(update("b2", &out), 0);
	CHECK(out.result == RESULT_INSTALLED || out.code != 0); /* not "nothing to do", exit 0 */
	CHECK(!chip_has("mcu", "dfu"));
}

/* B7: a flasher selection that matches any bootloader (dfuse without serial
 * or port) opens ANOTHER chip that sits in its bootloader, before entering
 * its own: device b's image goes into chip a. */
static void regression_loose_selection_flashes_another_chip(void)
{
	struct engine_outcome out;
	char text[16384];
	snprintf(dir, sizeof(dir), "%s/t%u", root, ++serial);
	CHECK_INT(mkdir(dir, 0755), 0);
	char chips[4400];
	snprintf(chips, sizeof(chips), "%s/chips", dir);
	CHECK_INT(mkdir(chips, 0755), 0);
	make_chip("chips/a", "1.0.0", 5000);
	make_chip("chips/b", "1.0.0", 5000);
	chip_file("chips/a", "dfu", true); /* a is left in its bootloader (failed earlier) */
	snprintf(text, sizeof(text),
	         "state_dir = \"%s/state\";\nplugin_dir = \"%s\";\n"
	         "bundle = { keys = [\"%s/key.pub\"]; };\ndevices = (\n"
	         "  { name = \"b\"; entry = { plugin = \"fake-entry\"; chip = \"%s/b\"; };\n"
	         "    flasher = { plugin = \"fake-flasher\"; bus = \"%s\"; };\n"
	         "    health = { plugin = \"fake-health\"; chip = \"%s/b\"; }; });\n",
	         dir, FAKE_PLUGIN_DIR, root, chips, chips, chips);
	snprintf(config_path, sizeof(config_path), "%s/mcu-ota.conf", dir);
	write_file(config_path, text, strlen(text));
	const struct image_spec img = {.device = "b", .version = "2.0.0", .len = 9000};
	make_bundle("b2", &img, 1);
	CHECK_INT(update("b2", &out), 0);
	CHECK_STR(chip_app("chips/a"), "1.0.0"); /* chip a must be left alone */
}

TEST_MAIN_WITH(
    setup_root, cleanup_root, TEST(first_update_reads_the_chip_back),
    TEST(the_image_that_runs_is_not_flashed_again), TEST(a_second_update_needs_no_backup),
    TEST(health_failure_rolls_back), TEST(flash_failure_rolls_back),
    TEST(no_boot_rolls_back_to_a_known_version), TEST(failed_rollback_is_failed_and_not_retried),
    TEST(unreadable_chip_with_backup_required_is_not_updated),
    TEST(unreadable_chip_with_backup_optional_is_updated), TEST(downgrade_is_refused),
    TEST(same_version_is_skipped_with_install_if_different),
    TEST(rollback_swaps_current_and_previous), TEST(rollback_without_previous_is_an_error),
    TEST(a_locked_device_is_refused), TEST(devices_are_updated_in_parallel),
    TEST(an_unverified_bundle_touches_nothing), TEST(images_stream_into_the_store),
    TEST(a_crash_while_receiving_keeps_nothing), TEST(crash_when_staged),
    TEST(crash_when_backing_up), TEST(crash_when_entering), TEST(crash_when_flashing),
    TEST(crash_when_exiting), TEST(crash_when_checking), TEST(crash_when_committing),
    TEST(crash_when_rolling_back), TEST(crash_when_flashing_with_a_damaged_staged_image),
    TEST(crash_during_a_rollback_command),
    TEST(regression_rollback_after_interrupted_update_is_not_done),
    TEST(regression_update_after_interrupted_update_is_not_done),
    TEST(regression_optional_backup_with_unreadable_map), TEST(regression_64_byte_version),
    TEST(regression_damaged_current_image_is_not_checked_before_flashing),
    TEST(regression_failed_device_skips_reinstall),
    TEST(regression_loose_selection_flashes_another_chip),
    TEST(rollback_to_a_blank_chip_is_refused),
    TEST(finding1_an_image_without_version_against_firmware_version),
    TEST(finding12_version_2_0_is_2_0_0), TEST(finding5_the_mark_holds_when_current_is_unknown),
    TEST(finding5_allow_downgrade_setting_does_not_pass_the_mark),
    TEST(finding5_rollback_below_the_mark_is_refused),
    TEST(finding5_min_version_before_the_first_update), TEST(the_high_water_mark),
    TEST(finding6_the_hardware_revision_is_checked))
