/* Version strings (sw-description, the store's meta files, the daemon's
 * configuration). The input is up to three strings separated by NUL bytes,
 * and a last byte choosing the policy. Checked: compare is a total order
 * (reflexive, antisymmetric, transitive) defined exactly on valid strings;
 * a version printed in canonical form (no leading zeros, no trailing .0)
 * and with a ".0" added are valid and equal to it; version_decide agrees with
 * the policy table of version.h. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "bundle/version.h"
#include "fuzz.h"

/* The canonical spelling of a valid version: numbers without leading zeros,
 * trailing zero numbers dropped (at least one kept), numeric suffix
 * identifiers without leading zeros. */
static void canonical(const char *v, char *out, size_t outlen)
{
	size_t o = 0, last_nonzero_end = 0;
	const char *p = v;
	/* the numbers */
	for (;;) {
		while (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
			p++;
		size_t start = o;
		while (*p >= '0' && *p <= '9')
			out[o++] = *p++;
		if (!(o - start == 1 && out[start] == '0') || !last_nonzero_end)
			last_nonzero_end = o;
		if (*p != '.')
			break;
		out[o++] = *p++;
	}
	o = last_nonzero_end;
	if (*p == '-') {
		out[o++] = *p++;
		while (*p) {
			const char *id = p;
			size_t n = strcspn(p, ".");
			bool numeric = strspn(id, "0123456789") >= n;
			if (numeric)
				while (n > 1 && *id == '0')
					id++, n--;
			memcpy(out + o, id, n);
			o += n;
			p += strcspn(p, ".");
			if (*p == '.')
				out[o++] = *p++;
		}
	}
	FUZZ_CHECK(o < outlen);
	out[o] = '\0';
}

static int sign(int x)
{
	return (x > 0) - (x < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[3 * (VERSION_MAX_LEN + 8)];
	const char *s[3] = {"", "", ""};
	unsigned policy_bits = size ? data[size - 1] : 0;
	if (size > sizeof(buf) - 1)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* split at NUL bytes: a, b, c */
	size_t n = 0;
	for (char *p = buf; n < 3 && p <= buf + size; p += strlen(p) + 1)
		s[n++] = p;

	bool valid[3];
	for (int i = 0; i < 3; i++) {
		valid[i] = version_valid(s[i]);
		FUZZ_CHECK(!valid[i] || strlen(s[i]) <= VERSION_MAX_LEN);
	}
	int c[3][3];
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++) {
			int r = version_compare(s[i], s[j], &c[i][j]);
			FUZZ_CHECK((r == 0) == (valid[i] && valid[j]));
			FUZZ_CHECK(r == 0 || r == -EINVAL);
			if (r == 0)
				FUZZ_CHECK(c[i][j] >= -1 && c[i][j] <= 1);
		}
	for (int i = 0; i < 3; i++) {
		if (!valid[i])
			continue;
		FUZZ_CHECK(c[i][i] == 0);
		for (int j = 0; j < 3; j++) {
			if (!valid[j])
				continue;
			FUZZ_CHECK(sign(c[i][j]) == -sign(c[j][i]));
			for (int k = 0; k < 3; k++)
				if (valid[k] && c[i][j] <= 0 && c[j][k] <= 0)
					FUZZ_CHECK(c[i][k] <= 0);
		}
	}

	/* printed canonically, and with one more zero number: the same version */
	if (valid[0]) {
		char canon[VERSION_MAX_LEN + 1], longer[VERSION_MAX_LEN + 3];
		int r;
		canonical(s[0], canon, sizeof(canon));
		FUZZ_CHECK(version_valid(canon));
		FUZZ_CHECK(version_compare(s[0], canon, &r) == 0 && r == 0);
		size_t nums = strcspn(canon, "-");
		if (strlen(canon) + 2 <= VERSION_MAX_LEN) {
			snprintf(longer, sizeof(longer), "%.*s.0%s", (int)nums, canon,
			         canon + nums);
			FUZZ_CHECK(version_valid(longer));
			FUZZ_CHECK(version_compare(longer, s[0], &r) == 0 && r == 0);
			/* and one more than the last number is newer */
			snprintf(longer, sizeof(longer), "%.*s.1", (int)nums, canon);
			FUZZ_CHECK(version_compare(longer, s[0], &r) == 0 && r > 0);
		}
	}

	/* the policy table */
	struct version_policy p = {.install_if_different = policy_bits & 1,
	                           .install_if_higher = policy_bits & 2,
	                           .allow_downgrade = policy_bits & 4};
	char reason[256];
	enum version_decision d = version_decide(s[0], s[1], &p, reason, sizeof(reason));
	FUZZ_CHECK(reason[0] != '\0');
	enum version_decision want;
	if (!valid[0] || !valid[1])
		want = VERSION_REFUSE;
	else if (c[0][1] == 0)
		want =
		    p.install_if_different || p.install_if_higher ? VERSION_SKIP : VERSION_INSTALL;
	else if (c[0][1] < 0)
		want = VERSION_INSTALL;
	else
		want = p.install_if_higher ? VERSION_SKIP
		       : p.allow_downgrade ? VERSION_INSTALL
		                           : VERSION_REFUSE;
	FUZZ_CHECK(d == want);
	FUZZ_CHECK(version_decide(NULL, s[1], &p, reason, sizeof(reason)) == VERSION_INSTALL);
	return 0;
}
