/* Plugin sections of the configuration against the plugins they name: a
 * setting the plugin does not declare is refused with the file, the line, the
 * setting's path, the known names and a suggestion; a plugin that declares no
 * list is not checked; a plugin that does not load is named at its "plugin"
 * setting. The built-in plugins' lists accept the example configuration and
 * every example of their READMEs, and equal the settings the READMEs list. */
#include "check.h"
#include "plugin/config_plugins.h"

#include <unistd.h>

static char path[] = "/tmp/mcu-ota-config-plugins-XXXXXX";
static struct config cfg;

static const char head[] = "bundle = { keys = [\"/k\"]; };\n" /* line 1 */
                           "devices = (\n"                    /* 2 */
                           "  { name = \"a\";\n";             /* 3 */
static const char entry_gpio[] = "    entry = { plugin = \"gpio\"; chip = \"gpiochip0\"; };\n";
static const char health_usb[] = "    health = { plugin = \"usb\"; vid = 1; pid = 2; };\n";
static const char tail[] = "  } );\n";

static bool write_file(const char *text)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return false;
	fputs(text, f);
	fclose(f);
	return true;
}

/* Loads head + body + tail and checks its plugins from dir; err gets why. */
static int check_in(const char *dir, const char *body, char *err, size_t errlen)
{
	char text[4096];
	snprintf(text, sizeof(text), "%s%s%s", head, body, tail);
	err[0] = '\0';
	if (!write_file(text))
		return -EIO;
	int r = config_load(path, &cfg, err, errlen);
	CHECK_INT(r, 0);
	if (r < 0) {
		fprintf(stderr, "config_load: %s\n", err);
		return r;
	}
	r = config_check_plugins(&cfg, dir, err, errlen);
	config_free(&cfg);
	return r;
}

static int check(const char *body, char *err, size_t errlen)
{
	return check_in(BUILD_PLUGIN_DIR, body, err, errlen);
}

/* body must be refused with -EINVAL and exactly "<file>:<line>: <what>". */
static void refused(const char *body, int line, const char *what)
{
	char err[1024], expect[2048];
	CHECK_INT(check(body, err, sizeof(err)), -EINVAL);
	snprintf(expect, sizeof(expect), "%s:%d: %s", path, line, what);
	CHECK_STR(err, expect);
}

static void a_typo_is_refused_with_file_line_setting_and_suggestion(void)
{
	char body[1024];
	snprintf(body, sizeof(body),
	         "%s"                                    /* 4 */
	         "    flasher = { plugin = \"dfuse\";\n" /* 5 */
	         "      seral = \"3574364C3034\"; };\n"  /* 6 */
	         "%s",
	         entry_gpio, health_usb);
	refused(body, 6,
	        "devices[0].flasher.seral: the dfuse plugin has no setting \"seral\"; it knows: "
	        "serial, port, vid, pid, family; did you mean \"serial\"?");
}

static void suggestions_cover_swaps_case_and_a_unit_left_off(void)
{
	char body[1024];
	snprintf(body, sizeof(body), "%s    health = { plugin = \"usb\"; vid = 1; pdi = 2; };\n",
	         entry_gpio);
	refused(body, 5,
	        "devices[0].health.pdi: the usb plugin has no setting \"pdi\"; it knows: vid, pid, "
	        "serial, port; did you mean \"pid\"?");
	snprintf(body, sizeof(body), "%s    health = { plugin = \"usb\"; Serial = \"x\"; };\n",
	         entry_gpio);
	refused(
	    body, 5,
	    "devices[0].health.Serial: the usb plugin has no setting \"Serial\"; it knows: vid, "
	    "pid, serial, port; did you mean \"serial\"?");
	snprintf(body, sizeof(body),
	         "    entry = { plugin = \"gpio\"; chip = \"gpiochip0\"; boot_hold = 500; };\n%s",
	         health_usb);
	refused(body, 4,
	        "devices[0].entry.boot_hold: the gpio plugin has no setting \"boot_hold\"; it "
	        "knows: chip, uapi, boot0, nrst, boot0_active_low, nrst_active_low, "
	        "nrst_open_drain, reset_pulse_ms, boot_hold_ms; did you mean \"boot_hold_ms\"?");
}

