/* `mcu-ota fetch URL -o FILE`: download a .swu bundle and verify it while it
 * streams; FILE appears only when the bundle verified. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "bundle/swu.h"
#include "bundle/swu_args.h"
#include "cli/cli.h"
#include "plugin/host.h"
#include "fetch/fetch.h"
#include "fetch/fetch_args.h"
#include "util/atomic.h"
#include "util/format.h"
#include "util/log.h"

static void help(FILE *f)
{
	fputs("Usage: mcu-ota fetch URL -o FILE TRUST [TLS] [LIMITS]\n"
	      "\n"
	      "Downloads a signed .swu bundle and verifies it as it streams in: the signature\n"
	      "of sw-description before any image, then every image's SHA-256 and every\n"
	      "limit. The bytes go to FILE.part (mode 0600) beside FILE, which becomes FILE\n"
	      "only when all of it verified; FILE, if it existed, is left as it was on any\n"
	      "failure. Network errors, 5xx, 408 and 429 are retried with growing waits, and\n"
	      "an interrupted transfer resumes where it stopped (HTTP Range). When the\n"
	      "network, the server or a signal ends the download for good, FILE.part and\n"
	      "FILE.part.meta (where its bytes came from) stay: the same command run again\n"
	      "checks FILE.part anew and asks only for the rest, or starts over when the\n"
	      "file changed on the server. A bundle that does not verify leaves nothing.\n"
	      "Two runs for the same FILE at once: the second one stops.\n"
	      "\n"
	      "TRUST (at least one), as for `mcu-ota bundle verify`:\n" SWU_ARGS_TRUST_HELP "\n"
	      "TLS (the server's certificate and host name are always verified):\n" FETCH_ARGS_HELP
	      "\n"
	      "LIMITS (sizes take K and M suffixes):\n" SWU_ARGS_LIMITS_HELP
	      "  --limit-rate R      at most R bytes/s (default: no limit)\n"
	      "  --connect-timeout S seconds to connect (default 30)\n"
	      "  --retries N         retries after the first attempt (default 5)\n"
	      "\n"
	      "Exit codes: 0 downloaded and verified; 1 the download failed (network, TLS,\n"
	      "HTTP); 2 bad command line (also a --key, --ca, --tls-ca or client\n"
	      "certificate that cannot be read or used); 3 the bundle did not verify or hit\n"
	      "a limit.\n"
	      "\n"
	      "Example: mcu-ota fetch https://updates.example.com/motor-1.2.swu -o motor.swu \\\n"
	      "           --key /etc/mcu-ota/signing.pem\n",
	      f);
}

/* What FILE.part.meta says about FILE.part: where its bytes came from.
 * Text, one "key value" per line, mode 0600. The URL is kept as its SHA-256
 * only: it may carry a password or a token. */
struct part_meta {
	char url_sha256[65];
	char etag[FETCH_MAX_VALIDATOR];
	char last_modified[FETCH_MAX_VALIDATOR];
	uint64_t total;
};

#define META_MAGIC "mcu-ota fetch part 1"
#define META_MAX   4096

struct fetch_cli {
	struct swu_reader *reader;
	int fd; /* FILE.part, locked (flock) while this run uses it */
	struct host host;
	const char *part, *meta;
	struct part_meta pm; /* the URL's digest; validators of what part holds */
	bool meta_ok;        /* meta describes part: a later run may resume it */
	bool write_failed;   /* a local disk error, not the bundle's fault */
};

