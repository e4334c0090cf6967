/* The loader takes plugins of this ABI and kind, and refuses every other
 * with a message that says what to do. */
#include "check.h"
#include "plugin/plugin_loader.h"

#include <stdlib.h>

static void loads_a_plugin_of_this_abi(void)
{
	struct plugin p;
	char err[512] = "";
	CHECK_INT(plugin_load(FAKE_PLUGIN_DIR, "good", MCU_OTA_PLUGIN_ENTRY, &p, err, sizeof(err)),
	          0);
	CHECK(p.desc && p.desc->entry && p.desc->entry->enter);
	CHECK_STR(p.desc->name, "fake");
	plugin_unload(&p);
}

static void refuses_another_abi_version(void)
{
	struct plugin p;
	char err[512] = "";
	CHECK_INT(
	    plugin_load(FAKE_PLUGIN_DIR, "old-abi", MCU_OTA_PLUGIN_ENTRY, &p, err, sizeof(err)),
	    -EPROTO);
	CHECK_CONTAINS(err, "built for plugin ABI 999");
	CHECK_CONTAINS(err, "rebuild it");
	CHECK(p.dl == NULL);
}

static void refuses_a_plugin_without_the_entry_symbol(void)
{
	struct plugin p;
	char err[512] = "";
	CHECK_INT(
	    plugin_load(FAKE_PLUGIN_DIR, "no-symbol", MCU_OTA_PLUGIN_ENTRY, &p, err, sizeof(err)),
	    -EPROTO);
	CHECK_CONTAINS(err, MCU_OTA_PLUGIN_SYMBOL);
}

static void refuses_the_wrong_kind(void)
{
	struct plugin p;
	char err[512] = "";
	CHECK_INT(
	    plugin_load(FAKE_PLUGIN_DIR, "good", MCU_OTA_PLUGIN_FLASHER, &p, err, sizeof(err)),
	    -EPROTO);
	CHECK_CONTAINS(err, "is an entry plugin, not a flasher plugin");
}

/* A NULL operation would crash the agent when used: refused at load time. */
static void refuses_a_plugin_with_missing_operations(void)
{
	struct plugin p;
	char err[512] = "";
	CHECK_INT(
	    plugin_load(FAKE_PLUGIN_DIR, "incomplete", MCU_OTA_PLUGIN_ENTRY, &p, err, sizeof(err)),
	    -EPROTO);
	CHECK_CONTAINS(err, "lacks operations that entry plugins must have");
}

static void missing_plugin_names_the_path_and_the_fix(void)
{
	struct plugin p;
	char err[512] = "";
	CHECK_INT(
	    plugin_load(FAKE_PLUGIN_DIR, "absent", MCU_OTA_PLUGIN_ENTRY, &p, err, sizeof(err)),
	    -ENOENT);
	CHECK_CONTAINS(err, "mcu-ota-absent.so does not exist");
	/* how the directory is chosen is the caller's to say: no command-line flag here */
	CHECK(strstr(err, "--") == NULL);
	CHECK_INT(
	    plugin_load(FAKE_PLUGIN_DIR, "../etc/x", MCU_OTA_PLUGIN_ENTRY, &p, err, sizeof(err)),
	    -EINVAL);
}

/* Issue 12 (beside finding 8): a plugin runs as root inside mcu-ota, so one
 * that others may replace is refused like a key they may replace. */
static void a_plugin_others_may_write_is_refused(void)
{
	char dir[] = "/tmp/mcu-ota-plugins-XXXXXX", cmd[600], want[300];
	struct plugin p;
	char err[512] = "";
	CHECK(mkdtemp(dir) != NULL);
	snprintf(cmd, sizeof(cmd), "cp %s/mcu-ota-good.so %s/ && chmod 0757 %s/mcu-ota-good.so",
	         FAKE_PLUGIN_DIR, dir, dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(plugin_load(dir, "good", MCU_OTA_PLUGIN_ENTRY, &p, err, sizeof(err)), -EPERM);
	snprintf(want, sizeof(want),
	         "plugin %s/mcu-ota-good.so is writable by group or others (mode 0757): chmod go-w "
	         "it",
	         dir);
	CHECK_STR(err, want);
	snprintf(cmd, sizeof(cmd), "chmod 0755 %s/mcu-ota-good.so", dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(plugin_load(dir, "good", MCU_OTA_PLUGIN_ENTRY, &p, err, sizeof(err)), 0);
	plugin_unload(&p);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}

static void directory_precedence(void)
{
	unsetenv("MCU_OTA_PLUGIN_DIR");
	CHECK_STR(plugin_dir("/opt/x"), "/opt/x");
	setenv("MCU_OTA_PLUGIN_DIR", "/env/dir", 1);
	CHECK_STR(plugin_dir(NULL), "/env/dir");
	CHECK_STR(plugin_dir("/opt/x"), "/opt/x");
	unsetenv("MCU_OTA_PLUGIN_DIR");
	/* no plugins/ beside this test binary: the installed directory */
	CHECK_STR(plugin_dir(NULL), MCU_OTA_PLUGIN_DIR);
}

TEST_MAIN(TEST(loads_a_plugin_of_this_abi), TEST(refuses_another_abi_version),
          TEST(refuses_a_plugin_without_the_entry_symbol), TEST(refuses_the_wrong_kind),
          TEST(refuses_a_plugin_with_missing_operations),
          TEST(missing_plugin_names_the_path_and_the_fix), TEST(directory_precedence),
          TEST(a_plugin_others_may_write_is_refused))
