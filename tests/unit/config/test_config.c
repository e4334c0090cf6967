/* The configuration file (agent/config): every setting's good values are read
 * into struct config, with its default when it is absent, and every way to
 * get it wrong is refused with the whole error text, "FILE:LINE:
 * setting.path: what is wrong, what is expected". Most cases are one row of
 * the tables `accepted` and `refused`; the tests after them pin mistakes a
 * review found in config.c (each failed before its fix). */
#include "check.h"
#include "config/config.h"

#include <mcu-ota/plugin.h>

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[] = "/tmp/mcu-ota-config-XXXXXX";
static char path[4200];
static struct config cfg;

/* ---- the files a case's text is put into ---- */

#define BUNDLE_LINE "bundle = { keys = [\"/k\"]; };\n"
#define ENTRY       "entry = { plugin = \"gpio\"; };"
#define HEALTH      "health = { plugin = \"usb\"; };"
#define DEVICE_HEAD "devices = (\n  { name = \"a\";\n"
#define PLUGINS     "    " ENTRY "\n    " HEALTH "\n"
#define DEVICE_TAIL PLUGINS "  });\n"
/* A device on one line, with more settings, for files of several devices. */
#define DEV(name, more) "  { name = \"" name "\"; " ENTRY " " HEALTH " " more " }"

enum where {
	IN_TOP,         /* line 1, then a bundle and a device */
	IN_BUNDLE,      /* line 1: bundle = { TEXT }; then a device */
	IN_FETCH,       /* line 1: fetch = { TEXT }; then a bundle and a device */
	IN_DAEMON,      /* line 1: daemon = { TEXT }; then a bundle and a device */
	IN_DEVICE,      /* line 4, in device "a" (line 3) that has entry and health */
	IN_BARE_DEVICE, /* line 4, in device "a" (line 3) that has nothing else */
	IN_FIRMWARE,    /* line 4: firmware = { TEXT }; in device "a" */
	WHOLE,          /* the whole file */
};

static const struct {
	const char *before, *after;
} forms[] = {
    [IN_TOP] = {"", "\n" BUNDLE_LINE DEVICE_HEAD DEVICE_TAIL},
    [IN_BUNDLE] = {"bundle = { ", " };\n" DEVICE_HEAD DEVICE_TAIL},
    [IN_FETCH] = {"fetch = { ", " };\n" BUNDLE_LINE DEVICE_HEAD DEVICE_TAIL},
    [IN_DAEMON] = {"daemon = { ", " };\n" BUNDLE_LINE DEVICE_HEAD DEVICE_TAIL},
    [IN_DEVICE] = {BUNDLE_LINE DEVICE_HEAD "    ", "\n" DEVICE_TAIL},
    [IN_BARE_DEVICE] = {BUNDLE_LINE DEVICE_HEAD "    ", "\n  });\n"},
    [IN_FIRMWARE] = {BUNDLE_LINE DEVICE_HEAD "    firmware = { ", " };\n" DEVICE_TAIL},
    [WHOLE] = {"", ""},
};

/* Long values. */
#define X10  "xxxxxxxxxx"
#define X100 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10
#define N64  X10 X10 X10 X10 X10 X10 "xxxx"
#define N65  N64 "x"
#define V62  "1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1."
#define V64  V62 "10"
#define V65  V62 "100"
_Static_assert(sizeof(N64) == 65 && sizeof(V64) == 65, "64 characters");
#define K16                                                                                        \
	"\"/1\", \"/2\", \"/3\", \"/4\", \"/5\", \"/6\", \"/7\", \"/8\", \"/9\", \"/10\", "        \
	"\"/11\", \"/12\", \"/13\", \"/14\", \"/15\", \"/16\""

/* A failure of the current test, with what went wrong. */
static MCU_OTA_PRINTF(1, 2) void failed(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	check_current_failed = 1;
}

static int write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");
	CHECK(f != NULL);
	if (!f)
		return -EIO;
	fputs(text, f);
	return fclose(f) ? -EIO : 0;
}

/* Loads text, placed as w says, into cfg (the caller frees it). */
static int load(enum where w, const char *text, char *err, size_t errlen)
{
	char buf[16384];
	snprintf(buf, sizeof(buf), "%s%s%s", forms[w].before, text, forms[w].after);
	err[0] = '\0';
	if (write_file(path, buf) < 0)
		return -EIO;
	return config_load(path, &cfg, err, errlen);
}

/* A failed load keeps nothing: every member after the libconfig handle is 0. */
static bool left_empty(const struct config *c)
{
	const unsigned char *p = (const unsigned char *)c;
	for (size_t i = offsetof(struct config, path); i < sizeof(*c); i++)
		if (p[i])
			return false;
	return true;
}

/* ---- good values, read into the struct ---- */

struct field {
	const char *name; /* the member, as written after "c->" */
	bool is_str;
	long long num;
	const char *str;
};

#define NUM(m)                                                                                     \
	{                                                                                          \
#m, false, (long long)(c->m), NULL                                                 \
	}
#define STR(m)                                                                                     \
	{                                                                                          \
#m, true, 0, c->m                                                                  \
	}

static bool field(const struct config *c, const char *name, struct field *out)
{
	const struct field all[] = {
	    STR(state_dir),
	    STR(plugin_dir),
	    STR(cache_dir),
	    NUM(log_level),
	    STR(daemon.socket),
	    STR(daemon.socket_group),
	    STR(daemon.admin_group),
	    NUM(daemon.poll_interval_s),
	    NUM(daemon.poll_jitter_s),
	    NUM(trust.key_count),
	    STR(keys[0]),
	    STR(keys[1]),
	    STR(keys[15]),
	    STR(trust.ca_file),
	    STR(trust.ca_dir),
	    STR(trust.crl_file),
	    STR(trust.signer_cn),
	    NUM(limits.max_bundle),
	    NUM(limits.max_image),
	    STR(fetch.ca_file),
	    STR(fetch.ca_dir),
	    STR(fetch.client_cert),
	    STR(fetch.client_key),
	    STR(fetch.proxy),
	    NUM(fetch.allow_http),
	    NUM(fetch.connect_timeout_ms),
	    NUM(fetch.low_speed_limit),
	    NUM(fetch.low_speed_time_s),
	    NUM(fetch.max_time_s),
	    NUM(fetch.max_attempts),
	    NUM(fetch.max_recv_speed),
	    NUM(device_count),
	    STR(devices[0].name),
	    NUM(devices[0].line),
	    NUM(devices[0].address),
	    NUM(devices[0].backup_required),
	    NUM(devices[0].allow_downgrade),
	    STR(devices[0].min_version),
	    STR(hardware.revision),
	    STR(hardware.revision_file),
	    NUM(devices[0].bootloader_timeout_ms),
	    NUM(devices[0].health_timeout_ms),
	    STR(devices[0].entry.plugin),
	    STR(devices[0].flasher.plugin),
	    STR(devices[0].health.plugin),
	    STR(devices[0].firmware_source),
	    STR(devices[0].firmware_version),
	    STR(devices[1].name),
	};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(all[i].name, name)) {
			*out = all[i];
			return true;
		}
	return false;
}

/* text loads, and then c->field is num (or str for a string; NULL: unset). */
struct acceptance {
	enum where where;
	const char *text;
	const char *field;
	long long num;
	const char *str;
};