static void nothing_close_no_suggestion(void)
{
	char body[1024];
	snprintf(body, sizeof(body), "%s    health = { plugin = \"usb\"; colour = \"red\"; };\n",
	         entry_gpio);
	refused(
	    body, 5,
	    "devices[0].health.colour: the usb plugin has no setting \"colour\"; it knows: vid, "
	    "pid, serial, port");
	/* two letters: anything two edits away would be a guess */
	snprintf(body, sizeof(body), "%s    health = { plugin = \"usb\"; xy = 1; };\n", entry_gpio);
	refused(body, 5,
	        "devices[0].health.xy: the usb plugin has no setting \"xy\"; it knows: vid, pid, "
	        "serial, port");
}

/* flasher = { serial = ...; } without "plugin" is the default dfuse's section. */
static void the_default_flasher_is_checked_too(void)
{
	char body[1024];
	snprintf(body, sizeof(body), "%s    flasher = { serail = \"x\"; };\n%s", entry_gpio,
	         health_usb);
	refused(body, 5,
	        "devices[0].flasher.serail: the dfuse plugin has no setting \"serail\"; it knows: "
	        "serial, port, vid, pid, family; did you mean \"serial\"?");
	char err[1024];
	snprintf(body, sizeof(body), "%s    flasher = { port = \"1-1.2\"; };\n%s", entry_gpio,
	         health_usb);
	CHECK_INT(check(body, err, sizeof(err)), 0);
	CHECK_STR(err, "");
}

