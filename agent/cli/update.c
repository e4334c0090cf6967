/* `mcu-ota update`, `rollback`, `status` and `recover`: the update engine
 * (update/engine.h) driven from the command line, on the devices of the
 * configuration file. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "daemon/control.h"
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

static int load_config(struct config *c)
{
	char err[1024];
	int r = config_load(cli_config_path(), c, err, sizeof(err));
	if (r < 0) {
		cli_config_error(r, err);
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
	    .source_fd = -1,
	};
}

/* --allow-downgrade installs below a device's high-water mark: root's alone
 * when the command works without the daemon (through it, the daemon checks
 * who asks). */
static bool may_downgrade(void)
{
	if (geteuid() == 0)
		return true;
	log_error("--allow-downgrade is for root: it installs firmware older than the lowest "
	          "version a device may run (its high-water mark or min_version). Run the "
	          "command as root, e.g. with sudo");
	return false;
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
		/* the engine says a downgrade needs allowing; the command says how */
		if (!cli_globals.quiet || c != EXIT_OK)
			printf("%s: %s: %s%s\n", out[i].device, outcome_word(&out[i], c),
			       out[i].message,
			       out[i].code == -EPERM ? " (as root: --allow-downgrade)" : "");
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
	case -ENOEXEC: /* for another hardware revision */
		return EXIT_BAD_INPUT;
	default:
		/* a local file that cannot be read is bad input; a URL, a failed download */
		return fetch_is_url(source) ? EXIT_FAILURE_GENERIC : EXIT_BAD_INPUT;
	}
}

/* ---- through the daemon ---- */

/* Connect to the daemon when one runs: 1 with *fd, 0 when none runs (the
 * command works alone), or an exit code (> 1) after an error. */
static int daemon_connect(const struct config *c, int *fd)
{
	char err[1024];
	int r = control_connect(c->daemon.socket, fd, err, sizeof(err));
	if (r == -ENOENT || r == -ECONNREFUSED)
		return 0;
	if (r < 0) {
		/* working alone would race the daemon for the devices */
		log_error("%s", err);
		return EXIT_FAILURE_GENERIC;
	}
	log_debug("through the daemon at %s", c->daemon.socket);
	return 1;
}

/* Send a request and show the daemon's replies as the command itself would
 * have; returns the exit code. */
static int daemon_job(int fd, const char *command, const char *source, int source_fd,
                      const char *const *devices, size_t n, bool allow_downgrade)
{
	if (control_send_request(fd, command, source, source_fd, devices, n, allow_downgrade) < 0) {
		log_error("the daemon closed the connection: see its log");
		return EXIT_FAILURE_GENERIC;
	}
	struct control_reader rd = {.fd = fd};
	struct engine_outcome out[CONFIG_MAX_DEVICES];
	size_t count = 0;
	int code = -1;
	char line[CONTROL_MAX_LINE];
	bool ended = false;
	while (!ended && control_read_line(&rd, line, sizeof(line)) > 0) {
		int level, result, rc, off = 0;
		char dev[STORE_NAME_MAX + 1], version[STORE_VERSION_MAX];
		if (sscanf(line, "log %d %n", &level, &off) == 1 && off && level >= 0 &&
		    level <= MCU_OTA_LOG_DEBUG) {
			log_msg((enum mcu_ota_log_level)level, "%s", line + off);
		} else if (sscanf(line, "outcome %64s %d %d %64s %n", dev, &result, &rc, version,
		                  &off) == 4 &&
		           off && count < CONFIG_MAX_DEVICES) {
			struct engine_outcome *o = &out[count++];
			memset(o, 0, sizeof(*o));
			snprintf(o->device, sizeof(o->device), "%s", dev);
			o->result = result >= 0 && result < UPDATE_RESULT_COUNT
			                ? (enum update_result)result
			                : RESULT_NONE;
			o->code = rc;
			snprintf(o->version, sizeof(o->version), "%s",
			         strcmp(version, "-") ? version : "");
			snprintf(o->message, sizeof(o->message), "%s", line + off);
		} else if (sscanf(line, "error %d %n", &rc, &off) == 1 && off) {
			log_error("%s", line + off);
			/* refused for want of rights: exit 1, as "no permission" is */
			code = rc == -EACCES ? EXIT_FAILURE_GENERIC
			                     : update_error_code(rc, source ? source : "");
		} else if (!strncmp(line, "busy ", 5)) {
			log_error("%s", line + 5);
			code = EXIT_FAILURE_GENERIC;
		} else if (!strcmp(line, "end")) {
			ended = true;
		}
	}
	if (!ended) {
		log_error("the daemon closed the connection before the end: see its log");
		return EXIT_FAILURE_GENERIC;
	}
	int reported = report(out, count);
	return code >= 0 && reported == EXIT_OK ? code : reported;
}

