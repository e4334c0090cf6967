/* What the daemon remembers of its last attempt at a device's desired
 * firmware (cache_dir/<device>.poll): the source and version it tried, the
 * validators the source had then, and how it ended. A bundle that failed is
 * not tried again while all of these stay the same (no update loop), and an
 * unchanged URL is asked for with a conditional GET (304: nothing to do). */
#pragma once

#include <stdbool.h>

#include "fetch/fetch.h"

enum poll_outcome {
	POLL_NONE = 0, /* no attempt recorded */
	POLL_OK,       /* installed, or was installed already */
	POLL_FAILED,   /* rolled back, failed, or refused (did not verify, wrong version) */
};

struct poll_record {
	char source[2048];
	char version[72]; /* the configured version wanted, "" for any */
	char etag[FETCH_MAX_VALIDATOR];
	char last_modified[FETCH_MAX_VALIDATOR];
	enum poll_outcome outcome;
};

/* A missing or unreadable record reads as empty (outcome POLL_NONE). */
void poll_record_load(const char *cache_dir, const char *device, struct poll_record *r);
__attribute__((warn_unused_result)) int poll_record_save(const char *cache_dir, const char *device,
                                                         const struct poll_record *r, char *err,
                                                         size_t errlen);