static void a_plugin_that_does_not_load_is_named_at_its_setting(void)
{
	char body[1024], what[2048];
	snprintf(body, sizeof(body), "    entry = { plugin = \"gpoi\"; chip = \"x\"; };\n%s",
	         health_usb);
	snprintf(what, sizeof(what),
	         "devices[0].entry.plugin: no entry plugin \"gpoi\": %s/mcu-ota-gpoi.so does not "
	         "exist; did you mean \"gpio\"?",
	         BUILD_PLUGIN_DIR);
	refused(body, 4, what);

	snprintf(body, sizeof(body), "    entry = { plugin = \"dfuse\"; };\n%s", health_usb);
	snprintf(what, sizeof(what),
	         "devices[0].entry.plugin: plugin %s/mcu-ota-dfuse.so is a flasher plugin, not an "
	         "entry plugin",
	         BUILD_PLUGIN_DIR);
	refused(body, 4, what);

	/* no close name: no suggestion */
	char err[1024];
	snprintf(body, sizeof(body), "%s    health = { plugin = \"heartbeat\"; };\n", entry_gpio);
	CHECK_INT(check(body, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, ":5: devices[0].health.plugin: no health plugin \"heartbeat\": ");
	CHECK(strstr(err, "did you mean") == NULL);
	/* ... and the directory the caller gave is the caller's to name */
	CHECK(strstr(err, "plugin directory") == NULL);
	/* ... or, from the default search, how to change it: settings, not command-line flags */
	CHECK_INT(check_in(NULL, body, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, ".so does not exist (set the plugin directory with the "
	                    "plugin_dir setting or MCU_OTA_PLUGIN_DIR)");
	CHECK(strstr(err, "--") == NULL);
}

/* The fakes: "declared" lists chip and line, "good" no list, "old-table"
 * a list beyond the size its table declares (built before the list). */
static int check_fake(const char *name, const char *settings, char *err, size_t errlen)
{
	char text[2048];
	snprintf(text, sizeof(text), "%s    entry = { plugin = \"%s\";\n      %s };\n%s%s", head,
	         name, settings, health_usb, tail);
	err[0] = '\0';
	if (!write_file(text))
		return -EIO;
	int r = config_load(path, &cfg, err, errlen);
	CHECK_INT(r, 0);
	if (r < 0)
		return r;
	struct plugin p;
	r = plugin_load(FAKE_PLUGIN_DIR, name, MCU_OTA_PLUGIN_ENTRY, &p, err, errlen);
	CHECK_INT(r, 0);
	if (r == 0) {
		r = config_check_plugin(&cfg, &cfg.devices[0].entry, &p, err, errlen);
		plugin_unload(&p);
	}
	config_free(&cfg);
	return r;
}

static void only_a_plugin_that_declares_its_settings_is_checked(void)
{
	char err[1024], expect[2048];
	CHECK_INT(check_fake("declared", "chip = \"x\"; line = 3;", err, sizeof(err)), 0);
	CHECK_INT(check_fake("declared", "chip = \"x\"; lnie = 3;", err, sizeof(err)), -EINVAL);
	snprintf(expect, sizeof(expect),
	         "%s:5: devices[0].entry.lnie: the declared plugin has no setting \"lnie\"; it "
	         "knows: chip, line; did you mean \"line\"?",
	         path);
	CHECK_STR(err, expect);
	CHECK_INT(check_fake("good", "chip = \"x\"; lnie = 3;", err, sizeof(err)), 0);
	CHECK_INT(check_fake("old-table", "chip = \"x\"; lnie = 3;", err, sizeof(err)), 0);
}

static void plugin_settings_reads_only_what_the_table_covers(void)
{
	static const char *const names[] = {"declared", "good", "old-table"};
	for (size_t i = 0; i < 3; i++) {
		struct plugin p;
		char err[512];
		CHECK_INT(plugin_load(FAKE_PLUGIN_DIR, names[i], MCU_OTA_PLUGIN_ENTRY, &p, err,
		                      sizeof(err)),
		          0);
		const char *const *s = plugin_settings(&p);
		if (i == 0) {
			CHECK(s && s[0] && !strcmp(s[0], "chip") && s[1] && !strcmp(s[1], "line") &&
			      !s[2]);
		} else {
			CHECK(s == NULL);
		}
		plugin_unload(&p);
	}
	CHECK(plugin_settings(&(struct plugin){0}) == NULL);
}

static void the_example_configuration_passes(void)
{
	char err[1024] = "", example[4200];
	snprintf(example, sizeof(example), "%s/conf/mcu-ota.conf", SOURCE_DIR);
	int r = config_load(example, &cfg, err, sizeof(err));
	CHECK_INT(r, 0);
	if (r == 0) {
		r = config_check_plugins(&cfg, BUILD_PLUGIN_DIR, err, sizeof(err));
		CHECK_INT(r, 0);
		CHECK_STR(err, "");
	}
	if (r < 0)
		fprintf(stderr, "%s\n", err);
	config_free(&cfg);
}

/* ---- the READMEs ---- */

/* Each folder of plugins/ with a README, and the plugins built from it. */
static const struct {
	const char *folder;
	const char *plugins[2];
	enum mcu_ota_plugin_kind kinds[2];
} folders[] = {
    {"dfuse", {"dfuse"}, {MCU_OTA_PLUGIN_FLASHER}},
    {"gpio", {"gpio", "gpio-ready"}, {MCU_OTA_PLUGIN_ENTRY, MCU_OTA_PLUGIN_HEALTH}},
    {"health-usb", {"usb", "usb-version"}, {MCU_OTA_PLUGIN_HEALTH, MCU_OTA_PLUGIN_HEALTH}},
    {"usb-vendor", {"usb-vendor"}, {MCU_OTA_PLUGIN_ENTRY}},
    {"dfu-detach", {"dfu-detach"}, {MCU_OTA_PLUGIN_ENTRY}},
    {"serial", {"serial", "serial-query"}, {MCU_OTA_PLUGIN_ENTRY, MCU_OTA_PLUGIN_HEALTH}},
};

static char *read_readme(const char *folder)
{
	char file[4200];
	snprintf(file, sizeof(file), "%s/plugins/%s/README.md", SOURCE_DIR, folder);
	FILE *f = fopen(file, "r");
	CHECK(f != NULL);
	if (!f) {
		fprintf(stderr, "cannot read %s\n", file);
		return NULL;
	}
	static char text[65536];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

/* Every `entry = {...};`, `flasher = ...` or `health = ...` statement of the
 * README's code blocks, in a device completed with the other required
 * section, passes config_load and the plugins' check. */
static void every_readme_example_is_accepted(void)
{
	unsigned examples = 0;
	for (size_t i = 0; i < sizeof(folders) / sizeof(folders[0]); i++) {
		char *text = read_readme(folders[i].folder);
		bool in_code = false;
		char stmt[1024] = "";
		for (char *line = text ? strtok(text, "\n") : NULL; line;
		     line = strtok(NULL, "\n")) {
			if (!strncmp(line, "```", 3)) {
				in_code = !in_code;
				continue;
			}
			const char *s = line;
			while (*s == ' ')
				s++;
			if (!in_code || (!stmt[0] && strncmp(s, "entry =", 7) &&
			                 strncmp(s, "flasher =", 9) && strncmp(s, "health =", 8)))
				continue;
			snprintf(stmt + strlen(stmt), sizeof(stmt) - strlen(stmt), "    %s\n", s);
			if (!strstr(line, "};"))
				continue;
			char body[2048], err[1024];
			snprintf(body, sizeof(body), "%s%s",
			         strstr(stmt, "entry =") ? "" : entry_gpio, stmt);
			if (!strstr(stmt, "health ="))
				snprintf(body + strlen(body), sizeof(body) - strlen(body), "%s",
				         health_usb);
			int r = check(body, err, sizeof(err));
			CHECK_INT(r, 0);
			if (r < 0)
				fprintf(stderr, "plugins/%s/README.md: %s\n  %s\n",
				        folders[i].folder, stmt, err);
			examples++;
			stmt[0] = '\0';
		}
	}
	CHECK(examples >= 8); /* as many as the READMEs hold today */
}

struct names {
	char name[48][48];
	size_t count;
};

static void add_name(struct names *n, const char *name, size_t len)
{
	for (size_t i = 0; i < n->count; i++)
		if (strlen(n->name[i]) == len && !strncmp(n->name[i], name, len))
			return;
	CHECK(n->count < 48 && len < 48);
	if (n->count < 48 && len < 48)
		snprintf(n->name[n->count++], sizeof(n->name[0]), "%.*s", (int)len, name);
}

static bool has_name(const struct names *n, const char *name)
{
	for (size_t i = 0; i < n->count; i++)
		if (!strcmp(n->name[i], name))
			return true;
	return false;
}

/* The names in the first column of every "| setting | ..." table. */
static void documented(char *text, struct names *out)
{
	bool in_table = false;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, "| setting |", 11)) {
			in_table = true;
			continue;
		}
		if (line[0] != '|') {
			in_table = false;
			continue;
		}
		if (!in_table || !strncmp(line, "| ---", 5))
			continue;
		char *end = strchr(line + 1, '|');
		for (char *p = line + 1; end && p < end; p++) {
			if (*p != '`')
				continue;
			char *q = strchr(p + 1, '`');
			if (!q || q > end)
				break;
			add_name(out, p + 1, (size_t)(q - p - 1));
			p = q;
		}
	}
}

