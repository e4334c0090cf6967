/* The pure parts of the serial plugins: command escapes, the standard baud
 * rates, the termios of a framing, line assembly, trimming and quoting. */
#include "check.h"
#include "serial_text.h"

static void unescape_decodes_every_escape(void)
{
	unsigned char out[SERIAL_COMMAND_MAX];
	size_t n = 0;
	char err[160] = "";
	CHECK_INT(serial_unescape("boot\\r\\n\\t\\\\\\x41\\x7\\x00z", out, &n, err, sizeof(err)),
	          0);
	CHECK_INT(n, 12);
	CHECK(memcmp(out, "boot\r\n\t\\A\x07", 10) == 0);
	CHECK_INT(out[10], 0);
	CHECK_INT(out[11], 'z');
	CHECK_INT(serial_unescape("plain", out, &n, err, sizeof(err)), 0);
	CHECK_INT(n, 5);
	CHECK_INT(serial_unescape("", out, &n, err, sizeof(err)), 0);
	CHECK_INT(n, 0);
}

static void unescape_refuses_bad_escapes_and_length(void)
{
	unsigned char out[SERIAL_COMMAND_MAX];
	size_t n = 0;
	char err[160] = "";
	CHECK_INT(serial_unescape("a\\q", out, &n, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "unknown escape \\q at byte 1");
	CHECK_INT(serial_unescape("a\\", out, &n, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "a lone \\ ends the text");
	CHECK_INT(serial_unescape("\\xg", out, &n, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "\\x at byte 0 is not followed by a hex digit");

	char big[SERIAL_COMMAND_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[SERIAL_COMMAND_MAX] = '\0';
	CHECK_INT(serial_unescape(big, out, &n, err, sizeof(err)), 0);
	CHECK_INT(n, SERIAL_COMMAND_MAX);
	big[SERIAL_COMMAND_MAX] = 'a';
	big[SERIAL_COMMAND_MAX + 1] = '\0';
	CHECK_INT(serial_unescape(big, out, &n, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "longer than 256 bytes");
}

static void baud_only_standard_rates(void)
{
	speed_t s;
	CHECK_INT(serial_baud_speed(115200, &s), 0);
	CHECK(s == B115200);
	CHECK_INT(serial_baud_speed(1200, &s), 0);
	CHECK(s == B1200);
	CHECK_INT(serial_baud_speed(4000000, &s), 0);
	CHECK(s == B4000000);
	CHECK_INT(serial_baud_speed(600, &s), -EINVAL); /* below the range */
	CHECK_INT(serial_baud_speed(12345, &s), -EINVAL);
	CHECK_INT(serial_baud_speed(0, &s), -EINVAL);
	CHECK_CONTAINS(serial_baud_list(), "1200, 1800, 2400");
	CHECK_CONTAINS(serial_baud_list(), "3500000, 4000000");
}

static void termios_of_a_framing(void)
{
	struct termios t;
	memset(&t, 0xff, sizeof(t)); /* whatever the port had */
	struct serial_framing f = {.baud = 9600,
	                           .data_bits = 7,
	                           .parity = SERIAL_PARITY_ODD,
	                           .stop_bits = 2,
	                           .rtscts = true};
	CHECK_INT(serial_termios(&f, &t), 0);
	CHECK((t.c_cflag & CSIZE) == CS7);
	CHECK(t.c_cflag & PARENB);
	CHECK(t.c_cflag & PARODD);
	CHECK(t.c_cflag & CSTOPB);
	CHECK(t.c_cflag & CRTSCTS);
	CHECK(t.c_cflag & CLOCAL);
	CHECK(t.c_cflag & CREAD);
	CHECK(!(t.c_lflag & (ECHO | ICANON | ISIG)));
	CHECK(!(t.c_iflag & (ICRNL | IXON | IXOFF)));
	CHECK(!(t.c_oflag & OPOST));
	CHECK_INT(t.c_cc[VMIN], 0);
	CHECK_INT(t.c_cc[VTIME], 0);
	CHECK(cfgetospeed(&t) == B9600);
	CHECK(cfgetispeed(&t) == B9600);

	struct serial_framing d = {.baud = 115200, .data_bits = 8, .stop_bits = 1};
	CHECK_INT(serial_termios(&d, &t), 0);
	CHECK((t.c_cflag & CSIZE) == CS8);
	CHECK(!(t.c_cflag & (PARENB | PARODD | CSTOPB | CRTSCTS)));
	char name[48];
	serial_framing_name(&d, name, sizeof(name));
	CHECK_STR(name, "115200 8N1");
	serial_framing_name(&f, name, sizeof(name));
	CHECK_STR(name, "9600 7O2 rtscts");

	struct serial_framing bad = d;
	bad.data_bits = 9;
	CHECK_INT(serial_termios(&bad, &t), -EINVAL);
	bad = d;
	bad.stop_bits = 3;
	CHECK_INT(serial_termios(&bad, &t), -EINVAL);
	bad = d;
	bad.baud = 100;
	CHECK_INT(serial_termios(&bad, &t), -EINVAL);
}

/* Feeds s and returns the first complete line ("" when none). */
static const char *first_line(struct serial_lines *l, const char *s, size_t *used)
{
	*used = serial_lines_feed(l, s, strlen(s));
	return l->complete ? l->line : "";
}

static void lines_end_on_cr_lf_and_skip_empty_ones(void)
{
	struct serial_lines l;
	size_t used;
	const char *in = "\r\n\r\n1.0.0\r\nok\n";
	serial_lines_init(&l);
	CHECK_STR(first_line(&l, in, &used), "1.0.0");
	CHECK_INT(used, 10);                               /* up to the CR */
	CHECK_STR(first_line(&l, in + used, &used), "ok"); /* the LF is skipped */
	CHECK(!first_line(&l, "", &used)[0]);

	/* a line split over reads */
	serial_lines_init(&l);
	CHECK_STR(first_line(&l, "vers", &used), "");
	CHECK_INT(used, 4);
	CHECK_STR(first_line(&l, "ion=2\r", &used), "version=2");
	CHECK(!l.truncated);
}

static void lines_longer_than_the_limit_are_cut(void)
{
	struct serial_lines l;
	char big[SERIAL_LINE_MAX + 50];
	memset(big, 'x', sizeof(big));
	serial_lines_init(&l);
	CHECK_INT(serial_lines_feed(&l, big, sizeof(big)), sizeof(big));
	CHECK(!l.complete);
	CHECK_INT(serial_lines_feed(&l, "\n", 1), 1);
	CHECK(l.complete);
	CHECK(l.truncated);
	CHECK_INT(strlen(l.line), SERIAL_LINE_MAX);
}

static void trim_and_quote(void)
{
	char s[] = " \t 1.0.0 \r\n";
	serial_trim(s);
	CHECK_STR(s, "1.0.0");
	char e[] = " \r\n";
	serial_trim(e);
	CHECK_STR(e, "");

	char q[32];
	serial_quote((const unsigned char *)"a\r\n\t\\\x01\xff", 7, q, sizeof(q));
	CHECK_STR(q, "a\\r\\n\\t\\\\\\x01\\xff");
	serial_quote((const unsigned char *)"0123456789abcdef", 16, q, 10);
	CHECK_STR(q, "012345...");
	serial_quote((const unsigned char *)"", 0, q, sizeof(q));
	CHECK_STR(q, "");
}

TEST_MAIN(TEST(unescape_decodes_every_escape), TEST(unescape_refuses_bad_escapes_and_length),
          TEST(baud_only_standard_rates), TEST(termios_of_a_framing),
          TEST(lines_end_on_cr_lf_and_skip_empty_ones), TEST(lines_longer_than_the_limit_are_cut),
          TEST(trim_and_quote))
