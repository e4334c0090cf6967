#include "daemon/poll_record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/atomic.h"
#include "util/format.h"
#include "util/log.h"

#define POLL_RECORD_MODE 0600

static void path_of(const char *cache_dir, const char *device, char *out, size_t n)
{
	snprintf(out, n, "%s/%s.poll", cache_dir, device);
}

static void digest(const char *source, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	if (EVP_Digest(source, strlen(source), md, &len, EVP_sha256(), NULL) != 1 || len != 32)
		out[0] = '\0'; /* compares equal to nothing recorded: the next poll fetches */
	else
		hex_encode(md, 32, out);
}

void poll_record_set_source(struct poll_record *r, const char *source)
{
	digest(source, r->source_sha256);
}

bool poll_record_same_source(const struct poll_record *r, const char *source)
{
	char hex[65];
	digest(source, hex);
	return r->source_sha256[0] && !strcmp(hex, r->source_sha256);
}

void poll_record_load(const char *cache_dir, const char *device, struct poll_record *r)
{
	char path[4096], line[2200];
	struct stat st;
	bool rewrite = false;
	memset(r, 0, sizeof(*r));
	path_of(cache_dir, device, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077))
		rewrite = true; /* readable by others: an older mcu-ota's */
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *v = strchr(line, '=');
		if (!v)
			continue;
		*v++ = '\0';
		if (!strcmp(line, "source_sha256") && strlen(v) == 64 &&
		    strspn(v, "0123456789abcdef") == 64) {
			memcpy(r->source_sha256, v, 65);
		} else if (!strcmp(line, "source")) {
			/* an older mcu-ota kept the URL itself, tokens and all */
			poll_record_set_source(r, v);
			rewrite = true;
		} else if (!strcmp(line, "version")) {
			snprintf(r->version, sizeof(r->version), "%s", v);
		} else if (!strcmp(line, "etag")) {
			snprintf(r->etag, sizeof(r->etag), "%s", v);
		} else if (!strcmp(line, "last_modified")) {
			snprintf(r->last_modified, sizeof(r->last_modified), "%s", v);
		} else if (!strcmp(line, "outcome")) {
			r->outcome = !strcmp(v, "ok")       ? POLL_OK
			             : !strcmp(v, "failed") ? POLL_FAILED
			                                    : POLL_NONE;
		}
	}
	fclose(f);
	if (rewrite) {
		char err[4400];
		if (poll_record_save(cache_dir, device, r, err, sizeof(err)) < 0)
			log_warning("%s: %s", device, err);
		else
			log_info(
			    "%s: the poll record %s kept the source URL in clear or was readable "
			    "by others: it now holds the URL's SHA-256 only, mode 0600",
			    device, path);
	}
}

int poll_record_save(const char *cache_dir, const char *device, const struct poll_record *r,
                     char *err, size_t errlen)
{
	char path[4096], text[4096 + 2 * FETCH_MAX_VALIDATOR];
	static const char *const outcome[] = {"none", "ok", "failed"};
	if (mkdir(cache_dir, 0700) < 0 && errno != EEXIST) {
		int rc = -errno;
		mcu_ota_set_error(err, errlen, "cannot create %s: %s", cache_dir, strerror(errno));
		return rc;
	}
	path_of(cache_dir, device, path, sizeof(path));
	int n =
	    snprintf(text, sizeof(text),
	             "source_sha256=%s\nversion=%s\netag=%s\nlast_modified=%s\noutcome=%s\n",
	             r->source_sha256, r->version, r->etag, r->last_modified, outcome[r->outcome]);
	int rc = atomic_write_file(path, text, (size_t)n, POLL_RECORD_MODE);
	if (rc < 0)
		mcu_ota_set_error(err, errlen, "cannot write %s: %s", path, strerror(-rc));
	return rc;
}
