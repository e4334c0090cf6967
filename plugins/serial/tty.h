/* The tty module shared by the serial plugins: settings, exclusive open in
 * raw mode, writes and line reads with deadlines. Every message starts with
 * the plugin's name (who) and names the tty's path. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mcu-ota/plugin.h>

#include "serial_text.h"

#define TTY_PATH_MAX 255

struct tty {
	const char *who; /* the plugin's name, first word of messages */
	char path[TTY_PATH_MAX + 1];
	struct serial_framing framing;
	int fd;
	/* bytes read but not yet assembled into lines */
	char pending[256];
	size_t pending_pos, pending_len;
	struct serial_lines lines;
};

uint64_t tty_now_ms(void);
void tty_sleep_ms(unsigned ms);

/* Reads the settings device (required), baud, data_bits, parity, stop_bits
 * and flow into t (who must be set); t->fd is -1. */
__attribute__((warn_unused_result)) int tty_config(const struct mcu_ota_host *host, struct tty *t,
                                                   char *err, size_t errlen);
/* The settings tty_config reads, for the plugins' settings lists. */
#define TTY_SETTINGS "device", "baud", "data_bits", "parity", "stop_bits", "flow"

/* Opens the tty (O_NOCTTY, non-blocking), takes it for this program alone
 * (flock, then TIOCEXCL: -EBUSY when another program has it), sets raw mode
 * and the framing, and drops whatever was received before. */
__attribute__((warn_unused_result)) int tty_open(struct tty *t, char *err, size_t errlen);

/* Gives the tty back (no-op when closed). */
void tty_close(struct tty *t);

/* Drops the input received so far (a stale boot banner is no reply). */
void tty_drop_input(struct tty *t);

/* Writes all n bytes and waits until they left the driver, within
 * timeout_ms; -ETIMEDOUT when the output stays blocked (flow control). */
__attribute__((warn_unused_result)) int tty_write(struct tty *t, const void *data, size_t n,
                                                  unsigned timeout_ms, char *err, size_t errlen);

/* Waits until a whole line arrived (t->lines.line) or deadline (tty_now_ms
 * time) passes: 1, 0 at the deadline, -EIO when the tty hung up (the device
 * went away) or another negative errno. */
__attribute__((warn_unused_result)) int tty_read_line(struct tty *t, uint64_t deadline, char *err,
                                                      size_t errlen);

/* Reads an optional string setting that must be 1..max characters. */
__attribute__((warn_unused_result)) int tty_config_string(const struct mcu_ota_host *host,
                                                          const char *who, const char *key,
                                                          size_t max, const char **out, char *err,
                                                          size_t errlen);

/* Reads an optional int setting within [min, max]; *out keeps its default. */
__attribute__((warn_unused_result)) int tty_config_int(const struct mcu_ota_host *host,
                                                       const char *who, const char *key,
                                                       long long min, long long max, long long *out,
                                                       char *err, size_t errlen);
