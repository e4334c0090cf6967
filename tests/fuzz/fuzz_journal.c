/* The update journal (<store>/journal), read after a crash or power loss
 * from whatever the disk holds. Checked: a journal that loads is saved and
 * loads again to the same fields (the save's new sequence and time
 * included); one that does not is -EBADMSG with a message. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "update/journal.h"

static struct store store = {.lock_fd = -1};
static char path[4200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	snprintf(store.dir, sizeof(store.dir), "%s", fuzz_scratch_dir());
	snprintf(path, sizeof(path), "%s/journal", store.dir);
	return 0;
}

static bool same(const struct journal *a, const struct journal *b)
{
	return a->state == b->state && a->result == b->result && !strcmp(a->version, b->version) &&
	       !strcmp(a->sha256, b->sha256) && !strcmp(a->error, b->error) &&
	       a->sequence == b->sequence && a->time == b->time;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct journal j, again;
	char err[4400] = "";
	fuzz_write_file(path, data, size);
	int r = journal_load(&store, &j, err, sizeof(err));
	if (r < 0) {
		FUZZ_CHECK(r == -EBADMSG && err[0] != '\0');
		return 0;
	}
	FUZZ_CHECK((unsigned)j.state < UPDATE_STATE_COUNT);
	FUZZ_CHECK((unsigned)j.result < UPDATE_RESULT_COUNT);
	FUZZ_CHECK(strlen(j.sha256) == 0 || strlen(j.sha256) == 64);
	FUZZ_CHECK(journal_save(&store, &j, err, sizeof(err)) == 0);
	FUZZ_CHECK(journal_load(&store, &again, err, sizeof(err)) == 0);
	FUZZ_CHECK(same(&j, &again));
	return 0;
}
