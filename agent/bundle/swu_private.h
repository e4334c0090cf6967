/* Internals shared by the swu_*.c files; not for other modules. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509_vfy.h>

#include "bundle/swu.h"

/* One trusted public key, loaded. */
struct swu_key {
	EVP_PKEY *pkey;
	char *file;
	char fingerprint[65]; /* SHA-256 of the DER SubjectPublicKeyInfo, hex */
};

/* struct swu_trust, loaded: keys parsed, CA store built. */
struct swu_trust_store {
	struct swu_key *keys;
	size_t key_count;
	X509_STORE *store; /* NULL when neither ca_file nor ca_dir */
	char *signer_cn;
	bool allow_unverified;
};

__attribute__((warn_unused_result)) int
swu_trust_load(struct swu_trust_store *t, const struct swu_trust *cfg, char *err, size_t errlen);
void swu_trust_clear(struct swu_trust_store *t);
/* Something to verify with. */
bool swu_trust_has_anchor(const struct swu_trust_store *t);

/* Verify sig over the len bytes of desc. On success fill the manifest's
 * signature_kind and signer. -EKEYREJECTED (or -EINVAL: no anchor of the
 * right kind) with the reason in err. */
__attribute__((warn_unused_result)) int swu_signature_verify(const struct swu_trust_store *t,
                                                             const uint8_t *desc, size_t desc_len,
                                                             const uint8_t *sig, size_t sig_len,
                                                             struct swu_manifest *m, char *err,
                                                             size_t errlen);

/* Without verifying: what kind of signature sig looks like and, for CMS,
 * whom it names. For `inspect` without trust anchors. */
void swu_signature_describe(const uint8_t *sig, size_t sig_len, struct swu_manifest *m);

/* Apply the defaults to zero fields. */
void swu_limits_resolve(const struct swu_limits *in, struct swu_limits *out);

/* A cpio entry name the reader accepts: 1..SWU_MAX_NAME printable ASCII
 * bytes without blanks, no '/', no "..", not ".". */
bool swu_name_valid(const char *name);
