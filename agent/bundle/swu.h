/* Streaming reader for SWUpdate's .swu bundles (the subset
 * docs/bundle-format.md describes): a PUSH parser that takes the bundle's bytes in any
 * chunking, straight from a download or a file, and never holds more than
 * sw-description, its signature and one small buffer.
 *
 * The stream is a cpio archive, "newc" (070701) or "crc" (070702, the
 * per-file checksum is checked):
 *
 *   sw-description        libconfig text, at most limits.max_description
 *   sw-description.sig    CMS (DER) or a detached signature of sw-description
 *   <image> ...           every image sw-description lists, any order
 *   TRAILER!!!            then only zero bytes (cpio block padding)
 *
 * Order of checks, each one stopping the stream at once:
 *   1. sw-description is the first entry, sw-description.sig the second;
 *   2. the signature verifies against the trust anchors (before anything in
 *      sw-description is believed and before any image byte is passed on);
 *   3. sw-description parses, uses only what mcu-ota implements, and every
 *      image has a sha256;
 *   4. each image entry is one sw-description lists, seen once, within the
 *      limits and its declared size; its bytes go to the sink while they are
 *      hashed, and it is committed only when the SHA-256 matched;
 *   5. at the trailer every listed image has been seen.
 * On any failure (and on swu_reader_free() before a successful
 * swu_reader_finish()) every image a sink opened, committed or not, is
 * aborted: nothing is left behind.
 *
 * Errors: functions return 0 or a negative errno-style code and write one
 * sentence into err (never NULL-terminated garbage; err may be NULL):
 *   -EBADMSG      malformed cpio or sw-description, or a hash mismatch
 *   -EKEYREJECTED the signature does not verify, or its signer is not trusted
 *   -ENOKEY       the bundle is not signed (no sw-description.sig)
 *   -EFBIG        a limit was exceeded
 *   -ENOTSUP      sw-description uses a feature mcu-ota does not implement
 *   -EINVAL       bad arguments or trust configuration (unreadable key, CA)
 *   -ENOMEM, -EIO, or the sink's own code.
 * After a failure the reader refuses further input with the same code and
 * message, until swu_reader_reset(). */
#pragma once

#include <signal.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bundle/image.h"

#define SWU_DESCRIPTION_NAME "sw-description"
#define SWU_SIGNATURE_NAME   "sw-description.sig"

/* ---- configuration ---- */

/* Who may sign bundles. Either keys (detached signatures) or a CA (CMS), or
 * both: a signature is accepted when it verifies with either kind. */
struct swu_trust {
	/* PEM public keys (SubjectPublicKeyInfo, "BEGIN PUBLIC KEY") or PEM
	 * certificates whose key is used; RSA (PKCS#1 v1.5 or PSS), ECDSA
	 * P-256/P-384 (signed with SHA-256, as `openssl dgst -sha256 -sign`),
	 * Ed25519 (over the raw file, `openssl pkeyutl -sign -rawin`). Several
	 * keys at once for rotation: any one of them verifying is enough. */
	const char *const *key_files;
	size_t key_count;
	/* CMS (DER, detached, as `openssl cms -sign -binary -outform DER`): the
	 * signer's chain must lead to a certificate in ca_file (PEM, may hold
	 * several) or ca_dir (c_rehash'ed directory). */
	const char *ca_file;
	const char *ca_dir;
	/* Optional PEM CRL(s): when set, revocation is checked for the whole
	 * chain and a CA without a CRL there fails. */
	const char *crl_file;
	/* Optional: the signer certificate's subject CN must equal this. */
	const char *signer_cn;
	/* Inspection only: parse sw-description without a signature check
	 * (manifest->signature_verified stays false). Refused unless the reader
	 * has no sink (verify-only): unverified bytes never reach a sink. */
	bool allow_unverified;
};