static int update_from(const struct config *c, const char *source, const char *const *devices,
                       size_t n, bool allow_downgrade)
{
	struct engine_options eo = engine_options(c);
	eo.allow_downgrade = allow_downgrade;
	struct engine_outcome out[CONFIG_MAX_DEVICES];
	size_t count = 0;
	char err[1024];
	int r = engine_update(&eo, source, devices, n, out, &count, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		return update_error_code(r, source);
	}
	return report(out, count);
}

/* Each device (all that have one when n == 0) gets its configured firmware. */
static int update_to_configured(const struct config *c, const char *const *devices, size_t n,
                                bool allow_downgrade)
{
	int code = EXIT_OK, any = 0;
	for (size_t k = 0; k < n; k++)
		if (!config_device(c, devices[k])) {
			log_error("no device \"%s\" in %s", devices[k], c->path);
			return EXIT_USAGE;
		}
	for (size_t i = 0; i < c->device_count; i++) {
		const struct device_config *d = &c->devices[i];
		bool asked = n == 0;
		for (size_t k = 0; k < n; k++)
			asked = asked || !strcmp(devices[k], d->name);
		if (!asked || (n == 0 && !d->firmware_source))
			continue;
		if (!d->firmware_source) {
			log_error("device %s has no firmware section in %s: give a bundle", d->name,
			          c->path);
			return EXIT_USAGE;
		}
		struct engine_options eo = engine_options(c);
		eo.expect_versions = &d->firmware_version;
		eo.allow_downgrade = allow_downgrade;
		struct engine_outcome out;
		size_t count = 0;
		char err[1024];
		int r = engine_update(&eo, d->firmware_source, &d->name, 1, &out, &count, err,
		                      sizeof(err));
		int one = r < 0 ? update_error_code(r, d->firmware_source) : report(&out, count);
		if (r < 0)
			log_error("%s", err);
		if (one > code || (code == EXIT_OK && one != EXIT_OK))
			code = one;
		any++;
	}
	if (!any) {
		log_error("no device has a firmware section in %s: give a bundle", c->path);
		return EXIT_USAGE;
	}
	return code;
}

static void update_help(FILE *f)
{
	fprintf(
	    f,
	    "Usage: mcu-ota update [--device NAME]... [--allow-downgrade] [BUNDLE|URL]\n\n"
	    "Verifies the signed bundle (a file, or an https:// URL), then installs each of its\n"
	    "images on the configured device it names: into the bootloader, write, read back,\n"
	    "out again, and the device's health check. A device whose update fails at any\n"
	    "step gets its image from before back (read from the chip before its first\n"
	    "update). Several devices are updated in parallel. Nothing of a bundle that does\n"
	    "not verify reaches a device.\n\n"
	    "Without a bundle, each device named (or every one that has one) gets the\n"
	    "firmware its configuration's firmware section names, now, even one that failed\n"
	    "before. While the daemon runs, the update is its job (it gets the open file).\n\n"
	    "A version below a device's high-water mark (the highest version it has run) or\n"
	    "its min_version is refused, and so is a bundle for another hardware revision.\n\n"
	    "  --device NAME      only this device (repeatable; it must have an image in the "
	    "bundle)\n"
	    "  --allow-downgrade  install below the high-water mark (root only)\n"
	    "  -h, --help         this text\n\n"
	    "The configuration is %s (mcu-ota --config FILE).\n"
	    "Exit: 0 every device runs the new image (or had it already), 8 an update failed\n"
	    "and was rolled back, 9 it failed and so did the rollback, 3 a bundle that does\n"
	    "not verify or a bad configuration, 1 a download that failed, 2 a device that is\n"
	    "not configured or has no image in the bundle.\n",
	    CONFIG_DEFAULT_PATH);
}

