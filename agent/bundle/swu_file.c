/* Feeding a .swu file into a reader. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundle/swu.h"
#include "util/format.h"

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

int swu_reader_feed_fd(struct swu_reader *r, int fd, const char *name,
                       volatile sig_atomic_t *cancel, unsigned limit_ms, char *err, size_t errlen)
{
	static const size_t chunk = 64 * 1024;
	uint8_t *buf = malloc(chunk);
	if (!buf) {
		mcu_ota_set_error(err, errlen, "out of memory");
		return -ENOMEM;
	}
	uint64_t end = limit_ms ? now_ms() + limit_ms : 0;
	bool seekable = true; /* pread from byte 0; a pipe (standard input) reads on */
	off_t off = 0;
	int rc;
	for (;;) {
		if (cancel && *cancel) {
			rc = -ECANCELED;
			mcu_ota_set_error(err, errlen, "%s: reading stopped", name);
			break;
		}
		if (end && now_ms() > end) {
			rc = -ETIMEDOUT;
			mcu_ota_set_error(err, errlen,
			                  "%s: not read within %u s: give a bundle on a local disk",
			                  name, limit_ms / 1000);
			break;
		}
		ssize_t n = seekable ? pread(fd, buf, chunk, off) : read(fd, buf, chunk);
		if (n < 0 && errno == ESPIPE && off == 0 && seekable) {
			seekable = false;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			mcu_ota_set_error(err, errlen, "%s: %s", name, strerror(errno));
			break;
		}
		if (n == 0) {
			rc = swu_reader_finish(r, err, errlen);
			break;
		}
		off += n;
		rc = swu_reader_feed(r, buf, (size_t)n, err, errlen);
		if (rc < 0)
			break;
	}
	free(buf);
	return rc;
}

int swu_reader_feed_file(struct swu_reader *r, const char *path, char *err, size_t errlen)
{
	bool is_stdin = strcmp(path, "-") == 0;
	int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		mcu_ota_set_error(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	int rc = swu_reader_feed_fd(r, fd, path, NULL, 0, err, errlen);
	if (!is_stdin)
		close(fd);
	return rc;
}