/* A zero field means the default next to it. */
#define SWU_DEFAULT_MAX_BUNDLE      (256ull << 20) /* whole stream, padding included */
#define SWU_DEFAULT_MAX_DESCRIPTION (256u << 10)   /* sw-description bytes */
#define SWU_DEFAULT_MAX_SIGNATURE   (64u << 10)    /* sw-description.sig bytes */
#define SWU_DEFAULT_MAX_IMAGES      64u            /* images listed in sw-description */
#define SWU_DEFAULT_MAX_IMAGE       (64ull << 20)  /* one image's bytes */
/* Not configurable: cpio names longer than this are refused. */
#define SWU_MAX_NAME 255u
/* Zero padding accepted after TRAILER!!! (cpio -B blocks are 5120 bytes). */
#define SWU_MAX_TRAILING_PAD (64u << 10)

struct swu_limits {
	uint64_t max_bundle;
	uint32_t max_description;
	uint32_t max_signature;
	uint32_t max_images;
	uint64_t max_image;
};

/* ---- what sw-description says (valid once the signature verified) ---- */

struct swu_image {
	char *filename; /* the cpio entry's name: no '/', not "." or "..", no ".." */
	char *type;     /* always "mcu-ota" */
	char *device;   /* the configured device this image is for */
	char *version;  /* NULL when not given */
	uint8_t sha256[32];
	char sha256_hex[65];
	uint64_t size; /* bytes in the bundle; from "size" or, before the entry
	                  is seen and when "size" is absent, 0 */
	bool has_size; /* "size" was given (the entry must then match it) */
	bool install_if_different;
	bool install_if_higher;
	/* properties */
	uint32_t address; /* "address", raw binaries; IMAGE_DEFAULT_ADDRESS */
	bool has_address;
	enum image_format format; /* "format"; IMAGE_FORMAT_AUTO when absent */
	int line;                 /* line in sw-description, for messages */
};

enum swu_signature_kind {
	SWU_SIG_NONE = 0, /* not verified (allow_unverified) */
	SWU_SIG_CMS,
	SWU_SIG_RSA_PKCS1,
	SWU_SIG_RSA_PSS,
	SWU_SIG_ECDSA,
	SWU_SIG_ED25519,
};

struct swu_manifest {
	char *version;                 /* software.version, required */
	char *description;             /* NULL when absent */
	char **hardware_compatibility; /* NULL when absent */
	size_t hardware_compatibility_count;
	struct swu_image *images;
	size_t image_count;
	/* How it was signed, and by whom: for CMS the signer certificate's
	 * subject ("CN=..., O=..."), for a key "<file> (SHA256:<hex of the DER
	 * SubjectPublicKeyInfo>)". Empty when not verified. */
	bool signature_verified;
	enum swu_signature_kind signature_kind;
	char signer[512];
	uint32_t description_size; /* bytes of sw-description */
	uint8_t description_sha256[32];
	bool cpio_crc; /* the archive is 070702 ("crc"), else 070701 */
};

const char *swu_signature_kind_name(enum swu_signature_kind kind);

/* The version an install of img records: its own, else software.version
 * (an image need not have one). */
static inline const char *swu_image_version(const struct swu_manifest *m,
                                            const struct swu_image *img)
{
	return img->version ? img->version : m->version;
}

/* Parse sw-description text (not NUL-terminated; len bytes) into m. Exposed
 * for tests and `bundle inspect`; the reader calls it after the signature
 * verified. 0, -EBADMSG (with the line), -ENOTSUP (naming the setting) or
 * -ENOMEM. m is left empty on failure; free with swu_manifest_clear(). */
__attribute__((warn_unused_result)) int swu_manifest_parse(const char *text, size_t len,
                                                           const struct swu_limits *limits,
                                                           struct swu_manifest *m, char *err,
                                                           size_t errlen);
void swu_manifest_clear(struct swu_manifest *m);
/* The image of m whose filename is name, or NULL. */
const struct swu_image *swu_manifest_find(const struct swu_manifest *m, const char *name);

/* ---- sinks: where verified image bytes go ---- */

/* Return 0 from open() to receive the image, SWU_SINK_SKIP to have it only
 * hashed and checked (e.g. an image for another device), or a negative code
 * with a message to stop the stream. */
#define SWU_SINK_SKIP 1

