/* What the daemon remembers of its last attempt at a device's desired
 * firmware (cache_dir/<device>.poll, mode 0600): which source and version it
 * tried, the validators the source had then, and how it ended. A bundle that
 * failed is not tried again while all of these stay the same (no update
 * loop), and an unchanged URL is asked for with a conditional GET (304:
 * nothing to do). The source is kept as the SHA-256 of its whole text, never
 * the text: a URL may carry a password (user info) or a token (query). */
#pragma once

#include <stdbool.h>

#include "fetch/fetch.h"

enum poll_outcome {
	POLL_NONE = 0, /* no attempt recorded */
	POLL_OK,       /* installed, or was installed already */
	POLL_FAILED,   /* rolled back, failed, or refused (did not verify, wrong version) */
};

struct poll_record {
	char source_sha256[65]; /* lower-case hex; "" when none is recorded */
	char version[72];       /* the configured version wanted, "" for any */
	char etag[FETCH_MAX_VALIDATOR];
	char last_modified[FETCH_MAX_VALIDATOR];
	enum poll_outcome outcome;
};

/* A missing or unreadable record reads as empty (outcome POLL_NONE). A
 * record an older mcu-ota wrote (the source in clear, readable by all) is
 * read, then written again in this form, and the log says so. */
void poll_record_load(const char *cache_dir, const char *device, struct poll_record *r);
__attribute__((warn_unused_result)) int poll_record_save(const char *cache_dir, const char *device,
                                                         const struct poll_record *r, char *err,
                                                         size_t errlen);
/* Record source (its digest) in r; whether r's source is source. */
void poll_record_set_source(struct poll_record *r, const char *source);
bool poll_record_same_source(const struct poll_record *r, const char *source);
