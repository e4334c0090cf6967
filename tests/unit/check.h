/* Minimal test harness: CHECK* record a failure and go on; TEST_MAIN runs the
 * listed tests and prints "N passed, N failed". */
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

#define TEST_MAIN(...)                                                                             \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		static const struct check_test tests[] = {__VA_ARGS__};                            \
		int passed = 0, failed = 0;                                                        \
		for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {                    \
			if (argc > 1 && !strstr(tests[i].name, argv[1]))                           \
				continue;                                                          \
			check_current_failed = 0;                                                  \
			tests[i].fn();                                                             \
			printf("%s %s\n", check_current_failed ? "FAIL" : "ok  ", tests[i].name);  \
			check_current_failed ? failed++ : passed++;                                \
		}                                                                                  \
		check_failures = failed;                                                           \
		printf("%d passed, %d failed\n", passed, failed);                                  \
		return failed ? 1 : 0;                                                             \
	}

#define TEST(fn)                                                                                   \
	{                                                                                          \
#fn, fn                                                                            \
	}
