/* stm32-chip: the STM32 model (tests/sim) as a chip on the VM rig's buses.
 *
 * USB: through raw_gadget on dummy_hcd the chip is, in turn, nothing, the ROM
 * DfuSe bootloader (every control request goes to stm32_model_control, which
 * holds the pipe for the datasheet time of an erase or a write) or the
 * application of the image in flash (app.h: VID:PID 0483:5740, its version
 * in a string descriptor and a vendor request).
 *
 * GPIO: the chip watches BOOT0 and NRST, two lines of a gpio-sim chip, from
 * the simulator's side (sim_gpioN/value). It plays the board too: at start it
 * pulls NRST up and BOOT0 down (sim_gpioN/pull), so a line nobody drives
 * reads as on a real board. NRST low: whatever is on the bus leaves it. NRST
 * released: BOOT0 high starts the ROM, BOOT0 low boots the image at the start
 * of flash. Leaving DFU boots the image at the address pointer. An image
 * boots only when its vector table is plausible; otherwise the core faults
 * and nothing appears on the bus. Flash lives as long as the process.
 *
 * The lines are polled every --poll-ms (gpio-sim offers no notification on
 * the simulator side): a reset pulse must last a few polls (20 ms is safe).
 *
 * Threads: the main thread watches the lines and owns the chip's life cycle;
 * one session thread at a time runs the USB device. The model is only
 * touched by the session thread while it runs and by the main thread after
 * joining it. To stop a session (NRST low) the main thread sets a flag and
 * interrupts blocking raw_gadget calls with SIGUSR1; while the ROM holds the
 * pipe the session thread waits in slices (stm32_model_wait_idle) and sees
 * the flag. While an operation runs and no request comes, the main thread
 * also sends SIGUSR2 at each poll, which only interrupts the wait for the
 * next request (it is blocked everywhere else): the session thread then
 * lets the model's time pass (stm32_model_idle_tick), so that a Read
 * Unprotect resets the chip even if the host asks nothing more.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "console.h"
#include "gadget.h"
#include "stm32_model.h"

#define HOLD_SLICE_MS  5  /* how often a held pipe looks at the stop flag */
#define MAX_POWER_2MA  50 /* bMaxPower of both configurations: 100 mA */
#define STOP_KICK_US   2000
#define DEFAULT_UID    "003500283034510B353F3624" /* serial 3574364C3034 */
#define DFU_DNLOAD_REQ 1
#define HELD_START     UINT_MAX /* c->held: the hold from the ROM's first request */
#define CRAWL_MS       1500     /* a held request's delay: well inside mcu-ota's 5-6 s limits */

struct options {
	const char *profile;
	const char *floor_image;
	const char *gpio_sim;
	const char *flash_file;
	uint32_t flash_address;
	const char *faults_file;
	const char *state_file;
	double time_scale;
	uint8_t uid[12];
	bool read_protected;
	bool start_in_error;
	bool pulls;
	bool verbose;
	bool app_ignores_commands; /* the application acknowledges 'enter the bootloader' and stays
	                            */
	const char *udc;
	const char *serial_link; /* the application's UART console, a pty (console.h) */
	int ready_line;          /* offset of the READY line on the gpio-sim chip, -1: none */
	unsigned ready_delay_ms; /* from the application's start to READY high */
	unsigned poll_ms;
	unsigned boot_delay_ms;
	int boot0; /* without --gpio-sim: the level sampled at power-on */
};

enum mode { MODE_RESET, MODE_ROM, MODE_APP, MODE_OFF };

enum session_end {
	END_NONE,
	END_STOPPED,          /* the main thread stopped it (NRST low, exit) */
	END_GONE,             /* the model left the bus: leave, self reset, fault */
	END_ENTER_BOOTLOADER, /* the application's vendor command */
	END_ERROR,            /* raw_gadget failed */
};

struct chip {
	struct options opt;
	const struct stm32_profile *profile;
	struct stm32_model *model;
	uint64_t t0_ns;

	int nrst_fd, boot0_fd;
	char nrst_pull[PATH_MAX], boot0_pull[PATH_MAX];
	enum mode mode;
	char version[STM32_MODEL_VERSION_MAX + 1];
	struct app_identity app;
	unsigned resets, rom_starts, app_boots;
	/* the last "BOOT0 NRST mode" appended to the lines record (record_lines) */
	int rec_boot0, rec_nrst;
	enum mode rec_mode;
	struct console *console;
	char ready_pull[PATH_MAX];
	int ready_level;       /* what READY was last set to, -1 before the first */
	uint64_t app_since_ns; /* when the application last started */
	/* model facts for the state file, copied while no session runs */
	uint64_t busy_us;
	bool read_protected;
	/* the pause points (hold_at_block, hold_at_start in the faults file): data blocks taken
	 * since the ROM started, what is armed, the hold in force (held: 0 none, N the block
	 * it started at, HELD_START; the state file shows it), whether the next DFU request
	 * is delayed, and what the state file shows */
	unsigned blocks;
	unsigned hold_at_block;
	bool hold_at_start;
	atomic_uint held;
	bool crawl_next;
	unsigned held_shown;

	/* the running session */
	bool session;
	bool session_app;
	pthread_t thread;
	atomic_bool stop;
	atomic_bool done;
	atomic_bool want_tick;
	enum session_end end;
	char end_detail[160];
};

static volatile sig_atomic_t terminate;
static sigset_t tick_signal; /* SIGUSR2 */

/* ---- small helpers ------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

__attribute__((format(printf, 2, 3))) static void say(const struct chip *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n = snprintf(line, sizeof(line), "[chip %7.3f] ", (double)(now_ns() - c->t0_ns) / 1e9);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stdout, "%s\n", line);
	fflush(stdout);
}

static int read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n < 0 ? -errno : 0;
}

static int parse_uid(const char *s, uint8_t uid[12])
{
	char hex[25];
	size_t n = 0;
	for (; *s && n < sizeof(hex); s++) {
		if (*s == ':' || *s == ' ')
			continue;
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		      (*s >= 'A' && *s <= 'F')))
			return -EINVAL;
		hex[n++] = *s;
	}
	if (n != 24 || *s)
		return -EINVAL;
	for (int w = 0; w < 3; w++) {
		char word[9];
		memcpy(word, hex + 8 * w, 8);
		word[8] = '\0';
		uint32_t v = (uint32_t)strtoul(word, NULL, 16);
		for (int b = 0; b < 4; b++)
			uid[4 * w + b] =
			    (uint8_t)(v >> (8 * b)); /* little-endian, as in the chip */
	}
	return 0;
}