static void install_signals(void)
{
	cli_survive_hangup("update"); /* finding 11 of issue 12 */
	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int cli_update(int argc, char **argv)
{
	static const struct option options[] = {
	    {"device", required_argument, NULL, 'd'},
	    {"allow-downgrade", no_argument, NULL, 'D'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *devices[CONFIG_MAX_DEVICES];
	size_t n = 0;
	bool allow_downgrade = false;
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
		case 'D':
			allow_downgrade = true;
			break;
		case 'h':
			update_help(stdout);
			return EXIT_OK;
		default:
			update_help(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc - 1) {
		log_error("update takes one bundle (a file or an https:// URL); see --help");
		return EXIT_USAGE;
	}
	/* no bundle: the firmware the configuration names ("update now") */
	const char *source = optind < argc ? argv[optind] : NULL;
	struct config cfg;
	int code = load_config(&cfg);
	if (code != EXIT_OK)
		return code;
	int fd, via = daemon_connect(&cfg, &fd);
	if (via == 1) {
		/* the daemon may not see our files: it gets the open file */
		int file = -1;
		if (source && !fetch_is_url(source) &&
		    (file = open(source, O_RDONLY | O_CLOEXEC)) < 0) {
			log_error("cannot read %s: %s", source, strerror(errno));
			code = EXIT_BAD_INPUT;
		} else {
			code = daemon_job(fd, "update", source, file, devices, n, allow_downgrade);
		}
		if (file >= 0)
			close(file);
		close(fd);
		config_free(&cfg);
		return code; /* the daemon did the work */
	}
	if (via != 0) {
		config_free(&cfg);
		return via;
	}
	if (allow_downgrade && !may_downgrade()) {
		config_free(&cfg);
		return EXIT_FAILURE_GENERIC;
	}
	install_signals();
	code = source ? update_from(&cfg, source, devices, n, allow_downgrade)
	              : update_to_configured(&cfg, devices, n, allow_downgrade);
	config_free(&cfg);
	return code;
}

/* ---- rollback, recover ---- */

static void device_help(FILE *f, const char *cmd, const char *what)
{
	bool rb = !strcmp(cmd, "rollback");
	fprintf(f,
	        "Usage: mcu-ota %s --device NAME%s\n\n%s\n\n"
	        "  --device NAME      the configured device%s\n"
	        "  -h, --help         this text\n",
	        cmd, rb ? " [--allow-downgrade]" : "|--all", what,
	        rb ? "\n  --allow-downgrade  roll back below the high-water mark (root only)"
	           : "\n  --all              every configured device");
}

static const char rollback_what[] =
    "Installs the device's previous image (verified, booted and health-checked like an\n"
    "update); the image it replaces becomes the previous one, so a second rollback undoes\n"
    "the first. A previous image below the device's high-water mark (the highest version\n"
    "it has run) or its min_version needs --allow-downgrade.";
static const char recover_what[] =
    "Finishes what a crash or power loss interrupted: an update whose staged image is\n"
    "intact is completed, otherwise the device is rolled back. update and rollback do\n"
    "this first on their own; run it at boot (before the daemon) to do it at once.";

static int device_command(int argc, char **argv, bool recover)
{
	static const struct option options[] = {
	    {"device", required_argument, NULL, 'd'},
	    {"all", no_argument, NULL, 'a'},
	    {"allow-downgrade", no_argument, NULL, 'D'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *cmd = recover ? "recover" : "rollback";
	const char *what = recover ? recover_what : rollback_what;
	const char *name = NULL;
	bool all = false, allow_downgrade = false;
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
		case 'D':
			allow_downgrade = !recover;
			if (recover) {
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
	int fd, via = recover ? 0 : daemon_connect(&cfg, &fd);
	if (via == 1) { /* the daemon does the work */
		code = daemon_job(fd, "rollback", NULL, -1, &name, 1, allow_downgrade);
		close(fd);
		config_free(&cfg);
		return code;
	}
	if (via != 0) {
		config_free(&cfg);
		return via;
	}
	if (allow_downgrade && !may_downgrade()) {
		config_free(&cfg);
		return EXIT_FAILURE_GENERIC;
	}
	cli_survive_hangup(cmd); /* rollback and recover write chips too */
	struct engine_options eo = engine_options(&cfg);
	eo.allow_downgrade = allow_downgrade;
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

static void json_opt(const char *key, const char *v, bool last)
{
	printf("\"%s\": ", key);
	if (v && *v)
		json_print_string(stdout, v);
	else
		printf("null");
	printf(last ? "" : ", ");
}

/* What the daemon is doing to each device now (status). */
struct live {
	size_t count;
	struct {
		char device[STORE_NAME_MAX + 1];
		char phase[32];
		uint64_t done, total;
	} d[CONFIG_MAX_DEVICES + 1];
};

static void ask_daemon(const struct config *c, struct live *l)
{
	int fd;
	memset(l, 0, sizeof(*l));
	if (daemon_connect(c, &fd) != 1)
		return;
	if (control_send_request(fd, "status", NULL, -1, NULL, 0, false) == 0) {
		struct control_reader rd = {.fd = fd};
		char line[CONTROL_MAX_LINE];
		while (control_read_line(&rd, line, sizeof(line)) > 0 && strcmp(line, "end"))
			if (l->count < sizeof(l->d) / sizeof(*l->d) &&
			    sscanf(line, "device %64s %31s %" SCNu64 " %" SCNu64,
			           l->d[l->count].device, l->d[l->count].phase,
			           &l->d[l->count].done, &l->d[l->count].total) == 4)
				l->count++;
	}
	close(fd);
}

static int live_of(const struct live *l, const char *device)
{
	for (size_t i = 0; i < l->count; i++)
		if (!strcmp(l->d[i].device, device))
			return (int)i;
	return -1;
}

static void print_json(const struct config *c, const struct live *l)
{
	printf("[");
	for (size_t i = 0; i < c->device_count; i++) {
		struct engine_status s;
		engine_status(c, &c->devices[i], &s);
		printf("%s\n  {", i ? "," : "");
		json_opt("device", c->devices[i].name, false);
		json_opt("version", s.has_current ? s.current.version : NULL, false);
		json_opt("sha256", s.has_current ? s.current.sha256 : NULL, false);
		if (s.has_current)
			printf("\"size\": %" PRIu64 ", \"address\": %" PRIu32 ", ", s.current.size,
			       s.current.address);
		json_opt("previous_version", s.has_previous ? s.previous.version : NULL, false);
		json_opt("previous_sha256", s.has_previous ? s.previous.sha256 : NULL, false);
		json_opt("high_water_mark", s.mark, false);
		json_opt("min_version", c->devices[i].min_version, false);
		json_opt("state", update_state_name(s.journal.state), false);
		json_opt("result", update_result_name(s.journal.result), false);
		json_opt("attempted_version", s.journal.version, false);
		json_opt("error", s.error[0] ? s.error : s.journal.error, false);
		printf("\"time\": %" PRId64 ", \"progress\": ", s.journal.time);
		int k = live_of(l, c->devices[i].name);
		if (k < 0) {
			printf("null}");
			continue;
		}
		printf("{");
		json_opt("phase", l->d[k].phase, false);
		printf("\"done\": %" PRIu64 ", \"total\": %" PRIu64 ", \"percent\": %u}}",
		       l->d[k].done, l->d[k].total,
		       l->d[k].total ? (unsigned)(l->d[k].done * 100 / l->d[k].total) : 0);
	}
	printf("%s]\n", c->device_count ? "\n" : "");
}

static void print_text(const struct config *c, const struct live *l)
{
	for (size_t i = 0; i < c->device_count; i++) {
		struct engine_status s;
		engine_status(c, &c->devices[i], &s);
		printf("%s\n", c->devices[i].name);
		if (s.error[0])
			printf("  error:     %s\n", s.error);
		if (c->devices[i].min_version)
			printf("  minimum:   %s (min_version)\n", c->devices[i].min_version);
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
		if (s.mark[0])
			printf(
			    "  mark:      %s (the high-water mark: no lower version is installed "
			    "without --allow-downgrade%s)\n",
			    s.mark, s.mark_from_current ? "; the version it runs" : "");
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
		int k = live_of(l, c->devices[i].name);
		if (k >= 0 && l->d[k].total) {
			char a[32], b[32];
			format_size(l->d[k].done, a, sizeof(a));
			format_size(l->d[k].total, b, sizeof(b));
			printf("  now:       %s %u%% (%s of %s)\n", l->d[k].phase,
			       (unsigned)(l->d[k].done * 100 / l->d[k].total), a, b);
		} else if (k >= 0) {
			printf("  now:       %s\n", l->d[k].phase);
		}
	}
}

static void status_help(FILE *f)
{
	fprintf(f, "Usage: mcu-ota status [--json]\n\n"
	           "For every configured device: the installed version and its SHA-256, the\n"
	           "previous version, the high-water mark (no lower version is installed without\n"
	           "--allow-downgrade) and min_version, the update state, and how the last update\n"
	           "ended (with its error). Reads only; works while an update runs. When the "
	           "daemon runs, each\n"
	           "device it is working on also shows the step and how far it is.\n\n"
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
	struct live live;
	ask_daemon(&cfg, &live);
	if (json)
		print_json(&cfg, &live);
	else
		print_text(&cfg, &live);
	config_free(&cfg);
	return EXIT_OK;
}
