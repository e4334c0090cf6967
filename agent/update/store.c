#include "update/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mcu-ota/cleanup.h>
#include <openssl/evp.h>

#include "util/atomic.h"
#include "util/format.h"
#include "util/log.h"

#define IMAGE_FILE "image.bin"
#define META_FILE  "meta"
#define MARK_FILE  "mark"
/* <dir>/<slot><.new|.old>/<file>: s->dir holds at most 4095 bytes */
#define PATH_BUF (sizeof(((struct store *)0)->dir) + 32)

static const char *const slot_names[] = {"current", "previous", "staged", "received"};
#define CHUNK (64u << 10) /* images are read and copied in pieces of this size */

const char *store_slot_name(enum store_slot slot)
{
	return slot_names[slot];
}

/* <dir>/<name><suffix>[/<file>]; every path in the store is made here. */
static int path_of(char out[PATH_BUF], const struct store *s, const char *name, const char *suffix,
                   const char *file)
{
	int n = snprintf(out, PATH_BUF, "%s/%s%s%s%s", s->dir, name, suffix, file ? "/" : "",
	                 file ? file : "");
	return n < 0 || (size_t)n >= PATH_BUF ? -ENAMETOOLONG : 0;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* Remove a slot folder: its files, then itself. Slots hold no subfolders. */
static int remove_slot_dir(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	int r = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT)
			r = -errno;
	}
	closedir(d);
	if (r == 0 && rmdir(path) < 0 && errno != ENOENT)
		r = -errno;
	return r;
}

static int mkdir_p(const char *path)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, STORE_DIR_MODE) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, STORE_DIR_MODE) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static bool valid_device_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > STORE_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return false;
	return true;
}

/* Leftovers of an interrupted write or promotion: a "<slot>.new" was never
 * renamed into place (drop it); a "<slot>.old" whose slot is missing was
 * moved aside by a step that did not finish (put it back). A received image
 * was another run's: dropped whole. */
static int tidy(struct store *s)
{
	for (size_t i = 0; i < sizeof(slot_names) / sizeof(*slot_names); i++) {
		char slot[PATH_BUF], aside[PATH_BUF];
		int r = path_of(slot, s, slot_names[i], "", NULL);
		if (r < 0)
			return r;
		if (i == STORE_RECEIVED && (r = remove_slot_dir(slot)) < 0)
			return r;
		path_of(aside, s, slot_names[i], ".new", NULL);
		if ((r = remove_slot_dir(aside)) < 0)
			return r;
		path_of(aside, s, slot_names[i], ".old", NULL);
		if (exists(aside)) {
			if (exists(slot))
				r = remove_slot_dir(aside);
			else if (rename(aside, slot) < 0)
				r = -errno;
			if (r < 0)
				return r;
		}
	}
	/* a journal or mark save cut short leaves its temporary file (util/atomic.h) */
	DIR *d = opendir(s->dir);
	if (!d)
		return -errno;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		if (!strncmp(e->d_name, "journal.tmp-", 12) || !strncmp(e->d_name, "mark.tmp-", 9))
			(void)unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	char any[PATH_BUF];
	path_of(any, s, "lock", "", NULL);
	return fsync_parent(any); /* the device folder, where the renames happened */
}

/* Narrow name (in dfd) to the owner's bits: folders 0700, files 0600, and
 * the same inside a folder, depth levels down. Symbolic links and anything
 * else are left alone. Counts what changed in *changed. */
