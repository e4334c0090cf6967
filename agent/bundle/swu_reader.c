/* The streaming .swu reader: a cpio newc/crc state machine fed in arbitrary
 * chunks (see swu.h for the order of checks). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "bundle/swu_private.h"
#include "util/format.h"
#include "util/log.h"

#define CPIO_HEADER_SIZE 110
#define CPIO_TRAILER     "TRAILER!!!"
#define CPIO_S_IFMT      0170000u
#define CPIO_S_IFREG     0100000u

enum reader_state {
	S_HEADER,   /* collecting the 110-byte header */
	S_NAME,     /* collecting namesize bytes */
	S_NAME_PAD, /* zeros up to 4-byte alignment */
	S_DATA,     /* filesize bytes */
	S_DATA_PAD, /* zeros up to 4-byte alignment */
	S_END,      /* after TRAILER!!!: zeros only */
	S_FAILED,
};

enum entry_kind { E_DESCRIPTION, E_SIGNATURE, E_IMAGE, E_TRAILER };

enum image_state { IMG_NONE, IMG_OPEN, IMG_SKIPPED, IMG_COMMITTED };

struct swu_reader {
	struct swu_trust_store trust;
	struct swu_limits limits;
	const struct swu_sink_ops *ops;
	void *ctx;
	bool verify; /* trust anchors present: the signature is required */

	uint64_t offset;
	enum reader_state state;
	unsigned entry_index;
	bool magic_known, crc;

	/* the current entry */
	uint8_t header[CPIO_HEADER_SIZE];
	size_t header_len;
	char name[SWU_MAX_NAME + 1];
	uint32_t namesize, name_len;
	uint32_t mode, filesize, check, sum;
	uint32_t data_done;
	uint32_t pad_left;
	enum entry_kind kind;
	size_t image; /* first manifest image with the entry's name */

	uint8_t *description;
	uint32_t description_len;
	bool description_crc_bad;
	uint32_t description_check, description_sum;
	uint8_t *signature;
	uint32_t signature_len;
	bool has_signature;

	bool manifest_ready;
	struct swu_manifest manifest;
	enum image_state *image_state;
	bool *seen; /* per manifest image: its file was in the archive */
	EVP_MD_CTX *md;

	uint64_t trailing;
	bool done, finished;
	int error;
	char message[512];
};

/* ---- helpers ---- */

void swu_limits_resolve(const struct swu_limits *in, struct swu_limits *out)
{
	struct swu_limits l = in ? *in : (struct swu_limits){0};
	if (!l.max_bundle)
		l.max_bundle = SWU_DEFAULT_MAX_BUNDLE;
	if (!l.max_description)
		l.max_description = SWU_DEFAULT_MAX_DESCRIPTION;
	if (!l.max_signature)
		l.max_signature = SWU_DEFAULT_MAX_SIGNATURE;
	if (!l.max_images)
		l.max_images = SWU_DEFAULT_MAX_IMAGES;
	if (!l.max_image)
		l.max_image = SWU_DEFAULT_MAX_IMAGE;
	*out = l;
}

/* The entry's name made safe to print. */
static const char *printable_name(const struct swu_reader *r, char *buf, size_t len)
{
	size_t i = 0;
	for (const char *p = r->name; *p && i + 1 < len; p++)
		buf[i++] = ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) ? '?' : *p;
	buf[i] = '\0';
	return buf;
}

static void abort_images(struct swu_reader *r)
{
	for (size_t i = 0; r->image_state && i < r->manifest.image_count; i++) {
		if (r->image_state[i] == IMG_OPEN || r->image_state[i] == IMG_COMMITTED)
			r->ops->abort(r->ctx, &r->manifest.images[i]);
		r->image_state[i] = IMG_NONE;
	}
}

__attribute__((format(printf, 3, 4))) static int fail(struct swu_reader *r, int code,
                                                      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
	r->error = code;
	r->state = S_FAILED;
	abort_images(r);
	log_debug("bundle: stopped at byte %" PRIu64 ": %s", r->offset, r->message);
	return code;
}

static int report(const struct swu_reader *r, char *err, size_t errlen)
{
	mcu_ota_set_error(err, errlen, "%s", r->message);
	return r->error;
}

static int crc_mismatch(struct swu_reader *r, const char *name, uint32_t check, uint32_t sum)
{
	return fail(r, -EBADMSG,
	            "entry \"%s\": cpio crc checksum mismatch (header %08" PRIx32
	            ", data %08" PRIx32 ")",
	            name, check, sum);
}

