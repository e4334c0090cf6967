/* The serial-query health plugin: the application is up when it answers a
 * query on its UART console (and the answer is the expected version).
 *
 * Settings: device, baud, data_bits, parity, stop_bits, flow (tty.h);
 *   query           what to send (default "version\n"; \r \n \t \xHH \\
 *                   decoded; at most 256 bytes)
 *   reply_prefix    optional: the reply line starts with it ("version=");
 *                   lines without it are other output and skipped
 *   try_timeout_ms  how long one query waits for its reply (default 500)
 *
 * Right after a reset the tty may not exist yet (USB CDC) and the
 * application may still be booting: until the deadline the plugin keeps
 * opening the tty and asking again. A reply with another version fails at
 * once. An echo of the query and empty lines are not replies. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tty.h"

#define WHO               "serial-query"
#define TRY_MS_MAX        60000
#define OPEN_RETRY_MS     100
#define WRITE_TIMEOUT_MS  500
#define SHOWN_MAX         (SERIAL_COMMAND_MAX * 4 + 8)
#define VERSION_SHOWN_MAX (SERIAL_LINE_MAX * 4 + 8)

struct query {
	const struct mcu_ota_host *host;
	struct tty t;
	unsigned char text[SERIAL_COMMAND_MAX];
	size_t len;
	char echo[SERIAL_COMMAND_MAX + 1]; /* the query as a trimmed line */
	char shown[SHOWN_MAX];
	const char *prefix;
	long long try_ms;
	/* what happened, for the message at the deadline */
	unsigned sent;
	char last_line[VERSION_SHOWN_MAX];
	char last_error[256];
};

/* The settings configure reads, the tty's included. */
static const char *const settings[] = {TTY_SETTINGS, "query", "reply_prefix", "try_timeout_ms",
                                       NULL};

static int configure(const struct mcu_ota_host *host, struct query *q, char *err, size_t errlen)
{
	const char *s = "version\\n";
	char why[160];
	int r;

	q->host = host;
	q->t.who = WHO;
	q->try_ms = 500;
	if ((r = tty_config(host, &q->t, err, errlen)) < 0 ||
	    (r = tty_config_string(host, WHO, "query", SERIAL_COMMAND_MAX * 4, &s, err, errlen)) <
	        0 ||
	    (r = tty_config_string(host, WHO, "reply_prefix", SERIAL_LINE_MAX, &q->prefix, err,
	                           errlen)) < 0 ||
	    (r = tty_config_int(host, WHO, "try_timeout_ms", 10, TRY_MS_MAX, &q->try_ms, err,
	                        errlen)) < 0)
		return r;
	if (serial_unescape(s, q->text, &q->len, why, sizeof(why)) < 0) {
		mcu_ota_set_error(err, errlen, WHO ": setting query: %s", why);
		return -EINVAL;
	}
	if (q->len == 0) {
		mcu_ota_set_error(err, errlen, WHO ": setting query is empty once decoded");
		return -EINVAL;
	}
	serial_quote(q->text, q->len, q->shown, sizeof(q->shown));
	memcpy(q->echo, q->text, q->len);
	q->echo[q->len] = '\0';
	serial_trim(q->echo);
	return 0;
}

/* The version in a received line, or NULL when the line is no reply. */
static const char *reply_of(struct query *q, char *line)
{
	serial_trim(line);
	if (!line[0] || strcmp(line, q->echo) == 0)
		return NULL;
	if (q->prefix) {
		size_t n = strlen(q->prefix);
		if (strncmp(line, q->prefix, n) != 0)
			return NULL;
		line += n;
		serial_trim(line);
	}
	return line;
}

/* Keeps a message for the one at the deadline, without its "serial-query: ". */
static void remember(struct query *q, const char *err)
{
	size_t n = strlen(WHO ": ");
	snprintf(q->last_error, sizeof(q->last_error), "%s",
	         strncmp(err, WHO ": ", n) == 0 ? err + n : err);
}

/* One query: 0 with the version in version, 1 when nothing came (or the
 * tty is not there: try again), a negative errno with (out, outlen) to give
 * up: a path that is no tty, a framing the driver refuses. */
