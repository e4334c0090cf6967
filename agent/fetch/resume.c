/* Downloads kept on disk (fetch/resume.h): the part file, its description,
 * its lock, and the replay of what an earlier run kept. */
#include "fetch/resume.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/atomic.h"
#include "util/format.h"
#include "util/log.h"

/* PART.meta: text, one "key value" per line, mode 0600. The URL is kept as
 * its SHA-256 only: it may carry a password or a token. */
#define META_MAGIC "mcu-ota fetch part 1"
#define META_MAX   4096

struct part_meta {
	char url_sha256[65];
	char etag[FETCH_MAX_VALIDATOR];
	char last_modified[FETCH_MAX_VALIDATOR];
	uint64_t total;
};

static bool strong_etag(const char *etag)
{
	return etag[0] && strncmp(etag, "W/", 2) != 0;
}

static bool meta_value_ok(const char *v)
{
	return !strpbrk(v, "\r\n");
}

static int meta_write(const struct fetch_part *p)
{
	char buf[META_MAX];
	int n;

	if (!meta_value_ok(p->etag) || !meta_value_ok(p->last_modified))
		return -EINVAL;
	n = snprintf(buf, sizeof(buf),
	             META_MAGIC "\nurl-sha256 %s\netag %s\nlast-modified %s\ntotal %" PRIu64 "\n",
	             p->url_sha256, p->etag, p->last_modified, p->total);
	if (n < 0 || n >= (int)sizeof(buf))
		return -E2BIG;
	return atomic_write_file(p->meta_path, buf, (size_t)n, 0600);
}

/* One "key value" line of PART.meta into m; false when it is malformed. */
static bool meta_line(char *line, struct part_meta *m, bool *url)
{
	char *v = strchr(line, ' ');
	if (!v)
		return false;
	*v++ = '\0';
	if (strcmp(line, "url-sha256") == 0 && strlen(v) == 64) {
		memcpy(m->url_sha256, v, 65);
		*url = true;
	} else if (strcmp(line, "etag") == 0) {
		snprintf(m->etag, sizeof(m->etag), "%s", v);
	} else if (strcmp(line, "last-modified") == 0) {
		snprintf(m->last_modified, sizeof(m->last_modified), "%s", v);
	} else if (strcmp(line, "total") == 0) {
		char *end;
		errno = 0;
		m->total = strtoull(v, &end, 10);
		if (errno || *end || !isdigit((unsigned char)v[0]))
			return false;
	}
	return true;
}

/* 0 and m filled, or a negative code: absent, unreadable or malformed. */
static int meta_read(const char *path, struct part_meta *m)
{
	char buf[META_MAX + 1];
	bool magic = false, url = false;
	memset(m, 0, sizeof(*m));
	_cleanup_(closep) int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 || n > META_MAX)
		return n < 0 ? -EIO : -EFBIG;
	buf[n] = '\0';
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (!next)
			return -EBADMSG; /* cut short */
		*next++ = '\0';
		if (!magic) {
			if (strcmp(line, META_MAGIC) != 0)
				return -EBADMSG;
			magic = true;
		} else if (!meta_line(line, m, &url)) {
			return -EBADMSG;
		}
	}
	return magic && url ? 0 : -EBADMSG;
}

static void forget_meta(struct fetch_part *p)
{
	p->meta_ok = false;
	if (unlink(p->meta_path) < 0 && errno != ENOENT)
		log_debug("fetch: %s: %s", p->meta_path, strerror(errno));
}

/* Empty the part, forget what described it, and restart the consumer. */
static int part_empty(struct fetch_part *p)
{
	p->consumer->restart(p->consumer->ctx);
	forget_meta(p);
	p->size = 0;
	if (ftruncate(p->fd, 0) < 0 || lseek(p->fd, 0, SEEK_SET) < 0)
		return -errno;
	return 0;
}

