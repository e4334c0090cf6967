/* Atomic files: the old content stays until commit, failures leave nothing. */
#include "check.h"
#include "util/atomic.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/mcu-ota-atomic-XXXXXX";

static size_t entries(void)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
}

static void writes_content_and_mode(void)
{
	char path[256], buf[64];
	snprintf(path, sizeof(path), "%s/a", dir);
	CHECK_INT(atomic_write_file(path, "hello", 5, 0640), 0);
	slurp(path, buf, sizeof(buf));
	CHECK_STR(buf, "hello");
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0640);
	CHECK_INT(entries(), 1); /* no temporary file left beside it */
	unlink(path);
}

static void old_content_stays_until_commit(void)
{
	char path[256], buf[64];
	snprintf(path, sizeof(path), "%s/b", dir);
	CHECK_INT(atomic_write_file(path, "old", 3, 0644), 0);
	struct atomic_file f;
	CHECK_INT(atomic_file_open(&f, path, 0644), 0);
	CHECK_INT(atomic_file_write(&f, "new ", 4), 0);
	CHECK_INT(atomic_file_write(&f, "content", 7), 0);
	slurp(path, buf, sizeof(buf));
	CHECK_STR(buf, "old");
	CHECK_INT(atomic_file_commit(&f), 0);
	slurp(path, buf, sizeof(buf));
	CHECK_STR(buf, "new content");
	CHECK_INT(entries(), 1);
	unlink(path);
}

static void abort_leaves_nothing(void)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/c", dir);
	struct atomic_file f;
	CHECK_INT(atomic_file_open(&f, path, 0644), 0);
	CHECK_INT(atomic_file_write(&f, "x", 1), 0);
	CHECK_INT(entries(), 1);
	atomic_file_abort(&f);
	atomic_file_abort(&f); /* twice is harmless */
	CHECK_INT(entries(), 0);
	CHECK(access(path, F_OK) != 0);
}

static void failure_leaves_nothing(void)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/missing/d", dir);
	CHECK_INT(atomic_write_file(path, "x", 1, 0644), -ENOENT);
	/* a regular file where the folder should be */
	char file[256];
	snprintf(file, sizeof(file), "%s/plain", dir);
	CHECK_INT(atomic_write_file(file, "", 0, 0644), 0);
	snprintf(path, sizeof(path), "%s/plain/e", dir);
	CHECK_INT(atomic_write_file(path, "x", 1, 0644), -ENOTDIR);
	CHECK_INT(entries(), 1);
	unlink(file);
}

static void setup(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
}

static void teardown(void)
{
	rmdir(dir);
}

TEST_MAIN_WITH(setup, teardown, TEST(writes_content_and_mode), TEST(old_content_stays_until_commit),
               TEST(abort_leaves_nothing), TEST(failure_leaves_nothing))
