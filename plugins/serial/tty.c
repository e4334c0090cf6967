/* The tty module of the serial plugins (tty.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "tty.h"

#define DRAIN_POLL_MS 5

uint64_t tty_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void tty_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int ms_left(uint64_t deadline)
{
	uint64_t now = tty_now_ms();
	if (now >= deadline)
		return 0;
	return deadline - now > 60u * 60 * 1000 ? 60 * 60 * 1000 : (int)(deadline - now);
}

/* ---- settings ---- */

int tty_config_string(const struct mcu_ota_host *host, const char *who, const char *key, size_t max,
                      const char **out, char *err, size_t errlen)
{
	const char *s;
	int r = host->config_string(host->ctx, key, &s);
	if (r == -ENOENT)
		return 0;
	if (r < 0 || !s[0] || strlen(s) > max) {
		mcu_ota_set_error(err, errlen, "%s: setting %s must be text of 1 to %zu characters",
		                  who, key, max);
		return -EINVAL;
	}
	*out = s;
	return 0;
}

int tty_config_int(const struct mcu_ota_host *host, const char *who, const char *key, long long min,
                   long long max, long long *out, char *err, size_t errlen)
{
	long long v;
	int r = host->config_int(host->ctx, key, &v);
	if (r == -ENOENT)
		return 0;
	if (r < 0 || v < min || v > max) {
		mcu_ota_set_error(err, errlen,
		                  "%s: setting %s must be an integer from %lld to %lld", who, key,
		                  min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int tty_config(const struct mcu_ota_host *host, struct tty *t, char *err, size_t errlen)
{
	const char *who = t->who, *device = NULL, *parity = NULL, *flow = NULL;
	long long data_bits = 8, stop_bits = 1;
	speed_t speed;
	int r;

	t->fd = -1;
	t->framing.baud = 115200;
	if ((r = tty_config_string(host, who, "device", TTY_PATH_MAX, &device, err, errlen)) < 0)
		return r;
	if (!device) {
		mcu_ota_set_error(err, errlen,
		                  "%s: no device set (the application's tty, e.g. /dev/ttyACM0 or "
		                  "/dev/serial/by-id/...)",
		                  who);
		return -EINVAL;
	}
	snprintf(t->path, sizeof(t->path), "%s", device);

	r = host->config_int(host->ctx, "baud", &t->framing.baud);
	if (r == -EINVAL) {
		mcu_ota_set_error(err, errlen, "%s: setting baud must be an integer (%s)", who,
		                  serial_baud_list());
		return r;
	}
	if (r == 0 && serial_baud_speed(t->framing.baud, &speed) < 0) {
		mcu_ota_set_error(err, errlen,
		                  "%s: baud %lld for %s is not a standard rate (one of %s): the "
		                  "driver would round it, and the application would see garbage",
		                  who, t->framing.baud, t->path, serial_baud_list());
		return -EINVAL;
	}
	if ((r = tty_config_int(host, who, "data_bits", 5, 8, &data_bits, err, errlen)) < 0 ||
	    (r = tty_config_int(host, who, "stop_bits", 1, 2, &stop_bits, err, errlen)) < 0 ||
	    (r = tty_config_string(host, who, "parity", 8, &parity, err, errlen)) < 0 ||
	    (r = tty_config_string(host, who, "flow", 8, &flow, err, errlen)) < 0) {
		return r;
	}
	t->framing.data_bits = (int)data_bits;
	t->framing.stop_bits = (int)stop_bits;
	t->framing.parity = SERIAL_PARITY_NONE;
	if (parity && strcmp(parity, "even") == 0) {
		t->framing.parity = SERIAL_PARITY_EVEN;
	} else if (parity && strcmp(parity, "odd") == 0) {
		t->framing.parity = SERIAL_PARITY_ODD;
	} else if (parity && strcmp(parity, "none") != 0) {
		mcu_ota_set_error(err, errlen,
		                  "%s: setting parity must be \"none\", \"even\" or \"odd\"", who);
		return -EINVAL;
	}
	t->framing.rtscts = flow && strcmp(flow, "rtscts") == 0;
	if (flow && !t->framing.rtscts && strcmp(flow, "none") != 0) {
		mcu_ota_set_error(err, errlen, "%s: setting flow must be \"none\" or \"rtscts\"",
		                  who);
		return -EINVAL;
	}
	return 0;
}

/* ---- the tty ---- */

int tty_open(struct tty *t, char *err, size_t errlen)
{
	struct termios want, got;
	char framing[48];
	int r;

	serial_framing_name(&t->framing, framing, sizeof(framing));
	t->pending_pos = t->pending_len = 0;
	serial_lines_init(&t->lines);
	/* non-blocking: a port without carrier must not block the open */
	int fd = open(t->path, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		mcu_ota_set_error(err, errlen, "%s: cannot open %s: %s%s", t->who, t->path,
		                  strerror(-r),
		                  r == -EBUSY ? " (another program has it for itself)"
		                  : r == -ENOENT || r == -ENXIO
		                      ? " (is the board connected and the application running?)"
		                      : "");
		return r;
	}
	if (!isatty(fd)) {
		close(fd);
		mcu_ota_set_error(err, errlen, "%s: %s is not a tty", t->who, t->path);
		return -ENOTTY;
	}
	/* flock for programs that lock (picocom, ModemManager's probe), TIOCEXCL
	 * against any other open while we talk */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		close(fd);
		if (r != -EWOULDBLOCK) {
			mcu_ota_set_error(err, errlen, "%s: cannot lock %s: %s", t->who, t->path,
			                  strerror(-r));
			return r;
		}
		mcu_ota_set_error(err, errlen,
		                  "%s: %s is in use by another program (it holds a lock on it)",
		                  t->who, t->path);
		return -EBUSY;
	}
	if (ioctl(fd, TIOCEXCL) < 0 || tcgetattr(fd, &want) < 0) {
		r = -errno;
		close(fd);
		mcu_ota_set_error(err, errlen, "%s: cannot set up %s: %s", t->who, t->path,
		                  strerror(-r));
		return r;
	}
	if (serial_termios(&t->framing, &want) < 0) {
		(void)ioctl(fd, TIOCNXCL);
		close(fd);
		mcu_ota_set_error(err, errlen, "%s: framing %s is not valid", t->who, framing);
		return -EINVAL;
	}
	/* tcsetattr succeeds when any part applies: read back what the driver took */
	if (tcsetattr(fd, TCSANOW, &want) < 0 || tcgetattr(fd, &got) < 0) {
		r = -errno;
		(void)ioctl(fd, TIOCNXCL);
		close(fd);
		mcu_ota_set_error(err, errlen, "%s: cannot set %s on %s: %s", t->who, framing,
		                  t->path, strerror(-r));
		return r;
	}
	const tcflag_t framing_bits = CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS;
	if ((got.c_cflag & framing_bits) != (want.c_cflag & framing_bits) ||
	    cfgetospeed(&got) != cfgetospeed(&want)) {
		(void)ioctl(fd, TIOCNXCL);
		close(fd);
		mcu_ota_set_error(err, errlen, "%s: the driver of %s does not accept %s", t->who,
		                  t->path, framing);
		return -EINVAL;
	}
	(void)tcflush(fd, TCIOFLUSH);
	t->fd = fd;
	return 0;
}

void tty_close(struct tty *t)
{
	if (t->fd < 0)
		return;
	(void)ioctl(t->fd, TIOCNXCL);
	close(t->fd);
	t->fd = -1;
}

void tty_drop_input(struct tty *t)
{
	if (t->fd >= 0)
		(void)tcflush(t->fd, TCIFLUSH);
	t->pending_pos = t->pending_len = 0;
	serial_lines_init(&t->lines);
}

int tty_write(struct tty *t, const void *data, size_t n, unsigned timeout_ms, char *err,
              size_t errlen)
{
	const char *p = data;
	uint64_t deadline = tty_now_ms() + timeout_ms;
	int r;

	while (n > 0) {
		ssize_t w = write(t->fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN) {
			r = -errno;
			mcu_ota_set_error(err, errlen, "%s: cannot write to %s: %s", t->who,
			                  t->path, strerror(-r));
			return r;
		}
		struct pollfd pf = {.fd = t->fd, .events = POLLOUT};
		if (ms_left(deadline) == 0 || poll(&pf, 1, ms_left(deadline)) == 0)
			goto blocked;
	}
	/* wait until the bytes left the driver: closing the tty early may drop them */
	for (;;) {
		int queued = 0;
		if (ioctl(t->fd, TIOCOUTQ, &queued) < 0 || queued <= 0)
			return 0;
		if (ms_left(deadline) == 0)
			goto blocked;
		tty_sleep_ms(DRAIN_POLL_MS);
	}
blocked:
	mcu_ota_set_error(err, errlen, "%s: the output to %s stayed blocked for %u ms%s", t->who,
	                  t->path, timeout_ms,
	                  t->framing.rtscts ? " (flow rtscts: the other side keeps CTS inactive)"
	                                    : "");
	return -ETIMEDOUT;
}

int tty_read_line(struct tty *t, uint64_t deadline, char *err, size_t errlen)
{
	int r;
	for (;;) {
		if (t->pending_pos < t->pending_len) {
			t->pending_pos += serial_lines_feed(&t->lines, t->pending + t->pending_pos,
			                                    t->pending_len - t->pending_pos);
			if (t->lines.complete)
				return 1;
		}
		t->pending_pos = t->pending_len = 0;
		struct pollfd pf = {.fd = t->fd, .events = POLLIN};
		int n = poll(&pf, 1, ms_left(deadline));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			mcu_ota_set_error(err, errlen, "%s: waiting on %s: %s", t->who, t->path,
			                  strerror(-r));
			return r;
		}
		if (n == 0)
			return 0;
		ssize_t got = read(t->fd, t->pending, sizeof(t->pending));
		if (got > 0) {
			t->pending_len = (size_t)got;
			continue;
		}
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && errno == EAGAIN && !(pf.revents & (POLLHUP | POLLERR)))
			continue;
		/* end of file, EIO or a hang-up: the device went away (USB unplugged,
		 * the application reset) */
		r = got < 0 && errno != EAGAIN ? -errno : -EIO;
		mcu_ota_set_error(err, errlen, "%s: %s hung up: %s", t->who, t->path, strerror(-r));
		return r;
	}
}
