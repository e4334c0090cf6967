/* A store slot's meta file (<store>/<slot>/meta: version, sha256, size,
 * address), read by status and before every rollback. Checked for every
 * meta that loads: all four fields present and in range; printed back in the
 * same key=value form it loads to the same fields. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "update/store.h"

static struct store store = {.lock_fd = -1};
static char path[4200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	snprintf(store.dir, sizeof(store.dir), "%s", fuzz_scratch_dir());
	snprintf(path, sizeof(path), "%s/%s", store.dir, store_slot_name(STORE_CURRENT));
	FUZZ_CHECK(mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/%s/meta", store.dir, store_slot_name(STORE_CURRENT));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slot_meta m, again;
	char err[4400] = "";
	fuzz_write_file(path, data, size);
	int r = store_meta(&store, STORE_CURRENT, &m, err, sizeof(err));
	if (r < 0) {
		FUZZ_CHECK(r == -EBADMSG && err[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(m.version[0] != '\0' && strlen(m.version) < sizeof(m.version));
	FUZZ_CHECK(strlen(m.sha256) == 64 && strspn(m.sha256, "0123456789abcdef") == 64);
	FUZZ_CHECK(m.size <= STORE_MAX_IMAGE);

	char text[STORE_META_MAX];
	int n = snprintf(text, sizeof(text),
	                 "address=0x%" PRIx32 "\nsize=%" PRIu64 "\nsha256=%s\nversion=%s\n",
	                 m.address, m.size, m.sha256, m.version);
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text));
	fuzz_write_file(path, text, (size_t)n);
	FUZZ_CHECK(store_meta(&store, STORE_CURRENT, &again, err, sizeof(err)) == 0);
	FUZZ_CHECK(!strcmp(m.version, again.version) && !strcmp(m.sha256, again.sha256) &&
	           m.size == again.size && m.address == again.address);
	return 0;
}
