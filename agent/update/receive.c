#include "update/receive.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/format.h"
#include "util/log.h"

int receiver_new(struct receiver **out, const struct config *c, const char *const *devices,
                 size_t n)
{
	struct receiver *rx = calloc(1, sizeof(*rx));
	if (!rx)
		return -ENOMEM;
	rx->config = c;
	rx->devices = devices;
	rx->n = n;
	*out = rx;
	return 0;
}

struct received *receiver_get(struct receiver *rx, const struct device_config *d)
{
	return &rx->dev[d - rx->config->devices];
}

bool receiver_asks(const struct receiver *rx, const char *device)
{
	bool asked = rx->n == 0;
	for (size_t i = 0; i < rx->n && !asked; i++)
		asked = !strcmp(rx->devices[i], device);
	return asked;
}

/* The entry of a configured device this run updates, or NULL. */
static struct received *wanted(struct receiver *rx, const char *device)
{
	const struct device_config *d = config_device(rx->config, device);
	return d && receiver_asks(rx, d->name) ? receiver_get(rx, d) : NULL;
}

/* Forget what e holds of an image (the slot too); the store stays locked. */
static void forget(struct received *e)
{
	char err[512];
	if (e->writing)
		store_write_abort(&e->w);
	if (e->committed && store_drop(&e->store, STORE_RECEIVED, err, sizeof(err)) < 0)
		log_debug("bundle: %s", err);
	e->writing = e->committed = false;
	e->img = NULL;
}

void receiver_free(struct receiver *rx)
{
	if (!rx)
		return;
	for (size_t i = 0; i < CONFIG_MAX_DEVICES; i++) {
		struct received *e = &rx->dev[i];
		if (!e->locked)
			continue;
		forget(e);
		store_close(&e->store);
		e->locked = false;
	}
	free(rx);
}

static int on_manifest(void *ctx, const struct swu_manifest *m, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	((struct receiver *)ctx)->manifest = m;
	return 0;
}

static int on_open(void *ctx, const struct swu_image *img, char *err, size_t errlen)
{
	struct receiver *rx = ctx;
	struct received *e = wanted(rx, img->device);
	if (!e)
		return SWU_SINK_SKIP; /* hashed by the reader, kept nowhere */
	const struct device_config *d = config_device(rx->config, img->device);
	if (!e->locked) {
		e->lock_code = store_open(rx->config->state_dir, d->name, &e->store, e->lock_error,
		                          sizeof(e->lock_error));
		e->locked = e->lock_code == 0;
		if (!e->locked) /* the device's outcome says so once the bundle verified */
			return SWU_SINK_SKIP;
	}
	struct slot_meta m = {.size = img->size,
	                      .address = img->has_address ? img->address : d->address};
	snprintf(m.version, sizeof(m.version), "%s", swu_image_version(rx->manifest, img));
	snprintf(m.sha256, sizeof(m.sha256), "%s", img->sha256_hex);
	int rc = store_receive_begin(&e->store, &m, &e->w, err, errlen);
	if (rc < 0)
		return rc;
	e->img = img;
	e->writing = true;
	return 0;
}

static int on_write(void *ctx, const struct swu_image *img, const uint8_t *data, size_t len,
                    char *err, size_t errlen)
{
	struct received *e = wanted(ctx, img->device);
	if (!e || !e->writing)
		return -EBADF;
	return store_write(&e->w, data, len, err, errlen);
}

static int on_commit(void *ctx, const struct swu_image *img, char *err, size_t errlen)
{
	struct received *e = wanted(ctx, img->device);
	if (!e || !e->writing)
		return -EBADF;
	e->writing = false; /* commit ends the writer, whatever it returns */
	int rc = store_write_commit(&e->w, err, errlen);
	e->committed = rc == 0;
	return rc;
}

static void on_abort(void *ctx, const struct swu_image *img)
{
	struct received *e = wanted(ctx, img->device);
	if (e && e->locked)
		forget(e);
}

const struct swu_sink_ops receiver_ops = {
    .manifest = on_manifest,
    .open = on_open,
    .write = on_write,
    .commit = on_commit,
    .abort = on_abort,
};
