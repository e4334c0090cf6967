/* The trust and limit options of every command that reads a bundle
 * (`mcu-ota bundle`, `mcu-ota fetch`): one option table, one parser and one
 * help text, so that the commands cannot drift apart. Nothing is printed
 * here: a bad value comes back as one sentence for the command to show. */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "bundle/swu.h"

#define SWU_ARGS_MAX_KEYS 16

/* getopt_long values, clear of characters and of fetch_args.h's */
enum swu_arg {
	SWU_ARG_KEY = 0x200,
	SWU_ARG_CA,
	SWU_ARG_CA_DIR,
	SWU_ARG_CRL,
	SWU_ARG_SIGNER_CN,
	SWU_ARG_MAX_SIZE,
	SWU_ARG_MAX_IMAGE_SIZE,
	SWU_ARG_MAX_IMAGES,
	SWU_ARG_MAX_DESCRIPTION,
};

/* Entries for a struct option table. */
#define SWU_ARGS_OPTIONS                                                                           \
	{"key", required_argument, NULL, SWU_ARG_KEY},                                             \
	    {"ca", required_argument, NULL, SWU_ARG_CA},                                           \
	    {"ca-dir", required_argument, NULL, SWU_ARG_CA_DIR},                                   \
	    {"crl", required_argument, NULL, SWU_ARG_CRL},                                         \
	    {"signer-cn", required_argument, NULL, SWU_ARG_SIGNER_CN},                             \
	    {"max-size", required_argument, NULL, SWU_ARG_MAX_SIZE},                               \
	    {"max-image-size", required_argument, NULL, SWU_ARG_MAX_IMAGE_SIZE},                   \
	    {"max-images", required_argument, NULL, SWU_ARG_MAX_IMAGES},                           \
	{                                                                                          \
		"max-description", required_argument, NULL, SWU_ARG_MAX_DESCRIPTION                \
	}

#define SWU_ARGS_TRUST_HELP                                                                        \
	"  --key FILE          a trusted public key (PEM, or a certificate) for detached\n"        \
	"                      signatures: RSA (PKCS#1 v1.5 or PSS), ECDSA P-256/P-384,\n"         \
	"                      Ed25519; repeat for several keys\n"                                 \
	"  --ca FILE           CA certificate(s) (PEM) for CMS signatures\n"                       \
	"  --ca-dir DIR        a c_rehash'ed directory of CA certificates (CMS)\n"                 \
	"  --crl FILE          CRL(s) (PEM); revocation is then checked for the chain\n"           \
	"  --signer-cn CN      the CMS signer's certificate must have this common name\n"

#define SWU_ARGS_LIMITS_HELP                                                                       \
	"  --max-size N        the whole bundle (default 256M)\n"                                  \
	"  --max-image-size N  one image (default 64M)\n"                                          \
	"  --max-images N      images in sw-description (default 64)\n"                            \
	"  --max-description N sw-description (default 256K)\n"

struct swu_args {
	const char *keys[SWU_ARGS_MAX_KEYS];
	struct swu_trust trust; /* trust.key_files points at keys */
	struct swu_limits limits;
};

/* Take option opt with its value: 1 when opt is one of SWU_ARGS_OPTIONS
 * (applied), 0 when it is not, -EINVAL with a sentence in err when the
 * value is bad. */
__attribute__((warn_unused_result)) int swu_args_apply(struct swu_args *a, int opt,
                                                       const char *value, char *err, size_t errlen);

/* After the last option: 0, or -EINVAL when the options do not go
 * together (--crl or --signer-cn without a CA). */
__attribute__((warn_unused_result)) int swu_args_check(const struct swu_args *a, char *err,
                                                       size_t errlen);

/* A key or a CA was given. */
bool swu_args_have_trust(const struct swu_args *a);
