/* Sinks for the .swu reader, for the tests: a directory (files appear only
 * when the whole bundle verified) and memory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "swu_sinks.h"
#include "util/format.h"
#include "util/log.h"

/* ---- directory ---- */

struct dir_entry {
	char *name;
	char part[SWU_MAX_NAME + 8]; /* ".<name>.part" */
	char old[SWU_MAX_NAME + 8];  /* ".<name>.old": what <name> was, during finish */
	int fd;
	bool has_old;  /* old holds a link to the file <name> had before */
	bool renamed;  /* part is at <name> now, finish not yet done */
	bool finished; /* finish succeeded: <name> is final, abort leaves it */
};

struct swu_dir_sink {
	int dirfd;
	char *dir;
	struct dir_entry *entries;
	size_t count, capacity;
};

int swu_dir_sink_new(const char *dir, struct swu_dir_sink **out, char *err, size_t errlen)
{
	struct swu_dir_sink *s;
	int fd;

	*out = NULL;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		mcu_ota_set_error(err, errlen, "%s: %s", dir, strerror(e));
		return -e;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->dir = strdup(dir))) {
		free(s);
		close(fd);
		return -ENOMEM;
	}
	s->dirfd = fd;
	*out = s;
	return 0;
}

void swu_dir_sink_free(struct swu_dir_sink *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->count; i++) {
		if (s->entries[i].fd >= 0)
			close(s->entries[i].fd);
		free(s->entries[i].name);
	}
	free(s->entries);
	free(s->dir);
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s);
}

static struct dir_entry *dir_find(struct swu_dir_sink *s, const char *name)
{
	for (size_t i = 0; i < s->count; i++)
		if (s->entries[i].name && strcmp(s->entries[i].name, name) == 0)
			return &s->entries[i];
	return NULL;
}

