/* Numbers from the command line: what parse_u32 takes and what it refuses. */
#include "check.h"
#include "util/format.h"

static void accepts(const char *s, uint32_t want)
{
	uint32_t v = 0;
	int r = parse_u32(s, &v);
	CHECK_INT(r, 0);
	CHECK_INT(v, want);
	if (r || v != want)
		fprintf(stderr, "  input \"%s\"\n", s);
}

static void refuses(const char *s, int want)
{
	uint32_t v = 7;
	CHECK_INT(parse_u32(s, &v), want);
	CHECK_INT(v, 7); /* untouched */
}

static void numbers(void)
{
	accepts("0", 0);
	accepts("010", 10); /* not octal */
	accepts("0x08000000", 0x08000000);
	accepts("0X1f", 31);
	accepts("64K", 65536);
	accepts("1m", 1048576);
	accepts("4095M", 4095u * 1048576u);
	accepts("4294967295", UINT32_MAX);
	accepts("0xFFFFFFFF", UINT32_MAX);
}

static void refusals(void)
{
	refuses("", -EINVAL);
	refuses(" 1", -EINVAL);
	refuses("\t1", -EINVAL);
	refuses("-1", -EINVAL);
	refuses("+1", -EINVAL);
	refuses("0x", -EINVAL);
	refuses("12abc", -EINVAL);
	refuses("1KK", -EINVAL);
	refuses("4294967296", -ERANGE);
	refuses("4096M", -ERANGE);
	refuses("4194304K", -ERANGE);
	refuses("18014398509481985K", -ERANGE); /* wrapped to 1024 before */
	refuses("99999999999999999999999", -ERANGE);
}

TEST_MAIN(TEST(numbers), TEST(refusals))