/* ---- GPIO (the simulator's side of a gpio-sim chip) --------------------- */

/* Finds the lines named BOOT0 and NRST of the gpio-sim device configured
 * under /sys/kernel/config/gpio-sim/NAME and opens their value files. */
static int gpio_open(struct chip *c)
{
	char base[PATH_MAX], path[PATH_MAX + 64], dev[64], chipname[64], name[64];
	int nrst = -1, boot0 = -1, bank;

	snprintf(base, sizeof(base), "/sys/kernel/config/gpio-sim/%s", c->opt.gpio_sim);
	snprintf(path, sizeof(path), "%s/dev_name", base);
	if (read_text(path, dev, sizeof(dev)) < 0) {
		fprintf(stderr, "stm32-chip: no gpio-sim device %s (%s)\n", c->opt.gpio_sim, path);
		return -ENOENT;
	}
	for (bank = 0; bank < 8 && (nrst < 0 || boot0 < 0); bank++) {
		for (int line = 0; line < 64; line++) {
			snprintf(path, sizeof(path), "%s/bank%d/line%d/name", base, bank, line);
			if (read_text(path, name, sizeof(name)) < 0)
				continue;
			if (strcmp(name, "NRST") != 0 && strcmp(name, "BOOT0") != 0)
				continue;
			snprintf(path, sizeof(path), "%s/bank%d/chip_name", base, bank);
			if (read_text(path, chipname, sizeof(chipname)) < 0)
				return -ENOENT;
			snprintf(path, sizeof(path), "/sys/devices/platform/%s/%s/sim_gpio%d", dev,
			         chipname, line);
			char *pull = strcmp(name, "NRST") == 0 ? c->nrst_pull : c->boot0_pull;
			snprintf(pull, PATH_MAX, "%.*s/pull", PATH_MAX - 8, path);
			if (c->opt.pulls &&
			    write_text(pull, pull == c->nrst_pull ? "pull-up" : "pull-down") < 0)
				fprintf(stderr, "stm32-chip: cannot set %s\n", pull);
			strcat(path, "/value");
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				fprintf(stderr, "stm32-chip: cannot open %s: %s\n", path,
				        strerror(errno));
				return -errno;
			}
			if (strcmp(name, "NRST") == 0)
				nrst = fd;
			else
				boot0 = fd;
		}
	}
	if (nrst < 0 || boot0 < 0) {
		fprintf(stderr, "stm32-chip: gpio-sim %s has no line named %s\n", c->opt.gpio_sim,
		        nrst < 0 ? "NRST" : "BOOT0");
		return -ENOENT;
	}
	c->nrst_fd = nrst;
	c->boot0_fd = boot0;
	return 0;
}

/* 1 or 0; without GPIO NRST is released and BOOT0 what --boot0 says. */
static int line_level(int fd, int fallback)
{
	char b[4];
	if (fd < 0)
		return fallback;
	if (pread(fd, b, sizeof(b), 0) < 1)
		return fallback;
	return b[0] == '1';
}

/* The level of a line with the board's resistor on it. gpio-sim (6.1) sets
 * a line to its pull when nobody requests it, but keeps the last driven
 * level when a consumer turns it from output to input (an open-drain
 * release): writing the pull again makes the resistor win there, and changes
 * nothing while a consumer drives the line. */
static int pulled_level(const struct chip *c, int fd, const char *pull, int level_of_pull,
                        int fallback)
{
	int v = line_level(fd, fallback);
	if (fd < 0 || !c->opt.pulls || v == level_of_pull)
		return v;
	(void)write_text(pull, level_of_pull ? "pull-up" : "pull-down");
	return line_level(fd, fallback);
}

static int nrst_level(const struct chip *c)
{
	return pulled_level(c, c->nrst_fd, c->nrst_pull, 1, 1);
}

static int boot0_level(const struct chip *c)
{
	return pulled_level(c, c->boot0_fd, c->boot0_pull, 0, c->opt.boot0);
}

/* ---- the state file (for scenarios: what the chip believes it is) ------- */

static void write_state(const struct chip *c)
{
	static const char *const modes[] = {"reset", "rom", "app", "off"};
	char tmp[PATH_MAX];
	FILE *f;

	if (!c->opt.state_file)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", c->opt.state_file);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f,
	        "mode=%s\nversion=%s\nserial=%s\nbusy_us=%" PRIu64 "\nresets=%u\nrom_starts=%u\n"
	        "app_boots=%u\nread_protected=%d\nheld=%d\n",
	        modes[c->mode], c->mode == MODE_APP ? c->version : "", c->app.serial, c->busy_us,
	        c->resets, c->rom_starts, c->app_boots, c->read_protected, c->held_shown != 0);
	if (c->held_shown == HELD_START)
		fprintf(f, "held_block=start\n");
	else if (c->held_shown)
		fprintf(f, "held_block=%u\n", c->held_shown);
	if (fclose(f) == 0)
		rename(tmp, c->opt.state_file);
}

/* The lines record, <state file>.lines: "BOOT0 NRST mode" appended at each
 * change the chip sees, for scenarios that check a program's pulses. The chip
 * polls its lines every few ms at real-time priority, so it sees a pulse that a
 * shell sampling the levels in a busy guest misses. */
static void record_lines(struct chip *c, int boot0, int nrst)
{
	static const char *const modes[] = {"reset", "rom", "app", "off"};
	char path[PATH_MAX];
	if (!c->opt.state_file ||
	    (boot0 == c->rec_boot0 && nrst == c->rec_nrst && c->mode == c->rec_mode))
		return;
	c->rec_boot0 = boot0;
	c->rec_nrst = nrst;
	c->rec_mode = c->mode;
	snprintf(path, sizeof(path), "%s.lines", c->opt.state_file);
	FILE *f = fopen(path, "a");
	if (!f)
		return;
	fprintf(f, "%d %d %s\n", boot0, nrst, modes[c->mode]);
	fclose(f);
}

