/* The daemon's control socket: whatever a local client sends as its request
 * (control_request_input, as the daemon reads it, over a real unix socket pair; the input, then the
 * client's end shut). Checked for every request that parses: a command of
 * one word shorter than 16 bytes, the source and devices pointing into the
 * request's own buffer without newlines, and sending it again with
 * control_send_request gives the same request back. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/control.h"
#include "fuzz.h"

static bool inside(const struct control_request *rq, const char *s)
{
	return s >= rq->buf && s < rq->buf + sizeof(rq->buf) &&
	       memchr(s, '\0', (size_t)(rq->buf + sizeof(rq->buf) - s)) && !strchr(s, '\n');
}

/* The daemon's non-blocking reader until the request is whole or refused:
 * the client's end is shut, so every call takes what came, and a wait
 * that runs out means the reader never decided. */
static int read_request(int fd, struct control_request *rq, char *err, size_t errlen)
{
	control_request_init(rq);
	for (;;) {
		int r = control_request_input(fd, rq, err, errlen);
		if (r != 0)
			return r < 0 ? r : 0;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		FUZZ_CHECK(poll(&p, 1, 2000) == 1);
	}
}

/* Send len bytes as a client and read them as the daemon. */
static int exchange(const void *data, size_t len, bool raw, const struct control_request *as,
                    struct control_request *rq, char *err, size_t errlen)
{
	int sv[2];
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	if (raw)
		FUZZ_CHECK(len == 0 || send(sv[0], data, len, MSG_NOSIGNAL) == (ssize_t)len);
	else
		FUZZ_CHECK(control_send_request(sv[0], as->command, as->source, -1, as->devices,
		                                as->device_count, as->allow_downgrade) == 0);
	shutdown(sv[0], SHUT_WR);
	int r = read_request(sv[1], rq, err, errlen);
	close(sv[0]);
	close(sv[1]);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct control_request rq, again;
	char err[256] = "";
	if (size > CONTROL_MAX_REQUEST + 64)
		return 0; /* one send must fit the socket's buffer */
	int r = exchange(data, size, true, NULL, &rq, err, sizeof(err));
	if (r < 0) {
		FUZZ_CHECK(r == -EPROTO && err[0] != '\0');
		control_request_free(&rq);
		return 0;
	}
	FUZZ_CHECK(rq.command[0] && strlen(rq.command) < sizeof(rq.command));
	FUZZ_CHECK(!strchr(rq.command, ' ') && !strchr(rq.command, '\n'));
	FUZZ_CHECK(rq.source_fd == -1);
	FUZZ_CHECK(!rq.source || inside(&rq, rq.source));
	FUZZ_CHECK(rq.device_count <= CONFIG_MAX_DEVICES);
	for (size_t i = 0; i < rq.device_count; i++)
		FUZZ_CHECK(inside(&rq, rq.devices[i]));

	/* what the client library sends for it reads back the same */
	r = exchange(NULL, 0, false, &rq, &again, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "sent again: %s\n", err);
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(!strcmp(rq.command, again.command));
	FUZZ_CHECK(!rq.source == !again.source && (!rq.source || !strcmp(rq.source, again.source)));
	FUZZ_CHECK(rq.device_count == again.device_count);
	FUZZ_CHECK(rq.allow_downgrade == again.allow_downgrade);
	for (size_t i = 0; i < rq.device_count; i++)
		FUZZ_CHECK(!strcmp(rq.devices[i], again.devices[i]));
	control_request_free(&again);
	control_request_free(&rq);
	return 0;
}
