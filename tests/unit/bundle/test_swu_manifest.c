/* sw-description parsing: what mcu-ota reads, and every refusal naming the
 * line and the setting. */
#include "check.h"

#include "bundle/swu.h"
#include "bundle/swu_private.h"

#define SHA "b4474468bdf4569dbb24c04d7f1e681f8d285db2bdc0a373a73cfa30745337f0"

static int parse(const char *text, struct swu_manifest *m, char *err)
{
	return swu_manifest_parse(text, strlen(text), NULL, m, err, 256);
}

/* An image entry with the mandatory settings plus extra. */
#define IMAGE(extra)                                                                               \
	"    {\n      filename = \"fw.bin\";\n      type = \"mcu-ota\";\n      device = "          \
	"\"motor\";\n"                                                                             \
	"      sha256 = \"" SHA "\";\n" extra "    }\n"
#define SOFTWARE(extra_sw, images)                                                                 \
	"software =\n{\n  version = \"1.2.0\";\n" extra_sw "  images: (\n" images "  );\n};\n"

static void test_everything_mcu_ota_reads(void)
{
	struct swu_manifest m;
	char err[256] = "";
	const char *text = "/* a comment */\n"
	                   "software = {\n"
	                   "  version = \"3.1.0\";\n"
	                   "  description = \"motor and radio\";\n"
	                   "  hardware-compatibility = [ \"1.0\", \"rev-B\" ];\n"
	                   "  images: (\n"
	                   "    {\n"
	                   "      filename = \"motor.hex\";\n"
	                   "      type = \"mcu-ota\";\n"
	                   "      device = \"motor\";\n"
	                   "      version = \"3.1.0-rc.2\";\n"
	                   "      sha256 = \"" SHA "\";\n"
	                   "      size = 4096;\n"
	                   "      install-if-different = true;\n"
	                   "      install-if-higher = TRUE;\n"
	                   "      properties = { address = \"0x08004000\"; format = \"hex\"; };\n"
	                   "    },\n"
	                   "    {\n"
	                   "      filename = \"radio.bin\";\n"
	                   "      type = \"mcu-ota\";\n"
	                   "      device = \"radio_2\";\n"
	                   "      sha256 = \"" SHA "\";\n"
	                   "      size = \"0x10\";\n"
	                   "      properties = { address = 134250496; };\n"
	                   "    }\n"
	                   "  );\n"
	                   "}\n";

	CHECK_INT(parse(text, &m, err), 0);
	CHECK_STR(err, "");
	CHECK_STR(m.version, "3.1.0");
	CHECK_STR(m.description, "motor and radio");
	CHECK_INT(m.hardware_compatibility_count, 2);
	CHECK_STR(m.hardware_compatibility[1], "rev-B");
	CHECK_INT(m.image_count, 2);
	CHECK_STR(m.images[0].filename, "motor.hex");
	CHECK_STR(m.images[0].device, "motor");
	CHECK_STR(m.images[0].version, "3.1.0-rc.2");
	CHECK_STR(m.images[0].sha256_hex, SHA);
	CHECK_INT(m.images[0].sha256[0], 0xb4);
	CHECK_INT(m.images[0].size, 4096);
	CHECK(m.images[0].has_size);
	CHECK(m.images[0].install_if_different);
	CHECK(m.images[0].install_if_higher);
	CHECK_INT(m.images[0].address, 0x08004000);
	CHECK(m.images[0].has_address);
	CHECK_INT(m.images[0].format, IMAGE_FORMAT_HEX);
	CHECK_INT(m.images[0].line, 7);
	CHECK_STR(m.images[1].device, "radio_2");
	CHECK(m.images[1].version == NULL);
	CHECK_INT(m.images[1].size, 16);
	CHECK_INT(m.images[1].address, 0x08008000);
	CHECK_INT(m.images[1].format, IMAGE_FORMAT_AUTO);
	CHECK(!m.images[1].install_if_different);
	CHECK(swu_manifest_find(&m, "radio.bin") == &m.images[1]);
	CHECK(swu_manifest_find(&m, "nope") == NULL);
	CHECK_INT(m.description_size, strlen(text));
	swu_manifest_clear(&m);
	swu_manifest_clear(&m); /* twice is harmless */
}