static int hex_field(const uint8_t *p, uint32_t *out)
{
	uint32_t v = 0;
	for (int i = 0; i < 8; i++) {
		uint8_t c = p[i];
		uint32_t d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

static uint32_t pad4(uint64_t n)
{
	return (uint32_t)((4 - (n & 3)) & 3);
}

/* ---- the manifest ---- */

static int manifest_establish(struct swu_reader *r)
{
	char msg[sizeof(r->message)];
	size_t n;
	int rc;

	if (r->verify) {
		if (!r->has_signature)
			return fail(r, -ENOKEY, "bundle is not signed (no sw-description.sig)");
		rc = swu_signature_verify(&r->trust, r->description, r->description_len,
		                          r->signature, r->signature_len, &r->manifest, msg,
		                          sizeof(msg));
		if (rc < 0)
			return fail(r, rc, "%s", msg);
	}
	/* Only now is sw-description believed. The signer survives parsing. */
	{
		struct swu_manifest sig = r->manifest;
		rc = swu_manifest_parse((const char *)r->description, r->description_len,
		                        &r->limits, &r->manifest, msg, sizeof(msg));
		if (rc < 0)
			return fail(r, rc, "%s", msg);
		r->manifest.signature_verified = sig.signature_verified;
		r->manifest.signature_kind = sig.signature_kind;
		memcpy(r->manifest.signer, sig.signer, sizeof(sig.signer));
	}
	if (!r->verify && r->has_signature)
		swu_signature_describe(r->signature, r->signature_len, &r->manifest);
	if (r->description_crc_bad)
		return crc_mismatch(r, SWU_DESCRIPTION_NAME, r->description_check,
		                    r->description_sum);
	r->manifest.cpio_crc = r->crc;
	EVP_Digest(r->description, r->description_len, r->manifest.description_sha256, NULL,
	           EVP_sha256(), NULL);
	n = r->manifest.image_count;
	r->image_state = calloc(n, sizeof(*r->image_state));
	r->seen = calloc(n, sizeof(*r->seen));
	if (!r->image_state || !r->seen)
		return fail(r, -ENOMEM, "out of memory");
	r->manifest_ready = true;
	if (r->ops && r->ops->manifest) {
		msg[0] = '\0';
		rc = r->ops->manifest(r->ctx, &r->manifest, msg, sizeof(msg));
		if (rc < 0)
			return fail(r, rc, "%s", msg[0] ? msg : "refused by the receiver");
	}
	return 0;
}

/* ---- entries ---- */

static int header_complete(struct swu_reader *r)
{
	uint32_t f[13];
	bool crc;

	if (memcmp(r->header, "070701", 6) == 0)
		crc = false;
	else if (memcmp(r->header, "070702", 6) == 0)
		crc = true;
	else if (r->entry_index == 0)
		return fail(r, -EBADMSG,
		            "not a .swu bundle: no cpio newc/crc header (070701/070702) at byte 0");
	else
		return fail(r, -EBADMSG, "corrupt cpio header at byte %" PRIu64 " (bad magic)",
		            r->offset - CPIO_HEADER_SIZE);
	if (r->magic_known && crc != r->crc)
		return fail(r, -EBADMSG,
		            "cpio entry at byte %" PRIu64 " mixes newc and crc formats",
		            r->offset - CPIO_HEADER_SIZE);
	r->magic_known = true;
	r->crc = crc;
	for (int i = 0; i < 13; i++)
		if (hex_field(r->header + 6 + 8 * i, &f[i]) < 0)
			return fail(r, -EBADMSG,
			            "corrupt cpio header at byte %" PRIu64 " (non-hex field)",
			            r->offset - CPIO_HEADER_SIZE);
	r->mode = f[1];
	r->filesize = f[6];
	r->namesize = f[11];
	r->check = f[12];
	if (r->namesize < 2 || r->namesize > SWU_MAX_NAME + 1)
		return fail(r, -EBADMSG,
		            "cpio entry at byte %" PRIu64 ": name length %" PRIu32
		            " out of range (1..%u)",
		            r->offset - CPIO_HEADER_SIZE, r->namesize, SWU_MAX_NAME);
	r->name_len = 0;
	r->state = S_NAME;
	return 0;
}

static int is(const struct swu_reader *r, const char *name)
{
	return strcmp(r->name, name) == 0;
}

/* An image entry starts: check it against the manifest, open the sinks. */
static int image_begin(struct swu_reader *r)
{
	struct swu_manifest *m = &r->manifest;
	char pn[SWU_MAX_NAME + 1];
	size_t first = m->image_count;

	if (is(r, SWU_DESCRIPTION_NAME) || is(r, SWU_SIGNATURE_NAME))
		return fail(r, -EBADMSG, "%s appears again at byte %" PRIu64, r->name, r->offset);
	if (!swu_name_valid(r->name))
		return fail(r, -EBADMSG,
		            "entry \"%s\" is not a plain file name (a path, \"..\" or odd "
		            "characters)",
		            printable_name(r, pn, sizeof(pn)));
	for (size_t i = 0; i < m->image_count; i++)
		if (strcmp(m->images[i].filename, r->name) == 0) {
			first = i;
			break;
		}
	if (first == m->image_count)
		return fail(r, -EBADMSG, "entry \"%s\" is not listed in sw-description", r->name);
	if (r->seen[first])
		return fail(r, -EBADMSG, "duplicate entry \"%s\" in the bundle", r->name);
	if (r->filesize > r->limits.max_image)
		return fail(r, -EFBIG,
		            "image \"%s\" is %" PRIu32 " bytes, more than the limit of %" PRIu64,
		            r->name, r->filesize, r->limits.max_image);
	for (size_t i = first; i < m->image_count; i++) {
		struct swu_image *img = &m->images[i];
		if (strcmp(img->filename, r->name) != 0)
			continue;
		if (img->has_size && img->size != r->filesize)
			return fail(r, -EBADMSG,
			            "image \"%s\" is %" PRIu32
			            " bytes but sw-description (line %d) "
			            "says %" PRIu64,
			            r->name, r->filesize, img->line, img->size);
		img->size = r->filesize;
		r->seen[i] = true;
	}
	if (EVP_DigestInit_ex(r->md, EVP_sha256(), NULL) != 1)
		return fail(r, -EIO, "SHA-256 failed");
	r->image = first;
	for (size_t i = first; r->ops && i < m->image_count; i++) {
		struct swu_image *img = &m->images[i];
		char msg[256] = "";
		int rc;
		if (strcmp(img->filename, r->name) != 0)
			continue;
		rc = r->ops->open(r->ctx, img, msg, sizeof(msg));
		if (rc < 0)
			return fail(r, rc, "image \"%s\": %s", img->filename,
			            msg[0] ? msg : strerror(-rc));
		r->image_state[i] = rc == SWU_SINK_SKIP ? IMG_SKIPPED : IMG_OPEN;
	}
	return 0;
}

static int name_complete(struct swu_reader *r)
{
	char pn[SWU_MAX_NAME + 1];
	int rc;

	if (r->name[r->namesize - 1] != '\0' || strlen(r->name) != r->namesize - 1)
		return fail(r, -EBADMSG,
		            "cpio entry at byte %" PRIu64
		            ": name is not NUL-terminated or has a NUL",
		            r->offset - r->namesize - CPIO_HEADER_SIZE);
	if (is(r, CPIO_TRAILER)) {
		r->kind = E_TRAILER;
		if (r->filesize != 0)
			return fail(r, -EBADMSG, "cpio trailer with %" PRIu32 " data bytes",
			            r->filesize);
	} else if ((r->mode & CPIO_S_IFMT) != CPIO_S_IFREG) {
		return fail(r, -EBADMSG, "entry \"%s\" is not a regular file (mode %06" PRIo32 ")",
		            printable_name(r, pn, sizeof(pn)), r->mode);
	}

	if (r->entry_index == 0) {
		if (!is(r, SWU_DESCRIPTION_NAME))
			return fail(r, -EBADMSG,
			            "the first entry must be sw-description, not \"%s\"",
			            printable_name(r, pn, sizeof(pn)));
		if (r->filesize > r->limits.max_description)
			return fail(r, -EFBIG,
			            "sw-description is %" PRIu32
			            " bytes, more than the limit of %" PRIu32,
			            r->filesize, r->limits.max_description);
		if (r->filesize == 0)
			return fail(r, -EBADMSG, "sw-description is empty");
		r->kind = E_DESCRIPTION;
		r->description = malloc(r->filesize);
		if (!r->description)
			return fail(r, -ENOMEM, "out of memory");
		return 0;
	}
	if (r->entry_index == 1 && is(r, SWU_SIGNATURE_NAME)) {
		if (r->filesize > r->limits.max_signature)
			return fail(r, -EFBIG,
			            "sw-description.sig is %" PRIu32
			            " bytes, more than the limit of %" PRIu32,
			            r->filesize, r->limits.max_signature);
		r->kind = E_SIGNATURE;
		r->signature = malloc(r->filesize ? r->filesize : 1);
		if (!r->signature)
			return fail(r, -ENOMEM, "out of memory");
		r->has_signature = true;
		return 0;
	}
	if (!r->manifest_ready) {
		if (r->verify)
			return fail(r, -ENOKEY,
			            "bundle is not signed: sw-description.sig must follow "
			            "sw-description, found \"%s\"",
			            printable_name(r, pn, sizeof(pn)));
		rc = manifest_establish(r);
		if (rc < 0)
			return rc;
	}
	if (r->kind == E_TRAILER)
		return 0;
	r->kind = E_IMAGE;
	return image_begin(r);
}

static void data_chunk(struct swu_reader *r, const uint8_t *p, size_t n)
{
	if (r->crc)
		for (size_t i = 0; i < n; i++)
			r->sum += p[i];
	switch (r->kind) {
	case E_DESCRIPTION:
		memcpy(r->description + r->data_done, p, n);
		break;
	case E_SIGNATURE:
		memcpy(r->signature + r->data_done, p, n);
		break;
	case E_IMAGE:
	case E_TRAILER:
		break;
	}
}

static int image_write(struct swu_reader *r, const uint8_t *p, size_t n)
{
	if (EVP_DigestUpdate(r->md, p, n) != 1)
		return fail(r, -EIO, "SHA-256 failed");
	for (size_t i = r->image; r->ops && i < r->manifest.image_count; i++) {
		struct swu_image *img = &r->manifest.images[i];
		char msg[256] = "";
		int rc;
		if (r->image_state[i] != IMG_OPEN)
			continue;
		rc = r->ops->write(r->ctx, img, p, n, msg, sizeof(msg));
		if (rc < 0)
			return fail(r, rc, "image \"%s\": %s", img->filename,
			            msg[0] ? msg : strerror(-rc));
	}
	return 0;
}

static int image_end(struct swu_reader *r, bool crc_bad)
{
	struct swu_image *first = &r->manifest.images[r->image];
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[65];

	if (EVP_DigestFinal_ex(r->md, md, &mdlen) != 1 || mdlen != 32)
		return fail(r, -EIO, "SHA-256 failed");
	if (memcmp(md, first->sha256, 32) != 0) {
		hex_encode(md, 32, hex);
		return fail(r, -EBADMSG,
		            "image \"%s\": SHA-256 mismatch (sw-description line %d says %.12s..., "
		            "the data is %.12s...)",
		            first->filename, first->line, first->sha256_hex, hex);
	}
	if (crc_bad)
		return crc_mismatch(r, r->name, r->check, r->sum);
	for (size_t i = r->image; r->ops && i < r->manifest.image_count; i++) {
		struct swu_image *img = &r->manifest.images[i];
		char msg[256] = "";
		int rc;
		if (r->image_state[i] != IMG_OPEN)
			continue;
		rc = r->ops->commit(r->ctx, img, msg, sizeof(msg));
		if (rc < 0)
			return fail(r, rc, "image \"%s\": %s", img->filename,
			            msg[0] ? msg : strerror(-rc));
		r->image_state[i] = IMG_COMMITTED;
	}
	return 0;
}

static int trailer_end(struct swu_reader *r)
{
	for (size_t i = 0; i < r->manifest.image_count; i++)
		if (!r->seen[i])
			return fail(
			    r, -EBADMSG,
			    "image \"%s\" (sw-description line %d) is missing from the bundle",
			    r->manifest.images[i].filename, r->manifest.images[i].line);
	r->done = true;
	r->state = S_END;
	return 0;
}

/* The entry's data is complete. The cryptographic checks come first, the
 * crc checksum (070702) after them: a tampered byte is reported as what it
 * breaks. */
static int entry_end(struct swu_reader *r)
{
	bool crc_bad = r->crc && r->kind != E_TRAILER && r->sum != r->check;
	int rc = 0;

	switch (r->kind) {
	case E_DESCRIPTION:
		r->description_len = r->filesize;
		r->description_crc_bad = crc_bad;
		r->description_check = r->check;
		r->description_sum = r->sum;
		break;
	case E_SIGNATURE:
		r->signature_len = r->filesize;
		rc = manifest_establish(r);
		if (rc == 0 && crc_bad)
			rc = crc_mismatch(r, r->name, r->check, r->sum);
		break;
	case E_IMAGE:
		rc = image_end(r, crc_bad);
		break;
	case E_TRAILER:
		return trailer_end(r);
	}
	if (rc < 0)
		return rc;
	r->entry_index++;
	r->pad_left = pad4(r->filesize);
	r->state = r->pad_left ? S_DATA_PAD : S_HEADER;
	r->header_len = 0;
	return 0;
}

static int data_begin(struct swu_reader *r)
{
	r->data_done = 0;
	r->sum = 0;
	if (r->filesize == 0)
		return entry_end(r);
	r->state = S_DATA;
	return 0;
}

/* Consume zero padding; non-zero bytes there are corruption. */
static int take_zeros(struct swu_reader *r, const uint8_t *p, size_t n, const char *where)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0) {
			r->offset += i; /* where it stopped, whatever the chunking */
			return fail(r, -EBADMSG,
			            "non-zero byte in cpio padding %s at byte %" PRIu64, where,
			            r->offset);
		}
	return 0;
}

