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

struct journal {
	enum update_state state;
	char version[STORE_VERSION_MAX]; /* the version being installed */
	char sha256[65];
	char error[256];   /* why the last update failed, "" when it did not */
	uint64_t sequence; /* grows by one with every save */
};

const char *update_state_name(enum update_state state);

/* A missing journal reads as UPDATE_IDLE; -EBADMSG when it is corrupt. */
__attribute__((warn_unused_result)) int journal_load(const struct store *s, struct journal *j,
                                                     char *err, size_t errlen);
/* Saves j with the next sequence number. */
__attribute__((warn_unused_result)) int journal_save(const struct store *s, struct journal *j,
                                                     char *err, size_t errlen);
