#define _GNU_SOURCE /* O_PATH */
#include "daemon/control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int control_connect(const char *path, int *fd, char *err, size_t errlen)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	*fd = -1;
	if (strlen(path) >= sizeof(a.sun_path)) {
		mcu_ota_set_error(err, errlen, "socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		int r = -errno;
		mcu_ota_set_error(err, errlen, "socket: %s", strerror(errno));
		return r;
	}
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int r = -errno;
		close(s);
		if (r == -ENOENT || r == -ECONNREFUSED)
			return r;
		mcu_ota_set_error(err, errlen, "cannot reach the mcu-ota daemon at %s: %s%s", path,
		                  strerror(-r),
		                  r == -EACCES ? " (run as root, or as a member of the group that "
		                                 "daemon.socket_group names)"
		                               : "");
		return r;
	}
	*fd = s;
	return 0;
}

static int append(char *buf, size_t size, size_t *len, const char *key, const char *value)
{
	int w = snprintf(buf + *len, size - *len, "%s%s%s\n", key, value ? " " : "",
	                 value ? value : "");
	if (w < 0 || (size_t)w >= size - *len || (value && strchr(value, '\n')))
		return -EINVAL;
	*len += (size_t)w;
	return 0;
}

int control_send_request(int fd, const char *command, const char *source, int source_fd,
                         const char *const *devices, size_t n, bool allow_downgrade)
{
	char buf[CONTROL_MAX_REQUEST];
	size_t len = 0;
	int r = append(buf, sizeof(buf), &len, command, NULL);
	if (r == 0 && (source || source_fd >= 0))
		r = append(buf, sizeof(buf), &len, "source", source ? source : "-");
	for (size_t i = 0; r == 0 && i < n; i++)
		r = append(buf, sizeof(buf), &len, "device", devices[i]);
	if (r == 0 && allow_downgrade)
		r = append(buf, sizeof(buf), &len, "allow-downgrade", "yes");
	if (r == 0)
		r = append(buf, sizeof(buf), &len, "", NULL);
	if (r < 0)
		return r;
	struct iovec iov = {buf, len};
	union {
		char space[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (source_fd >= 0) { /* the descriptor travels with the first byte */
		memset(&control, 0, sizeof(control));
		msg.msg_control = control.space;
		msg.msg_controllen = sizeof(control.space);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &source_fd, sizeof(int));
	}
	while (iov.iov_len) {
		ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		iov.iov_base = (char *)iov.iov_base + w;
		iov.iov_len -= (size_t)w;
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
	}
	return 0;
}

void control_request_init(struct control_request *rq)
{
	memset(rq, 0, sizeof(*rq));
	rq->source_fd = -1;
}

static bool complete(const struct control_request *rq)
{
	return (rq->len >= 2 && !memcmp(rq->buf + rq->len - 2, "\n\n", 2)) ||
	       (rq->len == 1 && rq->buf[0] == '\n');
}

/* The descriptors of one message: the first is kept, every other closed at
 * once (a client must not make the daemon hoard them). */
static int take_fds(struct control_request *rq, struct msghdr *msg, char *err, size_t errlen)
{
	unsigned extra = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int got;
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (rq->source_fd < 0 && !extra) {
				rq->source_fd = got;
			} else {
				close(got);
				extra++;
			}
		}
	}
	if (msg->msg_flags & MSG_CTRUNC) {
		mcu_ota_set_error(err, errlen,
		                  "more descriptors than a request may carry: send exactly one, "
		                  "the bundle's");
		return -EBADF;
	}
	if (extra) {
		mcu_ota_set_error(err, errlen,
		                  "%u descriptors too many: send exactly one with a request, the "
		                  "bundle's",
		                  extra);
		return -EBADF;
	}
	return 0;
}