static void test_defaults(void)
{
	struct swu_manifest m;
	char err[256] = "";
	CHECK_INT(parse(SOFTWARE("", IMAGE("")), &m, err), 0);
	CHECK(m.description == NULL);
	CHECK_INT(m.hardware_compatibility_count, 0);
	CHECK_INT(m.images[0].address, IMAGE_DEFAULT_ADDRESS);
	CHECK(!m.images[0].has_address);
	CHECK(!m.images[0].has_size);
	swu_manifest_clear(&m);
}

struct refusal {
	const char *text;
	int code;
	const char *message;
};

static void test_refusals_name_line_and_setting(void)
{
	static const struct refusal cases[] = {
	    {SOFTWARE("  scripts: ( { filename = \"x\"; } );\n", IMAGE("")), -ENOTSUP,
	     "line 4: software.scripts: mcu-ota does not support scripts"},
	    {SOFTWARE("  partitions: ( );\n", IMAGE("")), -ENOTSUP,
	     "software.partitions: mcu-ota does not support partitions"},
	    {SOFTWARE("  uboot: ( );\n", IMAGE("")), -ENOTSUP,
	     "mcu-ota does not support bootloader environment"},
	    {SOFTWARE("  stable = { main = { images: ( ); }; };\n", IMAGE("")), -ENOTSUP,
	     "line 4: software.stable: mcu-ota does not support board and software-set selections"},
	    {SOFTWARE("  reboot = false;\n", IMAGE("")), -ENOTSUP,
	     "software.reboot: mcu-ota does not support reboot control"},
	    {SOFTWARE("  colour = 1;\n", IMAGE("")), -ENOTSUP,
	     "software.colour: mcu-ota does not support this setting"},
	    {SOFTWARE("", IMAGE("      encrypted = true;\n")), -ENOTSUP,
	     "line 10: software.images[0].encrypted: mcu-ota does not support encrypted images"},
	    {SOFTWARE("", IMAGE("      ivt = \"00\";\n")), -ENOTSUP, "encrypted images"},
	    {SOFTWARE("", IMAGE("      compressed = false;\n")), -ENOTSUP, "compressed images"},
	    {SOFTWARE("", IMAGE("      installed-directly = true;\n")), -ENOTSUP,
	     "installed-directly"},
	    {SOFTWARE("", IMAGE("      ref = \"#./x\";\n")), -ENOTSUP, "links (ref)"},
	    {SOFTWARE("", IMAGE("      name = \"x\";\n")), -ENOTSUP, "image names"},
	    {SOFTWARE("", IMAGE("      offset = \"16K\";\n")), -ENOTSUP, "properties.address"},
	    {SOFTWARE("", IMAGE("      properties = { erase = \"all\"; };\n")), -ENOTSUP,
	     "software.images[0].properties.erase: mcu-ota does not support this property"},
	    {"other = 1;\n" SOFTWARE("", IMAGE("")), -ENOTSUP,
	     "line 1: other: mcu-ota does not support top-level settings"},
	    {"software = {\n  version = \"1\";\n  @include \"/etc/passwd\"\n};\n", -ENOTSUP,
	     "line 3: directives (@include) are not supported"},
	    {SOFTWARE("  broken = \"x\" y;\n", IMAGE("")), -EBADMSG,
	     "sw-description line 4: syntax error"},
	    {"software = { images: ( ); };\n", -EBADMSG, "software.images: no image listed"},
	    {"software = { version = \"1\"; };\n", -EBADMSG, "software has no images"},
	    {"software = { images: (" IMAGE("") "); };\n", -EBADMSG, "software has no version"},
	    /* issue 12, finding 12: it is the version of images without their own */
	    {"software = { version = \"v2\"; images: (" IMAGE("") "); };\n", -EBADMSG,
	     "sw-description line 1: software.version: \"v2\" is not a version (dotted numbers, "
	     "optional -suffix, e.g. \"2.1.0\")"},
	    {"hello = 1;\n", -ENOTSUP, "top-level"},
	    {"", -EBADMSG, "no \"software = { ... }\" group"},
	    {"software = \"x\";\n", -EBADMSG, "no \"software = { ... }\" group"},
	    {SOFTWARE("", "    { filename = \"a\"; type = \"mcu-ota\"; device = \"d\"; }\n"),
	     -EBADMSG, "line 5: image \"a\" has no sha256"},
	    {SOFTWARE("", "    { filename = \"a\"; device = \"d\"; sha256 = \"" SHA "\"; }\n"),
	     -EBADMSG, "image \"a\" has no type"},
	    {SOFTWARE("", "    { filename = \"a\"; type = \"mcu-ota\"; sha256 = \"" SHA "\"; }\n"),
	     -EBADMSG, "image \"a\" has no device"},
	    {SOFTWARE("", "    { type = \"mcu-ota\"; device = \"d\"; sha256 = \"" SHA "\"; }\n"),
	     -EBADMSG, "image without filename"},
	    {SOFTWARE("", IMAGE("      type = \"raw\";\n")), -EBADMSG, "duplicate setting name"},
	    {SOFTWARE("", "    { filename = \"a\"; type = \"rawfile\"; device = \"d\"; }\n"),
	     -ENOTSUP, "image type \"rawfile\" is not supported by mcu-ota"},
	    {SOFTWARE("", "    { filename = \"../a\"; type = \"mcu-ota\"; }\n"), -EBADMSG,
	     "\"../a\" is not a plain file name"},
	    {SOFTWARE("", "    { filename = \"a/b\"; }\n"), -EBADMSG, "not a plain file name"},
	    {SOFTWARE("", "    { filename = \"sw-description\"; }\n"), -EBADMSG,
	     "not a plain file name"},
	    {SOFTWARE("", "    { filename = \"TRAILER!!!\"; }\n"), -EBADMSG,
	     "not a plain file name"},
	    {SOFTWARE("", "    { filename = \"a b\"; }\n"), -EBADMSG, "not a plain file name"},
	    {SOFTWARE("", "    { filename = 3; }\n"), -EBADMSG, "filename: must be a string"},
	    {SOFTWARE("", "    { filename = \"a\"; type = \"mcu-ota\"; device = \"../etc\"; }\n"),
	     -EBADMSG, "\"../etc\" is not a device name"},
	    {SOFTWARE("", "    { filename = \"a\"; sha256 = \"abc\"; }\n"), -EBADMSG,
	     "sha256: must be 64 hex digits"},
	    {SOFTWARE("", IMAGE("      version = \"latest\";\n")), -EBADMSG,
	     "\"latest\" is not a version"},
	    {SOFTWARE("", IMAGE("      install-if-higher = true;\n")), -EBADMSG,
	     "install-if-different/-higher need a version"},
	    {SOFTWARE("", IMAGE("      install-if-higher = 1;\n")), -EBADMSG,
	     "install-if-higher: must be true or false"},
	    {SOFTWARE("", IMAGE("      size = -1;\n")), -EBADMSG, "size: must not be negative"},
	    {SOFTWARE("", IMAGE("      size = \"12abc\";\n")), -EBADMSG,
	     "size: \"12abc\" is not a number"},
	    {SOFTWARE("", IMAGE("      size = 100000000000L;\n")), -EFBIG,
	     "image size 100000000000 is larger than the limit of 67108864 bytes"},
	    {SOFTWARE("", IMAGE("      properties = { address = \"0x100000000\"; };\n")), -EBADMSG,
	     "address: 4294967296 is larger than 4294967295"},
	    {SOFTWARE("", IMAGE("      properties = { format = \"srec\"; };\n")), -EBADMSG,
	     "format: must be \"bin\""},
	    {SOFTWARE("", IMAGE("      properties = ( );\n")), -EBADMSG,
	     "properties: must be a group"},
	    {SOFTWARE("", IMAGE("") "    ,\n" IMAGE("")), -EBADMSG,
	     "line 12: device \"motor\" already has an image (line 5)"},
	    {SOFTWARE("  hardware-compatibility = \"1.0\";\n", IMAGE("")), -EBADMSG,
	     "hardware-compatibility: must be an array"},
	    {SOFTWARE("  description = \"a\\nb\";\n", IMAGE("")), -EBADMSG,
	     "description: contains control characters"},
	    {"software = { version = \"1\"; images: ( 1 ); };\n", -EBADMSG,
	     "an image must be a group"},
	    {"software = { version = \"1\"; images = [ 1 ]; };\n", -EBADMSG,
	     "software.images: must be a list"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct swu_manifest m;
		char err[256] = "";
		int r = parse(cases[i].text, &m, err);
		if (r != cases[i].code || !strstr(err, cases[i].message))
			fprintf(stderr, "case %zu: %d \"%s\"\n", i, r, err);
		CHECK_INT(r, cases[i].code);
		CHECK_CONTAINS(err, cases[i].message);
		CHECK(m.images == NULL && m.version == NULL); /* left empty */
	}
}

static void test_one_file_for_several_devices(void)
{
	struct swu_manifest m;
	char err[256] = "";
	const char *other = "    {\n      filename = \"fw.bin\";\n      type = \"mcu-ota\";\n"
	                    "      device = \"motor2\";\n      sha256 = \"" SHA "\";\n    }\n";
	const char *mismatch = "    {\n      filename = \"fw.bin\";\n      type = \"mcu-ota\";\n"
	                       "      device = \"motor2\";\n      sha256 = \"" SHA "\";\n"
	                       "      size = 5;\n    }\n";
	char text[2048];

	snprintf(text, sizeof(text), SOFTWARE("", "%s,\n%s"), IMAGE(""), other);
	CHECK_INT(parse(text, &m, err), 0);
	CHECK_INT(m.image_count, 2);
	swu_manifest_clear(&m);

	snprintf(text, sizeof(text), SOFTWARE("", "%s,\n%s"), IMAGE("      size = 4;\n"), mismatch);
	CHECK_INT(parse(text, &m, err), -EBADMSG);
	CHECK_CONTAINS(err, "\"fw.bin\" is listed at line 5 with another sha256 or size");
}

static void test_limits(void)
{
	struct swu_manifest m;
	char err[256] = "";
	struct swu_limits l = {.max_images = 1, .max_description = 4096};
	char text[2048];

	snprintf(text, sizeof(text), SOFTWARE("", "%s,\n%s"), IMAGE(""), IMAGE(""));
	CHECK_INT(swu_manifest_parse(text, strlen(text), &l, &m, err, sizeof(err)), -EFBIG);
	CHECK_CONTAINS(err, "2 images, more than the limit of 1");
	l.max_description = 10;
	CHECK_INT(swu_manifest_parse(text, strlen(text), &l, &m, err, sizeof(err)), -EFBIG);
	CHECK_CONTAINS(err, "more than the limit of 10");
	CHECK_INT(swu_manifest_parse("software\0= {};", 14, NULL, &m, err, sizeof(err)), -EBADMSG);
	CHECK_CONTAINS(err, "NUL byte");
}

/* libconfig 1.5 keeps the low 32 bits of an integer without the L suffix:
 * what is installed must be what was signed, so such numbers are refused
 * with the way to write them, and 64-bit ones (L) are read whole. */
static void test_integers_wider_than_libconfig_ints_are_refused(void)
{
	static const struct refusal cases[] = {
	    {SOFTWARE("", IMAGE("      properties = { address = 0x108000000; };\n")), -EBADMSG,
	     "sw-description line 10: 0x108000000 does not fit in a libconfig integer"},
	    {SOFTWARE("", IMAGE("      properties = { address = 0x90000000; };\n")), -EBADMSG,
	     "write 0x90000000L or \"0x90000000\""},
	    {SOFTWARE("", IMAGE("      size = 4294967396;\n")), -EBADMSG,
	     "line 10: 4294967396 does not fit"},
	    {SOFTWARE("", IMAGE("      size = 2147483648;\n")), -EBADMSG,
	     "2147483648 does not fit"},
	    {SOFTWARE("", IMAGE("      size = -2147483649;\n")), -EBADMSG,
	     "2147483649 does not fit"},
	    {SOFTWARE("", IMAGE("      size = 99999999999999999999L;\n")), -EBADMSG,
	     "99999999999999999999L does not fit in 64 bits"},
	    {SOFTWARE("", IMAGE("      size = 0x1FFFFFFFFFFFFFFFFL;\n")), -EBADMSG,
	     "does not fit in 64 bits"},
	    {SOFTWARE("", IMAGE("      properties = { address = 0x108000000L; };\n")), -EBADMSG,
	     "address: 4429185024 is larger than 4294967295"},
	};
	struct swu_manifest m;
	char err[256] = "";

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		int r = parse(cases[i].text, &m, err);
		if (r != cases[i].code || !strstr(err, cases[i].message))
			fprintf(stderr, "case %zu: %d \"%s\"\n", i, r, err);
		CHECK_INT(r, cases[i].code);
		CHECK_CONTAINS(err, cases[i].message);
		CHECK(m.images == NULL);
	}

	/* with the L suffix, or in a string, a 32-bit address is read whole */
	CHECK_INT(
	    parse(SOFTWARE("", IMAGE("      properties = { address = 0x90000000L; };\n")), &m, err),
	    0);
	CHECK_INT(m.images[0].address, 0x90000000u);
	swu_manifest_clear(&m);
	CHECK_INT(parse(SOFTWARE("", IMAGE("      size = 4096L;\n      properties = { address = "
	                                   "\"0x90000000\"; };\n")),
	                &m, err),
	          0);
	CHECK_INT(m.images[0].address, 0x90000000u);
	CHECK_INT(m.images[0].size, 4096);
	swu_manifest_clear(&m);
	/* the largest plain integer, numbers in strings and comments, names
	 * with digits: all fine */
	CHECK_INT(parse("# 0x108000000 in a comment\n"
	                "software = {\n  version = \"1.2.0\"; /* 99999999999 */\n"
	                "  description = \"rev 4294967396 // 0x90000000\";\n"
	                "  images: (\n" IMAGE("      size = 0x7FFFFFFF;\n") "  );\n};\n",
	                &m, err),
	          -EFBIG); /* over the image size limit, not refused as too wide */
	CHECK_CONTAINS(err, "image size 2147483647 is larger than the limit");
	swu_manifest_clear(&m);
}