static int ask(struct query *q, uint64_t deadline, char *version, size_t versionlen, char *out,
               size_t outlen)
{
	char err[256];
	int r;

	if (q->t.fd < 0) {
		r = tty_open(&q->t, err, sizeof(err));
		if (r == -ENOTTY || r == -EINVAL) {
			mcu_ota_set_error(out, outlen, "%s", err);
			return r;
		}
		if (r < 0) {
			/* not there yet (USB CDC after a reset), no permission yet
			 * (udev), busy for a moment: the deadline decides */
			remember(q, err);
			return 1;
		}
		mcu_ota_log(q->host, MCU_OTA_LOG_DEBUG, WHO ": %s is open", q->t.path);
	}
	tty_drop_input(&q->t);
	uint64_t now = tty_now_ms(), end = now + (uint64_t)q->try_ms;
	if (end > deadline)
		end = deadline;
	unsigned write_ms = (unsigned)(end > now ? end - now : 0);
	r = tty_write(&q->t, q->text, q->len,
	              write_ms < WRITE_TIMEOUT_MS ? WRITE_TIMEOUT_MS : write_ms, err, sizeof(err));
	if (r < 0) {
		remember(q, err);
		tty_close(&q->t);
		return 1;
	}
	q->sent++;
	while ((r = tty_read_line(&q->t, end, err, sizeof(err))) > 0) {
		mcu_ota_log(q->host, MCU_OTA_LOG_DEBUG, WHO ": %s: received \"%s\"", q->t.path,
		            q->t.lines.line);
		serial_quote((const unsigned char *)q->t.lines.line, strlen(q->t.lines.line),
		             q->last_line, sizeof(q->last_line));
		const char *v = reply_of(q, q->t.lines.line);
		if (v) {
			snprintf(version, versionlen, "%s", v);
			return 0;
		}
	}
	if (r < 0) {
		/* hung up: the application reset under us; open again */
		remember(q, err);
		tty_close(&q->t);
	}
	return 1;
}

static int query_check(const struct mcu_ota_host *host, const char *expected_version,
                       unsigned deadline_ms, char *err, size_t errlen)
{
	/* on the stack (about 4 KiB): the engine checks several devices at once,
	 * in threads of its own, and this plugin is loaded once for all of them */
	struct query q = {0};
	char version[SERIAL_LINE_MAX + 1];
	int r;

	if ((r = configure(host, &q, err, errlen)) < 0)
		return r;
	uint64_t start = tty_now_ms(), deadline = start + deadline_ms;
	do {
		r = ask(&q, deadline, version, sizeof(version), err, errlen);
		if (r == 1 && q.t.fd < 0 && tty_now_ms() < deadline) {
			uint64_t left = deadline - tty_now_ms();
			tty_sleep_ms(left < OPEN_RETRY_MS ? (unsigned)left : OPEN_RETRY_MS);
		}
	} while (r == 1 && tty_now_ms() < deadline);
	tty_close(&q.t);
	if (r == 0) {
		char shown[VERSION_SHOWN_MAX];
		serial_quote((const unsigned char *)version, strlen(version), shown, sizeof(shown));
		if (expected_version && strcmp(version, expected_version) != 0) {
			mcu_ota_set_error(err, errlen,
			                  WHO ": the application reports %s, expected %s (%s)",
			                  shown, expected_version, q.t.path);
			return -EBADMSG;
		}
		mcu_ota_log(host, MCU_OTA_LOG_INFO, WHO ": the application reports %s on %s%s",
		            shown, q.t.path, expected_version ? ", as expected" : "");
		return 0;
	}
	if (r < 0)
		return r;
	if (q.sent == 0)
		mcu_ota_set_error(err, errlen, WHO ": no answer from %s within %u ms: %s", q.t.path,
		                  deadline_ms, q.last_error);
	else
		mcu_ota_set_error(err, errlen,
		                  WHO ": no reply%s%s%s from %s within %u ms (sent \"%s\" %u "
		                      "time%s; %s%s%s%s%s)",
		                  q.prefix ? " starting with \"" : "", q.prefix ? q.prefix : "",
		                  q.prefix ? "\"" : "", q.t.path, deadline_ms, q.shown, q.sent,
		                  q.sent == 1 ? "" : "s",
		                  q.last_line[0] ? "last received: \"" : "received nothing",
		                  q.last_line, q.last_line[0] ? "\"" : "",
		                  q.last_error[0] ? "; " : "", q.last_error);
	return -ETIMEDOUT;
}

static const struct mcu_ota_health_ops ops = {
    .size = sizeof(struct mcu_ota_health_ops),
    .check = query_check,
    .settings = settings,
};

static const struct mcu_ota_plugin plugin = {
    .abi = MCU_OTA_PLUGIN_ABI,
    .kind = MCU_OTA_PLUGIN_HEALTH,
    .name = "serial-query",
    .description = "the application answers a query (its version) on its serial console "
                   "within the deadline",
    .health = &ops,
};

MCU_OTA_DEFINE_PLUGIN(plugin)
