/* The daemon's control socket (a unix stream socket, daemon.socket): one
 * request per connection, then reply lines until the daemon closes it.
 *
 * Request: "key value" lines ended by an empty line; the first is the
 * command ("status", "update", "rollback"), then "source S" (update: a URL,
 * or the name of a file whose open descriptor comes with the request
 * (SCM_RIGHTS): the daemon may not see the client's files) and "device
 * NAME" lines, and "allow-downgrade yes" (root's, or daemon.admin_group's).
 * At most one descriptor comes with a request.
 *
 * Reply lines (text never holds a newline):
 *   log LEVEL TEXT                        what the command would have logged
 *   outcome DEVICE RESULT CODE VERSION|- TEXT   one device's end (engine_outcome)
 *   error CODE TEXT                       the job failed before touching a device
 *   busy TEXT                             refused: another job runs (try later)
 *   (a client that reads too slowly loses log lines, and is told how many
 *   in a "log 1 N log lines dropped ..." line; never the others)
 *   device NAME PHASE DONE TOTAL          status: a device a job is working on
 *   daemon KEY VALUE                      status: pid, job, next poll
 *   end                                   the last line
 * CODE is a negative errno, RESULT an update_result name. The client turns
 * outcomes into output and an exit status as the direct command would. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "util/log.h"

#define CONTROL_MAX_REQUEST 8192 /* bytes of one request */
#define CONTROL_MAX_LINE    4096 /* bytes of one reply line */

struct control_request {
	char command[16];
	const char *source;   /* NULL, a URL, or the name of the file passed as source_fd */
	int source_fd;        /* -1, or the descriptor passed with the request */
	bool allow_downgrade; /* "allow-downgrade yes": the caller's explicit --allow-downgrade */
	const char *devices[CONFIG_MAX_DEVICES];
	size_t device_count;
	size_t len; /* bytes of buf received so far */
	char buf[CONTROL_MAX_REQUEST];
};

/* Connect to the daemon's socket. -ENOENT or -ECONNREFUSED: no daemon runs
 * (the caller works alone); other codes with err set (e.g. -EACCES). */
__attribute__((warn_unused_result)) int control_connect(const char *path, int *fd, char *err,
                                                        size_t errlen);
/* Send a request; source_fd >= 0 is passed along (source is then its name). */
__attribute__((warn_unused_result)) int control_send_request(int fd, const char *command,
                                                             const char *source, int source_fd,
                                                             const char *const *devices, size_t n,
                                                             bool allow_downgrade);

/* An empty request, before its first control_request_input. */
void control_request_init(struct control_request *rq);
/* Take what the socket holds of a request without waiting (the daemon polls
 * many clients): 1 when the request is complete and parsed, 0 when more must
 * come, <0 with err set when it is not one (-EPROTO: malformed, longer than
 * CONTROL_MAX_REQUEST, or the client left; -EBADF: more than one descriptor
 * came with it, or more than a message can carry). Every descriptor but the
 * first is closed at once. */
__attribute__((warn_unused_result)) int control_request_input(int fd, struct control_request *rq,
                                                              char *err, size_t errlen);
/* Whether a passed descriptor may be a bundle: a regular file open for
 * reading (not O_PATH, not write-only); -EINVAL with err saying what it is. */
__attribute__((warn_unused_result)) int control_check_source_fd(int fd, char *err, size_t errlen);
void control_request_free(struct control_request *rq); /* closes source_fd */
/* *dst = *src with its strings pointing into dst's own buffer; src gives up
 * its descriptor. */
void control_request_move(struct control_request *dst, struct control_request *src);

/* Format one reply line into out (n >= 2): newlines in it become spaces, and
 * it ends with one. Returns its length (truncated to n - 1 bytes, the
 * newline kept). The daemon queues replies: it never waits for a client. */
size_t control_format_line(char *out, size_t n, const char *fmt, va_list ap) MCU_OTA_PRINTF(3, 0);

/* Reading reply lines on the client. */
struct control_reader {
	int fd;
	size_t len;
	char buf[CONTROL_MAX_LINE * 2];
};
/* 1 with the next line in line (without the newline), 0 at the end of the
 * stream, <0 on an error. */
int control_read_line(struct control_reader *r, char *line, size_t n);
