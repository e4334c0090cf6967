/* Feeding a .swu file into a reader. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bundle/swu.h"
#include "util/format.h"

int swu_reader_feed_file(struct swu_reader *r, const char *path, char *err, size_t errlen)
{
	static const size_t chunk = 64 * 1024;
	uint8_t buf[64 * 1024];
	bool is_stdin = strcmp(path, "-") == 0;
	int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0) {
		int e = errno;
		mcu_ota_set_error(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	for (;;) {
		ssize_t n = read(fd, buf, chunk);
		if (n < 0) {
			int e = errno;
			if (e == EINTR)
				continue;
			mcu_ota_set_error(err, errlen, "%s: %s", path, strerror(e));
			rc = -e;
			break;
		}
		if (n == 0) {
			rc = swu_reader_finish(r, err, errlen);
			break;
		}
		rc = swu_reader_feed(r, buf, (size_t)n, err, errlen);
		if (rc < 0)
			break;
	}
	if (!is_stdin)
		close(fd);
	return rc;
}
