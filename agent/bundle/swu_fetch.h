/* The verifying reader as the consumer of a download kept on disk
 * (fetch/resume.h): every byte goes through swu_reader_feed(), a start over
 * resets the reader, and the end of the body is swu_reader_finish(). For the
 * commands and the engine that download a bundle; header only, so that the
 * bundle library does not link the fetch library. */
#pragma once

#include "bundle/swu.h"
#include "fetch/resume.h"

static inline int swu_fetch_feed(void *reader, const uint8_t *data, size_t len, char *err,
                                 size_t errlen)
{
	return swu_reader_feed(reader, data, len, err, errlen);
}

static inline void swu_fetch_restart(void *reader)
{
	swu_reader_reset(reader);
}

static inline int swu_fetch_finish(void *reader, char *err, size_t errlen)
{
	return swu_reader_finish(reader, err, errlen);
}

static inline struct fetch_part_consumer swu_fetch_consumer(struct swu_reader *r)
{
	return (struct fetch_part_consumer){swu_fetch_feed, swu_fetch_restart, swu_fetch_finish, r};
}
