/* `mcu-ota fetch URL -o FILE`: download a .swu bundle and verify it while it
 * streams; FILE appears only when the bundle verified. */
#include <errno.h>
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
#include "bundle/swu_fetch.h"
#include "cli/cli.h"
#include "plugin/host.h"
#include "fetch/fetch.h"
#include "fetch/fetch_args.h"
#include "fetch/resume.h"
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

static void progress(void *ctx, uint64_t done, uint64_t total)
{
	struct host *host = ctx;
	host->api.progress(host->api.ctx, "fetch", done, total);
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

/* What the command line asks for. */
struct fetch_request {
	struct swu_args args;
	struct fetch_options o;
	const char *out, *url;
	char part[4096];
};

/* After the options: what they name must go together. */
static int check(int argc, char **argv, struct fetch_request *q)
{
	char err[1024] = "";
	struct stat st;

	if (optind + 1 != argc || !q->out) {
		log_error("fetch needs one URL and -o FILE; see mcu-ota fetch --help");
		return EXIT_USAGE;
	}
	q->url = argv[optind];
	if (!swu_args_have_trust(&q->args)) {
		log_error("fetch: give the trusted --key (detached signatures) or --ca (CMS): "
		          "nothing is saved unverified");
		return EXIT_USAGE;
	}
	if (swu_args_check(&q->args, err, sizeof(err)) < 0 ||
	    fetch_args_check(&q->o, err, sizeof(err)) < 0) {
		log_error("fetch: %s", err);
		return EXIT_USAGE;
	}
	if (strcmp(q->out, "-") == 0 || (stat(q->out, &st) == 0 && S_ISDIR(st.st_mode))) {
		log_error("fetch: -o needs a file name (not a directory or standard output)");
		return EXIT_USAGE;
	}
	if (snprintf(q->part, sizeof(q->part), "%s.part", q->out) >= (int)sizeof(q->part)) {
		log_error("fetch: %s: name too long", q->out);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* EXIT_OK and q filled (*done after --help), or an exit code. */
static int parse(int argc, char **argv, struct fetch_request *q, bool *done)
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
	char err[1024] = "";
	uint32_t n;
	int c, r;

	while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
		switch (c) {
		case 'o':
			q->out = optarg;
			continue;
		case 'R':
			if (size_arg("--limit-rate", optarg, &q->o.max_recv_speed) < 0)
				return EXIT_USAGE;
			continue;
		case 't':
			if (parse_u32(optarg, &n) < 0 || n == 0 || n > 3600) {
				log_error(
				    "fetch: --connect-timeout: \"%s\" is not 1 to 3600 seconds",
				    optarg);
				return EXIT_USAGE;
			}
			q->o.connect_timeout_ms = n * 1000u;
			continue;
		case 'N':
			if (parse_u32(optarg, &n) < 0 || n > 100) {
				log_error("fetch: --retries: \"%s\" is not 0 to 100", optarg);
				return EXIT_USAGE;
			}
			q->o.max_attempts = n + 1;
			continue;
		case 'h':
			help(stdout);
			*done = true;
			return EXIT_OK;
		}
		r = swu_args_apply(&q->args, c, optarg, err, sizeof(err));
		if (r == 0)
			r = fetch_args_apply(&q->o, c, optarg);
		if (r < 0) {
			log_error("fetch: %s", err);
			return EXIT_USAGE;
		}
		if (r == 0) {
			help(stderr);
			return EXIT_USAGE;
		}
	}
	return check(argc, argv, q);
}

/* The line that says what was fetched. */
static void report(const struct fetch_request *q, struct swu_reader *reader,
                   const struct fetch_result *res, uint64_t resumed_from, uint64_t t0)
{
	const struct swu_manifest *m = swu_reader_manifest(reader);
	char size[32], how[160] = "", shown[512];
	double secs = (double)(host_now_ns() - t0) / 1e9;
	fetch_redact_url(q->url, shown, sizeof(shown));
	format_size(res->size, size, sizeof(size));
	if (res->restarts)
		snprintf(how, sizeof(how), ", restarted");
	else if (resumed_from)
		snprintf(how, sizeof(how), ", resumed from byte %" PRIu64 " kept by an earlier run",
		         resumed_from);
	else if (res->attempts > 1)
		snprintf(how, sizeof(how), ", resumed");
	printf("fetched %s (%s in %.1f s%s) to %s: verified, version %s, %zu image%s, %s "
	       "signature by %s\n",
	       shown, size, secs, how, q->out, m->version, m->image_count,
	       m->image_count == 1 ? "" : "s", swu_signature_kind_name(m->signature_kind),
	       m->signer);
}

/* Download into FILE.part through the reader; FILE once it verified. */
static int run(struct fetch_request *q, struct swu_reader *reader)
{
	char err[1024] = "", shown[512];
	_cleanup_(fetch_part_closep) struct fetch_part *part = NULL;
	int r = fetch_part_open(&part, q->part, q->url, err, sizeof(err));
	if (r == -EBUSY) {
		log_error("fetch: %s is being written by another mcu-ota fetch: wait for it to end",
		          q->part);
		return EXIT_FAILURE_GENERIC;
	}
	if (r < 0) {
		log_error("fetch: %s", err);
		return EXIT_FAILURE_GENERIC;
	}
	struct fetch_part_consumer consumer = swu_fetch_consumer(reader);
	struct host host;
	host_init(&host, cli_globals.quiet);
	q->o.max_size =
	    q->args.limits.max_bundle ? q->args.limits.max_bundle : SWU_DEFAULT_MAX_BUNDLE;
	q->o.user_agent = "mcu-ota/" MCU_OTA_VERSION;
	q->o.names = &fetch_args_names;
	q->o.progress = progress;
	q->o.ctx = &host;
	q->o.cancel = &interrupted;

	struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	uint64_t t0 = host_now_ns();
	struct fetch_result res;
	r = fetch_part_download(part, q->url, &q->o, &consumer, &res, err, sizeof(err));
	host_progress_done(&host);
	int code = EXIT_OK;
	fetch_redact_url(q->url, shown, sizeof(shown));
	if (r < 0 && part->refused) {
		log_error("%s: %s", shown, err); /* the reader's sentences do not name the URL */
		code = EXIT_BAD_INPUT;
	} else if (r < 0) {
		log_error("%s", err);
		code = part->write_failed ? EXIT_FAILURE_GENERIC : exit_code(&res);
	} else if (fetch_part_commit(part, q->out, err, sizeof(err)) < 0) {
		log_error("fetch: %s", err);
		code = EXIT_FAILURE_GENERIC;
	}
	uint64_t resumed_from = part->resumed_from;
	uint64_t kept = fetch_part_close(take_ptr(&part));
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (kept) {
		char size[32];
		format_size(kept, size, sizeof(size));
		log_info("fetch: kept %s in %s: run the same command again to resume", size,
		         q->part);
	}
	if (code == EXIT_OK && !cli_globals.quiet)
		report(q, reader, &res, resumed_from, t0);
	return code;
}

int cli_fetch(int argc, char **argv)
{
	struct fetch_request q = {0};
	char err[1024] = "";
	bool done = false;
	int code = parse(argc, argv, &q, &done);
	if (code != EXIT_OK || done)
		return code;

	_cleanup_(swu_reader_freep) struct swu_reader *reader = NULL;
	int r =
	    swu_reader_new(&reader, &q.args.trust, &q.args.limits, NULL, NULL, err, sizeof(err));
	if (r < 0) {
		/* a key, CA or CRL given on the command line cannot be used */
		log_error("fetch: %s", err);
		return r == -ENOMEM || r == -EIO ? EXIT_FAILURE_GENERIC : EXIT_USAGE;
	}
	return run(&q, reader);
}
