/* `mcu-ota fetch URL -o FILE`: download a .swu bundle and verify it while it
 * streams; FILE appears only when the bundle verified. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/swu.h"
#include "bundle/swu_args.h"
#include "cli/cli.h"
#include "core/host.h"
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
	      "limit. The bytes go to FILE.part beside FILE, which becomes FILE only when\n"
	      "all of it verified; on any failure FILE.part is removed and FILE, if it\n"
	      "existed, is left as it was. An interrupted download resumes where it\n"
	      "stopped (HTTP Range) and starts over when the file changed on the server;\n"
	      "network errors, 5xx, 408 and 429 are retried with growing waits.\n"
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

struct fetch_cli {
	struct swu_reader *reader;
	int fd;
	struct host host;
	const char *part;
	bool write_failed; /* a local disk error, not the bundle's fault */
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
		set_error(err, errlen, "cannot write %s: %s", f->part, strerror(-r));
		f->write_failed = true;
		return r;
	}
	return 0;
}

static int reset(void *ctx, char *err, size_t errlen)
{
	struct fetch_cli *f = ctx;
	swu_reader_reset(f->reader);
	if (ftruncate(f->fd, 0) < 0 || lseek(f->fd, 0, SEEK_SET) < 0) {
		int e = errno;
		set_error(err, errlen, "cannot empty %s: %s", f->part, strerror(e));
		f->write_failed = true;
		return -e;
	}
	return 0;
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
	char part[4096];
	if (snprintf(part, sizeof(part), "%s.part", out) >= (int)sizeof(part)) {
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

	/* A .part left by a crash is ours to replace; never follow a link. */
	int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_error("fetch: cannot create %s: %s", part, strerror(errno));
		return EXIT_FAILURE_GENERIC;
	}
	struct fetch_cli f = {.reader = reader, .fd = fd, .part = part};
	host_init(&f.host, cli_globals.quiet);

	o.max_size = limits.max_bundle ? limits.max_bundle : SWU_DEFAULT_MAX_BUNDLE;
	o.user_agent = "mcu-ota/" MCU_OTA_VERSION;
	o.sink = sink;
	o.reset = reset;
	o.progress = progress;
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
	r = fetch_url(url, &o, &res, err, sizeof(err));
	host_progress_done(&f.host);
	if (r < 0) {
		/* the reader's sentences do not name the URL */
		if (res.error == FETCH_ERR_SINK)
			log_error("%s: %s", shown, err);
		else
			log_error("%s", err);
		code = f.write_failed ? EXIT_FAILURE_GENERIC : exit_code(&res);
	} else if ((r = swu_reader_finish(reader, err, sizeof(err))) < 0) {
		log_error("%s: %s", shown, err);
		code = EXIT_BAD_INPUT;
	} else if (fsync(fd) < 0 || (r = close(fd), fd = -1, r) < 0) {
		log_error("fetch: cannot write %s: %s", part, strerror(errno));
		code = EXIT_FAILURE_GENERIC;
	} else if (rename(part, out) < 0) {
		log_error("fetch: cannot rename %s to %s: %s", part, out, strerror(errno));
		code = EXIT_FAILURE_GENERIC;
	} else if ((r = fsync_parent(out)) < 0) {
		log_error("fetch: %s: %s", out, strerror(-r));
		code = EXIT_FAILURE_GENERIC;
	}
	if (fd >= 0)
		close(fd);
	if (code != EXIT_OK)
		unlink(part);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (code != EXIT_OK)
		return code;

	if (!cli_globals.quiet) {
		const struct swu_manifest *m = swu_reader_manifest(reader);
		char size[32];
		double secs = (double)(host_now_ns() - t0) / 1e9;
		format_size(res.size, size, sizeof(size));
		printf("fetched %s (%s in %.1f s%s) to %s: verified, version %s, %zu image%s, %s "
		       "signature by %s\n",
		       shown, size, secs,
		       res.attempts > 1 ? (res.restarts ? ", restarted" : ", resumed") : "", out,
		       m->version, m->image_count, m->image_count == 1 ? "" : "s",
		       swu_signature_kind_name(m->signature_kind), m->signer);
	}
	return EXIT_OK;
}
