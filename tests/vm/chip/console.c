/* The application's UART console on a pseudo-terminal (console.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"

#define READ_MAX 256 /* bytes taken per read; the loop takes what is there */

struct console {
	int master;
	char link[4096];
	char line[CONSOLE_LINE_MAX + 1];
	size_t len;
	bool overlong; /* dropping until the end of the line */
};

struct console *console_open(const char *link)
{
	char slave[128];
	struct stat st;
	struct console *con = calloc(1, sizeof(*con));
	if (!con || strlen(link) >= sizeof(con->link)) {
		fprintf(stderr, "stm32-chip: --serial-link: %s\n",
		        con ? "path too long" : strerror(ENOMEM));
		free(con);
		return NULL;
	}
	snprintf(con->link, sizeof(con->link), "%s", link);
	/* non-blocking: the main loop must never wait on the console */
	con->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (con->master < 0 || grantpt(con->master) < 0 || unlockpt(con->master) < 0 ||
	    ptsname_r(con->master, slave, sizeof(slave)) != 0) {
		fprintf(stderr, "stm32-chip: cannot open a pseudo-terminal: %s\n", strerror(errno));
		goto fail;
	}
	if (lstat(link, &st) == 0 && S_ISLNK(st.st_mode))
		(void)unlink(link);
	if (symlink(slave, link) < 0) {
		fprintf(stderr, "stm32-chip: cannot link %s to %s: %s\n", link, slave,
		        strerror(errno));
		goto fail;
	}
	return con;
fail:
	if (con->master >= 0)
		close(con->master);
	free(con);
	return NULL;
}

void console_close(struct console *con)
{
	if (!con)
		return;
	(void)unlink(con->link);
	close(con->master);
	free(con);
}

static void reply(struct console *con, const char *text)
{
	/* a full buffer (nobody reads the slave) drops the reply, as a UART would */
	(void)!write(con->master, text, strlen(text));
}

/* Answers one complete line. */
static enum console_event answer(struct console *con, const struct console_app *app, char *note,
                                 size_t notelen)
{
	char out[CONSOLE_LINE_MAX + 8];
	enum console_event ev = CONSOLE_NONE;

	if (strcmp(con->line, "version") == 0) {
		snprintf(out, sizeof(out), "%s\r\n", app->version);
	} else if (strcmp(con->line, "bootloader") == 0) {
		snprintf(out, sizeof(out), "ok\r\n");
		if (!app->ignores_commands)
			ev = CONSOLE_ENTER_BOOTLOADER;
	} else {
		snprintf(out, sizeof(out), "?\r\n");
	}
	reply(con, out);
	out[strcspn(out, "\r")] = '\0';
	snprintf(note, notelen, "console: \"%s\" -> \"%s\"%s", con->line, out,
	         strcmp(con->line, "bootloader") == 0 && app->ignores_commands
	             ? " (the application ignores the command)"
	             : "");
	return ev;
}

enum console_event console_service(struct console *con, const struct console_app *app, char *note,
                                   size_t notelen)
{
	char buf[READ_MAX];
	note[0] = '\0';
	for (;;) {
		/* EIO while no slave is open, EAGAIN when nothing is there: the
		 * caller's poll period paces the next look, nothing spins here */
		ssize_t n = read(con->master, buf, sizeof(buf));
		if (n <= 0)
			return CONSOLE_NONE;
		if (!app->running) {
			con->len = 0;
			con->overlong = false;
			continue; /* nothing runs that would read the UART */
		}
		for (ssize_t i = 0; i < n; i++) {
			char c = buf[i];
			if (c != '\r' && c != '\n') {
				if (con->len < CONSOLE_LINE_MAX)
					con->line[con->len++] = c;
				else
					con->overlong = true;
				continue;
			}
			bool whole = con->len > 0 && !con->overlong;
			con->line[con->len] = '\0';
			con->len = 0;
			con->overlong = false;
			if (whole && answer(con, app, note, notelen) == CONSOLE_ENTER_BOOTLOADER)
				return CONSOLE_ENTER_BOOTLOADER;
		}
	}
}
