/* The update engine: one device's update as a journaled state machine.
 *
 *   staged -> [backing-up] -> entering -> flashing -> exiting -> checking
 *          -> committing -> idle
 *
 * Every state is saved in the device's journal (update/journal.h) before it
 * is acted on. On invariants:
 *   - "current" is what runs on the chip whenever the journal is idle. Before
 *     the first update of a chip with no stored image, the chip's firmware is
 *     read back into current (backing-up), so that it becomes "previous" when
 *     the update commits.
 *   - Until committing, a failure (a DfuSe error, a read-back mismatch, a
 *     failed exit or health check) restores current: rolling-back writes it
 *     back over every sector either image touched, verifies it, boots it and
 *     checks its health. When that fails too the device is marked failed and
 *     nothing is retried on its own.
 *   - A start after a crash (engine_recover, and every update or rollback
 *     before its own work) finishes what the journal shows: an intact staged
 *     image is installed (skip-unchanged makes a repeat cheap), committing is
 *     repeated, a rollback is finished, and a damaged staged image leads to
 *     the rollback.
 *   - The device's store lock is held throughout, so two mcu-ota processes
 *     never drive one device.
 * Independent devices are updated in parallel, one thread each.
 *
 * Anti-rollback (issue 12), as SWUpdate's -N, RAUC and Uptane do it: each
 * device keeps a high-water mark in its store, the highest version ever
 * committed on it, raised at every commit. An update, or a rollback, to a
 * version below max(mark, the device's min_version) is refused unless the
 * caller gives allow_downgrade (root's --allow-downgrade); so is one whose
 * version cannot be compared (the "unknown" image read back before the
 * first update) while such a floor exists. The mark never goes down. The
 * device setting allow_downgrade only lets in a version older than current
 * that is not below the mark: since the mark follows every commit, that
 * leaves nothing in practice.
 *
 * Test hook: MCU_OTA_CRASH_AT=<state> in the environment makes the process
 * kill itself with SIGKILL right after that state is journaled (before it is
 * acted on): power loss at a chosen step. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "update/journal.h"

/* The version stored for an image read back from a chip before its first
 * update, and for a chip that was blank then. */
#define ENGINE_VERSION_UNKNOWN "unknown"
#define ENGINE_VERSION_BLANK   "blank"

struct engine_options {
	const struct config *config;
	const char *plugin_dir; /* NULL: config's, else the default search */
	bool quiet;             /* no progress lines */
	/* Optional: progress of each device (called from its thread): the
	 * flasher's phases with bytes, and each journaled state (entering,
	 * checking, ...) with done = total = 0. The download's is reported with
	 * device "" and phase "download". */
	void (*progress)(void *ctx, const char *device, const char *phase, uint64_t done,
	                 uint64_t total);
	void *progress_ctx;
	volatile sig_atomic_t *cancel; /* stops a download */

	/* engine_update only, all optional: */
	const char *source_name; /* the bundle's name in messages (NULL: source) */
	/* -1: none. >= 0: the bundle is read from this descriptor (a regular
	 * file a daemon's client opened and passed; read with pread from byte 0,
	 * never re-opened), and source is only its name. Set it to -1 when
	 * there is none: 0 is a descriptor too. */
	int source_fd;
	/* The version devices[i]'s image must have (NULL entries or array: any).
	 * A bundle with another one is refused with -ESRCH, no device touched. */
	const char *const *expect_versions;
	/* A conditional download: when the URL answers 304 to these validators,
	 * engine_update returns 0 with *count 0 and fetched->not_modified. */
	const char *if_none_match;
	const char *if_modified_since;
	struct fetch_result *fetched; /* the download's result (validators) */
	/* The image that runs, the same version and bytes, is left alone (the
	 * daemon's polls: a re-published bundle); off, it is written again (a
	 * person who asks for it may be mending a chip). */
	bool skip_running_image;
	/* The caller may install below the device's high-water mark (and roll
	 * back below it): root's explicit --allow-downgrade. */
	bool allow_downgrade;
};

/* What the store says of a device, read without its lock (atomic files):
 * for status and the daemon's decisions. */
struct engine_status {
	bool known; /* the device has a store */
	bool has_current, has_previous;
	struct slot_meta current, previous;
	struct journal journal;
	/* The high-water mark (anti-rollback): the highest version committed
	 * ("" when none), and whether it is only the version current holds (a
	 * store written before marks were kept). */
	char mark[STORE_VERSION_MAX];
	bool mark_from_current;
	char error[512]; /* why the store could not be read */
};
void engine_status(const struct config *c, const struct device_config *dev,
                   struct engine_status *s);

/* What happened to one device. */
struct engine_outcome {
	char device[STORE_NAME_MAX + 1];
	enum update_result result; /* RESULT_NONE: nothing was needed */
	int code;                  /* 0, or the negative errno of the failure; -EPERM only when the
	                            * version policy refused a downgrade that root may allow */
	char version[STORE_VERSION_MAX];
	char message[1024]; /* one line: what was done, or why it failed */
};

/* Verify the bundle (a file, or an https:// URL) and install each of its
 * images on its device: the devices named in devices[0..n) (each must have
 * an image in the bundle), or every configured device the bundle has an
 * image for when n == 0. Nothing unverified reaches a device: the whole
 * bundle verifies before the first device is touched. outcomes gets one
 * entry per device (at most CONFIG_MAX_DEVICES), *count their number.
 * Returns 0 when the bundle was usable (see the outcomes), else a negative
 * code with err set and no device touched: -ESRCH when a device is not
 * configured or the bundle has no image for it, the reader's codes
 * (bundle/swu.h) when it does not verify, fetch_url's when a download
 * fails. */
__attribute__((warn_unused_result)) int
engine_update(const struct engine_options *o, const char *source, const char *const *devices,
              size_t n, struct engine_outcome *outcomes, size_t *count, char *err, size_t errlen);

/* Install the device's previous image (which then becomes current, and the
 * current one previous). */
void engine_rollback(const struct engine_options *o, const struct device_config *dev,
                     struct engine_outcome *out);

/* Bring a device whose journal shows an unfinished update to a good state
 * (result RESULT_NONE when there was nothing to do). */
void engine_recover(const struct engine_options *o, const struct device_config *dev,
                    struct engine_outcome *out);
