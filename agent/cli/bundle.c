/* `mcu-ota bundle inspect|verify FILE|URL`: read a .swu bundle as a stream,
 * check its signature, every image's SHA-256 and every limit. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/swu.h"
#include "bundle/swu_args.h"
#include "cli/cli.h"
#include "fetch/fetch.h"
#include "fetch/fetch_args.h"
#include "util/format.h"
#include "util/log.h"

static void bundle_usage(FILE *f)
{
	fputs("Usage: mcu-ota bundle inspect FILE|URL [--json] [TRUST] [LIMITS] [TLS]\n"
	      "       mcu-ota bundle verify FILE|URL TRUST [LIMITS] [TLS]\n"
	      "\n"
	      "Read a SWUpdate .swu bundle as a stream (FILE may be - for standard input,\n"
	      "URL is https://...): sw-description and its signature first, then every\n"
	      "image, hashed with SHA-256 as it goes by. Nothing is written anywhere.\n"
	      "\n"
	      "inspect  prints the version, description, hardware compatibility, each image\n"
	      "         (device, version, size, sha256, address) and the signer. With TRUST\n"
	      "         the signature is verified; without, it says \"signature NOT verified\".\n"
	      "verify   exits 0 only when the signature, every hash and every limit hold;\n"
	      "         otherwise prints one line saying why and exits 3.\n"
	      "\n"
	      "TRUST (at least one for verify):\n" SWU_ARGS_TRUST_HELP "\n"
	      "LIMITS (K and M suffixes allowed):\n" SWU_ARGS_LIMITS_HELP "\n"
	      "TLS, for a URL (the server's certificate and host name are always "
	      "verified):\n" FETCH_ARGS_HELP "\n"
	      "Other:\n"
	      "  --json              (inspect) one JSON object on standard output\n"
	      "  -h, --help          this help\n"
	      "\n"
	      "Exit codes: 0 verified (inspect: read); 1 the download failed (network,\n"
	      "TLS, HTTP); 2 bad command line (also a --key, --ca, --tls-ca or client\n"
	      "certificate that cannot be read or used); 3 the bundle did not verify or hit\n"
	      "a limit.\n",
	      f);
}

struct bundle_args {
	bool json;
	struct swu_args swu;
	struct fetch_options net; /* TLS and proxy, for a URL */
	const char *source;
	char shown[512]; /* source as printed: a URL without credentials or query */
};

/* 0, or an exit code. */
static int parse_args(const char *cmd, int argc, char **argv, struct bundle_args *a)
{
	static const struct option options[] = {
	    {"json", no_argument, NULL, 'j'},
	    SWU_ARGS_OPTIONS,
	    FETCH_ARGS_OPTIONS,
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	char err[256];
	int c, r;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jk:c:C:r:n:h", options, NULL)) != -1) {
		switch (c) {
		case 'j':
			if (strcmp(cmd, "inspect") != 0) {
				log_error("bundle %s: --json is for inspect", cmd);
				return EXIT_USAGE;
			}
			a->json = true;
			continue;
		case 'h':
			bundle_usage(stdout);
			return -1;
		case ':':
			log_error("bundle %s: %s needs a value", cmd, argv[optind - 1]);
			return EXIT_USAGE;
		/* the short forms of the trust options */
		case 'k':
			c = SWU_ARG_KEY;
			break;
		case 'c':
			c = SWU_ARG_CA;
			break;
		case 'C':
			c = SWU_ARG_CA_DIR;
			break;
		case 'r':
			c = SWU_ARG_CRL;
			break;
		case 'n':
			c = SWU_ARG_SIGNER_CN;
			break;
		}
		r = swu_args_apply(&a->swu, c, optarg, err, sizeof(err));
		if (r == 0)
			r = fetch_args_apply(&a->net, c, optarg);
		if (r < 0) {
			log_error("bundle %s: %s", cmd, err);
			return EXIT_USAGE;
		}
		if (r > 0)
			continue;
		if (optopt)
			log_error("bundle %s: unknown option -%c (see --help)", cmd, optopt);
		else
			log_error("bundle %s: unknown option %s (see --help)", cmd,
			          argv[optind - 1]);
		return EXIT_USAGE;
	}
	if (optind != argc - 1) {
		log_error("bundle %s: %s (see --help)", cmd,
		          optind >= argc ? "no FILE or URL given" : "more than one FILE given");
		return EXIT_USAGE;
	}
	if (swu_args_check(&a->swu, err, sizeof(err)) < 0 ||
	    fetch_args_check(&a->net, err, sizeof(err)) < 0) {
		log_error("bundle %s: %s", cmd, err);
		return EXIT_USAGE;
	}
	a->source = argv[optind];
	return 0;
}

