#include "daemon/poll_record.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util/atomic.h"
#include "util/format.h"

static void path_of(const char *cache_dir, const char *device, char *out, size_t n)
{
	snprintf(out, n, "%s/%s.poll", cache_dir, device);
}

void poll_record_load(const char *cache_dir, const char *device, struct poll_record *r)
{
	char path[4096], line[2200];
	memset(r, 0, sizeof(*r));
	path_of(cache_dir, device, path, sizeof(path));
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *v = strchr(line, '=');
		if (!v)
			continue;
		*v++ = '\0';
		if (!strcmp(line, "source"))
			snprintf(r->source, sizeof(r->source), "%s", v);
		else if (!strcmp(line, "version"))
			snprintf(r->version, sizeof(r->version), "%s", v);
		else if (!strcmp(line, "etag"))
			snprintf(r->etag, sizeof(r->etag), "%s", v);
		else if (!strcmp(line, "last_modified"))
			snprintf(r->last_modified, sizeof(r->last_modified), "%s", v);
		else if (!strcmp(line, "outcome"))
			r->outcome = !strcmp(v, "ok")       ? POLL_OK
			             : !strcmp(v, "failed") ? POLL_FAILED
			                                    : POLL_NONE;
	}
	fclose(f);
}

int poll_record_save(const char *cache_dir, const char *device, const struct poll_record *r,
                     char *err, size_t errlen)
{
	char path[4096], text[4096 + 2 * FETCH_MAX_VALIDATOR];
	static const char *const outcome[] = {"none", "ok", "failed"};
	if (mkdir(cache_dir, 0755) < 0 && errno != EEXIST) {
		int rc = -errno;
		mcu_ota_set_error(err, errlen, "cannot create %s: %s", cache_dir, strerror(errno));
		return rc;
	}
	path_of(cache_dir, device, path, sizeof(path));
	int n = snprintf(text, sizeof(text),
	                 "source=%s\nversion=%s\netag=%s\nlast_modified=%s\noutcome=%s\n",
	                 r->source, r->version, r->etag, r->last_modified, outcome[r->outcome]);
	int rc = atomic_write_file(path, text, (size_t)n, 0644);
	if (rc < 0)
		mcu_ota_set_error(err, errlen, "cannot write %s: %s", path, strerror(-rc));
	return rc;
}
