#define _GNU_SOURCE /* mkostemp */
#include "util/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mcu-ota/cleanup.h>

int fsync_parent(const char *path)
{
	char copy[4096];
	if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
		return -ENAMETOOLONG;
	_cleanup_(closep) int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	return fsync(dfd) < 0 ? -errno : 0;
}

int atomic_file_open(struct atomic_file *f, const char *path, mode_t mode)
{
	f->fd = -1;
	f->tmp[0] = '\0';
	if (snprintf(f->path, sizeof(f->path), "%s", path) >= (int)sizeof(f->path) ||
	    snprintf(f->tmp, sizeof(f->tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(f->tmp))
		return -ENAMETOOLONG;
	f->fd = mkostemp(f->tmp, O_CLOEXEC);
	if (f->fd < 0) {
		f->tmp[0] = '\0';
		return -errno;
	}
	if (fchmod(f->fd, mode) < 0) {
		int r = -errno;
		atomic_file_abort(f);
		return r;
	}
	return 0;
}

int write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int atomic_file_write(struct atomic_file *f, const void *data, size_t len)
{
	return write_all(f->fd, data, len);
}

int atomic_file_commit(struct atomic_file *f)
{
	int r = fsync(f->fd) < 0 ? -errno : 0;
	if (close(f->fd) < 0 && r == 0)
		r = -errno;
	f->fd = -1;
	if (r == 0 && rename(f->tmp, f->path) < 0)
		r = -errno;
	if (r < 0) {
		atomic_file_abort(f);
		return r;
	}
	f->tmp[0] = '\0';
	return fsync_parent(f->path);
}

void atomic_file_abort(struct atomic_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->tmp[0])
		unlink(f->tmp);
	f->tmp[0] = '\0';
}

int atomic_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	struct atomic_file f;
	int r = atomic_file_open(&f, path, mode);
	if (r == 0)
		r = atomic_file_write(&f, data, len);
	if (r == 0)
		return atomic_file_commit(&f);
	atomic_file_abort(&f);
	return r;
}
