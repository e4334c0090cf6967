/* Downloads kept on disk, so that a later run asks only for the rest.
 *
 * A part file holds the first bytes of one URL's body, exactly as they were
 * accepted, with a description beside it (PART.meta: the URL's SHA-256, the
 * body's ETag / Last-Modified and size). While a process uses the part it
 * holds an flock on it: a second one gets -EBUSY. The part is mode 0600,
 * never written through a link, and grows only with bytes the consumer (the
 * verifying reader) accepted, so it is capped by the download's max_size.
 *
 * fetch_part_download() first replays what an earlier run kept through the
 * consumer (checked like any download, never trusted), then asks the server
 * for the rest with Range and If-Range: a file that changed on the server
 * comes back whole and the consumer starts over from byte 0. The consumer
 * sees every byte of the body, from 0, in order. At the end the part is
 * committed (renamed to its final name, or removed once its bytes were used),
 * or closed: kept when the network, the server, TLS or a cancel stopped the
 * download and a validator ties the bytes to the server's file; removed when
 * the consumer refused the body, a limit was hit or nothing could resume. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <mcu-ota/cleanup.h>

#include "fetch/fetch.h"

/* Who takes the body. */
struct fetch_part_consumer {
	fetch_sink_fn feed;         /* required: check and take the next bytes */
	void (*restart)(void *ctx); /* required: forget every byte fed so far */
	/* Optional: the whole body was fed; 0 when it is good. A refusal here
	 * of a body that went on from an earlier run's bytes gets one more
	 * download from byte 0 before it counts. */
	int (*finish)(void *ctx, char *err, size_t errlen);
	void *ctx;
};

struct fetch_part {
	/* For the caller to read: */
	uint64_t resumed_from; /* bytes an earlier run kept that this one went on from */
	bool refused;          /* the consumer refused the body: err is its reason */
	bool write_failed;     /* a local error on the part file: err says which */
	char path[4096];       /* the part file */

	/* The module's own: */
	char meta_path[4096 + 8];
	char url_sha256[65];
	char etag[FETCH_MAX_VALIDATOR];
	char last_modified[FETCH_MAX_VALIDATOR];
	uint64_t total;
	bool meta_ok;   /* meta describes the part: a later run may resume it */
	bool keep;      /* the download failed in a way a later run can go on from */
	bool committed; /* the part's name is settled */
	int fd;
	uint64_t size; /* bytes the part holds */
	const struct fetch_part_consumer *consumer;
	fetch_progress_fn progress; /* the caller's, with its ctx */
	void *progress_ctx;
};

/* Open (or create, mode 0600) the part file at path, locked for this
 * process; its description is path + ".meta". -EBUSY when another process
 * holds it; err says what went wrong. */
__attribute__((warn_unused_result)) int fetch_part_open(struct fetch_part **out, const char *path,
                                                        const char *url, char *err, size_t errlen);

/* The same, at dir/<SHA-256 of url>.part: dir (mode 0700) and its parent are
 * created when missing. For callers with a folder of their own. */
__attribute__((warn_unused_result)) int fetch_part_open_in(struct fetch_part **out, const char *dir,
                                                           const char *url, char *err,
                                                           size_t errlen);

/* Download url through the part into c: o holds the caller's settings (TLS,
 * limits, progress with its ctx, cancel, conditional headers); its sink,
 * reset, content and resume_* fields are the part's own. 0 when the body is complete
 * and c->finish found it good (or res->not_modified), else fetch_url's code
 * or the consumer's, with err set and p->refused / p->write_failed telling
 * who failed. */
__attribute__((warn_unused_result)) int fetch_part_download(struct fetch_part *p, const char *url,
                                                            const struct fetch_options *o,
                                                            const struct fetch_part_consumer *c,
                                                            struct fetch_result *res, char *err,
                                                            size_t errlen);

/* After a successful download: dest NULL removes the part (its bytes were
 * used as they came); else the part becomes dest (mode 0644 less the umask,
 * fsync'd, renamed, folder fsync'd). The description goes either way. */
__attribute__((warn_unused_result)) int fetch_part_commit(struct fetch_part *p, const char *dest,
                                                          char *err, size_t errlen);

/* Release the part: kept for a later run when the download can go on from it
 * (returns its size, fsync'd), else removed with its description (returns
 * 0). Unlocks it. p may be NULL. */
uint64_t fetch_part_close(struct fetch_part *p);

static inline void fetch_part_closep(struct fetch_part **p)
{
	fetch_part_close(*p);
}