/* A number in a string is decimal unless it starts with 0x: "0100" is one
 * hundred, not 64 (octal), and "08000000" is a number. */
static void test_numbers_in_strings_are_decimal_or_0x_hex(void)
{
	struct swu_manifest m;
	char err[256] = "";

	CHECK_INT(parse(SOFTWARE("", IMAGE("      size = \"0100\";\n      properties = { address "
	                                   "= \"08000000\"; };\n")),
	                &m, err),
	          0);
	CHECK_INT(m.images[0].size, 100);
	CHECK_INT(m.images[0].address, 8000000);
	swu_manifest_clear(&m);
	CHECK_INT(parse(SOFTWARE("", IMAGE("      properties = { address = \"0X0800c000\"; };\n")),
	                &m, err),
	          0);
	CHECK_INT(m.images[0].address, 0x0800C000);
	swu_manifest_clear(&m);
	CHECK_INT(parse(SOFTWARE("", IMAGE("      size = \"0x\";\n")), &m, err), -EBADMSG);
	CHECK_CONTAINS(err, "\"0x\" is not a number");
	CHECK_INT(parse(SOFTWARE("", IMAGE("      size = \"0x-10\";\n")), &m, err), -EBADMSG);
	CHECK_CONTAINS(err, "\"0x-10\" is not a number");
	CHECK_INT(parse(SOFTWARE("", IMAGE("      size = \"12 \";\n")), &m, err), -EBADMSG);
	CHECK_INT(parse(SOFTWARE("", IMAGE("      size = \"99999999999999999999\";\n")), &m, err),
	          -EBADMSG);
	CHECK_CONTAINS(err, "is not a number");
}