static const struct acceptance accepted[] = {
    /* the defaults */
    {IN_TOP, "", "state_dir", .str = CONFIG_DEFAULT_STATE_DIR},
    {IN_TOP, "", "plugin_dir", .str = NULL}, /* the built-in search */
    {IN_TOP, "", "cache_dir", .str = CONFIG_DEFAULT_CACHE_DIR},
    {IN_TOP, "", "log_level", .num = -1}, /* the command line's */
    {IN_TOP, "", "daemon.socket", .str = CONFIG_DEFAULT_SOCKET},
    {IN_TOP, "", "daemon.socket_group", .str = NULL}, /* owner only */
    {IN_TOP, "", "daemon.admin_group", .str = NULL},  /* root only */
    {IN_TOP, "", "daemon.poll_interval_s", .num = CONFIG_DEFAULT_POLL_INTERVAL_S},
    {IN_TOP, "", "daemon.poll_jitter_s", .num = CONFIG_DEFAULT_POLL_JITTER_S},
    {IN_DAEMON, "", "daemon.socket", .str = CONFIG_DEFAULT_SOCKET},
    {IN_DAEMON, "", "daemon.poll_interval_s", .num = CONFIG_DEFAULT_POLL_INTERVAL_S},
    {IN_DAEMON, "", "daemon.poll_jitter_s", .num = CONFIG_DEFAULT_POLL_JITTER_S},
    {IN_TOP, "", "trust.ca_file", .str = NULL},
    {IN_TOP, "", "trust.ca_dir", .str = NULL},
    {IN_TOP, "", "trust.crl_file", .str = NULL},
    {IN_TOP, "", "trust.signer_cn", .str = NULL},
    {IN_TOP, "", "limits.max_bundle", .num = 0}, /* 0: the bundle reader's default */
    {IN_TOP, "", "limits.max_image", .num = 0},
    {IN_TOP, "", "fetch.ca_file", .str = NULL}, /* the system's CAs */
    {IN_TOP, "", "fetch.ca_dir", .str = NULL},
    {IN_TOP, "", "fetch.client_cert", .str = NULL},
    {IN_TOP, "", "fetch.client_key", .str = NULL},
    {IN_TOP, "", "fetch.proxy", .str = NULL}, /* the environment's */
    {IN_TOP, "", "fetch.allow_http", .num = false},
    {IN_TOP, "", "fetch.connect_timeout_ms", .num = 0}, /* 0: fetch's defaults */
    {IN_TOP, "", "fetch.low_speed_limit", .num = 0},
    {IN_TOP, "", "fetch.low_speed_time_s", .num = 0},
    {IN_TOP, "", "fetch.max_time_s", .num = 0},
    {IN_TOP, "", "fetch.max_attempts", .num = 0},
    {IN_TOP, "", "fetch.max_recv_speed", .num = 0},
    {IN_FETCH, "", "fetch.max_attempts", .num = 0},
    {IN_DEVICE, "", "device_count", .num = 1},
    {IN_DEVICE, "", "devices[0].line", .num = 3},
    {IN_DEVICE, "", "devices[0].name", .str = "a"},
    {IN_DEVICE, "", "devices[0].address", .num = 0x08000000},
    {IN_DEVICE, "", "devices[0].backup_required", .num = true},
    {IN_DEVICE, "", "devices[0].allow_downgrade", .num = false},
    {IN_DEVICE, "", "devices[0].min_version", .str = NULL},
    {IN_TOP, "", "hardware.revision", .str = NULL}, /* read from the file */
    {IN_TOP, "", "hardware.revision_file", .str = CONFIG_DEFAULT_HWREVISION_FILE},
    {IN_DEVICE, "", "devices[0].bootloader_timeout_ms",
     .num = CONFIG_DEFAULT_BOOTLOADER_TIMEOUT_MS},
    {IN_DEVICE, "", "devices[0].health_timeout_ms", .num = CONFIG_DEFAULT_HEALTH_TIMEOUT_MS},
    {IN_DEVICE, "", "devices[0].entry.plugin", .str = "gpio"},
    {IN_DEVICE, "", "devices[0].flasher.plugin", .str = "dfuse"},
    {IN_DEVICE, "", "devices[0].health.plugin", .str = "usb"},
    {IN_DEVICE, "", "devices[0].firmware_source", .str = NULL}, /* the daemon leaves it */
    {IN_DEVICE, "", "devices[0].firmware_version", .str = NULL},

    /* the top level */
    {IN_TOP, "state_dir = \"/var/lib/x\";", "state_dir", .str = "/var/lib/x"},
    {IN_TOP, "plugin_dir = \"/opt/plugins\";", "plugin_dir", .str = "/opt/plugins"},
    {IN_TOP, "cache_dir = \"/var/cache/x\";", "cache_dir", .str = "/var/cache/x"},
    {IN_TOP, "log_level = \"error\";", "log_level", .num = MCU_OTA_LOG_ERROR},
    {IN_TOP, "log_level = \"warning\";", "log_level", .num = MCU_OTA_LOG_WARNING},
    {IN_TOP, "log_level = \"info\";", "log_level", .num = MCU_OTA_LOG_INFO},
    {IN_TOP, "log_level = \"debug\";", "log_level", .num = MCU_OTA_LOG_DEBUG},

    /* daemon */
    {IN_DAEMON, "socket = \"/run/x.sock\";", "daemon.socket", .str = "/run/x.sock"},
    {IN_DAEMON, "socket = \"/" X100 "xxxxxx\";", "daemon.socket", .str = "/" X100 "xxxxxx"},
    {IN_DAEMON, "socket_group = \"mcu-ota\";", "daemon.socket_group", .str = "mcu-ota"},
    {IN_DAEMON, "admin_group = \"ops\";", "daemon.admin_group", .str = "ops"},
    {IN_DAEMON, "poll_interval_s = 0; poll_jitter_s = 0;", "daemon.poll_interval_s", .num = 0},
    {IN_DAEMON, "poll_interval_s = 0; poll_jitter_s = 0;", "daemon.poll_jitter_s", .num = 0},
    {IN_DAEMON, "poll_interval_s = 300;", "daemon.poll_interval_s", .num = 300},
    {IN_DAEMON, "poll_interval_s = 60; poll_jitter_s = 60;", "daemon.poll_interval_s", .num = 60},
    {IN_DAEMON, "poll_interval_s = 60; poll_jitter_s = 60;", "daemon.poll_jitter_s", .num = 60},
    {IN_DAEMON, "poll_interval_s = 2592000;", "daemon.poll_interval_s", .num = 2592000},
    {IN_DAEMON, "poll_interval_s = 0xE10;", "daemon.poll_interval_s", .num = 3600},
    {IN_DAEMON, "poll_interval_s = 0;", "daemon.poll_jitter_s", .num = 0},
    {IN_DAEMON, "poll_interval_s = 120;", "daemon.poll_jitter_s", .num = 120}, /* default cut */
    {IN_DAEMON, "poll_jitter_s = 0;", "daemon.poll_jitter_s", .num = 0},
    {IN_DAEMON, "poll_jitter_s = 3600;", "daemon.poll_jitter_s", .num = 3600},

    /* bundle */
    {IN_BUNDLE, "keys = [\"/a.pem\", \"/b.pem\"];", "trust.key_count", .num = 2},
    {IN_BUNDLE, "keys = [\"/a.pem\", \"/b.pem\"];", "keys[1]", .str = "/b.pem"},
    {IN_BUNDLE, "keys = (\"/a.pem\");", "keys[0]", .str = "/a.pem"},
    {IN_BUNDLE, "keys = [" K16 "];", "keys[15]", .str = "/16"},
    {IN_BUNDLE, "keys = []; ca = \"/ca.pem\";", "trust.key_count", .num = 0},
    {IN_BUNDLE, "ca = \"/ca.pem\";", "trust.ca_file", .str = "/ca.pem"},
    {IN_BUNDLE, "ca_dir = \"/ca.d\";", "trust.ca_dir", .str = "/ca.d"},
    {IN_BUNDLE, "ca = \"/ca.pem\"; crl = \"/ca.crl\";", "trust.crl_file", .str = "/ca.crl"},
    {IN_BUNDLE, "ca_dir = \"/c\"; signer_cn = \"Release\";", "trust.signer_cn", .str = "Release"},
    {IN_BUNDLE, "keys = [\"/k\"]; max_size = 4096;", "limits.max_bundle", .num = 4096},
    {IN_BUNDLE, "keys = [\"/k\"]; max_size = 4294967296L;", "limits.max_bundle", .num = 4294967296},
    {IN_BUNDLE, "keys = [\"/k\"]; max_image_size = 1;", "limits.max_image", .num = 1},
    {IN_BUNDLE, "keys = [\"/k\"]; max_image_size = 67108864;", "limits.max_image", .num = 67108864},

    /* fetch */
    {IN_FETCH, "ca = \"/srv-ca.pem\";", "fetch.ca_file", .str = "/srv-ca.pem"},
    {IN_FETCH, "ca_dir = \"/etc/ssl/certs\";", "fetch.ca_dir", .str = "/etc/ssl/certs"},
    {IN_FETCH, "client_cert = \"/c.pem\";", "fetch.client_cert", .str = "/c.pem"},
    {IN_FETCH, "client_cert = \"/c.pem\"; client_key = \"/c.key\";", "fetch.client_key",
     .str = "/c.key"},
    {IN_FETCH, "proxy = \"\";", "fetch.proxy", .str = ""}, /* no proxy */
    {IN_FETCH, "proxy = \"http://p:3128\";", "fetch.proxy", .str = "http://p:3128"},
    {IN_FETCH, "allow_http = true;", "fetch.allow_http", .num = true},
    {IN_FETCH, "allow_http = false;", "fetch.allow_http", .num = false},
    {IN_FETCH, "connect_timeout_s = 1;", "fetch.connect_timeout_ms", .num = 1000},
    {IN_FETCH, "connect_timeout_s = 600;", "fetch.connect_timeout_ms", .num = 600000},
    {IN_FETCH, "low_speed_limit = 1;", "fetch.low_speed_limit", .num = 1},
    {IN_FETCH, "low_speed_limit = 1073741824;", "fetch.low_speed_limit", .num = 1073741824},
    {IN_FETCH, "low_speed_time_s = 1;", "fetch.low_speed_time_s", .num = 1},
    {IN_FETCH, "low_speed_time_s = 3600;", "fetch.low_speed_time_s", .num = 3600},
    {IN_FETCH, "max_time_s = 10;", "fetch.max_time_s", .num = 10},
    {IN_FETCH, "max_time_s = 604800;", "fetch.max_time_s", .num = 604800},
    {IN_FETCH, "max_attempts = 1;", "fetch.max_attempts", .num = 1},
    {IN_FETCH, "max_attempts = 100;", "fetch.max_attempts", .num = 100},
    {IN_FETCH, "max_recv_speed = 0;", "fetch.max_recv_speed", .num = 0}, /* unlimited */
    {IN_FETCH, "max_recv_speed = 1099511627776L;", "fetch.max_recv_speed", .num = 1099511627776},

    /* a device */
    {WHOLE, BUNDLE_LINE DEVICE_HEAD DEVICE_TAIL, "devices[0].name", .str = "a"},
    {WHOLE, BUNDLE_LINE "devices = (" DEV("motor_2-B", "") ");", "devices[0].name",
     .str = "motor_2-B"},
    {WHOLE, BUNDLE_LINE "devices = (" DEV(N64, "") ");", "devices[0].name", .str = N64},
    {IN_DEVICE, "address = 0;", "devices[0].address", .num = 0},
    {IN_DEVICE, "address = 0x08004000;", "devices[0].address", .num = 0x08004000},
    {IN_DEVICE, "address = 134234112;", "devices[0].address", .num = 0x08004000},
    {IN_DEVICE, "address = 0x80000000;", "devices[0].address", .num = 0x80000000},
    {IN_DEVICE, "address = 0x90000000;", "devices[0].address", .num = 0x90000000}, /* OCTOSPI */
    {IN_DEVICE, "address = 0xFFFFFFFF;", "devices[0].address", .num = 0xFFFFFFFF},
    {IN_DEVICE, "address = 0xFFFFFFFFL;", "devices[0].address", .num = 0xFFFFFFFF},
    {IN_DEVICE, "backup = \"required\";", "devices[0].backup_required", .num = true},
    {IN_DEVICE, "backup = \"optional\";", "devices[0].backup_required", .num = false},
    {IN_DEVICE, "allow_downgrade = true;", "devices[0].allow_downgrade", .num = true},
    {IN_DEVICE, "allow_downgrade = false;", "devices[0].allow_downgrade", .num = false},
    /* issue 12: the anti-rollback floor and the gateway's hardware revision */
    {IN_DEVICE, "min_version = \"2.1.0\";", "devices[0].min_version", .str = "2.1.0"},
    {IN_DEVICE, "min_version = \"2.0\";", "devices[0].min_version", .str = "2.0"},
    {IN_DEVICE, "min_version = \"" V64 "\";", "devices[0].min_version", .str = V64},
    {IN_TOP, "hardware = { revision = \"1.0\"; };", "hardware.revision", .str = "1.0"},
    {IN_TOP, "hardware = { revision = \"" N64 "\"; };", "hardware.revision", .str = N64},
    {IN_TOP, "hardware = { revision_file = \"/run/hw\"; };", "hardware.revision_file",
     .str = "/run/hw"},
    {IN_TOP, "hardware = { };", "hardware.revision_file", .str = CONFIG_DEFAULT_HWREVISION_FILE},
    {IN_DEVICE, "bootloader_timeout_ms = 1;", "devices[0].bootloader_timeout_ms", .num = 1},
    {IN_DEVICE, "bootloader_timeout_ms = 600000;", "devices[0].bootloader_timeout_ms",
     .num = 600000},
    {IN_DEVICE, "health_timeout_ms = 1;", "devices[0].health_timeout_ms", .num = 1},
    {IN_DEVICE, "health_timeout_ms = 600000;", "devices[0].health_timeout_ms", .num = 600000},
    {IN_DEVICE, "flasher = { };", "devices[0].flasher.plugin", .str = "dfuse"},
    {IN_DEVICE, "flasher = { plugin = \"mine\"; };", "devices[0].flasher.plugin", .str = "mine"},
    {IN_DEVICE, "flasher = { serial = \"AB\"; big = 5000000000L; on = true; };",
     "devices[0].flasher.plugin", .str = "dfuse"},
    {IN_BARE_DEVICE, "entry = { plugin = \"serial\"; tty = \"/dev/ttyS1\"; }; " HEALTH,
     "devices[0].entry.plugin", .str = "serial"},
    {IN_BARE_DEVICE, ENTRY " health = { plugin = \"usb-version\"; vid = 0x0483; };",
     "devices[0].health.plugin", .str = "usb-version"},

    /* firmware */
    {IN_FIRMWARE, "source = \"https://u.example.com/m.swu\";", "devices[0].firmware_source",
     .str = "https://u.example.com/m.swu"},
    {IN_FIRMWARE, "source = \"/srv/m.swu\";", "devices[0].firmware_source", .str = "/srv/m.swu"},
    {IN_FIRMWARE, "source = \"/srv/m.swu\";", "devices[0].firmware_version", .str = NULL},
    {IN_FIRMWARE, "source = \"/m.swu\"; version = \"2.0.0\";", "devices[0].firmware_version",
     .str = "2.0.0"},
    {IN_FIRMWARE, "source = \"/m.swu\"; version = \"2.0.0-rc.1\";", "devices[0].firmware_version",
     .str = "2.0.0-rc.1"},
    {IN_FIRMWARE, "source = \"/m.swu\"; version = \"" V64 "\";", "devices[0].firmware_version",
     .str = V64},
    {WHOLE,
     "fetch = { allow_http = true; };\n" BUNDLE_LINE DEVICE_HEAD
     "    firmware = { source = \"http://lan/m.swu\"; };\n" DEVICE_TAIL,
     "devices[0].firmware_source", .str = "http://lan/m.swu"},

    /* several devices: each flasher selects its own chip */
    {WHOLE,
     BUNDLE_LINE "devices = (\n" DEV("a", "flasher = { serial = \"AB\"; };") ",\n" DEV(
         "b", "flasher = { serial = \"AC\"; };") ");\n",
     "device_count", .num = 2},
    {WHOLE,
     BUNDLE_LINE "devices = (\n" DEV("a", "flasher = { port = \"1-1\"; };") ",\n" DEV(
         "b", "flasher = { port = \"1-1.2\"; };") ");\n",
     "devices[1].name", .str = "b"},
};

