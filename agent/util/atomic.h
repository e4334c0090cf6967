/* Files that are either complete or absent, across crashes and power loss:
 * written beside their final name, fsync'd, renamed over it, and the folder
 * fsync'd so the rename itself is durable. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Write all of data to fd, through short writes and EINTR: 0 or a negative
 * errno (-EIO when write() wrote nothing). */
__attribute__((warn_unused_result)) int write_all(int fd, const void *data, size_t len);

/* 0 or a negative errno; on failure nothing is left at path or beside it. */
__attribute__((warn_unused_result)) int atomic_write_file(const char *path, const void *data,
                                                          size_t len, mode_t mode);

/* For content produced in pieces: open a temporary file beside path... */
struct atomic_file {
	int fd;
	char tmp[4096];
	char path[4096];
};
__attribute__((warn_unused_result)) int atomic_file_open(struct atomic_file *f, const char *path,
                                                         mode_t mode);
__attribute__((warn_unused_result)) int atomic_file_write(struct atomic_file *f, const void *data,
                                                          size_t len);
/* ...then make it appear at path (fsync, rename, fsync the folder)... */
__attribute__((warn_unused_result)) int atomic_file_commit(struct atomic_file *f);
/* ...or remove it. Safe after commit and on a file that never opened. */
void atomic_file_abort(struct atomic_file *f);

/* fsync the folder that holds path, so a rename or unlink in it is durable. */
__attribute__((warn_unused_result)) int fsync_parent(const char *path);