/* The directory sink writes ".<name>.part" and ".<name>.old" beside the
 * images: an image name may not start with a dot, so it cannot be one. */
static void test_names_with_a_leading_dot_are_refused(void)
{
	struct swu_manifest m;
	char err[256] = "";

	CHECK_INT(parse(SOFTWARE("", "    { filename = \".a.bin.part\"; type = \"mcu-ota\"; }\n"),
	                &m, err),
	          -EBADMSG);
	CHECK_CONTAINS(err, "\".a.bin.part\" is not a plain file name");
	CHECK_INT(parse(SOFTWARE("", "    { filename = \".hidden\"; }\n"), &m, err), -EBADMSG);
	CHECK(!swu_name_valid(".a.bin.old"));
	CHECK(!swu_name_valid("."));
	CHECK(swu_name_valid("a.bin"));
	CHECK(swu_name_valid("a.bin.part"));
}

TEST_MAIN(TEST(test_everything_mcu_ota_reads), TEST(test_defaults),
          TEST(test_refusals_name_line_and_setting), TEST(test_one_file_for_several_devices),
          TEST(test_limits), TEST(test_integers_wider_than_libconfig_ints_are_refused),
          TEST(test_numbers_in_strings_are_decimal_or_0x_hex),
          TEST(test_names_with_a_leading_dot_are_refused))
