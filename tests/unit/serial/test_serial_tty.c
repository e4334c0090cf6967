/* The tty module of the serial plugins against a pseudo-terminal: raw bytes
 * both ways, lines with deadlines, exclusive access, the errors that name
 * the path, a hang-up. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "tty.h"

struct pty {
	int master;
	char slave[128];
};

static int pty_open(struct pty *p)
{
	p->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (p->master < 0 || grantpt(p->master) < 0 || unlockpt(p->master) < 0 ||
	    ptsname_r(p->master, p->slave, sizeof(p->slave)) != 0)
		return -1;
	return 0;
}

static void tty_of(struct tty *t, const char *path)
{
	memset(t, 0, sizeof(*t));
	t->who = "test";
	t->fd = -1;
	snprintf(t->path, sizeof(t->path), "%s", path);
	t->framing = (struct serial_framing){.baud = 115200, .data_bits = 8, .stop_bits = 1};
}

static void raw_bytes_and_lines(void)
{
	struct pty p;
	struct tty t, other;
	char err[256] = "", got[32] = "";
	if (pty_open(&p) < 0) {
		printf("skipped: no pseudo-terminals here\n");
		return;
	}
	tty_of(&t, p.slave);
	CHECK_INT(tty_open(&t, err, sizeof(err)), 0);

	/* no translation: "\n" stays one byte, no echo comes back */
	CHECK_INT(tty_write(&t, "version\n", 8, 1000, err, sizeof(err)), 0);
	usleep(20000);
	CHECK_INT(read(p.master, got, sizeof(got)), 8);
	CHECK(memcmp(got, "version\n", 8) == 0);

	/* input from before the drop is not a reply */
	CHECK_INT(write(p.master, "banner\r\n", 8), 8);
	usleep(20000);
	tty_drop_input(&t);
	CHECK_INT(write(p.master, "\r\n1.0.", 6), 6);
	CHECK_INT(write(p.master, "0\r\nok\r\n", 7), 7);
	CHECK_INT(tty_read_line(&t, tty_now_ms() + 1000, err, sizeof(err)), 1);
	CHECK_STR(t.lines.line, "1.0.0");
	CHECK_INT(tty_read_line(&t, tty_now_ms() + 1000, err, sizeof(err)), 1);
	CHECK_STR(t.lines.line, "ok");

	/* nothing more: 0 at the deadline, not before */
	uint64_t t0 = tty_now_ms();
	CHECK_INT(tty_read_line(&t, t0 + 100, err, sizeof(err)), 0);
	CHECK(tty_now_ms() - t0 >= 100);

	/* a second user is refused while we hold it */
	tty_of(&other, p.slave);
	CHECK_INT(tty_open(&other, err, sizeof(err)), -EBUSY);
	CHECK_CONTAINS(err, p.slave);

	/* the other side goes away */
	close(p.master);
	int r = tty_read_line(&t, tty_now_ms() + 1000, err, sizeof(err));
	CHECK(r == -EIO);
	CHECK_CONTAINS(err, "hung up");
	tty_close(&t);
	CHECK_INT(t.fd, -1);
}

static void errors_name_the_path(void)
{
	struct tty t;
	char err[256] = "";
	tty_of(&t, "/nonexistent/ttyACM9");
	CHECK_INT(tty_open(&t, err, sizeof(err)), -ENOENT);
	CHECK_CONTAINS(err, "test: cannot open /nonexistent/ttyACM9: No such file or directory");

	tty_of(&t, "/dev/null");
	CHECK_INT(tty_open(&t, err, sizeof(err)), -ENOTTY);
	CHECK_CONTAINS(err, "/dev/null is not a tty");
}

TEST_MAIN(TEST(raw_bytes_and_lines), TEST(errors_name_the_path))
