/* notify-listen: a stand-in for systemd's end of $NOTIFY_SOCKET, for the
 * daemon scenarios (busybox has no socat). Binds a unix datagram socket and
 * prints every message it receives as one line on stdout (the message's
 * newlines between assignments become spaces), flushed at once, so that a
 * scenario can wait for "READY=1" with grep on the file it redirects to.
 *
 * usage: notify-listen PATH
 *   PATH    the socket to bind (removed first if it exists); "@NAME" binds
 *           the abstract name NAME, as systemd may pass it
 * Runs until killed. Exit 2 on usage, 1 when the socket cannot be bound.
 * Credentials (the sender's pid) are asked for with SO_PASSCRED and printed
 * in front of the message: "pid=N READY=1 STATUS=idle". */
#define _GNU_SOURCE /* struct ucred */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa;
	socklen_t len;
	size_t n;
	int fd, on = 1;

	if (argc != 2 || !argv[1][0]) {
		fprintf(stderr, "usage: notify-listen PATH|@NAME\n");
		return 2;
	}
	n = strlen(argv[1]);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (n >= sizeof(sa.sun_path)) {
		fprintf(stderr, "notify-listen: path too long: %s\n", argv[1]);
		return 2;
	}
	memcpy(sa.sun_path, argv[1], n);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if (argv[1][0] == '@')
		sa.sun_path[0] = '\0';
	else
		unlink(argv[1]);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) < 0) {
		fprintf(stderr, "notify-listen: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on));

	for (;;) {
		char buf[4096], cbuf[CMSG_SPACE(sizeof(struct ucred))];
		struct iovec iov = {buf, sizeof(buf) - 1};
		struct msghdr m = {0};
		struct cmsghdr *c;
		long pid = -1;
		ssize_t r;

		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = cbuf;
		m.msg_controllen = sizeof(cbuf);
		r = recvmsg(fd, &m, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "notify-listen: %s\n", strerror(errno));
			return 1;
		}
		for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
				struct ucred cred;
				memcpy(&cred, CMSG_DATA(c), sizeof(cred));
				pid = (long)cred.pid;
			}
		}
		/* one message, one line; a trailing newline is not a separator */
		while (r > 0 && buf[r - 1] == '\n')
			r--;
		buf[r] = '\0';
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] == '\n' || buf[i] == '\0')
				buf[i] = ' ';
		printf("pid=%ld %s\n", pid, buf);
		fflush(stdout);
	}
}
