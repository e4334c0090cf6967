/* The application's UART console, as a pseudo-terminal: the chip keeps the
 * master, a symlink (--serial-link PATH) names the slave, which the serial
 * plugins open like /dev/ttyACM0. While the application runs it answers
 * lines:
 *
 *   version     -> "<version>\r\n" (the image's version, as over USB)
 *   bootloader  -> "ok\r\n", then the application jumps to the ROM (as the
 *                  USB 'B' request), unless it ignores commands
 *   anything    -> "?\r\n"
 *
 * Otherwise (reset, ROM, off) nothing runs that would listen: input is read
 * and dropped. CR, LF or both end a line; a line longer than
 * CONSOLE_LINE_MAX is dropped whole. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define CONSOLE_LINE_MAX 128

struct console;

/* Opens the pty (kept for the process lifetime, so that the slave can be
 * opened and closed any number of times) and points link at its slave,
 * replacing an old symlink. NULL with a message on stderr. */
struct console *console_open(const char *link);

/* Removes the link and closes the pty. Accepts NULL. */
void console_close(struct console *con);

enum console_event {
	CONSOLE_NONE,
	CONSOLE_ENTER_BOOTLOADER, /* the application acknowledged "bootloader" and jumps */
};

/* What runs on the chip, as the console sees it. */
struct console_app {
	bool running;          /* the application runs (mode app) */
	const char *version;   /* its version */
	bool ignores_commands; /* it acknowledges "bootloader" and stays */
};

/* Reads what the other side wrote, without blocking, and answers complete
 * lines. note gets a line for the chip's log when something was answered
 * ("" otherwise). Stops at a "bootloader" that is acted on: the rest of the
 * input went to an application that is gone. */
enum console_event console_service(struct console *con, const struct console_app *app, char *note,
                                   size_t notelen);
