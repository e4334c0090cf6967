/* The serial entry plugin: asks the running application, over its UART
 * console, to jump to its ROM bootloader. The engine then waits for the DFU
 * device; this plugin only says the command went out (and, with reply, that
 * the application acknowledged it).
 *
 * Settings: device, baud, data_bits, parity, stop_bits, flow (tty.h);
 *   command           what to send (required; \r \n \t \xHH \\ decoded;
 *                     at most 256 bytes)
 *   reply             optional: text that must appear in a line received
 *                     within reply_timeout_ms (default 1000)
 *   exit_command      optional: sent by exit (else exit does nothing: the
 *                     flasher's leave starts the application) */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tty.h"

#define WHO              "serial"
#define TIMEOUT_MS_MAX   60000
#define WRITE_TIMEOUT_MS 1000 /* beyond the bytes' own time on the wire */
#define RECEIVED_SHOWN   160  /* characters of received lines in a message */
#define COMMAND_SHOWN    (SERIAL_COMMAND_MAX * 4 + 8)

/* The settings serial_enter and serial_exit read, the tty's included. */
static const char *const settings[] = {TTY_SETTINGS,       "command",      "reply",
                                       "reply_timeout_ms", "exit_command", NULL};

/* The command (setting key) decoded, and quoted for messages. */
static int get_command(const struct mcu_ota_host *host, const char *key, bool required,
                       unsigned char *out, size_t *len, char *shown, size_t shownlen, char *err,
                       size_t errlen)
{
	const char *s = NULL;
	char why[160];
	int r = tty_config_string(host, WHO, key, SERIAL_COMMAND_MAX * 4, &s, err, errlen);
	if (r < 0)
		return r;
	if (!s) {
		*len = 0;
		if (!required)
			return 0;
		mcu_ota_set_error(err, errlen,
		                  WHO ": no command set (what the application's console takes to "
		                      "jump to its bootloader, e.g. \"bootloader\\n\")");
		return -EINVAL;
	}
	if (serial_unescape(s, out, len, why, sizeof(why)) < 0) {
		mcu_ota_set_error(err, errlen, WHO ": setting %s: %s", key, why);
		return -EINVAL;
	}
	serial_quote(out, *len, shown, shownlen);
	return 0;
}

/* Sends the command; 0 when it went out within its time on the wire. */
static int send_command(struct tty *t, const unsigned char *cmd, size_t len, const char *shown,
                        char *err, size_t errlen)
{
	/* 10 bits a byte at most 12 (8 data, parity, 2 stop) */
	unsigned wire_ms = (unsigned)(len * 12 * 1000 / (unsigned long long)t->framing.baud);
	int r = tty_write(t, cmd, len, WRITE_TIMEOUT_MS + wire_ms, err, errlen);
	if (r < 0 && r != -ETIMEDOUT) {
		size_t n = strlen(err);
		snprintf(err + n, errlen - n, " (sending \"%s\")", shown);
	}
	return r;
}

/* Reads lines until one contains reply or the timeout passes. An echo of
 * the command (a console with echo on) is no reply, whatever it contains. */
static int await_reply(const struct mcu_ota_host *host, struct tty *t, const unsigned char *cmd,
                       size_t len, const char *reply, long long timeout_ms, const char *shown,
                       char *err, size_t errlen)
{
	char received[RECEIVED_SHOWN + 8] = "", echo[SERIAL_COMMAND_MAX + 1],
	                               line[SERIAL_LINE_MAX + 1];
	memcpy(echo, cmd, len);
	echo[len] = '\0';
	serial_trim(echo);
	uint64_t deadline = tty_now_ms() + (uint64_t)timeout_ms;
	unsigned lines = 0;
	int r;

	while ((r = tty_read_line(t, deadline, err, errlen)) > 0) {
		lines++;
		mcu_ota_log(host, MCU_OTA_LOG_DEBUG, WHO ": %s: received \"%s\"", t->path,
		            t->lines.line);
		snprintf(line, sizeof(line), "%s", t->lines.line);
		serial_trim(line);
		if (strcmp(line, echo) != 0 && strstr(t->lines.line, reply)) {
			mcu_ota_log(host, MCU_OTA_LOG_INFO,
			            WHO ": sent \"%s\" to %s; the application replied \"%s\"",
			            shown, t->path, t->lines.line);
			return 0;
		}
		/* the last lines, for the message */
		size_t used = strlen(received);
		if (used + 8 < sizeof(received)) {
			snprintf(received + used, sizeof(received) - used, "%s\"",
			         used ? ", " : "");
			used = strlen(received);
			serial_quote((const unsigned char *)t->lines.line, strlen(t->lines.line),
			             received + used, sizeof(received) - used - 1);
			strcat(received, "\"");
		}
	}
	if (r < 0)
		return r;
	mcu_ota_set_error(err, errlen,
	                  WHO ": no reply containing \"%s\" from %s within %lld ms after sending "
	                      "\"%s\" (%s%s%s)",
	                  reply, t->path, timeout_ms, shown, lines ? "received: " : "",
	                  lines ? received
	                        : "received nothing: check baud, framing and that the device is "
	                          "the application's console",
	                  lines ? "; check command and reply" : "");
	return -ETIMEDOUT;
}