static void check_accepted(const struct acceptance *t)
{
	char err[1024];
	struct field f;
	int r = load(t->where, t->text, err, sizeof(err));
	if (r)
		failed("accepted (%s): %s\n  returned %d: %s", t->field, t->text, r, err);
	else if (!field(&cfg, t->field, &f))
		failed("accepted: %s\n  no field %s in the test", t->text, t->field);
	else if (f.is_str && (!f.str != !t->str || (f.str && strcmp(f.str, t->str))))
		failed("accepted: %s\n  %s is \"%s\", expected \"%s\"", t->text, t->field,
		       f.str ? f.str : "(null)", t->str ? t->str : "(null)");
	else if (!f.is_str && f.num != t->num)
		failed("accepted: %s\n  %s is %lld, expected %lld", t->text, t->field, f.num,
		       t->num);
	config_free(&cfg);
}

static void every_good_value_is_read(void)
{
	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++)
		check_accepted(&accepted[i]);
}

/* ---- mistakes, refused with the whole message ---- */

/* text is refused with -EINVAL and "FILE:line: error". */
struct refusal {
	enum where where;
	const char *text;
	int line;
	const char *error;
};

#define KNOWN_TOP                                                                                  \
	"(known: state_dir, plugin_dir, cache_dir, log_level, daemon, bundle, fetch, hardware, "   \
	"devices)"
#define KNOWN_DEVICE                                                                               \
	"(known: name, address, backup, allow_downgrade, min_version, bootloader_timeout_ms, "     \
	"health_timeout_ms, entry, flasher, health, firmware)"
#define KNOWN_FETCH                                                                                \
	"(known: ca, ca_dir, client_cert, client_key, proxy, allow_http, connect_timeout_s, "      \
	"low_speed_limit, low_speed_time_s, max_time_s, max_attempts, max_recv_speed)"
#define RELATIVE "is relative: give an absolute path (the daemon's working directory is /)"
#define A_STRING "expected a string in double quotes"
#define ONE_WORD                                                                                   \
	"expected one word of at most 64 characters, as a bundle's hardware-compatibility names "  \
	"it (e.g. \"1.0\" or \"rev-B\")"
#define NOT_EMPTY      "must not be empty"
#define PLUGIN_GROUP   "a group { plugin = \"...\"; ... }"
#define A_PLUGIN_GROUP "expected " PLUGIN_GROUP
#define PLUGIN_TYPES   "plugin settings are strings, integers or booleans"
#define NOT_A_BUNDLE   "expected an https:// URL or an absolute path to a .swu bundle"
#define SELECTION                                                                                  \
	"with several devices, each flasher needs serial (the chip's USB serial) or port (its "    \
	"USB port path) so that no device's update can reach another chip"

