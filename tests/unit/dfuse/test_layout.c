/* The DfuSe memory-layout grammar, pinned on every real ROM string of
 * docs/protocol.md §3 and on the malformed forms it must refuse. */
#include "check.h"
#include "layout.h"

struct expect_group {
	uint32_t address, count, size;
	unsigned access;
};

#define REW (MCU_OTA_SECTOR_READABLE | MCU_OTA_SECTOR_ERASABLE | MCU_OTA_SECTOR_WRITABLE)
#define RW  (MCU_OTA_SECTOR_READABLE | MCU_OTA_SECTOR_WRITABLE)

/* Parse s and compare with the groups, sector by sector. */
static void expect(const char *s, const char *name, const struct expect_group *g, size_t n)
{
	struct dfuse_layout l;
	char err[256] = "";
	int r = dfuse_layout_parse(s, &l, err, sizeof(err));
	CHECK_INT(r, 0);
	if (r) {
		fprintf(stderr, "  %s: %s\n", s, err);
		return;
	}
	CHECK_STR(l.name, name);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		for (uint32_t j = 0; j < g[i].count; j++, k++) {
			if (k >= l.sector_count) {
				CHECK(k < l.sector_count);
				goto out;
			}
			CHECK_INT(l.sectors[k].address, g[i].address + j * g[i].size);
			CHECK_INT(l.sectors[k].size, g[i].size);
			CHECK_INT(l.sectors[k].access, g[i].access);
		}
	}
	CHECK_INT(l.sector_count, k);
out:
	dfuse_layout_free(&l);
}

#define EXPECT(s, name, ...)                                                                       \
	do {                                                                                       \
		static const struct expect_group g_[] = {__VA_ARGS__};                             \
		expect(s, name, g_, sizeof(g_) / sizeof(g_[0]));                                   \
	} while (0)

static void f405_f407_all_alts(void)
{
	EXPECT("@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg", "Internal Flash",
	       {0x08000000, 4, 16384, REW}, {0x08010000, 1, 65536, REW},
	       {0x08020000, 7, 131072, REW});
	EXPECT("@Option Bytes  /0x1FFFC000/01*016 e", "Option Bytes", {0x1FFFC000, 1, 16, RW});
	EXPECT("@OTP Memory /0x1FFF7800/01*512 e,01*016 e", "OTP Memory", {0x1FFF7800, 1, 512, RW},
	       {0x1FFF7A00, 1, 16, RW});
	EXPECT("@Device Feature/0xFFFF0000/01*004 e", "Device Feature", {0xFFFF0000, 1, 4, RW});
}

static void f4_and_f7_variants(void)
{
	EXPECT("@Internal Flash  /0x08000000/04*016Kg,01*064Kg,03*128Kg", "Internal Flash",
	       {0x08000000, 4, 16384, REW}, {0x08010000, 1, 65536, REW},
	       {0x08020000, 3, 131072, REW});
	/* F42x/F43x dual bank, 2 MiB */
	EXPECT("@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg,04*016Kg,01*064Kg,07*128Kg",
	       "Internal Flash", {0x08000000, 4, 16384, REW}, {0x08010000, 1, 65536, REW},
	       {0x08020000, 7, 131072, REW}, {0x08100000, 4, 16384, REW},
	       {0x08110000, 1, 65536, REW}, {0x08120000, 7, 131072, REW});
	EXPECT("@Internal Flash  /0x08000000/04*016Kg,01*64Kg,03*128Kg", "Internal Flash",
	       {0x08000000, 4, 16384, REW}, {0x08010000, 1, 65536, REW},
	       {0x08020000, 3, 131072, REW});
	EXPECT("@Internal Flash  /0x08000000/04*032Kg,01*128Kg,03*256Kg", "Internal Flash",
	       {0x08000000, 4, 32768, REW}, {0x08020000, 1, 131072, REW},
	       {0x08040000, 3, 262144, REW});
	EXPECT("@Internal Flash  /0x08000000/128*0002Kg", "Internal Flash",
	       {0x08000000, 128, 2048, REW});
}