/* ---- faults, re-read whenever the ROM starts ---------------------------- */

/* The value of a hold key (hold_at_block, hold_at_start) the faults file
 * has now (0: none). */
static unsigned faults_hold(const struct chip *c, const char *key)
{
	char line[128];
	size_t n = strlen(key);
	unsigned v = 0;
	FILE *in;

	if (!c->opt.faults_file || (in = fopen(c->opt.faults_file, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), in))
		if (strncmp(line, key, n) == 0 && line[n] == '=')
			v = (unsigned)strtoul(line + n + 1, NULL, 0);
	fclose(in);
	return v;
}

static void load_faults(struct chip *c)
{
	struct stm32_model_faults f = {0};
	char line[128], active[256] = "";
	FILE *in;

	c->hold_at_block = 0;
	c->hold_at_start = false;
	if (c->opt.faults_file && (in = fopen(c->opt.faults_file, "r")) != NULL) {
		while (fgets(line, sizeof(line), in)) {
			char *eq = strchr(line, '=');
			unsigned long v = eq ? strtoul(eq + 1, NULL, 0) : 1;
			line[strcspn(line, "=\r\n")] = '\0';
			if (!line[0] || line[0] == '#')
				continue;
			if (strcmp(line, "disconnect_at_block") == 0) {
				f.disconnect_at_block = (unsigned)v;
			} else if (strcmp(line, "stall_request") == 0) {
				f.stall_request = (unsigned)v;
			} else if (strcmp(line, "erase_stays_busy") == 0) {
				f.erase_stays_busy = v != 0;
			} else if (strcmp(line, "flip_bit_address") == 0) {
				f.flip_bit = true;
				f.flip_bit_address = (uint32_t)v;
			} else if (strcmp(line, "flip_bit_once") == 0) {
				f.flip_bit_once = v != 0;
			} else if (strcmp(line, "hold_at_block") == 0) {
				c->hold_at_block = (unsigned)v;
			} else if (strcmp(line, "hold_at_start") == 0) {
				c->hold_at_start = v != 0;
			} else {
				say(c, "faults file: unknown fault '%s' ignored", line);
				continue;
			}
			size_t n = strlen(active);
			snprintf(active + n, sizeof(active) - n, "%s%s=%lu", n ? ", " : "", line,
			         v);
		}
		fclose(in);
	}
	stm32_model_set_faults(c->model, &f);
	if (active[0])
		say(c, "faults armed: %s", active);
}

/* ---- the USB session ---------------------------------------------------- */

/* The outcome of an EP0 transfer. A host that gave up on a request (its USB
 * timeout) sends the next SETUP, which fails the late answer with
 * -EOVERFLOW: that is the host's business, the session goes on. */
static enum session_end io_result(struct chip *c, int r, const char *what)
{
	if (r >= 0)
		return END_NONE;
	if (atomic_load(&c->stop))
		return END_STOPPED;
	if (r == -EINTR || r == -EOVERFLOW || r == -ECONNRESET || r == -ESHUTDOWN) {
		if (c->opt.verbose)
			say(c, "EP0 %s: %s (the host no longer waits)", what, strerror(-r));
		return END_NONE;
	}
	snprintf(c->end_detail, sizeof(c->end_detail), "EP0 %s failed: %s", what, strerror(-r));
	return END_ERROR;
}

static void log_request(struct chip *c, const struct usb_ctrlrequest *ctrl, int r)
{
	if (c->opt.verbose)
		say(c, "setup %02x %02x %04x %04x %4u -> %d", ctrl->bRequestType, ctrl->bRequest,
		    ctrl->wValue, ctrl->wIndex, ctrl->wLength, r);
}

/* Whether the ROM would stall this OUT request with data. raw_gadget
 * acknowledges an OUT data stage as it delivers the data, so a stall must be
 * decided before reading it. The model stalls DNLOAD outside dfuIDLE and
 * dfuDNLOAD-IDLE, above wTransferSize and for block 1 before it looks at the
 * data, and every other request with OUT data. */
static bool rom_will_stall_out(const struct chip *c, const struct usb_ctrlrequest *ctrl)
{
	enum stm32_dfu_state s = stm32_model_state(c->model);
	if (ctrl->bRequestType != 0x21 || ctrl->bRequest != DFU_DNLOAD_REQ || ctrl->wIndex != 0)
		return true;
	return (s != STM32_DFU_IDLE && s != STM32_DFU_DNLOAD_IDLE) ||
	       ctrl->wLength > c->profile->transfer_size || ctrl->wValue == 1;
}

/* The pause points. From data block N on (hold_at_block=N), or from the
 * first DFU request of a ROM start (hold_at_start=1: before any erase, so
 * also for an update that writes nothing), the chip holds the update where
 * it is, for as long as the faults file asks for it: it goes on in slow
 * motion, one DFU request (after a block: the next block's) each CRAWL_MS,
 * so the host's own limits (mcu-ota: 5 s for a request, 6 s for a block)
 * never run out however long a test looks, and the update stays in the
 * phase it was in. The state file says held=1, held_block=N (or start)
 * meanwhile. A new hold_at_block=M (M > N) in the file moves the hold on:
 * full speed until block M. */
static void hold_begin(struct chip *c, unsigned n)
{
	atomic_store(&c->held, n);
	c->crawl_next = true;
	if (n == HELD_START)
		say(c,
		    "holding from the ROM's first DFU request until the faults file releases it");
	else
		say(c, "holding from data block %u until the faults file releases it", n);
}

/* Whether the hold in force is still asked for; if not, it ends and what
 * the file asks for now is armed. */