static const struct refusal refused[] = {
    /* libconfig's syntax, with the line */
    {WHOLE, "state_dir = \"/x\";\n" BUNDLE_LINE "devices = ( { name = ; } );\n", 3, "syntax error"},
    {WHOLE, "\n\n" BUNDLE_LINE "devices = (\n", 5, "syntax error"}, /* at the end */
    {WHOLE, "state_dir = \"/a\";\nstate_dir = \"/b\";\n", 2, "duplicate setting name"},
    {IN_DEVICE, "name = \"b\";", 4, "duplicate setting name"},
    {IN_BUNDLE, "keys = [\"/k\", 1];", 1, "mismatched element type in array"},
    {WHOLE, "@include \"/nonexistent/mcu-ota.conf\"\n", 1, "cannot open include file"},

    /* the top level */
    {IN_TOP, "stat_dir = \"/x\";", 1,
     "stat_dir: unknown setting in the file " KNOWN_TOP "; did you mean \"state_dir\"?"},
    {IN_TOP, "state_dir = 1;", 1, "state_dir: " A_STRING},
    {IN_TOP, "state_dir = \"\";", 1, "state_dir: " NOT_EMPTY},
    {IN_TOP, "state_dir = \"var/mcu\";", 1,
     "state_dir: \"var/mcu\" is relative: give an absolute path (the journal must be found "
     "whatever the working directory)"},
    {IN_TOP, "plugin_dir = 1;", 1, "plugin_dir: " A_STRING},
    {IN_TOP, "plugin_dir = \"\";", 1, "plugin_dir: " NOT_EMPTY},
    {IN_TOP, "cache_dir = 1;", 1, "cache_dir: " A_STRING},
    {IN_TOP, "cache_dir = \"\";", 1, "cache_dir: " NOT_EMPTY},
    {IN_TOP, "cache_dir = \"cache\";", 1, "cache_dir: \"cache\" " RELATIVE},
    {IN_TOP, "log_level = 3;", 1, "log_level: " A_STRING},
    {IN_TOP, "log_level = \"\";", 1, "log_level: " NOT_EMPTY},
    {IN_TOP, "log_level = \"INFO\";", 1,
     "log_level: \"INFO\": expected \"error\", \"warning\", \"info\" or \"debug\""},
    {IN_TOP, "log_level = \"verbose\";", 1,
     "log_level: \"verbose\": expected \"error\", \"warning\", \"info\" or \"debug\""},

    /* daemon */
    {IN_TOP, "daemon = 1;", 1, "daemon: expected a group { ... }"},
    {IN_DAEMON, "sock = \"/s\";", 1,
     "daemon.sock: unknown setting in daemon (known: socket, socket_group, admin_group, "
     "poll_interval_s, poll_jitter_s); did you mean \"socket\"?"},
    {IN_DAEMON, "socket = 1;", 1, "daemon.socket: " A_STRING},
    {IN_DAEMON, "socket = \"\";", 1, "daemon.socket: " NOT_EMPTY},
    {IN_DAEMON, "socket = \"run/c.sock\";", 1, "daemon.socket: \"run/c.sock\" " RELATIVE},
    {IN_DAEMON, "socket = \"/" X100 "xxxxxxx\";", 1,
     "daemon.socket: too long for a unix socket: at most 107 characters"},
    {IN_DAEMON, "socket_group = 0;", 1, "daemon.socket_group: " A_STRING},
    {IN_DAEMON, "socket_group = \"\";", 1, "daemon.socket_group: " NOT_EMPTY}, /* unset: 0600 */
    {IN_DAEMON, "admin_group = 7;", 1, "daemon.admin_group: " A_STRING},
    {IN_DAEMON, "admin_group = \"\";", 1, "daemon.admin_group: " NOT_EMPTY},
    {IN_DAEMON, "poll_interval_s = \"1h\";", 1,
     "daemon.poll_interval_s: expected an integer from 0 to 2592000"},
    {IN_DAEMON, "poll_interval_s = -1;", 1,
     "daemon.poll_interval_s: -1 is out of range: expected 0 to 2592000"},
    {IN_DAEMON, "poll_interval_s = 2592001;", 1,
     "daemon.poll_interval_s: 2592001 is out of range: expected 0 to 2592000"},
    {IN_DAEMON, "poll_interval_s = 1;", 1,
     "daemon.poll_interval_s: 1 is too short: expected 0 (no polling) or 60 to 2592000 seconds"},
    {IN_DAEMON, "poll_interval_s = 59; poll_jitter_s = 0;", 1,
     "daemon.poll_interval_s: 59 is too short: expected 0 (no polling) or 60 to 2592000 "
     "seconds"},
    {IN_DAEMON, "poll_jitter_s = 1.5;", 1,
     "daemon.poll_jitter_s: expected an integer from 0 to 2592000"},
    {IN_DAEMON, "poll_jitter_s = -1;", 1,
     "daemon.poll_jitter_s: -1 is out of range: expected 0 to 2592000"},
    {IN_DAEMON, "poll_jitter_s = 3601;", 1,
     "daemon.poll_jitter_s: 3601 is more than poll_interval_s (3600): expected 0 to 3600"},
    {IN_DAEMON, "poll_interval_s = 600; poll_jitter_s = 601;", 1,
     "daemon.poll_jitter_s: 601 is more than poll_interval_s (600): expected 0 to 600"},
    {IN_DAEMON, "poll_interval_s = 0; poll_jitter_s = 1;", 1,
     "daemon.poll_jitter_s: 1 is more than poll_interval_s (0): expected 0 to 0"},

    /* bundle */
    {WHOLE, DEVICE_HEAD DEVICE_TAIL, 0,
     "\"bundle\" is missing: bundle = { keys = [\"release.pem\"]; } says who may sign firmware"},
    {WHOLE, "bundle = 1;\n" DEVICE_HEAD DEVICE_TAIL, 1, "bundle: expected a group { ... }"},
    {WHOLE, "bundle = {\n  keys = [\"/k\"];\n  kyes = [\"/k\"]; };\n", 3,
     "bundle.kyes: unknown setting in bundle (known: keys, ca, ca_dir, crl, signer_cn, "
     "max_size, max_image_size); did you mean \"keys\"?"},
    {IN_BUNDLE, "keys = \"/k\";", 1,
     "bundle.keys: expected a list of key files [\"a.pem\", \"b.pem\"]"},
    {IN_BUNDLE, "keys = [\"\"];", 1,
     "bundle.keys[0]: expected the path of a PEM key or certificate"},
    {IN_BUNDLE, "keys = (\"/a\", 1);", 1,
     "bundle.keys[1]: expected the path of a PEM key or certificate"},
    {IN_BUNDLE, "keys = [" K16 ", \"/17\"];", 1, "bundle.keys: at most 16 keys"},
    {IN_BUNDLE, "ca = 1;", 1, "bundle.ca: " A_STRING},
    {IN_BUNDLE, "ca = \"\";", 1, "bundle.ca: " NOT_EMPTY},
    {IN_BUNDLE, "ca_dir = \"\";", 1, "bundle.ca_dir: " NOT_EMPTY},
    {IN_BUNDLE, "ca = \"/ca\"; crl = true;", 1, "bundle.crl: " A_STRING},
    {IN_BUNDLE, "ca = \"/ca\"; signer_cn = \"\";", 1, "bundle.signer_cn: " NOT_EMPTY},
    {IN_BUNDLE, "keys = []; max_size = 8192;", 1,
     "bundle: no trust anchor: set keys (detached signatures) or ca / ca_dir (CMS)"},
    {WHOLE, "\nbundle =\n{\n  max_size = 8192;\n};\n", 2,
     "bundle: no trust anchor: set keys (detached signatures) or ca / ca_dir (CMS)"},
    {IN_BUNDLE, "keys = [\"/k\"]; signer_cn = \"x\";", 1,
     "bundle: crl and signer_cn apply to CMS signatures: set ca or ca_dir too"},
    {IN_BUNDLE, "keys = [\"/k\"]; crl = \"/c.crl\";", 1,
     "bundle: crl and signer_cn apply to CMS signatures: set ca or ca_dir too"},
    {IN_BUNDLE, "ca = \"/ca\"; max_size = \"1M\";", 1,
     "bundle.max_size: expected an integer from 4096 to 4294967296"},
    {IN_BUNDLE, "ca = \"/ca\"; max_size = 4095;", 1,
     "bundle.max_size: 4095 is out of range: expected 4096 to 4294967296"},
    {IN_BUNDLE, "ca = \"/ca\"; max_size = 4294967297L;", 1,
     "bundle.max_size: 4294967297 is out of range: expected 4096 to 4294967296"},
    {IN_BUNDLE, "ca = \"/ca\"; max_image_size = 0;", 1,
     "bundle.max_image_size: 0 is out of range: expected 1 to 67108864"},
    {IN_BUNDLE, "ca = \"/ca\"; max_image_size = 67108865;", 1,
     "bundle.max_image_size: 67108865 is out of range: expected 1 to 67108864"},

    /* fetch */
    {IN_TOP, "fetch = 1;", 1, "fetch: expected a group { ... }"},
    {IN_FETCH, "cert = \"x\";", 1, "fetch.cert: unknown setting in fetch " KNOWN_FETCH},
    {IN_FETCH, "ca = 1;", 1, "fetch.ca: " A_STRING},
    {IN_FETCH, "ca = \"\";", 1, "fetch.ca: " NOT_EMPTY},
    {IN_FETCH, "ca_dir = \"\";", 1, "fetch.ca_dir: " NOT_EMPTY},
    {IN_FETCH, "client_cert = \"\";", 1, "fetch.client_cert: " NOT_EMPTY},
    {IN_FETCH, "client_cert = \"/c\"; client_key = 1;", 1, "fetch.client_key: " A_STRING},
    {WHOLE, BUNDLE_LINE "fetch = {\n  client_key = \"/k\"; };\n" DEVICE_HEAD DEVICE_TAIL, 2,
     "fetch: client_key needs client_cert"},
    {IN_FETCH, "proxy = 1;", 1,
     "fetch.proxy: expected a proxy URL in double quotes, or \"\" for none"},
    {IN_FETCH, "allow_http = 1;", 1, "fetch.allow_http: expected true or false"},
    {IN_FETCH, "allow_http = \"yes\";", 1, "fetch.allow_http: expected true or false"},
    {IN_FETCH, "connect_timeout_s = \"30\";", 1,
     "fetch.connect_timeout_s: expected an integer from 1 to 600"},
    {IN_FETCH, "connect_timeout_s = 0;", 1,
     "fetch.connect_timeout_s: 0 is out of range: expected 1 to 600"},
    {IN_FETCH, "connect_timeout_s = 601;", 1,
     "fetch.connect_timeout_s: 601 is out of range: expected 1 to 600"},
    {IN_FETCH, "low_speed_limit = 1.0;", 1,
     "fetch.low_speed_limit: expected an integer from 1 to 1073741824"},
    {IN_FETCH, "low_speed_limit = 0;", 1,
     "fetch.low_speed_limit: 0 is out of range: expected 1 to 1073741824"},
    {IN_FETCH, "low_speed_limit = 1073741825;", 1,
     "fetch.low_speed_limit: 1073741825 is out of range: expected 1 to 1073741824"},
    {IN_FETCH, "low_speed_time_s = true;", 1,
     "fetch.low_speed_time_s: expected an integer from 1 to 3600"},
    {IN_FETCH, "low_speed_time_s = 0;", 1,
     "fetch.low_speed_time_s: 0 is out of range: expected 1 to 3600"},
    {IN_FETCH, "low_speed_time_s = 3601;", 1,
     "fetch.low_speed_time_s: 3601 is out of range: expected 1 to 3600"},
    {IN_FETCH, "max_time_s = [1];", 1, "fetch.max_time_s: expected an integer from 10 to 604800"},
    {IN_FETCH, "max_time_s = 9;", 1, "fetch.max_time_s: 9 is out of range: expected 10 to 604800"},
    {IN_FETCH, "max_time_s = 604801;", 1,
     "fetch.max_time_s: 604801 is out of range: expected 10 to 604800"},
    {IN_FETCH, "max_attempts = \"6\";", 1, "fetch.max_attempts: expected an integer from 1 to 100"},
    {IN_FETCH, "max_attempts = 0;", 1, "fetch.max_attempts: 0 is out of range: expected 1 to 100"},
    {IN_FETCH, "max_attempts = 101;", 1,
     "fetch.max_attempts: 101 is out of range: expected 1 to 100"},
    {IN_FETCH, "max_recv_speed = 1e6;", 1,
     "fetch.max_recv_speed: expected an integer from 0 to 1099511627776"},
    {IN_FETCH, "max_recv_speed = -1;", 1,
     "fetch.max_recv_speed: -1 is out of range: expected 0 to 1099511627776"},
    {IN_FETCH, "max_recv_speed = 1099511627777L;", 1,
     "fetch.max_recv_speed: 1099511627777 is out of range: expected 0 to 1099511627776"},

    /* devices */
    {WHOLE, BUNDLE_LINE, 0, "\"devices\" is missing: devices = ( { name = \"...\"; ... } );"},
    {WHOLE, BUNDLE_LINE "devices = { };\n", 2, "devices: expected a list ( { ... }, { ... } )"},
    {WHOLE, BUNDLE_LINE "devices = [ 1 ];\n", 2, "devices: expected a list ( { ... }, { ... } )"},
    {WHOLE, BUNDLE_LINE "devices = (\n  \"a\" );\n", 3,
     "devices[0]: expected a device { name = \"...\"; ... }"},
    {WHOLE, BUNDLE_LINE "devices = (\n" DEV("a", "") ",\n" DEV("a", "") ");\n", 4,
     "devices[1].name: \"a\" is already the name of the device at line 3"},

    /* a device */
    {IN_DEVICE, "adress = 1;", 4,
     "devices[0].adress: unknown setting in a device " KNOWN_DEVICE "; did you mean \"address\"?"},
    {WHOLE, BUNDLE_LINE "devices = (\n  { " ENTRY "\n    " HEALTH " });\n", 3,
     "devices[0]: \"name\" is missing: it is required here"},
    {WHOLE, BUNDLE_LINE "devices = (\n" DEV("", "") ");\n", 3, "devices[0].name: " NOT_EMPTY},
    {WHOLE, BUNDLE_LINE "devices = (\n" DEV("a/b", "") ");\n", 3,
     "devices[0].name: \"a/b\": use 1 to 64 letters, digits, - and _"},
    {WHOLE, BUNDLE_LINE "devices = (\n" DEV("a b", "") ");\n", 3,
     "devices[0].name: \"a b\": use 1 to 64 letters, digits, - and _"},
    {WHOLE, BUNDLE_LINE "devices = (\n" DEV(N65, "") ");\n", 3,
     "devices[0].name: \"" N65 "\": use 1 to 64 letters, digits, - and _"},
    {WHOLE, BUNDLE_LINE "devices = (\n  { name = 1; " ENTRY " " HEALTH " });\n", 3,
     "devices[0].name: " A_STRING},
    {IN_DEVICE, "address = \"0x08000000\";", 4,
     "devices[0].address: expected an integer from 0 to 4294967295"},
    {IN_DEVICE, "address = 1.5;", 4,
     "devices[0].address: expected an integer from 0 to 4294967295"},
    {IN_DEVICE, "address = -1;", 4,
     "devices[0].address: -1 is out of range: expected 0 to 4294967295"},
    {IN_DEVICE, "address = 0x100000000L;", 4,
     "devices[0].address: 4294967296 is out of range: expected 0 to 4294967295"},
    {IN_DEVICE, "backup = true;", 4, "devices[0].backup: " A_STRING},
    {IN_DEVICE, "backup = \"\";", 4, "devices[0].backup: " NOT_EMPTY},
    {IN_DEVICE, "backup = \"maybe\";", 4,
     "devices[0].backup: \"maybe\": expected \"required\" (refuse a first update when the chip "
     "cannot be read back) or \"optional\""},
    {IN_DEVICE, "allow_downgrade = 1;", 4, "devices[0].allow_downgrade: expected true or false"},
    {IN_DEVICE, "min_version = 2;", 4, "devices[0].min_version: " A_STRING},
    {IN_DEVICE, "min_version = \"\";", 4, "devices[0].min_version: " NOT_EMPTY},
    {IN_DEVICE, "min_version = \"v2\";", 4,
     "devices[0].min_version: \"v2\" is not a version: expected numbers separated by dots, "
     "with an optional -suffix, e.g. \"2.1.0\""},
    {IN_DEVICE, "min_version = \"" V65 "\";", 4,
     "devices[0].min_version: \"" V62 "10\" is not a version: expected numbers separated by "
     "dots, with an optional -suffix, e.g. \"2.1.0\""},
    {IN_TOP, "hardware = 1;", 1, "hardware: expected a group { revision = \"...\"; }"},
    {IN_TOP, "hardware = { revison = \"1.0\"; };", 1,
     "hardware.revison: unknown setting in hardware (known: revision, revision_file); did you "
     "mean \"revision\"?"},
    {IN_TOP, "hardware = { revision = 1; };", 1, "hardware.revision: " A_STRING},
    {IN_TOP, "hardware = { revision = \"\"; };", 1, "hardware.revision: " NOT_EMPTY},
    {IN_TOP, "hardware = { revision = \"rev B\"; };", 1, "hardware.revision: \"rev B\": " ONE_WORD},
    {IN_TOP, "hardware = { revision = \"" N65 "\"; };", 1,
     "hardware.revision: \"" N64 "\": " ONE_WORD},
    {IN_TOP, "hardware = { revision_file = \"hwrevision\"; };", 1,
     "hardware.revision_file: \"hwrevision\" " RELATIVE},
    {IN_DEVICE, "bootloader_timeout_ms = \"10s\";", 4,
     "devices[0].bootloader_timeout_ms: expected an integer from 1 to 600000"},
    {IN_DEVICE, "bootloader_timeout_ms = 0;", 4,
     "devices[0].bootloader_timeout_ms: 0 is out of range: expected 1 to 600000"},
    {IN_DEVICE, "bootloader_timeout_ms = 600001;", 4,
     "devices[0].bootloader_timeout_ms: 600001 is out of range: expected 1 to 600000"},
    {IN_DEVICE, "bootloader_timeout_ms = 0xFFFFFFFF;", 4,
     "devices[0].bootloader_timeout_ms: 4294967295 is out of range: expected 1 to 600000"},
    {IN_DEVICE, "health_timeout_ms = 1.5;", 4,
     "devices[0].health_timeout_ms: expected an integer from 1 to 600000"},
    {IN_DEVICE, "health_timeout_ms = 0;", 4,
     "devices[0].health_timeout_ms: 0 is out of range: expected 1 to 600000"},
    {IN_DEVICE, "health_timeout_ms = 600001;", 4,
     "devices[0].health_timeout_ms: 600001 is out of range: expected 1 to 600000"},

    /* a device's plugins */
    {IN_BARE_DEVICE, HEALTH, 3, "devices[0]: \"entry\" is missing: " PLUGIN_GROUP},
    {IN_BARE_DEVICE, ENTRY, 3, "devices[0]: \"health\" is missing: " PLUGIN_GROUP},
    {IN_BARE_DEVICE, "entry = \"gpio\"; " HEALTH, 4, "devices[0].entry: " A_PLUGIN_GROUP},
    {IN_BARE_DEVICE, ENTRY " health = [\"usb\"];", 4, "devices[0].health: " A_PLUGIN_GROUP},
    {IN_BARE_DEVICE, "entry = { chip = \"x\"; }; " HEALTH, 4,
     "devices[0].entry: \"plugin\" is missing: it is required here"},
    {IN_BARE_DEVICE, ENTRY " health = { vid = 1; };", 4,
     "devices[0].health: \"plugin\" is missing: it is required here"},
    {IN_BARE_DEVICE, "entry = { plugin = \"\"; }; " HEALTH, 4,
     "devices[0].entry.plugin: " NOT_EMPTY},
    {IN_BARE_DEVICE, ENTRY " health = { plugin = 1; };", 4, "devices[0].health.plugin: " A_STRING},
    {IN_BARE_DEVICE, "entry = { plugin = \"gpio\"; hold = 0.5; }; " HEALTH, 4,
     "devices[0].entry.hold: " PLUGIN_TYPES},
    {IN_BARE_DEVICE, ENTRY " health = { plugin = \"usb\"; ids = [1, 2]; };", 4,
     "devices[0].health.ids: " PLUGIN_TYPES},
    {IN_DEVICE, "flasher = \"dfuse\";", 4, "devices[0].flasher: " A_PLUGIN_GROUP},
    {IN_DEVICE, "flasher = { plugin = 3; };", 4, "devices[0].flasher.plugin: " A_STRING},
    {IN_DEVICE, "flasher = { plugin = \"\"; };", 4, "devices[0].flasher.plugin: " NOT_EMPTY},
    {IN_DEVICE, "flasher = { plugin = \"dfuse\"; speed = 1.5; };", 4,
     "devices[0].flasher.speed: " PLUGIN_TYPES},
    {IN_DEVICE, "flasher = { alt = { a = 1; }; };", 4, "devices[0].flasher.alt: " PLUGIN_TYPES},
    {IN_DEVICE, "flasher = { ports = (\"1-1\"); };", 4, "devices[0].flasher.ports: " PLUGIN_TYPES},

    /* firmware */
    {IN_DEVICE, "firmware = \"/m.swu\";", 4,
     "devices[0].firmware: expected a group { source = \"...\"; version = \"...\"; }"},
    {IN_FIRMWARE, "source = \"/m.swu\"; sha = \"x\";", 4,
     "devices[0].firmware.sha: unknown setting in firmware (known: source, version)"},
    {IN_FIRMWARE, "version = \"1.0\";", 4,
     "devices[0].firmware: \"source\" is missing: it is required here"},
    {IN_FIRMWARE, "source = 1;", 4, "devices[0].firmware.source: " A_STRING},
    {IN_FIRMWARE, "source = \"\";", 4, "devices[0].firmware.source: " NOT_EMPTY},
    {IN_FIRMWARE, "source = \"motor.swu\";", 4,
     "devices[0].firmware.source: \"motor.swu\": " NOT_A_BUNDLE},
    {IN_FIRMWARE, "source = \"./motor.swu\";", 4,
     "devices[0].firmware.source: \"./motor.swu\": " NOT_A_BUNDLE},
    {IN_FIRMWARE, "source = \"ftp://h/m.swu\";", 4,
     "devices[0].firmware.source: \"ftp://h/m.swu\": " NOT_A_BUNDLE},
    {IN_FIRMWARE, "source = \"/m.swu\"; version = 2;", 4, "devices[0].firmware.version: " A_STRING},
    {IN_FIRMWARE, "source = \"/m.swu\"; version = \"\";", 4,
     "devices[0].firmware.version: " NOT_EMPTY},
    {IN_FIRMWARE, "source = \"/m.swu\"; version = \"" V65 "\";", 4,
     "devices[0].firmware.version: too long: at most 64 characters"},

    /* several devices: a flasher selection each, and no two alike */
    {WHOLE, BUNDLE_LINE "devices = (\n" DEV("a", "") ",\n" DEV("b", "") ");\n", 3,
     "devices[0]: " SELECTION},
    {WHOLE,
     BUNDLE_LINE
     "devices = (\n" DEV("a", "flasher = { serial = \"AB\"; };") ",\n" DEV("b", "") ");\n",
     4, "devices[1]: " SELECTION},
    {WHOLE,
     BUNDLE_LINE "devices = (\n" DEV("a", "flasher = { plugin = \"dfuse\"; };") ",\n" DEV(
         "b", "flasher = { port = \"1-1\"; };") ");\n",
     3, "devices[0].flasher: " SELECTION},
    {WHOLE,
     BUNDLE_LINE "devices = (\n" DEV("a", "flasher = { serial = \"AB\"; };") ",\n" DEV(
         "b", "flasher = { serial = \"ab\"; };") ");\n",
     4, "devices[1].flasher: serial \"ab\" also selects device a (line 3)"},
    {WHOLE,
     BUNDLE_LINE "devices = (\n" DEV("a", "flasher = { port = \"1-1\"; };") ",\n" DEV(
         "b", "flasher = { port = \"1-2\"; };") ",\n" DEV("c",
                                                          "flasher = { port = \"1-1\"; };") ");\n",
     5, "devices[2].flasher: port \"1-1\" also selects device a (line 3)"},
};

