/* The pure parts of the serial plugins (serial_text.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <mcu-ota/plugin.h>

#include "serial_text.h"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int serial_unescape(const char *in, unsigned char *out, size_t *len, char *err, size_t errlen)
{
	size_t n = 0;
	for (const char *p = in; *p; p++) {
		int c = (unsigned char)*p;
		if (c == '\\') {
			p++;
			switch (*p) {
			case 'r':
				c = '\r';
				break;
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case '\\':
				c = '\\';
				break;
			case 'x': {
				int hi = hex_digit(p[1]);
				if (hi < 0) {
					mcu_ota_set_error(
					    err, errlen,
					    "\\x at byte %zu is not followed by a hex digit",
					    (size_t)(p - 1 - in));
					return -EINVAL;
				}
				p++;
				c = hi;
				int lo = hex_digit(p[1]);
				if (lo >= 0) {
					p++;
					c = hi * 16 + lo;
				}
				break;
			}
			case '\0':
				mcu_ota_set_error(err, errlen,
				                  "a lone \\ ends the text (\\\\ for a "
				                  "backslash)");
				return -EINVAL;
			default:
				mcu_ota_set_error(
				    err, errlen,
				    "unknown escape \\%c at byte %zu (known: \\r \\n \\t "
				    "\\xHH \\\\)",
				    *p >= 0x20 && *p < 0x7f ? *p : '?', (size_t)(p - 1 - in));
				return -EINVAL;
			}
		}
		if (n == SERIAL_COMMAND_MAX) {
			mcu_ota_set_error(err, errlen, "longer than %d bytes once decoded",
			                  SERIAL_COMMAND_MAX);
			return -EINVAL;
		}
		out[n++] = (unsigned char)c;
	}
	*len = n;
	return 0;
}

static const struct {
	long long baud;
	speed_t speed;
} bauds[] = {
    {1200, B1200},       {1800, B1800},       {2400, B2400},       {4800, B4800},
    {9600, B9600},       {19200, B19200},     {38400, B38400},     {57600, B57600},
    {115200, B115200},   {230400, B230400},   {460800, B460800},   {500000, B500000},
    {576000, B576000},   {921600, B921600},   {1000000, B1000000}, {1152000, B1152000},
    {1500000, B1500000}, {2000000, B2000000}, {2500000, B2500000}, {3000000, B3000000},
    {3500000, B3500000}, {4000000, B4000000},
};

int serial_baud_speed(long long baud, speed_t *speed)
{
	for (size_t i = 0; i < sizeof(bauds) / sizeof(bauds[0]); i++) {
		if (bauds[i].baud == baud) {
			*speed = bauds[i].speed;
			return 0;
		}
	}
	return -EINVAL;
}

const char *serial_baud_list(void)
{
	static char list[256];
	if (!list[0]) {
		size_t n = 0;
		for (size_t i = 0; i < sizeof(bauds) / sizeof(bauds[0]) && n < sizeof(list); i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%lld", i ? ", " : "",
			                      bauds[i].baud);
	}
	return list;
}

int serial_termios(const struct serial_framing *f, struct termios *t)
{
	static const tcflag_t sizes[] = {CS5, CS6, CS7, CS8};
	speed_t speed;
	if (serial_baud_speed(f->baud, &speed) < 0 || f->data_bits < 5 || f->data_bits > 8 ||
	    (f->stop_bits != 1 && f->stop_bits != 2) || f->parity < SERIAL_PARITY_NONE ||
	    f->parity > SERIAL_PARITY_ODD)
		return -EINVAL;
	cfmakeraw(t);
	t->c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
	t->c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
	t->c_cflag |= CREAD | CLOCAL | sizes[f->data_bits - 5];
	if (f->parity != SERIAL_PARITY_NONE)
		t->c_cflag |= PARENB | (f->parity == SERIAL_PARITY_ODD ? PARODD : 0);
	if (f->stop_bits == 2)
		t->c_cflag |= CSTOPB;
	if (f->rtscts)
		t->c_cflag |= CRTSCTS;
	t->c_cc[VMIN] = 0;
	t->c_cc[VTIME] = 0;
	if (cfsetispeed(t, speed) < 0 || cfsetospeed(t, speed) < 0)
		return -EINVAL;
	return 0;
}

void serial_framing_name(const struct serial_framing *f, char *out, size_t outlen)
{
	static const char parity[] = "NEO";
	snprintf(out, outlen, "%lld %d%c%d%s", f->baud, f->data_bits,
	         parity[f->parity <= SERIAL_PARITY_ODD ? f->parity : 0], f->stop_bits,
	         f->rtscts ? " rtscts" : "");
}

void serial_lines_init(struct serial_lines *l)
{
	memset(l, 0, sizeof(*l));
}

size_t serial_lines_feed(struct serial_lines *l, const char *data, size_t n)
{
	if (l->complete)
		serial_lines_init(l);
	for (size_t i = 0; i < n; i++) {
		char c = data[i];
		if (c == '\r' || c == '\n') {
			if (l->len == 0 && !l->truncated)
				continue; /* the LF of a CR LF, or an empty line */
			l->line[l->len] = '\0';
			l->complete = true;
			return i + 1;
		}
		if (l->len < SERIAL_LINE_MAX)
			l->line[l->len++] = c;
		else
			l->truncated = true;
	}
	return n;
}

void serial_trim(char *s)
{
	size_t n = strlen(s), start = 0;
	while (n > 0 && strchr(" \t\r\n", s[n - 1]))
		n--;
	while (start < n && strchr(" \t\r\n", s[start]))
		start++;
	memmove(s, s + start, n - start);
	s[n - start] = '\0';
}

void serial_quote(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	size_t o = 0;
	if (!outlen)
		return;
	for (size_t i = 0; i < n; i++) {
		char one[8];
		unsigned char c = in[i];
		if (c == '\r')
			snprintf(one, sizeof(one), "\\r");
		else if (c == '\n')
			snprintf(one, sizeof(one), "\\n");
		else if (c == '\t')
			snprintf(one, sizeof(one), "\\t");
		else if (c == '\\')
			snprintf(one, sizeof(one), "\\\\");
		else if (c < 0x20 || c > 0x7e)
			snprintf(one, sizeof(one), "\\x%02x", c);
		else
			snprintf(one, sizeof(one), "%c", c);
		size_t k = strlen(one);
		if (o + k + 4 > outlen && i + 1 < n) { /* room for "..." and the NUL */
			snprintf(out + o, outlen - o, "...");
			return;
		}
		if (o + k + 1 > outlen)
			break;
		memcpy(out + o, one, k);
		o += k;
	}
	out[o] = '\0';
}
