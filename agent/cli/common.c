#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "util/log.h"

struct cli_globals cli_globals;

static char hangup_note[200];
static size_t hangup_note_len;

static void on_hangup(int sig)
{
	(void)sig;
	int saved = errno;
	/* write(2): safe in a handler; fails quietly when the terminal is gone */
	ssize_t w = write(STDERR_FILENO, hangup_note, hangup_note_len);
	(void)w; /* when the terminal is gone, there is nobody left to tell */
	errno = saved;
}

void cli_survive_hangup(const char *what)
{
	int n = snprintf(hangup_note, sizeof(hangup_note),
	                 "mcu-ota: hang-up received: finishing the %s first (a chip left half "
	                 "written would stay in its bootloader)\n",
	                 what);
	hangup_note_len = n < 0                             ? 0
	                  : (size_t)n < sizeof(hangup_note) ? (size_t)n
	                                                    : sizeof(hangup_note) - 1;
	struct sigaction sa = {.sa_handler = SIG_IGN};
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_hangup;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
}

/* For operations on an open device: a device that disappears now has left
 * the bus; "not found" is decided by cli_device_open. */
int cli_exit_code(int err)
{
	switch (err) {
	case 0:
		return EXIT_OK;
	case -EINVAL:
	case -ERANGE:
	case -ENOEXEC:
	case -EFBIG:
		return EXIT_BAD_INPUT;
	case -EBADMSG:
		return EXIT_VERIFY_FAILED;
	case -ENODEV:
	case -ETIMEDOUT:
		return EXIT_DEVICE_LOST;
	case -EACCES:
	case -EIO:
	case -EPIPE:
	case -EPROTO:
		return EXIT_DEVICE_ERROR;
	default:
		return EXIT_FAILURE_GENERIC;
	}
}

int cli_device_option(int c, const char **serial, const char **port, void (*help)(FILE *f))
{
	switch (c) {
	case 'S':
		*serial = optarg;
		return -1;
	case 'P':
		*port = optarg;
		return -1;
	case 'h':
		help(stdout);
		return EXIT_OK;
	default:
		help(stderr);
		return EXIT_USAGE;
	}
}

int cli_flasher_load(struct cli_device *d, const char *serial, const char *port)
{
	char err[512];
	memset(d, 0, sizeof(*d));
	host_init(&d->host, cli_globals.quiet);
	if (serial)
		host_set_string(&d->host, "serial", serial);
	if (port)
		host_set_string(&d->host, "port", port);
	int r = plugin_load(plugin_dir(cli_globals.plugin_dir), "dfuse", MCU_OTA_PLUGIN_FLASHER,
	                    &d->plugin, err, sizeof(err));
	if (r < 0) {
		log_error("%s%s", err,
		          r == -ENOENT ? " (give the plugin directory with --plugin-dir or "
		                         "MCU_OTA_PLUGIN_DIR)"
		                       : "");
		return EXIT_FAILURE_GENERIC;
	}
	d->ops = d->plugin.desc->flasher;
	return EXIT_OK;
}

int cli_device_open(struct cli_device *d, const char *serial, const char *port)
{
	char err[1024];
	int code = cli_flasher_load(d, serial, port);
	if (code != EXIT_OK)
		return code;
	int r = d->ops->open(&d->host.api, &d->handle, err, sizeof(err));
	if (r < 0) {
		/* the plugin names its settings; here they are options */
		log_error("%s%s", err, r == -ENOTUNIQ ? " (--serial or --port)" : "");
		cli_device_close(d);
		switch (r) {
		case -ENODEV:
		case -ENOTUNIQ:
			return EXIT_NO_DEVICE;
		case -EIO:
		case -EPIPE:
		case -ETIMEDOUT:
			return EXIT_DEVICE_ERROR; /* there, but not answering as a DFU device */
		default:
			return EXIT_FAILURE_GENERIC; /* permissions, held by another program */
		}
	}
	return EXIT_OK;
}

void cli_device_close(struct cli_device *d)
{
	if (d->handle)
		d->ops->close(d->handle);
	d->handle = NULL;
	plugin_unload(&d->plugin);
}

const char *cli_config_path(void)
{
	if (cli_globals.config)
		return cli_globals.config;
	const char *env = getenv("MCU_OTA_CONFIG");
	return env && *env ? env : CONFIG_DEFAULT_PATH;
}

void cli_config_error(int r, const char *err)
{
	log_error("%s%s", err,
	          r == -ENOENT ? " (give another with --config FILE or MCU_OTA_CONFIG)" : "");
}
