/* Minimal test harness: CHECK* record a failure and go on; TEST_MAIN runs the
 * listed tests (or those named on the command line) and prints "N passed, N failed". */
#pragma once

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static int check_current_failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);   \
			check_current_failed = 1;                                                  \
		}                                                                                  \
	} while (0)

#define CHECK_INT(a, b)                                                                            \
	do {                                                                                       \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);                    \
		if (check_a_ != check_b_) {                                                        \
			fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__,      \
			        __LINE__, #a, check_a_, #b, check_b_);                             \
			check_current_failed = 1;                                                  \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *check_a_ = (a), *check_b_ = (b);                                       \
		if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {                   \
			fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__,        \
			        __LINE__, #a, check_a_ ? check_a_ : "(null)",                      \
			        check_b_ ? check_b_ : "(null)");                                   \
			check_current_failed = 1;                                                  \
		}                                                                                  \
	} while (0)

/* The message must contain the fragment: errors are part of the interface. */
#define CHECK_CONTAINS(haystack, needle)                                                           \
	do {                                                                                       \
		const char *check_h_ = (haystack), *check_n_ = (needle);                           \
		if (!check_h_ || !strstr(check_h_, check_n_)) {                                    \
			fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,       \
			        __LINE__, check_h_ ? check_h_ : "(null)", check_n_);               \
			check_current_failed = 1;                                                  \
		}                                                                                  \
	} while (0)

struct check_test {
	const char *name;
	void (*fn)(void);
};

/* Which tests the command line picks: each argument is a test's exact name or,
 * when no test has that name, a part of the names. An argument that picks
 * nothing is an error (a typo must not pass as "0 passed"). */
__attribute__((unused)) static int check_select(const struct check_test *tests, size_t n, int argc,
                                                char **argv, char *picked)
{
	if (argc < 2) {
		memset(picked, 1, n);
		return 0;
	}
	memset(picked, 0, n);
	for (int a = 1; a < argc; a++) {
		int found = 0;
		for (size_t i = 0; i < n; i++)
			if (strcmp(tests[i].name, argv[a]) == 0)
				picked[i] = 1, found = 1;
		for (size_t i = 0; !found && i < n; i++)
			if (strstr(tests[i].name, argv[a]))
				picked[i] = 1, found = -1;
		if (!found) {
			fprintf(stderr, "no test is named or contains \"%s\"\n", argv[a]);
			return -1;
		}
	}
	return 0;
}

/* Runs the picked tests between setup and teardown (either may be NULL): the
 * fixture of a test program is no test of its own, so any one test runs by
 * itself. A failed setup runs no test. */
__attribute__((unused)) static int check_run(const struct check_test *tests, size_t n,
                                             void (*setup)(void), void (*teardown)(void), int argc,
                                             char **argv)
{
	char *picked = calloc(n, 1);
	int passed = 0, failed = 0;
	if (!picked || check_select(tests, n, argc, argv, picked) < 0)
		return 2;
	if (setup) {
		check_current_failed = 0;
		setup();
		if (check_current_failed) {
			printf("FAIL setup: no test ran\n");
			memset(picked, 0, n);
			failed++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!picked[i])
			continue;
		check_current_failed = 0;
		tests[i].fn();
		printf("%s %s\n", check_current_failed ? "FAIL" : "ok  ", tests[i].name);
		check_current_failed ? failed++ : passed++;
	}
	if (teardown) {
		check_current_failed = 0;
		teardown();
		if (check_current_failed) {
			printf("FAIL teardown\n");
			failed++;
		}
	}
	free(picked);
	check_failures = failed;
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

/* TEST_MAIN_WITH(setup, teardown, TEST(a), TEST(b), ...); TEST_MAIN without a fixture. */
#define TEST_MAIN_WITH(setup_fn, teardown_fn, ...)                                                 \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		static const struct check_test tests[] = {__VA_ARGS__};                            \
		return check_run(tests, sizeof(tests) / sizeof(tests[0]), setup_fn, teardown_fn,   \
		                 argc, argv);                                                      \
	}

#define TEST_MAIN(...) TEST_MAIN_WITH(NULL, NULL, __VA_ARGS__)

#define TEST(fn)                                                                                   \
	{                                                                                          \
#fn, fn                                                                            \
	}
