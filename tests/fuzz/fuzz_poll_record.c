/* The daemon's poll record (cache_dir/<device>.poll): what it tried last
 * and how that ended. Any content loads (unknown lines are ignored, a bad
 * file reads as empty); checked: the fields are terminated within their
 * sizes, and a record that loads is saved and loads again the same. */
#include <string.h>

#include "daemon/poll_record.h"
#include "fuzz.h"

static char path[4200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	snprintf(path, sizeof(path), "%s/motor.poll", fuzz_scratch_dir());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct poll_record r, again;
	char err[4400];
	fuzz_write_file(path, data, size);
	poll_record_load(fuzz_scratch_dir(), "motor", &r);
	FUZZ_CHECK(memchr(r.source_sha256, '\0', sizeof(r.source_sha256)) &&
	           memchr(r.version, '\0', sizeof(r.version)));
	FUZZ_CHECK(memchr(r.etag, '\0', sizeof(r.etag)) &&
	           memchr(r.last_modified, '\0', sizeof(r.last_modified)));
	FUZZ_CHECK(r.outcome == POLL_NONE || r.outcome == POLL_OK || r.outcome == POLL_FAILED);
	FUZZ_CHECK(poll_record_save(fuzz_scratch_dir(), "motor", &r, err, sizeof(err)) == 0);
	poll_record_load(fuzz_scratch_dir(), "motor", &again);
	FUZZ_CHECK(!strcmp(r.source_sha256, again.source_sha256) &&
	           !strcmp(r.version, again.version) && !strcmp(r.etag, again.etag) &&
	           !strcmp(r.last_modified, again.last_modified) && r.outcome == again.outcome);
	return 0;
}
