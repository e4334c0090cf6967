/* One bug per argument, built in the sanitizer tree: the `asan` test first checks that its
 * options turn each into a report and a failure, so that a clean run of the suite means
 * something (asan.sh). "clean" has no bug and must pass. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile kept;

/* noinline: the pointer must be gone from every register and stack slot of main */
__attribute__((noinline)) static void leak(void)
{
	kept = malloc(64);
	kept = NULL;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s clean|overflow|ub|leak\n", argv[0]);
		return 2;
	}
	const char *bug = argv[1];
	if (strcmp(bug, "overflow") == 0) {
		char *p = malloc(8);
		volatile size_t past = 8;
		p[past] = 1;
		free(p);
	} else if (strcmp(bug, "ub") == 0) {
		volatile int big = INT_MAX;
		printf("%d\n", big + argc); /* signed overflow */
	} else if (strcmp(bug, "leak") == 0) {
		leak();
	} else if (strcmp(bug, "clean") != 0) {
		fprintf(stderr, "unknown bug %s\n", bug);
		return 2;
	}
	return 0;
}