static bool hold_wanted(struct chip *c)
{
	unsigned n = atomic_load(&c->held);
	unsigned want = faults_hold(c, "hold_at_block");
	if (n == HELD_START ? faults_hold(c, "hold_at_start") != 0 : want == n)
		return true;
	atomic_store(&c->held, 0);
	c->crawl_next = false;
	c->hold_at_start = false;
	c->hold_at_block = n != HELD_START && want <= n ? 0 : want;
	say(c, "hold released%s", c->hold_at_block ? "; the next one is armed" : "");
	if (c->hold_at_block && c->blocks >= c->hold_at_block)
		hold_begin(c, c->hold_at_block);
	return atomic_load(&c->held) != 0;
}

/* A DFU request while a hold is in force: delayed up to CRAWL_MS (less when
 * released meanwhile). */
static enum session_end hold_crawl(struct chip *c)
{
	const uint64_t end = now_ns() + (uint64_t)CRAWL_MS * 1000000u;
	c->crawl_next = atomic_load(&c->held) == HELD_START;
	while (now_ns() < end && hold_wanted(c)) {
		if (atomic_load(&c->stop))
			return END_STOPPED;
		sleep_ms(HOLD_SLICE_MS);
	}
	return END_NONE;
}

static enum session_end rom_control(struct chip *c, int fd, const struct usb_ctrlrequest *ctrl,
                                    uint8_t *buf)
{
	const bool in = ctrl->bRequestType & USB_DIR_IN;
	const uint8_t type = ctrl->bRequestType & USB_TYPE_MASK;
	uint16_t len = ctrl->wLength;
	bool data_read = false;
	enum session_end e;
	int r;

	if (type == USB_TYPE_CLASS) {
		if (c->hold_at_start && !atomic_load(&c->held)) {
			c->hold_at_start = false;
			hold_begin(c, HELD_START);
		}
		if (atomic_load(&c->held) && hold_wanted(c) && c->crawl_next &&
		    (e = hold_crawl(c)) != END_NONE)
			return e;
	}

	if (len > GADGET_EP0_MAX) {
		log_request(c, ctrl, STM32_MODEL_STALL);
		return io_result(c, gadget_ep0_stall(fd), "stall");
	}
	/* The ROM does not answer while an erase or a write runs: hold the
	 * request for the operation's datasheet time, in slices so that NRST
	 * still works. L4-like ROMs stall class requests instead (the model
	 * does it at once). No time limit here: the host's USB timeout decides,
	 * and a host that gave up sends a new SETUP that raw_gadget stalls while
	 * this one is pending. */
	if (!(type == USB_TYPE_CLASS && c->profile->stall_while_busy))
		while (!stm32_model_wait_idle(c->model, HOLD_SLICE_MS))
			if (atomic_load(&c->stop))
				return END_STOPPED;
	if (!in && len) {
		if (rom_will_stall_out(c, ctrl)) {
			memset(buf, 0, len); /* the model stalls before it reads the data */
		} else {
			r = gadget_ep0_read(fd, buf, len);
			if (r < 0)
				return io_result(c, r, "read");
			len = (uint16_t)r;
			data_read = true;
		}
	}
	r = stm32_model_control(c->model, ctrl->bRequestType, ctrl->bRequest, ctrl->wValue,
	                        ctrl->wIndex, buf, len, 0 /* wait as long as the host does */);
	log_request(c, ctrl, r);
	if (r == STM32_MODEL_GONE)
		return END_GONE;
	if (r >= 0 && data_read && ctrl->wValue >= 2) {
		c->blocks++;
		if (atomic_load(&c->held))
			c->crawl_next = true; /* the status request that programs it */
		else if (c->hold_at_block && c->blocks >= c->hold_at_block)
			hold_begin(c, c->hold_at_block);
	}
	if (r < 0) {
		/* After the data stage nothing can be stalled any more: the model
		 * is in dfuERROR (unknown opcode) and the next GETSTATUS says so. */
		if (data_read)
			return END_NONE;
		return io_result(c, gadget_ep0_stall(fd), "stall");
	}
	if (in && ctrl->wLength) {
		e = io_result(c, gadget_ep0_write(fd, buf, (size_t)r, r < ctrl->wLength), "write");
	} else if (data_read) {
		e = END_NONE;
	} else {
		if (type == USB_TYPE_STANDARD && ctrl->bRequest == USB_REQ_SET_CONFIGURATION &&
		    ctrl->wValue != 0) {
			r = gadget_configure(fd, MAX_POWER_2MA);
			if (r < 0)
				return io_result(c, r, "configure");
		}
		e = io_result(c, gadget_ep0_read(fd, NULL, 0), "status");
	}
	/* The GETSTATUS that reports dfuMANIFEST is answered, then the ROM
	 * jumps away. */
	if (e == END_NONE && !stm32_model_connected(c->model))
		return END_GONE;
	return e;
}

static enum session_end app_control(struct chip *c, int fd, const struct usb_ctrlrequest *ctrl,
                                    uint8_t *buf)
{
	const bool in = ctrl->bRequestType & USB_DIR_IN;
	enum app_action a = APP_STALL;
	size_t n = 0;
	int r;

	if (in || ctrl->wLength == 0)
		a = app_request(&c->app, ctrl, buf, GADGET_EP0_MAX, &n);
	log_request(c, ctrl, a == APP_STALL ? -1 : (int)n);
	switch (a) {
	case APP_STALL:
		return io_result(c, gadget_ep0_stall(fd), "stall");
	case APP_CONFIGURE:
		r = gadget_configure(fd, MAX_POWER_2MA);
		if (r < 0)
			return io_result(c, r, "configure");
		return io_result(c, gadget_ep0_read(fd, NULL, 0), "status");
	case APP_ENTER_BOOTLOADER: {
		enum session_end e = io_result(c, gadget_ep0_read(fd, NULL, 0), "status");
		if (c->opt.app_ignores_commands)
			return e; /* a firmware without the command, or one that is stuck */
		return e == END_NONE ? END_ENTER_BOOTLOADER : e;
	}
	case APP_ANSWER:
	default:
		if (in && ctrl->wLength)
			return io_result(c, gadget_ep0_write(fd, buf, n, n < ctrl->wLength),
			                 "write");
		return io_result(c, gadget_ep0_read(fd, NULL, 0), "status");
	}
}