static void f0_l4_g4_h7_u5(void)
{
	EXPECT("@Internal Flash  /0x08000000/064*0002Kg", "Internal Flash",
	       {0x08000000, 64, 2048, REW});
	EXPECT("@Option Bytes  /0x1FFFF800/01*016 e", "Option Bytes", {0x1FFFF800, 1, 16, RW});
	EXPECT("@Internal Flash  /0x08000000/0128*0002Kg", "Internal Flash",
	       {0x08000000, 128, 2048, REW});
	EXPECT("@Option Bytes  /0x1FFF7800/01*040 e", "Option Bytes", {0x1FFF7800, 1, 40, RW});
	EXPECT("@Internal Flash   /0x08000000/256*02Kg", "Internal Flash",
	       {0x08000000, 256, 2048, REW});
	/* G474 option bytes: two address groups in one string */
	EXPECT("@Option Bytes   /0x1FFF7800/01*048 e/0x1FFFF800/01*048 e", "Option Bytes",
	       {0x1FFF7800, 1, 48, RW}, {0x1FFFF800, 1, 48, RW});
	EXPECT("@Internal Flash   /0x08000000/16*128Kg", "Internal Flash",
	       {0x08000000, 16, 131072, REW});
	EXPECT("@Option Bytes   /0x5200201C/01*128 e", "Option Bytes", {0x5200201C, 1, 128, RW});
	EXPECT("@Internal Flash   /0x08000000/128*08Kg", "Internal Flash",
	       {0x08000000, 128, 8192, REW});
}

static void multipliers_and_types(void)
{
	/* B and M multipliers, a missing multiplier, every type letter */
	EXPECT("@X/0x0/1*4Ba,1*1Mb,1*3c,1*1Kd,1*1Ke,1*1Kf,1*1Kg", "X", {0x0, 1, 4, 1},
	       {0x4, 1, 1048576, 2}, {0x100004, 1, 3, 3}, {0x100007, 1, 1024, 4},
	       {0x100407, 1, 1024, 5}, {0x100807, 1, 1024, 6}, {0x100C07, 1, 1024, 7});
}

static void refuse(const char *s, const char *why)
{
	struct dfuse_layout l;
	char err[256] = "";
	CHECK_INT(dfuse_layout_parse(s, &l, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, why);
	CHECK(l.sectors == NULL);
}

static void malformed_strings_are_refused(void)
{
	refuse("Internal Flash  /0x08000000/04*016Kg", "expected '@'");
	refuse("@Internal Flash", "no address group");
	refuse("@Flash/08000000/04*016Kg", "expected 0x address");
	refuse("@Flash/0x08000000/04x016Kg", "expected '*'");
	refuse("@Flash/0x08000000/04*016Kz", "type letter");
	refuse("@Flash/0x08000000/04*016Kg,", "expected a number");
	refuse("@Flash/0x08000000/00*016Kg", "empty segment");
	refuse("@Flash/0xFFFF0000/02*064Kg", "past the end");
	refuse("@Flash/0x08000000/99999*1Kg", "too many sectors");
	refuse("@Flash/0x08000000/1*99999999999Kg", "too large");
	refuse("@Flash/0x08000000/1*16Kg/0x08000000/1*16Kg", "overlap");
	refuse("@Flash/0x08000000/1*16Kg junk", "unexpected character");
	/* found by review: sizes that wrapped, groups that overlapped */
	refuse("@Flash/0x08000000/1*4096Mg", "larger than the address space");
	refuse("@Flash/0x08000000/8192*2147483648Mg", "larger than the address space");
	refuse("@Flash/0x08000000/02*016Kg/0x08006000/01*016Kg", "overlap");
	/* the column is named */
	refuse("@Flash/0x08000000/04*016Kz", "column 26");
}

static void find_sector(void)
{
	struct dfuse_layout l;
	CHECK_INT(
	    dfuse_layout_parse("@F/0x08000000/04*016Kg,01*064Kg/0x1FFF0000/1*16 e", &l, NULL, 0),
	    0);
	CHECK_INT(dfuse_layout_find(l.sectors, l.sector_count, 0x08000000), 0);
	CHECK_INT(dfuse_layout_find(l.sectors, l.sector_count, 0x08003FFF), 0);
	CHECK_INT(dfuse_layout_find(l.sectors, l.sector_count, 0x08004000), 1);
	CHECK_INT(dfuse_layout_find(l.sectors, l.sector_count, 0x0801FFFF), 4);
	CHECK_INT(dfuse_layout_find(l.sectors, l.sector_count, 0x08020000), -1);
	CHECK_INT(dfuse_layout_find(l.sectors, l.sector_count, 0x07FFFFFF), -1);
	CHECK_INT(dfuse_layout_find(l.sectors, l.sector_count, 0x1FFF000F), 5);
	CHECK_INT(dfuse_layout_find(l.sectors, l.sector_count, 0x1FFF0010), -1);
	dfuse_layout_free(&l);
}

TEST_MAIN(TEST(f405_f407_all_alts), TEST(f4_and_f7_variants), TEST(f0_l4_g4_h7_u5),
          TEST(multipliers_and_types), TEST(malformed_strings_are_refused), TEST(find_sector))