/* The consumer sees each byte first: what it refuses is never written. */
static int on_sink(void *ctx, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct fetch_part *p = ctx;
	int r = p->consumer->feed(p->consumer->ctx, data, len, err, errlen);
	if (r < 0)
		return r;
	if ((r = write_all(p->fd, data, len)) < 0) {
		mcu_ota_set_error(err, errlen, "cannot write %s: %s", p->path, strerror(-r));
		p->write_failed = true;
		return r;
	}
	p->size += len;
	return 0;
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct fetch_part *p = ctx;
	p->progress(p->progress_ctx, done, total);
}

static int on_reset(void *ctx, char *err, size_t errlen)
{
	struct fetch_part *p = ctx;
	int r = part_empty(p);
	if (r < 0) {
		mcu_ota_set_error(err, errlen, "cannot empty %s: %s", p->path, strerror(-r));
		p->write_failed = true;
	}
	return r;
}

/* The body of the URL is identified (a 200): record it beside the part so
 * that a run stopped from now on can be resumed by the next one. */
static int on_content(void *ctx, const char *etag, const char *last_modified, uint64_t total,
                      char *err, size_t errlen)
{
	struct fetch_part *p = ctx;
	(void)err;
	(void)errlen;
	forget_meta(p);
	if (!strong_etag(etag) && !last_modified[0])
		return 0; /* nothing would make resuming it safe */
	snprintf(p->etag, sizeof(p->etag), "%s", etag);
	snprintf(p->last_modified, sizeof(p->last_modified), "%s", last_modified);
	p->total = total;
	int r = meta_write(p);
	if (r < 0) {
		/* not fatal: this download goes on, only a later one cannot resume it */
		log_debug("fetch: %s: %s", p->meta_path, strerror(-r));
		return 0;
	}
	p->meta_ok = true;
	return 0;
}

static void url_sha256(const char *url, char out[65])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_Digest(url, strlen(url), md, &len, EVP_sha256(), NULL) != 1 || len != 32)
		memset(md, 0, 32); /* matches no recorded digest: nothing resumes */
	hex_encode(md, 32, out);
}

static bool same_file(const char *path, int fd)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* An existing part, open and locked as fd: ours to continue when it is a
 * plain file of ours with one name. 1 taken, 0 not (fd closed), or -errno. */
static int take_existing(const char *path, int *fd)
{
	struct stat st;
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	if (fstat(*fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
	    st.st_uid == geteuid() && same_file(path, *fd))
		return 1;
	close(take_fd(fd));
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Open the part, locked so that another process cannot write into it at the
 * same time (-EBUSY then), and never through a link: an existing part is
 * taken only when it is a plain file of ours with one name, otherwise it is
 * unlinked (the file a link points to is untouched) and created anew,
 * exclusively, mode 0600. *existed: it was there before (to resume, maybe). */
static int part_open(const char *path, int *out, bool *existed)
{
	for (int tries = 0; tries < 4; tries++) {
		_cleanup_(closep) int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		int r;
		if (fd >= 0) {
			if ((r = take_existing(path, &fd)) < 0)
				return r;
			*existed = r == 1;
			if (r == 1) {
				*out = take_fd(&fd);
				return 0;
			}
			continue;
		}
		if (errno == ELOOP) { /* a symbolic link: remove the link itself */
			if (unlink(path) < 0 && errno != ENOENT)
				return -errno;
			continue;
		}
		if (errno != ENOENT)
			return -errno;
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno == EEXIST)
			continue; /* another process made it just now */
		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0 || !same_file(path, fd))
			return -EBUSY;
		*out = take_fd(&fd);
		*existed = false;
		return 0;
	}
	return -EBUSY;
}

