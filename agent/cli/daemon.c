/* `mcu-ota daemon`: the service (daemon/daemon.h). */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "config/config.h"
#include "daemon/daemon.h"
#include "util/log.h"

static void daemon_help(FILE *f)
{
	fprintf(f,
	        "Usage: mcu-ota daemon [--syslog]\n\n"
	        "Keeps every configured device on the firmware its firmware section names:\n"
	        "at start, on SIGHUP and every daemon.poll_interval_s (plus jitter) it finishes\n"
	        "interrupted updates, fetches each device's bundle when the wanted version does\n"
	        "not run (a conditional GET when it was fetched before), and installs it. A\n"
	        "bundle that failed is not tried again until it, its source or the wanted version\n"
	        "changes, or `mcu-ota update --device NAME` asks for it.\n\n"
	        "Runs in the foreground. `mcu-ota status`, `update` and `rollback` go through its\n"
	        "control socket (daemon.socket) while it runs.\n\n"
	        "  --syslog    log to syslog (facility daemon) instead of stderr\n"
	        "  -h, --help  this text\n\n"
	        "Signals: SIGHUP reloads the configuration (a bad one is logged and the running\n"
	        "one kept); SIGTERM and SIGINT stop it once the running device update has ended.\n"
	        "Under systemd (Type=notify) it reports READY, STATUS and WATCHDOG.\n"
	        "The configuration is %s (mcu-ota --config FILE).\n"
	        "Exit: 0 after SIGTERM, 1 a bad configuration or an unusable socket at start.\n",
	        cli_config_path());
}

int cli_daemon(int argc, char **argv)
{
	static const struct option options[] = {
	    {"syslog", no_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;
	bool use_syslog = false;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 's':
			use_syslog = true;
			break;
		case 'h':
			daemon_help(stdout);
			return EXIT_OK;
		default:
			daemon_help(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		daemon_help(stderr);
		return EXIT_USAGE;
	}
	if (use_syslog)
		log_set_sink(LOG_SINK_SYSLOG);
	else if (log_stderr_is_journal())
		log_set_sink(LOG_SINK_JOURNAL);
	struct daemon_options o = {
	    .config_path = cli_config_path(),
	    .plugin_dir = cli_globals.plugin_dir,
	    .log_level_given = cli_globals.log_level_given,
	};
	return daemon_run(&o);
}