/* Process up to len bytes; returns how many were consumed or <0. */
static long step(struct swu_reader *r, const uint8_t *p, size_t len)
{
	size_t n;
	int rc = 0;

	switch (r->state) {
	case S_HEADER:
		n = CPIO_HEADER_SIZE - r->header_len;
		n = n < len ? n : len;
		memcpy(r->header + r->header_len, p, n);
		r->header_len += n;
		r->offset += n;
		if (r->header_len == CPIO_HEADER_SIZE)
			rc = header_complete(r);
		break;
	case S_NAME:
		n = r->namesize - r->name_len;
		n = n < len ? n : len;
		memcpy(r->name + r->name_len, p, n);
		r->name_len += (uint32_t)n;
		r->offset += n;
		if (r->name_len == r->namesize) {
			rc = name_complete(r);
			if (rc == 0) {
				r->pad_left = pad4(CPIO_HEADER_SIZE + r->namesize);
				if (r->pad_left)
					r->state = S_NAME_PAD;
				else
					rc = data_begin(r);
			}
		}
		break;
	case S_NAME_PAD:
	case S_DATA_PAD:
		n = r->pad_left < len ? r->pad_left : len;
		rc = take_zeros(r, p, n, r->state == S_NAME_PAD ? "after a name" : "after data");
		if (rc < 0)
			return rc;
		r->pad_left -= (uint32_t)n;
		r->offset += n;
		if (r->pad_left == 0) {
			if (r->state == S_NAME_PAD) {
				rc = data_begin(r);
			} else {
				r->state = S_HEADER;
				r->header_len = 0;
			}
		}
		break;
	case S_DATA:
		n = r->filesize - r->data_done;
		n = n < len ? n : len;
		data_chunk(r, p, n);
		if (r->kind == E_IMAGE)
			rc = image_write(r, p, n);
		if (rc < 0)
			return rc;
		r->data_done += (uint32_t)n;
		r->offset += n;
		if (r->data_done == r->filesize)
			rc = entry_end(r);
		break;
	case S_END:
		n = len;
		if (n > SWU_MAX_TRAILING_PAD - r->trailing) {
			size_t allowed = (size_t)(SWU_MAX_TRAILING_PAD - r->trailing);
			rc = take_zeros(r, p, allowed, "after the trailer");
			if (rc < 0)
				return rc;
			r->offset += allowed;
			return fail(r, -EBADMSG,
			            "more than %u bytes after the cpio trailer (byte %" PRIu64 ")",
			            SWU_MAX_TRAILING_PAD, r->offset);
		}
		rc = take_zeros(r, p, n, "after the trailer");
		if (rc < 0)
			return rc;
		r->trailing += n;
		r->offset += n;
		break;
	case S_FAILED:
	default:
		return r->error;
	}
	return rc < 0 ? rc : (long)n;
}

