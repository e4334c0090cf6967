/* Two sinks for the verifying reader that the tests and the fuzz harness use
 * to see what it hands on: a directory and memory. The agent streams images
 * into the store instead (agent/update/receive.c). */
#pragma once

#include "bundle/swu.h"

/* Files in a directory: each image is written to "<dir>/.<name>.part"
 * (created exclusively, mode 0600), fsync'd on commit, and renamed to
 * "<dir>/<name>" (then the directory fsync'd) only in finish. finish is the
 * commit point, all or nothing: an existing "<dir>/<name>" is first linked
 * aside as ".<name>.old", and when a later rename or the directory's fsync
 * fails, every name is put back as it was (the old files restored, new
 * names removed) before finish returns the error. abort unlinks only the
 * ".part" files, never a name. A crash inside finish may leave some names
 * replaced and their ".old" links beside them. */
struct swu_dir_sink;
extern const struct swu_sink_ops swu_dir_sink_ops;
__attribute__((warn_unused_result)) int swu_dir_sink_new(const char *dir, struct swu_dir_sink **out,
                                                         char *err, size_t errlen);
void swu_dir_sink_free(struct swu_dir_sink *s); /* accepts NULL; aborts nothing */

/* Memory: each image in its own buffer (at most the image's size); after a
 * successful finish swu_memory_sink_get() returns them. */
struct swu_memory_sink;
extern const struct swu_sink_ops swu_memory_sink_ops;
__attribute__((warn_unused_result)) int swu_memory_sink_new(struct swu_memory_sink **out);
/* The bytes of a finished image, or -ENOENT. The buffer stays owned by s. */
int swu_memory_sink_get(const struct swu_memory_sink *s, const char *filename, const uint8_t **data,
                        size_t *len);
void swu_memory_sink_free(struct swu_memory_sink *s); /* accepts NULL */

static inline void swu_dir_sink_freep(struct swu_dir_sink **s)
{
	swu_dir_sink_free(*s);
}
static inline void swu_memory_sink_freep(struct swu_memory_sink **s)
{
	swu_memory_sink_free(*s);
}