static void check_refused(const struct refusal *t)
{
	char err[1024], want[5400];
	int r = load(t->where, t->text, err, sizeof(err));
	snprintf(want, sizeof(want), "%s:%d: %s", path, t->line, t->error);
	if (r != -EINVAL || strcmp(err, want))
		failed("refused: %s\n  returned %d: %s\n  expected -22: %s", t->text, r, err, want);
	else if (!left_empty(&cfg))
		failed("refused: %s\n  left settings in the struct", t->text);
	config_free(&cfg);
	config_free(&cfg); /* twice is safe */
}

static void every_mistake_is_refused(void)
{
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		check_refused(&refused[i]);
}

/* ---- the rest ---- */

/* Everything at once, and config_device. */
static void a_full_config_loads(void)
{
	char err[1024];
	int r = load(
	    WHOLE,
	    "state_dir = \"/var/lib/x\";\n"
	    "cache_dir = \"/var/cache/x\";\n"
	    "log_level = \"warning\";\n"
	    "daemon = { socket = \"/run/x.sock\"; socket_group = \"ops\"; poll_interval_s = 900;\n"
	    "           poll_jitter_s = 60; };\n"
	    "bundle = { keys = [\"/etc/a.pem\", \"/etc/b.pem\"]; max_size = 1048576; };\n"
	    "fetch = { proxy = \"\"; allow_http = false; max_attempts = 3; };\n"
	    "devices = (\n"
	    "  { name = \"motor\"; address = 0x08004000; backup = \"optional\";\n"
	    "    allow_downgrade = true; bootloader_timeout_ms = 2000; health_timeout_ms = 3000;\n"
	    "    entry = { plugin = \"gpio\"; chip = \"gpiochip0\"; };\n"
	    "    flasher = { serial = \"3574364C3034\"; };\n"
	    "    health = { plugin = \"usb\"; vid = 0x0483; };\n"
	    "    firmware = { source = \"https://u.example.com/motor.swu\"; version = \"2.0.0\"; "
	    "}; },\n"
	    "  { name = \"radio\";\n"
	    "    entry = { plugin = \"serial\"; };\n"
	    "    flasher = { plugin = \"dfuse\"; serial = \"2\"; };\n"
	    "    health = { plugin = \"usb\"; }; }\n"
	    ");\n",
	    err, sizeof(err));
	CHECK_INT(r, 0);
	if (r)
		fprintf(stderr, "%s\n", err);
	CHECK_STR(cfg.path, path);
	CHECK_STR(cfg.state_dir, "/var/lib/x");
	CHECK_STR(cfg.cache_dir, "/var/cache/x");
	CHECK_INT(cfg.log_level, MCU_OTA_LOG_WARNING);
	CHECK_STR(cfg.daemon.socket_group, "ops");
	CHECK_INT(cfg.daemon.poll_interval_s, 900);
	CHECK_INT(cfg.daemon.poll_jitter_s, 60);
	CHECK(cfg.trust.key_files == cfg.keys);
	CHECK_INT(cfg.trust.key_count, 2);
	CHECK_STR(cfg.trust.key_files[1], "/etc/b.pem");
	CHECK_INT(cfg.limits.max_bundle, 1048576);
	CHECK_INT(cfg.fetch.max_attempts, 3);
	CHECK_INT(cfg.device_count, 2);
	const struct device_config *m = config_device(&cfg, "motor");
	CHECK(m == &cfg.devices[0]);
	if (m) {
		CHECK_INT(m->line, 9);
		CHECK_INT(m->address, 0x08004000);
		CHECK(!m->backup_required);
		CHECK(m->allow_downgrade);
		CHECK_INT(m->bootloader_timeout_ms, 2000);
		CHECK_INT(m->health_timeout_ms, 3000);
		CHECK_STR(m->entry.plugin, "gpio");
		CHECK(m->entry.section == config_lookup(&cfg.cfg, "devices.[0].entry"));
		CHECK_STR(m->flasher.plugin, "dfuse"); /* the default */
		CHECK(m->flasher.section == config_lookup(&cfg.cfg, "devices.[0].flasher"));
		CHECK_STR(m->health.plugin, "usb");
		CHECK_STR(m->firmware_source, "https://u.example.com/motor.swu");
		CHECK_STR(m->firmware_version, "2.0.0");
	}
	const struct device_config *d = config_device(&cfg, "radio");
	CHECK(d == &cfg.devices[1]);
	if (d) {
		CHECK_INT(d->line, 15);
		CHECK(d->firmware_source == NULL);
		CHECK(d->health.section == config_lookup(&cfg.cfg, "devices.[1].health"));
	}
	CHECK(config_device(&cfg, "nope") == NULL);
	CHECK(config_device(&cfg, "Motor") == NULL);
	config_free(&cfg);
	CHECK(left_empty(&cfg));
	CHECK(config_device(&cfg, "motor") == NULL);
	config_free(&cfg); /* twice is safe */
}

