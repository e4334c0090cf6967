/* `mcu-ota update`, `rollback`, `status` and `recover`: the update engine
 * (update/engine.h) driven from the command line, on the devices of the
 * configuration file. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "config/config.h"
#include "fetch/fetch.h"
#include "update/engine.h"
#include "update/journal.h"
#include "update/store.h"
#include "util/format.h"
#include "util/log.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

const char *cli_config_path(void)
{
	if (cli_globals.config)
		return cli_globals.config;
	const char *env = getenv("MCU_OTA_CONFIG");
	return env && *env ? env : CONFIG_DEFAULT_PATH;
}

static int load_config(struct config *c)
{
	char err[1024];
	int r = config_load(cli_config_path(), c, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		return r == -EINVAL ? EXIT_BAD_INPUT : EXIT_FAILURE_GENERIC;
	}
	return EXIT_OK;
}

static struct engine_options engine_options(const struct config *c)
{
	return (struct engine_options){
	    .config = c,
	    .plugin_dir = cli_globals.plugin_dir,
	    .quiet = cli_globals.quiet,
	    .cancel = &interrupted,
	};
}

/* The worst outcome decides the exit code. */
static int outcome_code(const struct engine_outcome *o)
{
	switch (o->result) {
	case RESULT_INSTALLED:
		return EXIT_OK;
	case RESULT_ROLLED_BACK:
		return EXIT_ROLLED_BACK;
	case RESULT_FAILED:
		return EXIT_NEEDS_ATTENTION;
	default:
		return o->code ? cli_exit_code(o->code) : EXIT_OK;
	}
}

static const char *outcome_word(const struct engine_outcome *o, int code)
{
	if (code == EXIT_OK)
		return o->result == RESULT_INSTALLED ? "ok" : "unchanged";
	return o->result == RESULT_NONE ? "error" : update_result_name(o->result);
}

static int report(const struct engine_outcome *out, size_t n)
{
	int code = EXIT_OK;
	for (size_t i = 0; i < n; i++) {
		int c = outcome_code(&out[i]);
		if (!cli_globals.quiet || c != EXIT_OK)
			printf("%s: %s: %s\n", out[i].device, outcome_word(&out[i], c),
			       out[i].message);
		if (c > code || (code == EXIT_OK && c != EXIT_OK))
			code = c;
	}
	return code;
}

/* Nothing was touched; say why by the exit code: a bundle that does not
 * verify (3) is not a download that failed (1), which may work later. */
static int update_error_code(int r, const char *source)
{
	switch (r) {
	case -ESRCH:
		return EXIT_USAGE;
	case -EBADMSG:
	case -EKEYREJECTED:
	case -ENOKEY:
	case -ENOTSUP:
	case -EFBIG:
		return EXIT_BAD_INPUT;
	default:
		/* a local file that cannot be read is bad input; a URL, a failed download */
		return fetch_is_url(source) ? EXIT_FAILURE_GENERIC : EXIT_BAD_INPUT;
	}
}

static void update_help(FILE *f)
{
	fprintf(
	    f,
	    "Usage: mcu-ota update [--device NAME]... BUNDLE|URL\n\n"
	    "Verifies the signed bundle (a file, or an https:// URL), then installs each of its\n"
	    "images on the configured device it names: into the bootloader, write, read back,\n"
	    "out again, and the device's health check. A device whose update fails at any\n"
	    "step gets its image from before back (read from the chip before its first\n"
	    "update). Several devices are updated in parallel. Nothing of a bundle that does\n"
	    "not verify reaches a device.\n\n"
	    "  --device NAME  only this device (repeatable; it must have an image in the "
	    "bundle)\n"
	    "  -h, --help     this text\n\n"
	    "The configuration is %s (mcu-ota --config FILE).\n"
	    "Exit: 0 every device runs the new image (or had it already), 8 an update failed\n"
	    "and was rolled back, 9 it failed and so did the rollback, 3 a bundle that does\n"
	    "not verify or a bad configuration, 1 a download that failed, 2 a device that is\n"
	    "not configured or has no image in the bundle.\n",
	    CONFIG_DEFAULT_PATH);
}