static void *session_main(void *arg)
{
	struct chip *c = arg;
	static uint8_t buf[GADGET_EP0_MAX]; /* one session at a time */
	struct usb_ctrlrequest ctrl;
	enum session_end end = END_NONE;
	uint64_t start = now_ns();
	int fd = -1;

	/* from reset release (or the jump) to the pull-up on D+ */
	while (now_ns() - start < (uint64_t)c->opt.boot_delay_ms * 1000000u) {
		if (atomic_load(&c->stop)) {
			end = END_STOPPED;
			goto out;
		}
		sleep_ms(1);
	}
	fd = gadget_open(USB_SPEED_FULL, c->opt.udc);
	if (fd < 0) {
		snprintf(c->end_detail, sizeof(c->end_detail),
		         "cannot start the USB device on /dev/raw-gadget: %s", strerror(-fd));
		end = END_ERROR;
		goto out;
	}
	while (end == END_NONE) {
		int ev;
		if (atomic_load(&c->stop)) {
			end = END_STOPPED;
			break;
		}
		if (!c->session_app) {
			/* an operation may end (and reset the chip) between requests */
			if (!stm32_model_idle_tick(c->model)) {
				end = END_GONE;
				break;
			}
			atomic_store(&c->want_tick, !stm32_model_wait_idle(c->model, 0));
		}
		pthread_sigmask(SIG_UNBLOCK, &tick_signal, NULL);
		ev = gadget_fetch(fd, &ctrl);
		pthread_sigmask(SIG_BLOCK, &tick_signal, NULL);
		atomic_store(&c->want_tick, false);
		if (ev == -EINTR)
			continue;
		if (ev < 0) {
			snprintf(c->end_detail, sizeof(c->end_detail), "raw_gadget event: %s",
			         strerror(-ev));
			end = END_ERROR;
			break;
		}
		if (ev != GADGET_EVENT_CONTROL)
			continue;
		end = c->session_app ? app_control(c, fd, &ctrl, buf)
		                     : rom_control(c, fd, &ctrl, buf);
	}
out:
	atomic_store(&c->held, 0); /* a hold ends with the ROM session */
	gadget_close(fd);          /* the device leaves the bus */
	c->end = end;
	atomic_store(&c->done, true);
	return NULL;
}

/* Copies what the state file shows of the model; only while no session runs. */
static void snapshot(struct chip *c)
{
	c->busy_us = stm32_model_busy_us(c->model);
	c->read_protected = stm32_model_read_protected(c->model);
}

static void session_start(struct chip *c, bool app)
{
	snapshot(c);
	atomic_store(&c->stop, false);
	atomic_store(&c->done, false);
	atomic_store(&c->want_tick, false);
	c->end = END_NONE;
	c->end_detail[0] = '\0';
	c->session_app = app;
	if (pthread_create(&c->thread, NULL, session_main, c) != 0) {
		say(c, "cannot start a thread: %s", strerror(errno));
		c->mode = MODE_OFF;
		return;
	}
	c->session = true;
}

/* Stops the session (if any) and waits until the device left the bus. */
static void session_stop(struct chip *c)
{
	if (!c->session)
		return;
	atomic_store(&c->stop, true);
	while (!atomic_load(&c->done)) {
		pthread_kill(c->thread, SIGUSR1); /* out of a blocking raw_gadget call */
		usleep(STOP_KICK_US);
	}
	pthread_join(c->thread, NULL);
	c->session = false;
	snapshot(c);
}

/* ---- the chip's life cycle ---------------------------------------------- */

static void rom_start(struct chip *c, const char *why)
{
	stm32_model_reset(c->model);
	load_faults(c);
	c->blocks = 0;
	c->crawl_next = false;
	atomic_store(&c->held, 0);
	c->mode = MODE_ROM;
	c->rom_starts++;
	say(c, "%s: ROM bootloader in DFU mode, USB %04x:%04x \"%s\" serial %s%s", why,
	    c->profile->vid, c->profile->pid, c->profile->product, stm32_model_serial(c->model),
	    stm32_model_read_protected(c->model) ? " (read protection level 1)" : "");
	session_start(c, false);
}