static int serial_enter(const struct mcu_ota_host *host, char *err, size_t errlen)
{
	struct tty t = {.who = WHO, .fd = -1};
	unsigned char cmd[SERIAL_COMMAND_MAX];
	char shown[COMMAND_SHOWN], framing[48];
	const char *reply = NULL;
	long long reply_timeout_ms = 1000;
	size_t len;
	int r;

	if ((r = tty_config(host, &t, err, errlen)) < 0 ||
	    (r = get_command(host, "command", true, cmd, &len, shown, sizeof(shown), err, errlen)) <
	        0 ||
	    (r = tty_config_string(host, WHO, "reply", SERIAL_LINE_MAX, &reply, err, errlen)) < 0 ||
	    (r = tty_config_int(host, WHO, "reply_timeout_ms", 1, TIMEOUT_MS_MAX, &reply_timeout_ms,
	                        err, errlen)) < 0)
		return r;
	if (len == 0) {
		mcu_ota_set_error(err, errlen, WHO ": setting command is empty once decoded");
		return -EINVAL;
	}
	serial_framing_name(&t.framing, framing, sizeof(framing));
	if ((r = tty_open(&t, err, errlen)) < 0)
		return r;
	mcu_ota_log(host, MCU_OTA_LOG_DEBUG, WHO ": %s at %s: sending \"%s\"", t.path, framing,
	            shown);
	r = send_command(&t, cmd, len, shown, err, errlen);
	if (r == 0 && reply)
		r = await_reply(host, &t, cmd, len, reply, reply_timeout_ms, shown, err, errlen);
	else if (r == 0)
		mcu_ota_log(host, MCU_OTA_LOG_INFO, WHO ": sent \"%s\" to %s", shown, t.path);
	tty_close(&t);
	return r;
}

static int serial_exit(const struct mcu_ota_host *host, char *err, size_t errlen)
{
	struct tty t = {.who = WHO, .fd = -1};
	unsigned char cmd[SERIAL_COMMAND_MAX];
	char shown[COMMAND_SHOWN];
	size_t len;
	int r;

	if ((r = get_command(host, "exit_command", false, cmd, &len, shown, sizeof(shown), err,
	                     errlen)) < 0)
		return r;
	if (len == 0) {
		mcu_ota_log(host, MCU_OTA_LOG_DEBUG,
		            WHO ": no exit_command: nothing to send (leaving DFU starts the "
		                "application)");
		return 0;
	}
	if ((r = tty_config(host, &t, err, errlen)) < 0 || (r = tty_open(&t, err, errlen)) < 0)
		return r;
	r = send_command(&t, cmd, len, shown, err, errlen);
	if (r == 0)
		mcu_ota_log(host, MCU_OTA_LOG_INFO, WHO ": sent exit_command \"%s\" to %s", shown,
		            t.path);
	tty_close(&t);
	return r;
}

static const struct mcu_ota_entry_ops ops = {
    .size = sizeof(struct mcu_ota_entry_ops),
    .enter = serial_enter,
    .exit = serial_exit,
    .missing_hint = "the application did not act on the command: check command, baud and "
                    "framing (data_bits, parity, stop_bits, flow), that device is the "
                    "application's console, and that the firmware implements the command",
    .settings = settings,
};

static const struct mcu_ota_plugin plugin = {
    .abi = MCU_OTA_PLUGIN_ABI,
    .kind = MCU_OTA_PLUGIN_ENTRY,
    .name = "serial",
    .description = "a command on the application's serial console starts the ROM bootloader",
    .entry = &ops,
};

MCU_OTA_DEFINE_PLUGIN(plugin)
