/* How close the dfuse flasher gets to the chip's own limit: the STM32 model
 * in real time (datasheet-typical erase and program times, the control pipe
 * held while the flash works), driven in process by the flasher's protocol
 * code. The floor is what the chip needs for the sectors and bytes involved,
 * computed from the profile's datasheet times, not from what the flasher did.
 *
 *   bench_flash_model [--runs N] [--profile F407]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model_transport.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	uint32_t x = 0x12345678u ^ seed;
	for (size_t i = 0; i < len; i++) {
		x = x * 1664525u + 1013904223u;
		buf[i] = (uint8_t)(x >> 24);
	}
}

struct result {
	double seconds, floor_s, model_busy_s;
};

/* One flash of len bytes at the start of flash; changed[i] says which
 * sectors differ from what the chip holds (all of them on a blank chip). */
static int run_once(const struct stm32_profile *p, uint32_t len, unsigned changed_sector,
                    bool reflash, struct result *res)
{
	struct stm32_model_options o = {.time_scale = 1.0};
	struct stm32_model *m = stm32_model_new(p, &o);
	struct dfu_device d = {.transport = model_transport(m)};
	char err[1024];
	int r = dfu_describe(&d, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "describe: %s\n", err);
		return r;
	}
	const struct mcu_ota_memory *mem = &d.memories[0];
	uint8_t *data = malloc(len);
	fill(data, len, 1);
	if (reflash) {
		/* the chip already holds the old image; the new one differs in one sector */
		size_t size;
		memcpy(stm32_model_flash(m, &size), data, len);
		const struct mcu_ota_sector *s = &mem->sectors[changed_sector];
		fill(data + (s->address - mem->sectors[0].address), s->size, 2);
	}
	struct mcu_ota_segment seg = {mem->sectors[0].address, len, data};
	struct mcu_ota_image img = {1, &seg};
	struct mcu_ota_write_options wo = {.verify = true, .skip_unchanged = true};

	uint64_t busy0 = stm32_model_busy_us(m);
	double t0 = now_s();
	r = dfu_write(&d, &img, &wo, err, sizeof(err));
	res->seconds = now_s() - t0;
	res->model_busy_s = (double)(stm32_model_busy_us(m) - busy0) / 1e6;
	if (r < 0)
		fprintf(stderr, "write: %s\n", err);

	/* the floor: erase + program of the sectors whose content changes */
	uint64_t floor_us = 0;
	for (size_t i = 0; i < mem->sector_count && mem->sectors[i].address < seg.address + len;
	     i++) {
		if (reflash && i != changed_sector)
			continue;
		uint32_t bytes = mem->sectors[i].size;
		if (mem->sectors[i].address + bytes > seg.address + len)
			bytes = seg.address + len - mem->sectors[i].address;
		floor_us += stm32_profile_erase_us(p, mem->sectors[i].size) +
		            stm32_profile_program_us(p, bytes);
	}
	res->floor_s = (double)floor_us / 1e6;
	dfu_release(&d);
	stm32_model_free(m);
	free(data);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"runs", required_argument, NULL, 'r'},
	    {"profile", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int runs = 3, c;
	const char *profile = "F407";
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (c == 'r')
			runs = atoi(optarg);
		else if (c == 'p')
			profile = optarg;
		else {
			printf("Usage: bench_flash_model [--runs N] [--profile NAME]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (runs < 1 || runs > 50) {
		fprintf(stderr, "--runs takes 1 to 50\n");
		return 2;
	}
	const struct stm32_profile *p = stm32_profile_find(profile);
	if (!p) {
		fprintf(stderr, "unknown profile %s\n", profile);
		return 2;
	}
	struct {
		const char *name;
		uint32_t len;
		bool reflash;
	} cases[] = {
	    {"128 KiB, blank chip", 128 * 1024, false},
	    {"512 KiB, blank chip", 512 * 1024, false},
	    {"1 MiB, blank chip", 1024 * 1024, false},
	    {"1 MiB re-flash, 1 of 12 sectors changed", 1024 * 1024, true},
	};
	double full_1m = 0;
	printf(
	    "dfuse flasher against the %s model in real time, in process; %d run(s) each,\n"
	    "median wall time; floor = datasheet erase + program time of the changed sectors\n\n",
	    profile, runs);
	printf("%-42s %9s %9s %9s %8s\n", "case", "time s", "floor s", "chip s", "ratio");
	for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++) {
		double t[50];
		struct result res = {0};
		for (int i = 0; i < runs; i++) {
			/* the last of F407's 12 sectors: a 128 KiB one, the costliest to redo */
			if (run_once(p, cases[k].len, 11, cases[k].reflash, &res) < 0)
				return 1;
			t[i] = res.seconds;
		}
		qsort(t, (size_t)runs, sizeof(double), cmp_double);
		double med = t[runs / 2];
		printf("%-42s %9.3f %9.3f %9.3f %7.3fx\n", cases[k].name, med, res.floor_s,
		       res.model_busy_s, med / res.floor_s);
		if (k == 2)
			full_1m = med;
		else if (k == 3)
			printf("%-42s %8.1f%% of the full 1 MiB flash\n", "",
			       100.0 * med / full_1m);
	}
	return 0;
}