/* The plugin-settings check made after loading names a setting the same way. */
static void config_error_at_names_file_line_and_setting(void)
{
	char err[1024], want[5400];
	CHECK_INT(load(IN_BARE_DEVICE, ENTRY "\n    health = { plugin = \"usb\"; vid = 0x0483; };",
	               err, sizeof(err)),
	          0);
	const config_setting_t *vid =
	    config_setting_get_member(cfg.devices[0].health.section, "vid");
	CHECK(vid != NULL);
	CHECK_INT(config_error_at(&cfg, vid, err, sizeof(err), "not known to plugin %s", "usb"),
	          -EINVAL);
	snprintf(want, sizeof(want), "%s:5: devices[0].health.vid: not known to plugin usb", path);
	CHECK_STR(err, want);
	config_free(&cfg);
}

static void the_device_limit(void)
{
	char text[16384], err[1024], want[5400];
	for (int n = CONFIG_MAX_DEVICES; n <= CONFIG_MAX_DEVICES + 1; n++) {
		int off = snprintf(text, sizeof(text), BUNDLE_LINE "devices = (\n");
		for (int i = 0; i < n; i++)
			off +=
			    snprintf(text + off, sizeof(text) - (size_t)off,
			             "%s  { name = \"d%d\"; flasher = { serial = \"S%d\"; }; " ENTRY
			             " " HEALTH " }\n",
			             i ? "," : "", i, i);
		snprintf(text + off, sizeof(text) - (size_t)off, ");\n");
		int r = load(WHOLE, text, err, sizeof(err));
		if (n == CONFIG_MAX_DEVICES) {
			CHECK_INT(r, 0);
			CHECK_INT(cfg.device_count, CONFIG_MAX_DEVICES);
		} else {
			CHECK_INT(r, -EINVAL);
			snprintf(want, sizeof(want), "%s:2: devices: at most 32 devices", path);
			CHECK_STR(err, want);
		}
		config_free(&cfg);
	}
}

