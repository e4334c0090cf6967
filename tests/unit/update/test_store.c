/* The image store: slots change whole or not at all, a bad image never gets
 * in, promotion can be repeated after a crash at any step, and one process
 * at a time drives a device. */
#include "check.h"
#include "update/journal.h"
#include "update/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/format.h"

static char root[] = "/tmp/mcu-ota-store-XXXXXX";

static struct slot_meta meta_for(const void *data, size_t len, const char *version)
{
	struct slot_meta m = {.size = len, .address = 0x08000000};
	unsigned char d[32];
	SHA256(data, len, d);
	hex_encode(d, sizeof(d), m.sha256);
	snprintf(m.version, sizeof(m.version), "%s", version);
	return m;
}

static int put(struct store *s, enum store_slot slot, const char *text, const char *version)
{
	char err[512];
	struct store_writer w;
	struct slot_meta m = meta_for(text, strlen(text), version);
	int r = store_write_begin(s, slot, &m, &w, err, sizeof(err));
	if (r == 0)
		r = store_write(&w, text, strlen(text), err, sizeof(err));
	if (r == 0)
		r = store_write_commit(&w, err, sizeof(err));
	return r;
}

static void expect_slot(struct store *s, enum store_slot slot, const char *text,
                        const char *version)
{
	struct slot_meta m;
	char err[512];
	uint8_t *data;
	size_t len;
	if (!text) {
		CHECK_INT(store_meta(s, slot, &m, err, sizeof(err)), -ENOENT);
		return;
	}
	CHECK_INT(store_meta(s, slot, &m, err, sizeof(err)), 0);
	CHECK_STR(m.version, version);
	CHECK_INT(store_load(s, slot, &data, &len, err, sizeof(err)), 0);
	CHECK_INT(len, strlen(text));
	CHECK(len == strlen(text) && memcmp(data, text, len) == 0);
	free(data);
}

static void open_store(struct store *s, const char *device)
{
	char err[512];
	int r = store_open(root, device, s, err, sizeof(err));
	CHECK_INT(r, 0);
	if (r)
		fprintf(stderr, "%s\n", err);
}

static void stage_and_promote(void)
{
	struct store s;
	char err[512];
	open_store(&s, "motor");
	expect_slot(&s, STORE_CURRENT, NULL, NULL);
	CHECK_INT(put(&s, STORE_STAGED, "image one", "1.0.0"), 0);
	CHECK_INT(store_promote(&s, err, sizeof(err)), 0);
	expect_slot(&s, STORE_CURRENT, "image one", "1.0.0");
	expect_slot(&s, STORE_STAGED, NULL, NULL);
	CHECK_INT(put(&s, STORE_STAGED, "image two", "2.0.0"), 0);
	CHECK_INT(store_promote(&s, err, sizeof(err)), 0);
	expect_slot(&s, STORE_CURRENT, "image two", "2.0.0");
	expect_slot(&s, STORE_PREVIOUS, "image one", "1.0.0");
	CHECK_INT(put(&s, STORE_STAGED, "image three", "3.0.0"), 0);
	CHECK_INT(store_promote(&s, err, sizeof(err)), 0);
	expect_slot(&s, STORE_PREVIOUS, "image two", "2.0.0");
	/* nothing staged: promoting again changes nothing */
	CHECK_INT(store_promote(&s, err, sizeof(err)), 0);
	expect_slot(&s, STORE_CURRENT, "image three", "3.0.0");
	store_close(&s);
}

