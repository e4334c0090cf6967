/* The configuration file: a good one loads with its defaults filled in, and
 * every mistake is refused with the file, the line and the setting's path. */
#include "check.h"
#include "config/config.h"

#include <unistd.h>

static char root[] = "/tmp/mcu-ota-config-XXXXXX";
static char path[4200];
static struct config cfg;

static const char good_device[] =
    "devices = (\n"
    "  { name = \"motor\";\n"
    "    entry = { plugin = \"gpio\"; chip = \"gpiochip0\"; boot0 = 5; active_low = true; };\n"
    "    health = { plugin = \"usb\"; vid = 0x0483; pid = 0x5740; }; }\n"
    ");\n";

/* Load text as the configuration; the error in err. */
static int load(const char *text, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return -EIO;
	fputs(text, f);
	fclose(f);
	err[0] = '\0';
	int r = config_load(path, &cfg, err, errlen);
	if (r < 0)
		CHECK_INT(cfg.device_count, 0);
	config_free(&cfg);
	return r;
}

/* text must be refused with -EINVAL and "<file>:<line>: <what>". */
static void refused(const char *text, int line, const char *what)
{
	char err[1024], expect[1024 + 4200];
	CHECK_INT(load(text, err, sizeof(err)), -EINVAL);
	snprintf(expect, sizeof(expect), "%s:%d: %s", path, line, what);
	CHECK_STR(err, expect);
}

static void a_good_config_loads(void)
{
	char err[1024] = "";
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fprintf(
	    f,
	    "state_dir = \"/var/lib/x\";\n"
	    "bundle = { keys = [\"/etc/a.pem\", \"/etc/b.pem\"]; max_size = 1048576; };\n"
	    "fetch = { proxy = \"\"; allow_http = false; };\n"
	    "devices = (\n"
	    "  { name = \"motor\"; address = 0x08004000; backup = \"optional\";\n"
	    "    allow_downgrade = true; bootloader_timeout_ms = 2000; health_timeout_ms = 3000;\n"
	    "    entry = { plugin = \"gpio\"; chip = \"gpiochip0\"; };\n"
	    "    flasher = { serial = \"3574364C3034\"; };\n"
	    "    health = { plugin = \"usb\"; vid = 0x0483; }; },\n"
	    "  { name = \"radio\";\n"
	    "    entry = { plugin = \"serial\"; };\n"
	    "    flasher = { plugin = \"dfuse\"; serial = \"2\"; };\n"
	    "    health = { plugin = \"usb\"; }; }\n"
	    ");\n");
	fclose(f);
	int r = config_load(path, &cfg, err, sizeof(err));
	CHECK_INT(r, 0);
	if (r)
		fprintf(stderr, "%s\n", err);
	CHECK_STR(cfg.state_dir, "/var/lib/x");
	CHECK(cfg.plugin_dir == NULL);
	CHECK_INT(cfg.trust.key_count, 2);
	CHECK_STR(cfg.trust.key_files[1], "/etc/b.pem");
	CHECK_INT(cfg.limits.max_bundle, 1048576);
	CHECK_INT(cfg.device_count, 2);
	const struct device_config *m = config_device(&cfg, "motor");
	CHECK(m != NULL);
	if (m) {
		CHECK_INT(m->address, 0x08004000);
		CHECK(!m->backup_required);
		CHECK(m->allow_downgrade);
		CHECK_INT(m->bootloader_timeout_ms, 2000);
		CHECK_INT(m->health_timeout_ms, 3000);
		CHECK_STR(m->entry.plugin, "gpio");
		CHECK_STR(m->flasher.plugin, "dfuse"); /* the default */
		CHECK_STR(m->health.plugin, "usb");
		CHECK_INT(m->line, 5);
	}
	const struct device_config *d = config_device(&cfg, "radio");
	CHECK(d != NULL);
	if (d) {
		CHECK_INT(d->address, 0x08000000);
		CHECK(d->backup_required);
		CHECK(!d->allow_downgrade);
		CHECK_INT(d->bootloader_timeout_ms, CONFIG_DEFAULT_BOOTLOADER_TIMEOUT_MS);
		CHECK_INT(d->health_timeout_ms, CONFIG_DEFAULT_HEALTH_TIMEOUT_MS);
	}
	CHECK(config_device(&cfg, "nope") == NULL);
	config_free(&cfg);
	config_free(&cfg); /* twice is safe */
}

