/* Firmware versions and the version policy of an update.
 *
 * A version is dotted decimal numbers with an optional pre-release suffix:
 *
 *   version  = number *("." number) ["-" suffix]      at most 64 bytes
 *   number   = 1*DIGIT                                  (any length)
 *   suffix   = ident *("." ident),  ident = 1*(ALPHA / DIGIT)
 *
 * Comparison, in this order:
 *   1. numbers left to right, numerically ("1.2.10" > "1.2.9", "01" == "1");
 *      missing trailing numbers count as 0 ("1.2" == "1.2.0");
 *   2. a version without suffix is newer than the same numbers with one
 *      ("1.2.0-rc1" < "1.2.0");
 *   3. suffixes identifier by identifier: numeric identifiers numerically
 *      ("rc.2" < "rc.10"), others in ASCII order (so "rc10" < "rc2": write
 *      "rc.10" for numeric order), a numeric identifier before an
 *      alphanumeric one, and a suffix that is a prefix of the other is older
 *      ("rc" < "rc.1").
 * These are SemVer's pre-release rules, with any number of components and
 * no build metadata. Strings outside the grammar are refused, not guessed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define VERSION_MAX_LEN 64

bool version_valid(const char *v);

/* *result < 0, 0 or > 0 as a is older than, equal to or newer than b.
 * -EINVAL when either is not a valid version. */
__attribute__((warn_unused_result)) int version_compare(const char *a, const char *b, int *result);

/* How a device takes versions (sw-description's per-image flags and the
 * device's configuration). */
struct version_policy {
	bool install_if_different; /* skip when the offered version is installed */
	bool install_if_higher;    /* skip unless the offered version is newer */
	bool allow_downgrade;      /* else an older version is refused */
};

enum version_decision {
	VERSION_INSTALL,
	VERSION_SKIP,   /* nothing to do: not an error */
	VERSION_REFUSE, /* the policy forbids it: an error */
};

const char *version_decision_name(enum version_decision d);

/* Whether to install offered over installed. installed NULL: nothing known
 * is installed (install). offered NULL: the image has no version (refused
 * when the policy needs one to decide: either flag set or downgrades not
 * allowed). reason gets one sentence either way ("upgrade from 1.2.0 to
 * 1.3.0", "downgrade from 1.3.0 to 1.2.0 is not allowed", ...). */
enum version_decision version_decide(const char *installed, const char *offered,
                                     const struct version_policy *policy, char *reason,
                                     size_t reasonlen);