static int tighten_at(int dfd, const char *name, int depth, unsigned *changed)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	bool dir = S_ISDIR(st.st_mode);
	if (!dir && !S_ISREG(st.st_mode))
		return 0;
	mode_t mode = st.st_mode & 07777, want = mode & (dir ? STORE_DIR_MODE : STORE_FILE_MODE);
	if (dir)
		want |= STORE_DIR_MODE; /* the owner must still get in */
	if (mode != want) {
		if (fchmodat(dfd, name, want, 0) < 0)
			return -errno;
		(*changed)++;
	}
	if (!dir || depth == 0)
		return 0;
	_cleanup_(closep) int fd =
	    openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d)
		return -errno;
	take_fd(&fd); /* closedir closes it */
	int r = 0;
	for (struct dirent *e; r == 0 && (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			r = tighten_at(dirfd(d), e->d_name, depth - 1, changed);
	closedir(d);
	return r;
}

/* A store made before the modes were narrowed (folders 0755, files 0644,
 * readable by every user) is narrowed when it is next opened, and the log
 * says so once: after that there is nothing left to narrow. The state_dir
 * itself is the administrator's (it may be shared) and is left as it is. */
static int tighten(struct store *s)
{
	char devices[PATH_BUF];
	unsigned changed = 0;
	snprintf(devices, sizeof(devices), "%s", s->dir);
	char *slash = strrchr(devices, '/'); /* <state_dir>/devices/<name> */
	if (!slash)
		return 0;
	*slash = '\0';
	int r = tighten_at(AT_FDCWD, devices, 0, &changed);
	if (r == 0) /* the device's folder: its files, slot folders and their files */
		r = tighten_at(AT_FDCWD, s->dir, 2, &changed);
	if (r == 0 && changed)
		log_warning(
		    "%s: %u folder(s) and file(s) of the store could be read by other users: "
		    "narrowed to 0700 (folders) and 0600 (files)",
		    s->dir, changed);
	return r;
}

int store_open_readonly(const char *state_dir, const char *device, struct store *s, char *err,
                        size_t errlen)
{
	struct stat st;
	s->lock_fd = -1;
	if (!valid_device_name(device)) {
		mcu_ota_set_error(err, errlen, "device name \"%s\" is not valid", device);
		return -EINVAL;
	}
	if (snprintf(s->dir, sizeof(s->dir), "%s/devices/%s", state_dir, device) >=
	    (int)sizeof(s->dir)) {
		mcu_ota_set_error(err, errlen, "state directory path too long");
		return -ENAMETOOLONG;
	}
	if (stat(s->dir, &st) < 0) {
		int r = -errno;
		mcu_ota_set_error(err, errlen, "cannot read %s: %s", s->dir, strerror(-r));
		return r;
	}
	return 0;
}

int store_open(const char *state_dir, const char *device, struct store *s, char *err, size_t errlen)
{
	s->lock_fd = -1;
	if (!valid_device_name(device)) {
		mcu_ota_set_error(
		    err, errlen,
		    "device name \"%s\" is not valid: use 1 to 64 letters, digits, - and _",
		    device);
		return -EINVAL;
	}
	if (snprintf(s->dir, sizeof(s->dir), "%s/devices/%s", state_dir, device) >=
	    (int)sizeof(s->dir)) {
		mcu_ota_set_error(err, errlen, "state directory path too long");
		return -ENAMETOOLONG;
	}
	int r = mkdir_p(s->dir);
	if (r < 0) {
		mcu_ota_set_error(err, errlen, "cannot create %s: %s", s->dir, strerror(-r));
		return r;
	}
	char lock[PATH_BUF];
	path_of(lock, s, "lock", "", NULL);
	s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, STORE_FILE_MODE);
	if (s->lock_fd < 0) {
		r = -errno;
		mcu_ota_set_error(err, errlen, "cannot open %s: %s", lock, strerror(-r));
		return r;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		mcu_ota_set_error(
		    err, errlen,
		    r == -EBUSY ? "device %s is being driven by another mcu-ota process; wait for "
		                  "it to finish"
		                : "cannot lock device %s: %s",
		    device, strerror(-r));
		close(s->lock_fd);
		s->lock_fd = -1;
		return r;
	}
	r = tighten(s);
	if (r < 0) {
		mcu_ota_set_error(err, errlen, "cannot narrow the modes of %s to its owner: %s",
		                  s->dir, strerror(-r));
		store_close(s);
		return r;
	}
	r = tidy(s);
	if (r < 0) {
		mcu_ota_set_error(err, errlen, "cannot tidy %s: %s", s->dir, strerror(-r));
		store_close(s);
	}
	return r;
}

void store_close(struct store *s)
{
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the flock */
	s->lock_fd = -1;
}

/* ---- meta ---- */