static void a_missing_file(void)
{
	char err[1024], p[4300], want[9000];
	snprintf(p, sizeof(p), "%s/none.conf", root);
	CHECK_INT(config_load(p, &cfg, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "cannot read the configuration %s: No such file or directory",
	         p);
	CHECK_STR(err, want);
	CHECK_INT(cfg.device_count, 0);
	config_free(&cfg);
	config_free(&cfg);
}

/* conf/mcu-ota.conf, installed as /etc/mcu-ota/mcu-ota.conf, loads. */
static void the_example_file_loads(void)
{
	char err[1024];
	int r = config_load(MCU_OTA_SOURCE_DIR "/conf/mcu-ota.conf", &cfg, err, sizeof(err));
	CHECK_INT(r, 0);
	if (r)
		fprintf(stderr, "%s\n", err);
	CHECK(cfg.device_count >= 1);
	config_free(&cfg);
}

/* The example documents every setting config.c knows (set or commented out):
 * the "(known: ...)" list of each section's unknown-setting error. */
static void the_example_documents_every_setting(void)
{
	static const struct {
		enum where where;
		const char *text;
	} sections[] = {
	    {IN_TOP, "zz = 1;"},
	    {IN_BUNDLE, "zz = 1;"},
	    {IN_FETCH, "zz = 1;"},
	    {IN_DAEMON, "zz = 1;"},
	    {IN_FIRMWARE, "zz = 1;"},
	    {IN_DEVICE, "zz = 1;"},
	    {IN_TOP, "hardware = { zz = 1; };"},
	};
	char example[65536] = "", err[1024];
	FILE *f = fopen(MCU_OTA_SOURCE_DIR "/conf/mcu-ota.conf", "r");
	CHECK(f != NULL);
	if (!f)
		return;
	size_t n = fread(example, 1, sizeof(example) - 1, f);
	example[n] = '\0';
	fclose(f);
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		CHECK_INT(load(sections[i].where, sections[i].text, err, sizeof(err)), -EINVAL);
		config_free(&cfg);
		const char *list = strstr(err, "(known: ");
		CHECK(list != NULL);
		if (!list)
			continue;
		list += strlen("(known: ");
		while (*list && *list != ')') {
			size_t len = strcspn(list, ",)");
			char name[64];
			snprintf(name, sizeof(name), "%.*s", (int)len, list);
			bool found = false;
			for (const char *p = example; !found && (p = strstr(p, name)); p += len) {
				const char *after = p + len;
				while (*after == ' ' || *after == '\t')
					after++;
				found = (p == example ||
				         !(isalnum((unsigned char)p[-1]) || p[-1] == '_')) &&
				        (*after == '=' || *after == ':');
			}
			if (!found)
				failed("conf/mcu-ota.conf does not mention %s", name);
			list += len;
			list += strspn(list, ", ");
		}
	}
}

/* ---- bugs of config.c: each test below fails until config.c is fixed ---- */

/* text is refused with -EINVAL and an error that begins "FILE:line: setting: ". */
static void refused_at(enum where w, const char *text, int line, const char *setting)
{
	char err[1024], want[5400];
	int r = load(w, text, err, sizeof(err));
	snprintf(want, sizeof(want), "%s:%d: %s: ", path, line, setting);
	if (r != -EINVAL || strncmp(err, want, strlen(want)))
		failed("refused: %s\n  returned %d: %s\n  expected -22 and: %s...", text, r, err,
		       want);
	config_free(&cfg);
}

/* Once a bug: libconfig 1.5 (Debian) reads an integer without L through int: a
 * decimal from 2^31 up or a hex from 2^32 up wraps, and config.c accepts the
 * wrapped value, or refuses naming a number that is not in the file:
 *   address = 4294967296;        -> loaded as 0x00000000
 *   address = 0x100000000;       -> loaded as 0x00000000
 *   max_recv_speed = 4294967396; -> loaded as 100
 *   address = 4294967295;        -> "-1 is out of range: expected 0 to 4294967295"
 *   max_size = 4294967296;       -> "0 is out of range: expected 4096 to ..."
 * A value must be read as written or refused (e.g. "write 4294967296L"). */
