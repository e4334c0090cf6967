#include "update/journal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/atomic.h"
#include "util/format.h"

#define JOURNAL_MAX 4096

static const char *const state_names[UPDATE_STATE_COUNT] = {
    "idle",    "staged",   "backing-up", "entering",     "flashing",
    "exiting", "checking", "committing", "rolling-back", "failed",
};

static const char *const result_names[UPDATE_RESULT_COUNT] = {
    "none", "installed", "rolled-back", "failed", "unchanged",
};

const char *update_state_name(enum update_state state)
{
	return (unsigned)state < UPDATE_STATE_COUNT ? state_names[state] : "unknown";
}

const char *update_result_name(enum update_result result)
{
	return (unsigned)result < UPDATE_RESULT_COUNT ? result_names[result] : "unknown";
}

static int journal_path(const struct store *s, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/journal", s->dir);
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

/* One "key=value" line into j; values are bounded by their fields. */
static int parse_line(struct journal *j, const char *key, size_t klen, const char *value)
{
	size_t vlen = strlen(value);
	char *end;
	if (klen == 5 && !memcmp(key, "state", 5)) {
		for (int i = 0; i < UPDATE_STATE_COUNT; i++)
			if (!strcmp(value, state_names[i])) {
				j->state = (enum update_state)i;
				return 0;
			}
		return -EBADMSG;
	}
	if (klen == 6 && !memcmp(key, "result", 6)) {
		for (int i = 0; i < UPDATE_RESULT_COUNT; i++)
			if (!strcmp(value, result_names[i])) {
				j->result = (enum update_result)i;
				return 0;
			}
		return -EBADMSG;
	}
	if (klen == 4 && !memcmp(key, "time", 4)) {
		j->time = strtoll(value, &end, 10);
		return vlen && !*end ? 0 : -EBADMSG;
	}
	if (klen == 7 && !memcmp(key, "version", 7) && vlen < sizeof(j->version)) {
		memcpy(j->version, value, vlen + 1);
		return 0;
	}
	if (klen == 6 && !memcmp(key, "sha256", 6) && (vlen == 64 || vlen == 0) &&
	    strspn(value, "0123456789abcdef") == vlen) {
		memcpy(j->sha256, value, vlen + 1);
		return 0;
	}
	if (klen == 5 && !memcmp(key, "error", 5) && vlen < sizeof(j->error)) {
		memcpy(j->error, value, vlen + 1);
		return 0;
	}
	if (klen == 8 && !memcmp(key, "sequence", 8)) {
		j->sequence = strtoull(value, &end, 10);
		return vlen && !*end ? 0 : -EBADMSG;
	}
	return -EBADMSG;
}

int journal_load(const struct store *s, struct journal *j, char *err, size_t errlen)
{
	char path[4200], text[JOURNAL_MAX + 1];
	memset(j, 0, sizeof(*j));
	int r = journal_path(s, path, sizeof(path));
	if (r < 0)
		return r;
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0; /* never updated: idle */
		r = -errno;
		mcu_ota_set_error(err, errlen, "cannot read %s: %s", path, strerror(-r));
		return r;
	}
	size_t n = fread(text, 1, sizeof(text), f);
	fclose(f);
	bool ok = n <= JOURNAL_MAX;
	text[ok ? n : JOURNAL_MAX] = '\0';
	ok = ok && strlen(text) == n;
	for (char *line = text, *next; ok && *line; line = next) {
		next = strchr(line, '\n');
		if (!next) {
			ok = false; /* every line ends with a newline: a cut file is corrupt */
			break;
		}
		*next++ = '\0';
		char *eq = strchr(line, '=');
		ok = eq && parse_line(j, line, (size_t)(eq - line), eq + 1) == 0;
	}
	if (!ok) {
		mcu_ota_set_error(
		    err, errlen,
		    "the update journal %s is corrupt; move it away to treat the device as idle",
		    path);
		return -EBADMSG;
	}
	return 0;
}

int journal_save(const struct store *s, struct journal *j, char *err, size_t errlen)
{
	char path[4200], text[JOURNAL_MAX];
	int r = journal_path(s, path, sizeof(path));
	if (r < 0)
		return r;
	/* a newline in the error text would break the line format */
	for (char *p = j->error; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	j->sequence++;
	j->time = (int64_t)time(NULL);
	int n = snprintf(text, sizeof(text),
	                 "state=%s\nresult=%s\nversion=%s\nsha256=%s\nerror=%s\nsequence=%" PRIu64
	                 "\ntime=%" PRId64 "\n",
	                 update_state_name(j->state), update_result_name(j->result), j->version,
	                 j->sha256, j->error, j->sequence, j->time);
	r = atomic_write_file(path, text, (size_t)n, STORE_FILE_MODE);
	if (r < 0)
		mcu_ota_set_error(err, errlen, "cannot save the update journal %s: %s", path,
		                  strerror(-r));
	return r;
}