static int parse_meta(const char *text, struct slot_meta *m)
{
	memset(m, 0, sizeof(*m));
	bool have_version = false, have_sha = false, have_size = false, have_address = false;
	for (const char *line = text; *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *eq = memchr(line, '=', len);
		if (!eq)
			return -EBADMSG;
		size_t klen = (size_t)(eq - line), vlen = len - klen - 1;
		char value[128];
		if (vlen >= sizeof(value))
			return -EBADMSG;
		memcpy(value, eq + 1, vlen);
		value[vlen] = '\0';
		char *tail;
		if (klen == 7 && !memcmp(line, "version", 7) && vlen && vlen < sizeof(m->version)) {
			memcpy(m->version, value, vlen + 1);
			have_version = true;
		} else if (klen == 6 && !memcmp(line, "sha256", 6) && vlen == 64 &&
		           strspn(value, "0123456789abcdef") == 64) {
			memcpy(m->sha256, value, 65);
			have_sha = true;
		} else if (klen == 4 && !memcmp(line, "size", 4)) {
			m->size = strtoull(value, &tail, 10);
			/* digits only, and no larger than any image the store takes */
			have_size = vlen && !*tail && value[0] != '-' && m->size <= STORE_MAX_IMAGE;
		} else if (klen == 7 && !memcmp(line, "address", 7)) {
			have_address = parse_u32(value, &m->address) == 0;
		} else {
			return -EBADMSG;
		}
		line += len + (end ? 1 : 0);
	}
	return have_version && have_sha && have_size && have_address ? 0 : -EBADMSG;
}

/* Up to cap - 1 bytes of the small file path into text, NUL-terminated, *n
 * of them (cap - 1: the file may be longer). -ENOENT without a message. */
static int read_small(const char *path, char *text, size_t cap, size_t *n, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int r = -errno;
		if (r != -ENOENT)
			mcu_ota_set_error(err, errlen, "cannot read %s: %s", path, strerror(-r));
		return r;
	}
	*n = fread(text, 1, cap - 1, f);
	fclose(f);
	text[*n] = '\0';
	return 0;
}

int store_meta(const struct store *s, enum store_slot slot, struct slot_meta *meta, char *err,
               size_t errlen)
{
	char path[PATH_BUF], text[STORE_META_MAX + 2];
	size_t n = 0;
	int r = path_of(path, s, slot_names[slot], "", META_FILE);
	if (r == 0)
		r = read_small(path, text, sizeof(text), &n, err, errlen);
	if (r < 0)
		return r;
	if (n > STORE_META_MAX || strlen(text) != n || parse_meta(text, meta) < 0) {
		mcu_ota_set_error(err, errlen, "%s is corrupt", path);
		return -EBADMSG;
	}
	return 0;
}

static void sha256_hex(EVP_MD_CTX *md, char out[65])
{
	unsigned char digest[32];
	unsigned len = 0;
	EVP_DigestFinal_ex(md, digest, &len);
	hex_encode(digest, sizeof(digest), out);
}

int store_read(const struct store *s, enum store_slot slot, const struct slot_meta *meta,
               uint8_t *buf, char *err, size_t errlen)
{
	char path[PATH_BUF], hex[65] = "";
	uint8_t chunk[16384];
	path_of(path, s, slot_names[slot], "", IMAGE_FILE);
	_cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;
		mcu_ota_set_error(err, errlen, "cannot read %s: %s", path, strerror(-r));
		return r;
	}
	_cleanup_(evp_md_ctx_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		mcu_ota_set_error(err, errlen, "out of memory reading %s", path);
		return -ENOMEM;
	}
	/* meta->size bytes into buf (or, to check only, through chunk) */
	uint64_t done = 0;
	while (done < meta->size) {
		uint8_t *to = buf ? buf + done : chunk;
		size_t want = buf ? CHUNK : sizeof(chunk);
		if (want > meta->size - done)
			want = (size_t)(meta->size - done);
		ssize_t n = read(fd, to, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			mcu_ota_set_error(err, errlen, "cannot read %s: %s", path, strerror(-r));
			return r;
		}
		if (n == 0)
			break; /* shorter than its meta says */
		EVP_DigestUpdate(md, to, (size_t)n);
		done += (uint64_t)n;
	}
	ssize_t extra; /* a byte more: longer than its meta says */
	do
		extra = read(fd, chunk, 1);
	while (extra < 0 && errno == EINTR);
	if (extra > 0)
		done++;
	sha256_hex(md, hex);
	if (done != meta->size || strcmp(hex, meta->sha256) != 0) {
		mcu_ota_set_error(err, errlen, "%s is damaged: it does not match its SHA-256 %s",
		                  path, meta->sha256);
		return -EBADMSG;
	}
	return 0;
}

