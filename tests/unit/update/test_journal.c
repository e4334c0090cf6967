/* The journal round-trips every state, refuses a damaged file with advice,
 * and survives text that would break its format. */
#include "check.h"
#include "update/journal.h"

#include <unistd.h>

static char root[] = "/tmp/mcu-ota-journal-XXXXXX";
static struct store store;

static void every_state_round_trips(void)
{
	char err[512];
	struct journal j, back;
	CHECK_INT(journal_load(&store, &j, err, sizeof(err)), 0);
	CHECK_INT(j.state, UPDATE_IDLE); /* no file yet */
	for (int s = 0; s < UPDATE_STATE_COUNT; s++) {
		j.state = (enum update_state)s;
		j.result = (enum update_result)(s % UPDATE_RESULT_COUNT);
		snprintf(j.version, sizeof(j.version), "2.%d.0-rc1", s);
		memset(j.sha256, 'a' + s % 6, 64);
		j.sha256[64] = '\0';
		snprintf(j.error, sizeof(j.error), "reason %d", s);
		CHECK_INT(journal_save(&store, &j, err, sizeof(err)), 0);
		CHECK_INT(journal_load(&store, &back, err, sizeof(err)), 0);
		CHECK_INT(back.state, s);
		CHECK_STR(back.version, j.version);
		CHECK_STR(back.sha256, j.sha256);
		CHECK_STR(back.error, j.error);
		CHECK_INT(back.sequence, j.sequence);
		CHECK_INT(back.result, j.result);
		CHECK(back.time > 1700000000); /* the save's own clock, not zero */
		CHECK_STR(update_state_name(back.state), update_state_name((enum update_state)s));
	}
	CHECK_INT(j.sequence, UPDATE_STATE_COUNT);
}

static void newlines_in_errors_do_not_break_the_format(void)
{
	char err[512];
	struct journal j = {.state = UPDATE_FAILED}, back;
	snprintf(j.error, sizeof(j.error), "line one\nstate=idle\r");
	CHECK_INT(journal_save(&store, &j, err, sizeof(err)), 0);
	CHECK_INT(journal_load(&store, &back, err, sizeof(err)), 0);
	CHECK_INT(back.state, UPDATE_FAILED);
	CHECK_STR(back.error, "line one state=idle ");
}

static void write_text(const char *text)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/journal", store.dir);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void damage_is_refused_with_advice(void)
{
	char err[512];
	struct journal j;
	const char *bad[] = {
	    "state=flying\n",                 /* unknown state */
	    "state=idle\nversion=1",          /* cut in the middle of a line */
	    "state=idle\nsha256=xyz\n",       /* not a hash */
	    "state=idle\nsequence=12a\n",     /* not a number */
	    "state=idle\npassword=hunter2\n", /* unknown key */
	    "no equals sign\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		write_text(bad[i]);
		CHECK_INT(journal_load(&store, &j, err, sizeof(err)), -EBADMSG);
		CHECK_CONTAINS(err, "is corrupt; move it away");
	}
}

static void setup(void)
{
	char err[512];
	if (!mkdtemp(root) || store_open(root, "dev", &store, err, sizeof(err)) < 0)
		exit(1);
}

static void teardown(void)
{
	char cmd[256];
	store_close(&store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	CHECK_INT(system(cmd), 0);
}

TEST_MAIN_WITH(setup, teardown, TEST(every_state_round_trips),
               TEST(newlines_in_errors_do_not_break_the_format),
               TEST(damage_is_refused_with_advice))