static void a_bad_image_never_gets_in(void)
{
	struct store s;
	char err[512];
	open_store(&s, "radio");
	CHECK_INT(put(&s, STORE_STAGED, "good", "1.0.0"), 0);
	struct slot_meta m = meta_for("good", 4, "2.0.0");
	struct store_writer w;
	CHECK_INT(store_write_begin(&s, STORE_STAGED, &m, &w, err, sizeof(err)), 0);
	CHECK_INT(store_write(&w, "evil", 4, err, sizeof(err)), 0);
	CHECK_INT(store_write_commit(&w, err, sizeof(err)), -EBADMSG);
	CHECK_CONTAINS(err, "does not match");
	expect_slot(&s, STORE_STAGED, "good", "1.0.0"); /* the old staged image is intact */
	/* more bytes than declared are refused as they arrive */
	CHECK_INT(store_write_begin(&s, STORE_STAGED, &m, &w, err, sizeof(err)), 0);
	CHECK_INT(store_write(&w, "good!", 5, err, sizeof(err)), -EFBIG);
	store_write_abort(&w);
	char path[4400];
	snprintf(path, sizeof(path), "%s/staged.new", s.dir);
	CHECK(access(path, F_OK) != 0);
	store_close(&s);
}

static void damage_is_detected(void)
{
	struct store s;
	char err[512], path[4400];
	uint8_t *data;
	size_t len;
	struct slot_meta m;
	open_store(&s, "hub");
	CHECK_INT(put(&s, STORE_STAGED, "precious bytes", "1.0.0"), 0);
	snprintf(path, sizeof(path), "%s/staged/image.bin", s.dir);
	FILE *f = fopen(path, "r+");
	fputc('X', f);
	fclose(f);
	CHECK_INT(store_load(&s, STORE_STAGED, &data, &len, err, sizeof(err)), -EBADMSG);
	CHECK_CONTAINS(err, "damaged");
	snprintf(path, sizeof(path), "%s/staged/meta", s.dir);
	f = fopen(path, "a");
	fputs("colour=blue\n", f);
	fclose(f);
	CHECK_INT(store_meta(&s, STORE_STAGED, &m, err, sizeof(err)), -EBADMSG);
	CHECK_CONTAINS(err, "corrupt");
	store_close(&s);
}

static bool in_store(const struct store *s, const char *name)
{
	char path[4400];
	snprintf(path, sizeof(path), "%s/%s", s->dir, name);
	return access(path, F_OK) == 0;
}

/* Issue 14: a received image is written as it streams in (its hash is the
 * reader's to check: commit checks the size), becomes the staged one by a
 * rename, and never outlives its process: the next store_open drops it. */
static void a_received_image_is_the_process_s_own(void)
{
	struct store s;
	struct store_writer w;
	char err[512];
	const char *text = "a raw image";
	struct slot_meta m = meta_for(text, strlen(text), "2.0.0");
	open_store(&s, "pump");
	/* a size short of its declared one is refused */
	CHECK_INT(store_receive_begin(&s, &m, &w, err, sizeof(err)), 0);
	CHECK_INT(store_write(&w, text, 5, err, sizeof(err)), 0);
	CHECK_INT(store_write_commit(&w, err, sizeof(err)), -EBADMSG);
	CHECK(!in_store(&s, "received") && !in_store(&s, "received.new"));
	CHECK_INT(store_receive_begin(&s, &m, &w, err, sizeof(err)), 0);
	CHECK_INT(store_write(&w, text, strlen(text), err, sizeof(err)), 0);
	CHECK_INT(store_write_commit(&w, err, sizeof(err)), 0);
	expect_slot(&s, STORE_RECEIVED, text, "2.0.0");
	CHECK_INT(store_move(&s, STORE_RECEIVED, STORE_STAGED, err, sizeof(err)), 0);
	expect_slot(&s, STORE_STAGED, text, "2.0.0");
	CHECK(!in_store(&s, "received"));
	CHECK_INT(store_move(&s, STORE_RECEIVED, STORE_STAGED, err, sizeof(err)), -ENOENT);
	/* left behind by a process that died: the next one drops it */
	CHECK_INT(store_receive_begin(&s, &m, &w, err, sizeof(err)), 0);
	CHECK_INT(store_write(&w, text, strlen(text), err, sizeof(err)), 0);
	CHECK_INT(store_write_commit(&w, err, sizeof(err)), 0);
	CHECK_INT(store_receive_begin(&s, &m, &w, err, sizeof(err)), 0); /* half of another */
	store_close(&s);
	CHECK(in_store(&s, "received") && in_store(&s, "received.new"));
	open_store(&s, "pump");
	CHECK(!in_store(&s, "received") && !in_store(&s, "received.new"));
	expect_slot(&s, STORE_STAGED, text, "2.0.0");
	store_close(&s);
}

