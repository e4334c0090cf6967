/* The sink engine_update() gives the verifying reader (bundle/swu.h): each
 * image for a device this run updates goes, as it arrives, into that
 * device's store as its received slot (update/store.h), the store locked
 * first; every other image (a device this gateway does not have, or one not
 * asked for) is only hashed by the reader and dropped (SWU_SINK_SKIP).
 * Nothing is held in memory but the reader's chunk.
 *
 * The reader checks each image's SHA-256 as it passes and calls commit only
 * when it matched; any failure of the bundle aborts every image opened, and
 * the received slot goes. A received slot is never an install: the engine
 * makes it the staged one only after the whole bundle verified and the
 * device's version policy agreed; a crash leaves a received slot that the
 * next store_open drops. */
#pragma once

#include <stdbool.h>

#include "bundle/swu.h"
#include "config/config.h"
#include "update/store.h"

struct received {
	const struct swu_image *img; /* the device's image, once it began to arrive */
	struct store store;
	bool locked;   /* store is open, its lock ours */
	int lock_code; /* store_open's failure (another process drives the device) */
	char lock_error[512];
	struct store_writer w;
	bool writing;   /* w is open */
	bool committed; /* the image is whole and its hash matched */
};

struct receiver {
	const struct config *config;
	const char *const *devices; /* the devices asked for; n == 0: every one */
	size_t n;
	const struct swu_manifest *manifest;
	struct received dev[CONFIG_MAX_DEVICES]; /* by the device's index in config */
};

extern const struct swu_sink_ops receiver_ops;

/* A receiver for the devices asked for (n == 0: every configured one);
 * -ENOMEM. */
__attribute__((warn_unused_result)) int receiver_new(struct receiver **out, const struct config *c,
                                                     const char *const *devices, size_t n);
/* Whether this run updates device (one of those asked for, or all). */
bool receiver_asks(const struct receiver *rx, const char *device);
/* What was received for configured device d. Whoever takes its store
 * (locked) sets locked to false, and then drops the received slot itself. */
struct received *receiver_get(struct receiver *rx, const struct device_config *d);
/* Every store still held: its received slot dropped, its lock released. */
void receiver_free(struct receiver *rx);

static inline void receiver_freep(struct receiver **rx)
{
	receiver_free(*rx);
}
