/* sw-description (libconfig syntax) -> struct swu_manifest. Only what mcu-ota
 * implements is accepted; every other setting is refused by name. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "bundle/swu_private.h"
#include "bundle/version.h"
#include "util/format.h"

#define SWU_MAX_STRING      1024 /* description */
#define SWU_MAX_DEVICE_NAME 64
#define SWU_MAX_HW_COMPAT   64

/* SWUpdate features and what to call them in a refusal. */
static const struct {
	const char *key;
	const char *what;
} unsupported_software[] =
    {
        {"scripts", "scripts"},
        {"embedded-script", "embedded Lua scripts"},
        {"files", "files"},
        {"partitions", "partitions"},
        {"bootenv", "bootloader environment"},
        {"uboot", "bootloader environment"},
        {"ref", "links (ref)"},
        {"mtd", "MTD settings"},
        {"reboot", "reboot control"},
        {"bootloader_transaction_marker", "bootloader markers"},
        {"bootloader_state_marker", "bootloader markers"},
        {"output", "output redirection"},
},
  unsupported_image[] = {
      {"compressed", "compressed images"},
      {"encrypted", "encrypted images"},
      {"ivt", "encrypted images"},
      {"installed-directly", "installed-directly (mcu-ota always streams)"},
      {"hook", "embedded script hooks"},
      {"ref", "links (ref)"},
      {"name", "image names (mcu-ota identifies images by device)"},
      {"volume", "UBI volumes"},
      {"mtdname", "MTD devices"},
      {"offset", "offsets (use properties.address)"},
      {"data", "handler data"},
      {"preserve-attributes", "archive attributes"},
      {"path", "file paths"},
      {"filesystem", "filesystems"},
      {"sha1", "SHA-1 hashes"},
      {"md5", "MD5 hashes"},
      {"chain-handler", "chained handlers"},
};

static const char *unsupported_what(const char *key, bool image)
{
	size_t n = image ? sizeof(unsupported_image) / sizeof(*unsupported_image)
	                 : sizeof(unsupported_software) / sizeof(*unsupported_software);
	for (size_t i = 0; i < n; i++) {
		const char *k = image ? unsupported_image[i].key : unsupported_software[i].key;
		if (strcmp(k, key) == 0)
			return image ? unsupported_image[i].what : unsupported_software[i].what;
	}
	return NULL;
}

