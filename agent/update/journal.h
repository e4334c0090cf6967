/* The update journal: one small file per device, <store>/journal, saying
 * which step of an update is under way. Each transition is saved (atomic
 * write, fsync'd) BEFORE the step is acted on, so that after a crash or
 * power loss the next start knows what may be half done. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "update/store.h"

enum update_state {
	UPDATE_IDLE = 0,     /* nothing under way; current is on the chip */
	UPDATE_STAGED,       /* a verified image waits in staged */
	UPDATE_BACKING_UP,   /* reading the chip's firmware into previous */
	UPDATE_ENTERING,     /* putting the chip into its bootloader */
	UPDATE_FLASHING,     /* erasing, writing and verifying staged */
	UPDATE_EXITING,      /* leaving the bootloader */
	UPDATE_CHECKING,     /* waiting for the application to come back */
	UPDATE_COMMITTING,   /* staged becomes current */
	UPDATE_ROLLING_BACK, /* flashing previous back */
	UPDATE_FAILED,       /* rollback failed too: needs a person */
};
#define UPDATE_STATE_COUNT (UPDATE_FAILED + 1)

/* How the last update (or rollback) ended, for `mcu-ota status`. */
enum update_result {
	RESULT_NONE = 0,    /* never updated */
	RESULT_INSTALLED,   /* the new image runs and passed its health check */
	RESULT_ROLLED_BACK, /* it failed; the image from before runs again */
	RESULT_FAILED,      /* it failed and so did the rollback (state failed) */
	RESULT_UNCHANGED,   /* it failed before the chip was touched */
};
#define UPDATE_RESULT_COUNT (RESULT_UNCHANGED + 1)

struct journal {
	enum update_state state;
	enum update_result result;
	char version[STORE_VERSION_MAX]; /* the version being installed */
	char sha256[65];
	char error[1024];  /* why the last update failed, "" when it did not */
	uint64_t sequence; /* grows by one with every save */
	int64_t time;      /* when it was saved (Unix seconds) */
};

const char *update_state_name(enum update_state state);
const char *update_result_name(enum update_result result);

/* A missing journal reads as UPDATE_IDLE; -EBADMSG when it is corrupt. */
__attribute__((warn_unused_result)) int journal_load(const struct store *s, struct journal *j,
                                                     char *err, size_t errlen);
/* Saves j with the next sequence number. */
__attribute__((warn_unused_result)) int journal_save(const struct store *s, struct journal *j,
                                                     char *err, size_t errlen);
