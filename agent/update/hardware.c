#include "update/hardware.h"

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/format.h"

#define REGEX_PREFIX "#RE:"
#define FILE_MAX     4096 /* far more than one line of two words */

/* The next whitespace-separated word of *p into out (at most max bytes):
 * its length, 0 when there is none, -1 when it is longer. */
static int next_word(const char **p, char *out, size_t max)
{
	const char *s = *p + strspn(*p, " \t\r\n");
	size_t n = strcspn(s, " \t\r\n");
	*p = s + n;
	if (n > max)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return (int)n;
}

void hardware_identify(const struct config *c, struct hardware_id *hw)
{
	memset(hw, 0, sizeof(*hw));
	if (c->hardware.revision) {
		hw->known = true;
		snprintf(hw->revision, sizeof(hw->revision), "%s", c->hardware.revision);
		snprintf(hw->from, sizeof(hw->from), "hardware.revision in %s", c->path);
		return;
	}
	const char *path =
	    c->hardware.revision_file ? c->hardware.revision_file : CONFIG_DEFAULT_HWREVISION_FILE;
	char text[FILE_MAX + 1];
	struct stat st;
	/* not a FIFO or a device: the read must not block */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		const char *why = fd < 0 && errno == ENOENT ? "does not exist"
		                  : fd < 0                  ? strerror(errno)
		                                            : "is not a regular file";
		snprintf(hw->from, sizeof(hw->from), "%s %s", path, why);
		if (fd >= 0)
			close(fd);
		return;
	}
	ssize_t n = read(fd, text, FILE_MAX);
	close(fd);
	if (n < 0) {
		snprintf(hw->from, sizeof(hw->from), "cannot read %s: %s", path, strerror(errno));
		return;
	}
	text[n] = '\0';
	const char *p = text;
	if (strlen(text) != (size_t)n || next_word(&p, hw->board, HARDWARE_NAME_MAX) <= 0 ||
	    next_word(&p, hw->revision, HARDWARE_NAME_MAX) <= 0) {
		hw->board[0] = hw->revision[0] = '\0';
		snprintf(hw->from, sizeof(hw->from),
		         "%s does not hold \"<board> <revision>\", each at most %d characters",
		         path, HARDWARE_NAME_MAX);
		return;
	}
	hw->known = true;
	snprintf(hw->from, sizeof(hw->from), "%s", path);
}

static bool entry_matches(const char *entry, const char *revision)
{
	if (strncmp(entry, REGEX_PREFIX, strlen(REGEX_PREFIX)))
		return !strcmp(entry, revision);
	regex_t re;
	/* an expression that does not compile matches nothing: the bundle is
	 * refused, never taken as fit */
	if (regcomp(&re, entry + strlen(REGEX_PREFIX), REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	bool match = regexec(&re, revision, 0, NULL, 0) == 0;
	regfree(&re);
	return match;
}

/* Why these rules: a bundle's list is its signer's statement of where it may
 * run. When it names revisions, installing it where that cannot be shown
 * (another revision, or a gateway that does not know its own) risks
 * firmware for another board: refused, as SWUpdate refuses it. A bundle
 * that names none makes no such claim, and mcu-ota's bundles pick their
 * chip by device name: refusing those would stop every gateway that keeps
 * an /etc/hwrevision for SWUpdate's own use from updating its chips, while
 * an older list-less bundle is held off by the high-water mark. */
int hardware_check(const struct hardware_id *hw, const struct swu_manifest *m, char *err,
                   size_t errlen)
{
	if (!m->hardware_compatibility_count)
		return 0;
	for (size_t i = 0; hw->known && i < m->hardware_compatibility_count; i++)
		if (entry_matches(m->hardware_compatibility[i], hw->revision))
			return 0;
	char list[1024] = "";
	for (size_t i = 0; i < m->hardware_compatibility_count; i++) {
		size_t off = strlen(list);
		snprintf(list + off, sizeof(list) - off, "%s\"%s\"", i ? ", " : "",
		         m->hardware_compatibility[i]);
	}
	const char *word = m->hardware_compatibility_count > 1 ? "revisions" : "revision";
	if (!hw->known)
		mcu_ota_set_error(err, errlen,
		                  "the bundle is for hardware %s %s, but this gateway's "
		                  "revision is not known (%s): set hardware.revision in the "
		                  "configuration, or write \"<board> <revision>\" into the file; "
		                  "nothing installed",
		                  word, list, hw->from);
	else
		mcu_ota_set_error(err, errlen,
		                  "the bundle is for hardware %s %s, not for this gateway's "
		                  "revision \"%s\" (%s%s%sfrom %s): nothing installed",
		                  word, list, hw->revision, hw->board[0] ? "board \"" : "",
		                  hw->board, hw->board[0] ? "\", " : "", hw->from);
	return -ENOEXEC;
}