/* ---- API ---- */

int swu_reader_new(struct swu_reader **out, const struct swu_trust *trust,
                   const struct swu_limits *limits, const struct swu_sink_ops *ops, void *sink_ctx,
                   char *err, size_t errlen)
{
	struct swu_reader *r;
	int rc;

	*out = NULL;
	if (!trust) {
		mcu_ota_set_error(err, errlen, "%s", "no trust configuration");
		return -EINVAL;
	}
	if (ops && (!ops->open || !ops->write || !ops->commit || !ops->abort)) {
		mcu_ota_set_error(err, errlen, "%s", "a sink needs open, write, commit and abort");
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	rc = swu_trust_load(&r->trust, trust, err, errlen);
	if (rc < 0) {
		free(r);
		return rc;
	}
	r->verify = swu_trust_has_anchor(&r->trust);
	if (!r->verify && !(trust->allow_unverified && !ops)) {
		swu_trust_clear(&r->trust);
		free(r);
		mcu_ota_set_error(err, errlen, "%s",
		                  trust->allow_unverified
		                      ? "unverified reading is only allowed without a sink"
		                      : "no trusted public key or CA is configured");
		return -EINVAL;
	}
	swu_limits_resolve(limits, &r->limits);
	r->ops = ops;
	r->ctx = sink_ctx;
	r->md = EVP_MD_CTX_new();
	if (!r->md) {
		swu_reader_free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

/* Back to byte 0, keeping trust, limits, sink and the digest context. */
static void reader_clear(struct swu_reader *r)
{
	if (!r->finished)
		abort_images(r);
	free(r->description);
	free(r->signature);
	free(r->image_state);
	free(r->seen);
	swu_manifest_clear(&r->manifest);
	r->description = r->signature = NULL;
	r->image_state = NULL;
	r->seen = NULL;
	r->description_len = r->signature_len = 0;
	r->has_signature = r->manifest_ready = r->description_crc_bad = false;
	r->offset = r->trailing = 0;
	r->state = S_HEADER;
	r->header_len = 0;
	r->entry_index = 0;
	r->magic_known = r->crc = false;
	r->done = r->finished = false;
	r->error = 0;
	r->message[0] = '\0';
}

int swu_reader_feed(struct swu_reader *r, const void *data, size_t len, char *err, size_t errlen)
{
	const uint8_t *p = data;

	if (r->state == S_FAILED)
		return report(r, err, errlen);
	if (r->finished) {
		mcu_ota_set_error(err, errlen, "%s", "bytes fed after swu_reader_finish()");
		return -EINVAL;
	}
	/* Take what fits under the limit, so that the stream stops at the
	 * same byte however it is cut. */
	if (len > r->limits.max_bundle - r->offset) {
		size_t allowed = (size_t)(r->limits.max_bundle - r->offset);
		int rc = swu_reader_feed(r, data, allowed, err, errlen);
		if (rc < 0)
			return rc;
		fail(r, -EFBIG, "bundle larger than the limit of %" PRIu64 " bytes",
		     r->limits.max_bundle);
		return report(r, err, errlen);
	}
	while (len > 0) {
		long n = step(r, p, len);
		if (n < 0)
			return report(r, err, errlen);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int swu_reader_finish(struct swu_reader *r, char *err, size_t errlen)
{
	if (r->state == S_FAILED)
		return report(r, err, errlen);
	if (r->finished)
		return 0;
	if (!r->done) {
		const char *where = !r->description_len  ? "in sw-description"
		                    : !r->manifest_ready ? "before the images"
		                    : r->state == S_DATA && r->kind == E_IMAGE
		                        ? "inside an image"
		                        : "before the trailer";
		if (r->state == S_DATA && r->kind == E_IMAGE)
			fail(r, -EBADMSG,
			     "bundle truncated at byte %" PRIu64 " inside image \"%s\" (%" PRIu32
			     " of %" PRIu32 " bytes)",
			     r->offset, r->name, r->data_done, r->filesize);
		else
			fail(r, -EBADMSG, "bundle truncated at byte %" PRIu64 " (%s)", r->offset,
			     where);
		return report(r, err, errlen);
	}
	if (r->ops && r->ops->finish) {
		char msg[256] = "";
		int rc = r->ops->finish(r->ctx, msg, sizeof(msg));
		if (rc < 0) {
			fail(r, rc, "%s", msg[0] ? msg : strerror(-rc));
			return report(r, err, errlen);
		}
	}
	r->finished = true;
	return 0;
}

void swu_reader_reset(struct swu_reader *r)
{
	if (r)
		reader_clear(r);
}

const struct swu_manifest *swu_reader_manifest(const struct swu_reader *r)
{
	return r && r->manifest_ready ? &r->manifest : NULL;
}

uint64_t swu_reader_offset(const struct swu_reader *r)
{
	return r->offset;
}

bool swu_reader_done(const struct swu_reader *r)
{
	return r->done;
}

void swu_reader_free(struct swu_reader *r)
{
	if (!r)
		return;
	reader_clear(r);
	EVP_MD_CTX_free(r->md);
	swu_trust_clear(&r->trust);
	free(r);
}