/* What the READMEs' settings tables list is what the folder's plugins
 * declare: a documented setting is never refused, a declared one never
 * undocumented. */
static void readme_tables_list_exactly_the_declared_settings(void)
{
	for (size_t i = 0; i < sizeof(folders) / sizeof(folders[0]); i++) {
		struct names docs = {0}, decl = {0};
		char *text = read_readme(folders[i].folder);
		if (!text)
			continue;
		documented(text, &docs);
		for (size_t k = 0; k < 2 && folders[i].plugins[k]; k++) {
			struct plugin p;
			char err[512];
			int r = plugin_load(BUILD_PLUGIN_DIR, folders[i].plugins[k],
			                    folders[i].kinds[k], &p, err, sizeof(err));
			CHECK_INT(r, 0);
			if (r < 0) {
				fprintf(stderr, "%s\n", err);
				continue;
			}
			const char *const *s = plugin_settings(&p);
			CHECK(s != NULL);
			for (; s && *s; s++)
				add_name(&decl, *s, strlen(*s));
			plugin_unload(&p);
		}
		CHECK(docs.count > 0);
		for (size_t k = 0; k < docs.count; k++)
			if (!has_name(&decl, docs.name[k])) {
				fprintf(stderr,
				        "plugins/%s/README.md: %s is documented, not declared\n",
				        folders[i].folder, docs.name[k]);
				CHECK(!"documented setting not declared");
			}
		for (size_t k = 0; k < decl.count; k++)
			if (!has_name(&docs, decl.name[k])) {
				fprintf(stderr,
				        "plugins/%s: %s is declared, not in its README's tables\n",
				        folders[i].folder, decl.name[k]);
				CHECK(!"declared setting not documented");
			}
	}
}

static void teardown(void)
{
	unlink(path);
}

static void setup(void)
{
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd >= 0) {
		close(fd);
		atexit(teardown);
	}
}

TEST_MAIN_WITH(setup, NULL, TEST(a_typo_is_refused_with_file_line_setting_and_suggestion),
               TEST(suggestions_cover_swaps_case_and_a_unit_left_off),
               TEST(nothing_close_no_suggestion), TEST(the_default_flasher_is_checked_too),
               TEST(a_plugin_that_does_not_load_is_named_at_its_setting),
               TEST(only_a_plugin_that_declares_its_settings_is_checked),
               TEST(plugin_settings_reads_only_what_the_table_covers),
               TEST(the_example_configuration_passes), TEST(every_readme_example_is_accepted),
               TEST(readme_tables_list_exactly_the_declared_settings))