/* store_read checks what it reads into a buffer, or only checks; store_copy
 * copies a slot in chunks and refuses a damaged one, the target intact. */
static void read_and_copy_check_the_hash(void)
{
	struct store s;
	struct slot_meta m;
	char err[512], path[4400];
	uint8_t buf[64];
	open_store(&s, "fan");
	CHECK_INT(put(&s, STORE_PREVIOUS, "the old image", "1.0.0"), 0);
	CHECK_INT(put(&s, STORE_STAGED, "staged", "3.0.0"), 0);
	CHECK_INT(store_meta(&s, STORE_PREVIOUS, &m, err, sizeof(err)), 0);
	CHECK_INT(store_read(&s, STORE_PREVIOUS, &m, buf, err, sizeof(err)), 0);
	CHECK(memcmp(buf, "the old image", m.size) == 0);
	CHECK_INT(store_read(&s, STORE_PREVIOUS, &m, NULL, err, sizeof(err)), 0);
	CHECK_INT(store_copy(&s, STORE_PREVIOUS, STORE_STAGED, err, sizeof(err)), 0);
	expect_slot(&s, STORE_STAGED, "the old image", "1.0.0");
	expect_slot(&s, STORE_PREVIOUS, "the old image", "1.0.0");
	CHECK_INT(put(&s, STORE_STAGED, "staged", "3.0.0"), 0);
	/* one byte more than its meta says */
	snprintf(path, sizeof(path), "%s/previous/image.bin", s.dir);
	FILE *f = fopen(path, "a");
	fputc('X', f);
	fclose(f);
	CHECK_INT(store_read(&s, STORE_PREVIOUS, &m, NULL, err, sizeof(err)), -EBADMSG);
	CHECK_CONTAINS(err, "damaged");
	CHECK(store_copy(&s, STORE_PREVIOUS, STORE_STAGED, err, sizeof(err)) < 0);
	expect_slot(&s, STORE_STAGED, "staged", "3.0.0");
	CHECK(!in_store(&s, "staged.new"));
	store_close(&s);
}

static void rename_or_die(const char *dir, const char *from, const char *to)
{
	char a[4400], b[4400];
	snprintf(a, sizeof(a), "%s/%s", dir, from);
	snprintf(b, sizeof(b), "%s/%s", dir, to);
	CHECK_INT(rename(a, b), 0);
}

/* A crash can stop store_promote after any of its renames: reopening the
 * store and promoting again must end where an uninterrupted run ends. */
static void promotion_survives_a_crash_at_every_step(void)
{
	for (int step = 0; step < 3; step++) {
		struct store s;
		char err[512], device[32];
		snprintf(device, sizeof(device), "crash%d", step);
		open_store(&s, device);
		CHECK_INT(put(&s, STORE_STAGED, "v1", "1"), 0);
		CHECK_INT(store_promote(&s, err, sizeof(err)), 0);
		CHECK_INT(put(&s, STORE_STAGED, "v2", "2"), 0);
		CHECK_INT(store_promote(&s, err, sizeof(err)), 0);
		CHECK_INT(put(&s, STORE_STAGED, "v3", "3"), 0);
		/* replay the renames of store_promote up to the crash */
		rename_or_die(s.dir, "previous", "previous.old");
		if (step >= 1)
			rename_or_die(s.dir, "current", "previous");
		if (step >= 2)
			rename_or_die(s.dir, "staged", "current");
		store_close(&s);
		open_store(&s, device); /* a new process after the crash */
		CHECK_INT(store_promote(&s, err, sizeof(err)), 0);
		expect_slot(&s, STORE_CURRENT, "v3", "3");
		expect_slot(&s, STORE_PREVIOUS, "v2", "2");
		expect_slot(&s, STORE_STAGED, NULL, NULL);
		char old[4400];
		snprintf(old, sizeof(old), "%s/previous.old", s.dir);
		CHECK(access(old, F_OK) != 0);
		store_close(&s);
	}
}