static int write_all(int fd, const uint8_t *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The reader sees each byte first: what it refuses is never written. */
static int sink(void *ctx, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct fetch_cli *f = ctx;
	int r = swu_reader_feed(f->reader, data, len, err, errlen);
	if (r < 0)
		return r;
	if ((r = write_all(f->fd, data, len)) < 0) {
		mcu_ota_set_error(err, errlen, "cannot write %s: %s", f->part, strerror(-r));
		f->write_failed = true;
		return r;
	}
	return 0;
}

/* Empty FILE.part and forget what described it. */
static int part_empty(struct fetch_cli *f)
{
	swu_reader_reset(f->reader);
	f->meta_ok = false;
	if (unlink(f->meta) < 0 && errno != ENOENT)
		log_debug("fetch: %s: %s", f->meta, strerror(errno));
	if (ftruncate(f->fd, 0) < 0 || lseek(f->fd, 0, SEEK_SET) < 0)
		return -errno;
	return 0;
}

static int reset(void *ctx, char *err, size_t errlen)
{
	struct fetch_cli *f = ctx;
	int r = part_empty(f);
	if (r < 0) {
		mcu_ota_set_error(err, errlen, "cannot empty %s: %s", f->part, strerror(-r));
		f->write_failed = true;
	}
	return r;
}

static bool strong_etag(const char *etag)
{
	return etag[0] && strncmp(etag, "W/", 2) != 0;
}

static bool meta_value_ok(const char *v)
{
	return !strpbrk(v, "\r\n");
}

static int meta_write(const char *path, const struct part_meta *m)
{
	char buf[META_MAX];
	int n;

	if (!meta_value_ok(m->etag) || !meta_value_ok(m->last_modified))
		return -EINVAL;
	n = snprintf(buf, sizeof(buf),
	             META_MAGIC "\nurl-sha256 %s\netag %s\nlast-modified %s\ntotal %" PRIu64 "\n",
	             m->url_sha256, m->etag, m->last_modified, m->total);
	if (n < 0 || n >= (int)sizeof(buf))
		return -E2BIG;
	return atomic_write_file(path, buf, (size_t)n, 0600);
}

/* 0 and m filled, or a negative code: absent, unreadable or malformed. */
static int meta_read(const char *path, struct part_meta *m)
{
	char buf[META_MAX + 1];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	bool magic = false, url = false;

	memset(m, 0, sizeof(*m));
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0 || n > META_MAX)
		return n < 0 ? -EIO : -EFBIG;
	buf[n] = '\0';
	for (char *line = buf, *next; line && *line; line = next) {
		char *v;
		next = strchr(line, '\n');
		if (!next)
			return -EBADMSG; /* cut short */
		*next++ = '\0';
		if (!magic) {
			if (strcmp(line, META_MAGIC) != 0)
				return -EBADMSG;
			magic = true;
			continue;
		}
		v = strchr(line, ' ');
		if (!v)
			return -EBADMSG;
		*v++ = '\0';
		if (strcmp(line, "url-sha256") == 0 && strlen(v) == 64) {
			memcpy(m->url_sha256, v, 65);
			url = true;
		} else if (strcmp(line, "etag") == 0) {
			snprintf(m->etag, sizeof(m->etag), "%s", v);
		} else if (strcmp(line, "last-modified") == 0) {
			snprintf(m->last_modified, sizeof(m->last_modified), "%s", v);
		} else if (strcmp(line, "total") == 0) {
			char *end;
			errno = 0;
			m->total = strtoull(v, &end, 10);
			if (errno || *end || !isdigit((unsigned char)v[0]))
				return -EBADMSG;
		}
	}
	return magic && url ? 0 : -EBADMSG;
}

/* The body of the URL is identified (a 200): record it beside FILE.part so
 * that a run killed from now on can be resumed by the next one. */
static int on_content(void *ctx, const char *etag, const char *last_modified, uint64_t total,
                      char *err, size_t errlen)
{
	struct fetch_cli *f = ctx;
	int r;

	(void)err;
	(void)errlen;
	f->meta_ok = false;
	if (unlink(f->meta) < 0 && errno != ENOENT)
		log_debug("fetch: %s: %s", f->meta, strerror(errno));
	if (!strong_etag(etag) && !last_modified[0])
		return 0; /* nothing would make resuming it safe */
	snprintf(f->pm.etag, sizeof(f->pm.etag), "%s", etag);
	snprintf(f->pm.last_modified, sizeof(f->pm.last_modified), "%s", last_modified);
	f->pm.total = total;
	r = meta_write(f->meta, &f->pm);
	if (r < 0) {
		/* not fatal: this download goes on, only a later one cannot resume it */
		log_debug("fetch: %s: %s", f->meta, strerror(-r));
		return 0;
	}
	f->meta_ok = true;
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

/* Open FILE.part for this run, locked so that another run cannot write into
 * it at the same time (-EBUSY then), and never through a link: an existing
 * FILE.part is taken only when it is a plain file of ours with one name,
 * otherwise it is unlinked (the file a link points to is untouched) and
 * created anew, exclusively, mode 0600 until the bundle verified.
 * *existed: it was there before (an earlier run's, maybe to resume). */
static int part_open(const char *part, int *out, bool *existed)
{
	for (int tries = 0; tries < 4; tries++) {
		struct stat st;
		int fd = open(part, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		int e;

		if (fd >= 0) {
			if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
				e = errno;
				close(fd);
				return e == EWOULDBLOCK ? -EBUSY : -e;
			}
			if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
			    st.st_uid == geteuid() && same_file(part, fd)) {
				*out = fd;
				*existed = true;
				return 0;
			}
			close(fd);
			if (unlink(part) < 0 && errno != ENOENT)
				return -errno;
			continue;
		}
		e = errno;
		if (e == ELOOP) { /* a symbolic link: remove the link itself */
			if (unlink(part) < 0 && errno != ENOENT)
				return -errno;
			continue;
		}
		if (e != ENOENT)
			return -e;
		fd = open(part, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			if (errno == EEXIST)
				continue; /* another run made it just now */
			return -errno;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0 || !same_file(part, fd)) {
			close(fd);
			return -EBUSY;
		}
		*out = fd;
		*existed = false;
		return 0;
	}
	return -EBUSY;
}