int fetch_part_open(struct fetch_part **out, const char *path, const char *url, char *err,
                    size_t errlen)
{
	_cleanup_(freep) struct fetch_part *p = calloc(1, sizeof(*p));
	bool existed = false;
	*out = NULL;
	if (!p) {
		mcu_ota_set_error(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (snprintf(p->path, sizeof(p->path), "%s", path) >= (int)sizeof(p->path) ||
	    snprintf(p->meta_path, sizeof(p->meta_path), "%s.meta", path) >=
	        (int)sizeof(p->meta_path)) {
		mcu_ota_set_error(err, errlen, "%s: name too long", path);
		return -ENAMETOOLONG;
	}
	int r = part_open(path, &p->fd, &existed);
	if (r == -EBUSY) {
		mcu_ota_set_error(
		    err, errlen,
		    "%s is being written by another mcu-ota process: wait for it to end", path);
		return r;
	}
	if (r < 0) {
		mcu_ota_set_error(err, errlen, "cannot create %s: %s", path, strerror(-r));
		return r;
	}
	url_sha256(url, p->url_sha256);
	if (!existed)
		forget_meta(p); /* an earlier run's, its part gone: describes nothing */
	*out = take_ptr(&p);
	return 0;
}

static int make_dir(const char *dir, mode_t mode)
{
	return mkdir(dir, mode) < 0 && errno != EEXIST ? -errno : 0;
}

int fetch_part_open_in(struct fetch_part **out, const char *dir, const char *url, char *err,
                       size_t errlen)
{
	char parent[4096], path[4096], sum[65];
	const char *slash = strrchr(dir, '/');
	int r = 0;
	*out = NULL;
	url_sha256(url, sum);
	if (snprintf(path, sizeof(path), "%s/%s.part", dir, sum) >= (int)sizeof(path)) {
		mcu_ota_set_error(err, errlen, "%s: name too long", dir);
		return -ENAMETOOLONG;
	}
	/* the parent is the administrator's (a state directory): made, not narrowed */
	if (slash && slash != dir) {
		snprintf(parent, sizeof(parent), "%.*s", (int)(slash - dir), dir);
		r = make_dir(parent, 0755);
	}
	if (r == 0)
		r = make_dir(dir, 0700);
	if (r < 0) {
		mcu_ota_set_error(err, errlen, "cannot create %s: %s", dir, strerror(-r));
		return r;
	}
	return fetch_part_open(out, path, url, err, errlen);
}

/* Feed what the part holds through the consumer: it is checked like any
 * download, never trusted. 0 with *held bytes accepted, or the consumer's
 * code and reason. */
static int part_replay(struct fetch_part *p, uint64_t *held, char *err, size_t errlen)
{
	uint8_t buf[64 * 1024];
	*held = 0;
	for (;;) {
		ssize_t n = pread(p->fd, buf, sizeof(buf), (off_t)*held);
		int r;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			mcu_ota_set_error(err, errlen, "cannot read it: %s", strerror(-r));
			return r;
		}
		if (n == 0)
			return 0;
		r = p->consumer->feed(p->consumer->ctx, buf, (size_t)n, err, errlen);
		if (r < 0)
			return r;
		*held += (uint64_t)n;
	}
}

/* What an earlier run left in the part, if it may be resumed: the bytes held
 * (replayed through the consumer), or 0 after emptying it. */
static uint64_t part_resume(struct fetch_part *p)
{
	struct part_meta m;
	char why[512] = "";
	uint64_t held = 0;
	int r = meta_read(p->meta_path, &m);

	if (r == 0 && strcmp(m.url_sha256, p->url_sha256) != 0) {
		log_info("fetch: %s was downloaded from another URL: starting over", p->path);
		r = -ESTALE;
	} else if (r == 0 && !strong_etag(m.etag) && !m.last_modified[0]) {
		r = -ENOKEY;
	} else if (r == 0 && (r = part_replay(p, &held, why, sizeof(why))) < 0) {
		log_warning("fetch: %s does not verify (%s): starting over", p->path, why);
	}
	if (r == 0 && held > 0 && lseek(p->fd, (off_t)held, SEEK_SET) == (off_t)held) {
		memcpy(p->etag, m.etag, sizeof(m.etag));
		memcpy(p->last_modified, m.last_modified, sizeof(m.last_modified));
		p->total = m.total;
		p->meta_ok = true;
		p->size = held;
		return held;
	}
	if (part_empty(p) < 0)
		log_debug("fetch: cannot empty %s: %s", p->path, strerror(errno));
	return 0;
}

/* A download that failed this way may go on later from what the part
 * holds: the network, TLS, the server, or a cancel; not the body, a limit,
 * the options, a file gone from the server. */
static bool resumable(const struct fetch_result *res)
{
	switch (res->error) {
	case FETCH_ERR_NETWORK:
	case FETCH_ERR_TLS:
	case FETCH_ERR_CANCELED:
		return true;
	case FETCH_ERR_HTTP:
		return res->http_status != 404 && res->http_status != 410;
	default:
		return false;
	}
}

int fetch_part_download(struct fetch_part *p, const char *url, const struct fetch_options *o,
                        const struct fetch_part_consumer *c, struct fetch_result *res, char *err,
                        size_t errlen)
{
	struct fetch_options fo = *o;
	int r;
	p->consumer = c;
	p->refused = p->write_failed = p->keep = false;
	/* An earlier run's part of the same URL: checked again, then continued
	 * from its end (Range, If-Range with its validator). */
	uint64_t held = lseek(p->fd, 0, SEEK_END) > 0 ? part_resume(p) : 0;
	p->resumed_from = held;
	if (held)
		log_info("fetch: resuming from byte %" PRIu64 " of %s", held, p->path);
	fo.sink = on_sink;
	fo.reset = on_reset;
	fo.content = on_content;
	fo.progress = o->progress ? on_progress : NULL;
	fo.ctx = p;
	p->progress = o->progress;
	p->progress_ctx = o->ctx;
	for (;;) {
		fo.resume_offset = held;
		fo.resume_etag = p->etag;
		fo.resume_last_modified = p->last_modified;
		fo.resume_total = p->total;
		r = fetch_url(url, &fo, res, err, errlen);
		if (r == 0 && !res->not_modified && c->finish)
			r = c->finish(c->ctx, err, errlen);
		else if (r < 0 && (res->error != FETCH_ERR_SINK || p->write_failed))
			break;
		p->refused = r < 0;
		/* What an earlier run kept was checked as far as it went, but an
		 * image it cut in two is judged only now: one more try from byte
		 * 0 before blaming the body. */
		if (!p->refused || !held || res->restarts)
			break;
		log_warning("fetch: the download does not verify with the part %s kept from an "
		            "earlier run (%s): downloading it again from the start",
		            p->path, err);
		held = p->resumed_from = 0;
		if ((r = part_empty(p)) < 0) {
			mcu_ota_set_error(err, errlen, "cannot empty %s: %s", p->path,
			                  strerror(-r));
			p->write_failed = true;
			p->refused = false;
			break;
		}
	}
	p->keep = r < 0 && !p->refused && !p->write_failed && p->meta_ok && res->size > 0 &&
	          resumable(res);
	return r;
}

int fetch_part_commit(struct fetch_part *p, const char *dest, char *err, size_t errlen)
{
	int r = 0;
	p->keep = false;
	p->committed = true;
	forget_meta(p);
	if (!dest) {
		if (unlink(p->path) < 0 && errno != ENOENT)
			log_debug("fetch: %s: %s", p->path, strerror(errno));
		return 0;
	}
	mode_t mask = umask(0);
	umask(mask);
	if (fchmod(p->fd, 0644 & ~mask) < 0 || fsync(p->fd) < 0) {
		r = -errno;
		mcu_ota_set_error(err, errlen, "cannot write %s: %s", p->path, strerror(-r));
	} else if (rename(p->path, dest) < 0) {
		r = -errno;
		mcu_ota_set_error(err, errlen, "cannot rename %s to %s: %s", p->path, dest,
		                  strerror(-r));
	} else if ((r = fsync_parent(dest)) < 0) {
		mcu_ota_set_error(err, errlen, "%s: %s", dest, strerror(-r));
	}
	if (r < 0)
		p->committed = false; /* the part is removed at close */
	return r;
}

uint64_t fetch_part_close(struct fetch_part *p)
{
	uint64_t kept = 0;
	if (!p)
		return 0;
	if (p->keep) {
		/* never anything at the final name: only the part, to go on from */
		if (fdatasync(p->fd) < 0)
			log_debug("fetch: %s: %s", p->path, strerror(errno));
		kept = p->size;
	} else if (!p->committed) {
		unlink(p->path);
		forget_meta(p);
	}
	close(p->fd); /* the lock goes with it, after the names are settled */
	free(p);
	return kept;
}