static void the_default_state_dir(void)
{
	char err[1024];
	char text[2048];
	snprintf(text, sizeof(text), "bundle = { ca = \"/etc/ca.pem\"; };\n%s", good_device);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	CHECK_INT(config_load(path, &cfg, err, sizeof(err)), 0);
	CHECK_STR(cfg.state_dir, CONFIG_DEFAULT_STATE_DIR);
	config_free(&cfg);
}

static void a_missing_file(void)
{
	char err[1024], p[4300];
	snprintf(p, sizeof(p), "%s/none.conf", root);
	CHECK_INT(config_load(p, &cfg, err, sizeof(err)), -ENOENT);
	CHECK_CONTAINS(err, "cannot read the configuration");
	CHECK_CONTAINS(err, "(give another with --config FILE)");
	config_free(&cfg);
}

static void a_syntax_error(void)
{
	refused(
	    "state_dir = \"/x\";\nbundle = { keys = [\"/k\"]; };\ndevices = ( { name = ; } );\n", 3,
	    "syntax error");
}

static void unknown_settings(void)
{
	char text[2048];
	snprintf(text, sizeof(text), "stat_dir = \"/x\";\nbundle = { keys = [\"/k\"]; };\n%s",
	         good_device);
	refused(text, 1,
	        "stat_dir: unknown setting in the file (known: state_dir, plugin_dir, bundle, "
	        "fetch, devices)");
	refused("bundle = {\n  keys = [\"/k\"];\n  kyes = [\"/k\"]; };\ndevices = ();\n", 3,
	        "bundle.kyes: unknown setting in bundle (known: keys, ca, ca_dir, crl, signer_cn, "
	        "max_size, max_image_size)");
	refused("bundle = { keys = [\"/k\"]; };\nfetch = { cert = \"x\"; };\ndevices = ();\n", 2,
	        "fetch.cert: unknown setting in fetch (known: ca, ca_dir, client_cert, client_key, "
	        "proxy, allow_http)");
	refused("bundle = { keys = [\"/k\"]; };\ndevices = (\n { name = \"a\";\n  adress = 1;\n"
	        "  entry = { plugin = \"gpio\"; }; health = { plugin = \"usb\"; }; });\n",
	        4,
	        "devices[0].adress: unknown setting in a device (known: name, address, backup, "
	        "allow_downgrade, bootloader_timeout_ms, health_timeout_ms, entry, flasher, "
	        "health)");
}

static void missing_settings(void)
{
	refused(good_device, 0,
	        "\"bundle\" is missing: bundle = { keys = [\"release.pem\"]; } says who may sign "
	        "firmware");
	refused("bundle = { keys = [\"/k\"]; };\n", 0,
	        "\"devices\" is missing: devices = ( { name = \"...\"; ... } );");
	refused("bundle = { keys = [\"/k\"]; };\ndevices = (\n  { entry = { plugin = \"gpio\"; "
	        "};\n    health = { plugin = \"usb\"; }; });\n",
	        3, "devices[0]: \"name\" is missing: it is required here");
	refused("bundle = { keys = [\"/k\"]; };\ndevices = (\n  { name = \"a\";\n"
	        "    health = { plugin = \"usb\"; }; });\n",
	        3, "devices[0]: \"entry\" is missing: a group { plugin = \"...\"; ... }");
	refused("bundle = { keys = [\"/k\"]; };\ndevices = (\n  { name = \"a\";\n"
	        "    entry = { chip = \"x\"; };\n    health = { plugin = \"usb\"; }; });\n",
	        4, "devices[0].entry: \"plugin\" is missing: it is required here");
	refused("bundle = { max_size = 8192; };\ndevices = ();\n", 1,
	        "bundle: no trust anchor: set keys (detached signatures) or ca / ca_dir (CMS)");
	refused("bundle = { keys = [\"/k\"]; signer_cn = \"x\"; };\ndevices = ();\n", 1,
	        "bundle: crl and signer_cn apply to CMS signatures: set ca or ca_dir too");
	refused("bundle = { keys = [\"/k\"]; };\nfetch = {\n  client_key = \"/k\"; };\n"
	        "devices = ();\n",
	        2, "fetch: client_key needs client_cert");
}

