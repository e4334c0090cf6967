/* `mcu-ota image info`: output, JSON, exit codes and error messages, on the
 * same build-time fixtures as test_image. */
#include <unistd.h>

#include <openssl/evp.h>

#include "check.h"

#include "bundle/image.h"
#include "cli/cli.h"
#include "util/format.h"

#ifndef IMAGE_FIXTURE_DIR
#error "IMAGE_FIXTURE_DIR must name the build-time fixtures"
#endif

static char out[65536], errout[8192];

static void slurp(FILE *f, char *buf, size_t len)
{
	size_t n;
	rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = 0;
	fclose(f);
}

/* Run cli_image with stdout and stderr captured. */
static int run(int argc, const char *const *args)
{
	char *argv[16];
	FILE *o = tmpfile(), *e = tmpfile();
	int so, se, rc;

	if (!o || !e || argc > 15)
		exit(2);
	for (int i = 0; i < argc; i++)
		argv[i] = (char *)args[i];
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	so = dup(1);
	se = dup(2);
	dup2(fileno(o), 1);
	dup2(fileno(e), 2);
	rc = cli_image(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	slurp(o, out, sizeof(out));
	slurp(e, errout, sizeof(errout));
	return rc;
}

static const char *fx(const char *name)
{
	static char paths[4][512];
	static int next;
	char *p = paths[next++ % 4];
	snprintf(p, 512, "%s/%s", IMAGE_FIXTURE_DIR, name);
	return p;
}

/* SHA-256 of the raw binary objcopy made: what every format must hash to. */
static void bin_sha256(char hex[65], size_t *len)
{
	static uint8_t buf[1 << 20];
	unsigned char md[32];
	unsigned mdlen = 0;
	FILE *f = fopen(fx("fw.bin"), "rb");
	if (!f)
		exit(2);
	*len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	EVP_Digest(buf, *len, md, &mdlen, EVP_sha256(), NULL);
	hex_encode(md, 32, hex);
}

static void info_text_for_elf(void)
{
	char sha[65], expect[128];
	size_t len;
	const char *args[] = {"image", "info", fx("fw.elf")};

	bin_sha256(sha, &len);
	CHECK_INT(run(3, args), EXIT_OK);
	CHECK_STR(errout, "");
	CHECK_CONTAINS(out, "format:    elf\n");
	CHECK_CONTAINS(out, "entry:     0x080000");
	CHECK_CONTAINS(out, "segments:  1\n");
	CHECK_CONTAINS(out, "0x08000000-");
	CHECK_CONTAINS(out, sha);
	snprintf(expect, sizeof(expect), "total:     %zu bytes", len);
	CHECK_CONTAINS(out, expect);
}

static void info_json_for_dfu_is_valid_json(void)
{
	char sha[65], expect[256], path[] = "/tmp/mcu-ota-image-json-XXXXXX", cmd[512];
	size_t len;
	const char *args[] = {"image", "info", fx("fw.dfu"), "--json"};
	int fd;

	bin_sha256(sha, &len);
	CHECK_INT(run(4, args), EXIT_OK);
	CHECK_STR(errout, "");
	CHECK_CONTAINS(out, "\"format\":\"dfu\"");
	CHECK_CONTAINS(out, "\"entry\":null");
	CHECK_CONTAINS(out, "\"vid\":\"0x0483\",\"pid\":\"0xdf11\"");
	CHECK_CONTAINS(out, "\"alt\":0");
	snprintf(expect, sizeof(expect),
	         "\"segments\":[{\"address\":\"0x08000000\",\"size\":%zu,\"sha256\":\"%s\"}]", len,
	         sha);
	CHECK_CONTAINS(out, expect);
	snprintf(expect, sizeof(expect), "\"total_size\":%zu}", len);
	CHECK_CONTAINS(out, expect);

	/* A real JSON parser agrees. */
	fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_INT(write(fd, out, strlen(out)), (long long)strlen(out));
	close(fd);
	snprintf(cmd, sizeof(cmd),
	         "python3 -c 'import json,sys; d=json.load(sys.stdin); "
	         "assert d[\"segments\"][0][\"address\"]==\"0x08000000\"' < %s",
	         path);
	CHECK_INT(system(cmd), 0);
	unlink(path);
}

static void info_hex_entry_and_forced_bin_address(void)
{
	const char *hex[] = {"image", "info", "--json", fx("fw_elf.hex")};
	const char *bin[] = {"image",     "info",       "--format",  "bin",
	                     "--address", "0x08004000", fx("fw.hex")};

	CHECK_INT(run(4, hex), EXIT_OK);
	CHECK_CONTAINS(out, "\"format\":\"hex\",\"entry\":\"0x080000");
	CHECK_INT(run(7, bin), EXIT_OK);
	CHECK_CONTAINS(out, "format:    bin\n");
	CHECK_CONTAINS(out, "  0x08004000-");
}

static void malformed_file_is_bad_input(void)
{
	char path[] = "/tmp/mcu-ota-image-bad-XXXXXX", expect[256];
	const char *args[] = {"image", "info", path};
	const char *missing[] = {"image", "info", "/nonexistent/fw.hex"};
	int fd = mkstemp(path);
	static const char bad[] = ":020000040800F2\n:0400000001020304F1\n:00000001FF\n";

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_INT(write(fd, bad, sizeof(bad) - 1), (long long)sizeof(bad) - 1);
	close(fd);
	CHECK_INT(run(3, args), EXIT_BAD_INPUT);
	snprintf(expect, sizeof(expect), "mcu-ota: error: %s: line 2: checksum 0xF1, expected 0xF2",
	         path);
	CHECK_CONTAINS(errout, expect);
	CHECK_STR(out, "");
	unlink(path);

	CHECK_INT(run(3, missing), EXIT_BAD_INPUT);
	CHECK_CONTAINS(errout, "mcu-ota: error: /nonexistent/fw.hex: cannot open");
}

static void bad_arguments_are_usage_errors(void)
{
	const char *none[] = {"image"};
	const char *sub[] = {"image", "show", "x"};
	const char *nofile[] = {"image", "info"};
	const char *two[] = {"image", "info", "a", "b"};
	const char *fmt[] = {"image", "info", "--format", "srec", "a"};
	const char *addr[] = {"image", "info", "--address", "0x1_0000", "a"};
	const char *opt[] = {"image", "info", "--verbose", "a"};
	const char *noval[] = {"image", "info", "a", "--format"};

	CHECK_INT(run(1, none), EXIT_USAGE);
	CHECK_CONTAINS(errout, "mcu-ota: error: image: which subcommand?");
	CHECK_INT(run(3, sub), EXIT_USAGE);
	CHECK_CONTAINS(errout, "unknown subcommand \"show\"");
	CHECK_INT(run(2, nofile), EXIT_USAGE);
	CHECK_CONTAINS(errout, "no FILE given");
	CHECK_INT(run(4, two), EXIT_USAGE);
	CHECK_CONTAINS(errout, "more than one FILE");
	CHECK_INT(run(5, fmt), EXIT_USAGE);
	CHECK_CONTAINS(errout, "unknown format \"srec\"");
	CHECK_INT(run(5, addr), EXIT_USAGE);
	CHECK_CONTAINS(errout, "--address");
	CHECK_INT(run(4, opt), EXIT_USAGE);
	CHECK_CONTAINS(errout, "unknown option --verbose");
	CHECK_INT(run(4, noval), EXIT_USAGE);
	CHECK_CONTAINS(errout, "--format needs a value");
}

static void help_is_printed(void)
{
	const char *h1[] = {"image", "--help"};
	const char *h2[] = {"image", "info", "--help"};

	CHECK_INT(run(2, h1), EXIT_OK);
	CHECK_CONTAINS(out, "Usage: mcu-ota image info FILE");
	CHECK_INT(run(3, h2), EXIT_OK);
	CHECK_CONTAINS(out, "--address ADDRESS");
	CHECK_STR(errout, "");
}

TEST_MAIN(TEST(info_text_for_elf), TEST(info_json_for_dfu_is_valid_json),
          TEST(info_hex_entry_and_forced_bin_address), TEST(malformed_file_is_bad_input),
          TEST(bad_arguments_are_usage_errors), TEST(help_is_printed))