static int dir_open(void *ctx, const struct swu_image *img, char *err, size_t errlen)
{
	struct swu_dir_sink *s = ctx;
	struct dir_entry *e;

	if (dir_find(s, img->filename))
		return SWU_SINK_SKIP; /* one file for several devices: written once */
	if (s->count == s->capacity) {
		size_t cap = s->capacity ? 2 * s->capacity : 8;
		struct dir_entry *n = realloc(s->entries, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->entries = n;
		s->capacity = cap;
	}
	e = &s->entries[s->count];
	memset(e, 0, sizeof(*e));
	e->fd = -1;
	snprintf(e->part, sizeof(e->part), ".%s.part", img->filename);
	/* A leftover of an interrupted run is ours to replace. */
	if (unlinkat(s->dirfd, e->part, 0) < 0 && errno != ENOENT) {
		int x = errno;
		mcu_ota_set_error(err, errlen, "%s/%s: %s", s->dir, e->part, strerror(x));
		return -x;
	}
	e->fd =
	    openat(s->dirfd, e->part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (e->fd < 0) {
		int x = errno;
		mcu_ota_set_error(err, errlen, "%s/%s: %s", s->dir, e->part, strerror(x));
		return -x;
	}
	e->name = strdup(img->filename);
	if (!e->name) {
		close(e->fd);
		unlinkat(s->dirfd, e->part, 0);
		return -ENOMEM;
	}
	s->count++;
	return 0;
}

static int dir_write(void *ctx, const struct swu_image *img, const uint8_t *data, size_t len,
                     char *err, size_t errlen)
{
	struct swu_dir_sink *s = ctx;
	struct dir_entry *e = dir_find(s, img->filename);

	if (!e || e->fd < 0)
		return -EBADF;
	while (len > 0) {
		ssize_t n = write(e->fd, data, len);
		if (n < 0) {
			int x = errno;
			if (x == EINTR)
				continue;
			mcu_ota_set_error(err, errlen, "writing %s/%s: %s", s->dir, e->part,
			                  strerror(x));
			return -x;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int dir_commit(void *ctx, const struct swu_image *img, char *err, size_t errlen)
{
	struct swu_dir_sink *s = ctx;
	struct dir_entry *e = dir_find(s, img->filename);
	int r = 0;

	if (!e || e->fd < 0)
		return -EBADF;
	if (fsync(e->fd) < 0)
		r = -errno;
	if (close(e->fd) < 0 && r == 0)
		r = -errno;
	e->fd = -1;
	if (r < 0)
		mcu_ota_set_error(err, errlen, "%s/%s: %s", s->dir, e->part, strerror(-r));
	return r;
}

/* Put one committed image at its name: what the name held (a file or a
 * link, never a directory) is first linked aside as ".<name>.old", so that
 * dir_undo() can bring it back. */
static int dir_put_in_place(struct swu_dir_sink *s, struct dir_entry *e, char *err, size_t errlen)
{
	struct stat st;
	int x;

	snprintf(e->old, sizeof(e->old), ".%s.old", e->name);
	/* a leftover of a run that crashed inside finish */
	if (unlinkat(s->dirfd, e->old, 0) < 0 && errno != ENOENT) {
		x = errno;
		mcu_ota_set_error(err, errlen, "%s/%s: %s", s->dir, e->old, strerror(x));
		return -x;
	}
	if (fstatat(s->dirfd, e->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode)) {
			mcu_ota_set_error(err, errlen, "%s/%s is a directory: not replaced", s->dir,
			                  e->name);
			return -EISDIR;
		}
		if (linkat(s->dirfd, e->name, s->dirfd, e->old, 0) < 0) {
			x = errno;
			mcu_ota_set_error(err, errlen, "%s/%s: cannot keep the old file aside: %s",
			                  s->dir, e->name, strerror(x));
			return -x;
		}
		e->has_old = true;
	} else if (errno != ENOENT) {
		x = errno;
		mcu_ota_set_error(err, errlen, "%s/%s: %s", s->dir, e->name, strerror(x));
		return -x;
	}
	if (renameat(s->dirfd, e->part, s->dirfd, e->name) < 0) {
		x = errno;
		mcu_ota_set_error(err, errlen, "%s/%s: %s", s->dir, e->name, strerror(x));
		return -x;
	}
	e->renamed = true;
	return 0;
}

/* finish failed: every name is back to what it was before finish. */
static void dir_undo(struct swu_dir_sink *s)
{
	for (size_t i = 0; i < s->count; i++) {
		struct dir_entry *e = &s->entries[i];
		if (!e->name)
			continue;
		if (e->renamed && e->has_old) {
			if (renameat(s->dirfd, e->old, s->dirfd, e->name) < 0) {
				/* the old file stays at .<name>.old for whoever looks */
				log_debug("bundle: cannot put %s/%s back from %s: %s", s->dir,
				          e->name, e->old, strerror(errno));
				continue;
			}
		} else if (e->renamed) {
			unlinkat(s->dirfd, e->name, 0); /* nothing was there before */
		} else if (e->has_old) {
			unlinkat(s->dirfd, e->old, 0); /* <name> was never touched */
		}
		e->renamed = e->has_old = false;
	}
	if (fsync(s->dirfd) < 0)
		log_debug("bundle: %s: %s", s->dir, strerror(errno));
}

/* The commit point: every image at its name, or (on any failure) none, with
 * the old files where they were. */
static int dir_finish(void *ctx, char *err, size_t errlen)
{
	struct swu_dir_sink *s = ctx;
	int r = 0;

	for (size_t i = 0; i < s->count && r == 0; i++)
		if (s->entries[i].name && !s->entries[i].finished)
			r = dir_put_in_place(s, &s->entries[i], err, errlen);
	if (r == 0 && fsync(s->dirfd) < 0) {
		r = -errno;
		mcu_ota_set_error(err, errlen, "%s: %s", s->dir, strerror(-r));
	}
	if (r < 0) {
		dir_undo(s);
		return r;
	}
	for (size_t i = 0; i < s->count; i++) {
		struct dir_entry *e = &s->entries[i];
		if (!e->name)
			continue;
		if (e->has_old)
			unlinkat(s->dirfd, e->old, 0);
		e->has_old = e->renamed = false;
		e->finished = true;
	}
	return 0;
}

/* Never removes a name finish put in place: only what this sink wrote
 * beside it. */
static void dir_abort(void *ctx, const struct swu_image *img)
{
	struct swu_dir_sink *s = ctx;
	struct dir_entry *e = dir_find(s, img->filename);

	if (!e || e->finished)
		return;
	if (e->fd >= 0)
		close(e->fd);
	e->fd = -1;
	if (!e->renamed)
		unlinkat(s->dirfd, e->part, 0);
	free(e->name);
	e->name = NULL;
}

const struct swu_sink_ops swu_dir_sink_ops = {
    .open = dir_open,
    .write = dir_write,
    .commit = dir_commit,
    .finish = dir_finish,
    .abort = dir_abort,
};

/* ---- memory ---- */

struct mem_entry {
	char *name;
	uint8_t *data;
	size_t len, size;
};

struct swu_memory_sink {
	struct mem_entry *entries;
	size_t count, capacity;
	bool finished;
};

int swu_memory_sink_new(struct swu_memory_sink **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void swu_memory_sink_free(struct swu_memory_sink *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->count; i++) {
		free(s->entries[i].name);
		free(s->entries[i].data);
	}
	free(s->entries);
	free(s);
}

static struct mem_entry *mem_find(const struct swu_memory_sink *s, const char *name)
{
	for (size_t i = 0; i < s->count; i++)
		if (s->entries[i].name && strcmp(s->entries[i].name, name) == 0)
			return &s->entries[i];
	return NULL;
}

static int mem_open(void *ctx, const struct swu_image *img, char *err, size_t errlen)
{
	struct swu_memory_sink *s = ctx;
	struct mem_entry *e;

	(void)err;
	(void)errlen;
	if (mem_find(s, img->filename))
		return SWU_SINK_SKIP;
	if (s->count == s->capacity) {
		size_t cap = s->capacity ? 2 * s->capacity : 8;
		struct mem_entry *n = realloc(s->entries, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->entries = n;
		s->capacity = cap;
	}
	e = &s->entries[s->count];
	memset(e, 0, sizeof(*e));
	e->size = (size_t)img->size; /* exact: the reader knows the entry's size */
	e->data = malloc(e->size ? e->size : 1);
	e->name = strdup(img->filename);
	if (!e->data || !e->name) {
		free(e->data);
		free(e->name);
		return -ENOMEM;
	}
	s->count++;
	s->finished = false;
	return 0;
}

static int mem_write(void *ctx, const struct swu_image *img, const uint8_t *data, size_t len,
                     char *err, size_t errlen)
{
	struct mem_entry *e = mem_find(ctx, img->filename);

	if (!e)
		return -EBADF;
	if (len > e->size - e->len) {
		mcu_ota_set_error(err, errlen, "%s", "more bytes than the image's size");
		return -EFBIG;
	}
	memcpy(e->data + e->len, data, len);
	e->len += len;
	return 0;
}

static int mem_commit(void *ctx, const struct swu_image *img, char *err, size_t errlen)
{
	(void)ctx;
	(void)img;
	(void)err;
	(void)errlen;
	return 0;
}

static int mem_finish(void *ctx, char *err, size_t errlen)
{
	struct swu_memory_sink *s = ctx;
	(void)err;
	(void)errlen;
	s->finished = true;
	return 0;
}

static void mem_abort(void *ctx, const struct swu_image *img)
{
	struct mem_entry *e = mem_find(ctx, img->filename);
	if (!e)
		return;
	free(e->data);
	free(e->name);
	e->data = NULL;
	e->name = NULL;
	e->len = e->size = 0;
}

const struct swu_sink_ops swu_memory_sink_ops = {
    .open = mem_open,
    .write = mem_write,
    .commit = mem_commit,
    .finish = mem_finish,
    .abort = mem_abort,
};

int swu_memory_sink_get(const struct swu_memory_sink *s, const char *filename, const uint8_t **data,
                        size_t *len)
{
	const struct mem_entry *e = s && s->finished ? mem_find(s, filename) : NULL;
	if (!e)
		return -ENOENT;
	*data = e->data;
	*len = e->len;
	return 0;
}