static const char dev_head[] = "bundle = { keys = [\"/k\"]; };\ndevices = (\n  { name = \"a\";\n";
static const char dev_tail[] =
    "    entry = { plugin = \"gpio\"; };\n    health = { plugin = \"usb\"; }; });\n";

/* A device with one more line (line 4) in it. */
static void refused_in_device(const char *line, const char *what)
{
	char text[2048];
	snprintf(text, sizeof(text), "%s%s\n%s", dev_head, line, dev_tail);
	refused(text, 4, what);
}

static void wrong_types_and_ranges(void)
{
	refused_in_device("address = \"0x08000000\";",
	                  "devices[0].address: expected an integer from 0 to 4294967295");
	refused_in_device("address = -1;",
	                  "devices[0].address: -1 is out of range: expected 0 to 4294967295");
	refused_in_device("backup = \"maybe\";",
	                  "devices[0].backup: \"maybe\": expected \"required\" (refuse a first "
	                  "update when the chip cannot be read back) or \"optional\"");
	refused_in_device("backup = true;",
	                  "devices[0].backup: expected a string in double quotes");
	refused_in_device("allow_downgrade = 1;",
	                  "devices[0].allow_downgrade: expected true or false");
	refused_in_device(
	    "bootloader_timeout_ms = 0;",
	    "devices[0].bootloader_timeout_ms: 0 is out of range: expected 1 to 600000");
	refused_in_device("health_timeout_ms = 600001;",
	                  "devices[0].health_timeout_ms: 600001 is out of range: expected 1 to "
	                  "600000");
	refused_in_device("health_timeout_ms = 1.5;",
	                  "devices[0].health_timeout_ms: expected an integer from 1 to 600000");
	refused_in_device("flasher = \"dfuse\";",
	                  "devices[0].flasher: expected a group { plugin = \"...\"; ... }");
	refused_in_device("flasher = { plugin = \"dfuse\"; speed = 1.5; };",
	                  "devices[0].flasher.speed: plugin settings are strings, integers or "
	                  "booleans");
	refused_in_device("flasher = { plugin = 3; };",
	                  "devices[0].flasher.plugin: expected a string in double quotes");
	refused("bundle = { keys = [\"/k\"]; };\ndevices = (\n  { name = \"a/b\";\n    entry "
	        "= { plugin = \"gpio\"; };\n    health = { plugin = \"usb\"; }; });\n",
	        3, "devices[0].name: \"a/b\": use 1 to 64 letters, digits, - and _");
	refused("bundle = { keys = \"/k\"; };\ndevices = ();\n", 1,
	        "bundle.keys: expected a list of key files [\"a.pem\", \"b.pem\"]");
	refused("bundle = { keys = [\"/k\"]; max_size = 100; };\ndevices = ();\n", 1,
	        "bundle.max_size: 100 is out of range: expected 4096 to 4294967296");
	refused("state_dir = \"\";\nbundle = { keys = [\"/k\"]; };\ndevices = ();\n", 1,
	        "state_dir: must not be empty");
	refused("bundle = { keys = [\"/k\"]; };\ndevices = { };\n", 2,
	        "devices: expected a list ( { ... }, { ... } )");
}