/* "software.images[1].sha256" for messages. */
static void setting_path(config_setting_t *s, char *out, size_t outlen)
{
	config_setting_t *chain[16];
	size_t depth = 0, used = 0;

	for (; s && !config_setting_is_root(s) && depth < 16; s = config_setting_parent(s))
		chain[depth++] = s;
	out[0] = '\0';
	while (depth-- > 0 && used < outlen) {
		const char *name = config_setting_name(chain[depth]);
		int n = name ? snprintf(out + used, outlen - used, "%s%s", used ? "." : "", name)
		             : snprintf(out + used, outlen - used, "[%d]",
		                        config_setting_index(chain[depth]));
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

__attribute__((format(printf, 4, 5))) static int fail_at(config_setting_t *s, char *err,
                                                         size_t errlen, const char *fmt, ...)
{
	char path[256], msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	setting_path(s, path, sizeof(path));
	mcu_ota_set_error(err, errlen, "sw-description line %u: %s: %s",
	                  config_setting_source_line(s), path, msg);
	return -EBADMSG;
}

static int refuse(config_setting_t *s, const char *what, char *err, size_t errlen)
{
	char path[256];
	setting_path(s, path, sizeof(path));
	mcu_ota_set_error(err, errlen, "sw-description line %u: %s: mcu-ota does not support %s",
	                  config_setting_source_line(s), path, what);
	return -ENOTSUP;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* A string setting, copied. */
static int get_string(config_setting_t *s, size_t maxlen, char **out, char *err, size_t errlen)
{
	const char *v;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail_at(s, err, errlen, "%s", "must be a string");
	v = config_setting_get_string(s);
	if (!v || strlen(v) > maxlen)
		return fail_at(s, err, errlen, "longer than %zu bytes", maxlen);
	if (!printable(v))
		return fail_at(s, err, errlen, "%s", "contains control characters");
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

static int get_bool(config_setting_t *s, bool *out, char *err, size_t errlen)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return fail_at(s, err, errlen, "%s", "must be true or false");
	*out = config_setting_get_bool(s);
	return 0;
}

/* An unsigned number: an integer setting, or a string "123" / "0x7b". */
static int get_u64(config_setting_t *s, uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	long long v;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		v = config_setting_get_int64(s);
		if (v < 0)
			return fail_at(s, err, errlen, "%s", "must not be negative");
		*out = (uint64_t)v;
		break;
	case CONFIG_TYPE_STRING: {
		/* decimal, or hex after 0x: a leading 0 is not octal */
		const char *str = config_setting_get_string(s);
		bool hex = str && str[0] == '0' && (str[1] == 'x' || str[1] == 'X');
		const char *digits = str ? str + (hex ? 2 : 0) : NULL;
		char *end;
		unsigned long long u;
		if (!digits ||
		    !(hex ? isxdigit((unsigned char)digits[0]) : isdigit((unsigned char)digits[0])))
			return fail_at(s, err, errlen, "\"%s\" is not a number", str ? str : "");
		errno = 0;
		u = strtoull(digits, &end, hex ? 16 : 10);
		if (errno || *end)
			return fail_at(s, err, errlen, "\"%s\" is not a number", str);
		*out = u;
		break;
	}
	default:
		return fail_at(s, err, errlen, "%s", "must be a number");
	}
	if (*out > max)
		return fail_at(s, err, errlen, "%" PRIu64 " is larger than %" PRIu64, *out, max);
	return 0;
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int get_sha256(config_setting_t *s, struct swu_image *img, char *err, size_t errlen)
{
	const char *v;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail_at(s, err, errlen, "%s", "must be a string of 64 hex digits");
	v = config_setting_get_string(s);
	if (!v || strlen(v) != 64)
		return fail_at(s, err, errlen, "%s", "must be 64 hex digits");
	for (int i = 0; i < 32; i++) {
		int hi = hex_nibble(v[2 * i]), lo = hex_nibble(v[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return fail_at(s, err, errlen, "%s", "must be 64 hex digits");
		img->sha256[i] = (uint8_t)(hi << 4 | lo);
	}
	hex_encode(img->sha256, 32, img->sha256_hex);
	return 0;
}

bool swu_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > SWU_MAX_NAME || strchr(name, '/') || strstr(name, ".."))
		return false;
	/* also ".": and the directory sink's ".<name>.part" and ".old" files */
	if (name[0] == '.')
		return false;
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

static bool device_name_valid(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

static int parse_properties(config_setting_t *props, struct swu_image *img, char *err,
                            size_t errlen)
{
	if (config_setting_type(props) != CONFIG_TYPE_GROUP)
		return fail_at(props, err, errlen, "%s", "must be a group { ... }");
	for (int i = 0; i < config_setting_length(props); i++) {
		config_setting_t *p = config_setting_get_elem(props, (unsigned)i);
		const char *name = config_setting_name(p);
		int r;

		if (strcmp(name, "address") == 0) {
			uint64_t a;
			r = get_u64(p, UINT32_MAX, &a, err, errlen);
			if (r < 0)
				return r;
			img->address = (uint32_t)a;
			img->has_address = true;
		} else if (strcmp(name, "format") == 0) {
			const char *f = config_setting_type(p) == CONFIG_TYPE_STRING
			                    ? config_setting_get_string(p)
			                    : NULL;
			if (!f || image_format_parse(f, &img->format) < 0)
				return fail_at(
				    p, err, errlen, "%s",
				    "must be \"bin\", \"hex\", \"dfu\", \"elf\" or \"auto\"");
		} else {
			return refuse(p, "this property", err, errlen);
		}
	}
	return 0;
}

static int parse_image(config_setting_t *e, const struct swu_limits *limits, struct swu_image *img,
                       char *err, size_t errlen)
{
	config_setting_t *s;
	int r = 0;

	img->line = config_setting_source_line(e);
	img->address = IMAGE_DEFAULT_ADDRESS;
	img->format = IMAGE_FORMAT_AUTO;
	if (config_setting_type(e) != CONFIG_TYPE_GROUP)
		return fail_at(e, err, errlen, "%s", "an image must be a group { ... }");

	for (int i = 0; i < config_setting_length(e) && r == 0; i++) {
		const char *name, *what;
		s = config_setting_get_elem(e, (unsigned)i);
		name = config_setting_name(s);
		if (strcmp(name, "filename") == 0) {
			r = get_string(s, SWU_MAX_NAME, &img->filename, err, errlen);
			if (r == 0 && (!swu_name_valid(img->filename) ||
			               strcmp(img->filename, SWU_DESCRIPTION_NAME) == 0 ||
			               strcmp(img->filename, SWU_SIGNATURE_NAME) == 0 ||
			               strcmp(img->filename, "TRAILER!!!") == 0))
				r = fail_at(
				    s, err, errlen,
				    "\"%s\" is not a plain file name (no '/', no \"..\", not a "
				    "reserved name)",
				    img->filename);
		} else if (strcmp(name, "type") == 0) {
			r = get_string(s, 64, &img->type, err, errlen);
			if (r == 0 && strcmp(img->type, "mcu-ota") != 0) {
				mcu_ota_set_error(
				    err, errlen,
				    "sw-description line %u: image type \"%s\" is not supported "
				    "by mcu-ota (use type = \"mcu-ota\")",
				    config_setting_source_line(s), img->type);
				r = -ENOTSUP;
			}
		} else if (strcmp(name, "device") == 0) {
			r = get_string(s, SWU_MAX_DEVICE_NAME, &img->device, err, errlen);
			if (r == 0 && !device_name_valid(img->device))
				r = fail_at(s, err, errlen,
				            "\"%s\" is not a device name ([A-Za-z0-9._-])",
				            img->device);
		} else if (strcmp(name, "version") == 0) {
			r = get_string(s, VERSION_MAX_LEN, &img->version, err, errlen);
			if (r == 0 && !version_valid(img->version))
				r = fail_at(
				    s, err, errlen,
				    "\"%s\" is not a version (dotted numbers, optional -suffix)",
				    img->version);
		} else if (strcmp(name, "sha256") == 0) {
			r = get_sha256(s, img, err, errlen);
		} else if (strcmp(name, "size") == 0) {
			r = get_u64(s, limits->max_image, &img->size, err, errlen);
			if (r == -EBADMSG && img->size > limits->max_image) {
				mcu_ota_set_error(err, errlen,
				                  "sw-description line %u: image size %" PRIu64
				                  " is larger than the limit of %" PRIu64 " bytes",
				                  config_setting_source_line(s), img->size,
				                  limits->max_image);
				r = -EFBIG;
			}
			img->has_size = r == 0;
		} else if (strcmp(name, "install-if-different") == 0) {
			r = get_bool(s, &img->install_if_different, err, errlen);
		} else if (strcmp(name, "install-if-higher") == 0) {
			r = get_bool(s, &img->install_if_higher, err, errlen);
		} else if (strcmp(name, "properties") == 0) {
			r = parse_properties(s, img, err, errlen);
		} else if ((what = unsupported_what(name, true))) {
			r = refuse(s, what, err, errlen);
		} else {
			r = refuse(s, "this setting", err, errlen);
		}
	}
	if (r < 0)
		return r;
	if (!img->filename)
		return fail_at(e, err, errlen, "%s", "image without filename");
	if (!img->type) {
		mcu_ota_set_error(
		    err, errlen,
		    "sw-description line %d: image \"%s\" has no type (mcu-ota needs type = "
		    "\"mcu-ota\")",
		    img->line, img->filename);
		return -EBADMSG;
	}
	if (!img->device)
		return fail_at(e, err, errlen, "image \"%s\" has no device", img->filename);
	if (!img->sha256_hex[0]) {
		mcu_ota_set_error(err, errlen, "sw-description line %d: image \"%s\" has no sha256",
		                  img->line, img->filename);
		return -EBADMSG;
	}
	if ((img->install_if_different || img->install_if_higher) && !img->version)
		return fail_at(e, err, errlen,
		               "image \"%s\": install-if-different/-higher need a version",
		               img->filename);
	return 0;
}

static int parse_images(config_setting_t *list, const struct swu_limits *limits,
                        struct swu_manifest *m, char *err, size_t errlen)
{
	int count;

	if (config_setting_type(list) != CONFIG_TYPE_LIST)
		return fail_at(list, err, errlen, "%s", "must be a list ( {...}, ... )");
	count = config_setting_length(list);
	if (count == 0)
		return fail_at(list, err, errlen, "%s", "no image listed");
	if ((uint32_t)count > limits->max_images) {
		mcu_ota_set_error(
		    err, errlen,
		    "sw-description line %u: %d images, more than the limit of %" PRIu32,
		    config_setting_source_line(list), count, limits->max_images);
		return -EFBIG;
	}
	m->images = calloc((size_t)count, sizeof(*m->images));
	if (!m->images)
		return -ENOMEM;
	for (int i = 0; i < count; i++) {
		struct swu_image *img = &m->images[i];
		int r = parse_image(config_setting_get_elem(list, (unsigned)i), limits, img, err,
		                    errlen);
		m->image_count++;
		if (r < 0)
			return r;
		for (int j = 0; j < i; j++) {
			const struct swu_image *o = &m->images[j];
			if (strcmp(o->device, img->device) == 0) {
				mcu_ota_set_error(
				    err, errlen,
				    "sw-description line %d: device \"%s\" already has an image "
				    "(line %d)",
				    img->line, img->device, o->line);
				return -EBADMSG;
			}
			/* One file may serve several devices, with one hash. */
			if (strcmp(o->filename, img->filename) == 0 &&
			    (memcmp(o->sha256, img->sha256, 32) != 0 ||
			     (o->has_size && img->has_size && o->size != img->size))) {
				mcu_ota_set_error(
				    err, errlen,
				    "sw-description line %d: \"%s\" is listed at line %d with "
				    "another sha256 or size",
				    img->line, img->filename, o->line);
				return -EBADMSG;
			}
		}
	}
	return 0;
}

static int parse_hw_compat(config_setting_t *s, struct swu_manifest *m, char *err, size_t errlen)
{
	int count;

	if (config_setting_type(s) != CONFIG_TYPE_ARRAY)
		return fail_at(s, err, errlen, "%s", "must be an array [ \"...\", ... ]");
	count = config_setting_length(s);
	if (count > SWU_MAX_HW_COMPAT)
		return fail_at(s, err, errlen, "more than %d entries", SWU_MAX_HW_COMPAT);
	m->hardware_compatibility = calloc((size_t)count + 1, sizeof(char *));
	if (!m->hardware_compatibility)
		return -ENOMEM;
	for (int i = 0; i < count; i++) {
		int r = get_string(config_setting_get_elem(s, (unsigned)i), 64,
		                   &m->hardware_compatibility[i], err, errlen);
		if (r < 0)
			return r;
		m->hardware_compatibility_count++;
	}
	return 0;
}

/* libconfig would open files named by @include: sw-description must be
 * self-contained (SWUpdate says so too). */
static int check_no_include(const char *text, char *err, size_t errlen)
{
	int line = 1;
	for (const char *p = text; *p; line++) {
		const char *q = p + strspn(p, " \t");
		if (*q == '@') {
			mcu_ota_set_error(
			    err, errlen,
			    "sw-description line %d: directives (@include) are not supported",
			    line);
			return -ENOTSUP;
		}
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
	return 0;
}

/* How a number token of libconfig 1.5 reads: [-+]?[0-9]+ or 0[xX][0-9a-fA-F]+,
 * an L or LL suffix making it 64-bit. Without the suffix libconfig keeps the
 * low 32 bits, silently (0x108000000 reads as 0x08000000, 0x90000000 as a
 * negative number): refuse what does not fit in 31 bits, and with the suffix
 * what does not fit in 63. Returns the length of the token at p. */
static size_t check_number(const char *p, int line, int *r, char *err, size_t errlen)
{
	bool hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
	const char *q = p + (hex ? 2 : 0);
	uint64_t v = 0;
	bool overflow = false, wide;
	size_t n;

	for (; hex ? isxdigit((unsigned char)*q) : isdigit((unsigned char)*q); q++) {
		unsigned d = isdigit((unsigned char)*q)
		                 ? (unsigned)(*q - '0')
		                 : (unsigned)(tolower((unsigned char)*q) - 'a' + 10);
		unsigned base = hex ? 16 : 10;
		if (v > (UINT64_MAX - d) / base)
			overflow = true;
		else
			v = v * base + d;
	}
	if (!hex && (*q == '.' || *q == 'e' || *q == 'E')) {
		/* a float: not an integer libconfig could cut */
		while (isalnum((unsigned char)*q) || *q == '.' || *q == '+' || *q == '-')
			q++;
		return (size_t)(q - p);
	}
	wide = *q == 'L';
	while (*q == 'L')
		q++;
	n = (size_t)(q - p);
	if (overflow || v > (wide ? (uint64_t)INT64_MAX : (uint64_t)INT32_MAX)) {
		if (wide)
			mcu_ota_set_error(
			    err, errlen,
			    "sw-description line %d: %.*s does not fit in 64 bits signed", line,
			    (int)(n < 40 ? n : 40), p);
		else
			mcu_ota_set_error(
			    err, errlen,
			    "sw-description line %d: %.*s does not fit in a libconfig integer "
			    "(32 bits signed, which would keep only its low bits): write %.*sL "
			    "or \"%.*s\"",
			    line, (int)(n < 40 ? n : 40), p, (int)(n < 40 ? n : 40), p,
			    (int)(n < 40 ? n : 40), p);
		*r = -EBADMSG;
	}
	return n;
}

/* Walk the libconfig text as its scanner does (strings, comments, names,
 * numbers) and check every integer literal before libconfig reads it. */
static int check_integers(const char *text, char *err, size_t errlen)
{
	const char *p = text;
	int line = 1, r = 0;

	while (*p && r == 0) {
		if (*p == '\n') {
			line++;
			p++;
		} else if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				if (*p == '\n')
					line++;
			}
			if (*p)
				p++;
		} else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
			p += strcspn(p, "\n");
		} else if (p[0] == '/' && p[1] == '*') {
			for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
				if (*p == '\n')
					line++;
			if (*p)
				p += 2;
		} else if (isalpha((unsigned char)*p) || *p == '*') {
			while (isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '*')
				p++;
		} else if (isdigit((unsigned char)*p)) {
			p += check_number(p, line, &r, err, errlen);
		} else if (*p == '.' && isdigit((unsigned char)p[1])) {
			/* a float like .5 */
			for (p++;
			     isalnum((unsigned char)*p) || *p == '.' || *p == '+' || *p == '-';)
				p++;
		} else {
			p++;
		}
	}
	return r;
}

int swu_manifest_parse(const char *text, size_t len, const struct swu_limits *limits_in,
                       struct swu_manifest *m, char *err, size_t errlen)
{
	_cleanup_(config_destroyp) config_t *cfg = NULL;
	config_t cfg_storage;
	struct swu_limits limits;
	config_setting_t *root, *sw;
	char *copy;
	int r = 0;

	memset(m, 0, sizeof(*m));
	swu_limits_resolve(limits_in, &limits);
	if (len > limits.max_description) {
		mcu_ota_set_error(err, errlen,
		                  "sw-description is %zu bytes, more than the limit of %" PRIu32,
		                  len, limits.max_description);
		return -EFBIG;
	}
	if (memchr(text, '\0', len)) {
		mcu_ota_set_error(err, errlen, "%s", "sw-description contains a NUL byte");
		return -EBADMSG;
	}
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	r = check_no_include(copy, err, errlen);
	if (r == 0)
		r = check_integers(copy, err, errlen);
	if (r < 0) {
		free(copy);
		return r;
	}
	config_init(&cfg_storage);
	cfg = &cfg_storage;
	config_set_auto_convert(cfg, 0);
	if (config_read_string(cfg, copy) != CONFIG_TRUE) {
		mcu_ota_set_error(err, errlen, "sw-description line %d: %s", config_error_line(cfg),
		                  config_error_text(cfg) ? config_error_text(cfg) : "syntax error");
		free(copy);
		return -EBADMSG;
	}
	free(copy);

	root = config_root_setting(cfg);
	sw = NULL;
	for (int i = 0; i < config_setting_length(root); i++) {
		config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		if (strcmp(config_setting_name(s), "software") == 0) {
			sw = s;
		} else {
			r = refuse(s, "top-level settings other than \"software\"", err, errlen);
			goto fail;
		}
	}
	if (!sw || config_setting_type(sw) != CONFIG_TYPE_GROUP) {
		mcu_ota_set_error(err, errlen, "%s",
		                  "sw-description has no \"software = { ... }\" group");
		r = -EBADMSG;
		goto fail;
	}
	for (int i = 0; i < config_setting_length(sw) && r == 0; i++) {
		config_setting_t *s = config_setting_get_elem(sw, (unsigned)i);
		const char *name = config_setting_name(s), *what;

		if (strcmp(name, "version") == 0) {
			r = get_string(s, VERSION_MAX_LEN, &m->version, err, errlen);
			/* it is the version of every image without its own: the
			 * same grammar (issue 12, finding 12) */
			if (r == 0 && !m->version[0])
				r = fail_at(s, err, errlen, "%s", "is empty");
			else if (r == 0 && !version_valid(m->version))
				r = fail_at(s, err, errlen,
				            "\"%s\" is not a version (dotted numbers, optional "
				            "-suffix, e.g. \"2.1.0\")",
				            m->version);
		} else if (strcmp(name, "description") == 0) {
			r = get_string(s, SWU_MAX_STRING, &m->description, err, errlen);
		} else if (strcmp(name, "hardware-compatibility") == 0) {
			r = parse_hw_compat(s, m, err, errlen);
		} else if (strcmp(name, "images") == 0) {
			r = parse_images(s, &limits, m, err, errlen);
		} else if ((what = unsupported_what(name, false))) {
			r = refuse(s, what, err, errlen);
		} else if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
			r = refuse(s, "board and software-set selections", err, errlen);
		} else {
			r = refuse(s, "this setting", err, errlen);
		}
	}
	if (r < 0)
		goto fail;
	if (!m->version) {
		mcu_ota_set_error(err, errlen, "sw-description line %u: software has no version",
		                  config_setting_source_line(sw));
		r = -EBADMSG;
		goto fail;
	}
	if (!m->images) {
		mcu_ota_set_error(err, errlen, "sw-description line %u: software has no images",
		                  config_setting_source_line(sw));
		r = -EBADMSG;
		goto fail;
	}
	m->description_size = (uint32_t)len;
	return 0;
fail:
	swu_manifest_clear(m);
	return r;
}

void swu_manifest_clear(struct swu_manifest *m)
{
	if (!m)
		return;
	free(m->version);
	free(m->description);
	for (size_t i = 0; i < m->hardware_compatibility_count; i++)
		free(m->hardware_compatibility[i]);
	free(m->hardware_compatibility);
	for (size_t i = 0; i < m->image_count; i++) {
		free(m->images[i].filename);
		free(m->images[i].type);
		free(m->images[i].device);
		free(m->images[i].version);
	}
	free(m->images);
	memset(m, 0, sizeof(*m));
}

const struct swu_image *swu_manifest_find(const struct swu_manifest *m, const char *name)
{
	for (size_t i = 0; m && i < m->image_count; i++)
		if (strcmp(m->images[i].filename, name) == 0)
			return &m->images[i];
	return NULL;
}