struct swu_sink_ops {
	/* Optional: the manifest verified and parsed, no image byte yet. A
	 * negative return stops the stream (e.g. hardware not compatible). */
	int (*manifest)(void *ctx, const struct swu_manifest *m, char *err, size_t errlen);
	/* An image entry starts; img->size is its exact size. */
	int (*open)(void *ctx, const struct swu_image *img, char *err, size_t errlen);
	/* The next bytes of the open image, not yet known to be good. */
	int (*write)(void *ctx, const struct swu_image *img, const uint8_t *data, size_t len,
	             char *err, size_t errlen);
	/* All bytes written and the SHA-256 (and crc checksum) matched. The image
	 * is good but the bundle is not finished: keep it provisionally (a
	 * later failure still calls abort for it). */
	int (*commit)(void *ctx, const struct swu_image *img, char *err, size_t errlen);
	/* Optional: swu_reader_finish() found the whole bundle good; make the
	 * committed images final. A failure here aborts them all. */
	int (*finish)(void *ctx, char *err, size_t errlen);
	/* Forget an opened image, committed or not (remove what was written).
	 * Called once per opened image when the bundle fails. Must not fail. */
	void (*abort)(void *ctx, const struct swu_image *img);
};

/* Nowhere: pass ops == NULL to swu_reader_new() (verify-only). */

/* ---- the reader ---- */

struct swu_reader;

/* A reader for one bundle. trust is required (keys and/or CA, or
 * allow_unverified with no sink); limits may be NULL (defaults); ops may be
 * NULL (verify-only), else open, write, commit and abort are required. The
 * keys, CA and CRL are loaded here: -EINVAL with the file named when one is
 * unreadable, -EPERM when others may change it (util/trusted_file.h). trust, limits, ops and
 * sink_ctx must outlive the reader (the strings in trust are copied). */
__attribute__((warn_unused_result)) int swu_reader_new(struct swu_reader **out,
                                                       const struct swu_trust *trust,
                                                       const struct swu_limits *limits,
                                                       const struct swu_sink_ops *ops,
                                                       void *sink_ctx, char *err, size_t errlen);

/* The next len bytes of the bundle (any chunking, len may be 0). 0 to go on;
 * a negative code stops the stream at once (the sinks have been aborted) and
 * every later feed or finish returns the same code and message. */
__attribute__((warn_unused_result)) int swu_reader_feed(struct swu_reader *r, const void *data,
                                                        size_t len, char *err, size_t errlen);

/* End of the stream: 0 only when TRAILER!!! was seen and every image listed
 * in sw-description was present, hashed and committed; then the sinks'
 * finish runs. A stream that ends early fails with -EBADMSG ("truncated"). */
__attribute__((warn_unused_result)) int swu_reader_finish(struct swu_reader *r, char *err,
                                                          size_t errlen);

/* Start over from byte 0 (a download that restarted): every opened image is
 * aborted and the reader is as new, trust and limits kept. */
void swu_reader_reset(struct swu_reader *r);

/* The manifest, or NULL until the signature verified and sw-description
 * parsed (or parsed, with allow_unverified). Owned by the reader; image
 * sizes are filled in as entries arrive. */
const struct swu_manifest *swu_reader_manifest(const struct swu_reader *r);

/* Bytes of the stream accepted so far (where a resumed download goes on). */
uint64_t swu_reader_offset(const struct swu_reader *r);

/* True once TRAILER!!! has been read (only padding may follow). */
bool swu_reader_done(const struct swu_reader *r);

/* Abort what the sinks hold unless finish succeeded, and free. NULL ok. */
void swu_reader_free(struct swu_reader *r);

/* Cleanup helpers for _cleanup_. */
static inline void swu_reader_freep(struct swu_reader **r)
{
	swu_reader_free(*r);
}

/* Feed what fd reads, from byte 0 whatever its offset (a pipe from where it
 * is), in 64 KiB reads, then swu_reader_finish(). name is the bundle in
 * messages; read errors give -errno. Between reads: -ECANCELED once *cancel
 * is set (NULL: never), -ETIMEDOUT after limit_ms (0: no limit). */
__attribute__((warn_unused_result)) int
swu_reader_feed_fd(struct swu_reader *r, int fd, const char *name, volatile sig_atomic_t *cancel,
                   unsigned limit_ms, char *err, size_t errlen);
/* The same for the file at path ("-": standard input), opened here. */
__attribute__((warn_unused_result)) int swu_reader_feed_file(struct swu_reader *r, const char *path,
                                                             char *err, size_t errlen);
