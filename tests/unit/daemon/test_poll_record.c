/* Finding 8 of issue 12: the daemon's poll record kept the full source URL
 * (a password in its user info, a token in its query) in a file readable by
 * every user, although the logs redact it. It now keeps the URL's SHA-256
 * only (all it needs to notice that the source changed), at mode 0600, and a
 * record an older mcu-ota wrote is rewritten so when it is read. */
#include "check.h"
#include "daemon/poll_record.h"

#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/mcu-ota-poll-XXXXXX";
static char cache[300];

static const char url[] = "https://fleet:s3cret@updates.example.com/motor/fw.swu"
                          "?X-Amz-Signature=t0ken#frag";

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

/* None of the URL's parts is in the text, nor the URL redacted. */
static void holds_no_part_of_the_url(const char *text)
{
	static const char *const parts[] = {"fleet",        "s3cret", "updates.example.com",
	                                    "motor/fw.swu", "t0ken",  "X-Amz",
	                                    "frag",         "https"};
	for (size_t i = 0; i < sizeof(parts) / sizeof(*parts); i++)
		if (strstr(text, parts[i])) {
			fprintf(stderr, "the poll record holds \"%s\":\n%s", parts[i], text);
			check_current_failed = 1;
		}
}

static void the_record_keeps_a_digest_only(void)
{
	struct poll_record r = {.outcome = POLL_FAILED}, back;
	char err[512], path[400], text[4096];
	snprintf(r.version, sizeof(r.version), "2.0.0");
	snprintf(r.etag, sizeof(r.etag), "\"abc\"");
	poll_record_set_source(&r, url);
	mode_t old = umask(022); /* the usual one: the record's mode must not come from it */
	CHECK_INT(poll_record_save(cache, "motor", &r, err, sizeof(err)), 0);
	umask(old);
	snprintf(path, sizeof(path), "%s/motor.poll", cache);
	slurp(path, text, sizeof(text));
	holds_no_part_of_the_url(text);
	CHECK_INT(mode_of(path), 0600);
	CHECK_INT(mode_of(cache), 0700);
	/* ... and still tells the same source from another */
	poll_record_load(cache, "motor", &back);
	CHECK(poll_record_same_source(&back, url));
	CHECK(!poll_record_same_source(&back, "https://updates.example.com/motor/fw.swu"));
	CHECK(!poll_record_same_source(&back, "https://fleet:s3cret@updates.example.com/motor/"
	                                      "fw.swu?X-Amz-Signature=t0ken"));
	CHECK_STR(back.version, "2.0.0");
	CHECK_STR(back.etag, "\"abc\"");
	CHECK_INT(back.outcome, POLL_FAILED);
	/* nothing recorded is no source */
	struct poll_record none;
	poll_record_load(cache, "nobody", &none);
	CHECK(!poll_record_same_source(&none, ""));
}

static void an_older_record_is_rewritten_when_read(void)
{
	char path[400], text[4096];
	snprintf(path, sizeof(path), "%s/older.poll", cache);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fprintf(f, "source=%s\nversion=\netag=\"e1\"\nlast_modified=\noutcome=ok\n", url);
	fclose(f);
	CHECK_INT(chmod(path, 0644), 0);
	struct poll_record r;
	poll_record_load(cache, "older", &r);
	/* what it says still counts: the same source, its validators */
	CHECK(poll_record_same_source(&r, url));
	CHECK_STR(r.etag, "\"e1\"");
	CHECK_INT(r.outcome, POLL_OK);
	/* and the file no longer says it in clear, nor to others */
	slurp(path, text, sizeof(text));
	holds_no_part_of_the_url(text);
	CHECK_CONTAINS(text, "source_sha256=");
	CHECK_INT(mode_of(path), 0600);
}

static void setup(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(cache, sizeof(cache), "%s/cache", dir);
}

static void teardown(void)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}

TEST_MAIN_WITH(setup, teardown, TEST(the_record_keeps_a_digest_only),
               TEST(an_older_record_is_rewritten_when_read))
