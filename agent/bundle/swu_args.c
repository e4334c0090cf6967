/* The trust and limit options shared by the commands that read bundles. */
#include "bundle/swu_args.h"

#include <errno.h>

#include "util/format.h"

static int size_value(const char *opt, const char *v, uint64_t *out, char *err, size_t errlen)
{
	uint32_t n;
	if (parse_u32(v, &n) < 0 || n == 0) {
		mcu_ota_set_error(err, errlen, "%s: \"%s\" is not a positive size (e.g. 512K, 64M)",
		                  opt, v);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

int swu_args_apply(struct swu_args *a, int opt, const char *value, char *err, size_t errlen)
{
	uint64_t v;

	a->trust.key_files = a->keys;
	switch (opt) {
	case SWU_ARG_KEY:
		if (a->trust.key_count == SWU_ARGS_MAX_KEYS) {
			mcu_ota_set_error(err, errlen, "at most %d --key options",
			                  SWU_ARGS_MAX_KEYS);
			return -EINVAL;
		}
		a->keys[a->trust.key_count++] = value;
		return 1;
	case SWU_ARG_CA:
		a->trust.ca_file = value;
		return 1;
	case SWU_ARG_CA_DIR:
		a->trust.ca_dir = value;
		return 1;
	case SWU_ARG_CRL:
		a->trust.crl_file = value;
		return 1;
	case SWU_ARG_SIGNER_CN:
		a->trust.signer_cn = value;
		return 1;
	case SWU_ARG_MAX_SIZE:
		if (size_value("--max-size", value, &a->limits.max_bundle, err, errlen) < 0)
			return -EINVAL;
		return 1;
	case SWU_ARG_MAX_IMAGE_SIZE:
		if (size_value("--max-image-size", value, &a->limits.max_image, err, errlen) < 0)
			return -EINVAL;
		return 1;
	case SWU_ARG_MAX_IMAGES:
		if (size_value("--max-images", value, &v, err, errlen) < 0)
			return -EINVAL;
		a->limits.max_images = (uint32_t)v;
		return 1;
	case SWU_ARG_MAX_DESCRIPTION:
		if (size_value("--max-description", value, &v, err, errlen) < 0)
			return -EINVAL;
		a->limits.max_description = (uint32_t)v;
		return 1;
	}
	return 0;
}

int swu_args_check(const struct swu_args *a, char *err, size_t errlen)
{
	if ((a->trust.crl_file || a->trust.signer_cn) && !a->trust.ca_file && !a->trust.ca_dir) {
		mcu_ota_set_error(
		    err, errlen, "%s",
		    "--crl and --signer-cn apply to CMS signatures: give --ca or --ca-dir");
		return -EINVAL;
	}
	return 0;
}

bool swu_args_have_trust(const struct swu_args *a)
{
	return a->trust.key_count || a->trust.ca_file || a->trust.ca_dir;
}
