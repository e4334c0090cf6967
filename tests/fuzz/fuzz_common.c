#include "fuzz.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[256];

/* One level of files and folders: all the harnesses leave behind. */
static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (unlink(path) < 0)
			remove_tree(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static void remove_scratch(void)
{
	if (scratch[0])
		remove_tree(scratch);
}

const char *fuzz_scratch_dir(void)
{
	if (!scratch[0]) {
		const char *base = getenv("TMPDIR");
		struct stat st;
		if (!base || !*base)
			base = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";
		snprintf(scratch, sizeof(scratch), "%s/mcu-ota-fuzz-XXXXXX", base);
		if (!mkdtemp(scratch)) {
			perror("mkdtemp");
			abort();
		}
		atexit(remove_scratch);
	}
	return scratch;
}

void fuzz_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(len == 0 || write(fd, data, len) == (ssize_t)len);
	close(fd);
}
