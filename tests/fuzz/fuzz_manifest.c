/* sw-description text (libconfig syntax), as swu_manifest_parse takes it
 * after the signature verified. Checked for every manifest that parses: a
 * version, 1..64 images each with a plain file name, type "mcu-ota", a
 * device and a SHA-256 whose hex and bytes agree, and swu_manifest_find
 * finding each by name. A failure leaves the manifest empty with a message.
 * And sw-description must never make libconfig open a file: whatever the
 * parser let through, libconfig reading the same text with an include
 * folder that does not exist must not have tried an @include. */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include <libconfig.h>

#include "bundle/swu.h"
#include "bundle/swu_private.h"
#include "bundle/version.h"
#include "fuzz.h"

static void check_manifest(const struct swu_manifest *m, size_t size)
{
	FUZZ_CHECK(m->version && m->version[0] && strlen(m->version) <= VERSION_MAX_LEN);
	FUZZ_CHECK(m->image_count >= 1 && m->image_count <= SWU_DEFAULT_MAX_IMAGES);
	FUZZ_CHECK(m->description_size == size);
	for (size_t i = 0; i < m->image_count; i++) {
		const struct swu_image *img = &m->images[i];
		FUZZ_CHECK(img->filename && swu_name_valid(img->filename));
		FUZZ_CHECK(strcmp(img->filename, SWU_DESCRIPTION_NAME) &&
		           strcmp(img->filename, SWU_SIGNATURE_NAME) &&
		           strcmp(img->filename, "TRAILER!!!"));
		FUZZ_CHECK(img->type && !strcmp(img->type, "mcu-ota"));
		FUZZ_CHECK(img->device && img->device[0]);
		FUZZ_CHECK(strlen(img->sha256_hex) == 64);
		for (int k = 0; k < 32; k++) {
			char two[3];
			snprintf(two, sizeof(two), "%02x", img->sha256[k]);
			FUZZ_CHECK(tolower((unsigned char)img->sha256_hex[2 * k]) == two[0] &&
			           tolower((unsigned char)img->sha256_hex[2 * k + 1]) == two[1]);
		}
		FUZZ_CHECK(img->has_size || img->size == 0);
		FUZZ_CHECK(img->size <= SWU_DEFAULT_MAX_IMAGE);
		FUZZ_CHECK(img->format >= IMAGE_FORMAT_AUTO && img->format <= IMAGE_FORMAT_ELF);
		FUZZ_CHECK(img->has_address || img->address == IMAGE_DEFAULT_ADDRESS ||
		           img->address == 0);
		const struct swu_image *found = swu_manifest_find(m, img->filename);
		FUZZ_CHECK(found && found <= img && !strcmp(found->filename, img->filename));
	}
	for (size_t i = 0; i < m->hardware_compatibility_count; i++)
		FUZZ_CHECK(m->hardware_compatibility && m->hardware_compatibility[i]);
}

/* Whether libconfig, reading text, tried to open an @include. */
static bool libconfig_includes(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	config_t cfg;
	config_init(&cfg);
	config_set_include_dir(&cfg, "/nonexistent/mcu-ota-fuzz");
	bool tried = false;
	if (config_read_string(&cfg, text) != CONFIG_TRUE) {
		const char *e = config_error_text(&cfg);
		tried = e && strstr(e, "include");
	}
	config_destroy(&cfg);
	free(text);
	return tried;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct swu_manifest m;
	char err[1024] = "";
	int r = swu_manifest_parse((const char *)data, size, NULL, &m, err, sizeof(err));
	if (r == 0) {
		check_manifest(&m, size);
		swu_manifest_clear(&m);
	} else {
		FUZZ_CHECK(r == -EBADMSG || r == -ENOTSUP || r == -EFBIG || r == -ENOMEM);
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(!m.version && !m.images && !m.image_count && !m.description);
	}
	if (!strstr(err, "directives (@include)") && !memchr(data, '\0', size))
		FUZZ_CHECK(!libconfig_includes(data, size));
	return 0;
}