static int parse(struct control_request *rq, char *err, size_t errlen)
{
	rq->buf[rq->len] = '\0';
	char *save = NULL;
	bool first = true;
	for (char *line = strtok_r(rq->buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *value = strchr(line, ' ');
		if (value)
			*value++ = '\0';
		if (first) {
			if (value || strlen(line) >= sizeof(rq->command))
				goto bad;
			snprintf(rq->command, sizeof(rq->command), "%s", line);
			first = false;
		} else if (!strcmp(line, "source") && value && !rq->source) {
			rq->source = value;
		} else if (!strcmp(line, "device") && value &&
		           rq->device_count < CONFIG_MAX_DEVICES) {
			rq->devices[rq->device_count++] = value;
		} else if (!strcmp(line, "allow-downgrade") && value && !strcmp(value, "yes") &&
		           !rq->allow_downgrade) {
			rq->allow_downgrade = true;
		} else {
			goto bad;
		}
	}
	if (first)
		goto bad;
	return 1;
bad:
	mcu_ota_set_error(err, errlen, "not a request of this daemon's protocol");
	return -EPROTO;
}

int control_request_input(int fd, struct control_request *rq, char *err, size_t errlen)
{
	while (!complete(rq)) {
		if (rq->len >= sizeof(rq->buf) - 1) {
			mcu_ota_set_error(err, errlen, "request longer than %d bytes",
			                  CONTROL_MAX_REQUEST);
			return -EPROTO;
		}
		/* room for more descriptors than allowed: the extra ones are
		 * received to be closed, not left to MSG_CTRUNC's silent drop */
		union {
			char space[CMSG_SPACE(8 * sizeof(int))];
			struct cmsghdr align;
		} control;
		struct iovec iov = {rq->buf + rq->len, sizeof(rq->buf) - 1 - rq->len};
		struct msghdr msg = {.msg_iov = &iov,
		                     .msg_iovlen = 1,
		                     .msg_control = control.space,
		                     .msg_controllen = sizeof(control.space)};
		ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		int r = n > 0 ? take_fds(rq, &msg, err, errlen) : 0;
		if (r < 0)
			return r;
		if (n <= 0) {
			mcu_ota_set_error(err, errlen, "the client left before its request ended");
			return -EPROTO;
		}
		rq->len += (size_t)n;
	}
	return parse(rq, err, errlen);
}

int control_check_source_fd(int fd, char *err, size_t errlen)
{
	struct stat st;
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fstat(fd, &st) < 0) {
		mcu_ota_set_error(err, errlen, "the passed descriptor is unusable: %s",
		                  strerror(errno));
		return -EINVAL;
	}
	const char *what = S_ISREG(st.st_mode)    ? NULL
	                   : S_ISDIR(st.st_mode)  ? "a directory"
	                   : S_ISFIFO(st.st_mode) ? "a pipe"
	                   : S_ISSOCK(st.st_mode) ? "a socket"
	                   : S_ISCHR(st.st_mode)  ? "a character device"
	                   : S_ISBLK(st.st_mode)  ? "a block device"
	                                          : "not a regular file";
	if (what) {
		mcu_ota_set_error(err, errlen,
		                  "the passed descriptor is %s: send the bundle as a regular file "
		                  "opened for reading",
		                  what);
		return -EINVAL;
	}
	/* O_PATH and write-only descriptors do not grant reading: root must not
	 * read for the client what the client may not */
	if ((flags & O_PATH) == O_PATH || (flags & O_ACCMODE) == O_WRONLY) {
		mcu_ota_set_error(err, errlen,
		                  "the passed descriptor is not open for reading (%s): open the "
		                  "bundle with O_RDONLY",
		                  (flags & O_PATH) == O_PATH ? "O_PATH" : "write-only");
		return -EINVAL;
	}
	return 0;
}

void control_request_free(struct control_request *rq)
{
	if (rq->source_fd >= 0)
		close(rq->source_fd);
	rq->source_fd = -1;
}

void control_request_move(struct control_request *dst, struct control_request *src)
{
	if (dst == src)
		return;
	*dst = *src;
	if (src->source)
		dst->source = dst->buf + (src->source - src->buf);
	for (size_t i = 0; i < src->device_count; i++)
		dst->devices[i] = dst->buf + (src->devices[i] - src->buf);
	src->source_fd = -1;
}

size_t control_format_line(char *out, size_t n, const char *fmt, va_list ap)
{
	int w = vsnprintf(out, n - 1, fmt, ap);
	size_t len = w < 0 ? 0 : strlen(out);
	for (size_t i = 0; i < len; i++)
		if (out[i] == '\n' || out[i] == '\r')
			out[i] = ' ';
	out[len++] = '\n';
	out[len] = '\0';
	return len;
}

int control_read_line(struct control_reader *r, char *line, size_t n)
{
	for (;;) {
		char *nl = memchr(r->buf, '\n', r->len);
		if (nl) {
			size_t l = (size_t)(nl - r->buf);
			snprintf(line, n, "%.*s", (int)l, r->buf);
			memmove(r->buf, nl + 1, r->len - l - 1);
			r->len -= l + 1;
			return 1;
		}
		if (r->len == sizeof(r->buf))
			r->len = 0; /* a line longer than the protocol allows: drop it */
		ssize_t got = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return 0;
		r->len += (size_t)got;
	}
}