int store_load(const struct store *s, enum store_slot slot, uint8_t **data, size_t *len, char *err,
               size_t errlen)
{
	struct slot_meta meta;
	int r = store_meta(s, slot, &meta, err, errlen);
	if (r < 0)
		return r;
	_cleanup_(freep) uint8_t *buf = malloc(meta.size ? meta.size : 1);
	if (!buf) {
		char path[PATH_BUF];
		path_of(path, s, slot_names[slot], "", IMAGE_FILE);
		mcu_ota_set_error(err, errlen, "out of memory reading %s", path);
		return -ENOMEM;
	}
	r = store_read(s, slot, &meta, buf, err, errlen);
	if (r < 0)
		return r;
	*data = meta.size ? take_ptr(&buf) : NULL;
	*len = (size_t)meta.size;
	return 0;
}

int store_image_fd(const struct store *s, enum store_slot slot, char *err, size_t errlen)
{
	char path[PATH_BUF];
	path_of(path, s, slot_names[slot], "", IMAGE_FILE);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fd = -errno;
		mcu_ota_set_error(err, errlen, "cannot read %s: %s", path, strerror(-fd));
	}
	return fd;
}

/* ---- writing a slot ---- */

static int write_begin(struct store *s, enum store_slot slot, const struct slot_meta *expect,
                       bool hash, struct store_writer *w, char *err, size_t errlen)
{
	char dir[PATH_BUF], path[PATH_BUF];
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->store = s;
	w->slot = slot;
	w->expect = *expect;
	path_of(dir, s, slot_names[slot], ".new", NULL);
	int r = remove_slot_dir(dir);
	if (r == 0 && mkdir(dir, STORE_DIR_MODE) < 0)
		r = -errno;
	if (r == 0) {
		path_of(path, s, slot_names[slot], ".new", IMAGE_FILE);
		w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, STORE_FILE_MODE);
		if (w->fd < 0)
			r = -errno;
	}
	if (r == 0 && hash) {
		w->md = EVP_MD_CTX_new();
		if (!w->md || !EVP_DigestInit_ex(w->md, EVP_sha256(), NULL))
			r = -ENOMEM;
	}
	if (r < 0) {
		mcu_ota_set_error(err, errlen, "cannot create %s: %s", dir, strerror(-r));
		store_write_abort(w);
	}
	return r;
}

int store_write_begin(struct store *s, enum store_slot slot, const struct slot_meta *expect,
                      struct store_writer *w, char *err, size_t errlen)
{
	return write_begin(s, slot, expect, true, w, err, errlen);
}

int store_receive_begin(struct store *s, const struct slot_meta *expect, struct store_writer *w,
                        char *err, size_t errlen)
{
	return write_begin(s, STORE_RECEIVED, expect, false, w, err, errlen);
}

int store_write(struct store_writer *w, const void *data, size_t len, char *err, size_t errlen)
{
	if (w->written + len > w->expect.size) {
		mcu_ota_set_error(err, errlen,
		                  "image for %s is larger than its declared %" PRIu64 " bytes",
		                  slot_names[w->slot], w->expect.size);
		return -EFBIG;
	}
	int r = write_all(w->fd, data, len);
	if (r < 0) {
		mcu_ota_set_error(err, errlen, "cannot write the %s image: %s", slot_names[w->slot],
		                  strerror(-r));
		return r;
	}
	if (w->md)
		EVP_DigestUpdate(w->md, data, len);
	w->written += len;
	return 0;
}