/* ---- download into the reader ---- */

static int fetch_feed(void *ctx, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	return swu_reader_feed(ctx, data, len, err, errlen);
}

static int fetch_reset(void *ctx, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	swu_reader_reset(ctx);
	return 0;
}

/* Stream the source through r. 0, or an exit code after printing why. */
static int read_source(struct swu_reader *r, const struct bundle_args *a)
{
	char err[512] = "";
	int rc;

	if (fetch_is_url(a->source)) {
		struct fetch_options o = a->net;
		struct fetch_result res = {0};

		o.max_size =
		    a->swu.limits.max_bundle ? a->swu.limits.max_bundle : SWU_DEFAULT_MAX_BUNDLE;
		o.sink = fetch_feed;
		o.reset = fetch_reset;
		o.names = &fetch_args_names;
		o.ctx = r;
		rc = fetch_url(a->source, &o, &res, err, sizeof(err));
		if (rc < 0 && res.error == FETCH_ERR_SINK) {
			/* the reader's reason, which does not name the URL */
			log_error("%s: %s", a->shown, err);
			return rc == -ENOMEM ? EXIT_FAILURE_GENERIC : EXIT_BAD_INPUT;
		}
		if (rc < 0) {
			log_error("%s", err); /* the downloader's sentence names the URL */
			switch (res.error) {
			case FETCH_ERR_USAGE:
			case FETCH_ERR_LOCAL: /* an option names a file that cannot be used */
				return EXIT_USAGE;
			case FETCH_ERR_TOO_BIG: /* a limit is a property of the bundle */
				return EXIT_BAD_INPUT;
			default: /* the network is not */
				return EXIT_FAILURE_GENERIC;
			}
		}
		rc = swu_reader_finish(r, err, sizeof(err));
		if (rc < 0) {
			log_error("%s: %s", a->shown, err);
			return EXIT_BAD_INPUT;
		}
		return 0;
	}
	rc = swu_reader_feed_file(r, a->source, err, sizeof(err));
	if (rc < 0) {
		/* the reader's messages do not name the file; read errors do */
		if (strncmp(err, a->source, strlen(a->source)) == 0)
			log_error("%s", err);
		else
			log_error("%s: %s", a->source, err);
		return rc == -ENOMEM ? EXIT_FAILURE_GENERIC : EXIT_BAD_INPUT;
	}
	return 0;
}

/* ---- output ---- */

static const char *format_name(const struct swu_image *img)
{
	return img->format == IMAGE_FORMAT_AUTO ? "auto" : image_format_name(img->format);
}

static void print_text(const char *source, const struct swu_manifest *m)
{
	printf("bundle:       %s\n", source);
	printf("version:      %s\n", m->version);
	if (m->description)
		printf("description:  %s\n", m->description);
	if (m->hardware_compatibility_count) {
		printf("compatible:   ");
		for (size_t i = 0; i < m->hardware_compatibility_count; i++)
			printf("%s%s", i ? ", " : "", m->hardware_compatibility[i]);
		printf("\n");
	}
	if (m->signature_verified)
		printf("signature:    verified, %s, signer %s\n",
		       swu_signature_kind_name(m->signature_kind), m->signer);
	else if (m->signature_kind == SWU_SIG_CMS)
		printf("signature:    NOT verified (CMS naming %s; give --ca to verify)\n",
		       m->signer[0] ? m->signer : "no signer");
	else
		printf("signature:    NOT verified (give --key or --ca to verify)\n");
	printf("format:       cpio %s\n", m->cpio_crc ? "crc (070702)" : "newc (070701)");
	printf("images:       %zu, every SHA-256 checked\n", m->image_count);
	for (size_t i = 0; i < m->image_count; i++) {
		const struct swu_image *img = &m->images[i];
		printf("  %s\n", img->filename);
		printf("    device    %s\n", img->device);
		if (img->version)
			printf("    version   %s%s%s\n", img->version,
			       img->install_if_different ? " (install-if-different)" : "",
			       img->install_if_higher ? " (install-if-higher)" : "");
		printf("    size      %" PRIu64 " bytes\n", img->size);
		printf("    sha256    %s\n", img->sha256_hex);
		printf("    address   0x%08" PRIx32 "%s\n", img->address,
		       img->has_address ? "" : " (default)");
		printf("    format    %s\n", format_name(img));
	}
}

