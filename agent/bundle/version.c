/* Version strings and the version policy: see version.h for the grammar. */
#include "bundle/version.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/format.h"

/* End of a run of digits starting at p (p itself when none). */
static const char *digits_end(const char *p)
{
	while (isdigit((unsigned char)*p))
		p++;
	return p;
}

bool version_valid(const char *v)
{
	const char *p = v;

	if (!v || strlen(v) > VERSION_MAX_LEN)
		return false;
	for (;;) {
		const char *e = digits_end(p);
		if (e == p)
			return false;
		p = e;
		if (*p != '.')
			break;
		p++;
	}
	if (*p == '\0')
		return true;
	if (*p != '-')
		return false;
	p++;
	for (;;) {
		const char *s = p;
		while (isalnum((unsigned char)*p))
			p++;
		if (p == s)
			return false;
		if (*p == '\0')
			return true;
		if (*p != '.')
			return false;
		p++;
	}
}

/* Compare two digit runs numerically, whatever their length. */
static int number_compare(const char *a, size_t alen, const char *b, size_t blen)
{
	int c;

	while (alen > 1 && *a == '0')
		a++, alen--;
	while (blen > 1 && *b == '0')
		b++, blen--;
	if (alen != blen)
		return alen < blen ? -1 : 1;
	c = memcmp(a, b, alen);
	return (c > 0) - (c < 0);
}

static bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static int suffix_compare(const char *a, const char *b)
{
	for (;;) {
		size_t alen = strcspn(a, "."), blen = strcspn(b, ".");
		bool anum = all_digits(a, alen), bnum = all_digits(b, blen);
		int c;

		if (anum && bnum) {
			c = number_compare(a, alen, b, blen);
		} else if (anum != bnum) {
			c = anum ? -1 : 1;
		} else {
			c = memcmp(a, b, alen < blen ? alen : blen);
			c = c ? c : (alen > blen) - (alen < blen);
		}
		if (c)
			return c > 0 ? 1 : -1;
		a += alen;
		b += blen;
		if (!*a || !*b)
			return (*a != '\0') - (*b != '\0');
		a++;
		b++;
	}
}

int version_compare(const char *a, const char *b, int *result)
{
	if (!version_valid(a) || !version_valid(b))
		return -EINVAL;
	/* the numbers; a missing one is 0 */
	while ((*a && *a != '-') || (*b && *b != '-')) {
		const char *ae = digits_end(a), *be = digits_end(b);
		int c = number_compare(ae == a ? "0" : a, ae == a ? 1 : (size_t)(ae - a),
		                       be == b ? "0" : b, be == b ? 1 : (size_t)(be - b));
		if (c) {
			*result = c;
			return 0;
		}
		a = *ae == '.' ? ae + 1 : ae;
		b = *be == '.' ? be + 1 : be;
	}
	if (!*a || !*b) {
		/* no suffix is newer than a suffix */
		*result = (*a == '\0') - (*b == '\0');
		return 0;
	}
	*result = suffix_compare(a + 1, b + 1);
	return 0;
}

const char *version_decision_name(enum version_decision d)
{
	switch (d) {
	case VERSION_INSTALL:
		return "install";
	case VERSION_SKIP:
		return "skip";
	case VERSION_REFUSE:
		return "refuse";
	}
	return "?";
}

enum version_decision version_decide(const char *installed, const char *offered,
                                     const struct version_policy *p, char *reason, size_t reasonlen)
{
	int c;

	if (!installed) {
		mcu_ota_set_error(reason, reasonlen, "no installed version known: installing %s",
		                  offered ? offered : "the image");
		return VERSION_INSTALL;
	}
	if (!offered) {
		if (p->install_if_different || p->install_if_higher || !p->allow_downgrade) {
			mcu_ota_set_error(
			    reason, reasonlen,
			    "the image has no version, and the policy (%s) needs one to "
			    "decide",
			    p->install_if_higher      ? "install-if-higher"
			    : p->install_if_different ? "install-if-different"
			                              : "no downgrades");
			return VERSION_REFUSE;
		}
		mcu_ota_set_error(reason, reasonlen,
		                  "installing an image without a version over %s", installed);
		return VERSION_INSTALL;
	}
	if (version_compare(installed, offered, &c) < 0) {
		const char *bad = version_valid(installed) ? offered : installed;
		mcu_ota_set_error(reason, reasonlen,
		                  "version \"%s\" is not dotted numbers with an optional -suffix",
		                  bad);
		return VERSION_REFUSE;
	}
	if (c == 0) {
		if (p->install_if_different || p->install_if_higher) {
			mcu_ota_set_error(reason, reasonlen, "%s is already installed", offered);
			return VERSION_SKIP;
		}
		mcu_ota_set_error(reason, reasonlen, "reinstalling %s", offered);
		return VERSION_INSTALL;
	}
	if (c < 0) {
		mcu_ota_set_error(reason, reasonlen, "upgrade from %s to %s", installed, offered);
		return VERSION_INSTALL;
	}
	if (p->install_if_higher) {
		mcu_ota_set_error(reason, reasonlen,
		                  "%s is older than the installed %s (install-if-higher)", offered,
		                  installed);
		return VERSION_SKIP;
	}
	if (!p->allow_downgrade) {
		mcu_ota_set_error(reason, reasonlen, "downgrade from %s to %s is not allowed",
		                  installed, offered);
		return VERSION_REFUSE;
	}
	mcu_ota_set_error(reason, reasonlen, "downgrade from %s to %s (allowed)", installed,
	                  offered);
	return VERSION_INSTALL;
}
