#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <mcu-ota/cleanup.h>

#include "bundle/version.h"
#include "util/format.h"
#include "util/suggest.h"
#include "util/trusted_file.h"

/* Where an error goes: the file, the line of the setting, its path. */
struct ctx {
	struct config *c;
	char *err;
	size_t errlen;
};

static MCU_OTA_PRINTF(5, 0) int vbad(const struct config *c, char *err, size_t errlen,
                                     const config_setting_t *s, const char *fmt, va_list ap)
{
	char what[512], name[128] = "";
	vsnprintf(what, sizeof(what), fmt, ap);
	/* the setting's path from the root, e.g. devices.[1].health.vid */
	const config_setting_t *chain[16];
	int n = 0;
	for (const config_setting_t *p = s; p && config_setting_parent(p) && n < 16;
	     p = config_setting_parent(p))
		chain[n++] = p;
	size_t off = 0;
	while (n-- > 0 && off < sizeof(name)) {
		const char *nm = config_setting_name(chain[n]);
		int w = nm ? snprintf(name + off, sizeof(name) - off, "%s%s", off ? "." : "", nm)
		           : snprintf(name + off, sizeof(name) - off, "[%d]",
		                      config_setting_index(chain[n]));
		if (w < 0)
			break;
		off += (size_t)w;
	}
	const char *file = s ? config_setting_source_file(s) : NULL; /* @include'd files too */
	mcu_ota_set_error(err, errlen, "%s:%d: %s%s%s", file ? file : c->path,
	                  s ? config_setting_source_line(s) : 0, name, *name ? ": " : "", what);
	return -EINVAL;
}

static MCU_OTA_PRINTF(3, 4) int bad(struct ctx *x, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vbad(x->c, x->err, x->errlen, s, fmt, ap);
	va_end(ap);
	return r;
}

int config_error_at(const struct config *c, const config_setting_t *s, char *err, size_t errlen,
                    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vbad(c, err, errlen, s, fmt, ap);
	va_end(ap);
	return r;
}

/* Every member of group must be one of the names in known (NULL-ended). */
static int only_known(struct ctx *x, const config_setting_t *group, const char *const *known,
                      const char *where)
{
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
		const char *nm = config_setting_name(m);
		bool ok = false;
		for (const char *const *k = known; *k && !ok; k++)
			ok = !strcmp(nm, *k);
		if (!ok) {
			char list[512] = "";
			for (const char *const *k = known; *k; k++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				         k == known ? "" : ", ", *k);
			const char *near = suggest_name(nm, known);
			return bad(x, m, "unknown setting in %s (known: %s)%s%s%s", where, list,
			           near ? "; did you mean \"" : "", near ? near : "",
			           near ? "\"?" : "");
		}
	}
	return 0;
}

