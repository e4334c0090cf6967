/* The configuration file, read by config_load from a file in the harness's
 * scratch folder (beside it a part.conf for relative @include). Checked for
 * every configuration that loads: absolute state and cache folders, at most
 * 32 devices with distinct valid names that config_device finds, timeouts
 * and the poll interval within their bounds, the trust keys counted right.
 * A failure says "FILE:LINE: ..." about this file or the included one and
 * leaves the struct empty (libconfig's scanner must never exit the process:
 * an @include of a folder did, corpus/config/crash-include-directory). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "fuzz.h"

static char conf[512];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	static const char part[] = "devices = ( { name = \"inc\"; entry = { plugin = \"gpio\"; };\n"
	                           "  health = { plugin = \"usb-version\"; }; } );\n";
	char path[512];
	snprintf(conf, sizeof(conf), "%s/mcu-ota.conf", fuzz_scratch_dir());
	snprintf(path, sizeof(path), "%s/part.conf", fuzz_scratch_dir());
	fuzz_write_file(path, part, sizeof(part) - 1);
	return 0;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_write_file(conf, data, size);
	struct config c;
	char err[2048] = "";
	int r = config_load(conf, &c, err, sizeof(err));
	if (getenv("FUZZ_VERBOSE")) /* what a seed reaches: FUZZ_VERBOSE=1 fuzz_config FILE */
		fprintf(stderr, "config_load: %d %s\n", r, r ? err : "ok");
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL || r == -ENOMEM);
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(strncmp(err, conf, strlen(conf)) == 0 ||
		           strstr(err, "part.conf") != NULL);
		FUZZ_CHECK(c.device_count == 0 && c.state_dir == NULL);
		config_free(&c);
		return 0;
	}
	FUZZ_CHECK(c.state_dir && c.state_dir[0] == '/');
	FUZZ_CHECK(c.cache_dir && c.cache_dir[0] == '/');
	FUZZ_CHECK(!c.plugin_dir || c.plugin_dir[0] == '/');
	FUZZ_CHECK(c.log_level >= -1 && c.log_level <= 3);
	FUZZ_CHECK(c.daemon.socket && c.daemon.socket[0]);
	FUZZ_CHECK(c.daemon.poll_interval_s == 0 ||
	           (c.daemon.poll_interval_s >= CONFIG_MIN_POLL_INTERVAL_S &&
	            c.daemon.poll_interval_s <= CONFIG_MAX_POLL_INTERVAL_S));
	FUZZ_CHECK(c.trust.key_count <= CONFIG_MAX_KEYS);
	for (size_t i = 0; i < c.trust.key_count; i++)
		FUZZ_CHECK(c.trust.key_files[i] && c.trust.key_files[i][0]);
	FUZZ_CHECK(c.device_count <= CONFIG_MAX_DEVICES);
	for (size_t i = 0; i < c.device_count; i++) {
		const struct device_config *d = &c.devices[i];
		FUZZ_CHECK(d->name && name_ok(d->name));
		FUZZ_CHECK(config_device(&c, d->name) == d);
		FUZZ_CHECK(d->bootloader_timeout_ms <= CONFIG_MAX_TIMEOUT_MS);
		FUZZ_CHECK(d->health_timeout_ms <= CONFIG_MAX_TIMEOUT_MS);
		FUZZ_CHECK(d->flasher.plugin && d->flasher.plugin[0]);
	}
	config_free(&c);
	return 0;
}