/* Feed what FILE.part holds through the reader: it is checked like any
 * download, never trusted. 0 with *held bytes accepted, or the reader's
 * code and reason. */
static int part_refeed(struct fetch_cli *f, uint64_t *held, char *err, size_t errlen)
{
	uint8_t buf[64 * 1024];

	*held = 0;
	for (;;) {
		ssize_t n = pread(f->fd, buf, sizeof(buf), (off_t)*held);
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
		r = swu_reader_feed(f->reader, buf, (size_t)n, err, errlen);
		if (r < 0)
			return r;
		*held += (uint64_t)n;
	}
}

/* What an earlier run left in FILE.part, if it may be resumed: the bytes
 * held (re-verified), or 0 after emptying it. */
static uint64_t part_resume(struct fetch_cli *f)
{
	struct part_meta m;
	char why[512] = "";
	uint64_t held = 0;
	int r = meta_read(f->meta, &m);

	if (r == 0 && strcmp(m.url_sha256, f->pm.url_sha256) != 0) {
		log_info("fetch: %s was downloaded from another URL: starting over", f->part);
		r = -ESTALE;
	} else if (r == 0 && !strong_etag(m.etag) && !m.last_modified[0]) {
		r = -ENOKEY;
	} else if (r == 0 && (r = part_refeed(f, &held, why, sizeof(why))) < 0) {
		log_warning("fetch: %s does not verify (%s): starting over", f->part, why);
	}
	if (r == 0 && held > 0 && lseek(f->fd, (off_t)held, SEEK_SET) == (off_t)held) {
		memcpy(f->pm.etag, m.etag, sizeof(m.etag));
		memcpy(f->pm.last_modified, m.last_modified, sizeof(m.last_modified));
		f->pm.total = m.total;
		f->meta_ok = true;
		return held;
	}
	if (part_empty(f) < 0)
		log_debug("fetch: cannot empty %s: %s", f->part, strerror(errno));
	return 0;
}

/* A download that failed this way may go on later from what FILE.part
 * holds: the network, TLS, the server, or a signal; not the bundle, a
 * limit, the command line, a file gone from the server. */
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