static int get_string(struct ctx *x, const config_setting_t *group, const char *key, bool required,
                      const char **out)
{
	const config_setting_t *s = config_setting_get_member(group, key);
	if (!s) {
		if (required)
			return bad(x, group, "\"%s\" is missing: it is required here", key);
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return bad(x, s, "expected a string in double quotes");
	*out = config_setting_get_string(s);
	if (!**out)
		return bad(x, s, "must not be empty");
	return 0;
}

static int get_bool(struct ctx *x, const config_setting_t *group, const char *key, bool *out)
{
	const config_setting_t *s = config_setting_get_member(group, key);
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return bad(x, s, "expected true or false");
	*out = config_setting_get_bool(s);
	return 0;
}

static int get_number(struct ctx *x, const config_setting_t *group, const char *key, long long min,
                      long long max, long long *out)
{
	const config_setting_t *s = config_setting_get_member(group, key);
	if (!s)
		return 0;
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
		return bad(x, s, "expected an integer from %lld to %lld", min, max);
	long long v = config_setting_get_int64(s);
	/* libconfig reads hex from 0x80000000 up as a negative 32-bit int: a
	 * hex number is unsigned (addresses of external flash live there) */
	if (t == CONFIG_TYPE_INT && config_setting_get_format(s) == CONFIG_FORMAT_HEX)
		v = (long long)(uint32_t)config_setting_get_int(s);
	if (v < min || v > max)
		return bad(x, s, "%lld is out of range: expected %lld to %lld", v, min, max);
	*out = v;
	return 0;
}

static int get_timeout(struct ctx *x, const config_setting_t *group, const char *key, unsigned *out)
{
	long long v = *out;
	int r = get_number(x, group, key, 1, CONFIG_MAX_TIMEOUT_MS, &v);
	*out = (unsigned)v;
	return r;
}

static int load_bundle(struct ctx *x, const config_setting_t *g)
{
	static const char *const known[] = {"keys",      "ca",       "ca_dir",         "crl",
	                                    "signer_cn", "max_size", "max_image_size", NULL};
	struct config *c = x->c;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return bad(x, g, "expected a group { ... }");
	int r = only_known(x, g, known, "bundle");
	if (r < 0)
		return r;
	const config_setting_t *keys = config_setting_get_member(g, "keys");
	if (keys) {
		if (config_setting_type(keys) != CONFIG_TYPE_ARRAY &&
		    config_setting_type(keys) != CONFIG_TYPE_LIST)
			return bad(x, keys, "expected a list of key files [\"a.pem\", \"b.pem\"]");
		int n = config_setting_length(keys);
		if (n > CONFIG_MAX_KEYS)
			return bad(x, keys, "at most %d keys", CONFIG_MAX_KEYS);
		for (int i = 0; i < n; i++) {
			const config_setting_t *k = config_setting_get_elem(keys, (unsigned)i);
			if (config_setting_type(k) != CONFIG_TYPE_STRING ||
			    !*config_setting_get_string(k))
				return bad(x, k, "expected the path of a PEM key or certificate");
			c->keys[i] = config_setting_get_string(k);
		}
		c->trust.key_files = c->keys;
		c->trust.key_count = (size_t)n;
	}
	long long max_size = 0, max_image = 0;
	if ((r = get_string(x, g, "ca", false, &c->trust.ca_file)) < 0 ||
	    (r = get_string(x, g, "ca_dir", false, &c->trust.ca_dir)) < 0 ||
	    (r = get_string(x, g, "crl", false, &c->trust.crl_file)) < 0 ||
	    (r = get_string(x, g, "signer_cn", false, &c->trust.signer_cn)) < 0 ||
	    (r = get_number(x, g, "max_size", 4096, 1ll << 32, &max_size)) < 0 ||
	    (r = get_number(x, g, "max_image_size", 1, 64ll << 20, &max_image)) < 0)
		return r;
	c->limits.max_bundle = (uint64_t)max_size;
	c->limits.max_image = (uint64_t)max_image;
	if (!c->trust.key_count && !c->trust.ca_file && !c->trust.ca_dir)
		return bad(x, g,
		           "no trust anchor: set keys (detached signatures) or ca / ca_dir (CMS)");
	if ((c->trust.crl_file || c->trust.signer_cn) && !c->trust.ca_file && !c->trust.ca_dir)
		return bad(x, g, "crl and signer_cn apply to CMS signatures: set ca or ca_dir too");
	return 0;
}

static int load_fetch(struct ctx *x, const config_setting_t *g)
{
	static const char *const known[] = {"ca",
	                                    "ca_dir",
	                                    "client_cert",
	                                    "client_key",
	                                    "proxy",
	                                    "allow_http",
	                                    "connect_timeout_s",
	                                    "low_speed_limit",
	                                    "low_speed_time_s",
	                                    "max_time_s",
	                                    "max_attempts",
	                                    "max_recv_speed",
	                                    NULL};
	struct fetch_options *f = &x->c->fetch;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return bad(x, g, "expected a group { ... }");
	int r = only_known(x, g, known, "fetch");
	if (r < 0)
		return r;
	const config_setting_t *proxy = config_setting_get_member(g, "proxy");
	if (proxy && config_setting_type(proxy) == CONFIG_TYPE_STRING)
		f->proxy = config_setting_get_string(proxy); /* "" is meaningful: no proxy */
	else if (proxy)
		return bad(x, proxy, "expected a proxy URL in double quotes, or \"\" for none");
	if ((r = get_string(x, g, "ca", false, &f->ca_file)) < 0 ||
	    (r = get_string(x, g, "ca_dir", false, &f->ca_dir)) < 0 ||
	    (r = get_string(x, g, "client_cert", false, &f->client_cert)) < 0 ||
	    (r = get_string(x, g, "client_key", false, &f->client_key)) < 0 ||
	    (r = get_bool(x, g, "allow_http", &f->allow_http)) < 0)
		return r;
	if (f->client_key && !f->client_cert)
		return bad(x, g, "client_key needs client_cert");
	/* 0 leaves fetch's default (fetch/fetch.h) */
	long long connect_s = 0, low_limit = 0, low_time = 0, max_time = 0, attempts = 0, speed = 0;
	if ((r = get_number(x, g, "connect_timeout_s", 1, 600, &connect_s)) < 0 ||
	    (r = get_number(x, g, "low_speed_limit", 1, 1 << 30, &low_limit)) < 0 ||
	    (r = get_number(x, g, "low_speed_time_s", 1, 3600, &low_time)) < 0 ||
	    (r = get_number(x, g, "max_time_s", 10, 7 * 86400, &max_time)) < 0 ||
	    (r = get_number(x, g, "max_attempts", 1, 100, &attempts)) < 0 ||
	    (r = get_number(x, g, "max_recv_speed", 0, 1ll << 40, &speed)) < 0)
		return r;
	f->connect_timeout_ms = (unsigned)connect_s * 1000u;
	f->low_speed_limit = (unsigned)low_limit;
	f->low_speed_time_s = (unsigned)low_time;
	f->max_time_s = (unsigned)max_time;
	f->max_attempts = (unsigned)attempts;
	f->max_recv_speed = (uint64_t)speed;
	return 0;
}

static int absolute(struct ctx *x, const config_setting_t *group, const char *key,
                    const char *value)
{
	if (value[0] == '/')
		return 0;
	return bad(x, config_setting_get_member(group, key),
	           "\"%s\" is relative: give an absolute path (the daemon's working directory is "
	           "/)",
	           value);
}

static int load_daemon(struct ctx *x, const config_setting_t *g)
{
	static const char *const known[] = {"socket",          "socket_group",  "admin_group",
	                                    "poll_interval_s", "poll_jitter_s", NULL};
	struct daemon_config *d = &x->c->daemon;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return bad(x, g, "expected a group { ... }");
	int r = only_known(x, g, known, "daemon");
	long long interval = d->poll_interval_s, jitter = d->poll_jitter_s;
	if (r < 0 || (r = get_string(x, g, "socket", false, &d->socket)) < 0 ||
	    (r = absolute(x, g, "socket", d->socket)) < 0 ||
	    (r = get_string(x, g, "socket_group", false, &d->socket_group)) < 0 ||
	    (r = get_string(x, g, "admin_group", false, &d->admin_group)) < 0 ||
	    (r = get_number(x, g, "poll_interval_s", 0, CONFIG_MAX_POLL_INTERVAL_S, &interval)) <
	        0 ||
	    (r = get_number(x, g, "poll_jitter_s", 0, CONFIG_MAX_POLL_INTERVAL_S, &jitter)) < 0)
		return r;
	if (interval && interval < CONFIG_MIN_POLL_INTERVAL_S)
		return bad(x, config_setting_get_member(g, "poll_interval_s"),
		           "%lld is too short: expected 0 (no polling) or %u to %u seconds",
		           interval, CONFIG_MIN_POLL_INTERVAL_S, CONFIG_MAX_POLL_INTERVAL_S);
	if (!config_setting_get_member(g, "poll_jitter_s") && jitter > interval)
		jitter = interval; /* the default jitter, for a short interval */
	if (jitter > interval)
		return bad(x, config_setting_get_member(g, "poll_jitter_s"),
		           "%lld is more than poll_interval_s (%lld): expected 0 to %lld", jitter,
		           interval, interval);
	d->poll_interval_s = (unsigned)interval;
	d->poll_jitter_s = (unsigned)jitter;
	if (sizeof(((struct sockaddr_un *)0)->sun_path) <= strlen(d->socket))
		return bad(x, config_setting_get_member(g, "socket"),
		           "too long for a unix socket: at most %zu characters",
		           sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	return 0;
}

/* A hardware revision is one word: /etc/hwrevision holds "<board> <revision>". */
static int load_hardware(struct ctx *x, const config_setting_t *g)
{
	static const char *const known[] = {"revision", "revision_file", NULL};
	struct hardware_config *h = &x->c->hardware;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return bad(x, g, "expected a group { revision = \"...\"; }");
	int r = only_known(x, g, known, "hardware");
	if (r < 0 || (r = get_string(x, g, "revision", false, &h->revision)) < 0 ||
	    (r = get_string(x, g, "revision_file", false, &h->revision_file)) < 0 ||
	    (r = absolute(x, g, "revision_file", h->revision_file)) < 0)
		return r;
	if (h->revision && (strlen(h->revision) > 64 || strpbrk(h->revision, " \t\r\n")))
		return bad(x, config_setting_get_member(g, "revision"),
		           "\"%.64s\": expected one word of at most 64 characters, as a bundle's "
		           "hardware-compatibility names it (e.g. \"1.0\" or \"rev-B\")",
		           h->revision);
	return 0;
}

static int load_firmware(struct ctx *x, const config_setting_t *g, struct device_config *d)
{
	static const char *const known[] = {"source", "version", NULL};
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return bad(x, g, "expected a group { source = \"...\"; version = \"...\"; }");
	int r = only_known(x, g, known, "firmware");
	if (r < 0 || (r = get_string(x, g, "source", true, &d->firmware_source)) < 0 ||
	    (r = get_string(x, g, "version", false, &d->firmware_version)) < 0)
		return r;
	if (!fetch_is_url(d->firmware_source) && d->firmware_source[0] != '/')
		return bad(x, config_setting_get_member(g, "source"),
		           "\"%s\": expected an https:// URL or an absolute path to a .swu bundle",
		           d->firmware_source);
	if (!strncasecmp(d->firmware_source, "http://", 7) && !x->c->fetch.allow_http)
		return bad(
		    x, config_setting_get_member(g, "source"),
		    "\"%s\" is plain http: use https://, or allow it with fetch.allow_http = "
		    "true",
		    d->firmware_source);
	if (d->firmware_version && strlen(d->firmware_version) > VERSION_MAX_LEN)
		return bad(x, config_setting_get_member(g, "version"),
		           "too long: at most %d characters", VERSION_MAX_LEN);
	if (d->firmware_version && !version_valid(d->firmware_version))
		return bad(x, config_setting_get_member(g, "version"),
		           "\"%s\" is not a version a bundle can hold: expected numbers separated "
		           "by dots, "
		           "with an optional -suffix, e.g. \"2.0.0\" or \"2.1.0-rc1\"",
		           d->firmware_version);
	return 0;
}

static int load_plugin(struct ctx *x, const config_setting_t *dev, const char *key,
                       const char *default_plugin, struct config_plugin *out)
{
	const config_setting_t *g = config_setting_get_member(dev, key);
	out->plugin = default_plugin;
	out->section = g;
	if (!g) {
		if (!default_plugin)
			return bad(x, dev, "\"%s\" is missing: a group { plugin = \"...\"; ... }",
			           key);
		return 0;
	}
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return bad(x, g, "expected a group { plugin = \"...\"; ... }");
	int r = get_string(x, g, "plugin", !default_plugin, &out->plugin);
	if (r < 0)
		return r;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		int t = config_setting_type(m);
		if (t != CONFIG_TYPE_STRING && t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64 &&
		    t != CONFIG_TYPE_BOOL)
			return bad(x, m, "plugin settings are strings, integers or booleans");
	}
	return 0;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static int load_device(struct ctx *x, const config_setting_t *g, struct device_config *d)
{
	static const char *const known[] = {"name",
	                                    "address",
	                                    "backup",
	                                    "allow_downgrade",
	                                    "min_version",
	                                    "bootloader_timeout_ms",
	                                    "health_timeout_ms",
	                                    "entry",
	                                    "flasher",
	                                    "health",
	                                    "firmware",
	                                    NULL};
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return bad(x, g, "expected a device { name = \"...\"; ... }");
	int r = only_known(x, g, known, "a device");
	if (r < 0)
		return r;
	d->line = config_setting_source_line(g);
	d->address = 0x08000000u;
	d->backup_required = true;
	d->bootloader_timeout_ms = CONFIG_DEFAULT_BOOTLOADER_TIMEOUT_MS;
	d->health_timeout_ms = CONFIG_DEFAULT_HEALTH_TIMEOUT_MS;
	if ((r = get_string(x, g, "name", true, &d->name)) < 0)
		return r;
	if (!valid_name(d->name))
		return bad(x, config_setting_get_member(g, "name"),
		           "\"%s\": use 1 to 64 letters, digits, - and _", d->name);
	long long addr = d->address;
	const char *backup = NULL;
	if ((r = get_number(x, g, "address", 0, UINT32_MAX, &addr)) < 0 ||
	    (r = get_string(x, g, "backup", false, &backup)) < 0 ||
	    (r = get_bool(x, g, "allow_downgrade", &d->allow_downgrade)) < 0 ||
	    (r = get_string(x, g, "min_version", false, &d->min_version)) < 0 ||
	    (r = get_timeout(x, g, "bootloader_timeout_ms", &d->bootloader_timeout_ms)) < 0 ||
	    (r = get_timeout(x, g, "health_timeout_ms", &d->health_timeout_ms)) < 0)
		return r;
	d->address = (uint32_t)addr;
	if (d->min_version && !version_valid(d->min_version))
		return bad(
		    x, config_setting_get_member(g, "min_version"),
		    "\"%.64s\" is not a version: expected numbers separated by dots, with an "
		    "optional -suffix, e.g. \"2.1.0\"",
		    d->min_version);
	if (backup && strcmp(backup, "required") && strcmp(backup, "optional"))
		return bad(x, config_setting_get_member(g, "backup"),
		           "\"%s\": expected \"required\" (refuse a first update when the chip "
		           "cannot be read back) or \"optional\"",
		           backup);
	d->backup_required = !backup || !strcmp(backup, "required");
	if ((r = load_plugin(x, g, "entry", NULL, &d->entry)) < 0 ||
	    (r = load_plugin(x, g, "flasher", "dfuse", &d->flasher)) < 0 ||
	    (r = load_plugin(x, g, "health", NULL, &d->health)) < 0)
		return r;
	const config_setting_t *fw = config_setting_get_member(g, "firmware");
	return fw ? load_firmware(x, fw, d) : 0;
}

/* A device's flasher selection: its serial and port (NULL when not set). */
static int selection(struct ctx *x, const struct device_config *d, const char **serial,
                     const char **port)
{
	static const char *const keys[] = {"serial", "port"};
	const char **out[] = {serial, port};
	for (int i = 0; i < 2; i++) {
		*out[i] = NULL;
		const config_setting_t *s =
		    d->flasher.section ? config_setting_get_member(d->flasher.section, keys[i])
		                       : NULL;
		if (s && config_setting_type(s) != CONFIG_TYPE_STRING)
			return bad(x, s, "expected a string in double quotes");
		if (s)
			*out[i] = config_setting_get_string(s);
	}
	return 0;
}

/* With several devices, each one's bootloader must be told apart from the
 * others' (they all enumerate as 0483:df11): a loose selection could flash
 * another chip. Two selections can match the same chip unless a key that
 * both set differs (serial A and port 1-1 match chip A on port 1-1). */
static int distinct_selections(struct ctx *x)
{
	struct config *c = x->c;
	const char *serial[CONFIG_MAX_DEVICES], *port[CONFIG_MAX_DEVICES];
	for (size_t i = 0; i < c->device_count; i++) {
		const struct device_config *d = &c->devices[i];
		const config_setting_t *at =
		    d->flasher.section
		        ? d->flasher.section
		        : config_setting_get_elem(config_lookup(&c->cfg, "devices"), (unsigned)i);
		int r = selection(x, d, &serial[i], &port[i]);
		if (r < 0)
			return r;
		if (!serial[i] && !port[i])
			return bad(
			    x, at,
			    "with several devices, each flasher needs serial (the chip's "
			    "USB serial) or port (its USB port path) so that no device's update "
			    "can reach another chip");
		for (size_t k = 0; k < i; k++) {
			bool serials_differ =
			    serial[i] && serial[k] && strcasecmp(serial[i], serial[k]);
			bool ports_differ = port[i] && port[k] && strcmp(port[i], port[k]);
			if (serials_differ || ports_differ)
				continue;
			if ((serial[i] && serial[k]) || (port[i] && port[k]))
				return bad(x, at, "%s \"%s\" also selects device %s (line %d)",
				           serial[i] && serial[k] ? "serial" : "port",
				           serial[i] && serial[k] ? serial[i] : port[i],
				           c->devices[k].name, c->devices[k].line);
			return bad(x, at,
			           "%s \"%s\" and device %s's %s \"%s\" (line %d) could both match "
			           "one chip: select every device by serial, or every one by port",
			           serial[i] ? "serial" : "port", serial[i] ? serial[i] : port[i],
			           c->devices[k].name, serial[k] ? "serial" : "port",
			           serial[k] ? serial[k] : port[k], c->devices[k].line);
		}
	}
	return 0;
}

/* The settings at the top: the folders and the log level. */
static int load_top(struct ctx *x, const config_setting_t *root)
{
	static const char *const levels[] = {"error", "warning", "info", "debug"};
	struct config *c = x->c;
	int r;
	c->state_dir = CONFIG_DEFAULT_STATE_DIR;
	if ((r = get_string(x, root, "state_dir", false, &c->state_dir)) < 0)
		return r;
	if (c->state_dir[0] != '/')
		return bad(x, config_setting_get_member(root, "state_dir"),
		           "\"%s\" is relative: give an absolute path (the journal must be found "
		           "whatever the working directory)",
		           c->state_dir);
	if ((r = get_string(x, root, "plugin_dir", false, &c->plugin_dir)) < 0 ||
	    (c->plugin_dir && (r = absolute(x, root, "plugin_dir", c->plugin_dir)) < 0))
		return r;
	c->cache_dir = CONFIG_DEFAULT_CACHE_DIR;
	if ((r = get_string(x, root, "cache_dir", false, &c->cache_dir)) < 0 ||
	    (r = absolute(x, root, "cache_dir", c->cache_dir)) < 0)
		return r;
	const char *level = NULL;
	c->log_level = -1;
	if ((r = get_string(x, root, "log_level", false, &level)) < 0)
		return r;
	for (int i = 0; level && i < 4; i++)
		if (!strcmp(level, levels[i]))
			c->log_level = i;
	if (level && c->log_level < 0)
		return bad(x, config_setting_get_member(root, "log_level"),
		           "\"%s\": expected \"error\", \"warning\", \"info\" or \"debug\"", level);
	return 0;
}

/* devices = ( {...}, ... ): each one, names unique, selections distinct. */
static int load_devices(struct ctx *x, const config_setting_t *root)
{
	struct config *c = x->c;
	const config_setting_t *devs = config_setting_get_member(root, "devices");
	if (!devs)
		return bad(x, root,
		           "\"devices\" is missing: devices = ( { name = \"...\"; ... } );");
	if (config_setting_type(devs) != CONFIG_TYPE_LIST)
		return bad(x, devs, "expected a list ( { ... }, { ... } )");
	int n = config_setting_length(devs);
	if (n > CONFIG_MAX_DEVICES)
		return bad(x, devs, "at most %d devices", CONFIG_MAX_DEVICES);
	for (int i = 0; i < n; i++) {
		struct device_config *d = &c->devices[i];
		const config_setting_t *g = config_setting_get_elem(devs, (unsigned)i);
		int r = load_device(x, g, d);
		if (r < 0)
			return r;
		for (int k = 0; k < i; k++)
			if (!strcmp(c->devices[k].name, d->name))
				return bad(x, config_setting_get_member(g, "name"),
				           "\"%s\" is already the name of the device at line %d",
				           d->name, c->devices[k].line);
		c->device_count++;
	}
	return n > 1 ? distinct_selections(x) : 0;
}

static int load(struct ctx *x)
{
	static const char *const known[] = {"state_dir", "plugin_dir", "cache_dir", "log_level",
	                                    "daemon",    "bundle",     "fetch",     "hardware",
	                                    "devices",   NULL};
	struct config *c = x->c;
	const config_setting_t *root = config_root_setting(&c->cfg);
	int r = only_known(x, root, known, "the file");
	if (r < 0 || (r = load_top(x, root)) < 0)
		return r;
	c->daemon.socket = CONFIG_DEFAULT_SOCKET;
	c->daemon.poll_interval_s = CONFIG_DEFAULT_POLL_INTERVAL_S;
	c->daemon.poll_jitter_s = CONFIG_DEFAULT_POLL_JITTER_S;
	const config_setting_t *dm = config_setting_get_member(root, "daemon");
	if (dm && (r = load_daemon(x, dm)) < 0)
		return r;
	const config_setting_t *b = config_setting_get_member(root, "bundle");
	if (!b)
		return bad(x, root,
		           "\"bundle\" is missing: bundle = { keys = [\"release.pem\"]; } "
		           "says who may sign firmware");
	if ((r = load_bundle(x, b)) < 0)
		return r;
	const config_setting_t *f = config_setting_get_member(root, "fetch");
	if (f && (r = load_fetch(x, f)) < 0)
		return r;
	c->hardware.revision_file = CONFIG_DEFAULT_HWREVISION_FILE;
	const config_setting_t *hw = config_setting_get_member(root, "hardware");
	if (hw && (r = load_hardware(x, hw)) < 0)
		return r;
	return load_devices(x, root);
}

/* libconfig 1.5 reads an integer without the L suffix into 32 bits and
 * wraps larger ones silently (4294967296 becomes 0). Find such a literal in
 * the text first: 0 when there is none, else its line and text. */
static int wide_integer(const char *t, size_t len, char *tok, size_t toklen)
{
	int line = 1;
	for (size_t i = 0; i < len; i++) {
		char ch = t[i];
		if (ch == '\n') {
			line++;
		} else if (ch == '"') { /* a string, with its escapes */
			for (i++; i < len && t[i] != '"'; i++)
				if (t[i] == '\\')
					i++;
				else if (t[i] == '\n')
					line++;
		} else if (ch == '#' || (ch == '/' && i + 1 < len && t[i + 1] == '/')) {
			while (i + 1 < len && t[i + 1] != '\n')
				i++;
		} else if (ch == '/' && i + 1 < len && t[i + 1] == '*') {
			for (i += 2; i + 1 < len && !(t[i] == '*' && t[i + 1] == '/'); i++)
				if (t[i] == '\n')
					line++;
			i++;
		} else if (isdigit((unsigned char)ch) &&
		           (i == 0 || !(isalnum((unsigned char)t[i - 1]) || t[i - 1] == '_' ||
		                        t[i - 1] == '.'))) {
			size_t e = i;
			bool hex = ch == '0' && i + 1 < len && (t[i + 1] == 'x' || t[i + 1] == 'X');
			e += hex ? 2 : 0;
			while (e < len &&
			       (hex ? isxdigit((unsigned char)t[e]) : isdigit((unsigned char)t[e])))
				e++;
			bool suffix = e < len && (t[e] == 'L' || t[e] == 'l');
			bool real = !hex && e < len && (t[e] == '.' || t[e] == 'e' || t[e] == 'E');
			char num[64];
			snprintf(num, sizeof(num), "%.*s", (int)(e - i < 63 ? e - i : 63), t + i);
			errno = 0;
			unsigned long long v = strtoull(num, NULL, hex ? 16 : 10);
			bool wide =
			    errno == ERANGE || (hex ? v > 0xFFFFFFFFull : v > 0x7FFFFFFFull);
			if (wide && !suffix && !real) {
				snprintf(tok, toklen, "%s", num);
				return line;
			}
			i = e > i ? e - 1 : i;
		}
	}
	return 0;
}

/* The first integer setting on that line of the main file (read from
 * memory: no source file name), or NULL. */
static const config_setting_t *setting_at_line(const config_setting_t *s, int line)
{
	int t = config_setting_type(s);
	if ((t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) &&
	    (int)config_setting_source_line(s) == line && config_setting_parent(s) &&
	    !config_setting_source_file(s))
		return s;
	if (t != CONFIG_TYPE_GROUP && t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY)
		return NULL;
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *m =
		    setting_at_line(config_setting_get_elem(s, (unsigned)i), line);
		if (m)
			return m;
	}
	return NULL;
}

/* libconfig 1.5's scanner exits the process ("input in flex scanner failed")
 * when an @include names a folder, and would block on a FIFO: every include,
 * and the includes of included files, must name a regular file (or nothing,
 * which libconfig reports). Names with escapes are refused: they could spell
 * anything. file is where text came from, dir where libconfig looks. */
static int check_includes(const char *dir, const char *file, const char *text, int depth, char *err,
                          size_t errlen);

/* The file inc, included at depth, checked as the main file is: who may
 * change it, and its own includes. What cannot be read is libconfig's to
 * report. */
static int check_included(const char *dir, const char *inc, off_t size, int depth, char *err,
                          size_t errlen)
{
	_cleanup_(fclosep) FILE *f = fopen(inc, "re");
	if (!f)
		return 0;
	/* an included file is as much the configuration as the main one */
	int r = trusted_file_check_fd(fileno(f), "configuration", inc, TRUSTED_PUBLIC, err, errlen);
	if (r < 0 || size > CONFIG_MAX_FILE_SIZE)
		return r;
	_cleanup_(freep) char *text = calloc(1, (size_t)size + 1);
	if (text && fread(text, 1, (size_t)size, f) == (size_t)size)
		return check_includes(dir, inc, text, depth + 1, err, errlen);
	return 0;
}

static int check_includes(const char *dir, const char *file, const char *text, int depth, char *err,
                          size_t errlen)
{
	int line = 1;
	for (const char *p = text; *p; line++) {
		const char *q = p + strspn(p, " \t");
		size_t blanks = strncmp(q, "@include", 8) ? 0 : strspn(q + 8, " \t");
		if (blanks && q[8 + blanks] == '"') {
			const char *name = q + 9 + blanks;
			size_t n = strcspn(name, "\"\\\n");
			char inc[4096];
			struct stat st;
			if (name[n] != '"') {
				mcu_ota_set_error(
				    err, errlen,
				    "%s:%d: @include: give the file name without escapes", file,
				    line);
				return -EINVAL;
			}
			snprintf(inc, sizeof(inc), "%s%s%.*s", dir ? dir : "", dir ? "/" : "",
			         (int)n, name);
			bool found = stat(inc, &st) == 0;
			if (found && !S_ISREG(st.st_mode)) {
				mcu_ota_set_error(
				    err, errlen,
				    "%s:%d: @include \"%.*s\": %s is not a regular file", file,
				    line, (int)n, name, inc);
				return -EINVAL;
			}
			int r = depth < 10 && found
			            ? check_included(dir, inc, st.st_size, depth, err, errlen)
			            : 0;
			if (r < 0)
				return r;
		}
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
	return 0;
}

/* path's text, read once (NUL-terminated, malloc'd into *out): a regular
 * file of at most CONFIG_MAX_FILE_SIZE that others may not change. */
static int read_text(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
	_cleanup_(fclosep) FILE *f = fopen(path, "re");
	struct stat st;
	if (!f || fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONFIG_MAX_FILE_SIZE) {
		int r = !f ? -errno : !S_ISREG(st.st_mode) ? -EISDIR : -EFBIG;
		mcu_ota_set_error(err, errlen, "cannot read the configuration %s: %s", path,
		                  r == -EISDIR  ? "not a regular file"
		                  : r == -EFBIG ? "larger than 1 MiB"
		                                : strerror(-r));
		return r == -EISDIR || r == -EFBIG ? -EINVAL : r;
	}
	/* whoever may rewrite the configuration chooses the keys firmware is checked with */
	int trust =
	    trusted_file_check_fd(fileno(f), "configuration", path, TRUSTED_PUBLIC, err, errlen);
	if (trust < 0)
		return trust;
	_cleanup_(freep) char *text = malloc((size_t)st.st_size + 1);
	size_t len = text ? fread(text, 1, (size_t)st.st_size, f) : 0;
	if (!text || ferror(f)) {
		mcu_ota_set_error(err, errlen, "cannot read the configuration %s: %s", path,
		                  text ? "read error" : "out of memory");
		return text ? -EIO : -ENOMEM;
	}
	text[len] = '\0';
	*out = take_ptr(&text);
	*outlen = len;
	return 0;
}

/* text, c->path's, into c: its includes checked first, then parsed, then
 * each setting read and checked (load). */
static int parse(struct config *c, const char *path, const char *text, size_t len, char *err,
                 size_t errlen)
{
	char tok[64];
	int wide = wide_integer(text, len, tok, sizeof(tok));
	config_init(&c->cfg);
	snprintf(c->path, sizeof(c->path), "%s", path);
	/* @include "x.conf" is found beside the file, whatever the working directory */
	char dir[sizeof(c->path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		slash[slash == dir] = '\0';
		config_set_include_dir(&c->cfg, dir);
	}
	int r = check_includes(slash ? dir : NULL, path, text, 0, err, errlen);
	if (r < 0)
		return r;
	if (!config_read_string(&c->cfg, text)) {
		const char *file = config_error_file(&c->cfg);
		mcu_ota_set_error(err, errlen, "%s:%d: %s", file ? file : path,
		                  config_error_line(&c->cfg), config_error_text(&c->cfg));
		return -EINVAL;
	}
	struct ctx x = {c, err, errlen};
	if (wide) { /* named by its setting when one is on that line */
		const config_setting_t *at = setting_at_line(config_root_setting(&c->cfg), wide);
		if (at)
			return bad(&x, at,
			           "%s does not fit in 32 bits: write it as %sL (a 64-bit integer)",
			           tok, tok);
		mcu_ota_set_error(err, errlen,
		                  "%s:%d: %s does not fit in 32 bits: write it as %sL (a 64-bit "
		                  "integer)",
		                  path, wide, tok, tok);
		return -EINVAL;
	}
	return load(&x);
}

int config_load(const char *path, struct config *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	_cleanup_(freep) char *text = NULL;
	size_t len = 0;
	int r = read_text(path, &text, &len, err, errlen);
	if (r == 0 && (r = parse(c, path, text, len, err, errlen)) < 0)
		config_free(c);
	return r;
}

void config_free(struct config *c)
{
	config_destroy(&c->cfg); /* safe on a zeroed config_t as well */
	memset(c, 0, sizeof(*c));
}

const struct device_config *config_device(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->device_count; i++)
		if (!strcmp(c->devices[i].name, name))
			return &c->devices[i];
	return NULL;
}