static void boot(struct chip *c, uint32_t address, const char *why)
{
	uint8_t v[8] = {0};
	(void)stm32_model_read(c->model, 0, address, v, sizeof(v));
	uint32_t sp =
	    (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24;
	uint32_t pc =
	    (uint32_t)v[4] | (uint32_t)v[5] << 8 | (uint32_t)v[6] << 16 | (uint32_t)v[7] << 24;

	if (!stm32_model_vector_valid(c->model, address)) {
		c->mode = MODE_OFF;
		say(c,
		    "%s: no plausible vector table at 0x%08" PRIx32 " (SP 0x%08" PRIx32
		    ", reset 0x%08" PRIx32 "): the core faults, nothing on the bus",
		    why, address, sp, pc);
		return;
	}
	if (stm32_model_app_version(c->model, address, c->version, sizeof(c->version)) < 0)
		snprintf(c->version, sizeof(c->version), "unknown");
	c->mode = MODE_APP;
	c->app_boots++;
	c->app_since_ns = now_ns();
	say(c,
	    "%s: application at 0x%08" PRIx32 " runs (SP 0x%08" PRIx32 ", reset 0x%08" PRIx32
	    "), version %s, USB %04x:%04x",
	    why, address, sp, pc, c->version, c->app.vid, c->app.pid);
	session_start(c, true);
}

/* NRST released (or power-on): the core samples BOOT0. */
static void reset_release(struct chip *c, const char *why)
{
	int boot0 = boot0_level(c);
	char what[96];
	c->resets++;
	snprintf(what, sizeof(what), "%s, BOOT0 %s", why, boot0 ? "high" : "low");
	if (boot0)
		rom_start(c, what);
	else
		boot(c, c->profile->flash_base, what);
}

/* The session ended by itself: why, and what the chip does next. */
static void session_reap(struct chip *c)
{
	enum session_end end;

	if (!c->session || !atomic_load(&c->done))
		return;
	pthread_join(c->thread, NULL);
	c->session = false;
	snapshot(c);
	end = c->end;
	if (!c->session_app)
		say(c, "ROM session over; physical flash time so far %.3f s (busy_us=%" PRIu64 ")",
		    (double)c->busy_us / 1e6, c->busy_us);
	switch (end) {
	case END_GONE:
		switch (stm32_model_gone_reason(c->model)) {
		case STM32_MODEL_LEFT_DFU:
			boot(c, stm32_model_boot_address(c->model), "left DFU");
			break;
		case STM32_MODEL_SELF_RESET:
			reset_release(c, "the ROM reset the chip (option bytes or read unprotect)");
			break;
		case STM32_MODEL_FAULT_GONE:
			c->mode = MODE_OFF;
			say(c, "fault: the device left the bus in the middle of a download; off "
			       "the bus until NRST");
			break;
		default:
			c->mode = MODE_OFF;
			break;
		}
		break;
	case END_ENTER_BOOTLOADER:
		rom_start(c, "the application jumped to the system memory");
		break;
	case END_ERROR:
		c->mode = MODE_OFF;
		say(c, "USB front end failed: %s; off the bus until NRST", c->end_detail);
		break;
	default:
		c->mode = MODE_OFF;
		break;
	}
}

static int preload(struct chip *c)
{
	size_t size;
	uint8_t *flash = stm32_model_flash(c->model, &size);
	uint32_t off = c->opt.flash_address - c->profile->flash_base;
	FILE *f = fopen(c->opt.flash_file, "rb");
	size_t n;

	if (!f) {
		fprintf(stderr, "stm32-chip: %s: %s\n", c->opt.flash_file, strerror(errno));
		return -1;
	}
	if (c->opt.flash_address < c->profile->flash_base || off >= size) {
		fprintf(stderr, "stm32-chip: 0x%08" PRIx32 " is outside the flash\n",
		        c->opt.flash_address);
		fclose(f);
		return -1;
	}
	n = fread(flash + off, 1, size - off, f);
	if (fgetc(f) != EOF) {
		fprintf(stderr,
		        "stm32-chip: %s does not fit the %zu KiB flash at 0x%08" PRIx32 "\n",
		        c->opt.flash_file, size / 1024, c->opt.flash_address);
		fclose(f);
		return -1;
	}
	fclose(f);
	say(c, "flash preloaded with %s (%zu bytes at 0x%08" PRIx32 ")", c->opt.flash_file, n,
	    c->opt.flash_address);
	return 0;
}

/* The physical floor of writing an image over what the flash holds now:
 * every sector the image touches and whose bytes differ is erased once and
 * the image's bytes in it programmed once, at datasheet typical times. No
 * host can be faster on this chip. */
static int print_floor(struct chip *c, const char *spec)
{
	char path[PATH_MAX];
	uint32_t address = c->profile->flash_base;
	const char *at = strrchr(spec, '@');
	uint64_t erase_us = 0, program_us = 0;
	unsigned sectors = 0, kept = 0;
	size_t flash_size, len;
	uint8_t *flash = stm32_model_flash(c->model, &flash_size);
	uint8_t *image;
	FILE *f;

	snprintf(path, sizeof(path), "%.*s", at ? (int)(at - spec) : (int)strlen(spec), spec);
	if (at)
		address = (uint32_t)strtoul(at + 1, NULL, 0);
	image = malloc(flash_size);
	f = fopen(path, "rb");
	if (!image || !f) {
		fprintf(stderr, "stm32-chip: %s: %s\n", path, strerror(errno));
		return 1;
	}
	len = fread(image, 1, flash_size, f);
	fclose(f);
	if (address < c->profile->flash_base ||
	    (uint64_t)address - c->profile->flash_base + len > flash_size) {
		fprintf(stderr, "stm32-chip: %s does not fit the flash at 0x%08" PRIx32 "\n", path,
		        address);
		free(image);
		return 1;
	}
	for (size_t i = 0; i < stm32_model_sector_count(c->model); i++) {
		uint32_t sa, ss;
		if (stm32_model_sector_info(c->model, i, &sa, &ss) < 0)
			break;
		uint64_t lo = sa > address ? sa : address;
		uint64_t hi = (uint64_t)sa + ss < (uint64_t)address + len ? (uint64_t)sa + ss
		                                                          : (uint64_t)address + len;
		if (lo >= hi)
			continue;
		if (memcmp(flash + (lo - c->profile->flash_base), image + (lo - address),
		           hi - lo) == 0) {
			kept++;
			continue;
		}
		sectors++;
		erase_us += stm32_profile_erase_us(c->profile, ss);
		program_us += stm32_profile_program_us(c->profile, (uint32_t)(hi - lo));
	}
	printf("floor_us=%" PRIu64 " erase_us=%" PRIu64 " program_us=%" PRIu64
	       " sectors_written=%u sectors_kept=%u bytes=%zu\n",
	       erase_us + program_us, erase_us, program_us, sectors, kept, len);
	free(image);
	return 0;
}

/* ---- the application's console and READY line ------------------------- */

/* The pull file of line --ready-line of bank 0: the application drives
 * READY, the chip plays it through the simulator side. */
static int ready_open(struct chip *c)
{
	char base[PATH_MAX], path[PATH_MAX + 64], dev[64], chipname[64];

	snprintf(base, sizeof(base), "/sys/kernel/config/gpio-sim/%s", c->opt.gpio_sim);
	snprintf(path, sizeof(path), "%s/dev_name", base);
	if (read_text(path, dev, sizeof(dev)) < 0)
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/bank0/chip_name", base);
	if (read_text(path, chipname, sizeof(chipname)) < 0)
		return -ENOENT;
	snprintf(c->ready_pull, sizeof(c->ready_pull),
	         "/sys/devices/platform/%s/%s/sim_gpio%d/pull", dev, chipname, c->opt.ready_line);
	if (access(c->ready_pull, W_OK) < 0) {
		fprintf(stderr, "stm32-chip: --ready-line %d: no %s\n", c->opt.ready_line,
		        c->ready_pull);
		return -ENOENT;
	}
	return 0;
}

/* READY high while the application runs, once it had ready_delay_ms to boot. */
static void ready_update(struct chip *c)
{
	if (!c->ready_pull[0])
		return;
	int want = c->mode == MODE_APP &&
	           now_ns() - c->app_since_ns >= (uint64_t)c->opt.ready_delay_ms * 1000000u;
	if (want == c->ready_level)
		return;
	if (write_text(c->ready_pull, want ? "pull-up" : "pull-down") < 0) {
		say(c, "cannot set READY (%s)", c->ready_pull);
		return;
	}
	c->ready_level = want;
	say(c, "READY %s", want ? "high: the application signals ready" : "low");
}

/* Lines on the console; "bootloader" acts like the USB 'B' request. */
static void console_tick(struct chip *c)
{
	struct console_app app = {.running = c->mode == MODE_APP,
	                          .version = c->version,
	                          .ignores_commands = c->opt.app_ignores_commands};
	char note[CONSOLE_LINE_MAX + 96];

	if (!c->console)
		return;
	enum console_event ev = console_service(c->console, &app, note, sizeof(note));
	if (note[0])
		say(c, "%s", note);
	if (ev == CONSOLE_ENTER_BOOTLOADER && c->mode == MODE_APP) {
		session_stop(c);
		rom_start(c, "the application jumped to the system memory (console command)");
	}
}

/* ---- main --------------------------------------------------------------- */

static void on_term(int sig)
{
	(void)sig;
	terminate = 1;
}

static void on_kick(int sig)
{
	(void)sig; /* only interrupts a blocking call */
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: stm32-chip [options]\n"
	        "  --profile NAME       F407 (default), F405, F411, F072, L4, G474, H743\n"
	        "  --gpio-sim NAME      gpio-sim device (configfs name) with lines BOOT0 and NRST\n"
	        "  --boot0 0|1          without --gpio-sim: BOOT0 at power-on (default 1)\n"
	        "  --uid HEX            96-bit UID as 3 words of 8 hex digits (USB serial)\n"
	        "  --flash-file FILE    preload flash (factory firmware); FILE@ADDR for an "
	        "address\n"
	        "  --time-scale X       1.0 = datasheet times (default), 0 = instant\n"
	        "  --faults FILE        key=value faults, read whenever the ROM starts:\n"
	        "                       disconnect_at_block=N stall_request=N "
	        "erase_stays_busy=1\n"
	        "                       flip_bit_address=0xADDR flip_bit_once=1\n"
	        "                       hold_at_block=N (from data block N on, one DFU request\n"
	        "                       every 1.5 s until the file no longer says so;\n"
	        "                       state: held=1 held_block=N)\n"
	        "                       hold_at_start=1 (the same from the ROM's first DFU\n"
	        "                       request; state: held_block=start)\n"
	        "  --read-protected     RDP level 1 from the first power-on\n"
	        "  --start-in-error     a blank chip's ROM comes up in dfuERROR/errFIRMWARE\n"
	        "  --state FILE         keep FILE up to date (mode, version, busy_us, ...)\n"
	        "  --poll-ms N          GPIO poll period (default 2)\n"
	        "  --boot-delay-ms N    reset release to USB attach (default 20)\n"
	        "  --no-pulls           do not pull NRST up and BOOT0 down\n"
	        "  --floor IMAGE[@ADDR] print the physical floor (datasheet erase + program\n"
	        "                       time) of writing IMAGE over the flash, and exit\n"
	        "  --udc NAME           the dummy_hcd UDC to attach to (default dummy_udc.0)\n"
	        "  --app-ignores-commands  the application acknowledges 'enter the bootloader'\n"
	        "                       requests and stays (a firmware without the command)\n"
	        "  --serial-link PATH   the application's UART console on a pty, PATH a symlink\n"
	        "                       to it: 'version' -> the version, 'bootloader' -> 'ok'\n"
	        "                       and the ROM (as the USB request), else '?'\n"
	        "  --ready-line N       the application drives line N of the gpio-sim chip\n"
	        "                       high while it runs (READY), low otherwise\n"
	        "  --ready-delay-ms N   application start to READY high (default 50)\n"
	        "  -v, --verbose        log every control request\n");
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
	    {"profile", required_argument, NULL, 'p'},
	    {"gpio-sim", required_argument, NULL, 'g'},
	    {"boot0", required_argument, NULL, 'b'},
	    {"uid", required_argument, NULL, 'u'},
	    {"flash-file", required_argument, NULL, 'f'},
	    {"time-scale", required_argument, NULL, 't'},
	    {"faults", required_argument, NULL, 'F'},
	    {"read-protected", no_argument, NULL, 'R'},
	    {"start-in-error", no_argument, NULL, 'E'},
	    {"state", required_argument, NULL, 's'},
	    {"poll-ms", required_argument, NULL, 'P'},
	    {"boot-delay-ms", required_argument, NULL, 'D'},
	    {"no-pulls", no_argument, NULL, 'N'},
	    {"floor", required_argument, NULL, 'L'},
	    {"udc", required_argument, NULL, 'U'},
	    {"app-ignores-commands", no_argument, NULL, 'I'},
	    {"serial-link", required_argument, NULL, 'S'},
	    {"ready-line", required_argument, NULL, 'Y'},
	    {"ready-delay-ms", required_argument, NULL, 'y'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	static struct chip chip;
	struct chip *c = &chip;
	struct stm32_model_options mo = {0};
	struct sigaction sa;
	char *at;
	int o;

	c->t0_ns = now_ns();
	c->nrst_fd = c->boot0_fd = -1;
	c->rec_boot0 = c->rec_nrst = -1;
	c->opt.profile = "F407";
	c->opt.time_scale = 1.0;
	c->opt.flash_address = 0x08000000;
	c->opt.pulls = true;
	c->opt.poll_ms = 2;
	c->opt.boot_delay_ms = 20;
	c->opt.boot0 = 1;
	c->opt.udc = "dummy_udc.0";
	c->opt.ready_line = -1;
	c->opt.ready_delay_ms = 50;
	c->ready_level = -1;
	(void)parse_uid(DEFAULT_UID, c->opt.uid);
	while ((o = getopt_long(argc, argv, "vh", long_options, NULL)) != -1) {
		switch (o) {
		case 'p':
			c->opt.profile = optarg;
			break;
		case 'g':
			c->opt.gpio_sim = optarg;
			break;
		case 'b':
			c->opt.boot0 = atoi(optarg) != 0;
			break;
		case 'u':
			if (parse_uid(optarg, c->opt.uid) < 0) {
				fprintf(stderr, "stm32-chip: --uid wants 24 hex digits\n");
				return 2;
			}
			break;
		case 'f':
			c->opt.flash_file = optarg;
			at = strrchr(optarg, '@');
			if (at) {
				*at = '\0';
				c->opt.flash_address = (uint32_t)strtoul(at + 1, NULL, 0);
			}
			break;
		case 't':
			c->opt.time_scale = strtod(optarg, NULL);
			break;
		case 'F':
			c->opt.faults_file = optarg;
			break;
		case 'R':
			c->opt.read_protected = true;
			break;
		case 'E':
			c->opt.start_in_error = true;
			break;
		case 's':
			c->opt.state_file = optarg;
			break;
		case 'P':
			c->opt.poll_ms = (unsigned)strtoul(optarg, NULL, 0);
			if (!c->opt.poll_ms)
				c->opt.poll_ms = 1;
			break;
		case 'D':
			c->opt.boot_delay_ms = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'N':
			c->opt.pulls = false;
			break;
		case 'L':
			c->opt.floor_image = optarg;
			break;
		case 'U':
			c->opt.udc = optarg;
			break;
		case 'I':
			c->opt.app_ignores_commands = true;
			break;
		case 'S':
			c->opt.serial_link = optarg;
			break;
		case 'Y':
			c->opt.ready_line = atoi(optarg);
			if (c->opt.ready_line < 0 || c->opt.ready_line > 63) {
				fprintf(stderr, "stm32-chip: --ready-line wants an offset 0..63\n");
				return 2;
			}
			break;
		case 'y':
			c->opt.ready_delay_ms = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'v':
			c->opt.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	c->profile = stm32_profile_find(c->opt.profile);
	if (!c->profile) {
		fprintf(stderr, "stm32-chip: unknown profile %s\n", c->opt.profile);
		return 2;
	}
	mo.time_scale = c->opt.time_scale;
	memcpy(mo.uid, c->opt.uid, sizeof(mo.uid));
	mo.read_protected = c->opt.read_protected;
	mo.start_in_error = c->opt.start_in_error;
	c->model = stm32_model_new(c->profile, &mo);
	if (!c->model) {
		fprintf(stderr, "stm32-chip: cannot build the %s model\n", c->opt.profile);
		return 1;
	}
	c->app.vid = c->profile->app_vid;
	c->app.pid = c->profile->app_pid;
	c->app.serial = stm32_model_serial(c->model);
	c->app.version = c->version;
	if (c->opt.flash_file && preload(c) < 0)
		return 1;
	if (c->opt.floor_image) {
		int r = print_floor(c, c->opt.floor_image);
		stm32_model_free(c->model);
		return r;
	}
	if (c->opt.gpio_sim && gpio_open(c) < 0)
		return 1;
	if (c->opt.ready_line >= 0 && (!c->opt.gpio_sim || ready_open(c) < 0)) {
		if (!c->opt.gpio_sim)
			fprintf(stderr, "stm32-chip: --ready-line needs --gpio-sim\n");
		return 1;
	}
	if (c->opt.serial_link && !(c->console = console_open(c->opt.serial_link)))
		return 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick; /* no SA_RESTART: blocking ioctls return EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigemptyset(&tick_signal);
	sigaddset(&tick_signal, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &tick_signal, NULL); /* inherited by the session threads */
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* A chip is hardware: it must see a 50 ms NRST pulse however busy the
	 * guest is. Real-time priority (inherited by the session threads) puts
	 * its 2 ms polls ahead of everything else; every loop here sleeps, so it
	 * never takes the CPU from the rest. Without the right it runs as is. */
	struct sched_param sp = {.sched_priority = 10};
	if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0 && c->opt.verbose)
		say(c, "no real-time priority (%s): NRST pulses are polled at normal priority",
		    strerror(errno));

	say(c, "STM32%s model, %" PRIu32 " KiB flash, time scale %g, serial %s%s%s",
	    c->profile->name, c->profile->flash_size / 1024, c->opt.time_scale,
	    stm32_model_serial(c->model), c->opt.gpio_sim ? ", GPIO from gpio-sim " : "",
	    c->opt.gpio_sim ? c->opt.gpio_sim : "");

	c->mode = MODE_RESET;
	if (nrst_level(c))
		reset_release(c, "power-on");
	else
		say(c, "power-on with NRST low: held in reset");
	write_state(c);

	while (!terminate) {
		enum mode before = c->mode;
		unsigned resets = c->resets, boots = c->app_boots;
		int nrst = nrst_level(c);
		int boot0 = line_level(c->boot0_fd, c->opt.boot0);

		if (c->mode == MODE_RESET) {
			if (nrst)
				reset_release(c, "NRST released");
		} else if (!nrst) {
			session_stop(c);
			if (c->mode == MODE_ROM)
				say(c, "physical flash time so far %.3f s",
				    (double)c->busy_us / 1e6);
			c->mode = MODE_RESET;
			say(c, "NRST low: in reset, off the bus");
		} else {
			session_reap(c);
			if (c->session && atomic_load(&c->want_tick))
				pthread_kill(c->thread, SIGUSR2);
		}
		console_tick(c);
		ready_update(c);
		record_lines(c, boot0, nrst);
		unsigned held = atomic_load(&c->held);
		if (c->mode != before || c->resets != resets || c->app_boots != boots ||
		    held != c->held_shown) {
			c->held_shown = held;
			write_state(c);
		}
		sleep_ms(c->opt.poll_ms);
	}
	session_stop(c);
	c->mode = MODE_OFF;
	ready_update(c);
	console_close(c->console);
	write_state(c);
	say(c, "stopped; physical flash time %.3f s", (double)stm32_model_busy_us(c->model) / 1e6);
	stm32_model_free(c->model);
	return 0;
}