static int write_meta(const struct store_writer *w)
{
	const struct slot_meta *m = &w->expect;
	char path[PATH_BUF], text[STORE_META_MAX];
	path_of(path, w->store, slot_names[w->slot], ".new", META_FILE);
	int n = snprintf(text, sizeof(text),
	                 "version=%s\nsha256=%s\nsize=%" PRIu64 "\naddress=0x%08" PRIx32 "\n",
	                 m->version, m->sha256, m->size, m->address);
	return atomic_write_file(path, text, (size_t)n, STORE_FILE_MODE);
}

/* The whole folder src becomes slot to, by two renames: what to held goes
 * aside as <to>.old first. tidy() mends a crash between them. */
static int replace_slot(struct store *s, const char *src, enum store_slot to)
{
	char slot[PATH_BUF], old[PATH_BUF];
	path_of(slot, s, slot_names[to], "", NULL);
	path_of(old, s, slot_names[to], ".old", NULL);
	int r = 0;
	if (exists(slot) && rename(slot, old) < 0)
		r = -errno;
	if (r == 0 && rename(src, slot) < 0)
		r = -errno;
	if (r == 0)
		r = fsync_parent(slot);
	if (r == 0)
		r = remove_slot_dir(old);
	return r;
}

int store_write_commit(struct store_writer *w, char *err, size_t errlen)
{
	char hex[65] = "", dir[PATH_BUF];
	if (w->md) {
		sha256_hex(w->md, hex);
	} else { /* the caller checked the hash */
		snprintf(hex, sizeof(hex), "%s", w->expect.sha256);
	}
	int r = 0;
	if (w->written != w->expect.size || strcmp(hex, w->expect.sha256) != 0) {
		mcu_ota_set_error(err, errlen,
		                  "image for %s does not match: %" PRIu64
		                  " bytes with SHA-256 %s, expected %" PRIu64 " bytes with %s",
		                  slot_names[w->slot], w->written, hex, w->expect.size,
		                  w->expect.sha256);
		store_write_abort(w);
		return -EBADMSG;
	}
	path_of(dir, w->store, slot_names[w->slot], ".new", NULL);
	if (fsync(w->fd) < 0)
		r = -errno;
	close(w->fd);
	w->fd = -1;
	if (r == 0)
		r = write_meta(w); /* fsyncs the .new folder too */
	if (r == 0)
		r = replace_slot(w->store, dir, w->slot);
	if (r < 0) {
		char slot[PATH_BUF];
		path_of(slot, w->store, slot_names[w->slot], "", NULL);
		mcu_ota_set_error(err, errlen, "cannot store the %s image in %s: %s",
		                  slot_names[w->slot], slot, strerror(-r));
	}
	EVP_MD_CTX_free(w->md);
	w->md = NULL;
	if (r < 0)
		store_write_abort(w);
	return r;
}

void store_write_abort(struct store_writer *w)
{
	char dir[PATH_BUF];
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	EVP_MD_CTX_free(w->md);
	w->md = NULL;
	if (w->store && path_of(dir, w->store, slot_names[w->slot], ".new", NULL) == 0) {
		remove_slot_dir(dir);
	}
}

int store_move(struct store *s, enum store_slot from, enum store_slot to, char *err, size_t errlen)
{
	char src[PATH_BUF];
	path_of(src, s, slot_names[from], "", NULL);
	int r = exists(src) ? replace_slot(s, src, to) : -ENOENT;
	if (r < 0)
		mcu_ota_set_error(err, errlen, "cannot make the %s image the %s one in %s: %s",
		                  slot_names[from], slot_names[to], s->dir, strerror(-r));
	return r;
}

int store_copy(struct store *s, enum store_slot from, enum store_slot to, char *err, size_t errlen)
{
	struct slot_meta m;
	struct store_writer w;
	int r = store_meta(s, from, &m, err, errlen);
	if (r < 0)
		return r;
	_cleanup_(closep) int fd = store_image_fd(s, from, err, errlen);
	if (fd < 0)
		return fd;
	_cleanup_(freep) uint8_t *buf = malloc(CHUNK);
	if (!buf)
		return -ENOMEM;
	if ((r = store_write_begin(s, to, &m, &w, err, errlen)) < 0)
		return r;
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			mcu_ota_set_error(err, errlen, "cannot read the %s image: %s",
			                  slot_names[from], strerror(-r));
		}
		if (n <= 0)
			break;
		if ((r = store_write(&w, buf, (size_t)n, err, errlen)) < 0)
			break;
	}
	if (r < 0) {
		store_write_abort(&w);
		return r;
	}
	return store_write_commit(&w, err, errlen); /* checks size and SHA-256 */
}