static void json_string_or_null(const char *s)
{
	if (s)
		json_print_string(stdout, s);
	else
		fputs("null", stdout);
}

static void print_json(const char *source, const struct swu_manifest *m)
{
	fputs("{\"bundle\":", stdout);
	json_print_string(stdout, source);
	fputs(",\"version\":", stdout);
	json_print_string(stdout, m->version);
	fputs(",\"description\":", stdout);
	json_string_or_null(m->description);
	fputs(",\"hardware_compatibility\":[", stdout);
	for (size_t i = 0; i < m->hardware_compatibility_count; i++) {
		if (i)
			fputc(',', stdout);
		json_print_string(stdout, m->hardware_compatibility[i]);
	}
	printf("],\"signature\":{\"verified\":%s,\"kind\":",
	       m->signature_verified ? "true" : "false");
	if (m->signature_kind == SWU_SIG_NONE)
		fputs("null", stdout);
	else
		json_print_string(stdout, swu_signature_kind_name(m->signature_kind));
	fputs(",\"signer\":", stdout);
	json_string_or_null(m->signer[0] ? m->signer : NULL);
	printf("},\"cpio\":\"%s\",\"images\":[", m->cpio_crc ? "crc" : "newc");
	for (size_t i = 0; i < m->image_count; i++) {
		const struct swu_image *img = &m->images[i];
		fputs(i ? ",{\"filename\":" : "{\"filename\":", stdout);
		json_print_string(stdout, img->filename);
		fputs(",\"device\":", stdout);
		json_print_string(stdout, img->device);
		fputs(",\"version\":", stdout);
		json_string_or_null(img->version);
		printf(",\"size\":%" PRIu64 ",\"sha256\":\"%s\",\"address\":\"0x%08" PRIx32
		       "\",\"format\":\"%s\",\"install_if_different\":%s,\"install_if_higher\":%s}",
		       img->size, img->sha256_hex, img->address, format_name(img),
		       img->install_if_different ? "true" : "false",
		       img->install_if_higher ? "true" : "false");
	}
	fputs("]}\n", stdout);
}

static int bundle_run(const char *cmd, int argc, char **argv)
{
	_cleanup_(swu_reader_freep) struct swu_reader *r = NULL;
	struct bundle_args a = {0};
	const struct swu_manifest *m;
	char err[512] = "";
	bool inspect = strcmp(cmd, "inspect") == 0;
	int rc;

	rc = parse_args(cmd, argc, argv, &a);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (!inspect && !swu_args_have_trust(&a.swu)) {
		log_error("bundle verify: give the trusted --key (detached signatures) or --ca "
		          "(CMS)");
		return EXIT_USAGE;
	}
	/* a URL may carry a password or a token: never print it */
	if (fetch_is_url(a.source))
		fetch_redact_url(a.source, a.shown, sizeof(a.shown));
	else
		snprintf(a.shown, sizeof(a.shown), "%s", a.source);
	a.swu.trust.allow_unverified = inspect && !swu_args_have_trust(&a.swu);
	rc = swu_reader_new(&r, &a.swu.trust, &a.swu.limits, NULL, NULL, err, sizeof(err));
	if (rc < 0) {
		/* a key, CA or CRL given on the command line cannot be used */
		log_error("bundle %s: %s", cmd, err);
		return rc == -ENOMEM || rc == -EIO ? EXIT_FAILURE_GENERIC : EXIT_USAGE;
	}
	rc = read_source(r, &a);
	if (rc)
		return rc;
	m = swu_reader_manifest(r);
	if (inspect) {
		if (a.json)
			print_json(a.shown, m);
		else
			print_text(a.shown, m);
	} else {
		printf("%s: OK: version %s, %zu image%s, %s signature by %s\n", a.shown, m->version,
		       m->image_count, m->image_count == 1 ? "" : "s",
		       swu_signature_kind_name(m->signature_kind), m->signer);
	}
	if (fflush(stdout) != 0) {
		log_error("writing to standard output: %s", strerror(errno));
		return EXIT_FAILURE_GENERIC;
	}
	return EXIT_OK;
}

int cli_bundle(int argc, char **argv)
{
	if (argc < 2) {
		log_error(
		    "bundle: which subcommand? (inspect or verify; see mcu-ota bundle --help)");
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		bundle_usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "inspect") == 0 || strcmp(argv[1], "verify") == 0)
		return bundle_run(argv[1], argc - 1, argv + 1);
	log_error(
	    "bundle: unknown subcommand \"%s\" (inspect or verify; see mcu-ota bundle --help)",
	    argv[1]);
	return EXIT_USAGE;
}