static void duplicate_device_names(void)
{
	refused(
	    "bundle = { keys = [\"/k\"]; };\ndevices = (\n"
	    "  { name = \"a\"; entry = { plugin = \"gpio\"; }; health = { plugin = \"usb\"; }; },\n"
	    "  { name = \"a\"; entry = { plugin = \"gpio\"; }; health = { plugin = \"usb\"; }; "
	    "});\n",
	    4, "devices[1].name: \"a\" is already the name of the device at line 3");
}

static void too_many_devices(void)
{
	char text[16384];
	int off = snprintf(text, sizeof(text), "bundle = { keys = [\"/k\"]; };\ndevices = (\n");
	for (int i = 0; i <= CONFIG_MAX_DEVICES; i++)
		off += snprintf(text + off, sizeof(text) - (size_t)off,
		                "%s{ name = \"d%d\"; entry = { plugin = \"gpio\"; }; health = { "
		                "plugin = \"usb\"; }; }\n",
		                i ? "," : "", i);
	snprintf(text + off, sizeof(text) - (size_t)off, ");\n");
	refused(text, 2, "devices: at most 32 devices");
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

/* ---- regressions found by review, each failed before its fix ---- */

/* Hex addresses from 0x80000000 up (QSPI/OCTOSPI flash at 0x90000000):
 * libconfig gives them as a negative int. */
static void regression_address_above_2g(void)
{
	char text[2048], err[1024];
	snprintf(text, sizeof(text), "%saddress = 0x90000000;\n%s", dev_head, dev_tail);
	CHECK_INT(load(text, err, sizeof(err)), 0);
}

/* Two devices whose flasher selections are the same (no serial, no port):
 * each one's update could open the other's bootloader. */
static void regression_two_devices_same_selection(void)
{
	char err[1024];
	CHECK_INT(load("bundle = { keys = [\"/k\"]; };\ndevices = (\n"
	               "  { name = \"a\"; entry = { plugin = \"gpio\"; }; health = { plugin = "
	               "\"usb\"; }; },\n"
	               "  { name = \"b\"; entry = { plugin = \"gpio\"; }; health = { plugin = "
	               "\"usb\"; }; });\n",
	               err, sizeof(err)),
	          -EINVAL);
	CHECK_CONTAINS(err, "each flasher needs serial");
	CHECK_INT(load("bundle = { keys = [\"/k\"]; };\ndevices = (\n"
	               "  { name = \"a\"; entry = { plugin = \"gpio\"; }; health = { plugin = "
	               "\"usb\"; }; flasher = { serial = \"AB\"; }; },\n"
	               "  { name = \"b\"; entry = { plugin = \"gpio\"; }; health = { plugin = "
	               "\"usb\"; }; flasher = { serial = \"ab\"; }; });\n",
	               err, sizeof(err)),
	          -EINVAL);
	CHECK_CONTAINS(err, "serial \"ab\" also selects device a");
}

/* A relative state_dir depends on the working directory (the daemon's is /). */
static void regression_relative_state_dir(void)
{
	char text[2048], err[1024];
	snprintf(text, sizeof(text), "state_dir = \"var/mcu\";\nbundle = { keys = [\"/k\"]; };\n%s",
	         good_device);
	CHECK_INT(load(text, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "is relative");
}

TEST_MAIN(TEST(setup), TEST(a_good_config_loads), TEST(the_default_state_dir), TEST(a_missing_file),
          TEST(a_syntax_error), TEST(unknown_settings), TEST(missing_settings),
          TEST(wrong_types_and_ranges), TEST(duplicate_device_names), TEST(too_many_devices),
          TEST(regression_address_above_2g), TEST(regression_two_devices_same_selection),
          TEST(regression_relative_state_dir), TEST(cleanup))