/* ---- moving slots ---- */

int store_promote(struct store *s, char *err, size_t errlen)
{
	char cur[PATH_BUF], prev[PATH_BUF], staged[PATH_BUF], prev_old[PATH_BUF];
	path_of(cur, s, "current", "", NULL);
	path_of(prev, s, "previous", "", NULL);
	path_of(staged, s, "staged", "", NULL);
	path_of(prev_old, s, "previous", ".old", NULL);
	int r = 0;
	if (!exists(staged))
		return 0; /* nothing staged, or promoted already */
	if (exists(cur)) {
		/* the old previous goes aside, current becomes previous */
		if (exists(prev) && rename(prev, prev_old) < 0)
			r = -errno;
		if (r == 0 && rename(cur, prev) < 0)
			r = -errno;
		if (r == 0)
			r = fsync_parent(cur);
	}
	if (r == 0 && rename(staged, cur) < 0)
		r = -errno;
	if (r == 0)
		r = fsync_parent(cur);
	if (r == 0)
		r = remove_slot_dir(prev_old);
	if (r < 0)
		mcu_ota_set_error(err, errlen, "cannot install the staged image in %s: %s", s->dir,
		                  strerror(-r));
	return r;
}

int store_drop(struct store *s, enum store_slot slot, char *err, size_t errlen)
{
	char path[PATH_BUF];
	path_of(path, s, slot_names[slot], "", NULL);
	int r = remove_slot_dir(path);
	if (r == 0)
		r = fsync_parent(path);
	if (r < 0)
		mcu_ota_set_error(err, errlen, "cannot remove %s: %s", path, strerror(-r));
	return r;
}

/* ---- the high-water mark ---- */

int store_mark_load(const struct store *s, char version[STORE_VERSION_MAX], char *err,
                    size_t errlen)
{
	char path[PATH_BUF], text[STORE_VERSION_MAX + 16];
	size_t n = 0;
	int r = path_of(path, s, MARK_FILE, "", NULL);
	if (r == 0)
		r = read_small(path, text, sizeof(text), &n, err, errlen);
	if (r < 0)
		return r;
	/* exactly one line "version=<v>", <v> printable without blanks */
	size_t vlen = n > 9 ? n - 9 : 0;
	bool ok = n > 9 && strlen(text) == n && !strncmp(text, "version=", 8) &&
	          text[n - 1] == '\n' && vlen < STORE_VERSION_MAX;
	for (size_t i = 8; ok && i < n - 1; i++)
		ok = text[i] > ' ' && text[i] < 0x7f;
	if (!ok) {
		mcu_ota_set_error(err, errlen,
		                  "%s is corrupt: expected one line \"version=<the highest version "
		                  "the device ran>\"",
		                  path);
		return -EBADMSG;
	}
	memcpy(version, text + 8, vlen);
	version[vlen] = '\0';
	return 0;
}

int store_mark_save(struct store *s, const char *version, char *err, size_t errlen)
{
	char path[PATH_BUF], text[STORE_VERSION_MAX + 16];
	int r = path_of(path, s, MARK_FILE, "", NULL);
	int n = snprintf(text, sizeof(text), "version=%s\n", version);
	if (r == 0 && (!*version || strlen(version) >= STORE_VERSION_MAX || strchr(version, '\n')))
		r = -EINVAL;
	if (r == 0)
		r = atomic_write_file(path, text, (size_t)n, STORE_FILE_MODE);
	if (r < 0)
		mcu_ota_set_error(err, errlen, "cannot record the high-water mark %.64s in %s: %s",
		                  version, path, strerror(-r));
	return r;
}
