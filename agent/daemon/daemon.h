/* `mcu-ota daemon`: keeps each configured device on its desired firmware.
 *
 * The main thread owns the event loop (signals through a signalfd, the
 * control socket, the poll timer, the watchdog); one worker thread at a time
 * runs a job (reconcile, an update or a rollback asked for on the socket)
 * through the update engine, which updates several devices in parallel.
 * Status requests are answered while a job runs.
 *
 * Reconcile, at start, on SIGHUP and every poll_interval_s (+ jitter):
 * unfinished journals are recovered first; then a device whose wanted
 * version runs is left alone without a download; otherwise its source is
 * fetched (a conditional GET when it was fetched before) and installed.
 * A bundle that failed is not tried again until the source, the wanted
 * version or the bundle itself changes, or someone asks for it
 * (daemon/poll_record.h).
 *
 * SIGHUP reloads the configuration; a bad one is logged and the running one
 * kept. SIGTERM cancels downloads and ends after the running device update
 * has reached its end (a flash is never abandoned midway; were the process
 * killed anyway, the journal lets the next start finish or roll back).
 *
 * Test hook: MCU_OTA_TEST_CLIENT_BUFFER=<bytes> in the environment makes a
 * client's queue of log lines and its socket's send buffer that small, so
 * that a test sees a client that does not read lose lines. */
#pragma once

#include <stdbool.h>

struct daemon_options {
	const char *config_path;
	const char *plugin_dir; /* NULL: the configuration's, else the default */
	bool log_level_given;   /* -v/-q given: the configuration's log_level is ignored */
};

/* Runs until SIGTERM/SIGINT. Returns the exit status: 0 after a signal, 1
 * when the configuration or the socket is unusable at start. */
int daemon_run(const struct daemon_options *o);
