/* Version strings and the version policy (bundle/version.h). */
#include "check.h"

#include "bundle/version.h"

static int cmp(const char *a, const char *b)
{
	int r = 99;
	if (version_compare(a, b, &r) < 0)
		return 99;
	return r < 0 ? -1 : r > 0 ? 1 : 0;
}

static void test_numbers_compare_numerically(void)
{
	CHECK_INT(cmp("1.2.10", "1.2.9"), 1);
	CHECK_INT(cmp("1.2.9", "1.2.10"), -1);
	CHECK_INT(cmp("2", "10"), -1);
	CHECK_INT(cmp("1.10.0", "1.9.99"), 1);
	CHECK_INT(cmp("1.2.3", "1.2.3"), 0);
	CHECK_INT(cmp("01.002", "1.2"), 0);
	/* no overflow: any number of digits */
	CHECK_INT(cmp("123456789012345678901234567890", "123456789012345678901234567889"), 1);
}

static void test_missing_components_are_zero(void)
{
	CHECK_INT(cmp("1.2", "1.2.0"), 0);
	CHECK_INT(cmp("1.2.0.0", "1.2"), 0);
	CHECK_INT(cmp("1.2", "1.2.1"), -1);
	CHECK_INT(cmp("1.2.0.1", "1.2"), 1);
}

static void test_suffix_is_a_prerelease(void)
{
	CHECK_INT(cmp("1.2.0-rc1", "1.2.0"), -1);
	CHECK_INT(cmp("1.2.0", "1.2.0-rc1"), 1);
	CHECK_INT(cmp("1.2.0-rc1", "1.1.9"), 1);
	CHECK_INT(cmp("1.2-rc1", "1.2.0-rc1"), 0);
	CHECK_INT(cmp("1.2-rc1", "1.2.0"), -1);
	CHECK_INT(cmp("1.2.0", "1.2-rc1"), 1);
	CHECK_INT(cmp("1.2.0-alpha", "1.2.0-beta"), -1);
	CHECK_INT(cmp("1.2.0-rc.2", "1.2.0-rc.10"), -1); /* numeric identifiers */
	CHECK_INT(cmp("1.2.0-rc10", "1.2.0-rc2"), -1);   /* ASCII, as documented */
	CHECK_INT(cmp("1.2.0-1", "1.2.0-alpha"), -1);    /* numeric before alphanumeric */
	CHECK_INT(cmp("1.2.0-rc", "1.2.0-rc.1"), -1);    /* prefix is older */
	CHECK_INT(cmp("1.2.0-rc.1", "1.2.0-rc.1"), 0);
}

static void test_invalid_versions_are_refused(void)
{
	static const char *bad[] = {
	    "",
	    "v1.2",
	    "1..2",
	    "1.",
	    ".1",
	    "1.2-",
	    "1.2-rc..1",
	    "1.2-rc_1",
	    "1.2+build",
	    "1 .2",
	    "-1",
	    "1.2-rc-1",
	    "1.2.3.4.5.6.7.8.9.0.1.2.3.4.5.6.7.8.9.0.1.2.3.4.5.6.7.8.9.0.1.2.3"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int r;
		if (version_valid(bad[i]))
			fprintf(stderr, "accepted \"%s\"\n", bad[i]);
		CHECK(!version_valid(bad[i]));
		CHECK_INT(version_compare(bad[i], "1.0", &r), -EINVAL);
		CHECK_INT(version_compare("1.0", bad[i], &r), -EINVAL);
	}
	CHECK(!version_valid(NULL));
	CHECK(version_valid("0"));
	CHECK(version_valid("1.2.3-rc.1.beta2"));
}

static enum version_decision decide(const char *installed, const char *offered, bool differ,
                                    bool higher, bool downgrade, char *reason)
{
	struct version_policy p = {differ, higher, downgrade};
	return version_decide(installed, offered, &p, reason, 160);
}

static void test_policy_upgrade_installs(void)
{
	char reason[160];
	CHECK_INT(decide("1.2.0", "1.3.0", false, false, false, reason), VERSION_INSTALL);
	CHECK_STR(reason, "upgrade from 1.2.0 to 1.3.0");
	CHECK_INT(decide("1.2.0", "1.3.0", true, true, false, reason), VERSION_INSTALL);
	CHECK_INT(decide("1.2.0-rc1", "1.2.0", false, true, false, reason), VERSION_INSTALL);
	CHECK_INT(decide(NULL, "1.0", true, true, false, reason), VERSION_INSTALL);
	CHECK_CONTAINS(reason, "no installed version known");
}

static void test_policy_same_version(void)
{
	char reason[160];
	CHECK_INT(decide("1.2.0", "1.2", true, false, false, reason), VERSION_SKIP);
	CHECK_STR(reason, "1.2 is already installed");
	CHECK_INT(decide("1.2.0", "1.2.0", false, true, false, reason), VERSION_SKIP);
	CHECK_INT(decide("1.2.0", "1.2.0", false, false, false, reason), VERSION_INSTALL);
	CHECK_STR(reason, "reinstalling 1.2.0");
}

static void test_policy_downgrade(void)
{
	char reason[160];
	CHECK_INT(decide("1.3.0", "1.2.0", false, false, false, reason), VERSION_REFUSE);
	CHECK_STR(reason, "downgrade from 1.3.0 to 1.2.0 is not allowed");
	CHECK_INT(decide("1.3.0", "1.2.0", true, false, false, reason), VERSION_REFUSE);
	CHECK_INT(decide("1.3.0", "1.2.0", false, false, true, reason), VERSION_INSTALL);
	CHECK_STR(reason, "downgrade from 1.3.0 to 1.2.0 (allowed)");
	CHECK_INT(decide("1.3.0", "1.2.0", true, false, true, reason), VERSION_INSTALL);
	/* install-if-higher: an older image is simply not installed */
	CHECK_INT(decide("1.3.0", "1.2.0", false, true, true, reason), VERSION_SKIP);
	CHECK_CONTAINS(reason, "older than the installed 1.3.0 (install-if-higher)");
	CHECK_INT(decide("1.2.0", "1.2.0-rc1", false, true, false, reason), VERSION_SKIP);
}

static void test_policy_missing_or_bad_versions(void)
{
	char reason[160];
	CHECK_INT(decide("1.0", NULL, false, false, true, reason), VERSION_INSTALL);
	CHECK_INT(decide("1.0", NULL, false, false, false, reason), VERSION_REFUSE);
	CHECK_CONTAINS(reason, "no version");
	CHECK_INT(decide("1.0", NULL, true, false, true, reason), VERSION_REFUSE);
	CHECK_CONTAINS(reason, "install-if-different");
	CHECK_INT(decide("1.0", "v2", false, false, true, reason), VERSION_REFUSE);
	CHECK_STR(reason, "version \"v2\" is not dotted numbers with an optional -suffix");
	CHECK_INT(decide("latest", "2.0", false, false, true, reason), VERSION_REFUSE);
	CHECK_CONTAINS(reason, "\"latest\"");
	CHECK_STR(version_decision_name(VERSION_SKIP), "skip");
}

TEST_MAIN(TEST(test_numbers_compare_numerically), TEST(test_missing_components_are_zero),
          TEST(test_suffix_is_a_prerelease), TEST(test_invalid_versions_are_refused),
          TEST(test_policy_upgrade_installs), TEST(test_policy_same_version),
          TEST(test_policy_downgrade), TEST(test_policy_missing_or_bad_versions))