static void one_process_per_device(void)
{
	struct store s;
	open_store(&s, "shared");
	pid_t pid = fork();
	if (pid == 0) {
		struct store other;
		char err[512];
		int r = store_open(root, "shared", &other, err, sizeof(err));
		_exit(r == -EBUSY && strstr(err, "another mcu-ota process") ? 0 : 1);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	store_close(&s);
	/* released: the next process gets it */
	open_store(&s, "shared");
	store_close(&s);
	char err[512];
	CHECK_INT(store_open(root, "../etc", &s, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "not valid");
}

/* The high-water mark (issue 12): kept whole across saves, refused when
 * corrupt, a save cut short tidied away, and readable only by the owner. */
static void the_mark(void)
{
	struct store s;
	char err[512], mark[STORE_VERSION_MAX], path[4400];
	open_store(&s, "marked");
	CHECK_INT(store_mark_load(&s, mark, err, sizeof(err)), -ENOENT);
	CHECK_INT(store_mark_save(&s, "2.1.0", err, sizeof(err)), 0);
	CHECK_INT(store_mark_load(&s, mark, err, sizeof(err)), 0);
	CHECK_STR(mark, "2.1.0");
	CHECK_INT(store_mark_save(&s, "10.0.0-rc.1", err, sizeof(err)), 0);
	CHECK_INT(store_mark_load(&s, mark, err, sizeof(err)), 0);
	CHECK_STR(mark, "10.0.0-rc.1");
	snprintf(path, sizeof(path), "%s/devices/marked/mark", root);
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(store_mark_save(&s, "", err, sizeof(err)), -EINVAL);
	CHECK_INT(store_mark_save(&s, "1\n2", err, sizeof(err)), -EINVAL);
	static const char *const corrupt[] = {
	    "",        "version=",      "version=2.1.0",
	    "2.1.0\n", "version=2 1\n", "version=2.1.0\nversion=3\n"};
	for (size_t i = 0; i < sizeof(corrupt) / sizeof(*corrupt); i++) {
		FILE *f = fopen(path, "w");
		CHECK(f != NULL);
		if (f) {
			fputs(corrupt[i], f);
			fclose(f);
		}
		CHECK_INT(store_mark_load(&s, mark, err, sizeof(err)), -EBADMSG);
		CHECK_CONTAINS(err, "is corrupt");
	}
	store_close(&s);
	/* a save cut short leaves its temporary file: the next open removes it */
	snprintf(path, sizeof(path), "%s/devices/marked/mark.tmp-abc123", root);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	open_store(&s, "marked");
	CHECK(access(path, F_OK) != 0);
	store_close(&s);
}

/* Every folder under path has mode dir_mode and every file file_mode; the
 * count of entries seen goes to *n. What differs is reported. */
static void expect_modes(const char *path, mode_t dir_mode, mode_t file_mode, int *n)
{
	struct stat st;
	CHECK_INT(lstat(path, &st), 0);
	mode_t want = S_ISDIR(st.st_mode) ? dir_mode : file_mode;
	if ((st.st_mode & 07777) != want) {
		fprintf(stderr, "%s: mode %04o, expected %04o\n", path,
		        (unsigned)st.st_mode & 07777, (unsigned)want);
		check_current_failed = 1;
	}
	(*n)++;
	if (!S_ISDIR(st.st_mode))
		return;
	DIR *d = opendir(path);
	CHECK(d != NULL);
	for (struct dirent *e; d && (e = readdir(d));) {
		char sub[4400];
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		expect_modes(sub, dir_mode, file_mode, n);
	}
	if (d)
		closedir(d);
}

/* A store with a lock, a journal and all three slots. */
static void fill(const char *device)
{
	struct store s;
	struct journal j = {.state = UPDATE_IDLE};
	char err[512];
	open_store(&s, device);
	CHECK_INT(put(&s, STORE_STAGED, "image one", "1.0.0"), 0);
	CHECK_INT(store_promote(&s, err, sizeof(err)), 0);
	CHECK_INT(put(&s, STORE_STAGED, "image two", "2.0.0"), 0);
	CHECK_INT(store_promote(&s, err, sizeof(err)), 0);
	CHECK_INT(put(&s, STORE_STAGED, "image three", "3.0.0"), 0);
	CHECK_INT(journal_save(&s, &j, err, sizeof(err)), 0);
	store_close(&s);
}

/* Finding 8 of issue 12: a chip's read-back firmware (the vendor's, maybe with
 * secrets) was world-readable: folders 0755, images, meta and journal 0644.
 * Only the owner reads the store now, whatever the umask. */
static void only_the_owner_reads_the_store(void)
{
	char devices[4200];
	int n = 0;
	mode_t old = umask(022); /* the usual one: the store's modes must not come from it */
	fill("private");
	umask(old);
	snprintf(devices, sizeof(devices), "%s/devices", root);
	expect_modes(devices, 0700, 0600, &(int){0}); /* "devices", every device in it */
	snprintf(devices, sizeof(devices), "%s/devices/private", root);
	expect_modes(devices, 0700, 0600, &n);
	CHECK_INT(n, 1 + 2 + 3 * 3); /* the device, lock and journal, 3 slots of 2 files */
}

/* ... and a store an older mcu-ota made, readable by all, is narrowed when it
 * is next opened; the log says so once. */
static void an_older_store_is_narrowed_once(void)
{
	char dev[4200], cmd[8600], log_path[4300], text[4096] = "";
	int n = 0;
	fill("older");
	snprintf(dev, sizeof(dev), "%s/devices/older", root);
	snprintf(cmd, sizeof(cmd),
	         "chmod 755 %s/devices && find %s -type d -exec chmod 755 {} + -o -type f -exec "
	         "chmod 644 {} +",
	         root, dev);
	CHECK_INT(system(cmd), 0);
	/* the warning goes to stderr: catch it in a file */
	snprintf(log_path, sizeof(log_path), "%s/log", root);
	fflush(stderr);
	int saved = dup(STDERR_FILENO), fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(saved >= 0 && fd >= 0);
	dup2(fd, STDERR_FILENO);
	for (int i = 0; i < 2; i++) {
		struct store s;
		open_store(&s, "older");
		expect_slot(&s, STORE_CURRENT, "image two", "2.0.0");
		store_close(&s);
	}
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
	FILE *f = fopen(log_path, "r");
	size_t len = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	text[len] = '\0';
	if (f)
		fclose(f);
	unlink(log_path);
	expect_modes(dev, 0700, 0600, &n);
	CHECK_INT(n, 1 + 2 + 3 * 3);
	snprintf(dev, sizeof(dev), "%s/devices", root);
	struct stat st;
	CHECK_INT(stat(dev, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0700);
	CHECK_CONTAINS(text, "could be read by other users: narrowed to 0700 (folders) and 0600 "
	                     "(files)");
	const char *first = strstr(text, "could be read by other users");
	CHECK(first && !strstr(first + 1, "could be read by other users")); /* once */
}

static void setup(void)
{
	if (!mkdtemp(root))
		exit(1);
}

static void teardown(void)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	CHECK_INT(system(cmd), 0);
}

TEST_MAIN_WITH(setup, teardown, TEST(stage_and_promote), TEST(a_bad_image_never_gets_in),
               TEST(damage_is_detected), TEST(promotion_survives_a_crash_at_every_step),
               TEST(one_process_per_device), TEST(the_mark), TEST(only_the_owner_reads_the_store),
               TEST(an_older_store_is_narrowed_once), TEST(a_received_image_is_the_process_s_own),
               TEST(read_and_copy_check_the_hash))