static void progress(void *ctx, uint64_t done, uint64_t total)
{
	struct fetch_cli *f = ctx;
	f->host.api.progress(f->host.api.ctx, "fetch", done, total);
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int size_arg(const char *opt, const char *v, uint64_t *out)
{
	uint32_t n;
	if (parse_u32(v, &n) < 0 || n == 0) {
		log_error("fetch: %s: \"%s\" is not a positive size (e.g. 512K, 64M)", opt, v);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

static int exit_code(const struct fetch_result *res)
{
	switch (res->error) {
	case FETCH_ERR_USAGE:
	case FETCH_ERR_LOCAL: /* an option names a file that cannot be used */
		return EXIT_USAGE;
	case FETCH_ERR_SINK:
	case FETCH_ERR_TOO_BIG:
		return EXIT_BAD_INPUT;
	default:
		return EXIT_FAILURE_GENERIC;
	}
}

int cli_fetch(int argc, char **argv)
{
	static const struct option options[] = {
	    {"output", required_argument, NULL, 'o'},
	    SWU_ARGS_OPTIONS,
	    FETCH_ARGS_OPTIONS,
	    {"limit-rate", required_argument, NULL, 'R'},
	    {"connect-timeout", required_argument, NULL, 't'},
	    {"retries", required_argument, NULL, 'N'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct swu_args args = {0};
	struct fetch_options o = {0};
	const char *out = NULL;
	char err[1024] = "";
	uint32_t n;
	int c, r;

	while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			continue;
		case 'R':
			if (size_arg("--limit-rate", optarg, &o.max_recv_speed) < 0)
				return EXIT_USAGE;
			continue;
		case 't':
			if (parse_u32(optarg, &n) < 0 || n == 0 || n > 3600) {
				log_error(
				    "fetch: --connect-timeout: \"%s\" is not 1 to 3600 seconds",
				    optarg);
				return EXIT_USAGE;
			}
			o.connect_timeout_ms = n * 1000u;
			continue;
		case 'N':
			if (parse_u32(optarg, &n) < 0 || n > 100) {
				log_error("fetch: --retries: \"%s\" is not 0 to 100", optarg);
				return EXIT_USAGE;
			}
			o.max_attempts = n + 1;
			continue;
		case 'h':
			help(stdout);
			return EXIT_OK;
		}
		r = swu_args_apply(&args, c, optarg, err, sizeof(err));
		if (r == 0)
			r = fetch_args_apply(&o, c, optarg);
		if (r < 0) {
			log_error("fetch: %s", err);
			return EXIT_USAGE;
		}
		if (r == 0) {
			help(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || !out) {
		log_error("fetch needs one URL and -o FILE; see mcu-ota fetch --help");
		return EXIT_USAGE;
	}
	const char *url = argv[optind];
	if (!swu_args_have_trust(&args)) {
		log_error("fetch: give the trusted --key (detached signatures) or --ca (CMS): "
		          "nothing is saved unverified");
		return EXIT_USAGE;
	}
	if (swu_args_check(&args, err, sizeof(err)) < 0 ||
	    fetch_args_check(&o, err, sizeof(err)) < 0) {
		log_error("fetch: %s", err);
		return EXIT_USAGE;
	}
	struct swu_limits limits = args.limits;
	struct stat st;
	if (strcmp(out, "-") == 0 || (stat(out, &st) == 0 && S_ISDIR(st.st_mode))) {
		log_error("fetch: -o needs a file name (not a directory or standard output)");
		return EXIT_USAGE;
	}
	char part[4096], meta[4096];
	if (snprintf(part, sizeof(part), "%s.part", out) >= (int)sizeof(part) ||
	    snprintf(meta, sizeof(meta), "%s.part.meta", out) >= (int)sizeof(meta)) {
		log_error("fetch: %s: name too long", out);
		return EXIT_USAGE;
	}

	_cleanup_(swu_reader_freep) struct swu_reader *reader = NULL;
	r = swu_reader_new(&reader, &args.trust, &limits, NULL, NULL, err, sizeof(err));
	if (r < 0) {
		/* a key, CA or CRL given on the command line cannot be used */
		log_error("fetch: %s", err);
		return r == -ENOMEM || r == -EIO ? EXIT_FAILURE_GENERIC : EXIT_USAGE;
	}

	int fd = -1;
	bool existed = false;
	r = part_open(part, &fd, &existed);
	if (r == -EBUSY) {
		log_error("fetch: %s is being written by another mcu-ota fetch: wait for it to end",
		          part);
		return EXIT_FAILURE_GENERIC;
	}
	if (r < 0) {
		log_error("fetch: cannot create %s: %s", part, strerror(-r));
		return EXIT_FAILURE_GENERIC;
	}
	struct fetch_cli f = {.reader = reader, .fd = fd, .part = part, .meta = meta};
	url_sha256(url, f.pm.url_sha256);
	host_init(&f.host, cli_globals.quiet);
	/* An earlier run's FILE.part of the same URL: checked again, then
	 * continued from its end (Range, If-Range with its validator). */
	uint64_t resumed_from = existed ? part_resume(&f) : 0;
	if (!existed && unlink(meta) < 0 && errno != ENOENT)
		log_debug("fetch: %s: %s", meta, strerror(errno));
	if (resumed_from)
		log_info("fetch: resuming from byte %" PRIu64 " of %s", resumed_from, part);

	o.max_size = limits.max_bundle ? limits.max_bundle : SWU_DEFAULT_MAX_BUNDLE;
	o.user_agent = "mcu-ota/" MCU_OTA_VERSION;
	o.sink = sink;
	o.reset = reset;
	o.progress = progress;
	o.content = on_content;
	o.ctx = &f;
	o.cancel = &interrupted;

	struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	uint64_t t0 = host_now_ns();
	struct fetch_result res;
	char shown[512];
	fetch_redact_url(url, shown, sizeof(shown));
	int code = EXIT_OK;
	bool bundle_bad = false;
	for (uint64_t held = resumed_from;;) {
		o.resume_offset = held;
		o.resume_etag = f.pm.etag;
		o.resume_last_modified = f.pm.last_modified;
		o.resume_total = f.pm.total;
		r = fetch_url(url, &o, &res, err, sizeof(err));
		host_progress_done(&f.host);
		if (r == 0)
			r = swu_reader_finish(reader, err, sizeof(err));
		else if (res.error != FETCH_ERR_SINK || f.write_failed)
			break;
		bundle_bad = r < 0;
		/* What an earlier run kept was checked as far as it went, but an
		 * image it cut in two is judged only now: one more try from byte
		 * 0 before blaming the bundle. */
		if (!bundle_bad || !held || res.restarts)
			break;
		log_warning("fetch: the bundle does not verify with the part %s kept from an "
		            "earlier run (%s): downloading it again from the start",
		            part, err);
		held = resumed_from = 0;
		if ((r = part_empty(&f)) < 0) {
			mcu_ota_set_error(err, sizeof(err), "cannot empty %s: %s", part,
			                  strerror(-r));
			f.write_failed = true;
			break;
		}
	}
	mode_t mask = umask(0);
	umask(mask);
	if (r < 0 && !bundle_bad) {
		log_error("%s", err);
		code = f.write_failed ? EXIT_FAILURE_GENERIC : exit_code(&res);
	} else if (r < 0) {
		/* the reader's sentences do not name the URL */
		log_error("%s: %s", shown, err);
		code = EXIT_BAD_INPUT;
	} else if (fchmod(fd, 0644 & ~mask) < 0 || fsync(fd) < 0) {
		log_error("fetch: cannot write %s: %s", part, strerror(errno));
		code = EXIT_FAILURE_GENERIC;
	} else if (rename(part, out) < 0) {
		log_error("fetch: cannot rename %s to %s: %s", part, out, strerror(errno));
		code = EXIT_FAILURE_GENERIC;
	} else if ((r = fsync_parent(out)) < 0) {
		log_error("fetch: %s: %s", out, strerror(-r));
		code = EXIT_FAILURE_GENERIC;
	}
	if (code != EXIT_OK && !bundle_bad && !f.write_failed && f.meta_ok && res.size > 0 &&
	    resumable(&res)) {
		/* never anything at FILE: only the part, to go on from next time */
		char size[32];
		format_size(res.size, size, sizeof(size));
		if (fdatasync(fd) < 0)
			log_debug("fetch: %s: %s", part, strerror(errno));
		log_info("fetch: kept %s in %s: run the same command again to resume", size, part);
	} else if (code != EXIT_OK) {
		unlink(part);
		unlink(meta);
	} else {
		unlink(meta);
	}
	close(fd); /* the lock goes with it, after the names are settled */
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (code != EXIT_OK)
		return code;

	if (!cli_globals.quiet) {
		const struct swu_manifest *m = swu_reader_manifest(reader);
		char size[32], how[160] = "";
		double secs = (double)(host_now_ns() - t0) / 1e9;
		format_size(res.size, size, sizeof(size));
		if (res.restarts)
			snprintf(how, sizeof(how), ", restarted");
		else if (resumed_from)
			snprintf(how, sizeof(how),
			         ", resumed from byte %" PRIu64 " kept by an earlier run",
			         resumed_from);
		else if (res.attempts > 1)
			snprintf(how, sizeof(how), ", resumed");
		printf("fetched %s (%s in %.1f s%s) to %s: verified, version %s, %zu image%s, %s "
		       "signature by %s\n",
		       shown, size, secs, how, out, m->version, m->image_count,
		       m->image_count == 1 ? "" : "s", swu_signature_kind_name(m->signature_kind),
		       m->signer);
	}
	return EXIT_OK;
}