static void install_signals(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int cli_update(int argc, char **argv)
{
	static const struct option options[] = {
	    {"device", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *devices[CONFIG_MAX_DEVICES];
	size_t n = 0;
	int c;
	while ((c = getopt_long(argc, argv, "d:h", options, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (n == CONFIG_MAX_DEVICES) {
				log_error("at most %d --device options", CONFIG_MAX_DEVICES);
				return EXIT_USAGE;
			}
			devices[n++] = optarg;
			break;
		case 'h':
			update_help(stdout);
			return EXIT_OK;
		default:
			update_help(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		log_error("update takes one bundle (a file or an https:// URL); see --help");
		return EXIT_USAGE;
	}
	struct config cfg;
	int code = load_config(&cfg);
	if (code != EXIT_OK)
		return code;
	install_signals();
	struct engine_options eo = engine_options(&cfg);
	struct engine_outcome out[CONFIG_MAX_DEVICES];
	size_t count = 0;
	char err[1024];
	int r = engine_update(&eo, argv[optind], devices, n, out, &count, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		config_free(&cfg);
		return update_error_code(r, argv[optind]);
	}
	code = report(out, count);
	config_free(&cfg);
	return code;
}

/* ---- rollback, recover ---- */

static void device_help(FILE *f, const char *cmd, const char *what)
{
	fprintf(f,
	        "Usage: mcu-ota %s --device NAME%s\n\n%s\n\n"
	        "  --device NAME  the configured device%s\n"
	        "  -h, --help     this text\n",
	        cmd, strcmp(cmd, "recover") ? "" : "|--all", what,
	        strcmp(cmd, "recover") ? "" : "\n  --all          every configured device");
}

static const char rollback_what[] =
    "Installs the device's previous image (verified, booted and health-checked like an\n"
    "update); the image it replaces becomes the previous one, so a second rollback undoes\n"
    "the first.";
static const char recover_what[] =
    "Finishes what a crash or power loss interrupted: an update whose staged image is\n"
    "intact is completed, otherwise the device is rolled back. update and rollback do\n"
    "this first on their own; run it at boot (before the daemon) to do it at once.";

static int device_command(int argc, char **argv, bool recover)
{
	static const struct option options[] = {
	    {"device", required_argument, NULL, 'd'},
	    {"all", no_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *cmd = recover ? "recover" : "rollback";
	const char *what = recover ? recover_what : rollback_what;
	const char *name = NULL;
	bool all = false;
	int c;
	while ((c = getopt_long(argc, argv, "d:h", options, NULL)) != -1) {
		switch (c) {
		case 'd':
			name = optarg;
			break;
		case 'a':
			all = recover;
			if (!recover) {
				device_help(stderr, cmd, what);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			device_help(stdout, cmd, what);
			return EXIT_OK;
		default:
			device_help(stderr, cmd, what);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || !!name == all) {
		log_error("%s takes --device NAME%s; see --help", cmd, recover ? " or --all" : "");
		return EXIT_USAGE;
	}
	struct config cfg;
	int code = load_config(&cfg);
	if (code != EXIT_OK)
		return code;
	struct engine_options eo = engine_options(&cfg);
	struct engine_outcome out[CONFIG_MAX_DEVICES];
	size_t n = 0;
	for (size_t i = 0; i < cfg.device_count; i++) {
		const struct device_config *d = &cfg.devices[i];
		if (name && strcmp(name, d->name))
			continue;
		if (recover)
			engine_recover(&eo, d, &out[n++]);
		else
			engine_rollback(&eo, d, &out[n++]);
	}
	if (name && !n) {
		log_error("no device \"%s\" in %s", name, cfg.path);
		config_free(&cfg);
		return EXIT_USAGE;
	}
	code = report(out, n);
	config_free(&cfg);
	return code;
}

int cli_rollback(int argc, char **argv)
{
	return device_command(argc, argv, false);
}

int cli_recover(int argc, char **argv)
{
	return device_command(argc, argv, true);
}

/* ---- status ---- */

struct device_status {
	bool known; /* the device has a store */
	bool has_current, has_previous;
	struct slot_meta current, previous;
	struct journal journal;
	char error[512]; /* why the store could not be read */
};

static void read_status(const struct config *c, const struct device_config *d,
                        struct device_status *s)
{
	struct store st;
	char err[512];
	memset(s, 0, sizeof(*s));
	int r = store_open_readonly(c->state_dir, d->name, &st, err, sizeof(err));
	if (r == -ENOENT)
		return;
	if (r < 0) {
		snprintf(s->error, sizeof(s->error), "%s", err);
		return;
	}
	s->known = true;
	s->has_current = store_meta(&st, STORE_CURRENT, &s->current, err, sizeof(err)) == 0;
	s->has_previous = store_meta(&st, STORE_PREVIOUS, &s->previous, err, sizeof(err)) == 0;
	if (journal_load(&st, &s->journal, err, sizeof(err)) < 0)
		snprintf(s->error, sizeof(s->error), "%s", err);
	store_close(&st);
}

static void json_opt(const char *key, const char *v, bool last)
{
	printf("\"%s\": ", key);
	if (v && *v)
		json_print_string(stdout, v);
	else
		printf("null");
	printf(last ? "" : ", ");
}

static void print_json(const struct config *c)
{
	printf("[");
	for (size_t i = 0; i < c->device_count; i++) {
		struct device_status s;
		read_status(c, &c->devices[i], &s);
		printf("%s\n  {", i ? "," : "");
		json_opt("device", c->devices[i].name, false);
		json_opt("version", s.has_current ? s.current.version : NULL, false);
		json_opt("sha256", s.has_current ? s.current.sha256 : NULL, false);
		if (s.has_current)
			printf("\"size\": %" PRIu64 ", \"address\": %" PRIu32 ", ", s.current.size,
			       s.current.address);
		json_opt("previous_version", s.has_previous ? s.previous.version : NULL, false);
		json_opt("previous_sha256", s.has_previous ? s.previous.sha256 : NULL, false);
		json_opt("state", update_state_name(s.journal.state), false);
		json_opt("result", update_result_name(s.journal.result), false);
		json_opt("attempted_version", s.journal.version, false);
		json_opt("error", s.error[0] ? s.error : s.journal.error, false);
		printf("\"time\": %" PRId64 "}", s.journal.time);
	}
	printf("%s]\n", c->device_count ? "\n" : "");
}

static void print_text(const struct config *c)
{
	for (size_t i = 0; i < c->device_count; i++) {
		struct device_status s;
		read_status(c, &c->devices[i], &s);
		printf("%s\n", c->devices[i].name);
		if (s.error[0])
			printf("  error:     %s\n", s.error);
		if (!s.known) {
			printf("  never updated by mcu-ota\n");
			continue;
		}
		if (s.has_current)
			printf(
			    "  installed: %s (sha256 %s, %" PRIu64 " bytes at 0x%08" PRIx32 ")\n",
			    s.current.version, s.current.sha256, s.current.size, s.current.address);
		else
			printf("  installed: not known\n");
		printf("  previous:  %s\n",
		       !s.has_previous ? "none"
		       : strcmp(s.previous.version, ENGINE_VERSION_UNKNOWN)
		           ? s.previous.version
		           : "unknown (read back from the chip before its first "
		             "update)");
		printf("  state:     %s\n", update_state_name(s.journal.state));
		if (s.journal.result != RESULT_NONE) {
			char when[64] = "";
			time_t t = (time_t)s.journal.time;
			struct tm tm;
			if (localtime_r(&t, &tm))
				strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
			printf("  last:      %s, %s (%s)\n", s.journal.version,
			       update_result_name(s.journal.result), when);
		}
		if (s.journal.error[0])
			printf("  error:     %s\n", s.journal.error);
	}
}

static void status_help(FILE *f)
{
	fprintf(f, "Usage: mcu-ota status [--json]\n\n"
	           "For every configured device: the installed version and its SHA-256, the\n"
	           "previous version, the update state, and how the last update ended (with its\n"
	           "error). Reads only; works while an update runs.\n\n"
	           "  --json      one JSON array, an object per device\n"
	           "  -h, --help  this text\n");
}

int cli_status(int argc, char **argv)
{
	static const struct option options[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			status_help(stdout);
			return EXIT_OK;
		default:
			status_help(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		status_help(stderr);
		return EXIT_USAGE;
	}
	struct config cfg;
	int code = load_config(&cfg);
	if (code != EXIT_OK)
		return code;
	if (json)
		print_json(&cfg);
	else
		print_text(&cfg);
	config_free(&cfg);
	return EXIT_OK;
}
