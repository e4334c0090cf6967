/* The configuration file (libconfig syntax), read into typed structs and
 * validated completely before anything uses it: every error names the file,
 * the line and the setting, and says what is expected. Unknown settings are
 * errors (a typo must not silently disable a safety setting).
 *
 *   state_dir = "/var/lib/mcu-ota";          # images and journals
 *   plugin_dir = "/usr/lib/mcu-ota/plugins"; # optional
 *   cache_dir = "/var/cache/mcu-ota";        # the daemon's download validators
 *   log_level = "info";                      # error | warning | info | debug
 *   daemon = { socket = "/run/mcu-ota/control.sock"; socket_group = "mcu-ota";
 *              admin_group = "mcu-ota-admin";  # URLs, rollback, allow-downgrade
 *              poll_interval_s = 3600; poll_jitter_s = 300; };
 *   bundle = { keys = ["/etc/mcu-ota/release.pem"]; ca = "..."; ... };
 *   fetch = { ca = "..."; client_cert = "..."; allow_http = false;
 *             connect_timeout_s = 30; max_attempts = 6; ... };
 *   hardware = { revision = "1.0";                 # the gateway's, else read from
 *                revision_file = "/etc/hwrevision"; };  # "<board> <revision>"
 *   devices = (
 *     { name = "motor";                       # [A-Za-z0-9_-]{1,64}
 *       address = 0x08000000;                 # where images start
 *       backup = "required";                  # or "optional"
 *       allow_downgrade = false;               # never below the high-water mark
 *       min_version = "2.0.0";                # optional: the lowest version allowed
 *       bootloader_timeout_ms = 10000;        # entry -> DFU device present
 *       health_timeout_ms = 10000;            # exit -> application confirmed
 *       entry   = { plugin = "gpio"; chip = "gpiochip0"; boot0 = "BOOT0"; nrst = "NRST"; };
 *       flasher = { plugin = "dfuse"; serial = "3574364C3034"; };   # optional
 *       health  = { plugin = "usb-version"; vid = 0x0483; pid = 0x5740; };
 *       firmware = { source = "https://..."; version = "2.0.0"; };  # the daemon's goal
 *     } );
 *
 * A plugin section holds "plugin" plus that plugin's own settings, each a
 * string, an integer or a boolean; the plugin reads them through the host.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>

#include "bundle/swu.h"
#include "fetch/fetch.h"

#define CONFIG_DEFAULT_PATH                  "/etc/mcu-ota/mcu-ota.conf"
#define CONFIG_DEFAULT_STATE_DIR             "/var/lib/mcu-ota"
#define CONFIG_MAX_DEVICES                   32
#define CONFIG_MAX_FILE_SIZE                 (1 << 20)
#define CONFIG_MAX_KEYS                      16
#define CONFIG_DEFAULT_BOOTLOADER_TIMEOUT_MS 10000u
#define CONFIG_DEFAULT_HEALTH_TIMEOUT_MS     10000u
#define CONFIG_MAX_TIMEOUT_MS                600000u /* 10 minutes */
#define CONFIG_DEFAULT_CACHE_DIR             "/var/cache/mcu-ota"
#define CONFIG_DEFAULT_SOCKET                "/run/mcu-ota/control.sock"
#define CONFIG_DEFAULT_POLL_INTERVAL_S       3600u
#define CONFIG_DEFAULT_POLL_JITTER_S         300u
#define CONFIG_MIN_POLL_INTERVAL_S           60u
#define CONFIG_MAX_POLL_INTERVAL_S           2592000u /* 30 days */
#define CONFIG_DEFAULT_HWREVISION_FILE       "/etc/hwrevision"

struct config_plugin {
	const char *plugin;              /* the plugin's name */
	const config_setting_t *section; /* its settings ("plugin" included) */
};

struct device_config {
	const char *name;
	uint32_t address;
	bool backup_required;
	bool allow_downgrade; /* an older version than the installed one may be installed */
	/* The lowest version the device may run besides its high-water mark (a
	 * chip whose firmware is not known before its first update); NULL: none. */
	const char *min_version;
	unsigned bootloader_timeout_ms;
	unsigned health_timeout_ms;
	struct config_plugin entry, flasher, health;
	/* The firmware the daemon keeps installed: a bundle (https:// URL or
	 * absolute path; NULL: the daemon leaves the device alone) and the
	 * version wanted (NULL: whatever the bundle holds). */
	const char *firmware_source;
	const char *firmware_version;
	int line;
};

struct daemon_config {
	const char *socket;       /* the control socket's path */
	const char *socket_group; /* NULL: owner only (0600), else 0660 with this group */
	/* NULL: only root may ask the daemon for an update from a URL, a
	 * rollback or allow-downgrade; else also this group's members (the
	 * socket's group when socket_group is not set). socket_group's members
	 * may ask for status, an update from a file they pass and "update now". */
	const char *admin_group;
	unsigned poll_interval_s; /* 0: no polling */
	unsigned poll_jitter_s;
};

/* The gateway's hardware revision, checked against a bundle's
 * hardware-compatibility (update/hardware.h). */
struct hardware_config {
	const char *revision;      /* NULL: read revision_file */
	const char *revision_file; /* "<board> <revision>", as SWUpdate reads it */
};

struct config {
	config_t cfg; /* owns every string below */
	char path[4096];
	const char *state_dir;
	const char *plugin_dir; /* NULL: the default search */
	const char *cache_dir;  /* download validators of the daemon */
	int log_level;          /* enum mcu_ota_log_level; -1: not set (the command line's) */
	struct daemon_config daemon;
	const char *keys[CONFIG_MAX_KEYS];
	struct swu_trust trust;
	struct swu_limits limits;
	struct fetch_options fetch; /* TLS and proxy settings only; the caller adds the rest */
	struct hardware_config hardware;
	struct device_config devices[CONFIG_MAX_DEVICES];
	size_t device_count;
};

/* Read and validate path. On failure err says "FILE:LINE: setting: what is
 * wrong, what is expected" and c is left empty (config_free is still safe).
 * -ENOENT/-EACCES when unreadable (-ENOENT: path does not exist, and the
 * caller says how to name another), -EINVAL when invalid, -EPERM when others
 * may change it or a file it includes (util/trusted_file.h). */
__attribute__((warn_unused_result)) int config_load(const char *path, struct config *c, char *err,
                                                    size_t errlen);
void config_free(struct config *c);

/* Writes "FILE:LINE: path.of.setting: what" into err, the form of every
 * error of config_load, for checks made after it (a plugin's settings);
 * s is a setting of c. Returns -EINVAL. */
__attribute__((format(printf, 5, 6))) int config_error_at(const struct config *c,
                                                          const config_setting_t *s, char *err,
                                                          size_t errlen, const char *fmt, ...);

/* The device called name, or NULL. */
const struct device_config *config_device(const struct config *c, const char *name);