static void integers_beyond_32_bits(void)
{
	static const struct {
		enum where where;
		const char *text, *setting, *field, *wrapped;
		long long want;
	} cases[] = {
	    {IN_DEVICE, "address = 4294967296;", "devices[0].address", "devices[0].address", "0",
	     -1},
	    {IN_DEVICE, "address = 0x100000000;", "devices[0].address", "devices[0].address", "0",
	     -1},
	    {IN_DEVICE, "address = 0x108000000;", "devices[0].address", "devices[0].address",
	     "134217728", -1},
	    {IN_DEVICE, "address = 4294967295;", "devices[0].address", "devices[0].address", "-1",
	     0xFFFFFFFF},
	    {IN_DEVICE, "address = 2147483648;", "devices[0].address", "devices[0].address",
	     "-2147483648", 0x80000000},
	    {IN_FETCH, "max_recv_speed = 4294967396;", "fetch.max_recv_speed",
	     "fetch.max_recv_speed", "100", 4294967396},
	    {IN_BUNDLE, "keys = [\"/k\"]; max_size = 4294967296;", "bundle.max_size",
	     "limits.max_bundle", "0", 4294967296},
	};
	char err[1024], wrong[64];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int line = cases[i].where == IN_DEVICE ? 4 : 1;
		int r = load(cases[i].where, cases[i].text, err, sizeof(err));
		struct field f;
		snprintf(wrong, sizeof(wrong), ": %s is", cases[i].wrapped);
		if (r == 0 && field(&cfg, cases[i].field, &f) && f.num != cases[i].want)
			failed("%s\n  loaded as %lld", cases[i].text, f.num);
		config_free(&cfg);
		if (r == 0)
			continue;
		if (strstr(err, wrong))
			failed("%s\n  refused with a number not in the file: %s", cases[i].text,
			       err);
		else
			refused_at(cases[i].where, cases[i].text, line, cases[i].setting);
	}
}

/* Once a bug: an error in a file taken in with @include names the main file with
 * the line in the included one ("main.conf:3: log_level: ..." for line 3 of
 * inc.conf). It should name the included file (config_error_file(),
 * config_setting_source_file()), or @include should be refused at its line. */
static void errors_in_included_files(void)
{
	static const char *const included[] = {"\n\nlog_level = \"loud\";\n",
	                                       "\n\nlog_level = ;\n"};
	char inc[4300], text[8800], err[1024], in_inc[4400], in_main[4400];
	snprintf(inc, sizeof(inc), "%s/inc.conf", root);
	snprintf(text, sizeof(text), "@include \"%s\"\n", inc);
	snprintf(in_inc, sizeof(in_inc), "%s:3: ", inc);
	snprintf(in_main, sizeof(in_main), "%s:1: ", path);
	for (size_t i = 0; i < 2; i++) {
		if (write_file(inc, included[i]) < 0)
			return;
		CHECK_INT(load(IN_TOP, text, err, sizeof(err)), -EINVAL);
		if (strncmp(err, in_inc, strlen(in_inc)) && strncmp(err, in_main, strlen(in_main)))
			failed("an error on line 3 of %s reads: %s", inc, err);
		config_free(&cfg);
	}
	unlink(inc);
}

/* Once a bug: a directory given as the configuration ends the process: libconfig's
 * scanner prints "input in flex scanner failed" and calls exit(2). config_load
 * must refuse what is not a regular file before config_read. */
static void a_directory_exits_the_process(void)
{
	char dir[4300], err[1024];
	snprintf(dir, sizeof(dir), "%s/dir.conf", root);
	CHECK(mkdir(dir, 0700) == 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int r = config_load(dir, &cfg, err, sizeof(err));
		_exit(r < 0 && strstr(err, dir) ? 0 : 1);
	}
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		failed("config_load(a directory) ended the process: status %d", status);
	rmdir(dir);
}

/* Once a bug: firmware.version is only checked for length: "v2", "latest" or
 * "2.0.0 " are accepted, yet no bundle can hold them (swu_manifest refuses
 * image versions that are not version_valid()), so the daemon would fetch
 * and refuse forever. */
static void firmware_version_not_checked(void)
{
	refused_at(IN_FIRMWARE, "source = \"/m.swu\"; version = \"v2\";", 4,
	           "devices[0].firmware.version");
	refused_at(IN_FIRMWARE, "source = \"/m.swu\"; version = \"latest\";", 4,
	           "devices[0].firmware.version");
	refused_at(IN_FIRMWARE, "source = \"/m.swu\"; version = \"2.0.0 \";", 4,
	           "devices[0].firmware.version");
}

/* Once a bug: an http:// source is accepted while fetch.allow_http is false (the
 * default); every download of it fails. The message itself says "expected an
 * https:// URL". */
static void http_source_without_allow_http(void)
{
	refused_at(IN_FIRMWARE, "source = \"http://lan/m.swu\";", 4, "devices[0].firmware.source");
}

/* Once a bug: a relative plugin_dir is accepted; plugins are then dlopen()ed from
 * the working directory, so "mcu-ota config check" in a shell and the daemon
 * (working directory /) load different code. Same rule as state_dir,
 * cache_dir and daemon.socket. */
static void relative_plugin_dir(void)
{
	refused_at(IN_TOP, "plugin_dir = \"lib/plugins\";", 1, "plugin_dir");
}

/* Once a bug: a device whose flasher has both serial and port is compared by its
 * serial only: a (port 1-1) and b (port 1-1, serial Q) are accepted though
 * both claim the chip on port 1-1, and a's update can reach b's chip. */
static void a_port_claimed_twice(void)
{
	refused_at(WHOLE,
	           BUNDLE_LINE "devices = (\n" DEV("a", "flasher = { port = \"1-1\"; };") ",\n" DEV(
	               "b", "flasher = { port = \"1-1\"; serial = \"Q\"; };") ");\n",
	           4, "devices[1].flasher");
}

/* Once a bug: a selection of the wrong type is reported as missing: with two
 * devices, "flasher = { serial = 12; }" gives "devices[0].flasher: with
 * several devices, each flasher needs serial ... or port", though serial is
 * there; it should say that serial must be a string. */
static void selection_of_the_wrong_type(void)
{
	refused_at(WHOLE,
	           BUNDLE_LINE "devices = (\n" DEV("a", "flasher = { serial = 12; };") ",\n" DEV(
	               "b", "flasher = { serial = \"13\"; };") ");\n",
	           3, "devices[0].flasher.serial");
}

/* Once a bug: when the file cannot be opened, config_load returns with c->path
 * still set and c->cfg holding libconfig's root setting (allocated by
 * config_init): the header promises "c is left empty", and a caller that
 * does not call config_free leaks. */
static void a_failed_open_leaves_the_struct_empty(void)
{
	char err[1024], p[4300];
	snprintf(p, sizeof(p), "%s/none.conf", root);
	CHECK_INT(config_load(p, &cfg, err, sizeof(err)), -ENOENT);
	CHECK(left_empty(&cfg));
	config_free(&cfg);
}

/* Finding 8 of issue 12: whoever may rewrite the configuration chooses the
 * keys firmware is checked with. One others may write (or an included file
 * they may write) is refused as ssh refuses a key, with the fix. */
static void a_configuration_others_may_write(void)
{
	char err[1024], inc[4300], text[4400], want[4500];
	CHECK_INT(load(IN_TOP, "", err, sizeof(err)), 0);
	config_free(&cfg);
	CHECK_INT(chmod(path, 0666), 0);
	CHECK_INT(config_load(path, &cfg, err, sizeof(err)), -EPERM);
	snprintf(want, sizeof(want),
	         "configuration %s is writable by group or others (mode 0666): chmod go-w it",
	         path);
	CHECK_STR(err, want);
	CHECK(left_empty(&cfg));
	config_free(&cfg);
	CHECK_INT(chmod(path, 0644), 0);
	/* an included file is the configuration as much */
	snprintf(inc, sizeof(inc), "%s/inc.conf", root);
	snprintf(text, sizeof(text), "@include \"inc.conf\"\n"); /* found beside the main file */
	if (write_file(inc, "log_level = \"info\";\n") < 0)
		return;
	CHECK_INT(chmod(inc, 0664), 0);
	CHECK_INT(load(IN_TOP, text, err, sizeof(err)), -EPERM);
	snprintf(want, sizeof(want), "configuration %s is writable by group or others (mode 0664)",
	         inc);
	CHECK_CONTAINS(err, want);
	config_free(&cfg);
	CHECK_INT(chmod(inc, 0644), 0);
	CHECK_INT(load(IN_TOP, text, err, sizeof(err)), 0);
	config_free(&cfg);
	unlink(inc);
}

static void setup(void)
{
	CHECK(mkdtemp(root) != NULL);
	snprintf(path, sizeof(path), "%s/mcu-ota.conf", root);
}

static void cleanup(void)
{
	unlink(path);
	rmdir(root);
}

TEST_MAIN_WITH(setup, cleanup, TEST(every_good_value_is_read), TEST(every_mistake_is_refused),
               TEST(a_full_config_loads), TEST(config_error_at_names_file_line_and_setting),
               TEST(the_device_limit), TEST(a_missing_file), TEST(the_example_file_loads),
               TEST(the_example_documents_every_setting), TEST(integers_beyond_32_bits),
               TEST(errors_in_included_files), TEST(a_directory_exits_the_process),
               TEST(firmware_version_not_checked), TEST(http_source_without_allow_http),
               TEST(relative_plugin_dir), TEST(a_port_claimed_twice),
               TEST(selection_of_the_wrong_type), TEST(a_failed_open_leaves_the_struct_empty),
               TEST(a_configuration_others_may_write))
