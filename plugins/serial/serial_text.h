/* The pure parts of the serial plugins, kept apart so that unit tests pin
 * them without a tty: C escapes in commands, the standard baud rates, the
 * termios of a framing, line assembly and quoting for messages. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <termios.h>

#define SERIAL_COMMAND_MAX 256 /* bytes of a decoded command or query */
#define SERIAL_LINE_MAX    256 /* bytes kept of one received line; the rest is dropped */

enum serial_parity { SERIAL_PARITY_NONE, SERIAL_PARITY_EVEN, SERIAL_PARITY_ODD };

struct serial_framing {
	long long baud;
	int data_bits; /* 5..8 */
	enum serial_parity parity;
	int stop_bits; /* 1 or 2 */
	bool rtscts;
};

/* Decodes \r \n \t \\ and \xHH (one or two hex digits) of in into out (at
 * most SERIAL_COMMAND_MAX bytes, not NUL-terminated: \x00 is a byte). 0, or
 * -EINVAL with a message naming what is wrong. */
__attribute__((warn_unused_result)) int serial_unescape(const char *in, unsigned char *out,
                                                        size_t *len, char *err, size_t errlen);

/* The termios speed of a standard rate from 1200 to 4000000; -EINVAL for any
 * other (drivers round odd rates silently, which only shows as garbage). */
__attribute__((warn_unused_result)) int serial_baud_speed(long long baud, speed_t *speed);

/* The standard rates, "1200, 1800, ..., 4000000", for messages. */
const char *serial_baud_list(void);

/* Raw mode with the framing: no echo, no line editing, no translation of
 * CR/LF, no signals; CLOCAL (no modem control) and CREAD; reads return what
 * is there (VMIN 0, VTIME 0; the caller polls). -EINVAL for a bad framing. */
__attribute__((warn_unused_result)) int serial_termios(const struct serial_framing *f,
                                                       struct termios *t);

/* "8N1" style, plus " rtscts" when set, for messages. */
void serial_framing_name(const struct serial_framing *f, char *out, size_t outlen);

/* Line assembly: CR, LF or both end a line; empty lines are skipped; a line
 * longer than SERIAL_LINE_MAX keeps its first bytes (truncated is set). */
struct serial_lines {
	char line[SERIAL_LINE_MAX + 1]; /* the line, NUL-terminated, once complete */
	size_t len;
	bool truncated;
	bool complete;
};

void serial_lines_init(struct serial_lines *l);

/* Feeds n bytes; stops after the byte that completes a line. Returns the
 * bytes used; l->complete says whether l->line is a whole line (it is
 * cleared by the next call). */
size_t serial_lines_feed(struct serial_lines *l, const char *data, size_t n);

/* Removes leading and trailing spaces, tabs, CR and LF in place. */
void serial_trim(char *s);

/* in (n bytes) quoted for a message: printable ASCII as is, \r \n \t \\ and
 * \xHH for the rest; cut with "..." to fit out. */
void serial_quote(const unsigned char *in, size_t n, char *out, size_t outlen);
