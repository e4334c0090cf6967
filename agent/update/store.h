/* The per-device image store:
 *
 *   <state_dir>/devices/<name>/
 *       lock                   flock'd while a process drives the device
 *       current/  image.bin meta   what we believe is on the chip
 *       previous/ image.bin meta   what to roll back to
 *       staged/   image.bin meta   verified, not yet installed
 *       received/ image.bin meta   an image as a bundle delivers it, written
 *                              while the bundle is read (update/receive.h);
 *                              it belongs to the process that received it,
 *                              so store_open drops any it finds
 *       mark                   the high-water mark: the highest version ever
 *                              committed (anti-rollback; update/engine.c)
 *
 * A slot is a folder so that an image and its metadata change together, by
 * one rename. A slot folder exists only complete (built as <slot>.new, fsync'd,
 * renamed, the parent fsync'd); every step of store_promote can be repeated
 * after a crash and ends in the same place. The journal (update/journal.h)
 * says which step was under way.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_NAME_MAX    64
#define STORE_VERSION_MAX 65            /* bundle/version.h VERSION_MAX_LEN, and the NUL */
#define STORE_META_MAX    4096          /* a meta file larger than this is corrupt */
#define STORE_MAX_IMAGE   (64ull << 20) /* a larger size in a meta file is corrupt */
/* Only the owner (root) reads the store: a chip's read-back firmware is the
 * vendor's and may hold secrets. Every folder and file of it is made with
 * these modes, and an older store's wider ones are narrowed by store_open. */
#define STORE_DIR_MODE  0700
#define STORE_FILE_MODE 0600

enum store_slot { STORE_CURRENT, STORE_PREVIOUS, STORE_STAGED, STORE_RECEIVED };

struct slot_meta {
	char version[STORE_VERSION_MAX];
	char sha256[65]; /* lower-case hex */
	uint64_t size;
	uint32_t address; /* where the image starts on the chip */
};

struct store {
	char dir[4096]; /* <state_dir>/devices/<name> */
	int lock_fd;
};

struct store_writer {
	struct store *store;
	int fd;
	void *md; /* EVP_MD_CTX; NULL when the caller checks the hash (store_receive_begin) */
	uint64_t written;
	struct slot_meta expect;
	enum store_slot slot;
};

const char *store_slot_name(enum store_slot slot);

/* Create the device's folder if needed and lock it: -EBUSY when another
 * process holds the lock, -EINVAL for a device name that is not
 * [A-Za-z0-9_-]{1,64}. */
__attribute__((warn_unused_result)) int store_open(const char *state_dir, const char *device,
                                                   struct store *s, char *err, size_t errlen);
/* For reading only (status): no folder is created, no lock taken, nothing
 * tidied; -ENOENT when the device has never been updated. Slots change by
 * rename, so what is read is always a whole slot. */
__attribute__((warn_unused_result)) int store_open_readonly(const char *state_dir,
                                                            const char *device, struct store *s,
                                                            char *err, size_t errlen);
void store_close(struct store *s);

/* -ENOENT when the slot is empty, -EBADMSG when its meta is corrupt. */
__attribute__((warn_unused_result)) int store_meta(const struct store *s, enum store_slot slot,
                                                   struct slot_meta *meta, char *err,
                                                   size_t errlen);
/* The image, read whole and checked against the slot's SHA-256 (-EBADMSG
 * when it does not match). The caller frees *data. */
__attribute__((warn_unused_result)) int store_load(const struct store *s, enum store_slot slot,
                                                   uint8_t **data, size_t *len, char *err,
                                                   size_t errlen);
/* The same into the caller's buffer of exactly meta->size bytes (meta from
 * store_meta), read in chunks; buf NULL only checks the SHA-256. */
__attribute__((warn_unused_result)) int store_read(const struct store *s, enum store_slot slot,
                                                   const struct slot_meta *meta, uint8_t *buf,
                                                   char *err, size_t errlen);
/* The slot's image file open for reading (-errno, with err, when it is not
 * there); nothing is checked: for reading an image in place (mmap). */
__attribute__((warn_unused_result)) int store_image_fd(const struct store *s, enum store_slot slot,
                                                       char *err, size_t errlen);

/* Write an image into a slot (staged, or previous for a chip read back
 * before its first update) as it streams: commit checks size and SHA-256
 * against expect and only then replaces the slot. */
__attribute__((warn_unused_result)) int store_write_begin(struct store *s, enum store_slot slot,
                                                          const struct slot_meta *expect,
                                                          struct store_writer *w, char *err,
                                                          size_t errlen);
__attribute__((warn_unused_result)) int store_write(struct store_writer *w, const void *data,
                                                    size_t len, char *err, size_t errlen);
__attribute__((warn_unused_result)) int store_write_commit(struct store_writer *w, char *err,
                                                           size_t errlen);
void store_write_abort(struct store_writer *w);
/* The received slot, written as a bundle streams in by a caller that hashes
 * the same bytes itself (the bundle reader): they are not hashed again, and
 * commit checks the size only. */
__attribute__((warn_unused_result)) int store_receive_begin(struct store *s,
                                                            const struct slot_meta *expect,
                                                            struct store_writer *w, char *err,
                                                            size_t errlen);
/* Slot from replaces slot to, whole, by renames (a received raw binary is
 * already the image to stage). */
__attribute__((warn_unused_result)) int store_move(struct store *s, enum store_slot from,
                                                   enum store_slot to, char *err, size_t errlen);
/* Slot from, checked against its SHA-256, copied into slot to in chunks. */
__attribute__((warn_unused_result)) int store_copy(struct store *s, enum store_slot from,
                                                   enum store_slot to, char *err, size_t errlen);

/* staged -> current, the old current -> previous. Repeatable: after a crash
 * at any point, calling it again finishes the job. */
__attribute__((warn_unused_result)) int store_promote(struct store *s, char *err, size_t errlen);
/* Remove a slot (e.g. a staged image that will not be installed). */
__attribute__((warn_unused_result)) int store_drop(struct store *s, enum store_slot slot, char *err,
                                                   size_t errlen);

/* The device's high-water mark, "version=<v>\n" in <dir>/mark, written
 * atomically. The store keeps the text; the engine gives it meaning.
 * -ENOENT when none was recorded, -EBADMSG when the file is corrupt. */
__attribute__((warn_unused_result)) int
store_mark_load(const struct store *s, char version[STORE_VERSION_MAX], char *err, size_t errlen);
__attribute__((warn_unused_result)) int store_mark_save(struct store *s, const char *version,
                                                        char *err, size_t errlen);
